//! Registered rooms in the store: the `registered_rooms` table (one JSON
//! document per room, keyed by case-folded name), loaded at startup and
//! changed in the same transactions as history and accounts.
//!
//! Owns the rows and their JSON form (serde_json over
//! [`RegisteredRoom`]'s derived serde). Must never run on the async
//! executor, and never refuse to start over one unreadable row: it is
//! reported and skipped, and the other rooms come back.

use crate::core::RegisteredRoom;
use crate::proto::casefold;
use rusqlite::{params, Connection, Transaction};
use std::path::Path;

/// A change to one registered room, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChange {
    /// Registered, or changed (boxed: a room is far bigger than a name).
    Save(Box<RegisteredRoom>),
    /// Registration dropped (the case-folded name).
    Delete(String),
}

/// Every registered room, in name order. A row whose JSON cannot be read
/// is reported on stderr (naming the room and the file) and left out.
pub(super) fn load_rooms(db: &Connection, path: &Path) -> rusqlite::Result<Vec<RegisteredRoom>> {
    let rows: Vec<(String, String)> = db
        .prepare("SELECT name, state FROM registered_rooms ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rooms = Vec::with_capacity(rows.len());
    for (name, state) in rows {
        match serde_json::from_str::<RegisteredRoom>(&state) {
            Ok(room) => rooms.push(room),
            Err(e) => eprintln!(
                "natter-server: the registration of {name} in {} cannot be read ({e}); \
                 the room starts unregistered (fix or delete its row in registered_rooms)",
                path.display()
            ),
        }
    }
    Ok(rooms)
}

/// Applies `changes` inside `tx`, in order.
pub(super) fn save_rooms(tx: &Transaction, changes: &[RoomChange]) -> rusqlite::Result<()> {
    let mut upsert =
        tx.prepare_cached("INSERT OR REPLACE INTO registered_rooms (name, state) VALUES (?1, ?2)")?;
    let mut delete = tx.prepare_cached("DELETE FROM registered_rooms WHERE name = ?1")?;
    for change in changes {
        match change {
            RoomChange::Save(room) => {
                let state = serde_json::to_string(room)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                upsert.execute(params![casefold(&room.name), state])?;
            }
            RoomChange::Delete(name) => {
                delete.execute(params![name])?;
            }
        }
    }
    Ok(())
}
