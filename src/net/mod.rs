//! The smol shell around the pure core: sockets, clocks, tasks and files.
//!
//! Owns everything the core must not do: it accepts TCP connections (and,
//! with [`TlsOptions`], TLS connections on a second port, through the same
//! tasks after the handshake), runs a reader task and a writer task per
//! connection, and one core task that owns
//! the [`Server`], applies events in arrival order (draining bursts in
//! batches) and carries out its actions: queueing lines on bounded
//! per-connection [`outbox::Outbox`]es, closing connections, and writing
//! `server.log`. With durable history, each batch's records are encoded
//! into one journal frame as the core makes them, written to the
//! [`Store`]'s journal with one `write()` at the end of the batch (with
//! `--fsync`, by the journal thread while the core goes on with the next
//! batch); lines that carry a record wait until the journal has written it
//! (SQLite is built behind, on the store's own thread). It reads the
//! wall clock for every event and wakes the core at its next deadline.
//! The core task itself lives in `core_task`; accepting connections
//! (listeners, TLS handshakes, refusals) in `accept`; the web page and
//! IRC over WebSocket in [`web`]; connection limits in [`limits`]; the
//! store in [`store`]; password hashing in [`password`]; the cluster's
//! link to NATS JetStream in [`cluster`]; start-up and the core thread in
//! `serve`.
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

mod accept;
pub mod cluster;
mod conn;
mod core_task;
pub mod limits;
pub mod outbox;
pub mod password;
mod send_ring;
mod serve;
mod server_log;
mod socket;
pub mod store;
pub mod tls;
pub mod web;

pub use cluster::{ClusterError, ClusterOptions};
pub use limits::{Cidr, ConnRate, LimitSettings, Refusal, SharedLimiter};
pub use server_log::{LogError, LogOptions, ServerLog};
pub use store::{Commit, Store, StoreError, StoreOptions};
pub use tls::{TlsAcceptor, TlsError, TlsOptions};
pub use web::WebOptions;

use crate::core::{
    self, Action, ConnId, Event, LogEntry, LogRecord, MarkerChange, Now, OutLine, Server,
    ServerConfig, StsPolicy, Timestamp,
};
use crate::proto::LineError;
use accept::{accept_loop, Accepting, Transport};
use async_channel::{Receiver, Sender};
use async_net::TcpListener;
use cluster::{ClusterNode, LinkConfig, NatsLink};
use core_task::{CoreTask, PasswordChecks};
use futures_lite::FutureExt;
use outbox::{Outbox, Overflow};
use rustc_hash::FxHashMap;
use serve::{run_threads, Shell};
use smol::lock::Semaphore;
use smol::{Executor, Timer};
use socket::Socket;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default per-connection send queue: 1 MiB.
pub const DEFAULT_SENDQ: usize = 1 << 20;
/// Default write coalescing interval (see [`ServerOptions::coalesce`]).
pub const DEFAULT_COALESCE: Duration = Duration::from_millis(8);
/// Inputs waiting for the core task before readers are made to wait. An
/// input holds at most [`conn::INPUT_BYTES`] of lines plus one more line
/// ([`conn::LINES_PER_INPUT`] at most), so a full queue is bounded: ~50 MB
/// if every input ended in a maximal line, a few MB in practice.
pub(crate) const EVENT_QUEUE: usize = 4096;
/// Most events applied in one batch before the core task lets others run.
const BATCH: usize = 256;
/// Commits in flight before the core task stops taking input and waits:
/// enough to keep the core and the store thread both busy, few enough that
/// the lines held behind them stay bounded.
const MAX_COMMITS_IN_FLIGHT: usize = 4;
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
    /// Whether to listen for plaintext connections on `port` at all.
    pub plaintext: bool,
    /// A TLS listener beside the plaintext one, and its certificate.
    pub tls: Option<TlsOptions>,
    /// Most bytes queued for one client before it is disconnected.
    pub sendq_bytes: usize,
    /// How long a line to a client that is only listening (it has sent
    /// nothing since its last small write) may wait to go out together with
    /// the lines after it; zero sends every line at once. See
    /// [`outbox::Outbox::push_deferred`].
    pub coalesce: Duration,
    /// Where `server.log` goes; `None` writes no log.
    pub log: Option<LogOptions>,
    /// Threads that run the connection tasks and the core task (at least
    /// 1); see [`default_threads`].
    pub threads: usize,
    /// The chat rules' settings (server name, password, MOTD, timeouts).
    pub config: ServerConfig,
    /// Where durable history goes; `None` keeps history in memory only
    /// (lost on restart) and sends lines without waiting for the disk.
    pub store: Option<StoreOptions>,
    /// Connection limits per address and network, checked before a
    /// connection reaches the core (see [`limits`]).
    pub limits: LimitSettings,
    /// The web chat page and IRC over WebSocket (off unless a port is set).
    pub web: WebOptions,
    /// Run as a node of a cluster over NATS JetStream (`--cluster`); the
    /// log in JetStream is then the durable store, and `store` is unused.
    pub cluster: Option<ClusterOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 6667,
            plaintext: true,
            tls: None,
            sendq_bytes: DEFAULT_SENDQ,
            coalesce: DEFAULT_COALESCE,
            log: None,
            threads: default_threads(),
            config: ServerConfig::default(),
            store: None,
            limits: LimitSettings::default(),
            web: WebOptions::default(),
            cluster: None,
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
    /// The TLS certificate or key is unusable.
    Tls(TlsError),
    /// The plaintext port is off and no TLS was configured.
    NoListener,
    /// A TLS web port was asked for without a TLS certificate.
    WebTlsWithoutCertificate,
    /// The server's threads could not be started.
    Runtime(io::Error),
    /// The history database could not be opened.
    Store(StoreError),
    /// The cluster's NATS could not be reached or set up.
    Cluster(ClusterError),
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
            NetError::Tls(e) => write!(f, "{e}"),
            NetError::NoListener => write!(
                f,
                "nothing to listen on: --no-plaintext needs TLS, \
                 e.g. `--tls-cert cert.pem --tls-key key.pem`"
            ),
            NetError::Store(e) => write!(f, "{e}"),
            NetError::Cluster(e) => write!(f, "{e}"),
            NetError::WebTlsWithoutCertificate => write!(
                f,
                "--web-tls-port uses the IRC TLS port's certificate: \
                 add `--tls-cert cert.pem --tls-key key.pem`"
            ),
            NetError::Runtime(e) => write!(
                f,
                "cannot start the server's threads: {e}; check the system's thread limits"
            ),
        }
    }
}

