//! The feed within one process: publishing is sending to the ring.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Batch, Feed, FeedMessage, FeedState, Ring, SimStatus, Subscriber};

pub struct LocalFeed {
    ring: Ring,
}

impl LocalFeed {
    pub fn new() -> Self {
        Self { ring: Ring::new() }
    }
}

impl Default for LocalFeed {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Feed for LocalFeed {
    async fn publish(&self, batch: Arc<Batch>) {
        metrics::counter!("madbus_events_published_total").increment(batch.events.len() as u64);
        self.ring.send(FeedMessage::Events(batch));
    }

    async fn publish_status(&self, status: &SimStatus) {
        self.ring
            .send(FeedMessage::Status(Arc::new(status.clone())));
    }

    fn subscribe(&self) -> Subscriber {
        self.ring.subscribe()
    }

    fn state(&self) -> FeedState {
        FeedState {
            kind: "in-process",
            connected: true,
        }
    }
}
