//! The checked-in C header must describe exactly the Rust types: this test writes a C file that
//! `_Static_assert`s every size, field offset and constant of `include/pooldbg_plugin.h` against the
//! numbers Rust computes (`size_of`, `offset_of!`), and compiles it with the system C compiler.
//! Any drift (a field moved, added on one side only, a constant changed) fails the compile.
// Test helpers fail loudly: unwrap is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::mem::{offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use pooldbg_plugin_abi::*;

/// `(C expression, value Rust says it must have)`.
fn facts() -> Vec<(String, u64)> {
    let mut f: Vec<(String, u64)> = Vec::new();
    macro_rules! layout {
        ($rust:ident => $c:literal { $($field:ident),* $(,)? }) => {
            f.push((format!("sizeof({})", $c), size_of::<$rust>() as u64));
            f.push((format!("_Alignof({})", $c), std::mem::align_of::<$rust>() as u64));
            $( f.push((format!("offsetof({}, {})", $c, stringify!($field)), offset_of!($rust, $field) as u64)); )*
        };
    }
    layout!(Str => "PooldbgStr" { ptr, len });
    layout!(CommandDescriptor => "PooldbgCommandDescriptor" { name, summary, usage, columns });
    layout!(PluginDescriptor => "PooldbgPluginDescriptor" {
        abi_version, struct_size, command_count, command_size, name, version, commands, run
    });
    layout!(ReadRequest => "PooldbgReadRequest" {
        address, buffer, length, bytes_read, status, pagefile_number, pagefile_offset, fault_address
    });
    layout!(Lookup => "PooldbgLookup" { value, source, bit_position, bit_length, reserved });
    layout!(TargetInfo => "PooldbgTargetInfo" {
        struct_size, arch, build, pointer_size, processors, reserved, kernel_base, version, dump_type
    });
    layout!(TagInfo => "PooldbgTagInfo" { binary, description, source });
    layout!(HostApi => "PooldbgHostApi" {
        struct_size, abi_version, read_physical, read_virtual, symbol_address, type_size,
        field_offset, target_info, pool_tag, log, is_cancelled, emit_row, set_summary,
        add_warning, set_error, progress, find_tag_in_images, emit_text, json_string,
        present_pages
    });
    layout!(PageRun => "PooldbgPageRun" { va, len });
    layout!(PageCounts => "PooldbgPageCounts" {
        valid, transition, large, paged_out, demand_zero, prototype, absent, table_not_in_dump, bad
    });
    layout!(ImageHit => "PooldbgImageHit" { module, hits });
    macro_rules! constants {
        ($($rust:ident),* $(,)?) => {
            $( f.push((format!("POOLDBG_{}", stringify!($rust)), u64::from($rust))); )*
        };
    }
    constants!(
        ABI_VERSION,
        STATUS_OK,
        STATUS_ERROR,
        STATUS_NOT_FOUND,
        STATUS_CANCELLED,
        STATUS_INVALID_ARGUMENT,
        STATUS_INVALID_JSON,
        STATUS_UNSUPPORTED,
        READ_OK,
        READ_NOT_IN_DUMP,
        READ_NOT_MAPPED,
        READ_PAGED_OUT,
        READ_ERROR,
        SOURCE_NONE,
        SOURCE_USER_SYMBOLS,
        SOURCE_EMBEDDED_PROFILE,
        SOURCE_KDBG,
        SOURCE_GUESSED,
        SOURCE_FOUND,
        ARCH_UNKNOWN,
        ARCH_X86,
        ARCH_X86_PAE,
        ARCH_X64,
        ARCH_ARM64,
        LOG_ERROR,
        LOG_WARN,
        LOG_INFO,
        LOG_DEBUG,
        HOST_API_V1_SIZE,
    );
    f
}

