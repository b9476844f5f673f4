//! Which entries a prune is about. Every given criterion must match (AND); the
//! values of one repeatable criterion are alternatives (OR).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Entry, Flag, SourceKind};
use crate::policy::idle_for;
use crate::units::{format_duration, format_span};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub ids: Vec<String>,
    /// Flags the entry must carry, e.g. `stale`.
    pub flags: Vec<Flag>,
    pub types: Vec<String>,
    pub unused_for: Option<Duration>,
    /// Exact mount targets (a trailing slash aside).
    pub mount_targets: Vec<String>,
    pub sources: Vec<SourceKind>,
    /// Exact refs GitHub Actions caches were saved on.
    pub refs: Vec<String>,
}

impl Selector {
    /// No criterion at all: cachetop never prunes "everything" by default.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.flags.is_empty()
            && self.types.is_empty()
            && self.unused_for.is_none()
            && self.mount_targets.is_empty()
            && self.sources.is_empty()
            && self.refs.is_empty()
    }

    /// Why the entry is selected, one reason per criterion, or `None` if it is not.
    pub fn reasons(&self, e: &Entry, now: DateTime<Utc>) -> Option<Vec<String>> {
        let mut reasons = Vec::new();
        if !self.sources.is_empty() {
            if !self.sources.contains(&e.source.kind) {
                return None;
            }
            reasons.push(format!("source {}", e.source.kind));
        }
        if !self.ids.is_empty() {
            if !self.ids.iter().any(|id| id == &e.id) {
                return None;
            }
            reasons.push("id given".to_string());
        }
        if !self.types.is_empty() {
            if !self.types.iter().any(|t| t == &e.kind) {
                return None;
            }
            reasons.push(format!("type {}", e.kind));
        }
        if !self.mount_targets.is_empty() {
            let target = e.mount.as_ref().map(|m| trim_slash(&m.target))?;
            if !self
                .mount_targets
                .iter()
                .any(|want| trim_slash(want) == target)
            {
                return None;
            }
            reasons.push(format!("mount target {target}"));
        }
        if !self.refs.is_empty() {
            let r = e.origin.git_ref()?;
            if !self.refs.iter().any(|want| want == r) {
                return None;
            }
            reasons.push(format!("ref {r}"));
        }
        for flag in &self.flags {
            if !e.has(*flag) {
                return None;
            }
            reasons.push(flag_reason(*flag, e, now));
        }
        if let Some(min) = self.unused_for {
            let idle = idle_for(e.last_activity()?, now);
            if idle < min {
                return None;
            }
            reasons.push(format!(
                "unused for {} (at least {})",
                format_span(idle.as_secs() as i64),
                format_duration(min)
            ));
        }
        Some(reasons)
    }
}

fn trim_slash(p: &str) -> &str {
    if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    }
}

