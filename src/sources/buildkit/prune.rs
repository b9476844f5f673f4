//! The one prune cachetop sends to a BuildKit: exactly one record, by the exact-match
//! filter `id==<ID>` (containerd filter syntax; `id=` would be turned into the regular
//! expression `id~=` by buildx and the Engine API), never `all`, never a space target.

use bollard_buildkit_proto::moby::buildkit::v1::PruneRequest;

use super::address::Address;
use super::types::Record;
use crate::sources::{ErrorKind, SourceError};

/// One exact id deletes one record; anything near this many is not what was asked.
pub const MAX_DELETED_RECORDS: usize = 1000;
/// BuildKit's ids are 25 base-36 characters; nothing legitimate is longer than this.
const MAX_ID_LEN: usize = 128;

/// The filter for exactly `id`, or an error when `id` could be read as anything else.
pub fn exact_id_filter(id: &str) -> Result<String, SourceError> {
    // Plain ASCII letters and digits: nothing a containerd filter could read as an
    // operator, a separator, a quote or a pattern.
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SourceError::new(
            ErrorKind::Refused,
            format!(
                "refusing to prune {id:?}: cachetop prunes BuildKit records only by a plain id \
                 of letters and digits, as BuildKit makes them"
            ),
        ));
    }
    Ok(format!("id=={id}"))
}

pub(crate) fn request(id: &str) -> Result<PruneRequest, SourceError> {
    Ok(PruneRequest {
        filter: vec![exact_id_filter(id)?],
        all: false,
        keep_duration: 0,
        reserved_space: 0,
        max_used_space: 0,
        min_free_space: 0,
    })
}

pub(crate) fn too_many(address: &Address, id: &str) -> SourceError {
    SourceError::new(
        ErrorKind::Malformed,
        format!(
            "{address} streamed more than {MAX_DELETED_RECORDS} deleted records for the prune of \
             the one record {id}; cachetop stopped reading: list the builder again to see what \
             is left"
        ),
    )
}

/// A prune whose stream broke: it may have deleted more than it reported.
pub(crate) fn cut_short(err: SourceError, id: &str, deleted: &[Record]) -> SourceError {
    let so_far = if deleted.is_empty() {
        "nothing yet".to_string()
    } else {
        deleted
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = match err.kind {
        ErrorKind::Refused | ErrorKind::PermissionDenied | ErrorKind::Auth => err.kind,
        _ => ErrorKind::NoAnswer,
    };
    SourceError::new(
        kind,
        format!(
            "the prune of {id} was cut short (deleted so far: {so_far}): {}; list the builder \
             again to see what is left",
            err.message
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_matches_one_id_exactly() {
        assert_eq!(
            exact_id_filter("ufkdtw3x1lkys9bz6ju8tq0b7").unwrap(),
            "id==ufkdtw3x1lkys9bz6ju8tq0b7"
        );
        let r = request("abc123").unwrap();
        assert_eq!(r.filter, ["id==abc123"]);
        assert!(!r.all);
        assert_eq!(
            (
                r.keep_duration,
                r.reserved_space,
                r.max_used_space,
                r.min_free_space
            ),
            (0, 0, 0, 0)
        );
    }

    #[test]
    fn anything_a_filter_could_read_otherwise_is_refused() {
        for id in [
            "",
            "abc,type==regular",
            "abc|def",
            ".*",
            "abc def",
            "\"abc\"",
            "id~=x",
            "abç",
            &"a".repeat(MAX_ID_LEN + 1),
        ] {
            let e = exact_id_filter(id).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Refused, "{id}");
            assert!(e.message.starts_with("refusing to prune"), "{}", e.message);
        }
    }

    #[test]
    fn a_broken_prune_says_what_was_deleted_so_far() {
        let r = Record {
            id: "abc".into(),
            record_type: "regular".into(),
            description: String::new(),
            size: 0,
            mutable: false,
            in_use: false,
            shared: false,
            parents: vec![],
            created_at: None,
            last_used_at: None,
            usage_count: 0,
        };
        let e = cut_short(
            SourceError::new(ErrorKind::Unreachable, "gone"),
            "abc",
            &[r],
        );
        assert_eq!(e.kind, ErrorKind::NoAnswer);
        assert!(e.message.contains("deleted so far: abc"), "{}", e.message);
        let e = cut_short(SourceError::new(ErrorKind::NoAnswer, "gone"), "abc", &[]);
        assert!(e.message.contains("nothing yet"), "{}", e.message);
    }
}
