//! [`Replica`]: this node as a replica, its table ([`Storage`]) and its commit log's state.
//!
//! Every cell that changes the table is first written to the log (an `Append` effect) and only
//! then applied; the fsync policy decides when the log is synced. A replica answers a `Write`
//! with an ack only after the record's `Append` (and under `fsync: always` its `Sync`), so the
//! ack promises exactly what the policy says.

use super::cell::{Cell, NodeId};
use super::config::{Bug, FsyncPolicy, DEFAULT_FSYNC_PERIOD};
use super::control::EventKind;
use super::message::Message;
use super::outbox::{Ctx, Dest, Effect, Timer};
use super::storage::Storage;

/// This node's replica: the cells it stores and whether its log has unsynced records.
#[derive(Debug)]
pub struct Replica {
    storage: Storage,
    /// Records appended since the last sync.
    unsynced: bool,
}

impl Replica {
    /// A replica with the table rebuilt from the commit log (nothing unsynced).
    pub(super) fn new(storage: Storage) -> Replica {
        Replica {
            storage,
            unsynced: false,
        }
    }

    /// The stored cell of `key`.
    pub(super) fn get(&self, key: &str) -> Option<&Cell> {
        self.storage.get(key)
    }

    /// The table, for reading (anti-entropy's digests).
    pub(super) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Arms the periodic sync, under `fsync: periodic`.
    pub(super) fn start(&self, cx: &mut Ctx) {
        if let FsyncPolicy::Periodic { period } = cx.config().fsync {
            let at = cx.now().mono + period.as_micros() as u64;
            cx.out().set_timer(at, Timer::Fsync);
        }
    }

    /// The sync timer fired: sync what is pending and, under `fsync: periodic`, arm it again.
    pub(super) fn on_fsync_timer(&mut self, cx: &mut Ctx) {
        if self.unsynced {
            self.sync(cx);
        }
        self.start(cx);
    }

    /// A coordinator's (or repairer's, or hint holder's) `Write`: apply, sync as the policy
    /// says, then ack.
    pub(super) fn on_write(&mut self, cx: &mut Ctx, from: NodeId, req: u64, key: &str, cell: Cell) {
        self.apply(cx, key, cell);
        self.sync_if_always(cx);
        cx.out().send(Dest::Node(from), Message::WriteAck { req });
    }

    /// A coordinator's `Read`: this replica's cell.
    pub(super) fn on_read(&self, cx: &mut Ctx, from: NodeId, req: u64, key: &str) {
        let cell = self.storage.get(key).copied();
        cx.out()
            .send(Dest::Node(from), Message::ReadReply { req, cell });
    }

    /// A client's `LocalRead`: this replica's cell, without coordination.
    pub(super) fn on_local_read(&self, cx: &mut Ctx, from: Dest, req: u64, key: &str) {
        let cell = self.storage.get(key).copied();
        cx.out().send(from, Message::LocalCell { req, cell });
    }

    /// Merges a cell into this replica: logged before applied; returns whether it was newer.
    pub(super) fn apply(&mut self, cx: &mut Ctx, key: &str, cell: Cell) -> bool {
        if !self.storage.would_apply(key, &cell) {
            return false;
        }
        let out = cx.out();
        out.push(Effect::Append {
            key: key.to_string(),
            cell,
        });
        out.count().log_appends += 1;
        self.unsynced = true;
        self.storage.apply(key, cell);
        if out.tracing() {
            out.trace(EventKind::Applied {
                key: key.to_string(),
                timestamp: cell.timestamp,
                writer: cell.writer,
                tombstone: cell.is_tombstone(),
            });
        }
        true
    }

    /// Under `fsync: always`, syncs what was appended before anything is acknowledged.
    pub(super) fn sync_if_always(&mut self, cx: &mut Ctx) {
        if cx.config().fsync == FsyncPolicy::Always && self.unsynced {
            // Bug seam (Bug::AckBeforeSync): the sync is put off to a timer, so the ack that
            // follows leaves before the log is durable.
            if cx.bug(Bug::AckBeforeSync) {
                let at = cx.now().mono + DEFAULT_FSYNC_PERIOD.as_micros() as u64;
                cx.out().set_timer(at, Timer::Fsync);
                return;
            }
            self.sync(cx);
        }
    }

    /// Drops the tombstones past their grace period (on every tick).
    pub(super) fn drop_expired_tombstones(&mut self, cx: &mut Ctx) {
        let grace = cx.config().tombstone_grace.as_micros() as u64;
        let now = cx.now().wall.max(0) as u64;
        for key in self.storage.drop_expired_tombstones(now, grace) {
            cx.out().count().tombstones_dropped += 1;
            cx.out().trace(EventKind::TombstoneDropped { key });
        }
    }

