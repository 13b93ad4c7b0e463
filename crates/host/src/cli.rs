//! The command line: kd-style `-z DUMP -c "A; B"`, subcommands mapped onto kd commands, the
//! interactive `kd>` prompt, exit statuses (CONTRACT.md "Command line").

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::dispatch::{Dispatcher, HostView, command_names, split_commands};
use crate::loader::{PluginSet, SearchPath};
use crate::outcome::{CommandResult, Sink as _};
use crate::progress::CommandProgress;
use crate::render::{Format, Renderer};

/// The examples and notes after the options of `--help`, one per line.
const AFTER_HELP: &str = "\
Examples:
  pooldbg -z DUMP -c \"info; !vm; !poolused 2\"    run kd commands, print, exit
  pooldbg -z DUMP -c \"!poolused 2; q\"           a trailing q, qq or .quit is accepted
  pooldbg -z DUMP                                 an interactive kd> prompt (on a terminal)
  pooldbg poolused DUMP --sort paged --tag 'Ip*'  the same as -c \"!poolused 4 Ip*\"
  pooldbg batch dumps/ @more.txt -c \"info; !vm; !poolused 2\" -j 2 -o out.jsonl --resume

Pool-tag descriptions, first match wins:
  1. --pooltag FILE (repeatable, earlier first)
  2. POOLDBG_POOLTAG (a path list)
  3. a WinDbg install's pooltag.txt: beside the folders of _NT_DEBUGGER_EXTENSION_PATH
     (DIR, DIR/triage, DIR/../triage), then on Windows the Debugging Tools folders
     (Windows Kits\\10\\Debuggers\\<arch>\\triage\\pooltag.txt and older layouts)
  4. the embedded database (tags and owning drivers)
  Add your own tags by writing a pooltag.txt (WinDbg's format: TAG - BINARY - DESCRIPTION)
  and giving it with --pooltag: it sits above the rest.";

/// Answers WinDbg's pool questions (!vm, !poolused, !pool, !frag) from Windows crash dumps,
/// offline.
#[derive(Debug, Parser)]
#[command(name = "pooldbg", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The dump (crash dump, raw or ELF memory image).
    #[arg(short = 'z', value_name = "DUMP")]
    pub z: Option<PathBuf>,
    /// The dump, when -z is not used.
    #[arg(value_name = "DUMP")]
    pub dump: Option<PathBuf>,
    /// Commands to run, separated by `;` (e.g. "info; !vm; db fffff800`02a00000 L 20").
    #[arg(short = 'c', value_name = "COMMANDS")]
    pub commands: Option<String>,
    /// Shared options.
    #[command(flatten)]
    pub options: Options,
    /// A subcommand.
    #[command(subcommand)]
    pub sub: Option<Sub>,
}

/// Options valid before or after a subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct Options {
    /// Output format.
    #[arg(long, value_enum, default_value_t, global = true)]
    pub format: Format,
    /// Symbols: a Volatility symbol root, an ntkrnlmp.pdb folder, an ISF .json/.json.xz file, a
    /// .pdb file, a local symbol store, or WinDbg's symbol path (`srv*CACHE*URL`, `srv*URL`,
    /// `cache*DIR`, `;` between elements: the kernel's PDB is downloaded only with a `srv*`
    /// element) (repeatable).
    #[arg(long, value_name = "PATH", global = true)]
    pub symbols: Vec<PathBuf>,
    /// A pooltag.txt file laid over the embedded tag database (repeatable; earlier wins).
    #[arg(long, value_name = "FILE", global = true)]
    pub pooltag: Vec<PathBuf>,
    /// Also look for plugins in DIR (repeatable; searched first, earlier wins on a duplicate).
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dir: Vec<PathBuf>,
    /// Let a plugin from --plugin-dir or POOLDBG_PLUGIN_PATH replace a command shipped with
    /// pooldbg (refused by default, naming both files).
    #[arg(long = "allow-override", global = true)]
    pub allow_override: bool,
    /// No progress bars.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
    /// Text: print every note opening the dump made (how the kernel and symbols were found),
    /// not only those that change the answers. JSON has them in `sources.notes`.
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
}

/// `!poolused`'s sort orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    /// By nonpaged bytes (flag 2).
    Nonpaged,
    /// By paged bytes (flag 4).
    Paged,
}

