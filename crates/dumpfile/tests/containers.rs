//! Every container over hand-built byte arrays (see `support/`), and the bad-file cases.

// Test and benchmark scaffolding: a failed fixture step should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pooldbg_dumpfile::{
    Bitness, Dump, DumpError, DumpKind, DumpType, OpenOptions, PhysicalMemory, ReadStatus,
};
use support::*;

fn read_page(d: &Dump, pfn: u64) -> Result<Vec<u8>, ReadStatus> {
    let mut buf = vec![0u8; PAGE];
    let o = d.read_physical(pfn << 12, &mut buf);
    if o.is_ok() { Ok(buf) } else { Err(o.status) }
}

fn assert_pages(d: &Dump, present: &[u64], absent: &[u64]) {
    for &p in present {
        let got = read_page(d, p);
        assert!(
            got.as_ref() == Ok(&page_of(p)),
            "pfn {p:#x}: {:?}",
            got.map(|v| v[..16].to_vec())
        );
        // zero-copy view agrees
        assert!(d.page(p) == Ok(&page_of(p)[..]), "page({p:#x})");
    }
    for &p in absent {
        assert!(
            read_page(d, p) == Err(ReadStatus::NotInDump),
            "pfn {p:#x} should be absent"
        );
    }
}

#[test]
fn full64_runs_and_header() {
    let d = Dump::from_vec(full64(&[(1, 3), (0x10, 2)])).unwrap();
    assert_eq!(d.kind(), DumpKind::Full);
    let h = d.header().unwrap();
    assert_eq!(h.bitness, Bitness::Bits64);
    assert_eq!(h.dump_type, DumpType::Full);
    assert_eq!(h.build, Some(19041));
    assert_eq!(h.processors, Some(4));
    assert_eq!(h.directory_table_base, Some(0x1ad000));
    assert_eq!(h.pfn_database, Some(0xfffff8047c6fb3c8));
    assert_eq!(h.ps_active_process_head, Some(0xfffff8047c61e070));
    assert_eq!(h.bugcheck_code, Some(0xd1));
    assert_eq!(
        h.bugcheck_parameters,
        [Some(0x11), Some(0x22), Some(0x33), Some(0x44)]
    );
    assert_eq!(h.instruction_pointer, Some(0xfffff8047ba01234));
    assert_eq!(h.stack_pointer, Some(0xffff850429891000));
    assert_eq!(h.system_up_time, Some(36_000_000_000));
    assert_eq!(h.product_type, Some(1));
    // "PAGE" filled: absent.
    assert_eq!(h.comment, None);
    assert_eq!(h.suite_mask, None);
    assert_eq!(h.mini_dump_fields, None);
    assert_pages(&d, &[1, 2, 3, 0x10, 0x11], &[0, 4, 0xf]);
    assert_eq!(read_page(&d, 0x12), Err(ReadStatus::OutOfRange));
    assert_eq!(
        d.physical_ranges(),
        vec![(0x1000, 0x3000), (0x10000, 0x2000)]
    );
    assert_eq!(d.described_pages(), 5);
    assert_eq!(d.missing_bytes(), 0);
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    // Zero copy: the page is a slice of the file.
    let page = d.page(2).unwrap();
    let file = d.bytes().as_ptr_range();
    assert!(file.contains(&page.as_ptr()));
}

#[test]
fn multi_page_read_tells_which_parts_failed() {
    let d = Dump::from_vec(full64(&[(1, 3), (0x10, 2)])).unwrap();
    // 0x3800..0x5800: the second half of PFN 3 (present), all of PFN 4 and 5's first half (not).
    let mut buf = vec![0xEEu8; 0x2000];
    let (o, spans) = d.read_physical_spans(0x3800, &mut buf);
    assert_eq!(o.status, ReadStatus::NotInDump);
    assert_eq!(o.bytes_read, 0x800);
    assert_eq!(o.first_failure, Some(0x800));
    assert_eq!(spans.len(), 2);
    assert_eq!(
        (spans[0].offset, spans[0].len, spans[0].status),
        (0, 0x800, ReadStatus::Ok)
    );
    assert_eq!(
        (spans[1].offset, spans[1].len, spans[1].status),
        (0x800, 0x1800, ReadStatus::NotInDump)
    );
    assert_eq!(&buf[..0x800], &page_of(3)[0x800..]);
    assert!(
        buf[0x800..].iter().all(|&b| b == 0),
        "unread bytes are zeroed"
    );
    // A read across two runs' boundary inside the file copies both.
    let mut two = vec![0u8; 0x2000];
    assert!(d.read_physical(0x10000, &mut two).is_ok());
    assert_eq!(&two[..PAGE], &page_of(0x10)[..]);
    assert_eq!(&two[PAGE..], &page_of(0x11)[..]);
}

