//! `cargo xtask install [--prefix DIR] [--debug]`: installs a release build.
//!
//! `DIR/bin/pooldbg`, the command plugins in `DIR/lib/pooldbg/plugins/` (where the host looks,
//! `../lib/pooldbg/plugins` from its executable: CONTRACT.md, "Where plugins are found") and the C
//! header in `DIR/include/pooldbg_plugin.h`. `DIR` defaults to `~/.local` (`$HOME`, or
//! `%USERPROFILE%` on Windows), whose `bin/` is on `PATH` in most Linux desktop setups.
//!
//! Files are copied to a temporary name and renamed over the old ones, so a `pooldbg` running from
//! the prefix keeps its mapped files. Then it checks the result: the installed host, with no plugin
//! path in its environment, finds every plugin in `DIR/lib/pooldbg/plugins` and answers `info` and
//! `!vm` on a sample dump.

use std::path::{Path, PathBuf};

use crate::dist;
use crate::plugins::{self, Workspace};

/// Parsed arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// The prefix.
    pub prefix: PathBuf,
    /// Install the debug build (for tests) instead of the release build.
    pub debug: bool,
}

/// The default prefix: `~/.local`.
pub fn default_prefix() -> Result<PathBuf, String> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".local"))
        .ok_or_else(|| "no HOME: give the prefix with --prefix DIR".into())
}

/// The command line of `install` (clap).
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask install", no_binary_name = true)]
struct Cli {
    /// Install into DIR/bin and DIR/lib/pooldbg/plugins (default: ~/.local).
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
    /// Install the debug build (for tests) instead of the release build.
    #[arg(long)]
    debug: bool,
}

/// Parses `--prefix DIR` and `--debug`.
pub fn parse_args(args: &[String]) -> Result<Args, String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(args).map_err(|e| format!("install: {e}"))?;
    let prefix = match cli.prefix {
        Some(p) => p,
        None => default_prefix()?,
    };
    let prefix = std::path::absolute(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    Ok(Args {
        prefix,
        debug: cli.debug,
    })
}

/// Where things went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// `DIR/bin/pooldbg`.
    pub exe: PathBuf,
    /// `DIR/lib/pooldbg/plugins`.
    pub plugin_dir: PathBuf,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

