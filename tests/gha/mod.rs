//! The GitHub Actions cache source, end to end: the real binary against a loopback
//! server that answers as GitHub's REST documentation shows (`fake.rs`).
//!
//! Every run goes through `Gha::run`, which asserts that the token appears in neither
//! stdout nor stderr, whatever the command and however it ends.

use crate::common;
mod errors;
pub mod fake;
mod prune;
mod report;

use std::collections::BTreeMap;
use std::process::Output;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use common::{assert_no_panic, cachetop, json_of, text};
pub use fake::{Cache, FakeServer, Fault, GithubFake, Route};

/// Looks like a real token, so a leak of it would be found by the check.
pub const TOKEN: &str = "ghp_CachetopTest0123456789abcdefABCDEF42";
pub const REPO: &str = "octo/app";

/// One cachetop run against a fake GitHub.
pub struct Gha<'a> {
    server: &'a FakeServer,
    env: Vec<(&'static str, String)>,
    args: Vec<String>,
    with_api_flag: bool,
}

impl<'a> Gha<'a> {
    /// `--no-docker --gha octo/app --github-api-url <fake>` with GITHUB_TOKEN set.
    pub fn new(server: &'a FakeServer) -> Self {
        Self {
            server,
            env: vec![("GITHUB_TOKEN", TOKEN.to_string())],
            args: vec!["--no-docker".into(), "--gha".into(), REPO.into()],
            with_api_flag: true,
        }
    }

    pub fn env(mut self, var: &'static str, value: &str) -> Self {
        self.env.retain(|(k, _)| *k != var);
        self.env.push((var, value.to_string()));
        self
    }

    pub fn no_token(mut self) -> Self {
        self.env
            .retain(|(k, _)| *k != "GITHUB_TOKEN" && *k != "GH_TOKEN");
        self
    }

    /// Leaves `--github-api-url` out (to test GITHUB_API_URL).
    pub fn no_api_flag(mut self) -> Self {
        self.with_api_flag = false;
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    pub fn run(self) -> Output {
        let mut cmd = cachetop();
        for var in ["GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.with_api_flag {
            cmd.args(["--github-api-url", &self.server.url()]);
        }
        let out = cmd.args(&self.args).output().unwrap();
        assert_token_absent(&out);
        assert_no_panic(&out);
        out
    }

    pub fn json(self) -> Value {
        let out = self.run();
        json_of(&out)
    }
}

pub fn assert_token_absent(out: &Output) {
    for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = text(stream);
        assert!(
            !s.contains(TOKEN) && !s.contains(&TOKEN[4..]),
            "the token leaked into {name}:\n{s}"
        );
    }
}

/// stdout then stderr, for messages that may go to either.
pub fn all_text(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

pub fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// The kind each cache of `fake::synthetic` must get, worked out from how the fixture
/// was made (index `i % 8`), not from cachetop's rules.
pub fn expected_kind(id: u64) -> &'static str {
    match (id - 1000) % 8 {
        0 => "gha.buildkit-blob",
        1 | 7 => "gha.buildkit-index",
        2 => "gha.rust-cache",
        3 => "gha.sccache",
        4 => "gha.setup-node",
        5 => "gha.setup-python",
        _ => "gha.setup-go",
    }
}

/// Entries of a report document by id.
pub fn entries_by_id(doc: &Value) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for e in doc["entries"].as_array().unwrap() {
        let id = e["id"].as_str().unwrap().to_string();
        assert!(
            m.insert(id.clone(), e.clone()).is_none(),
            "{id} listed twice"
        );
    }
    m
}

pub fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

pub fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// A plain cache for hand-made fixtures.
pub fn cache(id: u64, key: &str, git_ref: &str, bytes: u64, idle_days: i64) -> Cache {
    let t = now() - days(idle_days);
    Cache {
        id,
        git_ref: git_ref.into(),
        key: key.into(),
        version: format!("{:064x}", 1),
        last_accessed_at: t,
        created_at: t - days(1),
        size_in_bytes: bytes,
    }
}
