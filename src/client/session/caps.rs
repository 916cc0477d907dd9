//! Capability negotiation (`CAP LS/REQ/ACK/NAK`, and when SASL may
//! begin) and `BATCH` bookkeeping for history and catch-up. Part of
//! [`Session`], kept apart so each file reads in one sitting.

use super::*;

impl Session {
    pub(super) fn on_cap(&mut self, msg: &Message, out: &mut Vec<Output>) {
        if self.cap_done {
            return;
        }
        match msg.param(1).to_ascii_uppercase().as_str() {
            "LS" => {
                // `CAP * LS * :caps…` means more lines follow.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                let caps = msg.params.last().map(String::as_str).unwrap_or("");
                for cap in caps.split(' ').filter(|c| !c.is_empty()) {
                    let (name, value) = cap.split_once('=').unwrap_or((cap, ""));
                    if name == "sasl" {
                        self.sasl_mechanisms = value
                            .split(',')
                            .filter(|m| !m.is_empty())
                            .map(str::to_ascii_uppercase)
                            .collect();
                    }
                    self.cap_offered.push(name.to_string());
                }
                if more {
                    return;
                }
                let login = self.login.is_some();
                let mut wanted: Vec<&str> = WANTED_CAPS
                    .iter()
                    .copied()
                    .filter(|w| self.cap_offered.iter().any(|c| c == w))
                    .collect();
                if login && self.cap_offered.iter().any(|c| c == "sasl") {
                    wanted.push("sasl");
                } else if login {
                    self.no_login("this server does not offer SASL", out);
                }
                if wanted.is_empty() {
                    self.end_cap(out);
                } else {
                    out.push(send(Message::new("CAP", ["REQ", &wanted.join(" ")])));
                }
            }
            "ACK" => {
                let acked: Vec<&str> = msg
                    .params
                    .last()
                    .map(|caps| caps.split(' ').collect())
                    .unwrap_or_default();
                self.echo_message = acked.contains(&"echo-message");
                self.account_tag = acked.contains(&"account-tag");
                self.chathistory = ["draft/chathistory", "batch", "server-time", "message-tags"]
                    .iter()
                    .all(|c| acked.contains(c));
                let sasl = acked.contains(&"sasl");
                if sasl && self.begin_sasl(out) {
                    // CAP END waits for the login's 903 or 904.
                    return;
                }
                if !sasl && self.login.is_some() {
                    self.no_login("the server refused the sasl capability", out);
                }
                self.end_cap(out);
            }
            "NAK" => {
                if self.login.is_some() {
                    self.no_login("the server refused the sasl capability", out);
                }
                self.end_cap(out);
            }
            _ => {}
        }
    }

    pub(super) fn on_batch(&mut self, msg: &Message, out: &mut Vec<Output>) {
        let reference = msg.param(0);
        if let Some(id) = reference.strip_prefix('+') {
            if msg.param(1) == "chathistory" {
                let room = msg.param(2).to_string();
                if !is_channel(&room) {
                    out.push(display(
                        LineKind::Info,
                        format!("*** History of your private conversation with {room}:"),
                    ));
                }
                self.batches.insert(id.to_string(), room);
                self.batch_counts.insert(id.to_string(), 0);
            } else if msg.param(1) == "draft/chathistory-targets" {
                self.target_batches.insert(id.to_string(), Vec::new());
            }
        } else if let Some(id) = reference.strip_prefix('-') {
            if let Some(room) = self.batches.remove(id) {
                let count = self.batch_counts.remove(id).unwrap_or(0);
                let line = match (count, is_channel(&room)) {
                    (0, true) => format!("*** No earlier messages in {room}"),
                    (_, true) => format!("*** End of {count} history messages of {room}"),
                    (0, false) => format!("*** No earlier messages with {room}"),
                    (_, false) => format!("*** End of {count} history messages with {room}"),
                };
                out.push(display(LineKind::Info, line));
            } else if let Some(names) = self.target_batches.remove(id) {
                self.catch_up(names, out);
            }
        }
    }

    pub(super) fn end_cap(&mut self, out: &mut Vec<Output>) {
        self.cap_done = true;
        out.push(send(Message::new("CAP", ["END"])));
    }
}
