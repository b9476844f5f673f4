//! Docker contexts, read as the docker CLI stores them: the current context's name in
//! `$DOCKER_CONFIG/config.json` (`currentContext`), each context's endpoint in
//! `contexts/meta/<sha256 of its name>/meta.json` (`Endpoints.docker.Host`,
//! `SkipTLSVerify`), and its TLS files in `contexts/tls/<sha256>/docker/`
//! (`ca.pem`, `cert.pem`, `key.pem`). Every file is read up to a bound; nothing from
//! them is shown but the context's name and its host address.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::dial::DockerHost;
use crate::sources::buildkit::TlsFiles;

/// The context that means "no context": the usual default daemon.
pub const DEFAULT_CONTEXT: &str = "default";
/// `config.json` holds auths and settings: a few KiB; `meta.json` a few hundred bytes.
const MAX_JSON_BYTES: u64 = 1 << 20;

/// Why a context cannot be used; the message names the context and the file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ContextError(pub String);

/// The directory a context's files are under: the sha256 of its name, in hex.
pub fn dir_name(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// `currentContext` of a `config.json`, when it names one.
pub fn current_context(config_json: &[u8]) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current: Option<String>,
    }
    let c: Config = serde_json::from_slice(config_json).map_err(|e| e.to_string())?;
    Ok(c.current.filter(|n| !n.is_empty()))
}

/// What a context's `meta.json` says about its Docker endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub host: String,
    pub skip_tls_verify: bool,
}

/// Parses a `meta.json`; `name` must be the name it was found by.
pub fn parse_meta(json: &[u8], name: &str) -> Result<Meta, String> {
    #[derive(Deserialize)]
    struct File {
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "Endpoints", default)]
        endpoints: Endpoints,
    }
    #[derive(Deserialize, Default)]
    struct Endpoints {
        docker: Option<Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(rename = "Host", default)]
        host: String,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }
    let f: File = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    if f.name != name {
        return Err("it belongs to another context".to_string());
    }
    let docker = f
        .endpoints
        .docker
        .ok_or_else(|| "it has no docker endpoint".to_string())?;
    if docker.host.is_empty() {
        return Err("its docker endpoint has no Host".to_string());
    }
    Ok(Meta {
        host: docker.host,
        skip_tls_verify: docker.skip_tls_verify,
    })
}

/// The context's TLS files, from which of `ca.pem`, `cert.pem`, `key.pem` exist in its
/// TLS directory; `None` when it has no CA (docker then speaks plain tcp).
pub fn tls_files(tls_dir: &Path, present: impl Fn(&Path) -> bool) -> Option<TlsFiles> {
    let file = |n: &str| Some(tls_dir.join(n)).filter(|p| present(p));
    let ca = file("ca.pem")?;
    let (cert, key) = match (file("cert.pem"), file("key.pem")) {
        (Some(c), Some(k)) => (Some(c), Some(k)),
        _ => (None, None),
    };
    Some(TlsFiles {
        ca,
        cert,
        key,
        server_name: None,
    })
}

/// The name of the current context from `$DOCKER_CONFIG/config.json`, when it exists
/// and names one.
pub fn read_current(docker_config: &Path) -> Result<Option<String>, ContextError> {
    let path = docker_config.join("config.json");
    let bytes = match read_bounded(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ContextError(format!("cannot read {}: {e}", path.display()))),
    };
    current_context(&bytes).map_err(|e| {
        ContextError(format!(
            "{} is not docker's config.json: {e}",
            path.display()
        ))
    })
}

