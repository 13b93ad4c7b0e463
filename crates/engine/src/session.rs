//! A dump opened for analysis: the glue between the container (`dumpfile`), address translation
//! (`paging`), the kernel model (`ntkernel`) and the tag database (`pooltag`), exposed to commands as
//! a [`plugin_sdk::Target`].
//!
//! The data flows one way: file → physical pages → virtual reads → kernel identity and symbols.
//! Nothing here decodes pool structures; commands do, through the `Target` they are given.
//!
//! ```no_run
//! use pooldbg_engine::session::{Session, SessionOptions};
//! use plugin_sdk::{Target, TargetExt};
//!
//! let session = Session::open("MEMORY.DMP".as_ref(), &SessionOptions::default())?;
//! let info = session.info();
//! println!("{} build {} ({})", info.arch.name(), info.build, session.symbol_source());
//! if let Some(ptt) = session.symbol_address("nt!PoolTrackTable") {
//!     let first = session.read_u64(ptt.value);
//!     println!("PoolTrackTable at {:#x} ({}): {first:x?}", ptt.value, ptt.source.name());
//! }
//! # Ok::<(), pooldbg_engine::session::SessionError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dumpfile::{Dump, DumpKind, PhysicalMemory};
use ntkernel::memory::{FaultKind, ReadFault};
use ntkernel::{Arch as NtArch, DumpFacts, Kernel, SymbolOptions};
use paging::{AddressSpace, Mode, PagingConfig, PteFormat, ReadFailure, TranslateFault};
use plugin_sdk::{
    Arch, FieldOffset, ImageHit, ImageSearchError, LogLevel, Read, ReadStatus, Source, Sourced,
    TagInfo, Target, TargetInfo,
};

/// What the user gave besides the dump.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Where progress goes (a symbol download, long commands' `Target::progress`, the symbol
    /// phase of opening); `None`: nowhere. The pooldbg binary draws a bar on the terminal.
    pub progress: Option<crate::progress::ProgressHandle>,
    /// `--symbols` values, in order (ISF files or folders, PDB files, symbol stores, or WinDbg
    /// symbol-path syntax: `srv*CACHE*URL`, `srv*URL`, `cache*DIR`, `;` between elements).
    pub symbols: Vec<PathBuf>,
    /// `--pooltag` files, in order; they sit over `POOLDBG_POOLTAG`, a WinDbg install and the
    /// embedded database.
    pub pooltag_files: Vec<PathBuf>,
    /// Read `_NT_SYMBOL_PATH`'s local caches too.
    pub use_nt_symbol_path: bool,
    /// Leave the embedded profiles out (to see what the fallbacks do).
    pub no_embedded_profiles: bool,
    /// Report a symbol server's PDB download to [`SessionOptions::progress`].
    pub download_progress: bool,
}

/// Why a dump could not be opened at all. Anything less is a note on an opened session.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionError {
    /// The container could not be read.
    Dump(dumpfile::DumpError),
    /// A `--pooltag` file could not be read.
    PoolTag(String),
    /// A raw or ELF image in which no Windows kernel was found ([`Session::not_windows`]'s
    /// message); only [`crate::open`] refuses such a file.
    NotWindows(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Dump(e) => write!(f, "{e}"),
            SessionError::PoolTag(e) => write!(f, "pooltag: {e}"),
            SessionError::NotWindows(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Dump(e) => Some(e),
            _ => None,
        }
    }
}

/// How virtual addresses are read.
#[derive(Debug)]
enum Virtual {
    /// Through the page tables.
    Paged(AddressSpace<Arc<Dump>>),
    /// A triage dump: only the captured blocks, by virtual address.
    Triage,
    /// No page tables could be found.
    None,
}

/// A dump opened for analysis.
#[derive(Debug)]
pub struct Session {
    path: Option<PathBuf>,
    dump: Arc<Dump>,
    virt: Virtual,
    kernel: Option<Kernel>,
    tags: pooltag::TagLookup,
    notes: Vec<String>,
    /// The notes that change the meaning of every answer (see [`Session::notices`]).
    notices: Vec<String>,
    cancelled: Arc<AtomicBool>,
    progress: Option<crate::progress::ProgressHandle>,
}

