//! The one random source: xorshift64*, seeded by the caller. It only has
//! to keep two systems from synchronising (jitter) and make
//! discriminators hard to reuse by accident, and being deterministic for
//! a seed is what lets the tests replay a session exactly.

/// The next value; `state` must not be zero (callers seed with `| 1`).
pub(crate) fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}
