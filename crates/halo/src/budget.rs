//! The request budget per Halo site: Parley's own limiter, sized like Halo's
//! cloud rate limit (300 requests per rolling 5 minutes), so that Parley slows
//! itself down instead of being answered 429.
//!
//! It is a rolling-window budget rather than a classic refilling token bucket:
//! a bucket that refills while it is being drained lets up to twice its
//! capacity through in one window, which is exactly what Halo's rolling window
//! would refuse.
//!
//! When the budget is used up, a request waits for a slot if one frees up
//! within `max_wait` (default 10 s), and otherwise fails at once with
//! [`HaloError::BudgetExhausted`], saying when to try again. Every HTTP request
//! counts, token requests and retries included.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::{HaloError, SiteUrl};

/// The size of a budget and how long a request may wait for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Requests allowed per window.
    pub capacity: u32,
    /// The rolling window.
    pub window: Duration,
    /// The longest a request waits for a slot before failing.
    pub max_wait: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            capacity: 300,
            window: Duration::from_secs(300),
            max_wait: Duration::from_secs(10),
        }
    }
}

/// A rolling-window request budget, shared by every client of one Halo site.
#[derive(Debug)]
pub struct Budget {
    name: String,
    config: BudgetConfig,
    /// Start times of the requests in the current window, oldest first; times
    /// in the future are slots reserved by waiting requests.
    slots: Mutex<VecDeque<Instant>>,
}

/// Budgets handed out by [`Budget::shared_for`], by site root. They live as long
/// as the process: a site's recent requests must still count when a client is
/// dropped and another is built for the same site.
static SHARED: OnceLock<Mutex<HashMap<String, Arc<Budget>>>> = OnceLock::new();

