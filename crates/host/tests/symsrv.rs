//! Symbols on demand end to end: a testkit dump whose kernel's RSDS record names the real PDB
//! fixture of `crates/ntkernel/tests/fixtures/symsrv` (made with clang and lld-link), a symbol
//! server on 127.0.0.1 serving that PDB, and `pooldbg --symbols srv*CACHE*URL info`: the PDB lands in
//! the cache in the standard layout and is the symbol source; the second run, with the server gone,
//! uses the cache. No outside network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ntkernel::pdbfile::PdbFile;
use serde_json::Value;
use testdata::symserver::{Route, Server};
use testkit::{Container, KernelBuilder, WriteOptions, write_with_manifest};

fn pdb_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ntkernel/tests/fixtures/symsrv/ntkrnlmp.pdb")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pooldbg"))
        .args(args)
        .env_remove("POOLDBG_PLUGIN_PATH")
        .env_remove("_NT_SYMBOL_PATH")
        .output()
        .unwrap()
}

/// `pooldbg --format json --symbols SYMBOLS -z DUMP -c info`, its one JSON result.
fn info_with(symbols: &str, dump: &str) -> Value {
    info(&run(&[
        "--format",
        "json",
        "--symbols",
        symbols,
        "-z",
        dump,
        "-c",
        "info",
    ]))
}

fn info(o: &Output) -> Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_cli_downloads_the_kernel_pdb_then_uses_the_cache_offline() {
    let id = PdbFile::load(&pdb_fixture()).unwrap().pdb;
    // A Windows 10 x64 kernel whose RSDS record names the fixture PDB (no embedded profile has it).
    let mut p = *testkit::profile("win10-1809-x64").unwrap();
    p.pdb_name = "ntkrnlmp.pdb";
    p.pdb_guid = Box::leak(id.guid.clone().into_boxed_str());
    p.pdb_age = id.age;
    let p: &'static testkit::Profile = Box::leak(Box::new(p));
    let kernel = KernelBuilder::standard(p)
        .seed(1)
        .memory_mib(32)
        .build()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tmp")
        .join(format!("symsrv-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dump = dir.join("k.dmp");
    write_with_manifest(&kernel, Container::Full, &dump, &WriteOptions::default()).unwrap();
    let cache = dir.join("cache");

    let pdb = std::fs::read(pdb_fixture()).unwrap();
    let key = format!("/ntkrnlmp.pdb/{}/ntkrnlmp.pdb", id.store_key());
    let server = Server::start(HashMap::from([(key.clone(), Route::Body(pdb.clone()))])).unwrap();
    let spec = format!("srv*{}*{}", cache.display(), server.url());
    let d = dump.to_str().unwrap();
    let v = info_with(&spec, d);
    let stored = cache
        .join("ntkrnlmp.pdb")
        .join(id.store_key())
        .join("ntkrnlmp.pdb");
    assert_eq!(std::fs::read(&stored).unwrap(), pdb);
    assert_eq!(server.hits(), vec![format!("/symbols{key}")]);
    let row = &v["rows"][0];
    assert_eq!(row["pdb"]["guid"], id.guid.as_str());
    assert_eq!(
        row["symbol_source"],
        format!("PDB {}", stored.display()),
        "{}",
        v["sources"]
    );
    // The user's PDB is asked first (the toy PDB knows few types, so guessed layouts sit below it).
    assert_eq!(v["sources"]["symbols"], format!("PDB {}", stored.display()));

    // Second run: the server is gone; the cache answers with no network.
    let url = server.url();
    drop(server);
    let spec = format!("srv*{}*{url}", cache.display());
    let v = info_with(&spec, d);
    assert_eq!(
        v["rows"][0]["symbol_source"],
        format!("PDB {}", stored.display())
    );
    let notes = v["sources"]["notes"].to_string();
    assert!(!notes.contains("cannot reach"), "{notes}");

    // Without a srv* element nothing is downloaded: a plain folder that holds nothing.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let v = info_with(empty.to_str().unwrap(), d);
    assert_ne!(
        v["rows"][0]["symbol_source"],
        format!("PDB {}", stored.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
