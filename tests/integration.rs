//! Every integration test in one binary, as ripgrep does: one link of tokio, reqwest,
//! ratatui and bollard instead of one per file, and one isolated daemon, registry and
//! BuildKit set-up per run (the `OnceLock`s in `common` are now shared by all modules).
//! `scripts/test.sh --test NAME` runs one module (`cargo test --test integration NAME::`).
//!
//! A new test file is a module here; Cargo.toml has `autotests = false`.

// Support shared by the test modules.
mod common;
mod scan_support;
mod tui_support;

// The GitHub Actions cache source against a loopback fake (tests/gha/).
mod gha;

mod adversarial_cli;
mod adversarial_fs;
mod adversarial_io;
mod adversarial_text;
mod buildkit_faults;
mod buildkit_grpc;
mod buildkit_metadata;
mod buildkit_sources;
mod buildx_state_volumes;
mod cargo_truth;
mod cli_install;
mod docker_prune;
mod docker_report;
mod docker_transport;
mod errors;
mod filesystems;
mod json_contract;
mod json_golden;
mod lint;
mod lint_origins;
mod local_export;
mod metrics;
mod multi_host;
mod plan_properties;
mod prune_budget;
mod prune_concurrency;
mod quiet_json;
mod registry;
mod registry_auth;
mod runner_hooks;
mod scan_cache_mounts;
mod scan_cargo_home;
mod scan_hostile;
mod scan_screen;
mod scan_vfs;
mod tui_details;
mod tui_e2e;
mod tui_journeys;
mod tui_layouts;
mod tui_live;
mod tui_narrow;
mod tui_screens;
mod tui_worker;
