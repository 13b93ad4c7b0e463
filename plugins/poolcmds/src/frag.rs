//! `!frag [flags]`: nonpaged pool fragmentation, as WinDbg prints it (the plugin crate `frag`,
//! `libpooldbg_frag.so`, is the `export_plugin!` shell over [`run`]).
//!
//! For each free list `ListHeads[i]` of the nonpaged pool descriptor(s) (free blocks of `i + 1`
//! block units; docs/POOL_INTERNALS.md §5.1), the number of free fragments and their
//! bytes, then the totals and the NonPagedPool usage in bytes. Lists are followed through their
//! `Flink`s (the low bit masked, `ExpEncodePoolLink`), bounded and with cycle detection; each
//! fragment's size is its `_POOL_HEADER.BlockSize`.
//!
//! Builds with the segment-heap pool (Windows 10 19H1+) have no descriptor free lists: there the
//! same question is answered from the nonpaged heaps (`ExPoolState.PoolNode[n].Heaps[0]` NonPaged
//! and `[1]` NonPagedNx): the free VS chunks per chunk size and the free LFH blocks per bucket
//! (block size), found with `poollayout::segheap_walk` (docs/POOL_INTERNALS.md §3.3).
//!
//! Text: WinDbg's layout (the seed's `!frag 1` sample). JSON rows: `index`, `block_size`,
//! `fragments`, `bytes` (CONTRACT.md), plus `allocator` (`lfh` | `vs`) on the segment heap;
//! summary: totals, `nonpaged_pool_bytes`, `sources`, `text`. Without flags only non-empty lists
//! are listed; with flag bit 0 (`!frag 1`) every index (every LFH bucket present) is.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use plugin_sdk::{CommandError, Output, Target, TargetExt, hex};

use crate::common::layout_for_kernel;
use poollayout::FaultKind;
use serde_json::{Value, json};

/// What a row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Allocator {
    /// A classic descriptor free list `ListHeads[index]`.
    #[default]
    FreeList,
    /// Free LFH blocks of one bucket (segment heap).
    Lfh,
    /// Free VS chunks of one size (segment heap).
    Vs,
}

impl Allocator {
    /// `lfh` / `vs` (the JSON `allocator`); `free list` for classic rows.
    pub const fn name(self) -> &'static str {
        match self {
            Allocator::FreeList => "free list",
            Allocator::Lfh => "lfh",
            Allocator::Vs => "vs",
        }
    }
}

impl Allocator {
    /// Is this a classic free list (whose rows carry no `allocator`)?
    pub fn is_free_list(&self) -> bool {
        *self == Allocator::FreeList
    }
}

impl serde::Serialize for Allocator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

plugin_sdk::row! {
    /// One free-list index, or one segment-heap size class (docs/CONTRACT.md "Fields"). Its
    /// WinDbg line is [`FragRow::text`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
    pub struct FragRow {
        /// `ListHeads` index; on the segment heap `block_size / granularity - 1` (granularity: 16
        /// bytes x64, 8 x86, the VS chunk unit).
        pub index: usize,
        /// Bytes of a block on this list (`(index + 1)` units, header included); on the segment
        /// heap the LFH bucket's block size or the VS chunk size (chunk header included).
        pub block_size: u64,
        /// Free fragments found on the list(s) (free LFH blocks, free VS chunks).
        pub fragments: u64,
        /// Their bytes (sum of the headers' BlockSize; LFH block sizes; VS chunk sizes).
        pub bytes: u64,
        /// Which allocator the row counts: `lfh` or `vs` on the segment heap, left out for a
        /// classic free list.
        #[serde(skip_serializing_if = "Allocator::is_free_list")]
        pub allocator: Allocator,
    }
}

