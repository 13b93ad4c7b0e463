//! `cargo xtask package`: every publishable crate of the workspace packages and builds on its own
//! (issue #22).
//!
//! `cargo package` with verification: each `.crate` is unpacked under `target/package-verify/package/` and built there
//! against the other packaged crates (cargo's local overlay of the packages being made) and crates.io, so
//! a file included from outside the crate folder, a path dependency without a version, or a missing
//! feature shows up here rather than at publish time. The set is read from `cargo metadata`: every
//! workspace package whose `publish` is not `false`. Packages that stay unpublished are named in
//! [`UNPUBLISHED`] with the reason; a package that is neither publishable nor listed there fails the step,
//! so a new crate cannot drop out of the check unnoticed.

use std::path::Path;
use std::process::Command;

/// Workspace packages that are not published, and why.
pub const UNPUBLISHED: &[(&str, &str)] = &[
    (
        "pool",
        "a command plugin: a cdylib the host loads, shipped in the release archive (`cargo xtask dist`)",
    ),
    ("poolused", "a command plugin (as `pool`)"),
    ("pooldbg-vm", "a command plugin (as `pool`)"),
    ("pooldbg-frag", "a command plugin (as `pool`)"),
    (
        "pooldbg-example-hello",
        "the plugin authors' example: copied, not depended on",
    ),
    (
        "testdata",
        "tests only: finds the real inputs in ../shared, which are never shipped",
    ),
    (
        "pooldbg-python",
        "the Python binding: shipped as a wheel built by maturin (`cargo xtask wheel`), not as a crate",
    ),
    ("xtask", "the project's automation"),
    ("pooldbg-bench", "the benchmark runner"),
];

/// The packages `cargo metadata` says are publishable, or an error naming a package that is neither
/// publishable nor in [`UNPUBLISHED`].
pub fn publishable(meta: &serde_json::Value) -> Result<Vec<String>, String> {
    let packages = meta
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or("cargo metadata: no `packages` array")?;
    let mut out = Vec::new();
    for p in packages {
        let name = p
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or("cargo metadata: a package without a name")?;
        // `publish = false` is `[]` in the metadata; absent (any registry) is `null`.
        let unpublished = p
            .get("publish")
            .and_then(|r| r.as_array())
            .is_some_and(|r| r.is_empty());
        let listed = UNPUBLISHED.iter().any(|(n, _)| *n == name);
        match (unpublished, listed) {
            (false, _) => out.push(name.to_string()),
            (true, true) => {}
            (true, false) => {
                return Err(format!(
                    "package {name} has `publish = false` but is not in xtask's UNPUBLISHED list: \
                     make it publishable, or add it there with the reason"
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The folder, under the target directory, where `cargo package` runs with a target directory
/// of its own: the `.crate` files are in its `package/` (`cargo xtask outside --packaged` reads them).
pub const VERIFY_DIR: &str = "package-verify";

/// `cargo xtask package`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!(
            "`cargo xtask package` takes no arguments (got {a})"
        ));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let meta = crate::plugins::cargo_metadata(root)?;
    let names = publishable(&meta)?;
    if names.is_empty() {
        return Err("no publishable package in the workspace".into());
    }
    // The packaged crates are verified as registry crates, and cargo never rebuilds a registry
    // crate of an unchanged name and version (it takes registry sources as immutable): in a target
    // directory that saw an earlier run, a dependent crate was verified against the previous
    // run's build of its dependency (`pooldbg-commands` against an older `pooldbg-poollayout`).
    // So verification builds in a directory of its own, emptied first (a fresh CI machine's case).
    let verify_dir = meta
        .get("target_directory")
        .and_then(|v| v.as_str())
        .map_or_else(|| root.join("target"), std::path::PathBuf::from)
        .join(VERIFY_DIR);
    if verify_dir.exists() {
        std::fs::remove_dir_all(&verify_dir)
            .map_err(|e| format!("{}: {e}", verify_dir.display()))?;
    }
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .env("CARGO_TARGET_DIR", &verify_dir)
        .arg("package");
    // A working tree with uncommitted changes is packaged as it is (CI's clone is clean anyway).
    cmd.arg("--allow-dirty");
    for n in &names {
        cmd.args(["-p", n]);
    }
    crate::step(
        &format!("cargo package (verified) for {}", names.join(", ")),
        cmd,
    )?;
    println!("packaged and built on their own: {}", names.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishable_reads_publish_and_refuses_unlisted_private_packages() {
        let meta = serde_json::json!({"packages": [
            {"name": "pooldbg-dumpfile", "publish": null},
            {"name": "pool", "publish": []},
            {"name": "pooldbg", "publish": null},
        ]});
        assert_eq!(
            publishable(&meta).unwrap(),
            vec!["pooldbg".to_string(), "pooldbg-dumpfile".to_string()]
        );
        let bad = serde_json::json!({"packages": [{"name": "pooldbg-new", "publish": []}]});
        let e = publishable(&bad).unwrap_err();
        assert!(e.contains("pooldbg-new"), "{e}");
    }

    #[test]
    fn the_real_workspace_publishes_every_library_crate() {
        let meta = crate::plugins::cargo_metadata(&crate::workspace_root()).unwrap();
        let names = publishable(&meta).unwrap();
        for want in [
            "pooldbg-dumpfile",
            "pooldbg-paging",
            "pooldbg-ntkernel",
            "pooldbg-poollayout",
            "pooldbg-pooltag",
            "pooldbg-plugin-abi",
            "pooldbg-plugin-sdk",
            "pooldbg-testkit",
            "pooldbg-commands",
            "pooldbg-poolreport",
            "pooldbg-engine",
            "pooldbg",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
        }
    }
}
