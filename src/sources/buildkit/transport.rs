//! The byte streams gRPC runs on, one per way of reaching a BuildKit: the Docker
//! daemon's `/grpc` upgraded to h2c, a Docker exec of `buildctl dial-stdio` in a
//! builder container (its stdout demultiplexed), and a standalone buildkitd on a unix
//! socket or tcp, in TLS when given certificates. Each dial is bounded in time.

use std::sync::Mutex;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use super::address::{Address, TlsFiles, valid_container_name};
use super::demux::{Demux, Stderr};
use super::engine_http::{self, MAX_JSON_BYTES};
use super::sniff::{FirstBytes, Sniff};
use super::tls;
use crate::sources::{ErrorKind, SourceError};

pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
pub(crate) type BoxIo = Box<dyn Io>;

/// What the last dial left behind that can explain a failure later: the first bytes
/// the peer sent, and the exec and what it wrote on stderr.
#[derive(Debug, Default)]
pub(crate) struct Trace {
    first: FirstBytes,
    exec: Mutex<Option<(String, Stderr)>>,
}

/// Opens a stream to the BuildKit at `address`.
pub(crate) async fn dial(
    address: &Address,
    trace: &Trace,
    timeout: Duration,
) -> Result<BoxIo, SourceError> {
    let run = async {
        match address {
            Address::DockerEmbedded { docker_host } => {
                engine_http::upgrade(docker_host, "/grpc", None, "h2c").await
            }
            Address::DockerContainer {
                docker_host,
                container,
            } => dial_exec(docker_host, container, trace).await,
            Address::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Box::new(s) as BoxIo)
                .map_err(|e| socket_error(address, &e)),
            Address::Tcp { authority, tls } => {
                let tcp = TcpStream::connect(authority.as_str())
                    .await
                    .map_err(|e| socket_error(address, &e))?;
                match tls {
                    None => Ok(Box::new(tcp) as BoxIo),
                    Some(files) => handshake(address, authority, files, tcp).await,
                }
            }
        }
    };
    trace.first.clear();
    let io = tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::new(
                ErrorKind::Unreachable,
                format!(
                    "{address} did not accept a connection within {}s",
                    timeout.as_secs_f64()
                ),
            ))
        })?;
    Ok(Box::new(Sniff::new(io, trace.first.clone())))
}

async fn handshake(
    address: &Address,
    authority: &str,
    files: &TlsFiles,
    tcp: TcpStream,
) -> Result<BoxIo, SourceError> {
    let (config, server_name) = tls::client_config(files, authority, tls::ALPN_H2)?;
    TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map(|s| Box::new(s) as BoxIo)
        .map_err(|e| {
            tls::explain(&e, files, &format!("the BuildKit at {}", address.uri()))
                .unwrap_or_else(|| socket_error(address, &e))
        })
}

/// `buildctl dial-stdio` in the container, by the Engine API as buildx does it: create
/// an exec with stdin, stdout and stderr attached and no TTY, then hijack its start.
async fn dial_exec(host: &str, container: &str, trace: &Trace) -> Result<BoxIo, SourceError> {
    if !valid_container_name(container) {
        return Err(SourceError::new(
            ErrorKind::Unsupported,
            format!("{container:?} is not a Docker container name"),
        ));
    }
    let create = json!({
        "AttachStdin": true,
        "AttachStdout": true,
        "AttachStderr": true,
        "Tty": false,
        "Cmd": ["buildctl", "dial-stdio"],
    });
    let path = format!("/containers/{container}/exec");
    let (status, body) =
        engine_http::exchange(host, Method::POST, &path, Some(&create), MAX_JSON_BYTES).await?;
    if !status.is_success() {
        return Err(exec_refused(host, container, status, &body));
    }
    #[derive(Deserialize)]
    struct Created {
        #[serde(rename = "Id")]
        id: String,
    }
    let created: Created = serde_json::from_slice(&body)
        .ok()
        .filter(|c: &Created| !c.id.is_empty() && c.id.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "the Docker daemon at {host} answered the exec in container {container} \
                     with no exec id"
                ),
            )
        })?;
    let start = json!({ "Detach": false, "Tty": false });
    let io = engine_http::upgrade(
        host,
        &format!("/exec/{}/start", created.id),
        Some(&start),
        "tcp",
    )
    .await?;
    let stderr = Stderr::default();
    *trace.exec.lock().unwrap_or_else(|p| p.into_inner()) = Some((created.id, stderr.clone()));
    Ok(Box::new(Demux::new(io, stderr)))
}

fn exec_refused(host: &str, container: &str, status: StatusCode, body: &[u8]) -> SourceError {
    let said = engine_http::error_message(body);
    match status {
        StatusCode::NOT_FOUND => SourceError::new(
            ErrorKind::NotFound,
            format!("there is no container {container} on the Docker daemon at {host}: {said}"),
        ),
        // "Container X is not running" (or paused, or restarting).
        StatusCode::CONFLICT => SourceError::new(
            ErrorKind::Unreachable,
            format!(
                "the builder container {container} is not running ({said}); cachetop does not \
                 start builders: start it (docker start {container}) to list its cache"
            ),
        ),
        _ => SourceError::new(
            ErrorKind::Other,
            format!(
                "the Docker daemon at {host} refused to run buildctl in container {container} \
                 (HTTP {}): {said}",
                status.as_u16()
            ),
        ),
    }
}

