//! `cartwright-bench`: measures the whole system on this machine (nats-server, PostgreSQL,
//! ingress, workers and this load generator all share it), prints a table and writes
//! BENCHMARKS.md. Run it with `make bench` (release binaries).
//!
//! Scenarios:
//! - acceptance: authenticated non-blocking `message/send`, unique messageIds, 64 at a time,
//!   no worker running (the ingress alone: auth, validation, PostgreSQL record, JetStream publish).
//! - end-to-end: conversations sending `add_to_checkout` one after another with blocking sends,
//!   with 1, 2 and 4 workers; afterwards every checkout is checked for order and exactly-once.
//! - headroom: 1,000 conversations whose turns each take 2 s (`SIMULATED_TURN_MS`, standing in
//!   for the LLM call) on two workers; the ideal is 500 turns/s.
//!
//! - chat/2s: 1,000 conversations of chat turns with the agent, the fake model provider
//!   answering each call in 2 s, two model calls per turn, two workers: the ideal is 250
//!   turns/s. Conversations start spread over the first 4 s (one turn's length). The workers'
//!   resident size is read afterwards.
//! - chat/0ms: the same with instant model answers: the pipeline's own cost of an LLM turn.
//! - memory: chat/2s load for 5 minutes after a warm-up in which every session reaches its
//!   history bound; the workers' resident size sampled along the way.
//! - crash-replay: chat turns that add to the checkout while a worker is SIGKILLed every few
//!   seconds (model calls in flight); afterwards order, exactly-once and model calls per turn.
//! - checkout/rest and checkout/a2a: whole checkouts (create, update, complete over REST; add,
//!   address, complete over A2A), 64 at a time, 2 workers, on the same run (see `checkout`).
//! - calibration: pgbench with a turn-shaped transaction on the same PostgreSQL, so figures of
//!   runs on different days compare (each row is also shown as a ratio to it).
//!
//! Acceptance, end-to-end with one worker and headroom run twice: with the project's
//! nats-server config (an fsync before every PubAck) and with the bounded one (rows marked
//! `/sync-1s`, an fsync every second; see deploy/nats-server-sync-1s.conf).

mod calibration;
mod chat;
mod checkout;
mod load;
mod report;

use std::time::Duration;

use clap::Parser;
use serde_json::json;
use testkit::{Stack, StackOptions};

use crate::load::Sample;
use crate::report::{Row, Verdict};

