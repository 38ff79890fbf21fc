//! The workers' metrics, named in one place (served at `WORKER_HTTP_ADDR` `/metrics`; the queue
//! depth gauges come from `queue::depth`).
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `cartwright_turns_total`, `cartwright_turn_duration_seconds` | `outcome` | attempts at a turn: `committed`, `duplicate`, `parked`, `held`, `retried`, `waiting`, `dead_lettered` |
//! | `cartwright_dedup_hits_total` | | deliveries whose turn was applied before (skipped) |
//! | `cartwright_predecessors_fetched_total` | | tasks run from the database for the messages parked behind them |
//! | `cartwright_dead_lettered_total` | `reason` | messages dead-lettered |
//! | `cartwright_model_calls_total`, `cartwright_model_call_duration_seconds` | `provider`, `outcome` | model calls: `ok`, `rejected`, `transient`, `misconfigured` |
//! | `cartwright_model_tokens_total` | `provider`, `kind` | tokens used, `prompt` and `completion` |
//! | `cartwright_breaker_open` | `provider` | 1 while the provider's circuit is open |
//! | `cartwright_webhook_attempts_total` | `outcome` | webhook attempts: `delivered`, `retried` |

use std::time::Duration;

use schemas::dead_letter::Reason;

/// One attempt at a turn, with what became of it.
pub fn turn(outcome: &'static str, took: Duration) {
    metrics::counter!("cartwright_turns_total", "outcome" => outcome).increment(1);
    metrics::histogram!("cartwright_turn_duration_seconds", "outcome" => outcome).record(took.as_secs_f64());
    if outcome == "duplicate" {
        metrics::counter!("cartwright_dedup_hits_total").increment(1);
    }
}

/// A task run from the database for the messages parked behind it.
pub fn predecessor_fetched() {
    metrics::counter!("cartwright_predecessors_fetched_total").increment(1);
}

pub fn dead_lettered(reason: Reason) {
    metrics::counter!("cartwright_dead_lettered_total", "reason" => reason.as_str()).increment(1);
}

/// One model call (one attempt, retries counted each).
pub fn model_call(provider: &'static str, outcome: &'static str, took: Duration, usage: Option<&schemas::agent::Usage>) {
    metrics::counter!("cartwright_model_calls_total", "provider" => provider, "outcome" => outcome).increment(1);
    metrics::histogram!("cartwright_model_call_duration_seconds", "provider" => provider, "outcome" => outcome)
        .record(took.as_secs_f64());
    if let Some(usage) = usage {
        metrics::counter!("cartwright_model_tokens_total", "provider" => provider, "kind" => "prompt")
            .increment(usage.prompt_tokens.max(0) as u64);
        metrics::counter!("cartwright_model_tokens_total", "provider" => provider, "kind" => "completion")
            .increment(usage.completion_tokens.max(0) as u64);
    }
}

/// One attempt at delivering a webhook event.
pub fn webhook(outcome: &'static str) {
    metrics::counter!("cartwright_webhook_attempts_total", "outcome" => outcome).increment(1);
}

pub fn breaker(provider: &'static str, open: bool) {
    metrics::gauge!("cartwright_breaker_open", "provider" => provider).set(if open { 1.0 } else { 0.0 });
}
