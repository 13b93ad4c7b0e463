//! What one command produced, as the renderers see it.

use serde_json::Value;

/// The result of one command, host or plugin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandResult {
    /// The command as typed, normalised: `"info"`, `"db"`, `"!poolused"`.
    pub command: String,
    /// The raw argument string that followed the name (trimmed).
    pub args: String,
    /// Rows (JSON objects).
    pub rows: Vec<Value>,
    /// The summary, when the command set one (the TOTAL line of `!poolused`, the region of `!pool`).
    pub summary: Option<Value>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// The command's own text layout (WinDbg's), when it has one; the text renderer prints these
    /// lines instead of a generic table, the machine formats drop them.
    pub text: Option<Vec<String>>,
    /// Why the command failed; `None` when it succeeded.
    pub error: Option<String>,
    /// The columns the command declared (a plugin's `Command::columns`), in order; empty: the
    /// host's own order for its commands ([`crate::render::field_order`]), else sorted keys.
    pub columns: Vec<String>,
}

impl CommandResult {
    /// An empty result for `command` with `args`.
    pub fn new(command: &str, args: &str) -> Self {
        CommandResult {
            command: command.to_string(),
            args: args.trim().to_string(),
            ..Default::default()
        }
    }

    /// A failed result.
    pub fn failed(command: &str, args: &str, error: impl Into<String>) -> Self {
        CommandResult {
            error: Some(error.into()),
            ..CommandResult::new(command, args)
        }
    }

    /// Did the command succeed?
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}
