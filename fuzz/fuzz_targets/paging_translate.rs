//! Translation over a fuzzed page-table image: byte 0 picks the mode and options, bytes 1..9 the
//! address, the rest is physical memory from address 0 (the top table at 0).
#![no_main]

use dumpfile::{Dump, ForceContainer, OpenOptions};
use libfuzzer_sys::fuzz_target;
use paging::{AddressSpace, Mode, PagingConfig, VirtualRead};

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let mode = [Mode::X86, Mode::X86Pae, Mode::X64, Mode::X64La57][usize::from(data[0] & 3)];
    let mut a = [0u8; 8];
    a.copy_from_slice(&data[1..9]);
    let va = u64::from_le_bytes(a);
    let Ok(d) = Dump::from_vec_with(data[9..].to_vec(), OpenOptions::new().force(ForceContainer::Raw))
    else {
        return;
    };
    let mut cfg = PagingConfig::new(mode, 0).with_pte_base(0xfffff68000000000);
    if data[0] & 4 != 0 {
        cfg = cfg.with_swizzle(data[0] >> 3, 4);
    }
    let s = AddressSpace::new(&d, cfg);
    let w = s.walk(va);
    assert!(w.entries.len() <= usize::from(mode.levels()));
    assert_eq!(w.result, s.translate(va));
    let (mut b1, mut b2) = ([0u8; 0x1801], [0u8; 3]);
    let mut reads = [
        VirtualRead { va, buf: &mut b1 },
        VirtualRead { va: va.wrapping_add(0xffd), buf: &mut b2 },
    ];
    for o in s.read_many(&mut reads) {
        let failed: usize = o.failed.iter().map(|f| f.len).sum();
        assert!(o.bytes_read + failed == 0x1801 || o.bytes_read + failed == 3);
    }
});
