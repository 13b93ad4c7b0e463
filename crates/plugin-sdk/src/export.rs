//! The machinery behind [`crate::export_plugin!`]: the descriptor, the run shim, panic guards.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Once, OnceLock};

use plugin_abi as abi;

use crate::{Command, CommandError, HostTarget, Output};

/// What `export_plugin!` collects from its arguments.
#[derive(Debug)]
pub struct PluginSpec {
    /// Plugin name.
    pub name: &'static str,
    /// Plugin version.
    pub version: &'static str,
    /// Its commands.
    pub commands: Vec<Box<dyn Command>>,
}

impl std::fmt::Debug for dyn Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name())
            .finish()
    }
}

/// A built plugin: the commands and the C descriptor that points into them.
#[derive(Debug)]
struct Plugin {
    commands: Vec<Box<dyn Command>>,
    // The descriptor points into `command_descriptors` and the &'static strs of `commands`; both
    // live as long as the static PluginCell, which is as long as the library is loaded.
    _command_descriptors: Vec<abi::CommandDescriptor>,
    // The comma-separated column lists the descriptors point into.
    _columns: Vec<String>,
    descriptor: abi::PluginDescriptor,
}

/// The static slot `export_plugin!` keeps its plugin in.
#[derive(Debug)]
pub struct PluginCell(OnceLock<Plugin>);

// SAFETY: a Plugin is written once (OnceLock) and only read afterwards; its raw pointers point to
// immutable data it owns or to &'static strings, and its commands are Send + Sync.
unsafe impl Sync for PluginCell {}

impl PluginCell {
    /// An empty cell.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        PluginCell(OnceLock::new())
    }
}

fn build(spec: PluginSpec, run: abi::RunFn) -> Plugin {
    let columns: Vec<String> = spec
        .commands
        .iter()
        .map(|c| c.columns().join(","))
        .collect();
    let command_descriptors: Vec<abi::CommandDescriptor> = spec
        .commands
        .iter()
        .zip(&columns)
        .map(|(c, cols)| abi::CommandDescriptor {
            name: abi::Str::new(c.name()),
            summary: abi::Str::new(c.summary()),
            usage: abi::Str::new(c.usage()),
            columns: abi::Str::new(cols),
        })
        .collect();
    let descriptor = abi::PluginDescriptor {
        abi_version: abi::ABI_VERSION,
        struct_size: size_of::<abi::PluginDescriptor>() as u32,
        command_count: u32::try_from(command_descriptors.len()).unwrap_or(0),
        command_size: size_of::<abi::CommandDescriptor>() as u32,
        name: abi::Str::new(spec.name),
        version: abi::Str::new(spec.version),
        commands: command_descriptors.as_ptr(),
        run: Some(run),
    };
    Plugin {
        commands: spec.commands,
        _command_descriptors: command_descriptors,
        _columns: columns,
        descriptor,
    }
}

thread_local! {
    /// Set while an SDK guard runs on this thread: panics are then reported, not printed.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// Where the last guarded panic happened (`file:line:col`).
    static LAST_PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the location of panics inside SDK guards instead of
/// printing them, and leaves every other panic to the previous hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err("panicked at FILE:LINE:COL: MESSAGE")`.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|payload| {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a panic with a non-text payload".to_owned()
        };
        match LAST_PANIC_AT.with(|p| p.borrow_mut().take()) {
            Some(at) => format!("panicked at {at}: {message}"),
            None => format!("panicked: {message}"),
        }
    })
}

/// The body of the generated entry point: builds the plugin once and returns its descriptor, or
/// null if building it panicked (the host then rejects the plugin).
pub fn entry(
    cell: &'static PluginCell,
    spec: fn() -> PluginSpec,
    run: abi::RunFn,
) -> *const abi::PluginDescriptor {
    guard(|| {
        let plugin = cell.0.get_or_init(|| build(spec(), run));
        &plugin.descriptor as *const abi::PluginDescriptor
    })
    .unwrap_or(std::ptr::null())
}

