//! The client's shell: the socket, the threads, the line editor, stdout.
//!
//! Owns all of natter-client's I/O: resolving and connecting, a reader thread
//! that frames server bytes into lines, an input thread (rustyline with an
//! external printer on a terminal, plain lines from a pipe), and the main loop
//! that feeds both into the [`Session`] and carries out its [`Output`]s in
//! order. Must never decide anything about the protocol or what a line says:
//! that is the session's job. Must never print text that did not come from a
//! [`crate::client::DisplayLine`] or a [`ClientError`].

use super::tls::{self, Trust};
use super::{ClientError, DisplayLine, Login, NickRetry, Output, Session};
use crate::proto::{LineError, MAX_LINE, MAX_TAGS};
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the server to close after QUIT before leaving anyway.
const QUIT_GRACE: Duration = Duration::from_secs(3);
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to connect to, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The nickname to register.
    pub nick: String,
    /// Host name or IP address of the server.
    pub host: String,
    /// TCP port of the server.
    pub port: u16,
    /// The room to join once registered.
    pub room: String,
    /// Connect with TLS, trusting what this says; `None` for plaintext.
    pub tls: Option<Trust>,
    /// Log in to this account with SASL while registering; `None` to
    /// register without logging in.
    pub account: Option<Account>,
}

/// An account to log in to, and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Everything the main loop waits for, from the reader and input threads.
enum Event {
    Net(Result<String, LineError>),
    NetClosed,
    Input(String),
    InputEnd,
    InputFailed(String),
}

/// Where display lines go: the editor's external printer, or plain stdout.
enum Screen {
    Plain(io::Stdout),
    Editor(Box<dyn ExternalPrinter + Send>),
}

impl Screen {
    fn show(&mut self, line: &DisplayLine) {
        match self {
            // Flushed per line, so scripts and tests see each line at once.
            Screen::Plain(out) => {
                let mut lock = out.lock();
                let _ = writeln!(lock, "{line}");
                let _ = lock.flush();
            }
            Screen::Editor(printer) => {
                // Before the first prompt the printer writes straight to the
                // terminal, so the newline must be ours; in raw mode rustyline
                // adds one only if it is missing.
                let _ = printer.print(format!("{line}\n"));
            }
        }
    }
}

/// Connect, chat until the person quits or the server goes away.
///
/// Returns `Ok` after a clean quit (typed `/quit`, Ctrl-D, or the end of
/// piped input), and the reason otherwise.
pub fn run(options: &Options) -> Result<(), ClientError> {
    let addr = format!("{}:{}", options.host, options.port);
    let stream = connect(&options.host, options.port)?;
    // PLAIN sends the password itself: only inside TLS or to this machine.
    let plain_allowed =
        options.tls.is_some() || stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let socket = stream.try_clone().map_err(|e| ClientError::Connect {
        addr: addr.clone(),
        reason: e.to_string(),
    })?;
    let (reader, writer): (Box<dyn Read + Send>, Writer) = match &options.tls {
        Some(trust) => {
            let halves = tls::handshake(stream, &options.host, &addr, trust)?;
            (Box::new(halves.reader), Writer::Tls(halves.writer))
        }
        None => {
            let reader = stream.try_clone().map_err(|e| ClientError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
            (Box::new(reader), Writer::Plain(stream))
        }
    };
    let interactive = io::stdin().is_terminal();
    let (tx, rx) = mpsc::channel::<Event>();
    spawn_reader(reader, tx.clone());

    let retry = if interactive {
        NickRetry::Ask
    } else {
        NickRetry::GiveUp
    };
    // History carries UTC times; show them in this machine's zone, as the
    // local times of live lines are.
    let mut session = Session::new(&options.nick, &options.room, retry)
        .with_utc_offset(*chrono::Local::now().offset());
    if let Some(account) = &options.account {
        session = session.with_login(Login {
            account: account.name.clone(),
            password: account.password.clone(),
            nonce: scram_nonce()?,
            plain_allowed,
        });
    }
    let (mut screen, input) = if interactive {
        start_editor(tx)?
    } else {
        spawn_stdin_reader(tx);
        (Screen::Plain(io::stdout()), None)
    };

    let mut shell = Shell {
        stream: writer,
        addr,
        screen: &mut screen,
        quit_deadline: None,
    };
    let result = shell.main_loop(&mut session, &rx, input.as_ref());
    if let Writer::Tls(tls) = &mut shell.stream {
        tls.close_notify();
    }
    let _ = socket.shutdown(Shutdown::Both);
    if let Some(input) = input {
        input.finish(&mut screen, result.as_ref().err());
    }
    result
}

/// A fresh SCRAM client nonce: 18 bytes from the OS's random source, as
/// base64 (printable, no `,`).
fn scram_nonce() -> Result<String, ClientError> {
    use base64::Engine;
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| ClientError::NoRandomness {
        reason: e.to_string(),
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Resolves `host` and connects to the first address that answers.
fn connect(host: &str, port: u16) -> Result<TcpStream, ClientError> {
    let addr = format!("{host}:{port}");
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ClientError::HostNotFound {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::HostNotFound {
            host: host.to_string(),
            reason: "no addresses".to_string(),
        });
    }
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ClientError::ConnectionRefused { addr }
        }
        Some(e) => ClientError::Connect {
            addr,
            reason: e.to_string(),
        },
        None => ClientError::Connect {
            addr,
            reason: "no address to try".to_string(),
        },
    })
}

