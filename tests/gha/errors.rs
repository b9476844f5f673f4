//! Failures a user must be able to act on: a clear message, the documented exit code,
//! no hang, no panic, and never the token.

use super::fake::synthetic;
use super::*;

fn caches() -> Vec<Cache> {
    synthetic(250, now(), |_| days(1))
}

fn error_of(doc: &Value) -> String {
    doc["sources"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {doc:#}"))
        .to_string()
}

#[test]
fn a_wrong_token_names_the_variable_it_was_read_from() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches()));
    let wrong = "ghp_WrongWrongWrong0123456789abcdefABCD";
    for var in ["GITHUB_TOKEN", "GH_TOKEN"] {
        let out = Gha::new(&server)
            .no_token()
            .env(var, wrong)
            .args(&["report", "--json"])
            .run();
        assert_eq!(out.status.code(), Some(1));
        let all = all_text(&out);
        assert!(!all.contains(wrong), "the wrong token leaked:\n{all}");
        let e = error_of(&json_of(&out));
        assert!(
            e.contains(&format!(
                "rejected the token read from {var} (HTTP 401: Bad credentials)"
            )),
            "{e}"
        );
        assert!(text(&out.stderr).contains(&format!(
            "cachetop: gha octo/app: GitHub ({})",
            server.url()
        )));
    }
    // GITHUB_TOKEN wins when both are set.
    let out = Gha::new(&server)
        .env("GH_TOKEN", wrong)
        .args(&["report"])
        .run();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn no_token_names_both_variables() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches()));
    let out = Gha::new(&server).no_token().args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("neither GITHUB_TOKEN nor GH_TOKEN is set"),
        "{err}"
    );
    // Nothing was sent that looked like a credential.
    assert!(
        server
            .seen()
            .iter()
            .all(|s| !s.headers.contains_key("authorization"))
    );
}

#[test]
fn an_exhausted_rate_limit_is_reported_with_its_reset_time_without_waiting_an_hour() {
    let reset = Utc::now().timestamp() + 3_600;
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::AnyList,
        usize::MAX,
        Fault::rate_limited_until(reset),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report", "--json"]).run();
    assert_eq!(out.status.code(), Some(1));
    let e = error_of(&json_of(&out));
    assert!(
        e.contains("GitHub's API rate limit for the token read from GITHUB_TOKEN is used up (HTTP 403): API rate limit exceeded for user ID 1; it lifts"),
        "{e}"
    );
    let at = DateTime::<Utc>::from_timestamp(reset, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(e.contains(&format!("it lifts at {at}")), "{e}");
    assert!(e.contains("longer than cachetop waits (1m)"), "{e}");
}

#[test]
fn a_short_retry_after_is_waited_out() {
    let fake =
        GithubFake::new(REPO, TOKEN, caches()).with_rule(Route::Page(2), 1, Fault::retry_after(1));
    let server = FakeServer::start(fake);
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);
    assert_eq!(entries_by_id(&doc).len(), 250);
    let page2 = server
        .seen()
        .iter()
        .filter(|s| s.target.contains("&page=2"))
        .count();
    assert_eq!(page2, 2);
}

#[test]
fn a_missing_permission_says_which_one() {
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::AnyList,
        usize::MAX,
        Fault::forbidden("actions=read"),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("the token read from GITHUB_TOKEN may not list the Actions caches of octo/app (HTTP 403: Resource not accessible by integration)"),
        "{err}"
    );
    assert!(err.contains("Actions: read"), "{err}");
}

#[test]
fn an_unknown_repository_is_named() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches()));
    let out = Gha::new(&server)
        .args(&["--gha", "octo/nope", "report"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "has no repository octo/nope, or the token read from GITHUB_TOKEN cannot see it"
        ),
        "{err}"
    );
    assert!(
        err.contains("--github-api-url https://HOST/api/v3"),
        "{err}"
    );
}

#[test]
fn a_passing_server_error_is_retried_and_a_lasting_one_is_reported() {
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::Page(3),
        2,
        Fault::server_error(502),
    );
    let server = FakeServer::start(fake);
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);
    assert_eq!(entries_by_id(&doc).len(), 250);

    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::Page(2),
        usize::MAX,
        Fault::server_error(500),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report", "--json"]).run();
    assert_eq!(out.status.code(), Some(1));
    let e = error_of(&json_of(&out));
    assert!(
        e.contains("answered GET /repos/octo/app/actions/caches?per_page=100&page=2&sort=created_at&direction=asc with HTTP 500 Internal Server Error (Server Error) 3 times in a row"),
        "{e}"
    );
    let tries = server
        .seen()
        .iter()
        .filter(|s| s.target.contains("&page=2"))
        .count();
    assert_eq!(tries, 3);
}

#[test]
fn a_body_cut_short_is_retried_then_reported() {
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(Route::Page(2), 1, Fault::CutShort);
    let server = FakeServer::start(fake);
    let doc = Gha::new(&server).args(&["report", "--json"]).json();
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);
    assert_eq!(entries_by_id(&doc).len(), 250);

    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::Page(2),
        usize::MAX,
        Fault::CutShort,
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("GitHub's answer to GET /repos/octo/app/actions/caches"),
        "{err}"
    );
    assert!(err.contains("was cut short (3 tries)"), "{err}");
}

