//! `madbus serve`: the server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::app::{Application, Settings};
use crate::sim::SimConfig;
use crate::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MADBUS_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where the store and the saved world live.
    #[arg(long, env = "MADBUS_DATA_DIR", default_value = "./madbus-data")]
    data_dir: PathBuf,
    /// Network file (default: the built-in data/lines.yaml).
    #[arg(long, env = "MADBUS_NETWORK")]
    network: Option<PathBuf>,
    /// History to generate on an empty data dir.
    #[arg(long, env = "MADBUS_BACKFILL", default_value = "5d")]
    backfill: Duration,
    /// Simulated seconds per real second once live (60 = one hour a minute).
    #[arg(long, env = "MADBUS_SPEED", default_value_t = 1.0)]
    speed: f64,
    /// Seed of the simulation's random numbers.
    #[arg(long, env = "MADBUS_SEED", default_value_t = 42)]
    seed: u64,
    /// Rows older than this are deleted.
    #[arg(long, env = "MADBUS_RETENTION", default_value = "30d")]
    retention: Duration,
    /// How often bus positions are recorded (simulated time).
    #[arg(long, env = "MADBUS_POSITION_INTERVAL", default_value = "5s")]
    position_interval: Duration,
    /// How often people counts and sensors are recorded (simulated time).
    #[arg(long, env = "MADBUS_SAMPLE_INTERVAL", default_value = "60s")]
    sample_interval: Duration,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let settings = Settings {
        bind: args.bind,
        data_dir: args.data_dir,
        network_file: args.network,
        sim: SimConfig {
            seed: args.seed,
            position_every_ms: args.position_interval.as_millis(),
            sample_every_ms: args.sample_interval.as_millis(),
            ..SimConfig::default()
        },
        backfill: args.backfill,
        speed: args.speed,
        retention: args.retention,
        progress_bar: std::io::stderr().is_terminal(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.run_until(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (containers, systemd).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
