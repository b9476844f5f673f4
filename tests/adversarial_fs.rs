//! The adversarial run's filesystem classes, kept as a suite: no deletion ever leaves
//! the path given through a link (a `--dir` that is one, a link at a deeper level,
//! `..`, a local export's blob store linked into another's, a blob that is a link, a
//! repair part whose parent turns into a link after planning), and nothing that no
//! cache is (`/`, system directories, `$HOME`, a directory holding the cargo home or
//! Docker's root) is ever emptied. Real binary, real directories; the dry run is
//! checked first, so a `--yes` only runs once planning already refused.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use cachetop::model::{Content, Entry, SourceKind, SourceRef};
use cachetop::repair::execute;
use cachetop::sources::{Deletion, Listing, SharedSource, Source, SourceError};
use common::registry::LocalExport;
use common::*;

const REG: &str = "registry/src/index.crates.io-1949cf8c6b5b557f";

/// cachetop without the daemon, with `HOME` pointing at a directory of the test's
/// (so the machine's own `$HOME` is never the one protected or touched).
fn offline(home: &Path) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.arg("--no-docker").env("HOME", home);
    cmd
}

fn run(mut cmd: assert_cmd::Command) -> Output {
    let out = cmd.output().unwrap();
    assert_no_panic(&out);
    out
}

/// Every path under `dir` with what it holds, never following a link: file bytes,
/// a link's target, or a marker for a directory.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else if ft.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, out);
            } else if ft.is_file() {
                out.insert(rel, text(&std::fs::read(&p).unwrap()));
            } else {
                // A FIFO or socket: never opened (a FIFO would block).
                out.insert(rel, "special".into());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A directory of precious files, one of them nested.
fn precious() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("precious"), b"keep").unwrap();
    std::fs::create_dir_all(d.path().join("nested/deeper")).unwrap();
    std::fs::write(d.path().join("nested/deeper/also"), b"keep too").unwrap();
    d
}

/// A small cargo home: three areas with files, as `cargo fetch` leaves them.
fn cargo_home_at(dir: &Path) {
    for area in ["registry/index", "registry/cache", "registry/src"] {
        std::fs::create_dir_all(dir.join(area).join("index.crates.io-1949cf8c6b5b557f")).unwrap();
        std::fs::write(
            dir.join(area).join("index.crates.io-1949cf8c6b5b557f/file"),
            area,
        )
        .unwrap();
    }
    std::fs::write(dir.join(".package-cache"), b"").unwrap();
}

/// Runs `prune ARGS --dry-run`, then `--yes`: both must refuse (exit 2, the same
/// plan printed, the reason on stderr) and delete nothing under `watch`.
fn assert_refused(
    cmd: impl Fn() -> assert_cmd::Command,
    args: &[&str],
    why: &str,
    watch: &[&Path],
) {
    let before: Vec<_> = watch.iter().map(|w| snapshot(w)).collect();
    let mut plans = Vec::new();
    for mode in ["--dry-run", "--yes"] {
        let mut c = cmd();
        c.arg("prune").args(args).arg(mode);
        let out = run(c);
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} {mode}\n{err}\n{}",
            text(&out.stdout)
        );
        assert!(
            err.contains(why),
            "{args:?} {mode}: expected {why:?} in\n{err}"
        );
        assert!(err.contains("nothing was deleted"), "{err}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains("Kept:") && stdout.contains(why), "{stdout}");
        plans.push(stdout);
        for (w, b) in watch.iter().zip(&before) {
            assert_eq!(&snapshot(w), b, "{} changed after {mode}", w.display());
        }
    }
    assert_eq!(
        plans[0], plans[1],
        "the dry run prints the same plan as the real run"
    );
}

