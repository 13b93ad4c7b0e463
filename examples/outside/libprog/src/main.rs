//! `pooldbg-libprog DUMP ADDRESS`: open a crash dump with pooldbg's library, list the kernel's
//! modules, and walk the pool page holding ADDRESS (what `!pool ADDRESS` prints), as one JSON
//! object on stdout:
//!
//! `{"target": {...}, "notes": [...], "modules": [{"name", "base", "size"}], "pool": {"rows": [...],
//! "warnings": [...]}}`
//!
//! Written as a library user outside the pooldbg repository would write it. `cargo xtask outside`
//! runs it on a testkit dump and compares the output with the dump's manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use pooldbg::session::{Session, SessionOptions};
use pooldbg_plugin_sdk::{Output, Target, TargetExt, hex};
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dump, address] = args.as_slice() else {
        eprintln!("usage: pooldbg-libprog DUMP ADDRESS");
        return ExitCode::from(2);
    };
    match run(&PathBuf::from(dump), address) {
        Ok(doc) => {
            println!("{doc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pooldbg-libprog: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dump: &std::path::Path, address: &str) -> Result<serde_json::Value, String> {
    // Open: the container, the kernel's identity, paging, symbols (embedded profiles here).
    let session = Session::open(dump, &SessionOptions::default())
        .map_err(|e| format!("{}: {e}", dump.display()))?;
    if let Some(why) = session.not_windows() {
        return Err(why);
    }
    let info = session.info();
    // A virtual read with its reason: the kernel image's first bytes.
    let mut magic = [0u8; 2];
    let image_magic = match session.read_virtual_exact(info.kernel_base, &mut magic) {
        Ok(()) => String::from_utf8_lossy(&magic).into_owned(),
        Err(e) => format!("unreadable: {e}"),
    };
    // The loaded-module list.
    let modules: Vec<_> = session
        .modules()
        .iter()
        .map(|m| json!({"name": m.name, "base": hex(m.base), "size": m.size}))
        .collect();
    // One pool page: the library's `!pool` over the session (any `Target` would do).
    let mut out = Output::new();
    pooldbg_commands::pool::run(&session, address, &mut out)
        .map_err(|e| format!("!pool {address}: {e}"))?;
    Ok(json!({
        "target": {
            "build": info.build,
            "version": info.version,
            "dump_type": info.dump_type,
            "kernel_base": hex(info.kernel_base),
            "image_magic": image_magic,
            "symbols": session.symbol_source(),
        },
        "notes": session.notes(),
        "modules": modules,
        "pool": {"rows": out.rows(), "warnings": out.warnings()},
    }))
}
