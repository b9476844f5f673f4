//! The registry source: a BuildKit `cache-to type=registry` ref (either manifest
//! layout) or an image with inline cache, read through the OCI distribution API.
//! Each layer is an entry, and so is the manifest; only manifests are deleted, by
//! digest, where the registry allows it.

pub mod address;
pub mod auth;
pub mod cache;
pub mod client;

use std::collections::HashMap;

use async_trait::async_trait;
use oci_client::Reference;
use serde_json::json;

use self::cache::{Layout, ManifestFacts, Shape};
pub use self::client::Options;
use self::client::Registry;
use crate::model::{Entry, Origin, RegistryObject, SourceKind, SourceRef};
use crate::sources::oci::media::short_name;
use crate::sources::oci::{
    Descriptor, Digest, FormatError, parse_cache_config, parse_image_config, parse_manifest,
};
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError, shell_quote};
use crate::units::format_size;

pub struct RegistrySource {
    sref: SourceRef,
    reference: Reference,
    options: Options,
}

impl RegistrySource {
    /// `text` is a reference such as `registry.example.com/app:buildcache`.
    pub fn new(text: &str, options: Options) -> Result<Self, String> {
        let reference = parse_reference(text)?;
        Ok(Self {
            sref: SourceRef::new(SourceKind::Registry, text.trim()),
            reference,
            options,
        })
    }

