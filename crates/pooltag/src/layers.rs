//! Layered lookup: `--pooltag FILE` (repeatable) > `POOLDBG_POOLTAG` > a WinDbg install > embedded.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::db::{Matches, Source, TagDb};
use crate::parse::Entry;
use crate::tag::Tag;

/// The environment variable naming extra pooltag.txt files (a path list, like `PATH`).
pub const POOLTAG_ENV: &str = "POOLDBG_POOLTAG";

/// Files larger than this are refused: the real files are about 250 KB, so a larger one is a
/// mistake (a dump given as `--pooltag`), not a tag list.
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// Where to look for a WinDbg install's `triage\pooltag.txt`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WinDbgSearch {
    /// On Windows, the first existing file of [`windbg_candidates`]; elsewhere nothing.
    #[default]
    Auto,
    /// Do not look.
    Off,
    /// The first existing file of these (for tests, or a debugger in an unusual place).
    Paths(Vec<PathBuf>),
}

/// What [`TagLookup::load`] should layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `--pooltag FILE` arguments, in command-line order (the first one wins).
    pub files: Vec<PathBuf>,
    /// The value of [`POOLTAG_ENV`] (a path list), if set.
    pub env: Option<OsString>,
    /// Where to look for a WinDbg install.
    pub windbg: WinDbgSearch,
    /// Whether to add the embedded database as the last layer (normally true).
    pub embedded: bool,
}

impl LoadOptions {
    /// The standard layering for these `--pooltag` files: the environment variable as this process
    /// sees it, an automatic WinDbg search, and the embedded database.
    pub fn standard(files: Vec<PathBuf>) -> LoadOptions {
        LoadOptions {
            files,
            env: std::env::var_os(POOLTAG_ENV),
            windbg: WinDbgSearch::Auto,
            embedded: true,
        }
    }
}

/// A file named with `--pooltag` could not be read.
#[derive(Debug)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: std::io::Error,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read pooltag file {}: {}",
            self.path.display(),
            self.error
        )
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Reads one pooltag.txt file (at most [`MAX_FILE_BYTES`]) and indexes it under `source`.
pub fn load_file(path: &Path, source: Source) -> std::io::Result<TagDb> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes is too large for a pooltag.txt (limit {MAX_FILE_BYTES})"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
    Ok(TagDb::from_bytes(source, &bytes))
}

/// The places a Debugging Tools for Windows install keeps `pooltag.txt`, most likely first, built from
/// the Program Files folders that `env` names (`ProgramFiles(x86)`, `ProgramFiles`, `ProgramW6432`).
///
/// Layout as installed by the Windows SDK / WDK ("Debugging Tools for Windows" feature):
/// `<ProgramFiles>\Windows Kits\10\Debuggers\<arch>\triage\pooltag.txt` (also `8.1` and `8.0`), and the
/// older standalone packages `<ProgramFiles>\Debugging Tools for Windows (x64|x86)\triage\pooltag.txt`.
/// The Store "WinDbg" app keeps its files in a protected folder and is not searched.
pub fn windbg_candidates(env: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for var in ["ProgramFiles(x86)", "ProgramFiles", "ProgramW6432"] {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            let p = PathBuf::from(v);
            if !roots.contains(&p) {
                roots.push(p);
            }
        }
    }
    let host = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "x86") {
        "x86"
    } else {
        "x64"
    };
    let mut arches = vec![host];
    arches.extend(["x64", "x86", "arm64"].into_iter().filter(|a| *a != host));
    let mut out = Vec::new();
    for kit in ["10", "8.1", "8.0"] {
        for root in &roots {
            for arch in &arches {
                out.push(
                    root.join("Windows Kits")
                        .join(kit)
                        .join("Debuggers")
                        .join(arch)
                        .join("triage")
                        .join("pooltag.txt"),
                );
            }
        }
    }
    for root in &roots {
        for pkg in [
            "Debugging Tools for Windows (x64)",
            "Debugging Tools for Windows (x86)",
        ] {
            out.push(root.join(pkg).join("triage").join("pooltag.txt"));
        }
    }
    out
}

/// The variable WinDbg reads its extension folders from (a `;`-separated list; Microsoft docs,
/// "Environment variables", `_NT_DEBUGGER_EXTENSION_PATH`).
pub const EXTENSION_PATH_ENV: &str = "_NT_DEBUGGER_EXTENSION_PATH";

/// The places `pooltag.txt` may be beside the folders of [`EXTENSION_PATH_ENV`]: the folder
/// itself, its `triage` subfolder, and its parent's `triage` (extensions sit in
/// `Debuggers\<arch>\winext`, the tag file in `Debuggers\<arch>\triage`).
pub fn extension_path_candidates(value: &OsString) -> Vec<PathBuf> {
    let text = value.to_string_lossy();
    let mut out = Vec::new();
    for dir in text.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        out.push(dir.join("pooltag.txt"));
        out.push(dir.join("triage").join("pooltag.txt"));
        if let Some(parent) = dir.parent() {
            out.push(parent.join("triage").join("pooltag.txt"));
        }
    }
    out
}

