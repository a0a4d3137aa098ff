//! Rate limiting per write key: a token bucket per key.
//!
//! A key's bucket holds at most `burst` requests and refills at `per_second`;
//! each ingestion request takes one, and a request finding it empty is
//! answered 429 `rate_limited` with `Retry-After`: the whole seconds until one
//! request's worth has refilled. Buckets exist only for write keys that were
//! checked first (an unknown key never gets one), and a bucket that has
//! refilled is forgotten by [`RateLimiter::sweep`] (a missing bucket is a full
//! one), so memory follows the keys that sent requests in the last
//! `burst / per_second` seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult, ErrorKind};

/// How fast one write key may send requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, sustained (> 0).
    pub per_second: f64,
    /// Requests that may arrive at once after a quiet spell (≥ 1).
    pub burst: u32,
}

impl RateLimit {
    /// The default: 5,000 requests per second per key, bursts of 10,000.
    pub const DEFAULT: RateLimit = RateLimit {
        per_second: 5_000.0,
        burst: 10_000,
    };
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every write key that sent requests lately.
pub struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter of `limit` (`None`: every request passes). A rate that is
    /// not a positive number turns it off too.
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            limit: limit.filter(|l| l.per_second.is_finite() && l.per_second > 0.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one request from `key`'s bucket, or says how long until one is
    /// there.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = self.buckets();
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_owned()).or_insert(Bucket {
                tokens: burst,
                at: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second,
            ))
        }
    }

    /// [`RateLimiter::take`] as an API answer: 429 `rate_limited` with the
    /// seconds to wait.
    pub fn admit(&self, key: &str, now: Instant) -> ApiResult<()> {
        self.take(key, now).map_err(|wait| {
            let secs = retry_after_secs(wait);
            ApiError::new(
                ErrorKind::RateLimited,
                "rate_limited",
                format!("this write key sent too many requests; retry in {secs} s"),
            )
            .retry_after(secs)
        })
    }

    /// Forgets the buckets that have refilled (they are as good as missing).
    pub fn sweep(&self, now: Instant) {
        let Some(limit) = self.limit else {
            return;
        };
        let burst = f64::from(limit.burst.max(1));
        self.buckets().retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * limit.per_second < burst
        });
    }

    /// How many buckets are kept.
    pub fn len(&self) -> usize {
        self.buckets().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(Some(RateLimit { per_second, burst }))
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let l = limiter(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("k", t0).is_ok());
        }
        let wait = l.take("k", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later: one more, then empty again.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.take("k", t1).is_ok());
        assert!(l.take("k", t1).is_err());
        // Another key has its own bucket.
        assert!(l.take("other", t1).is_ok());
        // Refills to the burst, never beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.take("k", t2).is_ok());
        }
        assert!(l.take("k", t2).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        let l = limiter(0.25, 1);
        let t0 = Instant::now();
        assert!(l.admit("k", t0).is_ok());
        let e = l.admit("k", t0).unwrap_err();
        assert_eq!(
            (e.kind, e.code, e.retry_after),
            (ErrorKind::RateLimited, "rate_limited", Some(4))
        );
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let l = limiter(10.0, 5);
        let t0 = Instant::now();
        for i in 0..100 {
            assert!(l.take(&format!("k{i}"), t0).is_ok());
        }
        assert_eq!(l.len(), 100);
        l.sweep(t0 + Duration::from_millis(50));
        assert_eq!(l.len(), 100, "not refilled yet");
        l.sweep(t0 + Duration::from_millis(100));
        assert!(l.is_empty());
    }

    #[test]
    fn off_lets_everything_through() {
        for l in [
            RateLimiter::new(None),
            limiter(0.0, 10),
            limiter(f64::NAN, 10),
        ] {
            let t0 = Instant::now();
            for _ in 0..1_000 {
                assert!(l.take("k", t0).is_ok());
            }
            assert!(l.is_empty());
        }
    }
}
