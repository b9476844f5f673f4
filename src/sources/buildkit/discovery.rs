//! Which BuildKits to read, found with no configuration: the running
//! `buildx_buildkit_*` containers of the daemon (buildx's docker-container nodes),
//! buildx's own store (to name builders and reach `remote` ones), `BUILDKIT_HOST`, and
//! the addresses given with `--builder`. Deciding is pure ([`plan`]); reading the store
//! and the daemon's containers is bounded in size and time.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::address::{Address, TlsFiles, valid_container_name};
use crate::sources::docker::engine::Engine;
use crate::sources::{ErrorKind, SourceError};

/// buildx's name for the container of a docker-container node: this prefix, then the
/// node's name.
pub const CONTAINER_PREFIX: &str = "buildx_buildkit_";
/// A builder's store file is a few hundred bytes; anything this large is not one.
const MAX_STORE_FILE_BYTES: u64 = 1 << 20;
/// More builders than anyone keeps; the rest of the directory is not read.
const MAX_STORE_FILES: usize = 1000;
const MAX_CONTAINERS_BYTES: u64 = 16 << 20;
// Discovery runs before anything is shown: a daemon that hangs must not hold it long.
const CONTAINERS_TIMEOUT: Duration = Duration::from_secs(5);

/// One builder of buildx's store (`instances/<name>`), as buildx writes it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct StoreBuilder {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "Nodes", default)]
    pub nodes: Option<Vec<StoreNode>>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct StoreNode {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Endpoint", default)]
    pub endpoint: String,
    #[serde(rename = "DriverOpts", default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// One store file, or why it is not a builder.
pub fn parse_store_file(bytes: &[u8]) -> Result<StoreBuilder, String> {
    let b: StoreBuilder = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if b.name.is_empty() {
        return Err("no builder name".to_string());
    }
    Ok(b)
}

/// Where buildx keeps its builders: `$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`,
/// else `~/.docker/buildx` (empty variables are unset, as to buildx).
pub fn store_dir(
    buildx_config: Option<&str>,
    docker_config: Option<&str>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    let set = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(PathBuf::from);
    set(buildx_config)
        .or_else(|| set(docker_config).map(|d| d.join("buildx")))
        .or_else(|| home.map(|h| h.join(".docker").join("buildx")))
}

/// Where a builder to read was found, for the order of sources and for errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// `--builder` or the config file's `builders`.
    Given,
    BuildkitHost,
    /// A running `buildx_buildkit_*` container of the daemon.
    Container,
    /// A `remote` builder of buildx's store.
    Store,
}

/// A BuildKit to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builder {
    pub address: Address,
    /// buildx's name for it, when its store names it.
    pub name: Option<String>,
    pub found: Found,
}

/// What discovery starts from.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The daemon read, if any: docker-container builders are reached through it.
    pub docker_host: Option<String>,
    /// `--builder` addresses and the config's `builders`.
    pub given: Vec<String>,
    /// TLS files for `tcp://` addresses given or from `BUILDKIT_HOST`.
    pub tls: Option<TlsFiles>,
    pub buildkit_host: Option<String>,
    /// Names of the daemon's running containers (without Docker's leading `/`).
    pub containers: Vec<String>,
    pub store: Vec<StoreBuilder>,
}

/// A builder found that cannot be read: its address as found, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unusable {
    pub address: String,
    pub why: String,
}