/// The x64 kernel range scanned for the kernel image in raw images (Windows places it here).
const X64_KERNEL_SCAN: [(u64, u64, u64); 2] = [
    // Windows 10+: on a 2 MiB boundary anywhere in the first 32 GiB of the range.
    (0xFFFF_F800_0000_0000, 0xFFFF_F808_0000_0000, 0x20_0000),
    // Older x64: page aligned near the start of the range.
    (0xFFFF_F800_0000_0000, 0xFFFF_F800_1000_0000, 0x1000),
];
/// Said (in the notes, so in `info`'s output) for every ARM64 dump.
pub const ARM64_NOTE: &str = "ARM64 kernel: identified from the dump header and the KDBG (info, lm); \
     the pool commands (!vm, !poolused, !pool, !poolfind, !frag) do not cover ARM64 yet";

/// The most physical pages a raw or ELF image's page-table scans look at (4 GiB of data).
pub const SCAN_BUDGET_PAGES: u64 = 1 << 20;

/// The x86 kernel range scanned for raw images.
const X86_KERNEL_SCAN: (u64, u64, u64) = (0x8000_0000, 0xC000_0000, 0x1000);

impl Session {
    /// Opens a dump file (memory-mapped) and identifies its kernel.
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Session, SessionError> {
        let dump = Dump::open(path).map_err(SessionError::Dump)?;
        let mut session = Session::from_dump(dump, options)?;
        session.path = Some(path.to_path_buf());
        Ok(session)
    }

    /// Builds a session over a dump already opened (e.g. `Dump::from_vec` of a testkit image).
    pub fn from_dump(dump: Dump, options: &SessionOptions) -> Result<Session, SessionError> {
        let dump = Arc::new(dump);
        let mut notes: Vec<String> = dump.warnings().iter().map(|w| w.to_string()).collect();
        let mut notices = Vec::new();
        if dump.missing_bytes() > 0 {
            let n = format!(
                "the dump is truncated: {} pages ({} bytes) it describes are not in the file; \
                 answers that need them are incomplete",
                dump.missing_pages(),
                dump.missing_bytes()
            );
            notes.push(n.clone());
            notices.push(n);
        }
        for p in &options.symbols {
            if !p.exists() {
                notices.push(format!("--symbols {}: no such file or folder", p.display()));
            }
        }
        let (tags, tag_notes) = pooltag::TagLookup::load(&pooltag::LoadOptions::standard(
            options.pooltag_files.clone(),
        ))
        .map_err(|e| SessionError::PoolTag(e.to_string()))?;
        notes.extend(tag_notes.into_iter().map(|n| format!("pooltag: {n}")));

        let symbol_options = SymbolOptions {
            paths: options.symbols.clone(),
            nt_symbol_path: if options.use_nt_symbol_path {
                std::env::var("_NT_SYMBOL_PATH").ok()
            } else {
                None
            },
            no_embedded: options.no_embedded_profiles,
            progress: options
                .progress
                .clone()
                .filter(|_| options.download_progress)
                .map(|sink| {
                    ntkernel::target::ProgressHook(Arc::new(move |_url: &str, done, total| {
                        sink.report(done, total.unwrap_or(0), "downloading the kernel's PDB")
                    }))
                }),
            ..Default::default()
        };

        let mut session = Session {
            path: None,
            dump,
            virt: Virtual::None,
            kernel: None,
            tags,
            notes,
            notices,
            cancelled: Arc::new(AtomicBool::new(false)),
            progress: options.progress.clone(),
        };
        let facts = session.initial_facts();
        session.identify(facts, &symbol_options);
        session.symbols_notice(options);
        Ok(session)
    }