#[derive(Parser)]
#[command(name = "cartwright-bench")]
struct Args {
    /// Short windows (for a smoke run); figures are noisier.
    #[arg(long)]
    quick: bool,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: String,
    /// Run only the scenarios whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

const ACCEPT_LANES: usize = 64;
const E2E_CONVERSATIONS: usize = 128;
/// The nats-server configs measured, by the suffix of their rows' names: the project's (an
/// fsync before every PubAck) and the bounded one (an fsync every second).
const NATS_CONFIGS: [(&str, &str); 2] = [("", testkit::nats::CONFIG), ("/sync-1s", testkit::nats::CONFIG_SYNC_1S)];
const HEADROOM_CONVERSATIONS: usize = 1000;
const HEADROOM_TURN_MS: u64 = 2000;
const CHAT_CONVERSATIONS: usize = 1000;
const CHAT_CALL_MS: u64 = 2000;
const CHAT_0MS_CONVERSATIONS: usize = 1000;
const CRASH_CONVERSATIONS: usize = 200;
const CHECKOUT_LANES: usize = 64;

/// The same allocator as the binaries under test, so the load generator takes less of the
/// CPU they share.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (warmup, window) = if args.quick {
        (Duration::from_secs(1), Duration::from_secs(4))
    } else {
        (Duration::from_secs(3), Duration::from_secs(15))
    };
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| name.contains(only));
    let mut rows = Vec::new();

    for (suffix, nats_config) in NATS_CONFIGS {
        let name = format!("acceptance{suffix}");
        if !wanted(&name) {
            continue;
        }
        let stack = stack(0, &[], nats_config).await;
        let sample = accept(&stack, warmup, window).await;
        rows.push(Row::new(
            &name,
            "non-blocking message/send, 64 concurrent, no workers",
            &sample,
            None,
        ));
    }
    let mut one_worker = None;
    let end_to_end = [1usize, 2, 4]
        .map(|w| (w, NATS_CONFIGS[0]))
        .into_iter()
        .chain([(1, NATS_CONFIGS[1])]);
    for (workers, (suffix, nats_config)) in end_to_end {
        let name = format!("end-to-end/{workers}w{suffix}");
        if !wanted(&name) {
            continue;
        }
        let stack = stack(workers, &[], nats_config).await;
        let sample = converse(&stack, E2E_CONVERSATIONS, warmup, window).await;
        let verdict = verify(&stack).await;
        let ratio = suffix
            .is_empty()
            .then(|| sample.per_second() / *one_worker.get_or_insert(sample.per_second()));
        let mut row = Row::new(
            &name,
            &format!("{E2E_CONVERSATIONS} conversations, blocking add_to_checkout, {workers} worker(s)"),
            &sample,
            Some(verdict),
        );
        row.ratio = ratio;
        rows.push(row);
    }
    for (suffix, nats_config) in NATS_CONFIGS {
        let name = format!("headroom{suffix}");
        if !wanted(&name) {
            continue;
        }
        let env = [("SIMULATED_TURN_MS".to_owned(), HEADROOM_TURN_MS.to_string())];
        let stack = stack(2, &env, nats_config).await;
        let window = window.max(Duration::from_secs(20));
        let sample = converse(&stack, HEADROOM_CONVERSATIONS, Duration::from_secs(5), window).await;
        let verdict = verify(&stack).await;
        let ideal = HEADROOM_CONVERSATIONS as f64 * 1000.0 / HEADROOM_TURN_MS as f64;
        let mut row = Row::new(
            &name,
            &format!("{HEADROOM_CONVERSATIONS} conversations, {HEADROOM_TURN_MS} ms per turn, 2 workers (ideal {ideal:.0}/s)"),
            &sample,
            Some(verdict),
        );
        row.ratio = Some(sample.per_second() / ideal);
        rows.push(row);
    }

    for (name, latency, lanes, nats_config) in [
        ("chat/2s", CHAT_CALL_MS, CHAT_CONVERSATIONS, NATS_CONFIGS[0].1),
        ("chat/0ms", 0, CHAT_0MS_CONVERSATIONS, NATS_CONFIGS[0].1),
        ("chat/0ms/sync-1s", 0, CHAT_0MS_CONVERSATIONS, NATS_CONFIGS[1].1),
    ] {
        if !wanted(name) {
            continue;
        }
        let llm = testkit::FakeLlm::start_with(false).await;
        llm.set_latency(Duration::from_millis(latency));
        let stack = chat::stack(2, &llm, 30, nats_config).await;
        let window = if latency > 0 { window.max(Duration::from_secs(20)) } else { window };
        let warmup = if latency > 0 { Duration::from_secs(5) } else { warmup };
        // Conversations arrive over one turn's length (two calls).
        let stagger = Duration::from_millis(2 * latency);
        let sample = chat::lanes(chat::client(&stack, "chat"), "chat", lanes, chat::Script::Search, stagger, warmup, window).await;
        let rss = chat::worker_rss_mib(&stack);
        let verdict = verify(&stack).await;
        let calls = chat::calls(&stack, &llm, &verdict).await;
        let ideal = (latency > 0).then(|| lanes as f64 * 1000.0 / (2.0 * latency as f64));
        let what = match ideal {
            Some(ideal) => format!("{lanes} conversations, chat turns of 2 model calls at {latency} ms each, 2 workers (ideal {ideal:.0}/s)"),
            None => format!("{lanes} conversations, chat turns of 2 model calls answered at once, 2 workers"),
        };
        let mut row = Row::new(name, &what, &sample, Some(verdict));
        row.ratio = ideal.map(|ideal| sample.per_second() / ideal);
        row.notes = format!(
            "model calls/turn {:.2} (journaled {:.2}); failed tasks {}; worker RSS after {rss:.0} MiB",
            calls.provider_per_turn, calls.journaled_per_turn, calls.failed_tasks
        );
        rows.push(row);
    }
    for name in ["checkout/rest", "checkout/a2a"] {
        if !wanted(name) {
            continue;
        }
        let stack = stack(2, &[], NATS_CONFIGS[0].1).await;
        let (sample, what) = if name == "checkout/rest" {
            let sample = checkout::rest(&stack, CHECKOUT_LANES, warmup, window).await;
            (sample, "REST: create + update + complete per checkout")
        } else {
            let sample = checkout::a2a(&stack, CHECKOUT_LANES, warmup, window).await;
            (sample, "A2A: add + address + complete per checkout (blocking sends)")
        };
        // Waits for every task to finish; its per-turn quantity check is for the add-one lanes
        // only, so just the counts are kept.
        let finished = verify(&stack).await;
        let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&stack.db.pool)
            .await
            .expect("count orders");
        let mut row = Row::new(
            name,
            &format!("{what}, {CHECKOUT_LANES} concurrent, 2 workers; per second = checkouts"),
            &sample,
            None,
        );
        row.notes = format!(
            "{orders} orders placed in the run; {} tasks, {} unfinished",
            finished.tasks, finished.stuck
        );
        rows.push(row);
    }
    if wanted("memory") {
        let llm = testkit::FakeLlm::start_with(false).await;
        llm.set_latency(Duration::from_millis(CHAT_CALL_MS));
        let stack = chat::stack(2, &llm, 30, NATS_CONFIGS[0].1).await;
        // A conversation's session grows until it holds LLM_HISTORY_TURNS (20) exchanges, about
        // 85 s at one turn per 4.2 s; memory is steady only after that.
        let (settle, steady) = if args.quick {
            (Duration::from_secs(20), Duration::from_secs(40))
        } else {
            (Duration::from_secs(100), Duration::from_secs(300))
        };
        let memory = chat::memory_over(&stack, CHAT_CONVERSATIONS, settle, steady, Duration::from_secs(10)).await;
        let verdict = verify(&stack).await;
        let sample = load::Sample {
            completed: verdict.tasks as u64,
            failed: 0,
            window: settle + steady,
            latencies: Vec::new(),
        };
        let mut row = Row::new(
            "memory",
            &format!(
                "{CHAT_CONVERSATIONS} conversations, chat at {CHAT_CALL_MS} ms per call, 2 workers, {} s steady after {} s warm-up",
                steady.as_secs(),
                settle.as_secs()
            ),
            &sample,
            Some(verdict),
        );
        row.notes = format!(
            "worker RSS over the steady {} s, medians: {:.0} MiB in its first minute, {:.0} MiB in its last ({:+.1} %); samples {:.0} to {:.0} MiB",
            steady.as_secs(),
            memory.first_minute,
            memory.last_minute,
            (memory.last_minute / memory.first_minute.max(1.0) - 1.0) * 100.0,
            memory.min,
            memory.max,
        );
        rows.push(row);
    }
    if wanted("crash-replay") {
        let llm = testkit::FakeLlm::start_with(false).await;
        llm.set_latency(Duration::from_millis(500));
        let mut stack = chat::stack(2, &llm, 5, NATS_CONFIGS[0].1).await;
        let duration = if args.quick { Duration::from_secs(20) } else { Duration::from_secs(40) };
        let (sample, kills) = chat::with_kills(&mut stack, CRASH_CONVERSATIONS, duration, Duration::from_secs(6)).await;
        let verdict = verify(&stack).await;
        let calls = chat::calls(&stack, &llm, &verdict).await;
        let mut row = Row::new(
            "crash-replay",
            &format!("{CRASH_CONVERSATIONS} conversations adding to checkouts by chat (2 model calls at 500 ms), a worker SIGKILLed every 6 s"),
            &sample,
            Some(verdict),
        );
        row.notes = format!(
            "{kills} kills; model calls/turn {:.3} (journaled {:.2}: none re-paid once answered); lost {} (stuck + failed), duplicated {} (out of order)",
            calls.provider_per_turn,
            calls.journaled_per_turn,
            verdict.stuck + calls.failed_tasks,
            verdict.out_of_order
        );
        rows.push(row);
    }

    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let calibration = calibration::turn_shaped_tps(&admin_url, Duration::from_secs(if args.quick { 5 } else { 15 })).await;
    let table = report::table(&rows, calibration);
    println!("{table}");
    report::write(&args.out, &table, args.quick).expect("write the report");
    println!("wrote {}", args.out);
}