    async fn read(&self) -> Result<Listing, SourceError> {
        let reg = Registry::connect(&self.reference, &self.options).await?;
        let shown = self.sref.name.as_str();
        let (bytes, digest) = reg.manifest(&self.reference).await?;
        let manifest = parse_manifest(&bytes, None).map_err(|e| malformed(shown, "manifest", e))?;
        let shape = cache::shape(&manifest).map_err(|e| malformed(shown, "manifest", e))?;
        let facts = ManifestFacts {
            digest: digest.clone(),
            media_type: manifest.media_type().to_string(),
            own_bytes: bytes.len() as u64,
            layout: Layout::PlatformIndex,
            index: None,
            platform: None,
            cache_records: None,
            fallback_created: None,
        };
        let (layout, mut entries) = match shape {
            Shape::PlatformIndex { manifests } => (
                Layout::PlatformIndex,
                self.read_platforms(&reg, facts, &manifests).await?,
            ),
            other => {
                let Some((facts, layers)) = self.read_one(&reg, facts, other).await? else {
                    return Err(SourceError::new(
                        ErrorKind::Unsupported,
                        format!(
                            "{shown} is an image without BuildKit cache: its config has no \
                             moby.buildkit.cache.v0 (build it with BUILDKIT_INLINE_CACHE=1), \
                             and it is not a cache-to type=registry manifest"
                        ),
                    ));
                };
                (
                    facts.layout,
                    cache::entries(&self.sref, shown, &facts, &layers),
                )
            }
        };
        for e in &mut entries {
            if let Origin::Registry { object, plain_http } = &mut e.origin {
                *plain_http = reg.scheme == "http";
                if matches!(object, RegistryObject::Manifest { .. }) {
                    e.details.insert("scheme".into(), reg.scheme.to_string());
                }
            }
        }
        let layers: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.origin,
                    Origin::Registry {
                        object: RegistryObject::Layer,
                        ..
                    }
                )
            })
            .collect();
        let layer_bytes = crate::units::sum_bytes(layers.iter().map(|e| e.size_bytes));
        let summary = format!(
            "{} ({}) at {}://{}: {}, {} {}, {}",
            digest.short(),
            short_name(manifest.media_type()),
            reg.scheme,
            reg.host,
            layout.describe(),
            layers.len(),
            if layers.len() == 1 { "layer" } else { "layers" },
            format_size(layer_bytes)
        );
        let details = json!({
            "registry": reg.host,
            "repository": self.reference.repository(),
            "tag": self.reference.tag(),
            "digest": digest.to_string(),
            "scheme": reg.scheme,
            "auth": reg.auth_origin,
            "layout": layout.as_str(),
            "layers": layers.len(),
            "layers_bytes": layer_bytes,
            "summary": summary,
        });
        Ok(Listing {
            entries,
            summary,
            details,
            location: None,
        })
    }

    /// A multi-platform index: the index, then each platform's manifest with inline
    /// cache and its layers (a layer two platforms share is listed once).
    async fn read_platforms(
        &self,
        reg: &Registry,
        mut facts: ManifestFacts,
        manifests: &[Descriptor],
    ) -> Result<Vec<Entry>, SourceError> {
        let shown = self.sref.name.as_str();
        let mut children = Vec::new();
        let mut without_cache = 0usize;
        for child in manifests {
            let cref = self.reference.clone_with_digest(child.digest.to_string());
            let (bytes, digest) = reg.manifest(&cref).await?;
            let what = format!("manifest {} of the index", child.digest);
            let m = parse_manifest(&bytes, Some(&child.media_type))
                .map_err(|e| malformed(shown, &what, e))?;
            let shape = cache::shape(&m).map_err(|e| malformed(shown, &what, e))?;
            let child_facts = ManifestFacts {
                digest,
                media_type: m.media_type().to_string(),
                own_bytes: bytes.len() as u64,
                layout: Layout::InlineCache,
                index: Some(facts.digest.clone()),
                platform: child.platform.clone(),
                cache_records: None,
                fallback_created: None,
            };
            match self.read_one(reg, child_facts, shape).await? {
                Some(listed) => children.push(listed),
                None => without_cache += 1,
            }
        }
        if children.is_empty() {
            return Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "{shown} is a multi-platform image whose {} manifests carry no BuildKit \
                     cache (no moby.buildkit.cache.v0 in their configs)",
                    manifests.len()
                ),
            ));
        }
        facts.fallback_created = children
            .iter()
            .flat_map(|(_, ls)| ls.iter().filter_map(|l| l.created_at))
            .max();
        let mut entries = cache::entries(&self.sref, shown, &facts, &[]);
        let d = &mut entries[0].details;
        d.insert("manifests".into(), manifests.len().to_string());
        if without_cache > 0 {
            d.insert("manifests_without_cache".into(), without_cache.to_string());
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (facts, layers) in children {
            for e in cache::entries(&self.sref, shown, &facts, &layers) {
                match seen.get(&e.id) {
                    Some(&i) => cache::merge_layer(&mut entries[i], &e),
                    None => {
                        seen.insert(e.id.clone(), entries.len());
                        entries.push(e);
                    }
                }
            }
        }
        Ok(entries)
    }

    /// One manifest with its layers, or `None` for an image without inline cache.
    async fn read_one(
        &self,
        reg: &Registry,
        mut facts: ManifestFacts,
        shape: Shape,
    ) -> Result<Option<(ManifestFacts, Vec<cache::Layer>)>, SourceError> {
        let shown = self.sref.name.as_str();
        match shape {
            Shape::Cache {
                layout,
                config,
                layers,
            } => {
                let raw = reg.small_blob(&config.digest, config.size).await?;
                let what = format!("cache config {}", config.digest);
                let cfg = parse_cache_config(&raw).map_err(|e| malformed(shown, &what, e))?;
                facts.layout = layout;
                facts.own_bytes += config.size;
                facts.cache_records = Some(cfg.records);
                Ok(Some((facts, cache::cache_layers(&layers, &cfg))))
            }
            Shape::Image { config, layers } => {
                let raw = reg.small_blob(&config.digest, config.size).await?;
                let what = format!("image config {}", config.digest);
                let cfg = parse_image_config(&raw).map_err(|e| malformed(shown, &what, e))?;
                let Some(records) = cfg.inline_cache_records else {
                    return Ok(None);
                };
                facts.layout = Layout::InlineCache;
                facts.own_bytes += config.size;
                facts.cache_records = Some(records);
                facts.fallback_created = cfg.created;
                Ok(Some((facts, cache::image_layers(&layers, &cfg))))
            }
            Shape::PlatformIndex { .. } => Err(SourceError::new(
                ErrorKind::Unsupported,
                format!("{shown}: an index inside an index is not a layout BuildKit writes"),
            )),
        }
    }
}

