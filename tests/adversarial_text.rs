//! Text from outside never reaches a terminal raw (issue 9, terminal escape injection).
//!
//! Whoever writes a Dockerfile, a cache key, a branch name, a registry annotation or a
//! file name must not be able to retitle the operator's terminal, clear it, hide lines
//! of a plan being confirmed, or reorder what it shows with bidi controls. Hostile
//! strings go through every sink that reaches a person, against the real binary: a real
//! BuildKit build on the isolated daemon, the loopback GitHub, the loopback registry,
//! file names in a `--dir`, a daemon's error bodies (from the loopback Engine API: a real
//! daemon cannot be made to send them), error lines and the screen. The bytes on stdout
//! and stderr must hold no raw control or bidi character, while `--json` keeps every
//! string exactly.

use crate::common;
use crate::gha::fake as gha_fake;
use crate::tui_support;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use common::registry::{Api, CacheLayout, LayerSpec, build_cache, registries};
use common::replay::{PruneBehaviour, Replay, ReplayServer};
use common::*;

/// Retitles the terminal (OSC 0, ended by BEL).
const OSC_TITLE: &str = "\x1b]0;pwned\x07";
/// Clears the screen and homes the cursor.
const CLEAR: &str = "\x1b[2J\x1b[H";
/// Back to the start of the line and erase it: hides what came before on the line.
const HIDE: &str = "\r\x1b[2K";
/// A CSI as one C1 character (cursor up).
const C1_CSI: &str = "\u{9b}1A";
/// Right-to-left override: what follows reads backwards.
const RLO: &str = "\u{202e}";
/// A first-strong isolate and its pop.
const ISOLATE: &str = "\u{2068}x\u{2069}";

/// What a terminal could act on, the line feed aside: C0, DEL, C1, the bidi controls,
/// and the Unicode line and paragraph separators. Written here, not taken from
/// cachetop, so the check does not trust what it checks.
fn acts_on_a_terminal(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Valid UTF-8 (no stray C1 byte) with nothing a terminal acts on, but `allowed`.
fn assert_inert_but(what: &str, bytes: &[u8], allowed: &[char]) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| {
        panic!(
            "{what} is not UTF-8 ({e}):\n{}",
            String::from_utf8_lossy(bytes).escape_debug()
        )
    });
    if let Some((i, c)) = text
        .char_indices()
        .find(|(_, c)| acts_on_a_terminal(*c) && !allowed.contains(c))
    {
        panic!(
            "{what}: raw U+{:04X} at byte {i}:\n{}",
            c as u32,
            text.escape_debug()
        );
    }
}

fn assert_inert(what: &str, bytes: &[u8]) {
    assert_inert_but(what, bytes, &[]);
}

/// Both streams of a run.
fn assert_run_inert(what: &str, out: &Output) {
    assert_no_panic(out);
    assert_inert(&format!("{what}: stdout"), &out.stdout);
    assert_inert(&format!("{what}: stderr"), &out.stderr);
}

/// The escaped forms the hostile strings must be shown as, visibly.
const SHOWN_OSC: &str = r"\x1b]0;pwned\x07";
const SHOWN_CLEAR: &str = r"\x1b[2J\x1b[H";
const SHOWN_HIDE: &str = r"\r\x1b[2K";
const SHOWN_C1: &str = r"\u{9b}1A";
const SHOWN_RLO: &str = r"\u{202e}";
const SHOWN_ISOLATE: &str = r"\u{2068}x\u{2069}";

/// Whether `s` shows the OSC visibly: escaped for the terminal, or as Rust's `{:?}`
/// writes it inside a message that quotes a value.
fn shows_osc(s: &str) -> bool {
    s.contains(SHOWN_OSC) || s.contains(r"\u{1b}]0;pwned\u{7}")
}

// ---------------------------------------------------------------- Docker

