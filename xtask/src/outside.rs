//! `cargo xtask outside [--packaged] [--keep]`: pooldbg used from outside its repository (issue #22).
//!
//! Copies `examples/outside/` (a Cargo workspace of its own: a Rust plugin on the public pool
//! library, a library program, a C plugin) to a temporary directory, points its
//! `[patch.crates-io]` at this checkout's crates (or, with `--packaged`, at the `cargo package`
//! outputs under `target/package-verify/package/`, unpacked: the crates as crates.io would serve them), builds it
//! there, runs its tests, builds the C plugin with `cc` from the shipped header, and runs all three
//! on a testkit dump, checking each answer against the dump's manifest:
//!
//! - `pooldbg --plugin-dir DIR -c '!bigpools; !cinfo TEXT'` (the workspace's `pooldbg` binary):
//!   `!bigpools` rows = the manifest's live big allocations; `!cinfo` = the manifest's target facts
//!   and TEXT (quotes, a backslash, non-ASCII) given back intact through the host's `json_string`;
//! - `pooldbg-libprog DUMP ADDRESS`: modules = the manifest's, `!pool` rows = the manifest's blocks
//!   of that page.
//!
//! The outside build has its own target directory (`target/outside/`), kept between runs: sharing
//! the workspace's `target/debug` would put `libpooldbg_bigpools.so` next to the workspace's
//! `pooldbg`, which loads every plugin in its own folder, and change what the workspace's tests see.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use testkit::manifest::Manifest;
use testkit::{Container, KernelBuilder, PoolKind, WriteOptions};

/// The text `!cinfo` is given: a quote, a backslash and non-ASCII, which must come back intact.
pub const CINFO_TEXT: &str = "say \"hi\" \\ ünï";

/// Options of the run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    packaged: bool,
    keep: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    for a in args {
        match a.as_str() {
            "--packaged" => o.packaged = true,
            "--keep" => o.keep = true,
            other => {
                return Err(format!(
                    "`cargo xtask outside`: unknown argument {other} (usage: outside [--packaged] [--keep])"
                ));
            }
        }
    }
    Ok(o)
}

/// One publishable package: name, version, folder in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Package name (`pooldbg-commands`).
    pub name: String,
    /// Version (`0.1.0`).
    pub version: String,
    /// The folder holding its Cargo.toml.
    pub dir: PathBuf,
}

/// The publishable packages of the workspace (the set `cargo xtask package` packages).
fn packages(meta: &Value) -> Result<Vec<Package>, String> {
    let names = crate::package::publishable(meta)?;
    let all = meta
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or("cargo metadata: no `packages` array")?;
    let mut out = Vec::new();
    for p in all {
        let Some(name) = p.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        if !names.iter().any(|n| n == name) {
            continue;
        }
        let version = p
            .get("version")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("cargo metadata: {name} has no version"))?;
        let manifest = p
            .get("manifest_path")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("cargo metadata: {name} has no manifest_path"))?;
        let dir = Path::new(manifest)
            .parent()
            .ok_or_else(|| format!("cargo metadata: {name}: manifest path {manifest}"))?;
        out.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            dir: dir.to_path_buf(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `manifest` (examples/outside/Cargo.toml) with its `[patch.crates-io]` table replaced by one
/// entry per package, each at `dirs[i]`. Everything before the table is kept; the table must be last.
pub fn patched_manifest(manifest: &str, patches: &[(String, PathBuf)]) -> Result<String, String> {
    let start = manifest.find("[patch.crates-io]").ok_or(
        "examples/outside/Cargo.toml has no [patch.crates-io] table for the pooldbg crates",
    )?;
    let rest = &manifest[start + "[patch.crates-io]".len()..];
    if rest.lines().any(|l| l.trim_start().starts_with('[')) {
        return Err("examples/outside/Cargo.toml: [patch.crates-io] must be its last table".into());
    }
    let mut out = manifest[..start].to_string();
    out.push_str("[patch.crates-io]\n");
    for (name, dir) in patches {
        // TOML basic string: escape backslashes and quotes (Windows paths).
        let path = dir
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        out.push_str(&format!("{name} = {{ path = \"{path}\" }}\n"));
    }
    Ok(out)
}

/// Copies the folder `from` to `to`, leaving out `target/` folders.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &dest)?;
            }
        } else if kind.is_file() {
            std::fs::copy(&path, &dest)
                .map_err(|e| format!("{} -> {}: {e}", path.display(), dest.display()))?;
        }
    }
    Ok(())
}

