//! The segment-heap profiles (19041, 20348, 22000) read back through pooldbg's own readers:
//! every container page for page through `dumpfile`; the heaps walked through `dumpfile` + `paging`
//! with this test's own decoder (docs/POOL_INTERNALS.md §3.3) and, separately, with `poollayout`'s
//! walkers; faults; determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;

use dumpfile::{Dump, PhysicalMemory, ReadStatus};
use paging::{AddressSpace, Mode, PagingConfig};
use pooldbg_testkit::profile::{PROFILES, Profile, SegHeapLayout};
use pooldbg_testkit::{
    Container, Fault, Kernel, KernelBuilder, PoolKind, WriteOptions, expected_page, write_vec,
};

fn seg_profiles() -> Vec<&'static Profile> {
    let v: Vec<_> = PROFILES
        .iter()
        .filter(|p| p.pool.segment_heap().is_some())
        .collect();
    assert_eq!(v.len(), 3);
    v
}

fn build(p: &'static Profile, faults: &[Fault]) -> Kernel {
    let mut b = KernelBuilder::standard(p)
        .seed(5)
        .memory_mib(32)
        .alloc(b"NxSm", 0x30, PoolKind::NonPagedNx)
        .freed(b"NxSm", 0x30, PoolKind::NonPagedNx)
        .alloc(b"NxVs", 0x700, PoolKind::NonPagedNx)
        .alloc(b"PgVs", 0xfd8, PoolKind::Paged)
        .alloc(b"PgV2", 0xfd0, PoolKind::Paged);
    for f in faults {
        b = b.fault(*f);
    }
    b.build().unwrap()
}

fn layout(p: &Profile) -> &SegHeapLayout {
    p.pool.segment_heap().unwrap()
}

/// Virtual memory of a full dump of `k`, through dumpfile and paging.
struct Virt(AddressSpace<Dump>);

impl Virt {
    fn of(k: &Kernel) -> Virt {
        let (bytes, _) = write_vec(k, Container::Full, &WriteOptions::default()).unwrap();
        let dump = Dump::from_vec(bytes).unwrap();
        Virt(AddressSpace::new(
            dump,
            PagingConfig::new(Mode::X64, k.facts.dtb),
        ))
    }
    fn rd(&self, va: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        let o = self.0.read_virtual(va, &mut b);
        assert!(o.is_ok(), "read {n:#x} bytes at {va:#x}: {:?}", o.failed);
        b
    }
    fn u64(&self, va: u64) -> u64 {
        u64::from_le_bytes(self.rd(va, 8).try_into().unwrap())
    }
}

fn le(b: &[u8], off: u64, w: usize) -> u64 {
    let mut x = [0u8; 8];
    x[..w].copy_from_slice(&b[off as usize..off as usize + w]);
    u64::from_le_bytes(x)
}

fn tag_of(b: &[u8]) -> String {
    if b[4..8] == [0; 4] {
        String::new()
    } else {
        String::from_utf8_lossy(&b[4..8]).into_owned()
    }
}

fn global(k: &Kernel, name: &str) -> u64 {
    k.manifest
        .globals
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("{name}"))
        .address
        .0
}

/// (chunk, chunk size, previous size, allocated, pool header, tag) of a VS chunk; (block, size,
/// allocated, tag) of an LFH block — as read.
type VsRow = (u64, u64, u64, bool, u64, String);
type LfhRow = (u64, u64, bool, String);

