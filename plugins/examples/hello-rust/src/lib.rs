//! An example pooldbg plugin in Rust: `!hello [TAG]`.
//!
//! It shows the parts a real command uses: target facts, a virtual read that may fail (and says
//! why), a symbol lookup that names its source, a pool tag lookup, a warning, a JSON row. Copy this
//! crate to start a plugin; docs/PLUGINS.md walks through it.

// `export_plugin!` allows its own audited unsafe (the ABI entry point); nothing else here may.
#![deny(unsafe_code)]

use plugin_sdk::{Command, CommandError, Output, Target, TargetExt, hex};
use serde_json::json;

/// `!hello [TAG]`: greets the target.
#[derive(Debug, Default)]
pub struct Hello;

impl Command for Hello {
    fn name(&self) -> &'static str {
        "hello"
    }

    fn summary(&self) -> &'static str {
        "say hello to the target: its version, the kernel image's first bytes, a pool tag"
    }

    fn usage(&self) -> &'static str {
        "!hello [TAG]   e.g. !hello Proc"
    }

    fn run(&self, target: &dyn Target, args: &str, out: &mut Output) -> Result<(), CommandError> {
        let tag = match args.trim() {
            "" => None,
            t if t.len() <= 4 && t.is_ascii() => {
                // Tags are four bytes, space-padded.
                let mut b = *b"    ";
                b[..t.len()].copy_from_slice(t.as_bytes());
                Some(b)
            }
            t => {
                return Err(CommandError::Usage(format!(
                    "{} (a tag is 1 to 4 ASCII characters, not {t:?})",
                    self.usage()
                )));
            }
        };
        let info = target.info();
        let mut row = json!({
            "arch": info.arch.name(),
            "build": info.build,
            "version": info.version,
            "dump_type": info.dump_type,
            "kernel_base": hex(info.kernel_base),
        });
        // A read that cannot be satisfied is an answer, not a failure: say why.
        let mut magic = [0u8; 2];
        row["kernel_magic"] = match target.read_virtual_exact(info.kernel_base, &mut magic) {
            Ok(()) => json!(String::from_utf8_lossy(&magic)),
            Err(e) => {
                out.warn(format!("kernel image: {e}"));
                json!(null)
            }
        };
        if let Some(s) = target.symbol_address("nt!PsLoadedModuleList") {
            row["loaded_module_list"] = json!(hex(s.value));
            row["loaded_module_list_source"] = json!(s.source.name());
        }
        if let Some(tag) = tag {
            row["tag"] = json!(String::from_utf8_lossy(&tag));
            match target.pool_tag(tag) {
                Some(t) => {
                    row["binary"] = json!(t.binary);
                    row["description"] = json!(t.description);
                }
                None => out.warn(format!("tag {:?} is not in the tag database", args.trim())),
            }
        }
        out.row(row);
        Ok(())
    }
}

plugin_sdk::export_plugin!(
    name: "example-hello",
    version: env!("CARGO_PKG_VERSION"),
    commands: [Hello],
);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::{Arch, MemoryTarget, ReadStatus, Source, TargetInfo};

    fn info() -> TargetInfo {
        TargetInfo {
            arch: Arch::X64,
            build: 19041,
            version: "10.0.19041".into(),
            dump_type: "full".into(),
            kernel_base: 0xfffff800_02a00000,
            pointer_size: 8,
            processors: 2,
        }
    }

    #[test]
    fn greets_a_target_with_everything() {
        let t = MemoryTarget::new(info())
            .with_virtual(0xfffff800_02a00000, b"MZ")
            .with_symbol(
                "PsLoadedModuleList",
                0xfffff800_02c00000,
                Source::EmbeddedProfile,
            )
            .with_tag(*b"Proc", "nt!ps", "Process objects");
        let mut out = Output::new();
        Hello.run(&t, " Proc ", &mut out).unwrap();
        let row = &out.rows()[0];
        assert_eq!(row["kernel_magic"], "MZ");
        assert_eq!(row["kernel_base"], "0xfffff80002a00000");
        assert_eq!(row["loaded_module_list_source"], "embedded profile");
        assert_eq!(row["binary"], "nt!ps");
        assert!(out.warnings().is_empty());
    }

    #[test]
    fn an_unreadable_kernel_is_a_warning_not_a_failure() {
        let t = MemoryTarget::new(info()).with_virtual_status(
            0xfffff800_02a00000,
            ReadStatus::PagedOut {
                pagefile: 0,
                offset: 0x1000,
            },
        );
        let mut out = Output::new();
        Hello.run(&t, "Ab", &mut out).unwrap();
        assert_eq!(out.rows()[0]["kernel_magic"], serde_json::Value::Null);
        assert_eq!(out.rows()[0]["tag"], "Ab  ");
        assert!(out.warnings()[0].contains("paged out (page file 0, offset 0x1000)"));
        assert!(out.warnings()[1].contains("not in the tag database"));
    }

    #[test]
    fn a_long_tag_is_a_usage_error() {
        let mut out = Output::new();
        let e = Hello
            .run(&MemoryTarget::default(), "TooLong", &mut out)
            .unwrap_err();
        assert!(matches!(e, CommandError::Usage(_)), "{e}");
    }
}
