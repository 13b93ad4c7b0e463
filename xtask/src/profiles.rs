//! `cargo xtask profiles import DIR | import-structs FILE | verify DIR`: the embedded per-build
//! kernel profiles in `crates/ntkernel/profiles/`.
//!
//! * `import DIR` reads a Volatility symbol folder (`DIR/INDEX.txt` names each build's version; the
//!   ISF files are found by GUID and age in any layout `--symbols` accepts) and writes one profile per
//!   build, keeping only what `ntkernel::profile::WANTED_*` names, then regenerates `index.rs`.
//! * `import-structs FILE` writes the layout-only profiles (every x86 version it covers, and the x64 builds no ISF covers) from the PDB-derived layouts in
//!   FILE, a `structs_by_version.txt` table: Volatility 2's vtypes grouped by identical layout
//!   (docs/POOL_INTERNALS.md §1; the table itself stays outside the repository).
//! * `verify DIR` checks every ISF file under DIR: if its GUID is embedded, every embedded value must
//!   equal the ISF; if not, every layout value pooldbg would take by its fallback rules (the nearest
//!   build of the same family) must equal the ISF. It prints both counts and each mismatch and fails
//!   on any. Guessed global RVAs are never used without checking them against the dump, so for
//!   fallback builds their differences are listed as information, not failures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ntkernel::isf::IsfFile;
use ntkernel::profile::{self, Mode, Profile, compare, parse_version};
use ntkernel::{Arch, PdbId, fallback, locate};

/// `cargo xtask profiles ...`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let out_dir = root.join("crates").join("ntkernel").join("profiles");
    match args {
        [cmd, dir] if cmd == "import" => {
            let n = import(Path::new(dir), &out_dir)?;
            println!("imported {n} profiles into {}", out_dir.display());
            Ok(())
        }
        [cmd, file] if cmd == "import-structs" => {
            let n = import_structs(Path::new(file), &out_dir)?;
            println!("wrote {n} layout-only profiles into {}", out_dir.display());
            Ok(())
        }
        [cmd, dir] if cmd == "verify" => {
            let mut out = String::new();
            let result = verify(Path::new(dir), &mut out);
            print!("{out}");
            let s = result?;
            if s.mismatches > 0 {
                Err(format!("profiles verify: {} mismatches", s.mismatches))
            } else {
                Ok(())
            }
        }
        _ => {
            Err("usage: cargo xtask profiles import DIR | import-structs FILE | verify DIR".into())
        }
    }
}

/// One line of a Volatility pack's `INDEX.txt`: `VERSION GUID-AGE LABEL`.
#[derive(Debug, Clone)]
struct IndexLine {
    version: String,
    id: PdbId,
}

fn read_index(dir: &Path) -> Vec<IndexLine> {
    let Ok(text) = std::fs::read_to_string(dir.join("INDEX.txt")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let version = w.next()?.to_string();
            let (guid, age) = w.next()?.rsplit_once('-')?;
            Some(IndexLine {
                version,
                id: PdbId {
                    name: "ntkrnlmp.pdb".into(),
                    guid: guid.to_ascii_uppercase(),
                    age: age.parse().ok()?,
                },
            })
        })
        .collect()
}

fn arch_of(isf: &IsfFile) -> Arch {
    isf.machine
        .and_then(Arch::from_machine)
        .unwrap_or(Arch::X64)
}

