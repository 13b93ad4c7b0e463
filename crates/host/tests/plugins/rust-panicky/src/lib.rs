//! Test plugin: `!boom` panics, `!calm` works, `!slow` honours cancellation.

use plugin_sdk::serde_json::json;
use plugin_sdk::{Command, CommandError, Output, Target};

struct Boom;
impl Command for Boom {
    fn name(&self) -> &'static str {
        "boom"
    }
    fn summary(&self) -> &'static str {
        "emits a row, then panics"
    }
    fn usage(&self) -> &'static str {
        "!boom"
    }
    fn run(&self, _: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        out.row(json!({"before": "the panic"}));
        let v: Vec<u32> = Vec::new();
        // An index out of bounds, as a real bug would be.
        let i = args.len() + 3;
        out.row(json!({ "never": v[i] }));
        Ok(())
    }
}

struct Calm;
impl Command for Calm {
    fn name(&self) -> &'static str {
        "calm"
    }
    fn summary(&self) -> &'static str {
        "works"
    }
    fn usage(&self) -> &'static str {
        "!calm"
    }
    fn run(&self, t: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        out.row(json!({"args": args, "build": t.info().build}));
        Ok(())
    }
}

/// Never polls its cancel flag: works for 20 s whatever the host says (the prompt's second
/// Ctrl-C abandons it).
struct Stuck;
impl Command for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }
    fn summary(&self) -> &'static str {
        "ignores cancellation for 20 s"
    }
    fn usage(&self) -> &'static str {
        "!stuck"
    }
    fn run(&self, _: &dyn Target, _: &str, out: &mut Output) -> Result<(), CommandError> {
        std::thread::sleep(std::time::Duration::from_secs(20));
        out.row(json!({"finally": true}));
        Ok(())
    }
}

struct Slow;
impl Command for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn summary(&self) -> &'static str {
        "reports progress, stops when cancelled"
    }
    fn usage(&self) -> &'static str {
        "!slow"
    }
    fn run(&self, t: &dyn Target, _: &str, _: &mut Output) -> Result<(), CommandError> {
        for i in 0..10_000 {
            if t.is_cancelled() {
                return Err(CommandError::Cancelled);
            }
            if i % 100 == 0 {
                t.progress(i, 10_000, "waiting");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(CommandError::msg("was never cancelled"))
    }
}

plugin_sdk::export_plugin!(name: "test-panicky", version: "0.0.1", commands: [Boom, Calm, Slow, Stuck]);
