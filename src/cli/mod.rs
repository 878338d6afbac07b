//! The command line: `madbus serve`, `check-config`, `export`, `keys`, `mcp`, `verify`, `probe`. Every flag can also be set by an
//! environment variable `MADBUS_<FLAG>`.

mod check_config;
mod export;
mod keys;
mod mcp;
mod probe;
mod serve;
mod verify;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "madbus",
    version,
    about = "Real-time city-bus simulation and data platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate, record and serve (backfills history on first start).
    Serve(Box<serve::ServeArgs>),
    /// Validate a network file and print a summary, or every error.
    CheckConfig(check_config::CheckConfigArgs),
    /// Write the GTFS static feed, or a series of the local store, to a file.
    Export(export::ExportArgs),
    /// Manage API keys: create, list, revoke, rotate.
    Keys(keys::KeysArgs),
    /// Serve the MCP tools over stdio, for a local assistant: from the local data dir
    /// (read-only), or from a remote madbus (`--remote URL`).
    Mcp(mcp::McpArgs),
    /// Run the deployment checklist against a madbus (or a throwaway one with --local).
    Verify(verify::VerifyArgs),
    /// Exit 0 when a URL answers 2xx (a container health check without curl).
    Probe(probe::ProbeArgs),
}

/// Runs the command line; the binary's `main` is only this.
pub fn main() -> ExitCode {
    // Every TLS client of the process (HTTP, WebSocket, NATS) uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let _flush_on_exit = init_logging(LogTo::Stdout);
            serve::run(*args)
        }
        Command::Mcp(args) => {
            // stdout carries the protocol.
            let _flush_on_exit = init_logging(LogTo::Stderr);
            mcp::run(args)
        }
        Command::Verify(args) => verify::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Export(args) => export::run(args),
        Command::Probe(args) => probe::run(args),
    }
}

/// Runs a command's async body on a new runtime. An error is logged and printed, and
/// becomes `failure`, the command's exit code.
fn block_on<T>(
    body: impl std::future::Future<Output = anyhow::Result<T>>,
    failure: ExitCode,
) -> Result<T, ExitCode> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        failure
    })?;
    runtime.block_on(body).map_err(|e| {
        tracing::error!("{e:#}");
        eprintln!("error: {e:#}");
        failure
    })
}

/// Where a command finds the data a `madbus serve` recorded.
#[derive(clap::Args)]
struct LocalData {
    /// Where the store lives (as for `serve`).
    #[arg(long, env = "MADBUS_DATA_DIR", default_value = "./madbus-data")]
    data_dir: std::path::PathBuf,
    /// The store, as a URL: `sqlite:DIR` (default: the SQLite file in --data-dir).
    #[arg(long, env = "MADBUS_STORE")]
    store: Option<crate::store::StoreUrl>,
    /// The network file the data was recorded with (default: the built-in one).
    #[arg(long, env = "MADBUS_NETWORK")]
    network: Option<std::path::PathBuf>,
}

impl LocalData {
    fn url(&self) -> crate::store::StoreUrl {
        crate::store::StoreUrl::choose(self.store.clone(), &self.data_dir)
    }

    /// The query layer over the store opened read-only (safe beside a running `madbus
    /// serve`): what is stored is all there is, so it is ready at once.
    async fn query(&self) -> anyhow::Result<crate::query::Query> {
        let network = std::sync::Arc::new(crate::app::load_network(self.network.as_deref())?);
        let store = self.url().open_read_only().await?;
        let live = std::sync::Arc::new(crate::live::LiveState::settled(&network));
        let feed = std::sync::Arc::new(crate::feed::LocalFeed::new());
        Ok(crate::query::Query::new(network, store, live, feed))
    }
}

/// Without `RUST_LOG`: info, but rmcp's per-request lines (several for every stateless MCP
/// request) only when they warn.
const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

/// Where log lines go.
#[derive(Clone, Copy)]
pub enum LogTo {
    Stdout,
    Stderr,
}

/// JSON lines when the output is not a terminal (containers, files), readable lines
/// otherwise. `RUST_LOG` filters (default [`DEFAULT_LOG_FILTER`]).
/// Lines are written by a dedicated thread, so request handlers never wait on the output; its
/// queue is bounded and blocks rather than drops when full (access logs are not lost). Keep
/// the returned guard alive until exit: dropping it writes what is queued.
pub fn init_logging(to: LogTo) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let (writer, guard, terminal) = match to {
        LogTo::Stdout => {
            let (w, g) = non_blocking(std::io::stdout());
            (w, g, std::io::stdout().is_terminal())
        }
        LogTo::Stderr => {
            let (w, g) = non_blocking(std::io::stderr());
            (w, g, std::io::stderr().is_terminal())
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone());
    if terminal {
        builder.init();
    } else {
        crate::gateway::write_json_access_lines_to(writer.clone());
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
    guard
}

fn non_blocking<W: std::io::Write + Send + 'static>(
    out: W,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    // The writer thread drains every queued line into this buffer, then flushes: one write
    // for many lines under load, each line at once when idle.
    let buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(buffered)
}
