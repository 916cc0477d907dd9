//! Message tags around a command: the limit on a client's tags, which of
//! its tags are relayed (client-only `+tags`, plus the server's `bot`), and
//! `labeled-response` (every reply to a `@label=…` command carries it).
//!
//! Owns how tags travel from a client to others and back. Must never relay
//! a tag without the `+` prefix (only the server vouches for those), never
//! send a tag to a client without `message-tags` (`label` aside, which the
//! client asked for), and never change what is sent to anyone but the
//! labeled command's sender.

use super::Server;
use crate::core::action::{Action, OutLine};
use crate::core::event::ConnId;
use crate::proto::{Message, Tag};
use std::sync::Arc;

/// Most bytes of tag data (between `@` and the space) a client may send
/// (IRCv3 message-tags); more is answered with 417 and the line dropped.
pub(super) const MAX_CLIENT_TAG_DATA: usize = 4094;

/// Longest `label` value (labeled-response). A longer one is ignored: the
/// command runs, unlabeled (a label that long breaks the spec, and echoing
/// it back could push the server's own tags past their limit).
const MAX_LABEL: usize = 64;

/// How many tag data bytes `line` starts with (0 when it has no tags).
pub(super) fn tag_data_len(line: &str) -> usize {
    match line.trim_start_matches(' ').strip_prefix('@') {
        Some(rest) => rest.find(' ').unwrap_or(rest.len()),
        None => 0,
    }
}

/// The tags `msg`'s sender adds to what it relays, serialized once for
/// every recipient with `message-tags`: `bot` when the sender is a bot,
/// then its well-formed client-only tags (only when it enabled
/// `message-tags`, which is what lets a client send them). Empty for most
/// messages: then relaying costs nothing more than before.
pub(super) fn relayed_tags(msg: &Message, sender_has_message_tags: bool, bot: bool) -> String {
    let mut out = String::new();
    if bot {
        out.push_str("bot");
    }
    if sender_has_message_tags {
        let client = msg
            .tags
            .iter()
            .filter(|t| t.is_client_only() && t.has_valid_key());
        for tag in client {
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(&tag.to_string());
        }
    }
    out
}

impl Server {
    /// The label of `msg` if its sender will get labeled replies: it
    /// enabled `labeled-response` and `batch` (which labeled-response
    /// requires), and the label is 1 to [`MAX_LABEL`] bytes.
    pub(super) fn label_of(&self, conn: ConnId, msg: &Message) -> Option<String> {
        let caps = self.connections.get(&conn)?.caps;
        if !(caps.labeled_response && caps.batch) {
            return None;
        }
        let label = msg.tag("label")?;
        (!label.is_empty() && label.len() <= MAX_LABEL).then(|| label.to_string())
    }

    /// Labels what the command just run (its actions start at `from` in the
    /// outbox) sent to `conn`: one line gets the label; several are wrapped
    /// in a `labeled-response` batch whose start carries it (or, when they
    /// already are exactly one batch, that batch's start carries it); none
    /// get a labeled `ACK`. A broadcast that reached `conn` too is split:
    /// `conn`'s copy is a reply (an echo-message echo), the others' copies
    /// are untouched. A message `conn` sent itself without echo-message is a
    /// delivery, not a reply, and stays unlabeled as the spec asks.
    pub(super) fn label_replies(&mut self, conn: ConnId, from: usize, label: &str) {
        let Some(c) = self.connections.get(&conn) else {
            // It quit: nothing more can reach it.
            return;
        };
        let own_source = (!c.caps.echo_message).then(|| c.source());
        let tail: Vec<Action> = self.outbox.drain(from..).collect();
        let mut out = Vec::with_capacity(tail.len() + 2);
        // Where `conn`'s replies are in `out`, in order.
        let mut mine = Vec::new();
        for action in tail {
            match action {
                Action::Send { to, line } if to == conn => {
                    mine.push(out.len());
                    out.push(Action::Send { to, line });
                }
                Action::Broadcast { mut to, line }
                    if to.contains(&conn) && !is_own_message(&line, own_source.as_deref()) =>
                {
                    to.retain(|&c| c != conn);
                    if !to.is_empty() {
                        out.push(Action::Broadcast {
                            to,
                            line: line.clone(),
                        });
                    }
                    mine.push(out.len());
                    out.push(Action::Send { to: conn, line });
                }
                other => out.push(other),
            }
        }
        let label_tag = Tag {
            key: "label".into(),
            value: Some(label.to_string()),
        }
        .to_string();
        let lines: Vec<&str> = mine.iter().map(|&i| line_of(&out[i])).collect();
        match lines.len() {
            0 => {
                let ack = self.server_message("ACK", Vec::<String>::new());
                out.push(send(conn, with_tag(&ack.to_string(), &label_tag)));
            }
            1 => {
                let line = with_tag(lines[0], &label_tag);
                out[mine[0]] = send(conn, line);
            }
            _ if is_one_batch(&lines) => {
                let line = with_tag(lines[0], &label_tag);
                out[mine[0]] = send(conn, line);
            }
            _ => {
                let id = format!("L{}", self.next_batch);
                self.next_batch += 1;
                let batch_tag = format!("batch={id}");
                let relabeled: Vec<String> = lines
                    .iter()
                    .map(|line| {
                        // A line of a nested batch names only that batch.
                        if has_tag(line, "batch") {
                            line.to_string()
                        } else {
                            with_tag(line, &batch_tag)
                        }
                    })
                    .collect();
                for (&i, line) in mine.iter().zip(relabeled) {
                    out[i] = send(conn, line);
                }
                let open =
                    self.server_message("BATCH", [format!("+{id}"), "labeled-response".into()]);
                let close = self.server_message("BATCH", [format!("-{id}")]);
                let (first, last) = (mine[0], mine[mine.len() - 1]);
                out.insert(last + 1, send(conn, close.to_string()));
                out.insert(first, send(conn, with_tag(&open.to_string(), &label_tag)));
            }
        }
        self.outbox.extend(out);
    }
}

