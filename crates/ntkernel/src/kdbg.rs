//! The kernel debugger data block, `KDDEBUGGER_DATA64` ("KDBG").
//!
//! Offsets are those of the Windows SDK's `KDDEBUGGER_DATA64` (docs/POOL_INTERNALS.md §6.1, computed
//! from the SDK definitions via windows-sys); the structure is the same on x86 and x64, pointers
//! widened to 64 bits (masked to 32 on x86). Only fields below `Header.Size` are trusted: the size
//! grew with each Windows version (0x290 XP, 0x318 2003, 0x328/0x330 Vista, 0x340 7, 0x360 8/8.1,
//! 0x368 10 RS1, 0x380 10 RS5+; docs/POOL_INTERNALS.md §6.2).
//!
//! On Windows 8+ x64 the live block is encoded; dumps written at bug check usually hold it in clear.
//! The decoding (docs/DUMP_FORMATS.md §1.8; Volatility 2 `win8_kdbg.py`, QEMU `elf2dmp`), per u64 `q`:
//! `q = rol(q ^ KiWaitNever, KiWaitNever & 0xff); q = bswap(q ^ &KdpDataBlockEncoded);
//! q ^= KiWaitAlways`.

use crate::memory::{KernelMemory, ReadFault};

/// `KDBG` as the little-endian u32 at +0x10.
pub const OWNER_TAG: u32 = 0x4742_444B;
/// Offset of `Header.OwnerTag`.
pub const OWNER_TAG_OFFSET: usize = 0x10;
/// Offset of `Header.Size`.
pub const SIZE_OFFSET: usize = 0x14;
/// The largest `Header.Size` accepted (the newest SDK structure is 0x3A0).
pub const MAX_SIZE: u32 = 0x1000;
/// The smallest `Header.Size` accepted (Windows 2000's block ends at 0x208 with `MmLoadedUserImageList`).
pub const MIN_SIZE: u32 = 0x208;

/// The KDBG fields pooldbg reads: name, offset, width in bytes (docs/POOL_INTERNALS.md §6.1).
pub const FIELDS: &[(&str, usize, usize)] = &[
    ("KernBase", 0x18, 8),
    ("PsLoadedModuleList", 0x48, 8),
    ("PsActiveProcessHead", 0x50, 8),
    ("ExpPagedPoolDescriptor", 0x68, 8),
    ("ExpNumberOfPagedPools", 0x70, 8),
    ("MmPfnDatabase", 0xc0, 8),
    ("MmNumberOfPagingFiles", 0xe0, 8),
    ("MmLowestPhysicalPage", 0xe8, 8),
    ("MmHighestPhysicalPage", 0xf0, 8),
    ("MmNumberOfPhysicalPages", 0xf8, 8),
    ("MmMaximumNonPagedPoolInBytes", 0x100, 8),
    ("MmNonPagedPoolStart", 0x110, 8),
    ("MmNonPagedPoolEnd", 0x118, 8),
    ("MmPagedPoolStart", 0x120, 8),
    ("MmPagedPoolEnd", 0x128, 8),
    ("MmPagedPoolInformation", 0x130, 8),
    ("MmSizeOfPagedPoolInBytes", 0x140, 8),
    ("MmTotalCommitLimit", 0x148, 8),
    ("MmTotalCommittedPages", 0x150, 8),
    ("MmSharedCommit", 0x158, 8),
    ("MmDriverCommit", 0x160, 8),
    ("MmProcessCommit", 0x168, 8),
    ("MmPagedPoolCommit", 0x170, 8),
    ("MmExtendedCommit", 0x178, 8),
    ("MmModifiedPageListHead", 0x198, 8),
    ("MmModifiedNoWritePageListHead", 0x1a0, 8),
    ("MmAvailablePages", 0x1a8, 8),
    ("MmResidentAvailablePages", 0x1b0, 8),
    ("PoolTrackTable", 0x1b8, 8),
    ("NonPagedPoolDescriptor", 0x1c0, 8),
    ("MmHighestUserAddress", 0x1c8, 8),
    ("MmSystemRangeStart", 0x1d0, 8),
    ("NtBuildLab", 0x208, 8),
    ("KiProcessorBlock", 0x218, 8),
    ("MmSpecialPoolTag", 0x238, 8),
    ("MmAllocatedNonPagedPool", 0x250, 8),
    ("MmPeakCommitment", 0x258, 8),
    ("MmTotalCommitLimitMaximum", 0x260, 8),
    ("MmPhysicalMemoryBlock", 0x270, 8),
    ("MmSessionBase", 0x278, 8),
    ("MmSessionSize", 0x280, 8),
    ("KeLoaderBlock", 0x2d8, 8),
    ("OffsetPrcbContext", 0x338, 2),
    ("PteBase", 0x360, 8),
];

