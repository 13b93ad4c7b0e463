//! Plugins through the real dynamic loader: the workspace's Rust example, the C example built with
//! the system C compiler, and negative plugins built into temporary folders (never into
//! `target/<profile>/`, where the real binary would find them).
//!
//! These tests live in the host package because cargo then builds the `pooldbg` binary for them
//! (`CARGO_BIN_EXE_pooldbg`), and its folder is the `target/<profile>/` the workspace's cdylibs
//! are built into: the end-to-end check "pooldbg finds the workspace's plugins" is exact.
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use plugin_sdk::{Arch, MemoryTarget, Output, ReadStatus, Source, TargetInfo};
use pooldbg::bridge::run_command;
use pooldbg::loader::{PluginSet, RejectReason, SearchPath};

const DLL_PREFIX: &str = std::env::consts::DLL_PREFIX;
const DLL_SUFFIX: &str = std::env::consts::DLL_SUFFIX;

fn lib_file(stem: &str) -> String {
    format!("{DLL_PREFIX}{stem}{DLL_SUFFIX}")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pooldbg"))
}

/// `target/<profile>/`: where the binary and the workspace's cdylibs are.
fn profile_dir() -> PathBuf {
    exe().parent().unwrap().to_path_buf()
}

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pooldbg-plugins-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_checked(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Cargo arguments selecting the profile the test binary was built with.
fn profile_args() -> Vec<String> {
    match profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => vec![],
        Some("release") => vec!["--release".into()],
        Some(other) => vec!["--profile".into(), other.into()],
    }
}

/// Builds the Rust example into `target/<profile>/` (a no-op when it is fresh) and returns it.
fn rust_example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            run_checked(
                Command::new(env!("CARGO"))
                    .args(["build", "-p", "pooldbg-example-hello"])
                    .args(profile_args())
                    .current_dir(root()),
                "cargo build -p pooldbg-example-hello",
            );
            let lib = profile_dir().join(lib_file("pooldbg_example_hello"));
            assert!(lib.is_file(), "{} was not built", lib.display());
            lib
        })
        .clone()
}

/// Builds the Rust test plugin (commands that panic) into `target/test-plugins/` and copies the
/// library into `dir`.
fn rust_panicky(dir: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/rust-panicky");
        let target_dir = profile_dir().parent().unwrap().join("test-plugins");
        let krate = target_dir.join("rust-panicky");
        std::fs::create_dir_all(krate.join("src")).unwrap();
        let sdk = root().join("crates/plugin-sdk").canonicalize().unwrap();
        let manifest = std::fs::read_to_string(src.join("Cargo.toml"))
            .unwrap()
            .replace("@PLUGIN_SDK@", sdk.to_str().unwrap());
        std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(src.join("src/lib.rs"), krate.join("src/lib.rs")).unwrap();
        // The workspace's lock file: the same dependency versions, nothing to resolve.
        std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
        run_checked(
            Command::new(env!("CARGO"))
                .args(["build", "--manifest-path"])
                .arg(krate.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(target_dir.join("target"))
                .env_remove("CARGO_TARGET_DIR"),
            "cargo build (test plugin rust-panicky)",
        );
        target_dir
            .join("target/debug")
            .join(lib_file("pooldbg_test_panicky"))
    });
    let to = dir.join(lib_file("pooldbg_test_panicky"));
    std::fs::copy(built, &to).unwrap();
    to
}

/// Compiles a C plugin with the system C compiler into `dir/file_name`.
fn cc_plugin(source: &Path, dir: &Path, file_name: &str, defines: &[&str]) -> PathBuf {
    let out = dir.join(file_name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-pedantic",
        "-Werror",
        "-fPIC",
    ])
    .arg(if cfg!(target_vendor = "apple") {
        "-dynamiclib"
    } else {
        "-shared"
    })
    .arg("-I")
    .arg(root().join("crates/plugin-abi/include"))
    .args(defines)
    .arg("-o")
    .arg(&out)
    .arg(source);
    run_checked(&mut cmd, &format!("{cc} {}", source.display()));
    out
}

fn c_example(dir: &Path) -> PathBuf {
    cc_plugin(
        &root().join("plugins/examples/hello-c/hello_c.c"),
        dir,
        &lib_file("pooldbg_example_hello_c"),
        &[],
    )
}

