//! Compares a `Layout` against PDB-derived facts (real ISF files or the committed vol2 facts).

#![allow(dead_code)]

use pooldbg_poollayout::{
    AllocationMap, BigPageDetail, DescriptorCounters, Field, HeaderFormat, Layout, Width,
};

/// A source of structure facts.
pub trait Facts {
    /// Size of a type, `None` when the type is absent.
    fn size(&self, ty: &str) -> Option<u64>;
    /// Offset and bit range (position, length) of a field.
    fn field(&self, ty: &str, field: &str) -> Option<(u64, Option<(u32, u32)>)>;
    /// Width in bytes of a plain integer / pointer field, when the source knows it.
    fn width(&self, _ty: &str, _field: &str) -> Option<u64> {
        None
    }
    /// Whether a global symbol exists; `None` when the source has no symbols.
    fn has_symbol(&self, _name: &str) -> Option<bool> {
        None
    }
}

/// Collects mismatches and counts checks.
#[derive(Default)]
pub struct Checker {
    pub checks: usize,
    pub errors: Vec<String>,
}

impl Checker {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: String, ours: T, theirs: T) {
        self.checks += 1;
        if ours != theirs {
            self.errors
                .push(format!("{what}: crate says {ours:?}, facts say {theirs:?}"));
        }
    }

    fn size(&mut self, f: &dyn Facts, ty: &str, ours: usize) {
        self.eq(format!("sizeof({ty})"), Some(ours as u64), f.size(ty));
    }

    fn field(&mut self, f: &dyn Facts, ty: &str, name: &str, ours: Field) {
        let theirs = f.field(ty, name);
        self.eq(
            format!("{ty}.{name} offset"),
            Some(ours.offset as u64),
            theirs.map(|t| t.0),
        );
        if let Some(w) = f.width(ty, name) {
            let ow = match ours.width {
                Width::U8 => 1,
                Width::U16 => 2,
                Width::U32 => 4,
                Width::U64 => 8,
            };
            self.eq(format!("{ty}.{name} width"), ow, w);
        }
    }

    fn offset(&mut self, f: &dyn Facts, ty: &str, name: &str, ours: usize) {
        self.eq(
            format!("{ty}.{name} offset"),
            Some(ours as u64),
            f.field(ty, name).map(|t| t.0),
        );
    }

    /// Absolute bit position (offset × 8 + bit position) and length of a bit field.
    fn bits(&mut self, f: &dyn Facts, ty: &str, name: &str, abs: u64, len: u32) {
        let theirs = f
            .field(ty, name)
            .map(|(o, b)| b.map_or((o * 8, 0), |(p, l)| (o * 8 + u64::from(p), l)));
        self.eq(format!("{ty}.{name} bits"), Some((abs, len)), theirs);
    }
}