/// The body of the generated run shim.
///
/// # Safety
/// `host` and `ctx` must be what the host passed to the descriptor's `run`.
pub unsafe fn run(
    cell: &'static PluginCell,
    host: *const abi::HostApi,
    ctx: *mut abi::HostContext,
    command: u32,
    args: abi::Str,
) -> u32 {
    // SAFETY: the caller's promise.
    let Some(target) = (unsafe { HostTarget::new(host, ctx) }) else {
        return abi::STATUS_INVALID_ARGUMENT;
    };
    let outcome = guard(|| {
        let Some(plugin) = cell.0.get() else {
            target.set_error("the plugin was run before its entry point was called");
            return abi::STATUS_ERROR;
        };
        let Some(cmd) = plugin.commands.get(command as usize) else {
            target.set_error(&format!(
                "the plugin has no command number {command} (it has {})",
                plugin.commands.len()
            ));
            return abi::STATUS_INVALID_ARGUMENT;
        };
        // SAFETY: the host's argument string is valid during the call.
        let Some(args) = (unsafe { args.as_str() }) else {
            target.set_error("the argument string is not UTF-8");
            return abi::STATUS_INVALID_ARGUMENT;
        };
        // A host that takes text lines one at a time takes rows as they come too: the output
        // keeps nothing (issue #21). Otherwise everything is kept and handed over at the end.
        let mut out = if target.takes_text() {
            // SAFETY: the same table and context as `target`, valid during this call; the
            // HostTarget is owned by `out`, which is dropped (into_all) before `run` returns, so
            // the 'static it is given is never relied on past the call.
            match unsafe { HostTarget::new(host, ctx) } {
                Some(t) => Output::streaming(Box::new(HostStream(t))),
                None => Output::new(),
            }
        } else {
            Output::new()
        };
        let result = cmd.run(&target, args, &mut out);
        // What the command produced goes to the host even when it failed: partial rows and
        // warnings help to see how far it got.
        let (rows, lines, mut summary, warnings) = out.into_all();
        if !lines.is_empty() {
            summary = Some(fold_lines(lines, summary));
        }
        let mut status = abi::STATUS_OK;
        for row in &rows {
            let s = target.emit_row(&row.to_string());
            if s != abi::STATUS_OK {
                status = s;
                break;
            }
        }
        if let Some(summary) = summary {
            let s = target.set_summary(&summary.to_string());
            if status == abi::STATUS_OK && s != abi::STATUS_OK {
                status = s;
            }
        }
        for w in &warnings {
            target.add_warning(w);
        }
        match result {
            Ok(()) => status,
            Err(CommandError::Cancelled) => abi::STATUS_CANCELLED,
            Err(e @ CommandError::Usage(_)) => {
                target.set_error(&e.to_string());
                abi::STATUS_INVALID_ARGUMENT
            }
            Err(e) => {
                target.set_error(&e.to_string());
                abi::STATUS_ERROR
            }
        }
    });
    match outcome {
        Ok(status) => status,
        Err(panic) => {
            // Reporting must not panic again: a second panic here would cross the C boundary.
            let _ = guard(|| target.set_error(&format!("plugin {panic}")));
            abi::STATUS_ERROR
        }
    }
}

/// The host, as a streaming output's destination.
struct HostStream(HostTarget<'static>);

impl crate::OutputStream for HostStream {
    fn row(&mut self, row: &serde_json::Value) -> bool {
        self.0.emit_row(&row.to_string()) == abi::STATUS_OK
    }

    fn line(&mut self, line: &str) -> bool {
        self.0.emit_text(line)
    }
}

/// Lines kept for a host without `emit_text`: put in front of the summary's `text` (the older
/// convention, docs/PLUGINS.md "Text layouts"). A summary that is not an object keeps its value
/// under `value`.
fn fold_lines(lines: Vec<String>, summary: Option<serde_json::Value>) -> serde_json::Value {
    use serde_json::Value;
    let mut map = match summary {
        Some(Value::Object(m)) => m,
        None => serde_json::Map::new(),
        Some(other) => {
            let mut m = serde_json::Map::new();
            m.insert("value".into(), other);
            m
        }
    };
    let mut text: Vec<Value> = lines.into_iter().map(Value::String).collect();
    if let Some(Value::Array(kept)) = map.remove("text") {
        text.extend(kept);
    }
    map.insert("text".into(), Value::Array(text));
    Value::Object(map)
}
