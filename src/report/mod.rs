//! Output for people (tables) and for programs (versioned JSON).

pub mod json;
pub mod table;
