//! Test helpers shared by the golden tests: a testkit kernel opened through the host's Session,
//! a command run, and golden files (`POOLDBG_BLESS=1` rewrites them).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use plugin_sdk::{CommandError, Output};
use pooldbg::session::{Session, SessionOptions};
use serde_json::{Value, json};
use testkit::{Container, Fault, Kernel, KernelBuilder, WriteOptions};

/// The standard testkit kernel of `profile` (with `faults`), written as a full dump and opened.
pub fn open(profile: &str, faults: &[Fault]) -> (Kernel, Session) {
    let p = testkit::profile(profile).expect("known profile");
    let mut b = KernelBuilder::standard(p);
    for f in faults {
        b = b.fault(*f);
    }
    let k = b.build().expect("build");
    let (bytes, _) =
        testkit::write_vec(&k, Container::Full, &WriteOptions::default()).expect("write");
    let dump = dumpfile::Dump::from_vec(bytes).expect("dump");
    let s = Session::from_dump(dump, &SessionOptions::default()).expect("session");
    (k, s)
}

/// A command's library function.
pub type CmdFn = fn(&dyn plugin_sdk::Target, &str, &mut Output) -> Result<(), CommandError>;

/// Runs `f` and returns its output.
pub fn run(f: CmdFn, s: &Session, args: &str) -> Result<Output, CommandError> {
    let mut out = Output::new();
    f(s, args, &mut out)?;
    Ok(out)
}

/// The text lines of an output (`summary.text`) followed by its warnings, as a host prints them.
pub fn text(out: &Output) -> String {
    out.render_text()
}

/// The JSON object a host prints (summary without `text`).
pub fn json_doc(command: &str, args: &str, out: &Output) -> String {
    let mut summary = out.summary().cloned().unwrap_or(Value::Null);
    if let Some(o) = summary.as_object_mut() {
        o.remove("text");
    }
    let doc = json!({
        "command": command,
        "args": args,
        "rows": out.rows(),
        "summary": summary,
        "warnings": out.warnings(),
    });
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

/// Compares `actual` with `tests/golden/<name>`; `POOLDBG_BLESS=1` writes it instead
/// (`testkit::golden`, the one helper every plugin's tests use).
pub fn golden(name: &str, actual: &str) {
    testkit::golden::check(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        name,
        actual,
    );
}

/// Every testkit profile.
pub fn profiles() -> Vec<&'static str> {
    testkit::PROFILES.iter().map(|p| p.name).collect()
}

/// Every classic-pool testkit profile.
pub fn classic_profiles() -> Vec<&'static str> {
    testkit::PROFILES
        .iter()
        .filter(|p| matches!(p.pool, testkit::profile::PoolModel::Classic))
        .map(|p| p.name)
        .collect()
}
