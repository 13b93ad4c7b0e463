//! The pooltag.txt parser: tolerant of every trap real files hold.
//!
//! The format (Debugging Tools for Windows, `triage\pooltag.txt`; traps in docs/POOLTAG.md "The
//! file format accepted", from the Windows SDK 10.0.25967 copy):
//!
//! ```text
//! rem    comment lines start with rem / REM / // (but `ReMo` is a real tag)
//! Tag  - binary.sys   - description, which may itself contain " - "
//! Ab?? - wild.sys     - '?' matches one byte, '*' the rest of the tag
//! ```

use std::fmt;

use crate::tag::{Tag, push_display, unescape};

/// The tag column of one line: an exact tag or a wildcard pattern.
///
/// Short tags are padded with spaces to four bytes (`PX1` is the tag `PX1 `). In a pattern, `?` matches
/// any one byte and `*` matches whatever follows (zero or more bytes, spaces included), so `Ip*`
/// matches `Ip  `, `IpX ` and `IpXY`. Matching is case-sensitive, as tags are.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagPattern {
    /// The bytes, space-padded; positions from `star` on are ignored.
    bytes: [u8; 4],
    /// Position of the first `*`, or 4.
    star: u8,
    /// Whether a `?` or `*` occurs.
    wild: bool,
}

impl TagPattern {
    /// Reads a tag column: up to four characters and `\xNN` escapes (the display form of [`Tag`]), or
    /// else one to four raw bytes (so a lone backslash is itself). Trailing spaces are padding. Returns `None` when the column is empty or names
    /// more than four bytes.
    pub fn from_field(field: &[u8]) -> Option<TagPattern> {
        let field = trim_end(field);
        // `\xNN` escapes first (so the display form always reads back), else the raw bytes.
        let escaped = find(field, b"\\x").and_then(|_| unescape(field).ok());
        let (mut bytes, n) = match escaped {
            Some(decoded) => decoded,
            None if field.len() <= 4 => {
                let mut b = [b' '; 4];
                b[..field.len()].copy_from_slice(field);
                (b, field.len())
            }
            None => return None,
        };
        if n == 0 {
            return None;
        }
        // A tag never carries the protected bit (see `Tag`); the fourth byte is masked alike, before
        // looking for wildcards (0xbf masked is `?`).
        bytes[3] &= 0x7f;
        let star = bytes.iter().position(|&b| b == b'*').unwrap_or(4);
        let wild = star < 4 || bytes.contains(&b'?');
        Some(TagPattern {
            bytes,
            star: star as u8,
            wild,
        })
    }

    /// An exact pattern for `tag`.
    pub fn exact(tag: Tag) -> TagPattern {
        TagPattern {
            bytes: tag.bytes(),
            star: 4,
            wild: false,
        }
    }

    /// Whether the column holds `?` or `*`.
    pub fn is_wildcard(&self) -> bool {
        self.wild
    }

    /// The exact tag, when the column holds no wildcard.
    pub fn as_tag(&self) -> Option<Tag> {
        (!self.wild).then(|| Tag::from_bytes(self.bytes))
    }

    /// The first byte when it is literal (not `?` or `*`): the key of the wildcard index.
    pub(crate) fn literal_first(&self) -> Option<u8> {
        (self.star > 0 && self.bytes[0] != b'?').then_some(self.bytes[0])
    }

    /// Whether `tag` matches this pattern.
    #[inline]
    pub fn matches(&self, tag: Tag) -> bool {
        let t = tag.bytes();
        let end = usize::from(self.star).min(4);
        self.bytes[..end]
            .iter()
            .zip(&t[..end])
            .all(|(&p, &b)| p == b || (self.wild && p == b'?'))
    }
}

impl fmt::Display for TagPattern {
    /// The column as a pooltag.txt line would carry it: four characters (escaped like [`Tag`]), or the
    /// characters up to and including `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(16);
        let end = usize::from(self.star).min(4);
        for &b in &self.bytes[..end] {
            push_display(&mut out, b);
        }
        if end < 4 {
            out.push('*');
        }
        f.pad(&out)
    }
}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagPattern(\"{self}\")")
    }
}

