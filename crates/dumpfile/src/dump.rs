//! Opening a file or a byte vector, detecting the container by content, and reading from it.

use std::path::Path;

use crate::error::{Bytes, DumpError, ascii};
use crate::header::{self, Bitness, DumpType, HeaderInfo};
use crate::layout::{BitmapIndex, PageMap, Run, Segment};
use crate::read::{PAGE_SHIFT, PAGE_SIZE, PhysicalMemory, ReadOutcome, ReadSpan, ReadStatus};
use crate::triage::{self, TriageInfo};

/// A highest physical address of 2^52 (x64's architectural limit): PFNs at or above 2^40 are absurd.
const MAX_PFN: u64 = 1 << 40;

/// The container a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DumpKind {
    /// DumpType 1: complete memory dump with a run table.
    Full,
    /// DumpType 2: pre-Windows 8 kernel (summary) dump with a bitmap.
    Summary,
    /// DumpType 4: triage dump (no physical memory; driver list, data blocks, KDBG copy).
    Triage,
    /// DumpType 5/6: bitmap dump; `full` is true for an `FDMP` sub-header, false for `SDMP`.
    Bitmap {
        /// `FDMP` (complete) rather than `SDMP` (kernel).
        full: bool,
    },
    /// DumpType 8/9/0xA: `RDMP` page-range dump.
    Range,
    /// DumpType 3: header only.
    HeaderOnly,
    /// A raw physical memory image.
    Raw,
    /// An ELF core file (QEMU `dump-guest-memory`, `virsh dump`).
    ElfCore,
}

impl DumpKind {
    /// A short description, as `info` prints it (`bitmap kernel`, `full`, `triage`, `raw`, `elf core`).
    pub fn describe(self) -> &'static str {
        match self {
            DumpKind::Full => "full",
            DumpKind::Summary => "summary kernel",
            DumpKind::Triage => "triage",
            DumpKind::Bitmap { full: true } => "bitmap full",
            DumpKind::Bitmap { full: false } => "bitmap kernel",
            DumpKind::Range => "kernel range",
            DumpKind::HeaderOnly => "header only",
            DumpKind::Raw => "raw",
            DumpKind::ElfCore => "elf core",
        }
    }
}

/// Something odd that did not stop the dump from opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// File offset concerned, when there is one.
    pub offset: Option<u64>,
    /// What was found.
    pub message: String,
}

impl Warning {
    pub(crate) fn at(offset: u64, message: String) -> Self {
        Warning {
            offset: Some(offset),
            message,
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "at offset {o:#x}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Which container to assume instead of detecting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForceContainer {
    /// Read the file as a raw physical image whatever it holds.
    Raw,
}

/// How to open a dump.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    strict: bool,
    force: Option<ForceContainer>,
}

impl OpenOptions {
    /// Default options: permissive (a truncated dump opens).
    pub fn new() -> Self {
        Self::default()
    }

    /// With `strict`, a layout that reaches past the end of the file is an error instead of a
    /// truncated dump.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Skip detection and read the file as `force`.
    pub fn force(mut self, force: ForceContainer) -> Self {
        self.force = Some(force);
        self
    }
}

enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// An opened dump or memory image: its header facts and its physical memory.
pub struct Dump {
    storage: Storage,
    kind: DumpKind,
    header: Option<HeaderInfo>,
    map: PageMap,
    triage: Option<TriageInfo>,
    layout_end: u64,
    present_pages: u64,
    warnings: Vec<Warning>,
    /// The file's data extents (offset, length) when the OS says where the holes of a sparse
    /// file are; `None`: unknown (every byte may hold data).
    data_extents: Option<Vec<(u64, u64)>>,
}

impl std::fmt::Debug for Dump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dump")
            .field("kind", &self.kind)
            .field("len", &self.storage.bytes().len())
            .field("present_pages", &self.present_pages)
            .field("missing_bytes", &self.missing_bytes())
            .finish_non_exhaustive()
    }
}

struct Parsed {
    kind: DumpKind,
    header: Option<HeaderInfo>,
    map: PageMap,
    triage: Option<TriageInfo>,
    layout_end: u64,
    present_pages: u64,
    warnings: Vec<Warning>,
}

impl Dump {
    /// Memory-maps `path` and detects its container by content.
    pub fn open(path: impl AsRef<Path>) -> Result<Dump, DumpError> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Like [`open`](Dump::open), with options.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Dump, DumpError> {
        let path = path.as_ref();
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        // What the path is, before opening it: `open` on a FIFO blocks until a writer comes.
        let meta = std::fs::metadata(path).map_err(io)?;
        if let Some(what) = not_a_file(&meta.file_type()) {
            return Err(DumpError::NotAFile {
                path: path.to_path_buf(),
                what,
            });
        }
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let storage = if len == 0 {
            Storage::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only and private to this process. The file could still be
            // changed by another process while mapped; pooldbg reads dumps that nothing writes to,
            // as every memory-mapping dump reader does, and never relies on the bytes being stable
            // for memory safety (every offset is bounds-checked against the slice on each read).
            let map = unsafe { memmap2::MmapOptions::new().map(&file) }.map_err(io)?;
            Storage::Mapped(map)
        };
        let mut dump = Self::from_storage(storage, options)?;
        dump.data_extents = data_extents(&file, len);
        Ok(dump)
    }

