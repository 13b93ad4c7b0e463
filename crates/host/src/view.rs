//! The host commands' view of a [`Session`]: `info`'s row, `lm`'s modules, `!pte`'s walk.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use plugin_sdk::{Target, hex};
use serde_json::{Value, json};

use crate::dispatch::{HostView, ModuleRow};
use crate::session::Session;

impl HostView for Session {
    fn target(&self) -> &dyn Target {
        self
    }

    fn info_row(&self) -> Value {
        let info = Target::info(self);
        let header = self.dump().header();
        let identity = self.kernel().map(|k| &k.identity);
        let opt_hex = |v: Option<u64>| v.map_or(Value::Null, |v| json!(hex(v)));
        json!({
            "arch": info.arch.name(),
            "build": (info.build != 0).then_some(info.build),
            "version": (!info.version.is_empty()).then_some(info.version),
            "kernel_base": opt_hex(identity.and_then(|i| i.kernel_base)),
            "kdbg": opt_hex(identity.and_then(|i| i.kdbg_va).or(header.and_then(|h| h.kd_debugger_data_block))),
            "dtb": opt_hex(
                self.address_space()
                    .map(|s| s.config().dtb)
                    .or(identity.and_then(|i| i.dtb))
                    .or(header.and_then(|h| h.directory_table_base))
            ),
            "dump_type": info.dump_type,
            "processors": (info.processors != 0).then_some(info.processors),
            "bugcheck_code": header.and_then(|h| h.bugcheck_code).map(|c| hex(u64::from(c))),
            "bugcheck_parameters": header.map(|h| {
                h.bugcheck_parameters.iter().map(|p| opt_hex(*p)).collect::<Vec<_>>()
            }),
            "pdb": identity.and_then(|i| i.pdb.as_ref()).map(|p| json!({
                "name": p.name, "guid": p.guid, "age": p.age,
            })),
            "symbol_source": self.symbol_source(),
            "missing_pages": self.dump().missing_pages(),
        })
    }

    fn modules(&self) -> Vec<ModuleRow> {
        Session::modules(self)
            .into_iter()
            .map(|m| ModuleRow {
                name: m.name,
                base: m.base,
                size: m.size,
                path: m.path,
            })
            .collect()
    }

    fn walk(&self, va: u64) -> Result<paging::Walk, String> {
        match self.address_space() {
            Some(space) => Ok(space.walk(va)),
            None => Err(format!(
                "{va:#x}: this dump has no page tables to walk ({})",
                self.dump().kind().describe()
            )),
        }
    }

    fn symbol_source(&self) -> String {
        Session::symbol_source(self)
    }

    /// CONTRACT.md: the text output states the symbol source unless it is exact, and its examples
    /// of "not exact" include an embedded profile: only the user's own PDB or ISF is exact here.
    fn symbols_exact(&self) -> bool {
        use ntkernel::symbols::Source as S;
        Session::symbols_exact(self)
            && self.kernel().is_some_and(|k| {
                k.symbols
                    .sources()
                    .next()
                    .is_some_and(|s| matches!(s, S::UserIsf(_) | S::UserPdb(_)))
            })
    }

    fn cancel_flag(&self) -> Arc<AtomicBool> {
        Session::cancel_flag(self)
    }

    fn notices(&self) -> Vec<String> {
        Session::notices(self).to_vec()
    }

    fn notes(&self) -> Vec<String> {
        Session::notes(self).to_vec()
    }

    fn sources(&self) -> Value {
        json!({
            "symbols": Session::symbol_source(self),
            "symbols_exact": HostView::symbols_exact(self),
            "notes": Session::notes(self),
            "notices": Session::notices(self),
        })
    }
}