/// This test's own walk of the segment heap (docs/POOL_INTERNALS.md §3.3), independent of testkit's
/// builder and of poollayout.
fn walk(k: &Kernel, v: &Virt) -> (Vec<VsRow>, Vec<LfhRow>) {
    let l = layout(k.profile);
    let sh = k.manifest.segment_heap.as_ref().unwrap();
    let state = global(k, "ExPoolState");
    let globals = v.u64(state);
    assert_eq!(globals, global(k, "RtlpHpHeapGlobals"));
    let heap_key = v.u64(globals);
    let lfh_key = v.u64(globals + l.lfh_key);
    assert_eq!((heap_key, lfh_key), (sh.heap_key.0, sh.lfh_key.0));
    let st = v.rd(state, l.state_size as usize);
    assert_eq!(le(&st, l.number_of_pools, 4), 1);
    let heaps: Vec<u64> = (0..4).map(|i| le(&st, l.pool_node + 8 * i, 8)).collect();
    let want: Vec<u64> = sh.heaps.iter().map(|h| h.address.0).collect();
    assert_eq!(&heaps[..3], &want[..]);
    assert_eq!(heaps[3], 0);
    let (mut vs, mut lfh) = (Vec::new(), Vec::new());
    for (hi, &h) in heaps[..3].iter().enumerate() {
        let hb = v.rd(h, l.heap_size as usize);
        assert_eq!(le(&hb, l.heap_signature, 4), 0xDDEE_DDEE);
        let ctx = l.seg_contexts;
        let mask = le(&hb, ctx, 8);
        let shift = le(&hb, ctx + l.seg_unit_shift, 1);
        let first = le(&hb, ctx + l.seg_first_descriptor_index, 1);
        assert_eq!((mask, shift, first), (!0xf_ffff, 12, 2));
        // SegmentListHead: a bounded walk.
        let head = h + ctx + l.seg_segment_list_head;
        let mut segs = Vec::new();
        let mut e = v.u64(head);
        while e != head {
            assert!(segs.len() < 64 && !segs.contains(&e), "segment list loops");
            segs.push(e);
            e = v.u64(e);
        }
        assert_eq!(le(&hb, ctx + l.seg_segment_count, 8), segs.len() as u64);
        let want: Vec<u64> = sh.heaps[hi].segments.iter().map(|s| s.0).collect();
        assert_eq!(segs, want);
        for seg in segs {
            assert_eq!(seg & !mask, 0, "segments are 1 MiB aligned");
            let desc = v.rd(seg, l.page_segment_size as usize);
            let sig = le(&desc, l.page_segment_signature, 8);
            let owner = sig ^ heap_key ^ seg ^ 0xA2E6_4EAD_A2E6_4EAD;
            assert!(
                owner >= 0xffff_8000_0000_0000,
                "segment signature {owner:#x}"
            );
            let mut i = first;
            while i < 256 {
                let d = i * l.range_size;
                let flags = le(&desc, d + l.range_flags, 1);
                let units = le(&desc, d + l.range_unit_size, 1);
                assert!(units > 0, "UnitSize 0 at {i}");
                let va = seg + (i << shift);
                let len = (units << shift) as usize;
                match flags {
                    15 => {
                        let b = v.rd(va, len);
                        let size = le(&b, l.vs_sub_size, 2);
                        let sig = le(&b, l.vs_sub_signature, 2) & 0x7fff;
                        assert_eq!(size, sig ^ 0x2bed, "VS subsegment signature");
                        let mut off = 0x30u64;
                        while off < len as u64 {
                            let c = va + off;
                            let bits = le(&b, off, 8) ^ c ^ heap_key;
                            let csize = ((bits >> 16) & 0xffff) * 16;
                            let prev = ((bits >> 32) & 0xffff) * 16;
                            let alloc = (bits >> 48) & 0xff;
                            assert!(alloc <= 1 && csize >= 0x10, "chunk {c:#x}: {bits:#x}");
                            // The pool header: after the chunk header, or at the next page when
                            // the block would cross it by more than 0x40 bytes.
                            let (mut ph, bsize) = (c + 16, csize - 16);
                            if bsize < 0xff0 && (ph & 0xfff) + bsize > 0x1040 {
                                ph = (ph & !0xfff) + 0x1000;
                            }
                            let hdr = &b[(ph - va) as usize..(ph - va) as usize + 16];
                            vs.push((c, csize, prev, alloc == 1, ph, tag_of(hdr)));
                            if csize == 0 || off + csize > len as u64 {
                                break;
                            }
                            off += csize;
                        }
                    }
                    11 => {
                        let b = v.rd(va, len);
                        let d = le(&b, l.lfh_block_offsets, 4)
                            ^ (lfh_key & 0xffff_ffff)
                            ^ ((va & 0xffff_ffff) >> 12);
                        let (bs, fo) = (d & 0xffff, d >> 16);
                        let count = le(&b, l.lfh_block_count, 2);
                        assert_eq!(count, (len as u64 - fo) / bs);
                        let mut free = 0;
                        for n in 0..count {
                            let off = fo + n * bs;
                            let bits =
                                (b[(l.lfh_block_bitmap + n / 4) as usize] >> ((n % 4) * 2)) & 3;
                            free += u64::from(bits != 1);
                            let hdr = &b[off as usize..off as usize + 16];
                            lfh.push((va + off, bs, bits == 1, tag_of(hdr)));
                        }
                        assert_eq!(le(&b, l.lfh_free_count, 2), free);
                    }
                    0 => {} // the free rest of the segment
                    f => panic!("RangeFlags {f} at {va:#x}"),
                }
                i += units;
            }
        }
    }
    (vs, lfh)
}

