//! When to try a failed read again: exponential backoff with jitter, honouring
//! `Retry-After`, bounded in attempts and in total time.
//!
//! Only reads (GET) and the token request are retried by the client; a POST
//! that may have reached Halo is never repeated blindly, because Halo has no
//! idempotency key and a repeat could create a second ticket or note.

use std::time::Duration;

use rand::Rng as _;

/// How the client retries reads that fail for a transient reason (429, 5xx,
/// timeout, connection failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// The delay before the first retry; each further retry doubles it.
    pub base_delay: Duration,
    /// The longest single delay from backoff (a `Retry-After` may ask for more).
    pub max_delay: Duration,
    /// No retry starts if it would end its wait later than this after the first
    /// attempt began.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub const NEVER: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_elapsed: Duration::ZERO,
    };

    /// How long to wait before attempt number `attempts_made + 1`, or `None`
    /// when the attempts or the time are used up. `retry_after` is the server's
    /// request; `elapsed` the time since the first attempt began.
    pub fn delay_before_next(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts {
            return None;
        }

        let exponent = attempts_made.saturating_sub(1).min(16);
        let backoff = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        // "Equal jitter": half fixed, half random, so that clients sharing a
        // rate limit spread out without ever retrying immediately.
        let half = backoff / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        let delay = half + half.mul_f64(jitter);
        let delay = retry_after.map_or(delay, |asked| asked.max(delay));

        (elapsed.saturating_add(delay) <= self.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_elapsed: Duration::from_secs(10),
        }
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_and_are_capped() {
        let policy = policy();

        for _ in 0..50 {
            let first = policy
                .delay_before_next(1, None, Duration::ZERO)
                .expect("retry");
            let second = policy
                .delay_before_next(2, None, Duration::ZERO)
                .expect("retry");
            let fourth = policy
                .delay_before_next(4, None, Duration::ZERO)
                .expect("retry");

            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            assert!((100..=200).contains(&second.as_millis()), "{second:?}");
            assert!((150..=300).contains(&fourth.as_millis()), "{fourth:?}");
        }
    }

    #[test]
    fn attempts_are_bounded() {
        assert!(
            policy()
                .delay_before_next(5, None, Duration::ZERO)
                .is_none()
        );
        assert!(
            RetryPolicy::NEVER
                .delay_before_next(1, None, Duration::ZERO)
                .is_none()
        );
    }

    #[test]
    fn total_time_is_bounded() {
        let policy = policy();

        assert!(
            policy
                .delay_before_next(1, None, Duration::from_secs(10))
                .is_none()
        );
        assert!(
            policy
                .delay_before_next(1, Some(Duration::from_secs(11)), Duration::ZERO)
                .is_none()
        );
    }

    #[test]
    fn retry_after_is_honoured_even_beyond_the_backoff_cap() {
        let delay = policy()
            .delay_before_next(1, Some(Duration::from_secs(2)), Duration::ZERO)
            .expect("within the total time");

        assert_eq!(delay, Duration::from_secs(2));
    }
}
