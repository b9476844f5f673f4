//! `cachetop lint` through the real binary: the fixtures give exactly the rule ids and
//! places a user would fix, their fixed variants are clean, the exit codes and the three
//! formats hold their contracts (JSON against assets/lint.schema.json, SARIF against the
//! OASIS SARIF 2.1.0 schema), and files of any shape give findings, never a crash.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn cachetop() -> Command {
    let mut c = Command::cargo_bin("cachetop").unwrap();
    // lint must not need a daemon, a config file or DOCKER_HOST.
    c.env("DOCKER_HOST", "tcp://not a host")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    c
}

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

fn lint_json(dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = cachetop()
        .current_dir(dir)
        .arg("lint")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    no_panic(&out);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), doc)
}

/// (rule, severity, path, line, column) of a finding.
type Place = (String, String, String, u64, u64);

fn places(doc: &Value) -> Vec<Place> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn p(rule: &str, sev: &str, path: &str, line: u64, col: u64) -> Place {
    (rule.into(), sev.into(), path.into(), line, col)
}

#[test]
fn fjmcp2_before_the_fix() {
    let (code, doc) = lint_json(&fixtures().join("fjmcp2-before"), &[]);
    assert_eq!(code, Some(3));
    let rule = "cargo-registry-unlocked";
    assert_eq!(
        places(&doc),
        vec![
            // One stage: other builds on the builder race it.
            p(rule, "warning", "server.Dockerfile", 7, 5),
            p(rule, "warning", "server.Dockerfile", 8, 5),
            // Two stages that do not depend on each other: BuildKit runs them together.
            p(rule, "error", "tools.Dockerfile", 7, 5),
            p(rule, "error", "tools.Dockerfile", 8, 5),
            p(rule, "error", "tools.Dockerfile", 14, 5),
            p(rule, "error", "tools.Dockerfile", 15, 5),
        ]
    );
    let msg = doc["findings"][0]["message"].as_str().unwrap();
    assert!(msg.contains(".package-cache"), "{msg}");
    let fix = doc["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("sharing=locked"), "{fix}");
}

#[test]
fn rule_by_rule_fixtures() {
    let f = fixtures();
    let cases: Vec<(PathBuf, Vec<Place>)> = vec![
        (
            f.join("target-id/shared.Dockerfile"),
            vec![p(
                "target-dir-shared-id",
                "warning",
                "shared.Dockerfile",
                9,
                5,
            )],
        ),
        (
            f.join("apt/unlocked.Dockerfile"),
            vec![
                p("apt-cache-unlocked", "warning", "unlocked.Dockerfile", 2, 5),
                p(
                    "apt-cache-docker-clean",
                    "warning",
                    "unlocked.Dockerfile",
                    2,
                    5,
                ),
                p("apt-cache-unlocked", "warning", "unlocked.Dockerfile", 3, 5),
            ],
        ),
        (
            f.join("apt/docker-clean.Dockerfile"),
            vec![p(
                "apt-cache-docker-clean",
                "warning",
                "docker-clean.Dockerfile",
                2,
                5,
            )],
        ),
        (
            f.join("cache-id/split/Dockerfile"),
            vec![
                p("cache-id-key-split", "warning", "Dockerfile", 4, 5),
                p("cache-id-key-split", "warning", "Dockerfile", 10, 5),
            ],
        ),
        (
            f.join("parsing/heredoc-escape.Dockerfile"),
            vec![p(
                "cargo-registry-unlocked",
                "warning",
                "heredoc-escape.Dockerfile",
                8,
                5,
            )],
        ),
        (
            f.join("workflows/rust-before"),
            vec![
                p(
                    "gha-cache-competition",
                    "warning",
                    ".github/workflows/ci.yml",
                    18,
                    15,
                ),
                p(
                    "gha-cache-saved-from-prs",
                    "warning",
                    ".github/workflows/ci.yml",
                    18,
                    15,
                ),
            ],
        ),
        (
            f.join("workflows/images-before"),
            vec![
                p(
                    "gha-cache-saved-from-prs",
                    "warning",
                    ".github/workflows/images.yml",
                    18,
                    21,
                ),
                p(
                    "gha-buildkit-scope",
                    "warning",
                    ".github/workflows/images.yml",
                    18,
                    21,
                ),
                p(
                    "gha-cache-saved-from-prs",
                    "warning",
                    ".github/workflows/images.yml",
                    24,
                    21,
                ),
                p(
                    "gha-buildkit-scope",
                    "warning",
                    ".github/workflows/images.yml",
                    24,
                    21,
                ),
            ],
        ),
        (
            f.join("workflows/runner-before"),
            vec![
                p(
                    "daemon-wide-prune",
                    "error",
                    ".github/workflows/cleanup.yml",
                    14,
                    11,
                ),
                p(
                    "daemon-wide-prune",
                    "error",
                    ".github/workflows/cleanup.yml",
                    15,
                    11,
                ),
            ],
        ),
        (
            f.join("workflows/forgejo"),
            vec![p(
                "daemon-wide-prune",
                "error",
                ".forgejo/workflows/clean.yml",
                6,
                14,
            )],
        ),
    ];
    for (path, want) in cases {
        // Lint from the file's directory (or the repository) so paths are relative.
        let (dir, arg) = if path.is_dir() {
            (path.clone(), ".".to_string())
        } else {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (path.parent().unwrap().to_path_buf(), name)
        };
        let (code, doc) = lint_json(&dir, &[&arg]);
        assert_eq!(places(&doc), want, "{}", path.display());
        assert_eq!(code, Some(3), "{}", path.display());
    }
}

#[test]
fn fixed_variants_are_clean() {
    let f = fixtures();
    for path in [
        f.join("fjmcp2-after"),
        f.join("target-id/per-service.Dockerfile"),
        f.join("apt/fixed.Dockerfile"),
        f.join("cache-id/fixed"),
        f.join("workflows/rust-after"),
        f.join("workflows/images-after"),
        f.join("workflows/runner-after"),
    ] {
        let out = cachetop().arg("lint").arg(&path).output().unwrap();
        no_panic(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}: {text}", path.display());
        assert!(
            text.starts_with("no findings in "),
            "{}: {text}",
            path.display()
        );
    }
}

#[test]
fn text_lines_name_the_place_rule_and_fix() {
    let dir = fixtures().join("target-id");
    let out = cachetop()
        .current_dir(&dir)
        .args(["lint", "shared.Dockerfile"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("shared.Dockerfile:9:5: warning[target-dir-shared-id] cache mount of the build output /app/target"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("    fix: use a per-service id: --mount=type=cache,id=target-${SERVICE},target=/app/target"),
        "{text}"
    );
    assert_eq!(lines[2], "1 finding (0 error, 1 warning, 0 info) in 1 file");
}

#[test]
fn exit_codes_follow_the_fail_level() {
    let f = fixtures();
    let code = |args: &[&str]| {
        let out = cachetop().arg("lint").args(args).output().unwrap();
        no_panic(&out);
        out.status.code()
    };
    let warnings = f.join("apt/docker-clean.Dockerfile");
    let warnings = warnings.to_str().unwrap();
    assert_eq!(code(&[warnings]), Some(3));
    assert_eq!(code(&[warnings, "--fail-level", "error"]), Some(0));
    assert_eq!(code(&[warnings, "--fail-level", "info"]), Some(3));
    assert_eq!(code(&[warnings, "--fail-level", "none"]), Some(0));
    let errors = f.join("workflows/runner-before");
    assert_eq!(
        code(&[errors.to_str().unwrap(), "--fail-level", "error"]),
        Some(3)
    );
    assert_eq!(code(&[f.join("fjmcp2-after").to_str().unwrap()]), Some(0));

    let tmp = tempfile::tempdir().unwrap();
    // An info finding: an apt cache in an image cachetop does not know.
    let info = tmp.path().join("Dockerfile");
    std::fs::write(
        &info,
        "FROM registry.example.com/base\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get install -y gcc\n",
    )
    .unwrap();
    assert_eq!(code(&[info.to_str().unwrap()]), Some(0));
    assert_eq!(
        code(&[info.to_str().unwrap(), "--fail-level", "info"]),
        Some(3)
    );

    // Usage errors: 2.
    assert_eq!(code(&["/nonexistent/cachetop-lint"]), Some(2));
    assert_eq!(code(&["--format", "xml"]), Some(2));
    assert_eq!(code(&["/dev/null"]), Some(2));
    // A file that cannot be read (reading /proc/self/mem at 0 fails with EIO): 1, and
    // the other files are still linted.
    let out = cachetop()
        .args(["lint", "--format", "json", "/proc/self/mem"])
        .arg(f.join("apt/docker-clean.Dockerfile"))
        .output()
        .unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("/proc/self/mem")
    );
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /proc/self/mem"));
}

fn validator(path: &Path) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn json_matches_its_schema() {
    let v = validator(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/lint.schema.json"));
    let (_, doc) = lint_json(&fixtures(), &["."]);
    assert_eq!(doc["schema"], "cachetop.lint.v1");
    assert!(doc["findings"].as_array().unwrap().len() > 20);
    let kinds: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"dockerfile") && kinds.contains(&"workflow"));
    assert_valid(&v, &doc);
    // With an unreadable file and a parse error too.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), "FROM a\nRUN <<EOF\n").unwrap();
    let (code, doc) = lint_json(tmp.path(), &[".", "/proc/self/mem"]);
    assert_eq!(code, Some(1));
    assert_valid(&v, &doc);
    // The schema is not vacuous.
    let mut bad = doc.clone();
    bad["findings"][0]["severity"] = "fatal".into();
    assert!(!v.is_valid(&bad));
}

#[test]
fn sarif_matches_the_sarif_schema() {
    let v = validator(&fixtures().join("sarif-schema-2.1.0.json"));
    let dir = fixtures().join("fjmcp2-before");
    let out = cachetop()
        .current_dir(&dir)
        .args(["lint", "--format", "sarif"])
        .output()
        .unwrap();
    no_panic(&out);
    assert_eq!(out.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&v, &doc);
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules.len(), 10);
    assert!(rules.contains(&"cargo-registry-unlocked") && rules.contains(&"daemon-wide-prune"));
    let result = &run["results"][2];
    assert_eq!(result["ruleId"], "cargo-registry-unlocked");
    assert_eq!(result["level"], "error");
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize],
        "cargo-registry-unlocked"
    );
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "tools.Dockerfile");
    assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(loc["region"]["startLine"], 7);
    assert_eq!(loc["region"]["startColumn"], 5);
    let root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        root.starts_with("file:///") && root.ends_with("fjmcp2-before/"),
        "{root}"
    );
    // The schema is not vacuous.
    let mut bad = doc.clone();
    bad["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!v.is_valid(&bad));

    // Every fixture at once, and a path with a space, stay valid.
    let tmp = tempfile::tempdir().unwrap();
    let spaced = tmp.path().join("a dir");
    std::fs::create_dir(&spaced).unwrap();
    std::fs::copy(
        fixtures().join("apt/unlocked.Dockerfile"),
        spaced.join("Dockerfile"),
    )
    .unwrap();
    let out = cachetop()
        .current_dir(tmp.path())
        .args(["lint", "--format", "sarif", "."])
        .arg(fixtures())
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&v, &doc);
    let uris: Vec<&str> = doc["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(uris.contains(&"a%20dir/Dockerfile"), "{uris:?}");
    assert!(uris.iter().any(|u| u.starts_with("file:///")), "{uris:?}");
}

