//! The client's line-mode shell: the threads, the line editor, stdout; and
//! [`run`], which picks the full-screen interface (`tui::shell`) instead
//! when standard input and output are both a terminal.
//!
//! Owns the line mode's I/O: an input thread (rustyline with an external
//! printer on a terminal, plain lines from a pipe), and the main loop that
//! feeds input and the server's lines (from `connection.rs`) into the
//! [`Session`] and carries out its [`Output`]s in order. Must never decide anything about the protocol or what a line says:
//! that is the session's job. Must never print text that did not come from a
//! [`crate::client::DisplayLine`] or a [`ClientError`].

use super::connection::{spawn_reader, Connection};
use super::tls::Trust;
use super::tui::ViewOptions;
use super::{ClientError, DisplayLine, NickRetry, Output, Session};
use crate::proto::LineError;
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the server to close after QUIT before leaving anyway.
pub(crate) const QUIT_GRACE: Duration = Duration::from_secs(3);

/// What to connect to, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The nickname to register.
    pub nick: String,
    /// Host name or IP address of the server.
    pub host: String,
    /// TCP port of the server.
    pub port: u16,
    /// The room to join once registered (several: `#lobby,#rust`).
    pub room: String,
    /// Connect with TLS, trusting what this says; `None` for plaintext.
    pub tls: Option<Trust>,
    /// Log in to this account with SASL while registering; `None` to
    /// register without logging in.
    pub account: Option<Account>,
    /// Use the line mode even on a terminal (`--line-mode`).
    pub line_mode: bool,
    /// How the full-screen interface looks.
    pub view: ViewOptions,
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
    let (mut connection, reader) = Connection::open(options)?;
    let interactive = io::stdin().is_terminal();
    let retry = if interactive {
        NickRetry::Ask
    } else {
        NickRetry::GiveUp
    };
    let mut session = connection.session(options, retry)?;
    if interactive && io::stdout().is_terminal() && !options.line_mode {
        let result = super::tui::shell::run(&mut connection, reader, session, &options.view);
        connection.close();
        return result;
    }
    let (tx, rx) = mpsc::channel::<Event>();
    let net = tx.clone();
    spawn_reader(reader, move |line| {
        let event = match line {
            Some(line) => Event::Net(line),
            None => Event::NetClosed,
        };
        net.send(event).is_ok()
    });
    let (mut screen, input) = if interactive {
        start_editor(tx)?
    } else {
        spawn_stdin_reader(tx);
        (Screen::Plain(io::stdout()), None)
    };

    let mut shell = Shell {
        connection: &mut connection,
        screen: &mut screen,
        quit_deadline: None,
    };
    let result = shell.main_loop(&mut session, &rx, input.as_ref());
    connection.close();
    if let Some(input) = input {
        input.finish(&mut screen, result.as_ref().err());
    }
    result
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
    connection: &'a mut Connection,
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
                addr: self.connection.addr.clone(),
                reason: reason.to_string(),
            },
            None => ClientError::ConnectionLost {
                addr: self.connection.addr.clone(),
            },
        }
    }

    fn apply(&mut self, session: &Session, outputs: Vec<Output>) -> Result<(), ClientError> {
        for output in outputs {
            match output {
                Output::Send(line) => {
                    let mut bytes = line.into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    if self.connection.writer.write_all(&bytes).is_err() && !session.is_quitting() {
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
