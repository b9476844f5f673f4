//! Scripted key journeys through the screen's state, asserting on what it shows and
//! on the effects it asks the worker for. No terminal and no daemon: `update` is pure.

use crate::tui_support;

use cachetop::model::Flag;
use cachetop::policy::Policy;
use cachetop::repair::{RepairItem, RepairPlan};
use cachetop::sources::{ErrorKind, SourceError};
use cachetop::tui::app::{App, Caps, Effect, Overlay, Pending, Screen};
use cachetop::tui::keys::{Class, Mode};
use cachetop::tui::listing::SortColumn;
use cachetop::tui::message::Event;
use cachetop::tui::view::Theme;
use tui_support::*;

fn selected_id(app: &App) -> String {
    app.selected().unwrap().id.clone()
}

fn visible_ids(app: &App) -> Vec<String> {
    app.list
        .rows(0, usize::MAX)
        .map(|(e, _)| e.id.clone())
        .collect()
}

fn planned_ids(effects: &[Effect]) -> Vec<String> {
    match effects {
        [Effect::Prune(plan)] => plan.items.iter().map(|i| i.entry.id.clone()).collect(),
        other => panic!("expected exactly one prune, got {other:?}"),
    }
}

fn confirm_plan(app: &App) -> &cachetop::prune::Plan {
    match app.overlays.last() {
        Some(Overlay::Confirm { pending, .. }) => match pending.as_ref() {
            Pending::Prune { plan } => plan,
            other => panic!("not a prune: {other:?}"),
        },
        other => panic!("no confirm dialog: {other:?}"),
    }
}

#[test]
fn d_alone_never_deletes_only_y_in_the_dialog_does() {
    let mut app = sample_app();
    let target = selected_id(&app);
    assert!(press(&mut app, "d").is_empty(), "d asked for a deletion");
    assert_eq!(app.mode(), Mode::Confirm);
    assert_eq!(
        confirm_plan(&app)
            .items
            .iter()
            .map(|i| i.entry.id.clone())
            .collect::<Vec<_>>(),
        vec![target.clone()]
    );
    // The dialog eats every other key: none deletes, moves, quits or opens anything.
    let before = app.cursor;
    assert!(press(&mut app, "dEqjkgG/ fsSaArR?x<Down><BS><PgDn>").is_empty());
    assert_eq!(app.mode(), Mode::Confirm);
    assert_eq!(app.cursor, before);
    assert!(!app.quit);
    assert_eq!(app.overlays.len(), 1);

    let effects = press(&mut app, "y");
    assert_eq!(planned_ids(&effects), vec![target]);
    assert!(app.overlays.is_empty());
    assert!(app.busy.is_some(), "no pruning status after confirming");
}

#[test]
fn enter_confirms_like_y() {
    let mut app = sample_app();
    press(&mut app, "d");
    let effects = press(&mut app, "<Enter>");
    assert_eq!(planned_ids(&effects).len(), 1);
}

#[test]
fn esc_and_n_discard_the_plan() {
    for cancel in ["<Esc>", "n"] {
        let mut app = sample_app();
        assert!(press(&mut app, "d").is_empty());
        assert!(press(&mut app, cancel).is_empty(), "{cancel}");
        assert!(app.overlays.is_empty(), "{cancel} left the dialog open");
        assert_eq!(app.mode(), Mode::Table);
        // The plan is gone: confirming keys now do nothing.
        assert!(press(&mut app, "y<Enter><Esc>").is_empty(), "{cancel}");
        assert!(app.notice.is_none() || !app.quit);
    }
}

