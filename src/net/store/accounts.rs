//! Accounts in the store: the `accounts` table, loaded at startup and
//! changed in the same transactions as history.
//!
//! Owns the rows. Holds only what the core hands over (argon2id hashes and
//! SCRAM keys, never a password). Must never run on the async executor.

use crate::core::{Account, Timestamp};
use rusqlite::{params, Connection, Transaction};

/// A change to one account, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// Added or changed.
    Save(Account),
    /// Deleted (the case-folded name).
    Delete(String),
}

/// Every account, in name order.
pub(super) fn load_accounts(db: &Connection) -> rusqlite::Result<Vec<Account>> {
    db.prepare(
        "SELECT display, password_hash, scram, email, registered_at, certfps
         FROM accounts ORDER BY name",
    )?
    .query_map([], |r| {
        let certfps: String = r.get(5)?;
        Ok(Account {
            name: r.get(0)?,
            password_hash: r.get(1)?,
            scram: r.get(2)?,
            email: r.get(3)?,
            registered_at: Timestamp(r.get::<_, i64>(4)?.max(0) as u64),
            certfps: certfps
                .split(' ')
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect(),
        })
    })?
    .collect()
}

/// Applies `changes` inside `tx`, in order.
pub(super) fn save_accounts(tx: &Transaction, changes: &[AccountChange]) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO accounts
             (name, display, password_hash, scram, email, registered_at, certfps)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut delete = tx.prepare_cached("DELETE FROM accounts WHERE name = ?1")?;
    // A dropped account's private conversations are no longer anyone's:
    // whoever registers the name next must not get them back after a
    // restart. (lower() folds ASCII; account names are nicknames.)
    let mut orphan_from = tx.prepare_cached(
        "UPDATE events SET from_account = NULL
         WHERE from_account IS NOT NULL AND lower(from_account) = lower(?1)",
    )?;
    let mut orphan_to = tx.prepare_cached(
        "UPDATE events SET to_account = NULL
         WHERE to_account IS NOT NULL AND lower(to_account) = lower(?1)",
    )?;
    for change in changes {
        match change {
            AccountChange::Save(a) => {
                upsert.execute(params![
                    crate::proto::casefold(&a.name),
                    a.name,
                    a.password_hash,
                    a.scram,
                    a.email,
                    a.registered_at.0 as i64,
                    a.certfps.join(" "),
                ])?;
            }
            AccountChange::Delete(name) => {
                delete.execute(params![name])?;
                orphan_from.execute(params![name])?;
                orphan_to.execute(params![name])?;
            }
        }
    }
    Ok(())
}
