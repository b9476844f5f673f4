//! BuildKit's cache config blob (`application/vnd.buildkit.cacheconfig.v0`) and the
//! inline cache an image config carries under `moby.buildkit.cache.v0`.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{Digest, FormatError};

/// What cachetop needs from a cache config: each layer's time, and how many records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheConfig {
    /// Layer blob digest -> the `createdAt` BuildKit recorded for it.
    pub layers: BTreeMap<Digest, Option<DateTime<Utc>>>,
    pub records: usize,
}

#[derive(Deserialize)]
struct RawCacheConfig {
    #[serde(default)]
    layers: Option<Vec<RawCacheLayer>>,
    #[serde(default)]
    records: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawCacheLayer {
    blob: Option<String>,
    annotations: Option<RawLayerAnnotations>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLayerAnnotations {
    created_at: Option<String>,
}

pub fn parse_cache_config(bytes: &[u8]) -> Result<CacheConfig, FormatError> {
    let raw: RawCacheConfig =
        serde_json::from_slice(bytes).map_err(|e| FormatError::NotJson(e.to_string()))?;
    let mut out = CacheConfig {
        records: raw.records.map_or(0, |r| r.len()),
        ..Default::default()
    };
    for (i, l) in raw.layers.unwrap_or_default().into_iter().enumerate() {
        let blob = l
            .blob
            .ok_or_else(|| FormatError::Invalid(format!("layers[{i}] has no blob digest")))?;
        let blob =
            Digest::parse(&blob).map_err(|e| FormatError::Invalid(format!("layers[{i}]: {e}")))?;
        let created = match l.annotations.and_then(|a| a.created_at) {
            Some(t) => parse_time(&t)
                .map_err(|e| FormatError::Invalid(format!("layers[{i}].createdAt: {e}")))?,
            None => None,
        };
        out.layers.insert(blob, created);
    }
    Ok(out)
}

/// An RFC 3339 time as Go writes it; Go's zero time means "not set".
pub fn parse_time(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})"))?
        .with_timezone(&Utc);
    Ok((t.timestamp() > 0).then_some(t))
}

/// The facts of an image config that matter for inline cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub created: Option<DateTime<Utc>>,
    /// One per non-empty history step, in layer order: when, and by what command.
    pub layer_history: Vec<(Option<DateTime<Utc>>, String)>,
    /// Records of the inline cache, when the config carries `moby.buildkit.cache.v0`.
    pub inline_cache_records: Option<usize>,
}

#[derive(Deserialize)]
struct RawImageConfig {
    created: Option<String>,
    #[serde(default)]
    history: Option<Vec<RawHistory>>,
    #[serde(rename = "moby.buildkit.cache.v0")]
    inline_cache: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawHistory {
    created: Option<String>,
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

pub fn parse_image_config(bytes: &[u8]) -> Result<ImageConfig, FormatError> {
    let raw: RawImageConfig =
        serde_json::from_slice(bytes).map_err(|e| FormatError::NotJson(e.to_string()))?;
    let time = |t: Option<String>, at: &str| -> Result<_, FormatError> {
        match t {
            Some(t) => parse_time(&t).map_err(|e| FormatError::Invalid(format!("{at}: {e}"))),
            None => Ok(None),
        }
    };
    let mut layer_history = Vec::new();
    for (i, h) in raw.history.unwrap_or_default().into_iter().enumerate() {
        if !h.empty_layer {
            layer_history.push((
                time(h.created, &format!("history[{i}].created"))?,
                h.created_by.unwrap_or_default(),
            ));
        }
    }
    let inline_cache_records = match raw.inline_cache {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(b64)) => Some(inline_records(&b64)?),
        Some(_) => {
            return Err(FormatError::Invalid(
                "moby.buildkit.cache.v0 is not a base64 string".into(),
            ));
        }
    };
    Ok(ImageConfig {
        created: time(raw.created, "created")?,
        layer_history,
        inline_cache_records,
    })
}

/// BuildKit stores the inline cache as the base64 of a JSON array of cache records.
fn inline_records(b64: &str) -> Result<usize, FormatError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| FormatError::Invalid(format!("moby.buildkit.cache.v0 is not base64: {e}")))?;
    let records: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| {
        FormatError::Invalid(format!(
            "moby.buildkit.cache.v0 does not hold a JSON list of cache records: {e}"
        ))
    })?;
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn d(n: char) -> String {
        format!("sha256:{}", n.to_string().repeat(64))
    }

    #[test]
    fn cache_config_layers_and_times() {
        let cfg = parse_cache_config(
            &serde_json::to_vec(&json!({
                "layers": [
                    {"blob": d('a'), "annotations": {"createdAt": "2026-03-01T10:00:00.123456789Z"}},
                    {"blob": d('b'), "parent": 0, "annotations": {"createdAt": "0001-01-01T00:00:00Z"}},
                    {"blob": d('c')}
                ],
                "records": [{"digest": d('e')}, {"digest": d('f')}]
            }))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(cfg.records, 2);
        let a = Digest::parse(&d('a')).unwrap();
        assert_eq!(
            cfg.layers[&a].unwrap().timestamp(),
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0)
                .unwrap()
                .timestamp()
        );
        assert_eq!(cfg.layers[&Digest::parse(&d('b')).unwrap()], None);
        assert_eq!(cfg.layers[&Digest::parse(&d('c')).unwrap()], None);
    }

    #[test]
    fn bad_cache_configs_are_clear_errors() {
        for (input, want) in [
            (
                json!({"layers": [{"annotations": {}}]}),
                "layers[0] has no blob",
            ),
            (
                json!({"layers": [{"blob": "sha256:1"}]}),
                "layers[0]: digest",
            ),
            (
                json!({"layers": [{"blob": d('a'), "annotations": {"createdAt": "yesterday"}}]}),
                "layers[0].createdAt",
            ),
            (json!({"layers": "x"}), "not valid JSON"),
        ] {
            let e = parse_cache_config(&serde_json::to_vec(&input).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn inline_cache_in_an_image_config() {
        let records = base64::engine::general_purpose::STANDARD.encode(br#"[{"digest":"x"}]"#);
        let cfg = parse_image_config(
            &serde_json::to_vec(&json!({
                "created": "2026-02-02T02:02:02Z",
                "history": [
                    {"created": "2026-02-01T00:00:00Z", "created_by": "import"},
                    {"created": "2026-02-02T00:00:00Z", "created_by": "ENV A=1", "empty_layer": true},
                    {"created": "2026-02-02T01:00:00Z", "created_by": "RUN make"}
                ],
                "moby.buildkit.cache.v0": records
            }))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(cfg.inline_cache_records, Some(1));
        assert_eq!(cfg.layer_history.len(), 2);
        assert_eq!(cfg.layer_history[1].1, "RUN make");

        let plain = parse_image_config(br#"{"created":"2026-02-02T02:02:02Z"}"#).unwrap();
        assert_eq!(plain.inline_cache_records, None);

        for (v, want) in [
            (json!({"moby.buildkit.cache.v0": 5}), "not a base64 string"),
            (json!({"moby.buildkit.cache.v0": "!!!"}), "not base64"),
            (
                json!({"moby.buildkit.cache.v0": base64::engine::general_purpose::STANDARD.encode(b"{}")}),
                "JSON list",
            ),
        ] {
            let e = parse_image_config(&serde_json::to_vec(&v).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }
}
