//! An in-memory [`Target`] for tests: pages, symbols, types, tags in maps.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::target::{
    BitRange, FieldOffset, ImageHit, ImageSearchError, LogLevel, PageCounts, PresentPages, Read,
    ReadStatus, Source, Sourced, TagInfo, Target, TargetInfo, tag_is_searchable,
};

const PAGE: u64 = 0x1000;

#[derive(Debug, Clone)]
enum Page {
    Data(Box<[u8]>),
    Unreadable(ReadStatus),
}

/// A [`Target`] held in memory, for testing commands without a dump or FFI.
///
/// Virtual and physical memory are separate maps of 4 KiB pages. A virtual page that was never
/// written is [`ReadStatus::NotMapped`]; a physical one is [`ReadStatus::NotInDump`]; any page can
/// be given another status (e.g. paged out) with [`MemoryTarget::with_virtual_status`].
///
/// ```
/// use pooldbg_plugin_sdk::{MemoryTarget, ReadStatus, Source, Target, TargetExt, TargetInfo};
///
/// let t = MemoryTarget::new(TargetInfo::default())
///     .with_virtual(0x1000, &[1, 2, 3, 4])
///     .with_virtual_status(0x2000, ReadStatus::PagedOut { pagefile: 0, offset: 0x5000 })
///     .with_symbol("nt!PoolTrackTable", 0x1000, Source::EmbeddedProfile);
/// assert_eq!(t.read_u32(0x1000).unwrap(), 0x0403_0201);
/// let err = t.read_u32(0x2000).unwrap_err();
/// assert_eq!(err.to_string(), "cannot read 0x4 bytes at 0x2000: paged out (page file 0, offset 0x5000) at 0x2000");
/// assert_eq!(t.symbol_address("PoolTrackTable").unwrap().value, 0x1000);
/// ```
#[derive(Debug, Default)]
pub struct MemoryTarget {
    info: TargetInfo,
    virtual_pages: BTreeMap<u64, Page>,
    physical_pages: BTreeMap<u64, Page>,
    symbols: HashMap<String, Sourced<u64>>,
    types: HashMap<String, Sourced<u64>>,
    fields: HashMap<(String, String), FieldOffset>,
    tags: HashMap<[u8; 4], TagInfo>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    cancelled: AtomicBool,
    /// `None`: image search not provided; else the images' hits by tag.
    images: Option<HashMap<[u8; 4], Vec<ImageHit>>>,
    progress: Mutex<Vec<Progress>>,
    /// Answers [`Target::present_pages`] from its own page map (see [`MemoryTarget::with_page_tables`]).
    page_tables: bool,
}

/// One [`Target::progress`] call a [`MemoryTarget`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all (0: unknown).
    pub total: u64,
    /// What the work is.
    pub label: String,
}

fn write_pages(pages: &mut BTreeMap<u64, Page>, address: u64, bytes: &[u8]) {
    let mut addr = address;
    let mut rest = bytes;
    while !rest.is_empty() {
        let page = addr & !(PAGE - 1);
        let within = (addr - page) as usize;
        let n = rest.len().min(PAGE as usize - within);
        let entry = pages
            .entry(page)
            .or_insert_with(|| Page::Data(vec![0; PAGE as usize].into()));
        if let Page::Unreadable(_) = entry {
            *entry = Page::Data(vec![0; PAGE as usize].into());
        }
        if let Page::Data(data) = entry {
            data[within..within + n].copy_from_slice(&rest[..n]);
        }
        rest = &rest[n..];
        addr = addr.wrapping_add(n as u64);
    }
}

fn read_pages(pages: &BTreeMap<u64, Page>, absent: ReadStatus, read: &mut Read<'_>) {
    read.bytes_read = 0;
    let len = read.buf.len();
    while read.bytes_read < len {
        let addr = read.address.wrapping_add(read.bytes_read as u64);
        let page = addr & !(PAGE - 1);
        let within = (addr - page) as usize;
        let n = (len - read.bytes_read).min(PAGE as usize - within);
        match pages.get(&page) {
            Some(Page::Data(data)) => {
                read.buf[read.bytes_read..read.bytes_read + n]
                    .copy_from_slice(&data[within..within + n]);
                read.bytes_read += n;
            }
            Some(Page::Unreadable(status)) => {
                read.status = *status;
                read.fault_address = addr;
                return;
            }
            None => {
                read.status = absent;
                read.fault_address = addr;
                return;
            }
        }
    }
    read.status = ReadStatus::Ok;
    read.fault_address = 0;
}

