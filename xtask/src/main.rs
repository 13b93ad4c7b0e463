//! `cargo xtask`: the project's automation, run from anywhere in the workspace.
//!
//! Each subcommand is one entry of [`SUBCOMMANDS`]; `cargo xtask --help` lists them. Subcommands that a
//! later piece of work fills say so and exit non-zero, so nothing pretends to work.

#![forbid(unsafe_code)]

mod profiles;
mod pytest;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod demo;
mod dist;
mod fixtures;
mod fuzz;
mod install;
mod membench;
mod msrv;
mod outside;
mod package;
mod plugins;
mod wheel;

/// A subcommand: its name, its one-line help, and whether it is available yet.
struct Subcommand {
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    /// `None` when implemented; otherwise what has to land before it works.
    pending: Option<&'static str>,
}

const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "demo",
        usage: "demo [--debug]",
        help: "build host and plugins (release), write sample dumps, run the commands, name the leaking driver",
        pending: None,
    },
    Subcommand {
        name: "test",
        usage: "test [-- CARGO_TEST_ARGS]",
        help: "build the workspace (plugin libraries included), then run every test",
        pending: None,
    },
    Subcommand {
        name: "ci",
        usage: "ci",
        help: "what CI runs: fmt check, clippy -D warnings, doc build, `cargo xtask package`, `msrv`, ntkernel without default features, `cargo xtask test`, `cargo xtask outside --packaged`",
        pending: None,
    },
    Subcommand {
        name: "plugins",
        usage: "plugins [--release]",
        help: "build the command plugins and list what the host finds",
        pending: None,
    },
    Subcommand {
        name: "fixtures",
        usage: "fixtures [--out DIR] [--size N] [--fleet N]",
        help: "write the standard set of synthetic kernel dumps with their manifests",
        pending: None,
    },
    Subcommand {
        name: "profiles",
        usage: "profiles import DIR | profiles verify DIR",
        help: "generate the embedded per-build kernel profiles from ISF files, or verify them",
        pending: None,
    },
    Subcommand {
        name: "bench",
        usage: "bench [--quick]",
        help: "measure pooldbg against memcpy and peers on generated dumps",
        pending: None,
    },
    Subcommand {
        name: "fuzz",
        usage: "fuzz [--seconds N] [--install] [TARGET..]",
        help: "run every cargo-fuzz target in turn (nightly toolchain, cargo-fuzz)",
        pending: None,
    },
    Subcommand {
        name: "dist",
        usage: "dist [--no-check] [--no-wheel]",
        help: "build a release archive: pooldbg, its plugins, a sample dump, docs, the C header; then the wheel",
        pending: None,
    },
    Subcommand {
        name: "wheel",
        usage: "wheel [--debug]",
        help: "build the Python wheel (maturin, PyO3 abi3) with the command plugins inside",
        pending: None,
    },
    Subcommand {
        name: "pytest",
        usage: "pytest [--venv DIR] [--release] [-- PYTEST_ARGS]",
        help: "make a venv, install maturin/pytest/dask from PyPI, build and install the wheel, run pytest",
        pending: None,
    },
    Subcommand {
        name: "package",
        usage: "package",
        help: "`cargo package` (verified) every publishable crate: each builds on its own from its .crate",
        pending: None,
    },
    Subcommand {
        name: "msrv",
        usage: "msrv [--toolchain]",
        help: "check that every dependency accepts the workspace's rust-version (--toolchain: build with that Rust)",
        pending: None,
    },
    Subcommand {
        name: "outside",
        usage: "outside [--packaged] [--keep]",
        help: "build examples/outside (a Rust plugin, a C plugin, a library program) outside the workspace and run them on a testkit dump",
        pending: None,
    },
    Subcommand {
        name: "install",
        usage: "install [--prefix DIR]",
        help: "install pooldbg into DIR/bin and its plugins into DIR/lib/pooldbg/plugins",
        pending: None,
    },
];

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Invocation {
    Help,
    Run {
        name: &'static str,
        args: Vec<String>,
    },
}

/// Why the command line could not be understood.
#[derive(Debug, PartialEq, Eq)]
enum UsageError {
    Unknown(String),
}

fn parse(args: &[String]) -> Result<Invocation, UsageError> {
    let Some(first) = args.first() else {
        return Ok(Invocation::Help);
    };
    if matches!(first.as_str(), "-h" | "--help" | "help") {
        return Ok(Invocation::Help);
    }
    SUBCOMMANDS
        .iter()
        .find(|s| s.name == first)
        .map(|s| Invocation::Run {
            name: s.name,
            args: args[1..].to_vec(),
        })
        .ok_or_else(|| UsageError::Unknown(first.clone()))
}