/// The cache-mount record whose description holds `needle`, once two reads a moment
/// apart agree on it and it is not in use (see `api_mount_record`).
fn settled_record(needle: &str) -> Value {
    let find = || {
        api_records().into_iter().find(|r| {
            r["Type"] == "exec.cachemount"
                && r["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains(needle))
        })
    };
    let mut last: Option<Value> = None;
    for _ in 0..50 {
        let now = find();
        if let (Some(a), Some(b)) = (&last, &now)
            && a["ID"] == b["ID"]
            && b["InUse"] == false
        {
            return b.clone();
        }
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    panic!("no settled cache mount record holding {needle}")
}

#[test]
fn a_dockerfile_run_line_is_inert_in_the_report_the_plan_the_prompt_and_the_outcome() {
    let _lock = deletion_lock();
    let tag = unique("esc");
    // The mount target and the command both carry sequences: BuildKit keeps the
    // command as written and records the target's non-ASCII bytes as C1 characters.
    let target = format!("/cache/{tag}-{OSC_TITLE}{RLO}txt");
    build(&format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target={target} \
         echo '{CLEAR}{OSC_TITLE}{C1_CSI}{RLO}{ISOLATE}' > /dev/null; echo {tag} > /dev/null\n"
    ));
    let record = settled_record(&tag);
    let id = record["ID"].as_str().unwrap().to_string();
    let description = record["Description"].as_str().unwrap().to_string();
    assert!(description.contains(OSC_TITLE), "{description:?}");

    // The table.
    let out = cachetop_on_daemon()
        .args(["report", "--no-scan"])
        .output()
        .unwrap();
    assert_run_inert("report", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.contains(&tag))
        .unwrap_or_else(|| panic!("no row for {tag}:\n{table}"));
    for shown in [SHOWN_OSC, SHOWN_CLEAR, SHOWN_C1, SHOWN_RLO, SHOWN_ISOLATE] {
        assert!(row.contains(shown), "{shown} not in {row}");
    }

    // JSON keeps the exact strings, escaped as JSON allows, with no raw control
    // or bidi byte in the document.
    let out = cachetop_on_daemon()
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_run_inert("report --json", &out);
    let doc = json_of(&out);
    let e = entry(&doc, &id);
    assert_eq!(e["description"], description.as_str());
    let command = e["command"].as_str().unwrap();
    assert!(
        command.contains(&format!("{CLEAR}{OSC_TITLE}{C1_CSI}{RLO}{ISOLATE}")),
        "{command:?}"
    );

    // The plan of a dry run, as text and beside a JSON document.
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &id, "--dry-run"])
        .output()
        .unwrap();
    assert_run_inert("prune --dry-run", &out);
    let plan = text(&out.stdout);
    assert!(plan.contains("Plan: delete 1 entry"), "{plan}");
    // The target, as BuildKit recorded it: the OSC, and C1 characters for its
    // non-ASCII bytes.
    assert!(
        plan.contains(SHOWN_OSC) && plan.contains(r"\u{80}"),
        "{plan}"
    );
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &id, "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_run_inert("prune --dry-run --json", &out);
    assert_eq!(json_of(&out)["planned"][0]["id"], id.as_str());
    // With --json the plan is the document alone: nothing on stderr to escape.
    assert_eq!(text(&out.stderr), "");

    // The y/N prompt on a real terminal (a pty from `script`), answered no. The
    // terminal itself echoes the answer with CR LF.
    let out = on_a_terminal(&["prune", "--id", &id], "n\n");
    assert_inert_but("the prompt on a terminal", &out.stdout, &['\r']);
    let screen = text(&out.stdout);
    assert!(screen.contains("[y/N]"), "{screen}");
    assert!(screen.contains(SHOWN_OSC), "{screen}");
    assert!(screen.contains("Nothing deleted."), "{screen}");
    assert!(api_record(&id).is_some(), "no means no");

    // The real run and its outcome.
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &id, "--yes"])
        .output()
        .unwrap();
    assert_run_inert("prune --yes", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Deleted 1 of 1 planned"));
    assert!(api_record(&id).is_none(), "the record is gone");
}

