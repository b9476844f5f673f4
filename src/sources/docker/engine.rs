//! The connection to one Docker Engine: address parsing, version negotiation and
//! the few calls cachetop makes (`/_ping`, `/version`, `/info`, `/system/df` in every
//! shape it has had, `POST /build/prune`; for builder state volumes
//! `/containers/json` and the removal of one container or volume by exact id or
//! name). Every answer is read within a time limit and up to a cap that names what it
//! is for; bollard's models type the prune answer.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bollard::models::BuildPruneResponse;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use super::records::{DiskUsage, parse_df};
use super::ssh::StderrWatch;
use super::state_volumes::ContainerSummary;
use super::{dial, ssh};
use crate::model::SourceRef;
use crate::sources::{ErrorKind, SourceError};
use crate::units::binary_size;

pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The newest API we know; bollard's own default (1.53) is the ceiling.
const NEWEST_API: ApiVersion = ApiVersion(1, 53);
/// BuildKit records in `/system/df` and the `id` prune filter both arrived in 1.39
/// (Docker 18.09). Below it a prune would ignore our filter and delete everything.
pub const MIN_API: ApiVersion = ApiVersion(1, 39);
/// A whole exchange, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const GET_ATTEMPTS: u32 = 5;
/// `/system/df`: 100,000 build-cache records are about 50 MB; this fits about half a
/// million.
pub const MAX_DF_BYTES: u64 = 256 << 20;
/// `/info`: a few KiB, more with many plugins, warnings or swarm facts.
pub const MAX_INFO_BYTES: u64 = 8 << 20;
/// `/version` and `/_ping`: a few hundred bytes.
pub const MAX_VERSION_BYTES: u64 = 1 << 20;
/// `POST /build/prune`: the ids one exact-id prune deleted.
pub const MAX_PRUNE_BYTES: u64 = 16 << 20;
/// `GET /containers/json?all=1`: a few KiB a container; this fits tens of thousands.
pub const MAX_CONTAINERS_BYTES: u64 = 64 << 20;
/// `GET /containers/{id}/json`, `GET /volumes/{name}`: one object.
pub const MAX_INSPECT_BYTES: u64 = 8 << 20;
/// Of an error answer, only this much is read (for its message).
const MAX_ERROR_BYTES: u64 = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.trim().split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Where the daemon listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, spoken to in plain HTTP, or in TLS when the host has certificates.
    Tcp(String),
    /// `ssh` to this target, running `docker system dial-stdio` there.
    Ssh(ssh::Target),
}

/// Parses a Docker host address. An address with a password in it is refused without
/// being repeated.
pub fn parse_host(host: &str) -> Result<Endpoint, SourceError> {
    let unsupported = |why: &str| {
        SourceError::new(
            ErrorKind::Unsupported,
            format!("cannot use Docker host {host:?}: {why}"),
        )
    };
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(unsupported("the unix:// address has no socket path"));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    if host.starts_with('/') {
        return Ok(Endpoint::Unix(PathBuf::from(host)));
    }
    if host.starts_with("ssh://") {
        return ssh::parse(host)
            .map(Endpoint::Ssh)
            .map_err(|why| SourceError::new(ErrorKind::Unsupported, why));
    }
    for scheme in ["tcp://", "http://"] {
        if let Some(rest) = host.strip_prefix(scheme) {
            let authority = rest.trim_end_matches('/');
            if authority.contains('@') {
                return Err(SourceError::new(
                    ErrorKind::Unsupported,
                    "the Docker host address carries a user or password (…@); the Engine API \
                     takes none in the address: use tcp://HOST:PORT",
                ));
            }
            if authority.is_empty() || authority.contains('/') {
                return Err(unsupported("expected tcp://HOST:PORT"));
            }
            let authority = if authority.contains(':') {
                authority.to_string()
            } else {
                format!("{authority}:2375")
            };
            return Ok(Endpoint::Tcp(authority));
        }
    }
    if host.starts_with("https://") {
        return Err(unsupported(
            "use tcp://HOST:2376 with --tlsverify (or DOCKER_TLS_VERIFY) for a daemon in TLS",
        ));
    }
    Err(unsupported(
        "use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]",
    ))
}

/// `GET /version`, the parts we show.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VersionInfo {
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "Os", default)]
    pub os: String,
    #[serde(rename = "Arch", default)]
    pub arch: String,
}

/// `GET /info`, the parts the content scan and the header need.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DaemonInfo {
    #[serde(rename = "DockerRootDir", default)]
    pub root_dir: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
}

