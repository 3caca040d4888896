//! A sign-in rate limiter, per account and per client address.
//!
//! [`LoginLimiter`] counts failed sign-ins in a sliding window, separately for
//! each account (the normalised email that was typed) and each client address.
//! The defaults ([`LoginLimits::default`]) allow 5 failures per account and 20
//! per address in any 15 minutes: enough for someone fumbling their own
//! password, far too few for guessing one. The per-account limit stops a slow
//! guess against one person from many addresses; the per-address limit stops
//! one machine from spraying a common password over many accounts.
//!
//! The flow for a sign-in attempt:
//!
//! 1. [`LoginLimiter::check`] before verifying the password; on
//!    `Err(RetryAfter)` refuse without verifying (and send `Retry-After`);
//! 2. [`LoginLimiter::record_failure`] when the password (or account) is wrong;
//! 3. [`LoginLimiter::record_success`] when it is right, which forgets that
//!    account's failures but not the address's, so that an attacker who owns
//!    one account cannot use it to reset the counter for their address.
//!
//! Accounts are counted whether or not they exist, so the limiter never reveals
//! which emails have accounts. IPv6 addresses are grouped by their /64 prefix,
//! because one subscriber usually gets a whole /64 and can pick any address in
//! it; IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! State lives in memory behind a `std::sync::Mutex` (every operation is a few
//! map lookups, never held across an await). Memory is bounded: each key keeps
//! at most its limit's worth of timestamps, stale keys are pruned once per
//! window, and when [`LoginLimits::max_tracked_keys`] is reached the keys whose
//! last failure is oldest are evicted. With several instances each keeps its
//! own counts, so the effective limit is multiplied by the instance count.
//!
//! Time is always passed in as an [`Instant`], so tests need no sleeping.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Account keys are cut to this many bytes, so that a huge typed "email"
/// cannot make one entry large.
const MAX_ACCOUNT_KEY_BYTES: usize = 320;

/// How many sign-in failures are allowed, and how much state may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures allowed per account within `window`; 0 turns the check off.
    pub max_account_failures: u32,
    /// Failures allowed per client address within `window`; 0 turns the check
    /// off.
    pub max_address_failures: u32,
    /// The sliding window failures are counted in.
    pub window: Duration,
    /// The most accounts, and separately the most addresses, tracked at once.
    pub max_tracked_keys: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_account_failures: 5,
            max_address_failures: 20,
            window: Duration::from_secs(15 * 60),
            max_tracked_keys: 100_000,
        }
    }
}

/// Which limit refused the attempt. For logs and metrics only: the user sees
/// the same message either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// Too many failures for this account.
    Account,
    /// Too many failures from this client address.
    Address,
}

/// A sign-in attempt refused by the rate limit, and how long to wait.
///
/// The message can be shown to the user; it does not say which limit was hit,
/// so it does not confirm that an account exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Too many failed sign-in attempts. Try again in {}.", wait_text(.wait))]
pub struct RetryAfter {
    /// How long until the next attempt will be allowed.
    pub wait: Duration,
    /// Which limit was hit.
    pub scope: LimitScope,
}

impl RetryAfter {
    /// The wait in whole seconds, rounded up, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.wait.as_secs();

        if self.wait.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        }
    }
}

/// Counts failed sign-ins per account and per address; see the module docs.
pub struct LoginLimiter {
    limits: LoginLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    accounts: Tracker<String>,
    addresses: Tracker<AddressKey>,
    /// When stale keys were last pruned; `None` until the first failure.
    last_prune: Option<Instant>,
}