    /// Reads a dump held in memory (tests, fuzzing, images built on the fly).
    pub fn from_vec(data: Vec<u8>) -> Result<Dump, DumpError> {
        Self::from_vec_with(data, OpenOptions::default())
    }

    /// Like [`from_vec`](Dump::from_vec), with options.
    pub fn from_vec_with(data: Vec<u8>, options: OpenOptions) -> Result<Dump, DumpError> {
        Self::from_storage(Storage::Owned(data), options)
    }

    fn from_storage(storage: Storage, options: OpenOptions) -> Result<Dump, DumpError> {
        let p = parse(storage.bytes(), options)?;
        Ok(Dump {
            storage,
            kind: p.kind,
            header: p.header,
            map: p.map,
            triage: p.triage,
            layout_end: p.layout_end,
            present_pages: p.present_pages,
            warnings: p.warnings,
            data_extents: None,
        })
    }

    /// The file's data extents (file offset, length), ascending, when the OS says where a sparse
    /// file's holes are (SEEK_DATA/SEEK_HOLE); `None` when unknown (read every byte as data).
    pub fn file_data_extents(&self) -> Option<&[(u64, u64)]> {
        self.data_extents.as_deref()
    }

    /// The physical ranges (address, length) worth scanning: [`Dump::physical_ranges`] without
    /// what lies in a sparse file's holes (all zero, never stored) when the file's extents are
    /// known and the container maps physical memory to file offsets in segments (raw images,
    /// ELF cores). Ascending by address within each segment.
    pub fn scan_ranges(&self) -> Vec<(u64, u64)> {
        let (Some(extents), PageMap::Segments(segments)) = (&self.data_extents, &self.map) else {
            return self.physical_ranges();
        };
        let mut out = Vec::new();
        for s in segments {
            let (f0, f1) = (s.file_offset, s.file_offset.saturating_add(s.len));
            for &(e0, elen) in extents {
                let e1 = e0.saturating_add(elen);
                let (a, b) = (f0.max(e0), f1.min(e1));
                if a < b {
                    out.push((s.pa.saturating_add(a - f0), b - a));
                }
            }
        }
        out
    }

