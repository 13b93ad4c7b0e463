//! The host's side of the function table: runs a plugin command against a [`Target`].
//!
//! Every callback of the table delegates to the host-side `&dyn Target` of the command being run,
//! copies what the plugin hands in, and keeps what it hands out (target info, tag strings) alive
//! until the command returns. Callbacks catch panics of the host's own code, since unwinding out of
//! an `extern "C"` function would abort the process.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use plugin_abi as abi;
use plugin_sdk::{LogLevel, Read, Target, validate_row};
use serde_json::Value;

use crate::loader::LoadedPlugin;

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandOutcome {
    /// Rows (JSON objects), in the order emitted.
    pub rows: Vec<Value>,
    /// The summary, if one was set.
    pub summary: Option<Value>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Log messages.
    pub logs: Vec<(LogLevel, String)>,
    /// Why the command failed; `None` when it succeeded.
    pub error: Option<String>,
}

impl CommandOutcome {
    /// Did the command succeed?
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Default)]
struct State {
    rows: Vec<Value>,
    summary: Option<Value>,
    warnings: Vec<String>,
    logs: Vec<(LogLevel, String)>,
    error: Option<String>,
    /// The first bad JSON text the plugin passed, described.
    bad_json: Option<String>,
    rows_seen: usize,
}

/// A `TargetInfo` with the strings it points into.
struct InfoHolder {
    raw: abi::TargetInfo,
    _version: String,
    _dump_type: String,
}

/// A `TagInfo` with the strings it points into.
struct TagHolder {
    raw: abi::TagInfo,
    _strings: [String; 3],
}

// SAFETY: the holders' raw pointers point into their own immutable strings; sharing them between
// threads is sharing `&str`s.
unsafe impl Send for InfoHolder {}
// SAFETY: as above.
unsafe impl Sync for InfoHolder {}
// SAFETY: as above.
unsafe impl Send for TagHolder {}
// SAFETY: as above.
unsafe impl Sync for TagHolder {}

/// The context behind `*mut HostContext` while one command runs.
struct HostCtx<'a> {
    target: &'a dyn Target,
    cancel: Option<&'a AtomicBool>,
    state: Mutex<State>,
    info: OnceLock<InfoHolder>,
    tags: Mutex<HashMap<u32, Option<TagHolder>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on the context behind `ctx`, catching panics (which become `on_panic`).
///
/// # Safety
/// `ctx` must be null or the context `run_command` passed to the plugin, during that call.
unsafe fn with_ctx<R>(
    ctx: *mut abi::HostContext,
    on_null: R,
    on_panic: R,
    f: impl FnOnce(&HostCtx<'_>) -> R,
) -> R {
    if ctx.is_null() {
        return on_null;
    }
    // SAFETY: the caller's promise; only shared references are made (state is behind mutexes).
    let ctx = unsafe { &*(ctx as *const HostCtx<'_>) };
    catch_unwind(AssertUnwindSafe(|| f(ctx))).unwrap_or(on_panic)
}

/// A plugin string as `&str`, or `None` (null pointer with a length, or not UTF-8).
///
/// # Safety
/// `s` must be valid for the current callback.
unsafe fn plugin_str<'s>(s: abi::Str) -> Option<&'s str> {
    // SAFETY: forwarded.
    unsafe { s.as_str() }
}

/// # Safety
/// As for every callback: called by the plugin with the context of the running command.
unsafe fn read(
    ctx: *mut abi::HostContext,
    requests: *mut abi::ReadRequest,
    count: usize,
    physical: bool,
) -> u32 {
    // SAFETY: forwarded to the caller (the plugin, per the ABI).
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            if count == 0 {
                return abi::STATUS_OK;
            }
            if requests.is_null() {
                return abi::STATUS_INVALID_ARGUMENT;
            }
            // SAFETY: the plugin passes `count` requests it owns for this call.
            let reqs = std::slice::from_raw_parts_mut(requests, count);
            // Requests whose buffer cannot be used are answered as errors up front.
            let mut usable = Vec::with_capacity(count);
            let mut reads: Vec<Read<'_>> = Vec::with_capacity(count);
            for (i, r) in reqs.iter().enumerate() {
                if r.length == 0 {
                    continue;
                }
                if r.buffer.is_null() || r.length > isize::MAX as usize {
                    continue;
                }
                // SAFETY: the plugin passes `length` writable bytes at `buffer`, not
                // overlapping other requests' buffers (ABI).
                let buf = std::slice::from_raw_parts_mut(r.buffer, r.length);
                usable.push(i);
                reads.push(Read::new(r.address, buf));
            }
            if physical {
                c.target.read_physical(&mut reads);
            } else {
                c.target.read_virtual(&mut reads);
            }
            for r in reqs.iter_mut() {
                r.bytes_read = 0;
                r.pagefile_number = 0;
                r.pagefile_offset = 0;
                if r.length == 0 {
                    r.status = abi::READ_OK;
                    r.fault_address = 0;
                } else {
                    r.status = abi::READ_ERROR;
                    r.fault_address = r.address;
                }
            }
            for (i, read) in usable.into_iter().zip(&reads) {
                let (status, pagefile, offset) = read.status.to_abi();
                let r = &mut reqs[i];
                r.bytes_read = read.bytes_read.min(r.length);
                r.status = status;
                r.pagefile_number = pagefile;
                r.pagefile_offset = offset;
                r.fault_address = if status == abi::READ_OK {
                    0
                } else {
                    read.fault_address
                };
            }
            abi::STATUS_OK
        })
    }
}

