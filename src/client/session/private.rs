//! Private conversations: `/query`, the history of a conversation, the
//! catch-up of the last day on connect, and lines from the account's other
//! sessions. Part of [`Session`], kept apart so each file reads in one sitting.

use super::*;

impl Session {
    /// `CHATHISTORY TARGETS` answered with `names`: fetch the latest
    /// messages of each private correspondent (not of rooms: joining shows
    /// those), unless a `/query` already did.
    pub(super) fn catch_up(&mut self, names: Vec<String>, out: &mut Vec<Output>) {
        let mut people: Vec<String> = Vec::new();
        for name in names {
            let open = self.queries.iter().any(|q| casefold(q) == casefold(&name));
            let seen = people.iter().any(|p| casefold(p) == casefold(&name));
            if !is_channel(&name) && !self.is_me(&name) && !open && !seen {
                people.push(name);
            }
        }
        // The server lists the oldest first: keep the most recent.
        let skip = people.len().saturating_sub(CATCH_UP_PEOPLE);
        let people = &people[skip..];
        if people.is_empty() {
            out.push(display(
                LineKind::Info,
                "*** No new private messages in the last day",
            ));
            return;
        }
        out.push(display(
            LineKind::Info,
            format!(
                "*** Private messages of the last day, with {} (history follows; /query NICK to reply)",
                people.join(", ")
            ),
        ));
        let n = CATCH_UP_MESSAGES.to_string();
        for person in people {
            out.push(send(Message::new(
                "CHATHISTORY",
                ["LATEST", person.as_str(), "*", n.as_str()],
            )));
        }
    }

    /// Asks which conversations had messages in the last day (from the
    /// last full time the shell passed in; without one, nothing is asked).
    pub(super) fn ask_targets(&self, out: &mut Vec<Output>) {
        let Some(now) = self.utc_now else {
            return;
        };
        let stamp = |t: DateTime<Utc>| format!("timestamp={}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        // A little into the future: the server's clock may run ahead of ours.
        let from = stamp(now - TimeDelta::hours(24));
        let to = stamp(now + TimeDelta::minutes(10));
        out.push(send(Message::new(
            "CHATHISTORY",
            ["TARGETS", from.as_str(), to.as_str(), "50"],
        )));
    }

    /// Whether a private message between two others (`from` → `target`,
    /// neither this session's nick) was sent by another session of this
    /// account: by its `account` tag when the server sends them; else by the
    /// account's name; else yes (the server sends such a line only to the
    /// accounts at its two ends).
    pub(super) fn sent_by_my_other_session(
        &self,
        from: &str,
        target: &str,
        tag: Option<&str>,
    ) -> bool {
        if !is_valid_nick(target) || self.is_me(from) || self.is_me(target) {
            return false;
        }
        let mine = |name: &str| {
            self.account
                .as_deref()
                .is_some_and(|a| casefold(a) == casefold(name))
        };
        match tag {
            Some(account) => mine(account),
            // With account-tag on, an untagged sender is logged in to nothing.
            None if self.account_tag => false,
            None => !mine(target),
        }
    }

    /// `/query NICK`: opens (or switches to) the private conversation with
    /// `nick`, showing its history when the account keeps one.
    pub(super) fn open_query(&mut self, nick: &str) -> Vec<Output> {
        if is_channel(nick) {
            return vec![display(
                LineKind::Error,
                format!("*** {nick} is a room: /join {nick}"),
            )];
        }
        if !is_valid_nick(nick) {
            return vec![display(
                LineKind::Error,
                format!("*** {nick:?} is not a valid nickname"),
            )];
        }
        let known = self
            .queries
            .iter()
            .find(|q| casefold(q) == casefold(nick))
            .cloned();
        let name = known.clone().unwrap_or_else(|| nick.to_string());
        self.current_room = Some(name.clone());
        let mut out = vec![display(
            LineKind::Info,
            format!("*** Now talking privately with {name} (/part to close)"),
        )];
        if known.is_some() {
            return out;
        }
        self.queries.push(name.clone());
        if self.chathistory && self.account.is_some() {
            let n = QUERY_HISTORY.to_string();
            out.push(send(Message::new(
                "CHATHISTORY",
                ["LATEST", name.as_str(), "*", n.as_str()],
            )));
        } else if self.chathistory {
            out.push(display(
                LineKind::Info,
                "*** Log in (--password-file or NATTER_PASSWORD) to see your earlier messages",
            ));
        }
        out
    }

    /// `/part` in a private conversation: closes it.
    pub(super) fn close_query(&mut self, nick: &str) -> Vec<Output> {
        let folded = casefold(nick);
        self.queries.retain(|q| casefold(q) != folded);
        let mut out = vec![display(
            LineKind::Info,
            format!("*** Closed the conversation with {nick}"),
        )];
        if self.is_current(nick) {
            self.current_room = self.rooms.last().or(self.queries.last()).cloned();
            let hint = match &self.current_room {
                Some(next) => format!("*** Now talking in {next}"),
                None => "*** You are in no room now: /join #room to talk".to_string(),
            };
            out.push(display(LineKind::Info, hint));
        }
        out
    }
}
