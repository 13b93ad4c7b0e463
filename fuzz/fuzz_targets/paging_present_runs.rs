//! The present-page walk over a fuzzed page-table image: byte 0 picks the mode, bytes 1..9 the
//! range start, 9..17 its length, the rest is physical memory from address 0 (the top table at 0).
//! The walk must end, list runs in order inside the range, and count each walked page once.
#![no_main]

use dumpfile::{Dump, ForceContainer, OpenOptions};
use libfuzzer_sys::fuzz_target;
use paging::{AddressSpace, Mode, PagingConfig};

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let mode = [Mode::X86, Mode::X86Pae, Mode::X64, Mode::X64La57][usize::from(data[0] & 3)];
    let word = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&data[at..at + 8]);
        u64::from_le_bytes(a)
    };
    let start = word(1) & !0xfff;
    let end = start.saturating_add(word(9) & 0xff_ffff_f000);
    let Ok(d) = Dump::from_vec_with(data[17..].to_vec(), OpenOptions::new().force(ForceContainer::Raw))
    else {
        return;
    };
    let s = AddressSpace::new(&d, PagingConfig::new(mode, 0));
    let w = s.present_runs(start, end, 1 + usize::from(data[0] >> 2));
    assert!(w.next >= start && w.next <= end.max(start));
    let mut last = start;
    for r in &w.runs {
        assert!(r.va >= last && r.len > 0 && r.end() <= end);
        last = r.end();
        assert!(s.translate(r.va).is_ok());
    }
    let c = w.counts;
    let walked = c.present() + c.paged_out + c.demand_zero + c.prototype + c.absent
        + c.table_not_in_dump + c.bad;
    assert_eq!(walked, (w.next.min(end) - start).div_ceil(0x1000));
});
