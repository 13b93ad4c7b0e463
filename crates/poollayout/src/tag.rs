//! Pool tags as WinDbg shows them.

use core::fmt;

/// The "protected" bit that object-manager allocations set in their tag before Windows 8
/// (vol2 `overlays/windows/windows.py` `VolMagicPoolTag`; vol3 `poolscanner.py` builtins such as `Pro\xe3`).
pub const PROTECTED_BIT: u32 = 0x8000_0000;

/// A pool tag: the little-endian `ULONG` of `_POOL_HEADER.PoolTag` (`'Proc'` is `0x636f7250`).
///
/// `Display` follows the project contract (docs/CONTRACT.md, "Values"): the four characters in memory
/// order, trailing spaces kept, the protected bit masked, a backslash or any byte outside `0x20..=0x7e`
/// written as `\xNN`; width and alignment flags apply (`{:<6}`).
///
/// ```
/// use pooldbg_poollayout::Tag;
/// assert_eq!(Tag::from_bytes(*b"Proc").to_string(), "Proc");
/// assert_eq!(Tag(0xe36f7250).to_string(), "Proc"); // protected bit masked
/// assert_eq!(Tag::from_bytes(*b"Mm\x00 ").to_string(), "Mm\\x00 ");
/// assert_eq!(format!("[{:<6}]", Tag::from_bytes(*b"Irp ")), "[Irp   ]");
/// // Raw conversions keep the protected bit (the walkers need it; `masked` drops it).
/// assert_eq!(u32::from(Tag::from(0xe36f7250u32)), 0xe36f7250);
/// assert_eq!(<[u8; 4]>::from(Tag::from(*b"Proc")), *b"Proc");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tag(pub u32);

impl Tag {
    /// A tag from its four characters in memory order.
    pub const fn from_bytes(b: [u8; 4]) -> Tag {
        Tag(u32::from_le_bytes(b))
    }
    /// The four bytes in memory order (raw, protected bit included).
    pub const fn bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }
    /// The tag with the protected bit cleared.
    pub const fn masked(self) -> Tag {
        Tag(self.0 & !PROTECTED_BIT)
    }
    /// Whether the protected bit is set (meaningful before Windows 8 only).
    pub const fn is_protected(self) -> bool {
        self.0 & PROTECTED_BIT != 0
    }
    /// A plausible tag: after masking the protected bit, every byte is printable ASCII (`0x20..=0x7e`)
    /// and the first is not a space. The walkers use it as one of the header checks (the same test
    /// MemProcFS `vmmwinpool.c` applies to pre-19H1 pool blocks).
    pub const fn is_plausible(self) -> bool {
        // Four bytes at once: every byte below 0x80, at least 0x20 (b + 0x60 reaches bit 7) and at most 0x7e
        // (b + 1 stays below bit 7); no carry crosses a byte because every byte is below 0x80.
        let m = self.masked().0;
        m & 0x8080_8080 == 0
            && (m + 0x6060_6060) & 0x8080_8080 == 0x8080_8080
            && (m + 0x0101_0101) & 0x8080_8080 == 0
            && m & 0xff != 0x20
    }
}

/// The raw `ULONG` (protected bit kept). `pooldbg_pooltag::Tag`, the tag database's key, converts
/// through it: `pooldbg_pooltag::Tag::from(u32::from(tag))` (that one masks the protected bit).
impl From<u32> for Tag {
    fn from(raw: u32) -> Tag {
        Tag(raw)
    }
}

impl From<Tag> for u32 {
    fn from(tag: Tag) -> u32 {
        tag.0
    }
}

/// The four bytes in memory order (protected bit kept).
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
        // Same rendering as the `pooltag` crate's `Tag` (backslash escaped too, so the form is unambiguous).
        let mut s = String::with_capacity(16);
        for c in self.masked().bytes() {
            if (0x20..=0x7e).contains(&c) && c != b'\\' {
                s.push(char::from(c));
            } else {
                s.push_str(&format!("\\x{c:02x}"));
            }
        }
        f.pad(&s)
    }
}
