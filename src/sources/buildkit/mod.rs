//! BuildKit's own gRPC Control API, for every BuildKit on a runner: the Docker
//! daemon's embedded one (`POST /grpc` upgraded to h2c), buildx `docker-container`
//! builders (a Docker exec of `buildctl dial-stdio`) and standalone buildkitd
//! (`unix://`, `tcp://`, TLS), plus the cache ids dockerd 20.10 leaves out of record
//! descriptions, read from BuildKit's metadata file.
//!
//! ```text
//! let client = Client::connect(Address::parse("docker-container://buildx_buildkit_ci0",
//!                                             docker_host, None)?).await?;
//! let records = client.disk_usage().await?;      // Vec<Record>
//! let workers = client.workers().await?;         // platforms, snapshotter, GC policy
//! let version = client.version().await?;         // None on BuildKits without Info
//! let deleted = client.prune_one(&id).await?;    // exactly `id==<id>`; check vs plan
//! let ids = read_cache_ids(&metadata_path(root_dir))?;   // record id -> CacheId
//! ```

mod address;
mod bolt;
mod cache_ids;
mod client;
mod demux;
pub mod discovery;
mod engine_http;
mod entries;
mod errors;
mod prune;
mod sniff;
mod source;
pub(crate) mod tls;
pub(crate) mod transport;
mod types;

pub use address::{Address, DEFAULT_BUILDKIT_HOST, TlsFiles};
pub use bolt::BoltError;
pub use cache_ids::{
    CacheId, MAX_METADATA_BYTES, METADATA_FILE, MetadataError, cache_ids_in, metadata_path,
    read_cache_ids,
};
pub use client::{Client, Limits};
pub use prune::{MAX_DELETED_RECORDS, exact_id_filter};
pub use source::{BuildkitSource, UnusableBuilder};
pub use types::{GcPolicy, Record, SNAPSHOTTER_LABEL, Version, Worker};

/// The command that prunes the same one record (see [`entries::equivalent_command`]).
pub(crate) fn equivalent_command(
    entry: &crate::model::Entry,
    builder: Option<&str>,
    docker_host: Option<&str>,
    tls: Option<&TlsFiles>,
) -> String {
    entries::equivalent_command(entry, builder, docker_host, tls)
}
