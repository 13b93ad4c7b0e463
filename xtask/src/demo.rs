//! `cargo xtask demo [--release]`: builds the host and the plugins, writes a few standard testkit
//! dumps into target/demo/, and runs a kd-style session on each so it reads like WinDbg.
//!
//! Commands whose plugin is missing print their error and the demo goes on; the demo fails only
//! when the host's own commands (`info`, `lm`) fail on a dump.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{Container, KernelBuilder, WriteOptions, write_with_manifest};

/// The dumps of the demo: (profile, container).
fn dumps() -> Vec<(&'static str, Container)> {
    let bitmap = Container::ALL
        .iter()
        .copied()
        .find(|c| matches!(c, Container::Bitmap { .. }))
        .unwrap_or(Container::Full);
    vec![
        ("xpsp3-x86", Container::Full),
        ("win7sp1-x64", bitmap),
        ("win10-1809-x64", Container::Full),
        ("win11-21h2-x64", Container::Full),
    ]
}

/// An allocated block from the manifest (`!pool`'s address): the first allocated block's header
/// plus 0x10, inside its body — a classic pool block, or on the segment heap a VS chunk's pool header.
fn pool_address(manifest: &serde_json::Value) -> Option<u64> {
    let hex = |v: &serde_json::Value, key: &str| {
        let text = v.get(key)?.as_str()?;
        u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
    };
    let allocated = |b: &&serde_json::Value| {
        b.get("state").and_then(|s| s.as_str()) == Some("allocated")
            && b.get("tag").and_then(|t| t.as_str()) != Some("")
    };
    let classic = manifest
        .get("blocks")
        .and_then(|b| b.as_array())
        .and_then(|blocks| blocks.iter().find(allocated))
        .and_then(|b| hex(b, "address"));
    let vs = || {
        let chunks = manifest.pointer("/segment_heap/vs_chunks")?.as_array()?;
        hex(chunks.iter().find(allocated)?, "pool_header")
    };
    Some(classic.or_else(vs)? + 0x10)
}

/// Runs the demo.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let release = match args {
        [] => false,
        [a] if a == "--release" => true,
        other => {
            return Err(format!(
                "demo: unknown arguments {other:?} (demo [--release])"
            ));
        }
    };
    let profile = if release { "release" } else { "debug" };
    eprintln!(
        "==> cargo build --workspace{}",
        if release { " --release" } else { "" }
    );
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.current_dir(root).args(["build", "--workspace"]);
    if release {
        build.arg("--release");
    }
    let status = build.status().map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    let exe: PathBuf = root
        .join("target")
        .join(profile)
        .join(format!("pooldbg{}", std::env::consts::EXE_SUFFIX));
    let out = root.join("target").join("demo");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let mut host_failures = Vec::new();
    for (name, container) in dumps() {
        let p = testkit::profile(name).ok_or_else(|| format!("no testkit profile {name}"))?;
        let kernel = KernelBuilder::standard(p)
            .seed(1)
            .memory_mib(64)
            .build()
            .map_err(|e| format!("{name}: {e}"))?;
        let path = out.join(format!(
            "{name}-{}.{}",
            container.slug(),
            container.extension()
        ));
        write_with_manifest(&kernel, container, &path, &WriteOptions::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let manifest: serde_json::Value = std::fs::read(path.with_extension("json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut cmds = String::from("info; lm; !vm; !poolused 102");
        if let Some(a) = pool_address(&manifest) {
            cmds.push_str(&format!("; !pool {a:x}"));
        }
        cmds.push_str("; !poolfind Leak; !frag");
        println!();
        println!(
            "################ {name} ({}) ################",
            container.slug()
        );
        println!("$ pooldbg -z {} -c \"{cmds}\"", path.display());
        let status = Command::new(&exe)
            .arg("-z")
            .arg(&path)
            .arg("-c")
            .arg(&cmds)
            .arg("-q")
            .status()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !status.success() {
            println!(
                "(exit status {}: a command failed, see above)",
                status.code().unwrap_or(-1)
            );
        }
        // The host's own commands must work on every dump.
        let host = Command::new(&exe)
            .arg("-z")
            .arg(&path)
            .args(["-c", "info; lm", "--format", "json"])
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !host.status.success() {
            host_failures.push(format!(
                "{name}: info/lm failed: {}",
                String::from_utf8_lossy(&host.stdout)
            ));
        }
    }
    if host_failures.is_empty() {
        Ok(())
    } else {
        Err(host_failures.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_address_is_inside_an_allocated_block() {
        let m = serde_json::json!({"blocks": [
            {"address": "0x1000", "state": "free"},
            {"address": "0x2000", "state": "allocated"},
        ]});
        assert_eq!(pool_address(&m), Some(0x2010));
        assert_eq!(pool_address(&serde_json::json!({})), None);
        let seg = serde_json::json!({"blocks": [], "segment_heap": {"vs_chunks": [
            {"chunk": "0x5000", "pool_header": "0x5010", "state": "allocated", "tag": ""},
            {"chunk": "0x6000", "pool_header": "0x6010", "state": "allocated", "tag": "Leak"},
        ]}});
        assert_eq!(pool_address(&seg), Some(0x6020));
    }

    #[test]
    fn four_dumps_of_both_widths_and_pool_models() {
        let d = dumps();
        assert_eq!(d.len(), 4);
        assert!(d.iter().all(|(n, _)| testkit::profile(n).is_some()));
    }
}
