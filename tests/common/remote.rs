//! The remote ways to reach a daemon, as real parts: a loopback sshd whose one key runs
//! `docker system dial-stdio` against the isolated daemon (scripts/test-sshd.sh), and
//! a second isolated daemon listening in TLS with client certificates required
//! (scripts/test-daemon.sh with CACHETOP_TEST_DAEMON_TLS=1). Each is started on first
//! use, or taken from the environment scripts/test.sh sets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::cachetop;

pub struct Ssh {
    /// `ssh://cachetop-test`: an alias of the test ssh config.
    pub host: String,
    /// The same sshd with a key it refuses.
    pub wrong_key: String,
    /// The same sshd, its host key in no known_hosts.
    pub unknown_host: String,
    /// The same sshd by `ssh://USER@127.0.0.1:PORT`.
    pub url: String,
    /// The directory whose `ssh` runs the real one with the test config.
    pub bin: PathBuf,
}

fn script(path: &str, envs: &[(&str, &str)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let out = Command::new("bash")
        .arg(&script)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run {path}: {e}"));
    assert!(
        out.status.success(),
        "{path} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assignment<'a>(lines: &'a str, name: &str) -> &'a str {
    lines
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("scripts/test-sshd.sh printed no {name}"))
}

pub fn ssh() -> &'static Ssh {
    static SSH: OnceLock<Ssh> = OnceLock::new();
    SSH.get_or_init(|| {
        let from_env = ["HOST", "WRONG_KEY", "UNKNOWN_HOST", "URL", "BIN"]
            .iter()
            .map(|k| {
                std::env::var(format!("CACHETOP_TEST_SSH_{k}"))
                    .ok()
                    .map(|v| format!("CACHETOP_TEST_SSH_{k}={v}"))
            })
            .collect::<Option<Vec<_>>>();
        let lines = match from_env {
            Some(lines) => lines.join("\n"),
            None => script("scripts/test-sshd.sh", &[]),
        };
        Ssh {
            host: assignment(&lines, "CACHETOP_TEST_SSH_HOST").to_string(),
            wrong_key: assignment(&lines, "CACHETOP_TEST_SSH_WRONG_KEY").to_string(),
            unknown_host: assignment(&lines, "CACHETOP_TEST_SSH_UNKNOWN_HOST").to_string(),
            url: assignment(&lines, "CACHETOP_TEST_SSH_URL").to_string(),
            bin: PathBuf::from(assignment(&lines, "CACHETOP_TEST_SSH_BIN")),
        }
    })
}

/// cachetop whose plain `ssh` reads the test's ssh config.
pub fn cachetop_with_ssh() -> assert_cmd::Command {
    let s = ssh();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = cachetop();
    cmd.env("PATH", format!("{}:{path}", s.bin.display()));
    cmd
}

pub struct TlsDaemon {
    /// `tcp://127.0.0.1:PORT`.
    pub host: String,
    /// The same daemon's unix socket, for the tests' own reads and builds.
    pub socket: PathBuf,
    /// ca.pem, client.pem, client.key, other-ca.pem.
    pub certs: PathBuf,
}

pub fn tls_daemon() -> &'static TlsDaemon {
    static TLS: OnceLock<TlsDaemon> = OnceLock::new();
    TLS.get_or_init(|| {
        let dir = format!(
            "{}-tls",
            std::env::var("CACHETOP_TEST_DAEMON_DIR")
                .unwrap_or_else(|_| "/tmp/cachetop-testd".to_string())
        );
        let host = match std::env::var("CACHETOP_TEST_TLS_DOCKER_HOST") {
            Ok(h) if !h.is_empty() => h,
            _ => script(
                "scripts/test-daemon.sh",
                &[
                    ("CACHETOP_TEST_DAEMON_DIR", dir.as_str()),
                    ("CACHETOP_TEST_DAEMON_TLS", "1"),
                ],
            )
            .trim()
            .to_string(),
        };
        assert!(host.starts_with("tcp://127.0.0.1:"), "{host}");
        TlsDaemon {
            host,
            socket: PathBuf::from(&dir).join("docker.sock"),
            certs: PathBuf::from(dir).join("tls"),
        }
    })
}
