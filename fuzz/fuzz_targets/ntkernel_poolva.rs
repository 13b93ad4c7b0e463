//! Pool ranges (`poollayout::regions`, through `ntkernel::poolva`) over arbitrary memory: the first 4 bytes are the build, the
//! next byte picks the architecture and which globals exist, the next 8 give the field offsets of
//! `Vs` / `SystemVaRegions`, and the rest is memory at the globals' addresses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::memory::{KernelMemory, SparseMemory};
use ntkernel::poolva::{PoolVaView, pool_regions};
use poollayout::{FaultKind, ReadFault};
use ntkernel::Arch;

const BASE: u64 = 0xfffff800_0000_0ff0;
const NAMES: [&str; 7] = [
    "MmNonPagedPoolStart",
    "MmNonPagedPoolEnd",
    "MiNonPagedPoolEnd",
    "MmPagedPoolStart",
    "MiPagedPoolStart",
    "MmPagedPoolEnd",
    "MiState",
];

struct View {
    mem: SparseMemory,
    mask: u8,
    vs: u64,
    regions: u64,
    ptr: usize,
}

impl PoolVaView for View {
    fn global(&self, name: &str) -> Option<u64> {
        let i = NAMES.iter().position(|n| *n == name)?;
        (self.mask & (1 << i) != 0).then_some(BASE + 8 * i as u64)
    }
    fn field_offset(&self, t: &str, f: &str) -> Option<u64> {
        match (t, f) {
            ("_MI_SYSTEM_INFORMATION", "Vs") => Some(self.vs),
            ("_MI_VISIBLE_STATE", "SystemVaRegions") => Some(self.regions),
            ("_MI_SYSTEM_VA_ASSIGNMENT", "BaseAddress") => Some(0),
            ("_MI_SYSTEM_VA_ASSIGNMENT", "NumberOfBytes") => Some(8),
            _ => None,
        }
    }
    fn type_size(&self, _t: &str) -> Option<u64> {
        Some(16)
    }
    fn read_pointer(&self, va: u64) -> Result<u64, ReadFault> {
        let mut b = [0u8; 8];
        self.mem
            .read_virtual(va, &mut b[..self.ptr])
            .map_err(|e| ReadFault {
                address: e.address,
                kind: FaultKind::Other,
                message: e.to_string(),
            })?;
        Ok(u64::from_le_bytes(b))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let build = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let sel = data[4];
    let vs = u64::from(u32::from_le_bytes([data[5], data[6], data[7], data[8]]) & 0xffff);
    let regions = u64::from(u32::from_le_bytes([data[9], data[10], data[11], data[12]]) & 0xffff);
    let arch = if sel & 0x80 != 0 { Arch::X86 } else { Arch::X64 };
    let mut mem = SparseMemory::new();
    mem.write(BASE, &data[13..]);
    let view = View {
        mem,
        mask: sel & 0x7f,
        vs,
        regions,
        ptr: arch.pointer_size(),
    };
    let r = pool_regions(&view, arch, build);
    assert!(r.regions.len() + r.warnings.len() == 2);
    for reg in &r.regions {
        assert!(reg.start < reg.end && reg.start % 0x1000 == 0 && reg.end % 0x1000 == 0);
    }
});
