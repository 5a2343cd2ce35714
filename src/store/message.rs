//! The wire format: one [`Message`] per UDP datagram, in a compact hand-rolled binary encoding.
//!
//! Layout: a version byte ([`WIRE_VERSION`]), a tag byte (the [`MessageKind`]'s discriminant),
//! then the fields in order: integers little-endian and fixed width, strings and lists prefixed
//! by a `u16` length. Decoding never panics: every malformed datagram is a [`DecodeError`] that
//! the node counts and drops.
//!
//! The codec is written by hand rather than derived with serde and a binary format: that would
//! add a dependency and change the bytes, and the saved histories replay only if every
//! datagram's bytes and size stay exactly as they are. The format is small enough to read
//! whole here, and the round-trip, truncation and corruption tests below hold it.

use super::cell::{Cell, NodeId};
use super::config::ConsistencyLevel;
use strum::VariantArray;

/// The version byte every datagram starts with.
pub const WIRE_VERSION: u8 = 1;

/// The largest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram ended inside a field.
    #[error("datagram truncated at byte {0}")]
    Truncated(usize),
    /// The first byte is not [`WIRE_VERSION`].
    #[error("unknown wire version {0}")]
    Version(u8),
    /// A tag byte with no meaning at that place.
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// What was being decoded.
        what: &'static str,
        /// The byte found.
        tag: u8,
    },
    /// A string that is not UTF-8 or is too long.
    #[error("bad string at byte {0}")]
    String(usize),
    /// Bytes left over after the message.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
    /// Write a value.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: i64,
    },
    /// Delete a key (write a tombstone).
    Delete {
        /// The key.
        key: String,
    },
}

impl Op {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// What a coordinator answers a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// A read succeeded with this value (`None`: absent or deleted).
    Read(Option<i64>),
    /// A write was acknowledged by enough replicas.
    Written,
    /// Too few replicas were seen alive; nothing was sent.
    Unavailable {
        /// Replicas the level needs.
        needed: u16,
        /// Replicas the failure detector saw alive.
        alive: u16,
    },
    /// Too few replicas answered in time; a write may still take effect.
    Timeout {
        /// Replicas that answered.
        answered: u16,
        /// Replicas the level needs.
        needed: u16,
    },
    /// The request was rejected before anything was sent (e.g. a level above RF).
    Rejected(String),
}

/// A coordinator's full answer to a client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The outcome.
    pub outcome: ReplyOutcome,
    /// For a write, the cell it wrote (timestamp, writer); for a read, the resolved cell's.
    pub version: Option<(u64, NodeId)>,
    /// The replicas the coordinator sent to.
    pub replicas: Vec<NodeId>,
}

/// One datagram's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client to coordinator: run `op` at `level` (or the configured level).
    Request {
        /// Client request id, echoed in the reply.
        req: u64,
        /// The operation.
        op: Op,
        /// The consistency level; `None` means the store's configured one.
        level: Option<ConsistencyLevel>,
    },
    /// Client to node: that node's own cell for `key`, without coordination.
    LocalRead {
        /// Client request id.
        req: u64,
        /// The key.
        key: String,
    },
    /// Coordinator to client.
    Reply {
        /// The client's request id.
        req: u64,
        /// The answer.
        reply: Reply,
    },
    /// Node to client: answer to [`Message::LocalRead`].
    LocalCell {
        /// The client's request id.
        req: u64,
        /// The node's stored cell, if any.
        cell: Option<Cell>,
    },
    /// Gossip heartbeat.
    Heartbeat {
        /// The sender's heartbeat counter.
        seq: u64,
    },
    /// Coordinator (or repairer, or hint holder) to replica: apply this cell.
    Write {
        /// Sender's request id.
        req: u64,
        /// The key.
        key: String,
        /// The cell.
        cell: Cell,
    },
    /// Replica to sender: the write of `req` is applied (and synced if the policy says so).
    WriteAck {
        /// The request id acknowledged.
        req: u64,
    },
    /// Coordinator to replica: send your cell for `key`.
    Read {
        /// Coordinator request id.
        req: u64,
        /// The key.
        key: String,
    },
    /// Replica to coordinator.
    ReadReply {
        /// Coordinator request id.
        req: u64,
        /// The replica's cell.
        cell: Option<Cell>,
    },
    /// Anti-entropy, step 1: digests of the buckets both nodes replicate.
    AeDigest {
        /// Round id, chosen by the initiator.
        round: u64,
        /// `(bucket, digest)` pairs.
        buckets: Vec<(u16, u64)>,
    },
    /// Anti-entropy, step 2: the responder's cells in the differing buckets, and the buckets
    /// it wants back.
    AeCells {
        /// Round id.
        round: u64,
        /// Cells in the differing buckets.
        cells: Vec<(String, Cell)>,
        /// Differing buckets.
        want: Vec<u16>,
    },
    /// Anti-entropy, step 3: the initiator's cells in the buckets the responder wants.
    AePush {
        /// Round id.
        round: u64,
        /// The cells.
        cells: Vec<(String, Cell)>,
    },
}

