//! `cachetop report`: every entry as a table, the versioned JSON document or Prometheus
//! metrics, on stdout or written atomically to a file.

use std::fs::{self, OpenOptions};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Exit, UsageError, build_sources, collect, terminal_width};
use crate::cli::{ReportArgs, ReportFormat};
use crate::config::Settings;
use crate::filesystems::{self, Disks};
use crate::inventory::{Inventory, Scan};
use crate::model::{Entry, SourceRef};
use crate::prune::fill_reclaimable;
use crate::report::origins::{Origins, render_origins};
use crate::report::{json, prometheus, table};
use crate::scan::OnDisk;
use crate::sources::{Deletion, Listing, SharedSource, Source, SourceError};
use crate::terminal_text::escape;

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Exit> {
    let format = args.output_format().map_err(UsageError)?;
    let timed: Vec<Arc<Timed>> = build_sources(settings, !args.no_scan)
        .await?
        .into_iter()
        .map(Timed::new)
        .collect();
    let sources: Vec<SharedSource> = timed.iter().map(|t| t.clone() as SharedSource).collect();
    let scan = (!args.no_scan).then(|| Scan::all(Arc::new(OnDisk)));
    let show = format == ReportFormat::Table && std::io::stderr().is_terminal();
    let inv = collect(&sources, &settings.policy, scan, &[], show).await;
    let origins = lint_origins(settings);
    let disks = disk_context(&inv).await;
    let timings: prometheus::Timings = timed
        .iter()
        .filter_map(|t| Some((t.source_ref().clone(), t.took()?)))
        .collect();
    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        match format {
            ReportFormat::Json => {
                json::write_json(
                    &mut *out,
                    &json::report_doc_with(&inv, &disks, origins.as_ref()),
                )?;
                out.write_all(b"\n")?;
            }
            ReportFormat::Table => {
                let width = if args.output.is_some() {
                    None
                } else {
                    terminal_width()
                };
                out.write_all(
                    table::render_report(&inv, &disks, inv.generated_at, width).as_bytes(),
                )?;
                if let Some(o) = &origins {
                    out.write_all(render_origins(&inv.entries, o).as_bytes())?;
                }
            }
            ReportFormat::Prometheus => {
                out.write_all(prometheus::render(&inv, &timings, &disks).as_bytes())?;
            }
        }
        Ok(())
    };
    match &args.output {
        Some(path) => write_atomically(path, write)?,
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            write(&mut out)?;
            out.flush()?;
        }
    }
    print_source_failures(&inv);
    for w in origins.iter().flat_map(|o| o.warnings()) {
        eprintln!("cachetop: lint: {}", escape(w));
    }
    Ok(exit_code(&inv, args))
}

/// The linted Dockerfiles of `--lint` (or `lint_paths`), when any are named. What
/// cannot be read or parsed is a warning: the report runs all the same.
pub fn lint_origins(settings: &Settings) -> Option<Origins> {
    (!settings.lint_paths.is_empty()).then(|| Origins::lint(&settings.lint_paths))
}

/// How long reading the filesystems may take (a hung network mount must not hang
/// the report).
const DISKS_WITHIN: Duration = Duration::from_secs(10);

/// The filesystems that hold the sources' data, with what the stale eviction would
/// free on each. Unreadable within the bound: none, with why.
pub async fn disk_context(inv: &Inventory) -> Disks {
    // Only the few paths go to the blocking thread, never a copy of the entries.
    let at = filesystems::locations(&inv.sources, &inv.entries);
    let read = tokio::task::spawn_blocking(move || Disks::read_at(at));
    let mut disks = match tokio::time::timeout(DISKS_WITHIN, read).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => Disks::unread(format!("reading filesystems failed: {e}")),
        Err(_) => Disks::unread(format!(
            "reading filesystems took longer than {}s; not shown",
            DISKS_WITHIN.as_secs()
        )),
    };
    fill_reclaimable(&mut disks, &inv.entries, inv.generated_at);
    disks
}

