//! What cargo does with each broken part the cargo detector finds, in one place: a
//! finding's `detail` (the report's findings section, `report --json` and the screen's
//! details) and the README's table of cargo findings are made from these words.
//!
//! Every claim was checked against the real cargo 1.95.0 (tests/cargo_truth.rs runs
//! it: a killed unpack, a race of two builds, a cut `.crate`, torn markers, a git
//! checkout). Text in backticks after "A build alone:" and "Builds sharing the cache
//! at once:" is what cargo prints; those tests find each quoted piece in its output.
//!
//! Cargo's code behind it (rust-lang/cargo, as of 1.95):
//! - `src/cargo/sources/registry/mod.rs`, `RegistrySource::unpack_package` (its doc
//!   comment tells the marker's history): a `.cargo-ok` that reads as `{"v":1}` is
//!   trusted; any other content makes cargo `remove_dir_all` the directory and unpack
//!   again; a missing one makes it unpack over what is there; the marker is then
//!   created with `create_new`, so a second unpacker fails with EEXIST. The lock that
//!   keeps two unpackers apart, `$CARGO_HOME/.package-cache`, is outside a mount of
//!   `registry/`.
//! - `src/cargo/sources/registry/download.rs`, `download` and `finish_download`: any
//!   non-empty `.crate` in the cache is used as is (its checksum is checked only when
//!   downloaded), and a download is written in place.
//! - `src/cargo/sources/git/utils.rs`, `GitDatabase::copy_to`, `GitCheckout::is_fresh`,
//!   `clone_into` and `CheckoutGuard`: a checkout without `.cargo-ok` is deleted and
//!   cloned again from `git/db`.
//!
//! Older cargo (its CHANGELOG and the same files' history): 1.34 to 1.48 created an
//! empty `.cargo-ok` before unpacking; 1.49 (#8835) writes it only after; 1.64
//! (CVE-2022-36113, commit 97b80919e) creates it with `create_new`, which is where
//! `File exists (os error 17)` comes from, and (#10838) deletes and re-clones an
//! unfinished git checkout instead of resetting it in place; 1.71.1 (CVE-2023-38497,
//! commit c60c06585) writes `{"v":1}` and redoes a directory whose marker is anything
//! else, where 1.49 to 1.71.0 trusted any non-empty marker.

/// The fix for good, the same for every cargo finding.
const LOCK: &str = "for good, lock the mount (`sharing=locked`; `cachetop lint` rule \
                    `cargo-registry-unlocked`)";

/// What a cargo finding says: what happened, what a build that runs alone does with
/// it, what builds that share the cache at the same moment do, and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CargoSays {
    pub(crate) happened: String,
    pub(crate) alone: String,
    pub(crate) shared: String,
    pub(crate) fix: String,
}

/// The lead-ins of the detail's parts, after `happened`.
pub(crate) const ALONE: &str = "A build alone:";
pub(crate) const SHARED: &str = "Builds sharing the cache at once:";
pub(crate) const FIX: &str = "Fix:";

impl CargoSays {
    /// The finding's `detail`: one paragraph, the same in every output.
    pub(crate) fn detail(&self) -> String {
        format!(
            "{} {ALONE} {} {SHARED} {} {FIX} {}",
            self.happened, self.alone, self.shared, self.fix
        )
    }
}

/// A detail cut before each lead-in, for a screen that shows the parts on their own
/// rows; a detail without them is one part. The last match counts, so a marker's
/// content quoted in the first part cannot move a cut.
pub(crate) fn detail_parts(detail: &str) -> Vec<&str> {
    let mut cuts: Vec<usize> = [ALONE, SHARED, FIX]
        .iter()
        .filter_map(|lead| detail.rfind(&format!(" {lead} ")).map(|at| at + 1))
        .collect();
    cuts.sort_unstable();
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        parts.push(detail[start..cut].trim_end());
        start = cut;
    }
    parts.push(&detail[start..]);
    parts
}

fn says(happened: impl Into<String>, alone: &str, shared: &str, fix: &str) -> CargoSays {
    CargoSays {
        happened: happened.into(),
        alone: alone.to_string(),
        shared: shared.to_string(),
        fix: fix.to_string(),
    }
}

