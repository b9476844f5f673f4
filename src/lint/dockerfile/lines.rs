//! Physical lines to instructions, as BuildKit's parser reads them
//! (frontend/dockerfile/parser/parser.go `Parse`, directives.go, moby/buildkit@73ed682):
//! parser directives at the top (`# escape=` sets the escape character, `\` or a
//! backtick), comment lines dropped (also inside a continuation), whitespace-only lines
//! inside a continuation skipped, a line ending in the escape character (not itself
//! escaped, trailing blanks allowed) continued on the next one, and heredoc bodies
//! (`<<EOF`, `<<-EOF`, quoted names) read after the instruction's last line.
//!
//! Every byte of an instruction's text keeps its physical place, so that a `--mount`
//! three continuation lines down is reported at its own line and column.

use super::words;
use crate::lint::finding::Pos;

/// BuildKit reads lines with Go's `bufio.Scanner`, whose default token limit makes it
/// refuse longer lines ("dockerfile line greater than max allowed size of 65535").
pub(crate) const MAX_LINE_BYTES: usize = 65_535;

/// A problem that stops the file from being read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fatal {
    pub pos: Pos,
    pub message: String,
}

#[derive(Clone, Debug)]
struct Piece {
    /// Offset in the instruction's text where this piece starts.
    at: usize,
    /// 0-based physical line.
    line: usize,
    /// Byte offset in the physical line.
    byte: usize,
}

/// One heredoc body, as BuildKit keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Heredoc {
    pub name: String,
    pub body: String,
}

/// One instruction: its logical text (continuations joined) and where each part of it
/// came from.
#[derive(Clone, Debug)]
pub(crate) struct Logical {
    pub text: String,
    pieces: Vec<Piece>,
    /// 1-based first and last physical line (heredoc bodies included).
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<Heredoc>,
}

/// The file split into instructions.
#[derive(Debug)]
pub(crate) struct Split<'a> {
    pub escape: char,
    pub instructions: Vec<Logical>,
    lines: Vec<&'a str>,
}

impl Split<'_> {
    /// The physical place of byte `offset` of `l.text`.
    pub(crate) fn pos(&self, l: &Logical, offset: usize) -> Pos {
        let idx = l
            .pieces
            .partition_point(|p| p.at <= offset)
            .saturating_sub(1);
        let Some(piece) = l.pieces.get(idx) else {
            return Pos::new(l.start_line, 1);
        };
        let line = self.lines.get(piece.line).copied().unwrap_or("");
        let byte = (piece.byte + (offset - piece.at)).min(line.len());
        let column = match line.get(..byte) {
            Some(prefix) => prefix.chars().count() + 1,
            None => 1,
        };
        Pos::new(piece.line + 1, column)
    }
}

struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Directives {
    /// `# name=value` lines before anything else; only `syntax`, `escape` and `check`
    /// count, each once.
    fn consider(&mut self, line: &str, line_no: usize) -> Result<(), Fatal> {
        if self.done {
            return Ok(());
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(());
        };
        let rest = rest.trim_start();
        let Some((name, value)) = directive(rest) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&name) {
            return Err(Fatal {
                pos: Pos::new(line_no, 1),
                message: format!("only one {name} parser directive can be used"),
            });
        }
        if name == "escape" {
            self.escape = match value {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return Err(Fatal {
                        pos: Pos::new(line_no, 1),
                        message: format!(
                            "invalid escape token {other:?}: the escape directive takes \\ or `"
                        ),
                    });
                }
            };
        }
        self.seen.push(name);
        Ok(())
    }
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
fn directive(s: &str) -> Option<(&str, &str)> {
    let mut chars = s.char_indices();
    let (_, first) = chars.next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(s.len(), |(i, _)| i);
    let name = &s[..end];
    let rest = s[end..].trim_start().strip_prefix('=')?;
    let value = rest.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's continuation pattern `([^E])E[ \t]*$|^E[ \t]*$`: the line without its
/// continuation character, or `None` when the line does not continue.
fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    let before = t.strip_suffix(escape)?;
    if before.is_empty() || !before.ends_with(escape) {
        Some(before)
    } else {
        None
    }
}

