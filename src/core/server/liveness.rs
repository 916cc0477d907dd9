//! Liveness: PING and PONG, registration and ping timeouts, and the timer
//! queue behind [`Server::poll_timeout`].
//!
//! Owns the liveness deadlines, and runs every kind of deadline when one
//! passes (held lines' deadlines are kept by `flood`). Each connection has
//! exactly one entry in the queue (its `timer`); activity only moves
//! `last_active`, and a deadline that fires early is simply pushed to the
//! real one, so a busy connection costs nothing here per line. Must never
//! read a clock: time comes in [`Now`].

use super::output::truncate;
use super::Server;
use crate::core::event::{ConnId, Instant, Now, Timestamp};
use crate::proto::numeric::{ERR_NEEDMOREPARAMS, ERR_NOORIGIN};
use crate::proto::{Message, MAX_LINE};

/// What one connection's deadline means when it fires.
enum Due {
    /// Not due yet: the real deadline is later.
    Later(Instant),
    /// Send a PING; the answer is due by the given instant.
    Ping(Instant),
    /// Close it with this reason.
    Expire(String),
}

impl Server {
    /// `PING token` is answered `PONG server token`; no token at all is
    /// 461, an empty one 409 (Modern IRC).
    pub(super) fn handle_ping(&mut self, conn: ConnId, msg: &Message, _now: Now) {
        match msg.params.first().map(String::as_str) {
            None => {
                self.reply(conn, ERR_NEEDMOREPARAMS, &["PING", "Not enough parameters"]);
                return;
            }
            Some("") => {
                self.reply(conn, ERR_NOORIGIN, &["No origin specified"]);
                return;
            }
            Some(_) => {}
        }
        let name = self.config.server_name.clone();
        // `:name PONG name :token` within 512 bytes, however long the token.
        let token = truncate(msg.param(0), MAX_LINE.saturating_sub(2 * name.len() + 10));
        let m = Message::new("PONG", [name.as_str(), token]).with_source(name.clone());
        self.send(conn, &m);
    }

    /// Any line already counts as a sign of life; PONG needs nothing else.
    pub(super) fn handle_pong(&mut self, _conn: ConnId, _msg: &Message, _now: Now) {}

    /// Runs every deadline that has passed: registration and ping timeouts,
    /// PINGs to quiet connections, history expiry, then the held lines whose
    /// time has come (fakelag). Each connection takes at most one liveness
    /// step per call.
    pub(super) fn handle_timeout(&mut self, now: Now) {
        if self.next_sweep.is_some_and(|at| at <= now.mono) {
            self.sweep_history(now);
        }
        self.expire_nick_grace(now);
        let mut due = Vec::new();
        while let Some(&(at, conn)) = self.timers.first() {
            if at > now.mono {
                break;
            }
            self.timers.pop_first();
            due.push(conn);
        }
        // In connection order, PINGs before closes, so every quiet client is
        // pinged before it hears of anyone else's timeout.
        due.sort_unstable();
        let mut expired = Vec::new();
        for conn in due {
            let step = match self.connections.get(&conn) {
                Some(c) => self.liveness_step(c, now.mono),
                None => continue,
            };
            match step {
                Due::Later(at) => self.set_timer(conn, at),
                Due::Ping(answer_by) => {
                    if let Some(c) = self.connections.get_mut(&conn) {
                        c.ping_sent = Some(now.mono);
                    }
                    let name = self.config.server_name.clone();
                    self.send(conn, &Message::new("PING", [name.as_str()]));
                    self.set_timer(conn, answer_by);
                }
                Due::Expire(reason) => expired.push((conn, reason)),
            }
        }
        for (conn, reason) in expired {
            self.close_with_error(conn, &reason, now);
        }
        self.handle_flood_timeouts(now);
    }

    /// What `c`'s deadline means at `now`.
    fn liveness_step(&self, c: &crate::core::Connection, now: Instant) -> Due {
        let config = &self.config;
        if !c.is_registered() {
            let limit = c.connected_at.plus_secs(config.registration_timeout_secs);
            return if now >= limit {
                Due::Expire("Registration timed out".to_string())
            } else {
                Due::Later(limit)
            };
        }
        if let Some(sent) = c.ping_sent {
            let limit = sent.plus_secs(config.ping_timeout_secs);
            return if now >= limit {
                let secs = now.secs_since(c.last_active);
                Due::Expire(format!("Ping timeout: {secs} seconds"))
            } else {
                Due::Later(limit)
            };
        }
        let quiet_until = c.last_active.plus_secs(config.ping_interval_secs);
        if now >= quiet_until {
            Due::Ping(now.plus_secs(config.ping_timeout_secs))
        } else {
            Due::Later(quiet_until)
        }
    }

    /// Moves `conn`'s deadline to `at`.
    pub(super) fn set_timer(&mut self, conn: ConnId, at: Instant) {
        if let Some(c) = self.connections.get_mut(&conn) {
            self.timers.remove(&(c.timer, conn));
            c.timer = at;
            self.timers.insert((at, conn));
        }
    }

    /// Forgets `conn`'s deadlines, liveness and flood (it is closing).
    pub(super) fn clear_timer(&mut self, conn: ConnId) {
        if let Some(c) = self.connections.get(&conn) {
            self.timers.remove(&(c.timer, conn));
        }
        self.clear_flood_timer(conn);
    }

    /// Forgets history older than `history_max_age_secs`, and schedules the
    /// next sweep for when the oldest remaining message comes of age.
    fn sweep_history(&mut self, now: Now) {
        let max_age_ms = self.config.history_max_age_secs.saturating_mul(1000);
        let cutoff = Timestamp(now.wall.0.saturating_sub(max_age_ms));
        for window in self.history.values_mut() {
            window.expire(cutoff);
        }
        self.history.retain(|_, window| !window.is_empty());
        self.conversations.expire(cutoff);
        let oldest = self
            .history
            .values()
            .filter_map(|w| w.first())
            .chain(self.conversations.oldest())
            .min_by_key(|r| r.at);
        self.next_sweep = oldest.map(|r| {
            let expires = r.at.0.saturating_add(max_age_ms);
            now.mono.plus_ms(expires.saturating_sub(now.wall.0))
        });
    }

    /// After a message was kept: make sure a sweep is scheduled for when it
    /// comes of age (if messages expire at all).
    pub(super) fn schedule_sweep(&mut self, now: Now) {
        let max_age = self.config.history_max_age_secs;
        if max_age > 0 && self.next_sweep.is_none() {
            self.next_sweep = Some(now.mono.plus_secs(max_age));
        }
    }
}
