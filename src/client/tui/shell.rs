//! The full-screen interface's shell: the terminal (crossterm, through
//! ratatui), the key and server threads, the clock, and the main loop that
//! feeds them to the [`App`] and carries out its outputs.
//!
//! The only part of `tui` that does I/O. Puts the terminal back (raw mode
//! off, the normal screen back) however the loop ends, a panic included.
//! Decides nothing about what is shown: that is the app's job.

use super::app::{App, Moment, ViewOptions};
use super::editor::Key;
use crate::client::connection::{spawn_reader, Connection};
use crate::client::terminal::QUIT_GRACE;
use crate::client::{ClientError, DisplayLine, LineKind, Output, Session};
use crate::proto::LineError;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, KeyCode, KeyEvent,
    KeyEventKind, KeyModifiers,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The clock ticks this often (the status line's time, lag pings).
const TICK: Duration = Duration::from_secs(1);

enum Event {
    Net(Result<String, LineError>),
    NetClosed,
    Term(TermEvent),
    TermFailed(String),
}

/// Runs the full-screen client on this terminal until the person quits or
/// the connection ends.
pub(crate) fn run(
    connection: &mut Connection,
    reader: Box<dyn io::Read + Send>,
    session: Session,
    view: &ViewOptions,
) -> Result<(), ClientError> {
    let input_error = |e: io::Error| ClientError::Input {
        reason: e.to_string(),
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let net = tx.clone();
    spawn_reader(reader, move |line| {
        let event = match line {
            Some(line) => Event::Net(line),
            None => Event::NetClosed,
        };
        net.send(event).is_ok()
    });
    let mut terminal = enter().map_err(input_error)?;
    thread::spawn(move || loop {
        let event = match event::read() {
            Ok(e) => Event::Term(e),
            Err(e) => Event::TermFailed(e.to_string()),
        };
        let failed = matches!(event, Event::TermFailed(_));
        if tx.send(event).is_err() || failed {
            return;
        }
    });
    let size = terminal.size().map_err(input_error)?;
    let app = App::new(session, view.clone(), (size.width, size.height));
    let mut shell = Shell {
        connection,
        app,
        quit_deadline: None,
    };
    let result = shell.main_loop(&mut terminal, &rx);
    if let Err(error) = &result {
        if !matches!(error, ClientError::Input { .. }) {
            shell.farewell(&mut terminal, &rx, error);
        }
    }
    leave(&mut terminal);
    result
}

/// Raw mode, the alternate screen, bracketed paste; and a panic hook that
/// undoes them before the panic message prints.
fn enter() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    execute!(stdout, EnterAlternateScreen)?;
    // Not every console knows bracketed paste (older Windows ones); pasted
    // lines then arrive as keys.
    let _ = execute!(stdout, EnableBracketedPaste);
    Terminal::new(CrosstermBackend::new(stdout))
}

fn restore() {
    let _ = execute!(io::stdout(), DisableBracketedPaste, LeaveAlternateScreen);
    let _ = disable_raw_mode();
}

fn leave(terminal: &mut Terminal<CrosstermBackend<Stdout>>) {
    restore();
    let _ = terminal.show_cursor();
}

struct Shell<'a> {
    connection: &'a mut Connection,
    app: App,
    quit_deadline: Option<Instant>,
}

