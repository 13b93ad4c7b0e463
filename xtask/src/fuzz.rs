//! `cargo xtask fuzz [--seconds N] [--install] [TARGET...]`: runs every cargo-fuzz target in turn.
//!
//! Each `[[bin]]` of `fuzz/Cargo.toml` (or only those named) runs for N seconds (default 60) as
//! `nice cargo +nightly fuzz run <t> fuzz/corpus/<t> fuzz/seeds/<t> -- -max_total_time=N`: the
//! scratch corpus `fuzz/corpus/<t>/` (git-ignored) comes first, so libFuzzer writes the inputs it
//! finds there and only reads the committed seeds. A crash stops that target, not the run; at the
//! end a table gives per target the inputs executed, the outcome and the crash artifact
//! (`fuzz/artifacts/<t>/…`), and the command fails if any target did not finish clean.
//!
//! Needs the nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
//! (`cargo install cargo-fuzz` from crates.io): missing ones are installed with `--install`,
//! otherwise the command says how and stops.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Parsed arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// Seconds per target.
    pub seconds: u64,
    /// Install the nightly toolchain and cargo-fuzz when missing.
    pub install: bool,
    /// Only these targets (all when empty).
    pub only: Vec<String>,
}

/// The command line of `fuzz` (clap).
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask fuzz", no_binary_name = true)]
struct Cli {
    /// Seconds per target (positive).
    #[arg(long, value_name = "N", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Install the nightly toolchain and cargo-fuzz when missing.
    #[arg(long)]
    install: bool,
    /// Only these targets (all when none).
    #[arg(value_name = "TARGET")]
    only: Vec<String>,
}

/// Parses the arguments.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(args).map_err(|e| format!("fuzz: {e}"))?;
    Ok(Args {
        seconds: cli.seconds,
        install: cli.install,
        only: cli.only,
    })
}

/// The `name`s of the `[[bin]]` tables of a cargo-fuzz manifest, in file order.
pub fn targets(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_bin = false;
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
            continue;
        }
        if !in_bin {
            continue;
        }
        if let Some((k, v)) = l.split_once('=')
            && k.trim() == "name"
        {
            out.push(v.trim().trim_matches('"').to_string());
        }
    }
    out
}

/// How one target's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Ran its time with no finding.
    Clean,
    /// libFuzzer wrote a crash, leak, timeout or out-of-memory input.
    Found {
        /// What libFuzzer reported (`deadly signal`, `out-of-memory`, …).
        kind: String,
        /// The input it wrote, when it said where.
        artifact: Option<PathBuf>,
    },
    /// cargo fuzz failed before fuzzing (build error, bad arguments).
    Failed(String),
}

/// One target's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The target.
    pub target: String,
    /// Inputs executed (`stat::number_of_executed_units`, or `Done N runs`), when reported.
    pub runs: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall seconds.
    pub seconds: u64,
}

/// Reads libFuzzer's output (`exit_ok` is cargo fuzz's exit status) into runs and outcome.
pub fn read_output(log: &str, exit_ok: bool) -> (Option<u64>, Outcome) {
    let mut runs = None;
    let mut artifact = None;
    let mut kind = None;
    let mut fuzzed = false;
    for line in log.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("stat::number_of_executed_units:") {
            runs = v.trim().parse().ok().or(runs);
        } else if let Some(rest) = l.strip_prefix("Done ")
            && let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok())
        {
            runs = runs.or(Some(n));
        }
        if l.starts_with("INFO: Seed:") || l.starts_with("#") {
            fuzzed = true;
        }
        if let Some(rest) = l.strip_prefix("==")
            && let Some((_, what)) = rest.split_once("ERROR: libFuzzer: ")
        {
            kind = Some(what.trim().to_string());
        }
        if kind.is_none() && l.contains("ERROR: AddressSanitizer") {
            kind = Some("AddressSanitizer".into());
        }
        if let Some(p) = l.split_once("Test unit written to ").map(|(_, p)| p.trim()) {
            artifact = Some(PathBuf::from(p));
        }
    }
    let outcome = if let Some(kind) = kind {
        Outcome::Found { kind, artifact }
    } else if artifact.is_some() {
        Outcome::Found {
            kind: "finding".into(),
            artifact,
        }
    } else if exit_ok && fuzzed {
        Outcome::Clean
    } else {
        let tail: Vec<_> = log.lines().rev().take(5).collect();
        let tail: Vec<_> = tail.into_iter().rev().collect();
        Outcome::Failed(tail.join(" | "))
    };
    (runs, outcome)
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Checks for the nightly toolchain and cargo-fuzz; installs them when `install`, else says how.
fn tools(install: bool) -> Result<(), String> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !nightly {
        if !install {
            return Err(
                "the nightly toolchain is missing: `rustup toolchain install nightly \
                        --profile minimal`, or run `cargo xtask fuzz --install`"
                    .into(),
            );
        }
        let mut c = Command::new("rustup");
        c.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        crate::step("rustup toolchain install nightly --profile minimal", c)?;
    }
    let fuzz = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !fuzz {
        if !install {
            return Err(
                "cargo-fuzz is missing: `cargo install cargo-fuzz --locked` (crates.io), \
                        or run `cargo xtask fuzz --install`"
                    .into(),
            );
        }
        let mut c = cargo();
        c.args(["install", "cargo-fuzz", "--locked"]);
        crate::step("cargo install cargo-fuzz --locked", c)?;
    }
    Ok(())
}

