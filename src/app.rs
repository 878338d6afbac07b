//! The whole server assembled from settings: used by `madbus serve` and by the tests, which
//! bind port 0 and drive the real thing.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::http::{self, AppState};
use crate::network::{self, Network};
use crate::runner::{self, LiveState, RunnerConfig, StopSignal};
use crate::sim::{SimConfig, World, WorldState};
use crate::store::{SqliteStore, Store};
use crate::time::{Duration, Millis};

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// The network file; `None` is the built-in default.
    pub network_file: Option<PathBuf>,
    pub sim: SimConfig,
    /// History generated on an empty data dir.
    pub backfill: Duration,
    pub speed: f64,
    pub retention: Duration,
    pub progress_bar: bool,
}

impl Settings {
    /// Defaults as documented for `madbus serve`, on `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            network_file: None,
            sim: SimConfig::default(),
            backfill: Duration::from_secs(5 * 86_400),
            speed: 1.0,
            retention: Duration::from_secs(30 * 86_400),
            progress_bar: false,
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

pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    world: World,
    runner_config: RunnerConfig,
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
        let network = Arc::new(load_network(settings.network_file.as_deref())?);
        let store = SqliteStore::open(&settings.data_dir)
            .with_context(|| format!("opening the store in {}", settings.data_dir.display()))?;
        tracing::info!(path = %store.path().display(), "store open");
        let store: Arc<dyn Store> = Arc::new(store);
        let world = restore_or_create(&network, settings.sim, &*store, settings.backfill).await?;
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        Ok(Self {
            listener,
            state: AppState {
                network,
                store,
                live: Arc::new(LiveState::default()),
                started: Instant::now(),
            },
            world,
            runner_config: RunnerConfig {
                speed: settings.speed,
                retention: settings.retention,
                progress_bar: settings.progress_bar,
            },
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
        let stop = StopSignal::default();
        let runner = runner::spawn(
            self.world,
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.live),
            self.runner_config,
            stop.clone(),
        );
        tracing::info!(addr = %self.listener.local_addr()?, "listening");
        let app = http::router(self.state);
        let stop_on_signal = stop.clone();
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop_on_signal.stop();
        })
        .await?;
        stop.stop();
        runner.join().await;
        tracing::info!("stopped cleanly");
        Ok(())
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