/// A client address as the limiter counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl From<IpAddr> for AddressKey {
    fn from(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => Self::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

impl LoginLimiter {
    /// A limiter with no failures recorded.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    /// The limits this limiter enforces.
    pub fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    /// Whether a sign-in for `account` from `addr` may be attempted at `now`.
    ///
    /// Call it before verifying the password, so that a refused attempt costs
    /// no hashing. It records nothing.
    ///
    /// # Errors
    ///
    /// [`RetryAfter`] when the account or the address has used up its failures
    /// in the window; if both have, the longer wait.
    pub fn check(&self, account: &str, addr: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let account = account_key(account);
        let address = AddressKey::from(addr);
        let window = self.limits.window;

        let state = self.lock();

        let account_wait = state
            .accounts
            .blocked_for(&account, self.limits.max_account_failures, window, now)
            .map(|wait| RetryAfter {
                wait,
                scope: LimitScope::Account,
            });
        let address_wait = state
            .addresses
            .blocked_for(&address, self.limits.max_address_failures, window, now)
            .map(|wait| RetryAfter {
                wait,
                scope: LimitScope::Address,
            });

        match account_wait
            .into_iter()
            .chain(address_wait)
            .max_by_key(|r| r.wait)
        {
            Some(retry) => Err(retry),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in for `account` from `addr` at `now`.
    pub fn record_failure(&self, account: &str, addr: IpAddr, now: Instant) {
        let account = account_key(account);
        let address = AddressKey::from(addr);
        let limits = &self.limits;

        let mut state = self.lock();

        // Pruning everything once per window keeps memory proportional to the
        // failures of the last window or two, without a background task.
        let due = state
            .last_prune
            .is_none_or(|last| now.saturating_duration_since(last) >= limits.window);
        if due {
            state.accounts.prune(limits.window, now);
            state.addresses.prune(limits.window, now);
            state.last_prune = Some(now);
        }

        state.accounts.record(
            account,
            limits.max_account_failures,
            limits.window,
            limits.max_tracked_keys,
            now,
        );
        state.addresses.record(
            address,
            limits.max_address_failures,
            limits.window,
            limits.max_tracked_keys,
            now,
        );
    }

    /// Forgets the failures of `account` after a successful sign-in.
    ///
    /// The address's failures are kept on purpose (see the module docs); the
    /// parameter is here so the call reads like the other two.
    pub fn record_success(&self, account: &str, _addr: IpAddr) {
        let account = account_key(account);

        self.lock().accounts.clear(&account);
    }

    /// Drops every key with no failure inside the window. `record_failure`
    /// already does this once per window; call it from a timer to also free
    /// memory when sign-ins stop.
    pub fn prune(&self, now: Instant) {
        let window = self.limits.window;

        let mut state = self.lock();

        state.accounts.prune(window, now);
        state.addresses.prune(window, now);
        state.last_prune = Some(now);
    }

    /// How many accounts and addresses are tracked, for metrics.
    pub fn tracked_keys(&self) -> (usize, usize) {
        let state = self.lock();

        (state.accounts.len(), state.addresses.len())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only counters, and no operation leaves it half-updated
        // in a way that matters, so a panic elsewhere is no reason to stop
        // limiting sign-ins.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

impl fmt::Debug for LoginLimiter {
    // The tracked emails and addresses are personal data: show only the limits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Failure times per key, oldest first.
struct Tracker<K> {
    failures: HashMap<K, VecDeque<Instant>>,
}

impl<K> Default for Tracker<K> {
    fn default() -> Self {
        Self {
            failures: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Tracker<K> {
    /// How long `key` must wait, or `None` if it may try now.
    fn blocked_for(&self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
        if limit == 0 {
            return None;
        }
        let times = self.failures.get(key)?;

        let mut recent = times
            .iter()
            .filter(|&&at| now.saturating_duration_since(at) < window);
        let oldest_recent = recent.next()?;
        let count = 1 + recent.count();

        // At most `limit` times are kept, so once there are `limit` recent ones
        // the oldest decides: the key is free when it leaves the window.
        if count >= limit_len(limit) {
            Some(window.saturating_sub(now.saturating_duration_since(*oldest_recent)))
        } else {
            None
        }
    }

    /// Adds a failure for `key` at `now`, making room first if the tracker is
    /// full.
    fn record(&mut self, key: K, limit: u32, window: Duration, max_keys: usize, now: Instant) {
        if limit == 0 {
            return;
        }

        if !self.failures.contains_key(&key) && self.failures.len() >= max_keys {
            self.make_room(window, max_keys, now);
        }

        let times = self.failures.entry(key).or_default();
        times.push_back(now);

        // Older failures can never matter again: only the newest `limit` are
        // needed to decide whether the key is blocked.
        while times.len() > limit_len(limit) {
            times.pop_front();
        }
    }

    fn clear(&mut self, key: &K) {
        self.failures.remove(key);
    }

    fn len(&self) -> usize {
        self.failures.len()
    }

    /// Drops keys whose newest failure has left the window.
    fn prune(&mut self, window: Duration, now: Instant) {
        self.failures.retain(|_, times| {
            times
                .back()
                .is_some_and(|&at| now.saturating_duration_since(at) < window)
        });
    }

    /// Frees at least one slot: first by pruning, then by evicting the tenth
    /// of keys whose newest failure is oldest. Evicting in batches keeps a
    /// flood of new keys from costing a full scan on every failure.
    fn make_room(&mut self, window: Duration, max_keys: usize, now: Instant) {
        self.prune(window, now);
        if self.failures.len() < max_keys {
            return;
        }

        let mut by_age: Vec<(Instant, K)> = self
            .failures
            .iter()
            .filter_map(|(key, times)| times.back().map(|&at| (at, key.clone())))
            .collect();
        let evict = (max_keys / 10).clamp(1, by_age.len().max(1));
        if evict < by_age.len() {
            by_age.select_nth_unstable_by_key(evict, |(at, _)| *at);
        }

        for (_, key) in by_age.into_iter().take(evict) {
            self.failures.remove(&key);
        }
    }
}

/// A limit as a length, saturating on 16-bit targets.
fn limit_len(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// The account key: the typed email, trimmed and lower-cased, and cut short.
fn account_key(account: &str) -> String {
    let mut key = account.trim().to_lowercase();

    if key.len() > MAX_ACCOUNT_KEY_BYTES {
        let mut end = MAX_ACCOUNT_KEY_BYTES;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }

    key
}

/// "3 minutes", "1 minute" or "45 seconds", rounded up.
fn wait_text(wait: &Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);

    if secs < 60 {
        let secs = secs.max(1);
        return if secs == 1 {
            "1 second".to_owned()
        } else {
            format!("{secs} seconds")
        };
    }

    let minutes = secs.div_ceil(60);
    if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::sync::Arc;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LoginLimits::default())
    }

    #[test]
    fn defaults_match_the_documented_policy() {
        let limits = LoginLimits::default();

        assert_eq!(limits.max_account_failures, 5);
        assert_eq!(limits.max_address_failures, 20);
        assert_eq!(limits.window, 15 * MINUTE);
        assert_eq!(limits.max_tracked_keys, 100_000);
    }

    #[test]
    fn fifth_account_failure_blocks_the_sixth_attempt() {
        let limiter = limiter();
        let start = Instant::now();
        let addr = ip("192.0.2.1");

        for i in 0..4 {
            limiter.record_failure("alice@example.com", addr, start + MINUTE * i);
            assert_eq!(
                limiter.check("alice@example.com", addr, start + MINUTE * i),
                Ok(())
            );
        }
        limiter.record_failure("alice@example.com", addr, start + MINUTE * 4);

        let refused = limiter
            .check("alice@example.com", addr, start + MINUTE * 4)
            .unwrap_err();

        // The first failure was at `start`, so the block lifts 15 minutes later.
        assert_eq!(refused.scope, LimitScope::Account);
        assert_eq!(refused.wait, 11 * MINUTE);
        assert_eq!(refused.retry_after_secs(), 660);
    }

    #[test]
    fn window_slides() {
        let limiter = limiter();
        let start = Instant::now();
        let addr = ip("192.0.2.1");
        for i in 0..5 {
            limiter.record_failure("alice@example.com", addr, start + MINUTE * i);
        }

        // Just before the first failure leaves the window: still blocked.
        let almost = start + 15 * MINUTE - Duration::from_secs(1);
        assert_eq!(
            limiter
                .check("alice@example.com", addr, almost)
                .unwrap_err()
                .wait,
            Duration::from_secs(1)
        );

        // Once it has left, four remain in the window: allowed again.
        assert_eq!(
            limiter.check("alice@example.com", addr, start + 15 * MINUTE),
            Ok(())
        );

        // One more failure makes five in the window again; the oldest is now
        // the one at minute 1, so the wait is until minute 16.
        limiter.record_failure("alice@example.com", addr, start + 15 * MINUTE);
        assert_eq!(
            limiter
                .check("alice@example.com", addr, start + 15 * MINUTE)
                .unwrap_err()
                .wait,
            MINUTE
        );
    }

    #[test]
    fn accounts_are_normalised() {
        let limiter = limiter();
        let now = Instant::now();
        let addr = ip("192.0.2.1");
        for _ in 0..5 {
            limiter.record_failure("  Alice@Example.COM ", addr, now);
        }

        assert!(limiter.check("alice@example.com", addr, now).is_err());
        assert_eq!(limiter.check("bob@example.com", addr, now), Ok(()));
    }

    #[test]
    fn account_limit_applies_from_any_address() {
        let limiter = limiter();
        let now = Instant::now();
        for i in 0..5u8 {
            limiter.record_failure("alice@example.com", IpAddr::from([198, 51, 100, i]), now);
        }

        let refused = limiter
            .check("alice@example.com", ip("203.0.113.9"), now)
            .unwrap_err();

        assert_eq!(refused.scope, LimitScope::Account);
    }

    #[test]
    fn address_limit_applies_across_accounts() {
        let limiter = limiter();
        let now = Instant::now();
        let addr = ip("192.0.2.7");
        for i in 0..20 {
            limiter.record_failure(&format!("user{i}@example.com"), addr, now);
        }

        let refused = limiter
            .check("never-tried@example.com", addr, now)
            .unwrap_err();

        assert_eq!(refused.scope, LimitScope::Address);
        assert_eq!(refused.wait, 15 * MINUTE);
        assert_eq!(
            limiter.check("never-tried@example.com", ip("192.0.2.8"), now),
            Ok(())
        );
    }

    #[test]
    fn ipv6_is_grouped_by_64_prefix() {
        let limiter = limiter();
        let now = Instant::now();
        for i in 0..20u16 {
            let addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i));
            limiter.record_failure(&format!("user{i}@example.com"), addr, now);
        }

        assert!(
            limiter
                .check("x@example.com", ip("2001:db8:1:2::ffff"), now)
                .is_err()
        );
        assert_eq!(
            limiter.check("x@example.com", ip("2001:db8:1:3::1"), now),
            Ok(())
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        assert_eq!(
            AddressKey::from(ip("::ffff:192.0.2.1")),
            AddressKey::from(ip("192.0.2.1"))
        );
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let limits = LoginLimits {
            max_address_failures: 5,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(limits);
        let now = Instant::now();
        let addr = ip("192.0.2.1");
        for _ in 0..5 {
            limiter.record_failure("alice@example.com", addr, now);
        }

        limiter.record_success("ALICE@example.com", addr);

        assert_eq!(
            limiter.check("alice@example.com", ip("192.0.2.2"), now),
            Ok(())
        );
        assert_eq!(
            limiter
                .check("alice@example.com", addr, now)
                .unwrap_err()
                .scope,
            LimitScope::Address
        );
    }

    #[test]
    fn longer_wait_wins_when_both_limits_are_hit() {
        let limits = LoginLimits {
            max_account_failures: 2,
            max_address_failures: 2,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(limits);
        let start = Instant::now();
        let addr = ip("192.0.2.1");
        limiter.record_failure("other@example.com", addr, start);
        limiter.record_failure("alice@example.com", ip("192.0.2.2"), start + MINUTE);
        limiter.record_failure("alice@example.com", addr, start + 2 * MINUTE);

        let refused = limiter
            .check("alice@example.com", addr, start + 2 * MINUTE)
            .unwrap_err();

        // Address: oldest at 0 → 13 min left. Account: oldest at 1 → 14 min left.
        assert_eq!(refused.scope, LimitScope::Account);
        assert_eq!(refused.wait, 14 * MINUTE);
    }

    #[test]
    fn zero_limit_disables_a_check() {
        let limits = LoginLimits {
            max_account_failures: 0,
            max_address_failures: 0,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(limits);
        let now = Instant::now();
        for _ in 0..100 {
            limiter.record_failure("alice@example.com", ip("192.0.2.1"), now);
        }

        assert_eq!(
            limiter.check("alice@example.com", ip("192.0.2.1"), now),
            Ok(())
        );
        assert_eq!(limiter.tracked_keys(), (0, 0));
    }

    #[test]
    fn each_key_keeps_at_most_its_limit_of_timestamps() {
        let limiter = limiter();
        let now = Instant::now();
        for _ in 0..1000 {
            limiter.record_failure("alice@example.com", ip("192.0.2.1"), now);
        }

        let state = limiter.lock();

        assert_eq!(state.accounts.failures["alice@example.com"].len(), 5);
        assert_eq!(state.addresses.failures.values().next().unwrap().len(), 20);
    }

    #[test]
    fn stale_keys_are_pruned_once_per_window() {
        let limiter = limiter();
        let start = Instant::now();
        for i in 0..50u8 {
            limiter.record_failure(
                &format!("user{i}@example.com"),
                IpAddr::from([198, 51, 100, i]),
                start,
            );
        }
        assert_eq!(limiter.tracked_keys(), (50, 50));

        limiter.record_failure("late@example.com", ip("192.0.2.1"), start + 16 * MINUTE);

        assert_eq!(limiter.tracked_keys(), (1, 1));

        limiter.prune(start + 32 * MINUTE);
        assert_eq!(limiter.tracked_keys(), (0, 0));
    }

    #[test]
    fn tracked_keys_are_capped_by_evicting_the_oldest() {
        let limits = LoginLimits {
            max_tracked_keys: 20,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(limits);
        let start = Instant::now();
        let addr = ip("192.0.2.1");
        for _ in 0..5 {
            limiter.record_failure("victim@example.com", addr, start + MINUTE);
        }
        for i in 0..100u32 {
            let at = start + MINUTE + Duration::from_millis(u64::from(i) + 1);
            limiter.record_failure(&format!("spray{i}@example.com"), addr, at);
        }

        let (accounts, _) = limiter.tracked_keys();
        assert!(accounts <= 20, "{accounts}");

        // The sprayed accounts were newer, so the victim's entry went first;
        // the newest sprayed account is still tracked.
        let state = limiter.lock();
        assert!(state.accounts.failures.contains_key("spray99@example.com"));
        assert!(!state.accounts.failures.contains_key("spray0@example.com"));
    }

    #[test]
    fn recently_active_key_survives_eviction() {
        let limits = LoginLimits {
            max_tracked_keys: 10,
            ..LoginLimits::default()
        };
        let limiter = LoginLimiter::new(limits);
        let start = Instant::now();
        let addr = ip("192.0.2.1");
        for i in 0..30u32 {
            let at = start + Duration::from_secs(u64::from(i));
            limiter.record_failure(&format!("spray{i}@example.com"), addr, at);
            // The attacker keeps hammering the victim too, so its last failure
            // is always among the newest.
            limiter.record_failure("victim@example.com", addr, at);
        }

        assert!(
            limiter
                .check("victim@example.com", addr, start + MINUTE)
                .is_err()
        );
    }

    #[test]
    fn huge_account_names_are_cut() {
        let key = account_key(&"é".repeat(1000));

        assert!(key.len() <= MAX_ACCOUNT_KEY_BYTES);
        assert_eq!(key.len(), 320);
    }

    #[test]
    fn retry_message_is_fit_for_users() {
        let at = |secs: u64, nanos: u32| RetryAfter {
            wait: Duration::new(secs, nanos),
            scope: LimitScope::Account,
        };

        assert_eq!(
            at(660, 0).to_string(),
            "Too many failed sign-in attempts. Try again in 11 minutes."
        );
        assert_eq!(
            at(61, 0).to_string().as_str(),
            "Too many failed sign-in attempts. Try again in 2 minutes."
        );
        assert!(at(60, 0).to_string().ends_with("in 1 minute."));
        assert!(at(0, 1).to_string().ends_with("in 1 second."));
        assert!(at(44, 500).to_string().ends_with("in 45 seconds."));
        assert_eq!(at(44, 500).retry_after_secs(), 45);
    }

    #[test]
    fn usable_from_many_threads() {
        let limiter = Arc::new(limiter());
        let now = Instant::now();

        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        limiter.record_failure(
                            "shared@example.com",
                            IpAddr::from([10, 0, 0, t]),
                            now,
                        );
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }

        assert!(
            limiter
                .check("shared@example.com", ip("10.0.0.99"), now)
                .is_err()
        );
        assert_eq!(limiter.tracked_keys(), (1, 8));
    }
}
