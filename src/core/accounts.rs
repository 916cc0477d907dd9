//! Accounts: who is registered, with what credentials, and the throttle
//! that slows password guessing.
//!
//! Owns [`Account`] (what is stored of one registered user), the
//! [`AccountBook`] the core looks accounts up in (by name and by TLS
//! certificate fingerprint), and [`LoginThrottle`]. Credentials are kept
//! only as the shell made them: an argon2id PHC string and SCRAM-SHA-256
//! keys. Must never hold, compare or hash a password (the shell does, see
//! [`crate::core::Action::CheckPassword`]) and never read a clock.

use super::event::{Instant, Timestamp};
use crate::proto::{casefold, is_valid_nick};
use std::collections::BTreeMap;

/// Most TLS certificate fingerprints one account may hold (`CERT ADD`).
pub const MAX_CERTFPS: usize = 8;

/// One registered account, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// The account name as registered (a valid nickname, which it protects).
    pub name: String,
    /// The argon2id PHC string of its password.
    pub password_hash: String,
    /// Its SCRAM-SHA-256 keys (never the password), in the storage form of
    /// [`crate::core::scram::ScramCredentials`]; empty when it has none yet
    /// (then SCRAM login fails and PLAIN or IDENTIFY fill them in).
    pub scram: String,
    /// The e-mail address given at registration, if any (never verified:
    /// natter sends no mail).
    pub email: Option<String>,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// SHA-256 fingerprints (lowercase hex) of TLS client certificates that
    /// log in to it with SASL EXTERNAL.
    pub certfps: Vec<String>,
}

/// The credentials the shell made from a new password.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// argon2id PHC string.
    pub password_hash: String,
    /// SCRAM-SHA-256 keys in storage form.
    pub scram: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not passwords, but they are still offline-guessable.
        f.write_str("Credentials(<redacted>)")
    }
}

/// Every account, by case-folded name.
///
/// ```
/// use natter::core::{Account, AccountBook, Timestamp};
/// let mut book = AccountBook::default();
/// book.insert(Account {
///     name: "Alice".into(), password_hash: "$argon2id$…".into(), scram: String::new(),
///     email: None, registered_at: Timestamp(0), certfps: vec!["ab12".into()],
/// });
/// assert_eq!(book.get("ALICE").map(|a| a.name.as_str()), Some("Alice"));
/// assert_eq!(book.by_certfp("AB:12").map(|a| a.name.as_str()), Some("Alice"));
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AccountBook {
    accounts: BTreeMap<String, Account>,
}

impl AccountBook {
    /// The account called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.accounts.get(&casefold(name))
    }

    /// The account called `name` (any case), to change it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Account> {
        self.accounts.get_mut(&casefold(name))
    }

    /// Adds or replaces `account`.
    pub fn insert(&mut self, account: Account) {
        self.accounts.insert(casefold(&account.name), account);
    }

    /// Forgets the account called `name`; returns it if there was one.
    pub fn remove(&mut self, name: &str) -> Option<Account> {
        self.accounts.remove(&casefold(name))
    }

    /// The account that holds the certificate fingerprint `fp` (any case,
    /// colons allowed).
    pub fn by_certfp(&self, fp: &str) -> Option<&Account> {
        let fp = normalize_certfp(fp)?;
        self.accounts.values().find(|a| a.certfps.contains(&fp))
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// Whether `name` can be an account name: the same rules as a nickname,
/// since registering an account protects the nickname of the same name.
pub fn is_valid_account_name(name: &str) -> bool {
    is_valid_nick(name) && !is_service_name(name)
}

/// Whether `name` is one of the built-in services (`NickServ`, `ChanServ`),
/// which nobody can take as a nick or an account.
pub fn is_service_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("nickserv") || name.eq_ignore_ascii_case("chanserv")
}

