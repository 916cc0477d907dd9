//! [`ScramClient`]: the client side of SASL SCRAM-SHA-256 (RFC 5802 with
//! RFC 7677's hash), sans I/O.
//!
//! Owns the three SCRAM messages a client handles: client-first out,
//! server-first in / client-final out, server-final in (checking that the
//! server knows the password too). Must never read a clock or a random
//! source (the nonce is passed in), never send the password itself, and
//! never panic on anything a server sends.
//!
//! Not done: SASLprep of the password (RFC 4013). Passwords are used as
//! their UTF-8 bytes, which is what SASLprep leaves of every ASCII password
//! and what natter-server derives its keys from.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The fewest PBKDF2 iterations accepted: RFC 7677 asks for at least 4096,
/// and a server that asks for fewer makes a stolen exchange cheaper to crack.
pub const MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations accepted, so a hostile server cannot make the
/// client spin for minutes.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Why a SCRAM exchange cannot go on. `Display` says it for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The server reported an error (`e=…`).
    Server(String),
    /// A server message is not what SCRAM says it must be.
    Malformed(&'static str),
    /// The server's nonce does not start with ours (a replayed or forged exchange).
    NonceMismatch,
    /// The iteration count is outside what this client accepts.
    Iterations(u32),
    /// The server's signature is wrong: it does not know the password,
    /// or something between us changed the exchange.
    ServerSignature,
    /// A message arrived at a step where none was expected.
    OutOfOrder,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Server(e) => write!(f, "the server refused the login ({e})"),
            ScramError::Malformed(what) => write!(f, "the server sent a malformed {what}"),
            ScramError::NonceMismatch => {
                write!(f, "the server's nonce does not extend ours")
            }
            ScramError::Iterations(n) => write!(
                f,
                "the server asked for {n} PBKDF2 iterations (accepted: \
                 {MIN_ITERATIONS} to {MAX_ITERATIONS})"
            ),
            ScramError::ServerSignature => {
                write!(f, "the server could not prove that it knows your password")
            }
            ScramError::OutOfOrder => write!(f, "the server sent a SCRAM message out of order"),
        }
    }
}

impl std::error::Error for ScramError {}

/// One SCRAM-SHA-256 login, from the client's side.
///
/// ```
/// use natter::client::ScramClient;
/// // RFC 7677, section 3.
/// let mut c = ScramClient::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
/// assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
/// let last = c.client_final(
///     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///      s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
/// );
/// assert_eq!(
///     last.as_deref(),
///     Ok("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
///         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
/// );
/// assert_eq!(c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), Ok(()));
/// ```
pub struct ScramClient {
    /// The username as SCRAM writes it (`=` and `,` escaped).
    user: String,
    password: String,
    nonce: String,
    /// The server signature to expect, once client-final is made.
    expected: Option<Vec<u8>>,
}

impl fmt::Debug for ScramClient {
    /// Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("user", &self.user)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A login as `user` with `password`; `client_nonce` must be fresh and
    /// unpredictable (printable ASCII without `,`; the shell draws it from
    /// the OS's random source).
    pub fn new(user: &str, password: &str, client_nonce: &str) -> ScramClient {
        ScramClient {
            user: user.replace('=', "=3D").replace(',', "=2C"),
            password: password.to_string(),
            nonce: client_nonce.to_string(),
            expected: None,
        }
    }

    /// The client-first message: no channel binding (`n,,`), no authzid.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare())
    }

    fn first_bare(&self) -> String {
        format!("n={},r={}", self.user, self.nonce)
    }

    /// The client-final message (with the proof) answering `server_first`.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        if self.expected.is_some() {
            return Err(ScramError::OutOfOrder);
        }
        let field = |key: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(key))
                .map(str::to_string)
        };
        if let Some(e) = field("e=") {
            return Err(ScramError::Server(e));
        }
        let nonce = field("r=").ok_or(ScramError::Malformed("server-first (no r=)"))?;
        let salt = field("s=").ok_or(ScramError::Malformed("server-first (no s=)"))?;
        let iterations = field("i=").ok_or(ScramError::Malformed("server-first (no i=)"))?;
        if !(nonce.starts_with(&self.nonce) && nonce.len() > self.nonce.len()) {
            return Err(ScramError::NonceMismatch);
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| ScramError::Malformed("salt (not base64)"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| ScramError::Malformed("iteration count"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(self.password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = Sha256::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.first_bare());
        let signature = hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        self.expected = Some(hmac(&server_key, auth.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks server-final (`v=…`): `Ok` only if the server proved it
    /// knows the password.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        let Some(expected) = &self.expected else {
            return Err(ScramError::OutOfOrder);
        };
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(ScramError::Server(e.to_string()));
        }
        let got = server_final
            .split(',')
            .find_map(|f| f.strip_prefix("v="))
            .and_then(|v| B64.decode(v).ok())
            .ok_or(ScramError::Malformed("server-final"))?;
        if bool::from(got.ct_eq(expected)) {
            Ok(())
        } else {
            Err(ScramError::ServerSignature)
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC is defined for keys of any length: `new_from_slice` cannot fail.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn the_rfc_7677_exchange_gives_its_proof_and_accepts_its_server_signature() {
        let mut c = ScramClient::new("user", "pencil", NONCE);
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            c.client_final(SERVER_FIRST).as_deref(),
            Ok(
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            )
        );
        assert_eq!(
            c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(())
        );
    }

    #[test]
    fn a_server_that_does_not_know_the_password_is_caught() {
        let mut c = ScramClient::new("user", "pencil", NONCE);
        let _ = c.client_final(SERVER_FIRST);
        let forged = format!("v={}", B64.encode([7u8; 32]));
        assert_eq!(
            c.verify_server_final(&forged),
            Err(ScramError::ServerSignature)
        );
        assert_eq!(
            c.verify_server_final("e=invalid-proof"),
            Err(ScramError::Server("invalid-proof".into()))
        );
    }

    #[test]
    fn hostile_or_broken_server_first_messages_are_refused() {
        let cases = [
            (
                "r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                ScramError::NonceMismatch,
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                ScramError::NonceMismatch,
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
                ScramError::Iterations(1),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967295",
                ScramError::Iterations(u32::MAX),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,s=!!!,i=4096",
                ScramError::Malformed("salt (not base64)"),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,i=4096",
                ScramError::Malformed("server-first (no s=)"),
            ),
            ("e=unknown-user", ScramError::Server("unknown-user".into())),
            ("", ScramError::Malformed("server-first (no r=)")),
        ];
        for (first, want) in cases {
            let mut c = ScramClient::new("user", "pencil", NONCE);
            assert_eq!(c.client_final(first), Err(want), "{first:?}");
        }
        let c = ScramClient::new("user", "pencil", NONCE);
        assert_eq!(c.verify_server_final("v=abc"), Err(ScramError::OutOfOrder));
    }

    #[test]
    fn usernames_are_escaped_and_the_password_never_shows_in_debug() {
        let c = ScramClient::new("a=b,c", "hunter22", "n0nce");
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=n0nce");
        assert!(!format!("{c:?}").contains("hunter22"));
    }
}
