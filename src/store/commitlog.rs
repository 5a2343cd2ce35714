//! The commit log: every mutation is appended before it is applied, and replayed on restart.
//!
//! Record layout: `u32` payload length, `u64` checksum (Murmur3 of the payload), payload
//! (`u16` key length, key bytes, `u64` timestamp, `u16` writer, `u8` tag, `i64` value if tag 1).
//! Replay stops at the first torn or corrupt record, as a real commit log does.
//!
//! The file lives on turmoil's simulated file system: writes stay pending until synced, and a
//! crash discards whatever was not synced, so the fsync policy decides what survives.

use std::io::{self, Seek, SeekFrom, Write};

use turmoil::fs::shim::std::fs::{self, File, OpenOptions};

use super::cell::{Cell, NodeId};
use super::hash::murmur3_128;

/// Where a node keeps its commit log.
pub const LOG_PATH: &str = "/commitlog";
/// Where a node keeps the last timestamp it issued.
pub const CLOCK_PATH: &str = "/clock";

/// Encodes one mutation as a log record.
pub fn encode_record(key: &str, cell: &Cell) -> Vec<u8> {
    let mut payload = Vec::with_capacity(key.len() + 21);
    payload.extend_from_slice(&(key.len() as u16).to_le_bytes());
    payload.extend_from_slice(key.as_bytes());
    payload.extend_from_slice(&cell.timestamp.to_le_bytes());
    payload.extend_from_slice(&cell.writer.0.to_le_bytes());
    match cell.value {
        None => payload.push(0),
        Some(v) => {
            payload.push(1);
            payload.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut rec = Vec::with_capacity(payload.len() + 12);
    rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    rec.extend_from_slice(&murmur3_128(&payload, 0).0.to_le_bytes());
    rec.extend_from_slice(&payload);
    rec
}

fn decode_payload(p: &[u8]) -> Option<(String, Cell)> {
    let klen = usize::from(u16::from_le_bytes(p.get(..2)?.try_into().ok()?));
    let key = std::str::from_utf8(p.get(2..2 + klen)?).ok()?.to_string();
    let rest = p.get(2 + klen..)?;
    let timestamp = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let writer = NodeId(u16::from_le_bytes(rest.get(8..10)?.try_into().ok()?));
    let value = match (*rest.get(10)?, rest.len()) {
        (0, 11) => None,
        (1, 19) => Some(i64::from_le_bytes(rest.get(11..19)?.try_into().ok()?)),
        _ => return None,
    };
    Some((
        key,
        Cell {
            timestamp,
            writer,
            value,
        },
    ))
}

/// The result of reading a log back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replay {
    /// The records, in log order.
    pub records: Vec<(String, Cell)>,
    /// Bytes after the last good record (a torn or corrupt tail), ignored.
    pub discarded_bytes: usize,
}

/// Decodes a whole log, stopping at the first bad record.
pub fn decode_log(bytes: &[u8]) -> Replay {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(rec) = decode_one(&bytes[pos..]) else {
            break;
        };
        records.push(rec.0);
        pos += rec.1;
    }
    Replay {
        records,
        discarded_bytes: bytes.len() - pos,
    }
}

fn decode_one(b: &[u8]) -> Option<((String, Cell), usize)> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(b.get(4..12)?.try_into().ok()?);
    let payload = b.get(12..12usize.checked_add(len)?)?;
    if murmur3_128(payload, 0).0 != sum {
        return None;
    }
    Some((decode_payload(payload)?, 12 + len))
}

/// An open commit log on the simulated file system.
pub struct CommitLog {
    file: File,
}

impl CommitLog {
    /// Opens (creating if needed) the log at [`LOG_PATH`] and reads back what survived.
    ///
    /// A new file is synced together with its directory entry at once, so an empty log always
    /// survives; its records survive only once synced.
    pub fn open() -> io::Result<(CommitLog, Replay)> {
        let existed = fs::exists(LOG_PATH);
        let replay = if existed {
            decode_log(&fs::read(LOG_PATH)?)
        } else {
            Replay::default()
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(LOG_PATH)?;
        if !existed {
            file.sync_all()?;
            fs::sync_dir("/")?;
        } else if replay.discarded_bytes > 0 {
            // Cut the torn tail so new records are not appended after garbage.
            file.set_len((fs::read(LOG_PATH)?.len() - replay.discarded_bytes) as u64)?;
            file.sync_all()?;
        }
        let mut log = CommitLog { file };
        log.file.seek(SeekFrom::End(0))?;
        Ok((log, replay))
    }

    /// Appends one encoded record (pending until [`CommitLog::sync`]).
    pub fn append(&mut self, record: &[u8]) -> io::Result<()> {
        self.file.write_all(record)
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// The clock file: the last timestamp a node issued, synced before the timestamp is used.
pub struct ClockFile {
    file: File,
}

impl ClockFile {
    /// Opens (creating if needed) the clock file at [`CLOCK_PATH`] and reads the mark it holds
    /// (0 when absent or unreadable).
    pub fn open() -> io::Result<(ClockFile, u64)> {
        let existed = fs::exists(CLOCK_PATH);
        let mark = if existed {
            decode_mark(&fs::read(CLOCK_PATH)?)
        } else {
            0
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(CLOCK_PATH)?;
        if !existed {
            file.sync_all()?;
            fs::sync_dir("/")?;
        }
        Ok((ClockFile { file }, mark))
    }

    /// Durably replaces the mark.
    pub fn store(&mut self, mark: u64) -> io::Result<()> {
        let mut buf = mark.to_le_bytes().to_vec();
        buf.extend_from_slice(&murmur3_128(&mark.to_le_bytes(), 0).0.to_le_bytes());
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&buf)?;
        self.file.sync_all()
    }
}

fn decode_mark(b: &[u8]) -> u64 {
    if b.len() != 16 {
        return 0;
    }
    let mark = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let sum = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    if murmur3_128(&b[..8], 0).0 == sum {
        mark
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_discarded() {
        let c1 = Cell {
            timestamp: 9,
            writer: NodeId(2),
            value: Some(-1),
        };
        let c2 = Cell {
            timestamp: 10,
            writer: NodeId(0),
            value: None,
        };
        let mut bytes = encode_record("k", &c1);
        bytes.extend(encode_record("key two", &c2));
        let full = decode_log(&bytes);
        assert_eq!(
            full.records,
            vec![("k".to_string(), c1), ("key two".to_string(), c2)]
        );
        for cut in 0..bytes.len() {
            let r = decode_log(&bytes[..cut]);
            assert!(r.records.len() < 2);
            assert_eq!(
                r.discarded_bytes + r.records.len() * encode_record("k", &c1).len(),
                cut
            );
        }
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode_log(&bad).records.len(), 1);
    }
}
