//! The C ABI between the `pooldbg` host and its command plugins.
//!
//! Everything here is `#[repr(C)]` and mirrors `include/pooldbg_plugin.h` field for field; a test
//! compiles the header with the system C compiler and checks every size, offset and constant against
//! this crate. The crate has no dependencies and does not use `std`.
//!
//! # The contract in brief
//!
//! * A plugin is a shared library that exports one function, [`ENTRY_POINT`]
//!   (`pooldbg_plugin_v1`), of type [`EntryFn`]. The ABI major version is part of the name, so a host
//!   never calls into a plugin built for another major version. The function returns a pointer to a
//!   [`PluginDescriptor`] that stays valid for as long as the library is loaded (the host never
//!   unloads plugins).
//! * The host checks [`PluginDescriptor::abi_version`] and [`PluginDescriptor::struct_size`] before
//!   reading anything else.
//! * To run a command the host calls [`PluginDescriptor::run`] with its function table
//!   ([`HostApi`]), an opaque context ([`HostContext`]), the command's index and the raw argument
//!   string. The plugin reads memory, looks up symbols and emits JSON rows through the table.
//! * **The host owns all memory that crosses the boundary.** Strings the host hands out ([`Str`] in
//!   [`TargetInfo`], [`TagInfo`]) are valid until `run` returns. Strings and buffers the plugin hands
//!   in are only read (or, for reads, written) during the call. Nothing is ever freed by the other
//!   side.
//! * [`HostApi`] only grows: new entries are appended, and [`HostApi::struct_size`] says which exist.
//!   A plugin checks it before calling an entry that was not in the first version, and treats a null
//!   entry as "not provided".
//! * Every callback of the host's table may be called from any thread while `run` is active.
//!
//! Numbers that cross the boundary as enumerations are plain `u32` values with named constants
//! (an out-of-range value in a Rust `enum` would be undefined behaviour).

#![deny(unsafe_op_in_unsafe_fn)]
#![no_std]

/// The ABI major version this crate describes. Also the suffix of [`ENTRY_POINT`].
pub const ABI_VERSION: u32 = 1;

/// Name of the function every plugin exports (its ABI major version is the suffix).
pub const ENTRY_POINT: &str = "pooldbg_plugin_v1";

/// [`ENTRY_POINT`] with a terminating NUL, as dynamic loaders want it.
pub const ENTRY_POINT_NUL: &[u8] = b"pooldbg_plugin_v1\0";

/// Common prefix of the entry point of every ABI version (`pooldbg_plugin_v<N>`). A host that finds
/// another version's entry point can say which version the plugin was built for.
pub const ENTRY_POINT_PREFIX: &str = "pooldbg_plugin_v";

// ----- status codes ---------------------------------------------------------------------------------

/// The call succeeded.
pub const STATUS_OK: u32 = 0;
/// The call failed; a command's error text is passed through [`HostApi::set_error`].
pub const STATUS_ERROR: u32 = 1;
/// A lookup found nothing (symbol, type, field, pool tag).
pub const STATUS_NOT_FOUND: u32 = 2;
/// The user cancelled the command; the plugin should return this as soon as it notices.
pub const STATUS_CANCELLED: u32 = 3;
/// An argument was invalid: a null pointer, a string that is not UTF-8, an unknown command index.
pub const STATUS_INVALID_ARGUMENT: u32 = 4;
/// A JSON text passed to [`HostApi::emit_row`] or [`HostApi::set_summary`] did not parse, or a row
/// was not a JSON object. The host also fails the command.
pub const STATUS_INVALID_JSON: u32 = 5;
/// The host does not provide this entry.
pub const STATUS_UNSUPPORTED: u32 = 6;

// ----- read statuses (ReadRequest::status) ---------------------------------------------------------

/// Every byte was read.
pub const READ_OK: u32 = 0;
/// The address is valid but the dump does not hold the page (e.g. a kernel dump without user pages).
pub const READ_NOT_IN_DUMP: u32 = 1;
/// The virtual address is not mapped (page tables say invalid), or the physical address is outside
/// the machine's memory.
pub const READ_NOT_MAPPED: u32 = 2;
/// The page is in a page file: see [`ReadRequest::pagefile_number`] and
/// [`ReadRequest::pagefile_offset`].
pub const READ_PAGED_OUT: u32 = 3;
/// Any other failure (corrupt page tables, an I/O error on the dump file).
pub const READ_ERROR: u32 = 4;

