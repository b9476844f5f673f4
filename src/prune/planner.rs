//! A prune plan is a value: what will go, why, and what will not. The dry run and
//! the real run print the same plan, and execution deletes only what it lists.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};

use super::selector::Selector;
use crate::model::{Entry, SourceRef};
use crate::plan::{self, Item, Skip};
use crate::sources::{self, equivalent_commands};

/// An entry to delete, and why the selector picked it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedItem {
    pub entry: Entry,
    pub reasons: Vec<String>,
}

impl Item for PlannedItem {
    fn entry(&self) -> &Entry {
        &self.entry
    }

    fn bytes(&self) -> u64 {
        self.entry.effective_bytes()
    }

    fn commands(&self) -> Vec<String> {
        equivalent_commands(&self.entry)
    }
}

/// What a prune deletes, in deletion order (children before their parents), and what
/// it keeps: selected but not deletable (in use, shared, has children that stay), and
/// ids no entry has (ids are exact, never prefixes).
pub type Plan = plan::Plan<PlannedItem>;

/// Why an id given is not in the plan.
pub const NO_SUCH_ID: &str = "no entry has this id (ids are exact; `cachetop report` lists them)";

/// Builds the plan for a selector over classified entries.
pub fn build_plan(entries: &[Entry], selector: &Selector, now: DateTime<Utc>) -> Plan {
    let mut plan = build_plan_with(entries, |e| selector.reasons(e, now));
    if !selector.ids.is_empty() {
        let known: HashSet<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        let unknown = selector
            .ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .map(|id| Skip::unknown(id, NO_SUCH_ID));
        plan.skipped.splice(0..0, unknown);
    }
    plan
}

/// Builds the plan for whatever `pick` selects (with its reasons), e.g. the rows a
/// person marked on screen. `entries` must hold every entry, picked or not, so a
/// parent whose child stays is held back.
pub fn build_plan_with(entries: &[Entry], pick: impl Fn(&Entry) -> Option<Vec<String>>) -> Plan {
    let mut plan = Plan::default();
    let mut chosen: Vec<PlannedItem> = Vec::new();
    for e in entries {
        let Some(reasons) = pick(e) else {
            continue;
        };
        match never_delete(e) {
            Some(reason) => plan.skipped.push(Skip::entry(e, reason)),
            None => chosen.push(PlannedItem {
                entry: e.clone(),
                reasons,
            }),
        }
    }
    let (kept, held) = drop_held_parents(chosen, entries);
    plan.skipped.extend(held);
    plan.items = children_first(kept);
    plan
}

/// Rules that hold whatever the selector says: what the source refuses at the entry's
/// path, what is in use, then the rules of its kind of source.
pub(crate) fn never_delete(e: &Entry) -> Option<String> {
    if let Some(r) = e.origin.delete_refusal() {
        return Some(r.message.clone());
    }
    if e.in_use {
        return Some("in use".to_string());
    }
    sources::never_delete(e)
}

fn parents_of(e: &Entry) -> impl Iterator<Item = &str> {
    e.origin.parents().iter().map(String::as_str)
}

/// A record with a child that stays cannot be deleted alone (BuildKit deletes it only
/// together with the child), so it leaves the plan with that reason. Holding one back
/// can hold its own parents, so they are looked at again: a worklist, linear in the
/// records and their parent links.
fn drop_held_parents(chosen: Vec<PlannedItem>, all: &[Entry]) -> (Vec<PlannedItem>, Vec<Skip>) {
    let mut children: HashMap<(&SourceRef, &str), Vec<&str>> = HashMap::new();
    for e in all {
        for p in parents_of(e) {
            children.entry((&e.source, p)).or_default().push(&e.id);
        }
    }
    let index: HashMap<(&SourceRef, &str), usize> = chosen
        .iter()
        .enumerate()
        .map(|(i, it)| ((&it.entry.source, it.entry.id.as_str()), i))
        .collect();
    let mut held: Vec<Option<String>> = vec![None; chosen.len()];
    let mut todo: VecDeque<usize> = (0..chosen.len()).collect();
    while let Some(i) = todo.pop_front() {
        if held[i].is_some() {
            continue;
        }
        let source = &chosen[i].entry.source;
        let staying: Vec<&str> = children
            .get(&(source, chosen[i].entry.id.as_str()))
            .into_iter()
            .flatten()
            .copied()
            .filter(|c| {
                index
                    .get(&(source, *c))
                    .is_none_or(|&ci| held[ci].is_some())
            })
            .collect();
        if staying.is_empty() {
            continue;
        }
        held[i] = Some(format!(
            "has child records that stay ({}); it can only go with them",
            staying.join(", ")
        ));
        for p in parents_of(&chosen[i].entry) {
            if let Some(&pi) = index.get(&(source, p)) {
                todo.push_back(pi);
            }
        }
    }
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (item, why) in chosen.into_iter().zip(held) {
        match why {
            Some(reason) => skipped.push(Skip::entry(&item.entry, reason)),
            None => kept.push(item),
        }
    }
    (kept, skipped)
}

