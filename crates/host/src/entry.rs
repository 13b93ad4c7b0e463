//! The library entry for callers other than the command line (batch, the Python binding): open
//! a dump as the CLI does, and run a kd command to the CLI's JSON object.
//!
//! Kept to two functions and one type so that a move of [`Session`] into a library crate changes
//! one import here, not the callers.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::Options;
use crate::dispatch::HostView;
use crate::loader::{PluginSet, SearchPath};
use pooldbg_engine::{Session, SessionOptions};

/// Opens `path` as the `pooldbg` binary does (its `--symbols`, `--pooltag`, `_NT_SYMBOL_PATH`),
/// failing with the CLI's message when it cannot, or when a raw image holds no Windows.
pub fn open_dump(path: &Path, options: &Options) -> Result<Box<dyn HostView + Sync>, String> {
    open_session(path, options).map(|s| Box::new(s) as Box<dyn HostView + Sync>)
}

/// [`open_dump`] as the session itself (`Send` and `Sync`: the binding opens it off the GIL).
pub fn open_session(path: &Path, options: &Options) -> Result<Session, String> {
    use std::io::IsTerminal;
    let session_options = SessionOptions {
        symbols: options.symbols.clone(),
        pooltag_files: options.pooltag.clone(),
        use_nt_symbol_path: true,
        no_embedded_profiles: false,
        // A symbol-server download draws a bar on a terminal unless -q.
        download_progress: !options.quiet && std::io::stderr().is_terminal(),
        // Long commands feed the terminal's bar when one is active (crate::progress).
        progress: Some(crate::progress::terminal_handle()),
    };
    // A raw image with no Windows in it says so and fails, not "unknown" everywhere.
    pooldbg_engine::open(path, &session_options).map_err(|e| e.to_string())
}

/// One open dump with the plugins that answer its commands.
pub struct Analysis {
    view: Session,
    plugins: PluginSet,
    path: PathBuf,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis")
            .field("path", &self.path)
            .finish()
    }
}

impl Analysis {
    /// Opens `path` ([`open_dump`]) and finds the plugins: those in `plugin_dirs` first, then
    /// the usual search (`POOLDBG_PLUGIN_PATH`, beside the executable).
    pub fn open(path: &Path, symbols: &[PathBuf], plugin_dirs: &[PathBuf]) -> Result<Self, String> {
        let options = Options {
            symbols: symbols.to_vec(),
            plugin_dir: plugin_dirs.to_vec(),
            quiet: true,
            ..Options::default()
        };
        let view = open_session(path, &options).map_err(|e| {
            let p = path.display().to_string();
            if e.starts_with(&p) {
                e
            } else {
                format!("{p}: {e}")
            }
        })?;
        let plugins = PluginSet::discover(SearchPath::from_environment(plugin_dirs));
        Ok(Analysis {
            view,
            plugins,
            path: path.to_path_buf(),
        })
    }

    /// Runs one kd command: the CLI's `--format json` object, and whether it succeeded.
    pub fn run(&self, command: &str) -> (Value, bool) {
        crate::batch::command_json(&self.view, &self.plugins, command)
    }

    /// The `dump` object of batch lines: path, build, bugcheck code.
    pub fn identity(&self) -> Value {
        crate::batch::dump_identity(&self.path, Some(&self.view as &dyn HostView))
    }

    /// The plugins found.
    pub fn plugins(&self) -> &PluginSet {
        &self.plugins
    }
}
