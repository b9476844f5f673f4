//! Why a repository's Actions caches evict each other: usage against the limit,
//! bytes by ref (pull requests against the default branch), bytes by kind, and keys
//! saved on several refs. A pure function of the listed entries.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::kind::BUILDKIT_BLOB;
use crate::model::Entry;
use crate::units::format_size;

/// GitHub's own figure: 10 GB per repository.
pub const DEFAULT_LIMIT_BYTES: u64 = 10_000_000_000;
/// How many refs and keys the JSON details list by name (all are counted).
pub const TOP: usize = 20;
/// How many refs of one key the JSON details list by name.
const TOP_REFS_OF_KEY: usize = 10;
/// At this share of the limit the summary warns.
const NEAR_LIMIT_PERCENT: u64 = 90;

/// Where a cache was saved, as far as eviction is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefClass {
    DefaultBranch,
    /// `refs/pull/N/merge` (or `/head`): usable only by that pull request.
    PullRequest,
    OtherBranch,
    Tag,
    Other,
}

impl RefClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RefClass::DefaultBranch => "default_branch",
            RefClass::PullRequest => "pull_requests",
            RefClass::OtherBranch => "other_branches",
            RefClass::Tag => "tags",
            RefClass::Other => "other",
        }
    }
}

pub fn ref_class(git_ref: &str, default_branch: Option<&str>) -> RefClass {
    if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        if default_branch == Some(branch) {
            RefClass::DefaultBranch
        } else {
            RefClass::OtherBranch
        }
    } else if git_ref.starts_with("refs/pull/") {
        RefClass::PullRequest
    } else if git_ref.starts_with("refs/tags/") {
        RefClass::Tag
    } else {
        RefClass::Other
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub caches: u64,
    pub bytes: u64,
}

impl Tally {
    /// Saturating: sizes come from the server, and a garbage one must not panic.
    fn add(&mut self, bytes: u64) {
        self.caches += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }

    fn json(&self) -> Value {
        json!({ "caches": self.caches, "bytes": self.bytes })
    }
}

/// A group whose caches alone push the repository over its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Culprit {
    PullRequests,
    BuildkitBlobs,
}

impl Culprit {
    pub fn as_str(self) -> &'static str {
        match self {
            Culprit::PullRequests => "pull_requests",
            Culprit::BuildkitBlobs => "buildkit_blobs",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Culprit::PullRequests => "pull-request caches",
            Culprit::BuildkitBlobs => "BuildKit blobs",
        }
    }
}

/// One key saved under more than one ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedKey {
    pub key: String,
    /// Sorted.
    pub refs: Vec<String>,
    pub tally: Tally,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    pub repo: String,
    pub limit_bytes: u64,
    pub total: Tally,
    pub default_branch: Option<String>,
    pub by_class: BTreeMap<RefClass, Tally>,
    /// Largest first.
    pub by_ref: Vec<(String, Tally)>,
    /// Largest first.
    pub by_kind: Vec<(String, Tally)>,
    /// Largest first.
    pub shared_keys: Vec<SharedKey>,
    /// Groups without which the repository would fit its limit.
    pub pushes_over: Vec<Culprit>,
}

/// Analyses one repository's entries (from their ref, `kind`, the key in
/// `description` and `size_bytes`).
pub fn analyse(
    repo: &str,
    entries: &[Entry],
    default_branch: Option<&str>,
    limit_bytes: u64,
) -> Analysis {
    let mut total = Tally::default();
    let mut by_class: BTreeMap<RefClass, Tally> = BTreeMap::new();
    let mut by_ref: HashMap<&str, Tally> = HashMap::new();
    let mut by_kind: HashMap<&str, Tally> = HashMap::new();
    let mut by_key: HashMap<&str, (Vec<&str>, Tally)> = HashMap::new();
    for e in entries {
        let git_ref = e.origin.git_ref().unwrap_or("");
        let bytes = e.size_bytes;
        total.add(bytes);
        by_class
            .entry(ref_class(git_ref, default_branch))
            .or_default()
            .add(bytes);
        by_ref.entry(git_ref).or_default().add(bytes);
        by_kind.entry(&e.kind).or_default().add(bytes);
        let (refs, tally) = by_key.entry(&e.description).or_default();
        if !refs.contains(&git_ref) {
            refs.push(git_ref);
        }
        tally.add(bytes);
    }
    let mut shared_keys: Vec<SharedKey> = by_key
        .into_iter()
        .filter(|(_, (refs, _))| refs.len() > 1)
        .map(|(key, (refs, tally))| {
            let mut refs: Vec<String> = refs.into_iter().map(str::to_string).collect();
            refs.sort();
            SharedKey {
                key: key.to_string(),
                refs,
                tally,
            }
        })
        .collect();
    shared_keys.sort_by(|a, b| b.tally.bytes.cmp(&a.tally.bytes).then(a.key.cmp(&b.key)));

    let pr_bytes = by_class.get(&RefClass::PullRequest).map_or(0, |t| t.bytes);
    let blob_bytes = by_kind.get(BUILDKIT_BLOB).map_or(0, |t| t.bytes);
    let pushes_over = [
        (Culprit::PullRequests, pr_bytes),
        (Culprit::BuildkitBlobs, blob_bytes),
    ]
    .into_iter()
    .filter(|&(_, b)| b > 0 && total.bytes > limit_bytes && total.bytes - b <= limit_bytes)
    .map(|(c, _)| c)
    .collect();

    Analysis {
        repo: repo.to_string(),
        limit_bytes,
        total,
        default_branch: default_branch.map(str::to_string),
        by_class,
        by_ref: largest_first(by_ref),
        by_kind: largest_first(by_kind),
        shared_keys,
        pushes_over,
    }
}

