//! SASL: `AUTHENTICATE` with PLAIN and EXTERNAL (IRCv3 `sasl` 3.1/3.2),
//! answered with 900/903/904/905/906/907/908 exactly.
//!
//! Owns the exchange: which mechanisms a connection may use, gathering its
//! payload, and handing the password to the shell (PLAIN) or matching the
//! TLS certificate's fingerprint (EXTERNAL). Must never compare or log a
//! password or a payload.

use super::Server;
use crate::core::action::Via;
use crate::core::config::ServerConfig;
use crate::core::connection::{Connection, SaslExchange, SaslStep};
use crate::core::event::{ConnId, Now};
use crate::core::log::LogEntry;
use crate::core::sasl::{Chunk, Mechanism, Payload, PlainLogin};
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
    out
}

impl Server {
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
        if exchange.step != SaslStep::Start {
            // A payload while the password is being checked: not allowed.
            c.sasl = None;
            self.reply(conn, ERR_SASLFAIL, &["SASL authentication failed"]);
            return;
        }
        match exchange.payload.push(param) {
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
                self.sasl_message(conn, mechanism, &bytes, now);
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
        c.sasl = Some(SaslExchange {
            mechanism,
            payload: Payload::default(),
            step: SaslStep::Start,
        });
        let m = self.server_message("AUTHENTICATE", ["+"]);
        self.send(conn, &m);
    }

    /// A complete SASL message from the client.
    fn sasl_message(&mut self, conn: ConnId, mechanism: Mechanism, bytes: &[u8], now: Now) {
        match mechanism {
            Mechanism::Plain => {
                let Some(login) = PlainLogin::parse(bytes) else {
                    self.sasl_failed(conn);
                    return;
                };
                // Acting as someone else (authzid) is for services, not people.
                let acts_as_self = login.authzid.is_empty()
                    || casefold(&login.authzid) == casefold(&login.authcid);
                if !acts_as_self {
                    self.sasl_failed(conn);
                    return;
                }
                if let Some(x) = self
                    .connections
                    .get_mut(&conn)
                    .and_then(|c| c.sasl.as_mut())
                {
                    x.step = SaslStep::Checking;
                }
                self.begin_login(conn, &login.authcid, &login.password, Via::Sasl, now);
            }
            Mechanism::External => {
                let authzid = String::from_utf8_lossy(bytes).into_owned();
                self.sasl_external(conn, &authzid, now);
            }
            Mechanism::ScramSha256 => self.sasl_failed(conn),
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
                account: if authzid.is_empty() {
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