#[test]
fn the_filter_narrows_live_keeps_on_enter_and_clears_on_esc() {
    let mut app = sample_app();
    let all = visible_ids(&app);
    assert_eq!(all.len(), 7);
    press(&mut app, "/car");
    assert_eq!(app.mode(), Mode::Filter);
    // Live: two mounts have "car" in their target or command (cargo registry, sccache).
    assert_eq!(app.list.visible_len(), 2);
    press(&mut app, "go/reg");
    assert_eq!(visible_ids(&app), vec!["ufkdtw3x1lkysw5eit7oc8i9m"]);
    press(&mut app, "<BS><BS><BS><BS>");
    assert_eq!(app.filter, "cargo");
    press(&mut app, "<Enter>");
    assert_eq!(
        app.mode(),
        Mode::Table,
        "Enter keeps the filter and leaves typing"
    );
    assert_eq!(app.filter, "cargo");
    assert_eq!(app.list.visible_len(), 2);
    // Keys act on the table again instead of typing.
    press(&mut app, "j");
    assert_eq!(app.cursor, 1);
    assert_eq!(app.filter, "cargo");

    press(&mut app, "/<Esc>");
    assert_eq!(app.filter, "");
    assert_eq!(visible_ids(&app), all);
}

#[test]
fn typing_q_in_the_filter_types_it_and_ctrl_c_still_quits() {
    let mut app = sample_app();
    press(&mut app, "/q");
    assert!(!app.quit);
    assert_eq!(app.filter, "q");
    press(&mut app, "<C-c>");
    assert!(app.quit);
}

#[test]
fn the_filter_matches_id_type_mount_and_description_ignoring_case() {
    let mut app = sample_app();
    for (needle, expect) in [
        ("T5Y8U1", "t5y8u1i4o7p0a3s6d9f2g5h8j"),       // id
        ("source.local", "w868h0xtrfdj3n5tglnm032ah"), // type
        ("/go/pkg", "p0m3n6b9v2c5x8z1l4k7j0h3g"),      // mount target
        ("npm-web", "t5y8u1i4o7p0a3s6d9f2g5h8j"),      // cache id
        ("local source", "w868h0xtrfdj3n5tglnm032ah"), // description
    ] {
        press(&mut app, &format!("/{needle}<Enter>"));
        assert_eq!(visible_ids(&app), vec![expect], "{needle}");
        press(&mut app, "/<Esc>");
    }
}

#[test]
fn marks_choose_what_d_deletes_and_the_footer_counts_them() {
    let mut app = sample_app();
    let first = selected_id(&app);
    press(&mut app, "<Space>j<Space>");
    let third = visible_ids(&app)[2].clone();
    assert_eq!(app.list.marked().0, 2);
    let marked_bytes = app.list.marked().1;
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(
        screen.contains(&format!(
            "2 marked, {}",
            cachetop::units::format_size(marked_bytes)
        )),
        "{screen}"
    );
    press(&mut app, "d");
    let plan = confirm_plan(&app);
    let mut ids: Vec<_> = plan
        .items
        .iter()
        .map(|i| i.entry.id.clone())
        .chain(plan.skipped.iter().map(|s| s.id.clone()))
        .collect();
    ids.sort();
    let mut want = vec![first, third];
    want.sort();
    assert_eq!(
        ids, want,
        "the plan is the marked rows, not the selected one"
    );
    assert!(plan.items.iter().all(|i| i.reasons[0] == "marked"));
    press(&mut app, "n");

    press(&mut app, "A");
    assert_eq!(app.list.marked(), (0, 0));
    press(&mut app, "/cache<Enter>a");
    // Every row shown but the one in use, which no plan deletes.
    let deletable = (0..app.list.visible_len())
        .filter(|&r| app.list.row(r).is_some_and(|e| !e.in_use && !e.shared))
        .count();
    assert_eq!(app.list.marked().0, deletable);
    assert!(
        deletable < app.list.visible_len(),
        "the in-use row is shown"
    );
    assert!(app.list.marked().0 < 7, "a marks only the rows shown");
}

#[test]
fn in_use_entries_are_never_planned() {
    let mut app = sample_app();
    // Mark everything, including the go cache a build is using right now.
    press(&mut app, "a");
    press(&mut app, "d");
    let plan = confirm_plan(&app);
    let busy = "p0m3n6b9v2c5x8z1l4k7j0h3g";
    assert!(plan.items.iter().all(|i| i.entry.id != busy));
    // It was never marked: marking refuses what cannot be deleted.
    assert!(!app.list.is_marked(&(docker(), busy.to_string())));
}