    /// Facts from the header, or from scans for raw and ELF images; sets up virtual reads.
    fn initial_facts(&mut self) -> DumpFacts {
        let dump = Arc::clone(&self.dump);
        let kind = dump.kind();
        let mut facts = DumpFacts {
            dump_type: Some(kind.describe().to_string()),
            physical: physical_facts(&dump),
            physical_limit_pfn: physical_limit_pfn(&dump),
            ..Default::default()
        };
        if let Some(h) = dump.header() {
            facts.arch = match Mode::from_header(h) {
                Some(Mode::X86) => Some(NtArch::X86),
                Some(Mode::X86Pae) => Some(NtArch::X86Pae),
                Some(Mode::X64 | Mode::X64La57) => Some(NtArch::X64),
                // ARM64 (MachineImageType 0xAA64, the PE machine value: Microsoft's "PE Format"
                // page; DUMP_HEADER64 keeps it at 0x30). Identified, but its page tables are not
                // walked and no pool layout is known for it (see the note below).
                None if h.machine == Some(dumpfile::header::MACHINE_ARM64) => Some(NtArch::Arm64),
                None => None,
            };
            if facts.arch == Some(NtArch::Arm64) {
                self.notes.push(ARM64_NOTE.into());
            }
            facts.build = h.build;
            facts.dtb = h.directory_table_base;
            facts.kdbg_va = h.kd_debugger_data_block;
            facts.ps_loaded_module_list = h.ps_loaded_module_list;
            facts.pfn_database = h.pfn_database;
            facts.processors = h.processors;
            if let (Some(va), Some(bytes)) = (h.kd_debugger_data_block, dump.kdbg_copy()) {
                facts.kdbg_copy = Some((va, bytes.to_vec()));
            }
            if kind == DumpKind::Triage {
                self.virt = Virtual::Triage;
                return facts;
            }
            if let (Some(mode), Some(dtb)) = (Mode::from_header(h), facts.dtb) {
                let format = default_pte_format(mode, facts.build);
                self.virt = Virtual::Paged(AddressSpace::new(
                    Arc::clone(&dump),
                    PagingConfig::new(mode, dtb).with_format(format),
                ));
            } else if facts.arch == Some(NtArch::Arm64) {
                self.notes.push(
                    "ARM64: pooldbg does not walk ARM64 page tables yet: virtual addresses \
                     cannot be translated"
                        .into(),
                );
            } else {
                self.notes.push(
                    "the dump header gives no DirectoryTableBase or architecture: virtual \
                     addresses cannot be translated"
                        .into(),
                );
            }
            return facts;
        }
        // Raw and ELF images: find the page tables and the kernel by scanning, then give back
        // the pages the scans touched (commands read what they need again).
        self.scan_for_kernel(&mut facts);
        self.dump.release_scanned();
        facts
    }

    fn scan_for_kernel(&mut self, facts: &mut DumpFacts) {
        let phys = ScanPhysical(&self.dump);
        // The scans can match one page (an x86 page directory can look like a PML4): try every
        // candidate and keep the first under which a kernel image is found.
        let candidates: Vec<(Mode, NtArch, u64)> = ntkernel::scan::find_dtb_x64(&phys, 2)
            .iter()
            .take(8)
            .map(|c| (Mode::X64, NtArch::X64, c.dtb))
            .chain(
                ntkernel::scan::find_dtb_x86(&phys)
                    .iter()
                    .take(8)
                    .map(|c| (Mode::X86, NtArch::X86, c.dtb)),
            )
            .chain(
                ntkernel::scan::find_dtb_x86_pae(&phys)
                    .iter()
                    .take(8)
                    .map(|c| (Mode::X86Pae, NtArch::X86Pae, c.dtb)),
            )
            .collect();
        for (mode, arch, dtb) in candidates {
            let space = AddressSpace::new(
                Arc::clone(&self.dump),
                PagingConfig::new(mode, dtb).with_format(default_pte_format(mode, None)),
            );
            let mem = SpaceMemory(&space);
            let ranges: Vec<(u64, u64, u64)> = if matches!(mode, Mode::X86 | Mode::X86Pae) {
                vec![X86_KERNEL_SCAN]
            } else {
                X64_KERNEL_SCAN.to_vec()
            };
            let hit = ranges.iter().find_map(|&(start, end, step)| {
                ntkernel::scan::find_kernel(&mem, start, end, step, 1 << 18)
            });
            if let Some(hit) = hit {
                self.notes.push(format!(
                    "{}: page tables found by their self-map entry (DTB {dtb:#x}), kernel image \
                     found by scanning at {:#x}",
                    self.dump.kind().describe(),
                    hit.base
                ));
                facts.arch = Some(arch);
                facts.dtb = Some(dtb);
                facts.kernel_base = Some(hit.base);
                if let Some(kdbg) = ntkernel::scan::find_kdbg_in_image(&mem, hit.base) {
                    self.notes.push(format!(
                        "KDBG found in clear in the kernel image at {kdbg:#x}"
                    ));
                    facts.kdbg_va = Some(kdbg);
                }
                self.virt = Virtual::Paged(space);
                return;
            }
        }
        self.notes.push(format!(
            "{}: no page tables with a kernel image were found by scanning; only physical \
             reads are possible",
            self.dump.kind().describe()
        ));
    }

