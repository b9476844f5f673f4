//! One connection to a Docker daemon, whatever its address: a unix socket, plain tcp,
//! tcp in TLS with the host's certificates, or `ssh` running `docker system
//! dial-stdio` on the far side. The Engine client and the BuildKit transports (the
//! daemon's `/grpc`, a builder's exec) all open their connections here.
//!
//! A host's TLS files and context name are set once, when the sources are built
//! ([`register`]): every source and builder address carries the host as its address
//! string, and this is where that string finds how to be reached.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Duration;

use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use super::engine::{Endpoint, io_error, parse_host};
use super::ssh::{self, StderrWatch};
use crate::sources::buildkit::TlsFiles;
use crate::sources::buildkit::tls;
use crate::sources::buildkit::transport::BoxIo;
use crate::sources::{ErrorKind, SourceError};

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One Docker daemon as the user named it: its address, the certificates it is
/// reached with, and the context it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerHost {
    /// `unix:///path`, `tcp://HOST:PORT` or `ssh://[USER@]HOST[:PORT]`.
    pub url: String,
    /// For `tcp://`: speak TLS, verifying the daemon with these files.
    pub tls: Option<TlsFiles>,
    /// The docker context it was read from, if any.
    pub context: Option<String>,
}

impl DockerHost {
    pub fn plain(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tls: None,
            context: None,
        }
    }
}

static HOSTS: LazyLock<RwLock<HashMap<String, DockerHost>>> = LazyLock::new(Default::default);

/// Remembers how `host.url` is reached, for every connection opened to it.
pub fn register(host: &DockerHost) {
    let mut hosts = HOSTS.write().unwrap_or_else(|p| p.into_inner());
    hosts.insert(host.url.clone(), host.clone());
}

/// How `url` was registered; a plain address when it was not.
pub(crate) fn host(url: &str) -> DockerHost {
    let hosts = HOSTS.read().unwrap_or_else(|p| p.into_inner());
    hosts
        .get(url)
        .cloned()
        .unwrap_or_else(|| DockerHost::plain(url))
}

/// An open connection, and for ssh what the child says on stderr.
pub(crate) struct Connection {
    pub io: BoxIo,
    pub ssh: Option<StderrWatch>,
}

/// Opens a connection to the daemon at `url` within [`CONNECT_TIMEOUT`].
pub(crate) async fn open(url: &str) -> Result<Connection, SourceError> {
    let endpoint = parse_host(url)?;
    let host = host(url);
    let run = async {
        match &endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| plain(Box::new(s)))
                .map_err(|e| io_error(url, &e)),
            Endpoint::Tcp(authority) => {
                let tcp = TcpStream::connect(authority.as_str())
                    .await
                    .map_err(|e| io_error(url, &e))?;
                match &host.tls {
                    None => Ok(plain(Box::new(tcp))),
                    Some(files) => handshake(url, authority, files, tcp).await.map(plain),
                }
            }
            Endpoint::Ssh(target) => match ssh::spawn(target) {
                Ok((stream, watch)) => Ok(Connection {
                    io: Box::new(stream),
                    ssh: Some(watch),
                }),
                Err(e) => Err(ssh_missing(url, &e)),
            },
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::new(
            ErrorKind::Unreachable,
            format!(
                "the Docker daemon at {url} did not accept a connection within {}s",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}

fn plain(io: BoxIo) -> Connection {
    Connection { io, ssh: None }
}

async fn handshake(
    url: &str,
    authority: &str,
    files: &TlsFiles,
    tcp: TcpStream,
) -> Result<BoxIo, SourceError> {
    let (config, server_name) = tls::client_config(files, authority, tls::ALPN_HTTP1)?;
    TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map(|s| Box::new(s) as BoxIo)
        .map_err(|e| {
            tls::explain(&e, files, &format!("the Docker daemon at {url}"))
                .unwrap_or_else(|| io_error(url, &e))
        })
}

fn ssh_missing(url: &str, e: &std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "cannot reach {url}: there is no ssh command here; install OpenSSH's client \
                 (apt-get install openssh-client)"
            ),
        )
    } else {
        SourceError::new(
            ErrorKind::Unreachable,
            format!("cannot reach {url}: ssh did not start: {e}"),
        )
    }
}

/// An exchange over ssh that failed is explained by what ssh said on stderr (a host
/// key it does not know, a key the far side refuses, no docker there), when it said
/// something; other failures stay as they are.
pub(crate) async fn explain(url: &str, ssh: Option<&StderrWatch>, err: SourceError) -> SourceError {
    let Some(said) = (match ssh {
        Some(w) => w.said().await,
        None => None,
    }) else {
        return err;
    };
    ssh_failure(url, &said)
}

/// ssh's message as a failed source: authentication and host-key failures are refusals,
/// the rest a host that cannot be reached.
pub(crate) fn ssh_failure(url: &str, said: &str) -> SourceError {
    let auth = [
        "Permission denied",
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION",
    ]
    .iter()
    .any(|m| said.contains(m));
    let kind = if auth {
        ErrorKind::Auth
    } else {
        ErrorKind::Unreachable
    };
    // The far side's shell answers for a missing docker CLI.
    let hint = if said.contains("docker: not found") || said.contains("docker: command not found") {
        "; the host needs docker's CLI on the PATH of a non-interactive ssh session"
    } else {
        ""
    };
    SourceError::new(
        kind,
        format!("cannot reach the Docker daemon at {url} over ssh: ssh said: {said}{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_host_is_found_by_its_address_and_others_are_plain() {
        let h = DockerHost {
            url: "tcp://registered.test:2376".into(),
            tls: Some(TlsFiles {
                ca: "/c/ca.pem".into(),
                cert: None,
                key: None,
                server_name: None,
            }),
            context: Some("ci".into()),
        };
        register(&h);
        assert_eq!(host("tcp://registered.test:2376"), h);
        assert_eq!(
            host("tcp://other.test:2375"),
            DockerHost::plain("tcp://other.test:2375")
        );
    }

    #[test]
    fn ssh_refusals_are_auth_failures_in_ssh_words() {
        let e = ssh_failure(
            "ssh://ci@h",
            "ci@h: Permission denied (publickey,password).",
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.message
                .ends_with("ssh said: ci@h: Permission denied (publickey,password)."),
            "{}",
            e.message
        );
        let e = ssh_failure(
            "ssh://h",
            "ssh: connect to host h port 22: Connection refused",
        );
        assert_eq!(e.kind, ErrorKind::Unreachable);
    }

    #[tokio::test]
    async fn unix_sockets_that_are_not_there_say_so() {
        let Err(e) = open("unix:///nonexistent/cachetop-dial.sock").await else {
            panic!("no socket there")
        };
        assert_eq!(e.kind, ErrorKind::Unreachable);
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }
}
