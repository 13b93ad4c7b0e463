//! `pooldbg batch`: kd commands over many dumps, one JSON object per dump per command (JSON
//! Lines), with bounded memory whatever the number of dumps (CONTRACT.md "Additions": batch).
//!
//! Shape: the dumps are enumerated lazily (a folder is read entry by entry, a `@list.txt` line
//! by line) into a bounded queue; `--jobs N` worker threads each open one dump, run the
//! commands, and hand the dump's lines to the writer, which writes them at once, in one write
//! per dump (so an interrupted run leaves at most one partial line, which `--resume` drops).
//! Memory holds at most `2 × N` paths queued and `N` dumps open, never the list.
//!
//! The per-command object is exactly the CLI's `--format json` object ([`command_json`]), plus
//! `"dump": {"path", "build", "machine"?, "bugcheck_code"?}`. A dump that fails to open (or
//! whose analysis panics) gives one `{"dump": {"path"}, "error"}` object and the others go on.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use clap::Args;
use serde_json::{Map, Value, json};

use crate::cli::{Opener, Options};
use crate::dispatch::{Dispatcher, HostView, split_commands};
use crate::loader::PluginSet;
use crate::render::{Format, Renderer};

/// File extensions a folder's entries must have to be taken as dumps (case-insensitive): crash
/// dumps (`.dmp`), raw images (`.raw`, `.mem`, `.vmem`, `.img`, `.bin`, `.lime`) and ELF cores
/// (`.elf`, `.core`). A file named on the command line or in a list is taken whatever its name.
pub const DUMP_EXTENSIONS: &[&str] = &[
    "dmp", "raw", "mem", "vmem", "img", "bin", "lime", "elf", "core",
];

/// `pooldbg batch`'s arguments.
#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// Dumps: a file, a folder (its dump files, not recursive), a glob in the file name
    /// (`dumps/*.dmp`), or `@LIST` (a file naming one dump per line; `#` starts a comment).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// The kd commands to run on every dump, separated by `;`.
    #[arg(short = 'c', value_name = "COMMANDS", required = true)]
    pub commands: String,
    /// Dumps analysed at once (threads); 0: one per core.
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Write the JSON Lines here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE.jsonl")]
    pub output: Option<PathBuf>,
    /// Skip the dumps the output file already has (needs -o); the output is appended to.
    #[arg(long)]
    pub resume: bool,
}

/// Runs one kd command on `view` and returns the object the CLI prints for it with
/// `--format json` (`command`, `args`, `rows`, `summary`, `warnings`, `target`, `sources`,
/// `schema`, `error` on failure), and whether it succeeded. The binding and batch use this so
/// that their objects are the CLI's, byte for byte.
pub fn command_json(view: &dyn HostView, plugins: &PluginSet, command: &str) -> (Value, bool) {
    let cancel = AtomicBool::new(false);
    let dispatcher = Dispatcher::new(view, plugins, Some(&cancel));
    let (name, args) = crate::dispatch::split_name(command);
    let mut renderer = Renderer::new(
        Format::Json,
        Vec::new(),
        std::io::sink(),
        crate::cli::target_json(view),
        view.sources(),
    );
    let begun = renderer.begin(&name, &args);
    renderer.declare(&dispatcher.declared_columns(command));
    let result = dispatcher.run_into(command, &mut renderer);
    let ok = result.is_ok();
    let written = begun.and_then(|()| renderer.finish(&result));
    let (out, _) = renderer.into_inner();
    let parsed = written
        .map_err(|e| e.to_string())
        .and_then(|()| serde_json::from_slice::<Value>(&out).map_err(|e| e.to_string()));
    match parsed {
        Ok(v) => (v, ok),
        Err(e) => (
            json!({"command": name, "args": args, "error": format!("rendering the result failed: {e}")}),
            false,
        ),
    }
}

