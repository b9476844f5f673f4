//! Entry points for `cargo fuzz` (fuzz/), one for each parser of outside input.
//! Compiled only with the `fuzzing` feature, so the parsers stay crate-private.
//!
//! Each function feeds its bytes to the parser and then asserts what must hold of a
//! successful parse; an assertion that fails is a finding, like a panic inside the
//! parser (this is a test harness, so it panics on purpose).

use std::collections::HashSet;
use std::io::Read as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};

use crate::cli::GlobalArgs;
use crate::config::{Env, parse_config, resolve};
use crate::model::{Entry, Flag, SourceKind, SourceRef};
use crate::policy::{Policy, classify};
use crate::prune::{Selector, build_plan};
use crate::scan::detectors::cargo::{Defect, is_registry_dir, marker_is_valid, verify_stream};
use crate::sources::docker::description::parse_cache_mount;
use crate::sources::docker::records::parse_df;
use crate::sources::docker::state_volumes::{self, Reach, builder_name};
use crate::sources::gha::caches::CachePage;
use crate::sources::gha::client::said;
use crate::sources::gha::pages::{Links, MAX_PAGES, Rest, merge, parse_link, plan_rest};
use crate::sources::gha::{ApiBase, GhaRepo};
use crate::sources::local_export::graph::walk;
use crate::sources::oci::parse_manifest;
use crate::sources::oci::{Digest, Manifest, media, parse_cache_config, parse_image_config};
use crate::sources::registry::auth::{
    Credential, HELPER_TIMEOUT, find_credential, parse_challenge,
};
use crate::units::sum_bytes;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A BuildKit record description (`cached mount <target> from exec <argv> ...`).
pub fn description(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Some(m) = parse_cache_mount(text) else {
        return;
    };
    assert!(!m.target.is_empty(), "an empty mount target from {text:?}");
    assert!(text.starts_with("cached mount "));
    assert!(text.contains(&m.target) && text.contains(&m.command));
    if m.cache_id.is_some() {
        assert!(
            text.ends_with('"'),
            "a cache id outside the quotes: {text:?}"
        );
    }
}

/// A `/system/df` body, then what the entries feed: classification and a plan.
pub fn system_df(bytes: &[u8]) {
    let src = SourceRef::new(SourceKind::Docker, "unix:///fuzz.sock");
    let Ok(usage) = parse_df(bytes, &src) else {
        return;
    };
    let mut entries = usage.records;
    for v in &usage.volumes {
        assert!(builder_name(&v.name).is_some(), "kept volume {:?}", v.name);
    }
    // No container holds them, and nothing is read from the fuzzing machine's disk.
    let volumes = state_volumes::entries(&src, usage.volumes, &[], Reach::Remote);
    for v in &volumes {
        assert!(!v.in_use && v.has(Flag::Orphaned));
        let commands = state_volumes::commands(v);
        assert_eq!(commands.len(), 1, "{commands:?}");
        let quoted = crate::sources::shell_quote(&v.id);
        assert!(commands[0].ends_with(&format!("volume rm {quoted}")));
    }
    for e in &entries {
        assert!(!e.id.is_empty(), "a record without an id");
        assert!(!e.kind.is_empty());
        assert!(e.size_bytes <= i64::MAX as u64);
        let parents = e.origin.parents();
        assert!(
            parents.iter().all(|p| !p.is_empty()),
            "empty parent in {parents:?}"
        );
        assert_eq!(e.mount, parse_cache_mount(&e.description));
    }
    entries.extend(volumes);
    classify(&mut entries, &Policy::default(), now());
    let total = sum_bytes(entries.iter().map(Entry::effective_bytes));
    assert!(entries.iter().all(|e| e.effective_bytes() <= total));
    let sel = Selector {
        flags: vec![Flag::Stale],
        ..Default::default()
    };
    let plan = build_plan(&entries, &sel, now());
    assert!(plan.total_bytes() <= total);
    for it in &plan.items {
        assert!(
            !it.entry.in_use && !it.entry.shared,
            "planned {}",
            it.entry.id
        );
    }
}