    /// Gives back the pages a scan touched: the process drops its mapping of them (the file's
    /// pages stay in the OS's cache and are read again if needed). Nothing to do for a dump
    /// held in memory.
    pub fn release_scanned(&self) {
        #[cfg(unix)]
        if let Storage::Mapped(map) = &self.storage {
            // SAFETY: the map is a private, read-only mapping of a file that this process never
            // writes: MADV_DONTNEED only drops the page-table entries, and a later read faults
            // the same file bytes back in. No reference into the map is invalidated.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// The container.
    pub fn kind(&self) -> DumpKind {
        self.kind
    }

    /// The crash-dump header, for crash dumps.
    pub fn header(&self) -> Option<&HeaderInfo> {
        self.header.as_ref()
    }

    /// The triage header, driver list and data blocks, for triage dumps.
    pub fn triage(&self) -> Option<&TriageInfo> {
        self.triage.as_ref()
    }

    /// The KDBG copy a triage dump carries (decoded, as Windows writes it), when present. Other
    /// dumps hold the KDBG in their physical memory at the header's `KdDebuggerDataBlock`.
    pub fn kdbg_copy(&self) -> Option<&[u8]> {
        let (off, size) = self.triage.as_ref()?.debugger_data?;
        self.storage
            .bytes()
            .get(off as usize..off.checked_add(size)? as usize)
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Bytes the layout needs beyond the end of the file (0 for a complete dump).
    pub fn missing_bytes(&self) -> u64 {
        self.layout_end
            .saturating_sub(self.storage.bytes().len() as u64)
    }

    /// Pages the layout describes but the file does not hold because it is truncated.
    pub fn missing_pages(&self) -> u64 {
        self.missing_bytes()
            .div_ceil(PAGE_SIZE)
            .min(self.present_pages)
    }

    /// Pages the layout describes (including any lost to truncation).
    pub fn described_pages(&self) -> u64 {
        self.present_pages
    }

    /// The physical ranges the dump describes, as (address, length), in order.
    pub fn physical_ranges(&self) -> Vec<(u64, u64)> {
        self.map.ranges()
    }

    /// What was odd but not fatal.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Reads virtual memory from a triage dump's data blocks (and its stack, data page and KDBG
    /// copy). Other dumps answer "not in dump": translate through `paging` instead.
    pub fn read_triage_virtual(&self, va: u64, buf: &mut [u8]) -> ReadOutcome {
        self.triage_virtual(va, buf, None)
    }

    /// Like [`read_triage_virtual`](Dump::read_triage_virtual), also returning every stretch of
    /// the buffer with its status.
    pub fn read_triage_virtual_spans(
        &self,
        va: u64,
        buf: &mut [u8],
    ) -> (ReadOutcome, Vec<ReadSpan>) {
        let mut spans = Vec::new();
        let o = self.triage_virtual(va, buf, Some(&mut spans));
        (o, spans)
    }

    fn triage_virtual(
        &self,
        va: u64,
        buf: &mut [u8],
        mut spans: Option<&mut Vec<ReadSpan>>,
    ) -> ReadOutcome {
        let mut note = |offset: usize, len: usize, status: ReadStatus| {
            if let Some(v) = spans.as_deref_mut() {
                match v.last_mut() {
                    Some(l) if l.status == status && l.offset + l.len == offset => l.len += len,
                    _ => v.push(ReadSpan {
                        offset,
                        len,
                        status,
                    }),
                }
            }
        };
        let Some(t) = &self.triage else {
            buf.fill(0);
            note(0, buf.len(), ReadStatus::NotInDump);
            return if buf.is_empty() {
                ReadOutcome::ok(0)
            } else {
                ReadOutcome::failed(ReadStatus::NotInDump)
            };
        };
        let data = self.storage.bytes();
        let mut off = 0usize;
        let mut read = 0usize;
        let mut first = None;
        while off < buf.len() {
            let a = va.wrapping_add(off as u64);
            let idx = t.data_blocks.partition_point(|b| b.address <= a);
            // Blocks may overlap: look back for any that holds `a`.
            let hit = t.data_blocks[..idx]
                .iter()
                .rev()
                .take(8)
                .find(|b| a - b.address < b.size);
            match hit {
                Some(b) => {
                    let k = a - b.address;
                    let n = ((b.size - k) as usize).min(buf.len() - off);
                    let src = (b.offset + k) as usize;
                    buf[off..off + n].copy_from_slice(&data[src..src + n]);
                    note(off, n, ReadStatus::Ok);
                    off += n;
                    read += n;
                }
                None => {
                    // Skip to the next block start (or the end of the buffer).
                    let next = t.data_blocks.get(idx).map_or(u64::MAX, |b| b.address);
                    let n = (next.wrapping_sub(a) as usize).min(buf.len() - off).max(1);
                    buf[off..off + n].fill(0);
                    note(off, n, ReadStatus::NotInDump);
                    first.get_or_insert(off);
                    off += n;
                }
            }
        }
        ReadOutcome {
            status: if first.is_some() {
                ReadStatus::NotInDump
            } else {
                ReadStatus::Ok
            },
            bytes_read: read,
            first_failure: first,
        }
    }

    #[inline]
    fn locate_in_file(&self, pa: u64) -> Result<(usize, usize), ReadStatus> {
        let data = self.storage.bytes();
        let (off, avail) = self.map.locate(pa)?;
        let len = data.len() as u64;
        if off >= len {
            return Err(ReadStatus::NotInDump);
        }
        let avail = avail.min(len - off);
        Ok((off as usize, avail.min(usize::MAX as u64) as usize))
    }
}

impl PhysicalMemory for Dump {
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> ReadOutcome {
        let data = self.storage.bytes();
        let mut off = 0usize;
        let mut read = 0usize;
        let mut first: Option<(usize, ReadStatus)> = None;
        while off < buf.len() {
            let a = pa.wrapping_add(off as u64);
            if a < pa {
                buf[off..].fill(0);
                first.get_or_insert((off, ReadStatus::OutOfRange));
                break;
            }
            match self.locate_in_file(a) {
                Ok((src, avail)) => {
                    let n = avail.min(buf.len() - off);
                    buf[off..off + n].copy_from_slice(&data[src..src + n]);
                    off += n;
                    read += n;
                }
                Err(status) => {
                    // The whole rest of this page shares the answer.
                    let n = ((PAGE_SIZE - (a & (PAGE_SIZE - 1))) as usize).min(buf.len() - off);
                    buf[off..off + n].fill(0);
                    first.get_or_insert((off, status));
                    off += n;
                }
            }
        }
        ReadOutcome {
            status: first.map_or(ReadStatus::Ok, |f| f.1),
            bytes_read: read,
            first_failure: first.map(|f| f.0),
        }
    }

    #[inline]
    fn page(&self, pfn: u64) -> Result<&[u8], ReadStatus> {
        if pfn >= MAX_PFN {
            return Err(ReadStatus::OutOfRange);
        }
        let (src, avail) = self.locate_in_file(pfn << PAGE_SHIFT)?;
        if avail < PAGE_SIZE as usize {
            return Err(ReadStatus::NotInDump);
        }
        Ok(&self.storage.bytes()[src..src + PAGE_SIZE as usize])
    }

    fn is_zero_copy(&self) -> bool {
        true
    }

    fn physical_limit(&self) -> u64 {
        self.map.limit()
    }
}

fn parse(data: &[u8], options: OpenOptions) -> Result<Parsed, DumpError> {
    if options.force == Some(ForceContainer::Raw) {
        return parse_raw(data);
    }
    if let Some(bitness) = header::sniff(data)? {
        return parse_crash(data, bitness, options);
    }
    if data.starts_with(b"\x7fELF") {
        return parse_elf(data, options);
    }
    if let Some(what) = archive_magic(data) {
        return Err(DumpError::NotADump { what: what.into() });
    }
    if data.starts_with(b"MDMP") {
        return Err(DumpError::Unsupported {
            offset: 0,
            what: "a user-mode minidump (\"MDMP\"); pooldbg reads kernel dumps and memory images"
                .into(),
        });
    }
    parse_raw(data)
}

/// At most this many data extents are kept; a file more fragmented than that is read as data
/// throughout (the scan budget still bounds it).
const MAX_EXTENTS: usize = 1 << 16;

/// The data extents of `file` (`len` bytes) from SEEK_DATA/SEEK_HOLE, or `None` when the OS or
/// the file system cannot tell or the file has more than [`MAX_EXTENTS`] of them.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "macos"
))]
fn data_extents(file: &std::fs::File, len: u64) -> Option<Vec<(u64, u64)>> {
    use rustix::fs::{SeekFrom, seek};
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        let data = match seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            // No data after `pos`: the rest is a hole.
            Err(rustix::io::Errno::NXIO) => break,
            Err(_) => return None,
        };
        let hole = seek(file, SeekFrom::Hole(data)).ok()?.min(len);
        if hole <= data || out.len() >= MAX_EXTENTS {
            return None;
        }
        out.push((data, hole - data));
        pos = hole;
    }
    Some(out)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "macos"
)))]
fn data_extents(_file: &std::fs::File, _len: u64) -> Option<Vec<(u64, u64)>> {
    None
}

