//! The link's own thread: async-nats on a current-thread tokio runtime.
//!
//! Owns the NATS connection, the JetStream stream's and the snapshot
//! store's creation, and the tasks on that runtime: the dispatcher (reads
//! [`ToNats`]), the appender (publishes appends one at a time, each retried
//! with its own `Nats-Msg-Id` until acknowledged), the heartbeat sender and
//! listener, and the connection watcher (async-nats's events as
//! [`FromNats::Down`] / [`FromNats::Up`]). It starts the reader
//! (`reader.rs`: an ordered consumer from the entry after the newest
//! snapshot) and the snapshot keeper (`snapshots.rs`: stores the newest
//! snapshot, deletes old ones, trims the log behind them).
//!
//! Must never be driven from anywhere but its own thread (the only way in
//! and out is the two async-channel queues), never `unwrap` on anything
//! NATS sends, and never hand over an entry out of order or twice.

use super::{subject_matches, ClusterError, FromNats, LinkConfig, ToNats, DUPLICATE_WINDOW};
use async_channel::{Receiver, Sender};
use async_nats::jetstream::context::{GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType,
};
use async_nats::jetstream::{self, ErrorCode};
use async_nats::{ConnectErrorKind, Event, ServerAddr};
use bytes::Bytes;
use futures_lite::StreamExt;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::{sleep, timeout, Instant};

/// The longest pause between two attempts (appends, consumer re-creation).
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How often the connection is pinged: a server that vanished without
/// closing the socket is noticed within two of these.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long appends find no stream before the link asks whether the
/// stream was deleted.
const STREAM_GONE_AFTER: Duration = Duration::from_secs(5);
/// How long an append waits for the answer to "is the stream gone?".
const GONE_CHECK_TIMEOUT: Duration = Duration::from_millis(500);

/// Starts the link's thread. It reports on `ready` once: `Ok` when
/// connected with the stream in place (after `Started` is queued on
/// `from_nats`), or the error that stopped it.
pub(super) fn spawn(
    config: LinkConfig,
    addrs: Vec<ServerAddr>,
    to_nats: Receiver<ToNats>,
    from_nats: Sender<FromNats>,
    ready: Sender<Result<(), ClusterError>>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("natter-nats".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready.try_send(Err(ClusterError::Thread(err.to_string())));
                    return;
                }
            };
            runtime.block_on(run(Arc::new(config), addrs, to_nats, from_nats, ready));
            // Dropping the runtime ends every task, and with them the last
            // `from_nats` senders: the receiver then reports closed.
        })
}

/// The connection and stream, once [`start`] has them.
struct Connected {
    client: async_nats::Client,
    js: jetstream::Context,
    last_seq: u64,
    snapshots: ObjectStore,
    /// The newest snapshot: the sequence it was taken at, and its bytes.
    snapshot: Option<(u64, Vec<u8>)>,
    heartbeats: async_nats::Subscriber,
}

