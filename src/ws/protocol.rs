//! The messages of `/ws`. Clients send JSON actions; the server answers each with an ack,
//! reports problems as `error` messages (the connection stays open), and sends snapshots
//! and events.
//!
//! ```text
//! -> {"action": "subscribe", "line_ids": ["L1", "L2"], "topics": ["positions", "arrivals"]}
//! <- {"type": "ack", "action": "subscribe", "line_ids": ["L1", "L2"], "topics": [...], "batched": false, "added": ["L1", "L2"]}
//! <- {"type": "snapshot", "line_id": "L1", "time": "...", "buses": [...]}
//! <- {"type": "bus.position.updated", "data": {...}}     (REST field names)
//! -> {"action": "subscribe", "batched": true}            (positions one message per line and step)
//! <- {"type": "bus.positions", "line_id": "L1", "data": [{...}, {...}]}
//! -> {"action": "unsubscribe", "line_ids": ["L1"]}
//! -> {"action": "ping"}
//! <- {"type": "ack", "action": "ping", "server_time": "..."}
//! ```

use serde::{Deserialize, Serialize};

use crate::query::views::LineSnapshotView;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    /// Adds lines (and, if given, sets the topics).
    Subscribe {
        #[serde(default)]
        line_ids: Vec<String>,
        topics: Option<Vec<String>>,
        /// Positions as one `bus.positions` message per line and step instead of one
        /// `bus.position.updated` per bus (far fewer messages for a client of many lines).
        batched: Option<bool>,
    },
    /// Removes lines (and topics, if given).
    Unsubscribe {
        #[serde(default)]
        line_ids: Vec<String>,
        topics: Option<Vec<String>>,
    },
    Ping,
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "Invalid message ({e}): send {{\"action\": \"subscribe\" | \"unsubscribe\", \
                 \"line_ids\": [...], \"topics\": [...]}} or {{\"action\": \"ping\"}}"
            )
        })
    }
}

/// What the server sends, other than events (which are pre-serialised by the feed).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Ack {
        action: &'static str,
        /// Every line subscribed now, in network order.
        line_ids: Vec<String>,
        topics: Vec<&'static str>,
        /// Whether positions come as one `bus.positions` message per line and step.
        batched: bool,
        /// Lines this action added (subscribe) or removed (unsubscribe).
        #[serde(skip_serializing_if = "Option::is_none")]
        added: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        removed: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        server_time: Option<String>,
    },
    Error {
        message: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        invalid_line_ids: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        invalid_topics: Vec<String>,
    },
    Snapshot(LineSnapshotView),
    /// The client fell behind the feed and is being disconnected.
    Lagged {
        missed: u64,
        message: String,
    },
    /// The feed behind this server is down: no events until `feed.resumed`.
    #[serde(rename = "feed.interrupted")]
    FeedInterrupted {
        message: String,
    },
    /// Events flow again; some were missed (line snapshots or REST give the state now).
    #[serde(rename = "feed.resumed")]
    FeedResumed {
        message: String,
    },
}

impl ServerMessage {
    pub fn error(message: impl Into<String>) -> Self {
        ServerMessage::Error {
            message: message.into(),
            invalid_line_ids: Vec::new(),
            invalid_topics: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages serialise to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn client_messages_parse_or_refuse_with_a_message(text in "[\\[\\]{}\":, a-z_A-Z0-9]{0,200}") {
            if let Err(e) = ClientMessage::parse(&text) {
                proptest::prop_assert!(!e.is_empty());
            }
        }

        #[test]
        fn any_text_is_refused_or_taken(text in ".{0,300}") {
            let _ = ClientMessage::parse(&text);
        }
    }
}
