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
use plugin_sdk::{ImageSearchError, LogLevel, Read, Target, validate_row};
use serde_json::Value;

use crate::loader::LoadedPlugin;
use crate::outcome::Sink;

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
    /// Lines of the command's own text layout it sent with `emit_text`, when no sink took them.
    pub text: Option<Vec<String>>,
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
struct State<'a> {
    /// Where rows and lines go as they come; `None`: kept in `rows` and `text`.
    sink: Option<&'a mut dyn Sink>,
    /// Writing to the sink failed (the output was closed): the command is told to stop.
    closed: bool,
    text: Option<Vec<String>>,
    rows: Vec<Value>,
    summary: Option<Value>,
    warnings: Vec<String>,
    logs: Vec<(LogLevel, String)>,
    error: Option<String>,
    /// The first bad JSON text the plugin passed, described.
    bad_json: Option<String>,
    /// The first warning that was not UTF-8, described (refused as a row that is not UTF-8 is).
    bad_warning: Option<String>,
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

/// An image search's answer with the strings its entries point into.
struct ImagesHolder {
    raw: Vec<abi::ImageHit>,
    _names: Vec<String>,
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
// SAFETY: as above.
unsafe impl Send for ImagesHolder {}
// SAFETY: as above.
unsafe impl Sync for ImagesHolder {}

/// The context behind `*mut HostContext` while one command runs.
struct HostCtx<'a> {
    target: &'a dyn Target,
    cancel: Option<&'a AtomicBool>,
    state: Mutex<State<'a>>,
    info: OnceLock<InfoHolder>,
    tags: Mutex<HashMap<u32, Option<TagHolder>>>,
    /// Image searches by tag: the answer, or the error status. Boxed so that an answer's array
    /// stays where it is while the map grows.
    images: Mutex<HashMap<u32, Result<Box<ImagesHolder>, u32>>>,
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
            u32::from(flag || c.target.is_cancelled() || lock(&c.state).closed)
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
                Ok(v) => match s.sink.as_mut() {
                    Some(sink) => {
                        if sink.row(v).is_err() {
                            s.closed = true;
                            return abi::STATUS_CANCELLED;
                        }
                        abi::STATUS_OK
                    }
                    None => {
                        s.rows.push(v);
                        abi::STATUS_OK
                    }
                },
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
            let mut s = lock(&c.state);
            match message.as_bytes().map(std::str::from_utf8) {
                Some(Ok(text)) => s.warnings.push(text.to_string()),
                Some(Err(e)) => {
                    if s.bad_warning.is_none() {
                        s.bad_warning =
                            Some(format!("warning {}: not UTF-8 ({e})", s.warnings.len() + 1));
                    }
                }
                None => s
                    .warnings
                    .push("(a warning with a null pointer)".to_string()),
            }
        })
    }
}

unsafe extern "C" fn cb_emit_text(ctx: *mut abi::HostContext, line: abi::Str) {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, (), (), |c| {
            let text = message_text(line);
            let mut s = lock(&c.state);
            match s.sink.as_mut() {
                Some(sink) => {
                    if sink.line(text).is_err() {
                        s.closed = true;
                    }
                }
                None => s.text.get_or_insert_with(Vec::new).push(text),
            }
        })
    }
}

/// `text` as a JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD.
pub fn json_string_literal(text: &[u8]) -> String {
    Value::String(String::from_utf8_lossy(text).into_owned()).to_string()
}

unsafe extern "C" fn cb_json_string(text: abi::Str, out: *mut u8, capacity: usize) -> usize {
    // SAFETY: the plugin passes a string valid for this call (abi::Str's contract).
    let Some(bytes) = (unsafe { text.as_bytes() }) else {
        return 0;
    };
    let literal = json_string_literal(bytes);
    if literal.len() <= capacity && !out.is_null() {
        // SAFETY: the plugin gave `capacity` writable bytes at `out`; we write `literal.len()`,
        // at most that.
        unsafe { std::ptr::copy_nonoverlapping(literal.as_ptr(), out, literal.len()) };
    }
    literal.len()
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

unsafe extern "C" fn cb_progress(
    ctx: *mut abi::HostContext,
    done: u64,
    total: u64,
    label: abi::Str,
) {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, (), (), |c| {
            let label = plugin_str(label).unwrap_or("");
            c.target.progress(done, total, label);
        })
    }
}

