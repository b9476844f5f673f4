//! Listing: every page, every cache once, kinds, stale flags, refs, the thrash
//! analysis, GitHub's headers, the concurrency bound, GHES roots and token variables.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::fake::synthetic;
use super::*;

/// 250 caches over 3 pages; every third one last used 10 days ago, the rest 1 day ago.
fn three_pages() -> Vec<Cache> {
    synthetic(250, now(), |i| if i % 3 == 0 { days(10) } else { days(1) })
}

#[test]
fn every_cache_on_every_page_is_listed_once_with_its_kind_ref_and_stale_flag() {
    let caches = three_pages();
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches.clone()));
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    let entries = entries_by_id(&doc);
    assert_eq!(entries.len(), 250);
    for c in &caches {
        let e = &entries[&c.id.to_string()];
        assert_eq!(e["source"], "gha");
        assert_eq!(e["source_name"], REPO);
        assert_eq!(e["kind"], expected_kind(c.id), "{}", c.key);
        assert_eq!(e["description"], c.key.as_str());
        assert_eq!(e["details"]["ref"], c.git_ref.as_str());
        assert_eq!(e["details"]["version"], c.version.as_str());
        assert_eq!(e["size_bytes"], c.size_in_bytes);
        let secs = |v: &Value| {
            DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .timestamp()
        };
        assert_eq!(secs(&e["last_used_at"]), c.last_accessed_at.timestamp());
        assert_eq!(secs(&e["created_at"]), c.created_at.timestamp());
        let stale = e["flags"].as_array().unwrap().iter().any(|f| f == "stale");
        assert_eq!(stale, (now() - c.last_accessed_at) >= days(7), "{}", c.id);
        assert_eq!(e["in_use"], false);
    }
    assert_eq!(doc["totals"]["entries"], 250);
    assert_eq!(
        doc["totals"]["stale_entries"],
        caches
            .iter()
            .filter(|c| (now() - c.last_accessed_at) >= days(7))
            .count()
    );

    // Three pages of 100, each asked for once, with GitHub's headers.
    let lists: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.target.starts_with("/repos/octo/app/actions/caches"))
        .collect();
    let pages: BTreeSet<String> = lists
        .iter()
        .map(|s| {
            assert!(s.target.contains("per_page=100"), "{}", s.target);
            s.target
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("page="))
                .unwrap()
                .to_string()
        })
        .collect();
    // Page 1 is read again at the end, to notice caches that went meanwhile.
    assert_eq!(lists.len(), 4, "{lists:#?}");
    assert_eq!(pages, ["1", "2", "3"].map(String::from).into());
    for s in server.seen() {
        assert_eq!(s.headers["accept"], "application/vnd.github+json");
        assert_eq!(s.headers["x-github-api-version"], "2022-11-28");
        assert_eq!(s.headers["authorization"], format!("Bearer {TOKEN}"));
        assert!(s.headers["user-agent"].starts_with("cachetop/"));
    }
}

#[test]
fn stale_follows_stale_after() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, three_pages()));
    let doc = Gha::new(&server)
        .args(&["--stale-after", "12d", "report", "--json"])
        .json();
    assert_eq!(doc["totals"]["stale_entries"], 0);
    let doc = Gha::new(&server)
        .args(&["--stale-after", "12h", "report", "--json"])
        .json();
    assert_eq!(doc["totals"]["stale_entries"], 250);
}

#[test]
fn pages_after_the_first_are_fetched_at_most_four_at_once() {
    let caches = synthetic(1_000, now(), |_| days(1));
    let fake = GithubFake::new(REPO, TOKEN, caches).with_rule(
        Route::AnyList,
        usize::MAX,
        Fault::Delay(Duration::from_millis(150)),
    );
    let server = FakeServer::start(fake);
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_eq!(entries_by_id(&doc).len(), 1_000);
    let max = server.max_in_flight();
    assert!(max <= 4, "{max} pages at once");
    assert!(max >= 2, "pages were fetched one at a time");
}