impl Budget {
    /// A budget of its own (not shared), named for messages.
    pub fn new(name: impl Into<String>, config: BudgetConfig) -> Self {
        Self {
            name: name.into(),
            config,
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// The process-wide budget of `site`, created with the default size on
    /// first use.
    pub fn shared_for(site: &SiteUrl) -> Arc<Budget> {
        Self::shared_for_with(site, BudgetConfig::default())
    }

    /// The process-wide budget of `site`; `config` applies only if this call
    /// creates it.
    pub fn shared_for_with(site: &SiteUrl, config: BudgetConfig) -> Arc<Budget> {
        let registry = SHARED.get_or_init(Mutex::default);
        let mut budgets = registry.lock().unwrap_or_else(PoisonError::into_inner);

        budgets
            .entry(site.as_str().to_owned())
            .or_insert_with(|| Arc::new(Budget::new(site.as_str(), config)))
            .clone()
    }

    /// Requests allowed per window.
    pub fn capacity(&self) -> u32 {
        self.config.capacity
    }

    /// The rolling window.
    pub fn window(&self) -> Duration {
        self.config.window
    }

    /// Requests that may start now without waiting.
    pub fn remaining(&self) -> u32 {
        let now = Instant::now();
        let mut slots = self.lock();
        self.forget_expired(&mut slots, now);

        self.config.capacity.saturating_sub(count(slots.len()))
    }

    /// Requests started within the last window (reserved slots not included).
    pub fn used_in_window(&self) -> u32 {
        let now = Instant::now();
        let mut slots = self.lock();
        self.forget_expired(&mut slots, now);

        count(slots.iter().filter(|start| **start <= now).count())
    }

    /// Takes a slot for one request, waiting for it up to `max_wait`.
    pub async fn acquire(&self) -> Result<(), HaloError> {
        let start = self.reserve(Instant::now())?;
        tokio::time::sleep_until(start).await;
        Ok(())
    }

    /// Reserves the earliest slot at or after `now`, or says how long until
    /// one would be free when that is further away than `max_wait`.
    fn reserve(&self, now: Instant) -> Result<Instant, HaloError> {
        let mut slots = self.lock();
        self.forget_expired(&mut slots, now);

        let capacity = usize::try_from(self.config.capacity).unwrap_or(usize::MAX);
        let start = if capacity == 0 {
            None
        } else if slots.len() < capacity {
            Some(now)
        } else {
            // The slot frees when the request `capacity` places back leaves the window.
            slots
                .get(slots.len() - capacity)
                .map(|oldest| (*oldest + self.config.window).max(now))
        };

        match start {
            Some(start) if start - now <= self.config.max_wait => {
                slots.push_back(start);
                Ok(start)
            }
            _ => Err(HaloError::BudgetExhausted {
                site: self.name.clone(),
                capacity: self.config.capacity,
                window: self.config.window,
                retry_after: start.map_or(self.config.window, |start| start - now),
            }),
        }
    }

    fn forget_expired(&self, slots: &mut VecDeque<Instant>, now: Instant) {
        while slots
            .front()
            .is_some_and(|start| *start + self.config.window <= now)
        {
            slots.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
        // The queue is always consistent between statements, so a panic in
        // another holder cannot have left it half-updated.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HostPolicy;

    fn budget(capacity: u32, window_secs: u64, max_wait_secs: u64) -> Budget {
        Budget::new(
            "https://acme.halopsa.com",
            BudgetConfig {
                capacity,
                window: Duration::from_secs(window_secs),
                max_wait: Duration::from_secs(max_wait_secs),
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn requests_within_capacity_start_at_once() {
        let budget = budget(3, 60, 0);

        for _ in 0..3 {
            budget.acquire().await.expect("within capacity");
        }

        assert_eq!(budget.remaining(), 0);
        assert_eq!(budget.used_in_window(), 3);
        assert_eq!(budget.capacity(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_budget_fails_saying_when_a_slot_frees() {
        let budget = budget(2, 60, 5);
        budget.acquire().await.expect("first");
        tokio::time::advance(Duration::from_secs(10)).await;
        budget.acquire().await.expect("second");

        let error = budget
            .acquire()
            .await
            .expect_err("used up and the wait is too long");

        match error {
            HaloError::BudgetExhausted { retry_after, .. } => {
                assert_eq!(retry_after, Duration::from_secs(50));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(budget.remaining(), 0, "a refused request takes no slot");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waits_for_a_slot_that_frees_within_max_wait() {
        let budget = budget(1, 4, 5);
        budget.acquire().await.expect("first");
        let started = Instant::now();

        budget
            .acquire()
            .await
            .expect("waits for the first slot to leave the window");

        assert_eq!(started.elapsed(), Duration::from_secs(4));
        assert_eq!(budget.used_in_window(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_rolls_rather_than_refilling_in_bulk() {
        let budget = budget(2, 10, 0);
        budget.acquire().await.expect("t=0");
        tokio::time::advance(Duration::from_secs(6)).await;
        budget.acquire().await.expect("t=6");

        tokio::time::advance(Duration::from_secs(5)).await;

        assert_eq!(
            budget.remaining(),
            1,
            "only the t=0 request left the window"
        );
        assert_eq!(budget.used_in_window(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_queue_in_order() {
        let budget = Arc::new(budget(1, 2, 10));
        budget.acquire().await.expect("first");
        let started = Instant::now();

        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let budget = budget.clone();
                tokio::spawn(async move {
                    budget.acquire().await.expect("slot within max wait");
                    started.elapsed()
                })
            })
            .collect();
        let mut waited = Vec::new();
        for waiter in waiters {
            waited.push(waiter.await.expect("no panic").as_secs());
        }
        waited.sort_unstable();

        assert_eq!(waited, [2, 4, 6]);
    }

    #[test]
    fn sites_share_one_budget_and_different_sites_do_not() {
        let acme = SiteUrl::parse(
            "https://budget-test-acme.example.com",
            HostPolicy::PublicOnly,
        )
        .expect("valid")
        .site;
        let other = SiteUrl::parse(
            "https://budget-test-other.example.com",
            HostPolicy::PublicOnly,
        )
        .expect("valid")
        .site;

        let first = Budget::shared_for(&acme);
        let again = Budget::shared_for(&acme);
        let different = Budget::shared_for(&other);

        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &different));
        assert_eq!(first.capacity(), 300);
        assert_eq!(first.window(), Duration::from_secs(300));
    }
}
