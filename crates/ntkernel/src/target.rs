//! Identifying the target and assembling its symbols.
//!
//! Sources in order of trust: the dump header ([`DumpFacts`], filled by the adapter from
//! `dumpfile`), the KDBG (decoded when needed), `KUSER_SHARED_DATA`, the kernel's PE image. Then the
//! symbols: the user's files, the embedded profile for the kernel's PDB, the KDBG's pointers, and a
//! validated guess from the nearest build of the family.

use std::path::PathBuf;

use crate::fallback::{self, KernelRange};
use crate::kdbg::{Kdbg, KdbgError, KdbgKeys};
use crate::memory::{KernelMemory, read_ptr, read_u32};
use crate::modules::{self, LoaderLayout, ModuleList};
use crate::pe::{self, ImageInfo};
use crate::profile::{self, Profile};
use crate::symbols::{Answer, FieldLoc, GlobalAddr, Source, SymbolSource, SymbolStack};
use crate::{Arch, PdbId, locate, symsrv};

/// What the dump header (or the adapter) knows before ntkernel looks at memory. Every field is
/// optional: a raw image knows none of them until [`crate::scan`] finds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpFacts {
    /// Architecture (`MachineImageType`, and `PaeEnabled` for 32-bit dumps).
    pub arch: Option<Arch>,
    /// Build number (`MinorVersion` of the header).
    pub build: Option<u32>,
    /// `DirectoryTableBase`.
    pub dtb: Option<u64>,
    /// `KdDebuggerDataBlock` (virtual address of the KDBG).
    pub kdbg_va: Option<u64>,
    /// A decoded copy of the KDBG held in the dump itself (a triage dump's), with its address.
    pub kdbg_copy: Option<(u64, Vec<u8>)>,
    /// `PsLoadedModuleList`.
    pub ps_loaded_module_list: Option<u64>,
    /// The kernel image base, when a scan found it (raw images: [`crate::scan::find_kernel`]).
    pub kernel_base: Option<u64>,
    /// `PfnDataBase`.
    pub pfn_database: Option<u64>,
    /// `NumberProcessors`.
    pub processors: Option<u32>,
    /// The dump type as CONTRACT.md names it (`"full"`, `"bitmap kernel"`, `"triage"`, `"raw"`, ...).
    pub dump_type: Option<String>,
    /// The physical memory the dump describes (validates `MiSystemPartition` found without
    /// symbols).
    pub physical: Option<crate::nosym::PhysicalFacts>,
    /// One past the highest page frame the dump's layout can describe (a bitmap or summary dump:
    /// its bitmap's bits), bounding the kernel's own `MmPhysicalMemoryBlock` runs when `physical`
    /// is `None`; `None`: the architecture's limit ([`crate::nosym::X64_PFN_LIMIT`]).
    pub physical_limit_pfn: Option<u64>,
}

/// Who the target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Architecture.
    pub arch: Arch,
    /// Build number, when any source gave it.
    pub build: Option<u32>,
    /// Major and minor version from `KUSER_SHARED_DATA` (`10.0`), when readable.
    pub version: Option<(u32, u32)>,
    /// Revision: known only when an exact profile names the kernel.
    pub revision: Option<u32>,
    /// Processor count.
    pub processors: Option<u32>,
    /// Kernel image base.
    pub kernel_base: Option<u64>,
    /// The KDBG's address.
    pub kdbg_va: Option<u64>,
    /// `DirectoryTableBase`.
    pub dtb: Option<u64>,
    /// `PsLoadedModuleList` from the dump header.
    pub module_list: Option<u64>,
    /// The dump type.
    pub dump_type: Option<String>,
    /// The kernel's PE facts, when its headers were readable.
    pub image: Option<ImageInfo>,
    /// The kernel's PDB identity, when known.
    pub pdb: Option<PdbId>,
    /// Where each fact came from, and what could not be learned (shown to the user).
    pub notes: Vec<String>,
}

impl Identity {
    /// `10.0.19041` (and `.REV` when the revision is known).
    pub fn version_string(&self) -> Option<String> {
        let (ma, mi) = self.version.unwrap_or(match self.build? {
            b if b >= 10240 => (10, 0),
            9600 => (6, 3),
            9200 => (6, 2),
            7600 | 7601 => (6, 1),
            6000..=6003 => (6, 0),
            3790 => (5, 2),
            2600 => (5, 1),
            2195 => (5, 0),
            _ => return None,
        });
        let b = self.build?;
        Some(match self.revision {
            Some(r) => format!("{ma}.{mi}.{b}.{r}"),
            None => format!("{ma}.{mi}.{b}"),
        })
    }
}

/// Why the target could not be identified at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifyError {
    /// No architecture known.
    #[error("the architecture is unknown (no dump header and no scan result)")]
    NoArch,
}

/// `KUSER_SHARED_DATA`'s fixed address (x64, and x86).
pub fn kuser_shared_data(arch: Arch) -> u64 {
    if arch.is_64bit() {
        0xFFFF_F780_0000_0000
    } else {
        0xFFDF_0000
    }
}

/// `NtBuildNumber` in `KUSER_SHARED_DATA` (Windows 8+; every real ISF agrees).
pub const KUSER_NT_BUILD_NUMBER: u64 = 0x260;
/// `NtMajorVersion` in `KUSER_SHARED_DATA`.
pub const KUSER_NT_MAJOR_VERSION: u64 = 0x26C;
/// `NtMinorVersion`.
pub const KUSER_NT_MINOR_VERSION: u64 = 0x270;