/// What a message is, without its content: for message counts, the event trace and the wire.
///
/// The discriminant is the message's tag byte on the wire (the byte after [`WIRE_VERSION`]),
/// named here once for [`Message::encode`], [`Message::decode`] and [`Message::tag`]. The
/// numbers are the wire format: changing one changes every datagram's bytes.
///
/// Every kind in declaration order is [`VariantArray::VARIANTS`]; a kind's name
/// ([`MessageKind::name`], serde) is its variant's, in snake case.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::VariantArray,
    strum::IntoStaticStr,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
pub enum MessageKind {
    /// [`Message::Request`].
    Request = 1,
    /// [`Message::LocalRead`].
    LocalRead = 2,
    /// [`Message::Reply`].
    Reply = 3,
    /// [`Message::LocalCell`].
    LocalCell = 4,
    /// [`Message::Heartbeat`].
    Heartbeat = 5,
    /// [`Message::Write`].
    Write = 6,
    /// [`Message::WriteAck`].
    WriteAck = 7,
    /// [`Message::Read`].
    Read = 8,
    /// [`Message::ReadReply`].
    ReadReply = 9,
    /// [`Message::AeDigest`].
    AeDigest = 10,
    /// [`Message::AeCells`].
    AeCells = 11,
    /// [`Message::AePush`].
    AePush = 12,
}

impl MessageKind {
    /// The kind's name as the trace and case files write it (`write_ack`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The kind's position in [`VariantArray::VARIANTS`].
    pub fn index(self) -> usize {
        usize::from(self.wire_tag() - 1)
    }