/// Runs cachetop against the isolated daemon with stdin, stdout and stderr on a pty
/// (util-linux `script`), typing `input`; returns what the terminal showed.
fn on_a_terminal(args: &[&str], input: &str) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let mut line = format!("{} --host {}", bin.display(), daemon().host);
    for a in args {
        line.push(' ');
        line.push_str(a); // ids and flags: no shell quoting needed
    }
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("DOCKER_HOST")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    out
}

// ---------------------------------------------------------------- file names

/// A cargo home whose own path and whose crate directories carry sequences.
struct HostileHome {
    _dir: tempfile::TempDir,
    home: PathBuf,
    /// Half-extracted (no `.cargo-ok`), name with an OSC, a screen clear, CR and RLO.
    evil: PathBuf,
    /// A torn `.cargo-ok` whose content is a sequence.
    torn: PathBuf,
    /// A name that is not UTF-8.
    latin1: PathBuf,
}

fn hostile_home() -> HostileHome {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join(format!("cargo{OSC_TITLE}{RLO}home"));
    let src = home.join("registry/src/index.crates.io-1949cf8c6b5b557f");
    let evil = src.join(format!("evil{OSC_TITLE}{CLEAR}{HIDE}{RLO}-1.0.0"));
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join("lib.rs"), "pub fn f() {}\n").unwrap();
    let torn = src.join("torn-1.0.0");
    std::fs::create_dir_all(&torn).unwrap();
    std::fs::write(torn.join(".cargo-ok"), format!("{OSC_TITLE}{C1_CSI}")).unwrap();
    let latin1 = src.join(std::ffi::OsStr::from_bytes(b"caf\xe9-1.0.0"));
    std::fs::create_dir_all(&latin1).unwrap();
    let cache = home.join("registry/cache/index.crates.io-1949cf8c6b5b557f");
    std::fs::create_dir_all(&cache).unwrap();
    HostileHome {
        _dir: dir,
        home,
        evil,
        torn,
        latin1,
    }
}

fn on_dir(dir: &Path) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.arg("--no-docker").arg("--dir").arg(dir);
    cmd
}