impl std::error::Error for NetError {}

impl From<TlsError> for NetError {
    fn from(e: TlsError) -> Self {
        NetError::Tls(e)
    }
}

impl From<LogError> for NetError {
    fn from(e: LogError) -> Self {
        NetError::Log(e)
    }
}

/// The wall clock, as the core wants it.
pub(crate) fn wall_now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Where the core's monotonic clock starts: the first time it is read.
fn clock_start() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

/// Both clocks, as the core wants them for one event.
pub(crate) fn now() -> Now {
    let start = clock_start();
    let mono = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Now {
        mono: core::Instant(mono),
        wall: wall_now(),
    }
}

/// The moment a cluster core's deadline (on the cluster clock: wall-clock
/// milliseconds) falls due, on the shell's monotonic clock.
fn cluster_due_at(at: core::Instant) -> std::time::Instant {
    let ahead = at.0.saturating_sub(wall_now().0);
    std::time::Instant::now() + Duration::from_millis(ahead)
}

/// The moment a core deadline falls due, on the shell's monotonic clock.
fn due_at(at: core::Instant) -> std::time::Instant {
    clock_start() + Duration::from_millis(at.0)
}

/// What reaches the core task, in arrival order.
/// What a TLS handshake told of the client.
#[derive(Debug)]
pub(crate) struct TlsPeer {
    /// The SHA-256 fingerprint (lowercase hex) of its certificate, if it
    /// showed one.
    certfp: Option<String>,
}

pub(crate) enum Input {
    /// A connection was accepted; its outbox is ready for lines.
    Accepted {
        conn: ConnId,
        peer: SocketAddr,
        outbox: Arc<Outbox>,
        now: Now,
        /// What TLS told of the client, when the connection came over TLS.
        tls: Option<TlsPeer>,
    },
    /// Everything one read from `conn` finished, in order: lines (or why a
    /// line was refused), each becoming an [`Event::Line`] or
    /// [`Event::BadLine`] stamped `now`.
    Lines {
        conn: ConnId,
        lines: VecDeque<Result<String, LineError>>,
        now: Now,
    },
    /// Anything else for the core.
    Event(Event),
    /// A connection limit refused a connection from `peer`: the core never
    /// hears of it; the core task only writes its server.log line.
    Refused {
        peer: SocketAddr,
        reason: String,
        now: Now,
    },
}

impl Input {
    /// How much core work this is, for the batch limit: one per event.
    fn weight(&self) -> usize {
        match self {
            Input::Lines { lines, .. } => lines.len(),
            Input::Accepted { .. } | Input::Event(_) | Input::Refused { .. } => 1,
        }
    }
}