/// Imports every build listed in `DIR/INDEX.txt`; returns how many profiles were written.
pub fn import(dir: &Path, out_dir: &Path) -> Result<usize, String> {
    let index = read_index(dir);
    if index.is_empty() {
        return Err(format!(
            "{}: no INDEX.txt (lines `VERSION GUID-AGE LABEL`) naming the builds",
            dir.display()
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut n = 0;
    for line in &index {
        let Some(path) = locate::candidates(dir, &line.id).into_iter().next() else {
            return Err(format!(
                "{}: no ISF file for {}",
                dir.display(),
                line.id.isf_stem()
            ));
        };
        let isf = IsfFile::load(&path).map_err(|e| e.to_string())?;
        let (build, revision) = parse_version(&line.version)
            .ok_or_else(|| format!("INDEX.txt: bad version {}", line.version))?;
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let p = Profile {
            name: line.version.clone(),
            arch: arch_of(&isf),
            build,
            revision,
            pdb: isf.pdb.clone().or_else(|| Some(line.id.clone())),
            origin: format!(
                "source: ISF {rel} (Volatility 3 symbols made from Microsoft's public PDB)"
            ),
            table: Profile::extract(&isf.table),
        };
        let file = out_dir.join(p.file_name());
        std::fs::write(&file, p.to_text()).map_err(|e| format!("{}: {e}", file.display()))?;
        n += 1;
    }
    write_index(out_dir)?;
    Ok(n)
}

/// Regenerates `index.rs`: every `*.txt` profile in the folder, embedded with `include_str!`.
fn write_index(out_dir: &Path) -> Result<(), String> {
    let mut names: Vec<String> = std::fs::read_dir(out_dir)
        .map_err(|e| format!("{}: {e}", out_dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    let mut s = String::from(
        "// Generated by `cargo xtask profiles import`; do not edit.\n// Included by crates/ntkernel/src/profile.rs.\n&[\n",
    );
    for n in names {
        let _ = writeln!(
            s,
            "    (\"{n}\", include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/profiles/{n}\"))),"
        );
    }
    s.push_str("]\n");
    let file = out_dir.join("index.rs");
    std::fs::write(&file, s).map_err(|e| format!("{}: {e}", file.display()))
}

/// The version groups written as layout-only profiles: (structs_by_version.txt tag, arch, profile
/// name, build). All x86 versions the file covers; for x64 only the builds no ISF profile covers.
const LAYOUT_GROUPS: &[(&str, Arch, &str, u32)] = &[
    ("xp_sp3_x86", Arch::X86, "5.1.2600-xp-sp3", 2600),
    ("win2003_sp2_x86", Arch::X86, "5.2.3790-2003-sp2", 3790),
    ("vista_sp2_x86", Arch::X86, "6.0.6002-vista-sp2", 6002),
    ("win7_sp1_x86", Arch::X86, "6.1.7601-7-sp1", 7601),
    ("win8_sp0_x86", Arch::X86, "6.2.9200-8", 9200),
    ("win81_u1_x86", Arch::X86, "6.3.9600-8.1", 9600),
    (
        "win10_x86_10240_17770",
        Arch::X86,
        "10.0.10240-layouts",
        10240,
    ),
    ("win10_x86_15063", Arch::X86, "10.0.15063-layouts", 15063),
    ("win10_x86_16299", Arch::X86, "10.0.16299-layouts", 16299),
    ("win10_x86_17134", Arch::X86, "10.0.17134-layouts", 17134),
    ("win10_x86_17763", Arch::X86, "10.0.17763-layouts", 17763),
    ("win10_x86_18362", Arch::X86, "10.0.18362-layouts", 18362),
    ("win10_x86_19041", Arch::X86, "10.0.19041-layouts", 19041),
    ("win2003_sp2_x64", Arch::X64, "5.2.3790-2003-sp2", 3790),
    ("vista_sp2_x64", Arch::X64, "6.0.6002-vista-sp2", 6002),
    ("win8_sp0_x64", Arch::X64, "6.2.9200-8", 9200),
    (
        "win10_x64_10240_17770",
        Arch::X64,
        "10.0.10240-layouts",
        10240,
    ),
    ("win10_x64_15063", Arch::X64, "10.0.15063-layouts", 15063),
    ("win10_x64_16299", Arch::X64, "10.0.16299-layouts", 16299),
    ("win10_x64_17134", Arch::X64, "10.0.17134-layouts", 17134),
];

/// Parses `structs_by_version.txt` and writes one layout-only profile per [`LAYOUT_GROUPS`] entry.
///
/// A type whose listing is inconsistent (a field reaching past the type's size, or a field listed
/// twice at different offsets) is left out and reported: the file's groups were merged by layout
/// and a few of its blocks mix two layouts.
pub fn import_structs(file: &Path, out_dir: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let blocks = parse_structs(&text);
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut n = 0;
    for (tag, arch, name, build) in LAYOUT_GROUPS {
        let mut table = ntkernel::symbols::TypeTable::default();
        for b in blocks.iter().filter(|b| b.tags.iter().any(|t| t == tag)) {
            match &b.problem {
                Some(why) => eprintln!("{tag}: {} left out: {why}", b.type_name),
                None => {
                    table
                        .types
                        .entry(b.type_name.clone())
                        .or_insert_with(|| b.def.clone());
                }
            }
        }
        let p = Profile {
            name: (*name).to_string(),
            arch: *arch,
            build: *build,
            revision: 0,
            pdb: None,
            origin: format!(
                "source: shared/reference/structs_by_version.txt group {tag} (PDB-derived layouts; layouts only, globals come from the KDBG)"
            ),
            table,
        };
        let path = out_dir.join(p.file_name());
        std::fs::write(&path, p.to_text()).map_err(|e| format!("{}: {e}", path.display()))?;
        n += 1;
    }
    write_index(out_dir)?;
    Ok(n)
}

#[derive(Debug)]
struct StructBlock {
    tags: Vec<String>,
    type_name: String,
    def: ntkernel::symbols::TypeDef,
    problem: Option<String>,
}

fn parse_structs(text: &str) -> Vec<StructBlock> {
    use ntkernel::symbols::{Bits, FieldDef, TypeDef};
    let mut out: Vec<StructBlock> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(list) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            tags = list.split(',').map(|s| s.trim().to_string()).collect();
            continue;
        }
        if t.starts_with('_') {
            if let Some((name, size)) = t.split_once(" size=") {
                let size = u64::from_str_radix(size.trim().trim_start_matches("0x"), 16).ok();
                out.push(StructBlock {
                    tags: tags.clone(),
                    type_name: name.trim().to_string(),
                    def: TypeDef {
                        size: size.unwrap_or(0),
                        ..Default::default()
                    },
                    problem: size.is_none().then(|| "unreadable size".to_string()),
                });
            }
            continue;
        }
        let Some(rest) = t.strip_prefix("+0x") else {
            continue;
        };
        let Some(block) = out.last_mut() else {
            continue;
        };
        let mut w = rest.split_whitespace();
        let (Some(off), Some(fname)) = (w.next(), w.next()) else {
            continue;
        };
        let Ok(offset) = u64::from_str_radix(off, 16) else {
            continue;
        };
        let tail: Vec<&str> = w.collect();
        let bits = tail.first().and_then(|b| {
            let r = b.strip_prefix("bits[")?.strip_suffix(')')?;
            let (a, z) = r.split_once(':')?;
            let (a, z): (u32, u32) = (a.parse().ok()?, z.parse().ok()?);
            Some(Bits {
                position: a,
                length: z.checked_sub(a)?,
            })
        });
        let f = FieldDef {
            offset,
            bits,
            nested: None,
        };
        if offset >= block.def.size && block.def.size > 0 {
            block.problem = Some(format!(
                "field {fname} at {offset:#x} lies past the size {:#x}",
                block.def.size
            ));
        }
        match block.def.fields.get(fname) {
            Some(old) if *old != f => {
                block.problem = Some(format!("field {fname} listed twice, differently"));
            }
            _ => {
                block.def.fields.insert(fname.to_string(), f);
            }
        }
    }
    out
}

/// What `verify` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// ISF files whose GUID is embedded.
    pub embedded: usize,
    /// Values compared for them.
    pub embedded_values: usize,
    /// ISF files checked by the fallback rules.
    pub fallback: usize,
    /// Values compared for them.
    pub fallback_values: usize,
    /// Mismatches (failures).
    pub mismatches: usize,
    /// Guessed global RVAs that differ (information: validation must reject them).
    pub rva_guesses_differ: usize,
}

fn isf_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            isf_files(&p, out, depth + 1);
        } else {
            let n = p.to_string_lossy().to_ascii_lowercase();
            if n.ends_with(".json") || n.ends_with(".json.xz") {
                out.push(p);
            }
        }
    }
}