/// Reads build and version from `KUSER_SHARED_DATA`; `None` unless the values are plausible.
pub fn read_kuser(mem: &dyn KernelMemory, arch: Arch) -> Option<(u32, u32, u32)> {
    let k = kuser_shared_data(arch);
    let major = read_u32(mem, k + KUSER_NT_MAJOR_VERSION).ok()?;
    let minor = read_u32(mem, k + KUSER_NT_MINOR_VERSION).ok()?;
    let build = read_u32(mem, k + KUSER_NT_BUILD_NUMBER).ok()? & 0xFFFF;
    let plausible = matches!((major, minor), (5, 0..=2) | (6, 0..=3) | (10, 0)) && build >= 2195;
    plausible.then_some((major, minor, build))
}

/// The decoding keys from a profile's RVAs and the kernel base, reading the two key globals.
fn keys_from(
    profile_table: &crate::symbols::TypeTable,
    mem: &dyn KernelMemory,
    base: u64,
) -> Option<KdbgKeys> {
    let va = |n: &str| {
        profile_table
            .globals
            .get(n)
            .and_then(|r| base.checked_add(*r))
    };
    let mut b = [0u8; 8];
    mem.read_virtual(va("KiWaitNever")?, &mut b).ok()?;
    let wait_never = u64::from_le_bytes(b);
    mem.read_virtual(va("KiWaitAlways")?, &mut b).ok()?;
    let wait_always = u64::from_le_bytes(b);
    Some(KdbgKeys {
        wait_never,
        wait_always,
        data_block_encoded: va("KdpDataBlockEncoded")?,
    })
}

/// Finds and parses the KDBG: the dump's decoded copy, else the block at the header's address in
/// clear, else decoded with the keys of an embedded profile of the same build (each candidate
/// profile gives a kernel base `kdbg_va - RVA(KdDebuggerDataBlock)`, which must hold a PE image;
/// the decoded block must then name that base).
pub fn find_kdbg(
    mem: &dyn KernelMemory,
    facts: &DumpFacts,
    arch: Arch,
    notes: &mut Vec<String>,
) -> Option<Kdbg> {
    let is64 = arch.is_64bit();
    if let Some((va, bytes)) = &facts.kdbg_copy {
        match Kdbg::from_bytes(*va, bytes, is64) {
            Ok(k) => {
                notes.push(format!(
                    "KDBG: the dump's decoded copy ({:#x} bytes)",
                    k.size
                ));
                return Some(k);
            }
            Err(e) => notes.push(format!("KDBG copy in the dump: {e}")),
        }
    }
    let va = facts.kdbg_va?;
    match Kdbg::read(mem, va, None, is64) {
        Ok(k) => return Some(k),
        Err(KdbgError::BadTag { .. }) => {}
        Err(e) => {
            notes.push(e.to_string());
            return None;
        }
    }
    // Encoded: try the decoding keys of every embedded profile of this architecture and build.
    let mut candidates: Vec<&Profile> = profile::embedded()
        .iter()
        .filter(|p| p.arch == arch.profile_family())
        .filter(|p| {
            facts
                .build
                .is_none_or(|b| fallback::family(p.build) == fallback::family(b))
        })
        .collect();
    candidates.sort_by_key(|p| std::cmp::Reverse(p.build));
    for p in candidates {
        let Some(rva) = p.table.globals.get("KdDebuggerDataBlock") else {
            continue;
        };
        let Some(base) = va.checked_sub(*rva) else {
            continue;
        };
        if base & 0xfff != 0 || pe::read_image(mem, base).is_err() {
            continue;
        }
        let Some(keys) = keys_from(&p.table, mem, base) else {
            continue;
        };
        if let Ok(k) = Kdbg::read(mem, va, Some(keys), is64)
            && k.kernel_base() == Some(base)
        {
            notes.push(format!(
                    "KDBG at {va:#x} was encoded; decoded with the key globals of {} (validated: OwnerTag KDBG, KernBase {base:#x})",
                    p.name
                ));
            return Some(k);
        }
    }
    notes.push(format!(
        "KDBG at {va:#x} is encoded and no embedded profile's keys decode it"
    ));
    None
}

/// Reads the KDBG at the address an exact profile gives (`base + RVA(KdDebuggerDataBlock)`),
/// decoding it with the profile's key globals when it is not in clear.
fn kdbg_from_profile(
    mem: &dyn KernelMemory,
    p: &Profile,
    base: u64,
    arch: Arch,
    notes: &mut Vec<String>,
) -> Option<Kdbg> {
    let va = base.checked_add(*p.table.globals.get("KdDebuggerDataBlock")?)?;
    let keys = keys_from(&p.table, mem, base);
    match Kdbg::read(mem, va, keys, arch.is_64bit()) {
        Ok(k) if k.kernel_base() == Some(base) => {
            notes.push(format!(
                "KDBG at {va:#x} from profile {}{}",
                p.name,
                if k.was_encoded { ", decoded" } else { "" }
            ));
            Some(k)
        }
        Ok(k) => {
            notes.push(format!(
                "KDBG at {va:#x} names kernel base {:?}, not {base:#x}: not used",
                k.kernel_base()
            ));
            None
        }
        Err(e) => {
            notes.push(e.to_string());
            None
        }
    }
}

