//! SCRAM-SHA-256 (RFC 5802, RFC 7677), the server's side: stored
//! credentials and one authentication exchange.
//!
//! Owns the SCRAM wire format (client-first, server-first, client-final,
//! server-final), the credential derivation (PBKDF2-HMAC-SHA-256 into
//! StoredKey and ServerKey) and their storage string. The SASL handler
//! drives an exchange: [`ScramServer::start`] on the client's first message,
//! [`ScramServer::server_first`] once it has looked up the credentials, then
//! [`ScramChallenge::finish`] on the client's final message.
//!
//! Pure: must never read a clock, draw randomness (the server's nonce part
//! comes from the caller, who got it from the shell), or keep a password.
//! Must never panic on anything a client sends. Channel binding
//! (`SCRAM-SHA-256-PLUS`) is not offered.
//!
//! A whole exchange, with RFC 7677's example:
//!
//! ```
//! use natter::core::scram::{ScramCredentials, ScramServer};
//! use base64::Engine as _;
//! let salt = base64::engine::general_purpose::STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
//! let credentials = ScramCredentials::derive("pencil", &salt, 4096);
//! let start = ScramServer::start(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").unwrap();
//! assert_eq!(start.username(), "user");
//! let (challenge, server_first) = start.server_first(&credentials);
//! assert_eq!(server_first, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
//! let server_final = challenge.finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").unwrap();
//! assert_eq!(server_final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The SASL mechanism name this module implements.
pub const MECHANISM: &str = "SCRAM-SHA-256";

/// PBKDF2 iterations for new credentials: 4096 is the least RFC 7677
/// (section 4) says a server should announce. Each login costs the client
/// (not the server) this many HMACs; raise it for new accounts if clients
/// keep up.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The longest client message accepted, in bytes. Real ones are under 200;
/// the cap keeps an attacker's nonce from being echoed at any length.
pub const MAX_MESSAGE_LEN: usize = 2048;

