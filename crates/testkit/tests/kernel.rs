//! The built kernel read back through an independent page-table walker: every profile's kernel
//! image, KUSER_SHARED_DATA, KDBG, module list, pool pages, free lists, trackers and big pages agree
//! with the manifest.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{Mem, Miss, Phys, u32_at, u64_at, vptr, vread};
use pooldbg_testkit::{
    Arch, Fault, Kernel, KernelBuilder, PROFILES, PoolKind, decode_kdbg, guid_bytes,
};

fn build(name: &str) -> Kernel {
    let p = pooldbg_testkit::profile(name).unwrap();
    KernelBuilder::standard(p)
        .seed(3)
        .memory_mib(32)
        .build()
        .unwrap()
}

fn hex(s: &pooldbg_testkit::manifest::Hex) -> u64 {
    s.0
}

fn global(k: &Kernel, name: &str) -> Option<u64> {
    k.manifest
        .globals
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.address.0)
}

/// The decoded KDBG as read from memory.
fn kdbg(k: &Kernel, p: &dyn Phys) -> Vec<u8> {
    let arch = k.profile.arch;
    let dtb = k.facts.dtb;
    let raw = vread(p, arch, dtb, k.facts.kdbg, k.profile.kdbg_size as usize).unwrap();
    if &raw[0x10..0x14] == b"KDBG" {
        return raw;
    }
    let m = &k.manifest.profile;
    decode_kdbg(
        &raw,
        m.ki_wait_never.0,
        m.ki_wait_always.0,
        m.kdp_data_block_encoded.0,
    )
}

