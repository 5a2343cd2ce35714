//! [`Client`]: the store's client library, for a turmoil client host.
//!
//! One request at a time per client (concurrent calls on one client would take each other's
//! replies for stale ones and time out; use one client per concurrent caller); each request has
//! an id, and replies that do not match the request in flight are dropped. The client waits [`StoreConfig::client_timeout`], longer
//! than any coordinator waits, so it never hangs and never gives up before the coordinator.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use turmoil::net::UdpSocket;

use super::cell::{Cell, NodeId};
use super::config::{ConsistencyLevel, StoreConfig};
use super::control::{ClusterControl, Delivery, Endpoint, Fate};
use super::host::node_addr;
use super::message::{Message, Op, ReplyOutcome, MAX_KEY_LEN};
use super::ring::Ring;

/// What became of an operation, in a history's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientOutcome {
    /// It took effect. For a get, `read` is the value read (`None`: absent or deleted); for a
    /// put or delete it is always `None`.
    Ok {
        /// The value read.
        read: Option<i64>,
    },
    /// It did not take effect (Unavailable, rejected, or nothing could be sent).
    Fail {
        /// Why.
        reason: String,
    },
    /// Unknown: it may take effect later or never (coordinator or client timeout).
    Info {
        /// Why.
        reason: String,
    },
}

/// The outcome of one operation and what a history needs about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResult {
    /// The outcome.
    pub outcome: ClientOutcome,
    /// The node the request was sent to.
    pub coordinator: NodeId,
    /// For a write, its cell's `(timestamp in microseconds, writer)`; for a read, the resolved
    /// cell's (`None` when nothing was read or the outcome is not ok).
    pub timestamp: Option<(u64, NodeId)>,
    /// The replicas the coordinator contacted.
    pub replicas: Vec<NodeId>,
}

/// Why a [`Client`] call failed outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No answer within the client timeout.
    #[error("node {node}: no answer within {timeout_ms} ms")]
    Timeout {
        /// The node asked.
        node: NodeId,
        /// The timeout.
        timeout_ms: u64,
    },
    /// The node id is not one of the cluster's.
    #[error("node {node} is not in the cluster of {nodes} nodes")]
    UnknownNode {
        /// The node asked.
        node: NodeId,
        /// Cluster size.
        nodes: usize,
    },
    /// The socket failed.
    #[error("socket error: {0}")]
    Io(String),
}

/// A store client bound to its own UDP socket inside a turmoil client host.
pub struct Client {
    socket: UdpSocket,
    config: StoreConfig,
    next_req: std::cell::Cell<u64>,
    stale: std::cell::Cell<u64>,
    links: Option<ClusterControl>,
}

impl Client {
    /// Binds a client socket on an ephemeral port.
    pub async fn bind(config: &StoreConfig) -> std::io::Result<Client> {
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
        Ok(Client {
            socket,
            config: config.clone(),
            next_req: std::cell::Cell::new(0),
            stale: std::cell::Cell::new(0),
            links: None,
        })
    }

    /// Delays this client's requests as `control`'s [`LinkModel`](super::control::LinkModel)
    /// says (the nodes delay their replies the same way).
    pub fn with_link_model(mut self, control: &ClusterControl) -> Client {
        self.links = Some(control.clone());
        self
    }

    /// Sends `msg` to `node` at `to`, after the delay the link model gives it.
    async fn send(&self, node: NodeId, to: SocketAddr, msg: &Message) -> std::io::Result<()> {
        if let Some(control) = &self.links {
            let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
            let now_us = turmoil::sim_elapsed().unwrap_or_default().as_micros() as u64;
            let (from, dest) = (Endpoint::Client(port), Endpoint::Node(node));
            control.note_sent(msg.kind());
            match control.fate(from, dest, now_us, msg.tag(), msg.kind()) {
                Fate::Drop => {
                    control.note_delivery(msg.kind(), Delivery::Lost);
                    return Ok(());
                }
                Fate::Deliver(0) => {}
                Fate::Deliver(us) => tokio::time::sleep(Duration::from_micros(us)).await,
            }
            control.note_delivery(msg.kind(), control.delivery(from, dest));
        }
        self.socket.send_to(&msg.encode(), to).await.map(|_| ())
    }

    /// The replicas of `key`, primary first, in the store installed with scenario seed `seed`
    /// (a pure ring lookup; [`Ring`] gives the same outside the simulation).
    pub fn replicas_of(&self, key: &str, seed: u64) -> Vec<NodeId> {
        Ring::new(self.config.nodes, self.config.vnodes, seed).replicas(key, self.config.rf)
    }

    /// Replies dropped because they matched no request in flight.
    pub fn stale_replies(&self) -> u64 {
        self.stale.get()
    }

    fn new_req(&self) -> u64 {
        self.next_req.set(self.next_req.get() + 1);
        self.next_req.get()
    }

    /// Reads `key` through `coordinator` at `cl` (`None`: the configured read level).
    pub async fn get(
        &self,
        coordinator: NodeId,
        key: &str,
        cl: Option<ConsistencyLevel>,
    ) -> ClientResult {
        let op = Op::Get {
            key: key.to_string(),
        };
        self.request(coordinator, op, cl).await
    }

