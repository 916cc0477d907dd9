//! End-to-end helpers: a real server on 127.0.0.1 (in-process or the built
//! binary) and plain blocking IRC clients with read timeouts, so a broken
//! server fails a test instead of hanging it.
#![allow(dead_code)]

use natter::net::{LogOptions, RunningServer, ServerOptions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Generous: only there so that a broken server cannot hang the test run.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// A fresh, empty directory for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "natter-e2e-{}-{}-{name}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

/// Options for an in-process server on an ephemeral port of 127.0.0.1.
pub fn server_options(sendq_bytes: usize, log: Option<PathBuf>) -> ServerOptions {
    ServerOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        sendq_bytes,
        log: log.map(LogOptions::file),
        threads: 2,
        ..ServerOptions::default()
    }
}

/// Starts the shell in-process on an ephemeral port of 127.0.0.1.
pub fn start_server(sendq_bytes: usize, log: Option<PathBuf>) -> RunningServer {
    start_with(server_options(sendq_bytes, log))
}

pub fn start_with(options: ServerOptions) -> RunningServer {
    RunningServer::start(options).expect("server starts on an ephemeral port")
}

/// One IRC client over a plain blocking socket, or TLS over one
/// ([`Client::connect_tls`]).
pub struct Client {
    pub nick: String,
    /// The TCP socket underneath, kept to shut it down.
    socket: TcpStream,
    writer: Box<dyn Write + Send>,
    reader: BufReader<Box<dyn std::io::Read + Send>>,
    sync_count: usize,
}

impl Client {
    /// Connects without registering.
    pub fn connect(addr: SocketAddr, nick: &str) -> Client {
        let stream = TcpStream::connect(addr).expect("server accepts connections");
        Client::over(stream, nick)
    }

    /// A client over a socket connected already (e.g. from a chosen source
    /// address), not registered.
    pub fn over(stream: TcpStream, nick: &str) -> Client {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        let reader: Box<dyn std::io::Read + Send> =
            Box::new(stream.try_clone().expect("clone socket"));
        let writer = Box::new(stream.try_clone().expect("clone socket"));
        Client {
            nick: nick.to_string(),
            socket: stream,
            writer,
            reader: BufReader::new(reader),
            sync_count: 0,
        }
    }

    /// Connects over TLS to `addr` (any server certificate accepted: the
    /// tests make their own), presenting the client certificate
    /// `identity` if given; not registered.
    pub fn connect_tls(
        addr: SocketAddr,
        nick: &str,
        identity: Option<natter::client::tls::ClientIdentity>,
    ) -> Client {
        use natter::client::tls::{handshake_as, Trust};
        let socket = TcpStream::connect(addr).expect("the TLS port accepts connections");
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        let halves = handshake_as(
            socket.try_clone().expect("clone socket"),
            "127.0.0.1",
            &addr.to_string(),
            &Trust::Insecure,
            identity,
        )
        .unwrap_or_else(|e| panic!("{nick}: TLS handshake with {addr}: {e}"));
        Client {
            nick: nick.to_string(),
            socket,
            writer: Box::new(halves.writer),
            reader: BufReader::new(Box::new(halves.reader)),
            sync_count: 0,
        }
    }

    /// Connects and registers as `nick`, reading the welcome up to the MOTD's end.
    pub fn register(addr: SocketAddr, nick: &str) -> Client {
        let mut client = Client::connect(addr, nick);
        client.send(&format!("NICK {nick}"));
        client.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
        client.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "));
        client
    }

    /// Registers and joins `room`, reading up to the end of its names list.
    pub fn joined(addr: SocketAddr, nick: &str, room: &str) -> Client {
        let mut client = Client::register(addr, nick);
        client.send(&format!("JOIN {room}"));
        client.read_until(|l| l.contains(" 366 "));
        client
    }

