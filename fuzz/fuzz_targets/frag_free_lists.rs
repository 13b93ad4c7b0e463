//! `!frag` over fuzzed memory: a nonpaged descriptor and two pool pages whose bytes come from the
//! input, on XP x86 or Windows 7 x64 (byte 0). Free-list walks must end (cycle detection, bounds)
//! and never panic, whatever the links point at.

#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_sdk::{Arch, MemoryTarget, Source, TargetInfo};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let x64 = data[0] & 1 == 1;
    let (info, desc, pool) = if x64 {
        (
            TargetInfo { arch: Arch::X64, build: 7601, pointer_size: 8, ..Default::default() },
            0xffff_f800_0280_0000u64,
            0xffff_fa80_0100_0000u64,
        )
    } else {
        (
            TargetInfo { arch: Arch::X86, build: 2600, pointer_size: 4, ..Default::default() },
            0x8055_0000u64,
            0x8100_0000u64,
        )
    };
    let ptr = info.pointer_size as usize;
    let rest = &data[1..];
    let dlen = rest.len().min(0x2000);
    let mut t = MemoryTarget::new(info)
        .with_symbol("PoolVector", desc - 0x1000, Source::Kdbg)
        .with_virtual(desc - 0x1000, &desc.to_le_bytes()[..ptr])
        .with_virtual(desc, &rest[..dlen]);
    if rest.len() > dlen {
        t = t.with_virtual(pool, &rest[dlen..]);
    }
    if let Ok(rep) = pooldbg_frag::frag(&t, 1) {
        assert!(rep.total_fragments() <= (pooldbg_frag::MAX_LIST_ENTRIES as u64 + 1) * rep.rows.len() as u64);
        let _ = rep.text(true);
    }
});
