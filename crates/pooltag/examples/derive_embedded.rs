//! Derives the project's `crates/pooltag/data/pooltag.txt` from the real pooltag.txt copies in `../shared/data/pooltag`.
//!
//! Only facts are taken: a tag and the binary that owns it. Descriptions are never copied (the real
//! files are Microsoft-copyrighted text); every description in the output is empty.
//!
//! ```text
//! cargo run -p pooldbg-pooltag --example derive_embedded -- crates/pooltag/data/pooltag.txt
//! ```
//!
//! Rules: the files are read newest first (Windows SDK 10.0.25967, PoolMonXv2 2020, PoolMonX 2018,
//! Server 2003 Resource Kit). For each tag column, the owners come from the newest file that names at
//! least one owner other than `<unknown>`, in that file's order, each binary once; `<unknown>` owners
//! are dropped when a named owner exists. A tag that every copy lists only with `<unknown>` is kept as
//! one `Tag - <unknown> - ` line: the tag is a known one (a kernel object tag such as `Irp ` or `File`),
//! only its binary is not named, and calling it an unknown tag would mislead. Tags appear in the order
//! of the newest file that has them, then the tags only older files have, in their order (wildcard
//! order is kept, as lookups depend on it).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

const SOURCES: [(&str, &str); 4] = [
    (
        "windows-sdk-10.0.25967",
        "Windows SDK 10.0.25967.0, Debuggers/x64/triage/pooltag.txt",
    ),
    (
        "poolmonxv2-2020",
        "zodiacon/PoolMonXv2 PoolMonX/res/pooltag.txt @58bd4cc",
    ),
    (
        "poolmonx-2018",
        "zodiacon/PoolMonX res/pooltag.txt @2a89522",
    ),
    (
        "rktools-2003",
        "Windows Server 2003 Resource Kit pooltag.txt (kodybrown/rktools2k3 @ff264bd)",
    ),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_path = std::env::args_os().nth(1).map(PathBuf::from);
    let shared =
        testdata::shared_dir().ok_or("the shared folder is missing (set POOLDBG_SHARED)")?;
    // For each file: tag column (display form) -> known owners in file order; and the column order.
    let mut files = Vec::new();
    for (dir, _) in SOURCES {
        let path = shared.join("data/pooltag").join(dir).join("pooltag.txt");
        let parsed = pooldbg_pooltag::parse_bytes(&std::fs::read(&path)?);
        let mut owners: HashMap<String, Vec<String>> = HashMap::new();
        let mut order = Vec::new();
        for e in parsed.entries {
            let key = e.pattern.to_string();
            let list = owners.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                Vec::new()
            });
            if e.binary != "<unknown>" && !list.contains(&e.binary) {
                list.push(e.binary);
            }
        }
        files.push((owners, order));
    }
    let mut seen = HashSet::new();
    let mut body = String::new();
    let (mut tags, mut lines) = (0usize, 0usize);
    for (_, order) in &files {
        for key in order {
            if !seen.insert(key.clone()) {
                continue;
            }
            let unknown = vec!["<unknown>".to_string()];
            let list = files
                .iter()
                .filter_map(|(owners, _)| owners.get(key))
                .find(|l| !l.is_empty())
                .unwrap_or(&unknown);
            tags += 1;
            for binary in list {
                lines += 1;
                writeln!(body, "{key:<4} - {binary} - ")?;
            }
        }
    }
    let mut text = String::new();
    writeln!(text, "//")?;
    writeln!(
        text,
        "// pooldbg's own pooltag.txt: which binary owns a pool tag."
    )?;
    writeln!(text, "//")?;
    writeln!(
        text,
        "// Format: `Tag - binary - description`, as Debugging Tools for Windows reads it."
    )?;
    writeln!(text, "// Descriptions are left empty on purpose.")?;
    writeln!(text, "//")?;
    writeln!(
        text,
        "// Facts: {tags} tag columns, {lines} owner lines. Each is the owner column"
    )?;
    writeln!(
        text,
        "// (binary name only) of a public pooltag.txt copy, newest first:"
    )?;
    for (_, what) in SOURCES {
        writeln!(text, "//   {what}")?;
    }
    writeln!(
        text,
        "// <unknown> is kept only for tags no copy names an owner for. No description is copied."
    )?;
    writeln!(
        text,
        "// Regenerate: cargo run -p pooldbg-pooltag --example derive_embedded -- crates/pooltag/data/pooltag.txt"
    )?;
    writeln!(
        text,
        "// Rules: crates/pooltag/examples/derive_embedded.rs; see docs/POOLTAG.md."
    )?;
    writeln!(text, "//")?;
    writeln!(text)?;
    text.push_str(&body);
    // The output must read back with no warning and give the same facts.
    let back = pooldbg_pooltag::parse(&text);
    if !back.warnings.is_empty() || back.entries.len() != lines {
        return Err(format!("output does not read back: {:?}", back.warnings).into());
    }
    match out_path {
        Some(p) => std::fs::write(&p, text)?,
        None => print!("{text}"),
    }
    eprintln!("{tags} tags, {lines} lines");
    Ok(())
}
