//! The arguments that say which tree to load, shared by the subcommands
//! that read a tree without the daemon.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::tree::{self, Loaded, LocalFs};

/// Which tree, under which configuration.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// The events directory to read [default: ~/.hcron/<server_name>/events].
    #[arg(long, value_name = "DIR")]
    pub events: Option<PathBuf>,
    /// Configuration file [default: /etc/hcron/hcron.toml, else /etc/hcron/hcron.conf].
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// A tree loaded for the CLI, with what it was loaded under.
pub struct LoadedTree {
    /// Its events directory.
    pub root: PathBuf,
    /// The options it was loaded with.
    pub options: tree::Options,
    /// The events and issues.
    pub loaded: Loaded,
}

impl TreeArgs {
    /// Reads the configuration and loads the tree.
    pub fn load(&self) -> anyhow::Result<LoadedTree> {
        let config = Config::find(self.config.as_deref())?;
        config.warnings.iter().for_each(|w| eprintln!("warning: {w}"));
        let context = config.load_context();
        let root = match &self.events {
            Some(dir) => dir.clone(),
            None => {
                let home = crate::account::caller_home().context("no home directory: name the tree with --events DIR")?;
                home.join(".hcron").join(&context.server_name).join("events")
            }
        };
        let options = config.tree_options(context);
        let loaded = tree::load(&LocalFs, &root, &options).with_context(|| format!("cannot read events directory {}", root.display()))?;
        Ok(LoadedTree { root, options, loaded })
    }
}
