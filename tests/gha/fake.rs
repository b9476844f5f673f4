//! A loopback stand-in for GitHub's REST API, the cache endpoints only, answering as
//! docs.github.com/rest/actions/cache documents them: `total_count`/`actions_caches`
//! pages with Link headers (`per_page`, `page`, `sort`, `direction`, `key` as a
//! prefix, `ref`), `/actions/cache/usage`, `DELETE .../caches/{id}` (204, or 404 for
//! an unknown id), `DELETE .../caches?key=` (every prefix match: cachetop must never
//! send it), 401 without a good token, and scripted faults: 403 with rate-limit
//! headers, 5xx, bodies cut short, slow pages.
//!
//! GitHub itself is not reachable from the test machines; this is the one fake part.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// go-actions-cache's version of every BuildKit cache: sha256("|go-actionscache-1.0").
/// Worked out with `sha256sum` in the tests, not copied from cachetop.
pub fn buildkit_version() -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"|go-actionscache-1.0")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cache {
    pub id: u64,
    pub git_ref: String,
    pub key: String,
    pub version: String,
    pub last_accessed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub size_in_bytes: u64,
}

impl Cache {
    fn json(&self) -> Value {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({
            "id": self.id,
            "ref": self.git_ref,
            "key": self.key,
            "version": self.version,
            "last_accessed_at": t(self.last_accessed_at),
            "created_at": t(self.created_at),
            "size_in_bytes": self.size_in_bytes,
        })
    }
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The list endpoint, this page (unfiltered listings only).
    Page(u64),
    /// Any request to the list endpoint.
    AnyList,
    Usage,
    Repo,
    /// `DELETE .../caches/{id}`.
    Delete(u64),
}

/// Changes the caches, as something outside cachetop would (a job saving or using one).
pub type Change = Arc<dyn Fn(&mut Vec<Cache>) + Send + Sync>;

#[derive(Clone)]
pub enum Fault {
    /// Answer with this status, headers and body instead.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Promise the whole body in Content-Length, send half, close.
    CutShort,
    /// A complete answer whose JSON stops in the middle.
    CutJson,
    /// Answer normally after this long.
    Delay(Duration),
    /// DELETE: someone else deletes the cache first, so GitHub answers 404.
    GoneFirst,
    /// DELETE: answer 404 but keep the cache (a token that may not delete).
    NotFoundButKept,
    /// Change the caches, then answer normally.
    Then(Change),
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Status { status, .. } => write!(f, "Status({status})"),
            Fault::CutShort => f.write_str("CutShort"),
            Fault::CutJson => f.write_str("CutJson"),
            Fault::Delay(d) => write!(f, "Delay({d:?})"),
            Fault::GoneFirst => f.write_str("GoneFirst"),
            Fault::NotFoundButKept => f.write_str("NotFoundButKept"),
            Fault::Then(_) => f.write_str("Then(..)"),
        }
    }
}

impl Fault {
    pub fn status(status: u16, headers: &[(&str, &str)], body: Value) -> Fault {
        Fault::Status {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
        }
    }

    /// GitHub's primary rate limit: remaining 0 until `reset` (epoch seconds).
    pub fn rate_limited_until(reset: i64) -> Fault {
        let reset = reset.to_string();
        Fault::status(
            403,
            &[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-used", "5000"),
                ("x-ratelimit-reset", &reset),
                ("x-ratelimit-resource", "core"),
            ],
            json!({
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403"
            }),
        )
    }

    /// GitHub's secondary rate limit with `retry-after`.
    pub fn retry_after(secs: u64) -> Fault {
        Fault::status(
            403,
            &[
                ("retry-after", &secs.to_string()),
                ("x-ratelimit-remaining", "4990"),
            ],
            json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403"
            }),
        )
    }

    pub fn server_error(status: u16) -> Fault {
        Fault::status(
            status,
            &[],
            json!({ "message": "Server Error", "status": status.to_string() }),
        )
    }

    /// A token without the permission the endpoint needs.
    pub fn forbidden(permission: &str) -> Fault {
        Fault::status(
            403,
            &[
                ("x-accepted-github-permissions", permission),
                ("x-ratelimit-remaining", "4999"),
            ],
            json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/actions/cache#delete-a-github-actions-cache-for-a-repository-using-a-cache-id",
                "status": "403"
            }),
        )
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub route: Route,
    /// Matching requests let through untouched before the fault starts.
    pub skip: usize,
    /// How many matching requests get the fault (`usize::MAX`: all).
    pub times: usize,
    pub fault: Fault,
}

