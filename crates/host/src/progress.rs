//! A spinner on stderr for commands that take longer than about a second (terminal, text, no -q).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner that appears after one second and is cleared when dropped.
#[derive(Debug)]
pub struct Spinner {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts the timer for a spinner labelled `what`.
    pub fn start(what: &str) -> Spinner {
        let (tx, rx) = mpsc::channel::<()>();
        let label = what.to_string();
        let thread = std::thread::spawn(move || {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {msg} ({elapsed}; Ctrl-C cancels)")
            {
                bar.set_style(style);
            }
            bar.set_message(label);
            bar.enable_steady_tick(Duration::from_millis(120));
            let _ = rx.recv();
            bar.finish_and_clear();
        });
        Spinner {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
