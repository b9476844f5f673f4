//! `path:line:col: severity[rule] message`, the fix indented under it, then a summary.
//! Paths, messages and fixes quote the files (image names, job ids, file names), so
//! each line is escaped before it reaches a terminal.

use std::fmt::Write;

use crate::lint::LintRun;
use crate::lint::finding::Severity;
use crate::terminal_text::escape;

pub(crate) fn render(run: &LintRun) -> String {
    let mut out = String::new();
    for f in &run.findings {
        let path = run.files.get(f.file).map_or("", |s| s.display.as_str());
        let head = format!(
            "{path}:{}:{}: {}[{}] {}",
            f.pos.line,
            f.pos.column,
            f.severity,
            f.rule.id(),
            f.message
        );
        let _ = writeln!(out, "{}", escape(&head));
        let _ = writeln!(out, "    fix: {}", escape(&f.fix));
    }
    let count = |s: Severity| run.findings.iter().filter(|f| f.severity == s).count();
    let files = run.files.len();
    let files_word = if files == 1 { "file" } else { "files" };
    if run.findings.is_empty() {
        let _ = writeln!(out, "no findings in {files} {files_word}");
    } else {
        let n = run.findings.len();
        let _ = writeln!(
            out,
            "{n} finding{} ({} error, {} warning, {} info) in {files} {files_word}",
            if n == 1 { "" } else { "s" },
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
        );
    }
    out
}