#[derive(Clone, Debug)]
pub struct GithubFake {
    pub owner: String,
    pub repo: String,
    pub repo_id: u64,
    pub default_branch: String,
    /// Requests must carry `Authorization: Bearer <token>` (or `token <token>`).
    pub token: String,
    /// Path prefix of the API root, e.g. `/api/v3` for GitHub Enterprise Server.
    pub prefix: String,
    pub caches: Vec<Cache>,
    pub rules: Vec<Rule>,
}

impl GithubFake {
    pub fn new(owner_repo: &str, token: &str, caches: Vec<Cache>) -> Self {
        let (owner, repo) = owner_repo.split_once('/').unwrap();
        Self {
            owner: owner.into(),
            repo: repo.into(),
            repo_id: 1_296_269,
            default_branch: "main".into(),
            token: token.into(),
            prefix: String::new(),
            caches,
            rules: Vec::new(),
        }
    }

    pub fn with_rule(mut self, route: Route, times: usize, fault: Fault) -> Self {
        self.rules.push(Rule {
            route,
            skip: 0,
            times,
            fault,
        });
        self
    }

    /// A fault for the matching requests after the first `skip` of them.
    pub fn with_rule_after(
        mut self,
        skip: usize,
        route: Route,
        times: usize,
        fault: Fault,
    ) -> Self {
        self.rules.push(Rule {
            route,
            skip,
            times,
            fault,
        });
        self
    }
}

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HashMap<String, String>,
}

struct State {
    fake: GithubFake,
    seen: Vec<Seen>,
    /// Ids deleted through `DELETE .../caches/{id}`.
    deleted_by_id: Vec<u64>,
    /// Key queries of `DELETE .../caches?key=` (never expected from cachetop).
    deleted_by_key: Vec<String>,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    max_in_flight: Arc<AtomicUsize>,
}

impl FakeServer {
    pub fn start(fake: GithubFake) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            fake,
            seen: Vec::new(),
            deleted_by_id: Vec::new(),
            deleted_by_key: Vec::new(),
        }));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (st, max) = (state.clone(), max_in_flight.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (st, max, now) = (st.clone(), max.clone(), in_flight.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, addr, &st, &now, &max);
                });
            }
        });
        FakeServer {
            addr,
            state,
            max_in_flight,
        }
    }

    /// The API root to give cachetop.
    pub fn url(&self) -> String {
        let prefix = self.state.lock().unwrap().fake.prefix.clone();
        format!("http://{}{prefix}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn deleted_by_id(&self) -> Vec<u64> {
        self.state.lock().unwrap().deleted_by_id.clone()
    }

    pub fn deleted_by_key(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted_by_key.clone()
    }

    pub fn remaining_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .state
            .lock()
            .unwrap()
            .fake
            .caches
            .iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    }

    /// The most list requests the fake was answering at one moment.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Changes the caches while the server runs (a cache used, saved or evicted).
    pub fn with_caches(&self, f: impl FnOnce(&mut Vec<Cache>)) {
        f(&mut self.state.lock().unwrap().fake.caches);
    }

    pub fn add_rule(&self, route: Route, times: usize, fault: Fault) {
        self.state.lock().unwrap().fake.rules.push(Rule {
            route,
            skip: 0,
            times,
            fault,
        });
    }
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    target: String,
    headers: HashMap<String, String>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Some(Request {
        method,
        path: path.to_string(),
        query,
        target: target.clone(),
        headers,
    }))
}

/// application/x-www-form-urlencoded decoding.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to send back.
enum Reply {
    Json(u16, Vec<(String, String)>, String),
    NoContent,
    CutShort(String),
    CutJson(String),
}

fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    state: &Mutex<State>,
    in_flight: &AtomicUsize,
    max: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    while let Some(req) = read_request(&mut reader)? {
        let is_list = req.method == "GET" && req.path.ends_with("/actions/caches");
        if is_list {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
        }
        let (reply, delay) = answer(&req, addr, state);
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        if is_list {
            in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        let keep_open = write_reply(&mut out, reply)?;
        if !keep_open {
            return Ok(());
        }
    }
    Ok(())
}

/// Writes the reply; false when the connection must close.
fn write_reply(out: &mut TcpStream, reply: Reply) -> std::io::Result<bool> {
    let common = "Content-Type: application/json; charset=utf-8\r\nx-ratelimit-limit: 5000\r\nx-ratelimit-resource: core\r\n";
    match reply {
        Reply::Json(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\n{common}Content-Length: {}\r\n",
                reason(status),
                body.len()
            );
            let mut has_remaining = false;
            for (k, v) in &headers {
                has_remaining |= k.eq_ignore_ascii_case("x-ratelimit-remaining");
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            if !has_remaining {
                head.push_str("x-ratelimit-remaining: 4999\r\n");
            }
            head.push_str("\r\n");
            // One write: a separate head and body meet Nagle and delayed ACKs (40 ms).
            head.push_str(&body);
            out.write_all(head.as_bytes())?;
            out.flush()?;
            Ok(true)
        }
        Reply::NoContent => {
            out.write_all(b"HTTP/1.1 204 No Content\r\nx-ratelimit-remaining: 4999\r\n\r\n")?;
            out.flush()?;
            Ok(true)
        }
        Reply::CutShort(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
                body.len()
            );
            out.write_all(head.as_bytes())?;
            out.write_all(&body.as_bytes()[..body.len() / 2])?;
            out.flush()?;
            let _ = out.shutdown(std::net::Shutdown::Both);
            Ok(false)
        }
        Reply::CutJson(body) => {
            let cut = &body[..body.len() / 2];
            let head = format!(
                "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
                cut.len()
            );
            out.write_all(head.as_bytes())?;
            out.write_all(cut.as_bytes())?;
            out.flush()?;
            Ok(true)
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn not_found(doc: &str) -> Reply {
    Reply::Json(
        404,
        vec![],
        json!({ "message": "Not Found", "documentation_url": doc, "status": "404" }).to_string(),
    )
}

const LIST_DOC: &str =
    "https://docs.github.com/rest/actions/cache#list-github-actions-caches-for-a-repository";
const DELETE_DOC: &str = "https://docs.github.com/rest/actions/cache#delete-a-github-actions-cache-for-a-repository-using-a-cache-id";

fn answer(req: &Request, addr: SocketAddr, state: &Mutex<State>) -> (Reply, Option<Duration>) {
    let mut st = state.lock().unwrap();
    st.seen.push(Seen {
        method: req.method.clone(),
        target: req.target.clone(),
        headers: req.headers.clone(),
    });
    let fake = &st.fake;
    let Some(path) = req.path.strip_prefix(fake.prefix.as_str()) else {
        return (not_found("https://docs.github.com/rest"), None);
    };
    let path = path.to_string();

    // Authentication first, as GitHub does.
    let auth = req.headers.get("authorization").cloned();
    match auth {
        None => {
            return (
                Reply::Json(
                    401,
                    vec![],
                    json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest", "status": "401"}).to_string(),
                ),
                None,
            );
        }
        Some(a)
            if a != format!("Bearer {}", fake.token) && a != format!("token {}", fake.token) =>
        {
            return (
                Reply::Json(
                    401,
                    vec![],
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}).to_string(),
                ),
                None,
            );
        }
        Some(_) => {}
    }

    let repo_path = format!("/repos/{}/{}", fake.owner, fake.repo);
    let q = |name: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let route = if req.method == "GET" && path == repo_path {
        Some(Route::Repo)
    } else if req.method == "GET" && path == format!("{repo_path}/actions/cache/usage") {
        Some(Route::Usage)
    } else if req.method == "GET" && path == format!("{repo_path}/actions/caches") {
        let page = q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        Some(if q("key").is_none() && q("ref").is_none() {
            Route::Page(page)
        } else {
            Route::AnyList
        })
    } else if req.method == "DELETE" {
        path.strip_prefix(&format!("{repo_path}/actions/caches/"))
            .and_then(|id| id.parse().ok())
            .map(Route::Delete)
    } else {
        None
    };

    // Scripted faults.
    let mut delay = None;
    if let Some(route) = &route {
        let st = &mut *st;
        let hit = st.fake.rules.iter_mut().find(|r| {
            r.times > 0
                && (r.route == *route
                    || (r.route == Route::AnyList && matches!(route, Route::Page(_))))
        });
        let hit = match hit {
            Some(rule) if rule.skip > 0 => {
                rule.skip -= 1;
                None
            }
            other => other,
        };
        if let Some(rule) = hit {
            if rule.times != usize::MAX {
                rule.times -= 1;
            }
            match rule.fault.clone() {
                Fault::Status {
                    status,
                    headers,
                    body,
                } => return (Reply::Json(status, headers, body), None),
                Fault::Delay(d) => delay = Some(d),
                Fault::Then(change) => change(&mut st.fake.caches),
                Fault::GoneFirst => {
                    if let Route::Delete(id) = route {
                        st.fake.caches.retain(|c| c.id != *id);
                    }
                }
                Fault::NotFoundButKept => return (not_found(DELETE_DOC), None),
                Fault::CutShort => {
                    let body = list_body(&st.fake, &req.query, addr).1;
                    return (Reply::CutShort(body), None);
                }
                Fault::CutJson => {
                    let body = match route {
                        Route::Usage => usage_body(&st.fake),
                        _ => list_body(&st.fake, &req.query, addr).1,
                    };
                    return (Reply::CutJson(body), None);
                }
            }
        }
    }

    let fake = &st.fake;
    let reply = match route {
        Some(Route::Repo) => Reply::Json(
            200,
            vec![],
            json!({
                "id": fake.repo_id,
                "name": fake.repo,
                "full_name": format!("{}/{}", fake.owner, fake.repo),
                "private": true,
                "default_branch": fake.default_branch,
            })
            .to_string(),
        ),
        Some(Route::Usage) => Reply::Json(200, vec![], usage_body(fake)),
        Some(Route::Page(_)) | Some(Route::AnyList) => {
            let (link, body) = list_body(fake, &req.query, addr);
            let headers = link
                .map(|l| vec![("Link".to_string(), l)])
                .unwrap_or_default();
            Reply::Json(200, headers, body)
        }
        Some(Route::Delete(id)) => {
            let st = &mut *st;
            let before = st.fake.caches.len();
            st.fake.caches.retain(|c| c.id != id);
            if st.fake.caches.len() < before {
                st.deleted_by_id.push(id);
                Reply::NoContent
            } else {
                not_found(DELETE_DOC)
            }
        }
        None if req.method == "DELETE"
            && path == format!("{repo_path}/actions/caches")
            && q("key").is_some() =>
        {
            // Deletes every cache whose key starts with `key` (and on `ref`, if given).
            let st = &mut *st;
            let key = q("key").unwrap();
            let git_ref = q("ref");
            st.deleted_by_key.push(key.clone());
            let (gone, kept): (Vec<Cache>, Vec<Cache>) = st.fake.caches.drain(..).partition(|c| {
                c.key.starts_with(&key) && git_ref.as_ref().is_none_or(|r| &c.git_ref == r)
            });
            st.fake.caches = kept;
            if gone.is_empty() {
                not_found(DELETE_DOC)
            } else {
                Reply::Json(
                    200,
                    vec![],
                    json!({
                        "total_count": gone.len(),
                        "actions_caches": gone.iter().map(Cache::json).collect::<Vec<_>>(),
                    })
                    .to_string(),
                )
            }
        }
        None if path.starts_with("/repos/") => not_found(LIST_DOC),
        None => not_found("https://docs.github.com/rest"),
    };
    (reply, delay)
}