impl FragRow {
    /// WinDbg's line for the row, the index padded to `index_width` digits:
    /// `index:  3 number of fragments:     2  bytes:     64` (a classic list) or
    /// `lfh size:   0x40 number of fragments:     5  bytes:    320` (the segment heap).
    pub fn text(&self, index_width: usize) -> String {
        match self.allocator {
            Allocator::FreeList => format!(
                "index: {:>index_width$} number of fragments:{:>6}  bytes:{:>7}",
                self.index, self.fragments, self.bytes
            ),
            a => format!(
                "{:<3} size: {:>#6x} number of fragments:{:>6}  bytes:{:>7}",
                a.name(),
                self.block_size,
                self.fragments,
                self.bytes
            ),
        }
    }
}

/// The columns of `!frag`'s rows, in order ([`FragRow`]).
pub fn columns() -> &'static [&'static str] {
    plugin_sdk::columns_of::<FragRow>()
}

/// What `!frag` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FragReport {
    /// One row per `ListHeads` index, in index order.
    pub rows: Vec<FragRow>,
    /// Descriptors walked (addresses).
    pub descriptors: Vec<u64>,
    /// Where the descriptors were found (`PoolVector (kdbg)`).
    pub descriptor_source: String,
    /// NonPagedPool usage in bytes, when a source is known.
    pub nonpaged_pool_bytes: Option<u64>,
    /// Its source (`MmAllocatedNonPagedPool (kdbg)`).
    pub nonpaged_pool_source: Option<String>,
    /// Problems met (a broken link, a header whose size disagrees with its list, …).
    pub warnings: Vec<String>,
    /// Segment heap: the heaps walked (`(address, pool type)`), empty on classic pools.
    pub heaps: Vec<(u64, &'static str)>,
}

impl FragReport {
    /// Total fragments.
    pub fn total_fragments(&self) -> u64 {
        self.rows.iter().map(|r| r.fragments).sum()
    }

    /// Total free bytes on the lists.
    pub fn total_bytes(&self) -> u64 {
        self.rows.iter().map(|r| r.bytes).sum()
    }

    /// WinDbg-layout lines; `all` lists empty indices too (`!frag 1`).
    pub fn text(&self, all: bool) -> Vec<String> {
        let mut out = vec![format!("sources: {}", self.sources_line())];
        if self.heaps.is_empty() {
            out.push("  NonPaged Pool Fragmentation".into());
        } else {
            out.push(
                "  NonPaged Pool Fragmentation (segment heap: free LFH blocks, free VS chunks)"
                    .into(),
            );
        }
        // WinDbg's sample pads the index to two digits; past 99 every line widens alike so the
        // columns stay aligned (the layout of indexes under 100 is unchanged).
        let iw = self
            .listed_rows(all)
            .map(|r| r.index.to_string().len())
            .max()
            .unwrap_or(2)
            .max(2);
        for r in self.listed_rows(all) {
            out.push(r.text(iw));
        }
        out.push(format!(
            "Number of fragments:{:>8} consuming{:>8} bytes",
            self.total_fragments(),
            self.total_bytes()
        ));
        if let Some(b) = self.nonpaged_pool_bytes {
            out.push(format!("NonPagedPool Usage:{b:>9} bytes"));
        }
        out
    }

    fn sources_line(&self) -> String {
        let what = if self.heaps.is_empty() {
            "free lists"
        } else {
            "segment heap"
        };
        let mut s = format!("{what}: {}", self.descriptor_source);
        if let Some(u) = &self.nonpaged_pool_source {
            s.push_str("; usage: ");
            s.push_str(u);
        }
        s
    }

    /// The rows listed: non-empty ones, or all with `all` (`!frag 1`).
    pub fn listed_rows(&self, all: bool) -> impl Iterator<Item = &FragRow> {
        self.rows.iter().filter(move |r| all || r.fragments != 0)
    }

