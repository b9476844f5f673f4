//! Where a BuildKit listens and how cachetop reaches it, parsed from the addresses
//! buildctl and buildx use (`unix://`, `tcp://`, `docker-container://`).

use std::fmt;
use std::path::PathBuf;

pub use crate::model::TlsFiles;

use crate::sources::{ErrorKind, SourceError};

/// buildkitd's own default address (root; rootless uses `$XDG_RUNTIME_DIR`).
pub const DEFAULT_BUILDKIT_HOST: &str = "unix:///run/buildkit/buildkitd.sock";

/// One BuildKit and the way to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// The BuildKit embedded in the Docker daemon at this Engine address, reached by
    /// `POST /grpc` upgraded to h2c (buildx's `docker` driver).
    DockerEmbedded { docker_host: String },
    /// `buildctl dial-stdio` run by a Docker exec in this container, on the daemon at
    /// `docker_host` (buildx's `docker-container` driver).
    DockerContainer {
        docker_host: String,
        container: String,
    },
    /// A standalone buildkitd on a unix socket.
    Unix(PathBuf),
    /// A standalone buildkitd on `host:port`, in TLS when `tls` is given.
    Tcp {
        authority: String,
        tls: Option<TlsFiles>,
    },
}

impl Address {
    /// Parses a builder address. `docker-container://NAME` is reached through the
    /// Docker daemon at `docker_host`; `tls` applies to `tcp://` only.
    pub fn parse(
        addr: &str,
        docker_host: &str,
        tls: Option<TlsFiles>,
    ) -> Result<Address, SourceError> {
        let bad = |why: &str| {
            SourceError::new(
                ErrorKind::Unsupported,
                format!("cannot use the BuildKit address {addr:?}: {why}"),
            )
        };
        let address = if let Some(path) = addr.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("expected unix:///absolute/path/to/buildkitd.sock"));
            }
            Address::Unix(PathBuf::from(path))
        } else if let Some(rest) = addr.strip_prefix("tcp://") {
            let authority = rest.trim_end_matches('/');
            if !valid_authority(authority) {
                return Err(bad("expected tcp://HOST:PORT"));
            }
            Address::Tcp {
                authority: authority.to_string(),
                tls: None,
            }
        } else if let Some(rest) = addr.strip_prefix("docker-container://") {
            // buildx accepts a trailing slash and nothing else after the name.
            let name = rest.trim_end_matches('/');
            if !valid_container_name(name) {
                return Err(bad(
                    "expected docker-container://NAME with a Docker container name",
                ));
            }
            Address::DockerContainer {
                docker_host: docker_host.to_string(),
                container: name.to_string(),
            }
        } else {
            return Err(bad(
                "use unix:///path/to/buildkitd.sock, tcp://HOST:PORT or docker-container://NAME \
                 (kube-pod://, ssh:// and npipe:// are not supported)",
            ));
        };
        match (address, tls) {
            (Address::Tcp { authority, .. }, Some(files)) => {
                files.check()?;
                Ok(Address::Tcp {
                    authority,
                    tls: Some(files),
                })
            }
            (_, Some(_)) => Err(bad(
                "TLS certificates apply to tcp:// addresses only; remove them or use tcp://HOST:PORT",
            )),
            (address, None) => Ok(address),
        }
    }

    /// The address as buildx and buildctl write it; the Docker daemon's own BuildKit
    /// goes by the daemon's address.
    pub fn uri(&self) -> String {
        match self {
            Address::DockerEmbedded { docker_host } => docker_host.clone(),
            Address::DockerContainer { container, .. } => format!("docker-container://{container}"),
            Address::Unix(path) => format!("unix://{}", path.display()),
            Address::Tcp { authority, .. } => format!("tcp://{authority}"),
        }
    }
}

/// How messages name a BuildKit: "the BuildKit in container X (on unix:///...)".
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::DockerEmbedded { docker_host } => {
                write!(f, "the BuildKit of the Docker daemon at {docker_host}")
            }
            Address::DockerContainer {
                docker_host,
                container,
            } => write!(
                f,
                "the BuildKit in container {container} (Docker daemon at {docker_host})"
            ),
            Address::Unix(_) | Address::Tcp { tls: None, .. } => {
                write!(f, "the BuildKit at {}", self.uri())
            }
            Address::Tcp { tls: Some(_), .. } => {
                write!(f, "the BuildKit at {} (TLS)", self.uri())
            }
        }
    }
}

