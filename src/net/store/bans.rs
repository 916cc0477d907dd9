//! Server bans (KLINE) in the store: the `server_bans` table, loaded at
//! startup and changed in the same transactions as history.
//!
//! Owns the rows. Holds only what the core hands over. Must never run on
//! the async executor, and never decide what is banned or expired: the
//! core does, against the clock of its events.

use crate::core::{ServerBan, Timestamp};
use rusqlite::{params, Connection, Transaction};

/// A change to one server ban, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerBanChange {
    /// Added or replaced (same mask).
    Save(ServerBan),
    /// Lifted or expired (the normalized mask).
    Delete(String),
}

/// Every server ban, in mask order (expired ones too: the core sweeps them).
pub(super) fn load_server_bans(db: &Connection) -> rusqlite::Result<Vec<ServerBan>> {
    db.prepare("SELECT mask, reason, set_by, set_at, expires_at FROM server_bans ORDER BY mask")?
        .query_map([], |r| {
            Ok(ServerBan {
                mask: r.get(0)?,
                reason: r.get(1)?,
                set_by: r.get(2)?,
                set_at: Timestamp(r.get::<_, i64>(3)?.max(0) as u64),
                expires_at: r
                    .get::<_, Option<i64>>(4)?
                    .map(|at| Timestamp(at.max(0) as u64)),
            })
        })?
        .collect()
}

/// Applies `changes` inside `tx`, in order.
pub(super) fn save_server_bans(
    tx: &Transaction,
    changes: &[ServerBanChange],
) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO server_bans (mask, reason, set_by, set_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut delete = tx.prepare_cached("DELETE FROM server_bans WHERE mask = ?1")?;
    for change in changes {
        match change {
            ServerBanChange::Save(b) => {
                upsert.execute(params![
                    b.mask,
                    b.reason,
                    b.set_by,
                    i64::try_from(b.set_at.0).unwrap_or(i64::MAX),
                    b.expires_at
                        .map(|at| i64::try_from(at.0).unwrap_or(i64::MAX)),
                ])?;
            }
            ServerBanChange::Delete(mask) => {
                delete.execute(params![mask])?;
            }
        }
    }
    Ok(())
}
