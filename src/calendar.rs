//! The calendar every deadline is counted in: days of the Italian calendar
//! (Europe/Rome), working days Monday to Friday. Kernel: it imports nothing of
//! the crate, and every domain counts its deadlines with it.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

/// Today's date in Italy: deadlines are whole days of the Italian calendar, so
/// "today" turns at midnight in Rome, not in UTC.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Europe::Rome).date_naive()
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
    fn working_days_skip_weekends() {
        let friday = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        assert_eq!(add_working_days(friday, 1), NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        assert_eq!(add_working_days(friday, 10), NaiveDate::from_ymd_opt(2026, 12, 18).unwrap());
        assert_eq!(add_working_days(friday, 0), friday);
    }
}
