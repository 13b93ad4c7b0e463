//! The command dispatcher: splits a kd command line, runs host commands itself and plugin
//! commands through the bridge, and returns one [`CommandResult`] per command.

use std::sync::atomic::AtomicBool;

use plugin_sdk::{Target, hex};
use serde_json::{Value, json};

use crate::bridge::run_command_into;
use crate::loader::PluginSet;
use crate::memdump::{Space, Unit, display_into};
use crate::outcome::{Collect, CommandResult, Sink};
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
    /// What changes the meaning of every answer, for the text user (printed once, first): a
    /// truncated dump, `--symbols` paths that do not exist or hold nothing for this kernel.
    fn notices(&self) -> Vec<String> {
        Vec::new()
    }
    /// Everything opening the dump noticed (`-v` prints it in text; json has it in `sources`).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
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
    (
        "lm",
        "lm [v] [m PATTERN]",
        "loaded modules by start address (lmv: with paths and sizes)",
    ),
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
    ("q", "q | qq | .quit", "quit (at the prompt, or ending -c)"),
];

/// The most logical processors a Windows machine has (Windows Server 2022: 2048).
pub const MAX_PROCESSORS: u64 = 2048;

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

    /// Runs one command (no `;`), keeping every row and line in the result.
    pub fn run(&self, command: &str) -> CommandResult {
        let mut sink = Collect::default();
        let r = self.run_into(command, &mut sink);
        sink.into_result(r)
    }

    /// Runs one command (no `;`), handing rows and text lines to `sink` as they are produced
    /// (the display commands and plugins stream; the small host commands hand theirs at the end).
    /// The result holds what was not streamed: summary, warnings, error.
    pub fn run_into(&self, command: &str, sink: &mut dyn Sink) -> CommandResult {
        let (name, args) = split_name(command);
        let t = self.view.target();
        let c = self.cancel;
        match name.as_str() {
            "db" => display_into(t, Space::Virtual, Unit::Byte, &args, c, sink),
            "dd" => display_into(t, Space::Virtual, Unit::Dword, &args, c, sink),
            "dq" => display_into(t, Space::Virtual, Unit::Qword, &args, c, sink),
            "!db" => display_into(t, Space::Physical, Unit::Byte, &args, c, sink),
            "!dd" => display_into(t, Space::Physical, Unit::Dword, &args, c, sink),
            "!dq" => display_into(t, Space::Physical, Unit::Qword, &args, c, sink),
            n if n.starts_with('!') && !HOST_COMMANDS.iter().any(|h| h.0 == n) => {
                self.plugin(n, &args, sink)
            }
            _ => self.run_small(&name, &args),
        }
    }

    /// The columns `command` declares (a plugin command's `Command::columns`; empty for the
    /// host's commands and undeclared plugins), known before it runs so that a streaming CSV
    /// header or text table can use them.
    pub fn declared_columns(&self, command: &str) -> Vec<String> {
        let (name, _) = split_name(command);
        if !name.starts_with('!') || HOST_COMMANDS.iter().any(|h| h.0 == name) {
            return Vec::new();
        }
        self.plugins
            .find(&name)
            .and_then(|(p, i)| p.commands.get(i as usize).map(|c| c.columns.clone()))
            .unwrap_or_default()
    }

    /// The host commands whose output is small (a screen at most): built whole.
    fn run_small(&self, name: &str, args: &str) -> CommandResult {
        match name {
            "info" => self.info(args),
            "lm" | "lmv" | "lmm" | "lmvm" => self.lm(name, args),
            "!pte" => self.pte(args),
            ".help" | "?" => self.help(args),
            n => {
                let hint = if self.plugins.find(n).is_some() {
                    format!("; did you mean !{n}?")
                } else {
                    String::new()
                };
                CommandResult::failed(
                    n,
                    args,
                    format!("unknown command `{n}` (.help lists the commands){hint}"),
                )
            }
        }
    }

    fn plugin(&self, name: &str, args: &str, sink: &mut dyn Sink) -> CommandResult {
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
        let outcome = run_command_into(
            plugin,
            index,
            self.view.target(),
            args,
            self.cancel,
            Some(sink),
        );
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
        // Lines the plugin kept in `summary.text` (the convention before `emit_text`) follow any
        // it sent one by one.
        result.text = match (outcome.text, crate::render::take_text(&mut result.summary)) {
            (Some(mut sent), Some(kept)) => {
                sent.extend(kept);
                Some(sent)
            }
            (sent, kept) => sent.or(kept),
        };
        // The plugin's log lines were printed as they came (Target::log: warnings and errors,
        // everything with POOLDBG_LOG set); not again here (issue #22).
        result
    }

    fn info(&self, args: &str) -> CommandResult {
        let mut r = CommandResult::new("info", args);
        let mut row = self.view.info_row();
        // A header count no Windows machine has (the most Windows supports is 2048 logical
        // processors, Microsoft docs "Processor groups") is garbage: flagged, not printed plainly.
        if let Some(n) = row.get("processors").and_then(Value::as_u64)
            && n > MAX_PROCESSORS
        {
            row["processors"] = Value::Null;
            row["processors_header"] = json!(n);
            r.warnings.push(format!(
                "the dump header says {n} processors, more than the {MAX_PROCESSORS} Windows \
                 supports: the field is not trusted"
            ));
        }
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
        if self.view.target().info().arch == plugin_sdk::Arch::Arm64 {
            r.warnings.push(
                "ARM64 kernel: identified (info, lm), but the pool commands (!vm, !poolused, \
                 !pool, !poolfind, !frag) do not cover ARM64 yet"
                    .into(),
            );
        }
        r.rows.push(row);
        r
    }

    /// `lm`, WinDbg's way: `lm`, `lmv`, `lm m PATTERN`, `lmvm PATTERN` (`v` verbose, `m` a
    /// module-name pattern with `*` and `?`), sorted by start address.
    fn lm(&self, name: &str, args: &str) -> CommandResult {
        const USAGE: &str = "usage: lm [v] [m PATTERN] (also lmv, lmm PATTERN, lmvm PATTERN)";
        let mut verbose = matches!(name, "lmv" | "lmvm");
        let mut want_pattern = matches!(name, "lmm" | "lmvm");
        let mut pattern: Option<String> = None;
        for word in args.split_whitespace() {
            if want_pattern {
                pattern = Some(word.to_string());
                want_pattern = false;
                continue;
            }
            match word.to_ascii_lowercase().as_str() {
                "v" => verbose = true,
                "m" => want_pattern = true,
                "vm" => {
                    verbose = true;
                    want_pattern = true;
                }
                _ => {
                    return CommandResult::failed(
                        "lm",
                        args,
                        format!("unexpected `{word}`; {USAGE}"),
                    );
                }
            }
        }
        if want_pattern {
            return CommandResult::failed("lm", args, format!("m needs a pattern; {USAGE}"));
        }
        let mut r = CommandResult::new("lm", args);
        let ps = self.view.target().info().pointer_size;
        let mut modules: Vec<(usize, ModuleRow)> =
            self.view.modules().into_iter().enumerate().collect();
        let listed = modules.len();
        // WinDbg lists modules by start address; the load-order index still names the kernel.
        modules.sort_by_key(|(_, m)| m.base);
        let width = if ps == 4 { 8 } else { 17 };
        let mut text = vec![format!(
            "{:<w$} {:<w$}   module name",
            "start",
            "end",
            w = width
        )];
        for (i, m) in &modules {
            let module = windbg_module_name(*i, &m.name);
            if let Some(p) = &pattern
                && !wildcard_match(p, &module)
                && !wildcard_match(p, &m.name)
            {
                continue;
            }
            let end = m.base.saturating_add(m.size);
            text.push(
                format!(
                    "{} {}   {:<16} {}",
                    windbg_address(m.base, ps),
                    windbg_address(end, ps),
                    module,
                    if verbose { "" } else { m.path.as_str() }
                )
                .trim_end()
                .to_string(),
            );
            if verbose {
                text.push(format!(
                    "    Image path: {}",
                    if m.path.is_empty() {
                        "(unknown)"
                    } else {
                        &m.path
                    }
                ));
                text.push(format!("    Image name: {}", m.name));
                text.push(format!("    ImageSize:  {:08X}", m.size));
            }
            r.rows.push(json!({
                "module": module,
                "name": m.name,
                "base": hex(m.base),
                "size": m.size,
                "path": m.path,
            }));
        }
        if listed == 0 {
            r.warnings
                .push("no module list could be read from this dump".into());
        } else if r.rows.is_empty()
            && let Some(p) = &pattern
        {
            r.warnings.push(format!("no module matches `{p}`"));
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
        let text = pte_text(va, ps, &walk.entries);
        for e in &walk.entries {
            let (state, pfn) = entry_state(&e.state);
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
        let mut text = text;
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

/// `lm m PATTERN`'s match: case-insensitive, `*` and `?` ([`plugin_sdk::args::glob`] on the
/// lowercased names).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    plugin_sdk::args::glob(
        pattern.to_ascii_lowercase().as_bytes(),
        text.to_ascii_lowercase().as_bytes(),
    )
}

/// `!pte`'s text in WinDbg's layout (Microsoft docs, "!pte"): the VA line, then one column per
/// level, highest first: `PXE at ADDRESS`, `contains VALUE`, and `pfn N FLAGS` for a valid entry
/// or `not valid` followed, under the table, by what the invalid entry holds (transition frame,
/// page file and offset, protection, prototype). Each column is 27 characters on x64 (16-digit
/// values) and 23 on x86 (8 digits), as WinDbg pads them.
pub fn pte_text(va: u64, pointer_size: u32, entries: &[paging::WalkEntry]) -> Vec<String> {
    use paging::EntryState as S;
    let digits = if pointer_size == 4 { 8 } else { 16 };
    let width = digits + 11;
    let mut at = String::new();
    let mut contains = String::new();
    let mut decoded = String::new();
    let mut details = Vec::new();
    for e in entries {
        let place = match e.entry_va {
            Some(v) => format!("{} at {v:0digits$X}", e.name),
            None => format!("{} at phys {:X}", e.name, e.entry_pa),
        };
        at.push_str(&format!("{place:<width$}"));
        contains.push_str(&format!(
            "{:<width$}",
            format!("contains {:0digits$X}", e.raw & mask(digits))
        ));
        let d = match &e.state {
            S::Valid { pfn, flags } => format!("pfn {pfn:<10x}{}", flags.windbg()),
            S::Zero => "not valid".to_string(),
            other => {
                details.push(format!("{}: {}", e.name, entry_state(other).0));
                "not valid".to_string()
            }
        };
        decoded.push_str(&format!("{d:<width$}"));
    }
    let mut out = vec![
        format!("{:>43} {:0digits$x}", "VA", va & mask(digits)),
        at.trim_end().to_string(),
        contains.trim_end().to_string(),
        decoded.trim_end().to_string(),
    ];
    out.extend(details);
    out
}

fn mask(digits: usize) -> u64 {
    if digits >= 16 {
        u64::MAX
    } else {
        (1u64 << (digits * 4)) - 1
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
/// names, or an `.exe` first in the loaded-module list, where Windows keeps the kernel), `hal` for the
/// HAL (`hal.dll`, and the x86 HALs Windows 7 and older installed under their own names and loaded as
/// `hal.dll`: `halmacpi.dll`, `halaacpi.dll`, `halacpi.dll`, `halapic.dll`, `halmps.dll`, `halsp.dll`),
/// otherwise the file name without its extension (`ntfs.sys` -> `ntfs`). A HAL extension
/// (`HalExtQCWdogTimer.dll`, `HalExtIntcLpioDMA.dll`, ARM64 and SoC systems) is its own module, not
/// `hal`. WinDbg keeps the file's case; so do we.
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
    // The HAL file names Microsoft's "Windows HAL" list (KB 309283) and the Windows Internals books
    // give; the loader names every one of them `hal.dll` in the module list on a running system.
    const HAL_FILES: [&str; 7] = [
        "hal.dll",
        "halacpi.dll",
        "halaacpi.dll",
        "halmacpi.dll",
        "halapic.dll",
        "halmps.dll",
        "halsp.dll",
    ];
    if HAL_FILES.contains(&lower.as_str()) {
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
    fn pte_columns_as_windbg_prints_them() {
        use paging::{EntryState, WalkEntry};
        let valid = |level, name, va, raw, pfn| WalkEntry {
            level,
            name,
            entry_pa: 0x1000,
            entry_va: Some(va),
            raw,
            state: EntryState::Valid {
                pfn,
                flags: paging::Flags::of(raw),
            },
        };
        let entries = [
            valid(
                4,
                "PXE",
                0xFFFF_ED76_BB5D_A018,
                0x0A00_0000_1A90_7867,
                0x1a907,
            ),
            valid(
                1,
                "PTE",
                0xFFFF_ED00_FF0A_8E80,
                0x0000_0000_A1DD_0880,
                0xa1dd0,
            ),
        ];
        let mut e = entries;
        e[1].state = EntryState::Transition {
            pfn: 0xa1dd0,
            protection: 4,
        };
        let t = super::pte_text(0x1fe_151d_0000, 8, &e);
        assert_eq!(t[0], format!("{:>43} 000001fe151d0000", "VA"));
        assert_eq!(t[1], "PXE at FFFFED76BB5DA018    PTE at FFFFED00FF0A8E80");
        assert_eq!(t[2], "contains 0A0000001A907867  contains 00000000A1DD0880");
        assert!(t[3].starts_with("pfn 1a907     "), "{}", t[3]);
        assert_eq!(t[3].len(), 27 + "not valid".len(), "{}", t[3]);
        assert!(t[3].ends_with("  not valid"));
        assert!(t[4].starts_with("PTE: transition pfn a1dd0"), "{}", t[4]);
    }

    #[test]
    fn module_patterns_as_windbg_matches_them() {
        use super::wildcard_match as m;
        assert!(m("nt", "nt"));
        assert!(m("NT*", "ntfs"));
        assert!(m("*fs", "Ntfs"));
        assert!(m("n?fs", "ntfs"));
        assert!(!m("nt", "ntfs"));
        assert!(!m("?", ""));
        assert!(m("*", ""));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
    }

    #[test]
    fn module_names_as_windbg_shows_them() {
        assert_eq!(windbg_module_name(0, "ntoskrnl.exe"), "nt");
        assert_eq!(windbg_module_name(3, "NTKRPAMP.EXE"), "nt");
        assert_eq!(windbg_module_name(0, "custom.exe"), "nt");
        assert_eq!(windbg_module_name(1, "halmacpi.dll"), "hal");
        assert_eq!(windbg_module_name(1, "hal.dll"), "hal");
        // A HAL extension is not the HAL (real ARM64 triage dump: HalExtQCWdogTimer.dll).
        assert_eq!(
            windbg_module_name(3, "HalExtQCWdogTimer.dll"),
            "HalExtQCWdogTimer"
        );
        assert_eq!(windbg_module_name(5, "halextpl080.dll"), "halextpl080");
        assert_eq!(windbg_module_name(2, "Ntfs.sys"), "Ntfs");
        assert_eq!(windbg_module_name(0, "ntfs.sys"), "ntfs");
        assert_eq!(windbg_module_name(4, "noext"), "noext");
        assert_eq!(windbg_module_name(4, ".sys"), ".sys");
    }
}
