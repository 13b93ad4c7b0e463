//! x86 (and pre-Windows 7 x64) layouts equal the committed PDB-derived facts of `tests/data/vol2_pool_facts.txt`

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! (Volatility 2 vtypes grouped by identical layout; docs/POOL_INTERNALS.md §1).

mod common;

use std::collections::HashMap;

use common::{Facts, check};
use pooldbg_poollayout::{Arch, Layout};

/// vol2 profile name → (arch, build).
fn profile_build(p: &str) -> (Arch, u32) {
    let arch = if p.contains("x64") {
        Arch::X64
    } else {
        Arch::X86
    };
    let build = match p {
        _ if p.starts_with("xp_") => 2600,
        _ if p.starts_with("win2003") => 3790,
        _ if p.starts_with("vista_sp0") => 6000,
        _ if p.starts_with("vista_sp1") => 6001,
        _ if p.starts_with("vista_sp2") => 6002,
        _ if p.starts_with("win7_sp0") => 7600,
        _ if p.starts_with("win7_sp1") => 7601,
        _ if p.starts_with("win8_sp0") => 9200,
        _ if p.starts_with("win8_sp1") || p.starts_with("win81") => 9600,
        _ if p.ends_with("1AC738FB") || p.ends_with("44B89EEA") => 10586,
        _ if p.ends_with("DD08DD42") || p.ends_with("9619274A") => 14393,
        _ if p.ends_with("_10240_17770") || p == "win10_x64" || p == "win10_x86" => 10240,
        _ => p
            .rsplit('_')
            .next()
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("unknown profile {p}")),
    };
    (arch, build)
}

type TypeFacts = (u64, HashMap<String, (u64, Option<(u32, u32)>)>);

#[derive(Default)]
struct ProfileFacts(HashMap<String, TypeFacts>);

impl Facts for ProfileFacts {
    fn size(&self, ty: &str) -> Option<u64> {
        self.0.get(ty).map(|t| t.0)
    }
    fn field(&self, ty: &str, field: &str) -> Option<(u64, Option<(u32, u32)>)> {
        self.0.get(ty)?.1.get(field).copied()
    }
}

fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn load() -> HashMap<String, ProfileFacts> {
    let text = include_str!("data/vol2_pool_facts.txt");
    let mut out: HashMap<String, ProfileFacts> = HashMap::new();
    let mut profiles: Vec<String> = Vec::new();
    let mut ty = String::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            None | Some("#") => {}
            Some("profiles") => profiles = w.map(String::from).collect(),
            Some("type") => {
                ty = w.next().unwrap().to_string();
                let size = parse_hex(w.next().unwrap());
                for p in &profiles {
                    out.entry(p.clone())
                        .or_default()
                        .0
                        .insert(ty.clone(), (size, HashMap::new()));
                }
            }
            Some(name) => {
                let off = parse_hex(w.next().unwrap());
                let bits = w.next().map(|b| {
                    let (p, l) = b.split_once(':').unwrap();
                    (p.parse().unwrap(), l.parse().unwrap())
                });
                for p in &profiles {
                    let t = out.get_mut(p).unwrap().0.get_mut(&ty).unwrap();
                    t.1.insert(name.to_string(), (off, bits));
                }
            }
        }
    }
    out
}

#[test]
fn vol2_profiles_match_the_layout_table() {
    let facts = load();
    assert!(facts.len() >= 45, "{} profiles", facts.len());
    let mut failures = Vec::new();
    let mut total = 0;
    let mut x86 = 0;
    for (profile, f) in &facts {
        let (arch, build) = profile_build(profile);
        let layout = Layout::for_build(arch, build).unwrap_or_else(|e| panic!("{profile}: {e}"));
        let c = check(&layout, f, true);
        assert!(c.checks >= 10, "{profile}: only {} checks", c.checks);
        total += c.checks;
        if arch == Arch::X86 {
            x86 += 1;
        }
        failures.extend(
            c.errors
                .iter()
                .map(|e| format!("{profile} -> {build} ({}): {e}", layout.family().name)),
        );
    }
    assert!(x86 >= 20);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 1000, "{total} checks");
}