/// One line of a pooltag.txt: a tag (or pattern), the binary that owns it, and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The tag column.
    pub pattern: TagPattern,
    /// The owner column as written: `afd.sys`, `<unknown>`, `<multiple>`, `nt!mm`,
    /// `win32k!CFoo::operator new`, ...
    pub binary: String,
    /// The description column (may be empty; may contain " - ").
    pub description: String,
    /// The line number in its file, from 1.
    pub line: u32,
}

/// What is wrong with a line that was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// The line has no `" - "` separator (e.g. a continuation line or free text).
    NoSeparator,
    /// The tag column holds more than four bytes.
    TagTooLong,
    /// The line starts with whitespace (WinDbg's files never indent an entry).
    Indented,
    /// Only two columns, and the second has spaces: a description without a binary.
    NoBinary,
    /// The binary column is empty.
    EmptyBinary,
    /// Non-blank text follows the 0x1A end-of-file byte; it was ignored.
    TextAfterEof,
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WarningKind::NoSeparator => "no \" - \" separator",
            WarningKind::TagTooLong => "tag column longer than four bytes",
            WarningKind::Indented => "line starts with whitespace",
            WarningKind::NoBinary => "two columns only and the second is not a binary name",
            WarningKind::EmptyBinary => "empty binary column",
            WarningKind::TextAfterEof => "text after the 0x1A end-of-file byte ignored",
        })
    }
}

/// A line that was skipped, with its number and (the start of) its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The line number, from 1.
    pub line: u32,
    /// What is wrong.
    pub kind: WarningKind,
    /// The line's text (lossily decoded, cut to 80 characters).
    pub text: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {:?}", self.line, self.kind, self.text)
    }
}

/// The result of parsing one file: its entries in file order and the lines it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
    /// The malformed lines, in file order.
    pub warnings: Vec<Warning>,
}

/// Parses pooltag.txt text. See [`parse_bytes`].
pub fn parse(text: &str) -> Parsed {
    parse_bytes(text.as_bytes())
}

/// Parses the bytes of a pooltag.txt file. Never fails: lines it cannot read come back as warnings.
///
/// Accepted: CRLF or LF line ends; a UTF-8 byte-order mark; UTF-16 (LE or BE) with its byte-order mark
/// (Notepad's "Unicode"); any other bytes as 8-bit text (tag bytes are kept as they are, binary and
/// description are decoded as UTF-8 with invalid sequences replaced); a 0x1A byte ends the text (the
/// DOS end-of-file mark that real files carry). Comment lines start, after optional indentation, with
/// `//` or with the word `rem` in any case followed by a blank or the end of the line — so `ReMo` is a
/// tag, and a three-character tag `rem` cannot be written. Columns are split on the first two `" - "`
/// only. When the second separator is missing, a `" -"` still ends the binary column (`Tag - binary -`,
/// an empty description whose trailing blank an editor stripped; `CMAl - nt!cm  -internal ...` in the
/// 2003 copy); failing that, a single-word second column is the binary (`Tag - binary`), and a second
/// column with blanks is a description without a binary (a warning).
pub fn parse_bytes(input: &[u8]) -> Parsed {
    let decoded;
    let mut data = input;
    if let Some(text) = decode_utf16(input) {
        decoded = text;
        data = decoded.as_bytes();
    }
    if let Some(rest) = data.strip_prefix(b"\xef\xbb\xbf") {
        data = rest;
    }
    let mut out = Parsed::default();
    let mut after_eof = None;
    if let Some(eof) = data.iter().position(|&b| b == 0x1a) {
        after_eof = Some((&data[eof + 1..], line_count(&data[..eof])));
        data = &data[..eof];
    }
    for (index, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = trim_end(raw);
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Some((pattern, binary, description))) => out.entries.push(Entry {
                pattern,
                binary: String::from_utf8_lossy(binary).into_owned(),
                description: String::from_utf8_lossy(description).into_owned(),
                line: line_no,
            }),
            Ok(None) => {}
            Err(kind) => out.warnings.push(warning(line_no, kind, line)),
        }
    }
    if let Some((rest, line_no)) = after_eof
        && !rest.iter().all(u8::is_ascii_whitespace)
    {
        out.warnings
            .push(warning(line_no, WarningKind::TextAfterEof, trim(rest)));
    }
    out
}

