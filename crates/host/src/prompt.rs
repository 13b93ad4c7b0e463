//! The interactive `kd>` prompt (rustyline): line editing, history, tab completion of command
//! names; `q` or Ctrl-D exits, Ctrl-C at the prompt starts a fresh line.

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

/// Completes the command name (the first word of a command; after a `;` too).
#[derive(Debug, Clone, Default)]
pub struct CommandCompleter {
    names: Vec<String>,
}

impl CommandCompleter {
    /// A completer over `names`.
    pub fn new(names: &[String]) -> Self {
        CommandCompleter {
            names: names.to_vec(),
        }
    }

    /// The start of the word at `pos` and the names it may become.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let head = &line[..pos.min(line.len())];
        let cmd_start = head.rfind(';').map_or(0, |i| i + 1);
        let cmd = &head[cmd_start..];
        let word_start = cmd_start + (cmd.len() - cmd.trim_start().len());
        let word = &head[word_start..];
        if word.contains(char::is_whitespace) {
            return (pos, Vec::new());
        }
        let lower = word.to_ascii_lowercase();
        let found = self
            .names
            .iter()
            .filter(|n| n.starts_with(&lower))
            .cloned()
            .collect();
        (word_start, found)
    }
}

impl Completer for CommandCompleter {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: format!("{n} "),
                })
                .collect(),
        ))
    }
}

impl Hinter for CommandCompleter {
    type Hint = String;
}
impl Highlighter for CommandCompleter {}
impl Validator for CommandCompleter {}
impl Helper for CommandCompleter {}

/// Runs the prompt until `q` or Ctrl-D, handing each line to `run`.
pub fn run(names: &[String], mut run: impl FnMut(&str)) {
    let mut editor: Editor<CommandCompleter, rustyline::history::DefaultHistory> =
        match Editor::new() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: cannot start the prompt: {e}");
                return;
            }
        };
    editor.set_helper(Some(CommandCompleter::new(names)));
    loop {
        crate::cli::flush();
        match editor.readline("kd> ") {
            Ok(line) => {
                let trimmed = line.trim();
                if trimmed.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(trimmed);
                if crate::cli::is_quit(trimmed) {
                    break;
                }
                run(trimmed);
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_the_command_word_only() {
        let c =
            CommandCompleter::new(&["!pool".into(), "!poolused".into(), "db".into(), "dd".into()]);
        assert_eq!(
            c.candidates("!po", 3),
            (0, vec!["!pool".into(), "!poolused".into()])
        );
        assert_eq!(
            c.candidates("info; d", 7),
            (6, vec!["db".into(), "dd".into()])
        );
        assert_eq!(c.candidates("db 1000", 7).1, Vec::<String>::new());
        assert_eq!(c.candidates("", 0).1.len(), 4);
    }
}