/// The `dump` object of a batch line: `path`, and when the dump tells them `build`, `machine`
/// (the computer name; no reader extracts it yet, so it is absent today) and `bugcheck_code`.
pub fn dump_identity(path: &Path, view: Option<&dyn HostView>) -> Value {
    let mut m = Map::new();
    m.insert("path".into(), json!(path.display().to_string()));
    if let Some(view) = view {
        let info = view.target().info();
        if info.build != 0 {
            m.insert("build".into(), json!(info.build));
        }
        let row = view.info_row();
        if let Some(code) = row.get("bugcheck_code").filter(|c| !c.is_null()) {
            m.insert("bugcheck_code".into(), code.clone());
        }
        if let Some(machine) = row.get("machine").filter(|c| !c.is_null()) {
            m.insert("machine".into(), machine.clone());
        }
    }
    Value::Object(m)
}

/// Opens `path` and runs `commands` on it: the batch lines of one dump (each ends with `\n`)
/// and whether every command succeeded. A panic while analysing is caught and recorded as the
/// dump's error, so one bad dump never stops the batch.
pub fn analyse_dump(
    path: &Path,
    commands: &[String],
    options: &Options,
    plugins: &PluginSet,
    open: &Opener<'_>,
) -> (String, bool) {
    let run = std::panic::AssertUnwindSafe(|| -> (String, bool) {
        let view = match open(path, options) {
            Ok(v) => v,
            Err(e) => return (error_line(path, &e), false),
        };
        let identity = dump_identity(path, Some(view.as_ref() as &dyn HostView));
        let mut out = String::new();
        let mut all_ok = true;
        for c in commands {
            let (mut v, ok) = command_json(view.as_ref(), plugins, c);
            all_ok &= ok;
            if let Value::Object(m) = &mut v {
                m.insert("dump".into(), identity.clone());
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        (out, all_ok)
    });
    match std::panic::catch_unwind(run) {
        Ok(r) => r,
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (
                error_line(path, &format!("internal error while analysing: {why}")),
                false,
            )
        }
    }
}

fn error_line(path: &Path, error: &str) -> String {
    let mut s = json!({"dump": {"path": path.display().to_string()}, "error": error}).to_string();
    s.push('\n');
    s
}

/// Does a folder entry look like a dump (by extension, [`DUMP_EXTENSIONS`])?
pub fn looks_like_dump(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DUMP_EXTENSIONS.iter().any(|d| e.eq_ignore_ascii_case(d)))
}

/// Sends every dump `spec` names to `send`, lazily; a spec that names nothing sends an `Err`
/// with the reason (recorded like a dump that fails to open). Returns `false` when the receiver
/// is gone.
fn enumerate(spec: &str, send: &mut dyn FnMut(Result<PathBuf, (PathBuf, String)>) -> bool) -> bool {
    if let Some(list) = spec.strip_prefix('@') {
        let file = match std::fs::File::open(list) {
            Ok(f) => f,
            Err(e) => return send(Err((PathBuf::from(spec), format!("{list}: {e}")))),
        };
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    return send(Err((
                        PathBuf::from(spec),
                        format!("{list}: line {}: {e}", n + 1),
                    )));
                }
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !send(Ok(PathBuf::from(line))) {
                return false;
            }
        }
        return true;
    }
    let path = Path::new(spec);
    if path.is_dir() {
        return folder(path, None, send);
    }
    if !path.exists() && spec.contains(['*', '?']) {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let pattern = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if dir.to_str().is_some_and(|d| d.contains(['*', '?'])) {
            return send(Err((
                path.to_path_buf(),
                "a wildcard is allowed in the file name only (dumps/*.dmp)".into(),
            )));
        }
        return folder(dir, Some(pattern), send);
    }
    send(Ok(path.to_path_buf()))
}

