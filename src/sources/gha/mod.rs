//! The GitHub Actions cache source: every cache of one repository from the REST API
//! (`/repos/{o}/{r}/actions/caches`, all pages), its usage, an analysis of what
//! pushes it over its limit, and deletion of one exact cache id at a time.

pub mod address;
pub mod caches;
pub mod client;
pub mod kind;
pub mod pages;
pub mod thrash;

use std::sync::OnceLock;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;

pub use address::{ApiBase, GhaRepo, GithubToken};
use caches::{ApiCache, ApiRepository, ApiUsage, CachePage};
use client::{Client, Limits};
use pages::{Links, MAX_PAGES, Merged, PER_PAGE, Rest, merge, parse_link, plan_rest};
pub use thrash::DEFAULT_LIMIT_BYTES;

use crate::model::{Entry, SourceKind, SourceRef};
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError, shell_quote};

/// Pages fetched at once after the first: quick, and gentle on GitHub's limits.
pub const CONCURRENT_PAGES: usize = 4;
/// Whole listings tried when caches come and go while the pages are read.
const LISTING_ATTEMPTS: u32 = 3;

/// Everything the GHA sources of one run share.
#[derive(Clone, Debug, PartialEq)]
pub struct GhaSettings {
    pub repos: Vec<GhaRepo>,
    pub api: ApiBase,
    pub token: Option<GithubToken>,
    /// Usage is measured against this (GitHub's 10 GB unless told otherwise).
    pub limit_bytes: u64,
}

impl Default for GhaSettings {
    fn default() -> Self {
        Self {
            repos: Vec::new(),
            api: ApiBase::default(),
            token: None,
            limit_bytes: DEFAULT_LIMIT_BYTES,
        }
    }
}

pub struct GhaSource {
    sref: SourceRef,
    repo: GhaRepo,
    api: ApiBase,
    token: Option<GithubToken>,
    limit_bytes: u64,
    limits: Limits,
    client: OnceLock<Result<Client, SourceError>>,
}

impl GhaSource {
    pub fn new(repo: GhaRepo, settings: &GhaSettings) -> Self {
        Self::with_limits(repo, settings, Limits::default())
    }

