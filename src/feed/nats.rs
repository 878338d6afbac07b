//! The feed over NATS: the simulator publishes each step's events on subjects per topic and
//! line, and its status; every serving process subscribes to them all (its read model
//! answers every "latest") and fills its own ring. async-nats reconnects by itself; while
//! it is away subscribers get [`FeedMessage::Interrupted`], then [`FeedMessage::Resumed`].
//!
//! Subjects (what another consumer can subscribe to):
//! - `madbus.live.{topic}.line.{line_id}`: a line's buses' events (positions, arrivals, bus
//!   sensors);
//! - `madbus.live.{topic}.stops`: stops' events (people counts, stop sensors), which concern
//!   several lines each;
//! - `madbus.status`: the simulator's status as JSON, at least once a second.
//!
//! An event message's payload is its events' JSON, one per line, exactly as WebSocket
//! clients receive them: serialised once, by the simulator.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use futures_util::{FutureExt, StreamExt};

use super::{Batch, Event, Feed, FeedMessage, FeedState, Ring, SimStatus, Subscriber};
use crate::network::Network;

const LIVE: &str = "madbus.live";
const STATUS: &str = "madbus.status";
/// Everything madbus publishes.
const ALL: &str = "madbus.>";
/// NATS refuses messages over its `max_payload` (1 MiB by default): larger groups are split.
const MAX_PAYLOAD: usize = 512 * 1024;
/// Events merged into one batch when several messages are waiting.
const MAX_MERGED: usize = 4096;

pub struct NatsFeed {
    client: async_nats::Client,
    network: Arc<Network>,
    ring: Ring,
    reader: Option<tokio::task::AbortHandle>,
}

impl Drop for NatsFeed {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

impl NatsFeed {
    /// Connects to `url` (retrying in the background until the server is up); with
    /// `listen`, subscribes to everything madbus publishes.
    pub async fn connect(
        url: &str,
        network: Arc<Network>,
        listen: bool,
    ) -> anyhow::Result<Arc<dyn Feed>> {
        let ring = Ring::new();
        let interrupted = Arc::new(AtomicBool::new(false));
        let on_event = {
            let (ring, interrupted) = (ring.clone(), Arc::clone(&interrupted));
            move |event| {
                connection_event(event, &ring, &interrupted);
                std::future::ready(())
            }
        };
        let client = async_nats::ConnectOptions::new()
            .name("madbus")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100u64 << attempts.min(4)).min(Duration::from_secs(1))
            })
            .event_callback(on_event)
            .connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {}", redact(url)))?;
        let reader = if listen {
            let subscription = (client.subscribe(ALL).await)
                .with_context(|| format!("subscribing to {ALL} on NATS"))?;
            let task = tokio::spawn(read(
                subscription,
                Arc::clone(&network),
                ring.clone(),
                Arc::clone(&interrupted),
            ));
            Some(task.abort_handle())
        } else {
            None
        };
        tracing::info!(url = %redact(url), listen, "live feed over NATS");
        Ok(Arc::new(Self {
            client,
            network,
            ring,
            reader,
        }))
    }

    fn subject(&self, event: &Event) -> String {
        let topic = event.topic.as_str();
        match event.lines.first() {
            Some(&line) if !event.about_stop() => {
                format!(
                    "{LIVE}.{topic}.line.{}",
                    self.network.lines[line as usize].id
                )
            }
            _ => format!("{LIVE}.{topic}.stops"),
        }
    }
}

/// `url` without its credentials, for logs: all of the user part goes, since NATS takes a
/// bare token where other URLs put a user name.
pub(super) fn redact(url: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(s, rest)| Some((s, rest.split_once('@')?)))
    {
        Some((scheme, (_, host))) => format!("{scheme}://***@{host}"),
        None => url.to_string(),
    }
}

/// Tells subscribers when the connection goes and comes back (once each).
fn connection_event(event: async_nats::Event, ring: &Ring, interrupted: &AtomicBool) {
    match event {
        async_nats::Event::Disconnected => {
            if !interrupted.swap(true, Ordering::SeqCst) {
                tracing::warn!("lost the connection to NATS; reconnecting");
                ring.send(FeedMessage::Interrupted(
                    "The live feed lost its connection to NATS; reconnecting".into(),
                ));
            }
        }
        async_nats::Event::Connected => {
            if interrupted.swap(false, Ordering::SeqCst) {
                tracing::info!("reconnected to NATS; the live feed resumes");
                ring.send(FeedMessage::Resumed);
            }
        }
        async_nats::Event::SlowConsumer(_) => {
            metrics::counter!("madbus_feed_errors_total", "what" => "slow_consumer").increment(1);
            tracing::warn!("NATS dropped messages for this process: it read too slowly");
        }
        other => tracing::warn!(event = %other, "NATS"),
    }
}