#[test]
fn hostile_text_is_escaped_on_a_terminal_and_exact_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Dockerfile"),
        "FROM evil\u{1b}]0;owned\u{7}\u{202e}image\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get install -y x\n",
    )
    .unwrap();
    let out = cachetop()
        .current_dir(tmp.path())
        .arg("lint")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("evil\\x1b]0;owned\\x07\\u{202e}image"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
    let (_, doc) = lint_json(tmp.path(), &[]);
    assert!(
        doc["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("evil\u{1b}]0;owned")
    );
}

#[test]
fn malformed_files_are_findings_never_crashes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let wf = d.join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(std::iter::repeat_n(0xffu8, 64));
    std::fs::write(d.join("binary.Dockerfile"), &png).unwrap();
    std::fs::write(d.join("nul.Dockerfile"), b"FROM a\nRUN x\0y\n").unwrap();
    std::fs::write(d.join("latin1.Dockerfile"), b"FROM a\n# caf\xe9\n").unwrap();
    std::fs::write(
        d.join("heredoc.Dockerfile"),
        "FROM a\nRUN true\nRUN <<EOF\necho never ends\n",
    )
    .unwrap();
    let long = format!("FROM a\nRUN echo {}\n", "x".repeat(2_000_000));
    std::fs::write(d.join("long.Dockerfile"), &long).unwrap();
    std::fs::write(d.join("empty.Dockerfile"), "").unwrap();
    std::fs::write(
        wf.join("truncated.yml"),
        "on: push\njobs:\n  a:\n    steps: [\n      - run: x",
    )
    .unwrap();
    std::fs::write(
        wf.join("long.yml"),
        format!("on: push\njobs: {{}}\nname: {}\n", "y".repeat(2_000_000)),
    )
    .unwrap();
    std::fs::write(wf.join("list.yml"), "- just\n- a list\n").unwrap();
    std::fs::write(wf.join("deep.yml"), "[".repeat(50_000)).unwrap();
    std::fs::write(wf.join("tabs.yml"), "on: push\njobs:\n\ta: 1\n").unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    std::fs::write(wf.join("bomb.yml"), bomb).unwrap();
    let big = vec![b'#'; 5 * 1024 * 1024];
    std::fs::write(d.join("huge.Dockerfile"), big).unwrap();

    let (code, doc) = lint_json(d, &[]);
    assert_eq!(code, Some(3));
    let found: Vec<(String, u64, u64)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["rule"], "parse-error", "{f}");
            assert_eq!(f["severity"], "error");
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let at = |path: &str| -> (u64, u64) {
        let hits: Vec<_> = found.iter().filter(|(p, _, _)| p == path).collect();
        assert_eq!(hits.len(), 1, "{path}: {found:?}");
        (hits[0].1, hits[0].2)
    };
    // Stops where aliases expand past the node bound, not at the end.
    assert!(at(".github/workflows/bomb.yml").0 < 12);
    assert_eq!(at(".github/workflows/deep.yml").0, 1);
    assert_eq!(at(".github/workflows/list.yml"), (1, 1));
    assert_eq!(at(".github/workflows/tabs.yml").0, 3);
    assert!(at(".github/workflows/truncated.yml").0 >= 4);
    assert_eq!(at("binary.Dockerfile"), (1, 1));
    assert_eq!(at("empty.Dockerfile"), (1, 1));
    assert_eq!(at("heredoc.Dockerfile"), (3, 1));
    assert_eq!(at("huge.Dockerfile"), (1, 1));
    assert_eq!(at("latin1.Dockerfile"), (2, 6));
    assert_eq!(at("long.Dockerfile"), (2, 1));
    assert_eq!(at("nul.Dockerfile"), (2, 6));
    // A 2 MB line of YAML is valid, and a workflow with no jobs has nothing to find.
    assert!(
        found
            .iter()
            .all(|(p, _, _)| p != ".github/workflows/long.yml")
    );
    let messages: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(messages.iter().any(|m| m.contains("65535")), "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("unterminated heredoc")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("not UTF-8")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("200000 nodes")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("{}", 4 * 1024 * 1024))),
        "{messages:?}"
    );
}

