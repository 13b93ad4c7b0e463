//! A [`plugin_sdk::Target`] over a built [`Kernel`], without pooldbg's host (feature `target`).
//!
//! For plugin authors' end-to-end tests (issue #22): build a kernel with [`crate::KernelBuilder`],
//! wrap it in [`KernelTarget`], run the command's logic as a plain function, and compare its rows
//! with the kernel's [`crate::Manifest`]. No dump file, no dynamic loading, no host crate.
//!
//! ```
//! use plugin_sdk::{Target, TargetExt};
//! use pooldbg_testkit::{KernelBuilder, PoolKind, profile, target::KernelTarget};
//!
//! let k = KernelBuilder::new(profile("win7sp1-x64").expect("a known profile"))
//!     .memory_mib(32)
//!     .big(b"MyBg", 0x3000, PoolKind::NonPaged)
//!     .build()?;
//! let t = KernelTarget::new(&k);
//! assert_eq!(t.info().build, 7601);
//! let table = t.symbol_address("nt!PoolBigPageTable").expect("a global the builder wrote");
//! assert_eq!(t.read_u64(table.value)?, k.manifest.big_page_table.address.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it answers, and from where (all of it the builder's own ground truth, never a decoder's
//! reading, so a plugin cannot pass by sharing a misreading with this crate):
//!
//! - virtual reads: the builder's own mappings ([`Kernel::mapped`]); pages the manifest lists in
//!   `special_pages` answer as the host does: `paged_out` → [`ReadStatus::PagedOut`] with the
//!   page file and byte offset, `transition` → the bytes of its PFN (pooldbg reads transition pages),
//!   `absent` → [`ReadStatus::NotInDump`]; anything else → [`ReadStatus::NotMapped`];
//! - physical reads: the machine's runs ([`crate::PhysicalMemory`]); outside them, or a PFN no dump
//!   holds → [`ReadStatus::NotInDump`];
//! - symbols: the globals the builder wrote (`manifest.globals`, with or without `nt!`), with source
//!   [`Source::UserSymbols`] (exact, as a matching PDB would be); no types or fields (commands that need
//!   them see `None`, as with a dump that has no symbols);
//! - `info`: `manifest.info` (`dump_type` `"testkit"`: no container was written);
//! - pool tags: only those added with [`KernelTarget::with_tag`] (no tag database here);
//! - log lines are kept ([`KernelTarget::logs`]); cancellation with [`KernelTarget::cancel`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use plugin_sdk::{
    Arch as SdkArch, FieldOffset, LogLevel, Read, ReadStatus, Source, Sourced, TagInfo, Target,
    TargetInfo,
};

use crate::memory::PAGE;
use crate::{Arch, Kernel};

/// How a special page answers.
#[derive(Debug, Clone, Copy)]
enum Special {
    /// Readable through this PFN (transition).
    Frame(u64),
    /// Not readable, with this status.
    Status(ReadStatus),
}

/// A [`Target`] over a testkit [`Kernel`] (see the module documentation for what it answers).
#[derive(Debug)]
pub struct KernelTarget<'k> {
    kernel: &'k Kernel,
    info: TargetInfo,
    globals: HashMap<String, u64>,
    special: BTreeMap<u64, Special>,
    tags: HashMap<[u8; 4], TagInfo>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    cancelled: AtomicBool,
}

/// The SDK's architecture for a testkit one (the same names: CONTRACT.md's `x86`, `x86-pae`, `x64`).
impl From<Arch> for SdkArch {
    fn from(arch: Arch) -> SdkArch {
        match arch {
            Arch::X86 => SdkArch::X86,
            Arch::X86Pae => SdkArch::X86Pae,
            Arch::X64 => SdkArch::X64,
        }
    }
}

