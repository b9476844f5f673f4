//! A BuildKit as a source of kind `buildkit`, named after its address: its records are
//! entries, deleted one exact id at a time through `Prune`.

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::address::Address;
use super::client::{Client, Limits};
use super::entries;
use crate::model::{Entry, Origin, SourceKind, SourceRef};
use crate::sources::docker::engine::DEFAULT_HOST;
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError};

pub struct BuildkitSource {
    sref: SourceRef,
    address: Address,
    /// The buildx builder's name, when buildx's store or the container name gives it.
    builder: Option<String>,
    limits: Limits,
    /// The connection of the last listing, reused by the deletes that follow it (the
    /// plan is re-read just before deleting); a failed listing drops it.
    client: Mutex<Option<Client>>,
}

impl BuildkitSource {
    pub fn new(address: Address, builder: Option<String>) -> Self {
        Self::with_limits(address, builder, Limits::default())
    }

    pub fn with_limits(address: Address, builder: Option<String>, limits: Limits) -> Self {
        Self {
            sref: SourceRef::new(SourceKind::Buildkit, address.uri()),
            address,
            builder,
            limits,
            client: Mutex::new(None),
        }
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    async fn connect(&self) -> Result<Client, SourceError> {
        Client::connect_with(self.address.clone(), self.limits).await
    }
}

#[async_trait]
impl Source for BuildkitSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let mut slot = self.client.lock().await;
        *slot = None;
        let client = self.connect().await?;
        let (records, workers, version) =
            tokio::try_join!(client.disk_usage(), client.workers(), client.version())?;
        let builder = self.builder.as_deref();
        let policy = workers
            .iter()
            .map(|w| entries::policy_text(&w.gc_policies))
            .collect::<Vec<_>>()
            .join(" / ");
        let count = records.len();
        // A docker-container builder on a daemon other than Docker's default: what is
        // printed to do the same must reach that daemon too.
        let via = match &self.address {
            Address::DockerContainer { docker_host, .. } if docker_host != DEFAULT_HOST => {
                Some(docker_host.clone())
            }
            _ => None,
        };
        // A BuildKit in TLS: the same files.
        let files = match &self.address {
            Address::Tcp { tls, .. } => tls.clone(),
            _ => None,
        };
        let mut out = Vec::with_capacity(count);
        for r in records {
            let mut e = entries::entry_of(r, &self.sref, builder);
            if let Origin::Buildkit {
                docker_host, tls, ..
            } = &mut e.origin
            {
                docker_host.clone_from(&via);
                tls.clone_from(&files);
            }
            e.details.insert("gc_policy".to_string(), policy.clone());
            out.push(e);
        }
        let summary = entries::summary(builder, version.as_ref(), &workers);
        let details = entries::details(&self.address, builder, version.as_ref(), &workers, count);
        *slot = Some(client);
        Ok(Listing {
            entries: out,
            summary,
            details,
            location: None,
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        if entry.source != self.sref {
            return Err(SourceError::new(
                ErrorKind::Refused,
                format!("{} was not listed by {}", entry.id, self.address),
            ));
        }
        let client = {
            let mut slot = self.client.lock().await;
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let c = self.connect().await?;
                    *slot = Some(c.clone());
                    c
                }
            }
        };
        let deleted = client.prune_one(&entry.id).await;
        if deleted.is_err() {
            // A broken connection is not reused: the next call dials again.
            *self.client.lock().await = None;
        }
        let deleted = deleted?;
        Ok(Deletion {
            reclaimed_bytes: Some(crate::units::sum_bytes(deleted.iter().map(|r| r.size))),
            deleted_ids: deleted.into_iter().map(|r| r.id).collect(),
        })
    }
}

/// A builder discovery found but cannot read (an address cachetop does not speak, a
/// remote node behind a container): a failed source, so the report and the screen say
/// it was not read and why, instead of leaving it out in silence.
pub struct UnusableBuilder {
    sref: SourceRef,
    why: String,
}

impl UnusableBuilder {
    pub fn new(address: &str, why: &str) -> Self {
        Self {
            sref: SourceRef::new(SourceKind::Buildkit, address.to_string()),
            why: why.to_string(),
        }
    }

    fn error(&self) -> SourceError {
        SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "not read: {}; cachetop reads unix://, tcp:// and docker-container:// \
                 builders (fix the address, or --no-builders to stop looking)",
                self.why
            ),
        )
    }
}

#[async_trait]
impl Source for UnusableBuilder {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        Err(self.error())
    }

    async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
        Err(self.error())
    }
}