/// What one exact-id prune returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneAnswer {
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

pub struct Engine {
    host: String,
    pool: Pool,
    pub api: ApiVersion,
    pub version: VersionInfo,
}

/// Connections whose last answer was read whole, kept for the next GET: over ssh each
/// new connection is a new ssh login. Only GETs reuse one, so a request that may
/// change something is never sent on a connection the daemon may have closed.
#[derive(Default)]
struct Pool {
    idle: std::sync::Mutex<Vec<Idle>>,
    /// Over ssh a GET waits for the connection in use rather than log in again (a
    /// login costs about a second; `/info` and `/system/df` are asked together).
    turn: tokio::sync::Mutex<()>,
}

struct Idle {
    send: SendRequest<Full<Bytes>>,
    ssh: Option<StderrWatch>,
}

/// How long an idle connection may take to say it is ready again.
const POOL_READY: Duration = Duration::from_millis(200);

impl Pool {
    async fn take(&self) -> Option<Idle> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            let mut idle = idle;
            if let Ok(Ok(())) = tokio::time::timeout(POOL_READY, idle.send.ready()).await {
                return Some(idle);
            }
        }
    }

    fn put(&self, idle: Idle) {
        if !idle.send.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(idle);
        }
    }
}

impl Engine {
    /// Connects and agrees on an API version: the daemon's, capped at ours.
    pub async fn connect(host: &str) -> Result<Engine, SourceError> {
        parse_host(host)?;
        let pool = Pool::default();
        let (status, headers, _) =
            raw(&pool, host, Method::GET, "/_ping", MAX_VERSION_BYTES).await?;
        if !status.is_success() {
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "{host} answered /_ping with HTTP {status}; is this a Docker Engine API endpoint?"
                ),
            ));
        }
        let server_api = headers
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .and_then(ApiVersion::parse)
            .ok_or_else(|| {
                SourceError::new(
                    ErrorKind::Unsupported,
                    format!("{host} did not say which Docker API version it speaks (no Api-Version header on /_ping)"),
                )
            })?;
        if server_api < MIN_API {
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "the Docker daemon at {host} speaks API {server_api}, older than {MIN_API} \
                     (Docker 18.09), the first that lists BuildKit cache records and prunes them by id; \
                     upgrade the engine"
                ),
            ));
        }
        let api = server_api.min(NEWEST_API);
        let mut engine = Engine {
            host: host.to_string(),
            pool,
            api,
            version: VersionInfo::default(),
        };
        engine.version = engine.get_json("/version", MAX_VERSION_BYTES).await?;
        Ok(engine)
    }

    /// A versioned GET whose body is JSON of type `T`.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        cap: u64,
    ) -> Result<T, SourceError> {
        let body = self.get(path, cap).await?;
        serde_json::from_slice(&body).map_err(|e| self.malformed(path, &e.to_string()))
    }

    /// GETs are retried on a 5xx: dockerd refuses a `/system/df` while another one runs
    /// ("a disk usage operation is already running"), e.g. a cron report beside the
    /// screen, and fails one now and then while builds change the records under it.
    async fn get(&self, path: &str, cap: u64) -> Result<Bytes, SourceError> {
        let pq = format!("/v{}{}", self.api, path);
        let mut attempt = 1;
        loop {
            let (status, _, body) = raw(&self.pool, &self.host, Method::GET, &pq, cap).await?;
            if status.is_success() {
                return Ok(body);
            }
            if !status.is_server_error() || attempt == GET_ATTEMPTS {
                return Err(daemon_said(&self.host, path, status, &body));
            }
            tokio::time::sleep(Duration::from_millis(250 * attempt as u64)).await;
            attempt += 1;
        }
    }

    pub async fn info(&self) -> Result<DaemonInfo, SourceError> {
        self.get_json("/info", MAX_INFO_BYTES).await
    }

    /// Every build-cache record and builder state volume, whatever shape this API
    /// version answers in.
    pub async fn disk_usage(&self, source: &SourceRef) -> Result<DiskUsage, SourceError> {
        // `type` narrows the work on 1.42+ (repeated, the kinds add up); `verbose` is
        // needed for items on 1.52+. Older daemons ignore both.
        let path = "/system/df?type=build-cache&type=volume&verbose=1";
        let body = self.get(path, MAX_DF_BYTES).await?;
        parse_df(&body, source).map_err(|e| self.malformed("/system/df", &e.to_string()))
    }

    /// Every container, running or not, with its mounts.
    pub async fn containers(&self) -> Result<Vec<ContainerSummary>, SourceError> {
        self.get_json("/containers/json?all=1", MAX_CONTAINERS_BYTES)
            .await
    }

    /// Removes one stopped container by its full id (`DELETE /containers/{id}`,
    /// never forced, its volumes kept), then checks that it is gone.
    pub async fn remove_container(&self, id: &str, name: &str) -> Result<(), SourceError> {
        let what = Object::Container {
            name: name.to_string(),
        };
        self.remove(&what, &format!("/containers/{}", percent_encode(id)))
            .await
    }

    /// Removes one volume by its exact name (`DELETE /volumes/{name}`, never forced),
    /// then checks that it is gone.
    pub async fn remove_volume(&self, name: &str) -> Result<(), SourceError> {
        let what = Object::Volume {
            name: name.to_string(),
        };
        self.remove(&what, &format!("/volumes/{}", percent_encode(name)))
            .await
    }

    async fn remove(&self, what: &Object, path: &str) -> Result<(), SourceError> {
        if path.ends_with('/') {
            return Err(SourceError::new(
                ErrorKind::Other,
                "refusing to remove an empty name",
            ));
        }
        let pq = format!("/v{}{path}", self.api);
        let (status, _, body) = raw(
            &self.pool,
            &self.host,
            Method::DELETE,
            &pq,
            MAX_INSPECT_BYTES,
        )
        .await?;
        let verdict = removal_verdict(what, &self.host, status, &error_message(&body));
        let check = match verdict {
            Removal::Removed => Recheck::MustBeGone,
            Removal::NotThere => Recheck::ConfirmGone,
            Removal::Failed(e) => return Err(e),
        };
        let inspect = match what {
            Object::Container { .. } => format!("{path}/json"),
            Object::Volume { .. } => path.to_string(),
        };
        let still_there = self.exists(&inspect).await?;
        settle(what, &self.host, check, still_there)
    }

    /// Whether a GET of an object finds it (200) or not (404).
    async fn exists(&self, path: &str) -> Result<bool, SourceError> {
        let pq = format!("/v{}{path}", self.api);
        let (status, _, body) =
            raw(&self.pool, &self.host, Method::GET, &pq, MAX_INSPECT_BYTES).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(daemon_said(&self.host, unversioned(path), s, &body)),
        }
    }

    /// `POST /build/prune` with one anchored `id` filter: exactly this record or nothing.
    pub async fn prune_one(&self, id: &str) -> Result<PruneAnswer, SourceError> {
        if id.is_empty() {
            return Err(SourceError::new(
                ErrorKind::Other,
                "refusing to prune an empty id",
            ));
        }
        if self.api < MIN_API {
            // Unreachable after connect(), kept because the cost of being wrong is everything.
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                "API too old for an id filter",
            ));
        }
        // The daemon turns `id` into a regex match (`id~=`), so anchor it.
        let filters = serde_json::json!({ "id": [exact_id_pattern(id)] }).to_string();
        let pq = format!(
            "/v{}/build/prune?filters={}",
            self.api,
            percent_encode(&filters)
        );
        let (status, _, body) =
            raw(&self.pool, &self.host, Method::POST, &pq, MAX_PRUNE_BYTES).await?;
        if !status.is_success() {
            let message = error_message(&body);
            let kind = if message.contains("filter") {
                ErrorKind::Refused
            } else {
                ErrorKind::Other
            };
            return Err(SourceError::new(
                kind,
                format!(
                    "the Docker daemon at {} refused the prune (HTTP {}): {message}",
                    self.host,
                    status.as_u16()
                ),
            ));
        }
        // The daemon answered 200, so it pruned; an answer it cut short or garbled
        // leaves what it deleted unknown.
        let answer: BuildPruneResponse = serde_json::from_slice(&body).map_err(|e| {
            SourceError::new(
                ErrorKind::NoAnswer,
                format!(
                    "the Docker daemon at {} pruned, but its answer to /build/prune cannot be \
                     read: {e}",
                    self.host
                ),
            )
        })?;
        Ok(PruneAnswer {
            deleted: answer.caches_deleted.unwrap_or_default(),
            reclaimed: answer
                .space_reclaimed
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        })
    }

    fn malformed(&self, path: &str, why: &str) -> SourceError {
        SourceError::new(
            ErrorKind::Malformed,
            format!(
                "the Docker daemon at {} sent an answer to {path} that cachetop cannot read: {why}",
                self.host
            ),
        )
    }
}