fn negative(dir: &Path, stem: &str, defines: &[&str]) -> PathBuf {
    cc_plugin(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/negative.c"),
        dir,
        &lib_file(stem),
        defines,
    )
}

/// A bare ELF header of a shared object for another machine than this one.
fn foreign_elf(dir: &Path) -> PathBuf {
    let machine: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    }; // EM_X86_64 / EM_AARCH64
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[6] = 1;
    h[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    let p = dir.join(lib_file("pooldbg_otherarch"));
    std::fs::write(&p, h).unwrap();
    p
}

fn discover(dirs: &[&Path]) -> PluginSet {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    PluginSet::discover(SearchPath::new(&dirs, None, None))
}

fn target() -> MemoryTarget {
    MemoryTarget::new(TargetInfo {
        arch: Arch::X64,
        build: 19041,
        version: "10.0.19041".into(),
        dump_type: "full".into(),
        processors: 4,
        kernel_base: 0xfffff800_02a00000,
        pointer_size: 8,
    })
    .with_virtual(0xfffff800_02a00000, b"MZ\x90\x00")
    .with_virtual(0xfffff800_02b00000, &0x1122_3344_5566_7788u64.to_le_bytes())
    .with_virtual_status(
        0xfffff800_02c00000,
        ReadStatus::PagedOut {
            pagefile: 1,
            offset: 0x5000,
        },
    )
    .with_symbol(
        "PsLoadedModuleList",
        0xfffff800_02d00000,
        Source::UserSymbols,
    )
    .with_tag(*b"Proc", "nt!ps", "Process objects")
}

fn reason_of<'a>(set: &'a PluginSet, path: &Path) -> &'a RejectReason {
    &set.rejected
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("{} not rejected:\n{}", path.display(), set.render()))
        .reason
}

#[test]
fn the_rust_example_is_found_next_to_the_binary_and_runs_as_in_process() {
    let lib = rust_example();
    // Only the executable's folders: what `target/<profile>/pooldbg` searches by itself.
    let set = PluginSet::discover(SearchPath::new(&[], None, Some(&exe())));
    let (plugin, index) = set
        .find("!hello")
        .unwrap_or_else(|| panic!("!hello not found:\n{}", set.render()));
    assert_eq!(plugin.path, lib);
    assert_eq!(plugin.name, "example-hello");
    assert_eq!(
        plugin.commands[index as usize].usage,
        "!hello [TAG]   e.g. !hello Proc"
    );

    let t = target();
    let outcome = run_command(plugin, index, &t, "Proc", None);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let row = &outcome.rows[0];
    assert_eq!(row["kernel_magic"], "MZ");
    assert_eq!(row["build"], 19041);
    assert_eq!(row["arch"], "x64");
    assert_eq!(row["dump_type"], "full");
    assert_eq!(row["loaded_module_list"], "0xfffff80002d00000");
    assert_eq!(row["loaded_module_list_source"], "user symbols");
    assert_eq!(row["binary"], "nt!ps");
    assert_eq!(row["description"], "Process objects");

    // The same command as a plain library function gives the same output.
    use plugin_sdk::Command as _;
    let mut out = Output::new();
    pooldbg_example_hello::Hello
        .run(&t, "Proc", &mut out)
        .unwrap();
    assert_eq!(out.rows(), outcome.rows.as_slice());

    // A tag the database lacks: a warning through the FFI.
    let outcome = run_command(plugin, index, &t, "Zzzz", None);
    assert!(outcome.is_ok());
    assert_eq!(
        outcome.warnings,
        vec!["tag \"Zzzz\" is not in the tag database"]
    );
    // A usage error comes back as the command's error.
    let outcome = run_command(plugin, index, &t, "TooLongTag", None);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .starts_with("usage: !hello [TAG]"),
        "{:?}",
        outcome.error
    );
}

#[test]
fn the_binary_lists_the_workspace_plugins_with_no_further_step() {
    rust_example();
    let out = Command::new(exe())
        .arg("plugins")
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "example-hello 0.1.0  {}",
            profile_dir()
                .join(lib_file("pooldbg_example_hello"))
                .display()
        )),
        "{text}"
    );
    assert!(text.contains("!hello  say hello to the target"), "{text}");
}