fn manifest_rows(k: &Kernel) -> (Vec<VsRow>, Vec<LfhRow>) {
    let sh = k.manifest.segment_heap.as_ref().unwrap();
    let vs = sh
        .vs_chunks
        .iter()
        .map(|c| {
            (
                c.chunk.0,
                c.chunk_size,
                c.previous_chunk_size,
                c.state == "allocated",
                c.pool_header.0,
                c.tag.clone(),
            )
        })
        .collect();
    let lfh = sh
        .lfh_blocks
        .iter()
        .map(|b| (b.address.0, b.size, b.state == "allocated", b.tag.clone()))
        .collect();
    (vs, lfh)
}

#[test]
fn every_container_reads_back_page_for_page_through_dumpfile() {
    for p in seg_profiles() {
        let k = build(p, &[]);
        for &c in Container::ALL {
            let (bytes, _) = write_vec(&k, c, &WriteOptions::default()).unwrap();
            let dump = Dump::from_vec(bytes).unwrap();
            let mut buf = vec![0u8; 4096];
            let mut held = 0;
            for pfn in 0..k.memory.end_pfn() + 2 {
                let o = dump.read_physical(pfn * 4096, &mut buf);
                match expected_page(&k, c, pfn) {
                    Some(want) => {
                        assert_eq!(o.status, ReadStatus::Ok, "{} {c:?} pfn {pfn:#x}", p.name);
                        assert!(buf == want, "{} {c:?} pfn {pfn:#x} differs", p.name);
                        held += 1;
                    }
                    None => assert_ne!(o.status, ReadStatus::Ok, "{} {c:?} pfn {pfn:#x}", p.name),
                }
            }
            if c != Container::Triage {
                assert!(held > 100, "{} {c:?}", p.name);
            }
        }
    }
}

#[test]
fn every_vs_chunk_and_lfh_block_reads_back_as_the_manifest_says() {
    for p in seg_profiles() {
        let k = build(p, &[]);
        let v = Virt::of(&k);
        let (mut vs, mut lfh) = walk(&k, &v);
        let (mut wvs, mut wlfh) = manifest_rows(&k);
        for x in [&mut vs, &mut wvs] {
            x.sort();
        }
        for x in [&mut lfh, &mut wlfh] {
            x.sort();
        }
        assert_eq!(vs, wvs, "{}: VS chunks", p.name);
        assert_eq!(lfh, wlfh, "{}: LFH blocks", p.name);
        // Both kinds, both states, all three heaps, NX allocations among them.
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        for state in ["allocated", "free"] {
            assert!(
                sh.vs_chunks
                    .iter()
                    .any(|c| c.state == state && !c.tag.is_empty())
            );
            assert!(
                sh.lfh_blocks
                    .iter()
                    .any(|c| c.state == state && !c.tag.is_empty())
            );
        }
        for pool in ["NonPagedPool", "NonPagedPoolNx", "PagedPool"] {
            assert!(
                sh.lfh_blocks
                    .iter()
                    .any(|b| b.pool_type == pool && b.state == "allocated")
            );
        }
        assert!(
            sh.vs_chunks
                .iter()
                .any(|c| c.tag == "NxVs" && c.pool_type == "NonPagedPoolNx")
        );
        // The uniform `blocks` list holds every pool header of both.
        assert_eq!(
            k.manifest.blocks.len(),
            sh.vs_chunks.len() + sh.lfh_blocks.len()
        );
        // Allocations that fit neither (0xfd8 + header > 0xfe0) are big allocations only;
        // 0xfd0 + header still fits a VS chunk.
        assert!(k.manifest.big_allocations.iter().any(|b| b.tag == "PgVs"));
        assert!(!sh.vs_chunks.iter().any(|c| c.tag == "PgVs"));
        assert!(
            sh.vs_chunks
                .iter()
                .any(|c| c.tag == "PgV2" && c.size == 0xfe0)
        );
        // Every allocated pool block holds its data (after the header) in whole pages of the dump,
        // and no allocated VS pool block crosses a page.
        for c in sh.vs_chunks.iter().filter(|c| c.state == "allocated") {
            assert!(
                (c.pool_header.0 & 0xfff) + c.size <= 0x1000,
                "{:#x}",
                c.chunk.0
            );
        }
        // Loader entries (MmLd) sit in nonpaged pool blocks and PsLoadedModuleList reaches them.
        for m in &k.manifest.modules {
            let e = m.ldr_entry.0;
            assert!(
                k.manifest
                    .blocks
                    .iter()
                    .any(|b| b.tag == "MmLd" && b.address.0 + 16 == e),
                "{}: {}",
                p.name,
                m.name
            );
        }
    }
}

