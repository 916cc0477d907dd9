//! The NATS link's reader (runs on the link's thread): every entry of the
//! log handed over in order, exactly once, through an ordered consumer
//! that is re-created whenever it stalls, fails or skips.
//!
//! Must never hand over an entry out of order, twice, or past a gap: a gap
//! where the log was trimmed is reported as [`FromNats::Behind`] and ends
//! the reading.

use super::nats::{stream_is_gone, Backoff};
use super::{FromNats, LinkConfig};
use async_channel::Sender;
use async_nats::jetstream;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures_lite::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::sleep;

/// The ordered consumer's longest pull: its idle heartbeat is half of it,
/// and two missed heartbeats make it re-create the consumer, so a consumer
/// lost with a NATS server is replaced within about twice this.
const PULL_EXPIRES: Duration = Duration::from_secs(2);
/// How long the reader waits for an entry before it asks whether the log
/// is ahead of it (then its consumer is stuck, and it starts another).
const QUIET_CHECK: Duration = Duration::from_secs(3);

/// Hands every entry of the stream to `from_nats`, in order, exactly once:
/// an ordered consumer from the entry after the last one handed over,
/// re-created whenever it fails or skips.
pub(super) async fn read_log(
    js: jetstream::Context,
    config: Arc<LinkConfig>,
    after: u64,
    mut reconnects: watch::Receiver<u64>,
    from_nats: Sender<FromNats>,
) {
    let mut last = after;
    let mut backoff = Backoff::new();
    let mut told_gone = false;
    loop {
        let before = last;
        match follow(&js, &config, &mut last, &mut reconnects, &from_nats).await {
            Stop::Closed => return,
            Stop::Behind { first } => {
                log::error!("cluster: the log was trimmed past {last} (it starts at {first})");
                let _ = from_nats
                    .send(FromNats::Behind {
                        applied: last,
                        first,
                    })
                    .await;
                return;
            }
            Stop::Retry(why) => {
                log::debug!("cluster: reading the log again after {last}: {why}");
            }
        }
        if last > before {
            backoff = Backoff::new();
        }
        if !told_gone && stream_is_gone(&js, &config).await {
            told_gone = true;
            let why = format!(
                "the stream {} no longer exists; restart every node of the cluster",
                config.stream
            );
            log::error!("cluster: {why}");
            if from_nats.send(FromNats::Failed(why)).await.is_err() {
                return;
            }
        }
        sleep(backoff.next()).await;
    }
}

/// Why [`follow`] returned.
enum Stop {
    /// Nobody reads `from_nats` any more.
    Closed,
    /// The consumer failed; start another.
    Retry(String),
    /// The entries after the last one handed over were trimmed away.
    Behind { first: u64 },
}

/// Reads the log after `last` with one ordered consumer, advancing `last`.
async fn follow(
    js: &jetstream::Context,
    config: &LinkConfig,
    last: &mut u64,
    reconnects: &mut watch::Receiver<u64>,
    from_nats: &Sender<FromNats>,
) -> Stop {
    reconnects.mark_unchanged();
    let stream = match js.get_stream_no_info(&config.stream).await {
        Ok(stream) => stream,
        Err(err) => return Stop::Retry(err.to_string()),
    };
    let deliver_policy = match *last {
        0 => DeliverPolicy::All,
        seq => DeliverPolicy::ByStartSequence {
            start_sequence: seq + 1,
        },
    };
    let consumer = match stream
        .create_consumer(OrderedConfig {
            deliver_policy,
            max_expires: PULL_EXPIRES,
            ..OrderedConfig::default()
        })
        .await
    {
        Ok(consumer) => consumer,
        Err(err) => return Stop::Retry(format!("creating a consumer: {err}")),
    };
    let mut messages = match consumer.messages().await {
        Ok(messages) => messages,
        Err(err) => return Stop::Retry(format!("pulling: {err}")),
    };
    loop {
        let next = futures_lite::future::or(
            async { Next::Message(messages.next().await) },
            futures_lite::future::or(
                async {
                    if reconnects.changed().await.is_err() {
                        // The watcher is gone (the link is closing).
                        std::future::pending::<()>().await;
                    }
                    Next::Reconnected
                },
                async {
                    sleep(QUIET_CHECK).await;
                    Next::Quiet
                },
            ),
        )
        .await;
        let message = match next {
            // After a reconnection, async-nats's ordered consumer asks for
            // its consumer's info, five times with a timeout each, before
            // it re-creates it (half a minute when that consumer died with
            // a server): re-creating it at once is quicker.
            Next::Reconnected => return Stop::Retry("reconnected".into()),
            // A consumer lost with a NATS server that was not ours is
            // noticed by async-nats only after missed heartbeats and
            // retries (10 to 30 s): when the log has entries we have not
            // seen and the consumer is quiet, start another at once.
            Next::Quiet => match js.get_stream(&config.stream).await {
                Ok(stream) if stream.cached_info().state.last_sequence > *last => {
                    return Stop::Retry(format!(
                        "the consumer is quiet at {last} and the log is at {}",
                        stream.cached_info().state.last_sequence
                    ))
                }
                _ => continue,
            },
            Next::Message(None) => return Stop::Retry("the consumer ended".into()),
            Next::Message(Some(Err(err))) => return Stop::Retry(err.to_string()),
            Next::Message(Some(Ok(message))) => message,
        };
        let seq = match message.info() {
            Ok(info) => info.stream_sequence,
            Err(err) => return Stop::Retry(format!("an entry without its sequence: {err}")),
        };
        if seq <= *last {
            continue; // already handed over
        }
        if seq != *last + 1 {
            // Trimmed behind a snapshot before this node read it, or a
            // consumer that skipped: the stream's first entry tells which.
            return match js.get_stream(&config.stream).await {
                Ok(stream) if stream.cached_info().state.first_sequence > *last + 1 => {
                    Stop::Behind {
                        first: stream.cached_info().state.first_sequence,
                    }
                }
                _ => Stop::Retry(format!("entry {seq} came after {last}")),
            };
        }
        let entry = FromNats::Entry {
            seq,
            payload: message.payload.to_vec(),
        };
        if from_nats.send(entry).await.is_err() {
            return Stop::Closed;
        }
        *last = seq;
    }
}

/// What [`follow`] waited for.
enum Next<M> {
    Message(Option<M>),
    Reconnected,
    Quiet,
}
