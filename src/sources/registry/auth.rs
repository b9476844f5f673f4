//! Registry credentials: where they come from (flags and environment, docker's
//! config.json, credential helpers), how they are kept out of every output, and the
//! `WWW-Authenticate` challenges that say how to use them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::children::{self, Bounds, ChildError};
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

/// How long a credential helper may take to answer. Helpers answer in well under a
/// second; one that waits on a locked keyring, a prompt or a dead network never would.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds, to change [`HELPER_TIMEOUT`] (a helper that asks a slow vault).
pub const HELPER_TIMEOUT_ENV: &str = "CACHETOP_CREDENTIAL_HELPER_TIMEOUT";
/// What a helper may print: a user name and a token of a few KiB.
pub const MAX_HELPER_OUTPUT: usize = 1 << 20;
/// What is kept of a helper's stderr (only to recognise "credentials not found").
const MAX_HELPER_ERRORS: usize = 64 << 10;
/// docker's config.json is a few KiB.
pub const MAX_DOCKER_CONFIG: u64 = 4 << 20;

/// The helper time limit: [`HELPER_TIMEOUT_ENV`] when it holds a whole number of
/// seconds from 1 to 3600, else [`HELPER_TIMEOUT`].
pub fn helper_timeout(env: Option<&str>) -> Duration {
    env.and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
        .map_or(HELPER_TIMEOUT, Duration::from_secs)
}

/// The credential for `registry`: `--registry-user` with `CACHETOP_REGISTRY_PASSWORD`
/// first, else docker's config.json (its `credHelpers`, `auths`, `credsStore`, in
/// docker's order), else anonymous. A credential helper runs bounded by `helper_time`.
pub async fn find_credential(
    registry: &str,
    user: Option<&str>,
    password: Option<&Secret>,
    config_dir: Option<&Path>,
    helper_time: Duration,
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
    let read_path = path.clone();
    let raw = tokio::task::spawn_blocking(move || read_docker_config(&read_path))
        .await
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("reading docker config: {e}")))??;
    let Some(raw) = raw else {
        return Ok(Found::anonymous());
    };
    let not_json = || {
        SourceError::new(
            ErrorKind::Malformed,
            format!("docker config {} is not valid JSON", path.display()),
        )
    };
    let mut config: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| not_json())?;
    let obj = config.as_object_mut().ok_or_else(not_json)?;
    let key = docker_server_key(registry);
    let name_of = |v: Option<&serde_json::Value>| {
        v.and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    // Helpers are run here, bounded; the crate only ever sees `auths`.
    let cred_helper = obj.remove("credHelpers").and_then(|h| name_of(h.get(&key)));
    let store = name_of(obj.remove("credsStore").as_ref());
    let helper = Helper {
        key: &key,
        config: &path,
        time: helper_time,
    };
    if let Some(name) = cred_helper {
        return helper.ask(&name).await;
    }
    let auths_only = serde_json::to_vec(&config).map_err(|_| not_json())?;
    let origin = format!("docker config {}", path.display());
    match docker_credential::get_credential_from_reader(auths_only.as_slice(), &key) {
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
        Err(CredentialRetrievalError::NoCredentialConfigured) => match store {
            Some(name) => helper.ask(&name).await,
            None => Ok(Found::anonymous()),
        },
        Err(e @ CredentialRetrievalError::CredentialDecodingError)
        | Err(e @ CredentialRetrievalError::CredentialMismatchError) => Err(SourceError::new(
            ErrorKind::Auth,
            format!("{}: the entry for {key}: {e}", path.display()),
        )),
        // No helper is left for the crate to run, so these are a config it cannot read.
        Err(_) => Err(not_json()),
    }
}

/// docker's config.json, or `None` when there is none. Only a regular file is read
/// (a FIFO or a device would block or never end), and only up to a cap.
fn read_docker_config(path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let cannot = |e: std::io::Error| {
        SourceError::new(
            ErrorKind::PermissionDenied,
            format!("cannot read docker config {}: {e}", path.display()),
        )
    };
    // Non-blocking, so opening a FIFO does not wait for a writer.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(SourceError::new(
            ErrorKind::Malformed,
            format!(
                "docker config {} is not a regular file; point DOCKER_CONFIG at a directory \
                 holding a config.json",
                path.display()
            ),
        ));
    }
    let mut raw = Vec::new();
    file.take(MAX_DOCKER_CONFIG + 1)
        .read_to_end(&mut raw)
        .map_err(cannot)?;
    if raw.len() as u64 > MAX_DOCKER_CONFIG {
        return Err(SourceError::new(
            ErrorKind::Malformed,
            format!(
                "docker config {} is larger than {} MiB, the most cachetop reads; a \
                 config.json is a few KiB",
                path.display(),
                MAX_DOCKER_CONFIG >> 20
            ),
        ));
    }
    Ok(Some(raw))
}