#[test]
fn e_plans_every_stale_entry_and_only_those() {
    let mut app = sample_app();
    assert!(press(&mut app, "E").is_empty());
    let plan = confirm_plan(&app);
    let mut ids: Vec<_> = plan.items.iter().map(|i| i.entry.id.as_str()).collect();
    ids.sort();
    // cargo (12d), npm (45d) and sccache (8d); the layer (9d) is shared with an image.
    assert_eq!(
        ids,
        vec![
            "a1s2d3f4g5h6j7k8l9z0x1c2v",
            "t5y8u1i4o7p0a3s6d9f2g5h8j",
            "ufkdtw3x1lkysw5eit7oc8i9m"
        ]
    );
    assert!(plan.items.iter().all(|i| i.entry.has(Flag::Stale)));
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.id == "qd5dmn0t4ugvjm6xqxlpw3bmb")
    );
    let effects = press(&mut app, "y");
    assert_eq!(planned_ids(&effects).len(), 3);
}

#[test]
fn read_only_has_no_destructive_binding_anywhere() {
    let caps = Caps {
        read_only: true,
        repair: true,
    };
    let mut app = app_with(sample_entries(), caps, 160, 48);
    assert!(
        app.keys.rows().iter().all(|b| b.class == Class::Normal),
        "read-only left a destructive binding"
    );
    assert!(press(&mut app, "dER<Space>d").is_empty());
    assert!(app.overlays.is_empty(), "a destructive key opened a dialog");
    let screen = screen_text(&render(&app, &Theme::COLOR));
    let footer = screen.lines().last().unwrap();
    assert!(!footer.contains("delete"), "{footer}");
    assert!(!footer.contains("evict"), "{footer}");
    assert!(!footer.contains("repair"), "{footer}");
    press(&mut app, "?");
    let help = screen_text(&render(&app, &Theme::COLOR));
    assert!(help.contains("Read-only"), "{help}");
    for word in [
        "delete the marked",
        "evict every",
        "repair the broken",
        "confirm:",
    ] {
        assert!(!help.contains(word), "help still offers {word:?}:\n{help}");
    }
}

#[test]
fn sort_cycles_inverts_and_keeps_the_selection() {
    let mut app = sample_app();
    assert_eq!(app.list.sort(), (SortColumn::Size, false));
    let sizes: Vec<u64> = app
        .list
        .rows(0, 99)
        .map(|(e, _)| e.effective_bytes())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
    press(&mut app, "jj");
    let kept = selected_id(&app);
    press(&mut app, "s");
    assert_eq!(app.list.sort(), (SortColumn::LastUsed, false));
    assert_eq!(selected_id(&app), kept, "the cursor follows its entry");
    assert_eq!(
        visible_ids(&app)[0],
        "t5y8u1i4o7p0a3s6d9f2g5h8j",
        "least recently used first"
    );
    press(&mut app, "S");
    assert_eq!(app.list.sort(), (SortColumn::LastUsed, true));
    assert_eq!(visible_ids(&app)[0], "p0m3n6b9v2c5x8z1l4k7j0h3g");
    press(&mut app, "sssss");
    assert_eq!(app.list.sort().0, SortColumn::What);
    press(&mut app, "s");
    assert_eq!(app.list.sort().0, SortColumn::Size);
}

#[test]
fn f_cycles_the_flag_filter() {
    let mut app = sample_app();
    press(&mut app, "f");
    assert!(app.list.rows(0, 99).all(|(e, _)| e.has(Flag::Stale)));
    assert_eq!(app.list.visible_len(), 4);
    press(&mut app, "f");
    assert_eq!(visible_ids(&app), vec!["ufkdtw3x1lkysw5eit7oc8i9m"]);
    press(&mut app, "f");
    assert_eq!(visible_ids(&app), vec!["p0m3n6b9v2c5x8z1l4k7j0h3g"]);
    press(&mut app, "f");
    assert_eq!(app.list.visible_len(), 7);
}

