//! The report: one self-contained HTML page (inline CSS and SVG, no script, font or image from
//! outside; it opens from disk and prints on A4) drawn from command results as `--format json`
//! prints them (the host's `multi::REPORT_COMMANDS`: `info`, `!vm`, `!poolused 100`, `!frag`,
//! `!poolfind * 0`, `!poolfind * 1`).
//!
//! Every figure the page shows from a result carries `data-src` (the command), `data-field` (the
//! JSON field), `data-key` (the row's tag or driver, when it has one) and `data-value` (the JSON
//! number, unchanged): a reader or a test can check each number against the JSON. The results
//! themselves are embedded as a JSON data block (`<script type="application/json"
//! id="pooldbg-results">`, data only: nothing runs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::diff::{By, Diff, diff};
use crate::drivers::fold;
use crate::input::PoolUsage;

/// The JSON results of one dump.
#[derive(Debug, Clone, Default)]
pub struct DumpResults {
    /// A name for the dump (its path).
    pub label: String,
    /// The results, as `--format json` prints them (one object per command).
    pub results: Vec<Value>,
}

/// What a report is drawn from.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    /// The dump the report is about.
    pub current: DumpResults,
    /// An older dump of the same machine: the growth section diffs them.
    pub previous: Option<DumpResults>,
}

/// A rendered report.
#[derive(Debug, Clone)]
pub struct Page {
    /// The HTML.
    pub html: String,
    /// The ids of the sections drawn (`gauges`, `failures`, `top-tags`, …).
    pub sections: Vec<String>,
    /// What could not be drawn, and why.
    pub warnings: Vec<String>,
}

/// The ids of the page's sections, in page order (`growth` only with an older dump).
pub const SECTIONS: [&str; 9] = [
    "gauges",
    "failures",
    "top-tags",
    "top-drivers",
    "growth",
    "frag",
    "pool-map",
    "warnings",
    "sources",
];

/// How many tags and drivers the charts show.
pub const TOP: usize = 15;
/// The rows of the fragmentation table (the largest by free bytes).
pub const FRAG_TABLE_ROWS: usize = 10;
/// The most pages a pool map counts (results from a file may claim anything).
pub const MAX_MAP_PAGES: usize = 1 << 20;
/// The most cells a pool map draws per pool (pages are grouped into cells beyond that).
pub const MAX_MAP_CELLS: usize = 4096;

/// HTML-escapes `s` (text and attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

impl DumpResults {
    /// The successful result of `command` whose args are `args` (compared without surrounding
    /// space), if any.
    pub fn find(&self, command: &str, args: &str) -> Option<&Value> {
        self.results.iter().find(|r| {
            r.get("command").and_then(Value::as_str) == Some(command)
                && r.get("args").and_then(Value::as_str).map(str::trim) == Some(args)
                && r.get("error").is_none()
        })
    }

    fn row0(&self, command: &str, args: &str) -> Option<&Value> {
        self.find(command, args)
            .and_then(|r| r.get("rows"))
            .and_then(Value::as_array)
            .and_then(|r| r.first())
    }

