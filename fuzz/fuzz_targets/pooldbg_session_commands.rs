//! Any bytes as a dump: open a Session and run the host commands on it (info, lm, display
//! commands at the kernel base and at 0, !pte). Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooldbg::cli::run_commands;
use pooldbg::dispatch::HostView;
use pooldbg::loader::PluginSet;
use pooldbg::session::{Session, SessionOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(dump) = dumpfile::Dump::from_vec(data.to_vec()) else {
        return;
    };
    let Ok(session) = Session::from_dump(dump, &SessionOptions::default()) else {
        return;
    };
    let base = HostView::target(&session).info().kernel_base;
    let commands = format!(
        "info; lm; db {base:x} L 40; dq {base:x} L 8; !pte {base:x}; !db 0 L 20; dd 0; .help"
    );
    let plugins = PluginSet::default();
    for r in run_commands(&session, &plugins, &commands) {
        let _ = (r.rows.len(), r.text.as_ref().map(Vec::len));
    }
});