/// What a removal names, for its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Container { name: String },
    Volume { name: String },
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Container { name } => write!(f, "container {name}"),
            Object::Volume { name } => write!(f, "volume {name}"),
        }
    }
}

/// What the daemon answered to a `DELETE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// 404: it says there is no such thing; checked again before it is believed.
    NotThere,
    Failed(SourceError),
}

/// How the answer to a removal is checked by looking again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// The daemon said it removed it: it must be gone now.
    MustBeGone,
    /// The daemon said there was none: gone already, if a fresh look agrees.
    ConfirmGone,
}

/// Reads the answer to `DELETE /containers/{id}` or `/volumes/{name}`. A 409 is the
/// daemon refusing because something uses it: reported as such, never forced.
pub fn removal_verdict(what: &Object, host: &str, status: StatusCode, message: &str) -> Removal {
    match status.as_u16() {
        200..=299 => Removal::Removed,
        404 => Removal::NotThere,
        409 => Removal::Failed(SourceError::new(
            ErrorKind::Refused,
            format!(
                "the Docker daemon at {host} refused to remove the {what}: it is in use                  ({message}); cachetop never forces a removal"
            ),
        )),
        code => Removal::Failed(SourceError::new(
            ErrorKind::Other,
            format!(
                "the Docker daemon at {host} did not remove the {what} (HTTP {code}): {message}"
            ),
        )),
    }
}