    fn rows(&self, command: &str, args: &str) -> &[Value] {
        self.find(command, args)
            .and_then(|r| r.get("rows"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn usage(&self) -> Result<PoolUsage, String> {
        let r = self
            .find("!poolused", "100")
            .ok_or_else(|| format!("{}: no `!poolused 100` result", self.label))?;
        PoolUsage::from_json(&self.label, r).map_err(|e| e.to_string())
    }
}

/// A figure from a result: the JSON number shown as it is, with its provenance.
fn fig(src: &str, key: Option<&str>, field: &str, v: Option<&Value>) -> String {
    match v.and_then(Value::as_i64) {
        Some(n) => {
            let k = key
                .map(|k| format!(" data-key=\"{}\"", esc(k)))
                .unwrap_or_default();
            format!(
                "<span class=\"fig\" data-src=\"{}\"{k} data-field=\"{}\" data-value=\"{n}\">{n}</span>",
                esc(src),
                esc(field)
            )
        }
        None => format!(
            "<span class=\"fig unknown\" data-src=\"{}\" data-field=\"{}\">unknown</span>",
            esc(src),
            esc(field)
        ),
    }
}

fn mib(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", bytes / (1024.0 * 1024.0 * 1024.0))
    } else if bytes >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

const CSS: &str = r#"
:root { --np: #2f6690; --p: #d08c2b; --busy: #2f6690; --free: #e3ecf3; --ok: #2e8b57; --warn: #d9a400; --bad: #c0392b; --ink: #1d2733; --mute: #5d6b7a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); margin: 0; background: #f4f6f8; }
header { background: #1d2733; color: #fff; padding: 14px 24px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header .meta { color: #c9d3dd; font-size: 13px; }
main { padding: 16px 24px; display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 6px; padding: 12px 16px; break-inside: avoid; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef1f4; }
td.n, th.n { text-align: right; }
.fig { font-variant-numeric: tabular-nums; }
.unknown { color: var(--mute); font-style: italic; }
.note { color: var(--mute); font-size: 12px; }
.big { font-size: 28px; font-weight: 600; }
.bad { color: var(--bad); } .ok { color: var(--ok); }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: var(--ink); }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: -1px; }
ul.warn li { color: #7a4b00; }
@page { size: A4; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 11px; }
  header { background: #fff; color: #000; border-bottom: 2px solid #000; padding: 0 0 6px; }
  header .meta { color: #333; }
  main { display: block; padding: 0; }
  section { border: none; border-top: 1px solid #999; border-radius: 0; margin: 8px 0; padding: 6px 0; break-inside: avoid; page-break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// Renders the report page.
pub fn render(input: &ReportInput) -> Page {
    let cur = &input.current;
    let mut sections = Vec::new();
    let mut warnings = Vec::new();
    let mut body = String::new();

    let info = cur.row0("info", "");
    let get = |k: &str| info.and_then(|i| i.get(k)).and_then(value_text);
    let title = format!(
        "Windows {} {} — {}",
        get("version").unwrap_or_else(|| "?".into()),
        get("arch").unwrap_or_default(),
        get("dump_type").unwrap_or_default()
    );
    let mut head = String::new();
    let _ = write!(
        head,
        "<header><h1>pooldbg report: {}</h1><div class=\"meta\">{} · build {} · symbols: {}",
        esc(&title),
        esc(&cur.label),
        esc(&get("build").unwrap_or_else(|| "?".into())),
        esc(&get("symbol_source").unwrap_or_else(|| "?".into()))
    );
    if let Some(p) = &input.previous {
        let _ = write!(head, " · compared with {}", esc(&p.label));
    }
    head.push_str("</div></header>");

    // Gauges.
    let vm = cur.row0("!vm", "");
    {
        let mut s =
            String::from("<section id=\"gauges\"><h2>Pool and commit against their limits</h2>");
        match vm {
            Some(vm) => {
                for (name, used, max, unit) in [
                    (
                        "Nonpaged pool",
                        "nonpaged_pool_pages",
                        "nonpaged_pool_max_pages",
                        "pages",
                    ),
                    (
                        "Paged pool",
                        "paged_pool_pages",
                        "paged_pool_max_pages",
                        "pages",
                    ),
                    ("Commit", "committed_pages", "commit_limit", "pages"),
                ] {
                    s.push_str(&gauge(name, vm, used, max, unit));
                }
                s.push_str(&gauge_used_of("Physical memory in use", vm));
            }
            None => {
                warnings.push("no `!vm` result: the gauges are not drawn".into());
                s.push_str("<p class=\"note\">No <code>!vm</code> result.</p>");
            }
        }
        s.push_str("</section>");
        body.push_str(&s);
        sections.push("gauges".to_string());
    }
    // Failures.
    {
        let v = vm.and_then(|v| v.get("pool_allocation_failures"));
        let n = v.and_then(Value::as_i64);
        let class = match n {
            Some(0) => "ok",
            Some(_) => "bad",
            None => "unknown",
        };
        let _ = write!(
            body,
            "<section id=\"failures\"><h2>Pool allocation failures</h2><p class=\"big {class}\">{}</p><p class=\"note\">{}</p></section>",
            fig("!vm", None, "pool_allocation_failures", v),
            match n {
                Some(0) => "No allocation has failed since boot.",
                Some(_) => "Allocations have failed: the pool ran out or was too fragmented.",
                None => "The kernel's failure counter is not known for this dump (see Warnings).",
            }
        );
        sections.push("failures".into());
    }

    // Top tags and drivers.
    let usage = cur.usage();
    match &usage {
        Ok(u) => {
            body.push_str(&top_tags(cur, u));
            body.push_str(&top_drivers(u));
            sections.push("top-tags".into());
            sections.push("top-drivers".into());
        }
        Err(e) => warnings.push(format!("top tags and drivers not drawn: {e}")),
    }

    // Growth.
    if let Some(prev) = &input.previous {
        match (prev.usage(), &usage) {
            (Ok(old), Ok(new)) => {
                let pair = [old, new.clone()];
                match (diff(&pair, By::Tag), diff(&pair, By::Driver)) {
                    (Ok(t), Ok(d)) => {
                        body.push_str(&growth(&t, &d));
                        sections.push("growth".into());
                        warnings.extend(
                            t.warnings
                                .iter()
                                .filter(|w| w.contains("different"))
                                .cloned(),
                        );
                    }
                    (Err(e), _) | (_, Err(e)) => warnings.push(format!("growth not drawn: {e}")),
                }
            }
            (Err(e), _) => warnings.push(format!("growth not drawn: {e}")),
            (_, Err(e)) => warnings.push(format!("growth not drawn: {e}")),
        }
    }

    // Fragmentation.
    match cur.find("!frag", "") {
        Some(_) => {
            body.push_str(&frag(cur.rows("!frag", "")));
            sections.push("frag".into());
        }
        None => warnings.push("no `!frag` result: the fragmentation histogram is not drawn".into()),
    }

    // Pool map.
    {
        let np = cur
            .find("!poolfind", "* 0")
            .map(|_| cur.rows("!poolfind", "* 0"));
        let p = cur
            .find("!poolfind", "* 1")
            .map(|_| cur.rows("!poolfind", "* 1"));
        if np.is_none() && p.is_none() {
            warnings.push("no `!poolfind *` result: the pool map is not drawn".into());
        } else {
            let mut s = String::from(
                "<section id=\"pool-map\" class=\"wide\"><h2>Pool pages by address</h2>",
            );
            s.push_str("<p class=\"legend note\">Each cell is one pool page (or a group of pages, as said), in address order; its colour is the share of its bytes in allocated blocks:<span style=\"background:var(--busy)\"></span>busy<span style=\"background:var(--free);border:1px solid #b8c6d3\"></span>free. Big allocations (whole pages) count as busy.</p>");
            for (name, rows) in [("Nonpaged", np), ("Paged", p)] {
                if let Some(rows) = rows {
                    s.push_str(&pool_map(name, rows));
                }
            }
            s.push_str("</section>");
            body.push_str(&s);
            sections.push("pool-map".into());
        }
    }

    // Warnings and sources.
    let mut all_warnings: Vec<(String, String)> = Vec::new();
    for d in std::iter::once(cur).chain(input.previous.as_ref()) {
        for r in &d.results {
            let cmd = command_line(r);
            if let Some(e) = r.get("error").and_then(Value::as_str) {
                all_warnings.push((format!("{} · {cmd}", d.label), format!("failed: {e}")));
            }
            for w in r
                .get("warnings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(w) = w.as_str() {
                    all_warnings.push((format!("{} · {cmd}", d.label), w.to_string()));
                }
            }
        }
    }
    for w in &warnings {
        all_warnings.push(("report".into(), w.clone()));
    }
    {
        let mut s = String::from("<section id=\"warnings\" class=\"wide\"><h2>Warnings</h2>");
        if all_warnings.is_empty() {
            s.push_str("<p class=\"ok\">None.</p>");
        } else {
            s.push_str("<ul class=\"warn\">");
            for (from, w) in &all_warnings {
                let _ = write!(s, "<li><b>{}</b>: {}</li>", esc(from), esc(w));
            }
            s.push_str("</ul>");
        }
        s.push_str("</section>");
        body.push_str(&s);
        sections.push("warnings".into());
    }
    body.push_str(&sources(input));
    sections.push("sources".into());

    let data = data_block(input);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>pooldbg report: {}</title><style>{CSS}</style></head><body>{head}<main>{body}</main><footer class=\"note\" style=\"padding:0 24px 16px\">Made by pooldbg {} from the results embedded below (JSON, id pooldbg-results). Every number carries its source command and JSON field.</footer>{data}</body></html>\n",
        esc(&title),
        env!("CARGO_PKG_VERSION")
    );
    Page {
        html,
        sections,
        warnings,
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn command_line(r: &Value) -> String {
    let c = r.get("command").and_then(Value::as_str).unwrap_or("?");
    match r.get("args").and_then(Value::as_str).map(str::trim) {
        Some(a) if !a.is_empty() => format!("{c} {a}"),
        _ => c.to_string(),
    }
}

fn color_of(frac: f64) -> &'static str {
    if frac >= 0.9 {
        "var(--bad)"
    } else if frac >= 0.7 {
        "var(--warn)"
    } else {
        "var(--ok)"
    }
}

fn bar_svg(frac: Option<f64>) -> String {
    let w = 360.0;
    match frac {
        Some(f) => {
            let f = f.clamp(0.0, 1.0);
            format!(
                "<svg width=\"{w}\" height=\"16\" viewBox=\"0 0 {w} 16\" role=\"img\"><rect width=\"{w}\" height=\"16\" rx=\"3\" fill=\"#e7ebef\"/><rect width=\"{:.1}\" height=\"16\" rx=\"3\" fill=\"{}\"/><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"0\" y2=\"16\" stroke=\"#1d2733\" stroke-width=\"1\" stroke-dasharray=\"2 2\"/></svg>",
                w * f,
                color_of(f),
                w * 0.9,
                w * 0.9
            )
        }
        None => format!(
            "<svg width=\"{w}\" height=\"16\" viewBox=\"0 0 {w} 16\" role=\"img\"><rect width=\"{w}\" height=\"16\" rx=\"3\" fill=\"none\" stroke=\"#b8c6d3\" stroke-dasharray=\"4 3\"/></svg>"
        ),
    }
}

fn gauge(name: &str, vm: &Value, used: &str, max: &str, unit: &str) -> String {
    let u = vm.get(used);
    let m = vm.get(max);
    let (uf, mf) = (u.and_then(Value::as_f64), m.and_then(Value::as_f64));
    let frac = match (uf, mf) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let pct = frac.map_or_else(
        || "limit unknown".to_string(),
        |f| format!("{:.1}%", f * 100.0),
    );
    let size = uf
        .map(|p| format!(" ({})", mib(p * 4096.0)))
        .unwrap_or_default();
    format!(
        "<div class=\"gauge\" id=\"gauge-{used}\"><div><b>{name}</b>: {} of {} {unit}{size} — <b>{pct}</b></div>{}</div>",
        fig("!vm", None, used, u),
        fig("!vm", None, max, m),
        bar_svg(frac)
    )
}

fn gauge_used_of(name: &str, vm: &Value) -> String {
    let phys = vm.get("physical_pages");
    let avail = vm.get("available_pages");
    let frac = match (phys.and_then(Value::as_f64), avail.and_then(Value::as_f64)) {
        (Some(p), Some(a)) if p > 0.0 => Some((p - a) / p),
        _ => None,
    };
    format!(
        "<div class=\"gauge\" id=\"gauge-physical_pages\"><div><b>{name}</b>: {} available of {} pages — <b>{}</b> in use</div>{}</div>",
        fig("!vm", None, "available_pages", avail),
        fig("!vm", None, "physical_pages", phys),
        frac.map_or_else(|| "unknown".to_string(), |f| format!("{:.1}%", f * 100.0)),
        bar_svg(frac)
    )
}

/// A horizontal stacked bar chart: (label, [(value, css colour)]).
fn hbars(items: &[(String, Vec<(f64, &str)>)], id: &str) -> String {
    let label_w = 130.0;
    let bar_w = 330.0;
    let row_h = 18.0;
    let max = items
        .iter()
        .map(|(_, s)| s.iter().map(|x| x.0.max(0.0)).sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0);
    let h = row_h * items.len() as f64 + 4.0;
    let w = label_w + bar_w + 80.0;
    let mut s = format!(
        "<svg id=\"{id}\" width=\"100%\" style=\"max-width:{w}px\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    for (i, (label, segs)) in items.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(label)
        );
        let mut x = label_w;
        let mut total = 0.0;
        for (v, colour) in segs {
            let bw = bar_w * v.max(0.0) / max;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
                row_h - 5.0
            );
            x += bw;
            total += v;
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 4.0,
            y + 12.0,
            mib(total)
        );
    }
    s.push_str("</svg>");
    s
}

fn top_tags(cur: &DumpResults, u: &PoolUsage) -> String {
    let rows = cur.rows("!poolused", "100");
    let mut order: Vec<&Value> = rows.iter().collect();
    let bytes = |r: &Value| {
        r.get("nonpaged_bytes").and_then(Value::as_u64).unwrap_or(0)
            + r.get("paged_bytes").and_then(Value::as_u64).unwrap_or(0)
    };
    order.sort_by_key(|r| std::cmp::Reverse(bytes(r)));
    order.truncate(TOP);
    let items: Vec<(String, Vec<(f64, &str)>)> = order
        .iter()
        .map(|r| {
            (
                r.get("tag")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                vec![
                    (
                        r.get("nonpaged_bytes")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0),
                        "var(--np)",
                    ),
                    (
                        r.get("paged_bytes").and_then(Value::as_f64).unwrap_or(0.0),
                        "var(--p)",
                    ),
                ],
            )
        })
        .collect();
    let mut s = format!(
        "<section id=\"top-tags\"><h2>Top {} tags by bytes (of {})</h2><p class=\"legend note\"><span style=\"background:var(--np)\"></span>nonpaged<span style=\"background:var(--p)\"></span>paged · from {}</p>",
        order.len(),
        u.rows.len(),
        esc(u.source.as_deref().unwrap_or("?"))
    );
    s.push_str(&hbars(&items, "chart-top-tags"));
    s.push_str("<table><tr><th>Tag</th><th>Owner</th><th class=\"n\">NP allocs</th><th class=\"n\">NP frees</th><th class=\"n\">NP bytes</th><th class=\"n\">P allocs</th><th class=\"n\">P frees</th><th class=\"n\">P bytes</th></tr>");
    for r in &order {
        let tag = r.get("tag").and_then(Value::as_str).unwrap_or("?");
        let owner = r
            .get("binary")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                r.get("image_candidates")
                    .and_then(Value::as_array)
                    .map(|c| {
                        let names: Vec<&str> = c
                            .iter()
                            .filter_map(|h| h.get("module").and_then(Value::as_str))
                            .collect();
                        if names.is_empty() {
                            "unknown (no image holds it)".to_string()
                        } else {
                            format!("image search: {}", names.join(", "))
                        }
                    })
            })
            .unwrap_or_else(|| "unknown".into());
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td>",
            esc(tag),
            esc(&owner)
        );
        for f in [
            "nonpaged_allocs",
            "nonpaged_frees",
            "nonpaged_bytes",
            "paged_allocs",
            "paged_frees",
            "paged_bytes",
        ] {
            let _ = write!(
                s,
                "<td class=\"n\">{}</td>",
                fig("!poolused 100", Some(tag), f, r.get(f))
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table></section>");
    s
}

fn top_drivers(u: &PoolUsage) -> String {
    let mut d = fold(u);
    d.sort_by(|a, b| {
        b.counters
            .bytes()
            .cmp(&a.counters.bytes())
            .then(a.driver.cmp(&b.driver))
    });
    let total = d.len();
    d.truncate(TOP);
    let items: Vec<(String, Vec<(f64, &str)>)> = d
        .iter()
        .map(|r| {
            (
                r.driver.clone(),
                vec![
                    (r.counters.nonpaged_bytes as f64, "var(--np)"),
                    (r.counters.paged_bytes as f64, "var(--p)"),
                ],
            )
        })
        .collect();
    let mut s = format!(
        "<section id=\"top-drivers\"><h2>Top {} drivers by bytes (of {total})</h2><p class=\"legend note\"><span style=\"background:var(--np)\"></span>nonpaged<span style=\"background:var(--p)\"></span>paged · tags folded into drivers as <code>!poolused 200</code> does: pooltag.txt owner, else the one driver image holding the tag</p>",
        d.len()
    );
    s.push_str(&hbars(&items, "chart-top-drivers"));
    s.push_str("<table><tr><th>Driver</th><th>Attribution</th><th class=\"n\">NP bytes</th><th class=\"n\">P bytes</th><th>Tags</th></tr>");
    for r in &d {
        let np = Value::from(r.counters.nonpaged_bytes);
        let p = Value::from(r.counters.paged_bytes);
        let tags: Vec<&str> = r.tags.iter().map(|t| t.0.as_str()).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
            esc(&r.driver),
            esc(&r.attribution()),
            fig(
                "!poolused 200",
                Some(&r.driver),
                "nonpaged_bytes",
                Some(&np)
            ),
            fig("!poolused 200", Some(&r.driver), "paged_bytes", Some(&p)),
            esc(&tags.join(" "))
        );
    }
    s.push_str("</table></section>");
    s
}

fn growth(t: &Diff, d: &Diff) -> String {
    let mut s =
        String::from("<section id=\"growth\" class=\"wide\"><h2>Growth since the older dump</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">{} → {} · sorted by growth in bytes; allocations are outstanding ones (allocs − frees).</p>",
        esc(t.labels.first().map_or("", String::as_str)),
        esc(t.labels.last().map_or("", String::as_str))
    );
    for (diff, name, src) in [(t, "tag", "diff"), (d, "driver", "diff --by driver")] {
        let mut rows: Vec<&crate::diff::DiffRow> = diff
            .rows
            .iter()
            .filter(|r| r.delta.bytes() != 0 || r.delta.allocs() != 0)
            .collect();
        let grow: Vec<_> = rows
            .iter()
            .filter(|r| r.delta.bytes() > 0)
            .take(10)
            .copied()
            .collect();
        let shrink: Vec<_> = rows
            .iter()
            .rev()
            .filter(|r| r.delta.bytes() < 0)
            .take(5)
            .copied()
            .collect();
        rows = grow.into_iter().chain(shrink.into_iter().rev()).collect();
        let _ = write!(s, "<h3 style=\"font-size:14px\">By {name}</h3>");
        if rows.is_empty() {
            s.push_str("<p class=\"ok\">No change.</p>");
            continue;
        }
        s.push_str(&diverging(&rows, &format!("chart-growth-{name}")));
        let _ = write!(
            s,
            "<table><tr><th>{}</th><th>Trend</th><th class=\"n\">NP allocs Δ</th><th class=\"n\">NP bytes Δ</th><th class=\"n\">P allocs Δ</th><th class=\"n\">P bytes Δ</th></tr>",
            if name == "tag" { "Tag" } else { "Driver" }
        );
        for r in &rows {
            let _ = write!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td>",
                esc(&r.key),
                r.trend.name()
            );
            for (f, v) in [
                ("nonpaged_allocs_delta", r.delta.nonpaged_allocs),
                ("nonpaged_bytes_delta", r.delta.nonpaged_bytes),
                ("paged_allocs_delta", r.delta.paged_allocs),
                ("paged_bytes_delta", r.delta.paged_bytes),
            ] {
                let _ = write!(
                    s,
                    "<td class=\"n\">{}</td>",
                    fig(src, Some(&r.key), f, Some(&Value::from(v)))
                );
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
    s.push_str("</section>");
    s
}

fn diverging(rows: &[&crate::diff::DiffRow], id: &str) -> String {
    let label_w = 120.0;
    let half = 200.0;
    let row_h = 18.0;
    let max = rows
        .iter()
        .map(|r| r.delta.bytes().unsigned_abs() as f64)
        .fold(1.0, f64::max);
    let h = row_h * rows.len() as f64 + 4.0;
    let w = label_w + 2.0 * half + 90.0;
    let zero = label_w + half;
    let mut s = format!(
        "<svg id=\"{id}\" width=\"100%\" style=\"max-width:{w}px\" viewBox=\"0 0 {w} {h}\" role=\"img\"><line x1=\"{zero}\" x2=\"{zero}\" y1=\"0\" y2=\"{h}\" stroke=\"#8795a3\"/>"
    );
    for (i, r) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let v = r.delta.bytes() as f64;
        let bw = half * v.abs() / max;
        // Growth red to the right, shrinking green to the left; the value beside the bar's end.
        let (x, colour, tx, anchor) = if v >= 0.0 {
            (zero, "var(--bad)", zero + bw + 4.0, "start")
        } else {
            (zero - bw, "var(--ok)", zero + 4.0, "start")
        };
        let sign = if v >= 0.0 { "+" } else { "−" };
        let _ = write!(
            s,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{colour}\"/><text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{sign}{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(&r.key),
            row_h - 5.0,
            y + 12.0,
            mib(v.abs())
        );
    }
    s.push_str("</svg>");
    s
}

fn frag(rows: &[Value]) -> String {
    let mut s = String::from("<section id=\"frag\"><h2>Fragmentation: free blocks by size</h2>");
    let items: Vec<(i64, i64, i64)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                r.get("block_size")?.as_i64()?,
                r.get("fragments")?.as_i64()?,
                r.get("bytes")?.as_i64()?,
            ))
        })
        .filter(|r| r.1 > 0)
        .collect();
    if items.is_empty() {
        s.push_str("<p class=\"note\">No free fragments listed.</p></section>");
        return s;
    }
    let w = 520.0;
    let h = 170.0;
    let base = h - 34.0;
    let max = items.iter().map(|r| r.2).max().unwrap_or(1).max(1) as f64;
    let bw = ((w - 40.0) / items.len() as f64).min(28.0);
    let _ = write!(
        s,
        "<svg id=\"chart-frag\" width=\"100%\" style=\"max-width:{w}px\" viewBox=\"0 0 {w} {h}\" role=\"img\"><line x1=\"30\" x2=\"{w}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#8795a3\"/>"
    );
    let step = (items.len() / 16).max(1);
    for (i, (size, n, bytes)) in items.iter().enumerate() {
        let x = 34.0 + i as f64 * bw;
        let bh = (base - 16.0) * *bytes as f64 / max;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"var(--np)\"><title>{size:#x} bytes: {n} fragments, {bytes} bytes</title></rect>",
            base - bh,
            (bw - 2.0).max(1.0)
        );
        if i % step == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-45 {:.1} {:.1})\">{size:#x}</text>",
                x + bw / 2.0,
                base + 12.0,
                x + bw / 2.0,
                base + 12.0
            );
        }
    }
    let _ = write!(s, "<text x=\"2\" y=\"12\">{}</text></svg>", mib(max));
    // The table lists the sizes holding the most free bytes; the chart and the JSON have them all.
    let mut listed: Vec<&Value> = rows
        .iter()
        .filter(|r| r.get("fragments").and_then(Value::as_i64).unwrap_or(0) != 0)
        .collect();
    listed.sort_by_key(|r| std::cmp::Reverse(r.get("bytes").and_then(Value::as_i64).unwrap_or(0)));
    let _ = write!(
        s,
        "<p class=\"note\">{} sizes hold free blocks; the {} with the most free bytes:</p>",
        listed.len(),
        listed.len().min(FRAG_TABLE_ROWS)
    );
    listed.truncate(FRAG_TABLE_ROWS);
    s.push_str("<table><tr><th class=\"n\">Block size</th><th class=\"n\">Fragments</th><th class=\"n\">Bytes</th></tr>");
    for r in listed {
        let key = r
            .get("block_size")
            .and_then(Value::as_i64)
            .map(|b| b.to_string());
        let k = key.as_deref();
        let _ = write!(
            s,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            fig("!frag", k, "block_size", r.get("block_size")),
            fig("!frag", k, "fragments", r.get("fragments")),
            fig("!frag", k, "bytes", r.get("bytes"))
        );
    }
    s.push_str("</table></section>");
    s
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

