//! Finds, vets and loads command plugins.
//!
//! Search order (docs/CONTRACT.md, "Where plugins are found"): each `--plugin-dir` in order;
//! `POOLDBG_PLUGIN_PATH` (a path list); the folder of the `pooldbg` executable and its `plugins/`
//! subfolder; `../lib/pooldbg/plugins` relative to the executable. In each folder, files named
//! `[lib]pooldbg_*.so` (`.dylib` on macOS, `pooldbg_*.dll` on Windows) are candidates, in name order.
//!
//! Each candidate is read and vetted with goblin first ([`vet`]): a shared library of this platform
//! and architecture that exports `pooldbg_plugin_v1`. Only then is it loaded, by absolute path, and
//! its descriptor checked. Libraries are never unloaded. The first plugin to claim a command keeps
//! it; a later one is rejected, as is every file that fails a check, each with the reason.
//!
//! Shipped commands are not replaced silently (issue #22): a plugin found next to the executable
//! (its folder, `plugins/`, `../lib/pooldbg/plugins`) is *shipped*, and keeps its commands against a
//! plugin from `--plugin-dir` or `POOLDBG_PLUGIN_PATH` claiming the same name, which is rejected
//! with [`RejectReason::ShadowsShipped`] naming the shipped file. Only with `--allow-override`
//! ([`PluginSet::discover_with`]) does the outside plugin win; the shipped one is then listed as
//! overridden, by whom.

pub mod vet;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use plugin_abi as abi;

pub use vet::HostArch;

/// Commands of the host itself: a plugin may not claim them.
pub const RESERVED_COMMANDS: &[&str] = &[
    "info", "lm", "db", "dd", "dq", "pte", "help", "plugins", "version",
];

/// Files larger than this are not plugins (and are not read into memory to find out).
const MAX_PLUGIN_FILE: u64 = 512 << 20;
const MAX_COMMANDS: u32 = 1024;
const MAX_NAME: usize = 64;
const MAX_TEXT: usize = 4096;

/// Why a file was not loaded as a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not a shared library (text, an executable, a damaged file); the text says what it is.
    NotALibrary(String),
    /// A library of another platform or architecture.
    WrongArchitecture {
        /// What the file is.
        found: String,
        /// What this host loads.
        expected: String,
    },
    /// A library that does not export `pooldbg_plugin_v1` (nor another version's entry point).
    MissingExport,
    /// Built for another ABI major version (its entry point's name or its descriptor says which).
    WrongAbiVersion {
        /// The plugin's ABI version.
        found: u32,
    },
    /// The descriptor is malformed; the text says how.
    BadDescriptor(String),
    /// The dynamic loader refused the file.
    LoadFailed(String),
    /// A command the plugin claims is already taken.
    DuplicateCommand {
        /// The command.
        command: String,
        /// Who has it: a plugin's path, or the host itself.
        owner: String,
    },
    /// The file could not be read.
    Unreadable(String),
    /// A plugin from outside pooldbg's own folders claims a command that a shipped plugin
    /// provides; it is refused unless `--allow-override` is given.
    ShadowsShipped {
        /// The command.
        command: String,
        /// The shipped plugin that keeps it: its name and path.
        shipped: String,
    },
    /// A shipped plugin whose command was taken by an outside plugin under `--allow-override`.
    Overridden {
        /// The command.
        command: String,
        /// The plugin that took it: its name and path.
        by: String,
    },
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::NotALibrary(why) => write!(f, "not a library: {why}"),
            RejectReason::WrongArchitecture { found, expected } => write!(
                f,
                "wrong architecture: the file is {found}, this pooldbg loads {expected}"
            ),
            RejectReason::MissingExport => write!(
                f,
                "missing export: the library does not export `{}`",
                abi::ENTRY_POINT
            ),
            RejectReason::WrongAbiVersion { found } => write!(
                f,
                "wrong ABI version: the plugin was built for plugin ABI {found}, this pooldbg \
                 speaks ABI {}",
                abi::ABI_VERSION
            ),
            RejectReason::BadDescriptor(why) => write!(f, "bad descriptor: {why}"),
            RejectReason::LoadFailed(why) => write!(f, "the dynamic loader refused it: {why}"),
            RejectReason::DuplicateCommand { command, owner } => write!(
                f,
                "duplicate command: !{command} is already provided by {owner}"
            ),
            RejectReason::Unreadable(why) => write!(f, "cannot read the file: {why}"),
            RejectReason::ShadowsShipped { command, shipped } => write!(
                f,
                "refused: !{command} is a shipped command, provided by {shipped}; this plugin \
                 would replace it (pass --allow-override to let it)"
            ),
            RejectReason::Overridden { command, by } => write!(
                f,
                "overridden: !{command} is taken by {by} (--allow-override)"
            ),
        }
    }
}

