//! The `cachetop.lint.v1` document (schema: assets/lint.schema.json). Strings are kept
//! exactly; a path that is not UTF-8 is shown with U+FFFD for its bad bytes.

use serde_json::{Value, json};

use crate::lint::LintRun;

pub(crate) const SCHEMA: &str = "cachetop.lint.v1";

pub(crate) fn document(run: &LintRun) -> Value {
    let files: Vec<Value> = run
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.display,
                "kind": f.kind.as_str(),
                "error": f.error,
            })
        })
        .collect();
    let findings: Vec<Value> = run
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule.id(),
                "severity": f.severity.as_str(),
                "path": run.files.get(f.file).map(|s| s.display.as_str()),
                "line": f.pos.line,
                "column": f.pos.column,
                "message": f.message,
                "fix": f.fix,
            })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "files": files,
        "findings": findings,
    })
}
