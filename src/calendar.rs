//! The calendar every deadline is counted in: days of the Italian calendar
//! (Europe/Rome), working days Monday to Friday. Kernel: it imports nothing of
//! the crate, and every domain counts its deadlines with it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

/// Today's date in Italy: deadlines are whole days of the Italian calendar, so
/// "today" turns at midnight in Rome, not in UTC.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Europe::Rome).date_naive()
}

/// The instant the Italian day after the one of `now` begins: what holds "today"
/// (a profile in force, a convention) is computed again from then.
pub fn next_day_starts(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::TimeZone;
    let rome = chrono_tz::Europe::Rome;
    let tomorrow = now.with_timezone(&rome).date_naive() + Duration::days(1);
    let local = tomorrow.and_hms_opt(0, 0, 0).expect("midnight");
    // Italian clocks change at two or three in the morning: midnight always exists.
    rome.from_local_datetime(&local).earliest().map_or(midnight(tomorrow), |t| t.with_timezone(&Utc))
}

/// A range of days, both ends included, either end open (a list filter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DayRange {
    /// Whether `from` is after `to` (an empty range, most likely a mistake).
    pub fn is_reversed(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f > t)
    }

    /// The first instant of the range (midnight UTC of `from`), for timestamps.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.from.map(midnight)
    }

    /// The first instant after the range (midnight UTC of the day after `to`).
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.to.map(|t| midnight(t + Duration::days(1)))
    }
}

/// Midnight UTC at the start of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// Working days (Monday to Friday) after `from`.
pub fn add_working_days(from: NaiveDate, days: u32) -> NaiveDate {
    let mut d = from;
    let mut left = days;
    while left > 0 {
        d += Duration::days(1);
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_day_starts_at_midnight_in_rome() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Winter (UTC+1): 23:30 UTC is already tomorrow in Rome.
        assert_eq!(next_day_starts(at("2026-12-03T10:00:00Z")), at("2026-12-03T23:00:00Z"));
        assert_eq!(next_day_starts(at("2026-12-03T23:30:00Z")), at("2026-12-04T23:00:00Z"));
        // Summer (UTC+2), and the night clocks go back (25 October 2026).
        assert_eq!(next_day_starts(at("2026-07-01T12:00:00Z")), at("2026-07-01T22:00:00Z"));
        assert_eq!(next_day_starts(at("2026-10-24T12:00:00Z")), at("2026-10-24T22:00:00Z"));
        assert_eq!(next_day_starts(at("2026-10-25T12:00:00Z")), at("2026-10-25T23:00:00Z"));
    }

    #[test]
    fn working_days_skip_weekends() {
        let friday = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        assert_eq!(add_working_days(friday, 1), NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        assert_eq!(add_working_days(friday, 10), NaiveDate::from_ymd_opt(2026, 12, 18).unwrap());
        assert_eq!(add_working_days(friday, 0), friday);
    }
}
