//! `pooldbg`: the command line. For now: the plugin listing; the dump commands come with the CLI.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pooldbg::loader::{PluginSet, SearchPath};

/// Answers WinDbg's pool questions (!vm, !poolused, !pool, !frag) from Windows crash dumps.
#[derive(Debug, Parser)]
#[command(name = "pooldbg", version)]
struct Cli {
    /// Also look for plugins in DIR (repeatable; searched first, earlier wins on a duplicate).
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dir: Vec<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the plugins found, with their commands, and the files rejected with the reason.
    Plugins,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Plugins => {
            let set = PluginSet::discover(SearchPath::from_environment(&cli.plugin_dir));
            print!("{}", set.render());
            ExitCode::SUCCESS
        }
    }
}