    fn identify(&mut self, facts: DumpFacts, symbol_options: &SymbolOptions) {
        // A bar (after a second, cleared when done) while a symbol server may be asked.
        let _progress = self.progress.as_ref().and_then(|p| {
            (symbol_options.progress.is_some()
                && ntkernel::target::symbol_path_elements(symbol_options)
                    .iter()
                    .any(|e| matches!(e, ntkernel::symsrv::PathElement::Server { .. })))
            .then(|| p.phase("symbols"))
        });
        let opened = {
            let mem = self.kernel_memory();
            Kernel::open(&mem, &facts, symbol_options)
        };
        match opened {
            Ok(kernel) => {
                self.notes.extend(kernel.identity.notes.iter().cloned());
                self.notes.extend(kernel.symbol_notes.iter().cloned());
                // Now that symbols are known, use the target's own invalid-PTE layout and its
                // KDBG's PTE base and L1TF bit indexes.
                if let Virtual::Paged(space) = &self.virt {
                    let cfg = refine_paging(*space.config(), &kernel);
                    self.virt = Virtual::Paged(AddressSpace::new(Arc::clone(&self.dump), cfg));
                }
                self.kernel = Some(kernel);
            }
            Err(e) => {
                let n = format!("the kernel could not be identified: {e}");
                self.notes.push(n.clone());
                self.notices.push(n);
            }
        }
    }

    /// `--symbols` paths were given but none of them answered for this kernel: say which kernel
    /// was wanted and what answers instead.
    fn symbols_notice(&mut self, options: &SessionOptions) {
        if options.symbols.is_empty() || !options.symbols.iter().any(|p| p.exists()) {
            return;
        }
        use ntkernel::symbols::Source as S;
        let Some(kernel) = &self.kernel else { return };
        let from_user = kernel
            .symbols
            .sources()
            .any(|s| matches!(s, S::UserIsf(_) | S::UserPdb(_)));
        if from_user {
            return;
        }
        let wanted = kernel
            .identity
            .pdb
            .as_ref()
            .map(|p| format!(" ({} {} {})", p.name, p.guid, p.age))
            .unwrap_or_default();
        self.notices.push(format!(
            "--symbols: nothing there matches this kernel's PDB{wanted}; symbols come from {}",
            kernel.symbol_source()
        ));
    }

