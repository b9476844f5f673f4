//! OCI and BuildKit cache formats, shared by the registry and the `type=local` export
//! sources. Parsing only: every function here takes bytes and returns values or a
//! [`FormatError`] that says what is wrong in words a user can act on.

pub mod cacheconfig;
pub mod digest;
pub mod manifest;
pub mod media;

pub use cacheconfig::{CacheConfig, ImageConfig, parse_cache_config, parse_image_config};
pub use digest::Digest;
pub use manifest::{Descriptor, Manifest, parse_manifest};

/// Something in a manifest, config or index that cachetop cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("schemaVersion is {0}, not 2 (Docker schema 1 manifests are not supported)")]
    SchemaVersion(i64),
    #[error("media type {found:?} is not {expected}")]
    WrongMediaType { found: String, expected: String },
    #[error("{0}")]
    Invalid(String),
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size is {actual} bytes, but its descriptor says {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
}
