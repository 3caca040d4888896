//! Halo's request budget: so many requests per rolling window, then 429 with
//! a JSON `error` message and no `Retry-After` (hosted Halo sends none).
//! Refused requests do not use up the budget.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// The rolling window of admitted requests.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    admitted: VecDeque<Instant>,
}

impl RateLimiter {
    /// A limiter enforcing `limit`, or admitting everything when `None`.
    pub fn new(limit: Option<RateLimit>) -> RateLimiter {
        RateLimiter {
            limit,
            admitted: VecDeque::new(),
        }
    }

    /// The limit in force.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Changes the limit; the window's history is kept.
    pub fn set(&mut self, limit: Option<RateLimit>) {
        self.limit = limit;
    }

    /// Forgets the window's history.
    pub fn forget(&mut self) {
        self.admitted.clear();
    }

    /// Admits a request made at `now`, or returns the limit it would break.
    pub fn admit(&mut self, now: Instant) -> Result<(), RateLimit> {
        let Some(limit) = self.limit else {
            return Ok(());
        };

        while let Some(oldest) = self.admitted.front() {
            if now.duration_since(*oldest) < limit.window {
                break;
            }
            self.admitted.pop_front();
        }
        if self.admitted.len() >= limit.requests as usize {
            return Err(limit);
        }
        self.admitted.push_back(now);
        Ok(())
    }
}

/// Halo's message: "Rate Limit Reached - 300 Requests per rolling 5 minute window".
pub fn message(limit: RateLimit) -> String {
    format!(
        "Rate Limit Reached - {} Requests per rolling {} window",
        limit.requests,
        window_words(limit.window)
    )
}

fn window_words(window: Duration) -> String {
    let seconds = window.as_secs();
    if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{} minute", seconds / 60)
    } else {
        format!("{seconds} second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_rolls() {
        let limit = RateLimit {
            requests: 2,
            window: Duration::from_secs(10),
        };
        let mut limiter = RateLimiter::new(Some(limit));
        let start = Instant::now();

        assert!(limiter.admit(start).is_ok());
        assert!(limiter.admit(start + Duration::from_secs(1)).is_ok());
        assert_eq!(limiter.admit(start + Duration::from_secs(2)), Err(limit));
        assert!(limiter.admit(start + Duration::from_secs(10)).is_ok());
        assert_eq!(limiter.admit(start + Duration::from_secs(10)), Err(limit));
    }

    #[test]
    fn no_limit_admits_everything() {
        let mut limiter = RateLimiter::new(None);

        assert!((0..1000).all(|_| limiter.admit(Instant::now()).is_ok()));
    }

    #[test]
    fn the_message_reads_like_halos() {
        assert_eq!(
            message(RateLimit::halo_cloud()),
            "Rate Limit Reached - 300 Requests per rolling 5 minute window"
        );
        assert_eq!(
            message(RateLimit {
                requests: 3,
                window: Duration::from_secs(2)
            }),
            "Rate Limit Reached - 3 Requests per rolling 2 second window"
        );
    }
}
