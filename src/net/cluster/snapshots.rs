//! The snapshot keeper's side of the NATS link (runs on the link's
//! thread): the object store that holds snapshots of the replicated state,
//! the newest one read at start, each new one stored, the old ones deleted
//! and the log trimmed behind the older of the newest two.
//!
//! Must never trim the log past an entry a node starting from a kept
//! snapshot, or one less than an interval behind, still needs; never
//! `unwrap` on anything NATS sends.

use super::{FromNats, LinkConfig};
use async_channel::Sender;
use async_nats::jetstream;
use async_nats::jetstream::object_store::{self, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use futures_lite::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

/// The snapshot store, after looking it up or creating it (replicated as
/// the log is).
pub(super) async fn ensure_snapshots(
    js: &jetstream::Context,
    config: &LinkConfig,
) -> Result<ObjectStore, String> {
    if let Ok(store) = js.get_object_store(&config.snapshots).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: config.snapshots.clone(),
        description: Some("natter's snapshots of the replicated state (issue 16)".into()),
        num_replicas: config.replicas,
        storage: StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|err| format!("creating the object store {}: {err}", config.snapshots))
}

/// A snapshot's name in the store: its sequence, zero-padded (names sort
/// as their sequences do).
fn snapshot_name(seq: u64) -> String {
    format!("core-{seq:020}")
}

/// The sequences of the snapshots in `store`, oldest first.
async fn snapshot_seqs(store: &ObjectStore) -> Result<Vec<u64>, String> {
    let mut list = store.list().await.map_err(|e| e.to_string())?;
    let mut seqs = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.map_err(|e| e.to_string())?;
        if info.deleted {
            continue;
        }
        if let Some(seq) = info.name.strip_prefix("core-").and_then(|n| n.parse().ok()) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The newest snapshot in `store`, if any.
pub(super) async fn newest_snapshot(store: &ObjectStore) -> Result<Option<(u64, Vec<u8>)>, String> {
    use tokio::io::AsyncReadExt;
    let Some(&seq) = snapshot_seqs(store).await?.last() else {
        return Ok(None);
    };
    let mut object = store
        .get(snapshot_name(seq))
        .await
        .map_err(|e| format!("reading snapshot {seq}: {e}"))?;
    let mut bytes = Vec::new();
    object
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("reading snapshot {seq}: {e}"))?;
    Ok(Some((seq, bytes)))
}

/// The snapshot keeper: stores each snapshot the node hands over (only the
/// newest, when several wait), then keeps the newest two and trims the log
/// up to the older of them. A snapshot that fails to store (NATS lost its
/// quorum, a request timed out on a busy machine) is tried again every
/// [`RETRY_EVERY`] until a newer one comes or [`LinkConfig::retry_for`]
/// has passed; only then is the failure reported.
pub(super) async fn keep_snapshots(
    js: jetstream::Context,
    store: ObjectStore,
    config: Arc<LinkConfig>,
    mut snapshots: watch::Receiver<Option<(u64, Vec<u8>)>>,
    from_nats: Sender<FromNats>,
) {
    while snapshots.changed().await.is_ok() {
        let Some((seq, payload)) = snapshots.borrow_and_update().clone() else {
            continue;
        };
        let first_try = Instant::now();
        let why = loop {
            match keep_snapshot(&js, &store, &config, seq, &payload).await {
                Ok(trimmed) => {
                    log::info!(
                        "cluster: snapshot at {seq} stored ({} bytes); log trimmed below {trimmed}",
                        payload.len()
                    );
                    break None;
                }
                Err(why) if first_try.elapsed() >= config.retry_for => break Some(why),
                Err(why) => {
                    log::warn!("cluster: the snapshot at entry {seq} was not stored yet ({why})");
                    // A newer snapshot makes this one moot: the outer loop
                    // takes it at once.
                    if timeout(RETRY_EVERY, snapshots.changed()).await.is_ok() {
                        snapshots.mark_changed();
                        break None;
                    }
                }
            }
        };
        if let Some(why) = why {
            let why = format!(
                "the snapshot at entry {seq} was not stored ({why}); the log is trimmed \
                 after the next one"
            );
            if from_nats.send(FromNats::Failed(why)).await.is_err() {
                return;
            }
        }
    }
}

/// How long the keeper waits before trying a failed snapshot again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Stores one snapshot, deletes all but the newest two, and trims the log
/// below the older one; returns where the log now starts.
async fn keep_snapshot(
    js: &jetstream::Context,
    store: &ObjectStore,
    config: &LinkConfig,
    seq: u64,
    payload: &[u8],
) -> Result<u64, String> {
    let mut reader = payload;
    store
        .put(snapshot_name(seq).as_str(), &mut reader)
        .await
        .map_err(|e| e.to_string())?;
    let seqs = snapshot_seqs(store).await?;
    let keep_from = seqs.len().saturating_sub(2);
    for old in &seqs[..keep_from] {
        store
            .delete(snapshot_name(*old))
            .await
            .map_err(|e| format!("deleting snapshot {old}: {e}"))?;
    }
    // Every node that applied up to the older kept snapshot, or starts
    // from either, still finds every entry it needs.
    let Some(&older) = seqs.get(keep_from).filter(|_| seqs.len() >= 2) else {
        return Ok(1);
    };
    let stream = js
        .get_stream_no_info(&config.stream)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .purge()
        .sequence(older + 1)
        .await
        .map_err(|e| format!("trimming the log below {}: {e}", older + 1))?;
    Ok(older + 1)
}
