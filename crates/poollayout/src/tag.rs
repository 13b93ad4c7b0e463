//! Pool tags as WinDbg shows them.

use core::fmt;

/// The "protected" bit that object-manager allocations set in their tag before Windows 8
/// (vol2 `overlays/windows/windows.py` `VolMagicPoolTag`; vol3 `poolscanner.py` builtins such as `Pro\xe3`).
pub const PROTECTED_BIT: u32 = 0x8000_0000;

/// A pool tag: the little-endian `ULONG` of `_POOL_HEADER.PoolTag` (`'Proc'` is `0x636f7250`).
///
/// `Display` follows the project contract (docs/CONTRACT.md, "Values"): the four characters in memory
/// order, trailing spaces kept, the protected bit masked, any other byte outside `0x20..=0x7e` written
/// as `\xNN`.
///
/// ```
/// use poollayout::Tag;
/// assert_eq!(Tag::from_bytes(*b"Proc").to_string(), "Proc");
/// assert_eq!(Tag(0xe36f7250).to_string(), "Proc"); // protected bit masked
/// assert_eq!(Tag::from_bytes(*b"Mm\x00 ").to_string(), "Mm\\x00 ");
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
    pub fn is_plausible(self) -> bool {
        let b = self.masked().bytes();
        b[0] != b' ' && b.iter().all(|c| (0x20..=0x7e).contains(c))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.masked().bytes() {
            if (0x20..=0x7e).contains(&c) {
                write!(f, "{}", c as char)?;
            } else {
                write!(f, "\\x{c:02x}")?;
            }
        }
        Ok(())
    }
}