/// Subcommands: each one is a kd command line.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// `info`: what the dump holds.
    Info {
        /// The dump.
        dump: PathBuf,
    },
    /// `lm`: loaded modules.
    Lm {
        /// The dump.
        dump: PathBuf,
    },
    /// `!vm [FLAGS]`: virtual memory figures.
    Vm {
        /// The dump.
        dump: PathBuf,
        /// Passed to !vm as typed.
        args: Vec<String>,
    },
    /// `!poolused [FLAGS] [TAG]`: pool use by tag.
    Poolused {
        /// The dump.
        dump: PathBuf,
        /// Sort by nonpaged (flag 2) or paged (flag 4) bytes.
        #[arg(long, value_enum)]
        sort: Option<Sort>,
        /// Only tags matching this pattern (`*` and `?` wildcards).
        #[arg(long, value_name = "PATTERN")]
        tag: Option<String>,
        /// Show allocation and free counts too (flag 1).
        #[arg(long)]
        verbose: bool,
        /// Passed to !poolused as typed, after the flags above.
        args: Vec<String>,
    },
    /// `!pool ADDR [FLAGS]`: the pool page or region around an address.
    Pool {
        /// The dump.
        dump: PathBuf,
        /// Address and flags, as kd takes them.
        #[arg(required = true)]
        args: Vec<String>,
    },
    /// `!frag [FLAGS]`: pool fragmentation.
    Frag {
        /// The dump.
        dump: PathBuf,
        /// Passed to !frag as typed.
        args: Vec<String>,
    },
    /// `!poolfind TAG [POOLTYPE]`: allocations with a tag.
    Poolfind {
        /// The dump.
        dump: PathBuf,
        /// Tag and pool type, as kd takes them.
        #[arg(required = true)]
        args: Vec<String>,
    },
    /// List the plugins found, with their commands, and the files rejected with the reason.
    Plugins,
    /// Run kd commands over many dumps: one JSON object per dump per command (JSON Lines).
    Batch(crate::batch::BatchArgs),
    /// `diff OLD NEW [MORE…]`: the change in pool use per tag (or driver) and pool type between
    /// dumps of one machine, sorted by growth; a trend per key with three or more dumps.
    Diff {
        /// The dumps, oldest first.
        #[arg(required = true, num_args = 2..)]
        dumps: Vec<PathBuf>,
        /// Key rows by tag (default) or by owning driver.
        #[arg(long, value_enum, default_value_t)]
        by: DiffBy,
    },
    /// `report DUMP [OLD_DUMP] -o FILE.html`: one self-contained HTML page (gauges, top tags and
    /// drivers, fragmentation, pool map, warnings, sources; growth with an older dump).
    Report {
        /// The dump.
        dump: PathBuf,
        /// An older dump of the same machine (adds the growth charts).
        old: Option<PathBuf>,
        /// The HTML file to write.
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FILE.html",
            required = true
        )]
        output: PathBuf,
    },
}

/// `diff --by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DiffBy {
    /// Pool tags.
    #[default]
    Tag,
    /// Owning drivers (pooltag owners, then driver images holding unknown tags).
    Driver,
}

impl Sub {
    /// The dump and the kd command line a subcommand stands for (`None` for `plugins`).
    pub fn kd_command(&self) -> Option<(PathBuf, String)> {
        let with = |name: &str, args: &[String]| {
            if args.is_empty() {
                name.to_string()
            } else {
                format!("{name} {}", args.join(" "))
            }
        };
        Some(match self {
            Sub::Info { dump } => (dump.clone(), "info".into()),
            Sub::Lm { dump } => (dump.clone(), "lm".into()),
            Sub::Vm { dump, args } => (dump.clone(), with("!vm", args)),
            Sub::Poolused {
                dump,
                sort,
                tag,
                verbose,
                args,
            } => {
                let mut flags = match sort {
                    Some(Sort::Nonpaged) => 2,
                    Some(Sort::Paged) => 4,
                    None => 0,
                };
                if *verbose {
                    flags |= 1;
                }
                let mut parts: Vec<String> = Vec::new();
                if flags != 0 || tag.is_some() {
                    parts.push(flags.to_string());
                }
                if let Some(t) = tag {
                    parts.push(t.clone());
                }
                parts.extend(args.iter().cloned());
                (dump.clone(), with("!poolused", &parts))
            }
            Sub::Pool { dump, args } => (dump.clone(), with("!pool", args)),
            Sub::Frag { dump, args } => (dump.clone(), with("!frag", args)),
            Sub::Poolfind { dump, args } => (dump.clone(), with("!poolfind", args)),
            Sub::Plugins | Sub::Batch(_) | Sub::Diff { .. } | Sub::Report { .. } => return None,
        })
    }
}

