//! A client session: sends one request at a time to the node the harness names and waits for
//! the answer, from whichever node gives it, up to the request timeout.
//!
//! The client never retries: a request that is not answered in time may have been logged by a
//! leader and may still commit, so it ends as info; a retry would be a second write the
//! history does not record.
use std::cell::Cell as StdCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{json, Value};
use turmoil::net::UdpSocket;

use super::links::{End, Links};
use super::node::PORT;
use super::wire::{self, Answer, ClientOp, Message};
use crate::system::{
    LocalFuture, Outcome, Phase, Reply, Request, RequestKind, Session, Unreachable,
};

/// One client's session.
pub struct LfSession {
    socket: UdpSocket,
    hosts: Vec<String>,
    links: Links,
    timeout: Duration,
    next_id: StdCell<u64>,
}

impl LfSession {
    /// Binds the session's socket (inside the clients' host).
    pub async fn bind(
        hosts: Vec<String>,
        links: Links,
        timeout: Duration,
    ) -> std::io::Result<LfSession> {
        let socket = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await?;
        Ok(LfSession {
            socket,
            hosts,
            links,
            timeout,
            next_id: StdCell::new(0),
        })
    }

    /// Sends the message `make` builds for a fresh id to `node` and waits for the answer with
    /// that id; `None` when none came within the timeout.
    async fn ask(&self, node: usize, make: impl FnOnce(u64) -> Message) -> Option<Message> {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let msg = make(id);
        let bytes = wire::encode(&msg);
        // The request's delay on the way to the node: the node delays its answers itself.
        let delay = self
            .links
            .delay_ms(End::Client, End::Node(node), &msg.delay_key(), false);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let to = SocketAddr::new(turmoil::lookup(self.hosts.get(node)?.as_str()), PORT);
        self.socket.send_to(&bytes, to).await.ok()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let (len, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
            // An answer to an earlier request that timed out, or a foreign datagram: skipped.
            match wire::decode(&buf[..len]) {
                Ok(m @ Message::Reply { id: got, .. }) | Ok(m @ Message::Copy { id: got, .. })
                    if got == id =>
                {
                    return Some(m)
                }
                _ => {}
            }
        }
    }
}

impl Session for LfSession {
    fn call<'a>(&'a self, node: usize, request: Request<'a>) -> LocalFuture<'a, Reply> {
        Box::pin(async move {
            let op = match request.kind {
                RequestKind::Get => ClientOp::Get,
                RequestKind::Put(v) => ClientOp::Put(v),
                RequestKind::Delete => ClientOp::Delete,
                RequestKind::Cas { expect, new } => ClientOp::Cas { expect, new },
            };
            let cas = matches!(op, ClientOp::Cas { .. });
            let key = request.key.to_string();
            // The final reads are the strongest the store has: a leader read confirmed by a
            // majority, whatever the configured reads.
            let confirm = request.phase == Phase::Final;
            let answer = self
                .ask(node, |id| Message::Request {
                    id,
                    client: None,
                    op,
                    key,
                    confirm,
                    hops: 0,
                })
                .await;
            let Some(Message::Reply {
                answer,
                read,
                swapped,
                version,
                by,
                leader,
                term,
                ..
            }) = answer
            else {
                return Reply {
                    outcome: Outcome::Info {
                        reason: format!("no answer within {} ms", self.timeout.as_millis()),
                    },
                    coordinator: node,
                    extra: Vec::new(),
                };
            };
            let outcome = match answer {
                Answer::Ok if cas => match swapped {
                    Some(swapped) => Outcome::Cas { swapped },
                    // Never sent by these nodes; were it, the swap would be unknown.
                    None => Outcome::Info {
                        reason: "the answer to a cas did not say whether it swapped".into(),
                    },
                },
                Answer::Ok => Outcome::Ok { read },
                Answer::Fail(reason) => Outcome::Fail { reason },
                Answer::Info(reason) => Outcome::Info { reason },
            };
            let mut extra = vec![("by".to_string(), json!(by))];
            if let Some(l) = leader {
                extra.push(("leader".into(), json!(l)));
            }
            extra.push(("term".into(), json!(term)));
            // The version written or read: what lets the checkers tell one delete from another.
            if let Some((timestamp, writer)) = version {
                extra.push(("timestamp".into(), json!(timestamp)));
                extra.push(("writer".into(), json!(writer)));
            }
            Reply {
                outcome,
                coordinator: node,
                extra,
            }
        })
    }

    fn local_copy<'a>(
        &'a self,
        node: usize,
        key: &'a str,
    ) -> LocalFuture<'a, Result<Value, Unreachable>> {
        Box::pin(async move {
            let key = key.to_string();
            match self.ask(node, |id| Message::LocalCopy { id, key }).await {
                Some(Message::Copy { cell: None, .. }) => Ok(Value::Null),
                Some(Message::Copy { cell: Some(c), .. }) => Ok(json!({
                    "timestamp": c.timestamp,
                    "writer": c.writer,
                    "value": c.value,
                })),
                _ => Err(Unreachable::new(format!(
                    "node {node} did not answer within {} ms",
                    self.timeout.as_millis()
                ))),
            }
        })
    }
}
