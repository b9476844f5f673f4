//! A BuildKit `cache-to type=local` export: an OCI layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`). Every committed blob is an entry; a blob nothing in `index.json`
//! reaches is orphaned. Only orphaned blobs are ever deleted, one file at a time,
//! under BuildKit's `index.json.lock` and after walking the graph again, by a
//! descriptor walk that never follows a link. An export whose path reaches it through
//! a link or `..`, or whose blob store (`blobs/`, `blobs/<alg>`) is a link into a
//! store other exports may share, is listed but never deleted in, and a linked store
//! is never looked at for orphans.

pub(crate) mod blobs;
pub(crate) mod graph;
pub(crate) mod lock;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::json;

use self::blobs::{BlobFile, ingests, map_blobs};
use self::graph::{MAX_METADATA_BYTES, Reached, walk};
use self::lock::{IndexLock, Mode};
use crate::model::{DeleteRefusal, Entry, Flag, Origin, RefusalKind, SourceKind, SourceRef};
use crate::safe_remove::{NoFollowDir, SafeRemoveError};
use crate::sources::dir::{guard, protect};
use crate::sources::oci::Digest;
use crate::sources::oci::media::short_name;
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError, shell_quote};
use crate::units::format_size;

pub const KIND_BLOB: &str = "local.blob";
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// True for a directory with `oci-layout` and `index.json`: a `type=local` export.
pub fn is_oci_layout(dir: &Path) -> bool {
    dir.join("oci-layout").is_file() && dir.join(graph::INDEX_JSON).is_file()
}

/// Why a directory is not an export, for the usage error.
pub fn why_not_an_export(dir: &Path) -> String {
    if !dir.is_dir() {
        format!("--dir {}: no such directory", dir.display())
    } else if dir.join("oci-layout").is_file() {
        format!(
            "--dir {}: has oci-layout but no index.json; a type=local cache export writes \
             index.json last, so an export may not have finished",
            dir.display()
        )
    } else {
        format!(
            "--dir {}: not a type=local cache export (no oci-layout and index.json)",
            dir.display()
        )
    }
}

pub struct LocalExportSource {
    sref: SourceRef,
    root: PathBuf,
    /// index.json's bytes and the digests they reach: blobs are content-addressed, so
    /// the same index.json always reaches the same blobs.
    reached: Arc<ReachedCache>,
}

impl LocalExportSource {
    /// `root` as given, made absolute (nothing resolved).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Self {
            sref: SourceRef::new(SourceKind::Dir, root.to_string_lossy()),
            root,
            reached: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[async_trait]
impl Source for LocalExportSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let (root, sref) = (self.root.clone(), self.sref.clone());
        tokio::task::spawn_blocking(move || read_export(&root, &sref, SystemTime::now()))
            .await
            .map_err(|e| {
                SourceError::new(ErrorKind::Other, format!("listing {}: {e}", self.sref.name))
            })?
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        if let Some(r) = entry.origin.delete_refusal() {
            return Err(SourceError::new(ErrorKind::Refused, &r.message));
        }
        let (root, id, cache) = (self.root.clone(), entry.id.clone(), self.reached.clone());
        tokio::task::spawn_blocking(move || delete_orphan(&root, &id, &cache))
            .await
            .map_err(|e| {
                SourceError::new(ErrorKind::Other, format!("deleting {}: {e}", entry.id))
            })?
    }
}