/// Picks the media type a manifest was served as from the first byte, so both the
/// declared and the inner type are fuzzed.
fn declared(tag: u8) -> Option<&'static str> {
    match tag % 7 {
        0 => None,
        1 => Some(media::OCI_INDEX),
        2 => Some(media::OCI_MANIFEST),
        3 => Some(media::DOCKER_LIST),
        4 => Some(media::DOCKER_MANIFEST),
        5 => Some("application/json; charset=utf-8"),
        _ => Some(media::CACHE_CONFIG),
    }
}

/// An OCI index or manifest (first byte: how it was served), a BuildKit cache config
/// and an image config, all from the same bytes.
pub fn oci(bytes: &[u8]) {
    let Some((&tag, doc)) = bytes.split_first() else {
        return;
    };
    if let Ok(m) = parse_manifest(doc, declared(tag)) {
        assert!(media::is_manifest(m.media_type()), "{}", m.media_type());
        if let Manifest::Index(i) = &m {
            assert!(media::is_index(&i.media_type));
        }
        for d in m.children() {
            // A digest is used as a file name under blobs/: it must re-parse as one.
            assert_eq!(Digest::parse(d.digest.as_str()).as_ref(), Ok(&d.digest));
            assert!(!d.digest.hex().contains('/') && !d.digest.hex().contains('.'));
            assert!(!d.media_type.is_empty());
        }
        sum_bytes(m.children().iter().map(|d| d.size));
    }
    if let Ok(cfg) = parse_cache_config(doc) {
        for (digest, created) in &cfg.layers {
            assert_eq!(Digest::parse(digest.as_str()).as_ref(), Ok(digest));
            assert!(created.is_none_or(|t| t.timestamp() > 0));
        }
    }
    if let Ok(img) = parse_image_config(doc) {
        assert!(img.created.is_none_or(|t| t.timestamp() > 0));
    }
}

/// A page of GitHub's cache list, and how it is merged with itself.
pub fn gha_page(bytes: &[u8]) {
    let Ok(page) = serde_json::from_slice::<CachePage>(bytes) else {
        return;
    };
    check_rest(plan_rest(&page, &Links::default()));
    let src = SourceRef::new(SourceKind::Gha, "octo/repo");
    let merged = merge(vec![page.clone(), page]);
    let mut ids = HashSet::new();
    for c in merged.caches {
        assert!(
            ids.insert(c.id),
            "cache {} listed twice after merging",
            c.id
        );
        let e = c.into_entry(&src, None);
        assert!(!e.id.is_empty() && e.id.bytes().all(|b| b.is_ascii_digit()));
    }
}

/// What to read after page 1 is bounded, and following `next` always moves on.
fn check_rest(rest: Result<Rest, String>) {
    match rest {
        Ok(Rest::Through(n)) => assert!(n <= MAX_PAGES, "{n} pages"),
        Ok(Rest::FollowNext(n)) => assert!((2..=MAX_PAGES).contains(&n), "next is page {n}"),
        Ok(Rest::Nothing) | Err(_) => {}
    }
}

/// A Link header, an API root, an `OWNER/REPO` and an error body from GitHub.
pub fn gha_text(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let links = parse_link(&text);
    let empty: CachePage = CachePage {
        total_count: 0,
        actions_caches: Vec::new(),
    };
    check_rest(plan_rest(&empty, &links));
    if let Ok(repo) = GhaRepo::parse(&text) {
        assert_eq!(GhaRepo::parse(&repo.to_string()).as_ref(), Ok(&repo));
        assert!(!repo.owner.contains('/') && !repo.name.contains('/'));
        assert!(repo.name != "." && repo.name != "..");
    }
    if let Ok(api) = ApiBase::parse(&text) {
        let root = api.as_str();
        assert!(!root.ends_with('/'), "{root}");
        assert!(root.starts_with("https://") || root.starts_with("http://"));
        // Never a URL that carries credentials.
        let url = reqwest::Url::parse(root);
        assert!(url.is_ok_and(|u| u.username().is_empty() && u.password().is_none()));
        let _ = api.gh_host();
    }
    if let Some(m) = said(bytes) {
        assert!(
            m.chars().count() <= 200,
            "a message of {} chars",
            m.chars().count()
        );
        assert!(!m.chars().any(char::is_control), "{m:?}");
    }
}