/// One line on stderr for each source that failed, its error escaped: error bodies
/// come from outside.
pub fn print_source_failures(inv: &Inventory) {
    for s in inv.failed_sources() {
        if let Some(e) = &s.error {
            eprintln!("cachetop: {}", escape(&format!("{}: {}", s.source, e)));
        }
    }
}

/// A failed source makes the report incomplete (1); otherwise `--fail-on` decides (3).
pub fn exit_code(inv: &Inventory, args: &ReportArgs) -> Exit {
    if inv.failed_sources().next().is_some() {
        return Exit::Runtime;
    }
    let matched = inv
        .entries
        .iter()
        .any(|e| args.fail_on.iter().any(|f| e.has(*f)));
    if matched { Exit::FailOn } else { Exit::Ok }
}

/// Writes `path` whole or not at all, as node_exporter's textfile collector needs:
/// into a new hidden file in the same directory (`.NAME.PID.N.tmp`, which the
/// collector's `*.prom` pattern skips), synced, mode 0644 whatever the umask, then
/// renamed over `path`. rename(2) replaces a symlink at `path` itself: what it pointed
/// to is never written.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temp_path(path).ok_or_else(|| {
        UsageError(format!(
            "--output {}: not a file name",
            path.to_string_lossy()
        ))
    })?;
    let result = (|| -> anyhow::Result<()> {
        // create_new (O_EXCL) never opens an existing file or follows a symlink.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tmp.to_string_lossy()))?;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        let mut out = std::io::BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path).map_err(|e| {
            anyhow::anyhow!(
                "cannot rename {} to {}: {e}",
                tmp.to_string_lossy(),
                path.to_string_lossy()
            )
        })?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // The rename itself survives a crash only once the directory is synced.
    if let Some(dir) = tmp.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `DIR/.NAME.PID.N.tmp` beside `path`; `None` when `path` names no file (`/`, `..`).
fn temp_path(path: &Path) -> Option<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    Some(dir.join(tmp))
}

/// A source whose listing is timed, for the scrape-duration metric.
struct Timed {
    inner: SharedSource,
    took: Mutex<Option<Duration>>,
}

impl Timed {
    fn new(inner: SharedSource) -> Arc<Self> {
        Arc::new(Self {
            inner,
            took: Mutex::new(None),
        })
    }

    fn took(&self) -> Option<Duration> {
        self.took.lock().ok().and_then(|t| *t)
    }
}

#[async_trait]
impl Source for Timed {
    fn source_ref(&self) -> &SourceRef {
        self.inner.source_ref()
    }

    fn host(&self) -> Option<&str> {
        self.inner.host()
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let start = Instant::now();
        let listing = self.inner.list().await;
        if let Ok(mut took) = self.took.lock() {
            *took = Some(start.elapsed());
        }
        listing
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        self.inner.delete(entry).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_is_hidden_beside_the_target_and_not_a_prom_file() {
        let tmp = temp_path(Path::new("/var/lib/tc/cachetop.prom")).unwrap();
        assert_eq!(tmp.parent(), Some(Path::new("/var/lib/tc")));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".cachetop.prom.") && name.ends_with(".tmp"),
            "{name}"
        );
        assert_eq!(
            temp_path(Path::new("m.prom")).unwrap().parent(),
            Some(Path::new("."))
        );
        assert!(temp_path(Path::new("/")).is_none());
        assert!(temp_path(Path::new("a/..")).is_none());
    }

    #[test]
    fn an_atomic_write_replaces_a_symlink_and_never_writes_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::write(&elsewhere, "precious").unwrap();
        let target = dir.path().join("m.prom");
        std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
        write_atomically(&target, |w| Ok(w.write_all(b"x 1\n")?)).unwrap();
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "precious");
        assert!(!fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "x 1\n");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.prom");
        fs::write(&target, "old 1\n").unwrap();
        let err = write_atomically(&target, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("the report failed")
        });
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "old 1\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
