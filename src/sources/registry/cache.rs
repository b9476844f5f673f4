//! From fetched manifests and configs to entries: which BuildKit layout a manifest
//! has, and one entry for the manifest plus one per layer. Pure: no I/O.

use chrono::{DateTime, Utc};

use crate::model::{Entry, Origin, RegistryObject, SourceRef};
use crate::sources::oci::media::{self, ANNOTATION_CREATED_AT, ANNOTATION_DESCRIPTION};
use crate::sources::oci::{CacheConfig, Descriptor, Digest, FormatError, ImageConfig, Manifest};
use crate::units::format_size;

pub const KIND_MANIFEST: &str = "registry.manifest";
pub const KIND_LAYER: &str = "registry.layer";
/// `details` key naming the multi-platform index that references a manifest.
pub const DETAIL_INDEX: &str = "index";

/// How a manifest holds its cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// An index whose `manifests[]` are the layers plus the cache config.
    CacheIndex,
    /// An image manifest whose `config` is the cache config (`image-manifest=true`).
    CacheImageManifest,
    /// An image whose config carries `moby.buildkit.cache.v0`.
    InlineCache,
    /// An index of per-platform images.
    PlatformIndex,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::CacheIndex => "cache-index",
            Layout::CacheImageManifest => "cache-image-manifest",
            Layout::InlineCache => "inline-cache",
            Layout::PlatformIndex => "multi-platform-index",
        }
    }

    /// For people.
    pub fn describe(self) -> &'static str {
        match self {
            Layout::CacheIndex => "BuildKit cache, index layout",
            Layout::CacheImageManifest => "BuildKit cache, image-manifest layout",
            Layout::InlineCache => "image with inline cache",
            Layout::PlatformIndex => "multi-platform image with inline cache",
        }
    }
}

/// What a manifest is, before any blob is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    Cache {
        layout: Layout,
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// An image manifest with an ordinary image config: inline cache, if any, is in
    /// the config.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// Per-platform manifests; attestation manifests are left out.
    PlatformIndex { manifests: Vec<Descriptor> },
}

pub fn shape(m: &Manifest) -> Result<Shape, FormatError> {
    match m {
        Manifest::Index(i) => {
            let (configs, layers): (Vec<&Descriptor>, Vec<&Descriptor>) = i
                .manifests
                .iter()
                .partition(|d| media::essence(&d.media_type) == media::CACHE_CONFIG);
            match configs.as_slice() {
                [config] => Ok(Shape::Cache {
                    layout: Layout::CacheIndex,
                    config: (*config).clone(),
                    layers: layers.into_iter().cloned().collect(),
                }),
                [] => {
                    let manifests: Vec<Descriptor> = i
                        .manifests
                        .iter()
                        .filter(|d| media::is_manifest(&d.media_type))
                        .filter(|d| {
                            d.annotation(media::ANNOTATION_REFERENCE_TYPE)
                                != Some("attestation-manifest")
                        })
                        .cloned()
                        .collect();
                    if manifests.is_empty() {
                        return Err(FormatError::Invalid(format!(
                            "an index with neither a {} descriptor nor image manifests: not a \
                             BuildKit cache",
                            media::CACHE_CONFIG
                        )));
                    }
                    Ok(Shape::PlatformIndex { manifests })
                }
                _ => Err(FormatError::Invalid(format!(
                    "an index with {} cache config descriptors; BuildKit writes one",
                    configs.len()
                ))),
            }
        }
        Manifest::Image(im) => {
            let config_type = media::essence(&im.config.media_type);
            if config_type == media::CACHE_CONFIG {
                Ok(Shape::Cache {
                    layout: Layout::CacheImageManifest,
                    config: im.config.clone(),
                    layers: im.layers.clone(),
                })
            } else if media::is_image_config(config_type) {
                Ok(Shape::Image {
                    config: im.config.clone(),
                    layers: im.layers.clone(),
                })
            } else {
                Err(FormatError::WrongMediaType {
                    found: config_type.to_string(),
                    expected: format!(
                        "{} (a cache manifest) or an image config (inline cache)",
                        media::CACHE_CONFIG
                    ),
                })
            }
        }
    }
}