/// Identifies the target from the dump's facts and its memory.
pub fn identify(
    mem: &dyn KernelMemory,
    facts: &DumpFacts,
) -> Result<(Identity, Option<Kdbg>), IdentifyError> {
    let arch = facts.arch.ok_or(IdentifyError::NoArch)?;
    let mut notes = Vec::new();
    let mut kdbg = find_kdbg(mem, facts, arch, &mut notes);
    let mut kernel_base = kdbg.as_ref().and_then(Kdbg::kernel_base);
    if kernel_base.is_some() {
        notes.push("kernel base: KDBG KernBase".into());
    } else if let Some(b) = facts.kernel_base {
        kernel_base = Some(b);
        notes.push("kernel base: found by scanning".into());
    }
    // Without a KDBG, the first loader entry is the kernel.
    if kernel_base.is_none()
        && let Some(head) = facts.ps_loaded_module_list
    {
        let l = modules::walk(mem, head, &LoaderLayout::default_for(arch));
        if let Some(first) = l.modules.first() {
            kernel_base = Some(first.base);
            notes.push("kernel base: first entry of PsLoadedModuleList".into());
        }
    }
    let kuser = read_kuser(mem, arch);
    let mut build = facts.build;
    if build.is_some() {
        notes.push("build: dump header".into());
    }
    if let Some((_, _, b)) = kuser {
        match build {
            None => {
                build = Some(b);
                notes.push("build: KUSER_SHARED_DATA.NtBuildNumber".into());
            }
            Some(h) if h != b => notes.push(format!(
                "the dump header says build {h} but KUSER_SHARED_DATA says {b}; the header is used"
            )),
            _ => {}
        }
    }
    let image = kernel_base.and_then(|b| match pe::read_image(mem, b) {
        Ok(i) => Some(i),
        Err(e) => {
            notes.push(format!("kernel image: {e}"));
            None
        }
    });
    let pdb = match image.as_ref().map(|i| &i.pdb) {
        Some(Ok(p)) => Some(p.clone()),
        Some(Err(why)) => {
            notes.push(format!(
                "the kernel's PDB GUID is unknown: {why}; the build comes from the header"
            ));
            None
        }
        None => None,
    };
    let exact = pdb.as_ref().and_then(profile::by_pdb);
    let revision = exact.map(|p| p.revision);
    // No KDBG address from a header (raw images): the exact profile says where it is.
    if kdbg.is_none()
        && facts.kdbg_va.is_none()
        && let (Some(p), Some(base)) = (exact, kernel_base)
    {
        kdbg = kdbg_from_profile(mem, p, base, arch, &mut notes);
    }
    if let Some(p) = exact
        && build.is_none()
    {
        build = Some(p.build);
    }
    let mut processors = facts.processors;
    if processors.is_none() {
        // KUSER_SHARED_DATA.ActiveProcessorCount (+0x3c0 on every real x64 ISF).
        if let Ok(n) = read_u32(mem, kuser_shared_data(arch) + 0x3c0)
            && (1..=4096).contains(&n)
        {
            processors = Some(n);
            notes.push("processors: KUSER_SHARED_DATA.ActiveProcessorCount".into());
        }
    }
    Ok((
        Identity {
            arch,
            build,
            version: kuser.map(|(a, b, _)| (a, b)),
            revision,
            processors,
            kernel_base,
            kdbg_va: kdbg.as_ref().map(|k| k.va).or(facts.kdbg_va),
            dtb: facts.dtb,
            module_list: facts.ps_loaded_module_list,
            dump_type: facts.dump_type.clone(),
            image,
            pdb,
            notes,
        },
        kdbg,
    ))
}

/// The KDBG as a symbol source: the addresses of the globals it points at.
#[derive(Debug, Clone)]
pub struct KdbgSymbols {
    kdbg: Kdbg,
}

/// KDBG fields that hold a global's address under the global's own name (not values such as
/// `KernBase`, `PteBase` or `OffsetPrcbContext`).
const KDBG_GLOBALS: &[&str] = &[
    "PsLoadedModuleList",
    "PsActiveProcessHead",
    "ExpPagedPoolDescriptor",
    "ExpNumberOfPagedPools",
    "MmPfnDatabase",
    "MmNumberOfPagingFiles",
    "MmLowestPhysicalPage",
    "MmHighestPhysicalPage",
    "MmNumberOfPhysicalPages",
    "MmMaximumNonPagedPoolInBytes",
    "MmNonPagedPoolStart",
    "MmNonPagedPoolEnd",
    "MmPagedPoolStart",
    "MmPagedPoolEnd",
    "MmSizeOfPagedPoolInBytes",
    "MmTotalCommitLimit",
    "MmTotalCommittedPages",
    "MmSharedCommit",
    "MmDriverCommit",
    "MmProcessCommit",
    "MmPagedPoolCommit",
    "MmExtendedCommit",
    "MmModifiedPageListHead",
    "MmModifiedNoWritePageListHead",
    "MmAvailablePages",
    "MmResidentAvailablePages",
    "PoolTrackTable",
    "NonPagedPoolDescriptor",
    "MmHighestUserAddress",
    "MmSystemRangeStart",
    "KiProcessorBlock",
    "MmSpecialPoolTag",
    "MmAllocatedNonPagedPool",
    "MmPeakCommitment",
    "MmTotalCommitLimitMaximum",
    "MmPhysicalMemoryBlock",
];

impl KdbgSymbols {
    /// Wraps a parsed KDBG.
    pub fn new(kdbg: Kdbg) -> KdbgSymbols {
        KdbgSymbols { kdbg }
    }
}

impl SymbolSource for KdbgSymbols {
    fn source(&self) -> Source {
        Source::Kdbg
    }
    fn global(&self, name: &str) -> Option<GlobalAddr> {
        let name = match name {
            // KDBG +0x130 holds &MmPagedPoolInfo.
            "MmPagedPoolInfo" => "MmPagedPoolInformation",
            n => n,
        };
        if !KDBG_GLOBALS.contains(&name) && name != "MmPagedPoolInformation" {
            return None;
        }
        match self.kdbg.field(name)? {
            0 => None,
            va => Some(GlobalAddr::Va(va)),
        }
    }
    fn type_size(&self, _type_name: &str) -> Option<u64> {
        None
    }
    fn field(&self, _type_name: &str, _field: &str) -> Option<FieldLoc> {
        None
    }
}

