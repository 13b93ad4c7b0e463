//! `!pool [address [flags]]`: what holds an address, or the pool regions and paged-pool bitmap.

use std::sync::LazyLock;

use plugin_sdk::{CommandError, Output, Row, Target, TargetExt, hex};
use poollayout::{AllocationMap, BlockState, HeaderError, Layout, PoolType, WalkedBlock};
use serde::Serialize;
use serde_json::{Map, json};

use crate::common::{
    addr, layout_of, no_more_args, number_or, owner, read_global, ser_hex, ser_state,
    summary_with_text,
};
use crate::scan;

plugin_sdk::row! {
    /// One block of `!pool ADDRESS` (docs/CONTRACT.md "Fields"): a block of the pool page (or
    /// segment-heap subsegment) holding the address, or the big allocation holding it. Its
    /// WinDbg line is [`BlockRow::text`] ([`BlockRow::big_text`] for a big allocation).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct BlockRow {
        /// The block's header address (`0x…`).
        #[serde(serialize_with = "ser_hex")]
        pub address: u64,
        /// Its size in bytes, header included.
        pub size: u64,
        /// The header's previous size in bytes (0 for a big allocation; the segment heap leaves
        /// it 0).
        pub previous_size: u64,
        /// `allocated` or `free`.
        #[serde(serialize_with = "ser_state")]
        pub state: BlockState,
        /// The tag (protected bit masked).
        pub tag: String,
        /// The pool type of an allocated block, when known.
        pub pool_type: Option<&'static str>,
        /// Is this the block holding the address asked about?
        pub contains_address: bool,
        /// What is wrong with its header (`null`: nothing); left out for a big allocation,
        /// which has no header.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub error: Option<Option<String>>,
        /// Segment heap only: the subsegment's allocator (`lfh`, `vs`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub kind: Option<&'static str>,
    }
}

impl BlockRow {
    /// The row of a block walked on a classic pool page.
    pub fn walked(b: &WalkedBlock, marked: bool) -> BlockRow {
        BlockRow {
            address: b.address,
            size: b.size as u64,
            previous_size: b.previous_size as u64,
            state: b.state,
            tag: b.tag.masked().to_string(),
            pool_type: b
                .pool_type
                .filter(|_| b.state == BlockState::Allocated)
                .map(PoolType::name),
            contains_address: marked,
            error: Some(b.error.map(|e| e.to_string())),
            kind: None,
        }
    }

    /// WinDbg's `!pool` block line: `*e1001050 size:   10 previous size:   10  (Allocated) *ObDi`,
    /// the block holding the address marked with `*`.
    pub fn text(&self, layout: &Layout) -> String {
        block_text(
            layout,
            self.address,
            self.size,
            self.previous_size,
            self.state,
            &self.tag,
            self.contains_address,
        )
    }

    /// WinDbg's line for a big allocation: `*ffffe000… : large page allocation, tag is Leak,
    /// size is 0x2000 bytes`.
    pub fn big_text(&self, layout: &Layout) -> String {
        format!(
            "*{} : large page allocation, tag is {}, size is 0x{:x} bytes",
            addr(layout, self.address),
            self.tag,
            self.size
        )
    }
}

plugin_sdk::row! {
    /// One run of the paged-pool allocation bitmap (`!pool` without an address).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct RunRow {
        /// The run's first page (`0x…`).
        #[serde(serialize_with = "ser_hex")]
        pub address: u64,
        /// Its bytes.
        pub size: u64,
        /// `busy` or `free`.
        pub state: &'static str,
        /// The pool (`paged`).
        pub region: &'static str,
    }
}

impl RunRow {
    /// WinDbg's line: `e1000000: 3000 - busy`.
    pub fn text(&self, layout: &Layout) -> String {
        format!(
            "{}: {:x} - {}",
            addr(layout, self.address),
            self.size,
            self.state
        )
    }
}

/// The columns of `!pool`'s rows, in order: [`BlockRow`]'s and [`RunRow`]'s, merged
/// ([`plugin_sdk::merge_columns`]).
pub fn columns() -> &'static [&'static str] {
    static COLUMNS: LazyLock<Vec<&'static str>> =
        LazyLock::new(|| plugin_sdk::merge_columns(&[BlockRow::COLUMNS, RunRow::COLUMNS]));
    &COLUMNS
}

/// The usage line.
pub const USAGE: &str = "!pool [ADDRESS [FLAGS]]  (ADDRESS: a number or an expression such as nt!Symbol+10 or poi(ADDR); flags: 1 contents, 2 only the containing block, 80000000 no descriptions)";

pub(crate) const FLAG_CONTENTS: u64 = 1;
pub(crate) const FLAG_ONLY_CONTAINING: u64 = 2;
pub(crate) const FLAG_NO_DESCRIPTIONS: u64 = 0x8000_0000;

