//! One WebSocket client: its subscription (lines and topics), its actions, and the events
//! it is sent. Nothing here can grow with a slow client: events come from the feed's
//! bounded ring (falling behind it ends the session with `lagged`), writes have a deadline,
//! and the write buffer is capped at the upgrade.

use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::SinkExt;

use super::protocol::{ClientMessage, ServerMessage};
use super::{Slot, WsConfig};
use crate::feed::{Batch, FeedMessage, RecvError, Topic};
use crate::network::Network;
use crate::query::{Query, QueryError, QueryForm};
use crate::time::Millis;
use crate::web::AppState;

/// Topics a new client gets until it chooses.
const DEFAULT_TOPICS: [Topic; 2] = [Topic::Positions, Topic::Arrivals];
/// Close code for a client too slow for the feed (RFC 6455 registry: "Try Again Later").
const TRY_AGAIN_LATER: u16 = 1013;

/// Why a session ends: sent to the client as a close frame when it can still hear it.
struct Ending(u16, String);

struct Subscription {
    lines: Vec<bool>,
    topics: [bool; 4],
    /// Positions as one message per line and step.
    batched: bool,
}

impl Subscription {
    fn new(lines: usize) -> Self {
        let mut topics = [false; 4];
        for t in DEFAULT_TOPICS {
            topics[t.index()] = true;
        }
        Self {
            lines: vec![false; lines],
            topics,
            batched: false,
        }
    }

    fn wants(&self, topic: Topic, lines: &[u32]) -> bool {
        self.topics[topic.index()]
            && lines
                .iter()
                .any(|&l| self.lines.get(l as usize).copied().unwrap_or(false))
    }

    fn line_ids(&self, query: &Query) -> Vec<String> {
        let lines = &query.network().lines;
        (0..self.lines.len())
            .filter(|&i| self.lines[i])
            .map(|i| lines[i].id.to_string())
            .collect()
    }

    fn topic_names(&self) -> Vec<&'static str> {
        Topic::ALL
            .into_iter()
            .filter(|&t| self.topics[t.index()])
            .map(Topic::as_str)
            .collect()
    }
}

pub async fn run(mut socket: WebSocket, state: AppState, config: WsConfig, _slot: Slot) {
    let query = state.query.clone();
    let mut feed = query.subscribe();
    let mut sub = Subscription::new(query.network().lines.len());
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.tick().await;
    let mut last_heard = Instant::now();
    let ending = loop {
        let outcome: Result<(), Ending> = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    let replies = act(&query, &mut sub, text.as_str()).await;
                    let replies = replies.into_iter().map(|m| Message::Text(m.into())).collect();
                    send_all(&mut socket, &config, replies).await
                }
                Some(Ok(Message::Binary(_))) => {
                    last_heard = Instant::now();
                    let reply = ServerMessage::error("Binary messages are not understood: send JSON text").to_json();
                    send_all(&mut socket, &config, vec![Message::Text(reply.into())]).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    last_heard = Instant::now();
                    Ok(())
                }
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    match protocol_error(e) {
                        Some(ending) => Err(ending),
                        None => break None,
                    }
                }
            },
            message = feed.recv() => match message {
                Ok(FeedMessage::Events(batch)) => {
                    send_events(&mut socket, &config, &sub, &batch, query.network()).await
                }
                Ok(FeedMessage::Status(_)) => Ok(()),
                Ok(FeedMessage::Interrupted(why)) => {
                    let notice = ServerMessage::FeedInterrupted { message: why.to_string() }.to_json();
                    send_all(&mut socket, &config, vec![Message::Text(notice.into())]).await
                }
                Ok(FeedMessage::Resumed) => {
                    let message = "The live feed is back; events sent while it was down were missed".into();
                    let notice = ServerMessage::FeedResumed { message }.to_json();
                    send_all(&mut socket, &config, vec![Message::Text(notice.into())]).await
                }
                Err(RecvError::Lagged(missed)) => {
                    let message = format!("Too slow: {missed} event batches were missed; reconnect and read faster");
                    let notice = ServerMessage::Lagged { missed, message: message.clone() }.to_json();
                    // Best effort: the client is behind, it may not read this either.
                    let _ = send_all(&mut socket, &config, vec![Message::Text(notice.into())]).await;
                    Err(Ending(TRY_AGAIN_LATER, message))
                }
                Err(RecvError::Closed) => Err(Ending(close_code::AWAY, "The server is stopping".into())),
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > config.heartbeat * 3 {
                    Err(Ending(close_code::POLICY, "No answer to pings".into()))
                } else {
                    send_all(&mut socket, &config, vec![Message::Ping(Default::default())]).await
                }
            }
            () = state.closing.cancelled() => Err(Ending(close_code::AWAY, "The server is stopping".into())),
        };
        if let Err(ending) = outcome {
            break Some(ending);
        }
    };
    if let Some(Ending(code, reason)) = ending {
        tracing::debug!(code, reason = %reason, "closing a websocket client");
        // A close reason may be at most 123 bytes (RFC 6455 §5.5).
        let reason = &reason[..reason.floor_char_boundary(123)];
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(config.send_timeout, socket.send(close)).await;
    }
}

/// The close frame owed for a client's protocol fault (RFC 6455 §7.4.1); `None` when the
/// connection itself failed and nothing more can be sent.
fn protocol_error(e: axum::Error) -> Option<Ending> {
    use tokio_tungstenite::tungstenite::Error;
    let e = e.into_inner().downcast::<Error>().ok()?;
    let (code, reason) = match *e {
        Error::Capacity(e) => (close_code::SIZE, format!("Message too big: {e}")),
        Error::Utf8(_) => (
            close_code::INVALID,
            "Text message is not valid UTF-8".into(),
        ),
        Error::Protocol(e) => (close_code::PROTOCOL, format!("Protocol error: {e}")),
        _ => return None,
    };
    Some(Ending(code, reason))
}