/// Reads the KDBG with the decoding keys the user's exact symbols locate (`KiWaitNever`,
/// `KiWaitAlways`, `KdpDataBlockEncoded`, and `KdDebuggerDataBlock` when the header gives no
/// address); on success it replaces `kdbg` and the identity's KDBG address.
fn kdbg_from_user_symbols(
    mem: &dyn KernelMemory,
    facts: &DumpFacts,
    user: &crate::symbols::TableSource,
    identity: &mut Identity,
    kdbg: &mut Option<Kdbg>,
    notes: &mut Vec<String>,
) {
    let Some(base) = identity.kernel_base else {
        return;
    };
    let va = facts
        .kdbg_va
        .or_else(|| base.checked_add(*user.table.globals.get("KdDebuggerDataBlock")?));
    let Some(va) = va else {
        notes.push(format!(
            "KDBG: {} names no KdDebuggerDataBlock and the dump gives no address",
            user.source
        ));
        return;
    };
    let keys = keys_from(&user.table, mem, base);
    match Kdbg::read(mem, va, keys, identity.arch.is_64bit()) {
        Ok(k) if k.kernel_base() == Some(base) => {
            notes.push(format!(
                "KDBG at {va:#x}{} with the keys of {} (validated: OwnerTag KDBG, KernBase {base:#x})",
                if k.was_encoded { " decoded" } else { " read" },
                user.source
            ));
            identity.kdbg_va = Some(va);
            // Earlier failures to decode it with other keys no longer apply.
            identity
                .notes
                .retain(|n| !(n.starts_with("KDBG at") && n.contains("encoded")));
            *kdbg = Some(k);
        }
        Ok(k) => notes.push(format!(
            "KDBG at {va:#x} decoded with the keys of {} names kernel base {:?}, not {base:#x}: not used",
            user.source,
            k.kernel_base()
        )),
        Err(e) => notes.push(format!("KDBG with the keys of {}: {e}", user.source)),
    }
}

/// Searches the kernel's data sections for a KDBG encoded with unknown keys ([`crate::nosym`]);
/// x64 only (Windows 8+ encodes it there).
fn kdbg_without_keys(
    mem: &dyn KernelMemory,
    identity: &mut Identity,
    kdbg: &mut Option<Kdbg>,
    notes: &mut Vec<String>,
) {
    if identity.arch != Arch::X64 || identity.build.is_some_and(|b| b < 9200) {
        return;
    }
    let Some(base) = identity.kernel_base else {
        return;
    };
    let size = identity
        .image
        .as_ref()
        .map_or(32 * 1024 * 1024, |i| u64::from(i.size_of_image));
    let ranges = crate::nosym::data_ranges(mem, base, size);
    match crate::nosym::find_kdbg_without_keys(mem, base, size, &ranges) {
        Ok(found) => {
            let va = found.kdbg.va;
            notes.push(format!(
                "KDBG at {va:#x}: {} (encoded; decoded without keys: rotation {}, validated by KernBase {base:#x}, its debugger-data list and PsLoadedModuleList{})",
                crate::nosym::LABEL,
                found.rotation,
                if found.rejected.is_empty() {
                    String::new()
                } else {
                    format!("; {} decoys refused", found.rejected.len())
                }
            ));
            identity.kdbg_va = Some(va);
            *kdbg = Some(found.kdbg);
        }
        Err(e) => notes.push(format!("KDBG: {e}")),
    }
}

/// The processor count from `KiProcessorBlock` (KDBG): its leading non-null kernel pointers, at
/// most 2048 (x64) / 32 (x86) entries.
fn processors_from_kdbg(mem: &dyn KernelMemory, k: &Kdbg, arch: Arch) -> Option<u32> {
    let block = k.field("KiProcessorBlock").filter(|&v| v != 0)?;
    let is64 = arch.is_64bit();
    let ptr = arch.pointer_size() as u64;
    let max = if is64 { 2048 } else { 32 };
    let mut n = 0u32;
    while n < max {
        let v = read_ptr(mem, block.checked_add(u64::from(n) * ptr)?, is64).ok()?;
        let kernel = if is64 {
            v >= 0xFFFF_8000_0000_0000
        } else {
            v >= 0x8000_0000
        };
        if v == 0 || !kernel {
            break;
        }
        n += 1;
    }
    (n > 0).then_some(n)
}