/// One pool's map: busy and free bytes per page from `!poolfind *` rows.
fn pool_map(name: &str, rows: &[Value]) -> String {
    // page -> (busy bytes, free bytes)
    let mut pages: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for r in rows {
        let (Some(a), Some(size)) = (
            r.get("address").and_then(Value::as_str).and_then(parse_hex),
            r.get("size").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let busy = r.get("state").and_then(Value::as_str) == Some("allocated");
        // A block spans whole pages (big allocations); bounded: at most 64 Ki pages per block.
        let first = a >> 12;
        let last = (a.saturating_add(size.max(1)) - 1) >> 12;
        let last = last.min(first + 0xffff);
        if pages.len() > MAX_MAP_PAGES {
            break;
        }
        for p in first..=last {
            let lo = (p << 12).max(a);
            let hi = ((p + 1) << 12).min(a.saturating_add(size));
            let n = hi.saturating_sub(lo);
            let e = pages.entry(p).or_default();
            if busy {
                e.0 += n;
            } else {
                e.1 += n;
            }
        }
    }
    if pages.is_empty() {
        return format!(
            "<h3 style=\"font-size:14px\">{name} pool</h3><p class=\"note\">No block found.</p>"
        );
    }
    let group = pages.len().div_ceil(MAX_MAP_CELLS).max(1);
    let cells: Vec<(u64, u64, u64)> = pages
        .iter()
        .collect::<Vec<_>>()
        .chunks(group)
        .map(|c| {
            let first = *c[0].0;
            let busy: u64 = c.iter().map(|x| x.1.0).sum();
            let free: u64 = c.iter().map(|x| x.1.1).sum();
            (first, busy, free)
        })
        .collect();
    let per_row = 96usize;
    let cell = 9.0;
    let rows_n = cells.len().div_ceil(per_row);
    let w = per_row as f64 * cell + 150.0;
    let h = rows_n as f64 * cell + 4.0;
    let busy_total: u64 = pages.values().map(|v| v.0).sum();
    let free_total: u64 = pages.values().map(|v| v.1).sum();
    let mut s = format!(
        "<h3 style=\"font-size:14px\">{name} pool: <span class=\"fig\" data-src=\"pool-map\" data-field=\"{}_pages\" data-value=\"{}\">{}</span> pages{} · {} busy, {} free in blocks</h3>",
        name.to_ascii_lowercase(),
        pages.len(),
        pages.len(),
        if group > 1 {
            format!(" ({group} per cell)")
        } else {
            String::new()
        },
        mib(busy_total as f64),
        mib(free_total as f64)
    );
    let _ = write!(
        s,
        "<svg class=\"pool-map\" id=\"map-{}\" width=\"100%\" style=\"max-width:{w}px\" viewBox=\"0 0 {w} {h}\" role=\"img\">",
        name.to_ascii_lowercase()
    );
    for (i, (first, busy, free)) in cells.iter().enumerate() {
        let x = 150.0 + (i % per_row) as f64 * cell;
        let y = (i / per_row) as f64 * cell + 2.0;
        if i % per_row == 0 {
            let _ = write!(
                s,
                "<text x=\"144\" y=\"{:.1}\" text-anchor=\"end\" style=\"font-size:8px\">{:#x}</text>",
                y + 7.5,
                first << 12
            );
        }
        let used = (*busy + *free).max(1) as f64;
        let frac = *busy as f64 / used;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"var(--busy)\" fill-opacity=\"{:.2}\" stroke=\"#b8c6d3\" stroke-width=\"0.3\"/>",
            cell - 1.0,
            cell - 1.0,
            0.08 + 0.92 * frac
        );
    }
    s.push_str("</svg>");
    s
}

