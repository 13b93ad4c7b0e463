//! `cargo xtask wheel`: the Python wheel (crates/python, maturin + PyO3 abi3) with the command
//! plugins inside it.
//!
//! Builds the command plugins in release mode, copies them into
//! `crates/python/python/pooldbg/plugins/` (ignored by git; the binding looks there, beside its
//! module), then runs `maturin build --release` and writes the wheel to `target/wheels/`.
//! `maturin` is taken from `MATURIN` or `PATH` (`pip install maturin`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::plugins;

/// Builds the wheel; returns its path.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let ws = plugins::workspace(root)?;
    let built = plugins::build(root, &ws, true)?;
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
    let maturin = std::env::var("MATURIN").unwrap_or_else(|_| "maturin".into());
    let mut cmd = Command::new(&maturin);
    cmd.current_dir(root).args([
        "build",
        "--release",
        "--manifest-path",
        "crates/python/Cargo.toml",
        "--out",
    ]);
    cmd.arg(&out);
    crate::step("maturin build --release (crates/python)", cmd).map_err(|e| {
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

/// `cargo xtask wheel`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!(
            "wheel: unknown arguments {args:?} (wheel takes none)"
        ));
    }
    build(root).map(|_| ())
}