/// Writes `messages` and flushes once, within the send deadline.
async fn send_all(
    socket: &mut WebSocket,
    config: &WsConfig,
    messages: Vec<Message>,
) -> Result<(), Ending> {
    let write = async {
        for m in messages {
            socket.feed(m).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(config.send_timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Ending(close_code::ERROR, format!("write failed: {e}"))),
        Err(_) => Err(Ending(
            TRY_AGAIN_LATER,
            format!(
                "Too slow: a write took over {} s",
                config.send_timeout.as_secs()
            ),
        )),
    }
}

async fn send_events(
    socket: &mut WebSocket,
    config: &WsConfig,
    sub: &Subscription,
    batch: &Batch,
    network: &Network,
) -> Result<(), Ending> {
    let batched = sub.batched && sub.topics[Topic::Positions.index()];
    let mut wanted: Vec<Message> = Vec::new();
    if batched {
        let frames = batch.line_positions(network).iter().zip(&sub.lines);
        wanted.extend(
            frames
                .filter_map(|(frame, &on)| frame.as_ref().filter(|_| on))
                .map(|frame| Message::Text(frame.clone())),
        );
    }
    wanted.extend(
        (batch.events.iter())
            .filter(|e| !(batched && e.topic == Topic::Positions) && sub.wants(e.topic, &e.lines))
            .map(|e| Message::Text(e.json.clone())),
    );
    if wanted.is_empty() {
        return Ok(());
    }
    send_all(socket, config, wanted).await
}

/// Line indices for `ids`, and the ids that are not lines.
fn resolve_lines(query: &Query, ids: &[String]) -> (Vec<usize>, Vec<String>) {
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    for id in ids {
        match query.line_index(id) {
            Ok(i) => found.push(i),
            Err(_) => invalid.push(id.clone()),
        }
    }
    (found, invalid)
}

fn resolve_topics(names: &[String]) -> (Vec<Topic>, Vec<String>) {
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    for name in names {
        match Topic::parse(name) {
            Some(t) => found.push(t),
            None => invalid.push(name.clone()),
        }
    }
    (found, invalid)
}

/// Carries out one client action; returns the messages to send, in order.
async fn act(query: &Query, sub: &mut Subscription, text: &str) -> Vec<String> {
    let message = match ClientMessage::parse(text) {
        Ok(m) => m,
        Err(e) => return vec![ServerMessage::error(e).to_json()],
    };
    let (action, line_ids, topics, adding) = match message {
        ClientMessage::Ping => {
            let ack = ServerMessage::Ack {
                action: "ping",
                line_ids: sub.line_ids(query),
                topics: sub.topic_names(),
                batched: sub.batched,
                added: None,
                removed: None,
                server_time: Some(Millis::now().to_rfc3339()),
            };
            return vec![ack.to_json()];
        }
        ClientMessage::Subscribe {
            line_ids,
            topics,
            batched,
        } => {
            if let Some(batched) = batched {
                sub.batched = batched;
            }
            ("subscribe", line_ids, topics, true)
        }
        ClientMessage::Unsubscribe { line_ids, topics } => ("unsubscribe", line_ids, topics, false),
    };
    let (lines, invalid_line_ids) = resolve_lines(query, &line_ids);
    let (topic_list, invalid_topics) = resolve_topics(topics.as_deref().unwrap_or_default());
    let changed: Vec<usize> = lines
        .into_iter()
        .filter(|&i| sub.lines[i] != adding)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for &i in &changed {
        sub.lines[i] = adding;
    }
    if topics.is_some() {
        if adding {
            // Subscribing with topics chooses them; an empty valid list keeps the old.
            if !topic_list.is_empty() {
                sub.topics = [false; 4];
            }
        }
        for t in &topic_list {
            sub.topics[t.index()] = adding;
        }
    }
    let names = |list: &[usize]| -> Vec<String> {
        list.iter()
            .map(|&i| query.network().lines[i].id.to_string())
            .collect()
    };
    let mut out = vec![
        ServerMessage::Ack {
            action,
            line_ids: sub.line_ids(query),
            topics: sub.topic_names(),
            batched: sub.batched,
            added: adding.then(|| names(&changed)),
            removed: (!adding).then(|| names(&changed)),
            server_time: None,
        }
        .to_json(),
    ];
    if !invalid_line_ids.is_empty() || !invalid_topics.is_empty() {
        let mut parts = Vec::new();
        if !invalid_line_ids.is_empty() {
            parts.push(format!("unknown line ids: {}", invalid_line_ids.join(", ")));
        }
        if !invalid_topics.is_empty() {
            parts.push(format!(
                "unknown topics: {} (topics are {})",
                invalid_topics.join(", "),
                Topic::ALL.map(Topic::as_str).join(", ")
            ));
        }
        out.push(
            ServerMessage::Error {
                message: format!(
                    "{action}: {}; the valid ones were applied",
                    parts.join("; ")
                ),
                invalid_line_ids,
                invalid_topics,
            }
            .to_json(),
        );
    }
    if adding {
        for i in changed {
            let id = query.network().lines[i].id.to_string();
            match query.line_buses(&id, QueryForm::Latest).await {
                Ok(snapshot) => out.push(ServerMessage::Snapshot(snapshot).to_json()),
                Err(QueryError::NotFound(_) | QueryError::NotReady(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, line = %id, "no snapshot for a new subscriber")
                }
            }
        }
    }
    out
}