unsafe extern "C" fn cb_find_tag_in_images(
    ctx: *mut abi::HostContext,
    tag: u32,
    hits: *mut *const abi::ImageHit,
    count: *mut usize,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            if hits.is_null() || count.is_null() {
                return abi::STATUS_INVALID_ARGUMENT;
            }
            // Searched once per tag and command: the answer stays in the context until `run`
            // returns, as the ABI promises. (The lock is held during a search: a second thread
            // asking for the same tag waits for it rather than searching again.)
            let mut images = lock(&c.images);
            let entry = images.entry(tag).or_insert_with(|| {
                match c.target.find_tag_in_images(tag.to_le_bytes()) {
                    Ok(found) => {
                        let names: Vec<String> = found.iter().map(|h| h.module.clone()).collect();
                        let raw = names
                            .iter()
                            .zip(&found)
                            .map(|(n, h)| abi::ImageHit {
                                module: abi::Str::new(n),
                                hits: h.hits,
                            })
                            .collect();
                        Ok(Box::new(ImagesHolder { raw, _names: names }))
                    }
                    Err(ImageSearchError::Cancelled) => Err(abi::STATUS_CANCELLED),
                    Err(e) => Err(e.to_abi()),
                }
            });
            match entry {
                Ok(h) => {
                    // SAFETY: non-null out-pointers for this call; the array and its strings live
                    // in `images` until the command returns.
                    hits.write(if h.raw.is_empty() {
                        std::ptr::null()
                    } else {
                        h.raw.as_ptr()
                    });
                    count.write(h.raw.len());
                    abi::STATUS_OK
                }
                Err(status) => *status,
            }
        })
    }
}

unsafe extern "C" fn cb_present_pages(
    ctx: *mut abi::HostContext,
    start: u64,
    end: u64,
    runs: *mut abi::PageRun,
    capacity: usize,
    count: *mut usize,
    counts: *mut abi::PageCounts,
    next: *mut u64,
) -> u32 {
    // SAFETY: forwarded from the plugin.
    unsafe {
        with_ctx(ctx, abi::STATUS_INVALID_ARGUMENT, abi::STATUS_ERROR, |c| {
            if runs.is_null()
                || capacity == 0
                || count.is_null()
                || counts.is_null()
                || next.is_null()
            {
                return abi::STATUS_INVALID_ARGUMENT;
            }
            if c.target.is_cancelled() {
                return abi::STATUS_CANCELLED;
            }
            let Some(found) = c.target.present_pages(start, end, capacity) else {
                return abi::STATUS_UNSUPPORTED;
            };
            let n = found.runs.len().min(capacity);
            for (i, &(va, len)) in found.runs.iter().take(n).enumerate() {
                // SAFETY: the plugin's buffer holds `capacity` runs (ABI) and i < capacity.
                runs.add(i).write(abi::PageRun { va, len });
            }
            // SAFETY: non-null out-pointers for this call.
            count.write(n);
            counts.write(found.counts);
            next.write(if n < found.runs.len() {
                found.runs[n].0
            } else {
                found.next
            });
            abi::STATUS_OK
        })
    }
}

/// The host's table (complete: the first version's entries and those appended since).
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
    progress: Some(cb_progress),
    find_tag_in_images: Some(cb_find_tag_in_images),
    emit_text: Some(cb_emit_text),
    json_string: Some(cb_json_string),
    present_pages: Some(cb_present_pages),
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
    run_command_into(plugin, index, target, args, cancel, None)
}

