use super::*;

fn df(src: &str) -> Dockerfile {
    parse(src).unwrap()
}

#[test]
fn stages_and_their_dependencies() {
    let d = df("FROM rust:1 AS Base\n\
                FROM base AS deps\n\
                FROM alpine AS tools\n\
                FROM rust:1 AS app\n\
                COPY --from=deps /a /a\n\
                COPY --from=2 /t /t\n\
                RUN --mount=type=bind,from=tools,target=/t true\n\
                COPY --from=nginx:1 /x /x\n");
    let names: Vec<_> = d.stages.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        vec![
            Some("base".into()),
            Some("deps".into()),
            Some("tools".into()),
            Some("app".into())
        ]
    );
    assert_eq!(d.stages[1].base_stage, Some(0));
    assert_eq!(d.stages[3].deps, BTreeSet::from([1, 2]));
    assert!(d.depends_on(3, 0));
    assert!(!d.depends_on(0, 3));
    assert!(!d.depends_on(2, 1) && !d.depends_on(1, 2));
    assert_eq!(d.ancestry(1), vec![1, 0]);
}

#[test]
fn every_mount_has_its_place() {
    let src = "FROM rust:1\n\
               WORKDIR /app\n\
               RUN --mount=type=cache,target=/usr/local/cargo/registry \\\n    \
               --mount=target=target,type=cache,sharing=locked \\\n    \
               cargo build --release\n";
    let d = df(src);
    let run = &d.stages[0].runs[0];
    assert_eq!(run.pos, Pos::new(3, 1));
    assert_eq!(run.end_line, 5);
    assert_eq!(run.mounts.len(), 2);
    assert_eq!(run.mounts[0].pos, Pos::new(3, 5));
    assert_eq!(run.mounts[1].pos, Pos::new(4, 5));
    assert_eq!(run.mounts[1].target_abs.as_deref(), Some("/app/target"));
    // The default id is the target as written, cleaned: BuildKit does not join WORKDIR.
    assert_eq!(run.mounts[1].cache_id.as_ref().unwrap().text, "target");
    assert_eq!(run.mounts[1].spec.sharing, Sharing::Locked);
    assert_eq!(run.mounts[0].spec.sharing, Sharing::Shared);
    assert_eq!(run.command, "cargo build --release");
}

#[test]
fn args_and_env_reach_mount_options() {
    let src = "ARG SERVICE=api\n\
               ARG BASE=rust:1\n\
               FROM ${BASE}\n\
               ARG SERVICE\n\
               ENV CARGO_HOME=/opt/cargo APP=/srv\n\
               RUN --mount=type=cache,id=target-${SERVICE},target=$APP/target \\\n  \
               --mount=type=cache,target=${CARGO_HOME}/registry \\\n  \
               cargo build -p $SERVICE\n";
    let d = df(src);
    assert_eq!(d.stages[0].image, "rust:1");
    let run = &d.stages[0].runs[0];
    let id = run.mounts[0].cache_id.as_ref().unwrap();
    assert_eq!(id.text, "target-api");
    assert!(id.from_args);
    assert_eq!(run.mounts[0].target_abs.as_deref(), Some("/srv/target"));
    assert_eq!(
        run.mounts[1].target_abs.as_deref(),
        Some("/opt/cargo/registry")
    );
    assert_eq!(run.command_args, vec!["SERVICE"]);
    assert_eq!(run.cargo_home.as_ref().unwrap().text, "/opt/cargo");
}

#[test]
fn a_global_arg_is_not_seen_in_a_stage_unless_declared() {
    let d =
        df("ARG SERVICE=api\nFROM rust:1\nRUN --mount=type=cache,id=t-$SERVICE,target=/t true\n");
    let id = d.stages[0].runs[0].mounts[0].cache_id.clone().unwrap();
    assert_eq!(id.text, "t-${SERVICE}");
    assert!(!id.from_args);
}

#[test]
fn env_is_inherited_from_the_base_stage() {
    let d = df(
        "FROM rust:1 AS base\nENV CARGO_TARGET_DIR=/build\nWORKDIR /src\nFROM base\nRUN cargo build\n",
    );
    let run = &d.stages[1].runs[0];
    assert_eq!(run.cargo_target_dir.as_ref().unwrap().text, "/build");
}

#[test]
fn heredoc_bodies_are_part_of_the_command() {
    let src = "FROM rust:1\nARG BIN\nRUN --mount=type=cache,target=/app/target <<EOF\ncargo build --bin \"$BIN\"\nEOF\n";
    let run = &df(src).stages[0].runs[0];
    assert!(run.command.contains("cargo build --bin"));
    assert_eq!(run.command_args, vec!["BIN"]);
    assert_eq!(run.end_line, 5);
}

#[test]
fn refused_things_are_issues_and_reading_goes_on() {
    let d = df(
        "RUN early\nFROM a\nRUNN x\nRUN --mount=type=cache,target=/x,sharing=maybe true\nRUN ok\n",
    );
    let msgs: Vec<_> = d
        .issues
        .iter()
        .map(|i| (i.pos, i.message.clone()))
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(msgs[0].0, Pos::new(1, 1));
    assert!(msgs[0].1.contains("before the first FROM"));
    assert!(msgs[1].1.contains("unknown instruction: RUNN"));
    assert_eq!(msgs[2].0, Pos::new(4, 5));
    assert_eq!(d.stages[0].runs.len(), 2);
    assert!(parse("\n# only a comment\n").is_err());
}

#[test]
fn clean_path_like_go() {
    assert_eq!(clean_path("/a//b/./c/.."), "/a/b");
    assert_eq!(clean_path("target/"), "target");
    assert_eq!(clean_path("/../x"), "/x");
    assert_eq!(clean_path(""), ".");
}
