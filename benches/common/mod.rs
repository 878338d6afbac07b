//! What the benchmarks share.

use std::time::Instant;

use madbus::app::{Application, Settings};
use madbus::time::Duration;

/// Builds the app on `dir` with the default network and `backfill` of history (loopback
/// port 0), runs it until the simulator is live, stops it; returns the wall seconds taken.
pub fn backfill(rt: &tokio::runtime::Runtime, dir: &std::path::Path, backfill: &str) -> f64 {
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
        tx.send(()).unwrap();
        task.await.unwrap().unwrap();
        wall
    })
}
