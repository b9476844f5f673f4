//! The three ways `cachetop lint` prints a run: text for people, the
//! `cachetop.lint.v1` JSON document, and SARIF 2.1.0 for code scanning.

pub(crate) mod json;
pub(crate) mod sarif;
pub(crate) mod text;
