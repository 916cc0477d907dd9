//! Secrets in client lines: where a line carries a password (or a SASL
//! PLAIN payload), the rules the chat rules apply to a password itself,
//! and sealing a line: taking its secret out and leaving in its place only
//! what the chat rules need to know of it (a [`Seal`]).
//!
//! Owns the one rule of which commands carry secrets — `PASS`, `OPER`,
//! `REGISTER`, `VERIFY`, NickServ's `REGISTER`, `IDENTIFY`/`LOGIN` and
//! `SET PASSWORD` (by `PRIVMSG`/`NOTICE NickServ`, `NICKSERV`, `NS`), and
//! `AUTHENTICATE` payloads of PLAIN — and the verdicts on a password that
//! must be the same wherever they are made: [`new_password_verdict`],
//! [`is_server_password`], [`plain_verdict`].
//!
//! A single server feeds its core lines as they came, and the core applies
//! these verdict functions itself. A cluster node seals each line of its
//! own clients with a [`Sealer`] before the line goes into the shared log,
//! keeps the secret in its own vault, and logs the sealed line: every core
//! then sees the same verdict, and only a vault reference
//! ([`Secret::vaulted`]) travels on to `CheckPassword`/`HashPassword`.
//!
//! Pure: never keeps a secret (the sealer hands it back to its caller, in
//! a [`Secret`]) and never logs one.

use super::action::Secret;
use super::sasl::{Chunk, Mechanism, Payload, PlainLogin};
use crate::proto::{casefold, Message};
use serde::{Deserialize, Serialize};

/// What stands in a sealed line where a secret was.
pub const SEALED: &str = "*";

/// Longest password accepted for an account (as account-registration
/// suggests: it must fit in a message to NickServ).
pub const MAX_PASSWORD: usize = 300;
/// Shortest password accepted for an account.
pub const MIN_PASSWORD: usize = 8;

/// What the rules for a new account password say of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NewPassword {
    /// It may be an account's password.
    Acceptable,
    /// Empty, longer than [`MAX_PASSWORD`] bytes, or more than one word.
    Unacceptable,
    /// Fewer than [`MIN_PASSWORD`] characters.
    Weak,
}

/// The rules for a new account password (`REGISTER`, NickServ `REGISTER`
/// and `SET PASSWORD`).
///
/// ```
/// use natter::core::secrets::{new_password_verdict, NewPassword};
/// assert_eq!(new_password_verdict("correct horse"), NewPassword::Unacceptable);
/// assert_eq!(new_password_verdict("short"), NewPassword::Weak);
/// assert_eq!(new_password_verdict("long-enough"), NewPassword::Acceptable);
/// ```
pub fn new_password_verdict(password: &str) -> NewPassword {
    if password.len() > MAX_PASSWORD || password.contains(' ') || password.is_empty() {
        NewPassword::Unacceptable
    } else if password.chars().count() < MIN_PASSWORD {
        NewPassword::Weak
    } else {
        NewPassword::Acceptable
    }
}

/// Whether `given` (sent with `PASS`) is the server password `server`
/// (never, when the server has none). Compares every byte, so the time
/// taken does not tell how much of it was right.
pub fn is_server_password(server: Option<&str>, given: &str) -> bool {
    let Some(server) = server else {
        return false;
    };
    let (a, b) = (server.as_bytes(), given.as_bytes());
    let differ = a
        .iter()
        .zip(b)
        .fold(u8::from(a.len() != b.len()), |acc, (x, y)| acc | (x ^ y));
    differ == 0
}

/// What a decoded SASL PLAIN message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlainVerdict {
    /// Not an `authzid NUL authcid NUL password` message: the login fails.
    Malformed,
    /// Asks to act as someone else (an authzid that is not the authcid):
    /// that is for services, not people; the login fails.
    OtherIdentity,
    /// A login to `authcid` with `password`, for the shell to check.
    Login { authcid: String, password: Secret },
}