/// A folder's files, entry by entry (never listed whole): those matching `pattern` or, without
/// one, those with a dump extension.
fn folder(
    dir: &Path,
    pattern: Option<&str>,
    send: &mut dyn FnMut(Result<PathBuf, (PathBuf, String)>) -> bool,
) -> bool {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return send(Err((dir.to_path_buf(), format!("{}: {e}", dir.display())))),
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let p = entry.path();
        if !p.is_file() {
            continue;
        }
        let take = match pattern {
            Some(pat) => p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| glob_match(pat, n)),
            None => looks_like_dump(&p),
        };
        if take && !send(Ok(p)) {
            return false;
        }
    }
    true
}

/// `*` and `?` in a file name (case-sensitive, as the file system is on Linux).
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A short hash of a dump path, for `--resume`'s set of done dumps (8 bytes a dump, not the
/// path: a million dumps cost 8 MB plus the set's overhead).
fn path_key(path: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// Reads an existing output for `--resume`: the keys of the dumps it has, and the length of
/// its complete lines (a last line cut by an interrupted run is dropped).
fn done_dumps(file: &mut std::fs::File) -> std::io::Result<(HashSet<u64>, u64)> {
    let mut done = HashSet::new();
    let mut reader = BufReader::new(&mut *file);
    let mut good = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&line)
            && let Some(p) = v.pointer("/dump/path").and_then(Value::as_str)
        {
            done.insert(path_key(p));
        }
        good += n as u64;
    }
    Ok((done, good))
}

/// What the workers hand the writer.
struct Done {
    lines: String,
    ok: bool,
}

