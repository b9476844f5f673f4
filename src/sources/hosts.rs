//! Many Docker hosts in one view: each host's sources (its daemon, its builders) are
//! wrapped so that what they list names the host, and a host that hangs gives up
//! after its timeout instead of holding up the others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Deletion, ErrorKind, Listing, SharedSource, Source, SourceError};
use crate::model::{Entry, SourceRef};
use crate::units::format_duration;

/// How long a host may take to list, by default (`--host-timeout`, `host_timeout`).
pub const DEFAULT_HOST_TIMEOUT: Duration = Duration::from_secs(30);

/// One source of a Docker host: its listing is bounded by the host's timeout and
/// every entry it lists carries the host.
pub struct OnHost {
    host: Arc<str>,
    timeout: Duration,
    inner: SharedSource,
    /// The name it goes by when another host has a source of the same name (a
    /// builder container named alike on two hosts); its entries carry it.
    renamed: Option<SourceRef>,
    /// How long the host already went without answering while its builders were
    /// looked for: the first listing waits only what is left of the timeout, so a
    /// host that hangs costs one timeout, not two.
    already_waited: Mutex<Option<Duration>>,
}

impl OnHost {
    pub fn wrap(host: &Arc<str>, timeout: Duration, inner: SharedSource) -> SharedSource {
        Self::wrap_after_waiting(host, timeout, inner, Duration::ZERO)
    }

    /// [`OnHost::wrap`] for a host that already went `waited` without answering (while
    /// its builders were looked for): its first listing gets only the rest of the
    /// timeout; later ones (the screen's refreshes) get all of it.
    pub fn wrap_after_waiting(
        host: &Arc<str>,
        timeout: Duration,
        inner: SharedSource,
        waited: Duration,
    ) -> SharedSource {
        Arc::new(Self {
            host: host.clone(),
            timeout,
            inner,
            renamed: None,
            already_waited: Mutex::new(Some(waited)),
        })
    }

    /// [`OnHost::wrap`], named `NAME (on HOST)` so it is told apart from a source of
    /// the same name on another host.
    pub fn wrap_renamed(host: &Arc<str>, timeout: Duration, inner: SharedSource) -> SharedSource {
        let own = inner.source_ref();
        let renamed = SourceRef::new(own.kind, qualified(&own.name, host));
        Arc::new(Self {
            host: host.clone(),
            timeout,
            inner,
            renamed: Some(renamed),
            already_waited: Mutex::new(None),
        })
    }
}

/// `NAME (on HOST)`.
fn qualified(name: &str, host: &str) -> String {
    format!("{name}{ON}{host})")
}

const ON: &str = " (on ";

/// The address a source name stands for: the name without the ` (on HOST)` that
/// tells alike names on different hosts apart.
pub fn unqualified(name: &str) -> &str {
    match name.rfind(ON) {
        Some(at) if name.ends_with(')') => &name[..at],
        _ => name,
    }
}

#[async_trait]
impl Source for OnHost {
    fn source_ref(&self) -> &SourceRef {
        self.renamed
            .as_ref()
            .unwrap_or_else(|| self.inner.source_ref())
    }

    fn host(&self) -> Option<&str> {
        Some(&self.host)
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let waited = self
            .already_waited
            .lock()
            .ok()
            .and_then(|mut w| w.take())
            .unwrap_or_default();
        let bound = self.timeout.saturating_sub(waited);
        if bound.is_zero() {
            // Nothing left of the timeout: not even a connection is started.
            return Err(timed_out(&self.host, self.timeout));
        }
        let mut listing = tokio::time::timeout(bound, self.inner.list())
            .await
            .map_err(|_| timed_out(&self.host, self.timeout))??;
        for e in &mut listing.entries {
            e.host = Some(self.host.clone());
            if let Some(r) = &self.renamed {
                e.source.clone_from(r);
            }
        }
        Ok(listing)
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        match &self.renamed {
            None => self.inner.delete(entry).await,
            Some(r) if entry.source != *r => Err(SourceError::new(
                ErrorKind::Refused,
                format!("{} was not listed by {r}", entry.id),
            )),
            Some(_) => {
                // The source knows its entries by its own name.
                let mut own = entry.clone();
                own.source.clone_from(self.inner.source_ref());
                self.inner.delete(&own).await
            }
        }
    }
}

/// A host that did not answer in time: no answer, naming the bound and how to
/// change it.
pub fn timed_out(host: &str, timeout: Duration) -> SourceError {
    SourceError::new(
        ErrorKind::NoAnswer,
        format!(
            "no answer from the Docker host {host} within {} (--host-timeout)",
            format_duration(timeout)
        ),
    )
}

/// The items whose key comes first, each key once, in the order given: one daemon
/// named twice (two equal `--host`s, two contexts of one address) is read once, since
/// it would otherwise be two sources of one name.
pub fn first_of_each<T, K: PartialEq>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut keys: Vec<K> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let k = key(&item);
        if !keys.contains(&k) {
            keys.push(k);
            out.push(item);
        }
    }
    out
}