/// A server running on its own threads.
///
/// Dropping it shuts the server down as [`RunningServer::shutdown`] does.
pub struct RunningServer {
    addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    web_addr: Option<SocketAddr>,
    web_tls_addr: Option<SocketAddr>,
    tls: Option<Arc<TlsAcceptor>>,
    limiter: SharedLimiter,
    events: Sender<Input>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Binds the port, opens the log, and starts serving on new threads.
    pub fn start(mut options: ServerOptions) -> Result<RunningServer, NetError> {
        if !options.plaintext && options.tls.is_none() {
            return Err(NetError::NoListener);
        }
        // Certificates first: a bad file must stop the server before it binds.
        let acceptor = match &options.tls {
            Some(tls) => Some(Arc::new(TlsAcceptor::load(&tls.cert, &tls.key)?)),
            None => None,
        };
        let plain = match options.plaintext {
            true => Some(listen(options.bind, options.port)?),
            false => None,
        };
        let mut secure = None;
        if let (Some(tls), Some(acceptor)) = (&options.tls, &acceptor) {
            let (listener, addr) = listen(options.bind, tls.port)?;
            if let Some(duration_secs) = tls.sts_duration_secs {
                options.config.sts = Some(StsPolicy {
                    port: addr.port(),
                    duration_secs,
                });
            }
            let transport = Transport::Tls {
                acceptor: acceptor.clone(),
                handshake_timeout: tls.handshake_timeout,
                handshakes: Arc::new(Semaphore::new(tls.max_handshakes.max(1))),
            };
            secure = Some((listener, addr, transport));
        }
        let web = web_listeners(&options, acceptor.as_ref())?;
        let web_addr = web
            .iter()
            .find(|(_, _, t)| matches!(t, Transport::Plain))
            .map(|(_, addr, _)| *addr);
        let web_tls_addr = web
            .iter()
            .find(|(_, _, t)| matches!(t, Transport::Tls { .. }))
            .map(|(_, addr, _)| *addr);
        let addr = plain.as_ref().map(|(_, addr)| *addr);
        let tls_addr = secure.as_ref().map(|(_, addr, _)| *addr);
        let mut listeners: Vec<(TcpListener, Transport)> = Vec::new();
        if let Some((listener, _)) = plain {
            listeners.push((listener, Transport::Plain));
        }
        if let Some((listener, _, transport)) = secure {
            listeners.push((listener, transport));
        }
        let log = match &options.log {
            Some(log) => ServerLog::open(log)?,
            None => ServerLog::disabled(),
        };
        let cluster = match &options.cluster {
            Some(cluster) => {
                let link = cluster::connect(LinkConfig {
                    urls: cluster.urls.clone(),
                    replicas: cluster.replicas,
                    client_name: format!("natter-{}", cluster.node_name),
                    queue_capacity: cluster::NODE_QUEUE,
                    ..LinkConfig::default()
                })
                .map_err(NetError::Cluster)?;
                Some((link, cluster.clone()))
            }
            None => None,
        };
        let (store, restored) = match &options.store {
            _ if cluster.is_some() => (None, store::Restored::default()),
            Some(store) => {
                let (store, restored) = Store::open(store, wall_now()).map_err(NetError::Store)?;
                (Some(store), restored)
            }
            None => (None, store::Restored::default()),
        };
        let (events, inbox) = async_channel::bounded(EVENT_QUEUE);
        let limiter = SharedLimiter::new(options.limits.clone());
        let secret = password::random_secret()
            .map_err(|e| NetError::Runtime(io::Error::other(e.to_string())))?;
        let shell = Shell {
            secret,
            limiter: limiter.clone(),
            listeners,
            web_listeners: web.into_iter().map(|(l, _, t)| (l, t)).collect(),
            web_origins: options.web.origins.into(),
            store,
            restored,
            events: events.clone(),
            inbox,
            log,
            sendq: options.sendq_bytes.max(1),
            coalesce: options.coalesce,
            config: options.config,
            cluster,
        };
        let threads = options.threads.max(1);
        let thread = std::thread::Builder::new()
            .name("natter-core".into())
            .spawn(move || run_threads(shell, threads))
            .map_err(NetError::Runtime)?;
        Ok(RunningServer {
            addr,
            tls_addr,
            web_addr,
            web_tls_addr,
            tls: acceptor,
            limiter,
            events,
            thread: Some(thread),
        })
    }

    /// The address the server listens on for plaintext (with the real port
    /// when 0 was asked); the TLS address when plaintext is off.
    pub fn local_addr(&self) -> SocketAddr {
        match (self.addr, self.tls_addr) {
            (Some(addr), _) | (None, Some(addr)) => addr,
            // `start` refuses to run with no listener at all.
            (None, None) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        }
    }