    /// The kind's tag byte on the wire.
    pub fn wire_tag(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for MessageKind {
    type Error = DecodeError;

    /// The kind a wire tag byte names: a [`DecodeError::Tag`] for a byte that names none.
    fn try_from(tag: u8) -> Result<MessageKind, DecodeError> {
        // Tags are 1 to 12 in declaration order (a test holds `VARIANTS` to that).
        usize::from(tag)
            .checked_sub(1)
            .and_then(|i| MessageKind::VARIANTS.get(i))
            .copied()
            .ok_or(DecodeError::Tag {
                what: "message",
                tag,
            })
    }
}

/// FNV-1a, 64 bits: a fixed, portable hash for [`Message::tag`].
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u16(u16::try_from(n).unwrap_or(u16::MAX));
    }
    fn str(&mut self, s: &str) {
        let b = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn cell(&mut self, c: &Cell) {
        self.u64(c.timestamp);
        self.u16(c.writer.0);
        match c.value {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }
    fn opt_cell(&mut self, c: &Option<Cell>) {
        match c {
            None => self.u8(0),
            Some(c) => {
                self.u8(1);
                self.cell(c);
            }
        }
    }
    fn cells(&mut self, cells: &[(String, Cell)]) {
        self.len(cells.len());
        for (k, c) in cells.iter().take(usize::from(u16::MAX)) {
            self.str(k);
            self.cell(c);
        }
    }
    fn level(&mut self, l: Option<ConsistencyLevel>) {
        match l {
            None => self.u8(0),
            Some(ConsistencyLevel::One) => self.u8(1),
            Some(ConsistencyLevel::Two) => self.u8(2),
            Some(ConsistencyLevel::Three) => self.u8(3),
            Some(ConsistencyLevel::Quorum) => self.u8(4),
            Some(ConsistencyLevel::All) => self.u8(5),
            Some(ConsistencyLevel::Count(n)) => {
                self.u8(6);
                self.u16(u16::try_from(n).unwrap_or(u16::MAX));
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| DecodeError::String(at))
    }
    fn key(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let k = self.str()?;
        if k.len() > MAX_KEY_LEN {
            return Err(DecodeError::String(at));
        }
        Ok(k)
    }
    fn cell(&mut self) -> Result<Cell, DecodeError> {
        let timestamp = self.u64()?;
        let writer = NodeId(self.u16()?);
        let value = match self.u8()? {
            0 => None,
            1 => Some(self.i64()?),
            tag => return Err(DecodeError::Tag { what: "cell", tag }),
        };
        Ok(Cell {
            timestamp,
            writer,
            value,
        })
    }
    fn opt_cell(&mut self) -> Result<Option<Cell>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.cell()?)),
            tag => Err(DecodeError::Tag {
                what: "optional cell",
                tag,
            }),
        }
    }
    fn cells(&mut self) -> Result<Vec<(String, Cell)>, DecodeError> {
        let n = usize::from(self.u16()?);
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push((self.key()?, self.cell()?));
        }
        Ok(out)
    }
    fn level(&mut self) -> Result<Option<ConsistencyLevel>, DecodeError> {
        Ok(Some(match self.u8()? {
            0 => return Ok(None),
            1 => ConsistencyLevel::One,
            2 => ConsistencyLevel::Two,
            3 => ConsistencyLevel::Three,
            4 => ConsistencyLevel::Quorum,
            5 => ConsistencyLevel::All,
            6 => ConsistencyLevel::Count(usize::from(self.u16()?)),
            tag => return Err(DecodeError::Tag { what: "level", tag }),
        }))
    }
    fn nodes(&mut self) -> Result<Vec<NodeId>, DecodeError> {
        let n = usize::from(self.u16()?);
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(NodeId(self.u16()?));
        }
        Ok(out)
    }
}