#[test]
fn file_names_and_markers_in_a_dir_are_inert_and_the_printed_command_is_exact() {
    let h = hostile_home();
    let out = on_dir(&h.home).arg("report").output().unwrap();
    assert_run_inert("report", &out);
    let table = text(&out.stdout);
    assert!(table.contains("cargo.partial_extraction"), "{table}");
    for shown in [
        SHOWN_OSC,
        SHOWN_CLEAR,
        SHOWN_HIDE,
        SHOWN_RLO,
        r"caf\xe9-1.0.0",
    ] {
        assert!(table.contains(shown), "{shown} not in:\n{table}");
    }

    let out = on_dir(&h.home).args(["report", "--json"]).output().unwrap();
    assert_run_inert("report --json", &out);
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["name"], h.home.to_str().unwrap());
    let src = entry(&doc, "registry/src");
    let paths: Vec<&str> = src["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let rel = |p: &Path| {
        p.strip_prefix(h.home.join("registry/src"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert!(paths.contains(&rel(&h.evil).as_str()), "{paths:?}");
    assert!(paths.contains(&rel(&h.torn).as_str()), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.ends_with(r"caf\xe9-1.0.0")),
        "{paths:?}"
    );

    // The repair plan: every path shown escaped, and its `rm` command exact.
    let out = on_dir(&h.home)
        .args(["repair", "registry/src", "--dry-run"])
        .output()
        .unwrap();
    assert_run_inert("repair --dry-run", &out);
    let plan = text(&out.stdout);
    let rm = plan
        .lines()
        .find(|l| l.contains("rm -rf -- ") && l.contains("evil"))
        .unwrap_or_else(|| panic!("no rm command for the evil directory:\n{plan}"))
        .trim()
        .strip_prefix("rm -rf -- ")
        .unwrap();
    assert!(rm.starts_with("$'"), "{rm}");
    assert_eq!(
        bash_word(rm),
        h.evil.as_os_str().as_bytes(),
        "the printed command names exactly the directory cachetop removes"
    );

    // The prune plan of the whole area: its `find` command and the source name.
    let out = on_dir(&h.home)
        .args(["prune", "--source", "dir", "--dry-run"])
        .output()
        .unwrap();
    assert_run_inert("prune --dry-run", &out);
    let plan = text(&out.stdout);
    assert!(plan.contains("find $'"), "{plan}");

    // The real repair: exactly the broken parts go, and what it says is inert.
    let out = on_dir(&h.home)
        .args(["repair", "registry/src", "--yes"])
        .output()
        .unwrap();
    assert_run_inert("repair --yes", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!h.evil.exists() && !h.torn.exists() && !h.latin1.exists());
    assert!(h.home.join("registry/cache").is_dir());
}

/// What bash makes of one shell word, as bytes.
fn bash_word(word: &str) -> Vec<u8> {
    let out = Command::new("bash")
        .args(["-c", &format!("printf %s {word}")])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

// ---------------------------------------------------------------- GitHub

const TOKEN: &str = "ghp_CachetopAdversarial0123456789abcdefAB";
const REPO: &str = "octo/app";

fn gha_cache(id: u64, key: &str, git_ref: &str, idle_days: i64) -> gha_fake::Cache {
    let t = chrono::Utc::now() - chrono::Duration::days(idle_days);
    gha_fake::Cache {
        id,
        git_ref: git_ref.into(),
        key: key.into(),
        version: format!("{:064x}", 1),
        last_accessed_at: t,
        created_at: t - chrono::Duration::days(1),
        size_in_bytes: 4_000_000 + id,
    }
}

fn on_gha(server: &gha_fake::FakeServer) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.env_remove("GH_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--no-docker", "--gha", REPO, "--github-api-url"])
        .arg(server.url());
    cmd
}

#[test]
fn github_cache_keys_refs_and_error_bodies_are_inert() {
    let evil_ref = format!("refs/heads/{CLEAR}{RLO}main");
    let caches = vec![
        gha_cache(
            1,
            &format!("buildkit-blob-1-{OSC_TITLE}{RLO}sha256:ab"),
            &evil_ref,
            10,
        ),
        gha_cache(
            2,
            &format!("v0-rust-{HIDE}looks-harmless"),
            "refs/pull/7/merge",
            1,
        ),
        gha_cache(
            3,
            &format!("node-cache-{C1_CSI}{ISOLATE}"),
            "refs/heads/main",
            1,
        ),
    ];
    let server =
        gha_fake::FakeServer::start(gha_fake::GithubFake::new(REPO, TOKEN, caches.clone()));

    let out = on_gha(&server).arg("report").output().unwrap();
    assert_run_inert("report", &out);
    let table = text(&out.stdout);
    for shown in [SHOWN_OSC, SHOWN_RLO, SHOWN_HIDE, SHOWN_C1, SHOWN_ISOLATE] {
        assert!(table.contains(shown), "{shown} not in:\n{table}");
    }

    let out = on_gha(&server).args(["report", "--json"]).output().unwrap();
    assert_run_inert("report --json", &out);
    let doc = json_of(&out);
    for c in &caches {
        let e = entry(&doc, &c.id.to_string());
        assert_eq!(e["description"], c.key.as_str());
        assert_eq!(e["details"]["ref"], c.git_ref.as_str());
    }

    // The ref is a selector: it comes back in the plan's reasons.
    let out = on_gha(&server)
        .args(["prune", "--ref", &evil_ref, "--dry-run"])
        .output()
        .unwrap();
    assert_run_inert("prune --ref --dry-run", &out);
    let plan = text(&out.stdout);
    assert!(plan.contains("Plan: delete 1 entry"), "{plan}");
    assert!(
        plan.contains(&format!("ref refs/heads/{SHOWN_CLEAR}{SHOWN_RLO}main")),
        "{plan}"
    );

    let out = on_gha(&server)
        .args(["prune", "--ref", &evil_ref, "--yes"])
        .output()
        .unwrap();
    assert_run_inert("prune --ref --yes", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.deleted_by_id(), vec![1]);

    // Error bodies: GitHub's JSON message, and a plain-text body.
    for body in [
        json!({ "message": format!("{RLO}evil{OSC_TITLE}{ISOLATE}") }).to_string(),
        format!("{RLO}plain{HIDE}{C1_CSI}"),
    ] {
        let fake = gha_fake::GithubFake::new(REPO, TOKEN, caches.clone()).with_rule(
            gha_fake::Route::AnyList,
            100,
            gha_fake::Fault::Status {
                status: 422,
                headers: vec![],
                body,
            },
        );
        let server = gha_fake::FakeServer::start(fake);
        let out = on_gha(&server).arg("report").output().unwrap();
        assert_run_inert("a failed source", &out);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.contains("cachetop: gha octo/app: "), "{err}");
        assert!(err.contains(SHOWN_RLO), "{err}");
        assert!(text(&out.stdout).contains("FAILED"));
    }
}