unsafe extern "C" fn cb_read_physical(
    ctx: *mut abi::HostContext,
    requests: *mut abi::ReadRequest,
    count: usize,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe { read(ctx, requests, count, true) }
}

unsafe extern "C" fn cb_read_virtual(
    ctx: *mut abi::HostContext,
    requests: *mut abi::ReadRequest,
    count: usize,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe { read(ctx, requests, count, false) }
}

fn fill(out: *mut abi::Lookup, value: u64, source: plugin_sdk::Source, bits: (u32, u32)) {
    if out.is_null() {
        return;
    }
    let l = abi::Lookup {
        value,
        source: source.to_abi(),
        bit_position: bits.0,
        bit_length: bits.1,
        reserved: 0,
    };
    // SAFETY: non-null out-pointer the plugin passes for this call.
    unsafe { out.write(l) }
}

unsafe extern "C" fn cb_symbol_address(
    ctx: *mut abi::HostContext,
    name: abi::Str,
    out: *mut abi::Lookup,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            let Some(name) = plugin_str(name) else {
                return abi::STATUS_INVALID_ARGUMENT;
            };
            match c.target.symbol_address(name) {
                Some(s) => {
                    fill(out, s.value, s.source, (0, 0));
                    abi::STATUS_OK
                }
                None => abi::STATUS_NOT_FOUND,
            }
        })
    }
}

unsafe extern "C" fn cb_type_size(
    ctx: *mut abi::HostContext,
    name: abi::Str,
    out: *mut abi::Lookup,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            let Some(name) = plugin_str(name) else {
                return abi::STATUS_INVALID_ARGUMENT;
            };
            match c.target.type_size(name) {
                Some(s) => {
                    fill(out, s.value, s.source, (0, 0));
                    abi::STATUS_OK
                }
                None => abi::STATUS_NOT_FOUND,
            }
        })
    }
}

unsafe extern "C" fn cb_field_offset(
    ctx: *mut abi::HostContext,
    type_name: abi::Str,
    field: abi::Str,
    out: *mut abi::Lookup,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            let (Some(t), Some(f)) = (plugin_str(type_name), plugin_str(field)) else {
                return abi::STATUS_INVALID_ARGUMENT;
            };
            match c.target.field_offset(t, f) {
                Some(fo) => {
                    let bits = fo.bits.map_or((0, 0), |b| (b.position, b.length));
                    fill(out, fo.offset, fo.source, bits);
                    abi::STATUS_OK
                }
                None => abi::STATUS_NOT_FOUND,
            }
        })
    }
}

