//! `!poolused [flags [tag]]`: pool use per tag, from the tracker tables or, failing them, a scan.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use plugin_sdk::{CommandError, ImageSearchError, Output, Row, Source, Target, hex};
use poollayout::{BlockState, Layout, Tag, TrackerEntry};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::common::{
    MAX_TABLE_ENTRIES, Owner, TagPattern, layout_of, no_more_args, number_or, owner, read_global,
    read_lenient, summary_with_text, symbol, symbols_line, tag_arg,
};
use crate::scan;

plugin_sdk::row! {
    /// One tag's row of `!poolused` (docs/CONTRACT.md "Fields"): the summed tracker counters and
    /// who owns the tag. Its WinDbg line is [`TagRow::text`].
    #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
    pub struct TagRow {
        /// The tag (protected bit masked).
        pub tag: String,
        /// `NonPagedAllocs`.
        pub nonpaged_allocs: u64,
        /// `NonPagedFrees`.
        pub nonpaged_frees: u64,
        /// `NonPagedBytes`.
        pub nonpaged_bytes: u64,
        /// `PagedAllocs`.
        pub paged_allocs: u64,
        /// `PagedFrees`.
        pub paged_frees: u64,
        /// `PagedBytes`.
        pub paged_bytes: u64,
        /// The owning binary, as the tag database says.
        pub binary: Option<String>,
        /// The tag's description.
        pub description: Option<String>,
        /// The tag database that answered.
        pub tag_source: Option<String>,
        /// Flag 0x100 only (left out without it): the loaded driver images holding the tag's
        /// bytes, for a tag the database does not know; `null` when not searched.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub image_candidates: Option<Option<Vec<ImageCandidate>>>,
    }
}

/// A driver image holding an unknown tag's bytes (flag 0x100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageCandidate {
    /// The image's module name.
    pub module: String,
    /// How many times the tag's bytes occur in it.
    pub hits: u64,
}

impl TagRow {
    /// The row of tracker counters `e` and owner `o`.
    pub fn new(e: &TrackerEntry, o: Owner) -> TagRow {
        TagRow {
            tag: e.tag.masked().to_string(),
            nonpaged_allocs: e.nonpaged_allocs,
            nonpaged_frees: e.nonpaged_frees,
            nonpaged_bytes: e.nonpaged_bytes,
            paged_allocs: e.paged_allocs,
            paged_frees: e.paged_frees,
            paged_bytes: e.paged_bytes,
            binary: o.binary,
            description: o.description,
            tag_source: o.source,
            image_candidates: None,
        }
    }

    /// The row's counters as a tracker entry (for the text's count columns).
    pub fn counters(&self) -> TrackerEntry {
        TrackerEntry {
            tag: Tag::default(),
            nonpaged_allocs: self.nonpaged_allocs,
            nonpaged_frees: self.nonpaged_frees,
            nonpaged_bytes: self.nonpaged_bytes,
            paged_allocs: self.paged_allocs,
            paged_frees: self.paged_frees,
            paged_bytes: self.paged_bytes,
        }
    }

    /// WinDbg's line for the row: the tag, the counts, a TAB, then the owner text. WinDbg
    /// separates the last count from the description with a TAB (so `cut -f2` takes the
    /// descriptions); the seed's sample lost it in copy.
    pub fn text(&self, verbose: bool) -> String {
        let owner = Owner {
            binary: self.binary.clone(),
            description: self.description.clone(),
            source: self.tag_source.clone(),
        };
        format!(
            "{} {}\t{}",
            self.tag,
            count_columns(&self.counters(), verbose),
            owner.poolused_text(&self.tag)
        )
    }

    /// The line under the row listing the driver images that hold the tag (flag 0x100, a tag
    /// that was searched): `     driver images holding 'Xpnd': xpnd.sys (3 hits)`.
    pub fn candidates_text(&self) -> Option<String> {
        match &self.image_candidates {
            Some(Some(list)) => Some(candidates_text(&self.tag, list)),
            _ => None,
        }
    }
}

/// The columns of `!poolused`'s rows, in order: [`TagRow`]'s and the per-driver view's
/// [`crate::bydriver::DriverRow`]'s, merged ([`plugin_sdk::merge_columns`]); only the columns
/// present in a result are written.
pub fn columns() -> &'static [&'static str] {
    static COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        plugin_sdk::merge_columns(&[crate::bydriver::DriverRow::COLUMNS, TagRow::COLUMNS])
    });
    &COLUMNS
}

/// The usage line.
pub const USAGE: &str = "!poolused [FLAGS [TAG]]  (flags: 1 verbose, 2 sort by nonpaged, 4 sort by paged, 8 session pool, 100 driver images holding unknown tags, 200 by driver)";

