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
//!   [`locate`], [`fallback`]);
//! * **which modules are loaded** ([`modules`]).
//!
//! It knows nothing about dump files or page tables: an adapter binds [`memory::KernelMemory`] to
//! the `dumpfile` and `paging` crates (see the README).

pub mod isf;
pub mod locate;
pub mod pdbfile;
pub mod symbols;

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