async fn run(
    config: Arc<LinkConfig>,
    addrs: Vec<ServerAddr>,
    to_nats: Receiver<ToNats>,
    from_nats: Sender<FromNats>,
    ready: Sender<Result<(), ClusterError>>,
) {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let connected = match start(&config, addrs, events_tx).await {
        Ok(connected) => connected,
        Err(err) => {
            let _ = ready.send(Err(err)).await;
            return;
        }
    };
    let Connected {
        client,
        js,
        last_seq,
        snapshots,
        snapshot,
        heartbeats,
    } = connected;
    let read_after = snapshot.as_ref().map_or(0, |(seq, _)| *seq);
    if from_nats
        .send(FromNats::Started { last_seq, snapshot })
        .await
        .is_err()
        || ready.send(Ok(())).await.is_err()
    {
        return;
    }
    log::info!(
        "cluster: connected to NATS at {}, stream {} at sequence {last_seq}",
        client.server_info().server_name,
        config.stream
    );

    let (reconnects_tx, reconnects_rx) = watch::channel(0);
    let reader = tokio::spawn(super::reader::read_log(
        js.clone(),
        config.clone(),
        read_after,
        reconnects_rx,
        from_nats.clone(),
    ));
    let (snapshot_tx, snapshot_rx) = watch::channel(None);
    let keeper = tokio::spawn(super::snapshots::keep_snapshots(
        js.clone(),
        snapshots,
        config.clone(),
        snapshot_rx,
        from_nats.clone(),
    ));
    let watcher = tokio::spawn(watch_connection(
        events_rx,
        reconnects_tx,
        from_nats.clone(),
    ));
    let listener = tokio::spawn(hear_heartbeats(heartbeats, from_nats.clone()));
    let (beat_tx, beat_rx) = watch::channel(None);
    let beater = tokio::spawn(beat(client.clone(), config.clone(), beat_rx));
    let (append_tx, append_rx) = mpsc::unbounded_channel();
    let appender = tokio::spawn(append_all(js, config.clone(), append_rx, from_nats.clone()));
    // At most `queue_capacity` appends wait for NATS at once; beyond that
    // the dispatcher stops reading `to_nats`, so its senders wait.
    let pending = Arc::new(Semaphore::new(config.queue_capacity));

    while let Ok(command) = to_nats.recv().await {
        match command {
            ToNats::Append { msg_id, payload } => {
                let Ok(permit) = pending.clone().acquire_owned().await else {
                    break;
                };
                if append_tx.send((msg_id, payload, permit)).is_err() {
                    break;
                }
            }
            ToNats::BeatAs { tag } => {
                beat_tx.send_replace(Some(tag));
            }
            ToNats::Snapshot { seq, payload } => {
                snapshot_tx.send_replace(Some((seq, payload)));
            }
            ToNats::Close => break,
        }
    }

    // Close: the appender ends once it has published what is queued.
    drop(append_tx);
    if timeout(config.close_timeout, appender).await.is_err() {
        log::warn!(
            "cluster: closing with appends JetStream did not acknowledge within {:?}; \
             they may or may not be in the log",
            config.close_timeout
        );
    }
    reader.abort();
    keeper.abort();
    watcher.abort();
    listener.abort();
    beater.abort();
    if timeout(Duration::from_secs(1), client.drain())
        .await
        .is_err()
    {
        log::warn!("cluster: NATS did not confirm the connection's close within a second");
    }
}

/// Connects, waits for JetStream, and makes sure the stream is there.
async fn start(
    config: &LinkConfig,
    addrs: Vec<ServerAddr>,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Connected, ClusterError> {
    let urls = config.urls.join(", ");
    let client = async_nats::ConnectOptions::new()
        .name(&config.client_name)
        .ping_interval(PING_INTERVAL)
        .connection_timeout(config.request_timeout)
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        })
        .connect(addrs)
        .await
        .map_err(|err| match err.kind() {
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                ClusterError::Refused {
                    urls: urls.clone(),
                    reason: err.to_string(),
                }
            }
            _ => ClusterError::Unreachable {
                urls: urls.clone(),
                reason: err.to_string(),
            },
        })?;
    if !client.server_info().jetstream {
        return Err(ClusterError::NoJetStream {
            urls,
            reason: format!(
                "server {} has JetStream off",
                client.server_info().server_name
            ),
        });
    }
    let js = jetstream::ContextBuilder::new()
        .timeout(config.request_timeout)
        .build(client.clone());

    let deadline = Instant::now() + config.startup_timeout;
    let mut backoff = Backoff::new();
    let last_seq = loop {
        match ensure_stream(&js, config).await {
            Ok(last_seq) => break last_seq,
            Err(Attempt::Fatal(err)) => return Err(err),
            Err(Attempt::Retry(reason)) if Instant::now() >= deadline => {
                return Err(ClusterError::NoJetStream {
                    urls,
                    reason: format!("still after {:?}: {reason}", config.startup_timeout),
                });
            }
            Err(Attempt::Retry(reason)) => {
                log::debug!("cluster: JetStream not ready yet: {reason}");
                sleep(backoff.next()).await;
            }
        }
    };
    let (snapshots, snapshot) = loop {
        let attempt = match super::snapshots::ensure_snapshots(&js, config).await {
            Ok(store) => match super::snapshots::newest_snapshot(&store).await {
                Ok(newest) => break (store, newest),
                Err(reason) => reason,
            },
            Err(reason) => reason,
        };
        if Instant::now() >= deadline {
            return Err(ClusterError::Stream {
                stream: config.snapshots.clone(),
                reason: format!("still after {:?}: {attempt}", config.startup_timeout),
            });
        }
        log::debug!("cluster: snapshot store not ready yet: {attempt}");
        sleep(backoff.next()).await;
    };
    let heartbeats = client
        .subscribe(format!("{}.*", config.heartbeat_subject_prefix))
        .await
        .map_err(|err| ClusterError::Unreachable {
            urls: config.urls.join(", "),
            reason: format!("cannot subscribe to heartbeats: {err}"),
        })?;
    Ok(Connected {
        client,
        js,
        last_seq,
        snapshots,
        snapshot,
        heartbeats,
    })
}

