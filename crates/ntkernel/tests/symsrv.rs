//! Symbols on demand against a symbol server this test starts on 127.0.0.1 (no outside network):
//! the download into the cache in the standard layout, the next run from the cache with the server
//! gone, `file.ptr` (`PATH:` and `MSG:`), a compressed `.pd_` cabinet where the plain name is 404,
//! a 404 for everything, a server that answers 503 once (retried), a server that hangs (timeout),
//! and no server at all (offline).
//!
//! The fixture `fixtures/symsrv/ntkrnlmp.pdb` is a real PDB, made from `fixtures/symsrv/k.c` with
//! clang and lld-link (`clang --target=x86_64-pc-windows-msvc -c -g -gcodeview k.c -o k.obj`,
//! `lld-link /DEBUG /NOENTRY /DLL /NODEFAULTLIB k.obj /OUT:k.dll /PDB:ntkrnlmp.pdb
//! /PDBALTPATH:ntkrnlmp.pdb`); `k.dll` is the image of the same link, whose RSDS record names it.
//! The end-to-end tests map `k.dll` as the "kernel" and let [`Kernel::open`] find its PDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testdata::symserver::{Route, Server};

mod common;

use pooldbg_ntkernel::memory::SparseMemory;
use pooldbg_ntkernel::pdbfile::PdbFile;
use pooldbg_ntkernel::symbols::Source;
use pooldbg_ntkernel::symsrv::{self, FetchConfig, FetchError};
use pooldbg_ntkernel::target::ProgressHook;
use pooldbg_ntkernel::{Arch, DumpFacts, Kernel, PdbId, SymbolOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/symsrv")
        .join(name)
}

fn pdb_bytes() -> Vec<u8> {
    std::fs::read(fixture("ntkrnlmp.pdb")).unwrap()
}

fn pdb_id() -> PdbId {
    PdbFile::load(&fixture("ntkrnlmp.pdb")).unwrap().pdb
}

fn key_path(id: &PdbId, file: &str) -> String {
    format!("/{}/{}/{file}", id.name, id.store_key())
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ntkernel-symsrv-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn quick() -> FetchConfig {
    FetchConfig {
        timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        retries: 1,
        ..FetchConfig::default()
    }
}

/// `k.dll` mapped at `base`: the "kernel" whose RSDS names the fixture PDB.
fn kernel_memory(base: u64) -> SparseMemory {
    common::map_image(&fixture("k.dll"), base).0
}

const BASE: u64 = 0xfffff800_00000000;

fn open_kernel(symbols: &str, progress: Option<ProgressHook>) -> Kernel {
    let mem = kernel_memory(BASE);
    let facts = DumpFacts {
        arch: Some(Arch::X64),
        kernel_base: Some(BASE),
        ..Default::default()
    };
    let opts = SymbolOptions {
        paths: vec![PathBuf::from(symbols)],
        fetch: quick(),
        progress,
        ..Default::default()
    };
    Kernel::open(&mem, &facts, &opts).unwrap()
}

#[test]
fn the_kernel_pdb_is_downloaded_into_the_cache_then_used_from_it_with_the_server_gone() {
    let id = pdb_id();
    let cache = temp_dir("e2e");
    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pdb"),
        Route::Body(pdb_bytes()),
    )]))
    .unwrap();
    let spec = format!("srv*{}*{}", cache.display(), server.url());
    let seen = Arc::new(Mutex::new(Vec::<(u64, Option<u64>)>::new()));
    let s2 = Arc::clone(&seen);
    let hook = ProgressHook(Arc::new(
        move |_url: &str, done: u64, total: Option<u64>| {
            s2.lock().unwrap().push((done, total));
        },
    ));
    let k = open_kernel(&spec, Some(hook));
    assert_eq!(k.identity.pdb.as_ref(), Some(&id), "{:?}", k.identity.notes);
    let stored = symsrv::store_path(&cache, &id);
    assert_eq!(std::fs::read(&stored).unwrap(), pdb_bytes());
    assert_eq!(
        k.symbols.sources().next(),
        Some(Source::UserPdb(stored.clone())),
        "{:?}",
        k.symbol_notes
    );
    // The PDB's globals answer for the kernel.
    assert!(k.global_va("PoolTrackTableSize").is_some());
    assert!(
        k.symbol_notes.iter().any(|n| n.contains("downloaded from")),
        "{:?}",
        k.symbol_notes
    );
    assert_eq!(
        server.hits(),
        vec![format!("/symbols{}", key_path(&id, "ntkrnlmp.pdb"))]
    );
    let last = *seen.lock().unwrap().last().unwrap();
    let len = pdb_bytes().len() as u64;
    assert_eq!(last, (len, Some(len)), "progress reaches the total");
    // No temporary file is left beside the PDB.
    let left: Vec<_> = std::fs::read_dir(stored.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("ntkrnlmp.pdb")]);

    // The next run: the server is gone (its port refuses), the cache answers, nothing is asked.
    let url = server.url();
    drop(server);
    std::thread::sleep(Duration::from_millis(100));
    let k = open_kernel(&format!("srv*{}*{url}", cache.display()), None);
    assert_eq!(
        k.symbols.sources().next(),
        Some(Source::UserPdb(stored)),
        "{:?}",
        k.symbol_notes
    );
    assert!(
        !k.symbol_notes.iter().any(|n| n.contains("reach")),
        "{:?}",
        k.symbol_notes
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn without_a_srv_element_nothing_is_asked() {
    let id = pdb_id();
    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pdb"),
        Route::Body(pdb_bytes()),
    )]))
    .unwrap();
    let cache = temp_dir("nosrv");
    // A cache* element and a plain folder: local only.
    let k = open_kernel(
        &format!("cache*{};{}", cache.display(), cache.display()),
        None,
    );
    assert!(server.hits().is_empty());
    assert!(
        !k.symbols.sources().any(|s| matches!(s, Source::UserPdb(_))),
        "{:?}",
        k.symbol_notes
    );
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_compressed_pd_underscore_is_fetched_where_the_plain_name_is_404() {
    let id = pdb_id();
    // An MSZIP cabinet holding ntkrnlmp.pdb, as `makecab` stores a symbol server's files.
    let mut builder = cab::CabinetBuilder::new();
    builder
        .add_folder(cab::CompressionType::MsZip)
        .add_file("ntkrnlmp.pdb");
    let mut writer = builder.build(std::io::Cursor::new(Vec::new())).unwrap();
    while let Some(mut f) = writer.next_file().unwrap() {
        f.write_all(&pdb_bytes()).unwrap();
    }
    let cabinet = writer.finish().unwrap().into_inner();
    assert_ne!(cabinet, pdb_bytes());
    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pd_"),
        Route::Body(cabinet),
    )]))
    .unwrap();
    let cache = temp_dir("cab");
    let path = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap();
    assert_eq!(path, symsrv::store_path(&cache, &id));
    assert_eq!(std::fs::read(&path).unwrap(), pdb_bytes());
    assert_eq!(PdbFile::load(&path).unwrap().pdb, id);
    assert_eq!(
        server.hits(),
        vec![
            format!("/symbols{}", key_path(&id, "ntkrnlmp.pdb")),
            format!("/symbols{}", key_path(&id, "ntkrnlmp.pd_")),
        ]
    );
    // A .pd_ that is not a cabinet is refused by name, and nothing lands in the cache.
    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pd_"),
        Route::Body(b"MSCF but not really".to_vec()),
    )]))
    .unwrap();
    let cache = temp_dir("badcab");
    let e = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap_err();
    assert!(matches!(e, FetchError::Cabinet { .. }), "{e}");
    assert!(!symsrv::store_path(&cache, &id).exists());
}

