//! The real Windows 11 ARM64 triage dump (`../shared/data/dumps/triage_arm64.dmp`, facts in its
//! README): identified fully by `info` and `lm`, and every pool command says ARM64 is not covered.
//! Skipped, with the reason printed, when the shared data is not there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use plugin_sdk::{Arch, Target};
use pooldbg::session::{Session, SessionOptions};
use serde_json::Value;

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pooldbg"))
}

fn run(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env_remove("POOLDBG_PLUGIN_PATH")
        .env_remove("_NT_SYMBOL_PATH")
        .output()
        .unwrap()
}

#[test]
fn the_session_identifies_the_arm64_dump_from_its_header_and_kdbg_copy() {
    let Some(path) = testdata::require("data/dumps/triage_arm64.dmp") else {
        return;
    };
    let session = Session::open(&path, &SessionOptions::default()).unwrap();
    let info = session.info();
    assert_eq!(info.arch, Arch::Arm64);
    assert_eq!(info.build, 22000);
    assert_eq!(info.version, "10.0.22000");
    assert_eq!(info.processors, 8);
    assert_eq!(info.pointer_size, 8);
    // KernBase from the triage KDBG copy.
    assert_eq!(info.kernel_base, 0xfffff803f2e00000);
    let modules = session.modules();
    assert_eq!(modules.len(), 245);
    assert!(modules[0].name.eq_ignore_ascii_case("ntoskrnl.exe"));
    assert_eq!(modules[0].size, 17_031_168);
    assert!(
        session
            .notes()
            .iter()
            .any(|n| n.contains("do not cover ARM64")),
        "{:?}",
        session.notes()
    );
}

#[test]
fn info_lm_and_the_pool_commands_on_the_arm64_dump() {
    let Some(path) = testdata::require("data/dumps/triage_arm64.dmp") else {
        return;
    };
    let d = path.to_str().unwrap();
    let o = run(&["--format", "json", "-z", d, "-c", "info; lm"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let docs: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let info = &docs[0]["rows"][0];
    assert_eq!(info["arch"], "arm64");
    assert_eq!(info["build"], 22000);
    assert_eq!(info["version"], "10.0.22000");
    assert_eq!(info["kernel_base"], "0xfffff803f2e00000");
    assert_eq!(info["kdbg"], "0xfffff803f3a00d00");
    assert_eq!(info["processors"], 8);
    let warnings = docs[0]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("do not cover ARM64 yet")),
        "{warnings:?}"
    );
    assert_eq!(docs[1]["rows"].as_array().unwrap().len(), 245);

    // lm: only hal.dll is `hal`; the HAL extension keeps its own name.
    let o = run(&["-z", d, "-c", "lm"]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let module_of = |file: &str| {
        text.lines()
            .find(|l| l.ends_with(file))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_string)
    };
    assert_eq!(module_of("\\hal.dll").as_deref(), Some("hal"));
    assert_eq!(
        module_of("\\HalExtQCWdogTimer.dll").as_deref(),
        Some("HalExtQCWdogTimer")
    );
    assert_eq!(module_of("\\ntoskrnl.exe").as_deref(), Some("nt"));
    assert_eq!(
        text.lines().filter(|l| l.contains("  hal  ")).count(),
        1,
        "{text}"
    );

    // Every pool command refuses ARM64 by name (when its plugin is built beside the binary).
    for cmd in [
        "!poolused",
        "!pool fffff803f3a00d00",
        "!poolfind Ntfx",
        "!frag",
        "!vm",
    ] {
        let o = run(&["-z", d, "-c", cmd]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{cmd}: {err}");
        if err.contains("unknown command") {
            eprintln!("{cmd}: plugin not built; run `cargo build` for the plugins first");
            continue;
        }
        assert!(err.contains("ARM64"), "{cmd}: {err}");
    }
}