// ----- where an answer came from (Lookup::source) -------------------------------------------------

/// No source: the lookup found nothing.
pub const SOURCE_NONE: u32 = 0;
/// The user's symbols: a PDB or ISF file given with `--symbols` or found in a local symbol store.
pub const SOURCE_USER_SYMBOLS: u32 = 1;
/// The profile embedded in pooldbg for this exact kernel build.
pub const SOURCE_EMBEDDED_PROFILE: u32 = 2;
/// The kernel debugger data block (KDBG) of the dump.
pub const SOURCE_KDBG: u32 = 3;
/// A documented heuristic or a neighbouring build's profile: treat it as a guess.
pub const SOURCE_GUESSED: u32 = 4;
/// Appended in ABI 1: found without symbols. A global the host located by searching the dump's
/// data and kept only because the structure it leads to validated (docs/NO_SYMBOLS.md): stronger
/// than a guess, weaker than a symbol. Hosts older than this code never send it.
///
/// Source codes are only appended. A plugin must treat a code it does not know as
/// [`SOURCE_GUESSED`] (the weakest source that still answered), never as "not found": that is how a
/// plugin built before a code was appended keeps working with a newer host.
pub const SOURCE_FOUND: u32 = 5;

// ----- architectures (TargetInfo::arch) -------------------------------------------------------------

/// Unknown architecture.
pub const ARCH_UNKNOWN: u32 = 0;
/// 32-bit x86 without PAE.
pub const ARCH_X86: u32 = 1;
/// 32-bit x86 with PAE paging.
pub const ARCH_X86_PAE: u32 = 2;
/// x86-64.
pub const ARCH_X64: u32 = 3;
/// ARM64.
pub const ARCH_ARM64: u32 = 4;

// ----- log levels (HostApi::log) ---------------------------------------------------------------------

/// An error the command works around.
pub const LOG_ERROR: u32 = 1;
/// Something the user should know.
pub const LOG_WARN: u32 = 2;
/// Progress and facts.
pub const LOG_INFO: u32 = 3;
/// Detail for plugin authors.
pub const LOG_DEBUG: u32 = 4;

// ----- types -----------------------------------------------------------------------------------------

/// A borrowed UTF-8 string: pointer and length in bytes, not NUL-terminated. `ptr` may be null only
/// when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str {
    /// First byte, or null for the empty string.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl Str {
    /// The empty string.
    pub const EMPTY: Str = Str {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows `s`; the result is valid as long as `s` is.
    pub const fn new(s: &str) -> Str {
        Str {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The bytes this string points to, or `None` when `ptr` is null but `len` is not 0.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid and unchanged for `'a`.
    pub unsafe fn as_bytes<'a>(self) -> Option<&'a [u8]> {
        if self.len == 0 {
            return Some(&[]);
        }
        if self.ptr.is_null() || self.len > isize::MAX as usize {
            return None;
        }
        // SAFETY: non-null, length bounded, validity guaranteed by the caller.
        Some(unsafe { core::slice::from_raw_parts(self.ptr, self.len) })
    }

    /// The string, or `None` when the pointer is null with a non-zero length or the bytes are not
    /// UTF-8.
    ///
    /// # Safety
    /// As for [`Str::as_bytes`].
    pub unsafe fn as_str<'a>(self) -> Option<&'a str> {
        // SAFETY: forwarded to the caller.
        let bytes = unsafe { self.as_bytes() }?;
        core::str::from_utf8(bytes).ok()
    }
}

/// Opaque per-command context of the host; plugins pass it back to every [`HostApi`] entry.
#[repr(C)]
#[derive(Debug)]
pub struct HostContext {
    _private: [u8; 0],
}

/// The function a plugin exports as [`ENTRY_POINT`]. Returns the plugin's descriptor, or null when
/// the plugin cannot describe itself (the host then rejects it).
pub type EntryFn = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Runs command number `command` (an index into [`PluginDescriptor::commands`]) with the raw argument
/// string `args` (what follows the command name, as kd passes it). Returns a `STATUS_*` code; on
/// failure the plugin should first pass a message to [`HostApi::set_error`].
pub type RunFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostContext,
    command: u32,
    args: Str,
) -> u32;

/// What a plugin says about itself. Returned by [`EntryFn`]; must stay valid and unchanged while the
/// library is loaded.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PluginDescriptor {
    /// Must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginDescriptor>()` as the plugin was built; fields are only appended.
    pub struct_size: u32,
    /// Number of entries in `commands`.
    pub command_count: u32,
    /// `size_of::<CommandDescriptor>()` as the plugin was built: the stride of `commands`.
    pub command_size: u32,
    /// The plugin's name (e.g. `"vm"`).
    pub name: Str,
    /// The plugin's version (e.g. `"0.1.0"`).
    pub version: Str,
    /// The commands this plugin provides.
    pub commands: *const CommandDescriptor,
    /// Runs one of them.
    pub run: Option<RunFn>,
}