/// Checks `oci-layout` and reads `index.json` under a shared lock.
fn read_index(root: &Path, mode: Mode) -> Result<(Vec<u8>, Option<IndexLock>), SourceError> {
    let layout_path = root.join("oci-layout");
    let layout =
        std::fs::read(&layout_path).map_err(|e| io_error(&layout_path, &e, "an OCI layout"))?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Layout {
        image_layout_version: Option<String>,
    }
    match serde_json::from_slice::<Layout>(&layout) {
        Ok(Layout {
            image_layout_version: Some(_),
        }) => {}
        _ => {
            return Err(SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{} is not an OCI layout file (expected {{\"imageLayoutVersion\": \"1.0.0\"}})",
                    layout_path.display()
                ),
            ));
        }
    }
    let lock = IndexLock::acquire(root, mode, LOCK_WAIT)?;
    let index_path = root.join(graph::INDEX_JSON);
    let bytes = read_limited(&index_path)
        .map_err(|e| io_error(&index_path, &e, "a type=local cache export"))?;
    Ok((bytes, lock))
}

fn io_error(path: &Path, e: &std::io::Error, what: &str) -> SourceError {
    match e.kind() {
        std::io::ErrorKind::NotFound => SourceError::new(
            ErrorKind::NotFound,
            format!(
                "{} is missing: {} is not {what} (BuildKit writes index.json last; if an export \
                 is running, wait for it)",
                path.display(),
                path.parent().unwrap_or(path).display()
            ),
        ),
        std::io::ErrorKind::PermissionDenied => SourceError::new(
            ErrorKind::PermissionDenied,
            format!(
                "cannot read {}: permission denied (run as its owner, or with sudo)",
                path.display()
            ),
        ),
        _ => SourceError::new(
            ErrorKind::Other,
            format!("cannot read {}: {e}", path.display()),
        ),
    }
}

/// Reads a metadata file, refusing one too large to be metadata.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > MAX_METADATA_BYTES {
        return Err(std::io::Error::other(format!(
            "{len} bytes is too large for a manifest or index ({MAX_METADATA_BYTES} at most)"
        )));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// The first level of the blob store that is a symlink (`blobs/`, then
/// `blobs/sha256` and `blobs/sha512`), and where it points.
fn linked_store(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let blobs = root.join("blobs");
    ["", "sha256", "sha512"].into_iter().find_map(|alg| {
        let at = if alg.is_empty() {
            blobs.clone()
        } else {
            blobs.join(alg)
        };
        let md = std::fs::symlink_metadata(&at).ok()?;
        md.file_type()
            .is_symlink()
            .then(|| (at.clone(), std::fs::read_link(&at).unwrap_or_default()))
    })
}

/// Why nothing in this export may be deleted, if so: its path goes through a link or
/// `..`, or its blob store is a link (into a store another export may share, whose
/// live blobs would look orphaned from here).
fn export_refusal(root: &Path) -> Option<DeleteRefusal> {
    if let Some(how) = guard::indirect(root) {
        let real = std::fs::canonicalize(root).ok();
        return Some(DeleteRefusal {
            kind: RefusalKind::Indirect,
            message: protect::indirect_message(root, &how, real.as_deref(), None),
        });
    }
    linked_store(root).map(|(at, target)| DeleteRefusal {
        kind: RefusalKind::Indirect,
        message: format!(
            "refusing to delete in {}: {} is a symlink to {}, a blob store other exports may \
             share, whose live blobs would look orphaned from here; cachetop never looks for \
             orphans or deletes through a link",
            root.display(),
            at.display(),
            target.display()
        ),
    })
}

fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs").join(d.algorithm()).join(d.hex())
}

