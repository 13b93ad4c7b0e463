//! What the commands share: the layout of the target, symbol reads, tag patterns, owners,
//! argument parsing (plugin-sdk's [`args`], the one kd vocabulary), and the text-line convention.

use plugin_sdk::{Arch, CommandError, Source, Target, TargetExt, args};
use poollayout::{BlockState, Layout, Tag};
use serde_json::{Map, Value, json};

/// The most entries a tracker or big page table may claim before we call it corrupt (Volatility 2
/// `pooltracker.py` rejects tracker sizes over 100000; the big page table is at most 16 MiB).
pub const MAX_TABLE_ENTRIES: u64 = 0x10_0000;

/// What every pool command answers on an ARM64 kernel.
pub const ARM64_NOT_COVERED: &str = "this is an ARM64 kernel: the pool commands do not cover ARM64 yet \
     (no pool layout is known for ARM64 kernels: no public layout research); info and lm identify it";

/// The pool layout of the target's (architecture, build), or an error saying why there is none.
///
/// A triage dump is refused here: it holds the header, a KDBG copy and a few data blocks, never pool.
pub fn layout_of(target: &dyn Target) -> Result<Layout, CommandError> {
    let info = target.info();
    if info.arch == Arch::Arm64 {
        return Err(CommandError::msg(ARM64_NOT_COVERED));
    }
    if info.dump_type.eq_ignore_ascii_case("triage") {
        return Err(CommandError::msg(
            "this dump holds no pool: it is a triage (mini) dump, which keeps only the header, \
             a KDBG copy and a few data blocks; a kernel, full or bitmap dump is needed",
        ));
    }
    layout_for_kernel(target)
}

/// The pool layout of the target's (architecture, build), whatever the dump type (`!frag` looks
/// for its structures in a triage dump too, and says which one is missing).
pub fn layout_for_kernel(target: &dyn Target) -> Result<Layout, CommandError> {
    let info = target.info();
    let arch = match info.arch {
        Arch::X86 | Arch::X86Pae => poollayout::Arch::X86,
        Arch::X64 => poollayout::Arch::X64,
        Arch::Arm64 => return Err(CommandError::msg(ARM64_NOT_COVERED)),
        // Unknown, or an architecture the SDK learns later.
        _ => {
            return Err(CommandError::msg(
                "the kernel's architecture is unknown: cannot choose a pool layout",
            ));
        }
    };
    if info.build == 0 {
        return Err(CommandError::msg(
            "the kernel's build number is unknown: cannot choose a pool layout",
        ));
    }
    Layout::for_build(arch, info.build).map_err(|e| CommandError::msg(e.to_string()))
}

/// A symbol's address with its source.
pub fn symbol(target: &dyn Target, name: &str) -> Option<(u64, Source)> {
    target
        .symbol_address(name)
        .filter(|s| s.value != 0)
        .map(|s| (s.value, s.source))
}

/// The pointer-sized value of the global `name` (e.g. `PoolTrackTable`, a pointer variable):
/// `Ok(None)` when the symbol is unknown, `Err` (naming the symbol and address) when unreadable.
pub fn read_global(
    target: &dyn Target,
    layout: &Layout,
    name: &str,
) -> Result<Option<(u64, Source)>, CommandError> {
    let Some((addr, src)) = symbol(target, name) else {
        return Ok(None);
    };
    target
        .read_pointer(addr, layout.pointer_size() as u32)
        .map(|v| Some((v, src)))
        .map_err(|e| CommandError::Failed(format!("nt!{name} at {addr:#x}: {e}")))
}

/// Reads `len` bytes at `address` page by page: missing pages read as zeros and are counted.
/// Returns the bytes and the number of pages that could not be read.
pub fn read_lenient(target: &dyn Target, address: u64, len: usize) -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; len];
    let mut missing = 0usize;
    let mut off = 0usize;
    while off < len {
        let addr = address.wrapping_add(off as u64);
        let n = (0x1000 - (addr & 0xfff) as usize).min(len - off);
        if target
            .read_virtual_exact(addr, &mut buf[off..off + n])
            .is_err()
        {
            buf[off..off + n].fill(0);
            missing += 1;
        }
        off += n;
    }
    (buf, missing)
}

