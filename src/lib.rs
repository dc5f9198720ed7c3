//! hcron: a cron-like scheduler whose events are files in per-user trees.
//!
//! The flow: files → [`tree`] (one user's events) → [`event`] (parse,
//! substitute, validate). See `ARCHITECTURE.md` for the whole map.

pub mod account;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod control;
pub mod conv;
pub mod credentials;
pub mod daemon;
pub mod engine;
pub mod event;
pub mod exec;
pub mod history;
pub mod host;
pub mod log;
pub mod mail;
pub mod outcome;
pub mod schedule;
pub mod simulate;
pub mod state_files;
pub mod synth;
pub mod textwrap;
pub mod tree;