/// pooldbg's own flag: for every tag pooltag.txt does not know, list the loaded driver images that
/// hold its bytes. WinDbg documents bits 0-3 (1, 2, 4, 8); 0x10-0x80 are left free in case its
/// undocumented bits live there, so ours is bit 8.
pub const FLAG_IMAGES: u64 = 0x100;

/// pooldbg's own flag: the per-driver view (tags folded into their owning drivers, with
/// [`FLAG_IMAGES`]'s search for unknown tags; `crate::bydriver`).
pub const FLAG_DRIVERS: u64 = 0x200;

/// The most candidates listed on one text line (JSON lists them all).
const MAX_TEXT_CANDIDATES: usize = 8;

/// How rows are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By tag (flags 0).
    Tag,
    /// By nonpaged bytes, largest first (flag 2).
    NonPaged,
    /// By paged bytes, largest first (flag 4).
    Paged,
}

/// Parsed arguments of `!poolused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// Flag 1.
    pub verbose: bool,
    /// Flags 2 / 4.
    pub sort: Sort,
    /// Flag 8.
    pub session: bool,
    /// The tag filter.
    pub tag: Option<TagPattern>,
    /// Flag 0x100 ([`FLAG_IMAGES`]): driver-image candidates for unknown tags.
    pub images: bool,
    /// Flag 0x200 ([`FLAG_DRIVERS`]): rows per driver.
    pub drivers: bool,
}

impl Args {
    /// Parses `flags [tag]`.
    pub fn parse(args: &str) -> Result<Args, CommandError> {
        let mut it = args.split_whitespace();
        let flags = number_or(it.next(), 0, USAGE)?;
        let tag = it.next().map(|t| tag_arg(t, USAGE)).transpose()?;
        no_more_args(&mut it, USAGE)?;
        if flags & 6 == 6 {
            return Err(CommandError::Usage(format!(
                "flags 2 and 4 exclude each other; {USAGE}"
            )));
        }
        Ok(Args {
            verbose: flags & 1 != 0,
            sort: if flags & 2 != 0 {
                Sort::NonPaged
            } else if flags & 4 != 0 {
                Sort::Paged
            } else {
                Sort::Tag
            },
            session: flags & 8 != 0,
            tag,
            images: flags & (FLAG_IMAGES | FLAG_DRIVERS) != 0,
            drivers: flags & FLAG_DRIVERS != 0,
        })
    }
}

/// One tracker table read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    /// What it is (`PoolTrackTable`, `ExPoolTagTables[3]`, `PoolTrackTableExpansion`, …).
    pub name: String,
    /// Address.
    pub address: u64,
    /// Entries.
    pub entries: u64,
    /// Pages of it that could not be read.
    pub unreadable_pages: usize,
}

/// Counters per raw tag, and the tables they came from.
#[derive(Debug, Default)]
pub struct Usage {
    /// Summed counters by raw tag.
    pub by_tag: BTreeMap<u32, TrackerEntry>,
    /// Tables read.
    pub tables: Vec<TableRead>,
    /// `"tracker tables"` or `"scan"`.
    pub source: &'static str,
    /// Symbols used and their sources.
    pub sources: Vec<(String, Source)>,
    /// By scan: the pools whose range is not established and how their pages were classified
    /// instead ([`scan::search_regions`]; JSON `summary.classified`, as `!poolfind`'s).
    pub classified: Vec<scan::HeaderSearch>,
}

fn add(into: &mut TrackerEntry, e: &TrackerEntry) {
    into.tag = e.tag;
    into.nonpaged_allocs = into.nonpaged_allocs.wrapping_add(e.nonpaged_allocs);
    into.nonpaged_frees = into.nonpaged_frees.wrapping_add(e.nonpaged_frees);
    into.nonpaged_bytes = into.nonpaged_bytes.wrapping_add(e.nonpaged_bytes);
    into.paged_allocs = into.paged_allocs.wrapping_add(e.paged_allocs);
    into.paged_frees = into.paged_frees.wrapping_add(e.paged_frees);
    into.paged_bytes = into.paged_bytes.wrapping_add(e.paged_bytes);
}

/// The entry count of a tracker table: its size symbol, or (Volatility 2 `pooltracker.py`) the
/// pointer-sized word right before the table's pointer variable.
fn table_size(
    target: &dyn Target,
    layout: &Layout,
    table_sym: &str,
    size_sym: &str,
    sources: &mut Vec<(String, Source)>,
) -> Result<u64, CommandError> {
    if let Some((n, src)) = read_global(target, layout, size_sym)? {
        sources.push((size_sym.to_string(), src));
        return Ok(n);
    }
    let (var, _) = symbol(target, table_sym).ok_or(format!("nt!{table_sym} is not known"))?;
    let before = var.wrapping_sub(layout.pointer_size() as u64);
    let n = plugin_sdk::TargetExt::read_pointer(target, before, layout.pointer_size() as u32)
        .map_err(|e| format!("the size word before nt!{table_sym}: {e}"))?;
    sources.push((
        format!("{size_sym} (word before {table_sym})"),
        Source::Guessed,
    ));
    Ok(n)
}