/// `PoolTrackTableSize`, `PoolBigPageTable` and `PoolBigPageTableSize` by validated searches of
/// the kernel's data sections ([`crate::nosym`]), for those no symbol source gives; the found ones
/// are pushed as a [`crate::nosym::FoundSymbols`] source.
fn pool_tables_without_symbols(
    mem: &dyn KernelMemory,
    identity: &Identity,
    facts: &DumpFacts,
    stack: &mut SymbolStack,
    notes: &mut Vec<String>,
) {
    use crate::nosym::{self, DataWords, FoundSymbols, PoolTableLayout};
    let need_tracker = stack.global("PoolTrackTableSize").is_none();
    let need_tag_tables = stack.global("ExPoolTagTables").is_none();
    let need_big = stack.global("PoolBigPageTable").is_none()
        || stack.global("PoolBigPageTableSize").is_none();
    let Some(base) = identity.kernel_base else {
        return;
    };
    let need_state =
        identity.build.is_some_and(|b| b >= 18362) && stack.global("ExPoolState").is_none();
    let need_mi_state =
        identity.build.is_some_and(|b| b >= 14393) && stack.global("MiState").is_none();
    let need_partition =
        identity.build.is_some_and(|b| b >= 10240) && stack.global("MiSystemPartition").is_none();
    if !need_tracker
        && !need_big
        && !need_tag_tables
        && !need_state
        && !need_mi_state
        && !need_partition
    {
        return;
    }
    let size = identity
        .image
        .as_ref()
        .map_or(32 * 1024 * 1024, |i| u64::from(i.size_of_image));
    let words = DataWords::collect(mem, &nosym::data_ranges(mem, base, size));
    let build = identity.build.unwrap_or(0);
    let layout = PoolTableLayout {
        tracker_entry: stack
            .type_size("_POOL_TRACKER_TABLE")
            .map_or(0x28, |a| a.value),
        big_entry: stack
            .type_size("_POOL_TRACKER_BIG_PAGES")
            .map_or(if build >= 20348 { 0x20 } else { 0x18 }, |a| a.value),
        big_hash: build >= 10240,
    };
    let ptt_var = stack
        .global("PoolTrackTable")
        .and_then(|a| a.value.to_va(base));
    let table = ptt_var.and_then(|v| read_ptr(mem, v, true).ok());
    let mut found = FoundSymbols::default();
    let say = |l: &nosym::Located, found: &mut FoundSymbols, notes: &mut Vec<String>| {
        notes.push(format!(
            "symbols: {} at {:#x} (= {:#x}): {}",
            l.name,
            l.va,
            l.value,
            nosym::LABEL
        ));
        found.globals.insert(l.name.to_string(), l.va);
    };
    if need_tracker {
        match (ptt_var, table) {
            (Some(var), Some(t)) if t != 0 => {
                match nosym::find_tracker_size(mem, &words, var, t, layout.tracker_entry) {
                    Ok(l) => say(&l, &mut found, notes),
                    Err(e) => notes.push(format!("symbols: {e}")),
                }
            }
            _ => notes.push(
                "symbols: PoolTrackTableSize not searched for: PoolTrackTable is not known".into(),
            ),
        }
    }
    if need_tag_tables
        && identity.build.is_some_and(|b| b >= 9200)
        && let (Some(var), Some(t)) = (ptt_var, table)
        && let Some(n) = found
            .globals
            .get("PoolTrackTableSize")
            .copied()
            .or_else(|| {
                stack
                    .global("PoolTrackTableSize")
                    .and_then(|a| a.value.to_va(base))
            })
            .and_then(|va| read_ptr(mem, va, true).ok())
    {
        match nosym::find_tag_tables(mem, &words, var, t, n, layout.tracker_entry) {
            Ok(l) => say(&l, &mut found, notes),
            Err(e) => notes.push(format!("symbols: {e}")),
        }
    }
    if need_big {
        let exclude: Vec<u64> = table.into_iter().collect();
        match nosym::find_big_page_table(mem, &words, layout, &exclude) {
            Ok((t, n)) => {
                say(&t, &mut found, notes);
                say(&n, &mut found, notes);
            }
            Err(e) => notes.push(format!("symbols: {e}")),
        }
    }
    // The segment-heap pool (19H1+): ExPoolState by its heaps.
    if identity.build.is_some_and(|b| b >= 18362) && stack.global("ExPoolState").is_none() {
        let f = |t: &str, n: &str| stack.field(t, n).map(|a| a.value.offset);
        match (
            f("_EX_POOL_HEAP_MANAGER_STATE", "NumberOfPools"),
            f("_EX_POOL_HEAP_MANAGER_STATE", "PoolNode"),
            f("_EX_HEAP_POOL_NODE", "Heaps"),
            f("_SEGMENT_HEAP", "Signature"),
        ) {
            (Some(number_of_pools), Some(pool_node), Some(node_heaps), Some(heap_signature)) => {
                let l = nosym::PoolStateLayout {
                    number_of_pools,
                    pool_node,
                    node_heaps,
                    heap_signature,
                };
                match nosym::find_pool_state(mem, &nosym::data_ranges(mem, base, size), base, size, l)
                {
                    Ok(loc) => say(&loc, &mut found, notes),
                    Err(e) => notes.push(format!("symbols: {e}")),
                }
            }
            _ => notes.push(
                "symbols: ExPoolState not searched for: the layouts of _EX_POOL_HEAP_MANAGER_STATE, _EX_HEAP_POOL_NODE or _SEGMENT_HEAP are not known".into(),
            ),
        }
    }
    // MiState (1607+): its Vs.SystemVaRegions[] hold the pool ranges (poollayout::regions) and
    // `!vm` reads figures from it. Checked against the big-page table's in-use allocations.
    if need_mi_state {
        match mi_state_without_symbols(mem, identity, stack, &found, &layout, (base, size)) {
            Ok(l) => say(&l, &mut found, notes),
            Err(e) => notes.push(format!("symbols: {e}")),
        }
    }
    // MiSystemPartition (10+): `!vm`'s physical, available, commit and page-file figures.
    if need_partition {
        let physical = match facts.physical {
            Some(p) => Ok(p),
            None => physical_from_kernel(mem, stack, base, facts.physical_limit_pfn, notes),
        };
        match system_partition_without_symbols(mem, stack, physical, (base, size)) {
            Ok(l) => say(&l, &mut found, notes),
            Err(e) => notes.push(format!("symbols: {e}")),
        }
    }
    if !found.globals.is_empty() {
        stack.push(Box::new(found));
    }
}