/// The removal's outcome once the daemon was asked again whether the thing exists.
pub fn settle(
    what: &Object,
    host: &str,
    check: Recheck,
    still_there: bool,
) -> Result<(), SourceError> {
    match (check, still_there) {
        (Recheck::MustBeGone, false) => Ok(()),
        (Recheck::ConfirmGone, false) => Err(SourceError::new(
            ErrorKind::NotFound,
            format!("already gone: the {what} no longer exists on {host}"),
        )),
        (Recheck::MustBeGone, true) => Err(SourceError::new(
            ErrorKind::Other,
            format!("the Docker daemon at {host} said it removed the {what}, but it still has it"),
        )),
        (Recheck::ConfirmGone, true) => Err(SourceError::new(
            ErrorKind::Other,
            format!(
                "the Docker daemon at {host} answered that there is no {what}, but it still                  lists it; nothing was removed"
            ),
        )),
    }
}

/// `^<id>$` with regex metacharacters escaped (BuildKit ids are alphanumeric, but the
/// filter must never match more than the one id whatever it holds).
pub fn exact_id_pattern(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 2);
    out.push('^');
    for c in id.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

/// One exchange within [`REQUEST_TIMEOUT`]. A 2xx body is refused over `cap` (by its
/// Content-Length before reading, else as soon as it grows past it); of any other
/// answer only the first [`MAX_ERROR_BYTES`] are kept, for the message.
async fn raw(
    pool: &Pool,
    host: &str,
    method: Method,
    path_and_query: &str,
    cap: u64,
) -> Result<(StatusCode, http::HeaderMap, Bytes), SourceError> {
    let reuse = method == Method::GET;
    let req = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", "docker")
        .body(Full::new(Bytes::new()))
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("bad request: {e}")))?;
    let path = unversioned(path_and_query.split('?').next().unwrap_or(path_and_query));
    // Kept outside the exchange so that a failure over ssh can be told in ssh's words.
    let ssh = std::sync::OnceLock::new();
    // Waiting for the turn is not part of this request's time: the holder's own
    // request is bounded.
    let _turn = match reuse && host.starts_with("ssh://") {
        true => Some(pool.turn.lock().await),
        false => None,
    };
    let exchange = async {
        let idle = match reuse {
            true => pool.take().await,
            false => None,
        };
        let mut idle = match idle {
            Some(idle) => idle,
            None => {
                let conn = dial::open(host).await?;
                let (send, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(conn.io))
                        .await
                        .map_err(|e| no_answer(host, path, &e))?;
                tokio::spawn(connection);
                Idle {
                    send,
                    ssh: conn.ssh,
                }
            }
        };
        if let Some(w) = &idle.ssh {
            let _ = ssh.set(w.clone());
        }
        let resp = idle
            .send
            .send_request(req)
            .await
            .map_err(|e| no_answer(host, path, &e))?;
        let (parts, body) = resp.into_parts();
        let body = if parts.status.is_success() {
            read_capped(body, cap, host, path).await?
        } else {
            read_prefix(body, MAX_ERROR_BYTES).await
        };
        // An error answer's body may be left unread: its connection is not reused.
        if reuse && parts.status.is_success() {
            pool.put(idle);
        }
        Ok((parts.status, parts.headers, body))
    };
    let result = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(r) => r,
        Err(_) => Err(SourceError::new(
            ErrorKind::NoAnswer,
            format!(
                "the Docker daemon at {host} did not answer {path} within {}s",
                REQUEST_TIMEOUT.as_secs()
            ),
        )),
    };
    match result {
        Err(e) => Err(dial::explain(host, ssh.get(), e).await),
        ok => ok,
    }
}

