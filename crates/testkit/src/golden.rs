//! Golden files for tests: compare a command's text with a reviewed file, or (re)write it.
//!
//! Set `POOLDBG_BLESS=1` to write the files instead of comparing; then review the diff by reading
//! it. One helper for every plugin's tests (the bless variable is the same everywhere).
//!
//! ```no_run
//! // in a test of a plugin crate:
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
//! pooldbg_testkit::golden::check(dir, "win7sp1-x64.txt", "sources: ...\n");
//! ```

use std::path::Path;

/// The environment variable that turns comparing into writing.
pub const BLESS_VAR: &str = "POOLDBG_BLESS";

/// Whether this run (re)writes golden files.
pub fn blessing() -> bool {
    std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the file `dir/name`; with `POOLDBG_BLESS=1` writes it instead.
///
/// # Panics
/// When the texts differ or the file cannot be read (or, blessing, written): this is a test
/// helper, and the panic message names the file and the variable.
#[allow(clippy::panic)]
pub fn check(dir: impl AsRef<Path>, name: &str, actual: &str) {
    let path = dir.as_ref().join(name);
    if blessing() {
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            panic!("{}: {e}", parent.display());
        }
        if let Err(e) = std::fs::write(&path, actual) {
            panic!("{}: {e}", path.display());
        }
        return;
    }
    let want = match std::fs::read_to_string(&path) {
        Ok(w) => w,
        Err(e) => panic!(
            "{}: {e} (run with {BLESS_VAR}=1 to create it, then review it)",
            path.display()
        ),
    };
    if actual != want {
        let line = actual
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| actual.lines().count().min(want.lines().count()));
        panic!(
            "golden file {} differs from line {} on ({BLESS_VAR}=1 rewrites it)\n--- actual\n{actual}\n--- golden\n{want}",
            path.display(),
            line + 1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_passes_and_different_text_fails() {
        if blessing() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("testkit-golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "one\ntwo\n").unwrap();
        check(&dir, "a.txt", "one\ntwo\n");
        let r = std::panic::catch_unwind(|| check(&dir, "a.txt", "one\nTWO\n"));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("line 2") && msg.contains("POOLDBG_BLESS"),
            "{msg}"
        );
        let r = std::panic::catch_unwind(|| check(&dir, "missing.txt", ""));
        assert!(r.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
