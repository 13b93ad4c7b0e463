//! `cargo xtask package`: every publishable crate of the workspace packages and builds on its own
//! (issue #22).
//!
//! `cargo package` with verification: each `.crate` is unpacked under `target/package/` and built there
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
    forget_stale_extractions(&names);
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root).arg("package");
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

/// Removes what an earlier `cargo package` extracted of our crates into the cargo home's registry
/// sources. Verifying several packages goes through a temporary local registry whose crates cargo
/// extracts into `$CARGO_HOME/registry/src/<hash>/NAME-VERSION`, and it reuses an extraction of the
/// same name and version as it finds it: a second run on a changed tree would verify a dependent
/// crate against the first run's sources (seen here: `pooldbg-commands` built against an older
/// `pooldbg-poollayout`). Only folders of our package names outside crates.io's index are removed.
fn forget_stale_extractions(names: &[String]) {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return;
    };
    for reg in registries.flatten() {
        if reg.file_name().to_string_lossy().starts_with("index.") {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(reg.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let ours = names.iter().any(|n| {
                file.strip_prefix(n.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
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
