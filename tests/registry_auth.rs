//! Registry credentials against real registries: Debian's docker-registry with htpasswd
//! (Basic) and with token auth (the bearer flow of Docker Hub, GHCR and the like, with
//! a token service in the test that signs what the registry verifies). Credentials
//! come from flags and the environment, docker's config.json and credential helpers,
//! and no password or token ever appears in cachetop's output.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use base64::Engine as _;
use serde_json::Value;

use common::registry::*;
use common::*;

fn run(args: &[&str], docker_config: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = cachetop();
    cmd.env("DOCKER_CONFIG", docker_config)
        .env_remove("CACHETOP_REGISTRY_PASSWORD")
        .arg("--no-docker")
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_no_panic(&out);
    out
}

/// Fails the test if any secret shows up anywhere in what cachetop printed.
fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for s in secrets {
        assert!(!all.contains(s), "a secret was printed:\n{all}");
    }
}

fn source(doc: &Value) -> &Value {
    &doc["sources"][0]
}

/// A small cache pushed with the given credentials.
fn push_cache(addr: &str, auth: Auth, tag: &str) -> (String, Cache) {
    let api = Api::with_auth(addr, auth);
    let repo = unique(tag).replace('_', "-");
    let cache = build_cache(
        &repo,
        CacheLayout::ImageManifest,
        &[LayerSpec::new(700).annotated("2025-06-01T00:00:00Z")],
    );
    cache.push(&api, &repo, "buildcache");
    (format!("{addr}/{repo}:buildcache"), cache)
}

