//! Image indexes and image manifests (OCI and Docker schema 2).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::media::{self, essence};
use super::{Digest, FormatError};

/// A pointer to content: what it is, its digest and size, and its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    /// `os/architecture[/variant]`, when the descriptor names a platform.
    pub platform: Option<String>,
}

impl Descriptor {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    Index(Index),
    Image(ImageManifest),
}

impl Manifest {
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index(i) => &i.media_type,
            Manifest::Image(m) => &m.media_type,
        }
    }

    /// Every descriptor this manifest points at, in order.
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Manifest::Index(i) => i.manifests.iter().collect(),
            Manifest::Image(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    manifests: Option<Vec<RawDescriptor>>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<serde_json::Value>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

/// Parses a manifest or index. `declared` is the media type it was served or
/// referenced as (a Content-Type header, or the descriptor that pointed at it); it
/// must agree with the `mediaType` inside, when both are given.
pub fn parse_manifest(bytes: &[u8], declared: Option<&str>) -> Result<Manifest, FormatError> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| FormatError::NotJson(e.to_string()))?;
    match &raw.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_i64() == Some(2) => {}
        Some(serde_json::Value::Number(n)) => {
            return Err(FormatError::SchemaVersion(n.as_i64().unwrap_or(-1)));
        }
        Some(_) => return Err(FormatError::Invalid("schemaVersion is not a number".into())),
        None => return Err(FormatError::Invalid("schemaVersion is missing".into())),
    }
    let inside = raw.media_type.as_deref().map(essence);
    let declared = declared
        .map(essence)
        .filter(|d| !d.is_empty() && media::is_manifest(d));
    if let (Some(i), Some(d)) = (inside, declared)
        && i != d
    {
        return Err(FormatError::Invalid(format!(
            "it says its media type is {i:?} but was served as {d:?}"
        )));
    }
    let media_type = match inside.or(declared) {
        Some(m) => m.to_string(),
        // OCI lets the field be absent; the shape then says what it is.
        None if raw.manifests.is_some() => media::OCI_INDEX.to_string(),
        None if raw.config.is_some() => media::OCI_MANIFEST.to_string(),
        None => {
            return Err(FormatError::Invalid(
                "it has no mediaType, no manifests and no config".into(),
            ));
        }
    };
    if media::is_index(&media_type) {
        let list = raw
            .manifests
            .ok_or_else(|| FormatError::Invalid("an index without a manifests list".into()))?;
        let manifests = list
            .into_iter()
            .enumerate()
            .map(|(i, d)| descriptor(d, &format!("manifests[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Manifest::Index(Index {
            media_type,
            manifests,
        }))
    } else if media::is_image_manifest(&media_type) {
        let config = raw
            .config
            .ok_or_else(|| FormatError::Invalid("an image manifest without a config".into()))?;
        let config = descriptor(config, "config")?;
        let layers = raw
            .layers
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, d)| descriptor(d, &format!("layers[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Manifest::Image(ImageManifest {
            media_type,
            config,
            layers,
        }))
    } else {
        Err(FormatError::WrongMediaType {
            found: media_type,
            expected:
                "an OCI index or image manifest, or a Docker manifest list or schema 2 manifest"
                    .into(),
        })
    }
}

