//! `target-dir-shared-id`: a build output cache mount whose id is the same whatever is
//! built, in a file that builds several binaries or services.

use super::Rule;
use super::paths::is_target_dir;
use crate::lint::dockerfile::Dockerfile;
use crate::lint::finding::{Finding, Severity};

/// The values of `--bin X`, `--bin=X`, `-p X`, `--package X`, `--package=X`.
fn built_things(command: &str) -> Vec<&str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let value = match *w {
            "--bin" | "-p" | "--package" => words.get(i + 1).copied(),
            w => w
                .strip_prefix("--bin=")
                .or_else(|| w.strip_prefix("--package=")),
        };
        if let Some(v) = value {
            out.push(v.trim_matches(['"', '\'']));
        }
    }
    out
}

pub(crate) fn check(file: usize, d: &Dockerfile) -> Vec<Finding> {
    let mut things: Vec<&str> = d
        .stages
        .iter()
        .flat_map(|s| &s.runs)
        .flat_map(|r| built_things(&r.command))
        .collect();
    things.sort_unstable();
    things.dedup();
    let mut out = Vec::new();
    for run in d.stages.iter().flat_map(|s| &s.runs) {
        let reason = match (run.command_args.first(), things.len()) {
            (Some(arg), _) => format!("its build command reads the build argument {arg}"),
            (None, n) if n >= 2 => format!("it builds {}", things.join(", ")),
            _ => continue,
        };
        for m in &run.mounts {
            let (Some(target), Some(id)) = (m.target_abs.as_deref(), m.cache_id.as_ref()) else {
                continue;
            };
            if !m.is_cache() || !is_target_dir(target, run) || id.from_args {
                continue;
            }
            let var = run.command_args.first().map_or("SERVICE", String::as_str);
            out.push(Finding {
                rule: Rule::TargetDirSharedId,
                severity: Severity::Warning,
                file,
                pos: m.pos,
                message: format!(
                    "cache mount of the build output {target} has the id {:?} whatever is \
                     built, but this file builds several things ({reason}): every service \
                     shares one target directory, each build overwrites the others' \
                     artifacts, and the next one recompiles them",
                    id.text
                ),
                fix: format!(
                    "use a per-service id: --mount=type=cache,id=target-${{{var}}},target={target} \
                     (with ARG {var} in this stage)"
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

    fn found(src: &str) -> Vec<Pos> {
        check(0, &parse(src).unwrap())
            .into_iter()
            .map(|f| f.pos)
            .collect()
    }

    #[test]
    fn an_arg_in_the_build_command_with_a_fixed_id() {
        let src = "FROM rust:1\nARG SERVICE\nWORKDIR /app\n\
                   RUN --mount=type=cache,target=/app/target cargo build --bin $SERVICE\n";
        assert_eq!(found(src), vec![Pos::new(4, 5)]);
        let src = "FROM rust:1\nARG SERVICE\n\
                   RUN --mount=type=cache,id=target,target=/app/target cargo build -p ${SERVICE}\n";
        assert_eq!(found(src), vec![Pos::new(3, 5)]);
    }

    #[test]
    fn several_bins_in_one_file() {
        let src = "FROM rust:1 AS api\nRUN --mount=type=cache,target=/app/target cargo build --bin api\n\
                   FROM rust:1 AS worker\nRUN --mount=type=cache,target=/app/target cargo build --bin=worker\n";
        assert_eq!(found(src), vec![Pos::new(2, 5), Pos::new(4, 5)]);
    }

    #[test]
    fn a_per_service_id_is_clean() {
        let src = "FROM rust:1\nARG SERVICE\n\
                   RUN --mount=type=cache,id=target-${SERVICE},target=/app/target cargo build --bin $SERVICE\n";
        assert!(found(src).is_empty());
        // One binary: a shared id is fine.
        let src = "FROM rust:1\nRUN --mount=type=cache,target=/app/target cargo build --bin api\n";
        assert!(found(src).is_empty());
        // CARGO_TARGET_DIR counts as a target directory.
        let src = "FROM rust:1\nARG APP\nENV CARGO_TARGET_DIR=/out\n\
                   RUN --mount=type=cache,target=/out cargo build -p $APP\n";
        assert_eq!(found(src), vec![Pos::new(4, 5)]);
    }
}
