//! Chromium, headless: which one, and two ways to drive it.
//!
//! - One-shot runs (`--dump-dom`, `--screenshot`): the page's own script runs, then the DOM or
//!   the pixels are read back.
//! - A [`Page`] held open over the DevTools protocol (`--remote-debugging-pipe`): a test runs
//!   script in it, clicking and dragging as a person would, and reads back what it returns.
//!
//! Which browser: `QUORUMLAB_CHROMIUM` when it is set (ci/test sets it to what ci/setup-browser
//! found), and then it must run or the test fails; else the lookup of `ci/setup-browser --find`,
//! and where that finds none the test says SKIPPED and returns.
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

/// How long one DevTools call may take before the test gives up on the browser.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

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

    /// `page` opened with `hash` in a window of `width` by `height`, held open for scripts,
    /// once it has loaded.
    pub fn open(&self, page: &Path, hash: &str, width: u32, height: u32) -> Page {
        let profile = std::env::temp_dir().join(format!(
            "quorumlab-chromium-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let (their_in, our_out) = pipe();
        let (our_in, their_out) = pipe();
        let (a, b) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        let mut cmd = self.headless(width, height);
        cmd.arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // The protocol runs over fds 3 (commands in) and 4 (answers out). Copy both above 4
        // first, so that neither dup2 overwrites the other's source; the copies close on exec.
        unsafe {
            cmd.pre_exec(move || {
                let a2 = libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10);
                let b2 = libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 10);
                if a2 < 0 || b2 < 0 || libc::dup2(a2, 3) < 0 || libc::dup2(b2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop((their_in, their_out));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut from = std::fs::File::from(our_in);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1 << 16];
            loop {
                match from.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Some(end) = buf.iter().position(|&c| c == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    let Ok(v) = serde_json::from_slice::<Value>(&msg[..end]) else {
                        continue;
                    };
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let mut p = Page {
            child,
            to: std::fs::File::from(our_out),
            from: rx,
            session: None,
            next: 0,
            profile,
        };
        // A tab in the window --window-size made.
        let target = p.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = p.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        p.session = Some(
            attached["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
        );
        // The page's viewport is exactly the size asked for, whatever the window around it.
        p.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        let url = format!("file://{}{hash}", page.display());
        p.call("Page.navigate", json!({ "url": url }));
        p.eval(
            "new Promise(function (done) { (function wait() { \
               if (location.protocol === 'file:' && document.readyState === 'complete') done(true); \
               else setTimeout(wait, 10); })(); })",
        );
        p
    }
}

static PROFILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A pipe whose two ends close on exec: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds on success; each is owned once.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// A page held open in a browser of its own, driven over the DevTools protocol.
pub struct Page {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    session: Option<String>,
    next: u64,
    profile: PathBuf,
}

impl Page {
    /// One DevTools call, in the page's session once attached; its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("writing to chromium");
        loop {
            let m = self
                .from
                .recv_timeout(ANSWER_WITHIN)
                .unwrap_or_else(|e| panic!("chromium did not answer {method}: {e}"));
            if m["id"] == json!(self.next) {
                if let Some(e) = m.get("error") {
                    panic!("chromium refused {method}: {e}");
                }
                return m["result"].clone();
            }
        }
    }

    /// Runs the expression `js` in the page (awaiting it when it is a promise) and returns its
    /// value as JSON.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("the page's script failed: {e}\nscript: {js}");
        }
        r["result"]["value"].clone()
    }
}

impl Page {
    /// A PNG of what the page shows now, written to `png`.
    pub fn screenshot(&mut self, png: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let bytes = base64(shot["data"].as_str().expect("the PNG, in base64"));
        std::fs::write(png, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", png.display()));
    }
}

/// Standard base64 (with padding) decoded: how the protocol carries binary data.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {:?}", c as char),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (d as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

impl Drop for Page {
    fn drop(&mut self) {
        // Asked to close, the browser ends its own helper processes first, so nothing is still
        // writing to the profile when it is removed; killed, the helpers outlive it briefly.
        let mut close = json!({"id": 0, "method": "Browser.close"})
            .to_string()
            .into_bytes();
        close.push(0);
        let _ = self.to.write_all(&close);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
