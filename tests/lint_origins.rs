//! `--lint`: live cache mounts linked to the Dockerfiles that make them. The fixture
//! Dockerfiles under tests/fixtures/lint_origins are built for real on the isolated
//! daemon; `report` then names, for each cache-mount record, exactly the RUNs that
//! mount it and the lint rules found there, and nothing for a mount no linted file
//! makes. The screen's details pane shows the same, on a TestBackend and on a real
//! terminal.

use crate::common;
use crate::tui_support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, OnceLock};

use cachetop::report::origins::Origins;
use cachetop::tui::app::Caps;
use cachetop::tui::view::Theme;
use common::tmux::{self, Tmux};
use common::*;
use serde_json::Value;
use tui_support::*;

const FIXTURES: &str = "tests/fixtures/lint_origins";
const TOOLS: &str = "tests/fixtures/lint_origins/tools.Dockerfile";
const SERVER: &str = "tests/fixtures/lint_origins/server/Dockerfile";
const REGISTRY: &str = "/opt/ct-origins/cargo/registry";
const GIT: &str = "/opt/ct-origins/cargo/git";
/// `target=target` under `WORKDIR /ct-origins` in the server Dockerfile.
const TARGET: &str = "/ct-origins/target";
/// Mounted by a Dockerfile that is not linted.
const UNLINTED: &str = "/opt/ct-origins/unlinted";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the fixture `file` for real, with `--build-arg ARG=<unique>` so its RUNs run
/// (and use their cache mounts) again even when an earlier run left them cached.
fn build_fixture(file: &str, arg: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(root().join(file), ctx.path().join("Dockerfile")).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "--progress=plain", "-q"])
        .args(["--build-arg", &format!("{arg}={}", unique("origins"))])
        .arg(ctx.path())
        .env("DOCKER_HOST", &daemon().host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build of {file} failed:\n{}",
        text(&out.stderr)
    );
}

/// The fixtures' cache mounts, and one no linted file makes, on the daemon (once per
/// test binary); the ids the daemon itself lists for each target.
fn built() -> &'static [(&'static str, String)] {
    static BUILT: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_fixture(TOOLS, "NONCE");
        build_fixture(SERVER, "SERVICE");
        build(&format!(
            "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target={UNLINTED} echo {} > {UNLINTED}/n\n",
            unique("unlinted")
        ));
        [REGISTRY, GIT, TARGET, UNLINTED]
            .into_iter()
            .map(|t| {
                let id = api_mount_record(t)["ID"].as_str().unwrap().to_string();
                (t, id)
            })
            .collect()
    })
}

fn report(extra: &[&str]) -> Output {
    let out = cachetop_on_daemon()
        .current_dir(root())
        .args(["report", "--no-scan"])
        .args(extra)
        .output()
        .unwrap();
    assert_no_panic(&out);
    out
}

/// An origin as (path, line, column, [(rule id, severity, fix)]).
type Place = (String, u64, u64, Vec<(String, String, String)>);

fn places(origins: &Value) -> Vec<Place> {
    origins
        .as_array()
        .unwrap_or_else(|| panic!("origins is not an array: {origins}"))
        .iter()
        .map(|o| {
            let rules = o["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap().to_string();
                    (s("id"), s("severity"), s("fix"))
                })
                .collect();
            (
                o["path"].as_str().unwrap().to_string(),
                o["line"].as_u64().unwrap(),
                o["column"].as_u64().unwrap(),
                rules,
            )
        })
        .collect()
}

fn unlocked(severity: &str, target: &str) -> Vec<(String, String, String)> {
    vec![(
        "cargo-registry-unlocked".to_string(),
        severity.to_string(),
        format!(
            "add sharing=locked to this mount: --mount=type=cache,target={target},sharing=locked"
        ),
    )]
}

fn place(path: &str, line: u64, rules: Vec<(String, String, String)>) -> Place {
    (path.to_string(), line, 1, rules)
}

