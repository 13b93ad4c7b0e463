//! `cargo xtask msrv`: the workspace's `rust-version` holds for what it depends on (issue #22).
//!
//! Three checks, each cheap enough for every CI run:
//!
//! 1. every package of the resolved dependency graph (`cargo metadata`, from Cargo.lock) that
//!    declares a `rust-version` declares one no newer than the workspace's: a dependency that needs
//!    a newer compiler would make our `rust-version` a lie for everyone who builds us;
//! 2. our own code uses no standard-library API newer than it: clippy's `incompatible_msrv`
//!    (denied in `[workspace.lints.clippy]`; it reads `rust-version` from Cargo.toml) runs with
//!    `cargo xtask ci`'s clippy step, not here;
//! 3. `pooldbg-ntkernel` builds and passes its tests with `--no-default-features` (no `pdb`, no
//!    `liblzma`, no embedded profiles), as a library user may build it (`cargo xtask ci` runs it).
//!
//! Language features newer than `rust-version` are not caught by 1 and 2; building with that exact
//! toolchain (`rustup toolchain install 1.88`, `cargo +1.88 check --workspace`) does, and `--toolchain`
//! runs it when the toolchain is installed.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A `rust-version` as (major, minor, patch); a missing part is 0.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// The workspace's `rust-version` (the one its members declare) and the dependencies whose
/// `rust-version` is newer, as `name version (rust-version X)`.
pub fn newer_dependencies(meta: &Value) -> Result<(String, Vec<String>), String> {
    let packages = meta
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or("cargo metadata: no `packages` array")?;
    let members: Vec<&str> = meta
        .get("workspace_members")
        .and_then(|m| m.as_array())
        .ok_or("cargo metadata: no `workspace_members`")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let ours: Vec<&str> = packages
        .iter()
        .filter(|p| {
            p.get("id")
                .and_then(|i| i.as_str())
                .is_some_and(|i| members.contains(&i))
        })
        .filter_map(|p| p.get("rust_version").and_then(|r| r.as_str()))
        .collect();
    let Some(&msrv_text) = ours.first() else {
        return Err("no workspace member declares a rust-version".into());
    };
    if let Some(other) = ours.iter().find(|r| **r != msrv_text) {
        return Err(format!(
            "workspace members declare different rust-versions: {msrv_text} and {other}"
        ));
    }
    let msrv = parse_version(msrv_text)
        .ok_or_else(|| format!("the workspace's rust-version {msrv_text} does not parse"))?;
    let mut newer = Vec::new();
    for p in packages {
        let id = p.get("id").and_then(|i| i.as_str()).unwrap_or_default();
        if members.contains(&id) {
            continue;
        }
        let Some(rv) = p.get("rust_version").and_then(|r| r.as_str()) else {
            continue;
        };
        let name = p.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let version = p.get("version").and_then(|n| n.as_str()).unwrap_or("?");
        match parse_version(rv) {
            Some(v) if v <= msrv => {}
            Some(_) => newer.push(format!("{name} {version} (rust-version {rv})")),
            None => newer.push(format!(
                "{name} {version} (rust-version {rv:?} does not parse)"
            )),
        }
    }
    newer.sort();
    Ok((msrv_text.to_string(), newer))
}

/// `cargo xtask msrv [--toolchain]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let toolchain = match args {
        [] => false,
        [a] if a == "--toolchain" => true,
        _ => return Err("usage: cargo xtask msrv [--toolchain]".into()),
    };
    // The resolved graph, this machine's packages only: others' sources may not be downloaded.
    let host = crate::dist::host_triple()?;
    let meta = crate::plugins::cargo_metadata_with(
        root,
        &["--locked", "--filter-platform", host.as_str()],
    )?;
    let (msrv, newer) = newer_dependencies(&meta)?;
    if !newer.is_empty() {
        return Err(format!(
            "rust-version is {msrv}, but these dependencies need a newer Rust: {}",
            newer.join(", ")
        ));
    }
    println!("msrv: every dependency in Cargo.lock accepts rust-version {msrv}");
    if toolchain {
        // rustup's `+TOOLCHAIN` works through the `cargo` proxy only.
        let mut check = Command::new("cargo");
        check
            .current_dir(root)
            .env_remove("RUSTC")
            .env_remove("CARGO")
            .args([&format!("+{msrv}"), "check", "--workspace", "--locked"]);
        crate::step(
            &format!("cargo +{msrv} check --workspace (the declared rust-version itself)"),
            check,
        )?;
    }
    Ok(())
}

/// `cargo test -p pooldbg-ntkernel --no-default-features`: the library without pdb, liblzma and the
/// embedded profiles.
pub fn ntkernel_without_default_features(root: &Path) -> Result<(), String> {
    let mut test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    test.current_dir(root).args([
        "test",
        "-p",
        "pooldbg-ntkernel",
        "--no-default-features",
        "--lib",
        "--tests",
    ]);
    crate::step(
        "cargo test -p pooldbg-ntkernel --no-default-features (no pdb, liblzma, profiles)",
        test,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(parse_version("1.88"), Some((1, 88, 0)));
        assert_eq!(parse_version("1.88.1"), Some((1, 88, 1)));
        assert_eq!(parse_version("1"), Some((1, 0, 0)));
        assert!(parse_version("1.x").is_none());
        assert!(parse_version("1.2.3.4").is_none());
        assert!(parse_version("1.88").unwrap() < parse_version("1.90").unwrap());
    }

    #[test]
    fn a_dependency_newer_than_the_workspace_is_named() {
        let meta = json!({
            "workspace_members": ["a 0.1.0", "b 0.1.0"],
            "packages": [
                {"id": "a 0.1.0", "name": "a", "version": "0.1.0", "rust_version": "1.88"},
                {"id": "b 0.1.0", "name": "b", "version": "0.1.0", "rust_version": "1.88"},
                {"id": "old", "name": "old", "version": "1.0.0", "rust_version": "1.60"},
                {"id": "none", "name": "none", "version": "1.0.0", "rust_version": null},
                {"id": "new", "name": "new", "version": "2.0.0", "rust_version": "1.89"},
            ]
        });
        let (msrv, newer) = newer_dependencies(&meta).unwrap();
        assert_eq!(msrv, "1.88");
        assert_eq!(newer, vec!["new 2.0.0 (rust-version 1.89)".to_string()]);
    }

    #[test]
    fn members_must_agree() {
        let meta = json!({
            "workspace_members": ["a", "b"],
            "packages": [
                {"id": "a", "name": "a", "version": "0", "rust_version": "1.88"},
                {"id": "b", "name": "b", "version": "0", "rust_version": "1.80"},
            ]
        });
        assert!(newer_dependencies(&meta).unwrap_err().contains("different"));
    }
}
