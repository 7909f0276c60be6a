//! The date scalars of the schema, with their formats checked during
//! validation: a malformed value (in the document or in a variable) is refused
//! before anything runs, as `VALIDATION` naming the argument's path (see
//! `http::add_error_codes`), never as a server fault.
//!
//! - `Date`: a calendar day, `YYYY-MM-DD` (ISO 8601 / RFC 3339 `full-date`).
//! - `DateTime`: an instant, RFC 3339 `date-time` with its offset (`Z` or
//!   `±hh:mm`) required; answered in UTC.
//!
//! In Rust they are [`Date`] and [`Timestamp`], thin wrappers of chrono's
//! `NaiveDate` and `DateTime<Utc>` that convert into them.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

/// An instant, with its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub chrono::DateTime<Utc>);

/// `YYYY-MM-DD`, a day that exists (no `2026-02-30`), four-digit years.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// RFC 3339 `date-time`: `T` (or `t`) between day and time, the offset required,
/// ASCII only (chrono would take a Unicode minus in the offset).
fn parse_instant(s: &str) -> Option<chrono::DateTime<Utc>> {
    // RFC 3339 allows a space for `T` only "for readability" in prose; the
    // format proper (and `specifiedBy`) has `T`.
    if !s.is_ascii() || s.as_bytes().get(10).is_some_and(|c| !matches!(c, b'T' | b't')) {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A calendar day in ISO 8601 form, `YYYY-MM-DD` (RFC 3339 `full-date`), for
/// example `2026-12-06`. Days are those of the Italian calendar: no time, no
/// offset.
#[Scalar(name = "Date", specified_by_url = "https://scalars.graphql.org/andimarek/local-date.html")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                parse_date(s).map(Date).ok_or_else(|| InputValueError::custom("a date is written YYYY-MM-DD"))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_date(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An instant in RFC 3339 form with its offset, for example
/// `2026-12-06T09:30:00Z` or `2026-12-06T10:30:00+01:00`; answered in UTC. A
/// time without an offset is refused: it would not say which instant it is.
#[Scalar(name = "DateTime", specified_by_url = "https://scalars.graphql.org/andimarek/date-time.html")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_instant(s)
                .map(Timestamp)
                .ok_or_else(|| InputValueError::custom("an instant is written as RFC 3339 with its offset")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_instant(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, false))
    }
}

impl From<Date> for NaiveDate {
    fn from(d: Date) -> Self {
        d.0
    }
}

impl From<Timestamp> for chrono::DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_days_that_exist() {
        for ok in ["2026-12-06", "2024-02-29", "0001-01-01"] {
            assert!(parse_date(ok).is_some(), "{ok}");
        }
        for bad in ["2026-13-01", "02/12/2026", "2026-2-3", "2025-02-29", "2026-12-06T00:00:00Z", "+2026-12-06", ""] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn instants_need_their_offset() {
        assert_eq!(parse_instant("2026-12-06T10:30:00+01:00").unwrap().to_rfc3339(), "2026-12-06T09:30:00+00:00");
        assert!(parse_instant("2026-12-06T09:30:00Z").is_some());
        assert!(parse_instant("2026-12-06T09:30:00.250Z").is_some());
        for bad in
            ["2026-12-06T09:30:00", "2026-12-06 09:30:00Z", "2026-12-06", "06/12/2026 09:30", "2026-12-06T25:00:00Z"]
        {
            assert!(parse_instant(bad).is_none(), "{bad}");
        }
    }
}