/// Runs `!pool` on `target` with kd's argument string.
pub fn run(target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
    let mut it = args.split_whitespace();
    // The address is an expression (`nt!Symbol`, `+`/`-`, `poi(...)`, written without blanks).
    let address = it
        .next()
        .map(|a| plugin_sdk::args::eval(target, a))
        .transpose()
        .map_err(|e| match e {
            plugin_sdk::args::ExprError::Usage(u) => u.with_usage(USAGE).into(),
            plugin_sdk::args::ExprError::Read(r) => CommandError::Read(r),
            other => other.into(),
        })?;
    let flags = number_or(it.next(), 0, USAGE)?;
    no_more_args(it, USAGE)?;
    let layout = layout_of(target)?;
    match address {
        Some(a) => pool_address(target, &layout, a, flags, out),
        None => pool_regions(target, &layout, out),
    }
}

/// WinDbg's `!pool` block line: `*e1001050 size:   10 previous size:   10  (Allocated) *ObDi`
/// (`marked`: the `*`s of the block holding the address).
pub fn block_text(
    layout: &Layout,
    address: u64,
    size: u64,
    previous_size: u64,
    state: BlockState,
    tag: &str,
    marked: bool,
) -> String {
    let m = if marked { '*' } else { ' ' };
    let state = format!("({})", state.as_str());
    format!(
        "{m}{} size: {size:4x} previous size: {previous_size:4x}  {state:<11} {m}{tag}",
        addr(layout, address),
    )
}

/// WinDbg's wording for a bad header. `reached_from` is the header whose size led to this one:
/// when this header is garbage, that size may be the real corruption, and the line says so.
pub fn error_line(
    layout: &Layout,
    address: u64,
    e: &HeaderError,
    reached_from: Option<u64>,
) -> String {
    let a = addr(layout, address);
    let mut line = match e {
        HeaderError::PreviousSizeMismatch { expected, .. } => {
            format!("Bad previous allocation size @{a}, last size was {expected:x} ({e})")
        }
        HeaderError::ZeroBlockSize => format!("Bad allocation size @{a}, zero is invalid ({e})"),
        HeaderError::PastPageEnd { .. } => format!("Bad allocation size @{a}, too large ({e})"),
        _ => format!("Bad pool header @{a}: {e}"),
    };
    if let Some(p) = reached_from {
        line.push_str(&format!(
            "; reached through the block size of the header at {}, which may be the corrupt one",
            addr(layout, p)
        ));
    }
    line
}

