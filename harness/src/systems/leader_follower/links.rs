//! Message delays. The runner sets turmoil's own latency to zero, so every message's delay is
//! decided here, from the scenario's network and the message itself: a hash of the seed, the
//! two ends and the bytes. A delay that depends on nothing else is what lets shrinking remove
//! ops and faults while the messages that remain keep their timing.
use crate::scenario::NetworkConfig;

use super::draw;

/// One end of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// A node, by index.
    Node(usize),
    /// The clients' host.
    Client,
}

/// The delay model of a scenario's network.
#[derive(Clone, Debug)]
pub struct Links {
    seed: u64,
    /// One-way latency between nodes, ms, inclusive.
    node_ms: (u64, u64),
    /// One-way latency between clients and nodes, ms, inclusive.
    client_ms: (u64, u64),
    tail_percent: u8,
    tail_ms: u64,
    /// (from, to, extra ms); `None` matches any node.
    slow: Vec<(Option<usize>, Option<usize>, u64)>,
    /// (node, extra ms) on every message that writes to the node (an append with entries).
    slow_writes: Vec<(usize, u64)>,
}

impl Links {
    /// The delays of `net` for a cluster of `nodes` nodes; slow links name nodes modulo the
    /// node count, as everything in a scenario does.
    pub fn new(net: &NetworkConfig, seed: u64, nodes: usize) -> Links {
        let at = |n: u16| n as usize % nodes.max(1);
        let node_ms = (
            net.min_latency_ms,
            net.max_latency_ms.max(net.min_latency_ms),
        );
        Links {
            seed,
            node_ms,
            client_ms: net.client_latency_ms.unwrap_or(node_ms),
            tail_percent: net.tail_percent,
            tail_ms: net.tail_ms,
            slow: net
                .slow_links
                .iter()
                .map(|l| (l.from.map(at), l.to.map(at), l.extra_ms))
                .collect(),
            slow_writes: net
                .slow_writes
                .iter()
                .map(|w| (at(w.node), w.extra_ms))
                .collect(),
        }
    }

    /// The delay, in ms, of the message `bytes` from `from` to `to`; `write` when it writes
    /// to its receiver (the scenario's slow writes apply).
    pub fn delay_ms(&self, from: End, to: End, bytes: &[u8], write: bool) -> u64 {
        let code = |e: End| match e {
            End::Node(n) => n as u64,
            End::Client => u64::MAX,
        };
        let mut head = Vec::with_capacity(24 + bytes.len());
        head.extend_from_slice(&self.seed.to_le_bytes());
        head.extend_from_slice(&code(from).to_le_bytes());
        head.extend_from_slice(&code(to).to_le_bytes());
        head.extend_from_slice(bytes);
        let h = draw(&head);
        let (lo, hi) = match (from, to) {
            (End::Node(_), End::Node(_)) => self.node_ms,
            _ => self.client_ms,
        };
        let mut ms = lo + h % (hi - lo + 1);
        // The tail and the slow links apply between nodes only, as in the reference store.
        if let (End::Node(a), End::Node(b)) = (from, to) {
            if self.tail_percent > 0 && (h >> 20) % 100 < u64::from(self.tail_percent) {
                ms += (h >> 32) % (self.tail_ms + 1);
            }
            for (f, t, extra) in &self.slow {
                if f.is_none_or(|f| f == a) && t.is_none_or(|t| t == b) {
                    ms += extra;
                }
            }
            if write {
                for (node, extra) in &self.slow_writes {
                    if *node == b {
                        ms += extra;
                    }
                }
            }
        }
        ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_in_range_and_depend_on_the_message() {
        let links = Links::new(&NetworkConfig::default(), 5, 3);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200u32 {
            let d = links.delay_ms(End::Node(0), End::Node(1), &i.to_le_bytes(), false);
            assert!((1..=5).contains(&d));
            seen.insert(d);
            assert_eq!(
                d,
                links.delay_ms(End::Node(0), End::Node(1), &i.to_le_bytes(), false)
            );
        }
        assert_eq!(seen.len(), 5, "every delay in the range occurs");
    }

    #[test]
    fn a_slow_write_path_delays_only_writes_to_that_node() {
        let net = NetworkConfig {
            slow_writes: vec![crate::scenario::SlowWrite {
                node: 6, // modulo 3: node 0
                extra_ms: 50,
            }],
            ..NetworkConfig::latency(2, 2)
        };
        let links = Links::new(&net, 5, 3);
        assert_eq!(links.delay_ms(End::Node(1), End::Node(0), b"x", true), 52);
        assert_eq!(links.delay_ms(End::Node(1), End::Node(0), b"x", false), 2);
        assert_eq!(links.delay_ms(End::Node(1), End::Node(2), b"x", true), 2);
        assert_eq!(links.delay_ms(End::Client, End::Node(0), b"x", true), 2);
    }
}
