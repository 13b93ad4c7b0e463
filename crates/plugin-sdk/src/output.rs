//! What a command produces: rows, text lines, a summary, warnings.

use serde_json::Value;

/// Where a streaming [`Output`] sends rows and lines as they are made (the plugin's host, through
/// `emit_row`/`emit_text`). Each returns `false` when the host refused or can take no more (its
/// output was closed): the output then keeps nothing more and the command should stop (the host
/// also reports it as cancelled).
pub trait OutputStream: Send {
    /// One row (a JSON object).
    fn row(&mut self, row: &Value) -> bool;
    /// One line of the command's own text layout.
    fn line(&mut self, line: &str) -> bool;
}

/// The summary member holding a command's text as printed with `-v` (an array of strings), beside
/// `text`: a command that sends it has summarised in `text` what its warnings change, so the text
/// renderer prints the warnings only with `-v`; machine formats drop both members
/// (docs/PLUGINS.md, "Text layouts").
pub const VERBOSE_TEXT: &str = "text_verbose";

/// Collects a command's results. Rows are JSON objects (one per line of output); text lines are
/// the command's own layout (WinDbg's); the summary is any JSON value (a TOTAL line, a region
/// kind); warnings are sentences for the user.
///
/// An output made by [`Output::streaming`] (what `export_plugin!` gives a command when the host
/// can take rows and lines one at a time) sends each row and line on at once and keeps none of
/// them, so a command that lists millions of blocks needs no memory for them (issue #21): read
/// [`Output::rows`] and [`Output::lines`] only in tests, with [`Output::new`].
#[derive(Default)]
pub struct Output {
    rows: Vec<Value>,
    lines: Vec<String>,
    summary: Option<Value>,
    warnings: Vec<String>,
    stream: Option<Box<dyn OutputStream>>,
    /// A streamed row or line was refused.
    refused: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("rows", &self.rows)
            .field("lines", &self.lines)
            .field("summary", &self.summary)
            .field("warnings", &self.warnings)
            .field("streaming", &self.stream.is_some())
            .finish()
    }
}

impl PartialEq for Output {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
            && self.lines == other.lines
            && self.summary == other.summary
            && self.warnings == other.warnings
    }
}

impl Output {
    /// An empty output that keeps everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// An output that hands each row and line to `stream` and keeps none of them.
    pub fn streaming(stream: Box<dyn OutputStream>) -> Self {
        Output {
            stream: Some(stream),
            ..Self::default()
        }
    }

    /// Adds a row. It must be a JSON object ([`validate_row`]); the host rejects anything else.
    pub fn row(&mut self, row: Value) {
        match self.stream.as_mut() {
            Some(s) => {
                if !self.refused && !s.row(&row) {
                    self.refused = true;
                }
            }
            None => self.rows.push(row),
        }
    }

    /// Adds a typed row ([`crate::Row`], declared with [`crate::row!`]): serialized to a JSON
    /// object and handed on as [`Output::row`] does. A row that does not serialize (a map with
    /// non-string keys, a failing hand-written `Serialize`) becomes a warning naming the error,
    /// never a panic.
    pub fn emit<R: crate::Row>(&mut self, row: &R) {
        match serde_json::to_value(row) {
            Ok(v) => self.row(v),
            Err(e) => self.warn(format!("a row could not be serialized: {e}")),
        }
    }

    /// Adds a line of the command's own text layout (WinDbg's), printed in text mode as it
    /// comes; machine formats drop it. A command that has a layout of its own sends every line
    /// this way (or, the older convention, puts them all in `summary.text`).
    pub fn line(&mut self, line: impl Into<String>) {
        let line = line.into();
        match self.stream.as_mut() {
            Some(s) => {
                if !self.refused && !s.line(&line) {
                    self.refused = true;
                }
            }
            None => self.lines.push(line),
        }
    }

    /// True when the host refused a streamed row or line (its output is closed, or a row was
    /// not a JSON object): the command may as well stop.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Sets the summary (replacing an earlier one).
    pub fn set_summary(&mut self, summary: Value) {
        self.summary = Some(summary);
    }

    /// Adds a warning (e.g. a figure that could not be computed, and why).
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The rows kept so far (none when streaming).
    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    /// The text lines kept so far (none when streaming).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The summary, if set.
    pub fn summary(&self) -> Option<&Value> {
        self.summary.as_ref()
    }

    /// The warnings so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The command's WinDbg text layout as the host prints it in text mode without `-v`: the
    /// lines sent with [`Output::line`], the summary's `text` lines, then one `warning: ...` line
    /// per warning — unless the summary also has [`VERBOSE_TEXT`] lines: the command then says in
    /// `text` what its warnings change, and they are printed only with `-v` (docs/PLUGINS.md,
    /// "Text layouts"). Empty when the command brings no text and has no warnings.
    pub fn render_text(&self) -> String {
        self.render(false)
    }