/// How commands reach `run`: the dump opened by the binary's opener.
pub type Opener<'a> =
    dyn Fn(&std::path::Path, &Options) -> Result<Box<dyn HostView + Sync>, String> + Sync + 'a;

/// Exit statuses (CONTRACT.md).
pub mod exit {
    /// Every command succeeded.
    pub const OK: u8 = 0;
    /// A command failed (or the dump could not be opened).
    pub const FAILED: u8 = 1;
    /// Usage error.
    pub const USAGE: u8 = 2;
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\nFor more information, try '--help'.");
    ExitCode::from(exit::USAGE)
}

/// Parses `args` and runs them; `open` opens a dump.
pub fn main_with(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    open: &Opener<'_>,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print and succeed; every other parse error is a usage error.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let options = cli.options.clone();
    let (dump, commands, echo) = match &cli.sub {
        Some(Sub::Plugins) => {
            let set = PluginSet::discover_with(
                SearchPath::from_environment(&options.plugin_dir),
                options.allow_override,
            );
            if options.format.is_machine() {
                // JSON (and JSON Lines, CSV: one JSON document) for scripts.
                println!("{}", set.to_json());
            } else {
                print!("{}", set.render());
            }
            return ExitCode::SUCCESS;
        }
        Some(Sub::Batch(_)) if cli.z.is_some() || cli.dump.is_some() || cli.commands.is_some() => {
            return usage_error(
                "batch takes its dumps and -c after its name: pooldbg batch DUMPS -c \"COMMANDS\"",
            );
        }
        Some(Sub::Batch(args)) => {
            return ExitCode::from(crate::batch::run(args, &options, open));
        }
        Some(sub @ (Sub::Diff { .. } | Sub::Report { .. }))
            if cli.z.is_none() && cli.dump.is_none() && cli.commands.is_none() =>
        {
            return crate::multi::run_sub(sub, open, &options);
        }
        Some(_) if cli.z.is_some() || cli.dump.is_some() || cli.commands.is_some() => {
            return usage_error("a subcommand takes the dump after its name: pooldbg info DUMP");
        }
        Some(sub) => match sub.kd_command() {
            Some((dump, cmd)) => (dump, Some(vec![cmd]), false),
            None => return usage_error("unknown subcommand"),
        },
        None => {
            let dump = match (&cli.z, &cli.dump) {
                (Some(_), Some(_)) => return usage_error("give the dump once: -z DUMP or DUMP"),
                (Some(d), None) | (None, Some(d)) => d.clone(),
                (None, None) => {
                    return usage_error("a dump is required: pooldbg -z DUMP -c \"COMMANDS\"");
                }
            };
            let commands = cli.commands.as_deref().map(split_commands);
            if commands.as_ref().is_some_and(Vec::is_empty) {
                return usage_error("-c needs at least one command");
            }
            let echo = commands.as_ref().is_some_and(|c| c.len() > 1);
            (dump, commands, echo)
        }
    };

    let view = match open(&dump, &options) {
        Ok(v) => v,
        Err(e) => {
            // Name the dump once: an I/O error already starts with its path.
            let path = dump.display().to_string();
            if e.starts_with(&path) {
                eprintln!("error: {e}");
            } else {
                eprintln!("error: {path}: {e}");
            }
            return ExitCode::from(exit::FAILED);
        }
    };
    let plugins = PluginSet::discover_with(
        SearchPath::from_environment(&options.plugin_dir),
        options.allow_override,
    );
    crate::crashguard::set_json_stdout(matches!(options.format, Format::Json | Format::Jsonl));
    let cancel = view.cancel_flag();
    let header = (!view.symbols_exact()).then(|| format!("symbols: {}", view.symbol_source()));
    // A terminal sees each line as it is written; a pipe or file gets them in blocks (stdout
    // alone flushes every line: a million-line `db` would be a million writes).
    let out: Box<dyn Write + Send> = if std::io::stdout().is_terminal() {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        ))
    };
    let mut renderer = Renderer::new(
        options.format,
        out,
        std::io::stderr(),
        target_json(view.as_ref()),
        view.sources(),
    )
    .with_header(header)
    .with_notes(&if options.verbose {
        let notices = view.notices();
        let rest: Vec<String> = view
            .notes()
            .into_iter()
            .filter(|n| !notices.contains(n))
            .collect();
        [notices, rest].concat()
    } else {
        view.notices()
    });
    let progress =
        !options.quiet && !options.format.is_machine() && std::io::stderr().is_terminal();
    let dispatcher = Dispatcher::new(view.as_ref(), &plugins, Some(&cancel));
    let run_one = |renderer: &mut Renderer<_, _>, cmd: &str| -> bool {
        cancel.store(false, Ordering::Relaxed);
        let (name, args) = crate::dispatch::split_name(cmd);
        let name = if name == "?" {
            ".help".to_string()
        } else {
            name
        };
        // Rows and lines are written as the command makes them (issue #21): the renderer is the
        // command's sink, and the result keeps only what is left (summary, warnings, error).
        let begun = renderer.begin(&name, &args);
        renderer.declare(&dispatcher.declared_columns(cmd));
        let result = {
            let _progress = progress.then(|| CommandProgress::start(cmd));
            if let Some(r) = crate::multi::run_dot(cmd, view.as_ref(), open, &options, &plugins) {
                r
            } else {
                let mut sink = Streaming {
                    renderer: &mut *renderer,
                    progress,
                    quiet_sent: false,
                };
                dispatcher.run_into(cmd, &mut sink)
            }
        };
        let ok = result.is_ok();
        if begun.and_then(|()| renderer.finish(&result)).is_err() {
            // stdout closed (a pipe into `head`): stop quietly.
            std::process::exit(i32::from(if ok { exit::OK } else { exit::FAILED }));
        }
        ok
    };

    if let Some(commands) = commands {
        let mut renderer = renderer.with_echo(echo);
        let mut all_ok = true;
        for c in &commands {
            // kd scripts end with `q`: stop there, as kd does.
            if is_quit(c) {
                break;
            }
            all_ok &= run_one(&mut renderer, c);
        }
        return ExitCode::from(if all_ok { exit::OK } else { exit::FAILED });
    }

    if !std::io::stdin().is_terminal() {
        // Commands piped in, one line at a time (each may hold several `;`-separated commands).
        let mut renderer = renderer.with_echo(true);
        let mut all_ok = true;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            for c in split_commands(&line) {
                if is_quit(&c) {
                    return ExitCode::from(if all_ok { exit::OK } else { exit::FAILED });
                }
                all_ok &= run_one(&mut renderer, &c);
            }
        }
        return ExitCode::from(if all_ok { exit::OK } else { exit::FAILED });
    }

    // The interactive prompt. Ctrl-C while a command runs sets the cancel flag; at the prompt
    // rustyline reads it as a key and we start a fresh line. Host commands poll the flag; a
    // plugin command runs on a worker thread, so that a second Ctrl-C can abandon a plugin that
    // does not poll it and give the prompt back (issue #21).
    let presses = Arc::new(AtomicUsize::new(0));
    let handler_flag = Arc::clone(&cancel);
    let handler_presses = Arc::clone(&presses);
    if let Err(e) = ctrlc::set_handler(move || {
        handler_flag.store(true, Ordering::Relaxed);
        handler_presses.fetch_add(1, Ordering::Relaxed);
    }) {
        eprintln!("warning: Ctrl-C will not cancel commands: {e}");
    }
    let _ = renderer.write_header();
    let names = command_names(&plugins);
    std::thread::scope(|scope| {
        crate::prompt::run(&names, |line| {
            for c in split_commands(line) {
                let (name, _) = crate::dispatch::split_name(&c);
                if plugins.find(&name).is_some() && name.starts_with('!') {
                    presses.store(0, Ordering::Relaxed);
                    run_abandonable(scope, &dispatcher, &mut renderer, &c, &cancel, &presses);
                } else {
                    run_one(&mut renderer, &c);
                }
            }
        });
        // An abandoned plugin may still run on its thread: leave without waiting for it (the
        // scope would join it).
        flush();
        std::process::exit(i32::from(exit::OK));
    })
}