// ---------------------------------------------------------------- registry

#[test]
fn a_registry_annotation_is_inert_and_kept_exactly_in_json() {
    let r = registries();
    let api = Api::new(&r.delete);
    let repo = format!("adversarial/{}", unique("ann"));
    let cache = build_cache(
        &repo,
        CacheLayout::ImageManifest,
        &[LayerSpec::new(700), LayerSpec::new(300)],
    );
    let made_by = format!("RUN echo {OSC_TITLE}{CLEAR}{RLO}{C1_CSI}done");
    let mut manifest: Value = serde_json::from_slice(&cache.manifest).unwrap();
    manifest["layers"][0]["annotations"]["buildkit/description"] = json!(made_by);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    for (_, b) in &cache.layers {
        api.push_blob(&repo, b);
    }
    api.push_blob(&repo, &cache.config);
    api.push_manifest(&repo, "cache", cache.media_type, &manifest);
    let reference = format!("{}/{repo}:cache", r.delete);
    let on_registry = || {
        let mut cmd = cachetop();
        cmd.args(["--no-docker", "--registry", &reference]);
        cmd
    };

    let out = on_registry().arg("report").output().unwrap();
    assert_run_inert("report", &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for shown in [SHOWN_OSC, SHOWN_CLEAR, SHOWN_RLO, SHOWN_C1] {
        assert!(table.contains(shown), "{shown} not in:\n{table}");
    }

    let out = on_registry().args(["report", "--json"]).output().unwrap();
    assert_run_inert("report --json", &out);
    let doc = json_of(&out);
    let layer = entry(&doc, &cache.layers[0].0);
    assert_eq!(layer["details"]["description"], made_by.as_str());
    assert!(
        layer["description"].as_str().unwrap().ends_with(&made_by),
        "{layer:#}"
    );
}

// ---------------------------------------------------------------- Engine API

#[test]
fn ids_descriptions_and_error_bodies_from_a_daemon_are_inert() {
    let id = format!("r{OSC_TITLE}{RLO}1");
    let description = format!("mount / from exec /bin/sh -c {CLEAR}{HIDE}make");
    let df = json!({
        "LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuilderSize": 0,
        "BuildCache": [{
            "ID": id, "Parent": "", "Type": "regular", "Description": description,
            "InUse": false, "Shared": false, "Size": 5_000_000,
            "CreatedAt": "2026-01-01T10:00:00Z", "LastUsedAt": "2026-01-02T10:00:00Z",
            "UsageCount": 1,
        }],
    });
    let mut replay = Replay::new("1.41", serde_json::to_vec(&df).unwrap());
    replay.prune = PruneBehaviour::Fail(500, format!("{RLO}boom{OSC_TITLE}{C1_CSI}"));
    let server = ReplayServer::start(replay);
    let on_replay = || {
        let mut cmd = cachetop();
        cmd.args(["--host", &server.host()]);
        cmd
    };

    let out = on_replay().arg("report").output().unwrap();
    assert_run_inert("report", &out);
    let table = text(&out.stdout);
    assert!(
        table.contains(SHOWN_OSC) && table.contains(SHOWN_HIDE),
        "{table}"
    );

    let out = on_replay().args(["report", "--json"]).output().unwrap();
    assert_run_inert("report --json", &out);
    let doc = json_of(&out);
    assert_eq!(entry(&doc, &id)["description"], description.as_str());

    let out = on_replay()
        .args(["prune", "--id", &id, "--yes"])
        .output()
        .unwrap();
    assert_run_inert("prune --yes, refused", &out);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains(&format!("{SHOWN_RLO}boom")), "{all}");
    assert_eq!(*server.prunes.lock().unwrap(), vec![id.clone()]);
}