/// What a path that is not a regular file is, with what to do (`None`: a regular file).
fn not_a_file(t: &std::fs::FileType) -> Option<String> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some(
            "is a directory, not a dump file (give the MEMORY.DMP or image inside it)".into(),
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some(
                "is a named pipe (FIFO), not a file: pooldbg maps the dump and needs a regular \
                 file (write the stream to a file first)"
                    .into(),
            );
        }
        if t.is_char_device() {
            return Some(
                "is a character device (such as /dev/zero or /dev/mem), not a dump file".into(),
            );
        }
        if t.is_block_device() {
            return Some("is a block device, not a dump file (image it to a file first)".into());
        }
        if t.is_socket() {
            return Some("is a socket, not a dump file".into());
        }
    }
    Some("is not a regular file".into())
}

/// A container format that holds a dump rather than being one, by its magic bytes at offset 0
/// (the formats' own specifications: gzip RFC 1952 `1f 8b 08`; zip APPNOTE `PK 03 04`; 7-Zip
/// `7z BC AF 27 1C`; Microsoft CAB `MSCF`; xz `FD 37 7A 58 5A 00`; bzip2 `BZh` + level 1-9;
/// zstd frame `28 B5 2F FD`). A physical memory image starts with page 0, the real-mode
/// interrupt vector table on a PC, which none of these are.
fn archive_magic(data: &[u8]) -> Option<&'static str> {
    const MAGICS: &[(&[u8], &str)] = &[
        (b"\x1f\x8b\x08", "gzip data: decompress it first (gunzip)"),
        (
            b"PK\x03\x04",
            "a zip archive: extract the dump from it first",
        ),
        (
            b"7z\xbc\xaf\x27\x1c",
            "a 7-Zip archive: extract the dump from it first",
        ),
        (
            b"MSCF\0\0\0\0",
            "a Microsoft cabinet (.cab): extract the dump from it first (expand)",
        ),
        (b"\xfd7zXZ\0", "xz data: decompress it first (unxz)"),
        (
            b"\x28\xb5\x2f\xfd",
            "zstd data: decompress it first (unzstd)",
        ),
    ];
    for (magic, what) in MAGICS {
        if data.starts_with(magic) {
            return Some(what);
        }
    }
    if data.len() >= 4 && data.starts_with(b"BZh") && (b'1'..=b'9').contains(&data[3]) {
        return Some("bzip2 data: decompress it first (bunzip2)");
    }
    None
}

fn parse_raw(data: &[u8]) -> Result<Parsed, DumpError> {
    if data.is_empty() {
        return Err(DumpError::TooShort {
            offset: 0,
            what: "raw physical image (at least one byte)",
            needed: 1,
            len: 0,
        });
    }
    let len = data.len() as u64;
    Ok(Parsed {
        kind: DumpKind::Raw,
        header: None,
        map: PageMap::Segments(vec![Segment {
            pa: 0,
            len,
            file_offset: 0,
        }]),
        triage: None,
        layout_end: len,
        present_pages: len.div_ceil(PAGE_SIZE),
        warnings: Vec::new(),
    })
}

/// Checks a layout end against the file and the header's declared size: truncation is allowed
/// (permissive) unless the layout also exceeds `RequiredDumpSpace`, or `strict` is set.
fn check_end(
    data: &[u8],
    hdr: &HeaderInfo,
    end: u64,
    offset: u64,
    what: &'static str,
    options: OpenOptions,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let len = data.len() as u64;
    if end <= len {
        return Ok(());
    }
    if options.strict {
        return Err(DumpError::PastEnd {
            offset,
            what,
            end,
            limit: format!("the file has {len:#x} bytes (strict open)"),
        });
    }
    if let Some(req) = hdr.required_dump_space
        && end > req
        && req >= header_size_of(hdr)
    {
        return Err(DumpError::PastEnd {
            offset,
            what,
            end,
            limit: format!(
                "beyond both the file ({len:#x} bytes) and RequiredDumpSpace ({req:#x}) at offset {:#x}",
                header::required_offset()
            ),
        });
    }
    warnings.push(Warning {
        offset: Some(len),
        message: format!(
            "the dump is truncated: {:#x} bytes are missing (the layout needs {end:#x}, the file has {len:#x})",
            end - len
        ),
    });
    Ok(())
}

fn header_size_of(hdr: &HeaderInfo) -> u64 {
    hdr.header_size()
}