/// The pooltag.txt of a WinDbg install on this machine: the first existing file beside the
/// folders of `_NT_DEBUGGER_EXTENSION_PATH` (on every system: the variable is explicit), then,
/// on Windows, of [`windbg_candidates`].
pub fn find_windbg_pooltag() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(EXTENSION_PATH_ENV)
        && let Some(p) = extension_path_candidates(&v)
            .into_iter()
            .find(|p| p.is_file())
    {
        return Some(p);
    }
    if cfg!(windows) {
        windbg_candidates(|v| std::env::var_os(v))
            .into_iter()
            .find(|p| p.is_file())
    } else {
        None
    }
}

/// Tag databases in priority order: the first layer that names a tag answers for it.
#[derive(Debug, Clone, Default)]
pub struct TagLookup {
    layers: Vec<TagDb>,
}

/// The answer for one tag: the layer that named it and its entries there.
#[derive(Debug, Clone)]
pub struct Answer<'a> {
    db: &'a TagDb,
    first: &'a Entry,
    matches: Matches<'a>,
}

impl<'a> Answer<'a> {
    /// The layer that named the tag.
    pub fn source(&self) -> &'a Source {
        self.db.source()
    }

    /// The layer's entries for the tag: exact first, then wildcards, each in file order.
    pub fn entries(&self) -> Matches<'a> {
        self.matches.clone()
    }

    /// The first entry (the owner to show when only one fits); an answer always has one.
    pub fn first(&self) -> &'a Entry {
        self.first
    }
}

impl TagLookup {
    /// Layers in priority order (the first wins).
    pub fn new(layers: Vec<TagDb>) -> TagLookup {
        TagLookup { layers }
    }

    /// Only the embedded database.
    pub fn embedded() -> TagLookup {
        TagLookup::new(vec![TagDb::embedded()])
    }

    /// Builds the layers `options` asks for, highest priority first: each `--pooltag` file in order,
    /// each file of the environment variable in order, a WinDbg install, the embedded database.
    ///
    /// A `--pooltag` file that cannot be read is an error (the user named it). An unreadable file from
    /// the environment variable or a WinDbg install is skipped with a note in the returned list. Notes
    /// also name every malformed line of every layer (`<source> line N: ...`).
    pub fn load(options: &LoadOptions) -> Result<(TagLookup, Vec<String>), LoadError> {
        let mut layers = Vec::new();
        let mut notes = Vec::new();
        for path in &options.files {
            let db = load_file(path, Source::File(path.clone())).map_err(|error| LoadError {
                path: path.clone(),
                error,
            })?;
            layers.push(db);
        }
        if let Some(value) = options.env.as_ref().filter(|v| !v.is_empty()) {
            for path in std::env::split_paths(value).filter(|p| !p.as_os_str().is_empty()) {
                match load_file(&path, Source::Env(path.clone())) {
                    Ok(db) => layers.push(db),
                    Err(e) => notes.push(format!(
                        "{POOLTAG_ENV}: cannot read {}: {e} (skipped)",
                        path.display()
                    )),
                }
            }
        }
        let windbg = match &options.windbg {
            WinDbgSearch::Auto => find_windbg_pooltag(),
            WinDbgSearch::Off => None,
            WinDbgSearch::Paths(paths) => paths.iter().find(|p| p.is_file()).cloned(),
        };
        if let Some(path) = windbg {
            match load_file(&path, Source::WinDbg(path.clone())) {
                Ok(db) => layers.push(db),
                Err(e) => notes.push(format!("cannot read {}: {e} (skipped)", path.display())),
            }
        }
        if options.embedded {
            layers.push(TagDb::embedded());
        }
        for db in &layers {
            for w in db.warnings() {
                notes.push(format!("{} {w}", db.source()));
            }
        }
        Ok((TagLookup { layers }, notes))
    }

    /// The layers, highest priority first.
    pub fn layers(&self) -> &[TagDb] {
        &self.layers
    }