/// Copies `from` to `to` through a temporary name in the same folder, then renames it into place.
fn put(from: &Path, to: &Path, executable: bool) -> Result<(), String> {
    let dir = to
        .parent()
        .ok_or_else(|| format!("{}: no parent", to.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.install-{}", std::process::id()));
    std::fs::copy(from, &tmp)
        .map_err(|e| format!("{} -> {}: {e}", from.display(), tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{} -> {}: {e}", tmp.display(), to.display())
    })
}

/// Installs the host and plugins built in `built` (and the header from `root`) under `prefix`.
pub fn install_into(
    root: &Path,
    ws: &Workspace,
    built: &Path,
    prefix: &Path,
) -> Result<Installed, String> {
    let exe = prefix.join("bin").join(plugins::host_file());
    let plugin_dir = prefix.join("lib").join("pooldbg").join("plugins");
    let mut files = Vec::new();
    put(&built.join(plugins::host_file()), &exe, true)?;
    files.push(exe.clone());
    for p in &ws.plugins {
        let to = plugin_dir.join(p.file_name());
        put(&built.join(p.file_name()), &to, true)?;
        files.push(to);
    }
    let header = prefix.join("include").join("pooldbg_plugin.h");
    put(
        &root.join("crates/plugin-abi/include/pooldbg_plugin.h"),
        &header,
        false,
    )?;
    files.push(header);
    Ok(Installed {
        exe,
        plugin_dir,
        files,
    })
}

/// Checks an installation: the host finds every plugin in `DIR/lib/pooldbg/plugins` (with no
/// plugin path in its environment) and answers `info` and `!vm` on a freshly written sample.
pub fn check(ws: &Workspace, installed: &Installed) -> Result<Vec<String>, String> {
    let mut log = Vec::new();
    plugins::check_found(&installed.exe, ws, &installed.plugin_dir)?;
    log.push(format!(
        "{} plugins: all {} found in {}",
        installed.exe.display(),
        ws.plugins.len(),
        installed.plugin_dir.display()
    ));
    let tmp = dist::fresh_temp_dir("install-check")?;
    let sample = dist::write_sample(&tmp)?;
    let info = dist::run_clean(&installed.exe, &tmp, &["info", &sample])?;
    dist::check_info(&info, &sample)?;
    log.push(format!("pooldbg info {sample}: ok"));
    let vm = dist::run_clean(&installed.exe, &tmp, &["-z", &sample, "-c", "!vm"])?;
    if vm.trim().is_empty() {
        return Err(format!("pooldbg -z {sample} -c !vm printed nothing"));
    }
    log.push(format!("pooldbg -z {sample} -c \"!vm\": ok"));
    std::fs::remove_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    Ok(log)
}

/// `cargo xtask install [--prefix DIR] [--debug]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let args = parse_args(args)?;
    let ws = plugins::workspace(root)?;
    let built = plugins::build(root, &ws, !args.debug)?;
    eprintln!("==> installing into {}", args.prefix.display());
    let installed = install_into(root, &ws, &built, &args.prefix)?;
    for f in &installed.files {
        println!("  {}", f.display());
    }
    eprintln!("==> checking the installation");
    for line in check(&ws, &installed)? {
        println!("  {line}");
    }
    let bin = args.prefix.join("bin");
    let on_path =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == bin));
    if !on_path {
        println!(
            "note: {} is not on PATH; add it, or run {}",
            bin.display(),
            installed.exe.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let a = parse_args(&s(&["--prefix", "/opt/pd"])).unwrap();
        assert_eq!(
            a,
            Args {
                prefix: PathBuf::from("/opt/pd"),
                debug: false
            }
        );
        let a = parse_args(&s(&["--debug", "--prefix", "rel"])).unwrap();
        assert!(a.debug && a.prefix.is_absolute() && a.prefix.ends_with("rel"));
        assert!(parse_args(&s(&["--prefix"])).is_err());
        assert!(parse_args(&s(&["--bogus"])).is_err());
        if std::env::var_os("HOME").is_some_and(|h| !h.is_empty()) {
            assert!(parse_args(&[]).unwrap().prefix.ends_with(".local"));
        }
    }

    /// Builds the host and plugins (debug; a no-op after `cargo xtask test`'s build), installs them
    /// into a temporary prefix and runs the installed host there.
    #[test]
    fn installs_into_a_temp_prefix_where_the_host_finds_its_plugins() {
        let root = crate::workspace_root();
        let ws = plugins::workspace(&root).unwrap();
        let built = plugins::build(&root, &ws, false).unwrap();
        let prefix = dist::fresh_temp_dir("install-test").unwrap();
        let installed = install_into(&root, &ws, &built, &prefix).unwrap();
        assert_eq!(installed.exe, prefix.join("bin").join(plugins::host_file()));
        assert_eq!(installed.plugin_dir, prefix.join("lib/pooldbg/plugins"));
        assert!(prefix.join("include/pooldbg_plugin.h").is_file());
        // Nothing but the installed files: no example plugin, no temporary leftovers.
        let in_plugins: Vec<_> = std::fs::read_dir(&installed.plugin_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(in_plugins.len(), ws.plugins.len(), "{in_plugins:?}");
        let log = check(&ws, &installed).unwrap();
        assert_eq!(log.len(), 3, "{log:?}");
        // Installing again over the first installation works (files renamed into place).
        install_into(&root, &ws, &built, &prefix).unwrap();
        // Without its plugins, the installed host's check fails: the check can fail.
        std::fs::remove_file(installed.plugin_dir.join(ws.plugins[0].file_name())).unwrap();
        let err = check(&ws, &installed).unwrap_err();
        assert!(err.contains(&ws.plugins[0].file_name()), "{err}");
        std::fs::remove_dir_all(&prefix).unwrap();
    }
}
