//! How the server's words become [`Action`]s: numeric replies, notices,
//! broadcasts, and lines tagged for each recipient's capabilities.
//!
//! Owns the shape of every outgoing line. Must never decide who receives
//! what (the handlers do) and never copy a line per recipient.

use super::Server;
use crate::core::action::{Action, OutLine};
use crate::core::connection::Caps;
use crate::core::event::{ConnId, Timestamp};
use crate::core::history::{server_time, HistoryRecord};
use crate::core::log::{LogEntry, LogRecord};
use crate::proto::{write_message, Message};
use std::fmt::Write as _;

/// Longest middle parameter of a numeric reply (names are at most
/// CHANNELLEN): keeps replies that echo a client's words inside 512 bytes.
const TOKENLEN: usize = 64;

/// Serializes a line with `write` and shares it. The bytes are written into
/// `scratch` (the server's, cleared first and kept for the next line), then
/// copied once into the shared [`OutLine`]: a line costs one allocation,
/// however many pieces it is written in.
pub(super) fn share_line(scratch: &mut String, write: impl FnOnce(&mut String)) -> OutLine {
    scratch.clear();
    write(scratch);
    OutLine::from(scratch.as_str())
}

impl Server {
    pub(super) fn emit(&mut self, action: Action) {
        self.outbox.push_back(action);
    }

    /// `msg` serialized and shared ([`share_line`]).
    fn share(&mut self, msg: &Message) -> OutLine {
        share_line(&mut self.scratch, |out| msg.write_to(out))
    }

    pub(super) fn send(&mut self, to: ConnId, msg: &Message) {
        let line = self.share(msg);
        self.emit(Action::Send { to, line });
    }

    pub(super) fn broadcast(&mut self, to: Vec<ConnId>, msg: &Message) {
        if !to.is_empty() {
            let line = self.share(msg);
            self.emit(Action::Broadcast { to, line });
        }
    }

    /// Like [`Server::broadcast`], tagged with `record`'s time and msgid for
    /// the recipients that enabled them: one shared line per distinct set
    /// of tag capabilities among the recipients, never one per recipient.
    pub(super) fn broadcast_tagged(
        &mut self,
        to: Vec<ConnId>,
        msg: &Message,
        record: &HistoryRecord,
    ) {
        self.broadcast_relayed(to, |out| msg.write_to(out), record, "", None);
    }

    /// Like [`Server::broadcast_tagged`], for the line `write` writes (the
    /// message without tags), with `extra` (serialized tags, such as
    /// `bot;+typing=active`) after the server's own for the recipients
    /// that enabled `message-tags`, and `account=` (the sender's account,
    /// when it is logged in) for those that enabled `account-tag`. Those
    /// get a tagged line anyway, so `extra` adds no shape: still one line
    /// per shape, never per recipient.
    pub(super) fn broadcast_relayed(
        &mut self,
        mut to: Vec<ConnId>,
        write: impl Fn(&mut String),
        record: &HistoryRecord,
        extra: &str,
        account: Option<&str>,
    ) {
        // Only message-tags, server-time and (for a logged-in sender)
        // account-tag change a live line, so there are eight shapes at
        // most, indexed `4 * account_tag + 2 * message_tags + server_time`.
        // The plain shape keeps `to` itself: in a room of clients without
        // tags nothing is regrouped or reallocated.
        let mut tagged_groups: [Vec<ConnId>; 8] = Default::default();
        let connections = &self.connections;
        let with_account = account.is_some();
        to.retain(|conn| {
            let shape = connections.get(conn).map_or(0, |c| {
                4 * usize::from(with_account && c.caps.account_tag)
                    + 2 * usize::from(c.caps.message_tags)
                    + usize::from(c.caps.server_time)
            });
            if shape != 0 {
                tagged_groups[shape].push(*conn);
            }
            shape == 0
        });
        tagged_groups[0] = to;
        for (shape, to) in tagged_groups.into_iter().enumerate() {
            if to.is_empty() {
                continue;
            }
            let caps = Caps {
                account_tag: shape & 4 != 0,
                message_tags: shape & 2 != 0,
                server_time: shape & 1 != 0,
                ..Caps::default()
            };
            let tags = Tags { extra, account };
            let line = share_line(&mut self.scratch, |out| {
                write_tags(out, caps, Some(record), None, tags);
                write(out);
            });
            self.emit(Action::Broadcast { to, line });
        }
    }

    pub(super) fn log(&mut self, at: Timestamp, entry: LogEntry) {
        self.emit(Action::Log(LogRecord { at, entry }));
    }