    /// The summary: totals, usage, sources and the text lines.
    pub fn summary(&self, all: bool) -> Value {
        let mut sources = serde_json::Map::new();
        sources.insert("rows".into(), json!(self.descriptor_source));
        let mut v = json!({
            "fragments": self.total_fragments(),
            "bytes": self.total_bytes(),
            "descriptors": self.descriptors.iter().map(|d| hex(*d)).collect::<Vec<_>>(),
        });
        if !self.heaps.is_empty() {
            v["heaps"] = self
                .heaps
                .iter()
                .map(|(a, t)| json!({"address": hex(*a), "pool_type": t}))
                .collect();
            for a in [Allocator::Lfh, Allocator::Vs] {
                let (n, b) = self
                    .rows
                    .iter()
                    .filter(|r| r.allocator == a)
                    .fold((0u64, 0u64), |(n, b), r| (n + r.fragments, b + r.bytes));
                v[a.name()] = json!({"fragments": n, "bytes": b});
            }
        }
        if let (Some(b), Some(s)) = (self.nonpaged_pool_bytes, &self.nonpaged_pool_source) {
            v["nonpaged_pool_bytes"] = json!(b);
            sources.insert("nonpaged_pool_bytes".into(), json!(s));
        }
        v["sources"] = Value::Object(sources);
        v["text"] = json!(self.text(all));
        v
    }
}

/// At most this many entries are followed on one list.
pub const MAX_LIST_ENTRIES: usize = 1 << 20;
/// At most this many nonpaged descriptors are read.
const MAX_DESCRIPTORS: u64 = 64;

/// The nonpaged descriptors: `ExpNonPagedPoolDescriptor[0..ExpNumberOfNonPagedPools]` when both
/// are readable, else `PoolVector[0]`, else `NonPagedPoolDescriptor` (KDBG +0x1c0).
fn nonpaged_descriptors(t: &dyn Target, ptr: u32) -> Result<(Vec<u64>, String), CommandError> {
    let mut why = Vec::new();
    if let (Some(arr), Some(n)) = (
        t.symbol_address("ExpNonPagedPoolDescriptor"),
        t.symbol_address("ExpNumberOfNonPagedPools"),
    ) {
        match t.read_u32(n.value) {
            Ok(count) if (1..=MAX_DESCRIPTORS).contains(&u64::from(count)) => {
                let mut v = Vec::new();
                for i in 0..u64::from(count) {
                    match t.read_pointer(arr.value.wrapping_add(i * u64::from(ptr)), ptr) {
                        Ok(0) => {}
                        Ok(p) if !v.contains(&p) => v.push(p),
                        Ok(_) => {}
                        Err(e) => why.push(format!("ExpNonPagedPoolDescriptor[{i}]: {e}")),
                    }
                }
                if !v.is_empty() && why.is_empty() {
                    return Ok((
                        v,
                        format!("ExpNonPagedPoolDescriptor ({})", arr.source.name()),
                    ));
                }
            }
            Ok(count) => why.push(format!("ExpNumberOfNonPagedPools is {count}")),
            Err(e) => why.push(format!("ExpNumberOfNonPagedPools: {e}")),
        }
    }
    if let Some(pv) = t.symbol_address("PoolVector") {
        match t.read_pointer(pv.value, ptr) {
            Ok(p) if p != 0 => {
                return Ok((vec![p], format!("PoolVector[0] ({})", pv.source.name())));
            }
            Ok(_) => why.push("PoolVector[0] is null".into()),
            Err(e) => why.push(format!("PoolVector: {e}")),
        }
    }
    if let Some(d) = t.symbol_address("NonPagedPoolDescriptor") {
        return Ok((
            vec![d.value],
            format!("NonPagedPoolDescriptor ({})", d.source.name()),
        ));
    }
    why.push("no symbol ExpNonPagedPoolDescriptor, PoolVector or NonPagedPoolDescriptor".into());
    Err(CommandError::NotFound(format!(
        "!frag: no nonpaged pool descriptor: {}",
        why.join("; ")
    )))
}