impl MemoryTarget {
    /// An empty target with `info`.
    pub fn new(info: TargetInfo) -> Self {
        MemoryTarget {
            info,
            ..Default::default()
        }
    }

    /// Writes `bytes` of virtual memory at `address` (pages appear, zero-filled, as needed).
    pub fn with_virtual(mut self, address: u64, bytes: &[u8]) -> Self {
        write_pages(&mut self.virtual_pages, address, bytes);
        self
    }

    /// Writes `bytes` of physical memory at `address`.
    pub fn with_physical(mut self, address: u64, bytes: &[u8]) -> Self {
        write_pages(&mut self.physical_pages, address, bytes);
        self
    }

    /// Makes the virtual page holding `address` unreadable with `status`.
    pub fn with_virtual_status(mut self, address: u64, status: ReadStatus) -> Self {
        self.virtual_pages
            .insert(address & !(PAGE - 1), Page::Unreadable(status));
        self
    }

    /// Makes the physical page holding `address` unreadable with `status`.
    pub fn with_physical_status(mut self, address: u64, status: ReadStatus) -> Self {
        self.physical_pages
            .insert(address & !(PAGE - 1), Page::Unreadable(status));
        self
    }

    /// Adds a symbol. `"nt!X"` is also found as `"X"`, and `"X"` as `"nt!X"`.
    pub fn with_symbol(mut self, name: &str, address: u64, source: Source) -> Self {
        self.symbols.insert(
            strip_module(name).to_owned(),
            Sourced {
                value: address,
                source,
            },
        );
        self
    }

    /// Adds a type's size.
    pub fn with_type_size(mut self, type_name: &str, size: u64, source: Source) -> Self {
        self.types.insert(
            type_name.to_owned(),
            Sourced {
                value: size,
                source,
            },
        );
        self
    }

    /// Adds a field's offset (and bit range for a bit field).
    pub fn with_field(
        mut self,
        type_name: &str,
        field: &str,
        offset: u64,
        bits: Option<BitRange>,
        source: Source,
    ) -> Self {
        self.fields.insert(
            (type_name.to_owned(), field.to_owned()),
            FieldOffset {
                offset,
                bits,
                source,
            },
        );
        self
    }

    /// Adds a pool tag (`tag` as its four bytes in memory).
    pub fn with_tag(mut self, tag: [u8; 4], binary: &str, description: &str) -> Self {
        self.tags.insert(
            tag,
            TagInfo {
                binary: binary.to_owned(),
                description: description.to_owned(),
                source: "memory target".to_owned(),
            },
        );
        self
    }

    /// Provides [`Target::find_tag_in_images`]: `tag` is in the images `hits` names (module name,
    /// count; kept in the order given). Tags never given are in no image; a target that never
    /// had this called answers [`ImageSearchError::NotProvided`], as a host without the entry
    /// does. A tag with a zero byte or one repeated byte is [`ImageSearchError::Unsearchable`].
    pub fn with_tag_in_images(mut self, tag: [u8; 4], hits: &[(&str, u64)]) -> Self {
        self.images.get_or_insert_with(HashMap::new).insert(
            tag,
            hits.iter()
                .map(|&(module, hits)| ImageHit {
                    module: module.to_owned(),
                    hits,
                })
                .collect(),
        );
        self
    }

    /// Provides [`Target::find_tag_in_images`] with no image holding any tag.
    pub fn with_image_search(mut self) -> Self {
        self.images.get_or_insert_with(HashMap::new);
        self
    }

    /// Provides [`Target::present_pages`], as a host that knows the page tables does: a page
    /// written (or given [`ReadStatus::NotInDump`]) is present (valid), a
    /// [`ReadStatus::PagedOut`] one is paged out, an [`ReadStatus::Error`] one bad, every other
    /// page absent. Without it the target answers `None` (the per-page path).
    pub fn with_page_tables(mut self) -> Self {
        self.page_tables = true;
        self
    }

    /// Every [`Target::progress`] call so far, in the order they arrived.
    pub fn progress_reports(&self) -> Vec<Progress> {
        match self.progress.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Asks running commands to stop: [`Target::is_cancelled`] returns true from now on.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Everything logged so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        match self.logs.lock() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn strip_module(name: &str) -> &str {
    name.rsplit_once('!').map_or(name, |(_, s)| s)
}

impl Target for MemoryTarget {
    fn read_virtual(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            read_pages(&self.virtual_pages, ReadStatus::NotMapped, r);
        }
    }

    fn read_physical(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            read_pages(&self.physical_pages, ReadStatus::NotInDump, r);
        }
    }

