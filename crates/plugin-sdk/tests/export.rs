//! `export_plugin!` seen from the C side, in-process: the descriptor it exports, and its run shim
//! called through a minimal host table written here (the real host's table is tested in
//! crates/host).
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use pooldbg_plugin_sdk::abi;
use pooldbg_plugin_sdk::{Command, CommandError, Output, Target, TargetExt, export_plugin, hex};
use serde_json::json;

struct Peek;
impl Command for Peek {
    fn name(&self) -> &'static str {
        "peek"
    }
    fn summary(&self) -> &'static str {
        "read a u32"
    }
    fn usage(&self) -> &'static str {
        "!peek ADDR"
    }
    fn run(&self, t: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        let addr = u64::from_str_radix(args.trim().trim_start_matches("0x"), 16)
            .map_err(|e| CommandError::Usage(format!("!peek ADDR ({e})")))?;
        let v = t.read_u32(addr)?;
        out.row(json!({"address": hex(addr), "value": v}));
        out.warn("just a test");
        Ok(())
    }
}

struct Boom;
impl Command for Boom {
    fn name(&self) -> &'static str {
        "boom"
    }
    fn summary(&self) -> &'static str {
        "panics"
    }
    fn usage(&self) -> &'static str {
        "!boom"
    }
    fn run(&self, _: &dyn Target, _: &str, _: &mut Output) -> Result<(), CommandError> {
        panic!("kaboom {}", 42);
    }
}

/// Uses the two entries appended after the first version: progress, and the image search.
struct Probe;
impl Command for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn summary(&self) -> &'static str {
        "reports progress and searches images for a tag"
    }
    fn usage(&self) -> &'static str {
        "!probe TAG"
    }
    fn run(&self, t: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        let tag: [u8; 4] = args
            .as_bytes()
            .try_into()
            .map_err(|_| CommandError::Usage("TAG".into()))?;
        t.progress(1, 2, "probing");
        let answer = match t.find_tag_in_images(tag) {
            Ok(hits) => hits
                .iter()
                .map(|h| format!("{}:{}", h.module, h.hits))
                .collect::<Vec<_>>()
                .join(","),
            Err(e) => format!("error: {e}"),
        };
        out.row(json!({ "answer": answer }));
        Ok(())
    }
}

/// Emits a row, then says how many rows the host had seen by then (1 when rows stream, 0 when
/// they are handed over at the end), and two text lines.
struct Stream;

impl Command for Stream {
    fn name(&self) -> &'static str {
        "stream"
    }
    fn summary(&self) -> &'static str {
        "streams"
    }
    fn usage(&self) -> &'static str {
        "!stream"
    }
    fn run(&self, _: &dyn Target, _: &str, out: &mut Output) -> Result<(), CommandError> {
        out.row(json!({ "n": 1 }));
        out.line("first line");
        let seen = SEEN
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |s| s.rows.len() + s.lines.len());
        out.row(json!({ "seen_before": seen }));
        out.line("second line");
        out.set_summary(json!({ "total": 2 }));
        Ok(())
    }
}

export_plugin!(name: "test", version: "9.9.9", commands: [Peek, Boom, Probe, Stream]);

/// What the mock host saw.
#[derive(Default, Debug)]
struct Seen {
    rows: Vec<String>,
    lines: Vec<String>,
    summary: Option<String>,
    warnings: Vec<String>,
    error: Option<String>,
    progress: Vec<(u64, u64, String)>,
}

static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

fn text(s: abi::Str) -> String {
    // SAFETY: the plugin passes strings valid for the call.
    unsafe { s.as_str() }.unwrap().to_owned()
}

