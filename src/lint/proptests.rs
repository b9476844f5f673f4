//! Property tests: no input makes the readers or the rules panic, and every file that
//! does not parse becomes a finding at a real place in it.

use std::path::PathBuf;

use proptest::prelude::*;

use super::{FileKind, Input, lint};

fn input(kind: FileKind, bytes: Vec<u8>) -> Input {
    Input {
        path: PathBuf::from("f"),
        display: "f".into(),
        kind,
        repo: PathBuf::from("."),
        all_self_hosted: false,
        content: Ok(bytes),
    }
}

/// Text made of the pieces Dockerfiles and workflows are made of, so the generator
/// reaches deep into both grammars rather than failing on the first byte.
fn grammar_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "FROM ",
        "RUN ",
        "ARG ",
        "ENV ",
        "COPY ",
        "WORKDIR ",
        "AS ",
        "--mount=",
        "--from=",
        "type=cache,",
        "target=/usr/local/cargo/registry",
        "sharing=",
        "locked",
        "id=",
        "${",
        "}",
        "$",
        ":-",
        "\"",
        "'",
        "`",
        "\\",
        "\n",
        "\r\n",
        "\t",
        " ",
        "<<",
        "<<-",
        "EOF",
        "# escape=`\n",
        "# escape=\\\n",
        "#",
        ",",
        "=",
        "on:",
        "jobs:",
        "steps:",
        "- ",
        "  ",
        "uses: ",
        "run: |",
        "with:",
        "[",
        "]",
        "{",
        "}",
        "&a",
        "*a",
        "!!str",
        "---",
        "...",
        "?",
        ": ",
        "self-hosted",
        "docker builder prune -a",
        "\u{0}",
        "é",
    ]);
    prop::collection::vec(pieces, 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for kind in [FileKind::Dockerfile, FileKind::Workflow] {
            let run = lint(vec![input(kind, bytes.clone())]);
            for f in &run.findings {
                prop_assert!(f.pos.line >= 1 && f.pos.column >= 1);
            }
        }
    }

    #[test]
    fn grammar_soup_never_panics_and_places_are_in_the_file(text in grammar_soup()) {
        let lines = text.split('\n').count().max(1);
        for kind in [FileKind::Dockerfile, FileKind::Workflow] {
            let run = lint(vec![input(kind, text.clone().into_bytes())]);
            for f in &run.findings {
                prop_assert!(f.pos.line >= 1 && f.pos.line <= lines + 1, "{:?} in {:?}", f, text);
                prop_assert!(f.pos.column >= 1);
            }
        }
    }
}
