//! The few raw Docker Engine exchanges the BuildKit transports need, each on its own
//! connection: a JSON request with a capped answer (creating and inspecting an exec),
//! and a request whose connection is taken over (`POST /grpc` upgraded to h2c, an exec
//! hijacked with `Upgrade: tcp`). Connections are opened as the Docker source opens
//! them (`docker::dial`), so they go over TLS or ssh when the host does.
//! Paths are unversioned: the daemon serves them at its own API version, and neither
//! call changed shape across versions (Docker 29 refuses versions below 1.44).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::OnceLock;

use hyper_util::rt::TokioIo;

use super::errors::innermost;
use super::transport::BoxIo;
use crate::sources::docker::dial;
use crate::sources::docker::ssh::StderrWatch;
use crate::sources::{ErrorKind, SourceError};
use crate::units::binary_size;

/// One Engine exchange, up to its answer's head (or its whole body when read).
pub(crate) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Exec create and inspect answers are a few hundred bytes.
pub(crate) const MAX_JSON_BYTES: usize = 1 << 20;
/// Of an error answer, only this much is kept, for the message.
const MAX_ERROR_BYTES: usize = 16 << 10;

/// A JSON exchange on a fresh connection: the status and the body, up to `cap` bytes
/// for a 2xx answer (refused beyond) and the first bytes of any other.
pub(crate) async fn exchange(
    host: &str,
    method: Method,
    path: &str,
    json: Option<&serde_json::Value>,
    cap: usize,
) -> Result<(StatusCode, Bytes), SourceError> {
    let ssh = std::sync::OnceLock::new();
    let run = async {
        let io = connect(host, &ssh).await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        tokio::spawn(conn);
        let resp = send
            .send_request(request(method, path, json, None)?)
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        let status = resp.status();
        let limit = if status.is_success() {
            cap
        } else {
            MAX_ERROR_BYTES
        };
        let body = read_limited(resp.into_body(), limit, status.is_success(), host, path).await?;
        Ok((status, body))
    };
    explained(host, &ssh, timed(host, path, run).await).await
}

/// Sends a request asking to take over the connection with `protocol` and returns the
/// connection once the daemon answers `101 Switching Protocols`.
pub(crate) async fn upgrade(
    host: &str,
    path: &str,
    json: Option<&serde_json::Value>,
    protocol: &str,
) -> Result<BoxIo, SourceError> {
    let ssh = std::sync::OnceLock::new();
    let run = async {
        let io = connect(host, &ssh).await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        tokio::spawn(conn.with_upgrades());
        let resp = send
            .send_request(request(Method::POST, path, json, Some(protocol))?)
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = read_limited(resp.into_body(), MAX_ERROR_BYTES, false, host, path).await?;
            return Err(NotUpgraded { status, body }.into_error(host, path));
        }
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        Ok(Box::new(TokioIo::new(upgraded)) as BoxIo)
    };
    explained(host, &ssh, timed(host, path, run).await).await
}

/// Opens a connection to the Engine at `host` (`unix://`, `tcp://` in TLS or not,
/// `ssh://`), keeping an ssh child's stderr to explain a failure.
async fn connect(host: &str, ssh: &OnceLock<StderrWatch>) -> Result<BoxIo, SourceError> {
    let conn = dial::open(host).await?;
    if let Some(w) = conn.ssh {
        let _ = ssh.set(w);
    }
    Ok(conn.io)
}

/// A failure over ssh in ssh's words, when it said something.
async fn explained<T>(
    host: &str,
    ssh: &OnceLock<StderrWatch>,
    result: Result<T, SourceError>,
) -> Result<T, SourceError> {
    match result {
        Err(e) => Err(dial::explain(host, ssh.get(), e).await),
        ok => ok,
    }
}

/// What the daemon answered instead of switching protocols.
struct NotUpgraded {
    status: StatusCode,
    body: Bytes,
}

impl NotUpgraded {
    fn into_error(self, host: &str, path: &str) -> SourceError {
        let said = error_message(&self.body);
        let kind = match self.status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => ErrorKind::PermissionDenied,
            s if s.is_success() => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        };
        SourceError::new(
            kind,
            format!(
                "the Docker daemon at {host} answered {path} with HTTP {} instead of switching \
                 protocols{}",
                self.status.as_u16(),
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            ),
        )
    }
}

fn request(
    method: Method,
    path: &str,
    json: Option<&serde_json::Value>,
    upgrade: Option<&str>,
) -> Result<Request<Full<Bytes>>, SourceError> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "docker");
    if let Some(protocol) = upgrade {
        req = req
            .header("connection", "Upgrade")
            .header("upgrade", protocol);
    }
    let body = match json {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    req.body(Full::new(body))
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("bad request {path}: {e}")))
}

async fn timed<T>(
    host: &str,
    path: &str,
    run: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(EXCHANGE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::new(
                ErrorKind::NoAnswer,
                format!(
                    "the Docker daemon at {host} did not answer {path} within {}s",
                    EXCHANGE_TIMEOUT.as_secs()
                ),
            ))
        })
}

/// Up to `cap` bytes of a body; over it, an error when `strict`, else the prefix.
async fn read_limited(
    mut body: hyper::body::Incoming,
    cap: usize,
    strict: bool,
    host: &str,
    path: &str,
) -> Result<Bytes, SourceError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| no_answer(host, path, &e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > cap {
            if strict {
                return Err(SourceError::new(
                    ErrorKind::Malformed,
                    format!(
                        "the Docker daemon at {host} sent more than {} in answer to {path}",
                        binary_size(cap as u64)
                    ),
                ));
            }
            let room = cap - buf.len();
            buf.extend_from_slice(&data[..room]);
            break;
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// `{"message": ...}` of an Engine error answer, else its first 200 bytes.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    serde_json::from_slice::<Msg>(body)
        .map(|m| m.message)
        .unwrap_or_else(|_| {
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_string()
        })
}

fn no_answer(host: &str, path: &str, err: &(dyn std::error::Error + 'static)) -> SourceError {
    SourceError::new(
        ErrorKind::NoAnswer,
        format!(
            "the Docker daemon at {host} stopped answering {path}: {}",
            innermost(err)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_to_upgrade_name_the_status_and_what_the_daemon_said() {
        let e = NotUpgraded {
            status: StatusCode::NOT_FOUND,
            body: Bytes::from_static(br#"{"message":"page not found"}"#),
        }
        .into_error("unix:///d.sock", "/grpc");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(
            e.message,
            "the Docker daemon at unix:///d.sock answered /grpc with HTTP 404 instead of \
             switching protocols: page not found"
        );
        let e = NotUpgraded {
            status: StatusCode::OK,
            body: Bytes::new(),
        }
        .into_error("tcp://h:2375", "/exec/x/start");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.ends_with("instead of switching protocols"));
    }

    #[test]
    fn error_bodies_give_their_message_or_their_start() {
        assert_eq!(
            error_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(b"404 page not found\n"), "404 page not found");
        assert_eq!(error_message(&[b'x'; 1000]).len(), 200);
    }
}
