//! `pooldbg-bench`: the measurements behind `cargo xtask bench` (not shipped).
//!
//! - `pooldbg-bench plan DIR [--quick]`: the dumps of the run as JSON (`present`, `max_bytes`).
//! - `pooldbg-bench prepare DIR [--quick]`: writes the missing dumps (testkit), reuses the others.
//! - `pooldbg-bench measure DIR OUT.json [--quick]`: every in-process measurement, as JSON.
//! - `pooldbg-bench scan DIR [--quick] [--samples=N]`: only the pool scans (`scans` of
//!   `measure`, each with its ratio to memcpy of the same pages), writing their dumps when missing;
//!   JSON on stdout.
//! - `pooldbg-bench sparse [--quick]`: only the sparse-region scan (`sparse_scan` of `measure`), as
//!   JSON on stdout: needs no dumps on disk, so it can be run alone.
//! - `pooldbg-bench bigpools DUMP`: opens the dump and prints the big page table's live entries
//!   (the answer Volatility 3's `windows.bigpools` gives), for a process-to-process comparison.

#![deny(unsafe_op_in_unsafe_fn)]

mod alloc;
mod dumps;
mod measure;

use std::path::PathBuf;
use std::process::ExitCode;

/// Tests that read the allocation counters run one at a time.
#[cfg(test)]
static COUNTERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let usage = "usage: pooldbg-bench plan|prepare DIR [--quick] | measure DIR OUT.json [--quick] | scan DIR [--quick] [--samples=N] | sparse [--quick] | bigpools DUMP";
    match pos.as_slice() {
        [cmd, dir] if cmd.as_str() == "plan" => {
            let dir = PathBuf::from(dir);
            let list: Vec<serde_json::Value> = dumps::all(quick)
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "path": s.path(&dir),
                        "present": s.is_present(&dir),
                        "max_bytes": s.max_bytes(),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(list));
            Ok(())
        }
        [cmd, dir] if cmd.as_str() == "prepare" => {
            let dir = PathBuf::from(dir);
            for s in dumps::all(quick) {
                if s.is_present(&dir) {
                    eprintln!("  {}: reused", s.path(&dir).display());
                    continue;
                }
                let t = std::time::Instant::now();
                s.write(&dir)?;
                eprintln!(
                    "  {}: written in {:.1} s",
                    s.path(&dir).display(),
                    t.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        [cmd, dir, out] if cmd.as_str() == "measure" => {
            let results = measure::all(&PathBuf::from(dir), quick)?;
            let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
            std::fs::write(out, text).map_err(|e| format!("{out}: {e}"))
        }
        [cmd, dir] if cmd.as_str() == "scan" => {
            let samples = args
                .iter()
                .find_map(|a| a.strip_prefix("--samples="))
                .map(|n| n.parse::<usize>().map_err(|e| format!("--samples: {e}")))
                .transpose()?;
            let results = measure::scan_only(&PathBuf::from(dir), quick, samples)?;
            let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        [cmd] if cmd.as_str() == "sparse" => {
            let results = measure::sparse_only(quick)?;
            let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        [cmd, dump] if cmd.as_str() == "bigpools" => {
            let n = measure::bigpools(&PathBuf::from(dump))?;
            println!("{n}");
            Ok(())
        }
        _ => Err(usage.into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pooldbg-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
