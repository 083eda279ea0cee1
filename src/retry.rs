//! The one retry driver: a deadline, capped exponential backoff with
//! jitter, the attempt count and the last failure. Every loop that waits
//! for something (KES, a key operation, MinIO's health, the write lock)
//! runs on it. The first retry comes within 100 ms, and each pause is
//! uniform in [d/2, d], so that a fleet booted together spreads out
//! without any pause exceeding the cap. Pauses are timers on the runtime,
//! never a sleeping thread.

use std::time::Duration;

use tokio::time::Instant;

const FIRST: Duration = Duration::from_millis(100);

/// Capped exponential backoff with jitter.
struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(cap: Duration) -> Backoff {
        Backoff {
            next: FIRST.min(cap),
            cap,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.cap);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Attempts until success or a deadline, remembering the last failure.
pub(crate) struct Retry<E> {
    started: Instant,
    deadline: Option<Instant>,
    cap: Duration,
    backoff: Backoff,
    attempts: u32,
    last: Option<E>,
}

impl<E> Retry<E> {
    /// Retries for `bound` (`None`: without end), pausing at most `cap`.
    pub(crate) fn new(bound: Option<Duration>, cap: Duration) -> Retry<E> {
        let started = Instant::now();
        Retry {
            started,
            deadline: bound.map(|b| started + b),
            cap,
            backoff: Backoff::new(cap),
            attempts: 0,
            last: None,
        }
    }

    /// Counts one attempt; returns its number (from 1).
    pub(crate) fn attempt(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn waited(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Records why the attempt failed.
    pub(crate) fn failed(&mut self, why: E) {
        self.last = Some(why);
    }

    pub(crate) fn last(&self) -> Option<&E> {
        self.last.as_ref()
    }

    pub(crate) fn take_last(&mut self) -> Option<E> {
        self.last.take()
    }

    /// Starts the backoff afresh (something changed: try soon again).
    pub(crate) fn reset(&mut self) {
        self.backoff = Backoff::new(self.cap);
    }

    /// The pause before the next attempt, cut short at the deadline;
    /// `None` once it has passed. `dense`: pause at most this long (a
    /// burst while something is known to be coming up).
    pub(crate) fn next_pause(&mut self, dense: Option<Duration>) -> Option<Duration> {
        let delay = match dense {
            Some(cap) => Backoff::new(cap).next_delay(),
            None => self.backoff.next_delay(),
        };
        match self.deadline {
            None => Some(delay),
            Some(d) => {
                let now = Instant::now();
                (now < d).then(|| delay.min(d - now))
            }
        }
    }

    /// Pauses before the next attempt; false once the deadline passed.
    pub(crate) async fn pause(&mut self) -> bool {
        match self.next_pause(None) {
            Some(d) => {
                tokio::time::sleep(d).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_fast_and_all_stay_within_cap() {
        let cap = Duration::from_secs(1);
        let mut b = Backoff::new(cap);
        let first = b.next_delay();
        assert!(first <= FIRST && first >= FIRST / 2, "{first:?}");
        for i in 0..100 {
            let d = b.next_delay();
            assert!(d <= cap, "{d:?}");
            // From the fifth wait on the bound is the cap: never below half of it.
            if i >= 4 {
                assert!(d >= cap / 2, "{d:?}");
            }
        }
    }

    #[test]
    fn delays_grow_until_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(8));
        let bounds: Vec<Duration> = (0..8)
            .map(|_| {
                let d = b.next;
                b.next_delay();
                d
            })
            .collect();
        assert_eq!(bounds[..4], [100, 200, 400, 800].map(Duration::from_millis));
        assert_eq!(bounds[7], Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_retries_and_keeps_the_last_failure() {
        let mut r: Retry<&str> = Retry::new(Some(Duration::from_secs(2)), Duration::from_secs(1));
        let mut pauses = 0;
        loop {
            r.attempt();
            r.failed("still down");
            if !r.pause().await {
                break;
            }
            pauses += 1;
        }
        assert!(pauses >= 3, "{pauses}");
        assert_eq!(r.attempts(), pauses + 1);
        assert_eq!(r.last(), Some(&"still down"));
        assert!(r.waited() >= Duration::from_secs(2));
        assert!(r.next_pause(None).is_none());
    }

    #[test]
    fn a_dense_pause_stays_within_its_cap() {
        let mut r: Retry<()> = Retry::new(None, Duration::from_secs(8));
        for _ in 0..20 {
            assert!(
                r.next_pause(Some(Duration::from_millis(10))).unwrap() <= Duration::from_millis(10)
            );
        }
    }
}