/// A file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its absolute path.
    pub path: PathBuf,
    /// Why.
    pub reason: RejectReason,
}

/// One command of a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// Name without `!`.
    pub name: String,
    /// One line.
    pub summary: String,
    /// Usage text.
    pub usage: String,
    /// The row columns the command declares, in order (empty: none declared, or a plugin built
    /// before the ABI appended them).
    pub columns: Vec<String>,
}

/// A loaded plugin. Its library stays loaded for the life of the process.
#[derive(Debug, Clone)]
pub struct LoadedPlugin {
    /// Absolute path of the library.
    pub path: PathBuf,
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Its commands, in the order of its descriptor.
    pub commands: Vec<CommandInfo>,
    pub(crate) run: abi::RunFn,
}

/// The folders to search, in order, and what was set aside on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// Absolute folders, in search order, without duplicates.
    pub dirs: Vec<PathBuf>,
    /// The folders of those that come with pooldbg (next to the executable): their plugins are
    /// shipped, and an outside plugin may not silently replace their commands.
    pub shipped: Vec<PathBuf>,
    /// Entries that were ignored, and why (e.g. a relative `POOLDBG_PLUGIN_PATH` entry).
    pub notes: Vec<String>,
}

impl SearchPath {
    /// The search path from explicit inputs: `plugin_dirs` (`--plugin-dir`, relative ones are taken
    /// from the current directory, as the user typed them), `env` (`POOLDBG_PLUGIN_PATH`; relative
    /// and empty entries are ignored: they would load from wherever the user happens to be), and
    /// the executable's path.
    pub fn new(plugin_dirs: &[PathBuf], env: Option<&OsStr>, exe: Option<&Path>) -> SearchPath {
        let mut sp = SearchPath::default();
        for d in plugin_dirs {
            match std::path::absolute(d) {
                Ok(abs) => {
                    if !abs.is_dir() {
                        sp.notes.push(format!(
                            "--plugin-dir {}: not a directory, ignored",
                            d.display()
                        ));
                    }
                    sp.push(abs);
                }
                Err(e) => sp
                    .notes
                    .push(format!("--plugin-dir {}: {e}, ignored", d.display())),
            }
        }
        if let Some(env) = env {
            for d in std::env::split_paths(env) {
                if d.as_os_str().is_empty() {
                    continue;
                }
                if d.is_absolute() {
                    sp.push(d);
                } else {
                    sp.notes.push(format!(
                        "POOLDBG_PLUGIN_PATH entry {}: not an absolute path, ignored",
                        d.display()
                    ));
                }
            }
        }
        if let Some(dir) = exe.and_then(Path::parent) {
            let mut own = vec![dir.to_path_buf(), dir.join("plugins")];
            if let Some(prefix) = dir.parent() {
                own.push(prefix.join("lib").join("pooldbg").join("plugins"));
            }
            for d in own {
                sp.push(d.clone());
                if !sp.shipped.contains(&d) {
                    sp.shipped.push(d);
                }
            }
        }
        sp
    }

    /// The search path of this process: `plugin_dirs`, the `POOLDBG_PLUGIN_PATH` variable and
    /// the running executable.
    pub fn from_environment(plugin_dirs: &[PathBuf]) -> SearchPath {
        let env = std::env::var_os("POOLDBG_PLUGIN_PATH");
        let exe = std::env::current_exe().ok();
        let exe = exe.map(|e| std::fs::canonicalize(&e).unwrap_or(e));
        SearchPath::new(plugin_dirs, env.as_deref(), exe.as_deref())
    }

