//! Registry credentials: where they come from (flags and environment, docker's
//! config.json, credential helpers), how they are kept out of every output, and the
//! `WWW-Authenticate` challenges that say how to use them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::sources::{ErrorKind, SourceError};

/// A password or token. It has no `Display`, and its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        user: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json, or a helper's
    /// `<token>` user): exchanged for a bearer token at the realm.
    IdentityToken(Secret),
}

/// A credential and where it came from (said in the source's details, never the
/// secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub credential: Credential,
    pub origin: String,
}

impl Found {
    pub fn anonymous() -> Self {
        Self {
            credential: Credential::Anonymous,
            origin: "anonymous".into(),
        }
    }
}

/// The key docker uses for a registry in config.json and with credential helpers.
pub fn docker_server_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        other => other.to_string(),
    }
}

/// docker's config directory: `DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
}

/// The credential for `registry`: `--registry-user` with `CACHETOP_REGISTRY_PASSWORD`
/// first, else docker's config.json (its `credHelpers`, `auths`, `credsStore`), else
/// anonymous. Blocking: a credential helper is a process.
pub fn find_credential(
    registry: &str,
    user: Option<&str>,
    password: Option<&Secret>,
    config_dir: Option<&Path>,
) -> Result<Found, SourceError> {
    if let (Some(user), Some(password)) = (user, password) {
        return Ok(Found {
            credential: Credential::Basic {
                user: user.to_string(),
                password: password.clone(),
            },
            origin: format!("user {user} (--registry-user, CACHETOP_REGISTRY_PASSWORD)"),
        });
    }
    let Some(dir) = config_dir else {
        return Ok(Found::anonymous());
    };
    let path = dir.join("config.json");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::anonymous()),
        Err(e) => {
            return Err(SourceError::new(
                ErrorKind::PermissionDenied,
                format!("cannot read docker config {}: {e}", path.display()),
            ));
        }
    };
    let key = docker_server_key(registry);
    let result = docker_credential::get_credential_from_reader(std::io::BufReader::new(file), &key);
    let origin = format!("docker config {}", path.display());
    match result {
        Ok(DockerCredential::UsernamePassword(user, password)) => Ok(Found {
            origin: format!("user {user} ({origin})"),
            credential: Credential::Basic {
                user,
                password: Secret::new(password),
            },
        }),
        Ok(DockerCredential::IdentityToken(token)) => Ok(Found {
            credential: Credential::IdentityToken(Secret::new(token)),
            origin: format!("identity token ({origin})"),
        }),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(Found::anonymous()),
        // A helper that knows nothing of this registry says so on stderr and fails;
        // docker treats that as "no credentials" too.
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if stdout.contains("credentials not found")
                || stderr.contains("credentials not found") =>
        {
            Ok(Found::anonymous())
        }
        // The helper's own output is left out on purpose: it may hold a secret.
        Err(CredentialRetrievalError::HelperFailure { helper, .. }) => Err(SourceError::new(
            ErrorKind::Auth,
            format!(
                "credential helper {helper} failed for {key}; run `{helper} get` by hand to \
                 see why, or use --registry-user with CACHETOP_REGISTRY_PASSWORD"
            ),
        )),
        Err(CredentialRetrievalError::HelperCommunicationError) => Err(SourceError::new(
            ErrorKind::Auth,
            format!(
                "cannot run or talk to the credential helper that {} names for {key}: is it \
                 on PATH?",
                path.display()
            ),
        )),
        Err(CredentialRetrievalError::MalformedHelperResponse) => Err(SourceError::new(
            ErrorKind::Auth,
            format!("the credential helper for {key} answered something that is not a credential"),
        )),
        Err(e @ CredentialRetrievalError::CredentialDecodingError)
        | Err(e @ CredentialRetrievalError::CredentialMismatchError) => Err(SourceError::new(
            ErrorKind::Auth,
            format!("{}: the entry for {key}: {e}", path.display()),
        )),
        Err(CredentialRetrievalError::ConfigNotFound)
        | Err(CredentialRetrievalError::ConfigReadError) => Err(SourceError::new(
            ErrorKind::Malformed,
            format!("docker config {} is not valid JSON", path.display()),
        )),
    }
}

/// A `WWW-Authenticate` challenge: `Bearer realm="…",service="…",scope="…"` or
/// `Basic realm="…"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercase: `bearer` or `basic`.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
}

/// Parses the first challenge of a `WWW-Authenticate` header.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = match header.find(char::is_whitespace) {
        Some(i) => (&header[..i], header[i..].trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return None;
    }
    let mut params = BTreeMap::new();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end?;
            value = v;
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        // A second challenge starts after a comma with a new scheme; stop there.
        params.insert(key, value);
        rest = rest.trim_start_matches(',').trim_start();
        if let Some(sp) = rest.find(char::is_whitespace)
            && !rest[..sp].contains('=')
        {
            break;
        }
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Credential::Basic {
            user: "ci".into(),
            password: Secret::new("hunter2"),
        };
        let shown = format!(
            "{c:?} {:?}",
            Credential::IdentityToken(Secret::new("tok-123"))
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-123"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example/token"));
        assert_eq!(c.param("service"), Some("registry.example"));
        assert_eq!(c.param("scope"), Some("repository:app:pull"));

        let b = parse_challenge(r#"Basic realm="basic-realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
        assert_eq!(b.param("realm"), Some("basic-realm"));

        let esc = parse_challenge(r#"Bearer realm="a\"b", error=insufficient_scope"#).unwrap();
        assert_eq!(esc.param("realm"), Some("a\"b"));
        assert_eq!(esc.param("error"), Some("insufficient_scope"));

        let two = parse_challenge(r#"Bearer realm="r", Basic realm="x""#).unwrap();
        assert_eq!(two.param("realm"), Some("r"));

        assert!(parse_challenge("").is_none());
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn flag_credentials_win_and_missing_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let pw = Secret::new("pw");
        let f = find_credential("r:5000", Some("u"), Some(&pw), Some(dir.path())).unwrap();
        assert!(matches!(f.credential, Credential::Basic { ref user, .. } if user == "u"));
        assert!(!f.origin.contains("pw"));
        let f = find_credential("r:5000", None, None, Some(dir.path())).unwrap();
        assert_eq!(f.credential, Credential::Anonymous);
    }

    #[test]
    fn config_json_auths_and_tokens() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"auths": {{"r:5000": {{"auth": "{auth}"}},
                               "https://index.docker.io/v1/": {{"identitytoken": "refresh-me"}}}}}}"#
            ),
        )
        .unwrap();
        let f = find_credential("r:5000", None, None, Some(dir.path())).unwrap();
        assert_eq!(
            f.credential,
            Credential::Basic {
                user: "bob".into(),
                password: Secret::new("s3cret")
            }
        );
        assert!(f.origin.contains("bob") && !f.origin.contains("s3cret"));
        let f = find_credential("docker.io", None, None, Some(dir.path())).unwrap();
        assert_eq!(
            f.credential,
            Credential::IdentityToken(Secret::new("refresh-me"))
        );
        let f = find_credential("other:1", None, None, Some(dir.path())).unwrap();
        assert_eq!(f.credential, Credential::Anonymous);

        std::fs::write(dir.path().join("config.json"), "{nope").unwrap();
        let e = find_credential("r:5000", None, None, Some(dir.path())).unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{e}");
    }
}
