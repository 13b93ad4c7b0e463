//! WinDbg's symbol path, and symbols on demand from a symbol server.
//!
//! The syntax is the one Microsoft documents for `_NT_SYMBOL_PATH` and `.sympath` ("Symbol path
//! for Windows debuggers", "Using SymSrv"): elements separated by `;`, each one of
//!
//! * `srv*URL` — a symbol server with the default downstream store (the cache);
//! * `srv*CACHE*URL` (and `srv*CACHE1*CACHE2*URL`) — a server with explicit downstream stores; the
//!   first store is where downloads go, every store is searched first;
//! * `symsrv*symsrv.dll*CACHE*URL` — the same, naming the DLL (ignored here);
//! * `cache*DIR` — the downstream store for the `srv*URL` elements that follow it (`cache*` alone:
//!   the default cache);
//! * anything else — a plain folder (or file), searched as it is.
//!
//! The default cache (used for `srv*URL` without a store and `cache*` without a folder) is
//! `POOLDBG_SYMBOL_CACHE` when set, else `%LOCALAPPDATA%\pooldbg\symbols` on Windows,
//! `$XDG_CACHE_HOME/pooldbg/symbols` or `~/.cache/pooldbg/symbols` elsewhere. (WinDbg's own default,
//! `C:\ProgramData\Dbg\sym`, is a Windows path; pooldbg keeps its cache per user on every system.)
//!
//! A store's layout is `NAME.pdb/<GUID><AGE>/NAME.pdb` (GUID as 32 hex digits, age in hex: see
//! [`PdbId::store_key`]). A server answers a request for that path with the file itself; or, where
//! only the compressed form is stored, a 404 for it and the cabinet `NAME.pd_` (the last letter
//! replaced by `_`, "Using SymSrv": "compressed files"); or `file.ptr` in the key folder, whose
//! text is `PATH:<where the file is>` or `MSG:<why there is none>` (SymSrv's "file pointers").
//! The download code ([`fetch`]) is behind the cargo feature `symsrv`; without it a `srv*` element
//! only searches its local stores.

use std::path::{Path, PathBuf};

use crate::PdbId;

/// One element of a symbol path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElement {
    /// A plain folder or file.
    Local(PathBuf),
    /// A symbol server and the local stores searched before it; downloads go to `stores[0]`.
    Server {
        /// The downstream stores, the first being the cache.
        stores: Vec<PathBuf>,
        /// True when `stores` was not given and is the default cache (or a preceding `cache*DIR`).
        default_cache: bool,
        /// The server's base URL (`https://msdl.microsoft.com/download/symbols`).
        url: String,
    },
    /// A downstream store named by `cache*DIR` (also searched as a local store).
    Cache(PathBuf),
}

/// True when `s` names a server (`http://`, `https://`) rather than a folder.
fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// True when a `--symbols` value is written in symbol-path syntax (`srv*`, `cache*`, `symsrv*`
/// elements, or `;` between elements) rather than as one path.
pub fn is_symbol_path(value: &str) -> bool {
    let l = value.trim_start().to_ascii_lowercase();
    l.starts_with("srv*") || l.starts_with("cache*") || l.starts_with("symsrv*") || l.contains(';')
}

/// The default cache: see the module documentation. `None` when no home folder is known.
pub fn default_cache() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("POOLDBG_SYMBOL_CACHE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    if cfg!(windows)
        && let Some(v) = std::env::var_os("LOCALAPPDATA").filter(|v| !v.is_empty())
    {
        return Some(PathBuf::from(v).join("pooldbg").join("symbols"));
    }
    if let Some(v) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v).join("pooldbg").join("symbols"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("pooldbg")
            .join("symbols")
    })
}