unsafe extern "C" fn read_virtual(
    _: *mut abi::HostContext,
    reqs: *mut abi::ReadRequest,
    n: usize,
) -> u32 {
    // SAFETY: the plugin passes `n` requests.
    let reqs = unsafe { std::slice::from_raw_parts_mut(reqs, n) };
    for r in reqs {
        if r.address == 0x1000 {
            // SAFETY: the request's buffer has `length` bytes.
            let buf = unsafe { std::slice::from_raw_parts_mut(r.buffer, r.length) };
            buf.fill(0x11);
            r.bytes_read = r.length;
            r.status = abi::READ_OK;
        } else {
            r.status = abi::READ_PAGED_OUT;
            r.pagefile_number = 1;
            r.pagefile_offset = 0x2000;
            r.fault_address = r.address;
        }
    }
    abi::STATUS_OK
}
unsafe extern "C" fn emit_row(_: *mut abi::HostContext, json: abi::Str) -> u32 {
    SEEN.lock()
        .unwrap()
        .get_or_insert_default()
        .rows
        .push(text(json));
    abi::STATUS_OK
}
unsafe extern "C" fn add_warning(_: *mut abi::HostContext, m: abi::Str) {
    SEEN.lock()
        .unwrap()
        .get_or_insert_default()
        .warnings
        .push(text(m));
}
unsafe extern "C" fn progress(_: *mut abi::HostContext, done: u64, total: u64, label: abi::Str) {
    SEEN.lock()
        .unwrap()
        .get_or_insert_default()
        .progress
        .push((done, total, text(label)));
}
struct Hits([abi::ImageHit; 2]);
// SAFETY: the entries point to string literals, immutable and 'static.
unsafe impl Sync for Hits {}
static HITS: Hits = Hits([
    abi::ImageHit {
        module: abi::Str::new("a.sys"),
        hits: 3,
    },
    abi::ImageHit {
        module: abi::Str::new("b.sys"),
        hits: 1,
    },
]);
unsafe extern "C" fn find_tag_in_images(
    _: *mut abi::HostContext,
    tag: u32,
    hits: *mut *const abi::ImageHit,
    count: *mut usize,
) -> u32 {
    match &tag.to_le_bytes() {
        b"Abcd" => {
            // SAFETY: the plugin passes two valid out-pointers.
            unsafe {
                hits.write(HITS.0.as_ptr());
                count.write(HITS.0.len());
            }
            abi::STATUS_OK
        }
        b"Zzzy" => {
            // SAFETY: as above; no hits, and no array.
            unsafe {
                hits.write(std::ptr::null());
                count.write(0);
            }
            abi::STATUS_OK
        }
        b"Nomo" => abi::STATUS_NOT_FOUND,
        _ => abi::STATUS_INVALID_ARGUMENT,
    }
}
unsafe extern "C" fn emit_text(_: *mut abi::HostContext, m: abi::Str) {
    SEEN.lock()
        .unwrap()
        .get_or_insert_default()
        .lines
        .push(text(m));
}
unsafe extern "C" fn set_summary(_: *mut abi::HostContext, m: abi::Str) -> u32 {
    SEEN.lock().unwrap().get_or_insert_default().summary = Some(text(m));
    abi::STATUS_OK
}
unsafe extern "C" fn set_error(_: *mut abi::HostContext, m: abi::Str) {
    SEEN.lock().unwrap().get_or_insert_default().error = Some(text(m));
}

/// A host table of the first version, cut short after `emit_row`... unless `full`.
fn host(full: bool) -> abi::HostApi {
    abi::HostApi {
        struct_size: if full {
            size_of::<abi::HostApi>() as u32
        } else {
            std::mem::offset_of!(abi::HostApi, set_summary) as u32
        },
        abi_version: abi::ABI_VERSION,
        read_physical: None,
        read_virtual: Some(read_virtual),
        symbol_address: None,
        type_size: None,
        field_offset: None,
        target_info: None,
        pool_tag: None,
        log: None,
        is_cancelled: None,
        emit_row: Some(emit_row),
        set_summary: if full { Some(set_summary) } else { None },
        add_warning: Some(add_warning),
        set_error: Some(set_error),
        progress: Some(progress),
        find_tag_in_images: Some(find_tag_in_images),
        emit_text: Some(emit_text),
        json_string: None,
        present_pages: None,
    }
}

fn call(host: &abi::HostApi, command: u32, args: &str) -> (u32, Seen) {
    let d = pooldbg_plugin_v1();
    // SAFETY: the entry point returns a descriptor valid for the program's life.
    let run = unsafe { (*d).run }.unwrap();
    *SEEN.lock().unwrap() = Some(Seen::default());
    // SAFETY: a valid table and a null context (the mock ignores it).
    let status = unsafe { run(host, std::ptr::null_mut(), command, abi::Str::new(args)) };
    (status, SEEN.lock().unwrap().take().unwrap())
}