    fn push(&mut self, dir: PathBuf) {
        if !self.dirs.contains(&dir) {
            self.dirs.push(dir);
        }
    }
}

/// Is `file_name` a plugin candidate on this platform (`[lib]pooldbg_*` + the library suffix)?
pub fn is_candidate_name(file_name: &str) -> bool {
    let Some(stem) = file_name.strip_suffix(std::env::consts::DLL_SUFFIX) else {
        return false;
    };
    let stem = stem
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .filter(|s| s.starts_with("pooldbg_"))
        .unwrap_or(stem);
    stem.len() > "pooldbg_".len() && stem.starts_with("pooldbg_")
}

/// The candidate files of `dir`, by name.
fn candidates(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_candidate_name))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The plugins found and the files rejected.
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    /// Where they were searched.
    pub search: SearchPath,
    /// Loaded plugins, in load order.
    pub plugins: Vec<LoadedPlugin>,
    /// Rejected files, in search order.
    pub rejected: Vec<Rejected>,
}

impl PluginSet {
    /// Searches `search`, vets and loads every candidate; shipped commands are kept against
    /// outside plugins ([`PluginSet::discover_with`] with `allow_override` false).
    pub fn discover(search: SearchPath) -> PluginSet {
        PluginSet::discover_with(search, false)
    }