/// What a plugin command's worker thread hands the prompt.
enum Produced {
    Row(Value),
    Line(String),
    Done(CommandResult),
}

/// A sink that passes rows and lines to the prompt's thread; once the prompt has abandoned the
/// command (the receiver is gone) every write fails, which the bridge reports to the plugin as a
/// cancellation.
struct ChannelSink(std::sync::mpsc::Sender<Produced>);

impl crate::outcome::Sink for ChannelSink {
    fn row(&mut self, row: Value) -> std::io::Result<()> {
        self.0
            .send(Produced::Row(row))
            .map_err(|_| std::io::Error::other("abandoned"))
    }

    fn line(&mut self, line: String) -> std::io::Result<()> {
        self.0
            .send(Produced::Line(line))
            .map_err(|_| std::io::Error::other("abandoned"))
    }
}

/// Runs a plugin command on a worker thread of `scope`, writing what it produces as it comes;
/// the first Ctrl-C sets the cancel flag, a second one abandons the command (the thread is left
/// running, detached from the output) and returns to the prompt.
fn run_abandonable<'scope, 'env, V, W, E>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    dispatcher: &'env Dispatcher<'env, V>,
    renderer: &mut Renderer<W, E>,
    cmd: &str,
    cancel: &AtomicBool,
    presses: &AtomicUsize,
) where
    V: HostView + ?Sized + Sync,
    W: Write + Send,
    E: Write + Send,
{
    use std::sync::mpsc::{RecvTimeoutError, channel};
    cancel.store(false, Ordering::Relaxed);
    let (name, args) = crate::dispatch::split_name(cmd);
    let progress = !renderer.is_machine() && std::io::stderr().is_terminal();
    let _progress = progress.then(|| CommandProgress::start(cmd));
    if renderer.begin(&name, &args).is_err() {
        return;
    }
    renderer.declare(&dispatcher.declared_columns(cmd));
    let (tx, rx) = channel::<Produced>();
    let command = cmd.to_string();
    scope.spawn(move || {
        let mut sink = ChannelSink(tx.clone());
        let result = dispatcher.run_into(&command, &mut sink);
        let _ = tx.send(Produced::Done(result));
    });
    let mut output_started = false;
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(Produced::Row(v)) => {
                let _ = renderer.row(v);
            }
            Ok(Produced::Line(l)) => {
                if progress && !output_started {
                    output_started = true;
                    crate::progress::output_started();
                }
                let _ = renderer.line(l);
            }
            Ok(Produced::Done(result)) => {
                let _ = renderer.finish(&result);
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if presses.load(Ordering::Relaxed) >= 2 {
                    let abandoned = CommandResult::failed(
                        &name,
                        &args,
                        "abandoned after a second Ctrl-C: the plugin did not stop when asked \
                         and may still be running on its thread (what it produces from now on \
                         is discarded)",
                    );
                    let _ = renderer.finish(&abandoned);
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let lost = CommandResult::failed(
                    &name,
                    &args,
                    "the command's thread ended without a result",
                );
                let _ = renderer.finish(&lost);
                return;
            }
        }
    }
}

