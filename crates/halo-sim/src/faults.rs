//! Injected faults: what happens to the next Halo request.
//!
//! Order of precedence: a pending drop, then a pending forced failure, then
//! the random error rate. Latency is added to everything that is answered.

use std::time::Duration;

use rand::Rng;

use crate::config::Faults;

/// What the front door does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it normally.
    Serve,
    /// Close the connection without answering.
    Drop,
    /// Answer with this status and an error body.
    Fail(u16),
}

/// Faults currently configured, counting down as they fire.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    faults: Faults,
}

impl FaultState {
    /// Starts with `faults`.
    pub fn new(faults: Faults) -> FaultState {
        FaultState { faults }
    }

    /// The faults still pending.
    pub fn current(&self) -> Faults {
        self.faults.clone()
    }

    /// Replaces every fault.
    pub fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.faults = Faults::default();
    }

    /// Decides the fate of one request, using up one pending drop or failure,
    /// and returns it with the latency to add.
    pub fn draw(&mut self) -> (Verdict, Duration) {
        let latency = self.faults.latency;

        if self.faults.drop_next > 0 {
            self.faults.drop_next -= 1;
            return (Verdict::Drop, Duration::ZERO);
        }
        if let Some((count, status)) = self.faults.fail_next {
            self.faults.fail_next = (count > 1).then(|| (count - 1, status));
            return (Verdict::Fail(status), latency);
        }
        let rate = self.faults.error_rate.clamp(0.0, 1.0);
        if rate > 0.0 && rand::rng().random_bool(rate) {
            return (Verdict::Fail(500), latency);
        }
        (Verdict::Serve, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_then_failures_count_down_and_stop() {
        let mut state = FaultState::new(Faults {
            drop_next: 1,
            fail_next: Some((2, 503)),
            ..Faults::default()
        });

        let verdicts: Vec<Verdict> = (0..4).map(|_| state.draw().0).collect();

        assert_eq!(
            verdicts,
            [
                Verdict::Drop,
                Verdict::Fail(503),
                Verdict::Fail(503),
                Verdict::Serve
            ]
        );
    }

    #[test]
    fn an_error_rate_of_one_always_fails_and_zero_never() {
        let mut always = FaultState::new(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        let mut never = FaultState::default();

        assert!((0..20).all(|_| always.draw().0 == Verdict::Fail(500)));
        assert!((0..20).all(|_| never.draw().0 == Verdict::Serve));
    }
}