/// `nice` in front of a command where there is one and the process is not niced already (`nice`
/// with no command prints the niceness): `nice cargo xtask fuzz` is not niced twice.
fn niced(program: &str) -> Command {
    let niceness = if cfg!(unix) {
        Command::new("nice")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<i32>()
                    .ok()
            })
    } else {
        None
    };
    if niceness == Some(0) {
        let mut c = Command::new("nice");
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs one target; its libFuzzer output goes to `fuzz/corpus/<t>.log`.
fn run_target(fuzz_dir: &Path, target: &str, seconds: u64) -> Report {
    let started = std::time::Instant::now();
    let corpus = fuzz_dir.join("corpus").join(target);
    let log_path = fuzz_dir.join("corpus").join(format!("{target}.log"));
    let result = (|| -> Result<(bool, String), String> {
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let status = niced("cargo")
            .current_dir(fuzz_dir)
            .args(["+nightly", "fuzz", "run", target])
            .arg(format!("corpus/{target}"))
            .arg(format!("seeds/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .env_remove("CARGO")
            .env_remove("RUSTUP_TOOLCHAIN")
            .stdout(log)
            .stderr(err)
            .status()
            .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        Ok((status.success(), text))
    })();
    let (runs, mut outcome) = match result {
        Ok((ok, text)) => read_output(&text, ok),
        Err(e) => (None, Outcome::Failed(e)),
    };
    // cargo fuzz names artifacts relative to fuzz/.
    if let Outcome::Found {
        artifact: Some(a), ..
    } = &mut outcome
        && a.is_relative()
    {
        *a = fuzz_dir.join(&*a);
    }
    Report {
        target: target.to_string(),
        runs,
        outcome,
        seconds: started.elapsed().as_secs(),
    }
}

/// The closing table.
pub fn table(reports: &[Report]) -> String {
    let width = reports
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = format!(
        "{:width$}  {:>12}  {:>5}  outcome\n",
        "target", "runs", "secs"
    );
    for r in reports {
        let runs = r.runs.map_or("-".into(), |n| n.to_string());
        let outcome = match &r.outcome {
            Outcome::Clean => "clean".to_string(),
            Outcome::Found { kind, artifact } => format!(
                "FOUND {kind}: {}",
                artifact
                    .as_ref()
                    .map_or("(no artifact path)".into(), |a| a.display().to_string())
            ),
            Outcome::Failed(why) => format!("FAILED: {why}"),
        };
        s.push_str(&format!(
            "{:width$}  {runs:>12}  {:>5}  {outcome}\n",
            r.target, r.seconds
        ));
    }
    s
}

/// `cargo xtask fuzz`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let fuzz_dir = root.join("fuzz");
    let manifest_path = fuzz_dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let all = targets(&manifest);
    for t in &args.only {
        if !all.contains(t) {
            return Err(format!(
                "fuzz: no target `{t}` in fuzz/Cargo.toml ({})",
                all.join(", ")
            ));
        }
    }
    let chosen: Vec<String> = if args.only.is_empty() {
        all
    } else {
        all.into_iter().filter(|t| args.only.contains(t)).collect()
    };
    tools(args.install)?;
    // One build of every target first, so that the fuzzing time is fuzzing.
    let mut build = niced("cargo");
    build
        .current_dir(&fuzz_dir)
        .args(["+nightly", "fuzz", "build"])
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN");
    crate::step("cargo +nightly fuzz build (every target)", build)?;
    let mut reports = Vec::new();
    for (i, t) in chosen.iter().enumerate() {
        eprintln!(
            "==> [{}/{}] {t}: {} s (log: fuzz/corpus/{t}.log)",
            i + 1,
            chosen.len(),
            args.seconds
        );
        let r = run_target(&fuzz_dir, t, args.seconds);
        eprint!(
            "{}",
            table(std::slice::from_ref(&r))
                .lines()
                .nth(1)
                .unwrap_or_default()
        );
        eprintln!();
        reports.push(r);
    }
    print!("{}", table(&reports));
    let bad = reports
        .iter()
        .filter(|r| r.outcome != Outcome::Clean)
        .count();
    if bad == 0 {
        println!(
            "{} targets, {} s each: no finding",
            reports.len(),
            args.seconds
        );
        Ok(())
    } else {
        Err(format!(
            "{bad} of {} fuzz targets did not finish clean",
            reports.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&[]).unwrap(),
            Args {
                seconds: 60,
                install: false,
                only: vec![]
            }
        );
        assert_eq!(
            parse_args(&s(&["--seconds", "5", "--install", "pooltag_parse"])).unwrap(),
            Args {
                seconds: 5,
                install: true,
                only: vec!["pooltag_parse".into()]
            }
        );
        assert!(parse_args(&s(&["--seconds", "0"])).is_err());
        assert!(parse_args(&s(&["--seconds"])).is_err());
        assert!(parse_args(&s(&["--bogus"])).is_err());
    }

    #[test]
    fn every_target_of_the_real_manifest_has_a_source_and_seeds() {
        let fuzz = crate::workspace_root().join("fuzz");
        let t = targets(&std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap());
        assert!(t.len() >= 13, "{t:?}");
        assert!(t.contains(&"dumpfile_header".to_string()));
        for name in &t {
            assert!(
                fuzz.join("fuzz_targets")
                    .join(format!("{name}.rs"))
                    .is_file(),
                "{name}"
            );
            assert!(
                fuzz.join("seeds").join(name).is_dir(),
                "no seeds for {name}"
            );
        }
        // Only [[bin]] names: the package's own name is not a target.
        assert!(!t.contains(&"pooldbg-fuzz".to_string()));
    }

    #[test]
    fn libfuzzer_output_is_read() {
        let clean = "INFO: Seed: 123\n#2\tINITED cov: 10\n#4096\tpulse\nDone 81234 runs in 31 second(s)\nstat::number_of_executed_units: 81240\nstat::average_exec_per_sec:     2620\n";
        assert_eq!(read_output(clean, true), (Some(81240), Outcome::Clean));
        let crash = "INFO: Seed: 1\n#2\tINITED\n==4242== ERROR: libFuzzer: deadly signal\nSUMMARY: libFuzzer: deadly signal\nMS: 1 ChangeByte-; base unit: 00\nartifact_prefix='/w/fuzz/artifacts/x/'; Test unit written to /w/fuzz/artifacts/x/crash-abc\nstat::number_of_executed_units: 77\n";
        assert_eq!(
            read_output(crash, false),
            (
                Some(77),
                Outcome::Found {
                    kind: "deadly signal".into(),
                    artifact: Some(PathBuf::from("/w/fuzz/artifacts/x/crash-abc"))
                }
            )
        );
        let build =
            "error[E0425]: cannot find value `x`\nerror: could not compile `pooldbg-fuzz`\n";
        let (runs, o) = read_output(build, false);
        assert_eq!(runs, None);
        assert!(
            matches!(o, Outcome::Failed(ref w) if w.contains("could not compile")),
            "{o:?}"
        );
        let t = table(&[Report {
            target: "t".into(),
            runs: Some(5),
            outcome: Outcome::Clean,
            seconds: 3,
        }]);
        assert!(t.lines().nth(1).unwrap().contains("clean"), "{t}");
    }
}
