//! Names the plugin and command that crashed the process (issue #22).
//!
//! A plugin is native code in pooldbg's process: a segmentation fault in it cannot be caught and
//! survived. What can be done is to say who it was before the process ends. While a plugin command
//! runs, a [`Guard`] holds a message preformatted for it; the handler installed for SIGSEGV, SIGBUS,
//! SIGILL, SIGFPE and SIGABRT (sigaction(2), on the alternate signal stack) only does what is
//! async-signal-safe (signal-safety(7)): it reads two atomics, calls write(2) on standard error (and,
//! when the output is a JSON stream, writes one error object on a line of its own to standard
//! output), restores the action that was there before and re-raises the signal. The process then ends
//! as it would have (exit status 128+signal in a shell, a core dump where enabled), having said
//! which plugin and which command crashed.
//!
//! Outside a plugin command the handler only hands the signal on to the previous action (for
//! instance the Rust runtime's stack-overflow report). Commands run one at a time, so one message
//! slot is enough. On Windows nothing is installed (a structured-exception filter is future work).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// The message parts of the running plugin command: stderr prefix, JSON prefix, JSON suffix (the
/// signal's name goes between a prefix and its suffix).
static TEXT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static TEXT_LEN: AtomicUsize = AtomicUsize::new(0);
static JSON_HEAD: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static JSON_HEAD_LEN: AtomicUsize = AtomicUsize::new(0);
static JSON_TAIL: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static JSON_TAIL_LEN: AtomicUsize = AtomicUsize::new(0);
/// Whether standard output carries a JSON or JSON Lines stream (set by the CLI).
static JSON_STDOUT: AtomicBool = AtomicBool::new(false);

/// Tells the handler that standard output is a JSON stream, so a crash ends it with an error object.
pub fn set_json_stdout(on: bool) {
    JSON_STDOUT.store(on, Ordering::SeqCst);
}

const PLACEHOLDER: &str = "@@POOLDBG_SIGNAL@@";

/// Keeps the crash message of one running plugin command; dropping it clears the message.
#[derive(Debug)]
pub struct Guard {
    // The handler reads these buffers through raw pointers while the guard lives.
    _text: Box<[u8]>,
    _json_head: Box<[u8]>,
    _json_tail: Box<[u8]>,
}

/// The text written to standard error for a crash of `command` in `plugin` (from `path`), up to
/// the signal's name, and the JSON error object split around it.
fn messages(plugin: &str, path: &str, command: &str) -> (String, String, String) {
    let text = format!(
        "\npooldbg: fatal: plugin {plugin} ({path}) crashed while running !{command}: signal "
    );
    let error =
        format!("plugin {plugin} ({path}) crashed while running !{command}: signal {PLACEHOLDER}");
    let json = serde_json::json!({"command": format!("!{command}"), "error": error}).to_string();
    let (head, tail) = match json.rfind(PLACEHOLDER) {
        Some(i) => (
            json[..i].to_string(),
            json[i + PLACEHOLDER.len()..].to_string(),
        ),
        None => (json, String::new()),
    };
    (text, format!("\n{head}"), format!("{tail}\n"))
}

