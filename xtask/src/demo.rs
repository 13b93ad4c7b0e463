//! `cargo xtask demo [--debug]`: builds the host and the plugins (release, as `dist` and `install`
//! use them), writes a few standard testkit
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

/// The command line of `demo` (clap).
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask demo", no_binary_name = true)]
struct Cli {
    /// Build in debug instead (the release build is the one `dist` and `install` reuse).
    #[arg(long, conflicts_with = "release")]
    debug: bool,
    /// The default; kept so that `demo --release` still works.
    #[arg(long, hide = true)]
    release: bool,
}

/// The answer that matters on one dump: the tag holding the most nonpaged bytes, its bytes and
/// the driver that owns it, from `!poolused 102`'s JSON (sorted by nonpaged bytes, with the
/// driver images searched for tags the database does not know).
pub fn top_leak(poolused_json: &str) -> Option<(String, u64, String)> {
    let doc: serde_json::Value = serde_json::from_str(poolused_json.lines().next()?).ok()?;
    let row = doc.get("rows")?.as_array()?.first()?;
    let tag = row.get("tag")?.as_str()?.to_string();
    let bytes = row.get("nonpaged_bytes")?.as_u64()?;
    let owner = row
        .get("binary")
        .and_then(|b| b.as_str())
        .filter(|b| !b.is_empty())
        .unwrap_or("an unknown driver")
        .to_string();
    Some((tag, bytes, owner))
}

/// Runs the demo.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(args).map_err(|e| format!("demo: {e}"))?;
    let release = !cli.debug;
    // Progress from the first second: say what is about to take long, then let cargo show it.
    eprintln!(
        "==> building pooldbg and its plugins ({}; the first build takes several minutes on two \
         cores, later ones seconds; `dist` and `install` reuse it)",
        if release { "release" } else { "debug" }
    );
    let ws = crate::plugins::workspace(root)?;
    let bin_dir = crate::plugins::build(root, &ws, release)?;
    let exe: PathBuf = bin_dir.join(crate::plugins::host_file());
    let out = root.join("target").join("demo");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let mut host_failures = Vec::new();
    let mut answers = Vec::new();
    for (name, container) in dumps() {
        eprintln!("==> writing the {name} sample dump");
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
        let poolused = Command::new(&exe)
            .arg("-z")
            .arg(&path)
            .args(["-c", "!poolused 102", "--format", "json", "-q"])
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        answers.push(match top_leak(&String::from_utf8_lossy(&poolused.stdout)) {
            Some((tag, bytes, owner)) => {
                format!("  {name:<16} {tag} holds the most nonpaged pool ({bytes} bytes): {owner}")
            }
            None => format!("  {name:<16} (!poolused gave no answer; see its output above)"),
        });
    }
    // The one answer that matters, last, where the reader's eye is.
    println!();
    println!("==> which driver leaks (the top nonpaged tag of !poolused 102 on each dump):");
    for a in &answers {
        println!("{a}");
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
    fn the_answer_is_the_top_nonpaged_tag_and_its_owner() {
        let j = r#"{"rows":[{"tag":"Leak","nonpaged_bytes":4096,"binary":"leaky.sys"},{"tag":"Proc","nonpaged_bytes":10}]}"#;
        assert_eq!(top_leak(j), Some(("Leak".into(), 4096, "leaky.sys".into())));
        let j = r#"{"rows":[{"tag":"Zzzz","nonpaged_bytes":1,"binary":""}]}"#;
        assert_eq!(top_leak(j).unwrap().2, "an unknown driver");
        assert_eq!(top_leak(r#"{"error":"x"}"#), None);
        assert_eq!(top_leak(""), None);
        use clap::Parser;
        assert!(!Cli::try_parse_from(Vec::<String>::new()).unwrap().debug);
        assert!(Cli::try_parse_from(["--release"]).is_ok());
        assert!(Cli::try_parse_from(["--debug", "--release"]).is_err());
        assert!(Cli::try_parse_from(["--bogus"]).is_err());
    }

    #[test]
    fn four_dumps_of_both_widths_and_pool_models() {
        let d = dumps();
        assert_eq!(d.len(), 4);
        assert!(d.iter().all(|(n, _)| testkit::profile(n).is_some()));
    }
}