/// NonPagedPool usage in bytes: `MmAllocatedNonPagedPool`, else `MiState.Pools.AllocatedNonPagedPool`
/// (pages × 4096), the same sources as `!vm`.
fn nonpaged_usage(t: &dyn Target, ptr: u32) -> Result<(u64, String), Vec<String>> {
    let mut why = Vec::new();
    match t.symbol_address("MmAllocatedNonPagedPool") {
        Some(s) if s.value != 0 => match t.read_pointer(s.value, ptr) {
            Ok(p) => {
                return Ok((
                    p.saturating_mul(4096),
                    format!("MmAllocatedNonPagedPool ({})", s.source.name()),
                ));
            }
            Err(e) => why.push(format!("MmAllocatedNonPagedPool: {e}")),
        },
        _ => why.push("no symbol MmAllocatedNonPagedPool".into()),
    }
    let st = t.symbol_address("MiState");
    let pools = t.field_offset("_MI_SYSTEM_INFORMATION", "Pools");
    let f = t.field_offset("_MI_POOL_STATE", "AllocatedNonPagedPool");
    match (st, pools, f) {
        (Some(st), Some(p), Some(f)) => {
            match t.read_pointer(st.value.wrapping_add(p.offset).wrapping_add(f.offset), ptr) {
                Ok(v) => Ok((
                    v.saturating_mul(4096),
                    format!("MiState.Pools.AllocatedNonPagedPool ({})", st.source.name()),
                )),
                Err(e) => {
                    why.push(format!("MiState.Pools.AllocatedNonPagedPool: {e}"));
                    Err(why)
                }
            }
        }
        _ => {
            why.push("no MiState.Pools.AllocatedNonPagedPool".into());
            Err(why)
        }
    }
}

/// `!frag` over a target.
pub fn frag(target: &dyn Target, _flags: u64) -> Result<FragReport, CommandError> {
    let l = layout_for_kernel(target).map_err(|e| CommandError::Failed(format!("!frag: {e}")))?;
    if l.is_segment_heap() {
        return frag_segment_heap(target, &l);
    }
    let d = l
        .descriptor()
        .map_err(|e| CommandError::msg(format!("!frag: {e}")))?;
    let Some((lh_off, count)) = d.list_heads else {
        return Err(CommandError::msg(
            "!frag: this build's _POOL_DESCRIPTOR has no ListHeads",
        ));
    };
    let ptr = l.pointer_size() as u32;
    let (descs, src) = nonpaged_descriptors(target, ptr)?;
    let mut rep = FragReport {
        rows: (0..count)
            .map(|i| FragRow {
                allocator: Allocator::FreeList,
                index: i,
                block_size: l.list_head_block_bytes(i) as u64,
                fragments: 0,
                bytes: 0,
            })
            .collect(),
        descriptors: descs.clone(),
        descriptor_source: src,
        ..FragReport::default()
    };
    let hsize = l.header_size();
    let mut readable = 0usize;
    for desc in descs {
        let mut buf = vec![0u8; lh_off + count * 2 * ptr as usize];
        if let Err(e) = target.read_virtual_exact(desc, &mut buf) {
            rep.warnings
                .push(format!("nonpaged descriptor at {desc:#x}: {e}"));
            continue;
        }
        let heads = match l.descriptor_list_heads(&buf, desc) {
            Ok(h) => h,
            Err(e) => {
                rep.warnings.push(format!("descriptor at {desc:#x}: {e}"));
                continue;
            }
        };
        readable += 1;
        for h in heads.iter().filter(|h| !h.is_empty()) {
            if target.is_cancelled() {
                return Err(CommandError::Cancelled);
            }
            let mut seen = HashSet::new();
            let mut link = h.flink;
            let row = &mut rep.rows[h.index];
            loop {
                if link == h.address {
                    break;
                }
                if !seen.insert(link) {
                    rep.warnings.push(format!(
                        "ListHeads[{}] of {desc:#x}: the list loops at {link:#x} (not back to its head)",
                        h.index
                    ));
                    break;
                }
                if seen.len() > MAX_LIST_ENTRIES {
                    rep.warnings.push(format!(
                        "ListHeads[{}] of {desc:#x}: stopped after {MAX_LIST_ENTRIES} entries",
                        h.index
                    ));
                    break;
                }
                let header = l.free_block_header(link);
                let mut hb = vec![0u8; hsize];
                let hdr = target
                    .read_virtual_exact(header, &mut hb)
                    .map_err(|e| e.to_string())
                    .and_then(|()| l.decode_header(&hb).map_err(|e| e.to_string()));
                match hdr {
                    Ok(hd) => {
                        let bytes = l.block_bytes(hd.block_size) as u64;
                        if bytes != row.block_size {
                            rep.warnings.push(format!(
                                "ListHeads[{}] of {desc:#x}: the free block at {header:#x} says {bytes:#x} bytes, the list holds {:#x}-byte blocks",
                                h.index, row.block_size
                            ));
                        }
                        row.fragments += 1;
                        row.bytes += bytes;
                    }
                    Err(e) => {
                        rep.warnings.push(format!(
                            "ListHeads[{}] of {desc:#x}: free block header at {header:#x}: {e}; walk stopped",
                            h.index
                        ));
                        break;
                    }
                }
                match target.read_pointer(link, ptr) {
                    Ok(next) => link = poollayout::decode_pool_link(next),
                    Err(e) => {
                        rep.warnings.push(format!(
                            "ListHeads[{}] of {desc:#x}: Flink at {link:#x}: {e}; walk stopped",
                            h.index
                        ));
                        break;
                    }
                }
            }
        }
    }
    if readable == 0 {
        return Err(CommandError::msg(format!(
            "!frag: no nonpaged pool descriptor could be read ({})",
            rep.warnings.join("; ")
        )));
    }
    add_usage(target, ptr, &mut rep);
    Ok(rep)
}

