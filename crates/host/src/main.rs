//! `pooldbg`: the command line. All of it lives in the library (`pooldbg::cli`) so tests can drive
//! it; this file only opens dumps as sessions.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use pooldbg::cli::main_with;

fn main() -> ExitCode {
    main_with(std::env::args_os(), &pooldbg::entry::open_dump)
}