/// Arms the handler with a message naming `plugin` (loaded from `path`) and `command` (without `!`)
/// until the guard is dropped.
pub fn enter(plugin: &str, path: &std::path::Path, command: &str) -> Guard {
    install();
    let (text, head, tail) = messages(plugin, &path.display().to_string(), command);
    let text: Box<[u8]> = text.into_bytes().into_boxed_slice();
    let head: Box<[u8]> = head.into_bytes().into_boxed_slice();
    let tail: Box<[u8]> = tail.into_bytes().into_boxed_slice();
    // Lengths first with the pointer null, then the pointer: the handler reads the pointer first.
    for (p, l, b) in [
        (&TEXT, &TEXT_LEN, &text),
        (&JSON_HEAD, &JSON_HEAD_LEN, &head),
        (&JSON_TAIL, &JSON_TAIL_LEN, &tail),
    ] {
        p.store(std::ptr::null_mut(), Ordering::SeqCst);
        l.store(b.len(), Ordering::SeqCst);
        p.store(b.as_ptr().cast_mut(), Ordering::SeqCst);
    }
    Guard {
        _text: text,
        _json_head: head,
        _json_tail: tail,
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for p in [&TEXT, &JSON_HEAD, &JSON_TAIL] {
            p.store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

#[cfg(unix)]
mod imp {
    use super::*;
    use std::sync::Once;

    const SIGNALS: [(libc::c_int, &str); 5] = [
        (libc::SIGSEGV, "SIGSEGV (invalid memory access)"),
        (libc::SIGBUS, "SIGBUS (bus error)"),
        (libc::SIGILL, "SIGILL (illegal instruction)"),
        (libc::SIGFPE, "SIGFPE (arithmetic exception)"),
        (libc::SIGABRT, "SIGABRT (abort)"),
    ];

    /// The actions that were installed before ours, restored before a signal is handed on.
    static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 5] =
        [const { std::mem::MaybeUninit::uninit() }; 5];
    static INSTALLED: Once = Once::new();
    /// Which entries of PREVIOUS hold a saved action (and so which signals carry our handler).
    static SAVED: [AtomicBool; 5] = [const { AtomicBool::new(false) }; 5];

    fn write_all(fd: libc::c_int, p: *const u8, len: usize) {
        let mut done = 0usize;
        while done < len {
            // SAFETY: `p..p+len` is a live buffer (a guard's, or a static str); write(2) is
            // async-signal-safe.
            let n = unsafe { libc::write(fd, p.add(done).cast(), len - done) };
            if n <= 0 {
                return;
            }
            done += n as usize;
        }
    }

    fn write_atomic(p: &AtomicPtr<u8>, l: &AtomicUsize, fd: libc::c_int) -> bool {
        let ptr = p.load(Ordering::SeqCst);
        if ptr.is_null() {
            return false;
        }
        write_all(fd, ptr, l.load(Ordering::SeqCst));
        true
    }

    extern "C" fn handler(sig: libc::c_int) {
        let index = SIGNALS.iter().position(|(s, _)| *s == sig);
        let name = index.map_or("?", |i| SIGNALS[i].1);
        if write_atomic(&TEXT, &TEXT_LEN, 2) {
            write_all(2, name.as_ptr(), name.len());
            write_all(2, b"\n".as_ptr(), 1);
            if JSON_STDOUT.load(Ordering::SeqCst) && write_atomic(&JSON_HEAD, &JSON_HEAD_LEN, 1) {
                write_all(1, name.as_ptr(), name.len());
                write_atomic(&JSON_TAIL, &JSON_TAIL_LEN, 1);
            }
        }
        if let Some(i) = index.filter(|&i| SAVED[i].load(Ordering::SeqCst)) {
            // SAFETY: PREVIOUS[i] was written by `install` before our handler was set; sigaction
            // and raise are async-signal-safe. The signal is blocked while we run, so the raised one
            // is delivered to the restored action once we return (a fault re-executes as well).
            unsafe {
                let prev = std::ptr::addr_of!(PREVIOUS)
                    .cast::<libc::sigaction>()
                    .add(i);
                libc::sigaction(sig, prev, std::ptr::null_mut());
                libc::raise(sig);
            }
        }
    }

    pub(super) fn install() {
        INSTALLED.call_once(|| {
            for (i, (sig, _)) in SIGNALS.iter().enumerate() {
                // SAFETY: a zeroed sigaction is valid (empty mask, no flags); PREVIOUS is only
                // written here, once, before the handler can run.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = handler as extern "C" fn(libc::c_int) as usize;
                    action.sa_flags = libc::SA_ONSTACK;
                    libc::sigemptyset(&mut action.sa_mask);
                    let prev = std::ptr::addr_of_mut!(PREVIOUS)
                        .cast::<libc::sigaction>()
                        .add(i);
                    if libc::sigaction(*sig, std::ptr::null(), prev) != 0 {
                        continue;
                    }
                    SAVED[i].store(true, Ordering::SeqCst);
                    if libc::sigaction(*sig, &action, std::ptr::null_mut()) != 0 {
                        SAVED[i].store(false, Ordering::SeqCst);
                    }
                }
            }
        });
    }
}

#[cfg(unix)]
use imp::install;

#[cfg(not(unix))]
fn install() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_name_plugin_path_and_command_and_the_json_is_one_object() {
        let (text, head, tail) = messages("evil \"x\"", "/p/libpooldbg_evil.so", "vm");
        assert!(
            text.contains("plugin evil \"x\" (/p/libpooldbg_evil.so)"),
            "{text}"
        );
        assert!(text.contains("!vm"), "{text}");
        let json = format!("{}SIGSEGV{}", head.trim_start(), tail.trim_end());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["command"], "!vm");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .ends_with("crashed while running !vm: signal SIGSEGV"),
            "{v}"
        );
        assert!(head.starts_with('\n') && tail.ends_with('\n'));
    }
}