/// The builders to read, each once, given first. An address given that cannot be
/// used is an error; one found that cannot is returned as [`Unusable`], so the user
/// learns it was not read. The daemon's own BuildKit is never a builder: the daemon's
/// source lists its records (that is no loss, so it is not reported).
pub fn plan(inputs: &Inputs) -> Result<(Vec<Builder>, Vec<Unusable>), SourceError> {
    let docker = inputs.docker_host.as_deref();
    let names = container_builder_names(&inputs.store);
    let mut out: Vec<Builder> = Vec::new();
    let mut skipped: Vec<Unusable> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |b: Builder, out: &mut Vec<Builder>| {
        let uri = b.address.uri();
        if Some(uri.as_str()) != docker && seen.insert(uri) {
            out.push(b);
        }
    };
    let unusable = |address: &str, why: String| Unusable {
        address: address.to_string(),
        why,
    };
    let mut candidates: Vec<(&str, Found)> = Vec::new();
    for addr in &inputs.given {
        candidates.push((addr, Found::Given));
    }
    if let Some(h) = inputs.buildkit_host.as_deref().filter(|h| !h.is_empty()) {
        candidates.push((h, Found::BuildkitHost));
    }
    for (addr, found) in candidates {
        let tls = if addr.starts_with("tcp://") {
            inputs.tls.clone()
        } else {
            None
        };
        if addr.starts_with("docker-container://") && docker.is_none() {
            let why = format!(
                "{addr} is reached through the Docker daemon, which --no-docker leaves out"
            );
            if found == Found::Given {
                return Err(SourceError::new(ErrorKind::Unsupported, why));
            }
            skipped.push(unusable(addr, why));
            continue;
        }
        match Address::parse(addr, docker.unwrap_or_default(), tls) {
            Ok(address) => {
                let name = match &address {
                    Address::DockerContainer { container, .. } => names.get(container).cloned(),
                    _ => None,
                };
                push(
                    Builder {
                        address,
                        name,
                        found,
                    },
                    &mut out,
                );
            }
            Err(e) if found == Found::Given => return Err(e),
            Err(e) => skipped.push(unusable(addr, format!("BUILDKIT_HOST: {}", e.message))),
        }
    }
    if let Some(host) = docker {
        for c in &inputs.containers {
            if !c.starts_with(CONTAINER_PREFIX) || !valid_container_name(c) {
                continue;
            }
            let address = Address::DockerContainer {
                docker_host: host.to_string(),
                container: c.clone(),
            };
            let b = Builder {
                address,
                name: names.get(c).cloned(),
                found: Found::Container,
            };
            push(b, &mut out);
        }
    }
    for group in inputs.store.iter().filter(|g| g.driver == "remote") {
        for node in group.nodes.iter().flatten() {
            match remote_address(node) {
                Ok(address) => push(
                    Builder {
                        address,
                        name: Some(group.name.clone()),
                        found: Found::Store,
                    },
                    &mut out,
                ),
                Err(why) => skipped.push(unusable(
                    &node.endpoint,
                    format!("buildx builder {}: {why}", group.name),
                )),
            }
        }
    }
    Ok((out, skipped))
}

/// Container name -> builder name, for the docker-container builders of the store.
fn container_builder_names(store: &[StoreBuilder]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for g in store.iter().filter(|g| g.driver == "docker-container") {
        for n in g.nodes.iter().flatten().filter(|n| !n.name.is_empty()) {
            out.insert(format!("{CONTAINER_PREFIX}{}", n.name), g.name.clone());
        }
    }
    out
}

/// A `remote` node's endpoint, with the TLS files of its driver options
/// (`cacert`, `cert`, `key`, `servername`).
fn remote_address(node: &StoreNode) -> Result<Address, String> {
    let opts = node.driver_opts.clone().unwrap_or_default();
    let tls = opts.get("cacert").map(|ca| TlsFiles {
        ca: PathBuf::from(ca),
        cert: opts.get("cert").map(PathBuf::from),
        key: opts.get("key").map(PathBuf::from),
        server_name: opts.get("servername").cloned(),
    });
    let tls = tls.filter(|_| node.endpoint.starts_with("tcp://"));
    if node.endpoint.starts_with("docker-container://") {
        return Err("a remote endpoint through a container is not read".to_string());
    }
    Address::parse(&node.endpoint, "", tls).map_err(|e| e.message)
}