    /// Sends a numeric reply `:<server> <numeric> <nick|*> <params…>`. Every
    /// parameter but the last is cut to one short word ([`token`]).
    pub(super) fn reply(&mut self, conn: ConnId, numeric: &str, params: &[&str]) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let (server, nick) = (&self.config.server_name, c.nick_or_star());
        let line = share_line(&mut self.scratch, |out| {
            write_reply(out, server, nick, numeric, params)
        });
        self.emit(Action::Send { to: conn, line });
    }

    /// Like [`Server::reply`], for parameters the server made itself (masks,
    /// times): every one is sent whole.
    pub(super) fn reply_whole(&mut self, conn: ConnId, numeric: &str, params: &[&str]) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let all = std::iter::once(c.nick_or_star()).chain(params.iter().copied());
        let server = Some(self.config.server_name.as_str());
        let line = share_line(&mut self.scratch, |out| {
            write_message(out, server, numeric, all)
        });
        self.emit(Action::Send { to: conn, line });
    }

    /// `NOTICE <nick> :text` from the server.
    pub(super) fn server_notice(&mut self, conn: ConnId, text: &str) {
        let Some(c) = self.connections.get(&conn) else {
            return;
        };
        let params = [c.nick_or_star(), text];
        let server = Some(self.config.server_name.as_str());
        let line = share_line(&mut self.scratch, |out| {
            write_message(out, server, "NOTICE", params)
        });
        self.emit(Action::Send { to: conn, line });
    }

    /// An IRCv3 standard reply, `FAIL|WARN <command> <code>
    /// [<context>…] :<text>`: for what no numeric says. Every context
    /// parameter is cut to one short word ([`token`]).
    pub(super) fn standard_reply(
        &mut self,
        conn: ConnId,
        kind: StandardReply,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        let context = context.iter().map(|p| token(p));
        let params = [command, code].into_iter().chain(context).chain([text]);
        let server = Some(self.config.server_name.as_str());
        let line = share_line(&mut self.scratch, |out| {
            write_message(out, server, kind.verb(), params)
        });
        self.emit(Action::Send { to: conn, line });
    }

    /// `FAIL <command> <code> <context…> :<text>`.
    pub(super) fn fail(
        &mut self,
        conn: ConnId,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        self.standard_reply(conn, StandardReply::Fail, command, code, context, text);
    }

    /// A message from the server itself (`:natter VERB params…`).
    pub(super) fn server_message<I, S>(&self, command: &str, params: I) -> Message
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Message::new(command, params).with_source(self.config.server_name.clone())
    }
}

/// The kinds of IRCv3 standard replies the server sends. (`NOTE`, for
/// information, joins them when something needs it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StandardReply {
    /// `FAIL`: the command failed.
    Fail,
    /// `WARN`: it ran, but not quite as asked.
    Warn,
}

impl StandardReply {
    fn verb(self) -> &'static str {
        match self {
            StandardReply::Fail => "FAIL",
            StandardReply::Warn => "WARN",
        }
    }
}

/// Writes the numeric reply [`Server::reply`] sends to `nick` into `out`.
pub(super) fn write_reply(
    out: &mut String,
    server: &str,
    nick: &str,
    numeric: &str,
    params: &[impl AsRef<str>],
) {
    let last = params.len().saturating_sub(1);
    let params = params.iter().enumerate().map(|(i, p)| {
        let p = p.as_ref();
        if i < last {
            token(p)
        } else {
            p
        }
    });
    write_message(
        out,
        Some(server),
        numeric,
        std::iter::once(nick).chain(params),
    );
}

/// Tags a relayed message carries beyond the server's own.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tags<'a> {
    /// Serialized client tags (and `bot`), for `message-tags` recipients.
    pub extra: &'a str,
    /// The sender's account, for `account-tag` recipients.
    pub account: Option<&'a str>,
}

/// Writes the tags a line carries for a client with `caps`, as `@a;b;c `
/// (nothing when it gets none): `batch=`, `time=` and `msgid=` from
/// `record`, `account=`, then `relayed.extra` for a client that enabled
/// `message-tags`. The server's own tags come first, as message-tags
/// requires, so client tags can never push them out.
pub(super) fn write_tags(
    out: &mut String,
    caps: Caps,
    record: Option<&HistoryRecord>,
    batch: Option<&str>,
    relayed: Tags<'_>,
) {
    let start = out.len();
    // `@` before the first tag, `;` between tags.
    let next = |out: &mut String| out.push(if out.len() == start { '@' } else { ';' });
    if let (Some(batch), true) = (batch, caps.batch) {
        next(out);
        out.push_str("batch=");
        out.push_str(batch);
    }
    if let Some(r) = record {
        if caps.server_time {
            next(out);
            out.push_str("time=");
            out.push_str(&server_time(r.at));
        }
        if caps.message_tags {
            next(out);
            // Writing into a String cannot fail.
            let _ = write!(out, "msgid={}", r.id);
        }
    }
    // Tag values here never need escaping: ids, times, batch refs and
    // account names (nicknames) are plain ASCII without spaces, semicolons
    // or backslashes. `extra` was escaped when it was serialized.
    if let (Some(account), true) = (relayed.account, caps.account_tag) {
        next(out);
        out.push_str("account=");
        out.push_str(account);
    }
    if caps.message_tags && !relayed.extra.is_empty() {
        next(out);
        out.push_str(relayed.extra);
    }
    if out.len() > start {
        out.push(' ');
    }
}

/// A middle parameter of a reply: often a name echoed from the client, so it
/// is cut at its first space and to [`TOKENLEN`] bytes, and never empty or
/// starting with `:` (either would shift the parameters a client parses).
pub(super) fn token(p: &str) -> &str {
    let word = truncate(p.split(' ').next().unwrap_or_default(), TOKENLEN);
    if word.is_empty() || word.starts_with(':') {
        "*"
    } else {
        word
    }
}

/// The longest prefix of `s` of at most `max` bytes, cut at a char boundary.
pub(super) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `items` joined by `separator` into lines of at most `budget` bytes, for
/// replies that list many names (an item longer than `budget` gets a line
/// of its own); always at least one line, empty when there are no items.
pub(super) fn join_in_lines(items: &[String], separator: char, budget: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + 1 + item.len() > budget {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(separator);
        }
        line.push_str(item);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_in_lines_splits_between_items_at_the_budget() {
        let items: Vec<String> = ["alice", "bob", "carol"].map(String::from).into();
        assert_eq!(join_in_lines(&items, ',', 100), ["alice,bob,carol"]);
        assert_eq!(join_in_lines(&items, ' ', 9), ["alice bob", "carol"]);
        assert_eq!(join_in_lines(&items, ',', 3), ["alice", "bob", "carol"]);
        assert_eq!(join_in_lines(&[], ',', 10), [""]);
    }
}