#[test]
fn discovery_finds_what_builds_read_and_stays_in_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let outside = tmp.path().join("outside");
    for dir in [
        "svc/api",
        ".github/workflows/nested",
        ".gitea/workflows",
        "target",
        "node_modules/pkg",
        ".git",
        "linked-dir-target",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::create_dir_all(&outside).unwrap();
    let df = "FROM rust:1\nRUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch\n";
    let wf = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n";
    for f in [
        "Dockerfile",
        "svc/api/api.Dockerfile",
        "svc/api/Dockerfile.prod",
        "svc/Containerfile",
        "svc/Dockerfile.dockerignore",
        "svc/README.md",
        "target/Dockerfile",
        "node_modules/pkg/Dockerfile",
        ".git/Dockerfile",
        "linked-dir-target/Dockerfile",
    ] {
        std::fs::write(root.join(f), df).unwrap();
    }
    for f in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yaml",
        ".github/workflows/nested/x.yml",
        ".github/workflows/notes.txt",
        ".gitea/workflows/build.yml",
        ".github/ci.yml",
    ] {
        std::fs::write(root.join(f), wf).unwrap();
    }
    std::fs::write(outside.join("Dockerfile"), df).unwrap();
    std::os::unix::fs::symlink(outside.join("Dockerfile"), root.join("svc/out.Dockerfile"))
        .unwrap();
    std::os::unix::fs::symlink(root.join("Dockerfile"), root.join("svc/in.Dockerfile")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("svc/outside-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("linked-dir-target"), root.join("svc/inside-dir"))
        .unwrap();
    std::fs::write(root.join("svc/build-recipe"), df).unwrap();

    let (_, doc) = lint_json(&root, &[]);
    let files: Vec<(&str, &str)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        files,
        vec![
            (".gitea/workflows/build.yml", "workflow"),
            (".github/workflows/ci.yml", "workflow"),
            (".github/workflows/release.yaml", "workflow"),
            ("Dockerfile", "dockerfile"),
            ("linked-dir-target/Dockerfile", "dockerfile"),
            ("svc/Containerfile", "dockerfile"),
            ("svc/api/Dockerfile.prod", "dockerfile"),
            ("svc/api/api.Dockerfile", "dockerfile"),
            ("svc/in.Dockerfile", "dockerfile"),
        ]
    );
    // A file named on the command line is linted whatever its name.
    let (_, doc) = lint_json(&root, &["svc/build-recipe", ".github/ci.yml"]);
    let files: Vec<(&str, &str)> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("svc/build-recipe", "dockerfile"),
            (".github/ci.yml", "workflow")
        ]
    );
    assert_eq!(doc["findings"][0]["rule"], "cargo-registry-unlocked");
}