/// The verdict on the decoded PLAIN message `bytes`.
///
/// ```
/// use natter::core::secrets::{plain_verdict, PlainVerdict};
/// assert!(matches!(plain_verdict(b"\0alice\0pw"), PlainVerdict::Login { .. }));
/// assert_eq!(plain_verdict(b"bob\0alice\0pw"), PlainVerdict::OtherIdentity);
/// assert_eq!(plain_verdict(b"alice\0pw"), PlainVerdict::Malformed);
/// ```
pub fn plain_verdict(bytes: &[u8]) -> PlainVerdict {
    let Some(login) = PlainLogin::parse(bytes) else {
        return PlainVerdict::Malformed;
    };
    let acts_as_self =
        login.authzid.is_empty() || casefold(&login.authzid) == casefold(&login.authcid);
    if !acts_as_self {
        return PlainVerdict::OtherIdentity;
    }
    PlainVerdict::Login {
        authcid: login.authcid,
        password: Secret::new(login.password),
    }
}

/// What the chat rules may know of the secret taken out of a sealed line;
/// it travels in the log with the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seal {
    /// `PASS`: whether it was the server password.
    ServerPassword { matches: bool },
    /// A password (`OPER`, `REGISTER`, NickServ `REGISTER`, `IDENTIFY`,
    /// `SET PASSWORD`), kept under `id` in the vault of the node that holds
    /// the connection, and what the rules for new passwords say of it.
    Password { id: u64, verdict: NewPassword },
    /// The last chunk of a SASL PLAIN payload: what the whole decoded to.
    SaslPlain(SealedPlain),
    /// The last chunk of a SCRAM-SHA-256 client-final-message. Its proof
    /// is kept out of the log: with the SCRAM keys the log holds (they come
    /// with every account), a proof and its AuthMessage give away the
    /// client's key, which logs in as its owner.
    ScramFinal(SealedScram),
}

/// A SCRAM-SHA-256 client-final-message as the node holding the
/// connection read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealedScram {
    /// The payload was not base64.
    NotBase64,
    /// The message without its proof, and whether the proof held (checked
    /// by that node against its core's exchange:
    /// [`crate::core::Server::scram_proof_holds`]).
    Final { without_proof: String, proven: bool },
}

/// A SASL PLAIN payload as the node holding the connection decoded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SealedPlain {
    /// The payload was not base64.
    NotBase64,
    /// [`PlainVerdict::Malformed`].
    Malformed,
    /// [`PlainVerdict::OtherIdentity`].
    OtherIdentity,
    /// [`PlainVerdict::Login`], the password kept under `id`.
    Login { authcid: String, id: u64 },
}

impl SealedPlain {
    /// The verdict a core acts on (the password as its vault reference).
    pub fn verdict(&self) -> PlainVerdict {
        match self {
            SealedPlain::NotBase64 | SealedPlain::Malformed => PlainVerdict::Malformed,
            SealedPlain::OtherIdentity => PlainVerdict::OtherIdentity,
            SealedPlain::Login { authcid, id } => PlainVerdict::Login {
                authcid: authcid.clone(),
                password: Secret::vaulted(*id),
            },
        }
    }
}

/// A line with its secret taken out ([`Sealer::seal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The line to log and feed in place of the one the client sent.
    pub line: String,
    /// What the chat rules need to know of the secret (`None` when they
    /// need nothing: the line is fed as an ordinary line).
    pub seal: Option<Seal>,
    /// The secret, for the caller's vault under the id it gave
    /// ([`Sealer::seal`]); `None` when the seal refers to none.
    pub secret: Option<Secret>,
}

/// Where a connection's SASL exchange stands, as far as its lines tell.
#[derive(Debug, Clone, Default)]
enum Sasl {
    /// No exchange (or one whose last message was sent): a payload chunk
    /// now can only be refused, so it is never logged.
    #[default]
    Idle,
    /// A PLAIN exchange: its payload is gathered here, never logged.
    Plain(Payload),
    /// A SCRAM-SHA-256 exchange, with how many of its messages were whole
    /// (the second, client-final, carries the proof: gathered here, never
    /// logged) and the one being gathered.
    Scram { whole: u8, payload: Payload },
    /// EXTERNAL: its payload carries no secret.
    Other,
}

