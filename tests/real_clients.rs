//! natter as a real, unmodified IRC client sees it: WeeChat (headless, from
//! Debian's `weechat-headless`) connects to an in-process server, and its own
//! log files are read back. WeeChat 3.8 asks for `server-time` but not
//! `batch`, exactly like irssi, so this is the representation those clients
//! get for replayed history.
//!
//! WeeChat also logs in to natter accounts with SASL PLAIN and
//! SCRAM-SHA-256 (its own implementations, not natter's), checked from the
//! server's side by WHOIS.
//!
//! Without `weechat-headless` the test is skipped with a message; under
//! `CI=true` (and `.ci/run` installs it) it must run.
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{server_options, start_server, start_with, temp_dir, Client};
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

/// Starts `weechat-headless` in a fresh home running `commands` (joined by
/// `;`, as `-r` takes them); it is killed when the guard drops.
fn run_weechat(commands: &[String]) -> (Weechat, std::path::PathBuf) {
    let home = temp_dir("weechat");
    let child = Command::new("weechat-headless")
        .arg("--dir")
        .arg(&home)
        .args(["-r", &commands.join(";")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weechat-headless starts");
    (Weechat(child), home)
}

/// `nick` registers an account named for it with NickServ, then leaves.
fn register_account(addr: std::net::SocketAddr, nick: &str, password: &str) {
    let mut c = Client::register(addr, nick);
    c.send(&format!("PRIVMSG NickServ :REGISTER {password}"));
    c.read_until(|l| l.contains(" 900 "));
    c.send("QUIT");
    c.read_to_end();
}

/// Asks WHOIS `nick` until `nick` is online (up to 30 s), and returns the
/// account its 330 names (`None` if it is online but not logged in).
fn account_once_online(watcher: &mut Client, nick: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        watcher.send(&format!("WHOIS {nick}"));
        let lines = watcher.read_until(|l| l.contains(" 318 "));
        let online = lines.iter().any(|l| l.contains(" 311 "));
        if online {
            return lines.iter().find_map(|l| {
                let m = natter::proto::Message::parse(l).expect("a valid line");
                (m.command == "330" && m.params[1] == nick).then(|| m.params[2].clone())
            });
        }
        assert!(Instant::now() < deadline, "{nick} never came online");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn weechat_logs_in_to_natter_accounts_with_sasl_plain_and_scram_sha_256() {
    if !weechat_available() {
        return;
    }
    let dir = temp_dir("weechat-sasl");
    let log = dir.join("server.log");
    let server = start_with(server_options(DEFAULT_SENDQ, Some(log.clone())));
    let addr = server.local_addr();
    register_account(addr, "weeplain", "plain-password-1");
    register_account(addr, "weescram", "scram-password-2");
    let mut watcher = Client::register(addr, "watcher");

    let port = addr.port();
    let mut commands = vec!["/set logger.file.flush_delay 0".to_string()];
    for (name, mechanism, password) in [
        ("weeplain", "plain", "plain-password-1"),
        ("weescram", "scram-sha-256", "scram-password-2"),
    ] {
        commands.extend([
            format!("/server add {name} 127.0.0.1/{port}"),
            format!("/set irc.server.{name}.nicks {name}"),
            format!("/set irc.server.{name}.sasl_mechanism {mechanism}"),
            format!("/set irc.server.{name}.sasl_username {name}"),
            format!("/set irc.server.{name}.sasl_password {password}"),
            // A failed login shows as an online nick without an account
            // rather than as reconnections.
            format!("/set irc.server.{name}.sasl_fail continue"),
            format!("/connect {name}"),
        ]);
    }
    let (_weechat, home) = run_weechat(&commands);

    assert_eq!(
        account_once_online(&mut watcher, "weeplain").as_deref(),
        Some("weeplain"),
        "WeeChat's SASL PLAIN login"
    );
    assert_eq!(
        account_once_online(&mut watcher, "weescram").as_deref(),
        Some("weescram"),
        "WeeChat's SASL SCRAM-SHA-256 login"
    );
    // WeeChat itself reports success on each server's buffer.
    for name in ["weeplain", "weescram"] {
        wait_for(
            &home.join(format!("logs/irc.server.{name}.weechatlog")),
            &["SASL authentication successful"],
        );
    }
    server.shutdown();
    let log = std::fs::read_to_string(&log).expect("server.log");
    for wanted in [
        "[weeplain] logged in as weeplain (SASL PLAIN)",
        "[weescram] logged in as weescram (SASL SCRAM-SHA-256)",
    ] {
        assert!(log.contains(wanted), "no {wanted:?} in\n{log}");
    }
}