/// The prefix of [`ScramCredentials::to_storage_string`].
const STORAGE_TAG: &str = "scram-sha-256";

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA-256 of `data` under `key`.
/// A server nonce for exchange number `counter`, derived from the shell's
/// random `secret` (HMAC-SHA-256 as a generator): unpredictable without the
/// secret, and never the same twice in a run. 24 printable characters,
/// never a comma.
///
/// ```
/// let a = natter::core::scram::nonce(b"secret", 1);
/// assert_eq!(a.len(), 24);
/// assert_ne!(a, natter::core::scram::nonce(b"secret", 2));
/// ```
pub fn nonce(secret: &[u8], counter: u64) -> String {
    let mut data = b"natter scram nonce\0".to_vec();
    data.extend_from_slice(&counter.to_be_bytes());
    BASE64.encode(&hmac(secret, &data)[..18])
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (longer ones are hashed), so this
    // cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Why an exchange failed or a stored credential could not be read. The
/// message says what the client (or the operator, for storage) must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// A client message was longer than [`MAX_MESSAGE_LEN`].
    TooLong,
    /// A client message was not UTF-8.
    NotUtf8,
    /// The GS2 header was not `n,,`, `y,,` or `p=…,…,`.
    BadGs2Header,
    /// The client asked for channel binding (`p=`), which is not offered.
    ChannelBindingUnsupported,
    /// The client asked to act for someone else (`a=`).
    AuthzidNotUsername {
        /// The identity it asked to act as.
        authzid: String,
        /// The identity it authenticates as.
        username: String,
    },
    /// A mandatory extension (`m=`) that this server does not know.
    MandatoryExtension,
    /// A required attribute was missing or out of place.
    MissingAttribute(char),
    /// A name was empty or used `=` other than as `=2C` or `=3D`.
    BadName,
    /// The client's nonce was empty or held characters a nonce may not.
    BadNonce,
    /// The nonce in client-final was not the one the server sent.
    NonceMismatch,
    /// The server nonce part given by the caller was empty or held
    /// characters a nonce may not (a bug in the caller, not the client).
    BadServerNonce,
    /// `c=` did not encode the GS2 header of the client's first message.
    ChannelBindingMismatch,
    /// An attribute that must be base64 was not.
    BadBase64(char),
    /// The proof was not 32 bytes long.
    BadProofLength,
    /// The proof did not match: wrong password (or unknown user).
    InvalidProof,
    /// A stored credential string could not be read.
    BadStorage(&'static str),
}

impl ScramError {
    /// The RFC 5802 `server-error-value` for a server-final `e=` reply.
    pub fn server_error_value(&self) -> &'static str {
        match self {
            ScramError::ChannelBindingUnsupported => "channel-binding-not-supported",
            ScramError::ChannelBindingMismatch => "channel-bindings-dont-match",
            ScramError::AuthzidNotUsername { .. } => "invalid-username-encoding",
            ScramError::BadName => "invalid-username-encoding",
            ScramError::MandatoryExtension => "extensions-not-supported",
            ScramError::InvalidProof => "invalid-proof",
            _ => "other-error",
        }
    }
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::TooLong => write!(
                f,
                "the SCRAM message is longer than {MAX_MESSAGE_LEN} bytes: send a shorter nonce"
            ),
            ScramError::NotUtf8 => f.write_str("the SCRAM message is not UTF-8"),
            ScramError::BadGs2Header => f.write_str(
                "the SCRAM message does not start with a GS2 header: begin it with `n,,`",
            ),
            ScramError::ChannelBindingUnsupported => f.write_str(
                "channel binding is not offered: use SCRAM-SHA-256 (not -PLUS) and start with `n,,`",
            ),
            ScramError::AuthzidNotUsername { authzid, username } => write!(
                f,
                "you may only log in as yourself: leave `a=` out, or make it `{username}` (not `{authzid}`)"
            ),
            ScramError::MandatoryExtension => {
                f.write_str("SCRAM extensions (`m=`) are not supported: leave them out")
            }
            ScramError::MissingAttribute(name) => {
                write!(f, "the SCRAM message lacks `{name}=` where it belongs")
            }
            ScramError::BadName => f.write_str(
                "the SCRAM user name is empty or uses `=` other than as `=2C` or `=3D`",
            ),
            ScramError::BadNonce => f.write_str(
                "the client nonce must be printable ASCII without commas, and not empty",
            ),
            ScramError::NonceMismatch => {
                f.write_str("the nonce is not the one the server sent: restart authentication")
            }
            ScramError::BadServerNonce => f.write_str(
                "the server's nonce part must be printable ASCII without commas, and not empty",
            ),
            ScramError::ChannelBindingMismatch => f.write_str(
                "`c=` must be the base64 of the GS2 header sent first (`biws` for `n,,`)",
            ),
            ScramError::BadBase64(name) => write!(f, "`{name}=` is not valid base64"),
            ScramError::BadProofLength => {
                f.write_str("the proof must be 32 bytes (a SHA-256 HMAC), base64-encoded")
            }
            ScramError::InvalidProof => f.write_str("the password is wrong"),
            ScramError::BadStorage(why) => write!(
                f,
                "not a stored SCRAM credential ({why}): expected \
                 `scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY`, base64 parts"
            ),
        }
    }
}

impl std::error::Error for ScramError {}

