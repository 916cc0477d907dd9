//! The accounts issue's properties, over the real core: random scripts of
//! connecting, NICK, IDENTIFY, SASL PLAIN and SCRAM-SHA-256, REGISTER,
//! LOGOUT, GHOST, REGAIN, DROP, SET PASSWORD, private messages,
//! CHATHISTORY, QUIT and clock advances around the nick grace period, from
//! a few client slots over a few accounts. Password checks and hashes are
//! answered by the harness (real argon2 at its lowest cost), sometimes a
//! few steps late, so other steps run while one is outstanding.
//!
//! After every step, from what the clients saw:
//! 1. a private-history line (in a `chathistory` batch, or answering
//!    CHATHISTORY) reaches only a connection logged in to an account that
//!    was at one end of that message when it was sent;
//! 2. a registered connection holding a registered nick it is not logged
//!    in to holds it for less than the grace period;
//! 3. a connection is logged in (900) to an account only on that account's
//!    current password (IDENTIFY, PLAIN, SCRAM) or by registering it.
//!
//! Accounts are tracked by incarnation: an account dropped and registered
//! again is a different account, with a different owner.
//!
//! `PROPTEST_CASES=5000 cargo test --test accounts_properties` searches harder.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{scram_client, Harness};
use natter::core::{
    ConnId, Credentials, Event, HashPurpose, PasswordPurpose, ScramCredentials, ServerConfig,
};
use natter::proto::{casefold, Message};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{BTreeMap, BTreeSet};

/// Client slots: each holds at most one connection at a time.
const SLOTS: usize = 4;
/// The grace period, in seconds, before an unidentified registered nick is renamed.
const GRACE: u64 = 5;
/// The nicks scripts use; the first two are registered before the script.
const NICKS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
/// Long enough that SASL PLAIN's payload takes two 400-byte chunks.
const LONG: &str = "bob-has-a-very-long-password-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
/// Every password a script types: the accounts' own (and the ones SET
/// PASSWORD switches to), a guess, and one too short to register.
const PASSWORDS: [&str; 7] = [
    "alice-pass-1",
    "alice-pass-2",
    LONG,
    "bob-pass-2",
    "carol-pass-1",
    "wrong-guess-0",
    "short",
];
/// The accounts registered before every script, with their passwords.
const UP_FRONT: [(&str, &str); 2] = [("alice", PASSWORDS[0]), ("bob", LONG)];

// ---------------------------------------------------------------- scripts

#[derive(Debug, Clone)]
enum Op {
    /// Connect (if the slot is free): CAP LS, CAP REQ, NICK, USER, and
    /// CAP END unless `cap_end` is false (then SASL can come first).
    Connect {
        slot: usize,
        nick: String,
        batch: bool,
        cap_end: bool,
    },
    CapEnd {
        slot: usize,
    },
    Nick {
        slot: usize,
        nick: String,
    },
    /// `NS IDENTIFY [account] password`.
    Identify {
        slot: usize,
        account: Option<String>,
        password: Pw,
        answer: bool,
    },
    /// SASL PLAIN, in as many 400-byte chunks as it takes.
    Plain {
        slot: usize,
        account: String,
        authzid: bool,
        password: Pw,
        answer: bool,
    },
    /// SCRAM-SHA-256 client-first; with `finish`, the rest at once.
    ScramStart {
        slot: usize,
        account: String,
        password: Pw,
        finish: bool,
        tamper: bool,
    },
    /// SCRAM-SHA-256 client-final (a broken proof when `tamper`) and `+`.
    ScramFinish {
        slot: usize,
    },
    /// A mechanism, then payload lines that are not a valid exchange.
    SaslGarbage {
        slot: usize,
        scram: bool,
        lines: Vec<String>,
    },
    SaslAbort {
        slot: usize,
    },
    /// NickServ REGISTER or the REGISTER command, maybe naming another nick.
    Register {
        slot: usize,
        nickserv: bool,
        name: Option<String>,
        password: Pw,
        answer: bool,
    },
    SetPassword {
        slot: usize,
        password: Pw,
        answer: bool,
    },
    Logout {
        slot: usize,
    },
    Ghost {
        slot: usize,
        nick: String,
    },
    Regain {
        slot: usize,
        nick: Option<String>,
    },
    Drop {
        slot: usize,
        name: Option<String>,
    },
    /// A private message to a nick, or to whatever another slot is called.
    Message {
        slot: usize,
        to: Target,
        notice: bool,
    },
    History {
        slot: usize,
        to: Target,
    },
    Targets {
        slot: usize,
    },
    Quit {
        slot: usize,
        abrupt: bool,
    },
    Advance {
        secs: u64,
    },
    /// Answers the outstanding password check or hash of one slot (as a
    /// shell's worker pool may finish them in any order), or all of them.
    Answer {
        slot: Option<usize>,
    },
}

#[derive(Debug, Clone)]
enum Target {
    Nick(String),
    Slot(usize),
}

fn recase(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// One of the scripts' nicks, in random case (mostly lower case).
fn nick() -> impl Strategy<Value = String> + Clone {
    (
        0..NICKS.len(),
        prop_oneof![3 => Just(0u64), 1 => any::<u64>()],
    )
        .prop_map(|(i, mask)| recase(NICKS[i], mask))
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        nick().prop_map(Target::Nick),
        (0..SLOTS).prop_map(Target::Slot),
    ]
}

/// A password a script types: the one the test knows is current for the
/// account it names, or one of [`PASSWORDS`] (right only by chance).
#[derive(Debug, Clone, Copy)]
enum Pw {
    Known,
    Pool(usize),
}

fn password() -> impl Strategy<Value = Pw> + Clone {
    prop_oneof![
        3 => Just(Pw::Known),
        3 => (0..5usize).prop_map(Pw::Pool),
        1 => Just(Pw::Pool(5)),
        1 => Just(Pw::Pool(6)),
    ]
}