/// Parses a symbol path into its elements, in order. `default` is the cache used by `srv*URL` and
/// `cache*` (pass [`default_cache`]); an element that needs it when it is `None` is dropped.
pub fn parse(value: &str, default: Option<&Path>) -> Vec<PathElement> {
    let mut out = Vec::new();
    // A `cache*DIR` element sets the store of the `srv*URL` elements after it.
    let mut cache: Option<PathBuf> = None;
    for element in value.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parts: Vec<&str> = element.split('*').map(str::trim).collect();
        let head = parts
            .first()
            .map(|h| h.to_ascii_lowercase())
            .unwrap_or_default();
        let rest: &[&str] = match head.as_str() {
            "srv" | "cache" => &parts[1..],
            "symsrv" => parts.get(2..).unwrap_or(&[]),
            _ => {
                out.push(PathElement::Local(PathBuf::from(element)));
                continue;
            }
        };
        let rest: Vec<&str> = rest.iter().copied().filter(|p| !p.is_empty()).collect();
        if head == "cache" {
            let dir = rest
                .first()
                .map(PathBuf::from)
                .or_else(|| default.map(Path::to_path_buf));
            if let Some(d) = dir {
                out.push(PathElement::Cache(d.clone()));
                cache = Some(d);
            }
            continue;
        }
        let (url, stores): (Option<&str>, Vec<PathBuf>) = match rest.split_last() {
            Some((last, before)) if is_url(last) => {
                (Some(*last), before.iter().map(PathBuf::from).collect())
            }
            _ => (None, rest.iter().map(PathBuf::from).collect()),
        };
        match url {
            Some(url) => {
                let default_cache = stores.is_empty();
                let stores = if default_cache {
                    cache
                        .clone()
                        .or_else(|| default.map(Path::to_path_buf))
                        .into_iter()
                        .collect()
                } else {
                    stores
                };
                if stores.is_empty() {
                    continue;
                }
                out.push(PathElement::Server {
                    stores,
                    default_cache,
                    url: Some(url.trim_end_matches('/'))
                        .filter(|u| is_url(u))
                        .unwrap_or(url)
                        .to_string(),
                });
            }
            // `srv*DIR` with no server: a local store.
            None => out.extend(stores.into_iter().map(PathElement::Local)),
        }
    }
    out
}

/// Where a PDB goes in a store: `STORE/NAME/<GUID><AGE>/NAME`.
pub fn store_path(store: &Path, id: &PdbId) -> PathBuf {
    store.join(&id.name).join(id.store_key()).join(&id.name)
}

/// The compressed name a server keeps: the last character replaced by `_` (`ntkrnlmp.pd_`).
pub fn compressed_name(name: &str) -> String {
    let mut s = name.to_string();
    if s.pop().is_some() {
        s.push('_');
    }
    s
}

/// Settings for a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Connecting, and waiting for the answer's header, each at most this long.
    pub timeout: std::time::Duration,
    /// No byte of the body for this long: the transfer is given up.
    pub read_timeout: std::time::Duration,
    /// Retries after a failure that may pass (timeout, connection reset, 5xx); 404 is final.
    pub retries: u32,
    /// The largest file accepted (a kernel PDB is tens of MiB).
    pub max_bytes: u64,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig {
            timeout: std::time::Duration::from_secs(20),
            read_timeout: std::time::Duration::from_secs(30),
            retries: 2,
            max_bytes: 1 << 30,
        }
    }
}

/// Why a download gave no file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server has none of the file, its `.pd_` or a `file.ptr` (404 for all three).
    #[error(
        "{url}: the server has no {name} for {key} (404 for the file, its compressed form and file.ptr)"
    )]
    NotFound {
        /// The key folder's URL.
        url: String,
        /// The PDB's name.
        name: String,
        /// GUID and age.
        key: String,
    },
    /// The server could not be reached (no network, DNS failure, refused, timed out).
    #[error(
        "{url}: cannot reach the symbol server ({why}); offline? Nothing was downloaded; a PDB already in the cache is used without the network"
    )]
    Unreachable {
        /// The URL asked.
        url: String,
        /// The client's error.
        why: String,
    },
    /// The server answered with an error status other than 404.
    #[error("{url}: the server answered HTTP {status}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
    },
    /// `file.ptr` said `MSG:` (the server's reason there is no file).
    #[error("{url}: the server says: {message}")]
    Message {
        /// The `file.ptr` URL.
        url: String,
        /// The message.
        message: String,
    },
    /// `file.ptr` was not understood, or its `PATH:` could not be read.
    #[error("{url}: file.ptr: {why}")]
    Pointer {
        /// The `file.ptr` URL.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The `.pd_` was not a cabinet holding one file.
    #[error("{url}: not a usable cabinet: {why}")]
    Cabinet {
        /// The `.pd_` URL.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The answer is larger than [`FetchConfig::max_bytes`].
    #[error("{url}: the file is larger than {max} bytes: refused")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: u64,
    },
    /// Writing into the cache failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// This build has no network code (cargo feature `symsrv` off).
    #[error(
        "pooldbg was built without the symbol-server client (cargo feature `symsrv`): {url} not asked"
    )]
    Disabled {
        /// The server that would have been asked.
        url: String,
    },
}

