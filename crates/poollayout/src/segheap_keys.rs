//! `HeapKey` and `LfhKey` recovered from known plaintext, for a segment-heap pool whose
//! `RtlpHpHeapGlobals` cannot be read or holds keys that do not decode it.
//!
//! Both encodings are XORs whose other terms the dump holds (sources: Yason, "Windows 10 Segment
//! Heap Internals", Black Hat USA 2016, as MemProcFS `vmmwinpool.c` and PoolViewer apply them;
//! facts only, this is our own code):
//! - **HeapKey.** A page segment's `Signature ^ HeapKey ^ segment_address ^ 0xA2E64EADA2E64EAD`
//!   is the address of the `_HEAP_SEG_CONTEXT` that owns it ([`Layout::decode_page_segment_signature`]).
//!   The segments are found keylessly on each context's `SegmentListHead`, so each one gives
//!   `HeapKey = Signature ^ segment ^ 0xA2E64EADA2E64EAD ^ context`. Kept when every segment of
//!   every heap gives the same key, at least two of them.
//! - **LfhKey** (its low 32 bits, all the decoding uses). An LFH subsegment's `BlockOffsets` is
//!   `EncodedData ^ LfhKey ^ ((u32)subsegment >> 12)`, plain `BlockSize` (low 16 bits) and
//!   `FirstBlockOffset` (high 16 bits) ([`Layout::decode_lfh_subsegment`]). With `E` the encoded
//!   word XOR the address term, `LfhKey = E ^ (FirstBlockOffset << 16 | BlockSize)`: every
//!   plausible (block size, first offset) pair of one subsegment — pool-block aligned, the
//!   subsegment's `BlockCount` blocks fitting its range, the `BlockBitmap` before the first block —
//!   gives a candidate, kept when the blocks it places are the ones the bitmap marks busy carrying
//!   a `_POOL_HEADER` with a plausible tag (the pool's own known plaintext), and when it does so
//!   on every other LFH subsegment too. Kept when exactly one candidate survives at least two
//!   subsegments.
//!
//! Anything else is "not recovered", never a guess.

use std::collections::{BTreeSet, HashMap};

use crate::Layout;
use crate::segheap::HeapKeys;
use crate::segheap_walk::{
    LfhState, MAX_SUBSEGMENT_BYTES, Reader, SegPool, SubKind, lfh_blocks, read_lenient,
};

/// The page size the first block must start in.
const PAGE_SIZE_BYTES: usize = 0x1000;

/// The most page segments per context, and LFH subsegments in all, the recovery reads.
const MAX_SAMPLES: usize = 64;

/// Recovers both keys from `pool`'s heaps (its `keys` are not used): `(keys, how)`.
pub fn recover(
    pool: &SegPool,
    layout: &Layout,
    read: &mut Reader<'_>,
) -> Result<(HeapKeys, String), String> {
    let (heap_key, segments) = heap_key(pool, layout, read)?;
    let mut with_heap = pool.clone();
    with_heap.keys = HeapKeys {
        heap_key,
        lfh_key: 0,
    };
    let (lfh_key, subsegments) = lfh_key(&with_heap, layout, read)?;
    Ok((
        HeapKeys { heap_key, lfh_key },
        format!(
            "HeapKey from {segments} page segment signatures, LfhKey from {subsegments} LFH subsegment headers"
        ),
    ))
}

/// `HeapKey` from the page segments' signatures: `(key, segments that agree)`.
pub fn heap_key(
    pool: &SegPool,
    layout: &Layout,
    read: &mut Reader<'_>,
) -> Result<(u64, usize), String> {
    let s = layout.segment_heap().map_err(|e| e.to_string())?;
    let mask = if layout.pointer_size() == 4 {
        0xffff_ffff
    } else {
        u64::MAX
    };
    let mut votes: HashMap<u64, usize> = HashMap::new();
    for (hi, h) in pool.heaps.iter().enumerate() {
        for (ci, c) in h.decoded.seg_contexts.iter().enumerate() {
            if !SegPool::context_usable(c) {
                continue;
            }
            let (list, _) = pool.segments(layout, hi, ci, read);
            for seg in list.into_iter().take(MAX_SAMPLES) {
                let mut b = vec![0u8; s.page_segment_size];
                if read(seg, &mut b).is_err() {
                    continue;
                }
                // With key 0 the decoding gives `Signature ^ segment ^ constant`.
                let Ok(v) = layout.decode_page_segment_signature(&b, seg, 0) else {
                    continue;
                };
                *votes.entry((v ^ h.contexts[ci]) & mask).or_default() += 1;
            }
        }
    }
    match votes.len() {
        0 => Err("HeapKey: no page segment could be read".into()),
        1 => {
            let (&k, &n) = votes.iter().next().ok_or("HeapKey: no vote")?;
            if n >= 2 {
                Ok((k, n))
            } else {
                Err("HeapKey: only one page segment to derive it from, none to confirm it".into())
            }
        }
        n => Err(format!(
            "HeapKey: the page segments' signatures give {n} different keys"
        )),
    }
}