fn send(to: ConnId, line: String) -> Action {
    let line: OutLine = Arc::from(line);
    Action::Send { to, line }
}

/// The line of a `Send` or `Broadcast` (`""` for any other action).
fn line_of(action: &Action) -> &str {
    match action {
        Action::Send { line, .. } | Action::Broadcast { line, .. } => line,
        _ => "",
    }
}

/// `line` with `tag` added in front of its tags.
fn with_tag(line: &str, tag: &str) -> String {
    match line.strip_prefix('@') {
        Some(rest) => format!("@{tag};{rest}"),
        None => format!("@{tag} {line}"),
    }
}

/// Whether `line` carries a tag called `key`.
fn has_tag(line: &str, key: &str) -> bool {
    let Some(rest) = line.strip_prefix('@') else {
        return false;
    };
    let tags = rest.split(' ').next().unwrap_or_default();
    tags.split(';').any(|t| t.split('=').next() == Some(key))
}

/// Whether `line` is a PRIVMSG, NOTICE or TAGMSG from `source`.
fn is_own_message(line: &str, source: Option<&str>) -> bool {
    let Some(source) = source else {
        return false;
    };
    Message::parse(line).is_ok_and(|m| {
        m.source.as_deref() == Some(source)
            && ["PRIVMSG", "NOTICE", "TAGMSG"].contains(&m.command.as_str())
    })
}

/// Whether `lines` are exactly one batch: `BATCH +ref …` first, `BATCH -ref`
/// last, and every line between inside it.
fn is_one_batch(lines: &[&str]) -> bool {
    let parsed: Vec<Message> = lines
        .iter()
        .filter_map(|l| Message::parse(l).ok())
        .collect();
    let (Some(first), Some(last)) = (parsed.first(), parsed.last()) else {
        return false;
    };
    let Some(id) = first.param(0).strip_prefix('+') else {
        return false;
    };
    parsed.len() == lines.len()
        && first.command == "BATCH"
        && last.command == "BATCH"
        && last.param(0).strip_prefix('-') == Some(id)
        && parsed[1..parsed.len() - 1]
            .iter()
            .all(|m| m.tag("batch") == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_goes_in_front_of_any_tags_the_line_has() {
        assert_eq!(with_tag(":s PING x", "label=a"), "@label=a :s PING x");
        assert_eq!(with_tag("@time=t :s X", "label=a"), "@label=a;time=t :s X");
        assert!(has_tag("@time=t;batch=h1 :s X", "batch"));
        assert!(!has_tag("@time=t;batchy=1 :s X", "batch"));
        assert!(!has_tag(":s X batch=1", "batch"));
    }

    #[test]
    fn tag_data_is_counted_between_the_at_sign_and_the_space() {
        assert_eq!(tag_data_len("@a=b PRIVMSG #x :hi"), 3);
        assert_eq!(tag_data_len("  @abc"), 3);
        assert_eq!(tag_data_len("PRIVMSG #x :@a"), 0);
    }

    #[test]
    fn only_well_formed_client_only_tags_are_relayed_after_bot() {
        let msg =
            Message::parse("@+typing=active;msgid=forged;+a,b=1;+x/y=a\\sb TAGMSG #r").unwrap();
        assert_eq!(relayed_tags(&msg, true, false), "+typing=active;+x/y=a\\sb");
        assert_eq!(
            relayed_tags(&msg, true, true),
            "bot;+typing=active;+x/y=a\\sb"
        );
        assert_eq!(relayed_tags(&msg, false, false), "");
        assert_eq!(relayed_tags(&msg, false, true), "bot");
    }
}