/// The line number (from 1) of the position just after `before`.
fn line_count(before: &[u8]) -> u32 {
    let n = before.iter().filter(|&&b| b == b'\n').count() + 1;
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn warning(line: u32, kind: WarningKind, text: &[u8]) -> Warning {
    let text: String = String::from_utf8_lossy(text).chars().take(80).collect();
    Warning { line, kind, text }
}

type Columns<'a> = (TagPattern, &'a [u8], &'a [u8]);

/// One non-blank line (trailing blanks removed): `Ok(Some(..))` an entry, `Ok(None)` a comment.
fn parse_line(line: &[u8]) -> Result<Option<Columns<'_>>, WarningKind> {
    let body = trim_start(line);
    if is_comment(body) {
        return Ok(None);
    }
    if body.len() != line.len() {
        return Err(WarningKind::Indented);
    }
    let sep = find(line, b" - ").ok_or(WarningKind::NoSeparator)?;
    // Not empty: the line starts with a non-blank byte and the separator with a blank.
    let pattern = TagPattern::from_field(&line[..sep]).ok_or(WarningKind::TagTooLong)?;
    let rest = &line[sep + 3..];
    let (binary, description) = match find(rest, b" - ") {
        Some(p) => (trim(&rest[..p]), trim(&rest[p + 3..])),
        None => {
            let rest = trim(rest);
            if let Some(p) = find(rest, b" -") {
                // `binary -description` (a real 2003 line) or `binary -` (empty description).
                (trim(&rest[..p]), trim(&rest[p + 2..]))
            } else if rest.iter().any(|b| b.is_ascii_whitespace()) {
                return Err(WarningKind::NoBinary);
            } else {
                (rest, &b""[..])
            }
        }
    };
    if binary.is_empty() {
        return Err(WarningKind::EmptyBinary);
    }
    Ok(Some((pattern, binary, description)))
}

