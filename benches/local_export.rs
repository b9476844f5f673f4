//! Budget (issue 6): on a `type=local` cache export with 20,000 blobs, listing the
//! blobs, walking the graph from index.json and flagging the orphans take no longer
//! than `du -s` on the same (warm) directory.
//!
//!     cargo bench --bench local_export
//!
//! The directory holds 100 exports of 200 blobs each (198 layers, a cache config and a
//! cache index); index.json names the last one, so 19,800 blobs are orphaned. Also
//! printed: the whole `cachetop --dir D report --json` (process start and 20,000 JSON
//! entries included) and its peak RSS, for information.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cachetop::model::Flag;
use cachetop::sources::Source;
use cachetop::sources::local_export::LocalExportSource;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use support::{measure, median, ms};

const EXPORTS: usize = 100;
const LAYERS: usize = 198;
const RUNS: usize = 25;

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn write_blob(root: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    std::fs::write(
        root.join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap()),
        bytes,
    )
    .unwrap();
    d
}

/// One export: layers of 1-4 KiB, a cache config, a cache index. Returns the index.json entry.
fn export(root: &Path, n: usize) -> serde_json::Value {
    let mut descs = Vec::new();
    let mut blobs = Vec::new();
    for i in 0..LAYERS {
        let size = 1024 + (i * 37 % 3072);
        let mut bytes = format!("export {n} layer {i} ").into_bytes();
        bytes.resize(size, b'x');
        let d = write_blob(root, &bytes);
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d,
                          "size": size, "annotations": {"buildkit/createdat": "2026-01-01T00:00:00Z"}}));
        blobs.push(d);
    }
    let cfg = serde_json::to_vec(
        &json!({"layers": blobs.iter().map(|d| json!({"blob": d})).collect::<Vec<_>>(),
                                         "records": []}),
    )
    .unwrap();
    let cfg_d = write_blob(root, &cfg);
    descs.push(json!({"mediaType": "application/vnd.buildkit.cacheconfig.v0", "digest": cfg_d, "size": cfg.len()}));
    let idx = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                         "manifests": descs}),
    )
    .unwrap();
    let idx_d = write_blob(root, &idx);
    json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": idx_d, "size": idx.len(),
           "annotations": {"org.opencontainers.image.ref.name": "latest"}})
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut last = json!(null);
    for n in 0..EXPORTS {
        last = export(root, n);
    }
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [last]})).unwrap(),
    )
    .unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = LocalExportSource::new(root);
    // Warm the directory, and check the work is the real one.
    let du_warm = Command::new("du").arg("-s").arg(root).output().unwrap();
    assert!(du_warm.status.success());
    let listing = runtime.block_on(source.list()).expect("list the export");
    let orphaned = listing
        .entries
        .iter()
        .filter(|e| e.has(Flag::Orphaned))
        .count();
    assert_eq!(listing.entries.len(), EXPORTS * (LAYERS + 2));
    assert_eq!(orphaned, (EXPORTS - 1) * (LAYERS + 2));

    // Each run times both back to back; the budget is on the median of those paired
    // ratios, which cancels the load other processes put on a shared machine.
    let (mut ours, mut du, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let l = runtime.block_on(source.list()).unwrap();
        let a = start.elapsed();
        drop(l);
        let d = measure(Command::new("du").arg("-s").arg(root));
        assert!(d.ok);
        ours.push(a);
        du.push(d.wall);
        ratios.push(a.as_secs_f64() / d.wall.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let bin = env!("CARGO_BIN_EXE_cachetop");
    let mut whole = Vec::new();
    let mut rss = 0;
    for _ in 0..RUNS {
        let r = measure(
            Command::new(bin)
                .args(["--no-docker", "--dir"])
                .arg(root)
                .args(["report", "--json"])
                .env("XDG_CONFIG_HOME", "/nonexistent"),
        );
        assert!(r.ok);
        whole.push(r.wall);
        rss = rss.max(r.peak_rss_kib);
    }
    let (a, b, c) = (median(ours), median(du), median(whole));
    println!("blobs: {}, orphaned: {orphaned}", listing.entries.len());
    println!(
        "list + graph walk + orphans (in process): median {:.1} ms over {RUNS} runs",
        ms(a)
    );
    println!(
        "du -s:                                     median {:.1} ms over {RUNS} runs",
        ms(b)
    );
    println!("ratio (median of {RUNS} paired runs): {ratio:.2} (budget: at most 1.0)");
    println!(
        "whole `cachetop --no-docker --dir D report --json`: median {:.1} ms, peak RSS {:.1} MB",
        ms(c),
        rss as f64 / 1024.0
    );
    if ratio > 1.0 {
        std::process::exit(1);
    }
}
