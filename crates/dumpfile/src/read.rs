//! The physical-memory interface every container implements, and the status of a read.

/// Size of a physical page on every architecture pooldbg reads (x86, x64).
pub const PAGE_SIZE: u64 = 0x1000;
/// `log2(PAGE_SIZE)`.
pub const PAGE_SHIFT: u32 = 12;

/// Why some bytes of a read were not returned (or that they were).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadStatus {
    /// The bytes were read.
    Ok,
    /// The address is inside the machine's physical range, but the dump does not hold that page (a
    /// kernel dump leaves user pages out; a truncated dump lost its tail).
    NotInDump,
    /// The address lies beyond anything the dump describes (past the highest page of the machine).
    OutOfRange,
    /// The source failed to deliver bytes it should hold (an I/O error of a non-mapped source).
    Io,
}

impl ReadStatus {
    /// A short lower-case description, as the command line prints it (`not in dump`).
    pub fn describe(self) -> &'static str {
        match self {
            ReadStatus::Ok => "ok",
            ReadStatus::NotInDump => "not in dump",
            ReadStatus::OutOfRange => "out of range",
            ReadStatus::Io => "i/o error",
        }
    }
}

impl std::fmt::Display for ReadStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The result of one read into a buffer.
///
/// Bytes that could not be read are zero-filled. `status` is [`ReadStatus::Ok`] only when the whole
/// buffer was read; otherwise it is the status of the first part that failed, at `first_failure`
/// (an offset into the buffer). [`PhysicalMemory::read_physical_spans`] tells every part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Ok, or the status of the first failed part.
    pub status: ReadStatus,
    /// How many bytes of the buffer were read, in total.
    pub bytes_read: usize,
    /// Offset in the buffer of the first byte that could not be read.
    pub first_failure: Option<usize>,
}

impl ReadOutcome {
    /// A read of `len` bytes that fully succeeded.
    pub fn ok(len: usize) -> Self {
        ReadOutcome {
            status: ReadStatus::Ok,
            bytes_read: len,
            first_failure: None,
        }
    }

    /// A read that returned nothing, for `status`.
    pub fn failed(status: ReadStatus) -> Self {
        ReadOutcome {
            status,
            bytes_read: 0,
            first_failure: Some(0),
        }
    }

    /// Whether every byte was read.
    pub fn is_ok(&self) -> bool {
        self.status == ReadStatus::Ok
    }
}

/// One stretch of a read buffer with a single status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSpan {
    /// Offset in the buffer.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// What happened to these bytes.
    pub status: ReadStatus,
}

/// Physical memory: what a dump, an image or any other source offers to the layers above.
///
/// Implementors provide [`read_physical`](PhysicalMemory::read_physical); memory-backed sources also
/// provide [`page`](PhysicalMemory::page), a zero-copy view of one page, which the paging layer uses
/// for page-table reads and page copies.
pub trait PhysicalMemory {
    /// Reads `buf.len()` bytes at physical address `pa`. Unread parts are zero-filled; the outcome
    /// says how much was read and why the rest was not.
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> ReadOutcome;

    /// The 4 KiB page `pfn` as a slice of the source, or the reason it is not available. The
    /// default says [`ReadStatus::Io`] for every page: a source that cannot lend slices leaves
    /// callers to use [`read_physical`](PhysicalMemory::read_physical).
    fn page(&self, pfn: u64) -> Result<&[u8], ReadStatus> {
        let _ = pfn;
        Err(ReadStatus::Io)
    }

    /// Whether [`page`](PhysicalMemory::page) lends slices (a memory-mapped or in-memory source).
    fn is_zero_copy(&self) -> bool {
        false
    }

    /// One past the highest physical address the source describes (0 when unknown).
    fn physical_limit(&self) -> u64 {
        0
    }

