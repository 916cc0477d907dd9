//! The core task: the one task that owns the [`Server`], feeding it the
//! shell's inputs in order and carrying out its actions (queueing lines on
//! outboxes, holding them until the store's journal has written what they
//! tell of, waking the writers at the end of the batch or, for clients
//! only listening, a moment later (`later_wakeups`; at a trickle of lines
//! it writes a parked plain TCP writer's lines itself), running password
//! checks off the task (`passwords`), the log, the core's timer). In a
//! cluster, what it does with the log is in `cluster_events`.
//!
//! Must never block on anything but the journal's `write()` to the page
//! cache at the end of a batch (see [`crate::net::Store`]): SQLite, argon2,
//! `fdatasync` and other file writes happen on other threads; this task
//! only awaits its inbox, commits and its timer.

use super::cluster::{cluster_now, ClusterNode, FromNats};
use super::*;
use crate::cluster::{Applied, Entry};
use crate::net::outbox::Urgency;

mod cluster_events;
mod later_wakeups;
mod passwords;

pub(super) use later_wakeups::{Delivery, Wakeups};
pub(super) use passwords::PasswordChecks;

/// The one task that owns the [`Server`]. Never awaits anything but its inbox.
pub(super) struct CoreTask {
    pub(super) server: Server,
    pub(super) outboxes: FxHashMap<ConnId, Recipient>,
    /// The connections with lines in [`Recipient::batch`], in the order
    /// they got their first.
    pub(super) recipients: Vec<ConnId>,
    /// Events the shell itself raised while carrying out actions (SendQ).
    pub(super) pending: VecDeque<Event>,
    pub(super) log: ServerLog,
    /// The durable store; `None` when history is kept in memory only.
    pub(super) store: Option<Store>,
    /// Records of this batch not yet committed, encoded for the journal as
    /// they come (the records themselves stay on this task).
    pub(super) unstored: store::Frame,
    /// Read marker changes of this batch not yet committed (held lines wait
    /// for them as for records).
    pub(super) unstored_markers: Vec<MarkerChange>,
    /// Account changes waiting for the next commit.
    pub(super) unstored_accounts: Vec<store::AccountChange>,
    /// Registered room changes waiting for the next commit.
    pub(super) unstored_rooms: Vec<store::RoomChange>,
    /// Server ban changes waiting for the next commit.
    pub(super) unstored_bans: Vec<store::ServerBanChange>,
    /// Lines (and closes) emitted after the first uncommitted record of this
    /// batch (or while earlier commits are in flight), held until the
    /// commits before them finish: nobody is sent what a crash could lose.
    pub(super) held: Vec<Action>,
    /// Commits the store is working on, oldest first, each with the actions
    /// held behind it. The core goes on with the next batch meanwhile.
    pub(super) in_flight: VecDeque<(Commit, Vec<Action>)>,
    /// Emptied `held` lists kept for the next batches, so that a batch's
    /// held lines do not grow a new list a doubling at a time.
    pub(super) spare_held: Vec<Vec<Action>>,
    /// Writers with new lines: woken once the batch has queued everything,
    /// so each writes its share in one go, or a moment later.
    pub(super) wakeups: Wakeups,
    /// When the core task last woke, if it woke to a trickle (nothing more
    /// waiting in its inbox): what lines queued now are compared with to
    /// decide whether they may gather ([`Outbox::push_deferred`]). `None`
    /// while input piles up: in a burst no line waits, since clients that
    /// pace themselves by what they receive would wait with it.
    pub(super) trickle_at: Option<std::time::Instant>,
    /// When the core task last woke, trickle or not: announcements may
    /// linger even in a burst ([`Urgency::Announcement`]), since no client
    /// paces itself by them.
    pub(super) woke_at: std::time::Instant,
    /// Fires at the core's next deadline ([`Server::poll_timeout`]).
    pub(super) timer: Timer,
    /// The deadline `timer` is set for.
    pub(super) timer_at: Option<core::Instant>,
    /// Password checks running off the core task, and their answers.
    pub(super) checks: PasswordChecks,
    /// In a cluster (`--cluster`): the log this node's inputs go to and its
    /// core is fed from. `None` for a single server.
    pub(super) cluster: Option<ClusterNode>,
    /// Fires every second in a cluster: heartbeats are checked for leases.
    pub(super) lease_timer: Timer,
    /// Set when this cluster node must stop (with why).
    pub(super) cluster_stop: Option<String>,
    /// The server's name, for the shell's own notices.
    pub(super) server_name: String,
}