fn largest_first(m: HashMap<&str, Tally>) -> Vec<(String, Tally)> {
    let mut v: Vec<(String, Tally)> = m.into_iter().map(|(k, t)| (k.to_string(), t)).collect();
    v.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    v
}

impl Analysis {
    pub fn class(&self, c: RefClass) -> Tally {
        self.by_class.get(&c).copied().unwrap_or_default()
    }

    pub fn kind(&self, k: &str) -> Tally {
        self.by_kind
            .iter()
            .find(|(name, _)| name == k)
            .map_or_else(Tally::default, |(_, t)| *t)
    }

    pub fn over_limit(&self) -> bool {
        self.total.bytes > self.limit_bytes
    }

    fn percent(&self) -> u64 {
        if self.limit_bytes == 0 {
            return 0;
        }
        ((self.total.bytes as u128 * 100) / self.limit_bytes as u128) as u64
    }

    /// One sentence a person reads: usage against the limit and, when over it, what
    /// pushes the repository over.
    pub fn summary(&self) -> String {
        let limit = format_size(self.limit_bytes);
        let total = format_size(self.total.bytes);
        let n = self.total.caches;
        let caches = if n == 1 { "cache" } else { "caches" };
        let pr = self.class(RefClass::PullRequest);
        let blobs = self.kind(BUILDKIT_BLOB);
        if self.over_limit() {
            let head = format!(
                "{} is over its {limit} Actions cache limit with {total} in {n} {caches}",
                self.repo
            );
            let bytes_of = |c: Culprit| match c {
                Culprit::PullRequests => pr.bytes,
                Culprit::BuildkitBlobs => blobs.bytes,
            };
            return match self.pushes_over.as_slice() {
                [one] => format!(
                    "{head}: {} ({}) push it over, and without them it would fit.",
                    one.phrase(),
                    format_size(bytes_of(*one))
                ),
                [a, b] => format!(
                    "{head}: {} ({}) and {} ({}) each push it over, and without either it would fit.",
                    a.phrase(),
                    format_size(bytes_of(*a)),
                    b.phrase(),
                    format_size(bytes_of(*b))
                ),
                _ => {
                    let mut s = format!("{head}, so GitHub evicts the least recently used");
                    if let Some((kind, t)) = self.by_kind.first() {
                        s.push_str(&format!(
                            "; the largest share is {kind} ({})",
                            format_size(t.bytes)
                        ));
                    }
                    s.push('.');
                    s
                }
            };
        }
        let mut s = if self.percent() >= NEAR_LIMIT_PERCENT {
            format!(
                "{} is close to its {limit} Actions cache limit with {total} in {n} {caches} ({}%)",
                self.repo,
                self.percent()
            )
        } else {
            format!(
                "{} uses {total} of its {limit} Actions cache limit ({}%) in {n} {caches}",
                self.repo,
                self.percent()
            )
        };
        if pr.bytes > 0 {
            s.push_str(&format!(
                "; {} of it in pull-request caches",
                format_size(pr.bytes)
            ));
        }
        match blobs.caches {
            0 => {}
            1 => s.push_str(&format!(
                "; 1 BuildKit blob holds {}",
                format_size(blobs.bytes)
            )),
            n => s.push_str(&format!(
                "; {n} BuildKit blobs hold {}",
                format_size(blobs.bytes)
            )),
        }
        s.push('.');
        s
    }