fn usage_body(fake: &GithubFake) -> String {
    json!({
        "full_name": format!("{}/{}", fake.owner, fake.repo),
        "active_caches_size_in_bytes": fake.caches.iter().map(|c| c.size_in_bytes).sum::<u64>(),
        "active_caches_count": fake.caches.len(),
    })
    .to_string()
}

/// One page of the list endpoint and its Link header, as GitHub builds them.
fn list_body(
    fake: &GithubFake,
    query: &[(String, String)],
    addr: SocketAddr,
) -> (Option<String>, String) {
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let per_page: usize = q("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut matching: Vec<&Cache> = fake
        .caches
        .iter()
        .filter(|c| q("key").is_none_or(|k| c.key.starts_with(k)))
        .filter(|c| q("ref").is_none_or(|r| c.git_ref == r))
        .collect();
    let sort = q("sort").unwrap_or("last_accessed_at");
    matching.sort_by(|a, b| {
        let ord = match sort {
            "created_at" => a.created_at.cmp(&b.created_at),
            "size_in_bytes" => a.size_in_bytes.cmp(&b.size_in_bytes),
            _ => a.last_accessed_at.cmp(&b.last_accessed_at),
        };
        ord.then(a.id.cmp(&b.id))
    });
    if q("direction").unwrap_or("desc") == "desc" {
        matching.reverse();
    }
    let total = matching.len();
    let last = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| c.json())
        .collect();
    let body = json!({ "total_count": total, "actions_caches": items }).to_string();
    // GitHub's links name the repository by id and keep the other parameters.
    let others: String = query
        .iter()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| format!("{k}={}&", v.replace(' ', "+")))
        .collect();
    let link_to = |p: usize, rel: &str| {
        format!(
            "<http://{addr}{}/repositories/{}/actions/caches?{others}page={p}>; rel=\"{rel}\"",
            fake.prefix, fake.repo_id
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    ((!links.is_empty()).then(|| links.join(", ")), body)
}

/// `n` caches of every family on several refs, created one minute apart from
/// `start`, last used `age(i)` before `now`.
pub fn synthetic(
    n: usize,
    now: DateTime<Utc>,
    age: impl Fn(usize) -> chrono::Duration,
) -> Vec<Cache> {
    let bk = buildkit_version();
    (0..n)
        .map(|i| {
            let (key, version, git_ref) = match i % 8 {
                0 => (
                    format!("buildkit-blob-1-sha256:{:064x}", i),
                    bk.clone(),
                    format!("refs/pull/{}/merge", 100 + i % 13),
                ),
                1 => (
                    format!("index-buildkit-1-{:08x}", i),
                    bk.clone(),
                    "refs/heads/main".to_string(),
                ),
                2 => (
                    format!("v0-rust-test-Linux-x64-{:08x}-{:08x}", i % 5, i),
                    format!("{:064x}", 7),
                    "refs/heads/main".to_string(),
                ),
                3 => (
                    format!("sccache-Linux-x64-{i}"),
                    format!("{:064x}", 8),
                    format!("refs/pull/{}/merge", 100 + i % 13),
                ),
                4 => (
                    format!("node-cache-Linux-x64-npm-{:016x}", i % 3),
                    format!("{:064x}", 9),
                    if i % 16 == 4 {
                        "refs/heads/main".to_string()
                    } else {
                        format!("refs/pull/{}/merge", 100 + i % 13)
                    },
                ),
                5 => (
                    format!("setup-python-Linux-x64-22.04-python-3.12-pip-{i}"),
                    format!("{:064x}", 10),
                    "refs/heads/release".to_string(),
                ),
                6 => (
                    format!("setup-go-Linux-x64-go-1.22-{i}"),
                    format!("{:064x}", 11),
                    "refs/tags/v1.2.3".to_string(),
                ),
                _ => (
                    format!("index-myapp-linux-1-{:08x}", i),
                    bk.clone(),
                    "refs/heads/main".to_string(),
                ),
            };
            Cache {
                id: 1000 + i as u64,
                git_ref,
                key,
                version,
                last_accessed_at: now - age(i),
                created_at: now - chrono::Duration::days(30) + chrono::Duration::minutes(i as i64),
                size_in_bytes: 1_000_000 + (i as u64 * 7919) % 50_000_000,
            }
        })
        .collect()
}
