//! Chat lines from the server: messages, actions and notices, live or
//! replayed from history, for rooms and private conversations; their
//! rendering into display lines (with the chat parts a windowed screen
//! lays out itself). Part of [`Session`], kept apart so each file reads in
//! one sitting.

use super::*;

impl Session {
    /// A PRIVMSG or NOTICE (`command`) from `from`.
    pub(super) fn on_message(
        &mut self,
        command: &str,
        from: &str,
        msg: &Message,
        now: NaiveTime,
        out: &mut Vec<Output>,
    ) {
        let from = from.to_string();
        let server_notice = !msg.source.as_deref().unwrap_or("").contains('!');
        let target = msg.param(0);
        // The conversation a history line belongs to: its batch's.
        let partner = msg
            .tag("batch")
            .and_then(|b| self.batches.get(b))
            .filter(|t| !is_channel(t))
            .cloned();
        let kept_as = match &partner {
            Some(p) => Some(p.as_str()),
            None => is_channel(target).then_some(target),
        };
        if let Some((id, key)) = msg.tag("msgid").zip(kept_as) {
            let folded = casefold(key);
            let older = self.oldest.get(&folded).is_none_or_older(id);
            if older {
                self.oldest.insert(folded, id.to_string());
            }
        }
        let in_history = msg
            .tag("batch")
            .is_some_and(|b| self.batches.contains_key(b));
        let elsewhere = self.sent_by_my_other_session(&from, target, msg.tag("account"));
        if command == "NOTICE" && server_notice {
            out.push(display(LineKind::Event, format!("*** {}", msg.param(1))));
        } else if in_history {
            if let Some(count) = msg.tag("batch").and_then(|b| self.batch_counts.get_mut(b)) {
                *count += 1;
            }
            let when = msg
                .tag("time")
                .map(|t| history_time(t, self.utc_offset))
                .unwrap_or_default();
            // A conversation's history: lines to the partner are
            // this account's own (whichever nick sent them then).
            let nick = self.nick.clone();
            let (from, target, elsewhere) = match &partner {
                Some(p) if casefold(p) == casefold(target) => (nick.as_str(), p.as_str(), false),
                Some(_) => (from.as_str(), nick.as_str(), false),
                None => (from.as_str(), target, elsewhere),
            };
            let line = self.render_message(command, from, target, msg.param(1), elsewhere, now);
            if let Some(Output::Display(line)) = line {
                let text = line.text();
                // `[12:35:01] ` → `[history 2023-11-09 12:35] `
                let body = text.split_once("] ").map_or(text, |(_, rest)| rest);
                let mut shown =
                    DisplayLine::new(LineKind::History, format!("[history {when}] {body}"));
                if let Some(window) = line.window() {
                    shown = shown.in_window(window);
                }
                if let Some(mut chat) = line.chat().cloned() {
                    if let Some(at) = msg.tag("time").and_then(|t| local_time(t, self.utc_offset)) {
                        chat.time = at.time();
                        chat.date = Some(at.date());
                    }
                    shown = shown.with_chat(chat);
                }
                out.push(Output::Display(shown));
            }
        } else {
            let line =
                self.render_message(command, &from, msg.param(0), msg.param(1), elsewhere, now);
            out.extend(line);
        }
    }

    /// Chat lines: room messages, actions, private messages, notices.
    /// `elsewhere`: sent by another session of this account (see
    /// [`Session::sent_by_my_other_session`]).
    pub(super) fn render_message(
        &self,
        command: &str,
        from: &str,
        target: &str,
        text: &str,
        elsewhere: bool,
        now: NaiveTime,
    ) -> Option<Output> {
        let time = now.format("%H:%M:%S");
        let ctcp = text
            .strip_prefix('\x01')
            .map(|t| t.strip_suffix('\x01').unwrap_or(t));
        let body = match ctcp {
            Some(inner) => match inner.split_once(' ') {
                Some((verb, action)) if verb.eq_ignore_ascii_case("ACTION") => Body::Action(action),
                None if inner.eq_ignore_ascii_case("ACTION") => Body::Action(""),
                _ if command == "NOTICE" => return None,
                _ => {
                    let verb = inner.split(' ').next().unwrap_or("");
                    return Some(display(
                        LineKind::Info,
                        format!("*** {from} sent a CTCP {verb} request (ignored)"),
                    ));
                }
            },
            None if command == "NOTICE" => Body::Notice(text),
            None => Body::Text(text),
        };
        let (said, style) = match body {
            Body::Text(t) => (t, ChatStyle::Message),
            Body::Action(a) => (a, ChatStyle::Action),
            Body::Notice(t) => (t, ChatStyle::Notice),
        };
        let own = elsewhere || self.is_me(from);
        let chat = Chat::new(now, from, said, style, own);
        if is_channel(target) {
            let room = if self.is_current(target) {
                String::new()
            } else {
                format!("{target} ")
            };
            let line = match body {
                Body::Text(t) => format!("[{time}] {room}[{from}]: {t}"),
                Body::Action(a) => format!("[{time}] {room}* {from} {a}"),
                Body::Notice(t) => format!("[{time}] {room}-{from}- {t}"),
            };
            return Some(Output::Display(
                DisplayLine::new(LineKind::Chat, line)
                    .in_window(target)
                    .with_chat(chat),
            ));
        }
        // A private conversation's window is named after the other person.
        let partner = if own && !self.is_me(target) {
            target
        } else {
            from
        };
        let shown = match body {
            Body::Text(t) => t.to_string(),
            Body::Action(a) => format!("* {from} {a}"),
            Body::Notice(t) => format!("(notice) {t}"),
        };
        let line = if elsewhere {
            format!("[{time}] you (from another session) -> *{target}*: {shown}")
        } else if self.is_me(from) && !self.is_me(target) {
            format!("[{time}] -> *{target}*: {shown}")
        } else {
            format!("[{time}] *{from}* -> you: {shown}")
        };
        Some(Output::Display(
            DisplayLine::new(LineKind::Private, line)
                .in_window(partner)
                .with_chat(chat),
        ))
    }
}

#[derive(Clone, Copy)]
enum Body<'a> {
    Text(&'a str),
    Action(&'a str),
    Notice(&'a str),
}

/// `2023-11-09T12:35:01.000Z` → `2023-11-09 12:35` at UTC offset 0, or
/// `2023-11-09 13:35` at +01:00: the person's own time, as live lines show.
pub(super) fn history_time(tag: &str, offset: FixedOffset) -> String {
    match chrono::DateTime::parse_from_rfc3339(tag) {
        Ok(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// A server-time tag in the person's time zone.
fn local_time(tag: &str, offset: FixedOffset) -> Option<chrono::NaiveDateTime> {
    chrono::DateTime::parse_from_rfc3339(tag)
        .ok()
        .map(|t| t.with_timezone(&offset).naive_local())
}

/// Whether msgid `id` is older than the one kept: natter's msgids are
/// numbers; other servers' opaque ids are compared as text.
trait OlderExt {
    fn is_none_or_older(&self, id: &str) -> bool;
}

impl OlderExt for Option<&String> {
    fn is_none_or_older(&self, id: &str) -> bool {
        match self {
            None => true,
            Some(kept) => match (kept.parse::<u64>(), id.parse::<u64>()) {
                (Ok(kept), Ok(id)) => id < kept,
                _ => false,
            },
        }
    }
}
