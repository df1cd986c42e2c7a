//! The time verification runs on. Checks wait minutes between tries; tests
//! choose a clock that jumps instead of waiting, so a five-minute window is
//! tried in milliseconds with the same arithmetic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The wall clock: sleeping waits.
    #[default]
    Real,
    /// A clock only sleeping moves: each sleep adds its length (in
    /// milliseconds) at once.
    Jumping(Arc<AtomicU64>),
}

impl Clock {
    pub fn jumping() -> Self {
        Self::Jumping(Arc::new(AtomicU64::new(0)))
    }

    /// Time since an arbitrary start, fixed for the clock.
    pub fn now(&self) -> Duration {
        match self {
            Self::Real => {
                static START: OnceLock<Instant> = OnceLock::new();
                START.get_or_init(Instant::now).elapsed()
            }
            Self::Jumping(ms) => Duration::from_millis(ms.load(Ordering::SeqCst)),
        }
    }

    /// Waits `length`, or less when `stop` turns true (the real clock looks
    /// every 100 ms).
    pub fn sleep(&self, length: Duration, stop: &dyn Fn() -> bool) {
        match self {
            Self::Real => {
                let until = Instant::now() + length;
                while Instant::now() < until && !stop() {
                    std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
                }
            }
            Self::Jumping(ms) => {
                ms.fetch_add(
                    u64::try_from(length.as_millis()).unwrap_or(u64::MAX),
                    Ordering::SeqCst,
                );
                // Lets other threads (the lease, the test) run between tries.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}
