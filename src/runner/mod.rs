//! Drives the world: backfills history as fast as it can, then follows the wall clock (or
//! an accelerated one) with no gap and no duplicate at the handover, since both are the
//! same loop over one world. Every batch is written with the world state after it, so a
//! restart resumes from exactly where the stored records end.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::feed::{Feed, Phase, StatusCell, Stored};
use crate::network::Network;
use crate::sim::{Records, World};
use crate::store::{Batch, Checkpoint, Store};
use crate::time::{Duration, Millis};

/// Rows gathered before a write when behind the clock (one transaction each). Each
/// transaction writes again the half-full page at every series key's insertion point, so
/// fewer, larger ones backfill faster (BENCHMARKS.md); with [`WRITE_QUEUE`] this bounds the
/// rows held in memory while backfilling to about four batches.
const BATCH_ROWS: usize = 100_000;
/// Batches waiting for the writer; a full queue slows the simulator, never memory.
const WRITE_QUEUE: usize = 2;
/// While the store is away the writer keeps taking batches, merged in order, up to this
/// many rows (hours of live data for the default network, tens of MB); past it the
/// simulator waits, and catches up once the store is back.
const BACKLOG_ROWS: usize = 200_000;
/// Live steps waiting to be published; when full (a slow feed), steps are not published:
/// live clients miss them, the store has them all.
const PUBLISH_QUEUE: usize = 64;
/// The status is published at least this often (API processes judge staleness by it).
const STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The simulation thread's name (benchmarks find its CPU time by it).
pub const SIM_THREAD: &str = "madbus-sim";
/// How often old rows are pruned, in simulated time.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Simulated seconds per wall second once live.
    pub speed: f64,
    /// Rows older than this (behind the simulated clock) are pruned.
    pub retention: Duration,
    /// Show a progress bar while backfilling (on a terminal).
    pub progress_bar: bool,
}

/// The running simulator: join it to wait until every record is written.
pub struct RunnerHandle {
    /// Resolves when the simulation thread ends; an error if it panicked.
    stepper: tokio::sync::oneshot::Receiver<()>,
    publisher: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<Unwritten>,
}

/// What the writer could not store before it had to stop.
#[derive(Debug, Default, Clone, Copy)]
struct Unwritten {
    batches: u64,
    rows: u64,
    /// Another simulator took the store over (nothing more may be written).
    fenced: bool,
}

/// How a runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Asked to stop; every record is written.
    Stopped,
    /// Another simulator took the store over; this one wrote nothing after that.
    TakenOver,
}

impl RunnerHandle {
    /// Waits until the simulator has stopped and its writer has finished; an error when
    /// some records could not be written (the saved world then stays at the last written
    /// batch, so a restart regenerates them: no gap, but the stop was not clean).
    pub async fn join(self) -> anyhow::Result<Ending> {
        if self.stepper.await.is_err() {
            anyhow::bail!("the simulator thread failed (see the panic above)");
        }
        if let Err(e) = self.publisher.await {
            anyhow::bail!("the feed publisher task failed: {e}");
        }
        match self.writer.await {
            Err(e) => anyhow::bail!("the store writer task failed: {e}"),
            Ok(Unwritten { fenced: true, .. }) => Ok(Ending::TakenOver),
            Ok(Unwritten { batches: 0, .. }) => Ok(Ending::Stopped),
            Ok(lost) => anyhow::bail!(
                "{} record(s) in {} batch(es) could not be written to the store; the saved \
                 world stays at the last batch written, so the next start regenerates them",
                lost.rows,
                lost.batches
            ),
        }
    }
}

/// Describes the simulator's and the writer's metrics (once a recorder is installed).
pub fn describe_metrics() {
    metrics::describe_histogram!(
        "madbus_tick_duration_seconds",
        "Time to compute one simulation step"
    );
    metrics::describe_histogram!(
        "madbus_store_write_seconds",
        "Time to write one batch to the store"
    );
    metrics::describe_counter!("madbus_rows_written_total", "Rows written to the store");
    metrics::describe_gauge!(
        "madbus_store_backlog_rows",
        "Rows held for the store while it does not answer"
    );
    metrics::describe_counter!(
        "madbus_steps_unpublished_total",
        "Live steps not published because the feed was behind"
    );
}

