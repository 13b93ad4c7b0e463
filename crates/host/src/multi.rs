//! Commands over several dumps, thin over the `poolreport` library: `pooldbg diff OLD NEW [MORE…]
//! [--by tag|driver]`, `pooldbg report DUMP [OLD_DUMP] -o FILE.html`, and their kd-style forms in a
//! session (`.diff [-by driver] OLD [MORE…]`: the open dump is the newest; `.report FILE.html
//! [OLD_DUMP]`). Dumps are opened one at a time and closed before the next, so memory stays that
//! of one session.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use crate::cli::{Options, target_json};
use crate::dispatch::{Dispatcher, HostView};
use crate::loader::PluginSet;
use crate::outcome::CommandResult;
use crate::render::result_object;

/// Opens a dump (the binary's opener).
pub type Open<'a> = crate::cli::Opener<'a>;

/// The commands the report runs on each dump (their JSON results are what it draws).
pub const REPORT_COMMANDS: &[&str] = &[
    "info",
    "!vm",
    "!poolused 100",
    "!frag",
    "!poolfind * 0",
    "!poolfind * 1",
];

/// Runs `commands` on `view` and returns their results as `--format json` prints them.
pub fn results(view: &dyn HostView, plugins: &PluginSet, commands: &[&str]) -> Vec<Value> {
    let cancel = AtomicBool::new(false);
    let d = Dispatcher::new(view, plugins, Some(&cancel));
    let target = target_json(view);
    let sources = view.sources();
    commands
        .iter()
        .map(|c| result_object(&d.run(c), &target, &sources))
        .collect()
}

/// The `!poolused` arguments a diff runs: flag 0x100 (image candidates) when by driver.
fn poolused_args(by: poolreport::By) -> &'static str {
    match by {
        poolreport::By::Tag => "!poolused",
        poolreport::By::Driver => "!poolused 100",
    }
}

/// One dump's `!poolused` for a diff: from the open `view`.
pub fn usage_of(
    label: &str,
    view: &dyn HostView,
    plugins: &PluginSet,
    by: poolreport::By,
) -> Result<poolreport::PoolUsage, String> {
    let r = results(view, plugins, &[poolused_args(by)]);
    let r = r.first().cloned().unwrap_or(Value::Null);
    poolreport::PoolUsage::from_json(label, &r).map_err(|e| e.to_string())
}

/// One dump's `!poolused`, opening it (and closing it before returning).
fn usage_at(
    path: &Path,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
    by: poolreport::By,
) -> Result<poolreport::PoolUsage, String> {
    let view = open(path, options).map_err(|e| format!("{}: {e}", path.display()))?;
    usage_of(&path.display().to_string(), view.as_ref(), plugins, by)
}

/// The `diff` result from usages, oldest first.
pub fn diff_result(
    args: &str,
    usages: &[poolreport::PoolUsage],
    by: poolreport::By,
) -> CommandResult {
    match poolreport::diff(usages, by) {
        Ok(d) => {
            let mut r = CommandResult::new("diff", args);
            r.rows = d.rows_json();
            let mut summary = Some(d.summary_json());
            r.text = crate::render::take_text(&mut summary);
            r.summary = summary;
            r.warnings = d.warnings;
            r
        }
        Err(e) => CommandResult::failed("diff", args, e.to_string()),
    }
}