impl<'k> KernelTarget<'k> {
    /// A target over `kernel`.
    pub fn new(kernel: &'k Kernel) -> Self {
        let m = &kernel.manifest;
        let info = TargetInfo {
            arch: SdkArch::from(kernel.facts.arch),
            build: m.info.build,
            version: m.info.version.clone(),
            dump_type: m
                .info
                .dump_type
                .clone()
                .unwrap_or_else(|| "testkit".to_string()),
            processors: m.info.processors,
            kernel_base: m.info.kernel_base.0,
            pointer_size: kernel.facts.arch.ptr_size() as u32,
        };
        let globals = m
            .globals
            .iter()
            .map(|g| (g.name.clone(), g.address.0))
            .collect();
        let mut special = BTreeMap::new();
        for s in &m.special_pages {
            let answer = match s.state.as_str() {
                "paged_out" => Special::Status(ReadStatus::PagedOut {
                    pagefile: s.page_file.unwrap_or(0) as u32,
                    offset: s.page_file_offset.as_ref().map_or(0, |o| o.0),
                }),
                "transition" => match &s.pfn {
                    Some(pfn) => Special::Frame(pfn.0),
                    None => Special::Status(ReadStatus::Error),
                },
                "absent" => Special::Status(ReadStatus::NotInDump),
                _ => Special::Status(ReadStatus::Error),
            };
            special.insert(s.va.0 & !(PAGE - 1), answer);
        }
        KernelTarget {
            kernel,
            info,
            globals,
            special,
            tags: HashMap::new(),
            logs: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Adds what the tag database says about `tag` (this target has no database of its own).
    pub fn with_tag(mut self, tag: [u8; 4], binary: &str, description: &str) -> Self {
        self.tags.insert(
            tag,
            TagInfo {
                binary: binary.to_string(),
                description: description.to_string(),
                source: "testkit".to_string(),
            },
        );
        self
    }

    /// The log lines the command wrote, in order.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sets the cancellation flag ([`Target::is_cancelled`] turns true).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// The kernel it reads.
    pub fn kernel(&self) -> &Kernel {
        self.kernel
    }

    /// Where the byte at virtual `va` is: its physical address, or why it cannot be read.
    fn locate_virtual(&self, va: u64) -> Result<u64, ReadStatus> {
        let page = va & !(PAGE - 1);
        let within = va - page;
        let pfn = match self.special.get(&page) {
            Some(Special::Status(s)) => return Err(*s),
            Some(Special::Frame(pfn)) => *pfn,
            None => *self.kernel.mapped.get(&page).ok_or(ReadStatus::NotMapped)?,
        };
        self.locate_physical(pfn.saturating_mul(PAGE).saturating_add(within))
    }

    /// `pa` itself when a dump of this machine would hold it.
    fn locate_physical(&self, pa: u64) -> Result<u64, ReadStatus> {
        let pfn = pa / PAGE;
        let mem = &self.kernel.memory;
        if !mem.in_runs(pfn) || mem.absent().contains(&pfn) {
            return Err(ReadStatus::NotInDump);
        }
        Ok(pa)
    }

    fn read_with(&self, read: &mut Read<'_>, locate: impl Fn(u64) -> Result<u64, ReadStatus>) {
        read.bytes_read = 0;
        let len = read.buf.len();
        while read.bytes_read < len {
            let addr = read.address.wrapping_add(read.bytes_read as u64);
            let within = (addr % PAGE) as usize;
            let n = (len - read.bytes_read).min(PAGE as usize - within);
            match locate(addr) {
                Ok(pa) => {
                    self.kernel
                        .memory
                        .read(pa, &mut read.buf[read.bytes_read..read.bytes_read + n]);
                    read.bytes_read += n;
                }
                Err(status) => {
                    read.status = status;
                    read.fault_address = addr;
                    return;
                }
            }
        }
        read.status = ReadStatus::Ok;
        read.fault_address = 0;
    }
}

impl Target for KernelTarget<'_> {
    fn read_virtual(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            self.read_with(r, |va| self.locate_virtual(va));
        }
    }

