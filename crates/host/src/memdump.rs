//! `db`/`dd`/`dq` (virtual) and `!db`/`!dd`/`!dq` (physical) in WinDbg's layout.

use std::sync::atomic::{AtomicBool, Ordering};

use plugin_sdk::{Read, ReadStatus, Target, hex};
use serde_json::{Value, json};

use crate::outcome::{CommandResult, Sink};
use plugin_sdk::args::{eval_range, windbg_address};

/// Which memory a display command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Kernel virtual memory (`db`).
    Virtual,
    /// Physical memory (`!db`).
    Physical,
}

/// The element size of a display command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, with the ASCII column (`db`).
    Byte,
    /// 32-bit values (`dd`).
    Dword,
    /// 64-bit values (`dq`).
    Qword,
}

impl Unit {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Unit::Byte => 1,
            Unit::Dword => 4,
            Unit::Qword => 8,
        }
    }

    /// WinDbg's default element count (0x80 bytes).
    fn default_count(self) -> u64 {
        0x80 / self.size() as u64
    }

    /// The command letter (`b`, `d`, `q`).
    pub fn letter(self) -> char {
        match self {
            Unit::Byte => 'b',
            Unit::Dword => 'd',
            Unit::Qword => 'q',
        }
    }
}

/// The most a display command reads at once (16 MiB), so a typo cannot exhaust memory.
pub const MAX_DISPLAY_BYTES: u64 = 16 << 20;
const PAGE: u64 = 0x1000;

/// A stretch that could not be read, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hole {
    start: u64,
    end: u64,
    status: ReadStatus,
}

/// One page of the range at a time: what the last read got, so every byte is read once per pass.
struct PageCache<'t> {
    target: &'t dyn Target,
    space: Space,
    /// The last byte of the range (pages are clipped to it).
    end: u64,
    /// The first address `buf` holds, and the last.
    first: u64,
    last: u64,
    /// Bytes read from `first`; the rest of the page failed with `status`.
    got: usize,
    status: ReadStatus,
    loaded: bool,
    buf: Vec<u8>,
}

impl<'t> PageCache<'t> {
    fn new(target: &'t dyn Target, space: Space, end: u64) -> Self {
        PageCache {
            target,
            space,
            end,
            first: 0,
            last: 0,
            got: 0,
            status: ReadStatus::Ok,
            loaded: false,
            buf: vec![0u8; PAGE as usize],
        }
    }

    /// Reads the page holding `addr`, from `addr` to the page's end (or the range's).
    fn load(&mut self, addr: u64) {
        let last = (addr | (PAGE - 1)).min(self.end);
        let n = (last - addr + 1) as usize;
        let mut reads = [Read::new(addr, &mut self.buf[..n])];
        match self.space {
            Space::Virtual => self.target.read_virtual(&mut reads),
            Space::Physical => self.target.read_physical(&mut reads),
        }
        self.got = reads[0].bytes_read.min(n);
        self.status = reads[0].status;
        self.first = addr;
        self.last = last;
        self.loaded = true;
    }

    /// The byte at `addr` (within the range), or why it cannot be read.
    fn byte(&mut self, addr: u64) -> Result<u8, ReadStatus> {
        if !self.loaded || addr < self.first || addr > self.last {
            self.load(addr);
        }
        let i = (addr - self.first) as usize;
        if i < self.got {
            Ok(self.buf[i])
        } else {
            Err(self.status)
        }
    }
}

/// Runs a display command: `args` is `ADDR [L COUNT]`; the lines and rows are collected.
pub fn display(
    target: &dyn Target,
    space: Space,
    unit: Unit,
    args: &str,
    cancel: Option<&AtomicBool>,
) -> CommandResult {
    let mut sink = crate::outcome::Collect::default();
    let r = display_into(target, space, unit, args, cancel, &mut sink);
    sink.into_result(r)
}