fn sources(input: &ReportInput) -> String {
    let mut s = String::from(
        "<section id=\"sources\" class=\"wide\"><h2>Sources of every figure</h2><table><tr><th>Dump</th><th>Command</th><th>Used for</th><th>Source</th></tr>",
    );
    for d in std::iter::once(&input.current).chain(input.previous.as_ref()) {
        for r in &d.results {
            let cmd = command_line(r);
            let used = match cmd.as_str() {
                "info" => "header",
                "!vm" => "gauges, allocation failures",
                "!poolused 100" => "top tags, top drivers (folded as !poolused 200), growth",
                "!frag" => "fragmentation histogram",
                c if c.starts_with("!poolfind") => "pool map",
                _ => "",
            };
            let mut src = Vec::new();
            if let Some(e) = r.get("error").and_then(Value::as_str) {
                src.push(format!("failed: {e}"));
            }
            if let Some(sym) = r
                .get("sources")
                .and_then(|s| s.get("symbols"))
                .and_then(Value::as_str)
            {
                src.push(format!("symbols: {sym}"));
            }
            if let Some(v) = r
                .get("summary")
                .and_then(|s| s.get("source"))
                .and_then(Value::as_str)
            {
                src.push(format!("counters: {v}"));
            }
            if let Some(Value::Object(m)) = r.get("summary").and_then(|s| s.get("sources")) {
                for (k, v) in m {
                    src.push(format!(
                        "{k}: {}",
                        value_text(v).unwrap_or_else(|| v.to_string())
                    ));
                }
            }
            let _ = write!(
                s,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&d.label),
                esc(&cmd),
                used,
                src.iter().map(|x| esc(x)).collect::<Vec<_>>().join("<br>")
            );
        }
    }
    s.push_str("</table></section>");
    s
}

