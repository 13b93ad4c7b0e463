//! `cargo xtask pytest [--venv DIR] [--release] [-- PYTEST_ARGS]`: the Python package's tests, run
//! against the built wheel installed in a virtual environment, never against the source tree
//! (issue #23).
//!
//! 1. Makes the venv (`python3 -m venv`, or `$PYTHON -m venv`) unless it exists; default
//!    `target/pyvenv`.
//! 2. Installs `crates/python/tests/requirements.txt` from the package index (maturin, pytest,
//!    `dask[distributed]`).
//! 3. Builds the wheel with that venv's maturin (`cargo xtask wheel`; debug unless `--release`, so
//!    CI reuses the artifacts of `cargo xtask test`) and installs it (`--force-reinstall`).
//! 4. Runs the venv's pytest on `crates/python/tests`. Any non-zero exit fails the step, and exit 5
//!    (no tests collected) is named as such: an empty run is a failure, not a pass.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    venv: Option<PathBuf>,
    release: bool,
    pytest: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        venv: None,
        release: false,
        pytest: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--venv" => {
                let dir = it.next().ok_or("pytest: --venv needs a directory")?;
                out.venv = Some(PathBuf::from(dir));
            }
            "--release" => out.release = true,
            "--" => {
                out.pytest = it.cloned().collect();
                break;
            }
            other => {
                return Err(format!(
                    "pytest: unknown argument {other} (pytest [--venv DIR] [--release] [-- PYTEST_ARGS])"
                ));
            }
        }
    }
    Ok(out)
}

/// A program of the venv (`bin/NAME`, `Scripts\NAME.exe` on Windows).
fn venv_bin(venv: &Path, name: &str) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join(format!("{name}.exe"))
    } else {
        venv.join("bin").join(name)
    }
}

/// What pytest's exit status means, for the failure message (pytest's documented exit codes).
fn pytest_failure(code: Option<i32>) -> String {
    match code {
        Some(1) => "some tests failed".into(),
        Some(2) => "interrupted".into(),
        Some(3) => "internal error".into(),
        Some(4) => "command-line usage error".into(),
        Some(5) => "no tests were collected (an empty run is a failure)".into(),
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".into(),
    }
}

/// `cargo xtask pytest`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let ws = crate::plugins::workspace(root)?;
    let venv = args.venv.unwrap_or_else(|| ws.target_dir.join("pyvenv"));
    let python = venv_bin(&venv, "python");
    if !python.is_file() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = Command::new(&base);
        cmd.args(["-m", "venv"]).arg(&venv);
        crate::step(&format!("{base} -m venv {}", venv.display()), cmd)?;
    }
    let mut pip = Command::new(&python);
    pip.current_dir(root).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "crates/python/tests/requirements.txt",
    ]);
    crate::step("pip install -r crates/python/tests/requirements.txt", pip)?;

    let wheel = crate::wheel::build_with(root, !args.release, Some(&venv_bin(&venv, "maturin")))?;
    let mut install = Command::new(&python);
    install
        .current_dir(root)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(&wheel);
    crate::step(&format!("pip install {}", wheel.display()), install)?;

    // The venv's pytest, started from the workspace root: `crates/python/python` (the source of
    // the package) is never on sys.path, so `import pooldbg` finds the installed wheel (a test
    // checks that too).
    let title = "pytest crates/python/tests (the installed wheel)";
    eprintln!("==> {title}");
    let status = Command::new(venv_bin(&venv, "pytest"))
        .current_dir(root)
        .args(["crates/python/tests", "-p", "no:cacheprovider", "-ra"])
        .args(&args.pytest)
        .status()
        .map_err(|e| format!("{title}: could not start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{title}: {}", pytest_failure(status.code())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_venv_release_and_pytest_args() {
        assert_eq!(
            parse_args(&s(&["--venv", "/tmp/v", "--release", "--", "-k", "fleet"])),
            Ok(Args {
                venv: Some(PathBuf::from("/tmp/v")),
                release: true,
                pytest: s(&["-k", "fleet"]),
            })
        );
        assert_eq!(
            parse_args(&[]),
            Ok(Args {
                venv: None,
                release: false,
                pytest: vec![],
            })
        );
        assert!(parse_args(&s(&["--venv"])).is_err());
        assert!(parse_args(&s(&["--jobs"])).is_err());
    }

    #[test]
    fn an_empty_pytest_run_is_named_a_failure() {
        assert!(pytest_failure(Some(5)).contains("no tests"));
        assert!(pytest_failure(Some(1)).contains("failed"));
    }
}