fn read_table(
    target: &dyn Target,
    layout: &Layout,
    name: String,
    address: u64,
    entries: u64,
    usage: &mut Usage,
) -> Result<(), CommandError> {
    if entries == 0 || entries > MAX_TABLE_ENTRIES {
        return Err(CommandError::Failed(format!(
            "{name} at {address:#x} claims {entries} entries (expected 1..={MAX_TABLE_ENTRIES})"
        )));
    }
    let size = layout.tracker().map_err(|e| e.to_string())?.size;
    let (bytes, unreadable_pages) = read_lenient(target, address, entries as usize * size);
    let pages = (entries as usize * size).div_ceil(0x1000);
    if unreadable_pages == pages {
        return Err(CommandError::Failed(format!(
            "{name} at {address:#x}: none of its {pages} page(s) is readable"
        )));
    }
    for e in layout.tracker_entries(&bytes) {
        let e = e.map_err(|e| format!("{name} at {address:#x}: {e}"))?;
        add(usage.by_tag.entry(e.tag.0).or_default(), &e);
    }
    usage.tables.push(TableRead {
        name,
        address,
        entries,
        unreadable_pages,
    });
    Ok(())
}

/// Reads and sums every tracker table of the standard pool (global, per-processor, expansion), or
/// the session tracker with `session`. `Err` names why no table could be read.
pub fn from_trackers(
    target: &dyn Target,
    layout: &Layout,
    session: bool,
    warnings: &mut Vec<String>,
) -> Result<Usage, CommandError> {
    layout.tracker().map_err(|e| e.to_string())?;
    let mut usage = Usage {
        source: "tracker tables",
        ..Usage::default()
    };
    if session {
        let sym = layout
            .family()
            .tracker_tables
            .session
            .unwrap_or("ExpSessionPoolTrackTable");
        let (table, src) = read_global(target, layout, sym)?
            .ok_or(format!("nt!{sym} is not known: no session pool tracker"))?;
        usage.sources.push((sym.to_string(), src));
        let n = table_size(
            target,
            layout,
            sym,
            "ExpSessionPoolTrackTableSize",
            &mut usage.sources,
        )?;
        read_table(target, layout, sym.to_string(), table, n, &mut usage)?;
        return Ok(usage);
    }
    let (global, src) = read_global(target, layout, "PoolTrackTable")?
        .ok_or("nt!PoolTrackTable is not known for this kernel")?;
    usage.sources.push(("PoolTrackTable".into(), src));
    let n = table_size(
        target,
        layout,
        "PoolTrackTable",
        "PoolTrackTableSize",
        &mut usage.sources,
    )?;
    let mut tables: Vec<(String, u64)> = Vec::new();
    let per_cpu_sym = layout
        .family()
        .tracker_tables
        .per_processor
        .unwrap_or("ExPoolTagTables");
    if let Some((array, src)) = symbol(target, per_cpu_sym) {
        usage.sources.push((per_cpu_sym.into(), src));
        // [0] is the global table, then one per processor (docs/POOL_INTERNALS.md §4.2); the kernel
        // sizes the array for up to 0x800 entries, we read what the processor count needs.
        let cpus = u64::from(target.info().processors);
        let count = if cpus == 0 { 64 } else { (cpus + 1).min(0x800) };
        let ps = layout.pointer_size();
        let (bytes, missing) = read_lenient(target, array, count as usize * ps);
        if missing > 0 {
            warnings.push(format!(
                "nt!{per_cpu_sym} at {array:#x}: {missing} page(s) unreadable; tables listed there are missed"
            ));
        }
        for (i, c) in bytes.chunks(ps).enumerate() {
            let v = if ps == 4 {
                u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            } else {
                u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
            };
            if v != 0 && !tables.iter().any(|(_, a)| *a == v) {
                let name = if v == global {
                    "PoolTrackTable".to_string()
                } else {
                    format!("{per_cpu_sym}[{i}]")
                };
                tables.push((name, v));
            }
        }
    }
    if !tables.iter().any(|(_, a)| *a == global) {
        tables.insert(0, ("PoolTrackTable".into(), global));
    }
    let mut first_err = None;
    for (name, address) in tables {
        if let Err(e) = read_table(target, layout, name, address, n, &mut usage) {
            warnings.push(format!("tracker table skipped: {e}"));
            first_err.get_or_insert(e);
        }
    }
    if let (Ok(Some((exp, _))), Ok(Some((exp_n, _)))) = (
        read_global(target, layout, "PoolTrackTableExpansion"),
        read_global(target, layout, "PoolTrackTableExpansionSize"),
    ) && exp != 0
        && exp_n != 0
        && let Err(e) = read_table(
            target,
            layout,
            "PoolTrackTableExpansion".into(),
            exp,
            exp_n,
            &mut usage,
        )
    {
        warnings.push(format!("tracker table skipped: {e}"));
    }
    if usage.tables.is_empty() {
        return Err(first_err.unwrap_or_else(|| "no tracker table found".into()));
    }
    Ok(usage)
}

