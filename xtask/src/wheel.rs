//! `cargo xtask wheel [--debug]`: the Python wheel (crates/python, maturin + PyO3 abi3) with the
//! command plugins inside it.
//!
//! Builds the command plugins (release, or debug with `--debug`), copies them into
//! `crates/python/python/pooldbg/plugins/` (ignored by git; the binding looks there, beside its
//! module), then runs `maturin build` in the same profile and writes the wheel to `target/wheels/`.
//! `maturin` is taken from `MATURIN` or `PATH` (`pip install maturin`).
//!
//! `--debug` is what CI's `cargo xtask pytest` uses: the debug artifacts of `cargo xtask test` are
//! reused (dependencies are optimised even in the dev profile), where a release wheel would compile
//! the whole tree again.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::plugins;

/// Builds the wheel (release unless `debug`); returns its path.
pub fn build(root: &Path, debug: bool) -> Result<PathBuf, String> {
    build_with(root, debug, None)
}

/// [`build`] with `maturin` given (else `MATURIN`, else `maturin` on `PATH`).
pub fn build_with(root: &Path, debug: bool, maturin: Option<&Path>) -> Result<PathBuf, String> {
    let ws = plugins::workspace(root)?;
    let built = plugins::build(root, &ws, !debug)?;
    let dest = root.join("crates/python/python/pooldbg/plugins");
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    for p in &ws.plugins {
        let f = p.file_name();
        std::fs::copy(built.join(&f), dest.join(&f))
            .map_err(|e| format!("{}: {e}", built.join(&f).display()))?;
    }
    let out = ws.target_dir.join("wheels");
    let _ = std::fs::remove_dir_all(&out);
    let maturin = match maturin {
        Some(m) => m.as_os_str().to_owned(),
        None => std::env::var_os("MATURIN").unwrap_or_else(|| "maturin".into()),
    };
    let mut cmd = Command::new(&maturin);
    cmd.current_dir(root)
        .args(["build", "--manifest-path", "crates/python/Cargo.toml"]);
    if !debug {
        cmd.arg("--release");
    }
    cmd.arg("--out").arg(&out);
    let title = format!(
        "maturin build{} (crates/python)",
        if debug { "" } else { " --release" }
    );
    crate::step(&title, cmd).map_err(|e| {
        format!("{e} (is maturin installed? `pip install maturin`, or set MATURIN)")
    })?;
    let wheel = std::fs::read_dir(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("maturin wrote no wheel in {}", out.display()))?;
    println!("{}", wheel.display());
    Ok(wheel)
}

/// Parses `[--debug]`.
fn parse_args(args: &[String]) -> Result<bool, String> {
    match args {
        [] => Ok(false),
        [a] if a == "--debug" => Ok(true),
        _ => Err(format!(
            "wheel: unknown arguments {args:?} (wheel [--debug])"
        )),
    }
}

/// `cargo xtask wheel [--debug]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    build(root, parse_args(args)?).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_takes_only_debug() {
        assert_eq!(parse_args(&[]), Ok(false));
        assert_eq!(parse_args(&["--debug".to_string()]), Ok(true));
        assert!(parse_args(&["--release".to_string()]).is_err());
    }
}