/// One try at [`ensure_stream`] that did not work out.
enum Attempt {
    /// Worth trying again (JetStream still electing a leader, a timeout).
    Retry(String),
    /// Trying again will not help.
    Fatal(ClusterError),
}

/// The stream's last sequence, after looking it up or creating it.
async fn ensure_stream(js: &jetstream::Context, config: &LinkConfig) -> Result<u64, Attempt> {
    let stream_error = |reason: String| ClusterError::Stream {
        stream: config.stream.clone(),
        reason,
    };
    match js.get_stream(&config.stream).await {
        Ok(stream) => {
            let info = stream.cached_info();
            fits(&info.config, config).map_err(|reason| {
                Attempt::Fatal(ClusterError::StreamMismatch {
                    stream: config.stream.clone(),
                    reason,
                })
            })?;
            if info.config.num_replicas != config.replicas {
                log::warn!(
                    "cluster: stream {} has {} replicas, not the {} asked for",
                    config.stream,
                    info.config.num_replicas,
                    config.replicas
                );
            }
            return Ok(info.state.last_sequence);
        }
        Err(err) => match err.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND => {}
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED
                    || js_err.error_code() == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT =>
            {
                return Err(Attempt::Fatal(ClusterError::NoJetStream {
                    urls: config.urls.join(", "),
                    reason: js_err.to_string(),
                }));
            }
            _ => return Err(Attempt::Retry(err.to_string())),
        },
    }
    match js.create_stream(stream_config(config)).await {
        Ok(stream) => {
            log::info!(
                "cluster: created stream {} ({} replicas) for subject {}",
                config.stream,
                config.replicas,
                config.subject
            );
            Ok(stream.cached_info().state.last_sequence)
        }
        Err(err) => {
            let fatal = match err.kind() {
                // Created meanwhile by another node (with other settings:
                // the next lookup says which), or not enough servers with
                // JetStream up yet for the replicas: try again.
                async_nats::jetstream::context::CreateStreamErrorKind::JetStream(js_err) => {
                    let code = js_err.error_code();
                    !(js_err.code() >= 500
                        || code == ErrorCode::STREAM_NAME_EXIST
                        || code == ErrorCode::INSUFFICIENT_RESOURCES
                        || code == ErrorCode::CLUSTER_NO_PEERS
                        || code == ErrorCode::CLUSTER_NOT_AVAILABLE)
                }
                _ => false,
            };
            if fatal {
                Err(Attempt::Fatal(stream_error(err.to_string())))
            } else {
                Err(Attempt::Retry(format!(
                    "creating stream {} with {} replicas: {err}",
                    config.stream, config.replicas
                )))
            }
        }
    }
}