#[test]
fn poollayout_walks_agree_with_the_manifest() {
    use poollayout::{Arch, BlockState, Layout};
    for p in seg_profiles() {
        let k = build(p, &[]);
        let v = Virt::of(&k);
        let lay = Layout::for_build(Arch::X64, p.build).unwrap();
        let l = layout(p);
        let state = global(&k, "ExPoolState");
        let ps = lay
            .decode_pool_state(&v.rd(state, l.state_size as usize), state)
            .unwrap();
        let keys = lay.decode_heap_keys(&v.rd(ps.globals, 0x40)).unwrap();
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        assert_eq!((keys.heap_key, keys.lfh_key), (sh.heap_key.0, sh.lfh_key.0));
        let (mut vs, mut lfh) = (Vec::new(), Vec::new());
        for &h in ps.node_heaps[0].iter().filter(|h| **h != 0) {
            let heap = lay
                .decode_segment_heap(&v.rd(h, l.heap_size as usize), h)
                .unwrap();
            assert!(heap.signature_ok);
            let ctx = heap.seg_contexts[0];
            let mut seg = ctx.segment_list_flink;
            let mut n = 0;
            while seg != ctx.segment_list_head && n < 64 {
                let sig = lay
                    .decode_page_segment_signature(&v.rd(seg, 0x20), seg, keys.heap_key)
                    .unwrap();
                assert!(lay.is_kernel_address(sig));
                let ranges = lay.page_ranges(&v.rd(seg, 0x2000), seg, &ctx).unwrap();
                for r in ranges {
                    let w = match r.kind {
                        poollayout::RangeKind::Vs => {
                            let bytes = v.rd(r.address, r.length as usize);
                            lay.walk_vs_subsegment(&bytes, r.address, keys.heap_key)
                        }
                        poollayout::RangeKind::Lfh => {
                            let bytes = v.rd(r.address, r.length as usize);
                            lay.walk_lfh_subsegment(&bytes, r.address, keys.lfh_key)
                        }
                        // The rest of the segment is reserved, not committed.
                        _ => continue,
                    }
                    .unwrap();
                    assert_eq!(w.resyncs, 0, "{}: {:#x}", p.name, r.address);
                    for b in w.blocks {
                        let row = (
                            b.address,
                            b.size as u64,
                            b.state == BlockState::Allocated,
                            if b.tag.0 == 0 {
                                String::new()
                            } else {
                                b.tag.to_string()
                            },
                        );
                        if r.kind == poollayout::RangeKind::Vs {
                            vs.push(row);
                        } else {
                            lfh.push(row);
                        }
                    }
                }
                seg = v.u64(seg);
                n += 1;
            }
        }
        let mut wvs: Vec<_> = sh
            .vs_chunks
            .iter()
            .map(|c| {
                (
                    c.pool_header.0,
                    c.size,
                    c.state == "allocated",
                    c.tag.clone(),
                )
            })
            .collect();
        let (_, mut wlfh) = manifest_rows(&k);
        vs.sort();
        wvs.sort();
        lfh.sort();
        wlfh.sort();
        assert_eq!(vs, wvs, "{}: poollayout VS walk", p.name);
        assert_eq!(lfh, wlfh, "{}: poollayout LFH walk", p.name);
    }
}

