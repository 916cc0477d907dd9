//! The store keeps more than history: accounts (and their private
//! messages), registered rooms, server bans and read markers, each saved,
//! changed, deleted and restored.

use super::*;

#[test]
fn private_messages_of_accounts_are_restored_with_their_accounts_and_a_dropped_account_loses_them()
{
    let (_dir, options) = temp_db("private");
    let mut w = worker(&options);
    let accounts = [account("alice"), account("bob")].map(AccountChange::Save);
    save_accounts(&mut w, &accounts);
    let mut kept = record(1, HistoryKind::Private, "bob", "for alice and bob");
    kept.from_account = Some("alice".into());
    kept.to_account = Some("bob".into());
    let anonymous = record(2, HistoryKind::Private, "carol", "nobody's account");
    w.write(&[kept.clone(), anonymous]).expect("write");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(restored.records, [kept.clone()]);
    // alice drops her account: the message stays bob's alone.
    let changes = [AccountChange::Delete("alice".into())];
    save_accounts(&mut w, &changes);
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let bobs = HistoryRecord {
        from_account: None,
        ..kept
    };
    assert_eq!(restored.records, [bobs]);
}

/// Commits `changes` to accounts, alone.
fn save_accounts(w: &mut Worker, changes: &[AccountChange]) {
    let changes = Changes {
        accounts: changes,
        ..Changes::default()
    };
    w.write_all(&Frames::default(), changes)
        .expect("save the accounts");
}

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into(),
        scram: String::new(),
        email: None,
        registered_at: Timestamp(1_000),
        certfps: Vec::new(),
    }
}

#[test]
fn a_private_message_whose_account_row_is_gone_is_not_restored_to_that_name() {
    // As a crash between the two files' commits of an account deletion
    // leaves it: the account gone from state.sqlite3, the message still
    // naming it in history.sqlite3.
    let (_dir, options) = temp_db("private-torn");
    let mut w = worker(&options);
    let accounts = [AccountChange::Save(account("Bob"))];
    save_accounts(&mut w, &accounts);
    let mut to_bob = record(1, HistoryKind::Private, "bob", "for bob");
    to_bob.from_account = Some("alice".into());
    to_bob.to_account = Some("bob".into());
    let mut alices = record(2, HistoryKind::Private, "carol", "alice's alone");
    alices.from_account = Some("alice".into());
    w.write(&[to_bob.clone(), alices]).expect("write");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let bobs = HistoryRecord {
        from_account: None,
        ..to_bob
    };
    assert_eq!(restored.records, [bobs], "alice's end is nobody's");
}

#[test]
fn accounts_are_saved_changed_deleted_and_restored_without_any_password() {
    let (_dir, options) = temp_db("accounts");
    let mut w = worker(&options);
    let alice = Account {
        name: "Alice".into(),
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into(),
        scram: String::new(),
        email: Some("alice@example.org".into()),
        registered_at: Timestamp(1_000),
        certfps: vec!["ab".into(), "cd".into()],
    };
    let bob = Account {
        name: "bob".into(),
        email: None,
        certfps: Vec::new(),
        ..alice.clone()
    };
    let changed = Account {
        certfps: vec!["ef".into()],
        ..alice.clone()
    };
    let changes = [
        AccountChange::Save(alice),
        AccountChange::Save(bob),
        AccountChange::Save(changed.clone()),
        AccountChange::Delete("bob".into()),
    ];
    save_accounts(&mut w, &changes);
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(restored.accounts, [changed]);
}

