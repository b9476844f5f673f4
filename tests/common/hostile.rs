//! Loopback stand-ins for a far side that misbehaves in ways no real registry or
//! daemon can be made to: bodies that claim gigabytes, never end, or trickle; answers
//! that never come; a daemon that deletes and dies before it answers, then stays
//! down or comes back. One small HTTP/1.1 server, driven by a handler per request.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/v1.41/system/df?verbose=1`.
    pub target: String,
    pub body: Vec<u8>,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The path without an Engine API `/v1.NN` prefix.
    pub fn route(&self) -> &str {
        let path = self.path();
        match path.strip_prefix("/v") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
                rest.find('/').map_or(path, |i| &rest[i..])
            }
            _ => path,
        }
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// How to answer one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Claims `length` bytes in Content-Length and sends zeros until the client
    /// hangs up.
    ClaimsLength { status: u16, length: u64 },
    /// A chunked body that never ends: `chunk` again and again until the client hangs
    /// up.
    Endless { status: u16, chunk: Vec<u8> },
    /// A chunked body of one byte every `every`, forever.
    Trickle { status: u16, every: Duration },
    /// Reads the request and closes the connection without a word.
    Hangup,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn with_header(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.into(),
        }
    }
}

type Handler = dyn Fn(&Request, &Control) -> Reply + Send + Sync;

/// What a handler may do to the server itself: go down for a while, or for good.
#[derive(Clone, Default)]
pub struct Control {
    down_until: Arc<Mutex<Option<Instant>>>,
    stopped: Arc<AtomicBool>,
}

impl Control {
    /// Stops listening (connections are refused) for `d`, then listens again on the
    /// same address.
    pub fn down_for(&self, d: Duration) {
        *self.down_until.lock().unwrap() = Some(Instant::now() + d);
    }

    /// Stops listening for good.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    fn down(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
            || self
                .down_until
                .lock()
                .unwrap()
                .is_some_and(|t| Instant::now() < t)
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub control: Control,
    /// `METHOD target` of every request, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request, &Control) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let control = Control::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let control = control.clone();
            let seen = seen.clone();
            std::thread::spawn(move || accept(listener, addr, control, seen, handler));
        }
        Server {
            addr,
            control,
            seen,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self, needle: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.control.stop();
    }
}

fn accept(
    listener: TcpListener,
    addr: SocketAddr,
    control: Control,
    seen: Arc<Mutex<Vec<String>>>,
    handler: Arc<Handler>,
) {
    let mut listener = Some(listener);
    loop {
        if control.stopped.load(Ordering::SeqCst) {
            return;
        }
        if control.down() {
            listener = None; // refused from now on
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(addr) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((stream, _)) => {
                let control = control.clone();
                let seen = seen.clone();
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &control, &seen, &*handler);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve(
    stream: TcpStream,
    control: &Control,
    seen: &Mutex<Vec<String>>,
    handler: &Handler,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    seen.lock().unwrap().push(format!("{method} {target}"));
    let req = Request {
        method,
        target,
        body,
    };
    let reply = handler(&req, control);
    let mut out = stream;
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            out.write_all(head.as_bytes())?;
            out.write_all(&body)?;
        }
        Reply::ClaimsLength { status, length } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            );
            out.write_all(head.as_bytes())?;
            let zeros = vec![b' '; 64 << 10];
            loop {
                out.write_all(&zeros)?;
            }
        }
        Reply::Endless { status, chunk } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            out.write_all(head.as_bytes())?;
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk,
                b"\r\n".to_vec(),
            ]
            .concat();
            loop {
                out.write_all(&framed)?;
            }
        }
        Reply::Trickle { status, every } => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            out.write_all(head.as_bytes())?;
            out.write_all(b"1\r\n[\r\n")?;
            loop {
                std::thread::sleep(every);
                out.write_all(b"1\r\n \r\n")?;
                out.flush()?;
            }
        }
        Reply::Hangup => {}
    }
    out.flush()
}