#[test]
fn every_profile_reads_back() {
    for p in PROFILES {
        let k = build(p.name);
        let mem = Mem(&k);
        let arch = p.arch;
        let dtb = k.facts.dtb;
        let ptr = arch.ptr_size();
        let rd = |va: u64, n: usize| vread(&mem, arch, dtb, va, n).unwrap();

        // Every global lies inside the kernel image.
        for g in &k.manifest.globals {
            let a = g.address.0;
            assert!(
                a >= k.facts.kernel_base && a < k.facts.kernel_base + p.image_size,
                "{}: {} at {a:#x} outside the image",
                p.name,
                g.name
            );
        }

        // KUSER_SHARED_DATA.
        let ku = rd(p.va.kuser, 0x274);
        assert_eq!(u32_at(&ku, 0x260), p.build as u64, "{}", p.name);
        assert_eq!(u32_at(&ku, 0x26c), p.major as u64);
        assert_eq!(u32_at(&ku, 0x270), p.minor as u64);

        // PE header + RSDS.
        let base = k.facts.kernel_base;
        let pe = rd(base, 0x400);
        assert_eq!(&pe[0..2], b"MZ");
        let nt = u32_at(&pe, 0x3c) as usize;
        assert_eq!(&pe[nt..nt + 4], b"PE\0\0");
        let opt = nt + 24;
        let dd = if arch == Arch::X64 {
            opt + 112
        } else {
            opt + 96
        };
        let dbg = u32_at(&pe, dd + 6 * 8) as usize;
        let cv = u32_at(&pe, dbg + 20) as usize;
        assert_eq!(&pe[cv..cv + 4], b"RSDS");
        assert_eq!(pe[cv + 4..cv + 20], guid_bytes(p.pdb_guid));
        assert_eq!(u32_at(&pe, cv + 20), p.pdb_age as u64);

        // KDBG.
        let kd = kdbg(&k, &mem);
        assert_eq!(&kd[0x10..0x14], b"KDBG", "{}", p.name);
        assert_eq!(u32_at(&kd, 0x14), p.kdbg_size);
        let mask = if arch == Arch::X64 {
            u64::MAX
        } else {
            0xffff_ffff
        };
        assert_eq!(u64_at(&kd, 0x18) & mask, base);
        let psl = u64_at(&kd, 0x48) & mask;
        assert_eq!(psl, hex(&k.manifest.profile.ps_loaded_module_list));
        if p.kdbg_encoded {
            let raw = rd(k.facts.kdbg, 0x20);
            assert_ne!(&raw[0x10..0x14], b"KDBG", "encoded in memory");
        }

        // Modules.
        let mut names = Vec::new();
        let mut e = vptr(&mem, arch, dtb, psl);
        let mut steps = 0;
        while e != psl && steps < 100 {
            let us = e + p.ldr.base_name;
            let len = u32_at(&rd(us, 4), 0) & 0xffff;
            let buf = vptr(&mem, arch, dtb, us + if ptr == 8 { 8 } else { 4 });
            let w = rd(buf, len as usize);
            let s: Vec<u16> = w
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            names.push(String::from_utf16(&s).unwrap());
            e = vptr(&mem, arch, dtb, e);
            steps += 1;
        }
        let want: Vec<String> = k.manifest.modules.iter().map(|m| m.name.clone()).collect();
        assert_eq!(names, want, "{}", p.name);

        // Pool pages: headers chain to exactly one page, and agree with the manifest (classic
        // pool; the segment heap is read back in tests/segheap.rs).
        let unit = k.manifest.profile.pool_block_unit;
        let classic = p.descriptor.is_some();
        let mut pages: Vec<u64> = k
            .manifest
            .blocks
            .iter()
            .map(|b| b.address.0 & !0xfff)
            .filter(|_| classic)
            .collect();
        pages.dedup();
        let mut seen = 0;
        for page in pages {
            let bytes = rd(page, 0x1000);
            let mut off = 0u64;
            let mut prev = 0u64;
            while off < 0x1000 {
                let h = &bytes[off as usize..];
                let (ps, bs, ty) = match p.header {
                    pooldbg_testkit::profile::PoolHeaderKind::X64 => {
                        (h[0] as u64, h[2] as u64, h[3])
                    }
                    pooldbg_testkit::profile::PoolHeaderKind::X86 => {
                        let w0 = u32_at(h, 0) & 0xffff;
                        let w1 = u32_at(h, 2) & 0xffff;
                        (w0 & 0x1ff, w1 & 0x1ff, (w1 >> 9) as u8)
                    }
                    pooldbg_testkit::profile::PoolHeaderKind::Nt50 => {
                        (h[0] as u64, h[3] as u64, h[2])
                    }
                };
                let blk = k
                    .manifest
                    .blocks
                    .iter()
                    .find(|b| b.address.0 == page + off)
                    .unwrap_or_else(|| {
                        panic!("{}: no manifest block at {:#x}", p.name, page + off)
                    });
                assert_eq!(ps * unit, prev, "{} prev size at {:#x}", p.name, page + off);
                assert_eq!(bs * unit, blk.size);
                assert_eq!(ty != 0, blk.state == "allocated");
                if blk.state == "allocated" {
                    let tag = String::from_utf8_lossy(&h[4..8]).to_string();
                    assert_eq!(tag, blk.tag);
                }
                prev = bs * unit;
                off += bs * unit;
                seen += 1;
            }
            assert_eq!(
                off, 0x1000,
                "{}: blocks of page {page:#x} end at the page end",
                p.name
            );
        }
        if classic {
            assert_eq!(seen, k.manifest.blocks.len());
        }

        // Free lists: walking each list from its head gives the manifest's entries.
        let hdr = k.manifest.profile.pool_header_size;
        for fl in &k.manifest.free_lists {
            let head = fl.descriptor.0 + p.descriptor.unwrap().list_heads + fl.index * 2 * ptr;
            let mut got = Vec::new();
            let mut l = vptr(&mem, arch, dtb, head);
            while l != head && got.len() < 1000 {
                got.push(l - hdr);
                l = vptr(&mem, arch, dtb, l);
            }
            let want: Vec<u64> = fl.entries.iter().map(|e| e.0).collect();
            assert_eq!(got, want, "{} list {}", p.name, fl.index);
        }
        assert_eq!(k.manifest.free_lists.is_empty(), !classic, "{}", p.name);

        // Special pages.
        for sp in &k.manifest.special_pages {
            let r = common::translate(&mem, arch, dtb, sp.va.0);
            match sp.state.as_str() {
                "paged_out" => assert!(matches!(r, Err(Miss::PagedOut(_))), "{}: {r:?}", p.name),
                "transition" => assert_eq!(r, Err(Miss::Transition(sp.pfn.unwrap().0))),
                "absent" => assert_eq!(
                    vread(&mem, arch, dtb, sp.va.0, 1),
                    Err(Miss::NotInDump),
                    "{}",
                    p.name
                ),
                other => panic!("{other}"),
            }
        }
        assert_eq!(k.manifest.special_pages.len(), 3);

        // Big page table: every used slot as the manifest says.
        let bt = vptr(&mem, arch, dtb, global(&k, "PoolBigPageTable").unwrap());
        assert_eq!(bt, k.manifest.big_page_table.address.0);
        for b in &k.manifest.big_allocations {
            let e = rd(bt + b.slot * p.big.size, p.big.size as usize);
            let va = if ptr == 8 {
                u64_at(&e, 0)
            } else {
                u32_at(&e, 0)
            };
            assert_eq!(va & !1, b.address.0);
            assert_eq!(va & 1 == 1, b.state == "free");
            assert_eq!(
                String::from_utf8_lossy(&e[ptr as usize..ptr as usize + 4]),
                b.tag
            );
        }

        // Self-map: the PTE of the kernel base, read through the self-map, maps the kernel base.
        let pte_va = k.manifest.profile.pte_base.0
            + ((base & 0x0000_ffff_ffff_f000) >> 12) * if arch == Arch::X86 { 4 } else { 8 };
        let pte = rd(pte_va, 4);
        let pfn_self = u32_at(&pte, 0) >> 12;
        let pa = common::translate(&mem, arch, dtb, base).unwrap();
        assert_eq!(pfn_self, pa >> 12, "{} self-map", p.name);
    }
}

