//! The command line: `madbus serve`, `check-config`, `keys`, `mcp`. Every flag can also be set by an
//! environment variable `MADBUS_<FLAG>`.

mod check_config;
mod keys;
mod mcp;
mod serve;

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
    Serve(serve::ServeArgs),
    /// Validate a network file and print a summary, or every error.
    CheckConfig(check_config::CheckConfigArgs),
    /// Manage API keys: create, list, revoke, rotate.
    Keys(keys::KeysArgs),
    /// Serve the MCP tools over stdio, for a local assistant: from the local data dir
    /// (read-only), or from a remote madbus (`--remote URL`).
    Mcp(mcp::McpArgs),
}

/// Runs the command line; the binary's `main` is only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_logging(LogTo::Stdout);
            serve::run(args)
        }
        Command::Mcp(args) => {
            // stdout carries the protocol.
            init_logging(LogTo::Stderr);
            mcp::run(args)
        }
        Command::CheckConfig(args) => check_config::run(args),
        Command::Keys(args) => keys::run(args),
    }
}

/// Where log lines go.
#[derive(Clone, Copy)]
pub enum LogTo {
    Stdout,
    Stderr,
}

/// JSON lines when the output is not a terminal (containers, files), readable lines
/// otherwise. `RUST_LOG` filters (default `info`).
pub fn init_logging(to: LogTo) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, terminal) = match to {
        LogTo::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
        LogTo::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if terminal {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}