/// Verifies the embedded profiles against every ISF file under `dir`, writing a report to `out`.
pub fn verify(dir: &Path, out: &mut String) -> Result<Summary, String> {
    let index = read_index(dir);
    let mut files = Vec::new();
    isf_files(dir, &mut files, 0);
    if files.is_empty() {
        return Err(format!(
            "{}: no ISF files (*.json, *.json.xz)",
            dir.display()
        ));
    }
    let mut s = Summary::default();
    for path in &files {
        let rel = path.strip_prefix(dir).unwrap_or(path).display().to_string();
        let isf = match IsfFile::load(path) {
            Ok(i) => i,
            Err(e) => {
                s.mismatches += 1;
                let _ = writeln!(out, "MISMATCH {rel}: cannot be read: {e}");
                continue;
            }
        };
        let Some(pdb) = isf.pdb.clone() else {
            s.mismatches += 1;
            let _ = writeln!(out, "MISMATCH {rel}: no PDB GUID/age in its metadata");
            continue;
        };
        if let Some(p) = profile::by_pdb(&pdb) {
            let c = compare(&p.table, &isf.table, Mode::Exact);
            s.embedded += 1;
            s.embedded_values += c.compared;
            for m in &c.mismatches {
                let _ = writeln!(
                    out,
                    "MISMATCH {} ({}) {}: embedded {}, ISF {}",
                    p.name,
                    pdb.isf_stem(),
                    m.what,
                    m.profile,
                    m.isf
                );
            }
            s.mismatches += c.mismatches.len();
            continue;
        }
        let version = index
            .iter()
            .find(|l| l.id.guid.eq_ignore_ascii_case(&pdb.guid) && l.id.age == pdb.age)
            .map(|l| l.version.clone());
        let Some((build, revision)) = version.as_deref().and_then(parse_version) else {
            s.mismatches += 1;
            let _ = writeln!(
                out,
                "MISMATCH {rel} ({}): not embedded, and INDEX.txt gives no version to choose a fallback by",
                pdb.isf_stem()
            );
            continue;
        };
        let Some(guess) = fallback::guess(arch_of(&isf), build, revision, None) else {
            s.mismatches += 1;
            let _ = writeln!(
                out,
                "MISMATCH {rel} ({}, build {build}): not embedded, and no embedded build of its family",
                pdb.isf_stem()
            );
            continue;
        };
        s.fallback += 1;
        let layout = compare(&guess.table, &isf.table, Mode::Fallback);
        s.fallback_values += layout.compared;
        for m in &layout.mismatches {
            let _ = writeln!(
                out,
                "MISMATCH {rel} ({}, {}) {}: guessed from {} {}, ISF {}",
                pdb.isf_stem(),
                version.as_deref().unwrap_or("?"),
                m.what,
                guess.name,
                m.profile,
                m.isf
            );
        }
        s.mismatches += layout.mismatches.len();
        let full = compare(&guess.table, &isf.table, Mode::FallbackWithGlobals);
        let rvas: BTreeMap<_, _> = full
            .mismatches
            .iter()
            .filter(|m| m.what.starts_with("global "))
            .map(|m| (m.what.clone(), (m.profile.clone(), m.isf.clone())))
            .collect();
        s.rva_guesses_differ += rvas.len();
        for (what, (a, b)) in rvas {
            let _ = writeln!(
                out,
                "note {rel}: {what} guessed from {} would be {a}, ISF {b} (rejected unless it validates)",
                guess.name
            );
        }
    }
    let _ = writeln!(
        out,
        "verified {} ISF files against their embedded profiles ({} values) and {} by the fallback rules ({} values): {} mismatches; {} guessed global RVAs differ (checked against the dump before use)",
        s.embedded,
        s.embedded_values,
        s.fallback,
        s.fallback_values,
        s.mismatches,
        s.rva_guesses_differ
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pooldbg-xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("windows/ntkrnlmp.pdb")).unwrap();
        d
    }

    fn json_of(path: &Path) -> serde_json::Value {
        let raw = std::fs::read(path).unwrap();
        let mut s = Vec::new();
        liblzma::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut s)
            .unwrap();
        serde_json::from_slice(&s).unwrap()
    }

    #[test]
    fn verify_passes_on_the_real_isf_folder() {
        let Some(dir) = testdata::require("data/isf") else {
            return;
        };
        let mut out = String::new();
        let s = verify(&dir, &mut out).unwrap();
        assert_eq!(s.mismatches, 0, "{out}");
        assert_eq!(s.embedded, 31, "{out}");
        assert!(s.embedded_values > 31 * 100, "{out}");
        assert!(out.contains("verified 31 ISF files"), "{out}");
    }

    #[test]
    fn verify_fails_on_an_altered_copy_and_names_each_mismatch() {
        let Some(dir) = testdata::require("data/isf") else {
            return;
        };
        let src = dir.join("windows/ntkrnlmp.pdb/BBED7C2955FBE4522AAA23F4B8677AD9-1.json.xz");
        let tmp = temp_dir("verify");
        // 1. An embedded build with one field and one global altered.
        let mut a = json_of(&src);
        a["user_types"]["_POOL_HEADER"]["fields"]["PoolTag"]["offset"] = 6.into();
        a["symbols"]["PoolTrackTable"]["address"] = 0x1234.into();
        std::fs::write(
            tmp.join("windows/ntkrnlmp.pdb/BBED7C2955FBE4522AAA23F4B8677AD9-1.json"),
            serde_json::to_vec(&a).unwrap(),
        )
        .unwrap();
        // 2. An unknown revision of 19041 (fallback rules) with one layout value altered.
        let mut b = json_of(&src);
        b["metadata"]["windows"]["pdb"]["GUID"] = "0123456789ABCDEF0123456789ABCDEF".into();
        b["user_types"]["_POOL_TRACKER_TABLE"]["size"] = 0x40.into();
        std::fs::write(
            tmp.join("windows/ntkrnlmp.pdb/0123456789ABCDEF0123456789ABCDEF-1.json"),
            serde_json::to_vec(&b).unwrap(),
        )
        .unwrap();
        std::fs::write(
            tmp.join("INDEX.txt"),
            "10.0.19041.330 0123456789ABCDEF0123456789ABCDEF-1 Win10\n",
        )
        .unwrap();
        let mut out = String::new();
        let s = verify(&tmp, &mut out).unwrap();
        assert_eq!((s.embedded, s.fallback), (1, 1), "{out}");
        assert_eq!(s.mismatches, 3, "{out}");
        assert!(
            out.contains("field _POOL_HEADER.PoolTag: embedded 0x4, ISF 0x6"),
            "{out}"
        );
        assert!(
            out.contains("global PoolTrackTable: embedded 0xc16828, ISF 0x1234"),
            "{out}"
        );
        assert!(
            out.contains("size _POOL_TRACKER_TABLE: guessed from 10.0.19041.329 0x38, ISF 0x40"),
            "{out}"
        );
        // And the command itself exits non-zero.
        let err = run(
            Path::new("/nonexistent-root"),
            &["verify".to_string(), tmp.display().to_string()],
        )
        .unwrap_err();
        assert!(err.contains("3 mismatches"), "{err}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn structs_listing_is_parsed_and_inconsistent_blocks_are_flagged() {
        let text = "[a_x86, b_x86]\n_T size=0x8\n   +0x0   A   bits[0:9) unsigned short\n   +0x4   B   unsigned long\n\n[a_x86]\n_U size=0x4\n   +0x0   K   long\n   +0x8   L   long\n";
        let blocks = parse_structs(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].tags, vec!["a_x86", "b_x86"]);
        let a = &blocks[0].def.fields["A"];
        assert_eq!(a.bits.map(|b| (b.position, b.length)), Some((0, 9)));
        assert!(blocks[0].problem.is_none());
        assert!(
            blocks[1]
                .problem
                .as_deref()
                .unwrap()
                .contains("past the size")
        );
    }
}