#[test]
fn registered_rooms_are_saved_changed_deleted_and_restored_as_json() {
    use crate::core::{AccessLevel, Room};
    use crate::proto::{ChannelMode, ModeChange};
    let (_dir, options) = temp_db("rooms");
    let mut w = worker(&options);
    let mut room = Room::new("#Rust", Timestamp(1_000));
    room.join(crate::core::ConnId(1));
    let ban = ModeChange {
        set: true,
        mode: ChannelMode::Ban,
        arg: Some("eve".into()),
    };
    assert!(room.apply(&ban, None, "alice", Timestamp(2_000)).is_ok());
    let rust = RegisteredRoom::new(&room, "alice", Timestamp(3_000));
    let mut changed = rust.clone();
    changed.set_access("bob", AccessLevel::Voice, "alice", Timestamp(4_000));
    changed.modes.moderated = true;
    let other = RegisteredRoom::new(&Room::new("#gone", Timestamp(0)), "bob", Timestamp(0));
    let changes = [
        RoomChange::Save(Box::new(rust)),
        RoomChange::Save(Box::new(other)),
        RoomChange::Save(Box::new(changed.clone())),
        RoomChange::Delete("#gone".into()),
    ];
    let changes = Changes {
        rooms: &changes,
        ..Changes::default()
    };
    w.write_all(&Frames::default(), changes).expect("write");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(restored.rooms, [changed]);
    let state: String =
        w.db.query_row(
            "SELECT state FROM registered_rooms WHERE name = '#rust'",
            [],
            |r| r.get(0),
        )
        .expect("one row under the case-folded name");
    assert!(state.contains(r#""founder":"alice""#), "{state}");
    assert!(state.contains(r#""level":"voice""#), "{state}");
    assert!(state.contains(r#""mask":"eve!*@*""#), "{state}");
}

#[test]
fn an_unreadable_room_row_is_skipped_and_the_others_come_back() {
    let (_dir, options) = temp_db("bad-room");
    let w = worker(&options);
    let good = RegisteredRoom::new(
        &crate::core::Room::new("#ok", Timestamp(0)),
        "alice",
        Timestamp(0),
    );
    let json = serde_json::to_string(&good).expect("serializes");
    w.db.execute(
        "INSERT INTO registered_rooms (name, state) VALUES ('#bad', '{not json'), ('#ok', ?1)",
        [json],
    )
    .expect("insert");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(restored.rooms, [good]);
}

#[test]
fn server_bans_are_saved_replaced_deleted_and_restored_with_their_expiry() {
    let (_dir, options) = temp_db("bans");
    let mut w = worker(&options);
    let ban = |mask: &str, expires_at: Option<u64>| ServerBan {
        mask: mask.into(),
        reason: "spam".into(),
        set_by: "alice".into(),
        set_at: Timestamp(1_000),
        expires_at: expires_at.map(Timestamp),
    };
    let replaced = ServerBan {
        reason: "more spam".into(),
        ..ban("*!*@192.0.2.0/24", None)
    };
    let changes = [
        ServerBanChange::Save(ban("*!*@192.0.2.0/24", None)),
        ServerBanChange::Save(ban("*!eve@*", Some(61_000))),
        ServerBanChange::Save(ban("bob!*@*", None)),
        ServerBanChange::Save(replaced.clone()),
        ServerBanChange::Delete("bob!*@*".into()),
    ];
    let changes = Changes {
        bans: &changes,
        ..Changes::default()
    };
    w.write_all(&Frames::default(), changes).expect("write");
    drop(w);
    let w = worker(&options);
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    assert_eq!(
        restored.server_bans,
        [replaced, ban("*!eve@*", Some(61_000))]
    );
}

#[test]
fn read_markers_are_replaced_forgotten_and_restored_least_recently_set_first() {
    let (_dir, options) = temp_db("markers");
    let mut w = worker(&options);
    w.write_all(
        &Frames::default(),
        Changes {
            markers: &[
                marker("x", "#a", 10),
                marker("y", "bob", 20),
                marker("x", "#a", 30),
                marker("x", "#gone", 40),
                MarkerChange::Forget {
                    owner: "x".into(),
                    target: "#gone".into(),
                },
            ],
            ..Changes::default()
        },
    )
    .expect("write");
    let restored = load(&w.db, &options, Timestamp(0)).expect("load");
    let markers: Vec<(&str, &str, u64)> = restored
        .read_markers
        .iter()
        .map(|m| (m.owner.as_str(), m.target.as_str(), m.at.0))
        .collect();
    assert_eq!(markers, [("y", "bob", 20), ("x", "#a", 30)]);
}
