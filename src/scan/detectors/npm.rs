//! npm's content cache (`_cacache`): writes go to `tmp/` and are then moved into
//! place, so anything left in `_cacache/tmp` is an interrupted write
//! (`npm.interrupted_write`).

use super::{Detector, DirView, Found, is};
use crate::model::FindingKind;

pub struct Npm;

impl Detector for Npm {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn visit(&self, dir: &DirView<'_>, found: &mut Found) {
        if !(is(dir.name(0), "tmp") && is(dir.name(1), "_cacache")) {
            return;
        }
        for child in dir.children {
            found.child_part(
                dir,
                child,
                FindingKind::NpmInterruptedWrite,
                "an npm cache write that never moved into place".to_string(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::detectors::PartSize;
    use crate::scan::walk::walk;
    use std::fs;
    use std::path::Path;

    #[test]
    fn everything_in_cacache_tmp_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("_cacache");
        fs::create_dir_all(c.join("tmp/9f8e7d")).unwrap();
        fs::write(c.join("tmp/9f8e7d/part"), vec![0u8; 300]).unwrap();
        fs::write(c.join("tmp/a1b2c3"), vec![0u8; 40]).unwrap();
        fs::create_dir_all(c.join("content-v2/sha512/ab/cd")).unwrap();
        fs::write(c.join("content-v2/sha512/ab/cd/ef"), vec![0u8; 999]).unwrap();
        fs::create_dir_all(d.path().join("tmp")).unwrap();
        fs::write(d.path().join("tmp/other"), b"x").unwrap();
        let t = walk(d.path(), Path::new("/root/.npm"), &[&Npm]);
        let mut got: Vec<_> = t
            .candidates
            .iter()
            .map(|c| {
                let size = match c.size {
                    PartSize::Bytes(b) => b,
                    PartSize::Dir(n) => t.nodes[n as usize].subtree_bytes,
                };
                (c.rel.clone(), size)
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (Path::new("_cacache/tmp/9f8e7d").to_path_buf(), 300),
                (Path::new("_cacache/tmp/a1b2c3").to_path_buf(), 40),
            ]
        );
    }
}
