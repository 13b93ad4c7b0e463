//! `cargo xtask plugins [--release]`: builds the host and the command plugins, then runs
//! `pooldbg plugins` to list what the host finds.
//!
//! Also the shared part of `dist` and `install`: which workspace packages are command plugins (a
//! `cdylib` under `plugins/`, not under `plugins/examples/`), building them with the host, and
//! reading `pooldbg plugins`' listing back.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A command plugin of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPackage {
    /// Cargo package name (`pooldbg-vm`), for `cargo build -p`.
    pub package: String,
    /// Library target name (`pooldbg_vm`): the file is `{DLL_PREFIX}{lib}{DLL_SUFFIX}`.
    pub lib: String,
}

impl PluginPackage {
    /// The library's file name on this platform (`libpooldbg_vm.so`, `pooldbg_vm.dll`).
    pub fn file_name(&self) -> String {
        lib_file(&self.lib)
    }
}

/// `{DLL_PREFIX}{stem}{DLL_SUFFIX}` of this platform.
pub fn lib_file(stem: &str) -> String {
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// What `cargo metadata` says about the workspace that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// The host package's version (the release version).
    pub version: String,
    /// Where cargo writes build output (honours `CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
    /// The command plugins, sorted by package name.
    pub plugins: Vec<PluginPackage>,
}

/// Reads `cargo metadata --no-deps` for the workspace at `root`.
pub fn workspace(root: &Path) -> Result<Workspace, String> {
    let meta = cargo_metadata(root)?;
    from_metadata(&meta, root)
}

/// `cargo metadata --no-deps` of the workspace at `root`, parsed (also used by `cargo xtask package`).
pub fn cargo_metadata(root: &Path) -> Result<serde_json::Value, String> {
    cargo_metadata_with(root, &["--no-deps"])
}

/// `cargo metadata --format-version 1` with `args` (`--no-deps`, `--filter-platform T`, …), parsed.
pub fn cargo_metadata_with(root: &Path, args: &[&str]) -> Result<serde_json::Value, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1"])
        .args(args)
        .output()
        .map_err(|e| format!("cargo metadata: could not start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: not JSON: {e}"))
}

/// The part of [`workspace`] that reads the JSON (`root` is the workspace root).
pub fn from_metadata(meta: &serde_json::Value, root: &Path) -> Result<Workspace, String> {
    let packages = meta
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or("cargo metadata: no `packages` array")?;
    let target_dir = meta
        .get("target_directory")
        .and_then(|t| t.as_str())
        .map(PathBuf::from)
        .ok_or("cargo metadata: no `target_directory`")?;
    let mut version = None;
    let mut plugins = Vec::new();
    let plugin_root = root.join("plugins");
    let examples = plugin_root.join("examples");
    for p in packages {
        let name = p.get("name").and_then(|n| n.as_str()).unwrap_or_default();
        if name == "pooldbg" {
            version = p.get("version").and_then(|v| v.as_str()).map(String::from);
        }
        let manifest = Path::new(
            p.get("manifest_path")
                .and_then(|m| m.as_str())
                .unwrap_or_default(),
        );
        if !manifest.starts_with(&plugin_root) || manifest.starts_with(&examples) {
            continue;
        }
        let targets = p.get("targets").and_then(|t| t.as_array());
        let cdylib = targets.into_iter().flatten().find(|t| {
            t.get("crate_types")
                .and_then(|c| c.as_array())
                .is_some_and(|c| c.iter().any(|k| k.as_str() == Some("cdylib")))
        });
        if let Some(lib) = cdylib.and_then(|t| t.get("name")).and_then(|n| n.as_str()) {
            plugins.push(PluginPackage {
                package: name.to_string(),
                lib: lib.replace('-', "_"),
            });
        }
    }
    plugins.sort_by(|a, b| a.package.cmp(&b.package));
    if plugins.is_empty() {
        return Err("cargo metadata: no command plugin (a cdylib under plugins/)".into());
    }
    Ok(Workspace {
        version: version.ok_or("cargo metadata: no `pooldbg` package")?,
        target_dir,
        plugins,
    })
}

