//! The memory part of `cargo xtask bench` (issue #21): peak resident memory of the release
//! `pooldbg` as a command's output grows tenfold, and opening a 100 GB sparse raw file.
//!
//! Peak memory is the child's maximum resident set size as `/usr/bin/time -f %M` reports it
//! (GNU time; KiB). Where it is missing, the figures say so and the run goes on.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

/// One measured run of `pooldbg ARGS`: peak RSS in KiB, wall seconds, exit status, and the
/// bytes and lines it wrote to stdout (counted as they come, not kept).
fn peak(exe: &Path, args: &[&str]) -> Value {
    use std::io::Read;
    let started = Instant::now();
    let child = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Err(e) => return json!({ "args": args, "error": format!("/usr/bin/time: {e}") }),
        Ok(c) => c,
    };
    // stderr on a thread, so neither pipe can fill while the other is read.
    let err_reader = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let (mut bytes, mut lines) = (0u64, 0u64);
    if let Some(mut o) = child.stdout.take() {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = o.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes += n as u64;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    let status = child.wait();
    let seconds = started.elapsed().as_secs_f64();
    let err = err_reader.and_then(|t| t.join().ok()).unwrap_or_default();
    match status {
        Err(e) => json!({ "args": args, "error": format!("/usr/bin/time: {e}") }),
        Ok(st) => {
            // GNU time writes its figure on the last line of stderr.
            let kib = err
                .lines()
                .last()
                .and_then(|l| l.trim().parse::<u64>().ok());
            json!({
                "args": args,
                "peak_kib": kib,
                "seconds": seconds,
                "exit": st.code(),
                "stdout_bytes": bytes,
                "stdout_lines": lines,
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
    // `!poolfind *` on two dumps per pool model (classic: Server 2003 x64; segment heap: Windows 10
    // 2004) of the same memory size whose nonpaged pools differ tenfold in blocks (the bench
    // plan's `pf-*` dumps), text and jsonl: rows stream, so the peak should not follow them.
    let mut pf = serde_json::Map::new();
    for model in ["classic", "segheap"] {
        let mut pair: Vec<(u64, String)> = dumps
            .iter()
            .filter_map(|d| {
                let name = d["name"].as_str()?;
                let n = name.strip_prefix(&format!("pf-{model}-"))?.parse().ok()?;
                Some((n, d["path"].as_str()?.to_string()))
            })
            .collect();
        pair.sort();
        let [(small_n, small), (large_n, large)] = pair.as_slice() else {
            continue;
        };
        let mut m = serde_json::Map::new();
        m.insert("blocks".into(), json!([small_n, large_n]));
        for format in ["text", "jsonl"] {
            let s = peak(exe, &["-z", small, "-c", "!poolfind *", "--format", format]);
            let l = peak(exe, &["-z", large, "-c", "!poolfind *", "--format", format]);
            let r = ratio(&s, &l);
            m.insert(
                format.into(),
                json!({ "small": s, "large": l, "peak_ratio": r }),
            );
        }
        pf.insert(model.into(), Value::Object(m));
    }
    if !pf.is_empty() {
        out["poolfind"] = Value::Object(pf);
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
    if let Some(pf) = m["poolfind"].as_object() {
        for (model, f) in pf {
            for format in ["text", "jsonl"] {
                let g = &f[format];
                if !g.is_object() {
                    continue;
                }
                out.push(format!(
                    "  !poolfind * {model} {} -> {} blocks, {format}: {} -> {} (x{:.2}; output {} -> {} lines)",
                    f["blocks"][0],
                    f["blocks"][1],
                    mib(&g["small"]),
                    mib(&g["large"]),
                    g["peak_ratio"].as_f64().unwrap_or(f64::NAN),
                    g["small"]["stdout_lines"],
                    g["large"]["stdout_lines"],
                ));
            }
        }
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
            "poolfind": {"segheap": {
                "blocks": [5000, 50000],
                "jsonl": {
                    "small": {"peak_kib": 10240, "stdout_lines": 4700},
                    "large": {"peak_kib": 11264, "stdout_lines": 47000},
                    "peak_ratio": 1.1,
                },
            }},
            "sparse_100g": {"seconds": 0.25, "peak_kib": 8192, "exit": 1},
        });
        let l = lines(&m);
        assert_eq!(
            l[1],
            "  !db L 100000 -> L 1000000, text: 10.0 MiB -> 11.0 MiB (x1.10)"
        );
        assert_eq!(
            l[2],
            "  !poolfind * segheap 5000 -> 50000 blocks, jsonl: 10.0 MiB -> 11.0 MiB (x1.10; output 4700 -> 47000 lines)"
        );
        assert_eq!(
            l[3],
            "  open a 100 GB sparse raw file: 0.25 s, 8.0 MiB (exit 1)"
        );
        assert_eq!(l.len(), 4, "no line for a format not measured: {l:?}");
    }
}
