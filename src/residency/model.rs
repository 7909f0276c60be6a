//! The residence requirement computed from the recorded periods.

use chrono::NaiveDate;

/// Days of residence required in all (10 years) and continuously at the end (2 years).
pub const REQUIRED_TOTAL_DAYS: i64 = 10 * 365;
pub const REQUIRED_CONTINUOUS_DAYS: i64 = 2 * 365;
/// Days a Comune has on a check: the Comune of residence, each previous one, and
/// to convene the person when the requirement cannot be reconstructed.
pub const RESIDENCE_COMUNE_DAYS: i64 = 30;
pub const PREVIOUS_COMUNE_DAYS: i64 = 20;
pub const CONVENE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidenceSummary {
    /// Days covered by the periods, overlaps counted once.
    pub total_days: i64,
    /// Length of the latest continuous stretch, if it is still open (reaches `today`).
    pub last_continuous_days: i64,
    pub requirement_met: bool,
}

/// Merges the periods (an open period runs to `today`) and measures them.
pub fn summarise(periods: &[(NaiveDate, Option<NaiveDate>)], today: NaiveDate) -> ResidenceSummary {
    let mut spans: Vec<(NaiveDate, NaiveDate)> =
        periods.iter().map(|(f, t)| (*f, t.unwrap_or(today).min(today))).filter(|(f, t)| f <= t).collect();
    spans.sort();
    let mut merged: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for (f, t) in spans {
        match merged.last_mut() {
            // Adjacent or overlapping: one stretch.
            Some((_, end)) if f <= *end + chrono::Duration::days(1) => *end = (*end).max(t),
            _ => merged.push((f, t)),
        }
    }
    let days = |(f, t): &(NaiveDate, NaiveDate)| (*t - *f).num_days() + 1;
    let total_days = merged.iter().map(days).sum();
    let last_continuous_days = merged.last().filter(|(_, t)| *t == today).map(days).unwrap_or(0);
    ResidenceSummary {
        total_days,
        last_continuous_days,
        requirement_met: total_days >= REQUIRED_TOTAL_DAYS && last_continuous_days >= REQUIRED_CONTINUOUS_DAYS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn overlaps_count_once_and_continuity_needs_an_open_stretch() {
        let today = d(2026, 11, 26);
        // 2010-2018 in one Comune, 2018-today in another, overlapping by a month.
        let s = summarise(&[(d(2010, 1, 1), Some(d(2018, 2, 1))), (d(2018, 1, 1), None)], today);
        assert_eq!(s.total_days, (today - d(2010, 1, 1)).num_days() + 1);
        assert_eq!(s.last_continuous_days, s.total_days);
        assert!(s.requirement_met);
        // A gap: the last stretch is short.
        let s = summarise(&[(d(2010, 1, 1), Some(d(2024, 12, 31))), (d(2025, 6, 1), None)], today);
        assert_eq!(s.last_continuous_days, (today - d(2025, 6, 1)).num_days() + 1);
        assert!(!s.requirement_met);
        // Nothing open: no continuity.
        let s = summarise(&[(d(2010, 1, 1), Some(d(2025, 1, 1)))], today);
        assert_eq!(s.last_continuous_days, 0);
        assert!(!s.requirement_met);
    }
}
