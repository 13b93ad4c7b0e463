//! The kd argument vocabulary every pooldbg command speaks: one parser for the host's commands
//! (`db`, `!pte`, …) and for every plugin command, so `0n10` or a too-large number means the same
//! everywhere.
//!
//! * **Numbers** ([`parse_number`]): hexadecimal by default, `0x` accepted, `0n` for decimal,
//!   WinDbg's backtick separator of 64-bit values (`fffff800`02a00000`) ignored; a value that does
//!   not fit in 64 bits is a usage error, never a silent truncation. (WinDbg's "Numerical
//!   Expression Syntax" page: the default radix is 16, `0n` prefixes decimal, `0x` hexadecimal.)
//! * **Expressions** ([`eval`]): numbers, kernel symbols (`nt!PoolTrackTable`; the module names
//!   `nt`, `ntoskrnl`, `ntkrnlmp`, `ntkrnlpa`, `ntkrpamp` are all the kernel), `+` and `-`,
//!   parentheses and `poi(expr)` (the pointer-sized value at `expr`, read through the target) — the
//!   MASM operators WinDbg users type after `!pool`, `db` or `!pte` ("MASM Numbers and Operators").
//!   Arithmetic wraps at 64 bits as WinDbg's does.
//! * **Ranges** ([`parse_range`], [`eval_range`]): `ADDRESS [L COUNT]`, also `L?COUNT` and `LCOUNT`
//!   ("Address and Address Range Syntax"); a count of 0 is refused.
//! * **Tags** ([`TagPattern`]): `Proc`, `Ip*`, `?mDT`, or a `0x` tag value, case-sensitive as
//!   WinDbg's `!poolused`/`!poolfind` compare them.
//!
//! Every failure is one type, [`UsageError`], which converts into
//! [`CommandError::Usage`](crate::CommandError::Usage).
//!
//! ```
//! use pooldbg_plugin_sdk::args::{parse_number, parse_range};
//! assert_eq!(parse_number("0n10").unwrap(), 10);
//! assert_eq!(parse_number("fffff800`02a00000").unwrap(), 0xfffff800_02a00000);
//! assert!(parse_number("1`0000000000000000").is_err());
//! assert_eq!(parse_range("1000 L?0n20").unwrap(), (0x1000, Some(20)));
//! ```

use crate::target::{ReadError, Target, TargetExt};

/// The arguments were not understood: the text says what was wrong (naming the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }

    /// The message followed by `; USAGE` (how to call the command).
    pub fn with_usage(self, usage: &str) -> Self {
        UsageError(format!("{}; {usage}", self.0))
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl From<UsageError> for crate::CommandError {
    fn from(e: UsageError) -> Self {
        crate::CommandError::Usage(e.0)
    }
}

/// Why an expression could not be evaluated: the text was wrong, or a `poi()` read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    /// Bad syntax, an unknown symbol, a too-large number.
    Usage(UsageError),
    /// `poi(address)` could not read the pointer (the read error names the address and why).
    Read(ReadError),
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExprError::Usage(u) => u.fmt(f),
            ExprError::Read(r) => write!(f, "poi(): {r}"),
        }
    }
}

impl std::error::Error for ExprError {}

impl From<UsageError> for ExprError {
    fn from(e: UsageError) -> Self {
        ExprError::Usage(e)
    }
}

impl From<ExprError> for crate::CommandError {
    fn from(e: ExprError) -> Self {
        match e {
            ExprError::Usage(u) => u.into(),
            ExprError::Read(r) => crate::CommandError::Read(r),
        }
    }
}

/// Parses one number as WinDbg does: hexadecimal unless prefixed `0n` (decimal); `0x` accepted;
/// backticks ignored. Errors name the text; a value over 64 bits is an error.
pub fn parse_number(text: &str) -> Result<u64, UsageError> {
    let t = text.trim();
    let cleaned: String = t.chars().filter(|&c| c != '`').collect();
    let (digits, radix, kind) = if let Some(d) = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
    {
        (d, 16, "hexadecimal")
    } else if let Some(d) = cleaned
        .strip_prefix("0n")
        .or_else(|| cleaned.strip_prefix("0N"))
    {
        (d, 10, "decimal")
    } else {
        (cleaned.as_str(), 16, "hexadecimal")
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(UsageError(format!("{t:?} is not a {kind} number")));
    }
    u64::from_str_radix(digits, radix)
        .map_err(|_| UsageError(format!("{t:?} is too large: numbers are at most 64 bits")))
}

