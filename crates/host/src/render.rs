//! Renderers: text (WinDbg's layouts where there is one), json, jsonl, csv — CONTRACT.md "Output".

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::outcome::{CommandResult, Sink};

/// The JSON schema version of `--format json` (docs/JSON.md); bumped only on a breaking change.
pub const SCHEMA: u32 = 1;

/// An output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// WinDbg's layouts (the default).
    #[default]
    Text,
    /// One JSON object per command, one per line.
    Json,
    /// One JSON object per row, each carrying `"command"`.
    Jsonl,
    /// The rows of each command under a header line.
    Csv,
}

impl Format {
    /// Is this a machine format (no progress bars, warnings on stderr for jsonl/csv)?
    pub fn is_machine(self) -> bool {
        self != Format::Text
    }
}

/// The column order of the host's own commands' rows (CONTRACT.md "Fields"); other keys follow
/// sorted. A plugin's command declares its own (`plugin_sdk::Command::columns`, carried in
/// [`CommandResult::columns`]); a plugin that declares none gets its keys sorted.
pub fn field_order(command: &str) -> &'static [&'static str] {
    match command {
        "info" => &[
            "arch",
            "build",
            "version",
            "kernel_base",
            "kdbg",
            "dtb",
            "dump_type",
            "processors",
            "bugcheck_code",
            "bugcheck_parameters",
            "pdb",
            "symbol_source",
            "missing_pages",
        ],
        "lm" => &["name", "base", "size", "path", "module"],
        // `pooldbg diff` and `.diff` (CONTRACT.md, docs/DIFF_REPORT.md).
        "diff" | ".diff" => &[
            "tag",
            "driver",
            "nonpaged_allocs_delta",
            "nonpaged_bytes_delta",
            "paged_allocs_delta",
            "paged_bytes_delta",
            "bytes_delta",
            "trend",
            "nonpaged_allocs",
            "nonpaged_bytes",
            "paged_allocs",
            "paged_bytes",
            "binary",
            "tags",
            "attribution",
        ],
        "db" | "dd" | "dq" | "!db" | "!dd" | "!dq" => &["address", "values", "ascii", "unreadable"],
        "!pte" => &[
            "level",
            "entry_address",
            "entry_physical",
            "value",
            "state",
            "pfn",
        ],
        ".help" => &["command", "usage", "summary", "provider"],
        _ => &[],
    }
}

/// The columns of a result's rows: the order the command declared, else the host's order for
/// its own commands ([`field_order`]), then every other key, sorted.
pub fn result_columns(r: &CommandResult) -> Vec<String> {
    if r.columns.is_empty() {
        columns(&r.command, &r.rows)
    } else {
        let order: Vec<&str> = r.columns.iter().map(String::as_str).collect();
        ordered_columns(&order, &r.rows)
    }
}

/// The columns of `rows`: the host command's contract order first, then every other key, sorted.
pub fn columns(command: &str, rows: &[Value]) -> Vec<String> {
    ordered_columns(field_order(command), rows)
}

/// The keys of `rows` in `order` (those present), then every other key, sorted.
fn ordered_columns(order: &[&str], rows: &[Value]) -> Vec<String> {
    let mut present: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(m) = row {
            for k in m.keys() {
                if order.contains(&k.as_str()) {
                    if !present.contains(k) {
                        present.push(k.clone());
                    }
                } else if !extra.contains(k) {
                    extra.push(k.clone());
                }
            }
        }
    }
    let mut cols: Vec<String> = order
        .iter()
        .filter(|k| present.iter().any(|p| p == *k))
        .map(|k| k.to_string())
        .collect();
    extra.sort();
    cols.extend(extra);
    cols
}

/// The command-specific text convention (docs/PLUGINS.md, "Text layouts"): a plugin that has a
/// WinDbg layout puts its lines in `summary.text` (an array of strings). The host takes them out:
/// the text renderer prints them, the machine formats never see them. A summary left empty
/// becomes `None`.
pub fn take_text(summary: &mut Option<Value>) -> Option<Vec<String>> {
    take_lines(summary, "text")
}

