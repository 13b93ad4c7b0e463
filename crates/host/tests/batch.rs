//! `pooldbg batch` end to end on testkit dumps: folders, globs, `@list`, a corrupt dump recorded
//! while the others go on, `--jobs 2`, `--resume`, and the per-command objects checked against
//! the manifests (build, bugcheck, !poolused's tags).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use testkit::{Container, KernelBuilder, WriteOptions, write_with_manifest};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pooldbg"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh folder under target/tmp for one test.
fn folder(name: &str) -> PathBuf {
    let dir = root()
        .join("target/tmp")
        .join(format!("batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a testkit dump (its manifest beside it as .json, which batch must not take as a dump).
fn dump(
    dir: &Path,
    name: &str,
    profile: &str,
    seed: u64,
    container: Container,
) -> (PathBuf, Value) {
    let p = testkit::profile(profile).unwrap();
    let kernel = KernelBuilder::standard(p)
        .seed(seed)
        .bugcheck(0xe2 + u32::try_from(seed).unwrap(), [1, 2, 3, 4])
        .memory_mib(32)
        .build()
        .unwrap();
    let path = dir.join(format!("{name}.{}", container.extension()));
    write_with_manifest(&kernel, container, &path, &WriteOptions::default()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
    (path, manifest)
}

fn run(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn by_path(docs: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for d in docs {
        let p = d["dump"]["path"].as_str().unwrap().to_string();
        m.entry(p).or_default().push(d.clone());
    }
    m
}

#[test]
fn a_folder_with_a_corrupt_dump_records_it_and_analyses_the_rest() {
    let dir = folder("mixed");
    let (a, ma) = dump(&dir, "a", "win7sp1-x64", 1, Container::Full);
    let (b, mb) = dump(&dir, "b", "xpsp3-x86", 2, Container::Full);
    let corrupt = dir.join("corrupt.dmp");
    std::fs::write(&corrupt, b"PAGEDU64 this is not a dump at all").unwrap();
    let out = dir.join("out.jsonl");
    let o = run(&[
        "batch",
        dir.to_str().unwrap(),
        "-c",
        "info; !poolused 2",
        "--jobs",
        "2",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let docs = lines(&out);
    let m = by_path(&docs);
    assert_eq!(m.len(), 3, "{m:?}");
    // The corrupt dump: one object with the error naming what was wrong, no command.
    let bad = &m[corrupt.to_str().unwrap()];
    assert_eq!(bad.len(), 1);
    assert!(bad[0]["error"].as_str().unwrap().len() > 10, "{bad:?}");
    assert!(bad[0].get("command").is_none());
    for (path, manifest) in [(&a, &ma), (&b, &mb)] {
        let got = &m[path.to_str().unwrap()];
        assert_eq!(got.len(), 2, "{got:?}");
        let info = got.iter().find(|d| d["command"] == "info").unwrap();
        let pu = got.iter().find(|d| d["command"] == "!poolused").unwrap();
        for d in [info, pu] {
            assert_eq!(d["dump"]["build"], manifest["info"]["build"]);
            let code = u64::from_str_radix(
                d["dump"]["bugcheck_code"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("0x"),
                16,
            )
            .unwrap();
            assert_eq!(code, manifest["info"]["bugcheck_code"].as_u64().unwrap());
        }
        // The per-command object is the CLI's: target, sources, rows.
        assert_eq!(info["target"]["build"], manifest["info"]["build"]);
        assert!(pu.get("error").is_none(), "{pu}");
        let rows = pu["rows"].as_array().unwrap();
        for want in manifest["poolused"].as_array().unwrap() {
            let tag = want["tag"].as_str().unwrap();
            let row = rows
                .iter()
                .find(|r| r["tag"].as_str().map(str::trim_end) == Some(tag.trim_end()))
                .unwrap_or_else(|| panic!("{tag} missing in {}", path.display()));
            assert_eq!(row["nonpaged_bytes"], want["nonpaged_bytes"], "{tag}");
            assert_eq!(row["paged_bytes"], want["paged_bytes"], "{tag}");
        }
    }
    // The same objects as `pooldbg -z DUMP -c info --format json` prints, plus `dump`.
    let cli = run(&["-z", a.to_str().unwrap(), "-c", "info", "--format", "json"]);
    let mut cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let mut batch = m[a.to_str().unwrap()]
        .iter()
        .find(|d| d["command"] == "info")
        .unwrap()
        .clone();
    batch.as_object_mut().unwrap().remove("dump");
    // The symbol-source note names nothing dump-specific; the objects must be equal.
    cli.as_object_mut().unwrap().remove("timing");
    assert_eq!(batch, cli);
}

#[test]
fn resume_skips_dumps_in_the_output_and_adds_new_ones() {
    let dir = folder("resume");
    let (a, _) = dump(&dir, "a", "win7sp1-x64", 1, Container::Full);
    let out = dir.join("out.jsonl");
    let o = run(&[
        "batch",
        dir.to_str().unwrap(),
        "-c",
        "info",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lines(&out).len(), 1);
    // An interrupted run's cut last line is dropped, a new dump is added, `a` is not redone.
    let mut text = std::fs::read_to_string(&out).unwrap();
    text.push_str("{\"dump\":{\"path\":\"cut");
    std::fs::write(&out, text).unwrap();
    let (b, _) = dump(&dir, "b", "win7sp1-x64", 3, Container::Raw);
    let o = run(&[
        "batch",
        dir.to_str().unwrap(),
        "-c",
        "info",
        "-o",
        out.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1 dumps analysed, 0 failed, 1 skipped"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = by_path(&lines(&out));
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[a.to_str().unwrap()].len(), 1);
    assert_eq!(m[b.to_str().unwrap()].len(), 1);
    // --resume without -o is a usage error.
    let o = run(&["batch", dir.to_str().unwrap(), "-c", "info", "--resume"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn globs_and_list_files_name_dumps_and_stdout_gets_the_lines() {
    let dir = folder("glob");
    let (a, _) = dump(&dir, "one", "win7sp1-x64", 1, Container::Full);
    let (b, _) = dump(&dir, "two", "xpsp3-x86", 2, Container::Full);
    let list = dir.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "# dumps\n{}\n{}\n",
            b.display(),
            dir.join("missing.dmp").display()
        ),
    )
    .unwrap();
    let glob = format!("{}/on*.dmp", dir.display());
    let o = run(&[
        "batch",
        &glob,
        &format!("@{}", list.display()),
        "-c",
        "info",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let docs: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let m = by_path(&docs);
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[a.to_str().unwrap()][0]["command"], "info");
    assert_eq!(m[b.to_str().unwrap()][0]["command"], "info");
    let missing = &m[dir.join("missing.dmp").to_str().unwrap()][0];
    assert!(
        missing["error"].as_str().unwrap().contains("missing.dmp"),
        "{missing}"
    );
}