/// One command of a plugin.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CommandDescriptor {
    /// The name without `!` (`"poolused"` is run as `!poolused`): ASCII letters, digits, `_`, `-`.
    pub name: Str,
    /// One line saying what the command does.
    pub summary: Str,
    /// Its arguments, e.g. `"!poolused [FLAGS] [TAG]"`.
    pub usage: Str,
    /// Appended (a descriptor of [`COMMAND_DESCRIPTOR_V1_SIZE`] bytes has no such field): the
    /// command's row columns in order, comma-separated (`"tag,nonpaged_allocs,…"`); empty when the
    /// command declares none (the host then orders the keys as it always did). The CSV header
    /// and the text table follow this order; keys a row has beyond it follow, sorted.
    pub columns: Str,
}

/// The size of the first version of [`CommandDescriptor`] (name, summary, usage): what a plugin
/// built before `columns` was appended reports as `command_size`; the host still loads it.
pub const COMMAND_DESCRIPTOR_V1_SIZE: usize = 3 * core::mem::size_of::<Str>();

/// One read of a batch. The plugin fills the inputs; the host fills the outputs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReadRequest {
    /// In: the (virtual or physical) address of the first byte.
    pub address: u64,
    /// In: where the bytes go (`length` writable bytes, plugin memory).
    pub buffer: *mut u8,
    /// In: how many bytes to read.
    pub length: usize,
    /// Out: how many bytes from the start were read (all of them when `status` is [`READ_OK`]).
    pub bytes_read: usize,
    /// Out: a `READ_*` code describing the first byte that could not be read.
    pub status: u32,
    /// Out, for [`READ_PAGED_OUT`]: the page file's number.
    pub pagefile_number: u32,
    /// Out, for [`READ_PAGED_OUT`]: the byte offset in that page file.
    pub pagefile_offset: u64,
    /// Out, when `status` is not [`READ_OK`]: the address of the first byte not read.
    pub fault_address: u64,
}

/// The answer of a symbol, type or field lookup.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookup {
    /// The address, size or offset in bytes.
    pub value: u64,
    /// Which source answered: a `SOURCE_*` code.
    pub source: u32,
    /// For a bit field: the position of its lowest bit in the unit at `value`.
    pub bit_position: u32,
    /// For a bit field: its length in bits; 0 when the field is not a bit field.
    pub bit_length: u32,
    /// Zero.
    pub reserved: u32,
}

/// What the host knows about the target. Owned by the host; valid until `run` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TargetInfo {
    /// `size_of::<TargetInfo>()` as the host was built; fields are only appended.
    pub struct_size: u32,
    /// An `ARCH_*` code.
    pub arch: u32,
    /// The kernel's build number (e.g. 19041), 0 when unknown.
    pub build: u32,
    /// 4 or 8.
    pub pointer_size: u32,
    /// Number of processors, 0 when unknown.
    pub processors: u32,
    /// Zero.
    pub reserved: u32,
    /// The kernel image's virtual base, 0 when unknown.
    pub kernel_base: u64,
    /// The version as `"10.0.19041"` (may be empty).
    pub version: Str,
    /// The dump's kind, as in `info`: `"full"`, `"bitmap kernel"`, `"triage"`, `"raw"`, ...
    pub dump_type: Str,
}

/// What pooltag.txt (or another tag source) says about a pool tag. Owned by the host; valid until
/// `run` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TagInfo {
    /// The owning binary, e.g. `"ntoskrnl.exe"` or `"<unknown>"`.
    pub binary: Str,
    /// The description.
    pub description: Str,
    /// Which file or database answered (e.g. `"embedded"`, a path).
    pub source: Str,
}