/// Every builder of buildx's store at `dir`; files that are not builders are left
/// out. A store that does not exist has none.
pub fn read_store(dir: &Path) -> Vec<StoreBuilder> {
    let Ok(entries) = std::fs::read_dir(dir.join("instances")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten().take(MAX_STORE_FILES) {
        let path = entry.path();
        // Only regular files: never a FIFO or a device someone left there.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let mut bytes = Vec::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_STORE_FILE_BYTES + 1).read_to_end(&mut bytes));
        if read.is_err() || bytes.len() as u64 > MAX_STORE_FILE_BYTES {
            continue;
        }
        if let Ok(b) = parse_store_file(&bytes) {
            out.push(b);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[derive(Deserialize)]
struct ContainerSummary {
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
}

/// The names of the daemon's running containers that buildx would have named.
pub async fn running_builder_containers(docker_host: &str) -> Result<Vec<String>, SourceError> {
    let ask = async {
        let engine = Engine::connect(docker_host).await?;
        // The name filter matches anywhere in the name; the prefix is checked below.
        let path = "/containers/json?filters=%7B%22name%22%3A%5B%22buildx_buildkit_%22%5D%7D";
        engine
            .get_json::<Vec<ContainerSummary>>(path, MAX_CONTAINERS_BYTES)
            .await
    };
    let list = tokio::time::timeout(CONTAINERS_TIMEOUT, ask)
        .await
        .map_err(|_| {
            SourceError::new(
                ErrorKind::NoAnswer,
                format!("the Docker daemon at {docker_host} did not list its containers"),
            )
        })??;
    let mut names: Vec<String> = list
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| n.starts_with(CONTAINER_PREFIX))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "unix:///var/run/docker.sock";

    fn store(json: &str) -> StoreBuilder {
        parse_store_file(json.as_bytes()).unwrap()
    }

    fn ci_store() -> Vec<StoreBuilder> {
        vec![
            store(
                r#"{"Name":"ci","Driver":"docker-container","Nodes":[{"Name":"ci0",
                "Endpoint":"unix:///var/run/docker.sock","Platforms":null,"DriverOpts":null,
                "Flags":null,"Files":null}],"Dynamic":false}"#,
            ),
            store(
                r#"{"Name":"farm","Driver":"remote","Nodes":[{"Name":"farm0",
                "Endpoint":"tcp://10.0.0.5:1234","DriverOpts":{"cacert":"/c/ca.pem",
                "cert":"/c/cert.pem","key":"/c/key.pem","servername":"bk"}}]}"#,
            ),
            store(
                r#"{"Name":"default","Driver":"docker","Nodes":[{"Name":"default","Endpoint":"default"}]}"#,
            ),
        ]
    }

    fn uris(bs: &[Builder]) -> Vec<String> {
        bs.iter().map(|b| b.address.uri()).collect()
    }

    #[test]
    fn the_store_is_where_buildx_keeps_it() {
        let home = Path::new("/home/ci");
        assert_eq!(
            store_dir(Some("/b"), Some("/d"), Some(home)),
            Some("/b".into())
        );
        assert_eq!(
            store_dir(Some(""), Some("/d"), Some(home)),
            Some("/d/buildx".into())
        );
        assert_eq!(
            store_dir(None, None, Some(home)),
            Some("/home/ci/.docker/buildx".into())
        );
        assert_eq!(store_dir(None, None, None), None);
    }

    #[test]
    fn store_files_parse_as_buildx_writes_them() {
        let s = ci_store();
        assert_eq!(s[0].name, "ci");
        assert_eq!(s[0].nodes.as_ref().unwrap()[0].name, "ci0");
        assert_eq!(
            s[1].nodes.as_ref().unwrap()[0]
                .driver_opts
                .as_ref()
                .unwrap()["cacert"],
            "/c/ca.pem"
        );
        for bad in ["", "[]", "{\"Driver\":\"remote\"}", "{\"Name\":", "null"] {
            assert!(parse_store_file(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn running_containers_are_named_by_the_store_and_remote_builders_reached() {
        let inputs = Inputs {
            docker_host: Some(DOCKER.into()),
            containers: vec![
                "buildx_buildkit_ci0".into(),
                "buildx_buildkit_gone0".into(),
                "web".into(),
                "buildx_buildkit_../x".into(),
            ],
            store: ci_store(),
            ..Default::default()
        };
        let (bs, skipped) = plan(&inputs).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            uris(&bs),
            [
                "docker-container://buildx_buildkit_ci0",
                "docker-container://buildx_buildkit_gone0",
                "tcp://10.0.0.5:1234",
            ]
        );
        assert_eq!(bs[0].name.as_deref(), Some("ci"));
        assert_eq!(bs[1].name, None);
        assert_eq!(bs[2].name.as_deref(), Some("farm"));
        let Address::Tcp { tls: Some(tls), .. } = &bs[2].address else {
            panic!("{:?}", bs[2].address)
        };
        assert_eq!(tls.server_name.as_deref(), Some("bk"));
        assert_eq!(tls.key, Some("/c/key.pem".into()));
    }

    #[test]
    fn given_builders_come_first_and_each_builder_once() {
        let inputs = Inputs {
            docker_host: Some(DOCKER.into()),
            given: vec![
                "docker-container://buildx_buildkit_ci0".into(),
                "unix:///run/buildkit/buildkitd.sock".into(),
            ],
            buildkit_host: Some("unix:///run/buildkit/buildkitd.sock".into()),
            containers: vec!["buildx_buildkit_ci0".into()],
            store: ci_store(),
            ..Default::default()
        };
        let (bs, _) = plan(&inputs).unwrap();
        assert_eq!(
            uris(&bs),
            [
                "docker-container://buildx_buildkit_ci0",
                "unix:///run/buildkit/buildkitd.sock",
                "tcp://10.0.0.5:1234",
            ]
        );
        assert_eq!(bs[0].found, Found::Given);
        assert_eq!(bs[0].name.as_deref(), Some("ci"));
    }

    #[test]
    fn the_daemons_own_buildkit_is_never_a_builder() {
        let inputs = Inputs {
            docker_host: Some("unix:///tmp/d.sock".into()),
            buildkit_host: Some("unix:///tmp/d.sock".into()),
            ..Default::default()
        };
        let (bs, skipped) = plan(&inputs).unwrap();
        assert!(bs.is_empty());
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn without_the_daemon_only_what_stands_alone_is_read() {
        let inputs = Inputs {
            docker_host: None,
            buildkit_host: Some("tcp://127.0.0.1:1234".into()),
            containers: vec!["buildx_buildkit_ci0".into()],
            store: ci_store(),
            ..Default::default()
        };
        let (bs, _) = plan(&inputs).unwrap();
        assert_eq!(uris(&bs), ["tcp://127.0.0.1:1234", "tcp://10.0.0.5:1234"]);
        let given = Inputs {
            given: vec!["docker-container://buildx_buildkit_ci0".into()],
            ..Default::default()
        };
        let e = plan(&given).unwrap_err();
        assert!(e.message.contains("--no-docker"), "{}", e.message);
    }

    #[test]
    fn a_bad_given_address_is_an_error_a_bad_found_one_is_skipped() {
        let given = Inputs {
            given: vec!["ssh://ci@host".into()],
            ..Default::default()
        };
        assert!(plan(&given).unwrap_err().message.contains("ssh://ci@host"));
        let env = Inputs {
            buildkit_host: Some("kube-pod://bk".into()),
            ..Default::default()
        };
        let (bs, skipped) = plan(&env).unwrap();
        assert!(bs.is_empty());
        assert_eq!(skipped[0].address, "kube-pod://bk");
        assert!(skipped[0].why.starts_with("BUILDKIT_HOST"), "{skipped:?}");
    }

    #[test]
    fn tls_files_go_to_tcp_addresses_only() {
        let tls = TlsFiles {
            ca: "/t/ca.pem".into(),
            cert: None,
            key: None,
            server_name: None,
        };
        let inputs = Inputs {
            given: vec!["unix:///b.sock".into(), "tcp://127.0.0.1:9".into()],
            tls: Some(tls.clone()),
            ..Default::default()
        };
        let (bs, _) = plan(&inputs).unwrap();
        assert_eq!(bs[0].address, Address::Unix("/b.sock".into()));
        assert_eq!(
            bs[1].address,
            Address::Tcp {
                authority: "127.0.0.1:9".into(),
                tls: Some(tls)
            }
        );
    }

    #[test]
    fn the_store_is_read_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_store(dir.path()).is_empty());
        let inst = dir.path().join("instances");
        std::fs::create_dir(&inst).unwrap();
        std::fs::write(
            inst.join("ci"),
            r#"{"Name":"ci","Driver":"docker-container"}"#,
        )
        .unwrap();
        std::fs::write(inst.join("junk"), "not json").unwrap();
        let mut big = br#"{"Name":"big","Driver":"remote","x":""#.to_vec();
        big.resize(MAX_STORE_FILE_BYTES as usize + 10, b'a');
        std::fs::write(inst.join("big"), big).unwrap();
        std::fs::create_dir(inst.join("dir")).unwrap();
        let found = read_store(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "ci");
    }
}
