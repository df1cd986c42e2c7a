//! Dates and times from forms and query strings, bounded to the years
//! 1970–9999: PostgreSQL cannot store every date chrono can parse (it
//! answered "timestamp out of range" for year -5000), and a deployment
//! "not before" year 200000 would never run.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 9999;

/// The field message for a date outside the bounds.
pub const OUT_OF_RANGE: &str = "Use a year from 1970 to 9999.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Not in the expected format; the caller says which format.
    Malformed,
    /// Well-formed, but before 1970 or after 9999.
    OutOfRange,
}

fn bounded(date: NaiveDate) -> Result<NaiveDate, DateProblem> {
    if (MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        Ok(date)
    } else {
        Err(DateProblem::OutOfRange)
    }
}

/// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, seconds optional) read as
/// UTC; empty is `None`.
pub fn datetime_utc(value: &str) -> Result<Option<DateTime<Utc>>, DateProblem> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let t = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| DateProblem::Malformed)?;
    bounded(t.date())?;
    Ok(Some(t.and_utc()))
}

/// A date, `YYYY-MM-DD`; empty is `None`.
pub fn date(value: &str) -> Result<Option<NaiveDate>, DateProblem> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| DateProblem::Malformed)?;
    bounded(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_in_range_are_read_as_utc() {
        let t = datetime_utc(" 2026-11-23T02:00 ").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T02:00:00+00:00");
        assert!(datetime_utc("2026-11-23T02:00:30").unwrap().is_some());
        assert_eq!(datetime_utc(""), Ok(None));
        assert!(datetime_utc("1970-01-01T00:00").unwrap().is_some());
        assert!(datetime_utc("9999-12-31T23:59").unwrap().is_some());
    }

    #[test]
    fn datetimes_out_of_range_are_refused() {
        for v in [
            "-5000-01-01T00:00",
            "+200000-01-01T00:00",
            "1969-12-31T23:59",
            "0000-01-01T00:00",
        ] {
            assert_eq!(datetime_utc(v), Err(DateProblem::OutOfRange), "{v}");
        }
        // Five digits without a sign do not read as a year at all.
        assert!(datetime_utc("10000-01-01T00:00").is_err());
        assert_eq!(datetime_utc("tomorrow"), Err(DateProblem::Malformed));
        assert_eq!(
            datetime_utc("2026-02-30T00:00"),
            Err(DateProblem::Malformed)
        );
    }

    #[test]
    fn dates_are_bounded_too() {
        assert_eq!(
            date("2026-11-22"),
            Ok(NaiveDate::from_ymd_opt(2026, 11, 22))
        );
        assert_eq!(date(""), Ok(None));
        assert_eq!(date("-5000-01-01"), Err(DateProblem::OutOfRange));
        assert_eq!(date("+200000-01-01"), Err(DateProblem::OutOfRange));
        assert_eq!(date("1969-12-31"), Err(DateProblem::OutOfRange));
        assert_eq!(date("not-a-date"), Err(DateProblem::Malformed));
    }
}
