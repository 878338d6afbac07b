//! The GTFS-Realtime 2.0 message types, generated from `proto/gtfs-realtime.proto` by the
//! build script.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/transit_realtime.rs"));

/// The compiled descriptors of the same file (for protobuf JSON).
pub const DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gtfs_realtime_descriptors.bin"));
