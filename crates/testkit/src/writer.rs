//! Writers for every container `dumpfile` reads: crash dumps (full, bitmap SDMP/FDMP, summary,
//! triage, RDMP; 32- and 64-bit headers), raw images and ELF cores.
//!
//! Layouts: docs/DUMP_FORMATS.md §1 (header offsets from the Windows SDK's
//! `DUMP_HEADER32`/`DUMP_HEADER64` via windows-sys; bitmap/RDMP sub-headers as kdmp-parser and
//! Volatility read them). Writes are sparse: zero pages are seeked over and the file is sized with
//! `set_len`, so a multi-GiB image costs only the pages the kernel stored.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::builder::Kernel;
use crate::manifest::ContainerInfo;
use crate::memory::PAGE;
use crate::profile::Arch;

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// Crash dump, DumpType 1: the physical runs back to back after the header.
    Full,
    /// Crash dump, DumpType 5 or 6, with an `FDMP` (all pages) or `SDMP` (kernel pages) bitmap.
    Bitmap {
        /// `FDMP` (every page of the runs) rather than `SDMP` (the kernel's pages).
        full: bool,
        /// 5 or 6 (same on-disk layout).
        dump_type: u32,
    },
    /// Pre-Windows 8 kernel summary dump, DumpType 2 (`SUMMARY_DUMP`, signature 'PMDS').
    Summary,
    /// Triage dump, DumpType 4 (x64): header, KDBG copy, one data block; no physical memory.
    Triage,
    /// RDMP range dump, DumpType 8 (kernel), 9 (kernel and user) or 0xA (complete); x64.
    Rdmp {
        /// 8, 9 or 0xA.
        dump_type: u32,
    },
    /// Raw physical image: file offset = physical address.
    Raw,
    /// ELF core as QEMU `dump-guest-memory` writes it: one PT_LOAD per physical run.
    Elf,
}

impl Container {
    /// Every container, for the standard set.
    pub const ALL: &'static [Container] = &[
        Container::Full,
        Container::Bitmap {
            full: false,
            dump_type: 5,
        },
        Container::Bitmap {
            full: true,
            dump_type: 5,
        },
        Container::Bitmap {
            full: false,
            dump_type: 6,
        },
        Container::Summary,
        Container::Triage,
        Container::Rdmp { dump_type: 8 },
        Container::Rdmp { dump_type: 9 },
        Container::Rdmp { dump_type: 0xa },
        Container::Raw,
        Container::Elf,
    ];

    /// A file-name friendly name (`full`, `bitmap-sdmp-5`, `rdmp-a`, …).
    pub fn slug(self) -> String {
        match self {
            Container::Full => "full".into(),
            Container::Bitmap { full, dump_type } => {
                format!("bitmap-{}-{dump_type}", if full { "fdmp" } else { "sdmp" })
            }
            Container::Summary => "summary".into(),
            Container::Triage => "triage".into(),
            Container::Rdmp { dump_type } => format!("rdmp-{dump_type:x}"),
            Container::Raw => "raw".into(),
            Container::Elf => "elf".into(),
        }
    }

    /// CONTRACT.md `info.dump_type` spelling.
    pub fn dump_type_name(self) -> &'static str {
        match self {
            Container::Full => "full",
            Container::Bitmap { full: true, .. } => "bitmap full",
            Container::Bitmap { full: false, .. } => "bitmap kernel",
            Container::Summary => "summary",
            Container::Triage => "triage",
            Container::Rdmp { dump_type: 8 } => "kernel range",
            Container::Rdmp { dump_type: 9 } => "kernel and user range",
            Container::Rdmp { .. } => "complete range",
            Container::Raw => "raw",
            Container::Elf => "elf core",
        }
    }

    /// The DumpType field, for crash dumps.
    pub fn dump_type(self) -> Option<u32> {
        match self {
            Container::Full => Some(1),
            Container::Bitmap { dump_type, .. } => Some(dump_type),
            Container::Summary => Some(2),
            Container::Triage => Some(4),
            Container::Rdmp { dump_type } => Some(dump_type),
            Container::Raw | Container::Elf => None,
        }
    }

    /// Whether `arch` can be written in this container (triage and RDMP are 64-bit only).
    pub fn supports(self, arch: Arch) -> bool {
        match self {
            Container::Triage | Container::Rdmp { .. } => arch == Arch::X64,
            _ => true,
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::Raw => "raw",
            Container::Elf => "elf",
            _ => "dmp",
        }
    }
}