fn pool_address(
    target: &dyn Target,
    layout: &Layout,
    address: u64,
    flags: u64,
    out: &mut Output,
) -> Result<(), CommandError> {
    let describe = flags & FLAG_NO_DESCRIPTIONS == 0;
    let mut text = Vec::new();
    // A big allocation first: its pages hold no headers.
    let big = scan::big_table(target, layout);
    if let Ok(bt) = &big
        && let Some(e) = bt.containing(address)
    {
        let (regions, _) = scan::regions(target, layout);
        let paged = scan::big_is_paged(e, &regions);
        let pool_type = e.pool_type.unwrap_or(if paged {
            PoolType::PAGED
        } else {
            PoolType::NON_PAGED
        });
        let row = BlockRow {
            address: e.va,
            size: e.bytes,
            previous_size: 0,
            state: BlockState::Allocated,
            tag: e.tag.masked().to_string(),
            pool_type: Some(pool_type.name()),
            contains_address: true,
            error: None,
            kind: None,
        };
        text.push(row.big_text(layout));
        out.emit(&row);
        if describe {
            text.push(format!(
                "\t\t{}",
                owner(target, e.tag).pool_text(e.tag.masked())
            ));
        }
        let mut f = Map::new();
        f.insert("region".into(), json!("big"));
        f.insert("address".into(), json!(hex(address)));
        f.insert("pool_type".into(), json!(pool_type.name()));
        out.set_summary(summary_with_text(f, text));
        return Ok(());
    }
    if let Err(e) = &big {
        out.warn(format!("big page table not read: {e}"));
    }
    if layout.is_segment_heap() {
        return crate::segheap::pool_address(target, layout, address, flags, out);
    }
    let page_va = address & !0xfff;
    let mut page = vec![0u8; layout.page_size()];
    target.read_virtual_exact(page_va, &mut page).map_err(|e| {
        CommandError::msg(format!(
            "{}: unable to get the pool page: {e}",
            addr(layout, address)
        ))
    })?;
    let walk = layout
        .walk_page(&page, page_va)
        .map_err(|e| CommandError::msg(e.to_string()))?;
    let containing = walk.containing(address).map(|b| b.address);
    let (regions, _) = scan::regions(target, layout);
    let region_paged = regions
        .iter()
        .find(|r| page_va >= r.start && page_va < r.end)
        .map(|r| r.paged);
    let region_type = walk
        .blocks
        .iter()
        .find_map(|b| b.pool_type)
        .or(region_paged.map(|p| {
            if p {
                PoolType::PAGED
            } else {
                PoolType::NON_PAGED
            }
        }));
    text.push(format!(
        "Pool page {} region is {}",
        addr(layout, address),
        region_type.map_or("Unknown", |t| t.region())
    ));
    let mut previous: Option<&WalkedBlock> = None;
    for b in &walk.blocks {
        // The previous header led here when its size ends exactly at this one.
        let reached_from = previous
            .filter(|p| p.error.is_none() && p.address + p.size as u64 == b.address)
            .map(|p| p.address);
        previous = Some(b);
        let marked = Some(b.address) == containing;
        let row = BlockRow::walked(b, marked);
        out.emit(&row);
        if flags & FLAG_ONLY_CONTAINING != 0 && !marked {
            if let Some(e) = &b.error {
                text.push(error_line(layout, b.address, e, reached_from));
            }
            continue;
        }
        text.push(row.text(layout));
        if let Some(e) = &b.error {
            text.push(error_line(layout, b.address, e, reached_from));
        }
        if marked && describe && b.state == BlockState::Allocated {
            text.push(format!(
                "\t\t{}",
                owner(target, b.tag).pool_text(b.tag.masked())
            ));
        }
        if flags & FLAG_CONTENTS != 0 {
            let start = (b.address - page_va) as usize + layout.header_size();
            let end = ((b.address - page_va) as usize + b.size)
                .min(page.len())
                .min(start + 0x40);
            let mut off = start;
            while off < end {
                let n = (end - off).min(16);
                let bytes: Vec<String> = page[off..off + n]
                    .iter()
                    .map(|x| format!("{x:02x}"))
                    .collect();
                text.push(format!(
                    "    {}  {}",
                    addr(layout, page_va + off as u64),
                    bytes.join(" ")
                ));
                off += n;
            }
        }
    }
    if let Some((a, e)) = walk.first_error {
        out.warn(format!(
            "pool page {page_va:#x} is corrupt: the header at {a:#x} is bad ({e}); the walk went on after it \
             (run !pool on its neighbours, or !poolval in WinDbg, to see more)"
        ));
    }
    if containing.is_none() {
        out.warn(format!(
            "{address:#x} is not inside any block of the pool page"
        ));
    }
    let mut f = Map::new();
    f.insert("region".into(), json!("page"));
    f.insert("address".into(), json!(hex(address)));
    f.insert("page".into(), json!(hex(page_va)));
    f.insert(
        "pool_type".into(),
        json!(region_type.map(|t| t.name().to_string())),
    );
    f.insert("blocks".into(), json!(walk.blocks.len()));
    f.insert(
        "first_error".into(),
        json!(
            walk.first_error
                .map(|(a, e)| json!({"address": hex(a), "error": e.to_string()}))
        ),
    );
    out.set_summary(summary_with_text(f, text));
    Ok(())
}

/// Runs of the paged-pool bitmap: (first page index, pages, busy).
type Runs = Vec<(u64, u64, bool)>;

