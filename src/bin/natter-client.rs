//! `natter-client USERNAME HOST PORT`: connect, join #lobby, chat.
//!
//! Wiring only: parses the command line and runs [`natter::client::terminal`].

use clap::Parser;
use natter::client::terminal::{run, Account, Options};
use natter::client::tls::Trust;
use std::path::PathBuf;
use std::process::ExitCode;

/// A terminal chat client for natter (and any IRC server).
///
/// Connects as USERNAME, joins #lobby and shows the room. Type to talk;
/// /help lists the commands (/msg, /query, /join, /part, /names, /nick, /me,
/// /topic, /quit). When stdin is not a terminal, each input line is sent, chat
/// is printed as plain lines on stdout, and the client quits at the end of
/// input.
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
#[command(name = "natter-client", version)]
struct Args {
    /// Your nickname in the chat, e.g. John.
    username: String,
    /// The server's host name or IP address, e.g. 127.0.0.1.
    host: String,
    /// The server's TCP port, e.g. 6667.
    port: u16,
    /// The room to join once connected.
    #[arg(long, default_value = "#lobby")]
    room: String,

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

fn main() -> ExitCode {
    let args = Args::parse();
    let password = match password(args.password_file.as_ref()) {
        Ok(password) => password,
        Err(e) => {
            eprintln!("natter-client: {e}");
            return ExitCode::from(2);
        }
    };
    let account = match (password, args.account) {
        (Some(password), name) => Some(Account {
            name: name.unwrap_or_else(|| args.username.clone()),
            password,
        }),
        (None, Some(name)) => {
            eprintln!(
                "natter-client: --account {name} needs a password: put it in a file and pass \
                 --password-file FILE, or set NATTER_PASSWORD"
            );
            return ExitCode::from(2);
        }
        (None, None) => None,
    };
    let tls = match (args.tls, args.tls_ca, args.tls_fingerprint, args.insecure) {
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
    let options = Options {
        tls,
        nick: args.username,
        host: args.host,
        port: args.port,
        room: args.room,
        account,
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natter-client: {e}");
            ExitCode::FAILURE
        }
    }
}