#[test]
fn tracker_sums_are_the_manifest_poolused() {
    for p in PROFILES {
        let k = build(p.name);
        let mem = Mem(&k);
        let (arch, dtb) = (p.arch, k.facts.dtb);
        let ptr = arch.ptr_size();
        let size = vptr(&mem, arch, dtb, global(&k, "PoolTrackTableSize").unwrap());
        let mut tables = vec![vptr(&mem, arch, dtb, global(&k, "PoolTrackTable").unwrap())];
        if let Some(t) = global(&k, "ExPoolTagTables") {
            tables.clear();
            for i in 0..65 {
                let v = vptr(&mem, arch, dtb, t + i * ptr);
                if v != 0 {
                    tables.push(v);
                }
            }
        }
        assert_eq!(tables.len(), k.manifest.tracker_tables.len(), "{}", p.name);
        let tl = p.tracker;
        let rdn = |b: &[u8], f: pooldbg_testkit::profile::F| -> u64 {
            let mut x = [0u8; 8];
            x[..f.width as usize]
                .copy_from_slice(&b[f.off as usize..f.off as usize + f.width as usize]);
            u64::from_le_bytes(x)
        };
        let mut sums: std::collections::BTreeMap<String, [u64; 6]> = Default::default();
        for t in tables {
            let bytes = vread(&mem, arch, dtb, t, (size * tl.size) as usize).unwrap();
            for e in bytes.chunks(tl.size as usize) {
                let key = rdn(e, tl.key);
                if key == 0 {
                    continue;
                }
                let tag = pooldbg_testkit::manifest::tag_string(key as u32);
                let s = sums.entry(tag).or_default();
                for (i, f) in [
                    tl.np_allocs,
                    tl.np_frees,
                    tl.np_bytes,
                    tl.p_allocs,
                    tl.p_frees,
                    tl.p_bytes,
                ]
                .into_iter()
                .enumerate()
                {
                    s[i] += rdn(e, f);
                }
            }
        }
        let want: std::collections::BTreeMap<String, [u64; 6]> = k
            .manifest
            .poolused
            .iter()
            .map(|r| {
                (
                    r.tag.clone(),
                    [
                        r.nonpaged_allocs,
                        r.nonpaged_frees,
                        r.nonpaged_bytes,
                        r.paged_allocs,
                        r.paged_frees,
                        r.paged_bytes,
                    ],
                )
            })
            .collect();
        assert_eq!(sums, want, "{}", p.name);
        // And the trackers agree with the blocks and big pages the manifest lists.
        let leak = &k
            .manifest
            .poolused
            .iter()
            .find(|r| r.tag == "Leak")
            .unwrap();
        let small: u64 = k
            .manifest
            .blocks
            .iter()
            .filter(|b| b.tag == "Leak" && b.state == "allocated")
            .map(|b| b.size)
            .sum();
        let big: u64 = k
            .manifest
            .big_allocations
            .iter()
            .filter(|b| b.tag == "Leak" && b.state == "allocated")
            .map(|b| b.size)
            .sum();
        assert_eq!(leak.nonpaged_bytes, small + big, "{}", p.name);
        assert_eq!(leak.nonpaged_frees, 0);
    }
}

#[test]
fn vm_counters_are_where_the_profile_keeps_them() {
    for p in PROFILES {
        let k = build(p.name);
        let vm = &k.manifest.vm;
        assert_eq!(
            vm.physical_pages,
            Some(k.memory.total_pages()),
            "{}",
            p.name
        );
        assert_eq!(
            k.memory.total_pages(),
            32 * 256 - 0x61,
            "two runs around the 0xA0..0x100 hole"
        );
        let want = match &k.manifest.segment_heap {
            // Segment heap: the nonpaged heaps' subsegments plus allocated nonpaged big pages.
            Some(sh) => {
                let subs: u64 = sh
                    .vs_subsegments
                    .iter()
                    .chain(&sh.lfh_subsegments)
                    .filter(|s| s.pool_type != "PagedPool")
                    .map(|s| s.size / 4096)
                    .sum();
                let big: u64 = k
                    .manifest
                    .big_allocations
                    .iter()
                    .filter(|b| b.pool_type != "PagedPool" && b.state == "allocated")
                    .map(|b| b.size / 4096)
                    .sum();
                subs + big
            }
            None => {
                let nonpaged = k
                    .manifest
                    .descriptors
                    .iter()
                    .find(|d| d.pool_type == "NonPagedPool")
                    .unwrap();
                nonpaged.total_pages + nonpaged.total_big_pages
            }
        };
        assert_eq!(vm.nonpaged_pool_pages, Some(want), "{}", p.name);
        let mem = Mem(&k);
        if let Some(va) = global(&k, "MmNumberOfPhysicalPages") {
            assert_eq!(vptr(&mem, p.arch, k.facts.dtb, va), k.memory.total_pages());
        }
        if let Some(part) = global(&k, "MiSystemPartition") {
            let pooldbg_testkit::profile::VmSource::Partition { vp, physical, .. } = p.vm else {
                panic!()
            };
            assert_eq!(
                vptr(&mem, p.arch, k.facts.dtb, part + vp + physical),
                k.memory.total_pages()
            );
        }
    }
}