#[test]
fn a_listing_that_changes_while_it_is_read_is_read_again() {
    let caches = three_pages();
    let first_page_ids: Vec<u64> = {
        let mut sorted = caches.clone();
        sorted.sort_by_key(|c| (c.created_at, c.id));
        sorted.iter().take(100).map(|c| c.id).collect()
    };
    // While page 2 is read, a job evicts one cache of page 1 and saves a new one:
    // every later page shifts by one.
    let evict = first_page_ids[0];
    let fake = GithubFake::new(REPO, TOKEN, caches.clone()).with_rule(
        Route::Page(2),
        1,
        Fault::Then(Arc::new(move |cs: &mut Vec<Cache>| {
            cs.retain(|c| c.id != evict);
            let mut new = cs[0].clone();
            new.id = 99_999;
            new.key = "saved-meanwhile".into();
            new.created_at = Utc::now();
            cs.push(new);
        })),
    );
    let server = FakeServer::start(fake);
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    let ids: BTreeSet<u64> = entries_by_id(&doc)
        .keys()
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(ids, server.remaining_ids().into_iter().collect());
    assert!(ids.contains(&99_999) && !ids.contains(&evict));
    assert_eq!(doc["sources"][0]["details"]["listing_consistent"], true);
}

#[test]
fn the_thrash_summary_names_pull_request_caches_that_push_over_the_limit() {
    const MB: u64 = 1_000_000;
    let caches = vec![
        cache(1, "v0-rust-main-a", "refs/heads/main", 400 * MB, 1),
        cache(2, "v0-rust-main-b", "refs/heads/main", 200 * MB, 1),
        cache(3, "v0-rust-main-a", "refs/pull/7/merge", 300 * MB, 1),
        cache(4, "v0-rust-pr-b", "refs/pull/8/merge", 400 * MB, 2),
        cache(5, "sccache-x", "refs/heads/dev", 50 * MB, 3),
    ];
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches));
    let doc = Gha::new(&server)
        .args(&["--gha-limit", "1GB", "report", "--json"])
        .json();
    let src = &doc["sources"][0];
    assert_eq!(src["ok"], true);
    let d = &src["details"];
    assert_eq!(
        d["summary"],
        "octo/app is over its 1 GB Actions cache limit with 1.35 GB in 5 caches: pull-request \
         caches (700 MB) push it over, and without them it would fit."
    );
    assert_eq!(d["limit_bytes"], 1_000_000_000u64);
    assert_eq!(d["over_limit"], true);
    assert_eq!(d["pushes_over_limit"], serde_json::json!(["pull_requests"]));
    assert_eq!(d["default_branch"], "main");
    assert_eq!(d["by_ref_class"]["default_branch"]["bytes"], 600 * MB);
    assert_eq!(d["by_ref_class"]["pull_requests"]["bytes"], 700 * MB);
    assert_eq!(d["by_ref_class"]["pull_requests"]["refs"], 2);
    assert_eq!(d["by_ref_class"]["other_branches"]["bytes"], 50 * MB);
    assert_eq!(d["by_kind"][0]["kind"], "gha.rust-cache");
    assert_eq!(d["by_kind"][0]["bytes"], 1_300 * MB);
    assert_eq!(d["keys_on_several_refs"]["keys"], 1);
    assert_eq!(d["keys_on_several_refs"]["top"][0]["key"], "v0-rust-main-a");
    assert_eq!(d["usage_api"]["active_caches_size_in_bytes"], 1_350 * MB);
    assert_eq!(d["usage_api"]["active_caches_count"], 5);
    assert_eq!(d["token_from"], "GITHUB_TOKEN");
    assert_eq!(d["warnings"], serde_json::json!([]));

    // The table shows the same sentence on the source's line.
    let out = Gha::new(&server)
        .args(&["--gha-limit", "1GB", "report"])
        .run();
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("gha octo/app: octo/app is over its 1 GB Actions cache limit"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_thrash_summary_names_buildkit_blobs_under_githubs_default_limit() {
    const GB: u64 = 1_000_000_000;
    let bk = fake::buildkit_version();
    let mut caches: Vec<Cache> = (0..6)
        .map(|i| {
            let mut c = cache(
                10 + i,
                &format!("buildkit-blob-1-sha256:{i:064x}"),
                "refs/heads/main",
                GB,
                1,
            );
            c.version = bk.clone();
            c
        })
        .collect();
    caches.push(cache(20, "v0-rust-x", "refs/heads/main", 5 * GB, 1));
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches));
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    let d = &doc["sources"][0]["details"];
    assert_eq!(d["limit_bytes"], 10 * GB);
    assert_eq!(
        d["pushes_over_limit"],
        serde_json::json!(["buildkit_blobs"])
    );
    assert!(
        d["summary"]
            .as_str()
            .unwrap()
            .contains("BuildKit blobs (6 GB) push it over"),
        "{}",
        d["summary"]
    );
}

