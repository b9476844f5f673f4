//! Support for the screen's tests: a fixed clock, realistic entries, an in-memory
//! source, scripted keys and rendering on a `TestBackend`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use cachetop::inventory::SourceStatus;
use cachetop::model::{Content, DirUsage, Entry, Finding, Mount, SourceKind, SourceRef};
use cachetop::policy::Policy;
use cachetop::sources::{Deletion, ErrorKind, Listing, Source, SourceError};
use cachetop::tui::app::{App, Caps, Effect};
use cachetop::tui::message::Event;
use cachetop::tui::view::{self, Theme};

/// Every screen test runs at this instant.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

pub const HOST: &str = "unix:///var/run/docker.sock";

pub fn docker() -> SourceRef {
    SourceRef::new(SourceKind::Docker, HOST)
}

fn ago(days: i64, hours: i64) -> Option<DateTime<Utc>> {
    Some(now() - chrono::Duration::days(days) - chrono::Duration::hours(hours))
}

fn mount(id: &str, target: &str, command: &str, size: u64, used_days: i64) -> Entry {
    let mut e = Entry::new(docker(), id, "exec.cachemount");
    e.description = format!("cached mount {target} from exec {command}");
    e.mount = Some(Mount {
        target: target.to_string(),
        cache_id: None,
        command: command.to_string(),
    });
    e.size_bytes = size;
    e.created_at = ago(used_days + 20, 3);
    e.last_used_at = ago(used_days, 2);
    e.usage_count = Some(3);
    e
}

/// A runner's caches as Docker lists them: cache mounts of several ecosystems, one
/// stale, one in use, one half-extracted (partial), one measured bigger than
/// reported, and plain layer records.
pub fn sample_entries() -> Vec<Entry> {
    let mut cargo = mount(
        "ufkdtw3x1lkysw5eit7oc8i9m",
        "/usr/local/cargo/registry",
        "/bin/sh -c cargo build --release --locked",
        2_480_000_000,
        12,
    );
    cargo.usage_count = Some(41);
    cargo
        .details
        .insert("parents".into(), "qd5dmn0t4ugvjm6xqxlpw3bmb".into());
    cargo.origin = cachetop::model::Origin::Docker {
        parents: vec!["qd5dmn0t4ugvjm6xqxlpw3bmb".into()],
    };
    cargo.disk_bytes = Some(3_120_000_000);
    cargo.content = Some(Content {
        path: "/var/lib/docker/overlay2/ufkdtw3x1lkysw5eit7oc8i9m/diff".into(),
        files: Some(48_213),
        error: None,
        largest: vec![
            DirUsage {
                path: "registry/src".into(),
                bytes: 2_210_000_000,
            },
            DirUsage {
                path: "registry/cache".into(),
                bytes: 860_000_000,
            },
            DirUsage {
                path: "registry/index".into(),
                bytes: 50_000_000,
            },
        ],
    });
    cargo.findings = vec![Finding {
        kind: cachetop::model::FindingKind::CargoPartialExtraction,
        path: "registry/src/index.crates.io-1949cf8c6b5b557f/http-1.4.1".into(),
        detail: "crate dir without .cargo-ok: extraction was interrupted".into(),
        bytes: 412_000,
    }];

    let mut apt = mount(
        "r2k8x0c3b1lq9zv7wm4tn6yhd",
        "/var/cache/apt",
        "/bin/sh -c apt-get update && apt-get install -y build-essential",
        612_000_000,
        1,
    );
    apt.usage_count = Some(7);

    let mut gomod = mount(
        "p0m3n6b9v2c5x8z1l4k7j0h3g",
        "/go/pkg/mod",
        "/bin/sh -c go build ./...",
        1_340_000_000,
        0,
    );
    gomod.in_use = true;
    gomod.last_used_at = ago(0, 0);

    let mut npm = mount(
        "t5y8u1i4o7p0a3s6d9f2g5h8j",
        "/root/.npm",
        "/bin/sh -c npm ci",
        289_000_000,
        45,
    );
    npm.mount.as_mut().unwrap().cache_id = Some("npm-web".into());
    npm.usage_count = Some(2);

    let mut layer = Entry::new(docker(), "qd5dmn0t4ugvjm6xqxlpw3bmb", "regular");
    layer.description = "mount / from exec /bin/sh -c apt-get install -y build-essential".into();
    layer.size_bytes = 356_000_000;
    layer.created_at = ago(30, 0);
    layer.last_used_at = ago(9, 0);
    layer.usage_count = Some(5);
    layer.shared = true;

    let mut ctx = Entry::new(docker(), "w868h0xtrfdj3n5tglnm032ah", "source.local");
    ctx.description = "local source for context".into();
    ctx.size_bytes = 48_000;
    ctx.created_at = ago(2, 5);
    ctx.last_used_at = ago(2, 5);
    ctx.usage_count = Some(1);

    let mut sccache = mount(
        "a1s2d3f4g5h6j7k8l9z0x1c2v",
        "/root/.cache/sccache",
        "/bin/sh -c cargo test --workspace",
        96_000_000,
        8,
    );
    sccache.usage_count = Some(12);

    vec![cargo, apt, gomod, npm, layer, ctx, sccache]
}

