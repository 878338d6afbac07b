//! GTFS and GTFS-Realtime, the open transit formats.

pub mod proto;
pub mod realtime;
pub mod schedule;