    /// What changes the meaning of every answer, printed once before the first text output: a
    /// truncated dump, `--symbols` paths that do not exist or hold nothing for this kernel, a
    /// kernel that could not be identified. The rest of [`Session::notes`] is behind `-v`.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    fn kernel_memory(&self) -> SessionMemory<'_> {
        SessionMemory(self)
    }

    /// The dump's path, when opened from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The container.
    pub fn dump(&self) -> &Dump {
        &self.dump
    }

    /// The address space, when the page tables are known.
    pub fn address_space(&self) -> Option<&AddressSpace<Arc<Dump>>> {
        match &self.virt {
            Virtual::Paged(s) => Some(s),
            _ => None,
        }
    }

    /// Why this file is not a Windows memory image at all, or `None`: a raw or ELF image in which
    /// no page tables with a Windows kernel image were found, described by what its bytes look
    /// like (all zero, random or compressed data). The command line refuses such a file (exit
    /// status 1) rather than answer "unknown" to every command; a crash dump, whose header says
    /// it is Windows, is never refused here.
    pub fn not_windows(&self) -> Option<String> {
        if self.dump.header().is_some() || self.kernel.is_some() {
            return None;
        }
        if matches!(self.virt, Virtual::Paged(_)) {
            return None;
        }
        let what = describe_bytes(self.dump.bytes());
        Some(format!(
            "no Windows kernel found in this {} image: no page tables with a kernel image were \
             found by scanning ({what})",
            self.dump.kind().describe()
        ))
    }

    /// The identified kernel, when it could be identified.
    pub fn kernel(&self) -> Option<&Kernel> {
        self.kernel.as_ref()
    }

    /// The pool's virtual ranges with their sources, and a warning per pool whose range is not
    /// established for this build (`ntkernel::poolva`); all warnings when no kernel was identified.
    pub fn pool_regions(&self) -> ntkernel::poolva::PoolRegions {
        match &self.kernel {
            Some(k) => k.pool_regions(&SessionMemory(self)),
            None => ntkernel::poolva::PoolRegions {
                regions: Vec::new(),
                warnings: vec!["the pool ranges are unknown: the kernel was not identified".into()],
            },
        }
    }

    /// The tag database layers.
    pub fn tags(&self) -> &pooltag::TagLookup {
        &self.tags
    }

    /// What opening the dump noticed: truncation, how the kernel was found, symbol guesses.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The line that says where symbols came from (`embedded profile 10.0.19041.329`, ...).
    pub fn symbol_source(&self) -> String {
        self.kernel
            .as_ref()
            .map(|k| k.symbol_source())
            .unwrap_or_else(|| "none (kernel not identified)".into())
    }

    /// True when every symbol answer comes from a source that names this exact kernel.
    pub fn symbols_exact(&self) -> bool {
        self.kernel
            .as_ref()
            .is_some_and(|k| k.symbols.sources().all(|s| !s.is_guess()))
            && self
                .kernel
                .as_ref()
                .is_some_and(|k| k.identity.pdb.is_some())
    }

    /// The flag a long command polls; set it (e.g. on Ctrl-C) to cancel.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancelled)
    }

    /// Loaded modules: a triage dump's driver list, else `PsLoadedModuleList`.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        if let Some(triage) = self.dump.triage() {
            return triage
                .drivers
                .iter()
                .map(|d| ModuleInfo {
                    name: d.name().to_string(),
                    base: d.base,
                    size: u64::from(d.size),
                    path: d.path.clone(),
                })
                .collect();
        }
        let Some(kernel) = &self.kernel else {
            return Vec::new();
        };
        let mem = self.kernel_memory();
        kernel
            .modules(&mem)
            .map(|list| {
                list.modules
                    .into_iter()
                    .map(|m| ModuleInfo {
                        name: m.name,
                        base: m.base,
                        size: u64::from(m.size),
                        path: m.path,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads virtual memory the way commands see it, with the reason for the first failure.
    fn read_virtual_one(&self, va: u64, buf: &mut [u8]) -> (usize, ReadStatus, u64) {
        let outcome = match &self.virt {
            Virtual::Paged(space) => space.read_virtual(va, buf),
            Virtual::Triage => {
                use paging::VirtualMemory;
                paging::TriageMemory(&self.dump).read_virtual(va, buf)
            }
            Virtual::None => return (0, ReadStatus::NotMapped, va),
        };
        match outcome.first_failure() {
            None => (buf.len(), ReadStatus::Ok, va),
            Some(f) => (
                f.offset,
                status_of(&f.reason),
                va.wrapping_add(f.offset as u64),
            ),
        }
    }
}

/// What a file's bytes look like, from at most 64 samples of 4 KiB spread over it (a sparse
/// file's holes read as zeros without being stored): all zero, random-looking (compressed or
/// encrypted), or "data" otherwise.
fn describe_bytes(bytes: &[u8]) -> String {
    const SAMPLES: usize = 64;
    const SAMPLE: usize = 4096;
    if bytes.is_empty() {
        return "the file is empty".into();
    }
    let step = (bytes.len() / SAMPLES).max(SAMPLE);
    let mut counts = [0u64; 256];
    let mut total = 0u64;
    let mut at = 0usize;
    while at < bytes.len() {
        let end = at.saturating_add(SAMPLE).min(bytes.len());
        for &b in &bytes[at..end] {
            counts[usize::from(b)] += 1;
        }
        total += (end - at) as u64;
        at = at.saturating_add(step);
    }
    if counts[0] == total {
        return "the sampled bytes are all zero".into();
    }
    // Shannon entropy in bits per byte: near 8 for compressed, encrypted or random data; memory
    // images, with their zero pages and code, sit well below.
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum();
    if entropy > 7.5 {
        format!(
            "the bytes look random ({entropy:.2} bits per byte): compressed or encrypted data, \
             not memory"
        )
    } else {
        format!("{entropy:.2} bits per byte; not recognised as memory of a Windows machine")
    }
}

/// One loaded module, as `lm` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// `ntoskrnl.exe`.
    pub name: String,
    /// Image base.
    pub base: u64,
    /// Image size.
    pub size: u64,
    /// Full path, when known.
    pub path: String,
}

/// The invalid-PTE layout to assume before symbols are known (valid entries do not depend on it).
///
/// x64 kernels patched for L1TF (2018; every x64 ISF build in the reference set, Windows 7 SP1
/// .24540 included) keep PageFileLow at bit 12; Server 2003 x64 and earlier keep it at bit 1.
/// Unpatched Windows 7/8 revisions also use bit 1: symbols correct this in [`refine_paging`].
fn default_pte_format(mode: Mode, build: Option<u32>) -> PteFormat {
    match mode {
        Mode::X86 => PteFormat::x86(),
        Mode::X86Pae => PteFormat::x86_pae(),
        Mode::X64 | Mode::X64La57 => match build {
            Some(b) if b < 7600 => PteFormat::x64_before_l1tf(),
            _ => PteFormat::x64(),
        },
    }
}

/// The paging configuration refined with what the kernel's symbols and KDBG say.
fn refine_paging(mut cfg: PagingConfig, kernel: &Kernel) -> PagingConfig {
    if let Some(kdbg) = &kernel.kdbg {
        if let Some(pte_base) = kdbg.field("PteBase").filter(|&b| b != 0) {
            cfg = cfg.with_pte_base(pte_base);
        }
        // KDDEBUGGER_DATA64 +0x2c2/+0x2c3 (19H1+): L1tfHighPhysicalBitIndex, L1tfSwizzleBitIndex
        // (docs/POOL_INTERNALS.md §6.1). Zero on earlier builds: no swizzling.
        let bytes = kdbg.bytes();
        if let (Some(&hi), Some(&sw)) = (bytes.get(0x2c2), bytes.get(0x2c3))
            && kdbg.is_64bit
            && hi != 0
            && sw != 0
        {
            cfg = cfg.with_swizzle(hi, sw);
        }
    }
    if let Some(low) = kernel.symbols.field("_MMPTE_SOFTWARE", "PageFileLow")
        && let Some(bits) = low.value.bits
    {
        let mut format = cfg.format;
        format.page_file_low = paging::Bits::new(bits.position as u8, bits.length as u8);
        cfg = cfg.with_format(format);
    }
    cfg
}

fn status_of(reason: &ReadFailure) -> ReadStatus {
    match reason {
        ReadFailure::Translate(TranslateFault::PagedOut {
            page_file, offset, ..
        }) => ReadStatus::PagedOut {
            pagefile: u32::from(*page_file),
            offset: *offset,
        },
        ReadFailure::Translate(TranslateFault::TableNotInDump { .. })
        | ReadFailure::NotCaptured { .. } => ReadStatus::NotInDump,
        ReadFailure::Translate(_) => ReadStatus::NotMapped,
        ReadFailure::Physical {
            status: dumpfile::ReadStatus::NotInDump | dumpfile::ReadStatus::OutOfRange,
            ..
        } => ReadStatus::NotInDump,
        // Another physical failure (i/o), or one paging learns to name later (ReadFailure is
        // non-exhaustive).
        _ => ReadStatus::Error,
    }
}

fn source_of(source: &ntkernel::symbols::Source) -> Source {
    match source {
        ntkernel::symbols::Source::UserIsf(_) | ntkernel::symbols::Source::UserPdb(_) => {
            Source::UserSymbols
        }
        ntkernel::symbols::Source::Embedded(_) => Source::EmbeddedProfile,
        ntkernel::symbols::Source::Guessed(_) => Source::Guessed,
        // Found without symbols: validated, but not named by symbols (`SOURCE_FOUND`; the notes
        // say where each was found and how it was checked).
        ntkernel::symbols::Source::Found(_) => Source::Found,
        ntkernel::symbols::Source::Kdbg => Source::Kdbg,
        // A source ntkernel adds later answered: a guess until this mapping names it.
        _ => Source::Guessed,
    }
}

/// ntkernel's view of the session's virtual memory.
struct SessionMemory<'a>(&'a Session);

impl ntkernel::memory::KernelMemory for SessionMemory<'_> {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        let (_, status, at) = self.0.read_virtual_one(va, buf);
        fault(status, at)
    }
}

