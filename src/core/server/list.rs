//! LIST, with the ELIST search extensions (`ELIST=CMNTU` in 005).
//!
//! Owns which rooms a LIST shows: every room but secret ones (shown only to
//! their members), narrowed by names, masks and conditions. Must never
//! change any state, and never show a secret room to an outsider.

use super::Server;
use crate::core::event::{ConnId, Now, Timestamp};
use crate::core::room::Room;
use crate::proto::numeric::*;
use crate::proto::{casefold, mask_matches, Message};

/// The ELIST letters implemented: C (created), M (mask), N (!mask),
/// T (topic set), U (user count).
pub(super) const ELIST: &str = "CMNTU";

/// Most names, masks and conditions one LIST weighs; the rest are ignored.
const MAX_LIST_TERMS: usize = 20;

/// One comma-separated term of a LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// A room name, or (M) a mask like `#r*`: the room must match one of
    /// these when any is given.
    Name(String),
    /// N, `!mask`: the room must not match.
    NotName(String),
    /// U, `>n`: more than n users.
    MoreUsersThan(usize),
    /// U, `<n`: fewer than n users.
    FewerUsersThan(usize),
    /// C, `C>m`: created more than m minutes ago.
    CreatedBefore(u64),
    /// C, `C<m`: created less than m minutes ago.
    CreatedWithin(u64),
    /// T, `T>m`: topic set more than m minutes ago.
    TopicBefore(u64),
    /// T, `T<m`: topic set less than m minutes ago.
    TopicWithin(u64),
}

impl Term {
    /// Reads one term; `None` for a condition whose number does not parse
    /// (ignored, as most servers do).
    fn parse(word: &str) -> Option<Term> {
        let minutes = |n: &str| n.parse::<u64>().ok();
        let users = |n: &str| n.parse::<usize>().ok();
        if let Some(n) = word.strip_prefix('>') {
            return users(n).map(Term::MoreUsersThan);
        }
        if let Some(n) = word.strip_prefix('<') {
            return users(n).map(Term::FewerUsersThan);
        }
        let upper = word.to_ascii_uppercase();
        for (prefix, make) in [
            ("C>", Term::CreatedBefore as fn(u64) -> Term),
            ("C<", Term::CreatedWithin),
            ("T>", Term::TopicBefore),
            ("T<", Term::TopicWithin),
        ] {
            if let Some(n) = upper.strip_prefix(prefix) {
                return minutes(n).map(make);
            }
        }
        match word.strip_prefix('!') {
            Some(mask) => Some(Term::NotName(casefold(mask))),
            None => Some(Term::Name(casefold(word))),
        }
    }

    /// Whether `room` passes this condition at `now` (names are checked
    /// apart: they are alternatives, not conditions).
    fn admits(&self, room: &Room, now: Timestamp) -> bool {
        let minutes_ago = |t: Timestamp| now.0.saturating_sub(t.0) / 60_000;
        let topic_age = room.topic().map(|t| minutes_ago(t.set_at));
        match *self {
            Term::Name(_) => true,
            Term::NotName(ref mask) => !mask_matches(mask, &casefold(room.name())),
            Term::MoreUsersThan(n) => room.len() > n,
            Term::FewerUsersThan(n) => room.len() < n,
            Term::CreatedBefore(m) => minutes_ago(room.created()) > m,
            Term::CreatedWithin(m) => minutes_ago(room.created()) < m,
            // A room without a topic has no topic time: T never admits it.
            Term::TopicBefore(m) => topic_age.is_some_and(|age| age > m),
            Term::TopicWithin(m) => topic_age.is_some_and(|age| age < m),
        }
    }
}

impl Server {
    /// `LIST [<#room|mask|!mask|condition>{,…}] [<condition>{,…}]`: 321, a
    /// 322 per room shown, 323. Terms may come in either parameter. Room
    /// names and masks are alternatives (a room matching any is shown);
    /// every `!mask` and condition must hold.
    pub(super) fn handle_list(&mut self, conn: ConnId, msg: &Message, now: Now) {
        let terms: Vec<Term> = msg
            .params
            .iter()
            .take(2)
            .flat_map(|p| p.split(','))
            .filter(|w| !w.is_empty())
            .take(MAX_LIST_TERMS)
            .filter_map(Term::parse)
            .collect();
        let names: Vec<&str> = terms
            .iter()
            .filter_map(|t| match t {
                Term::Name(n) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        self.reply(conn, RPL_LISTSTART, &["Channel", "Users  Name"]);
        let mut rows: Vec<(&str, &Room)> = self
            .rooms
            .iter()
            .filter(|(_, r)| !r.modes().secret || r.contains(conn))
            .filter(|(folded, _)| names.is_empty() || names.iter().any(|n| mask_matches(n, folded)))
            .filter(|(_, r)| terms.iter().all(|t| t.admits(r, now.wall)))
            .map(|(folded, r)| (folded.as_str(), r))
            .collect();
        // In the order of their case-folded names, whatever the map's order.
        rows.sort_unstable_by_key(|(folded, _)| *folded);
        let rows: Vec<(String, String, String)> = rows
            .into_iter()
            .map(|(_, r)| {
                let topic = r.topic().map(|t| t.text.clone()).unwrap_or_default();
                (r.name().to_string(), r.len().to_string(), topic)
            })
            .collect();
        for (name, count, topic) in rows {
            self.reply(conn, RPL_LIST, &[&name, &count, &topic]);
        }
        self.reply(conn, RPL_LISTEND, &["End of /LIST"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_terms_parse_as_elist_describes() {
        assert_eq!(Term::parse(">3"), Some(Term::MoreUsersThan(3)));
        assert_eq!(Term::parse("<10"), Some(Term::FewerUsersThan(10)));
        assert_eq!(Term::parse("C>5"), Some(Term::CreatedBefore(5)));
        assert_eq!(Term::parse("c<5"), Some(Term::CreatedWithin(5)));
        assert_eq!(Term::parse("T>60"), Some(Term::TopicBefore(60)));
        assert_eq!(Term::parse("t<1"), Some(Term::TopicWithin(1)));
        assert_eq!(
            Term::parse("!#Secret*"),
            Some(Term::NotName("#secret*".into()))
        );
        assert_eq!(Term::parse("#Rust"), Some(Term::Name("#rust".into())));
        assert_eq!(Term::parse(">many"), None);
        assert_eq!(Term::parse("C>-1"), None);
    }
}