async fn stack(workers: usize, worker_env: &[(String, String)], nats_config: &'static str) -> Stack {
    Stack::start(StackOptions {
        workers,
        partitions: 16,
        ack_wait: 30,
        worker_env: worker_env.to_vec(),
        db_pool_size: 16,
        nats_config,
        ..Default::default()
    })
    .await
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(2048)
        .build()
        .expect("http client")
}

/// Non-blocking sends, `ACCEPT_LANES` at a time, each lane its own conversation.
async fn accept(stack: &Stack, warmup: Duration, window: Duration) -> Sample {
    add_to_checkout_lanes(stack, "acc", ACCEPT_LANES, false, warmup, window).await
}

/// `conversations` lanes, each its own conversation, each sending blocking adds one at a time.
async fn converse(stack: &Stack, conversations: usize, warmup: Duration, window: Duration) -> Sample {
    add_to_checkout_lanes(stack, "e2e", conversations, true, warmup, window).await
}

/// Lanes sending `add_to_checkout` one after another; a send counts when the task comes back
/// `submitted` (non-blocking) or `completed` (blocking).
async fn add_to_checkout_lanes(
    stack: &Stack,
    prefix: &'static str,
    lanes: usize,
    blocking: bool,
    warmup: Duration,
    window: Duration,
) -> Sample {
    let mut client = stack.client(&format!("bench-{prefix}"));
    client.http = http();
    let expected = if blocking { "completed" } else { "submitted" };
    load::run(lanes, warmup, window, move |lane, i| {
        let client = client.clone();
        async move {
            let message = testkit::client::message_with_id(
                &format!("{prefix}-{lane}-{i}"),
                testkit::client::action(json!({"action": "add_to_checkout", "product_id": "BISC-001", "quantity": 1})),
                Some(&format!("{prefix}-{lane}")),
            );
            let params = json!({"message": message, "configuration": {"blocking": blocking}});
            let (status, body) = client.rpc("message/send", params).await;
            status.is_success() && body["result"]["status"]["state"] == expected
        }
    })
    .await
}

/// After a run: wait for every accepted task to finish, then check each conversation's tasks,
/// in sequence order, saw the quantity go up by exactly one each (order held, applied once).
async fn verify(stack: &Stack) -> Verdict {
    let pool = &stack.db.pool;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut stuck: i64;
    loop {
        stuck = sqlx::query_scalar("SELECT count(*) FROM tasks WHERE finished_at IS NULL")
            .fetch_one(pool)
            .await
            .expect("count");
        if stuck == 0 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out_of_order: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tasks t
         WHERE t.state = 'completed'
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(t.reply->'parts') p WHERE p->'data' ? 'a2a.ucp.checkout')
           AND (
             SELECT (li->>'quantity')::bigint FROM jsonb_array_elements(
                 (SELECT p->'data'->'a2a.ucp.checkout'->'line_items' FROM jsonb_array_elements(t.reply->'parts') p
                  WHERE p->'data' ? 'a2a.ucp.checkout')) li
             WHERE li->'item'->>'id' = 'BISC-001') IS DISTINCT FROM t.seq",
    )
    .fetch_one(pool)
    .await
    .expect("order check");
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(pool)
        .await
        .expect("count");
    Verdict {
        tasks,
        stuck,
        out_of_order,
    }
}
