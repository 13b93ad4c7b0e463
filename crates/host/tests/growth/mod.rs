//! Shared by the diff and report tests: growth series of one machine written to disk, and the
//! binary run with its JSON output parsed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use testkit::{Container, WriteOptions, pairs, write_with_manifest};

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pooldbg"))
}

/// Writes a growth series of `n` dumps of `profile`; returns their paths and manifests.
pub fn series(profile: &str, n: usize, container: Container) -> Vec<(PathBuf, testkit::Manifest)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tmp")
        .join(format!("diff-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    pairs::growth_series(testkit::profile(profile).unwrap(), n)
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let k = b.memory_mib(32).build().unwrap();
            let path = dir.join(format!(
                "{profile}-{}-{n}-{i}.{}",
                container.slug(),
                container.extension()
            ));
            write_with_manifest(&k, container, &path, &WriteOptions::default()).unwrap();
            (path, k.manifest)
        })
        .collect()
}

pub fn run(args: &[&str]) -> (Value, String) {
    let o = Command::new(exe())
        .args(args)
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{args:?}: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = serde_json::from_str(out.lines().next().unwrap_or("null")).unwrap_or(Value::Null);
    (v, out)
}