/// The stream the link creates: the log, kept whole.
fn stream_config(config: &LinkConfig) -> StreamConfig {
    StreamConfig {
        name: config.stream.clone(),
        description: Some("natter's replicated log (issue 16)".into()),
        subjects: vec![config.subject.clone()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: DUPLICATE_WINDOW,
        discard: DiscardPolicy::Old,
        max_messages: -1,
        max_bytes: -1,
        max_messages_per_subject: -1,
        max_consumers: -1,
        max_age: Duration::ZERO,
        ..Default::default()
    }
}

/// Why an existing stream cannot hold the log, if it cannot.
fn fits(existing: &StreamConfig, config: &LinkConfig) -> Result<(), String> {
    if !existing
        .subjects
        .iter()
        .any(|pattern| subject_matches(pattern, &config.subject))
    {
        return Err(format!(
            "its subjects {:?} do not include {}",
            existing.subjects, config.subject
        ));
    }
    if existing.duplicate_window < DUPLICATE_WINDOW {
        return Err(format!(
            "its duplicate window is {:?}, and retried appends need {DUPLICATE_WINDOW:?}",
            existing.duplicate_window
        ));
    }
    let limited = existing.max_messages > 0
        || existing.max_bytes > 0
        || existing.max_messages_per_subject > 0
        || !existing.max_age.is_zero()
        || existing.retention != RetentionPolicy::Limits;
    if limited {
        return Err(
            "it drops old entries (a size, age or retention limit), and every node must \
             be able to read the log from its first entry"
                .into(),
        );
    }
    Ok(())
}

/// Pauses between attempts: 50 ms, doubling up to [`MAX_BACKOFF`].
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff(Duration::from_millis(50))
    }
    pub(super) fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        now
    }
}

/// Publishes the appends in order, each only after the previous one was
/// acknowledged (or given up on). Ends when the dispatcher drops `appends`.
async fn append_all(
    js: jetstream::Context,
    config: Arc<LinkConfig>,
    mut appends: mpsc::UnboundedReceiver<(String, Vec<u8>, tokio::sync::OwnedSemaphorePermit)>,
    from_nats: Sender<FromNats>,
) {
    while let Some((msg_id, payload, _permit)) = appends.recv().await {
        if let Err(why) = append(&js, &config, &msg_id, Bytes::from(payload)).await {
            log::warn!("cluster: {why}");
            if from_nats.send(FromNats::Failed(why)).await.is_err() {
                return;
            }
        }
    }
}