/// What every record of each target must carry.
fn expected(target: &str) -> Vec<Place> {
    match target {
        // Discovery order: server/Dockerfile sorts before tools.Dockerfile.
        REGISTRY => vec![
            place(SERVER, 7, vec![]),
            place(TOOLS, 7, unlocked("error", REGISTRY)),
            place(TOOLS, 14, unlocked("error", REGISTRY)),
        ],
        GIT => vec![
            place(TOOLS, 7, unlocked("error", GIT)),
            place(TOOLS, 14, unlocked("error", GIT)),
        ],
        TARGET => vec![place(
            SERVER,
            7,
            vec![(
                "target-dir-shared-id".to_string(),
                "warning".to_string(),
                format!(
                    "use a per-service id: --mount=type=cache,id=target-${{SERVICE}},target={TARGET} \
                     (with ARG SERVICE in this stage)"
                ),
            )],
        )],
        _ => vec![],
    }
}

/// The published schema accepts the document with origins (and the schema checks
/// them: an origin without its rules is refused).
fn assert_schema_valid(doc: &Value) {
    let path = root().join("assets/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut bad = doc.clone();
    let entry = bad["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["mount_target"] == REGISTRY)
        .unwrap();
    entry["origins"][0].as_object_mut().unwrap().remove("rules");
    assert!(
        !v.is_valid(&bad),
        "an origin without rules passes the schema"
    );
}

fn entries_of<'a>(doc: &'a Value, target: &str) -> Vec<&'a Value> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mount_target"] == target)
        .collect()
}

/// Every record of each built target carries exactly the RUNs that mount it; other
/// entries carry an empty list.
fn assert_origins(doc: &Value) {
    for (target, id) in built() {
        let found = entries_of(doc, target);
        assert!(
            found.iter().any(|e| e["id"] == id.as_str()),
            "the daemon's record {id} for {target} is not reported"
        );
        for e in found {
            assert_eq!(
                places(&e["origins"]),
                expected(target),
                "origins of {} ({target})",
                e["id"]
            );
        }
    }
    for e in doc["entries"].as_array().unwrap() {
        let target = e["mount_target"].as_str().unwrap_or("");
        if ![REGISTRY, GIT, TARGET].contains(&target) {
            assert_eq!(e["origins"], Value::Array(vec![]), "{e:#}");
        }
    }
}

#[test]
fn report_json_links_each_cache_mount_to_the_runs_that_make_it() {
    built();
    let out = report(&["--json", "--lint", FIXTURES]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("lint"), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_origins(&doc);
    assert_schema_valid(&doc);
    // The finding's own message, for this mount: the registry's names the registry
    // and the stage that races it, not the git mount beside it.
    let registry = entries_of(&doc, REGISTRY)[0];
    let message = registry["origins"][1]["rules"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with(&format!(
            "cargo cache mount {REGISTRY} is shared without a lock (BuildKit's default \
             sharing=shared) in stage `cli`, and stage `migrate` (line 14) mounts it too"
        )),
        "{message}"
    );

    // Linting one file links only its RUNs.
    let out = report(&["--json", "--lint", SERVER]);
    let doc = json_of(&out);
    for e in entries_of(&doc, REGISTRY) {
        assert_eq!(places(&e["origins"]), vec![place(SERVER, 7, vec![])]);
    }
    for e in entries_of(&doc, GIT) {
        assert_eq!(places(&e["origins"]), vec![]);
    }
}

#[test]
fn without_lint_the_document_has_no_origins_at_all() {
    built();
    let doc = json_of(&report(&["--json"]));
    let entries = doc["entries"].as_array().unwrap();
    assert!(!entries_of(&doc, REGISTRY).is_empty());
    assert!(
        entries.iter().all(|e| e.get("origins").is_none()),
        "origins without --lint"
    );
}

#[test]
fn lint_paths_from_the_config_file_and_the_flag_wins() {
    built();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("lint_paths = [\"{}\"]\n", root().join(FIXTURES).display()),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let doc = json_of(&report(&["--json", "--config", config]));
    let from_file = entries_of(&doc, GIT);
    assert!(!from_file.is_empty());
    for e in from_file {
        let paths: Vec<String> = places(&e["origins"]).into_iter().map(|p| p.0).collect();
        let tools = root().join(TOOLS).display().to_string();
        assert_eq!(paths, vec![tools.clone(), tools]);
    }
    let doc = json_of(&report(&["--json", "--config", config, "--lint", SERVER]));
    for e in entries_of(&doc, GIT) {
        assert_eq!(places(&e["origins"]), vec![]);
    }
}

#[test]
fn files_that_cannot_be_linted_are_warnings_and_the_report_still_runs() {
    built();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("binary.Dockerfile"), b"FROM x\nRUN \xff\n").unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM x\nRUN --mount=type=cache,target={GIT},sharing=bogus true\n"),
    )
    .unwrap();
    let missing = dir.path().join("missing");
    let out = report(&[
        "--json",
        "--lint",
        FIXTURES,
        "--lint",
        dir.path().to_str().unwrap(),
        "--lint",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("cachetop: lint: "))
        .collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(
        warnings
            .iter()
            .any(|w| w.ends_with(&format!("{}: no such file or directory", missing.display()))),
        "{err}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(&format!(
            "{}:2:5: not UTF-8 text",
            dir.path().join("binary.Dockerfile").display()
        ))),
        "{err}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(&format!(
            "{}:2:5: unsupported sharing value \"bogus\"",
            dir.path().join("Dockerfile").display()
        ))),
        "{err}"
    );
    // The fixtures are linked as before.
    assert_origins(&json_of(&out));
}