#[test]
fn faults_are_injected_and_seen_by_a_reader() {
    for p in seg_profiles() {
        let k = build(
            p,
            &[
                Fault::CorruptVsHeader { tag: *b"Thre" },
                Fault::BadLfhBitmap { tag: *b"Irp " },
            ],
        );
        let kinds: Vec<&str> = k.manifest.faults.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds, ["corrupt_vs_header", "bad_lfh_bitmap"], "{}", p.name);
        let sh = k.manifest.segment_heap.as_ref().unwrap();
        let bad_chunk = sh.vs_chunks.iter().find(|c| c.error.is_some()).unwrap();
        assert_eq!(bad_chunk.tag, "Thre");
        assert_eq!(bad_chunk.chunk.0, k.manifest.faults[0].address.unwrap().0);
        let bad_block = sh.lfh_blocks.iter().find(|b| b.error.is_some()).unwrap();
        assert_eq!(
            (bad_block.tag.as_str(), bad_block.state.as_str()),
            ("Irp ", "allocated")
        );
        // The reader sees both: the chunk header claims 0x30 bytes more, the bitmap bits are 10.
        let v = Virt::of(&k);
        let l = layout(p);
        let c = bad_chunk.chunk.0;
        let bits = v.u64(c) ^ c ^ sh.heap_key.0;
        assert_eq!(((bits >> 16) & 0xffff) * 16, bad_chunk.chunk_size + 0x30);
        let sub = bad_block.subsegment.0;
        let rec = sh
            .lfh_subsegments
            .iter()
            .find(|s| s.address.0 == sub)
            .unwrap();
        let n =
            (bad_block.address.0 - sub - rec.first_block_offset.unwrap()) / rec.block_size.unwrap();
        let byte = v.rd(sub + l.lfh_block_bitmap + n / 4, 1)[0];
        assert_eq!((byte >> ((n % 4) * 2)) & 3, 0b10);
        // Faults that need the other pool model are refused.
        let classic = pooldbg_testkit::profile("win10-1809-x64").unwrap();
        assert!(
            KernelBuilder::new(classic)
                .fault(Fault::CorruptVsHeader { tag: *b"Thre" })
                .build()
                .is_err()
        );
        assert!(
            KernelBuilder::new(classic)
                .alloc(b"NxNo", 0x40, PoolKind::NonPagedNx)
                .build()
                .is_err()
        );
    }
}

fn digest(b: &[u8]) -> u64 {
    // FNV-1a over the bytes.
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    for p in seg_profiles() {
        let one = |seed: u64| {
            let k = KernelBuilder::standard(p)
                .seed(seed)
                .memory_mib(32)
                .build()
                .unwrap();
            let (b, _) = write_vec(
                &k,
                Container::Bitmap {
                    full: false,
                    dump_type: 5,
                },
                &WriteOptions::default(),
            )
            .unwrap();
            let m = serde_json::to_vec(&k.manifest).unwrap();
            (digest(&b), digest(&m))
        };
        let a = one(11);
        assert_eq!(a, one(11), "{}", p.name);
        let b = one(12);
        assert_ne!(a.0, b.0, "{}", p.name);
        assert_ne!(a.1, b.1, "{}: keys and addresses follow the seed", p.name);
    }
    // The three builds differ from one another too.
    let set: BTreeSet<u64> = seg_profiles()
        .iter()
        .map(|p| {
            let k = KernelBuilder::standard(p)
                .seed(1)
                .memory_mib(32)
                .build()
                .unwrap();
            digest(
                &write_vec(&k, Container::Full, &WriteOptions::default())
                    .unwrap()
                    .0,
            )
        })
        .collect();
    assert_eq!(set.len(), 3);
}