fn parse_crash(data: &[u8], bitness: Bitness, options: OpenOptions) -> Result<Parsed, DumpError> {
    let hdr = header::parse(data, bitness)?;
    let b = Bytes(data);
    let hsize = hdr.header_size();
    let mut warnings = Vec::new();
    let sub_sig = data.get(hsize as usize..hsize as usize + 4);
    let rdmp = data.get(hsize as usize + 4..hsize as usize + 8) == Some(b"RDMP");
    let dt_off = header::dump_type_offset(bitness);

    let mut p = Parsed {
        kind: DumpKind::HeaderOnly,
        header: None,
        map: PageMap::Empty,
        triage: None,
        layout_end: hsize,
        present_pages: 0,
        warnings: Vec::new(),
    };
    match (hdr.dump_type, sub_sig) {
        (DumpType::Full, _) => parse_runs(data, &hdr, options, &mut p, &mut warnings)?,
        (DumpType::Triage, _) => {
            if bitness == Bitness::Bits64 {
                let t = triage::parse64(data, hsize, hdr.kd_debugger_data_block, &mut warnings)?;
                if let Some((o, s)) = t.debugger_data {
                    let tag = b.slice(o + 0x10, 4, "KDBG OwnerTag").ok();
                    if s < 0x18 || tag != Some(b"KDBG") {
                        warnings.push(Warning::at(
                            o,
                            "the KDBG copy's OwnerTag is not \"KDBG\" (encoded or damaged)".into(),
                        ));
                    }
                }
                p.triage = Some(t);
            } else {
                warnings.push(Warning::at(
                    hsize,
                    "32-bit triage header not parsed: header fields only".into(),
                ));
            }
            p.kind = DumpKind::Triage;
            p.layout_end = hsize;
        }
        (DumpType::Header, _) => {}
        (DumpType::Summary, Some(b"SDMP")) => {
            parse_summary(data, &hdr, options, &mut p, &mut warnings)?
        }
        (_, Some(sig)) if sig == b"SDMP" || sig == b"FDMP" => {
            parse_bitmap(data, &hdr, sig == b"FDMP", options, &mut p, &mut warnings)?
        }
        (_, Some(_)) if rdmp && bitness == Bitness::Bits64 => {
            parse_rdmp(data, &hdr, options, &mut p, &mut warnings)?
        }
        (DumpType::Summary, Some(sig)) => {
            return Err(DumpError::BadSignature {
                offset: hsize,
                expected: "\"SDMP\" summary header (DUMP_SUMMARY_SIGNATURE)",
                found: ascii(sig),
            });
        }
        (dt, sig) => {
            let expected = match dt {
                DumpType::BitmapFull | DumpType::BitmapKernel => {
                    Some("\"SDMP\" or \"FDMP\" bitmap header")
                }
                DumpType::RangeKernel | DumpType::RangeKernelAndUser | DumpType::RangeComplete => {
                    Some("\"RDMP\" range header")
                }
                _ => None,
            };
            return Err(match (expected, sig) {
                (Some(expected), Some(sig)) => DumpError::BadSignature {
                    offset: hsize,
                    expected,
                    found: ascii(sig),
                },
                (Some(expected), None) => DumpError::TooShort {
                    offset: hsize,
                    what: expected,
                    needed: 8,
                    len: data.len() as u64,
                },
                (None, _) => DumpError::Unsupported {
                    offset: dt_off,
                    what: format!("DumpType {:#x} with no recognised second header", dt.raw()),
                },
            });
        }
    }
    warnings.append(&mut p.warnings);
    p.warnings = warnings;
    p.header = Some(hdr);
    Ok(p)
}

/// DumpType 1: `PHYSICAL_MEMORY_DESCRIPTOR32/64` in the header; pages follow the header run after run.
fn parse_runs(
    data: &[u8],
    hdr: &HeaderInfo,
    options: OpenOptions,
    p: &mut Parsed,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let b = Bytes(data);
    let base = header::run_table_offset(hdr.bitness);
    let what = "PHYSICAL_MEMORY_DESCRIPTOR";
    let wide = hdr.bitness == Bitness::Bits64;
    let (runs_at, entry, max_runs) = if wide { (0x10, 16, 42) } else { (8, 8, 86) };
    let n = b.u32(base, what)?;
    if n == header::PAGE_PATTERN_U32 || n > max_runs {
        return Err(DumpError::BadField {
            offset: base,
            field: "PhysicalMemoryBlock.NumberOfRuns",
            found: n.into(),
            expected: format!(
                "at most {max_runs} runs (a \"PAGE\"-filled descriptor means this is not a full dump)"
            ),
        });
    }
    let declared_pages = if wide {
        b.u64(base + 8, what)?
    } else {
        u64::from(b.u32(base + 4, what)?)
    };
    let mut runs = Vec::with_capacity(n as usize);
    let mut file_off = hdr.header_size();
    let mut total = 0u64;
    for i in 0..u64::from(n) {
        let e = base + runs_at + i * entry;
        let (bp, pc) = if wide {
            (b.u64(e, what)?, b.u64(e + 8, what)?)
        } else {
            (u64::from(b.u32(e, what)?), u64::from(b.u32(e + 4, what)?))
        };
        let end_pfn = bp.checked_add(pc).filter(|&x| x <= MAX_PFN);
        let Some(end_pfn) = end_pfn else {
            return Err(DumpError::BadField {
                offset: e,
                field: "PHYSICAL_MEMORY_RUN (BasePage + PageCount)",
                found: bp,
                expected: format!("a run ending below PFN {MAX_PFN:#x}"),
            });
        };
        let _ = end_pfn;
        if pc == 0 {
            continue;
        }
        let len = pc << PAGE_SHIFT;
        let run_end = file_off.checked_add(len).ok_or(DumpError::BadField {
            offset: e,
            field: "PHYSICAL_MEMORY_RUN.PageCount",
            found: pc,
            expected: "runs whose pages fit in a 64-bit file".into(),
        })?;
        check_end(
            data,
            hdr,
            run_end,
            e,
            "physical memory run",
            options,
            warnings,
        )?;
        runs.push(Run {
            base_pfn: bp,
            pages: pc,
            file_offset: file_off,
        });
        file_off = run_end;
        total += pc;
    }
    if total != declared_pages {
        warnings.push(Warning::at(
            base + if wide { 8 } else { 4 },
            format!("NumberOfPages is {declared_pages:#x} but the runs hold {total:#x} pages"),
        ));
    }
    let limit_pfn = finish_runs(&mut runs, base)?;
    p.kind = DumpKind::Full;
    p.layout_end = file_off;
    p.present_pages = total;
    p.map = PageMap::Runs { runs, limit_pfn };
    Ok(())
}