fn write_helper(dir: &Path, name: &str, script: &str) {
    let path = dir.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn basic_auth_from_flags_config_json_and_credential_helpers() {
    let r = registries();
    let (reference, cache) = push_cache(
        &r.basic,
        Auth::Basic(BASIC_USER.into(), BASIC_PASSWORD.into()),
        "basic",
    );
    let empty = tempfile::tempdir().unwrap();
    let report = ["--registry", reference.as_str(), "report", "--json"];

    // Anonymous: the registry asks for a password, and cachetop says how to give one.
    let out = run(&report, empty.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = source(&json_of(&out))["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("asks for a user name and password"), "{err}");
    assert!(err.contains("CACHETOP_REGISTRY_PASSWORD"), "{err}");

    // --registry-user with the password in the environment.
    let with_user = [
        "--registry",
        reference.as_str(),
        "--registry-user",
        BASIC_USER,
        "report",
        "--json",
    ];
    let out = run(
        &with_user,
        empty.path(),
        &[("CACHETOP_REGISTRY_PASSWORD", BASIC_PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert!(
        source(&doc)["details"]["auth"]
            .as_str()
            .unwrap()
            .contains("--registry-user")
    );
    assert!(
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == cache.digest.as_str())
    );
    assert_no_secret(&out, &[BASIC_PASSWORD]);

    // A wrong password: refused, and the wrong password is not echoed either.
    let wrong = "not-the-password-91f2";
    let out = run(
        &with_user,
        empty.path(),
        &[("CACHETOP_REGISTRY_PASSWORD", wrong)],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = source(&json_of(&out))["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("refused user cachetop"), "{err}");
    assert!(err.contains("check the user name and password"), "{err}");
    assert_no_secret(&out, &[wrong, BASIC_PASSWORD]);

    // --registry-user without a password is a usage error.
    let out = run(&with_user, empty.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("CACHETOP_REGISTRY_PASSWORD"));

    // docker's config.json `auths`.
    let cfg = tempfile::tempdir().unwrap();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{BASIC_USER}:{BASIC_PASSWORD}"));
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, r.basic),
    )
    .unwrap();
    let out = run(&report, cfg.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert!(
        source(&doc)["details"]["auth"]
            .as_str()
            .unwrap()
            .contains("docker config")
    );
    assert_no_secret(&out, &[BASIC_PASSWORD, &auth]);

    // A credential helper named by credHelpers.
    let bin = tempfile::tempdir().unwrap();
    write_helper(
        bin.path(),
        "cachetoptest",
        &format!(
            "#!/bin/sh\nread server\nif [ \"$server\" = \"{}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{BASIC_USER}\",\"Secret\":\"{BASIC_PASSWORD}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
            r.basic
        ),
    );
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"credHelpers": {{"{}": "cachetoptest"}}}}"#, r.basic),
    )
    .unwrap();
    let path = path_with(bin.path());
    let out = run(&report, cfg.path(), &[("PATH", &path)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secret(&out, &[BASIC_PASSWORD]);

    // A helper that fails, printing something secret: named, its output withheld.
    write_helper(
        bin.path(),
        "broken",
        "#!/bin/sh\nread server\necho 'token=leaked-helper-secret'; echo 'leaked-helper-secret' >&2; exit 3\n",
    );
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"credsStore": "broken"}"#,
    )
    .unwrap();
    let out = run(&report, cfg.path(), &[("PATH", &path)]);
    assert_eq!(out.status.code(), Some(1));
    let err = source(&json_of(&out))["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("docker-credential-broken failed"), "{err}");
    assert_no_secret(&out, &["leaked-helper-secret"]);

    // Deleting with Basic credentials works too, and prints no secret.
    let out = run(
        &[
            "--registry",
            reference.as_str(),
            "--registry-user",
            BASIC_USER,
            "prune",
            "--source",
            "registry",
            "--type",
            "registry.manifest",
            "--yes",
            "--json",
        ],
        empty.path(),
        &[("CACHETOP_REGISTRY_PASSWORD", BASIC_PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_of(&out)["deleted"][0]["id"], cache.digest.as_str());
    assert_no_secret(&out, &[BASIC_PASSWORD]);
    let api = Api::with_auth(
        &r.basic,
        Auth::Basic(BASIC_USER.into(), BASIC_PASSWORD.into()),
    );
    let repo = reference
        .strip_prefix(&format!("{}/", r.basic))
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    assert_eq!(api.get_manifest(repo, &cache.digest).status, 404);
}

#[test]
fn bearer_tokens_from_a_token_service_for_reading_and_deleting() {
    let reg = TokenRegistry::start();
    let repo = unique("bearer").replace('_', "-");
    let push_token = reg.token(&format!("repository:{repo}:pull,push"));
    let api = Api::with_auth(&reg.addr, Auth::Bearer(push_token.clone()));
    let cache = build_cache(
        &repo,
        CacheLayout::Index,
        &[
            LayerSpec::new(900).annotated("2025-06-01T00:00:00Z"),
            LayerSpec::new(90),
        ],
    );
    cache.push(&api, &repo, "buildcache");
    let reference = format!("{}/{repo}:buildcache", reg.addr);
    let empty = tempfile::tempdir().unwrap();
    let report = ["--registry", reference.as_str(), "report", "--json"];

    // Anonymous: the token service says no.
    let out = run(&report, empty.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = source(&json_of(&out))["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("refused anonymous"), "{err}");

    // A user and password, exchanged for a pull token.
    let with_user = [
        "--registry",
        reference.as_str(),
        "--registry-user",
        TOKEN_USER,
        "report",
        "--json",
    ];
    reg.requests.lock().unwrap().clear();
    let out = run(
        &with_user,
        empty.path(),
        &[("CACHETOP_REGISTRY_PASSWORD", TOKEN_PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["entries"].as_array().unwrap().len(), 3);
    assert_eq!(
        reg.requests.lock().unwrap().first().cloned(),
        Some((
            "GET".to_string(),
            format!("repository:{repo}:pull"),
            String::new()
        ))
    );
    assert_no_secret(&out, &[TOKEN_PASSWORD, &push_token]);

    // An identity token from config.json, exchanged with the refresh-token grant.
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"identitytoken": "{REFRESH_TOKEN}"}}}}}}"#,
            reg.addr
        ),
    )
    .unwrap();
    reg.requests.lock().unwrap().clear();
    let out = run(&report, cfg.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        reg.requests
            .lock()
            .unwrap()
            .iter()
            .any(|(m, _, g)| m == "POST" && g == "refresh_token")
    );
    assert!(
        source(&json_of(&out))["details"]["auth"]
            .as_str()
            .unwrap()
            .contains("identity token")
    );
    assert_no_secret(&out, &[REFRESH_TOKEN]);

    // Deleting asks for the scope the registry's challenge names.
    reg.requests.lock().unwrap().clear();
    let out = run(
        &[
            "--registry",
            reference.as_str(),
            "--registry-user",
            TOKEN_USER,
            "prune",
            "--source",
            "registry",
            "--stale",
            "--yes",
            "--json",
        ],
        empty.path(),
        &[("CACHETOP_REGISTRY_PASSWORD", TOKEN_PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_of(&out)["deleted"][0]["id"], cache.digest.as_str());
    let scopes: Vec<String> = reg
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s, _)| s.clone())
        .collect();
    assert!(
        scopes
            .iter()
            .any(|s| s != &format!("repository:{repo}:pull")),
        "no wider scope was asked for deleting: {scopes:?}"
    );
    assert_no_secret(&out, &[TOKEN_PASSWORD]);
    assert_eq!(api.get_manifest(&repo, &cache.digest).status, 404);
}
