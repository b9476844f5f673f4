//! Budget (design.md §7): scanning a 100,000-file tree, detectors included, takes no
//! more wall time than `du -s` on the same warm tree. Also reported: the ratio to
//! `find -printf '%s\n'` (about the floor: one stat per file), and a whole
//! `cachetop --dir TREE report --json` for reference.
//!
//!     cargo bench --bench scan
//!
//! The tree is what a runner's shared cache mounts hold: a cargo registry (extracted
//! crates with their `.crate` archives, real gzip+tar), npm's `_cacache`, a Go module
//! cache, apt archives and an sccache directory, with a few broken parts planted so
//! the detectors have work to do. Every command runs as a child process, timed the
//! same way; the scan child is this binary with `--scan TREE`.

mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use cachetop::scan::{detectors, scan_dir};
use flate2::Compression;
use flate2::write::GzEncoder;
use support::{measure, median, ms};

const FILES: usize = 100_000;
const CRATES: usize = 2_000;
const FILES_PER_CRATE: usize = 44;
const RUNS: usize = 9;
const REG: &str = "index.crates.io-1949cf8c6b5b557f";

/// What the planted broken parts must make the scan find.
const PLANTED: usize = 10 + 5 + 5 + 1 + 1 + 1 + 1;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--scan") {
        let tree = Path::new(&args[2]);
        let s = scan_dir(tree, tree, detectors::all()).expect("scan");
        println!("{} {} {}", s.files, s.disk_bytes, s.parts.len());
        return;
    }
    // CACHETOP_BENCH_TREE=DIR keeps the tree there between runs (made when absent).
    let keep = std::env::var_os("CACHETOP_BENCH_TREE").map(std::path::PathBuf::from);
    let dir = tempfile::Builder::new()
        .prefix("cachetop-scan-bench")
        .tempdir()
        .unwrap();
    let tree = keep.clone().unwrap_or_else(|| dir.path().join("tree"));
    if keep.is_none() || !tree.join("registry").is_dir() {
        let made = make_tree(&tree);
        assert_eq!(made, FILES, "the tree must hold exactly {FILES} files");
    }

    let me = std::env::current_exe().unwrap();
    // The scan must see every file and every planted part, or the timing means nothing.
    let out = Command::new(&me).arg("--scan").arg(&tree).output().unwrap();
    let counts = String::from_utf8(out.stdout).unwrap();
    let counts: Vec<u64> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(counts[0] as usize, FILES, "files seen");
    assert_eq!(counts[2] as usize, PLANTED, "broken parts found");

    // Warm the page cache and the dentry cache.
    for _ in 0..2 {
        assert!(measure(Command::new("du").arg("-s").arg(&tree)).ok);
    }
    let bin = env!("CARGO_BIN_EXE_cachetop");
    let (mut du, mut find, mut scan, mut report) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let r = measure(Command::new("du").arg("-s").arg(&tree));
        assert!(r.ok);
        du.push(r.wall);
        let r = measure(Command::new("find").arg(&tree).args(["-printf", "%s\\n"]));
        assert!(r.ok);
        find.push(r.wall);
        let r = measure(Command::new(&me).arg("--scan").arg(&tree));
        assert!(r.ok);
        scan.push(r.wall);
        let r = measure(
            Command::new(bin)
                .args(["--no-docker", "--no-cargo-home", "--dir"])
                .arg(&tree)
                .args(["report", "--json"])
                .env("XDG_CONFIG_HOME", "/nonexistent"),
        );
        report.push(r.wall);
    }
    let (du, find, scan, report) = (median(du), median(find), median(scan), median(report));
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "tree: {FILES} files ({CRATES} crates with archives, npm, go, apt, sccache), warm cache, {RUNS} runs, {} cores",
        cores()
    );
    println!("| command | median wall | scan / it |");
    println!("|---|---:|---:|");
    println!(
        "| scan with detectors (`scan_dir`) | {:.1} ms | 1.00 |",
        ms(scan)
    );
    println!("| `du -s` | {:.1} ms | {:.2} |", ms(du), ratio(scan, du));
    println!(
        "| `find -printf '%s\\n'` | {:.1} ms | {:.2} |",
        ms(find),
        ratio(scan, find)
    );
    println!(
        "| `cachetop --dir TREE report --json` (list + scan) | {:.1} ms | {:.2} |",
        ms(report),
        ratio(scan, report)
    );
    let budget = ratio(scan, du);
    println!("scan / du -s = {budget:.2} (budget: at most 1.0)");
    drop(dir);
    if budget > 1.0 {
        std::process::exit(1);
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn write(path: &Path, bytes: &[u8]) -> usize {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    1
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A crate's files, as `cargo package` would lay them out.
fn crate_files(name: &str, i: usize) -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        (
            "Cargo.toml".to_string(),
            format!("[package]\nname = \"{name}\"\nversion = \"1.0.{i}\"\n").into_bytes(),
        ),
        ("Cargo.toml.orig".to_string(), b"[package]\n".to_vec()),
        ("README.md".to_string(), vec![b'r'; 1500]),
        ("LICENSE-MIT".to_string(), vec![b'l'; 1000]),
        (".cargo_vcs_info.json".to_string(), b"{}".to_vec()),
    ];
    while v.len() < FILES_PER_CRATE {
        let n = v.len();
        let sub = ["src", "src/imp", "tests", "benches", "examples"][n % 5];
        let body = format!("// {name} file {n}\npub fn f{n}() -> usize {{ {n} }}\n")
            .repeat(1 + (n * 7 + i) % 40);
        v.push((format!("{sub}/f{n}.rs"), body.into_bytes()));
    }
    v
}

