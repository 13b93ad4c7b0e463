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
    /// The command's text as printed with `-v` (the summary's `text_verbose`, docs/PLUGINS.md
    /// "Text layouts"): when set, `text` already says what the warnings change, so the text
    /// renderer prints the warnings only with `-v`.
    pub text_verbose: Option<Vec<String>>,
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

/// Where a command's rows and text lines go as they are produced (issue #21: output streams).
///
/// The renderer implements it to write each row (jsonl, csv, json) or line (text) at once, so a
/// command's memory does not grow with its output; [`Collect`] keeps them (tests, the demo).
/// Callbacks of a plugin's worker threads reach it under the bridge's lock, hence `Send`.
pub trait Sink: Send {
    /// One row (a JSON object), in the order produced.
    fn row(&mut self, row: Value) -> std::io::Result<()>;
    /// One line of the command's own text layout (WinDbg's); machine formats drop it.
    fn line(&mut self, line: String) -> std::io::Result<()>;
    /// Will rows be used? `false` once a text renderer has seen the command's own lines: a
    /// command may then skip building them.
    fn wants_rows(&self) -> bool {
        true
    }
}

/// A [`Sink`] that keeps everything: the rows and lines of a [`CommandResult`] built in memory.
#[derive(Debug, Default)]
pub struct Collect {
    /// The rows, in order.
    pub rows: Vec<Value>,
    /// The text lines, `None` when the command produced none.
    pub text: Option<Vec<String>>,
}

impl Sink for Collect {
    fn row(&mut self, row: Value) -> std::io::Result<()> {
        self.rows.push(row);
        Ok(())
    }

    fn line(&mut self, line: String) -> std::io::Result<()> {
        self.text.get_or_insert_with(Vec::new).push(line);
        Ok(())
    }
}

impl Collect {
    /// Puts what was collected in front of what `result` holds.
    pub fn into_result(self, mut result: CommandResult) -> CommandResult {
        if !self.rows.is_empty() {
            let mut rows = self.rows;
            rows.append(&mut result.rows);
            result.rows = rows;
        }
        if let Some(mut lines) = self.text {
            if let Some(more) = result.text.take() {
                lines.extend(more);
            }
            result.text = Some(lines);
        }
        result
    }
}
