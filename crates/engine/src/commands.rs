//! The pool commands run in-process on a [`Session`], through `pooldbg-commands` (the same
//! functions the shipped plugins export): no plugin is loaded, no file beside the program needed.
//!
//! The answer is the command's [`Output`]: its rows (the columns the command declares, the
//! JSON objects the CLI's `--format json` prints as `rows`), its summary (with WinDbg's text
//! layout in `summary.text`) and its warnings. A failing command keeps what it wrote before the
//! failure ([`RunError::Command`]).

use std::fmt;

use plugin_sdk::{CommandError, Output};

use crate::Session;

/// A command the engine runs: its name without `!`, and the function of `pooldbg-commands`.
type Runner = fn(&dyn plugin_sdk::Target, &str, &mut Output) -> Result<(), CommandError>;

/// The commands [`Session::run`] knows, by name (without `!`), with their usage lines.
pub const COMMANDS: &[(&str, &str)] = &[
    ("poolused", poolcmds::poolused::USAGE),
    ("pool", poolcmds::pool::USAGE),
    ("poolfind", poolcmds::poolfind::USAGE),
    ("vm", poolcmds::vm::USAGE),
    ("frag", poolcmds::frag::USAGE),
];

fn runner(name: &str) -> Option<Runner> {
    Some(match name {
        "poolused" => poolcmds::poolused::run,
        "pool" => poolcmds::pool::run,
        "poolfind" => poolcmds::poolfind::run,
        "vm" => poolcmds::vm::run,
        "frag" => poolcmds::frag::run,
        _ => return None,
    })
}

/// The row columns of a command of [`COMMANDS`], in order.
pub fn columns(name: &str) -> Option<&'static [&'static str]> {
    Some(match name.trim_start_matches('!') {
        "poolused" => poolcmds::poolused::columns(),
        "pool" => poolcmds::pool::columns(),
        "poolfind" => poolcmds::poolfind::columns(),
        "vm" => poolcmds::vm::columns(),
        "frag" => poolcmds::frag::columns(),
        _ => return None,
    })
}

/// Why [`Session::run`] gave no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// Not one of [`COMMANDS`] (the name as given).
    UnknownCommand(String),
    /// The command failed; `output` holds what it wrote before (warnings included).
    Command {
        /// Why it failed (the CLI's `error` message is its `Display`).
        error: CommandError,
        /// Rows, summary and warnings written before the failure.
        output: Box<Output>,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownCommand(name) => {
                let known: Vec<String> = COMMANDS.iter().map(|(n, _)| format!("!{n}")).collect();
                write!(
                    f,
                    "unknown command {name}: the engine runs {}",
                    known.join(", ")
                )
            }
            RunError::Command { error, .. } => error.fmt(f),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Command { error, .. } => Some(error),
            RunError::UnknownCommand(_) => None,
        }
    }
}

impl Session {
    /// Runs one pool command in-process: `"!poolused 2"`, `"!pool ffffa00012345000"`,
    /// `"!poolfind Irp"`, `"!vm"`, `"!frag"` (the `!` is optional; arguments as WinDbg takes
    /// them). The answer is the command's [`Output`]; see the module docs.
    pub fn run(&self, command: &str) -> Result<Output, RunError> {
        let c = command.trim();
        let (name, args) = match c.find(char::is_whitespace) {
            Some(i) => (&c[..i], c[i..].trim()),
            None => (c, ""),
        };
        let lower = name.trim_start_matches('!').to_ascii_lowercase();
        let Some(run) = runner(&lower) else {
            return Err(RunError::UnknownCommand(name.to_string()));
        };
        let mut out = Output::new();
        match run(self, args, &mut out) {
            Ok(()) => Ok(out),
            Err(error) => Err(RunError::Command {
                error,
                output: Box::new(out),
            }),
        }
    }
}
