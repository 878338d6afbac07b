//! `madbus serve`: the server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::app::{Application, Role, Settings};
use crate::feed::FeedUrl;
use crate::gateway::{GatewayConfig, ServerLimits, server};
use crate::http::MapConfig;
use crate::sim::SimConfig;
use crate::store::StoreUrl;
use crate::time::Duration;
use crate::ws::WsConfig;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// What this process does: `all` (the simulator and every interface), `simulator`
    /// (writes the store, publishes the feed; serves health and metrics) or `api` (serves
    /// every interface; needs --feed nats://...).
    #[arg(long, env = "MADBUS_ROLE", value_enum, default_value_t = Role::All)]
    role: Role,
    /// Where live events travel: `in-process` (one process) or `nats://HOST:PORT` (from
    /// one simulator to any number of API processes).
    #[arg(long, env = "MADBUS_FEED", default_value = "in-process")]
    feed: FeedUrl,
    /// Address to listen on.
    #[arg(long, env = "MADBUS_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where the store and the saved world live.
    #[arg(long, env = "MADBUS_DATA_DIR", default_value = "./madbus-data")]
    data_dir: PathBuf,
    /// The store, as a URL: `sqlite:DIR` (default: the SQLite file in --data-dir).
    #[arg(long, env = "MADBUS_STORE")]
    store: Option<StoreUrl>,
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
    /// Allowed CORS origins, comma-separated (`*` for any).
    #[arg(
        long,
        env = "MADBUS_CORS_ORIGINS",
        default_value = "*",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Requests one API key may make at once.
    #[arg(long, env = "MADBUS_THROTTLE_BURST", default_value_t = 2_000)]
    throttle_burst: u32,
    /// Requests per second one API key may make after its burst.
    #[arg(long, env = "MADBUS_THROTTLE_RATE", default_value_t = 500.0)]
    throttle_rate: f64,
    /// Failed authentications one address may make at once.
    #[arg(long, env = "MADBUS_AUTH_FAIL_BURST", default_value_t = 20)]
    auth_fail_burst: u32,
    /// Failed authentications per second one address may make after its burst.
    #[arg(long, env = "MADBUS_AUTH_FAIL_RATE", default_value_t = 1.0)]
    auth_fail_rate: f64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MADBUS_MAX_BODY", default_value_t = 65_536)]
    max_body: usize,
    /// Longest a request may take.
    #[arg(long, env = "MADBUS_REQUEST_TIMEOUT", default_value = "30s")]
    request_timeout: Duration,
    /// A request's line and headers must arrive within this long of their first byte (or of
    /// the connection opening): slow senders are cut off.
    #[arg(long, env = "MADBUS_HEADER_READ_TIMEOUT", default_value = "10s")]
    header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this long.
    #[arg(long, env = "MADBUS_IDLE_TIMEOUT", default_value = "60s")]
    idle_timeout: Duration,
    /// Open connections at most, WebSockets included (more wait to be accepted); lowered to
    /// fit the open-files limit.
    #[arg(long, env = "MADBUS_MAX_CONNECTIONS", default_value_t = 20_000)]
    max_connections: usize,
    /// Largest request line plus headers, in bytes (more gets 431).
    #[arg(long, env = "MADBUS_MAX_HEADER_BYTES", default_value_t = 32_768)]
    max_header_bytes: usize,
    /// Threads that serve connections, each with its own event loop (default: one per core).
    #[arg(long, env = "MADBUS_HTTP_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    http_threads: Option<u16>,
    /// Answer every request through the router, even a plain GET of a series that the fast
    /// lane would answer (the answers are the same; for comparison).
    #[arg(long, env = "MADBUS_NO_FAST_LANE")]
    no_fast_lane: bool,
    /// On SIGTERM, how long requests in flight and open connections get to finish.
    #[arg(long, env = "MADBUS_SHUTDOWN_TIMEOUT", default_value = "5s")]
    shutdown_timeout: Duration,
    /// `Host` header values `/mcp` accepts, comma-separated (`name` or `name:port`; `*` for
    /// any). Loopback only by default, against DNS rebinding: list the public host names when
    /// serving behind a proxy or from a container.
    #[arg(
        long,
        env = "MADBUS_ALLOWED_HOSTS",
        default_value = "localhost,127.0.0.1,::1",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// WebSocket connections one key may hold open.
    #[arg(long, env = "MADBUS_WS_MAX_PER_KEY", default_value_t = 100)]
    ws_max_per_key: usize,
    /// WebSocket connections the server holds open in all.
    #[arg(long, env = "MADBUS_WS_MAX_CONNECTIONS", default_value_t = 10_000)]
    ws_max_connections: usize,
    /// A WebSocket client that cannot take a write for this long is dropped.
    #[arg(long, env = "MADBUS_WS_SEND_TIMEOUT", default_value = "10s")]
    ws_send_timeout: Duration,
    /// Tile URL for the map page (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png);
    /// without one the map draws the network on a plain background.
    #[arg(long, env = "MADBUS_MAP_TILES")]
    map_tiles: Option<String>,
    /// Attribution shown with the tiles.
    #[arg(long, env = "MADBUS_MAP_ATTRIBUTION")]
    map_attribution: Option<String>,
    /// A file holding one API key for every group (the original system's shared key). The
    /// key itself can be given in MADBUS_API_KEY instead; never on the command line.
    #[arg(long, env = "MADBUS_API_KEY_FILE")]
    api_key_file: Option<PathBuf>,
}

/// The shared key, from MADBUS_API_KEY or the key file.
fn shared_key(file: Option<&std::path::Path>) -> Result<Option<String>, String> {
    if let Ok(key) = std::env::var("MADBUS_API_KEY")
        && !key.trim().is_empty()
    {
        return Ok(Some(key.trim().to_string()));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the API key file {}: {e}", path.display()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("the API key file {} is empty", path.display()));
    }
    Ok(Some(key.to_string()))
}

pub fn run(args: ServeArgs) -> ExitCode {
    let shared_key = match shared_key(args.api_key_file.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings {
        role: args.role,
        feed: args.feed,
        bind: args.bind,
        store: StoreUrl::choose(args.store, &args.data_dir),
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
        gateway: GatewayConfig {
            cors_origins: args.cors_origins,
            throttle_burst: args.throttle_burst,
            throttle_rate: args.throttle_rate,
            auth_fail_burst: args.auth_fail_burst,
            auth_fail_rate: args.auth_fail_rate,
            body_limit_bytes: args.max_body,
            request_timeout: args.request_timeout.as_std(),
        },
        server: ServerLimits {
            header_read_timeout: args.header_read_timeout.as_std(),
            idle_timeout: args.idle_timeout.as_std(),
            max_connections: args.max_connections,
            max_header_bytes: args.max_header_bytes,
            drain_timeout: args.shutdown_timeout.as_std(),
            connection_threads: args
                .http_threads
                .map_or_else(server::one_per_core, usize::from),
            fast_lane: !args.no_fast_lane,
        },
        shared_key,
        allowed_hosts: args.allowed_hosts,
        ws: WsConfig {
            max_per_key: args.ws_max_per_key,
            max_connections: args.ws_max_connections,
            send_timeout: args.ws_send_timeout.as_std(),
            ..WsConfig::default()
        },
        map: MapConfig {
            tile_url: args.map_tiles,
            tile_attribution: args.map_attribution,
        },
    };
    let served = super::block_on(
        async {
            let app = Application::build(settings).await?;
            app.run_until(shutdown_signal()).await
        },
        ExitCode::FAILURE,
    );
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
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