/// Progress of one download: bytes received and the total when the server said it.
pub type ProgressFn = dyn Fn(&str, u64, Option<u64>) + Send + Sync;

/// Downloads `id` from the server at `url` into `store` (standard layout) and returns the file's
/// path. Tries the file, then its compressed `.pd_`, then `file.ptr`; `progress` is called as bytes
/// arrive (with the URL). Writes to a temporary name and renames, so an interrupted download never
/// leaves a partial PDB in the cache.
#[cfg(feature = "symsrv")]
pub fn fetch(
    url: &str,
    store: &Path,
    id: &PdbId,
    cfg: &FetchConfig,
    progress: Option<&ProgressFn>,
) -> Result<PathBuf, FetchError> {
    net::fetch(url, store, id, cfg, progress)
}

/// Without the `symsrv` feature: always [`FetchError::Disabled`].
#[cfg(not(feature = "symsrv"))]
pub fn fetch(
    url: &str,
    _store: &Path,
    _id: &PdbId,
    _cfg: &FetchConfig,
    _progress: Option<&ProgressFn>,
) -> Result<PathBuf, FetchError> {
    Err(FetchError::Disabled {
        url: url.to_string(),
    })
}

#[cfg(feature = "symsrv")]
mod net {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    use super::{FetchConfig, FetchError, ProgressFn, compressed_name, store_path};
    use crate::PdbId;

    /// What one GET gave.
    enum Got {
        /// The body was saved to this file.
        Saved(u64),
        /// 404.
        Missing,
    }

