//! What wrote a cache, read from its key family.

/// The `version` every BuildKit `type=gha` cache carries: go-actions-cache hashes
/// only its own name, `sha256("|go-actionscache-1.0")`, whatever the key.
pub const BUILDKIT_VERSION: &str =
    "693bb7016429d80366022f036f84856888c9f13e00145f5f6f4dce303a38d6f2";

pub const BUILDKIT_BLOB: &str = "gha.buildkit-blob";
pub const BUILDKIT_INDEX: &str = "gha.buildkit-index";
pub const OTHER: &str = "gha.other";

/// Key prefixes of the caches people meet most, in the order they are tried.
const PREFIXES: [(&str, &str); 7] = [
    ("buildkit-blob-1-", BUILDKIT_BLOB),
    ("index-buildkit-", BUILDKIT_INDEX),
    ("v0-rust-", "gha.rust-cache"),
    ("sccache-", "gha.sccache"),
    ("node-cache-", "gha.setup-node"),
    ("setup-python-", "gha.setup-python"),
    ("setup-go-", "gha.setup-go"),
];

/// Every kind this source produces.
#[cfg(test)]
pub const ALL: [&str; 8] = [
    BUILDKIT_BLOB,
    BUILDKIT_INDEX,
    "gha.rust-cache",
    "gha.sccache",
    "gha.setup-node",
    "gha.setup-python",
    "gha.setup-go",
    OTHER,
];

/// The kind of a cache from its key, and its version for BuildKit indexes of a custom
/// scope (`index-<scope>-1-<8 hex>`), whose key alone could be anyone's.
pub fn kind_of(key: &str, version: &str) -> &'static str {
    if let Some((_, kind)) = PREFIXES.iter().find(|(p, _)| key.starts_with(p)) {
        return kind;
    }
    if version == BUILDKIT_VERSION && is_scoped_index_key(key) {
        return BUILDKIT_INDEX;
    }
    OTHER
}

/// `index-<scope>-1-<hash>`: BuildKit's index key, where `1` is its cache format
/// version and the hash is the first 8 hex digits of a sha256.
fn is_scoped_index_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("index-") else {
        return false;
    };
    let Some((scope, hash)) = rest.rsplit_once("-1-") else {
        return false;
    };
    !scope.is_empty()
        && hash.len() == 8
        && hash
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_key_families() {
        let v = "0123";
        for (key, kind) in [
            (
                "buildkit-blob-1-sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef",
                "gha.buildkit-blob",
            ),
            ("index-buildkit-1-0a1b2c3d", "gha.buildkit-index"),
            ("v0-rust-test-Linux-x64-7d0e4a1b-59a0c2cf", "gha.rust-cache"),
            ("sccache-Linux-x64-1700000000", "gha.sccache"),
            ("node-cache-Linux-x64-npm-4f5b6c7d8e9f", "gha.setup-node"),
            (
                "setup-python-Linux-x64-22.04-Ubuntu-python-3.12.1-pip-abc",
                "gha.setup-python",
            ),
            ("setup-go-Linux-x64-ubuntu22-go-1.22.0-abc", "gha.setup-go"),
            ("Linux-cargo-registry-abc", "gha.other"),
            ("buildkit-blob-2-sha256:abc", "gha.other"),
            ("", "gha.other"),
        ] {
            assert_eq!(kind_of(key, v), kind, "{key}");
        }
    }

    #[test]
    fn a_custom_scope_index_needs_buildkits_version_hash() {
        let key = "index-my-app-linux-1-0a1b2c3d";
        assert_eq!(kind_of(key, BUILDKIT_VERSION), "gha.buildkit-index");
        assert_eq!(kind_of(key, "abc"), "gha.other");
        for not_index in [
            "index-my-app-1-0A1B2C3D",
            "index-my-app-1-0a1b2c3",
            "index--1-0a1b2c3d",
            "index-my-app-2-0a1b2c3d",
            "indexes-my-app-1-0a1b2c3d",
        ] {
            assert_eq!(
                kind_of(not_index, BUILDKIT_VERSION),
                "gha.other",
                "{not_index}"
            );
        }
    }

    #[test]
    fn every_kind_is_listed() {
        for (_, k) in PREFIXES {
            assert!(ALL.contains(&k));
        }
        assert!(ALL.contains(&OTHER));
    }
}