#[test]
fn the_c_example_loads_and_runs() {
    let dir = TempDir::new("c-example");
    let lib = c_example(&dir.0);
    let set = discover(&[&dir.0]);
    assert!(set.rejected.is_empty(), "{}", set.render());
    let (plugin, index) = set.find("hello-c").unwrap();
    assert_eq!(plugin.path, lib);
    assert_eq!(plugin.name, "example-hello-c");

    let t = target();
    let outcome = run_command(plugin, index, &t, "fffff80002b00000", None);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    let row = &outcome.rows[0];
    assert_eq!(row["build"], 19041);
    assert_eq!(row["pointer_size"], 8);
    assert_eq!(row["kernel_magic"], "MZ");
    assert_eq!(row["kernel_magic_status"], "ok");
    assert_eq!(row["peek_value"], "0x1122334455667788");
    assert_eq!(row["loaded_module_list_source"], "user symbols");
    // The argument comes back escaped by the host's json_string.
    assert_eq!(row["args"], "fffff80002b00000");
    let outcome = run_command(plugin, index, &t, "1000 \"quoted\" \\ \n", None);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    assert_eq!(outcome.rows[0]["args"], "1000 \"quoted\" \\ \n");

    // A paged-out address: the status and the page file come through the batch.
    let outcome = run_command(plugin, index, &t, "fffff80002c00010", None);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    assert_eq!(outcome.rows[0]["peek_status"], "paged out");
    assert_eq!(
        outcome.warnings,
        vec!["0xfffff80002c00010 is paged out (page file 1, offset 0x5000)"]
    );
    // Not mapped.
    let outcome = run_command(plugin, index, &t, "1000", None);
    assert_eq!(outcome.rows[0]["peek_status"], "not mapped");
}

#[test]
fn every_bad_file_is_rejected_with_its_reason_and_the_rest_load() {
    let dir = TempDir::new("rejects");
    let d = &dir.0;
    let good = c_example(d);
    let text = d.join("pooldbg_x.so");
    std::fs::write(&text, "this is not a library\n").unwrap();
    let elf = foreign_elf(d);
    let wrong_abi = negative(
        d,
        "pooldbg_wrongabi",
        &["-DDESCRIPTOR_ABI=2", "-DCOMMAND_NAME=\"w\""],
    );
    let v2 = negative(d, "pooldbg_v2", &["-DENTRY_NAME=pooldbg_plugin_v2"]);
    let no_export = negative(d, "pooldbg_noexport", &["-DENTRY_NAME=something_else"]);
    // A library without the pooldbg_ prefix is not even looked at.
    let ignored = negative(d, "other", &[]);

    let set = discover(&[d]);
    assert_eq!(set.plugins.len(), 1, "{}", set.render());
    assert_eq!(set.plugins[0].path, good);
    assert_eq!(set.rejected.len(), 5, "{}", set.render());
    assert!(set.rejected.iter().all(|r| r.path != ignored));

    assert!(matches!(
        reason_of(&set, &text),
        RejectReason::NotALibrary(_)
    ));
    assert!(matches!(
        reason_of(&set, &elf),
        RejectReason::WrongArchitecture { .. }
    ));
    assert_eq!(
        reason_of(&set, &wrong_abi),
        &RejectReason::WrongAbiVersion { found: 2 }
    );
    assert_eq!(
        reason_of(&set, &v2),
        &RejectReason::WrongAbiVersion { found: 2 }
    );
    assert_eq!(reason_of(&set, &no_export), &RejectReason::MissingExport);

    // The same through the binary: each file, each reason, in plain words; exit status 0.
    let out = Command::new(exe())
        .arg("--plugin-dir")
        .arg(d)
        .arg("plugins")
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = |p: &Path| {
        listing
            .lines()
            .find(|l| l.contains(&*p.to_string_lossy()))
            .unwrap_or_else(|| panic!("{} not listed:\n{listing}", p.display()))
            .to_owned()
    };
    assert!(line(&good).contains("example-hello-c 0.1.0"), "{listing}");
    assert!(
        line(&text)
            .ends_with("not a library: not an ELF, PE or Mach-O file (it starts with 74 68 69 73)"),
        "{listing}"
    );
    assert!(
        line(&elf).contains("wrong architecture: the file is ELF"),
        "{listing}"
    );
    assert!(
        line(&wrong_abi).contains(
            "wrong ABI version: the plugin was built for plugin ABI 2, this pooldbg speaks ABI 1"
        ),
        "{listing}"
    );
    assert!(line(&v2).contains("wrong ABI version"), "{listing}");
    assert!(
        line(&no_export)
            .contains("missing export: the library does not export `pooldbg_plugin_v1`"),
        "{listing}"
    );
}

