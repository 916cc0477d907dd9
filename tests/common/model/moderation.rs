//! Moderation in the model: operators and voice, the room modes, bans and
//! exceptions, KICK and INVITE.
//!
//! Written from Modern IRC (`MODE`, `KICK`, `INVITE`, the channel modes) and
//! natter's documented intent (`src/core/room.rs`, `server/modes.rs`,
//! `server/rooms.rs`), independently of natter's `Room`, mode parser and
//! mask matcher: the model has its own glob matcher, its own mask expansion
//! and its own small MODE parser, each covering what the generators send.

use super::names::fold;
use super::{cut_reason, log_room, numeric, Expect, MRoom, Model};
use natter::core::ConnId;

// ---------------------------------------------------------------------------
// Masks
// ---------------------------------------------------------------------------

/// The full `nick!user@host` mask for what an operator typed after `+b`,
/// `+e` or `+I`: `bob` → `bob!*@*`, `1.2.3.4` → `*!*@1.2.3.4`, `u@h` →
/// `*!u@h`, `bob!u` → `bob!u@*`; runs of `*` collapse and an empty part is
/// `*`. (natter also cuts long parts and strips a leading `:`; the
/// generators never send such masks.)
pub fn expand_mask(typed: &str) -> String {
    let (nick, user, host) = match typed.split_once('@') {
        Some((front, host)) => match front.split_once('!') {
            Some((nick, user)) => (nick, user, host),
            None => ("", front, host),
        },
        None => match typed.split_once('!') {
            Some((nick, user)) => (nick, user, ""),
            // Nicks hold neither `.` nor `:`; hosts usually do.
            None if typed.contains(['.', ':']) => ("", "", typed),
            None => (typed, "", ""),
        },
    };
    let part = |p: &str| {
        let mut out = String::new();
        for c in p.chars().filter(|&c| c != '!' && c != '@') {
            if !(c == '*' && out.ends_with('*')) {
                out.push(c);
            }
        }
        if out.is_empty() {
            "*".to_string()
        } else {
            out
        }
    };
    format!("{}!{}@{}", part(nick), part(user), part(host))
}

/// Whether `subject` matches the glob `mask`: `*` is any run, `?` any one
/// character, letters compare under ASCII case folding. A plain dynamic
/// programme over (mask prefix, subject prefix).
pub fn glob(mask: &str, subject: &str) -> bool {
    let s: Vec<char> = fold(subject).chars().collect();
    // reach[j]: the mask read so far matches the first j subject characters.
    let mut reach = vec![false; s.len() + 1];
    reach[0] = true;
    for mc in fold(mask).chars() {
        let mut next = vec![false; s.len() + 1];
        if mc == '*' {
            let mut any = false;
            for j in 0..=s.len() {
                any |= reach[j];
                next[j] = any;
            }
        } else {
            for j in 0..s.len() {
                next[j + 1] = reach[j] && (mc == '?' || mc == s[j]);
            }
        }
        reach = next;
    }
    reach[s.len()]
}

// ---------------------------------------------------------------------------
// A room's settings
// ---------------------------------------------------------------------------

/// The flag, key and limit modes of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modes {
    pub invite_only: bool,
    pub moderated: bool,
    pub no_external: bool,
    pub secret: bool,
    pub topic_lock: bool,
    pub key: Option<String>,
    pub limit: Option<usize>,
}

impl Modes {
    /// New rooms are `+nt`.
    pub fn new_room() -> Modes {
        Modes {
            invite_only: false,
            moderated: false,
            no_external: true,
            secret: false,
            topic_lock: true,
            key: None,
            limit: None,
        }
    }

    /// What RPL_CHANNELMODEIS (324) shows after the room name, `|`-joined:
    /// the letters in alphabetical order, then the key (`*` for people
    /// outside the room) and the limit.
    fn describe(&self, show_key: bool) -> String {
        let mut letters = String::from("+");
        for (on, letter) in [
            (self.invite_only, 'i'),
            (self.key.is_some(), 'k'),
            (self.limit.is_some(), 'l'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_lock, 't'),
        ] {
            if on {
                letters.push(letter);
            }
        }
        let mut shown = vec![letters];
        if let Some(key) = &self.key {
            shown.push(if show_key { key.clone() } else { "*".into() });
        }
        shown.extend(self.limit.map(|l| l.to_string()));
        shown.join("|")
    }

