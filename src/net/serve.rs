//! The core thread: runs the shell's executor (with `--threads - 1`
//! helper threads), joins the cluster when there is one, starts the
//! accept loops, and runs the core task until shutdown.
//!
//! Owns the order of start-up: nothing is accepted before the core task
//! exists (and, in a cluster, before it has caught up with the log). Must
//! never make a chat decision or block the executor.

use super::*;

/// Everything the core thread owns.
pub(super) struct Shell {
    pub(super) listeners: Vec<(TcpListener, Transport)>,
    /// The web page's listeners, with HTTP and WebSocket on each.
    pub(super) web_listeners: Vec<(TcpListener, Transport)>,
    /// Origins besides its own whose pages may open a WebSocket.
    pub(super) web_origins: Arc<[String]>,
    pub(super) limiter: SharedLimiter,
    pub(super) events: Sender<Input>,
    pub(super) inbox: Receiver<Input>,
    pub(super) log: ServerLog,
    pub(super) sendq: usize,
    pub(super) coalesce: Duration,
    pub(super) config: ServerConfig,
    pub(super) store: Option<Store>,
    pub(super) restored: store::Restored,
    /// The random secret for [`Event::Seeded`].
    pub(super) secret: [u8; 32],
    /// The link to the cluster's NATS, when this is a cluster node.
    pub(super) cluster: Option<(NatsLink, ClusterOptions)>,
}

/// Runs the shell on this thread plus `threads - 1` helpers sharing one executor.
pub(super) fn run_threads(shell: Shell, threads: usize) {
    let ex = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let helpers: Vec<_> = (1..threads)
        .filter_map(|i| {
            let ex = ex.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name(format!("natter-io-{i}"))
                .spawn(move || smol::block_on(ex.run(stopped.recv())))
                .ok()
        })
        .collect();
    smol::block_on(ex.run(serve(ex.clone(), shell)));
    drop(stop);
    for helper in helpers {
        let _ = helper.join();
    }
}

/// Accepts, ticks, and runs the core until [`Event::Shutdown`]; then waits
/// briefly for the writers and flushes the log.
async fn serve(ex: Arc<Executor<'static>>, shell: Shell) {
    let Shell {
        listeners,
        web_listeners,
        web_origins,
        limiter,
        events,
        inbox,
        log,
        sendq,
        coalesce,
        config,
        store,
        restored,
        secret,
        cluster,
    } = shell;
    let (alive, all_writers_done) = async_channel::bounded::<()>(1);
    // Shared by every listener, so connection ids are never reused.
    let ids = Arc::new(AtomicU64::new(1));
    let server_name = config.server_name.clone();
    let mut server = Server::new(config);
    let cluster = cluster
        .map(|(link, options)| ClusterNode::new(link, &options, server.config(), ids.clone()));
    if cluster.is_none() {
        server.handle_event(Event::HistoryRestored {
            records: restored.records,
            next_id: restored.next_id,
        });
        server.handle_event(Event::ReadMarkersRestored {
            markers: restored.read_markers,
        });
        server.handle_event(Event::AccountsRestored {
            accounts: restored.accounts,
        });
        server.handle_event(Event::RoomsRestored {
            rooms: restored.rooms,
        });
        server.handle_event(Event::ServerBansRestored {
            bans: restored.server_bans,
        });
        server.handle_event(Event::Seeded { secret });
    }
    let mut core = CoreTask {
        checks: PasswordChecks::new(ex.clone()),
        server,
        outboxes: FxHashMap::default(),
        recipients: Vec::new(),
        pending: VecDeque::new(),
        log,
        store,
        unstored: store::Frame::default(),
        unstored_markers: Vec::new(),
        unstored_accounts: Vec::new(),
        unstored_rooms: Vec::new(),
        unstored_bans: Vec::new(),
        held: Vec::new(),
        in_flight: VecDeque::new(),
        spare_held: Vec::new(),
        wakeups: core_task::Wakeups::new(),
        trickle_at: None,
        woke_at: std::time::Instant::now(),
        timer: Timer::never(),
        timer_at: None,
        lease_timer: match cluster {
            Some(_) => Timer::after(Duration::from_secs(1)),
            None => Timer::never(),
        },
        cluster,
        cluster_stop: None,
        server_name,
    };
    // A cluster node accepts nobody before it has caught up with the log.
    if let Err(why) = core.join_cluster(secret).await {
        eprintln!("natter-server: cannot join the cluster: {why}");
        return;
    }
    let accept: Vec<_> = listeners
        .into_iter()
        .map(|(listener, transport)| {
            ex.spawn(accept_loop(
                ex.clone(),
                listener,
                transport,
                Accepting {
                    ids: ids.clone(),
                    events: events.clone(),
                    alive: alive.clone(),
                    sendq,
                    coalesce,
                    limiter: limiter.clone(),
                },
            ))
        })
        .chain(web_listeners.into_iter().map(|(listener, transport)| {
            let site = web::Site {
                ex: ex.clone(),
                accepting: Accepting {
                    ids: ids.clone(),
                    events: events.clone(),
                    alive: alive.clone(),
                    sendq,
                    coalesce,
                    limiter: limiter.clone(),
                },
                origins: web_origins.clone(),
            };
            ex.spawn(web::accept_loop(site, listener, transport))
        }))
        .collect();
    drop(events);
    drop(alive);
    core.run(&inbox).await;
    drop(core.store.take());
    if let Some(cluster) = core.cluster.take() {
        // Hands the last appends (this node's NodeDown) to NATS, briefly.
        let _ = cluster.link.to_nats.try_send(cluster::ToNats::Close);
        let link = cluster.link;
        smol::unblock(move || link.close_and_join()).await;
    }
    drop(accept);
    core.log.flush();
    // Every writer holds an `alive` sender: recv fails once all have finished.
    let _ = async {
        let _ = all_writers_done.recv().await;
    }
    .or(async {
        Timer::after(SHUTDOWN_GRACE).await;
    })
    .await;
    core.log.flush();
}
