//! The ISF loader on arbitrary JSON, plus dotted-path lookups on whatever it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ntkernel::isf::IsfFile;
use ntkernel::profile::{Mode, Profile, compare};

fuzz_target!(|data: &[u8]| {
    if let Ok(isf) = IsfFile::from_json(data) {
        let t = &isf.table;
        for (ty, _) in ntkernel::profile::WANTED_TYPES {
            let _ = t.type_size(ty);
            let _ = t.field(ty, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r");
        }
        let names: Vec<(String, Vec<String>)> = t
            .types
            .iter()
            .map(|(n, d)| (n.clone(), d.fields.keys().cloned().collect()))
            .collect();
        for (n, fs) in names.iter().take(64) {
            for f in fs.iter().take(16) {
                let _ = t.field(n, f);
                let _ = t.field(n, &format!("{f}.{f}"));
            }
        }
        let p = Profile::extract(t);
        let _ = compare(&p, t, Mode::Exact);
    }
});
