//! When a failed attempt runs again: exponential backoff with jitter.

use std::time::Duration;

use rand::Rng as _;

/// Exponential backoff with "equal jitter": the delay before attempt `n + 1` is drawn uniformly
/// from `[d/2, d]` where `d = min(max_delay, initial × 2^(n−1))`. The jitter spreads the retries
/// of jobs that failed together (a dependency that went away) so they do not return in a herd;
/// keeping half of `d` fixed keeps the backoff growing. How many attempts a job gets is the
/// job's own `max_attempts` (set at enqueue), not the policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub initial: Duration,
    /// The most a delay grows to.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s, … up to 10 min: long enough for a restarting dependency.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let full = self
            .initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let policy = RetryPolicy {
            initial: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        };
        for _ in 0..100 {
            let first = policy.delay(1);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
            let third = policy.delay(3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            let late = policy.delay(40);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(10));
        }
        assert!(policy.delay(0) <= Duration::from_secs(1));
    }
}
