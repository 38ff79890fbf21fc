//! A circuit breaker per provider. Closed: calls go through and consecutive failures are
//! counted. After `threshold` of them it opens: calls are refused at once for `cooldown` (or
//! longer, if the provider asked for it with `Retry-After`). Then it half-opens: one call goes
//! through as a probe; success closes the circuit, failure opens it again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long a caller refused while a half-open probe is in flight waits before asking again.
const PROBE_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One provider's breaker.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// May a call go now? `Err(wait)`: the circuit is open (or a probe is out); ask again
    /// after `wait`.
    pub fn permit(&self) -> Result<(), Duration> {
        let mut state = self.state();
        let now = Instant::now();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(until - now),
            State::Open { .. } => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
            State::HalfOpen { probing: true } => Err(PROBE_WAIT),
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
        }
    }

    /// The provider answered (even with a refusal of this one request): it is up.
    pub fn succeeded(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    /// The provider failed a call; `retry_after` is how long it asked us to stay away. Returns
    /// true if this opened the circuit.
    pub fn failed(&self, retry_after: Option<Duration>) -> bool {
        let mut state = self.state();
        let until = Instant::now() + self.cooldown.max(retry_after.unwrap_or_default());
        let (next, opens) = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => (State::Closed { failures: failures + 1 }, false),
            // A call that started before the circuit opened: it stays open, for longer if asked.
            State::Open { until: open_until } => (State::Open { until: open_until.max(until) }, false),
            State::Closed { .. } | State::HalfOpen { .. } => (State::Open { until }, true),
        };
        *state = next;
        opens
    }

    /// True while the circuit refuses calls.
    pub fn is_open(&self) -> bool {
        matches!(*self.state(), State::Open { until } if Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_half_opens_for_one_probe() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(breaker.permit().is_ok());
            assert!(!breaker.failed(None));
        }
        assert!(breaker.failed(None), "the third failure opens the circuit");
        assert!(breaker.permit().is_err(), "open: refused at once");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(breaker.permit().is_ok(), "half-open: one probe");
        assert!(breaker.permit().is_err(), "only one probe at a time");
        breaker.succeeded();
        assert!(breaker.permit().is_ok(), "closed again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_retry_after_extends_the_cooldown() {
        let breaker = Breaker::new(1, Duration::from_secs(1));
        assert!(breaker.failed(Some(Duration::from_secs(30))));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(breaker.permit().is_err(), "Retry-After 30 s outlasts the 1 s cooldown");
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(breaker.permit().is_ok());
        assert!(breaker.failed(None), "a failed probe opens the circuit again");
        assert!(breaker.is_open());
    }
}