/// Turns what arrives from NATS into ring messages: waiting event messages are merged into
/// one batch, and a status keeps its place between events.
async fn read(
    mut subscription: async_nats::Subscriber,
    network: Arc<Network>,
    ring: Ring,
    interrupted: Arc<AtomicBool>,
) {
    loop {
        let first = match tokio::time::timeout(super::STALE_AFTER, subscription.next()).await {
            Ok(Some(message)) => message,
            Ok(None) => return,
            // Connected, but the simulator says nothing (it stopped, or none runs yet).
            Err(_) => {
                if !interrupted.swap(true, Ordering::SeqCst) {
                    tracing::warn!("nothing from the simulator on NATS for a while");
                    ring.send(FeedMessage::Interrupted(
                        format!(
                            "No news from the simulator for {} s",
                            super::STALE_AFTER.as_secs()
                        )
                        .into(),
                    ));
                }
                continue;
            }
        };
        if interrupted.swap(false, Ordering::SeqCst) {
            tracing::info!("the live feed resumes");
            ring.send(FeedMessage::Resumed);
        }
        let mut batch = Batch::default();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            if message.subject.as_str() == STATUS {
                flush(&ring, &mut batch);
                match serde_json::from_slice::<SimStatus>(&message.payload) {
                    Ok(status) => ring.send(FeedMessage::Status(Arc::new(status))),
                    Err(e) => bad_message("status", &e),
                }
            } else if message.subject.as_str().starts_with(LIVE) {
                take_events(&network, &message.payload, &mut batch);
            }
            if batch.events.len() < MAX_MERGED {
                next = subscription.next().now_or_never().flatten();
            }
        }
        flush(&ring, &mut batch);
    }
}

fn flush(ring: &Ring, batch: &mut Batch) {
    if !batch.events.is_empty() {
        let n = batch.events.len() as u64;
        metrics::counter!("madbus_events_received_total").increment(n);
        ring.send(FeedMessage::Events(Arc::new(std::mem::take(batch))));
    }
}

fn take_events(network: &Network, payload: &bytes::Bytes, batch: &mut Batch) {
    for line in payload.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        // A view of the payload, not a copy: the JSON goes to clients as received.
        let decoded = Utf8Bytes::try_from(payload.slice_ref(line))
            .map_err(|e| e.to_string())
            .and_then(|json| Event::decode(network, json).map_err(|e| e.to_string()));
        match decoded {
            Ok(event) => batch.events.push(event),
            Err(e) => bad_message("event", &e),
        }
    }
}

fn bad_message(what: &'static str, error: &dyn std::fmt::Display) {
    metrics::counter!("madbus_feed_errors_total", "what" => "bad_message").increment(1);
    tracing::warn!(error = %error, what, "ignored a malformed message from NATS");
}

#[async_trait]
impl Feed for NatsFeed {
    async fn publish(&self, batch: Arc<Batch>) {
        // One message per subject and step, in order; split when large.
        let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
        let mut open: HashMap<String, usize> = HashMap::new();
        for event in &batch.events {
            let subject = self.subject(event);
            let slot = match open.get(&subject) {
                Some(&i) if messages[i].1.len() + event.json.len() < MAX_PAYLOAD => i,
                _ => {
                    messages.push((subject.clone(), Vec::new()));
                    open.insert(subject, messages.len() - 1);
                    messages.len() - 1
                }
            };
            let payload = &mut messages[slot].1;
            if !payload.is_empty() {
                payload.push(b'\n');
            }
            payload.extend_from_slice(event.json.as_bytes());
        }
        for (subject, payload) in messages {
            if let Err(e) = self.client.publish(subject, payload.into()).await {
                metrics::counter!("madbus_feed_errors_total", "what" => "publish").increment(1);
                tracing::warn!(error = %e, "publishing to NATS failed");
            }
        }
        metrics::counter!("madbus_events_published_total").increment(batch.events.len() as u64);
    }

    async fn publish_status(&self, status: &SimStatus) {
        let json = serde_json::to_vec(status).expect("a status serialises");
        if let Err(e) = self.client.publish(STATUS, json.into()).await {
            metrics::counter!("madbus_feed_errors_total", "what" => "publish").increment(1);
            tracing::warn!(error = %e, "publishing the status to NATS failed");
        }
    }

    fn subscribe(&self) -> Subscriber {
        self.ring.subscribe()
    }

    async fn flush(&self) {
        match tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the feed to NATS failed"),
            Err(_) => tracing::warn!("flushing the feed to NATS took over 2 s; gave up"),
        }
    }

    fn state(&self) -> FeedState {
        FeedState {
            kind: "nats",
            connected: self.client.connection_state() == async_nats::connection::State::Connected,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(super::redact("nats://u:secret@h:4222"), "nats://***@h:4222");
        assert_eq!(super::redact("nats://h:4222"), "nats://h:4222");
        let url: crate::feed::FeedUrl = "nats://u:secret@h:4222".parse().unwrap();
        assert!(!format!("{url} {url:?}").contains("secret"));
    }
}