    /// The plaintext address, unless plaintext is off.
    pub fn plaintext_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The TLS address, when TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The web port's address (HTTP and `ws://`), when it is on.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    /// The TLS web port's address (HTTPS and `wss://`), when it is on.
    pub fn web_tls_addr(&self) -> Option<SocketAddr> {
        self.web_tls_addr
    }

    /// Reads the certificate and key files again (as on SIGHUP): new
    /// connections get the new certificate, open ones carry on. On error
    /// the old certificate stays. Does nothing when TLS is off.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        match &self.tls {
            Some(acceptor) => acceptor.reload(),
            None => Ok(()),
        }
    }

    /// Loads TLS certificate and key files, perhaps at new paths (a
    /// reloaded configuration file), for new connections; on error the old
    /// ones stay. Does nothing when TLS is off.
    pub fn reload_tls_from(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        match &self.tls {
            Some(acceptor) => acceptor.reload_from(cert, key),
            None => Ok(()),
        }
    }

    /// Hands the core new runtime settings (MOTD, operators, flood
    /// protection) as [`Event::Reconfigured`]: applied in order with
    /// everything else, without disturbing any connection.
    pub fn reconfigure(&self, settings: core::LiveSettings) {
        let _ = self.events.send_blocking(Input::Event(Event::Reconfigured {
            settings: Box::new(settings),
        }));
    }

    /// Puts new connection limits in force (as on SIGHUP): new connections
    /// are decided by them; connections already open stay, even past a
    /// lowered limit.
    pub fn set_limits(&self, limits: LimitSettings) {
        self.limiter.set_settings(limits);
    }

    /// Whether the server stopped by itself (a cluster node that could not
    /// join, or was told to stop by the cluster); the reason was printed.
    pub fn has_stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
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

/// Binds the web ports asked for: plain, and TLS with the IRC certificate.
fn web_listeners(
    options: &ServerOptions,
    acceptor: Option<&Arc<TlsAcceptor>>,
) -> Result<Vec<(TcpListener, SocketAddr, Transport)>, NetError> {
    let mut listeners = Vec::new();
    if let Some(port) = options.web.port {
        let (listener, addr) = listen(options.bind, port)?;
        listeners.push((listener, addr, Transport::Plain));
    }
    if let Some(port) = options.web.tls_port {
        let (Some(acceptor), Some(tls)) = (acceptor, &options.tls) else {
            return Err(NetError::WebTlsWithoutCertificate);
        };
        let (listener, addr) = listen(options.bind, port)?;
        let transport = Transport::Tls {
            acceptor: acceptor.clone(),
            handshake_timeout: tls.handshake_timeout,
            handshakes: Arc::new(Semaphore::new(tls.max_handshakes.max(1))),
        };
        listeners.push((listener, addr, transport));
    }
    Ok(listeners)
}

/// Binds `bind:port` for the smol shell; returns the listener and its real address.
fn listen(bind: IpAddr, port: u16) -> Result<(TcpListener, SocketAddr), NetError> {
    let addr = SocketAddr::new(bind, port);
    let listener = std::net::TcpListener::bind(addr).map_err(|e| bind_error(addr, e))?;
    let addr = listener.local_addr().unwrap_or(addr);
    let listener = TcpListener::try_from(listener).map_err(|e| bind_error(addr, e))?;
    Ok((listener, addr))
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

/// Executor threads when none are asked for: half the CPUs, 1 to 4.
///
/// One task owns the core, so every line crosses from it to the writer
/// tasks; on another thread that is a wake-up through the kernel and a
/// cache miss per connection. On this project's 2-CPU machine one executor
/// thread beat two in every natter-bench scenario (rooms 1.36-1.43M vs
/// 1.11-1.13M deliveries/s with 40% less server CPU; fanout at 10 and 500
/// members ahead too), leaving the other CPU to the kernel's network work
/// and the history store's threads. Larger machines keep a few threads for
/// the reads and writes of many connections; `--threads` overrides.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, 4))
}

/// Registers for SIGINT (Ctrl-C) and SIGTERM. Register before announcing the
/// server, so that a signal sent right after start is never missed.
pub fn shutdown_signals() -> io::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
}

/// Catches SIGXFSZ, whose default action kills the process: with a file-size
/// limit (`ulimit -f`) in place, a write past it then fails with EFBIG, which
/// the history store reports while chat goes on, instead of taking the
/// server and every conversation down. Keep the returned value alive for as
/// long as the server runs; it never needs reading.
pub fn survive_file_size_limit() -> io::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Xfsz])
}

/// Registers for SIGHUP, which asks for the TLS certificate to be reloaded.
pub fn reload_signals() -> io::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Hup])
}