    fn flag(&mut self, letter: char) -> Option<&mut bool> {
        Some(match letter {
            'i' => &mut self.invite_only,
            'm' => &mut self.moderated,
            'n' => &mut self.no_external,
            's' => &mut self.secret,
            't' => &mut self.topic_lock,
            _ => return None,
        })
    }
}

/// One entry of a ban (`b`), exception (`e`) or invite-exception (`I`) list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskEntry {
    pub mask: String,
    pub set_by: String,
}

/// Most entries per list (`MAXLIST=beI:100`).
const MAX_LIST: usize = 100;
/// Longest key (`+k`).
const KEYLEN: usize = 23;

// ---------------------------------------------------------------------------
// Reading a MODE line (natter's letters only: CHANMODES=beI,k,l,imnst and
// PREFIX=(ov)@+)
// ---------------------------------------------------------------------------

/// One mode change, as asked or as announced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Change {
    set: bool,
    letter: char,
    arg: Option<String>,
}

enum Item {
    /// `b`, `e` or `I` with no mask left: list it (once per line).
    ListQuery(char),
    /// Not a letter natter knows: 472.
    Unknown(char),
    /// A letter that needs an argument and has none (461, not tracked).
    Missing,
    Change(Change),
}

/// The letters of `modestring` paired with `args` in order: `b e I o v`
/// always take one, `k` takes one (optional when unsetting), `l` only when
/// setting, `i m n s t` never.
fn parse_modes(modestring: &str, args: &[String]) -> Vec<Item> {
    let mut args = args.iter();
    // An empty argument is used up, but counts as missing.
    let mut next_arg = move || args.next().filter(|a| !a.is_empty());
    let mut set = true;
    let mut items = Vec::new();
    let mut listed = Vec::new();
    for letter in modestring.chars() {
        let change = |arg: Option<&String>| {
            Item::Change(Change {
                set,
                letter,
                arg: arg.cloned(),
            })
        };
        let item = match letter {
            '+' | '-' => {
                set = letter == '+';
                continue;
            }
            'b' | 'e' | 'I' => match next_arg() {
                Some(mask) => change(Some(mask)),
                None if listed.contains(&letter) => continue,
                None => {
                    listed.push(letter);
                    Item::ListQuery(letter)
                }
            },
            'o' | 'v' => next_arg().map_or(Item::Missing, |n| change(Some(n))),
            'k' => match next_arg() {
                Some(key) => change(Some(key)),
                None if set => Item::Missing,
                None => change(None),
            },
            'l' if set => next_arg().map_or(Item::Missing, |n| change(Some(n))),
            'l' | 'i' | 'm' | 'n' | 's' | 't' => change(None),
            _ => Item::Unknown(letter),
        };
        items.push(item);
    }
    items
}

/// The announced `+o-v` string and its arguments: a sign only where the
/// direction changes; `l` has an argument only when set.
fn render(changes: &[Change]) -> Vec<String> {
    let mut letters = String::new();
    let mut args = Vec::new();
    let mut direction = None;
    for c in changes {
        if direction != Some(c.set) {
            letters.push(if c.set { '+' } else { '-' });
            direction = Some(c.set);
        }
        letters.push(c.letter);
        args.extend(c.arg.clone());
    }
    std::iter::once(letters).chain(args).collect()
}

// ---------------------------------------------------------------------------
// The rules of one room
// ---------------------------------------------------------------------------

/// Why a join is refused, checked in natter's order (an invitation admits
/// past all of them, once).
fn join_refusal(room: &MRoom, subject: &str, key: Option<&str>) -> Option<&'static str> {
    if room.banned(subject) {
        return Some("474");
    }
    let invex = room.invex.iter().any(|e| glob(&e.mask, subject));
    if room.modes.invite_only && !invex {
        return Some("473");
    }
    if room.modes.key.as_deref().is_some_and(|k| key != Some(k)) {
        return Some("475");
    }
    if room.modes.limit.is_some_and(|l| room.members.len() >= l) {
        return Some("471");
    }
    None
}