/// Takes the array of strings `key` (`text`, `text_verbose`) out of an object summary; a summary
/// left empty becomes `None`. `None` (and the summary untouched) when the member is absent or not
/// an array of strings.
pub fn take_lines(summary: &mut Option<Value>, key: &str) -> Option<Vec<String>> {
    let Some(Value::Object(map)) = summary else {
        return None;
    };
    let lines = match map.get(key) {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>(),
        _ => return None,
    };
    map.remove(key);
    if map.is_empty() {
        *summary = None;
    }
    Some(lines)
}

/// One result as `--format json` prints it (CONTRACT.md "Output"): `{"command", "args", "schema",
/// "target", "sources", "rows", "summary", "warnings"}`, or `{"command", "error"}` when it failed.
pub fn result_object(r: &CommandResult, target: &Value, sources: &Value) -> Value {
    match &r.error {
        Some(e) => json!({"command": r.command, "error": e}),
        None => json!({
            "command": r.command,
            "args": r.args,
            "schema": SCHEMA,
            "target": target,
            "sources": sources,
            "rows": r.rows,
            "summary": r.summary,
            "warnings": r.warnings,
        }),
    }
}

/// How many rows CSV looks at before it writes its header: the columns are those of the first
/// rows (a key first seen later is reported on stderr, not added).
pub const CSV_LOOKAHEAD: usize = 1024;

/// The command being rendered, between [`Renderer::begin`] and [`Renderer::finish`].
#[derive(Debug, Default)]
struct Current {
    command: String,
    args: String,
    /// Rows held back: text (for the generic table, until the command sends a line of its own
    /// layout) and CSV (until the header is known).
    held: Vec<Value>,
    /// A text line of the command's own layout has been written.
    lines_seen: bool,
    /// JSON: the object's head and `"rows":[` have been written; rows written since.
    json_rows: Option<usize>,
    /// CSV: the header written.
    csv_cols: Option<Vec<String>>,
    /// CSV: keys seen after the header that it does not hold.
    csv_dropped: Vec<String>,
    /// The columns the command declared ([`Renderer::declare`] or the result's own).
    columns: Vec<String>,
}

impl Current {
    /// The held rows (then `more`) as a result with the command's declared columns, for
    /// [`text_table`] and [`result_columns`]; the held rows are moved into it.
    fn held_result(&mut self, more: &[Value]) -> CommandResult {
        let mut rows = std::mem::take(&mut self.held);
        rows.extend(more.iter().cloned());
        CommandResult {
            command: self.command.clone(),
            args: self.args.clone(),
            rows,
            columns: self.columns.clone(),
            ..Default::default()
        }
    }
}

/// Renders results as they come: [`Renderer::begin`], then rows and lines through [`Sink`] (each
/// written at once where the format allows), then [`Renderer::finish`] with the rest of the
/// result. [`Renderer::render`] does all three for a result built whole.
#[derive(Debug)]
pub struct Renderer<W: Write, E: Write> {
    format: Format,
    out: W,
    err: E,
    /// The `target` object of json output.
    target: Value,
    /// The `sources` object of json output.
    sources: Value,
    /// The symbol line printed before the first text output (when symbols are not exact).
    header: Option<String>,
    /// Echo `kd> COMMAND` before each command's text.
    echo: bool,
    /// `-v`: each command's detail too (its verbose text, the warnings it summarised, an
    /// error's lines after the first).
    verbose: bool,
    csv_blocks: usize,
    current: Option<Current>,
}

impl<W: Write, E: Write> Renderer<W, E> {
    /// A renderer writing results to `out` and errors/notes to `err`.
    pub fn new(format: Format, out: W, err: E, target: Value, sources: Value) -> Self {
        Renderer {
            format,
            out,
            err,
            target,
            sources,
            header: None,
            echo: false,
            verbose: false,
            csv_blocks: 0,
            current: None,
        }
    }