/// Rebuilds the counters by scanning the pool pages and the big page table: allocations are the
/// allocated blocks found (frees 0), bytes their sizes.
pub fn from_scan(
    target: &dyn Target,
    layout: &Layout,
    warnings: &mut Vec<String>,
) -> Result<Usage, CommandError> {
    let mut usage = Usage {
        source: "scan",
        ..Usage::default()
    };
    // The established ranges, and the kernel's system VA searched by headers for a pool whose
    // range is not established (issue #18; the notes say which).
    let (regions, w, classified) = scan::search_regions(target, layout);
    warnings.extend(w);
    usage.classified = classified;
    let big = match scan::big_table(target, layout) {
        Ok(b) => Some(b),
        Err(e) => {
            warnings.push(format!("big page table not read: {e}"));
            None
        }
    };
    let skip: Vec<(u64, u64)> = big
        .as_ref()
        .map(|b| b.live.iter().map(|e| (e.va, e.bytes)).collect())
        .unwrap_or_default();
    let s = scan::scan_pages(target, layout, &regions, &skip, &|b| {
        b.state == BlockState::Allocated && b.error.is_none()
    })?;
    if s.pool_pages == 0 && big.as_ref().is_none_or(|b| b.live.is_empty()) {
        return Err(CommandError::msg(
            "this dump holds no readable pool: no tracker table, no pool page and no big allocation could be read",
        ));
    }
    if let Some(line) = s.classification() {
        warnings.push(line);
    }
    if s.unreadable_pages > 0 {
        warnings.push(format!(
            "{} pool page(s) could not be read (not in the dump or paged out): their allocations are missing",
            s.unreadable_pages
        ));
    }
    for b in &s.blocks {
        let e = usage.by_tag.entry(b.block.tag.0).or_default();
        e.tag = b.block.tag;
        let size = b.block.size as u64;
        if b.paged {
            e.paged_allocs += 1;
            e.paged_bytes += size;
        } else {
            e.nonpaged_allocs += 1;
            e.nonpaged_bytes += size;
        }
    }
    if let Some(big) = &big {
        for be in &big.live {
            let e = usage.by_tag.entry(be.tag.0).or_default();
            e.tag = be.tag;
            if scan::big_is_paged(be, &regions) {
                e.paged_allocs += 1;
                e.paged_bytes += be.bytes;
            } else {
                e.nonpaged_allocs += 1;
                e.nonpaged_bytes += be.bytes;
            }
        }
    }
    Ok(usage)
}

/// Runs `!poolused` on `target` with kd's argument string.
pub fn run(target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
    let args = Args::parse(args)?;
    let layout = layout_of(target)?;
    let mut warnings = Vec::new();
    let usage = match from_trackers(target, &layout, args.session, &mut warnings) {
        Ok(u) => u,
        Err(why) if args.session => {
            return Err(CommandError::msg(format!(
                "session pool usage is not available: {why}"
            )));
        }
        Err(why) => {
            warnings.push(format!(
                "no tracker table could be read ({why}): figures rebuilt by scanning the pool; \
                 frees are unknown and counted as 0"
            ));
            from_scan(target, &layout, &mut warnings)?
        }
    };
    for t in &usage.tables {
        if t.unreadable_pages > 0 {
            warnings.push(format!(
                "{} at {:#x}: {} page(s) not readable; the tags there are missing",
                t.name, t.address, t.unreadable_pages
            ));
        }
    }
    render(target, &layout, &args, &usage, warnings, out)
}

/// Flag 0x100's search, tag by tag: stops asking once the target says it cannot search at all.
#[derive(Debug, Default)]
struct ImageSearch {
    /// Why no search can run (set once; the warning says it).
    unavailable: Option<ImageSearchError>,
    /// Tags searched.
    searched: usize,
}

