//! Reading `!poolused` results (the JSON object `--format json` prints, CONTRACT.md "Output") into
//! typed rows. Results come from files and other programs: every field is checked, a bad one is an
//! error naming the row and the field, never a panic.

use std::fmt;

use serde_json::Value;

/// The most rows one result may hold (a tracker table has at most 0x10000 entries per table; tags
/// are four bytes, so a real result is far below this).
pub const MAX_ROWS: usize = 1 << 20;

/// A result that is not a `!poolused` result pooldbg can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Which input (its label: a dump's path, a file name).
    pub input: String,
    /// What was wrong, naming the row and field.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.input, self.message)
    }
}

impl std::error::Error for InputError {}

/// The outstanding-use counters of one key (a tag or a driver) in one dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Nonpaged allocations outstanding (allocs − frees, as `!poolused` text shows).
    pub nonpaged_allocs: i64,
    /// Nonpaged bytes in use.
    pub nonpaged_bytes: i64,
    /// Paged allocations outstanding.
    pub paged_allocs: i64,
    /// Paged bytes in use.
    pub paged_bytes: i64,
}

impl Counters {
    /// Adds `o` (saturating: counters from a dump may be anything).
    pub fn add(&mut self, o: &Counters) {
        self.nonpaged_allocs = self.nonpaged_allocs.saturating_add(o.nonpaged_allocs);
        self.nonpaged_bytes = self.nonpaged_bytes.saturating_add(o.nonpaged_bytes);
        self.paged_allocs = self.paged_allocs.saturating_add(o.paged_allocs);
        self.paged_bytes = self.paged_bytes.saturating_add(o.paged_bytes);
    }

    /// `self − o`, saturating.
    pub fn minus(&self, o: &Counters) -> Counters {
        Counters {
            nonpaged_allocs: self.nonpaged_allocs.saturating_sub(o.nonpaged_allocs),
            nonpaged_bytes: self.nonpaged_bytes.saturating_sub(o.nonpaged_bytes),
            paged_allocs: self.paged_allocs.saturating_sub(o.paged_allocs),
            paged_bytes: self.paged_bytes.saturating_sub(o.paged_bytes),
        }
    }

    /// Bytes of both pools.
    pub fn bytes(&self) -> i64 {
        self.nonpaged_bytes.saturating_add(self.paged_bytes)
    }

    /// Allocations of both pools.
    pub fn allocs(&self) -> i64 {
        self.nonpaged_allocs.saturating_add(self.paged_allocs)
    }
}

/// A loaded driver image that holds a tag's bytes (`!poolused 100`'s `image_candidates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The image's file name (`leaky.sys`).
    pub module: String,
    /// Occurrences of the tag in it.
    pub hits: u64,
}

/// One `!poolused` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// The tag as `!poolused` prints it (four characters, `\xNN` escapes).
    pub tag: String,
    /// Outstanding use.
    pub counters: Counters,
    /// The raw tracker counters: nonpaged allocs, frees, paged allocs, frees (for the driver view).
    pub raw: [u64; 4],
    /// The owner column of pooltag.txt, when a layer knows the tag.
    pub binary: Option<String>,
    /// The driver images holding the tag (flag 0x100), `None` when not searched.
    pub candidates: Option<Vec<Candidate>>,
}

/// One dump's `!poolused` result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolUsage {
    /// A name for the dump (its path).
    pub label: String,
    /// The kernel build (`target.build`), when the result says it.
    pub build: Option<u64>,
    /// Where the counters came from (`summary.source`: `tracker tables` or `scan`).
    pub source: Option<String>,
    /// The rows.
    pub rows: Vec<TagRow>,
    /// The result's own warnings.
    pub warnings: Vec<String>,
}

fn err(input: &str, message: String) -> InputError {
    InputError {
        input: input.to_string(),
        message,
    }
}

