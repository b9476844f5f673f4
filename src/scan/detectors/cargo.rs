//! Cargo's registry and git caches (reference/formats-and-apis.md §5):
//!
//! - `…/src/<registry>-<hash>/<crate>-<ver>/` without `.cargo-ok`: extraction never
//!   finished (`cargo.partial_extraction`);
//! - `.cargo-ok` that cargo would not accept as `{"v":1}` (empty, the pre-1.71 `ok`,
//!   anything else): `cargo.torn_marker`; cargo deletes such a directory and
//!   re-extracts, but a concurrent build sharing the mount fails meanwhile;
//! - `…/cache/<registry>-<hash>/*.crate` that is not a whole gzip+tar stream:
//!   `cargo.corrupt_crate` (cargo trusts any non-empty `.crate` it finds, then fails
//!   with "failed to unpack package");
//! - `…/checkouts/<repo>-<hash>/<rev>/` without `.cargo-ok`:
//!   `cargo.git_checkout_incomplete`.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::GzDecoder;
use serde::Deserialize;

use super::{Candidate, Child, Detector, DirView, Facts, Found, Kind, PartSize, Verdict, is};
use crate::model::FindingKind;

pub struct Cargo;

/// The marker a finished extraction leaves.
pub const MARKER: &str = ".cargo-ok";
/// Markers are a few bytes; anything much larger is not one cargo wrote.
const MARKER_READ_LIMIT: u64 = 256;

impl Detector for Cargo {
    fn name(&self) -> &'static str {
        "cargo"
    }

    fn visit(&self, dir: &DirView<'_>, found: &mut Found) {
        let parent = dir.name(1);
        if is(dir.name(2), "src") && parent.is_some_and(is_registry_dir) {
            extracted_crate(dir, found);
        }
        if is(parent, "cache") && dir.name(0).is_some_and(is_registry_dir) {
            crate_archives(dir, found);
        }
        if is(dir.name(2), "checkouts") && parent.is_some_and(is_registry_dir) {
            git_checkout(dir, found);
        }
    }
}