/// A connection as the core task writes to it: its outbox, and the lines
/// the core gave it in this batch, queued on the outbox together when the
/// batch ends ([`CoreTask::queue_batches`]): in a burst a client is sent
/// hundreds of lines a batch, and one lock for all of them costs less than
/// one per line.
pub(super) struct Recipient {
    pub(super) outbox: Arc<Outbox>,
    batch: Vec<OutLine>,
    /// What the lines in `batch` are: announcements only, or not.
    urgency: Urgency,
}

impl Recipient {
    pub(super) fn new(outbox: Arc<Outbox>) -> Recipient {
        Recipient {
            outbox,
            batch: Vec::new(),
            urgency: Urgency::Prompt,
        }
    }
}

/// Most lines a recipient's emptied batch may have room for to be kept for
/// the next one (a connection's share of a burst is given back).
const MAX_KEPT_BATCH: usize = 64;

/// How often a cluster node checks the other nodes' leases.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// Most actions an emptied held list may have room for to be kept for
/// reuse (larger ones, after a burst, are given back).
const MAX_SPARE_HELD: usize = 16 << 10;

/// What woke the core task.
enum Wake {
    Input(Input),
    Committed,
    /// The core's deadline ([`Server::poll_timeout`]) passed.
    Timeout,
    InboxClosed,
    /// Something from the cluster's log (entries, heartbeats, NATS state).
    Cluster(FromNats),
    /// Time to check the other nodes' leases.
    LeaseCheck,
    /// The moment has come for the writers whose lines were gathering.
    Gathered,
}

impl CoreTask {
    /// Applies inputs until [`Event::Shutdown`] or until every sender is gone.
    pub(super) async fn run(&mut self, inbox: &Receiver<Input>) {
        loop {
            // Whatever this pass gave the clients (a cluster's log, a
            // finished commit) is queued before their writers are woken.
            self.release_committed();
            self.wakeups.wake_now(self.delivery());
            self.log.hand_over();
            let wake = self.next_wake(inbox).await;
            self.woke_at = std::time::Instant::now();
            self.trickle_at = inbox.is_empty().then_some(self.woke_at);
            let first = match wake {
                Wake::Input(input) => input,
                Wake::Gathered => {
                    self.wakeups.wake_due(Delivery::Direct, Some(self.woke_at));
                    continue;
                }
                Wake::Committed => {
                    self.release_committed();
                    continue;
                }
                Wake::Timeout => Input::Event(Event::Timeout { now: now() }),
                Wake::InboxClosed => break,
                Wake::Cluster(message) => {
                    self.heard_from_cluster(message);
                    if let Some(why) = self.cluster_stop.take() {
                        eprintln!("natter-server: {why}");
                        break;
                    }
                    self.begin_settle();
                    continue;
                }
                Wake::LeaseCheck => {
                    self.lease_timer = Timer::after(LEASE_CHECK);
                    if let Some(cluster) = &mut self.cluster {
                        cluster.check_leases(now());
                    }
                    continue;
                }
            };
            let mut next = Some(first);
            let mut applied = 0;
            while let Some(input) = next {
                applied += input.weight();
                if self.apply(input) {
                    self.settle_all().await;
                    return;
                }
                next = if applied < BATCH {
                    inbox.try_recv().ok()
                } else {
                    None
                };
            }
            self.begin_settle();
            self.release_committed();
            futures_lite::future::yield_now().await;
        }
        self.settle_all().await;
    }