impl ImageSearch {
    /// The candidates for an unknown `tag`: the row's `image_candidates` (`None`: not
    /// searched) and, when the search could not look at this tag, the note saying so under the
    /// row; `Err` when the user cancelled.
    fn candidates(
        &mut self,
        target: &dyn Target,
        tag: Tag,
    ) -> Result<(Option<Vec<ImageCandidate>>, Option<String>), CommandError> {
        if self.unavailable.is_some() {
            return Ok((None, None));
        }
        match target.find_tag_in_images(tag.bytes()) {
            Ok(hits) => {
                self.searched += 1;
                let list: Vec<ImageCandidate> = hits
                    .into_iter()
                    .map(|h| ImageCandidate {
                        module: h.module,
                        hits: h.hits,
                    })
                    .collect();
                Ok((Some(list), None))
            }
            Err(ImageSearchError::Cancelled) => Err(CommandError::Cancelled),
            Err(ImageSearchError::Unsearchable) => Ok((
                None,
                Some(format!(
                    "     driver images not searched for '{tag}': {}",
                    ImageSearchError::Unsearchable
                )),
            )),
            Err(e) => {
                self.unavailable = Some(e);
                Ok((None, None))
            }
        }
    }
}

/// The text line under an unknown tag's row listing its candidates (flag 0x100): at most
/// [`MAX_TEXT_CANDIDATES`] named, the rest counted.
fn candidates_text(tag: &str, list: &[ImageCandidate]) -> String {
    if list.is_empty() {
        return format!("     no loaded driver image holds '{tag}'");
    }
    let mut names: Vec<String> = list
        .iter()
        .take(MAX_TEXT_CANDIDATES)
        .map(|h| {
            let s = if h.hits == 1 { "" } else { "s" };
            format!("{} ({} hit{s})", h.module, h.hits)
        })
        .collect();
    if list.len() > MAX_TEXT_CANDIDATES {
        names.push(format!("{} more", list.len() - MAX_TEXT_CANDIDATES));
    }
    format!("     driver images holding '{tag}': {}", names.join(", "))
}

fn render(
    target: &dyn Target,
    layout: &Layout,
    args: &Args,
    usage: &Usage,
    mut warnings: Vec<String>,
    out: &mut Output,
) -> Result<(), CommandError> {
    let mut entries: Vec<&TrackerEntry> = usage
        .by_tag
        .values()
        .filter(|e| args.tag.as_ref().is_none_or(|p| p.matches(e.tag)))
        .collect();
    let key = |e: &TrackerEntry| e.tag.masked().bytes();
    match args.sort {
        Sort::Tag => entries.sort_by_key(|e| key(e)),
        Sort::NonPaged => entries.sort_by(|a, b| {
            b.nonpaged_bytes
                .cmp(&a.nonpaged_bytes)
                .then(key(a).cmp(&key(b)))
        }),
        Sort::Paged => {
            entries.sort_by(|a, b| b.paged_bytes.cmp(&a.paged_bytes).then(key(a).cmp(&key(b))))
        }
    }
    let mut text = Vec::new();
    if let Some(l) = symbols_line(&usage.sources) {
        text.push(l);
    }
    if usage.source == "scan" {
        text.push(
            "*** No pool tracker table is readable: figures rebuilt by scanning the pool (frees unknown) ***"
                .to_string(),
        );
    }
    text.push(format!(
        "   Sorting by  {}",
        match args.sort {
            Sort::Tag => "Tag",
            Sort::NonPaged => "NonPaged Pool Consumed",
            Sort::Paged => "Paged Pool Consumed",
        }
    ));
    text.push(String::new());
    text.push(if args.session {
        "  Session Pool Used:".into()
    } else {
        "  Pool Used:".into()
    });
    let table_head = text.len();
    if args.verbose {
        text.push("                 NonPaged                              Paged".into());
        text.push(format!(
            "Tag  {:>8} {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8}",
            "Allocs", "Frees", "Diff", "Used", "Allocs", "Frees", "Diff", "Used"
        ));
    } else {
        text.push("            NonPaged            Paged".into());
        text.push("Tag    Allocs     Used    Allocs     Used".into());
    }
    let mut total = TrackerEntry::default();
    let mut search = ImageSearch::default();
    let mut tag_rows = Vec::new();
    for e in &entries {
        add(&mut total, e);
        let o = owner(target, e.tag);
        let tag = e.tag.masked();
        let unknown = o.binary.is_none() && o.description.is_none();
        let mut row = TagRow::new(e, o);
        let mut search_note = None;
        if args.images {
            let (list, line) = if unknown {
                search.candidates(target, tag)?
            } else {
                (None, None)
            };
            row.image_candidates = Some(list);
            search_note = line;
        }
        text.push(row.text(args.verbose));
        text.extend(row.candidates_text().or(search_note));
        if args.drivers {
            tag_rows.push(row);
        } else {
            out.emit(&row);
        }
    }
    // WinDbg's TOTAL label is as wide as `Tag ` in the verbose layout, four wider in the short one.
    let label = if args.verbose { "TOTAL" } else { "TOTAL    " };
    text.push(format!("{label}{}", count_columns(&total, args.verbose)));
    let mut fields = Map::new();
    fields.insert("source".into(), json!(usage.source));
    if !usage.classified.is_empty() {
        fields.insert(
            "classified".into(),
            json!(
                usage
                    .classified
                    .iter()
                    .map(|h| json!({
                        "pool": if h.paged { "paged" } else { "nonpaged" },
                        "by": h.by,
                        "start": format!("{:#x}", h.start),
                        "end": format!("{:#x}", h.end),
                        "note": h.note,
                    }))
                    .collect::<Vec<_>>()
            ),
        );
    }
    fields.insert(
        "sort".into(),
        json!(match args.sort {
            Sort::Tag => "tag",
            Sort::NonPaged => "nonpaged",
            Sort::Paged => "paged",
        }),
    );
    fields.insert("session".into(), json!(args.session));
    fields.insert(
        "tables".into(),
        Value::Array(
            usage
                .tables
                .iter()
                .map(|t| json!({"name": t.name, "address": hex(t.address), "entries": t.entries}))
                .collect(),
        ),
    );
    fields.insert("tags".into(), json!(entries.len()));
    fields.insert(
        "total".into(),
        json!({
            "nonpaged_allocs": total.nonpaged_allocs,
            "nonpaged_frees": total.nonpaged_frees,
            "nonpaged_bytes": total.nonpaged_bytes,
            "paged_allocs": total.paged_allocs,
            "paged_frees": total.paged_frees,
            "paged_bytes": total.paged_bytes,
        }),
    );
    if args.images {
        fields.insert(
            "image_search".into(),
            json!({
                "tags_searched": search.searched,
                "error": search.unavailable.map(|e| e.to_string()),
            }),
        );
        if let Some(e) = search.unavailable {
            warnings.push(format!(
                "flag {FLAG_IMAGES:#x}: driver images not searched for unknown tags: {e}"
            ));
        }
    }
    if args.drivers {
        text.truncate(table_head);
        if let Some(l) = text.last_mut() {
            l.push_str(" by driver");
            *l = l.replace(": by driver", " by driver:");
        }
        crate::bydriver::emit(
            tag_rows,
            args.sort,
            args.verbose,
            &mut text,
            &mut fields,
            out,
        )?;
    }
    let _ = layout;
    for w in warnings {
        out.warn(w);
    }
    out.set_summary(summary_with_text(fields, text));
    Ok(())
}