/// `…/src/<registry>/<crate>-<ver>/` without `.cargo-ok`.
pub(crate) fn partial_extraction() -> CargoSays {
    says(
        "Unpacking stopped before cargo wrote .cargo-ok: it was interrupted (killed, disk \
         full), or a build is unpacking it right now.",
        "cargo unpacks the crate again over the leftovers and goes on; it only costs time.",
        "each starts unpacking it, and those that finish after the first fail with \
         `failed to unpack package` … `.cargo-ok` … `File exists (os error 17)`; now and \
         then one fails instead on a file another is still unpacking: `failed to read` … \
         `No such file or directory`.",
        &format!("`R` or `cachetop repair` removes it now; {LOCK}."),
    )
}

/// `.cargo-ok` that is not `{"v":1}`; `what` says what it is instead.
pub(crate) fn torn_marker(what: &str) -> CargoSays {
    says(
        format!(
            ".cargo-ok is {what}, not {{\"v\":1}}: written by cargo before 1.71.1, or cut \
             short by a crash or a copy."
        ),
        "cargo 1.71.1 and later delete the directory and unpack the crate again; it only \
         costs time (1.34 to 1.71.0 trusted any marker that was not empty).",
        "they delete it under each other and fail with `No such file or directory`, \
         `Directory not empty` or, on `.cargo-ok`, `File exists (os error 17)`; one that \
         goes on can mark it done with files missing, which no check sees afterwards.",
        &format!("`R` or `cachetop repair` removes it now; {LOCK}."),
    )
}

/// How a `.crate` is broken, which decides what cargo does with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CrateDamage {
    /// Zero bytes: the download was never written.
    Empty,
    /// The stream ends, after this many bytes, before the archive's last file.
    CutInFiles(u64),
    /// The bytes before the archive's last file do not decode; why, in words.
    BadInFiles(String),
    /// The stream ends, after this many bytes, past the archive's last file.
    CutAfterFiles(u64),
    /// Past the archive's last file the gzip check fails; why, in words.
    BadAfterFiles(String),
    /// A whole gzip+tar stream with no file in it.
    NoFiles,
}

/// `…/cache/<registry>/<crate>-<ver>.crate` that is not a whole gzip+tar stream.
pub(crate) fn corrupt_crate(damage: &CrateDamage) -> CargoSays {
    let removes_now = format!(
        "`R` or `cachetop repair` removes it now, and the next build that needs it \
         downloads it again (an offline one cannot); {LOCK}, so no build reads a .crate \
         another is still writing."
    );
    let unnoticed = "cargo 1.95 does not notice: it checks a .crate only when it downloads \
                     it, and its unpack stops at the last file, so the build goes on.";
    let removes_any_time = format!(
        "`R` or `cachetop repair` removes it; cargo downloads it again when it next \
         unpacks it; {LOCK}, so no build reads a .crate another is still writing."
    );
    match damage {
        CrateDamage::Empty => says(
            "The .crate is empty: the download was never written.",
            "cargo takes it for missing and downloads it again; an offline build fails: \
             `attempting to make an HTTP request, but --offline was specified`.",
            "each downloads it again until one has written it.",
            &removes_now,
        ),
        CrateDamage::CutInFiles(n) => cut_in_files(&n.to_string(), &removes_now),
        CrateDamage::BadInFiles(why) => says(
            format!("The .crate is damaged ({why})."),
            "cargo trusts any .crate in its cache that is not empty, so a build that has \
             to unpack it fails with `failed to unpack package`, and leaves a \
             half-extracted directory.",
            "every one that has to unpack it fails the same way until it is removed.",
            &removes_now,
        ),
        CrateDamage::CutAfterFiles(n) => says(
            format!(
                "The .crate ends early, after {n} bytes, but past its last file: the files \
                 in it are whole."
            ),
            unnoticed,
            "the same: none of them fails on it.",
            &removes_any_time,
        ),
        CrateDamage::BadAfterFiles(why) => says(
            format!(
                "The .crate's gzip check fails past its last file ({why}): a file in it \
                 may be damaged."
            ),
            unnoticed,
            "the same: none of them fails on it, whatever the files hold.",
            &removes_any_time,
        ),
        CrateDamage::NoFiles => says(
            "The .crate holds no files.",
            "cargo unpacks nothing, marks the crate's directory done, and fails with \
             `failed to read` … `Cargo.toml`.",
            "every one that uses the crate fails the same way.",
            "`R` or `cachetop repair` removes it; remove the crate's directory in \
             registry/src too, which cargo marked done.",
        ),
    }
}