/// Unpacks `target/package-verify/package/NAME-VERSION.crate` (what `cargo xtask package` made)
/// into `into/NAME-VERSION`; returns that folder.
fn unpack_crate(target_dir: &Path, p: &Package, into: &Path) -> Result<PathBuf, String> {
    let file = target_dir
        .join(crate::package::VERIFY_DIR)
        .join("package")
        .join(format!("{}-{}.crate", p.name, p.version));
    let f = std::fs::File::open(&file).map_err(|e| {
        format!(
            "{}: {e} (run `cargo xtask package` first: --packaged builds on its outputs)",
            file.display()
        )
    })?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    archive
        .unpack(into)
        .map_err(|e| format!("unpacking {}: {e}", file.display()))?;
    let dir = into.join(format!("{}-{}", p.name, p.version));
    if !dir.join("Cargo.toml").is_file() {
        return Err(format!(
            "{}: no {}-{}/Cargo.toml inside",
            file.display(),
            p.name,
            p.version
        ));
    }
    Ok(dir)
}

/// The dump every piece runs on, and its manifest.
pub struct Fixture {
    /// The dump file.
    pub dump: PathBuf,
    /// Its manifest (container facts filled in).
    pub manifest: Manifest,
}

/// A Windows 7 SP1 x64 kernel with big allocations in both pools (one freed), small blocks and a
/// driver, written as a bitmap kernel dump.
pub fn fixture(dir: &Path) -> Result<Fixture, String> {
    let p = testkit::profile("win7sp1-x64").ok_or("testkit has no win7sp1-x64 profile")?;
    let kernel = KernelBuilder::new(p)
        .seed(22)
        .memory_mib(32)
        .driver("outside.sys", 0x6000)
        .big(b"OsNp", 0x3000, PoolKind::NonPaged)
        .big(b"OsNp", 0x6000, PoolKind::NonPaged)
        .big(b"OsPg", 0x2000, PoolKind::Paged)
        .big_freed(b"OsFr", 0x4000, PoolKind::Paged)
        .alloc(b"OsSm", 0x80, PoolKind::NonPaged)
        .alloc(b"OsSm", 0x120, PoolKind::NonPaged)
        .freed(b"OsSm", 0x60, PoolKind::NonPaged)
        .build()
        .map_err(|e| format!("testkit: {e}"))?;
    let container = Container::Bitmap {
        full: false,
        dump_type: 5,
    };
    let dump = dir.join("outside-win7.dmp");
    let info = testkit::write_file(&kernel, container, &dump, &WriteOptions::default())
        .map_err(|e| format!("{}: {e}", dump.display()))?;
    let manifest = testkit::manifest_for(&kernel, &info, container);
    Ok(Fixture { dump, manifest })
}

/// Rows of the one command `command` in `pooldbg --format json` output (one object per line).
pub fn command_rows(stdout: &str, command: &str) -> Result<Vec<Value>, String> {
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {e}: {line}"))?;
        if doc.get("command").and_then(|c| c.as_str()) != Some(command) {
            continue;
        }
        if let Some(e) = doc.get("error") {
            return Err(format!("{command} failed: {e}"));
        }
        return doc
            .get("rows")
            .and_then(|r| r.as_array())
            .cloned()
            .ok_or_else(|| format!("{command}: no rows array: {line}"));
    }
    Err(format!("{command}: not in the output:\n{stdout}"))
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_string()
}