#[test]
fn two_plugins_claiming_one_command_the_earlier_folder_wins() {
    let a = TempDir::new("dup-a");
    let b = TempDir::new("dup-b");
    let pa = negative(
        &a.0,
        "pooldbg_dup_a",
        &["-DPLUGIN_NAME=\"dup-a\"", "-DCOMMAND_NAME=\"dup\""],
    );
    let pb = negative(
        &b.0,
        "pooldbg_dup_b",
        &["-DPLUGIN_NAME=\"dup-b\"", "-DCOMMAND_NAME=\"dup\""],
    );

    let set = discover(&[&a.0, &b.0]);
    assert_eq!(set.find("dup").unwrap().0.path, pa);
    assert_eq!(
        reason_of(&set, &pb).to_string(),
        format!(
            "duplicate command: !dup is already provided by plugin dup-a ({})",
            pa.display()
        )
    );
    // Reversed order, reversed outcome.
    let set = discover(&[&b.0, &a.0]);
    assert_eq!(set.find("dup").unwrap().0.path, pb);
    assert!(matches!(
        reason_of(&set, &pa),
        RejectReason::DuplicateCommand { .. }
    ));
    // And the winner runs.
    let (p, i) = set.find("!dup").unwrap();
    let outcome = run_command(p, i, &target(), "hi", None);
    assert_eq!(
        outcome.rows,
        vec![serde_json::json!({"plugin": "dup-b", "args": "hi"})]
    );

    // Same folder, same command: the first by name wins.
    let c = TempDir::new("dup-c");
    negative(&c.0, "pooldbg_dup_1", &["-DCOMMAND_NAME=\"same\""]);
    let second = negative(&c.0, "pooldbg_dup_2", &["-DCOMMAND_NAME=\"same\""]);
    let set = discover(&[&c.0]);
    assert_eq!(set.plugins.len(), 1);
    assert!(matches!(
        reason_of(&set, &second),
        RejectReason::DuplicateCommand { .. }
    ));
}

#[test]
fn invalid_json_fails_the_command_and_the_host_goes_on() {
    let dir = TempDir::new("json");
    negative(&dir.0, "pooldbg_json", &["-DCOMMAND_NAME=\"js\""]);
    let set = discover(&[&dir.0]);
    let (p, i) = set.find("js").unwrap();
    let t = target();

    let outcome = run_command(p, i, &t, "bad-json", None);
    let err = outcome.error.clone().unwrap();
    assert!(
        err.starts_with("plugin negative (!js) emitted invalid JSON: row 2: key must be a string"),
        "{err}"
    );
    assert!(err.contains("\"{not json\""), "{err}");
    // The good row before it is kept.
    assert_eq!(outcome.rows, vec![serde_json::json!({"ok": 1})]);

    let outcome = run_command(p, i, &t, "not-object", None);
    assert!(
        outcome
            .error
            .unwrap()
            .ends_with("row 1: a row must be a JSON object, not an array")
    );

    let outcome = run_command(p, i, &t, "fail", None);
    assert_eq!(
        outcome.error.as_deref(),
        Some("the C plugin failed on purpose")
    );
    let outcome = run_command(p, i, &t, "fail-silent", None);
    assert_eq!(
        outcome.error.as_deref(),
        Some("plugin negative (!js) failed with status 1 (error) and no message")
    );

    // The host goes on: the same plugin still works.
    let outcome = run_command(p, i, &t, "again", None);
    assert!(outcome.is_ok());
    assert_eq!(outcome.rows[0]["args"], "again");
}

