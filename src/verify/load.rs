//! The checklist's performance tests, built in (no hey needed): N requests at concurrency C
//! on `POST /mcp/list-tools`, and 10 requests at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::checks::Context;
use super::{Failure, Outcome};

/// What a batch of requests saw.
struct Sample {
    /// Per request: status (0 when there was no answer) and latency.
    results: Vec<(u16, Duration)>,
    wall: Duration,
}

impl Sample {
    fn sorted_latencies(&self) -> Vec<Duration> {
        let mut l: Vec<Duration> = self.results.iter().map(|r| r.1).collect();
        l.sort();
        l
    }

    fn statuses(&self) -> String {
        let mut counts = BTreeMap::new();
        for (status, _) in &self.results {
            *counts.entry(*status).or_insert(0usize) += 1;
        }
        counts
            .iter()
            .map(|(s, n)| {
                let s = if *s == 0 {
                    "no answer".to_string()
                } else {
                    s.to_string()
                };
                format!("[{s}] x{n}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn count(&self, pred: impl Fn(u16) -> bool) -> usize {
        self.results.iter().filter(|(s, _)| pred(*s)).count()
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Sends `total` authenticated `POST /mcp/list-tools`, `concurrency` at a time.
async fn fire(
    ctx: &Context,
    total: usize,
    concurrency: usize,
    progress: Option<indicatif::ProgressBar>,
) -> Sample {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.min(total))
        .map(|_| {
            let next = Arc::clone(&next);
            let request = ctx.list_tools(&[
                ("x-api-key", &ctx.config.api_key),
                ("x-group-name", &ctx.config.group),
            ]);
            let progress = progress.clone();
            async move {
                let mut seen = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let status = match request.try_clone().expect("no streaming body").send().await
                    {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            // Read the whole answer: its time is part of the latency.
                            let _ = r.bytes().await;
                            status
                        }
                        Err(_) => 0,
                    };
                    seen.push((status, t.elapsed()));
                    if let Some(p) = &progress {
                        p.inc(1);
                    }
                }
                seen
            }
        })
        .collect();
    let results = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    Sample {
        results,
        wall: started.elapsed(),
    }
}

pub async fn load_test(ctx: &Context) -> Outcome {
    let (total, concurrency) = (ctx.config.requests, ctx.config.concurrency);
    let progress = ctx.config.progress.then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("load test [{bar:40}] {pos}/{len} ({per_sec})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let sample = fire(ctx, total, concurrency, progress).await;
    let lat = sample.sorted_latencies();
    let avg = lat.iter().sum::<Duration>() / lat.len().max(1) as u32;
    let figure = format!(
        "{total} requests at concurrency {concurrency}: {:.0} req/s, avg {}, p50 {}, p90 {}, p99 {}; {}",
        total as f64 / sample.wall.as_secs_f64(),
        ms(avg),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.9)),
        ms(pct(&lat, 0.99)),
        sample.statuses()
    );
    let mut problems = Vec::new();
    let failed = sample.count(|s| !(200..300).contains(&s));
    if failed > 0 {
        problems.push(format!("{failed} failed"));
    }
    let throttled = sample.count(|s| s == 429);
    if throttled > 0 {
        problems.push(format!("{throttled} throttled (429)"));
    }
    if avg >= ctx.config.max_avg_latency {
        problems.push(format!("average {}", ms(avg)));
    }
    if problems.is_empty() {
        Ok(figure)
    } else {
        Err(Failure::new(
            format!(
                "every request 2xx, none throttled, average under {}",
                ms(ctx.config.max_avg_latency)
            ),
            problems.join(", "),
        )
        .with_figure(figure))
    }
}

pub async fn concurrent(ctx: &Context) -> Outcome {
    let sample = fire(ctx, 10, 10, None).await;
    let lat = sample.sorted_latencies();
    let (min, median, max) = (lat[0], pct(&lat, 0.5), lat[lat.len() - 1]);
    let figure = format!(
        "10 at once: min {}, median {}, max {}; {}",
        ms(min),
        ms(median),
        ms(max),
        sample.statuses()
    );
    let ok = sample.count(|s| (200..300).contains(&s));
    // Consistent: no request much slower than the others.
    let consistent = max <= (median * 5).max(median + Duration::from_millis(250));
    if ok == 10 && consistent {
        Ok(figure)
    } else {
        Err(Failure::new(
            "10 of 10 succeed, the slowest within 5x the median (or +250 ms)",
            format!("{ok} of 10 succeeded, slowest {}", ms(max)),
        )
        .with_figure(figure))
    }
}
