//! `poolreport` over arbitrary result JSON (saved `--format json` output a user or a script hands
//! it): reading `!poolused` results, the per-driver fold, the diff by tag and by driver, and the
//! HTML report must never panic, whatever the fields hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolreport::html::{DumpResults, ReportInput, render};
use poolreport::{By, PoolUsage, diff, fold};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let results: Vec<Value> = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let usages: Vec<PoolUsage> = results
        .iter()
        .filter_map(|r| PoolUsage::from_json("fuzz", r).ok())
        .collect();
    for u in &usages {
        let _ = fold(u);
    }
    if usages.len() >= 2 {
        for by in [By::Tag, By::Driver] {
            if let Ok(d) = diff(&usages, by) {
                let _ = d.rows_json();
                let _ = d.summary_json();
            }
        }
    }
    let half = results.len() / 2;
    let _ = render(&ReportInput {
        current: DumpResults { label: "new".into(), results: results[half..].to_vec() },
        previous: Some(DumpResults { label: "old".into(), results: results[..half].to_vec() }),
    });
});