/// Adds what the peer and the exec said to an error of the connection: a peer that
/// answered in something else than HTTP/2 is no BuildKit; an exec's output, stderr and
/// exit code tell why it ended, and one whose command cannot be found means the
/// container has no `buildctl`.
pub(crate) async fn explain(address: &Address, trace: &Trace, err: SourceError) -> SourceError {
    let stdout = trace.first.not_http2();
    let Address::DockerContainer {
        docker_host,
        container,
    } = address
    else {
        return match stdout {
            Some(said) if matches!(err.kind, ErrorKind::NoAnswer | ErrorKind::Unsupported) => {
                not_buildkit(address, &format!("it answered {said}"))
            }
            _ => err,
        };
    };
    let Some((id, stderr)) = trace.exec.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
        return err;
    };
    // The exec may need a moment to be reaped after its stream closed.
    let mut ended = None;
    for _ in 0..10 {
        match inspect_exec(docker_host, &id).await {
            Some(e) if !e.running => {
                ended = e.exit_code;
                break;
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            None => break,
        }
    }
    // Docker writes a failed exec's own error (e.g. "OCI runtime exec failed: ...
    // executable file not found") on the stream, where gRPC was expected.
    let said: Vec<String> = [stdout, Some(stderr.text())]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    let said = shorten(&said.join("; "), 500);
    if ended == Some(127)
        || said.contains("executable file not found")
        || said.contains("buildctl: not found")
    {
        return SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "container {container} has no buildctl: `buildctl dial-stdio` could not run \
                 there{}{}; is it a BuildKit builder (buildx docker-container driver)?",
                ended.map_or(String::new(), |c| format!(" (exit code {c})")),
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                },
            ),
        );
    }
    let mut message = err.message;
    if let Some(code) = ended {
        message.push_str(&format!("; `buildctl dial-stdio` exited with code {code}"));
    }
    if !said.is_empty() {
        message.push_str(&format!("; it said: {said}"));
    }
    SourceError::new(err.kind, message)
}

/// A peer that is not a BuildKit's gRPC server, and how that showed.
pub(crate) fn not_buildkit(address: &Address, how: &str) -> SourceError {
    SourceError::new(
        ErrorKind::Unsupported,
        format!(
            "{address} does not speak BuildKit's gRPC API (HTTP/2): {how}; is this a BuildKit \
             address?"
        ),
    )
}

/// Whether the peer sent anything at all on the current connection.
pub(crate) fn peer_said_nothing(trace: &Trace) -> bool {
    trace.first.is_empty()
}

struct ExecState {
    running: bool,
    exit_code: Option<i64>,
}

async fn inspect_exec(host: &str, id: &str) -> Option<ExecState> {
    #[derive(Deserialize)]
    struct Inspect {
        #[serde(rename = "Running", default)]
        running: bool,
        #[serde(rename = "ExitCode", default)]
        exit_code: Option<i64>,
    }
    let (status, body) = engine_http::exchange(
        host,
        Method::GET,
        &format!("/exec/{id}/json"),
        None,
        MAX_JSON_BYTES,
    )
    .await
    .ok()?;
    if !status.is_success() {
        return None;
    }
    let i: Inspect = serde_json::from_slice(&body).ok()?;
    Some(ExecState {
        running: i.running,
        exit_code: i.exit_code,
    })
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A socket that cannot be reached, and what to do about it.
fn socket_error(address: &Address, io: &std::io::Error) -> SourceError {
    use std::io::ErrorKind as Io;
    let fix = "is buildkitd running there? Check the address (BUILDKIT_HOST, --builder)";
    match io.kind() {
        Io::NotFound => SourceError::new(
            ErrorKind::Unreachable,
            format!(
                "no BuildKit at {}: the socket does not exist; {fix}",
                address.uri()
            ),
        ),
        Io::ConnectionRefused => SourceError::new(
            ErrorKind::Unreachable,
            format!(
                "no BuildKit at {}: connection refused; {fix}",
                address.uri()
            ),
        ),
        Io::PermissionDenied => SourceError::new(
            ErrorKind::PermissionDenied,
            format!(
                "permission denied on {}: run cachetop as a user that may open it (root, or \
                 the socket's group)",
                address.uri()
            ),
        ),
        _ => SourceError::new(
            ErrorKind::Unreachable,
            format!("cannot reach {address}: {io}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_refusals_say_what_to_do() {
        let e = exec_refused(
            "unix:///d.sock",
            "buildx_buildkit_ci0",
            StatusCode::CONFLICT,
            br#"{"message":"Container abc is not running"}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unreachable);
        assert!(e.message.contains("is not running"), "{}", e.message);
        assert!(
            e.message.contains("docker start buildx_buildkit_ci0"),
            "{}",
            e.message
        );
        let e = exec_refused(
            "unix:///d.sock",
            "gone",
            StatusCode::NOT_FOUND,
            br#"{"message":"No such container: gone"}"#,
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(
            e.message.starts_with("there is no container gone"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unreachable_sockets_name_the_address() {
        let a = Address::Unix("/run/buildkit/buildkitd.sock".into());
        let e = socket_error(&a, &std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(e.kind, ErrorKind::Unreachable);
        assert!(
            e.message
                .starts_with("no BuildKit at unix:///run/buildkit/buildkitd.sock"),
            "{}",
            e.message
        );
        let e = socket_error(
            &a,
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
    }

    #[test]
    fn long_messages_are_cut_on_a_character() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("ééé", 3), "é…");
    }

    #[tokio::test]
    async fn other_transports_are_explained_as_they_are() {
        let a = Address::Unix("/x.sock".into());
        let e = SourceError::new(ErrorKind::NoAnswer, "cut");
        assert_eq!(explain(&a, &Trace::default(), e.clone()).await, e);
    }
}
