//! The production ISF loader and the symbol-path forms, on every real ISF file in shared/data/isf,
//! checked against the independent test-side reader in `testdata`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_ntkernel::PdbId;
use pooldbg_ntkernel::isf::IsfFile;
use pooldbg_ntkernel::locate::{self, LocateError};
use pooldbg_ntkernel::symbols::{Source, SymbolSource};

const FIELDS: &[(&str, &str)] = &[
    ("_POOL_HEADER", "BlockSize"),
    ("_POOL_HEADER", "PoolTag"),
    ("_POOL_HEADER", "PoolType"),
    ("_POOL_TRACKER_TABLE", "NonPagedBytes"),
    ("_POOL_TRACKER_BIG_PAGES", "NumberOfBytes"),
    ("_POOL_TRACKER_BIG_PAGES", "PoolType"),
    ("_EPROCESS", "Pcb.DirectoryTableBase"),
    ("_EPROCESS", "ActiveProcessLinks"),
    ("_KUSER_SHARED_DATA", "NtBuildNumber"),
    ("_MI_PARTITION", "Vp.AvailablePages"),
    ("_MI_SYSTEM_INFORMATION", "Pools.AllocatedNonPagedPool"),
];

const GLOBALS: &[&str] = &[
    "PoolTrackTable",
    "PoolBigPageTable",
    "KdDebuggerDataBlock",
    "KiWaitNever",
    "MiSystemPartition",
    "PsLoadedModuleList",
];

#[test]
fn every_real_isf_loads_and_agrees_with_the_test_reader() {
    let Some(index) = testdata::isf::index() else {
        return;
    };
    assert_eq!(index.len(), 31);
    let mut compared = 0;
    for entry in &index {
        let ours = IsfFile::load(&entry.path).unwrap();
        let theirs = testdata::isf::Isf::load(&entry.path).unwrap();
        let pdb = ours.pdb.as_ref().unwrap();
        assert_eq!(Some((pdb.guid.clone(), pdb.age)), theirs.pdb());
        assert_eq!(ours.machine, Some(0x8664), "{}", entry.version);
        for (ty, field) in FIELDS {
            let a = ours.table.field(ty, field);
            let b = theirs.field(ty, field);
            assert_eq!(
                a.map(|f| f.offset),
                b.map(|f| f.offset),
                "{} {ty}.{field}",
                entry.version
            );
            assert_eq!(
                a.and_then(|f| f.bits).map(|b| (b.position, b.length)),
                b.and_then(|f| f.bits).map(|b| (b.position, b.length)),
                "{} {ty}.{field}",
                entry.version
            );
            assert_eq!(ours.table.type_size(ty), theirs.type_size(ty));
            compared += 1;
        }
        for g in GLOBALS {
            assert_eq!(
                ours.table.globals.get(*g).copied(),
                theirs.symbol_rva(g),
                "{g}"
            );
        }
    }
    assert_eq!(compared, 31 * FIELDS.len());
}

fn want(guid: &str, age: u32) -> PdbId {
    PdbId {
        name: "ntkrnlmp.pdb".into(),
        guid: guid.into(),
        age,
    }
}

#[test]
fn every_symbols_form_of_the_contract_finds_the_file_by_guid_and_age() {
    let Some(root) = testdata::require("data/isf") else {
        return;
    };
    let id = want("BBED7C2955FBE4522AAA23F4B8677AD9", 1);
    let folder = root.join("windows/ntkrnlmp.pdb");
    let file = folder.join("BBED7C2955FBE4522AAA23F4B8677AD9-1.json.xz");
    for path in [&root, &folder, &file] {
        let found = locate::open(path, Some(&id)).unwrap().unwrap();
        assert_eq!(found.pdb.as_ref(), Some(&id));
        assert_eq!(found.symbols.source(), Source::UserIsf(file.clone()));
        assert_eq!(
            found
                .symbols
                .global("KdDebuggerDataBlock")
                .map(|g| format!("{g:?}")),
            Some("Rva(12585760)".into())
        );
    }
    // A lower-case GUID in the file name (as some packs have) is matched too.
    let lower = want("616A94E33A4827B451B0E19C14C03792", 1);
    assert!(locate::open(&root, Some(&lower)).unwrap().is_some());
    // Unknown GUID: nothing in the folder.
    let other = want("00000000000000000000000000000000", 1);
    assert!(locate::open(&root, Some(&other)).unwrap().is_none());
    // Wrong age: not this file.
    assert!(
        locate::open(&folder, Some(&want("BBED7C2955FBE4522AAA23F4B8677AD9", 2)))
            .unwrap()
            .is_none()
    );
    // One file given for another kernel is refused, naming both.
    let err = locate::open(&file, Some(&other)).unwrap_err();
    assert!(matches!(err, LocateError::WrongPdb { .. }));
    assert!(
        err.to_string()
            .contains("BBED7C2955FBE4522AAA23F4B8677AD9-1"),
        "{err}"
    );
    // A folder cannot be searched without the GUID; one file can be used.
    assert!(matches!(
        locate::open(&root, None),
        Err(LocateError::GuidUnknown(_))
    ));
    assert!(locate::open(&file, None).unwrap().is_some());
    assert!(matches!(
        locate::open(&root.join("nope"), None),
        Err(LocateError::Missing(_))
    ));
}