#[test]
fn a_truncated_json_body_is_a_clear_error() {
    for route in [Route::Page(1), Route::Page(3)] {
        let fake =
            GithubFake::new(REPO, TOKEN, caches()).with_rule(route, usize::MAX, Fault::CutJson);
        let server = FakeServer::start(fake);
        let out = Gha::new(&server).args(&["report", "--json"]).run();
        assert_eq!(out.status.code(), Some(1));
        let e = error_of(&json_of(&out));
        assert!(
            e.contains("sent an answer to GET /repos/octo/app/actions/caches"),
            "{e}"
        );
        assert!(
            e.contains("that cachetop cannot read: EOF while parsing"),
            "{e}"
        );
    }
}

#[test]
fn a_web_page_instead_of_json_points_at_the_api_url() {
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::AnyList,
        usize::MAX,
        Fault::Status {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: "<!DOCTYPE html><html><body>Sign in to GitHub</body></html>".into(),
        },
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("it sent a web page"), "{err}");
    assert!(err.contains("https://HOST/api/v3"), "{err}");
}

#[test]
fn a_failing_usage_endpoint_does_not_hide_the_caches() {
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::Usage,
        usize::MAX,
        Fault::server_error(503),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report", "--json"]).run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(entries_by_id(&doc).len(), 250);
    let d = &doc["sources"][0]["details"];
    assert_eq!(d["usage_api"], Value::Null);
    assert!(
        d["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("usage: GitHub"),
        "{d:#}"
    );
}

#[test]
fn nothing_listens_at_the_api_url() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", unused.local_addr().unwrap());
    drop(unused);
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, vec![]));
    let out = Gha::new(&server)
        .no_api_flag()
        .args(&["--github-api-url", &url, "report"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot connect to GitHub at {url}")),
        "{err}"
    );
}

#[test]
fn bad_gha_options_are_usage_errors() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, vec![]));
    for (args, says) in [
        (&["--gha", "octo", "report"][..], "is not OWNER/REPO"),
        (&["--gha", "octo/app/x", "report"], "is not OWNER/REPO"),
        (&["--gha=-octo/app", "report"], "is not OWNER/REPO"),
        (
            &[
                "--github-api-url",
                "http://ghe.example.com/api/v3",
                "report",
            ],
            "only over https",
        ),
        (&["--github-api-url", "not a url", "report"], "is not a URL"),
        (&["--gha-limit", "10", "report"], "10GB, 500MB or 10GiB"),
        (&["prune", "--ref", "main", "--yes"], "refs/heads/main"),
    ] {
        let out = Gha::new(&server).no_api_flag().args(args).run();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = Gha::new(&server)
        .no_api_flag()
        .env("GITHUB_API_URL", "ftp://example.com")
        .args(&["report"])
        .run();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("GITHUB_API_URL:"),
        "{}",
        text(&out.stderr)
    );
    assert!(server.seen().is_empty());
}

#[test]
fn a_failed_docker_daemon_does_not_hide_github() {
    let server = FakeServer::start(GithubFake::new(REPO, TOKEN, caches()));
    let mut cmd = cachetop();
    let out = cmd
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_API_URL")
        .env("GITHUB_TOKEN", TOKEN)
        .args([
            "--host",
            "unix:///tmp/cachetop-gha-no-daemon.sock",
            "--gha",
            REPO,
            "--github-api-url",
            &server.url(),
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    assert_token_absent(&out);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["kind"], "docker");
    assert_eq!(doc["sources"][0]["ok"], false);
    assert_eq!(doc["sources"][1]["kind"], "gha");
    assert_eq!(doc["sources"][1]["ok"], true);
    assert_eq!(entries_by_id(&doc).len(), 250);
}

#[test]
fn a_redirect_to_another_host_never_carries_the_token() {
    let elsewhere = FakeServer::start(GithubFake::new(REPO, "another-servers-token", caches()));
    let location = format!("{}/repos/octo/app/actions/caches?page=1", elsewhere.url());
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::AnyList,
        usize::MAX,
        Fault::status(
            301,
            &[("Location", &location)],
            serde_json::json!({ "message": "Moved Permanently" }),
        ),
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let seen = elsewhere.seen();
    assert!(!seen.is_empty(), "the redirect was not followed");
    assert!(
        seen.iter()
            .all(|s| !s.headers.contains_key("authorization")),
        "the token followed a redirect to another host"
    );
}

#[test]
fn an_answer_far_larger_than_any_page_is_refused() {
    let body = format!(
        "{{\"total_count\":1,\"actions_caches\":[{}]}}",
        " ".repeat(17 << 20)
    );
    let fake = GithubFake::new(REPO, TOKEN, caches()).with_rule(
        Route::Page(1),
        usize::MAX,
        Fault::Status {
            status: 200,
            headers: vec![],
            body,
        },
    );
    let server = FakeServer::start(fake);
    let out = Gha::new(&server).args(&["report"]).run();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is larger than 16 MiB"), "{err}");
    let tries = server
        .seen()
        .iter()
        .filter(|s| s.target.contains("&page=1"))
        .count();
    assert_eq!(tries, 1);
}
