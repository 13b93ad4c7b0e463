//! `pooldbg`: the command line. All of it lives in the library (`pooldbg::cli`) so tests can drive
//! it; this file only opens dumps as sessions.

#![forbid(unsafe_code)]

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
        };
        Session::open(path, &session_options)
            .map(|s| Box::new(s) as Box<dyn HostView>)
            .map_err(|e| e.to_string())
    })
}