#[test]
fn a_panicking_plugin_is_an_error_message_and_the_host_goes_on() {
    let dir = TempDir::new("panic");
    let lib = rust_panicky(&dir.0);
    let set = discover(&[&dir.0]);
    assert!(set.rejected.is_empty(), "{}", set.render());
    assert_eq!(set.plugins[0].path, lib);
    let t = target();

    let (p, i) = set.find("boom").unwrap();
    let outcome = run_command(p, i, &t, "", None);
    let err = outcome.error.unwrap();
    assert!(err.starts_with("plugin panicked at src/lib.rs:"), "{err}");
    assert!(
        err.ends_with("index out of bounds: the len is 0 but the index is 3"),
        "{err}"
    );

    // Again, and then another command of the same plugin: all fine.
    let outcome = run_command(p, i, &t, "x", None);
    assert!(outcome.error.unwrap().contains("the index is 4"));
    let (p, i) = set.find("calm").unwrap();
    let outcome = run_command(p, i, &t, "still here", None);
    assert!(outcome.is_ok(), "{:?}", outcome.error);
    assert_eq!(
        outcome.rows,
        vec![serde_json::json!({"args": "still here", "build": 19041})]
    );

    // Cancellation reaches the plugin.
    let (p, i) = set.find("slow").unwrap();
    let cancel = AtomicBool::new(true);
    let outcome = run_command(p, i, &t, "", Some(&cancel));
    assert_eq!(outcome.error.as_deref(), Some("cancelled"));
}

#[test]
fn the_binary_searches_flags_then_the_environment() {
    let flag = TempDir::new("flag");
    let env = TempDir::new("env");
    let from_flag = negative(
        &flag.0,
        "pooldbg_f",
        &["-DPLUGIN_NAME=\"from-flag\"", "-DCOMMAND_NAME=\"both\""],
    );
    let from_env = negative(
        &env.0,
        "pooldbg_e",
        &["-DPLUGIN_NAME=\"from-env\"", "-DCOMMAND_NAME=\"both\""],
    );
    let env_only = negative(
        &env.0,
        "pooldbg_e2",
        &["-DPLUGIN_NAME=\"env-only\"", "-DCOMMAND_NAME=\"mine\""],
    );
    let path = std::env::join_paths([env.0.clone(), PathBuf::from("not/absolute")]).unwrap();
    let out = Command::new(exe())
        .arg("--plugin-dir")
        .arg(&flag.0)
        .arg("plugins")
        .env("POOLDBG_PLUGIN_PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    let pos = |needle: &str| {
        listing
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{listing}"))
    };
    // The search path in order: the flag's folder, then the variable's.
    assert!(pos(&format!("  {}\n", flag.0.display())) < pos(&format!("  {}\n", env.0.display())));
    assert!(listing.contains(&format!("from-flag 0.0.1  {}", from_flag.display())));
    assert!(listing.contains(&format!("env-only 0.0.1  {}", env_only.display())));
    assert!(
        listing.contains(&format!(
            "{}: duplicate command: !both is already provided by plugin from-flag",
            from_env.display()
        )),
        "{listing}"
    );
    assert!(
        listing.contains(
            "note: POOLDBG_PLUGIN_PATH entry not/absolute: not an absolute path, ignored"
        ),
        "{listing}"
    );
}