/// A batched read: fills `count` requests at `requests`. Returns [`STATUS_OK`] when the batch was
/// processed (each request then carries its own status), or [`STATUS_INVALID_ARGUMENT`].
pub type ReadFn =
    unsafe extern "C" fn(ctx: *mut HostContext, requests: *mut ReadRequest, count: usize) -> u32;

/// Looks up a symbol's address (`"nt!PoolTrackTable"` or `"PoolTrackTable"`) or a type's size
/// (`"_POOL_HEADER"`); fills `out` and returns [`STATUS_OK`] or [`STATUS_NOT_FOUND`].
pub type LookupFn = unsafe extern "C" fn(ctx: *mut HostContext, name: Str, out: *mut Lookup) -> u32;

/// Looks up a field's offset in a type; `field` may be a dotted path (`"Header.BlockSize"`). Fills
/// `out` (bit position and length for bit fields) and returns [`STATUS_OK`] or [`STATUS_NOT_FOUND`].
pub type FieldOffsetFn = unsafe extern "C" fn(
    ctx: *mut HostContext,
    type_name: Str,
    field: Str,
    out: *mut Lookup,
) -> u32;

/// Returns the host's [`TargetInfo`] (never null while `run` is active).
pub type TargetInfoFn = unsafe extern "C" fn(ctx: *mut HostContext) -> *const TargetInfo;

/// Looks up a pool tag. `tag` holds the tag's four bytes as they are in memory, read as a
/// little-endian `u32` (`'Proc'` is `0x636f7250`). Returns [`STATUS_OK`] or [`STATUS_NOT_FOUND`].
pub type PoolTagFn =
    unsafe extern "C" fn(ctx: *mut HostContext, tag: u32, out: *mut TagInfo) -> u32;

/// Writes a message to the host's log at a `LOG_*` level.
pub type LogFn = unsafe extern "C" fn(ctx: *mut HostContext, level: u32, message: Str);

/// Returns 1 when the user asked to stop the command, else 0.
pub type IsCancelledFn = unsafe extern "C" fn(ctx: *mut HostContext) -> u32;

/// Passes one JSON text (a row object, or the summary) to the host, which copies it. Returns
/// [`STATUS_OK`] or [`STATUS_INVALID_JSON`].
pub type JsonFn = unsafe extern "C" fn(ctx: *mut HostContext, json: Str) -> u32;

/// Passes one message (a warning, or the command's error text) to the host, which copies it.
pub type MessageFn = unsafe extern "C" fn(ctx: *mut HostContext, message: Str);

/// Reports the progress of a long command: `done` of `total` units (`total` 0: unknown) of the
/// work named by `label` (e.g. `"scanning pool pages"`; the host copies it). The host may show a
/// progress bar or ignore the call; it returns at once. Callable from any thread. Appended in
/// ABI 1 (check [`HostApi::struct_size`]).
pub type ProgressFn =
    unsafe extern "C" fn(ctx: *mut HostContext, done: u64, total: u64, label: Str);

/// One loaded driver image that holds a pool tag's bytes (see [`FindTagInImagesFn`]). Owned by the
/// host; valid until `run` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ImageHit {
    /// The module's name as the loaded-module list gives it (e.g. `"ntfs.sys"`).
    pub module: Str,
    /// How many times the tag's four bytes (plain or with the protected bit) occur in the image.
    pub hits: u64,
}

/// Which loaded driver images contain `tag` (four bytes as in memory, read as a little-endian
/// `u32`, as for [`PoolTagFn`])? The host reads the images of the kernel's loaded modules from the
/// dump (bounded sizes; pages missing from the dump are skipped) and writes a pointer to a
/// host-owned array of [`ImageHit`] (most hits first, then by name; valid until `run` returns) to
/// `*hits` and its length to `*count`. Returns:
/// * [`STATUS_OK`]: searched; `*count` may be 0 (no image holds the tag);
/// * [`STATUS_NOT_FOUND`]: the loaded-module list could not be read;
/// * [`STATUS_INVALID_ARGUMENT`]: a null out-pointer, or a tag that cannot be searched for (it
///   holds a zero byte or one byte four times: it would match padding or fill);
/// * [`STATUS_CANCELLED`]: the user cancelled while the images were read.
///
/// Appended in ABI 1 (check [`HostApi::struct_size`]).
pub type FindTagInImagesFn = unsafe extern "C" fn(
    ctx: *mut HostContext,
    tag: u32,
    hits: *mut *const ImageHit,
    count: *mut usize,
) -> u32;

