//! Test support for the registry and `type=local` sources: the loopback registries
//! started by scripts/test-registry.sh (Debian's docker-registry), an independent
//! client of the distribution API to push and read what cachetop must see, builders
//! of BuildKit-shaped caches, and a registry with token auth for the bearer flow.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";
pub const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The htpasswd instance's account (scripts/test-registry.sh creates it).
pub const BASIC_USER: &str = "cachetop";
pub const BASIC_PASSWORD: &str = "cachetop-basic-test-password";

pub struct Registries {
    /// Deleting enabled.
    pub delete: String,
    /// Deleting disabled: DELETE answers 405.
    pub nodelete: String,
    /// htpasswd auth (BASIC_USER / BASIC_PASSWORD), deleting enabled.
    pub basic: String,
}

/// The loopback registries from scripts/test-registry.sh (started when the test run
/// did not start them).
pub fn registries() -> &'static Registries {
    static R: OnceLock<Registries> = OnceLock::new();
    R.get_or_init(|| {
        let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(delete), Some(nodelete), Some(basic)) = (
            from_env("CACHETOP_TEST_REGISTRY"),
            from_env("CACHETOP_TEST_REGISTRY_NODELETE"),
            from_env("CACHETOP_TEST_REGISTRY_BASIC"),
        ) {
            return Registries {
                delete,
                nodelete,
                basic,
            };
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-registry.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run scripts/test-registry.sh");
        assert!(
            out.status.success(),
            "scripts/test-registry.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{k} missing from:\n{text}"))
                .to_string()
        };
        Registries {
            delete: get("CACHETOP_TEST_REGISTRY"),
            nodelete: get("CACHETOP_TEST_REGISTRY_NODELETE"),
            basic: get("CACHETOP_TEST_REGISTRY_BASIC"),
        }
    })
}

/// The registry storage of an instance started by the script, for tests that damage
/// stored content on purpose.
pub fn storage_dir(instance: &str) -> PathBuf {
    let dir = std::env::var("CACHETOP_TEST_REGISTRY_DIR")
        .unwrap_or_else(|_| "/tmp/cachetop-testreg".to_string());
    PathBuf::from(dir).join(instance).join("data")
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// A plain client of the distribution API, independent of cachetop's.
pub struct Api {
    pub addr: String,
    pub auth: Auth,
    http: reqwest::blocking::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Api {
    pub fn new(addr: &str) -> Self {
        Self::with_auth(addr, Auth::None)
    }

    pub fn with_auth(addr: &str, auth: Auth) -> Self {
        tls_provider();
        Self {
            addr: addr.to_string(),
            auth,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Answer {
        let req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let res = req.send().expect("registry request");
        Answer {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: res.bytes().unwrap().to_vec(),
        }
    }

    /// Uploads a blob in one request; returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self.send(
            self.http
                .post(format!("http://{}/v2/{repo}/blobs/uploads/", self.addr)),
        );
        assert_eq!(
            start.status,
            202,
            "{}",
            String::from_utf8_lossy(&start.body)
        );
        let loc = start.headers["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("http://{}{loc}", self.addr)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let done = self.send(
            self.http
                .put(format!("{loc}{sep}digest={digest}"))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec()),
        );
        assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
        digest
    }

    /// Pushes a manifest under a tag (or digest); returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let res = self.send(
            self.http
                .put(format!(
                    "http://{}/v2/{repo}/manifests/{reference}",
                    self.addr
                ))
                .header("content-type", media_type)
                .body(bytes.to_vec()),
        );
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        sha256(bytes)
    }

    pub fn get_manifest(&self, repo: &str, reference: &str) -> Answer {
        self.send(
            self.http
                .get(format!("http://{}/v2/{repo}/manifests/{reference}", self.addr))
                .header(
                    "accept",
                    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                     application/vnd.docker.distribution.manifest.v2+json, \
                     application/vnd.docker.distribution.manifest.list.v2+json",
                ),
        )
    }

    pub fn get_blob(&self, repo: &str, digest: &str) -> Answer {
        self.send(
            self.http
                .get(format!("http://{}/v2/{repo}/blobs/{digest}", self.addr)),
        )
    }
}