/// One layer with what is known about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub desc: Descriptor,
    pub created_at: Option<DateTime<Utc>>,
    /// Where the time came from, for the details view.
    pub time_source: Option<&'static str>,
    /// What made the layer, when known (`buildkit/description`, image history).
    pub made_by: Option<String>,
}

/// Times for a cache manifest's layers: the `buildkit/createdat` annotation, else the
/// cache config's `createdAt` for that blob.
pub fn cache_layers(layers: &[Descriptor], config: &CacheConfig) -> Vec<Layer> {
    layers
        .iter()
        .map(|d| {
            let annotated = d.annotation(ANNOTATION_CREATED_AT).and_then(|t| {
                crate::sources::oci::cacheconfig::parse_time(t)
                    .ok()
                    .flatten()
            });
            let (created_at, time_source) = match annotated {
                Some(t) => (Some(t), Some("buildkit/createdat annotation")),
                None => match config.layers.get(&d.digest).copied().flatten() {
                    Some(t) => (Some(t), Some("cache config createdAt")),
                    None => (None, None),
                },
            };
            Layer {
                desc: d.clone(),
                created_at,
                time_source,
                made_by: d.annotation(ANNOTATION_DESCRIPTION).map(str::to_string),
            }
        })
        .collect()
}

/// Times for an image's layers from its history, as BuildKit does when it imports
/// inline cache.
pub fn image_layers(layers: &[Descriptor], config: &ImageConfig) -> Vec<Layer> {
    layers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let hist = config.layer_history.get(i);
            let created_at = hist.and_then(|h| h.0);
            Layer {
                desc: d.clone(),
                created_at,
                time_source: created_at.map(|_| "image history"),
                made_by: hist.map(|h| h.1.clone()).filter(|s| !s.is_empty()),
            }
        })
        .collect()
}

/// One manifest, as it becomes an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFacts {
    pub digest: Digest,
    pub media_type: String,
    /// The manifest's own bytes plus its config blob: what deleting it removes for sure.
    pub own_bytes: u64,
    pub layout: Layout,
    /// The multi-platform index that references this manifest.
    pub index: Option<Digest>,
    pub platform: Option<String>,
    pub cache_records: Option<usize>,
    /// A time to use when no layer has one (an image config's `created`).
    pub fallback_created: Option<DateTime<Utc>>,
}

