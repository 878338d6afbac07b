//! `madbus verify`: runs the deployment checklist against a madbus (`--endpoint`), or
//! against a throwaway one started here (`--local`: the newcomer's one-command proof that
//! everything works). Exit 0 only when every selected check passes.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use anyhow::Context;

use crate::app::{Application, Settings};
use crate::gateway::keys;
use crate::time::{Duration, Millis};
use crate::verify::{self, Report, VerifyConfig};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The madbus to check, e.g. https://bus.example.org.
    #[arg(long, env = "MADBUS_ENDPOINT", required_unless_present = "local")]
    endpoint: Option<String>,
    /// An API key of --group (better given in MADBUS_API_KEY).
    #[arg(
        long,
        env = "MADBUS_API_KEY",
        hide_env_values = true,
        required_unless_present = "local"
    )]
    api_key: Option<String>,
    /// The group of the key.
    #[arg(long, env = "MADBUS_GROUP", required_unless_present = "local")]
    group: Option<String>,
    /// The browser origin the CORS check asks for.
    #[arg(long, default_value = "https://example.com")]
    origin: String,
    /// Load test: requests in all.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Load test: requests at once.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// History the store must span (default 5d; 2h with --local).
    #[arg(long)]
    min_history: Option<Duration>,
    /// The load test's average latency must be under this.
    #[arg(long, default_value = "500ms")]
    max_avg_latency: Duration,
    /// Print a JSON report instead of the checklist.
    #[arg(long)]
    json: bool,
    /// Run only these checks (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Leave these checks out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Start a throwaway madbus (temporary data dir, 3 h of history, 60x clock) and check it.
    #[arg(long, conflicts_with_all = ["endpoint", "api_key", "group"])]
    local: bool,
}

/// History backfilled by `--local`, and what it then requires.
const LOCAL_BACKFILL: &str = "3h";
const LOCAL_MIN_HISTORY: &str = "2h";
const LOCAL_GROUP: &str = "verify";

pub fn run(args: VerifyArgs) -> ExitCode {
    let json = args.json;
    // A usage mistake or a server that cannot start is 2; failed checks are 1.
    let report = match super::block_on(verify(args), ExitCode::from(2)) {
        Ok(report) => report,
        Err(code) => return code,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serialises")
        );
    } else {
        print!("{}", report.to_text());
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn config(args: &VerifyArgs, endpoint: String, api_key: String, group: String) -> VerifyConfig {
    let default_history = if args.local { LOCAL_MIN_HISTORY } else { "5d" };
    VerifyConfig {
        endpoint,
        api_key,
        group,
        origin: args.origin.clone(),
        requests: args.requests,
        concurrency: args.concurrency,
        min_history: args
            .min_history
            .unwrap_or_else(|| default_history.parse().expect("a valid duration")),
        max_avg_latency: args.max_avg_latency.as_std(),
        only: args.only.clone(),
        skip: args.skip.clone(),
        progress: !args.json && std::io::stderr().is_terminal(),
    }
}

async fn verify(args: VerifyArgs) -> anyhow::Result<Report> {
    if args.local {
        return verify_local(args).await;
    }
    let (Some(endpoint), Some(key), Some(group)) = (
        args.endpoint.clone(),
        args.api_key.clone(),
        args.group.clone(),
    ) else {
        anyhow::bail!("give --endpoint, --api-key and --group, or --local");
    };
    let config = config(&args, endpoint, key, group);
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(verify::run(&config).await)
}

/// Starts a madbus on a temporary data dir with a new key, checks it, stops it.
async fn verify_local(args: VerifyArgs) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir().context("making a temporary data dir")?;
    let new = keys::generate(LOCAL_GROUP, Millis::now(), None);
    let mut settings = Settings::new(dir.path().to_path_buf());
    settings
        .store
        .open()
        .await?
        .insert_key(new.record.clone())
        .await?;
    settings.bind = "127.0.0.1:0".parse().expect("a valid address");
    settings.backfill = LOCAL_BACKFILL.parse().expect("a valid duration");
    settings.speed = 60.0;
    // The load test must not be throttled (the checklist says so of the deployment).
    settings.gateway.throttle_burst = 1_000_000;
    settings.gateway.throttle_rate = 1_000_000.0;
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    let live = app.live();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    eprintln!("started a throwaway madbus on {addr} ({LOCAL_BACKFILL} of history, 60x clock)");
    tokio::time::timeout(StdDuration::from_secs(300), live.until_live())
        .await
        .map_err(|_| {
            anyhow::anyhow!("the throwaway madbus did not finish its backfill in 5 minutes")
        })?;
    let config = config(&args, format!("http://{addr}"), new.key, LOCAL_GROUP.into());
    config.validate().map_err(anyhow::Error::msg)?;
    let report = verify::run(&config).await;
    let _ = stop.send(());
    server.await??;
    Ok(report)
}