    /// Sets the first text line (e.g. `symbols: embedded profile 10.0.19041.329`).
    pub fn with_header(mut self, header: Option<String>) -> Self {
        self.header = header;
        self
    }

    /// Adds `note: ...` lines after the header line: what changes the meaning of every answer
    /// (a truncated dump, `--symbols` that gave nothing), printed once, first (text only).
    pub fn with_notes(mut self, notes: &[String]) -> Self {
        if notes.is_empty() {
            return self;
        }
        let mut h = self.header.take().map(|h| vec![h]).unwrap_or_default();
        h.extend(notes.iter().map(|n| format!("note: {n}")));
        self.header = Some(h.join("\n"));
        self
    }

    /// `-v` in text: print each command's verbose text ([`CommandResult::text_verbose`]), the
    /// warnings its short text summarised, and every line of an error (without it, an error's
    /// first line, which says what matters). Machine formats always carry everything.
    pub fn with_verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Echo `kd> COMMAND ARGS` before each command in text (the `-c` form).
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Is the format a machine format (no progress display)?
    pub fn is_machine(&self) -> bool {
        self.format.is_machine()
    }

    /// Writes the text header now, if it has not been written (text format only).
    pub fn write_header(&mut self) -> io::Result<()> {
        if self.format == Format::Text
            && let Some(h) = self.header.take()
        {
            writeln!(self.out, "{h}")?;
        }
        Ok(())
    }

    /// Renders one command's result, built whole.
    pub fn render(&mut self, r: &CommandResult) -> io::Result<()> {
        self.begin(&r.command, &r.args)?;
        self.finish(r)
    }

    /// Starts a command: its rows and lines may follow through [`Sink`].
    pub fn begin(&mut self, command: &str, args: &str) -> io::Result<()> {
        self.current = Some(Current {
            command: command.to_string(),
            args: args.trim().to_string(),
            ..Default::default()
        });
        if self.format == Format::Text {
            self.write_header()?;
            if self.echo {
                let args = args.trim();
                if args.is_empty() {
                    writeln!(self.out, "kd> {command}")?;
                } else {
                    writeln!(self.out, "kd> {command} {args}")?;
                }
            }
        }
        Ok(())
    }

    /// Sets the columns the command begun declares (a plugin's `Command::columns`), for the
    /// CSV header and the generic text table before its rows arrive.
    pub fn declare(&mut self, columns: &[String]) {
        if let Some(cur) = self.current.as_mut() {
            cur.columns = columns.to_vec();
        }
    }

    /// Ends the command begun: `r` holds what was not streamed (its rows and text follow those
    /// streamed), the summary, warnings and error.
    pub fn finish(&mut self, r: &CommandResult) -> io::Result<()> {
        let mut cur = self.current.take().unwrap_or_else(|| Current {
            command: r.command.clone(),
            args: r.args.clone(),
            ..Default::default()
        });
        if cur.columns.is_empty() {
            cur.columns = r.columns.clone();
        }
        match self.format {
            Format::Text => self.text_end(&mut cur, r)?,
            Format::Json => self.json_end(&mut cur, r)?,
            Format::Jsonl => self.jsonl_end(&cur, r)?,
            Format::Csv => self.csv_end(&mut cur, r)?,
        }
        self.out.flush()
    }

    /// The writers back (for tests).
    pub fn into_inner(self) -> (W, E) {
        (self.out, self.err)
    }

    fn error_to_err(&mut self, command: &str, e: &str) -> io::Result<()> {
        self.out.flush()?;
        // A message that already names the command (`!vm: ...`) is not prefixed twice.
        let e = e
            .strip_prefix(command)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(e);
        // The first line says what matters; the lines after it are detail (per-figure reasons),
        // printed with -v (issue #21: a triage dump's `!vm` error was one 1,700-character line).
        match e.split_once('\n') {
            Some((first, rest)) if !self.verbose => {
                let n = rest.lines().filter(|l| !l.trim().is_empty()).count();
                writeln!(
                    self.err,
                    "error: {command}: {first} (-v shows {n} more line{})",
                    if n == 1 { "" } else { "s" }
                )?;
            }
            _ => writeln!(self.err, "error: {command}: {e}")?,
        }
        self.err.flush()
    }

