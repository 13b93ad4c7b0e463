//! The safe view of a dump that commands work against.

use plugin_abi as abi;

/// Which source answered a symbol, type or field lookup. Output states it, so a user knows when a
/// figure rests on a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The user's PDB or ISF symbols.
    UserSymbols,
    /// The profile embedded in pooldbg for this kernel build.
    EmbeddedProfile,
    /// The dump's kernel debugger data block.
    Kdbg,
    /// A documented heuristic or a neighbouring build: a guess.
    Guessed,
    /// Found without symbols: located by a search of the dump's own data and kept because the
    /// structure it leads to validated (docs/NO_SYMBOLS.md). Not named by any symbol, so not
    /// exact, but checked: stronger than [`Source::Guessed`].
    Found,
}

impl Source {
    /// The ABI code (`SOURCE_*`).
    pub fn to_abi(self) -> u32 {
        match self {
            Source::UserSymbols => abi::SOURCE_USER_SYMBOLS,
            Source::EmbeddedProfile => abi::SOURCE_EMBEDDED_PROFILE,
            Source::Kdbg => abi::SOURCE_KDBG,
            Source::Guessed => abi::SOURCE_GUESSED,
            Source::Found => abi::SOURCE_FOUND,
        }
    }

    /// From an ABI code; `None` for [`abi::SOURCE_NONE`] and unknown codes (a lookup that answered
    /// with a code appended after this SDK was built is read as [`Source::Guessed`] by the
    /// host-backed target, as the ABI asks).
    pub fn from_abi(code: u32) -> Option<Source> {
        match code {
            abi::SOURCE_USER_SYMBOLS => Some(Source::UserSymbols),
            abi::SOURCE_EMBEDDED_PROFILE => Some(Source::EmbeddedProfile),
            abi::SOURCE_KDBG => Some(Source::Kdbg),
            abi::SOURCE_GUESSED => Some(Source::Guessed),
            abi::SOURCE_FOUND => Some(Source::Found),
            _ => None,
        }
    }

    /// A short name for output: `"user symbols"`, `"embedded profile"`, `"kdbg"`, `"guessed"`,
    /// `"found without symbols"`.
    pub fn name(self) -> &'static str {
        match self {
            Source::UserSymbols => "user symbols",
            Source::EmbeddedProfile => "embedded profile",
            Source::Kdbg => "kdbg",
            Source::Guessed => "guessed",
            Source::Found => "found without symbols",
        }
    }

    /// Does a symbol (the user's, the embedded profile's, or the KDBG's) name this answer? `false`
    /// for a guess and for an answer found without symbols: output names such sources
    /// (docs/CONTRACT.md, the `symbols:` line).
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            Source::UserSymbols | Source::EmbeddedProfile | Source::Kdbg
        )
    }
}

/// A value together with the source that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// The bit range of a bit field inside the unit at its byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitRange {
    /// Lowest bit.
    pub position: u32,
    /// Length in bits (at least 1).
    pub length: u32,
}

/// Where a field sits in its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldOffset {
    /// Byte offset from the start of the type.
    pub offset: u64,
    /// For a bit field, its bits in the unit at `offset`.
    pub bits: Option<BitRange>,
    /// Where the answer came from.
    pub source: Source,
}

/// The outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStatus {
    /// Every byte was read.
    Ok,
    /// The dump does not hold the page.
    NotInDump,
    /// The address is not mapped (or outside physical memory).
    NotMapped,
    /// The page is in a page file.
    PagedOut {
        /// The page file's number.
        pagefile: u32,
        /// Byte offset in the page file.
        offset: u64,
    },
    /// Any other failure.
    Error,
}

impl ReadStatus {
    /// The ABI's `READ_*` code, page-file number and offset.
    pub fn to_abi(self) -> (u32, u32, u64) {
        match self {
            ReadStatus::Ok => (abi::READ_OK, 0, 0),
            ReadStatus::NotInDump => (abi::READ_NOT_IN_DUMP, 0, 0),
            ReadStatus::NotMapped => (abi::READ_NOT_MAPPED, 0, 0),
            ReadStatus::PagedOut { pagefile, offset } => (abi::READ_PAGED_OUT, pagefile, offset),
            ReadStatus::Error => (abi::READ_ERROR, 0, 0),
        }
    }