/// Sorts runs by PFN, rejects overlaps, and returns one past the highest PFN.
fn finish_runs(runs: &mut [Run], table_offset: u64) -> Result<u64, DumpError> {
    runs.sort_by_key(|r| r.base_pfn);
    for w in runs.windows(2) {
        if w[0].base_pfn + w[0].pages > w[1].base_pfn {
            return Err(DumpError::BadField {
                offset: table_offset,
                field: "page runs",
                found: w[1].base_pfn,
                expected: format!(
                    "runs that do not overlap (PFN {:#x} is in two runs)",
                    w[1].base_pfn
                ),
            });
        }
    }
    Ok(runs.last().map_or(0, |r| r.base_pfn + r.pages))
}

/// DumpType 5/6: `SDMP`/`FDMP` at the end of the primary header (docs/DUMP_FORMATS.md §1.3).
fn parse_bitmap(
    data: &[u8],
    hdr: &HeaderInfo,
    full: bool,
    options: OpenOptions,
    p: &mut Parsed,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let b = Bytes(data);
    let sub = hdr.header_size();
    let what = "bitmap dump header (SDMP/FDMP)";
    b.need(sub, 0x38, what)?;
    if b.slice(sub + 4, 4, what)? != b"DUMP" {
        warnings.push(Warning::at(
            sub + 4,
            "bitmap header ValidDump is not \"DUMP\"".into(),
        ));
    }
    let first_page = b.u64(sub + 0x20, what)?;
    let declared_present = b.u64(sub + 0x28, what)?;
    let bits = b.u64(sub + 0x30, what)?;
    let bitmap_off = sub + 0x38;
    index_bitmap(
        data,
        hdr,
        bitmap_off,
        bits,
        sub + 0x30,
        first_page,
        sub + 0x20,
        declared_present,
        sub + 0x28,
        options,
        p,
        warnings,
    )?;
    p.kind = DumpKind::Bitmap { full };
    Ok(())
}

