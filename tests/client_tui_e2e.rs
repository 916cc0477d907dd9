//! The real natter-client binary, full-screen in a real pseudo-terminal,
//! against the real natter server: tmux runs the client (tmux is the
//! terminal), `send-keys` types and `capture-pane` reads the screen, as a
//! person would see it. Another person is a plain IRC connection from the
//! test.
//!
//! Needs tmux (`apt-get install tmux`); without it the test is skipped with
//! a message saying so, except under `CI=true` (and `.ci/run` installs it),
//! where it must run. Unix only: tmux is.
#![cfg(unix)]

use natter::net::{RunningServer, ServerOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_natter-client");
/// How long to wait for something the screen or the server should show.
const PATIENCE: Duration = Duration::from_secs(20);

/// Whether tmux can run here (asserts so under CI).
fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        ok || !in_ci,
        "CI=true but tmux is missing: .ci/run installs it"
    );
    if !ok {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
    }
    ok
}

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "send-keys: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "chat"]).stdout)
            .into_owned()
    }

    /// Waits until the screen shows `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_running(&self) -> bool {
        self.run(&["has-session", "-t", "chat"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Another person: a plain IRC connection, its lines on a channel.
struct Person {
    stream: TcpStream,
    lines: mpsc::Receiver<String>,
}

impl Person {
    fn connect(nick: &str, port: u16) -> Person {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut person = Person { stream, lines };
        person.send(&format!("NICK {nick}"));
        person.send(&format!("USER {nick} 0 * :{nick}"));
        person.wait_for(" 001 ");
        person
    }

    fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send");
    }

    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the server never sent a line with {text:?}"),
            }
        }
    }
}

#[test]
fn typing_switching_windows_and_a_private_message_in_its_window_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let server = RunningServer::start(ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..ServerOptions::default()
    })
    .expect("natter server starts on an ephemeral port");
    let port = server.local_addr().port();
    let mut bob = Person::connect("bob", port);
    bob.send("JOIN #lobby");
    bob.wait_for("366");

    let tmux = Tmux {
        socket: format!("natter-e2e-{}", std::process::id()),
    };
    // A home without a configuration file, and a fixed terminal size.
    let home = std::env::temp_dir().join(format!("natter-tui-home-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let command = format!(
        "env HOME={} TERM=xterm-256color {CLIENT} alice 127.0.0.1 {port}",
        home.display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "100",
        "-y",
        "24",
        &command,
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let screen = tmux.wait_for("You joined #lobby");
    assert!(
        screen.contains("[2:#lobby"),
        "the status line names the window:\n{screen}"
    );
    tmux.wait_for("@bob");

    // Typing: bob receives it, and alice sees her line once.
    tmux.type_line("hello from a real terminal");
    bob.wait_for("PRIVMSG #lobby :hello from a real terminal");
    let screen = tmux.wait_for("<alice> hello from a real terminal");
    assert_eq!(
        screen.matches("hello from a real terminal").count(),
        1,
        "{screen}"
    );

    // A private message opens its own window, announced in the status line.
    bob.send("PRIVMSG alice :psst, a secret");
    let screen = tmux.wait_for("[Act: 3!]");
    assert!(
        !screen.contains("psst"),
        "not in #lobby's window:\n{screen}"
    );
    tmux.keys(&["M-3"]);
    let screen = tmux.wait_for("Private conversation with bob");
    assert!(screen.contains("<bob> psst, a secret"), "{screen}");
    assert!(screen.contains("[3:bob]"), "{screen}");

    // Plain text in bob's window goes to bob.
    tmux.type_line("got it");
    bob.wait_for("PRIVMSG bob :got it");

    // Back to the room with /win 2, and out with Ctrl-C, y.
    tmux.type_line("/win 2");
    tmux.wait_for("[2:#lobby(+nt)]");
    tmux.keys(&["C-c"]);
    tmux.wait_for("Quit natter? [y/n]");
    tmux.keys(&["y"]);
    bob.wait_for("QUIT");
    let deadline = Instant::now() + PATIENCE;
    while tmux.is_running() {
        assert!(
            Instant::now() < deadline,
            "the client did not exit:\n{}",
            tmux.screen()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&home);
}