/// docker's `config.json` (as the registry source reads it for credentials) and a
/// `WWW-Authenticate` challenge. A config that names a credential helper is only read
/// after [`isolate_credential_helpers`], so no helper ever starts.
pub fn registry_auth(bytes: &[u8]) {
    if let Ok(header) = std::str::from_utf8(bytes)
        && let Some(c) = parse_challenge(header)
    {
        assert!(!c.scheme.is_empty());
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    }
    let Some(dir) = SCRATCH.get().cloned().flatten().or_else(|| {
        if names_helper(bytes) {
            return None;
        }
        scratch_dir()
    }) else {
        return;
    };
    if std::fs::write(dir.join("config.json"), bytes).is_err() {
        return;
    }
    // The lookup is async (a helper is a child process with a time bound); the fuzz
    // run has no runtime of its own, so each input gets a small one.
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    for registry in ["r.example:5000", "docker.io"] {
        let found = rt.block_on(find_credential(
            registry,
            None,
            None,
            Some(&dir),
            HELPER_TIMEOUT,
        ));
        match found {
            Ok(found) => {
                let shown = format!("{found:?}");
                if let Credential::Basic { user, password } = &found.credential {
                    let p = password.expose();
                    let innocent =
                        p.len() < 12 || user.contains(p) || dir.to_string_lossy().contains(p);
                    assert!(innocent || !found.origin.contains(p), "password in origin");
                    assert!(innocent || !shown.contains(p), "password in Debug");
                }
                if let Credential::IdentityToken(t) = &found.credential {
                    let t = t.expose();
                    assert!(t.len() < 12 || !found.origin.contains(t));
                }
            }
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
}

/// The fuzz target's directory, once [`isolate_credential_helpers`] made it.
static SCRATCH: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// For the `registry_auth` fuzz target, before its first input: points `PATH` at an
/// empty directory of this process, so no `docker-credential-*` that a fuzzed config
/// names can start (a name with a slash would need a `docker-credential-*` directory
/// to start from). Only for a process of its own: it changes the environment.
pub fn isolate_credential_helpers() {
    SCRATCH.get_or_init(|| {
        let dir = scratch_dir()?;
        // SAFETY: called from the fuzz target's init, before any other thread runs.
        unsafe { std::env::set_var("PATH", &dir) };
        // libFuzzer owns SIGALRM (its timeout clock ticks with it). A lookup that tries
        // to start a helper installs cachetop's fatal-signal handlers, which would end
        // the run at the first tick; here they only kill children and leave the rest
        // to libFuzzer's handler, which signal-hook calls after them.
        crate::children::caller_ends_on_signal();
        Some(dir)
    });
}

fn scratch_dir() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("cachetop-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Whether a config.json would make the lookup start a credential helper.
fn names_helper(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v.get("credsStore").is_some() || v.get("credHelpers").is_some())
}

/// The TOML config file, then resolving it into settings.
pub fn config_toml(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(file) = parse_config(Path::new("fuzz.toml"), text) else {
        return;
    };
    let Ok(settings) = resolve(&GlobalArgs::default(), &file, &Env::default()) else {
        return;
    };
    for repo in &settings.sources.gha.repos {
        assert_eq!(GhaRepo::parse(&repo.to_string()).as_ref(), Ok(repo));
    }
    assert_eq!(
        settings.sources.dirs.len(),
        file.dirs.map_or(0, |d| d.len())
    );
}

/// Splits a fuzz input into `index.json` and blobs (stored under their own digests).
pub const BLOB_SEPARATOR: &[u8] = b"\n--blob--\n";

/// A local export: `index.json` and the blobs it reaches, walked as the source does.
pub fn local_export(bytes: &[u8]) {
    let mut parts = split(bytes, BLOB_SEPARATOR).into_iter();
    let Some(index) = parts.next() else {
        return;
    };
    let store: std::collections::HashMap<Digest, Vec<u8>> =
        parts.map(|b| (Digest::sha256_of(b), b.to_vec())).collect();
    let mut read = |d: &Digest| Ok(store.get(d).cloned());
    let Ok(graph) = walk(index, &mut read) else {
        return;
    };
    for digest in graph.reached.keys() {
        // Orphans are found by comparing file names with these: each must be a digest.
        assert!(Digest::parse(digest).is_ok(), "reached {digest:?}");
    }
}

fn split<'a>(bytes: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(i) = memchr::memmem::find(rest, sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

/// The `.crate` check (a whole gzip+tar stream), the `.cargo-ok` marker and the
/// registry directory names.
pub fn cargo_crate(bytes: &[u8]) {
    match verify_stream(bytes) {
        // Bytes in memory never fail to read: a verdict is always given.
        Err(Defect::Unreadable(e)) => panic!("unreadable from memory: {e}"),
        Err(Defect::Corrupt(why)) => assert!(!why.is_empty()),
        Ok(()) => {
            // Whole means the gzip stream decodes to its end.
            let mut out = Vec::new();
            let whole = flate2::read::GzDecoder::new(bytes).read_to_end(&mut out);
            assert!(whole.is_ok(), "verified but does not decode: {whole:?}");
        }
    }
    if marker_is_valid(bytes) {
        assert!(serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v["v"] == 1));
    }
    if is_registry_dir(std::ffi::OsStr::from_bytes(bytes)) {
        assert!(bytes.len() > 17 && bytes[bytes.len() - 17] == b'-');
    }
}

#[cfg(test)]
mod tests {
    /// The 10-minute registry_auth run once ended at libFuzzer's first SIGALRM tick: a
    /// lookup that tries to start a helper installs cachetop's fatal-signal handlers,
    /// which then ended the process. Here, in a process of its own (this test binary
    /// again), a SIGALRM handler stands in for libFuzzer's clock.
    #[test]
    fn a_lookup_leaves_sigalrm_to_the_fuzzer() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        const CHILD: &str = "CACHETOP_FUZZ_SIGALRM_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let ticked = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(libc::SIGALRM, Arc::clone(&ticked)).unwrap();
            super::isolate_credential_helpers();
            // Names a helper: the lookup tries to start it (PATH holds none).
            super::registry_auth(br#"{"credsStore":"none"}"#);
            // SAFETY: raising a signal this process handles.
            assert_eq!(unsafe { libc::raise(libc::SIGALRM) }, 0);
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(
                ticked.load(Ordering::SeqCst),
                "the fuzzer's handler never ran"
            );
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "fuzzing::tests::a_lookup_leaves_sigalrm_to_the_fuzzer",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the fuzz process did not survive SIGALRM: {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every committed seed passes its target: the targets' own assertions hold for
    /// real inputs (`cargo test --features fuzzing --lib fuzzing`).
    #[test]
    fn every_seed_passes_its_target() {
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 9] = [
            ("description", super::description),
            ("system_df", super::system_df),
            ("oci", super::oci),
            ("gha_page", super::gha_page),
            ("gha_text", super::gha_text),
            ("registry_auth", super::registry_auth),
            ("config_toml", super::config_toml),
            ("local_export", super::local_export),
            ("cargo_crate", super::cargo_crate),
        ];
        for (name, target) in targets {
            let dir = format!("{}/fuzz/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
            let mut n = 0;
            for f in std::fs::read_dir(&dir).unwrap() {
                target(&std::fs::read(f.unwrap().path()).unwrap());
                n += 1;
            }
            assert!(n > 0, "no seeds in {dir}");
        }
    }
}
