//! Talking to one registry: the `/v2/` handshake and token, manifests and configs,
//! and `DELETE` of a manifest by digest. Every body is read only up to a cap that
//! names what it is for, and every request ends within a time limit, body included.
//! Every failure becomes a [`SourceError`] that names the registry and what to do; no
//! credential ever appears in one.

use std::time::Duration;

use oci_client::Reference;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, WWW_AUTHENTICATE};

use super::address::{is_loopback, scheme_for};
use super::auth::parse_challenge;
use super::auth::{
    Challenge, Credential, Found, HELPER_TIMEOUT_ENV, Secret, docker_config_dir, find_credential,
    helper_timeout,
};
use crate::sources::oci::media::MANIFEST_TYPES;
use crate::sources::oci::{Digest, FormatError};
use crate::sources::{ErrorKind, SourceError};
use crate::units::binary_size;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole exchange, body included: a registry that trickles is cut off too.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Manifests and indexes: distribution refuses to store larger ones (4 MiB), and a
/// BuildKit cache index of thousands of layers is a few hundred KiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Cache configs and image configs: a few KiB to a few MiB for the largest caches.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// A token service's answer: a token of a few KiB.
pub const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// Of an error answer, only this much is read (for its message).
const MAX_ERROR_BYTES: u64 = 64 << 10;
const USER_AGENT: &str = concat!("cachetop/", env!("CARGO_PKG_VERSION"));

/// How a request authenticates; the secrets stay wrapped.
#[derive(Clone, Debug)]
enum Auth {
    Anonymous,
    Basic(String, Secret),
    Bearer(Secret),
}

/// How to reach registries: from the command line and the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Plain HTTP for every registry, not only loopback ones.
    pub insecure: bool,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

/// A connection to one registry and repository, authenticated for reading.
pub struct Registry {
    pub reference: Reference,
    /// `host[:port]` as requests are sent to it.
    pub host: String,
    pub scheme: &'static str,
    pub auth_origin: String,
    http: reqwest::Client,
    read_auth: Auth,
    options: Options,
    found: Option<Found>,
}

