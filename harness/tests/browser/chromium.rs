//! Chromium, headless: which one, and how to run it on a page.
//!
//! Which browser: `QUORUMLAB_CHROMIUM` when it is set (ci/test sets it to what ci/setup-browser
//! found), and then it must run or the test fails; else the lookup of `ci/setup-browser --find`,
//! and where that finds none the test says SKIPPED and returns.
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A headless browser binary.
pub struct Chromium {
    path: PathBuf,
}

/// The browser to test with, or `None` with the reason printed, where none is to be had and
/// none was asked for.
pub fn chromium() -> Option<Chromium> {
    if std::env::var("QUORUMLAB_BROWSER_TESTS").as_deref() == Ok("skip") {
        eprintln!("SKIPPED: QUORUMLAB_BROWSER_TESTS=skip");
        return None;
    }
    if let Some(path) = std::env::var_os("QUORUMLAB_CHROMIUM").filter(|p| !p.is_empty()) {
        let shown = path.to_string_lossy().into_owned();
        match Command::new(&path).arg("--version").output() {
            Ok(o) if o.status.success() => return Some(Chromium { path: path.into() }),
            Ok(o) => panic!(
                "QUORUMLAB_CHROMIUM={shown} does not run: `--version` exited with {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("QUORUMLAB_CHROMIUM={shown} cannot be launched: {e}"),
        }
    }
    let script = repo().join("ci/setup-browser");
    let found = Command::new(&script)
        .arg("--find")
        .output()
        .unwrap_or_else(|e| panic!("running {} --find: {e}", script.display()));
    let said = String::from_utf8_lossy(&found.stdout);
    let last = said.lines().last().unwrap_or("").trim().to_string();
    match found.status.code() {
        Some(0) => Some(Chromium { path: last.into() }),
        Some(3) => {
            eprintln!(
                "SKIPPED: {last} (ci/setup-browser installs chromium as root; \
                 QUORUMLAB_CHROMIUM names another browser)"
            );
            None
        }
        _ => panic!(
            "{} --find failed ({}): {said}{}",
            script.display(),
            found.status,
            String::from_utf8_lossy(&found.stderr)
        ),
    }
}

impl Chromium {
    /// A headless run of the browser in a window of `width` by `height` CSS pixels.
    pub fn headless(&self, width: u32, height: u32) -> Command {
        let mut c = Command::new(&self.path);
        // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
        ])
        .arg(format!("--window-size={width},{height}"));
        c
    }

    /// The DOM of `page` after its script ran, opened with `hash` (`#bench`, or empty).
    pub fn dom(&self, page: &Path, hash: &str) -> String {
        let url = format!("file://{}{hash}", page.display());
        let out = self
            .headless(1280, 900)
            .arg("--dump-dom")
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium --dump-dom {url} failed");
        String::from_utf8(out.stdout).expect("the DOM is UTF-8")
    }

    /// A screenshot of `page` as it first draws, in a 1280 by 900 window, written to `png`.
    pub fn screenshot(&self, page: &Path, png: &Path) {
        let out = self
            .headless(1280, 900)
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium runs");
        assert!(out.status.success(), "chromium --screenshot failed");
    }
}