/// Writes `text` as one JSON string literal, quotes included, into `out` (no NUL is added), for C
/// plugins that build their rows with `snprintf`: `"`, `\\` and the control characters U+0000 to
/// U+001F are escaped as JSON requires (`\\"`, `\\\\`, `\\n`, `\\u0001`, ...); a byte that is not
/// part of valid UTF-8 becomes U+FFFD (the host refuses rows that are not UTF-8). Returns the number
/// of bytes the whole literal takes (at least 2), and writes only when that is at most `capacity`
/// (call with `capacity` 0 to learn the size, as with `snprintf`). Returns 0, writing nothing, when
/// `text` has a null pointer and a non-zero length. Needs no context: callable from any thread, at
/// any time. Appended in ABI 1 (check [`HostApi::struct_size`]).
pub type JsonStringFn = unsafe extern "C" fn(text: Str, out: *mut u8, capacity: usize) -> usize;

/// One stretch of present pages ([`HostApi::present_pages`]): `len` bytes from `va`, both
/// page-aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRun {
    /// First byte.
    pub va: u64,
    /// Length in bytes.
    pub len: u64,
}

/// How the 4 KiB pages a [`HostApi::present_pages`] call walked were classified (each page once).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageCounts {
    /// Present through a valid 4 KiB PTE.
    pub valid: u64,
    /// Present through a transition PTE (in RAM; read as WinDbg does).
    pub transition: u64,
    /// Present inside a large page (2 MiB, 4 MiB, 1 GiB).
    pub large: u64,
    /// In a paging file (the PTE or a table above it).
    pub paged_out: u64,
    /// Demand zero.
    pub demand_zero: u64,
    /// Governed by a prototype PTE.
    pub prototype: u64,
    /// Not mapped (a zero entry at some level).
    pub absent: u64,
    /// Under a page table the dump does not hold.
    pub table_not_in_dump: u64,
    /// Under a bad entry or a table loop, or not canonical.
    pub bad: u64,
}

impl PageCounts {
    /// Pages found present (valid, transition, large).
    pub fn present(&self) -> u64 {
        self.valid
            .saturating_add(self.transition)
            .saturating_add(self.large)
    }

    /// Every page classified.
    pub fn total(&self) -> u64 {
        [
            self.paged_out,
            self.demand_zero,
            self.prototype,
            self.absent,
            self.table_not_in_dump,
            self.bad,
        ]
        .iter()
        .fold(self.present(), |a, &b| a.saturating_add(b))
    }

    /// Adds `o` into `self`.
    pub fn add(&mut self, o: &PageCounts) {
        for (a, b) in [
            (&mut self.valid, o.valid),
            (&mut self.transition, o.transition),
            (&mut self.large, o.large),
            (&mut self.paged_out, o.paged_out),
            (&mut self.demand_zero, o.demand_zero),
            (&mut self.prototype, o.prototype),
            (&mut self.absent, o.absent),
            (&mut self.table_not_in_dump, o.table_not_in_dump),
            (&mut self.bad, o.bad),
        ] {
            *a = a.saturating_add(b);
        }
    }
}

/// The present pages of the kernel's virtual range `[start, end)`, found by walking the page
/// tables: fills up to `capacity` runs at `runs` (address order, adjacent ones merged), writes
/// how many to `count`, the classification of the pages walked to `counts`, and where the walk
/// stopped to `next` (`end` when complete; call again from `next` otherwise). Returns
/// [`STATUS_OK`], [`STATUS_UNSUPPORTED`] when the host has no page tables for the target (a
/// triage dump, an unknown DTB: read page by page instead), [`STATUS_CANCELLED`] or
/// [`STATUS_INVALID_ARGUMENT`]. Appended in ABI 1 (check [`HostApi::struct_size`]).
pub type PresentPagesFn = unsafe extern "C" fn(
    ctx: *mut HostContext,
    start: u64,
    end: u64,
    runs: *mut PageRun,
    capacity: usize,
    count: *mut usize,
    counts: *mut PageCounts,
    next: *mut u64,
) -> u32;