/// A registry stand-in that speaks `/v2/` and answers everything under
/// `/v2/<repo>/...` with `reply`.
pub fn registry(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
    Server::start(move |req, _| match req.path() {
        "/v2/" => Reply::json(200, "{}"),
        _ => reply(req),
    })
}

/// An Engine API stand-in at API 1.41: `/_ping`, `/version`, `/info` and
/// `/system/df` answer normally unless `reply` answers the route first.
pub fn engine(
    df_body: Vec<u8>,
    reply: impl Fn(&Request, &Control) -> Option<Reply> + Send + Sync + 'static,
) -> Server {
    Server::start(move |req, control| {
        if let Some(r) = reply(req, control) {
            return r;
        }
        match req.route() {
            "/_ping" => Reply::with_header(200, &[("Api-Version", "1.41")], "OK"),
            "/version" => Reply::json(
                200,
                r#"{"Version":"hostile","ApiVersion":"1.41","Os":"linux","Arch":"amd64"}"#,
            ),
            "/info" => Reply::json(
                200,
                r#"{"DockerRootDir":"/var/lib/docker","Driver":"overlay2","Name":"hostile"}"#,
            ),
            "/system/df" => Reply::json(200, df_body.clone()),
            _ => Reply::json(404, r#"{"message":"page not found"}"#),
        }
    })
}

/// How a stateful Engine stand-in dies mid-prune.
#[derive(Clone, Copy, Debug)]
pub enum Death {
    /// Deletes the record, then hangs up without answering and stops listening.
    DeletesThenDies,
    /// Deletes the record, hangs up, and listens again after this long (a restart).
    DeletesThenRestarts(Duration),
    /// Hangs up without deleting, and listens again after this long.
    DiesThenRestarts(Duration),
}

/// An Engine stand-in whose records go away when pruned, and which dies as `death`
/// says on its `nth` prune (1-based). The records are those of `df` (API 1.41 shape).
pub struct DyingEngine {
    pub server: Server,
    pub records: Arc<Mutex<Vec<Value>>>,
}

impl DyingEngine {
    pub fn start(df: &[u8], nth: usize, death: Death) -> DyingEngine {
        let doc: Value = serde_json::from_slice(df).unwrap();
        let records = Arc::new(Mutex::new(doc["BuildCache"].as_array().unwrap().clone()));
        let state = records.clone();
        let prunes = Arc::new(Mutex::new(0usize));
        let server = engine(Vec::new(), move |req, control| match req.route() {
            "/system/df" => {
                let mut doc = doc.clone();
                doc["BuildCache"] = Value::Array(state.lock().unwrap().clone());
                Some(Reply::json(200, serde_json::to_vec(&doc).unwrap()))
            }
            "/build/prune" => {
                let id = super::replay::prune_id(req.query()).unwrap_or_default();
                let n = {
                    let mut p = prunes.lock().unwrap();
                    *p += 1;
                    *p
                };
                let deletes = n != nth || !matches!(death, Death::DiesThenRestarts(_));
                let mut deleted = Vec::new();
                if deletes {
                    let mut recs = state.lock().unwrap();
                    let before = recs.len();
                    recs.retain(|r| r["ID"] != id.as_str());
                    if recs.len() < before {
                        deleted.push(id.clone());
                    }
                }
                if n == nth {
                    match death {
                        Death::DeletesThenDies => control.stop(),
                        Death::DeletesThenRestarts(d) | Death::DiesThenRestarts(d) => {
                            control.down_for(d)
                        }
                    }
                    return Some(Reply::Hangup);
                }
                let body = serde_json::json!({"CachesDeleted": deleted, "SpaceReclaimed": 1000});
                Some(Reply::json(200, body.to_string()))
            }
            _ => None,
        });
        DyingEngine { server, records }
    }

    pub fn host(&self) -> String {
        format!("tcp://{}", self.server.addr)
    }

    /// Whether the stand-in still holds the record.
    pub fn holds(&self, id: &str) -> bool {
        self.records.lock().unwrap().iter().any(|r| r["ID"] == id)
    }
}
