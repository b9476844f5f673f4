//! apt's download area: `archives/partial/` is the "storage area for package files in
//! transit" (apt-get(8)); anything left there but the `lock` file is an interrupted
//! download (`apt.partial_download`).

use super::{Detector, DirView, Found, Kind, is};
use crate::model::FindingKind;

pub struct Apt;

impl Detector for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn visit(&self, dir: &DirView<'_>, found: &mut Found) {
        if !(is(dir.name(0), "partial") && is(dir.name(1), "archives")) {
            return;
        }
        for child in dir.children {
            if child.kind == Kind::Dir || child.name == "lock" {
                continue;
            }
            found.child_part(
                dir,
                child,
                FindingKind::AptPartialDownload,
                "left in archives/partial/ by an interrupted apt download".to_string(),
            );
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
    fn leftovers_in_partial_but_not_the_lock_or_finished_debs() {
        let d = tempfile::tempdir().unwrap();
        let partial = d.path().join("archives/partial");
        fs::create_dir_all(&partial).unwrap();
        fs::write(partial.join("lock"), b"").unwrap();
        fs::write(partial.join("curl_8.5.0-2_amd64.deb"), vec![0u8; 700]).unwrap();
        fs::write(d.path().join("archives/jq_1.7_amd64.deb"), vec![0u8; 900]).unwrap();
        fs::write(d.path().join("archives/lock"), b"").unwrap();
        // Mounted at /var/cache/apt: the names come from the mount target's tail.
        let t = walk(d.path(), Path::new("/var/cache/apt"), &[&Apt]);
        assert_eq!(t.candidates.len(), 1);
        let c = &t.candidates[0];
        assert_eq!(c.kind, FindingKind::AptPartialDownload);
        assert_eq!(c.rel, Path::new("archives/partial/curl_8.5.0-2_amd64.deb"));
        assert_eq!(c.size, super::super::PartSize::Bytes(700));
    }

    #[test]
    fn a_mount_of_the_partial_directory_itself_has_nothing_to_remove_but_its_files() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x.deb"), b"abc").unwrap();
        let t = walk(
            d.path(),
            Path::new("/var/cache/apt/archives/partial"),
            &[&Apt],
        );
        assert_eq!(t.candidates.len(), 1);
        assert_eq!(t.candidates[0].rel, Path::new("x.deb"));
        // A directory named partial elsewhere is not apt's.
        let t = walk(d.path(), Path::new("/srv/partial"), &[&Apt]);
        assert!(t.candidates.is_empty());
    }
}
