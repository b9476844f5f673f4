//! Pagination: which pages to read after the first (from its Link header, else from
//! `total_count`), and how pages read at different moments become one listing.

use std::collections::HashSet;

use super::caches::{ApiCache, CachePage};

/// GitHub's largest page.
pub const PER_PAGE: u64 = 100;
/// 2,000,000 caches: far beyond any repository's 10 GB; a `last` beyond it is garbage.
pub const MAX_PAGES: u64 = 20_000;

/// The page numbers of a Link header's relations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Links {
    pub next: Option<u64>,
    pub last: Option<u64>,
}

/// Reads `<url>; rel="next", <url>; rel="last"` (RFC 8288, as GitHub sends it).
/// Only page numbers are taken: requests are built from the configured API root, so
/// the token never follows a link to another host.
pub fn parse_link(header: &str) -> Links {
    let mut links = Links::default();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let url = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        rest = &after[params_end..];
        let Some(page) = page_param(url) else {
            continue;
        };
        for rel in rels(params) {
            match rel.as_str() {
                "next" => links.next = Some(page),
                "last" => links.last = Some(page),
                _ => {}
            }
        }
    }
    links
}

fn page_param(url: &str) -> Option<u64> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|v| v.parse().ok())
}

/// The relation types of one link's parameters (`rel="next last"` names two).
fn rels(params: &str) -> Vec<String> {
    params
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("rel")).then(|| {
                v.trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .to_ascii_lowercase()
            })
        })
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// What to read after page 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rest {
    /// Page 1 was all of it.
    Nothing,
    /// Pages 2 to this one, which can be fetched concurrently.
    Through(u64),
    /// No `last` link: follow `next` one page at a time, starting here.
    FollowNext(u64),
}

pub fn plan_rest(first: &CachePage, links: &Links) -> Result<Rest, String> {
    let rest = match (links.last, links.next) {
        (Some(last), _) if last >= 2 => Rest::Through(last),
        (Some(_), _) => Rest::Nothing,
        (None, Some(next)) if next >= 2 => Rest::FollowNext(next),
        (None, Some(next)) => return Err(format!("its Link header points back to page {next}")),
        (None, None) => {
            // No Link header: a server that only counts. Read what total_count says.
            let seen = first.actions_caches.len() as u64;
            if seen == 0 || first.total_count <= seen {
                Rest::Nothing
            } else {
                Rest::Through(first.total_count.div_ceil(PER_PAGE))
            }
        }
    };
    match rest {
        Rest::Through(n) | Rest::FollowNext(n) if n > MAX_PAGES => Err(format!(
            "it announces {n} pages of caches, more than the {MAX_PAGES} cachetop reads"
        )),
        r => Ok(r),
    }
}

/// All pages as one listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    pub caches: Vec<ApiCache>,
    /// Every page gave the same total, and that many distinct caches were seen.
    /// False when caches came or went while the pages were read.
    pub consistent: bool,
    pub total_count: u64,
}

/// Keeps each cache once (by id), in page order.
pub fn merge(pages: Vec<CachePage>) -> Merged {
    let total_count = pages.first().map_or(0, |p| p.total_count);
    let same_total = pages.iter().all(|p| p.total_count == total_count);
    let mut seen = HashSet::new();
    let mut caches = Vec::with_capacity(pages.iter().map(|p| p.actions_caches.len()).sum());
    for page in pages {
        for c in page.actions_caches {
            if seen.insert(c.id) {
                caches.push(c);
            }
        }
    }
    Merged {
        consistent: same_total && caches.len() as u64 == total_count,
        caches,
        total_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(total: u64, ids: &[u64]) -> CachePage {
        CachePage {
            total_count: total,
            actions_caches: ids
                .iter()
                .map(|&id| ApiCache {
                    id,
                    git_ref: String::new(),
                    key: String::new(),
                    version: String::new(),
                    last_accessed_at: None,
                    created_at: None,
                    size_in_bytes: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn reads_githubs_link_header() {
        let h = r#"<https://api.github.com/repositories/1300192/actions/caches?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1300192/actions/caches?per_page=100&page=515>; rel="last""#;
        assert_eq!(
            parse_link(h),
            Links {
                next: Some(2),
                last: Some(515)
            }
        );
        let middle = r#"<https://x/c?page=1>; rel="prev", <https://x/c?page=3&per_page=100>; rel="next", <https://x/c?page=9>; rel="last", <https://x/c?page=1>; rel="first""#;
        assert_eq!(
            parse_link(middle),
            Links {
                next: Some(3),
                last: Some(9)
            }
        );
        assert_eq!(
            parse_link(r#"<https://x/c?page=4>; rel=next"#).next,
            Some(4)
        );
        assert_eq!(
            parse_link(r#"<https://x/c?page=4>; rel="next last""#),
            Links {
                next: Some(4),
                last: Some(4)
            }
        );
        for junk in [
            "",
            "garbage",
            "<https://x/c?page=x>; rel=\"next\"",
            "<unclosed",
        ] {
            assert_eq!(parse_link(junk), Links::default(), "{junk}");
        }
    }

    #[test]
    fn the_last_link_decides_else_next_else_total_count() {
        let first = page(250, &[1, 2]);
        let links = |next, last| Links { next, last };
        assert_eq!(
            plan_rest(&first, &links(Some(2), Some(3))),
            Ok(Rest::Through(3))
        );
        assert_eq!(plan_rest(&first, &links(None, Some(1))), Ok(Rest::Nothing));
        assert_eq!(
            plan_rest(&first, &links(Some(2), None)),
            Ok(Rest::FollowNext(2))
        );
        assert!(plan_rest(&first, &links(Some(1), None)).is_err());
        assert_eq!(plan_rest(&first, &links(None, None)), Ok(Rest::Through(3)));
        assert_eq!(
            plan_rest(&page(2, &[1, 2]), &links(None, None)),
            Ok(Rest::Nothing)
        );
        assert_eq!(
            plan_rest(&page(9, &[]), &links(None, None)),
            Ok(Rest::Nothing)
        );
        let e = plan_rest(&first, &links(None, Some(MAX_PAGES + 1))).unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }

    #[test]
    fn merging_keeps_each_cache_once_and_notices_change() {
        let m = merge(vec![page(4, &[1, 2]), page(4, &[3, 4])]);
        assert_eq!(
            m.caches.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert!(m.consistent);
        // A cache saved between the reads shifts one already seen onto the next page.
        let m = merge(vec![page(4, &[1, 2]), page(5, &[2, 3])]);
        assert_eq!(m.caches.len(), 3);
        assert!(!m.consistent);
        let m = merge(vec![page(3, &[1, 2]), page(3, &[2])]);
        assert!(!m.consistent);
        assert!(merge(vec![]).consistent);
    }
}
