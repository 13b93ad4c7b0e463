//! Parsing the SDK's pooltag.txt and a million mixed lookups, each beside a baseline measured in the
//! same run:
//!
//! - `parse::*`: `baseline_line_split` (split the same bytes into lines and count them) against
//!   `parse_bytes` and `tagdb_from_bytes` (parse and index).
//! - `lookup::*`: `baseline_std_hashmap` (a plain `HashMap<u32, usize>` with the std hasher, the same
//!   million keys) against `tagdb` (one layer: the SDK file) and `layered` (SDK file over embedded,
//!   as pooldbg runs with `--pooltag`).
//!
//! Run: `nice cargo bench -p pooldbg-pooltag`. Without ../shared/data the embedded file stands in for the SDK
//! copy (a note is printed).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::OnceLock;

use divan::Bencher;
use pooldbg_pooltag::{Source, Tag, TagDb, TagLookup};

fn main() {
    divan::main();
}

fn sdk() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        match testdata::require("data/pooltag/windows-sdk-10.0.25967/pooltag.txt") {
            Some(p) => std::fs::read(p).unwrap_or_default(),
            None => {
                eprintln!("note: SDK copy missing, benchmarking the embedded file instead");
                pooldbg_pooltag::EMBEDDED_POOLTAG.as_bytes().to_vec()
            }
        }
    })
}

mod parse {
    use super::*;

    #[divan::bench]
    fn baseline_line_split(b: Bencher) {
        let data = sdk();
        b.counter(divan::counter::BytesCount::new(data.len()))
            .bench(|| black_box(data).split(|&c| c == b'\n').count());
    }

    #[divan::bench]
    fn parse_bytes(b: Bencher) {
        let data = sdk();
        b.counter(divan::counter::BytesCount::new(data.len()))
            .bench(|| pooldbg_pooltag::parse_bytes(black_box(data)));
    }

    #[divan::bench]
    fn tagdb_from_bytes(b: Bencher) {
        let data = sdk();
        b.counter(divan::counter::BytesCount::new(data.len()))
            .bench(|| TagDb::from_bytes(Source::Embedded, black_box(data)));
    }
}

const LOOKUPS: usize = 1_000_000;

/// A million tags: half exact tags of the file, a quarter matched only by a wildcard (`Afd?`,
/// `Ntf?`, `Npf*`, `Gh??` with a varying byte), a quarter unknown. Deterministic (xorshift).
fn mixed_tags(db: &TagDb) -> Vec<Tag> {
    let exact: Vec<Tag> = db
        .entries()
        .iter()
        .filter_map(|e| e.pattern.as_tag())
        .collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..LOOKUPS)
        .map(|_| {
            let r = next();
            let pick = (r >> 32) as usize;
            let c = b"0123456789qzQZ#%"[(r as usize) & 15];
            match r % 4 {
                0 | 1 => exact[pick % exact.len()],
                2 => {
                    let stems: [&[u8; 3]; 4] = [b"Afd", b"Ntf", b"Npf", b"Gh\x01"];
                    let s = stems[pick % 4];
                    Tag::from_bytes([s[0], s[1], if s[2] == 1 { c } else { s[2] }, c])
                }
                _ => Tag::from_bytes([b'~', c, b'~', c]),
            }
        })
        .collect()
}

mod lookup {
    use super::*;

    fn fixture() -> &'static (TagLookup, Vec<Tag>) {
        static F: OnceLock<(TagLookup, Vec<Tag>)> = OnceLock::new();
        F.get_or_init(|| {
            let file = TagDb::from_bytes(Source::File("sdk".into()), sdk());
            let tags = mixed_tags(&file);
            (TagLookup::new(vec![file, TagDb::embedded()]), tags)
        })
    }

    #[divan::bench(sample_count = 20)]
    fn baseline_std_hashmap(b: Bencher) {
        let (l, tags) = fixture();
        let map: HashMap<u32, usize> = l.layers()[0]
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.pattern.as_tag()?.to_u32(), i)))
            .collect();
        b.bench(|| {
            let mut found = 0usize;
            for t in black_box(tags) {
                found += map.get(&t.to_u32()).copied().unwrap_or(0);
            }
            found
        });
    }

    #[divan::bench(sample_count = 20)]
    fn tagdb(b: Bencher) {
        let (l, tags) = fixture();
        let db = &l.layers()[0];
        b.bench(|| {
            let mut found = 0usize;
            for &t in black_box(tags) {
                found += db.lookup(t).next().map_or(0, |e| e.line as usize);
            }
            found
        });
    }

    #[divan::bench(sample_count = 20)]
    fn layered(b: Bencher) {
        let (l, tags) = fixture();
        b.bench(|| {
            let mut found = 0usize;
            for &t in black_box(tags) {
                found += l.lookup(t).map_or(0, |a| a.first().line as usize);
            }
            found
        });
    }
}
