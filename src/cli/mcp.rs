//! `madbus mcp`: the MCP tools over stdio for a local assistant. By default they read the
//! local data dir (read-only, so it is safe beside a running `madbus serve`); with
//! `--remote URL` they are a running madbus's, reached with a key. stdout carries only the
//! protocol; logs go to stderr.

use std::process::ExitCode;

use rmcp::ServiceExt;

use crate::mcp::McpServer;
use crate::mcp::remote::RemoteTools;

#[derive(clap::Args)]
pub struct McpArgs {
    #[command(flatten)]
    local: super::LocalData,
    /// Serve the tools of the madbus at this URL (e.g. https://bus.example.org) instead of
    /// the local data.
    #[arg(long, env = "MADBUS_REMOTE", requires_all = ["api_key", "group"])]
    remote: Option<String>,
    /// API key for --remote (better given in MADBUS_API_KEY: command lines are visible to
    /// other users).
    #[arg(
        long,
        env = "MADBUS_API_KEY",
        hide_env_values = true,
        requires = "remote"
    )]
    api_key: Option<String>,
    /// Group of the key, for --remote.
    #[arg(long, env = "MADBUS_GROUP", requires = "remote")]
    group: Option<String>,
}

pub fn run(args: McpArgs) -> ExitCode {
    match super::block_on(serve(args), ExitCode::FAILURE) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

async fn serve(args: McpArgs) -> anyhow::Result<()> {
    let stdio = rmcp::transport::stdio();
    let running = match (args.remote, args.api_key, args.group) {
        (Some(url), Some(key), Some(group)) => {
            let remote = RemoteTools::connect(&url, &key, &group).await?;
            let n = remote.tools().await?.len();
            tracing::info!(remote = %url, tools = n, "serving a remote madbus's tools over stdio");
            remote.serve(stdio).await?.waiting().await
        }
        _ => {
            let query = args.local.query().await?;
            tracing::info!(store = %args.local.url(), "serving the local data's tools over stdio (read-only)");
            McpServer::new(query).serve(stdio).await?.waiting().await
        }
    };
    running?;
    Ok(())
}