/// The decoding keys: the *values* of `KiWaitNever` and `KiWaitAlways` and the *address* of
/// `KdpDataBlockEncoded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdbgKeys {
    /// Value of `nt!KiWaitNever`.
    pub wait_never: u64,
    /// Value of `nt!KiWaitAlways`.
    pub wait_always: u64,
    /// Address of `nt!KdpDataBlockEncoded`.
    pub data_block_encoded: u64,
}

impl KdbgKeys {
    /// Decodes one u64.
    pub fn decode(&self, q: u64) -> u64 {
        let q = (q ^ self.wait_never).rotate_left((self.wait_never & 0xff) as u32);
        (q ^ self.data_block_encoded).swap_bytes() ^ self.wait_always
    }

    /// Encodes one u64 (the inverse of [`KdbgKeys::decode`]; for building test images).
    pub fn encode(&self, q: u64) -> u64 {
        let q = (q ^ self.wait_always).swap_bytes() ^ self.data_block_encoded;
        q.rotate_right((self.wait_never & 0xff) as u32) ^ self.wait_never
    }
}

/// The bytes of a block as read, before interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKdbg {
    /// Where it was read from.
    pub va: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl RawKdbg {
    /// Wraps bytes read at `va`.
    pub fn new(va: u64, bytes: Vec<u8>) -> RawKdbg {
        RawKdbg { va, bytes }
    }

    /// True when the owner tag reads `KDBG`.
    pub fn is_clear(&self) -> bool {
        self.u32_at(OWNER_TAG_OFFSET) == Some(OWNER_TAG)
    }

    /// Decodes every whole u64 in place.
    pub fn decode(&mut self, keys: KdbgKeys) {
        for chunk in self.bytes.chunks_exact_mut(8) {
            let mut q = [0u8; 8];
            q.copy_from_slice(chunk);
            chunk.copy_from_slice(&keys.decode(u64::from_le_bytes(q)).to_le_bytes());
        }
    }

    /// The u64 at `off`, if the bytes reach it.
    pub fn u64_at(&self, off: usize) -> Option<u64> {
        let b = self.bytes.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The u32 at `off`.
    pub fn u32_at(&self, off: usize) -> Option<u32> {
        let b = self.bytes.get(off..off.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// The u16 at `off`.
    pub fn u16_at(&self, off: usize) -> Option<u16> {
        let b = self.bytes.get(off..off.checked_add(2)?)?;
        Some(u16::from_le_bytes(b.try_into().ok()?))
    }
}

/// Why a KDBG could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KdbgError {
    /// The block could not be read.
    #[error("KDBG at {va:#x}: {fault}")]
    Read {
        /// The block's address.
        va: u64,
        /// The failed read.
        fault: ReadFault,
    },
    /// The owner tag is not `KDBG`, in clear or decoded.
    #[error(
        "KDBG at {va:#x}: OwnerTag at +0x10 is {tag:#010x}, expected 0x4742444b ('KDBG'){}",
        if *.tried_decode { " (also after decoding)" } else { " (no keys to decode it)" }
    )]
    BadTag {
        /// The block's address.
        va: u64,
        /// The tag found (decoded when decoding was tried).
        tag: u32,
        /// Whether decoding was tried.
        tried_decode: bool,
    },
    /// `Header.Size` is implausible.
    #[error(
        "KDBG at {va:#x}: Header.Size {size:#x} at +0x14 is outside {MIN_SIZE:#x}..={MAX_SIZE:#x}"
    )]
    BadSize {
        /// The block's address.
        va: u64,
        /// The size found.
        size: u32,
    },
}