#[test]
fn full32_with_and_without_pae() {
    for pae in [false, true] {
        let d = Dump::from_vec(full32(&[(0, 2), (0x100, 1)], pae)).unwrap();
        assert_eq!(d.kind(), DumpKind::Full);
        let h = d.header().unwrap();
        assert_eq!(h.bitness, Bitness::Bits32);
        assert_eq!(h.pae_enabled, Some(pae));
        assert_eq!(h.machine, Some(0x14c));
        assert_eq!(h.build, Some(2600));
        assert_eq!(h.directory_table_base, Some(0x39000));
        assert_eq!(h.kd_debugger_data_block, Some(0x80545b60));
        assert_eq!(h.instruction_pointer, Some(0x804e1234));
        assert_eq!(h.stack_pointer, Some(0xf8a3bc00));
        assert_eq!(h.comment.as_deref(), Some("a comment"));
        assert_eq!(h.bugcheck_parameters[0], Some(8));
        assert_eq!(h.header_size(), 0x1000);
        assert_pages(&d, &[0, 1, 0x100], &[2, 0xff]);
    }
}

#[test]
fn bitmap64_sdmp_and_fdmp_types_5_and_6() {
    // 1234 bits: not a multiple of 8; present pages spread over several rank blocks.
    let present: Vec<u64> = (0..1234)
        .filter(|p| p % 7 == 0 || (600..700).contains(p))
        .collect();
    for (dt, sig, full) in [(5, b"SDMP", false), (6, b"FDMP", true), (5, b"FDMP", true)] {
        let d = Dump::from_vec(bitmap64(dt, sig, 1234, &present)).unwrap();
        assert_eq!(d.kind(), DumpKind::Bitmap { full });
        assert_eq!(d.header().unwrap().dump_type, DumpType::from_raw(dt));
        assert_eq!(d.described_pages(), present.len() as u64);
        assert_pages(&d, &[0, 7, 600, 699, 1232], &[1, 8, 701, 1231]);
        assert_eq!(read_page(&d, 1234), Err(ReadStatus::OutOfRange));
        assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    }
}

#[test]
fn bitmap32_with_pae_flag() {
    let d = Dump::from_vec(bitmap32(100, &[3, 4, 99], true)).unwrap();
    assert_eq!(d.kind(), DumpKind::Bitmap { full: true });
    assert_eq!(d.header().unwrap().pae_enabled, Some(true));
    assert_pages(&d, &[3, 4, 99], &[0, 5, 98]);
}

#[test]
fn summary_dump_type_2_both_widths() {
    for wide in [false, true] {
        let d = Dump::from_vec(summary(wide, 300, &[1, 2, 64, 299])).unwrap();
        assert_eq!(d.kind(), DumpKind::Summary, "wide {wide}");
        assert_eq!(d.header().unwrap().dump_type, DumpType::Summary);
        assert_pages(&d, &[1, 2, 64, 299], &[0, 3, 63, 298]);
    }
}

#[test]
fn rdmp_kernel_and_complete_range_dumps() {
    let ranges = [(0x10u64, 3u64), (0x40, 2)];
    for dt in [8u32, 9] {
        let d = Dump::from_vec(rdmp(dt, &ranges, 2, 0)).unwrap();
        assert_eq!(d.kind(), DumpKind::Range);
        assert_pages(&d, &[0x10, 0x12, 0x40, 0x41], &[0x13, 0x3f]);
    }
    // 0xA: MetadataSize overstates the ranges (six entries, two real); the page total bounds them.
    let d = Dump::from_vec(rdmp(0xa, &ranges, 6, 5)).unwrap();
    assert_eq!(d.kind(), DumpKind::Range);
    assert_eq!(d.described_pages(), 5);
    assert_pages(&d, &[0x10, 0x11, 0x12, 0x40, 0x41], &[0x13]);
    assert_eq!(read_page(&d, 0x4141_4141), Err(ReadStatus::OutOfRange));
}