fn count(
    row: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
    input: &str,
) -> Result<u64, InputError> {
    match row.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            err(
                input,
                format!("{at}: `{key}` is {v}, expected a count (a non-negative integer)"),
            )
        }),
    }
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl PoolUsage {
    /// Reads a `!poolused` result object (`{"command": "!poolused", "target": {...}, "rows": [...],
    /// "summary": {...}, "warnings": [...]}`); `label` names it in errors and output.
    pub fn from_json(label: &str, result: &Value) -> Result<PoolUsage, InputError> {
        let obj = result.as_object().ok_or_else(|| {
            err(
                label,
                "expected a JSON object (one `!poolused` result)".into(),
            )
        })?;
        if let Some(e) = obj.get("error").and_then(Value::as_str) {
            return Err(err(
                label,
                format!("the `!poolused` result is an error: {e}"),
            ));
        }
        match obj.get("command").and_then(Value::as_str) {
            Some("!poolused") | None => {}
            Some(other) => {
                return Err(err(
                    label,
                    format!("`command` is {other:?}, expected \"!poolused\""),
                ));
            }
        }
        let rows = obj
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| err(label, "`rows` is missing or not an array".into()))?;
        if rows.len() > MAX_ROWS {
            return Err(err(
                label,
                format!("{} rows, at most {MAX_ROWS} expected", rows.len()),
            ));
        }
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let at = format!("row {i}");
            let r = r
                .as_object()
                .ok_or_else(|| err(label, format!("{at}: expected an object")))?;
            let tag = r
                .get("tag")
                .and_then(Value::as_str)
                .ok_or_else(|| err(label, format!("{at}: `tag` is missing or not a string")))?
                .to_string();
            let at = format!("row {i} (tag {tag:?})");
            let raw = [
                count(r, "nonpaged_allocs", &at, label)?,
                count(r, "nonpaged_frees", &at, label)?,
                count(r, "paged_allocs", &at, label)?,
                count(r, "paged_frees", &at, label)?,
            ];
            let counters = Counters {
                nonpaged_allocs: signed(raw[0]).saturating_sub(signed(raw[1])),
                nonpaged_bytes: signed(count(r, "nonpaged_bytes", &at, label)?),
                paged_allocs: signed(raw[2]).saturating_sub(signed(raw[3])),
                paged_bytes: signed(count(r, "paged_bytes", &at, label)?),
            };
            let binary = match r.get("binary") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => {
                    return Err(err(
                        label,
                        format!("{at}: `binary` is {v}, expected a string or null"),
                    ));
                }
            };
            let candidates = match r.get("image_candidates") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => {
                    let mut c = Vec::with_capacity(a.len().min(1024));
                    for h in a {
                        let module = h.get("module").and_then(Value::as_str).ok_or_else(|| {
                            err(
                                label,
                                format!("{at}: an `image_candidates` entry has no `module` string"),
                            )
                        })?;
                        let hits = h.get("hits").and_then(Value::as_u64).unwrap_or(0);
                        c.push(Candidate {
                            module: module.to_string(),
                            hits,
                        });
                    }
                    Some(c)
                }
                Some(v) => {
                    return Err(err(
                        label,
                        format!("{at}: `image_candidates` is {v}, expected an array or null"),
                    ));
                }
            };
            out.push(TagRow {
                tag,
                counters,
                raw,
                binary,
                candidates,
            });
        }
        let warnings = obj
            .get("warnings")
            .and_then(Value::as_array)
            .map(|w| {
                w.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(PoolUsage {
            label: label.to_string(),
            build: obj
                .get("target")
                .and_then(|t| t.get("build"))
                .and_then(Value::as_u64),
            source: obj
                .get("summary")
                .and_then(|s| s.get("source"))
                .and_then(Value::as_str)
                .map(str::to_string),
            rows: out,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_result_and_names_bad_fields() {
        let r = json!({"command": "!poolused", "target": {"build": 7601},
            "summary": {"source": "tracker tables"},
            "rows": [{"tag": "Leak", "nonpaged_allocs": 5, "nonpaged_frees": 2, "nonpaged_bytes": 0x600,
                      "paged_allocs": 0, "paged_frees": 0, "paged_bytes": 0, "binary": null,
                      "image_candidates": [{"module": "leaky.sys", "hits": 1}]}]});
        let u = PoolUsage::from_json("a.dmp", &r).unwrap();
        assert_eq!(u.build, Some(7601));
        assert_eq!(u.rows[0].counters.nonpaged_allocs, 3);
        assert_eq!(
            u.rows[0].candidates.as_ref().unwrap()[0].module,
            "leaky.sys"
        );
        let bad = json!({"rows": [{"tag": "Leak", "paged_bytes": -1}]});
        let e = PoolUsage::from_json("b.json", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.json") && e.contains("row 0") && e.contains("paged_bytes"),
            "{e}"
        );
        let vm = json!({"command": "!vm", "rows": []});
        assert!(
            PoolUsage::from_json("c", &vm)
                .unwrap_err()
                .message
                .contains("!poolused")
        );
    }
}