/// Options of a write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Cut the file to this many bytes after writing (the "truncated file" fault).
    pub truncate_to: Option<u64>,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// I/O.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The container cannot hold this architecture.
    #[error("container {container} cannot hold a {arch} kernel")]
    Unsupported {
        /// Container slug.
        container: String,
        /// Arch name.
        arch: &'static str,
    },
}

/// Where bytes go: a file (sparse) or a vector.
trait Sink {
    fn put(&mut self, off: u64, data: &[u8]) -> io::Result<()>;
    fn finish(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn put(&mut self, off: u64, data: &[u8]) -> io::Result<()> {
        self.seek(SeekFrom::Start(off))?;
        self.write_all(data)
    }
    fn finish(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        self.flush()
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, off: u64, data: &[u8]) -> io::Result<()> {
        let end = off as usize + data.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[off as usize..end].copy_from_slice(data);
        Ok(())
    }
    fn finish(&mut self, len: u64) -> io::Result<()> {
        self.resize(len as usize, 0);
        Ok(())
    }
}

/// Writes `kernel` to `path` in `container`; returns what the manifest should say about the file.
pub fn write_file(
    kernel: &Kernel,
    container: Container,
    path: &Path,
    opts: &WriteOptions,
) -> Result<ContainerInfo, WriteError> {
    let mut f = File::create(path)?;
    write_sink(kernel, container, &mut f, opts)
}

/// Writes `kernel` into a byte vector (small images, tests).
pub fn write_vec(
    kernel: &Kernel,
    container: Container,
    opts: &WriteOptions,
) -> Result<(Vec<u8>, ContainerInfo), WriteError> {
    let mut v = Vec::new();
    let info = write_sink(kernel, container, &mut v, opts)?;
    Ok((v, info))
}

/// The physical pages a container holds, in file order.
pub fn container_pages(kernel: &Kernel, container: Container) -> Vec<u64> {
    let mem = &kernel.memory;
    match container {
        Container::Full
        | Container::Bitmap { full: true, .. }
        | Container::Rdmp { dump_type: 0xa }
        | Container::Raw
        | Container::Elf => mem.runs().iter().flat_map(|&(b, c)| b..b + c).collect(),
        Container::Triage => Vec::new(),
        _ => kernel
            .facts
            .kernel_pages
            .iter()
            .copied()
            .filter(|p| mem.in_runs(*p))
            .collect(),
    }
}

/// What a correct reader of `container` must return for physical page `pfn`: `None` when the file
/// does not hold the page ("not in dump"), else its 4096 bytes. Crash dumps hold the decoded KDBG;
/// raw images and ELF cores hold memory as it was (encoded KDBG on Windows 8+ x64); a raw image
/// covers the holes between runs with zeros. This is the hook for round-trip tests of readers.
pub fn expected_page(kernel: &Kernel, container: Container, pfn: u64) -> Option<Vec<u8>> {
    let mem = &kernel.memory;
    let held = match container {
        Container::Triage => false,
        Container::Raw => pfn < mem.end_pfn(),
        Container::Full
        | Container::Bitmap { full: true, .. }
        | Container::Rdmp { dump_type: 0xa }
        | Container::Elf => mem.in_runs(pfn),
        _ => mem.in_runs(pfn) && kernel.facts.kernel_pages.contains(&pfn),
    };
    if !held {
        return None;
    }
    let crash = container.dump_type().is_some();
    Some(
        page_content(kernel, pfn, crash)
            .map(|c| c.into_owned())
            .unwrap_or_else(|| vec![0u8; PAGE as usize]),
    )
}

/// The content of a page as the container stores it: crash dumps hold the decoded KDBG.
fn page_content(kernel: &Kernel, pfn: u64, decoded_kdbg: bool) -> Option<Cow<'_, [u8]>> {
    let base = kernel.memory.page(pfn);
    if !decoded_kdbg {
        return base.map(Cow::Borrowed);
    }
    let patches: Vec<&(u64, Vec<u8>)> = kernel
        .facts
        .kdbg_decoded
        .iter()
        .filter(|(pa, _)| pa / PAGE == pfn)
        .collect();
    if patches.is_empty() {
        return base.map(Cow::Borrowed);
    }
    let mut page = base
        .map(|b| b.to_vec())
        .unwrap_or_else(|| vec![0u8; PAGE as usize]);
    for (pa, bytes) in patches {
        let off = (pa % PAGE) as usize;
        page[off..off + bytes.len()].copy_from_slice(bytes);
    }
    Some(Cow::Owned(page))
}