/// Starts stepping `world`, writing what it records to `store` and publishing it (once
/// live) and the simulator's `status` to `feed`.
pub fn spawn(
    world: World,
    store: Arc<dyn Store>,
    status: Arc<StatusCell>,
    feed: Arc<dyn Feed>,
    config: RunnerConfig,
    stop: CancellationToken,
) -> std::io::Result<RunnerHandle> {
    let (tx, rx) = mpsc::channel::<Job>(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(
        rx,
        store,
        Arc::clone(&status),
        config.clone(),
        stop.clone(),
    ));
    let (events_tx, events_rx) = mpsc::channel::<Records>(PUBLISH_QUEUE);
    let publisher = tokio::spawn(publish_loop(
        events_rx,
        Arc::clone(world.network()),
        feed,
        Arc::clone(&status),
    ));
    // A thread of its own, named, rather than a slot of the blocking pool for the process's
    // lifetime: `top -H` and profiles show the simulation apart from the store's writes.
    let (stepped, stepper) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(SIM_THREAD.into())
        .spawn(move || {
            step_loop(world, tx, events_tx, status, config, stop);
            let _ = stepped.send(());
        })?;
    Ok(RunnerHandle {
        stepper,
        publisher,
        writer,
    })
}

/// Serialises and publishes what the simulator hands over (off the simulation thread), and
/// the status on every change and every [`STATUS_EVERY`]; ends after the simulator, with
/// its last status.
async fn publish_loop(
    mut steps: mpsc::Receiver<Records>,
    network: Arc<Network>,
    feed: Arc<dyn Feed>,
    status: Arc<StatusCell>,
) {
    let mut changes = status.changes();
    let mut tick = tokio::time::interval(STATUS_EVERY);
    loop {
        tokio::select! {
            records = steps.recv() => match records {
                Some(records) => {
                    let batch = crate::feed::Batch::of(&network, &records);
                    feed.publish(Arc::new(batch)).await;
                    continue;
                }
                None => break,
            },
            _ = tick.tick() => {}
            changed = changes.changed() => if changed.is_err() { break },
        }
        feed.publish_status(&status.get().sim).await;
    }
    feed.publish_status(&status.get().sim).await;
}

/// A batch for the writer, and who to tell once it is written.
type Job = (Batch, Option<std::sync::mpsc::Sender<()>>);

fn checkpoint(world: &World) -> Checkpoint {
    Checkpoint {
        time: world.time(),
        state_json: serde_json::to_string(&world.save()).expect("world state serialises"),
    }
}

/// Maps wall time to simulated time once live: `anchor_sim + elapsed × speed`.
struct Pace {
    anchor_wall: Instant,
    anchor_sim: Millis,
    speed: f64,
}

impl Pace {
    fn target(&self) -> Millis {
        let elapsed = self.anchor_wall.elapsed().as_secs_f64() * 1000.0 * self.speed;
        Millis(self.anchor_sim.0 + elapsed as i64)
    }
}