#[test]
fn one_test_for_the_shared_static_state() {
    // The descriptor.
    let d = pooldbg_plugin_v1();
    assert!(!d.is_null());
    // SAFETY: checked non-null; valid while the program runs.
    let d = unsafe { &*d };
    assert_eq!(d.abi_version, abi::ABI_VERSION);
    assert_eq!(d.struct_size as usize, size_of::<abi::PluginDescriptor>());
    assert_eq!(d.command_count, 4);
    assert_eq!(text(d.name), "test");
    assert_eq!(text(d.version), "9.9.9");
    // SAFETY: command_count entries.
    let cmds = unsafe { std::slice::from_raw_parts(d.commands, 2) };
    assert_eq!(text(cmds[0].name), "peek");
    assert_eq!(text(cmds[1].usage), "!boom");
    // Called twice, the same descriptor.
    assert_eq!(pooldbg_plugin_v1(), d as *const _);

    let full = host(true);
    let (status, seen) = call(&full, 0, "1000");
    assert_eq!(status, abi::STATUS_OK, "{seen:?}");
    assert_eq!(seen.rows, vec![r#"{"address":"0x1000","value":286331153}"#]);
    assert_eq!(seen.warnings, vec!["just a test"]);

    // A failed read says why, with the page file.
    let (status, seen) = call(&full, 0, "2000");
    assert_eq!(status, abi::STATUS_ERROR);
    assert_eq!(
        seen.error.as_deref(),
        Some("cannot read 0x4 bytes at 0x2000: paged out (page file 1, offset 0x2000) at 0x2000")
    );

    // Bad arguments.
    let (status, seen) = call(&full, 0, "zz");
    assert_eq!(status, abi::STATUS_INVALID_ARGUMENT);
    assert!(seen.error.unwrap().starts_with("usage: !peek ADDR"));

    // A panic is an error with its message and location, and the next call works.
    let (status, seen) = call(&full, 1, "");
    assert_eq!(status, abi::STATUS_ERROR);
    let err = seen.error.unwrap();
    assert!(err.starts_with("plugin panicked at "), "{err}");
    assert!(err.contains("export.rs:"), "{err}");
    assert!(err.ends_with(": kaboom 42"), "{err}");
    let (status, _) = call(&full, 0, "1000");
    assert_eq!(status, abi::STATUS_OK);

    // An unknown command number.
    let (status, seen) = call(&full, 7, "");
    assert_eq!(status, abi::STATUS_INVALID_ARGUMENT);
    assert!(seen.error.unwrap().contains("no command number 7"));

    // A short table: entries past struct_size are not called (set_error is past the cut, so
    // the error text is lost, but nothing crashes and the status still says error).
    let short = host(false);
    let (status, seen) = call(&short, 0, "2000");
    assert_eq!(status, abi::STATUS_ERROR);
    assert_eq!(seen.error, None);
    assert!(seen.warnings.is_empty());

    // The appended entries: progress arrives, image hits are copied out, statuses map to errors.
    let probe = |host: &abi::HostApi, tag: &str| {
        let (status, seen) = call(host, 2, tag);
        assert_eq!(status, abi::STATUS_OK, "{seen:?}");
        let row: serde_json::Value = serde_json::from_str(&seen.rows[0]).unwrap();
        (row["answer"].as_str().unwrap().to_string(), seen.progress)
    };
    let (answer, progress) = probe(&full, "Abcd");
    assert_eq!(answer, "a.sys:3,b.sys:1");
    assert_eq!(progress, vec![(1, 2, "probing".to_string())]);
    assert_eq!(probe(&full, "Zzzy").0, "");
    assert_eq!(
        probe(&full, "Nomo").0,
        "error: the loaded-module list could not be read"
    );
    assert!(
        probe(&full, "AAAA")
            .0
            .contains("zero byte or one repeated byte")
    );
    // A host of the first version (struct_size stops before them): neither entry is called even
    // though the pointers are set.
    let mut v1 = host(true);
    v1.struct_size = abi::HOST_API_V1_SIZE;
    let (answer, progress) = probe(&v1, "Abcd");
    assert_eq!(answer, "error: the host does not search driver images");
    assert!(progress.is_empty());

    // A host with emit_text gets rows and lines as they are made; the output keeps nothing.
    let (status, seen) = call(&full, 3, "");
    assert_eq!(status, abi::STATUS_OK, "{seen:?}");
    assert_eq!(seen.rows, vec![r#"{"n":1}"#, r#"{"seen_before":2}"#]);
    assert_eq!(seen.lines, vec!["first line", "second line"]);
    assert_eq!(seen.summary.as_deref(), Some(r#"{"total":2}"#));
    // A host without it (struct_size ends before emit_text) gets them at the end, the lines in
    // summary.text as the older convention has it.
    let mut older = host(true);
    older.struct_size = std::mem::offset_of!(abi::HostApi, emit_text) as u32;
    let (status, seen) = call(&older, 3, "");
    assert_eq!(status, abi::STATUS_OK, "{seen:?}");
    assert_eq!(seen.rows, vec![r#"{"n":1}"#, r#"{"seen_before":0}"#]);
    assert!(seen.lines.is_empty());
    assert_eq!(
        seen.summary.as_deref(),
        Some(r#"{"text":["first line","second line"],"total":2}"#)
    );

    // A null table is refused.
    let d = pooldbg_plugin_v1();
    // SAFETY: as above.
    let run = unsafe { (*d).run }.unwrap();
    // SAFETY: a null table is what is being tested; run checks it.
    let status = unsafe { run(std::ptr::null(), std::ptr::null_mut(), 0, abi::Str::EMPTY) };
    assert_eq!(status, abi::STATUS_INVALID_ARGUMENT);
}
