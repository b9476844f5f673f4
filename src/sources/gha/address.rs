//! Who to ask and as whom: the repository, the API root (github.com or a GitHub
//! Enterprise Server) and the token. Parsing only; nothing here talks to the network.

use std::fmt;

use reqwest::Url;

/// `https://api.github.com`, GitHub's own API root.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The variables a token is read from, in order.
pub const TOKEN_VARS: [&str; 2] = ["GITHUB_TOKEN", "GH_TOKEN"];

/// `OWNER/REPO`, checked against GitHub's naming rules so it can go into a URL path
/// as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GhaRepo {
    pub owner: String,
    pub name: String,
}

impl GhaRepo {
    pub fn parse(s: &str) -> Result<GhaRepo, String> {
        let bad = |why: &str| format!("{s:?} is not OWNER/REPO: {why}");
        let (owner, name) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| bad("expected one slash, e.g. octo-org/octo-repo"))?;
        if name.contains('/') {
            return Err(bad(
                "expected one slash (for GitHub Enterprise Server, give the host with \
                 --github-api-url https://HOST/api/v3)",
            ));
        }
        // GitHub: owners are letters, digits and inner hyphens (at most 39);
        // repositories are letters, digits, `-`, `_` and `.` (at most 100), never `.` or `..`.
        let owner_ok = !owner.is_empty()
            && owner.len() <= 39
            && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !owner.starts_with('-')
            && !owner.ends_with('-');
        if !owner_ok {
            return Err(bad(
                "the owner must be letters, digits and inner hyphens (at most 39)",
            ));
        }
        let name_ok = !name.is_empty()
            && name.len() <= 100
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(bad(
                "the repository name must be letters, digits, '-', '_' and '.' (at most 100)",
            ));
        }
        Ok(GhaRepo {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for GhaRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The REST API root, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiBase {
    /// Without a trailing slash, so paths are appended as they are.
    root: String,
}

impl Default for ApiBase {
    fn default() -> Self {
        Self {
            root: DEFAULT_API_URL.to_string(),
        }
    }
}

impl ApiBase {
    pub fn parse(s: &str) -> Result<ApiBase, String> {
        let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Never echo the URL back here: its user part may be a token.
            return Err(
                "the GitHub API URL must not hold credentials; put the token in GITHUB_TOKEN"
                    .to_string(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{s:?} has a query or fragment; give the API root, e.g. https://HOST/api/v3"
            ));
        }
        let host = url.host_str().ok_or_else(|| format!("{s:?} has no host"))?;
        match url.scheme() {
            "https" => {}
            // A token must never cross the network in clear text; loopback is only
            // this machine (a proxy or a test server).
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(format!(
                    "{s:?} is plain http: cachetop sends the token only over https \
                     (plain http only to this machine)"
                ));
            }
            other => return Err(format!("{s:?}: unsupported scheme {other}; use https")),
        }
        Ok(ApiBase {
            root: url.as_str().trim_end_matches('/').to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.root
    }

    /// The root with `path` (which starts with `/`) appended.
    pub fn url(&self, path: &str) -> Result<Url, String> {
        Url::parse(&format!("{}{path}", self.root)).map_err(|e| e.to_string())
    }

    /// The host as `gh -R HOST/OWNER/REPO` names it, or `None` for github.com.
    pub fn gh_host(&self) -> Option<String> {
        let url = Url::parse(&self.root).ok()?;
        let host = url.host_str()?;
        let mut name = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        // api.github.com and GHE.com's api.SUBDOMAIN.ghe.com serve the web host
        // without the `api.` part.
        if url.path() == "/"
            && let Some(web) = name.strip_prefix("api.")
        {
            name = web.to_string();
        }
        (name != "github.com").then_some(name)
    }
}

impl fmt::Display for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A GitHub token and the variable it came from. Its `Debug` never shows the value,
/// so settings and errors can be printed without leaking it.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubToken {
    value: String,
    /// `GITHUB_TOKEN` or `GH_TOKEN`.
    pub var: &'static str,
}

impl GithubToken {
    pub fn new(var: &'static str, value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            var,
        }
    }

    /// `GITHUB_TOKEN`, else `GH_TOKEN`; blank values count as unset.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<GithubToken> {
        TOKEN_VARS.iter().find_map(|var| {
            let v = get(var)?;
            let v = v.trim();
            (!v.is_empty()).then(|| GithubToken::new(var, v))
        })
    }

    /// The secret itself: only for the Authorization header and for redaction.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GithubToken(from {}, value hidden)", self.var)
    }
}

