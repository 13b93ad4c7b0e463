//! `cargo xtask dist [--no-check]`: the release archive.
//!
//! Builds the host and the command plugins in release mode (not the example plugins), writes a small
//! synthetic sample dump with its manifest, and packs everything into
//! `target/dist/pooldbg-<version>-<target triple>.tar.gz`, beside a `.sha256` file that
//! `sha256sum -c` reads. The archive holds one folder of the same name:
//!
//! ```text
//! pooldbg                      the host
//! plugins/                     the command plugins (the host looks in `<exe dir>/plugins`, CONTRACT.md)
//! sample/                      a testkit dump, its ground-truth manifest, README.txt saying what it is
//! include/pooldbg_plugin.h     the C header of the plugin ABI
//! README.md CHANGELOG.md LICENSE LICENSE-MIT LICENSE-APACHE
//! ```
//!
//! Then, unless `--no-check`, it checks the archive as a user would use it: the sum, unpacked into a
//! fresh temporary folder outside the workspace, `pooldbg plugins`, `pooldbg info` and plugin
//! commands on the sample, with an empty environment.
//!
//! The archive is written with the `tar` and `flate2` crates rather than by running `tar`: the same
//! code works on Windows and macOS (no GNU tar, no `sha256sum` there), and the archive is
//! reproducible (sorted entries, fixed owner and modes, modification time from `SOURCE_DATE_EPOCH`
//! or the last commit).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;
use testkit::{Container, KernelBuilder, WriteOptions, write_with_manifest};

use crate::plugins::{self, Workspace};

/// The sample dump: a Windows 10 1809 x64 kernel bitmap dump (`MEMORY.DMP`'s usual kind) of 16 MiB
/// of memory, seed 1. Every shipped command answers on it.
pub const SAMPLE_PROFILE: &str = "win10-1809-x64";
/// Physical memory of the sample, in MiB (testkit's smallest).
pub const SAMPLE_MIB: u64 = 16;
/// The sample's container.
pub const SAMPLE_CONTAINER: Container = Container::Bitmap {
    full: false,
    dump_type: 5,
};

/// Checks `pooldbg info`'s text output on the sample: a `build <N>` line with the sample's build.
pub fn check_info(info: &str, what: &str) -> Result<(), String> {
    let build = testkit::profile(SAMPLE_PROFILE)
        .map(|p| p.build.to_string())
        .ok_or_else(|| format!("no testkit profile {SAMPLE_PROFILE}"))?;
    if info
        .lines()
        .any(|l| l.split_whitespace().eq(["build", build.as_str()]))
    {
        Ok(())
    } else {
        Err(format!(
            "pooldbg info {what}: no `build {build}` line in:\n{info}"
        ))
    }
}

/// The repository files shipped at the top of the archive.
const DOCS: &[&str] = &[
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "LICENSE-MIT",
    "LICENSE-APACHE",
];
/// The C header, shipped as `include/pooldbg_plugin.h`.
const HEADER: &str = "crates/plugin-abi/include/pooldbg_plugin.h";

/// One file of the archive: where it comes from, where it goes (relative, `/`-separated), its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Source file.
    pub from: PathBuf,
    /// Path inside the archive's top folder.
    pub to: String,
    /// Unix mode bits.
    pub mode: u32,
}

/// The archive's base name: `pooldbg-<version>-<triple>`.
pub fn base_name(version: &str, triple: &str) -> String {
    format!("pooldbg-{version}-{triple}")
}

/// The host's target triple, from `rustc -vV`.
pub fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("{rustc} -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| format!("{rustc} -vV: no `host:` line"))
}

