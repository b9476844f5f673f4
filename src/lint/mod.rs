//! `cachetop lint`: finds the Dockerfile and CI workflow patterns that poison or waste
//! build caches (README, "cachetop lint"). Reading the files is `discover`; parsing,
//! rules and output are pure functions of the files' bytes.

pub(crate) mod discover;
pub(crate) mod dockerfile;
pub(crate) mod finding;
pub(crate) mod origins;
pub(crate) mod output;
#[cfg(test)]
mod proptests;
pub(crate) mod rules;
pub(crate) mod workflow;

use std::path::PathBuf;

use dockerfile::Dockerfile;
use finding::{Finding, Pos, Severity};
use rules::Rule;
use workflow::Workflow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Dockerfile,
    Workflow,
}

impl FileKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FileKind::Dockerfile => "dockerfile",
            FileKind::Workflow => "workflow",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Parsed {
    Dockerfile(Dockerfile),
    Workflow(Workflow),
    /// Not read or not parsed: the reason is a finding or `SourceFile::error`.
    Nothing,
}

/// One file linted.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// How it is named in output: relative to `.` when found under it.
    pub display: String,
    pub kind: FileKind,
    /// Workflows in one directory share a repository's cache.
    pub repo: PathBuf,
    pub parsed: Parsed,
    /// Why the file could not be read (exit 1).
    pub error: Option<String>,
}

/// A file to lint and its content (or why it could not be read).
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub path: PathBuf,
    pub display: String,
    pub kind: FileKind,
    pub repo: PathBuf,
    /// Forgejo and Gitea have only self-hosted runners.
    pub all_self_hosted: bool,
    pub content: Result<Vec<u8>, ReadError>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Over `discover::MAX_FILE_BYTES`: a finding, the file is not linted.
    TooLarge(u64),
    /// Could not be read at all: exit 1.
    Io(String),
}

/// The result of one lint run.
#[derive(Clone, Debug, Default)]
pub(crate) struct LintRun {
    pub files: Vec<SourceFile>,
    /// Sorted by file, place and rule.
    pub findings: Vec<Finding>,
}

impl LintRun {
    pub(crate) fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub(crate) fn unreadable(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().filter(|f| f.error.is_some())
    }
}

fn parse_error(file: usize, pos: Pos, message: String) -> Finding {
    Finding {
        rule: Rule::ParseError,
        severity: Severity::Error,
        file,
        pos,
        message,
        fix: Rule::ParseError.fix().to_string(),
    }
}

/// The text of a file, or why it is not text: a NUL byte (binary) or invalid UTF-8,
/// with the place of the first offending byte.
fn decode(bytes: &[u8]) -> Result<&str, (Pos, String)> {
    let place = |at: usize| {
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
        Pos::new(line, column)
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let byte = bytes.get(at).copied().unwrap_or(0);
        (
            place(at),
            format!("not UTF-8 text: byte 0x{byte:02x} cannot start a character here; not linted"),
        )
    })?;
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err((
            place(at),
            "binary content (a NUL byte); not linted".to_string(),
        ));
    }
    Ok(text)
}

/// Parses every input, runs every rule, sorts the findings.
pub(crate) fn lint(inputs: Vec<Input>) -> LintRun {
    let mut run = LintRun::default();
    for (i, input) in inputs.into_iter().enumerate() {
        let mut file = SourceFile {
            path: input.path,
            display: input.display,
            kind: input.kind,
            repo: input.repo,
            parsed: Parsed::Nothing,
            error: None,
        };
        match &input.content {
            Err(ReadError::Io(e)) => file.error = Some(e.clone()),
            Err(ReadError::TooLarge(n)) => run.findings.push(parse_error(
                i,
                Pos::new(1, 1),
                format!(
                    "{n} bytes is over the bound of {} bytes for one file; not linted",
                    discover::MAX_FILE_BYTES
                ),
            )),
            Ok(bytes) => match decode(bytes) {
                Err((pos, message)) => run.findings.push(parse_error(i, pos, message)),
                Ok(text) => match file.kind {
                    FileKind::Dockerfile => match dockerfile::parse(text) {
                        Ok(d) => {
                            for issue in &d.issues {
                                run.findings
                                    .push(parse_error(i, issue.pos, issue.message.clone()));
                            }
                            file.parsed = Parsed::Dockerfile(d);
                        }
                        Err(e) => run.findings.push(parse_error(i, e.pos, e.message)),
                    },
                    FileKind::Workflow => match workflow::parse(text, input.all_self_hosted) {
                        Ok(w) => file.parsed = Parsed::Workflow(w),
                        Err(e) => run.findings.push(parse_error(i, e.pos, e.message)),
                    },
                },
            },
        }
        run.files.push(file);
    }
    run.findings.extend(rules::check(&run.files));
    run.findings.sort_by_key(|f| (f.file, f.pos, f.rule));
    run
}