/// Builds the host and the command plugins (not the examples); returns the folder holding them.
pub fn build(root: &Path, ws: &Workspace, release: bool) -> Result<PathBuf, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args(["build", "-p", "pooldbg"]);
    for p in &ws.plugins {
        cmd.args(["-p", &p.package]);
    }
    if release {
        cmd.arg("--release");
    }
    let title = format!(
        "cargo build{} -p pooldbg {}",
        if release { " --release" } else { "" },
        ws.plugins
            .iter()
            .map(|p| format!("-p {}", p.package))
            .collect::<Vec<_>>()
            .join(" ")
    );
    crate::step(&title, cmd)?;
    let dir = ws
        .target_dir
        .join(if release { "release" } else { "debug" });
    for f in std::iter::once(host_file()).chain(ws.plugins.iter().map(PluginPackage::file_name)) {
        if !dir.join(&f).is_file() {
            return Err(format!("{}: not built", dir.join(f).display()));
        }
    }
    Ok(dir)
}

/// `pooldbg` or `pooldbg.exe`.
pub fn host_file() -> String {
    format!("pooldbg{}", std::env::consts::EXE_SUFFIX)
}

/// One plugin line of `pooldbg plugins`: its name and the library's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The plugin's name as it describes itself.
    pub name: String,
    /// The library the host loaded it from.
    pub path: PathBuf,
}

/// What `pooldbg plugins` printed: the plugins found and the rejected lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Plugins loaded.
    pub found: Vec<Found>,
    /// `path: reason` lines of rejected files.
    pub rejected: Vec<String>,
}

/// Reads `pooldbg plugins`' text (`plugins: N`, then `  NAME VERSION  PATH` with its commands
/// indented further, then `rejected: N` and `  PATH: REASON`).
pub fn parse_listing(text: &str) -> Listing {
    #[derive(PartialEq)]
    enum Part {
        Head,
        Plugins,
        Rejected,
    }
    let mut part = Part::Head;
    let mut out = Listing::default();
    for line in text.lines() {
        if line.starts_with("plugins:") {
            part = Part::Plugins;
            continue;
        }
        if line.starts_with("rejected:") {
            part = Part::Rejected;
            continue;
        }
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue; // a command line of the plugin above
        }
        match part {
            Part::Head => {}
            Part::Plugins => {
                // NAME VERSION  PATH (two spaces before the path, which may hold spaces).
                if let Some((head, path)) = rest.split_once("  ") {
                    let name = head.split(' ').next().unwrap_or_default();
                    out.found.push(Found {
                        name: name.to_string(),
                        path: PathBuf::from(path.trim()),
                    });
                }
            }
            Part::Rejected => out.rejected.push(rest.to_string()),
        }
    }
    out
}