/// The hosts of some items, each once, in the order they first come: what a view
/// groups by. Items of no host are not counted.
pub fn hosts_in<'a>(hosts: impl IntoIterator<Item = Option<&'a str>>) -> Vec<&'a str> {
    first_of_each(hosts.into_iter().flatten(), |h| *h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;

    struct Hangs(SourceRef);

    #[async_trait]
    impl Source for Hangs {
        fn source_ref(&self) -> &SourceRef {
            &self.0
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            std::future::pending().await
        }
        async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
            unreachable!()
        }
    }

    struct Lists(SourceRef);

    #[async_trait]
    impl Source for Lists {
        fn source_ref(&self) -> &SourceRef {
            &self.0
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            Ok(Listing {
                entries: vec![Entry::new(self.0.clone(), "a", "regular")],
                ..Default::default()
            })
        }
        async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn a_host_that_hangs_fails_after_its_timeout_naming_it() {
        let host: Arc<str> = "tcp://10.0.0.9:2375".into();
        let sref = SourceRef::new(SourceKind::Docker, &*host);
        let s = OnHost::wrap(&host, Duration::from_secs(1), Arc::new(Hangs(sref)));
        let e = s.list().await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoAnswer);
        assert_eq!(
            e.message,
            "no answer from the Docker host tcp://10.0.0.9:2375 within 1s (--host-timeout)"
        );
        assert_eq!(s.host(), Some("tcp://10.0.0.9:2375"));
    }

    #[tokio::test]
    async fn a_host_that_went_unanswered_while_builders_were_looked_for_gets_the_rest_of_its_timeout()
     {
        let host: Arc<str> = "ssh://runner-9".into();
        let sref = SourceRef::new(SourceKind::Docker, &*host);
        let hour = Duration::from_secs(3600);
        // All of an hour already waited: the first listing fails without waiting.
        let s = OnHost::wrap_after_waiting(&host, hour, Arc::new(Hangs(sref.clone())), hour);
        let e = tokio::time::timeout(Duration::from_secs(5), s.list())
            .await
            .expect("the first listing waited a timeout again")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoAnswer);
        assert_eq!(
            e.message,
            "no answer from the Docker host ssh://runner-9 within 1h (--host-timeout)"
        );
        // All but a second of it: the listing waits about that second.
        let s = OnHost::wrap_after_waiting(
            &host,
            hour,
            Arc::new(Hangs(sref.clone())),
            hour - Duration::from_secs(1),
        );
        let e = tokio::time::timeout(Duration::from_secs(30), s.list())
            .await
            .expect("the listing waited past what was left of its timeout")
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoAnswer);
        // A later listing (the screen's next refresh) asks the host again, with all
        // of its timeout.
        let s = OnHost::wrap_after_waiting(&host, hour, Arc::new(Lists(sref)), hour);
        assert!(s.list().await.is_err());
        assert_eq!(s.list().await.unwrap().entries.len(), 1);
    }

    #[tokio::test]
    async fn what_a_host_lists_names_the_host() {
        let host: Arc<str> = "unix:///b.sock".into();
        let sref = SourceRef::new(
            SourceKind::Buildkit,
            "docker-container://buildx_buildkit_b0",
        );
        let s = OnHost::wrap(&host, DEFAULT_HOST_TIMEOUT, Arc::new(Lists(sref.clone())));
        assert_eq!(s.source_ref(), &sref);
        let listing = s.list().await.unwrap();
        assert_eq!(listing.entries[0].host.as_deref(), Some("unix:///b.sock"));
    }

    #[tokio::test]
    async fn a_source_named_alike_on_another_host_is_told_apart_by_its_host() {
        let host: Arc<str> = "unix:///b.sock".into();
        let name = "docker-container://buildx_buildkit_ci0";
        let sref = SourceRef::new(SourceKind::Buildkit, name);
        let s = OnHost::wrap_renamed(&host, DEFAULT_HOST_TIMEOUT, Arc::new(Lists(sref)));
        let named = "docker-container://buildx_buildkit_ci0 (on unix:///b.sock)";
        assert_eq!(s.source_ref().name, named);
        let listing = s.list().await.unwrap();
        assert_eq!(listing.entries[0].source, *s.source_ref());
        assert_eq!(unqualified(named), name);
        assert_eq!(unqualified(name), name);
        // An entry of another source is refused before anything is sent.
        let other = Entry::new(SourceRef::new(SourceKind::Buildkit, name), "a", "regular");
        assert_eq!(s.delete(&other).await.unwrap_err().kind, ErrorKind::Refused);
    }

    #[test]
    fn hosts_are_kept_once_in_order() {
        let given = ["b", "a", "b"].map(String::from);
        assert_eq!(first_of_each(given, String::clone), ["b", "a"]);
        let by_len = first_of_each(["ab", "cd", "e"], |s| s.len());
        assert_eq!(by_len, ["ab", "e"]);
        assert_eq!(
            hosts_in([Some("x"), None, Some("y"), Some("x")]),
            ["x", "y"]
        );
        assert!(hosts_in([None, None]).is_empty());
    }
}