    /// From the ABI's fields; unknown codes are [`ReadStatus::Error`].
    pub fn from_abi(code: u32, pagefile: u32, offset: u64) -> ReadStatus {
        match code {
            abi::READ_OK => ReadStatus::Ok,
            abi::READ_NOT_IN_DUMP => ReadStatus::NotInDump,
            abi::READ_NOT_MAPPED => ReadStatus::NotMapped,
            abi::READ_PAGED_OUT => ReadStatus::PagedOut { pagefile, offset },
            _ => ReadStatus::Error,
        }
    }
}

impl std::fmt::Display for ReadStatus {
    /// The wording of the output contract: `not mapped`, `paged out (page file N, offset 0x…)`, …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadStatus::Ok => f.write_str("ok"),
            ReadStatus::NotInDump => f.write_str("not in dump"),
            ReadStatus::NotMapped => f.write_str("not mapped"),
            ReadStatus::PagedOut { pagefile, offset } => {
                write!(f, "paged out (page file {pagefile}, offset {offset:#x})")
            }
            ReadStatus::Error => f.write_str("read error"),
        }
    }
}

/// One read of a batch: the caller sets `address` and `buf`; the target fills the rest.
#[derive(Debug)]
pub struct Read<'a> {
    /// Address of the first byte.
    pub address: u64,
    /// Where the bytes go.
    pub buf: &'a mut [u8],
    /// Bytes read from the start of `buf`.
    pub bytes_read: usize,
    /// What happened to the first byte not read ([`ReadStatus::Ok`] when all were).
    pub status: ReadStatus,
    /// The first address not read, when `status` is not `Ok`.
    pub fault_address: u64,
}

impl<'a> Read<'a> {
    /// A read of `buf.len()` bytes at `address`, not yet done (status [`ReadStatus::Error`]).
    pub fn new(address: u64, buf: &'a mut [u8]) -> Self {
        Read {
            address,
            buf,
            bytes_read: 0,
            status: ReadStatus::Error,
            fault_address: address,
        }
    }

    /// Did every byte arrive?
    pub fn is_ok(&self) -> bool {
        self.status == ReadStatus::Ok && self.bytes_read == self.buf.len()
    }

    /// `Ok(())` when every byte arrived, else the error naming the address and the reason.
    pub fn result(&self) -> Result<(), ReadError> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(ReadError {
                address: self.address,
                length: self.buf.len(),
                bytes_read: self.bytes_read,
                fault_address: self.fault_address,
                status: self.status,
            })
        }
    }
}

/// A read that did not deliver every byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadError {
    /// Where the read started.
    pub address: u64,
    /// How many bytes were asked for.
    pub length: usize,
    /// How many arrived.
    pub bytes_read: usize,
    /// The first address not read.
    pub fault_address: u64,
    /// Why.
    pub status: ReadStatus,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read {:#x} bytes at {:#x}: {} at {:#x}",
            self.length, self.address, self.status, self.fault_address
        )
    }
}

impl std::error::Error for ReadError {}

/// The target's architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Arch {
    /// Not known.
    #[default]
    Unknown,
    /// 32-bit x86 without PAE.
    X86,
    /// 32-bit x86 with PAE.
    X86Pae,
    /// x86-64.
    X64,
    /// ARM64.
    Arm64,
}

impl Arch {
    /// The ABI code (`ARCH_*`).
    pub fn to_abi(self) -> u32 {
        match self {
            Arch::Unknown => abi::ARCH_UNKNOWN,
            Arch::X86 => abi::ARCH_X86,
            Arch::X86Pae => abi::ARCH_X86_PAE,
            Arch::X64 => abi::ARCH_X64,
            Arch::Arm64 => abi::ARCH_ARM64,
        }
    }

    /// From an ABI code; unknown codes are [`Arch::Unknown`].
    pub fn from_abi(code: u32) -> Arch {
        match code {
            abi::ARCH_X86 => Arch::X86,
            abi::ARCH_X86_PAE => Arch::X86Pae,
            abi::ARCH_X64 => Arch::X64,
            abi::ARCH_ARM64 => Arch::Arm64,
            _ => Arch::Unknown,
        }
    }

