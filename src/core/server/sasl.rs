//! SASL: `AUTHENTICATE` with PLAIN, EXTERNAL and SCRAM-SHA-256 (IRCv3 `sasl` 3.1/3.2),
//! answered with 900/903/904/905/906/907/908 exactly.
//!
//! Owns the exchange: which mechanisms a connection may use, gathering its
//! payload, and handing the password to the shell (PLAIN) or matching the
//! TLS certificate's fingerprint (EXTERNAL). Must never compare or log a
//! password or a payload.

use super::accounts::throttle_keys;
use super::Server;
use crate::core::action::Via;
use crate::core::config::ServerConfig;
use crate::core::connection::{Connection, SaslExchange, SaslStep};
use crate::core::event::{ConnId, Now};
use crate::core::log::LogEntry;
use crate::core::sasl::{chunks, Chunk, Mechanism, Payload};
use crate::core::scram::{self, ScramChallenge, ScramCredentials, ScramServer};
use crate::core::secrets::{plain_verdict, PlainVerdict, Seal, SealedPlain, SealedScram};
use crate::proto::numeric::*;
use crate::proto::{casefold, Message};

/// The mechanisms `c` may use: PLAIN only where a password cannot be read
/// on the way (TLS or loopback) unless the operator allowed it; EXTERNAL
/// only over TLS.
pub(super) fn mechanisms_for(config: &ServerConfig, c: &Connection) -> Vec<&'static str> {
    let mut out = Vec::new();
    if c.is_secure() || config.sasl_plain_without_tls {
        out.push(Mechanism::Plain.name());
    }
    if c.tls {
        out.push(Mechanism::External.name());
    }
    // SCRAM never sends the password: fine on any connection.
    out.push(Mechanism::ScramSha256.name());
    out
}

impl Server {
    /// Whether `client_final` (a SCRAM-SHA-256 client-final-message) proves
    /// the password for `conn`'s exchange as it stands: false when `conn`
    /// is not waiting for one. For a cluster node sealing its own client's
    /// line ([`crate::core::secrets::Sealer::seal`]): the proof stays out
    /// of the log, and this answer goes in instead.
    pub fn scram_proof_holds(&self, conn: ConnId, client_final: &[u8]) -> bool {
        let Some(exchange) = self.connections.get(&conn).and_then(|c| c.sasl.as_ref()) else {
            return false;
        };
        match &exchange.step {
            SaslStep::ScramFinal {
                challenge,
                account: Some(_),
            } => challenge.as_ref().clone().finish(client_final).is_ok(),
            _ => false,
        }
    }

    /// `AUTHENTICATE <mechanism>`, then `AUTHENTICATE <base64 chunk>`s, or
    /// `AUTHENTICATE *` to abort.
    pub(super) fn handle_authenticate(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let param = msg.param(0);
        if c.account.is_some() {
            self.reply(
                conn,
                ERR_SASLALREADY,
                &["You have already authenticated using SASL"],
            );
            return;
        }
        if param == "*" {
            if c.sasl.take().is_some() {
                self.reply(conn, ERR_SASLABORTED, &["SASL authentication aborted"]);
            } else {
                self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
            }
            return;
        }
        let Some(exchange) = c.sasl.as_mut() else {
            self.start_sasl(conn, param);
            return;
        };
        if matches!(exchange.step, SaslStep::Checking) {
            // A payload while the password is being checked: not allowed.
            c.sasl = None;
            self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
            return;
        }
        let chunk = exchange.payload.push(param);
        // A sealed PLAIN payload: the node holding the connection decoded
        // it, and its verdict stands for the stand-in chunks logged.
        let chunk = match (chunk, self.sealed.as_deref(), exchange.mechanism) {
            (Chunk::Done(_) | Chunk::Invalid, Some(Seal::SaslPlain(sealed)), Mechanism::Plain) => {
                match sealed {
                    SealedPlain::NotBase64 => Chunk::Invalid,
                    _ => Chunk::Done(Vec::new()),
                }
            }
            (
                Chunk::Done(_) | Chunk::Invalid,
                Some(Seal::ScramFinal(sealed)),
                Mechanism::ScramSha256,
            ) => match sealed {
                SealedScram::NotBase64 => Chunk::Invalid,
                SealedScram::Final { .. } => Chunk::Done(Vec::new()),
            },
            (chunk, _, _) => chunk,
        };
        match chunk {
            Chunk::More => {}
            Chunk::TooLong => {
                c.sasl = None;
                self.reply(conn, ERR_SASLTOOLONG, &["SASL message too long"]);
            }
            Chunk::Invalid => {
                c.sasl = None;
                self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
            }
            Chunk::Done(bytes) => {
                let mechanism = exchange.mechanism;
                let step = std::mem::replace(&mut exchange.step, SaslStep::Checking);
                match step {
                    SaslStep::Start => self.sasl_message(conn, mechanism, &bytes, now),
                    SaslStep::ScramFinal { challenge, account } => {
                        self.scram_final(conn, *challenge, account, &bytes, now)
                    }
                    SaslStep::ScramDone { account } if bytes.is_empty() => {
                        if let Some(c) = self.connections.get_mut(&conn) {
                            c.sasl = None;
                        }
                        self.log_in(conn, &account, "SASL SCRAM-SHA-256", now);
                        self.reply(conn, RPL_SASLSUCCESS, &["SASL authentication successful"]);
                    }
                    _ => self.sasl_failed(conn),
                }
            }
        }
    }

