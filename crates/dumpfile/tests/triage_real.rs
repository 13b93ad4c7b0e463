//! The real Windows 10 x64 triage dump in `shared/data/dumps/` (facts from its README).

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pooldbg_dumpfile::{Bitness, Dump, DumpKind, DumpType, PhysicalMemory, ReadStatus};

fn open() -> Option<Dump> {
    let path = testdata::require("data/dumps/triage_x64.dmp")?;
    Some(Dump::open(path).expect("the real triage dump opens"))
}

#[test]
fn header_values() {
    let Some(d) = open() else { return };
    assert_eq!(d.kind(), DumpKind::Triage);
    let h = d.header().unwrap();
    assert_eq!(h.bitness, Bitness::Bits64);
    assert_eq!(h.dump_type, DumpType::Triage);
    assert_eq!(h.major_version, Some(15));
    assert_eq!(h.build, Some(19041));
    assert_eq!(h.machine, Some(0x8664));
    assert_eq!(h.processors, Some(16));
    assert_eq!(h.directory_table_base, Some(0x1ad000));
    assert_eq!(h.kd_debugger_data_block, Some(0xfffff8047c600b20));
    assert_eq!(h.ps_loaded_module_list, Some(0xfffff8047c62a390));
    assert_eq!(h.bugcheck_code, Some(0x1000007e));
    assert_eq!(
        h.bugcheck_parameters,
        [
            Some(0xffffffffc0000005),
            Some(0xfffff8048b58334c),
            Some(0xffff850429891ee8),
            Some(0xffff850429891720)
        ]
    );
    assert_eq!(
        h.system_time_utc().as_deref(),
        Some("2021-02-21T01:38:22.98Z")
    );
    // Unused header bytes hold "PAGE": such fields are absent, not values.
    assert_eq!(h.comment, None);
    assert_eq!(h.mini_dump_fields, Some(0xcff));
    assert_eq!(h.pae_enabled, None);
    // The exception's faulting address is in amdppm.sys; the context is the bugcheck frame.
    assert!(h.instruction_pointer.is_some());
    assert!(h.stack_pointer.is_some());
    // A triage dump holds no physical memory.
    let mut b = [0u8; 8];
    assert_eq!(
        d.read_physical(0x1ad000, &mut b).status,
        ReadStatus::NotInDump
    );
    assert_eq!(d.missing_bytes(), 0);
}

#[test]
fn kdbg_copy_is_found_and_decoded() {
    let Some(d) = open() else { return };
    let k = d.kdbg_copy().expect("KDBG copy");
    assert_eq!(k.len(), 0x380);
    assert_eq!(&k[0x10..0x14], b"KDBG");
    assert_eq!(u32::from_le_bytes(k[0x14..0x18].try_into().unwrap()), 0x380);
    // KernBase (KDDEBUGGER_DATA64 +0x18) as docs/DUMP_FORMATS.md §1.8 records it.
    assert_eq!(
        u64::from_le_bytes(k[0x18..0x20].try_into().unwrap()),
        0xfffff8047ba00000
    );
    // PsLoadedModuleList (+0x48) agrees with the header's copy.
    assert_eq!(
        u64::from_le_bytes(k[0x48..0x50].try_into().unwrap()),
        0xfffff8047c62a390
    );
    // The copy is also readable at its virtual address through the triage blocks.
    let mut tag = [0u8; 4];
    assert!(d.read_triage_virtual(0xfffff8047c600b30, &mut tag).is_ok());
    assert_eq!(&tag, b"KDBG");
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
}

#[test]
fn driver_list_has_151_modules_with_amdppm() {
    let Some(d) = open() else { return };
    let t = d.triage().unwrap();
    assert!(t.valid_marker);
    assert_eq!(t.drivers.len(), 151);
    assert_eq!(t.drivers[0].name(), "ntoskrnl.exe");
    assert_eq!(t.drivers[0].base, 0xfffff8047ba00000);
    let amd = t
        .drivers
        .iter()
        .find(|m| m.name().eq_ignore_ascii_case("amdppm.sys"))
        .expect("amdppm.sys");
    assert_eq!(amd.base, 0xfffff8048b580000);
    assert_eq!(amd.size, 0x3b000);
    assert_ne!(amd.timestamp, 0);
    assert_eq!(
        t.driver_at(0xfffff8048b58334c).map(|m| m.name()),
        Some("amdppm.sys")
    );
    assert!(!t.data_blocks.is_empty());
}