impl Message {
    /// What kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Request { .. } => MessageKind::Request,
            Message::LocalRead { .. } => MessageKind::LocalRead,
            Message::Reply { .. } => MessageKind::Reply,
            Message::LocalCell { .. } => MessageKind::LocalCell,
            Message::Heartbeat { .. } => MessageKind::Heartbeat,
            Message::Write { .. } => MessageKind::Write,
            Message::WriteAck { .. } => MessageKind::WriteAck,
            Message::Read { .. } => MessageKind::Read,
            Message::ReadReply { .. } => MessageKind::ReadReply,
            Message::AeDigest { .. } => MessageKind::AeDigest,
            Message::AeCells { .. } => MessageKind::AeCells,
            Message::AePush { .. } => MessageKind::AePush,
        }
    }

    /// A number that names this message by what it carries, leaving out request ids and round
    /// ids (counters that shift when an unrelated request is added or removed). With the link
    /// and the send time it decides the message's fate under a [`LinkModel`], so that taking one
    /// client op out of a scenario leaves every other message's delay and loss as they were.
    ///
    /// [`LinkModel`]: super::control::LinkModel
    pub fn tag(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(u64::from(self.kind().wire_tag()));
        match self {
            Message::Request { op, level, .. } => {
                h.u64(match op {
                    Op::Get { .. } => 1,
                    Op::Put { .. } => 2,
                    Op::Delete { .. } => 3,
                });
                h.bytes(op.key().as_bytes());
                if let Op::Put { value, .. } = op {
                    h.u64(*value as u64);
                }
                if let Some(l) = level {
                    h.bytes(l.to_string().as_bytes());
                }
            }
            Message::LocalRead { key, .. } => {
                h.bytes(key.as_bytes());
            }
            Message::Reply { reply, .. } => {
                h.u64(match &reply.outcome {
                    // Wrapping: a value is any i64 (a scenario may write -1), and the tag
                    // is the same with overflow checks on as in release.
                    ReplyOutcome::Read(v) => 10u64.wrapping_add(v.map(|v| v as u64).unwrap_or(0)),
                    ReplyOutcome::Written => 4,
                    ReplyOutcome::Unavailable { .. } => 5,
                    ReplyOutcome::Rejected(_) => 6,
                    ReplyOutcome::Timeout { .. } => 7,
                });
                if let Some((ts, _)) = reply.version {
                    h.u64(ts);
                }
            }
            Message::LocalCell { cell, .. } => {
                h.u64(cell.map(|c| c.timestamp).unwrap_or(0));
            }
            Message::Heartbeat { seq } => {
                h.u64(*seq);
            }
            Message::Write { key, cell, .. } => {
                h.bytes(key.as_bytes());
                h.u64(cell.timestamp);
                h.u64(cell.writer.0 as u64);
            }
            Message::WriteAck { .. } => {}
            Message::Read { key, .. } => {
                h.bytes(key.as_bytes());
            }
            Message::ReadReply { cell, .. } => {
                h.u64(cell.map(|c| c.timestamp).unwrap_or(0));
            }
            Message::AeDigest { buckets, .. } => {
                h.u64(buckets.len() as u64);
            }
            Message::AeCells { cells, want, .. } => {
                h.u64(cells.len() as u64);
                h.u64(want.len() as u64);
            }
            Message::AePush { cells, .. } => {
                h.u64(cells.len() as u64);
            }
        }
        h.finish()
    }

    /// Encodes the message as one datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(48));
        w.u8(WIRE_VERSION);
        w.u8(self.kind().wire_tag());
        match self {
            Message::Request { req, op, level } => {
                w.u64(*req);
                match op {
                    Op::Get { key } => {
                        w.u8(0);
                        w.str(key);
                    }
                    Op::Put { key, value } => {
                        w.u8(1);
                        w.str(key);
                        w.i64(*value);
                    }
                    Op::Delete { key } => {
                        w.u8(2);
                        w.str(key);
                    }
                }
                w.level(*level);
            }
            Message::LocalRead { req, key } => {
                w.u64(*req);
                w.str(key);
            }
            Message::Reply { req, reply } => {
                w.u64(*req);
                match &reply.outcome {
                    ReplyOutcome::Read(v) => {
                        w.u8(0);
                        match v {
                            None => w.u8(0),
                            Some(v) => {
                                w.u8(1);
                                w.i64(*v);
                            }
                        }
                    }
                    ReplyOutcome::Written => w.u8(1),
                    ReplyOutcome::Unavailable { needed, alive } => {
                        w.u8(2);
                        w.u16(*needed);
                        w.u16(*alive);
                    }
                    ReplyOutcome::Timeout { answered, needed } => {
                        w.u8(3);
                        w.u16(*answered);
                        w.u16(*needed);
                    }
                    ReplyOutcome::Rejected(reason) => {
                        w.u8(4);
                        w.str(reason);
                    }
                }
                match reply.version {
                    None => w.u8(0),
                    Some((ts, writer)) => {
                        w.u8(1);
                        w.u64(ts);
                        w.u16(writer.0);
                    }
                }
                w.len(reply.replicas.len());
                for r in &reply.replicas {
                    w.u16(r.0);
                }
            }
            Message::LocalCell { req, cell } => {
                w.u64(*req);
                w.opt_cell(cell);
            }
            Message::Heartbeat { seq } => {
                w.u64(*seq);
            }
            Message::Write { req, key, cell } => {
                w.u64(*req);
                w.str(key);
                w.cell(cell);
            }
            Message::WriteAck { req } => {
                w.u64(*req);
            }
            Message::Read { req, key } => {
                w.u64(*req);
                w.str(key);
            }
            Message::ReadReply { req, cell } => {
                w.u64(*req);
                w.opt_cell(cell);
            }
            Message::AeDigest { round, buckets } => {
                w.u64(*round);
                w.len(buckets.len());
                for (b, d) in buckets {
                    w.u16(*b);
                    w.u64(*d);
                }
            }
            Message::AeCells { round, cells, want } => {
                w.u64(*round);
                w.cells(cells);
                w.len(want.len());
                for b in want {
                    w.u16(*b);
                }
            }
            Message::AePush { round, cells } => {
                w.u64(*round);
                w.cells(cells);
            }
        }
        w.0
    }

    /// Decodes one datagram.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.u8()?;
        if version != WIRE_VERSION {
            return Err(DecodeError::Version(version));
        }
        let msg = match MessageKind::try_from(r.u8()?)? {
            MessageKind::Request => {
                let req = r.u64()?;
                let op = match r.u8()? {
                    0 => Op::Get { key: r.key()? },
                    1 => Op::Put {
                        key: r.key()?,
                        value: r.i64()?,
                    },
                    2 => Op::Delete { key: r.key()? },
                    tag => return Err(DecodeError::Tag { what: "op", tag }),
                };
                let level = r.level()?;
                Message::Request { req, op, level }
            }
            MessageKind::LocalRead => Message::LocalRead {
                req: r.u64()?,
                key: r.key()?,
            },
            MessageKind::Reply => {
                let req = r.u64()?;
                let outcome = match r.u8()? {
                    0 => ReplyOutcome::Read(match r.u8()? {
                        0 => None,
                        1 => Some(r.i64()?),
                        tag => {
                            return Err(DecodeError::Tag {
                                what: "read value",
                                tag,
                            })
                        }
                    }),
                    1 => ReplyOutcome::Written,
                    2 => ReplyOutcome::Unavailable {
                        needed: r.u16()?,
                        alive: r.u16()?,
                    },
                    3 => ReplyOutcome::Timeout {
                        answered: r.u16()?,
                        needed: r.u16()?,
                    },
                    4 => ReplyOutcome::Rejected(r.str()?),
                    tag => {
                        return Err(DecodeError::Tag {
                            what: "outcome",
                            tag,
                        })
                    }
                };
                let version = match r.u8()? {
                    0 => None,
                    1 => Some((r.u64()?, NodeId(r.u16()?))),
                    tag => {
                        return Err(DecodeError::Tag {
                            what: "version",
                            tag,
                        })
                    }
                };
                let replicas = r.nodes()?;
                Message::Reply {
                    req,
                    reply: Reply {
                        outcome,
                        version,
                        replicas,
                    },
                }
            }
            MessageKind::LocalCell => Message::LocalCell {
                req: r.u64()?,
                cell: r.opt_cell()?,
            },
            MessageKind::Heartbeat => Message::Heartbeat { seq: r.u64()? },
            MessageKind::Write => Message::Write {
                req: r.u64()?,
                key: r.key()?,
                cell: r.cell()?,
            },
            MessageKind::WriteAck => Message::WriteAck { req: r.u64()? },
            MessageKind::Read => Message::Read {
                req: r.u64()?,
                key: r.key()?,
            },
            MessageKind::ReadReply => Message::ReadReply {
                req: r.u64()?,
                cell: r.opt_cell()?,
            },
            MessageKind::AeDigest => {
                let round = r.u64()?;
                let n = usize::from(r.u16()?);
                let mut buckets = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    buckets.push((r.u16()?, r.u64()?));
                }
                Message::AeDigest { round, buckets }
            }
            MessageKind::AeCells => {
                let round = r.u64()?;
                let cells = r.cells()?;
                let n = usize::from(r.u16()?);
                let mut want = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    want.push(r.u16()?);
                }
                Message::AeCells { round, cells, want }
            }
            MessageKind::AePush => Message::AePush {
                round: r.u64()?,
                cells: r.cells()?,
            },
        };
        if r.pos != buf.len() {
            return Err(DecodeError::Trailing(buf.len() - r.pos));
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        let cell = Cell {
            timestamp: 1_000_001,
            writer: NodeId(3),
            value: Some(-7),
        };
        let tomb = Cell {
            value: None,
            ..cell
        };
        vec![
            Message::Request {
                req: 9,
                op: Op::Put {
                    key: "k1".into(),
                    value: 42,
                },
                level: Some(ConsistencyLevel::Count(2)),
            },
            Message::Request {
                req: 10,
                op: Op::Get { key: "é".into() },
                level: None,
            },
            Message::Request {
                req: 11,
                op: Op::Delete { key: "k".into() },
                level: Some(ConsistencyLevel::All),
            },
            Message::LocalRead {
                req: 1,
                key: "x".into(),
            },
            Message::Reply {
                req: 3,
                reply: Reply {
                    outcome: ReplyOutcome::Read(Some(5)),
                    version: Some((17, NodeId(1))),
                    replicas: vec![NodeId(0), NodeId(4)],
                },
            },
            Message::Reply {
                req: 4,
                reply: Reply {
                    outcome: ReplyOutcome::Rejected("bad".into()),
                    version: None,
                    replicas: vec![],
                },
            },
            Message::Reply {
                req: 5,
                reply: Reply {
                    outcome: ReplyOutcome::Timeout {
                        answered: 1,
                        needed: 2,
                    },
                    version: None,
                    replicas: vec![NodeId(2)],
                },
            },
            Message::LocalCell {
                req: 2,
                cell: Some(tomb),
            },
            Message::Heartbeat { seq: 77 },
            Message::Write {
                req: 5,
                key: "k".into(),
                cell,
            },
            Message::WriteAck { req: 5 },
            Message::Read {
                req: 6,
                key: "k".into(),
            },
            Message::ReadReply { req: 6, cell: None },
            Message::AeDigest {
                round: 1,
                buckets: vec![(0, 1), (63, u64::MAX)],
            },
            Message::AeCells {
                round: 1,
                cells: vec![("a".into(), cell), ("b".into(), tomb)],
                want: vec![3, 4],
            },
            Message::AePush {
                round: 1,
                cells: vec![],
            },
        ]
    }

    #[test]
    fn message_kind_names_are_derived_in_declaration_order() {
        let names: Vec<&str> = MessageKind::VARIANTS.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "request",
                "local_read",
                "reply",
                "local_cell",
                "heartbeat",
                "write",
                "write_ack",
                "read",
                "read_reply",
                "ae_digest",
                "ae_cells",
                "ae_push",
            ]
        );
        assert_eq!(<MessageKind as strum::EnumCount>::COUNT, names.len());
        for &k in MessageKind::VARIANTS {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<MessageKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn wire_tags_are_one_to_twelve_in_declaration_order() {
        for (i, &kind) in MessageKind::VARIANTS.iter().enumerate() {
            assert_eq!(usize::from(kind.wire_tag()), i + 1);
            assert_eq!(kind.index(), i);
            assert_eq!(MessageKind::try_from(kind.wire_tag()), Ok(kind));
        }
        for tag in [0, 13, 255] {
            let err = DecodeError::Tag {
                what: "message",
                tag,
            };
            assert_eq!(MessageKind::try_from(tag), Err(err.clone()));
            assert_eq!(Message::decode(&[WIRE_VERSION, tag]), Err(err));
        }
    }

    /// The bytes and tags of two messages, written out: the format itself, not only its round
    /// trip, is what saved histories depend on.
    #[test]
    fn the_wire_bytes_and_tags_are_fixed() {
        let ack = Message::WriteAck { req: 5 };
        assert_eq!(ack.encode(), [1, 7, 5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ack.tag(), 0x4bd7_a317_074c_5b62);
        let hb = Message::Heartbeat { seq: 77 };
        assert_eq!(hb.encode(), [1, 5, 77, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(hb.tag(), 0x4e97_9089_4b8f_370d);
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = m.encode();
            assert_eq!(Message::decode(&bytes), Ok(m));
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        for m in samples() {
            let bytes = m.encode();
            for cut in 0..bytes.len() {
                assert!(Message::decode(&bytes[..cut]).is_err());
            }
            let mut extra = bytes.clone();
            extra.push(0);
            assert!(Message::decode(&extra).is_err());
            for i in 0..bytes.len() {
                let mut b = bytes.clone();
                b[i] ^= 0xff;
                let _ = Message::decode(&b);
            }
        }
        assert_eq!(Message::decode(&[2, 1]), Err(DecodeError::Version(2)));
    }
}