// ---------------------------------------------------------------- error lines

#[test]
fn error_lines_and_usage_errors_are_inert() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = format!("c{OSC_TITLE}{RLO}");
    // A config file that is not there, named by a hostile path.
    let missing = dir.path().join(format!("{hostile}.toml"));
    let out = cachetop()
        .arg("--config")
        .arg(&missing)
        .arg("report")
        .output()
        .unwrap();
    assert_run_inert("missing config", &out);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("cachetop: error: cannot read config file"));
    assert!(text(&out.stderr).contains(SHOWN_OSC));

    // A config file whose bad line carries sequences: the excerpt is escaped.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, format!("read_only = yes{OSC_TITLE}{RLO}\n")).unwrap();
    let out = cachetop()
        .arg("--config")
        .arg(&bad)
        .arg("report")
        .output()
        .unwrap();
    assert_run_inert("bad config", &out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(SHOWN_OSC),
        "{}",
        text(&out.stderr)
    );

    // A directory source that cannot be read, named by a hostile path.
    let out = on_dir(&dir.path().join(&hostile))
        .arg("report")
        .output()
        .unwrap();
    assert_run_inert("a failed dir source", &out);
    assert!(shows_osc(&text(&out.stderr)), "{}", text(&out.stderr));

    // clap repeats a bad value it was given; a registry reference is judged by
    // cachetop.
    for args in [
        vec!["report".to_string(), "--fail-on".into(), hostile.clone()],
        vec![format!("--{hostile}"), "report".into()],
        vec!["--registry".into(), hostile.clone(), "report".into()],
        vec!["prune".into(), "--ref".into(), hostile.clone()],
    ] {
        let out = cachetop().args(&args).output().unwrap();
        assert_run_inert(&format!("{args:?}"), &out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        // clap drops escape sequences from what it repeats, but not bidi controls.
        let err = text(&out.stderr);
        assert!(shows_osc(&err) || err.contains(SHOWN_RLO), "{err}");
    }

    // An id from outside that matches nothing is named in the plan, escaped.
    let out = cachetop()
        .args(["--no-docker", "--dir"])
        .arg(dir.path())
        .args(["prune", "--id", &hostile, "--dry-run"])
        .output()
        .unwrap();
    assert_run_inert("unknown id", &out);
    assert!(
        text(&out.stdout).contains(SHOWN_OSC),
        "{}",
        text(&out.stdout)
    );
}

// ---------------------------------------------------------------- the screen