/// Orders items so every child comes before its parent; otherwise keeps the input
/// order (an item goes as soon as its planned children have gone).
fn children_first(items: Vec<PlannedItem>) -> Vec<PlannedItem> {
    let index: HashMap<(&SourceRef, &str), usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| ((&it.entry.source, it.entry.id.as_str()), i))
        .collect();
    let planned_parents: Vec<Vec<usize>> = items
        .iter()
        .map(|it| {
            parents_of(&it.entry)
                .filter_map(|p| index.get(&(&it.entry.source, p)).copied())
                .collect()
        })
        .collect();
    let mut waiting_on = vec![0usize; items.len()];
    for parents in &planned_parents {
        for &p in parents {
            waiting_on[p] += 1;
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..items.len())
        .filter(|&i| waiting_on[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(items.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &p in &planned_parents[i] {
            waiting_on[p] -= 1;
            if waiting_on[p] == 0 {
                ready.push(Reverse(p));
            }
        }
    }
    // A cycle cannot come from BuildKit; if one did, its records keep their order, last.
    let mut slots: Vec<Option<PlannedItem>> = items.into_iter().map(Some).collect();
    let mut out: Vec<PlannedItem> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    out.extend(slots.into_iter().flatten());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeleteRefusal, Flag, Origin, RefusalKind, RegistryObject, SourceKind};
    use crate::sources::local_export::KIND_BLOB;
    use crate::sources::registry::cache::{KIND_LAYER, KIND_MANIFEST};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn rec(id: &str, parents: &[&str]) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///d"),
            id,
            "regular",
        );
        e.size_bytes = 100;
        e.flags.insert(Flag::Stale);
        e.origin = Origin::Docker {
            parents: parents.iter().map(|p| p.to_string()).collect(),
        };
        e
    }

    fn stale() -> Selector {
        Selector {
            flags: vec![Flag::Stale],
            ..Default::default()
        }
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.items.iter().map(|i| i.entry.id.as_str()).collect()
    }

    #[test]
    fn ids_no_entry_has_are_named() {
        let entries = vec![rec("a", &[]), rec("abc", &[])];
        let sel = Selector {
            ids: vec!["a".into(), "ab".into()],
            ..Default::default()
        };
        let plan = build_plan(&entries, &sel, now());
        assert_eq!(ids(&plan), vec!["a"]);
        assert_eq!(plan.unknown_ids().collect::<Vec<_>>(), vec!["ab"]);
    }

    #[test]
    fn plans_only_what_the_selector_matches() {
        let mut fresh = rec("fresh", &[]);
        fresh.flags.clear();
        let entries = vec![rec("old", &[]), fresh];
        let plan = build_plan(&entries, &stale(), now());
        assert_eq!(ids(&plan), vec!["old"]);
        assert_eq!(plan.total_bytes(), 100);
        assert_eq!(
            plan.equivalent_commands(),
            vec!["docker -H unix:///d builder prune --force --filter 'id=^old$'"]
        );
    }

    #[test]
    fn in_use_and_shared_are_skipped_with_a_reason() {
        let mut busy = rec("busy", &[]);
        busy.in_use = true;
        let mut shared = rec("shared", &[]);
        shared.shared = true;
        let plan = build_plan(&[busy, shared], &stale(), now());
        assert!(plan.is_empty());
        let reasons: Vec<&str> = plan.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons[0], "in use");
        assert!(reasons[1].starts_with("shared with an image"));
    }

    #[test]
    fn a_parent_whose_child_stays_is_held_back() {
        let mut child = rec("child", &["parent"]);
        child.flags.clear(); // not stale, so it stays
        let plan = build_plan(&[rec("parent", &[]), child], &stale(), now());
        assert!(plan.is_empty());
        assert_eq!(plan.skipped[0].id, "parent");
        assert!(plan.skipped[0].reason.contains("child"));
    }

    #[test]
    fn holding_a_child_back_holds_its_parent_too() {
        let mut grandchild = rec("gc", &["child"]);
        grandchild.in_use = true;
        let entries = vec![rec("root", &[]), rec("child", &["root"]), grandchild];
        let plan = build_plan(&entries, &stale(), now());
        assert!(plan.is_empty(), "{:?}", ids(&plan));
        assert_eq!(plan.skipped.len(), 3);
    }

    #[test]
    fn registry_layers_and_manifests_an_index_references_are_kept() {
        let sref = SourceRef::new(SourceKind::Registry, "r:5000/app:cache");
        let registry = |index: Option<&str>| Origin::Registry {
            object: RegistryObject::Manifest {
                index: index.map(str::to_string),
            },
            plain_http: false,
        };
        let mut index = Entry::new(sref.clone(), "sha256:i", KIND_MANIFEST);
        index.origin = registry(None);
        index.flags.insert(Flag::Stale);
        let mut child = Entry::new(sref.clone(), "sha256:c", KIND_MANIFEST);
        child.origin = registry(Some("sha256:i"));
        child.flags.insert(Flag::Stale);
        let mut layer = Entry::new(sref, "sha256:l", KIND_LAYER);
        layer.flags.insert(Flag::Stale);
        let plan = build_plan(&[index, child, layer], &stale(), now());
        assert_eq!(ids(&plan), vec!["sha256:i"]);
        assert!(
            plan.skipped[0]
                .reason
                .contains("multi-platform index sha256:i")
        );
        assert!(
            plan.skipped[1]
                .reason
                .contains("a layer goes with its manifest")
        );
    }

    #[test]
    fn only_orphaned_local_blobs_are_ever_planned() {
        let sref = SourceRef::new(SourceKind::Dir, "/cache");
        let blob = |id: &str| {
            let mut e = Entry::new(sref.clone(), id, KIND_BLOB);
            e.origin = Origin::LocalExport { refusal: None };
            e.flags.insert(Flag::Stale);
            e
        };
        let live = blob("sha256:a");
        let mut orphan = blob("sha256:b");
        orphan.flags.insert(Flag::Orphaned);
        // A plain directory's entry is no blob, whatever its type says.
        let mut dir = Entry::new(sref.clone(), "blobs", KIND_BLOB);
        dir.flags.insert(Flag::Stale);
        let plan = build_plan(&[live, orphan, dir], &stale(), now());
        assert_eq!(ids(&plan), vec!["sha256:b", "blobs"]);
        assert!(
            plan.skipped[0]
                .reason
                .contains("referenced from index.json")
        );
    }

    #[test]
    fn a_state_volume_goes_after_its_stopped_builder_and_a_running_ones_stays() {
        use crate::model::VolumeHolder;
        let sref = SourceRef::new(SourceKind::Docker, "unix:///d");
        let volume = |node: &str, running: Option<bool>| {
            let mut e = Entry::new(
                sref.clone(),
                format!("buildx_buildkit_{node}_state"),
                "buildx.state-volume",
            );
            e.flags.insert(Flag::Stale);
            e.in_use = running == Some(true);
            e.origin = Origin::StateVolume {
                containers: running
                    .map(|running| VolumeHolder {
                        id: format!("id-{node}"),
                        name: format!("buildx_buildkit_{node}"),
                        running,
                        mounts: true,
                    })
                    .into_iter()
                    .collect(),
            };
            e
        };
        let entries = [
            volume("a0", None),
            volume("b0", Some(false)),
            volume("c0", Some(true)),
        ];
        let plan = build_plan(&entries, &stale(), now());
        assert_eq!(
            ids(&plan),
            vec!["buildx_buildkit_a0_state", "buildx_buildkit_b0_state"]
        );
        assert_eq!(
            plan.equivalent_commands(),
            vec![
                "docker -H unix:///d volume rm buildx_buildkit_a0_state",
                "docker -H unix:///d rm buildx_buildkit_b0",
                "docker -H unix:///d volume rm buildx_buildkit_b0_state",
            ]
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].id, "buildx_buildkit_c0_state");
        assert_eq!(plan.skipped[0].reason, "in use");
    }

    #[test]
    fn what_a_source_refuses_to_delete_is_kept_with_its_reason() {
        let sref = SourceRef::new(SourceKind::Dir, "/");
        let mut root = Entry::new(sref, ".", "dir");
        root.flags.insert(Flag::Stale);
        root.origin = Origin::Dir {
            refusal: Some(DeleteRefusal {
                kind: RefusalKind::NotACache,
                message: "refusing to delete in /: it is the root directory".into(),
            }),
        };
        let plan = build_plan(&[root, rec("ok", &[])], &stale(), now());
        assert_eq!(ids(&plan), vec!["ok"]);
        assert_eq!(
            plan.skipped[0].reason,
            "refusing to delete in /: it is the root directory"
        );
    }

    #[test]
    fn a_parent_id_with_a_comma_in_it_is_one_parent() {
        let mut child = rec("child", &["odd, id"]);
        child.flags.clear(); // stays
        let plan = build_plan(
            &[rec("odd, id", &[]), rec("id", &[]), child],
            &stale(),
            now(),
        );
        assert_eq!(ids(&plan), vec!["id"], "only the named parent is held");
        assert!(plan.skipped[0].reason.contains("child"));
    }

    #[test]
    fn a_parent_waits_for_all_its_planned_children() {
        let entries = vec![
            rec("root", &[]),
            rec("a", &["root"]),
            rec("b", &["root"]),
            rec("c", &["a"]),
        ];
        let plan = build_plan(&entries, &stale(), now());
        assert_eq!(ids(&plan), vec!["b", "c", "a", "root"]);
    }

    #[test]
    fn a_parent_cycle_from_a_broken_source_loses_no_item() {
        let entries = vec![rec("x", &["y"]), rec("y", &["x"]), rec("z", &[])];
        let plan = build_plan(&entries, &stale(), now());
        assert_eq!(ids(&plan), vec!["z", "x", "y"]);
    }

    #[test]
    fn children_are_deleted_before_parents() {
        let entries = vec![
            rec("root", &[]),
            rec("mid", &["root"]),
            rec("leaf", &["mid"]),
        ];
        let plan = build_plan(&entries, &stale(), now());
        assert_eq!(ids(&plan), vec!["leaf", "mid", "root"]);
    }
}