    fn sync(&mut self, cx: &mut Ctx) {
        let out = cx.out();
        out.push(Effect::Sync);
        out.count().log_syncs += 1;
        self.unsynced = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::config::StoreConfig;
    use crate::store::testkit::{at, cell, client, cx};
    use std::time::Duration;

    fn config(fsync: FsyncPolicy) -> StoreConfig {
        StoreConfig {
            fsync,
            ..StoreConfig::default()
        }
    }

    fn append(key: &str, cell: Cell) -> Effect {
        Effect::Append {
            key: key.to_string(),
            cell,
        }
    }

    #[test]
    fn apply_keeps_the_last_write_winner_and_logs_only_what_it_applies() {
        let mut cx = cx(0, &StoreConfig::default(), 10);
        let mut r = Replica::new(Storage::new());
        let (old, new) = (cell(5, 1, Some(1)), cell(7, 0, Some(2)));
        assert!(r.apply(&mut cx, "k", old));
        assert!(r.apply(&mut cx, "k", new));
        // An older cell, the same cell again, and an equal timestamp from a lower writer all
        // lose: nothing is logged for them.
        assert!(!r.apply(&mut cx, "k", old));
        assert!(!r.apply(&mut cx, "k", new));
        assert!(!r.apply(&mut cx, "k", cell(7, 0, Some(3))));
        // An equal timestamp from a higher writer wins the tie.
        let tie = cell(7, 2, None);
        assert!(r.apply(&mut cx, "k", tie));
        assert_eq!(
            cx.out().take(),
            [append("k", old), append("k", new), append("k", tie)]
        );
        assert_eq!(r.get("k"), Some(&tie));
        assert_eq!(cx.outbox().counters().log_appends, 3);
    }

    #[test]
    fn a_write_is_appended_and_synced_under_always_before_its_ack() {
        let mut cx = cx(1, &config(FsyncPolicy::Always), 10);
        let mut r = Replica::new(Storage::new());
        let c = cell(5, 0, Some(1));
        r.on_write(&mut cx, NodeId(0), 42, "k", c);
        let ack = Effect::Send {
            to: Dest::Node(NodeId(0)),
            msg: Message::WriteAck { req: 42 },
        };
        assert_eq!(cx.out().take(), [append("k", c), Effect::Sync, ack.clone()]);
        // A write it already has is acked again (the first ack may have been lost), with
        // nothing to log or sync.
        r.on_write(&mut cx, NodeId(0), 42, "k", c);
        assert_eq!(cx.out().take(), [ack]);
        assert_eq!(cx.outbox().counters().log_syncs, 1);
    }

    #[test]
    fn under_periodic_fsync_the_ack_goes_before_the_sync_and_the_timer_syncs() {
        let period = Duration::from_millis(50);
        let mut cx = cx(1, &config(FsyncPolicy::Periodic { period }), 10);
        let mut r = Replica::new(Storage::new());
        r.start(&mut cx);
        let timer = Effect::SetTimer {
            at: 60_000,
            timer: Timer::Fsync,
        };
        assert_eq!(cx.out().take(), [timer]);
        let c = cell(5, 0, Some(1));
        r.on_write(&mut cx, NodeId(3), 7, "k", c);
        let ack = Effect::Send {
            to: Dest::Node(NodeId(3)),
            msg: Message::WriteAck { req: 7 },
        };
        assert_eq!(cx.out().take(), [append("k", c), ack]);
        cx.set_now(at(60));
        r.on_fsync_timer(&mut cx);
        let next = Effect::SetTimer {
            at: 110_000,
            timer: Timer::Fsync,
        };
        assert_eq!(cx.out().take(), [Effect::Sync, next]);
        // Nothing appended since: the timer only arms itself again.
        cx.set_now(at(110));
        r.on_fsync_timer(&mut cx);
        assert!(!cx.out().take().contains(&Effect::Sync));
    }

    #[test]
    fn under_never_nothing_is_synced() {
        let mut cx = cx(1, &config(FsyncPolicy::Never), 10);
        let mut r = Replica::new(Storage::new());
        r.start(&mut cx);
        let c = cell(5, 0, None);
        r.on_write(&mut cx, NodeId(0), 1, "k", c);
        r.sync_if_always(&mut cx);
        let effects = cx.out().take();
        assert_eq!(effects[0], append("k", c));
        assert!(!effects.contains(&Effect::Sync), "{effects:?}");
        assert!(!effects.iter().any(|e| matches!(e, Effect::SetTimer { .. })));
    }

    #[test]
    fn reads_answer_the_stored_cell_to_whoever_asked() {
        let mut cx = cx(2, &StoreConfig::default(), 10);
        let mut r = Replica::new(Storage::new());
        let c = cell(5, 0, Some(9));
        r.apply(&mut cx, "k", c);
        cx.out().take();
        r.on_read(&mut cx, NodeId(4), 11, "k");
        r.on_read(&mut cx, NodeId(4), 12, "absent");
        r.on_local_read(&mut cx, client(), 13, "k");
        assert_eq!(
            cx.out().take(),
            [
                Effect::Send {
                    to: Dest::Node(NodeId(4)),
                    msg: Message::ReadReply {
                        req: 11,
                        cell: Some(c)
                    }
                },
                Effect::Send {
                    to: Dest::Node(NodeId(4)),
                    msg: Message::ReadReply {
                        req: 12,
                        cell: None
                    }
                },
                Effect::Send {
                    to: client(),
                    msg: Message::LocalCell {
                        req: 13,
                        cell: Some(c)
                    }
                },
            ]
        );
    }

    #[test]
    fn tombstones_are_dropped_once_their_grace_has_passed() {
        let config = StoreConfig {
            tombstone_grace: Duration::from_millis(100),
            ..StoreConfig::default()
        };
        let mut cx = cx(0, &config, 10);
        let mut r = Replica::new(Storage::new());
        r.apply(&mut cx, "gone", cell(10_000, 0, None));
        r.apply(&mut cx, "kept", cell(10_000, 0, Some(1)));
        cx.set_now(at(100));
        r.drop_expired_tombstones(&mut cx);
        assert!(r.get("gone").is_some(), "90 ms old: within its grace");
        cx.set_now(at(111));
        r.drop_expired_tombstones(&mut cx);
        assert!(r.get("gone").is_none());
        assert!(r.get("kept").is_some());
        assert_eq!(cx.outbox().counters().tombstones_dropped, 1);
    }
}