/// `pooldbg diff PATHS… [--by]`: each dump opened in turn.
pub fn diff_paths(
    paths: &[PathBuf],
    by: poolreport::By,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> CommandResult {
    let args = diff_args(paths, by);
    let mut usages = Vec::with_capacity(paths.len());
    for p in paths {
        match usage_at(p, open, options, plugins, by) {
            Ok(u) => usages.push(u),
            Err(e) => return CommandResult::failed("diff", &args, e),
        }
    }
    diff_result(&args, &usages, by)
}

fn diff_args(paths: &[PathBuf], by: poolreport::By) -> String {
    let mut a: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    if by == poolreport::By::Driver {
        a.push("--by driver".into());
    }
    a.join(" ")
}

/// Writes the report of `dump` (and `old`) to `out`: the result says where and what it holds.
pub fn report_paths(
    dump: &Path,
    old: Option<&Path>,
    out: &Path,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> CommandResult {
    let args = format!(
        "{} {}-o {}",
        dump.display(),
        old.map(|o| format!("{} ", o.display())).unwrap_or_default(),
        out.display()
    );
    let current = match open_results(dump, open, options, plugins) {
        Ok(c) => c,
        Err(e) => return CommandResult::failed("report", &args, e),
    };
    match old
        .map(|o| open_results(o, open, options, plugins))
        .transpose()
    {
        Ok(previous) => write_report(&args, current, previous, out),
        Err(e) => CommandResult::failed("report", &args, e),
    }
}

/// Opens `path`, runs [`REPORT_COMMANDS`] on it, and closes it.
fn open_results(
    path: &Path,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> Result<poolreport::html::DumpResults, String> {
    let view = open(path, options).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(poolreport::html::DumpResults {
        label: path.display().to_string(),
        results: results(view.as_ref(), plugins, REPORT_COMMANDS),
    })
}

fn write_report(
    args: &str,
    current: poolreport::html::DumpResults,
    previous: Option<poolreport::html::DumpResults>,
    out: &Path,
) -> CommandResult {
    let input = poolreport::html::ReportInput { current, previous };
    let page = poolreport::html::render(&input);
    if let Err(e) = std::fs::write(out, page.html.as_bytes()) {
        return CommandResult::failed("report", args, format!("{}: {e}", out.display()));
    }
    let mut r = CommandResult::new("report", args);
    r.rows = vec![
        json!({"file": out.display().to_string(), "bytes": page.html.len(),
                         "sections": page.sections}),
    ];
    r.text = Some(vec![format!(
        "report written to {} ({} bytes; {})",
        out.display(),
        page.html.len(),
        page.sections.join(", ")
    )]);
    r.warnings = page.warnings;
    r
}

/// The kd-style forms in a session over `view` (the newest dump): `.diff [-by driver] OLD [MORE…]`
/// and `.report FILE.html [OLD_DUMP]`. `None` for any other command.
pub fn run_dot(
    command: &str,
    view: &dyn HostView,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> Option<CommandResult> {
    let (name, rest) = crate::dispatch::split_name(command);
    match name.as_str() {
        ".diff" => Some(dot_diff(&rest, view, open, options, plugins)),
        ".report" => Some(dot_report(&rest, view, open, options, plugins)),
        _ => None,
    }
}

/// The usage of `.diff`.
pub const DIFF_USAGE: &str =
    ".diff [-by tag|driver] OLD_DUMP [MORE_DUMPS...]  (the open dump is the newest)";
/// The usage of `.report`.
pub const REPORT_USAGE: &str = ".report FILE.html [OLD_DUMP]";

fn dot_diff(
    rest: &str,
    view: &dyn HostView,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> CommandResult {
    let mut by = poolreport::By::Tag;
    let mut paths = Vec::new();
    let mut it = rest.split_whitespace();
    while let Some(a) = it.next() {
        if a == "-by" || a == "--by" {
            match it.next().and_then(poolreport::By::parse) {
                Some(b) => by = b,
                None => {
                    return CommandResult::failed(
                        ".diff",
                        rest,
                        format!("-by takes tag or driver; {DIFF_USAGE}"),
                    );
                }
            }
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    if paths.is_empty() {
        return CommandResult::failed(
            ".diff",
            rest,
            format!("an older dump is required; {DIFF_USAGE}"),
        );
    }
    let mut usages = Vec::with_capacity(paths.len() + 1);
    for p in &paths {
        match usage_at(p, open, options, plugins, by) {
            Ok(u) => usages.push(u),
            Err(e) => return CommandResult::failed(".diff", rest, e),
        }
    }
    match usage_of("(open dump)", view, plugins, by) {
        Ok(u) => usages.push(u),
        Err(e) => return CommandResult::failed(".diff", rest, e),
    }
    let mut r = diff_result(rest, &usages, by);
    r.command = ".diff".into();
    r
}

fn dot_report(
    rest: &str,
    view: &dyn HostView,
    open: &Open<'_>,
    options: &Options,
    plugins: &PluginSet,
) -> CommandResult {
    let mut it = rest.split_whitespace();
    let (Some(out), old, None) = (it.next(), it.next(), it.next()) else {
        return CommandResult::failed(".report", rest, format!("usage: {REPORT_USAGE}"));
    };
    let current = poolreport::html::DumpResults {
        label: "(open dump)".into(),
        results: results(view, plugins, REPORT_COMMANDS),
    };
    let previous = match old
        .map(|o| open_results(Path::new(o), open, options, plugins))
        .transpose()
    {
        Ok(p) => p,
        Err(e) => return CommandResult::failed(".report", rest, e),
    };
    let mut r = write_report(rest, current, previous, Path::new(out));
    r.command = ".report".into();
    r
}

/// Runs the `diff` or `report` subcommand and prints its result in `options.format`.
pub fn run_sub(
    sub: &crate::cli::Sub,
    open: &Open<'_>,
    options: &Options,
) -> std::process::ExitCode {
    use crate::cli::{DiffBy, Sub, exit};
    let plugins = PluginSet::discover(crate::loader::SearchPath::from_environment(
        &options.plugin_dir,
    ));
    let result = match sub {
        Sub::Diff { dumps, by } => {
            let by = match by {
                DiffBy::Tag => poolreport::By::Tag,
                DiffBy::Driver => poolreport::By::Driver,
            };
            diff_paths(dumps, by, open, options, &plugins)
        }
        Sub::Report { dump, old, output } => {
            report_paths(dump, old.as_deref(), output, open, options, &plugins)
        }
        _ => CommandResult::failed("?", "", "not a multi-dump subcommand"),
    };
    let ok = result.is_ok();
    let mut renderer = crate::render::Renderer::new(
        options.format,
        std::io::stdout(),
        std::io::stderr(),
        Value::Null,
        Value::Null,
    )
    .with_verbose(options.verbose);
    let _ = renderer.render(&result);
    std::process::ExitCode::from(if ok { exit::OK } else { exit::FAILED })
}
