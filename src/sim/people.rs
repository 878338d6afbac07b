//! People waiting at a stop for one line in one direction. They board oldest first and,
//! when no bus comes, give up after a patience drawn from a Weibull distribution: few leave
//! within a usual headway, most within half an hour.

use std::collections::VecDeque;

use rand::Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// Weibull patience: scale (s) and shape. P(gone within 10 min) ≈ 4 %, 20 min ≈ 26 %,
/// 30 min ≈ 63 %.
pub const PATIENCE_SCALE_S: f64 = 1_800.0;
pub const PATIENCE_SHAPE: f64 = 3.0;
/// Nobody is still waiting after this long (the survival is below 1e-11).
const MAX_WAIT_MS: i64 = 5_400_000;

/// The share of people still waiting after `wait_s`.
pub fn still_waiting(wait_s: f64) -> f64 {
    (-(wait_s.max(0.0) / PATIENCE_SCALE_S).powf(PATIENCE_SHAPE)).exp()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// `(arrival time in ms, people)`, oldest first.
    cohorts: VecDeque<(i64, u32)>,
    len: u32,
}

impl Queue {
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// People who came during an interval, stamped with its middle.
    pub fn push(&mut self, at: Millis, n: u32) {
        if n > 0 {
            self.cohorts.push_back((at.0, n));
            self.len += n;
        }
    }

    /// Those whose patience ran out between `from` and `to` leave; returns how many.
    pub fn give_up<R: Rng>(&mut self, from: Millis, to: Millis, rng: &mut R) -> u32 {
        let mut gone = 0;
        for (arrived, n) in &mut self.cohorts {
            let before = still_waiting((from.0 - *arrived) as f64 / 1000.0);
            let after = still_waiting((to.0 - *arrived) as f64 / 1000.0);
            let stay = if before > 0.0 { after / before } else { 0.0 };
            let stayed = if to.0 - *arrived >= MAX_WAIT_MS {
                0
            } else {
                Binomial::new(u64::from(*n), stay.clamp(0.0, 1.0))
                    .map(|d| d.sample(rng) as u32)
                    .unwrap_or(*n)
            };
            gone += *n - stayed;
            *n = stayed;
        }
        self.cohorts.retain(|&(_, n)| n > 0);
        self.len -= gone;
        gone
    }

    /// Up to `n` board, those who waited longest first; returns how many did.
    pub fn board(&mut self, n: u32) -> u32 {
        let mut left = n.min(self.len);
        let boarded = left;
        while left > 0 {
            let Some(front) = self.cohorts.front_mut() else {
                break;
            };
            let take = front.1.min(left);
            front.1 -= take;
            left -= take;
            if front.1 == 0 {
                self.cohorts.pop_front();
            }
        }
        self.len -= boarded;
        boarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn patience_and_boarding() {
        assert!((still_waiting(600.0) - 0.96).abs() < 0.01);
        assert!((still_waiting(1_800.0) - 0.368).abs() < 0.01);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        let mut q = Queue::default();
        q.push(Millis(0), 1_000);
        q.push(Millis(600_000), 10);
        assert_eq!(q.board(5), 5);
        assert_eq!(q.cohorts[0], (0, 995));
        // From 10 to 40 minutes, most of the first cohort gives up.
        let gone = q.give_up(Millis(600_000), Millis(2_400_000), &mut rng);
        assert!((700..960).contains(&gone), "{gone}");
        assert_eq!(q.len(), 1_005 - gone);
        let gone_later = q.give_up(Millis(2_400_000), Millis(9_000_000), &mut rng);
        assert_eq!(q.len(), 1_005 - gone - gone_later);
        assert!(q.is_empty());
    }
}