/// The machine's physical memory from the kernel's own `MmPhysicalMemoryBlock` (its address from
/// the KDBG, +0x270), for dumps whose header copies none (bitmap, summary, range dumps: their
/// `PhysicalMemoryBlock` is the "PAGE" pattern). Used only when
/// [`crate::nosym::physical_from_memory_block`] validates it; a note says where the page count came
/// from. The error says why not (the caller notes it).
fn physical_from_kernel(
    mem: &dyn KernelMemory,
    stack: &SymbolStack,
    base: u64,
    limit_pfn: Option<u64>,
    notes: &mut Vec<String>,
) -> Result<crate::nosym::PhysicalFacts, String> {
    let (var, named_by) = stack
        .global("MmPhysicalMemoryBlock")
        .and_then(|a| Some((a.value.to_va(base)?, a.source)))
        .ok_or("the header copies no run table and the KDBG names no MmPhysicalMemoryBlock")?;
    let limit = limit_pfn.unwrap_or(crate::nosym::X64_PFN_LIMIT);
    match crate::nosym::physical_from_memory_block(mem, var, limit) {
        Ok(b) => {
            notes.push(format!(
                "symbols: physical memory: {:#x} pages in {} runs up to page {:#x}, from the kernel's MmPhysicalMemoryBlock (at {var:#x}, named by {named_by}; descriptor at {:#x}; the dump's header copies no run table)",
                b.facts.pages.unwrap_or(0),
                b.runs,
                b.facts.end_pfn,
                b.descriptor
            ));
            Ok(b.facts)
        }
        // The caller's note ("MiSystemPartition not searched for: ...") carries the reason.
        Err(e) => Err(format!(
            "the header copies no run table and the kernel's is not used: {e}"
        )),
    }
}

/// `MiSystemPartition` by [`crate::nosym::find_system_partition`], with the nearest build's layouts
/// and the dump's physical memory.
fn system_partition_without_symbols(
    mem: &dyn KernelMemory,
    stack: &SymbolStack,
    physical: Result<crate::nosym::PhysicalFacts, String>,
    (base, size): (u64, u64),
) -> Result<crate::nosym::Located, String> {
    use crate::nosym;
    let phys = physical.map_err(|e| {
        format!("MiSystemPartition not searched for: the dump describes no physical memory to check it against ({e})")
    })?;
    let f = |t: &str, n: &str| {
        stack
            .field(t, n)
            .map(|a| a.value.offset)
            .ok_or_else(|| format!("MiSystemPartition not searched for: {t}.{n} is not known"))
    };
    let vp = |n: &str| f("_MI_VISIBLE_PARTITION", n);
    let l = nosym::PartitionLayout {
        vp: f("_MI_PARTITION", "Vp")?,
        lowest: vp("LowestPhysicalPage")?,
        highest: vp("HighestPhysicalPage")?,
        number: vp("NumberOfPhysicalPages")?,
        paging_files: vp("NumberOfPagingFiles")?,
        paging_file: vp("PagingFile")?,
        available: vp("AvailablePages")?,
        resident: vp("ResidentAvailablePages")?,
        modified: vp("ModifiedPageListHead")? + f("_MMPFNLIST", "Total").unwrap_or(0),
        committed: vp("TotalCommittedPages")?,
        commit_limit: vp("TotalCommitLimit")?,
    };
    nosym::find_system_partition(mem, &nosym::data_ranges(mem, base, size), l, phys)
}

/// `MiState` by [`crate::nosym::find_mi_state`], with the nearest build's layouts and the big-page
/// table (found above or named by a symbol source).
fn mi_state_without_symbols(
    mem: &dyn KernelMemory,
    identity: &Identity,
    stack: &SymbolStack,
    found: &crate::nosym::FoundSymbols,
    layout: &crate::nosym::PoolTableLayout,
    (base, size): (u64, u64),
) -> Result<crate::nosym::Located, String> {
    use crate::nosym;
    let build = identity.build.unwrap_or(0);
    let ((nonpaged, paged), _) =
        poollayout::regions::assigned_region_indexes(build).ok_or_else(|| {
            format!(
                "MiState not searched for: the region indexes of build {build} are not established"
            )
        })?;
    let f = |t: &str, n: &str| {
        stack
            .field(t, n)
            .map(|a| a.value.offset)
            .ok_or_else(|| format!("MiState not searched for: {t}.{n} is not known"))
    };
    let l = nosym::MiStateLayout {
        regions: f("_MI_SYSTEM_INFORMATION", "Vs")? + f("_MI_VISIBLE_STATE", "SystemVaRegions")?,
        entry: stack
            .type_size("_MI_SYSTEM_VA_ASSIGNMENT")
            .map_or(0x10, |a| a.value),
        base: f("_MI_SYSTEM_VA_ASSIGNMENT", "BaseAddress")?,
        bytes: f("_MI_SYSTEM_VA_ASSIGNMENT", "NumberOfBytes")?,
        nonpaged,
        paged,
    };
    let global = |name: &str| {
        found
            .globals
            .get(name)
            .copied()
            .or_else(|| stack.global(name).and_then(|a| a.value.to_va(base)))
    };
    let (Some(tv), Some(nv)) = (global("PoolBigPageTable"), global("PoolBigPageTableSize")) else {
        return Err("MiState not searched for: the big-page table is not known".into());
    };
    let read = |va: u64| {
        read_ptr(mem, va, true).map_err(|e| {
            format!("MiState not searched for: the big-page table word at {va:#x}: {e}")
        })
    };
    let (table, n) = (read(tv)?, read(nv)?);
    let vas = nosym::big_page_vas(mem, table, n, layout.big_entry, 4096);
    nosym::find_mi_state(mem, &nosym::data_ranges(mem, base, size), l, &vas)
}

/// Options for [`Kernel::open`].
#[derive(Debug, Clone, Default)]
pub struct SymbolOptions {
    /// `--symbols` values, in order: a path, or WinDbg symbol-path syntax (`srv*CACHE*URL`,
    /// `cache*DIR`, `;` between elements: see [`crate::symsrv`]).
    pub paths: Vec<PathBuf>,
    /// The value of `_NT_SYMBOL_PATH`, if it is to be read.
    pub nt_symbol_path: Option<String>,
    /// Leave out the embedded profiles (to test what the fallback does).
    pub no_embedded: bool,
    /// Timeouts, retries and size limit of symbol-server downloads.
    pub fetch: symsrv::FetchConfig,
    /// Called as a download progresses (the host draws a progress bar).
    pub progress: Option<ProgressHook>,
    /// The cache for `srv*URL` elements without one; `None`: [`symsrv::default_cache`].
    pub default_cache: Option<PathBuf>,
}