/// Runs a display command, handing each text line and row to `sink` as it is made: memory stays
/// the same whatever the length (issue #21). Two passes over the range, one page at a time: the
/// first finds the unreadable stretches (a reason line gives a stretch's whole length before its
/// first line), the second makes the lines. The returned result holds what is not streamed.
pub fn display_into(
    target: &dyn Target,
    space: Space,
    unit: Unit,
    args: &str,
    cancel: Option<&AtomicBool>,
    sink: &mut dyn Sink,
) -> CommandResult {
    let name = format!(
        "{}d{}",
        if space == Space::Physical { "!" } else { "" },
        unit.letter()
    );
    let usage = format!("{name} ADDR [L COUNT]");
    let (start, count) = match eval_range(target, args) {
        Ok(v) => v,
        Err(e) => return CommandResult::failed(&name, args, format!("{e} (usage: {usage})")),
    };
    let count = count.unwrap_or(unit.default_count());
    let size = unit.size() as u64;
    let Some(len) = count.checked_mul(size).filter(|&l| l <= MAX_DISPLAY_BYTES) else {
        return CommandResult::failed(
            &name,
            args,
            format!("{count:#x} elements is more than {MAX_DISPLAY_BYTES:#x} bytes"),
        );
    };
    if start.checked_add(len - 1).is_none() {
        return CommandResult::failed(
            &name,
            args,
            "the range wraps past the end of the address space",
        );
    }
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed)) || target.is_cancelled();
    let end = start + (len - 1);
    // Pass 1: the unreadable stretches (at most one per page: 4096 for the 16 MiB cap).
    let mut holes: Vec<Hole> = Vec::new();
    let mut pages = PageCache::new(target, space, end);
    let mut addr = start;
    loop {
        if cancelled() {
            return CommandResult::failed(&name, args, "cancelled");
        }
        pages.load(addr);
        let page_end = pages.last;
        if pages.got < (page_end - addr + 1) as usize {
            let hole_start = addr + pages.got as u64;
            let status = pages.status;
            match holes.last_mut() {
                Some(h) if h.end + 1 == hole_start && h.status == status => h.end = page_end,
                _ => holes.push(Hole {
                    start: hole_start,
                    end: page_end,
                    status,
                }),
            }
        }
        if page_end == end {
            break;
        }
        addr = page_end + 1;
    }
    let pointer_size = match target.info().pointer_size {
        4 => 4,
        _ => 8,
    };
    let result = CommandResult::new(&name, args);
    let per_line = 16 / unit.size();
    let mut hole_iter = holes.iter().peekable();
    let mut chunk: Vec<Option<u8>> = Vec::with_capacity(16);
    let mut line_addr = start;
    // The first hole that does not end before the current line (holes are sorted).
    let mut touching = 0usize;
    // Pass 2: the lines.
    loop {
        if (line_addr - start) % 0x10000 == 0 && cancelled() {
            return CommandResult::failed(&name, args, "cancelled");
        }
        let line_last = line_addr.saturating_add(15).min(end);
        chunk.clear();
        let mut a = line_addr;
        loop {
            chunk.push(pages.byte(a).ok());
            if a == line_last {
                break;
            }
            a += 1;
        }
        // A reason line before the first line a hole touches.
        while let Some(h) = hole_iter.peek() {
            if h.start <= line_last {
                let emitted = sink.line(format!(
                    "{}: {} ({:#x} bytes)",
                    addr_text(h.start, space, pointer_size),
                    h.status,
                    h.end - h.start + 1
                ));
                if emitted.is_err() {
                    return result;
                }
                hole_iter.next();
            } else {
                break;
            }
        }
        let elements: Vec<Option<u64>> = chunk
            .chunks(unit.size())
            .map(|e| {
                if e.len() < unit.size() {
                    return None;
                }
                let mut v = 0u64;
                for (i, b) in e.iter().enumerate() {
                    v |= u64::from((*b)?) << (8 * i);
                }
                Some(v)
            })
            .collect();
        let mut line = format!("{}  ", addr_text(line_addr, space, pointer_size));
        let mut values: Vec<Value> = Vec::with_capacity(elements.len());
        for (i, v) in elements.iter().enumerate() {
            let cell = match (unit, v) {
                (Unit::Byte, Some(v)) => format!("{v:02x}"),
                (Unit::Byte, None) => "??".into(),
                (Unit::Dword, Some(v)) => format!("{v:08x}"),
                (Unit::Dword, None) => "????????".into(),
                (Unit::Qword, Some(v)) => format!("{:08x}`{:08x}", v >> 32, v & 0xffff_ffff),
                (Unit::Qword, None) => "????????`????????".into(),
            };
            if i > 0 {
                // WinDbg's dash between the two halves of a db line.
                line.push(if unit == Unit::Byte && i == 8 {
                    '-'
                } else {
                    ' '
                });
            }
            line.push_str(&cell);
            values.push(v.map_or(Value::Null, |v| json!(hex(v))));
        }
        let wants_rows = sink.wants_rows();
        let mut row = if wants_rows {
            json!({ "address": hex(line_addr), "values": values })
        } else {
            Value::Null
        };
        // Why a line has unreadable bytes (the text shows it on a line of its own).
        while holes.get(touching).is_some_and(|h| h.end < line_addr) {
            touching += 1;
        }
        if let Some(h) = holes.get(touching).filter(|h| h.start <= line_last)
            && wants_rows
        {
            row["unreadable"] = json!(h.status.to_string());
        }
        if unit == Unit::Byte {
            // Pad a short last line so the ASCII column lines up.
            let missing = per_line - elements.len();
            line.push_str(&" ".repeat(missing * 3));
            let ascii: String = chunk
                .iter()
                .map(|b| match b {
                    Some(c) if (0x20..0x7f).contains(c) => char::from(*c),
                    _ => '.',
                })
                .collect();
            line.push_str("  ");
            line.push_str(&ascii);
            if wants_rows {
                row["ascii"] = json!(ascii);
            }
        }
        // A closed output (a pipe into `head`) ends the command: the caller sees the error on
        // its next write.
        if sink.line(line).is_err() || (wants_rows && sink.row(row).is_err()) {
            return result;
        }
        if line_last == end {
            break;
        }
        line_addr = line_last + 1;
    }
    result
}