/// Seals one connection's lines, in the order it sent them (see the
/// module doc). Keeps only where the connection's SASL exchange stands and
/// the PLAIN payload being gathered (cleared once it is whole).
///
/// ```
/// use natter::core::secrets::{Seal, Sealer};
/// let mut sealer = Sealer::default();
/// let no_scram = &mut |_: &[u8]| false;
/// let sealed = sealer.seal("OPER admin hunter2", None, 7, no_scram).expect("a secret");
/// assert_eq!(sealed.line, "OPER admin *");
/// assert!(matches!(sealed.seal, Some(Seal::Password { id: 7, .. })));
/// assert_eq!(sealed.secret.map(|s| s.expose().to_string()).as_deref(), Some("hunter2"));
/// assert_eq!(sealer.seal("PRIVMSG #lobby :hunter2", None, 8, no_scram), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    sasl: Sasl,
}

impl Sealer {
    /// Seals `line` if it carries a secret: `None` when it carries none
    /// (log it as it is). `server_password` is the server's own (for the
    /// `PASS` verdict); `id` is the vault reference a secret taken out is
    /// to be kept under.
    ///
    /// `prove` checks a SCRAM client-final-message's proof against the
    /// connection's exchange (the caller's core knows it:
    /// [`crate::core::Server::scram_proof_holds`]).
    pub fn seal(
        &mut self,
        line: &str,
        server_password: Option<&str>,
        id: u64,
        prove: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Option<Sealed> {
        let mut msg = Message::parse(line).ok()?;
        let verb = msg.command.to_ascii_uppercase();
        let taken = match verb.as_str() {
            "PASS" => {
                let given = take_param(&mut msg, 0, 1)?;
                let matches = is_server_password(server_password, given.expose());
                Taken::verdict(Seal::ServerPassword { matches })
            }
            "OPER" => Taken::password(take_param(&mut msg, 1, 2)?, id),
            "REGISTER" => match msg.params.len() {
                // REGISTER alone with one word: 461 whatever it is.
                1 => Taken::dropped(take_param(&mut msg, 0, 1)),
                2 => Taken::password(take_param(&mut msg, 1, 2)?, id),
                _ => Taken::password(take_param(&mut msg, 2, 3)?, id),
            },
            "VERIFY" => Taken::dropped(Some(take_param(&mut msg, 1, 2)?)),
            "NICKSERV" | "NS" => {
                let text = msg.params.join(" ");
                let (text, taken) = seal_nickserv(&text, id)?;
                msg.params = vec![text];
                taken
            }
            "PRIVMSG" | "NOTICE" => {
                let to_nickserv = msg.param(0).split(',').any(|t| casefold(t) == "nickserv");
                if !to_nickserv || msg.params.len() < 2 {
                    return None;
                }
                let (text, taken) = seal_nickserv(msg.param(1), id)?;
                msg.params.truncate(1);
                msg.params.push(text);
                if verb == "NOTICE" {
                    // NickServ answers PRIVMSG only: nothing to keep.
                    Taken::dropped(taken.secret)
                } else {
                    taken
                }
            }
            "AUTHENTICATE" => self.seal_authenticate(&mut msg, id, prove)?,
            _ => return None,
        };
        Some(Sealed {
            line: msg.to_string(),
            seal: taken.seal,
            secret: taken.secret,
        })
    }

    /// `AUTHENTICATE`: mechanism names, `*` and `+` are no secrets; a
    /// PLAIN payload is gathered here, each chunk logged as a stand-in of
    /// its length (so every core counts chunks and lengths the same), and
    /// the last one sealed with what the whole decoded to. A payload
    /// outside PLAIN (EXTERNAL, SCRAM) is logged as it is; one outside any
    /// exchange can only be refused, and is logged as a stand-in.
    fn seal_authenticate(
        &mut self,
        msg: &mut Message,
        id: u64,
        prove: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Option<Taken> {
        let param = msg.params.first().filter(|p| !p.is_empty())?.clone();
        if param == "*" {
            self.sasl = Sasl::Idle;
            return None;
        }
        if let Some(mechanism) = Mechanism::parse(&param) {
            self.sasl = match mechanism {
                Mechanism::Plain => Sasl::Plain(Payload::default()),
                Mechanism::ScramSha256 => Sasl::Scram {
                    whole: 0,
                    payload: Payload::default(),
                },
                Mechanism::External => Sasl::Other,
            };
            return None;
        }
        let stand_in = if param == "+" {
            "+".to_string()
        } else {
            "A".repeat(param.len())
        };
        let taken = match &mut self.sasl {
            Sasl::Other => return None,
            Sasl::Scram { whole, payload } => {
                let chunk = payload.push(&param);
                let message = *whole;
                if matches!(chunk, Chunk::Done(_) | Chunk::Invalid) {
                    *whole = whole.saturating_add(1);
                }
                if matches!(chunk, Chunk::TooLong) {
                    self.sasl = Sasl::Idle;
                }
                if message != 1 {
                    // client-first, and the closing `+`: no secret.
                    return None;
                }
                match chunk {
                    Chunk::More | Chunk::TooLong => Taken::dropped(None),
                    Chunk::Invalid => Taken::verdict(Seal::ScramFinal(SealedScram::NotBase64)),
                    Chunk::Done(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let without_proof = match text.rsplit_once(',') {
                            Some((without, _proof)) => without.to_string(),
                            None => text.to_string(),
                        };
                        let proven = prove(&bytes);
                        Taken::verdict(Seal::ScramFinal(SealedScram::Final {
                            without_proof,
                            proven,
                        }))
                    }
                }
            }
            Sasl::Idle if param == "+" => return None,
            Sasl::Idle => Taken::dropped(None),
            Sasl::Plain(payload) => match payload.push(&param) {
                Chunk::More => Taken::dropped(None),
                Chunk::TooLong => {
                    self.sasl = Sasl::Idle;
                    Taken::dropped(None)
                }
                Chunk::Invalid => {
                    self.sasl = Sasl::Idle;
                    Taken::verdict(Seal::SaslPlain(SealedPlain::NotBase64))
                }
                Chunk::Done(bytes) => {
                    self.sasl = Sasl::Idle;
                    match plain_verdict(&bytes) {
                        PlainVerdict::Malformed => {
                            Taken::verdict(Seal::SaslPlain(SealedPlain::Malformed))
                        }
                        PlainVerdict::OtherIdentity => {
                            Taken::verdict(Seal::SaslPlain(SealedPlain::OtherIdentity))
                        }
                        PlainVerdict::Login { authcid, password } => Taken {
                            seal: Some(Seal::SaslPlain(SealedPlain::Login { authcid, id })),
                            secret: Some(password),
                        },
                    }
                }
            },
        };
        msg.params = vec![stand_in];
        Some(taken)
    }
}

/// What sealing took out of a line.
struct Taken {
    seal: Option<Seal>,
    secret: Option<Secret>,
}

impl Taken {
    /// A password kept under `id`.
    fn password(secret: Secret, id: u64) -> Taken {
        let verdict = new_password_verdict(secret.expose());
        Taken {
            seal: Some(Seal::Password { id, verdict }),
            secret: Some(secret),
        }
    }

    /// Only a verdict: nothing to keep.
    fn verdict(seal: Seal) -> Taken {
        Taken {
            seal: Some(seal),
            secret: None,
        }
    }

    /// Taken out, and not needed by the chat rules: dropped.
    fn dropped(_secret: Option<Secret>) -> Taken {
        Taken {
            seal: None,
            secret: None,
        }
    }
}

/// Takes parameter `i` of `msg` out (leaving [`SEALED`]) and drops every
/// parameter from `keep` on (the chat rules read none of them); `None`
/// when it is missing or empty (the rules then answer without it).
fn take_param(msg: &mut Message, i: usize, keep: usize) -> Option<Secret> {
    let param = msg.params.get_mut(i).filter(|p| !p.is_empty())?;
    let secret = Secret::new(std::mem::replace(param, SEALED.to_string()));
    msg.params.truncate(keep);
    Some(secret)
}

/// A message to NickServ, sealed when it carries a password: the text
/// in its place (its words, the secret as [`SEALED`]) and what was taken.
fn seal_nickserv(text: &str, id: u64) -> Option<(String, Taken)> {
    let mut words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let command = words.first()?.to_ascii_uppercase();
    let (at, sealable) = match command.as_str() {
        "REGISTER" if words.len() >= 2 => (1, true),
        // IDENTIFY <password> | IDENTIFY <account> <password> [ignored…]
        "IDENTIFY" | "LOGIN" if words.len() == 2 => (1, true),
        "IDENTIFY" | "LOGIN" if words.len() >= 3 => {
            words.truncate(3);
            (2, true)
        }
        // SET PASSWORD <password>; any other SET is refused, but what it
        // carries may be a password all the same.
        "SET" if words.len() >= 3 => {
            words.truncate(3);
            (2, words[1].eq_ignore_ascii_case("PASSWORD"))
        }
        _ => return None,
    };
    let secret = Secret::new(words[at]);
    words[at] = SEALED;
    let taken = if sealable {
        Taken::password(secret, id)
    } else {
        Taken::dropped(Some(secret))
    };
    Some((words.join(" "), taken))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn seal(sealer: &mut Sealer, line: &str) -> Option<Sealed> {
        sealer.seal(line, Some("server-pw"), 5, &mut |_| false)
    }

    fn password(sealed: &Sealed) -> String {
        sealed
            .secret
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn pass_is_sealed_with_its_verdict_and_keeps_nothing() {
        let mut s = Sealer::default();
        let right = seal(&mut s, "PASS server-pw").expect("sealed");
        assert_eq!(right.line, "PASS *");
        assert_eq!(right.seal, Some(Seal::ServerPassword { matches: true }));
        assert_eq!(right.secret, None);
        let wrong = seal(&mut s, "PASS :server pw extra").expect("sealed");
        assert_eq!(wrong.line, "PASS *");
        assert_eq!(wrong.seal, Some(Seal::ServerPassword { matches: false }));
        let none = s
            .seal("PASS server-pw", None, 1, &mut |_| false)
            .expect("sealed");
        assert_eq!(none.seal, Some(Seal::ServerPassword { matches: false }));
        assert_eq!(
            seal(&mut s, "PASS :"),
            None,
            "an empty PASS is 461 as it is"
        );
    }

    #[test]
    fn tags_and_labels_stay_on_a_sealed_line() {
        let mut s = Sealer::default();
        let sealed = seal(&mut s, "@label=x1 OPER admin :hunter2 two").expect("sealed");
        assert_eq!(sealed.line, "@label=x1 OPER admin *");
        assert_eq!(password(&sealed), "hunter2 two");
    }

    #[test]
    fn oper_and_register_seal_the_password_with_the_new_password_verdict() {
        let mut s = Sealer::default();
        let oper = seal(&mut s, "oper admin hunter2").expect("sealed");
        assert_eq!(oper.line, "oper admin *");
        assert_eq!(
            oper.seal,
            Some(Seal::Password {
                id: 5,
                verdict: NewPassword::Weak
            })
        );
        let three = seal(&mut s, "REGISTER alice * :long enough").expect("sealed");
        assert_eq!(three.line, "REGISTER alice * *");
        assert_eq!(password(&three), "long enough");
        assert_eq!(
            three.seal,
            Some(Seal::Password {
                id: 5,
                verdict: NewPassword::Unacceptable
            })
        );
        let two = seal(&mut s, "REGISTER a@b.example s3cret-pw").expect("sealed");
        assert_eq!(two.line, "REGISTER a@b.example *");
        assert_eq!(password(&two), "s3cret-pw");
        assert_eq!(
            two.seal,
            Some(Seal::Password {
                id: 5,
                verdict: NewPassword::Acceptable
            })
        );
        let one = seal(&mut s, "REGISTER s3cret-pw").expect("sealed");
        assert_eq!(
            (one.line.as_str(), one.seal, one.secret),
            ("REGISTER *", None, None)
        );
        let verify = seal(&mut s, "VERIFY alice 123456").expect("sealed");
        assert_eq!(verify.line, "VERIFY alice *");
        assert_eq!((verify.seal, verify.secret), (None, None));
        assert_eq!(seal(&mut s, "OPER admin"), None, "461 as it is");
    }

    #[test]
    fn nickserv_identify_register_and_set_password_are_sealed_however_addressed() {
        let mut s = Sealer::default();
        for (line, logged, secret) in [
            (
                "PRIVMSG NickServ :IDENTIFY pw1",
                "PRIVMSG NickServ :IDENTIFY *",
                "pw1",
            ),
            (
                "PRIVMSG nickserv :identify  alice pw2 more",
                "PRIVMSG nickserv :identify alice *",
                "pw2",
            ),
            (
                "PRIVMSG NickServ :LOGIN alice pw3",
                "PRIVMSG NickServ :LOGIN alice *",
                "pw3",
            ),
            ("NS IDENTIFY alice pw4", "NS :IDENTIFY alice *", "pw4"),
            (
                "NICKSERV register pw5 a@b.example",
                "NICKSERV :register * a@b.example",
                "pw5",
            ),
            (
                "PRIVMSG NickServ :SET PASSWORD pw6",
                "PRIVMSG NickServ :SET PASSWORD *",
                "pw6",
            ),
            (
                "PRIVMSG #lobby,NickServ :IDENTIFY pw7",
                "PRIVMSG #lobby,NickServ :IDENTIFY *",
                "pw7",
            ),
        ] {
            let sealed = seal(&mut s, line).expect(line);
            assert_eq!(sealed.line, logged, "{line}");
            assert_eq!(password(&sealed), secret, "{line}");
            assert!(
                matches!(sealed.seal, Some(Seal::Password { id: 5, .. })),
                "{line}"
            );
        }
        // Refused or unanswered, but never logged either.
        let other_set = seal(&mut s, "PRIVMSG NickServ :SET PASSWD pw8").expect("sealed");
        assert_eq!(other_set.line, "PRIVMSG NickServ :SET PASSWD *");
        assert_eq!((other_set.seal, other_set.secret), (None, None));
        let notice = seal(&mut s, "NOTICE NickServ :IDENTIFY pw9").expect("sealed");
        assert_eq!(notice.line, "NOTICE NickServ :IDENTIFY *");
        assert_eq!((notice.seal, notice.secret), (None, None));
    }

    #[test]
    fn lines_that_only_look_like_secrets_are_left_alone() {
        let mut s = Sealer::default();
        for line in [
            "PRIVMSG #lobby :IDENTIFY pw",
            "PRIVMSG NickServ :HELP IDENTIFY",
            "PRIVMSG NickServ :IDENTIFY",
            "PRIVMSG NickServ :INFO alice",
            "PRIVMSG ChanServ :REGISTER #room",
            "PRIVMSG NickServ",
            "NS SET PASSWORD",
            "NICK PASS",
            "PRIVMSG alice :PASS hunter2",
            "OPER",
            "JOIN #secret key",
            "AUTHENTICATE PLAIN",
            "AUTHENTICATE *",
            "not a line \0",
        ] {
            assert_eq!(seal(&mut s, line), None, "{line}");
        }
    }

    fn plain(message: &[u8]) -> Vec<String> {
        super::super::sasl::chunks(message)
    }

    #[test]
    fn a_plain_payload_is_never_logged_and_its_last_chunk_carries_the_verdict() {
        let mut s = Sealer::default();
        assert_eq!(seal(&mut s, "AUTHENTICATE PLAIN"), None);
        let chunk = plain(b"\0alice\0correct horse").remove(0);
        let sealed = seal(&mut s, &format!("AUTHENTICATE {chunk}")).expect("sealed");
        assert_eq!(
            sealed.line,
            format!("AUTHENTICATE {}", "A".repeat(chunk.len()))
        );
        assert_eq!(password(&sealed), "correct horse");
        assert_eq!(
            sealed.seal,
            Some(Seal::SaslPlain(SealedPlain::Login {
                authcid: "alice".into(),
                id: 5
            }))
        );
        // The exchange is over: a payload now can only be refused.
        let late = seal(&mut s, &format!("AUTHENTICATE {chunk}")).expect("sealed");
        assert_eq!((late.seal, late.secret), (None, None));
        assert!(!late.line.contains(&chunk));
    }

    #[test]
    fn a_plain_payload_in_400_byte_chunks_and_a_closing_plus_is_gathered() {
        let mut s = Sealer::default();
        let long = format!("\0alice\0{}", "p".repeat(593)); // 600 bytes
        let chunks = plain(long.as_bytes());
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        assert_eq!(chunks[2], "+");
        assert_eq!(seal(&mut s, "AUTHENTICATE plain"), None);
        for chunk in &chunks[..2] {
            let sealed = seal(&mut s, &format!("AUTHENTICATE {chunk}")).expect("sealed");
            assert_eq!(sealed.line, format!("AUTHENTICATE {}", "A".repeat(400)));
            assert_eq!((sealed.seal, sealed.secret), (None, None));
        }
        let last = seal(&mut s, "AUTHENTICATE +").expect("sealed");
        assert_eq!(last.line, "AUTHENTICATE +");
        assert_eq!(password(&last), "p".repeat(593));
        assert!(matches!(
            last.seal,
            Some(Seal::SaslPlain(SealedPlain::Login { .. }))
        ));
    }

    #[test]
    fn bad_plain_payloads_are_sealed_with_the_verdict_every_core_gives() {
        let mut s = Sealer::default();
        let cases: [(&[u8], SealedPlain); 2] = [
            (b"bob\0alice\0pw", SealedPlain::OtherIdentity),
            (b"alice\0pw", SealedPlain::Malformed),
        ];
        for (message, verdict) in cases {
            assert_eq!(seal(&mut s, "AUTHENTICATE PLAIN"), None);
            let chunk = STANDARD.encode(message);
            let sealed = seal(&mut s, &format!("AUTHENTICATE {chunk}")).expect("sealed");
            assert_eq!(sealed.seal, Some(Seal::SaslPlain(verdict)));
            assert_eq!(sealed.secret, None);
        }
        assert_eq!(seal(&mut s, "AUTHENTICATE PLAIN"), None);
        let bad = seal(&mut s, "AUTHENTICATE !!!!").expect("sealed");
        assert_eq!(bad.line, "AUTHENTICATE AAAA");
        assert_eq!(bad.seal, Some(Seal::SaslPlain(SealedPlain::NotBase64)));
        assert_eq!(seal(&mut s, "AUTHENTICATE PLAIN"), None);
        let too_long = seal(&mut s, &format!("AUTHENTICATE {}", "x".repeat(401))).expect("sealed");
        assert_eq!(too_long.line, format!("AUTHENTICATE {}", "A".repeat(401)));
        assert_eq!(too_long.seal, None);
    }

    #[test]
    fn a_scram_proof_is_never_logged_and_its_check_is_sealed_instead() {
        let mut s = Sealer::default();
        assert_eq!(seal(&mut s, "AUTHENTICATE SCRAM-SHA-256"), None);
        let first = STANDARD.encode("n,,n=alice,r=abc");
        assert_eq!(
            seal(&mut s, &format!("AUTHENTICATE {first}")),
            None,
            "no secret"
        );
        let client_final = "c=biws,r=abcdef,p=cHJvb2Y=";
        let chunk = STANDARD.encode(client_final);
        let mut asked = Vec::new();
        let sealed = s
            .seal(&format!("AUTHENTICATE {chunk}"), None, 5, &mut |bytes| {
                asked.push(bytes.to_vec());
                true
            })
            .expect("sealed");
        assert_eq!(
            asked,
            [client_final.as_bytes().to_vec()],
            "the proof is checked"
        );
        assert_eq!(
            sealed.line,
            format!("AUTHENTICATE {}", "A".repeat(chunk.len()))
        );
        assert_eq!(
            sealed.seal,
            Some(Seal::ScramFinal(SealedScram::Final {
                without_proof: "c=biws,r=abcdef".into(),
                proven: true
            }))
        );
        assert_eq!(sealed.secret, None);
        assert_eq!(seal(&mut s, "AUTHENTICATE +"), None, "the closing +");
        // EXTERNAL carries no secret; back to PLAIN after an abort: sealed.
        assert_eq!(seal(&mut s, "AUTHENTICATE EXTERNAL"), None);
        assert_eq!(seal(&mut s, &format!("AUTHENTICATE {first}")), None);
        assert_eq!(seal(&mut s, "AUTHENTICATE *"), None);
        assert_eq!(seal(&mut s, "AUTHENTICATE PLAIN"), None);
        let chunk = STANDARD.encode("\0alice\0pw");
        assert!(seal(&mut s, &format!("AUTHENTICATE {chunk}")).is_some());
    }

    proptest::proptest! {
        #[test]
        fn sealing_any_line_never_panics(line in "\\PC{0,600}", plain in proptest::bool::ANY) {
            let mut s = Sealer::default();
            if plain {
                let _ = seal(&mut s, "AUTHENTICATE PLAIN");
            }
            let _ = seal(&mut s, &line);
            let _ = seal(&mut s, &format!("AUTHENTICATE {line}"));
            let _ = seal(&mut s, &format!("PRIVMSG NickServ :{line}"));
        }

        #[test]
        fn no_form_of_a_password_line_keeps_the_password(
            pw in "pw-[a-z0-9]{6,20}",
            form in 0usize..11,
        ) {
            let plain = STANDARD.encode(format!("\0alice\0{pw}"));
            let line = [
                format!("PASS {pw}"),
                format!("OPER admin {pw}"),
                format!("REGISTER alice * {pw}"),
                format!("REGISTER * {pw}"),
                format!("PRIVMSG NickServ :IDENTIFY {pw}"),
                format!("PRIVMSG NickServ :identify alice {pw}"),
                format!("NS REGISTER {pw} a@b.example"),
                format!("NICKSERV SET PASSWORD {pw}"),
                format!("@label=1 PRIVMSG NickServ,#room :LOGIN alice :{pw}"),
                format!("AUTHENTICATE {plain}"),
                format!("VERIFY alice {pw}"),
            ][form].clone();
            let mut s = Sealer::default();
            let _ = seal(&mut s, "AUTHENTICATE PLAIN");
            let sealed = seal(&mut s, &line).expect("a secret");
            proptest::prop_assert!(!sealed.line.contains(&pw), "{}", sealed.line);
            proptest::prop_assert!(!sealed.line.contains(&plain[..8]), "{}", sealed.line);
            let seal = format!("{:?}", sealed.seal);
            proptest::prop_assert!(!seal.contains(&pw), "{}", seal);
        }
    }

    #[test]
    fn the_server_password_comparison_is_exact() {
        assert!(is_server_password(Some("pw"), "pw"));
        assert!(!is_server_password(Some("pw"), "pw "));
        assert!(!is_server_password(Some("pw"), "p"));
        assert!(!is_server_password(Some(""), "x"));
        assert!(!is_server_password(None, "pw"));
    }
}