/// What the server keeps to check one account's SCRAM-SHA-256 logins: the
/// salt, the iteration count, and two keys derived from the password. The
/// password itself is never kept, and neither key lets anyone log in
/// without it (the StoredKey is a hash of what the client proves it has).
///
/// ```
/// use natter::core::scram::ScramCredentials;
/// let credentials = ScramCredentials::derive("pencil", b"some salt", 4096);
/// let stored = credentials.to_storage_string();
/// assert!(stored.starts_with("scram-sha-256$4096$"));
/// assert_eq!(ScramCredentials::parse(&stored), Ok(credentials));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentials {
    /// The credentials for `password` with `salt` and `iterations` (at
    /// least 1): SaltedPassword = PBKDF2-HMAC-SHA-256, ClientKey =
    /// HMAC(SaltedPassword, "Client Key"), StoredKey = SHA-256(ClientKey),
    /// ServerKey = HMAC(SaltedPassword, "Server Key"). Takes as long as
    /// `iterations` says: in the shell, off the core task.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramCredentials {
        let iterations = iterations.max(1);
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Stand-in credentials for a user that does not exist, so that an
    /// exchange for an unknown name looks like one for a real name: the
    /// same salt every time for the same name (a fresh one each time would
    /// tell them apart), [`DEFAULT_ITERATIONS`], and keys no password
    /// matches. `server_secret` is random bytes the shell keeps for the run
    /// (or longer); with it, nobody can tell these salts from real ones.
    pub fn dummy(username: &str, server_secret: &[u8]) -> ScramCredentials {
        let derive = |label: &str| hmac(server_secret, format!("{label}\0{username}").as_bytes());
        ScramCredentials {
            salt: derive("natter dummy salt")[..16].to_vec(),
            iterations: DEFAULT_ITERATIONS,
            stored_key: derive("natter dummy stored key"),
            server_key: derive("natter dummy server key"),
        }
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// StoredKey: SHA-256 of the ClientKey.
    pub fn stored_key(&self) -> &[u8; 32] {
        &self.stored_key
    }

    /// ServerKey: what the server proves itself with.
    pub fn server_key(&self) -> &[u8; 32] {
        &self.server_key
    }

    /// The text form for storage:
    /// `scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY`, the last three
    /// in standard base64 with padding (which never contains `$`).
    pub fn to_storage_string(&self) -> String {
        format!(
            "{STORAGE_TAG}${}${}${}${}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }

    /// Reads what [`ScramCredentials::to_storage_string`] wrote.
    pub fn parse(stored: &str) -> Result<ScramCredentials, ScramError> {
        let mut parts = stored.split('$');
        if parts.next() != Some(STORAGE_TAG) {
            return Err(ScramError::BadStorage(
                "it does not start with `scram-sha-256$`",
            ));
        }
        let (Some(iterations), Some(salt), Some(stored_key), Some(server_key), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ScramError::BadStorage(
                "it does not have five `$`-separated parts",
            ));
        };
        let iterations = match iterations.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(ScramError::BadStorage(
                    "the iteration count is not a number from 1",
                ))
            }
        };
        let decode = |part: &str| {
            BASE64
                .decode(part)
                .map_err(|_| ScramError::BadStorage("a part is not valid base64"))
        };
        let key = |part: &str| -> Result<[u8; 32], ScramError> {
            decode(part)?
                .try_into()
                .map_err(|_| ScramError::BadStorage("a key is not 32 bytes"))
        };
        let salt = decode(salt)?;
        if salt.is_empty() {
            return Err(ScramError::BadStorage("the salt is empty"));
        }
        Ok(ScramCredentials {
            salt,
            iterations,
            stored_key: key(stored_key)?,
            server_key: key(server_key)?,
        })
    }
}

/// An exchange that has read the client's first message and waits for the
/// caller to look up the credentials of [`ScramServer::username`].
#[derive(Clone)]
pub struct ScramServer {
    /// The GS2 header, exactly as sent (`n,,` or `y,,`, with any `a=`).
    gs2_header: String,
    /// client-first-message-bare.
    client_first_bare: String,
    /// The client's nonce followed by ours.
    nonce: String,
    username: String,
    authzid: Option<String>,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("username", &self.username)
            .field("authzid", &self.authzid)
            .finish_non_exhaustive()
    }
}

/// An exchange that sent server-first and waits for client-final.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct ScramChallenge {
    gs2_header: String,
    nonce: String,
    /// client-first-message-bare "," server-first-message ",".
    auth_message_start: String,
    username: String,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl fmt::Debug for ScramChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramChallenge")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Whether `s` is a valid nonce: printable ASCII but `,`, not empty.
fn is_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Decodes a saslname (`=2C` is `,`, `=3D` is `=`); `None` when empty or
/// when `=` starts anything else.
fn decode_saslname(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// The value of attribute `name` in `field` (`name=value`).
fn attribute(field: Option<&str>, name: char) -> Result<&str, ScramError> {
    field
        .and_then(|f| f.strip_prefix(name))
        .and_then(|f| f.strip_prefix('='))
        .ok_or(ScramError::MissingAttribute(name))
}

/// A client message as text, within [`MAX_MESSAGE_LEN`].
fn message_text(bytes: &[u8]) -> Result<&str, ScramError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(ScramError::TooLong);
    }
    std::str::from_utf8(bytes).map_err(|_| ScramError::NotUtf8)
}