/// `//...`, or the word `rem` (any case) alone or followed by a blank.
fn is_comment(body: &[u8]) -> bool {
    if body.starts_with(b"//") {
        return true;
    }
    match body.get(..3) {
        Some(word) if word.eq_ignore_ascii_case(b"rem") => {
            body.get(3).is_none_or(|b| b.is_ascii_whitespace())
        }
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_end(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &s[..end]
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[start..]
}

fn trim(s: &[u8]) -> &[u8] {
    trim_start(trim_end(s))
}

/// UTF-16 text with a byte-order mark, decoded (unpaired surrogates replaced); `None` otherwise.
fn decode_utf16(input: &[u8]) -> Option<String> {
    let (le, body) = match input {
        [0xff, 0xfe, rest @ ..] => (true, rest),
        [0xfe, 0xff, rest @ ..] => (false, rest),
        _ => return None,
    };
    let units = body.chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    Some(
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> Tag {
        s.parse().unwrap()
    }

    fn one(text: &str) -> Entry {
        let p = parse(text);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.entries.len(), 1, "{:?}", p.entries);
        p.entries.into_iter().next().unwrap()
    }

    #[test]
    fn splits_on_the_first_two_separators_only() {
        let e = one("Abcd - ab.sys - one - two - three\n");
        assert_eq!(e.pattern.as_tag(), Some(tag("Abcd")));
        assert_eq!(e.binary, "ab.sys");
        assert_eq!(e.description, "one - two - three");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn short_tags_are_space_padded_and_case_kept() {
        let p =
            parse("PX1 - ndproxy.sys - x\nI4e -  tcpip.sys    - y\nab - a.sys - \nAB - b.sys - \n");
        assert!(p.warnings.is_empty());
        let tags: Vec<_> = p
            .entries
            .iter()
            .map(|e| e.pattern.as_tag().unwrap())
            .collect();
        assert_eq!(
            tags,
            vec![tag("PX1 "), tag("I4e "), tag("ab  "), tag("AB  ")]
        );
        assert_ne!(tags[2], tags[3]);
        assert_eq!(p.entries[1].binary, "tcpip.sys");
    }

    #[test]
    fn wildcards() {
        let p =
            parse("Afd? - afd.sys - a\nIp* - ip.sys - b\nST*  - st.sys - c\nGh?L - g.sys - d\n");
        assert!(p.entries.iter().all(|e| e.pattern.is_wildcard()));
        let [afd, ip, st, gh] = [0, 1, 2, 3].map(|i| p.entries[i].pattern);
        assert!(afd.matches(tag("AfdA")) && afd.matches(tag("Afd ")));
        assert!(!afd.matches(tag("afdA")));
        assert!(ip.matches(tag("Ip")) && ip.matches(tag("IpXY")) && !ip.matches(tag("IP")));
        assert!(st.matches(tag("STab")) && !st.matches(tag("SUab")));
        assert!(gh.matches(tag("Gh5L")) && !gh.matches(tag("Gh5M")));
        assert_eq!(ip.to_string(), "Ip*");
        assert_eq!(afd.to_string(), "Afd?");
        assert_eq!(afd.as_tag(), None);
    }

    #[test]
    fn repeated_tags_keep_every_owner_in_order() {
        let p = parse("Dup  - one.sys - \nDup  - two.sys - \n");
        let owners: Vec<_> = p.entries.iter().map(|e| e.binary.as_str()).collect();
        assert_eq!(owners, ["one.sys", "two.sys"]);
    }

    #[test]
    fn special_owners_are_kept_verbatim() {
        let p = parse(
            "Aaaa - <unknown>    - x\nBbbb - <multiple> - y\nCccc - nt!mm - z\n\
             Dddd - win32k!CFoo::operator new  - w\nEeee - nt!store or rdyboost.sys - v\n",
        );
        let owners: Vec<_> = p.entries.iter().map(|e| e.binary.as_str()).collect();
        assert_eq!(
            owners,
            [
                "<unknown>",
                "<multiple>",
                "nt!mm",
                "win32k!CFoo::operator new",
                "nt!store or rdyboost.sys"
            ]
        );
    }

    #[test]
    fn comments_but_remo_is_a_tag() {
        let p = parse(
            "//\n// Copyright - x - y\nrem\nrem    The file - a - b\nREM x\nRem\tx\n  rem indented\n\
             ReMo - refs.sys     -     Mount\nremo - r.sys - \n",
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let tags: Vec<_> = p.entries.iter().map(|e| e.pattern.to_string()).collect();
        assert_eq!(tags, ["ReMo", "remo"]);
        assert_eq!(p.entries[0].description, "Mount");
        assert_eq!(p.entries[0].line, 8);
    }

    #[test]
    fn crlf_and_lf_give_the_same_entries() {
        let lf = parse("Abcd - a.sys - x\n\nEfgh - b.sys - y\n");
        let crlf = parse("Abcd - a.sys - x\r\n\r\nEfgh - b.sys - y\r\n");
        assert_eq!(lf, crlf);
        assert_eq!(crlf.entries[1].line, 3);
        assert_eq!(crlf.entries[1].description, "y");
    }

    #[test]
    fn final_eof_byte_ends_the_text() {
        let p = parse("Abcd - a.sys - x\r\n\x1a");
        assert_eq!(p.entries.len(), 1);
        assert!(p.warnings.is_empty());
        let p = parse("Abcd - a.sys - x\x1a\r\n");
        assert_eq!(
            (p.entries.len(), p.entries[0].description.as_str()),
            (1, "x")
        );
        let p = parse("Abcd - a.sys - x\n\x1aEfgh - b.sys - y\n");
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(
            (p.warnings[0].line, p.warnings[0].kind),
            (2, WarningKind::TextAfterEof)
        );
    }

    #[test]
    fn malformed_lines_are_warnings_with_line_numbers() {
        let text = "Good - g.sys - ok\n       <unknown>\nQUIC tags are Qc00 through QcFF\n\
                    ATmp - AppTag mount point\nTooLong - x.sys - y\n - x.sys - y\nAbcd -  - y\n\
                    Last - l.sys - ok\n";
        let p = parse(text);
        assert_eq!(p.entries.len(), 2);
        let got: Vec<_> = p.warnings.iter().map(|w| (w.line, w.kind)).collect();
        assert_eq!(
            got,
            [
                (2, WarningKind::Indented),
                (3, WarningKind::NoSeparator),
                (4, WarningKind::NoBinary),
                (5, WarningKind::TagTooLong),
                (6, WarningKind::Indented),
                (7, WarningKind::EmptyBinary),
            ]
        );
        assert_eq!(p.warnings[0].text, "       <unknown>");
        assert!(
            p.warnings[1]
                .to_string()
                .starts_with("line 3: no \" - \" separator")
        );
    }

    #[test]
    fn two_columns_with_one_word_or_a_trailing_dash() {
        let p =
            parse("Abcd - a.sys\nEfgh - b.sys -\nIjkl - c.sys - \nMnop - d.sys   -tight words\n");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let got: Vec<_> = p
            .entries
            .iter()
            .map(|e| (e.binary.as_str(), e.description.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.sys", ""),
                ("b.sys", ""),
                ("c.sys", ""),
                ("d.sys", "tight words")
            ]
        );
    }

    #[test]
    fn escaped_and_non_ascii_tags() {
        let p = parse_bytes(
            b"\\x01ab - a.sys - x\nAb\xe9 - b.sys - \xff\n\\xff - c.sys - \na\\b - d.sys - \n",
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(
            p.entries[0].pattern.as_tag(),
            Some(Tag::from_bytes([1, b'a', b'b', b' ']))
        );
        assert_eq!(
            p.entries[1].pattern.as_tag(),
            Some(Tag::from_bytes([b'A', b'b', 0xe9, b' ']))
        );
        assert_eq!(p.entries[1].description, "\u{fffd}");
        // Four characters that spell an escape are the escaped byte (the fuzzer's find).
        assert_eq!(
            p.entries[2].pattern.as_tag(),
            Some(Tag::from_bytes([0xff, b' ', b' ', b' ']))
        );
        assert_eq!(p.entries[3].pattern.as_tag(), Some(tag("a\\x5cb")));
    }

    #[test]
    fn byte_order_marks_and_utf16() {
        let utf8 = parse("\u{feff}Abcd - a.sys - x\n");
        assert_eq!(utf8.entries[0].pattern.as_tag(), Some(tag("Abcd")));
        let text = "rem x\r\nAbcd - a.sys - x\r\n";
        let mut le = vec![0xff, 0xfe];
        let mut be = vec![0xfe, 0xff];
        for u in text.encode_utf16() {
            le.extend(u.to_le_bytes());
            be.extend(u.to_be_bytes());
        }
        for bytes in [le, be] {
            let p = parse_bytes(&bytes);
            assert_eq!(p.entries.len(), 1);
            assert_eq!(p.entries[0].line, 2);
            assert_eq!(p.entries[0].binary, "a.sys");
        }
    }

    #[test]
    fn protected_bit_in_a_file_tag_is_masked() {
        let p = parse_bytes(b"Abc\xe4 - a.sys - x\nAb?\xbf - b.sys - \n");
        assert_eq!(p.entries[0].pattern.as_tag(), Some(tag("Abcd")));
        // 0xbf masked is `?`: a wildcard, as its display form says.
        assert!(p.entries[1].pattern.is_wildcard());
        assert_eq!(p.entries[1].pattern.to_string(), "Ab??");
    }

    #[test]
    fn empty_and_blank_inputs() {
        assert_eq!(parse(""), Parsed::default());
        assert_eq!(parse("\n\r\n \t \n\x1a"), Parsed::default());
    }
}
