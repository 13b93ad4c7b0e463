//! Target identification over hand-built kernels in memory: one per embedded x64 profile (its own
//! RVAs, an encoded KDBG, KUSER_SHARED_DATA, a PE image with its RSDS record, a module list), plus
//! the cases with no exact profile (validated guesses) and no debug directory (triage dumps).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_ntkernel::kdbg::{KdbgKeys, OWNER_TAG};
use pooldbg_ntkernel::memory::SparseMemory;
use pooldbg_ntkernel::modules::WalkEnd;
use pooldbg_ntkernel::pe::build_test_image;
use pooldbg_ntkernel::profile::{self, Profile};
use pooldbg_ntkernel::symbols::Source;
use pooldbg_ntkernel::{Arch, DumpFacts, Kernel, PdbId, SymbolOptions};

const BASE: u64 = 0xfffff804_7ba00000;
const POOL_TRACK_TABLE_VALUE: u64 = 0xffffa201_23400000;

struct Synth {
    mem: SparseMemory,
    facts: DumpFacts,
    kdbg_clear: Vec<u8>,
}

fn rva(p: &Profile, n: &str) -> u64 {
    *p.table
        .globals
        .get(n)
        .unwrap_or_else(|| panic!("{}: no {n}", p.name))
}

/// A kernel laid out by `layout` (its RVAs), claiming PDB `pdb`.
fn synth(layout: &Profile, pdb: &PdbId, encoded: bool, with_debug_dir: bool) -> Synth {
    let mut mem = SparseMemory::new();
    let mut image = build_test_image(pdb, "ntoskrnl.exe", 0x5f0b_3a1c, 0x0104_6000);
    if !with_debug_dir {
        image.truncate(0x2000);
    }
    mem.write(BASE, &image);
    // KUSER_SHARED_DATA.
    let kuser = 0xFFFF_F780_0000_0000u64;
    mem.write_u32(kuser + 0x260, 0xF000_0000 | layout.build);
    let mut v = layout.name.split('.').map(|x| x.parse::<u32>().unwrap());
    mem.write_u32(kuser + 0x26C, v.next().unwrap());
    mem.write_u32(kuser + 0x270, v.next().unwrap());
    // Globals.
    let ptt = BASE + rva(layout, "PoolTrackTable");
    mem.write_u64(ptt, POOL_TRACK_TABLE_VALUE);
    mem.write_u64(BASE + rva(layout, "PoolTrackTableSize"), 0x2000);
    // Module list: the kernel and one driver.
    let head = BASE + rva(layout, "PsLoadedModuleList");
    let e1 = 0xffff_8e01_0000_0000u64;
    let e2 = e1 + 0x1000;
    for (e, base, size, name) in [
        (e1, BASE, 0x0104_6000u32, "ntoskrnl.exe"),
        (e2, 0xfffff804_8b580000, 0x3b000, "amdppm.sys"),
    ] {
        mem.write_u64(e + 0x30, base);
        mem.write_u32(e + 0x40, size);
        let units: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        mem.write(e + 0x800, &units);
        mem.write(e + 0x58, &(units.len() as u16).to_le_bytes());
        mem.write_u64(e + 0x60, e + 0x800);
    }
    mem.write_u64(head, e1);
    mem.write_u64(e1, e2);
    mem.write_u64(e2, head);
    // KDBG.
    let kdbg_va = BASE + rva(layout, "KdDebuggerDataBlock");
    let mut k = vec![0u8; 0x380];
    k[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
    k[0x14..0x18].copy_from_slice(&0x380u32.to_le_bytes());
    k[0x18..0x20].copy_from_slice(&BASE.to_le_bytes());
    k[0x48..0x50].copy_from_slice(&head.to_le_bytes());
    k[0x1b8..0x1c0].copy_from_slice(&ptt.to_le_bytes());
    let keys = KdbgKeys {
        wait_never: 0x5a5a_1234_8765_0f13,
        wait_always: 0x0123_4567_89ab_cdef,
        data_block_encoded: BASE + rva(layout, "KdpDataBlockEncoded"),
    };
    mem.write_u64(BASE + rva(layout, "KiWaitNever"), keys.wait_never);
    mem.write_u64(BASE + rva(layout, "KiWaitAlways"), keys.wait_always);
    let stored: Vec<u8> = if encoded {
        k.chunks_exact(8)
            .flat_map(|c| {
                keys.encode(u64::from_le_bytes(c.try_into().unwrap()))
                    .to_le_bytes()
            })
            .collect()
    } else {
        k.clone()
    };
    mem.write(kdbg_va, &stored);
    Synth {
        mem,
        facts: DumpFacts {
            arch: Some(Arch::X64),
            build: Some(layout.build),
            kdbg_va: Some(kdbg_va),
            processors: Some(16),
            dump_type: Some("full".into()),
            ..Default::default()
        },
        kdbg_clear: k,
    }
}

#[test]
fn every_embedded_x64_profile_is_identified_exactly_through_an_encoded_kdbg() {
    let x64: Vec<&Profile> = profile::embedded()
        .iter()
        .filter(|p| p.arch == Arch::X64 && p.pdb.is_some())
        .collect();
    assert!(x64.len() >= 31);
    for p in x64 {
        let pdb = p.pdb.clone().unwrap();
        let s = synth(p, &pdb, true, true);
        let k = Kernel::open(&s.mem, &s.facts, &SymbolOptions::default()).unwrap();
        let id = &k.identity;
        assert_eq!(id.pdb.as_ref(), Some(&pdb), "{}", p.name);
        assert_eq!(id.kernel_base, Some(BASE), "{}: {:?}", p.name, id.notes);
        assert_eq!(id.revision, Some(p.revision));
        assert_eq!(id.version_string().as_deref(), Some(p.name.as_str()));
        assert_eq!(id.processors, Some(16));
        let kd = k.kdbg.as_ref().unwrap();
        assert!(kd.was_encoded, "{}", p.name);
        assert_eq!(k.symbol_source(), format!("embedded profile {}", p.name));
        let g = k.global_va("PoolTrackTable").unwrap();
        assert_eq!(g.value, BASE + rva(p, "PoolTrackTable"));
        assert_eq!(g.source, Source::Embedded(p.name.clone()));
        assert_eq!(
            k.read_global_ptr(&s.mem, "PoolTrackTable"),
            Some(POOL_TRACK_TABLE_VALUE)
        );
        let mods = k.modules(&s.mem).unwrap();
        assert_eq!(mods.end, WalkEnd::Complete);
        assert_eq!(mods.modules.len(), 2);
        assert_eq!(mods.modules[0].name, "ntoskrnl.exe");
        assert_eq!(mods.modules[0].base, BASE);
        let ph = k.symbols.field("_POOL_HEADER", "PoolTag").unwrap();
        assert_eq!(ph.value.offset, 4);
    }
}

#[test]
fn an_unknown_revision_is_guessed_and_its_globals_validated() {
    let list = profile::embedded();
    let truth = list.iter().find(|p| p.name == "10.0.19041.1165").unwrap();
    let unknown = PdbId {
        name: "ntkrnlmp.pdb".into(),
        guid: "0123456789ABCDEF0123456789ABCDEF".into(),
        age: 1,
    };
    let s = synth(truth, &unknown, false, true);
    let k = Kernel::open(&s.mem, &s.facts, &SymbolOptions::default()).unwrap();
    assert_eq!(k.identity.pdb.as_ref(), Some(&unknown));
    assert_eq!(k.identity.revision, None);
    let notes = k.symbol_notes.join("\n");
    assert!(
        notes.contains("symbols: guessed from 10.0.19041."),
        "{notes}"
    );
    // The guessed build's PoolTrackTable RVA differs from the truth and is not readable here: it is
    // rejected, and the KDBG's pointer answers instead.
    let guessed_from = k
        .symbols
        .sources()
        .find_map(|s| match s {
            Source::Guessed(n) => Some(n),
            _ => None,
        })
        .unwrap();
    let guess = list.iter().find(|p| p.name == guessed_from).unwrap();
    assert_ne!(rva(guess, "PoolTrackTable"), rva(truth, "PoolTrackTable"));
    assert!(notes.contains("rejected guess PoolTrackTable"), "{notes}");
    let g = k.global_va("PoolTrackTable").unwrap();
    assert_eq!(g.source, Source::Kdbg);
    assert_eq!(g.value, BASE + rva(truth, "PoolTrackTable"));
    // The KDBG RVA is shared by every 19041 build: that guess validates (OwnerTag, KernBase).
    assert!(
        !notes.contains("rejected guess KdDebuggerDataBlock"),
        "{notes}"
    );
    // Layouts come from the guess and say so.
    let f = k
        .symbols
        .field("_POOL_TRACKER_TABLE", "PagedBytes")
        .unwrap();
    assert_eq!(f.source, Source::Guessed(guessed_from.clone()));
    assert_eq!(f.value.offset, 0x20);
}

#[test]
fn a_triage_like_dump_without_debug_directory_uses_the_header_and_the_kdbg_copy() {
    let list = profile::embedded();
    let p = list.iter().find(|p| p.name == "10.0.19041.3570").unwrap();
    let mut s = synth(p, p.pdb.as_ref().unwrap(), true, false);
    // The dump holds a decoded copy; the live block stays encoded.
    s.facts.kdbg_copy = Some((s.facts.kdbg_va.unwrap(), s.kdbg_clear.clone()));
    let k = Kernel::open(&s.mem, &s.facts, &SymbolOptions::default()).unwrap();
    let id = &k.identity;
    assert_eq!(id.pdb, None);
    assert_eq!(id.build, Some(19041));
    assert_eq!(id.version_string().as_deref(), Some("10.0.19041"));
    let notes = id.notes.join("\n");
    assert!(notes.contains("PDB GUID is unknown"), "{notes}");
    assert!(notes.contains("decoded copy"), "{notes}");
    assert_eq!(id.image.as_ref().map(|i| i.timestamp), Some(0x5f0b_3a1c));
    assert!(
        k.symbol_source().starts_with("KDBG"),
        "{}",
        k.symbol_source()
    );
    assert!(
        k.symbol_notes
            .join("\n")
            .contains("guessed from 10.0.19041.")
    );
}

#[test]
fn a_user_isf_outranks_the_embedded_profile() {
    let Some(index) = testdata::isf::index() else {
        return;
    };
    let e = index
        .iter()
        .find(|e| e.version == "10.0.19041.329")
        .unwrap();
    let p = profile::embedded()
        .iter()
        .find(|p| p.name == "10.0.19041.329")
        .unwrap();
    let s = synth(p, p.pdb.as_ref().unwrap(), false, true);
    let opts = SymbolOptions {
        paths: vec![
            e.path
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf(),
        ],
        ..Default::default()
    };
    let k = Kernel::open(&s.mem, &s.facts, &opts).unwrap();
    assert_eq!(k.symbol_source(), format!("ISF {}", e.path.display()));
    // Something only the full ISF knows.
    assert!(k.symbols.type_size("_FILE_OBJECT").is_some());
    let g = k.global_va("PoolTrackTable").unwrap();
    assert_eq!(g.source, Source::UserIsf(e.path.clone()));
}

#[test]
fn a_raw_image_is_identified_by_scanning_then_its_kdbg_decoded_by_profile() {
    let p = profile::embedded()
        .iter()
        .find(|p| p.name == "10.0.22000.1880")
        .unwrap();
    let s = synth(p, p.pdb.as_ref().unwrap(), true, true);
    // A raw image: no header facts but the architecture; the kernel is found by scanning.
    let hit =
        pooldbg_ntkernel::scan::find_kernel(&s.mem, BASE - 0x800000, BASE + 0x800000, 0x200000, 64)
            .unwrap();
    assert_eq!(hit.base, BASE);
    let facts = DumpFacts {
        arch: Some(Arch::X64),
        kernel_base: Some(hit.base),
        dump_type: Some("raw".into()),
        ..Default::default()
    };
    let k = Kernel::open(&s.mem, &facts, &SymbolOptions::default()).unwrap();
    assert_eq!(k.identity.build, Some(22000), "{:?}", k.identity.notes);
    assert_eq!(k.identity.revision, Some(1880));
    let kd = k.kdbg.as_ref().unwrap();
    assert!(kd.was_encoded);
    assert_eq!(
        kd.field("PsLoadedModuleList"),
        Some(BASE + rva(p, "PsLoadedModuleList"))
    );
    assert!(
        k.identity
            .notes
            .join("\n")
            .contains("from profile 10.0.22000.1880, decoded")
    );
    assert_eq!(k.modules(&s.mem).unwrap().modules.len(), 2);
}

#[test]
fn an_x86_kernel_uses_its_kdbg_and_the_x86_layout_profile() {
    let mut mem = SparseMemory::new();
    let base = 0x8284_5000u64;
    let kdbg = 0x8296_4be8u64;
    let head = 0x8298_4e30u64;
    let mut k = vec![0u8; 0x340];
    k[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
    k[0x14..0x18].copy_from_slice(&0x340u32.to_le_bytes());
    // 64-bit fields holding sign-extended 32-bit pointers, as x86 kernels write them.
    k[0x18..0x20].copy_from_slice(&(0xffff_ffff_0000_0000 | base).to_le_bytes());
    k[0x48..0x50].copy_from_slice(&(0xffff_ffff_0000_0000 | head).to_le_bytes());
    mem.write(kdbg, &k);
    // KUSER_SHARED_DATA at 0xFFDF0000 (version 6.1; NtBuildNumber is not there on Windows 7).
    mem.write_u32(0xFFDF_0000 + 0x26C, 6);
    mem.write_u32(0xFFDF_0000 + 0x270, 1);
    // One x86 loader entry: DllBase 0x18, SizeOfImage 0x20, BaseDllName 0x2c (Buffer at +4).
    let e = 0x8520_0000u64;
    mem.write_u32(head, e as u32);
    mem.write_u32(e, head as u32);
    mem.write_u32(e + 0x18, base as u32);
    mem.write_u32(e + 0x20, 0x0041_0000);
    let name: Vec<u8> = "ntoskrnl.exe"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    mem.write(e + 0x100, &name);
    mem.write(e + 0x2c, &(name.len() as u16).to_le_bytes());
    mem.write_u32(e + 0x30, (e + 0x100) as u32);
    let facts = DumpFacts {
        arch: Some(Arch::X86Pae),
        build: Some(7601),
        kdbg_va: Some(kdbg),
        ..Default::default()
    };
    let kn = Kernel::open(&mem, &facts, &SymbolOptions::default()).unwrap();
    assert_eq!(kn.identity.kernel_base, Some(base));
    assert_eq!(kn.identity.version_string().as_deref(), Some("6.1.7601"));
    let ph = kn.symbols.type_size("_POOL_HEADER").unwrap();
    assert_eq!(ph.value, 8);
    assert_eq!(ph.source, Source::Embedded("6.1.7601-7-sp1".into()));
    let g = kn.global_va("PsLoadedModuleList").unwrap();
    assert_eq!((g.value, g.source), (head, Source::Kdbg));
    let mods = kn.modules(&mem).unwrap();
    assert_eq!(mods.end, WalkEnd::Complete);
    assert_eq!(mods.modules[0].name, "ntoskrnl.exe");
    assert_eq!(mods.modules[0].base, base);
}

#[test]
fn a_build_only_the_layout_profiles_know_answers_from_them_as_embedded() {
    // An x64 17134 kernel (no ISF profile): layouts from its layout-only profile (Volatility 2
    // vtypes, docs/POOL_INTERNALS.md §1).
    let mut mem = SparseMemory::new();
    let kdbg = 0xfffff803_0a000000u64 + 0x2f0000;
    let mut k = vec![0u8; 0x368];
    k[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
    k[0x14..0x18].copy_from_slice(&0x368u32.to_le_bytes());
    k[0x18..0x20].copy_from_slice(&0xfffff803_0a000000u64.to_le_bytes());
    mem.write(kdbg, &k);
    let facts = DumpFacts {
        arch: Some(Arch::X64),
        build: Some(17134),
        kdbg_va: Some(kdbg),
        ..Default::default()
    };
    let kn = Kernel::open(&mem, &facts, &SymbolOptions::default()).unwrap();
    let t = kn.symbols.type_size("_POOL_TRACKER_TABLE").unwrap();
    // docs/POOL_INTERNALS.md §4.1: 0x38 from 16299 on.
    assert_eq!(t.value, 0x38);
    assert_eq!(t.source, Source::Embedded("10.0.17134-layouts".into()));
}