/// Checks every offset and size `layout` uses against `facts`. Types the facts lack are skipped only where
/// the source is known not to carry them (`partial` = the vol2 file lists a subset per profile).
pub fn check(layout: &Layout, facts: &dyn Facts, partial: bool) -> Checker {
    let mut c = Checker::default();
    let fam = layout.family();

    // _POOL_HEADER
    if !partial || facts.size("_POOL_HEADER").is_some() {
        let t = "_POOL_HEADER";
        c.size(facts, t, layout.header_size());
        match fam.header {
            HeaderFormat::X64 => {
                c.bits(facts, t, "PreviousSize", 0, 8);
                c.bits(facts, t, "PoolIndex", 8, 8);
                c.bits(facts, t, "BlockSize", 16, 8);
                c.bits(facts, t, "PoolType", 24, 8);
                c.offset(facts, t, "ProcessBilled", 8);
            }
            HeaderFormat::X86 => {
                c.bits(facts, t, "PreviousSize", 0, 9);
                c.bits(facts, t, "PoolIndex", 9, 7);
                c.bits(facts, t, "BlockSize", 16, 9);
                c.bits(facts, t, "PoolType", 25, 7);
            }
            HeaderFormat::Nt50X86 => {}
        }
        c.offset(facts, t, "PoolTag", 4);
    }

    // _POOL_TRACKER_TABLE
    if let Some(tr) = fam.tracker
        && (!partial || facts.size("_POOL_TRACKER_TABLE").is_some())
    {
        let t = "_POOL_TRACKER_TABLE";
        c.size(facts, t, tr.size);
        c.field(facts, t, "Key", tr.key);
        c.field(facts, t, "NonPagedAllocs", tr.nonpaged_allocs);
        c.field(facts, t, "NonPagedFrees", tr.nonpaged_frees);
        c.field(facts, t, "NonPagedBytes", tr.nonpaged_bytes);
        c.field(facts, t, "PagedAllocs", tr.paged_allocs);
        c.field(facts, t, "PagedFrees", tr.paged_frees);
        c.field(facts, t, "PagedBytes", tr.paged_bytes);
    }

    // _POOL_TRACKER_BIG_PAGES
    if let Some(b) = fam.big_pages
        && (!partial || facts.size("_POOL_TRACKER_BIG_PAGES").is_some())
    {
        let t = "_POOL_TRACKER_BIG_PAGES";
        c.size(facts, t, b.size);
        c.field(facts, t, "Va", b.va);
        c.field(facts, t, "Key", b.key);
        match b.detail {
            BigPageDetail::Pages {
                number_of_pages,
                quota_object,
            } => {
                c.field(facts, t, "NumberOfPages", number_of_pages);
                c.eq(
                    format!("{t}.QuotaObject present"),
                    quota_object.map(|q| q.offset as u64),
                    facts.field(t, "QuotaObject").map(|x| x.0),
                );
            }
            BigPageDetail::PoolTypeBytes {
                pool_type,
                number_of_bytes,
            } => {
                c.field(facts, t, "PoolType", pool_type);
                c.field(facts, t, "NumberOfBytes", number_of_bytes);
            }
            BigPageDetail::Packed {
                bits,
                number_of_bytes,
            } => {
                let base = bits.offset as u64 * 8;
                c.bits(facts, t, "Pattern", base, 8);
                c.bits(facts, t, "PoolType", base + 8, 12);
                c.bits(facts, t, "SlushSize", base + 20, 12);
                c.field(facts, t, "NumberOfBytes", number_of_bytes);
            }
        }
        c.eq(
            format!("{t}.ProcessBilled"),
            b.process_billed.map(|p| p.offset as u64),
            facts.field(t, "ProcessBilled").map(|x| x.0),
        );
    }

    // _POOL_DESCRIPTOR
    match fam.descriptor {
        Some(d) if !partial || facts.size("_POOL_DESCRIPTOR").is_some() => {
            let t = "_POOL_DESCRIPTOR";
            c.size(facts, t, d.size);
            c.field(facts, t, "PoolType", d.pool_type);
            c.field(facts, t, "PoolIndex", d.pool_index);
            match d.counters {
                DescriptorCounters::Totals {
                    running_allocs,
                    running_deallocs,
                    total_pages,
                    total_big_pages,
                    total_bytes,
                } => {
                    c.field(facts, t, "RunningAllocs", running_allocs);
                    c.field(facts, t, "RunningDeAllocs", running_deallocs);
                    c.field(facts, t, "TotalPages", total_pages);
                    c.field(facts, t, "TotalBigPages", total_big_pages);
                    c.eq(
                        format!("{t}.TotalBytes"),
                        total_bytes.map(|f| f.offset as u64),
                        facts.field(t, "TotalBytes").map(|x| x.0),
                    );
                }
                DescriptorCounters::Split {
                    running_allocs,
                    running_deallocs,
                    pages_allocated,
                    pages_deallocated,
                    big_pages_allocated,
                    big_pages_deallocated,
                    bytes_allocated,
                    bytes_deallocated,
                } => {
                    c.field(facts, t, "RunningAllocs", running_allocs);
                    c.field(facts, t, "RunningDeallocs", running_deallocs);
                    c.field(facts, t, "PagesAllocated", pages_allocated);
                    c.field(facts, t, "PagesDeallocated", pages_deallocated);
                    c.field(facts, t, "BigPagesAllocated", big_pages_allocated);
                    c.field(facts, t, "BigPagesDeallocated", big_pages_deallocated);
                    c.field(facts, t, "BytesAllocated", bytes_allocated);
                    c.field(facts, t, "BytesDeallocated", bytes_deallocated);
                }
            }
            c.eq(
                format!("{t}.ListHeads"),
                d.list_heads.map(|(o, _)| o as u64),
                facts.field(t, "ListHeads").map(|x| x.0),
            );
            if let (Some((_, n)), Some(size)) = (d.list_heads, facts.size(t)) {
                // ListHeads runs to the end of the structure: count × LIST_ENTRY.
                let (o, _) = d.list_heads.unwrap_or((0, 0));
                c.eq(
                    format!("{t}.ListHeads count"),
                    (o + n * 2 * layout.pointer_size()) as u64,
                    size,
                );
            }
        }
        None if !partial => c.eq(
            "_POOL_DESCRIPTOR absent".into(),
            None,
            facts.size("_POOL_DESCRIPTOR"),
        ),
        _ => {}
    }

    // _MM_PAGED_POOL_INFO
    if let Some(p) = fam.paged_pool_info
        && (!partial || facts.size("_MM_PAGED_POOL_INFO").is_some())
    {
        let t = "_MM_PAGED_POOL_INFO";
        c.size(facts, t, p.size);
        match p.allocation_map {
            Some(AllocationMap::Pointer(f)) => c.field(facts, t, "PagedPoolAllocationMap", f),
            Some(AllocationMap::Embedded { offset, .. }) => {
                c.offset(facts, t, "PagedPoolAllocationMap", offset)
            }
            None => c.eq(
                format!("{t}.PagedPoolAllocationMap absent"),
                None,
                facts.field(t, "PagedPoolAllocationMap").map(|x| x.0),
            ),
        }
        let opt = |c: &mut Checker, name: &str, f: Option<Field>| match f {
            Some(f) => c.field(facts, t, name, f),
            None => c.eq(
                format!("{t}.{name} absent"),
                None,
                facts.field(t, name).map(|x| x.0),
            ),
        };
        opt(&mut c, "EndOfPagedPoolBitmap", p.end_of_bitmap);
        opt(&mut c, "FirstPteForPagedPool", p.first_pte);
        opt(&mut c, "PagedPoolHint", p.hint);
        opt(&mut c, "PagedPoolCommit", p.commit);
        opt(&mut c, "MaximumSize", p.maximum_size);
        c.field(facts, t, "AllocatedPagedPool", p.allocated);
    }

    // _MMFREE_POOL_ENTRY
    if let Some(e) = fam.free_pool_entry
        && facts.size("_MMFREE_POOL_ENTRY").is_some()
    {
        let t = "_MMFREE_POOL_ENTRY";
        c.size(facts, t, e.size);
        c.offset(facts, t, "List", e.flink.offset);
        c.field(facts, t, "Size", e.size_pages);
        if facts.field(t, "Signature").is_some() {
            c.field(facts, t, "Signature", e.signature);
            c.field(facts, t, "Owner", e.owner);
        }
    }

    // Segment heap: the pool is the segment heap exactly when the descriptor has no ListHeads.
    if !partial {
        let legacy = facts.field("_POOL_DESCRIPTOR", "ListHeads").is_some();
        c.eq(
            "segment-heap pool".into(),
            layout.is_segment_heap(),
            !legacy,
        );
    }
    if let Some(s) = fam.segment_heap
        && (!partial || facts.size("_SEGMENT_HEAP").is_some())
    {
        let t = "_EX_POOL_HEAP_MANAGER_STATE";
        if !partial || facts.size(t).is_some() {
            c.size(facts, t, s.state_size);
            c.field(facts, t, "NumberOfPools", s.number_of_pools);
            c.offset(facts, t, "PoolNode", s.pool_node);
            c.offset(facts, t, "SpecialHeaps", s.special_heaps);
            c.eq(
                format!("{t}.PoolNode end"),
                s.pool_node + s.max_pools * s.pool_node_size,
                s.special_heaps,
            );
            c.size(facts, "_EX_HEAP_POOL_NODE", s.pool_node_size);
            c.offset(facts, "_EX_HEAP_POOL_NODE", "Heaps", s.node_heaps);
        }
        let t = "_RTLP_HP_HEAP_GLOBALS";
        c.field(facts, t, "HeapKey", s.heap_key);
        c.field(facts, t, "LfhKey", s.lfh_key);
        let t = "_SEGMENT_HEAP";
        c.size(facts, t, s.heap_size);
        c.field(facts, t, "Signature", s.heap_signature);
        c.offset(facts, t, "MemStats", s.heap_mem_stats);
        c.offset(facts, t, "SegContexts", s.heap_seg_contexts);
        c.offset(facts, t, "VsContext", s.heap_vs_context);
        c.offset(facts, t, "LfhContext", s.heap_lfh_context);
        let t = "_HEAP_SEG_CONTEXT";
        c.size(facts, t, s.seg_context_size);
        c.field(facts, t, "SegmentMask", s.seg_segment_mask);
        c.field(facts, t, "UnitShift", s.seg_unit_shift);
        c.field(
            facts,
            t,
            "FirstDescriptorIndex",
            s.seg_first_descriptor_index,
        );
        c.offset(facts, t, "SegmentListHead", s.seg_segment_list_head);
        let t = "_HEAP_PAGE_SEGMENT";
        c.size(facts, t, s.page_segment_size);
        c.field(facts, t, "Signature", s.page_segment_signature);
        let t = "_HEAP_PAGE_RANGE_DESCRIPTOR";
        c.size(facts, t, s.range_descriptor_size);
        c.offset(facts, t, "RangeFlags", s.range_flags.offset);
        c.offset(facts, t, "UnitSize", s.range_unit_size.offset);
        let t = "_HEAP_VS_SUBSEGMENT";
        c.size(facts, t, s.vs_subsegment_size);
        c.field(facts, t, "Size", s.vs_subsegment_size_field);
        c.bits(
            facts,
            t,
            "Signature",
            s.vs_subsegment_signature.offset as u64 * 8,
            15,
        );
        c.eq(
            "first VS chunk follows the subsegment header, chunk-header aligned".into(),
            s.vs_first_chunk,
            s.vs_subsegment_size.div_ceil(s.vs_chunk_header_size) * s.vs_chunk_header_size,
        );
        c.size(facts, "_HEAP_VS_CHUNK_HEADER", s.vs_chunk_header_size);
        let t = "_HEAP_VS_CHUNK_HEADER_SIZE";
        if facts.size(t).is_some() {
            match layout.arch() {
                pooldbg_poollayout::Arch::X64 => {
                    c.bits(facts, t, "MemoryCost", 0, 16);
                    c.bits(facts, t, "UnsafeSize", 16, 16);
                    c.bits(facts, t, "UnsafePrevSize", 32, 16);
                    c.bits(facts, t, "Allocated", 48, 8);
                }
                pooldbg_poollayout::Arch::X86 => {
                    c.bits(facts, t, "MemoryCost", 0, 1);
                    c.bits(facts, t, "UnsafeSize", 1, 15);
                    c.bits(facts, t, "UnsafePrevSize", 16, 15);
                    c.bits(facts, t, "Allocated", 31, 1);
                }
            }
        }
        let t = "_HEAP_LFH_SUBSEGMENT";
        c.field(facts, t, "BlockCount", s.lfh_block_count);
        c.offset(facts, t, "BlockOffsets", s.lfh_block_offsets.offset);
        c.offset(facts, t, "BlockBitmap", s.lfh_block_bitmap);
    }

    // Symbols the layout names.
    let tt = fam.tracker_tables;
    for (sym, claimed) in [
        ("ExPoolTagTables", tt.per_processor.is_some()),
        ("ExpSessionPoolTrackTable", tt.session.is_some()),
        ("ExpPoolQuotaCookie", fam.quota_cookie),
        ("ExPoolState", layout.is_segment_heap()),
    ] {
        if let Some(has) = facts.has_symbol(sym) {
            // ExPoolState exists from 17763 although that pool is still classic.
            if sym == "ExPoolState" && has && !claimed {
                continue;
            }
            c.eq(format!("symbol {sym} present"), claimed, has);
        }
    }
    c
}
