//! The command dispatcher: splits a kd command line, runs host commands itself and plugin
//! commands through the bridge, and returns one [`CommandResult`] per command.

use std::sync::atomic::AtomicBool;

use plugin_sdk::{Target, hex};
use serde_json::{Value, json};

use crate::bridge::run_command;
use crate::loader::PluginSet;
use crate::memdump::{Space, Unit, display};
use crate::outcome::CommandResult;
use plugin_sdk::args::{eval, windbg_address};

/// One loaded module as `lm` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRow {
    /// `ntoskrnl.exe`.
    pub name: String,
    /// Image base.
    pub base: u64,
    /// Image size in bytes.
    pub size: u64,
    /// Full path, when known (may be empty).
    pub path: String,
}

/// What the host commands need from an opened dump besides the plugin [`Target`]: the
/// [`crate::session::Session`] implements it; tests may implement it over a `MemoryTarget`.
pub trait HostView {
    /// The target plugins and the display commands read through.
    fn target(&self) -> &dyn Target;
    /// The `info` row (CONTRACT.md "Fields").
    fn info_row(&self) -> Value;
    /// Loaded modules, in load order.
    fn modules(&self) -> Vec<ModuleRow>;
    /// `!pte`'s walk of `va`, or why there is none (no page tables).
    fn walk(&self, va: u64) -> Result<paging::Walk, String>;
    /// Where symbols came from (`embedded profile 10.0.19041.329`, ...).
    fn symbol_source(&self) -> String;
    /// True when every symbol answer names this exact kernel (the user's PDB/ISF).
    fn symbols_exact(&self) -> bool;
    /// The flag Ctrl-C sets; the target's `is_cancelled` should report it.
    fn cancel_flag(&self) -> std::sync::Arc<AtomicBool>;
    /// The `sources` object of json output.
    fn sources(&self) -> Value {
        json!({ "symbols": self.symbol_source(), "symbols_exact": self.symbols_exact() })
    }
}

/// The host's own commands, with usage and summary, as `.help` lists them.
pub const HOST_COMMANDS: &[(&str, &str, &str)] = &[
    (
        "info",
        "info",
        "what the dump holds: architecture, build, kernel, bugcheck, symbols",
    ),
    ("lm", "lm", "loaded modules"),
    (
        "db",
        "db ADDR [L COUNT]",
        "bytes of virtual memory, with ASCII",
    ),
    ("dd", "dd ADDR [L COUNT]", "32-bit values of virtual memory"),
    ("dq", "dq ADDR [L COUNT]", "64-bit values of virtual memory"),
    (
        "!db",
        "!db ADDR [L COUNT]",
        "bytes of physical memory, with ASCII",
    ),
    (
        "!dd",
        "!dd ADDR [L COUNT]",
        "32-bit values of physical memory",
    ),
    (
        "!dq",
        "!dq ADDR [L COUNT]",
        "64-bit values of physical memory",
    ),
    (
        "!pte",
        "!pte ADDR",
        "the page-table walk of a virtual address",
    ),
    (
        ".diff",
        crate::multi::DIFF_USAGE,
        "pool use change per tag or driver from older dumps to this one",
    ),
    (
        ".report",
        crate::multi::REPORT_USAGE,
        "one self-contained HTML report of this dump (growth with an older one)",
    ),
    (".help", ".help", "this list"),
    ("q", "q", "quit (the prompt only)"),
];

