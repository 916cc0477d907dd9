//! Password hashes: argon2id PHC strings, made and checked.
//!
//! Owns the only code that hashes or compares a password (`--hash-password`,
//! `--oper NAME:HASH`, and [`crate::core::Action::CheckPassword`]), and the
//! randomness SCRAM needs: salts for new [`ScramCredentials`] and the
//! server's part of each exchange's nonce (the core has no randomness).
//! Checks and derivations are slow on purpose, so the shell runs them off
//! the core task. Must never log, print or keep a password.

use crate::core::Credentials;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::Engine as _;
use std::fmt;
use std::sync::OnceLock;

use crate::core::scram::{ScramCredentials, DEFAULT_ITERATIONS};

/// Bytes of salt for new SCRAM credentials (RFC 5802 asks for a random
/// salt per user; 16 bytes is what argon2's PHC strings use too).
pub const SCRAM_SALT_LEN: usize = 16;

/// Why a hash could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordError(String);

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PasswordError {}

/// The argon2id PHC string for `password`, with argon2's default (OWASP
/// recommended) cost and a fresh random salt, e.g.
/// `$argon2id$v=19$m=19456,t=2,p=1$…$…`.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    hash_with(&Argon2::default(), password)
}

/// Like [`hash_password`] at the lowest cost argon2 allows: for tests only,
/// where a check must take microseconds. Never for a real password.
pub fn hash_password_cheaply(password: &str) -> Result<String, PasswordError> {
    let params = argon2::Params::new(8, 1, 1, None)
        .map_err(|e| PasswordError(format!("argon2 parameters: {e}")))?;
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    hash_with(&argon2, password)
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    argon2
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(format!("could not hash the password: {e}")))
}

/// Checks that `hash` is an argon2id PHC string this server can verify.
///
/// ```
/// use natter::net::password::{check_hash, hash_password_cheaply};
/// assert!(check_hash(&hash_password_cheaply("pw").unwrap()).is_ok());
/// assert!(check_hash("hunter2").is_err());
/// ```
pub fn check_hash(hash: &str) -> Result<(), PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|e| {
        PasswordError(format!(
            "not a password hash ({e}): make one with `natter-server --hash-password`"
        ))
    })?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(PasswordError(format!(
            "the hash uses {}, not argon2id: make one with `natter-server --hash-password`",
            parsed.algorithm
        )));
    }
    Ok(())
}

/// Whether `password` matches the PHC string `hash` (false for a hash that
/// does not parse). Takes as long as the hash's cost says.
///
/// ```
/// use natter::net::password::{hash_password_cheaply, verify};
/// let hash = hash_password_cheaply("correct horse").unwrap();
/// assert!(verify(&hash, "correct horse"));
/// assert!(!verify(&hash, "wrong"));
/// ```
pub fn verify(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Credentials for a new password: its argon2id hash at today's cost and
/// its SCRAM-SHA-256 keys.
pub fn credentials(password: &str) -> Result<Credentials, PasswordError> {
    Ok(Credentials {
        password_hash: hash_password(password)?,
        scram: scram_keys(password)?,
    })
}

/// The SCRAM-SHA-256 keys of `password` in storage form.
fn scram_keys(password: &str) -> Result<String, PasswordError> {
    Ok(scram_credentials(password)?.to_storage_string())
}

/// Checks `password` against an account's `hash`, as a login does: an
/// empty hash (no such account) is checked against a stand-in hash, so it
/// takes as long as a real check and fails. On success, when the hash was
/// made with other argon2 parameters than today's, also returns new
/// credentials ("upgraded on login").
pub fn check_and_upgrade(hash: &str, password: &str) -> (bool, Option<Credentials>) {
    if hash.is_empty() {
        let _ = verify(stand_in_hash(), password);
        return (false, None);
    }
    if !verify(hash, password) {
        return (false, None);
    }
    let current = argon2::Params::default();
    let outdated = PasswordHash::new(hash).map_or(true, |parsed| {
        argon2::Params::try_from(&parsed).map_or(true, |p| {
            (p.m_cost(), p.t_cost(), p.p_cost())
                != (current.m_cost(), current.t_cost(), current.p_cost())
        }) || parsed.algorithm.as_str() != "argon2id"
    });
    (true, outdated.then(|| credentials(password).ok()).flatten())
}

/// A hash at today's cost that no password is checked against for real.
fn stand_in_hash() -> &'static str {
    static STAND_IN: OnceLock<String> = OnceLock::new();
    STAND_IN
        .get_or_init(|| hash_password("natter stand-in for a missing account").unwrap_or_default())
}

