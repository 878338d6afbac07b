//! What the benchmarks share.

use std::time::Instant;

use madbus::app::{Application, Settings};
use madbus::time::Duration;

/// A backfill's wall time and its simulation thread's CPU time, in seconds.
#[allow(
    dead_code,
    reason = "each benchmark compiles this module; not all read both"
)]
pub struct Backfilled {
    pub wall: f64,
    /// The same work for each simulated day whatever the store holds, so it measures how
    /// fast the machine was while the backfill ran.
    pub sim_cpu: f64,
}

/// CPU time of a thread from its `/proc/.../schedstat` file (Linux), if it can be read.
pub fn schedstat_cpu(task: &std::path::Path) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(task.join("schedstat")).ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}

/// CPU seconds of this process's live thread named `name`, if any.
fn thread_cpu(name: &str) -> Option<f64> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .and_then(|task| schedstat_cpu(&task.path()))
        .map(|cpu| cpu.as_secs_f64())
}

/// Builds the app on `dir` with the default network and `backfill` of history (loopback
/// port 0), runs it until the simulator is live, stops it.
pub fn backfill(rt: &tokio::runtime::Runtime, dir: &std::path::Path, backfill: &str) -> Backfilled {
    let mut settings = Settings::new(dir.to_path_buf());
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.backfill = backfill.parse::<Duration>().unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let app = Application::build(settings).await.unwrap();
        let live = app.live();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        live.until_live().await;
        let wall = started.elapsed().as_secs_f64();
        let sim_cpu = thread_cpu(madbus::runner::SIM_THREAD).expect("the simulation thread runs");
        tx.send(()).unwrap();
        task.await.unwrap().unwrap();
        Backfilled { wall, sim_cpu }
    })
}