#[async_trait]
impl Source for RegistrySource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        self.read().await
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        match &entry.origin {
            Origin::Registry {
                object: RegistryObject::Manifest { index: None },
                ..
            } => {}
            Origin::Registry {
                object: RegistryObject::Manifest { index: Some(index) },
                ..
            } => {
                return Err(SourceError::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is referenced by the multi-platform index {index}; left alone",
                        entry.id
                    ),
                ));
            }
            _ => {
                return Err(SourceError::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is a {}: cachetop deletes manifests, and the registry's garbage \
                         collection frees the layers no manifest references",
                        entry.id, entry.kind
                    ),
                ));
            }
        }
        let digest = Digest::parse(&entry.id).map_err(|e| {
            SourceError::new(ErrorKind::Other, format!("not a manifest digest: {e}"))
        })?;
        let mut reg = Registry::connect(&self.reference, &self.options).await?;
        reg.delete_manifest(&digest).await?;
        Ok(Deletion {
            deleted_ids: vec![entry.id.clone()],
            reclaimed_bytes: None,
        })
    }
}

/// Parses a reference, with the error a person needs.
pub fn parse_reference(text: &str) -> Result<Reference, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "--registry needs a reference such as registry.example.com/app:buildcache".into(),
        );
    }
    text.parse::<Reference>().map_err(|e| {
        format!(
            "--registry {text:?} is not an image reference ({e}); expected \
             host[:port]/repository[:tag|@digest], e.g. registry.example.com/app:buildcache"
        )
    })
}

fn malformed(reference: &str, what: &str, e: FormatError) -> SourceError {
    let kind = match e {
        FormatError::WrongMediaType { .. } => ErrorKind::Unsupported,
        _ => ErrorKind::Malformed,
    };
    SourceError::new(kind, format!("{reference}: the {what} cannot be read: {e}"))
}

/// A layer goes with its manifest, and a manifest an index references with the index.
pub fn never_delete(object: &RegistryObject) -> Option<String> {
    match object {
        RegistryObject::Manifest { index: Some(index) } => Some(format!(
            "the multi-platform index {index} still references it: deleting it would \
             break that index (delete the index instead)"
        )),
        RegistryObject::Manifest { index: None } => None,
        RegistryObject::Layer => Some(
            "a layer goes with its manifest: delete the manifest, and the registry's \
             garbage collection frees layers no manifest references"
                .to_string(),
        ),
    }
}

/// `crane delete` with the same registry, repository and digest: it reads docker's
/// credentials and uses plain HTTP for loopback registries, as cachetop does.
pub fn equivalent_command(
    entry: &Entry,
    object: &RegistryObject,
    plain_http: bool,
) -> Option<String> {
    if *object == RegistryObject::Layer {
        return None;
    }
    let reference = parse_reference(&entry.source.name).ok()?;
    let target = format!(
        "{}/{}@{}",
        reference.registry(),
        reference.repository(),
        entry.id
    );
    let insecure = plain_http && !address::is_loopback(reference.resolve_registry());
    Some(format!(
        "crane delete {}{}",
        if insecure { "--insecure " } else { "" },
        shell_quote(&target)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_or_explain() {
        let r = parse_reference("127.0.0.1:5000/app:buildcache").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "app");
        assert_eq!(r.tag(), Some("buildcache"));
        let e = parse_reference("UPPER/Case:x").unwrap_err();
        assert!(e.contains("not an image reference"), "{e}");
        assert!(
            parse_reference("  ")
                .unwrap_err()
                .contains("needs a reference")
        );
    }

    #[test]
    fn equivalent_commands_delete_the_same_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Registry, "127.0.0.1:5000/app:cache"),
            &d,
            cache::KIND_MANIFEST,
        );
        e.origin = Origin::Registry {
            object: RegistryObject::Manifest { index: None },
            plain_http: true,
        };
        let command = crate::sources::equivalent_command;
        assert_eq!(
            command(&e).unwrap(),
            format!("crane delete 127.0.0.1:5000/app@{d}")
        );
        e.source.name = "10.1.2.3:5000/team/app:cache".into();
        assert_eq!(
            command(&e).unwrap(),
            format!("crane delete --insecure 10.1.2.3:5000/team/app@{d}")
        );
        e.origin = Origin::Registry {
            object: RegistryObject::Layer,
            plain_http: true,
        };
        assert_eq!(command(&e), None);
    }
}