/// The daemon the context `name` points at; `None` for the `default` context.
pub fn load(docker_config: &Path, name: &str) -> Result<Option<DockerHost>, ContextError> {
    if name == DEFAULT_CONTEXT {
        return Ok(None);
    }
    let contexts = docker_config.join("contexts");
    let meta_path = contexts.join("meta").join(dir_name(name)).join("meta.json");
    let bytes = read_bounded(&meta_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ContextError(format!(
                "there is no docker context {name:?} in {} (docker context ls lists them)",
                contexts.display()
            ))
        } else {
            ContextError(format!(
                "cannot read docker context {name:?} ({}): {e}",
                meta_path.display()
            ))
        }
    })?;
    let meta = parse_meta(&bytes, name).map_err(|why| {
        ContextError(format!(
            "docker context {name:?} cannot be used: {} is not a context's meta.json: {why}",
            meta_path.display()
        ))
    })?;
    if meta.skip_tls_verify {
        return Err(ContextError(format!(
            "docker context {name:?} skips verifying the daemon's TLS certificate, which \
             cachetop never does; give the context the CA (docker context update {name} \
             --docker \"host=...,ca=...\")"
        )));
    }
    let tls_dir = contexts.join("tls").join(dir_name(name)).join("docker");
    let tls = if meta.host.starts_with("tcp://") {
        tls_files(&tls_dir, |p| p.is_file())
    } else {
        None
    };
    Ok(Some(DockerHost {
        url: meta.host,
        tls,
        context: Some(name.to_string()),
    }))
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut buf = Vec::new();
    f.take(MAX_JSON_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_JSON_BYTES {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    Ok(buf)
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(docker_config: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    match docker_config.filter(|d| !d.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => home.map(|h| h.join(".docker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_directories_are_the_sha256_of_the_name() {
        // As `docker context create ci-east` names it (sha256 of "ci-east").
        assert_eq!(dir_name("default").len(), 64);
        assert_eq!(
            dir_name("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_current_context_comes_from_config_json() {
        assert_eq!(
            current_context(br#"{"auths":{},"currentContext":"ci-east"}"#).unwrap(),
            Some("ci-east".into())
        );
        assert_eq!(current_context(br#"{"auths":{}}"#).unwrap(), None);
        assert_eq!(current_context(br#"{"currentContext":""}"#).unwrap(), None);
        assert!(current_context(b"not json").is_err());
    }

    #[test]
    fn meta_json_gives_the_docker_endpoint() {
        let json = br#"{"Name":"ci-east","Metadata":{"Description":"x"},
            "Endpoints":{"docker":{"Host":"ssh://ci@east","SkipTLSVerify":false}}}"#;
        assert_eq!(
            parse_meta(json, "ci-east").unwrap(),
            Meta {
                host: "ssh://ci@east".into(),
                skip_tls_verify: false
            }
        );
        assert!(parse_meta(json, "other").is_err());
        assert!(parse_meta(br#"{"Name":"a","Endpoints":{}}"#, "a").is_err());
        assert!(parse_meta(br#"{"Name":"a","Endpoints":{"docker":{}}}"#, "a").is_err());
    }

    #[test]
    fn tls_needs_a_ca_and_uses_a_client_pair_only_whole() {
        let dir = Path::new("/ctx/tls/x/docker");
        let all = tls_files(dir, |_| true).unwrap();
        assert_eq!(all.ca, dir.join("ca.pem"));
        assert_eq!(all.cert, Some(dir.join("cert.pem")));
        assert_eq!(all.key, Some(dir.join("key.pem")));
        let ca_only = tls_files(dir, |p| !p.ends_with("key.pem")).unwrap();
        assert_eq!(ca_only.cert, None);
        assert_eq!(ca_only.key, None);
        assert_eq!(tls_files(dir, |p| !p.ends_with("ca.pem")), None);
    }

    #[test]
    fn contexts_load_from_a_store_as_docker_writes_it() {
        let d = tempfile::tempdir().unwrap();
        let meta = d.path().join("contexts/meta").join(dir_name("ci"));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"ci","Endpoints":{"docker":{"Host":"tcp://h:2376"}}}"#,
        )
        .unwrap();
        let tls = d
            .path()
            .join("contexts/tls")
            .join(dir_name("ci"))
            .join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let h = load(d.path(), "ci").unwrap().unwrap();
        assert_eq!(h.url, "tcp://h:2376");
        assert_eq!(h.context.as_deref(), Some("ci"));
        assert_eq!(h.tls.unwrap().ca, tls.join("ca.pem"));

        assert_eq!(load(d.path(), "default").unwrap(), None);
        let e = load(d.path(), "nope").unwrap_err();
        assert!(e.0.contains("no docker context \"nope\""), "{e}");

        std::fs::write(d.path().join("config.json"), r#"{"currentContext":"ci"}"#).unwrap();
        assert_eq!(read_current(d.path()).unwrap().as_deref(), Some("ci"));
        assert_eq!(read_current(&d.path().join("none")).unwrap(), None);
    }

    #[test]
    fn a_context_that_skips_verification_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let meta = d.path().join("contexts/meta").join(dir_name("lax"));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"lax","Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":true}}}"#,
        )
        .unwrap();
        let e = load(d.path(), "lax").unwrap_err();
        assert!(e.0.contains("skips verifying"), "{e}");
    }

    #[test]
    fn the_store_is_docker_config_else_home() {
        assert_eq!(
            config_dir(Some("/c"), Some(Path::new("/h"))),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            config_dir(None, Some(Path::new("/h"))),
            Some(PathBuf::from("/h/.docker"))
        );
        assert_eq!(
            config_dir(Some(""), Some(Path::new("/h"))),
            Some(PathBuf::from("/h/.docker"))
        );
    }
}
