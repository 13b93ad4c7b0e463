//! `pooldbg`: the command line. All of it lives in the library (`pooldbg::cli`) so tests can drive
//! it; this file only opens dumps as sessions.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use pooldbg::cli::{Options, main_with};
use pooldbg::dispatch::HostView;
use pooldbg::session::{Session, SessionOptions};

fn main() -> ExitCode {
    main_with(std::env::args_os(), &|path, options: &Options| {
        let session_options = SessionOptions {
            symbols: options.symbols.clone(),
            pooltag_files: options.pooltag.clone(),
            use_nt_symbol_path: true,
            no_embedded_profiles: false,
            // A symbol-server download draws a bar on a terminal unless -q.
            download_progress: !options.quiet && std::io::stderr().is_terminal(),
        };
        let session = Session::open(path, &session_options).map_err(|e| e.to_string())?;
        // A raw image with no Windows in it says so and fails, not "unknown" everywhere.
        if let Some(why) = session.not_windows() {
            return Err(why);
        }
        Ok(Box::new(session) as Box<dyn HostView + Sync>)
    })
}
