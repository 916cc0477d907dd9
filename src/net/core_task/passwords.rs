//! Password checks for the core task: argon2 on blocking threads, a few
//! at a time, with the answers handed back as events.
//!
//! Owns nothing of the chat's state; must never run a check on the core
//! task itself (each costs tens of milliseconds of CPU by design).

use super::*;

/// Most password checks running at once. argon2 costs ~19 MiB and tens of
/// milliseconds of one CPU per check, by design: more OPER attempts wait
/// for a turn instead of taking the machine's memory and cores.
const MAX_PASSWORD_CHECKS: usize = 2;

/// Runs [`Action::CheckPassword`] on blocking threads ([`smol::unblock`]),
/// [`MAX_PASSWORD_CHECKS`] at a time, and hands the answers back to the
/// core task as [`Event::PasswordChecked`].
pub(in crate::net) struct PasswordChecks {
    ex: Arc<Executor<'static>>,
    turns: Arc<Semaphore>,
    answers: Sender<Event>,
    pub(super) answered: Receiver<Event>,
}

impl PasswordChecks {
    pub(in crate::net) fn new(ex: Arc<Executor<'static>>) -> PasswordChecks {
        // One answer per check at most, and the core allows one check per
        // connection at a time: bounded by the connections.
        let (answers, answered) = async_channel::unbounded();
        PasswordChecks {
            ex,
            turns: Arc::new(Semaphore::new(MAX_PASSWORD_CHECKS)),
            answers,
            answered,
        }
    }

    pub(super) fn start(
        &self,
        conn: ConnId,
        hash: String,
        password: core::Secret,
        purpose: core::PasswordPurpose,
    ) {
        let turns = self.turns.clone();
        let answers = self.answers.clone();
        self.ex
            .spawn(async move {
                let turn = turns.acquire_arc().await;
                let (ok, upgrade) =
                    smol::unblock(move || password::check_and_upgrade(&hash, password.expose()))
                        .await;
                drop(turn);
                let checked = Event::PasswordChecked {
                    conn,
                    purpose,
                    ok,
                    upgrade: upgrade.map(Box::new),
                    now: now(),
                };
                let _ = answers.send(checked).await;
            })
            .detach();
    }

    /// Answers a check whose password is gone from the vault (its
    /// connection ended, or later ones pushed it out): it does not match.
    pub(super) fn refuse(&self, conn: ConnId, purpose: core::PasswordPurpose) {
        let refused = Event::PasswordChecked {
            conn,
            purpose,
            ok: false,
            upgrade: None,
            now: now(),
        };
        let _ = self.answers.try_send(refused);
    }

    /// Makes credentials from `password` off the core task, then feeds back
    /// [`Event::PasswordHashed`] (nothing if hashing failed: the core then
    /// never hears back, and the client's next try is refused as pending —
    /// so report it loudly; argon2 with valid parameters does not fail).
    pub(super) fn hash(&self, conn: ConnId, password: core::Secret, purpose: core::HashPurpose) {
        let turns = self.turns.clone();
        let answers = self.answers.clone();
        self.ex
            .spawn(async move {
                let turn = turns.acquire_arc().await;
                let made = smol::unblock(move || password::credentials(password.expose())).await;
                drop(turn);
                match made {
                    Ok(credentials) => {
                        let hashed = Event::PasswordHashed {
                            conn,
                            purpose,
                            credentials: Box::new(credentials),
                            now: now(),
                        };
                        let _ = answers.send(hashed).await;
                    }
                    Err(e) => eprintln!("natter-server: could not hash a new password: {e}"),
                }
            })
            .detach();
    }
}