    /// Reads like [`read_physical`](PhysicalMemory::read_physical) and also returns every stretch
    /// of the buffer with its status (neighbours of equal status merged), so a caller learns
    /// which parts of a multi-page read failed.
    fn read_physical_spans(&self, pa: u64, buf: &mut [u8]) -> (ReadOutcome, Vec<ReadSpan>) {
        let mut spans: Vec<ReadSpan> = Vec::new();
        let mut total = 0usize;
        let mut first: Option<(usize, ReadStatus)> = None;
        let mut off = 0usize;
        while off < buf.len() {
            let addr = pa.wrapping_add(off as u64);
            let in_page = (PAGE_SIZE - (addr & (PAGE_SIZE - 1))) as usize;
            let n = in_page.min(buf.len() - off);
            let status = if addr < pa {
                // wrapped past the top of the address space
                buf[off..off + n].fill(0);
                ReadStatus::OutOfRange
            } else {
                let o = self.read_physical(addr, &mut buf[off..off + n]);
                // A page-sized piece either reads whole or not; a source may still report a
                // partial read, which is split here.
                if o.bytes_read > 0 && !o.is_ok() {
                    let good = o.first_failure.unwrap_or(n);
                    push_span(&mut spans, off, good, ReadStatus::Ok);
                    total += good;
                    if first.is_none() {
                        first = Some((off + good, o.status));
                    }
                    push_span(&mut spans, off + good, n - good, o.status);
                    off += n;
                    continue;
                }
                o.status
            };
            if status == ReadStatus::Ok {
                total += n;
            } else if first.is_none() {
                first = Some((off, status));
            }
            push_span(&mut spans, off, n, status);
            off += n;
        }
        let outcome = ReadOutcome {
            status: first.map_or(ReadStatus::Ok, |f| f.1),
            bytes_read: total,
            first_failure: first.map(|f| f.0),
        };
        (outcome, spans)
    }

    /// Reads a little-endian `u64` at `pa`.
    fn read_u64(&self, pa: u64) -> Result<u64, ReadStatus> {
        let mut b = [0u8; 8];
        let o = self.read_physical(pa, &mut b);
        if o.is_ok() {
            Ok(u64::from_le_bytes(b))
        } else {
            Err(o.status)
        }
    }

    /// Reads a little-endian `u32` at `pa`.
    fn read_u32(&self, pa: u64) -> Result<u32, ReadStatus> {
        let mut b = [0u8; 4];
        let o = self.read_physical(pa, &mut b);
        if o.is_ok() {
            Ok(u32::from_le_bytes(b))
        } else {
            Err(o.status)
        }
    }
}

fn push_span(spans: &mut Vec<ReadSpan>, offset: usize, len: usize, status: ReadStatus) {
    if len == 0 {
        return;
    }
    if let Some(last) = spans.last_mut()
        && last.status == status
        && last.offset + last.len == offset
    {
        last.len += len;
        return;
    }
    spans.push(ReadSpan {
        offset,
        len,
        status,
    });
}

impl<T: PhysicalMemory + ?Sized> PhysicalMemory for &T {
    fn read_physical(&self, pa: u64, buf: &mut [u8]) -> ReadOutcome {
        (**self).read_physical(pa, buf)
    }
    fn page(&self, pfn: u64) -> Result<&[u8], ReadStatus> {
        (**self).page(pfn)
    }
    fn is_zero_copy(&self) -> bool {
        (**self).is_zero_copy()
    }
    fn physical_limit(&self) -> u64 {
        (**self).physical_limit()
    }
}

macro_rules! forward_physical_memory {
    ($($ty:ty),*) => {$(
        impl<T: PhysicalMemory + ?Sized> PhysicalMemory for $ty {
            fn read_physical(&self, pa: u64, buf: &mut [u8]) -> ReadOutcome {
                (**self).read_physical(pa, buf)
            }
            fn page(&self, pfn: u64) -> Result<&[u8], ReadStatus> {
                (**self).page(pfn)
            }
            fn is_zero_copy(&self) -> bool {
                (**self).is_zero_copy()
            }
            fn physical_limit(&self) -> u64 {
                (**self).physical_limit()
            }
        }
    )*};
}

forward_physical_memory!(Box<T>, std::sync::Arc<T>, std::rc::Rc<T>);
