//! The pool tag value and its display form.

use std::fmt;
use std::str::FromStr;

/// The "protected" bit of a pool tag (`PROTECTED_POOL`, 0x80000000 in the ULONG tag, i.e. the high bit
/// of the tag's fourth byte). Drivers may set it in `ExFreePoolWithTag` / `ExAllocatePoolWithTag`
/// calls; WinDbg masks it before showing or looking up the tag. Source: the WDK's `wdm.h`
/// (`#define PROTECTED_POOL 0x80000000`).
pub const PROTECTED_POOL: u32 = 0x8000_0000;

/// A pool tag: four bytes in memory order (the order in which WinDbg prints them), never carrying the
/// protected bit (every constructor masks [`PROTECTED_POOL`]).
///
/// The display form is the one WinDbg uses and pooldbg's output contract names: exactly four
/// characters, trailing spaces kept, every byte outside printable ASCII (0x20..=0x7e) written as
/// `\xNN` (lowercase hex). A backslash is also written `\x5c`, so that [`FromStr`] reads every display
/// form back to the same tag.
///
/// ```
/// use pooldbg_pooltag::Tag;
/// let t = Tag::from_u32(0x6b6f6f54 | pooldbg_pooltag::PROTECTED_POOL); // 'Took' with the protected bit
/// assert_eq!(t.to_string(), "Took");
/// assert_eq!("Ip".parse::<Tag>().unwrap().to_string(), "Ip  ");
/// assert_eq!(Tag::from_bytes([b'A', 0, 0x7f, b' ']).to_string(), "A\\x00\\x7f ");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag([u8; 4]);

impl Tag {
    /// A tag from its four bytes in memory order; the protected bit (high bit of byte 3) is masked.
    pub const fn from_bytes(bytes: [u8; 4]) -> Tag {
        Tag([bytes[0], bytes[1], bytes[2], bytes[3] & 0x7f])
    }

    /// A tag from the ULONG a pool header or tracker holds (little-endian memory order: the low byte
    /// is the first character); the protected bit is masked.
    pub const fn from_u32(value: u32) -> Tag {
        Tag::from_bytes((value & !PROTECTED_POOL).to_le_bytes())
    }

    /// A tag from one to four bytes, padded with spaces on the right (as pooltag.txt pads short tags).
    /// Returns `None` for an empty slice or more than four bytes.
    pub fn from_padded(bytes: &[u8]) -> Option<Tag> {
        if bytes.is_empty() || bytes.len() > 4 {
            return None;
        }
        let mut out = [b' '; 4];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(Tag::from_bytes(out))
    }

    /// The four bytes in memory order.
    pub const fn bytes(self) -> [u8; 4] {
        self.0
    }

    /// The tag as the little-endian ULONG a pool header would hold (without the protected bit).
    pub const fn to_u32(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

/// From the `ULONG` a pool header holds ([`Tag::from_u32`]: the protected bit masked).
/// `pooldbg_poollayout::Tag`, the walkers' raw tag, converts through it:
/// `pooldbg_pooltag::Tag::from(u32::from(layout_tag))`.
impl From<u32> for Tag {
    fn from(value: u32) -> Tag {
        Tag::from_u32(value)
    }
}

/// [`Tag::to_u32`] (never the protected bit).
impl From<Tag> for u32 {
    fn from(tag: Tag) -> u32 {
        tag.to_u32()
    }
}

/// From four bytes in memory order ([`Tag::from_bytes`]: the protected bit masked).
impl From<[u8; 4]> for Tag {
    fn from(bytes: [u8; 4]) -> Tag {
        Tag::from_bytes(bytes)
    }
}

impl From<Tag> for [u8; 4] {
    fn from(tag: Tag) -> [u8; 4] {
        tag.bytes()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(16);
        for &b in &self.0 {
            push_display(&mut s, b);
        }
        f.pad(&s)
    }
}

/// Appends one tag byte in the display form: itself when printable ASCII other than `\\`, else `\\xNN`.
pub(crate) fn push_display(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if (0x20..=0x7e).contains(&b) && b != b'\\' {
        out.push(char::from(b));
    } else {
        out.push_str("\\x");
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag(\"{self}\")")
    }
}

/// Why a string is not a tag's display form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagParseError {
    /// The string is empty.
    Empty,
    /// The string names more than four bytes.
    TooLong,
    /// A `\x` escape is not followed by two hex digits, at this byte offset of the string.
    BadEscape(usize),
}

impl fmt::Display for TagParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagParseError::Empty => f.write_str("empty tag"),
            TagParseError::TooLong => f.write_str("a tag has at most four bytes"),
            TagParseError::BadEscape(at) => {
                write!(f, "`\\x` at offset {at} is not followed by two hex digits")
            }
        }
    }
}

impl std::error::Error for TagParseError {}

