//! The state every request shares: Halo's data, issued tokens, traffic
//! counters, faults, the rate limiter and the webhook queue, each behind its
//! own lock so that one slow part does not hold up the others. No lock is ever
//! held across an `.await`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::auth::Auth;
use crate::config::{Seed, SimConfig};
use crate::faults::FaultState;
use crate::rate_limit::RateLimiter;
use crate::seed;
use crate::store::Store;
use crate::traffic::Traffic;
use crate::webhook::Webhooks;

/// The shared state, as handlers receive it.
pub type Sim = Arc<SimState>;

/// Everything the simulator holds.
#[derive(Debug)]
pub struct SimState {
    seed: Seed,
    store: Mutex<Store>,
    pub auth: Mutex<Auth>,
    pub traffic: Mutex<Traffic>,
    pub faults: Mutex<FaultState>,
    pub limiter: Mutex<RateLimiter>,
    pub webhooks: Arc<Webhooks>,
}

impl SimState {
    /// A simulator seeded and configured from `config`.
    pub fn new(config: &SimConfig, webhooks: Arc<Webhooks>) -> SimState {
        SimState {
            seed: config.seed,
            store: Mutex::new(seed::store(config.seed)),
            auth: Mutex::new(Auth::new(config.apps.clone(), config.token_lifetime)),
            traffic: Mutex::new(Traffic::default()),
            faults: Mutex::new(FaultState::new(config.faults.clone())),
            limiter: Mutex::new(RateLimiter::new(config.rate_limit)),
            webhooks,
        }
    }

    /// Runs `read` on the data.
    pub fn read<T>(&self, read: impl FnOnce(&Store) -> T) -> T {
        read(&lock(&self.store))
    }

    /// Runs `write` on the data, then queues a webhook for every change it made.
    pub fn write<T>(&self, write: impl FnOnce(&mut Store) -> T) -> T {
        let (result, changes) = {
            let mut store = lock(&self.store);
            let result = write(&mut store);
            (result, store.take_changes())
        };

        for change in changes {
            self.webhooks.notify(change);
        }
        result
    }

    /// Puts back the seeded data and forgets counters, the request log, faults
    /// and the rate-limit window. Apps, tokens, the rate-limit setting and the
    /// webhook target stay.
    pub fn reset(&self) {
        *lock(&self.store) = seed::store(self.seed);
        *lock(&self.traffic) = Traffic::default();
        lock(&self.faults).clear();
        lock(&self.limiter).forget();
    }
}

/// Locks `mutex`. A panic while it was held cannot leave the simulator's data
/// half-written in a way worth refusing to serve (every write either completes
/// or touches nothing), so a poisoned lock is simply taken over.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
