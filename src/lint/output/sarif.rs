//! SARIF 2.1.0 for GitHub code scanning: every rule in `tool.driver.rules` (id, name,
//! descriptions, help, default level), every finding a result with a physical location.
//! Paths relative to the working directory are URIs relative to `%SRCROOT%` (the
//! checkout, where `upload-sarif` runs); others are absolute `file://` URIs. Columns
//! count Unicode code points (`columnKind`).

use std::path::{Component, Path};

use serde_json::{Value, json};

use crate::lint::LintRun;
use crate::lint::rules::Rule;

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Percent-encodes a path's bytes for a URI: unreserved characters and `/` stay.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact location of `path`, relative to `cwd` when it is under it.
fn location(path: &Path, cwd: Option<&Path>) -> Value {
    use std::os::unix::ffi::OsStrExt;
    let rel = if path.is_absolute() {
        cwd.and_then(|c| path.strip_prefix(c).ok())
    } else {
        Some(path)
    };
    match rel {
        Some(rel) => {
            let clean: std::path::PathBuf = rel
                .components()
                .filter(|c| !matches!(c, Component::CurDir))
                .collect();
            json!({
                "uri": encode(clean.as_os_str().as_bytes()),
                "uriBaseId": "%SRCROOT%",
            })
        }
        None => json!({ "uri": format!("file://{}", encode(path.as_os_str().as_bytes())) }),
    }
}

fn rule_descriptor(rule: Rule) -> Value {
    json!({
        "id": rule.id(),
        "name": rule.id(),
        "shortDescription": { "text": rule.title() },
        "fullDescription": { "text": rule.mechanism() },
        "help": {
            "text": format!("{}\n\nFix: {}", rule.mechanism(), rule.fix()),
            "markdown": format!("{}\n\n**Fix:** {}", rule.mechanism(), rule.fix()),
        },
        "defaultConfiguration": { "level": rule.default_severity().sarif_level() },
        "properties": { "tags": ["cache", "ci", "docker"] },
    })
}

/// The SARIF log. `cwd` makes absolute paths under it relative to `%SRCROOT%`.
pub(crate) fn document(run: &LintRun, cwd: Option<&Path>) -> Value {
    use std::os::unix::ffi::OsStrExt;
    let results: Vec<Value> = run
        .findings
        .iter()
        .map(|f| {
            let path = run.files.get(f.file).map(|s| s.path.as_path());
            let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": f.severity.sarif_level(),
                "message": { "text": format!("{}\nFix: {}", f.message, f.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": location(path.unwrap_or(Path::new("")), cwd),
                        "region": { "startLine": f.pos.line, "startColumn": f.pos.column },
                    }
                }],
            })
        })
        .collect();
    let mut run_obj = json!({
        "tool": {
            "driver": {
                "name": "cachetop",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": Rule::ALL.iter().map(|r| rule_descriptor(*r)).collect::<Vec<_>>(),
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let Some(cwd) = cwd {
        let mut root = encode(cwd.as_os_str().as_bytes());
        if !root.ends_with('/') {
            root.push('/');
        }
        run_obj["originalUriBaseIds"] = json!({ "%SRCROOT%": { "uri": format!("file://{root}") } });
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [run_obj],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_encoded() {
        let cwd = Path::new("/work/repo");
        assert_eq!(
            location(Path::new("./docker/Dockerfile"), Some(cwd))["uri"],
            "docker/Dockerfile"
        );
        assert_eq!(
            location(Path::new("/work/repo/a b/Dockerfile"), Some(cwd))["uri"],
            "a%20b/Dockerfile"
        );
        let outside = location(Path::new("/etc/x/Dockerfile"), Some(cwd));
        assert_eq!(outside["uri"], "file:///etc/x/Dockerfile");
        assert!(outside.get("uriBaseId").is_none());
    }
}