fn help_text() -> String {
    let mut out = String::from("usage: cargo xtask <SUBCOMMAND> [ARGS]\n\nsubcommands:\n");
    let width = SUBCOMMANDS.iter().map(|s| s.usage.len()).max().unwrap_or(0);
    for s in SUBCOMMANDS {
        let mark = if s.pending.is_some() {
            " (not yet available)"
        } else {
            ""
        };
        out.push_str(&format!("  {:width$}  {}{mark}\n", s.usage, s.help));
    }
    out
}

fn workspace_root() -> PathBuf {
    // xtask lives in <root>/xtask.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs one step, echoing it first; an error names the step that failed.
fn step(title: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("==> {title}");
    let status = cmd
        .status()
        .map_err(|e| format!("{title}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{title}: failed ({status})"))
    }
}

/// `cargo xtask test`: build everything (so plugin cdylibs exist for the tests that load them), then test.
fn run_test(extra: &[String]) -> Result<(), String> {
    let mut build = cargo();
    build.args(["build", "--workspace", "--all-targets"]);
    step("cargo build --workspace --all-targets", build)?;
    // Tests that skip themselves for a missing input or tool say so in this file
    // (testdata::skip): counted as skipped below, not as passed.
    let skip_log = std::env::temp_dir().join(format!("pooldbg-skips-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&skip_log);
    let mut test = cargo();
    test.args(["test", "--workspace"])
        .args(extra)
        .env("POOLDBG_SKIP_LOG", &skip_log);
    eprintln!("==> cargo test --workspace");
    let mut child = test
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cargo test: could not start: {e}"))?;
    // Pass the output through as it comes, and add up every harness's `test result:` line.
    let mut totals = TestTotals::default();
    if let Some(out) = child.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            totals.add_line(&line);
        }
    }
    let status = child.wait().map_err(|e| format!("cargo test: {e}"))?;
    let skips = parse_skips(&std::fs::read_to_string(&skip_log).unwrap_or_default());
    let _ = std::fs::remove_file(&skip_log);
    // One closing line for the whole run, in the plain form CI reads; then each skip named.
    println!("{}", closing_line(&totals, &skips));
    for (test, reason) in &skips {
        println!("  skipped {test}: {reason}");
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let unexpected = unexpected_skips(&skips, EXPECTED_SKIPS);
    if !status.success() {
        return Err(format!("cargo test --workspace: failed ({status})"));
    }
    if ci && !unexpected.is_empty() {
        return Err(format!(
            "CI: {} test(s) skipped that are not in xtask's EXPECTED_SKIPS: {}",
            unexpected.len(),
            unexpected.join(", ")
        ));
    }
    Ok(())
}

/// Tests CI may skip (by libtest name, `module::test`): a tool CI images need not have. Any
/// other skip under `CI=true` fails `cargo xtask test`.
const EXPECTED_SKIPS: &[&str] = &[
    // Needs Python and network for Volatility 3 in a venv.
    "volatility_and_kdmp_parser_read_the_x64_fixtures",
];

/// The skip log's lines: `TEST<TAB>REASON`.
fn parse_skips(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, r)| (t.to_string(), r.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The skips whose test is not in `expected` (matched on the name's last `::` part too).
fn unexpected_skips(skips: &[(String, String)], expected: &[&str]) -> Vec<String> {
    skips
        .iter()
        .map(|(t, _)| t)
        .filter(|t| {
            let last = t.rsplit("::").next().unwrap_or(t);
            !expected.iter().any(|e| *e == t.as_str() || *e == last)
        })
        .cloned()
        .collect()
}

/// `tests: P passed, F failed, S skipped, I ignored`: a skipped test ran and returned early, so
/// libtest counted it as passed; it is moved to skipped here.
fn closing_line(totals: &TestTotals, skips: &[(String, String)]) -> String {
    let skipped = skips.len() as u64;
    format!(
        "tests: {} passed, {} failed, {} skipped, {} ignored",
        totals.passed.saturating_sub(skipped),
        totals.failed,
        skipped,
        totals.ignored
    )
}

/// The sum of libtest's `test result: ok. 5 passed; 0 failed; 1 ignored; ...` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestTotals {
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim_start().strip_prefix("test result:") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn run_ci() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("cargo fmt --all -- --check", fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    step(
        "cargo clippy --workspace --all-targets -- -D warnings",
        clippy,
    )?;
    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    step(
        "cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)",
        doc,
    )?;
    // Every publishable crate packages and builds on its own (issue #22).
    package::run(&workspace_root(), &[])?;
    // rust-version holds for the dependencies; ntkernel builds and tests without its default
    // features (issue #22).
    msrv::run(&workspace_root(), &[])?;
    msrv::ntkernel_without_default_features(&workspace_root())?;
    eprintln!("==> cargo xtask test (the README's test command)");
    run_test(&[])?;
    // After the tests (the host binary is built): pooldbg used from outside the workspace, on the
    // crates `cargo xtask package` just made (issue #22).
    eprintln!("==> cargo xtask outside --packaged");
    outside::run(&workspace_root(), &["--packaged".to_string()])
}

fn run(name: &str, args: &[String]) -> Result<(), String> {
    let Some(sub) = SUBCOMMANDS.iter().find(|s| s.name == name) else {
        return Err(format!("unknown subcommand {name}"));
    };
    if let Some(missing) = sub.pending {
        return Err(format!(
            "`cargo xtask {name}` is not available yet: it needs {missing}, which has not landed"
        ));
    }
    match name {
        "test" => {
            let extra = match args.first().map(String::as_str) {
                Some("--") => &args[1..],
                _ => args,
            };
            run_test(extra)
        }
        "ci" => run_ci(),
        "profiles" => profiles::run(&workspace_root(), args),
        "fixtures" => fixtures::run(args, &workspace_root()),
        "demo" => demo::run(&workspace_root(), args),
        "bench" => bench::run(&workspace_root(), args),
        "plugins" => plugins::run(&workspace_root(), args),
        "fuzz" => fuzz::run(&workspace_root(), args),
        "dist" => dist::run(&workspace_root(), args),
        "wheel" => wheel::run(&workspace_root(), args),
        "pytest" => pytest::run(&workspace_root(), args),
        "install" => install::run(&workspace_root(), args),
        "package" => package::run(&workspace_root(), args),
        "outside" => outside::run(&workspace_root(), args),
        "msrv" => msrv::run(&workspace_root(), args),
        other => Err(format!("`cargo xtask {other}` has no implementation")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(Invocation::Help) => {
            print!("{}", help_text());
            ExitCode::SUCCESS
        }
        Ok(Invocation::Run { name, args }) => match run(name, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::FAILURE
            }
        },
        Err(UsageError::Unknown(name)) => {
            eprintln!("xtask: unknown subcommand `{name}`\n\n{}", help_text());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_arguments_and_help_flags_ask_for_help() {
        assert_eq!(parse(&[]), Ok(Invocation::Help));
        for h in ["-h", "--help", "help"] {
            assert_eq!(parse(&strings(&[h])), Ok(Invocation::Help));
        }
    }

    #[test]
    fn subcommand_keeps_its_arguments() {
        assert_eq!(
            parse(&strings(&["fixtures", "--out", "d", "--size", "64"])),
            Ok(Invocation::Run {
                name: "fixtures",
                args: strings(&["--out", "d", "--size", "64"])
            })
        );
    }

    #[test]
    fn unknown_subcommand_is_a_usage_error() {
        assert_eq!(
            parse(&strings(&["frobnicate"])),
            Err(UsageError::Unknown("frobnicate".into()))
        );
    }

    #[test]
    fn help_lists_every_subcommand_the_issue_names() {
        let help = help_text();
        for name in [
            "demo", "test", "ci", "plugins", "fixtures", "profiles", "bench", "fuzz", "dist",
            "install",
        ] {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(name)),
                "{name} missing from help:\n{help}"
            );
        }
    }

    #[test]
    fn skips_are_counted_named_and_checked_against_the_expected_list() {
        let skips = parse_skips(
            "a::needs_clang\tclang missing\nb::real_dump\tshared/x is missing\nbad line\na::needs_clang\tclang missing\n",
        );
        assert_eq!(skips.len(), 2);
        let totals = TestTotals {
            passed: 10,
            failed: 0,
            ignored: 1,
        };
        assert_eq!(
            closing_line(&totals, &skips),
            "tests: 8 passed, 0 failed, 2 skipped, 1 ignored"
        );
        assert_eq!(
            unexpected_skips(&skips, &["needs_clang"]),
            vec!["b::real_dump".to_string()]
        );
        assert!(unexpected_skips(&skips, &["needs_clang", "b::real_dump"]).is_empty());
    }

    #[test]
    fn test_result_lines_are_summed() {
        let mut t = TestTotals::default();
        t.add_line("test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        t.add_line(
            "test result: FAILED. 2 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 4 tests");
        t.add_line("test tests::x ... ok");
        assert_eq!(
            t,
            TestTotals {
                passed: 7,
                failed: 3,
                ignored: 1
            }
        );
    }

    #[test]
    fn pending_subcommands_refuse_and_say_why() {
        for s in SUBCOMMANDS {
            if let Some(missing) = s.pending {
                let err = run(s.name, &[]).unwrap_err();
                assert!(err.contains("not available yet"), "{err}");
                assert!(err.contains(missing), "{err}");
            }
        }
        for name in ["plugins", "fuzz", "dist", "install", "bench"] {
            let s = SUBCOMMANDS.iter().find(|s| s.name == name).unwrap();
            assert_eq!(s.pending, None, "{name}");
        }
    }
}
