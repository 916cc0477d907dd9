//! Why a benchmark run could not produce a trustworthy result.
//!
//! Owns: `BenchError` and the wording that tells the user what to do next.
//! Must never: hide the server's own words (ERROR text and numerics are quoted
//! verbatim), or decide policy (the caller decides whether to retry).

use std::fmt;
use std::net::SocketAddr;

/// A benchmark run failed; `Display` says what happened and what to try.
///
/// ```
/// use natter::bench::BenchError;
/// let e = BenchError::Throttled { client: 7, phase: "run", text: "Excess Flood".into() };
/// assert!(e.to_string().contains("Excess Flood"));
/// ```
#[derive(Debug)]
pub enum BenchError {
    /// The TCP connection could not be made at all.
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The TLS handshake failed (`--tls`): not a TLS port, or TLS refused.
    Tls {
        client: usize,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The WebSocket handshake failed (`--ws`): not a web port, or refused.
    WebSocket {
        client: usize,
        addr: SocketAddr,
        reason: String,
    },
    /// The server answered registration or JOIN with an error numeric.
    Refused {
        client: usize,
        phase: &'static str,
        text: String,
    },
    /// The server closed the connection with a flood / connection-limit reason.
    Throttled {
        client: usize,
        phase: &'static str,
        text: String,
    },
    /// The server closed the connection (with its ERROR text, if it sent one).
    Dropped {
        client: usize,
        phase: &'static str,
        text: String,
    },
    /// Reading or writing a socket failed (reset, broken pipe, ...).
    Io {
        client: usize,
        phase: &'static str,
        source: std::io::Error,
    },
    /// The hard `--timeout` ran out before setup finished.
    Timeout {
        phase: &'static str,
        done: usize,
        wanted: usize,
        secs: f64,
    },
    /// The settings make no sense (e.g. more senders than members).
    Config(String),
}

impl BenchError {
    /// Build the error for a server's `ERROR :<text>`: flood and limit
    /// wording means throttling, anything else is a plain drop.
    pub fn server_message_error(client: usize, phase: &'static str, text: String) -> BenchError {
        let t = text.to_ascii_lowercase();
        let throttled = [
            "flood",
            "throttl",
            "too many",
            "excess",
            "sendq",
            "recvq",
            "limit",
            "too fast",
            "reconnect",
        ]
        .iter()
        .any(|w| t.contains(w));
        if throttled {
            BenchError::Throttled {
                client,
                phase,
                text,
            }
        } else {
            BenchError::Dropped {
                client,
                phase,
                text,
            }
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Connect { addr, source } => write!(
                f,
                "could not connect to {addr}: {source}; is the server running and listening \
                 there? (if some clients got in first, its listen backlog or open-file limit may \
                 be full: lower --concurrency)"
            ),
            BenchError::WebSocket {
                client,
                addr,
                reason,
            } => write!(
                f,
                "client {client}'s WebSocket handshake with {addr} failed: {reason}; is that \
                 the server's web port (natter-server's --web-port)? Drop --ws for an IRC port"
            ),
            BenchError::Tls {
                client,
                addr,
                source,
            } => write!(
                f,
                "client {client}'s TLS handshake with {addr} failed: {source}; is that the \
                 server's TLS port (natter-server's --tls-port, 6697 by default)? Drop --tls \
                 to benchmark a plaintext port"
            ),
            BenchError::Refused {
                client,
                phase,
                text,
            } => write!(
                f,
                "the server refused client {client} during {phase}: \"{text}\"; check its \
                 connection/channel limits (bench/*.conf.template lift them for the peers)"
            ),
            BenchError::Throttled {
                client,
                phase,
                text,
            } => write!(
                f,
                "the server throttled client {client} during {phase} and closed it: ERROR \
                 \"{text}\"; lift its flood and per-IP limits (see bench/*.conf.template), or \
                 lower --rate / --window / --concurrency"
            ),
            BenchError::Dropped {
                client,
                phase,
                text,
            } => write!(
                f,
                "the server dropped client {client} during {phase}: {text}; see the server's \
                 log (a slow reader may have exceeded its send queue: lower --window or --rate)"
            ),
            BenchError::Io {
                client,
                phase,
                source,
            } => write!(
                f,
                "client {client} lost its connection during {phase}: {source}; the server may \
                 have crashed or reset it, see the server's log"
            ),
            BenchError::Timeout {
                phase,
                done,
                wanted,
                secs,
            } => write!(
                f,
                "only {done} of {wanted} clients finished {phase} within the {secs:.0} s \
                 timeout; raise --timeout, or lower --clients or --concurrency"
            ),
            BenchError::Config(why) => write!(f, "invalid settings: {why}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Connect { source, .. }
            | BenchError::Io { source, .. }
            | BenchError::Tls { source, .. } => Some(source),
            _ => None,
        }
    }
}