    /// The first layer that names `tag` (exactly or by a wildcard), with its entries; `None` when no
    /// layer does (see [`crate::find_tag_in_images`] for candidates then).
    pub fn lookup(&self, tag: Tag) -> Option<Answer<'_>> {
        self.lookup_all(tag).next()
    }

    /// Every layer that names `tag`, highest priority first.
    pub fn lookup_all(&self, tag: Tag) -> impl Iterator<Item = Answer<'_>> + '_ {
        self.layers.iter().filter_map(move |db| {
            let matches = db.lookup(tag);
            // Probe a copy, so the answer still yields every entry.
            let first = matches.clone().next()?;
            Some(Answer { db, first, matches })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pooltag-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn layering_order_and_which_layer_answers() {
        let f1 = tmp("f1.txt", "Aaaa - flag1.sys - \n");
        let f2 = tmp("f2.txt", "Aaaa - flag2.sys - \nBbbb - flag2.sys - \n");
        let e1 = tmp("e1.txt", "Bbbb - env1.sys - \nCccc - env1.sys - \n");
        let e2 = tmp("e2.txt", "Cccc - env2.sys - \nDddd - env2.sys - \n");
        let wd = tmp(
            "wd.txt",
            "Dddd - windbg.sys - \nEeee - windbg.sys - \nbad line\n",
        );
        let env = std::env::join_paths([&e1, &e2]).unwrap();
        let opts = LoadOptions {
            files: vec![f1.clone(), f2.clone()],
            env: Some(env),
            windbg: WinDbgSearch::Paths(vec![tmp_missing(), wd.clone()]),
            embedded: true,
        };
        let (l, notes) = TagLookup::load(&opts).unwrap();
        let kinds: Vec<_> = l.layers().iter().map(|d| d.source().kind()).collect();
        assert_eq!(kinds, ["file", "file", "env", "env", "windbg", "embedded"]);
        let who = |t: &str| {
            let a = l.lookup(t.parse().unwrap()).unwrap();
            (a.first().binary.clone(), a.source().clone())
        };
        assert_eq!(who("Aaaa"), ("flag1.sys".into(), Source::File(f1)));
        assert_eq!(who("Bbbb"), ("flag2.sys".into(), Source::File(f2)));
        assert_eq!(who("Cccc"), ("env1.sys".into(), Source::Env(e1)));
        assert_eq!(who("Dddd"), ("env2.sys".into(), Source::Env(e2)));
        assert_eq!(
            who("Eeee"),
            ("windbg.sys".into(), Source::WinDbg(wd.clone()))
        );
        // A tag only the embedded file names (the kernel's own `MmSt` is in it).
        assert_eq!(who("MmSt").1, Source::Embedded);
        assert_eq!(l.lookup_all("Aaaa".parse().unwrap()).count(), 2);
        assert!(l.lookup("\\x00\\x01zz".parse().unwrap()).is_none());
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with(&format!("windbg {} line 3:", wd.display())),
            "{notes:?}"
        );
    }

    fn tmp_missing() -> PathBuf {
        std::env::temp_dir().join("pooltag-test-does-not-exist/pooltag.txt")
    }

    #[test]
    fn missing_flag_file_is_an_error_missing_env_file_a_note() {
        let opts = LoadOptions {
            files: vec![tmp_missing()],
            ..LoadOptions::default()
        };
        let err = TagLookup::load(&opts).unwrap_err();
        assert!(err.to_string().contains("does-not-exist"), "{err}");
        let opts = LoadOptions {
            env: Some(tmp_missing().into_os_string()),
            ..LoadOptions::default()
        };
        let (l, notes) = TagLookup::load(&opts).unwrap();
        assert!(l.layers().is_empty());
        assert!(notes[0].starts_with(POOLTAG_ENV), "{notes:?}");
    }

    #[test]
    fn extension_path_leads_to_the_triage_folder() {
        let v = OsString::from("/dbg/x64/winext; ;/other");
        let c = extension_path_candidates(&v);
        assert!(c.contains(&PathBuf::from("/dbg/x64/winext/pooltag.txt")));
        assert!(c.contains(&PathBuf::from("/dbg/x64/winext/triage/pooltag.txt")));
        assert!(c.contains(&PathBuf::from("/dbg/x64/triage/pooltag.txt")));
        assert!(c.contains(&PathBuf::from("/other/triage/pooltag.txt")));
        assert_eq!(c.len(), 6, "the empty entry is skipped: {c:?}");
    }

    #[test]
    fn windbg_candidates_cover_the_kits_paths() {
        let env = |v: &str| match v {
            "ProgramFiles(x86)" => Some(OsString::from("PF86")),
            "ProgramFiles" => Some(OsString::from("PF")),
            "ProgramW6432" => Some(OsString::from("PF")),
            _ => None,
        };
        let c = windbg_candidates(env);
        let first: PathBuf = [
            "PF86",
            "Windows Kits",
            "10",
            "Debuggers",
            "x64",
            "triage",
            "pooltag.txt",
        ]
        .iter()
        .collect();
        assert!(c.contains(&first));
        assert!(c[0].starts_with(["PF86", "Windows Kits", "10"].iter().collect::<PathBuf>()));
        let old: PathBuf = [
            "PF",
            "Debugging Tools for Windows (x64)",
            "triage",
            "pooltag.txt",
        ]
        .iter()
        .collect();
        assert!(c.contains(&old));
        // Two distinct roots, three kits, three arches, plus two old packages per root.
        assert_eq!(c.len(), 2 * 3 * 3 + 2 * 2);
        assert!(windbg_candidates(|_| None).is_empty());
    }
}
