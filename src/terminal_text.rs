//! Text from outside (ids, descriptions, commands, keys, refs, annotations, file names,
//! error bodies) made inert before a terminal sees it.
//!
//! A terminal acts on control characters: ESC starts sequences that retitle the window,
//! clear the screen or move the cursor (a prune plan could hide its own lines), BEL
//! rings, CR rewrites the line, and C1 controls are sequences of their own. Bidi
//! controls reorder what is shown, so an id or a path can read as something else.
//! Each of these is shown as a visible escape instead, as non-UTF-8 bytes of a file
//! name are already shown as `\xNN` (see `scan::display_path`).
//!
//! What is escaped, and how:
//! - C0 controls (U+0000–U+001F) and DEL: `\t`, `\n`, `\r`, else `\xNN` (`\x1b`). Tab
//!   and newline too: a field must stay on its line.
//! - C1 controls (U+0080–U+009F): `\u{9b}`, so they cannot be read as raw bytes.
//! - Bidi controls: the embeddings and overrides U+202A–U+202E, the isolates
//!   U+2066–U+2069, the marks U+200E, U+200F and U+061C: `\u{202e}`.
//! - The line and paragraph separators U+2028 and U+2029, which some terminals and
//!   pagers break lines on.
//!
//! Everything else, printable Unicode included, is shown as it is. A backslash is not
//! doubled, as in `display_path`: the point is that nothing acts on the terminal, and
//! a name with a literal `\x1b` in it is harmless either way.
//!
//! JSON keeps exact strings; escape only where text is shown to a person.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal could act on `c` (or reorder text around it) instead of showing it.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || is_bidi_control(c)
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// The Unicode bidi formatting characters: embeddings, overrides, isolates and marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// `s` with every character a terminal could act on replaced by a visible escape.
/// Clean text (the usual case) is returned as it is, without copying.
pub fn escape(s: &str) -> Cow<'_, str> {
    // Printable ASCII is by far the common case: one pass over the bytes.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(s);
    }
    let Some(first) = s.find(is_unsafe) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    if !is_unsafe(c) {
        out.push(c);
        return;
    }
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Each line of prose cachetop wrote itself (a usage message, say) escaped on its
/// own, keeping the line breaks between them.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    if !s.contains(|c: char| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let lines: Vec<Cow<'_, str>> = s.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// A shell command line cachetop prints (built from `shell_quote`d words), shown so
/// that it is both inert on a terminal and still exactly the command: a single-quoted
/// word holding characters a terminal acts on is re-quoted as `$'...'` with `\xNN`
/// escapes of its UTF-8 bytes (bash, zsh, ksh and POSIX.1-2024 `sh` read those
/// back to the same bytes). A command that does not parse as quoted words is escaped
/// as plain text.
pub fn shell_command(cmd: &str) -> Cow<'_, str> {
    if matches!(escape(cmd), Cow::Borrowed(_)) {
        return Cow::Borrowed(cmd);
    }
    match requote(cmd) {
        Some(s) => Cow::Owned(s),
        None => Cow::Owned(escape(cmd).into_owned()),
    }
}

