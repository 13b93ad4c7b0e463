//! [`Target`] over the host's C function table, as a plugin sees it.

use std::marker::PhantomData;
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

use plugin_abi as abi;

use crate::target::{
    Arch, BitRange, FieldOffset, ImageHit, ImageSearchError, LogLevel, PresentPages, Read,
    ReadStatus, Source, Sourced, TagInfo, Target, TargetInfo,
};

/// The host's table and context, wrapped as a safe [`Target`]. [`crate::export_plugin!`] builds one
/// for every command call; plugin code only sees it as `&dyn Target`.
///
/// Entries are used only when the host's `struct_size` says they exist and they are not null; a
/// missing read entry makes every read [`ReadStatus::Error`], a missing lookup finds nothing, a
/// missing `progress` does nothing and a missing `find_tag_in_images` is
/// [`ImageSearchError::NotProvided`] (a host of the first version has neither).
#[derive(Debug)]
pub struct HostTarget<'a> {
    api: *const abi::HostApi,
    size: usize,
    ctx: *mut abi::HostContext,
    info: OnceLock<TargetInfo>,
    _call: PhantomData<&'a abi::HostApi>,
}

/// Runs asked of the host per `present_pages` call at most (1 MiB of buffer).
const MAX_RUNS_PER_CALL: usize = 1 << 16;

// SAFETY: the ABI promises that every entry of the host's table may be called from any thread
// while `run` is active, and a HostTarget does not outlive the `run` call ('a).
unsafe impl Send for HostTarget<'_> {}
// SAFETY: as above; HostTarget has no interior state besides a OnceLock, which is Sync.
unsafe impl Sync for HostTarget<'_> {}

/// Reads entry `$field` of the table if the host's `struct_size` covers it.
macro_rules! entry {
    ($self:ident, $field:ident) => {{
        let end = offset_of!(abi::HostApi, $field) + size_of::<Option<fn()>>();
        if $self.size >= end {
            // SAFETY: `api` is non-null and points to at least `size` bytes of a HostApi (checked
            // in `new`), and the field lies within them.
            unsafe { std::ptr::addr_of!((*$self.api).$field).read() }
        } else {
            None
        }
    }};
}

impl<'a> HostTarget<'a> {
    /// Wraps the host's table and context; `None` when `api` is null or too small to hold its own
    /// header.
    ///
    /// # Safety
    /// `api` must point to a host function table of at least its `struct_size` bytes and `ctx` must
    /// be the context the host passed with it; both must stay valid for `'a` (the `run` call).
    pub unsafe fn new(api: *const abi::HostApi, ctx: *mut abi::HostContext) -> Option<Self> {
        if api.is_null() {
            return None;
        }
        // SAFETY: non-null; the first field is always present (the caller's promise).
        let size = unsafe { std::ptr::addr_of!((*api).struct_size).read() } as usize;
        if size < offset_of!(abi::HostApi, read_physical) {
            return None;
        }
        Some(HostTarget {
            api,
            size,
            ctx,
            info: OnceLock::new(),
            _call: PhantomData,
        })
    }

    /// Passes a warning to the host.
    pub fn add_warning(&self, message: &str) {
        if let Some(f) = entry!(self, add_warning) {
            // SAFETY: host entry called with its own context and a string valid for the call.
            unsafe { f(self.ctx, abi::Str::new(message)) }
        }
    }

    /// Sets the command's error text.
    pub fn set_error(&self, message: &str) {
        if let Some(f) = entry!(self, set_error) {
            // SAFETY: as above.
            unsafe { f(self.ctx, abi::Str::new(message)) }
        }
    }

    /// Passes one line of the command's text layout to the host; `false` when the host has no
    /// `emit_text` (an older host: keep the lines in `summary.text` instead).
    pub fn emit_text(&self, line: &str) -> bool {
        match entry!(self, emit_text) {
            Some(f) => {
                // SAFETY: host entry called with its own context and a string valid for the call.
                unsafe { f(self.ctx, abi::Str::new(line)) };
                true
            }
            None => false,
        }
    }

    /// Does the host take text lines one at a time (`emit_text`)?
    pub fn takes_text(&self) -> bool {
        entry!(self, emit_text).is_some()
    }

    /// Passes one row (JSON text of an object) to the host; returns its status.
    pub fn emit_row(&self, json: &str) -> u32 {
        match entry!(self, emit_row) {
            // SAFETY: as above.
            Some(f) => unsafe { f(self.ctx, abi::Str::new(json)) },
            None => abi::STATUS_UNSUPPORTED,
        }
    }

    /// Passes the summary (JSON text) to the host; returns its status.
    pub fn set_summary(&self, json: &str) -> u32 {
        match entry!(self, set_summary) {
            // SAFETY: as above.
            Some(f) => unsafe { f(self.ctx, abi::Str::new(json)) },
            None => abi::STATUS_UNSUPPORTED,
        }
    }

