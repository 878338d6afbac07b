//! madbus: a real-time city-bus simulation and data platform.
//!
//! Data flows one way: [`network`] file -> [`sim`] world (one tick at a time, driven by
//! [`runner`]) -> [`store`] and the live [`feed`] (records in their public shape, [`views`];
//! in the process or over NATS) -> the [`live`] read model -> one [`query`] layer -> the
//! outward interfaces: REST ([`http`]), WebSocket ([`ws`]) and MCP ([`mcp`]), behind the
//! [`gateway`]; what they share (state, the error type) is in [`web`], below them all.
//! [`app::Application`] assembles the parts a role needs; [`cli`] is the command line.

pub mod app;
pub mod cli;
pub mod export;
pub mod feed;
pub mod gateway;
pub mod gtfs;
pub mod hex;
pub mod http;
pub mod live;
pub mod mcp;
pub mod network;
pub mod query;
pub mod runner;
pub mod sim;
pub mod store;
pub mod time;
pub mod verify;
pub mod views;
pub mod web;
pub mod ws;