impl MRoom {
    /// Matches a ban and no exception.
    pub fn banned(&self, subject: &str) -> bool {
        let any = |list: &[MaskEntry]| list.iter().any(|e| glob(&e.mask, subject));
        any(&self.bans) && !any(&self.excepts)
    }

    /// Matches a ban, but an exception too: the ban does not apply.
    fn excepted(&self, subject: &str) -> bool {
        let any = |list: &[MaskEntry]| list.iter().any(|e| glob(&e.mask, subject));
        any(&self.bans) && any(&self.excepts)
    }

    fn privileged(&self, conn: ConnId) -> bool {
        self.ops.contains(&conn) || self.voiced.contains(&conn)
    }

    /// Why `conn` (known as `subject`) may not send here: +n keeps out
    /// non-members; operators and voiced members always speak; +m silences
    /// the rest, and so does a ban.
    fn speak_refusal(&self, conn: ConnId, subject: &str) -> Option<&'static str> {
        let member = self.members.contains(&conn);
        if !member && self.modes.no_external {
            Some("404 +n: not a member")
        } else if self.privileged(conn) {
            None
        } else if self.modes.moderated {
            Some("404 +m: not voiced")
        } else if self.banned(subject) {
            Some("404 +b: banned")
        } else {
            None
        }
    }

    /// Applies one change by `by`; `target` is the member `+o`/`+v` names.
    /// `Ok(Some)` is the change to announce, `Ok(None)` changed nothing,
    /// `Err` is the numeric that refuses it.
    fn apply(
        &mut self,
        c: &Change,
        target: Option<ConnId>,
        by: &str,
    ) -> Result<Option<Change>, &'static str> {
        let announce = |arg: Option<String>| {
            Ok(Some(Change {
                set: c.set,
                letter: c.letter,
                arg,
            }))
        };
        let arg = c.arg.clone().unwrap_or_default();
        if let Some(flag) = self.modes.flag(c.letter) {
            if *flag == c.set {
                return Ok(None);
            }
            *flag = c.set;
            return announce(None);
        }
        match (c.letter, c.set) {
            ('o' | 'v', _) => {
                let Some(t) = target.filter(|t| self.members.contains(t)) else {
                    return Err("441");
                };
                let holders = if c.letter == 'o' {
                    &mut self.ops
                } else {
                    &mut self.voiced
                };
                let changed = if c.set {
                    holders.insert(t)
                } else {
                    holders.remove(&t)
                };
                if changed {
                    announce(c.arg.clone())
                } else {
                    Ok(None)
                }
            }
            ('k', true) => {
                let well_formed = !arg.is_empty()
                    && arg.len() <= KEYLEN
                    && !arg.chars().any(|ch| ch <= ' ' || ch == ',' || ch == ':');
                if !well_formed {
                    return Err("525");
                }
                if self.modes.key.as_deref() == Some(arg.as_str()) {
                    return Ok(None);
                }
                self.modes.key = Some(arg.clone());
                announce(Some(arg))
            }
            // `-k` removes whatever key is set and announces that key.
            ('k', false) => match self.modes.key.take() {
                Some(old) => announce(Some(old)),
                None => Ok(None),
            },
            ('l', true) => {
                let limit = arg
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n));
                let Some(limit) = limit else {
                    return Err("696");
                };
                if self.modes.limit == Some(limit) {
                    return Ok(None);
                }
                self.modes.limit = Some(limit);
                announce(Some(limit.to_string()))
            }
            ('l', false) => match self.modes.limit.take() {
                Some(_) => announce(None),
                None => Ok(None),
            },
            ('b' | 'e' | 'I', set) => {
                let mask = expand_mask(&arg);
                let list = match c.letter {
                    'b' => &mut self.bans,
                    'e' => &mut self.excepts,
                    _ => &mut self.invex,
                };
                let at = list.iter().position(|e| e.mask.eq_ignore_ascii_case(&mask));
                match (set, at) {
                    (true, Some(_)) | (false, None) => Ok(None),
                    (true, None) if list.len() >= MAX_LIST => Err("478"),
                    (true, None) => {
                        list.push(MaskEntry {
                            mask: mask.clone(),
                            set_by: by.to_string(),
                        });
                        announce(Some(mask))
                    }
                    (false, Some(i)) => announce(Some(list.remove(i).mask)),
                }
            }
            _ => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