    fn read(&self, f: Option<abi::ReadFn>, reads: &mut [Read<'_>]) {
        let Some(f) = f else {
            for r in reads.iter_mut() {
                r.bytes_read = 0;
                r.status = ReadStatus::Error;
                r.fault_address = r.address;
            }
            return;
        };
        let mut raw: Vec<abi::ReadRequest> = reads
            .iter_mut()
            .map(|r| abi::ReadRequest {
                address: r.address,
                buffer: r.buf.as_mut_ptr(),
                length: r.buf.len(),
                bytes_read: 0,
                status: abi::READ_ERROR,
                pagefile_number: 0,
                pagefile_offset: 0,
                fault_address: r.address,
            })
            .collect();
        // SAFETY: each request points to a live, exclusively borrowed buffer of `length` bytes;
        // the host writes at most that many and returns before the borrow ends.
        let status = unsafe { f(self.ctx, raw.as_mut_ptr(), raw.len()) };
        for (r, raw) in reads.iter_mut().zip(&raw) {
            if status != abi::STATUS_OK {
                r.bytes_read = 0;
                r.status = ReadStatus::Error;
                r.fault_address = r.address;
                continue;
            }
            r.bytes_read = raw.bytes_read.min(r.buf.len());
            r.status = ReadStatus::from_abi(raw.status, raw.pagefile_number, raw.pagefile_offset);
            r.fault_address = raw.fault_address;
            if r.status == ReadStatus::Ok && r.bytes_read != r.buf.len() {
                // A host that says "ok" but delivered less is treated as an error at that byte.
                r.status = ReadStatus::Error;
                r.fault_address = r.address.wrapping_add(r.bytes_read as u64);
            }
        }
    }
}

fn sourced(status: u32, l: &abi::Lookup) -> Option<Sourced<u64>> {
    if status != abi::STATUS_OK {
        return None;
    }
    Some(Sourced {
        value: l.value,
        // A host that answers without naming a source, or with a code appended after this SDK
        // was built, is treated as guessing (plugin-abi `SOURCE_FOUND`: codes only grow).
        source: Source::from_abi(l.source).unwrap_or(Source::Guessed),
    })
}

/// Copies a host string; invalid UTF-8 is replaced, a bad pointer is empty.
///
/// # Safety
/// `s` must be a string the host handed out for the current call.
unsafe fn owned(s: abi::Str) -> String {
    // SAFETY: forwarded to the caller.
    match unsafe { s.as_bytes() } {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => String::new(),
    }
}

impl Target for HostTarget<'_> {
    fn read_virtual(&self, reads: &mut [Read<'_>]) {
        self.read(entry!(self, read_virtual), reads)
    }

    fn read_physical(&self, reads: &mut [Read<'_>]) {
        self.read(entry!(self, read_physical), reads)
    }

    fn symbol_address(&self, name: &str) -> Option<Sourced<u64>> {
        let f = entry!(self, symbol_address)?;
        let mut out = abi::Lookup::default();
        // SAFETY: host entry with its context, a string and an out-pointer valid for the call.
        let status = unsafe { f(self.ctx, abi::Str::new(name), &mut out) };
        sourced(status, &out)
    }

    fn type_size(&self, type_name: &str) -> Option<Sourced<u64>> {
        let f = entry!(self, type_size)?;
        let mut out = abi::Lookup::default();
        // SAFETY: as above.
        let status = unsafe { f(self.ctx, abi::Str::new(type_name), &mut out) };
        sourced(status, &out)
    }

    fn field_offset(&self, type_name: &str, field: &str) -> Option<FieldOffset> {
        let f = entry!(self, field_offset)?;
        let mut out = abi::Lookup::default();
        // SAFETY: as above.
        let status = unsafe {
            f(
                self.ctx,
                abi::Str::new(type_name),
                abi::Str::new(field),
                &mut out,
            )
        };
        let s = sourced(status, &out)?;
        Some(FieldOffset {
            offset: s.value,
            bits: (out.bit_length != 0).then_some(BitRange {
                position: out.bit_position,
                length: out.bit_length,
            }),
            source: s.source,
        })
    }

    fn info(&self) -> TargetInfo {
        self.info
            .get_or_init(|| {
                let Some(f) = entry!(self, target_info) else {
                    return TargetInfo::default();
                };
                // SAFETY: host entry with its context.
                let p = unsafe { f(self.ctx) };
                if p.is_null() {
                    return TargetInfo::default();
                }
                // SAFETY: non-null, host-owned and valid during the call; its own struct_size is
                // read first and must cover every field read below.
                let size = unsafe { std::ptr::addr_of!((*p).struct_size).read() } as usize;
                if size < size_of::<abi::TargetInfo>() {
                    return TargetInfo::default();
                }
                // SAFETY: the whole v1 struct is present (checked above).
                let i = unsafe { p.read() };
                TargetInfo {
                    arch: Arch::from_abi(i.arch),
                    build: i.build,
                    // SAFETY: host strings valid during the call.
                    version: unsafe { owned(i.version) },
                    // SAFETY: as above.
                    dump_type: unsafe { owned(i.dump_type) },
                    processors: i.processors,
                    kernel_base: i.kernel_base,
                    pointer_size: i.pointer_size,
                }
            })
            .clone()
    }

    fn pool_tag(&self, tag: [u8; 4]) -> Option<TagInfo> {
        let f = entry!(self, pool_tag)?;
        let mut out = abi::TagInfo {
            binary: abi::Str::EMPTY,
            description: abi::Str::EMPTY,
            source: abi::Str::EMPTY,
        };
        // SAFETY: host entry with its context and an out-pointer valid for the call.
        let status = unsafe { f(self.ctx, u32::from_le_bytes(tag), &mut out) };
        if status != abi::STATUS_OK {
            return None;
        }
        // SAFETY: host strings valid during the call.
        unsafe {
            Some(TagInfo {
                binary: owned(out.binary),
                description: owned(out.description),
                source: owned(out.source),
            })
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        if let Some(f) = entry!(self, log) {
            // SAFETY: host entry with its context and a string valid for the call.
            unsafe { f(self.ctx, level.to_abi(), abi::Str::new(message)) }
        }
    }

    fn is_cancelled(&self) -> bool {
        match entry!(self, is_cancelled) {
            // SAFETY: host entry with its context.
            Some(f) => unsafe { f(self.ctx) != 0 },
            None => false,
        }
    }

    fn progress(&self, done: u64, total: u64, label: &str) {
        if let Some(f) = entry!(self, progress) {
            // SAFETY: host entry with its context and a string valid for the call.
            unsafe { f(self.ctx, done, total, abi::Str::new(label)) }
        }
    }

    fn find_tag_in_images(&self, tag: [u8; 4]) -> Result<Vec<ImageHit>, ImageSearchError> {
        let f = entry!(self, find_tag_in_images).ok_or(ImageSearchError::NotProvided)?;
        let mut hits: *const abi::ImageHit = std::ptr::null();
        let mut count: usize = 0;
        // SAFETY: host entry with its context and two out-pointers valid for the call.
        let status = unsafe { f(self.ctx, u32::from_le_bytes(tag), &mut hits, &mut count) };
        if status != abi::STATUS_OK {
            return Err(ImageSearchError::from_abi(status));
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        if hits.is_null() || count > isize::MAX as usize / size_of::<abi::ImageHit>() {
            return Err(ImageSearchError::NotProvided);
        }
        // SAFETY: the host hands out `count` entries at `hits`, host-owned and valid during the
        // call (ABI); the pointer is non-null and the length bounded (checked above).
        let raw = unsafe { std::slice::from_raw_parts(hits, count) };
        Ok(raw
            .iter()
            .map(|h| ImageHit {
                // SAFETY: host strings valid during the call.
                module: unsafe { owned(h.module) },
                hits: h.hits,
            })
            .collect())
    }

    fn present_pages(&self, start: u64, end: u64, max_runs: usize) -> Option<PresentPages> {
        let f = entry!(self, present_pages)?;
        let capacity = max_runs.clamp(1, MAX_RUNS_PER_CALL);
        let mut runs = vec![abi::PageRun::default(); capacity];
        let mut count = 0usize;
        let mut counts = abi::PageCounts::default();
        let mut next = start;
        // SAFETY: host entry with its context, a buffer of `capacity` runs and three
        // out-pointers, all valid for the call.
        let status = unsafe {
            f(
                self.ctx,
                start,
                end,
                runs.as_mut_ptr(),
                capacity,
                &mut count,
                &mut counts,
                &mut next,
            )
        };
        // A host that claims more runs than the buffer holds, or no progress short of the end,
        // is not trusted (the caller would loop): read page by page instead.
        if status != abi::STATUS_OK || count > capacity || (next <= start && next < end) {
            return None;
        }
        runs.truncate(count);
        Some(PresentPages {
            runs: runs.into_iter().map(|r| (r.va, r.len)).collect(),
            counts,
            next: next.min(end.max(start)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(source: u32) -> abi::Lookup {
        abi::Lookup {
            value: 0x1234,
            source,
            ..Default::default()
        }
    }

    #[test]
    fn every_source_code_reads_back_and_unknown_codes_read_as_guesses() {
        for s in [
            Source::UserSymbols,
            Source::EmbeddedProfile,
            Source::Kdbg,
            Source::Guessed,
            Source::Found,
        ] {
            let got = sourced(abi::STATUS_OK, &lookup(s.to_abi())).map(|x| x.source);
            assert_eq!(got, Some(s));
        }
        assert_eq!(abi::SOURCE_FOUND, 5);
        // A code appended after this SDK (as SOURCE_FOUND was for SDKs before it): still an
        // answer, read as the weakest source, never as "not found".
        let got = sourced(abi::STATUS_OK, &lookup(abi::SOURCE_FOUND + 1)).unwrap();
        assert_eq!((got.value, got.source), (0x1234, Source::Guessed));
        assert!(sourced(abi::STATUS_NOT_FOUND, &lookup(abi::SOURCE_FOUND)).is_none());
    }

    #[test]
    fn only_symbols_are_exact() {
        assert!(Source::Kdbg.is_exact() && Source::UserSymbols.is_exact());
        assert!(!Source::Found.is_exact() && !Source::Guessed.is_exact());
    }
}