impl Shell<'_> {
    fn main_loop(
        &mut self,
        terminal: &mut Terminal<CrosstermBackend<Stdout>>,
        rx: &mpsc::Receiver<Event>,
    ) -> Result<(), ClientError> {
        let start = self.app.start(Moment::now());
        self.apply(start)?;
        let mut next_tick = Instant::now();
        loop {
            let draw = terminal.draw(|f| self.app.draw(f));
            if let Err(e) = draw {
                return Err(ClientError::Input {
                    reason: e.to_string(),
                });
            }
            let mut wait = next_tick.saturating_duration_since(Instant::now());
            if let Some(deadline) = self.quit_deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    // The server did not close in time: leave anyway.
                    return Ok(());
                }
                wait = wait.min(left);
            }
            let first = match rx.recv_timeout(wait) {
                Ok(event) => Some(event),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.lost()),
            };
            // Everything already waiting is handled before the next draw.
            for event in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                if let Some(done) = self.handle(event)? {
                    return Ok(done);
                }
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                let out = self.app.handle_tick(Moment::now());
                self.apply(out)?;
            }
        }
    }

    /// The connection is gone: says why on the screen and keeps the
    /// windows readable (PageUp, Alt-N still work) until Enter or Ctrl-C.
    fn farewell(
        &mut self,
        terminal: &mut Terminal<CrosstermBackend<Stdout>>,
        rx: &mpsc::Receiver<Event>,
        error: &ClientError,
    ) {
        let now = Moment::now();
        // A server's ERROR line is already on the screen, in its words.
        if self.app.session().server_error().is_none() {
            self.app.show(
                DisplayLine::new(LineKind::Error, format!("*** {error}")),
                now,
            );
        }
        self.app.show(
            DisplayLine::new(LineKind::Info, "*** Press Enter to leave."),
            now,
        );
        loop {
            if terminal.draw(|f| self.app.draw(f)).is_err() {
                return;
            }
            match rx.recv() {
                Ok(Event::Term(TermEvent::Key(key))) => match convert(key) {
                    Some(Key::Enter | Key::Ctrl('c') | Key::Ctrl('d')) => return,
                    Some(key @ (Key::PageUp | Key::PageDown | Key::Esc | Key::Alt(_))) => {
                        let _ = self.app.handle_key(key, Moment::now());
                    }
                    _ => {}
                },
                Ok(Event::Term(TermEvent::Resize(columns, rows))) => self.app.resize(columns, rows),
                Ok(Event::Term(_) | Event::Net(_) | Event::NetClosed) => {}
                Ok(Event::TermFailed(_)) | Err(_) => return,
            }
        }
    }

    /// Handles one event; `Some(())` when the client is done.
    fn handle(&mut self, event: Event) -> Result<Option<()>, ClientError> {
        let now = Moment::now();
        match event {
            Event::Net(Ok(line)) => {
                let out = self.app.handle_server_line(&line, now);
                self.apply(out)?;
            }
            Event::Net(Err(e)) => self.app.show(
                DisplayLine::new(
                    LineKind::Error,
                    format!("*** Skipped a line from the server: {e}"),
                ),
                now,
            ),
            Event::NetClosed => {
                if self.app.session().is_quitting() {
                    return Ok(Some(()));
                }
                return Err(self.lost());
            }
            Event::Term(TermEvent::Key(key)) => {
                if let Some(key) = convert(key) {
                    let out = self.app.handle_key(key, now);
                    self.apply(out)?;
                }
            }
            Event::Term(TermEvent::Paste(text)) => self.app.handle_paste(&text),
            Event::Term(TermEvent::Resize(columns, rows)) => self.app.resize(columns, rows),
            Event::Term(_) => {}
            Event::TermFailed(reason) => return Err(ClientError::Input { reason }),
        }
        Ok(None)
    }

    fn lost(&self) -> ClientError {
        let addr = self.connection.addr.clone();
        match self.app.session().server_error() {
            Some(reason) => ClientError::ClosedByServer {
                addr,
                reason: reason.to_string(),
            },
            None => ClientError::ConnectionLost { addr },
        }
    }

    fn apply(&mut self, outputs: Vec<Output>) -> Result<(), ClientError> {
        for output in outputs {
            match output {
                Output::Send(line) => {
                    let mut bytes = line.into_bytes();
                    bytes.extend_from_slice(b"\r\n");
                    let quitting = self.app.session().is_quitting();
                    if self.connection.writer.write_all(&bytes).is_err() && !quitting {
                        return Err(self.lost());
                    }
                }
                // The app keeps display lines itself; none reach here.
                Output::Display(_) => {}
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

/// A terminal key press as the app's [`Key`]; releases and repeats of
/// Windows consoles, and keys the app has no use for, are `None`.
pub fn convert(key: KeyEvent) -> Option<Key> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    Some(match key.code {
        // AltGr on Windows arrives as Ctrl+Alt: `@` on a German keyboard
        // is AltGr-Q, and must type `@`.
        KeyCode::Char(c) if ctrl && alt => Key::Char(c),
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) if alt => Key::Alt(c),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Left if alt => Key::AltLeft,
        KeyCode::Right if alt => Key::AltRight,
        KeyCode::Enter => Key::Enter,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Tab => Key::Tab,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Esc => Key::Esc,
        KeyCode::F(n) => Key::F(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_keys_become_app_keys_and_releases_are_dropped() {
        let press = |code, modifiers| KeyEvent::new(code, modifiers);
        assert_eq!(
            convert(press(KeyCode::Char('1'), KeyModifiers::ALT)),
            Some(Key::Alt('1'))
        );
        assert_eq!(
            convert(press(KeyCode::Char('C'), KeyModifiers::CONTROL)),
            Some(Key::Ctrl('c'))
        );
        assert_eq!(
            convert(press(KeyCode::Left, KeyModifiers::ALT)),
            Some(Key::AltLeft)
        );
        let mut release = press(KeyCode::Char('a'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(convert(release), None);
    }
}