#[test]
fn the_table_ends_with_what_made_each_mount_and_hostile_names_are_inert() {
    let ids = built();
    let id = |t: &str| ids.iter().find(|(x, _)| *x == t).unwrap().1.clone();
    let out = report(&["--lint", FIXTURES]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let section: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("Made by (--lint, 2 Dockerfiles;"))
        .collect();
    assert!(!section.is_empty(), "{table}");
    let at = |needle: &str| {
        section
            .iter()
            .position(|l| *l == needle)
            .unwrap_or_else(|| panic!("no line {needle:?} in\n{table}"))
    };
    let git = at(&format!("  docker {}  {GIT}", id(GIT)));
    assert_eq!(
        section[git + 1..git + 3],
        [
            format!("    {TOOLS}:7:1  error[cargo-registry-unlocked]"),
            format!("    {TOOLS}:14:1  error[cargo-registry-unlocked]"),
        ]
    );
    let target = at(&format!("  docker {}  {TARGET}", id(TARGET)));
    assert_eq!(
        section[target + 1],
        format!("    {SERVER}:7:1  warning[target-dir-shared-id]")
    );
    assert!(
        !table.contains(&format!("docker {}", id(UNLINTED))),
        "{table}"
    );

    // A file name from outside reaches the terminal escaped, and JSON keeps it exact.
    let dir = tempfile::tempdir().unwrap();
    let name = "evil\x1b]0;pwned\x07\u{202e}.Dockerfile";
    std::fs::write(
        dir.path().join(name),
        format!("FROM x\nRUN --mount=type=cache,target={GIT} true\n"),
    )
    .unwrap();
    let out = report(&["--lint", dir.path().to_str().unwrap()]);
    let table = text(&out.stdout);
    assert!(table.contains("Made by (--lint, 1 Dockerfile;"), "{table}");
    assert!(table.contains("evil"), "{table}");
    assert!(
        !table.contains('\x1b') && !table.contains('\x07') && !table.contains('\u{202e}'),
        "{table:?}"
    );
    let out = report(&["--json", "--lint", dir.path().to_str().unwrap()]);
    let raw = text(&out.stdout);
    assert!(
        !raw.contains('\x1b') && !raw.contains('\u{202e}'),
        "{raw:?}"
    );
    let doc = json_of(&out);
    let path = dir.path().join(name).display().to_string();
    for e in entries_of(&doc, GIT) {
        assert_eq!(e["origins"][0]["path"], path.as_str());
    }
}

/// The sample screen's cargo registry mount (/usr/local/cargo/registry), linked to
/// the FJMCP-2 Dockerfiles before their fix.
fn app_made_by(width: u16, height: u16) -> cachetop::tui::app::App {
    let mut app = app_with(sample_entries(), Caps::default(), width, height);
    let origins = Origins::lint(&[PathBuf::from("tests/fixtures/lint/fjmcp2-before")]);
    assert!(origins.warnings().is_empty(), "{:?}", origins.warnings());
    app.set_origins(Some(Arc::new(origins)));
    app
}

#[test]
fn details_pane_says_which_runs_made_the_mount_and_why_it_goes_bad() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = app_made_by(w, h);
        press(&mut app, "<Enter>");
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("details_made_by_{w}x{h}"), t.backend());
        let screen = screen_text(&t);
        assert!(
            screen.contains(
                "Made by       tests/fixtures/lint/fjmcp2-before/server.Dockerfile:7:1  cargo-registry-unlocked"
            ) || w < 160,
            "{screen}"
        );
        assert!(screen.contains("Made by"), "{screen}");
        // The end of the pane: each rule's mechanism and fix.
        press(&mut app, "G");
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("details_made_by_end_{w}x{h}"), t.backend());
        let screen = screen_text(&t);
        assert!(
            screen.contains("error[cargo-registry-unlocked]"),
            "{screen}"
        );
        assert!(screen.contains("fix: add sharing=locked"), "{screen}");
    }
}