    /// The contract's name: `"x86"`, `"x86-pae"`, `"x64"`, `"arm64"` (`"unknown"`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Unknown => "unknown",
            Arch::X86 => "x86",
            Arch::X86Pae => "x86-pae",
            Arch::X64 => "x64",
            Arch::Arm64 => "arm64",
        }
    }

    /// From the contract's name ([`Arch::name`]; `None` for any other text). The other crates'
    /// architecture enums (`pooldbg_ntkernel::Arch::as_str`, `pooldbg_testkit::Arch::name`) use the
    /// same names, so this converts from them without a dependency:
    ///
    /// ```
    /// use pooldbg_plugin_sdk::Arch;
    /// assert_eq!(Arch::parse("x86-pae"), Some(Arch::X86Pae));
    /// assert_eq!(Arch::parse(Arch::Arm64.name()), Some(Arch::Arm64));
    /// assert_eq!(Arch::parse("mips"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Arch> {
        Some(match name {
            "unknown" => Arch::Unknown,
            "x86" => Arch::X86,
            "x86-pae" => Arch::X86Pae,
            "x64" => Arch::X64,
            "arm64" => Arch::Arm64,
            _ => return None,
        })
    }
}

/// What is known about the target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetInfo {
    /// Architecture.
    pub arch: Arch,
    /// Kernel build number (0 unknown).
    pub build: u32,
    /// Version as `"10.0.19041"` (may be empty).
    pub version: String,
    /// Dump kind as in `info` (`"full"`, `"bitmap kernel"`, `"triage"`, `"raw"`, …).
    pub dump_type: String,
    /// Processor count (0 unknown).
    pub processors: u32,
    /// Kernel image base (0 unknown).
    pub kernel_base: u64,
    /// 4 or 8 (0 unknown).
    pub pointer_size: u32,
}

/// What a pool tag database says about a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    /// Owning binary (`"ntoskrnl.exe"`, `"<unknown>"`, …).
    pub binary: String,
    /// Description.
    pub description: String,
    /// The file or database that answered.
    pub source: String,
}

/// A loaded driver image that holds a pool tag's bytes ([`Target::find_tag_in_images`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHit {
    /// The module's name as the loaded-module list gives it (`"ntfs.sys"`).
    pub module: String,
    /// Occurrences of the tag's four bytes (plain or with the protected bit) in the image.
    pub hits: u64,
}

/// Why [`Target::find_tag_in_images`] has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageSearchError {
    /// The target (or the host a plugin runs in) does not provide the search.
    NotProvided,
    /// The kernel's loaded-module list could not be read.
    NoModuleList,
    /// The tag cannot be searched for: it holds a zero byte or repeats one byte, and would match
    /// padding or fill.
    Unsearchable,
    /// The user cancelled while the images were read.
    Cancelled,
}

impl ImageSearchError {
    /// From a status of the ABI's `find_tag_in_images` entry (not `STATUS_OK`).
    pub fn from_abi(status: u32) -> ImageSearchError {
        match status {
            abi::STATUS_NOT_FOUND => ImageSearchError::NoModuleList,
            abi::STATUS_INVALID_ARGUMENT => ImageSearchError::Unsearchable,
            abi::STATUS_CANCELLED => ImageSearchError::Cancelled,
            _ => ImageSearchError::NotProvided,
        }
    }

    /// The ABI status for this error.
    pub fn to_abi(self) -> u32 {
        match self {
            ImageSearchError::NotProvided => abi::STATUS_UNSUPPORTED,
            ImageSearchError::NoModuleList => abi::STATUS_NOT_FOUND,
            ImageSearchError::Unsearchable => abi::STATUS_INVALID_ARGUMENT,
            ImageSearchError::Cancelled => abi::STATUS_CANCELLED,
        }
    }
}

impl std::fmt::Display for ImageSearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageSearchError::NotProvided => "the host does not search driver images",
            ImageSearchError::NoModuleList => "the loaded-module list could not be read",
            ImageSearchError::Unsearchable => {
                "the tag holds a zero byte or one repeated byte: a search would match padding"
            }
            ImageSearchError::Cancelled => "cancelled",
        })
    }
}

impl std::error::Error for ImageSearchError {}

