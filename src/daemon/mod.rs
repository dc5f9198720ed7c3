//! The scheduler daemon.

pub mod minutes;