#[test]
fn file_ptr_path_and_msg() {
    let id = pdb_id();
    let cache = temp_dir("ptr");
    let ptr = format!("PATH:{}\r\n", fixture("ntkrnlmp.pdb").display());
    let server = Server::start(HashMap::from([(
        key_path(&id, "file.ptr"),
        Route::Body(ptr.into_bytes()),
    )]))
    .unwrap();
    let path = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), pdb_bytes());
    assert_eq!(server.hits().len(), 3, "file, .pd_, file.ptr");

    let server = Server::start(HashMap::from([(
        key_path(&id, "file.ptr"),
        Route::Body(b"MSG: this file was withdrawn".to_vec()),
    )]))
    .unwrap();
    let cache = temp_dir("msg");
    let e = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap_err();
    match &e {
        FetchError::Message { message, .. } => assert_eq!(message, "this file was withdrawn"),
        other => panic!("{other}"),
    }
    assert!(!symsrv::store_path(&cache, &id).exists());

    let server = Server::start(HashMap::from([(
        key_path(&id, "file.ptr"),
        Route::Body(b"garbage".to_vec()),
    )]))
    .unwrap();
    let e = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap_err();
    assert!(matches!(e, FetchError::Pointer { .. }), "{e}");
}

#[test]
fn a_404_for_everything_is_not_found_and_a_503_is_retried() {
    let id = pdb_id();
    let server = Server::start(HashMap::new()).unwrap();
    let cache = temp_dir("404");
    let e = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap_err();
    assert!(matches!(e, FetchError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains(&id.store_key()), "{e}");
    // 404s are final: each of the three names asked once.
    assert_eq!(server.hits().len(), 3);
    assert!(!symsrv::store_path(&cache, &id).exists());

    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pdb"),
        Route::FailThen(Arc::new(AtomicU32::new(1)), pdb_bytes()),
    )]))
    .unwrap();
    let path = symsrv::fetch(&server.url(), &cache, &id, &quick(), None).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), pdb_bytes());
    assert_eq!(server.hits().len(), 2, "one 503, then the file");
}

#[test]
fn a_server_that_hangs_times_out() {
    let id = pdb_id();
    let server = Server::start(HashMap::from([(
        key_path(&id, "ntkrnlmp.pdb"),
        Route::Hang,
    )]))
    .unwrap();
    let cache = temp_dir("hang");
    let cfg = FetchConfig {
        timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(500),
        retries: 1,
        ..FetchConfig::default()
    };
    let t = Instant::now();
    let e = symsrv::fetch(&server.url(), &cache, &id, &cfg, None).unwrap_err();
    // A guard against hanging, not a speed measurement: two tries of 0.5 s each.
    assert!(t.elapsed() < Duration::from_secs(30));
    assert!(matches!(e, FetchError::Unreachable { .. }), "{e}");
    assert_eq!(server.hits().len(), 2, "retried once");
    assert!(!symsrv::store_path(&cache, &id).exists());
}

#[test]
fn offline_gives_a_clear_message_and_the_kernel_still_opens() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = temp_dir("offline");
    let k = open_kernel(
        &format!("srv*{}*http://127.0.0.1:{port}/symbols", cache.display()),
        None,
    );
    let note = k
        .symbol_notes
        .iter()
        .find(|n| n.contains("cannot reach the symbol server"))
        .unwrap_or_else(|| panic!("{:?}", k.symbol_notes));
    assert!(note.contains("offline?"), "{note}");
    assert!(!k.symbols.sources().any(|s| matches!(s, Source::UserPdb(_))));
    // The kernel is still identified (its PDB identity came from the image).
    assert_eq!(k.identity.pdb, Some(pdb_id()));
}
