//! `ARG`/`ENV` substitution in instruction values, as far as a file alone can tell:
//! `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
//! quotes and the escape character. A value remembers whether it depends on a build
//! argument (`ARG`, whose value `--build-arg` can change), and whether some variable
//! could not be resolved from the file (set by the base image, or not set at all).

use std::collections::HashMap;

/// Longest expanded value kept: `ENV B=$A$A` doubling on every line must not grow
/// without bound.
const MAX_VALUE: usize = 64 * 1024;
/// Deepest `${A:-${B:-...}}` nesting followed.
const MAX_DEPTH: usize = 16;

/// A value after substitution. Unresolved variables stay as `${NAME}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Value {
    pub text: String,
    /// Depends on a build argument.
    pub from_args: bool,
    /// Names a variable the file does not set.
    pub unresolved: bool,
}

impl Value {
    #[cfg(test)]
    pub(crate) fn literal(text: &str) -> Self {
        Value {
            text: text.to_string(),
            ..Value::default()
        }
    }

    fn push_str(&mut self, s: &str) {
        let room = MAX_VALUE.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&s[..cut]);
            self.unresolved = true;
        }
    }

    fn push(&mut self, c: char) {
        let mut b = [0; 4];
        self.push_str(c.encode_utf8(&mut b));
    }

    fn absorb(&mut self, other: &Value) {
        self.push_str(&other.text);
        self.from_args |= other.from_args;
        self.unresolved |= other.unresolved;
    }
}

/// What a name means at one point of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Var {
    /// `ENV`, or `ARG` with a default (then `from_args` is set).
    Set(Value),
    /// `ARG NAME` with no default: only the build knows.
    ArgUnset,
}

/// The variables in scope.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    pub vars: HashMap<String, Var>,
}

impl Scope {
    pub(crate) fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// Expands `word` in this scope.
    pub(crate) fn expand(&self, word: &str, escape: char) -> Value {
        let mut out = Value::default();
        let chars: Vec<char> = word.chars().collect();
        let mut i = 0;
        self.expand_into(&chars, &mut i, escape, 0, None, &mut out);
        out
    }