/// Walks the graph from `index_json`, reading manifests from `root`.
fn walk_export(root: &Path, index_json: &[u8]) -> Result<graph::Graph, SourceError> {
    let mut read = |d: &Digest| match read_limited(&blob_path(root, d)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    walk(index_json, &mut read).map_err(|e| {
        let kind = match e {
            graph::WalkError::Io { .. } => ErrorKind::Other,
            _ => ErrorKind::Malformed,
        };
        SourceError::new(kind, format!("{}: {e}", root.display()))
    })
}

fn read_export(root: &Path, sref: &SourceRef, now: SystemTime) -> Result<Listing, SourceError> {
    let (index_json, lock) = read_index(root, Mode::Shared)?;
    drop(lock);
    let g = walk_export(root, &index_json)?;
    let root_text = root.to_string_lossy();
    let store_link = linked_store(root);
    let refusal = export_refusal(root);
    let (mut entries, skipped) = map_blobs(root, |b| {
        let reached = g.reached.get(b.digest.as_str());
        let mut e = blob_entry(b, reached, &root_text, sref);
        e.origin = Origin::LocalExport {
            refusal: refusal.clone(),
        };
        e
    })
    .map_err(|e| io_error(&root.join("blobs"), &e, "a type=local cache export"))?;
    // Through a linked store, a blob this index.json does not reach may be another
    // export's live blob: only the reached ones are this export's to list.
    let mut not_checked = 0usize;
    if store_link.is_some() {
        let before = entries.len();
        entries.retain(|e| !e.has(Flag::Orphaned));
        not_checked = before - entries.len();
    }
    let ing = ingests(root, now).unwrap_or_default();

    // Only live blobs can satisfy a reference: a set of those is small.
    let present: HashSet<&str> = entries
        .iter()
        .filter(|e| !e.has(Flag::Orphaned))
        .map(|e| e.id.as_str())
        .collect();
    let mut missing: Vec<&String> = g
        .reached
        .keys()
        .filter(|d| !present.contains(d.as_str()))
        .collect();
    missing.sort();

    let (mut live, mut live_bytes, mut orphaned, mut orphaned_bytes) = (0usize, 0u64, 0usize, 0u64);
    for e in &entries {
        if e.has(Flag::Orphaned) {
            orphaned += 1;
            orphaned_bytes += e.size_bytes;
        } else {
            live += 1;
            live_bytes += e.size_bytes;
        }
    }
    let total_bytes = live_bytes + orphaned_bytes;
    let mut summary = format!(
        "{} blobs, {}: {live} live ({}), {orphaned} orphaned ({})",
        entries.len(),
        format_size(total_bytes),
        format_size(live_bytes),
        format_size(orphaned_bytes)
    );
    if !missing.is_empty() {
        summary.push_str(&format!("; {} referenced blobs missing", missing.len()));
    }
    if ing.active > 0 {
        summary.push_str(&format!("; {} writes in progress", ing.active));
    }
    if let Some((at, target)) = &store_link {
        summary.push_str(&format!(
            "; {} is a symlink to {}: not checked for orphans ({not_checked} blobs there that \
             index.json does not reach are not listed), nothing is deleted here",
            at.strip_prefix(root).unwrap_or(at).display(),
            target.display()
        ));
    } else if refusal.is_some() {
        summary.push_str("; deleting refused");
    }
    let details = json!({
        "tags": g.tags,
        "blobs": entries.len(),
        "bytes": total_bytes,
        "live_blobs": live,
        "live_bytes": live_bytes,
        "orphaned_blobs": orphaned,
        "orphaned_bytes": orphaned_bytes,
        "missing_blobs": missing,
        "skipped": skipped,
        "ingests": ing.total,
        "active_ingests": ing.active,
        "ingest_bytes": ing.bytes,
        "store_link": store_link.as_ref().map(|(at, target)| json!({"path": at, "target": target})),
        "not_checked_blobs": not_checked,
        "delete_refused": refusal.as_ref().map(|r| r.message.clone()),
        "summary": summary,
    });
    Ok(Listing {
        entries,
        summary,
        details,
        location: Some(root.to_path_buf()),
    })
}

/// One blob as an entry: live (how it is reached) or orphaned.
fn blob_entry(b: BlobFile, reached: Option<&Reached>, root: &str, sref: &SourceRef) -> Entry {
    let path = reached.map(|_| format!("{root}/blobs/{}/{}", b.digest.algorithm(), b.digest.hex()));
    let mut e = Entry::new(sref.clone(), b.digest.into_string(), KIND_BLOB);
    e.size_bytes = b.size;
    // Orphans are most of a neglected export: they get only what they need (their
    // time is the file's, and their path is the directory and the digest).
    let Some(r) = reached else {
        e.flags.insert(Flag::Orphaned);
        e.created_at = b.modified;
        e.description = "orphaned: nothing index.json names reaches it".into();
        return e;
    };
    if let Some(p) = path {
        e.details.insert("path".into(), p);
    }
    let what = if r.media_type.is_empty() {
        "layer".to_string()
    } else {
        short_name(&r.media_type)
    };
    let by = if r.referenced_by == graph::INDEX_JSON {
        "index.json".to_string()
    } else {
        Digest::parse(&r.referenced_by).map_or(r.referenced_by.clone(), |d| d.short())
    };
    let tag = r
        .tag
        .as_deref()
        .map_or(String::new(), |t| format!(" of tag {t}"));
    e.description = match &r.description {
        Some(desc) => format!("{what}{tag}, named by {by}: {desc}"),
        None => format!("{what}{tag}, named by {by}"),
    };
    if !r.media_type.is_empty() {
        e.details.insert("media_type".into(), r.media_type.clone());
    }
    e.details
        .insert("referenced_by".into(), r.referenced_by.clone());
    if let Some(t) = &r.tag {
        e.details.insert("tag".into(), t.clone());
    }
    if let Some(desc) = &r.description {
        e.details.insert("description".into(), desc.clone());
    }
    match r.created_at {
        Some(t) => {
            e.created_at = Some(t);
            e.details.insert(
                "created_from".into(),
                "buildkit/createdat annotation".into(),
            );
        }
        None => {
            e.created_at = b.modified;
            e.details
                .insert("created_from".into(), "file modification time".into());
        }
    }
    e
}

type ReachedCache = Mutex<Option<(Vec<u8>, Arc<HashSet<String>>)>>;

/// Deletes one orphaned blob: under the exclusive lock, with no export writing, and
/// only if a fresh walk of index.json still does not reach it.
fn delete_orphan(root: &Path, id: &str, cache: &ReachedCache) -> Result<Deletion, SourceError> {
    let digest = Digest::parse(id)
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("not a blob digest: {e}")))?;
    if let Some(r) = export_refusal(root) {
        return Err(SourceError::new(ErrorKind::Refused, r.message));
    }
    // Checked before locking: BuildKit only tries its lock once, so cachetop holds it
    // for as short a time as it can (re-read index.json, unlink).
    let ing = ingests(root, SystemTime::now())
        .map_err(|e| io_error(&root.join("ingest"), &e, "a type=local cache export"))?;
    if ing.active > 0 {
        return Err(SourceError::new(
            ErrorKind::Refused,
            format!(
                "{}: {} writes under ingest/ were touched in the last {} minutes: an export is \
                 running and may reuse this blob; nothing was deleted, try again later",
                root.display(),
                ing.active,
                blobs::ACTIVE_INGEST.as_secs() / 60
            ),
        ));
    }
    let (index_json, lock) = read_index(root, Mode::Exclusive)?;
    let reached = {
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        match c.as_ref() {
            Some((bytes, set)) if *bytes == index_json => set.clone(),
            _ => {
                let g = walk_export(root, &index_json)?;
                let set: Arc<HashSet<String>> = Arc::new(g.reached.into_keys().collect());
                *c = Some((index_json, set.clone()));
                set
            }
        }
    };
    if reached.contains(digest.as_str()) {
        return Err(SourceError::new(
            ErrorKind::Refused,
            format!("{id} is referenced from index.json now: it is live, and was left alone"),
        ));
    }
    let path = blob_path(root, &digest);
    let store = Path::new("blobs").join(digest.algorithm());
    let failed = |e: SafeRemoveError| match e {
        e if e.is_not_found() => SourceError::new(
            ErrorKind::NotFound,
            format!("{} is already gone", path.display()),
        ),
        SafeRemoveError::NotAFile { .. } | SafeRemoveError::Symlink { .. } => SourceError::new(
            ErrorKind::Refused,
            format!("refusing to delete {}: {e}", path.display()),
        ),
        e if e.is_refusal() => SourceError::new(
            ErrorKind::Refused,
            format!("refusing to delete {}: {e}", path.display()),
        ),
        SafeRemoveError::Io { err, .. } if err.kind() == std::io::ErrorKind::PermissionDenied => {
            SourceError::new(
                ErrorKind::PermissionDenied,
                format!("cannot delete {}: permission denied", path.display()),
            )
        }
        e => SourceError::new(
            ErrorKind::Other,
            format!("cannot delete {}: {e}", path.display()),
        ),
    };
    // Every level from `/` is opened without following a link, and the blob must be
    // a regular file: a link named like a blob is never followed, nor removed.
    let removed = NoFollowDir::open(root)
        .and_then(|d| d.open_beneath(&store))
        .and_then(|d| d.remove_file(std::ffi::OsStr::new(digest.hex())))
        .map_err(failed)?;
    drop(lock);
    match removed {
        Some(bytes) => Ok(Deletion {
            deleted_ids: vec![id.to_string()],
            reclaimed_bytes: Some(bytes),
        }),
        None => Err(SourceError::new(
            ErrorKind::NotFound,
            format!("{} is already gone", path.display()),
        )),
    }
}

