//! Test-side encoders: write pool structures the way the kernel lays them out, independently of the decoders.

#![allow(dead_code)]

use pooldbg_poollayout::{Arch, HeaderFormat, Layout, PoolHeader};

/// Encodes a `_POOL_HEADER` (sizes in block units).
pub fn header(layout: &Layout, h: &PoolHeader) -> Vec<u8> {
    let mut out = vec![0u8; layout.header_size()];
    match layout.header_format() {
        HeaderFormat::Nt50X86 => {
            out[0] = h.previous_size as u8;
            out[1] = h.pool_index;
            out[2] = h.pool_type;
            out[3] = h.block_size as u8;
        }
        HeaderFormat::X86 => {
            let a = (h.previous_size & 0x1ff) | (u16::from(h.pool_index & 0x7f) << 9);
            let b = (h.block_size & 0x1ff) | (u16::from(h.pool_type & 0x7f) << 9);
            out[0..2].copy_from_slice(&a.to_le_bytes());
            out[2..4].copy_from_slice(&b.to_le_bytes());
        }
        HeaderFormat::X64 => {
            out[0] = h.previous_size as u8;
            out[1] = h.pool_index;
            out[2] = h.block_size as u8;
            out[3] = h.pool_type;
            out[8..16].copy_from_slice(&h.process_billed.unwrap_or(0).to_le_bytes());
        }
    }
    out[4..8].copy_from_slice(&h.tag.0.to_le_bytes());
    out
}

/// The PoolType byte of an allocated (or free) block of base type `paged` in this layout's era.
pub fn pool_type_byte(layout: &Layout, paged: bool, allocated: bool) -> u8 {
    use pooldbg_poollayout::PoolTypeEra::*;
    match layout.family().era {
        Nt5 => {
            if allocated {
                (u8::from(paged) + 1) | 4
            } else {
                0
            }
        }
        Nt6 => {
            if allocated {
                u8::from(paged) | 2
            } else {
                0
            }
        }
        SegmentHeap => u8::from(paged),
    }
}

/// Builds a classic pool page from block sizes in units; `tags[i]` per block, allocated unless `free[i]`.
pub fn page(layout: &Layout, units: &[u16], tags: &[[u8; 4]], free: &[bool]) -> Vec<u8> {
    let mut p = vec![0u8; layout.page_size()];
    let mut off = 0;
    let mut prev = 0u16;
    for (i, &u) in units.iter().enumerate() {
        let h = PoolHeader {
            previous_size: prev,
            pool_index: 0,
            block_size: u,
            pool_type: pool_type_byte(layout, i % 3 == 1, !free[i]),
            tag: pooldbg_poollayout::Tag::from_bytes(tags[i]),
            process_billed: (layout.arch() == Arch::X64).then_some(0),
        };
        let b = header(layout, &h);
        p[off..off + b.len()].copy_from_slice(&b);
        off += layout.block_bytes(u);
        prev = u;
    }
    assert_eq!(off, p.len(), "blocks must fill the page");
    p
}

/// Splits a page's worth of units into block sizes that fill it exactly, from a seed list.
pub fn fill_units(layout: &Layout, seeds: &[u16]) -> Vec<u16> {
    let total = (layout.page_size() / layout.block_unit()) as u16;
    let max = match layout.header_format() {
        HeaderFormat::X86 => 0x1ff,
        _ => 0xff,
    }
    .min(total);
    let mut out = Vec::new();
    let mut left = total;
    for &s in seeds {
        if left == 0 {
            break;
        }
        let u = (s % max).max(1).min(left);
        out.push(u);
        left -= u;
    }
    while left > 0 {
        let u = left.min(max);
        out.push(u);
        left -= u;
    }
    out
}

/// Encodes an x64 or x86 VS chunk header (sizes in bytes) at `address` with `heap_key`.
pub fn vs_chunk(
    arch: Arch,
    address: u64,
    heap_key: u64,
    size: usize,
    prev: usize,
    allocated: bool,
    cost: u16,
) -> Vec<u8> {
    match arch {
        Arch::X64 => {
            let bits = u64::from(cost)
                | ((size as u64 >> 4) << 16)
                | ((prev as u64 >> 4) << 32)
                | (u64::from(allocated) << 48);
            let mut v = (bits ^ address ^ heap_key).to_le_bytes().to_vec();
            v.extend_from_slice(&[0u8; 8]);
            v
        }
        Arch::X86 => {
            let bits = u32::from(cost & 1)
                | (((size as u32 >> 3) & 0x7fff) << 1)
                | (((prev as u32 >> 3) & 0x7fff) << 16)
                | (u32::from(allocated) << 31);
            let mut v = (bits ^ address as u32 ^ heap_key as u32)
                .to_le_bytes()
                .to_vec();
            v.extend_from_slice(&[0u8; 4]);
            v
        }
    }
}

/// Encodes LFH `BlockOffsets.EncodedData`.
pub fn lfh_encoded(address: u64, lfh_key: u64, block_size: u16, first: u16) -> u32 {
    (u32::from(block_size) | (u32::from(first) << 16)) ^ (lfh_key as u32) ^ ((address as u32) >> 12)
}
