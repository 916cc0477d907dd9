//! A cluster node's vault: the passwords its own clients sent, kept here
//! while the log carries only references to them.
//!
//! Owns each local connection's [`Sealer`] (where its SASL exchange
//! stands) and the secrets taken out of its lines, until the core asks for
//! them (`CheckPassword`/`HashPassword` with a [`Secret::vaulted`]
//! reference, carried out only by this node) or the connection ends. Must
//! never hand a secret to anything but that password work, never keep one
//! past its use or its connection, and never grow without bound: at most
//! [`MAX_PER_CONNECTION`] secrets per connection (the oldest goes first;
//! a reference to one gone is a password that does not match).

use crate::cluster::Input;
use crate::core::secrets::Sealer;
use crate::core::{ConnId, Secret};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// Most secrets one connection's lines may have waiting here. The core
/// works on one password per connection at a time; a few more cover lines
/// queued behind it (and refused ones, kept until their connection ends).
pub const MAX_PER_CONNECTION: usize = 8;

/// One local connection's part of the vault.
#[derive(Default)]
struct Kept {
    sealer: Sealer,
    secrets: VecDeque<(u64, Secret)>,
}

/// The vault (see the module doc).
#[derive(Default)]
pub(crate) struct Vault {
    conns: FxHashMap<ConnId, Kept>,
    /// The last id handed out (ids start at 1: 0 is never one).
    last_id: u64,
}

impl Vault {
    /// The input to log for a local `input`: a client line that carries a
    /// secret comes back sealed ([`Input::SealedLine`], or a plain line
    /// with the secret taken out), the secret kept here; a connection that
    /// ended takes its secrets with it. Everything else is unchanged.
    /// `prove` checks a SCRAM proof for a connection against the node's
    /// core ([`crate::core::Server::scram_proof_holds`]).
    pub(crate) fn seal(
        &mut self,
        input: Input,
        server_password: Option<&str>,
        prove: &mut dyn FnMut(ConnId, &[u8]) -> bool,
    ) -> Input {
        match input {
            Input::Line { conn, line, now } => {
                let kept = self.conns.entry(conn).or_default();
                let id = self.last_id + 1;
                let mut prove = |bytes: &[u8]| prove(conn, bytes);
                let Some(sealed) = kept.sealer.seal(&line, server_password, id, &mut prove) else {
                    return Input::Line { conn, line, now };
                };
                if let Some(secret) = sealed.secret {
                    self.last_id = id;
                    if kept.secrets.len() >= MAX_PER_CONNECTION {
                        kept.secrets.pop_front();
                    }
                    kept.secrets.push_back((id, secret));
                }
                match sealed.seal {
                    Some(seal) => Input::SealedLine {
                        conn,
                        line: sealed.line,
                        seal,
                        now,
                    },
                    None => Input::Line {
                        conn,
                        line: sealed.line,
                        now,
                    },
                }
            }
            Input::Disconnected { conn, reason, now } => {
                self.conns.remove(&conn);
                Input::Disconnected { conn, reason, now }
            }
            other => other,
        }
    }

    /// The password `secret` refers to, taken out of the vault (a secret
    /// that is no reference is returned as it is). `None` when it is gone:
    /// its connection ended, or it was pushed out by later ones.
    pub(crate) fn take(&mut self, conn: ConnId, secret: Secret) -> Option<Secret> {
        let Some(id) = secret.vault_id() else {
            return Some(secret);
        };
        let kept = self.conns.get_mut(&conn)?;
        let at = kept.secrets.iter().position(|(i, _)| *i == id)?;
        kept.secrets.remove(at).map(|(_, secret)| secret)
    }

    /// Forgets every connection (this node was declared down: they are
    /// all gone).
    pub(crate) fn clear(&mut self) {
        self.conns.clear();
    }

    /// How many secrets are kept, all connections together.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.conns.values().map(|k| k.secrets.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::secrets::Seal;
    use crate::core::Now;

    fn seal(vault: &mut Vault, input: Input, password: Option<&str>) -> Input {
        vault.seal(input, password, &mut |_, _| false)
    }

    fn line(conn: u64, text: &str) -> Input {
        Input::Line {
            conn: ConnId(conn),
            line: text.into(),
            now: Now::default(),
        }
    }

    fn sealed_id(input: &Input) -> u64 {
        match input {
            Input::SealedLine {
                seal: Seal::Password { id, .. },
                ..
            } => *id,
            other => panic!("not a sealed password: {other:?}"),
        }
    }

    #[test]
    fn a_sealed_password_is_swapped_back_once_for_its_own_connection_only() {
        let mut vault = Vault::default();
        let logged = seal(&mut vault, line(1, "OPER admin hunter2"), None);
        let id = sealed_id(&logged);
        assert!(!format!("{logged:?}").contains("hunter2"));
        assert_eq!(vault.take(ConnId(2), Secret::vaulted(id)), None);
        let back = vault.take(ConnId(1), Secret::vaulted(id)).expect("kept");
        assert_eq!(back.expose(), "hunter2");
        assert_eq!(
            vault.take(ConnId(1), Secret::vaulted(id)),
            None,
            "used once"
        );
        let plain = Secret::new("typed");
        assert_eq!(vault.take(ConnId(1), plain.clone()), Some(plain));
    }

    #[test]
    fn lines_without_secrets_pass_unchanged_and_keep_nothing() {
        let mut vault = Vault::default();
        let event = line(1, "PRIVMSG #lobby :hunter2");
        assert_eq!(seal(&mut vault, event.clone(), None), event);
        let pass = seal(&mut vault, line(1, "PASS hunter2"), Some("hunter2"));
        assert!(matches!(
            pass,
            Input::SealedLine {
                seal: Seal::ServerPassword { matches: true },
                ..
            }
        ));
        assert_eq!(vault.len(), 0);
    }

    #[test]
    fn a_connection_keeps_at_most_its_cap_and_takes_its_secrets_when_it_ends() {
        let mut vault = Vault::default();
        let ids: Vec<u64> = (0..MAX_PER_CONNECTION + 2)
            .map(|i| {
                sealed_id(&seal(
                    &mut vault,
                    line(1, &format!("OPER admin pw{i}")),
                    None,
                ))
            })
            .collect();
        seal(&mut vault, line(2, "OPER admin other"), None);
        assert_eq!(vault.len(), MAX_PER_CONNECTION + 1);
        assert_eq!(
            vault.take(ConnId(1), Secret::vaulted(ids[0])),
            None,
            "pushed out"
        );
        let newest = vault.take(ConnId(1), Secret::vaulted(ids[ids.len() - 1]));
        assert_eq!(
            newest.map(|s| s.expose().to_string()).as_deref(),
            Some("pw9")
        );
        let gone = Input::Disconnected {
            conn: ConnId(1),
            reason: "bye".into(),
            now: Now::default(),
        };
        assert_eq!(seal(&mut vault, gone.clone(), None), gone);
        assert_eq!(vault.len(), 1);
        vault.clear();
        assert_eq!(vault.len(), 0);
    }
}
