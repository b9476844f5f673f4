//! Word splitting as BuildKit's parser does it: builder flags (`--mount=...`) before the
//! arguments (parser/split_command.go `extractBuilderFlags`), `ARG`/`ENV` words
//! (parser/line_parsers.go `parseWords`), and heredoc markers (parser.go
//! `heredocsFromLine`, `ParseHeredoc`).

/// A builder flag as written, quotes removed, and the offset of its `--` in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flag {
    pub text: String,
    pub at: usize,
}

impl Flag {
    /// `("mount", "type=cache,...")` for `--mount=type=cache,...`; the name lowercased.
    pub(crate) fn name_value(&self) -> (String, Option<&str>) {
        let body = self.text.strip_prefix("--").unwrap_or(&self.text);
        match body.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v)),
            None => (body.to_ascii_lowercase(), None),
        }
    }
}

/// Splits the flags off the front of `line` (the instruction's text after its name).
/// Returns the flags and the offset where the arguments start.
pub(crate) fn extract_flags(line: &str, escape: char) -> (Vec<Flag>, usize) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut word_at = 0;
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    while let Some((pos, ch)) = chars.next() {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                let next_is_dash = chars.peek().is_some_and(|&(_, c)| c == '-');
                if ch != '-' || !next_is_dash {
                    return (flags, pos);
                }
                phase = Phase::Word;
                word_at = pos;
                word.push(ch);
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (flags, pos);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(Flag {
                            text: std::mem::take(&mut word),
                            at: word_at,
                        });
                    }
                    word.clear();
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    continue;
                }
                if ch == escape {
                    match chars.next() {
                        Some((_, c)) => word.push(c),
                        None => continue,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                    continue;
                }
                if ch == escape {
                    match chars.next() {
                        Some((_, c)) => word.push(c),
                        None => phase = Phase::Word,
                    }
                    continue;
                }
                word.push(ch);
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(Flag {
            text: word,
            at: word_at,
        });
    }
    (flags, line.len())
}

/// `ARG`/`ENV` words: split on blanks outside quotes; quotes and escapes are kept for
/// the expansion that comes later.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            if ch == escape && q != '\'' {
                match chars.next() {
                    Some(c) => {
                        word.push(ch);
                        word.push(c);
                    }
                    None => quote = None,
                }
                continue;
            }
            word.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            word.clear();
            in_word = false;
            blank_ok = false;
            continue;
        }
        in_word = true;
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        }
        if ch == escape {
            match chars.next() {
                Some(c) => {
                    word.push(ch);
                    word.push(c);
                }
                None => continue,
            }
            continue;
        }
        word.push(ch);
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// A heredoc named on an instruction's line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    /// `<<-`: leading tabs are ignored when looking for the terminator.
    pub chomp: bool,
}

/// The heredocs an instruction names, in order: shell words that match
/// `^(\d*)<<(-?)\s*([^<]*)$` with a one-word name (quotes removed).
pub(crate) fn heredoc_markers(line: &str) -> Vec<Marker> {
    raw_shell_words(line)
        .iter()
        .filter_map(|w| {
            let rest = w.trim_start_matches(|c: char| c.is_ascii_digit());
            let rest = rest.strip_prefix("<<")?;
            let (chomp, rest) = match rest.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let rest = rest.trim_start();
            if rest.is_empty() || rest.contains('<') {
                return None;
            }
            let name = unquote_word(rest)?;
            Some(Marker { name, chomp })
        })
        .collect()
}

/// Shell words with their quotes and escapes kept.
fn raw_shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) => {
                word.push(ch);
                if ch == '\\' && q == '"' {
                    if let Some(c) = chars.next() {
                        word.push(c);
                    }
                } else if ch == q {
                    quote = None;
                }
            }
            None if ch.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                word.push(ch);
                if ch == '\\' {
                    if let Some(c) = chars.next() {
                        word.push(c);
                    }
                } else if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                }
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// One shell word with quotes and escapes removed; `None` if it is not one word.
fn unquote_word(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some('"') if ch == '\\' => out.push(chars.next()?),
            Some(_) => out.push(ch),
            None if ch.is_whitespace() => return None,
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None if ch == '\\' => out.push(chars.next()?),
            None => out.push(ch),
        }
    }
    (quote.is_none() && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_come_off_the_front_with_their_offsets() {
        let line = "--mount=type=cache,target=/a  --mount=\"type=cache,target=/b c\" cargo build";
        let (flags, args) = extract_flags(line, '\\');
        assert_eq!(
            flags,
            vec![
                Flag {
                    text: "--mount=type=cache,target=/a".into(),
                    at: 0
                },
                Flag {
                    text: "--mount=type=cache,target=/b c".into(),
                    at: 30
                },
            ]
        );
        assert_eq!(&line[args..], "cargo build");
        assert_eq!(
            flags[0].name_value(),
            ("mount".into(), Some("type=cache,target=/a"))
        );
    }

    #[test]
    fn no_flags_and_double_dash() {
        let (flags, args) = extract_flags("echo --mount=x", '\\');
        assert!(flags.is_empty());
        assert_eq!(args, 0);
        let (flags, args) = extract_flags("--network=none -- --mount", '\\');
        assert_eq!(flags.len(), 1);
        assert_eq!(args, 17);
        let (flags, args) = extract_flags("--from=build", '\\');
        assert_eq!(flags[0].text, "--from=build");
        assert_eq!(args, 12);
    }

    #[test]
    fn arg_words_keep_quotes() {
        assert_eq!(
            parse_words(r#"A=1 B="x y" C"#, '\\'),
            vec!["A=1", r#"B="x y""#, "C"]
        );
    }

    #[test]
    fn heredoc_markers_like_buildkit() {
        let names = |l: &str| -> Vec<(String, bool)> {
            heredoc_markers(l)
                .into_iter()
                .map(|m| (m.name, m.chomp))
                .collect()
        };
        assert_eq!(names("RUN <<EOF"), vec![("EOF".into(), false)]);
        assert_eq!(names("RUN <<-EOF"), vec![("EOF".into(), true)]);
        assert_eq!(names("RUN cat <<'EOF' > /f"), vec![("EOF".into(), false)]);
        assert_eq!(names("RUN cat <<\"E O\""), vec![("E O".into(), false)]);
        assert_eq!(names("RUN 3<<X cmd"), vec![("X".into(), false)]);
        assert_eq!(
            names("COPY <<A <<B /d/"),
            vec![("A".into(), false), ("B".into(), false)]
        );
        // A bare `<<` and a word glued to a command are not heredocs, as in BuildKit.
        assert!(names("RUN cat << EOF").is_empty());
        assert!(names("RUN cat<<EOF").is_empty());
        assert!(names("RUN echo '<<EOF'").is_empty());
    }
}