/// A SHA-256 certificate fingerprint as stored: 64 lowercase hex digits,
/// from any case and with or without colons. `None` if it is not hex.
///
/// ```
/// use natter::core::normalize_certfp;
/// assert_eq!(normalize_certfp("AB:cd").as_deref(), Some("abcd"));
/// assert_eq!(normalize_certfp("xyz"), None);
/// ```
pub fn normalize_certfp(fp: &str) -> Option<String> {
    let hex: String = fp
        .chars()
        .filter(|&c| c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let ok = !hex.is_empty() && hex.len() <= 128 && hex.chars().all(|c| c.is_ascii_hexdigit());
    ok.then_some(hex)
}

/// Failed logins that are free: after these, each further failure doubles
/// the wait before the next attempt is even checked.
pub const FREE_LOGIN_FAILURES: u32 = 3;
/// The longest wait the throttle ever imposes, in seconds: an attacker can
/// slow the owner down, never lock them out for longer than this.
pub const MAX_LOGIN_WAIT_SECS: u64 = 300;
/// Most keys the throttle remembers; the stalest are forgotten first.
const MAX_THROTTLE_KEYS: usize = 10_000;

/// Slows password guessing: failures are counted per account and per
/// address; past [`FREE_LOGIN_FAILURES`], attempts are refused until a wait
/// that doubles with each failure, at most [`MAX_LOGIN_WAIT_SECS`]. A
/// success clears the counts for its account and address; a key that
/// has been quiet for longer than the longest wait is forgotten.
///
/// ```
/// use natter::core::{Instant, LoginThrottle};
/// let mut t = LoginThrottle::default();
/// for _ in 0..3 { t.failed(&["acct:alice"], Instant(0)); }
/// assert_eq!(t.wait_secs(&["acct:alice"], Instant(0)), 0);
/// t.failed(&["acct:alice"], Instant(0));
/// assert_eq!(t.wait_secs(&["acct:alice"], Instant(0)), 2);
/// assert_eq!(t.wait_secs(&["acct:alice"], Instant(2_000)), 0);
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LoginThrottle {
    /// key → (failures, when the last one happened).
    failures: BTreeMap<String, (u32, Instant)>,
}

impl LoginThrottle {
    /// Seconds to wait before any of `keys` may try again (0: go ahead).
    pub fn wait_secs(&self, keys: &[impl AsRef<str>], now: Instant) -> u64 {
        keys.iter()
            .filter_map(|k| self.failures.get(k.as_ref()))
            .map(|&(count, last)| {
                let until = last.plus_secs(penalty_secs(count));
                until.0.saturating_sub(now.0).div_ceil(1000)
            })
            .max()
            .unwrap_or(0)
    }

    /// Counts a failed login against each of `keys`.
    pub fn failed(&mut self, keys: &[impl AsRef<str>], now: Instant) {
        for key in keys {
            let entry = self
                .failures
                .entry(key.as_ref().to_string())
                .or_insert((0, now));
            // A key quiet for longer than the longest wait starts afresh.
            if now.secs_since(entry.1) > MAX_LOGIN_WAIT_SECS {
                entry.0 = 0;
            }
            entry.0 = entry.0.saturating_add(1);
            entry.1 = now;
        }
        if self.failures.len() > MAX_THROTTLE_KEYS {
            self.forget_stalest();
        }
    }

    /// Clears `keys` after a successful login.
    pub fn succeeded(&mut self, keys: &[impl AsRef<str>]) {
        for key in keys {
            self.failures.remove(key.as_ref());
        }
    }

    fn forget_stalest(&mut self) {
        let mut by_age: Vec<(Instant, String)> = self
            .failures
            .iter()
            .map(|(k, &(_, last))| (last, k.clone()))
            .collect();
        by_age.sort_unstable();
        let excess = self.failures.len().saturating_sub(MAX_THROTTLE_KEYS);
        for (_, key) in by_age.into_iter().take(excess) {
            self.failures.remove(&key);
        }
    }
}

/// How long a key with `count` failures waits: nothing for the first few,
/// then 2, 4, 8 … seconds, capped.
fn penalty_secs(count: u32) -> u64 {
    if count <= FREE_LOGIN_FAILURES {
        return 0;
    }
    let doublings = (count - FREE_LOGIN_FAILURES).min(20);
    (1u64 << doublings).min(MAX_LOGIN_WAIT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_and_is_capped_so_the_owner_is_never_locked_out_for_good() {
        let waits: Vec<u64> = (0..15).map(penalty_secs).collect();
        assert_eq!(&waits[..7], &[0, 0, 0, 0, 2, 4, 8]);
        assert_eq!(waits[14], MAX_LOGIN_WAIT_SECS);
        let mut t = LoginThrottle::default();
        for _ in 0..40 {
            t.failed(&["ip:1.2.3.4"], Instant(0));
        }
        assert_eq!(
            t.wait_secs(&["ip:1.2.3.4"], Instant(0)),
            MAX_LOGIN_WAIT_SECS
        );
        let later = Instant(0).plus_secs(MAX_LOGIN_WAIT_SECS);
        assert_eq!(t.wait_secs(&["ip:1.2.3.4"], later), 0);
        // Quiet for longer than the longest wait: the count starts again.
        t.failed(&["ip:1.2.3.4"], later.plus_secs(1));
        assert_eq!(t.wait_secs(&["ip:1.2.3.4"], later.plus_secs(1)), 0);
    }

    #[test]
    fn a_success_clears_the_count_and_other_keys_are_not_slowed() {
        let mut t = LoginThrottle::default();
        for _ in 0..6 {
            t.failed(&["acct:alice", "ip:a"], Instant(0));
        }
        assert!(t.wait_secs(&["acct:alice"], Instant(0)) > 0);
        assert_eq!(t.wait_secs(&["acct:bob", "ip:b"], Instant(0)), 0);
        t.succeeded(&["acct:alice"]);
        assert_eq!(t.wait_secs(&["acct:alice"], Instant(0)), 0);
        assert!(t.wait_secs(&["ip:a"], Instant(0)) > 0);
    }

    #[test]
    fn the_throttle_forgets_its_stalest_keys_past_its_bound() {
        let mut t = LoginThrottle::default();
        for i in 0..(MAX_THROTTLE_KEYS as u64 + 10) {
            t.failed(&[&format!("ip:{i}")], Instant(i));
        }
        assert_eq!(t.failures.len(), MAX_THROTTLE_KEYS);
        assert!(!t.failures.contains_key("ip:0"));
    }

    #[test]
    fn account_names_are_nicknames_and_services_are_reserved() {
        assert!(is_valid_account_name("alice"));
        assert!(!is_valid_account_name("NickServ"));
        assert!(!is_valid_account_name("chanserv"));
        assert!(!is_valid_account_name("9lives"));
    }
}