    /// The text as the host prints it with `-v`: the summary's [`VERBOSE_TEXT`] lines when it has
    /// them (else its `text` lines), then every warning.
    pub fn render_text_verbose(&self) -> String {
        self.render(true)
    }

    fn render(&self, verbose: bool) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        let lines = |key: &str| {
            self.summary
                .as_ref()
                .and_then(|v| v.get(key))
                .and_then(Value::as_array)
        };
        let detailed = lines(VERBOSE_TEXT);
        let text = match (verbose, detailed) {
            (true, Some(d)) => Some(d),
            _ => lines("text"),
        };
        for l in text.into_iter().flatten() {
            s.push_str(l.as_str().unwrap_or(""));
            s.push('\n');
        }
        if verbose || detailed.is_none() {
            for w in &self.warnings {
                s.push_str("warning: ");
                s.push_str(w);
                s.push('\n');
            }
        }
        s
    }

    /// Rows, summary and warnings (lines kept by [`Output::line`] are left out: see
    /// [`Output::into_all`]).
    pub fn into_parts(self) -> (Vec<Value>, Option<Value>, Vec<String>) {
        (self.rows, self.summary, self.warnings)
    }

    /// Rows, text lines, summary and warnings.
    pub fn into_all(self) -> (Vec<Value>, Vec<String>, Option<Value>, Vec<String>) {
        (self.rows, self.lines, self.summary, self.warnings)
    }
}

/// Checks that `row` is a JSON object, as every row of the output contract is.
pub fn validate_row(row: &Value) -> Result<(), String> {
    match row {
        Value::Object(_) => Ok(()),
        other => Err(format!(
            "a row must be a JSON object, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_in_order() {
        let mut out = Output::new();
        out.row(json!({"a": 1}));
        out.row(json!({"a": 2}));
        out.warn("w");
        out.set_summary(json!(1));
        out.set_summary(json!({"total": 3}));
        let (rows, summary, warnings) = out.into_parts();
        assert_eq!(rows, vec![json!({"a": 1}), json!({"a": 2})]);
        assert_eq!(summary, Some(json!({"total": 3})));
        assert_eq!(warnings, vec!["w".to_string()]);
    }

    crate::row! {
        #[derive(serde::Serialize)]
        struct Two {
            b: u8,
            a: &'static str,
        }
    }

    #[test]
    fn emit_sends_a_typed_row_as_json() {
        let mut out = Output::new();
        out.emit(&Two { b: 7, a: "x" });
        assert_eq!(out.rows(), [json!({"b": 7, "a": "x"})]);
        // A map with non-string keys does not serialize: a warning, no row, no panic.
        #[derive(serde::Serialize)]
        struct Bad {
            m: std::collections::BTreeMap<(u8, u8), u8>,
        }
        impl crate::Row for Bad {
            const COLUMNS: &'static [&'static str] = &["m"];
        }
        let mut out = Output::new();
        out.emit(&Bad {
            m: [((1, 2), 3)].into(),
        });
        assert!(out.rows().is_empty());
        assert!(
            out.warnings()[0].contains("could not be serialized"),
            "{:?}",
            out.warnings()
        );
    }

    #[test]
    fn only_objects_are_rows() {
        assert!(validate_row(&json!({"x": 1})).is_ok());
        assert_eq!(
            validate_row(&json!([1])).unwrap_err(),
            "a row must be a JSON object, not an array"
        );
        assert!(validate_row(&json!("s")).is_err());
    }
}

#[cfg(test)]
mod render_text_tests {
    use super::*;

    #[test]
    fn text_lines_then_warnings() {
        let mut out = Output::new();
        out.set_summary(serde_json::json!({"total": 3, "text": ["a  b", "TOTAL 3"]}));
        out.warn("table paged out");
        assert_eq!(
            out.render_text(),
            "a  b\nTOTAL 3\nwarning: table paged out\n"
        );
        assert_eq!(Output::new().render_text(), "");
        // Without a verbose text, -v prints the same.
        assert_eq!(out.render_text_verbose(), out.render_text());
    }

    /// A command with a verbose text: without -v its short text and no warnings (it summarised
    /// them); with -v the verbose lines and every warning.
    #[test]
    fn verbose_text_holds_the_detail() {
        let mut out = Output::new();
        out.set_summary(serde_json::json!({
            "text": ["not shown: Special Pool", "Total 3"],
            VERBOSE_TEXT: ["sources: MmTotal (kdbg)", "Total 3"],
        }));
        out.warn("not shown: special_pool_pages: no symbol MmSpecialPagesInUse");
        assert_eq!(out.render_text(), "not shown: Special Pool\nTotal 3\n");
        assert_eq!(
            out.render_text_verbose(),
            "sources: MmTotal (kdbg)\nTotal 3\n\
             warning: not shown: special_pool_pages: no symbol MmSpecialPagesInUse\n"
        );
    }
}