impl ScramServer {
    /// Reads client-first-message. `nonce_suffix` is the server's part of
    /// the nonce: fresh random printable characters (no `,`) from the
    /// caller, e.g. 18 random bytes in base64.
    pub fn start(client_first: &[u8], nonce_suffix: &str) -> Result<ScramServer, ScramError> {
        if !is_nonce(nonce_suffix) {
            return Err(ScramError::BadServerNonce);
        }
        let text = message_text(client_first)?;
        let mut gs2 = text.splitn(3, ',');
        let (Some(cbind), Some(authzid), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
            return Err(ScramError::BadGs2Header);
        };
        match cbind {
            // `y`: the client supports channel binding but thinks we do
            // not; we do not, so there is no downgrade to detect.
            "n" | "y" => {}
            _ if cbind.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(ScramError::BadGs2Header),
        }
        let authzid = match authzid {
            "" => None,
            a => Some(
                a.strip_prefix("a=")
                    .and_then(decode_saslname)
                    .ok_or(ScramError::BadGs2Header)?,
            ),
        };
        let gs2_header = text[..text.len() - bare.len()].to_string();
        let mut fields = bare.split(',');
        let mut first = fields.next();
        if first.is_some_and(|f| f.starts_with("m=")) {
            return Err(ScramError::MandatoryExtension);
        }
        let username = decode_saslname(attribute(first.take(), 'n')?).ok_or(ScramError::BadName)?;
        let client_nonce = attribute(fields.next(), 'r')?;
        if !is_nonce(client_nonce) {
            return Err(ScramError::BadNonce);
        }
        // Optional extensions after the nonce are ignored (RFC 5802 5.1).
        if let Some(a) = &authzid {
            if *a != username {
                return Err(ScramError::AuthzidNotUsername {
                    authzid: a.clone(),
                    username,
                });
            }
        }
        Ok(ScramServer {
            gs2_header,
            client_first_bare: bare.to_string(),
            nonce: format!("{client_nonce}{nonce_suffix}"),
            username,
            authzid,
        })
    }

    /// The name the client authenticates as (`n=`, `=2C`/`=3D` decoded).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The identity it asked to act as (`a=`), if it gave one; when given
    /// it is always equal to [`ScramServer::username`].
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// The server-first-message for `credentials` (the user's, or
    /// [`ScramCredentials::dummy`] ones for an unknown user), and the
    /// exchange waiting for the client's answer.
    pub fn server_first(self, credentials: &ScramCredentials) -> (ScramChallenge, String) {
        let server_first = format!(
            "r={},s={},i={}",
            self.nonce,
            BASE64.encode(&credentials.salt),
            credentials.iterations
        );
        let challenge = ScramChallenge {
            gs2_header: self.gs2_header,
            auth_message_start: format!("{},{server_first},", self.client_first_bare),
            nonce: self.nonce,
            username: self.username,
            stored_key: credentials.stored_key,
            server_key: credentials.server_key,
        };
        (challenge, server_first)
    }
}

impl ScramChallenge {
    /// The name the client authenticates as.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Reads client-final-message and checks its proof (in constant
    /// time). On success, returns server-final-message (`v=…`), which the
    /// client checks to know it talked to a server holding its keys.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = message_text(client_final)?;
        let (without_proof, proof) = text
            .rsplit_once(',')
            .ok_or(ScramError::MissingAttribute('p'))?;
        let auth_message = self.auth_message(without_proof)?;
        let proof = attribute(Some(proof), 'p')?;
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::BadBase64('p'))?;
        let proof: [u8; 32] = proof.try_into().map_err(|_| ScramError::BadProofLength)?;
        let client_signature = hmac(&self.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key
            .iter_mut()
            .zip(proof.iter().zip(client_signature.iter()))
        {
            *k = p ^ s;
        }
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        if !bool::from(stored_key.ct_eq(&self.stored_key)) {
            return Err(ScramError::InvalidProof);
        }
        Ok(self.server_final(&auth_message))
    }

    /// Like [`ScramChallenge::finish`], for a client-final-message whose
    /// proof was checked elsewhere (by the cluster node holding the
    /// connection, which logs the message without its proof): `proven`
    /// is that check's answer; everything else is checked here.
    pub fn finish_proven(self, without_proof: &str, proven: bool) -> Result<String, ScramError> {
        let auth_message = self.auth_message(without_proof)?;
        if !proven {
            return Err(ScramError::InvalidProof);
        }
        Ok(self.server_final(&auth_message))
    }

    /// Checks client-final-message-without-proof (channel binding, nonce)
    /// and returns the AuthMessage the proof and server-final sign.
    fn auth_message(&self, without_proof: &str) -> Result<String, ScramError> {
        if without_proof.len() > MAX_MESSAGE_LEN {
            return Err(ScramError::TooLong);
        }
        let mut fields = without_proof.split(',');
        let binding = attribute(fields.next(), 'c')?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| ScramError::BadBase64('c'))?;
        if binding != self.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        let nonce = attribute(fields.next(), 'r')?;
        if nonce != self.nonce {
            return Err(ScramError::NonceMismatch);
        }
        // Optional extensions between the nonce and the proof are ignored.
        Ok(format!("{}{without_proof}", self.auth_message_start))
    }

    /// server-final-message (`v=…`) for `auth_message`.
    fn server_final(&self, auth_message: &str) -> String {
        let server_signature = hmac(&self.server_key, auth_message.as_bytes());
        format!("v={}", BASE64.encode(server_signature))
    }
}

#[cfg(test)]
mod tests;