fn step_loop(
    mut world: World,
    tx: mpsc::Sender<Job>,
    events: mpsc::Sender<Records>,
    status: Arc<StatusCell>,
    config: RunnerConfig,
    stop: CancellationToken,
) {
    let tick = world.config().tick_ms;
    let backfill_from = world.time();
    let mut pending = Records::default();
    let mut pace: Option<Pace> = None;
    let progress = Progress::new(backfill_from, config.progress_bar);
    let tick_seconds = metrics::histogram!("madbus_tick_duration_seconds");

    // Hands the pending records (and the state after them) to the writer; with `wait`,
    // returns once they are written. False when the writer has gone.
    let flush = |pending: &mut Records, world: &World, wait: bool| -> bool {
        let batch = Batch {
            records: std::mem::take(pending),
            checkpoint: Some(checkpoint(world)),
        };
        let (ack, written) = if wait {
            let (a, w) = std::sync::mpsc::channel();
            (Some(a), Some(w))
        } else {
            (None, None)
        };
        tx.blocking_send((batch, ack)).is_ok() && written.is_none_or(|w| w.recv().is_ok())
    };

    while !stop.is_cancelled() {
        let target = match &pace {
            Some(p) => p.target(),
            None => Millis::now(),
        };
        if world.time().0 + tick <= target.0 {
            let started = Instant::now();
            world.step_into(&mut pending);
            tick_seconds.record(started.elapsed().as_secs_f64());
            let phase = match &pace {
                None => Phase::Backfilling {
                    done: progress.update(world.time(), target),
                },
                Some(_) => Phase::Live,
            };
            status.set_progress(phase, world.time());
            // Behind the clock (backfill, or a clock faster than the simulator): write in
            // large batches so memory stays bounded.
            if pending.len() >= BATCH_ROWS && !flush(&mut pending, &world, false) {
                break;
            }
            continue;
        }
        // Caught up with the target: publish what is new to live clients, write it (the
        // whole backfill is written before the simulator says it is live), then wait for
        // the next tick.
        if pace.is_some() && !pending.is_empty() && events.try_send(pending.clone()).is_err() {
            metrics::counter!("madbus_steps_unpublished_total").increment(1);
        }
        if (!pending.is_empty() || pace.is_none()) && !flush(&mut pending, &world, pace.is_none()) {
            break;
        }
        if pace.is_none() {
            progress.finish(world.time());
            pace = Some(Pace {
                anchor_wall: Instant::now(),
                anchor_sim: world.time().max(Millis::now()),
                speed: config.speed,
            });
            status.set_progress(Phase::Live, world.time());
            continue;
        }
        let wait_ms = (world.time().0 + tick - target.0) as f64 / config.speed;
        std::thread::sleep(std::time::Duration::from_millis(
            wait_ms.clamp(1.0, 100.0) as u64
        ));
    }
    // Everything recorded so far is published (live) and written, with the state after it.
    if pace.is_some() && !pending.is_empty() {
        let _ = events.try_send(pending.clone());
    }
    flush(&mut pending, &world, false);
    status.set_phase(Phase::Stopped);
    tracing::info!(sim_time = %world.time(), "simulator stopped");
}

