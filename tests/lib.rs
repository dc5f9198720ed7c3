//! The integration suite: one binary, one module per area.

mod util;

mod bad_input;
mod bounded;
mod cli;
mod cluster;
mod conv;
mod corpus;
mod daemon;
mod daemon_root;
mod daemon_util;
mod host_namespace;
mod hostile;
mod ledger;
mod mail;
mod man;
mod messages;
mod packaging;
mod pg_util;
mod properties;
mod remote;
mod root_util;
mod run;
mod scenarios;
mod seeds;
mod ssh;
mod sshd_util;
mod textwrap_python;