/// Decodes one to four bytes written as characters and `\xNN` escapes (the display form); the
/// shared helper of [`Tag::from_str`] and the file parser. Returns the bytes and their count.
pub(crate) fn unescape(s: &[u8]) -> Result<([u8; 4], usize), TagParseError> {
    let mut out = [b' '; 4];
    let mut n = 0usize;
    let mut i = 0usize;
    while i < s.len() {
        let b = if s[i] == b'\\' && s.get(i + 1) == Some(&b'x') {
            let hex = s.get(i + 2..i + 4).ok_or(TagParseError::BadEscape(i))?;
            let hi = hex_digit(hex[0]).ok_or(TagParseError::BadEscape(i))?;
            let lo = hex_digit(hex[1]).ok_or(TagParseError::BadEscape(i))?;
            i += 4;
            hi << 4 | lo
        } else {
            i += 1;
            s[i - 1]
        };
        if n == 4 {
            return Err(TagParseError::TooLong);
        }
        out[n] = b;
        n += 1;
    }
    if n == 0 {
        return Err(TagParseError::Empty);
    }
    Ok((out, n))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Tag {
    type Err = TagParseError;

    /// Reads the display form: one to four characters or `\xNN` escapes, padded with spaces to four
    /// (the protected bit is masked).
    fn from_str(s: &str) -> Result<Tag, TagParseError> {
        let (bytes, _) = unescape(s.as_bytes())?;
        Ok(Tag::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_from_the_raw_ulong_and_bytes_masking_the_protected_bit() {
        assert_eq!(Tag::from(0xe36f_7250u32), Tag::from_bytes(*b"Proc"));
        assert_eq!(Tag::from(*b"Pro\xe3"), Tag::from_bytes(*b"Proc"));
        assert_eq!(u32::from(Tag::from_bytes(*b"Proc")), 0x636f_7250);
        assert_eq!(<[u8; 4]>::from(Tag::from_bytes(*b"Ip  ")), *b"Ip  ");
    }

    #[test]
    fn display_keeps_trailing_spaces_and_escapes() {
        assert_eq!(Tag::from_bytes(*b"Ip  ").to_string(), "Ip  ");
        assert_eq!(
            Tag::from_bytes([0, 1, b'a', b'~']).to_string(),
            "\\x00\\x01a~"
        );
        assert_eq!(
            Tag::from_bytes([b'a', 0x7f, 0xff, b'b']).to_string(),
            "a\\x7f\\xffb"
        );
        assert_eq!(Tag::from_bytes(*b"a\\xb").to_string(), "a\\x5cxb");
    }

    #[test]
    fn protected_bit_is_masked() {
        let plain = Tag::from_u32(u32::from_le_bytes(*b"Mmst"));
        let protected = Tag::from_u32(u32::from_le_bytes(*b"Mmst") | PROTECTED_POOL);
        assert_eq!(plain, protected);
        assert_eq!(protected.to_string(), "Mmst");
        assert_eq!(
            Tag::from_bytes([b'A', b'B', b'C', b'D' | 0x80]).bytes(),
            *b"ABCD"
        );
        assert_eq!(protected.to_u32() & PROTECTED_POOL, 0);
    }

    #[test]
    fn u32_is_little_endian_memory_order() {
        assert_eq!(Tag::from_u32(0x6b6f6f54).to_string(), "Took");
        assert_eq!(Tag::from_bytes(*b"Took").to_u32(), 0x6b6f6f54);
    }

    #[test]
    fn from_str_pads_and_unescapes() {
        assert_eq!("Ip".parse::<Tag>(), Ok(Tag::from_bytes(*b"Ip  ")));
        assert_eq!(
            "\\x00\\x01a~".parse::<Tag>(),
            Ok(Tag::from_bytes([0, 1, b'a', b'~']))
        );
        assert_eq!("\\X41".parse::<Tag>(), Ok(Tag::from_bytes(*b"\\X41")));
        assert_eq!("".parse::<Tag>(), Err(TagParseError::Empty));
        assert_eq!("ABCDE".parse::<Tag>(), Err(TagParseError::TooLong));
        assert_eq!("a\\x4".parse::<Tag>(), Err(TagParseError::BadEscape(1)));
        assert_eq!("a\\xzz".parse::<Tag>(), Err(TagParseError::BadEscape(1)));
    }

    #[test]
    fn display_round_trips_every_byte() {
        for b in 0u8..=255 {
            let t = Tag::from_bytes([b, b'x', b, b]);
            let back: Tag = t.to_string().parse().unwrap();
            assert_eq!(back, t, "byte {b:#x}");
        }
    }

    #[test]
    fn display_honours_width() {
        assert_eq!(format!("[{:<6}]", Tag::from_bytes(*b"Ab  ")), "[Ab    ]");
    }

    #[test]
    fn from_padded_limits() {
        assert_eq!(Tag::from_padded(b"PX1"), Some(Tag::from_bytes(*b"PX1 ")));
        assert_eq!(Tag::from_padded(b""), None);
        assert_eq!(Tag::from_padded(b"ABCDE"), None);
    }
}
