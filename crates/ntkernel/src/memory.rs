//! The memory ntkernel reads through: two small traits an adapter implements over the `dumpfile`
//! and `paging` crates (or anything else), and an in-memory implementation for tests.

use std::collections::BTreeMap;
use std::fmt;

/// Why a read could not be satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// No valid translation for the address.
    NotMapped,
    /// The page is in a page file, not in memory.
    PagedOut,
    /// The page exists but the dump does not hold it.
    NotInDump,
    /// Anything else, described.
    Other(String),
}

/// A read that failed, at the first address that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReadFault {
    /// The first address that could not be read.
    pub address: u64,
    /// Why.
    pub kind: FaultKind,
}

impl fmt::Display for ReadFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match &self.kind {
            FaultKind::NotMapped => "not mapped",
            FaultKind::PagedOut => "paged out",
            FaultKind::NotInDump => "not in dump",
            FaultKind::Other(s) => s.as_str(),
        };
        write!(f, "{:#x}: {why}", self.address)
    }
}

/// The same fault in the pool walkers' vocabulary ([`poollayout::ReadFault`]): the kinds map one
/// to one, [`FaultKind::Other`]'s text becomes the message.
impl From<ReadFault> for poollayout::ReadFault {
    fn from(f: ReadFault) -> poollayout::ReadFault {
        let kind = match &f.kind {
            FaultKind::NotMapped => poollayout::FaultKind::NotMapped,
            FaultKind::PagedOut => poollayout::FaultKind::PagedOut,
            FaultKind::NotInDump => poollayout::FaultKind::NotInDump,
            FaultKind::Other(_) => poollayout::FaultKind::Other,
        };
        poollayout::ReadFault {
            address: f.address,
            kind,
            message: f.to_string(),
        }
    }
}

/// A pool walker's fault in this crate's vocabulary; `Cancelled` and `Other` keep the walker's
/// wording in [`FaultKind::Other`].
impl From<poollayout::ReadFault> for ReadFault {
    fn from(f: poollayout::ReadFault) -> ReadFault {
        let kind = match f.kind {
            poollayout::FaultKind::NotMapped => FaultKind::NotMapped,
            poollayout::FaultKind::PagedOut => FaultKind::PagedOut,
            poollayout::FaultKind::NotInDump => FaultKind::NotInDump,
            _ => FaultKind::Other(f.message),
        };
        ReadFault {
            address: f.address,
            kind,
        }
    }
}

/// Reads of the target's kernel virtual address space.
pub trait KernelMemory {
    /// Fills `buf` from virtual address `va`, all or nothing.
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault>;
}

/// Reads of the target's physical memory, for scanning raw images.
pub trait PhysicalMemory {
    /// Fills `buf` from physical address `pa`, all or nothing.
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> Result<(), ReadFault>;
    /// The physical page frame numbers worth scanning, in ascending order (for a dump, the pages it
    /// holds). Implementations may return them lazily.
    fn present_pages(&self) -> Box<dyn Iterator<Item = u64> + '_>;
}

impl<T: KernelMemory + ?Sized> KernelMemory for &T {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        (**self).read_virtual(va, buf)
    }
}

/// Page size used by [`SparseMemory`].
pub const PAGE: u64 = 0x1000;

/// Sparse memory made of 4 KiB pages, built by hand; implements both traits (the same map serves
/// as virtual or physical memory). For tests and examples.
#[derive(Debug, Clone, Default)]
pub struct SparseMemory {
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl SparseMemory {
    /// Empty memory.
    pub fn new() -> SparseMemory {
        SparseMemory::default()
    }

    /// Writes `bytes` at `addr`, creating zero-filled pages as needed.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) {
        let mut done = 0usize;
        while done < bytes.len() {
            let a = addr.wrapping_add(done as u64);
            let page = a & !(PAGE - 1);
            let off = (a - page) as usize;
            let n = (PAGE as usize - off).min(bytes.len() - done);
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice());
            p[off..off + n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&mut self, addr: u64, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&mut self, addr: u64, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }

    /// Drops the page holding `addr` (to make it "not in dump").
    pub fn unmap(&mut self, addr: u64) {
        self.pages.remove(&(addr & !(PAGE - 1)));
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr.checked_add(done as u64).ok_or(ReadFault {
                address: addr,
                kind: FaultKind::NotMapped,
            })?;
            let page = a & !(PAGE - 1);
            let off = (a - page) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            let p = self.pages.get(&page).ok_or(ReadFault {
                address: a,
                kind: FaultKind::NotInDump,
            })?;
            buf[done..done + n].copy_from_slice(&p[off..off + n]);
            done += n;
        }
        Ok(())
    }
}

