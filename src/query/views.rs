//! What the query layer answers with, around the record views of [`crate::views`].

use serde::Serialize;

pub use crate::views::{BusArrivalView, BusPositionView, PeopleCountView, SensorView};

/// Every bus of a line at one time.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LineSnapshotView {
    pub line_id: String,
    pub time: String,
    pub buses: Vec<BusPositionView>,
}

/// One page of a range query.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A single row (latest, as-of) or a page (range).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Answer<T> {
    One(T),
    Page(PageView<T>),
}
