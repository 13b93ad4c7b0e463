//! Renderers: text (WinDbg's layouts where there is one), json, jsonl, csv — CONTRACT.md "Output".

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::outcome::CommandResult;

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
    let Some(Value::Object(map)) = summary else {
        return None;
    };
    let lines = match map.get("text") {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect::<Vec<_>>(),
        _ => return None,
    };
    map.remove("text");
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

/// Renders results as they come.
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
    csv_blocks: usize,
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
            csv_blocks: 0,
        }
    }

    /// Sets the first text line (e.g. `symbols: embedded profile 10.0.19041.329`).
    pub fn with_header(mut self, header: Option<String>) -> Self {
        self.header = header;
        self
    }

    /// Echo `kd> COMMAND ARGS` before each command in text (the `-c` form).
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
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

    /// Renders one command's result.
    pub fn render(&mut self, r: &CommandResult) -> io::Result<()> {
        match self.format {
            Format::Text => self.text(r)?,
            Format::Json => self.json(r)?,
            Format::Jsonl => self.jsonl(r)?,
            Format::Csv => self.csv(r)?,
        }
        self.out.flush()
    }

    /// The writers back (for tests).
    pub fn into_inner(self) -> (W, E) {
        (self.out, self.err)
    }

    fn text(&mut self, r: &CommandResult) -> io::Result<()> {
        self.write_header()?;
        if self.echo {
            if r.args.is_empty() {
                writeln!(self.out, "kd> {}", r.command)?;
            } else {
                writeln!(self.out, "kd> {} {}", r.command, r.args)?;
            }
        }
        if let Some(e) = &r.error {
            self.out.flush()?;
            writeln!(self.err, "error: {}: {e}", r.command)?;
            return self.err.flush();
        }
        match &r.text {
            Some(lines) => {
                for l in lines {
                    writeln!(self.out, "{l}")?;
                }
            }
            None => {
                for l in text_table(r) {
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
        for w in &r.warnings {
            writeln!(self.out, "warning: {w}")?;
        }
        Ok(())
    }

    fn json(&mut self, r: &CommandResult) -> io::Result<()> {
        let v = result_object(r, &self.target, &self.sources);
        writeln!(self.out, "{v}")
    }

    fn jsonl(&mut self, r: &CommandResult) -> io::Result<()> {
        if let Some(e) = &r.error {
            return writeln!(self.out, "{}", json!({"command": r.command, "error": e}));
        }
        for row in &r.rows {
            let mut m = Map::new();
            m.insert("command".into(), json!(r.command));
            if let Value::Object(fields) = row {
                for (k, v) in fields {
                    if k != "command" {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            writeln!(self.out, "{}", Value::Object(m))?;
        }
        self.warnings_to_err(r)
    }

    fn csv(&mut self, r: &CommandResult) -> io::Result<()> {
        if let Some(e) = &r.error {
            self.out.flush()?;
            writeln!(self.err, "error: {}: {e}", r.command)?;
            return self.err.flush();
        }
        if self.csv_blocks > 0 {
            writeln!(self.out)?;
        }
        self.csv_blocks += 1;
        let cols = result_columns(r);
        let header: Vec<String> = cols.iter().map(|c| csv_field(c)).collect();
        writeln!(self.out, "{}", header.join(","))?;
        for row in &r.rows {
            let line: Vec<String> = cols
                .iter()
                .map(|c| match row.get(c) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => csv_field(s),
                    Some(v) => csv_field(&v.to_string()),
                })
                .collect();
            writeln!(self.out, "{}", line.join(","))?;
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

    fn render(format: Format, results: &[CommandResult]) -> (String, String) {
        let mut r = Renderer::new(
            format,
            Vec::new(),
            Vec::new(),
            json!({"arch": "x64"}),
            json!({}),
        )
        .with_header(Some("symbols: guessed".into()));
        for x in results {
            r.render(x).unwrap();
        }
        let (o, e) = r.into_inner();
        (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
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