    fn symbol_address(&self, name: &str) -> Option<Sourced<u64>> {
        self.symbols.get(strip_module(name)).copied()
    }

    fn type_size(&self, type_name: &str) -> Option<Sourced<u64>> {
        self.types.get(type_name).copied()
    }

    fn field_offset(&self, type_name: &str, field: &str) -> Option<FieldOffset> {
        self.fields
            .get(&(type_name.to_owned(), field.to_owned()))
            .copied()
    }

    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn pool_tag(&self, tag: [u8; 4]) -> Option<TagInfo> {
        self.tags.get(&tag).cloned()
    }

    fn log(&self, level: LogLevel, message: &str) {
        let mut logs = match self.logs.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        logs.push((level, message.to_owned()));
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn progress(&self, done: u64, total: u64, label: &str) {
        let mut p = match self.progress.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        p.push(Progress {
            done,
            total,
            label: label.to_owned(),
        });
    }

    fn find_tag_in_images(&self, tag: [u8; 4]) -> Result<Vec<ImageHit>, ImageSearchError> {
        let images = self.images.as_ref().ok_or(ImageSearchError::NotProvided)?;
        if !tag_is_searchable(tag) {
            return Err(ImageSearchError::Unsearchable);
        }
        Ok(images.get(&tag).cloned().unwrap_or_default())
    }

    fn present_pages(&self, start: u64, end: u64, max_runs: usize) -> Option<PresentPages> {
        if !self.page_tables {
            return None;
        }
        let first = start & !(PAGE - 1);
        let mut out = PresentPages {
            next: end,
            ..Default::default()
        };
        if first >= end {
            return Some(out);
        }
        let mut counts = PageCounts::default();
        // Pages between two entries of the map are absent: the cost follows the map, not the span.
        let mut at = first;
        for (&va, page) in self.virtual_pages.range(first..end) {
            let present = !matches!(
                page,
                Page::Unreadable(
                    ReadStatus::PagedOut { .. } | ReadStatus::Error | ReadStatus::NotMapped
                )
            );
            let adjacent = matches!(out.runs.last(), Some(&(v, l)) if v + l == va);
            if present && !adjacent && out.runs.len() >= max_runs.max(1) {
                out.next = va;
                break;
            }
            counts.absent += (va - at) / PAGE;
            match page {
                Page::Unreadable(ReadStatus::PagedOut { .. }) => counts.paged_out += 1,
                Page::Unreadable(ReadStatus::Error) => counts.bad += 1,
                Page::Unreadable(ReadStatus::NotMapped) => counts.absent += 1,
                _ => {
                    counts.valid += 1;
                    match out.runs.last_mut() {
                        Some(last) if adjacent => last.1 += PAGE,
                        _ => out.runs.push((va, PAGE)),
                    }
                }
            }
            at = va + PAGE;
        }
        let stop = out.next.min(end);
        if stop > at {
            counts.absent += (stop - at).div_ceil(PAGE);
        }
        out.counts = counts;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TargetExt;

    #[test]
    fn visited_pages_read_as_read_virtual_in_calls_of_64_pages() {
        let mut t = MemoryTarget::default()
            .with_virtual(0x1_0000, &[7u8; 0x1000])
            .with_virtual(0x1_1000, &[8u8; 0x800])
            .with_virtual_status(0x1_3000, ReadStatus::NotInDump);
        for i in 0..70u64 {
            t = t.with_virtual(0x2_0000 + i * 0x1000, &[i as u8; 0x1000]);
        }
        let mut scratch = Vec::new();
        let mut seen = Vec::new();
        t.visit_virtual_pages(0x1_0010, 4, &mut scratch, &mut |va, page| {
            seen.push((va, page.map(|p| (p.len(), p[0]))));
        });
        assert_eq!(
            seen,
            [
                (0x1_0000, Ok((0x1000, 7))),
                (0x1_1000, Ok((0x1000, 8))),
                (0x1_2000, Err(ReadStatus::NotMapped)),
                (0x1_3000, Err(ReadStatus::NotInDump)),
            ]
        );
        // 70 pages: two reads, 256 KiB of scratch at most, every page in order.
        let mut n = 0u64;
        t.visit_virtual_pages(0x2_0000, 70, &mut scratch, &mut |va, page| {
            assert_eq!(
                (va, page.map(|p| p[0])),
                (0x2_0000 + n * 0x1000, Ok(n as u8))
            );
            n += 1;
        });
        assert_eq!(n, 70);
        assert_eq!(scratch.len(), 64 * 0x1000);
    }

    #[test]
    fn reads_cross_pages_and_stop_at_the_first_missing_byte() {
        let t = MemoryTarget::default()
            .with_virtual(0x1ffe, &[1, 2, 3, 4])
            .with_virtual_status(
                0x3000,
                ReadStatus::PagedOut {
                    pagefile: 2,
                    offset: 0x7000,
                },
            );
        assert_eq!(t.read_u32(0x1ffe).unwrap(), 0x0403_0201);
        let mut buf = [0u8; 0x1010];
        let mut reads = [Read::new(0x2ff8, &mut buf)];
        t.read_virtual(&mut reads);
        assert_eq!(reads[0].bytes_read, 8);
        assert_eq!(reads[0].fault_address, 0x3000);
        assert_eq!(
            reads[0].status,
            ReadStatus::PagedOut {
                pagefile: 2,
                offset: 0x7000
            }
        );
        let e = t.read_u64(0x5000).unwrap_err();
        assert_eq!(e.status, ReadStatus::NotMapped);
        let e = t.read_physical_exact(0, &mut [0u8; 1]).unwrap_err();
        assert_eq!(e.status, ReadStatus::NotInDump);
    }

    #[test]
    fn batches_answer_each_request() {
        let t = MemoryTarget::default().with_physical(0x1000, b"abcd");
        let (mut a, mut b) = ([0u8; 2], [0u8; 2]);
        let mut reads = [Read::new(0x1002, &mut a), Read::new(0x9000, &mut b)];
        t.read_physical(&mut reads);
        assert!(reads[0].is_ok());
        assert_eq!(reads[1].status, ReadStatus::NotInDump);
        assert_eq!(&a, b"cd");
    }

    #[test]
    fn lookups_and_log_and_cancel() {
        let t = MemoryTarget::default()
            .with_symbol("PsLoadedModuleList", 0x10, Source::Kdbg)
            .with_type_size("_POOL_HEADER", 16, Source::UserSymbols)
            .with_field(
                "_POOL_HEADER",
                "BlockSize",
                2,
                Some(BitRange {
                    position: 0,
                    length: 8,
                }),
                Source::Guessed,
            )
            .with_tag(*b"Proc", "nt!ps", "Process objects");
        assert_eq!(
            t.symbol_address("nt!PsLoadedModuleList").unwrap().source,
            Source::Kdbg
        );
        assert!(t.symbol_address("Nope").is_none());
        assert_eq!(t.type_size("_POOL_HEADER").unwrap().value, 16);
        let f = t.field_offset("_POOL_HEADER", "BlockSize").unwrap();
        assert_eq!((f.offset, f.bits.unwrap().length), (2, 8));
        assert_eq!(t.pool_tag(*b"Proc").unwrap().binary, "nt!ps");
        assert!(t.pool_tag(*b"Nope").is_none());
        t.log(LogLevel::Warn, "hi");
        assert_eq!(t.logs(), vec![(LogLevel::Warn, "hi".to_string())]);
        assert!(!t.is_cancelled());
        t.cancel();
        assert!(t.is_cancelled());
    }

    #[test]
    fn progress_is_recorded_and_image_search_is_opt_in() {
        let t = MemoryTarget::default();
        assert_eq!(
            t.find_tag_in_images(*b"Abcd"),
            Err(ImageSearchError::NotProvided)
        );
        t.progress(1, 4, "x");
        t.progress(4, 4, "x");
        let p = t.progress_reports();
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].done, p[1].total, p[1].label.as_str()), (4, 4, "x"));

        let t = MemoryTarget::default().with_tag_in_images(*b"Abcd", &[("a.sys", 3), ("b.sys", 1)]);
        let hits = t.find_tag_in_images(*b"Abcd").unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!((hits[0].module.as_str(), hits[0].hits), ("a.sys", 3));
        assert_eq!(t.find_tag_in_images(*b"Zzzy").unwrap(), vec![]);
        assert_eq!(
            t.find_tag_in_images(*b"Ab\0d"),
            Err(ImageSearchError::Unsearchable)
        );
        assert_eq!(
            t.find_tag_in_images(*b"    "),
            Err(ImageSearchError::Unsearchable)
        );
    }
}