#[test]
fn details_pane_without_lint_or_without_a_match() {
    let mut app = app_with(sample_entries(), Caps::default(), 160, 48);
    press(&mut app, "<Enter>");
    let pane: Vec<String> = app.details_lines().into_iter().map(|l| l.text).collect();
    assert!(!pane.iter().any(|l| l.contains("Made by")), "{pane:#?}");

    let mut app = app_with(sample_entries(), Caps::default(), 160, 48);
    app.set_origins(Some(Arc::new(Origins::lint(&[PathBuf::from(
        "tests/fixtures/lint/apt",
    )]))));
    press(&mut app, "<Enter>");
    let pane: Vec<String> = app.details_lines().into_iter().map(|l| l.text).collect();
    assert!(
        pane.iter()
            .any(|l| l == "Made by       no RUN of the linted Dockerfiles mounts it"),
        "{pane:#?}"
    );
    assert!(
        !pane.iter().any(|l| l.contains("cachetop lint)")),
        "{pane:#?}"
    );
}

#[test]
fn the_real_screen_shows_the_origins_of_a_live_mount() {
    let ids = built();
    let id = ids.iter().find(|(t, _)| *t == REGISTRY).unwrap().1.clone();
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let fixtures = root().join(FIXTURES);
    let line = format!(
        "env -u DOCKER_HOST -u NO_COLOR XDG_CONFIG_HOME=/nonexistent CARGO_HOME={NO_CARGO_HOME} \
         CACHETOP_NO_BUILDERS=1 {}",
        tmux::pane_line(
            &dir.path().join("pid"),
            &format!(
                "{} --host {} --lint {}",
                bin.display(),
                daemon().host,
                fixtures.display()
            )
        )
    );
    let t = Tmux::start(200, 50, &line);
    // The daemon may list more records than fit: filter to the one before looking.
    t.wait_for("the listing", |s| s.contains(" entries"));
    t.keys(&["/"]);
    t.type_text(&id);
    t.keys(&["Enter"]);
    t.wait_for("the registry mount's row", |s| {
        s.contains(&format!("filter: {id}")) && s.contains(REGISTRY)
    });
    t.keys(&["Enter"]);
    let tools = fixtures.join("tools.Dockerfile").display().to_string();
    let server = fixtures.join("server/Dockerfile").display().to_string();
    let screen = t.wait_for("Made by in the details pane", |s| s.contains("Made by"));
    for expected in [
        format!("Made by       {server}:7:1"),
        format!("{tools}:7:1  cargo-registry-unlocked"),
        format!("{tools}:14:1  cargo-registry-unlocked"),
    ] {
        assert!(screen.contains(&expected), "no {expected:?} in\n{screen}");
    }
    t.keys(&["G"]);
    let screen = t.wait_for("the rules section", |s| {
        s.contains("fix: add sharing=locked")
    });
    assert!(
        screen.contains("error[cargo-registry-unlocked]"),
        "{screen}"
    );
    t.keys(&["q"]);
    t.wait_for("cachetop to exit", |s| s.contains("cachetop exited 0"));
}

#[test]
fn the_screen_says_once_what_could_not_be_linted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), b"FROM x\nRUN \x1b[2J\xff\n").unwrap();
    let missing = dir.path().join("missing");
    let mut app = app_with(sample_entries(), Caps::default(), 160, 48);
    app.set_origins(Some(Arc::new(Origins::lint(&[
        missing.clone(),
        dir.path().to_path_buf(),
    ]))));
    assert_eq!(
        app.notice.as_deref(),
        Some(
            format!(
                "lint: {}: no such file or directory (and 1 more)",
                missing.display()
            )
            .as_str()
        )
    );
    // The screen still links what it can, and draws nothing a terminal acts on.
    press(&mut app, "<Enter>");
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(
        screen.contains("Made by       no RUN of the linted Dockerfiles mounts it"),
        "{screen}"
    );
    assert!(!screen.contains('\x1b'), "{screen:?}");
}
