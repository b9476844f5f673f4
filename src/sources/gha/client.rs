//! The HTTP side of GitHub's REST API: one request at a time, with GitHub's headers,
//! bounded retries of server errors, bounded waits for rate limits, timeouts, and
//! every failure turned into a message that says what to do (never the token).

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use super::address::{ApiBase, GithubToken, TOKEN_VARS, redact};
use crate::sources::{ErrorKind, SourceError};
use crate::units::{format_duration, format_span, rfc3339};

/// The REST API version cachetop is written against.
pub const API_VERSION: &str = "2022-11-28";

/// How long and how often cachetop tries before it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// For one whole exchange, body included.
    pub request_timeout: Duration,
    /// Tries of one request that fails with a 5xx or a broken connection.
    pub attempts: u32,
    /// Pause before the first retry; doubled after each.
    pub backoff: Duration,
    /// The longest single wait for a rate limit; a longer one is reported instead.
    pub max_rate_wait: Duration,
    /// Rate-limit waits per request.
    pub rate_waits: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_rate_wait: Duration::from_secs(60),
            rate_waits: 2,
        }
    }
}

/// A page of 100 caches is about 30 KB; an answer far larger is not GitHub's. Every
/// answer (pages, usage, errors) is read up to this, chunked or not.
pub const MAX_BODY: usize = 16 << 20;

/// Why an exchange produced no answer.
#[derive(Debug)]
enum Exchange {
    Http(reqwest::Error),
    TooLarge,
}

impl From<reqwest::Error> for Exchange {
    fn from(e: reqwest::Error) -> Self {
        Exchange::Http(e)
    }
}

/// A whole answer: status, headers and the complete body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a failure message needs to name.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub api: String,
    pub repo: String,
    /// The variable the token was read from; `None` when there is no token.
    pub token_var: Option<&'static str>,
}

pub struct Client {
    http: reqwest::Client,
    api: ApiBase,
    token: Option<GithubToken>,
    ctx: Ctx,
    limits: Limits,
}