/// A download progress callback: `(url, bytes received, total when known)`.
#[derive(Clone)]
pub struct ProgressHook(pub std::sync::Arc<symsrv::ProgressFn>);

impl std::fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHook")
    }
}

/// The elements of every symbol path the options name, in order: `--symbols` values (a plain path
/// unless written in symbol-path syntax), then `_NT_SYMBOL_PATH`.
pub fn symbol_path_elements(opts: &SymbolOptions) -> Vec<symsrv::PathElement> {
    let default = opts.default_cache.clone().or_else(symsrv::default_cache);
    let mut out = Vec::new();
    for p in &opts.paths {
        let s = p.to_string_lossy();
        if symsrv::is_symbol_path(&s) {
            out.extend(symsrv::parse(&s, default.as_deref()));
        } else {
            out.push(symsrv::PathElement::Local(p.clone()));
        }
    }
    if let Some(v) = &opts.nt_symbol_path {
        out.extend(symsrv::parse(v, default.as_deref()));
    }
    out
}

/// Loads the user's symbols for `want` from the symbol path's elements into `stack`: local paths
/// and stores first, in order; a `srv*` element's stores are searched, and only when none of them
/// (and no earlier element) holds the kernel's PDB is it downloaded into the element's first store.
fn load_user_symbols(
    opts: &SymbolOptions,
    want: Option<&PdbId>,
    stack: &mut SymbolStack,
    notes: &mut Vec<String>,
    on_exact: &mut dyn FnMut(&crate::symbols::TableSource, &mut Vec<String>),
) {
    use symsrv::PathElement;
    let mut found_any = false;
    let mut push = |path: &std::path::Path,
                    stack: &mut SymbolStack,
                    notes: &mut Vec<String>,
                    quiet_missing: bool|
     -> bool {
        match locate::open(path, want) {
            Ok(Some(found)) => {
                notes.push(format!("symbols: {}", found.symbols.source));
                let exact_file = matches!((want, &found.pdb), (Some(w), Some(f))
                    if w.guid.eq_ignore_ascii_case(&f.guid) && w.age == f.age);
                if exact_file {
                    on_exact(&found.symbols, notes);
                }
                stack.push(Box::new(found.symbols));
                true
            }
            Ok(None) => {
                if !quiet_missing {
                    notes.push(format!("{}: nothing for this kernel's PDB", path.display()));
                }
                false
            }
            Err(locate::LocateError::Missing(_)) if quiet_missing => false,
            Err(e) => {
                notes.push(e.to_string());
                false
            }
        }
    };
    for element in symbol_path_elements(opts) {
        match element {
            PathElement::Local(p) => found_any |= push(&p, stack, notes, false),
            // A cache that does not exist yet is not an error.
            PathElement::Cache(p) => found_any |= push(&p, stack, notes, true),
            PathElement::Server {
                stores,
                default_cache,
                url,
            } => {
                if found_any {
                    continue;
                }
                let mut hit = false;
                for s in &stores {
                    if push(s, stack, notes, true) {
                        hit = true;
                        break;
                    }
                }
                if hit {
                    found_any = true;
                    continue;
                }
                let Some(id) = want else {
                    notes.push(format!(
                        "{url}: not asked: the kernel's PDB GUID is unknown (its debug directory is not in the dump)"
                    ));
                    continue;
                };
                let Some(cache) = stores.first() else {
                    continue;
                };
                let progress = opts.progress.as_ref().map(|h| &*h.0);
                match symsrv::fetch(&url, cache, id, &opts.fetch, progress) {
                    Ok(path) => {
                        notes.push(format!(
                            "symbols: {} downloaded from {url} into {}{}",
                            id.name,
                            if default_cache {
                                "the default cache "
                            } else {
                                ""
                            },
                            cache.display()
                        ));
                        found_any |= push(&path, stack, notes, false);
                    }
                    Err(e) => notes.push(e.to_string()),
                }
            }
        }
    }
}

/// The identified kernel with its symbols: what every command works from.
#[derive(Debug)]
pub struct Kernel {
    /// Who the target is.
    pub identity: Identity,
    /// The KDBG, when found.
    pub kdbg: Option<Kdbg>,
    /// The symbol sources, in order of trust.
    pub symbols: SymbolStack,
    /// What the symbol search did and why (shown to the user when not exact).
    pub symbol_notes: Vec<String>,
}

