//! natter-client as a child process for end-to-end tests: its standard
//! input typed into, its standard output read line by line from a channel
//! (so a silent client fails a test after a timeout instead of hanging it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The natter-client binary cargo built for these tests.
pub const CLIENT: &str = env!("CARGO_BIN_EXE_natter-client");
/// How long to wait for a line the client should print.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A natter-client child whose stdout lines arrive on a channel.
pub struct ClientProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl ClientProcess {
    /// `natter-client NICK 127.0.0.1 PORT EXTRA…` with `env` set (and no
    /// `NATTER_PASSWORD` from the test's own environment).
    pub fn start(nick: &str, port: u16, extra: &[&str], env: &[(&str, &str)]) -> ClientProcess {
        let mut child = Command::new(CLIENT)
            .args([nick, "127.0.0.1", &port.to_string()])
            .args(extra)
            .env_remove("NATTER_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start natter-client");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ClientProcess {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to natter-client");
        stdin.flush().expect("flush natter-client stdin");
    }

    /// Reads stdout until a line satisfying `wanted` appears; returns it.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let hit = wanted(&line);
                    self.seen.push(line.clone());
                    if hit {
                        return line;
                    }
                }
                Err(_) => panic!("never saw {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Waits for the client to exit by itself (stdin stays open).
    pub fn wait_for_exit(self) -> Output {
        self.child.wait_with_output().expect("natter-client exits")
    }

    /// Closes stdin (end of input) and collects everything until exit.
    pub fn finish(mut self) -> (Output, Vec<String>) {
        drop(self.stdin.take());
        let output = self.child.wait_with_output().expect("natter-client exits");
        self.seen.extend(self.lines.try_iter());
        (output, self.seen)
    }
}