/// [`run_command`], handing each row and text line to `sink` as the plugin emits it (the
/// outcome's `rows` and `text` then stay empty). A sink whose writes fail (the output was closed)
/// makes `is_cancelled` report true, so the plugin stops.
pub fn run_command_into<'a>(
    plugin: &LoadedPlugin,
    index: u32,
    target: &'a dyn Target,
    args: &str,
    cancel: Option<&'a AtomicBool>,
    sink: Option<&'a mut dyn Sink>,
) -> CommandOutcome {
    let ctx = HostCtx::new(target, cancel);
    lock(&ctx.state).sink = sink;
    let name = plugin
        .commands
        .get(index as usize)
        .map_or("?", |c| c.name.as_str());
    // A crash inside the plugin names it and the command before the process ends.
    let guard = crate::crashguard::enter(&plugin.name, &plugin.path, name);
    // SAFETY: calling the plugin's run with the host table, a context valid for the whole call
    // (callbacks only make shared references to it) and an argument string that outlives it.
    let status = unsafe { (plugin.run)(&HOST_API, ctx.as_raw(), index, abi::Str::new(args)) };
    drop(guard);
    ctx.finish(status, &format!("plugin {} (!{name})", plugin.name))
}

/// Runs `f` with a [`Target`] whose every call goes through the host's C function table to
/// `target`, exactly as a plugin's calls do, but without loading a library: for tests and
/// benchmarks of the table itself. The outcome holds what `f` logged.
pub fn loopback<R>(
    target: &dyn Target,
    cancel: Option<&AtomicBool>,
    f: impl FnOnce(&dyn Target) -> R,
) -> (R, CommandOutcome) {
    let ctx = HostCtx::new(target, cancel);
    // SAFETY: the host's own table and a context that outlives the HostTarget (dropped below).
    let result = match unsafe { plugin_sdk::HostTarget::new(&HOST_API, ctx.as_raw()) } {
        Some(t) => f(&t),
        // HOST_API is never null and its struct_size is complete.
        None => f(target),
    };
    (result, ctx.finish(abi::STATUS_OK, "loopback"))
}

impl<'a> HostCtx<'a> {
    fn new(target: &'a dyn Target, cancel: Option<&'a AtomicBool>) -> Self {
        HostCtx {
            target,
            cancel,
            state: Mutex::new(State::default()),
            info: OnceLock::new(),
            tags: Mutex::new(HashMap::new()),
            images: Mutex::new(HashMap::new()),
        }
    }

    fn as_raw(&self) -> *mut abi::HostContext {
        self as *const HostCtx<'_> as *mut abi::HostContext
    }

