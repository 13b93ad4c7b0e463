//! Progress on stderr for commands that take longer than about a second (terminal, text output, no
//! `-q`): a spinner, which becomes a bar with a count and an ETA as soon as the command reports
//! `done`/`total` through [`report`] (a plugin's `progress` entry, `Target::progress` in-process).
//!
//! The terminal is one per process, so the display is too: [`CommandProgress::start`] makes itself
//! the active display until dropped, and [`report`], callable from any thread, feeds whichever is
//! active (nothing when none is: JSON, `-q`, not a terminal, tests). Reports only store numbers in
//! atomics; a display thread draws them ten times a second, so a scan on every core may report as
//! often as it likes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How long a command runs before anything is drawn.
const DELAY: Duration = Duration::from_secs(1);
/// How often the display is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// What the command last reported.
#[derive(Debug, Default)]
struct Shared {
    done: AtomicU64,
    total: AtomicU64,
    /// Bumped on every report, so the display knows when to redraw.
    reports: AtomicU64,
    label: Mutex<String>,
    /// The command has started writing to the terminal: the display clears itself and stops.
    output: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The active display, if any.
static ACTIVE: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// Feeds the active display: `done` of `total` units (`total` 0: unknown) of the work `label`.
/// Does nothing when no [`CommandProgress`] is active. Callable from any thread.
pub fn report(done: u64, total: u64, label: &str) {
    let active = lock(&ACTIVE).clone();
    let Some(s) = active else { return };
    let mut l = lock(&s.label);
    if *l == label {
        // Workers of a parallel scan report out of order: keep the largest count of one job.
        s.done.fetch_max(done, Ordering::Relaxed);
    } else {
        // A new job (or phase) starts its own count.
        l.clear();
        l.push_str(label);
        s.done.store(done, Ordering::Relaxed);
    }
    s.total.store(total, Ordering::Relaxed);
    s.reports.fetch_add(1, Ordering::Relaxed);
}

/// Tells the active display that the command writes its output to the terminal now: the display
/// clears itself and draws no more (the lines show the progress; a spinner would be drawn over
/// them). Ctrl-C still cancels.
pub fn output_started() {
    if let Some(s) = lock(&ACTIVE).clone() {
        s.output.store(true, Ordering::Relaxed);
    }
}

/// What the active display would show: `(done, total, label)` of the last report, or `None`
/// when no display is active or nothing was reported.
pub fn current() -> Option<(u64, u64, String)> {
    let s = lock(&ACTIVE).clone()?;
    if s.reports.load(Ordering::Relaxed) == 0 {
        return None;
    }
    Some((
        s.done.load(Ordering::Relaxed),
        s.total.load(Ordering::Relaxed),
        lock(&s.label).clone(),
    ))
}

/// The progress display of one command: after a second, a spinner labelled with the command, or
/// a bar once the command reports a total. Cleared when dropped.
#[derive(Debug)]
pub struct CommandProgress {
    shared: Arc<Shared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CommandProgress {
    /// Makes a display for the command `what` the active one (replacing any other) and starts its
    /// timer.
    pub fn start(what: &str) -> CommandProgress {
        let shared = Arc::new(Shared::default());
        *lock(&ACTIVE) = Some(Arc::clone(&shared));
        let (tx, rx) = mpsc::channel::<()>();
        let command = what.to_string();
        let s = Arc::clone(&shared);
        let thread = std::thread::spawn(move || draw(&s, &command, &rx));
        CommandProgress {
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

/// The display thread: waits [`DELAY`], then redraws every [`TICK`] until told to stop.
fn draw(s: &Shared, command: &str, rx: &mpsc::Receiver<()>) {
    match rx.recv_timeout(DELAY) {
        Err(RecvTimeoutError::Timeout) if !s.output.load(Ordering::Relaxed) => {}
        _ => return,
    }
    let bar = ProgressBar::new_spinner();
    let spinner = ProgressStyle::with_template("{spinner} {msg} ({elapsed}; Ctrl-C cancels)").ok();
    let counted = ProgressStyle::with_template(
        "{msg} [{bar:30}] {percent:>3}% ({pos}/{len}, {elapsed}, ETA {eta}; Ctrl-C cancels)",
    )
    .ok()
    .map(|st| st.progress_chars("=> "));
    if let Some(st) = spinner.clone() {
        bar.set_style(st);
    }
    bar.set_message(command.to_string());
    bar.enable_steady_tick(TICK);
    let mut seen = 0;
    let mut is_bar = false;
    while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(TICK) {
        if s.output.load(Ordering::Relaxed) {
            break;
        }
        let reports = s.reports.load(Ordering::Relaxed);
        if reports == seen {
            continue;
        }
        seen = reports;
        let (done, total) = (
            s.done.load(Ordering::Relaxed),
            s.total.load(Ordering::Relaxed),
        );
        let label = lock(&s.label).clone();
        let message = if label.is_empty() {
            command.to_string()
        } else {
            format!("{command}: {label}")
        };
        if total > 0 {
            if !is_bar {
                if let Some(st) = counted.clone() {
                    bar.set_style(st);
                }
                bar.disable_steady_tick();
                is_bar = true;
            }
            bar.set_length(total);
            bar.set_position(done.min(total));
        } else if is_bar {
            if let Some(st) = spinner.clone() {
                bar.set_style(st);
            }
            bar.enable_steady_tick(TICK);
            is_bar = false;
        }
        bar.set_message(message);
    }
    bar.finish_and_clear();
}

impl Drop for CommandProgress {
    fn drop(&mut self) {
        {
            let mut active = lock(&ACTIVE);
            if active
                .as_ref()
                .is_some_and(|a| Arc::ptr_eq(a, &self.shared))
            {
                *active = None;
            }
        }
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for the process-wide state (tests run in parallel threads).
    #[test]
    fn reports_reach_the_active_display_only() {
        report(1, 2, "nobody listens");
        assert_eq!(current(), None);
        {
            let _p = CommandProgress::start("!poolfind Leak");
            assert_eq!(current(), None, "nothing reported yet");
            report(3, 10, "scanning pool pages");
            // A worker that finished an earlier batch reports a smaller count later.
            report(2, 10, "scanning pool pages");
            assert_eq!(current(), Some((3, 10, "scanning pool pages".into())));
            std::thread::scope(|sc| {
                for i in 0..4 {
                    sc.spawn(move || report(4 + i, 10, "scanning pool pages"));
                }
            });
            assert_eq!(current().map(|c| c.0), Some(7));
            report(1, 0, "reading images");
            assert_eq!(
                current(),
                Some((1, 0, "reading images".into())),
                "a new job's count"
            );
        }
        assert_eq!(current(), None, "dropped: no display is active");
        report(5, 5, "after");
        assert_eq!(current(), None);
    }
}

/// The engine's [`pooldbg_engine::progress::Progress`] sink of the pooldbg binary: reports feed
/// the active display ([`report`]); a phase (`symbols` while a symbol server may be asked) starts a
/// [`CommandProgress`] of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalProgress;

impl pooldbg_engine::progress::Progress for TerminalProgress {
    fn report(&self, done: u64, total: u64, label: &str) {
        report(done, total, label);
    }

    fn phase(&self, label: &str) -> Option<Box<dyn std::any::Any>> {
        Some(Box::new(CommandProgress::start(label)))
    }
}

/// [`TerminalProgress`] as the engine's options take it.
pub fn terminal_handle() -> pooldbg_engine::progress::ProgressHandle {
    pooldbg_engine::progress::ProgressHandle::new(Arc::new(TerminalProgress))
}