fn archive(name: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("{name}/{path}"), &body[..])
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Builds the tree; returns how many files it holds.
fn make_tree(root: &Path) -> usize {
    let mut n = 0;
    let long_ago = SystemTime::now() - Duration::from_secs(30 * 86_400);
    let src = root.join("registry/src").join(REG);
    let cache = root.join("registry/cache").join(REG);
    print!("making the tree ...");
    std::io::stdout().flush().unwrap();
    for i in 0..CRATES {
        let name = format!("crate{i:04}");
        let dir_name = format!("{name}-1.0.{i}");
        let files = crate_files(&name, i);
        let bytes = archive(&dir_name, &files);
        let crate_path = cache.join(format!("{dir_name}.crate"));
        // Planted: 5 archives cut off after extraction (newer than the marker).
        let cut = (100..105).contains(&i);
        n += write(
            &crate_path,
            if cut {
                &bytes[..bytes.len() / 2]
            } else {
                &bytes
            },
        );
        if !cut {
            set_mtime(&crate_path, long_ago);
        }
        let dir = src.join(&dir_name);
        for (path, body) in &files {
            n += write(&dir.join(path), body);
        }
        // Planted: 10 half-extracted (no marker), 5 torn markers.
        let marker: &[u8] = if (10..20).contains(&i) {
            b"-"
        } else if (20..25).contains(&i) {
            b""
        } else {
            br#"{"v":1}"#
        };
        if marker != b"-" {
            n += write(&dir.join(".cargo-ok"), marker);
            if cut {
                // Extracted long before the archive was cut.
                set_mtime(&dir.join(".cargo-ok"), long_ago);
            }
        } else {
            // Keep the file count: the marker's place is taken by a stray file.
            n += write(&dir.join("src/partial.rs"), b"// cut\n");
        }
    }
    for i in 0..300 {
        n += write(
            &root.join(format!("apt/archives/pkg{i}_1.0_amd64.deb")),
            &vec![b'd'; 2000 + i],
        );
    }
    n += write(&root.join("apt/archives/lock"), b"");
    n += write(
        &root.join("apt/archives/partial/curl_8.5.0_amd64.deb"),
        &[b'p'; 700],
    );
    for i in 0..250 {
        let m = root.join(format!("go/pkg/mod/cache/download/example.com/m{i}/@v"));
        n += write(&m.join("list"), b"v1.0.0\n");
        n += write(&m.join("v1.0.0.info"), b"{}");
        n += write(&m.join("v1.0.0.mod"), b"module x\n");
        n += write(&m.join("v1.0.0.zip"), &vec![b'z'; 3000]);
    }
    n += write(
        &root.join("go/pkg/mod/cache/download/example.com/m0/@v/v1.1.0.zip.partial"),
        &[b'z'; 100],
    );
    for i in 0..700 {
        n += write(
            &root.join(format!("sccache/{:x}/{:x}/{i:032x}", i % 16, i / 16 % 16)),
            &vec![b'o'; 4000],
        );
    }
    n += write(&root.join("sccache/0/0/.sccachetmpA1b2"), &[b'o'; 100]);
    n += write(&root.join("npm/_cacache/tmp/1a2b3c"), &[b't'; 300]);
    let mut i = 0;
    while n < FILES {
        let h = format!("{:040x}", i * 2_654_435_761usize);
        let file = if i % 3 == 0 {
            root.join(format!(
                "npm/_cacache/index-v5/{}/{}/{}",
                &h[..2],
                &h[2..4],
                &h[4..]
            ))
        } else {
            root.join(format!(
                "npm/_cacache/content-v2/sha512/{}/{}/{}",
                &h[..2],
                &h[2..4],
                &h[4..]
            ))
        };
        if !file.exists() {
            n += write(&file, &vec![b'c'; 200 + i % 5000]);
        }
        i += 1;
    }
    println!(" {n} files under {}", root.display());
    n
}
