//! The smol shell around the pure core: sockets, clocks, tasks and files.
//!
//! Owns everything the core must not do: it accepts TCP connections, runs a
//! reader task and a writer task per connection, and one core task that owns
//! the [`Server`], applies events in arrival order (draining bursts in
//! batches) and carries out its actions: queueing lines on bounded
//! per-connection [`outbox::Outbox`]es, closing connections, and writing
//! `server.log`. It reads the wall clock for every event and ticks the core
//! once a second.
//!
//! Must never make a chat decision (that is the core's job), and must never
//! await a socket write in the core task: a slow reader may only ever slow
//! its own writer, and one that falls a whole SendQ behind is disconnected
//! with `ERROR :SendQ exceeded`.
//!
//! ```no_run
//! use natter::net::{RunningServer, ServerOptions};
//! let server = RunningServer::start(ServerOptions { port: 0, ..Default::default() })?;
//! println!("listening on {}", server.local_addr());
//! // ... clients connect and chat ...
//! server.shutdown(); // every client gets `ERROR :Server shutting down`
//! # Ok::<(), natter::net::NetError>(())
//! ```

mod conn;
pub mod outbox;
mod server_log;
pub mod store;

pub use server_log::{LogError, LogOptions, ServerLog};
pub use store::{Store, StoreError, StoreOptions};

use crate::core::{Action, ConnId, Event, HistoryRecord, OutLine, Server, ServerConfig, Timestamp};
use async_channel::{Receiver, Sender};
use async_net::{TcpListener, TcpStream};
use futures_lite::FutureExt;
use outbox::Outbox;
use smol::{Executor, Timer};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default per-connection send queue: 1 MiB.
pub const DEFAULT_SENDQ: usize = 1 << 20;
/// Events waiting for the core task before readers are made to wait.
const EVENT_QUEUE: usize = 4096;
/// Most events applied in one batch before the core task lets others run.
const BATCH: usize = 256;
/// How long shutdown waits for writers to hand over their last lines.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Everything the shell needs to run a server.
///
/// ```
/// let options = natter::net::ServerOptions::default();
/// assert_eq!(options.port, 6667);
/// assert_eq!(options.sendq_bytes, natter::net::DEFAULT_SENDQ);
/// ```
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address to listen on (`0.0.0.0` for all IPv4 interfaces, `::` for all).
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (see [`RunningServer::local_addr`]).
    pub port: u16,
    /// Most bytes queued for one client before it is disconnected.
    pub sendq_bytes: usize,
    /// Where `server.log` goes; `None` writes no log.
    pub log: Option<LogOptions>,
    /// Worker threads for the connection tasks (at least 1).
    pub threads: usize,
    /// The chat rules' settings (server name, password, MOTD, timeouts).
    pub config: ServerConfig,
    /// Where durable history goes; `None` keeps history in memory only
    /// (lost on restart) and sends lines without waiting for the disk.
    pub store: Option<StoreOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 6667,
            sendq_bytes: DEFAULT_SENDQ,
            log: None,
            threads: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
            config: ServerConfig::default(),
            store: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum NetError {
    /// Something else is listening on the port.
    PortInUse { addr: SocketAddr },
    /// The system refused the port (below 1024 without privileges).
    PermissionDenied { addr: SocketAddr },
    /// The bind address is not one of this machine's addresses.
    AddressUnavailable { addr: SocketAddr },
    /// Any other failure to listen.
    Listen { addr: SocketAddr, source: io::Error },
    /// The log file could not be opened.
    Log(LogError),
    /// The server's threads could not be started.
    Runtime(io::Error),
    /// The history database could not be opened.
    Store(StoreError),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::PortInUse { addr } => write!(
                f,
                "port {} is already in use: pick another with `natter-server {}`",
                addr.port(),
                addr.port().wrapping_add(1).max(1024)
            ),
            NetError::PermissionDenied { addr } => write!(
                f,
                "permission denied listening on port {}: ports below 1024 need root; \
                 pick a higher one, e.g. `natter-server 6667`",
                addr.port()
            ),
            NetError::AddressUnavailable { addr } => write!(
                f,
                "cannot listen on {}: {} is not an address of this machine; \
                 use `--bind 0.0.0.0` (all interfaces) or one of its addresses",
                addr,
                addr.ip()
            ),
            NetError::Listen { addr, source } => {
                write!(f, "cannot listen on {addr}: {source}")
            }
            NetError::Log(e) => write!(f, "{e}"),
            NetError::Store(e) => write!(f, "{e}"),
            NetError::Runtime(e) => write!(
                f,
                "cannot start the server's threads: {e}; check the system's thread limits"
            ),
        }
    }
}

impl std::error::Error for NetError {}

impl From<LogError> for NetError {
    fn from(e: LogError) -> Self {
        NetError::Log(e)
    }
}