/// One layer of a synthesized cache: its size, and the times to record for it.
#[derive(Clone, Debug)]
pub struct LayerSpec {
    pub size: usize,
    /// The `buildkit/createdat` annotation on the layer's descriptor.
    pub annotated: Option<String>,
    /// The cache config's `createdAt` for the layer.
    pub in_config: Option<String>,
}

impl LayerSpec {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            annotated: None,
            in_config: None,
        }
    }
    pub fn annotated(mut self, t: &str) -> Self {
        self.annotated = Some(t.to_string());
        self
    }
    pub fn in_config(mut self, t: &str) -> Self {
        self.in_config = Some(t.to_string());
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLayout {
    /// An OCI index of the layers and the cache config (BuildKit's default before 0.21).
    Index,
    /// An image manifest whose config is the cache config (`image-manifest=true`).
    ImageManifest,
}

/// A BuildKit-shaped cache: its bytes, and what cachetop must report for it.
#[derive(Clone, Debug)]
pub struct Cache {
    pub manifest: Vec<u8>,
    pub media_type: &'static str,
    pub digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<(String, Vec<u8>)>,
    pub specs: Vec<LayerSpec>,
}

/// Layer content: distinct bytes of an exact size for each (seed, index).
pub fn layer_bytes(seed: &str, i: usize, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut n = 0u64;
    while out.len() < size {
        out.extend_from_slice(Sha256::digest(format!("{seed}/{i}/{n}").as_bytes()).as_slice());
        n += 1;
    }
    out.truncate(size);
    out
}

pub fn build_cache(seed: &str, layout: CacheLayout, specs: &[LayerSpec]) -> Cache {
    let layers: Vec<(String, Vec<u8>)> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let b = layer_bytes(seed, i, s.size);
            (sha256(&b), b)
        })
        .collect();
    let cfg_layers: Vec<Value> = layers
        .iter()
        .zip(specs)
        .map(|((d, b), s)| {
            let mut ann = json!({"mediaType": GZIP_LAYER, "size": b.len()});
            ann["createdAt"] = json!(s.in_config.clone().unwrap_or("0001-01-01T00:00:00Z".into()));
            json!({"blob": d, "annotations": ann})
        })
        .collect();
    let records: Vec<Value> = (0..layers.len())
        .map(|i| json!({"digest": sha256(format!("{seed}-record-{i}").as_bytes()), "layers": [{"layer": i}]}))
        .collect();
    let config = serde_json::to_vec(&json!({"layers": cfg_layers, "records": records})).unwrap();
    let config_digest = sha256(&config);
    let descs: Vec<Value> = layers
        .iter()
        .zip(specs)
        .map(|((d, b), s)| {
            let mut v = json!({"mediaType": GZIP_LAYER, "digest": d, "size": b.len(),
                               "annotations": {"containerd.io/uncompressed": sha256(format!("diff-{d}").as_bytes())}});
            if let Some(t) = &s.annotated {
                v["annotations"]["buildkit/createdat"] = json!(t);
            }
            v
        })
        .collect();
    let config_desc =
        json!({"mediaType": CACHE_CONFIG, "digest": config_digest, "size": config.len()});
    let (media_type, manifest) = match layout {
        CacheLayout::Index => {
            let mut all = descs;
            all.push(config_desc);
            (
                OCI_INDEX,
                json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": all}),
            )
        }
        CacheLayout::ImageManifest => (
            OCI_MANIFEST,
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": descs}),
        ),
    };
    let manifest = serde_json::to_vec(&manifest).unwrap();
    Cache {
        digest: sha256(&manifest),
        manifest,
        media_type,
        config,
        config_digest,
        layers,
        specs: specs.to_vec(),
    }
}

impl Cache {
    /// Pushes blobs, then the manifest under `tag`.
    pub fn push(&self, api: &Api, repo: &str, tag: &str) {
        for (_, b) in &self.layers {
            api.push_blob(repo, b);
        }
        api.push_blob(repo, &self.config);
        let d = api.push_manifest(repo, tag, self.media_type, &self.manifest);
        assert_eq!(d, self.digest);
    }
}

/// An image manifest with an ordinary image config carrying inline cache, as BuildKit
/// writes it (history times, `moby.buildkit.cache.v0` as base64 of a record list).
pub struct InlineImage {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<(String, Vec<u8>)>,
    pub times: Vec<String>,
}

