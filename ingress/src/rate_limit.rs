//! Rate limits per principal (`RATE_LIMIT_PRINCIPAL`) and per client IP (`RATE_LIMIT_IP`),
//! in requests per second, holding across every ingress replica.
//!
//! Each key (`p:<principal>`, `ip:<address>`) is counted in one-second windows; a request is
//! admitted while the sliding estimate (the previous window's total, weighted by how much of it
//! still overlaps the last second, plus the current window's) stays under the limit. Decisions
//! are local and take no round trip: every `FLUSH_EVERY` the ingress adds what it counted to the
//! shared totals in PostgreSQL (`rate_counts`, one statement) and reads back what every replica
//! counted, and how many replicas are counting the key. Between flushes it assumes each of those
//! replicas admits as many as it does, so together they do not overshoot while their views are
//! a flush apart.
//!
//! When PostgreSQL cannot be reached the flush fails and each ingress goes on with what it
//! knows: the limits then hold per replica (each admits up to the limit on its own), until the
//! flushes succeed again. Windows older than a few seconds are deleted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgPool;

/// How often counts are shared.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How often old windows are deleted.
const FORGET_EVERY: Duration = Duration::from_secs(10);

/// Requests per second; 0 means no limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub principal: u32,
    pub ip: u32,
}

/// What a key is limited by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Principal,
    Ip,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Principal => "principal",
            Scope::Ip => "client IP",
        }
    }
}

#[derive(Debug, Default)]
struct Counter {
    /// The window `current` and `pending` count in.
    window: i64,
    /// Every replica's total for `window`, as last read, plus this ingress's since.
    current: u64,
    /// The previous window's total.
    previous: u64,
    /// Counted here in `window` and not yet added to the shared total.
    pending: u64,
    /// Replicas counting this key: those seen in this window or the one before.
    sharers: u64,
    /// Replicas that counted it in the window before.
    previous_sharers: u64,
}

#[derive(Default)]
struct State {
    counters: HashMap<String, Counter>,
    /// Counts of windows that ended before they were flushed.
    closed: Vec<(String, i64, i64)>,
}

pub struct RateLimiter {
    limits: Limits,
    /// This ingress's row in the shared counts.
    replica: uuid::Uuid,
    state: Mutex<State>,
}

/// Milliseconds since the epoch: windows are wall-clock seconds, the same on every replica.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl RateLimiter {
    /// A limiter; with a pool, it shares its counts (see the module docs) until the runtime ends.
    pub fn start(limits: Limits, pool: Option<PgPool>) -> Arc<RateLimiter> {
        let limiter = Arc::new(RateLimiter {
            limits,
            replica: uuid::Uuid::new_v4(),
            state: Mutex::new(State::default()),
        });
        if let (Some(pool), true) = (pool, limits.principal > 0 || limits.ip > 0) {
            tokio::spawn(share(Arc::downgrade(&limiter), pool));
        }
        limiter
    }

    /// Admits one request of `principal`, or says after how many seconds to retry.
    pub fn check_principal(&self, principal: &str) -> Result<(), u64> {
        self.check(Scope::Principal, principal)
    }

    /// Admits one request from `ip`, or says after how many seconds to retry.
    pub fn check_ip(&self, ip: std::net::IpAddr) -> Result<(), u64> {
        self.check(Scope::Ip, &ip.to_string())
    }

    fn check(&self, scope: Scope, name: &str) -> Result<(), u64> {
        let limit = match scope {
            Scope::Principal => self.limits.principal,
            Scope::Ip => self.limits.ip,
        };
        if limit == 0 {
            return Ok(());
        }
        let key = match scope {
            Scope::Principal => format!("p:{name}"),
            Scope::Ip => format!("ip:{name}"),
        };
        let now = now_ms();
        let (window, into_window) = (now.div_euclid(1000), now.rem_euclid(1000));
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { counters, closed } = &mut *state;
        let counter = counters.entry(key.clone()).or_default();
        roll(counter, window, &key, closed);
        let overlap = (1000 - into_window) as f64 / 1000.0;
        let unshared = counter.pending * counter.sharers.saturating_sub(1);
        let estimate = counter.previous as f64 * overlap + (counter.current + unshared) as f64;
        if estimate + 1.0 > limit as f64 {
            return Err(1);
        }
        counter.current += 1;
        counter.pending += 1;
        Ok(())
    }

    /// What to add to the shared totals now: each active key's pending count in its window (0
    /// to only read) and a read of the window before (for the sliding estimate), one row per
    /// (key, window).
    fn take_pending(&self) -> Vec<(String, i64, i64)> {
        let window = now_ms().div_euclid(1000);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { counters, closed } = &mut *state;
        counters.retain(|_, c| c.window >= window - 1 || c.pending > 0);
        let mut rows = std::mem::take(closed);
        for (key, counter) in counters.iter_mut() {
            roll(counter, window, key, &mut rows);
            rows.push((key.clone(), counter.window, counter.pending as i64));
            rows.push((key.clone(), counter.window - 1, 0));
            counter.pending = 0;
        }
        rows.sort();
        rows.dedup_by(|a, b| {
            if a.0 == b.0 && a.1 == b.1 {
                b.2 += a.2;
                true
            } else {
                false
            }
        });
        rows
    }

    /// Takes in the shared totals.
    fn absorb(&self, totals: Vec<store::rate_counts::Total>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for total in totals {
            if let Some(counter) = state.counters.get_mut(&total.key) {
                let count = total.count.max(0) as u64;
                let replicas = total.replicas.max(1) as u64;
                if total.window_start == counter.window {
                    counter.current = counter.current.max(count + counter.pending);
                    counter.sharers = replicas.max(counter.previous_sharers);
                } else if total.window_start == counter.window - 1 {
                    counter.previous = counter.previous.max(count);
                    counter.previous_sharers = replicas;
                    counter.sharers = counter.sharers.max(replicas);
                }
            }
        }
    }

    /// A failed flush: what was taken is given back, to be added next time.
    fn restore(&self, rows: Vec<(String, i64, i64)>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (key, window, count) in rows {
            if count == 0 {
                continue;
            }
            match state.counters.get_mut(&key) {
                Some(counter) if counter.window == window => counter.pending += count as u64,
                _ => state.closed.push((key, window, count)),
            }
        }
        if state.closed.len() > 100_000 {
            state.closed.clear();
        }
    }
}