    /// The outcome, given the status `run` returned; `who` names the command in messages.
    fn finish(self, status: u32, who: &str) -> CommandOutcome {
        let state = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let error = if let Some(bad) = state.bad_json {
            Some(format!("{who} emitted invalid JSON: {bad}"))
        } else if let Some(bad) = state.bad_warning {
            Some(format!("{who} emitted an invalid warning: {bad}"))
        } else if status == abi::STATUS_OK {
            None
        } else if status == abi::STATUS_CANCELLED {
            Some(state.error.unwrap_or_else(|| "cancelled".into()))
        } else {
            Some(match state.error {
                Some(e) => e,
                None => format!(
                    "{who} failed with status {status} ({}) and no message",
                    status_name(status)
                ),
            })
        };
        CommandOutcome {
            rows: state.rows,
            summary: state.summary,
            warnings: state.warnings,
            logs: state.logs,
            text: state.text,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{
        Arch, BitRange, MemoryTarget, ReadStatus, Source, TargetExt, TargetInfo, abi::HostApi,
    };

    fn target() -> MemoryTarget {
        MemoryTarget::new(TargetInfo {
            arch: Arch::X86Pae,
            build: 2600,
            version: "5.1.2600".into(),
            dump_type: "bitmap kernel".into(),
            processors: 2,
            kernel_base: 0x804d7000,
            pointer_size: 4,
        })
        .with_virtual(0x804d7000, b"MZ")
        .with_virtual_status(
            0x80600000,
            ReadStatus::PagedOut {
                pagefile: 3,
                offset: 0xabc000,
            },
        )
        .with_virtual_status(0x80700000, ReadStatus::NotInDump)
        .with_physical(0x1000, &[7; 16])
        .with_symbol("MmPagedPoolEnd", 0x80500000, Source::Kdbg)
        .with_symbol("ExPoolState", 0x80510000, Source::Found)
        .with_type_size("_POOL_HEADER", 8, Source::EmbeddedProfile)
        .with_field(
            "_POOL_HEADER",
            "BlockSize",
            2,
            Some(BitRange {
                position: 0,
                length: 9,
            }),
            Source::Guessed,
        )
        .with_tag(*b"Ntfx", "ntfs.sys", "General Allocation")
    }

    #[test]
    fn the_table_is_complete() {
        assert_eq!(HOST_API.struct_size as usize, size_of::<HostApi>());
        assert_eq!(HOST_API.abi_version, abi::ABI_VERSION);
    }

    #[test]
    fn reads_keep_their_status_through_the_table() {
        let t = target();
        let ((), outcome) = loopback(&t, None, |ht| {
            assert_eq!(ht.read_u32(0x804d7000).unwrap() & 0xffff, 0x5a4d);
            let e = ht.read_u32(0x80600004).unwrap_err();
            assert_eq!(
                e.status,
                ReadStatus::PagedOut {
                    pagefile: 3,
                    offset: 0xabc000
                }
            );
            assert_eq!(e.fault_address, 0x80600004);
            assert_eq!(
                ht.read_u64(0x80700000).unwrap_err().status,
                ReadStatus::NotInDump
            );
            assert_eq!(
                ht.read_u32(0x1234_0000).unwrap_err().status,
                ReadStatus::NotMapped
            );
            // A batch straddling a readable and an unreadable page: partial count and fault.
            let (mut a, mut b, mut z) = ([0u8; 4], [0u8; 0x1010], [0u8; 0]);
            let mut reads = [
                Read::new(0x1000, &mut a),
                Read::new(0x804d7ff8, &mut b),
                Read::new(0, &mut z),
            ];
            ht.read_physical(&mut reads[..1]);
            ht.read_virtual(&mut reads[1..]);
            assert!(reads[0].is_ok());
            assert_eq!(reads[1].bytes_read, 8);
            assert_eq!(reads[1].status, ReadStatus::NotMapped);
            assert_eq!(reads[1].fault_address, 0x804d8000);
            assert!(reads[2].is_ok(), "an empty read succeeds");
            assert_eq!(a, [7; 4]);
        });
        assert!(outcome.is_ok());
    }

    #[test]
    fn lookups_keep_their_source_through_the_table() {
        let t = target();
        let ((), _) = loopback(&t, None, |ht| {
            let s = ht.symbol_address("nt!MmPagedPoolEnd").unwrap();
            assert_eq!((s.value, s.source), (0x80500000, Source::Kdbg));
            // Found without symbols keeps its own code (SOURCE_FOUND), not "guessed".
            let s = ht.symbol_address("nt!ExPoolState").unwrap();
            assert_eq!((s.value, s.source), (0x80510000, Source::Found));
            assert_eq!(s.source.name(), "found without symbols");
            assert!(ht.symbol_address("Nope").is_none());
            let s = ht.type_size("_POOL_HEADER").unwrap();
            assert_eq!((s.value, s.source), (8, Source::EmbeddedProfile));
            let f = ht.field_offset("_POOL_HEADER", "BlockSize").unwrap();
            assert_eq!(f.offset, 2);
            assert_eq!(
                f.bits,
                Some(BitRange {
                    position: 0,
                    length: 9
                })
            );
            assert_eq!(f.source, Source::Guessed);
            assert!(ht.field_offset("_POOL_HEADER", "Nope").is_none());
            let tag = ht.pool_tag(*b"Ntfx").unwrap();
            assert_eq!(tag.binary, "ntfs.sys");
            assert_eq!(tag.description, "General Allocation");
            assert_eq!(tag.source, "memory target");
            // Asked twice: the same (cached) answer.
            assert_eq!(ht.pool_tag(*b"Ntfx").unwrap(), tag);
            assert!(ht.pool_tag(*b"Zzzz").is_none());
            assert_eq!(ht.info(), t.info());
        });
    }

    #[test]
    fn log_and_cancel_go_both_ways() {
        let t = target();
        let cancel = AtomicBool::new(false);
        let (seen, outcome) = loopback(&t, Some(&cancel), |ht| {
            ht.log(LogLevel::Info, "hello");
            let before = ht.is_cancelled();
            cancel.store(true, Ordering::Relaxed);
            (before, ht.is_cancelled())
        });
        assert_eq!(seen, (false, true));
        assert_eq!(outcome.logs, vec![(LogLevel::Info, "hello".to_string())]);
        assert_eq!(t.logs(), outcome.logs, "the host target sees the log too");
        // The target's own cancellation counts as well.
        t.cancel();
        let (c, _) = loopback(&t, None, |ht| ht.is_cancelled());
        assert!(c);
    }

    #[test]
    fn rows_and_summaries_are_checked_json() {
        let t = target();
        let ctx = HostCtx::new(&t, None);
        let raw = ctx.as_raw();
        // SAFETY: the host's own callbacks with the context they expect.
        unsafe {
            assert_eq!(
                cb_emit_row(raw, abi::Str::new(r#"{"a": 1}"#)),
                abi::STATUS_OK
            );
            assert_eq!(
                cb_emit_row(raw, abi::Str::new("42")),
                abi::STATUS_INVALID_JSON
            );
            assert_eq!(
                cb_set_summary(raw, abi::Str::new(r#"{"total": 2}"#)),
                abi::STATUS_OK
            );
            assert_eq!(
                cb_set_summary(raw, abi::Str::new("{")),
                abi::STATUS_INVALID_JSON
            );
            cb_add_warning(raw, abi::Str::new("careful"));
            let bad = abi::Str {
                ptr: std::ptr::null(),
                len: 3,
            };
            assert_eq!(cb_emit_row(raw, bad), abi::STATUS_INVALID_JSON);
            assert_eq!(
                cb_emit_row(std::ptr::null_mut(), abi::Str::EMPTY),
                abi::STATUS_INVALID_ARGUMENT
            );
        }
        let outcome = ctx.finish(abi::STATUS_OK, "test");
        assert_eq!(outcome.rows, vec![serde_json::json!({"a": 1})]);
        assert_eq!(outcome.summary, Some(serde_json::json!({"total": 2})));
        assert_eq!(outcome.warnings, vec!["careful"]);
        assert_eq!(
            outcome.error.as_deref(),
            Some("test emitted invalid JSON: row 2: a row must be a JSON object, not a number")
        );
    }

    #[test]
    fn progress_and_image_search_go_through_the_table() {
        let t = target()
            .with_tag_in_images(*b"Mine", &[("mine.sys", 2), ("other.sys", 1)])
            .with_tag_in_images(*b"Zzzy", &[]);
        let ((), _) = loopback(&t, None, |ht| {
            ht.progress(3, 9, "scanning");
            let hits = ht.find_tag_in_images(*b"Mine").unwrap();
            let got: Vec<(&str, u64)> = hits.iter().map(|h| (h.module.as_str(), h.hits)).collect();
            assert_eq!(got, [("mine.sys", 2), ("other.sys", 1)]);
            // Asked again: the cached answer, the same.
            assert_eq!(ht.find_tag_in_images(*b"Mine").unwrap(), hits);
            assert_eq!(ht.find_tag_in_images(*b"Zzzy").unwrap(), vec![]);
            assert_eq!(
                ht.find_tag_in_images(*b"Ab\0d"),
                Err(ImageSearchError::Unsearchable)
            );
        });
        let p = t.progress_reports();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].done, p[0].total, p[0].label.as_str()),
            (3, 9, "scanning")
        );
        // A target without the search says so through the table too.
        let ((), _) = loopback(&target(), None, |ht| {
            assert_eq!(
                ht.find_tag_in_images(*b"Mine"),
                Err(ImageSearchError::NotProvided)
            );
        });
        // Null out-pointers are refused.
        let ctx = HostCtx::new(&t, None);
        // SAFETY: the host's own callback with its context; the null pointers are the test.
        let status = unsafe {
            cb_find_tag_in_images(
                ctx.as_raw(),
                u32::from_le_bytes(*b"Mine"),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(status, abi::STATUS_INVALID_ARGUMENT);
    }

    /// A host Target that panics must not unwind into the plugin.
    struct Panicky;
    impl Target for Panicky {
        fn read_virtual(&self, _: &mut [Read<'_>]) {
            panic!("host bug")
        }
        fn read_physical(&self, _: &mut [Read<'_>]) {}
        fn symbol_address(&self, _: &str) -> Option<plugin_sdk::Sourced<u64>> {
            panic!("host bug")
        }
        fn type_size(&self, _: &str) -> Option<plugin_sdk::Sourced<u64>> {
            None
        }
        fn field_offset(&self, _: &str, _: &str) -> Option<plugin_sdk::FieldOffset> {
            None
        }
        fn info(&self) -> TargetInfo {
            TargetInfo::default()
        }
        fn pool_tag(&self, _: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
            None
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn is_cancelled(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_panic_in_the_host_target_is_an_error_status() {
        let ((), _) = loopback(&Panicky, None, |ht| {
            assert_eq!(ht.read_u32(0).unwrap_err().status, ReadStatus::Error);
            assert!(ht.symbol_address("x").is_none());
        });
    }

    #[test]
    fn json_string_escapes_as_json_requires_and_reports_the_size_first() {
        let f = HOST_API.json_string.unwrap();
        let text = "a\"b\\c\n\u{1}é";
        // SAFETY: the string outlives the calls; a null buffer with capacity 0 is not written.
        let need = unsafe { f(abi::Str::new(text), std::ptr::null_mut(), 0) };
        let want = serde_json::to_string(text).unwrap();
        assert_eq!(need, want.len());
        assert_eq!(want, "\"a\\\"b\\\\c\\n\\u0001é\"");
        let mut small = vec![b'#'; need - 1];
        // SAFETY: `small` has `small.len()` writable bytes.
        let got = unsafe { f(abi::Str::new(text), small.as_mut_ptr(), small.len()) };
        assert_eq!(got, need);
        assert!(small.iter().all(|&b| b == b'#'), "written though too small");
        let mut buf = vec![0u8; need + 4];
        // SAFETY: as above.
        let got = unsafe { f(abi::Str::new(text), buf.as_mut_ptr(), buf.len()) };
        assert_eq!(&buf[..got], want.as_bytes());
        // Not UTF-8: U+FFFD, so the row stays valid.
        let bad = [b'x', 0xff];
        let s = abi::Str {
            ptr: bad.as_ptr(),
            len: bad.len(),
        };
        // SAFETY: as above.
        let got = unsafe { f(s, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(&buf[..got], "\"x\u{fffd}\"".as_bytes());
        // A null pointer with a length: 0, nothing written.
        let null = abi::Str {
            ptr: std::ptr::null(),
            len: 3,
        };
        // SAFETY: the callee checks the null pointer.
        assert_eq!(unsafe { f(null, buf.as_mut_ptr(), buf.len()) }, 0);
    }

    #[test]
    fn a_warning_that_is_not_utf8_fails_the_command_and_earlier_warnings_stay() {
        let t = target();
        let ctx = HostCtx::new(&t, None);
        let add = HOST_API.add_warning.unwrap();
        let bad = [b'o', b'k', 0xc3];
        // SAFETY: a live context and strings valid for each call.
        unsafe {
            add(ctx.as_raw(), abi::Str::new("first"));
            add(
                ctx.as_raw(),
                abi::Str {
                    ptr: bad.as_ptr(),
                    len: bad.len(),
                },
            );
        }
        let out = ctx.finish(abi::STATUS_OK, "plugin p (!c)");
        assert_eq!(out.warnings, vec!["first".to_string()]);
        let e = out.error.unwrap();
        assert!(
            e.starts_with("plugin p (!c) emitted an invalid warning: warning 2: not UTF-8"),
            "{e}"
        );
    }
}