impl TlsFiles {
    /// A client certificate needs its key and the other way round.
    fn check(&self) -> Result<(), SourceError> {
        match (&self.cert, &self.key) {
            (Some(_), Some(_)) | (None, None) => Ok(()),
            (Some(cert), None) => Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "the client certificate {} (--tlscert) needs its private key (--tlskey)",
                    cert.display()
                ),
            )),
            (None, Some(key)) => Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "the private key {} (--tlskey) needs its client certificate (--tlscert)",
                    key.display()
                ),
            )),
        }
    }
}

/// The host part of `host:port` or `[v6]:port`.
pub(crate) fn authority_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

fn valid_authority(authority: &str) -> bool {
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// Docker's rule for container names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "unix:///var/run/docker.sock";

    fn tls() -> TlsFiles {
        TlsFiles {
            ca: "/c/ca.pem".into(),
            cert: Some("/c/cert.pem".into()),
            key: Some("/c/key.pem".into()),
            server_name: None,
        }
    }

    #[test]
    fn addresses_parse_as_buildctl_writes_them() {
        assert_eq!(
            Address::parse(DEFAULT_BUILDKIT_HOST, DOCKER, None).unwrap(),
            Address::Unix("/run/buildkit/buildkitd.sock".into())
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:1234", DOCKER, None).unwrap(),
            Address::Tcp {
                authority: "127.0.0.1:1234".into(),
                tls: None
            }
        );
        assert_eq!(
            Address::parse("docker-container://buildx_buildkit_ci0", DOCKER, None).unwrap(),
            Address::DockerContainer {
                docker_host: DOCKER.into(),
                container: "buildx_buildkit_ci0".into()
            }
        );
        let with_tls = Address::parse("tcp://[::1]:8443", DOCKER, Some(tls())).unwrap();
        assert_eq!(with_tls.uri(), "tcp://[::1]:8443");
        assert!(with_tls.to_string().ends_with("(TLS)"));
    }

    #[test]
    fn bad_addresses_say_what_is_expected() {
        for (addr, hint) in [
            ("unix://", "unix:///absolute"),
            ("unix://relative.sock", "unix:///absolute"),
            ("tcp://host", "tcp://HOST:PORT"),
            ("tcp://host:0", "tcp://HOST:PORT"),
            ("tcp://host:99999", "tcp://HOST:PORT"),
            ("tcp://a/b:1", "tcp://HOST:PORT"),
            ("docker-container://", "docker-container://NAME"),
            ("docker-container://a b", "docker-container://NAME"),
            ("docker-container://../x", "docker-container://NAME"),
            ("kube-pod://p", "not supported"),
            ("/run/buildkit/buildkitd.sock", "unix:///path"),
        ] {
            let e = Address::parse(addr, DOCKER, None).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unsupported, "{addr}");
            assert!(e.message.contains(hint), "{addr}: {}", e.message);
            assert!(e.message.contains(&format!("{addr:?}")), "{}", e.message);
        }
    }

    #[test]
    fn tls_files_go_with_tcp_and_a_certificate_with_its_key() {
        let e = Address::parse("unix:///x.sock", DOCKER, Some(tls())).unwrap_err();
        assert!(e.message.contains("tcp:// addresses only"), "{}", e.message);
        let mut half = tls();
        half.key = None;
        let e = Address::parse("tcp://h:1", DOCKER, Some(half)).unwrap_err();
        assert!(e.message.contains("/c/cert.pem"), "{}", e.message);
        assert!(e.message.contains("--tlskey"), "{}", e.message);
        let ca_only = TlsFiles {
            cert: None,
            key: None,
            ..tls()
        };
        assert!(Address::parse("tcp://h:1", DOCKER, Some(ca_only)).is_ok());
    }

    #[test]
    fn hosts_come_out_of_authorities() {
        assert_eq!(authority_host("127.0.0.1:1234"), "127.0.0.1");
        assert_eq!(authority_host("[::1]:1234"), "::1");
        assert_eq!(authority_host("buildkit.example:443"), "buildkit.example");
    }

    #[test]
    fn messages_name_the_builder_and_its_daemon() {
        let a = Address::DockerContainer {
            docker_host: DOCKER.into(),
            container: "buildx_buildkit_ci0".into(),
        };
        assert_eq!(a.uri(), "docker-container://buildx_buildkit_ci0");
        assert_eq!(
            a.to_string(),
            "the BuildKit in container buildx_buildkit_ci0 (Docker daemon at unix:///var/run/docker.sock)"
        );
        let e = Address::DockerEmbedded {
            docker_host: DOCKER.into(),
        };
        assert_eq!(e.uri(), DOCKER);
    }
}
