//! Go's module download cache (`$GOMODCACHE/cache/download/<module>/@v/`): a
//! `*.partial` file is a download `go` did not finish (`go.partial_download`).

use std::os::unix::ffi::OsStrExt;

use super::{Detector, DirView, Found, Kind};
use crate::model::FindingKind;

pub struct Go;

impl Detector for Go {
    fn name(&self) -> &'static str {
        "go"
    }

    fn visit(&self, dir: &DirView<'_>, found: &mut Found) {
        let partials = dir
            .children
            .iter()
            .filter(|c| c.kind != Kind::Dir && c.name.as_bytes().ends_with(b".partial"));
        let mut in_download_cache = None;
        for child in partials {
            // Only inside `cache/download`, wherever the module cache is mounted.
            let inside = *in_download_cache.get_or_insert_with(|| under_download_cache(dir));
            if inside {
                found.child_part(
                    dir,
                    child,
                    FindingKind::GoPartialDownload,
                    "a module download go did not finish".to_string(),
                );
            }
        }
    }
}

fn under_download_cache(dir: &DirView<'_>) -> bool {
    let names: Vec<_> = dir.names().collect();
    names
        .windows(2)
        .any(|w| w[0] == "download" && w[1] == "cache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::walk::walk;
    use std::fs;
    use std::path::Path;

    #[test]
    fn partial_downloads_in_the_module_cache_only() {
        let d = tempfile::tempdir().unwrap();
        let v = d.path().join("cache/download/golang.org/x/text/@v");
        fs::create_dir_all(&v).unwrap();
        fs::write(v.join("v0.14.0.zip"), vec![0u8; 50]).unwrap();
        fs::write(v.join("v0.15.0.zip.partial"), vec![0u8; 20]).unwrap();
        fs::write(v.join("v0.15.0.partial"), vec![0u8; 10]).unwrap();
        fs::create_dir_all(d.path().join("golang.org/x/text@v0.14.0")).unwrap();
        fs::write(
            d.path().join("golang.org/x/text@v0.14.0/notes.partial"),
            b"x",
        )
        .unwrap();
        let t = walk(d.path(), Path::new("/go/pkg/mod"), &[&Go]);
        let mut rels: Vec<_> = t.candidates.iter().map(|c| c.rel.clone()).collect();
        rels.sort();
        assert_eq!(
            rels,
            vec![
                Path::new("cache/download/golang.org/x/text/@v/v0.15.0.partial"),
                Path::new("cache/download/golang.org/x/text/@v/v0.15.0.zip.partial"),
            ]
        );
        assert!(
            t.candidates
                .iter()
                .all(|c| c.kind == FindingKind::GoPartialDownload)
        );
    }
}