fn add_usage(target: &dyn Target, ptr: u32, rep: &mut FragReport) {
    match nonpaged_usage(target, ptr) {
        Ok((b, s)) => {
            rep.nonpaged_pool_bytes = Some(b);
            rep.nonpaged_pool_source = Some(s);
        }
        Err(why) => rep
            .warnings
            .push(format!("not shown: NonPagedPool Usage: {}", why.join("; "))),
    }
}

/// `!frag` on the segment heap: the free LFH blocks per bucket and the free VS chunks per chunk
/// size of every nonpaged heap (`Heaps[0]` NonPaged, `Heaps[1]` NonPagedNx) of every pool node.
///
/// A VS chunk counts when its header decodes with HeapKey and its neighbour confirms its size
/// (`segheap_walk::vs_chunks`); its bytes are the chunk size, chunk header included. An LFH block
/// counts when its two `BlockBitmap` bits are `00`; `01` is allocated (MemProcFS); `10`/`11` are
/// named in a warning and counted neither way. Whatever cannot be read is a warning naming the
/// address; the figures then cover what was read.
fn frag_segment_heap(
    target: &dyn Target,
    l: &poollayout::Layout,
) -> Result<FragReport, CommandError> {
    use poollayout::segheap_walk::{self, LfhState, SegPool, SubKind};

    let ptr = l.pointer_size() as u32;
    let st = target.symbol_address("ExPoolState").ok_or_else(|| {
        CommandError::msg(format!(
            "!frag: build {} keeps its pool in the segment heap; no symbol ExPoolState, so its heaps \
             cannot be found (a symbol file or the embedded profile gives it)",
            l.build()
        ))
    })?;
    // The walker's reader reports a message; the kind of every failed read is kept here, by the
    // page it failed at, so a missing page is called "paged out" or "not in the dump" as it is.
    let faults: RefCell<BTreeMap<u64, FaultKind>> = RefCell::new(BTreeMap::new());
    let mut read = |va: u64, buf: &mut [u8]| -> Result<(), poollayout::ReadFault> {
        target.read_virtual_exact(va, buf).map_err(|e| {
            let fault = crate::error::fault(&e);
            let mut f = faults.borrow_mut();
            if f.len() < MAX_LIST_ENTRIES {
                f.insert(fault.address & !0xfff, fault.kind);
            }
            fault
        })
    };
    let pool = SegPool::read(l, st.value, &mut read)
        .map_err(|e| CommandError::msg(format!("!frag: segment heap: {e}")))?;
    // The nonpaged heaps of the pool nodes (`Heaps[0]`, `Heaps[1]`).
    let nonpaged = |h: &segheap_walk::Heap| h.node.is_some() && h.paged() == Some(false);
    let heaps: Vec<&segheap_walk::Heap> = pool.heaps.iter().filter(|h| nonpaged(h)).collect();
    let subs = pool.subsegments(l, &nonpaged, &mut read);
    let mut rep = FragReport {
        descriptor_source: format!("ExPoolState ({})", st.source.name()),
        heaps: heaps
            .iter()
            .map(|h| (h.address, h.pool_type.map_or("special heap", |t| t.name())))
            .collect(),
        descriptors: heaps.iter().map(|h| h.address).collect(),
        warnings: pool
            .warnings
            .iter()
            .chain(&subs.warnings)
            .cloned()
            .collect(),
        ..FragReport::default()
    };
    if heaps.is_empty() {
        return Err(CommandError::msg(format!(
            "!frag: no nonpaged segment heap could be read ({})",
            if rep.warnings.is_empty() {
                "every NonPaged/NonPagedNx heap pointer is null".to_string()
            } else {
                rep.warnings.join("; ")
            }
        )));
    }
    let unit = match l.arch() {
        poollayout::Arch::X64 => 16u64,
        poollayout::Arch::X86 => 8,
    };
    // (allocator, size) → (fragments, bytes)
    let mut acc: BTreeMap<(Allocator, u64), (u64, u64)> = BTreeMap::new();
    for sub in &subs.subsegments {
        if target.is_cancelled() {
            return Err(CommandError::Cancelled);
        }
        let at = sub.range.address;
        let heap = pool.heaps[sub.heap].name();
        let bytes = match segheap_walk::read_subsegment(l, &pool.keys, &sub.range, &mut read) {
            Ok(b) => {
                if let Some(&first) = b.missing_pages.first() {
                    rep.warnings.push(format!(
                        "{} subsegment at {at:#x}: {} of its {} pages are {} (first {first:#x}); read as zero",
                        heap,
                        b.missing_pages.len(),
                        b.bytes.len().div_ceil(4096),
                        missing_pages_reason(&b.missing_pages, &faults.borrow()),
                    ));
                }
                b.bytes
            }
            Err(e) => {
                rep.warnings.push(format!("{heap}: {e}"));
                continue;
            }
        };
        match SubKind::of(sub.range.kind) {
            Some(SubKind::Lfh) => {
                match segheap_walk::lfh_blocks(l, &bytes, at, pool.keys.lfh_key) {
                    Ok((hdr, blocks)) => {
                        let e = acc
                            .entry((Allocator::Lfh, hdr.block_size as u64))
                            .or_default();
                        for b in &blocks {
                            match b.state {
                            LfhState::Free => {
                                e.0 += 1;
                                e.1 += b.size as u64;
                            }
                            LfhState::Allocated => {}
                            LfhState::Unknown(bits) => rep.warnings.push(format!(
                                "LFH block at {:#x}: BlockBitmap bits {bits:02b} (unused bytes on a block that is not busy) are inconsistent; not counted",
                                b.address
                            )),
                        }
                        }
                    }
                    Err(e) => rep
                        .warnings
                        .push(format!("{heap}: {e}; subsegment skipped")),
                }
            }
            Some(SubKind::Vs) => match segheap_walk::vs_chunks(l, &bytes, at, pool.keys.heap_key) {
                Ok(v) => {
                    for c in v.chunks.iter().filter(|c| !c.allocated) {
                        let e = acc.entry((Allocator::Vs, c.size as u64)).or_default();
                        e.0 += 1;
                        e.1 += c.size as u64;
                    }
                    for (a, why) in &v.unconfirmed {
                        rep.warnings.push(format!(
                            "VS chunk at {a:#x}: {why}; not counted, walk resynchronised"
                        ));
                    }
                }
                Err(e) => rep
                    .warnings
                    .push(format!("{heap}: {e}; subsegment skipped")),
            },
            None => {}
        }
    }
    rep.rows = acc
        .into_iter()
        .map(|((allocator, size), (fragments, bytes))| FragRow {
            allocator,
            index: (size / unit).saturating_sub(1) as usize,
            block_size: size,
            fragments,
            bytes,
        })
        .collect();
    add_usage(target, ptr, &mut rep);
    Ok(rep)
}

