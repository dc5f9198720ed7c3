//! hcron: a cron-like scheduler whose events are files in per-user trees.
//!
//! The flow: files → [`tree`] (one user's events) → [`event`] (parse,
//! substitute, validate). See `ARCHITECTURE.md` for the whole map.

pub mod check;
pub mod cli;
pub mod config;
pub mod event;
pub mod host;
pub mod synth;
pub mod tree;
