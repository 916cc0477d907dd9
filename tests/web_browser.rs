//! The web chat in a real browser: runs `tests/browser/web_client.py`
//! (Playwright for Python driving Debian's headless Chromium) against this
//! build's natter-server. The scenarios live in the script; this test only
//! finds what it needs, runs it and reports its output.
//!
//! Needs `apt-get install -y chromium` and `pip install playwright` (the
//! browser is Debian's; `playwright install` is never used). Without them
//! the test is skipped with a message saying so, except under `CI=true`,
//! where they must be there (`.ci/run` installs them).

use std::path::Path;
use std::process::{Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";

/// True when Chromium and Python's Playwright are installed; otherwise
/// says what to install, and fails under CI.
fn browser_available() -> bool {
    let chromium = Path::new(CHROMIUM).exists();
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let found = chromium && playwright;
    if !found {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "the browser test needs {CHROMIUM} ({chromium}) and Playwright for Python ({playwright}): \
             apt-get install -y chromium; pip install playwright"
        );
        eprintln!(
            "SKIPPED: the browser test needs Chromium and Playwright for Python \
             (apt-get install -y chromium; pip install playwright)"
        );
    }
    found
}

#[test]
fn browsers_and_an_irc_client_chat_through_the_web_page() {
    if !browser_available() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/web_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("NATTER_SERVER", env!("CARGO_BIN_EXE_natter-server"))
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    println!("{stdout}");
}
