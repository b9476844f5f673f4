//! The graph of a `type=local` export: everything `index.json` reaches through
//! indexes, manifests and cache configs. A blob it does not reach is orphaned.
//!
//! Safety first: when the graph cannot be read completely (a manifest that is
//! missing, damaged or unreadable), the walk fails instead of guessing, because a
//! guess would call live blobs orphaned.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::sources::oci::cacheconfig::parse_time;
use crate::sources::oci::media::{self, ANNOTATION_CREATED_AT, ANNOTATION_DESCRIPTION};
use crate::sources::oci::{
    Descriptor, Digest, FormatError, Manifest, parse_cache_config, parse_manifest,
};

/// Manifests and configs are small; anything larger is not read into memory.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;
/// Content of an unknown media type is sniffed for a manifest only up to this size.
const MAX_SNIFF_BYTES: u64 = 4 * 1024 * 1024;

pub const INDEX_JSON: &str = "index.json";

/// How a reached blob was reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    pub media_type: String,
    /// `index.json`, or the digest of the manifest or cache config that names it.
    pub referenced_by: String,
    /// The `org.opencontainers.image.ref.name` of the index.json entry it hangs under.
    pub tag: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// `buildkit/description`, when BuildKit wrote one.
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// Digest (`sha256:<hex>`) -> how it was reached.
    pub reached: HashMap<String, Reached>,
    /// The tags index.json holds.
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("index.json cannot be read: {0}")]
    Index(FormatError),
    #[error(
        "{what} {digest} (named by {by}) is missing from blobs/: the export is incomplete, so \
         cachetop cannot tell which blobs are orphaned"
    )]
    Missing {
        what: String,
        digest: String,
        by: String,
    },
    #[error("{what} {digest} (named by {by}) is damaged: {error}")]
    Damaged {
        what: String,
        digest: String,
        by: String,
        error: Box<FormatError>,
    },
    #[error("reading blob {digest}: {error}")]
    Io { digest: String, error: String },
}

/// Reads a blob's bytes: `Ok(None)` when it is not there.
pub type ReadBlob<'a> = dyn FnMut(&Digest) -> std::io::Result<Option<Vec<u8>>> + 'a;

pub fn walk(index_json: &[u8], read: &mut ReadBlob<'_>) -> Result<Graph, WalkError> {
    let index = match parse_manifest(index_json, None).map_err(WalkError::Index)? {
        Manifest::Index(i) => i,
        Manifest::Image(_) => {
            return Err(WalkError::Index(FormatError::WrongMediaType {
                found: "an image manifest".into(),
                expected: "an OCI image index".into(),
            }));
        }
    };
    let mut g = Graph::default();
    let mut queue: VecDeque<(Descriptor, String, Option<String>)> = VecDeque::new();
    for d in index.manifests {
        let tag = d.annotation(media::ANNOTATION_REF_NAME).map(str::to_string);
        if let Some(t) = &tag {
            g.tags.push(t.clone());
        }
        queue.push_back((d, INDEX_JSON.to_string(), tag));
    }
    while let Some((d, by, tag)) = queue.pop_front() {
        let key = d.digest.to_string();
        if g.reached.contains_key(&key) {
            continue;
        }
        g.reached.insert(
            key.clone(),
            Reached {
                media_type: d.media_type.clone(),
                referenced_by: by.clone(),
                tag: tag.clone(),
                created_at: d
                    .annotation(ANNOTATION_CREATED_AT)
                    .and_then(|t| parse_time(t).ok().flatten()),
                description: d.annotation(ANNOTATION_DESCRIPTION).map(str::to_string),
            },
        );
        let mt = media::essence(&d.media_type).to_string();
        let what = media::short_name(&mt);
        if media::is_manifest(&mt) {
            let bytes =
                read_checked(read, &d, &by, &what, MAX_METADATA_BYTES)?.ok_or_else(|| {
                    WalkError::Missing {
                        what: what.clone(),
                        digest: key.clone(),
                        by: by.clone(),
                    }
                })?;
            let m = parse_manifest(&bytes, Some(&mt)).map_err(|error| WalkError::Damaged {
                what: what.clone(),
                digest: key.clone(),
                by: by.clone(),
                error: Box::new(error),
            })?;
            for c in m.children() {
                queue.push_back((c.clone(), key.clone(), tag.clone()));
            }
        } else if mt == media::CACHE_CONFIG {
            // Its layers are in the manifest too; reading it also keeps blobs that
            // only the cache config names.
            match read_checked(read, &d, &by, &what, MAX_METADATA_BYTES)? {
                // Missing: noted by the caller, which knows what is on disk.
                None => {}
                Some(bytes) => {
                    let cfg = parse_cache_config(&bytes).map_err(|error| WalkError::Damaged {
                        what: what.clone(),
                        digest: key.clone(),
                        by: by.clone(),
                        error: Box::new(error),
                    })?;
                    for (blob, created) in cfg.layers {
                        g.reached.entry(blob.to_string()).or_insert(Reached {
                            media_type: String::new(),
                            referenced_by: key.clone(),
                            tag: tag.clone(),
                            created_at: created,
                            description: None,
                        });
                    }
                }
            }
        } else if !media::is_layer(&mt) && !media::is_image_config(&mt) && d.size <= MAX_SNIFF_BYTES
        {
            // An unknown type might still point at other blobs (an artifact manifest):
            // read it as one when it parses as one.
            if let Some(bytes) = read_checked(read, &d, &by, &what, MAX_SNIFF_BYTES)?
                && let Ok(m) = parse_manifest(&bytes, None)
            {
                for c in m.children() {
                    queue.push_back((c.clone(), key.clone(), tag.clone()));
                }
            }
        }
    }
    Ok(g)
}