    /// Waits up to `timeout` for each line from now on (instead of
    /// [`READ_TIMEOUT`]), for a test that expects a long pause.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.socket
            .set_read_timeout(Some(timeout))
            .expect("set the read timeout");
    }

    /// Sends one line (CR LF added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to server");
    }

    /// Like [`Client::send_raw`], but reports a dead server instead of panicking.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// The next line without CR LF; `None` at end of stream or on reset.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{}: no line from the server within {READ_TIMEOUT:?}",
                    self.nick
                )
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("{}: reading failed: {e}", self.nick),
        }
    }

    /// Reads lines until one matches; returns every line read, the match last.
    pub fn read_until(&mut self, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let Some(line) = self.read_line() else {
                panic!(
                    "{}: connection ended while waiting; got {lines:#?}",
                    self.nick
                )
            };
            let matched = done(&line);
            lines.push(line);
            if matched {
                return lines;
            }
        }
    }

    /// Everything until the connection ends.
    pub fn read_to_end(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.read_line()).collect()
    }

    /// A PING round trip: when it returns, the server has applied every line
    /// this client sent before, and everything those lines caused for this
    /// client has been read. Returns the lines read on the way.
    pub fn sync(&mut self) -> Vec<String> {
        self.sync_count += 1;
        let token = format!("sync-{}-{}", self.nick, self.sync_count);
        self.send(&format!("PING {token}"));
        let mut lines = self.read_until(|l| l.contains(" PONG ") && l.ends_with(&token));
        lines.pop();
        lines
    }

    /// Starts registering with the `sasl` capability requested (CAP LS 302,
    /// CAP REQ, NICK, USER), reading up to the server's CAP ACK.
    pub fn start_sasl_registration(&mut self) {
        let nick = self.nick.clone();
        self.send("CAP LS 302");
        self.send("CAP REQ :sasl");
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {} 0 * :{nick}", nick.to_lowercase()));
        let lines = self.read_until(|l| l.contains(" CAP * ACK ") || l.contains(" CAP * NAK "));
        let last = lines.last().map(String::as_str).unwrap_or_default();
        assert!(last.contains(" ACK "), "sasl was refused: {lines:#?}");
    }

    /// `CAP END`, then the welcome up to the MOTD's end; returns the lines.
    pub fn finish_registration(&mut self) -> Vec<String> {
        self.send("CAP END");
        self.read_until(|l| l.contains(" 376 ") || l.contains(" 422 "))
    }

    /// Drops the socket at once, without QUIT.
    pub fn vanish(self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// How many of `lines` contain `needle`.
pub fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// A `server.log` line with its `[YYYY-MM-DD HH:MM:SS] ` timestamp removed;
/// panics if the timestamp is not in the seed's format.
pub fn strip_timestamp(line: &str) -> &str {
    let bytes = line.as_bytes();
    let well_formed = bytes.len() > 22
        && bytes[0] == b'['
        && bytes[20] == b']'
        && bytes[21] == b' '
        && line[1..20].char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        });
    assert!(well_formed, "not a seed-format log line: {line:?}");
    &line[22..]
}

/// The built `natter-server` binary, running on an ephemeral port.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The TLS port's address, when started with `--tls-cert`.
    pub tls_addr: Option<SocketAddr>,
    /// stderr lines after the "listening" line, collected by a thread.
    stderr: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `natter-server 0 --bind 127.0.0.1 ARGS...` and waits for its
    /// `natter-server listening on ADDR` line.
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_under(&[], args)
    }

    /// As [`ServerProcess::start`], run by `wrapper`: a command that execs
    /// the rest of its arguments (such as `prlimit --fsize=N --`).
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> ServerProcess {
        use std::process::{Command, Stdio};
        let binary = env!("CARGO_BIN_EXE_natter-server");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["0", "--bind", "127.0.0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("natter-server binary starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        // What the server tells the operator before it listens (such as a
        // journal recovered after a kill -9 cut a write short) comes first;
        // it is kept with the rest of stderr.
        let mut early = Vec::new();
        let addr = loop {
            let mut line = String::new();
            let read = stderr.read_line(&mut line).expect("read server stderr");
            if read == 0 {
                panic!("natter-server ended without listening; it printed {early:?}");
            }
            let line = line.trim_end().to_string();
            if let Some(addr) = line.strip_prefix("natter-server listening on ") {
                break addr
                    .parse()
                    .unwrap_or_else(|_| panic!("unexpected address in {line:?}"));
            }
            early.push(line);
        };
        let tls_addr = args.contains(&"--tls-cert").then(|| {
            let mut second = String::new();
            stderr.read_line(&mut second).expect("read server stderr");
            second
                .trim()
                .strip_prefix("natter-server listening for TLS on ")
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("unexpected second stderr line: {second:?}"))
        });
        let stderr = std::thread::spawn(move || {
            early.extend(stderr.lines().map_while(Result::ok));
            early
        });
        ServerProcess {
            child,
            addr,
            tls_addr,
            stderr: Some(stderr),
        }
    }

    /// What it printed to stderr after starting (once it has exited).
    pub fn take_stderr(&mut self) -> Vec<String> {
        self.stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its status
    /// and what it printed to stderr after starting.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + READ_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for server") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("natter-server did not exit within {READ_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for ServerProcess {
    /// A failed test must not leave a server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `natter-server ARGS...` expecting it to exit by itself (e.g. on a
/// bad option); returns its exit status and stderr.
pub fn run_server_expecting_exit(args: &[&str]) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_natter-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natter-server binary starts");
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for server") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("natter-server {args:?} kept running instead of exiting");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status, stderr)
}

/// Whether the third-party Python `irc` client is installed. A fresh machine
/// with only Rust skips the interop tests, saying how to enable them; under
/// `CI=true` (where .ci/run installs it) a missing package fails instead.
/// Reads a helper script's stdout into `printed` up to the line `want`.
pub fn read_printed(
    stdout: &mut BufReader<std::process::ChildStdout>,
    printed: &mut Vec<String>,
    want: &str,
) {
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read python stdout");
        assert!(
            n > 0,
            "python client ended before printing {want}: {printed:#?}"
        );
        let line = line.trim_end().to_string();
        let found = line == want;
        printed.push(line);
        if found {
            return;
        }
    }
}

pub fn python_irc_client_available(test: &str) -> bool {
    let installed = std::process::Command::new("python3")
        .args(["-c", "import irc.client"])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "{test} drives the third-party Python `irc` client: pip install irc"
        );
        eprintln!("SKIPPED: {test} needs the Python irc package: pip install irc");
    }
    installed
}
