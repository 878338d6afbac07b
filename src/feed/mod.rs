//! The live feed: what the simulator records while it runs live, as events, and what it
//! says about itself ([`SimStatus`]), carried to every process that serves (SPEC §4, §7).
//!
//! One interface ([`Feed`]) with two transports: in the process ([`LocalFeed`], the default)
//! or over NATS ([`NatsFeed`], `--feed nats://...`) from one simulator to any number of API
//! processes. Either way a process's subscribers read one bounded ring: a subscriber that
//! falls behind misses messages and is told ([`RecvError::Lagged`]); memory never grows.

mod event;
mod local;
mod nats;
mod status;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

pub use event::{Batch, DecodeError, Event, Topic};
pub use local::LocalFeed;
pub use nats::NatsFeed;
pub use status::{Phase, SimStatus, Status, StatusCell, Stored};

use crate::network::Network;

/// Messages kept for subscribers that are behind. At `--speed 60` a batch is about one
/// simulated second, published every 17 ms: a subscriber may fall about 4 s behind.
pub const RING: usize = 256;

/// With nothing from the simulator for this long (it sends its status every second), a
/// process says the feed is interrupted: to its clients, in its health, and by answering
/// "latest" from the store.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// What subscribers receive.
#[derive(Debug, Clone)]
pub enum FeedMessage {
    Events(Arc<Batch>),
    Status(Arc<SimStatus>),
    /// The transport is down; nothing arrives until [`FeedMessage::Resumed`].
    Interrupted(Arc<str>),
    Resumed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecvError {
    /// The subscriber fell behind the ring and missed this many messages.
    #[error("fell behind the feed: {0} messages missed")]
    Lagged(u64),
    #[error("the feed has closed")]
    Closed,
}

/// One subscriber's place in the ring.
pub struct Subscriber(broadcast::Receiver<FeedMessage>);

impl Subscriber {
    pub async fn recv(&mut self) -> Result<FeedMessage, RecvError> {
        self.0.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(n) => RecvError::Lagged(n),
            broadcast::error::RecvError::Closed => RecvError::Closed,
        })
    }
}

/// The transport's state, for health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    /// `in-process` or `nats`.
    pub kind: &'static str,
    pub connected: bool,
}

/// A live feed: the simulator publishes to it, every serving process subscribes to it.
#[async_trait]
pub trait Feed: Send + Sync {
    /// Sends one step's events to every subscriber (of every process).
    async fn publish(&self, batch: Arc<Batch>);
    /// Sends the simulator's status (at least once a second, and on every change).
    async fn publish_status(&self, status: &SimStatus);
    /// Messages from now on.
    fn subscribe(&self) -> Subscriber;
    fn state(&self) -> FeedState;
    /// Sends what is still buffered (at a stop, so the last status gets out).
    async fn flush(&self) {}
}

/// Which feed to use, parsed once at the edge from `--feed`.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum FeedUrl {
    /// Within this process only (one process serves everything).
    #[default]
    InProcess,
    /// A NATS server, `nats://host:port`.
    Nats(String),
}

impl FeedUrl {
    /// Connects; with `listen`, this process also receives what is published (a process
    /// that serves the live data). A NATS server that is not up yet is retried in the
    /// background, reported by [`Feed::state`].
    pub async fn connect(
        &self,
        network: Arc<Network>,
        listen: bool,
    ) -> anyhow::Result<Arc<dyn Feed>> {
        Ok(match self {
            FeedUrl::InProcess => Arc::new(LocalFeed::new()),
            FeedUrl::Nats(url) => NatsFeed::connect(url, network, listen).await?,
        })
    }
}

impl std::str::FromStr for FeedUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in-process" => Ok(FeedUrl::InProcess),
            _ if s.starts_with("nats://") && s.len() > "nats://".len() => {
                Ok(FeedUrl::Nats(s.to_string()))
            }
            _ => Err(format!(
                "{s:?} is not a feed: write nats://HOST:PORT, or in-process"
            )),
        }
    }
}

/// Shown without a password.
impl std::fmt::Debug for FeedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FeedUrl({self})")
    }
}

impl std::fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedUrl::InProcess => f.write_str("in-process"),
            FeedUrl::Nats(url) => f.write_str(&nats::redact(url)),
        }
    }
}

/// The bounded ring a process's subscribers read, whatever the transport.
#[derive(Clone)]
struct Ring(broadcast::Sender<FeedMessage>);

impl Ring {
    fn new() -> Self {
        Self(broadcast::channel(RING).0)
    }

    fn send(&self, message: FeedMessage) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.0.send(message);
    }

    fn subscribe(&self) -> Subscriber {
        Subscriber(self.0.subscribe())
    }
}

/// Describes the feed's metrics (once a recorder is installed).
pub fn describe_metrics() {
    metrics::describe_counter!("madbus_events_published_total", "Live events published");
    metrics::describe_counter!(
        "madbus_events_received_total",
        "Live events received from NATS"
    );
    metrics::describe_counter!(
        "madbus_feed_errors_total",
        "Feed messages that could not be sent or read, by what failed"
    );
}