#[test]
fn movement_keys_stay_inside_the_table() {
    let mut app = app_with(sample_entries(), Caps::default(), 80, 14);
    press(&mut app, "G");
    assert_eq!(app.cursor, 6);
    press(&mut app, "j<Down>");
    assert_eq!(app.cursor, 6);
    press(&mut app, "g");
    assert_eq!(app.cursor, 0);
    press(&mut app, "k<Up>");
    assert_eq!(app.cursor, 0);
    press(&mut app, "<PgDn>");
    assert!(app.cursor > 0);
    assert!(app.cursor >= app.offset && app.cursor < app.offset + app.table_rows());
    press(&mut app, "<PgUp>");
    assert_eq!(app.cursor, 0);
}

#[test]
fn details_show_the_selected_entry_and_d_there_plans_only_it() {
    let mut app = sample_app();
    press(&mut app, "<Space>j"); // a mark elsewhere must not leak into the details' d
    let id = selected_id(&app);
    press(&mut app, "<Enter>");
    assert!(matches!(&app.screen, Screen::Details { key, .. } if key.1 == id));
    assert_eq!(app.mode(), Mode::Details);
    press(&mut app, "d");
    assert_eq!(confirm_plan(&app).items.len(), 1);
    assert_eq!(confirm_plan(&app).items[0].entry.id, id);
    press(&mut app, "<Esc><Esc>");
    assert_eq!(app.screen, Screen::Table);
}

#[test]
fn errors_pop_up_eat_keys_and_are_never_lost() {
    let mut app = sample_app();
    let err = |msg: &str| SourceError::new(ErrorKind::Unreachable, msg);
    app.apply(Event::Loading {
        generation: 2,
        sources: vec![docker()],
    });
    app.apply(listed(2, docker(), Err(err("first failure")), ""));
    app.apply(Event::Loading {
        generation: 3,
        sources: vec![docker()],
    });
    app.apply(listed(3, docker(), Err(err("second failure")), ""));
    assert_eq!(app.errors.len(), 2);
    assert_eq!(app.mode(), Mode::Error);
    assert!(press(&mut app, "dqE/").is_empty());
    assert!(!app.quit);
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(screen.contains("first failure"), "{screen}");
    assert!(screen.contains("Error (1 of 2)"), "{screen}");
    press(&mut app, "<Enter>");
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(screen.contains("second failure"), "{screen}");
    press(&mut app, "<Esc>");
    assert!(app.errors.is_empty());
    assert_eq!(app.mode(), Mode::Table);
    // The header still says what failed.
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(screen.contains("FAILED: second failure"), "{screen}");
}

#[test]
fn events_of_an_older_refresh_are_ignored() {
    let mut app = sample_app();
    app.apply(Event::Loading {
        generation: 5,
        sources: vec![docker()],
    });
    app.apply(listed(4, docker(), Ok(vec![]), "old"));
    assert_eq!(app.list.len(), 7);
}

#[test]
fn content_scan_updates_fill_in_sizes_and_findings() {
    let mut app = sample_app();
    let mut npm = app
        .list
        .entries()
        .iter()
        .find(|e| e.id == "t5y8u1i4o7p0a3s6d9f2g5h8j")
        .unwrap()
        .clone();
    assert!(!npm.has(Flag::Partial));
    npm.disk_bytes = Some(9_000_000_000);
    npm.findings.push(cachetop::model::Finding {
        kind: cachetop::model::FindingKind::NpmInterruptedWrite,
        path: "_cacache/tmp/abc".into(),
        detail: "left by an interrupted npm ci".into(),
        bytes: 1_000,
    });
    // Classified again, as the inventory stream sends scan results.
    cachetop::policy::classify_entry(&mut npm, &Policy::default(), now());
    app.apply(Event::Updated {
        generation: app.generation,
        entries: vec![npm],
    });
    let npm = app.list.row(0).unwrap();
    assert_eq!(
        npm.id, "t5y8u1i4o7p0a3s6d9f2g5h8j",
        "re-sorted by the new size"
    );
    assert!(npm.has(Flag::Partial));
    assert!(npm.has(Flag::SizeMismatch));
    assert_eq!(app.list.totals().partial_entries, 2);
}