fn read_checked(
    read: &mut ReadBlob<'_>,
    d: &Descriptor,
    by: &str,
    what: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, WalkError> {
    let damaged = |error: FormatError| WalkError::Damaged {
        what: what.to_string(),
        digest: d.digest.to_string(),
        by: by.to_string(),
        error: Box::new(error),
    };
    if d.size > max {
        return Err(damaged(FormatError::Invalid(format!(
            "its descriptor says {} bytes; cachetop reads metadata up to {max} bytes",
            d.size
        ))));
    }
    let Some(bytes) = read(&d.digest).map_err(|e| WalkError::Io {
        digest: d.digest.to_string(),
        error: e.to_string(),
    })?
    else {
        return Ok(None);
    };
    if bytes.len() as u64 != d.size {
        return Err(damaged(FormatError::SizeMismatch {
            expected: d.size,
            actual: bytes.len() as u64,
        }));
    }
    d.digest.verify(&bytes).map_err(damaged)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    /// An in-memory blob store for walking without a disk.
    #[derive(Default)]
    struct Store(HashMap<String, Vec<u8>>);

    impl Store {
        fn put(&mut self, bytes: Vec<u8>) -> (String, u64) {
            let d = Digest::sha256_of(&bytes).to_string();
            let n = bytes.len() as u64;
            self.0.insert(d.clone(), bytes);
            (d, n)
        }
        fn put_json(&mut self, v: serde_json::Value) -> (String, u64) {
            self.put(serde_json::to_vec(&v).unwrap())
        }
        fn walk(&self, index: &serde_json::Value) -> Result<Graph, WalkError> {
            let mut read = |d: &Digest| Ok(self.0.get(d.as_str()).cloned());
            walk(&serde_json::to_vec(index).unwrap(), &mut read)
        }
    }

    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    fn desc(mt: &str, (d, n): &(String, u64)) -> serde_json::Value {
        json!({"mediaType": mt, "digest": d, "size": n})
    }

    /// A cache export as BuildKit writes it: index.json -> cache index -> layers + config.
    fn export(s: &mut Store, layers: &[&[u8]]) -> (serde_json::Value, Vec<String>) {
        let ls: Vec<(String, u64)> = layers.iter().map(|l| s.put(l.to_vec())).collect();
        let cfg = s.put_json(
            json!({"layers": ls.iter().map(|(d, _)| json!({"blob": d})).collect::<Vec<_>>()}),
        );
        let mut manifests: Vec<serde_json::Value> = ls.iter().map(|l| desc(GZ, l)).collect();
        manifests.push(desc(media::CACHE_CONFIG, &cfg));
        let idx = s.put_json(
            json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests}),
        );
        let mut all: Vec<String> = ls.into_iter().map(|l| l.0).collect();
        all.push(cfg.0);
        all.push(idx.0.clone());
        let mut entry = desc(media::OCI_INDEX, &idx);
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
        (entry, all)
    }

    fn index_of(entries: Vec<serde_json::Value>) -> serde_json::Value {
        json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": entries})
    }

    #[test]
    fn reaches_everything_a_cache_export_names() {
        let mut s = Store::default();
        let (live, live_ids) = export(&mut s, &[b"one", b"two"]);
        let (_old, old_ids) = export(&mut s, &[b"three"]);
        let g = s.walk(&index_of(vec![live])).unwrap();
        for id in &live_ids {
            assert!(g.reached.contains_key(id), "{id} should be live");
        }
        for id in &old_ids {
            assert!(!g.reached.contains_key(id), "{id} should be orphaned");
        }
        assert_eq!(g.tags, vec!["latest"]);
        let layer = &g.reached[&live_ids[0]];
        assert_eq!(layer.media_type, GZ);
        assert_eq!(layer.tag.as_deref(), Some("latest"));
        assert_eq!(layer.referenced_by, live_ids[3]);
    }

    #[test]
    fn image_manifest_layout_and_blobs_only_the_cache_config_names() {
        let mut s = Store::default();
        let layer = s.put(b"layer".to_vec());
        let extra = s.put(b"only in the cache config".to_vec());
        let cfg = s.put_json(json!({"layers": [{"blob": layer.0}, {"blob": extra.0}]}));
        let m = s.put_json(json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": desc(media::CACHE_CONFIG, &cfg), "layers": [desc(GZ, &layer)]}));
        let g = s
            .walk(&index_of(vec![desc(media::OCI_MANIFEST, &m)]))
            .unwrap();
        assert_eq!(g.reached.len(), 4);
        assert!(g.reached.contains_key(&extra.0));
    }

    #[test]
    fn a_missing_layer_does_not_stop_the_walk_but_a_missing_manifest_does() {
        let mut s = Store::default();
        let (entry, ids) = export(&mut s, &[b"a"]);
        s.0.remove(&ids[0]); // the layer
        let g = s.walk(&index_of(vec![entry.clone()])).unwrap();
        assert!(g.reached.contains_key(&ids[0]));

        s.0.remove(&ids[2]); // the cache index itself
        let e = s.walk(&index_of(vec![entry])).unwrap_err();
        assert!(matches!(e, WalkError::Missing { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("cannot tell which blobs are orphaned"),
            "{e}"
        );
    }

    #[test]
    fn a_damaged_manifest_stops_the_walk() {
        let mut s = Store::default();
        let (entry, ids) = export(&mut s, &[b"a"]);
        // Same digest, different bytes: a corrupt blob.
        let good = s.0[&ids[2]].clone();
        let mut bad = good.clone();
        bad[good.len() - 2] = b' ';
        s.0.insert(ids[2].clone(), bad);
        let e = s.walk(&index_of(vec![entry.clone()])).unwrap_err();
        assert!(e.to_string().contains("does not match its digest"), "{e}");

        s.0.insert(ids[2].clone(), b"{}".to_vec());
        let e = s.walk(&index_of(vec![entry])).unwrap_err();
        assert!(e.to_string().contains("size is 2 bytes"), "{e}");
    }

    #[test]
    fn index_json_must_be_an_index() {
        let s = Store::default();
        let e = s.walk(&json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                               "config": {"mediaType": "x", "digest": Digest::sha256_of(b"").to_string(), "size": 0}}))
            .unwrap_err();
        assert!(e.to_string().contains("index.json cannot be read"), "{e}");
        let mut read = |_: &Digest| Ok(None);
        let e = walk(b"garbage", &mut read).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn unknown_types_that_are_manifests_are_followed() {
        let mut s = Store::default();
        let layer = s.put(b"artifact layer".to_vec());
        let m = s.put_json(json!({"schemaVersion": 2,
            "config": {"mediaType": "application/vnd.example.config", "digest": Digest::sha256_of(b"").to_string(), "size": 0},
            "layers": [desc("application/vnd.example.data", &layer)]}));
        let g = s
            .walk(&index_of(vec![desc(
                "application/vnd.example.artifact",
                &m,
            )]))
            .unwrap();
        assert!(g.reached.contains_key(&layer.0));
    }
}
