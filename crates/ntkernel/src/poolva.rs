//! Where the pool is, over the host's kernel model: the per-version knowledge is
//! [`poollayout::regions`] (re-exported here); this module adds the [`PoolVaView`] over a
//! [`Kernel`]'s symbols and memory, so [`Kernel::pool_regions`] and a plugin's `Target` ask the
//! same question the same way.

use crate::Arch;
use crate::memory::KernelMemory;
use crate::target::Kernel;

pub use poollayout::regions::{
    PoolKind, PoolRegion, PoolRegions, PoolVaView, VaArch, WIN7_X64_PAGED_POOL_START,
    assigned_region_indexes,
};
use poollayout::{FaultKind, ReadFault};

/// The pool regions of a kernel of `arch` and `build` as `view` answers
/// ([`poollayout::regions::pool_regions`] with this crate's [`Arch`]).
pub fn pool_regions(view: &dyn PoolVaView, arch: Arch, build: u32) -> PoolRegions {
    poollayout::regions::pool_regions(view, va_arch(arch), build)
}

/// The processor family as [`poollayout::regions`] distinguishes it.
pub fn va_arch(arch: Arch) -> VaArch {
    match arch {
        Arch::X86 | Arch::X86Pae => VaArch::X86,
        Arch::Arm64 => VaArch::Arm64,
        _ => VaArch::X64,
    }
}

struct KernelView<'a> {
    kernel: &'a Kernel,
    mem: &'a dyn KernelMemory,
}

impl PoolVaView for KernelView<'_> {
    fn global(&self, name: &str) -> Option<u64> {
        self.kernel.global_va(name).map(|a| a.value)
    }
    fn field_offset(&self, type_name: &str, field: &str) -> Option<u64> {
        self.kernel
            .symbols
            .field(type_name, field)
            .map(|a| a.value.offset)
    }
    fn type_size(&self, type_name: &str) -> Option<u64> {
        self.kernel.symbols.type_size(type_name).map(|a| a.value)
    }
    fn read_pointer(&self, va: u64) -> Result<u64, ReadFault> {
        let mut b = [0u8; 8];
        let n = self.kernel.identity.arch.pointer_size();
        self.mem
            .read_virtual(va, &mut b[..n])
            .map_err(|e| ReadFault {
                address: e.address,
                kind: match e.kind {
                    crate::memory::FaultKind::NotMapped => FaultKind::NotMapped,
                    crate::memory::FaultKind::PagedOut => FaultKind::PagedOut,
                    crate::memory::FaultKind::NotInDump => FaultKind::NotInDump,
                    crate::memory::FaultKind::Other(_) => FaultKind::Other,
                },
                message: e.to_string(),
            })?;
        Ok(u64::from_le_bytes(b))
    }
}

impl Kernel {
    /// The pool regions of this kernel, read from `mem` (see the [module](self) for the sources).
    pub fn pool_regions(&self, mem: &dyn KernelMemory) -> PoolRegions {
        pool_regions(
            &KernelView { kernel: self, mem },
            self.identity.arch,
            self.identity.build.unwrap_or(0),
        )
    }
}
