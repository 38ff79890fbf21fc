//! The load generator: a number of lanes, each running one operation after another for a fixed
//! time; an operation counts (its completion and its latency) if it finished inside the
//! measured window. Counting only operations that also began inside the window would undercount
//! long operations by about latency / window (10 % for 2 s turns in a 20 s window).

use std::future::Future;
use std::time::{Duration, Instant};

use futures::future::join_all;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Sample {
    pub completed: u64,
    pub failed: u64,
    pub window: Duration,
    /// Sorted latencies of the operations that finished inside the window.
    pub latencies: Vec<Duration>,
}

impl Sample {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }

    pub fn percentile(&self, p: usize) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[(self.latencies.len() * p / 100).min(self.latencies.len() - 1)]
    }
}

/// Runs `lanes` loops of `operation(lane, iteration)` (true = success) for `warmup + window`,
/// measuring only the `window`.
pub async fn run<F, Fut>(lanes: usize, warmup: Duration, window: Duration, operation: F) -> Sample
where
    F: Fn(usize, u64) -> Fut + Clone,
    Fut: Future<Output = bool>,
{
    run_staggered(lanes, Duration::ZERO, warmup, window, operation).await
}

/// [`run`], lane `i` starting `stagger * i / lanes` late: conversations that arrive over a while
/// rather than all in the same millisecond (which keeps them in lockstep for the whole run).
pub async fn run_staggered<F, Fut>(lanes: usize, stagger: Duration, warmup: Duration, window: Duration, operation: F) -> Sample
where
    F: Fn(usize, u64) -> Fut + Clone,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + window;
    let per_lane = join_all((0..lanes).map(|lane| {
        let operation = operation.clone();
        async move {
            tokio::time::sleep(stagger.mul_f64(lane as f64 / lanes.max(1) as f64)).await;
            let (mut latencies, mut failed) = (Vec::new(), 0u64);
            let mut iteration = 0;
            while Instant::now() < end {
                let began = Instant::now();
                let ok = operation(lane, iteration).await;
                let finished = Instant::now();
                iteration += 1;
                if finished >= measure_from && finished <= end {
                    if ok {
                        latencies.push(finished - began);
                    } else {
                        failed += 1;
                    }
                }
            }
            (latencies, failed)
        }
    }))
    .await;
    let mut latencies: Vec<Duration> = per_lane.iter().flat_map(|(l, _)| l.iter().copied()).collect();
    latencies.sort();
    Sample {
        completed: latencies.len() as u64,
        failed: per_lane.iter().map(|(_, f)| f).sum(),
        window,
        latencies,
    }
}