/// Publishes one entry with its `Nats-Msg-Id` until JetStream acknowledges
/// it; the reason, if it gives up.
async fn append(
    js: &jetstream::Context,
    config: &LinkConfig,
    msg_id: &str,
    payload: Bytes,
) -> Result<(), String> {
    let first_try = Instant::now();
    let mut backoff = Backoff::new();
    loop {
        let published = js
            .send_publish(
                config.subject.clone(),
                PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(msg_id),
            )
            .await;
        let acked = match published {
            Ok(ack) => ack.await,
            Err(err) => Err(err),
        };
        let err = match acked {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let why = match err.kind() {
            PublishErrorKind::MaxPayloadExceeded => {
                return Err(format!(
                    "append {msg_id} was not stored: its {} bytes are more than NATS's \
                     max_payload ({err}); raise max_payload in nats-server's config",
                    payload.len()
                ))
            }
            // No server answered: a stream leader election looks like
            // this too, so only ask whether the stream is gone once it
            // has lasted, and not for long (the question goes unanswered
            // while JetStream's meta leader is being elected).
            PublishErrorKind::StreamNotFound
                if first_try.elapsed() >= STREAM_GONE_AFTER
                    && timeout(GONE_CHECK_TIMEOUT, stream_is_gone(js, config)).await
                        == Ok(true) =>
            {
                return Err(format!(
                    "append {msg_id} was not stored: the stream {} no longer exists; \
                     restart every node of the cluster (the log is lost)",
                    config.stream
                ))
            }
            PublishErrorKind::Other => match jetstream_error(&err) {
                Some(js_err) if js_err.code() < 500 => {
                    return Err(format!(
                        "append {msg_id} was not stored: JetStream refused it ({js_err})"
                    ))
                }
                _ => err.to_string(),
            },
            _ => err.to_string(),
        };
        if first_try.elapsed() >= config.retry_for {
            return Err(format!(
                "append {msg_id} was not acknowledged in {:?} (last: {why}); it may or may \
                 not be in the log",
                config.retry_for
            ));
        }
        log::debug!("cluster: append {msg_id} again: {why}");
        sleep(backoff.next()).await;
    }
}

/// The JetStream API error inside a publish error, if there is one.
fn jetstream_error(err: &jetstream::context::PublishError) -> Option<&jetstream::Error> {
    std::error::Error::source(err)?.downcast_ref::<jetstream::Error>()
}

/// Whether JetStream says the stream does not exist (not merely that no
/// server answered: that is what a leader election looks like too).
pub(super) async fn stream_is_gone(js: &jetstream::Context, config: &LinkConfig) -> bool {
    match js.get_stream(&config.stream).await {
        Err(err) => matches!(
            err.kind(),
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND
        ),
        Ok(_) => false,
    }
}

/// async-nats's connection events as `Down` and `Up`, each only on a change.
/// Each reconnection also bumps `reconnects`.
async fn watch_connection(
    mut events: mpsc::UnboundedReceiver<Event>,
    reconnects: watch::Sender<u64>,
    from_nats: Sender<FromNats>,
) {
    let mut up = true;
    while let Some(event) = events.recv().await {
        let change = match event {
            Event::Disconnected if up => FromNats::Down,
            Event::Connected if !up => FromNats::Up,
            Event::Connected | Event::Disconnected => continue,
            Event::SlowConsumer(_) | Event::ServerError(_) | Event::ClientError(_) => {
                log::warn!("cluster: NATS: {event}");
                continue;
            }
            Event::LameDuckMode | Event::Draining | Event::Closed => {
                log::info!("cluster: NATS: {event}");
                continue;
            }
        };
        up = change == FromNats::Up;
        if up {
            reconnects.send_modify(|count| *count += 1);
        }
        log::info!(
            "cluster: NATS connection {}",
            if up { "back" } else { "lost" }
        );
        if from_nats.send(change).await.is_err() {
            return;
        }
    }
}

/// Every heartbeat on `<prefix>.<tag>` as [`FromNats::Heartbeat`].
async fn hear_heartbeats(mut heartbeats: async_nats::Subscriber, from_nats: Sender<FromNats>) {
    while let Some(message) = heartbeats.next().await {
        let tag = message
            .subject
            .as_str()
            .rsplit('.')
            .next()
            .and_then(|tag| tag.parse().ok());
        let Some(tag) = tag else {
            log::debug!("cluster: ignoring heartbeat on {}", message.subject);
            continue;
        };
        if from_nats.send(FromNats::Heartbeat { tag }).await.is_err() {
            return;
        }
    }
}

/// Publishes `<prefix>.<tag>` every period once a tag is set; at once when
/// the tag is set or changes.
async fn beat(
    client: async_nats::Client,
    config: Arc<LinkConfig>,
    mut tag: watch::Receiver<Option<u64>>,
) {
    let mut tick = tokio::time::interval(config.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changed =
            futures_lite::future::or(async { tag.changed().await.map(|()| true) }, async {
                tick.tick().await;
                Ok(false)
            })
            .await;
        match changed {
            Err(_) => return,
            Ok(true) => tick.reset(),
            Ok(false) => {}
        }
        let Some(current) = *tag.borrow_and_update() else {
            continue;
        };
        let subject = format!("{}.{current}", config.heartbeat_subject_prefix);
        if let Err(err) = client.publish(subject, Bytes::new()).await {
            log::debug!("cluster: heartbeat not sent: {err}");
        }
    }
}