/// Runs `pooldbg batch`: returns the exit status (0 every dump analysed, 1 some failed, 2 usage).
pub fn run(args: &BatchArgs, options: &Options, open: &Opener<'_>) -> u8 {
    use crate::cli::exit;
    let commands: Vec<String> = split_commands(&args.commands)
        .into_iter()
        .filter(|c| !crate::cli::is_quit(c))
        .collect();
    if commands.is_empty() {
        eprintln!("error: -c needs at least one command");
        return exit::USAGE;
    }
    if args.resume && args.output.is_none() {
        eprintln!("error: --resume needs -o FILE (the output it resumes)");
        return exit::USAGE;
    }
    let jobs = if args.jobs == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        args.jobs
    };

    let mut done = HashSet::new();
    let mut out: Box<dyn Write + Send> = match &args.output {
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(path) => {
            let opened = if args.resume {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .and_then(|mut f| {
                        let (d, good) = done_dumps(&mut f)?;
                        done = d;
                        f.set_len(good)?;
                        f.seek(SeekFrom::Start(good))?;
                        Ok(f)
                    })
            } else {
                std::fs::File::create(path)
            };
            match opened {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return exit::FAILED;
                }
            }
        }
    };

    let plugins = PluginSet::discover_with(
        crate::loader::SearchPath::from_environment(&options.plugin_dir),
        options.allow_override,
    );
    let bar = (!options.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(100));
        b
    });

    let (path_tx, path_rx) = sync_channel::<Result<PathBuf, (PathBuf, String)>>(2 * jobs);
    let (done_tx, done_rx) = sync_channel::<Done>(2 * jobs);
    let path_rx = std::sync::Mutex::new(path_rx);
    let (mut analysed, mut failed, mut skipped, mut write_error) = (0u64, 0u64, 0u64, None);
    std::thread::scope(|scope| {
        let specs = &args.paths;
        let done = &done;
        let skipped = &mut skipped;
        scope.spawn(move || produce(specs, done, skipped, path_tx));
        for _ in 0..jobs {
            let done_tx = done_tx.clone();
            let path_rx = &path_rx;
            let commands = &commands;
            let plugins = &plugins;
            scope.spawn(move || work(path_rx, done_tx, commands, options, plugins, open));
        }
        drop(done_tx);
        for d in done_rx {
            analysed += 1;
            if !d.ok {
                failed += 1;
            }
            if write_error.is_none()
                && let Err(e) = out.write_all(d.lines.as_bytes()).and_then(|()| out.flush())
            {
                write_error = Some(e);
            }
            if let Some(b) = &bar {
                b.set_message(format!("{analysed} dumps, {failed} failed"));
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(e) = write_error {
        eprintln!("error: writing the output: {e}");
        return exit::FAILED;
    }
    if !options.quiet {
        let resumed = if skipped > 0 {
            format!(", {skipped} skipped (already in the output)")
        } else {
            String::new()
        };
        eprintln!("batch: {analysed} dumps analysed, {failed} failed{resumed}");
    }
    if failed > 0 { exit::FAILED } else { exit::OK }
}

fn produce(
    specs: &[String],
    done: &HashSet<u64>,
    skipped: &mut u64,
    tx: SyncSender<Result<PathBuf, (PathBuf, String)>>,
) {
    let mut send = |item: Result<PathBuf, (PathBuf, String)>| {
        let key = match &item {
            Ok(p) | Err((p, _)) => path_key(&p.display().to_string()),
        };
        if done.contains(&key) {
            *skipped += 1;
            return true;
        }
        tx.send(item).is_ok()
    };
    for spec in specs {
        if !enumerate(spec, &mut send) {
            return;
        }
    }
}

fn work(
    rx: &std::sync::Mutex<Receiver<Result<PathBuf, (PathBuf, String)>>>,
    tx: SyncSender<Done>,
    commands: &[String],
    options: &Options,
    plugins: &PluginSet,
    open: &Opener<'_>,
) {
    loop {
        let next = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        let Ok(item) = next else { return };
        let (lines, ok) = match item {
            Ok(path) => analyse_dump(&path, commands, options, plugins, open),
            Err((path, why)) => (error_line(&path, &why), false),
        };
        if tx.send(Done { lines, ok }).is_err() {
            return;
        }
    }
}

/// Reads a batch output back (for tests and tools): its JSON objects, skipping a cut last line.
pub fn read_lines(r: impl Read) -> Vec<Value> {
    BufReader::new(r)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_file_names() {
        assert!(glob_match("*.dmp", "a.dmp"));
        assert!(glob_match("mem?.dmp", "mem1.dmp"));
        assert!(!glob_match("mem?.dmp", "mem12.dmp"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("*.dmp", "a.json"));
        assert!(glob_match("a*b*c", "axxbyyc"));
    }

    #[test]
    fn folder_entries_are_taken_by_extension() {
        assert!(looks_like_dump(Path::new("x/MEMORY.DMP")));
        assert!(looks_like_dump(Path::new("x/a.raw")));
        assert!(!looks_like_dump(Path::new("x/a.json")));
        assert!(!looks_like_dump(Path::new("x/noext")));
    }

    #[test]
    fn a_list_file_streams_its_lines_and_skips_comments() {
        let dir = std::env::temp_dir().join(format!("pooldbg-batch-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = dir.join("l.txt");
        std::fs::write(&list, "a.dmp\n# comment\n\n  b.dmp  \n").unwrap();
        let mut got = Vec::new();
        let spec = format!("@{}", list.display());
        assert!(enumerate(&spec, &mut |p| {
            got.push(p.unwrap());
            true
        }));
        assert_eq!(got, vec![PathBuf::from("a.dmp"), PathBuf::from("b.dmp")]);
        let mut errs = Vec::new();
        enumerate("@/nonexistent/list.txt", &mut |p| {
            errs.push(p.unwrap_err().1);
            true
        });
        assert!(errs[0].contains("/nonexistent/list.txt"), "{errs:?}");
    }

    #[test]
    fn resume_reads_done_dumps_and_drops_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("pooldbg-batch-res-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("o.jsonl");
        let full = "{\"dump\":{\"path\":\"a.dmp\"},\"command\":\"info\"}\n";
        std::fs::write(&p, format!("{full}{{\"dump\":{{\"path\":\"b.d")).unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let (done, good) = done_dumps(&mut f).unwrap();
        assert_eq!(good, full.len() as u64);
        assert!(done.contains(&path_key("a.dmp")));
        assert!(!done.contains(&path_key("b.dmp")));
    }
}