/// Shorter values are not real tokens, and would match ordinary words ("x" in "proxy").
const MIN_REDACTED_LEN: usize = 8;

/// Replaces the token wherever it appears in `text`: the last line of defence for
/// messages built from what a server sent.
pub fn redact(text: &str, token: Option<&GithubToken>) -> String {
    match token {
        Some(t) if t.value.len() >= MIN_REDACTED_LEN && text.contains(&t.value) => {
            text.replace(&t.value, "[token hidden]")
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_follow_githubs_naming_rules() {
        let r = GhaRepo::parse("octo-org/octo.repo_2").unwrap();
        assert_eq!(
            (r.owner.as_str(), r.name.as_str()),
            ("octo-org", "octo.repo_2")
        );
        assert_eq!(r.to_string(), "octo-org/octo.repo_2");
        for bad in [
            "octo",
            "octo/",
            "/repo",
            "a/b/c",
            "-octo/repo",
            "octo-/repo",
            "oc to/repo",
            "octo/re po",
            "octo/..",
            "octo/.",
            "octo/repo?x=1",
            "octo/%2e%2e",
            "ghe.example.com/octo/repo",
        ] {
            assert!(GhaRepo::parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(GhaRepo::parse(&format!("{}/r", "a".repeat(40))).is_err());
        assert!(
            GhaRepo::parse("ghe.example.com/octo/repo")
                .unwrap_err()
                .contains("--github-api-url")
        );
    }

    #[test]
    fn api_roots_are_https_or_loopback_and_never_hold_credentials() {
        assert_eq!(
            ApiBase::parse("https://ghe.example.com/api/v3/")
                .unwrap()
                .as_str(),
            "https://ghe.example.com/api/v3"
        );
        assert_eq!(
            ApiBase::parse("https://api.github.com").unwrap(),
            ApiBase::default()
        );
        assert!(ApiBase::parse("http://127.0.0.1:8080").is_ok());
        assert!(ApiBase::parse("http://localhost:8080/api/v3").is_ok());
        assert!(ApiBase::parse("http://[::1]:8080").is_ok());
        let e = ApiBase::parse("http://ghe.example.com/api/v3").unwrap_err();
        assert!(e.contains("only over https"), "{e}");
        let e = ApiBase::parse("https://x:ghp_secret@ghe.example.com").unwrap_err();
        assert!(!e.contains("ghp_secret"), "{e}");
        assert!(ApiBase::parse("ftp://ghe.example.com").is_err());
        assert!(ApiBase::parse("api.github.com").is_err());
        assert!(ApiBase::parse("https://ghe.example.com/api/v3?x=1").is_err());
    }

    #[test]
    fn gh_names_the_host_only_off_github_com() {
        let host = |s: &str| ApiBase::parse(s).unwrap().gh_host();
        assert_eq!(host("https://api.github.com"), None);
        assert_eq!(
            host("https://ghe.example.com/api/v3").as_deref(),
            Some("ghe.example.com")
        );
        assert_eq!(
            host("https://api.octocorp.ghe.com").as_deref(),
            Some("octocorp.ghe.com")
        );
        assert_eq!(
            host("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
    }

    #[test]
    fn the_token_comes_from_github_token_then_gh_token_and_never_shows() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let t = GithubToken::from_env(env(&[
            ("GITHUB_TOKEN", "ghp_aaaaaaaa"),
            ("GH_TOKEN", "ghp_bbbbbbbb"),
        ]))
        .unwrap();
        assert_eq!((t.var, t.expose()), ("GITHUB_TOKEN", "ghp_aaaaaaaa"));
        let t = GithubToken::from_env(env(&[
            ("GITHUB_TOKEN", "  \n"),
            ("GH_TOKEN", "ghp_bbbbbbbb\n"),
        ]))
        .unwrap();
        assert_eq!((t.var, t.expose()), ("GH_TOKEN", "ghp_bbbbbbbb"));
        assert!(GithubToken::from_env(env(&[])).is_none());
        assert!(!format!("{t:?}").contains("ghp_b"));
        assert_eq!(
            redact("said ghp_bbbbbbbb twice: ghp_bbbbbbbb", Some(&t)),
            "said [token hidden] twice: [token hidden]"
        );
        assert_eq!(redact("nothing", None), "nothing");
        let short = GithubToken::new("GITHUB_TOKEN", "x");
        assert_eq!(redact("a proxy", Some(&short)), "a proxy");
    }
}
