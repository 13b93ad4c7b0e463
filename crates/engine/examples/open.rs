//! Open a dump, list its modules, and show one pool page: the library entry end to end.
//!
//! ```text
//! cargo run -p pooldbg-engine --example open -- MEMORY.DMP [ADDRESS] [--symbols PATH]
//! ```
//!
//! Without ADDRESS the page shown is that of the first allocation (`!poolfind`) of the tag with the
//! most nonpaged bytes (`!poolused 2`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plugin_sdk::Target;
use pooldbg_engine::{Options, Session};

fn main() -> ExitCode {
    let mut path = None;
    let mut address = None;
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--symbols" => match args.next() {
                Some(p) => options.symbols.push(PathBuf::from(p)),
                None => return usage(),
            },
            _ if path.is_none() => path = Some(PathBuf::from(a)),
            _ if address.is_none() => address = Some(a),
            _ => return usage(),
        }
    }
    let Some(path) = path else { return usage() };
    match show(&path, address, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: open DUMP [ADDRESS] [--symbols PATH]");
    ExitCode::from(2)
}

fn show(
    path: &Path,
    address: Option<String>,
    options: &Options,
) -> Result<(), Box<dyn std::error::Error>> {
    // 1. Open: container, page tables, kernel, symbols, in one call.
    let dump: Session = pooldbg_engine::open(path, options)?;
    let info = dump.info();
    println!(
        "{} {} build {}, kernel at {:#x}; symbols: {}",
        info.dump_type,
        info.arch.name(),
        info.build,
        info.kernel_base,
        dump.symbol_source()
    );

    // 2. Modules, in load order.
    let modules = dump.modules();
    println!("{} modules", modules.len());
    for m in modules.iter().take(8) {
        println!(
            "  {:#018x} {:#018x} {}",
            m.base,
            m.base.saturating_add(m.size),
            m.name
        );
    }

    // 3. One pool page: the address given, or the first allocation of the biggest tag.
    let address = match address {
        Some(a) => a,
        None => {
            let used = dump.run("!poolused 2")?;
            let tag = used
                .rows()
                .first()
                .and_then(|r| r["tag"].as_str())
                .ok_or("!poolused found no tag")?
                .trim_end()
                .to_string();
            let found = dump.run(&format!("!poolfind {tag}"))?;
            found
                .rows()
                .first()
                .and_then(|r| r["address"].as_str())
                .ok_or_else(|| format!("!poolfind {tag} found no allocation"))?
                .to_string()
        }
    };
    let page = dump.run(&format!("!pool {address}"))?;
    // WinDbg's layout is in the summary's `text`; the rows are the same blocks as JSON objects.
    if let Some(lines) = page.summary().and_then(|s| s["text"].as_array()) {
        for l in lines.iter().filter_map(|l| l.as_str()) {
            println!("{l}");
        }
    }
    for w in page.warnings() {
        println!("warning: {w}");
    }
    Ok(())
}