impl KernelMemory for SparseMemory {
    fn read_virtual(&self, va: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        self.read(va, buf)
    }
}

impl PhysicalMemory for SparseMemory {
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> Result<(), ReadFault> {
        self.read(pa, buf)
    }
    fn present_pages(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        Box::new(self.pages.keys().map(|k| k / PAGE))
    }
}

/// Little-endian helpers over `KernelMemory`.
pub(crate) fn read_u64(mem: &dyn KernelMemory, va: u64) -> Result<u64, ReadFault> {
    let mut b = [0u8; 8];
    mem.read_virtual(va, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub(crate) fn read_u32(mem: &dyn KernelMemory, va: u64) -> Result<u32, ReadFault> {
    let mut b = [0u8; 4];
    mem.read_virtual(va, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub(crate) fn read_u16(mem: &dyn KernelMemory, va: u64) -> Result<u16, ReadFault> {
    let mut b = [0u8; 2];
    mem.read_virtual(va, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

/// Reads a pointer of the architecture's width.
pub(crate) fn read_ptr(mem: &dyn KernelMemory, va: u64, is_64: bool) -> Result<u64, ReadFault> {
    if is_64 {
        read_u64(mem, va)
    } else {
        read_u32(mem, va).map(u64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_convert_to_the_pool_walkers_vocabulary_and_back() {
        for (ours, theirs) in [
            (FaultKind::NotMapped, poollayout::FaultKind::NotMapped),
            (FaultKind::PagedOut, poollayout::FaultKind::PagedOut),
            (FaultKind::NotInDump, poollayout::FaultKind::NotInDump),
        ] {
            let f = ReadFault {
                address: 0x1000,
                kind: ours.clone(),
            };
            let p = poollayout::ReadFault::from(f.clone());
            assert_eq!((p.address, p.kind), (0x1000, theirs));
            assert_eq!(p.message, f.to_string());
            assert_eq!(ReadFault::from(p), f);
        }
        let other = ReadFault {
            address: 8,
            kind: FaultKind::Other("i/o error".into()),
        };
        let p = poollayout::ReadFault::from(other);
        assert_eq!(p.kind, poollayout::FaultKind::Other);
        assert!(p.message.contains("i/o error"), "{}", p.message);
        let cancelled = poollayout::ReadFault::new(16, poollayout::FaultKind::Cancelled);
        let back = ReadFault::from(cancelled);
        assert_eq!(back.address, 16);
        assert!(
            matches!(&back.kind, FaultKind::Other(m) if m.contains("cancelled")),
            "{back:?}"
        );
    }

    #[test]
    fn reads_cross_pages_and_name_the_missing_address() {
        let mut m = SparseMemory::new();
        m.write(0x1ffe, &[1, 2, 3, 4]);
        let mut b = [0u8; 4];
        m.read_virtual(0x1ffe, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        let mut big = [0u8; 8];
        let e = m.read_virtual(0x2ffc, &mut big).unwrap_err();
        assert_eq!(e.address, 0x3000);
        assert_eq!(e.to_string(), "0x3000: not in dump");
        m.unmap(0x1000);
        assert!(m.read_virtual(0x1ffe, &mut b).is_err());
        assert_eq!(m.present_pages().collect::<Vec<_>>(), vec![2]);
        let e = m.read_virtual(u64::MAX - 1, &mut b).unwrap_err();
        assert_eq!(e.kind, FaultKind::NotInDump);
    }
}
