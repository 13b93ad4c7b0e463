//! WinDbg's number forms and address ranges: hexadecimal by default, with or without `0x`,
//! `0n` for decimal, and the backtick separator of 64-bit addresses (`fffff800`02a00000`).

/// Parses one number as WinDbg does: hexadecimal unless prefixed `0n` (decimal); `0x` accepted;
/// backticks ignored. Errors name the text.
pub fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let cleaned: String = t.chars().filter(|&c| c != '`').collect();
    let (digits, radix) = if let Some(d) = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
    {
        (d, 16)
    } else if let Some(d) = cleaned
        .strip_prefix("0n")
        .or_else(|| cleaned.strip_prefix("0N"))
    {
        (d, 10)
    } else {
        (cleaned.as_str(), 16)
    };
    if digits.is_empty() {
        return Err(format!("{t:?} is not a number"));
    }
    u64::from_str_radix(digits, radix).map_err(|e| {
        let kind = if radix == 16 {
            "hexadecimal"
        } else {
            "decimal"
        };
        format!("{t:?} is not a {kind} number ({e})")
    })
}

/// `ADDR [L COUNT]` (also `L?COUNT`, `LCOUNT`): the start and the count of elements, `None` when
/// no count was given.
pub fn parse_range(args: &str) -> Result<(u64, Option<u64>), String> {
    let args = args.trim();
    if args.is_empty() {
        return Err("an address is required".into());
    }
    // The address ends at the first blank, or where an `L` follows it.
    let (addr_text, rest) = match args.find(char::is_whitespace) {
        Some(i) => (&args[..i], args[i..].trim_start()),
        None => (args, ""),
    };
    let address = parse_number(addr_text)?;
    if rest.is_empty() {
        return Ok((address, None));
    }
    let Some(count_text) = rest.strip_prefix(['L', 'l']) else {
        return Err(format!(
            "expected `L COUNT` after the address, found {rest:?}"
        ));
    };
    let count_text = count_text.strip_prefix('?').unwrap_or(count_text);
    let count = parse_number(count_text)?;
    if count == 0 {
        return Err("the count must be at least 1".into());
    }
    Ok((address, Some(count)))
}

/// An address as WinDbg prints it: 8 hex digits on 32-bit targets, `xxxxxxxx`xxxxxxxx` on 64-bit.
pub fn windbg_address(value: u64, pointer_size: u32) -> String {
    if pointer_size == 4 && value <= u64::from(u32::MAX) {
        format!("{value:08x}")
    } else {
        format!("{:08x}`{:08x}", value >> 32, value & 0xffff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_number("xyz").unwrap_err().contains("\"xyz\""));
        assert!(parse_number("1_0000000000000000").is_err());
        assert!(parse_number("10000000000000000").is_err());
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
    }

    #[test]
    fn addresses_as_windbg_prints_them() {
        assert_eq!(windbg_address(0x8054_5000, 4), "80545000");
        assert_eq!(windbg_address(0xfffff800_02a00000, 8), "fffff800`02a00000");
        assert_eq!(windbg_address(0x1000, 8), "00000000`00001000");
    }
}
