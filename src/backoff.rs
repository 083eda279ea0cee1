//! Capped exponential backoff with jitter: the first retry comes within
//! 100 ms, and each wait is uniform in [d/2, d] so that a fleet booted
//! together spreads out without any wait exceeding the cap.

use std::time::Duration;

use tokio::time::Instant;

const FIRST: Duration = Duration::from_millis(100);

pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub fn new(cap: Duration) -> Backoff {
        Backoff {
            next: FIRST.min(cap),
            cap,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.cap);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// The next wait, cut short at `deadline`; `None` once it has passed.
    pub fn next_before(&mut self, deadline: Option<Instant>) -> Option<Duration> {
        let delay = self.next_delay();
        match deadline {
            None => Some(delay),
            Some(d) => {
                let now = Instant::now();
                (now < d).then(|| delay.min(d - now))
            }
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
}
