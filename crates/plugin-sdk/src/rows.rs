//! Typed rows: a command's row struct and its column list declared in one place (issue #17 item 3).
//!
//! A row travels to the host as a JSON object (the ABI is unchanged: [`crate::Output::row`] takes
//! any [`serde_json::Value`]). A command that declares its rows with [`row!`](crate::row) gets a
//! struct with `Serialize` *and* its [`Row::COLUMNS`], both made from the one field list, so the
//! CSV header ([`crate::Command::columns`]), the JSON keys and — when the command formats its
//! WinDbg text from the same struct — the text cannot drift apart. [`crate::Output::emit`] sends
//! such a row.
//!
//! Why a declarative macro rather than a hand-kept `const COLUMNS` next to the struct: a second
//! list is a second place to forget a field in, and the point of the issue is that there be one.
//! The macro takes the struct exactly as written (attributes, doc comments, `serde` field
//! attributes pass through) and adds only `impl Row` with the field names, in declaration order —
//! which is also the order `#[derive(Serialize)]` writes them. What the macro cannot see (a
//! `#[serde(rename)]`, `flatten`, a hand-written `Serialize`) is what [`check_columns`] catches:
//! run it in a test on a sample of each row type.
//!
//! ```
//! use pooldbg_plugin_sdk::{Output, Row, row};
//! use serde::Serialize;
//!
//! row! {
//!     /// One tag's use.
//!     #[derive(Debug, Serialize)]
//!     pub struct TagRow {
//!         /// The tag.
//!         pub tag: String,
//!         /// Bytes outstanding.
//!         pub bytes: u64,
//!         /// Left out of the JSON when unknown.
//!         #[serde(skip_serializing_if = "Option::is_none")]
//!         pub driver: Option<String>,
//!     }
//! }
//!
//! assert_eq!(TagRow::COLUMNS, ["tag", "bytes", "driver"]);
//! let r = TagRow { tag: "Proc".into(), bytes: 64, driver: None };
//! pooldbg_plugin_sdk::check_columns(&r).unwrap();
//! let mut out = Output::new();
//! out.emit(&r);
//! assert_eq!(out.rows()[0]["bytes"], 64);
//! assert!(out.rows()[0].get("driver").is_none());
//! ```

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// A typed row: `Serialize`s to a JSON object whose keys are [`Row::COLUMNS`], in that order
/// (an optional field may be left out). Declare it with [`row!`](crate::row).
pub trait Row: Serialize {
    /// The row's keys, in order: the CSV header and the table's columns.
    const COLUMNS: &'static [&'static str];
}

/// The columns of `R` (`R::COLUMNS`), for a `Command::columns` that has one row type.
pub fn columns_of<R: Row>() -> &'static [&'static str] {
    R::COLUMNS
}

/// Declares a row struct and its [`Row`] impl from one field list: `COLUMNS` are the field names
/// in declaration order. Write the struct as usual, `#[derive(Serialize)]` included (the caller's
/// crate depends on `serde` with `derive`); field names are the JSON keys (no `rename`: a test
/// with [`check_columns`] would fail).
#[macro_export]
macro_rules! row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }

        impl $crate::Row for $name {
            const COLUMNS: &'static [&'static str] = &[$(::core::stringify!($field)),*];
        }
    };
}

/// The keys `row` serializes to, in the order it writes them (not the order of a
/// `serde_json::Map`, which sorts them).
pub fn serialized_keys<R: Serialize + ?Sized>(row: &R) -> Result<Vec<String>, String> {
    let text =
        serde_json::to_string(row).map_err(|e| format!("the row does not serialize: {e}"))?;
    serde_json::from_str::<Keys>(&text)
        .map(|k| k.0)
        .map_err(|e| format!("the row is not a JSON object: {e}"))
}

/// Checks that `row` serializes to an object whose keys are `R::COLUMNS` in order, some perhaps
/// left out (`skip_serializing_if`), none added, none repeated. `Err` says which key is out of
/// place. Use it in a test on a sample of every row type a command emits.
pub fn check_columns<R: Row>(row: &R) -> Result<(), String> {
    let cols = R::COLUMNS;
    if let Some((i, c)) = cols
        .iter()
        .enumerate()
        .find(|(i, c)| cols[..*i].contains(c))
    {
        return Err(format!("column {c:?} is declared twice (at {i})"));
    }
    let keys = serialized_keys(row)?;
    let mut next = 0usize;
    for k in &keys {
        match cols.iter().position(|c| c == k) {
            None => return Err(format!("key {k:?} is not a declared column (of {cols:?})")),
            Some(p) if p < next => {
                return Err(format!(
                    "key {k:?} comes after {:?}, but the columns declare it before ({cols:?}; keys {keys:?})",
                    cols[next - 1]
                ));
            }
            Some(p) => next = p + 1,
        }
    }
    Ok(())
}

