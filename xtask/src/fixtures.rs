//! `cargo xtask fixtures [--out DIR] [--size N]`: the standard set of synthetic kernel dumps.
//!
//! For every testkit profile, every container it can be written in (`<out>/<profile>/<container>.<ext>`)
//! with its ground-truth manifest beside it (`.json`), plus fault fixtures under `<out>/faults/`.
//! `--size` is the physical memory in MiB (default 64); files are sparse.

use std::path::{Path, PathBuf};

use testkit::{Container, Fault, KernelBuilder, PROFILES, WriteOptions, write_with_manifest};

/// Parsed arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// Output folder.
    pub out: PathBuf,
    /// Memory size in MiB.
    pub size_mib: u64,
    /// `--fleet N`: write N machines' dumps twice (`old/`, `new/`) instead of the standard set.
    pub fleet: Option<u32>,
}

/// The command line of `fixtures` (clap).
#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask fixtures", no_binary_name = true)]
struct Cli {
    /// Output folder (default: target/fixtures).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Physical memory in MiB (at least 16).
    #[arg(long = "size", value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(16..))]
    size_mib: u64,
    /// Write a fleet instead: N machines, two collections (`old/`, `new/`), the new one with
    /// pool that grew (tag `Leak`), each dump with its manifest (for the Python fleet tests
    /// and the batch benchmark).
    #[arg(long, value_name = "N")]
    fleet: Option<u32>,
}

/// Parses `--out DIR` and `--size N` (`root` is the workspace root, for the default out folder).
pub fn parse_args(args: &[String], root: &Path) -> Result<Args, String> {
    use clap::Parser;
    let cli = Cli::try_parse_from(args).map_err(|e| format!("fixtures: {e}"))?;
    Ok(Args {
        out: cli
            .out
            .unwrap_or_else(|| root.join("target").join("fixtures")),
        size_mib: cli.size_mib,
        fleet: cli.fleet,
    })
}