/// The wall clock, as the core wants it.
pub(crate) fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// What reaches the core task, in arrival order.
pub(crate) enum Input {
    /// A connection was accepted; its outbox is ready for lines.
    Accepted {
        conn: ConnId,
        peer: SocketAddr,
        outbox: Arc<Outbox>,
        now: Timestamp,
    },
    /// Anything else for the core.
    Event(Event),
}

/// A server running on its own threads.
///
/// Dropping it shuts the server down as [`RunningServer::shutdown`] does.
pub struct RunningServer {
    addr: SocketAddr,
    events: Sender<Input>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Binds the port, opens the log, and starts serving on new threads.
    pub fn start(options: ServerOptions) -> Result<RunningServer, NetError> {
        let addr = SocketAddr::new(options.bind, options.port);
        let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, e))?;
        let addr = listener.local_addr().unwrap_or(addr);
        let listener = TcpListener::try_from(listener).map_err(|e| bind_error(addr, e))?;
        let log = match &options.log {
            Some(log) => ServerLog::open(log)?,
            None => ServerLog::disabled(),
        };
        let (store, restored) = match &options.store {
            Some(store) => {
                let (store, restored) = Store::open(store, now()).map_err(NetError::Store)?;
                (Some(store), restored)
            }
            None => (None, store::Restored::default()),
        };
        let (events, inbox) = async_channel::bounded(EVENT_QUEUE);
        let shell = Shell {
            store,
            restored,
            listener,
            events: events.clone(),
            inbox,
            log,
            sendq: options.sendq_bytes.max(1),
            config: options.config,
        };
        let threads = options.threads.max(1);
        let thread = std::thread::Builder::new()
            .name("natter-core".into())
            .spawn(move || run_threads(shell, threads))
            .map_err(NetError::Runtime)?;
        Ok(RunningServer {
            addr,
            events,
            thread: Some(thread),
        })
    }

    /// The address the server listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells every client `ERROR :Server shutting down`, gives their writers
    /// a moment to send what is queued, flushes the log, and returns once
    /// the server has stopped.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self
            .events
            .send_blocking(Input::Event(Event::Shutdown { now: now() }));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind_error(addr: SocketAddr, e: io::Error) -> NetError {
    match e.kind() {
        io::ErrorKind::AddrInUse => NetError::PortInUse { addr },
        io::ErrorKind::PermissionDenied => NetError::PermissionDenied { addr },
        io::ErrorKind::AddrNotAvailable => NetError::AddressUnavailable { addr },
        _ => NetError::Listen { addr, source: e },
    }
}

/// Raises the open-files soft limit to the hard limit, so that thousands of
/// clients can connect. Returns the new soft limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Registers for SIGINT (Ctrl-C) and SIGTERM. Register before announcing the
/// server, so that a signal sent right after start is never missed.
pub fn shutdown_signals() -> io::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
}

/// Everything the core thread owns.
struct Shell {
    listener: TcpListener,
    events: Sender<Input>,
    inbox: Receiver<Input>,
    log: ServerLog,
    sendq: usize,
    config: ServerConfig,
    store: Option<Store>,
    restored: store::Restored,
}

/// Runs the shell on this thread plus `threads - 1` helpers sharing one executor.
fn run_threads(shell: Shell, threads: usize) {
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
        listener,
        events,
        inbox,
        log,
        sendq,
        config,
        store,
        restored,
    } = shell;
    let (alive, all_writers_done) = async_channel::bounded::<()>(1);
    let accept = ex.spawn(accept_loop(
        ex.clone(),
        listener,
        events.clone(),
        alive.clone(),
        sendq,
    ));
    let ticker = ex.spawn(ticker(events.clone()));
    drop(events);
    drop(alive);
    let mut server = Server::new(config);
    server.handle_event(Event::HistoryRestored {
        records: restored.records,
        next_id: restored.next_id,
    });
    let mut core = CoreTask {
        server,
        outboxes: HashMap::new(),
        pending: VecDeque::new(),
        log,
        store,
        unstored: Vec::new(),
        held: Vec::new(),
    };
    core.run(&inbox).await;
    drop(core.store.take());
    drop(accept);
    drop(ticker);
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

async fn accept_loop(
    ex: Arc<Executor<'static>>,
    listener: TcpListener,
    events: Sender<Input>,
    alive: Sender<()>,
    sendq: usize,
) {
    let mut next_id = 1u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually out of file descriptors: wait for some to free up.
                eprintln!("natter-server: accepting a connection failed: {e}");
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnId(next_id);
        next_id += 1;
        let outbox = Arc::new(Outbox::new(sendq));
        let accepted = Input::Accepted {
            conn,
            peer: unmap_v4(peer),
            outbox: outbox.clone(),
            now: now(),
        };
        if events.send(accepted).await.is_err() {
            return;
        }
        spawn_connection(&ex, conn, stream, outbox, &events, &alive);
    }
}

fn spawn_connection(
    ex: &Executor<'static>,
    conn: ConnId,
    stream: TcpStream,
    outbox: Arc<Outbox>,
    events: &Sender<Input>,
    alive: &Sender<()>,
) {
    ex.spawn(conn::reader(conn, stream.clone(), events.clone()))
        .detach();
    ex.spawn(conn::writer(
        conn,
        stream,
        outbox,
        events.clone(),
        alive.clone(),
    ))
    .detach();
}