    /// Searches `search`, vets and loads every candidate. Plugins of the shipped folders claim
    /// their commands first, then the others in search order; with `allow_override`, the outside
    /// plugins claim first instead (a shipped command is then replaced, and the listing says by
    /// whom).
    pub fn discover_with(search: SearchPath, allow_override: bool) -> PluginSet {
        let mut set = PluginSet {
            search,
            ..Default::default()
        };
        let mut loaded: Vec<(LoadedPlugin, bool)> = Vec::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        // Owner of each command: who (for messages) and whether a shipped plugin (None: the host).
        let mut owners: HashMap<String, (String, Option<bool>)> = RESERVED_COMMANDS
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    ("pooldbg itself (a host command)".to_string(), None),
                )
            })
            .collect();
        for dir in set.search.dirs.clone() {
            for path in candidates(&dir) {
                // The same file reached through two folders (or a symlink) is loaded once.
                let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if !seen.insert(key) {
                    continue;
                }
                match load(&path) {
                    Ok(plugin) => loaded.push((plugin, set.search.shipped.contains(&dir))),
                    Err(reason) => set.rejected.push(Rejected { path, reason }),
                }
            }
        }
        // Who claims first: shipped plugins, unless the user allowed outside ones to override.
        let (first, second): (Vec<_>, Vec<_>) = loaded
            .into_iter()
            .partition(|(_, shipped)| *shipped != allow_override);
        for (plugin, shipped) in first.into_iter().chain(second) {
            set.admit(plugin, shipped, allow_override, &mut owners);
        }
        set
    }

    fn admit(
        &mut self,
        plugin: LoadedPlugin,
        shipped: bool,
        allow_override: bool,
        owners: &mut HashMap<String, (String, Option<bool>)>,
    ) {
        for c in &plugin.commands {
            if let Some((owner, owner_shipped)) = owners.get(&c.name) {
                let command = c.name.clone();
                let owner = owner.clone();
                let reason = match (*owner_shipped, shipped) {
                    (Some(true), false) => RejectReason::ShadowsShipped {
                        command,
                        shipped: owner,
                    },
                    (Some(false), true) if allow_override => {
                        RejectReason::Overridden { command, by: owner }
                    }
                    _ => RejectReason::DuplicateCommand { command, owner },
                };
                self.rejected.push(Rejected {
                    path: plugin.path.clone(),
                    reason,
                });
                return;
            }
        }
        for c in &plugin.commands {
            owners.insert(
                c.name.clone(),
                (
                    format!("plugin {} ({})", plugin.name, plugin.path.display()),
                    Some(shipped),
                ),
            );
        }
        self.plugins.push(plugin);
    }

    /// The plugin and command index of `command` (with or without its leading `!`).
    pub fn find(&self, command: &str) -> Option<(&LoadedPlugin, u32)> {
        let name = command.strip_prefix('!').unwrap_or(command);
        self.plugins.iter().find_map(|p| {
            p.commands
                .iter()
                .position(|c| c.name == name)
                .and_then(|i| u32::try_from(i).ok())
                .map(|i| (p, i))
        })
    }

    /// The listing `pooldbg plugins` prints.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from("plugin search path:\n");
        for d in &self.search.dirs {
            let _ = writeln!(s, "  {}", d.display());
        }
        for n in &self.search.notes {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = writeln!(s, "plugins: {}", self.plugins.len());
        for p in &self.plugins {
            let _ = writeln!(s, "  {} {}  {}", p.name, p.version, p.path.display());
            let width = p
                .commands
                .iter()
                .map(|c| c.name.len() + 1)
                .max()
                .unwrap_or(0);
            for c in &p.commands {
                let _ = writeln!(
                    s,
                    "    {:width$}  {}  (usage: {})",
                    format!("!{}", c.name),
                    c.summary,
                    c.usage
                );
            }
        }
        let _ = writeln!(s, "rejected: {}", self.rejected.len());
        for r in &self.rejected {
            let _ = writeln!(s, "  {}: {}", r.path.display(), r.reason);
        }
        s
    }

    /// The listing as JSON (`pooldbg plugins --format json`): `search_path`, `notes`, `shipped`
    /// (the folders whose plugins are shipped), `plugins` (name, version, path, commands with
    /// summary, usage and columns) and `rejected` (path, reason).
    pub fn to_json(&self) -> serde_json::Value {
        let paths =
            |v: &[PathBuf]| -> Vec<String> { v.iter().map(|d| d.display().to_string()).collect() };
        serde_json::json!({
            "search_path": paths(&self.search.dirs),
            "shipped": paths(&self.search.shipped),
            "notes": self.search.notes,
            "plugins": self.plugins.iter().map(|p| serde_json::json!({
                "name": p.name,
                "version": p.version,
                "path": p.path.display().to_string(),
                "commands": p.commands.iter().map(|c| serde_json::json!({
                    "name": c.name,
                    "summary": c.summary,
                    "usage": c.usage,
                    "columns": c.columns,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "rejected": self.rejected.iter().map(|r| serde_json::json!({
                "path": r.path.display().to_string(),
                "reason": r.reason.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Vets, loads and describes one file.
pub fn load(path: &Path) -> Result<LoadedPlugin, RejectReason> {
    if !path.is_absolute() {
        return Err(RejectReason::Unreadable(format!(
            "{} is not an absolute path; plugins are only loaded by absolute path",
            path.display()
        )));
    }
    let len = std::fs::metadata(path)
        .map_err(|e| RejectReason::Unreadable(e.to_string()))?
        .len();
    if len > MAX_PLUGIN_FILE {
        return Err(RejectReason::NotALibrary(format!(
            "{len} bytes is too large for a plugin"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| RejectReason::Unreadable(e.to_string()))?;
    vet::vet(&bytes, HostArch::current())?;
    drop(bytes);
    let library = open(path)?;
    // Never unloaded: code and data of the plugin (its descriptor, its strings) stay valid for
    // the life of the process, and no library destructor runs while something may still use it.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the vetted library exports this symbol as a function (checked by `vet`); its type is
    // the ABI's EntryFn, which the plugin promises by exporting this name.
    let entry: abi::EntryFn = unsafe {
        *library
            .get::<abi::EntryFn>(abi::ENTRY_POINT_NUL)
            .map_err(|e| RejectReason::LoadFailed(e.to_string()))?
    };
    // SAFETY: calling the plugin's entry point as the ABI defines it.
    let descriptor = unsafe { entry() };
    // SAFETY: a non-null descriptor is valid while the library is loaded (forever).
    unsafe { describe(path, descriptor) }
}

/// Opens a vetted library by absolute path.
fn open(path: &Path) -> Result<libloading::Library, RejectReason> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: the file passed `vet`; its initialisers run here, which is the accepted risk of
        // loading a plugin. RTLD_NOW makes missing symbols fail now, not at a later call.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map(Into::into)
            .map_err(|e| RejectReason::LoadFailed(e.to_string()))
    }
    #[cfg(windows)]
    {
        use libloading::os::windows::{
            LOAD_LIBRARY_SEARCH_DEFAULT_DIRS, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, Library,
        };
        // SAFETY: as above; the flags keep the DLL's own dependencies out of the current folder.
        unsafe {
            Library::load_with_flags(
                path,
                LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS,
            )
        }
        .map(Into::into)
        .map_err(|e| RejectReason::LoadFailed(e.to_string()))
    }
}

/// Copies a plugin string, checking its length and encoding.
///
/// # Safety
/// `s` must come from a descriptor that is valid for the life of the process.
unsafe fn text(s: abi::Str, what: &str, max: usize) -> Result<String, RejectReason> {
    if s.len > max {
        return Err(RejectReason::BadDescriptor(format!(
            "{what} is {} bytes long (at most {max})",
            s.len
        )));
    }
    // SAFETY: forwarded to the caller; the length is bounded above.
    let bytes = unsafe { s.as_bytes() }
        .ok_or_else(|| RejectReason::BadDescriptor(format!("{what} is a null pointer")))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| RejectReason::BadDescriptor(format!("{what} is not UTF-8")))
}

fn valid_command_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads and checks a descriptor.
///
/// # Safety
/// `d` must be null or point to a descriptor (of at least its own `struct_size` bytes) that stays
/// valid for the life of the process, as the ABI requires.
pub(crate) unsafe fn describe(
    path: &Path,
    d: *const abi::PluginDescriptor,
) -> Result<LoadedPlugin, RejectReason> {
    if d.is_null() {
        return Err(RejectReason::BadDescriptor(format!(
            "`{}` returned no descriptor (a Rust plugin returns none when describing itself \
             panicked)",
            abi::ENTRY_POINT
        )));
    }
    // SAFETY: the first two fields exist in every version of the descriptor.
    let (version, size) = unsafe {
        (
            std::ptr::addr_of!((*d).abi_version).read(),
            std::ptr::addr_of!((*d).struct_size).read(),
        )
    };
    if version != abi::ABI_VERSION {
        return Err(RejectReason::WrongAbiVersion { found: version });
    }
    if (size as usize) < size_of::<abi::PluginDescriptor>() {
        return Err(RejectReason::BadDescriptor(format!(
            "struct_size is {size}, ABI {} needs at least {}",
            abi::ABI_VERSION,
            size_of::<abi::PluginDescriptor>()
        )));
    }
    // SAFETY: the whole version-1 struct is present (checked above).
    let d = unsafe { d.read() };
    // SAFETY: strings of a descriptor valid for the life of the process.
    let name = unsafe { text(d.name, "the plugin name", MAX_NAME) }?;
    if name.is_empty() {
        return Err(RejectReason::BadDescriptor(
            "the plugin name is empty".into(),
        ));
    }
    // SAFETY: as above.
    let version = unsafe { text(d.version, "the plugin version", MAX_NAME) }?;
    let Some(run) = d.run else {
        return Err(RejectReason::BadDescriptor("`run` is null".into()));
    };
    if d.command_count == 0 {
        return Err(RejectReason::BadDescriptor(
            "the plugin has no commands".into(),
        ));
    }
    if d.command_count > MAX_COMMANDS {
        return Err(RejectReason::BadDescriptor(format!(
            "{} commands (at most {MAX_COMMANDS})",
            d.command_count
        )));
    }
    let stride = d.command_size as usize;
    if !(abi::COMMAND_DESCRIPTOR_V1_SIZE..=MAX_TEXT).contains(&stride) {
        return Err(RejectReason::BadDescriptor(format!(
            "command_size is {stride}, ABI {} needs at least {}",
            abi::ABI_VERSION,
            abi::COMMAND_DESCRIPTOR_V1_SIZE
        )));
    }
    // A plugin built before `columns` was appended declares no columns.
    let has_columns = stride >= size_of::<abi::CommandDescriptor>();
    if d.commands.is_null() {
        return Err(RejectReason::BadDescriptor("`commands` is null".into()));
    }
    let mut commands: Vec<CommandInfo> = Vec::new();
    for i in 0..d.command_count as usize {
        // SAFETY: `commands` holds `command_count` entries of `command_size` bytes (ABI); each
        // starts with the version-1 fields (three `Str`), and holds `columns` when `has_columns`
        // (its stride covers the whole struct). read_unaligned: a C plugin may pack them oddly.
        let c = unsafe {
            let at = d.commands.cast::<u8>().add(i * stride);
            if has_columns {
                at.cast::<abi::CommandDescriptor>().read_unaligned()
            } else {
                let [name, summary, usage] = at.cast::<[abi::Str; 3]>().read_unaligned();
                abi::CommandDescriptor {
                    name,
                    summary,
                    usage,
                    columns: abi::Str::EMPTY,
                }
            }
        };
        // SAFETY: strings of a descriptor valid for the life of the process.
        let (cname, summary, usage) = unsafe {
            (
                text(c.name, "a command name", MAX_NAME)?,
                text(c.summary, "a command summary", MAX_TEXT)?,
                text(c.usage, "a command usage", MAX_TEXT)?,
            )
        };
        // SAFETY: as above.
        let columns_text = unsafe { text(c.columns, "a command's columns", MAX_TEXT)? };
        let columns: Vec<String> = columns_text
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let cname = cname.strip_prefix('!').map(str::to_owned).unwrap_or(cname);
        if !valid_command_name(&cname) {
            return Err(RejectReason::BadDescriptor(format!(
                "command name {cname:?} is not 1 to {MAX_NAME} ASCII letters, digits, '_' or '-'"
            )));
        }
        if commands.iter().any(|x| x.name == cname) {
            return Err(RejectReason::BadDescriptor(format!(
                "command !{cname} is listed twice"
            )));
        }
        commands.push(CommandInfo {
            name: cname,
            summary,
            usage,
            columns,
        });
    }
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        name,
        version,
        commands,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_names_follow_the_contract() {
        let so = std::env::consts::DLL_SUFFIX;
        let pre = std::env::consts::DLL_PREFIX;
        assert!(is_candidate_name(&format!("{pre}pooldbg_vm{so}")));
        assert!(is_candidate_name(&format!("pooldbg_vm{so}")));
        assert!(!is_candidate_name(&format!("{pre}pooldbg_{so}")));
        assert!(!is_candidate_name(&format!("{pre}other{so}")));
        assert!(!is_candidate_name(&format!("{pre}pooldbg{so}")));
        assert!(!is_candidate_name("pooldbg_vm.d"));
        assert!(!is_candidate_name("pooldbg"));
        assert!(!is_candidate_name(&format!("{pre}pooldbg_vm.rlib")));
    }

    #[test]
    fn search_order_is_flags_then_env_then_exe() {
        let root = std::env::temp_dir();
        let a = root.join("a");
        let b = root.join("b");
        let env = std::env::join_paths([
            root.join("e1"),
            PathBuf::from("relative/dir"),
            root.join("a"),
        ])
        .unwrap();
        let exe = root.join("prefix").join("bin").join("pooldbg");
        let sp = SearchPath::new(&[a.clone(), b.clone()], Some(&env), Some(&exe));
        assert_eq!(
            sp.dirs,
            vec![
                a,
                b,
                root.join("e1"),
                root.join("prefix/bin"),
                root.join("prefix/bin/plugins"),
                root.join("prefix/lib/pooldbg/plugins"),
            ]
        );
        assert!(
            sp.notes
                .iter()
                .any(|n| n.contains("relative/dir") && n.contains("not an absolute path")),
            "{:?}",
            sp.notes
        );
        // Both --plugin-dir folders do not exist: said so.
        assert_eq!(
            sp.notes
                .iter()
                .filter(|n| n.contains("not a directory"))
                .count(),
            2
        );
    }

    #[test]
    fn relative_plugin_dirs_become_absolute() {
        let sp = SearchPath::new(&[PathBuf::from("some/where")], None, None);
        assert!(sp.dirs[0].is_absolute());
        assert!(sp.dirs[0].ends_with("some/where"));
    }

    #[test]
    fn relative_paths_are_never_loaded() {
        let e = load(Path::new("libpooldbg_x.so")).unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
    }

    fn cmd(name: &'static str) -> abi::CommandDescriptor {
        abi::CommandDescriptor {
            name: abi::Str::new(name),
            summary: abi::Str::new("s"),
            usage: abi::Str::new("u"),
            columns: abi::Str::EMPTY,
        }
    }

    unsafe extern "C" fn nop(
        _: *const abi::HostApi,
        _: *mut abi::HostContext,
        _: u32,
        _: abi::Str,
    ) -> u32 {
        0
    }

    fn descriptor(cmds: &'static [abi::CommandDescriptor]) -> abi::PluginDescriptor {
        abi::PluginDescriptor {
            abi_version: abi::ABI_VERSION,
            struct_size: size_of::<abi::PluginDescriptor>() as u32,
            command_count: cmds.len() as u32,
            command_size: size_of::<abi::CommandDescriptor>() as u32,
            name: abi::Str::new("t"),
            version: abi::Str::new("1"),
            commands: cmds.as_ptr(),
            run: Some(nop),
        }
    }

    fn check(d: &abi::PluginDescriptor) -> Result<LoadedPlugin, RejectReason> {
        // SAFETY: descriptors of these tests point to 'static data.
        unsafe { describe(Path::new("/x"), d) }
    }

    #[test]
    fn declared_columns_are_read_and_older_descriptors_still_load() {
        let mut c = cmd("a");
        c.columns = abi::Str::new("tag, bytes,,count");
        let cmds: &'static [abi::CommandDescriptor] = Box::leak(Box::new([c]));
        let p = check(&descriptor(cmds)).unwrap();
        assert_eq!(p.commands[0].columns, ["tag", "bytes", "count"]);
        // A plugin built before `columns` was appended: a stride of three `Str`s, no columns read
        // (the bytes past them are another command's, here a name).
        let v1: &'static [[abi::Str; 3]] = Box::leak(Box::new([
            [abi::Str::new("x"), abi::Str::new("s"), abi::Str::new("u")],
            [abi::Str::new("y"), abi::Str::new("s"), abi::Str::new("u")],
        ]));
        let mut d = descriptor(cmds);
        d.command_count = 2;
        d.command_size = abi::COMMAND_DESCRIPTOR_V1_SIZE as u32;
        d.commands = v1.as_ptr().cast();
        let p = check(&d).unwrap();
        assert_eq!(p.commands[1].name, "y");
        assert!(p.commands.iter().all(|c| c.columns.is_empty()));
    }

    #[test]
    fn descriptors_are_checked() {
        let cmds: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("a"), cmd("!b")]));
        let p = check(&descriptor(cmds)).unwrap();
        assert_eq!(
            p.commands
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );

        let mut d = descriptor(cmds);
        d.abi_version = 2;
        assert_eq!(
            check(&d).unwrap_err(),
            RejectReason::WrongAbiVersion { found: 2 }
        );
        let mut d = descriptor(cmds);
        d.struct_size = 8;
        assert!(
            check(&d)
                .unwrap_err()
                .to_string()
                .contains("struct_size is 8")
        );
        let mut d = descriptor(cmds);
        d.run = None;
        assert!(check(&d).unwrap_err().to_string().contains("`run` is null"));
        let mut d = descriptor(cmds);
        d.command_size = 4;
        assert!(matches!(check(&d), Err(RejectReason::BadDescriptor(_))));
        // Empty command names.
        let empty: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("")]));
        assert!(
            check(&descriptor(empty))
                .unwrap_err()
                .to_string()
                .contains("command name \"\"")
        );
        let twice: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("a"), cmd("a")]));
        assert!(
            check(&descriptor(twice))
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let spaced: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("a b")]));
        assert!(check(&descriptor(spaced)).is_err());
        // SAFETY: null is what is tested.
        let e = unsafe { describe(Path::new("/x"), std::ptr::null()) }.unwrap_err();
        assert!(e.to_string().contains("returned no descriptor"), "{e}");
    }

    #[test]
    fn the_first_claim_on_a_command_wins() {
        let cmds: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("x")]));
        let mut set = PluginSet::default();
        let mut owners: HashMap<String, (String, Option<bool>)> = RESERVED_COMMANDS
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    ("pooldbg itself (a host command)".to_string(), None),
                )
            })
            .collect();
        let mut first = check(&descriptor(cmds)).unwrap();
        first.path = PathBuf::from("/one");
        let mut second = first.clone();
        second.path = PathBuf::from("/two");
        set.admit(first, false, false, &mut owners);
        set.admit(second, false, false, &mut owners);
        assert_eq!(set.plugins.len(), 1);
        assert_eq!(set.rejected[0].path, PathBuf::from("/two"));
        assert_eq!(
            set.rejected[0].reason.to_string(),
            "duplicate command: !x is already provided by plugin t (/one)"
        );
        assert!(set.find("!x").is_some());
        assert!(set.find("x").is_some());
        assert!(set.find("y").is_none());

        let lm: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("lm")]));
        set.admit(check(&descriptor(lm)).unwrap(), true, true, &mut owners);
        assert!(
            set.rejected[1]
                .reason
                .to_string()
                .contains("pooldbg itself")
        );
    }

    #[test]
    fn an_outside_plugin_may_not_take_a_shipped_command_unless_allowed() {
        let cmds: &'static [abi::CommandDescriptor] = Box::leak(Box::new([cmd("vm")]));
        let mut shipped = check(&descriptor(cmds)).unwrap();
        shipped.path = PathBuf::from("/opt/pooldbg/libpooldbg_vm.so");
        let mut outside = shipped.clone();
        outside.path = PathBuf::from("/home/u/plugins/libpooldbg_evil.so");

        // Default: the shipped plugin claims first and keeps !vm; the outside one is refused and
        // the message names the shipped file (not the other way round).
        let mut set = PluginSet::default();
        let mut owners = HashMap::new();
        set.admit(shipped.clone(), true, false, &mut owners);
        set.admit(outside.clone(), false, false, &mut owners);
        assert_eq!(set.find("vm").unwrap().0.path, shipped.path);
        assert_eq!(set.rejected[0].path, outside.path);
        assert_eq!(
            set.rejected[0].reason.to_string(),
            "refused: !vm is a shipped command, provided by plugin t \
             (/opt/pooldbg/libpooldbg_vm.so); this plugin would replace it (pass \
             --allow-override to let it)"
        );

        // --allow-override: the outside plugin claims first; the shipped one is listed as
        // overridden, by whom.
        let mut set = PluginSet::default();
        let mut owners = HashMap::new();
        set.admit(outside.clone(), false, true, &mut owners);
        set.admit(shipped.clone(), true, true, &mut owners);
        assert_eq!(set.find("vm").unwrap().0.path, outside.path);
        assert_eq!(
            set.rejected[0].reason,
            RejectReason::Overridden {
                command: "vm".into(),
                by: "plugin t (/home/u/plugins/libpooldbg_evil.so)".into()
            }
        );
    }

    #[test]
    fn the_executables_folders_are_the_shipped_ones() {
        let sp = SearchPath::new(
            &[PathBuf::from("/extra")],
            None,
            Some(Path::new("/opt/pooldbg/bin/pooldbg")),
        );
        assert_eq!(
            sp.shipped,
            vec![
                PathBuf::from("/opt/pooldbg/bin"),
                PathBuf::from("/opt/pooldbg/bin/plugins"),
                PathBuf::from("/opt/pooldbg/lib/pooldbg/plugins"),
            ]
        );
        assert!(!sp.shipped.contains(&PathBuf::from("/extra")));
    }
}