/// SCRAM-SHA-256 credentials for `password`: a fresh 16-byte salt from the
/// operating system's CSPRNG, [`DEFAULT_ITERATIONS`] of PBKDF2. Store
/// [`ScramCredentials::to_storage_string`]; the password is not kept.
///
/// ```
/// use natter::net::password::scram_credentials;
/// let a = scram_credentials("pencil").unwrap();
/// let b = scram_credentials("pencil").unwrap();
/// assert_ne!(a.salt(), b.salt(), "each has its own salt");
/// ```
pub fn scram_credentials(password: &str) -> Result<ScramCredentials, PasswordError> {
    let mut salt = [0u8; SCRAM_SALT_LEN];
    random_bytes(&mut salt)?;
    Ok(ScramCredentials::derive(
        password,
        &salt,
        DEFAULT_ITERATIONS,
    ))
}

/// The server's part of a SCRAM nonce, for
/// [`crate::core::scram::ScramServer::start`]: 18 random bytes as 24
/// base64 characters (printable, never a comma).
pub fn scram_nonce() -> Result<String, PasswordError> {
    let mut bytes = [0u8; 18];
    random_bytes(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// 32 random bytes for [`crate::core::Event::Seeded`].
pub fn random_secret() -> Result<[u8; 32], PasswordError> {
    let mut secret = [0u8; 32];
    random_bytes(&mut secret)?;
    Ok(secret)
}

/// Fills `buf` from the operating system's CSPRNG (`getrandom`, the same
/// source argon2's salts come from).
fn random_bytes(buf: &mut [u8]) -> Result<(), PasswordError> {
    getrandom::fill(buf).map_err(|e| {
        PasswordError(format!(
            "the operating system gave no random bytes ({e}): check that /dev/urandom is readable"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_cost_hash_is_argon2id_salted_and_verifies() {
        let a = hash_password("s3cret").expect("hashes");
        let b = hash_password("s3cret").expect("hashes");
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(check_hash(&a).is_ok());
        assert!(verify(&a, "s3cret"));
        assert!(!verify(&a, "s3cret "));
    }

    #[test]
    fn a_login_to_no_account_fails_and_an_old_cost_hash_is_upgraded() {
        assert_eq!(check_and_upgrade("", "anything"), (false, None));
        let cheap = hash_password_cheaply("correct horse").expect("hashes");
        let (ok, upgrade) = check_and_upgrade(&cheap, "correct horse");
        assert!(ok);
        let upgrade = upgrade.expect("a cheap hash is upgraded");
        assert!(verify(&upgrade.password_hash, "correct horse"));
        assert!(
            upgrade.password_hash.contains("m=19456,t=2,p=1"),
            "today's cost"
        );
        let (ok, upgrade) = check_and_upgrade(&upgrade.password_hash, "correct horse");
        assert!(ok && upgrade.is_none(), "a current hash stays");
        assert_eq!(check_and_upgrade(&cheap, "wrong"), (false, None));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused_with_advice() {
        let argon2i = "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let e = check_hash(argon2i).expect_err("argon2i is refused");
        assert!(e.to_string().contains("--hash-password"), "{e}");
        assert!(check_hash("").is_err());
        assert!(!verify("not a hash", "anything"));
    }

    #[test]
    fn the_argon2_parameters_are_pinned_so_a_change_is_deliberate() {
        // argon2id, version 0x13 (19), m = 19 MiB, t = 2, p = 1: OWASP's
        // recommendation and argon2 0.6's default. Changing them changes
        // the cost of every OPER and login, and which hashes old servers
        // can check: update this test on purpose, never by accident.
        let hash = hash_password("pin").expect("hashes");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let params = argon2::Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19456, 2, 1)
        );
        assert_eq!(argon2::Algorithm::default(), argon2::Algorithm::Argon2id);
        assert_eq!(argon2::Version::default(), argon2::Version::V0x13);
    }

    #[test]
    fn scram_credentials_get_a_random_salt_and_the_default_iterations() {
        let a = scram_credentials("pencil").expect("derives");
        let b = scram_credentials("pencil").expect("derives");
        assert_eq!(a.salt().len(), SCRAM_SALT_LEN);
        assert_ne!(a.salt(), b.salt());
        assert_eq!(a.iterations(), DEFAULT_ITERATIONS);
        assert_eq!(
            a,
            ScramCredentials::derive("pencil", a.salt(), DEFAULT_ITERATIONS)
        );
        let stored = a.to_storage_string();
        assert!(!stored.contains("pencil"));
        assert_eq!(ScramCredentials::parse(&stored), Ok(a));
    }

    #[test]
    fn scram_nonces_are_printable_comma_free_and_fresh() {
        let a = scram_nonce().expect("random");
        assert_eq!(a.len(), 24);
        assert!(
            a.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','),
            "{a}"
        );
        assert_ne!(a, scram_nonce().expect("random"));
    }
}
