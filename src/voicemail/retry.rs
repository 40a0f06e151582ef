//! Bounded retries with exponential backoff for the pipeline's remote steps
//! (downloading the recording, transcribing it, writing the database).

use std::future::Future;
use std::time::Duration;

use crate::twilio::rest::RestError;

/// How often and how patiently a step is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled each time up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Twilio can take a moment to make a fresh recording available and its
    /// API has short hiccups: four tries over about 7 s.
    pub const FETCH: RetryPolicy = RetryPolicy {
        attempts: 4,
        initial_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(4),
    };
    /// Transcription is a nicety; one more try, then the voicemail goes out
    /// without it.
    pub const TRANSCRIBE: RetryPolicy = RetryPolicy {
        attempts: 2,
        initial_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
    };
    /// The database: the voicemail exists nowhere else, so try for ~30 s.
    pub const STORE: RetryPolicy = RetryPolicy {
        attempts: 6,
        initial_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10),
    };

    /// The wait after failed try number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// Runs `op` until it succeeds, fails with an error `transient` calls
    /// final, or the tries are used up; the last error is returned.
    /// `on_failure` sees every failed try (number, error), for logging.
    pub async fn run<T, E, Op, Fut>(
        &self,
        mut op: Op,
        transient: impl Fn(&E) -> bool,
        mut on_failure: impl FnMut(u32, &E),
    ) -> Result<T, E>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let attempts = self.attempts.max(1);
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    on_failure(attempt, &e);
                    if attempt >= attempts || !transient(&e) {
                        return Err(e);
                    }
                    tokio::time::sleep(self.delay_after(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A download worth retrying: network trouble, Twilio busy or failing, or a
/// recording not (yet) found. Bad credentials or a bad SID will not get better.
pub fn fetch_is_transient(e: &RestError) -> bool {
    match e {
        RestError::Timeout | RestError::Transport(_) => true,
        RestError::Api { status, .. } => matches!(status, 404 | 429) || *status >= 500,
        RestError::Decode(_) | RestError::InvalidSid(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::FETCH;
        let delays: Vec<u64> = (1..=4).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 4]);
        assert_eq!(
            RetryPolicy::STORE.delay_after(40),
            Duration::from_secs(10),
            "no overflow"
        );
    }

    #[tokio::test]
    async fn retries_transient_errors_until_the_budget_is_spent() {
        let calls = Cell::new(0);
        let mut seen = Vec::new();
        let r: Result<(), &str> = quick(3)
            .run(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("down") }
                },
                |_| true,
                |n, _| seen.push(n),
            )
            .await;
        assert_eq!(r, Err("down"));
        assert_eq!(calls.get(), 3);
        assert_eq!(seen, [1, 2, 3]);
    }

    #[tokio::test]
    async fn stops_at_success_or_a_final_error() {
        let calls = Cell::new(0);
        let r: Result<u32, &str> = quick(5)
            .run(
                || {
                    calls.set(calls.get() + 1);
                    let n = calls.get();
                    async move {
                        if n < 2 {
                            Err("again")
                        } else {
                            Ok(n)
                        }
                    }
                },
                |_| true,
                |_, _| {},
            )
            .await;
        assert_eq!(r, Ok(2));
        let calls = Cell::new(0);
        let r: Result<(), &str> = quick(5)
            .run(
                || {
                    calls.set(calls.get() + 1);
                    async { Err("forbidden") }
                },
                |e| *e != "forbidden",
                |_, _| {},
            )
            .await;
        assert_eq!(r, Err("forbidden"));
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn download_errors_are_classified() {
        let api = |status| RestError::Api {
            status,
            code: 0,
            message: String::new(),
        };
        assert!(fetch_is_transient(&api(404)));
        assert!(fetch_is_transient(&api(503)));
        assert!(fetch_is_transient(&RestError::Timeout));
        assert!(!fetch_is_transient(&api(401)));
        assert!(!fetch_is_transient(&RestError::InvalidSid("x".into())));
    }
}
