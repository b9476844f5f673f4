//! `cachetop lint`: finds the Dockerfile and CI workflow patterns that poison or waste
//! build caches (see README, "cachetop lint"). Parsing and rules are pure; the only
//! I/O is `discover`.

pub(crate) mod dockerfile;
pub(crate) mod finding;
// pub(crate) mod rules;