impl Model {
    /// `nick!user@host` for `conn` under `nick` (every scripted client sends
    /// `USER u …`).
    pub(super) fn subject_as(&self, conn: ConnId, nick: &str) -> String {
        format!("{nick}!u@{}", self.conns[&conn].host)
    }

    fn subject(&self, conn: ConnId) -> String {
        self.subject_as(conn, &self.target_nick(conn))
    }

    /// The registered user called `nick` (any case).
    pub(super) fn user(&self, nick: &str) -> Option<ConnId> {
        let id = *self.nicks.get(&fold(nick))?;
        self.conns[&id].registered.then_some(id)
    }

    /// JOIN's gate for an existing room: the refusing numeric, if any.
    pub(super) fn join_gate(
        &mut self,
        conn: ConnId,
        folded: &str,
        key: Option<&str>,
    ) -> Option<&'static str> {
        let subject = self.subject(conn);
        let room = self.rooms.get(folded)?;
        let refusal = join_refusal(room, &subject, key);
        if !room.invited.contains(&conn) {
            let excepted = room.excepted(&subject);
            let invex = room.modes.invite_only
                && !room.banned(&subject)
                && room.invex.iter().any(|e| glob(&e.mask, &subject));
            if excepted {
                self.hit("JOIN: +e exempted a banned client");
                self.hit("+e exempted a banned client");
            }
            if invex {
                self.hit("JOIN: +I admitted past +i");
            }
            if let Some(numeric) = refusal {
                self.hit(&format!("JOIN refused ({numeric})"));
            }
            return refusal;
        }
        if let Some(numeric) = refusal {
            self.hit(&format!("JOIN by invitation past {numeric}"));
            self.hit("JOIN by invitation past a refusal");
        }
        None
    }

    /// PRIVMSG/NOTICE's gate for an existing room: 404's reason, if any.
    pub(super) fn speak_gate(&mut self, conn: ConnId, folded: &str) -> Option<&'static str> {
        let subject = self.subject(conn);
        let room = &self.rooms[folded];
        let refusal = room.speak_refusal(conn, &subject);
        let excepted = refusal.is_none() && !room.privileged(conn) && room.excepted(&subject);
        if excepted {
            self.hit("PRIVMSG/NOTICE: +e exempted a banned client");
            self.hit("+e exempted a banned client");
        }
        if let Some(why) = refusal {
            self.hit(why);
        }
        refusal
    }

    /// NICK's gate: the first room (in case-folded name order) where
    /// `wanted` would be banned and `conn` is neither voiced nor operator.
    pub(super) fn nick_gate(&mut self, conn: ConnId, wanted: &str) -> Option<String> {
        let subject = self.subject_as(conn, wanted);
        let c = &self.conns[&conn];
        let excepted = c.rooms.iter().any(|folded| {
            let r = &self.rooms[folded];
            !r.privileged(conn) && r.excepted(&subject)
        });
        if excepted {
            self.hit("NICK: +e exempted a banned client");
            self.hit("+e exempted a banned client");
        }
        let c = &self.conns[&conn];
        let room = c
            .rooms
            .iter()
            .map(|folded| &self.rooms[folded])
            .find(|r| !r.privileged(conn) && r.banned(&subject))?;
        let name = room.name.clone();
        self.hit("NICK refused: banned (435)");
        Some(name)
    }

    /// `MODE <target> [<modestring> [<args>…]]`.
    pub(super) fn mode(
        &mut self,
        conn: ConnId,
        target: &str,
        modestring: &str,
        args: &[String],
        ex: &mut Expect,
    ) {
        let me = self.target_nick(conn);
        if !target.starts_with('#') {
            // User modes; the scripts only ever name someone else (or no one).
            if fold(target) != fold(&me) && self.user(target).is_none() {
                ex.push(conn, numeric("401", &me, target));
            }
            return;
        }
        let folded = fold(target);
        let Some(room) = self.rooms.get(&folded) else {
            ex.push(conn, numeric("403", &me, target));
            return;
        };
        let name = room.name.clone();
        if modestring.is_empty() {
            // 324 (the key only for members), then 329 (not tracked).
            let shown = room.modes.describe(room.members.contains(&conn));
            ex.push(conn, numeric("324", &me, &format!("{name}|{shown}")));
            self.hit("MODE query (324)");
            return;
        }
        let is_op = room.ops.contains(&conn);
        let mut changes = Vec::new();
        for item in parse_modes(modestring, args) {
            match item {
                Item::ListQuery(letter) => self.send_list(conn, &folded, letter, ex),
                Item::Unknown(letter) => {
                    ex.push(conn, numeric("472", &me, &letter.to_string()));
                    self.hit("MODE unknown letter (472)");
                }
                Item::Missing => {}
                Item::Change(c) => changes.push(c),
            }
        }
        if changes.is_empty() {
            return;
        }
        // Only operators change anything: one 482, nothing applied.
        if !is_op {
            ex.push(conn, numeric("482", &me, &name));
            self.hit("MODE refused: not an operator (482)");
            return;
        }
        let mut applied = Vec::new();
        let mut refused = Vec::new();
        for mut c in changes {
            let mut target = None;
            if matches!(c.letter, 'o' | 'v') {
                let nick = c.arg.clone().unwrap_or_default();
                let Some(member) = self.user(&nick) else {
                    // Answered at once, before any other refusal.
                    ex.push(conn, numeric("401", &me, &nick));
                    self.hit("MODE +o/+v: no such nick (401)");
                    continue;
                };
                // Announced as its owner spells it.
                c.arg = self.conns[&member].nick.clone();
                target = Some(member);
            }
            let room = self.rooms.get_mut(&folded).expect("checked above");
            match room.apply(&c, target, &me) {
                Ok(Some(change)) => applied.push(change),
                Ok(None) => self.hit("MODE change that changed nothing"),
                Err(numeric) => refused.push((c, numeric)),
            }
        }
        for (c, refusal) in refused {
            // 525, 696 and 478 are not generated, so not tracked.
            if refusal == "441" {
                ex.push(conn, numeric("441", &me, c.arg.as_deref().unwrap_or("")));
                self.hit("MODE +o/+v: not in the room (441)");
            }
        }
        if applied.is_empty() {
            return;
        }
        for c in &applied {
            let sign = if c.set { '+' } else { '-' };
            self.hit(&format!("MODE {sign}{} applied", c.letter));
        }
        let shown = render(&applied);
        let room = &self.rooms[&folded];
        let line = format!("MODE {me} {name}|{}", shown.join("|"));
        ex.push_all(room.members.iter().copied(), &line);
        ex.log(format!("Mode {me} {} {}", log_room(&name), shown.join(" ")));
    }

    /// 367/368 (bans), 348/349 (exceptions), 346/347 (invite exceptions).
    fn send_list(&mut self, conn: ConnId, folded: &str, letter: char, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let room = &self.rooms[folded];
        let (list, item, end) = match letter {
            'b' => (&room.bans, "367", "368"),
            'e' => (&room.excepts, "348", "349"),
            _ => (&room.invex, "346", "347"),
        };
        for e in list {
            let shown = format!("{}|{}|{}", room.name, e.mask, e.set_by);
            ex.push(conn, numeric(item, &me, &shown));
        }
        ex.push(conn, numeric(end, &me, &room.name));
        self.hit(&format!("MODE list query ({item}/{end})"));
    }

    /// `KICK <room> <nick>{,<nick>} [:<comment>]`: only an operator; each
    /// victim in turn, everyone in the room (the victim too) told once.
    pub(super) fn kick(
        &mut self,
        conn: ConnId,
        name: &str,
        targets: &str,
        comment: Option<&str>,
        ex: &mut Expect,
    ) {
        let me = self.target_nick(conn);
        let folded = fold(name);
        let Some(room) = self.rooms.get(&folded) else {
            ex.push(conn, numeric("403", &me, name));
            return;
        };
        let room_name = room.name.clone();
        if !room.members.contains(&conn) {
            ex.push(conn, numeric("442", &me, &room_name));
            return;
        }
        if !room.ops.contains(&conn) {
            ex.push(conn, numeric("482", &me, &room_name));
            self.hit("KICK refused: not an operator (482)");
            return;
        }
        // The default comment is the kicker's nick.
        let comment = match comment.filter(|c| !c.is_empty()) {
            Some(c) => cut_reason(c).to_string(),
            None => me.clone(),
        };
        for target in targets.split(',').filter(|t| !t.is_empty()).take(20) {
            let victim = self.user(target);
            // Privileges were checked once, for the whole line.
            let in_room = victim.filter(|v| {
                self.rooms
                    .get(&folded)
                    .is_some_and(|r| r.members.contains(v))
            });
            let Some(victim) = in_room else {
                let num = if victim.is_none() { "401" } else { "441" };
                ex.push(conn, numeric(num, &me, target));
                self.hit(&format!("KICK refused ({num})"));
                continue;
            };
            let victim_nick = self.target_nick(victim);
            let members = self.rooms[&folded].members.clone();
            ex.push_all(
                members,
                &format!("KICK {me} {room_name}|{victim_nick}|{comment}"),
            );
            self.conns
                .get_mut(&victim)
                .expect("open")
                .rooms
                .remove(&folded);
            self.drop_member(victim, &folded);
            ex.log(format!(
                "Kick {me} {} {victim_nick} {comment}",
                log_room(&room_name)
            ));
            self.hit(if victim == conn {
                "KICK of oneself"
            } else {
                "KICK"
            });
        }
    }

    /// `INVITE <nick> <room>`: a member (an operator when the room is +i)
    /// invites a registered user; the invitation admits them once.
    pub(super) fn invite(&mut self, conn: ConnId, target: &str, name: &str, ex: &mut Expect) {
        let me = self.target_nick(conn);
        let Some(invitee) = self.user(target) else {
            ex.push(conn, numeric("401", &me, target));
            return;
        };
        let folded = fold(name);
        let Some(room) = self.rooms.get(&folded) else {
            ex.push(conn, numeric("403", &me, name));
            return;
        };
        let room_name = room.name.clone();
        if !room.members.contains(&conn) {
            ex.push(conn, numeric("442", &me, &room_name));
            return;
        }
        if room.modes.invite_only && !room.ops.contains(&conn) {
            ex.push(conn, numeric("482", &me, &room_name));
            self.hit("INVITE refused: +i and not an operator (482)");
            return;
        }
        let invitee_nick = self.target_nick(invitee);
        if room.members.contains(&invitee) {
            ex.push(conn, numeric("443", &me, &invitee_nick));
            self.hit("INVITE refused: already there (443)");
            return;
        }
        // invite-notify: the room's other operators that asked for it.
        let notified: Vec<ConnId> = room
            .ops
            .iter()
            .copied()
            .filter(|&o| o != conn && self.conns[&o].invite_notify)
            .collect();
        self.rooms
            .get_mut(&folded)
            .expect("checked above")
            .invited
            .insert(invitee);
        ex.push(conn, numeric("341", &me, &invitee_nick));
        let line = format!("INVITE {me} {invitee_nick}|{room_name}");
        ex.push(invitee, line.clone());
        if !notified.is_empty() {
            self.hit("INVITE seen by invite-notify operators");
        }
        ex.push_all(notified, &line);
        self.hit(if self.rooms[&folded].modes.invite_only {
            "INVITE into a +i room"
        } else {
            "INVITE"
        });
    }
}