/// Merges the column lists of a command's row types (e.g. `!poolused`'s tag rows and its
/// per-driver rows) into one list in which each part keeps its own order: a column not yet
/// listed goes right after the part's previous column (first, when it is the part's first).
/// The result holds every column once. When two parts order shared columns differently no list
/// can keep both: the later part's order is then not kept, which [`is_ordered_subset`] tells.
pub fn merge_columns(parts: &[&[&'static str]]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for part in parts {
        let mut at = 0usize;
        for c in part.iter() {
            match out.iter().position(|o| o == c) {
                Some(p) => at = p + 1,
                None => {
                    out.insert(at, c);
                    at += 1;
                }
            }
        }
    }
    out
}

/// Is every column of `part` in `all`, in the same relative order?
pub fn is_ordered_subset(part: &[&str], all: &[&str]) -> bool {
    let mut rest = all.iter();
    part.iter().all(|c| rest.any(|a| a == c))
}

/// The top-level keys of a JSON object, in document order (values skipped).
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::row! {
        /// Declared with the macro.
        #[derive(Serialize)]
        struct Declared {
            tag: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            driver: Option<&'static str>,
            bytes: u64,
        }
    }

    #[test]
    fn the_macro_lists_the_fields_in_order_and_they_serialize_so() {
        assert_eq!(Declared::COLUMNS, ["tag", "driver", "bytes"]);
        assert_eq!(columns_of::<Declared>(), Declared::COLUMNS);
        let full = Declared {
            tag: "Proc",
            driver: Some("nt"),
            bytes: 1,
        };
        assert_eq!(serialized_keys(&full).unwrap(), ["tag", "driver", "bytes"]);
        check_columns(&full).unwrap();
        // A skipped optional field is allowed.
        let short = Declared {
            driver: None,
            ..full
        };
        assert_eq!(serialized_keys(&short).unwrap(), ["tag", "bytes"]);
        check_columns(&short).unwrap();
    }

    /// A hand-kept list that drifted from the struct: the check must fail.
    #[derive(Serialize)]
    struct Drifted {
        bytes: u64,
        tag: &'static str,
    }
    impl Row for Drifted {
        const COLUMNS: &'static [&'static str] = &["tag", "bytes"];
    }

    #[test]
    fn a_key_order_that_differs_from_columns_fails() {
        let e = check_columns(&Drifted { bytes: 1, tag: "x" }).unwrap_err();
        assert!(e.contains("\"tag\" comes after \"bytes\""), "{e}");
    }

    crate::row! {
        #[derive(Serialize)]
        struct Renamed {
            tag: u8,
            #[serde(rename = "size")]
            bytes: u64,
        }
    }

    #[derive(Serialize)]
    struct Twice {
        a: u8,
    }
    impl Row for Twice {
        const COLUMNS: &'static [&'static str] = &["a", "a"];
    }

    #[derive(Serialize)]
    struct NotAnObject(u8);
    impl Row for NotAnObject {
        const COLUMNS: &'static [&'static str] = &[];
    }

    #[test]
    fn renamed_repeated_and_non_object_rows_fail() {
        let e = check_columns(&Renamed { tag: 1, bytes: 2 }).unwrap_err();
        assert!(e.contains("\"size\" is not a declared column"), "{e}");
        let e = check_columns(&Twice { a: 1 }).unwrap_err();
        assert!(e.contains("declared twice"), "{e}");
        let e = check_columns(&NotAnObject(1)).unwrap_err();
        assert!(e.contains("not a JSON object"), "{e}");
    }

    #[test]
    fn merged_columns_keep_each_parts_order() {
        let tag = ["tag", "np", "p", "binary", "description"];
        let driver = ["driver", "np", "p", "tags"];
        let m = merge_columns(&[&driver, &tag]);
        assert_eq!(
            m,
            ["tag", "driver", "np", "p", "binary", "description", "tags"]
        );
        assert!(is_ordered_subset(&tag, &m) && is_ordered_subset(&driver, &m));
        let run = ["address", "size", "state", "region"];
        let block = ["address", "size", "previous_size", "state", "tag"];
        let m = merge_columns(&[&block, &run]);
        assert_eq!(
            m,
            ["address", "size", "previous_size", "state", "region", "tag"]
        );
        // Two parts that disagree: the second's order cannot be kept, and that is visible.
        let m = merge_columns(&[&["a", "b"], &["b", "a"]]);
        assert_eq!(m, ["a", "b"]);
        assert!(!is_ordered_subset(&["b", "a"], &m));
        assert!(merge_columns(&[]).is_empty());
    }
}
