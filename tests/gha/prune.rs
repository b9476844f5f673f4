//! Deleting: exactly the planned ids, one `DELETE .../caches/{id}` each, never by key;
//! the dry run shows the same plan; re-read before deleting; 404 and 403 answers.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::fake::synthetic;
use super::*;

fn mixed() -> Vec<Cache> {
    synthetic(250, now(), |i| if i % 3 == 0 { days(10) } else { days(1) })
}

fn ids_of(list: &Value) -> BTreeSet<u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every DELETE the fake saw names one cache id in its path and carries no query.
fn assert_only_deletes_by_id(server: &FakeServer) {
    for s in server.seen().iter().filter(|s| s.method == "DELETE") {
        let id = s
            .target
            .strip_prefix("/repos/octo/app/actions/caches/")
            .unwrap_or_else(|| panic!("DELETE {}", s.target));
        assert!(
            id.bytes().all(|b| b.is_ascii_digit()),
            "DELETE {}",
            s.target
        );
    }
    assert!(server.deleted_by_key().is_empty());
}

#[test]
fn a_type_prune_deletes_exactly_the_planned_ids() {
    let caches = mixed();
    let blobs: BTreeSet<u64> = caches
        .iter()
        .filter(|c| expected_kind(c.id) == "gha.buildkit-blob")
        .map(|c| c.id)
        .collect();
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches.clone()));
    let out = Gha::new(&server)
        .args(&[
            "prune",
            "--source",
            "gha",
            "--type",
            "gha.buildkit-blob",
            "--yes",
            "--json",
        ])
        .run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(ids_of(&doc["planned"]), blobs);
    assert_eq!(ids_of(&doc["deleted"]), blobs);
    let deleted: BTreeSet<u64> = server.deleted_by_id().into_iter().collect();
    assert_eq!(deleted, blobs);
    assert_eq!(
        server.deleted_by_id().len(),
        blobs.len(),
        "an id deleted twice"
    );
    let expected_rest: Vec<u64> = caches
        .iter()
        .map(|c| c.id)
        .filter(|id| !blobs.contains(id))
        .collect();
    assert_eq!(server.remaining_ids(), expected_rest);
    assert_only_deletes_by_id(&server);
    let reclaimed: u64 = caches
        .iter()
        .filter(|c| blobs.contains(&c.id))
        .map(|c| c.size_in_bytes)
        .sum();
    assert_eq!(doc["reclaimed_bytes"], reclaimed);
    assert_valid(&schema("prune.schema.json"), &doc);
}

#[test]
fn the_dry_run_prints_the_same_plan_and_deletes_nothing() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, mixed()));
    let dry = Gha::new(&server)
        .args(&["prune", "--stale", "--dry-run"])
        .run();
    assert!(dry.status.success());
    // No terminal and no --yes: the plan is shown and nothing deleted either.
    let unasked = Gha::new(&server).args(&["prune", "--stale"]).run();
    assert!(unasked.status.success());
    let plan = |o: &Output| {
        text(&o.stdout)
            .lines()
            .take_while(|l| !l.starts_with("Dry run") && !l.starts_with("Not a terminal"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(plan(&dry), plan(&unasked));
    let stdout = text(&dry.stdout);
    assert!(stdout.contains("Plan: delete 84 entries"), "{stdout}");
    assert!(
        stdout.contains("because: stale: last used 10d ago"),
        "{stdout}"
    );
    // The fake is not github.com, so gh is told its host.
    let gh = format!("gh cache delete 1000 -R {}/octo/app", server.addr);
    assert!(stdout.contains(&gh), "{stdout}");
    assert!(server.seen().iter().all(|s| s.method == "GET"));
    assert_eq!(server.remaining_ids().len(), 250);

    let doc = Gha::new(&server)
        .args(&["prune", "--stale", "--dry-run", "--json"])
        .json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["planned"].as_array().unwrap().len(), 84);
    let cmds = doc["equivalent_commands"].as_array().unwrap();
    assert_eq!(cmds.len(), 84);
    assert!(cmds.iter().any(|c| *c == gh));
    assert_valid(&schema("prune.schema.json"), &doc);
}

#[test]
fn ref_selects_caches_of_exactly_that_ref() {
    let caches = vec![
        cache(1, "k-a", "refs/pull/10/merge", 10, 1),
        cache(2, "k-b", "refs/pull/10/merge", 10, 1),
        cache(3, "k-a", "refs/pull/101/merge", 10, 1),
        cache(4, "k-a", "refs/pull/1/merge", 10, 1),
        cache(5, "k-a", "refs/heads/main", 10, 1),
    ];
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches));
    let out = Gha::new(&server)
        .args(&["prune", "--ref", "refs/pull/10/merge", "--yes", "--json"])
        .run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(ids_of(&doc["deleted"]), [1, 2].into());
    assert_eq!(server.remaining_ids(), vec![3, 4, 5]);
    assert_eq!(doc["planned"][0]["reasons"][0], "ref refs/pull/10/merge");
    assert_only_deletes_by_id(&server);
}