/// Re-quotes the single-quoted runs of `cmd` that hold unsafe characters; `None`
/// when an unsafe character is outside quotes or a quote is not closed. Outside
/// quotes a backslash takes the next character as it is (`'\''` inside a word).
fn requote(cmd: &str) -> Option<String> {
    let mut out = String::with_capacity(cmd.len() + 16);
    let mut chars = cmd.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                let (_, next) = chars.next()?;
                if is_unsafe(next) {
                    return None;
                }
                out.push(next);
            }
            '\'' => {
                let start = i + 1;
                let len = cmd[start..].find('\'')?;
                let quoted = &cmd[start..start + len];
                push_quoted(&mut out, quoted);
                // Skip the word and its closing quote.
                for _ in 0..quoted.chars().count() + 1 {
                    chars.next();
                }
            }
            c if is_unsafe(c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// One single-quoted word: as it was when it is clean, else as `$'...'`.
fn push_quoted(out: &mut String, word: &str) {
    if !word.contains(is_unsafe) {
        out.push('\'');
        out.push_str(word);
        out.push('\'');
        return;
    }
    out.push_str("$'");
    for b in word.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every escaped character must come out as printable ASCII that names it.
    fn assert_inert(s: &str) {
        assert!(!s.chars().any(is_unsafe), "unsafe characters left in {s:?}");
    }

    #[test]
    fn clean_text_is_borrowed_as_it_is() {
        for s in [
            "",
            "abc",
            "/usr/local/cargo/registry",
            "héllo wörld ✓",
            "日本語",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(x) if x == s), "{s}");
        }
    }

    #[test]
    fn terminal_sequences_become_visible_escapes() {
        assert_eq!(escape("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(escape("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
        assert_eq!(escape("one\ntwo\tthree\r"), "one\\ntwo\\tthree\\r");
        assert_eq!(escape("del\x7f"), "del\\x7f");
        assert_eq!(escape("nul\0"), "nul\\x00");
        assert_eq!(escape("csi\u{9b}31m"), "csi\\u{9b}31m");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(escape("a\u{2028}b"), "a\\u{2028}b");
        // Text around escapes keeps its non-ASCII characters.
        assert_eq!(escape("é\x1bé"), "é\\x1bé");
    }

    #[test]
    fn every_c0_c1_and_del_character_is_escaped_as_its_code() {
        for code in (0u32..0x20).chain([0x7f]).chain(0x80..0xa0) {
            let c = char::from_u32(code).unwrap();
            let s = format!("<{c}>");
            let e = escape(&s);
            assert_inert(&e);
            let named = match c {
                '\t' => "\\t".to_string(),
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                _ if code < 0x80 => format!("\\x{code:02x}"),
                _ => format!("\\u{{{code:x}}}"),
            };
            assert_eq!(e, format!("<{named}>"), "U+{code:04X}");
        }
    }

    #[test]
    fn every_bidi_control_is_escaped_and_its_neighbours_are_not() {
        let bidi: Vec<u32> = (0x202a..=0x202e)
            .chain(0x2066..=0x2069)
            .chain([0x200e, 0x200f, 0x061c])
            .collect();
        for &code in &bidi {
            let c = char::from_u32(code).unwrap();
            assert!(is_bidi_control(c), "U+{code:04X}");
            assert_eq!(escape(&c.to_string()), format!("\\u{{{code:x}}}"));
        }
        // The printable characters beside those ranges stay as they are.
        for code in [
            0x2027, 0x202f, 0x2065, 0x206a, 0x200d, 0x2010, 0x061b, 0x061d, 0xa0,
        ] {
            let c = char::from_u32(code).unwrap();
            assert!(!is_unsafe(c), "U+{code:04X}");
        }
    }

    #[test]
    fn nothing_printable_in_the_first_planes_is_touched_and_nothing_unsafe_survives() {
        // Exhaustive over the Basic Multilingual Plane and the next: each character is
        // either kept as it is or turned into printable ASCII.
        for code in 0u32..0x2_0000 {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let s = c.to_string();
            let e = escape(&s);
            if is_unsafe(c) {
                assert!(e.is_ascii() && e.starts_with('\\'), "U+{code:04X}: {e}");
                assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)));
            } else {
                assert_eq!(e, s, "U+{code:04X}");
            }
        }
    }

    #[test]
    fn lines_of_prose_keep_their_breaks() {
        assert_eq!(escape_lines("a\nb"), "a\nb");
        assert_eq!(escape_lines("a\x1b\nb\tc"), "a\\x1b\nb\\tc");
    }

    #[test]
    fn shell_commands_stay_exact_and_inert() {
        let clean = "rm -rf -- '/a b/c'";
        assert!(matches!(shell_command(clean), Cow::Borrowed(_)));
        assert_eq!(
            shell_command("rm -rf -- '/x/a\x1b]0;t\x07b' 'ok'"),
            "rm -rf -- $'/x/a\\x1b]0;t\\x07b' 'ok'"
        );
        // A quote inside a word, as shell_quote writes it.
        assert_eq!(
            shell_command("gh cache delete 'it'\\''s\x1b' -R o/r"),
            "gh cache delete 'it'\\'$'s\\x1b' -R o/r"
        );
        assert_eq!(
            shell_command("echo 'a\\b\u{202e}c'"),
            "echo $'a\\\\b\\xe2\\x80\\xaec'"
        );
        // Not a quoted word: escaped as text.
        assert_eq!(shell_command("echo a\x1bb"), "echo a\\x1bb");
        assert_eq!(shell_command("echo 'open\x1b"), "echo 'open\\x1b");
    }

    #[test]
    fn requoted_commands_mean_the_same_bytes_to_bash() {
        let word = "/tmp/a\x1b]0;pwned\x07 b\\c\u{202e}d\u{9b}e'f\ng";
        let quoted = format!("'{}'", word.replace('\'', r"'\''"));
        let shown = shell_command(&format!("printf %s {quoted}")).into_owned();
        assert_inert(&shown);
        let out = std::process::Command::new("bash")
            .args(["-c", &shown])
            .env("LC_ALL", "C")
            .output()
            .expect("run bash");
        assert!(out.status.success());
        assert_eq!(out.stdout, word.as_bytes(), "{shown}");
    }
}