    fn agent(cfg: &FetchConfig) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(cfg.timeout))
            .timeout_recv_response(Some(cfg.timeout))
            .timeout_per_read(Some(cfg.read_timeout))
            .user_agent(concat!("pooldbg/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }

    fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
        move |source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Errors worth another try: the network's, and a server's 5xx.
    fn retryable(e: &FetchError) -> bool {
        matches!(e, FetchError::Unreachable { .. })
            || matches!(e, FetchError::Status { status, .. } if *status >= 500)
    }

    /// One GET into `dest`, retried as [`FetchConfig::retries`] says.
    fn get(
        agent: &ureq::Agent,
        url: &str,
        dest: &Path,
        cfg: &FetchConfig,
        progress: Option<&ProgressFn>,
    ) -> Result<Got, FetchError> {
        let mut attempt = 0;
        loop {
            match get_once(agent, url, dest, cfg, progress) {
                Err(e) if retryable(&e) && attempt < cfg.retries => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(250 << attempt.min(4)));
                }
                other => return other,
            }
        }
    }

    fn get_once(
        agent: &ureq::Agent,
        url: &str,
        dest: &Path,
        cfg: &FetchConfig,
        progress: Option<&ProgressFn>,
    ) -> Result<Got, FetchError> {
        let unreachable = |e: ureq::Error| FetchError::Unreachable {
            url: url.to_string(),
            why: e.to_string(),
        };
        let mut resp = agent.get(url).call().map_err(unreachable)?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(Got::Missing);
        }
        if status != 200 {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        let total = resp.body().content_length();
        if total.is_some_and(|t| t > cfg.max_bytes) {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                max: cfg.max_bytes,
            });
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut file = std::fs::File::create(dest).map_err(io_err(dest))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FetchError::Unreachable {
                        url: url.to_string(),
                        why: format!("transfer broken after {done} bytes: {e}"),
                    });
                }
            };
            done = done.saturating_add(n as u64);
            if done > cfg.max_bytes {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    max: cfg.max_bytes,
                });
            }
            file.write_all(&buf[..n]).map_err(io_err(dest))?;
            if let Some(p) = progress {
                p(url, done, total);
            }
        }
        if total.is_some_and(|t| t != done) {
            return Err(FetchError::Unreachable {
                url: url.to_string(),
                why: format!("transfer ended after {done} of {total:?} bytes"),
            });
        }
        file.flush().map_err(io_err(dest))?;
        Ok(Got::Saved(done))
    }

    /// Extracts the single file of the cabinet `cab_path` into `dest`.
    fn uncab(url: &str, cab_path: &Path, dest: &Path) -> Result<(), FetchError> {
        let bad = |why: String| FetchError::Cabinet {
            url: url.to_string(),
            why,
        };
        let file = std::fs::File::open(cab_path).map_err(io_err(cab_path))?;
        let mut cabinet = cab::Cabinet::new(file).map_err(|e| bad(e.to_string()))?;
        let names: Vec<String> = cabinet
            .folder_entries()
            .flat_map(|f| f.file_entries().map(|e| e.name().to_string()))
            .collect();
        let [name] = names.as_slice() else {
            return Err(bad(format!("{} files in it, expected one", names.len())));
        };
        let mut reader = cabinet.read_file(name).map_err(|e| bad(e.to_string()))?;
        let mut out = std::fs::File::create(dest).map_err(io_err(dest))?;
        std::io::copy(&mut reader, &mut out).map_err(|e| bad(format!("{name}: {e}")))?;
        Ok(())
    }

    pub(super) fn fetch(
        url: &str,
        store: &Path,
        id: &PdbId,
        cfg: &FetchConfig,
        progress: Option<&ProgressFn>,
    ) -> Result<PathBuf, FetchError> {
        let dest = store_path(store, id);
        let dir = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| store.to_path_buf());
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tmp = dir.join(format!(".{}.download-{}", id.name, std::process::id()));
        let result = fetch_into(url, id, &dest, &tmp, cfg, progress);
        let _ = std::fs::remove_file(&tmp);
        result.map(|()| dest)
    }

    fn fetch_into(
        url: &str,
        id: &PdbId,
        dest: &Path,
        tmp: &Path,
        cfg: &FetchConfig,
        progress: Option<&ProgressFn>,
    ) -> Result<(), FetchError> {
        let agent = agent(cfg);
        let key_url = format!("{url}/{}/{}", id.name, id.store_key());
        let rename = |from: &Path| std::fs::rename(from, dest).map_err(io_err(dest));
        // 1. The file itself.
        if let Got::Saved(_) = get(
            &agent,
            &format!("{key_url}/{}", id.name),
            tmp,
            cfg,
            progress,
        )? {
            return rename(tmp);
        }
        // 2. Its compressed form, a cabinet.
        let cab_url = format!("{key_url}/{}", compressed_name(&id.name));
        if let Got::Saved(_) = get(&agent, &cab_url, tmp, cfg, progress)? {
            let plain = tmp.with_extension("uncab");
            let r = uncab(&cab_url, tmp, &plain).and_then(|()| rename(&plain));
            let _ = std::fs::remove_file(&plain);
            return r;
        }
        // 3. file.ptr: PATH:<file> or MSG:<text>.
        let ptr_url = format!("{key_url}/file.ptr");
        if let Got::Saved(n) = get(&agent, &ptr_url, tmp, cfg, None)? {
            let bad = |why: String| FetchError::Pointer {
                url: ptr_url.clone(),
                why,
            };
            if n > 64 * 1024 {
                return Err(bad(format!("{n} bytes, expected one short line")));
            }
            let text = std::fs::read_to_string(tmp).map_err(|e| bad(e.to_string()))?;
            let line = text.trim();
            if let Some(m) = strip_prefix_ci(line, "MSG:") {
                return Err(FetchError::Message {
                    url: ptr_url.clone(),
                    message: m.trim().to_string(),
                });
            }
            let Some(target) = strip_prefix_ci(line, "PATH:").map(str::trim) else {
                return Err(bad(format!("{line:?}: expected PATH: or MSG:")));
            };
            if super::is_url(target) {
                return match get(&agent, target, tmp, cfg, progress)? {
                    Got::Saved(_) => rename(tmp),
                    Got::Missing => Err(bad(format!("{target}: 404"))),
                };
            }
            let source = Path::new(target);
            let copy_to = tmp.with_extension("ptr-copy");
            let r = std::fs::copy(source, &copy_to)
                .map_err(|e| bad(format!("{target}: {e}")))
                .and_then(|_| rename(&copy_to));
            let _ = std::fs::remove_file(&copy_to);
            return r;
        }
        Err(FetchError::NotFound {
            url: key_url,
            name: id.name.clone(),
            key: id.store_key(),
        })
    }

    fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        let head = s.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &s[prefix.len()..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windbg_symbol_paths_parse_into_elements() {
        let d = Path::new("/def");
        let e = parse(
            "srv*C:\\Symbols*https://msdl.microsoft.com/download/symbols/; cache*/tmp/c ;/opt/syms;\
             symsrv*symsrv.dll*/s2*http://x;srv*http://y;srv*/a*/b*https://z;cache*;srv*https://w;srv*/local",
            Some(d),
        );
        assert_eq!(
            e,
            vec![
                PathElement::Server {
                    stores: vec!["C:\\Symbols".into()],
                    default_cache: false,
                    url: "https://msdl.microsoft.com/download/symbols".into()
                },
                PathElement::Cache("/tmp/c".into()),
                PathElement::Local("/opt/syms".into()),
                PathElement::Server {
                    stores: vec!["/s2".into()],
                    default_cache: false,
                    url: "http://x".into()
                },
                // After cache*/tmp/c, srv*URL downloads there.
                PathElement::Server {
                    stores: vec!["/tmp/c".into()],
                    default_cache: true,
                    url: "http://y".into()
                },
                PathElement::Server {
                    stores: vec!["/a".into(), "/b".into()],
                    default_cache: false,
                    url: "https://z".into()
                },
                PathElement::Cache("/def".into()),
                PathElement::Server {
                    stores: vec!["/def".into()],
                    default_cache: true,
                    url: "https://w".into()
                },
                PathElement::Local("/local".into()),
            ]
        );
        // A bare scheme keeps its slashes (still a URL).
        assert_eq!(
            parse("srv*/c*http://", None),
            vec![PathElement::Server {
                stores: vec!["/c".into()],
                default_cache: false,
                url: "http://".into()
            }]
        );
        // No default cache known: srv*URL is dropped rather than downloading nowhere.
        assert!(parse("srv*https://w", None).is_empty());
        assert!(parse("", Some(d)).is_empty());
    }

    #[test]
    fn symbol_path_syntax_is_told_from_a_plain_path() {
        assert!(is_symbol_path("srv*c*https://x"));
        assert!(is_symbol_path("SRV*https://x"));
        assert!(is_symbol_path("cache*/c"));
        assert!(is_symbol_path("/a;/b"));
        assert!(!is_symbol_path("/opt/symbols"));
        assert!(!is_symbol_path("C:\\sym\\ntkrnlmp.pdb"));
    }

    #[test]
    fn store_layout_and_compressed_names() {
        let id = PdbId {
            name: "ntkrnlmp.pdb".into(),
            guid: "BBED7C2955FBE4522AAA23F4B8677AD9".into(),
            age: 0x1a,
        };
        assert_eq!(
            store_path(Path::new("/c"), &id),
            PathBuf::from("/c/ntkrnlmp.pdb/BBED7C2955FBE4522AAA23F4B8677AD91A/ntkrnlmp.pdb")
        );
        assert_eq!(compressed_name("ntkrnlmp.pdb"), "ntkrnlmp.pd_");
        assert_eq!(compressed_name(""), "");
    }
}