/// The manifest entry followed by one entry per layer.
pub fn entries(
    source: &SourceRef,
    reference: &str,
    m: &ManifestFacts,
    layers: &[Layer],
) -> Vec<Entry> {
    let n = layers.len();
    let layer_bytes = crate::units::sum_bytes(layers.iter().map(|l| l.desc.size));
    let mut out = Vec::with_capacity(n + 1);

    let mut me = Entry::new(source.clone(), m.digest.as_str(), KIND_MANIFEST);
    me.size_bytes = m.own_bytes;
    me.created_at = layers
        .iter()
        .filter_map(|l| l.created_at)
        .max()
        .or(m.fallback_created);
    let what = match (m.layout, &m.platform) {
        (Layout::CacheIndex, _) => "BuildKit cache (index layout)".to_string(),
        (Layout::CacheImageManifest, _) => "BuildKit cache (image-manifest layout)".to_string(),
        (Layout::InlineCache, Some(p)) => format!("{p} image with inline cache"),
        (Layout::InlineCache, None) => "image with inline cache".to_string(),
        (Layout::PlatformIndex, _) => "multi-platform index".to_string(),
    };
    me.description = if m.layout == Layout::PlatformIndex {
        format!("{what} {reference}")
    } else {
        format!(
            "{what} {reference}: {n} {}, {}",
            if n == 1 { "layer" } else { "layers" },
            format_size(layer_bytes)
        )
    };
    let d = &mut me.details;
    d.insert("ref".into(), reference.to_string());
    d.insert("media_type".into(), m.media_type.clone());
    d.insert("layout".into(), m.layout.as_str().into());
    if m.layout != Layout::PlatformIndex {
        d.insert("layers".into(), n.to_string());
        d.insert("layers_bytes".into(), layer_bytes.to_string());
    }
    if let Some(r) = m.cache_records {
        d.insert("cache_records".into(), r.to_string());
    }
    if let Some(i) = &m.index {
        d.insert(DETAIL_INDEX.into(), i.to_string());
    }
    me.origin = Origin::Registry {
        object: RegistryObject::Manifest {
            index: m.index.as_ref().map(Digest::to_string),
        },
        plain_http: false,
    };
    if let Some(p) = &m.platform {
        d.insert("platform".into(), p.clone());
    }
    out.push(me);

    for (i, l) in layers.iter().enumerate() {
        let mut e = Entry::new(source.clone(), l.desc.digest.as_str(), KIND_LAYER);
        e.size_bytes = l.desc.size;
        e.created_at = l.created_at;
        e.description = match &l.made_by {
            Some(by) => format!("layer {}/{n} of {reference}: {by}", i + 1),
            None => format!("layer {}/{n} of {reference}", i + 1),
        };
        let d = &mut e.details;
        d.insert("ref".into(), reference.to_string());
        d.insert("media_type".into(), l.desc.media_type.clone());
        d.insert("manifest".into(), m.digest.to_string());
        if let Some(by) = &l.made_by {
            d.insert("description".into(), by.clone());
        }
        if let Some(src) = l.time_source {
            d.insert("created_from".into(), src.into());
        }
        if let Some(diff) = l.desc.annotation(media::ANNOTATION_UNCOMPRESSED) {
            d.insert("diff_id".into(), diff.to_string());
        }
        out.push(e);
    }
    out
}