/// Why an entry carries a flag, in words (plans and the screen show it).
pub fn flag_reason(flag: Flag, e: &Entry, now: DateTime<Utc>) -> String {
    match flag {
        Flag::Stale => match e.last_activity() {
            Some(t) => format!(
                "stale: last used {} ago",
                format_span(idle_for(t, now).as_secs() as i64)
            ),
            None => "stale".to_string(),
        },
        Flag::Partial => {
            let mut kinds: Vec<&str> = e.findings.iter().map(|f| f.kind.as_str()).collect();
            kinds.dedup();
            format!("partial: {}", kinds.join(", "))
        }
        other => other.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mount, SourceRef};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn entry(id: &str, kind: &str, days_idle: i64) -> Entry {
        let mut e = Entry::new(SourceRef::new(SourceKind::Docker, "unix:///d"), id, kind);
        e.last_used_at = Some(now() - chrono::Duration::days(days_idle));
        e
    }

    #[test]
    fn empty_selector_is_empty() {
        assert!(Selector::default().is_empty());
        let s = Selector {
            sources: vec![SourceKind::Docker],
            ..Default::default()
        };
        assert!(!s.is_empty());
    }

    #[test]
    fn criteria_are_anded() {
        let s = Selector {
            types: vec!["exec.cachemount".into()],
            unused_for: Some(Duration::from_secs(3 * 86_400)),
            ..Default::default()
        };
        assert!(
            s.reasons(&entry("a", "exec.cachemount", 5), now())
                .is_some()
        );
        assert!(
            s.reasons(&entry("a", "exec.cachemount", 1), now())
                .is_none()
        );
        assert!(s.reasons(&entry("a", "regular", 5), now()).is_none());
    }

    #[test]
    fn repeated_values_are_alternatives() {
        let s = Selector {
            ids: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert!(s.reasons(&entry("a", "regular", 0), now()).is_some());
        assert!(s.reasons(&entry("b", "regular", 0), now()).is_some());
        assert!(s.reasons(&entry("ab", "regular", 0), now()).is_none());
    }

    #[test]
    fn ids_match_exactly_never_by_prefix() {
        let s = Selector {
            ids: vec!["abc".into()],
            ..Default::default()
        };
        assert!(s.reasons(&entry("abcdef", "regular", 0), now()).is_none());
    }

    #[test]
    fn mount_target_ignores_a_trailing_slash() {
        let mut e = entry("a", "exec.cachemount", 0);
        e.mount = Some(Mount {
            target: "/root/.cargo/registry".into(),
            cache_id: None,
            command: "cargo fetch".into(),
        });
        let s = Selector {
            mount_targets: vec!["/root/.cargo/registry/".into()],
            ..Default::default()
        };
        assert_eq!(
            s.reasons(&e, now()).unwrap(),
            vec!["mount target /root/.cargo/registry"]
        );
        assert!(s.reasons(&entry("b", "regular", 0), now()).is_none());
    }

    #[test]
    fn repeated_mount_targets_are_alternatives() {
        let mount = |id: &str, target: &str| {
            let mut e = entry(id, "exec.cachemount", 0);
            e.mount = Some(Mount {
                target: target.into(),
                cache_id: None,
                command: "true".into(),
            });
            e
        };
        let s = Selector {
            mount_targets: vec!["/go/pkg/mod".into(), "/root/.npm".into()],
            ..Default::default()
        };
        assert!(!s.is_empty());
        assert!(s.reasons(&mount("a", "/go/pkg/mod"), now()).is_some());
        assert!(s.reasons(&mount("b", "/root/.npm/"), now()).is_some());
        assert!(s.reasons(&mount("c", "/root/.npm/x"), now()).is_none());
        assert!(s.reasons(&mount("d", "/go/pkg"), now()).is_none());
    }

    #[test]
    fn flag_selectors_explain_themselves() {
        let mut e = entry("a", "exec.cachemount", 9);
        e.flags.insert(Flag::Stale);
        let s = Selector {
            flags: vec![Flag::Stale],
            ..Default::default()
        };
        assert_eq!(
            s.reasons(&e, now()).unwrap(),
            vec!["stale: last used 9d ago"]
        );
        let partial = Selector {
            flags: vec![Flag::Partial],
            ..Default::default()
        };
        assert!(partial.reasons(&e, now()).is_none());
    }

    #[test]
    fn refs_match_exactly() {
        let gha = |r: &str| crate::model::Origin::Gha {
            host: None,
            git_ref: Some(r.into()),
        };
        let mut pr = entry("1", "gha.other", 0);
        pr.origin = gha("refs/pull/42/merge");
        let s = Selector {
            refs: vec!["refs/pull/42/merge".into()],
            ..Default::default()
        };
        assert!(!s.is_empty());
        assert_eq!(
            s.reasons(&pr, now()).unwrap(),
            vec!["ref refs/pull/42/merge"]
        );
        let mut other = pr.clone();
        other.origin = gha("refs/pull/42/merge2");
        assert!(s.reasons(&other, now()).is_none());
        // A ref shown in details (a registry reference, say) is no cache's ref.
        let mut shown = entry("3", "registry.manifest", 0);
        shown
            .details
            .insert("ref".into(), "refs/pull/42/merge".into());
        assert!(s.reasons(&shown, now()).is_none());
        let prefix = Selector {
            refs: vec!["refs/pull/4".into()],
            ..Default::default()
        };
        assert!(prefix.reasons(&pr, now()).is_none());
        assert!(s.reasons(&entry("2", "regular", 0), now()).is_none());
    }

    #[test]
    fn unused_for_needs_a_known_time() {
        let mut e = entry("a", "regular", 0);
        e.last_used_at = None;
        let s = Selector {
            unused_for: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        assert!(s.reasons(&e, now()).is_none());
    }
}