/// Where the client's lines go: the socket, or TLS over it.
enum Writer {
    Plain(TcpStream),
    Tls(tls::TlsWriter),
}

impl Writer {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Writer::Plain(stream) => stream.write_all(bytes),
            Writer::Tls(tls) => tls.write_all(bytes),
        }
    }
}

/// Frames the server's bytes into lines until EOF or an error.
fn spawn_reader(mut stream: Box<dyn Read + Send>, tx: mpsc::Sender<Event>) {
    thread::spawn(move || {
        let mut lines = ServerLines::default();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for line in lines.push(&buf[..n]) {
                        if tx.send(Event::Net(line)).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let _ = tx.send(Event::NetClosed);
    });
}

/// Line framing for what the server sends. Unlike the server's strict
/// [`crate::proto::LineReader`], text that is not UTF-8 (old clients still
/// send Latin-1) is shown with replacement characters instead of dropped.
/// Holds at most one line's limit in memory.
#[derive(Default)]
struct ServerLines {
    partial: Vec<u8>,
    discarding: bool,
}

impl ServerLines {
    const LIMIT: usize = MAX_LINE + MAX_TAGS + 2;

    fn push(&mut self, chunk: &[u8]) -> Vec<Result<String, LineError>> {
        let mut out = Vec::new();
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            if !self.discarding {
                self.partial.extend_from_slice(piece);
                if self.partial.len() > Self::LIMIT {
                    self.partial.clear();
                    self.discarding = true;
                    out.push(Err(LineError::TooLong { limit: Self::LIMIT }));
                }
            }
            if complete {
                if !self.discarding {
                    let line = String::from_utf8_lossy(&self.partial);
                    let line = line.trim_end_matches(['\r', '\n']);
                    if !line.is_empty() {
                        out.push(Ok(line.to_string()));
                    }
                }
                self.partial.clear();
                self.discarding = false;
            }
        }
        out
    }
}

/// Piped stdin: one event per line (invalid UTF-8 replaced), then the end.
fn spawn_stdin_reader(tx: mpsc::Sender<Event>) {
    thread::spawn(move || {
        let stdin = io::stdin();
        let mut lock = stdin.lock();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match lock.read_until(b'\n', &mut raw) {
                Ok(0) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&raw);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(Event::Input(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Event::InputFailed(e.to_string()));
                    return;
                }
            }
        }
        let _ = tx.send(Event::InputEnd);
    });
}

/// The line editor's thread and the handshake that lets it stop cleanly.
///
/// After each typed line the editor thread waits for the main loop's answer
/// (keep reading or stop), so it never sits in `readline` with the terminal in
/// raw mode when the program ends after a `/quit`.
struct EditorThread {
    handle: thread::JoinHandle<()>,
    ack: mpsc::SyncSender<bool>,
    stop: Arc<AtomicBool>,
}

impl EditorThread {
    /// Tells the editor thread whether to read another line.
    fn answer(&self, keep_reading: bool) {
        let _ = self.ack.try_send(keep_reading);
    }

    /// Ends the editor thread, asking for Enter if it is still reading.
    fn finish(self, screen: &mut Screen, error: Option<&ClientError>) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.ack);
        if !self.handle.is_finished() {
            let why = match error {
                Some(e) => format!("*** {e}"),
                None => "*** Disconnected.".to_string(),
            };
            screen.show(&DisplayLine::new(super::LineKind::Error, why));
            screen.show(&DisplayLine::new(
                super::LineKind::Info,
                "*** Press Enter to exit.",
            ));
        }
        let _ = self.handle.join();
    }
}