    fn text_end(&mut self, cur: &mut Current, r: &CommandResult) -> io::Result<()> {
        if let Some(e) = &r.error {
            // Warnings emitted before the failure are kept (issue #22).
            for w in &r.warnings {
                writeln!(self.out, "warning: {w}")?;
            }
            return self.error_to_err(&cur.command, e);
        }
        // A command with a verbose text summarised its warnings in its short text.
        let text = match (&r.text_verbose, self.verbose) {
            (Some(v), true) => Some(v),
            _ => r.text.as_ref(),
        };
        let warnings = self.verbose || r.text_verbose.is_none();
        match (text, cur.lines_seen) {
            (Some(lines), _) => {
                for l in lines {
                    writeln!(self.out, "{l}")?;
                }
            }
            (None, true) => {}
            (None, false) => {
                let held = cur.held_result(&r.rows);
                for l in text_table(&held) {
                    writeln!(self.out, "{l}")?;
                }
                if let Some(s) = &r.summary {
                    match s {
                        Value::Object(m) => {
                            for (k, v) in m {
                                writeln!(self.out, "{k}: {}", cell(v))?;
                            }
                        }
                        other => writeln!(self.out, "{}", cell(other))?,
                    }
                }
            }
        }
        if warnings {
            for w in &r.warnings {
                writeln!(self.out, "warning: {w}")?;
            }
        }
        Ok(())
    }

    /// The head of a command's JSON object, up to its rows: the keys before `rows` in the order
    /// `serde_json` writes an object (sorted), so a streamed object reads as one built whole.
    fn json_open(&mut self, cur: &mut Current) -> io::Result<()> {
        if cur.json_rows.is_none() {
            write!(
                self.out,
                "{{\"args\":{},\"command\":{},\"rows\":[",
                Value::String(cur.args.clone()),
                Value::String(cur.command.clone())
            )?;
            cur.json_rows = Some(0);
        }
        Ok(())
    }

    fn json_row(&mut self, cur: &mut Current, row: &Value) -> io::Result<()> {
        self.json_open(cur)?;
        let n = cur.json_rows.get_or_insert(0);
        if *n > 0 {
            self.out.write_all(b",")?;
        }
        *n += 1;
        serde_json::to_writer(&mut self.out, row).map_err(io::Error::other)
    }

    fn json_end(&mut self, cur: &mut Current, r: &CommandResult) -> io::Result<()> {
        if let Some(e) = &r.error
            && cur.json_rows.is_none()
        {
            let mut v = json!({"command": cur.command, "error": e});
            if !r.warnings.is_empty() {
                v["warnings"] = json!(r.warnings);
            }
            return writeln!(self.out, "{v}");
        }
        for row in &r.rows {
            self.json_row(cur, row)?;
        }
        self.json_open(cur)?;
        // After rows already written, a failure can only be told at the end of the object.
        if let Some(e) = &r.error {
            write!(self.out, "],\"error\":{}", Value::String(e.clone()))?;
        } else {
            self.out.write_all(b"]")?;
        }
        let tail = json!({
            "schema": SCHEMA,
            "sources": self.sources,
            "summary": r.summary,
            "target": self.target,
            "warnings": r.warnings,
        });
        let tail = tail.to_string();
        // `{"schema":...}` → `,"schema":...}`: the rest of the same object.
        writeln!(self.out, ",{}", &tail[1..])
    }