    /// Writes `value` to `key` through `coordinator` at `cl` (`None`: the configured level).
    pub async fn put(
        &self,
        coordinator: NodeId,
        key: &str,
        value: i64,
        cl: Option<ConsistencyLevel>,
    ) -> ClientResult {
        let op = Op::Put {
            key: key.to_string(),
            value,
        };
        self.request(coordinator, op, cl).await
    }

    /// Deletes `key` (writes a tombstone) through `coordinator` at `cl`.
    pub async fn delete(
        &self,
        coordinator: NodeId,
        key: &str,
        cl: Option<ConsistencyLevel>,
    ) -> ClientResult {
        let op = Op::Delete {
            key: key.to_string(),
        };
        self.request(coordinator, op, cl).await
    }

    fn target(&self, node: NodeId) -> Result<SocketAddr, ClientError> {
        if node.index() >= self.config.nodes {
            return Err(ClientError::UnknownNode {
                node,
                nodes: self.config.nodes,
            });
        }
        Ok(node_addr(node))
    }

    async fn request(
        &self,
        coordinator: NodeId,
        op: Op,
        cl: Option<ConsistencyLevel>,
    ) -> ClientResult {
        let fail = |reason: String| ClientResult {
            outcome: ClientOutcome::Fail { reason },
            coordinator,
            timestamp: None,
            replicas: Vec::new(),
        };
        let to = match self.target(coordinator) {
            Ok(a) => a,
            Err(e) => return fail(e.to_string()),
        };
        if op.key().len() > MAX_KEY_LEN {
            return fail(format!(
                "key of {} bytes is longer than the {MAX_KEY_LEN} the store accepts",
                op.key().len()
            ));
        }
        let req = self.new_req();
        let msg = Message::Request { req, op, level: cl };
        if let Err(e) = self.send(coordinator, to, &msg).await {
            return fail(format!("send to {coordinator} failed: {e}"));
        }
        let timeout = self.config.client_timeout();
        match self.await_reply(to, req, timeout).await {
            Some(Message::Reply { reply, .. }) => {
                let timestamp = reply.version;
                let outcome = match reply.outcome {
                    ReplyOutcome::Read(read) => ClientOutcome::Ok { read },
                    ReplyOutcome::Written => ClientOutcome::Ok { read: None },
                    ReplyOutcome::Unavailable { needed, alive } => ClientOutcome::Fail {
                        reason: format!("unavailable: {alive} of {needed} replicas alive"),
                    },
                    ReplyOutcome::Rejected(reason) => ClientOutcome::Fail { reason },
                    ReplyOutcome::Timeout { answered, needed } => ClientOutcome::Info {
                        reason: format!(
                            "coordinator timeout: {answered} of {needed} replicas answered"
                        ),
                    },
                };
                ClientResult {
                    outcome,
                    coordinator,
                    timestamp,
                    replicas: reply.replicas,
                }
            }
            _ => ClientResult {
                outcome: ClientOutcome::Info {
                    reason: format!(
                        "client timeout: no reply from {coordinator} within {} ms",
                        timeout.as_millis()
                    ),
                },
                coordinator,
                timestamp: None,
                replicas: Vec::new(),
            },
        }
    }

    /// `node`'s own stored cell for `key` (tombstones included), without coordination; `None`
    /// when it holds none *or could not be reached*: use [`Client::try_local_cell`] to tell
    /// the two apart.
    pub async fn local_cell(&self, node: NodeId, key: &str) -> Option<Cell> {
        self.try_local_cell(node, key).await.ok().flatten()
    }

    /// `node`'s own stored cell for `key`, or why it could not be had. Tries three times, each
    /// with the client timeout, since datagrams may be lost.
    pub async fn try_local_cell(
        &self,
        node: NodeId,
        key: &str,
    ) -> Result<Option<Cell>, ClientError> {
        let to = self.target(node)?;
        let timeout = self.config.client_timeout();
        for _ in 0..3 {
            let req = self.new_req();
            let msg = Message::LocalRead {
                req,
                key: key.to_string(),
            };
            self.send(node, to, &msg)
                .await
                .map_err(|e| ClientError::Io(e.to_string()))?;
            if let Some(Message::LocalCell { cell, .. }) = self.await_reply(to, req, timeout).await
            {
                return Ok(cell);
            }
        }
        Err(ClientError::Timeout {
            node,
            timeout_ms: timeout.as_millis() as u64,
        })
    }

    /// Waits for the reply to `req` from `from`, dropping anything else, until `timeout`.
    async fn await_reply(&self, from: SocketAddr, req: u64, timeout: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Replies are small; anything larger is not a reply and fails to decode.
        let mut buf = [0u8; 2048];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await;
            let (len, src) = match received {
                Ok(Ok(r)) => r,
                Ok(Err(_)) | Err(_) => return None,
            };
            match Message::decode(&buf[..len]) {
                Ok(m @ Message::Reply { req: r, .. })
                | Ok(m @ Message::LocalCell { req: r, .. })
                    if r == req && src == from =>
                {
                    return Some(m)
                }
                _ => self.stale.set(self.stale.get() + 1),
            }
        }
    }
}