/// Moves a counter to `window`, keeping what it knows of the window before.
fn roll(counter: &mut Counter, window: i64, key: &str, closed: &mut Vec<(String, i64, i64)>) {
    if counter.window == window {
        return;
    }
    if counter.pending > 0 {
        closed.push((key.to_owned(), counter.window, counter.pending as i64));
    }
    counter.previous = if counter.window == window - 1 { counter.current } else { 0 };
    counter.current = 0;
    counter.pending = 0;
    counter.previous_sharers = if counter.window == window - 1 { counter.sharers } else { 0 };
    counter.sharers = counter.previous_sharers.max(1);
    counter.window = window;
}

/// Shares counts every `FLUSH_EVERY` while the limiter lives.
async fn share(limiter: std::sync::Weak<RateLimiter>, pool: PgPool) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_forget = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else { return };
        let rows = limiter.take_pending();
        if rows.is_empty() {
            continue;
        }
        match store::rate_counts::add(&pool, limiter.replica, &rows).await {
            Ok(totals) => {
                if failing {
                    tracing::info!("rate limit counts shared again across ingress replicas");
                    failing = false;
                }
                limiter.absorb(totals);
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "rate limit counts cannot be shared; limits hold per ingress until they can");
                    failing = true;
                }
                limiter.restore(rows);
            }
        }
        if last_forget.elapsed() >= FORGET_EVERY {
            last_forget = tokio::time::Instant::now();
            let before = now_ms().div_euclid(1000) - 5;
            if let Err(error) = store::rate_counts::forget_before(&pool, before).await {
                tracing::debug!(%error, "old rate limit windows not deleted");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_then_waits() {
        let limiter = RateLimiter::start(Limits { principal: 5, ip: 0 }, None);
        let admitted = (0..20).filter(|_| limiter.check_principal("alice").is_ok()).count();
        assert!((1..=5).contains(&admitted), "{admitted}");
        assert_eq!(limiter.check_principal("alice"), Err(1));
        assert!(limiter.check_principal("bob").is_ok(), "keys are separate");
        assert!(limiter.check_ip("127.0.0.1".parse().unwrap()).is_ok(), "0: no limit");
    }

    #[test]
    fn shared_totals_count_against_the_limit() {
        let limiter = RateLimiter::start(Limits { principal: 10, ip: 0 }, None);
        assert!(limiter.check_principal("alice").is_ok());
        let rows = limiter.take_pending();
        let (key, window, count) = rows.iter().filter(|r| r.0 == "p:alice").max_by_key(|r| r.1).cloned().unwrap();
        assert_eq!(count, 1);
        // Another replica admitted 9 in the same window.
        limiter.absorb(vec![store::rate_counts::Total {
            key,
            window_start: window,
            count: 10,
            replicas: 2,
        }]);
        if now_ms().div_euclid(1000) == window {
            assert_eq!(limiter.check_principal("alice"), Err(1));
        }
    }
}
