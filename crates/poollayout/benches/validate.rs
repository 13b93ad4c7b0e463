//! Validating the pool headers of 1 GiB of classic pool pages, against a plain scan of the same memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]
//!
//! The pages are generated in memory (no I/O): each 4 KiB page is filled with a realistic mix of block sizes
//! (mostly small allocations, some medium, a few near-page ones), allocated and free, with plausible tags.
//! `check_page` follows and validates each page's header chain; `walk_blocks_x64` does what the pool scan does
//! per page (first-header test, then every block decoded and handed on); the baseline sums the same bytes as
//! `u64`s.
//! Run: `nice cargo bench -p pooldbg-poollayout --bench validate`.

use std::hint::black_box;
use std::sync::OnceLock;

use divan::Bencher;
use divan::counter::BytesCount;
use pooldbg_poollayout::{Arch, HeaderFormat, Layout};

const TOTAL: usize = 1 << 30;
const PAGE: usize = 4096;

fn main() {
    divan::main();
}

/// xorshift64*, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const TAGS: [&[u8; 4]; 8] = [
    b"Irp ", b"MmSt", b"File", b"Ntfx", b"CcSc", b"Vad ", b"ObNm", b"Toke",
];

/// A block size in units: ~70 % small (1–8 units), ~25 % medium (9–64), ~5 % large (65–max).
fn block_units(r: &mut Rng, max: u64) -> u64 {
    let x = r.next();
    match x % 100 {
        0..70 => 1 + (x >> 8) % 8,
        70..95 => 9 + (x >> 8) % 56,
        _ => 65 + (x >> 8) % (max - 64),
    }
}

fn generate(layout: &Layout) -> Vec<u8> {
    let mut mem = vec![0u8; TOTAL];
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let unit = layout.block_unit();
    let units_per_page = (PAGE / unit) as u64;
    let max = match layout.header_format() {
        HeaderFormat::X86 => 0x1ff,
        _ => 0xff,
    }
    .min(units_per_page);
    for page in mem.chunks_mut(PAGE) {
        let mut left = units_per_page;
        let mut prev = 0u64;
        let mut off = 0usize;
        while left > 0 {
            let u = block_units(&mut r, max).min(left);
            let allocated = !r.next().is_multiple_of(5);
            let paged = r.next() & 1;
            let tag = TAGS[(r.next() % 8) as usize];
            let h = &mut page[off..off + layout.header_size()];
            match layout.header_format() {
                HeaderFormat::X64 => {
                    h[0] = prev as u8;
                    h[2] = u as u8;
                    h[3] = if allocated { 2 | paged as u8 } else { 0 };
                }
                HeaderFormat::X86 => {
                    let a = prev as u16;
                    let b = u as u16 | (if allocated { 2 | paged as u16 } else { 0 }) << 9;
                    h[..2].copy_from_slice(&a.to_le_bytes());
                    h[2..4].copy_from_slice(&b.to_le_bytes());
                }
                HeaderFormat::Nt50X86 => unreachable!(),
            }
            h[4..8].copy_from_slice(tag);
            off += u as usize * unit;
            left -= u;
            prev = u;
        }
    }
    mem
}

fn pages(arch: Arch) -> &'static (Layout, Vec<u8>, usize) {
    static X64: OnceLock<(Layout, Vec<u8>, usize)> = OnceLock::new();
    static X86: OnceLock<(Layout, Vec<u8>, usize)> = OnceLock::new();
    let cell = match arch {
        Arch::X64 => &X64,
        Arch::X86 => &X86,
    };
    cell.get_or_init(|| {
        let layout = Layout::for_build(arch, 7601).expect("Windows 7 layout");
        let mem = generate(&layout);
        // Every generated page must validate, or the benchmark measures the error path.
        let blocks = mem
            .chunks(PAGE)
            .map(|p| layout.check_page(p).expect("generated page validates"))
            .sum();
        (layout, mem, blocks)
    })
}

fn validate(layout: &Layout, mem: &[u8]) -> usize {
    let mut blocks = 0;
    for page in mem.chunks_exact(PAGE) {
        match layout.check_page(page) {
            Ok(n) => blocks += n,
            Err((off, _)) => blocks += off,
        }
    }
    blocks
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn validate_headers_x64(b: Bencher) {
    let (layout, mem, blocks) = pages(Arch::X64);
    b.counter(BytesCount::new(mem.len())).bench(|| {
        let n = validate(layout, black_box(mem));
        assert_eq!(n, *blocks);
        n
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn validate_headers_x86(b: Bencher) {
    let (layout, mem, blocks) = pages(Arch::X86);
    b.counter(BytesCount::new(mem.len())).bench(|| {
        let n = validate(layout, black_box(mem));
        assert_eq!(n, *blocks);
        n
    });
}

/// What the pool scan does per page: the first-header test, then every block handed on (the
/// scan's `walk_page_with`, no allocation per page) into one reused vector.
fn scan_like(layout: &Layout, mem: &[u8], out: &mut Vec<pooldbg_poollayout::WalkedBlock>) -> usize {
    out.clear();
    for (i, page) in mem.chunks_exact(PAGE).enumerate() {
        if layout.starts_like_pool_page(page) {
            let _ = layout.walk_page_with(page, (i * PAGE) as u64, |b| out.push(b));
        }
    }
    out.len()
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn walk_blocks_x64(b: Bencher) {
    let (layout, mem, blocks) = pages(Arch::X64);
    let mut out = Vec::with_capacity(*blocks);
    b.counter(BytesCount::new(mem.len())).bench_local(|| {
        let n = scan_like(layout, black_box(mem), &mut out);
        assert_eq!(n, *blocks);
        n
    });
}

/// Baseline: read every byte of the same memory once (sum as u64 words).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn baseline_sum_x64_pages(b: Bencher) {
    let (_, mem, _) = pages(Arch::X64);
    b.counter(BytesCount::new(mem.len())).bench(|| {
        black_box(mem).chunks_exact(8).fold(0u64, |s, c| {
            s.wrapping_add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]))
        })
    });
}
