//! Media types cachetop recognises.

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// BuildKit's cache config blob (cache/remotecache/v1/types/spec.go).
pub const CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";

/// What a registry is asked to answer with for a manifest.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

pub const ANNOTATION_CREATED_AT: &str = "buildkit/createdat";
pub const ANNOTATION_DESCRIPTION: &str = "buildkit/description";
pub const ANNOTATION_UNCOMPRESSED: &str = "containerd.io/uncompressed";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// BuildKit marks attestation manifests inside an image index with this.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// The type without parameters such as `; charset=utf-8`.
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

pub fn is_index(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_INDEX | DOCKER_LIST)
}

pub fn is_image_manifest(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_MANIFEST | DOCKER_MANIFEST)
}

pub fn is_manifest(media_type: &str) -> bool {
    is_index(media_type) || is_image_manifest(media_type)
}

pub fn is_image_config(media_type: &str) -> bool {
    matches!(essence(media_type), OCI_CONFIG | DOCKER_CONFIG)
}

/// Layer blobs: content that never references other blobs.
pub fn is_layer(media_type: &str) -> bool {
    let m = essence(media_type);
    m.starts_with("application/vnd.oci.image.layer.")
        || m.starts_with("application/vnd.docker.image.rootfs.")
        || m == "application/vnd.in-toto+json"
}

/// A short name for people: `layer tar+gzip`, `OCI index`, `cache config`.
pub fn short_name(media_type: &str) -> String {
    let m = essence(media_type);
    match m {
        OCI_INDEX => "OCI index".into(),
        DOCKER_LIST => "Docker manifest list".into(),
        OCI_MANIFEST => "OCI image manifest".into(),
        DOCKER_MANIFEST => "Docker image manifest".into(),
        OCI_CONFIG | DOCKER_CONFIG => "image config".into(),
        CACHE_CONFIG => "BuildKit cache config".into(),
        "application/vnd.in-toto+json" => "attestation".into(),
        _ => {
            if let Some(rest) = m.strip_prefix("application/vnd.oci.image.layer.v1.") {
                format!("layer {rest}")
            } else if let Some(rest) = m.strip_prefix("application/vnd.docker.image.rootfs.diff.") {
                format!("layer {rest}")
            } else if m.is_empty() {
                "blob".into()
            } else {
                m.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_ignore_parameters() {
        assert!(is_index(
            "application/vnd.oci.image.index.v1+json; charset=utf-8"
        ));
        assert!(is_image_manifest(DOCKER_MANIFEST));
        assert!(!is_manifest(CACHE_CONFIG));
        assert!(is_layer("application/vnd.oci.image.layer.v1.tar+zstd"));
        assert!(is_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(!is_layer(OCI_MANIFEST));
    }

    #[test]
    fn short_names_for_people() {
        assert_eq!(
            short_name("application/vnd.oci.image.layer.v1.tar+gzip"),
            "layer tar+gzip"
        );
        assert_eq!(
            short_name("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            "layer tar.gzip"
        );
        assert_eq!(short_name(CACHE_CONFIG), "BuildKit cache config");
    }
}
