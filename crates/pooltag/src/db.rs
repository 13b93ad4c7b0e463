//! One parsed file with its indexes: exact tags in O(1), wildcards by their first byte.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use crate::parse::{Entry, Parsed, Warning, parse_bytes};
use crate::tag::Tag;

/// Where a [`TagDb`] came from: the layer that named a tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The project's own `crates/pooltag/data/pooltag.txt`, compiled in.
    Embedded,
    /// A file given on the command line (`--pooltag FILE`).
    File(PathBuf),
    /// A file named by the `POOLDBG_POOLTAG` environment variable.
    Env(PathBuf),
    /// A Debugging Tools for Windows install (`...\Debuggers\<arch>\triage\pooltag.txt`).
    WinDbg(PathBuf),
}

impl Source {
    /// A one-word name of the layer: `file`, `env`, `windbg` or `embedded`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Embedded => "embedded",
            Source::File(_) => "file",
            Source::Env(_) => "env",
            Source::WinDbg(_) => "windbg",
        }
    }

    /// The file behind the layer, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Source::Embedded => None,
            Source::File(p) | Source::Env(p) | Source::WinDbg(p) => Some(p),
        }
    }
}

impl fmt::Display for Source {
    /// `embedded`, or the kind and the path: `file /x/pooltag.txt`, `env /y`, `windbg C:\...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            None => f.write_str(self.kind()),
            Some(p) => write!(f, "{} {}", self.kind(), p.display()),
        }
    }
}

/// A hasher for the 4-byte tag key: one multiply and a fold (the std SipHash costs several times
/// more per lookup, and the keys are not attacker-chosen in a way that matters: a file of 5,000 lines).
#[derive(Default, Clone, Copy)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b) ^ (self.0 as u32));
        }
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        let h = (u64::from(v) ^ self.0.rotate_left(5)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

type TagMap = HashMap<u32, (u32, u32), BuildHasherDefault<TagHasher>>;

/// The entries of one pooltag.txt with their source, indexed for lookup.
///
/// Exact tags are found through a hash map keyed by the four (space-padded, case-sensitive) bytes;
/// wildcard entries are indexed by their first literal byte (plus one list for patterns that start
/// with `?` or `*`), so a lookup tests only the few patterns that could match.
#[derive(Clone)]
pub struct TagDb {
    source: Source,
    entries: Vec<Entry>,
    warnings: Vec<Warning>,
    /// tag -> (start, len) in `exact_order`.
    exact: TagMap,
    /// Indexes of exact entries, grouped by tag, file order within a tag.
    exact_order: Vec<u32>,
    /// Indexes of wildcard entries with a literal first byte, sorted by (first byte, file order).
    wild_order: Vec<u32>,
    /// `wild_order[wild_start[b]..wild_start[b + 1]]` are the patterns starting with byte `b`.
    wild_start: Box<[u32; 257]>,
    /// Wildcard entries starting with `?` or `*`, in file order.
    wild_any: Vec<u32>,
}

impl fmt::Debug for TagDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagDb")
            .field("source", &self.source)
            .field("entries", &self.entries.len())
            .field("warnings", &self.warnings.len())
            .finish()
    }
}

impl TagDb {
    /// Indexes parsed entries from `source`.
    pub fn new(source: Source, parsed: Parsed) -> TagDb {
        let Parsed {
            mut entries,
            warnings,
        } = parsed;
        // Indexes are u32: entries beyond 4G (a file of over 4G lines) are dropped.
        entries.truncate(u32::MAX as usize);
        let mut exact_keys: Vec<(u32, u32)> = Vec::new();
        let mut wild: Vec<(u8, u32)> = Vec::new();
        let mut wild_any = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let i = i as u32;
            match (e.pattern.as_tag(), e.pattern.literal_first()) {
                (Some(tag), _) => exact_keys.push((tag.to_u32(), i)),
                (None, Some(first)) => wild.push((first, i)),
                (None, None) => wild_any.push(i),
            }
        }
        exact_keys.sort_by_key(|&(k, i)| (k, i));
        let mut exact = TagMap::with_capacity_and_hasher(exact_keys.len(), Default::default());
        let mut exact_order = Vec::with_capacity(exact_keys.len());
        for (pos, &(k, i)) in exact_keys.iter().enumerate() {
            exact_order.push(i);
            exact
                .entry(k)
                .and_modify(|r: &mut (u32, u32)| r.1 += 1)
                .or_insert((pos as u32, 1));
        }
        wild.sort_by_key(|&(b, i)| (b, i));
        let mut wild_start = Box::new([0u32; 257]);
        for &(b, _) in &wild {
            wild_start[usize::from(b) + 1] += 1;
        }
        for b in 0..256 {
            wild_start[b + 1] += wild_start[b];
        }
        let wild_order = wild.into_iter().map(|(_, i)| i).collect();
        TagDb {
            source,
            entries,
            warnings,
            exact,
            exact_order,
            wild_order,
            wild_start,
            wild_any,
        }
    }

    /// Parses and indexes the bytes of a pooltag.txt file (see [`crate::parse_bytes`]).
    pub fn from_bytes(source: Source, bytes: &[u8]) -> TagDb {
        TagDb::new(source, parse_bytes(bytes))
    }

    /// The project's own database, compiled in (see [`crate::EMBEDDED_POOLTAG`]).
    pub fn embedded() -> TagDb {
        TagDb::from_bytes(Source::Embedded, crate::EMBEDDED_POOLTAG.as_bytes())
    }

    /// Where the entries came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// All entries in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The lines that were skipped, with their line numbers.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry naming `tag`: exact entries first, then matching wildcard entries, each group in
    /// file order.
    pub fn lookup(&self, tag: Tag) -> Matches<'_> {
        let exact: &[u32] = match self.exact.get(&tag.to_u32()) {
            Some(&(start, len)) => self
                .exact_order
                .get(start as usize..(start as usize).saturating_add(len as usize))
                .unwrap_or(&[]),
            None => &[],
        };
        let b = usize::from(tag.bytes()[0]);
        let (lo, hi) = (self.wild_start[b] as usize, self.wild_start[b + 1] as usize);
        Matches {
            entries: &self.entries,
            tag,
            exact,
            bucket: self.wild_order.get(lo..hi).unwrap_or(&[]),
            any: &self.wild_any,
        }
    }

    /// Whether any entry names `tag`.
    pub fn contains(&self, tag: Tag) -> bool {
        self.lookup(tag).next().is_some()
    }
}

