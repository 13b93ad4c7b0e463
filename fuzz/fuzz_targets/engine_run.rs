//! Any bytes as a dump and a command line for the library entry: `Session::from_dump` of
//! pooldbg-engine, then `Session::run` with the first line of the input as a pool command
//! (`!poolused`, `!pool`, `!poolfind`, `!vm`, `!frag` or anything else). Nothing may panic or
//! hang; an unknown command or a failing one is an error value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooldbg_engine::{Session, SessionOptions};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(0);
    let (line, dump) = data.split_at(split);
    let line = String::from_utf8_lossy(line);
    let Ok(dump) = dumpfile::Dump::from_vec(dump.get(1..).unwrap_or_default().to_vec()) else {
        return;
    };
    let Ok(session) = Session::from_dump(dump, &SessionOptions::default()) else {
        return;
    };
    for command in [line.as_ref(), "!poolused 2", "!vm", "!frag"] {
        match session.run(command) {
            Ok(out) => {
                let _ = (out.rows().len(), out.warnings().len());
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
