//! The Windows kernel model for pooldbg.
//!
//! `ntkernel` answers three questions about a crashed or captured Windows kernel, over memory it is
//! handed through a small trait ([`memory::KernelMemory`]):
//!
//! * **which Windows is it** — architecture, build, revision, processors, kernel base, KDBG, the
//!   kernel's PDB identity ([`target`], [`kdbg`], [`pe`], [`scan`]);
//! * **where are its globals and how are its structures laid out** — symbols from a user's ISF or
//!   PDB files, embedded per-build profiles, validated guesses from a nearby build, or the KDBG,
//!   each answer naming its [`symbols::Source`] ([`symbols`], [`isf`], [`pdbfile`], [`profile`],
//!   [`locate`], [`fallback`]), and — with the cargo feature `symsrv` — the kernel's PDB downloaded
//!   from a symbol server named in WinDbg's symbol-path syntax ([`symsrv`]);
//! * **which modules are loaded** ([`modules`]).
//! * **where the pool is** — the pool's virtual ranges per version ([`poolva`]) and, on XP/2003,
//!   the big page table derived from `PoolTrackTable` ([`derived`]).
//!
//! It knows nothing about dump files or page tables: an adapter binds [`memory::KernelMemory`] to
//! the `dumpfile` and `paging` crates (see the README).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod derived;
pub mod fallback;
pub mod isf;
pub mod kdbg;
pub mod locate;
pub mod memory;
pub mod modules;
pub mod nosym;
pub mod pdbfile;
pub mod pe;
pub mod poolva;
pub mod profile;
pub mod scan;
pub mod symbols;
pub mod symsrv;
pub mod target;

pub use target::{DumpFacts, Identity, Kernel, SymbolOptions};

/// The identity of a PDB: its file name, GUID and age, as the kernel's CodeView record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PdbId {
    /// The PDB's file name, e.g. `ntkrnlmp.pdb`.
    pub name: String,
    /// The GUID as 32 upper-case hex digits in symbol-store order (`Data1` `Data2` `Data3` `Data4`).
    pub guid: String,
    /// The age.
    pub age: u32,
}

impl PdbId {
    /// The folder name a symbol store uses: GUID followed by the age in hex (`...AD91`).
    pub fn store_key(&self) -> String {
        format!("{}{:X}", self.guid, self.age)
    }

    /// The file stem Volatility's symbol packs use: `GUID-AGE` (age in decimal).
    pub fn isf_stem(&self) -> String {
        format!("{}-{}", self.guid, self.age)
    }
}

/// A target's processor architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// 32-bit x86 with 2-level paging.
    X86,
    /// 32-bit x86 with PAE paging.
    X86Pae,
    /// x86-64.
    X64,
    /// ARM64.
    Arm64,
}

impl Arch {
    /// The name CONTRACT.md uses (`x86`, `x86-pae`, `x64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::X86Pae => "x86-pae",
            Arch::X64 => "x64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Parses [`Arch::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Arch> {
        Some(match s {
            "x86" => Arch::X86,
            "x86-pae" => Arch::X86Pae,
            "x64" => Arch::X64,
            "arm64" => Arch::Arm64,
            _ => return None,
        })
    }

    /// True for 64-bit targets.
    pub fn is_64bit(self) -> bool {
        matches!(self, Arch::X64 | Arch::Arm64)
    }

    /// Pointer size in bytes.
    pub fn pointer_size(self) -> usize {
        if self.is_64bit() { 8 } else { 4 }
    }

    /// The architecture of a PE machine type (0x14c, 0x8664, 0xaa64); x86 is reported without PAE.
    pub fn from_machine(machine: u32) -> Option<Arch> {
        match machine {
            0x14c => Some(Arch::X86),
            0x8664 => Some(Arch::X64),
            0xaa64 => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The family profiles are keyed by: PAE and non-PAE x86 share one.
    pub fn profile_family(self) -> Arch {
        match self {
            Arch::X86Pae => Arch::X86,
            a => a,
        }
    }
}

/// The pool structures' architecture ([`poollayout::Arch`]): x86 with or without PAE is
/// `X86` (PAE changes the page tables, not the pool); ARM64 has no pool layout ([`NoPoolLayout`]).
///
/// ```
/// use pooldbg_ntkernel::Arch;
/// use poollayout::Arch as PoolArch; // pooldbg-poollayout, as ntkernel names it
/// assert_eq!(PoolArch::try_from(Arch::X86Pae), Ok(PoolArch::X86));
/// assert!(PoolArch::try_from(Arch::Arm64).is_err());
/// ```
impl TryFrom<Arch> for poollayout::Arch {
    type Error = NoPoolLayout;
    fn try_from(arch: Arch) -> Result<poollayout::Arch, NoPoolLayout> {
        match arch {
            Arch::X86 | Arch::X86Pae => Ok(poollayout::Arch::X86),
            Arch::X64 => Ok(poollayout::Arch::X64),
            Arch::Arm64 => Err(NoPoolLayout(arch)),
        }
    }
}

/// An architecture with no pool layout (ARM64: no public layout research yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoPoolLayout(pub Arch);

impl std::fmt::Display for NoPoolLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no pool layout is known for {} kernels", self.0.as_str())
    }
}

impl std::error::Error for NoPoolLayout {}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