/// ntkernel's view of an address space under trial (raw-image scans).
struct SpaceMemory<'a>(&'a AddressSpace<Arc<Dump>>);

impl ntkernel::memory::KernelMemory for SpaceMemory<'_> {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        let outcome = self.0.read_virtual(va, buf);
        match outcome.first_failure() {
            None => Ok(()),
            Some(f) => fault(status_of(&f.reason), va.wrapping_add(f.offset as u64)),
        }
    }
}

fn fault(status: ReadStatus, address: u64) -> Result<(), ReadFault> {
    let kind = match status {
        ReadStatus::Ok => return Ok(()),
        ReadStatus::NotInDump => FaultKind::NotInDump,
        ReadStatus::NotMapped => FaultKind::NotMapped,
        ReadStatus::PagedOut { .. } => FaultKind::PagedOut,
        _ => FaultKind::Other("read error".into()),
    };
    Err(ReadFault { address, kind })
}

/// ntkernel's view of the dump's physical memory, for scans.
struct ScanPhysical<'a>(&'a Dump);

impl ntkernel::memory::PhysicalMemory for ScanPhysical<'_> {
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        let outcome = self.0.read_physical(pa, buf);
        match outcome.first_failure {
            None => Ok(()),
            Some(off) => Err(ReadFault {
                address: pa.wrapping_add(off as u64),
                kind: FaultKind::NotInDump,
            }),
        }
    }

    fn present_pages(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        // `physical_ranges` gives (address, length). A range may describe far more memory than
        // the file holds (an ELF segment's size is the file's word): the file cannot hold more
        // pages than it has bytes, so the walk stops there (found by the fuzz target
        // pooldbg_session_commands: a 327-byte ELF claimed 2^56 bytes and the scan never ended).
        //
        // The scans' cost is bounded and does not depend on zero or absent pages (issue #21):
        // a sparse file's holes are skipped ([`Dump::scan_ranges`], SEEK_DATA/SEEK_HOLE), and at
        // most [`SCAN_BUDGET_PAGES`] pages are looked at, in ascending physical order: the
        // x64 low stub that holds the boot page tables' DTB lies in the first 1 MiB (memflow-win32
        // `kernel/start_block/x64.rs::find_lowstub` scans only that), so the order reaches the
        // kernel's page tables long before the budget ends.
        let cap = ((self.0.bytes().len() as u64) / 0x1000).min(SCAN_BUDGET_PAGES);
        Box::new(
            self.0
                .scan_ranges()
                .into_iter()
                .flat_map(|(start, len)| {
                    (start / 0x1000)..start.saturating_add(len).div_ceil(0x1000)
                })
                .take(usize::try_from(cap).unwrap_or(usize::MAX)),
        )
    }
}

