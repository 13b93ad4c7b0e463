//! Properties: any tag survives its display form; any well-formed file reads back line for line.

use pooldbg_pooltag::{Source, Tag, TagDb, parse};
use proptest::prelude::*;

proptest! {
    #[test]
    fn tag_display_reads_back(bytes in any::<[u8; 4]>()) {
        let tag = Tag::from_bytes(bytes);
        let shown = tag.to_string();
        prop_assert_eq!(shown.parse::<Tag>(), Ok(tag));
        prop_assert!(shown.chars().all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn written_entries_read_back(
        rows in prop::collection::vec(
            ("[A-Za-z0-9_@]{1,4}", "[a-z0-9_.!-]{1,12}", "[ -~]{0,40}", 0usize..3, 0usize..3),
            1..40,
        ),
        crlf in any::<bool>(),
    ) {
        // A three-letter tag spelling `rem` is a comment by the format's rule; leave it out.
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| !r.0.eq_ignore_ascii_case("rem"))
            .collect();
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from("rem header\n// another\n");
        for (tag, binary, desc, pad1, pad2) in &rows {
            text.push_str(&format!(
                "{tag:<4}{} - {binary}{} - {desc}{eol}",
                " ".repeat(*pad1),
                " ".repeat(*pad2)
            ));
        }
        let parsed = parse(&text);
        prop_assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        prop_assert_eq!(parsed.entries.len(), rows.len());
        for (e, (tag, binary, desc, _, _)) in parsed.entries.iter().zip(&rows) {
            let want: Tag = tag.parse().unwrap();
            prop_assert_eq!(e.pattern.as_tag(), Some(want));
            prop_assert_eq!(&e.binary, binary);
            prop_assert_eq!(e.description.as_str(), desc.trim());
        }
        // Every tag finds its own line among its owners, in file order.
        let db = TagDb::new(Source::Embedded, parsed);
        for (i, (tag, binary, _, _, _)) in rows.iter().enumerate() {
            let line = u32::try_from(i + 3).unwrap();
            let owners: Vec<_> = db.lookup(tag.parse().unwrap()).collect();
            prop_assert!(owners.iter().any(|e| e.line == line && &e.binary == binary));
            prop_assert!(owners.windows(2).all(|w| w[0].line < w[1].line));
        }
    }
}