/// Runs `exe plugins` with no plugin path from the environment, so that only the rule of
/// CONTRACT.md (the executable's folder, its `plugins/`, `../lib/pooldbg/plugins`) applies.
pub fn list(exe: &Path) -> Result<(String, Listing), String> {
    let out = Command::new(exe)
        .arg("plugins")
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .map_err(|e| format!("{}: could not start: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{} plugins failed ({}): {}{}",
            exe.display(),
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let listing = parse_listing(&text);
    Ok((text, listing))
}

/// Checks that the host at `exe` loads every plugin of `ws` from `dir` and rejects nothing.
pub fn check_found(exe: &Path, ws: &Workspace, dir: &Path) -> Result<Listing, String> {
    let (text, listing) = list(exe)?;
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut missing = Vec::new();
    for p in &ws.plugins {
        let want = dir.join(p.file_name());
        let hit = listing
            .found
            .iter()
            .any(|f| std::fs::canonicalize(&f.path).is_ok_and(|f| f == want));
        if !hit {
            missing.push(want.display().to_string());
        }
    }
    if !missing.is_empty() || !listing.rejected.is_empty() {
        return Err(format!(
            "{} plugins: expected {} loaded and nothing rejected; missing: {:?}\n{text}",
            exe.display(),
            ws.plugins.len(),
            missing
        ));
    }
    Ok(listing)
}

/// `cargo xtask plugins [--release]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let release = match args {
        [] => false,
        [a] if a == "--release" => true,
        other => {
            return Err(format!(
                "plugins: unknown arguments {other:?} (plugins [--release])"
            ));
        }
    };
    let ws = workspace(root)?;
    let dir = build(root, &ws, release)?;
    let exe = dir.join(host_file());
    eprintln!("==> {} plugins", exe.display());
    let (text, _) = list(&exe)?;
    print!("{text}");
    check_found(&exe, &ws, &dir)?;
    eprintln!(
        "the host finds all {} command plugins beside it: {}",
        ws.plugins.len(),
        ws.plugins
            .iter()
            .map(|p| p.package.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_plugins_are_the_cdylibs_under_plugins_without_the_examples() {
        let root = crate::workspace_root();
        let meta = serde_json::json!({
            "target_directory": "/t",
            "packages": [
                {"name": "pooldbg", "version": "1.2.3",
                 "manifest_path": root.join("crates/host/Cargo.toml"),
                 "targets": [{"name": "pooldbg", "crate_types": ["bin"]}]},
                {"name": "pooldbg-vm", "version": "0.1.0",
                 "manifest_path": root.join("plugins/vm/Cargo.toml"),
                 "targets": [{"name": "pooldbg_vm", "crate_types": ["cdylib", "rlib"]},
                             {"name": "vm", "crate_types": ["bin"]}]},
                {"name": "pooldbg-commands", "version": "0.1.0",
                 "manifest_path": root.join("plugins/poolcmds/Cargo.toml"),
                 "targets": [{"name": "pooldbg_commands", "crate_types": ["lib"]}]},
                {"name": "pooldbg-example-hello", "version": "0.1.0",
                 "manifest_path": root.join("plugins/examples/hello-rust/Cargo.toml"),
                 "targets": [{"name": "pooldbg_example_hello", "crate_types": ["cdylib"]}]},
            ]
        });
        let ws = from_metadata(&meta, &root).unwrap();
        assert_eq!(ws.version, "1.2.3");
        assert_eq!(ws.target_dir, PathBuf::from("/t"));
        assert_eq!(
            ws.plugins,
            vec![PluginPackage {
                package: "pooldbg-vm".into(),
                lib: "pooldbg_vm".into()
            }]
        );
        assert_eq!(
            ws.plugins[0].file_name(),
            format!(
                "{}pooldbg_vm{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            )
        );
    }

    #[test]
    fn the_real_workspace_has_the_command_plugins_and_not_the_examples() {
        let ws = workspace(&crate::workspace_root()).unwrap();
        let names: Vec<_> = ws.plugins.iter().map(|p| p.package.as_str()).collect();
        for want in ["pool", "pooldbg-frag", "pooldbg-vm", "poolused"] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("example") || *n == "pooldbg-commands"),
            "{names:?}"
        );
        assert!(!ws.version.is_empty());
    }

    #[test]
    fn the_listing_is_read_back() {
        let text = "plugin search path:\n  /opt/p/bin\n  note: x\nplugins: 2\n  vm 0.1.0  /opt/p/lib/pooldbg/plugins/libpooldbg_vm.so\n    !vm  memory  (usage: !vm [flags])\n  pool 0.1.0  /a b/libpooldbg_pool.so\n    !pool  a  (usage: !pool)\n    !poolfind  b  (usage: !poolfind)\nrejected: 1\n  /x/libpooldbg_bad.so: not a plugin\n";
        let l = parse_listing(text);
        assert_eq!(
            l.found,
            vec![
                Found {
                    name: "vm".into(),
                    path: "/opt/p/lib/pooldbg/plugins/libpooldbg_vm.so".into()
                },
                Found {
                    name: "pool".into(),
                    path: "/a b/libpooldbg_pool.so".into()
                }
            ]
        );
        assert_eq!(l.rejected, vec!["/x/libpooldbg_bad.so: not a plugin"]);
        assert_eq!(
            parse_listing("plugins: 0\nrejected: 0\n"),
            Listing::default()
        );
    }
}