#[test]
fn a_report_with_gha_matches_the_published_schema() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, three_pages()));
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_valid(&schema("report.schema.json"), &doc);
    // And a failed GHA source still gives a valid document.
    let doc = json_of(
        &Gha::new(&server)
            .env("GITHUB_TOKEN", "ghp_wrong")
            .args(&["report", "--json"])
            .run(),
    );
    assert_eq!(doc["sources"][0]["ok"], false);
    assert_valid(&schema("report.schema.json"), &doc);
}

#[test]
fn an_enterprise_server_root_with_a_path_is_used_as_given() {
    let mut fake = GithubFake::new(REPO, TOKEN, three_pages());
    fake.prefix = "/api/v3".into();
    let server = FakeServer::start(fake);
    assert!(server.url().ends_with("/api/v3"));
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_eq!(entries_by_id(&doc).len(), 250);
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.target.starts_with("/api/v3/"))
    );
    // gh needs the host for anything but github.com.
    let out = Gha::new(&server)
        .args(&["prune", "--id", "1000", "--dry-run"])
        .run();
    let host = server.addr.to_string();
    assert!(
        text(&out.stdout).contains(&format!("gh cache delete 1000 -R {host}/octo/app")),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn github_api_url_and_gh_token_come_from_the_environment() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, three_pages()));
    let doc = Gha::new(&server)
        .no_api_flag()
        .no_token()
        .env("GITHUB_API_URL", &server.url())
        .env("GH_TOKEN", TOKEN)
        .args(&["report", "--json"])
        .json();
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);
    assert_eq!(entries_by_id(&doc).len(), 250);
    assert_eq!(doc["sources"][0]["details"]["token_from"], "GH_TOKEN");
    assert_eq!(doc["sources"][0]["details"]["api_url"], server.url());
}

#[test]
fn gha_settings_come_from_the_config_file() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, three_pages()));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "no_docker = true\ngha = [\"{REPO}\"]\ngithub_api_url = \"{}\"\ngha_limit = \"2GB\"\n",
            server.url()
        ),
    )
    .unwrap();
    let mut cmd = cachetop();
    let out = cmd
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--config", cfg.to_str().unwrap(), "report", "--json"])
        .output()
        .unwrap();
    assert_token_absent(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(entries_by_id(&doc).len(), 250);
    assert_eq!(
        doc["sources"][0]["details"]["limit_bytes"],
        2_000_000_000u64
    );
}

#[test]
fn several_repositories_are_separate_sources() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, three_pages()));
    let out = Gha::new(&server)
        .args(&["--gha", "octo/other", "report", "--json"])
        .run();
    // The fake knows only octo/app: the other is reported failed, the first still shows.
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let sources = doc["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    let by_name = |n: &str| sources.iter().find(|s| s["name"] == n).unwrap();
    assert_eq!(by_name("octo/app")["ok"], true);
    assert_eq!(by_name("octo/other")["ok"], false);
    assert_eq!(entries_by_id(&doc).len(), 250);
}