/// Instructions that may carry heredocs (parser.go `heredocDirectives`).
fn takes_heredocs(cmd: &str) -> bool {
    ["run", "copy", "add"]
        .iter()
        .any(|c| cmd.eq_ignore_ascii_case(c))
}

/// Splits `text` into instructions. Lines are split on `\n`, a trailing `\r` dropped.
pub(crate) fn split(text: &str) -> Result<Split<'_>, Fatal> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // A final newline does not start another line.
    let count = if text.ends_with('\n') {
        lines.len() - 1
    } else {
        lines.len()
    };
    if let Some((i, _)) = lines[..count]
        .iter()
        .enumerate()
        .find(|(_, l)| l.len() > MAX_LINE_BYTES)
    {
        return Err(Fatal {
            pos: Pos::new(i + 1, 1),
            message: format!(
                "line {} is longer than BuildKit's limit of {MAX_LINE_BYTES} bytes",
                i + 1
            ),
        });
    }
    let mut d = Directives {
        escape: '\\',
        done: false,
        seen: Vec::new(),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < count {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        let lead = raw.len() - trimmed.len();
        d.consider(trimmed, i + 1)?;
        let start = i;
        i += 1;
        if is_comment(trimmed) {
            continue;
        }
        let (first, mut continues) = match strip_continuation(trimmed, d.escape) {
            Some(s) => (s, true),
            None => (trimmed, false),
        };
        if !continues && first.is_empty() {
            continue;
        }
        let mut logical = Logical {
            text: first.to_string(),
            pieces: vec![Piece {
                at: 0,
                line: start,
                byte: lead,
            }],
            start_line: start + 1,
            end_line: start + 1,
            heredocs: Vec::new(),
        };
        while continues && i < count {
            let raw = lines[i];
            i += 1;
            if is_comment(raw) || raw.trim().is_empty() {
                continue;
            }
            let (part, more) = match strip_continuation(raw, d.escape) {
                Some(s) => (s, true),
                None => (raw, false),
            };
            logical.pieces.push(Piece {
                at: logical.text.len(),
                line: i - 1,
                byte: 0,
            });
            logical.text.push_str(part);
            continues = more;
        }
        logical.end_line = i;
        let cmd = logical.text.split_whitespace().next().unwrap_or("");
        if takes_heredocs(cmd) && logical.text.contains("<<") && !is_json_form(&logical.text) {
            for marker in words::heredoc_markers(&logical.text) {
                let mut body = String::new();
                let mut done = false;
                while i < count {
                    let line = lines[i];
                    i += 1;
                    let candidate = if marker.chomp {
                        line.trim_start_matches('\t')
                    } else {
                        line
                    };
                    if candidate == marker.name {
                        done = true;
                        break;
                    }
                    body.push_str(line);
                    body.push('\n');
                }
                if !done {
                    return Err(Fatal {
                        pos: Pos::new(logical.start_line, 1),
                        message: format!(
                            "unterminated heredoc: no line {:?} ends the heredoc started on \
                             line {}",
                            marker.name, logical.start_line
                        ),
                    });
                }
                logical.heredocs.push(Heredoc {
                    name: marker.name,
                    body,
                });
            }
            logical.end_line = i;
        }
        out.push(logical);
    }
    Ok(Split {
        escape: d.escape,
        instructions: out,
        lines,
    })
}

