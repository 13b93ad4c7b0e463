//! What a command produces: rows, a summary, warnings.

use serde_json::Value;

/// Collects a command's results. Rows are JSON objects (one per line of output); the summary is
/// any JSON value (a TOTAL line, a region kind); warnings are sentences for the user.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Output {
    rows: Vec<Value>,
    summary: Option<Value>,
    warnings: Vec<String>,
}

impl Output {
    /// An empty output.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row. It must be a JSON object ([`validate_row`]); the host rejects anything else.
    pub fn row(&mut self, row: Value) {
        self.rows.push(row);
    }

    /// Sets the summary (replacing an earlier one).
    pub fn set_summary(&mut self, summary: Value) {
        self.summary = Some(summary);
    }

    /// Adds a warning (e.g. a figure that could not be computed, and why).
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// The rows so far.
    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    /// The summary, if set.
    pub fn summary(&self) -> Option<&Value> {
        self.summary.as_ref()
    }

    /// The warnings so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The command's WinDbg text layout as the host prints it in text mode: the summary's `text`
    /// lines, then one `warning: ...` line per warning (docs/PLUGINS.md, "Text layouts"). Empty
    /// when the command brings no `summary.text` and has no warnings.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        if let Some(lines) = self
            .summary
            .as_ref()
            .and_then(|v| v.get("text"))
            .and_then(Value::as_array)
        {
            for l in lines {
                s.push_str(l.as_str().unwrap_or(""));
                s.push('\n');
            }
        }
        for w in &self.warnings {
            s.push_str("warning: ");
            s.push_str(w);
            s.push('\n');
        }
        s
    }

    /// Rows, summary and warnings.
    pub fn into_parts(self) -> (Vec<Value>, Option<Value>, Vec<String>) {
        (self.rows, self.summary, self.warnings)
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
    }
}
