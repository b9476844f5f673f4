//! `cache-id-key-split`: one cache id mounted with different `uid`, `gid` or `mode`,
//! across every Dockerfile linted (they share builders).

use std::collections::BTreeMap;

use super::Rule;
use crate::lint::dockerfile::{Dockerfile, Mount};
use crate::lint::finding::{Finding, Severity};

/// What BuildKit bases the cache on: nothing when no option is given, else a
/// `mkdir /cache` with the options and their defaults (uid 0, gid 0, mode 0755)
/// (dockerfile2llb/convert_runmount.go `setCacheUIDGIDFileOp`).
fn ownership(m: &Mount) -> Option<(String, String, String)> {
    let s = &m.spec;
    if s.uid.is_none() && s.gid.is_none() && s.mode.is_none() {
        return None;
    }
    Some((
        s.uid.clone().unwrap_or_else(|| "0".into()),
        s.gid.clone().unwrap_or_else(|| "0".into()),
        s.mode.clone().unwrap_or_else(|| "0755".into()),
    ))
}

fn describe(o: &Option<(String, String, String)>) -> String {
    match o {
        None => "no uid, gid or mode".to_string(),
        Some((u, g, m)) => format!("uid={u},gid={g},mode={m}"),
    }
}

pub(crate) fn check(dockerfiles: &[(usize, &Dockerfile)], names: &[&str]) -> Vec<Finding> {
    let mut by_id: BTreeMap<&str, Vec<(usize, &Mount)>> = BTreeMap::new();
    for (file, d) in dockerfiles {
        for m in d
            .stages
            .iter()
            .flat_map(|s| &s.runs)
            .flat_map(|r| &r.mounts)
        {
            if let (true, Some(id)) = (m.is_cache(), m.cache_id.as_ref()) {
                by_id.entry(id.text.as_str()).or_default().push((*file, m));
            }
        }
    }
    let mut out = Vec::new();
    for (id, mounts) in by_id {
        for (file, m) in &mounts {
            let mine = ownership(m);
            let Some((other_file, other)) = mounts.iter().find(|(_, o)| ownership(o) != mine)
            else {
                continue;
            };
            let place = if other_file == file {
                format!("line {}", other.pos.line)
            } else {
                let name = names.get(*other_file).copied().unwrap_or("another file");
                format!("{name}:{}", other.pos.line)
            };
            out.push(Finding {
                rule: Rule::CacheIdKeySplit,
                severity: Severity::Warning,
                file: *file,
                pos: m.pos,
                message: format!(
                    "cache id {id:?} is mounted here with {} and at {place} with {}: BuildKit \
                     keys a cache mount on its id and on uid, gid and mode, so these are two \
                     caches, each starting empty and filled and evicted on its own",
                    describe(&mine),
                    describe(&ownership(other)),
                ),
                fix: format!(
                    "mount {id:?} with the same uid, gid and mode everywhere (e.g. {} at \
                     both places), or give the variants different ids",
                    describe(&ownership(other))
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::dockerfile::parse;
    use crate::lint::finding::Pos;

    #[test]
    fn different_ownership_of_one_id_splits_it() {
        let a = parse(
            "FROM rust\nRUN --mount=type=cache,id=cargo,target=/usr/local/cargo/registry,sharing=locked x\n\
             USER 1000\nRUN --mount=type=cache,id=cargo,target=/home/u/.cargo/registry,uid=1000,sharing=locked y\n",
        )
        .unwrap();
        let b = parse(
            "FROM rust\nRUN --mount=type=cache,id=cargo,target=/r,uid=1000,gid=0,mode=0755 z\n",
        )
        .unwrap();
        let found = check(&[(0, &a), (1, &b)], &["a/Dockerfile", "b/Dockerfile"]);
        let places: Vec<(usize, Pos)> = found.iter().map(|f| (f.file, f.pos)).collect();
        assert_eq!(
            places,
            vec![
                (0, Pos::new(2, 5)),
                (0, Pos::new(4, 5)),
                (1, Pos::new(2, 5))
            ]
        );
        assert!(found[0].message.contains("line 4"), "{}", found[0].message);
        assert!(
            found[2].message.contains("a/Dockerfile:2"),
            "{}",
            found[2].message
        );
    }

    #[test]
    fn same_ownership_written_differently_is_one_cache() {
        let a = parse(
            "FROM rust\nRUN --mount=type=cache,target=/c,uid=0 x\nRUN --mount=type=cache,target=/c,mode=755 y\nRUN --mount=type=cache,target=/d z\nRUN --mount=type=cache,target=/d w\n",
        )
        .unwrap();
        assert!(check(&[(0, &a)], &["Dockerfile"]).is_empty());
    }
}