/// An AUTHENTICATE payload line that is no valid exchange: random text,
/// random bytes in base64, `+`, or an over-long chunk.
fn garbage_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9+/=!*]{1,40}",
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| B64.encode(b)),
        Just("+".to_string()),
        Just("A".repeat(400)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..SLOTS;
    let answer = prop::bool::weighted(0.85);
    prop_oneof![
        6 => (slot.clone(), nick(), any::<bool>(), prop::bool::weighted(0.7)).prop_map(
            |(slot, nick, batch, cap_end)| Op::Connect { slot, nick, batch, cap_end }
        ),
        1 => slot.clone().prop_map(|slot| Op::CapEnd { slot }),
        3 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Nick { slot, nick }),
        5 => (slot.clone(), prop::option::weighted(0.5, nick()), password(), answer)
            .prop_map(|(slot, account, password, answer)| Op::Identify { slot, account, password, answer }),
        4 => (slot.clone(), nick(), any::<bool>(), password(), answer)
            .prop_map(|(slot, account, authzid, password, answer)| Op::Plain { slot, account, authzid, password, answer }),
        4 => (slot.clone(), nick(), password(), prop::bool::weighted(0.7), prop::bool::weighted(0.15))
            .prop_map(|(slot, account, password, finish, tamper)| Op::ScramStart { slot, account, password, finish, tamper }),
        1 => slot.clone().prop_map(|slot| Op::ScramFinish { slot }),
        1 => (slot.clone(), any::<bool>(), prop::collection::vec(garbage_line(), 1..4))
            .prop_map(|(slot, scram, lines)| Op::SaslGarbage { slot, scram, lines }),
        1 => slot.clone().prop_map(|slot| Op::SaslAbort { slot }),
        3 => (slot.clone(), any::<bool>(), prop::option::weighted(0.2, nick()), password(), answer)
            .prop_map(|(slot, nickserv, name, password, answer)| Op::Register { slot, nickserv, name, password, answer }),
        2 => (slot.clone(), password(), answer)
            .prop_map(|(slot, password, answer)| Op::SetPassword { slot, password, answer }),
        2 => slot.clone().prop_map(|slot| Op::Logout { slot }),
        1 => (slot.clone(), nick()).prop_map(|(slot, nick)| Op::Ghost { slot, nick }),
        1 => (slot.clone(), prop::option::of(nick())).prop_map(|(slot, nick)| Op::Regain { slot, nick }),
        2 => (slot.clone(), prop::option::weighted(0.5, nick())).prop_map(|(slot, name)| Op::Drop { slot, name }),
        8 => (slot.clone(), target(), prop::bool::weighted(0.2))
            .prop_map(|(slot, to, notice)| Op::Message { slot, to, notice }),
        6 => (slot.clone(), target()).prop_map(|(slot, to)| Op::History { slot, to }),
        2 => slot.clone().prop_map(|slot| Op::Targets { slot }),
        2 => (slot.clone(), any::<bool>()).prop_map(|(slot, abrupt)| Op::Quit { slot, abrupt }),
        3 => prop::sample::select(vec![1, GRACE - 1, GRACE, GRACE + 1, 30]).prop_map(|secs| Op::Advance { secs }),
        2 => prop::option::of(slot.clone()).prop_map(|slot| Op::Answer { slot }),
    ]
}

/// What a client that logs in on connecting does: connect without ending
/// capability negotiation, log in with the password it knows for its nick
/// (IDENTIFY after registering, or SASL PLAIN or SCRAM before), CAP END.
fn login_on_connect() -> impl Strategy<Value = Vec<Op>> {
    (0..SLOTS, nick(), any::<bool>(), 0..3u8).prop_map(|(slot, nick, batch, how)| {
        let connect = Op::Connect {
            slot,
            nick: nick.clone(),
            batch,
            cap_end: how == 0,
        };
        let login = match how {
            0 => Op::Identify {
                slot,
                account: None,
                password: Pw::Known,
                answer: true,
            },
            1 => Op::Plain {
                slot,
                account: nick,
                authzid: false,
                password: Pw::Known,
                answer: true,
            },
            _ => Op::ScramStart {
                slot,
                account: nick,
                password: Pw::Known,
                finish: true,
                tamper: false,
            },
        };
        vec![connect, login, Op::CapEnd { slot }]
    })
}

fn script() -> impl Strategy<Value = Vec<Op>> {
    let step = prop_oneof![
        12 => op().prop_map(|op| vec![op]),
        1 => login_on_connect(),
    ];
    prop::collection::vec(step, 10..60).prop_map(|steps| steps.concat())
}

// -------------------------------------------------------- the reference

/// An account as the test knows it: which incarnation, and its password.
#[derive(Debug, Clone)]
struct Known {
    generation: u64,
    password: String,
}

/// An account incarnation: (case-folded name, generation).
type AccountId = (String, u64);

/// Password work the core handed to the shell for a slot (at most one at
/// a time per connection), and what the test knew when it was asked.
#[derive(Debug, Clone)]
enum Work {
    /// IDENTIFY or PLAIN: `right` when `password` was the current one of
    /// the incarnation `generation` of `account` at that moment.
    Login {
        account: String,
        generation: Option<u64>,
        right: bool,
        sasl: bool,
    },
    Register {
        account: String,
        password: String,
    },
    SetPassword {
        account: AccountId,
        password: String,
    },
}

/// A SCRAM exchange in progress.
#[derive(Debug, Clone)]
struct Scram {
    user: String,
    password: String,
    nonce: String,
    server_first: Option<String>,
    tamper: bool,
    /// The incarnation whose keys the server answered with (if any), and
    /// whether the password is its password.
    claim: Option<(AccountId, bool)>,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    conn: Option<ConnId>,
    /// 001 seen.
    registered: bool,
    /// Logged in to, as 900/901 said.
    account: Option<AccountId>,
    /// Test time (seconds) since when it holds a registered nick it is not
    /// logged in to.
    exposed_since: Option<u64>,
    work: Option<Work>,
    /// Whether password work was outstanding before this step's command.
    work_before: bool,
    scram: Option<Scram>,
    /// `chathistory` batches open on this connection.
    history_batches: BTreeSet<String>,
}