#[test]
fn r_is_absent_without_a_repair_hook() {
    let mut app = sample_app();
    assert!(app.keys.rows().iter().all(|b| b.class != Class::Repair));
    assert!(press(&mut app, "R").is_empty());
    let screen = screen_text(&render(&app, &Theme::COLOR));
    assert!(!screen.contains("repair"));
}

#[test]
fn repair_goes_through_the_same_confirm_dialog() {
    let caps = Caps {
        read_only: false,
        repair: true,
    };
    let mut app = app_with(sample_entries(), caps, 80, 24);
    let effects = press(&mut app, "R");
    let entry = match effects.as_slice() {
        [Effect::PlanRepair(e)] => (**e).clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(entry.id, "ufkdtw3x1lkysw5eit7oc8i9m");
    let plan = RepairPlan {
        items: vec![RepairItem {
            entry,
            parts: vec![cachetop::model::Finding {
                kind: cachetop::model::FindingKind::CargoPartialExtraction,
                path: "registry/src/index.crates.io-1949cf8c6b5b557f/http-1.4.1".into(),
                detail: "crate dir without .cargo-ok".into(),
                bytes: 412_000,
            }],
        }],
        skipped: vec![],
    };
    app.apply(Event::RepairPlanned(Box::new(plan.clone())));
    assert_eq!(app.mode(), Mode::Confirm);
    assert!(press(&mut app, "dq").is_empty());
    let effects = press(&mut app, "y");
    match effects.as_slice() {
        [Effect::Repair(p)] => assert_eq!(*p, plan),
        other => panic!("{other:?}"),
    }
    // An entry in use is never offered for repair.
    press(&mut app, "/go/pkg<Enter>");
    assert!(press(&mut app, "R").is_empty());
}

#[test]
fn q_quits_and_asks_again_while_a_prune_runs() {
    let mut app = sample_app();
    press(&mut app, "dy");
    press(&mut app, "q");
    assert!(!app.quit, "q mid-prune quit at once");
    assert!(app.notice.as_deref().unwrap_or("").contains("q again"));
    press(&mut app, "q");
    assert!(app.quit);

    let mut app = sample_app();
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn help_lists_the_same_keys_the_table_handles() {
    let mut app = sample_app();
    press(&mut app, "?");
    assert_eq!(app.mode(), Mode::Help);
    let lines: Vec<String> = app.overlays[0]
        .lines()
        .iter()
        .map(|l| l.text.clone())
        .collect();
    for b in app.keys.rows() {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(b.label) && l.contains(b.help)),
            "help misses {} {}",
            b.label,
            b.help
        );
    }
    press(&mut app, "<Esc>");
    assert_eq!(app.mode(), Mode::Table);
}

#[test]
fn a_plan_that_fails_leaves_an_error_and_unblocks_the_keys() {
    let mut app = sample_app();
    let effects = app.handle_key(keys("d")[0]);
    assert!(matches!(effects.as_slice(), [Effect::Plan(_)]));
    assert!(app.busy.is_some());
    // While the plan is made, another destructive key waits its turn.
    assert!(app.handle_key(keys("E")[0]).is_empty());
    app.apply(Event::Failed("the plan could not be made".into()));
    assert!(app.busy.is_none());
    assert_eq!(app.mode(), Mode::Error);
    press(&mut app, "<Enter>");
    assert!(matches!(
        app.handle_key(keys("d")[0]).as_slice(),
        [Effect::Plan(_)]
    ));
}