/// DumpType 2: the pre-Windows 8 `SUMMARY_DUMP32/64` (ntiodump.h; docs/DUMP_FORMATS.md §1.4).
fn parse_summary(
    data: &[u8],
    hdr: &HeaderInfo,
    options: OpenOptions,
    p: &mut Parsed,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let b = Bytes(data);
    let sub = hdr.header_size();
    let what = "SUMMARY_DUMP header";
    let bitmap_off = sub
        + match hdr.bitness {
            Bitness::Bits32 => 0x20,
            Bitness::Bits64 => 0x28,
        };
    b.need(sub, bitmap_off - sub, what)?;
    let first_page = u64::from(b.u32(sub + 0xc, what)?);
    let bits = u64::from(b.u32(sub + 0x10, what)?);
    let declared_present = u64::from(b.u32(sub + 0x14, what)?);
    index_bitmap(
        data,
        hdr,
        bitmap_off,
        bits,
        sub + 0x10,
        first_page,
        sub + 0xc,
        declared_present,
        sub + 0x14,
        options,
        p,
        warnings,
    )?;
    p.kind = DumpKind::Summary;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn index_bitmap(
    data: &[u8],
    hdr: &HeaderInfo,
    bitmap_off: u64,
    bits: u64,
    bits_field: u64,
    first_page: u64,
    first_page_field: u64,
    declared_present: u64,
    present_field: u64,
    options: OpenOptions,
    p: &mut Parsed,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let len = data.len() as u64;
    let bitmap_end = bitmap_off.saturating_add(bits.div_ceil(8));
    if bitmap_end > len || bits > MAX_PFN {
        return Err(DumpError::PastEnd {
            offset: bits_field,
            what: "bitmap (its bit count)",
            end: bitmap_end,
            limit: format!("the file has {len:#x} bytes"),
        });
    }
    if first_page < bitmap_end {
        return Err(DumpError::BadField {
            offset: first_page_field,
            field: "FirstPage",
            found: first_page,
            expected: format!("a page offset at or after the bitmap's end ({bitmap_end:#x})"),
        });
    }
    if !first_page.is_multiple_of(PAGE_SIZE) {
        warnings.push(Warning::at(
            first_page_field,
            format!("FirstPage {first_page:#x} is not page-aligned"),
        ));
    }
    let ix = BitmapIndex::build(data, bitmap_off as usize, bits, first_page);
    if ix.present != declared_present {
        warnings.push(Warning::at(
            present_field,
            format!(
                "the header says {declared_present:#x} pages are present, the bitmap has {:#x}",
                ix.present
            ),
        ));
    }
    let end = ix
        .present
        .checked_mul(PAGE_SIZE)
        .and_then(|x| x.checked_add(first_page))
        .ok_or(DumpError::BadField {
            offset: first_page_field,
            field: "FirstPage",
            found: first_page,
            expected: "pages that fit in a 64-bit file".into(),
        })?;
    check_end(
        data,
        hdr,
        end,
        first_page_field,
        "bitmap pages",
        options,
        warnings,
    )?;
    p.layout_end = end;
    p.present_pages = ix.present;
    p.map = PageMap::Bitmap(ix);
    Ok(())
}

/// DumpType 8/9/0xA: `RDMP` (docs/DUMP_FORMATS.md §1.5; kdmp-parser-rs `kernel_physmem`).
fn parse_rdmp(
    data: &[u8],
    hdr: &HeaderInfo,
    options: OpenOptions,
    p: &mut Parsed,
    warnings: &mut Vec<Warning>,
) -> Result<(), DumpError> {
    let b = Bytes(data);
    let sub = hdr.header_size();
    let what = "RDMP header";
    b.need(sub, 0x30, what)?;
    let marker = b.u32(sub, what)?;
    if marker != 0x40 {
        warnings.push(Warning::at(
            sub,
            format!("RDMP marker is {marker:#x}, expected 0x40"),
        ));
    }
    let metadata_size = b.u64(sub + 0x10, what)?;
    let first_page = b.u64(sub + 0x18, what)?;
    if first_page == 0 || metadata_size == 0 || metadata_size % 16 != 0 {
        return Err(DumpError::BadField {
            offset: sub + 0x10,
            field: "MetadataSize",
            found: metadata_size,
            expected: "a non-zero multiple of 16 and a non-zero FirstPageOffset".into(),
        });
    }
    if metadata_size.wrapping_sub(0x20) != first_page.wrapping_sub(sub + 0x40) {
        warnings.push(Warning::at(
            sub + 0x10,
            "MetadataSize and FirstPageOffset disagree (MetadataSize - 0x20 != FirstPageOffset - 0x2040)"
                .into(),
        ));
    }
    let complete = hdr.dump_type == DumpType::RangeComplete;
    let total_pages = if complete {
        Some(b.u64(sub + 0x28, what)?)
    } else {
        None
    };
    let entries = metadata_size / 16;
    let mut runs = Vec::new();
    let mut file_off = first_page;
    let mut count = 0u64;
    for i in 0..entries {
        if let Some(t) = total_pages {
            // A complete range dump is bounded by its page total: MetadataSize overstates the
            // ranges (kdmp-parser issue #27).
            if count >= t {
                break;
            }
        }
        let e = sub + 0x30 + i * 16;
        if e + 16 > data.len() as u64 && !runs.is_empty() {
            warnings.push(Warning::at(
                e,
                "the range table runs past the end of the file; ranges after it are ignored".into(),
            ));
            break;
        }
        let pfn = b.u64(e, "RDMP PFN range")?;
        let pages = b.u64(e + 8, "RDMP PFN range")?;
        if pfn == 0 {
            break;
        }
        if pfn.checked_add(pages).is_none_or(|x| x > MAX_PFN) {
            return Err(DumpError::BadField {
                offset: e,
                field: "RDMP PFN range",
                found: pfn,
                expected: format!("a range ending below PFN {MAX_PFN:#x}"),
            });
        }
        let pages = match total_pages {
            Some(t) => pages.min(t - count),
            None => pages,
        };
        if pages == 0 {
            continue;
        }
        let run_end = file_off
            .checked_add(pages << PAGE_SHIFT)
            .ok_or(DumpError::BadField {
                offset: e + 8,
                field: "RDMP NumberOfPages",
                found: pages,
                expected: "pages that fit in a 64-bit file".into(),
            })?;
        check_end(data, hdr, run_end, e, "RDMP page range", options, warnings)?;
        runs.push(Run {
            base_pfn: pfn,
            pages,
            file_offset: file_off,
        });
        file_off = run_end;
        count += pages;
    }
    let limit_pfn = finish_runs(&mut runs, sub + 0x30)?;
    p.kind = DumpKind::Range;
    p.layout_end = file_off;
    p.present_pages = count;
    p.map = PageMap::Runs { runs, limit_pfn };
    Ok(())
}

/// An ELF core: `PT_LOAD` segments, by `p_paddr`, are physical memory.
fn parse_elf(data: &[u8], options: OpenOptions) -> Result<Parsed, DumpError> {
    use goblin::container::{Container, Ctx};
    use goblin::elf::program_header::{PT_LOAD, ProgramHeader};
    let elf_err = |offset: u64, what: String| DumpError::Elf { offset, what };
    let h =
        goblin::elf::Elf::parse_header(data).map_err(|e| elf_err(0, format!("ELF header: {e}")))?;
    if h.e_type != goblin::elf::header::ET_CORE {
        return Err(DumpError::BadField {
            offset: 0x10,
            field: "e_type",
            found: h.e_type.into(),
            expected: "ET_CORE (4): a core file".into(),
        });
    }
    let container = h
        .container()
        .map_err(|e| elf_err(4, format!("EI_CLASS: {e}")))?;
    let endian = h
        .endianness()
        .map_err(|e| elf_err(5, format!("EI_DATA: {e}")))?;
    let phoff = usize::try_from(h.e_phoff).map_err(|_| elf_err(0, "e_phoff too large".into()))?;
    let phoff_field = if container == Container::Big {
        0x20
    } else {
        0x1c
    };
    let phdrs = ProgramHeader::parse(
        data,
        phoff,
        usize::from(h.e_phnum),
        Ctx::new(container, endian),
    )
    .map_err(|e| elf_err(phoff_field, format!("program headers at {phoff:#x}: {e}")))?;
    let len = data.len() as u64;
    let mut warnings = Vec::new();
    let loads: Vec<(usize, &ProgramHeader)> = phdrs
        .iter()
        .enumerate()
        .filter(|(_, ph)| ph.p_type == PT_LOAD && ph.p_filesz > 0)
        .collect();
    let use_vaddr = loads.len() > 1 && loads.iter().all(|(_, ph)| ph.p_paddr == 0);
    if use_vaddr {
        warnings.push(Warning {
            offset: Some(h.e_phoff),
            message: "every PT_LOAD has p_paddr 0: using p_vaddr as the physical address".into(),
        });
    }
    let mut segs = Vec::with_capacity(loads.len());
    let mut layout_end = 0u64;
    for &(i, ph) in &loads {
        let at = h.e_phoff + i as u64 * u64::from(h.e_phentsize);
        let pa = if use_vaddr { ph.p_vaddr } else { ph.p_paddr };
        let end = ph.p_offset.checked_add(ph.p_filesz);
        let Some(end) = end.filter(|_| pa.checked_add(ph.p_filesz).is_some()) else {
            return Err(elf_err(at, "PT_LOAD offset or size overflows".into()));
        };
        if end > len {
            if options.strict {
                return Err(DumpError::PastEnd {
                    offset: at,
                    what: "PT_LOAD segment",
                    end,
                    limit: format!("the file has {len:#x} bytes (strict open)"),
                });
            }
            warnings.push(Warning::at(
                at,
                format!("PT_LOAD segment ends at {end:#x}, past the end of the file ({len:#x})"),
            ));
        }
        layout_end = layout_end.max(end);
        segs.push(Segment {
            pa,
            len: ph.p_filesz,
            file_offset: ph.p_offset,
        });
    }
    segs.sort_by_key(|s| s.pa);
    for w in segs.windows(2) {
        if w[0].pa + w[0].len > w[1].pa {
            return Err(elf_err(
                h.e_phoff,
                format!(
                    "PT_LOAD segments overlap at physical address {:#x}",
                    w[1].pa
                ),
            ));
        }
    }
    let present = segs.iter().map(|s| s.len.div_ceil(PAGE_SIZE)).sum();
    Ok(Parsed {
        kind: DumpKind::ElfCore,
        header: None,
        map: PageMap::Segments(segs),
        triage: None,
        layout_end,
        present_pages: present,
        warnings,
    })
}

#[cfg(test)]
mod issue21_tests {
    use super::*;

    #[test]
    fn archives_say_what_they_are() {
        for (bytes, what) in [
            (&b"\x1f\x8b\x08\0rest"[..], "gzip data: decompress it first"),
            (b"PK\x03\x04rest", "zip archive"),
            (b"7z\xbc\xaf\x27\x1crest", "7-Zip"),
            (b"MSCF\0\0\0\0rest", "cabinet"),
            (b"\xfd7zXZ\0rest", "xz data"),
            (b"BZh9rest", "bzip2 data"),
            (b"\x28\xb5\x2f\xfdrest", "zstd data"),
        ] {
            let e = Dump::from_vec(bytes.to_vec()).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
            assert!(e.contains("offset 0x0"), "{e}");
        }
        // Forced raw reads it as it is; a near miss is a raw image.
        assert!(
            Dump::from_vec_with(
                b"PK\x03\x04".to_vec(),
                OpenOptions::default().force(ForceContainer::Raw)
            )
            .is_ok()
        );
        assert!(Dump::from_vec(b"BZhx".to_vec()).is_ok());
    }

    #[test]
    fn not_a_file_is_said_before_opening() {
        let dir = std::env::temp_dir();
        let e = Dump::open(&dir).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        #[cfg(unix)]
        {
            let e = Dump::open("/dev/null").unwrap_err().to_string();
            assert!(e.contains("character device"), "{e}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_sparse_file_is_scanned_where_it_holds_data() {
        use std::io::{Seek, SeekFrom, Write};
        let path = std::env::temp_dir().join(format!("dumpfile-sparse-{}.raw", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&[0x11; 0x1000]).unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(&[0x22; 0x1000]).unwrap();
        f.set_len(1 << 30).unwrap();
        drop(f);
        let d = Dump::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(d.physical_ranges(), vec![(0, 1 << 30)]);
        match d.file_data_extents() {
            // A file system that stores holes: only the two written stretches are scanned
            // (each rounded to the file system's block).
            Some(e) if e.len() >= 2 => {
                let total: u64 = d.scan_ranges().iter().map(|r| r.1).sum();
                assert!(total < 4 << 20, "{:?}", d.scan_ranges());
                assert_eq!(d.scan_ranges()[0].0, 0);
            }
            // One that does not (or no SEEK_DATA): the whole file, as before.
            _ => assert_eq!(d.scan_ranges(), d.physical_ranges()),
        }
        d.release_scanned();
    }
}
