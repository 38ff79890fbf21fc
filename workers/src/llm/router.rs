//! Routes a model request to the first available provider: the primary, then the fallback
//! while the primary's circuit is open. Each call has a timeout and holds one of the worker's
//! `LLM_CONCURRENCY` slots; transient failures (429, 5xx, timeouts) are retried with jittered
//! exponential backoff, waiting at least what `Retry-After` asks.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use schemas::agent::ModelReply;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::breaker::Breaker;
use super::{call, CallError, Endpoint, ModelRequest};

/// How retries and the breaker behave.
#[derive(Debug, Clone)]
pub struct Policy {
    pub timeout: Duration,
    /// Attempts per provider per model call, the first included.
    pub attempts: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited out inside the call: the turn is
    /// redelivered later instead.
    pub max_retry_after: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

/// Why no provider gave an answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No provider is available now; try the turn again in `retry_in`.
    Unavailable { retry_in: Duration, detail: String },
    /// The request can never succeed.
    Rejected(String),
}

struct Route {
    endpoint: Endpoint,
    breaker: Breaker,
}

/// The worker's providers, in order of preference.
pub struct Router {
    http: reqwest::Client,
    routes: Vec<Route>,
    slots: Semaphore,
    policy: Policy,
}

impl Router {
    /// `trusted`: CA certificates trusted besides the platform's roots (`HTTP_CA_FILE`).
    pub fn new(
        endpoints: Vec<Endpoint>,
        concurrency: usize,
        policy: Policy,
        trusted: &[reqwest::Certificate],
    ) -> Result<Router, reqwest::Error> {
        let http = lifecycle::tls::trusting(reqwest::Client::builder(), trusted)
            .timeout(policy.timeout)
            .pool_max_idle_per_host(concurrency.min(4096))
            .build()?;
        let routes = endpoints
            .into_iter()
            .map(|endpoint| Route {
                endpoint,
                breaker: Breaker::new(policy.breaker_failures, policy.breaker_cooldown),
            })
            .collect();
        Ok(Router {
            http,
            routes,
            slots: Semaphore::new(concurrency.max(1)),
            policy,
        })
    }

    /// The primary's endpoint.
    pub fn primary(&self) -> &Endpoint {
        &self.routes[0].endpoint
    }

    /// Asks the first provider that can answer. `step` is the turn's step (it names tool calls
    /// a provider sends without ids).
    pub async fn complete(&self, request: &ModelRequest<'_>, step: usize) -> Result<ModelReply, Failure> {
        let mut retry_in: Option<Duration> = None;
        let mut details = Vec::new();
        for route in &self.routes {
            match self.call_with_retries(route, request, step).await {
                Ok(reply) => return Ok(reply),
                Err(CallError::Rejected(detail)) => return Err(Failure::Rejected(detail)),
                Err(CallError::CircuitOpen(wait)) => {
                    retry_in = Some(retry_in.map_or(wait, |r| r.min(wait)));
                    details.push(format!("{}: circuit open", route.endpoint.dialect.name()));
                }
                Err(error @ (CallError::Transient { .. } | CallError::Misconfigured(_))) => {
                    let wait = match &error {
                        CallError::Transient { retry_after, .. } => retry_after.unwrap_or(self.policy.min_backoff),
                        _ => self.policy.breaker_cooldown,
                    };
                    retry_in = Some(retry_in.map_or(wait, |r| r.min(wait)));
                    details.push(error.to_string());
                }
            }
        }
        Err(Failure::Unavailable {
            retry_in: retry_in.unwrap_or(self.policy.breaker_cooldown),
            detail: details.join("; "),
        })
    }

    async fn call_with_retries(&self, route: &Route, request: &ModelRequest<'_>, step: usize) -> Result<ModelReply, CallError> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.policy.min_backoff)
            .with_max_delay(self.policy.max_backoff)
            .with_max_times(self.policy.attempts.saturating_sub(1));
        let max_retry_after = self.policy.max_retry_after;
        (|| self.attempt(route, request, step))
            .retry(backoff)
            .when(|error| matches!(error, CallError::Transient { .. }))
            .adjust(move |error, backoff| match error {
                CallError::Transient {
                    retry_after: Some(wait), ..
                } if *wait > max_retry_after => None,
                CallError::Transient {
                    retry_after: Some(wait), ..
                } => backoff.map(|b| b.max(*wait)),
                _ => backoff,
            })
            .notify(|error, wait| {
                tracing::warn!(provider = route.endpoint.dialect.name(), %error, retry_in_ms = wait.as_millis() as u64, "model call failed; retrying");
            })
            .await
    }

    async fn attempt(&self, route: &Route, request: &ModelRequest<'_>, step: usize) -> Result<ModelReply, CallError> {
        route.breaker.permit().map_err(CallError::CircuitOpen)?;
        let _slot = self.slots.acquire().await.map_err(|_| CallError::CircuitOpen(self.policy.breaker_cooldown))?;
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "model_call",
            "otel.kind" = "client",
            "otel.name" = format!("chat {}", route.endpoint.model),
            provider = route.endpoint.dialect.name(),
            model = %route.endpoint.model,
            step,
            outcome = tracing::field::Empty,
            "otel.status_code" = tracing::field::Empty,
        );
        let result = tokio::time::timeout(self.policy.timeout, call(&self.http, &route.endpoint, request, step))
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| {
                Err(CallError::Transient {
                    detail: format!("model call timed out after {:?}", self.policy.timeout),
                    retry_after: None,
                })
            });
        match &result {
            Ok(_) | Err(CallError::Rejected(_)) => route.breaker.succeeded(),
            Err(CallError::Transient { retry_after, .. }) => {
                if route.breaker.failed(*retry_after) {
                    tracing::warn!(provider = route.endpoint.dialect.name(), "circuit opened");
                }
            }
            Err(CallError::Misconfigured(detail)) => {
                tracing::error!(provider = route.endpoint.dialect.name(), %detail, "the provider refuses this configuration");
                route.breaker.failed(None);
            }
            Err(CallError::CircuitOpen(_)) => {}
        }
        let provider = route.endpoint.dialect.name();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CallError::Rejected(_)) => "rejected",
            Err(CallError::Misconfigured(_)) => "misconfigured",
            Err(CallError::Transient { .. } | CallError::CircuitOpen(_)) => "transient",
        };
        span.record("outcome", outcome);
        if outcome != "ok" {
            span.record("otel.status_code", "ERROR");
        }
        crate::metrics::model_call(provider, outcome, started.elapsed(), result.as_ref().ok().map(|reply| &reply.usage));
        crate::metrics::breaker(provider, route.breaker.is_open());
        result
    }
}
