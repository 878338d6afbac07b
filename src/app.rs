//! The whole server assembled from settings, by role: used by `madbus serve` and by the
//! tests, which bind port 0 and drive the real thing.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;

use crate::feed::{FeedUrl, StatusCell};
use crate::gateway::{Gateway, GatewayConfig, KeyRing, ServerLimits, keys};
use crate::http;
use crate::live::{self, LiveState};
use crate::mcp::{self, McpHttpConfig};
use crate::network::{self, Network};
use crate::query::Query;
use crate::runner::{self, RunnerConfig};
use crate::sim::{SimConfig, World, WorldState};
use crate::store::{Store, StoreUrl};
use crate::time::{Duration, Millis};
use crate::web::{AppParts, AppState};
use std::io::IsTerminal;

/// The REST series routes, for the gateway's fast lane.
struct SeriesRoutes(AppState);

impl crate::gateway::fast_lane::Shortcut for SeriesRoutes {
    fn find<'a>(
        &'a self,
        path: &'a str,
        query: &'a str,
    ) -> Option<(&'static str, crate::gateway::fast_lane::Pending<'a>)> {
        let (route, answer) = http::series_answer(&self.0.query, path, query)?;
        Some((route, Box::pin(answer)))
    }
}

/// What a process does (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// The simulator and every interface in one process.
    #[default]
    All,
    /// Backfills, steps the world, writes the store and publishes the live feed; serves
    /// `/health`, `/livez` and `/metrics` only.
    Simulator,
    /// Serves every interface from the store and the feed; writes nothing but keys. Any
    /// number may run.
    Api,
}

impl Role {
    fn simulates(self) -> bool {
        matches!(self, Role::All | Role::Simulator)
    }
    fn serves(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub role: Role,
    /// Where live events travel between processes.
    pub feed: FeedUrl,
    pub bind: SocketAddr,
    /// Where the demo key is written on a first start (and the default store).
    pub data_dir: PathBuf,
    pub store: StoreUrl,
    /// The network file; `None` is the built-in default.
    pub network_file: Option<PathBuf>,
    pub sim: SimConfig,
    /// History generated on an empty data dir.
    pub backfill: Duration,
    pub speed: f64,
    pub retention: Duration,
    pub progress_bar: bool,
    pub gateway: GatewayConfig,
    /// Connection limits, timeouts and the drain deadline at a stop.
    pub server: ServerLimits,
    /// One key every group may use (`MADBUS_API_KEY` or a key file); no per-group keys then.
    pub shared_key: Option<String>,
    /// `Host` values `/mcp` accepts (`*`: any).
    pub allowed_hosts: Vec<String>,
    pub ws: crate::ws::WsConfig,
    pub map: http::MapConfig,
}

impl Settings {
    /// Defaults as documented for `madbus serve`, on `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            role: Role::All,
            feed: FeedUrl::InProcess,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: StoreUrl::choose(None, &data_dir),
            data_dir,
            network_file: None,
            sim: SimConfig::default(),
            backfill: Duration::from_secs(5 * 86_400),
            speed: 1.0,
            retention: Duration::from_secs(30 * 86_400),
            progress_bar: false,
            gateway: GatewayConfig::default(),
            server: ServerLimits::default(),
            shared_key: None,
            allowed_hosts: mcp::DEFAULT_ALLOWED_HOSTS.map(String::from).to_vec(),
            ws: crate::ws::WsConfig::default(),
            map: http::MapConfig::default(),
        }
    }
}

/// Loads the network named by the settings (printing its warnings).
pub fn load_network(file: Option<&std::path::Path>) -> anyhow::Result<Network> {
    let loaded = match file {
        Some(path) => network::load_file(path),
        None => network::parse_str(network::DEFAULT_NETWORK_YAML, network::DEFAULT_NETWORK_NAME),
    }
    .map_err(|e| anyhow::anyhow!("the network file is not valid:\n{e}"))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    Ok(loaded.network)
}