/// `::ffff:1.2.3.4` (an IPv4 client of a `::` listener) shown as `1.2.3.4`.
fn unmap_v4(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), peer.port()),
            None => peer,
        },
        IpAddr::V4(_) => peer,
    }
}

async fn ticker(events: Sender<Input>) {
    loop {
        Timer::after(Duration::from_secs(1)).await;
        let tick = Input::Event(Event::Tick { now: now() });
        if events.send(tick).await.is_err() {
            return;
        }
    }
}

/// The one task that owns the [`Server`]. Never awaits anything but its inbox.
struct CoreTask {
    server: Server,
    outboxes: HashMap<ConnId, Arc<Outbox>>,
    /// Events the shell itself raised while carrying out actions (SendQ).
    pending: VecDeque<Event>,
    log: ServerLog,
    /// The durable store; `None` when history is kept in memory only.
    store: Option<Store>,
    /// Records of this batch not yet committed.
    unstored: Vec<HistoryRecord>,
    /// Lines (and closes) emitted after the first uncommitted record, held
    /// until it is committed: nobody is sent what a crash could lose.
    held: Vec<Action>,
}

impl CoreTask {
    /// Applies inputs until [`Event::Shutdown`] or until every sender is gone.
    async fn run(&mut self, inbox: &Receiver<Input>) {
        while let Ok(first) = inbox.recv().await {
            let mut next = Some(first);
            let mut applied = 0;
            while let Some(input) = next {
                if self.apply(input) {
                    self.settle().await;
                    return;
                }
                applied += 1;
                next = if applied < BATCH {
                    inbox.try_recv().ok()
                } else {
                    None
                };
            }
            self.settle().await;
            futures_lite::future::yield_now().await;
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
            } => {
                self.outboxes.insert(conn, outbox);
                let peer = peer.to_string();
                self.feed(Event::Connected { conn, peer, now });
                false
            }
            Input::Event(event) => {
                let shutdown = matches!(event, Event::Shutdown { .. });
                if let Event::Disconnected { conn, .. } = &event {
                    // The peer is gone: nothing queued can reach it.
                    if let Some(outbox) = self.outboxes.remove(conn) {
                        outbox.abort(None);
                    }
                }
                self.feed(event);
                shutdown
            }
        }
    }

    /// Hands `event` to the core and carries out everything it asks for,
    /// including the consequences of SendQ overflows it causes. Lines that
    /// follow an uncommitted record wait in `held` for [`CoreTask::settle`].
    fn feed(&mut self, event: Event) {
        self.server.handle_event(event);
        loop {
            while let Some(action) = self.server.poll_action() {
                self.carry_out(action);
            }
            match self.pending.pop_front() {
                Some(event) => self.server.handle_event(event),
                None => break,
            }
        }
    }

    /// Group commit: stores the batch's records in one transaction, then
    /// releases the lines held behind them, in order.
    async fn settle(&mut self) {
        loop {
            if self.unstored.is_empty() && self.held.is_empty() {
                return;
            }
            let records = std::mem::take(&mut self.unstored);
            if let (Some(store), false) = (&self.store, records.is_empty()) {
                store.commit(records).await;
            }
            for action in std::mem::take(&mut self.held) {
                self.carry_out_now(action);
            }
            // SendQ overflows while releasing: tell the core (which may
            // store and send more, hence the loop).
            while let Some(event) = self.pending.pop_front() {
                self.feed(event);
            }
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Persist(record) => {
                if self.store.is_some() {
                    self.unstored.push(record);
                }
            }
            Action::Log(record) => self.log.write(&record),
            other if !self.unstored.is_empty() => self.held.push(other),
            other => self.carry_out_now(other),
        }
    }

    fn carry_out_now(&mut self, action: Action) {
        match action {
            Action::Persist(_) => {}
            Action::Send { to, line } => self.queue(to, line),
            Action::Broadcast { to, line } => {
                for conn in to {
                    self.queue(conn, line.clone());
                }
            }
            Action::Close { conn, .. } => {
                if let Some(outbox) = self.outboxes.remove(&conn) {
                    outbox.close();
                }
            }
            Action::Log(record) => self.log.write(&record),
        }
    }

    /// Queues `line` for `conn`; on overflow cuts the connection off and
    /// tells the core, so the rooms hear it and the log records it.
    fn queue(&mut self, conn: ConnId, line: OutLine) {
        let Some(outbox) = self.outboxes.get(&conn) else {
            return;
        };
        if outbox.push(line).is_ok() {
            return;
        }
        outbox.abort(Some(Arc::from("ERROR :SendQ exceeded")));
        self.outboxes.remove(&conn);
        self.pending.push_back(Event::Disconnected {
            conn,
            reason: "SendQ exceeded".to_string(),
            now: now(),
        });
    }
}