pub fn build_inline_image(seed: &str, sizes: &[usize], times: &[&str]) -> InlineImage {
    let layers: Vec<(String, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let b = layer_bytes(seed, i, *s);
            (sha256(&b), b)
        })
        .collect();
    let records = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&json!([{"digest": sha256(seed.as_bytes())}])).unwrap());
    let history: Vec<Value> = times
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"created": t, "created_by": format!("RUN step {i}")}))
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(d, _)| d).collect::<Vec<_>>()},
        "history": history,
        "moby.buildkit.cache.v0": records,
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(&config), "size": config.len()},
        "layers": layers.iter().map(|(d, b)| json!({"mediaType": GZIP_LAYER, "digest": d, "size": b.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    InlineImage {
        digest: sha256(&manifest),
        manifest,
        config,
        layers,
        times: times.iter().map(|t| t.to_string()).collect(),
    }
}

impl InlineImage {
    pub fn push(&self, api: &Api, repo: &str, reference: &str) {
        for (_, b) in &self.layers {
            api.push_blob(repo, b);
        }
        api.push_blob(repo, &self.config);
        api.push_manifest(repo, reference, OCI_MANIFEST, &self.manifest);
    }
}

/// Overwrites a blob in a registry's storage with other bytes of the same length: the
/// registry serves them under the old digest, as a damaged disk would.
pub fn corrupt_stored_blob(instance: &str, digest: &str) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = storage_dir(instance)
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b' ' { b'\t' } else { b' ' };
    std::fs::write(&path, bytes).unwrap();
}

/// A docker-registry with token auth, and the token service it trusts: the service
/// checks a user and password (or a refresh token) and signs a JWT with a key whose
/// certificate the registry has, as Docker Hub's or GHCR's auth servers do.
pub struct TokenRegistry {
    pub addr: String,
    pub realm: String,
    /// Every token request the service saw: (method, scope, grant).
    pub requests: Arc<Mutex<Vec<(String, String, String)>>>,
    child: Child,
    _dir: tempfile::TempDir,
}

pub const TOKEN_USER: &str = "tokenuser";
pub const TOKEN_PASSWORD: &str = "token-test-password";
pub const REFRESH_TOKEN: &str = "token-test-refresh-token";
const SERVICE: &str = "cachetop-test";
const ISSUER: &str = "cachetop-test-issuer";

impl TokenRegistry {
    pub fn start() -> Self {
        registries(); // installs docker-registry when missing
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=cachetop-test",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(ok.success());
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let key2 = key.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(s) = stream else { continue };
                let _ = serve_token(s, &key2, &x5c, &seen);
            }
        });

        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: cachetop-token\nauth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                dir.path().join("data").display(),
                cert.display()
            ),
        )
        .unwrap();
        let log = dir.path().join("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start docker-registry");
        let mut addr = String::new();
        for _ in 0..100 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(i) = text.find("listening on ") {
                addr = text[i + 13..].split('"').next().unwrap().to_string();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !addr.is_empty(),
            "token registry did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        TokenRegistry {
            addr,
            realm,
            requests,
            child,
            _dir: dir,
        }
    }

    /// A token for pushing test content directly.
    pub fn token(&self, scope: &str) -> String {
        tls_provider();
        let res = reqwest::blocking::Client::new()
            .get(&self.realm)
            .query(&[("scope", scope), ("service", SERVICE)])
            .basic_auth(TOKEN_USER, Some(TOKEN_PASSWORD))
            .send()
            .unwrap();
        let v: Value = res.json().unwrap();
        v["token"].as_str().unwrap().to_string()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// One request to the token service: GET with Basic auth, or POST with a refresh token.
fn serve_token(
    mut s: std::net::TcpStream,
    key: &Path,
    x5c: &str,
    seen: &Mutex<Vec<(String, String, String)>>,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        headers.push(h);
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let query = target
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let params: Vec<(String, String)> = url_pairs(&query)
        .into_iter()
        .chain(url_pairs(&String::from_utf8_lossy(&body)))
        .collect();
    let param = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();

    let basic_ok = header("authorization").is_some_and(|a| {
        a.strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|d| d == format!("{TOKEN_USER}:{TOKEN_PASSWORD}").as_bytes())
    });
    let grant = param("grant_type").unwrap_or_default();
    let refresh_ok = method == "POST"
        && grant == "refresh_token"
        && param("refresh_token").as_deref() == Some(REFRESH_TOKEN);
    seen.lock()
        .unwrap()
        .push((method.clone(), scopes.join(" "), grant.clone()));
    if !(basic_ok || refresh_ok) {
        let body = br#"{"details":"incorrect username or password"}"#;
        write!(
            s,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        s.write_all(body)?;
        return Ok(());
    }
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|sc| {
            let mut it = sc.splitn(3, ':');
            let (t, name, actions) = (it.next()?, it.next()?, it.next()?);
            Some(
                json!({"type": t, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}),
            )
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header_json = json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = json!({"iss": ISSUER, "sub": TOKEN_USER, "aud": SERVICE, "exp": now + 600,
                        "nbf": now - 60, "iat": now - 60, "jti": format!("{now}-{}", scopes.len()),
                        "access": access});
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header_json).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    sign.stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let sig = sign.wait_with_output()?.stdout;
    let token = format!("{signing_input}.{}", b64url(&sig));
    let body =
        serde_json::to_vec(&json!({"token": token, "access_token": token, "expires_in": 600}))
            .unwrap();
    write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(&body)?;
    Ok(())
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `type=local` cache export written as BuildKit writes one: `oci-layout`,
/// `index.json` naming the current cache under a tag, and every blob under
/// `blobs/sha256/`, including those of earlier exports that index.json no longer names.
pub struct LocalExport {
    pub dir: tempfile::TempDir,
}

/// One export into a local cache: the blobs it wrote and its index.json entry.
pub struct Exported {
    pub index_entry: Value,
    /// Every blob the export wrote: layers, then the cache config, then the cache index.
    pub blobs: Vec<String>,
    pub layers: Vec<String>,
}

impl LocalExport {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        LocalExport { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.path()
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    pub fn write_blob(&self, bytes: &[u8]) -> String {
        let d = sha256(bytes);
        std::fs::write(self.blob_path(&d), bytes).unwrap();
        d
    }

    /// Writes one export's blobs (its layers, a cache config and a cache index naming
    /// them, each layer with an optional `buildkit/createdat`) without touching
    /// index.json.
    pub fn export_with(&self, layers: &[(Vec<u8>, Option<&str>)]) -> Exported {
        let mut blobs = Vec::new();
        let mut descs = Vec::new();
        for (bytes, created) in layers {
            let d = self.write_blob(bytes);
            let mut desc = json!({"mediaType": GZIP_LAYER, "digest": d, "size": bytes.len()});
            if let Some(t) = created {
                desc["annotations"] = json!({"buildkit/createdat": t});
            }
            descs.push(desc);
            blobs.push(d);
        }
        let config = serde_json::to_vec(&json!({
            "layers": blobs.iter().map(|d| json!({"blob": d})).collect::<Vec<_>>(),
            "records": []}))
        .unwrap();
        let config_d = self.write_blob(&config);
        descs.push(json!({"mediaType": CACHE_CONFIG, "digest": config_d, "size": config.len()}));
        let index = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}),
        )
        .unwrap();
        let index_d = self.write_blob(&index);
        let layers = blobs.clone();
        blobs.push(config_d);
        blobs.push(index_d.clone());
        Exported {
            index_entry: json!({"mediaType": OCI_INDEX, "digest": index_d, "size": index.len(),
                                "annotations": {"org.opencontainers.image.ref.name": "latest"}}),
            blobs,
            layers,
        }
    }

    /// Points index.json at these exports (BuildKit replaces the entry with the tag).
    pub fn set_index(&self, entries: &[&Exported]) {
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                         "manifests": entries.iter().map(|e| e.index_entry.clone()).collect::<Vec<_>>()});
        std::fs::write(
            self.path().join("index.json"),
            serde_json::to_vec(&idx).unwrap(),
        )
        .unwrap();
    }

    pub fn exists(&self, digest: &str) -> bool {
        self.blob_path(digest).exists()
    }
}

/// reqwest is built without a crypto provider of its own (cachetop installs ring at
/// its first client); the test's own clients install the same one.
pub fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
