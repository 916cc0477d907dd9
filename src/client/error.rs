//! [`ClientError`]: every way natter-client can fail, worded for the person.
//!
//! Owns the messages printed on stderr before a non-zero exit. Must never
//! hold I/O handles or decide exit behaviour itself.

use super::tls::CertProblem;
use std::fmt;

/// Why the client stopped. `Display` says what happened and what to do.
///
/// ```
/// use natter::client::ClientError;
/// let e = ClientError::ConnectionRefused { addr: "127.0.0.1:6667".into() };
/// assert!(e.to_string().contains("is natter-server running"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The host name did not resolve to any address.
    HostNotFound { host: String, reason: String },
    /// Nothing listens on the port.
    ConnectionRefused { addr: String },
    /// Connecting failed for another reason (unreachable, timed out, …).
    Connect { addr: String, reason: String },
    /// The nickname is taken and the client will not pick another.
    NickInUse { nick: String },
    /// The server refused the nickname as invalid.
    NickInvalid { nick: String },
    /// The connection ended while chatting.
    ConnectionLost { addr: String },
    /// The server closed the connection and said why (`ERROR :reason`).
    ClosedByServer { addr: String, reason: String },
    /// Reading the terminal or stdin failed.
    Input { reason: String },
    /// The server's TLS certificate was refused.
    Certificate { addr: String, problem: CertProblem },
    /// The TLS handshake or connection failed for another reason.
    Tls { addr: String, reason: String },
    /// The `--tls-ca` file could not be used.
    TlsCaFile { path: String, reason: String },
    /// The system has no trusted root certificates to check the server with.
    NoSystemRoots,
    /// The OS's random source failed (a SCRAM login needs a fresh nonce).
    NoRandomness { reason: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::HostNotFound { host, reason } => write!(
                f,
                "host {host:?} not found ({reason}): check the spelling, or use an IP address such as 127.0.0.1"
            ),
            ClientError::ConnectionRefused { addr } => write!(
                f,
                "connection to {addr} refused: is natter-server running there, and is the port right?"
            ),
            ClientError::Connect { addr, reason } => write!(
                f,
                "could not connect to {addr}: {reason}; check the host, the port and your network"
            ),
            ClientError::NickInUse { nick } => write!(
                f,
                "nickname {nick:?} is already in use on this server: choose another username"
            ),
            ClientError::NickInvalid { nick } => write!(
                f,
                "nickname {nick:?} is not allowed: use letters, digits and [ ] \\ ` _ ^ {{ | }} -, not starting with a digit"
            ),
            ClientError::ConnectionLost { addr } => write!(
                f,
                "connection to {addr} lost: the server went away; reconnect when it is back"
            ),
            ClientError::ClosedByServer { addr, reason } => {
                write!(f, "the server at {addr} closed the connection: {reason}")
            }
            ClientError::Input { reason } => {
                write!(f, "could not read input: {reason}")
            }
            ClientError::Certificate { addr, problem } => {
                write!(f, "TLS refused for {addr}: {problem}")
            }
            ClientError::Tls { addr, reason } => {
                write!(f, "TLS with {addr} failed: {reason}")
            }
            ClientError::TlsCaFile { path, reason } => write!(
                f,
                "cannot use the CA file {path}: {reason}; --tls-ca wants a PEM file with \
                 \"-----BEGIN CERTIFICATE-----\" blocks"
            ),
            ClientError::NoSystemRoots => write!(
                f,
                "this system has no trusted root certificates (install the ca-certificates \
                 package), or use --tls-ca FILE or --tls-fingerprint SHA256"
            ),
            ClientError::NoRandomness { reason } => write!(
                f,
                "the system's random source failed ({reason}), so the login cannot be made \
                 safe; try again, or leave out the password to connect without logging in"
            ),
        }
    }
}

impl std::error::Error for ClientError {}