/// A tag pattern as `!poolused` and `!poolfind` take it: plugin-sdk's
/// [`plugin_sdk::args::TagPattern`] (the one kd vocabulary), matched against a decoded [`Tag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern(pub args::TagPattern);

impl TagPattern {
    /// Parses `text`: a tag string (`Proc`, `Ip*`, `?mDT`) or a `0x` tag value (`0x636f7250`).
    pub fn parse(text: &str) -> Result<TagPattern, args::UsageError> {
        args::TagPattern::parse(text).map(TagPattern)
    }

    /// Does `tag` (protected bit masked) match?
    pub fn matches(&self, tag: Tag) -> bool {
        self.0.matches(tag.bytes())
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Who owns a tag, as the target's tag database says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Owning binary, when known.
    pub binary: Option<String>,
    /// Description, when known.
    pub description: Option<String>,
    /// The database that answered.
    pub source: Option<String>,
}

/// Looks `tag` up in the target's pool tag database (protected bit masked).
pub fn owner(target: &dyn Target, tag: Tag) -> Owner {
    match target.pool_tag(tag.masked().bytes()) {
        Some(i) => Owner {
            binary: Some(i.binary).filter(|b| !b.is_empty()),
            description: Some(i.description).filter(|d| !d.is_empty()),
            source: Some(i.source),
        },
        None => Owner {
            binary: None,
            description: None,
            source: None,
        },
    }
}

impl Owner {
    /// WinDbg's owner text after a `!poolused` row: `Description , Binary: x.sys`, or the
    /// `UNKNOWN pooltag 'XXXX', please update pooltag.txt` line.
    pub fn poolused_text(&self, tag: impl std::fmt::Display) -> String {
        match (&self.description, &self.binary) {
            (None, None) => format!("UNKNOWN pooltag '{tag}', please update pooltag.txt"),
            (Some(d), Some(b)) => format!("{d} , Binary: {b}"),
            (Some(d), None) => d.clone(),
            (None, Some(b)) => format!("Binary: {b}"),
        }
    }

    /// `!pool`'s line under the marked block: `Pooltag Proc : Process objects, Binary : nt!ps`.
    pub fn pool_text(&self, tag: Tag) -> String {
        match (&self.description, &self.binary) {
            (None, None) => format!("Owning component : Unknown (update pooltag.txt)  ({tag})"),
            // The embedded database has no descriptions: leave out the empty part, not the comma.
            (None, Some(b)) => format!("Pooltag {tag} : Binary : {b}"),
            (d, b) => format!(
                "Pooltag {tag} : {}, Binary : {}",
                d.as_deref().unwrap_or(""),
                b.as_deref().unwrap_or("<unknown>")
            ),
        }
    }
}

/// An address formatted as the pool commands print it ([`args::pool_address`]): 8 hex digits on
/// 32-bit targets, 16 on 64-bit.
pub fn addr(layout: &Layout, value: u64) -> String {
    args::pool_address(value, layout.pointer_size() as u32)
}

/// Serializes an address as the output contract writes it ([`plugin_sdk::hex`]: `"0x…"`), for a
/// row field `#[serde(serialize_with = "ser_hex")]`.
pub fn ser_hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&plugin_sdk::hex(*v))
}

/// Serializes a block state as the rows write it: `allocated` or `free`.
pub fn ser_state<S: serde::Serializer>(v: &BlockState, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match v {
        BlockState::Allocated => "allocated",
        BlockState::Free => "free",
    })
}

/// Parses one argument with the kd vocabulary ([`args::parse_number`]), the error a usage error
/// ending in the command's `usage` line.
pub fn number_arg(text: &str, usage: &str) -> Result<u64, CommandError> {
    args::parse_number(text).map_err(|e| e.with_usage(usage).into())
}

/// An optional number argument ([`number_arg`]), `default` when absent.
pub fn number_or(text: Option<&str>, default: u64, usage: &str) -> Result<u64, CommandError> {
    text.map_or(Ok(default), |t| number_arg(t, usage))
}