    /// The facts behind the summary, for `sources[].details`.
    pub fn details(&self) -> Value {
        let classes: serde_json::Map<String, Value> = [
            RefClass::DefaultBranch,
            RefClass::PullRequest,
            RefClass::OtherBranch,
            RefClass::Tag,
            RefClass::Other,
        ]
        .into_iter()
        .map(|c| {
            let mut t = self.class(c).json();
            if c == RefClass::PullRequest {
                t["refs"] = json!(
                    self.by_ref
                        .iter()
                        .filter(|(r, _)| ref_class(r, None) == RefClass::PullRequest)
                        .count()
                );
            }
            (c.as_str().to_string(), t)
        })
        .collect();
        let shared_bytes = self
            .shared_keys
            .iter()
            .fold(0u64, |a, k| a.saturating_add(k.tally.bytes));
        let shared_caches: u64 = self.shared_keys.iter().map(|k| k.tally.caches).sum();
        json!({
            "limit_bytes": self.limit_bytes,
            "listed_bytes": self.total.bytes,
            "listed_caches": self.total.caches,
            "percent_of_limit": self.percent(),
            "over_limit": self.over_limit(),
            "pushes_over_limit": self.pushes_over.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "default_branch": self.default_branch,
            "by_ref_class": classes,
            "refs": self.by_ref.len(),
            "by_ref": self.by_ref.iter().take(TOP).map(|(r, t)| {
                json!({ "ref": r, "caches": t.caches, "bytes": t.bytes })
            }).collect::<Vec<_>>(),
            "by_kind": self.by_kind.iter().map(|(k, t)| {
                json!({ "kind": k, "caches": t.caches, "bytes": t.bytes })
            }).collect::<Vec<_>>(),
            "keys_on_several_refs": {
                "keys": self.shared_keys.len(),
                "caches": shared_caches,
                "bytes": shared_bytes,
                "top": self.shared_keys.iter().take(TOP).map(|k| {
                    json!({
                        "key": k.key,
                        "ref_count": k.refs.len(),
                        "refs": k.refs.iter().take(TOP_REFS_OF_KEY).collect::<Vec<_>>(),
                        "caches": k.tally.caches,
                        "bytes": k.tally.bytes,
                    })
                }).collect::<Vec<_>>(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SourceKind, SourceRef};

    const GB: u64 = 1_000_000_000;

    fn cache(id: u32, key: &str, git_ref: &str, kind: &str, bytes: u64) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Gha, "octo/app"),
            id.to_string(),
            kind,
        );
        e.description = key.to_string();
        e.size_bytes = bytes;
        e.details.insert("ref".into(), git_ref.to_string());
        e.origin = crate::model::Origin::Gha {
            host: None,
            git_ref: Some(git_ref.to_string()),
        };
        e
    }

    #[test]
    fn refs_are_classed_against_the_default_branch() {
        let main = Some("main");
        assert_eq!(ref_class("refs/heads/main", main), RefClass::DefaultBranch);
        assert_eq!(ref_class("refs/heads/main", None), RefClass::OtherBranch);
        assert_eq!(
            ref_class("refs/heads/mainline", main),
            RefClass::OtherBranch
        );
        assert_eq!(ref_class("refs/pull/42/merge", main), RefClass::PullRequest);
        assert_eq!(ref_class("refs/tags/v1.0", main), RefClass::Tag);
        assert_eq!(ref_class("", main), RefClass::Other);
    }

    #[test]
    fn pull_request_caches_that_alone_push_over_the_limit_are_named() {
        let entries = vec![
            cache(1, "v0-rust-a", "refs/heads/main", "gha.rust-cache", 7 * GB),
            cache(
                2,
                "v0-rust-a",
                "refs/pull/7/merge",
                "gha.rust-cache",
                2 * GB,
            ),
            cache(
                3,
                "v0-rust-b",
                "refs/pull/8/merge",
                "gha.rust-cache",
                2 * GB,
            ),
        ];
        let a = analyse("octo/app", &entries, Some("main"), DEFAULT_LIMIT_BYTES);
        assert!(a.over_limit());
        assert_eq!(a.pushes_over, vec![Culprit::PullRequests]);
        assert_eq!(
            a.summary(),
            "octo/app is over its 10 GB Actions cache limit with 11 GB in 3 caches: \
             pull-request caches (4 GB) push it over, and without them it would fit."
        );
        let d = a.details();
        assert_eq!(d["by_ref_class"]["default_branch"]["bytes"], 7 * GB);
        assert_eq!(d["by_ref_class"]["pull_requests"]["bytes"], 4 * GB);
        assert_eq!(d["by_ref_class"]["pull_requests"]["refs"], 2);
        assert_eq!(d["by_ref"][0]["ref"], "refs/heads/main");
        assert_eq!(d["keys_on_several_refs"]["keys"], 1);
        assert_eq!(d["keys_on_several_refs"]["bytes"], 9 * GB);
        assert_eq!(
            d["keys_on_several_refs"]["top"][0]["refs"],
            json!(["refs/heads/main", "refs/pull/7/merge"])
        );
        assert_eq!(d["pushes_over_limit"], json!(["pull_requests"]));
    }

    #[test]
    fn buildkit_blobs_and_pull_requests_can_both_push_over() {
        let entries = vec![
            cache(
                1,
                "buildkit-blob-1-sha256:a",
                "refs/pull/1/merge",
                BUILDKIT_BLOB,
                3 * GB,
            ),
            cache(
                2,
                "buildkit-blob-1-sha256:b",
                "refs/heads/main",
                BUILDKIT_BLOB,
                2 * GB,
            ),
            cache(3, "setup-go-x", "refs/heads/main", "gha.setup-go", 7 * GB),
        ];
        let a = analyse("octo/app", &entries, Some("main"), DEFAULT_LIMIT_BYTES);
        assert_eq!(
            a.pushes_over,
            vec![Culprit::PullRequests, Culprit::BuildkitBlobs]
        );
        assert!(
            a.summary()
                .contains("pull-request caches (3 GB) and BuildKit blobs (5 GB) each push it over")
        );
    }

    #[test]
    fn over_the_limit_with_no_single_culprit_names_the_largest_kind() {
        let entries = vec![
            cache(1, "k1", "refs/heads/main", "gha.other", 6 * GB),
            cache(2, "v0-rust-x", "refs/heads/dev", "gha.rust-cache", 5 * GB),
            cache(3, "k3", "refs/pull/2/merge", "gha.other", GB / 2),
        ];
        let a = analyse("octo/app", &entries, Some("main"), DEFAULT_LIMIT_BYTES);
        assert!(a.pushes_over.is_empty());
        assert_eq!(
            a.summary(),
            "octo/app is over its 10 GB Actions cache limit with 11.50 GB in 3 caches, so GitHub \
             evicts the least recently used; the largest share is gha.other (6.50 GB)."
        );
    }

    #[test]
    fn under_the_limit_says_how_much_is_used_and_by_what() {
        let entries = vec![
            cache(1, "k", "refs/heads/main", "gha.other", 2 * GB),
            cache(
                2,
                "buildkit-blob-1-x",
                "refs/pull/3/merge",
                BUILDKIT_BLOB,
                GB,
            ),
        ];
        let a = analyse("octo/app", &entries, Some("main"), DEFAULT_LIMIT_BYTES);
        assert!(!a.over_limit());
        assert!(a.pushes_over.is_empty());
        assert_eq!(
            a.summary(),
            "octo/app uses 3 GB of its 10 GB Actions cache limit (30%) in 2 caches; 1 GB of it \
             in pull-request caches; 1 BuildKit blob holds 1 GB."
        );
        let near = analyse(
            "octo/app",
            &[cache(1, "k", "refs/heads/main", "gha.other", 9_500_000_000)],
            Some("main"),
            DEFAULT_LIMIT_BYTES,
        );
        assert_eq!(
            near.summary(),
            "octo/app is close to its 10 GB Actions cache limit with 9.50 GB in 1 cache (95%)."
        );
        let empty = analyse("octo/app", &[], None, DEFAULT_LIMIT_BYTES);
        assert_eq!(
            empty.summary(),
            "octo/app uses 0 B of its 10 GB Actions cache limit (0%) in 0 caches."
        );
        assert_eq!(empty.details()["over_limit"], false);
    }

    #[test]
    fn a_custom_limit_is_what_usage_is_measured_against() {
        let entries = vec![cache(1, "k", "refs/pull/1/merge", "gha.other", 3 * GB)];
        let a = analyse("octo/app", &entries, Some("main"), 2 * GB);
        assert!(a.over_limit());
        assert_eq!(a.pushes_over, vec![Culprit::PullRequests]);
        assert_eq!(a.details()["limit_bytes"], 2 * GB);
        assert_eq!(a.details()["percent_of_limit"], 150);
    }

    #[test]
    fn only_top_refs_and_keys_are_named_but_all_are_counted() {
        let entries: Vec<Entry> = (0..50)
            .map(|i| {
                cache(
                    i,
                    "same-key",
                    &format!("refs/pull/{i}/merge"),
                    "gha.other",
                    u64::from(i) + 1,
                )
            })
            .collect();
        let d = analyse("octo/app", &entries, Some("main"), DEFAULT_LIMIT_BYTES).details();
        assert_eq!(d["refs"], 50);
        assert_eq!(d["by_ref"].as_array().unwrap().len(), TOP);
        assert_eq!(d["by_ref"][0]["ref"], "refs/pull/49/merge");
        let key = &d["keys_on_several_refs"]["top"][0];
        assert_eq!(key["ref_count"], 50);
        assert_eq!(key["refs"].as_array().unwrap().len(), TOP_REFS_OF_KEY);
        assert_eq!(d["by_ref_class"]["pull_requests"]["refs"], 50);
    }
}