unsafe extern "C" fn cb_target_info(ctx: *mut abi::HostContext) -> *const abi::TargetInfo {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, std::ptr::null(), std::ptr::null(), |c| {
            let h = c.info.get_or_init(|| {
                let i = c.target.info();
                let version = i.version;
                let dump_type = i.dump_type;
                InfoHolder {
                    raw: abi::TargetInfo {
                        struct_size: size_of::<abi::TargetInfo>() as u32,
                        arch: i.arch.to_abi(),
                        build: i.build,
                        pointer_size: i.pointer_size,
                        processors: i.processors,
                        reserved: 0,
                        kernel_base: i.kernel_base,
                        version: abi::Str::new(&version),
                        dump_type: abi::Str::new(&dump_type),
                    },
                    // Moving a String does not move its bytes: `raw` stays valid.
                    _version: version,
                    _dump_type: dump_type,
                }
            });
            &h.raw as *const abi::TargetInfo
        })
    }
}

unsafe extern "C" fn cb_pool_tag(
    ctx: *mut abi::HostContext,
    tag: u32,
    out: *mut abi::TagInfo,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            if out.is_null() {
                return abi::STATUS_INVALID_ARGUMENT;
            }
            let mut tags = lock(&c.tags);
            let entry = tags.entry(tag).or_insert_with(|| {
                c.target.pool_tag(tag.to_le_bytes()).map(|t| {
                    let strings = [t.binary, t.description, t.source];
                    TagHolder {
                        raw: abi::TagInfo {
                            binary: abi::Str::new(&strings[0]),
                            description: abi::Str::new(&strings[1]),
                            source: abi::Str::new(&strings[2]),
                        },
                        _strings: strings,
                    }
                })
            });
            match entry {
                Some(h) => {
                    // SAFETY: non-null out-pointer for this call; the strings live in `tags`
                    // until the command returns.
                    out.write(h.raw);
                    abi::STATUS_OK
                }
                None => abi::STATUS_NOT_FOUND,
            }
        })
    }
}

unsafe extern "C" fn cb_log(ctx: *mut abi::HostContext, level: u32, message: abi::Str) {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, (), (), |c| {
            let text = message
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let level = LogLevel::from_abi(level);
            c.target.log(level, &text);
            lock(&c.state).logs.push((level, text));
        })
    }
}

unsafe extern "C" fn cb_is_cancelled(ctx: *mut abi::HostContext) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, 0, 0, |c| {
            let flag = c.cancel.is_some_and(|f| f.load(Ordering::Relaxed));
            u32::from(flag || c.target.is_cancelled())
        })
    }
}

/// Parses a JSON text the plugin passed; `Err` describes what is wrong with it.
///
/// # Safety
/// `json` must be valid for the current callback.
unsafe fn parse_json(json: abi::Str) -> Result<Value, String> {
    // SAFETY: forwarded.
    let bytes = unsafe { json.as_bytes() }.ok_or("a null pointer")?;
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"))?;
    serde_json::from_str(text).map_err(|e| format!("{e} in {}", excerpt(text)))
}

fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

unsafe extern "C" fn cb_emit_row(ctx: *mut abi::HostContext, json: abi::Str) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            let parsed = parse_json(json).and_then(|v| validate_row(&v).map(|()| v));
            let mut s = lock(&c.state);
            s.rows_seen += 1;
            match parsed {
                Ok(v) => {
                    s.rows.push(v);
                    abi::STATUS_OK
                }
                Err(e) => {
                    if s.bad_json.is_none() {
                        s.bad_json = Some(format!("row {}: {e}", s.rows_seen));
                    }
                    abi::STATUS_INVALID_JSON
                }
            }
        })
    }
}

unsafe extern "C" fn cb_set_summary(ctx: *mut abi::HostContext, json: abi::Str) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            let parsed = parse_json(json);
            let mut s = lock(&c.state);
            match parsed {
                Ok(v) => {
                    s.summary = Some(v);
                    abi::STATUS_OK
                }
                Err(e) => {
                    if s.bad_json.is_none() {
                        s.bad_json = Some(format!("summary: {e}"));
                    }
                    abi::STATUS_INVALID_JSON
                }
            }
        })
    }
}

