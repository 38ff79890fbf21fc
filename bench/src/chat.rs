//! Chat turns with the agent, against the fake model provider (Gemini's wire format, in this
//! process) at a set latency: each turn is two model calls (a catalog search, then the answer;
//! or an add_to_checkout, then the answer, where the run checks the checkouts).

use std::time::Duration;

use serde_json::json;
use testkit::{Client, FakeLlm, Stack, StackOptions};

use crate::load::{self, Sample};
use crate::report::Verdict;

/// What the turns of a chat scenario say.
#[derive(Clone, Copy)]
pub enum Script {
    /// The fake searches the catalog, then answers.
    Search,
    /// The fake adds one BISC-001, then answers: the checkouts show order and exactly-once.
    Add,
}

impl Script {
    fn text(self) -> &'static str {
        match self {
            Script::Search => "cookies",
            Script::Add => "call add_to_checkout {\"product_id\": \"BISC-001\", \"quantity\": 1}",
        }
    }
}

/// A stack whose workers talk to `llm`.
pub async fn stack(workers: usize, llm: &FakeLlm, ack_wait: u64, nats_config: &'static str) -> Stack {
    Stack::start(StackOptions {
        workers,
        partitions: 16,
        ack_wait,
        worker_env: llm.env("gemini"),
        db_pool_size: 16,
        nats_config,
        ..Default::default()
    })
    .await
}

/// A client for the lanes of scenario `prefix`.
pub fn client(stack: &Stack, prefix: &str) -> Client {
    let mut client = stack.client(&format!("bench-{prefix}"));
    client.http = crate::http();
    client
}

/// `lanes` conversations, each sending blocking chat messages one after another, starting
/// spread over `stagger`.
pub async fn lanes(
    client: Client,
    prefix: &'static str,
    lanes: usize,
    script: Script,
    stagger: Duration,
    warmup: Duration,
    window: Duration,
) -> Sample {
    load::run_staggered(lanes, stagger, warmup, window, move |lane, i| {
        let client = client.clone();
        async move {
            let message = testkit::client::message_with_id(
                &format!("{prefix}-{lane}-{i}"),
                json!([{ "kind": "text", "text": script.text() }]),
                Some(&format!("{prefix}-{lane}")),
            );
            let params = json!({"message": message, "configuration": {"blocking": true}});
            let (status, body) = client.rpc("message/send", params).await;
            status.is_success() && body["result"]["status"]["state"] == "completed"
        }
    })
    .await
}

/// What the provider and the journal saw per finished turn.
pub struct Calls {
    /// Requests the provider answered, per task.
    pub provider_per_turn: f64,
    /// Journaled replies (the calls the turns used), per task.
    pub journaled_per_turn: f64,
    pub failed_tasks: i64,
}

/// After [`crate::verify`]: the model calls per task.
pub async fn calls(stack: &Stack, llm: &FakeLlm, verdict: &Verdict) -> Calls {
    let pool = &stack.db.pool;
    let journaled: i64 = sqlx::query_scalar("SELECT count(*) FROM turn_journal")
        .fetch_one(pool)
        .await
        .expect("count the journal");
    let failed_tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE state = 'failed'")
        .fetch_one(pool)
        .await
        .expect("count failed tasks");
    let tasks = verdict.tasks.max(1) as f64;
    Calls {
        provider_per_turn: llm.answered() as f64 / tasks,
        journaled_per_turn: journaled as f64 / tasks,
        failed_tasks,
    }
}

/// The largest resident size of the stack's workers, in MiB.
pub fn worker_rss_mib(stack: &Stack) -> f64 {
    largest_rss_mib(&worker_pids(stack))
}

fn worker_pids(stack: &Stack) -> Vec<u32> {
    stack.workers.iter().filter_map(|w| w.pid()).collect()
}

fn largest_rss_mib(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|&pid| testkit::process::rss_bytes(pid)).max().unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

/// The workers' resident size over a steady run, in MiB.
pub struct Memory {
    /// Median of the samples in the steady phase's first minute.
    pub first_minute: f64,
    /// Median of the samples in its last minute.
    pub last_minute: f64,
    pub min: f64,
    pub max: f64,
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the chat load for `settle + steady` and samples the workers' resident size every
/// `every` during `steady` (the largest of the workers at each sample). The medians of the
/// first and last minute show a trend; single samples swing with the load.
pub async fn memory_over(stack: &Stack, lanes_count: usize, settle: Duration, steady: Duration, every: Duration) -> Memory {
    let pids = worker_pids(stack);
    let sampler = tokio::spawn(async move {
        tokio::time::sleep(settle).await;
        let mut samples = Vec::new();
        let end = tokio::time::Instant::now() + steady;
        while tokio::time::Instant::now() < end {
            samples.push(largest_rss_mib(&pids));
            tokio::time::sleep(every).await;
        }
        samples
    });
    lanes(client(stack, "mem"), "mem", lanes_count, Script::Search, Duration::from_secs(4), Duration::ZERO, settle + steady).await;
    let samples = sampler.await.unwrap_or_default();
    let minute = ((60.0 / every.as_secs_f64()).ceil() as usize).min(samples.len());
    Memory {
        first_minute: median(&samples[..minute]),
        last_minute: median(&samples[samples.len() - minute..]),
        min: samples.iter().copied().fold(f64::INFINITY, f64::min),
        max: samples.iter().copied().fold(0.0, f64::max),
    }
}

/// Runs `Script::Add` lanes for `duration` while SIGKILLing the oldest worker every `every`
/// and starting a fresh one: model calls are in flight at each kill. Returns the sample and
/// the number of kills.
pub async fn with_kills(stack: &mut Stack, lanes_count: usize, duration: Duration, every: Duration) -> (Sample, usize) {
    let load = tokio::spawn(lanes(
        client(stack, "crash"),
        "crash",
        lanes_count,
        Script::Add,
        Duration::from_secs(1),
        Duration::ZERO,
        duration,
    ));
    let end = tokio::time::Instant::now() + duration.saturating_sub(every);
    let mut kills = 0;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(every).await;
        let mut victim = stack.workers.remove(0);
        victim.kill9().await;
        kills += 1;
        stack.start_worker(&[]).await;
    }
    (load.await.expect("the lanes"), kills)
}