/// What the simulator needs to start (in a role that simulates).
struct Simulator {
    status: Arc<StatusCell>,
    sim: SimConfig,
    /// History generated on an empty store.
    backfill: Duration,
    config: RunnerConfig,
}

pub struct Application {
    role: Role,
    listener: tokio::net::TcpListener,
    state: AppState,
    gateway: Arc<Gateway>,
    simulator: Option<Simulator>,
    mcp: McpHttpConfig,
    ws: crate::ws::WsConfig,
    map: http::MapConfig,
    limits: ServerLimits,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.sim.validate().map_err(anyhow::Error::msg)?;
        if !(settings.speed > 0.0 && settings.speed <= 100_000.0) {
            anyhow::bail!(
                "--speed must be above 0 and at most 100000, got {}",
                settings.speed
            );
        }
        let role = settings.role;
        match (role, &settings.feed) {
            (Role::Api, FeedUrl::InProcess) => anyhow::bail!(
                "--role api needs --feed nats://HOST:PORT: an in-process feed cannot reach \
                 the simulator's process"
            ),
            (Role::Simulator, FeedUrl::InProcess) => tracing::warn!(
                "--role simulator with an in-process feed: nothing else receives live events \
                 (give --feed nats://HOST:PORT for API processes)"
            ),
            _ => {}
        }
        let network = Arc::new(load_network(settings.network_file.as_deref())?);
        // Bind before touching the data dir: a server that cannot listen changes nothing.
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let store = (settings.store.open().await)
            .with_context(|| format!("opening the store {}", settings.store))?;
        tracing::info!(store = %settings.store, ?role, feed = %settings.feed, "store open");
        let feed = settings
            .feed
            .connect(Arc::clone(&network), role.serves())
            .await?;
        let simulator = if role.simulates() {
            Some(Simulator {
                sim: settings.sim,
                backfill: settings.backfill,
                status: Arc::new(StatusCell::new(crate::sim::network_fingerprint(&network))),
                config: RunnerConfig {
                    speed: settings.speed,
                    retention: settings.retention,
                    progress_bar: settings.progress_bar,
                },
            })
        } else {
            None
        };
        let keys = KeyRing::new(Arc::clone(&store), settings.shared_key.as_deref());
        keys.refresh().await?;
        if !keys.has_shared_key() && store.list_keys().await?.is_empty() {
            if role.simulates() {
                // The store's owner makes the first key, once; API processes only read keys.
                create_demo_key(&*store, &settings.data_dir).await?;
                keys.refresh().await?;
            } else {
                tracing::warn!(
                    "no API keys yet: the simulator creates the demo key on its first start \
                     (or add one with `madbus keys create`); keys are reloaded every second"
                );
            }
        }
        let gateway =
            Arc::new(Gateway::new(keys, settings.gateway.clone()).map_err(anyhow::Error::msg)?);
        crate::gateway::metrics::handle();
        runner::describe_metrics();
        crate::feed::describe_metrics();
        crate::ws::describe_metrics();
        crate::query::describe_metrics();
        let live = Arc::new(match (&simulator, role.serves()) {
            (Some(sim), false) => LiveState::of_simulator(Arc::clone(&sim.status)),
            _ => LiveState::new(&network),
        });
        Ok(Self {
            role,
            listener,
            gateway,
            state: AppState::from(AppParts {
                query: Query::new(
                    Arc::clone(&network),
                    Arc::clone(&store),
                    Arc::clone(&live),
                    Arc::clone(&feed),
                ),
                network,
                store,
                live,
                simulator: simulator.as_ref().map(|sim| Arc::clone(&sim.status)),
                feed,
                started: Instant::now(),
                closing: tokio_util::sync::CancellationToken::new(),
            }),
            simulator,
            mcp: McpHttpConfig {
                allowed_hosts: settings.allowed_hosts,
                allowed_origins: settings.gateway.cors_origins.clone(),
                max_body_bytes: settings.gateway.body_limit_bytes,
            },
            ws: crate::ws::WsConfig {
                allowed_origins: settings.gateway.cors_origins.clone(),
                ..settings.ws
            },
            map: settings.map,
            limits: settings.server,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn live(&self) -> Arc<LiveState> {
        Arc::clone(&self.state.live)
    }

    /// Serves until `shutdown` completes, then stops the simulator and waits until every
    /// record is written.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // The one stop signal: the connection loop, WebSocket sessions, MCP streams, the
        // simulator and the upkeep all watch it.
        let closing = self.state.closing.clone();
        let state = &self.state;
        let state_feed = Arc::clone(&state.feed);
        let simulator = self.simulator.map(|sim| {
            tokio::spawn(simulate(
                sim,
                Arc::clone(&state.network),
                Arc::clone(&state.store),
                Arc::clone(&state.feed),
                closing.clone(),
            ))
        });
        let follower = self.role.serves().then(|| {
            tokio::spawn(live::follow(
                Arc::clone(&state.live),
                state.feed.subscribe(),
                Arc::clone(&state.store),
                Arc::clone(&state.network),
                closing.clone(),
            ))
        });
        tracing::info!(addr = %self.listener.local_addr()?, role = ?self.role, "listening");
        // One router per interface, merged; the gateway guards all but the public ones.
        let metrics = Router::new().route(
            "/metrics",
            axum::routing::get(crate::gateway::metrics::render),
        );
        let (public, protected) = if self.role.serves() {
            let protected = http::protected_routes()
                .merge(crate::ws::router(self.ws))
                .merge(mcp::router(
                    self.state.query.clone(),
                    &self.mcp,
                    closing.clone(),
                ))
                .merge(metrics);
            (http::public_routes(self.map), protected)
        } else {
            (http::health_routes(), metrics)
        };
        let lane = (self.role.serves() && self.limits.fast_lane).then(|| {
            let state = self.state.clone();
            Arc::new(self.gateway.fast_lane(Box::new(SeriesRoutes(state))))
        });
        let routes = public
            .merge(self.gateway.protect(protected))
            .fallback(http::no_route)
            .with_state(self.state);
        let app = self.gateway.wrap(routes);
        let upkeep = tokio::spawn(gateway_upkeep(Arc::clone(&self.gateway), closing.clone()));
        let on_signal = {
            let closing = closing.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown => tracing::info!("shutting down"),
                    () = closing.cancelled() => {}
                }
                closing.cancel();
            })
        };
        crate::gateway::server::serve(self.listener, app, lane, self.limits, closing.clone()).await;
        closing.cancel();
        let _ = tokio::join!(on_signal, upkeep);
        if let Some(follower) = follower {
            let _ = follower.await;
        }
        if let Some(simulator) = simulator {
            let simulated = simulator.await;
            // The simulator's last status ("stopped") reaches the other processes.
            state_feed.flush().await;
            simulated??;
        }
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Reloads keys every second (so `madbus keys` changes apply at once), trims the
/// throttling state, and folds recorded latencies into the metrics' histograms.
async fn gateway_upkeep(gateway: Arc<Gateway>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = gateway.keys.refresh().await {
            tracing::warn!(error = %e, "reloading API keys failed");
        }
        gateway.housekeeping();
        // The exporter keeps every histogram sample until this runs (or /metrics is read):
        // without it, memory grows with each request when nobody scrapes.
        crate::gateway::metrics::handle().run_upkeep();
    }
}