fn start_editor(tx: mpsc::Sender<Event>) -> Result<(Screen, Option<EditorThread>), ClientError> {
    let input_error = |e: ReadlineError| ClientError::Input {
        reason: e.to_string(),
    };
    let mut editor = rustyline::DefaultEditor::new().map_err(input_error)?;
    let printer = editor.create_external_printer().map_err(input_error)?;
    let (ack, ack_rx) = mpsc::sync_channel::<bool>(1);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let handle = thread::spawn(move || loop {
        let event = match editor.readline("> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                Event::Input(line)
            }
            // Ctrl-C leaves like /quit; Ctrl-D ends the input.
            Err(ReadlineError::Interrupted) => Event::Input("/quit".to_string()),
            Err(ReadlineError::Eof) => Event::InputEnd,
            Err(e) => Event::InputFailed(e.to_string()),
        };
        if stop_flag.load(Ordering::SeqCst) {
            return;
        }
        let more = matches!(event, Event::Input(_));
        if tx.send(event).is_err() || !more {
            return;
        }
        if !matches!(ack_rx.recv(), Ok(true)) {
            return;
        }
    });
    let screen = Screen::Editor(Box::new(printer));
    Ok((screen, Some(EditorThread { handle, ack, stop })))
}

struct Shell<'a> {
    stream: Writer,
    addr: String,
    screen: &'a mut Screen,
    quit_deadline: Option<Instant>,
}

impl Shell<'_> {
    fn main_loop(
        &mut self,
        session: &mut Session,
        rx: &mpsc::Receiver<Event>,
        input: Option<&EditorThread>,
    ) -> Result<(), ClientError> {
        let start = session.start();
        self.apply(session, start)?;
        loop {
            let event = match self.quit_deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(event) => event,
                        // The server did not close in time: leave anyway.
                        Err(_) => return Ok(()),
                    }
                }
                None => match rx.recv() {
                    Ok(event) => event,
                    Err(_) => return Err(self.lost(session)),
                },
            };
            let now = chrono::Local::now();
            match event {
                Event::Net(Ok(line)) => {
                    let outputs = session.handle_server_line(&line, now);
                    self.apply(session, outputs)?;
                }
                Event::Net(Err(e)) => self.screen.show(&DisplayLine::new(
                    super::LineKind::Error,
                    format!("*** Skipped a line from the server: {e}"),
                )),
                Event::NetClosed => {
                    if session.is_quitting() {
                        return Ok(());
                    }
                    return Err(self.lost(session));
                }
                Event::Input(line) => {
                    let outputs = session.handle_input(&line, now);
                    let result = self.apply(session, outputs);
                    if let Some(input) = input {
                        input.answer(result.is_ok() && !session.is_quitting());
                    }
                    result?;
                }
                Event::InputEnd => {
                    let outputs = session.handle_input_end();
                    self.apply(session, outputs)?;
                }
                Event::InputFailed(reason) => return Err(ClientError::Input { reason }),
            }
        }
    }

    /// Why the connection ended, when the person did not ask for it.
    fn lost(&self, session: &Session) -> ClientError {
        match session.server_error() {
            Some(reason) => ClientError::ClosedByServer {
                addr: self.addr.clone(),
                reason: reason.to_string(),
            },
            None => ClientError::ConnectionLost {
                addr: self.addr.clone(),
            },
        }
    }

    fn apply(&mut self, session: &Session, outputs: Vec<Output>) -> Result<(), ClientError> {
        for output in outputs {
            match output {
                Output::Send(line) => {
                    let mut bytes = line.into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    if self.stream.write_all(&bytes).is_err() && !session.is_quitting() {
                        return Err(self.lost(session));
                    }
                }
                Output::Display(line) => self.screen.show(&line),
                Output::Quit => {
                    self.quit_deadline
                        .get_or_insert(Instant::now() + QUIT_GRACE);
                }
                Output::Fail(error) => return Err(error),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines_do_not_depend_on_how_the_stream_was_chunked() {
        let stream = b"PING :a\r\n:x PRIVMSG #l :caf\xe9\r\n\r\nPING b\n";
        let whole = ServerLines::default().push(stream);
        let mut lines = ServerLines::default();
        let bytewise: Vec<_> = stream.iter().flat_map(|b| lines.push(&[*b])).collect();
        assert_eq!(whole, bytewise);
        assert_eq!(
            whole,
            vec![
                Ok("PING :a".to_string()),
                Ok(":x PRIVMSG #l :caf\u{fffd}".to_string()),
                Ok("PING b".to_string()),
            ]
        );
    }

    #[test]
    fn an_endless_line_is_dropped_without_growing_memory() {
        let mut lines = ServerLines::default();
        let mut out = Vec::new();
        for _ in 0..100 {
            out.extend(lines.push(&[b'a'; 4096]));
            assert!(lines.partial.len() <= ServerLines::LIMIT);
        }
        out.extend(lines.push(b"\nPING c\n"));
        assert_eq!(
            out,
            vec![
                Err(LineError::TooLong {
                    limit: ServerLines::LIMIT
                }),
                Ok("PING c".to_string())
            ]
        );
    }
}
