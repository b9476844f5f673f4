//! Build-cache records from `GET /system/df`, in every shape the API has had:
//! `BuildCache[]` with `Parent` (≤1.41) or `Parents` (1.42+), and
//! `BuildCacheUsage.Items` (1.52+ with `verbose=1`; the only one left in 1.53).

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::description::parse_cache_mount;
use crate::model::{Entry, Origin, SourceRef};

/// One BuildKit cache record as the Engine API reports it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Record {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Parent", default)]
    pub parent: Option<String>,
    #[serde(rename = "Parents", default)]
    pub parents: Option<Vec<String>>,
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
    #[serde(rename = "Description", default)]
    pub description: Option<String>,
    #[serde(rename = "InUse", default)]
    pub in_use: bool,
    #[serde(rename = "Shared", default)]
    pub shared: bool,
    #[serde(rename = "Size", default)]
    pub size: i64,
    #[serde(rename = "CreatedAt", default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(rename = "LastUsedAt", default)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(rename = "UsageCount", default)]
    pub usage_count: Option<i64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DfError {
    #[error("the /system/df answer is not the JSON we expect ({0})")]
    Json(String),
    #[error(
        "the daemon reported {0} build-cache records but listed none (it wants `verbose=1`, which a proxy may have dropped)"
    )]
    CountsWithoutItems(i64),
}

/// Reads the build-cache records out of a `/system/df` body, whatever its API shape,
/// straight into entries: each record is converted as it is parsed, so a 100,000-record
/// answer is never held twice.
pub fn parse_df(body: &[u8], source: &SourceRef) -> Result<Vec<Entry>, DfError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let answer = DfSeed(source)
        .deserialize(&mut de)
        .and_then(|a| de.end().map(|_| a))
        .map_err(|e| DfError::Json(e.to_string()))?;
    if answer.usage_present {
        if let Some(items) = answer.usage_items {
            return Ok(items);
        }
        if answer.build_cache.is_none() {
            return match answer.total_count {
                Some(n) if n > 0 => Err(DfError::CountsWithoutItems(n)),
                _ => Ok(Vec::new()),
            };
        }
    }
    Ok(answer.build_cache.unwrap_or_default())
}

#[derive(Default)]
struct DfParsed {
    build_cache: Option<Vec<Entry>>,
    usage_present: bool,
    usage_items: Option<Vec<Entry>>,
    total_count: Option<i64>,
}

/// The top-level `/system/df` object: only the build-cache keys are read.
struct DfSeed<'a>(&'a SourceRef);

impl<'de> DeserializeSeed<'de> for DfSeed<'_> {
    type Value = DfParsed;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<DfParsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DfSeed<'_> {
    type Value = DfParsed;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a /system/df object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DfParsed, A::Error> {
        let mut out = DfParsed::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "BuildCache" => out.build_cache = map.next_value_seed(RecordsSeed(self.0))?,
                "BuildCacheUsage" => {
                    if let Some((items, total)) = map.next_value_seed(UsageSeed(self.0))? {
                        out.usage_present = true;
                        out.usage_items = items;
                        out.total_count = total;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// `BuildCacheUsage` (1.52+): `Items` and `TotalCount`, or null.
struct UsageSeed<'a>(&'a SourceRef);

type UsageParts = Option<(Option<Vec<Entry>>, Option<i64>)>;

impl<'de> DeserializeSeed<'de> for UsageSeed<'_> {
    type Value = UsageParts;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<UsageParts, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for UsageSeed<'_> {
    type Value = UsageParts;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a BuildCacheUsage object or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<UsageParts, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<UsageParts, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<UsageParts, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UsageParts, A::Error> {
        let (mut items, mut total) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "Items" => items = map.next_value_seed(RecordsSeed(self.0))?,
                "TotalCount" => total = map.next_value::<Option<i64>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some((items, total)))
    }
}

/// A list of records (or null), each turned into an entry as soon as it is read.
struct RecordsSeed<'a>(&'a SourceRef);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<Entry>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<Entry>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of build-cache records or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(rec) = seq.next_element::<Record>()? {
            // Like a missing ID: a record nothing can name is not one to list or delete.
            if rec.id.is_empty() {
                return Err(de::Error::custom("a build-cache record has an empty ID"));
            }
            out.push(rec.into_entry(self.0));
        }
        Ok(Some(out))
    }
}

impl Record {
    /// Parents in one list, whichever field the API version used.
    pub fn all_parents(&self) -> Vec<String> {
        let mut out: Vec<String> = self.parents.clone().unwrap_or_default();
        // An empty parent names no record (and would read as one in `details`).
        out.retain(|p| !p.is_empty());
        if let Some(p) = &self.parent
            && !p.is_empty()
            && !out.contains(p)
        {
            out.push(p.clone());
        }
        out
    }

    pub fn into_entry(self, source: &SourceRef) -> Entry {
        let parents = self.all_parents();
        let kind = self
            .kind
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        let mut e = Entry::new(source.clone(), self.id, kind);
        e.description = self.description.unwrap_or_default();
        e.mount = parse_cache_mount(&e.description);
        e.size_bytes = u64::try_from(self.size).unwrap_or(0);
        e.created_at = self.created_at.and_then(real_time);
        e.last_used_at = self.last_used_at.and_then(real_time);
        e.usage_count = self.usage_count.and_then(|n| u64::try_from(n).ok());
        e.in_use = self.in_use;
        e.shared = self.shared;
        if !parents.is_empty() {
            e.details.insert("parents".to_string(), parents.join(", "));
        }
        e.origin = Origin::Docker { parents };
        e
    }
}

