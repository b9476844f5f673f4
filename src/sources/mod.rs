//! Sources turn something outside (a daemon, a directory, an API) into entries, and
//! delete the entries they listed, one exact id at a time.

pub mod buildkit;
pub mod configure;
pub(crate) mod crypto;
pub mod dir;
pub mod docker;
pub(crate) mod gha;
pub mod hosts;
pub mod local_export;
pub(crate) mod oci;
pub(crate) mod registry;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{Entry, Origin, SourceRef};

pub use configure::{SetupError, SourceSettings, build_sources};

/// What went wrong, in a form the caller can act on (exit codes, retries, hints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing answers at the address.
    Unreachable,
    /// A request went out and its answer never came (reset, timeout, cut short), so
    /// what it asked for may or may not have happened.
    NoAnswer,
    PermissionDenied,
    /// The other side is too old, or speaks a protocol we do not.
    Unsupported,
    /// An answer we could not read.
    Malformed,
    /// Bad or missing credentials.
    Auth,
    NotFound,
    RateLimited,
    /// The other side understood and said no.
    Refused,
    Other,
}

/// A source failure. The message names what failed and what to do next; it never
/// holds a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SourceError {
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }
}

/// Everything a source listed, plus what it says about itself.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// One line for people, e.g. "Docker 20.10.24 (API 1.41), overlay2".
    pub summary: String,
    /// Facts for `sources[].details` in the JSON report.
    pub details: serde_json::Value,
    /// Where the source keeps its data on this machine (Docker's root dir when the
    /// daemon runs here, a `--dir`); `None` for what is elsewhere.
    pub location: Option<std::path::PathBuf>,
}

/// What a source says it deleted for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deletion {
    pub deleted_ids: Vec<String>,
    /// Bytes the source says it freed, when it says.
    pub reclaimed_bytes: Option<u64>,
}

#[async_trait]
pub trait Source: Send + Sync {
    fn source_ref(&self) -> &SourceRef;

    /// The Docker host this source belongs to (its daemon, or a builder reached
    /// through it), when it belongs to one.
    fn host(&self) -> Option<&str> {
        None
    }

    /// Reads every entry. Called again just before deleting, to re-check the plan.
    async fn list(&self) -> Result<Listing, SourceError>;

    /// Deletes exactly this entry, by its id.
    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError>;
}

pub type SharedSource = Arc<dyn Source>;

/// Finds the source that listed an entry.
pub fn find<'a>(sources: &'a [SharedSource], sref: &SourceRef) -> Option<&'a SharedSource> {
    sources.iter().find(|s| s.source_ref() == sref)
}

/// The shell command that would delete the same entry with the ecosystem's own tool,
/// as the entry's kind of source words it.
pub fn equivalent_command(entry: &Entry) -> Option<String> {
    match &entry.origin {
        Origin::Docker { .. } | Origin::StateVolume { .. } => {
            Some(docker::equivalent_command(entry))
        }
        Origin::Buildkit {
            builder,
            docker_host,
            tls,
            ..
        } => Some(buildkit::equivalent_command(
            entry,
            builder.as_deref(),
            docker_host.as_deref(),
            tls.as_ref(),
        )),
        Origin::Gha { host, .. } => Some(gha::equivalent_command(entry, host.as_deref())),
        Origin::Registry {
            object, plain_http, ..
        } => registry::equivalent_command(entry, object, *plain_http),
        Origin::Dir { .. } => dir::equivalent_command(entry),
        Origin::LocalExport { .. } => local_export::equivalent_command(entry),
    }
}

/// The shell commands that would delete the same entry, in order: one for most
/// entries; a builder state volume also names its stopped builder container.
pub fn equivalent_commands(entry: &Entry) -> Vec<String> {
    match &entry.origin {
        Origin::StateVolume { .. } => docker::equivalent_commands(entry),
        _ => equivalent_command(entry).into_iter().collect(),
    }
}

/// Why the entry's kind of source never deletes it, whatever a plan selects (its
/// rules beyond what holds for every source: nothing in use, nothing its path
/// refuses).
pub fn never_delete(entry: &Entry) -> Option<String> {
    match &entry.origin {
        Origin::Docker { .. } | Origin::StateVolume { .. } | Origin::Buildkit { .. } => {
            docker::never_delete(entry)
        }
        Origin::Registry { object, .. } => registry::never_delete(object),
        Origin::LocalExport { .. } => local_export::never_delete(entry),
        Origin::Gha { .. } | Origin::Dir { .. } => None,
    }
}

/// Quotes a word for a POSIX shell, only when it needs it.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_only_what_needs_quoting() {
        assert_eq!(
            shell_quote("unix:///var/run/docker.sock"),
            "unix:///var/run/docker.sock"
        );
        assert_eq!(shell_quote("id=^abc$"), "'id=^abc$'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
