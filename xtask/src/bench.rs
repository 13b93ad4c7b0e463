//! `cargo xtask bench [--quick]`: pooldbg measured against memcpy and its peers, on the same dumps,
//! in one run.
//!
//! 1. Builds the measuring binary (`bench/`, package `pooldbg-bench`) in release.
//! 2. Checks the disk: the dumps not yet under `target/bench/` need at most their apparent size
//!    (they are written sparse, so far less is used); refuses when that is not free.
//! 3. Writes the missing dumps (testkit; reused by later runs).
//! 4. Runs the in-process measurements (pooldbg's library, the `kdmp-parser` crate, memcpy).
//! 5. Full run only: Volatility 3 from PyPI in a venv under `target/bench/venv`, on the same dumps:
//!    `windows.bigpools` (process wall time, against `pooldbg-bench bigpools` answering the same
//!    question from the big page table) and raw crash-layer reads of the same pages. When Python,
//!    pip or Volatility fail, the run says so and goes on.
//! 6. Prints the table and writes everything to `target/bench/results.json` (`results-quick.json`
//!    with `--quick`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

/// Pages each Volatility raw-read pattern reads (Python is slow: a sample of the lists).
const VOL_PAGES: usize = 8192;
/// Room kept free besides the dumps (the venv, results, page lists).
const MARGIN: u64 = 512 << 20;

/// Raw crash-layer reads through Volatility 3's own layers: `DUMP N LIST...`; prints JSON.
const VOL_READS_PY: &str = r#"
import json, os, sys, time
from volatility3.framework import contexts
from volatility3.framework.layers import crash, physical

M = (1 << 64) - 1
def checksum(acc, page):
    for i in range(0, len(page), 8):
        acc = (acc + int.from_bytes(page[i:i + 8], "little")) & M
        acc = ((acc << 1) | (acc >> 63)) & M
    return acc

t = time.perf_counter()
ctx = contexts.Context()
ctx.config["base.location"] = "file://" + os.path.abspath(sys.argv[1])
ctx.layers.add_layer(physical.FileLayer(ctx, "base", "base"))
ctx.config["dmp.base_layer"] = "base"
layer = crash.WindowsCrashDump64Layer(ctx, "dmp", "dmp")
ctx.layers.add_layer(layer)
out = {"open_s": time.perf_counter() - t, "patterns": {}}
n = int(sys.argv[2])
for pattern, path in zip(sys.argv[3::2], sys.argv[4::2]):
    pfns = [int(l) for l in open(path)][:n]
    acc = 0
    for p in pfns[:64]:
        acc = checksum(acc, layer.read(p << 12, 4096, pad=True))
    t = time.perf_counter()
    for p in pfns:
        layer.read(p << 12, 4096, pad=True)
    s = time.perf_counter() - t
    out["patterns"][pattern] = {"pages": len(pfns), "seconds": s, "checksum64": hex(acc)}
print(json.dumps(out))
"#;

/// Parsed arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// The reduced CI-smoke set.
    pub quick: bool,
}

/// The command line of `bench` (clap).
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask bench", no_binary_name = true)]
struct Cli {
    /// The reduced CI-smoke set (no Volatility 3, small dumps).
    #[arg(long)]
    quick: bool,
}

/// Parses `[--quick]`.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(args).map_err(|e| format!("bench: {e}"))?;
    Ok(Args { quick: cli.quick })
}

