//! Locates the real test inputs in the `shared/` folder beside the pooldbg checkout.
//!
//! The folder holds real ISF symbol files, real `pooltag.txt` files and a real triage dump. Tests read
//! them in place; they are never copied into the project. Where the folder is missing, [`require`]
//! fails the test under `CI=true` (CI must have the data) and otherwise skips it with a printed reason.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod isf;
pub mod symserver;

/// Environment variable that overrides where the shared folder is.
pub const SHARED_ENV: &str = "POOLDBG_SHARED";

/// The workspace root, known at compile time (this crate lives in `crates/testdata`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Where the shared folder should be: `override_dir` (the value of `POOLDBG_SHARED`) when it is set
/// and not empty, else `<workspace root>/../shared`.
pub fn shared_candidate(override_dir: Option<&str>, root: &Path) -> PathBuf {
    match override_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join("..").join("shared"),
    }
}

/// The shared folder if it exists.
pub fn shared_dir() -> Option<PathBuf> {
    let over = std::env::var(SHARED_ENV).ok();
    let dir = shared_candidate(over.as_deref(), &workspace_root());
    dir.is_dir().then_some(dir)
}

/// Environment variable naming a file where [`skip`] appends one line per skipped test
/// (`TEST<TAB>REASON`); `cargo xtask test` sets it to count and name the skips (issue #21).
pub const SKIP_LOG_ENV: &str = "POOLDBG_SKIP_LOG";

/// Records that the running test skips itself for `reason` (a missing input or tool): prints
/// `skipped: REASON` and, when [`SKIP_LOG_ENV`] names a file, appends the test's name (its
/// thread's name under libtest) and the reason to it. The caller then returns early.
pub fn skip(reason: &str) {
    eprintln!("skipped: {reason}");
    if let Some(log) = std::env::var_os(SKIP_LOG_ENV) {
        use std::io::Write;
        let name = std::thread::current()
            .name()
            .unwrap_or("(unnamed test)")
            .to_string();
        let line = format!("{name}\t{}\n", reason.replace(['\n', '\t'], " "));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// What a test should do about a missing input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Fail the test with this message (under CI).
    Fail(String),
    /// Skip the test, printing this reason.
    Skip(String),
}

/// Decides between failing and skipping for a missing `path`, given the value of `CI`.
pub fn on_missing(path: &Path, ci: Option<&str>) -> Missing {
    let why = format!(
        "{} is missing (set {SHARED_ENV} to the shared folder, or check it out beside the project)",
        path.display()
    );
    match ci {
        Some(v) if v == "true" || v == "1" => Missing::Fail(why),
        _ => Missing::Skip(why),
    }
}

/// The path of `relative` inside the shared folder, e.g. `require("data/dumps/triage_x64.dmp")`.
///
/// Returns `None` (after printing the reason) when the file is missing and `CI` is not `true`.
///
/// # Panics
/// Panics when the file is missing and the environment variable `CI` is `true`: CI must have the data.
pub fn require(relative: &str) -> Option<PathBuf> {
    let over = std::env::var(SHARED_ENV).ok();
    let path = shared_candidate(over.as_deref(), &workspace_root()).join(relative);
    if path.exists() {
        return Some(path);
    }
    match on_missing(&path, std::env::var("CI").ok().as_deref()) {
        Missing::Fail(why) => panic!("{why}"),
        Missing::Skip(why) => {
            skip(&why);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_wins_when_set() {
        let root = Path::new("/w/main");
        assert_eq!(
            shared_candidate(Some("/data/x"), root),
            PathBuf::from("/data/x")
        );
        assert_eq!(shared_candidate(Some(""), root), root.join("../shared"));
        assert_eq!(shared_candidate(None, root), root.join("../shared"));
    }

    #[test]
    fn missing_fails_only_under_ci() {
        let p = Path::new("/nowhere/x");
        assert!(matches!(on_missing(p, Some("true")), Missing::Fail(_)));
        assert!(matches!(on_missing(p, Some("false")), Missing::Skip(_)));
        assert!(matches!(on_missing(p, None), Missing::Skip(_)));
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"));
        assert!(manifest.is_ok_and(|m| m.contains("[workspace]")));
    }

    #[test]
    fn finds_the_shared_readme_when_present() {
        // The shared folder is laid beside the checkout for developers and CI alike.
        if let Some(p) = require("DESIGN.md") {
            assert!(p.is_file());
        }
    }
}