/// The file in the data dir that holds the first-run demo key.
pub const DEMO_KEY_FILE: &str = "demo-api-key";

/// On a first start with no key at all: a key for group `demo`, written to the data dir
/// (mode 0600) and shown once on a terminal. Logs say where it is, never what it is.
async fn create_demo_key(store: &dyn Store, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let new = keys::generate("demo", Millis::now(), None);
    // The file first: a key stored that nobody can read would block the next start's.
    let path = data_dir.join(DEMO_KEY_FILE);
    std::fs::create_dir_all(data_dir)
        .and_then(|()| {
            write_private(
                &path,
                &format!("x-group-name: demo\nx-api-key: {}\n", new.key),
            )
        })
        .with_context(|| format!("writing the first API key to {}", path.display()))?;
    store.insert_key(new.record.clone()).await?;
    tracing::info!(group = "demo", key_id = %new.record.id, file = %path.display(), "created a first API key (mode 0600 file)");
    if std::io::stderr().is_terminal() {
        eprintln!(
            "\n  API key for group `demo` (shown once, also in {}):\n    x-api-key: {}\n    x-group-name: demo\n",
            path.display(),
            new.key
        );
    }
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// How often a standby simulator tries to take the store over.
const STANDBY_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the simulator whenever this process holds the store's writer lease: waits as a
/// standby while another simulator holds it, then resumes the saved world (regenerating
/// what the last writer did not write, so history has no gap) and runs until `closing`;
/// when the lease is lost, stops writing at once and goes back to standby.
async fn simulate(
    sim: Simulator,
    network: Arc<Network>,
    store: Arc<dyn crate::store::Store>,
    feed: Arc<dyn crate::feed::Feed>,
    closing: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut said_standby = false;
    loop {
        let lease = match store.try_lease_writer().await {
            Ok(Some(lease)) => lease,
            outcome => {
                match outcome {
                    Err(e) => tracing::warn!(error = %e, "cannot take the writer lease; retrying"),
                    _ if !said_standby => tracing::info!(
                        "standby: another simulator writes the store; this one takes over when it stops"
                    ),
                    _ => {}
                }
                said_standby = true;
                sim.status.set_phase(crate::feed::Phase::Standby);
                tokio::select! {
                    () = tokio::time::sleep(STANDBY_POLL) => continue,
                    () = closing.cancelled() => return Ok(()),
                }
            }
        };
        said_standby = false;
        tracing::info!("this simulator writes the store");
        let world = match restore_or_create(&network, sim.sim, &*store, sim.backfill).await {
            Ok(world) => world,
            Err(e) => {
                tracing::warn!(error = %e, "cannot load the saved world; retrying");
                drop(lease);
                tokio::time::sleep(STANDBY_POLL).await;
                continue;
            }
        };
        let run = closing.child_token();
        let runner = runner::spawn(
            world,
            Arc::clone(&store),
            Arc::clone(&sim.status),
            Arc::clone(&feed),
            sim.config.clone(),
            run.clone(),
        )
        .context("cannot start the simulation thread")?;
        tokio::select! {
            () = lease.lost() => {
                tracing::error!("lost the writer lease: this simulator stops writing now");
                run.cancel();
            }
            () = run.cancelled() => {}
        }
        let ended = runner.join().await;
        drop(lease);
        if closing.is_cancelled() {
            return ended.map(|_| ());
        }
        match ended {
            Ok(runner::Ending::TakenOver) | Ok(runner::Ending::Stopped) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the simulator stopped with records unwritten; the next writer regenerates them")
            }
        }
        tracing::warn!("no longer the store's writer; back to standby");
    }
}

/// Resumes the saved world, or starts one `backfill` ago on an empty store.
async fn restore_or_create(
    network: &Arc<Network>,
    sim: SimConfig,
    store: &dyn Store,
    backfill: Duration,
) -> anyhow::Result<World> {
    let Some(cp) = store.checkpoint().await? else {
        let start = Millis::now().saturating_sub(backfill);
        tracing::info!(start = %start, backfill = %backfill, "empty store: starting a new world");
        return Ok(World::new(Arc::clone(network), sim, start));
    };
    let resumed = serde_json::from_str::<WorldState>(&cp.state_json)
        .map_err(|e| e.to_string())
        .and_then(|state| World::resume(Arc::clone(network), sim, state));
    match resumed {
        Ok(world) => {
            tracing::info!(sim_time = %world.time(), "resuming the saved world");
            Ok(world)
        }
        Err(why) => {
            // History is kept; only the moving state starts over, at the saved time.
            tracing::warn!(reason = %why, sim_time = %cp.time, "cannot resume the saved world; starting a new one at its time");
            Ok(World::new(Arc::clone(network), sim, cp.time))
        }
    }
}