fn addr_text(addr: u64, space: Space, pointer_size: u32) -> String {
    match space {
        Space::Virtual => windbg_address(addr, pointer_size),
        Space::Physical => format!("#{addr:>8x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{MemoryTarget, TargetInfo};

    fn target() -> MemoryTarget {
        MemoryTarget::new(TargetInfo {
            pointer_size: 8,
            ..Default::default()
        })
        .with_virtual(
            0xfffff800_02a00000,
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffhello world!",
        )
        .with_physical(0x1000, &[0x41; 0x20])
    }

    #[test]
    fn db_has_the_dash_and_the_ascii_column() {
        let r = display(
            &target(),
            Space::Virtual,
            Unit::Byte,
            "fffff800`02a00000 L 0x1c",
            None,
        );
        assert!(r.is_ok(), "{r:?}");
        let text = r.text.unwrap();
        assert_eq!(
            text[0],
            "fffff800`02a00000  4d 5a 90 00 03 00 00 00-04 00 00 00 ff ff 68 65  MZ............he"
        );
        assert_eq!(
            text[1],
            "fffff800`02a00010  6c 6c 6f 20 77 6f 72 6c-64 21 00 00              llo world!.."
        );
        assert_eq!(r.rows[0]["address"], "0xfffff80002a00000");
        assert_eq!(r.rows[1]["values"][10], "0x0");
        assert_eq!(r.rows[1]["ascii"], "llo world!..");
        assert!(r.warnings.is_empty());
        assert!(r.rows[1].get("unreadable").is_none());
    }

    #[test]
    fn dd_and_dq_and_physical() {
        let r = display(
            &target(),
            Space::Virtual,
            Unit::Dword,
            "fffff80002a00000 L4",
            None,
        );
        assert_eq!(
            r.text.unwrap()[0],
            "fffff800`02a00000  00905a4d 00000003 00000004 6568ffff"
        );
        let r = display(
            &target(),
            Space::Virtual,
            Unit::Qword,
            "0xfffff80002a00000 L2",
            None,
        );
        assert_eq!(
            r.text.unwrap()[0],
            "fffff800`02a00000  00000003`00905a4d 6568ffff`00000004"
        );
        let r = display(&target(), Space::Physical, Unit::Dword, "1000 L1", None);
        assert_eq!(r.command, "!dd");
        assert_eq!(r.text.unwrap()[0], "#    1000  41414141");
    }

    #[test]
    fn unreadable_memory_says_why() {
        let r = display(&target(), Space::Virtual, Unit::Byte, "10 L4", None);
        assert_eq!(r.rows[0]["values"][0], Value::Null);
        assert_eq!(r.rows[0]["unreadable"], "not mapped");
        let text = r.text.unwrap();
        assert_eq!(text[0], "00000000`00000010: not mapped (0x4 bytes)");
        assert!(text[1].starts_with("00000000`00000010  ?? ?? ?? ??"));
        // A page the dump does not hold, across a page boundary from one that it does.
        let t = target()
            .with_virtual(0x2000, &[1; 0x1000])
            .with_virtual_status(
                0x3000,
                ReadStatus::PagedOut {
                    pagefile: 0,
                    offset: 0x5000,
                },
            );
        let r = display(&t, Space::Virtual, Unit::Byte, "2ff8 L 10", None);
        let text = r.text.unwrap();
        assert_eq!(
            text[0],
            "00000000`00003000: paged out (page file 0, offset 0x5000) (0x8 bytes)"
        );
        assert_eq!(
            text[1],
            "00000000`00002ff8  01 01 01 01 01 01 01 01-?? ?? ?? ?? ?? ?? ?? ??  ................"
        );
    }

    /// Counts what arrives, and fails after `limit` lines (a closed pipe).
    struct Counting {
        lines: usize,
        rows: usize,
        limit: usize,
    }

    impl Sink for Counting {
        fn row(&mut self, _: Value) -> std::io::Result<()> {
            self.rows += 1;
            Ok(())
        }
        fn line(&mut self, _: String) -> std::io::Result<()> {
            self.lines += 1;
            if self.lines > self.limit {
                return Err(std::io::Error::other("closed"));
            }
            Ok(())
        }
    }

    #[test]
    fn lines_stream_and_a_closed_output_stops_the_command() {
        let mut sink = Counting {
            lines: 0,
            rows: 0,
            limit: usize::MAX,
        };
        // 1 MiB of unmapped memory: one reason line, then 0x10000 lines, none kept.
        let r = display_into(
            &target(),
            Space::Virtual,
            Unit::Byte,
            "10000000 L 100000",
            None,
            &mut sink,
        );
        assert!(r.is_ok(), "{r:?}");
        assert!(r.rows.is_empty() && r.text.is_none(), "nothing is kept");
        assert_eq!((sink.lines, sink.rows), (0x10001, 0x10000));
        let mut sink = Counting {
            lines: 0,
            rows: 0,
            limit: 10,
        };
        display_into(
            &target(),
            Space::Virtual,
            Unit::Byte,
            "10000000 L 100000",
            None,
            &mut sink,
        );
        assert_eq!(sink.lines, 11, "stops at the first refused line");
    }

    #[test]
    fn bad_arguments_fail_with_usage() {
        let r = display(&target(), Space::Virtual, Unit::Byte, "zz", None);
        assert!(r.error.unwrap().contains("usage: db ADDR [L COUNT]"));
        let r = display(&target(), Space::Virtual, Unit::Qword, "0 L 10000000", None);
        assert!(r.error.is_some());
        let r = display(
            &target(),
            Space::Virtual,
            Unit::Qword,
            "ffffffffffffffff L 2",
            None,
        );
        assert!(r.error.is_some());
    }
}