    /// Expands until `stop` (a closing brace) or the end.
    fn expand_into(
        &self,
        s: &[char],
        i: &mut usize,
        escape: char,
        depth: usize,
        stop: Option<char>,
        out: &mut Value,
    ) {
        let mut quote: Option<char> = None;
        while *i < s.len() {
            let c = s[*i];
            if quote.is_none() && Some(c) == stop {
                return;
            }
            *i += 1;
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"') => quote = None,
                (Some('\''), c) => out.push(c),
                (None, '\'') | (None, '"') => quote = Some(c),
                (_, c) if c == escape => {
                    if let Some(&n) = s.get(*i) {
                        *i += 1;
                        out.push(n);
                    }
                }
                (_, '$') => self.expand_var(s, i, escape, depth, out),
                (_, c) => out.push(c),
            }
        }
    }

    fn expand_var(&self, s: &[char], i: &mut usize, escape: char, depth: usize, out: &mut Value) {
        let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_';
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match s.get(*i) {
            Some('{') if depth < MAX_DEPTH => {
                *i += 1;
                let start = *i;
                while s.get(*i).is_some_and(|&c| is_name(c)) {
                    *i += 1;
                }
                let name: String = s[start..*i].iter().collect();
                let op: String = match (s.get(*i), s.get(*i + 1)) {
                    (Some(':'), Some(&c)) if matches!(c, '-' | '+' | '?') => {
                        *i += 2;
                        format!(":{c}")
                    }
                    (Some(&c), _) if matches!(c, '-' | '+' | '?' | '#' | '%' | '/' | ':') => {
                        *i += 1;
                        c.to_string()
                    }
                    _ => String::new(),
                };
                let mut word = Value::default();
                self.expand_into(s, i, escape, depth + 1, Some('}'), &mut word);
                if s.get(*i) == Some(&'}') {
                    *i += 1;
                }
                self.substitute(&name, &op, &word, out);
            }
            Some(&c) if is_name_start(c) => {
                let start = *i;
                while s.get(*i).is_some_and(|&c| is_name(c)) {
                    *i += 1;
                }
                let name: String = s[start..*i].iter().collect();
                self.substitute(&name, "", &Value::default(), out);
            }
            _ => out.push('$'),
        }
    }

    fn substitute(&self, name: &str, op: &str, word: &Value, out: &mut Value) {
        let unknown = |out: &mut Value, from_args: bool| {
            out.push_str("${");
            out.push_str(name);
            out.push('}');
            out.unresolved = true;
            out.from_args |= from_args;
        };
        match (self.get(name), op) {
            (Some(Var::Set(v)), "" | ":?" | "?") => out.absorb(v),
            (Some(Var::Set(v)), ":-") if v.text.is_empty() => out.absorb(word),
            (Some(Var::Set(v)), ":-" | "-") => out.absorb(v),
            (Some(Var::Set(v)), ":+") if v.text.is_empty() => out.from_args |= v.from_args,
            (Some(Var::Set(v)), ":+" | "+") => {
                out.absorb(word);
                out.from_args |= v.from_args;
            }
            // The build may or may not set it: the default is what the file says.
            (Some(Var::ArgUnset), ":-" | "-") => {
                out.absorb(word);
                out.from_args = true;
            }
            (Some(Var::ArgUnset), _) => unknown(out, true),
            (None, ":-" | "-") => {
                out.absorb(word);
                out.unresolved = true;
            }
            (None, ":+" | "+") => out.unresolved = true,
            // Patterns (`#`, `%`, `/`) and anything else: the name is what matters.
            (Some(Var::Set(v)), _) => {
                let from_args = v.from_args;
                unknown(out, from_args)
            }
            (None, _) => unknown(out, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(vars: &[(&str, Var)]) -> Scope {
        Scope {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn set(text: &str, from_args: bool) -> Var {
        Var::Set(Value {
            text: text.into(),
            from_args,
            unresolved: false,
        })
    }

    #[test]
    fn forms_of_substitution() {
        let s = scope(&[
            ("HOME", set("/root", false)),
            ("SERVICE", Var::ArgUnset),
            ("EMPTY", set("", false)),
        ]);
        let e = |w: &str| s.expand(w, '\\');
        assert_eq!(e("$HOME/.cargo").text, "/root/.cargo");
        assert_eq!(e("${HOME}/x").text, "/root/x");
        let t = e("target-${SERVICE}");
        assert_eq!(t.text, "target-${SERVICE}");
        assert!(t.from_args && t.unresolved);
        let d = e("${SERVICE:-api}");
        assert_eq!(d.text, "api");
        assert!(d.from_args);
        assert_eq!(e("${EMPTY:-x}").text, "x");
        assert_eq!(e("${EMPTY-x}").text, "");
        assert_eq!(e("${HOME:+set}").text, "set");
        assert_eq!(e("${NOPE:+set}").text, "");
        let u = e("$CARGO_HOME/registry");
        assert_eq!(u.text, "${CARGO_HOME}/registry");
        assert!(u.unresolved && !u.from_args);
        assert_eq!(e("'$HOME'").text, "$HOME");
        assert_eq!(e("\"$HOME\"").text, "/root");
        assert_eq!(e("\\$HOME").text, "$HOME");
        assert_eq!(e("cost: 5$").text, "cost: 5$");
        assert_eq!(e("${A:-${HOME}}").text, "/root");
    }

    #[test]
    fn values_stay_bounded() {
        let mut s = Scope::default();
        s.vars.insert("A".into(), set("xxxxxxxx", false));
        for _ in 0..40 {
            let v = s.expand("$A$A", '\\');
            s.vars.insert("A".into(), Var::Set(v));
        }
        let Some(Var::Set(v)) = s.get("A") else {
            panic!()
        };
        assert!(v.text.len() <= MAX_VALUE);
    }

    #[test]
    fn deep_nesting_is_cut_not_overflowed() {
        let w = "${A:-".repeat(10_000);
        let v = Scope::default().expand(&w, '\\');
        assert!(v.text.len() < w.len());
    }
}
