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