async fn write_loop(
    mut rx: mpsc::Receiver<Job>,
    store: Arc<dyn Store>,
    status: Arc<StatusCell>,
    config: RunnerConfig,
    stop: CancellationToken,
) -> Unwritten {
    let mut last_prune: Option<Millis> = None;
    let mut rows_total: u64 = 0;
    let mut unwritten = Unwritten::default();
    while let Some((batch, ack)) = rx.recv().await {
        let mut pending = Pending {
            batch: Arc::new(batch),
            acks: ack.into_iter().collect(),
            batches: 1,
        };
        // Once a batch is lost, no later one may be written: its checkpoint would run ahead
        // of the rows and leave a hole that no restart fills.
        let written = if unwritten.batches == 0 {
            write_with_retries(&*store, &status, &mut pending, &mut rx, &stop).await
        } else {
            Written::GaveUp
        };
        let Pending {
            batch,
            acks,
            batches,
        } = pending;
        let end = batch.checkpoint.as_ref().map(|c| c.time);
        match written {
            Written::Rows(rows) => {
                rows_total += rows;
                metrics::counter!("madbus_rows_written_total").increment(rows);
            }
            Written::Fenced => {
                tracing::error!(
                    "another simulator has taken over the store: this one stops writing now"
                );
                unwritten.fenced = true;
                unwritten.batches += batches;
                unwritten.rows += batch.records.len() as u64;
                stop.cancel();
            }
            Written::GaveUp => {
                unwritten.batches += batches;
                unwritten.rows += batch.records.len() as u64;
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
        if let Some(end) = end
            && unwritten.batches == 0
        {
            // Said before the prune: readers that keep sealed history in memory stop short
            // of what may go.
            status.set_stored(Stored::after_write(end, config.retention, config.speed));
            if last_prune.is_none_or(|p| end.0 - p.0 >= PRUNE_EVERY.as_millis()) {
                last_prune = Some(end);
                match store.prune(end.saturating_sub(config.retention)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "pruned rows past retention"),
                    Err(e) => tracing::warn!(error = %e, "pruning failed"),
                }
            }
        }
    }
    tracing::info!(rows_written = rows_total, "store writer finished");
    unwritten
}

/// What the writer holds: one batch, or several merged while the store was away.
struct Pending {
    batch: Arc<Batch>,
    acks: Vec<std::sync::mpsc::Sender<()>>,
    batches: u64,
}

impl Pending {
    /// Appends a later batch: its records after these, its world state instead.
    fn merge(&mut self, (later, ack): Job) {
        // Not shared once a write has failed: no copy.
        let batch = Arc::make_mut(&mut self.batch);
        let mut records = later.records;
        batch.records.append(&mut records);
        if later.checkpoint.is_some() {
            batch.checkpoint = later.checkpoint;
        }
        self.acks.extend(ack);
        self.batches += 1;
    }
}

/// What became of one batch.
enum Written {
    /// Stored: this many rows were new.
    Rows(u64),
    GaveUp,
    /// Refused: another simulator writes the store now.
    Fenced,
}

/// Writes what is pending, retrying (writes are idempotent) until it is stored, or until
/// the runner is stopping and retries have gone on for several seconds; never after it has
/// been fenced out. Between retries it takes the batches that arrive (up to
/// [`BACKLOG_ROWS`]), so the simulator keeps stepping while the store is away.
async fn write_with_retries(
    store: &dyn Store,
    status: &StatusCell,
    pending: &mut Pending,
    rx: &mut mpsc::Receiver<Job>,
    stop: &CancellationToken,
) -> Written {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let result = store.write(Arc::clone(&pending.batch)).await;
        metrics::histogram!("madbus_store_write_seconds").record(started.elapsed().as_secs_f64());
        match result {
            Ok(stats) => {
                status.set_store_error(None);
                metrics::gauge!("madbus_store_backlog_rows").set(0.0);
                return Written::Rows(stats.rows_written);
            }
            Err(crate::store::StoreError::Fenced) => return Written::Fenced,
            Err(e) => {
                tracing::error!(error = %e, "store write failed; retrying");
                status.set_store_error(Some(e.to_string()));
                if stop.is_cancelled() && delay > std::time::Duration::from_secs(2) {
                    tracing::error!(
                        "stopping with a batch that cannot be written; later batches are not \
                         written either, so the saved world stays consistent with the rows"
                    );
                    return Written::GaveUp;
                }
                let wait = tokio::time::sleep(delay);
                tokio::pin!(wait);
                loop {
                    let room = pending.batch.records.len() < BACKLOG_ROWS;
                    tokio::select! {
                        () = &mut wait => break,
                        job = rx.recv(), if room => match job {
                            Some(job) => pending.merge(job),
                            None => {
                                (&mut wait).await;
                                break;
                            }
                        },
                    }
                }
                metrics::gauge!("madbus_store_backlog_rows")
                    .set(pending.batch.records.len() as f64);
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Backfill progress: a bar on a terminal, otherwise a log line every 10 %.
struct Progress {
    from: Millis,
    bar: Option<indicatif::ProgressBar>,
    last_logged: std::cell::Cell<u32>,
    started: Instant,
}

impl Progress {
    fn new(from: Millis, bar: bool) -> Self {
        let bar = bar.then(|| {
            let pb = indicatif::ProgressBar::new(1000);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "backfill [{bar:40}] {percent:>3}% {msg} (eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            pb
        });
        Self {
            from,
            bar,
            last_logged: std::cell::Cell::new(0),
            started: Instant::now(),
        }
    }

    /// Records progress towards `target`; returns the fraction done.
    fn update(&self, now: Millis, target: Millis) -> f64 {
        let total = (target.0 - self.from.0).max(1) as f64;
        let done = ((now.0 - self.from.0) as f64 / total).clamp(0.0, 1.0);
        // Only every simulated minute: the bar and log are not worth more.
        if now.0 % 60_000 == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position((done * 1000.0) as u64);
                bar.set_message(now.to_rfc3339());
            } else {
                let tenth = (done * 10.0) as u32;
                if tenth > self.last_logged.get() {
                    self.last_logged.set(tenth);
                    tracing::info!(percent = tenth * 10, sim_time = %now, "backfilling");
                }
            }
        }
        done
    }

    fn finish(&self, now: Millis) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let simulated_s = (now.0 - self.from.0) as f64 / 1000.0;
        let wall_s = self.started.elapsed().as_secs_f64();
        tracing::info!(
            simulated_h = format!("{:.1}", simulated_s / 3600.0),
            wall_s = format!("{wall_s:.2}"),
            x_real_time = format!("{:.0}", simulated_s / wall_s.max(1e-9)),
            "caught up with the clock; running live"
        );
    }
}