/// A private message the test sent: who sent it to whom, and the accounts
/// each end was logged in to at that moment.
#[derive(Debug, Clone)]
struct Sent {
    from_nick: String,
    to_nick: String,
    from: Option<AccountId>,
    to: Option<AccountId>,
}

/// How often each interesting case happened.
#[derive(Debug, Default, Clone)]
struct Coverage {
    counts: BTreeMap<&'static str, u64>,
}

impl Coverage {
    fn hit(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }
    fn get(&self, what: &str) -> u64 {
        self.counts.get(what).copied().unwrap_or(0)
    }
}

struct World {
    h: Harness,
    slots: Vec<Slot>,
    accounts: BTreeMap<String, Known>,
    next_generation: u64,
    sent: Vec<Sent>,
    next_conn: u64,
    /// Test time in seconds since the start.
    now: u64,
    cov: Coverage,
    step: usize,
}

fn fold(s: &str) -> String {
    casefold(s)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// The `AUTHENTICATE` lines that carry `payload` (400-byte chunks, `+`
/// after an exact multiple of 400, `+` for an empty payload).
fn authenticate_lines(payload: &[u8]) -> Vec<String> {
    let encoded = b64(payload);
    let mut out: Vec<String> = encoded
        .as_bytes()
        .chunks(400)
        .map(|c| format!("AUTHENTICATE {}", String::from_utf8_lossy(c)))
        .collect();
    if encoded.len().is_multiple_of(400) {
        out.push("AUTHENTICATE +".to_string());
    }
    out
}

/// The decoded payload of the `AUTHENTICATE` challenge lines in `lines`.
fn challenge(lines: &[Message]) -> Option<String> {
    let mut text = String::new();
    let mut found = false;
    for m in lines.iter().filter(|m| m.command == "AUTHENTICATE") {
        found = true;
        let p = m.param(0);
        if p != "+" {
            text.push_str(p);
        }
    }
    if !found || text.is_empty() {
        return None;
    }
    String::from_utf8(B64.decode(text).ok()?).ok()
}

/// Registers [`UP_FRONT`]'s accounts from connections that then leave.
fn register_up_front(h: &mut Harness) {
    for (i, (name, password)) in UP_FRONT.iter().enumerate() {
        let conn = h.connect(1000 + i as u64, &format!("10.9.9.{}:4000", i + 1));
        h.send(conn, &format!("NICK {name}"));
        h.send(conn, &format!("USER {name} 0 * :{name}"));
        h.send(conn, &format!("PRIVMSG NickServ :REGISTER {password}"));
        h.answer_password_checks();
        let got = h.take(conn);
        assert!(
            got.iter().any(|l| l.contains(&format!(" 900 {name} "))),
            "{name} is registered up front: {got:?}"
        );
        h.send(conn, "QUIT");
        h.take(conn);
    }
}

/// Does what [`Harness::answer_password_checks`] does, for `conn`'s
/// outstanding work only (the others stay outstanding).
fn answer_one(h: &mut Harness, conn: ConnId) {
    let (checks, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut h.password_checks)
        .into_iter()
        .partition(|c| c.conn == conn);
    h.password_checks = rest;
    let (hashes, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut h.password_hashes)
        .into_iter()
        .partition(|(c, _, _)| *c == conn);
    h.password_hashes = rest;
    for check in checks {
        let ok = !check.hash.is_empty()
            && natter::net::password::verify(&check.hash, check.password.expose());
        let now = h.now;
        h.event(Event::PasswordChecked {
            conn,
            purpose: check.purpose,
            ok,
            upgrade: None,
            now,
        });
    }
    for (_, password, purpose) in hashes {
        let credentials = Credentials {
            password_hash: natter::net::password::hash_password_cheaply(password.expose())
                .expect("hashes"),
            scram: ScramCredentials::derive(password.expose(), b"test salt", 16)
                .to_storage_string(),
        };
        let now = h.now;
        h.event(Event::PasswordHashed {
            conn,
            purpose,
            credentials: Box::new(credentials),
            now,
        });
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        nick_grace_secs: GRACE,
        ..ServerConfig::default()
    }
}

impl World {
    fn new() -> World {
        let mut h = Harness::with_config(config());
        register_up_front(&mut h);
        let accounts = UP_FRONT
            .iter()
            .enumerate()
            .map(|(i, (name, password))| {
                let known = Known {
                    generation: i as u64,
                    password: password.to_string(),
                };
                (fold(name), known)
            })
            .collect();
        World {
            h,
            slots: vec![Slot::default(); SLOTS],
            accounts,
            next_generation: UP_FRONT.len() as u64,
            sent: Vec::new(),
            next_conn: 1,
            now: 0,
            cov: Coverage::default(),
            step: 0,
        }
    }

    fn current(&self, account: &str) -> Option<AccountId> {
        let folded = fold(account);
        self.accounts.get(&folded).map(|k| (folded, k.generation))
    }

    fn is_right(&self, account: &str, password: &str) -> bool {
        self.accounts
            .get(&fold(account))
            .is_some_and(|k| k.password == password)
    }

    /// The text of `pw` when typed for `account`.
    fn password(&self, pw: Pw, account: &str) -> String {
        match pw {
            Pw::Known => self
                .accounts
                .get(&fold(account))
                .map_or_else(|| PASSWORDS[4].to_string(), |k| k.password.clone()),
            Pw::Pool(i) => PASSWORDS[i].to_string(),
        }
    }

    fn nick_of(&self, slot: usize) -> Option<String> {
        let conn = self.slots[slot].conn?;
        self.h.server.nick_of(conn).map(str::to_string)
    }

    /// The slot whose connection holds `nick`, if any.
    fn holder(&self, nick: &str) -> Option<usize> {
        (0..SLOTS).find(|&s| self.nick_of(s).is_some_and(|n| fold(&n) == fold(nick)))
    }

    fn target_nick(&self, to: &Target) -> Option<String> {
        match to {
            Target::Nick(n) => Some(n.clone()),
            Target::Slot(s) => self.nick_of(*s),
        }
    }

    fn send(&mut self, slot: usize, line: &str) {
        if let Some(conn) = self.slots[slot].conn {
            self.h.send(conn, line);
        }
    }

    /// Whether `conn` has a password check or hash waiting for an answer.
    fn pending(&self, conn: ConnId) -> bool {
        self.h.password_checks.iter().any(|c| c.conn == conn)
            || self.h.password_hashes.iter().any(|(c, _, _)| *c == conn)
    }

    /// After sending something that may ask for password work: what the
    /// core asked for, and what the test knew then.
    fn note_work(&mut self, slot: usize, password: &str, sasl: bool) {
        let Some(conn) = self.slots[slot].conn else {
            return;
        };
        if self.slots[slot].work.is_some() || self.slots[slot].work_before {
            return; // the core refuses a second one while one is pending
        }
        let check = self
            .h
            .password_checks
            .iter()
            .find(|c| c.conn == conn)
            .map(|c| c.purpose.clone());
        let hash = self
            .h
            .password_hashes
            .iter()
            .find(|(c, _, _)| *c == conn)
            .map(|(_, _, p)| p.clone());
        let work = match (check, hash) {
            (Some(PasswordPurpose::Login { account, .. }), _) => Some(Work::Login {
                generation: self.current(&account).map(|(_, g)| g),
                right: self.is_right(&account, password),
                account: fold(&account),
                sasl,
            }),
            (_, Some(HashPurpose::Register { account, .. })) => Some(Work::Register {
                account: fold(&account),
                password: password.to_string(),
            }),
            (_, Some(HashPurpose::SetPassword { account })) => {
                self.current(&account).map(|id| Work::SetPassword {
                    account: id,
                    password: password.to_string(),
                })
            }
            _ => None,
        };
        self.slots[slot].work = work;
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        self.step += 1;
        for slot in 0..SLOTS {
            let before = self.slots[slot].conn.is_some_and(|c| self.pending(c));
            self.slots[slot].work_before = before;
        }
        let mut history_request: Option<(usize, String)> = None;
        let mut scram_finishing: Option<usize> = None;
        match op {
            Op::Connect {
                slot,
                nick,
                batch,
                cap_end,
            } => {
                if self.slots[*slot].conn.is_some() {
                    return self.check(None, None);
                }
                let id = self.next_conn;
                self.next_conn += 1;
                let conn = self
                    .h
                    .connect(id, &format!("127.0.0.{}:{}", slot + 1, 5000 + id));
                self.slots[*slot] = Slot {
                    conn: Some(conn),
                    ..Slot::default()
                };
                self.h.send(conn, "CAP LS 302");
                let caps = if *batch { "sasl batch" } else { "sasl" };
                self.h.send(conn, &format!("CAP REQ :{caps}"));
                self.h.send(conn, &format!("NICK {nick}"));
                self.h.send(conn, &format!("USER u 0 * :{nick}"));
                if *cap_end {
                    self.h.send(conn, "CAP END");
                }
            }
            Op::CapEnd { slot } => self.send(*slot, "CAP END"),
            Op::Nick { slot, nick } => self.send(*slot, &format!("NICK {nick}")),
            Op::Identify {
                slot,
                account,
                password,
                answer,
            } => {
                let named = account.clone().or_else(|| self.nick_of(*slot));
                let pw = self.password(*password, named.as_deref().unwrap_or("*"));
                let pw = pw.as_str();
                match account {
                    Some(a) => self.send(*slot, &format!("NS IDENTIFY {a} {pw}")),
                    None => self.send(*slot, &format!("PRIVMSG NickServ :IDENTIFY {pw}")),
                }
                self.note_work(*slot, pw, false);
                if *answer {
                    self.h.answer_password_checks();
                }
            }
            Op::Plain {
                slot,
                account,
                authzid,
                password,
                answer,
            } => {
                let pw = self.password(*password, account);
                let zid = if *authzid { account.as_str() } else { "" };
                self.send(*slot, "AUTHENTICATE PLAIN");
                for line in authenticate_lines(format!("{zid}\0{account}\0{pw}").as_bytes()) {
                    self.send(*slot, &line);
                }
                self.note_work(*slot, &pw, true);
                if *answer {
                    self.h.answer_password_checks();
                }
            }
            Op::ScramStart {
                slot,
                account,
                password,
                finish,
                tamper,
            } => {
                let Some(conn) = self.slots[*slot].conn else {
                    return self.check(None, None);
                };
                let nonce = format!("nonce{}x{}", self.step, slot);
                self.h.send(conn, "AUTHENTICATE SCRAM-SHA-256");
                // What the client has not read yet stays for the checks.
                let before = self.h.received.get(&conn).map_or(0, Vec::len);
                let first = scram_client::client_first(account, &nonce);
                for line in authenticate_lines(first.as_bytes()) {
                    self.h.send(conn, &line);
                }
                let fresh: Vec<Message> = self
                    .h
                    .received
                    .get(&conn)
                    .map(|l| l[before..].iter().filter_map(|l| Message::parse(l).ok()).collect())
                    .unwrap_or_default();
                let server_first = challenge(&fresh);
                let pw = self.password(*password, account);
                let claim = self
                    .current(account)
                    .map(|id| (id, self.is_right(account, &pw) && !tamper));
                self.slots[*slot].scram = Some(Scram {
                    user: account.clone(),
                    password: pw,
                    nonce,
                    server_first,
                    tamper: *tamper,
                    claim,
                });
                if *finish {
                    self.scram_finish(*slot);
                    scram_finishing = Some(*slot);
                }
            }
            Op::ScramFinish { slot } => {
                self.scram_finish(*slot);
                scram_finishing = Some(*slot);
            }
            Op::SaslGarbage { slot, scram, lines } => {
                let mech = if *scram { "SCRAM-SHA-256" } else { "PLAIN" };
                self.send(*slot, &format!("AUTHENTICATE {mech}"));
                for line in lines {
                    self.send(*slot, &format!("AUTHENTICATE {line}"));
                }
                self.h.answer_password_checks();
            }
            Op::SaslAbort { slot } => self.send(*slot, "AUTHENTICATE *"),
            Op::Register {
                slot,
                nickserv,
                name,
                password,
                answer,
            } => {
                let named = name.clone().or_else(|| self.nick_of(*slot));
                let pw = self.password(*password, named.as_deref().unwrap_or("*"));
                let pw = pw.as_str();
                let line = match (nickserv, name) {
                    (true, _) => format!("NS REGISTER {pw}"),
                    (false, Some(n)) => format!("REGISTER {n} * {pw}"),
                    (false, None) => format!("REGISTER * * {pw}"),
                };
                self.send(*slot, &line);
                self.note_work(*slot, pw, false);
                if *answer {
                    self.h.answer_password_checks();
                }
            }
            Op::SetPassword {
                slot,
                password,
                answer,
            } => {
                // "Known" here is a new password the test makes up.
                let pw = match password {
                    Pw::Known => format!("new-pass-{}", self.step),
                    Pw::Pool(i) => PASSWORDS[*i].to_string(),
                };
                let pw = pw.as_str();
                self.send(*slot, &format!("NS SET PASSWORD {pw}"));
                self.note_work(*slot, pw, false);
                if *answer {
                    self.h.answer_password_checks();
                }
            }
            Op::Logout { slot } => self.send(*slot, "NS LOGOUT"),
            Op::Ghost { slot, nick } => self.send(*slot, &format!("NS GHOST {nick}")),
            Op::Regain { slot, nick } => match nick {
                Some(n) => self.send(*slot, &format!("NS REGAIN {n}")),
                None => self.send(*slot, "NS REGAIN"),
            },
            Op::Drop { slot, name } => {
                let name = name
                    .clone()
                    .or_else(|| self.slots[*slot].account.as_ref().map(|a| a.0.clone()))
                    .unwrap_or_default();
                self.send(*slot, &format!("NS DROP {name}"));
            }
            Op::Message { slot, to, notice } => {
                if let (Some(_), Some(to_nick)) = (self.slots[*slot].conn, self.target_nick(to)) {
                    let n = self.sent.len();
                    let from_nick = self.nick_of(*slot).unwrap_or_default();
                    let to_account = self
                        .holder(&to_nick)
                        .and_then(|s| self.slots[s].account.clone());
                    self.sent.push(Sent {
                        from_nick,
                        to_nick: to_nick.clone(),
                        from: self.slots[*slot].account.clone(),
                        to: to_account,
                    });
                    let verb = if *notice { "NOTICE" } else { "PRIVMSG" };
                    self.send(*slot, &format!("{verb} {to_nick} :pm{n}"));
                }
            }
            Op::History { slot, to } => {
                if let (Some(_), Some(to_nick)) = (self.slots[*slot].conn, self.target_nick(to)) {
                    self.send(*slot, &format!("CHATHISTORY LATEST {to_nick} * 10"));
                    history_request = Some((*slot, to_nick));
                }
            }
            Op::Targets { slot } => self.send(
                *slot,
                "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
            ),
            Op::Quit { slot, abrupt } => {
                if let Some(conn) = self.slots[*slot].conn {
                    if *abrupt {
                        self.h.drop_conn(conn, "Connection reset by peer");
                    } else {
                        self.h.send(conn, "QUIT :bye");
                    }
                }
            }
            Op::Advance { secs } => {
                self.now += secs;
                self.h.advance_secs(*secs);
            }
            Op::Answer { slot: None } => self.h.answer_password_checks(),
            Op::Answer { slot: Some(slot) } => {
                if let Some(conn) = self.slots[*slot].conn {
                    answer_one(&mut self.h, conn);
                }
            }
        }
        self.check(history_request, scram_finishing)
    }

    /// SCRAM client-final and the closing `+`, if the exchange got a
    /// server-first.
    fn scram_finish(&mut self, slot: usize) {
        let Some(conn) = self.slots[slot].conn else {
            return;
        };
        let Some(x) = self.slots[slot].scram.clone() else {
            return;
        };
        let Some(server_first) = &x.server_first else {
            return;
        };
        let (client_final, _) = scram_client::finish(&x.user, &x.password, &x.nonce, server_first);
        let client_final = if x.tamper {
            // One bit of the proof flipped.
            let (head, proof) = client_final.rsplit_once("p=").expect("a proof");
            let mut bytes = B64.decode(proof).expect("base64 proof");
            bytes[0] ^= 1;
            format!("{head}p={}", b64(bytes))
        } else {
            client_final
        };
        for line in authenticate_lines(client_final.as_bytes()) {
            self.h.send(conn, &line);
        }
        self.h.send(conn, "AUTHENTICATE +");
    }

    /// Reads what every slot received in this step, updates the reference,
    /// and checks the three properties.
    fn check(
        &mut self,
        history_request: Option<(usize, String)>,
        scram_finishing: Option<usize>,
    ) -> Result<(), String> {
        for slot in 0..SLOTS {
            let Some(conn) = self.slots[slot].conn else {
                continue;
            };
            let lines: Vec<String> = self.h.take(conn);
            let mut history_lines = 0usize;
            let asked_history = history_request.as_ref().is_some_and(|(s, _)| *s == slot);
            for raw in &lines {
                let m = Message::parse(raw).map_err(|e| format!("unparsable {raw:?}: {e:?}"))?;
                match m.command.as_str() {
                    "001" => self.slots[slot].registered = true,
                    "900" => self.logged_in(slot, m.param(2), scram_finishing == Some(slot))?,
                    "901" => self.slots[slot].account = None,
                    "BATCH" => {
                        let id = m.param(0);
                        if let Some(id) = id.strip_prefix('+') {
                            if m.param(1) == "chathistory" {
                                self.slots[slot].history_batches.insert(id.to_string());
                            }
                        } else if let Some(id) = id.strip_prefix('-') {
                            self.slots[slot].history_batches.remove(id);
                        }
                    }
                    "NOTICE" if m.source.as_deref() == Some("NickServ!NickServ@services") => {
                        self.nickserv_said(slot, m.param(1))?;
                    }
                    "PRIVMSG" | "NOTICE" => {
                        let in_batch = m
                            .tag("batch")
                            .is_some_and(|b| self.slots[slot].history_batches.contains(b));
                        let from_user = m.source.as_deref().is_some_and(|s| s.contains('!'));
                        if in_batch || (asked_history && from_user) {
                            history_lines += 1;
                            self.history_line(slot, raw, &m)?;
                        }
                    }
                    "CHATHISTORY" if m.param(0) == "TARGETS" => {
                        self.target_line(slot, m.param(1))?;
                    }
                    _ => {}
                }
            }
            if let Some((_, to_nick)) = history_request.as_ref().filter(|(s, _)| *s == slot) {
                self.count_history(slot, to_nick, history_lines);
            }
            // Password work answered in this step is settled.
            if self.slots[slot].work.is_some() && !self.pending(conn) {
                if let Some(Work::Login { right: false, .. }) = self.slots[slot].work.take() {
                    self.cov.hit("a wrong password refused");
                }
            }
            if scram_finishing == Some(slot) {
                if let Some(x) = self.slots[slot].scram.take() {
                    if x.server_first.is_some() && !x.claim.as_ref().is_some_and(|c| c.1) {
                        // The counted refusal: no 900 came (logged_in would have failed).
                        self.cov.hit("a wrong SCRAM proof refused");
                    }
                }
            }
            let gone = self.h.closed.iter().any(|(c, _)| *c == conn);
            if gone {
                self.slots[slot] = Slot::default();
            }
        }
        self.check_nicks()
    }

    /// A 900 naming `account` reached `slot`: it must be earned.
    fn logged_in(&mut self, slot: usize, account: &str, scram_now: bool) -> Result<(), String> {
        let folded = fold(account);
        let current = self.current(account);
        let s = &self.slots[slot];
        // A step that finishes SCRAM answers no password work: its 900 is
        // SCRAM's; any other 900 answers the slot's password work.
        let by_work = match &s.work {
            _ if scram_now => None,
            Some(Work::Register { account: a, .. }) if *a == folded && current.is_none() => {
                Some("registered")
            }
            Some(Work::Login {
                account: a,
                generation,
                right: true,
                sasl,
            }) if *a == folded && *generation == current.as_ref().map(|c| c.1) => Some(if *sasl {
                "a right password accepted by SASL PLAIN"
            } else {
                "a right password accepted by IDENTIFY"
            }),
            _ => None,
        };
        let by_scram = scram_now
            && s.scram
                .as_ref()
                .and_then(|x| x.claim.as_ref())
                .is_some_and(|(id, right)| *right && Some(id) == current.as_ref());
        let how = match (by_work, by_scram) {
            (Some(how), _) => how,
            (None, true) => "a right password accepted by SCRAM-SHA-256",
            (None, false) => {
                return Err(format!(
                    "step {}: slot {slot} was logged in to {account} without giving its current password \
                     (work {:?}, scram {:?}, account known as {:?})",
                    self.step, s.work, s.scram, self.accounts.get(&folded)
                ))
            }
        };
        self.cov.hit(how);
        if how == "registered" {
            let Some(Work::Register { password, .. }) = self.slots[slot].work.take() else {
                unreachable!("matched above");
            };
            let generation = self.next_generation;
            self.next_generation += 1;
            self.accounts.insert(
                folded.clone(),
                Known {
                    generation,
                    password,
                },
            );
            self.slots[slot].account = Some((folded, generation));
        } else {
            if by_work.is_some() {
                self.slots[slot].work = None;
            } else {
                self.slots[slot].scram = None;
            }
            self.slots[slot].account = current;
        }
        Ok(())
    }

    /// What NickServ told `slot` that the reference must follow.
    fn nickserv_said(&mut self, slot: usize, text: &str) -> Result<(), String> {
        if let Some(rest) = text.strip_prefix("The account ") {
            if let Some(name) = rest.strip_suffix(" has been deleted.") {
                self.accounts.remove(&fold(name));
                self.cov.hit("an account dropped");
            }
        }
        if text == "Your password was changed." {
            if let Some(Work::SetPassword { account, password }) = self.slots[slot].work.take() {
                // Only the incarnation that asked: a password set for a
                // dropped account must not carry over to a new one.
                if let Some(k) = self.accounts.get_mut(&account.0) {
                    if k.generation == account.1 {
                        k.password = password;
                        self.cov.hit("a password changed");
                    }
                }
            }
        }
        if text.starts_with("Your nick was changed to Guest") {
            let due = self.slots[slot]
                .exposed_since
                .is_some_and(|t| self.now >= t + GRACE);
            if due {
                self.cov.hit("a nick renamed after the grace period");
            }
        }
        Ok(())
    }

    /// Property 1 for one history line.
    fn history_line(&mut self, slot: usize, raw: &str, m: &Message) -> Result<(), String> {
        let Some(account) = self.slots[slot].account.clone() else {
            return Err(format!(
                "step {}: slot {slot}, not logged in, received private history: {raw}",
                self.step
            ));
        };
        let n = m
            .param(1)
            .rsplit(' ')
            .next()
            .and_then(|w| w.strip_prefix("pm"))
            .and_then(|n| n.parse::<usize>().ok());
        let Some(sent) = n.and_then(|n| self.sent.get(n)) else {
            return Err(format!(
                "step {}: slot {slot} received a history line the test never sent: {raw}",
                self.step
            ));
        };
        if sent.from.as_ref() != Some(&account) && sent.to.as_ref() != Some(&account) {
            return Err(format!(
                "step {}: slot {slot}, logged in to {account:?}, received a private message of others \
                 (sent from {:?} to {:?}): {raw}",
                self.step, sent.from, sent.to
            ));
        }
        Ok(())
    }

    /// Property 1 for CHATHISTORY TARGETS: a private target is a
    /// correspondent of the connection's account.
    fn target_line(&mut self, slot: usize, name: &str) -> Result<(), String> {
        if name.starts_with('#') {
            return Ok(());
        }
        let Some(account) = self.slots[slot].account.clone() else {
            return Err(format!(
                "step {}: slot {slot}, not logged in, was shown the conversation with {name}",
                self.step
            ));
        };
        let other_end = |nick: &str, acct: &Option<AccountId>| {
            fold(nick) == fold(name) || acct.as_ref().is_some_and(|a| a.0 == fold(name))
        };
        let ok = self.sent.iter().any(|s| {
            (s.from.as_ref() == Some(&account) && other_end(&s.to_nick, &s.to))
                || (s.to.as_ref() == Some(&account) && other_end(&s.from_nick, &s.from))
        });
        if !ok {
            return Err(format!(
                "step {}: slot {slot}, logged in to {account:?}, was shown a conversation with {name} it never had",
                self.step
            ));
        }
        self.cov.hit("a conversation listed to its owner");
        Ok(())
    }

    fn count_history(&mut self, slot: usize, to_nick: &str, got: usize) {
        match &self.slots[slot].account {
            Some(_) if got > 0 => self.cov.hit("history replayed to an owner"),
            mine => {
                // Someone has a conversation with this nick, and this
                // connection owns none at all: a non-owner asking.
                let exists = self.sent.iter().any(|s| {
                    (fold(&s.to_nick) == fold(to_nick) && s.from.is_some())
                        || (fold(&s.from_nick) == fold(to_nick) && s.to.is_some())
                });
                let owns_any = mine.as_ref().is_some_and(|a| {
                    self.sent
                        .iter()
                        .any(|s| s.from.as_ref() == Some(a) || s.to.as_ref() == Some(a))
                });
                if exists && !owns_any && got == 0 {
                    self.cov.hit("history refused to a non-owner");
                }
            }
        }
    }

    /// Property 2, after the step.
    fn check_nicks(&mut self) -> Result<(), String> {
        for slot in 0..SLOTS {
            let s = &self.slots[slot];
            let nick = self.nick_of(slot);
            let exposed = s.registered
                && nick.as_deref().is_some_and(|n| {
                    self.accounts.contains_key(&fold(n))
                        && s.account.as_ref().is_none_or(|a| a.0 != fold(n))
                });
            let since = match (exposed, s.exposed_since) {
                (false, _) => None,
                (true, None) => Some(self.now),
                (true, Some(t)) => Some(t),
            };
            self.slots[slot].exposed_since = since;
            if let Some(t) = since {
                if self.now >= t + GRACE {
                    return Err(format!(
                        "step {}: slot {slot} still holds the registered nick {:?} without logging in \
                         {}s after it took it (grace {GRACE}s)",
                        self.step,
                        nick,
                        self.now - t
                    ));
                }
            }
        }
        Ok(())
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(512),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn private_history_protected_nicks_and_passwords_hold_over_random_scripts(ops in script()) {
        let mut world = World::new();
        for op in &ops {
            if let Err(failure) = world.apply(op) {
                prop_assert!(false, "{}\nafter {:?}", failure, op);
            }
        }
    }
}

#[test]
fn the_generated_scripts_exercise_every_account_property() {
    const SAMPLE_SCRIPTS: usize = 300;
    let mut runner = TestRunner::deterministic();
    let scripts = script();
    let mut total = Coverage::default();
    for case in 0..SAMPLE_SCRIPTS {
        let ops = scripts.new_tree(&mut runner).expect("a script").current();
        let mut world = World::new();
        for op in &ops {
            if let Err(failure) = world.apply(op) {
                panic!("sample script {case}: {failure}\nafter {op:?}");
            }
        }
        for (k, n) in world.cov.counts {
            *total.counts.entry(k).or_default() += n;
        }
    }
    eprintln!(
        "coverage over {SAMPLE_SCRIPTS} scripts: {:#?}",
        total.counts
    );
    for what in [
        "a wrong password refused",
        "a wrong SCRAM proof refused",
        "a right password accepted by IDENTIFY",
        "a right password accepted by SASL PLAIN",
        "a right password accepted by SCRAM-SHA-256",
        "registered",
        "a nick renamed after the grace period",
        "history replayed to an owner",
        "history refused to a non-owner",
        "a conversation listed to its owner",
        "an account dropped",
        "a password changed",
    ] {
        assert!(
            total.get(what) >= 3,
            "{what}: only {} times in {SAMPLE_SCRIPTS} scripts: {:?}",
            total.get(what),
            total.counts
        );
    }
}

// ------------------------------------------------- SASL payload fuzzing

/// A payload that is no valid login: random bytes, or the right PLAIN
/// payload cut short, or with something after it.
fn bad_payload() -> impl Strategy<Value = Vec<u8>> {
    let right = format!("\0alice\0{}", PASSWORDS[0]).into_bytes();
    let cut = right.clone();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..700),
        (0..right.len()).prop_map(move |n| cut[..n].to_vec()),
        prop::collection::vec(any::<u8>(), 1..20).prop_map(move |tail| {
            let mut p = right.clone();
            p.extend(tail);
            p
        }),
    ]
}

