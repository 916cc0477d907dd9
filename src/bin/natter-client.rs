//! `natter-client USERNAME HOST PORT`: connect, join #lobby, chat.
//!
//! Wiring only: parses the command line and runs [`natter::client::terminal`].

use clap::Parser;
use natter::client::terminal::{run, Options};
use std::process::ExitCode;

/// A terminal chat client for natter (and any IRC server).
///
/// Connects as USERNAME, joins #lobby and shows the room. Type to talk;
/// /help lists the commands (/msg, /join, /part, /names, /nick, /me, /topic,
/// /quit). When stdin is not a terminal, each input line is sent, chat is
/// printed as plain lines on stdout, and the client quits at the end of input.
///
/// Exit status: 0 after a clean quit; 1 when the host is not found, the
/// connection is refused or lost, or the nickname is taken (in a pipe the
/// client does not pick another one); 2 for bad arguments.
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        nick: args.username,
        host: args.host,
        port: args.port,
        room: args.room,
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natter-client: {e}");
            ExitCode::FAILURE
        }
    }
}
