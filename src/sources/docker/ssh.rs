//! `ssh://[user@]host[:port]` Docker hosts, reached as docker reaches them: the system
//! `ssh` (so `~/.ssh/config`, agents, jump hosts and known_hosts apply) runs
//! `docker system dial-stdio` on the far side, and the Engine API is spoken over its
//! stdin and stdout. One child per connection, killed when the connection is dropped;
//! what it writes on stderr is kept (bounded) to explain a failure in ssh's own words.

use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;

/// ssh's own bound on the TCP connect and the key exchange.
const SSH_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Of what ssh and the far side write on stderr, only this much is kept.
const MAX_STDERR_BYTES: usize = 8 << 10;
/// How long a failed exchange waits for ssh to exit and close its stderr.
const STDERR_WAIT: Duration = Duration::from_secs(3);

/// Where `ssh` goes: the parts of `ssh://[user@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parses an `ssh://` address. Errors never repeat the address: it may hold a password.
pub fn parse(url: &str) -> Result<Target, String> {
    const USE: &str = "use ssh://[USER@]HOST[:PORT]";
    let rest = url
        .strip_prefix("ssh://")
        .ok_or_else(|| format!("not an ssh:// address; {USE}"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    if let Some(u) = userinfo
        && u.contains(':')
    {
        return Err(format!(
            "the ssh:// address carries a password (USER:PASSWORD@); cachetop refuses \
             passwords in addresses: use an ssh key or agent; {USE}"
        ));
    }
    if hostport.contains('/') || hostport.contains('?') || hostport.contains('#') {
        return Err(format!(
            "the ssh:// address has a path or query after the host, which cachetop does not \
             take; {USE}"
        ));
    }
    let user = match userinfo {
        Some(u) if !valid_user(u) => {
            return Err(format!(
                "the ssh:// address has an unusable user name; {USE}"
            ));
        }
        Some(u) => Some(u.to_string()),
        None => None,
    };
    let (host, port) = split_host_port(hostport)
        .ok_or_else(|| format!("the ssh:// address has an unusable port; {USE}"))?;
    if !valid_host(host) {
        return Err(format!(
            "the ssh:// address names no usable host {host:?}; {USE}"
        ));
    }
    Ok(Target {
        user,
        host: host.to_string(),
        port,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` for a port that is not one.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => None,
    };
    Some((host, port))
}

/// A name ssh takes as a host and never as an option.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with('-')
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '%'))
}

fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl Target {
    /// The arguments of `ssh`, as docker's connection helper passes them: no terminal,
    /// never a prompt (a run from cron has no one to answer it).
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-o".to_string(),
            format!("ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS}"),
            "-T".to_string(),
        ];
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(
            ["--", &self.host, "docker", "system", "dial-stdio"]
                .iter()
                .map(|s| s.to_string()),
        );
        args
    }
}

/// The stdio of one `ssh` child as a byte stream.
pub(crate) struct SshStream {
    // Held so the child is killed (kill_on_drop) when the connection goes.
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// What one child wrote on stderr, complete once it closed it.
#[derive(Clone, Debug)]
pub(crate) struct StderrWatch(watch::Receiver<Option<String>>);

impl StderrWatch {
    /// ssh's stderr once it closed it (it exits on a failure), waiting a little;
    /// `None` when it said nothing or is still running.
    pub(crate) async fn said(&self) -> Option<String> {
        let mut rx = self.0.clone();
        let done = tokio::time::timeout(STDERR_WAIT, rx.wait_for(|v| v.is_some())).await;
        let text = match done {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }?;
        let text = tidy(&text);
        (!text.is_empty()).then_some(text)
    }
}

/// ssh's lines joined on one line, without its notes on hosts it added to known_hosts.
pub(crate) fn tidy(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Starts `ssh` to `target` running `docker system dial-stdio` there.
pub(crate) fn spawn(target: &Target) -> io::Result<(SshStream, StderrWatch)> {
    let mut child = Command::new("ssh")
        .args(target.args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (stdin, stdout, stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => return Err(io::Error::other("ssh started without its stdio")),
        };
    let (tx, rx) = watch::channel(None);
    tokio::spawn(collect_stderr(stderr, tx));
    Ok((
        SshStream {
            _child: child,
            stdin,
            stdout,
        },
        StderrWatch(rx),
    ))
}

/// Keeps the first [`MAX_STDERR_BYTES`] of stderr and drains the rest, so a chatty far
/// side can neither fill memory nor block on a full pipe.
async fn collect_stderr(
    mut stderr: tokio::process::ChildStderr,
    tx: watch::Sender<Option<String>>,
) {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    let _ = tx.send(Some(String::from_utf8_lossy(&kept).into_owned()));
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_as_docker_spells_them() {
        assert_eq!(
            parse("ssh://ci@runner-3:2222").unwrap(),
            Target {
                user: Some("ci".into()),
                host: "runner-3".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            parse("ssh://runner").unwrap(),
            Target {
                user: None,
                host: "runner".into(),
                port: None
            }
        );
        assert_eq!(parse("ssh://[::1]:22/").unwrap().host, "::1");
    }

    #[test]
    fn passwords_are_refused_and_never_repeated() {
        let e = parse("ssh://ci:hunter2@runner").unwrap_err();
        assert!(e.contains("password"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn nothing_can_pass_as_an_ssh_option_or_a_remote_command() {
        for bad in [
            "ssh://-oProxyCommand=x",
            "ssh://-l@host",
            "ssh://host/var/run/docker.sock",
            "ssh://ho st",
            "ssh://host;rm",
            "ssh://host:0",
            "ssh://host:x",
            "ssh://",
            "ssh://a@",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_runs_in_batch_mode_with_the_host_after_the_options() {
        let t = parse("ssh://ci@runner:2222").unwrap();
        assert_eq!(
            t.args().join(" "),
            "-o BatchMode=yes -o ConnectTimeout=10 -T -l ci -p 2222 -- runner docker system \
             dial-stdio"
        );
        let t = parse("ssh://runner").unwrap();
        assert_eq!(
            t.args().join(" "),
            "-o BatchMode=yes -o ConnectTimeout=10 -T -- runner docker system dial-stdio"
        );
    }

    #[test]
    fn stderr_is_one_line_without_known_hosts_notes() {
        assert_eq!(
            tidy(
                "Warning: Permanently added '[127.0.0.1]:2222' (ED25519) to the list of known \
                 hosts.\r\nci@127.0.0.1: Permission denied (publickey).\n"
            ),
            "ci@127.0.0.1: Permission denied (publickey)."
        );
        assert_eq!(tidy("\n"), "");
    }

    #[tokio::test]
    async fn a_child_that_fails_is_explained_by_its_stderr() {
        let (tx, rx) = watch::channel(None);
        let w = StderrWatch(rx);
        tx.send(Some("Host key verification failed.\n".into()))
            .unwrap();
        assert_eq!(
            w.said().await.as_deref(),
            Some("Host key verification failed.")
        );
    }
}