/// `<name>-<16 hex digits>`, as cargo names registry and git directories
/// (`index.crates.io-1949cf8c6b5b557f`, `github.com-1ecc6299db9ec823`).
pub fn is_registry_dir(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[b.len() - 17] == b'-'
        && b[b.len() - 16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

#[derive(Deserialize)]
struct LockMetadata {
    v: u32,
}

/// What cargo's `unpack_package` accepts: JSON that reads as `{"v":1}`.
pub fn marker_is_valid(content: &[u8]) -> bool {
    serde_json::from_slice::<LockMetadata>(content).is_ok_and(|m| m.v == 1)
}

/// How a marker cargo would reject reads in a finding.
fn describe_marker(content: &[u8], total_len: u64) -> String {
    if total_len == 0 {
        return "empty".to_string();
    }
    if content == b"ok" {
        return "\"ok\" (written by cargo before 1.71)".to_string();
    }
    let shown: String = String::from_utf8_lossy(content).chars().take(40).collect();
    format!("{shown:?} ({total_len} bytes)")
}

enum Marker {
    Missing,
    Valid,
    Invalid(String),
    /// Could not be read: no verdict either way.
    Unreadable(io::Error),
}

/// Reads a marker the walk listed: one open and (for cargo's 7 bytes) one read.
fn read_marker(dir: &DirView<'_>, child: Option<&Child<'_>>) -> Marker {
    let Some(child) = child else {
        return Marker::Missing;
    };
    if child.kind != Kind::File {
        return Marker::Invalid("not a regular file".to_string());
    }
    if child.len > MARKER_READ_LIMIT {
        return Marker::Invalid(format!("{} bytes long", child.len));
    }
    let mut buf = [0u8; MARKER_READ_LIMIT as usize + 1];
    let read = dir.open(MARKER).and_then(|mut f| {
        let mut n = 0;
        loop {
            match f.read(&mut buf[n..])? {
                0 => return Ok(n),
                k => n += k,
            }
            if n as u64 >= child.len.max(1) || n == buf.len() {
                return Ok(n);
            }
        }
    });
    match read {
        Ok(n) if marker_is_valid(&buf[..n]) => Marker::Valid,
        Ok(n) => Marker::Invalid(describe_marker(&buf[..n], n as u64)),
        // Removed since the directory was listed: cargo is re-extracting it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Marker::Missing,
        Err(e) => Marker::Unreadable(e),
    }
}

fn extracted_crate(dir: &DirView<'_>, found: &mut Found) {
    let size = PartSize::Dir(dir.node);
    let child = dir.child(MARKER);
    match read_marker(dir, child) {
        Marker::Valid => {
            // Vouches for the archive this directory was unpacked from.
            if let Some(t) = child.and_then(|c| c.modified) {
                found.note(dir.abs.join(MARKER), t);
            }
        }
        Marker::Unreadable(e) => found.unreadable(dir.rel.join(MARKER), e),
        Marker::Missing => found.part(
            FindingKind::CargoPartialExtraction,
            dir.rel.to_path_buf(),
            "extraction did not finish (no .cargo-ok): cargo unpacks over the leftovers, \
             which fails with 'File exists (os error 17)' or 'failed to unpack package'"
                .to_string(),
            size,
        ),
        Marker::Invalid(what) => found.part(
            FindingKind::CargoTornMarker,
            dir.rel.to_path_buf(),
            format!(
                ".cargo-ok is {what}, not {{\"v\":1}}: cargo distrusts the directory and \
                 deletes it under any build that shares it"
            ),
            size,
        ),
    }
}

fn git_checkout(dir: &DirView<'_>, found: &mut Found) {
    // In git checkouts the marker is empty: its presence is what counts.
    if dir.child(MARKER).is_none() {
        found.part(
            FindingKind::CargoGitCheckoutIncomplete,
            dir.rel.to_path_buf(),
            "checkout did not finish (no .cargo-ok): cargo resets it again".to_string(),
            PartSize::Dir(dir.node),
        );
    }
}

/// One `.crate` to judge once the walk is done.
struct Archive {
    abs: PathBuf,
    rel: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    /// Where cargo extracted it: `../../src/<registry>/<crate>-<ver>/.cargo-ok`.
    marker: Option<PathBuf>,
}

fn crate_archives(dir: &DirView<'_>, found: &mut Found) {
    let registry_root = dir.abs.parent().and_then(Path::parent);
    for child in dir.children {
        if child.kind != Kind::File || !child.name.as_bytes().ends_with(b".crate") {
            continue;
        }
        let stem = &child.name.as_bytes()[..child.name.len() - ".crate".len()];
        let archive = Archive {
            abs: dir.abs.join(child.name),
            rel: dir.rel.join(child.name),
            len: child.len,
            modified: child.modified,
            marker: registry_root.zip(dir.name(0)).map(|(root, reg)| {
                root.join("src")
                    .join(reg)
                    .join(OsStr::from_bytes(stem))
                    .join(MARKER)
            }),
        };
        found.after_walk(move |facts| check_crate(archive, facts));
    }
}

/// Cargo writes `.cargo-ok` only after it unpacked the whole archive, and never
/// rewrites a non-empty `.crate`: a valid marker written after the archive means
/// cargo read this very file to its end, so it is not decompressed again. The walk
/// noted every valid marker under the root; one outside it (a cargo home's areas
/// are scanned apart) is read directly.
fn vouched_for(archive: &Archive, facts: &Facts) -> bool {
    let (Some(marker), Some(archive_time)) = (&archive.marker, archive.modified) else {
        return false;
    };
    let marker_time = if facts.covers(marker) {
        facts.notes.get(marker).copied()
    } else {
        valid_marker_time(marker)
    };
    marker_time.is_some_and(|t| written_after(t, archive_time))
}

/// `later` is surely after `earlier`. Tools that copy with whole-second times (busybox
/// `cp -a` and `mv` across file systems, old tar formats) can make an archive cut
/// later look no newer than its marker, so a whole-second time must trail by a second.
fn written_after(later: SystemTime, earlier: SystemTime) -> bool {
    let whole_second = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(true, |d| d.subsec_nanos() == 0)
    };
    if whole_second(later) || whole_second(earlier) {
        later >= earlier + std::time::Duration::from_secs(1)
    } else {
        later > earlier
    }
}

fn valid_marker_time(marker: &Path) -> Option<SystemTime> {
    let md = std::fs::symlink_metadata(marker).ok()?;
    if !md.is_file() || md.len() > MARKER_READ_LIMIT {
        return None;
    }
    let content = std::fs::read(marker).ok()?;
    marker_is_valid(&content).then_some(())?;
    md.modified().ok()
}

fn check_crate(archive: Archive, facts: &Facts) -> Verdict {
    let rel = archive.rel.clone();
    let corrupt = |why: String| {
        Verdict::Broken(Candidate {
            kind: FindingKind::CargoCorruptCrate,
            rel: rel.clone(),
            detail: format!(
                "not a complete gzip+tar stream ({why}): cargo trusts it and fails with \
                 'failed to unpack package'"
            ),
            size: PartSize::Bytes(archive.len),
        })
    };
    if archive.len == 0 {
        return corrupt("empty file: the download never got written".to_string());
    }
    if vouched_for(&archive, facts) {
        return Verdict::Fine;
    }
    let file = match File::open(&archive.abs) {
        Ok(f) => f,
        // Removed since the directory was listed: nothing left to judge.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Verdict::Fine,
        Err(e) => return Verdict::Unreadable(rel, e),
    };
    match verify_stream(file) {
        Ok(()) => Verdict::Fine,
        Err(Defect::Corrupt(why)) => corrupt(why),
        Err(Defect::Unreadable(e)) => Verdict::Unreadable(rel, e),
    }
}

#[derive(Debug)]
pub enum Defect {
    /// The bytes are not a whole gzip+tar stream; why, in words.
    Corrupt(String),
    /// The file could not be read: no verdict.
    Unreadable(io::Error),
}

/// Counts bytes and remembers whether the file itself failed (as opposed to the
/// format), so a disk error is never reported as a corrupt archive.
struct Tracked<R> {
    inner: R,
    read: u64,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => {
                let again = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(again)
            }
        }
    }
}