/// A small testkit dump, written once per test run under target/tmp.
fn small_dump() -> &'static Path {
    static DUMP: OnceLock<PathBuf> = OnceLock::new();
    DUMP.get_or_init(|| {
        let p = testkit::profile("win7sp1-x64").unwrap();
        let kernel = testkit::KernelBuilder::standard(p)
            .seed(1)
            .memory_mib(32)
            .build()
            .unwrap();
        let dir = root()
            .join("target/tmp")
            .join(format!("plugins-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("win7.dmp");
        testkit::write_with_manifest(
            &kernel,
            testkit::Container::Full,
            &path,
            &testkit::WriteOptions::default(),
        )
        .unwrap();
        path
    })
}

#[test]
fn an_outside_plugin_cannot_silently_replace_a_shipped_command() {
    // The Rust example is built next to the binary: it is shipped, and provides !hello.
    rust_example();
    let shipped = profile_dir().join(lib_file("pooldbg_example_hello"));
    let dir = TempDir::new("shadow");
    let evil = negative(
        &dir.0,
        "pooldbg_evil",
        &["-DPLUGIN_NAME=\"evil\"", "-DCOMMAND_NAME=\"hello\""],
    );
    let list = |extra: &[&str]| -> serde_json::Value {
        let out = Command::new(exe())
            .arg("--plugin-dir")
            .arg(&dir.0)
            .args(extra)
            .args(["plugins", "--format", "json"])
            .env_remove("POOLDBG_PLUGIN_PATH")
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
    };
    let provider = |v: &serde_json::Value, command: &str| -> String {
        v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["commands"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["name"] == command)
            })
            .map(|p| p["path"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let reason = |v: &serde_json::Value, path: &Path| -> String {
        v["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path.display().to_string())
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{} not rejected: {v}", path.display()))
    };

    // By default the shipped plugin keeps !hello even though --plugin-dir is searched first, and
    // the refusal names the outside file (as the rejected one) and the shipped file.
    let v = list(&[]);
    assert_eq!(provider(&v, "hello"), shipped.display().to_string(), "{v}");
    let why = reason(&v, &evil);
    assert!(
        why.starts_with("refused: !hello is a shipped command"),
        "{why}"
    );
    assert!(why.contains(&shipped.display().to_string()), "{why}");
    assert!(why.contains("--allow-override"), "{why}");

    // With --allow-override the outside plugin wins, and the listing says so.
    let v = list(&["--allow-override"]);
    assert_eq!(provider(&v, "hello"), evil.display().to_string(), "{v}");
    let why = reason(&v, &shipped);
    assert!(
        why.starts_with("overridden: !hello is taken by plugin evil"),
        "{why}"
    );

    // The text listing says the same.
    let out = Command::new(exe())
        .arg("--plugin-dir")
        .arg(&dir.0)
        .arg("plugins")
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{}: refused: !hello is a shipped command",
            evil.display()
        )),
        "{text}"
    );
}

#[test]
fn a_crashing_plugin_is_named_before_the_process_ends() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = TempDir::new("crash");
    let lib = negative(
        &dir.0,
        "pooldbg_crashy",
        &["-DPLUGIN_NAME=\"crashy\"", "-DCOMMAND_NAME=\"crash\""],
    );
    let dump = small_dump();
    for (how, signal, name) in [("segv", 11, "SIGSEGV"), ("abort", 6, "SIGABRT")] {
        for format in ["text", "jsonl", "json"] {
            let out = Command::new(exe())
                .arg("--plugin-dir")
                .arg(&dir.0)
                .args(["--format", format, "-q", "-z"])
                .arg(dump)
                .args(["-c", &format!("!crash {how}")])
                .env_remove("POOLDBG_PLUGIN_PATH")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            // The process still ends by the signal (exit 128+N in a shell, a core where enabled).
            assert_eq!(out.status.signal(), Some(signal), "{how} {format}: {err}");
            assert!(
                err.contains(&format!(
                    "pooldbg: fatal: plugin crashy ({}) crashed while running !crash: signal {name}",
                    lib.display()
                )),
                "{how} {format}: {err}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            if format == "text" {
                assert!(!stdout.contains("\"error\""), "{stdout}");
                continue;
            }
            // A JSON stream ends with an error object on a line of its own.
            let last = stdout.lines().rfind(|l| !l.is_empty()).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(last)
                .unwrap_or_else(|e| panic!("{how} {format}: last line not JSON ({e}): {stdout}"));
            assert_eq!(v["command"], "!crash");
            assert!(
                v["error"].as_str().unwrap().contains(&format!(
                    "plugin crashy ({}) crashed while running !crash: signal {name}",
                    lib.display()
                )),
                "{v}"
            );
        }
    }
}

#[test]
fn the_hosts_json_string_helper_lets_a_c_plugin_emit_any_text() {
    let dir = TempDir::new("escape");
    negative(&dir.0, "pooldbg_escape", &["-DCOMMAND_NAME=\"esc\""]);
    let set = discover(&[&dir.0]);
    let (p, i) = set.find("esc").unwrap();
    let t = target();
    for text in [
        "plain",
        "a \"quote\"",
        "back\\slash",
        "tab\tnew\nline\u{1}",
        "é ✓",
        "",
    ] {
        let outcome = run_command(p, i, &t, &format!("escape {text}"), None);
        assert!(outcome.is_ok(), "{text:?}: {:?}", outcome.error);
        assert_eq!(outcome.rows[0]["escaped"], text);
        assert_eq!(
            outcome.rows[0]["need"],
            serde_json::to_string(text).unwrap().len()
        );
    }
}