/// A `.crate` whose stream ends, after `bytes` bytes, before its last file.
fn cut_in_files(bytes: &str, fix: &str) -> CargoSays {
    says(
        format!(
            "The .crate ends early, after {bytes} bytes: the download was cut off (cargo \
             writes it in place)."
        ),
        "cargo trusts any .crate in its cache that is not empty, so a build that has to \
         unpack it fails with `failed to unpack package` … `unexpected end of file`, and \
         leaves a half-extracted directory.",
        "every one that has to unpack it fails the same way until it is removed.",
        fix,
    )
}

/// `…/checkouts/<repo>/<rev>/` without `.cargo-ok`.
pub(crate) fn git_checkout_incomplete() -> CargoSays {
    says(
        "The checkout stopped before cargo wrote .cargo-ok: it was interrupted, or a build \
         is checking it out right now.",
        "cargo 1.64 and later delete the checkout and clone it again from git/db, offline \
         too; it only costs time (older cargo reset it in place).",
        "they delete and clone it under each other and fail with `unable to update` (a \
         file gone, a lock taken, a directory not empty).",
        &format!("`R` or `cachetop repair` removes it now; {LOCK}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FindingKind;

    /// One row of the README's table: the finding as the report shows it, for the usual
    /// case of each kind.
    fn row(kind: FindingKind, layout: &str, s: &CargoSays) -> String {
        format!(
            "| `{kind}` | {layout} | {} | {} | {} |\n",
            s.happened, s.alone, s.shared
        )
    }

    /// The README's table of cargo findings, exactly as the README has it (a unit test
    /// keeps the two the same).
    fn readme_table() -> String {
        let mut t = String::from(
            "| finding | where | what happened | a build alone (cargo 1.95) | builds sharing the cache at once |\n\
             |---|---|---|---|---|\n",
        );
        t += &row(
            FindingKind::CargoPartialExtraction,
            "`…/src/<registry>-<hash>/<crate>-<ver>/` without `.cargo-ok`",
            &partial_extraction(),
        );
        t += &row(
            FindingKind::CargoTornMarker,
            "`…/src/<registry>-<hash>/<crate>-<ver>/.cargo-ok`",
            &torn_marker("empty, `ok` or other"),
        );
        t += &row(
            FindingKind::CargoCorruptCrate,
            "`…/cache/<registry>-<hash>/*.crate` that is not a whole gzip+tar stream",
            &cut_in_files("N", ""),
        );
        t += &row(
            FindingKind::CargoGitCheckoutIncomplete,
            "`…/checkouts/<repo>-<hash>/<rev>/` without `.cargo-ok`",
            &git_checkout_incomplete(),
        );
        t
    }

    /// What every cargo finding's fix says, for the README.
    fn readme_fix() -> String {
        format!(
            "Fix, for each: `R` on the screen or `cachetop repair` removes the part now; {LOCK}."
        )
    }

    fn all() -> Vec<CargoSays> {
        vec![
            partial_extraction(),
            torn_marker("empty"),
            corrupt_crate(&CrateDamage::Empty),
            corrupt_crate(&CrateDamage::CutInFiles(2000)),
            corrupt_crate(&CrateDamage::BadInFiles("corrupt deflate stream".into())),
            corrupt_crate(&CrateDamage::CutAfterFiles(6125)),
            corrupt_crate(&CrateDamage::BadAfterFiles("invalid gzip trailer".into())),
            corrupt_crate(&CrateDamage::NoFiles),
            git_checkout_incomplete(),
        ]
    }

    #[test]
    fn every_detail_has_its_four_parts_in_order() {
        for s in all() {
            let d = s.detail();
            let a = d.find(ALONE).unwrap();
            let b = d.find(SHARED).unwrap();
            let c = d.find(FIX).unwrap();
            assert!(a > 0 && a < b && b < c, "{d}");
            assert!(d.starts_with(&s.happened), "{d}");
            assert!(!d.contains('\n') && !d.contains("  "), "{d:?}");
            // Sentences, so the details pane and the report read as prose.
            for part in [&s.happened, &s.alone, &s.shared, &s.fix] {
                assert!(part.ends_with('.'), "{part}");
            }
        }
    }

    #[test]
    fn a_detail_parts_at_its_lead_ins_and_joins_back_whole() {
        for s in all() {
            let d = s.detail();
            let parts = detail_parts(&d);
            assert_eq!(
                parts,
                vec![
                    s.happened.clone(),
                    format!("{ALONE} {}", s.alone),
                    format!("{SHARED} {}", s.shared),
                    format!("{FIX} {}", s.fix),
                ]
            );
            assert_eq!(parts.join(" "), d);
        }
        assert_eq!(detail_parts("no lead-ins here"), vec!["no lead-ins here"]);
        assert_eq!(detail_parts(""), vec![""]);
    }

    #[test]
    fn the_race_and_its_cure_are_named_where_they_apply() {
        for s in [
            partial_extraction(),
            torn_marker("empty"),
            git_checkout_incomplete(),
        ] {
            assert!(s.fix.contains("`R` or `cachetop repair`"), "{}", s.fix);
            assert!(s.fix.contains("sharing=locked"), "{}", s.fix);
            assert!(s.fix.contains("cargo-registry-unlocked"), "{}", s.fix);
        }
        assert!(
            partial_extraction()
                .shared
                .contains("File exists (os error 17)")
        );
        assert!(
            torn_marker("empty")
                .shared
                .contains("File exists (os error 17)")
        );
        // Alone, cargo recovers from these: the text must not promise a failure.
        for s in [
            partial_extraction(),
            torn_marker("empty"),
            git_checkout_incomplete(),
        ] {
            assert!(!s.alone.contains('`'), "{}", s.alone);
            assert!(s.alone.contains("again"), "{}", s.alone);
        }
    }

    #[test]
    fn the_fix_names_the_lint_rule_that_finds_an_unlocked_mount() {
        let rule = crate::lint::rules::Rule::CargoRegistryUnlocked.id();
        assert!(
            LOCK.contains(&format!("`cachetop lint` rule `{rule}`")),
            "{LOCK}"
        );
        for s in all() {
            assert!(s.fix.contains("`cachetop repair`"), "{}", s.fix);
        }
    }

    #[test]
    fn a_crate_cut_in_its_files_fails_the_build_but_one_cut_past_them_does_not() {
        let cut = corrupt_crate(&CrateDamage::CutInFiles(2000));
        assert!(
            cut.happened.contains("after 2000 bytes"),
            "{}",
            cut.happened
        );
        assert!(cut.happened.contains("ends early"));
        assert!(cut.alone.contains("`failed to unpack package`"));
        assert!(cut.alone.contains("`unexpected end of file`"));
        let tail = corrupt_crate(&CrateDamage::CutAfterFiles(6125));
        assert!(tail.alone.contains("does not notice"), "{}", tail.alone);
        assert!(!tail.alone.contains("failed"), "{}", tail.alone);
        let bad = corrupt_crate(&CrateDamage::BadInFiles("corrupt deflate stream".into()));
        assert!(bad.happened.contains("corrupt deflate stream"));
        assert!(!bad.alone.contains("unexpected end of file"));
        let empty = corrupt_crate(&CrateDamage::Empty);
        assert!(empty.alone.contains("--offline was specified"));
    }

    #[test]
    fn the_readme_table_is_this_modules_words() {
        let readme = include_str!("../../README.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "README.md's cargo findings table differs from the code's; paste this:\n{table}"
        );
        assert!(readme.contains(&readme_fix()), "{}", readme_fix());
        assert!(table.contains("after N bytes"), "{table}");
    }
}