/// Is `command` one of kd's ways to quit (`q`, `qq`, `.quit`)?
pub fn is_quit(command: &str) -> bool {
    matches!(
        command.trim().to_ascii_lowercase().as_str(),
        "q" | "qq" | ".quit"
    )
}

/// The `target` object of json output: what `Target::info` says.
pub fn target_json(view: &dyn HostView) -> Value {
    let i = view.target().info();
    json!({
        "arch": i.arch.name(),
        "build": i.build,
        "version": i.version,
        "dump_type": i.dump_type,
        "kernel_base": plugin_sdk::hex(i.kernel_base),
        "processors": i.processors,
        "pointer_size": i.pointer_size,
    })
}

/// Runs commands against `view` without a terminal: for tests and the demo.
pub fn run_commands(
    view: &dyn HostView,
    plugins: &PluginSet,
    commands: &str,
) -> Vec<CommandResult> {
    let cancel = AtomicBool::new(false);
    let d = Dispatcher::new(view, plugins, Some(&cancel));
    split_commands(commands).iter().map(|c| d.run(c)).collect()
}

/// Flushes stdout (for the prompt, before it draws).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// The renderer as a command's sink; the first line written to a terminal ends the progress
/// display (the output shows the progress, and a spinner would be drawn over it).
struct Streaming<'r, W: Write + Send, E: Write + Send> {
    renderer: &'r mut Renderer<W, E>,
    progress: bool,
    quiet_sent: bool,
}

impl<W: Write + Send, E: Write + Send> Streaming<'_, W, E> {
    fn written(&mut self) {
        if self.progress && !self.quiet_sent {
            self.quiet_sent = true;
            crate::progress::output_started();
        }
    }
}

impl<W: Write + Send, E: Write + Send> crate::outcome::Sink for Streaming<'_, W, E> {
    fn row(&mut self, row: Value) -> std::io::Result<()> {
        self.renderer.row(row)
    }

    fn line(&mut self, line: String) -> std::io::Result<()> {
        self.written();
        self.renderer.line(line)
    }

    fn wants_rows(&self) -> bool {
        self.renderer.wants_rows()
    }
}
