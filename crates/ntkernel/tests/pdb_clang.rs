//! PDB support on a real PDB made here with clang and lld-link (`/DEBUG`): types, bit fields, dotted
//! paths, global RVAs, the PDB identity, and the image's RSDS record naming the same GUID and age;
//! then the symbol-store and `_NT_SYMBOL_PATH` forms. Skipped, with the reason printed, when clang
//! or lld-link is not installed (`apt-get install clang lld`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

mod common;

use common::map_image;
use pooldbg_ntkernel::locate;
use pooldbg_ntkernel::pdbfile::PdbFile;
use pooldbg_ntkernel::pe;
use pooldbg_ntkernel::symbols::{Bits, Source, SymbolSource};

const SOURCE: &str = r#"
struct _LIST_ENTRY { struct _LIST_ENTRY *Flink; struct _LIST_ENTRY *Blink; };
struct _POOL_HEADER {
  union {
    struct { unsigned short PreviousSize : 8; unsigned short PoolIndex : 8;
             unsigned short BlockSize : 8; unsigned short PoolType : 8; };
    unsigned long Ulong1;
  };
  unsigned long PoolTag;
  union { void *ProcessBilled; struct { unsigned short AllocatorBackTraceIndex; unsigned short PoolTagHash; }; };
};
struct _KPROCESS { char Header[0x28]; unsigned long long DirectoryTableBase; };
struct _EPROCESS { struct _KPROCESS Pcb; struct _LIST_ENTRY ActiveProcessLinks; };
__declspec(dllexport) struct _POOL_HEADER PoolHitHeader;
__declspec(dllexport) struct _EPROCESS *PsInitialSystemProcess;
__declspec(dllexport) unsigned long long PoolTrackTableSize = 0x2000;
"#;

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds k.dll and ntkrnlmp.pdb in a fresh folder; `None` (reason printed) without the tools.
fn build() -> Option<PathBuf> {
    if !tool("clang") || !tool("lld-link") {
        testdata::skip(
            "clang and lld-link are needed to make a test PDB (apt-get install clang lld)",
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!("ntkernel-pdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k.c"), SOURCE).unwrap();
    let ok = Command::new("clang")
        .current_dir(&dir)
        .args([
            "--target=x86_64-pc-windows-msvc",
            "-c",
            "-g",
            "-gcodeview",
            "k.c",
            "-o",
            "k.obj",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "clang failed");
    let ok = Command::new("lld-link")
        .current_dir(&dir)
        .args([
            "/DEBUG",
            "/NOENTRY",
            "/DLL",
            "/NODEFAULTLIB",
            "k.obj",
            "/OUT:k.dll",
            "/PDB:ntkrnlmp.pdb",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "lld-link failed");
    Some(dir)
}

#[test]
fn a_clang_made_pdb_gives_types_fields_globals_and_its_identity() {
    let Some(dir) = build() else { return };
    let pdb = PdbFile::load(&dir.join("ntkrnlmp.pdb")).unwrap();
    assert!(pdb.is_64bit);
    assert_eq!(pdb.pdb.name, "ntkrnlmp.pdb");
    assert_eq!(pdb.pdb.guid.len(), 32);
    let t = &pdb.table;
    assert_eq!(t.type_size("_POOL_HEADER"), Some(16));
    assert_eq!(
        t.field("_POOL_HEADER", "PoolTag").map(|f| f.offset),
        Some(4)
    );
    assert_eq!(
        t.field("_EPROCESS", "Pcb.DirectoryTableBase")
            .map(|f| f.offset),
        Some(0x28)
    );
    assert_eq!(
        t.field("_EPROCESS", "ActiveProcessLinks").map(|f| f.offset),
        Some(0x30)
    );
    assert_eq!(t.type_size("_EPROCESS"), Some(0x40));
    // Bit fields keep their bit range (wherever the compiler nests the anonymous members).
    let bits: Vec<Bits> = t
        .types
        .values()
        .filter_map(|d| d.fields.get("BlockSize"))
        .filter_map(|f| f.bits)
        .collect();
    assert!(
        bits.contains(&Bits {
            position: 0,
            length: 8
        }) || bits.contains(&Bits {
            position: 16,
            length: 8
        }),
        "{bits:?}"
    );

    // The image names the same PDB, and the PDB's global RVAs are the image's export RVAs.
    let base = 0x1_8000_0000u64;
    let (mem, image) = map_image(&dir.join("k.dll"), base);
    let info = pe::read_image(&mem, base).unwrap();
    assert_eq!(info.pdb.as_ref(), Ok(&pdb.pdb));
    for name in [
        "PoolTrackTableSize",
        "PsInitialSystemProcess",
        "PoolHitHeader",
    ] {
        let export = image
            .exports
            .iter()
            .find(|e| e.name == Some(name))
            .unwrap_or_else(|| panic!("{name} not exported"));
        assert_eq!(
            t.globals.get(name).copied(),
            Some(export.rva as u64),
            "{name}"
        );
    }
    let mut v = [0u8; 8];
    use pooldbg_ntkernel::memory::KernelMemory;
    mem.read_virtual(base + t.globals["PoolTrackTableSize"], &mut v)
        .unwrap();
    assert_eq!(u64::from_le_bytes(v), 0x2000);

    // A local symbol store: STORE/ntkrnlmp.pdb/<GUID><AGE>/ntkrnlmp.pdb, directly and through
    // _NT_SYMBOL_PATH's srv* form (the URL is ignored).
    let store = dir.join("store");
    let leaf = store.join("ntkrnlmp.pdb").join(pdb.pdb.store_key());
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::copy(dir.join("ntkrnlmp.pdb"), leaf.join("ntkrnlmp.pdb")).unwrap();
    let found = locate::open(&store, Some(&pdb.pdb)).unwrap().unwrap();
    assert_eq!(
        found.symbols.source(),
        Source::UserPdb(leaf.join("ntkrnlmp.pdb"))
    );
    let env = format!(
        "srv*{}*https://msdl.microsoft.com/download/symbols",
        store.display()
    );
    let dirs = locate::nt_symbol_path_dirs(&env);
    assert_eq!(dirs, vec![store.clone()]);
    assert!(locate::open(&dirs[0], Some(&pdb.pdb)).unwrap().is_some());
    // The .pdb file given directly.
    let direct = locate::open(&dir.join("ntkrnlmp.pdb"), Some(&pdb.pdb))
        .unwrap()
        .unwrap();
    assert!(direct.symbols.global("PoolTrackTableSize").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
