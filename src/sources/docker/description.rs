//! Reads the mount target, cache id and command out of a cache mount's description:
//! `cached mount <target> from exec <argv>[ with id "<id>"]`.

use crate::model::Mount;

const PREFIX: &str = "cached mount ";
const FROM_EXEC: &str = " from exec ";
const WITH_ID: &str = " with id ";

pub fn parse_cache_mount(description: &str) -> Option<Mount> {
    let rest = description.strip_prefix(PREFIX)?;
    // A target with " from exec " in it is not worth guessing at: the first one splits.
    let (target, tail) = rest.split_once(FROM_EXEC)?;
    if target.is_empty() {
        return None;
    }
    let (command, cache_id) = split_cache_id(tail);
    Some(Mount {
        target: target.to_string(),
        cache_id,
        command: command.to_string(),
    })
}

/// BuildKit appends ` with id "<id>"` (Go %q) only when the id differs from the target.
fn split_cache_id(tail: &str) -> (&str, Option<String>) {
    if let Some(pos) = tail.rfind(WITH_ID) {
        let quoted = &tail[pos + WITH_ID.len()..];
        if let Some(id) = unquote_go(quoted) {
            return (&tail[..pos], Some(id));
        }
    }
    (tail, None)
}

/// Undoes Go's %q for the escapes an id can hold; anything else means "not an id suffix".
fn unquote_go(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                't' => out.push('\t'),
                'n' => out.push('\n'),
                _ => return None,
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mount_from_dockerd_20_10() {
        // Recorded from the isolated dockerd 20.10 (no id suffix there).
        let m = parse_cache_mount(
            "cached mount /cache/cargo from exec /bin/sh -c sh -c 'dd if=/dev/urandom of=/cache/cargo/f bs=1M count=3 && echo hi'",
        )
        .unwrap();
        assert_eq!(m.target, "/cache/cargo");
        assert_eq!(m.cache_id, None);
        assert_eq!(
            m.command,
            "/bin/sh -c sh -c 'dd if=/dev/urandom of=/cache/cargo/f bs=1M count=3 && echo hi'"
        );
    }

    #[test]
    fn mount_with_an_id_suffix() {
        let m = parse_cache_mount(
            r#"cached mount /usr/local/cargo/registry from exec /bin/sh -c cargo fetch with id "cargo-registry""#,
        )
        .unwrap();
        assert_eq!(m.target, "/usr/local/cargo/registry");
        assert_eq!(m.cache_id.as_deref(), Some("cargo-registry"));
        assert_eq!(m.command, "/bin/sh -c cargo fetch");
    }

    #[test]
    fn id_with_escaped_quote() {
        let m = parse_cache_mount(r#"cached mount /a from exec make with id "x\"y""#).unwrap();
        assert_eq!(m.cache_id.as_deref(), Some("x\"y"));
        assert_eq!(m.command, "make");
    }

    #[test]
    fn command_that_mentions_with_id_but_is_not_a_suffix() {
        let m = parse_cache_mount(r#"cached mount /a from exec echo with id "x" done"#).unwrap();
        assert_eq!(m.cache_id, None);
        assert_eq!(m.command, r#"echo with id "x" done"#);
    }

    #[test]
    fn other_descriptions_are_not_mounts() {
        assert!(parse_cache_mount("local source for context").is_none());
        assert!(parse_cache_mount("mount / from exec /bin/sh -c make").is_none());
        assert!(parse_cache_mount("cached mount  from exec x").is_none());
        assert!(parse_cache_mount("cached mount /a").is_none());
    }
}