/// Writes the standard set; returns the number of images written.
pub fn write_set(args: &Args) -> Result<usize, String> {
    let mut count = 0;
    let mut index = Vec::new();
    for p in PROFILES {
        let kernel = KernelBuilder::standard(p)
            .seed(1)
            .memory_mib(args.size_mib)
            .build()
            .map_err(|e| format!("{}: {e}", p.name))?;
        let dir = args.out.join(p.name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for &c in Container::ALL.iter().filter(|c| c.supports(p.arch)) {
            let path = dir.join(format!("{}.{}", c.slug(), c.extension()));
            let info = write_with_manifest(&kernel, c, &path, &WriteOptions::default())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            index.push(serde_json::json!({
                "path": format!("{}/{}.{}", p.name, c.slug(), c.extension()),
                "manifest": format!("{}/{}.json", p.name, c.slug()),
                "profile": p.name,
                "arch": p.arch.name(),
                "build": p.build,
                "container": c.slug(),
                "dump_type": info.dump_type,
                "file_size": info.file_size,
            }));
            count += 1;
        }
    }
    // Faults: one profile of each width.
    let faults = args.out.join("faults");
    std::fs::create_dir_all(&faults).map_err(|e| format!("{}: {e}", faults.display()))?;
    for name in ["win7sp1-x64", "xpsp3-x86"] {
        let p = testkit::profile(name).ok_or("profile table lost a profile")?;
        let corrupt = KernelBuilder::standard(p)
            .seed(1)
            .memory_mib(args.size_mib)
            .fault(Fault::CorruptPoolHeader { tag: *b"Irp " })
            .fault(Fault::BrokenFreeListLink)
            .build()
            .map_err(|e| format!("{name}: {e}"))?;
        let path = faults.join(format!("{name}-corrupt-pool.dmp"));
        write_with_manifest(&corrupt, Container::Full, &path, &WriteOptions::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let path = faults.join(format!("{name}-truncated.dmp"));
        let opts = WriteOptions {
            truncate_to: Some(args.size_mib * 1024 * 1024 / 2),
        };
        write_with_manifest(
            &corrupt,
            Container::Bitmap {
                full: true,
                dump_type: 5,
            },
            &path,
            &opts,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        count += 2;
    }
    // Segment heap (Windows 11): a corrupted VS chunk header and a bad LFH bitmap.
    let p = testkit::profile("win11-21h2-x64").ok_or("profile table lost a profile")?;
    let corrupt = KernelBuilder::standard(p)
        .seed(1)
        .memory_mib(args.size_mib)
        .fault(Fault::CorruptVsHeader { tag: *b"Thre" })
        .fault(Fault::BadLfhBitmap { tag: *b"Irp " })
        .build()
        .map_err(|e| format!("{}: {e}", p.name))?;
    let path = faults.join(format!("{}-corrupt-segheap.dmp", p.name));
    write_with_manifest(&corrupt, Container::Full, &path, &WriteOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    count += 1;
    let json = serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())?;
    let at = args.out.join("INDEX.json");
    std::fs::write(&at, json).map_err(|e| format!("{}: {e}", at.display()))?;
    Ok(count)
}

/// `cargo xtask fixtures`.
/// Writes `machines` machines' dumps twice under `out`: `old/machine-K.dmp` and
/// `new/machine-K.dmp` (full crash dumps, a manifest `.json` beside each). Machine K alternates
/// between the win7sp1-x64 and xpsp3-x86 profiles, seed K+1, bugcheck 0xE2; its new dump adds
/// K+1 nonpaged allocations of 0x1000 bytes tagged `Leak`, so the growth table is known from
/// the manifests. Returns the number of dumps written.
pub fn write_fleet(out: &Path, size_mib: u64, machines: u32) -> Result<usize, String> {
    let mut count = 0;
    for k in 0..machines {
        let name = if k % 2 == 0 {
            "win7sp1-x64"
        } else {
            "xpsp3-x86"
        };
        let p = testkit::profile(name).ok_or("profile table lost a profile")?;
        for collection in ["old", "new"] {
            let mut b = KernelBuilder::standard(p)
                .seed(u64::from(k) + 1)
                .memory_mib(size_mib);
            if collection == "new" {
                for _ in 0..=k {
                    b = b.alloc(b"Leak", 0x1000, testkit::PoolKind::NonPaged);
                }
            }
            let kernel = b.build().map_err(|e| format!("{name}: {e}"))?;
            let dir = out.join(collection);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = dir.join(format!("machine-{k}.dmp"));
            write_with_manifest(&kernel, Container::Full, &path, &WriteOptions::default())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            count += 1;
        }
    }
    Ok(count)
}

pub fn run(args: &[String], root: &Path) -> Result<(), String> {
    let args = parse_args(args, root)?;
    if let Some(machines) = args.fleet {
        let n = write_fleet(&args.out, args.size_mib, machines)?;
        eprintln!("wrote {n} fleet dumps under {}", args.out.display());
        return Ok(());
    }
    let n = write_set(&args)?;
    eprintln!(
        "wrote {n} images ({} MiB of physical memory each) with their manifests under {}",
        args.size_mib,
        args.out.display()
    );
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
        let root = Path::new("/r");
        assert_eq!(
            parse_args(&[], root),
            Ok(Args {
                out: PathBuf::from("/r/target/fixtures"),
                size_mib: 64,
                fleet: None,
            })
        );
        assert_eq!(
            parse_args(&s(&["--out", "x", "--size", "32"]), root),
            Ok(Args {
                out: PathBuf::from("x"),
                size_mib: 32,
                fleet: None,
            })
        );
        assert!(parse_args(&s(&["--size", "ten"]), root).is_err());
        assert!(parse_args(&s(&["--size", "8"]), root).is_err());
        assert!(parse_args(&s(&["--bogus"]), root).is_err());
    }

    #[test]
    fn writes_the_standard_set() {
        let out = std::env::temp_dir().join(format!("xtask-fixtures-{}", std::process::id()));
        let n = write_set(&Args {
            out: out.clone(),
            size_mib: 16,
            fleet: None,
        })
        .unwrap();
        // 8 x64 profiles x 11 containers + 4 x86 ones x 7 (no triage, no RDMP) + 5 fault images.
        assert_eq!(n, 8 * 11 + 4 * 7 + 5);
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join("win7sp1-x64/bitmap-sdmp-5.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["info"]["dump_type"], "bitmap kernel");
        assert_eq!(m["info"]["pdb"]["guid"], "339E74133576439CBCDF7E0229DA3773");
        let idx: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("INDEX.json")).unwrap()).unwrap();
        assert_eq!(idx.as_array().unwrap().len(), 8 * 11 + 4 * 7);
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join("faults/win11-21h2-x64-corrupt-segheap.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m["faults"][0]["kind"], "corrupt_vs_header");
        assert_eq!(m["faults"][1]["kind"], "bad_lfh_bitmap");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("win2022-x64/full.json")).unwrap())
                .unwrap();
        assert!(
            !m["segment_heap"]["lfh_blocks"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(
            !m["segment_heap"]["vs_chunks"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let t = std::fs::metadata(out.join("faults/xpsp3-x86-truncated.dmp")).unwrap();
        assert_eq!(t.len(), 8 * 1024 * 1024);
        std::fs::remove_dir_all(&out).unwrap();
    }
}
