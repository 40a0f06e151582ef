//! The model connection's restart budget: how many restarts a call may spend
//! within a sliding window, and how long to back off before each.

use std::collections::VecDeque;

use super::playback::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    pub restarts: u32,
    pub window_ms: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RestartBudget {
    budget: Budget,
    failures: VecDeque<Millis>,
}

/// What to do about a model failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after this many milliseconds.
    RestartAfter(u64),
    /// The budget is spent: stop trying.
    GiveUp,
}

impl RestartBudget {
    pub fn new(budget: Budget) -> Self {
        RestartBudget {
            budget,
            failures: VecDeque::new(),
        }
    }

    /// Records a failure at `now` and decides.
    pub fn on_failure(&mut self, now: Millis) -> Verdict {
        while let Some(&t) = self.failures.front() {
            if now.saturating_sub(t) > self.budget.window_ms {
                self.failures.pop_front();
            } else {
                break;
            }
        }
        if self.failures.len() as u32 >= self.budget.restarts {
            return Verdict::GiveUp;
        }
        let attempt = self.failures.len() as u32;
        self.failures.push_back(now);
        // Exponential: initial, 2x, 4x ... capped.
        let backoff = self
            .budget
            .backoff_initial_ms
            .saturating_mul(1u64 << attempt.min(16))
            .min(self.budget.backoff_max_ms);
        Verdict::RestartAfter(backoff)
    }

    /// Restarts spent within the window as of the last failure.
    pub fn spent(&self) -> usize {
        self.failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> RestartBudget {
        RestartBudget::new(Budget {
            restarts: 2,
            window_ms: 30_000,
            backoff_initial_ms: 100,
            backoff_max_ms: 150,
        })
    }

    #[test]
    fn restarts_with_backoff_until_the_budget_is_spent() {
        let mut b = budget();
        assert_eq!(b.on_failure(0), Verdict::RestartAfter(100));
        assert_eq!(b.on_failure(1_000), Verdict::RestartAfter(150));
        assert_eq!(b.on_failure(2_000), Verdict::GiveUp);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut b = budget();
        b.on_failure(0);
        b.on_failure(1_000);
        assert_eq!(b.on_failure(40_000), Verdict::RestartAfter(100));
        assert_eq!(b.spent(), 1);
    }

    #[test]
    fn zero_budget_gives_up_at_once() {
        let mut b = RestartBudget::new(Budget {
            restarts: 0,
            window_ms: 1,
            backoff_initial_ms: 1,
            backoff_max_ms: 1,
        });
        assert_eq!(b.on_failure(0), Verdict::GiveUp);
    }
}
