//! Detectors recognise a cache layout anywhere inside a scanned root (a mount of the
//! whole cargo home, of `registry/` only, of `/var/cache/apt`...) by the names of a
//! directory and its ancestors, and report the broken parts they find.
//!
//! Each looks at one directory at a time during the walk; work that reads a whole
//! file (checking a `.crate`) is handed back as a check the walk runs in parallel.

pub mod apt;
pub mod cargo;
pub mod go;
pub mod npm;
pub mod sccache;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use super::walk::{Child, DirView, Kind};
use crate::model::FindingKind;

/// What removing a broken part frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSize {
    /// A file of this size.
    Bytes(u64),
    /// Everything under the directory with this node id (known after the walk).
    Dir(u32),
}

/// A broken part, before its size is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub kind: FindingKind,
    /// Relative to the content root; never empty (the root itself is never a part).
    pub rel: PathBuf,
    pub detail: String,
    pub size: PartSize,
}

/// The verdict of a check that reads a file.
#[derive(Debug)]
pub enum Verdict {
    Fine,
    Broken(Candidate),
    /// No verdict: the file could not be read (it is counted, never guessed at).
    Unreadable(PathBuf, std::io::Error),
}

/// Work that reads file contents, run on the walk's pool.
pub type Check = Box<dyn FnOnce() -> Verdict + Send>;

/// Work that needs what the whole walk noted, run after it.
pub type AfterCheck = Box<dyn FnOnce(&Facts) -> Verdict + Send>;

/// What detectors noted during a walk, for the checks that run after it.
#[derive(Debug, Default)]
pub struct Facts {
    /// The scanned root on disk.
    pub root: PathBuf,
    /// Paths a detector vouched for, with their modification times.
    pub notes: HashMap<PathBuf, SystemTime>,
}

impl Facts {
    /// True when `path` lies under the scanned root, so the walk saw it if it exists.
    pub fn covers(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }
}

/// What detectors report for one directory.
#[derive(Default)]
pub struct Found {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) checks: Vec<Check>,
    pub(crate) unreadable: Vec<(PathBuf, std::io::Error)>,
    pub(crate) notes: Vec<(PathBuf, SystemTime)>,
    pub(crate) after: Vec<AfterCheck>,
}

impl Found {
    pub fn part(&mut self, kind: FindingKind, rel: PathBuf, detail: String, size: PartSize) {
        if rel.as_os_str().is_empty() {
            return;
        }
        self.candidates.push(Candidate {
            kind,
            rel,
            detail,
            size,
        });
    }

    /// A child of the directory being visited, sized as what it is.
    pub fn child_part(
        &mut self,
        dir: &DirView<'_>,
        child: &Child<'_>,
        kind: FindingKind,
        detail: String,
    ) {
        let size = match child.node {
            Some(node) => PartSize::Dir(node),
            None => PartSize::Bytes(child.len),
        };
        self.part(kind, dir.rel.join(child.name), detail, size);
    }

    pub fn later(&mut self, check: impl FnOnce() -> Verdict + Send + 'static) {
        self.checks.push(Box::new(check));
    }

    /// Work to run once the whole walk is done, with what detectors noted.
    pub fn after_walk(&mut self, check: impl FnOnce(&Facts) -> Verdict + Send + 'static) {
        self.after.push(Box::new(check));
    }

    /// Vouches for a path (e.g. a valid marker), with its modification time.
    pub fn note(&mut self, path: PathBuf, modified: SystemTime) {
        self.notes.push((path, modified));
    }

    /// A file the detector needed but could not read: no verdict, but counted.
    pub fn unreadable(&mut self, rel: PathBuf, err: std::io::Error) {
        self.unreadable.push((rel, err));
    }

    /// The candidates found so far (for detector tests).
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }
}

pub trait Detector: Sync {
    fn name(&self) -> &'static str;
    fn visit(&self, dir: &DirView<'_>, found: &mut Found);
}

/// Every detector, in the order their findings are reported.
pub fn all() -> &'static [&'static dyn Detector] {
    &[
        &cargo::Cargo,
        &apt::Apt,
        &go::Go,
        &npm::Npm,
        &sccache::Sccache,
    ]
}

/// True when `name` equals `want` (names are bytes, compared exactly).
pub fn is(name: Option<&std::ffi::OsStr>, want: &str) -> bool {
    name.is_some_and(|n| n == want)
}