/// `ADDRESS [L COUNT]` (also `L?COUNT`, `LCOUNT`) with a plain number as the address: the start
/// and the count of elements, `None` when no count was given. See [`eval_range`] for expressions.
pub fn parse_range(args: &str) -> Result<(u64, Option<u64>), UsageError> {
    let (addr_text, count) = split_range(args)?;
    Ok((parse_number(addr_text)?, count))
}

/// `ADDRESS [L COUNT]` whose address is an expression ([`eval`]): `db nt!PoolTrackTable L 8`,
/// `dq poi(nt!PoolBigPageTable)+10 L2`.
pub fn eval_range(target: &dyn Target, args: &str) -> Result<(u64, Option<u64>), ExprError> {
    let (addr_text, count) = split_range(args)?;
    Ok((eval(target, addr_text)?, count))
}

/// Splits `ADDRESS [L COUNT]` at the last blank-preceded `L` outside parentheses.
fn split_range(args: &str) -> Result<(&str, Option<u64>), UsageError> {
    let args = args.trim();
    if args.is_empty() {
        return Err(UsageError::new("an address is required"));
    }
    let bytes = args.as_bytes();
    let mut depth = 0i32;
    let mut split = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'L' | b'l' if depth == 0 && i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                split = Some(i)
            }
            _ => {}
        }
    }
    let Some(at) = split else {
        // No count: the address is everything, unless it is two words (`1000 8`).
        if let Some(i) = args.find(char::is_whitespace) {
            let (a, rest) = (&args[..i], args[i..].trim_start());
            if !a.contains('(') && !rest.starts_with(['+', '-']) && !a.ends_with(['+', '-']) {
                return Err(UsageError(format!(
                    "expected `L COUNT` after the address, found {rest:?}"
                )));
            }
        }
        return Ok((args, None));
    };
    let (addr_text, count_text) = (args[..at].trim_end(), &args[at + 1..]);
    let count_text = count_text.strip_prefix('?').unwrap_or(count_text);
    let count = parse_number(count_text)?;
    if count == 0 {
        return Err(UsageError::new("the count must be at least 1"));
    }
    Ok((addr_text, Some(count)))
}

/// The module names that mean the kernel in `module!symbol`.
const KERNEL_MODULES: &[&str] = &["nt", "ntoskrnl", "ntkrnlmp", "ntkrnlpa", "ntkrpamp"];

/// The deepest `poi(`/`(` nesting an expression may have (a bound, so hostile input cannot recurse
/// without end).
const MAX_DEPTH: u32 = 32;