/// Fails with a usage error when `rest` holds another argument.
pub fn no_more_args<'a>(
    mut rest: impl Iterator<Item = &'a str>,
    usage: &str,
) -> Result<(), CommandError> {
    match rest.next() {
        Some(_) => Err(CommandError::Usage(format!("too many arguments; {usage}"))),
        None => Ok(()),
    }
}

/// Parses a tag argument ([`TagPattern::parse`]), the error a usage error ending in `usage`.
pub fn tag_arg(text: &str, usage: &str) -> Result<TagPattern, CommandError> {
    TagPattern::parse(text).map_err(|e| e.with_usage(usage).into())
}

/// The text-rendering convention of these commands (docs/PLUGINS.md, "Text layouts"):
/// the summary is a JSON object whose `text` member is an array of lines in WinDbg's layout. A
/// host printing text prints those lines (and the warnings) instead of rendering the rows; a host
/// printing JSON removes `summary.text` before printing.
pub fn summary_with_text(mut fields: Map<String, Value>, lines: Vec<String>) -> Value {
    fields.insert("text".into(), json!(lines));
    Value::Object(fields)
}

/// The `symbols:` first line the contract asks for when a source is not exact, or `None`.
pub fn symbols_line(sources: &[(String, Source)]) -> Option<String> {
    let weak: Vec<String> = sources
        .iter()
        .filter(|(_, s)| !s.is_exact())
        .map(|(n, s)| format!("{n} ({})", s.name()))
        .collect();
    (!weak.is_empty()).then(|| format!("symbols: {}", weak.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_decoded_tags() {
        let p = TagPattern::parse("0x636f7250").unwrap();
        assert!(p.matches(Tag::from_bytes(*b"Proc")));
        // protected bit masked
        assert!(p.matches(Tag(0x636f_7250 | 0x8000_0000)));
        assert!(!p.matches(Tag::from_bytes(*b"Thre")));
        assert!(
            TagPattern::parse("Ip*")
                .unwrap()
                .matches(Tag::from_bytes(*b"IpAB"))
        );
        let e = tag_arg("Toolong", "!x TAG").unwrap_err();
        assert!(
            matches!(&e, CommandError::Usage(m) if m.ends_with("; !x TAG")),
            "{e}"
        );
        assert_eq!(number_arg("0n16", "!x").unwrap(), 16);
        assert!(matches!(
            number_arg("1`0000000000000000", "!x"),
            Err(CommandError::Usage(_))
        ));
    }

    #[test]
    fn owner_texts() {
        let unknown = Owner {
            binary: None,
            description: None,
            source: None,
        };
        assert_eq!(
            unknown.poolused_text(Tag::from_bytes(*b"1394")),
            "UNKNOWN pooltag '1394', please update pooltag.txt"
        );
        let known = Owner {
            binary: Some("i8042prt.sys".into()),
            description: Some("PS/2 kb and mouse".into()),
            source: Some("pooltag.txt".into()),
        };
        assert_eq!(
            known.poolused_text(Tag::from_bytes(*b"8042")),
            "PS/2 kb and mouse , Binary: i8042prt.sys"
        );
        assert_eq!(
            known.pool_text(Tag::from_bytes(*b"8042")),
            "Pooltag 8042 : PS/2 kb and mouse, Binary : i8042prt.sys"
        );
        // The embedded database: an owner, no description; a known tag whose owner is `<unknown>`.
        let embedded = Owner {
            binary: Some("<unknown>".into()),
            description: None,
            source: Some("embedded".into()),
        };
        assert_eq!(
            embedded.pool_text(Tag::from_bytes(*b"Irp ")),
            "Pooltag Irp  : Binary : <unknown>"
        );
        assert_eq!(
            embedded.poolused_text(Tag::from_bytes(*b"Irp ")),
            "Binary: <unknown>"
        );
        assert_eq!(
            unknown.pool_text(Tag::from_bytes(*b"Leak")),
            "Owning component : Unknown (update pooltag.txt)  (Leak)"
        );
    }
}