/// `LfhKey` from the LFH subsegments' headers (`pool.keys.heap_key` must be right: it finds the
/// subsegments): `(key, subsegments that agree)`.
pub fn lfh_key(
    pool: &SegPool,
    layout: &Layout,
    read: &mut Reader<'_>,
) -> Result<(u64, usize), String> {
    let subs = pool.subsegments(layout, &|_| true, read);
    let mut samples: Vec<(u64, Vec<u8>)> = Vec::new();
    for sub in subs
        .subsegments
        .iter()
        .filter(|x| SubKind::of(x.range.kind) == Some(SubKind::Lfh))
    {
        if samples.len() >= MAX_SAMPLES {
            break;
        }
        let len = sub.range.length.min(MAX_SUBSEGMENT_BYTES) as usize;
        let (bytes, missing) = read_lenient(read, sub.range.address, len);
        if missing.first() == Some(&sub.range.address) {
            continue;
        }
        samples.push((sub.range.address, bytes));
    }
    if samples.len() < 2 {
        return Err(format!(
            "LfhKey: {} readable LFH subsegment(s), at least two are needed to confirm a key",
            samples.len()
        ));
    }
    // Candidates from the subsegment with the fewest blocks' worth of choices: the first.
    let (a0, b0) = &samples[0];
    let mut survivors: BTreeSet<u64> = candidates(layout, b0, *a0)
        .into_iter()
        .filter(|&k| busy_blocks_hold_headers(layout, b0, *a0, k))
        .collect();
    for (a, b) in &samples[1..] {
        survivors.retain(|&k| busy_blocks_hold_headers(layout, b, *a, k));
        if survivors.is_empty() {
            break;
        }
    }
    match survivors.len() {
        1 => Ok((survivors.into_iter().next().unwrap_or(0), samples.len())),
        0 => Err(format!(
            "LfhKey: no key places busy blocks with pool headers on all {} LFH subsegments",
            samples.len()
        )),
        n => Err(format!(
            "LfhKey: {n} keys fit all {} LFH subsegments; none is used",
            samples.len()
        )),
    }
}

/// The keys one subsegment allows: for every plausible (block size, first block offset).
fn candidates(layout: &Layout, bytes: &[u8], address: u64) -> Vec<u64> {
    let Ok(s) = layout.segment_heap() else {
        return Vec::new();
    };
    // With key 0 the decoding gives `E` = the encoded word ^ the address term.
    let Ok(e) = layout.decode_lfh_subsegment(bytes, address, 0) else {
        return Vec::new();
    };
    let e = ((e.first_block_offset as u64) << 16) | e.block_size as u64;
    let count = usize::from(
        layout
            .decode_lfh_subsegment(bytes, address, 0)
            .map_or(0, |x| x.block_count),
    );
    if count == 0 {
        return Vec::new();
    }
    let align = layout.header_size();
    let first_min = (s.lfh_block_bitmap + count.div_ceil(4)).next_multiple_of(align);
    let mut out = Vec::new();
    for size in (align..0xff8).step_by(align) {
        let Some(blocks) = size.checked_mul(count) else {
            continue;
        };
        // The first block lies in the first page.
        let last_first = bytes
            .len()
            .saturating_sub(blocks)
            .min(PAGE_SIZE_BYTES - align);
        for first in (first_min..=last_first).step_by(align) {
            out.push(e ^ (((first as u64) << 16) | size as u64));
        }
    }
    out
}

/// True when `key` decodes the subsegment at `address` (`bytes` its range) soundly and every
/// block its bitmap marks busy, at least one, starts with a pool header of plausible tag.
fn busy_blocks_hold_headers(layout: &Layout, bytes: &[u8], address: u64, key: u64) -> bool {
    let Ok((_, blocks)) = lfh_blocks(layout, bytes, address, key) else {
        return false;
    };
    let mut busy = 0usize;
    for b in &blocks {
        if b.state != LfhState::Allocated {
            continue;
        }
        let off = b.address.wrapping_sub(address) as usize;
        match bytes.get(off..).map(|h| layout.decode_header(h)) {
            Some(Ok(h)) if h.tag.is_plausible() => busy += 1,
            _ => return false,
        }
    }
    busy > 0
}