/// The paged-pool allocation bitmap's size in bits and its runs.
fn bitmap_runs(target: &dyn Target, layout: &Layout) -> Result<(u64, Runs), CommandError> {
    let ppi = layout.paged_pool_info().map_err(|e| e.to_string())?;
    let map = ppi
        .allocation_map
        .ok_or("this version's _MM_PAGED_POOL_INFO has no allocation bitmap")?;
    let (info_va, _) = crate::common::symbol(target, "MmPagedPoolInfo")
        .ok_or("nt!MmPagedPoolInfo is not known for this kernel")?;
    let mut info = vec![0u8; ppi.size];
    target
        .read_virtual_exact(info_va, &mut info)
        .map_err(|e| format!("nt!MmPagedPoolInfo: {e}"))?;
    let decoded = layout
        .decode_paged_pool_info(&info)
        .map_err(|e| e.to_string())?;
    let ps = layout.pointer_size() as u32;
    let read_rtl_bitmap = |at: u64, ex: bool| -> Result<(u64, u64), CommandError> {
        let bits = if ex {
            target.read_u64(at)
        } else {
            target.read_u32(at).map(u64::from)
        }
        .map_err(|e| format!("_RTL_BITMAP at {at:#x}: {e}"))?;
        let buf = target
            .read_pointer(at + if ex { 8 } else { u64::from(ps) }, ps)
            .map_err(|e| format!("_RTL_BITMAP at {at:#x}: {e}"))?;
        Ok((bits, buf))
    };
    let (bits, buffer) = match map {
        AllocationMap::Pointer(_) => {
            let hdr = decoded
                .allocation_map_pointer
                .ok_or("PagedPoolAllocationMap pointer missing")?;
            read_rtl_bitmap(hdr, false)?
        }
        _ => (
            decoded
                .allocation_map_bits
                .ok_or("allocation bitmap size missing")?,
            decoded
                .allocation_map_buffer
                .ok_or("allocation bitmap buffer missing")?,
        ),
    };
    if bits == 0 || bits > (1 << 28) {
        return Err(CommandError::Failed(format!(
            "the paged pool bitmap claims {bits} bits: not trusted"
        )));
    }
    let (map_bytes, missing) =
        crate::common::read_lenient(target, buffer, bits.div_ceil(8) as usize);
    if missing > 0 {
        return Err(CommandError::Failed(format!(
            "the paged pool bitmap at {buffer:#x}: {missing} page(s) unreadable"
        )));
    }
    // XP/2003: EndOfPagedPoolBitmap marks each allocation's last page, which splits busy runs.
    let end_bits = match decoded.end_of_bitmap_pointer {
        Some(p) if p != 0 => {
            let (eb, ebuf) = read_rtl_bitmap(p, false)?;
            let (b, missing) =
                crate::common::read_lenient(target, ebuf, eb.min(bits).div_ceil(8) as usize);
            (missing == 0).then_some(b)
        }
        _ => None,
    };
    let bit = |v: &[u8], i: u64| {
        v.get((i / 8) as usize)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    };
    let mut runs: Vec<(u64, u64, bool)> = Vec::new();
    let mut i = 0u64;
    while i < bits {
        let busy = bit(&map_bytes, i);
        let start = i;
        i += 1;
        if busy && end_bits.as_ref().is_some_and(|e| bit(e, start)) {
            runs.push((start, 1, true));
            continue;
        }
        while i < bits && bit(&map_bytes, i) == busy {
            let last = busy && end_bits.as_ref().is_some_and(|e| bit(e, i));
            i += 1;
            if last {
                break;
            }
        }
        runs.push((start, i - start, busy));
    }
    Ok((bits, runs))
}

fn pool_regions(
    target: &dyn Target,
    layout: &Layout,
    out: &mut Output,
) -> Result<(), CommandError> {
    let (regions, warnings) = scan::regions(target, layout);
    for w in warnings {
        out.warn(w);
    }
    let mut text = Vec::new();
    for r in &regions {
        text.push(format!(
            "{} Pool: {} .. {}",
            r.name(),
            addr(layout, r.start),
            addr(layout, r.end - 1)
        ));
    }
    // The bitmap counts pages from the paged pool's start: the global, else the region's start
    // (Windows 7 x64 keeps no MmPagedPoolStart; poollayout::regions).
    let paged_start = match read_global(target, layout, "MmPagedPoolStart") {
        Ok(Some((s, _))) => Some(s),
        _ => regions.iter().find(|r| r.paged).map(|r| r.start),
    };
    let mut busy_pages = 0u64;
    let mut bitmap = None;
    match (paged_start, bitmap_runs(target, layout)) {
        (Some(start), Ok((bits, runs))) => {
            if !regions.iter().any(|r| r.paged) {
                text.push(format!(
                    "Paged Pool: {} .. {}",
                    addr(layout, start),
                    addr(layout, start + bits * 0x1000 - 1)
                ));
            }
            for (first, pages, busy) in runs {
                let a = start + first * 0x1000;
                if busy {
                    busy_pages += pages;
                }
                let row = RunRow {
                    address: a,
                    size: pages * 0x1000,
                    state: if busy { "busy" } else { "free" },
                    region: "paged",
                };
                text.push(row.text(layout));
                out.emit(&row);
            }
            bitmap = Some(bits);
        }
        (None, _) => out.warn("nt!MmPagedPoolStart is not known: no paged pool bitmap listing"),
        (_, Err(e)) => out.warn(format!("no paged pool bitmap listing: {e}")),
    }
    if regions.is_empty() && bitmap.is_none() {
        return Err(CommandError::msg(
            "no pool region is known for this kernel (no MmNonPagedPoolStart/MmPagedPoolStart, no paged pool bitmap)",
        ));
    }
    let mut f = Map::new();
    f.insert(
        "regions".into(),
        json!(regions
            .iter()
            .map(|r| json!({"pool": if r.paged {"paged"} else {"nonpaged"}, "start": hex(r.start), "end": hex(r.end - 1), "source": r.source}))
            .collect::<Vec<_>>()),
    );
    f.insert("bitmap_pages".into(), json!(bitmap));
    f.insert("busy_pages".into(), json!(bitmap.map(|_| busy_pages)));
    out.set_summary(summary_with_text(f, text));
    Ok(())
}
