//! natter as a real, unmodified IRC client sees it: WeeChat (headless, from
//! Debian's `weechat-headless`) connects to an in-process server, and its own
//! log files are read back. WeeChat 3.8 asks for `server-time` but not
//! `batch`, exactly like irssi, so this is the representation those clients
//! get for replayed history.
//!
//! Without `weechat-headless` the test is skipped with a message; under
//! `CI=true` (and `.ci/run` installs it) it must run.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{start_server, temp_dir, Client};
use natter::net::DEFAULT_SENDQ;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `weechat-headless` can run here (asserts so under CI).
fn weechat_available() -> bool {
    let found = Command::new("weechat-headless")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!in_ci, "apt-get install -y weechat-headless");
        eprintln!(
            "SKIPPED: the WeeChat test needs weechat-headless (apt-get install weechat-headless)"
        );
    }
    found
}

/// Kills WeeChat when the test ends, however it ends.
struct Weechat(Child);

impl Drop for Weechat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to 30 s) until the file at `path` holds every one of `needles`,
/// and returns its text.
fn wait_for(path: &Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never showed {needles:?}; it holds:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn weechat_shows_history_as_history_and_an_away_user_as_away() {
    if !weechat_available() {
        return;
    }
    let server = start_server(DEFAULT_SENDQ, None);
    let port = server.local_addr().port();
    let mut alice = Client::joined(server.local_addr(), "alice", "#lobby");
    alice.send("PRIVMSG #lobby :good morning");
    alice.send("PRIVMSG #lobby :\x01ACTION waves\x01");
    alice.send("AWAY :gone fishing");
    alice.sync();

    let home = temp_dir("weechat");
    let commands = [
        // Write log lines at once (the default holds them for 120 s).
        "/set logger.file.flush_delay 0".to_string(),
        "/set irc.server_default.nicks bob".to_string(),
        format!("/server add natter 127.0.0.1/{port}"),
        "/set irc.server.natter.autojoin #lobby".to_string(),
        "/set irc.server.natter.command /whois alice".to_string(),
        "/connect natter".to_string(),
    ];
    let child = Command::new("weechat-headless")
        .arg("--dir")
        .arg(&home)
        .args(["-r", &commands.join(";")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weechat-headless starts");
    let _weechat = Weechat(child);

    let logs = home.join("logs");
    let lobby = wait_for(
        &logs.join("irc.natter.#lobby.weechatlog"),
        &["End of history"],
    );
    let lines: Vec<&str> = lobby.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{lobby}"))
    };
    // History is framed by notices, shown as the messages they were (an
    // action as an action), with no time pasted into the text.
    let start = at("Replaying the last 2 messages of #lobby");
    let said = at("@alice\tgood morning");
    let waved = at("alice waves");
    let end = at("End of history");
    assert!(start < said && said < waved && waved < end, "{lobby}");
    assert!(lines[waved].contains(" *\talice waves"), "{lobby}");
    assert!(!lobby.contains("\u{1}"), "no raw CTCP shown: {lobby}");

    // WHOIS shows alice away with her message.
    wait_for(
        &logs.join("irc.server.natter.weechatlog"),
        &[
            "[alice] is away: gone fishing",
            "[alice] End of /WHOIS list",
        ],
    );
}
