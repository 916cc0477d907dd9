//! The one source of randomness in natter-bench: a seeded SplitMix64.
//!
//! Owns: turning `--seed` into the same sequence of numbers on every machine
//! and every build (no dependency whose algorithm could change under us), so
//! a community's rooms, who talks and who churns replay from the seed.
//! Must never: read the clock or the OS for entropy, or panic on any input.

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and every 64-bit
/// seed gives a full-period stream; plenty for choosing rooms and talkers.
///
/// ```ignore
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same numbers
/// ```
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0). The modulo bias is below 2^-40
    /// for any `n` natter-bench uses.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// An index into `cumulative` (a running sum of non-negative weights),
    /// chosen with probability proportional to each weight.
    pub fn weighted(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.unit() * total;
        cumulative
            .partition_point(|&c| c <= x)
            .min(cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_another_seed_does_not() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(43);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn the_first_number_of_seed_zero_is_splitmix64s() {
        // The reference implementation's first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn weighted_picks_follow_the_weights_and_never_pick_a_zero_weight() {
        let mut r = Rng::new(1);
        // Weights 1, 0, 3.
        let cum = [1.0, 1.0, 4.0];
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[r.weighted(&cum)] += 1;
        }
        assert_eq!(counts[1], 0);
        let ratio = f64::from(counts[2]) / f64::from(counts[0]);
        assert!((2.7..3.3).contains(&ratio), "{counts:?}");
        assert!(r.below(0) == 0 && r.below(1) == 0);
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