#[test]
fn faults_are_injected_and_recorded() {
    let p = pooldbg_testkit::profile("xpsp3-x86").unwrap();
    let k = KernelBuilder::standard(p)
        .fault(Fault::CorruptPoolHeader { tag: *b"Irp " })
        .fault(Fault::BrokenFreeListLink)
        .build()
        .unwrap();
    assert_eq!(k.manifest.faults.len(), 2);
    let bad = k
        .manifest
        .blocks
        .iter()
        .find(|b| b.error.is_some())
        .unwrap();
    assert_eq!(bad.tag, "Irp ");
    let mem = Mem(&k);
    let h = vread(&mem, p.arch, k.facts.dtb, bad.address.0, 8).unwrap();
    assert_ne!((u32_at(&h, 2) & 0x1ff) * 8, bad.size, "the header lies");
    let link = k.manifest.faults[1].address.unwrap().0;
    assert_eq!(vptr(&mem, p.arch, k.facts.dtb, link), 0x4141_4141);
    // Without a target, a fault is an error.
    let e = KernelBuilder::new(p)
        .fault(Fault::CorruptPoolHeader { tag: *b"None" })
        .build();
    assert!(e.is_err());
}

#[test]
fn poolused_counts_what_was_requested_even_when_freed_blocks_merge() {
    for p in PROFILES {
        let mut b = KernelBuilder::new(p).special_pages(false);
        for _ in 0..5 {
            b = b.freed(b"Fre1", 0x40, PoolKind::NonPaged);
        }
        for _ in 0..3 {
            b = b.alloc(b"Al1 ", 0x40, PoolKind::Paged);
        }
        let k = b.build().unwrap();
        let row = |t: &str| {
            k.manifest
                .poolused
                .iter()
                .find(|r| r.tag == t)
                .unwrap()
                .clone()
        };
        let f = row("Fre1");
        assert_eq!(
            (f.nonpaged_allocs, f.nonpaged_frees, f.nonpaged_bytes),
            (5, 5, 0),
            "{}",
            p.name
        );
        let a = row("Al1 ");
        let block = (0x40 + k.manifest.profile.pool_header_size)
            .next_multiple_of(k.manifest.profile.pool_block_unit);
        assert_eq!(
            (a.paged_allocs, a.paged_frees, a.paged_bytes),
            (3, 0, 3 * block),
            "{}",
            p.name
        );
        // The five freed neighbours are one free block in the page (classic pool); LFH blocks keep
        // their place, each free (segment heap).
        let free: Vec<_> = k
            .manifest
            .blocks
            .iter()
            .filter(|b| b.tag == "Fre1")
            .collect();
        let want = if p.descriptor.is_some() { 1 } else { 5 };
        assert_eq!(free.len(), want, "{}", p.name);
        assert!(free.iter().all(|b| b.state == "free"));
    }
}

#[test]
fn sixty_four_processors_get_sixty_five_tracker_tables() {
    let p = pooldbg_testkit::profile("win10-1809-x64").unwrap();
    let k = KernelBuilder::standard(p).processors(64).build().unwrap();
    assert_eq!(k.manifest.tracker_tables.len(), 65);
    assert_eq!(k.manifest.tracker_tables[64].processor, Some(63));
}

#[test]
fn big_requests_and_small_memory() {
    let p = pooldbg_testkit::profile("win7sp1-x64").unwrap();
    let k = KernelBuilder::new(p)
        .alloc(b"Huge", 0x1800, PoolKind::Paged)
        .build()
        .unwrap();
    let b = k
        .manifest
        .big_allocations
        .iter()
        .find(|b| b.tag == "Huge")
        .unwrap();
    assert_eq!(b.size, 0x2000);
    assert!(KernelBuilder::new(p).memory_mib(8).build().is_err());
    assert!(KernelBuilder::new(p).memory_mib(2 << 20).build().is_err());
    let x86 = pooldbg_testkit::profile("xpsp3-x86").unwrap();
    assert!(KernelBuilder::new(x86).memory_mib(4096).build().is_err());
}