impl Target for Session {
    fn read_virtual(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            let (n, status, at) = self.read_virtual_one(r.address, r.buf);
            r.bytes_read = n;
            r.status = status;
            r.fault_address = at;
        }
    }

    /// Pages of the mapped dump are lent in place (no copy), sharing the walk of their page
    /// table; a page that does not translate or is not lent is read as `read_virtual` reads it,
    /// for the same status.
    fn visit_virtual_pages(
        &self,
        start: u64,
        pages: u64,
        scratch: &mut Vec<u8>,
        visit: &mut plugin_sdk::PageVisitor<'_>,
    ) {
        let Virtual::Paged(space) = &self.virt else {
            plugin_sdk::visit_pages_by_reading(self, start, pages, scratch, visit);
            return;
        };
        space.visit_pages(start, pages, |va, page| match page {
            Some(page) => visit(va, Ok(page)),
            None => {
                let page_len = plugin_sdk::PAGE_SIZE as usize;
                if scratch.len() < page_len {
                    scratch.resize(page_len, 0);
                }
                let buf = &mut scratch[..page_len];
                match self.read_virtual_one(va, buf) {
                    (n, ReadStatus::Ok, _) if n == page_len => visit(va, Ok(buf)),
                    (_, ReadStatus::Ok, _) => visit(va, Err(ReadStatus::Error)),
                    (_, status, _) => visit(va, Err(status)),
                }
            }
        });
    }

    fn read_physical(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            let outcome = self.dump.read_physical(r.address, r.buf);
            r.bytes_read = outcome.first_failure.unwrap_or(r.buf.len());
            r.fault_address = r.address.wrapping_add(r.bytes_read as u64);
            r.status = match outcome.first_failure {
                None => ReadStatus::Ok,
                Some(_) => match outcome.status {
                    dumpfile::ReadStatus::Io => ReadStatus::Error,
                    _ => ReadStatus::NotInDump,
                },
            };
        }
    }

    fn symbol_address(&self, name: &str) -> Option<Sourced<u64>> {
        let kernel = self.kernel.as_ref()?;
        let name = name.strip_prefix("nt!").unwrap_or(name);
        let answer = kernel.global_va(name)?;
        Some(Sourced {
            value: answer.value,
            source: source_of(&answer.source),
        })
    }

    fn type_size(&self, type_name: &str) -> Option<Sourced<u64>> {
        let answer = self.kernel.as_ref()?.symbols.type_size(type_name)?;
        Some(Sourced {
            value: answer.value,
            source: source_of(&answer.source),
        })
    }

    fn field_offset(&self, type_name: &str, field: &str) -> Option<FieldOffset> {
        let answer = self.kernel.as_ref()?.symbols.field(type_name, field)?;
        Some(FieldOffset {
            offset: answer.value.offset,
            bits: answer.value.bits.map(|b| plugin_sdk::BitRange {
                position: b.position,
                length: b.length,
            }),
            source: source_of(&answer.source),
        })
    }

    fn info(&self) -> TargetInfo {
        let header = self.dump.header();
        let identity = self.kernel.as_ref().map(|k| &k.identity);
        let arch = match identity.map(|i| i.arch) {
            Some(NtArch::X86) => Arch::X86,
            Some(NtArch::X86Pae) => Arch::X86Pae,
            Some(NtArch::X64) => Arch::X64,
            Some(NtArch::Arm64) => Arch::Arm64,
            None => match self.address_space().map(|s| s.config().mode) {
                Some(Mode::X86) => Arch::X86,
                Some(Mode::X86Pae) => Arch::X86Pae,
                Some(Mode::X64 | Mode::X64La57) => Arch::X64,
                None => Arch::Unknown,
            },
        };
        let pointer_size = match arch {
            Arch::X86 | Arch::X86Pae => 4,
            _ => 8,
        };
        TargetInfo {
            arch,
            build: identity
                .and_then(|i| i.build)
                .or(header.and_then(|h| h.build))
                .unwrap_or(0),
            version: identity
                .and_then(|i| i.version_string())
                .unwrap_or_default(),
            dump_type: self.dump.kind().describe().to_string(),
            processors: identity
                .and_then(|i| i.processors)
                .or(header.and_then(|h| h.processors))
                .unwrap_or(0),
            kernel_base: identity.and_then(|i| i.kernel_base).unwrap_or(0),
            pointer_size,
        }
    }

    fn pool_tag(&self, tag: [u8; 4]) -> Option<TagInfo> {
        let answer = self.tags.lookup(pooltag::Tag::from_bytes(tag))?;
        let entry = answer.first();
        let source = answer.source();
        Some(TagInfo {
            binary: entry.binary.clone(),
            description: entry.description.clone(),
            source: match source.path() {
                Some(p) => format!("{} {}", source.kind(), p.display()),
                None => source.kind().to_string(),
            },
        })
    }

    fn log(&self, level: LogLevel, message: &str) {
        if level <= LogLevel::Warn || std::env::var_os("POOLDBG_LOG").is_some() {
            eprintln!("{}: {message}", format!("{level:?}").to_lowercase());
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Feeds [`SessionOptions::progress`], when one was given.
    fn progress(&self, done: u64, total: u64, label: &str) {
        if let Some(p) = &self.progress {
            p.report(done, total, label);
        }
    }

    /// Searches the images of [`Session::modules`], read from the dump (crate::images).
    fn find_tag_in_images(&self, tag: [u8; 4]) -> Result<Vec<ImageHit>, ImageSearchError> {
        let images: Vec<crate::images::Image> = self
            .modules()
            .into_iter()
            .map(|m| crate::images::Image {
                name: m.name,
                base: m.base,
                size: m.size,
            })
            .collect();
        if images.is_empty() {
            return Err(ImageSearchError::NoModuleList);
        }
        crate::images::search(self, &images, tag)
    }

    /// Walks the kernel's page tables over the range (`paging::AddressSpace::present_runs`);
    /// `None` without them (a triage dump, no DTB found).
    fn present_pages(
        &self,
        start: u64,
        end: u64,
        max_runs: usize,
    ) -> Option<plugin_sdk::PresentPages> {
        let space = self.address_space()?;
        let w = space.present_runs(start, end, max_runs);
        let c = w.counts;
        Some(plugin_sdk::PresentPages {
            runs: w.runs.iter().map(|r| (r.va, r.len)).collect(),
            counts: plugin_sdk::PageCounts {
                valid: c.valid,
                transition: c.transition,
                large: c.large,
                paged_out: c.paged_out,
                demand_zero: c.demand_zero,
                prototype: c.prototype,
                absent: c.absent,
                table_not_in_dump: c.table_not_in_dump,
                bad: c.bad,
            },
            next: w.next,
        })
    }
}

/// What the dump says of the machine's physical memory, for checks of globals found without
/// symbols: a complete crash dump's run table is the kernel's `MmPhysicalMemoryBlock` (its page
/// count exact); a raw or ELF image gives only the extent it covers. Other kinds (bitmap, summary,
/// range dumps hold chosen pages only) give nothing.
fn physical_facts(dump: &Dump) -> Option<ntkernel::nosym::PhysicalFacts> {
    let ranges = dump.physical_ranges();
    let end_pfn = ranges
        .iter()
        .map(|&(a, n)| a.saturating_add(n).div_ceil(4096))
        .max()?;
    let pages = match dump.kind() {
        DumpKind::Full => Some(ranges.iter().map(|&(_, n)| n / 4096).sum()),
        DumpKind::Raw | DumpKind::ElfCore => None,
        _ => return None,
    };
    Some(ntkernel::nosym::PhysicalFacts { pages, end_pfn })
}

/// For dumps that copy no run table but whose bitmap covers every page of the machine (bitmap
/// and summary dumps: a bit per page up to the highest): one past the last page it can describe.
/// It bounds the kernel's own `MmPhysicalMemoryBlock` runs, which ntkernel reads through the KDBG
/// when [`physical_facts`] gives nothing.
fn physical_limit_pfn(dump: &Dump) -> Option<u64> {
    match dump.kind() {
        DumpKind::Bitmap { .. } | DumpKind::Summary => {
            Some(dump.physical_limit().div_ceil(4096)).filter(|&n| n > 0)
        }
        _ => None,
    }
}
