//! Peer checks: independent tools read what testkit writes.
//!
//! A virtualenv under `target/peers/venv` (kept between runs) gets PyPI `volatility3` and
//! `kdmp-parser`. Then, for every x64 profile with real symbols:
//! - Volatility 3, offline, with `shared/data/isf` as its symbol directory, recognises the kernel of a
//!   full dump (`windows.info`: kernel base, DTB, the build's ISF) and `windows.bigpools` on a bitmap
//!   dump lists exactly the manifest's allocated big allocations;
//! - kdmp-parser reads the same physical pages from full, bitmap and RDMP dumps, and the same DTB.
//!
//! The test skips, printing why, only when Python or the package registry is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pooldbg_testkit::{
    Container, Kernel, KernelBuilder, PROFILES, WriteOptions, write_with_manifest,
};

fn peers_dir() -> PathBuf {
    testdata::workspace_root().join("target").join("peers")
}

/// The venv's bin folder, installing the peers on first use; `Err(reason)` to skip.
fn venv() -> Result<PathBuf, String> {
    let dir = peers_dir();
    let bin = dir.join("venv").join("bin");
    let ready = dir.join("venv").join(".testkit-ready");
    if ready.exists() {
        return Ok(bin);
    }
    let py = Command::new("python3")
        .arg("--version")
        .output()
        .map_err(|e| format!("python3 not found: {e}"))?;
    if !py.status.success() {
        return Err("python3 does not run".into());
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir.join("venv"))
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("python3 -m venv failed (no venv module?)".into());
    }
    let out = Command::new(bin.join("pip"))
        .args(["install", "-q", "volatility3", "kdmp-parser"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "pip install volatility3 kdmp-parser failed (registry unreachable?): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&ready, b"").map_err(|e| e.to_string())?;
    Ok(bin)
}

fn vol_json(bin: &Path, dump: &Path, plugin: &str) -> serde_json::Value {
    let isf = testdata::require("data/isf").expect("the ISF folder");
    let out = Command::new(bin.join("vol"))
        .args(["--offline", "-q", "-r", "json", "-s"])
        .arg(&isf)
        .arg("-f")
        .arg(dump)
        .arg(plugin)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('[').unwrap_or_else(|| {
        panic!(
            "{plugin} on {}: no JSON\nstdout: {text}\nstderr: {}",
            dump.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(&text[start..]).unwrap()
}

fn expected_page(k: &Kernel, pfn: u64) -> Vec<u8> {
    let mut page = k
        .memory
        .page(pfn)
        .map(|p| p.to_vec())
        .unwrap_or_else(|| vec![0; 4096]);
    for (pa, bytes) in &k.facts.kdbg_decoded {
        if pa / 4096 == pfn {
            let o = (pa % 4096) as usize;
            page[o..o + bytes.len()].copy_from_slice(bytes);
        }
    }
    page
}

#[test]
fn volatility_and_kdmp_parser_read_the_x64_fixtures() {
    if testdata::require("data/isf").is_none() {
        return;
    }
    let bin = match venv() {
        Ok(b) => b,
        Err(reason) => {
            testdata::skip(&reason);
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("testkit-peers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for p in PROFILES.iter().filter(|p| p.real_symbols) {
        let k = KernelBuilder::standard(p)
            .seed(9)
            .memory_mib(32)
            .build()
            .unwrap();
        let full = dir.join(format!("{}-full.dmp", p.name));
        let bmp = dir.join(format!("{}-bitmap.dmp", p.name));
        let o = WriteOptions::default();
        write_with_manifest(&k, Container::Full, &full, &o).unwrap();
        write_with_manifest(
            &k,
            Container::Bitmap {
                full: false,
                dump_type: 5,
            },
            &bmp,
            &o,
        )
        .unwrap();

        // windows.info: Volatility prints 48-bit addresses.
        let info = vol_json(&bin, &full, "windows.info");
        let get = |name: &str| -> String {
            info.as_array()
                .unwrap()
                .iter()
                .find(|r| r["Variable"] == name)
                .map(|r| r["Value"].as_str().unwrap_or_default().to_string())
                .unwrap_or_else(|| panic!("{}: windows.info has no {name}: {info}", p.name))
        };
        assert_eq!(
            get("Kernel Base"),
            format!("{:#x}", k.facts.kernel_base & 0xffff_ffff_ffff),
            "{}",
            p.name
        );
        assert_eq!(get("DTB"), format!("{:#x}", k.facts.dtb), "{}", p.name);
        assert!(get("Symbols").contains(p.pdb_guid), "{}", p.name);
        assert_eq!(get("Major/Minor"), format!("15.{}", p.build));

        // windows.bigpools lists exactly the allocated big allocations.
        let pools = vol_json(&bin, &bmp, "windows.bigpools");
        let mut got: Vec<(u64, String, u64, String)> = pools
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    // A pointer-typed Va prints as 48 bits (Win7), an integer one in full (8.1+).
                    r["Allocation"].as_u64().unwrap() & 0xffff_ffff_ffff,
                    r["Tag"].as_str().unwrap().to_string(),
                    r["NumberOfBytes"].as_u64().unwrap(),
                    r["PoolType"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut want: Vec<(u64, String, u64, String)> = k
            .manifest
            .big_allocations
            .iter()
            .filter(|b| b.state == "allocated")
            .map(|b| {
                (
                    b.address.0 & 0xffff_ffff_ffff,
                    b.tag.clone(),
                    b.size,
                    b.pool_type.clone(),
                )
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{}: windows.bigpools", p.name);

        // kdmp-parser: same DTB, same pages, in every container it reads.
        for c in [
            Container::Full,
            Container::Bitmap {
                full: false,
                dump_type: 5,
            },
            Container::Bitmap {
                full: true,
                dump_type: 6,
            },
            Container::Rdmp { dump_type: 8 },
            Container::Rdmp { dump_type: 0xa },
        ] {
            let path = dir.join(format!("{}-{}.dmp", p.name, c.slug()));
            write_with_manifest(&k, c, &path, &o).unwrap();
            let pfns: Vec<u64> = k.memory.stored().map(|(pfn, _)| pfn).collect();
            let list = dir.join("pfns.txt");
            let out_pages = dir.join("pages.bin");
            std::fs::write(
                &list,
                pfns.iter().map(|p| format!("{p}\n")).collect::<String>(),
            )
            .unwrap();
            let script = r#"
import sys, kdmp_parser
p = kdmp_parser.KernelDumpParser(sys.argv[1])
print(hex(p.directory_table_base))
with open(sys.argv[3], "wb") as out:
    for line in open(sys.argv[2]):
        page = p.read_physical_page(int(line) * 0x1000)
        out.write(bytes(page) if page is not None else b"\xee" * 0x1000)
"#;
            let res = Command::new(bin.join("python"))
                .arg("-c")
                .arg(script)
                .arg(&path)
                .arg(&list)
                .arg(&out_pages)
                .output()
                .unwrap();
            assert!(
                res.status.success(),
                "{} {}: kdmp-parser: {}",
                p.name,
                c.slug(),
                String::from_utf8_lossy(&res.stderr)
            );
            let dtb = String::from_utf8_lossy(&res.stdout).trim().to_string();
            assert_eq!(
                dtb,
                format!("{:#x}", k.facts.dtb),
                "{} {}",
                p.name,
                c.slug()
            );
            let got = std::fs::read(&out_pages).unwrap();
            for (i, pfn) in pfns.iter().enumerate() {
                assert_eq!(
                    &got[i * 4096..(i + 1) * 4096],
                    &expected_page(&k, *pfn)[..],
                    "{} {}: page {pfn:#x} through kdmp-parser",
                    p.name,
                    c.slug()
                );
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked, 7,
        "seven real x64 builds, three of them segment-heap"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