/// # Safety
/// `message` must be valid for the current callback.
unsafe fn message_text(message: abi::Str) -> String {
    // SAFETY: forwarded.
    match unsafe { message.as_bytes() } {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "(a message with a null pointer)".into(),
    }
}

unsafe extern "C" fn cb_add_warning(ctx: *mut abi::HostContext, message: abi::Str) {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, (), (), |c| {
            let text = message_text(message);
            lock(&c.state).warnings.push(text);
        })
    }
}

unsafe extern "C" fn cb_set_error(ctx: *mut abi::HostContext, message: abi::Str) {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, (), (), |c| {
            let text = message_text(message);
            lock(&c.state).error = Some(text);
        })
    }
}

/// The host's table (version 1, complete).
pub static HOST_API: abi::HostApi = abi::HostApi {
    struct_size: size_of::<abi::HostApi>() as u32,
    abi_version: abi::ABI_VERSION,
    read_physical: Some(cb_read_physical),
    read_virtual: Some(cb_read_virtual),
    symbol_address: Some(cb_symbol_address),
    type_size: Some(cb_type_size),
    field_offset: Some(cb_field_offset),
    target_info: Some(cb_target_info),
    pool_tag: Some(cb_pool_tag),
    log: Some(cb_log),
    is_cancelled: Some(cb_is_cancelled),
    emit_row: Some(cb_emit_row),
    set_summary: Some(cb_set_summary),
    add_warning: Some(cb_add_warning),
    set_error: Some(cb_set_error),
};

fn status_name(status: u32) -> &'static str {
    match status {
        abi::STATUS_OK => "ok",
        abi::STATUS_ERROR => "error",
        abi::STATUS_NOT_FOUND => "not found",
        abi::STATUS_CANCELLED => "cancelled",
        abi::STATUS_INVALID_ARGUMENT => "invalid argument",
        abi::STATUS_INVALID_JSON => "invalid JSON",
        abi::STATUS_UNSUPPORTED => "unsupported",
        _ => "unknown status",
    }
}

/// Runs command number `index` of `plugin` with the raw argument string `args` against `target`.
/// `cancel`, when given, is what the plugin's `is_cancelled` reports (besides the target's own).
///
/// The command fails (its [`CommandOutcome::error`] is set) when it returns an error status, or
/// when it passed a row that is not a JSON object or text that is not JSON; rows it emitted before
/// failing are kept.
pub fn run_command(
    plugin: &LoadedPlugin,
    index: u32,
    target: &dyn Target,
    args: &str,
    cancel: Option<&AtomicBool>,
) -> CommandOutcome {
    let ctx = HostCtx {
        target,
        cancel,
        state: Mutex::new(State::default()),
        info: OnceLock::new(),
        tags: Mutex::new(HashMap::new()),
    };
    let ctx_ptr = &ctx as *const HostCtx<'_> as *mut abi::HostContext;
    // SAFETY: calling the plugin's run with the host table, a context valid for the whole call
    // (callbacks only make shared references to it) and an argument string that outlives it.
    let status = unsafe { (plugin.run)(&HOST_API, ctx_ptr, index, abi::Str::new(args)) };
    let state = ctx.state.into_inner().unwrap_or_else(|p| p.into_inner());
    let name = plugin
        .commands
        .get(index as usize)
        .map_or("?", |c| c.name.as_str());
    let error = if let Some(bad) = state.bad_json {
        Some(format!(
            "plugin {} (!{name}) emitted invalid JSON: {bad}",
            plugin.name
        ))
    } else if status == abi::STATUS_OK {
        None
    } else if status == abi::STATUS_CANCELLED {
        Some(state.error.unwrap_or_else(|| "cancelled".into()))
    } else {
        Some(match state.error {
            Some(e) => e,
            None => format!(
                "plugin {} (!{name}) failed with status {status} ({}) and no message",
                plugin.name,
                status_name(status)
            ),
        })
    };
    CommandOutcome {
        rows: state.rows,
        summary: state.summary,
        warnings: state.warnings,
        logs: state.logs,
        error,
    }
}