impl Client {
    pub fn new(
        api: ApiBase,
        repo: String,
        token: Option<GithubToken>,
        limits: Limits,
    ) -> Result<Client, SourceError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "X-GitHub-Api-Version",
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(t) = &token {
            let mut v = HeaderValue::from_str(&format!("Bearer {}", t.expose())).map_err(|_| {
                SourceError::new(
                    ErrorKind::Auth,
                    format!(
                        "the token in {} holds characters that cannot go into an HTTP header \
                         (a stray quote or line break?); set it to the bare token",
                        t.var
                    ),
                )
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        // reqwest takes the process default provider (built without its own).
        crate::sources::crypto::provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("cachetop/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            // reqwest drops the Authorization header when a redirect leaves the host.
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| {
                SourceError::new(
                    ErrorKind::Other,
                    format!("cannot set up the HTTPS client: {}", chain(&e)),
                )
            })?;
        let ctx = Ctx {
            api: api.to_string(),
            repo,
            token_var: token.as_ref().map(|t| t.var),
        };
        Ok(Client {
            http,
            api,
            token,
            ctx,
            limits,
        })
    }

    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, SourceError> {
        let mut url = self
            .api
            .url(path)
            .map_err(|e| self.error(ErrorKind::Other, format!("bad request address: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// GET whose 2xx body is JSON of type `T`; anything else is an error.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<(T, HeaderMap), SourceError> {
        let a = self.send(Method::GET, url.clone()).await?;
        if !a.status.is_success() {
            return Err(self.status_error(&Method::GET, &url, &a));
        }
        let value = serde_json::from_slice(&a.body)
            .map_err(|e| self.malformed(&Method::GET, &url, &a.body, &e.to_string()))?;
        Ok((value, a.headers))
    }

    /// DELETE; 2xx and 404 are answers for the caller, anything else is an error.
    pub async fn delete(&self, url: Url) -> Result<StatusCode, SourceError> {
        let a = self.send(Method::DELETE, url.clone()).await?;
        if a.status.is_success() || a.status == StatusCode::NOT_FOUND {
            return Ok(a.status);
        }
        Err(self.status_error(&Method::DELETE, &url, &a))
    }

    /// One request, retried on a 5xx or a broken exchange, waiting out a rate limit
    /// when GitHub says how long and it is short enough. Other answers are returned.
    async fn send(&self, method: Method, url: Url) -> Result<Answer, SourceError> {
        let mut attempt = 1;
        let mut waits = 0;
        loop {
            let result = self.exchange(method.clone(), url.clone()).await;
            let retry_in = self.limits.backoff * 2u32.saturating_pow(attempt - 1);
            match result {
                Ok(a) if a.status.is_server_error() => {
                    if attempt >= self.limits.attempts {
                        return Err(self.server_error(&method, &url, &a, attempt));
                    }
                }
                Ok(a) => match rate_limit(a.status, &a.headers, &a.body, Utc::now()) {
                    Some(rl)
                        if waits < self.limits.rate_waits
                            && rl.wait <= self.limits.max_rate_wait =>
                    {
                        waits += 1;
                        tokio::time::sleep(rl.wait).await;
                        continue;
                    }
                    Some(rl) => return Err(self.rate_limit_error(&a, &rl, waits)),
                    None => return Ok(a),
                },
                Err(Exchange::TooLarge) => {
                    return Err(self.error(
                        ErrorKind::Malformed,
                        format!(
                            "GitHub's answer to {} is larger than {} MiB, which no documented \
                             answer is; is --github-api-url the API root?",
                            request_line(&method, &url),
                            MAX_BODY >> 20
                        ),
                    ));
                }
                Err(Exchange::Http(e)) => {
                    if attempt >= self.limits.attempts {
                        return Err(self.transport_error(&method, &url, &e, attempt));
                    }
                }
            }
            tokio::time::sleep(retry_in).await;
            attempt += 1;
        }
    }

    async fn exchange(&self, method: Method, url: Url) -> Result<Answer, Exchange> {
        let mut resp = self.http.request(method, url).send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // Refused before reading a byte when it says it is too large.
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(Exchange::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Exchange::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body: Bytes::from(body),
        })
    }

    fn error(&self, kind: ErrorKind, message: impl AsRef<str>) -> SourceError {
        SourceError::new(kind, redact(message.as_ref(), self.token.as_ref()))
    }

    fn status_error(&self, method: &Method, url: &Url, a: &Answer) -> SourceError {
        let (kind, message) = status_message(
            &self.ctx,
            method,
            &request_line(method, url),
            a.status,
            &a.body,
        );
        self.error(kind, message)
    }

    fn server_error(&self, method: &Method, url: &Url, a: &Answer, attempts: u32) -> SourceError {
        self.error(
            ErrorKind::Other,
            format!(
                "GitHub ({}) answered {} with HTTP {}{} {attempts} times in a row; GitHub may be \
                 having trouble: try again later",
                self.ctx.api,
                request_line(method, url),
                a.status,
                said(&a.body).map(|m| format!(" ({m})")).unwrap_or_default(),
            ),
        )
    }

    fn rate_limit_error(&self, a: &Answer, rl: &RateLimit, waits: u32) -> SourceError {
        let whose = match self.ctx.token_var {
            Some(var) => format!("the token read from {var}"),
            None => "unauthenticated requests from this address (set GITHUB_TOKEN for a \
                     higher limit)"
                .to_string(),
        };
        let what = if rl.secondary {
            format!(
                "GitHub asks cachetop to slow down (a secondary rate limit for {whose}, HTTP {})",
                a.status.as_u16()
            )
        } else {
            format!(
                "GitHub's API rate limit for {whose} is used up (HTTP {})",
                a.status.as_u16()
            )
        };
        let said = said(&a.body).map(|m| format!(": {m}")).unwrap_or_default();
        let when = match rl.until {
            Some(t) => format!(
                "it lifts at {} (in {})",
                rfc3339(t),
                format_span(rl.wait.as_secs() as i64)
            ),
            None => format!("it asks for {}", format_span(rl.wait.as_secs() as i64)),
        };
        let why_not = if waits > 0 {
            format!("cachetop already waited {waits} times")
        } else {
            format!(
                "longer than cachetop waits ({})",
                format_duration(self.limits.max_rate_wait)
            )
        };
        self.error(
            ErrorKind::RateLimited,
            format!("{what}{said}; {when}, {why_not}: try again then"),
        )
    }

    fn transport_error(
        &self,
        method: &Method,
        url: &Url,
        e: &reqwest::Error,
        attempts: u32,
    ) -> SourceError {
        let api = &self.ctx.api;
        let req = request_line(method, url);
        let cause = chain(e);
        // Only a failed connect proves the request never went out.
        let (kind, message) = if e.is_timeout() {
            (
                ErrorKind::NoAnswer,
                format!(
                    "GitHub ({api}) did not answer {req} within {} ({attempts} tries); check \
                     the network or a proxy, and try again",
                    format_duration(self.limits.request_timeout)
                ),
            )
        } else if e.is_connect() {
            (
                ErrorKind::Unreachable,
                format!(
                    "cannot connect to GitHub at {api}: {cause}; check the network, a proxy \
                     (HTTPS_PROXY), or --github-api-url"
                ),
            )
        } else if e.is_body() || e.is_decode() {
            (
                ErrorKind::Malformed,
                format!(
                    "GitHub's answer to {req} was cut short ({attempts} tries): {cause}; try \
                     again later"
                ),
            )
        } else {
            (
                ErrorKind::NoAnswer,
                format!("cannot talk to GitHub at {api} ({req}): {cause}"),
            )
        };
        self.error(kind, message)
    }

    fn malformed(&self, method: &Method, url: &Url, body: &[u8], why: &str) -> SourceError {
        let hint = if looks_like_html(body) {
            "; it sent a web page, so --github-api-url (or GITHUB_API_URL) may name the web \
             site rather than the API root (https://HOST/api/v3 for GitHub Enterprise Server)"
        } else {
            ""
        };
        self.error(
            ErrorKind::Malformed,
            format!(
                "GitHub ({}) sent an answer to {} that cachetop cannot read: {why}{hint}",
                self.ctx.api,
                request_line(method, url)
            ),
        )
    }
}

/// `GET /repos/o/r/actions/caches?page=2`: what a message shows of a request.
pub fn request_line(method: &Method, url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{method} {}?{q}", url.path()),
        None => format!("{method} {}", url.path()),
    }
}

/// GitHub's `message` from an error body, or a short plain-text body as it is.
pub fn said(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    if let Ok(m) = serde_json::from_slice::<Msg>(body) {
        // Messages end in a full stop or not; cachetop's own punctuation follows.
        return Some(clip(m.message.trim().trim_end_matches('.')));
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || looks_like_html(body) {
        return None;
    }
    Some(clip(text))
}

fn clip(s: &str) -> String {
    const MAX: usize = 200;
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= MAX {
        flat
    } else {
        let mut out: String = flat.chars().take(MAX - 1).collect();
        out.push('…');
        out
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with('<')
}

/// The message for a final non-2xx answer that is not a rate limit or a 5xx.
pub fn status_message(
    ctx: &Ctx,
    method: &Method,
    request: &str,
    status: StatusCode,
    body: &[u8],
) -> (ErrorKind, String) {
    let api = &ctx.api;
    let repo = &ctx.repo;
    let said = said(body).map(|m| format!(": {m}")).unwrap_or_default();
    let code = status.as_u16();
    let writing = *method != Method::GET;
    let (verb, permission) = if writing {
        ("delete", "Actions: write")
    } else {
        ("list", "Actions: read")
    };
    match (code, ctx.token_var) {
        (401, Some(var)) => (
            ErrorKind::Auth,
            format!(
                "GitHub ({api}) rejected the token read from {var} (HTTP 401{said}): it is wrong, \
                 expired or revoked; set {var} to a valid token"
            ),
        ),
        (401, None) => (
            ErrorKind::Auth,
            format!(
                "GitHub ({api}) needs a token to {verb} the Actions caches of {repo} (HTTP \
                 401{said}): neither {} nor {} is set; export one with {permission}",
                TOKEN_VARS[0], TOKEN_VARS[1]
            ),
        ),
        (403, var) => {
            let whose = match var {
                Some(v) => format!("the token read from {v}"),
                None => "a request without a token".to_string(),
            };
            (
                ErrorKind::PermissionDenied,
                format!(
                    "{whose} may not {verb} the Actions caches of {repo} (HTTP 403{said}): it \
                     needs {permission} (fine-grained tokens; `permissions: actions: {}` for a \
                     workflow's GITHUB_TOKEN) or the repo scope (classic tokens)",
                    if writing { "write" } else { "read" }
                ),
            )
        }
        (404, var) => {
            let access = match var {
                Some(v) => format!("the token read from {v} cannot see it"),
                None => format!(
                    "it is private and no token is set ({} or {})",
                    TOKEN_VARS[0], TOKEN_VARS[1]
                ),
            };
            (
                ErrorKind::NotFound,
                format!(
                    "GitHub ({api}) has no repository {repo}, or {access} (HTTP 404 for \
                     {request}); check the spelling of --gha {repo}, and for GitHub Enterprise \
                     Server set --github-api-url https://HOST/api/v3"
                ),
            )
        }
        _ => (
            if status.is_client_error() {
                ErrorKind::Refused
            } else {
                ErrorKind::Other
            },
            format!("GitHub ({api}) answered {request} with HTTP {status}{said}"),
        ),
    }
}

/// No rate limit lasts a year; anything longer is garbage and is shown as a year.
const MAX_SANE_WAIT_SECS: u64 = 365 * 86_400;

/// A rate limit GitHub signalled, and how long it asks to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub wait: Duration,
    pub until: Option<DateTime<Utc>>,
    /// A secondary (abuse) limit rather than the hourly quota.
    pub secondary: bool,
}

/// GitHub's documented rule: honour `retry-after`; else, with
/// `x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset`; else wait a minute.
/// `None` for a 403 that is about permissions.
pub fn rate_limit(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<RateLimit> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    let says_so = said(body).is_some_and(|m| m.to_ascii_lowercase().contains("rate limit"));
    if let Some(after) = header("retry-after") {
        // Capped, so a garbage value cannot overflow the clock arithmetic.
        let secs = after.parse::<u64>().unwrap_or(60).min(MAX_SANE_WAIT_SECS);
        return Some(RateLimit {
            wait: Duration::from_secs(secs),
            until: now.checked_add_signed(chrono::Duration::seconds(secs as i64)),
            secondary: !exhausted,
        });
    }
    if exhausted
        && let Some(until) = header("x-ratelimit-reset")
            .and_then(|r| r.parse::<i64>().ok())
            .and_then(|r| DateTime::<Utc>::from_timestamp(r, 0))
    {
        // One second past the reset, so the retry does not land just before it.
        let secs = ((until - now).num_seconds().max(0) as u64 + 1).min(MAX_SANE_WAIT_SECS);
        return Some(RateLimit {
            wait: Duration::from_secs(secs),
            until: Some(until),
            secondary: false,
        });
    }
    if status == StatusCode::TOO_MANY_REQUESTS || exhausted || says_so {
        return Some(RateLimit {
            wait: Duration::from_secs(60),
            until: None,
            secondary: !exhausted,
        });
    }
    None
}

/// An error and its causes, without the URL (which `request_line` already shows).
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let top = e.to_string();
    // reqwest's own line names the URL; keep only its text before " for url".
    let top = top.split(" for url (").next().unwrap_or(&top).to_string();
    parts.push(top);
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ctx(token_var: Option<&'static str>) -> Ctx {
        Ctx {
            api: "https://api.github.com".into(),
            repo: "octo/app".into(),
            token_var,
        }
    }

    #[test]
    fn retry_after_wins_then_the_reset_time_then_a_minute() {
        let rl = rate_limit(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "30")]),
            br#"{"message":"You have exceeded a secondary rate limit."}"#,
            now(),
        )
        .unwrap();
        assert_eq!(rl.wait, Duration::from_secs(30));
        assert!(rl.secondary);

        let reset = now().timestamp() + 600;
        let rl = rate_limit(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset.to_string()),
            ]),
            br#"{"message":"API rate limit exceeded for user ID 1."}"#,
            now(),
        )
        .unwrap();
        assert_eq!(rl.wait, Duration::from_secs(601));
        assert_eq!(rl.until.unwrap().timestamp(), reset);
        assert!(!rl.secondary);

        // A reset already past still waits a moment, never a negative time.
        let rl = rate_limit(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1")]),
            b"",
            now(),
        )
        .unwrap();
        assert_eq!(rl.wait, Duration::from_secs(1));

        let rl = rate_limit(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), b"", now()).unwrap();
        assert_eq!(rl.wait, Duration::from_secs(60));

        // Garbage numbers never overflow the clock.
        let h = headers(&[("retry-after", "18446744073709551615")]);
        let rl = rate_limit(StatusCode::FORBIDDEN, &h, b"", now()).unwrap();
        assert_eq!(rl.wait, Duration::from_secs(MAX_SANE_WAIT_SECS));
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "9223372036854775807"),
        ]);
        let rl = rate_limit(StatusCode::FORBIDDEN, &h, b"", now()).unwrap();
        assert_eq!((rl.wait, rl.until), (Duration::from_secs(60), None));
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "8000000000000"),
        ]);
        let rl = rate_limit(StatusCode::FORBIDDEN, &h, b"", now()).unwrap();
        assert_eq!(rl.wait, Duration::from_secs(MAX_SANE_WAIT_SECS));
    }

    #[test]
    fn a_permission_403_is_not_a_rate_limit() {
        assert_eq!(
            rate_limit(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "4999")]),
                br#"{"message":"Resource not accessible by integration"}"#,
                now()
            ),
            None
        );
        assert_eq!(
            rate_limit(
                StatusCode::NOT_FOUND,
                &headers(&[("retry-after", "5")]),
                b"",
                now()
            ),
            None
        );
    }

    #[test]
    fn auth_failures_name_the_variable_never_the_value() {
        let (kind, m) = status_message(
            &ctx(Some("GH_TOKEN")),
            &Method::GET,
            "GET /repos/octo/app/actions/caches",
            StatusCode::UNAUTHORIZED,
            br#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#,
        );
        assert_eq!(kind, ErrorKind::Auth);
        assert!(m.contains("the token read from GH_TOKEN"), "{m}");
        assert!(m.contains("Bad credentials"), "{m}");
        let (_, m) = status_message(
            &ctx(None),
            &Method::GET,
            "GET /x",
            StatusCode::UNAUTHORIZED,
            br#"{"message":"Requires authentication"}"#,
        );
        assert!(
            m.contains("neither GITHUB_TOKEN nor GH_TOKEN is set"),
            "{m}"
        );
    }

    #[test]
    fn forbidden_says_which_permission_is_missing() {
        let (kind, m) = status_message(
            &ctx(Some("GITHUB_TOKEN")),
            &Method::DELETE,
            "DELETE /repos/octo/app/actions/caches/5",
            StatusCode::FORBIDDEN,
            br#"{"message":"Resource not accessible by integration"}"#,
        );
        assert_eq!(kind, ErrorKind::PermissionDenied);
        assert!(m.contains("may not delete"), "{m}");
        assert!(m.contains("Actions: write"), "{m}");
        assert!(m.contains("actions: write"), "{m}");
    }

    #[test]
    fn not_found_points_at_the_repo_name_and_ghes() {
        let (kind, m) = status_message(
            &ctx(Some("GITHUB_TOKEN")),
            &Method::GET,
            "GET /repos/octo/app/actions/caches",
            StatusCode::NOT_FOUND,
            br#"{"message":"Not Found"}"#,
        );
        assert_eq!(kind, ErrorKind::NotFound);
        assert!(m.contains("no repository octo/app"), "{m}");
        assert!(m.contains("--github-api-url"), "{m}");
    }

    #[test]
    fn bodies_are_quoted_briefly_and_web_pages_not_at_all() {
        assert_eq!(
            said(br#"{"message":"Bad credentials"}"#).as_deref(),
            Some("Bad credentials")
        );
        assert_eq!(said(b"<html><body>502</body></html>"), None);
        assert_eq!(said(b"upstream\nreset").as_deref(), Some("upstream reset"));
        assert_eq!(said(&[b'x'; 500]).unwrap().chars().count(), 200);
        assert_eq!(said(b""), None);
    }

    /// A server that accepts connections and never answers must not hang cachetop.
    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _keep = std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s); // accept, read nothing, say nothing
            }
        });
        let limits = Limits {
            request_timeout: Duration::from_millis(300),
            attempts: 2,
            backoff: Duration::from_millis(10),
            ..Limits::default()
        };
        let api = ApiBase::parse(&format!("http://{addr}")).unwrap();
        let token = GithubToken::new("GITHUB_TOKEN", "ghp_never_shown");
        let client = Client::new(api, "octo/app".into(), Some(token), limits).unwrap();
        let url = client
            .url("/repos/octo/app/actions/cache/usage", &[])
            .unwrap();
        let err = client.get_json::<serde_json::Value>(url).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::NoAnswer);
        assert!(err.message.contains("did not answer"), "{}", err.message);
        assert!(err.message.contains("2 tries"), "{}", err.message);
        assert!(!err.message.contains("ghp_never_shown"));
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
        let token = GithubToken::new("GITHUB_TOKEN", "ghp_bad\u{7f}token");
        let err = match Client::new(
            ApiBase::default(),
            "octo/app".into(),
            Some(token),
            Limits::default(),
        ) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(err.kind, ErrorKind::Auth);
        assert!(err.message.contains("GITHUB_TOKEN"));
        assert!(!err.message.contains("ghp_bad"));
    }
}