impl Kernel {
    /// Identifies the target and assembles its symbols: user files (`opts.paths`, then the local
    /// folders of `_NT_SYMBOL_PATH`), the embedded profile for the kernel's PDB, the KDBG's pointers,
    /// and a guess from the nearest build of the family whose globals are validated against `mem`.
    pub fn open(
        mem: &dyn KernelMemory,
        facts: &DumpFacts,
        opts: &SymbolOptions,
    ) -> Result<Kernel, IdentifyError> {
        let (mut identity, mut kdbg) = identify(mem, facts)?;
        let mut stack = SymbolStack::new();
        let mut notes = Vec::new();
        let want = identity.pdb.clone();
        let want = want.as_ref();
        // True once a user file made for this very kernel (same PDB GUID and age) is loaded: its
        // layouts and globals are exact, so nothing is guessed.
        let mut user_exact = false;
        load_user_symbols(opts, want, &mut stack, &mut notes, &mut |symbols, notes| {
            if user_exact {
                return;
            }
            user_exact = true;
            // Issue #18 item 4: an encoded KDBG is decoded with the keys the user's own symbols
            // locate, never with a nearby build's.
            if kdbg.as_ref().is_none_or(|k| k.was_encoded) {
                kdbg_from_user_symbols(mem, facts, symbols, &mut identity, &mut kdbg, notes);
            }
        });
        let exact = if opts.no_embedded {
            None
        } else {
            want.and_then(profile::by_pdb)
        };
        if let Some(p) = exact {
            stack.push(Box::new(p.source(false)));
        }
        // No symbols name the keys: search for the encoded KDBG (x64 Windows 8+).
        if kdbg.is_none() && exact.is_none() && !user_exact {
            kdbg_without_keys(mem, &mut identity, &mut kdbg, &mut notes);
        }
        if identity.processors.is_none()
            && let Some(k) = &kdbg
            && let Some(n) = processors_from_kdbg(mem, k, identity.arch)
        {
            identity.processors = Some(n);
            notes.push(format!(
                "processors: {n}, the non-null entries of KiProcessorBlock (KDBG)"
            ));
        }
        if let Some(k) = &kdbg {
            stack.push(Box::new(KdbgSymbols::new(k.clone())));
        }
        if exact.is_none() && !user_exact {
            let guess = identity.build.and_then(|b| {
                fallback::guess(identity.arch, b, identity.revision.unwrap_or(0), None)
            });
            match (guess, identity.kernel_base) {
                // A layout-only profile made for this very version (the x86 ones): embedded.
                (Some(g), _) if g.pdb.is_none() && Some(g.build) == identity.build => {
                    notes.push(format!(
                        "symbols: embedded layout profile {} (globals from the KDBG)",
                        g.name
                    ));
                    stack.push(Box::new(g.source(false)));
                }
                (Some(g), Some(base)) => {
                    let range = KernelRange {
                        base,
                        size: identity.image.as_ref().map(|i| u64::from(i.size_of_image)),
                        arch: identity.arch,
                    };
                    let (src, checks) = fallback::validate_globals(&g, mem, range, kdbg.as_ref());
                    let rejected: Vec<String> = checks
                        .iter()
                        .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
                        .collect();
                    notes.push(format!(
                        "symbols: guessed from {} (no profile for this kernel); {} of {} guessed globals validated",
                        g.name,
                        checks.len() - rejected.len(),
                        checks.len()
                    ));
                    notes.extend(rejected.into_iter().map(|r| format!("rejected guess {r}")));
                    stack.push(Box::new(src));
                }
                (Some(g), None) => {
                    // Layouts only: globals cannot be validated without a kernel base.
                    let mut p = g.clone();
                    p.table.globals.clear();
                    notes.push(format!(
                        "symbols: layouts guessed from {} (no profile for this kernel, kernel base unknown: no guessed globals)",
                        g.name
                    ));
                    stack.push(Box::new(p.source(true)));
                }
                (None, _) => notes.push("symbols: no profile of this build's family".into()),
            }
        }
        // No symbols name the pool's tables: find them by validated searches (nosym.rs).
        if exact.is_none() && !user_exact && identity.arch == Arch::X64 {
            pool_tables_without_symbols(mem, &identity, facts, &mut stack, &mut notes);
        }
        // XP / 2003: nothing names the big page table; derive it from PoolTrackTable (derived.rs).
        if let Some(build) = identity.build
            && crate::derived::big_page_distances(identity.arch, build).is_some()
            && stack.global("PoolBigPageTable").is_none()
        {
            let ptt = stack.global("PoolTrackTable").and_then(|a| match a.value {
                GlobalAddr::Va(v) => Some(v),
                GlobalAddr::Rva(r) => identity.kernel_base?.checked_add(r),
            });
            match ptt.map(|t| {
                crate::derived::DerivedSymbols::big_page_table(mem, identity.arch, build, t)
            }) {
                Some(Ok(d)) => {
                    notes.push(format!(
                        "symbols: PoolBigPageTable and PoolBigPageTableSize guessed from {}",
                        crate::derived::LABEL
                    ));
                    stack.push(Box::new(d));
                }
                Some(Err(e)) => notes.push(format!("symbols: PoolBigPageTable not derived: {e}")),
                None => notes.push(
                    "symbols: PoolBigPageTable not derived: PoolTrackTable is not known".into(),
                ),
            }
        }
        Ok(Kernel {
            identity,
            kdbg,
            symbols: stack,
            symbol_notes: notes,
        })
    }

    /// The virtual address of a global, and who said where it is.
    pub fn global_va(&self, name: &str) -> Option<Answer<u64>> {
        let a = self.symbols.global(name)?;
        let va = match a.value {
            GlobalAddr::Va(v) => v,
            GlobalAddr::Rva(r) => self.identity.kernel_base?.checked_add(r)?,
        };
        Some(Answer {
            value: va,
            source: a.source,
        })
    }

    /// One line for the output header: the source of the first symbol source, e.g.
    /// `embedded profile 10.0.19041.329` or `guessed from 10.0.19041.329`.
    pub fn symbol_source(&self) -> String {
        self.symbols
            .sources()
            .next()
            .map_or_else(|| "none".to_string(), |s| s.to_string())
    }

    /// The loaded modules from `PsLoadedModuleList` (the header's address, else the symbols').
    pub fn modules(&self, mem: &dyn KernelMemory) -> Option<ModuleList> {
        let head = match self.identity.module_list {
            Some(h) => h,
            None => self.global_va("PsLoadedModuleList")?.value,
        };
        let layout = LoaderLayout::from_symbols(&self.symbols, self.identity.arch);
        Some(modules::walk(mem, head, &layout))
    }

    /// Reads a pointer-sized global's value.
    pub fn read_global_ptr(&self, mem: &dyn KernelMemory, name: &str) -> Option<u64> {
        let va = self.global_va(name)?.value;
        read_ptr(mem, va, self.identity.arch.is_64bit()).ok()
    }
}
