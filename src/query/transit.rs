//! The open transit formats' questions: the GTFS static feed of the network and the
//! GTFS-Realtime feeds of the latest positions.

use std::sync::Arc;

use bytes::Bytes;

use super::{Query, QueryError};
use crate::gtfs::proto::FeedMessage;
use crate::gtfs::realtime::{self, RealtimeFeed};
use crate::gtfs::schedule::{self, ServiceWindow};

/// The last static feed made: one at a time is made, and the same window is served again.
pub(super) type StaticCache = Arc<tokio::sync::Mutex<Option<(ServiceWindow, StaticFeed)>>>;

/// A GTFS static feed and the digest of its bytes (made once, with the feed).
#[derive(Debug, Clone)]
pub struct StaticFeed {
    pub zip: Bytes,
    pub digest: String,
}

impl Query {
    /// The GTFS static feed (a zip) for `window`, or for the default window around the
    /// simulated date.
    pub async fn gtfs_static(
        &self,
        window: Option<ServiceWindow>,
    ) -> Result<StaticFeed, QueryError> {
        let window = window.unwrap_or_else(|| ServiceWindow::around(self.now()));
        // Held while making one, so a burst of requests makes it once.
        let mut cache = self.gtfs_static.lock().await;
        if let Some((w, feed)) = cache.as_ref()
            && *w == window
        {
            return Ok(feed.clone());
        }
        let network = self.network.clone();
        let zip = tokio::task::spawn_blocking(move || {
            schedule::write_zip(&network, window, std::io::Cursor::new(Vec::new()))
        })
        .await
        .map_err(|e| QueryError::Internal(format!("the GTFS feed task failed: {e}")))?
        .map_err(|e| QueryError::Internal(format!("cannot write the GTFS feed: {e}")))?;
        let zip = Bytes::from(zip.into_inner());
        let feed = StaticFeed {
            digest: crate::hex::digest(&zip),
            zip,
        };
        *cache = Some((window, feed.clone()));
        Ok(feed)
    }

    /// A GTFS-Realtime feed of the latest positions, of every line or of `line_id`.
    pub async fn realtime(
        &self,
        kind: RealtimeFeed,
        line_id: Option<&str>,
    ) -> Result<FeedMessage, QueryError> {
        let line = line_id.map(|id| self.line_index(id)).transpose()?;
        self.ready()?;
        let (positions, now) = self.latest_of(|b| line.is_none_or(|l| b.line == l)).await?;
        Ok(realtime::build(kind, &self.network, &positions, now))
    }
}
