//! `pooldbg report` as a person sees it: the page of a testkit dump (with an older dump of the same
//! machine) is rendered by headless Chromium to a screenshot and to its DOM, and every figure in
//! the DOM equals the JSON `pooldbg --format json` prints for the same command. One profile per
//! Windows era (XP, 7, 10, 11).
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test says so
//! and passes, unless `POOLDBG_REQUIRE_CHROMIUM` is set (CI sets it). `POOLDBG_SCREENSHOTS=DIR`
//! keeps the screenshots there (how docs/report-*.png are made).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod growth;

use std::path::{Path, PathBuf};
use std::process::Command;

use growth::{exe, series};
use serde_json::Value;
use testkit::Container;

fn chromium() -> Option<PathBuf> {
    for c in ["chromium", "chromium-browser"] {
        if let Ok(o) = Command::new(c).arg("--version").output()
            && o.status.success()
        {
            return Some(PathBuf::from(c));
        }
    }
    assert!(
        std::env::var_os("POOLDBG_REQUIRE_CHROMIUM").is_none(),
        "POOLDBG_REQUIRE_CHROMIUM is set but no chromium is on PATH"
    );
    eprintln!("report test skipped: no chromium on PATH (apt-get install chromium)");
    None
}

fn headless(browser: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let profile = page.with_extension("chromium-profile");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap()
}

/// `(src, key, field, value, shown text)` of every figure element in the DOM.
fn figures(dom: &str) -> Vec<(String, Option<String>, String, i64, String)> {
    let mut out = Vec::new();
    for part in dom.split("<span class=\"fig\"").skip(1) {
        let attr = |name: &str| {
            let k = format!("{name}=\"");
            part.split_once(&k)
                .and_then(|(_, r)| r.split_once('"'))
                .map(|(v, _)| {
                    v.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&")
                })
        };
        let (Some(src), Some(field), Some(value)) =
            (attr("data-src"), attr("data-field"), attr("data-value"))
        else {
            continue;
        };
        let shown = part
            .split_once('>')
            .unwrap()
            .1
            .split_once('<')
            .unwrap()
            .0
            .to_string();
        out.push((src, attr("data-key"), field, value.parse().unwrap(), shown));
    }
    out
}

fn json_of(dump: &Path, commands: &str) -> Vec<Value> {
    let o = Command::new(exe())
        .args([
            "--format",
            "json",
            "-z",
            dump.to_str().unwrap(),
            "-c",
            commands,
        ])
        .env_remove("POOLDBG_PLUGIN_PATH")
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
    let be = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    (be(16), be(20))
}

#[test]
fn the_report_shows_the_json_figures_in_a_browser() {
    let Some(browser) = chromium() else { return };
    let keep = std::env::var_os("POOLDBG_SCREENSHOTS").map(PathBuf::from);
    for (era, profile) in [
        ("xp", "xpsp3-x86"),
        ("7", "win7sp1-x64"),
        ("10", "win10-1809-x64"),
        ("11", "win11-21h2-x64"),
    ] {
        let s = series(profile, 2, Container::Full);
        let (old, new) = (&s[0].0, &s[1].0);
        let page = new.with_extension("html");
        // Run beside the dumps with bare file names: the page names the dumps as the user typed them.
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
        let o = Command::new(exe())
            .current_dir(new.parent().unwrap())
            .args(["report", &name(new), &name(old), "-o", &name(&page)])
            .env_remove("POOLDBG_PLUGIN_PATH")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{profile}: nothing from the network"
        );

        let dom = headless(&browser, &["--dump-dom"], &page);
        let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
        // Every section (the growth one too: the page has an older dump).
        for id in poolreport::html::SECTIONS {
            assert!(
                dom.contains(&format!("<section id=\"{id}\"")),
                "{profile}: section {id} in the DOM"
            );
        }
        let figs = figures(&dom);
        // Every figure shows its JSON value.
        for (src, key, field, value, shown) in &figs {
            assert_eq!(
                shown,
                &value.to_string(),
                "{profile}: {src} {key:?} {field}"
            );
        }
        // … and that value is the JSON's.
        let results = json_of(new, "!vm; !poolused 100; !poolused 200; !frag");
        let rows = |i: usize| results[i]["rows"].as_array().unwrap().clone();
        let vm = &rows(0)[0];
        let mut checked = 0;
        for (src, key, field, value, _) in &figs {
            let want = match src.as_str() {
                "!vm" => vm.get(field).cloned(),
                "!poolused 100" => rows(1)
                    .iter()
                    .find(|r| Some(r["tag"].as_str().unwrap()) == key.as_deref())
                    .map(|r| r[field].clone()),
                "!poolused 200" => rows(2)
                    .iter()
                    .find(|r| Some(r["driver"].as_str().unwrap()) == key.as_deref())
                    .map(|r| r[field].clone()),
                "!frag" => rows(3)
                    .iter()
                    .find(|r| {
                        key.as_deref().and_then(|k| k.parse::<i64>().ok())
                            == r["block_size"].as_i64()
                    })
                    .map(|r| r[field].clone()),
                _ => continue,
            };
            assert_eq!(
                want.and_then(|v| v.as_i64()),
                Some(*value),
                "{profile}: {src} {key:?} {field}"
            );
            checked += 1;
        }
        assert!(checked >= 20, "{profile}: only {checked} figures checked");
        assert!(
            figs.iter()
                .any(|f| f.0 == "!vm" && f.2 == "nonpaged_pool_pages"),
            "{profile}: the nonpaged gauge"
        );
        // The growth section: the leak's delta as the diff reports it.
        let leak = figs
            .iter()
            .find(|f| {
                f.0 == "diff" && f.1.as_deref() == Some("Leak") && f.2 == "nonpaged_allocs_delta"
            })
            .unwrap();
        assert_eq!(leak.3, testkit::pairs::LEAK_STEP as i64, "{profile}");
        assert!(
            figs.iter()
                .any(|f| f.0 == "diff --by driver" && f.1.as_deref() == Some("leaky")),
            "{profile}"
        );
        // The pool map drew cells.
        assert!(dom.matches("<rect").count() > 50, "{profile}");

        let shot = page.with_extension("png");
        let o = headless(
            &browser,
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1200,2600",
                "--force-device-scale-factor=0.75",
            ],
            &page,
        );
        assert!(
            shot.exists(),
            "{profile}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(png_size(&shot), (900, 1950), "{profile}");
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 20_000,
            "{profile}: a page, not a blank"
        );
        if let Some(dir) = &keep {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::copy(&shot, dir.join(format!("report-{era}.png"))).unwrap();
        }
    }
}