/// Go's zero time (`0001-01-01T00:00:00Z`) means "never".
fn real_time(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (t.year() > 1).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/docker/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn src() -> SourceRef {
        SourceRef::new(SourceKind::Docker, "unix:///var/run/docker.sock")
    }

    #[test]
    fn recorded_api_1_41_answer_with_parent() {
        let entries = parse_df(&fixture("df-v1.41.json"), &src()).unwrap();
        assert_eq!(entries.len(), 6);
        let e = entries
            .iter()
            .find(|r| r.id == "ufkdtw3x1lkysw5eit7oc8i9m")
            .unwrap()
            .clone();
        assert_eq!(e.kind, "exec.cachemount");
        let child = entries
            .iter()
            .find(|r| r.id == "iebvogfog5sym3xp3fadod15y")
            .unwrap();
        assert_eq!(child.details["parents"], "chjwlrx8wdmnl2qxfraxkbn50");
        assert_eq!(e.mount.unwrap().target, "/cache/cargo");
        assert_eq!(e.usage_count, Some(2));
        assert_eq!(e.size_bytes, 3_145_728);
    }

    fn assert_documented_records(entries: Vec<Entry>) {
        assert_eq!(entries.len(), 3);
        let regular = &entries[0];
        assert_eq!(regular.kind, "regular");
        assert!(regular.shared);
        assert_eq!(regular.details["parents"], "hw53o5aio51xtltp5xjp8v7fx");
        assert!(regular.mount.is_none());
        let cm = &entries[1];
        assert!(cm.in_use);
        let m = cm.mount.as_ref().unwrap();
        assert_eq!(m.target, "/usr/local/cargo/registry");
        assert_eq!(m.cache_id.as_deref(), Some("cargo-registry"));
        assert_eq!(m.command, "/bin/sh -c cargo fetch --locked");
        assert_eq!(cm.size_bytes, 734_003_200);
        assert_eq!(
            cm.created_at.unwrap().to_rfc3339(),
            "2025-03-10T08:00:00.000000001+00:00"
        );
        let local = &entries[2];
        assert_eq!(local.last_used_at, None);
        assert_eq!(local.usage_count, Some(0));
        assert!(!local.details.contains_key("parents"));
    }

    #[test]
    fn api_1_42_parents_array() {
        assert_documented_records(parse_df(&fixture("df-v1.44.json"), &src()).unwrap());
    }

    #[test]
    fn api_1_52_legacy_list_beside_counts() {
        assert_documented_records(parse_df(&fixture("df-v1.52.json"), &src()).unwrap());
    }

    #[test]
    fn api_1_52_verbose_and_1_53_items() {
        assert_documented_records(parse_df(&fixture("df-v1.52-verbose.json"), &src()).unwrap());
        assert_documented_records(parse_df(&fixture("df-v1.53.json"), &src()).unwrap());
    }

    #[test]
    fn counts_without_items_is_an_error_not_an_empty_cache() {
        assert_eq!(
            parse_df(&fixture("df-v1.53-no-items.json"), &src()),
            Err(DfError::CountsWithoutItems(3))
        );
        assert_eq!(
            parse_df(br#"{"BuildCacheUsage":{"TotalCount":0}}"#, &src()),
            Ok(vec![])
        );
    }

    #[test]
    fn empty_and_null_lists() {
        assert_eq!(
            parse_df(br#"{"BuildCacheUsage":null,"BuildCache":[]}"#, &src()),
            Ok(vec![])
        );
        assert_eq!(parse_df(br#"{"BuildCache":null}"#, &src()), Ok(vec![]));
        assert_eq!(parse_df(br#"{"Images":[]}"#, &src()), Ok(vec![]));
    }

    #[test]
    fn malformed_answers_are_errors() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            br#"{"BuildCache":[{"ID":"a","Size":"big"}]}"#,
            br#"{"BuildCache":[{"Size":1}]}"#,
            br#"{"BuildCache":{"#,
            br#"{"BuildCache":[]} trailing"#,
        ] {
            assert!(
                matches!(parse_df(body, &src()), Err(DfError::Json(_))),
                "{body:?}"
            );
        }
    }

    /// Found by the `system_df` fuzz target's checks: an empty ID became an entry no
    /// prune can name, and an empty parent an empty name in `details["parents"]`.
    #[test]
    fn empty_ids_are_malformed_and_empty_parents_name_nothing() {
        let err = parse_df(br#"{"BuildCache":[{"ID":"a"},{"ID":""}]}"#, &src()).unwrap_err();
        assert!(err.to_string().contains("empty ID"), "{err}");
        let entries = parse_df(
            br#"{"BuildCache":[{"ID":"a","Parents":["","p"]},{"ID":"b","Parents":[""],"Parent":""}]}"#,
            &src(),
        )
        .unwrap();
        assert_eq!(entries[0].details["parents"], "p");
        assert!(!entries[1].details.contains_key("parents"));
    }

    #[test]
    fn zero_times_and_negative_sizes_mean_unknown() {
        let entries = parse_df(
            br#"{"BuildCache":[{"ID":"a","Size":-1,"LastUsedAt":"0001-01-01T00:00:00Z","UsageCount":-1}]}"#,
            &src(),
        )
        .unwrap();
        let e = &entries[0];
        assert_eq!(e.size_bytes, 0);
        assert_eq!(e.last_used_at, None);
        assert_eq!(e.usage_count, None);
        assert_eq!(e.kind, "unknown");
    }
}
