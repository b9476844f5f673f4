//! sccache's local disk cache: pending writes are `.sccachetmp*` files, deleted on
//! startup; a stray one means a crash mid-write (`sccache.interrupted_write`).

use std::os::unix::ffi::OsStrExt;

use super::{Detector, DirView, Found, Kind};
use crate::model::FindingKind;

pub struct Sccache;

const PREFIX: &[u8] = b".sccachetmp";

impl Detector for Sccache {
    fn name(&self) -> &'static str {
        "sccache"
    }

    fn visit(&self, dir: &DirView<'_>, found: &mut Found) {
        for child in dir.children {
            if child.kind != Kind::Dir && child.name.as_bytes().starts_with(PREFIX) {
                found.child_part(
                    dir,
                    child,
                    FindingKind::SccacheInterruptedWrite,
                    "a cache write sccache did not finish".to_string(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::walk::walk;
    use std::fs;
    use std::path::Path;

    #[test]
    fn stray_temp_files_anywhere_in_the_cache() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/b/abcdef0123"), vec![0u8; 64]).unwrap();
        fs::write(d.path().join("a/b/.sccachetmpXy12"), vec![0u8; 32]).unwrap();
        fs::write(d.path().join("sccachetmp-not-hidden"), b"x").unwrap();
        let t = walk(d.path(), Path::new("/root/.cache/sccache"), &[&Sccache]);
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(t.candidates[0].rel, Path::new("a/b/.sccachetmpXy12"));
        assert_eq!(t.candidates[0].kind, FindingKind::SccacheInterruptedWrite);
    }
}