/// The tag a tracker key displays as (protected bit masked).
pub fn display_tag(raw: u32) -> String {
    Tag(raw).masked().to_string()
}

/// The number columns of a `!poolused` line: outstanding allocations and bytes per pool, with
/// the allocation and free counts before them when verbose (flag 1).
pub(crate) fn count_columns(e: &TrackerEntry, verbose: bool) -> String {
    if verbose {
        format!(
            "{:>8} {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8}",
            e.nonpaged_allocs,
            e.nonpaged_frees,
            e.nonpaged_outstanding() as i64,
            e.nonpaged_bytes,
            e.paged_allocs,
            e.paged_frees,
            e.paged_outstanding() as i64,
            e.paged_bytes,
        )
    } else {
        format!(
            "{:>8} {:>8}  {:>8} {:>8}",
            e.nonpaged_outstanding() as i64,
            e.nonpaged_bytes,
            e.paged_outstanding() as i64,
            e.paged_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, TargetInfo};

    const PTT_VAR: u64 = 0xfffff800_02000000;
    const TABLES: u64 = 0xfffffa80_00100000;

    /// A Windows 8.1 x64 target (0x28-byte tracker entries) with a global table, two
    /// per-processor tables (one listed twice, which must count once) and an expansion table.
    fn target() -> MemoryTarget {
        let info = TargetInfo {
            arch: Arch::X64,
            build: 9600,
            pointer_size: 8,
            processors: 2,
            dump_type: "full".into(),
            ..Default::default()
        };
        let entry = |tag: &[u8; 4], np_allocs: u32, np_frees: u32, np_bytes: u64| {
            let mut e = vec![0u8; 0x28];
            e[..4].copy_from_slice(tag);
            e[4..8].copy_from_slice(&np_allocs.to_le_bytes());
            e[8..12].copy_from_slice(&np_frees.to_le_bytes());
            e[0x10..0x18].copy_from_slice(&np_bytes.to_le_bytes());
            e
        };
        let g = TABLES;
        let p1 = TABLES + 0x1000;
        let exp = TABLES + 0x2000;
        let mut array = Vec::new();
        for a in [g, p1, p1] {
            array.extend_from_slice(&a.to_le_bytes());
        }
        MemoryTarget::new(info)
            .with_symbol("PoolTrackTable", PTT_VAR, Source::EmbeddedProfile)
            .with_virtual(PTT_VAR, &g.to_le_bytes())
            // No PoolTrackTableSize symbol: the word before PoolTrackTable gives it (guessed).
            .with_virtual(PTT_VAR - 8, &4u64.to_le_bytes())
            .with_symbol("ExPoolTagTables", PTT_VAR + 0x100, Source::EmbeddedProfile)
            .with_virtual(PTT_VAR + 0x100, &array)
            .with_symbol(
                "PoolTrackTableExpansion",
                PTT_VAR + 0x200,
                Source::EmbeddedProfile,
            )
            .with_virtual(PTT_VAR + 0x200, &exp.to_le_bytes())
            .with_symbol(
                "PoolTrackTableExpansionSize",
                PTT_VAR + 0x208,
                Source::EmbeddedProfile,
            )
            .with_virtual(PTT_VAR + 0x208, &1u64.to_le_bytes())
            .with_virtual(
                g,
                &[entry(b"Proc", 10, 4, 600), entry(b"Irp ", 3, 3, 0)].concat(),
            )
            .with_virtual(p1, &entry(b"Proc", 5, 1, 400))
            .with_virtual(exp, &entry(b"Xpnd", 1, 0, 64))
            .with_tag(*b"Proc", "nt!ps", "Process objects")
    }

    #[test]
    fn sums_global_per_processor_and_expansion_tables_once_each() {
        let t = target();
        let mut out = Output::new();
        run(&t, "", &mut out).unwrap();
        let rows = out.rows();
        let tags: Vec<&str> = rows.iter().map(|r| r["tag"].as_str().unwrap()).collect();
        assert_eq!(tags, ["Irp ", "Proc", "Xpnd"]);
        let proc_ = &rows[1];
        assert_eq!(proc_["nonpaged_allocs"], 15);
        assert_eq!(proc_["nonpaged_frees"], 5);
        assert_eq!(proc_["nonpaged_bytes"], 1000);
        assert_eq!(proc_["binary"], "nt!ps");
        assert_eq!(proc_["description"], "Process objects");
        assert_eq!(proc_["tag_source"], "memory target");
        let s = out.summary().unwrap();
        assert_eq!(s["tables"].as_array().unwrap().len(), 3);
        assert_eq!(s["total"]["nonpaged_bytes"], 1064);
        let text: Vec<&str> = s["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(
            text[0].starts_with("symbols: PoolTrackTableSize"),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"Proc       10     1000         0        0\tProcess objects , Binary: nt!ps"
            ),
            "{text:?}"
        );
        assert!(text.contains(&"Xpnd        1       64         0        0\tUNKNOWN pooltag 'Xpnd', please update pooltag.txt"));
        assert_eq!(
            *text.last().unwrap(),
            "TOTAL          11     1064         0        0"
        );
    }

    #[test]
    fn a_missing_per_processor_table_is_a_warning_not_a_failure() {
        let t = target().with_virtual_status(
            TABLES + 0x1000,
            plugin_sdk::ReadStatus::PagedOut {
                pagefile: 0,
                offset: 0x3000,
            },
        );
        let mut out = Output::new();
        run(&t, "", &mut out).unwrap();
        assert_eq!(out.rows()[1]["nonpaged_allocs"], 10);
        assert!(
            out.warnings()
                .iter()
                .any(|w| w.contains("ExPoolTagTables[1]")),
            "{:?}",
            out.warnings()
        );
    }

    #[test]
    fn a_huge_table_size_is_refused() {
        let t = target().with_virtual(PTT_VAR - 8, &u64::MAX.to_le_bytes());
        let mut out = Output::new();
        // The global and per-processor tables are refused (named in warnings); the expansion
        // table, which has its own size, is still read.
        run(&t, "", &mut out).unwrap();
        let tags: Vec<&str> = out
            .rows()
            .iter()
            .map(|r| r["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["Xpnd"]);
        assert!(
            out.warnings()
                .iter()
                .any(|w| w.contains("claims 18446744073709551615 entries")),
            "{:?}",
            out.warnings()
        );
    }

    #[test]
    fn arguments() {
        assert!(Args::parse("1 2 3").is_err());
        let a = Args::parse("9 Ab*").unwrap();
        assert!(a.verbose && a.session && a.sort == Sort::Tag && !a.images);
        assert!(a.tag.unwrap().matches(Tag::from_bytes(*b"AbCd")));
        let a = Args::parse("102").unwrap();
        assert!(a.images && a.sort == Sort::NonPaged && !a.verbose && !a.session);
    }

    fn text_of(out: &Output) -> Vec<String> {
        out.summary().unwrap()["text"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn flag_100_lists_driver_images_for_unknown_tags_only() {
        let t = target()
            .with_virtual(TABLES + 0x28, &{
                // Irp (the global table's second entry) is replaced by another unknown tag, one
                // no image holds.
                let mut e = vec![0u8; 0x28];
                e[..4].copy_from_slice(b"Nhit");
                e[4..8].copy_from_slice(&2u32.to_le_bytes());
                e
            })
            .with_tag_in_images(*b"Xpnd", &[("xpnd.sys", 3), ("other.sys", 1)])
            .with_tag_in_images(*b"Proc", &[("ntoskrnl.exe", 9)]);
        // Without the flag: no search, no field.
        let mut out = Output::new();
        run(&t, "", &mut out).unwrap();
        assert!(
            out.rows()
                .iter()
                .all(|r| r.get("image_candidates").is_none())
        );
        assert!(out.summary().unwrap().get("image_search").is_none());
        // With it (and a sort flag beside it).
        let mut out = Output::new();
        run(&t, "102", &mut out).unwrap();
        let row = |tag: &str| {
            out.rows()
                .iter()
                .find(|r| r["tag"] == tag)
                .unwrap_or_else(|| panic!("no {tag}: {:?}", out.rows()))
                .clone()
        };
        assert_eq!(
            row("Xpnd")["image_candidates"],
            json!([{"module": "xpnd.sys", "hits": 3}, {"module": "other.sys", "hits": 1}])
        );
        assert_eq!(row("Nhit")["image_candidates"], json!([]));
        // A known tag is not searched, even though an image holds it.
        assert_eq!(row("Proc")["image_candidates"], Value::Null);
        let text = text_of(&out);
        let at = text
            .iter()
            .position(|l| l.ends_with("UNKNOWN pooltag 'Xpnd', please update pooltag.txt"))
            .unwrap();
        assert_eq!(
            text[at + 1],
            "     driver images holding 'Xpnd': xpnd.sys (3 hits), other.sys (1 hit)"
        );
        assert!(text.contains(&"     no loaded driver image holds 'Nhit'".to_string()));
        assert!(!text.iter().any(|l| l.contains("ntoskrnl.exe")), "{text:?}");
        let s = out.summary().unwrap();
        assert_eq!(
            s["image_search"],
            json!({"tags_searched": 2, "error": null})
        );
        assert!(out.warnings().is_empty(), "{:?}", out.warnings());
    }

    #[test]
    fn flag_100_without_a_search_warns_once_and_cancels_cleanly() {
        let mut out = Output::new();
        run(&target(), "100", &mut out).unwrap();
        assert_eq!(out.rows()[2]["image_candidates"], Value::Null);
        let w: Vec<&String> = out
            .warnings()
            .iter()
            .filter(|w| w.contains("driver images not searched"))
            .collect();
        assert_eq!(w.len(), 1, "{:?}", out.warnings());
        assert!(w[0].contains("the host does not search driver images"));
        let s = out.summary().unwrap();
        assert_eq!(s["image_search"]["tags_searched"], 0);
        // Cancelled while searching: the command says cancelled.
        struct CancelsSearch(MemoryTarget);
        impl Target for CancelsSearch {
            fn read_virtual(&self, r: &mut [plugin_sdk::Read<'_>]) {
                self.0.read_virtual(r)
            }
            fn read_physical(&self, r: &mut [plugin_sdk::Read<'_>]) {
                self.0.read_physical(r)
            }
            fn symbol_address(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
                self.0.symbol_address(n)
            }
            fn type_size(&self, n: &str) -> Option<plugin_sdk::Sourced<u64>> {
                self.0.type_size(n)
            }
            fn field_offset(&self, t: &str, f: &str) -> Option<plugin_sdk::FieldOffset> {
                self.0.field_offset(t, f)
            }
            fn info(&self) -> TargetInfo {
                self.0.info()
            }
            fn pool_tag(&self, t: [u8; 4]) -> Option<plugin_sdk::TagInfo> {
                self.0.pool_tag(t)
            }
            fn log(&self, l: plugin_sdk::LogLevel, m: &str) {
                self.0.log(l, m)
            }
            fn is_cancelled(&self) -> bool {
                false
            }
            fn find_tag_in_images(
                &self,
                _: [u8; 4],
            ) -> Result<Vec<plugin_sdk::ImageHit>, ImageSearchError> {
                Err(ImageSearchError::Cancelled)
            }
        }
        let mut out = Output::new();
        let e = run(&CancelsSearch(target()), "100", &mut out).unwrap_err();
        assert_eq!(e, CommandError::Cancelled);
    }
}