impl Registry {
    pub async fn connect(reference: &Reference, options: &Options) -> Result<Self, SourceError> {
        let host = reference.resolve_registry().to_string();
        let scheme = scheme_for(&host, options.insecure);
        // reqwest drops the Authorization header when a redirect (a blob stored
        // elsewhere) leaves the host.
        // reqwest takes the process default provider (built without its own).
        crate::sources::crypto::provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| SourceError::new(ErrorKind::Other, format!("cannot set up HTTP: {e}")))?;
        let mut reg = Registry {
            reference: reference.clone(),
            host,
            scheme,
            auth_origin: "anonymous".into(),
            http,
            read_auth: Auth::Anonymous,
            options: options.clone(),
            found: None,
        };
        reg.authenticate().await?;
        Ok(reg)
    }

    fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    fn repo(&self) -> &str {
        self.reference.repository()
    }

    /// `GET /v2/`: says whether and how to authenticate.
    async fn authenticate(&mut self) -> Result<(), SourceError> {
        let url = format!("{}/v2/", self.base());
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        match res.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let challenge = res
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|h| h.to_str().ok())
                    .and_then(parse_challenge)
                    .ok_or_else(|| {
                        SourceError::new(
                            ErrorKind::Auth,
                            format!(
                                "{} answers 401 without a usable WWW-Authenticate challenge",
                                self.host
                            ),
                        )
                    })?;
                let scope = format!("repository:{}:pull", self.repo());
                self.read_auth = self.answer(&challenge, &scope).await?;
                Ok(())
            }
            StatusCode::NOT_FOUND => Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "{} has no registry API at {url} (404): is this a registry address?",
                    self.host
                ),
            )),
            s => Err(status_error(
                s,
                &format!("{} answered GET /v2/ with", self.host),
            )),
        }
    }

    /// The credential for this registry, found once.
    async fn credential(&mut self) -> Result<Found, SourceError> {
        if let Some(f) = &self.found {
            return Ok(f.clone());
        }
        let helper_time = helper_timeout(std::env::var(HELPER_TIMEOUT_ENV).ok().as_deref());
        let found = find_credential(
            self.reference.registry(),
            self.options.user.as_deref(),
            self.options.password.as_ref(),
            docker_config_dir().as_deref(),
            helper_time,
        )
        .await?;
        self.auth_origin = found.origin.clone();
        self.found = Some(found.clone());
        Ok(found)
    }

    /// Turns a challenge into request authentication for `scope`.
    async fn answer(&mut self, challenge: &Challenge, scope: &str) -> Result<Auth, SourceError> {
        let found = self.credential().await?;
        match challenge.scheme.as_str() {
            "bearer" => Ok(Auth::Bearer(self.token(challenge, scope, &found).await?)),
            "basic" => match &found.credential {
                Credential::Basic { user, password } => {
                    let url = format!("{}/v2/", self.base());
                    let res = self
                        .http
                        .get(&url)
                        .basic_auth(user, Some(password.expose()))
                        .send()
                        .await
                        .map_err(|e| self.transport(e))?;
                    if res.status() == StatusCode::UNAUTHORIZED {
                        return Err(refused_credentials(&self.host, &found));
                    }
                    Ok(Auth::Basic(user.clone(), password.clone()))
                }
                _ => Err(SourceError::new(
                    ErrorKind::Auth,
                    format!(
                        "{} asks for a user name and password: pass --registry-user with \
                         CACHETOP_REGISTRY_PASSWORD, or `docker login {}`",
                        self.host,
                        self.reference.registry()
                    ),
                )),
            },
            other => Err(SourceError::new(
                ErrorKind::Unsupported,
                format!(
                    "{} asks for {other:?} authentication, which cachetop does not speak",
                    self.host
                ),
            )),
        }
    }

    /// A bearer token from the challenge's realm (the distribution token protocol).
    async fn token(
        &self,
        challenge: &Challenge,
        scope: &str,
        found: &Found,
    ) -> Result<Secret, SourceError> {
        let realm = challenge.param("realm").ok_or_else(|| {
            SourceError::new(
                ErrorKind::Auth,
                format!("{} asks for a bearer token but names no realm", self.host),
            )
        })?;
        let realm_url = reqwest::Url::parse(realm).map_err(|e| {
            SourceError::new(
                ErrorKind::Auth,
                format!(
                    "{} names a token realm {realm:?} that is not a URL: {e}",
                    self.host
                ),
            )
        })?;
        // Secrets travel in clear text only where docker would send them so too.
        let realm_host = realm_url.host_str().unwrap_or("");
        if realm_url.scheme() != "https"
            && found.credential != Credential::Anonymous
            && !self.options.insecure
            && !is_loopback(realm_host)
        {
            return Err(SourceError::new(
                ErrorKind::Auth,
                format!(
                    "{} sends credentials to a plain-HTTP token service ({realm_host}); \
                     cachetop refuses unless you pass --insecure-registry",
                    self.host
                ),
            ));
        }
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(service) = challenge.param("service") {
            query.push(("service", service));
        }
        let req = match &found.credential {
            Credential::Anonymous => self.http.get(realm_url.clone()).query(&query),
            Credential::Basic { user, password } => self
                .http
                .get(realm_url.clone())
                .query(&query)
                .basic_auth(user, Some(password.expose())),
            Credential::IdentityToken(refresh) => {
                let mut form = query.clone();
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh.expose()));
                form.push(("client_id", "cachetop"));
                self.http.post(realm_url.clone()).form(&form)
            }
        };
        let mut res = req.send().await.map_err(|e| self.transport(e))?;
        let status = res.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(refused_credentials(&self.host, found));
        }
        if !status.is_success() {
            return Err(status_error(
                status,
                &format!("the token service of {} ({realm_host}) answered", self.host),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let what = format!("the token service of {} ({realm_host})", self.host);
        let body = self
            .read_body(&mut res, MAX_TOKEN_BYTES, &what, "a token answer")
            .await?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            SourceError::new(
                ErrorKind::Malformed,
                format!("{what} answered something that is not a token"),
            )
        })?;
        answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                SourceError::new(
                    ErrorKind::Malformed,
                    format!("{what} answered without a token"),
                )
            })
    }

    /// A manifest by tag or digest: its bytes and digest, checked against the digest
    /// asked for and the one the registry states.
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, Digest), SourceError> {
        let what = format!("manifest {reference}");
        let name = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        let url = format!("{}/v2/{}/manifests/{name}", self.base(), self.repo());
        let mut res = self
            .with_auth(self.http.get(&url), &self.read_auth)
            .header(ACCEPT, MANIFEST_TYPES.join(", "))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = res.status();
        if !status.is_success() {
            let body = error_body(&mut res).await;
            return Err(self.answer_error(status, &body, &what));
        }
        let stated = res
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let body = self
            .read_body(&mut res, MAX_MANIFEST_BYTES, &what, "a manifest")
            .await?;
        let bad_digest = |e: FormatError| {
            SourceError::new(
                ErrorKind::Malformed,
                format!("{} gave the {what} a bad digest: {e}", self.host),
            )
        };
        let mut digest = None;
        for d in [reference.digest().map(str::to_string), stated]
            .into_iter()
            .flatten()
        {
            let d = Digest::parse(&d).map_err(bad_digest)?;
            d.verify(&body).map_err(|e| self.not_its_digest(&what, e))?;
            digest.get_or_insert(d);
        }
        let digest = digest.unwrap_or_else(|| Digest::sha256_of(&body));
        Ok((body, digest))
    }

    /// A small blob (a config), checked against its digest and size.
    pub async fn small_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, SourceError> {
        let what = format!("blob {digest} of {}", self.repo());
        if size > MAX_CONFIG_BYTES {
            return Err(SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{what} claims {size} bytes; cachetop reads at most {} of a config",
                    binary_size(MAX_CONFIG_BYTES)
                ),
            ));
        }
        let url = format!("{}/v2/{}/blobs/{digest}", self.base(), self.repo());
        let mut res = self
            .with_auth(self.http.get(&url), &self.read_auth)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = res.status();
        if !status.is_success() {
            let body = error_body(&mut res).await;
            return Err(self.answer_error(status, &body, &what));
        }
        let body = self
            .read_body(&mut res, MAX_CONFIG_BYTES, &what, "a config")
            .await?;
        digest
            .verify(&body)
            .map_err(|e| self.not_its_digest(&what, e))?;
        if body.len() as u64 != size {
            return Err(SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{what}: {}",
                    FormatError::SizeMismatch {
                        expected: size,
                        actual: body.len() as u64
                    }
                ),
            ));
        }
        Ok(body)
    }

    /// `DELETE /v2/<repo>/manifests/<digest>`, then a check that it is gone. An error
    /// when the registry refuses, or accepts and still serves the manifest.
    pub async fn delete_manifest(&mut self, digest: &Digest) -> Result<(), SourceError> {
        let url = format!("{}/v2/{}/manifests/{}", self.base(), self.repo(), digest);
        let mut auth = self.read_auth.clone();
        let mut res = self.send_delete(&url, &auth).await?;
        if res.status() == StatusCode::UNAUTHORIZED {
            // A read token does not allow deleting: ask for the scope the registry names.
            let challenge = res
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .and_then(parse_challenge);
            if let Some(c) = challenge {
                let scope = c
                    .param("scope")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("repository:{}:delete", self.repo()));
                auth = self.answer(&c, &scope).await?;
                res = self.send_delete(&url, &auth).await?;
            }
        }
        let status = res.status();
        let body = error_body(&mut res).await;
        match status {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => {}
            StatusCode::METHOD_NOT_ALLOWED => {
                return Err(SourceError::new(
                    ErrorKind::Refused,
                    format!(
                        "{} does not allow deleting manifests (405 Method Not Allowed{}): \
                         nothing was deleted. Deleting must be enabled on the registry \
                         (distribution: storage.delete.enabled: true), or use the registry's \
                         own retention settings",
                        self.host,
                        registry_message(&body)
                    ),
                ));
            }
            StatusCode::NOT_FOUND => {
                return Err(SourceError::new(
                    ErrorKind::NotFound,
                    format!(
                        "{} has no manifest {digest} in {} any more",
                        self.host,
                        self.repo()
                    ),
                ));
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(SourceError::new(
                    ErrorKind::Auth,
                    format!(
                        "{} refused to delete {digest} ({}{}): the credential ({}) may not \
                         delete in {}",
                        self.host,
                        status,
                        registry_message(&body),
                        self.auth_origin,
                        self.repo()
                    ),
                ));
            }
            s => {
                return Err(status_error(
                    s,
                    &format!("{} answered DELETE {digest} with", self.host),
                ));
            }
        }
        // Check the answer: the manifest must be gone. A delete token need not allow
        // reading, so this asks with the read credentials.
        let head = self
            .with_auth(self.http.head(&url), &self.read_auth)
            .header(ACCEPT, MANIFEST_TYPES.join(", "))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        match head.status() {
            StatusCode::NOT_FOUND => Ok(()),
            s if s.is_success() => Err(still_served(&self.host, digest, status)),
            s => Err(SourceError::new(
                ErrorKind::NoAnswer,
                format!(
                    "{} accepted deleting {digest}, but checking that it is gone answered {s}",
                    self.host
                ),
            )),
        }
    }

    async fn send_delete(&self, url: &str, auth: &Auth) -> Result<reqwest::Response, SourceError> {
        self.with_auth(self.http.delete(url), auth)
            .send()
            .await
            .map_err(|e| self.transport(e))
    }

    fn with_auth(&self, req: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
        match auth {
            Auth::Anonymous => req,
            Auth::Basic(u, p) => req.basic_auth(u, Some(p.expose())),
            Auth::Bearer(t) => req.bearer_auth(t.expose()),
        }
    }

    /// The body of a 2xx answer, refused before reading when its Content-Length is
    /// over `cap`, and cut off as soon as more than `cap` bytes arrive.
    async fn read_body(
        &self,
        res: &mut reqwest::Response,
        cap: u64,
        what: &str,
        kind: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let too_large = |claimed: Option<u64>| {
            let size = match claimed {
                Some(n) => format!("claims {n} bytes (Content-Length)"),
                None => format!("sent more than {}", binary_size(cap)),
            };
            SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{what} from {} {size}; cachetop reads at most {} of {kind}",
                    self.host,
                    binary_size(cap)
                ),
            )
        };
        if let Some(n) = res.content_length()
            && n > cap
        {
            return Err(too_large(Some(n)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.transport(e))? {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(too_large(None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn not_its_digest(&self, what: &str, e: FormatError) -> SourceError {
        SourceError::new(
            ErrorKind::Malformed,
            format!("{what} from {} does not match its digest: {e}", self.host),
        )
    }

    fn transport(&self, e: reqwest::Error) -> SourceError {
        transport_error(&self.host, self.scheme, &e)
    }

    /// A non-2xx answer to a read, in words: the distribution error codes when the
    /// body holds them, else the status.
    fn answer_error(&self, status: StatusCode, body: &[u8], what: &str) -> SourceError {
        let host = &self.host;
        if status == StatusCode::UNAUTHORIZED {
            return SourceError::new(
                ErrorKind::Auth,
                format!(
                    "{host} refused to serve {what} to {}: log in with `docker login`, or pass \
                     --registry-user with CACHETOP_REGISTRY_PASSWORD",
                    self.auth_origin
                ),
            );
        }
        if status.is_client_error()
            && let Some(codes) = error_codes(body)
        {
            let joined = codes.join(", ");
            return if joined.contains("UNKNOWN") {
                SourceError::new(
                    ErrorKind::NotFound,
                    format!("{host} has no {what} ({joined})"),
                )
            } else if joined.contains("DENIED") || joined.contains("UNAUTHORIZED") {
                SourceError::new(
                    ErrorKind::Auth,
                    format!(
                        "{host} denied access to {what} ({joined}) for {}",
                        self.auth_origin
                    ),
                )
            } else {
                SourceError::new(
                    ErrorKind::Other,
                    format!("{host} refused {what} ({joined})"),
                )
            };
        }
        match status.as_u16() {
            404 => SourceError::new(ErrorKind::NotFound, format!("{host} has no {what} (404)")),
            403 => SourceError::new(
                ErrorKind::Auth,
                format!("{host} refused {what} (403) to {}", self.auth_origin),
            ),
            429 => SourceError::new(
                ErrorKind::RateLimited,
                format!("{host} is rate-limiting requests (429); try again later"),
            ),
            c => SourceError::new(
                ErrorKind::Other,
                format!("{host} failed to serve {what} (HTTP {c}); try again later"),
            ),
        }
    }
}

/// The registry accepted a delete and still serves the manifest: said in cachetop's
/// words, with what to do.
fn still_served(host: &str, digest: &Digest, accepted: StatusCode) -> SourceError {
    SourceError::new(
        ErrorKind::Refused,
        format!(
            "{host} accepted deleting {digest} ({accepted}) but still serves it, so cachetop \
             counts it as kept. Something in front of the registry (a pull-through cache, a \
             CDN or a proxy) may answer from a copy, or the registry removes manifests later; \
             check with `cachetop report` in a while, and if it is still listed, delete it \
             with the registry's own tools or its retention settings"
        ),
    )
}

/// The first bytes of an error answer (enough for its message); a failure to read it
/// only loses the message.
async fn error_body(res: &mut reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        let room = (MAX_ERROR_BYTES as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= MAX_ERROR_BYTES {
            break;
        }
    }
    body
}

/// The `errors[].code` of a distribution error body, when it is one.
fn error_codes(body: &[u8]) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
    }
    let env: Envelope = serde_json::from_slice(body).ok()?;
    Some(env.errors.into_iter().filter_map(|i| i.code).collect())
}

fn refused_credentials(host: &str, found: &Found) -> SourceError {
    let hint = match found.credential {
        Credential::Anonymous => {
            "it needs credentials: `docker login`, or --registry-user with CACHETOP_REGISTRY_PASSWORD"
        }
        _ => "check the user name and password (or token)",
    };
    SourceError::new(
        ErrorKind::Auth,
        format!("{host} refused {}: {hint}", found.origin),
    )
}

/// The `errors[].message` of a distribution error body, for context.
fn registry_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) if !env.errors.is_empty() => {
            let parts: Vec<String> = env
                .errors
                .iter()
                .map(|i| {
                    let code = i.code.clone().unwrap_or_default();
                    let msg: String = i
                        .message
                        .clone()
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect();
                    format!("{code} {msg}").trim().to_string()
                })
                .collect();
            format!("; {}", parts.join("; "))
        }
        _ => String::new(),
    }
}

fn status_error(s: StatusCode, what: &str) -> SourceError {
    let kind = match s.as_u16() {
        401 | 403 => ErrorKind::Auth,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Other,
    };
    SourceError::new(kind, format!("{what} {s}"))
}

/// Connection failures, with the hint a user needs (plain HTTP, a firewall, a typo).
/// A request that was sent and got no whole answer is [`ErrorKind::NoAnswer`].
pub fn transport_error(host: &str, scheme: &str, e: &reqwest::Error) -> SourceError {
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if e.is_timeout() {
        return SourceError::new(
            ErrorKind::NoAnswer,
            format!(
                "{host} did not answer within {} s over {scheme}: {cause}",
                REQUEST_TIMEOUT.as_secs()
            ),
        );
    }
    let hint = if scheme == "https" {
        "; if it serves plain HTTP, pass --insecure-registry"
    } else {
        ""
    };
    if e.is_connect() {
        return SourceError::new(
            ErrorKind::Unreachable,
            format!("cannot connect to registry {host} over {scheme}: {cause}{hint}"),
        );
    }
    SourceError::new(
        ErrorKind::NoAnswer,
        format!("talking to registry {host} over {scheme} failed: {cause}{hint}"),
    )
}