/// Evaluates a MASM-style expression as WinDbg users type it after `db`, `!pte` or `!pool`:
/// numbers ([`parse_number`]), `nt!Symbol` (the target's symbol lookup; a bare name that is not
/// a number is looked up too), `+`, `-`, `( )` and `poi(expr)` (a pointer-sized read through the
/// target). An unknown symbol or bad syntax is an [`ExprError::Usage`]; a failed `poi` read an
/// [`ExprError::Read`].
pub fn eval(target: &dyn Target, text: &str) -> Result<u64, ExprError> {
    let mut p = Parser {
        s: text.trim().as_bytes(),
        text: text.trim(),
        i: 0,
        target,
    };
    if p.s.is_empty() {
        return Err(UsageError::new("an address is required").into());
    }
    let v = p.sum(0)?;
    p.blanks();
    if p.i < p.s.len() {
        return Err(UsageError(format!("unexpected {:?} in {:?}", &p.text[p.i..], p.text)).into());
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    target: &'a dyn Target,
}

impl Parser<'_> {
    fn blanks(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn sum(&mut self, depth: u32) -> Result<u64, ExprError> {
        let mut v = self.term(depth)?;
        loop {
            self.blanks();
            match self.s.get(self.i) {
                Some(b'+') => {
                    self.i += 1;
                    v = v.wrapping_add(self.term(depth)?);
                }
                Some(b'-') => {
                    self.i += 1;
                    v = v.wrapping_sub(self.term(depth)?);
                }
                _ => return Ok(v),
            }
        }
    }

    fn term(&mut self, depth: u32) -> Result<u64, ExprError> {
        if depth >= MAX_DEPTH {
            return Err(UsageError(format!("{:?} nests too deeply", self.text)).into());
        }
        self.blanks();
        match self.s.get(self.i) {
            None => {
                Err(UsageError(format!("{:?} ends where a value was expected", self.text)).into())
            }
            Some(b'-') => {
                self.i += 1;
                Ok(self.term(depth + 1)?.wrapping_neg())
            }
            Some(b'(') => {
                self.i += 1;
                let v = self.sum(depth + 1)?;
                self.close()?;
                Ok(v)
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric()
                        || matches!(self.s[self.i], b'_' | b'!' | b'`' | b'@' | b'$'))
                {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                if word.is_empty() {
                    return Err(UsageError(format!(
                        "unexpected {:?} in {:?}",
                        &self.text[start..],
                        self.text
                    ))
                    .into());
                }
                self.blanks();
                if word.eq_ignore_ascii_case("poi") && self.s.get(self.i) == Some(&b'(') {
                    self.i += 1;
                    let address = self.sum(depth + 1)?;
                    self.close()?;
                    let ps = self.target.info().pointer_size;
                    return self
                        .target
                        .read_pointer(address, if ps == 4 { 4 } else { 8 })
                        .map_err(ExprError::Read);
                }
                self.value(word)
            }
        }
    }

    fn close(&mut self) -> Result<(), ExprError> {
        self.blanks();
        if self.s.get(self.i) == Some(&b')') {
            self.i += 1;
            Ok(())
        } else {
            Err(UsageError(format!("a `)` is missing in {:?}", self.text)).into())
        }
    }

    fn value(&self, word: &str) -> Result<u64, ExprError> {
        if let Some((module, name)) = word.split_once('!') {
            if !KERNEL_MODULES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(module))
            {
                return Err(UsageError(format!(
                    "{word:?}: only kernel symbols are known (nt!NAME), not module {module:?}"
                ))
                .into());
            }
            return self.symbol(name, word);
        }
        match parse_number(word) {
            Ok(v) => Ok(v),
            // Not a number: a bare symbol name, as WinDbg looks it up in the kernel.
            Err(e) if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                self.symbol(word, word).map_err(|_| e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn symbol(&self, name: &str, word: &str) -> Result<u64, ExprError> {
        self.target
            .symbol_address(name)
            .map(|s| s.value)
            .filter(|&v| v != 0)
            .ok_or_else(|| UsageError(format!("{word:?}: no such symbol in this kernel")).into())
    }
}

/// The bit of a pool tag that marked a protected allocation before Windows 8 (WinDbg's `!pool`
/// documentation; `PROTECTED_POOL` 0x80000000 in the public wdm.h): tags are compared without it.
pub const PROTECTED_TAG_BIT: u32 = 0x8000_0000;

/// A tag pattern as `!poolused` and `!poolfind` take it: case-sensitive, `*` any run, `?` one
/// character; without `*` a pattern shorter than four characters is padded with spaces (WinDbg
/// compares four characters). A `0x` value (`0x636f7250`) is the tag's little-endian value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern {
    pattern: Vec<u8>,
    text: String,
}

impl TagPattern {
    /// Parses `text`: a tag string (`Proc`, `Ip*`, `?mDT`) or a `0x` tag value (`0x636f7250`).
    pub fn parse(text: &str) -> Result<TagPattern, UsageError> {
        if text.is_empty() {
            return Err(UsageError::new("empty tag"));
        }
        // `0x` (lowercase, as WinDbg's !poolfind documents) introduces a value.
        if let Some(hexv) = text.strip_prefix("0x") {
            let v = u32::from_str_radix(hexv, 16)
                .map_err(|_| UsageError(format!("`{text}` is not a 32-bit tag value")))?;
            return Ok(TagPattern {
                pattern: (v & !PROTECTED_TAG_BIT).to_le_bytes().to_vec(),
                text: text.to_owned(),
            });
        }
        let mut pattern = text.as_bytes().to_vec();
        if !pattern.contains(&b'*') {
            if pattern.len() > 4 {
                return Err(UsageError(format!(
                    "`{text}` is longer than a tag (four characters, or use `*`)"
                )));
            }
            pattern.resize(4, b' ');
        }
        Ok(TagPattern {
            pattern,
            text: text.to_owned(),
        })
    }

    /// Does the tag with these four bytes (as stored, little-endian) match? The protected bit is
    /// masked first.
    pub fn matches(&self, tag: [u8; 4]) -> bool {
        let masked = (u32::from_le_bytes(tag) & !PROTECTED_TAG_BIT).to_le_bytes();
        glob(&self.pattern, &masked)
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Wildcard match of `text` against `pattern` (`*` any run, `?` one byte), byte for byte and
/// case-sensitive: the one matcher behind tag patterns and the host's `lm m PATTERN` (which
/// lowercases both sides first). Bytes, not characters: `?` matches one byte of UTF-8.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with single-star backtracking: O(|p|·|s|) at worst, no recursion.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// An address as WinDbg prints it: 8 hex digits on 32-bit targets, `xxxxxxxx`xxxxxxxx` on 64-bit
/// (`dd`, `!pte`, `lm`).
pub fn windbg_address(value: u64, pointer_size: u32) -> String {
    if pointer_size == 4 && value <= u64::from(u32::MAX) {
        format!("{value:08x}")
    } else {
        format!("{:08x}`{:08x}", value >> 32, value & 0xffff_ffff)
    }
}

/// An address as the pool commands print it (`!pool`, `!poolfind`, `!frag`, `!vm`): 8 hex digits
/// on 32-bit targets, 16 without a separator on 64-bit.
pub fn pool_address(value: u64, pointer_size: u32) -> String {
    if pointer_size == 4 {
        format!("{value:08x}")
    } else {
        format!("{value:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryTarget, TargetInfo};

    #[test]
    fn numbers_in_windbg_forms() {
        assert_eq!(parse_number("10").unwrap(), 0x10);
        assert_eq!(parse_number("0x10").unwrap(), 0x10);
        assert_eq!(parse_number("0n10").unwrap(), 10);
        assert_eq!(
            parse_number("fffff800`02a00000").unwrap(),
            0xfffff800_02a00000
        );
        assert_eq!(parse_number(" DEADbeef ").unwrap(), 0xdead_beef);
        assert!(parse_number("0x").is_err());
        assert!(parse_number("0n1f").unwrap_err().0.contains("decimal"));
        assert!(parse_number("xyz").unwrap_err().0.contains("\"xyz\""));
        assert!(parse_number("+10").is_err(), "a sign is not a digit");
        let big = parse_number("1`0000000000000000").unwrap_err();
        assert!(big.0.contains("too large"), "{big}");
        assert!(
            parse_number("0n18446744073709551616")
                .unwrap_err()
                .0
                .contains("too large")
        );
        assert_eq!(parse_number("0n18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("1000").unwrap(), (0x1000, None));
        assert_eq!(parse_range("1000 L 8").unwrap(), (0x1000, Some(8)));
        assert_eq!(parse_range("1000 l8").unwrap(), (0x1000, Some(8)));
        assert_eq!(parse_range("0x1000 L?0n20").unwrap(), (0x1000, Some(20)));
        assert!(parse_range("").is_err());
        assert!(parse_range("1000 8").is_err());
        assert!(parse_range("1000 L 0").is_err());
        assert!(parse_range("1000 L").is_err());
    }

    fn target() -> MemoryTarget {
        MemoryTarget::new(TargetInfo {
            pointer_size: 8,
            ..Default::default()
        })
        .with_symbol("PoolTrackTable", 0x1000, crate::Source::EmbeddedProfile)
        .with_virtual(0x1000, &0xffff_8000_0000_2000u64.to_le_bytes())
    }

    #[test]
    fn expressions() {
        let t = target();
        assert_eq!(eval(&t, "10").unwrap(), 0x10);
        assert_eq!(eval(&t, "nt!PoolTrackTable").unwrap(), 0x1000);
        assert_eq!(eval(&t, "ntkrnlmp!PoolTrackTable+8").unwrap(), 0x1008);
        assert_eq!(eval(&t, "PoolTrackTable - 0n16").unwrap(), 0xff0);
        assert_eq!(
            eval(&t, "poi(nt!PoolTrackTable)").unwrap(),
            0xffff_8000_0000_2000
        );
        assert_eq!(
            eval(&t, "poi(nt!PoolTrackTable) + 10").unwrap(),
            0xffff_8000_0000_2010
        );
        assert_eq!(eval(&t, "(1+2)-(3)").unwrap(), 0);
        assert_eq!(eval(&t, "0-1").unwrap(), u64::MAX, "wraps as WinDbg does");
        assert!(matches!(eval(&t, "nt!NoSuch"), Err(ExprError::Usage(_))));
        assert!(matches!(eval(&t, "hal!Foo"), Err(ExprError::Usage(_))));
        assert!(matches!(eval(&t, "poi(5000)"), Err(ExprError::Read(e)) if e.address == 0x5000));
        assert!(matches!(eval(&t, "poi(1000"), Err(ExprError::Usage(_))));
        assert!(matches!(eval(&t, "1000 +"), Err(ExprError::Usage(_))));
        assert!(matches!(eval(&t, "1000 )"), Err(ExprError::Usage(_))));
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(matches!(eval(&t, &deep), Err(ExprError::Usage(_))));
        assert_eq!(
            eval_range(&t, "poi(nt!PoolTrackTable)+10 L 2").unwrap(),
            (0xffff_8000_0000_2010, Some(2))
        );
        assert_eq!(
            eval_range(&t, "nt!PoolTrackTable - 8").unwrap(),
            (0xff8, None)
        );
    }

    #[test]
    fn tag_patterns() {
        let p = TagPattern::parse("Ip*").unwrap();
        assert!(p.matches(*b"IpAB"));
        assert!(!p.matches(*b"ipAB"), "case-sensitive");
        let p = TagPattern::parse("?mDT").unwrap();
        assert!(p.matches(*b"MmDT"));
        assert!(!p.matches(*b"MmDx"));
        let p = TagPattern::parse("Mm").unwrap();
        assert!(p.matches(*b"Mm  "));
        assert!(!p.matches(*b"MmDT"));
        assert!(TagPattern::parse("*").unwrap().matches([1, 2, 3, 4]));
        let p = TagPattern::parse("0x636f7250").unwrap();
        assert!(p.matches(*b"Proc"));
        assert!(p.matches((0x636f_7250u32 | PROTECTED_TAG_BIT).to_le_bytes()));
        assert!(TagPattern::parse("Toolong").is_err());
        assert!(TagPattern::parse("0xzz").is_err());
        assert!(TagPattern::parse("").is_err());
        let p = TagPattern::parse("*c*").unwrap();
        assert!(p.matches(*b"Proc") && !p.matches(*b"Thre"));
    }

    #[test]
    fn addresses_as_windbg_prints_them() {
        assert_eq!(windbg_address(0x8054_5000, 4), "80545000");
        assert_eq!(windbg_address(0xfffff800_02a00000, 8), "fffff800`02a00000");
        assert_eq!(windbg_address(0x1000, 8), "00000000`00001000");
        assert_eq!(pool_address(0x1000, 8), "0000000000001000");
        assert_eq!(pool_address(0x8054_5000, 4), "80545000");
    }
}
