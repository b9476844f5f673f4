//! A loopback stand-in for the Engine API, for what a real daemon cannot be made to
//! do: answer in API shapes it does not speak, send garbage, be too old, vanish
//! mid-prune, or serve 100,000 recorded records for the benchmark.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

#[derive(Clone, Debug)]
pub enum PruneBehaviour {
    /// Deletes the id the filter names.
    Echo,
    /// Answers every prune with this status and message.
    Fail(u16, String),
    /// Serves this many prunes, then stops listening (connection refused after).
    VanishAfter(usize),
}

#[derive(Clone, Debug)]
pub struct Replay {
    pub api_version: String,
    pub df_body: Vec<u8>,
    pub prune: PruneBehaviour,
    /// The first this-many `/system/df` requests get a 500.
    pub df_failures: usize,
    /// `DockerRootDir` in `/info`.
    pub root_dir: String,
}

impl Replay {
    pub fn new(api_version: &str, df_body: impl Into<Vec<u8>>) -> Self {
        Self {
            api_version: api_version.to_string(),
            df_body: df_body.into(),
            prune: PruneBehaviour::Echo,
            df_failures: 0,
            root_dir: "/var/lib/docker".to_string(),
        }
    }
}

pub struct ReplayServer {
    pub addr: SocketAddr,
    /// The ids every prune request named, in order.
    pub prunes: Arc<Mutex<Vec<String>>>,
    _thread: JoinHandle<()>,
}

impl ReplayServer {
    pub fn start(replay: Replay) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let prunes = Arc::new(Mutex::new(Vec::new()));
        let seen = prunes.clone();
        let thread = std::thread::spawn(move || serve(listener, replay, seen));
        Self {
            addr,
            prunes,
            _thread: thread,
        }
    }

    pub fn host(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

fn serve(listener: TcpListener, mut replay: Replay, prunes: Arc<Mutex<Vec<String>>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let served_prune = handle(stream, &mut replay, &prunes).unwrap_or(false);
        if let PruneBehaviour::VanishAfter(n) = replay.prune
            && served_prune
            && prunes.lock().unwrap().len() >= n
        {
            return; // dropping the listener: later connections are refused
        }
    }
}

/// Answers one request; true when it was a prune.
fn handle(
    stream: TcpStream,
    replay: &mut Replay,
    prunes: &Mutex<Vec<String>>,
) -> std::io::Result<bool> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // Strip the /v1.NN prefix.
    let route = match path.strip_prefix("/v") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    let mut out = stream;
    let api = &replay.api_version;
    match (method, route) {
        (_, "/_ping") => respond(&mut out, 200, &[("Api-Version", api.as_str())], b"OK")?,
        ("GET", "/version") => {
            let v = format!(
                r#"{{"Version":"replay","ApiVersion":"{api}","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}}"#
            );
            respond(&mut out, 200, &[], v.as_bytes())?
        }
        ("GET", "/info") => {
            let info = serde_json::json!({"DockerRootDir": replay.root_dir,
                                          "Driver": "overlay2", "Name": "replay"});
            respond(&mut out, 200, &[], info.to_string().as_bytes())?
        }
        ("GET", "/system/df") if replay.df_failures > 0 => {
            replay.df_failures -= 1;
            respond(
                &mut out,
                500,
                &[],
                br#"{"message":"failed to compute usage: not found"}"#,
            )?
        }
        ("GET", "/system/df") => respond(&mut out, 200, &[], &replay.df_body)?,
        ("POST", "/build/prune") => {
            let id = prune_id(query).unwrap_or_default();
            prunes.lock().unwrap().push(id.clone());
            match &replay.prune {
                PruneBehaviour::Fail(status, message) => {
                    let b = serde_json::json!({ "message": message }).to_string();
                    respond(&mut out, *status, &[], b.as_bytes())?
                }
                _ => {
                    let b = serde_json::json!({"CachesDeleted": [id], "SpaceReclaimed": 1000})
                        .to_string();
                    respond(&mut out, 200, &[], b.as_bytes())?
                }
            }
            return Ok(true);
        }
        _ => respond(&mut out, 404, &[], br#"{"message":"page not found"}"#)?,
    }
    Ok(false)
}

fn respond(
    out: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// The id in `filters={"id":["^X$"]}` (either filter JSON form).
pub fn prune_id(query: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("filters="))?;
    let json: serde_json::Value = serde_json::from_str(&percent_decode(raw)).ok()?;
    let id = &json["id"];
    let pattern = match id {
        serde_json::Value::Array(a) => a.first()?.as_str()?.to_string(),
        serde_json::Value::Object(m) => m.keys().next()?.clone(),
        _ => return None,
    };
    Some(
        pattern
            .trim_start_matches('^')
            .trim_end_matches('$')
            .replace('\\', ""),
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `/system/df` body (API 1.41 shape) with `n` records of mixed types, as a busy
/// runner's daemon would send.
pub fn synthetic_df(n: usize) -> Vec<u8> {
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let (kind, desc) = match i % 4 {
            0 => (
                "exec.cachemount",
                format!(
                    "cached mount /root/.cargo/registry-{i} from exec /bin/sh -c cargo build --release --locked"
                ),
            ),
            1 => (
                "regular",
                format!("mount / from exec /bin/sh -c make step-{i}"),
            ),
            2 => ("source.local", "local source for context".to_string()),
            _ => (
                "exec.cachemount",
                format!("cached mount /var/cache/apt-{i} from exec /bin/sh -c apt-get update"),
            ),
        };
        let day = 1 + (i % 28);
        records.push(serde_json::json!({
            "ID": format!("r{:024}", i),
            "Parent": if i % 4 == 1 { format!("r{:024}", i - 1) } else { String::new() },
            "Type": kind,
            "Description": desc,
            "InUse": i % 97 == 0,
            "Shared": i % 4 == 1 && i % 3 == 0,
            "Size": (i as u64 * 7919) % 500_000_000,
            "CreatedAt": format!("2026-10-{day:02}T10:00:00.123456789Z"),
            "LastUsedAt": format!("2026-11-{day:02}T11:00:00.5Z"),
            "UsageCount": i % 50,
        }));
    }
    serde_json::to_vec(&serde_json::json!({
        "LayersSize": 0, "Images": [], "Containers": [], "Volumes": [],
        "BuildCache": records, "BuilderSize": 0,
    }))
    .unwrap()
}