    fn read_physical(&self, reads: &mut [Read<'_>]) {
        for r in reads {
            self.read_with(r, |pa| self.locate_physical(pa));
        }
    }

    fn symbol_address(&self, name: &str) -> Option<Sourced<u64>> {
        let bare = name.strip_prefix("nt!").unwrap_or(name);
        self.globals.get(bare).map(|&value| Sourced {
            value,
            source: Source::UserSymbols,
        })
    }

    fn type_size(&self, _type_name: &str) -> Option<Sourced<u64>> {
        None
    }

    fn field_offset(&self, _type_name: &str, _field: &str) -> Option<FieldOffset> {
        None
    }

    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn pool_tag(&self, tag: [u8; 4]) -> Option<TagInfo> {
        self.tags.get(&tag).cloned()
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Ok(mut l) = self.logs.lock() {
            l.push((level, message.to_string()));
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KernelBuilder, PoolKind, profile};
    use plugin_sdk::TargetExt;

    fn kernel(name: &str) -> Kernel {
        KernelBuilder::new(profile(name).expect("known profile"))
            .memory_mib(32)
            .big(b"TkPo", 0x4000, PoolKind::Paged)
            .big(b"TkAb", 0x3000, PoolKind::NonPaged)
            .alloc(b"Smal", 0x100, PoolKind::NonPaged)
            .build()
            .expect("builds")
    }

    #[test]
    fn reads_globals_blocks_and_special_pages_as_the_manifest_says() {
        for name in ["win7sp1-x64", "xpsp3-x86"] {
            let k = kernel(name);
            let t = KernelTarget::new(&k);
            assert_eq!(t.info().build, k.manifest.info.build, "{name}");
            assert_eq!(t.info().arch.name(), k.manifest.info.arch, "{name}");
            // A global's value, through the builder's mappings.
            let g = t.symbol_address("PoolBigPageTable").expect("global");
            assert_eq!(g.source, Source::UserSymbols);
            let ptr = t.info().pointer_size;
            assert_eq!(
                t.read_pointer(g.value, ptr).expect("readable"),
                k.manifest.big_page_table.address.0,
                "{name}"
            );
            // Every special page answers with its state.
            assert!(!k.manifest.special_pages.is_empty(), "{name}");
            for s in &k.manifest.special_pages {
                let mut b = [0u8; 8];
                let r = t.read_virtual_exact(s.va.0, &mut b);
                match s.state.as_str() {
                    "paged_out" => {
                        let e = r.expect_err("paged out");
                        assert!(matches!(e.status, ReadStatus::PagedOut { .. }), "{e}");
                    }
                    "transition" => assert!(r.is_ok(), "{name}: transition is readable"),
                    "absent" => {
                        assert_eq!(r.expect_err("absent").status, ReadStatus::NotInDump)
                    }
                    other => panic!("unexpected state {other}"),
                }
            }
            // A small block's header holds its tag where the manifest says.
            let b = k
                .manifest
                .blocks
                .iter()
                .find(|b| b.tag == "Smal")
                .expect("block");
            let mut tag = [0u8; 4];
            // _POOL_HEADER.PoolTag is at +4 on x86 and x64 (the testkit's own profile tables).
            t.read_virtual_exact(b.address.0 + 4, &mut tag)
                .expect("header readable");
            assert_eq!(&tag, b"Smal", "{name}");
        }
    }

    #[test]
    fn unmapped_and_outside_memory_say_so() {
        let k = kernel("win7sp1-x64");
        let t = KernelTarget::new(&k);
        let mut b = [0u8; 4];
        let e = t.read_virtual_exact(0x1000, &mut b).expect_err("user page");
        assert_eq!(e.status, ReadStatus::NotMapped);
        let end = k.memory.end_pfn() * PAGE;
        let e = t.read_physical_exact(end, &mut b).expect_err("past memory");
        assert_eq!(e.status, ReadStatus::NotInDump);
        t.log(LogLevel::Info, "hi");
        assert_eq!(t.logs().len(), 1);
        assert!(!t.is_cancelled());
        t.cancel();
        assert!(t.is_cancelled());
    }
}
