//! The calendar every deadline is counted in: days of the Italian calendar
//! (Europe/Rome), working days Monday to Friday. Kernel: it imports nothing of
//! the crate, and every domain counts its deadlines with it.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};

/// Today's date in Italy: deadlines are whole days of the Italian calendar, so
/// "today" turns at midnight in Rome, not in UTC.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Europe::Rome).date_naive()
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
