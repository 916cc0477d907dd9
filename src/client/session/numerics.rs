//! What the session does with numeric replies: registration (001, 433),
//! joins (353/366, refusals), WHOIS/WHO/LIST, errors with the server's own
//! words, SASL results (900–908). Part of [`Session`], kept apart so each
//! file reads in one sitting.

use super::*;

impl Session {
    pub(super) fn on_numeric(
        &mut self,
        code: &str,
        msg: &Message,
        now: NaiveTime,
        out: &mut Vec<Output>,
    ) {
        // params[0] is always our own nick (or `*`); the subject comes next.
        let subject = msg.param(1);
        let last = if msg.params.len() > 1 {
            msg.params.last().map(String::as_str).unwrap_or("")
        } else {
            ""
        };
        let error = |text: String| display(LineKind::Error, text);
        match code {
            "001" => {
                self.registered = true;
                if !msg.param(0).is_empty() && msg.param(0) != "*" {
                    self.nick = msg.param(0).to_string();
                }
                self.cap_done = true;
                out.push(display(LineKind::Event, format!("*** {last}")));
                out.push(send(Message::new("JOIN", [self.default_room.as_str()])));
                if self.account.is_some() && self.chathistory {
                    self.ask_targets(out);
                }
            }
            "900" => {
                // `<nick> <nick!user@host> <account> :You are now logged in as <account>`
                let account = msg.param(2).to_string();
                out.push(display(
                    LineKind::Event,
                    format!("*** Logged in as {account}"),
                ));
                self.account = Some(account);
            }
            "901" => {
                self.account = None;
                out.push(display(LineKind::Event, "*** You are now logged out"));
            }
            "903" | "907" => self.sasl_over(out),
            "902" | "904" | "905" | "906" => {
                if !matches!(self.sasl, Sasl::Aborted) {
                    let account = self.login.as_ref().map_or("", |l| l.account.as_str());
                    out.push(error(format!(
                        "*** Login as {account} failed: {last}. Check the account name \
                         (--account) and the password (--password-file or NATTER_PASSWORD); \
                         carrying on without logging in."
                    )));
                }
                self.sasl_over(out);
            }
            "908" => {}
            "372" => {
                let text = last.strip_prefix("- ").unwrap_or(last);
                out.push(display(LineKind::Event, format!("*** {text}")));
            }
            "332" => out.push(display_in(
                LineKind::Event,
                format!("*** Topic of {subject}: {last}"),
                subject,
            )),
            "331" => out.push(display_in(
                LineKind::Event,
                format!("*** {subject} has no topic"),
                subject,
            )),
            "353" => {
                let room = msg.param(2);
                self.names
                    .entry(casefold(room))
                    .or_default()
                    .extend(last.split(' ').filter(|n| !n.is_empty()).map(String::from));
            }
            "366" => {
                let names = self.names.remove(&casefold(subject)).unwrap_or_default();
                let line = if names.is_empty() {
                    format!("*** Nobody is in {subject}")
                } else {
                    format!("*** In {subject}: {}", names.join(" "))
                };
                out.push(display_in(LineKind::Event, line, subject));
            }
            "433" | "432" if !self.registered => {
                let taken = code == "433";
                match self.retry {
                    NickRetry::Ask => {
                        self.awaiting_nick = true;
                        let why = if taken {
                            "is already in use"
                        } else {
                            "is not a valid nickname"
                        };
                        out.push(error(format!(
                            "*** The nickname {subject} {why}. Type another nickname (or /quit):"
                        )));
                    }
                    NickRetry::GiveUp => {
                        let nick = subject.to_string();
                        out.push(Output::Fail(if taken {
                            ClientError::NickInUse { nick }
                        } else {
                            ClientError::NickInvalid { nick }
                        }));
                    }
                }
            }
            "433" => out.push(error(format!(
                "*** The nickname {subject} is already in use: pick another with /nick"
            ))),
            "432" => out.push(error(format!(
                "*** {subject} is not a valid nickname: use letters, digits and []\\`_^{{|}}-"
            ))),
            "401" => out.push(error(format!("*** No such nick or room: {subject}"))),
            "403" => out.push(error(format!(
                "*** No such room: {subject} (room names start with #)"
            ))),
            "405" => out.push(error(format!(
                "*** You cannot join {subject}: you are in too many rooms; /part one first"
            ))),
            "442" => out.push(display_in(
                LineKind::Error,
                format!("*** You are not in {subject}"),
                subject,
            )),
            "421" if subject.eq_ignore_ascii_case("CAP") => {
                // A server without capability negotiation: register without it.
                self.cap_done = true;
                if self.login.is_some() {
                    self.no_login("this server does not offer SASL", out);
                }
            }
            "421" => out.push(error(format!(
                "*** The server does not know the command {subject}"
            ))),
            // The server's own words say why (a locked topic, a mode, a kick…).
            "482" | "404" => out.push(display_in(
                LineKind::Error,
                format!("*** {subject}: {last}"),
                subject,
            )),
            "324" => {
                let modes = msg.params.get(2..).unwrap_or_default().join(" ");
                out.push(display_in(
                    LineKind::Event,
                    format!("*** Modes of {subject}: {modes}"),
                    subject,
                ));
            }
            "221" => out.push(display(
                LineKind::Event,
                format!("*** Your modes: {subject}"),
            )),
            "341" => out.push(display(
                LineKind::Event,
                format!("*** Invited {subject} to {}", msg.param(2)),
            )),
            "311" => {
                let (user, host, name) = (msg.param(2), msg.param(3), last);
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} is {user}@{host} ({name})"),
                ));
            }
            "319" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is in {last}"),
            )),
            "312" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is on {}", msg.param(2)),
            )),
            "301" => out.push(display(
                LineKind::Event,
                format!("*** {subject} is away: {last}"),
            )),
            "317" => {
                let idle = msg.param(2).parse::<u64>().unwrap_or(0);
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} has been idle {}", idle_text(idle)),
                ));
            }
            "313" | "671" => out.push(display(LineKind::Event, format!("*** {subject} {last}"))),
            "305" => out.push(display(
                LineKind::Event,
                "*** You are no longer marked as away",
            )),
            "306" => out.push(display(LineKind::Event, "*** You are marked as away")),
            "352" => {
                // `<room> <user> <host> <server> <nick> <flags> :<hops> <realname>`
                let (room, user, host) = (msg.param(1), msg.param(2), msg.param(3));
                let (nick, flags) = (msg.param(5), msg.param(6));
                let name = last.split_once(' ').map_or("", |(_, n)| n);
                out.push(display(
                    LineKind::Event,
                    format!("*** {room} {nick} ({user}@{host}) {flags} {name}"),
                ));
            }
            "322" => {
                let topic = if msg.params.len() > 3 { last } else { "" };
                out.push(display(
                    LineKind::Event,
                    format!("*** {subject} ({} people) {topic}", msg.param(2)),
                ));
            }
            "323" => out.push(display(LineKind::Event, "*** End of the room list")),
            "315" | "318" | "321" => {}
            // Registration chatter, counters and end markers: not worth a line.
            "002" | "003" | "004" | "005" | "250" | "251" | "252" | "253" | "254" | "255"
            | "265" | "266" | "329" | "333" | "375" | "376" | "422" | "396" => {}
            c if c.starts_with('4') || c.starts_with('5') => {
                let rest = msg.params.get(1..).unwrap_or_default().join(" ");
                out.push(error(format!("*** Error: {rest}")));
            }
            _ => {
                let rest = msg.params.get(1..).unwrap_or_default().join(" ");
                if !rest.is_empty() {
                    out.push(display(LineKind::Event, format!("*** {rest}")));
                }
            }
        }
        // A first join the server refused must not hold typed lines forever.
        let join_refused = matches!(
            code,
            "403" | "405" | "437" | "471" | "473" | "474" | "475" | "476" | "477" | "479"
        );
        if self.registered && !self.ready && join_refused {
            self.become_ready(now, out);
        }
    }
}
