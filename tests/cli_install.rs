//! What an install needs besides the binary: shell completions that the shells
//! themselves load and complete with, and man pages that man renders cleanly
//! (zsh, fish, man-db and groff are installed by scripts/test-daemon.sh).

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;

const SUBCOMMANDS: [&str; 6] = ["report", "prune", "repair", "lint", "completions", "man"];

fn generated(args: &[&str]) -> String {
    let out = cachetop().args(args).output().unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs `program args` with `input` on stdin.
fn with_stdin(program: &str, args: &[&str], envs: &[(&str, &str)], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e} (scripts/test-daemon.sh installs it)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn script_file(script: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(script.as_bytes()).unwrap();
    f
}

#[test]
fn bash_completes_subcommands_and_options() {
    let script = generated(&["completions", "bash"]);
    let file = script_file(&script);
    let path = file.path().to_str().unwrap();
    let syntax = Command::new("bash").args(["-n", path]).output().unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    // bash itself runs the completion function, as it does on Tab.
    let complete = |words: &str| {
        let out = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "source {path}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                     _cachetop cachetop \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
                     printf '%s\\n' \"${{COMPREPLY[@]}}\""
                ),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(complete("cachetop rep"), ["report", "repair"]);
    assert!(complete("cachetop report --for").contains(&"--format".to_string()));
    let formats = complete("cachetop report --format ''");
    assert_eq!(formats, ["table", "json", "prometheus"]);
    let all = complete("cachetop ''");
    for sub in SUBCOMMANDS {
        assert!(all.contains(&sub.to_string()), "{sub} in {all:?}");
    }
}

#[test]
fn zsh_loads_the_completion_function() {
    let script = generated(&["completions", "zsh"]);
    assert!(script.starts_with("#compdef cachetop"));
    for sub in SUBCOMMANDS {
        assert!(script.contains(&format!("'{sub}:")), "{sub}");
    }
    let file = script_file(&script);
    let path = file.path().to_str().unwrap();
    let syntax = Command::new("zsh").args(["-n", path]).output().unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("zsh")
        .args([
            "-f",
            "-c",
            &format!(
                "autoload -U compinit && compinit -u -D && source {path} && whence -w _cachetop"
            ),
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "_cachetop: function");
}

#[test]
fn fish_completes_subcommands() {
    let script = generated(&["completions", "fish"]);
    let file = script_file(&script);
    let path = file.path().to_str().unwrap();
    let syntax = Command::new("fish")
        .args(["--no-execute", path])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("fish")
        .args([
            "--no-config",
            "-c",
            &format!("source {path}; complete -C 'cachetop rep'; complete -C 'cachetop '"),
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let offered: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert_eq!(&offered[..2], ["repair", "report"], "{offered:?}");
    for sub in SUBCOMMANDS {
        assert!(offered.contains(&sub.to_string()), "{sub} in {offered:?}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = cachetop().args(["completions", "tcsh"]).output().unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// `man -l -` of a page: its text, and groff's warnings (none expected).
fn man(page: &str) -> (String, String) {
    let out = with_stdin(
        "man",
        &["--warnings", "-l", "-"],
        &[("MANPAGER", "cat"), ("PAGER", "cat"), ("MANWIDTH", "100")],
        page,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn man_renders_the_pages_without_warnings() {
    let (page, warnings) = man(&generated(&["man"]));
    assert_eq!(warnings, "", "groff warned");
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(page.lines().any(|l| l == section), "{section} in\n{page}");
    }
    assert!(page.contains("cachetop - See what a CI runner's build caches hold"));
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("cachetop-{sub}(1)")),
            "{sub} in\n{page}"
        );
    }

    let (prune, warnings) = man(&generated(&["man", "prune"]));
    assert_eq!(warnings, "", "groff warned");
    assert!(prune.starts_with("cachetop-prune(1)"), "{prune}");
    assert!(prune.contains("cachetop prune"), "{prune}");
    for option in ["--stale", "--dry-run", "--host", "--stale-after"] {
        assert!(prune.contains(option), "{option} in\n{prune}");
    }

    let out = cachetop().args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("report"),
        "{}",
        text(&out.stderr)
    );
}
