//! The core task's side of the cluster: joining it before any client is
//! accepted, applying what the NATS link reports, rejoining after being
//! declared down, and leaving at shutdown.
//!
//! Owns no connection to NATS (the link in [`crate::net::cluster`] does);
//! must never feed the core a local event directly in a cluster (local
//! events go to the log and come back like everyone else's).

use super::*;

impl CoreTask {
    /// Joins the cluster before any client is accepted: applies the log
    /// from its start, appends the first secret if the log is new, then
    /// this node's `NodeUp`; done once that comes back (everything before
    /// it is applied). An error says what the operator must fix.
    pub(in crate::net) async fn join_cluster(&mut self, secret: [u8; 32]) -> Result<(), String> {
        let Some(cluster) = &mut self.cluster else {
            return Ok(());
        };
        loop {
            match cluster.next().await {
                Some(FromNats::Started { last_seq, snapshot }) => {
                    if let Some((seq, bytes)) = snapshot {
                        cluster.start_from(seq, &bytes, &mut self.server)?;
                    }
                    if last_seq == 0 {
                        cluster.append("natter-seed".into(), &Entry::Seeded { secret });
                    }
                    break;
                }
                Some(FromNats::Failed(why)) => return Err(why),
                Some(_) => {}
                None => return Err("the link to NATS closed while starting".into()),
            }
        }
        cluster.announce();
        loop {
            let message = match &self.cluster {
                Some(cluster) => cluster.next().await,
                None => return Ok(()),
            };
            let Some(message) = message else {
                return Err("the link to NATS closed while catching up".into());
            };
            if let FromNats::Failed(why) = &message {
                return Err(why.clone());
            }
            self.heard_from_cluster(message);
            if let Some(why) = self.cluster_stop.take() {
                return Err(why);
            }
            if self
                .cluster
                .as_ref()
                .is_some_and(|c| c.repl.my_tag().is_some())
            {
                return Ok(());
            }
        }
    }

    /// Handles what the NATS link reports: an entry of the log is applied
    /// (its events fed to the core), heartbeats renew leases, a lost or
    /// regained NATS is told to this node's users.
    pub(super) fn heard_from_cluster(&mut self, message: FromNats) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        match message {
            FromNats::Entry { seq, payload } => {
                let mut events = Vec::new();
                let applied = cluster.apply(seq, &payload, &mut |event| events.push(event));
                for event in events {
                    self.feed(event);
                }
                if let Some(cluster) = &self.cluster {
                    cluster.snapshot_if_due(&self.server);
                }
                match applied {
                    Applied::NodeDown { mine: true, .. } => self.rejoin_cluster(),
                    Applied::ConfigMismatch { other } => {
                        self.cluster_stop = Some(format!(
                            "node {other} of this cluster runs with other chat settings: \
                             start every node with the same flags (all but --server-name, \
                             ports, --node-name and --cluster)"
                        ));
                    }
                    _ => {}
                }
            }
            FromNats::Heartbeat { tag } => cluster.heard(tag, now().mono.0),
            FromNats::Down => {
                eprintln!(
                    "natter-server: cluster: lost contact with NATS; lines wait until it is back"
                );
                cluster.reachable = false;
                self.notice_all(
                    "This server lost contact with its cluster: nothing you send is \
                     delivered until it is back",
                );
            }
            FromNats::Up => {
                if !cluster.reachable {
                    eprintln!("natter-server: cluster: back in contact with NATS");
                    cluster.reconnected(now().mono.0);
                    self.notice_all("This server is back in contact with its cluster");
                }
            }
            FromNats::Failed(why) => eprintln!("natter-server: cluster: {why}"),
            FromNats::Behind { applied, first } => {
                self.cluster_stop = Some(format!(
                    "this node fell behind the cluster's log: it applied entries up to \
                     {applied}, and the log now starts at {first} (trimmed behind a newer \
                     snapshot); start it again and it catches up from the newest snapshot"
                ));
            }
            FromNats::Started { .. } => {}
        }
    }

    /// This node was declared down (cut off past its lease): everyone the
    /// others saw leave is disconnected here too, and the node joins again.
    pub(super) fn rejoin_cluster(&mut self) {
        for (_, lost) in self.outboxes.drain() {
            lost.outbox.abort(Some(Arc::from(
                "ERROR :Lost contact with the cluster; please reconnect",
            )));
        }
        if let Some(cluster) = &mut self.cluster {
            cluster.announce();
        }
    }

    /// Shutdown in a cluster: this node's users leave everywhere (one
    /// `NodeDown`, appended and flushed), then the local core says goodbye
    /// to them.
    pub(super) fn leave_cluster(&mut self, shutdown: Event) {
        if let Some(cluster) = &mut self.cluster {
            cluster.flush();
            if let Some(tag) = cluster.repl.my_tag() {
                let entry = Entry::NodeDown {
                    tag,
                    reason: "Server shutting down".into(),
                    now: cluster_now(now()),
                };
                cluster.append(format!("down-{tag}"), &entry);
            }
        }
        self.feed(shutdown);
    }

    /// A server NOTICE to every local connection, from the shell itself.
    pub(super) fn notice_all(&mut self, text: &str) {
        let line: OutLine = Arc::from(format!(":{} NOTICE * :*** {text}", self.server_name));
        let conns: Vec<ConnId> = self.outboxes.keys().copied().collect();
        for conn in conns {
            self.queue(conn, line.clone(), Urgency::Prompt);
        }
    }
}