/// Writes the sample dump, its manifest and a note into `dir`; returns the dump's file name.
pub fn write_sample(dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = testkit::profile(SAMPLE_PROFILE)
        .ok_or_else(|| format!("no testkit profile {SAMPLE_PROFILE}"))?;
    let kernel = KernelBuilder::standard(p)
        .seed(1)
        .memory_mib(SAMPLE_MIB)
        .build()
        .map_err(|e| format!("{SAMPLE_PROFILE}: {e}"))?;
    let stem = format!("{SAMPLE_PROFILE}-{}", SAMPLE_CONTAINER.slug());
    let name = format!("{stem}.{}", SAMPLE_CONTAINER.extension());
    let path = dir.join(&name);
    let info = write_with_manifest(&kernel, SAMPLE_CONTAINER, &path, &WriteOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let note = format!(
        "{name}: a synthetic crash dump, not from a real machine.\n\
         \n\
         Written by pooldbg's testkit (profile {SAMPLE_PROFILE}: Windows 10 1809 x64 with its real\n\
         public-symbol layouts; {SAMPLE_MIB} MiB of physical memory; seed 1) as a {} dump\n\
         (DumpType {}, {} bytes, {} pages). {stem}.json beside it is the ground truth the\n\
         tests check pooldbg against: every pool block, the tracker tables, !vm's figures.\n\
         \n\
         Try, from the folder above:\n\
         \n\
         \x20   ./pooldbg info sample/{name}\n\
         \x20   ./pooldbg -z sample/{name} -c \"!vm; !poolused 2; !frag\"\n\
         \x20   ./pooldbg sample/{name}          (interactive kd> prompt; q to quit)\n",
        info.kind,
        info.dump_type.map_or("-".into(), |t| t.to_string()),
        info.file_size,
        info.pages_in_file,
    );
    let at = dir.join("README.txt");
    std::fs::write(&at, note).map_err(|e| format!("{}: {e}", at.display()))?;
    Ok(name)
}

/// The archive's entries, sorted by destination.
pub fn entries(
    root: &Path,
    ws: &Workspace,
    built: &Path,
    sample_dir: &Path,
) -> Result<Vec<Entry>, String> {
    let mut v = vec![Entry {
        from: built.join(plugins::host_file()),
        to: plugins::host_file(),
        mode: 0o755,
    }];
    for p in &ws.plugins {
        v.push(Entry {
            from: built.join(p.file_name()),
            to: format!("plugins/{}", p.file_name()),
            mode: 0o755,
        });
    }
    for d in DOCS {
        v.push(Entry {
            from: root.join(d),
            to: (*d).to_string(),
            mode: 0o644,
        });
    }
    v.push(Entry {
        from: root.join(HEADER),
        to: "include/pooldbg_plugin.h".into(),
        mode: 0o644,
    });
    let mut sample: Vec<_> = std::fs::read_dir(sample_dir)
        .map_err(|e| format!("{}: {e}", sample_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    sample.sort();
    for f in sample {
        v.push(Entry {
            from: sample_dir.join(&f),
            to: format!("sample/{f}"),
            mode: 0o644,
        });
    }
    for e in &v {
        if !e.from.is_file() {
            return Err(format!(
                "{}: missing (wanted as {})",
                e.from.display(),
                e.to
            ));
        }
    }
    v.sort_by(|a, b| a.to.cmp(&b.to));
    Ok(v)
}

/// The modification time stamped on every entry: `SOURCE_DATE_EPOCH`, else the last commit's time,
/// else 0.
fn mtime(root: &Path) -> u64 {
    if let Some(t) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return t;
    }
    Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%ct"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `entries` under the folder `base` into a gzip'd tar at `out`.
pub fn write_archive(out: &Path, base: &str, entries: &[Entry], mtime: u64) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(String::new());
    for e in entries {
        let mut parent = String::new();
        for part in
            e.to.split('/')
                .rev()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
        {
            parent = if parent.is_empty() {
                part.to_string()
            } else {
                format!("{parent}/{part}")
            };
            dirs.insert(parent.clone());
        }
    }
    let err = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", out.display());
    for d in &dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(mtime);
        h.set_size(0);
        let path = if d.is_empty() {
            format!("{base}/")
        } else {
            format!("{base}/{d}/")
        };
        tar.append_data(&mut h, &path, std::io::empty())
            .map_err(|e| err(&path, e))?;
    }
    for e in entries {
        let data = std::fs::read(&e.from).map_err(|x| format!("{}: {x}", e.from.display()))?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(e.mode);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        let path = format!("{base}/{}", e.to);
        tar.append_data(&mut h, &path, data.as_slice())
            .map_err(|x| err(&path, x))?;
    }
    let gz = tar.into_inner().map_err(|e| err("tar", e))?;
    let mut file = gz.finish().map_err(|e| err("gzip", e))?;
    file.flush().map_err(|e| err("flush", e))?;
    Ok(())
}

/// The SHA-256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `<archive>.sha256` in `sha256sum`'s format (`HEX  NAME`); returns its path.
pub fn write_sum(archive: &Path) -> Result<PathBuf, String> {
    let hex = sha256_file(archive)?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let at = PathBuf::from(format!("{}.sha256", archive.display()));
    std::fs::write(&at, format!("{hex}  {name}\n"))
        .map_err(|e| format!("{}: {e}", at.display()))?;
    Ok(at)
}

/// A fresh empty folder in the system's temporary folder.
pub fn fresh_temp_dir(what: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("pooldbg-{what}-{}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Runs `exe ARGS` in `cwd` with an empty environment; returns stdout, or an error with both
/// streams.
pub fn run_clean(exe: &Path, cwd: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(exe)
        .current_dir(cwd)
        .env_clear()
        .args(args)
        .output()
        .map_err(|e| format!("{}: could not start: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{} {}` failed ({}):\n{stdout}{}",
            exe.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Checks the archive as a user gets it: its sum, then unpacked into a fresh temporary folder,
/// `pooldbg plugins` finds every plugin in `plugins/`, and `info` and the plugin commands answer on
/// the sample. Returns what was run, for the log.
pub fn check_archive(
    archive: &Path,
    sum_file: &Path,
    base: &str,
    sample: &str,
    ws: &Workspace,
) -> Result<Vec<String>, String> {
    let mut log = Vec::new();
    let want =
        std::fs::read_to_string(sum_file).map_err(|e| format!("{}: {e}", sum_file.display()))?;
    let got = sha256_file(archive)?;
    if want.split_whitespace().next() != Some(got.as_str()) {
        return Err(format!(
            "{}: sum {got} does not match {want}",
            archive.display()
        ));
    }
    log.push(format!("sha256 {got} matches {}", sum_file.display()));
    let dir = fresh_temp_dir("dist-check")?;
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(&dir)
        .map_err(|e| format!("{}: unpack into {}: {e}", archive.display(), dir.display()))?;
    let top = dir.join(base);
    let exe = top.join(plugins::host_file());
    log.push(format!("unpacked into {}", top.display()));
    let sample_path = format!("sample/{sample}");
    plugins::check_found(&exe, ws, &top.join("plugins"))?;
    log.push(format!(
        "pooldbg plugins: {} plugins found in {}",
        ws.plugins.len(),
        top.join("plugins").display()
    ));
    let info = run_clean(&exe, &top, &["info", &sample_path])?;
    check_info(&info, &sample_path)?;
    log.push(format!("pooldbg info {sample_path}: ok"));
    for cmd in ["!vm", "!poolused 2", "!frag"] {
        run_clean(&exe, &top, &["-z", &sample_path, "-c", cmd])?;
        log.push(format!("pooldbg -z {sample_path} -c \"{cmd}\": ok"));
    }
    std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(log)
}

/// `cargo xtask dist [--no-check] [--no-wheel]`: the archive, then the Python wheel
/// (`cargo xtask wheel`, needs maturin) unless `--no-wheel`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let mut check = true;
    let mut wheel = true;
    for a in args {
        match a.as_str() {
            "--no-check" => check = false,
            "--no-wheel" => wheel = false,
            _ => {
                return Err(format!(
                    "dist: unknown arguments {args:?} (dist [--no-check] [--no-wheel])"
                ));
            }
        }
    }
    run_archive(root, check)?;
    if wheel {
        eprintln!("==> the Python wheel (skip with --no-wheel)");
        crate::wheel::build(root, false)?;
    }
    Ok(())
}

fn run_archive(root: &Path, check: bool) -> Result<(), String> {
    let ws = plugins::workspace(root)?;
    let triple = host_triple()?;
    let built = plugins::build(root, &ws, true)?;
    let out = ws.target_dir.join("dist");
    let base = base_name(&ws.version, &triple);
    let sample_dir = out.join("sample");
    if sample_dir.exists() {
        std::fs::remove_dir_all(&sample_dir)
            .map_err(|e| format!("{}: {e}", sample_dir.display()))?;
    }
    eprintln!("==> sample dump ({SAMPLE_PROFILE}, {SAMPLE_MIB} MiB)");
    let sample = write_sample(&sample_dir)?;
    let list = entries(root, &ws, &built, &sample_dir)?;
    let archive = out.join(format!("{base}.tar.gz"));
    eprintln!("==> {}", archive.display());
    write_archive(&archive, &base, &list, mtime(root))?;
    let sum = write_sum(&archive)?;
    for e in &list {
        println!("  {base}/{}", e.to);
    }
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    println!("{} ({size} bytes)", archive.display());
    println!("{}", sum.display());
    if check {
        eprintln!("==> checking the archive in a fresh folder");
        for line in check_archive(&archive, &sum, &base, &sample, &ws)? {
            println!("  {line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_carry_version_and_triple() {
        assert_eq!(
            base_name("0.1.0", "x86_64-unknown-linux-gnu"),
            "pooldbg-0.1.0-x86_64-unknown-linux-gnu"
        );
        let t = host_triple().unwrap();
        assert!(t.contains('-'), "{t}");
    }

    #[test]
    fn the_archive_holds_what_the_issue_lists_and_its_sum_checks() {
        let root = crate::workspace_root();
        let tmp = fresh_temp_dir("dist-test").unwrap();
        // Stand-ins for the built files: this test is about the layout, not the build.
        let built = tmp.join("built");
        std::fs::create_dir_all(&built).unwrap();
        let ws = plugins::workspace(&root).unwrap();
        std::fs::write(built.join(plugins::host_file()), b"host").unwrap();
        for p in &ws.plugins {
            std::fs::write(built.join(p.file_name()), p.lib.as_bytes()).unwrap();
        }
        let sample_dir = tmp.join("sample");
        let sample = write_sample(&sample_dir).unwrap();
        let list = entries(&root, &ws, &built, &sample_dir).unwrap();
        let archive = tmp.join("a.tar.gz");
        write_archive(&archive, "pooldbg-x", &list, 1_700_000_000).unwrap();
        let sum = write_sum(&archive).unwrap();

        // Read it back.
        let file = std::fs::File::open(&archive).unwrap();
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
            if path.ends_with(&plugins::host_file()) {
                assert_eq!(e.header().mode().unwrap(), 0o755);
            }
            names.push(path);
        }
        for want in [
            format!("pooldbg-x/{}", plugins::host_file()),
            "pooldbg-x/plugins/".into(),
            format!("pooldbg-x/sample/{sample}"),
            "pooldbg-x/sample/README.txt".into(),
            format!("pooldbg-x/sample/{SAMPLE_PROFILE}-bitmap-sdmp-5.json"),
            "pooldbg-x/include/pooldbg_plugin.h".into(),
            "pooldbg-x/README.md".into(),
            "pooldbg-x/LICENSE".into(),
            "pooldbg-x/CHANGELOG.md".into(),
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        for p in &ws.plugins {
            let want = format!("pooldbg-x/plugins/{}", p.file_name());
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.contains("example")),
            "an example plugin was shipped: {names:?}"
        );
        // The sum file is sha256sum's format and matches; a changed byte does not.
        let text = std::fs::read_to_string(&sum).unwrap();
        assert_eq!(
            text,
            format!("{}  a.tar.gz\n", sha256_file(&archive).unwrap())
        );
        let mut bytes = std::fs::read(&archive).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&archive, bytes).unwrap();
        assert_ne!(
            text,
            format!("{}  a.tar.gz\n", sha256_file(&archive).unwrap())
        );
        // The sample is small enough to ship.
        let size = std::fs::metadata(sample_dir.join(&sample)).unwrap().len();
        assert!(size <= SAMPLE_MIB << 20, "{size}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn info_must_name_the_sample_build() {
        assert!(check_info("arch   x64\nbuild                 17763\n", "s").is_ok());
        assert!(check_info("build 7601\n", "s").is_err());
        assert!(check_info("version 10.0.17763.379\n", "s").is_err());
    }

    #[test]
    fn sha256_of_a_known_input() {
        let tmp = fresh_temp_dir("sha-test").unwrap();
        let f = tmp.join("abc");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