/// An app with `entries` listed by the Docker source, as the worker would send them
/// (classified).
pub fn app_with(entries: Vec<Entry>, caps: Caps, width: u16, height: u16) -> App {
    let mut app = App::new(
        vec![docker()],
        Policy::default(),
        caps,
        now(),
        Rect::new(0, 0, width, height),
    );
    app.apply(Event::Loading {
        generation: 1,
        sources: vec![docker()],
    });
    app.apply(listed(
        1,
        docker(),
        Ok(entries),
        "Docker 27.3.1 (API 1.47), overlay2 at /var/lib/docker",
    ));
    app
}

pub fn listed(
    generation: u64,
    source: SourceRef,
    result: Result<Vec<Entry>, SourceError>,
    summary: &str,
) -> Event {
    // Classified, as the inventory stream sends them.
    let result = result.map(|mut entries| {
        cachetop::policy::classify(&mut entries, &Policy::default(), now());
        Listing {
            entries,
            summary: summary.to_string(),
            details: serde_json::json!({}),
            location: None,
        }
    });
    let status = SourceStatus::from_result(source, &result);
    Event::Listed {
        generation,
        status: Box::new(status),
        entries: result.map(|l| l.entries).unwrap_or_default(),
    }
}

pub fn sample_app() -> App {
    app_with(sample_entries(), Caps::default(), 80, 24)
}

/// Keys as a script: plain characters, and `<Enter>`, `<Esc>`, `<Space>`, `<Up>`,
/// `<Down>`, `<BS>`, `<PgDn>`, `<PgUp>`, `<C-c>`, `<C-r>` for the rest.
pub fn keys(script: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '<' || chars.peek().is_none() {
            let mods = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            out.push(KeyEvent::new(KeyCode::Char(c), mods));
            continue;
        }
        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
        let ev = match name.as_str() {
            "Enter" => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
            "Esc" => KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE),
            "Space" => KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
            "Up" => KeyEvent::new(KeyCode::Up, KeyModifiers::NONE),
            "Down" => KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            "BS" => KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
            "PgDn" => KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE),
            "PgUp" => KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE),
            "C-c" => KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            "C-r" => KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
            other => panic!("unknown key <{other}>"),
        };
        out.push(ev);
    }
    out
}

/// Presses every key of the script, doing at once what the session does off the
/// loop (building plans, freeing big popups); returns every other effect.
pub fn press(app: &mut App, script: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for k in keys(script) {
        let mut pending = app.handle_key(k);
        while let Some(effect) = pending.pop() {
            match effect {
                Effect::Plan(req) => {
                    let planned = cachetop::tui::planning::plan(&req);
                    pending.extend(app.apply(Event::Planned(Box::new(planned))));
                }
                Effect::Discard(_) => {}
                other => out.push(other),
            }
        }
    }
    out
}

pub fn render(app: &App, theme: &Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(app.area.width, app.area.height)).unwrap();
    t.draw(|f| view::draw(f, app, theme)).unwrap();
    t
}

/// The screen as plain text lines, trailing spaces trimmed.
pub fn screen_text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A source held in memory that records what it is asked to delete.
pub struct FakeSource {
    pub sref: SourceRef,
    pub entries: Mutex<Vec<Entry>>,
    pub deleted: Mutex<Vec<String>>,
    pub lists: Mutex<usize>,
    pub fail_list: Mutex<Option<SourceError>>,
}

impl FakeSource {
    pub fn new(sref: SourceRef, entries: Vec<Entry>) -> Arc<Self> {
        Arc::new(Self {
            sref,
            entries: Mutex::new(entries),
            deleted: Mutex::new(Vec::new()),
            lists: Mutex::new(0),
            fail_list: Mutex::new(None),
        })
    }

    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

#[async_trait]
impl Source for FakeSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        *self.lists.lock().unwrap() += 1;
        if let Some(e) = self.fail_list.lock().unwrap().clone() {
            return Err(e);
        }
        Ok(Listing {
            entries: self.entries.lock().unwrap().clone(),
            summary: "fake 1.0".to_string(),
            details: serde_json::json!({}),
            location: None,
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        self.deleted.lock().unwrap().push(entry.id.clone());
        let mut entries = self.entries.lock().unwrap();
        let before = entries.len();
        entries.retain(|e| e.id != entry.id);
        if entries.len() == before {
            return Err(SourceError::new(ErrorKind::NotFound, "no such record"));
        }
        Ok(Deletion {
            deleted_ids: vec![entry.id.clone()],
            reclaimed_bytes: Some(entry.size_bytes),
        })
    }
}

pub fn details_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits, at most 20 s, until a session's worker has nothing in flight.
pub async fn settle(s: &mut cachetop::tui::Session) {
    tokio::time::timeout(std::time::Duration::from_secs(20), s.settle())
        .await
        .expect("the worker did not finish in 20 s");
}