/// `!bigpools` rows against the manifest's live big allocations; returns how many matched.
pub fn check_bigpools(rows: &[Value], m: &Manifest) -> Result<usize, String> {
    let mut want: Vec<(String, u64, String, String)> = m
        .big_allocations
        .iter()
        .filter(|b| b.state == "allocated")
        .map(|b| {
            (
                format!("{:#x}", b.address.0),
                b.size,
                b.tag.clone(),
                b.pool_type.clone(),
            )
        })
        .collect();
    want.sort();
    let mut got: Vec<(String, u64, String, String)> = rows
        .iter()
        .map(|r| {
            (
                str_of(r, "address"),
                r.get("size").and_then(|s| s.as_u64()).unwrap_or_default(),
                str_of(r, "tag"),
                str_of(r, "pool_type"),
            )
        })
        .collect();
    got.sort();
    if want.is_empty() {
        return Err("the fixture has no live big allocation: nothing to check".into());
    }
    if got != want {
        return Err(format!(
            "!bigpools rows differ from the manifest's live big allocations:\n  got  {got:?}\n  want {want:?}"
        ));
    }
    Ok(got.len())
}

/// `!cinfo TEXT`'s one row against the manifest and the text given.
pub fn check_cinfo(rows: &[Value], m: &Manifest, text: &str) -> Result<(), String> {
    let [row] = rows else {
        return Err(format!("!cinfo: one row expected, got {}", rows.len()));
    };
    // The host may add the revision its symbols know (`6.1.7601` + `.24540`).
    let version = str_of(row, "version");
    if version != m.info.version && !version.starts_with(&format!("{}.", m.info.version)) {
        return Err(format!(
            "!cinfo: version is {version:?}, the manifest says {:?}",
            m.info.version
        ));
    }
    let want = [
        ("dump_type", m.info.dump_type.clone().unwrap_or_default()),
        ("kernel_base", format!("{:#x}", m.info.kernel_base.0)),
        ("image_magic", "MZ".to_string()),
        ("text", text.to_string()),
    ];
    for (key, value) in want {
        let got = str_of(row, key);
        if got != value {
            return Err(format!(
                "!cinfo: {key} is {got:?}, the manifest says {value:?}"
            ));
        }
    }
    let build = row.get("build").and_then(|b| b.as_u64());
    if build != Some(u64::from(m.info.build)) {
        return Err(format!(
            "!cinfo: build is {build:?}, the manifest says {}",
            m.info.build
        ));
    }
    if str_of(row, "tag_owner").is_empty() {
        return Err("!cinfo: the host's tag database did not answer for Proc".into());
    }
    Ok(())
}

/// The address of an allocated small block whose page holds at least two blocks (so a page
/// walk shows more than one row), and that page's blocks from the manifest.
pub fn pool_page(m: &Manifest) -> Result<(u64, Vec<&testkit::manifest::Block>), String> {
    for b in m.blocks.iter().filter(|b| b.state == "allocated") {
        let page = b.address.0 & !0xfff;
        let on_page: Vec<_> = m
            .blocks
            .iter()
            .filter(|o| o.address.0 & !0xfff == page)
            .collect();
        if on_page.len() >= 2 && on_page.iter().all(|o| o.error.is_none()) {
            return Ok((b.address.0, on_page));
        }
    }
    Err("the fixture has no pool page with two blocks".into())
}