/// Is `tag` worth searching for in images? Not when it holds a zero byte or one byte four times
/// (it would match padding or fill), the rule of `pooltag::find_tag_in_images`.
pub fn tag_is_searchable(tag: [u8; 4]) -> bool {
    !tag.contains(&0) && !tag.iter().all(|&b| b == tag[0])
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogLevel {
    /// An error worked around.
    Error,
    /// Something the user should know.
    Warn,
    /// Progress and facts.
    Info,
    /// Detail.
    Debug,
}

impl LogLevel {
    /// The ABI code (`LOG_*`).
    pub fn to_abi(self) -> u32 {
        match self {
            LogLevel::Error => abi::LOG_ERROR,
            LogLevel::Warn => abi::LOG_WARN,
            LogLevel::Info => abi::LOG_INFO,
            LogLevel::Debug => abi::LOG_DEBUG,
        }
    }

    /// From an ABI code; unknown codes are [`LogLevel::Debug`].
    pub fn from_abi(code: u32) -> LogLevel {
        match code {
            abi::LOG_ERROR => LogLevel::Error,
            abi::LOG_WARN => LogLevel::Warn,
            abi::LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// A dump as commands see it: memory, symbols, types, pool tags.
///
/// The host implements it over a real dump, [`crate::HostTarget`] over the C ABI inside a plugin,
/// and [`crate::MemoryTarget`] in tests. All methods take `&self` and implementations are `Sync`, so
/// a command may read from several threads.
pub trait Target: Sync {
    /// Reads kernel virtual memory: fills each request's bytes and status. Never fails as a whole.
    fn read_virtual(&self, reads: &mut [Read<'_>]);
    /// Reads physical memory, like [`Target::read_virtual`].
    fn read_physical(&self, reads: &mut [Read<'_>]);
    /// A symbol's address (`"nt!PoolTrackTable"` or `"PoolTrackTable"`).
    fn symbol_address(&self, name: &str) -> Option<Sourced<u64>>;
    /// A type's size in bytes (`"_POOL_HEADER"`).
    fn type_size(&self, type_name: &str) -> Option<Sourced<u64>>;
    /// A field's offset; `field` may be a dotted path (`"Header.BlockSize"`).
    fn field_offset(&self, type_name: &str, field: &str) -> Option<FieldOffset>;
    /// Facts about the target.
    fn info(&self) -> TargetInfo;
    /// A pool tag's owner and description; `tag` is the four bytes as in memory.
    fn pool_tag(&self, tag: [u8; 4]) -> Option<TagInfo>;
    /// Writes to the host's log.
    fn log(&self, level: LogLevel, message: &str);
    /// Has the user asked to stop? Long loops should check it now and then.
    fn is_cancelled(&self) -> bool;

    /// Reports the progress of a long command: `done` of `total` units (`total` 0: unknown) of
    /// the work named by `label`. The host may draw a progress bar (on a terminal, text output,
    /// not quiet) or ignore it. Callable from any thread; cheap, but report every few thousand
    /// units rather than every one. The default does nothing.
    fn progress(&self, done: u64, total: u64, label: &str) {
        let _ = (done, total, label);
    }

    /// Which loaded driver images contain `tag` (its four bytes as in memory)? Candidates for the
    /// owner of a tag pooltag.txt does not know, most hits first, then by name; empty when no
    /// image holds it. The default: [`ImageSearchError::NotProvided`].
    fn find_tag_in_images(&self, tag: [u8; 4]) -> Result<Vec<ImageHit>, ImageSearchError> {
        let _ = tag;
        Err(ImageSearchError::NotProvided)
    }

    /// The present pages of the kernel virtual range `[start, end)`, from the page tables (at
    /// most `max_runs` runs per call; resume from [`PresentPages::next`]), so that a scan of a
    /// sparse region costs what is mapped, not its span. `None` when the target cannot tell (no
    /// page tables: a triage dump, an older host): read page by page instead. The default: `None`.
    fn present_pages(&self, start: u64, end: u64, max_runs: usize) -> Option<PresentPages> {
        let _ = (start, end, max_runs);
        None
    }

    /// Hands `visit` the `pages` 4 KiB pages of kernel virtual memory from `start` (rounded down
    /// to a page), in address order, one call each: the page's address and its bytes, or the
    /// [`ReadStatus`] of a page that did not read whole (never [`ReadStatus::Ok`]). The same
    /// answer as [`Target::read_virtual`] of each page, but a target that holds the dump in
    /// memory (a mapped file) may lend each page in place instead of copying it. The default
    /// reads the pages with one [`Target::read_virtual`] call into `scratch` (grown as needed:
    /// keep it between calls) — [`visit_pages_by_reading`].
    fn visit_virtual_pages(
        &self,
        start: u64,
        pages: u64,
        scratch: &mut Vec<u8>,
        visit: &mut PageVisitor<'_>,
    ) {
        visit_pages_by_reading(self, start, pages, scratch, visit)
    }
}

/// What [`Target::visit_virtual_pages`] calls per page: its address, and its bytes or why they
/// did not read.
pub type PageVisitor<'a> = dyn FnMut(u64, Result<&[u8], ReadStatus>) + 'a;

/// The page size [`Target::visit_virtual_pages`] works in.
pub const PAGE_SIZE: u64 = 0x1000;

/// Pages per [`Target::read_virtual`] call of [`visit_pages_by_reading`] (256 KiB of `scratch`).
pub const PAGES_PER_READ: u64 = 64;

/// [`Target::visit_virtual_pages`] by copying: [`Target::read_virtual`] calls of up to
/// `PAGES_PER_READ` (64) 4 KiB reads into `scratch` (grown to at most 256 KiB), then `visit` for
/// each page in order. For targets that override the method and want the copying path for some
/// pages.
pub fn visit_pages_by_reading<T: Target + ?Sized>(
    target: &T,
    start: u64,
    pages: u64,
    scratch: &mut Vec<u8>,
    visit: &mut PageVisitor<'_>,
) {
    let mut at = start & !(PAGE_SIZE - 1);
    let mut left = pages;
    while left > 0 {
        let n = left.min(PAGES_PER_READ);
        let len = (n * PAGE_SIZE) as usize;
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let mut reads: Vec<Read<'_>> = scratch[..len]
            .chunks_mut(PAGE_SIZE as usize)
            .enumerate()
            .map(|(i, c)| Read::new(at.wrapping_add(i as u64 * PAGE_SIZE), c))
            .collect();
        target.read_virtual(&mut reads);
        for r in &reads {
            if r.is_ok() {
                visit(r.address, Ok(r.buf));
            } else if r.status == ReadStatus::Ok {
                // Short without a reason: a read that did not finish.
                visit(r.address, Err(ReadStatus::Error));
            } else {
                visit(r.address, Err(r.status));
            }
        }
        left -= n;
        at = at.wrapping_add(n * PAGE_SIZE);
    }
}

/// How the pages of a walked range were classified (the ABI's [`abi::PageCounts`]).
pub type PageCounts = abi::PageCounts;

/// What [`Target::present_pages`] found in part of a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentPages {
    /// Present stretches `(va, len)`, page-aligned, in address order, adjacent ones merged.
    pub runs: Vec<(u64, u64)>,
    /// How the pages of `[start, next)` were classified.
    pub counts: PageCounts,
    /// Where the walk stopped: the range's end when complete, else where to resume.
    pub next: u64,
}

/// Conveniences over [`Target`] for every implementation.
pub trait TargetExt: Target {
    /// Reads exactly `buf.len()` bytes of virtual memory at `address`.
    fn read_virtual_exact(&self, address: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut reads = [Read::new(address, buf)];
        self.read_virtual(&mut reads);
        reads[0].result()
    }

    /// Reads exactly `buf.len()` bytes of physical memory at `address`.
    fn read_physical_exact(&self, address: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut reads = [Read::new(address, buf)];
        self.read_physical(&mut reads);
        reads[0].result()
    }

    /// A little-endian `u32` of virtual memory.
    fn read_u32(&self, address: u64) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.read_virtual_exact(address, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// A little-endian `u64` of virtual memory.
    fn read_u64(&self, address: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read_virtual_exact(address, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A pointer of virtual memory: 4 bytes when `pointer_size` is 4, else 8.
    fn read_pointer(&self, address: u64, pointer_size: u32) -> Result<u64, ReadError> {
        if pointer_size == 4 {
            self.read_u32(address).map(u64::from)
        } else {
            self.read_u64(address)
        }
    }
}

impl<T: Target + ?Sized> TargetExt for T {}