/// A docker credential helper for one server key, run as docker does
/// (`docker-credential-NAME get`, the key on stdin, JSON on stdout), but bounded.
struct Helper<'a> {
    key: &'a str,
    config: &'a Path,
    time: Duration,
}

impl Helper<'_> {
    async fn ask(&self, name: &str) -> Result<Found, SourceError> {
        self.run(&format!("docker-credential-{name}")).await
    }

    async fn run(&self, program: &str) -> Result<Found, SourceError> {
        let key = self.key;
        let bounds = Bounds {
            time: self.time,
            stdout_bytes: MAX_HELPER_OUTPUT,
            stderr_bytes: MAX_HELPER_ERRORS,
        };
        let auth = |message: String| SourceError::new(ErrorKind::Auth, message);
        let finished = match children::run(program, &["get"], key.as_bytes(), bounds).await {
            Ok(f) => f,
            Err(ChildError::TimedOut { after, .. }) => {
                return Err(auth(format!(
                    "{program} did not answer within {}; check the helper (`echo {key} | \
                     {program} get`), or remove credsStore/credHelpers for {key} from {}",
                    children::seconds(after),
                    self.config.display()
                )));
            }
            Err(ChildError::Spawn { error, .. })
                if error.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(auth(format!(
                    "cannot run the credential helper {program} that {} names for {key}: is it \
                     on PATH?",
                    self.config.display()
                )));
            }
            Err(ChildError::TooMuchOutput { stream, limit, .. }) => {
                return Err(auth(format!(
                    "{program} wrote more than {} KiB to {stream} for {key}, which no \
                     credential is; check the helper",
                    limit >> 10
                )));
            }
            Err(e) => {
                return Err(auth(format!(
                    "cannot run the credential helper for {key}: {e}"
                )));
            }
        };
        let said = |needle: &str| {
            let has = |b: &[u8]| String::from_utf8_lossy(b).contains(needle);
            has(&finished.stdout) || has(&finished.stderr)
        };
        if !finished.status.success() {
            // A helper that knows nothing of this registry says so and fails; docker
            // treats that as "no credentials" too.
            if said("credentials not found") {
                return Ok(Found::anonymous());
            }
            // The helper's own output is left out on purpose: it may hold a secret.
            return Err(auth(format!(
                "credential helper {program} failed for {key}; run `{program} get` by hand to \
                 see why, or use --registry-user with CACHETOP_REGISTRY_PASSWORD"
            )));
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            username: String,
            secret: String,
        }
        let answer: Answer = serde_json::from_slice(&finished.stdout).map_err(|_| {
            auth(format!(
                "the credential helper {program} answered something that is not a credential \
                 for {key}"
            ))
        })?;
        let origin = format!("credential helper {program}");
        Ok(if answer.username == "<token>" {
            Found {
                credential: Credential::IdentityToken(Secret::new(answer.secret)),
                origin: format!("identity token ({origin})"),
            }
        } else {
            Found {
                origin: format!("user {} ({origin})", answer.username),
                credential: Credential::Basic {
                    user: answer.username,
                    password: Secret::new(answer.secret),
                },
            }
        })
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

    async fn find(registry: &str, dir: &Path) -> Result<Found, SourceError> {
        find_credential(registry, None, None, Some(dir), HELPER_TIMEOUT).await
    }

    #[tokio::test]
    async fn flag_credentials_win_and_missing_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let pw = Secret::new("hunter2-pw");
        let f = find_credential(
            "r:5000",
            Some("u"),
            Some(&pw),
            Some(dir.path()),
            HELPER_TIMEOUT,
        )
        .await
        .unwrap();
        assert!(matches!(f.credential, Credential::Basic { ref user, .. } if user == "u"));
        assert!(!f.origin.contains("hunter2"));
        let f = find("r:5000", dir.path()).await.unwrap();
        assert_eq!(f.credential, Credential::Anonymous);
    }

    #[tokio::test]
    async fn config_json_auths_and_tokens() {
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
        let f = find("r:5000", dir.path()).await.unwrap();
        assert_eq!(
            f.credential,
            Credential::Basic {
                user: "bob".into(),
                password: Secret::new("s3cret")
            }
        );
        assert!(f.origin.contains("bob") && !f.origin.contains("s3cret"));
        let f = find("docker.io", dir.path()).await.unwrap();
        assert_eq!(
            f.credential,
            Credential::IdentityToken(Secret::new("refresh-me"))
        );
        let f = find("other:1", dir.path()).await.unwrap();
        assert_eq!(f.credential, Credential::Anonymous);

        std::fs::write(dir.path().join("config.json"), "{nope").unwrap();
        let e = find("r:5000", dir.path()).await.unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn the_helper_bound_is_30_s_unless_changed_to_a_sane_number() {
        assert_eq!(helper_timeout(None), Duration::from_secs(30));
        assert_eq!(helper_timeout(Some("5")), Duration::from_secs(5));
        for bad in ["", "0", "-1", "1.5", "99999", "x"] {
            assert_eq!(helper_timeout(Some(bad)), HELPER_TIMEOUT, "{bad:?}");
        }
    }

    /// Runs `script` as the helper for `r:5000`, bounded by `time`.
    async fn helper(script: &str, time: Duration) -> Result<Found, SourceError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker-credential-test");
        // Written by a child that has exited before the run: a descriptor open for
        // writing here could be copied into another test's fork and make exec fail
        // with ETXTBSY (seen when the unit tests run side by side).
        let written = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"",
                "sh",
            ])
            .arg(script)
            .arg(&path)
            .status()
            .unwrap();
        assert!(written.success());
        let config = dir.path().join("config.json");
        Helper {
            key: "r:5000",
            config: &config,
            time,
        }
        .run(path.to_str().unwrap())
        .await
    }

    #[tokio::test]
    async fn a_helper_that_hangs_fails_within_the_bound_naming_it_and_the_fix() {
        let started = std::time::Instant::now();
        let e = helper("#!/bin/sh\nexec sleep 1000\n", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("did not answer within 1 s"), "{e}");
        assert!(e.message.contains("docker-credential-test"), "{e}");
        assert!(e.message.contains("credHelpers for r:5000"), "{e}");
    }

    #[tokio::test]
    async fn a_helper_answer_that_is_garbage_or_huge_is_refused_unshown() {
        let e = helper(
            "#!/bin/sh\necho 'not json, secret-garbage-123'\n",
            HELPER_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("not a credential"), "{e}");
        assert!(!e.message.contains("secret-garbage-123"), "{e}");

        let e = helper("#!/bin/sh\nexec yes secret-flood\n", HELPER_TIMEOUT)
            .await
            .unwrap_err();
        assert!(e.message.contains("more than 1024 KiB to stdout"), "{e}");
        assert!(!e.message.contains("secret-flood"), "{e}");

        let e = helper(
            "#!/bin/sh\necho 'secret-in-failure'; exit 1\n",
            HELPER_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(
            e.message
                .contains("docker-credential-test failed for r:5000"),
            "{e}"
        );
        assert!(!e.message.contains("secret-in-failure"), "{e}");
        let f = helper(
            "#!/bin/sh\necho 'credentials not found in native keychain'; exit 1\n",
            HELPER_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(f.credential, Credential::Anonymous);
    }

    #[tokio::test]
    async fn a_helper_answer_becomes_a_credential_or_a_refresh_token() {
        let f = helper(
            "#!/bin/sh\nread s\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"bob\",\"Secret\":\"hunter2-pw\"}' \"$s\"\n",
            HELPER_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(
            f.credential,
            Credential::Basic {
                user: "bob".into(),
                password: Secret::new("hunter2-pw")
            }
        );
        assert!(f.origin.contains("credential helper"), "{}", f.origin);
        // A secret no temporary path can hold (`.tmpw…` holds "pw").
        assert!(!f.origin.contains("hunter2"), "{}", f.origin);
        let f = helper(
            "#!/bin/sh\nprintf '{\"Username\":\"<token>\",\"Secret\":\"rt\"}'\n",
            HELPER_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(f.credential, Credential::IdentityToken(Secret::new("rt")));
    }

    #[tokio::test]
    async fn helpers_are_chosen_in_dockers_order() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        let write = |cfg: String| std::fs::write(dir.path().join("config.json"), cfg).unwrap();
        // auths before credsStore.
        write(format!(
            r#"{{"auths": {{"r:5000": {{"auth": "{auth}"}}}}, "credsStore": "cachetop-none"}}"#
        ));
        let f = find("r:5000", dir.path()).await.unwrap();
        assert!(matches!(f.credential, Credential::Basic { ref user, .. } if user == "bob"));
        // credsStore for the rest.
        let e = find("other:1", dir.path()).await.unwrap_err();
        assert!(
            e.message.contains("docker-credential-cachetop-none") && e.message.contains("on PATH"),
            "{e}"
        );
        // credHelpers before auths.
        write(format!(
            r#"{{"auths": {{"r:5000": {{"auth": "{auth}"}}}}, "credHelpers": {{"r:5000": "cachetop-none2"}}}}"#
        ));
        let e = find("r:5000", dir.path()).await.unwrap_err();
        assert!(
            e.message.contains("docker-credential-cachetop-none2"),
            "{e}"
        );
        assert!(!e.message.contains("s3cret"), "{e}");
    }

    #[tokio::test]
    async fn a_config_json_that_is_not_a_regular_file_or_too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("config.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo has no other preconditions.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = find("r:5000", dir.path()).await.unwrap_err();
        assert!(e.message.contains("not a regular file"), "{e}");
        std::fs::remove_file(&fifo).unwrap();
        std::fs::write(&fifo, vec![b' '; (MAX_DOCKER_CONFIG + 1) as usize]).unwrap();
        let e = find("r:5000", dir.path()).await.unwrap_err();
        assert!(e.message.contains("larger than 4 MiB"), "{e}");
    }
}