/// The host's function table. Entries are only ever appended; `struct_size` says how many exist.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the host was built.
    pub struct_size: u32,
    /// The host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Batched physical reads.
    pub read_physical: Option<ReadFn>,
    /// Batched virtual reads (kernel address space).
    pub read_virtual: Option<ReadFn>,
    /// A symbol's address.
    pub symbol_address: Option<LookupFn>,
    /// A type's size in bytes.
    pub type_size: Option<LookupFn>,
    /// A field's offset in bytes (and bit range).
    pub field_offset: Option<FieldOffsetFn>,
    /// Facts about the target.
    pub target_info: Option<TargetInfoFn>,
    /// A pool tag's owner and description.
    pub pool_tag: Option<PoolTagFn>,
    /// Logging.
    pub log: Option<LogFn>,
    /// Cancellation.
    pub is_cancelled: Option<IsCancelledFn>,
    /// Emits one row: a JSON object.
    pub emit_row: Option<JsonFn>,
    /// Sets the command's summary: a JSON value (replaces an earlier one).
    pub set_summary: Option<JsonFn>,
    /// Adds a warning to the command's output.
    pub add_warning: Option<MessageFn>,
    /// Sets the command's error text (the last one wins).
    pub set_error: Option<MessageFn>,
    // ----- appended after the first version: check `struct_size` before use -----
    /// Progress of a long command (a host without a display ignores it).
    pub progress: Option<ProgressFn>,
    /// Which loaded driver images hold a pool tag.
    pub find_tag_in_images: Option<FindTagInImagesFn>,
    /// One line of the command's own text layout (WinDbg's), a [`MessageFn`]: the host copies it and, printing text, writes it at once; machine formats
    /// drop it. A command that sends its lines this way need not keep them (nor put them in
    /// `summary.text`), so its memory does not grow with its output. Callable from any thread
    /// (lines keep the order of the calls). Appended in ABI 1 (check [`HostApi::struct_size`]).
    pub emit_text: Option<MessageFn>,
    /// Escapes a text as a JSON string literal (a [`JsonStringFn`]), so that C plugins emit valid
    /// rows. Appended in ABI 1 (check [`HostApi::struct_size`]).
    pub json_string: Option<JsonStringFn>,
    /// The present pages of a virtual range, from the page tables ([`PresentPagesFn`]).
    /// Appended in ABI 1 (check [`HostApi::struct_size`]).
    pub present_pages: Option<PresentPagesFn>,
}

/// `struct_size` of the first [`HostApi`] (its 13 entries; 112 bytes on 64-bit targets): a host of
/// that size has no [`HostApi::progress`] or [`HostApi::find_tag_in_images`].
pub const HOST_API_V1_SIZE: u32 = core::mem::offset_of!(HostApi, progress) as u32;

// The layout is part of the ABI: fail the build if a field moves on the 64-bit targets we ship.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(core::mem::size_of::<Str>() == 16);
    assert!(core::mem::size_of::<PluginDescriptor>() == 64);
    assert!(core::mem::size_of::<CommandDescriptor>() == 64);
    assert!(COMMAND_DESCRIPTOR_V1_SIZE == 48);
    assert!(core::mem::offset_of!(CommandDescriptor, columns) == COMMAND_DESCRIPTOR_V1_SIZE);
    assert!(core::mem::size_of::<ReadRequest>() == 56);
    assert!(core::mem::size_of::<Lookup>() == 24);
    assert!(core::mem::size_of::<TargetInfo>() == 64);
    assert!(core::mem::size_of::<TagInfo>() == 48);
    assert!(core::mem::size_of::<ImageHit>() == 24);
    assert!(core::mem::size_of::<HostApi>() == 8 + 18 * 8);
    assert!(core::mem::offset_of!(HostApi, json_string) == 8 + 16 * 8);
    assert!(core::mem::offset_of!(HostApi, present_pages) == 8 + 17 * 8);
    assert!(core::mem::size_of::<PageRun>() == 16);
    assert!(core::mem::size_of::<PageCounts>() == 72);
    assert!(core::mem::offset_of!(HostApi, emit_text) == 8 + 15 * 8);
    assert!(HOST_API_V1_SIZE == 8 + 13 * 8);
    assert!(core::mem::offset_of!(HostApi, find_tag_in_images) == 8 + 14 * 8);
};