    fn jsonl_row(&mut self, command: &str, row: &Value) -> io::Result<()> {
        let mut m = Map::new();
        m.insert("command".into(), json!(command));
        if let Value::Object(fields) = row {
            for (k, v) in fields {
                if k != "command" {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::to_writer(&mut self.out, &Value::Object(m)).map_err(io::Error::other)?;
        self.out.write_all(b"\n")
    }

    fn jsonl_end(&mut self, cur: &Current, r: &CommandResult) -> io::Result<()> {
        for row in &r.rows {
            self.jsonl_row(&cur.command, row)?;
        }
        if let Some(e) = &r.error {
            self.warnings_to_err(r)?;
            writeln!(self.out, "{}", json!({"command": cur.command, "error": e}))?;
            return Ok(());
        }
        self.warnings_to_err(r)
    }

    fn csv_header(&mut self, cur: &mut Current) -> io::Result<()> {
        if cur.csv_cols.is_some() {
            return Ok(());
        }
        if self.csv_blocks > 0 {
            writeln!(self.out)?;
        }
        self.csv_blocks += 1;
        let held = cur.held_result(&[]);
        let cols = result_columns(&held);
        cur.held = held.rows;
        let header: Vec<String> = cols.iter().map(|c| csv_field(c)).collect();
        writeln!(self.out, "{}", header.join(","))?;
        let held = std::mem::take(&mut cur.held);
        for row in &held {
            self.csv_line(&cols, row)?;
        }
        cur.csv_cols = Some(cols);
        Ok(())
    }

    fn csv_line(&mut self, cols: &[String], row: &Value) -> io::Result<()> {
        let line: Vec<String> = cols
            .iter()
            .map(|c| match row.get(c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_field(s),
                Some(v) => csv_field(&v.to_string()),
            })
            .collect();
        writeln!(self.out, "{}", line.join(","))
    }

    fn csv_row(&mut self, cur: &mut Current, row: Value) -> io::Result<()> {
        match &cur.csv_cols {
            None => {
                cur.held.push(row);
                if cur.held.len() >= CSV_LOOKAHEAD {
                    self.csv_header(cur)?;
                }
                Ok(())
            }
            Some(cols) => {
                if let Value::Object(m) = &row {
                    for k in m.keys() {
                        if !cols.contains(k) && !cur.csv_dropped.contains(k) {
                            cur.csv_dropped.push(k.clone());
                        }
                    }
                }
                let cols = cols.clone();
                self.csv_line(&cols, &row)
            }
        }
    }

    fn csv_end(&mut self, cur: &mut Current, r: &CommandResult) -> io::Result<()> {
        if let Some(e) = &r.error
            && cur.csv_cols.is_none()
        {
            self.warnings_to_err(r)?;
            return self.error_to_err(&cur.command, e);
        }
        for row in &r.rows {
            self.csv_row(cur, row.clone())?;
        }
        self.csv_header(cur)?;
        if !cur.csv_dropped.is_empty() {
            writeln!(
                self.err,
                "warning: {}: column(s) {} first appear after the first {CSV_LOOKAHEAD} rows \
                 and are not in the CSV (use --format jsonl to see them)",
                cur.command,
                cur.csv_dropped.join(", ")
            )?;
        }
        if let Some(e) = &r.error {
            return self.error_to_err(&cur.command, e);
        }
        self.warnings_to_err(r)
    }

    fn warnings_to_err(&mut self, r: &CommandResult) -> io::Result<()> {
        for w in &r.warnings {
            writeln!(self.err, "warning: {}: {w}", r.command)?;
        }
        self.err.flush()
    }
}

impl<W: Write + Send, E: Write + Send> Sink for Renderer<W, E> {
    fn row(&mut self, row: Value) -> io::Result<()> {
        let mut cur = self.current.take().unwrap_or_default();
        let written = match self.format {
            Format::Text => {
                if !cur.lines_seen {
                    cur.held.push(row);
                }
                Ok(())
            }
            Format::Json => self.json_row(&mut cur, &row),
            Format::Jsonl => self.jsonl_row(&cur.command, &row),
            Format::Csv => self.csv_row(&mut cur, row),
        };
        self.current = Some(cur);
        written
    }

    fn wants_rows(&self) -> bool {
        self.format != Format::Text || !self.current.as_ref().is_some_and(|c| c.lines_seen)
    }

    fn line(&mut self, line: String) -> io::Result<()> {
        if self.format != Format::Text {
            return Ok(());
        }
        if let Some(cur) = self.current.as_mut()
            && !cur.lines_seen
        {
            // The command has a layout of its own: the rows held for a generic table go.
            cur.lines_seen = true;
            cur.held = Vec::new();
        }
        writeln!(self.out, "{line}")
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A value as a table cell: strings bare, null as `-`, the rest as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A result's rows as an aligned table (commands without a layout of their own), in
/// [`result_columns`] order.
pub fn text_table(r: &CommandResult) -> Vec<String> {
    let rows = &r.rows;
    if rows.is_empty() {
        return Vec::new();
    }
    let cols = result_columns(r);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.get(c).map_or_else(String::new, cell))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fmt = |items: &[String]| -> String {
        let mut line = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i + 1 == items.len() {
                line.push_str(item);
            } else {
                let pad = widths[i].saturating_sub(item.chars().count());
                line.push_str(item);
                line.push_str(&" ".repeat(pad));
            }
        }
        line.trim_end().to_string()
    };
    let mut out = vec![fmt(&cols)];
    out.extend(cells.iter().map(|c| fmt(c)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> CommandResult {
        CommandResult {
            command: "!frag".into(),
            args: "".into(),
            rows: vec![
                json!({"bytes": 32, "index": 1, "block_size": 32, "fragments": 1}),
                json!({"bytes": 64, "index": 2, "block_size": 32, "fragments": 2, "note": "a,\"b\""}),
            ],
            summary: Some(json!({"total_bytes": 96})),
            warnings: vec!["w1".into()],
            text: None,
            text_verbose: None,
            error: None,
            // As the frag plugin declares them (`Command::columns`).
            columns: ["index", "block_size", "fragments", "bytes"]
                .map(String::from)
                .to_vec(),
        }
    }

    #[test]
    fn declared_columns_order_a_plugin_and_undeclared_ones_are_sorted() {
        let mut r = result();
        assert_eq!(
            result_columns(&r),
            ["index", "block_size", "fragments", "bytes", "note"]
        );
        // A plugin that declares nothing: its keys sorted, whatever its name.
        r.columns.clear();
        assert_eq!(
            result_columns(&r),
            ["block_size", "bytes", "fragments", "index", "note"]
        );
        // The host's own commands keep the host's order.
        r.command = "!pte".into();
        r.rows = vec![json!({"value": 1, "level": "PXE"})];
        assert_eq!(result_columns(&r), ["level", "value"]);
    }

    fn renderer(format: Format) -> Renderer<Vec<u8>, Vec<u8>> {
        Renderer::new(
            format,
            Vec::new(),
            Vec::new(),
            json!({"arch": "x64"}),
            json!({}),
        )
    }

    fn render(format: Format, results: &[CommandResult]) -> (String, String) {
        let mut r = renderer(format).with_header(Some("symbols: guessed".into()));
        for x in results {
            r.render(x).unwrap();
        }
        let (o, e) = r.into_inner();
        (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
    }

    #[test]
    fn warnings_emitted_before_a_failure_are_kept_in_every_format() {
        let failed = CommandResult {
            rows: vec![],
            warnings: vec!["half the pages were missing".into()],
            error: Some("gave up".into()),
            ..result()
        };
        let (o, e) = render(Format::Text, std::slice::from_ref(&failed));
        assert!(o.contains("warning: half the pages were missing"), "{o}");
        assert!(e.contains("error: !frag: gave up"), "{e}");
        let (o, _) = render(Format::Json, std::slice::from_ref(&failed));
        let v: Value =
            serde_json::from_str(o.lines().rfind(|l| l.contains("error")).unwrap()).unwrap();
        assert_eq!(v["warnings"], json!(["half the pages were missing"]), "{o}");
        for format in [Format::Jsonl, Format::Csv] {
            let (_, e) = render(format, std::slice::from_ref(&failed));
            assert!(
                e.contains("warning: !frag: half the pages were missing"),
                "{e}"
            );
        }
    }

    #[test]
    fn text_table_in_contract_order_with_summary_and_warnings() {
        let (o, e) = render(Format::Text, &[result()]);
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines[0], "symbols: guessed");
        assert_eq!(lines[1], "index  block_size  fragments  bytes  note");
        assert_eq!(lines[2], "1      32          1          32");
        assert_eq!(lines[3], "2      32          2          64     a,\"b\"");
        assert_eq!(lines[4], "total_bytes: 96");
        assert_eq!(lines[5], "warning: w1");
        assert!(e.is_empty());
    }

    #[test]
    fn json_one_object_per_command_and_errors() {
        let failed = CommandResult::failed("!vm", "", "no plugin provides !vm");
        let (o, _) = render(Format::Json, &[result(), failed]);
        let lines: Vec<Value> = o
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["schema"], 1);
        assert_eq!(lines[0]["target"]["arch"], "x64");
        assert_eq!(lines[0]["rows"][1]["fragments"], 2);
        assert_eq!(lines[0]["summary"]["total_bytes"], 96);
        assert_eq!(lines[0]["warnings"][0], "w1");
        assert_eq!(
            lines[1],
            json!({"command": "!vm", "error": "no plugin provides !vm"})
        );
        assert!(!o.contains("symbols: guessed"));
    }

    #[test]
    fn jsonl_rows_carry_the_command_and_csv_quotes() {
        let (o, e) = render(Format::Jsonl, &[result()]);
        let rows: Vec<Value> = o
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r["command"] == "!frag"));
        assert_eq!(e, "warning: !frag: w1\n");
        let (o, _) = render(Format::Csv, &[result(), result()]);
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines[0], "index,block_size,fragments,bytes,note");
        assert_eq!(lines[2], "2,32,2,64,\"a,\"\"b\"\"\"");
        assert_eq!(lines[3], "");
        assert_eq!(lines[4], lines[0]);
    }

    /// Streams `result` through the Sink: rows (and `lines`) first, then finish with the rest.
    fn stream(format: Format, r: &CommandResult, lines: &[&str]) -> (String, String) {
        let mut x = renderer(format);
        x.begin(&r.command, &r.args).unwrap();
        for l in lines {
            x.line((*l).to_string()).unwrap();
        }
        for row in &r.rows {
            x.row(row.clone()).unwrap();
        }
        let rest = CommandResult {
            rows: Vec::new(),
            ..r.clone()
        };
        x.finish(&rest).unwrap();
        let (o, e) = x.into_inner();
        (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
    }

    #[test]
    fn streamed_rows_render_as_a_result_built_whole() {
        for format in [Format::Text, Format::Json, Format::Jsonl, Format::Csv] {
            let whole = {
                let mut x = renderer(format);
                x.render(&result()).unwrap();
                let (o, e) = x.into_inner();
                (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
            };
            assert_eq!(stream(format, &result(), &[]), whole, "{format:?}");
        }
        // A failure after rows were streamed: json says it at the end of the same object.
        let mut failed = result();
        failed.error = Some("cancelled".into());
        let (o, _) = stream(Format::Json, &failed, &[]);
        let v: Value = serde_json::from_str(o.trim()).unwrap();
        assert_eq!(v["error"], "cancelled");
        assert_eq!(v["rows"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn text_lines_replace_the_generic_table_and_csv_looks_ahead() {
        let (o, _) = stream(Format::Text, &result(), &["own layout"]);
        assert_eq!(o, "own layout\nwarning: w1\n");
        // More rows than the look-ahead, a new key after it: reported, not silently lost.
        let mut r = CommandResult::new("x", "");
        for i in 0..CSV_LOOKAHEAD {
            r.rows.push(json!({"a": i}));
        }
        r.rows.push(json!({"a": 0, "late": 1}));
        let (o, e) = stream(Format::Csv, &r, &[]);
        assert_eq!(o.lines().count(), CSV_LOOKAHEAD + 2);
        assert!(o.starts_with("a\n0\n"));
        assert!(e.contains("column(s) late first appear after"), "{e}");
    }

    #[test]
    fn errors_name_the_command_once_and_notes_follow_the_header() {
        let failed = CommandResult::failed("!vm", "", "!vm: no pool figures");
        let mut x = Renderer::new(Format::Text, Vec::new(), Vec::new(), json!({}), json!({}))
            .with_header(Some("symbols: guessed".into()))
            .with_notes(&["the dump is truncated".into()]);
        x.render(&failed).unwrap();
        let (o, e) = x.into_inner();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "symbols: guessed\nnote: the dump is truncated\n"
        );
        assert_eq!(
            String::from_utf8(e).unwrap(),
            "error: !vm: no pool figures\n"
        );
    }

    /// Issue #21: a command with a verbose text prints its short text and no warnings without
    /// -v, its verbose text and every warning with it; an error's detail lines only with -v;
    /// JSON carries everything either way.
    #[test]
    fn verbose_text_warnings_and_error_detail_only_with_v() {
        let mut r = CommandResult::new("!vm", "");
        r.text = Some(vec![
            "note: not shown: Special Pool".into(),
            "Total: 3".into(),
        ]);
        r.text_verbose = Some(vec!["sources: MmTotal (kdbg)".into(), "Total: 3".into()]);
        r.warnings = vec!["not shown: special_pool_pages: no symbol X".into()];
        let failed = CommandResult::failed(
            "!vm",
            "",
            "!vm: no figure could be read: a triage dump\n  a: no symbol A\n  b: no symbol B",
        );
        let run = |verbose: bool, format: Format| {
            let mut x = Renderer::new(format, Vec::new(), Vec::new(), json!({}), json!({}))
                .with_verbose(verbose);
            x.render(&r).unwrap();
            x.render(&failed).unwrap();
            let (o, e) = x.into_inner();
            (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
        };
        assert_eq!(
            run(false, Format::Text),
            (
                "note: not shown: Special Pool\nTotal: 3\n".into(),
                "error: !vm: no figure could be read: a triage dump (-v shows 2 more lines)\n"
                    .into()
            )
        );
        assert_eq!(
            run(true, Format::Text),
            (
                "sources: MmTotal (kdbg)\nTotal: 3\nwarning: not shown: special_pool_pages: no \
                 symbol X\n"
                    .into(),
                "error: !vm: no figure could be read: a triage dump\n  a: no symbol A\n  b: no \
                 symbol B\n"
                    .into()
            )
        );
        // JSON: the same document with or without -v, warnings and the whole error in it.
        let (quiet, _) = run(false, Format::Json);
        assert_eq!(quiet, run(true, Format::Json).0);
        assert!(
            quiet.contains("no symbol X") && quiet.contains("b: no symbol B"),
            "{quiet}"
        );
        assert!(!quiet.contains("sources: MmTotal"), "{quiet}");
        // The summary member is taken out like `text`.
        let mut s = Some(json!({"text": ["a"], "text_verbose": ["b"], "sources": {}}));
        assert_eq!(take_lines(&mut s, "text_verbose"), Some(vec!["b".into()]));
        assert_eq!(take_text(&mut s), Some(vec!["a".into()]));
        assert_eq!(s, Some(json!({"sources": {}})));
    }

    #[test]
    fn text_lines_are_taken_out_of_the_summary() {
        let mut s = Some(json!({"text": ["a", "b"], "total": 1}));
        assert_eq!(
            take_text(&mut s),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(s, Some(json!({"total": 1})));
        let mut s = Some(json!({"text": ["only"]}));
        assert!(take_text(&mut s).is_some());
        assert_eq!(s, None);
        let mut s = Some(json!({"text": "not lines"}));
        assert_eq!(take_text(&mut s), None);
    }
}