/// Why the pages a subsegment read lacked are missing, from the faults the reader recorded:
/// `"not in the dump"`, `"paged out"`, or the mix (`"missing (2 paged out, 1 not in the dump)"`).
fn missing_pages_reason(pages: &[u64], faults: &BTreeMap<u64, FaultKind>) -> String {
    let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    for p in pages {
        let kind = faults
            .get(&(p & !0xfff))
            .copied()
            .unwrap_or(FaultKind::Other);
        *by_kind.entry(kind.name()).or_default() += 1;
    }
    match by_kind.len() {
        1 => by_kind
            .keys()
            .next()
            .map_or("unreadable", |k| k)
            .to_string(),
        _ => format!(
            "missing ({})",
            by_kind
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The usage line.
pub const USAGE: &str = "!frag [flags]   flags bit 0: list every free-list index, empty ones too";

/// Runs `!frag` on `target` with kd's argument string: rows, summary (with WinDbg's text) and
/// warnings into `out`.
pub fn run(target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
    let flags = parse_flags(args)?;
    let all = flags & 1 != 0;
    let rep = frag(target, flags)?;
    for r in rep.listed_rows(all) {
        out.emit(r);
    }
    out.set_summary(rep.summary(all));
    for w in &rep.warnings {
        out.warn(w.clone());
    }
    Ok(())
}

/// Parses `[flags]` (hex, `0x` optional).
pub fn parse_flags(args: &str) -> Result<u64, CommandError> {
    plugin_sdk::parse_hex_flags(args, "!frag [flags]")
}

/// Renders a command's output as text: the summary's `text` lines, then `warning:` lines
/// (docs/PLUGINS.md "Text layouts").
pub fn render_text(out: &Output) -> String {
    out.render_text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};

    const DESC: u64 = 0x8055_0000;
    const PV: u64 = 0x8056_0000;

    /// XP x86: ListHeads at +0x28, 8-byte units, 8-byte headers.
    fn xp() -> MemoryTarget {
        let info = TargetInfo {
            arch: Arch::X86,
            build: 2600,
            pointer_size: 4,
            ..Default::default()
        };
        let mut desc = vec![0u8; 0x28 + 512 * 8];
        for i in 0..512u32 {
            let h = DESC as u32 + 0x28 + i * 8;
            desc[0x28 + i as usize * 8..][..4].copy_from_slice(&h.to_le_bytes());
            desc[0x28 + i as usize * 8 + 4..][..4].copy_from_slice(&h.to_le_bytes());
        }
        MemoryTarget::new(info)
            .with_symbol("PoolVector", PV, Source::Kdbg)
            .with_virtual(PV, &(DESC as u32).to_le_bytes())
            .with_virtual(DESC, &desc)
    }

    fn set(t: MemoryTarget, va: u64, v: u32) -> MemoryTarget {
        t.with_virtual(va, &v.to_le_bytes())
    }

    /// An XP header of `units` units at `va` (free: PoolType 0).
    fn header(t: MemoryTarget, va: u64, units: u16) -> MemoryTarget {
        // XP x86: PreviousSize:9 PoolIndex:7 | BlockSize:9 PoolType:7.
        let mut h = [0u8; 8];
        h[2..4].copy_from_slice(&units.to_le_bytes());
        h[4..8].copy_from_slice(b"Free");
        t.with_virtual(va, &h)
    }

    #[test]
    fn counts_fragments_per_list_and_follows_encoded_links() {
        let head = DESC + 0x28 + 3 * 8; // ListHeads[3]: 32-byte blocks
        let b1 = 0x8100_0100u64;
        let b2 = 0x8100_0200u64;
        let mut t = xp();
        t = header(t, b1, 4);
        t = header(t, b2, 4);
        t = set(t, head, (b1 + 8) as u32 | 1); // encoded link
        t = set(t, b1 + 8, (b2 + 8) as u32);
        t = set(t, b2 + 8, head as u32);
        let rep = frag(&t, 0).unwrap();
        assert_eq!(rep.rows[3].fragments, 2);
        assert_eq!(rep.rows[3].bytes, 64);
        assert_eq!(rep.total_fragments(), 2);
        assert!(
            rep.warnings
                .iter()
                .any(|w| w.contains("NonPagedPool Usage"))
        );
        let text = rep.text(false).join("\n");
        assert!(
            text.contains("index:  3 number of fragments:     2  bytes:     64"),
            "{text}"
        );
        assert!(text.contains("Number of fragments:       2 consuming      64 bytes"));
    }

    #[test]
    fn indexes_past_99_keep_the_columns_aligned() {
        let rep = frag(&xp(), 1).unwrap();
        let text = rep.text(true);
        let lines: Vec<&String> = text.iter().filter(|l| l.starts_with("index:")).collect();
        assert!(lines.len() > 100, "{}", lines.len());
        let col = |l: &str| l.find("number of fragments").unwrap();
        assert!(lines.iter().all(|l| col(l) == col(lines[0])), "{lines:?}");
        assert!(lines[3].starts_with("index:   3 number"), "{}", lines[3]);
    }

    #[test]
    fn a_loop_and_a_broken_link_are_warnings_not_hangs() {
        let head = DESC + 0x28;
        let b1 = 0x8100_0100u64;
        let mut t = xp();
        t = header(t, b1, 1);
        t = set(t, head, (b1 + 8) as u32);
        t = set(t, b1 + 8, (b1 + 8) as u32); // points at itself
        let rep = frag(&t, 0).unwrap();
        assert_eq!(rep.rows[0].fragments, 1);
        assert!(rep.warnings.iter().any(|w| w.contains("loops")));

        let mut t = xp();
        t = set(t, head, 0x9999_0008); // header not in the dump
        let rep = frag(&t, 0).unwrap();
        assert_eq!(rep.rows[0].fragments, 0);
        assert!(rep.warnings.iter().any(|w| w.contains("0x99990000")));
    }

    #[test]
    fn missing_pages_are_named_by_the_fault_the_reader_saw() {
        let faults: BTreeMap<u64, FaultKind> = [
            (0x1000, FaultKind::PagedOut),
            (0x2000, FaultKind::NotInDump),
            (0x3000, FaultKind::PagedOut),
        ]
        .into();
        assert_eq!(
            missing_pages_reason(&[0x1000, 0x3000], &faults),
            "paged out"
        );
        assert_eq!(missing_pages_reason(&[0x2000], &faults), "not in the dump");
        assert_eq!(
            missing_pages_reason(&[0x1000, 0x2000, 0x3000], &faults),
            "missing (1 not in the dump, 2 paged out)"
        );
        // A page the reader did not report: not claimed to be either.
        assert_eq!(missing_pages_reason(&[0x9000], &faults), "unreadable");
    }

    #[test]
    fn a_cancel_is_a_cancel() {
        let head = DESC + 0x28 + 3 * 8;
        let b1 = 0x8100_0100u64;
        let mut t = header(xp(), b1, 4);
        t = set(t, head, (b1 + 8) as u32);
        t = set(t, b1 + 8, head as u32);
        assert!(frag(&t, 0).is_ok());
        t.cancel();
        assert_eq!(frag(&t, 0).unwrap_err(), CommandError::Cancelled);
    }

    #[test]
    fn segment_heap_without_ex_pool_state_is_a_clear_error() {
        let info = TargetInfo {
            arch: Arch::X64,
            build: 19041,
            pointer_size: 8,
            ..Default::default()
        };
        let e = frag(&MemoryTarget::new(info), 0).unwrap_err().to_string();
        assert!(
            e.contains("segment heap") && e.contains("no symbol ExPoolState"),
            "{e}"
        );
    }
}
