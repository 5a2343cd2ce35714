//! Message traffic: where a traced message went, what became of it, and the counts by kind.
use serde::{Deserialize, Serialize};

use super::cell::NodeId;
use super::message::MessageKind;
use strum::EnumCount;

/// The receiver of a traced message: a node, or a client (`"client"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Receiver {
    /// A store node.
    Node(NodeId),
    /// A client socket.
    Client(ClientMark),
}

/// The mark of a client receiver: serialized as the string `"client"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientMark {
    /// A client.
    Client,
}

/// What became of a message the moment it left its sender's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Handed to the network over an open link.
    Delivered,
    /// Handed to a held link (a paused node): delivered when the link is released.
    Held,
    /// Lost by a loss fault.
    Lost,
    /// Dropped: a partition cut the link.
    Partitioned,
    /// Dropped: the receiver was crashed, or the sender crashed while holding it.
    Crashed,
}

/// Messages of one kind: how many were sent and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Sent (by nodes, or by clients to nodes).
    pub sent: u64,
    /// Handed to a held link, delivered on release.
    pub held: u64,
    /// Lost by a loss fault.
    pub lost: u64,
    /// Dropped by a partition.
    pub partitioned: u64,
    /// Dropped because the receiver or the holding sender was crashed.
    pub crashed: u64,
}

impl KindCounts {
    /// Every message dropped by a fault.
    pub fn dropped(&self) -> u64 {
        self.lost + self.partitioned + self.crashed
    }

    pub(super) fn note(&mut self, fate: Delivery) {
        match fate {
            Delivery::Delivered => {}
            Delivery::Held => self.held += 1,
            Delivery::Lost => self.lost += 1,
            Delivery::Partitioned => self.partitioned += 1,
            Delivery::Crashed => self.crashed += 1,
        }
    }

    fn add(&mut self, o: &KindCounts) {
        self.sent += o.sent;
        self.held += o.held;
        self.lost += o.lost;
        self.partitioned += o.partitioned;
        self.crashed += o.crashed;
    }
}

/// Messages of a whole run, by kind. Messages still on their way when the run ends count as
/// sent and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// By kind, indexed by [`MessageKind::index`].
    pub by_kind: [KindCounts; MessageKind::COUNT],
}

impl MessageCounts {
    /// The counts of one kind.
    pub fn of(&self, kind: MessageKind) -> KindCounts {
        self.by_kind[kind.index()]
    }

    /// Every kind summed.
    pub fn total(&self) -> KindCounts {
        let mut t = KindCounts::default();
        for k in &self.by_kind {
            t.add(k);
        }
        t
    }
}