/// cli/cli#10624: `gh cache delete foo` deleted `foo-13912682996`. cachetop's id is the
/// cache id, matched whole.
#[test]
fn an_id_never_matches_a_longer_id_or_a_key_prefix() {
    let caches = vec![
        cache(77, "foo", "refs/heads/main", 10, 1),
        cache(770, "foo-13912682996", "refs/heads/main", 10, 1),
        cache(7701, "foo-2", "refs/heads/main", 10, 1),
    ];
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches));
    let out = Gha::new(&server)
        .args(&["prune", "--id", "77", "--yes"])
        .run();
    assert!(out.status.success(), "{}", all_text(&out));
    assert_eq!(server.deleted_by_id(), vec![77]);
    assert_eq!(server.remaining_ids(), vec![770, 7701]);
    assert_only_deletes_by_id(&server);
}

#[test]
fn a_cache_used_between_the_plan_and_the_re_read_is_kept() {
    let caches = vec![
        cache(1, "k1", "refs/heads/main", 10, 20),
        cache(2, "k2", "refs/heads/main", 10, 20),
    ];
    // The first listing makes the plan; before the re-read, a job restores cache 1.
    let fake = GithubFake::new(REPO, TOKEN, caches).with_rule_after(
        1,
        Route::Page(1),
        1,
        Fault::Then(Arc::new(|cs: &mut Vec<Cache>| {
            cs.iter_mut().find(|c| c.id == 1).unwrap().last_accessed_at = Utc::now();
        })),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server)
        .args(&["prune", "--stale", "--yes", "--json"])
        .run();
    assert!(out.status.success(), "{}", all_text(&out));
    let doc = json_of(&out);
    assert_eq!(ids_of(&doc["planned"]), [1, 2].into());
    assert_eq!(server.deleted_by_id(), vec![2]);
    let skipped = &doc["skipped"][0];
    assert_eq!(skipped["id"], "1");
    assert_eq!(skipped["reason"], "used since the plan was made");
}

#[test]
fn a_cache_gone_before_its_delete_is_reported_already_gone() {
    let caches = vec![
        cache(1, "k1", "refs/heads/main", 10, 20),
        cache(2, "k2", "refs/heads/main", 10, 20),
    ];
    let fake =
        GithubFake::new(REPO, TOKEN, caches).with_rule(Route::Delete(1), 1, Fault::GoneFirst);
    let server = FakeServer::start(fake);
    let out = Gha::new(&server)
        .args(&["prune", "--stale", "--yes", "--json"])
        .run();
    // Gone is what was asked for: not a failure.
    assert!(out.status.success(), "{}", all_text(&out));
    let doc = json_of(&out);
    assert_eq!(ids_of(&doc["deleted"]), [2].into());
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("already gone: GitHub answered 404 for cache 1"),
        "{reason}"
    );
    assert!(
        text(&out.stderr).contains("already gone"),
        "{}",
        text(&out.stderr)
    );
    assert_only_deletes_by_id(&server);
}

#[test]
fn a_404_for_a_cache_github_still_lists_is_a_failure() {
    let caches = vec![cache(1, "k1", "refs/heads/main", 10, 20)];
    let fake =
        GithubFake::new(REPO, TOKEN, caches).with_rule(Route::Delete(1), 1, Fault::NotFoundButKept);
    let server = FakeServer::start(fake);
    let out = Gha::new(&server)
        .args(&["prune", "--id", "1", "--yes"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let all = all_text(&out);
    assert!(all.contains("still lists it"), "{all}");
    assert!(all.contains("Actions: write"), "{all}");
    assert_eq!(server.remaining_ids(), vec![1]);
}

#[test]
fn a_token_that_may_list_but_not_delete_says_so() {
    let caches = vec![
        cache(1, "k1", "refs/heads/main", 10, 20),
        cache(2, "k2", "refs/heads/main", 10, 20),
    ];
    let fake = GithubFake::new(REPO, TOKEN, caches).with_rule(
        Route::Delete(1),
        usize::MAX,
        Fault::forbidden("actions=write"),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server)
        .args(&["prune", "--stale", "--yes", "--json"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "the token read from GITHUB_TOKEN may not delete the Actions caches of octo/app"
        ),
        "{reason}"
    );
    assert!(reason.contains("Actions: write"), "{reason}");
    // The other planned cache still went.
    assert_eq!(server.deleted_by_id(), vec![2]);
}

#[test]
fn read_only_refuses_a_real_prune() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, mixed()));
    let out = Gha::new(&server)
        .args(&["--read-only", "prune", "--stale", "--yes"])
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(server.seen().iter().all(|s| s.method == "GET"));
}