    /// `AUTHENTICATE <mechanism>`: `AUTHENTICATE +` to go on, or 908 and
    /// 904 for a mechanism this connection cannot use.
    fn start_sasl(&mut self, conn: ConnId, name: &str) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        let offered = mechanisms_for(&self.config, c);
        let mechanism = Mechanism::parse(name).filter(|m| offered.contains(&m.name()));
        let Some(mechanism) = mechanism else {
            let list = offered.join(",");
            self.reply(
                conn,
                RPL_SASLMECHS,
                &[&list, "are available SASL mechanisms"],
            );
            self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
            return;
        };
        c.sasl = Some(Box::new(SaslExchange {
            mechanism,
            payload: Payload::default(),
            step: SaslStep::Start,
        }));
        let m = self.server_message("AUTHENTICATE", ["+"]);
        self.send(conn, &m);
    }

    /// A complete SASL message from the client.
    fn sasl_message(&mut self, conn: ConnId, mechanism: Mechanism, bytes: &[u8], now: Now) {
        match mechanism {
            Mechanism::Plain => {
                let verdict = match self.sealed.as_deref() {
                    Some(Seal::SaslPlain(sealed)) => sealed.verdict(),
                    _ => plain_verdict(bytes),
                };
                let PlainVerdict::Login { authcid, password } = verdict else {
                    self.sasl_failed(conn);
                    return;
                };
                if let Some(x) = self
                    .connections
                    .get_mut(&conn)
                    .and_then(|c| c.sasl.as_mut())
                {
                    x.step = SaslStep::Checking;
                }
                self.begin_login(conn, &authcid, password, Via::Sasl, now);
            }
            Mechanism::External => {
                let authzid = String::from_utf8_lossy(bytes).into_owned();
                self.sasl_external(conn, &authzid, now);
            }
            Mechanism::ScramSha256 => self.scram_first(conn, bytes, now),
        }
    }

    /// SCRAM client-first: answer with server-first, on the account's keys
    /// or, for an unknown account (or one without SCRAM keys yet), on
    /// stand-in keys, so the answer does not tell whether it exists.
    fn scram_first(&mut self, conn: ConnId, bytes: &[u8], now: Now) {
        self.nonces += 1;
        let suffix = scram::nonce(&self.secret, self.nonces);
        let Ok(server) = ScramServer::start(bytes, &suffix) else {
            self.sasl_failed(conn);
            return;
        };
        let username = server.username().to_string();
        let Some(host) = self.connections.get(&conn).map(|c| c.host.clone()) else {
            return;
        };
        let keys = throttle_keys(&username, &host);
        if self.login_throttle.wait_secs(&keys, now.mono) > 0 {
            self.sasl_failed(conn);
            return;
        }
        let found = self.accounts.get(&username).and_then(|a| {
            let keys = ScramCredentials::parse(&a.scram).ok()?;
            Some((a.name.clone(), keys))
        });
        let (account, credentials) = match found {
            Some((name, keys)) => (Some(name), keys),
            None => (None, ScramCredentials::dummy(&username, &self.secret)),
        };
        let (challenge, server_first) = server.server_first(&credentials);
        if let Some(x) = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.sasl.as_mut())
        {
            x.step = SaslStep::ScramFinal {
                challenge: Box::new(challenge),
                account,
            };
        }
        self.send_sasl_challenge(conn, server_first.as_bytes());
    }

    /// SCRAM client-final: a right proof gets server-final (then the
    /// client's empty answer logs it in); a wrong one gets 904.
    fn scram_final(
        &mut self,
        conn: ConnId,
        challenge: ScramChallenge,
        account: Option<String>,
        bytes: &[u8],
        now: Now,
    ) {
        let username = challenge.username().to_string();
        // In a cluster the proof stayed with the node holding the
        // connection: it checked it, and its answer stands.
        let proven = match self.sealed.as_deref() {
            Some(Seal::ScramFinal(SealedScram::Final {
                without_proof,
                proven,
            })) => challenge.finish_proven(without_proof, *proven),
            _ => challenge.finish(bytes),
        };
        match (proven, account) {
            (Ok(server_final), Some(account)) => {
                let keys = throttle_keys(&account, &self.host_of(conn));
                self.login_throttle.succeeded(&keys);
                if let Some(x) = self
                    .connections
                    .get_mut(&conn)
                    .and_then(|c| c.sasl.as_mut())
                {
                    x.step = SaslStep::ScramDone { account };
                }
                self.send_sasl_challenge(conn, server_final.as_bytes());
            }
            _ => {
                let keys = throttle_keys(&username, &self.host_of(conn));
                self.login_throttle.failed(&keys, now.mono);
                let nick = self.nick_of(conn).unwrap_or("*").to_string();
                let entry = LogEntry::LoginFailed {
                    nick,
                    account: self.logged_name(&username),
                    how: "SASL SCRAM-SHA-256".into(),
                };
                self.log(now.wall, entry);
                self.sasl_failed(conn);
            }
        }
    }

    /// The host part of `conn`'s address (empty once it is gone).
    fn host_of(&self, conn: ConnId) -> String {
        self.connections
            .get(&conn)
            .map(|c| c.host.clone())
            .unwrap_or_default()
    }

    /// `AUTHENTICATE <base64>` lines carrying `message`.
    fn send_sasl_challenge(&mut self, conn: ConnId, message: &[u8]) {
        for chunk in chunks(message) {
            let m = self.server_message("AUTHENTICATE", [chunk.as_str()]);
            self.send(conn, &m);
        }
    }

    /// EXTERNAL: the certificate's fingerprint names the account (and the
    /// authzid, if given, must be that account).
    fn sasl_external(&mut self, conn: ConnId, authzid: &str, now: Now) {
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.sasl = None;
        let nick = c.nick_or_star().to_string();
        let account = c
            .certfp
            .as_deref()
            .and_then(|fp| self.accounts.by_certfp(fp))
            .map(|a| a.name.clone())
            .filter(|name| authzid.is_empty() || casefold(authzid) == casefold(name));
        let Some(account) = account else {
            let entry = LogEntry::LoginFailed {
                nick,
                account: if authzid.is_empty() || self.accounts.get(authzid).is_none() {
                    "*".into()
                } else {
                    authzid.to_string()
                },
                how: "SASL EXTERNAL".into(),
            };
            self.log(now.wall, entry);
            self.sasl_failed(conn);
            return;
        };
        self.log_in(conn, &account, "SASL EXTERNAL", now);
        self.reply(conn, RPL_SASLSUCCESS, &["SASL authentication successful"]);
    }

    /// 904, and the exchange is over.
    fn sasl_failed(&mut self, conn: ConnId) {
        if let Some(c) = self.connections.get_mut(&conn) {
            c.sasl = None;
        }
        self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
    }
}