#[test]
fn triage_dump_drivers_blocks_and_kdbg() {
    let d = Dump::from_vec(triage64()).unwrap();
    assert_eq!(d.kind(), DumpKind::Triage);
    assert_eq!(d.header().unwrap().mini_dump_fields, Some(0xcff));
    let t = d.triage().unwrap();
    assert!(t.valid_marker);
    assert_eq!(t.drivers.len(), 2);
    assert_eq!(t.drivers[1].name(), "amdppm.sys");
    assert_eq!(t.drivers[1].base, 0xfffff8048b580000);
    assert_eq!(t.drivers[1].size, 0x3b000);
    assert_eq!(t.drivers[1].timestamp, 0x5f00_0001);
    assert_eq!(&d.kdbg_copy().unwrap()[0x10..0x14], b"KDBG");
    let mut buf = [0u8; 0x20];
    let o = d.read_triage_virtual(0xfffff80000001000 + 0xf0, &mut buf);
    assert_eq!(o.bytes_read, 0x10);
    assert_eq!(o.first_failure, Some(0x10));
    assert_eq!(&buf[..0x10], &[0x5a; 0x10]);
    let mut k = [0u8; 4];
    assert!(d.read_triage_virtual(0xfffff8047c600b30, &mut k).is_ok());
    assert_eq!(&k, b"KDBG");
    assert_eq!(read_page(&d, 0), Err(ReadStatus::NotInDump));
}

#[test]
fn header_only_dump_type_3() {
    let d = Dump::from_vec(header64(3)).unwrap();
    assert_eq!(d.kind(), DumpKind::HeaderOnly);
    assert_eq!(read_page(&d, 1), Err(ReadStatus::NotInDump));
}

#[test]
fn raw_image_from_address_zero() {
    let mut img = page_of(0);
    img.extend_from_slice(&page_of(1));
    img.extend_from_slice(&[7u8; 0x10]); // a partial last page
    let d = Dump::from_vec(img).unwrap();
    assert_eq!(d.kind(), DumpKind::Raw);
    assert!(d.header().is_none());
    assert_pages(&d, &[0, 1], &[]);
    let mut b = [0u8; 0x20];
    let o = d.read_physical(0x2000, &mut b);
    assert_eq!((o.bytes_read, o.status), (0x10, ReadStatus::NotInDump));
    assert_eq!(read_page(&d, 3), Err(ReadStatus::OutOfRange));
}

#[test]
fn elf_core_pt_load_segments_are_physical_memory() {
    let low = [page_of(0), page_of(1)].concat();
    let high = page_of(0x100);
    let d = Dump::from_vec(elf64_core(&[(0x100000, high), (0, low)])).unwrap();
    assert_eq!(d.kind(), DumpKind::ElfCore);
    let mut b = vec![0u8; PAGE];
    assert!(d.read_physical(0x100000, &mut b).is_ok());
    assert_eq!(b, page_of(0x100));
    assert!(d.read_physical(0x1000, &mut b).is_ok());
    assert_eq!(b, page_of(1));
    assert_eq!(read_page(&d, 2), Err(ReadStatus::NotInDump));
    assert_eq!(read_page(&d, 0x101), Err(ReadStatus::OutOfRange));
    assert_eq!(d.physical_ranges(), vec![(0, 0x2000), (0x100000, 0x1000)]);
}

#[test]
fn elf_segment_at_the_top_of_the_address_space() {
    // Found by the dumpfile_header fuzz target: the end of the last segment rounded up overflowed.
    let d = Dump::from_vec(elf64_core(&[(u64::MAX - 0x1f, vec![1; 0x10])])).unwrap();
    let mut b = [0u8; 0x20];
    assert_eq!(d.read_physical(0, &mut b).status, ReadStatus::NotInDump);
    let o = d.read_physical(u64::MAX - 0x1f, &mut b);
    assert_eq!((o.bytes_read, o.status), (0x10, ReadStatus::NotInDump));
    assert_eq!(&b[..0x10], &[1; 0x10]);
}