fn c_source(facts: &[(String, u64)]) -> String {
    let mut s = String::from("#include <stddef.h>\n#include \"pooldbg_plugin.h\"\n");
    for (expr, value) in facts {
        writeln!(
            s,
            "_Static_assert(({expr}) == {value}ull, \"{} must be {value} as in plugin-abi\");",
            expr.replace('"', "'")
        )
        .unwrap();
    }
    // The entry point's name and its type.
    writeln!(
        s,
        "_Static_assert(sizeof(POOLDBG_ENTRY_POINT) == {}, \"entry point name length\");",
        ENTRY_POINT.len() + 1
    )
    .unwrap();
    s.push_str("const PooldbgPluginDescriptor *pooldbg_plugin_v1(void);\n");
    s.push_str("static PooldbgEntryFn check_entry_type = pooldbg_plugin_v1;\n");
    s.push_str("int use_it(void) { return check_entry_type != 0; }\n");
    // Both string macros, in an expression and in a static initializer.
    s.push_str("static const PooldbgStr in_table[] = {POOLDBG_STR_INIT(\"ab\")};\n");
    s.push_str("size_t lengths(void) { return in_table[0].len + POOLDBG_STR(\"abc\").len; }\n");
    s
}

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugin-abi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `source` against `include` with `cc -fsyntax-only`; returns the compiler's stderr on
/// failure.
fn compile(source: &str, include: &Path, tag: &str) -> Result<(), String> {
    let dir = scratch(tag);
    let file = dir.join("check.c");
    std::fs::write(&file, source).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(include)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn header_matches_the_rust_types() {
    let facts = facts();
    assert!(facts.len() > 80, "too few facts checked: {}", facts.len());
    if let Err(e) = compile(&c_source(&facts), &include_dir(), "ok") {
        panic!("include/pooldbg_plugin.h does not match plugin-abi:\n{e}");
    }
}

/// The check above must be able to fail: a header with one field moved is caught.
#[test]
fn a_drifted_header_is_caught() {
    let header = std::fs::read_to_string(include_dir().join("pooldbg_plugin.h")).unwrap();
    let drifted = header.replacen(
        "    PooldbgReadFn read_physical;\n    PooldbgReadFn read_virtual;\n",
        "    PooldbgReadFn read_virtual;\n    PooldbgReadFn read_physical;\n",
        1,
    );
    assert_ne!(
        header, drifted,
        "the header's layout changed: update this test"
    );
    let dir = scratch("drift-include");
    std::fs::write(dir.join("pooldbg_plugin.h"), drifted).unwrap();
    let result = compile(&c_source(&facts()), &dir, "drift");
    let _ = std::fs::remove_dir_all(&dir);
    let err = result.expect_err("a header with two fields swapped compiled");
    assert!(err.contains("read_physical"), "{err}");

    // And a changed constant.
    let changed = header.replacen(
        "#define POOLDBG_READ_PAGED_OUT 3u",
        "#define POOLDBG_READ_PAGED_OUT 7u",
        1,
    );
    assert_ne!(header, changed);
    let dir = scratch("const-include");
    std::fs::write(dir.join("pooldbg_plugin.h"), changed).unwrap();
    let result = compile(&c_source(&facts()), &dir, "const");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.is_err(), "a header with a wrong constant compiled");
}

/// C++ plugins include the same header (its `extern "C"` block and plain typedefs).
#[test]
fn header_compiles_as_cpp() {
    let dir = scratch("cpp");
    let file = dir.join("check.cpp");
    std::fs::write(
        &file,
        "#include \"pooldbg_plugin.h\"\n\
         static_assert(sizeof(PooldbgHostApi) > 0, \"\");\n\
         extern \"C\" const PooldbgPluginDescriptor *pooldbg_plugin_v1(void) { return nullptr; }\n",
    )
    .unwrap();
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let out = Command::new(&cxx)
        .args([
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(include_dir())
        .arg(&file)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        // A machine with a C compiler but no C++ one (the Rust toolchain only needs `cc`).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            testdata::skip(&format!("no C++ compiler `{cxx}`"));
        }
        Err(e) => panic!("cannot run `{cxx}`: {e}"),
    }
}