/// `text` split at random points, each piece at most 400 bytes.
fn split(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    points.push(0);
    points.push(text.len());
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    for w in points.windows(2) {
        let mut piece = &text[w[0]..w[1]];
        while piece.len() > 400 {
            out.push(piece[..400].to_string());
            piece = &piece[400..];
        }
        out.push(piece.to_string());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn garbage_authenticate_payloads_never_panic_and_never_log_in(
        exchanges in prop::collection::vec(
            (any::<bool>(), bad_payload(), prop::collection::vec(any::<usize>(), 0..4),
             prop::option::weighted(0.3, bad_payload()), any::<bool>()),
            1..6,
        ),
    ) {
        let mut h = Harness::with_config(config());
        register_up_front(&mut h);
        let conn = h.connect(1, "127.0.0.1:5000");
        h.send(conn, "CAP LS 302");
        h.send(conn, "CAP REQ :sasl");
        h.send(conn, "NICK mallory");
        h.send(conn, "USER m 0 * :m");
        for (scram, payload, cuts, second, raw) in &exchanges {
            h.send(conn, if *scram { "AUTHENTICATE SCRAM-SHA-256" } else { "AUTHENTICATE PLAIN" });
            // Base64 split anywhere, or the raw bytes (lossily) as text.
            let text = if *raw {
                payload.iter().map(|b| (b'!' + b % 94) as char).collect()
            } else {
                b64(payload)
            };
            let pieces = if text.is_empty() { vec!["+".to_string()] } else { split(&text, cuts) };
            for piece in pieces {
                h.send(conn, &format!("AUTHENTICATE {piece}"));
            }
            if let Some(second) = second {
                for line in authenticate_lines(second) {
                    h.send(conn, &line);
                }
            }
            h.answer_password_checks();
            let got = h.take(conn);
            for line in &got {
                prop_assert!(
                    !line.contains(" 900 ") && !line.contains(" 903 "),
                    "logged in on a bad payload: {line}"
                );
            }
            h.send(conn, "AUTHENTICATE *");
            h.take(conn);
        }
        h.send(conn, "CAP END");
        let got = h.take(conn);
        prop_assert!(got.iter().any(|l| l.contains(" 001 mallory ")), "{got:?}");
    }
}

/// The scripts that found the bugs fixed with these tests, kept as
/// regressions: each holds every property to the end.
mod found {
    use super::*;
    fn run(ops: Vec<Op>) {
        let mut w = World::new();
        for op in &ops {
            if let Err(failure) = w.apply(op) {
                panic!("{failure}\nafter {op:?}");
            }
        }
    }
    fn connect(slot: usize, nick: &str) -> Op {
        Op::Connect {
            slot,
            nick: nick.into(),
            batch: true,
            cap_end: true,
        }
    }
    fn identify(slot: usize, answer: bool) -> Op {
        Op::Identify {
            slot,
            account: None,
            password: Pw::Known,
            answer,
        }
    }
    #[test]
    fn a_dropped_accounts_history_is_not_handed_to_the_next_registrant() {
        run(vec![
            connect(0, "alice"),
            identify(0, true),
            connect(1, "bob"),
            identify(1, true),
            Op::Message {
                slot: 0,
                to: Target::Nick("bob".into()),
                notice: false,
            },
            Op::Drop {
                slot: 0,
                name: None,
            },
            Op::Register {
                slot: 2,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: true,
            },
            Op::Quit {
                slot: 0,
                abrupt: false,
            },
            connect(2, "alice"),
            Op::Register {
                slot: 2,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: true,
            },
            Op::History {
                slot: 2,
                to: Target::Nick("bob".into()),
            },
        ]);
    }
    #[test]
    fn a_nick_registered_while_someone_else_holds_it_is_protected() {
        run(vec![
            connect(0, "carol"),
            Op::Register {
                slot: 0,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: false,
            },
            Op::Nick {
                slot: 0,
                nick: "dave".into(),
            },
            connect(1, "carol"),
            Op::Answer { slot: None },
            Op::Advance { secs: 30 },
        ]);
    }
    #[test]
    fn a_password_check_answered_after_drop_does_not_log_in_to_the_new_account() {
        run(vec![
            connect(0, "alice"),
            identify(0, true),
            connect(1, "erin"),
            Op::Identify {
                slot: 1,
                account: Some("alice".into()),
                password: Pw::Known,
                answer: false,
            },
            Op::Drop {
                slot: 0,
                name: None,
            },
            Op::Quit {
                slot: 0,
                abrupt: false,
            },
            connect(2, "alice"),
            Op::Register {
                slot: 2,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: false,
            },
            Op::Answer { slot: Some(2) },
            Op::Answer { slot: Some(1) },
        ]);
    }
    #[test]
    fn a_scram_exchange_begun_before_drop_does_not_log_in_to_the_new_account() {
        run(vec![
            connect(0, "alice"),
            identify(0, true),
            connect(1, "erin"),
            Op::ScramStart {
                slot: 1,
                account: "alice".into(),
                password: Pw::Known,
                finish: false,
                tamper: false,
            },
            Op::Drop {
                slot: 0,
                name: None,
            },
            Op::Quit {
                slot: 0,
                abrupt: false,
            },
            connect(2, "alice"),
            Op::Register {
                slot: 2,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: true,
            },
            Op::ScramFinish { slot: 1 },
        ]);
    }
    #[test]
    fn a_password_change_answered_after_drop_does_not_change_the_new_account() {
        run(vec![
            connect(0, "alice"),
            identify(0, true),
            Op::SetPassword {
                slot: 0,
                password: Pw::Pool(5),
                answer: false,
            },
            connect(1, "erin"),
            Op::Drop {
                slot: 0,
                name: None,
            },
            Op::Nick {
                slot: 0,
                nick: "dave".into(),
            },
            connect(2, "alice"),
            Op::Register {
                slot: 2,
                nickserv: true,
                name: None,
                password: Pw::Pool(4),
                answer: false,
            },
            Op::Answer { slot: Some(2) },
            Op::Answer { slot: None },
            Op::Identify {
                slot: 1,
                account: Some("alice".into()),
                password: Pw::Pool(5),
                answer: true,
            },
        ]);
    }
}
