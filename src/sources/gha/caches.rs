//! GitHub's answers about caches, as documented for the REST API, and the entries
//! cachetop makes of them.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::kind::kind_of;
use crate::model::{Entry, Origin, SourceRef};

/// One page of `GET /repos/{o}/{r}/actions/caches`.
#[derive(Clone, Debug, Deserialize)]
pub struct CachePage {
    pub total_count: u64,
    pub actions_caches: Vec<ApiCache>,
}

/// One cache. GitHub's schema marks every field optional; only the id is needed to
/// delete, so only the id is required here.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiCache {
    pub id: u64,
    #[serde(rename = "ref", default)]
    pub git_ref: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub last_accessed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub size_in_bytes: u64,
}

/// `GET /repos/{o}/{r}/actions/cache/usage`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiUsage {
    #[serde(default)]
    pub full_name: String,
    pub active_caches_size_in_bytes: u64,
    pub active_caches_count: u64,
}

/// `GET /repos/{o}/{r}`, the one field we need.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiRepository {
    pub default_branch: Option<String>,
}

impl ApiCache {
    /// The entry for this cache. `host` is set for hosts other than github.com, so
    /// the equivalent `gh` command can name it.
    pub fn into_entry(self, source: &SourceRef, host: Option<&str>) -> Entry {
        let mut e = Entry::new(
            source.clone(),
            self.id.to_string(),
            kind_of(&self.key, &self.version),
        );
        e.description = self.key;
        e.size_bytes = self.size_in_bytes;
        e.created_at = self.created_at;
        e.last_used_at = self.last_accessed_at;
        e.details.insert("ref".into(), self.git_ref.clone());
        if !self.version.is_empty() {
            e.details.insert("version".into(), self.version);
        }
        if let Some(h) = host {
            e.details.insert("host".into(), h.to_string());
        }
        e.origin = Origin::Gha {
            host: host.map(str::to_string),
            git_ref: Some(self.git_ref),
        };
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

    /// The example response of GitHub's "List GitHub Actions caches for a repository".
    const DOCS_EXAMPLE: &str = r#"{
      "total_count": 2,
      "actions_caches": [
        {
          "id": 505,
          "ref": "refs/heads/main",
          "key": "Linux-node-958aff96db2d75d67787d1e634ae70b659de937b",
          "version": "73885106f58cc52a7df9ec4d4a5622a5614813162cb516c759a30af6bf56e6f0",
          "last_accessed_at": "2019-01-24T22:45:36.000Z",
          "created_at": "2019-01-24T22:45:36.000Z",
          "size_in_bytes": 1024
        },
        {
          "id": 506,
          "ref": "refs/heads/main",
          "key": "Windows-node-958aff96db2d75d67787d1e634ae70b659de937b",
          "version": "73885106f58cc52a7df9ec4d4a5622a5614813162cb516c759a30af6bf56e6f0",
          "last_accessed_at": "2019-01-24T22:45:36.000Z",
          "created_at": "2019-01-24T22:45:36.000Z",
          "size_in_bytes": 1024
        }
      ]
    }"#;

    #[test]
    fn githubs_documented_example_becomes_entries() {
        let page: CachePage = serde_json::from_str(DOCS_EXAMPLE).unwrap();
        assert_eq!(page.total_count, 2);
        let src = SourceRef::new(SourceKind::Gha, "octo/repo");
        let mut caches = page.actions_caches.into_iter();
        let e = caches.next().unwrap().into_entry(&src, None);
        assert_eq!(e.id, "505");
        assert_eq!(e.kind, "gha.other");
        assert_eq!(
            e.description,
            "Linux-node-958aff96db2d75d67787d1e634ae70b659de937b"
        );
        assert_eq!(e.size_bytes, 1024);
        assert_eq!(
            e.last_used_at.unwrap().to_rfc3339(),
            "2019-01-24T22:45:36+00:00"
        );
        assert_eq!(e.details["ref"], "refs/heads/main");
        assert!(!e.details.contains_key("host"));
        assert_eq!(
            e.origin,
            Origin::Gha {
                host: None,
                git_ref: Some("refs/heads/main".into())
            }
        );
        let e = caches
            .next()
            .unwrap()
            .into_entry(&src, Some("ghe.example.com"));
        assert_eq!(e.details["host"], "ghe.example.com");
    }

    #[test]
    fn a_cache_without_an_id_or_with_a_wrong_type_is_refused() {
        assert!(serde_json::from_str::<ApiCache>(r#"{"key":"k"}"#).is_err());
        assert!(serde_json::from_str::<ApiCache>(r#"{"id":"505"}"#).is_err());
        assert!(serde_json::from_str::<ApiCache>(r#"{"id":5,"size_in_bytes":-1}"#).is_err());
        let minimal: ApiCache = serde_json::from_str(r#"{"id":5}"#).unwrap();
        assert_eq!(minimal.size_in_bytes, 0);
        assert!(serde_json::from_str::<CachePage>(r#"{"actions_caches":[]}"#).is_err());
    }
}