fn descriptor(raw: RawDescriptor, at: &str) -> Result<Descriptor, FormatError> {
    let invalid = |why: String| FormatError::Invalid(format!("{at}: {why}"));
    let media_type = raw
        .media_type
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("no mediaType".into()))?;
    let digest = raw.digest.ok_or_else(|| invalid("no digest".into()))?;
    let digest = Digest::parse(&digest).map_err(|e| invalid(e.to_string()))?;
    let size = match raw.size {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| invalid(format!("size {n} is not a byte count")))?,
        Some(other) => return Err(invalid(format!("size {other} is not a number"))),
        None => return Err(invalid("no size".into())),
    };
    let platform = raw.platform.map(|p| {
        let mut s = format!(
            "{}/{}",
            p.os.unwrap_or_default(),
            p.architecture.unwrap_or_default()
        );
        if let Some(v) = p.variant.filter(|v| !v.is_empty()) {
            s.push('/');
            s.push_str(&v);
        }
        s
    });
    Ok(Descriptor {
        media_type,
        digest,
        size,
        annotations: raw.annotations.unwrap_or_default(),
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    fn bytes(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn reads_a_cache_index() {
        let m = parse_manifest(
            &bytes(json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d('a'),
                     "size": 10, "annotations": {"buildkit/createdat": "2026-01-01T00:00:00Z"}},
                    {"mediaType": media::CACHE_CONFIG, "digest": d('b'), "size": 5}
                ]
            })),
            Some(media::OCI_INDEX),
        )
        .unwrap();
        let Manifest::Index(i) = m else { panic!() };
        assert_eq!(i.manifests.len(), 2);
        assert_eq!(i.manifests[0].size, 10);
        assert_eq!(
            i.manifests[0].annotation("buildkit/createdat"),
            Some("2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn reads_an_image_manifest_without_a_media_type_field() {
        let m = parse_manifest(
            &bytes(json!({
                "schemaVersion": 2,
                "config": {"mediaType": media::CACHE_CONFIG, "digest": d('c'), "size": 3},
                "layers": []
            })),
            None,
        )
        .unwrap();
        assert_eq!(m.media_type(), media::OCI_MANIFEST);
        assert_eq!(m.children().len(), 1);
    }

    #[test]
    fn malformed_manifests_are_clear_errors() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "not valid JSON"),
            (b"[]".to_vec(), "not valid JSON"),
            (
                bytes(json!({"schemaVersion": 1, "name": "x"})),
                "schemaVersion is 1",
            ),
            (
                bytes(json!({"mediaType": media::OCI_INDEX, "manifests": []})),
                "schemaVersion is missing",
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX})),
                "without a manifests list",
            ),
            (
                bytes(json!({"schemaVersion": 2, "mediaType": media::OCI_MANIFEST, "layers": []})),
                "without a config",
            ),
            (
                bytes(json!({"schemaVersion": 2, "manifests": [{"digest": d('a'), "size": 1}]})),
                "manifests[0]: no mediaType",
            ),
            (
                bytes(json!({"schemaVersion": 2, "manifests": [
                    {"mediaType": "x", "digest": "sha256:zz", "size": 1}]})),
                "manifests[0]: digest \"sha256:zz\"",
            ),
            (
                bytes(json!({"schemaVersion": 2, "manifests": [
                    {"mediaType": "x", "digest": d('a'), "size": -4}]})),
                "size -4 is not a byte count",
            ),
            (
                bytes(json!({"schemaVersion": 2, "config": {"mediaType": "x", "digest": d('a')}})),
                "config: no size",
            ),
        ];
        for (input, want) in cases {
            let e = parse_manifest(&input, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn wrong_media_types_are_clear_errors() {
        let e = parse_manifest(
            &bytes(
                json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.config.v1+json",
                          "config": {"mediaType": "x", "digest": d('a'), "size": 1}}),
            ),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::WrongMediaType { .. }), "{e}");
        assert!(e.to_string().contains("image.config"), "{e}");

        let e = parse_manifest(
            &bytes(json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": []})),
            Some(media::DOCKER_MANIFEST),
        )
        .unwrap_err();
        assert!(e.to_string().contains("served as"), "{e}");
    }

    #[test]
    fn platforms_are_named() {
        let m = parse_manifest(
            &bytes(
                json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [
                {"mediaType": media::OCI_MANIFEST, "digest": d('a'), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}),
            ),
            None,
        )
        .unwrap();
        assert_eq!(m.children()[0].platform.as_deref(), Some("linux/arm64/v8"));
    }
}