/// Only orphaned blobs go: a blob index.json reaches is part of the cache.
pub fn never_delete(entry: &Entry) -> Option<String> {
    (!entry.has(Flag::Orphaned))
        .then(|| "referenced from index.json: deleting it would break the cache export".to_string())
}

/// `rm` of the blob's file.
pub fn equivalent_command(entry: &Entry) -> Option<String> {
    let digest = Digest::parse(&entry.id).ok()?;
    let path = blob_path(Path::new(&entry.source.name), &digest);
    Some(format!("rm -- {}", shell_quote(&path.to_string_lossy())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::oci::media;
    use serde_json::json;

    /// An export with one live layer and one orphaned blob.
    fn export() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let put = |bytes: &[u8]| {
            let d = Digest::sha256_of(bytes);
            std::fs::write(blob_path(root, &d), bytes).unwrap();
            d.to_string()
        };
        let layer = put(b"live layer");
        let orphan = put(b"orphaned layer");
        let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX,
            "manifests": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": layer, "size": 10}]}))
        .unwrap();
        let idx_d = put(&idx);
        std::fs::write(
            root.join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": media::OCI_INDEX, "digest": idx_d, "size": idx.len()}]}))
            .unwrap(),
        )
        .unwrap();
        (dir, layer, orphan)
    }

    fn source(dir: &tempfile::TempDir) -> LocalExportSource {
        LocalExportSource::new(dir.path())
    }

    #[tokio::test]
    async fn lists_and_flags_orphans() {
        let (dir, layer, orphan) = export();
        let l = source(&dir).list().await.unwrap();
        assert_eq!(l.entries.len(), 3);
        let get = |id: &str| l.entries.iter().find(|e| e.id == id).unwrap();
        assert!(!get(&layer).has(Flag::Orphaned));
        assert!(get(&orphan).has(Flag::Orphaned));
        assert_eq!(l.details["orphaned_blobs"], 1);
    }

    #[tokio::test]
    async fn a_missing_index_json_or_oci_layout_is_a_clear_error() {
        let (dir, _, _) = export();
        std::fs::remove_file(dir.path().join("index.json")).unwrap();
        let e = source(&dir).list().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("index.json is missing"), "{e}");
        assert!(e.message.contains("not a type=local cache export"), "{e}");

        let (dir, _, _) = export();
        std::fs::write(dir.path().join("oci-layout"), b"{}").unwrap();
        let e = source(&dir).list().await.unwrap_err();
        assert!(e.message.contains("is not an OCI layout file"), "{e}");
    }

    #[tokio::test]
    async fn deleting_walks_again_and_spares_a_blob_that_became_live() {
        let (dir, layer, orphan) = export();
        let src = source(&dir);
        let l = src.list().await.unwrap();
        let orphan_entry = l.entries.iter().find(|e| e.id == orphan).unwrap().clone();
        let live_entry = l.entries.iter().find(|e| e.id == layer).unwrap().clone();

        // A live blob is refused even when asked for by id.
        let e = src.delete(&live_entry).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(blob_path(dir.path(), &Digest::parse(&layer).unwrap()).exists());

        // An export names the orphan between listing and deleting.
        std::fs::write(
            dir.path().join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "digest": orphan, "size": 14}]}))
            .unwrap(),
        )
        .unwrap();
        let e = src.delete(&orphan_entry).await.unwrap_err();
        assert!(e.message.contains("referenced from index.json now"), "{e}");
        assert!(blob_path(dir.path(), &Digest::parse(&orphan).unwrap()).exists());

        // Once nothing names it again, it goes, and only it.
        std::fs::write(
            dir.path().join("index.json"),
            br#"{"schemaVersion": 2, "manifests": []}"#,
        )
        .unwrap();
        let d = src.delete(&orphan_entry).await.unwrap();
        assert_eq!(d.deleted_ids, vec![orphan.clone()]);
        assert_eq!(d.reclaimed_bytes, Some(14));
        assert!(!blob_path(dir.path(), &Digest::parse(&orphan).unwrap()).exists());
        assert!(blob_path(dir.path(), &Digest::parse(&layer).unwrap()).exists());
        let e = src.delete(&orphan_entry).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn ids_that_are_not_digests_are_refused() {
        let (dir, _, _) = export();
        let src = source(&dir);
        let mut e = Entry::new(
            src.source_ref().clone(),
            "sha256:../../etc/passwd",
            KIND_BLOB,
        );
        e.flags.insert(Flag::Orphaned);
        let err = src.delete(&e).await.unwrap_err();
        assert!(err.message.contains("not a blob digest"), "{err}");
    }

    /// Export `a` whose blob store (`blobs/`, or `blobs/sha256` when `alg_level`) is a
    /// link into export `b`'s, as when two exports share one store. `b`'s index
    /// reaches a blob that `a`'s does not.
    fn sharing_store(alg_level: bool) -> (tempfile::TempDir, tempfile::TempDir, String, String) {
        let (b, b_layer, _) = export();
        let a = tempfile::tempdir().unwrap();
        std::fs::write(
            a.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        if alg_level {
            std::fs::create_dir(a.path().join("blobs")).unwrap();
            std::os::unix::fs::symlink(
                b.path().join("blobs/sha256"),
                a.path().join("blobs/sha256"),
            )
            .unwrap();
        } else {
            std::os::unix::fs::symlink(b.path().join("blobs"), a.path().join("blobs")).unwrap();
        }
        let a_blob = {
            let bytes = b"a's own layer";
            let d = Digest::sha256_of(bytes);
            std::fs::write(blob_path(b.path(), &d), bytes).unwrap();
            d.to_string()
        };
        std::fs::write(
            a.path().join("index.json"),
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "digest": a_blob, "size": 13}]}))
            .unwrap(),
        )
        .unwrap();
        (a, b, a_blob, b_layer)
    }

    #[tokio::test]
    async fn a_linked_blob_store_is_never_checked_for_orphans_nor_deleted_in() {
        for alg_level in [false, true] {
            let (a, b, a_blob, b_layer) = sharing_store(alg_level);
            let src = LocalExportSource::new(a.path());
            let l = src.list().await.unwrap();
            let ids: Vec<&str> = l.entries.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(ids, vec![a_blob.as_str()], "alg_level {alg_level}");
            assert!(l.entries.iter().all(|e| !e.has(Flag::Orphaned)));
            let r = l.entries[0].origin.delete_refusal().expect("refused");
            assert!(r.message.contains("is a symlink to"), "{}", r.message);
            assert!(
                l.summary.contains("not checked for orphans"),
                "{}",
                l.summary
            );
            assert_eq!(l.details["not_checked_blobs"], 3, "{}", l.details);

            // Even asked by id for b's live layer, as an orphan, nothing goes.
            let mut e = Entry::new(src.source_ref().clone(), b_layer.clone(), KIND_BLOB);
            e.flags.insert(Flag::Orphaned);
            let err = src.delete(&e).await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Refused, "{err}");
            assert!(blob_path(b.path(), &Digest::parse(&b_layer).unwrap()).exists());

            // b's own report still calls its layer live.
            let lb = LocalExportSource::new(b.path()).list().await.unwrap();
            let live = lb.entries.iter().find(|e| e.id == b_layer).unwrap();
            assert!(!live.has(Flag::Orphaned));
            assert!(live.origin.delete_refusal().is_none());
        }
    }

    #[tokio::test]
    async fn an_export_given_through_a_link_is_listed_but_not_deleted_in() {
        let (dir, _, orphan) = export();
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("cache");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let src = LocalExportSource::new(&link);
        let l = src.list().await.unwrap();
        let e = l.entries.iter().find(|e| e.id == orphan).unwrap().clone();
        assert!(e.has(Flag::Orphaned));
        let r = e.origin.delete_refusal().unwrap();
        assert!(
            r.message
                .contains(&format!("pass --dir {}", dir.path().display())),
            "{}",
            r.message
        );
        // Refused by the source itself too, whatever entry it is handed.
        let mut bare = e.clone();
        bare.origin = Origin::LocalExport { refusal: None };
        assert_eq!(
            src.delete(&bare).await.unwrap_err().kind,
            ErrorKind::Refused
        );
        assert!(blob_path(dir.path(), &Digest::parse(&orphan).unwrap()).exists());
    }

    #[tokio::test]
    async fn an_orphan_swapped_for_a_link_after_listing_is_left_alone() {
        let (dir, layer, orphan) = export();
        let src = source(&dir);
        let l = src.list().await.unwrap();
        let e = l.entries.iter().find(|e| e.id == orphan).unwrap().clone();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("precious"), b"keep").unwrap();
        let path = blob_path(dir.path(), &Digest::parse(&orphan).unwrap());
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("precious"), &path).unwrap();
        let err = src.delete(&e).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused, "{err}");
        assert!(err.message.contains("symlink"), "{err}");
        assert!(std::fs::symlink_metadata(&path).is_ok());
        assert_eq!(
            std::fs::read(elsewhere.path().join("precious")).unwrap(),
            b"keep"
        );
        // A directory in its place is refused too.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = src.delete(&e).await.unwrap_err();
        assert!(err.message.contains("not a regular file"), "{err}");
        assert!(blob_path(dir.path(), &Digest::parse(&layer).unwrap()).exists());
    }

    #[test]
    fn the_equivalent_command_removes_the_blob_file() {
        let d = Digest::sha256_of(b"x");
        let e = Entry::new(
            SourceRef::new(SourceKind::Dir, "/tmp/build cache"),
            d.as_str(),
            KIND_BLOB,
        );
        assert_eq!(
            equivalent_command(&e).unwrap(),
            format!("rm -- '/tmp/build cache/blobs/sha256/{}'", d.hex())
        );
    }
}
