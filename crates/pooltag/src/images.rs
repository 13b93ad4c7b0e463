//! Candidate owners of an unknown tag, found by scanning driver images for the tag's bytes.

use crate::tag::Tag;

/// A driver image that holds a tag's bytes: a candidate owner, not a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The module name as the caller gave it (e.g. `mydrv.sys`).
    pub module: String,
    /// How many times the tag's four bytes occur in the image (with or without the protected bit).
    pub hits: usize,
}

/// Why a tag is not searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotSearched {
    /// The tag holds a zero byte: such bytes fill every image, so hits would mean nothing.
    ZeroByte,
    /// All four bytes are the same (`    `, `AAAA`): padding and fill patterns would match.
    RepeatedByte,
}

impl std::fmt::Display for NotSearched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotSearched::ZeroByte => "the tag holds a zero byte; a search would match padding",
            NotSearched::RepeatedByte => "the tag repeats one byte; a search would match fill",
        })
    }
}

/// Looks for `tag` in the images of loaded drivers, as Microsoft's advice for unknown tags does with
/// `findstr /m /l <tag> *.sys` (KB298102, "How to find pool tags that are used by third-party
/// drivers"): a driver that allocates with a tag carries it as a 32-bit immediate or a constant, whose
/// bytes in the image are the tag's bytes in memory order.
///
/// `images` are `(module name, image bytes)` pairs the caller read (from the dump's loaded-module list,
/// or from files). The method counts non-overlapping occurrences of the four bytes, and of the same
/// bytes with the protected bit (0x80 in the fourth byte) set, anywhere in the image. Results are
/// **candidates**: a hit may be unrelated data, and a driver may build its tag at run time and never
/// hit. Modules with no hit are left out; the rest come most hits first, then by name.
///
/// ```
/// let tag: pooldbg_pooltag::Tag = "Mine".parse().unwrap();
/// let images: [(&str, &[u8]); 2] = [("a.sys", b"..Mine..Mine"), ("b.sys", b"nothing")];
/// let c = pooldbg_pooltag::find_tag_in_images(tag, images).unwrap();
/// assert_eq!((c[0].module.as_str(), c[0].hits), ("a.sys", 2));
/// assert_eq!(c.len(), 1);
/// ```
pub fn find_tag_in_images<'a>(
    tag: Tag,
    images: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<Candidate>, NotSearched> {
    let b = tag.bytes();
    if b.contains(&0) {
        return Err(NotSearched::ZeroByte);
    }
    if b.iter().all(|&x| x == b[0]) {
        return Err(NotSearched::RepeatedByte);
    }
    let plain = tag.to_u32();
    let protected = plain | crate::PROTECTED_POOL;
    let mut out: Vec<Candidate> = images
        .into_iter()
        .filter_map(|(module, bytes)| {
            let hits = count(bytes, plain, protected);
            (hits > 0).then(|| Candidate {
                module: module.to_string(),
                hits,
            })
        })
        .collect();
    out.sort_by(|x, y| y.hits.cmp(&x.hits).then_with(|| x.module.cmp(&y.module)));
    Ok(out)
}

/// Non-overlapping occurrences of either 32-bit little-endian value.
fn count(bytes: &[u8], a: u32, b: u32) -> usize {
    let first = a.to_le_bytes()[0];
    let mut hits = 0;
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if bytes[i] == first {
            let w = u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            if w == a || w == b {
                hits += 1;
                i += 4;
                continue;
            }
        }
        i += 1;
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_plain_and_protected_and_sorts() {
        let t: Tag = "Abcd".parse().unwrap();
        let a = b"xxAbcdyyAbc\xe4zzAbc".to_vec();
        let b = b"Abcd".to_vec();
        let c = b"abcd ABCD Abc".to_vec();
        let imgs = [("b.sys", &b[..]), ("a.sys", &a[..]), ("c.sys", &c[..])];
        let got = find_tag_in_images(t, imgs).unwrap();
        assert_eq!(
            got,
            [
                Candidate {
                    module: "a.sys".into(),
                    hits: 2
                },
                Candidate {
                    module: "b.sys".into(),
                    hits: 1
                }
            ]
        );
    }

    #[test]
    fn overlapping_occurrences_count_once() {
        let t: Tag = "abab".parse().unwrap();
        let img = b"ababab".to_vec();
        let got = find_tag_in_images(t, [("x", &img[..])]).unwrap();
        assert_eq!(got[0].hits, 1);
    }

    #[test]
    fn meaningless_tags_are_refused() {
        let z = Tag::from_bytes([b'a', 0, b'b', b'c']);
        assert_eq!(find_tag_in_images(z, []), Err(NotSearched::ZeroByte));
        let r: Tag = "    ".parse().unwrap();
        assert_eq!(find_tag_in_images(r, []), Err(NotSearched::RepeatedByte));
    }

    #[test]
    fn short_images_are_fine() {
        let t: Tag = "Abcd".parse().unwrap();
        let imgs: [(&str, &[u8]); 3] = [("e", b""), ("s", b"Abc"), ("x", b"Abcd")];
        assert_eq!(find_tag_in_images(t, imgs).unwrap().len(), 1);
    }
}