/// Whether `need` bytes fit in `avail`, and the message when they do not.
pub fn disk_check(dir: &Path, need: u64, avail: u64) -> Result<(), String> {
    if need.saturating_add(MARGIN) <= avail {
        return Ok(());
    }
    Err(format!(
        "bench: needs {} free under {} (the dumps still to write, at most their apparent size, \
         plus {} for the venv and results); only {} is free. Free some space, or remove old dumps \
         there (yours only: they are rewritten on the next run).",
        gib(need),
        dir.display(),
        gib(MARGIN),
        gib(avail)
    ))
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Free bytes of the filesystem holding `dir` (`df -Pk`).
fn free_bytes(dir: &Path) -> Result<u64, String> {
    let out = Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .map_err(|e| format!("df: {e}"))?;
    parse_df(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("df -Pk {}: unexpected output", dir.display()))
}

/// The `Available` column (KiB) of `df -Pk`'s second line, in bytes.
pub fn parse_df(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

fn run_json(mut cmd: Command, what: &str) -> Result<Value, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find(['[', '{'])
        .ok_or_else(|| format!("{what}: no JSON in its output"))?;
    serde_json::from_str(&text[start..]).map_err(|e| format!("{what}: {e}"))
}

/// The venv's bin folder with Volatility 3 installed (made on first use).
fn volatility_venv(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let bin = venv.join("bin");
    let ready = venv.join(".bench-ready");
    if ready.exists() {
        return Ok(bin);
    }
    eprintln!(
        "==> python3 -m venv {} && pip install volatility3",
        venv.display()
    );
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3 not found: {e}"))?;
    if !st.success() {
        return Err("python3 -m venv failed (no venv module?)".into());
    }
    let out = Command::new(bin.join("pip"))
        .args(["install", "-q", "volatility3"])
        .output()
        .map_err(|e| format!("pip: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pip install volatility3 failed (PyPI unreachable?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    std::fs::write(&ready, b"").map_err(|e| e.to_string())?;
    Ok(bin)
}

/// Wall seconds of a command and its stdout, or why it failed.
fn timed(mut cmd: Command, what: &str) -> Result<(f64, String), String> {
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{what}: failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Volatility 3 on one dump: `windows.bigpools` against `pooldbg-bench bigpools` (both as
/// processes, best of `reps` after one warm-up), and raw layer reads of pooldbg's page lists.
fn volatility_on(bin: &Path, ours: &Path, isf: &Path, dump: &Value, reps: usize) -> Value {
    let name = dump["name"].as_str().unwrap_or_default().to_string();
    let path = PathBuf::from(dump["path"].as_str().unwrap_or_default());
    let mut v = json!({ "name": name });
    let vol = || {
        let mut c = Command::new(bin.join("vol"));
        c.args(["--offline", "-q", "-r", "json", "-s"])
            .arg(isf)
            .arg("-f")
            .arg(&path)
            .arg("windows.bigpools");
        c
    };
    let ours_cmd = || {
        let mut c = Command::new(ours);
        c.arg("bigpools").arg(&path);
        c
    };
    eprintln!("  {name}: Volatility 3 windows.bigpools");
    let best = |make: &dyn Fn() -> Command, what: &str| -> Result<(f64, String), String> {
        let mut best: Option<(f64, String)> = None;
        timed(make(), what)?;
        for _ in 0..reps.max(1) {
            let (s, out) = timed(make(), what)?;
            if best.as_ref().is_none_or(|(b, _)| s < *b) {
                best = Some((s, out));
            }
        }
        best.ok_or_else(|| format!("{what}: not run"))
    };
    match best(&vol, "vol windows.bigpools") {
        Ok((secs, out)) => {
            let count = out
                .find('[')
                .and_then(|i| serde_json::from_str::<Value>(&out[i..]).ok())
                .and_then(|j| j.as_array().map(Vec::len));
            v["bigpools"] = json!({ "volatility_s": secs, "volatility_count": count });
        }
        Err(e) => v["bigpools"] = json!({ "volatility_error": e }),
    }
    match best(&ours_cmd, "pooldbg-bench bigpools") {
        Ok((secs, out)) => {
            v["bigpools"]["pooldbg_process_s"] = json!(secs);
            v["bigpools"]["pooldbg_count"] = json!(out.trim().parse::<u64>().ok());
        }
        Err(e) => v["bigpools"]["pooldbg_error"] = json!(e),
    }
    eprintln!("  {name}: Volatility 3 raw layer reads");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg("-c")
        .arg(VOL_READS_PY)
        .arg(&path)
        .arg(VOL_PAGES.to_string());
    if let Some(lists) = dump["page_lists"].as_object() {
        for (pattern, l) in lists {
            cmd.arg(pattern).arg(l["file"].as_str().unwrap_or_default());
        }
    }
    match run_json(cmd, "Volatility 3 raw reads") {
        Ok(r) => v["raw_reads"] = r,
        Err(e) => v["raw_reads"] = json!({ "error": e }),
    }
    v
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Dump name.
    pub dump: String,
    /// What was measured.
    pub what: String,
    /// pooldbg's figure.
    pub pooldbg: String,
    /// The peer's figure and name, or "-".
    pub peer: String,
    /// memcpy's figure, or "-".
    pub memcpy: String,
    /// pooldbg against the peer: how many times faster (`>1` = pooldbg faster), or "-".
    pub vs_peer: String,
    /// pooldbg's throughput as a share of memcpy's, or "-".
    pub vs_memcpy: String,
}

fn ms(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.3} ms", s * 1e3)
    }
}

/// The best throughput of the samples (the least disturbed by other load), MB/s.
fn mbs(v: &Value) -> Option<f64> {
    v["best_mb_per_s"].as_f64()
}

/// The best time of the samples, seconds.
fn best_s(v: &Value) -> Option<f64> {
    v["min_s"].as_f64()
}

fn rate(mb: f64) -> String {
    if mb >= 1000.0 {
        format!("{:.2} GB/s", mb / 1000.0)
    } else {
        format!("{mb:.1} MB/s")
    }
}

fn times(x: f64) -> String {
    format!("{x:.2}x")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The table's rows from the combined results.
pub fn rows(results: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    let dash = || "-".to_string();
    let vol: Vec<&Value> = results["volatility"]["dumps"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for d in results["dumps"].as_array().into_iter().flatten() {
        let name = d["name"].as_str().unwrap_or("?").to_string();
        let vol_d = vol.iter().find(|v| v["name"] == d["name"]);
        let row = |what: &str| Row {
            dump: name.clone(),
            what: what.to_string(),
            pooldbg: dash(),
            peer: dash(),
            memcpy: dash(),
            vs_peer: dash(),
            vs_memcpy: dash(),
        };
        // Open + info.
        let mut r = row("open (header, page map)");
        if let Some(s) = best_s(&d["open"]["pooldbg_dump"]) {
            r.pooldbg = ms(s);
            if let Some(p) = best_s(&d["open"]["kdmp_parser"]) {
                r.peer = format!("{} kdmp-parser", ms(p));
                r.vs_peer = times(p / s);
            }
        }
        out.push(r);
        let mut r = row("open + identify kernel (info)");
        if let Some(s) = best_s(&d["open"]["pooldbg_session"]) {
            r.pooldbg = ms(s);
        }
        out.push(r);
        // Reads.
        for read in d["reads"].as_array().into_iter().flatten() {
            let pattern = read["pattern"].as_str().unwrap_or("?");
            let mut r = row(&format!("{pattern} reads (4 KiB)"));
            let Some(ours) = mbs(&read["pooldbg"]) else {
                continue;
            };
            r.pooldbg = rate(ours);
            if let Some(p) = mbs(&read["kdmp_parser"]) {
                r.peer = format!("{} kdmp-parser", rate(p));
                r.vs_peer = times(ours / p);
                if read["same_bytes"] == json!(false) {
                    r.vs_peer.push_str(" (bytes differ!)");
                }
            }
            if let Some(m) = mbs(&read["memcpy"]) {
                r.memcpy = rate(m);
                r.vs_memcpy = format!("{:.0}%", ours / m * 100.0);
            }
            out.push(r);
            // Volatility's raw layer reads of the same pages.
            if let Some(p) = vol_d.and_then(|v| v["raw_reads"]["patterns"].get(pattern))
                && let (Some(pages), Some(secs)) = (p["pages"].as_u64(), p["seconds"].as_f64())
            {
                let mut r = row(&format!("{pattern} reads vs Volatility 3 layer"));
                let peer = (pages * 4096) as f64 / secs / 1e6;
                r.pooldbg = rate(ours);
                r.peer = format!("{} vol3", rate(peer));
                r.vs_peer = times(ours / peer);
                let want = d["page_lists"][pattern]["checksum64"].as_str();
                if want.is_some() && p["checksum64"].as_str() != want {
                    r.vs_peer.push_str(" (bytes differ!)");
                }
                out.push(r);
            }
        }
        // !poolused.
        let mut r = row("!poolused (tracker tables)");
        if let Some(s) = best_s(&d["poolused"]) {
            r.pooldbg = format!("{} ({} tags)", ms(s), d["poolused"]["tags"]);
        }
        out.push(r);
        // Big pools: the same answer as Volatility's windows.bigpools.
        let mut r = row("big pools (process, same answer)");
        if let Some(v) = vol_d {
            let b = &v["bigpools"];
            if let Some(ours) = b["pooldbg_process_s"].as_f64() {
                r.pooldbg = format!("{} ({} entries)", ms(ours), b["pooldbg_count"]);
                if let Some(p) = b["volatility_s"].as_f64() {
                    r.peer = format!("{} vol3 ({} entries)", ms(p), b["volatility_count"]);
                    r.vs_peer = times(p / ours);
                    if b["volatility_count"] != b["pooldbg_count"] {
                        r.vs_peer.push_str(" (answers differ!)");
                    }
                }
            }
            if let Some(e) = b["volatility_error"].as_str() {
                r.peer = format!("vol3 failed: {}", e.chars().take(60).collect::<String>());
            }
            out.push(r);
        } else if let Some(s) = best_s(&d["bigpools"]) {
            r.what = "big page table (in process)".into();
            r.pooldbg = format!("{} ({} entries)", ms(s), d["bigpools"]["count"]);
            out.push(r);
        }
        // Heap.
        let mut r = row("peak heap: open");
        if let Some(h) = d["heap"]["pooldbg_open_peak"].as_u64() {
            r.pooldbg = mib(h);
            if let Some(p) = d["heap"]["kdmp_parser_open_peak"].as_u64() {
                r.peer = format!("{} kdmp-parser", mib(p));
            }
        }
        out.push(r);
        let mut r = row("peak heap: open, reads, !poolused");
        if let Some(h) = d["heap"]["pooldbg_workload_peak"].as_u64() {
            r.pooldbg = mib(h);
            out.push(r);
        }
    }
    for s in results["scans"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("?").to_string();
        let memcpy = mbs(&s["memcpy"]);
        for run in s["runs"].as_array().into_iter().flatten() {
            let threads = run["threads"].as_u64().unwrap_or(0);
            let mut r = Row {
                dump: name.clone(),
                what: format!("pool scan, {threads} thread(s)"),
                pooldbg: dash(),
                peer: dash(),
                memcpy: dash(),
                vs_peer: dash(),
                vs_memcpy: dash(),
            };
            if s["regions"].as_array().is_none_or(Vec::is_empty) {
                r.pooldbg = "no pool range known".into();
            } else if let (Some(ours), Some(secs)) = (mbs(&run["pooldbg"]), best_s(&run["pooldbg"]))
            {
                let region = run["pooldbg"]["best_region_bytes_per_s"]
                    .as_f64()
                    .unwrap_or(0.0);
                r.pooldbg = format!(
                    "{} of pages read ({} pages, {}; range covered at {})",
                    rate(ours),
                    s["mapped_pages"],
                    ms(secs),
                    rate(region / 1e6)
                );
                if let Some(m) = memcpy {
                    r.memcpy = rate(m);
                    r.vs_memcpy = format!("{:.1}%", ours / m * 100.0);
                }
            }
            out.push(r);
        }
        if let Some(h) = s["heap_peak"].as_u64() {
            out.push(Row {
                dump: name.clone(),
                what: "peak heap: open + scans".into(),
                pooldbg: mib(h),
                peer: dash(),
                memcpy: dash(),
                vs_peer: dash(),
                vs_memcpy: dash(),
            });
        }
    }
    out
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let head = Row {
        dump: "dump".into(),
        what: "measurement".into(),
        pooldbg: "pooldbg".into(),
        peer: "peer".into(),
        memcpy: "memcpy".into(),
        vs_peer: "pooldbg/peer".into(),
        vs_memcpy: "pooldbg/memcpy".into(),
    };
    let all: Vec<&Row> = std::iter::once(&head).chain(rows).collect();
    let cols = |r: &Row| {
        [
            r.dump.clone(),
            r.what.clone(),
            r.pooldbg.clone(),
            r.peer.clone(),
            r.memcpy.clone(),
            r.vs_peer.clone(),
            r.vs_memcpy.clone(),
        ]
    };
    let mut width = [0usize; 7];
    for r in &all {
        for (i, c) in cols(r).iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &all {
        let line: Vec<String> = cols(r)
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:w$}", w = width[i]))
            .collect();
        out.push_str(line.join(" | ").trim_end());
        out.push('\n');
    }
    out
}

/// `cargo xtask bench [--quick]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Instant::now();

    let mut build = crate::cargo();
    build.args(["build", "--release", "-p", "pooldbg-bench"]);
    crate::step("cargo build --release -p pooldbg-bench", build)?;
    let bin = root
        .join("target")
        .join("release")
        .join(format!("pooldbg-bench{}", std::env::consts::EXE_SUFFIX));
    let quick: &[&str] = if args.quick { &["--quick"] } else { &[] };

    // The dumps: what is missing, and whether it fits.
    let mut plan = Command::new(&bin);
    plan.arg("plan").arg(&dir).args(quick);
    let plan = run_json(plan, "pooldbg-bench plan")?;
    let dumps = plan.as_array().cloned().unwrap_or_default();
    let need: u64 = dumps
        .iter()
        .filter(|d| d["present"] != json!(true))
        .filter_map(|d| d["max_bytes"].as_u64())
        .sum();
    let avail = free_bytes(&dir)?;
    eprintln!(
        "==> disk: {} dump(s), {} to write (at most {}, sparse), {} free",
        dumps.len(),
        dumps.iter().filter(|d| d["present"] != json!(true)).count(),
        gib(need),
        gib(avail)
    );
    disk_check(&dir, need, avail)?;
    let mut prepare = Command::new(&bin);
    prepare.arg("prepare").arg(&dir).args(quick);
    crate::step("pooldbg-bench prepare (testkit dumps)", prepare)?;

    // In-process measurements.
    // --quick writes beside the full run's results, not over them.
    let suffix = if args.quick { "-quick" } else { "" };
    let ours_json = dir.join(format!("pooldbg{suffix}.json"));
    let mut measure = Command::new("nice");
    measure
        .arg(&bin)
        .arg("measure")
        .arg(&dir)
        .arg(&ours_json)
        .args(quick);
    crate::step(
        "pooldbg-bench measure (pooldbg, kdmp-parser, memcpy)",
        measure,
    )?;
    let text = std::fs::read(&ours_json).map_err(|e| format!("{}: {e}", ours_json.display()))?;
    let mut results: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", ours_json.display()))?;

    // Volatility 3 (full run only).
    results["volatility"] = if args.quick {
        json!({ "skipped": "--quick: Volatility 3 runs in the full bench only" })
    } else {
        let isf = root.join("..").join("shared").join("data").join("isf");
        let isf = if isf.is_dir() {
            isf
        } else {
            PathBuf::from("/work/shared/data/isf")
        };
        eprintln!("==> Volatility 3 on the same dumps");
        match volatility_venv(&dir) {
            Err(e) => {
                eprintln!("    Volatility 3 not measured: {e}");
                json!({ "error": e })
            }
            Ok(vbin) => {
                let version = Command::new(vbin.join("pip"))
                    .args(["show", "volatility3"])
                    .output()
                    .ok()
                    .and_then(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .lines()
                            .find_map(|l| l.strip_prefix("Version: ").map(str::to_string))
                    });
                let list: Vec<Value> = results["dumps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        let mut d = d.clone();
                        if let Some(p) = dumps.iter().find(|p| p["name"] == d["name"]) {
                            d["path"] = p["path"].clone();
                        }
                        volatility_on(&vbin, &bin, &isf, &d, 2)
                    })
                    .collect();
                json!({ "version": version, "dumps": list })
            }
        }
    };
    // Memory as output grows, and a 100 GB sparse raw file (issue #21).
    eprintln!("==> memory: peak RSS of the release pooldbg");
    let ws = crate::plugins::workspace(root)?;
    let memory = match crate::plugins::build(root, &ws, true) {
        Ok(dir_release) => {
            crate::membench::run(&dir_release.join(crate::plugins::host_file()), &dir, &dumps)
        }
        Err(e) => json!({ "error": e }),
    };
    results["memory"] = memory;
    results["command"] = json!(if args.quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    });
    results["elapsed_s"] = json!(started.elapsed().as_secs_f64());
    let rows = rows(&results);
    let table = table(&rows);
    results["table"] = json!(table.lines().collect::<Vec<_>>());
    let out = dir.join(format!("results{suffix}.json"));
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "{} on {} ({} cores, load {}):\n",
        results["command"].as_str().unwrap_or_default(),
        results["machine"]["cpu"].as_str().unwrap_or("?"),
        results["machine"]["cores"],
        results["machine"]["loadavg_at_start"]
            .as_str()
            .unwrap_or("?"),
    );
    print!("{table}");
    for l in crate::membench::lines(&results["memory"]) {
        println!("{l}");
    }
    println!(
        "\nbest of {} samples (medians in the JSON); pooldbg/peer = times faster; results: {} ({:.0} s)",
        results["samples"],
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]), Ok(Args { quick: false }));
        assert_eq!(parse_args(&s(&["--quick"])), Ok(Args { quick: true }));
        assert!(parse_args(&s(&["--fast"])).unwrap_err().contains("--fast"));
    }

    #[test]
    fn df_output_is_read() {
        let text = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                    /dev/vda         264091588  30000000  66000000      32% /\n";
        assert_eq!(parse_df(text), Some(66_000_000 * 1024));
        assert_eq!(parse_df("nonsense"), None);
    }

    #[test]
    fn too_little_disk_is_refused_with_the_figures() {
        let dir = Path::new("/t/bench");
        assert!(disk_check(dir, 4 << 30, 10 << 30).is_ok());
        let err = disk_check(dir, 10 << 30, 4 << 30).unwrap_err();
        assert!(err.contains("10.0 GiB"), "{err}");
        assert!(err.contains("4.0 GiB is free"), "{err}");
        assert!(err.contains("/t/bench"), "{err}");
        // The margin counts too.
        assert!(disk_check(dir, 4 << 30, 4 << 30).is_err());
    }

    fn sample() -> Value {
        json!({
            "dumps": [{
                "name": "1g-full",
                "open": { "pooldbg_dump": { "min_s": 0.001 }, "pooldbg_session": { "min_s": 0.002 }, "kdmp_parser": { "min_s": 0.004 } },
                "reads": [{
                    "pattern": "random",
                    "pooldbg": { "best_mb_per_s": 3000.0 },
                    "kdmp_parser": { "best_mb_per_s": 1000.0 },
                    "memcpy": { "best_mb_per_s": 6000.0 },
                    "same_bytes": true
                }],
                "page_lists": { "random": { "checksum64": "0x10" } },
                "poolused": { "min_s": 0.002, "tags": 9 },
                "heap": { "pooldbg_open_peak": 1048576, "kdmp_parser_open_peak": 2097152 }
            }],
            "scans": [{
                "name": "4g-full-2003",
                "regions": [{ "pool": "NonPaged" }],
                "mapped_pages": 10,
                "memcpy": { "best_mb_per_s": 4000.0 },
                "runs": [{ "threads": 1, "pooldbg": { "best_mb_per_s": 1000.0, "min_s": 0.5, "best_region_bytes_per_s": 8e9 } }],
                "heap_peak": 3145728
            }],
            "volatility": { "dumps": [{
                "name": "1g-full",
                "bigpools": { "volatility_s": 5.0, "volatility_count": 71,
                              "pooldbg_process_s": 0.02, "pooldbg_count": 70 },
                "raw_reads": { "patterns": { "random": { "pages": 1000, "seconds": 0.04096, "checksum64": "0x10" } } }
            }]}
        })
    }

    #[test]
    fn ratios_are_computed_from_the_same_run() {
        let rows = rows(&sample());
        let find = |what: &str| {
            rows.iter()
                .find(|r| r.what == what)
                .unwrap_or_else(|| panic!("no row {what}: {rows:?}"))
        };
        assert_eq!(find("open (header, page map)").vs_peer, "4.00x");
        assert_eq!(find("open + identify kernel (info)").pooldbg, "2.000 ms");
        let random = find("random reads (4 KiB)");
        assert_eq!(random.vs_peer, "3.00x");
        assert_eq!(random.vs_memcpy, "50%");
        assert_eq!(random.pooldbg, "3.00 GB/s");
        // 1000 pages of 4096 bytes in 0.04096 s = 100 MB/s; 3000 / 100 = 30x; same checksum.
        assert_eq!(find("random reads vs Volatility 3 layer").vs_peer, "30.00x");
        // 71 against 70 entries: said, not hidden.
        let big = find("big pools (process, same answer)");
        assert_eq!(big.vs_peer, "250.00x (answers differ!)");
        let scan = find("pool scan, 1 thread(s)");
        assert_eq!(scan.vs_memcpy, "25.0%");
        assert!(
            scan.pooldbg.contains("range covered at 8.00 GB/s"),
            "{scan:?}"
        );
        assert_eq!(find("peak heap: open").pooldbg, "1.0 MiB");
        assert_eq!(find("peak heap: open + scans").pooldbg, "3.0 MiB");
    }

    #[test]
    fn table_is_aligned_with_a_header() {
        let t = table(&rows(&sample()));
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("dump"), "{t}");
        let bar = lines[0].find(" | ").unwrap();
        assert!(lines.iter().all(|l| l.find(" | ") == Some(bar)), "{t}");
    }
}
