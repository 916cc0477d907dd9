//! `natter-client USERNAME HOST PORT`: connect, join #lobby, chat.
//!
//! Wiring only: parses the command line and runs [`natter::client::terminal`].

use clap::Parser;
use natter::client::config::{expand_home, ClientConfig};
use natter::client::terminal::{run, Account, Options};
use natter::client::tls::Trust;
use natter::client::tui::{NickColours, Palette, ViewOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A terminal chat client for natter (and any IRC server).
///
/// Connects as USERNAME, joins #lobby and shows the room. Type to talk;
/// /help lists the commands (/msg, /query, /join, /part, /names, /nick, /me,
/// /topic, /whois, /op, /kick, /quit, ...). On a terminal the client is
/// full-screen: a window per room and private conversation (Alt-1..9,
/// Ctrl-N/P, /win N), PageUp/PageDown through the history, F2 for the nick
/// list. When stdin is not a terminal, each input line is sent, chat is
/// printed as plain lines on stdout, and the client quits at the end of
/// input.
///
/// Settings can also come from ~/.config/natter/client.toml (server, port,
/// nick, tls, account, password_file, rooms, timestamp_format, nick_color,
/// no_color); the command line wins. With the file naming them, USERNAME,
/// HOST and PORT may be left out.
///
/// Logging in: with a password (--password-file FILE, or the NATTER_PASSWORD
/// environment variable) the client logs in to the account USERNAME (or
/// --account NAME) with SASL while connecting, then shows the private
/// messages of the last day, and /query NICK shows your history with NICK.
/// There is deliberately no --password option: anything on the command line
/// is visible to every user of the machine in `ps`. Register an account
/// first with `/msg NickServ REGISTER PASSWORD`.
///
/// Exit status: 0 after a clean quit; 1 when the host is not found, the
/// connection is refused or lost, the server's TLS certificate is refused,
/// or the nickname is taken (in a pipe the client does not pick another
/// one); 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(
    name = "natter-client",
    version,
    override_usage = "natter-client [OPTIONS] <USERNAME> <HOST> <PORT>\n       \
                      natter-client [OPTIONS]   (nick, server and port from the configuration file)"
)]
struct Args {
    /// Your nickname in the chat, e.g. John.
    #[arg(value_name = "USERNAME")]
    username: Option<String>,
    /// The server's host name or IP address, e.g. 127.0.0.1.
    #[arg(value_name = "HOST")]
    host: Option<String>,
    /// The server's TCP port, e.g. 6667.
    #[arg(value_name = "PORT")]
    port: Option<String>,
    /// The room to join once connected (several: --room '#lobby,#rust').
    #[arg(long)]
    room: Option<String>,

    /// The configuration file (default: ~/.config/natter/client.toml, read
    /// if it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Plain lines even on a terminal (no full-screen interface), as in a
    /// pipe; for screen readers and logging with `script`.
    #[arg(long)]
    line_mode: bool,

    /// No colours at all: mIRC colours stripped, nicks uncoloured (also when
    /// the NO_COLOR environment variable is set).
    #[arg(long)]
    no_color: bool,

    /// How nicks are coloured: `hash` (each nick its own colour, the same
    /// every time; the default), `off`, or one colour for all (`cyan`,
    /// `#ff8800`, an xterm number).
    #[arg(long, value_name = "hash|off|COLOUR")]
    nick_color: Option<String>,

    /// How times are shown, as a strftime format (default `%H:%M`; e.g.
    /// `%H:%M:%S`, or `%I:%M %p`).
    #[arg(long, value_name = "FORMAT")]
    timestamp_format: Option<String>,

    /// Connect with TLS (natter-server's TLS port is usually 6697), checking
    /// the server's certificate against the system's trusted roots.
    #[arg(long)]
    tls: bool,

    /// With --tls: trust certificates issued by the CA(s) in this PEM file
    /// instead of the system's roots.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls",
        conflicts_with = "tls_fingerprint"
    )]
    tls_ca: Option<PathBuf>,

    /// With --tls: trust exactly the certificate with this SHA-256
    /// fingerprint (hex, colons optional), e.g. a self-signed server's as
    /// printed by `natter-server --tls-self-signed`.
    #[arg(long, value_name = "SHA256", requires = "tls", value_parser = parse_fingerprint)]
    tls_fingerprint: Option<[u8; 32]>,

    /// With --tls: do not check the server's certificate at all. Anyone
    /// between you and the server could read and change the chat. Never
    /// the default; prefer --tls-fingerprint.
    #[arg(long, requires = "tls", conflicts_with_all = ["tls_ca", "tls_fingerprint"])]
    insecure: bool,

    /// The account to log in to (default: USERNAME). Needs a password
    /// from --password-file or NATTER_PASSWORD.
    #[arg(long, value_name = "NAME")]
    account: Option<String>,

    /// Log in with the password on this file's first line (keep the file
    /// readable only by you). Without it the password comes from the
    /// NATTER_PASSWORD environment variable; with neither, the client
    /// connects without logging in. (No --password option: the command line
    /// shows in `ps`.)
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// The password from `file`'s first line, else from NATTER_PASSWORD.
fn password(file: Option<&PathBuf>) -> Result<Option<String>, String> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?,
        None => match std::env::var("NATTER_PASSWORD") {
            Ok(text) => text,
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(e) => return Err(format!("NATTER_PASSWORD: {e}")),
        },
    };
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        let from = match file {
            Some(path) => format!("the first line of {}", path.display()),
            None => "NATTER_PASSWORD".to_string(),
        };
        return Err(format!("{from} is empty: put the account's password there"));
    }
    Ok(Some(first))
}

fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    natter::fingerprint::parse(text).ok_or_else(|| {
        "expected a SHA-256 fingerprint: 64 hex digits, with or without colons \
         (e.g. AB:CD:...), as natter-server --tls-self-signed prints it"
            .to_string()
    })
}

/// Exits with a usage error (status 2) saying `message`.
fn usage(message: &str) -> ExitCode {
    eprintln!("natter-client: {message}");
    ExitCode::from(2)
}

/// The configuration file: `--config FILE` (which must exist), else the
/// default path if there is a file there.
fn config(args: &Args) -> Result<ClientConfig, String> {
    let (path, must_exist) = match &args.config {
        Some(path) => (path.clone(), true),
        None => match ClientConfig::default_path() {
            Some(path) => (path, false),
            None => return Ok(ClientConfig::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(ClientConfig::default())
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let config = ClientConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if config.password.is_some() && readable_by_others(&path) {
        return Err(format!(
            "{} holds a password but other users can read it: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(config)
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

/// `--nick-color` (or the file's `nick_color`).
fn nick_colours(text: &str) -> Result<NickColours, String> {
    match text {
        "hash" | "on" => Ok(NickColours::Hash),
        "off" | "none" => Ok(NickColours::Off),
        colour => colour.parse().map(NickColours::One).map_err(|_| {
            format!(
                "--nick-color {colour:?}: expected hash, off, or a colour such as cyan, \
                 light-magenta, #ff8800 or an xterm number 0-255"
            )
        }),
    }
}

/// A strftime format that chrono can write (an unknown `%` is refused here
/// instead of when the first line is shown).
fn timestamp_format(text: &str) -> Result<String, String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(text).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "--timestamp-format {text:?} is not a strftime format (try %H:%M or %H:%M:%S)"
        ));
    }
    Ok(text.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match config(&args) {
        Ok(file) => file,
        Err(e) => return usage(&e),
    };
    let Some(username) = args.username.clone().or(file.nick.clone()) else {
        return usage(
            "give USERNAME HOST PORT (e.g. natter-client alice 127.0.0.1 6667), or set nick, \
             server and port in ~/.config/natter/client.toml",
        );
    };
    let Some(host) = args.host.clone().or(file.server.clone()) else {
        return usage("give the server: natter-client USERNAME HOST PORT, or server = \"...\" in the configuration file");
    };
    let port = match args.port.as_deref().map(str::parse::<u16>) {
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            let text = args.port.as_deref().unwrap_or("");
            return usage(&format!(
                "invalid value '{text}' for '<PORT>': {e} (a TCP port is 1-65535, e.g. 6667)"
            ));
        }
        None => match (file.port, file.tls.unwrap_or(false) || args.tls) {
            (Some(port), _) => port,
            (None, true) => 6697,
            (None, false) => 6667,
        },
    };
    let password_file = args
        .password_file
        .clone()
        .or(file.password_file.as_deref().map(expand_home));
    let password = match (password(password_file.as_ref()), &file.password) {
        (Ok(None), Some(in_file)) => Some(in_file.clone()),
        (Ok(password), _) => password,
        (Err(e), _) => return usage(&e),
    };
    let account = match (password, args.account.clone().or(file.account.clone())) {
        (Some(password), name) => Some(Account {
            name: name.unwrap_or_else(|| username.clone()),
            password,
        }),
        (None, Some(name)) => {
            return usage(&format!(
                "--account {name} needs a password: put it in a file and pass \
                 --password-file FILE, or set NATTER_PASSWORD"
            ));
        }
        (None, None) => None,
    };
    let fingerprint = match (&args.tls_fingerprint, &file.tls_fingerprint) {
        (Some(f), _) => Some(*f),
        (None, Some(text)) => match parse_fingerprint(text) {
            Ok(f) => Some(f),
            Err(e) => return usage(&format!("tls_fingerprint in the configuration file: {e}")),
        },
        (None, None) => None,
    };
    let ca = args
        .tls_ca
        .clone()
        .or(file.tls_ca.as_deref().map(expand_home));
    let tls = match (
        args.tls || file.tls.unwrap_or(false),
        ca,
        fingerprint,
        args.insecure,
    ) {
        (false, ..) => None,
        (true, _, _, true) => {
            eprintln!(
                "natter-client: WARNING: --insecure: the server's certificate is not checked; \
                 anyone between you and the server can read and change this chat. \
                 Use --tls-fingerprint instead."
            );
            Some(Trust::Insecure)
        }
        (true, Some(ca), ..) => Some(Trust::CaFile(ca)),
        (true, None, Some(fingerprint), _) => Some(Trust::Fingerprint(fingerprint)),
        (true, None, None, false) => Some(Trust::System),
    };
    let no_color = args.no_color
        || file.no_color.unwrap_or(false)
        || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let nicks = match args.nick_color.as_deref().or(file.nick_color.as_deref()) {
        None => NickColours::Hash,
        Some(text) => match nick_colours(text) {
            Ok(n) => n,
            Err(e) => return usage(&e),
        },
    };
    let timestamp = match args
        .timestamp_format
        .as_deref()
        .or(file.timestamp_format.as_deref())
    {
        None => "%H:%M".to_string(),
        Some(text) => match timestamp_format(text) {
            Ok(t) => t,
            Err(e) => return usage(&e),
        },
    };
    let room = match (&args.room, &file.rooms) {
        (Some(room), _) => room.clone(),
        (None, Some(rooms)) if !rooms.is_empty() => rooms.join(","),
        _ => "#lobby".to_string(),
    };
    let options = Options {
        tls,
        nick: username,
        host,
        port,
        room,
        account,
        line_mode: args.line_mode,
        view: ViewOptions {
            palette: Palette {
                colour: !no_color,
                nicks,
            },
            timestamp,
            nick_list: true,
        },
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natter-client: {e}");
            ExitCode::FAILURE
        }
    }
}
