//! Cache-mount ids from BuildKit's own metadata. dockerd 20.10's BuildKit leaves
//! ` with id "<id>"` out of a record's description, so two mounts of `/build/target`
//! with `id=target-api` and `id=target-web` look the same; the metadata store
//! (`<DockerRootDir>/buildkit/metadata_v2.db`, a bbolt file) still has it, as the
//! record's `cache-dir:<id>` index.
//!
//! Layout (BuildKit's `cache/metadata`): bucket `_main` holds one bucket per record id
//! with its values (JSON `{"value": ..., "index": ...}`), and bucket `_index` one key
//! `<index>::<record id>` per indexed value. The cache-dir index is `cache-dir:<key>`,
//! where the key is the mount's LLB cache id, followed by `:<record id>` when the mount
//! is based on another record (`from=`). BuildKit 0.8 stores the value under the key
//! `cache-dir:<key>`, later ones under `cache-dir`; both carry the index.
//!
//! The file is read once, read-only, without its lock (dockerd holds it) and never
//! written. An id is reported only when the index and the record's own value agree.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::bolt::{Bolt, BoltError, Root, Value};

/// Where dockerd keeps its BuildKit's metadata, under its root directory.
pub const METADATA_FILE: &str = "buildkit/metadata_v2.db";
/// Some 10 KiB a record: this fits about 100,000.
pub const MAX_METADATA_BYTES: u64 = 1 << 30;
const INDEX_PREFIX: &str = "cache-dir:";
const INDEX_SEPARATOR: &str = "::";

/// A cache mount's id as BuildKit keys it: the LLB id. The Dockerfile frontend makes
/// it `<namespace>/<id>` with an empty namespace by default, so `id=target-api` is
/// `/target-api` and a mount without an id, keyed by its target `/root/.npm`, is
/// `//root/.npm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheId {
    pub llb: String,
}