/// Decompresses the whole stream, walks every tar header to the end of the archive,
/// and reads on to the gzip trailer, whose CRC and length the decoder checks.
pub fn verify_stream(file: impl Read) -> Result<(), Defect> {
    let mut src = Tracked {
        inner: BufReader::with_capacity(128 * 1024, file),
        read: 0,
        failed: None,
    };
    let result = walk_archive(&mut src);
    if let Some(e) = src.failed {
        return Err(Defect::Unreadable(e));
    }
    match result {
        Ok(0) => Err(Defect::Corrupt("the archive holds no files".to_string())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Defect::Corrupt(format!(
            "the stream ends early, after {} bytes: the download was cut off",
            src.read
        ))),
        Err(e) => Err(Defect::Corrupt(e.to_string())),
    }
}

fn walk_archive<R: Read>(src: &mut R) -> io::Result<u64> {
    let mut archive = tar::Archive::new(GzDecoder::new(src));
    let mut files = 0;
    for entry in archive.entries()? {
        entry?;
        files += 1;
    }
    io::copy(&mut archive.into_inner(), &mut io::sink())?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::detectors::Found;
    use crate::scan::walk::walk;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::fs;

    const REG: &str = "index.crates.io-1949cf8c6b5b557f";

    /// A real gzip+tar archive laid out as `cargo package` makes it.
    pub fn crate_bytes(name: &str, files: usize) -> Vec<u8> {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for i in 0..files {
            let body = format!("// file {i} of {name}\n").repeat(50);
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("{name}/src/f{i}.rs"), body.as_bytes())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn findings(root: &Path) -> Vec<(String, FindingKind, PartSize)> {
        let t = walk(root, Path::new("/usr/local/cargo/registry"), &[&Cargo]);
        let mut v: Vec<_> = t
            .candidates
            .into_iter()
            .map(|c| (c.rel.to_string_lossy().into_owned(), c.kind, c.size))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn src_dir(root: &Path, name: &str, marker: Option<&[u8]>) -> PathBuf {
        let d = root.join("src").join(REG).join(name);
        fs::create_dir_all(d.join("src")).unwrap();
        fs::write(d.join("Cargo.toml"), "[package]\n").unwrap();
        if let Some(m) = marker {
            fs::write(d.join(MARKER), m).unwrap();
        }
        d
    }

    #[test]
    fn registry_dir_names() {
        assert!(is_registry_dir(OsStr::new(REG)));
        assert!(is_registry_dir(OsStr::new("github.com-1ecc6299db9ec823")));
        assert!(!is_registry_dir(OsStr::new("serde-1.0.200")));
        assert!(!is_registry_dir(OsStr::new("x-1ECC6299DB9EC823")));
        assert!(!is_registry_dir(OsStr::new("-1ecc6299db9ec823")));
    }

    #[test]
    fn markers_are_judged_as_cargo_judges_them() {
        assert!(marker_is_valid(br#"{"v":1}"#));
        assert!(marker_is_valid(b"{\"v\": 1}\n"));
        assert!(!marker_is_valid(b""));
        assert!(!marker_is_valid(b"ok"));
        assert!(!marker_is_valid(br#"{"v":2}"#));
        assert!(!marker_is_valid(br#"{"v":1"#));
    }

    #[test]
    fn extracted_crates_missing_and_torn_markers() {
        let d = tempfile::tempdir().unwrap();
        src_dir(d.path(), "whole-1.0.0", Some(br#"{"v":1}"#));
        src_dir(d.path(), "half-1.0.0", None);
        src_dir(d.path(), "empty-1.0.0", Some(b""));
        src_dir(d.path(), "old-1.0.0", Some(b"ok"));
        let got = findings(d.path());
        let kinds: Vec<(&str, FindingKind)> =
            got.iter().map(|(p, k, _)| (p.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "src/index.crates.io-1949cf8c6b5b557f/empty-1.0.0",
                    FindingKind::CargoTornMarker
                ),
                (
                    "src/index.crates.io-1949cf8c6b5b557f/half-1.0.0",
                    FindingKind::CargoPartialExtraction
                ),
                (
                    "src/index.crates.io-1949cf8c6b5b557f/old-1.0.0",
                    FindingKind::CargoTornMarker
                ),
            ]
        );
        assert!(got.iter().all(|(_, _, s)| matches!(s, PartSize::Dir(_))));
    }

    #[test]
    fn only_directories_in_the_registry_layout_are_judged() {
        let d = tempfile::tempdir().unwrap();
        // A project's own src/ with versioned-looking directories is not a registry.
        fs::create_dir_all(d.path().join("src/plugins/foo-1.0.0")).unwrap();
        fs::create_dir_all(d.path().join("src/not-a-registry/bar-2.0.0")).unwrap();
        assert!(findings(d.path()).is_empty());
    }

    #[test]
    fn the_registry_may_be_the_mount_itself_or_above_it() {
        // A mount of `registry/src/<reg>` alone: the names come from the mount target.
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("half-1.0.0")).unwrap();
        let t = walk(
            d.path(),
            Path::new(&format!("/usr/local/cargo/registry/src/{REG}")),
            &[&Cargo],
        );
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(t.candidates[0].rel, Path::new("half-1.0.0"));
    }

    fn cache_file(root: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let dir = root.join("cache").join(REG);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn crate_archives_must_be_whole() {
        let d = tempfile::tempdir().unwrap();
        let whole = crate_bytes("whole-1.0.0", 30);
        cache_file(d.path(), "whole-1.0.0.crate", &whole);
        cache_file(d.path(), "cut-1.0.0.crate", &whole[..whole.len() / 2]);
        cache_file(d.path(), "tail-1.0.0.crate", &whole[..whole.len() - 3]);
        cache_file(d.path(), "empty-1.0.0.crate", b"");
        cache_file(d.path(), "html-1.0.0.crate", b"<html>rate limited</html>");
        let mut noise = whole.clone();
        let mid = noise.len() / 2;
        noise[mid] ^= 0xff;
        cache_file(d.path(), "flipped-1.0.0.crate", &noise);
        cache_file(d.path(), "notes.txt", b"not an archive, not judged");
        let got = findings(d.path());
        let names: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "cache/index.crates.io-1949cf8c6b5b557f/cut-1.0.0.crate",
                "cache/index.crates.io-1949cf8c6b5b557f/empty-1.0.0.crate",
                "cache/index.crates.io-1949cf8c6b5b557f/flipped-1.0.0.crate",
                "cache/index.crates.io-1949cf8c6b5b557f/html-1.0.0.crate",
                "cache/index.crates.io-1949cf8c6b5b557f/tail-1.0.0.crate",
            ]
        );
        let cut = &got[0];
        assert_eq!(cut.2, PartSize::Bytes(whole.len() as u64 / 2));
        assert!(
            got.iter()
                .all(|(_, k, _)| *k == FindingKind::CargoCorruptCrate)
        );
    }

    #[test]
    fn a_truncated_archive_says_where_it_ends() {
        let whole = crate_bytes("x-1.0.0", 20);
        let cut = &whole[..whole.len() / 3];
        match verify_stream(cut) {
            Err(Defect::Corrupt(why)) => {
                assert!(why.contains("ends early"), "{why}");
                assert!(why.contains(&cut.len().to_string()), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert!(verify_stream(&whole[..]).is_ok());
    }

    #[test]
    fn a_marker_newer_than_the_archive_vouches_for_it_but_an_older_one_does_not() {
        let d = tempfile::tempdir().unwrap();
        let whole = crate_bytes("x-1.0.0", 5);
        // Corrupt in the middle, with plausible ends: only decompression can tell.
        let mut bad = whole.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let marker = src_dir(d.path(), "x-1.0.0", Some(br#"{"v":1}"#)).join(MARKER);
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&marker)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let p = cache_file(d.path(), "x-1.0.0.crate", &bad);
        // The archive changed after extraction: it is checked, and found broken.
        let got = findings(d.path());
        assert_eq!(got.len(), 1, "{got:?}");
        // Extracted after the archive was written: cargo read it whole back then.
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old - std::time::Duration::from_secs(60))
            .unwrap();
        assert!(findings(d.path()).is_empty());
    }

    #[test]
    fn a_whole_second_time_in_the_markers_second_does_not_vouch() {
        let d = tempfile::tempdir().unwrap();
        let whole = crate_bytes("y-1.0.0", 5);
        let cut = &whole[..whole.len() / 2];
        let marker = src_dir(d.path(), "y-1.0.0", Some(br#"{"v":1}"#)).join(MARKER);
        let second = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
        let set = |p: &Path, t: SystemTime| {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(t)
                .unwrap()
        };
        set(&marker, second + std::time::Duration::from_millis(900));
        // Cut later in the same second, and copied with whole-second precision.
        let p = cache_file(d.path(), "y-1.0.0.crate", cut);
        set(&p, second);
        assert_eq!(findings(d.path()).len(), 1);
        // A second earlier, it is the archive cargo unpacked.
        set(&p, second - std::time::Duration::from_secs(1));
        assert!(findings(d.path()).is_empty());
    }

    #[test]
    fn git_checkouts_need_their_marker() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("git/checkouts/mylib-0123456789abcdef");
        fs::create_dir_all(repo.join("a1b2c3d/src")).unwrap();
        fs::write(repo.join("a1b2c3d").join(MARKER), b"").unwrap();
        fs::create_dir_all(repo.join("e4f5a6b/src")).unwrap();
        let t = walk(d.path(), d.path(), &[&Cargo]);
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(
            t.candidates[0].kind,
            FindingKind::CargoGitCheckoutIncomplete
        );
        assert_eq!(
            t.candidates[0].rel,
            Path::new("git/checkouts/mylib-0123456789abcdef/e4f5a6b")
        );
    }

    #[test]
    fn found_ignores_the_root_itself() {
        let mut f = Found::default();
        f.part(
            FindingKind::CargoTornMarker,
            PathBuf::new(),
            String::new(),
            PartSize::Bytes(1),
        );
        assert!(f.candidates().is_empty());
    }
}
