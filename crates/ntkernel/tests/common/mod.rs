//! Helpers shared by ntkernel's integration tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

use pooldbg_ntkernel::memory::SparseMemory;

/// Maps a PE file into memory at `base` as the loader would (headers, then each section).
pub fn map_image(file: &Path, base: u64) -> (SparseMemory, goblin::pe::PE<'static>) {
    let bytes: &'static [u8] = Box::leak(std::fs::read(file).unwrap().into_boxed_slice());
    let pe = goblin::pe::PE::parse(bytes).unwrap();
    let mut m = SparseMemory::new();
    let hdr = pe
        .header
        .optional_header
        .unwrap()
        .windows_fields
        .size_of_headers as usize;
    m.write(base, &bytes[..hdr.min(bytes.len())]);
    for s in &pe.sections {
        let start = s.pointer_to_raw_data as usize;
        let end = (start + s.size_of_raw_data as usize).min(bytes.len());
        m.write(base + u64::from(s.virtual_address), &bytes[start..end]);
    }
    (m, pe)
}
