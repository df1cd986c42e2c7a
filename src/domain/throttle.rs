//! Per-account login throttling, as a pure rule: after 5 failed logins for
//! one username within 15 minutes, that username is refused for 15 minutes
//! from the fifth failure. A success resets the count.

use chrono::{DateTime, Duration, Utc};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::minutes(15);
pub const LOCKOUT: Duration = Duration::minutes(15);

/// How far back failures can matter: a window plus a lockout.
pub fn lookback() -> Duration {
    WINDOW + LOCKOUT
}

/// Until when the account is locked, given the times of its failed attempts
/// since its last success (any order) and the current time.
pub fn locked_until(failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut times = failures.to_vec();
    times.sort();
    times
        .windows(MAX_FAILURES)
        .filter(|run| run[MAX_FAILURES - 1] - run[0] <= WINDOW)
        .map(|run| run[MAX_FAILURES - 1] + LOCKOUT)
        .filter(|until| *until > now)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn four_failures_do_not_lock() {
        let failures = [at(0), at(1), at(2), at(3)];
        assert_eq!(locked_until(&failures, at(4)), None);
    }

    #[test]
    fn the_fifth_failure_within_the_window_locks_for_fifteen_minutes() {
        let failures = [at(0), at(1), at(2), at(3), at(10)];
        assert_eq!(locked_until(&failures, at(11)), Some(at(25)));
        assert_eq!(locked_until(&failures, at(24)), Some(at(25)));
        assert_eq!(locked_until(&failures, at(25)), None);
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_lock() {
        let failures = [at(0), at(5), at(10), at(15), at(20)];
        assert_eq!(locked_until(&failures, at(21)), None);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let failures = [at(4), at(0), at(3), at(1), at(2)];
        assert_eq!(locked_until(&failures, at(5)), Some(at(19)));
    }
}
