//! The webhook dispatcher: delivers the order events in the outbox (`store::webhooks`) to the
//! platforms' `webhook_url`s. Woken at once when a turn that queued events commits, and every
//! second for retries. Each attempt POSTs the event as JSON through the outbound client (only
//! addresses `UCP_PROFILE_ALLOWLIST` permits, no redirects, short timeouts); a 2xx answer
//! delivers it; anything else puts it in its receiver's backlog, which is tried again on the
//! receiver's backoff (1 s doubling to 10 min, jittered, per failure in a row) once the receiver
//! has been quiet for [`QUIET`]. An event is never dropped: a receiver that is down gets it when
//! it is back, and a failing receiver never fails the checkout call that caused the event.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lifecycle::outbound::{Allowlist, FilteringResolver};
use sqlx::PgPool;
use tokio::sync::{watch, Notify};

/// The most deliveries one round sends at once.
const BATCH: i64 = 32;
/// How long a claimed delivery is left alone by other dispatchers.
const LEASE: Duration = Duration::from_secs(30);
/// The whole time one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often due retries are looked for when nothing wakes the dispatcher.
const POLL: Duration = Duration::from_secs(1);
/// How long a receiver must have had no new event before its backlog is sent: new events go
/// first.
pub const QUIET: Duration = Duration::from_secs(5);

/// The outbound client for webhooks: connects only where the allow-list permits.
pub fn client(allowlist: Allowlist, trusted: &[reqwest::Certificate]) -> Result<reqwest::Client, reqwest::Error> {
    lifecycle::tls::trusting(reqwest::Client::builder(), trusted)
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(FilteringResolver {
            allowlist: Arc::new(allowlist),
        }))
        .build()
}

/// Delivers due events until `stop` turns true.
pub async fn run(pool: PgPool, http: reqwest::Client, due: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    loop {
        match store::webhooks::claim(&pool, BATCH, LEASE.as_secs_f64(), QUIET.as_secs_f64()).await {
            Ok(deliveries) if !deliveries.is_empty() => {
                let sends = deliveries.into_iter().map(|delivery| deliver(&pool, &http, delivery));
                futures::future::join_all(sends).await;
                continue;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not read the webhook outbox"),
        }
        tokio::select! {
            _ = due.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

async fn deliver(pool: &PgPool, http: &reqwest::Client, delivery: store::webhooks::Delivery) {
    let outcome = match http.post(&delivery.url).json(&delivery.body).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
        Err(error) if error.is_timeout() => Err("timeout".to_owned()),
        Err(_) => Err("connection failed or refused by the allow-list".to_owned()),
    };
    let recorded = match &outcome {
        Ok(()) => {
            tracing::info!(order_id = %delivery.order_id, event_type = %delivery.event_type, attempts = delivery.attempts, "webhook delivered");
            crate::metrics::webhook("delivered");
            store::webhooks::delivered(pool, &delivery).await
        }
        Err(error) => {
            crate::metrics::webhook("retried");
            match store::webhooks::failed(pool, &delivery, error).await {
                Ok(failures) => {
                    let delay = backoff(failures);
                    tracing::warn!(order_id = %delivery.order_id, event_type = %delivery.event_type, attempts = delivery.attempts, %error, retry_in_secs = delay.as_secs(), "webhook not delivered; will retry");
                    let retry_at =
                        chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    store::webhooks::retry_endpoint_at(pool, &delivery.url, retry_at).await
                }
                Err(error) => Err(error),
            }
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not record a webhook attempt; it will be tried again when its lease ends");
    }
}

/// The wait after a receiver's `failures`-th failed attempt in a row.
fn backoff(failures: i32) -> Duration {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(600))
        .with_jitter()
        .without_max_times()
        .build();
    delays
        .nth(failures.saturating_sub(1).max(0) as usize)
        .unwrap_or(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) < Duration::from_secs(3));
        assert!(backoff(4) >= Duration::from_secs(8));
        assert!(backoff(40) <= Duration::from_secs(1200));
    }
}