impl CacheId {
    /// The id as written in the Dockerfile (`target-api`; `/root/.npm` when none was
    /// given): the LLB id without the frontend's `/`.
    pub fn dockerfile(&self) -> &str {
        self.llb.strip_prefix('/').unwrap_or(&self.llb)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read BuildKit's metadata {}: {why}", path.display())]
pub struct MetadataError {
    pub path: PathBuf,
    pub why: String,
    /// The file is not there (no BuildKit state yet, or another layout).
    pub not_found: bool,
}

/// `<root_dir>/buildkit/metadata_v2.db`.
pub fn metadata_path(docker_root_dir: &Path) -> PathBuf {
    docker_root_dir.join(METADATA_FILE)
}

/// The cache id of every cache-mount record in the metadata file at `path`, by record
/// id. A file that changed while it was read is read once more.
pub fn read_cache_ids(path: &Path) -> Result<HashMap<String, CacheId>, MetadataError> {
    let fail = |why: String, not_found: bool| MetadataError {
        path: path.to_path_buf(),
        why,
        not_found,
    };
    let mut last = None;
    for _ in 0..2 {
        let data = read_bounded(path).map_err(|e| {
            let not_found = e.kind() == std::io::ErrorKind::NotFound;
            fail(e.to_string(), not_found)
        })?;
        match cache_ids_in(data) {
            Ok(ids) => return Ok(ids),
            Err(e) => last = Some(e),
        }
    }
    Err(fail(
        last.map_or_else(String::new, |e| e.to_string()),
        false,
    ))
}

/// The same, from the bytes of a metadata file.
pub fn cache_ids_in(data: Vec<u8>) -> Result<HashMap<String, CacheId>, BoltError> {
    let db = Bolt::parse(data)?;
    let (Some(main), Some(index)) = (
        db.bucket(db.root(), b"_main")?,
        db.bucket(db.root(), b"_index")?,
    ) else {
        // A store with no records yet has neither bucket.
        return Ok(HashMap::new());
    };
    let mut records: HashMap<&[u8], Root> = HashMap::new();
    db.for_each(main, &mut |key, value| {
        if let Value::Bucket(root) = value {
            records.insert(key, root);
        }
        Ok(())
    })?;
    let mut index_keys: Vec<&[u8]> = Vec::new();
    db.for_each(index, &mut |key, _| {
        if key.starts_with(INDEX_PREFIX.as_bytes()) {
            index_keys.push(key);
        }
        Ok(())
    })?;
    let mut indexes_of: HashMap<&str, HashSet<String>> = HashMap::new();
    for key in &index_keys {
        let Some((_, record)) = split_index_key(key) else {
            continue;
        };
        if indexes_of.contains_key(record) {
            continue;
        }
        let Some(&root) = records.get(record.as_bytes()) else {
            continue;
        };
        indexes_of.insert(record, record_indexes(&db, root)?);
    }
    Ok(map_cache_ids(
        index_keys.iter().copied(),
        |id| records.contains_key(id.as_bytes()),
        |record, index| indexes_of.get(record).is_some_and(|s| s.contains(index)),
    ))
}

/// The pure part: record id → cache id from the `_index` keys. `is_record` says which
/// record ids exist; `confirms` whether a record's own values carry an index. A record
/// with two different cache ids gets none: cachetop never guesses.
pub(crate) fn map_cache_ids<'a>(
    index_keys: impl IntoIterator<Item = &'a [u8]>,
    is_record: impl Fn(&str) -> bool,
    confirms: impl Fn(&str, &str) -> bool,
) -> HashMap<String, CacheId> {
    let mut found: HashMap<String, Option<CacheId>> = HashMap::new();
    for key in index_keys {
        let Some((index, record)) = split_index_key(key) else {
            continue;
        };
        let Some(cache_key) = index.strip_prefix(INDEX_PREFIX) else {
            continue;
        };
        if !is_record(record) || !confirms(record, index) {
            continue;
        }
        // `<id>:<base record>` for a mount based on another record.
        let llb = match cache_key.rsplit_once(':') {
            Some((id, base)) if is_record(base) && !id.is_empty() => id,
            _ => cache_key,
        };
        let id = CacheId {
            llb: llb.to_string(),
        };
        found
            .entry(record.to_string())
            .and_modify(|seen| {
                if seen.as_ref() != Some(&id) {
                    *seen = None;
                }
            })
            .or_insert(Some(id));
    }
    found
        .into_iter()
        .filter_map(|(record, id)| Some((record, id?)))
        .collect()
}

/// `<index>::<record id>`, split at the last separator (record ids have none).
fn split_index_key(key: &[u8]) -> Option<(&str, &str)> {
    let key = std::str::from_utf8(key).ok()?;
    let (index, record) = key.rsplit_once(INDEX_SEPARATOR)?;
    (!record.is_empty()).then_some((index, record))
}

/// The indexes a record's own values carry.
fn record_indexes(db: &Bolt, root: Root) -> Result<HashSet<String>, BoltError> {
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        index: String,
    }
    let mut out = HashSet::new();
    db.for_each(root, &mut |key, value| {
        if key.starts_with(b"cache-dir")
            && let Value::Data(bytes) = value
            && let Ok(stored) = serde_json::from_slice::<Stored>(bytes)
            && !stored.index.is_empty()
        {
            out.insert(stored.index);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The whole file, read-only and without its lock, refused beyond the cap.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_METADATA_BYTES {
        return Err(std::io::Error::other(format!(
            "{len} bytes, more than the {} MiB cachetop reads",
            MAX_METADATA_BYTES >> 20
        )));
    }
    let mut data = Vec::with_capacity(len as usize);
    file.take(MAX_METADATA_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_METADATA_BYTES {
        return Err(std::io::Error::other(format!(
            "it grew past the {} MiB cachetop reads",
            MAX_METADATA_BYTES >> 20
        )));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::super::bolt::build::*;
    use super::*;

    const A: &str = "hazduswkg09c5e0sjfmfxahl5";
    const B: &str = "acc1rhpmc869vznqr1pai0t5q";
    const BASE: &str = "vum74tm2zqolv1ge9g9yl4btn";

    fn keys(ks: &[&str]) -> Vec<Vec<u8>> {
        ks.iter().map(|k| k.as_bytes().to_vec()).collect()
    }

    fn map(ks: &[&str], records: &[&str]) -> HashMap<String, CacheId> {
        let ks = keys(ks);
        map_cache_ids(
            ks.iter().map(|k| k.as_slice()),
            |r| records.contains(&r),
            |_, _| true,
        )
    }

    #[test]
    fn index_keys_give_each_record_its_cache_id() {
        let m = map(
            &[
                &format!("cache-dir:/target-api::{A}"),
                &format!("cache-dir:/target-web::{B}"),
                &format!("chainid:sha256:4edc::{BASE}"),
            ],
            &[A, B, BASE],
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[A].llb, "/target-api");
        assert_eq!(m[A].dockerfile(), "target-api");
        assert_eq!(m[B].dockerfile(), "target-web");
    }

    #[test]
    fn a_mount_without_an_id_is_keyed_by_its_target() {
        let m = map(&[&format!("cache-dir://root/.npm::{A}")], &[A]);
        assert_eq!(m[A].llb, "//root/.npm");
        assert_eq!(m[A].dockerfile(), "/root/.npm");
    }

    #[test]
    fn a_mount_based_on_a_record_loses_the_base_suffix() {
        let m = map(&[&format!("cache-dir:/cargo:{BASE}::{A}")], &[A, BASE]);
        assert_eq!(m[A].llb, "/cargo");
        // A colon in the id itself stays when what follows is no record.
        let m = map(&[&format!("cache-dir:/a:b::{A}")], &[A]);
        assert_eq!(m[A].llb, "/a:b");
    }

    #[test]
    fn nothing_is_invented() {
        // Deleted records, unconfirmed values, conflicting ids, malformed keys.
        assert!(map(&[&format!("cache-dir:/x::{A}")], &[]).is_empty());
        let ks = keys(&[&format!("cache-dir:/x::{A}")]);
        assert!(map_cache_ids(ks.iter().map(|k| k.as_slice()), |_| true, |_, _| false).is_empty());
        assert!(
            map(
                &[&format!("cache-dir:/x::{A}"), &format!("cache-dir:/y::{A}")],
                &[A]
            )
            .is_empty()
        );
        assert!(map(&["cache-dir:/x", "cache-dir:/x::", "\u{ff}::a"], &["a"]).is_empty());
    }

    fn record(id: &str, key: &str, index: &str) -> Item {
        bucket(
            id,
            vec![data(
                key,
                &format!(r#"{{"value":"{index}","index":"{index}"}}"#),
            )],
        )
    }

    #[test]
    fn both_storage_layouts_are_read() {
        // BuildKit 0.8 keys the value `cache-dir:<id>`; later ones `cache-dir`.
        let f = file(
            &[
                bucket(
                    "_index",
                    vec![
                        data(&format!("cache-dir:/target-api::{A}"), ""),
                        data(&format!("cache-dir:/target-web::{B}"), ""),
                    ],
                ),
                bucket(
                    "_main",
                    vec![
                        record(A, "cache-dir:/target-api", "cache-dir:/target-api"),
                        record(B, "cache-dir", "cache-dir:/target-web"),
                    ],
                ),
            ],
            &[],
        );
        let m = cache_ids_in(f).unwrap();
        assert_eq!(m[A].dockerfile(), "target-api");
        assert_eq!(m[B].dockerfile(), "target-web");
    }

    #[test]
    fn an_index_the_record_does_not_carry_is_ignored() {
        let f = file(
            &[
                bucket("_index", vec![data(&format!("cache-dir:/stale::{A}"), "")]),
                bucket("_main", vec![record(A, "cache-dir", "cache-dir:/other")]),
            ],
            &[],
        );
        assert!(cache_ids_in(f).unwrap().is_empty());
    }

    #[test]
    fn an_empty_store_has_no_ids() {
        assert!(cache_ids_in(file(&[], &[])).unwrap().is_empty());
    }

    #[test]
    fn files_are_read_bounded_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("metadata_v2.db");
        let e = read_cache_ids(&missing).unwrap_err();
        assert!(e.not_found);
        assert!(e.to_string().contains("metadata_v2.db"), "{e}");
        let big = dir.path().join("big.db");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(MAX_METADATA_BYTES + 1)
            .unwrap();
        let e = read_cache_ids(&big).unwrap_err();
        assert!(e.why.contains("1024 MiB"), "{e}");
        assert_eq!(
            metadata_path(Path::new("/var/lib/docker")),
            Path::new("/var/lib/docker/buildkit/metadata_v2.db")
        );
    }
}