    /// Waits for the next input, the core's next deadline, or the oldest
    /// commit to finish. With too many commits in flight, waits for the
    /// commit alone.
    async fn next_wake(&mut self, inbox: &Receiver<Input>) -> Wake {
        // One timer, moved only when the core's deadline moves: no timer is
        // registered and dropped with the reactor for every batch.
        let mut deadline = self.server.poll_timeout();
        if let Some(cluster) = &self.cluster {
            // A tick already on its way to the log: wait for it, not again.
            if deadline.is_some() && deadline == cluster.ticked {
                deadline = None;
            }
        }
        if deadline != self.timer_at {
            self.timer_at = deadline;
            match (deadline, &self.cluster) {
                (Some(at), None) => self.timer.set_at(due_at(at)),
                (Some(at), Some(_)) => self.timer.set_at(cluster_due_at(at)),
                (None, _) => self.timer = Timer::never(),
            }
        }
        let timer = &mut self.timer;
        let answered = &self.checks.answered;
        let cluster = &self.cluster;
        let lease_timer = &mut self.lease_timer;
        let wakeups = &mut self.wakeups;
        // Appends piling up for NATS: clients wait (their readers fill the
        // inbox and then stop reading) until the log catches up.
        let backlogged = cluster.as_ref().is_some_and(|c| c.backlogged());
        let input = async {
            if backlogged {
                return std::future::pending().await;
            }
            match inbox.recv().await {
                Ok(input) => Wake::Input(input),
                Err(_) => Wake::InboxClosed,
            }
        }
        .or(async {
            match answered.recv().await {
                Ok(answer) => Wake::Input(Input::Event(answer)),
                // Never: the task holds a sender too.
                Err(_) => std::future::pending().await,
            }
        })
        .or(async {
            timer.await;
            Wake::Timeout
        })
        .or(async {
            match cluster {
                Some(cluster) => match cluster.next().await {
                    Some(message) => Wake::Cluster(message),
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        })
        .or(async {
            match cluster {
                Some(_) => {
                    lease_timer.await;
                    Wake::LeaseCheck
                }
                None => std::future::pending().await,
            }
        })
        .or(async {
            wakeups.due().await;
            Wake::Gathered
        });
        match self.in_flight.front() {
            None => input.await,
            Some((commit, _)) => {
                let committed = async {
                    commit.wait().await;
                    Wake::Committed
                };
                if self.in_flight.len() >= MAX_COMMITS_IN_FLIGHT {
                    committed.await
                } else {
                    committed.or(input).await
                }
            }
        }
    }

    /// Applies one input; true when it was the shutdown.
    fn apply(&mut self, input: Input) -> bool {
        match input {
            Input::Accepted {
                conn,
                peer,
                outbox,
                now,
                tls,
            } => {
                self.outboxes.insert(conn, Recipient::new(outbox));
                let peer = peer.to_string();
                self.local(Event::Connected { conn, peer, now });
                if let Some(TlsPeer { certfp }) = tls {
                    self.local(Event::Secured { conn, certfp });
                }
                false
            }
            Input::Lines { conn, lines, now } => {
                for item in lines {
                    self.local(match item {
                        Ok(line) => Event::Line { conn, line, now },
                        Err(error) => Event::BadLine { conn, error, now },
                    });
                }
                false
            }
            Input::Refused { peer, reason, now } => {
                let entry = LogEntry::Refused {
                    peer: peer.to_string(),
                    reason,
                };
                self.log.write(&LogRecord {
                    at: now.wall,
                    entry,
                });
                false
            }
            Input::Event(event) => {
                let shutdown = matches!(event, Event::Shutdown { .. });
                if let Event::Disconnected { conn, .. } = &event {
                    // The peer is gone: nothing queued can reach it.
                    if let Some(gone) = self.outboxes.remove(conn) {
                        gone.outbox.abort(None);
                    }
                }
                if shutdown && self.cluster.is_some() {
                    self.leave_cluster(event);
                } else {
                    self.local(event);
                }
                shutdown
            }
        }
    }

    /// Hands `event` to the core and carries out everything it asks for,
    /// including the consequences of SendQ overflows it causes. Lines that
    /// follow an uncommitted record (or an unfinished commit) wait in `held`
    /// for [`CoreTask::begin_settle`] and [`CoreTask::release_committed`].
    fn feed(&mut self, event: Event) {
        self.server.handle_event(event);
        loop {
            while let Some(action) = self.server.poll_action() {
                self.carry_out(action);
            }
            match self.pending.pop_front() {
                Some(event) if self.cluster.is_some() => self.local(event),
                Some(event) => self.server.handle_event(event),
                None => break,
            }
        }
    }

    /// A local event: fed to the core at once on a single server; in a
    /// cluster, added to this pass's batch for the log (the core is fed it
    /// when it comes back from the log, like everyone else's).
    fn local(&mut self, event: Event) {
        let Some(cluster) = &mut self.cluster else {
            return self.feed(event);
        };
        if let Event::Timeout { .. } = event {
            cluster.ticked = self.server.poll_timeout();
        }
        let server = &self.server;
        let mut prove = |conn, bytes: &[u8]| server.scram_proof_holds(conn, bytes);
        if let Err(conn) = cluster.local(event, &mut prove) {
            // Numbered under a tag this node lost: it cannot be served.
            if let Some(lost) = self.outboxes.remove(&conn) {
                lost.outbox.abort(Some(Arc::from(
                    "ERROR :Lost contact with the cluster; please reconnect",
                )));
            }
        }
    }

    /// Ends a batch: its records go to the store as one commit (begun, not
    /// awaited), and the actions held behind them wait with it. Actions held
    /// only because earlier commits are in flight join the newest of those.
    fn begin_settle(&mut self) {
        if let Some(cluster) = &mut self.cluster {
            cluster.flush();
        }
        if self.has_unstored() {
            let next = match &self.store {
                Some(store) => store.fresh_frame(),
                None => store::Frame::default(),
            };
            let records = std::mem::replace(&mut self.unstored, next);
            let markers = std::mem::take(&mut self.unstored_markers);
            let accounts = std::mem::take(&mut self.unstored_accounts);
            let rooms = std::mem::take(&mut self.unstored_rooms);
            let bans = std::mem::take(&mut self.unstored_bans);
            if let Some(store) = &self.store {
                let commit =
                    store.begin_commit_with_markers(records, markers, accounts, rooms, bans);
                // Journaled in place (no `--fsync`) with nothing before it
                // in flight: what is held goes out below, at once.
                if !commit.is_done() || !self.in_flight.is_empty() {
                    let spare = self.spare_held.pop().unwrap_or_default();
                    let held = std::mem::replace(&mut self.held, spare);
                    self.in_flight.push_back((commit, held));
                    return;
                }
            }
        }
        if self.held.is_empty() {
            return;
        }
        match self.in_flight.back_mut() {
            Some((_, behind)) => behind.append(&mut self.held),
            None => {
                let mut held = std::mem::take(&mut self.held);
                for action in held.drain(..) {
                    self.carry_out_now(action);
                }
                // Kept, with its room, for the next batch (unless a burst
                // grew it past what a spare list may keep).
                held.append(&mut self.held);
                if !held.is_empty() || held.capacity() <= MAX_SPARE_HELD {
                    self.held = held;
                }
            }
        }
    }

    /// Sends what was held behind every commit that has finished, oldest
    /// first, and queues every line of the batch on its outbox; SendQ
    /// overflows this causes go back to the core (which may store and send
    /// more).
    fn release_committed(&mut self) {
        loop {
            while self
                .in_flight
                .front()
                .is_some_and(|(commit, _)| commit.is_done())
            {
                if let Some((_, mut held)) = self.in_flight.pop_front() {
                    for action in held.drain(..) {
                        self.carry_out_now(action);
                    }
                    if self.spare_held.len() <= MAX_COMMITS_IN_FLIGHT
                        && held.capacity() <= MAX_SPARE_HELD
                    {
                        self.spare_held.push(held);
                    }
                }
            }
            self.queue_batches();
            if self.pending.is_empty() {
                return;
            }
            while let Some(event) = self.pending.pop_front() {
                self.feed(event);
            }
            self.begin_settle();
        }
    }

    /// Waits until every commit has finished and everything held is sent
    /// (at shutdown, or when the inbox closes).
    async fn settle_all(&mut self) {
        loop {
            self.begin_settle();
            self.release_committed();
            self.wakeups.wake_all(Delivery::Wake);
            match self.in_flight.front() {
                Some((commit, _)) => commit.wait().await,
                None if self.held.is_empty() && !self.has_unstored() => return,
                None => {}
            }
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Persist(record) => {
                if self.store.is_some() {
                    self.unstored.push(&record);
                }
            }
            Action::SaveReadMarker(change) => {
                if self.store.is_some() {
                    self.unstored_markers.push(change);
                }
            }
            Action::SaveAccount(account) => {
                if self.store.is_some() {
                    self.unstored_accounts
                        .push(store::AccountChange::Save(*account));
                }
            }
            Action::DeleteAccount { name } => {
                if self.store.is_some() {
                    self.unstored_accounts
                        .push(store::AccountChange::Delete(name));
                }
            }
            Action::SaveRoom(room) => {
                if self.store.is_some() {
                    self.unstored_rooms.push(store::RoomChange::Save(room));
                }
            }
            Action::DeleteRoom { name } => {
                if self.store.is_some() {
                    self.unstored_rooms.push(store::RoomChange::Delete(name));
                }
            }
            Action::SaveServerBan(ban) => {
                if self.store.is_some() {
                    self.unstored_bans.push(store::ServerBanChange::Save(*ban));
                }
            }
            Action::DeleteServerBan { mask } => {
                if self.store.is_some() {
                    self.unstored_bans
                        .push(store::ServerBanChange::Delete(mask));
                }
            }
            // These send nothing, so nothing to hold back for durability.
            now @ (Action::HashPassword { .. } | Action::Log(_) | Action::CheckPassword { .. }) => {
                self.carry_out_now(now)
            }
            other if self.has_unstored() || !self.in_flight.is_empty() => self.held.push(other),
            other => self.carry_out_now(other),
        }
    }

    /// Whether this batch has records or marker changes not yet committed.
    fn has_unstored(&self) -> bool {
        !self.unstored.is_empty()
            || !self.unstored_markers.is_empty()
            || !self.unstored_accounts.is_empty()
            || !self.unstored_rooms.is_empty()
            || !self.unstored_bans.is_empty()
    }

    fn carry_out_now(&mut self, action: Action) {
        match action {
            Action::Persist(_)
            | Action::SaveReadMarker(_)
            | Action::SaveAccount(_)
            | Action::DeleteAccount { .. }
            | Action::SaveRoom(_)
            | Action::DeleteRoom { .. }
            | Action::SaveServerBan(_)
            | Action::DeleteServerBan { .. } => {}
            Action::HashPassword { conn, .. } | Action::CheckPassword { conn, .. }
                if self.cluster.as_ref().is_some_and(|c| !c.is_local(conn)) =>
            {
                // Another node's connection: that node does the work and
                // puts the answer in the log.
            }
            Action::HashPassword {
                conn,
                password,
                purpose,
            } => match self.unseal(conn, password) {
                Some(password) => self.checks.hash(conn, password, purpose),
                // Like a failed hash: the core hears nothing back.
                None => eprintln!(
                    "natter-server: cluster: a new password of {conn} is gone from the vault"
                ),
            },
            Action::Send { to, line } => self.queue(to, line, Urgency::Prompt),
            Action::Broadcast { to, line } => {
                let urgency = Urgency::of_broadcast(&line);
                for conn in to {
                    self.queue(conn, line.clone(), urgency);
                }
            }
            Action::Close { conn, .. } => {
                // What it was given before the close goes out first.
                self.queue_batch(conn);
                if let Some(closing) = self.outboxes.remove(&conn) {
                    closing.outbox.close();
                }
            }
            Action::Log(record) => self.log.write(&record),
            Action::CheckPassword {
                conn,
                hash,
                password,
                purpose,
            } => match self.unseal(conn, password) {
                Some(password) => self.checks.start(conn, hash, password, purpose),
                None => self.checks.refuse(conn, purpose),
            },
        }
    }

    /// The password `secret` stands for: in a cluster, a vault reference is
    /// swapped for the password this node kept for its own `conn` (`None`
    /// when it is gone); anything else is the password itself.
    fn unseal(&mut self, conn: ConnId, secret: core::Secret) -> Option<core::Secret> {
        match &mut self.cluster {
            Some(cluster) => cluster.vault.take(conn, secret),
            None => Some(secret),
        }
    }

    /// How this batch's lines get out: written from here at a trickle
    /// (the core woke to an empty inbox), by the writer tasks in a burst.
    fn delivery(&self) -> Delivery {
        if self.trickle_at.is_some() {
            Delivery::Direct
        } else {
            Delivery::Wake
        }
    }

    /// Adds `line` (of `urgency`) to what `conn` is sent in this batch.
    fn queue(&mut self, conn: ConnId, line: OutLine, urgency: Urgency) {
        let Some(recipient) = self.outboxes.get_mut(&conn) else {
            return;
        };
        if recipient.batch.is_empty() {
            self.recipients.push(conn);
            recipient.urgency = urgency;
        } else if urgency == Urgency::Prompt {
            recipient.urgency = Urgency::Prompt;
        }
        recipient.batch.push(line);
    }

    /// Queues every connection's lines of this batch on its outbox, noting
    /// when to wake its writer; cuts off those whose outbox overflows (the
    /// core hears it from [`CoreTask::pending`]).
    fn queue_batches(&mut self) {
        let mut recipients = std::mem::take(&mut self.recipients);
        for conn in recipients.drain(..) {
            self.queue_batch(conn);
        }
        self.recipients = recipients;
    }

    /// Queues `conn`'s lines of this batch on its outbox ([`CoreTask::queue_batches`]).
    fn queue_batch(&mut self, conn: ConnId) {
        let Some(recipient) = self.outboxes.get_mut(&conn) else {
            return;
        };
        let now = match recipient.urgency {
            Urgency::Announcement => Some(self.woke_at),
            Urgency::Prompt => self.trickle_at,
        };
        let queued =
            recipient
                .outbox
                .push_all_deferred(&mut recipient.batch, now, recipient.urgency);
        if recipient.batch.capacity() > MAX_KEPT_BATCH {
            recipient.batch = Vec::new();
        }
        match queued {
            Ok(wakeup) => self.wakeups.add(&recipient.outbox, wakeup),
            Err(Overflow) => self.cut_off_for_sendq(conn),
        }
    }

    /// Cuts `conn` off (its outbox overflowed) and tells the core, so the
    /// rooms hear it and the log records it.
    fn cut_off_for_sendq(&mut self, conn: ConnId) {
        let Some(cut) = self.outboxes.remove(&conn) else {
            return;
        };
        cut.outbox.abort(Some(Arc::from("ERROR :SendQ exceeded")));
        self.pending.push_back(Event::Disconnected {
            conn,
            reason: "SendQ exceeded".to_string(),
            now: now(),
        });
    }
}