mod screen {
    use super::tui_support::*;
    use super::*;
    use cachetop::model::{Entry, Finding, Mount};
    use cachetop::sources::{ErrorKind, SourceError};
    use cachetop::tui::app::Caps;
    use cachetop::tui::message::Event;
    use cachetop::tui::view::Theme;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn hostile_entries() -> Vec<Entry> {
        let mut evil = Entry::new(docker(), format!("id{OSC_TITLE}{RLO}x"), "exec.cachemount");
        evil.description = format!("cached mount /c{RLO}d from exec {CLEAR}make");
        evil.mount = Some(Mount {
            target: format!("/c{RLO}d{HIDE}"),
            cache_id: None,
            command: format!("/bin/sh -c {CLEAR}{OSC_TITLE}make {ISOLATE}"),
        });
        evil.size_bytes = 2_340_000_000;
        evil.last_used_at = Some(now() - chrono::Duration::days(12));
        evil.created_at = Some(now() - chrono::Duration::days(30));
        evil.usage_count = Some(4);
        evil.findings.push(Finding {
            kind: cachetop::model::FindingKind::CargoPartialExtraction,
            path: format!("registry/src/x-1/evil{C1_CSI}{RLO}-1.0.0"),
            detail: format!("extraction did not finish {OSC_TITLE}"),
            bytes: 1_000,
        });
        evil.details.insert("parents".into(), format!("p{RLO}q"));
        let mut clean = Entry::new(docker(), "plainid0000000000000000", "exec.cachemount");
        clean.description = "cached mount /c/plain from exec make".into();
        clean.mount = Some(Mount {
            target: "/c/plain".into(),
            cache_id: None,
            command: "/bin/sh -c make".into(),
        });
        clean.size_bytes = 1_560_000_000;
        clean.last_used_at = Some(now() - chrono::Duration::days(9));
        clean.created_at = Some(now() - chrono::Duration::days(30));
        clean.usage_count = Some(2);
        vec![evil, clean]
    }

    /// Every cell holds one printable character of one column: nothing a terminal
    /// acts on, and nothing of zero width that would shift the columns after it.
    fn assert_screen_inert(what: &str, t: &Terminal<TestBackend>) -> String {
        let buf = t.backend().buffer();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                let sym = buf[(x, y)].symbol();
                assert!(
                    !sym.chars().any(acts_on_a_terminal),
                    "{what}: raw {sym:?} at ({x},{y}):\n{}",
                    screen_text(t)
                );
                assert!(
                    sym.chars().count() <= 1,
                    "{what}: {sym:?} at ({x},{y}) is more than one character"
                );
            }
        }
        screen_text(t)
    }

    #[test]
    fn the_screen_shows_hostile_text_escaped_with_its_columns_in_place() {
        for (w, h) in [(80u16, 24u16), (160, 48)] {
            let mut app = app_with(hostile_entries(), Caps::default(), w, h);
            let main = assert_screen_inert("table", &render(&app, &Theme::COLOR));
            assert!(main.contains(SHOWN_RLO), "{main}");
            // The sizes of both rows end in the same column.
            let ends: Vec<usize> = main
                .lines()
                .filter_map(|l| {
                    ["2.34 GB", "1.56 GB"]
                        .iter()
                        .find_map(|s| l.find(s).map(|i| l[..i + s.len()].chars().count()))
                })
                .collect();
            assert_eq!(ends.len(), 2, "{main}");
            assert_eq!(ends[0], ends[1], "size column moved:\n{main}");

            press(&mut app, "<Enter>");
            let details = assert_screen_inert("details", &render(&app, &Theme::COLOR));
            assert!(details.contains(SHOWN_OSC), "{details}");
            press(&mut app, "<Esc>");

            press(&mut app, "d");
            let confirm = assert_screen_inert("confirm", &render(&app, &Theme::COLOR));
            assert!(confirm.contains("y/Enter"), "{confirm}");
            assert!(confirm.contains(SHOWN_RLO), "{confirm}");
            press(&mut app, "n");

            app.apply(Event::Loading {
                generation: 2,
                sources: vec![docker()],
            });
            app.apply(listed(
                2,
                docker(),
                Err(SourceError::new(
                    ErrorKind::Other,
                    format!("daemon said {RLO}{OSC_TITLE}{HIDE}oops"),
                )),
                "",
            ));
            let error = assert_screen_inert("error", &render(&app, &Theme::COLOR));
            assert!(error.contains(SHOWN_RLO), "{error}");
        }
    }
}
