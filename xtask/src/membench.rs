//! The memory part of `cargo xtask bench` (issue #21): peak resident memory of the release
//! `pooldbg` as a command's output grows tenfold, and opening a 100 GB sparse raw file.
//!
//! Peak memory is the child's maximum resident set size as `/usr/bin/time -f %M` reports it
//! (GNU time; KiB). Where it is missing, the figures say so and the run goes on.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// One measured run of `pooldbg ARGS`: peak RSS in KiB, wall seconds, exit status.
fn peak(exe: &Path, args: &[&str]) -> Value {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let seconds = started.elapsed().as_secs_f64();
    match out {
        Err(e) => json!({ "args": args, "error": format!("/usr/bin/time: {e}") }),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            // GNU time writes its figure on the last line of stderr.
            let kib = err
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<u64>().ok());
            json!({
                "args": args,
                "peak_kib": kib,
                "seconds": seconds,
                "exit": o.status.code(),
            })
        }
    }
}

/// The ratio of two runs' peaks (large over small), when both were measured.
fn ratio(small: &Value, large: &Value) -> Option<f64> {
    Some(large["peak_kib"].as_f64()? / small["peak_kib"].as_f64()?)
}

/// Runs the memory measurements with the release host `exe` (plugins beside it) on the bench
/// dumps of `dumps` (the plan's entries: `name`, `path`), writing scratch files under `dir`.
pub fn run(exe: &Path, dir: &Path, dumps: &[Value]) -> Value {
    let path_of = |name: &str| {
        dumps
            .iter()
            .find(|d| d["name"] == name)
            .and_then(|d| d["path"].as_str().map(str::to_string))
    };
    let mut out = json!({});
    // `!db` over physical memory, 0x100000 and 0x1000000 bytes (1 and 16 MiB: 16 times the output), text and
    // json: the rows stream, so the peak should not follow the length.
    if let Some(dump) = path_of("64m-full") {
        let mut db = serde_json::Map::new();
        for format in ["text", "json"] {
            let small = peak(
                exe,
                &["-z", &dump, "-c", "!db 0 L 100000", "--format", format],
            );
            let large = peak(
                exe,
                &["-z", &dump, "-c", "!db 0 L 1000000", "--format", format],
            );
            let r = ratio(&small, &large);
            db.insert(
                format.into(),
                json!({ "small": small, "large": large, "peak_ratio": r }),
            );
        }
        out["db"] = Value::Object(db);
    }
    // `!poolfind *` on the pool-scanning profile: 64 MiB against 4 GiB of memory (64 times the
    // allocations). The plugin still gathers one region's blocks before emitting them, so this
    // measures where it stands, not a promise.
    if let (Some(small), Some(large)) = (path_of("64m-full-2003"), path_of("4g-full-2003")) {
        let s = peak(
            exe,
            &["-z", &small, "-c", "!poolfind *", "--format", "jsonl"],
        );
        let l = peak(
            exe,
            &["-z", &large, "-c", "!poolfind *", "--format", "jsonl"],
        );
        let r = ratio(&s, &l);
        out["poolfind"] = json!({ "small": s, "large": l, "peak_ratio": r });
    }
    // A 100 GB sparse raw file with nothing in it: opened, scanned and refused ("no Windows
    // kernel found") without reading its holes.
    let sparse = dir.join("sparse-100g.raw");
    let made = std::fs::File::create(&sparse).and_then(|f| f.set_len(100_000_000_000));
    out["sparse_100g"] = match made {
        Err(e) => json!({ "error": format!("{}: {e}", sparse.display()) }),
        Ok(()) => {
            let p = sparse.to_string_lossy().into_owned();
            let v = peak(exe, &["-z", &p, "-c", "info"]);
            let _ = std::fs::remove_file(&sparse);
            v
        }
    };
    out
}

/// The table lines of [`run`]'s figures.
pub fn lines(m: &Value) -> Vec<String> {
    let mib = |v: &Value| {
        v["peak_kib"]
            .as_f64()
            .map_or("?".to_string(), |k| format!("{:.1} MiB", k / 1024.0))
    };
    let mut out = vec!["memory (peak RSS of the release pooldbg, /usr/bin/time):".to_string()];
    if let Some(db) = m["db"].as_object() {
        for (format, f) in db {
            out.push(format!(
                "  !db L 100000 -> L 1000000, {format}: {} -> {} (x{:.2})",
                mib(&f["small"]),
                mib(&f["large"]),
                f["peak_ratio"].as_f64().unwrap_or(f64::NAN)
            ));
        }
    }
    if m["poolfind"].is_object() {
        let f = &m["poolfind"];
        out.push(format!(
            "  !poolfind * 64 MiB -> 4 GiB (2003), jsonl: {} -> {} (x{:.2})",
            mib(&f["small"]),
            mib(&f["large"]),
            f["peak_ratio"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    let s = &m["sparse_100g"];
    out.push(format!(
        "  open a 100 GB sparse raw file: {:.2} s, {} (exit {})",
        s["seconds"].as_f64().unwrap_or(f64::NAN),
        mib(s),
        s["exit"]
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_lines() {
        let small = json!({"peak_kib": 10240});
        let large = json!({"peak_kib": 11264});
        assert_eq!(ratio(&small, &large), Some(1.1));
        assert_eq!(ratio(&json!({}), &large), None);
        let m = json!({
            "db": {"text": {"small": small, "large": large, "peak_ratio": 1.1}},
            "sparse_100g": {"seconds": 0.25, "peak_kib": 8192, "exit": 1},
        });
        let l = lines(&m);
        assert_eq!(
            l[1],
            "  !db L 100000 -> L 1000000, text: 10.0 MiB -> 11.0 MiB (x1.10)"
        );
        assert_eq!(
            l[2],
            "  open a 100 GB sparse raw file: 0.25 s, 8.0 MiB (exit 1)"
        );
    }
}