#[test]
fn a_dir_that_is_a_symlink_is_listed_but_never_emptied() {
    let home = tempfile::tempdir().unwrap();
    let other = precious();
    let d = tempfile::tempdir().unwrap();
    let link = d.path().join("cache");
    symlink(other.path(), &link).unwrap();
    let rel_link = d.path().join("rel-cache");
    let other_name = other.path().file_name().unwrap();
    symlink(Path::new("..").join(other_name), &rel_link).unwrap();
    let real = other.path().display().to_string();
    let with_slash = format!("{}/", link.display());
    for given in [
        link.to_str().unwrap(),
        rel_link.to_str().unwrap(),
        &with_slash,
    ] {
        // Listing through the link still works, and names the path given.
        let out = run({
            let mut c = offline(home.path());
            c.args(["--dir", given, "report", "--json"]);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let doc = json_of(&out);
        assert_eq!(doc["sources"][0]["name"], given);
        assert!(doc["entries"][0]["size_bytes"].as_u64().unwrap() >= 12);
        assert!(
            doc["sources"][0]["details"]["delete_refused"][0]
                .as_str()
                .unwrap()
                .contains("is a symlink"),
            "{doc:#}"
        );
        for selector in [&["--source", "dir"][..], &["--id", "."][..]] {
            assert_refused(
                || {
                    let mut c = offline(home.path());
                    c.args(["--dir", given]);
                    c
                },
                selector,
                &format!("pass --dir {real} to delete there"),
                &[other.path(), d.path()],
            );
        }
    }
    // The JSON plan keeps it with the same reason.
    let out = run({
        let mut c = offline(home.path());
        c.args([
            "--dir",
            link.to_str().unwrap(),
            "prune",
            "--source",
            "dir",
            "--yes",
            "--json",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let doc = json_of(&out);
    assert_eq!(doc["planned"], serde_json::json!([]));
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("is a symlink to")
    );
    assert!(other.path().join("precious").exists());
}

#[test]
fn a_link_at_any_deeper_level_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();

    // A parent of the --dir is a link (one and two levels up).
    let real = d.path().join("real");
    std::fs::create_dir_all(real.join("a/cache")).unwrap();
    std::fs::write(real.join("a/cache/precious"), b"keep").unwrap();
    symlink(&real, d.path().join("link")).unwrap();
    for (given, pass) in [
        (d.path().join("link/a/cache"), real.join("a/cache")),
        (d.path().join("link/a"), real.join("a")),
    ] {
        assert_refused(
            || {
                let mut c = offline(home.path());
                c.args(["--dir", given.to_str().unwrap()]);
                c
            },
            &["--source", "dir"],
            &format!(
                "{} is a symlink to {}; pass --dir {} to delete there",
                d.path().join("link").display(),
                real.display(),
                pass.display()
            ),
            &[&real],
        );
    }

    // A cargo-home area that is a link out: that area is kept, and the run deletes
    // nothing (the other areas included) and exits 2.
    let cargo = d.path().join("cargo");
    cargo_home_at(&cargo);
    let outside = precious();
    std::fs::remove_dir_all(cargo.join("registry/src")).unwrap();
    symlink(outside.path(), cargo.join("registry/src")).unwrap();
    let on_cargo = || {
        let mut c = offline(home.path());
        c.args(["--dir", cargo.to_str().unwrap()]);
        c
    };
    let why = format!(
        "refusing to delete in {}: it is a symlink to {}",
        cargo.join("registry/src").display(),
        outside.path().display()
    );
    assert_refused(
        on_cargo,
        &["--source", "dir"],
        &why,
        &[outside.path(), &cargo],
    );
    assert_refused(on_cargo, &["--id", "registry/src"], &why, &[outside.path()]);
    // The git areas, as links too (a link to a link, and a dangling one).
    std::fs::create_dir_all(cargo.join("git")).unwrap();
    symlink(cargo.join("registry/src"), cargo.join("git/db")).unwrap();
    symlink(d.path().join("nowhere"), cargo.join("git/checkouts")).unwrap();
    let out = run({
        let mut c = on_cargo();
        c.args(["prune", "--id", "git/db", "--yes"]);
        c
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(snapshot(outside.path()), snapshot(precious().path()));
    // A real area beside them still goes, exactly.
    let out = run({
        let mut c = on_cargo();
        c.args(["prune", "--id", "registry/cache", "--yes"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_dir(cargo.join("registry/cache"))
            .unwrap()
            .count(),
        0
    );
    assert!(
        cargo
            .join("registry/index/index.crates.io-1949cf8c6b5b557f/file")
            .exists()
    );
    assert!(outside.path().join("nested/deeper/also").exists());
}

#[test]
fn dots_in_a_dir_are_refused_and_dots_that_stay_put_are_the_same_path() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    std::fs::create_dir_all(a.join("sub")).unwrap();
    std::fs::write(a.join("precious"), b"keep").unwrap();
    let elsewhere = precious();
    std::fs::create_dir_all(elsewhere.path().join("deep")).unwrap();
    symlink(elsewhere.path().join("deep"), a.join("link")).unwrap();
    // `..` after a link leads to the link's target's parent, not back to `a`.
    for (given, pass) in [
        (a.join("sub/.."), a.clone()),
        (a.join("link/.."), elsewhere.path().to_path_buf()),
        (d.path().join("a/sub/../sub"), a.join("sub")),
    ] {
        assert_refused(
            || {
                let mut c = offline(home.path());
                c.args(["--dir", given.to_str().unwrap()]);
                c
            },
            &["--source", "dir"],
            &format!(
                "it contains `..`; pass --dir {} to delete there",
                pass.display()
            ),
            &[&a, elsewhere.path()],
        );
    }
    // `..` that leads to a system directory names no path to pass.
    let out = run({
        let mut c = offline(home.path());
        c.args([
            "--dir",
            "/tmp/../etc",
            "prune",
            "--source",
            "dir",
            "--dry-run",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("it leads to /etc, and it is a system directory"),
        "{err}"
    );
    assert!(!err.contains("pass --dir"), "{err}");

    // `.` names the same directory: it is dropped, and the plan, the equivalent
    // command and the deletion all name `a/sub` itself.
    std::fs::write(a.join("sub/x"), b"x").unwrap();
    let given = format!("{}/./sub/.", a.display());
    let out = run({
        let mut c = offline(home.path());
        c.args(["--dir", &given, "prune", "--source", "dir", "--yes"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains(&format!(
            "find {} -mindepth 1 -delete",
            a.join("sub").display()
        )),
        "{plan}"
    );
    assert_eq!(std::fs::read_dir(a.join("sub")).unwrap().count(), 0);
    assert!(a.join("precious").exists());
}

/// A tree with what `find -delete` and cachetop must treat alike: nested
/// directories, links to a file and to a directory outside, a dangling link, a
/// link loop, an empty directory and a FIFO.
fn tricky_tree(dir: &Path, outside: &Path) {
    std::fs::create_dir_all(dir.join("a/b/c")).unwrap();
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("a/b/c/file"), b"1").unwrap();
    std::fs::write(dir.join("top"), b"2").unwrap();
    symlink(outside, dir.join("a/dir-link")).unwrap();
    symlink(outside.join("precious"), dir.join("file-link")).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    symlink(dir.join("loop"), dir.join("loop")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("a/fifo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
}

/// Lays out `d/cache` for one case of the equivalent-command check.
fn equivalence_case(layout: &str, d: &Path, outside: &Path) {
    let dir = d.join("cache");
    match layout {
        "cargo" => {
            cargo_home_at(&dir);
            tricky_tree(&dir.join("registry/src"), outside);
        }
        // The `--dir` is itself a link to a tree.
        "link" => {
            tricky_tree(&d.join("real"), outside);
            symlink(d.join("real"), &dir).unwrap();
        }
        _ => tricky_tree(&dir, outside),
    }
}

#[test]
fn the_equivalent_command_does_exactly_what_cachetop_does() {
    let home = tempfile::tempdir().unwrap();
    for (layout, id) in [("plain", "."), ("cargo", "registry/src"), ("link", ".")] {
        let outside = precious();
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("cache");
        equivalence_case(layout, d.path(), outside.path());
        let before = snapshot(d.path());
        let out = run({
            let mut c = offline(home.path());
            c.args(["--dir", dir.to_str().unwrap()]).args([
                "prune",
                "--id",
                id,
                "--dry-run",
                "--json",
            ]);
            c
        });
        let doc: Value = json_of(&out);
        let command = if layout == "link" {
            // Refused: no command is printed; `find` on the path given would not
            // follow the link either (a starting point that is a link is not
            // descended into), so both leave everything.
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
            assert_eq!(doc["equivalent_commands"], serde_json::json!([]));
            format!("find {} -mindepth 1 -delete", dir.display())
        } else {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let cmds = doc["equivalent_commands"].as_array().unwrap();
            assert_eq!(cmds.len(), 1, "{doc:#}");
            cmds[0].as_str().unwrap().to_string()
        };

        // find, on the tree as it is.
        let find = std::process::Command::new("sh")
            .args(["-c", &command])
            .output()
            .unwrap();
        assert!(find.status.success(), "{command}: {}", text(&find.stderr));
        let after_find = (snapshot(d.path()), snapshot(outside.path()));

        // cachetop, on the same tree made again.
        for e in std::fs::read_dir(d.path()).unwrap() {
            let p = e.unwrap().path();
            if p.is_symlink() || !p.is_dir() {
                std::fs::remove_file(&p).unwrap();
            } else {
                std::fs::remove_dir_all(&p).unwrap();
            }
        }
        equivalence_case(layout, d.path(), outside.path());
        assert_eq!(snapshot(d.path()), before);
        let out = run({
            let mut c = offline(home.path());
            c.args(["--dir", dir.to_str().unwrap(), "prune", "--id", id, "--yes"]);
            c
        });
        let want = if layout == "link" { 2 } else { 0 };
        assert_eq!(out.status.code(), Some(want), "{}", text(&out.stderr));
        assert_eq!(
            (snapshot(d.path()), snapshot(outside.path())),
            after_find,
            "{layout}: {command}"
        );
        assert_eq!(snapshot(outside.path()), snapshot(precious().path()));
    }
}

/// A blob that is itself a link (to another export's live blob, or a directory
/// named like a blob): never listed, never deleted.
fn a_blob_that_is_a_link_is_never_listed_nor_deleted() {
    let home = tempfile::tempdir().unwrap();
    let other = LocalExport::new();
    let seed = unique("linked-blob");
    let bytes = common::registry::layer_bytes(&seed, 0, 1000);
    let target_digest = other.write_blob(&bytes);
    let x = LocalExport::new();
    let live = x.export_with(&[(common::registry::layer_bytes(&seed, 1, 1000), None)]);
    x.set_index(&[&live]);
    // A link named like a blob, to another export's real (and live) blob.
    symlink(other.blob_path(&target_digest), x.blob_path(&target_digest)).unwrap();
    // And one to a directory.
    let dir_digest = common::registry::sha256(b"a directory");
    std::fs::create_dir(x.blob_path(&dir_digest)).unwrap();

    let (doc, blobs) = blob_flags(home.path(), x.path());
    assert!(!blobs.contains_key(&target_digest), "{doc:#}");
    assert!(!blobs.contains_key(&dir_digest));
    let skipped = doc["sources"][0]["details"]["skipped"].to_string();
    assert!(
        skipped.contains(target_digest.strip_prefix("sha256:").unwrap()),
        "{skipped}"
    );
    for (args, code) in [
        (vec!["prune", "--orphaned", "--source", "dir", "--yes"], 0),
        // Not entries: unknown ids, a runtime error.
        (
            vec![
                "prune",
                "--id",
                &target_digest,
                "--id",
                &dir_digest,
                "--yes",
            ],
            1,
        ),
    ] {
        let out = run({
            let mut c = offline(home.path());
            c.args(["--dir", x.path().to_str().unwrap()]).args(&args);
            c
        });
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        assert!(std::fs::symlink_metadata(x.blob_path(&target_digest)).is_ok());
        assert_eq!(
            std::fs::read(other.blob_path(&target_digest)).unwrap(),
            bytes
        );
        assert!(x.blob_path(&dir_digest).is_dir());
    }
}

/// Reads an export's report: each blob's id and whether it is orphaned.
fn blob_flags(home: &Path, dir: &Path) -> (Value, BTreeMap<String, bool>) {
    let out = run({
        let mut c = offline(home);
        c.args(["--dir", dir.to_str().unwrap(), "report", "--json"]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let map = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                flags(e).contains(&"orphaned"),
            )
        })
        .collect();
    (doc, map)
}

#[test]
fn a_blob_store_or_blob_linked_into_another_export_is_never_pruned() {
    a_blob_that_is_a_link_is_never_listed_nor_deleted();
    let home = tempfile::tempdir().unwrap();
    for level in ["blobs", "blobs/sha256"] {
        // Export b: its current cache, and one orphan of its own.
        let b = LocalExport::new();
        let seed = unique("shared-store");
        let live = b.export_with(&[(common::registry::layer_bytes(&seed, 0, 3000), None)]);
        b.set_index(&[&live]);
        let b_orphan = b.write_blob(&common::registry::layer_bytes(&seed, 9, 500));

        // Export a shares b's store through a link; its index.json names only its
        // own blobs, so every live blob of b looks orphaned from a.
        let a = LocalExport::new();
        std::fs::remove_dir_all(a.path().join(level)).unwrap();
        symlink(b.path().join(level), a.path().join(level)).unwrap();
        let mine = a.export_with(&[(common::registry::layer_bytes(&seed, 1, 2000), None)]);
        a.set_index(&[&mine]);
        let (_, b_before) = blob_flags(home.path(), b.path());

        let (doc, a_blobs) = blob_flags(home.path(), a.path());
        let mut want: Vec<&String> = mine.blobs.iter().collect();
        want.sort();
        assert_eq!(a_blobs.keys().collect::<Vec<_>>(), want, "{level}: {doc:#}");
        assert!(a_blobs.values().all(|orphaned| !orphaned), "{level}");
        let summary = doc["sources"][0]["details"]["summary"].as_str().unwrap();
        assert!(summary.contains("is a symlink to"), "{summary}");
        assert!(summary.contains("not checked for orphans"), "{summary}");

        let store = snapshot(b.path());
        let out = run({
            let mut c = offline(home.path());
            c.args([
                "--dir",
                a.path().to_str().unwrap(),
                "prune",
                "--orphaned",
                "--source",
                "dir",
                "--yes",
            ]);
            c
        });
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("Nothing to delete"),
            "{}",
            text(&out.stdout)
        );
        // Asked by id, b's blobs are not a's: never planned.
        let out = run({
            let mut c = offline(home.path());
            c.args([
                "--dir",
                a.path().to_str().unwrap(),
                "prune",
                "--id",
                &live.blobs[0],
                "--id",
                &b_orphan,
                "--yes",
            ]);
            c
        });
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        // a's own blobs, selected, are refused.
        assert_refused(
            || {
                let mut c = offline(home.path());
                c.args(["--dir", a.path().to_str().unwrap()]);
                c
            },
            &["--source", "dir"],
            "a blob store other exports may share",
            &[b.path()],
        );
        assert_eq!(snapshot(b.path()), store, "{level}");
        // b's own report is what it was: its live blobs live, its orphan orphaned.
        let (_, b_after) = blob_flags(home.path(), b.path());
        assert_eq!(b_after, b_before, "{level}");
        assert!(b_after[&b_orphan], "b keeps its own orphan flagged");
        assert!(live.blobs.iter().all(|d| !b_after[d]));
    }
}

#[test]
fn the_root_and_system_directories_are_never_planned() {
    let home = tempfile::tempdir().unwrap();
    // Dry runs only: these are the machine's own directories.
    for (dir, why) in [
        ("/", "refusing to delete in /: it is the root directory"),
        (
            "/etc",
            "refusing to delete in /etc: it is a system directory",
        ),
        ("/etc/", "it is a system directory"),
        ("/srv", "it is a system directory"),
        ("/opt", "it is a system directory"),
        ("/boot", "it is a system directory"),
    ] {
        if !Path::new(dir).is_dir() {
            continue;
        }
        // Listing `/` walks the whole machine: once is enough.
        let selectors: &[&[&str]] = if dir == "/" {
            &[&["--source", "dir"]]
        } else {
            &[&["--source", "dir"], &["--id", "."]]
        };
        for selector in selectors {
            let out = run({
                let mut c = offline(home.path());
                c.args(["--dir", dir, "prune"])
                    .args(*selector)
                    .arg("--dry-run");
                c
            });
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{dir}: {err}");
            assert!(err.contains(why), "{dir}: {err}");
            assert!(
                !text(&out.stdout).contains("find "),
                "{}",
                text(&out.stdout)
            );
        }
    }
}

#[test]
fn home_and_what_holds_home_or_the_cargo_home_are_never_emptied() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("users/ci");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("precious"), b"keep").unwrap();
    for (given, why) in [
        (
            home.clone(),
            format!("refusing to delete in {}: it is $HOME", home.display()),
        ),
        (
            t.path().join("users"),
            format!("it holds $HOME ({})", home.display()),
        ),
    ] {
        assert_refused(
            || {
                let mut c = offline(&home);
                c.args(["--dir", given.to_str().unwrap()]);
                c
            },
            &["--source", "dir"],
            &why,
            &[t.path()],
        );
    }
    // $HOME given through a link is the same $HOME.
    symlink(&home, t.path().join("home-link")).unwrap();
    assert_refused(
        || {
            let mut c = offline(&t.path().join("home-link"));
            c.args(["--dir", home.to_str().unwrap()]);
            c
        },
        &["--source", "dir"],
        "it is $HOME",
        &[t.path()],
    );

    // The cargo home, from CARGO_HOME, and from ~/.cargo when CARGO_HOME is unset.
    let work = t.path().join("work");
    let cargo = work.join("tools/cargo");
    cargo_home_at(&cargo);
    for given in [work.join("tools"), work.clone()] {
        assert_refused(
            || {
                let mut c = offline(&home);
                c.env("CARGO_HOME", &cargo)
                    .args(["--dir", given.to_str().unwrap()]);
                c
            },
            &["--source", "dir"],
            &format!("it holds the cargo home {}", cargo.display()),
            &[&work],
        );
    }
    // CARGO_HOME given through a link protects the real directory it names.
    symlink(&cargo, t.path().join("cargo-link")).unwrap();
    assert_refused(
        || {
            let mut c = offline(&home);
            c.env("CARGO_HOME", t.path().join("cargo-link"))
                .args(["--dir", work.join("tools").to_str().unwrap()]);
            c
        },
        &["--source", "dir"],
        &format!("it holds the cargo home {}", cargo.display()),
        &[&work],
    );
    // The cargo home itself is a cache: its areas go.
    let out = run({
        let mut c = offline(&home);
        c.env("CARGO_HOME", &cargo).args([
            "--dir",
            cargo.to_str().unwrap(),
            "prune",
            "--id",
            "registry/cache",
            "--yes",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_dir(cargo.join("registry/cache"))
            .unwrap()
            .count(),
        0
    );
    // Found by default through a linked CARGO_HOME, it is read by its real path (it
    // was not given), so an unattended prune of it still works.
    cargo_home_at(&cargo);
    let out = run({
        let mut c = offline(&home);
        c.env("CARGO_HOME", t.path().join("cargo-link")).args([
            "prune",
            "--id",
            "registry/index",
            "--yes",
            "--json",
        ]);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["planned"][0]["source_name"], cargo.to_str().unwrap());
    assert_eq!(
        std::fs::read_dir(cargo.join("registry/index"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn what_holds_the_daemons_root_directory_is_never_emptied() {
    let root = PathBuf::from(
        api_get("/info")["DockerRootDir"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let holder = root.parent().unwrap().to_path_buf();
    let home = tempfile::tempdir().unwrap();
    let before = std::fs::read_dir(&root).unwrap().count();
    for (given, why) in [
        (
            &holder,
            format!("it holds Docker's root directory {}", root.display()),
        ),
        (&root, "it is Docker's root directory".to_string()),
    ] {
        let on_daemon = || {
            let mut c = cachetop_on_daemon();
            c.env("HOME", home.path())
                .args(["--dir", given.to_str().unwrap()]);
            c
        };
        // The dry run must refuse before a real run is even tried.
        let out = run({
            let mut c = on_daemon();
            c.args(["prune", "--source", "dir", "--dry-run"]);
            c
        });
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(&why), "{}", text(&out.stderr));
        let out = run({
            let mut c = on_daemon();
            c.args(["prune", "--source", "dir", "--yes"]);
            c
        });
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), before);
        assert!(
            api_get("/info")["DockerRootDir"].is_string(),
            "the daemon still answers"
        );
    }
}

/// A source over one content directory whose path stays the same, as a cache
/// mount's `<DockerRootDir>/overlay2/<ID>/diff` does.
struct OneContent {
    sref: SourceRef,
    entry: Mutex<Entry>,
}

#[async_trait]
impl Source for OneContent {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }
    async fn list(&self) -> Result<Listing, SourceError> {
        Ok(Listing {
            entries: vec![self.entry.lock().unwrap().clone()],
            ..Default::default()
        })
    }
    async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
        unreachable!("repair never deletes whole entries")
    }
}

/// A half-extracted crate under `dir`, with a precious file inside it.
fn half_extracted(dir: &Path, content: &[u8]) {
    let half = dir.join(REG).join("half-1.0.0/src");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("lib.rs"), content).unwrap();
}

#[tokio::test]
async fn a_repair_part_whose_parent_became_a_link_after_planning_is_never_followed() {
    // Each level that can turn into a link between the plan and the removal: the
    // content root itself, and the directories between it and the part.
    for swapped in ["", "registry", REG] {
        let t = tempfile::tempdir().unwrap();
        let content = t.path().join("diff");
        half_extracted(&content, b"broken");
        let sref = SourceRef::new(SourceKind::Docker, "unix:///adversarial");
        let mut e = Entry::new(sref.clone(), "mount", "exec.cachemount");
        e.content = Some(Content {
            path: content.to_str().unwrap().to_string(),
            ..Default::default()
        });
        let outcome = cachetop::scan::scan_entry(&e).unwrap();
        cachetop::scan::apply(&mut e, outcome);
        let plan = cachetop::repair::plan(std::slice::from_ref(&e), &["mount".to_string()]);
        assert_eq!(plan.part_count(), 1, "{:?}", e.findings);

        // Now that level is a link to a tree holding the same broken part.
        let outside = tempfile::tempdir().unwrap();
        let at = if swapped.is_empty() {
            content.clone()
        } else {
            content.join(swapped)
        };
        let twin = outside.path().join("twin");
        half_extracted(&twin, b"precious");
        let target = if swapped.is_empty() {
            twin.clone()
        } else {
            twin.join(swapped)
        };
        std::fs::rename(&at, t.path().join("moved")).unwrap();
        symlink(&target, &at).unwrap();
        let before = snapshot(outside.path());

        let src = Arc::new(OneContent {
            sref,
            entry: Mutex::new(e),
        });
        let sources: Vec<SharedSource> = vec![src];
        let out = execute(&plan, &sources, &cachetop::plan::quietly()).await;
        assert!(out.done.is_empty(), "{swapped:?}: {out:?}");
        assert_eq!(snapshot(outside.path()), before, "{swapped:?}");
        assert!(
            twin.join(REG).join("half-1.0.0/src/lib.rs").exists(),
            "{swapped:?}"
        );
    }
}

#[test]
fn repair_in_a_dir_given_through_a_link_is_refused_at_planning() {
    let home = tempfile::tempdir().unwrap();
    let real = tempfile::tempdir().unwrap();
    cargo_home_at(real.path());
    half_extracted(real.path(), b"keep");
    let d = tempfile::tempdir().unwrap();
    let link = d.path().join("cargo");
    symlink(real.path(), &link).unwrap();
    let before = snapshot(real.path());
    for mode in ["--dry-run", "--yes"] {
        let out = run({
            let mut c = offline(home.path());
            c.args([
                "--dir",
                link.to_str().unwrap(),
                "repair",
                "registry/src",
                mode,
                "--json",
            ]);
            c
        });
        let doc = json_of(&out);
        assert_eq!(doc["planned"], serde_json::json!([]), "{doc:#}");
        let reason = doc["skipped"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("pass --dir {}", real.path().display())),
            "{reason}"
        );
        assert_eq!(snapshot(real.path()), before);
    }
}

#[tokio::test]
async fn the_screens_d_and_e_keep_refused_entries_with_the_reason() {
    use cachetop::sources::dir::DirSource;
    use cachetop::sources::dir::guard::Guard;
    use cachetop::tui::planning::{Ask, PlanRequest, plan};

    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("precious"), b"keep").unwrap();
    let other = precious();
    let link = t.path().join("cache");
    symlink(other.path(), &link).unwrap();
    let guard = Arc::new(Guard::new(Some(home.clone()), None, Vec::new()));
    let mut entries = Vec::new();
    for dir in [&home, &link] {
        let src = DirSource::new(dir.clone()).guarded_by(guard.clone());
        entries.extend(src.list().await.unwrap().entries);
    }
    for e in &mut entries {
        e.flags.insert(cachetop::model::Flag::Stale);
    }
    let keys = entries
        .iter()
        .map(|e| (e.source.clone(), e.id.clone()))
        .collect();
    for ask in [
        Ask::Delete {
            keys,
            why: "marked",
        },
        Ask::EvictStale,
    ] {
        let planned = plan(&PlanRequest {
            ask,
            entries: Arc::new(entries.clone()),
            now: chrono::Utc::now(),
        });
        assert!(planned.plan.is_empty(), "{:?}", planned.plan.items);
        let lines: Vec<&str> = planned.lines.iter().map(|l| l.text.as_str()).collect();
        let all = lines.join("\n");
        assert!(all.contains("Kept"), "{all}");
        assert!(all.contains("it is $HOME"), "{all}");
        assert!(
            all.contains(&format!("pass --dir {}", other.path().display())),
            "{all}"
        );
    }
    assert!(home.join("precious").exists());
}