/// The library program's document against the manifest: modules, the kernel, one pool page.
pub fn check_libprog(doc: &Value, m: &Manifest, address: u64) -> Result<(), String> {
    let target = doc.get("target").ok_or("no `target`")?;
    if target.get("build").and_then(|b| b.as_u64()) != Some(u64::from(m.info.build)) {
        return Err(format!("target.build: {target}"));
    }
    if str_of(target, "kernel_base") != format!("{:#x}", m.info.kernel_base.0) {
        return Err(format!("target.kernel_base: {target}"));
    }
    if str_of(target, "image_magic") != "MZ" {
        return Err(format!("target.image_magic: {target}"));
    }
    let modules = doc
        .get("modules")
        .and_then(|v| v.as_array())
        .ok_or("no `modules` array")?;
    let got: Vec<(String, String, u64)> = modules
        .iter()
        .map(|r| {
            (
                str_of(r, "name"),
                str_of(r, "base"),
                r.get("size").and_then(|s| s.as_u64()).unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = m
        .modules
        .iter()
        .map(|r| (r.name.clone(), format!("{:#x}", r.base.0), r.size))
        .collect();
    if got != want {
        return Err(format!(
            "modules differ from the manifest:\n  got  {got:?}\n  want {want:?}"
        ));
    }
    let rows = doc
        .pointer("/pool/rows")
        .and_then(|v| v.as_array())
        .ok_or("no `pool.rows` array")?;
    let (_, blocks) = pool_page_of(m, address);
    let got: Vec<(String, u64, String, String)> = rows
        .iter()
        .map(|r| {
            (
                str_of(r, "address"),
                r.get("size").and_then(|s| s.as_u64()).unwrap_or_default(),
                str_of(r, "state"),
                str_of(r, "tag"),
            )
        })
        .collect();
    let want: Vec<(String, u64, String, String)> = blocks
        .iter()
        .map(|b| {
            (
                format!("{:#x}", b.address.0),
                b.size,
                b.state.clone(),
                b.tag.clone(),
            )
        })
        .collect();
    if got != want {
        return Err(format!(
            "!pool {address:#x} rows differ from the manifest's blocks of that page:\n  got  {got:?}\n  want {want:?}"
        ));
    }
    let marked: Vec<_> = rows
        .iter()
        .filter(|r| r.get("contains_address") == Some(&Value::Bool(true)))
        .map(|r| str_of(r, "address"))
        .collect();
    if marked != [format!("{address:#x}")] {
        return Err(format!(
            "!pool {address:#x}: contains_address marks {marked:?}"
        ));
    }
    Ok(())
}

fn pool_page_of(m: &Manifest, address: u64) -> (u64, Vec<&testkit::manifest::Block>) {
    let page = address & !0xfff;
    (
        page,
        m.blocks
            .iter()
            .filter(|b| b.address.0 & !0xfff == page)
            .collect(),
    )
}

/// Runs `cmd`, returning its stdout; an error carries stderr.
fn output(title: &str, cmd: &mut Command) -> Result<String, String> {
    eprintln!("==> {title}");
    let out = cmd
        .output()
        .map_err(|e| format!("{title}: could not start: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{title}: failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

fn dylib_name(stem: &str) -> String {
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// `cargo xtask outside`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let meta = crate::plugins::cargo_metadata(root)?;
    let target_dir = meta
        .get("target_directory")
        .and_then(|t| t.as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let work = std::env::temp_dir().join(format!("pooldbg-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let result = run_in(root, &cargo, &meta, &target_dir, &work, &opts);
    if opts.keep || result.is_err() {
        eprintln!("outside: the work folder is kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn run_in(
    root: &Path,
    cargo: &str,
    meta: &Value,
    target_dir: &Path,
    work: &Path,
    opts: &Options,
) -> Result<(), String> {
    // The workspace's own pooldbg (a no-op when `cargo xtask test` has built it).
    let mut build_host = Command::new(cargo);
    build_host
        .current_dir(root)
        .args(["build", "-p", "pooldbg"]);
    crate::step(
        "cargo build -p pooldbg (the host the plugins load into)",
        build_host,
    )?;
    let pooldbg = target_dir
        .join("debug")
        .join(format!("pooldbg{}", std::env::consts::EXE_SUFFIX));

    // The outside project, in a folder of its own.
    let project = work.join("project");
    copy_tree(&root.join("examples/outside"), &project)?;
    let pkgs = packages(meta)?;
    let mut patches = Vec::new();
    for p in &pkgs {
        let dir = if opts.packaged {
            unpack_crate(target_dir, p, &work.join("packages"))?
        } else {
            p.dir.clone()
        };
        patches.push((p.name.clone(), dir));
    }
    let manifest_path = project.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    std::fs::write(&manifest_path, patched_manifest(&text, &patches)?)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    // The workspace's lock file: the same dependency versions as the tested ones, no index update.
    std::fs::copy(root.join("Cargo.lock"), project.join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let outside_target = target_dir.join("outside");
    let from = if opts.packaged {
        "the packaged crates"
    } else {
        "this checkout's crates"
    };

    let mut build = Command::new(cargo);
    build
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &outside_target)
        .args(["build", "--workspace"]);
    crate::step(
        &format!("outside: cargo build (examples/outside against {from})"),
        build,
    )?;
    let mut test = Command::new(cargo);
    test.current_dir(&project)
        .env("CARGO_TARGET_DIR", &outside_target)
        .args(["test", "--workspace"]);
    crate::step(
        "outside: cargo test (the plugin's tests on KernelTarget)",
        test,
    )?;

    // The plugin folder: the Rust plugin as built, the C plugin built from the header.
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).map_err(|e| format!("{}: {e}", plugins.display()))?;
    let rust_plugin = dylib_name("pooldbg_bigpools");
    std::fs::copy(
        outside_target.join("debug").join(&rust_plugin),
        plugins.join(&rust_plugin),
    )
    .map_err(|e| format!("{rust_plugin}: {e}"))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut c = Command::new(&cc);
    c.args([
        "-std=c11", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I",
    ])
    .arg(root.join("crates/plugin-abi/include"))
    .arg("-o")
    .arg(plugins.join(dylib_name("pooldbg_cinfo")))
    .arg(project.join("c/cinfo.c"));
    crate::step(
        &format!("outside: {cc} c/cinfo.c (the C plugin, from pooldbg_plugin.h)"),
        c,
    )?;

    // The dump and its ground truth.
    let fx = fixture(work)?;
    let commands = format!("!bigpools; !cinfo {CINFO_TEXT}");
    let stdout = output(
        &format!(
            "outside: pooldbg --plugin-dir {} -c '{commands}'",
            plugins.display()
        ),
        Command::new(&pooldbg)
            .arg("--plugin-dir")
            .arg(&plugins)
            .args(["--format", "json", "-z"])
            .arg(&fx.dump)
            .arg("-c")
            .arg(&commands),
    )?;
    let n = check_bigpools(&command_rows(&stdout, "!bigpools")?, &fx.manifest)?;
    check_cinfo(&command_rows(&stdout, "!cinfo")?, &fx.manifest, CINFO_TEXT)?;

    let (address, _) = pool_page(&fx.manifest)?;
    let libprog = outside_target
        .join("debug")
        .join(format!("pooldbg-libprog{}", std::env::consts::EXE_SUFFIX));
    let doc = output(
        &format!("outside: pooldbg-libprog DUMP {address:#x}"),
        Command::new(&libprog)
            .arg(&fx.dump)
            .arg(format!("{address:#x}")),
    )?;
    let doc: Value =
        serde_json::from_str(doc.trim()).map_err(|e| format!("pooldbg-libprog: not JSON: {e}"))?;
    check_libprog(&doc, &fx.manifest, address)?;
    println!(
        "outside: built against {from}; !bigpools matched {n} big allocations, !cinfo its target \
         and escaped text, pooldbg-libprog {} modules and the pool page of {address:#x}",
        fx.manifest.modules.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture_manifest() -> Manifest {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("xtask-outside-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fx = fixture(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        fx.manifest
    }

    fn big_rows(m: &Manifest) -> Vec<Value> {
        m.big_allocations
            .iter()
            .filter(|b| b.state == "allocated")
            .map(|b| {
                json!({"address": format!("{:#x}", b.address.0), "size": b.size,
                       "tag": b.tag, "pool_type": b.pool_type})
            })
            .collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let o = parse(&["--packaged".into(), "--keep".into()]).unwrap();
        assert!(o.packaged && o.keep);
        assert!(parse(&["--nope".into()]).unwrap_err().contains("--nope"));
    }

    #[test]
    fn the_patch_table_is_rewritten_and_must_be_last() {
        let text = "[workspace]\nmembers = [\"a\"]\n\n[patch.crates-io]\npooldbg-x = { path = \"../x\" }\n";
        let out = patched_manifest(text, &[("pooldbg-y".into(), PathBuf::from("/abs/y"))]).unwrap();
        assert_eq!(
            out,
            "[workspace]\nmembers = [\"a\"]\n\n[patch.crates-io]\npooldbg-y = { path = \"/abs/y\" }\n"
        );
        let win = patched_manifest(text, &[("p".into(), PathBuf::from(r"C:\a\b"))]).unwrap();
        assert!(win.contains(r#"path = "C:\\a\\b""#), "{win}");
        assert!(patched_manifest("[workspace]\n", &[]).is_err());
        assert!(patched_manifest("[patch.crates-io]\n[profile.dev]\n", &[]).is_err());
    }

    #[test]
    fn the_checked_in_example_manifest_patches_every_publishable_crate() {
        let root = crate::workspace_root();
        let meta = crate::plugins::cargo_metadata(&root).unwrap();
        let text = std::fs::read_to_string(root.join("examples/outside/Cargo.toml")).unwrap();
        for p in packages(&meta).unwrap() {
            assert!(
                text.contains(&format!("\n{} = {{ path = ", p.name)),
                "examples/outside/Cargo.toml does not patch {}",
                p.name
            );
        }
    }

    #[test]
    fn bigpools_check_accepts_the_truth_and_names_a_difference() {
        let m = fixture_manifest();
        let rows = big_rows(&m);
        // Three requested, two the builder adds for its special pages (TkPo, TkAb).
        assert_eq!(check_bigpools(&rows, &m).unwrap(), 5, "{rows:?}");
        let mut wrong = rows.clone();
        wrong[0]["size"] = json!(1);
        assert!(check_bigpools(&wrong, &m).unwrap_err().contains("differ"));
        assert!(check_bigpools(&rows[1..], &m).is_err(), "a missing row");
    }

    #[test]
    fn cinfo_check_wants_every_field() {
        let m = fixture_manifest();
        let good = json!({"version": m.info.version, "dump_type": m.info.dump_type,
            "build": m.info.build, "kernel_base": format!("{:#x}", m.info.kernel_base.0),
            "image_magic": "MZ", "tag_owner": "nt!ps", "text": CINFO_TEXT});
        check_cinfo(std::slice::from_ref(&good), &m, CINFO_TEXT).unwrap();
        let mut revision = good.clone();
        revision["version"] = json!(format!("{}.24540", m.info.version));
        check_cinfo(&[revision.clone()], &m, CINFO_TEXT).unwrap();
        revision["version"] = json!(format!("{}9", m.info.version));
        assert!(
            check_cinfo(&[revision], &m, CINFO_TEXT)
                .unwrap_err()
                .contains("version")
        );
        let mut bad = good.clone();
        bad["text"] = json!("say \"hi\" \\ \u{fffd}n\u{fffd}");
        assert!(
            check_cinfo(&[bad], &m, CINFO_TEXT)
                .unwrap_err()
                .contains("text")
        );
        assert!(check_cinfo(&[good.clone(), good], &m, CINFO_TEXT).is_err());
    }

    #[test]
    fn libprog_check_compares_modules_and_the_page() {
        let m = fixture_manifest();
        let (address, blocks) = pool_page(&m).unwrap();
        assert!(blocks.len() >= 2);
        let rows: Vec<Value> = blocks
            .iter()
            .map(|b| {
                json!({"address": format!("{:#x}", b.address.0), "size": b.size,
                       "state": b.state, "tag": b.tag,
                       "contains_address": b.address.0 == address})
            })
            .collect();
        let modules: Vec<Value> = m
            .modules
            .iter()
            .map(|r| json!({"name": r.name, "base": format!("{:#x}", r.base.0), "size": r.size}))
            .collect();
        let doc = json!({"target": {"build": m.info.build,
            "kernel_base": format!("{:#x}", m.info.kernel_base.0), "image_magic": "MZ"},
            "modules": modules, "pool": {"rows": rows}});
        check_libprog(&doc, &m, address).unwrap();
        let mut no_module = doc.clone();
        no_module["modules"].as_array_mut().unwrap().pop();
        assert!(
            check_libprog(&no_module, &m, address)
                .unwrap_err()
                .contains("modules")
        );
        let mut unmarked = doc.clone();
        for r in unmarked["pool"]["rows"].as_array_mut().unwrap() {
            r["contains_address"] = json!(false);
        }
        assert!(
            check_libprog(&unmarked, &m, address)
                .unwrap_err()
                .contains("contains_address")
        );
    }

    #[test]
    fn json_output_is_read_per_command() {
        let out =
            "{\"command\":\"!a\",\"rows\":[{\"x\":1}]}\n{\"command\":\"!b\",\"error\":\"boom\"}\n";
        assert_eq!(command_rows(out, "!a").unwrap(), vec![json!({"x": 1})]);
        assert!(command_rows(out, "!b").unwrap_err().contains("boom"));
        assert!(command_rows(out, "!c").is_err());
    }
}