fn put_u32(h: &mut [u8], off: usize, v: u32) {
    h[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(h: &mut [u8], off: usize, v: u64) {
    h[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// `DUMP_HEADER32` / `DUMP_HEADER64` (docs/DUMP_FORMATS.md §1.1), unused bytes filled with "PAGE".
fn dump_header(kernel: &Kernel, container: Container, file_size: u64) -> Vec<u8> {
    let f = &kernel.facts;
    let x64 = f.arch == Arch::X64;
    let size = if x64 { 0x2000 } else { 0x1000 };
    let mut h: Vec<u8> = b"PAGE".iter().copied().cycle().take(size).collect();
    let dump_type = container.dump_type().unwrap_or(1);
    let runs = kernel.memory.runs();
    put_u32(&mut h, 0, 0x4547_4150); // "PAGE"
    put_u32(&mut h, 8, 0xf);
    put_u32(&mut h, 0xc, f.build);
    let systime = 0x01dc_5a00_0000_0000u64 + u64::from(f.build);
    if x64 {
        put_u32(&mut h, 4, 0x3436_5544); // "DU64"
        put_u64(&mut h, 0x10, f.dtb);
        put_u64(&mut h, 0x18, f.pfn_database_var);
        put_u64(&mut h, 0x20, f.ps_loaded_module_list);
        put_u64(&mut h, 0x28, f.ps_active_process_head);
        put_u32(&mut h, 0x30, 0x8664);
        put_u32(&mut h, 0x34, f.processors);
        put_u32(&mut h, 0x38, f.bugcheck.0);
        for (i, p) in f.bugcheck.1.iter().enumerate() {
            put_u64(&mut h, 0x40 + 8 * i, *p);
        }
        h[0x60..0x80].fill(0); // VersionUser
        put_u64(&mut h, 0x80, f.kdbg);
        if dump_type == 1 {
            let d = &mut h[0x88..0x88 + 700];
            d.fill(0);
            put_u32(d, 0, runs.len() as u32);
            put_u64(d, 8, kernel.memory.total_pages());
            for (i, &(b, c)) in runs.iter().enumerate().take(42) {
                put_u64(d, 0x10 + 16 * i, b);
                put_u64(d, 0x18 + 16 * i, c);
            }
        }
        // CONTEXT (AMD64, 0x4d0 bytes): ContextFlags CONTEXT_FULL, MxCsr and FltSave.MxCsr equal
        // (kdmp-parser checks them), a kernel RSP/RIP.
        let c = &mut h[0x348..0x348 + 0x4d0];
        c.fill(0);
        put_u32(c, 0x30, 0x0010_000b);
        put_u32(c, 0x34, 0x1f80);
        put_u32(c, 0x100 + 0x18, 0x1f80);
        put_u64(c, 0x98, f.kernel_base + 0x10_0000); // Rsp
        put_u64(c, 0xf8, f.kernel_base + 0x1000); // Rip
        let e = &mut h[0xf00..0xf98];
        e.fill(0);
        put_u32(e, 0, 0x8000_0003);
        let comment = b"pooldbg testkit synthetic kernel\0";
        h[0xfb0..0xfb0 + comment.len()].copy_from_slice(comment);
        put_u32(&mut h, 0xf98, dump_type);
        put_u64(&mut h, 0xfa0, file_size);
        put_u64(&mut h, 0xfa8, systime);
        h[0x1030..0x1058].fill(0);
        put_u64(&mut h, 0x1030, 0x1234_5678);
        if dump_type == 4 {
            put_u32(&mut h, 0x1038, 0xcff);
        }
        put_u32(&mut h, 0x1040, 1);
        h[0x104d] = 0x41; // KdSecondaryVersion
    } else {
        put_u32(&mut h, 4, 0x504d_5544); // "DUMP"
        put_u32(&mut h, 0x10, f.dtb as u32);
        put_u32(&mut h, 0x14, f.pfn_database_var as u32);
        put_u32(&mut h, 0x18, f.ps_loaded_module_list as u32);
        put_u32(&mut h, 0x1c, f.ps_active_process_head as u32);
        put_u32(&mut h, 0x20, 0x14c);
        put_u32(&mut h, 0x24, f.processors);
        put_u32(&mut h, 0x28, f.bugcheck.0);
        for (i, p) in f.bugcheck.1.iter().enumerate() {
            put_u32(&mut h, 0x2c + 4 * i, *p as u32);
        }
        h[0x3c..0x5c].fill(0);
        h[0x5c] = u8::from(f.pae);
        h[0x5d] = 0x41;
        h[0x5e..0x60].fill(0);
        put_u32(&mut h, 0x60, f.kdbg as u32);
        if dump_type == 1 {
            let d = &mut h[0x64..0x64 + 700];
            d.fill(0);
            put_u32(d, 0, runs.len() as u32);
            put_u32(d, 4, kernel.memory.total_pages() as u32);
            for (i, &(b, c)) in runs.iter().enumerate().take(86) {
                put_u32(d, 8 + 8 * i, b as u32);
                put_u32(d, 12 + 8 * i, c as u32);
            }
        }
        h[0x320..0x320 + 0x2cc].fill(0);
        put_u32(&mut h, 0x320, 0x0001_0007);
        h[0x7d0..0x820].fill(0);
        put_u32(&mut h, 0x7d0, 0x8000_0003);
        let comment = b"pooldbg testkit synthetic kernel\0";
        h[0x820..0x820 + comment.len()].copy_from_slice(comment);
        put_u32(&mut h, 0xf88, dump_type);
        h[0xf8c..0xfa0].fill(0);
        put_u32(&mut h, 0xf94, 1);
        put_u64(&mut h, 0xfa0, file_size);
        put_u64(&mut h, 0xfb8, 0x1234_5678);
        put_u64(&mut h, 0xfc0, systime);
    }
    h
}

fn write_pages<S: Sink>(
    kernel: &Kernel,
    sink: &mut S,
    pages: impl Iterator<Item = (u64, u64)>,
    decoded: bool,
) -> io::Result<()> {
    for (pfn, off) in pages {
        if let Some(c) = page_content(kernel, pfn, decoded) {
            sink.put(off, &c)?;
        }
    }
    Ok(())
}

/// The pages a container holds, without listing every page of a large machine.
enum PageSet {
    /// Every page of the runs, packed in run order.
    AllRuns,
    /// These pages (ascending), packed.
    Listed(Vec<u64>),
}

impl PageSet {
    fn of(kernel: &Kernel, container: Container) -> PageSet {
        match container {
            Container::Full
            | Container::Bitmap { full: true, .. }
            | Container::Rdmp { dump_type: 0xa }
            | Container::Raw
            | Container::Elf => PageSet::AllRuns,
            _ => PageSet::Listed(container_pages(kernel, container)),
        }
    }

    fn count(&self, kernel: &Kernel) -> u64 {
        match self {
            PageSet::AllRuns => kernel.memory.total_pages(),
            PageSet::Listed(v) => v.len() as u64,
        }
    }

    /// `(pfn, index in the file's page sequence)` for the pages that may hold data (the others are
    /// zeros, which a sparse file already reads as).
    fn with_data<'a>(&'a self, kernel: &'a Kernel) -> Box<dyn Iterator<Item = (u64, u64)> + 'a> {
        match self {
            PageSet::AllRuns => {
                let runs = kernel.memory.runs();
                Box::new(kernel.memory.stored().filter_map(move |(pfn, _)| {
                    let mut before = 0;
                    for &(b, c) in runs {
                        if pfn >= b && pfn < b + c {
                            return Some((pfn, before + pfn - b));
                        }
                        before += c;
                    }
                    None
                }))
            }
            PageSet::Listed(v) => Box::new(v.iter().enumerate().map(|(i, p)| (*p, i as u64))),
        }
    }

    /// Every page, as (base, count) ranges.
    fn ranges(&self, kernel: &Kernel) -> Vec<(u64, u64)> {
        match self {
            PageSet::AllRuns => kernel.memory.runs().to_vec(),
            PageSet::Listed(v) => coalesce(v),
        }
    }
}

fn write_sink<S: Sink>(
    kernel: &Kernel,
    container: Container,
    sink: &mut S,
    opts: &WriteOptions,
) -> Result<ContainerInfo, WriteError> {
    let arch = kernel.facts.arch;
    if !container.supports(arch) {
        return Err(WriteError::Unsupported {
            container: container.slug(),
            arch: arch.name(),
        });
    }
    let x64 = arch == Arch::X64;
    let hsize: u64 = if x64 { 0x2000 } else { 0x1000 };
    let pages = PageSet::of(kernel, container);
    let n = pages.count(kernel);
    let end_pfn = kernel.memory.end_pfn();
    let len = match container {
        Container::Full => {
            let len = hsize + n * PAGE;
            sink.put(0, &dump_header(kernel, container, len))?;
            write_pages(
                kernel,
                sink,
                pages.with_data(kernel).map(|(p, i)| (p, hsize + i * PAGE)),
                true,
            )?;
            len
        }
        Container::Bitmap { full, .. } => {
            let bitmap_bytes = end_pfn.div_ceil(8);
            let first = (hsize + 0x38 + bitmap_bytes).next_multiple_of(PAGE);
            let len = first + n * PAGE;
            sink.put(0, &dump_header(kernel, container, len))?;
            let mut sub = vec![0u8; (0x38 + bitmap_bytes) as usize];
            put_u32(&mut sub, 0, if full { 0x504d_4446 } else { 0x504d_4453 });
            put_u32(&mut sub, 4, 0x504d_5544);
            put_u64(&mut sub, 0x20, first);
            put_u64(&mut sub, 0x28, n);
            put_u64(&mut sub, 0x30, end_pfn);
            for (b, c) in pages.ranges(kernel) {
                for p in b..b + c {
                    sub[0x38 + (p / 8) as usize] |= 1 << (p % 8);
                }
            }
            sink.put(hsize, &sub)?;
            write_pages(
                kernel,
                sink,
                pages.with_data(kernel).map(|(p, i)| (p, first + i * PAGE)),
                true,
            )?;
            len
        }
        Container::Summary => {
            // SUMMARY_DUMP (ntiodump.h): 'PMDS' 'PMUD', DumpOptions, HeaderSize, BitmapSize, Pages,
            // RTL_BITMAP {SizeOfBitMap; _reserved0 (pointer-sized)} then the bits.
            let bitmap_bytes = end_pfn.div_ceil(32) * 4;
            let bits_at: u64 = if x64 { 0x28 } else { 0x20 };
            let first = (hsize + bits_at + bitmap_bytes).next_multiple_of(PAGE);
            let len = first + n * PAGE;
            sink.put(0, &dump_header(kernel, container, len))?;
            let mut sub = vec![0u8; (bits_at + bitmap_bytes) as usize];
            put_u32(&mut sub, 0, 0x504d_4453);
            put_u32(&mut sub, 4, 0x504d_5544);
            put_u32(&mut sub, 0xc, first as u32);
            put_u32(&mut sub, 0x10, end_pfn as u32);
            put_u32(&mut sub, 0x14, n as u32);
            put_u32(&mut sub, 0x18, end_pfn as u32);
            for (b, c) in pages.ranges(kernel) {
                for p in b..b + c {
                    sub[(bits_at + p / 8) as usize] |= 1 << (p % 8);
                }
            }
            sink.put(hsize, &sub)?;
            write_pages(
                kernel,
                sink,
                pages.with_data(kernel).map(|(p, i)| (p, first + i * PAGE)),
                true,
            )?;
            len
        }
        Container::Rdmp { dump_type } => {
            let ranges = pages.ranges(kernel);
            let first = (hsize + 0x40 + 16 * ranges.len() as u64).next_multiple_of(PAGE);
            let len = first + n * PAGE;
            sink.put(0, &dump_header(kernel, container, len))?;
            let mut sub = vec![0u8; (first - hsize) as usize];
            put_u32(&mut sub, 0, 0x40);
            put_u32(&mut sub, 4, 0x504d_4452); // "RDMP"
            put_u32(&mut sub, 8, 0x504d_5544); // "DUMP"
            // kdmp-parser's check: MetadataSize - 0x20 == FirstPageOffset - 0x2040.
            put_u64(&mut sub, 0x10, first - 0x2020);
            put_u64(&mut sub, 0x18, first);
            if dump_type == 0xa {
                put_u32(&mut sub, 0x20, ranges.len() as u32);
                put_u64(&mut sub, 0x28, n);
            }
            for (i, (b, c)) in ranges.iter().enumerate() {
                put_u64(&mut sub, 0x30 + 16 * i, *b);
                put_u64(&mut sub, 0x38 + 16 * i, *c);
            }
            sink.put(hsize, &sub)?;
            write_pages(
                kernel,
                sink,
                pages.with_data(kernel).map(|(p, i)| (p, first + i * PAGE)),
                true,
            )?;
            len
        }
        Container::Triage => {
            // TRIAGE_DUMP64 at 0x2000 (docs/DUMP_FORMATS.md §1.6): the decoded KDBG copy and one data
            // block holding it; 'TRGD' at ValidOffset. No driver list, context or stack (not done).
            let kd: Vec<u8> = kernel
                .facts
                .kdbg_decoded
                .iter()
                .flat_map(|(_, b)| b.iter().copied())
                .collect();
            let kd_off = 0x3000u64;
            let valid_off = kd_off + (kd.len() as u64).next_multiple_of(8);
            let len = (valid_off + 4).next_multiple_of(PAGE);
            sink.put(0, &dump_header(kernel, container, len))?;
            let mut t = vec![0u8; 0x90];
            put_u32(&mut t, 0x4, len as u32);
            put_u32(&mut t, 0x8, valid_off as u32);
            put_u32(&mut t, 0x70, kd_off as u32);
            put_u32(&mut t, 0x74, kd.len() as u32);
            put_u32(&mut t, 0x78, 0x80);
            put_u32(&mut t, 0x7c, 1);
            put_u64(&mut t, 0x80, kernel.facts.kdbg);
            put_u32(&mut t, 0x88, kd_off as u32);
            put_u32(&mut t, 0x8c, kd.len() as u32);
            sink.put(hsize, &t)?;
            sink.put(kd_off, &kd)?;
            sink.put(valid_off, b"TRGD")?;
            len
        }
        Container::Raw => {
            let len = end_pfn * PAGE;
            write_pages(
                kernel,
                sink,
                pages.with_data(kernel).map(|(p, _)| (p, p * PAGE)),
                false,
            )?;
            len
        }
        Container::Elf => {
            let runs = kernel.memory.runs();
            let (ehsize, phsize) = if x64 { (64u64, 56u64) } else { (52, 32) };
            let data_start = (ehsize + phsize * runs.len() as u64).next_multiple_of(PAGE);
            let mut h = vec![0u8; (ehsize + phsize * runs.len() as u64) as usize];
            h[0..4].copy_from_slice(b"\x7fELF");
            h[4] = if x64 { 2 } else { 1 };
            h[5] = 1; // little endian
            h[6] = 1; // version
            h[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
            let machine: u16 = if x64 { 62 } else { 3 };
            h[18..20].copy_from_slice(&machine.to_le_bytes());
            h[20..24].copy_from_slice(&1u32.to_le_bytes());
            let mut off = data_start;
            let mut file_off = Vec::new();
            if x64 {
                put_u64(&mut h, 32, ehsize); // e_phoff
                h[52..54].copy_from_slice(&(ehsize as u16).to_le_bytes());
                h[54..56].copy_from_slice(&(phsize as u16).to_le_bytes());
                h[56..58].copy_from_slice(&(runs.len() as u16).to_le_bytes());
                for (i, &(b, c)) in runs.iter().enumerate() {
                    let p = (ehsize + phsize * i as u64) as usize;
                    put_u32(&mut h, p, 1); // PT_LOAD
                    put_u32(&mut h, p + 4, 7); // RWX
                    put_u64(&mut h, p + 8, off);
                    put_u64(&mut h, p + 16, 0); // p_vaddr (QEMU: 0 without paging)
                    put_u64(&mut h, p + 24, b * PAGE);
                    put_u64(&mut h, p + 32, c * PAGE);
                    put_u64(&mut h, p + 40, c * PAGE);
                    put_u64(&mut h, p + 48, 0);
                    file_off.push((b, c, off));
                    off += c * PAGE;
                }
            } else {
                put_u32(&mut h, 28, ehsize as u32);
                h[40..42].copy_from_slice(&(ehsize as u16).to_le_bytes());
                h[42..44].copy_from_slice(&(phsize as u16).to_le_bytes());
                h[44..46].copy_from_slice(&(runs.len() as u16).to_le_bytes());
                for (i, &(b, c)) in runs.iter().enumerate() {
                    let p = (ehsize + phsize * i as u64) as usize;
                    put_u32(&mut h, p, 1);
                    put_u32(&mut h, p + 4, off as u32);
                    put_u32(&mut h, p + 8, 0);
                    put_u32(&mut h, p + 12, (b * PAGE) as u32);
                    put_u32(&mut h, p + 16, (c * PAGE) as u32);
                    put_u32(&mut h, p + 20, (c * PAGE) as u32);
                    put_u32(&mut h, p + 24, 7);
                    file_off.push((b, c, off));
                    off += c * PAGE;
                }
            }
            sink.put(0, &h)?;
            debug_assert_eq!(file_off.first().map(|f| f.2), Some(data_start));
            write_pages(
                kernel,
                sink,
                pages
                    .with_data(kernel)
                    .map(|(p, i)| (p, data_start + i * PAGE)),
                false,
            )?;
            off
        }
    };
    let final_len = opts.truncate_to.map_or(len, |t| t.min(len));
    sink.finish(final_len)?;
    Ok(ContainerInfo {
        kind: container.slug(),
        dump_type: container.dump_type(),
        file_size: final_len,
        truncated: final_len < len,
        pages_in_file: n,
    })
}

/// Coalesces ascending PFNs into (base, count) ranges.
fn coalesce(pfns: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &p in pfns {
        match out.last_mut() {
            Some((b, c)) if *b + *c == p => *c += 1,
            _ => out.push((p, 1)),
        }
    }
    out
}