/// The entries naming one tag: exact ones, then wildcards, each in file order (see [`TagDb::lookup`]).
#[derive(Debug, Clone)]
pub struct Matches<'a> {
    entries: &'a [Entry],
    tag: Tag,
    exact: &'a [u32],
    /// Wildcards whose first byte is the tag's, and those starting with `?`/`*`: merged in file order.
    bucket: &'a [u32],
    any: &'a [u32],
}

impl<'a> Iterator for Matches<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if let Some((&i, rest)) = self.exact.split_first() {
            self.exact = rest;
            return self.entries.get(i as usize);
        }
        loop {
            let i = match (self.bucket.first(), self.any.first()) {
                (Some(&a), Some(&b)) if b < a => {
                    self.any = &self.any[1..];
                    b
                }
                (Some(&a), _) => {
                    self.bucket = &self.bucket[1..];
                    a
                }
                (None, Some(&b)) => {
                    self.any = &self.any[1..];
                    b
                }
                (None, None) => return None,
            };
            if let Some(e) = self.entries.get(i as usize)
                && e.pattern.matches(self.tag)
            {
                return Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn db(text: &str) -> TagDb {
        TagDb::new(Source::Embedded, parse(text))
    }

    fn owners(db: &TagDb, tag: &str) -> Vec<String> {
        db.lookup(tag.parse().unwrap())
            .map(|e| e.binary.clone())
            .collect()
    }

    #[test]
    fn exact_then_wildcards_in_file_order() {
        let d = db(
            "Ab* - w1.sys - \n?bcd - w0.sys - \nAbcd - e1.sys - \nAb?d - w2.sys - \n\
                    Abcd - e2.sys - \nXbcd - x.sys - \n*    - all.sys - \n",
        );
        assert_eq!(
            owners(&d, "Abcd"),
            ["e1.sys", "e2.sys", "w1.sys", "w0.sys", "w2.sys", "all.sys"]
        );
        assert_eq!(owners(&d, "Xbcd"), ["x.sys", "w0.sys", "all.sys"]);
        assert_eq!(owners(&d, "Zzzz"), ["all.sys"]);
    }

    #[test]
    fn case_sensitive_and_padded() {
        let d = db("Ip   - ip.sys - \nIP   - IP.sys - \nPX1 - px.sys - \n");
        assert_eq!(owners(&d, "Ip"), ["ip.sys"]);
        assert_eq!(owners(&d, "IP  "), ["IP.sys"]);
        assert_eq!(owners(&d, "PX1 "), ["px.sys"]);
        assert!(owners(&d, "PX1x").is_empty());
        assert!(owners(&d, "ip").is_empty());
        assert!(!d.contains("iP".parse().unwrap()));
    }

    #[test]
    fn lookup_of_protected_tag_finds_the_plain_entry() {
        let d = db("Mmst - nt!mm - \n");
        let t = Tag::from_u32(u32::from_le_bytes(*b"Mmst") | crate::PROTECTED_POOL);
        assert_eq!(d.lookup(t).count(), 1);
    }

    #[test]
    fn source_and_line_are_kept() {
        let d = TagDb::new(
            Source::File("/x/p.txt".into()),
            parse("rem\n\nAbcd - a.sys - \n"),
        );
        let e = d.lookup("Abcd".parse().unwrap()).next().unwrap();
        assert_eq!(e.line, 3);
        assert_eq!(d.source().to_string(), "file /x/p.txt");
        assert_eq!(Source::Embedded.to_string(), "embedded");
        assert_eq!(Source::Env("e".into()).kind(), "env");
    }

    #[test]
    fn hasher_spreads_tags_sharing_a_first_byte() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<TagHasher>::default();
        let mut low = std::collections::HashSet::new();
        for c in b'a'..=b'z' {
            let k = u32::from_le_bytes([b'A', c, b'x', b' ']);
            low.insert(b.hash_one(k) & 0xff);
        }
        assert!(low.len() > 20, "{}", low.len());
    }
}