/// `/system/df` of `/v1.41/system/df`, for messages.
fn unversioned(path: &str) -> &str {
    match path.strip_prefix("/v") {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            rest.find('/').map_or(path, |i| &rest[i..])
        }
        _ => path,
    }
}

/// A body up to `cap` bytes, or an error that names the cap.
async fn read_capped(
    mut body: Incoming,
    cap: u64,
    host: &str,
    path: &str,
) -> Result<Bytes, SourceError> {
    use hyper::body::Body as _;
    let too_large = |size: String| {
        SourceError::new(
            ErrorKind::Malformed,
            format!(
                "the Docker daemon at {host} {size} in answer to {path}; cachetop reads at \
                 most {} of it",
                binary_size(cap)
            ),
        )
    };
    if let Some(n) = body.size_hint().exact()
        && n > cap
    {
        return Err(too_large(format!("claims {n} bytes (Content-Length)")));
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| no_answer(host, path, &e))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > cap {
                return Err(too_large(format!("sent more than {}", binary_size(cap))));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// The first `cap` bytes of a body; the rest is never read.
async fn read_prefix(mut body: Incoming, cap: u64) -> Bytes {
    let mut buf = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            let room = (cap as usize).saturating_sub(buf.len());
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() as u64 >= cap {
                break;
            }
        }
    }
    Bytes::from(buf)
}

/// A request that went out and got no whole answer: what it asked may have happened.
fn no_answer(host: &str, path: &str, err: &(dyn std::error::Error + 'static)) -> SourceError {
    let mut cause = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        cause = e.to_string();
        cur = e.source();
    }
    SourceError::new(
        ErrorKind::NoAnswer,
        format!("the Docker daemon at {host} stopped answering {path}: {cause}"),
    )
}