    pub fn with_limits(repo: GhaRepo, settings: &GhaSettings, limits: Limits) -> Self {
        Self {
            sref: SourceRef::new(SourceKind::Gha, repo.to_string()),
            repo,
            api: settings.api.clone(),
            token: settings.token.clone(),
            limit_bytes: settings.limit_bytes,
            limits,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&Client, SourceError> {
        self.client
            .get_or_init(|| {
                Client::new(
                    self.api.clone(),
                    self.repo.to_string(),
                    self.token.clone(),
                    self.limits,
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn caches_path(&self) -> String {
        format!(
            "/repos/{}/{}/actions/caches",
            self.repo.owner, self.repo.name
        )
    }

    /// One page, oldest caches first: caches saved while the pages are read land on
    /// the last page instead of shifting the ones already read.
    async fn page(&self, page: u64) -> Result<(CachePage, Links), SourceError> {
        let client = self.client()?;
        let per_page = PER_PAGE.to_string();
        let page = page.to_string();
        let url = client.url(
            &self.caches_path(),
            &[
                ("per_page", per_page.as_str()),
                ("page", page.as_str()),
                ("sort", "created_at"),
                ("direction", "asc"),
            ],
        )?;
        let (body, headers) = client.get_json::<CachePage>(url).await?;
        let links = headers
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(parse_link)
            .fold(Links::default(), |a, b| Links {
                next: b.next.or(a.next),
                last: b.last.or(a.last),
            });
        Ok((body, links))
    }

    /// Every page. Read again (a few times at most) when the pages disagree, which
    /// means caches came or went while they were read.
    async fn all_caches(&self) -> Result<Merged, SourceError> {
        let mut attempt = 1;
        loop {
            let merged = self.read_pages().await?;
            if merged.consistent || attempt >= LISTING_ATTEMPTS {
                return Ok(merged);
            }
            attempt += 1;
        }
    }

    async fn read_pages(&self) -> Result<Merged, SourceError> {
        let (first, links) = self.page(1).await?;
        let rest = plan_rest(&first, &links).map_err(|why| self.bad_pagination(&why))?;
        let first_ids = page_ids(&first);
        let mut pages = vec![first];
        match rest {
            Rest::Nothing => {}
            Rest::Through(last) => {
                let more: Vec<CachePage> = stream::iter(2..=last)
                    .map(|p| self.page(p))
                    .buffered(CONCURRENT_PAGES)
                    .map_ok(|(page, _)| page)
                    .try_collect()
                    .await?;
                pages.extend(more);
            }
            Rest::FollowNext(mut next) => loop {
                let (page, links) = self.page(next).await?;
                pages.push(page);
                match links.next {
                    Some(n) if n > next && n <= MAX_PAGES => next = n,
                    Some(n) if n <= next => {
                        return Err(self.bad_pagination(&format!(
                            "its Link header on page {next} points back to page {n}"
                        )));
                    }
                    _ => break,
                }
            },
        }
        let several = pages.len() > 1;
        let mut merged = merge(pages);
        if several && merged.consistent {
            // Offset pages shift when a cache before them goes. GitHub evicts the least
            // recently used, most often old ones, which come first: so read page 1 again
            // and compare. (A swap further on, one saved as another goes, stays unseen.)
            let (again, _) = self.page(1).await?;
            merged.consistent =
                page_ids(&again) == first_ids && again.total_count == merged.total_count;
        }
        Ok(merged)
    }

    fn bad_pagination(&self, why: &str) -> SourceError {
        SourceError::new(
            ErrorKind::Malformed,
            format!(
                "GitHub ({}) paginates the caches of {} in a way cachetop cannot follow: {why}",
                self.api, self.repo
            ),
        )
    }

    async fn usage(&self) -> Result<ApiUsage, SourceError> {
        let client = self.client()?;
        let url = client.url(
            &format!(
                "/repos/{}/{}/actions/cache/usage",
                self.repo.owner, self.repo.name
            ),
            &[],
        )?;
        Ok(client.get_json(url).await?.0)
    }

    async fn default_branch(&self) -> Result<Option<String>, SourceError> {
        let client = self.client()?;
        let url = client.url(
            &format!("/repos/{}/{}", self.repo.owner, self.repo.name),
            &[],
        )?;
        Ok(client
            .get_json::<ApiRepository>(url)
            .await?
            .0
            .default_branch)
    }

    /// After a 404 to a DELETE: GitHub says 404 both for a cache that is gone and for
    /// a repository the token may not see, so ask whether the cache is still listed.
    async fn after_not_found(&self, entry: &Entry, id: u64) -> Result<Deletion, SourceError> {
        let client = self.client()?;
        let mut query = vec![("key", entry.description.as_str()), ("per_page", "100")];
        if let Some(r) = entry.origin.git_ref() {
            query.push(("ref", r));
        }
        let url = client.url(&self.caches_path(), &query)?;
        let unsure = |why: String| {
            SourceError::new(
                ErrorKind::Other,
                format!(
                    "GitHub answered 404 to deleting cache {id} of {}, and cachetop could not \
                     confirm that it is gone: {why}",
                    self.repo
                ),
            )
        };
        let page = match client.get_json::<CachePage>(url).await {
            Ok((page, _)) => page,
            Err(e) => return Err(unsure(e.message)),
        };
        if page.actions_caches.iter().any(|c| c.id == id) {
            let whose = match &self.token {
                Some(t) => format!("the token read from {}", t.var),
                None => "a request without a token".to_string(),
            };
            return Err(SourceError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "GitHub answered 404 to deleting cache {id} of {} but still lists it: \
                     {whose} may see the caches but not delete them (it needs Actions: write); \
                     nothing was deleted",
                    self.repo
                ),
            ));
        }
        if page.total_count > page.actions_caches.len() as u64 {
            return Err(unsure(format!(
                "{} caches share its key prefix, too many to check",
                page.total_count
            )));
        }
        Err(SourceError::new(
            ErrorKind::NotFound,
            format!(
                "already gone: GitHub answered 404 for cache {id} ({}) and no longer lists it; \
                 it was evicted or deleted by someone else after the re-read",
                entry.description
            ),
        ))
    }
}

fn page_ids(page: &CachePage) -> Vec<u64> {
    page.actions_caches.iter().map(|c| c.id).collect()
}

#[async_trait]
impl Source for GhaSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        self.client()?;
        let (listing, usage, branch) =
            tokio::join!(self.all_caches(), self.usage(), self.default_branch());
        let merged = listing?;
        let mut warnings: Vec<String> = Vec::new();
        let usage = usage
            .map_err(|e| warnings.push(format!("usage: {}", e.message)))
            .ok();
        let branch = branch
            .map_err(|e| warnings.push(format!("default branch: {}", e.message)))
            .ok()
            .flatten();
        if !merged.consistent {
            warnings.push(format!(
                "caches came or went while the pages were read ({} tries); the listing may \
                 miss some",
                LISTING_ATTEMPTS
            ));
        }
        let host = self.api.gh_host();
        let entries: Vec<Entry> = merged
            .caches
            .into_iter()
            .map(|c: ApiCache| c.into_entry(&self.sref, host.as_deref()))
            .collect();
        let analysis = thrash::analyse(
            &self.repo.to_string(),
            &entries,
            branch.as_deref(),
            self.limit_bytes,
        );
        let mut details = analysis.details();
        details["repository"] = json!(self.repo.to_string());
        details["api_url"] = json!(self.api.as_str());
        details["token_from"] = json!(self.token.as_ref().map(|t| t.var));
        details["usage_api"] = match &usage {
            Some(u) => json!({
                "active_caches_size_in_bytes": u.active_caches_size_in_bytes,
                "active_caches_count": u.active_caches_count,
            }),
            None => serde_json::Value::Null,
        };
        details["listing_consistent"] = json!(merged.consistent);
        details["warnings"] = json!(warnings);
        Ok(Listing {
            entries,
            summary: analysis.summary(),
            details,
            location: None,
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        if entry.source != self.sref {
            return Err(SourceError::new(
                ErrorKind::Other,
                format!("{} is not a cache of {}", entry.id, self.sref),
            ));
        }
        // Only a plain number can name a cache; anything else never reaches a URL.
        let id = match entry.id.parse::<u64>() {
            Ok(id) if entry.id.bytes().all(|b| b.is_ascii_digit()) => id,
            _ => {
                return Err(SourceError::new(
                    ErrorKind::Other,
                    format!("refusing to delete {:?}: not a GitHub cache id", entry.id),
                ));
            }
        };
        let client = self.client()?;
        let url = client.url(&format!("{}/{id}", self.caches_path()), &[])?;
        let status = client.delete(url).await?;
        if status.is_success() {
            return Ok(Deletion {
                deleted_ids: vec![entry.id.clone()],
                reclaimed_bytes: Some(entry.size_bytes),
            });
        }
        self.after_not_found(entry, id).await
    }
}

/// `gh cache delete ID -R [HOST/]OWNER/REPO`: by id, since `gh` matches a key by prefix.
/// `host`: the GitHub Enterprise Server the cache is on.
pub fn equivalent_command(entry: &Entry, host: Option<&str>) -> String {
    let repo = match host {
        Some(host) => format!("{host}/{}", entry.source.name),
        None => entry.source.name.clone(),
    };
    format!(
        "gh cache delete {} -R {}",
        shell_quote(&entry.id),
        shell_quote(&repo)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: Option<&str>) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Gha, "octo/app"),
            "1234",
            "gha.buildkit-blob",
        );
        e.origin = crate::model::Origin::Gha {
            host: host.map(str::to_string),
            git_ref: Some("refs/heads/main".into()),
        };
        e
    }

    #[test]
    fn the_equivalent_gh_command_deletes_by_id_and_names_a_ghes_host() {
        assert_eq!(
            crate::sources::equivalent_command(&entry(None)).unwrap(),
            "gh cache delete 1234 -R octo/app"
        );
        assert_eq!(
            crate::sources::equivalent_command(&entry(Some("ghe.example.com"))).unwrap(),
            "gh cache delete 1234 -R ghe.example.com/octo/app"
        );
    }

    #[tokio::test]
    async fn only_numeric_ids_of_this_repo_are_deleted() {
        let settings = GhaSettings {
            api: ApiBase::parse("http://127.0.0.1:9").unwrap(),
            ..Default::default()
        };
        let src = GhaSource::new(GhaRepo::parse("octo/app").unwrap(), &settings);
        let mut e = entry(None);
        e.id = "12/../../x".into();
        let err = src.delete(&e).await.unwrap_err();
        assert!(err.message.contains("not a GitHub cache id"), "{err}");
        e.id = "+12".into();
        assert!(src.delete(&e).await.is_err());
        let mut other = entry(None);
        other.source = SourceRef::new(SourceKind::Gha, "octo/other");
        let err = src.delete(&other).await.unwrap_err();
        assert!(err.message.contains("not a cache of"), "{err}");
    }
}