/// `RUN ["a", "b"]`: the exec form, where `<<` is no heredoc.
fn is_json_form(text: &str) -> bool {
    let rest = text
        .split_once(char::is_whitespace)
        .map_or("", |(_, r)| r)
        .trim();
    rest.starts_with('[') && serde_json::from_str::<Vec<String>>(rest).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &Split<'_>) -> Vec<String> {
        s.instructions.iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn continuations_join_and_comments_inside_are_dropped() {
        let src = "FROM a\nRUN one \\\n  # a comment\n\n    two \\\n three\nRUN x";
        let s = split(src).unwrap();
        assert_eq!(texts(&s), vec!["FROM a", "RUN one     two  three", "RUN x"]);
        let run = &s.instructions[1];
        assert_eq!((run.start_line, run.end_line), (2, 6));
        // "two" sits on line 5, column 5.
        let at = run.text.find("two").unwrap();
        assert_eq!(s.pos(run, at), Pos::new(5, 5));
        assert_eq!(s.pos(run, 0), Pos::new(2, 1));
    }

    #[test]
    fn indented_instructions_keep_their_column() {
        let s = split("FROM a\n   RUN --mount=type=cache,target=/x true\n").unwrap();
        let run = &s.instructions[1];
        assert_eq!(s.pos(run, 0), Pos::new(2, 4));
        assert_eq!(
            s.pos(run, run.text.find("--mount").unwrap()),
            Pos::new(2, 8)
        );
    }

    #[test]
    fn escape_directive_switches_to_backtick() {
        let src = "# escape=`\nFROM a\nRUN one `\n two\nRUN c:\\path\\";
        let s = split(src).unwrap();
        assert_eq!(s.escape, '`');
        assert_eq!(texts(&s), vec!["FROM a", "RUN one  two", "RUN c:\\path\\"]);
    }

    #[test]
    fn directives_only_count_at_the_top() {
        let s = split("FROM a\n# escape=`\nRUN x `\nRUN y").unwrap();
        assert_eq!(s.escape, '\\');
        assert_eq!(texts(&s), vec!["FROM a", "RUN x `", "RUN y"]);
        let err = split("# escape=\\\n# escape=`\nFROM a").unwrap_err();
        assert!(err.message.contains("only one escape"), "{err:?}");
        assert_eq!(err.pos.line, 2);
        assert!(split("# escape=x\nFROM a").is_err());
    }

    #[test]
    fn escaped_escape_does_not_continue() {
        let s = split("FROM a\nRUN echo \\\\\nRUN b").unwrap();
        assert_eq!(texts(&s), vec!["FROM a", "RUN echo \\\\", "RUN b"]);
    }

    #[test]
    fn heredocs_are_read_after_the_instruction() {
        let src = "FROM a\nRUN <<EOF bash\nset -e\ncargo build\nEOF\nRUN <<-'END'\n\techo $HOME\n\tEND\nRUN x";
        let s = split(src).unwrap();
        assert_eq!(
            texts(&s),
            vec!["FROM a", "RUN <<EOF bash", "RUN <<-'END'", "RUN x"]
        );
        assert_eq!(s.instructions[1].heredocs[0].body, "set -e\ncargo build\n");
        assert_eq!(
            (s.instructions[1].start_line, s.instructions[1].end_line),
            (2, 5)
        );
        assert_eq!(s.instructions[2].heredocs[0].name, "END");
        assert_eq!(s.instructions[2].heredocs[0].body, "\techo $HOME\n");
        assert_eq!(s.instructions[3].start_line, 9);
    }

    #[test]
    fn two_heredocs_in_one_instruction() {
        let src = "FROM a\nCOPY <<A <<B /dst/\none\nA\ntwo\nB\n";
        let s = split(src).unwrap();
        let c = &s.instructions[1];
        assert_eq!(c.heredocs.len(), 2);
        assert_eq!(c.heredocs[1].body, "two\n");
    }

    #[test]
    fn an_unterminated_heredoc_is_fatal() {
        let err = split("FROM a\nRUN <<EOF\necho hi\n").unwrap_err();
        assert_eq!(err.pos, Pos::new(2, 1));
        assert!(err.message.contains("unterminated heredoc"));
    }

    #[test]
    fn exec_form_has_no_heredoc() {
        let s = split("FROM a\nRUN [\"sh\", \"-c\", \"cat <<EOF\"]\nRUN b").unwrap();
        assert_eq!(s.instructions.len(), 3);
    }

    #[test]
    fn long_lines_are_refused_like_buildkit() {
        let src = format!("FROM a\nRUN {}\n", "x".repeat(MAX_LINE_BYTES));
        let err = split(&src).unwrap_err();
        assert_eq!(err.pos.line, 2);
    }

    #[test]
    fn crlf_and_bom() {
        let s = split("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n").unwrap();
        assert_eq!(texts(&s), vec!["FROM a", "RUN b  c"]);
    }
}