/// `{"message": ...}` of an error answer, else its first 200 bytes.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Msg {
        message: String,
    }
    serde_json::from_slice::<Msg>(body)
        .map(|m| m.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn daemon_said(host: &str, path: &str, status: StatusCode, body: &[u8]) -> SourceError {
    SourceError::new(
        ErrorKind::Other,
        format!(
            "the Docker daemon at {host} answered {path} with HTTP {status}: {}",
            error_message(body)
        ),
    )
}

/// A failure to reach the daemon's socket, in terms of what to do about it (the
/// BuildKit client's `/grpc` upgrade says the same).
pub(crate) fn io_error(host: &str, io: &std::io::Error) -> SourceError {
    use std::io::ErrorKind as Io;
    let fix = "is dockerd running? Point cachetop at the right daemon with --host or DOCKER_HOST, \
               or pass --no-docker to skip it";
    match io.kind() {
        Io::NotFound => SourceError::new(
            ErrorKind::Unreachable,
            format!("no Docker daemon at {host}: the socket does not exist; {fix}"),
        ),
        Io::ConnectionRefused => SourceError::new(
            ErrorKind::Unreachable,
            format!("no Docker daemon at {host}: connection refused; {fix}"),
        ),
        Io::PermissionDenied => SourceError::new(
            ErrorKind::PermissionDenied,
            format!(
                "permission denied on the Docker socket {host}: run cachetop as root, or add your \
                 user to the docker group (sudo usermod -aG docker $USER, then log in again)"
            ),
        ),
        _ => SourceError::new(
            ErrorKind::Unreachable,
            format!("cannot talk to the Docker daemon at {host}: {io}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_docker_spells_them() {
        assert_eq!(
            parse_host("unix:///var/run/docker.sock").unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            parse_host("/tmp/d.sock").unwrap(),
            Endpoint::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://docker").unwrap(),
            Endpoint::Tcp("docker:2375".into())
        );
        assert_eq!(
            parse_host("ssh://me@box:2222").unwrap(),
            Endpoint::Ssh(ssh::parse("ssh://me@box:2222").unwrap())
        );
        for bad in ["https://x:2376", "unix://", "tcp://a/b", "docker.sock"] {
            let e = parse_host(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unsupported, "{bad}");
            assert!(e.message.contains(bad), "{}", e.message);
        }
    }

    #[test]
    fn api_versions_compare_numerically() {
        assert!(ApiVersion::parse("1.41").unwrap() < ApiVersion::parse("1.100").unwrap());
        assert!(ApiVersion::parse("1.38").unwrap() < MIN_API);
        assert_eq!(ApiVersion::parse("x"), None);
    }

    #[test]
    fn id_pattern_matches_one_id_only() {
        assert_eq!(exact_id_pattern("ufkdtw3x1lkys"), "^ufkdtw3x1lkys$");
        assert_eq!(exact_id_pattern("a.b*"), r"^a\.b\*$");
    }

    #[test]
    fn the_prune_filter_is_sent_percent_encoded() {
        let f = serde_json::json!({ "id": [exact_id_pattern("a.b")] }).to_string();
        assert_eq!(
            percent_encode(&f),
            "%7B%22id%22%3A%5B%22%5Ea%5C%5C.b%24%22%5D%7D"
        );
        assert_eq!(percent_encode("Az09-._~ /"), "Az09-._~%20%2F");
    }

    #[test]
    fn a_removal_is_believed_only_once_a_fresh_look_agrees() {
        let v = Object::Volume {
            name: "buildx_buildkit_a0_state".into(),
        };
        let h = "unix:///d.sock";
        assert_eq!(
            removal_verdict(&v, h, StatusCode::NO_CONTENT, ""),
            Removal::Removed
        );
        assert_eq!(settle(&v, h, Recheck::MustBeGone, false), Ok(()));
        let lied = settle(&v, h, Recheck::MustBeGone, true).unwrap_err();
        assert!(lied.message.contains("still has it"), "{}", lied.message);

        assert_eq!(
            removal_verdict(&v, h, StatusCode::NOT_FOUND, "no such volume"),
            Removal::NotThere
        );
        let gone = settle(&v, h, Recheck::ConfirmGone, false).unwrap_err();
        assert_eq!(gone.kind, ErrorKind::NotFound);
        assert!(gone.message.starts_with("already gone"));
        let odd = settle(&v, h, Recheck::ConfirmGone, true).unwrap_err();
        assert_eq!(odd.kind, ErrorKind::Other);
    }

    #[test]
    fn a_conflict_is_reported_as_in_use_and_never_forced() {
        let c = Object::Container {
            name: "buildx_buildkit_a0".into(),
        };
        let Removal::Failed(e) = removal_verdict(
            &c,
            "unix:///d.sock",
            StatusCode::CONFLICT,
            "You cannot remove a running container",
        ) else {
            panic!("a 409 is a failure");
        };
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(e.message.contains("container buildx_buildkit_a0"));
        assert!(e.message.contains("in use"));
        assert!(e.message.contains("never forces"));
        let Removal::Failed(e) = removal_verdict(
            &c,
            "unix:///d.sock",
            StatusCode::INTERNAL_SERVER_ERROR,
            "boom",
        ) else {
            panic!("a 500 is a failure");
        };
        assert!(e.message.contains("HTTP 500"), "{}", e.message);
    }

    #[test]
    fn messages_name_the_route_without_the_api_version() {
        assert_eq!(unversioned("/v1.41/system/df"), "/system/df");
        assert_eq!(unversioned("/_ping"), "/_ping");
        assert_eq!(unversioned("/version"), "/version");
    }

    #[test]
    fn caps_are_named_in_binary_units() {
        assert_eq!(binary_size(MAX_DF_BYTES), "256 MiB");
        assert_eq!(binary_size(MAX_ERROR_BYTES), "64 KiB");
        assert_eq!(binary_size(1000), "1000 bytes");
    }

    #[test]
    fn error_messages_come_from_the_body_or_its_start() {
        assert_eq!(error_message(br#"{"message":"no such id"}"#), "no such id");
        let long = vec![b'x'; 5000];
        assert_eq!(error_message(&long).len(), 200);
    }

    #[test]
    fn io_errors_say_what_to_do() {
        let e = io_error(
            "unix:///x",
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("docker group"));
        let e = io_error(
            "unix:///x",
            &std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(e.message.contains("--host or DOCKER_HOST"));
    }
}
