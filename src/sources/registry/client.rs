//! Talking to one registry: the `/v2/` handshake and token, manifests and small blobs
//! through oci-client, and `DELETE` of a manifest by digest. Every failure becomes a
//! [`SourceError`] that names the registry and what to do; no credential ever appears
//! in one.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, WWW_AUTHENTICATE};

use super::address::{is_loopback, scheme_for};
use super::auth::parse_challenge;
use super::auth::{Challenge, Credential, Found, Secret, docker_config_dir, find_credential};
use crate::sources::oci::media::MANIFEST_TYPES;
use crate::sources::oci::{Digest, FormatError};
use crate::sources::{ErrorKind, SourceError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Config blobs are a few KiB to a few MiB; anything far larger is not one.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;
const USER_AGENT: &str = concat!("cachetop/", env!("CARGO_PKG_VERSION"));

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
    oci: oci_client::Client,
    read_auth: RegistryAuth,
    options: Options,
    found: Option<Found>,
}

impl Registry {
    pub async fn connect(reference: &Reference, options: &Options) -> Result<Self, SourceError> {
        let host = reference.resolve_registry().to_string();
        let scheme = scheme_for(&host, options.insecure);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| SourceError::new(ErrorKind::Other, format!("cannot set up HTTP: {e}")))?;
        let oci = oci_client::Client::new(ClientConfig {
            protocol: if scheme == "http" {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(REQUEST_TIMEOUT),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..Default::default()
        });
        let mut reg = Registry {
            reference: reference.clone(),
            host,
            scheme,
            auth_origin: "anonymous".into(),
            http,
            oci,
            read_auth: RegistryAuth::Anonymous,
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
        let registry = self.reference.registry().to_string();
        let user = self.options.user.clone();
        let password = self.options.password.clone();
        let found = tokio::task::spawn_blocking(move || {
            find_credential(
                &registry,
                user.as_deref(),
                password.as_ref(),
                docker_config_dir().as_deref(),
            )
        })
        .await
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("credential lookup: {e}")))??;
        self.auth_origin = found.origin.clone();
        self.found = Some(found.clone());
        Ok(found)
    }

    /// Turns a challenge into request authentication for `scope`.
    async fn answer(
        &mut self,
        challenge: &Challenge,
        scope: &str,
    ) -> Result<RegistryAuth, SourceError> {
        let found = self.credential().await?;
        match challenge.scheme.as_str() {
            "bearer" => {
                let token = self.token(challenge, scope, &found).await?;
                Ok(RegistryAuth::Bearer(token.expose().to_string()))
            }
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
                    Ok(RegistryAuth::Basic(
                        user.clone(),
                        password.expose().to_string(),
                    ))
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
        let res = req.send().await.map_err(|e| self.transport(e))?;
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
        let body = res.bytes().await.map_err(|e| self.transport(e))?;
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "the token service of {} answered something that is not a token",
                    self.host
                ),
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
                    format!(
                        "the token service of {} answered without a token",
                        self.host
                    ),
                )
            })
    }

    /// A manifest by tag or digest: its bytes and digest (checked by oci-client).
    pub async fn manifest(&self, reference: &Reference) -> Result<(Vec<u8>, Digest), SourceError> {
        let (bytes, digest) = self
            .oci
            .pull_manifest_raw(reference, &self.read_auth, &MANIFEST_TYPES)
            .await
            .map_err(|e| self.oci_error(e, &format!("manifest {reference}")))?;
        let digest = Digest::parse(&digest).map_err(|e| {
            SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{} gave the manifest {reference} a bad digest: {e}",
                    self.host
                ),
            )
        })?;
        Ok((bytes.to_vec(), digest))
    }

    /// A small blob (a config), checked against its digest and size.
    pub async fn small_blob(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, SourceError> {
        let what = format!("blob {digest} of {}", self.repo());
        if size > MAX_CONFIG_BYTES {
            return Err(SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{what} claims {size} bytes; a config larger than {MAX_CONFIG_BYTES} bytes is refused"
                ),
            ));
        }
        let mut sink = Capped {
            buf: Vec::with_capacity(size as usize),
            limit: MAX_CONFIG_BYTES as usize,
        };
        self.oci
            .pull_blob(&self.reference, digest.as_str(), &mut sink)
            .await
            .map_err(|e| self.oci_error(e, &what))?;
        if sink.buf.len() as u64 != size {
            return Err(SourceError::new(
                ErrorKind::Malformed,
                format!(
                    "{what}: {}",
                    FormatError::SizeMismatch {
                        expected: size,
                        actual: sink.buf.len() as u64
                    }
                ),
            ));
        }
        Ok(sink.buf)
    }

    /// `DELETE /v2/<repo>/manifests/<digest>`, then a check that it is gone.
    pub async fn delete_manifest(&mut self, digest: &Digest) -> Result<bool, SourceError> {
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
        let body = res.bytes().await.unwrap_or_default();
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
            StatusCode::NOT_FOUND => Ok(true),
            s if s.is_success() => Ok(false),
            s => Err(SourceError::new(
                ErrorKind::Other,
                format!(
                    "{} accepted deleting {digest}, but checking that it is gone answered {s}",
                    self.host
                ),
            )),
        }
    }

    async fn send_delete(
        &self,
        url: &str,
        auth: &RegistryAuth,
    ) -> Result<reqwest::Response, SourceError> {
        self.with_auth(self.http.delete(url), auth)
            .send()
            .await
            .map_err(|e| self.transport(e))
    }

    fn with_auth(
        &self,
        req: reqwest::RequestBuilder,
        auth: &RegistryAuth,
    ) -> reqwest::RequestBuilder {
        match auth {
            RegistryAuth::Anonymous => req,
            RegistryAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
            RegistryAuth::Bearer(t) => req.bearer_auth(t),
        }
    }

    fn transport(&self, e: reqwest::Error) -> SourceError {
        transport_error(&self.host, self.scheme, &e)
    }

    fn oci_error(&self, e: OciDistributionError, what: &str) -> SourceError {
        use OciDistributionError as O;
        let host = &self.host;
        match e {
            O::RequestError(r) => self.transport(r),
            O::UnauthorizedError { .. } | O::AuthenticationFailure(_) => SourceError::new(
                ErrorKind::Auth,
                format!(
                    "{host} refused to serve {what} to {}: log in with `docker login`, or pass \
                     --registry-user with CACHETOP_REGISTRY_PASSWORD",
                    self.auth_origin
                ),
            ),
            O::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .filter_map(|e| serde_json::to_value(&e.code).ok())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let joined = codes.join(", ");
                if joined.contains("UNKNOWN") {
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
                }
            }
            O::ServerError { code, .. } => match code {
                404 => SourceError::new(ErrorKind::NotFound, format!("{host} has no {what} (404)")),
                401 | 403 => SourceError::new(
                    ErrorKind::Auth,
                    format!("{host} refused {what} ({code}) to {}", self.auth_origin),
                ),
                429 => SourceError::new(
                    ErrorKind::RateLimited,
                    format!("{host} is rate-limiting requests (429); try again later"),
                ),
                c => SourceError::new(
                    ErrorKind::Other,
                    format!("{host} failed to serve {what} (HTTP {c}); try again later"),
                ),
            },
            O::DigestError(d) => SourceError::new(
                ErrorKind::Malformed,
                format!("{what} from {host} does not match its digest: {d}"),
            ),
            O::IoError(io) => {
                SourceError::new(ErrorKind::Malformed, format!("{what} from {host}: {io}"))
            }
            other => SourceError::new(ErrorKind::Malformed, format!("{what} from {host}: {other}")),
        }
    }
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
pub fn transport_error(host: &str, scheme: &str, e: &reqwest::Error) -> SourceError {
    let mut cause = String::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if e.is_timeout() {
        return SourceError::new(
            ErrorKind::Unreachable,
            format!("{host} did not answer in time over {scheme}: {cause}"),
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
        ErrorKind::Unreachable,
        format!("talking to registry {host} over {scheme} failed: {cause}{hint}"),
    )
}

/// Collects a blob in memory, refusing to grow past a limit.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.buf.len() + data.len() > self.limit {
            return Poll::Ready(Err(std::io::Error::other(format!(
                "larger than {} bytes",
                self.limit
            ))));
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