#[test]
fn truncated_dump_opens_and_says_what_is_missing() {
    let mut f = full64(&[(1, 3), (0x10, 2)]);
    f.truncate(f.len() - PAGE - 0x800); // PFN 0x11 lost, 0x10 half lost
    let d = Dump::from_vec(f.clone()).unwrap();
    assert_eq!(d.missing_bytes(), 0x1800);
    assert_eq!(d.missing_pages(), 2);
    assert!(d.warnings().iter().any(|w| w.message.contains("truncated")));
    assert_pages(&d, &[1, 2, 3], &[0x11]);
    let mut b = vec![0u8; PAGE];
    let o = d.read_physical(0x10000, &mut b);
    assert_eq!((o.bytes_read, o.status), (0x800, ReadStatus::NotInDump));
    assert_eq!(d.page(0x10), Err(ReadStatus::NotInDump));
    // Strict opening refuses it, naming the run entry.
    let e = Dump::from_vec_with(f, OpenOptions::new().strict(true)).unwrap_err();
    assert!(matches!(e, DumpError::PastEnd { offset: 0xa8, .. }), "{e}");
}

fn err(data: Vec<u8>) -> DumpError {
    match Dump::from_vec(data) {
        Ok(d) => panic!("expected an error, opened {d:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_files_name_the_offset() {
    // Too short for the header.
    let mut short = header64(1);
    short.truncate(0x100);
    let e = err(short);
    assert!(
        matches!(
            e,
            DumpError::TooShort {
                offset: 0,
                needed: 0x2000,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("offset 0x0") && e.to_string().contains("DUMP_HEADER64"));

    // Wrong signature after "PAGE".
    let mut bad = header64(1);
    bad[4..8].copy_from_slice(b"XXXX");
    let e = err(bad);
    assert!(
        matches!(e, DumpError::BadSignature { offset: 4, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("DU64"), "{e}");

    // Bitmap type with no bitmap header.
    let mut b = bitmap64(5, b"SDMP", 64, &[1]);
    b[0x2000..0x2004].copy_from_slice(b"ZZZZ");
    let e = err(b);
    assert!(
        matches!(e, DumpError::BadSignature { offset: 0x2000, .. }),
        "{e}"
    );

    // A run table pointing past the end of the file and of RequiredDumpSpace.
    let mut f = full64(&[(1, 2)]);
    f[0xa0..0xa8].copy_from_slice(&0x100000u64.to_le_bytes()); // PageCount of run 0
    f[0x90..0x98].copy_from_slice(&0x100000u64.to_le_bytes());
    let e = err(f);
    assert!(matches!(e, DumpError::PastEnd { offset: 0x98, .. }), "{e}");
    assert!(e.to_string().contains("offset 0x98"), "{e}");

    // A "PAGE"-filled run table in a type-1 dump.
    let mut f = full64(&[(1, 1)]);
    f[0x88..0x8c].copy_from_slice(b"PAGE");
    let e = err(f);
    assert!(matches!(e, DumpError::BadField { offset: 0x88, .. }), "{e}");

    // Overlapping runs.
    let e = err(full64(&[(1, 4), (3, 1)]));
    assert!(matches!(e, DumpError::BadField { .. }), "{e}");

    // A bitmap longer than the file.
    let mut b = bitmap64(5, b"SDMP", 64, &[1]);
    b[0x2030..0x2038].copy_from_slice(&(1u64 << 36).to_le_bytes());
    let e = err(b);
    assert!(
        matches!(e, DumpError::PastEnd { offset: 0x2030, .. }),
        "{e}"
    );

    // FirstPage inside the bitmap.
    let mut b = bitmap64(5, b"SDMP", 64, &[1]);
    b[0x2020..0x2028].copy_from_slice(&0x2010u64.to_le_bytes());
    let e = err(b);
    assert!(
        matches!(e, DumpError::BadField { offset: 0x2020, .. }),
        "{e}"
    );

    // RDMP with a MetadataSize that is no multiple of 16.
    let mut r = rdmp(8, &[(0x10, 1)], 1, 0);
    r[0x2010..0x2018].copy_from_slice(&0x11u64.to_le_bytes());
    let e = err(r);
    assert!(
        matches!(e, DumpError::BadField { offset: 0x2010, .. }),
        "{e}"
    );

    // Triage driver list past the end.
    let mut t = triage64();
    t[0x2034..0x2038].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let e = err(t);
    assert!(
        matches!(e, DumpError::PastEnd { offset: 0x2030, .. }),
        "{e}"
    );

    // An ELF file that is not a core.
    let mut elf = elf64_core(&[(0, page_of(0))]);
    elf[16] = 2; // ET_EXEC
    let e = err(elf);
    assert!(matches!(e, DumpError::BadField { offset: 0x10, .. }), "{e}");

    // An ELF PT_LOAD whose address range overflows names its program header (the second).
    let e = err(elf64_core(&[(u64::MAX - 0xf, vec![1; 0x10])]));
    assert!(matches!(e, DumpError::Elf { offset: 0x78, .. }), "{e}");

    // A user-mode minidump, and an empty file.
    assert!(matches!(
        err(b"MDMP\x93\xa7".to_vec()),
        DumpError::Unsupported { offset: 0, .. }
    ));
    assert!(matches!(
        err(Vec::new()),
        DumpError::TooShort { offset: 0, .. }
    ));

    // An unknown DumpType with no second header.
    let e = err(header64(0x77));
    assert!(
        matches!(e, DumpError::Unsupported { offset: 0xf98, .. }),
        "{e}"
    );
}

#[test]
fn opens_from_a_file_by_memory_map() {
    let dir = std::env::temp_dir().join(format!("dumpfile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("full.dmp");
    std::fs::write(&path, full64(&[(1, 2)])).unwrap();
    let d = Dump::open(&path).unwrap();
    assert_pages(&d, &[1, 2], &[0]);
    let missing = Dump::open(dir.join("nope.dmp")).unwrap_err();
    assert!(matches!(missing, DumpError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

mod fuzzish {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Corrupting any header byte of any container never panics; reads after opening
        /// never panic either.
        #[test]
        fn mutated_dumps_never_panic(which in 0usize..6, pos in 0usize..0x2400, val: u8, pfn in 0u64..0x50) {
            let mut data = match which {
                0 => full64(&[(1, 3), (0x10, 2)]),
                1 => bitmap64(5, b"SDMP", 200, &[1, 5, 150]),
                2 => summary(true, 200, &[1, 2]),
                3 => rdmp(0xa, &[(0x10, 2)], 4, 2),
                4 => triage64(),
                _ => full32(&[(0, 2)], true),
            };
            if pos < data.len() {
                data[pos] = val;
            }
            if let Ok(d) = Dump::from_vec(data) {
                let mut b = vec![0u8; 0x1800];
                let _ = d.read_physical(pfn << 12 | 0x123, &mut b);
                let _ = d.page(pfn);
                let _ = d.read_triage_virtual(0xfffff80000001000, &mut b);
                let _ = d.physical_ranges();
            }
        }
    }
}

/// Writes the fuzz seeds (`cargo test -p pooldbg-dumpfile --test containers -- --ignored`): each is one
/// of the hand-built dumps above, checked to open before it is written.
#[test]
#[ignore = "writes fuzz/seeds; run by hand when the builders change"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let header = root.join("dumpfile_header");
    let bitmap = root.join("dumpfile_bitmap");
    std::fs::create_dir_all(&header).unwrap();
    std::fs::create_dir_all(&bitmap).unwrap();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("full64.dmp", full64(&[(1, 2), (0x10, 1)])),
        ("full32_pae.dmp", full32(&[(0, 1), (0x20, 1)], true)),
        ("bitmap64.dmp", bitmap64(5, b"SDMP", 200, &[1, 70])),
        ("summary32.dmp", summary(false, 100, &[3])),
        ("rdmp_a.dmp", rdmp(0xa, &[(0x10, 1), (0x40, 1)], 4, 2)),
        ("triage64.dmp", triage64()),
        ("header_only.dmp", header64(3)),
        ("core.elf", elf64_core(&[(0x1000, vec![0x11; 0x100])])),
    ];
    for (name, data) in seeds {
        Dump::from_vec(data.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        std::fs::write(header.join(name), &data).unwrap();
    }
    // Bitmap seeds: what follows "SDMPDUMP" after the header.
    for (name, data) in [
        ("sdmp.bin", bitmap64(5, b"SDMP", 200, &[1, 70, 199])),
        (
            "sdmp_tail.bin",
            bitmap64(6, b"SDMP", 1234, &[0, 63, 64, 1233]),
        ),
    ] {
        Dump::from_vec(data.clone()).unwrap();
        std::fs::write(bitmap.join(name), &data[0x2008..]).unwrap();
    }
    assert!(header.join("triage64.dmp").is_file());
}