fn data_block(input: &ReportInput) -> String {
    let mut v = serde_json::json!({"current": {"label": input.current.label, "results": input.current.results}});
    if let Some(p) = &input.previous {
        v["previous"] = serde_json::json!({"label": p.label, "results": p.results});
    }
    // `</` would end the element: JSON allows `<\/`.
    let text = v.to_string().replace("</", "<\\/");
    format!("<script type=\"application/json\" id=\"pooldbg-results\">{text}</script>")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn dump(label: &str, leak_bytes: u64) -> DumpResults {
        DumpResults {
            label: label.into(),
            results: vec![
                json!({"command": "info", "args": "", "rows": [{"version": "10.0.19041", "arch": "x64", "build": 19041, "dump_type": "full"}]}),
                json!({"command": "!vm", "args": "", "rows": [{"nonpaged_pool_pages": 100, "nonpaged_pool_max_pages": 1000, "paged_pool_pages": 950, "paged_pool_max_pages": 1000, "pool_allocation_failures": 3}], "warnings": ["commit_limit: no source"]}),
                json!({"command": "!poolused", "args": "100", "summary": {"source": "tracker tables"}, "rows": [
                    {"tag": "Le<k", "nonpaged_allocs": 4, "nonpaged_frees": 1, "nonpaged_bytes": leak_bytes, "paged_allocs": 0, "paged_frees": 0, "paged_bytes": 0, "binary": null, "image_candidates": [{"module": "leaky.sys", "hits": 1}]},
                    {"tag": "Ntfs", "nonpaged_allocs": 0, "nonpaged_frees": 0, "nonpaged_bytes": 0, "paged_allocs": 9, "paged_frees": 2, "paged_bytes": 0x900, "binary": "ntfs.sys"}]}),
                json!({"command": "!frag", "args": "", "rows": [{"index": 1, "block_size": 16, "fragments": 2, "bytes": 32}]}),
                json!({"command": "!poolfind", "args": "* 0", "rows": [{"address": "0xfffffa8000001000", "size": 0x100, "state": "allocated"}, {"address": "0xfffffa8000001100", "size": 0xf00, "state": "free"}]}),
                json!({"command": "!poolfind", "args": "* 1", "error": "no paged pool </script>"}),
            ],
        }
    }

    #[test]
    fn every_section_with_figures_and_provenance() {
        let page = render(&ReportInput {
            current: dump("new.dmp", 0x4000),
            previous: Some(dump("old.dmp", 0x1000)),
        });
        assert_eq!(page.sections, SECTIONS);
        let h = &page.html;
        assert!(
            h.contains(r#"data-src="!vm" data-field="paged_pool_pages" data-value="950">950<"#)
        );
        assert!(
            h.contains(r#"data-src="!vm" data-field="pool_allocation_failures" data-value="3""#)
        );
        assert!(h.contains(r#"data-src="!poolused 100" data-key="Le&lt;k" data-field="nonpaged_bytes" data-value="16384""#));
        assert!(h.contains(r#"data-src="!poolused 200" data-key="leaky" data-field="nonpaged_bytes" data-value="16384""#));
        assert!(h.contains(r#"data-src="diff" data-key="Le&lt;k" data-field="nonpaged_bytes_delta" data-value="12288""#));
        assert!(h.contains("commit_limit: no source"));
        assert!(
            !h.contains("</script>\"") && h.matches("</script>").count() == 1,
            "the data block is closed once"
        );
        assert!(
            !h.contains("http://")
                && !h.contains("https://")
                && !h.contains("@import")
                && !h.contains("url(")
        );
        assert!(h.contains("@media print"));
    }

    #[test]
    fn missing_results_say_so() {
        let page = render(&ReportInput::default());
        assert!(page.warnings.iter().any(|w| w.contains("!vm")));
        assert!(page.warnings.iter().any(|w| w.contains("!poolused 100")));
        assert!(page.html.contains("unknown"));
    }
}
