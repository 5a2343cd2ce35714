//! The messages between clients and nodes and between nodes, one per UDP datagram.
//!
//! The codec is a four-byte tag (`lf1 `, so a stray datagram is told apart at once) followed
//! by the message as JSON. JSON is not compact, but it is what a reader of a capture can read,
//! and serde turns every malformed, truncated or foreign datagram into an error rather than a
//! panic: a node drops what it cannot decode, as it would drop a corrupted packet.
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// What every datagram of this protocol starts with.
const TAG: &[u8; 4] = b"lf1 ";

/// A client operation, as a request carries it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientOp {
    /// Read the key.
    Get,
    /// Write the value.
    Put(i64),
    /// Delete the key.
    Delete,
    /// Write `new` if the key holds `expect` (`None`: absent), as of the request's place in
    /// the leader's log.
    Cas {
        /// The value compared against.
        expect: Option<i64>,
        /// The value written if it matches.
        new: i64,
    },
}

/// What a log entry does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EntryOp {
    /// Nothing: what a new leader appends to commit its predecessors' entries (Raft §5.4.2:
    /// a leader counts replicas only for entries of its own term), and what a cas that did
    /// not match appends, so that its answer waits for its place in the log to commit.
    Noop,
    /// Set the key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: i64,
    },
    /// Remove the key.
    Delete {
        /// The key.
        key: String,
    },
}

/// One log entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term of the leader that appended it.
    pub term: u64,
    /// The node that appended it (the leader of that term; without fencing, possibly one of
    /// two).
    pub writer: usize,
    /// What it does.
    pub op: EntryOp,
}

impl Entry {
    /// The key it writes, if any.
    pub fn key(&self) -> Option<&str> {
        match &self.op {
            EntryOp::Noop => None,
            EntryOp::Put { key, .. } | EntryOp::Delete { key } => Some(key),
        }
    }
}

/// A replica's copy of a key, as the history's replica cell wants it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The entry's term and index folded into one integer ([`stamp`]).
    pub timestamp: i64,
    /// The node that appended the entry.
    pub writer: usize,
    /// The value; `None` for a delete.
    pub value: Option<i64>,
}

/// The timestamp of the entry at `index` of term `term`: the term in the high 31 bits and the
/// index in the low 32. Within one log the index alone orders a key's writes; two logs that
/// diverged (an async failover, a split brain) can hold different entries at one index, and
/// the term then decides as Raft's log comparison does: the later leader's entry is the one
/// that survives once the logs are reconciled. Ordering by (term, index) is that rule.
pub fn stamp(term: u64, index: u64) -> i64 {
    (((term & 0x7fff_ffff) << 32) | (index & 0xffff_ffff)) as i64
}

/// How a request ended, as a node answers it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Committed (a write) or read.
    Ok,
    /// Certainly not done: nothing was logged.
    Fail(String),
    /// Maybe done: it was logged, and its fate is unknown.
    Info(String),
}

/// A message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// A client request, sent to the node the client called and forwarded from there.
    Request {
        /// The client's id for it.
        id: u64,
        /// Where the answer goes: filled in by the first node from the datagram's sender, so
        /// the node that answers replies to the client directly.
        client: Option<SocketAddr>,
        /// The operation.
        op: ClientOp,
        /// The key.
        key: String,
        /// A read that must be confirmed by a majority (the final phase asks for it).
        confirm: bool,
        /// How many times it was forwarded.
        hops: u8,
    },
    /// The answer to a request.
    Reply {
        /// The request's id.
        id: u64,
        /// How it ended.
        answer: Answer,
        /// For a read, the value read.
        read: Option<i64>,
        /// For a cas, whether it swapped (left out of other replies, whose bytes, and so
        /// delays, stay as they were before cas existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        swapped: Option<bool>,
        /// The version written or read: (timestamp, writer).
        version: Option<(i64, usize)>,
        /// The node that answered.
        by: usize,
        /// The leader the answering node knew of.
        leader: Option<usize>,
        /// The answering node's term for the key's partition.
        term: u64,
    },
    /// A request for a node's own applied copy of a key.
    LocalCopy {
        /// The client's id for it.
        id: u64,
        /// The key.
        key: String,
    },
    /// The answer to [`Message::LocalCopy`].
    Copy {
        /// The request's id.
        id: u64,
        /// The copy, if the node holds one.
        cell: Option<Cell>,
    },
    /// A candidate asks for a vote.
    Vote {
        /// The partition.
        p: usize,
        /// The candidate's term.
        term: u64,
        /// The candidate.
        from: usize,
        /// Its last log index.
        last_index: u64,
        /// Its last log entry's term.
        last_term: u64,
    },
    /// The answer to a vote request.
    VoteReply {
        /// The partition.
        p: usize,
        /// The voter's term.
        term: u64,
        /// The voter.
        from: usize,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// A leader's log entries (or none: a heartbeat).
    Append {
        /// The partition.
        p: usize,
        /// The leader's term.
        term: u64,
        /// The leader.
        from: usize,
        /// The index of the entry just before `entries`.
        prev_index: u64,
        /// That entry's term (0 for index 0).
        prev_term: u64,
        /// The entries.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: u64,
        /// The leader's heartbeat round, echoed back to confirm reads.
        round: u64,
    },
    /// A follower's answer to an append.
    AppendReply {
        /// The partition.
        p: usize,
        /// The follower's term.
        term: u64,
        /// The follower.
        from: usize,
        /// Whether its log matched at `prev_index` and now holds the entries.
        ok: bool,
        /// When ok, the last index known to match the leader's; when not, the index up to
        /// which the leader should try next (its log is shorter or differs there).
        last: u64,
        /// The follower's commit index.
        commit: u64,
        /// The round echoed.
        round: u64,
    },
}

