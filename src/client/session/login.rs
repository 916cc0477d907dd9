//! Logging in while connecting: SASL with SCRAM-SHA-256 (or PLAIN where it
//! is safe), driven by `AUTHENTICATE` lines. Part of [`Session`], kept apart
//! so each file reads in one sitting.

use super::*;

impl Session {
    /// Starts the SASL exchange the server just agreed to; `false` (after
    /// saying why) when there is no mechanism this session may use.
    pub(super) fn begin_sasl(&mut self, out: &mut Vec<Output>) -> bool {
        let Some(login) = &self.login else {
            return false;
        };
        let offered = |m: &str| self.sasl_mechanisms.iter().any(|o| o == m);
        // No list (a `sasl` without a value) means: try, and hear 908 if not.
        if self.sasl_mechanisms.is_empty() || offered("SCRAM-SHA-256") {
            self.sasl = Sasl::BegunScram;
            out.push(send(Message::new("AUTHENTICATE", ["SCRAM-SHA-256"])));
            return true;
        }
        if offered("PLAIN") && login.plain_allowed {
            self.sasl = Sasl::BegunPlain;
            out.push(send(Message::new("AUTHENTICATE", ["PLAIN"])));
            return true;
        }
        let why = if offered("PLAIN") {
            "the server offers only SASL PLAIN, which would send your password \
             readable on an unencrypted connection (connect with --tls)"
                .to_string()
        } else {
            format!(
                "the server offers no password login (only {})",
                self.sasl_mechanisms.join(", ")
            )
        };
        self.no_login(&why, out);
        false
    }

    /// Says that the session carries on without logging in, and why.
    pub(super) fn no_login(&mut self, why: &str, out: &mut Vec<Output>) {
        self.sasl = Sasl::Idle;
        let account = self.login.as_ref().map_or("", |l| l.account.as_str());
        out.push(display(
            LineKind::Error,
            format!("*** Not logged in as {account}: {why}. Carrying on without logging in."),
        ));
    }

    /// One `AUTHENTICATE` line from the server: a piece of its next SASL
    /// message (`+` is an empty one; a 400-byte piece means more follow).
    pub(super) fn on_authenticate(&mut self, piece: &str, out: &mut Vec<Output>) {
        if piece != "+" {
            self.sasl_partial.push_str(piece);
            if piece.len() == 400 && self.sasl_partial.len() < 64 * 1024 {
                return;
            }
        }
        let encoded = std::mem::take(&mut self.sasl_partial);
        let message = match B64.decode(encoded.as_bytes()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) if encoded.is_empty() => String::new(),
            Err(_) => {
                self.abort_sasl("the server sent a SASL message that is not base64", out);
                return;
            }
        };
        let Some(login) = self.login.clone() else {
            return;
        };
        match std::mem::replace(&mut self.sasl, Sasl::Waiting) {
            Sasl::BegunPlain => {
                let payload = format!("\0{}\0{}", login.account, login.password);
                out.extend(authenticate(payload.as_bytes()));
            }
            Sasl::BegunScram => {
                let client = ScramClient::new(&login.account, &login.password, &login.nonce);
                out.extend(authenticate(client.client_first().as_bytes()));
                self.sasl = Sasl::ScramFirst(Box::new(client));
            }
            Sasl::ScramFirst(mut client) => match client.client_final(&message) {
                Ok(last) => {
                    out.extend(authenticate(last.as_bytes()));
                    self.sasl = Sasl::ScramFinal(client);
                }
                Err(e) => self.abort_sasl(&scram_why(&e), out),
            },
            Sasl::ScramFinal(client) => match client.verify_server_final(&message) {
                Ok(()) => out.push(send(Message::new("AUTHENTICATE", ["+"]))),
                Err(e) => self.abort_sasl(&scram_why(&e), out),
            },
            other => self.sasl = other,
        }
    }

    /// Stops the SASL exchange (`AUTHENTICATE *`) and says why; the
    /// server's 906 then ends CAP negotiation.
    pub(super) fn abort_sasl(&mut self, why: &str, out: &mut Vec<Output>) {
        self.no_login(why, out);
        self.sasl = Sasl::Aborted;
        out.push(send(Message::new("AUTHENTICATE", ["*"])));
    }

    /// The end of a SASL exchange (903…907): registration goes on.
    pub(super) fn sasl_over(&mut self, out: &mut Vec<Output>) {
        self.sasl = Sasl::Idle;
        self.sasl_partial.clear();
        if !self.cap_done {
            self.end_cap(out);
        }
    }
}

/// `AUTHENTICATE` lines carrying one SASL message: base64 in 400-byte
/// pieces, `+` for an empty one or after a last piece of exactly 400.
pub(super) fn authenticate(message: &[u8]) -> Vec<Output> {
    let encoded = B64.encode(message);
    let mut out: Vec<Output> = encoded
        .as_bytes()
        .chunks(400)
        .map(|piece| {
            send(Message::new(
                "AUTHENTICATE",
                [String::from_utf8_lossy(piece)],
            ))
        })
        .collect();
    if encoded.len().is_multiple_of(400) {
        out.push(send(Message::new("AUTHENTICATE", ["+"])));
    }
    out
}

/// Why a SCRAM login stopped, for the person.
pub(super) fn scram_why(e: &ScramError) -> String {
    format!("SCRAM-SHA-256 login stopped: {e}")
}