/// Folds a layer listed again (by another platform's manifest) into the first entry.
pub fn merge_layer(existing: &mut Entry, again: &Entry) {
    if let (Some(have), Some(more)) = (
        existing.details.get("manifest").cloned(),
        again.details.get("manifest"),
    ) && !have.split(", ").any(|m| m == more)
    {
        existing
            .details
            .insert("manifest".into(), format!("{have}, {more}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;
    use crate::sources::oci::{parse_cache_config, parse_manifest};
    use chrono::TimeZone;
    use serde_json::json;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    fn layer(n: char, size: u64, created: Option<&str>) -> serde_json::Value {
        let mut v = json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": d(n), "size": size});
        if let Some(c) = created {
            v["annotations"] = json!({"buildkit/createdat": c});
        }
        v
    }

    #[test]
    fn both_cache_layouts_have_the_same_shape() {
        let idx = parse_manifest(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX,
                "manifests": [layer('a', 1, None),
                              {"mediaType": media::CACHE_CONFIG, "digest": d('c'), "size": 9}]}))
            .unwrap(),
            None,
        )
        .unwrap();
        let img = parse_manifest(
            &serde_json::to_vec(
                &json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": {"mediaType": media::CACHE_CONFIG, "digest": d('c'), "size": 9},
                "layers": [layer('a', 1, None)]}),
            )
            .unwrap(),
            None,
        )
        .unwrap();
        let (
            Shape::Cache {
                layout: l1,
                config: c1,
                layers: ls1,
            },
            Shape::Cache {
                layout: l2,
                config: c2,
                layers: ls2,
            },
        ) = (shape(&idx).unwrap(), shape(&img).unwrap())
        else {
            panic!()
        };
        assert_eq!(l1, Layout::CacheIndex);
        assert_eq!(l2, Layout::CacheImageManifest);
        assert_eq!(c1, c2);
        assert_eq!(ls1, ls2);
    }

    #[test]
    fn a_docker_manifest_list_cache_is_the_index_layout() {
        // `oci-mediatypes=false`: the same layout with Docker media types.
        let m = parse_manifest(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::DOCKER_LIST,
                "manifests": [
                    {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d('a'), "size": 7},
                    {"mediaType": media::CACHE_CONFIG, "digest": d('c'), "size": 9}]}))
            .unwrap(),
            Some(media::DOCKER_LIST),
        )
        .unwrap();
        let Shape::Cache { layout, layers, .. } = shape(&m).unwrap() else {
            panic!()
        };
        assert_eq!(layout, Layout::CacheIndex);
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].size, 7);
    }

    #[test]
    fn a_manifest_that_is_no_cache_is_a_clear_error() {
        let m = parse_manifest(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": d('c'), "size": 9},
                "layers": []}))
            .unwrap(),
            None,
        )
        .unwrap();
        let e = shape(&m).unwrap_err().to_string();
        assert!(e.contains("helm") && e.contains(media::CACHE_CONFIG), "{e}");

        let two = parse_manifest(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": media::CACHE_CONFIG, "digest": d('c'), "size": 9},
                {"mediaType": media::CACHE_CONFIG, "digest": d('e'), "size": 9}]}))
            .unwrap(),
            None,
        )
        .unwrap();
        assert!(
            shape(&two)
                .unwrap_err()
                .to_string()
                .contains("2 cache config")
        );

        let none = parse_manifest(
            &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [layer('a', 1, None)]}))
                .unwrap(),
            None,
        )
        .unwrap();
        assert!(
            shape(&none)
                .unwrap_err()
                .to_string()
                .contains("not a BuildKit cache")
        );
    }

    #[test]
    fn layer_times_come_from_the_annotation_else_the_cache_config() {
        let cfg = parse_cache_config(
            &serde_json::to_vec(&json!({"layers": [
                {"blob": d('a'), "annotations": {"createdAt": "2026-01-01T00:00:00Z"}},
                {"blob": d('b'), "annotations": {"createdAt": "2026-01-02T00:00:00Z"}}]}))
            .unwrap(),
        )
        .unwrap();
        let descs: Vec<Descriptor> = [
            layer('a', 10, Some("2026-05-05T05:05:05Z")),
            layer('b', 20, None),
            layer('e', 30, None),
        ]
        .iter()
        .map(|v| {
            let Manifest::Index(i) = parse_manifest(
                &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [v]})).unwrap(),
                None,
            )
            .unwrap() else {
                panic!()
            };
            i.manifests[0].clone()
        })
        .collect();
        let layers = cache_layers(&descs, &cfg);
        assert_eq!(
            layers[0].created_at,
            Some(Utc.with_ymd_and_hms(2026, 5, 5, 5, 5, 5).unwrap())
        );
        assert_eq!(
            layers[1].created_at,
            Some(Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap())
        );
        assert_eq!(layers[1].time_source, Some("cache config createdAt"));
        assert_eq!(layers[2].created_at, None);

        let src = SourceRef::new(SourceKind::Registry, "r/app:cache");
        let facts = ManifestFacts {
            digest: Digest::parse(&d('f')).unwrap(),
            media_type: media::OCI_INDEX.into(),
            own_bytes: 500,
            layout: Layout::CacheIndex,
            index: None,
            platform: None,
            cache_records: Some(4),
            fallback_created: None,
        };
        let es = entries(&src, "r/app:cache", &facts, &layers);
        assert_eq!(es.len(), 4);
        assert_eq!(es[0].kind, KIND_MANIFEST);
        assert_eq!(es[0].size_bytes, 500);
        assert_eq!(es[0].created_at, layers[0].created_at, "newest layer");
        assert_eq!(es[0].details["layers_bytes"], "60");
        assert_eq!(es[2].id, d('b'));
        assert_eq!(es[2].kind, KIND_LAYER);
        assert_eq!(es[2].size_bytes, 20);
        assert_eq!(es[2].description, "layer 2/3 of r/app:cache");
        assert_eq!(es[2].details["manifest"], d('f'));
    }
}