impl Message {
    /// A short name for counting messages by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Request { .. } => "request",
            Message::Reply { .. } => "reply",
            Message::LocalCopy { .. } => "local_copy",
            Message::Copy { .. } => "copy",
            Message::Vote { .. } => "vote",
            Message::VoteReply { .. } => "vote_reply",
            Message::Append { entries, .. } if entries.is_empty() => "heartbeat",
            Message::Append { .. } => "append",
            Message::AppendReply { .. } => "append_reply",
        }
    }
}

impl Message {
    /// The bytes a message's delay is derived from: the message without the request ids,
    /// log positions and rounds that count what came before it. Shrinking removes ops, which
    /// renumbers every later request and moves every later entry; with those counters left
    /// out, a message that stays (the same write, the same answer) keeps its delay, and the
    /// story a shrunk case tells is the one first found.
    pub fn delay_key(&self) -> Vec<u8> {
        let mut m = self.clone();
        match &mut m {
            Message::Request { id, .. }
            | Message::LocalCopy { id, .. }
            | Message::Copy { id, .. } => *id = 0,
            Message::Reply { id, version, .. } => {
                *id = 0;
                *version = None;
            }
            Message::Vote {
                last_index,
                last_term,
                ..
            } => {
                *last_index = 0;
                *last_term = 0;
            }
            Message::VoteReply { .. } => {}
            Message::Append {
                prev_index,
                prev_term,
                commit,
                round,
                ..
            } => {
                *prev_index = 0;
                *prev_term = 0;
                *commit = 0;
                *round = 0;
            }
            Message::AppendReply {
                last,
                commit,
                round,
                ..
            } => {
                *last = 0;
                *commit = 0;
                *round = 0;
            }
        }
        encode(&m)
    }
}

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// It does not start with the protocol's tag.
    #[error("not a message of this protocol")]
    Foreign,
    /// The JSON after the tag is not a message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes a message as one datagram.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = TAG.to_vec();
    // Serializing these types cannot fail: every map key is a string and every number fits.
    serde_json::to_writer(&mut out, msg).expect("a message always serializes");
    out
}

/// Decodes one datagram.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    let body = bytes.strip_prefix(TAG).ok_or(WireError::Foreign)?;
    serde_json::from_slice(body).map_err(|e| WireError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::Request {
                id: 7,
                client: Some("10.0.0.9:4000".parse().unwrap()),
                op: ClientOp::Put(-3),
                key: "k0".into(),
                confirm: false,
                hops: 1,
            },
            Message::Reply {
                id: 7,
                answer: Answer::Info("leader stepped down".into()),
                read: None,
                swapped: None,
                version: Some((stamp(2, 9), 1)),
                by: 1,
                leader: None,
                term: 2,
            },
            Message::Append {
                p: 2,
                term: 3,
                from: 2,
                prev_index: 4,
                prev_term: 2,
                entries: vec![
                    Entry {
                        term: 3,
                        writer: 2,
                        op: EntryOp::Noop,
                    },
                    Entry {
                        term: 3,
                        writer: 2,
                        op: EntryOp::Delete { key: "k1".into() },
                    },
                ],
                commit: 4,
                round: 11,
            },
            Message::Request {
                id: 8,
                client: None,
                op: ClientOp::Cas {
                    expect: None,
                    new: 4,
                },
                key: "k1".into(),
                confirm: false,
                hops: 0,
            },
            Message::Reply {
                id: 8,
                answer: Answer::Ok,
                read: None,
                swapped: Some(false),
                version: None,
                by: 0,
                leader: Some(0),
                term: 1,
            },
            Message::Copy {
                id: 1,
                cell: Some(Cell {
                    timestamp: stamp(1, 1),
                    writer: 0,
                    value: None,
                }),
            },
        ]
    }

    #[test]
    fn messages_round_trip() {
        for m in samples() {
            assert_eq!(decode(&encode(&m)).unwrap(), m);
        }
    }

    #[test]
    fn truncated_or_corrupt_datagrams_are_errors() {
        for m in samples() {
            let bytes = encode(&m);
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            // Every single-byte corruption either fails or decodes to some message; none
            // panics.
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0x5a;
                let _ = decode(&b);
            }
        }
        assert_eq!(decode(b"get 1 k0"), Err(WireError::Foreign));
        assert!(matches!(
            decode(b"lf1 {\"nope\":1}"),
            Err(WireError::Malformed(_))
        ));
        assert!(decode(&[0xff; 64]).is_err());
    }

    #[test]
    fn a_reply_that_is_not_a_cas_encodes_as_before_cas_existed() {
        // Message delays are derived from the encoded bytes, so an extra field would move
        // every saved case's timing.
        let m = Message::Reply {
            id: 1,
            answer: Answer::Ok,
            read: Some(3),
            swapped: None,
            version: None,
            by: 0,
            leader: None,
            term: 1,
        };
        assert_eq!(
            String::from_utf8(encode(&m)).unwrap(),
            r#"lf1 {"reply":{"id":1,"answer":"ok","read":3,"version":null,"by":0,"leader":null,"term":1}}"#
        );
    }

    #[test]
    fn stamps_order_by_term_then_index() {
        assert!(stamp(2, 1) > stamp(1, 500));
        assert!(stamp(1, 3) > stamp(1, 2));
        assert!(stamp(u64::MAX, u64::MAX) >= 0);
    }
}