/// A parsed KDBG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kdbg {
    /// Its address.
    pub va: u64,
    /// `Header.Size`: fields at or past it are not present.
    pub size: u32,
    /// Whether it had to be decoded.
    pub was_encoded: bool,
    /// True for a 64-bit kernel (pointers are not masked).
    pub is_64bit: bool,
    raw: RawKdbg,
}

impl Kdbg {
    /// Reads the block at `va`: the header first, decoded with `keys` when the tag is not in clear,
    /// then `Header.Size` bytes (bounded by [`MAX_SIZE`]). Pages missing past the header shorten
    /// the block rather than fail it.
    pub fn read(
        mem: &dyn KernelMemory,
        va: u64,
        keys: Option<KdbgKeys>,
        is_64bit: bool,
    ) -> Result<Kdbg, KdbgError> {
        let mut head = vec![0u8; 0x18];
        mem.read_virtual(va, &mut head)
            .map_err(|fault| KdbgError::Read { va, fault })?;
        let mut raw = RawKdbg::new(va, head);
        let mut was_encoded = false;
        if !raw.is_clear() {
            match keys {
                Some(k) => {
                    raw.decode(k);
                    was_encoded = true;
                    if !raw.is_clear() {
                        return Err(KdbgError::BadTag {
                            va,
                            tag: raw.u32_at(OWNER_TAG_OFFSET).unwrap_or(0),
                            tried_decode: true,
                        });
                    }
                }
                None => {
                    return Err(KdbgError::BadTag {
                        va,
                        tag: raw.u32_at(OWNER_TAG_OFFSET).unwrap_or(0),
                        tried_decode: false,
                    });
                }
            }
        }
        let size = raw.u32_at(SIZE_OFFSET).unwrap_or(0);
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(KdbgError::BadSize { va, size });
        }
        // Read the rest page by page so that a missing page only shortens the block.
        let mut bytes = vec![0u8; size as usize];
        let mut got = 0usize;
        while got < bytes.len() {
            let a = va.wrapping_add(got as u64);
            let to_page_end = (0x1000 - (a & 0xfff)) as usize;
            let n = to_page_end.min(bytes.len() - got);
            if mem.read_virtual(a, &mut bytes[got..got + n]).is_err() {
                break;
            }
            got += n;
        }
        bytes.truncate(got & !7);
        let mut full = RawKdbg::new(va, bytes);
        if was_encoded && let Some(k) = keys {
            full.decode(k);
        }
        Ok(Kdbg {
            va,
            size,
            was_encoded,
            is_64bit,
            raw: full,
        })
    }

    /// Parses an already decoded block held in memory (e.g. a triage dump's copy).
    pub fn from_bytes(va: u64, bytes: &[u8], is_64bit: bool) -> Result<Kdbg, KdbgError> {
        let raw = RawKdbg::new(va, bytes.to_vec());
        if !raw.is_clear() {
            return Err(KdbgError::BadTag {
                va,
                tag: raw.u32_at(OWNER_TAG_OFFSET).unwrap_or(0),
                tried_decode: false,
            });
        }
        let size = raw.u32_at(SIZE_OFFSET).unwrap_or(0);
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(KdbgError::BadSize { va, size });
        }
        let mut raw = raw;
        raw.bytes.truncate(size as usize);
        Ok(Kdbg {
            va,
            size,
            was_encoded: false,
            is_64bit,
            raw,
        })
    }

    /// Wraps a block decoded elsewhere (e.g. without keys, [`crate::nosym`]): checked like
    /// [`Kdbg::from_bytes`] and marked as having been encoded.
    pub fn from_decoded(va: u64, bytes: &[u8], is_64bit: bool) -> Result<Kdbg, KdbgError> {
        let mut k = Kdbg::from_bytes(va, bytes, is_64bit)?;
        k.was_encoded = true;
        Ok(k)
    }

    /// A named field (see [`FIELDS`]); `None` when it lies past `Header.Size` or past the bytes
    /// read. Pointers are masked to 32 bits on x86.
    pub fn field(&self, name: &str) -> Option<u64> {
        let &(_, off, width) = FIELDS.iter().find(|(n, _, _)| *n == name)?;
        self.at(off, width)
    }

    /// The value of `width` bytes at `off` (within `Header.Size`).
    pub fn at(&self, off: usize, width: usize) -> Option<u64> {
        if off.checked_add(width)? > self.size as usize {
            return None;
        }
        let v = match width {
            8 => self.raw.u64_at(off)?,
            4 => u64::from(self.raw.u32_at(off)?),
            2 => u64::from(self.raw.u16_at(off)?),
            _ => return None,
        };
        Some(if self.is_64bit || width < 8 {
            v
        } else {
            v & 0xffff_ffff
        })
    }

    /// `KernBase`.
    pub fn kernel_base(&self) -> Option<u64> {
        self.field("KernBase")
    }

    /// The decoded bytes (for a caller that needs a field not in [`FIELDS`]).
    pub fn bytes(&self) -> &[u8] {
        &self.raw.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::SparseMemory;

    fn block(size: u32, base: u64) -> Vec<u8> {
        let mut b = vec![0u8; 0x380];
        b[0x10..0x14].copy_from_slice(&OWNER_TAG.to_le_bytes());
        b[0x14..0x18].copy_from_slice(&size.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&base.to_le_bytes());
        b[0x1b8..0x1c0].copy_from_slice(&0xfffff8047c6168a8u64.to_le_bytes());
        b[0x360..0x368].copy_from_slice(&0xfffffd8000000000u64.to_le_bytes());
        b
    }

    const KEYS: KdbgKeys = KdbgKeys {
        wait_never: 0x1234_5678_9abc_de37,
        wait_always: 0x0fed_cba9_8765_4321,
        data_block_encoded: 0xfffff804_7c650a20,
    };

    #[test]
    fn encode_and_decode_are_inverse() {
        for q in [0u64, 1, u64::MAX, 0x4742444b_00000380] {
            assert_eq!(KEYS.decode(KEYS.encode(q)), q);
        }
    }

    #[test]
    fn reads_a_clear_block_and_honours_header_size() {
        let mut m = SparseMemory::new();
        let va = 0xfffff8047c600b20;
        m.write(va, &block(0x340, 0xfffff8047ba00000));
        let k = Kdbg::read(&m, va, None, true).unwrap();
        assert_eq!(k.kernel_base(), Some(0xfffff8047ba00000));
        assert_eq!(k.field("PoolTrackTable"), Some(0xfffff8047c6168a8));
        // PteBase (0x360) lies past a Windows 7 sized block.
        assert_eq!(k.field("PteBase"), None);
        assert!(!k.was_encoded);
    }

    #[test]
    fn decodes_an_encoded_block_with_the_right_keys_only() {
        let mut m = SparseMemory::new();
        let va = 0xfffff8047c600b20;
        let clear = block(0x380, 0xfffff8047ba00000);
        let enc: Vec<u8> = clear
            .chunks_exact(8)
            .flat_map(|c| {
                KEYS.encode(u64::from_le_bytes(c.try_into().unwrap()))
                    .to_le_bytes()
            })
            .collect();
        m.write(va, &enc);
        let k = Kdbg::read(&m, va, Some(KEYS), true).unwrap();
        assert!(k.was_encoded);
        assert_eq!(k.field("PteBase"), Some(0xfffffd8000000000));
        let e = Kdbg::read(&m, va, None, true).unwrap_err();
        assert!(e.to_string().contains("no keys"), "{e}");
        let wrong = KdbgKeys {
            wait_always: 1,
            ..KEYS
        };
        assert!(matches!(
            Kdbg::read(&m, va, Some(wrong), true),
            Err(KdbgError::BadTag {
                tried_decode: true,
                ..
            })
        ));
    }

    #[test]
    fn bad_sizes_and_missing_pages() {
        let mut m = SparseMemory::new();
        m.write(0x1000, &block(0x380, 5)[..0x18]);
        m.write_u32(0x1014, 0x10_0000);
        assert!(matches!(
            Kdbg::read(&m, 0x1000, None, true),
            Err(KdbgError::BadSize { .. })
        ));
        // A block whose second page is missing is shortened, not refused.
        let mut m = SparseMemory::new();
        let va = 0x1f00;
        m.write(va, &block(0x380, 0x8040_0000)[..0x100]);
        let k = Kdbg::read(&m, va, None, false).unwrap();
        assert_eq!(k.kernel_base(), Some(0x8040_0000));
        assert_eq!(k.field("PoolTrackTable"), None);
        assert!(Kdbg::read(&m, 0x9000, None, true).is_err());
    }
}