/// Splits a kd command string on `;` into trimmed, non-empty commands.
pub fn split_commands(line: &str) -> Vec<String> {
    line.split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits one command into its name (lower-cased) and the raw argument string.
pub fn split_name(command: &str) -> (String, String) {
    let c = command.trim();
    match c.find(char::is_whitespace) {
        Some(i) => (c[..i].to_ascii_lowercase(), c[i..].trim().to_string()),
        None => (c.to_ascii_lowercase(), String::new()),
    }
}

/// Every command name the prompt can complete: the host's and the loaded plugins'.
pub fn command_names(plugins: &PluginSet) -> Vec<String> {
    let mut names: Vec<String> = HOST_COMMANDS.iter().map(|c| c.0.to_string()).collect();
    for p in &plugins.plugins {
        for c in &p.commands {
            names.push(format!("!{}", c.name));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Runs commands against one dump.
#[derive(Debug)]
pub struct Dispatcher<'a, V: HostView + ?Sized> {
    view: &'a V,
    plugins: &'a PluginSet,
    cancel: Option<&'a AtomicBool>,
}

impl<'a, V: HostView + ?Sized> Dispatcher<'a, V> {
    /// A dispatcher over `view` with `plugins`; `cancel` is the flag Ctrl-C sets.
    pub fn new(view: &'a V, plugins: &'a PluginSet, cancel: Option<&'a AtomicBool>) -> Self {
        Dispatcher {
            view,
            plugins,
            cancel,
        }
    }

    /// Runs one command (no `;`).
    pub fn run(&self, command: &str) -> CommandResult {
        let (name, args) = split_name(command);
        let t = self.view.target();
        match name.as_str() {
            "info" => self.info(&args),
            "lm" => self.lm(&args),
            "db" => display(t, Space::Virtual, Unit::Byte, &args, self.cancel),
            "dd" => display(t, Space::Virtual, Unit::Dword, &args, self.cancel),
            "dq" => display(t, Space::Virtual, Unit::Qword, &args, self.cancel),
            "!db" => display(t, Space::Physical, Unit::Byte, &args, self.cancel),
            "!dd" => display(t, Space::Physical, Unit::Dword, &args, self.cancel),
            "!dq" => display(t, Space::Physical, Unit::Qword, &args, self.cancel),
            "!pte" => self.pte(&args),
            ".help" | "?" => self.help(&args),
            n if n.starts_with('!') => self.plugin(n, &args),
            n => {
                let hint = if self.plugins.find(n).is_some() {
                    format!("; did you mean !{n}?")
                } else {
                    String::new()
                };
                CommandResult::failed(
                    n,
                    &args,
                    format!("unknown command `{n}` (.help lists the commands){hint}"),
                )
            }
        }
    }

    fn plugin(&self, name: &str, args: &str) -> CommandResult {
        let Some((plugin, index)) = self.plugins.find(name) else {
            let dirs: Vec<String> = self
                .plugins
                .search
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return CommandResult::failed(
                name,
                args,
                format!(
                    "no plugin provides {name} (searched {}; `pooldbg plugins` lists what was found)",
                    dirs.join(", ")
                ),
            );
        };
        let outcome = run_command(plugin, index, self.view.target(), args, self.cancel);
        let mut result = CommandResult::new(name, args);
        result.columns = plugin
            .commands
            .get(index as usize)
            .map(|c| c.columns.clone())
            .unwrap_or_default();
        result.rows = outcome.rows;
        result.summary = outcome.summary;
        result.warnings = outcome.warnings;
        result.error = outcome.error;
        result.text = crate::render::take_text(&mut result.summary);
        for (level, message) in outcome.logs {
            if level <= plugin_sdk::LogLevel::Warn {
                eprintln!("{name}: {message}");
            }
        }
        result
    }

    fn info(&self, args: &str) -> CommandResult {
        let mut r = CommandResult::new("info", args);
        let row = self.view.info_row();
        let mut text = Vec::new();
        if let Value::Object(map) = &row {
            let cols = crate::render::columns("info", std::slice::from_ref(&row));
            for (k, v) in cols.iter().filter_map(|k| map.get(k).map(|v| (k, v))) {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "unknown".into(),
                    other => other.to_string(),
                };
                text.push(format!("{k:<22}{shown}"));
            }
        }
        r.text = Some(text);
        r.rows.push(row);
        r
    }

    fn lm(&self, args: &str) -> CommandResult {
        let mut r = CommandResult::new("lm", args);
        let ps = self.view.target().info().pointer_size;
        let modules = self.view.modules();
        let width = if ps == 4 { 8 } else { 17 };
        let mut text = vec![format!(
            "{:<w$} {:<w$}   module name",
            "start",
            "end",
            w = width
        )];
        for (i, m) in modules.iter().enumerate() {
            let end = m.base.saturating_add(m.size);
            let module = windbg_module_name(i, &m.name);
            text.push(format!(
                "{} {}   {:<16} {}",
                windbg_address(m.base, ps),
                windbg_address(end, ps),
                module,
                m.path
            ));
            r.rows.push(json!({
                "module": module,
                "name": m.name,
                "base": hex(m.base),
                "size": m.size,
                "path": m.path,
            }));
        }
        if modules.is_empty() {
            r.warnings
                .push("no module list could be read from this dump".into());
        }
        r.text = Some(text);
        r
    }

    fn pte(&self, args: &str) -> CommandResult {
        let va = match eval(self.view.target(), args) {
            Ok(v) => v,
            Err(e) => {
                return CommandResult::failed("!pte", args, format!("{e} (usage: !pte ADDR)"));
            }
        };
        let walk = match self.view.walk(va) {
            Ok(w) => w,
            Err(e) => return CommandResult::failed("!pte", args, e),
        };
        let ps = self.view.target().info().pointer_size;
        let mut r = CommandResult::new("!pte", args);
        let mut text = vec![format!("{:>43} {}", "VA", windbg_address(va, ps))];
        for e in &walk.entries {
            let (state, pfn) = entry_state(&e.state);
            let at = match e.entry_va {
                Some(v) => windbg_address(v, ps),
                None => format!("physical {:#x}", e.entry_pa),
            };
            text.push(format!(
                "{} at {at:<20} contains {:016x}  {state}",
                e.name, e.raw
            ));
            let mut row = json!({
                "level": e.name,
                "entry_address": e.entry_va.map(hex),
                "entry_physical": hex(e.entry_pa),
                "value": hex(e.raw),
                "state": state,
            });
            if let Some(pfn) = pfn {
                row["pfn"] = json!(hex(pfn));
            }
            r.rows.push(row);
        }
        let summary = match &walk.result {
            Ok(t) => {
                text.push(format!(
                    "{} -> physical {:#x} ({:#x}-byte page{})",
                    windbg_address(va, ps),
                    t.pa,
                    t.page_size,
                    if t.transition { ", transition" } else { "" }
                ));
                json!({"va": hex(va), "physical": hex(t.pa), "page_size": t.page_size, "transition": t.transition})
            }
            Err(f) => {
                text.push(format!("{}: {f}", windbg_address(va, ps)));
                json!({"va": hex(va), "physical": null, "reason": f.to_string()})
            }
        };
        r.summary = Some(summary);
        r.text = Some(text);
        r
    }

    fn help(&self, args: &str) -> CommandResult {
        let mut r = CommandResult::new(".help", args);
        let mut text = vec!["host commands:".to_string()];
        for (name, usage, summary) in HOST_COMMANDS {
            text.push(format!("  {usage:<22} {summary}"));
            r.rows.push(
                json!({"command": name, "usage": usage, "summary": summary, "provider": "pooldbg"}),
            );
        }
        text.push("plugin commands:".into());
        for p in &self.plugins.plugins {
            for c in &p.commands {
                text.push(format!("  {:<22} {}  [{}]", c.usage, c.summary, p.name));
                r.rows.push(json!({
                    "command": format!("!{}", c.name),
                    "usage": c.usage,
                    "summary": c.summary,
                    "provider": p.name,
                }));
            }
        }
        if self.plugins.plugins.is_empty() {
            text.push("  (none loaded; `pooldbg plugins` says where they were looked for)".into());
        }
        text.push("numbers are hexadecimal (0x optional, 0n for decimal, ` separators allowed); commands are separated by ;".into());
        r.text = Some(text);
        r
    }
}

/// A walk entry's state as text, and its frame number when it has one.
fn entry_state(state: &paging::EntryState) -> (String, Option<u64>) {
    use paging::EntryState as S;
    match state {
        S::Valid { pfn, flags } => (format!("pfn {pfn:x} {}", flags.windbg()), Some(*pfn)),
        S::Transition { pfn, protection } => (
            format!("transition pfn {pfn:x} protection {protection}"),
            Some(*pfn),
        ),
        S::PagedOut {
            page_file,
            offset,
            protection,
        } => (
            format!(
                "paged out (page file {page_file}, offset {offset:#x}) protection {protection}"
            ),
            None,
        ),
        S::Prototype { proto_pte } => (
            match proto_pte {
                Some(p) => format!("prototype PTE at {p:#x}"),
                None => "prototype PTE".into(),
            },
            None,
        ),
        S::DemandZero { protection } => (format!("demand zero protection {protection}"), None),
        S::Zero => ("not mapped".into(), None),
    }
}

/// The module name WinDbg shows for a loaded image: `nt` for the kernel (one of the four kernel file
/// names, or an `.exe` first in the loaded-module list, where Windows keeps the kernel), `hal` for a HAL, otherwise the file
/// name without its extension (`ntfs.sys` -> `ntfs`). WinDbg keeps the file's case; so do we.
pub fn windbg_module_name(index: usize, file_name: &str) -> String {
    let lower = file_name.to_ascii_lowercase();
    let kernel_files = [
        "ntoskrnl.exe",
        "ntkrnlmp.exe",
        "ntkrnlpa.exe",
        "ntkrpamp.exe",
    ];
    if kernel_files.contains(&lower.as_str()) || (index == 0 && lower.ends_with(".exe")) {
        return "nt".into();
    }
    if lower.starts_with("hal") && lower.ends_with(".dll") {
        return "hal".into();
    }
    match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => file_name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::windbg_module_name;

    #[test]
    fn module_names_as_windbg_shows_them() {
        assert_eq!(windbg_module_name(0, "ntoskrnl.exe"), "nt");
        assert_eq!(windbg_module_name(3, "NTKRPAMP.EXE"), "nt");
        assert_eq!(windbg_module_name(0, "custom.exe"), "nt");
        assert_eq!(windbg_module_name(1, "halmacpi.dll"), "hal");
        assert_eq!(windbg_module_name(2, "Ntfs.sys"), "Ntfs");
        assert_eq!(windbg_module_name(0, "ntfs.sys"), "ntfs");
        assert_eq!(windbg_module_name(4, "noext"), "noext");
        assert_eq!(windbg_module_name(4, ".sys"), ".sys");
    }
}
