//! Deadlines, computed from the stored dates (never by a background job that
//! might not run): first meeting within 120 days of the PAD (convening
//! recommended within 60), a 90-day update after each meeting, 60 days to answer
//! a disadvantage validation request (silence counts as confirmation).

use chrono::{Duration, NaiveDate, Utc};
use entity::{case_file, disadvantage_check, enums::DisadvantageState};

/// Days from the PAD within which the first meeting must happen (DM 154/2023 art. 9).
pub const FIRST_MEETING_DAYS: i64 = 120;
/// Days from the PAD within which convening is recommended (linee guida).
pub const RECOMMENDED_CONVOCATION_DAYS: i64 = 60;
/// Cadence of the periodic update after a meeting.
pub const PERIODIC_CHECK_DAYS: i64 = 90;
/// Days the certifying Comune has to answer a disadvantage validation request.
pub const DISADVANTAGE_RESPONSE_DAYS: i64 = 60;

/// Today's date; deadlines are whole days.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub fn first_meeting_deadline(pad: NaiveDate) -> NaiveDate {
    pad + Duration::days(FIRST_MEETING_DAYS)
}

pub fn recommended_convocation(pad: NaiveDate) -> NaiveDate {
    pad + Duration::days(RECOMMENDED_CONVOCATION_DAYS)
}

pub fn next_check_due(c: &case_file::Model) -> Option<NaiveDate> {
    c.last_meeting_on.map(|d| d + Duration::days(PERIODIC_CHECK_DAYS))
}

/// Days left to the first-meeting deadline (negative past it); None once met.
pub fn days_to_deadline(c: &case_file::Model, today: NaiveDate) -> Option<i64> {
    c.first_meeting_on.is_none().then(|| (first_meeting_deadline(c.pad_date) - today).num_days())
}

/// The first-meeting deadline passed and no meeting was recorded.
pub fn overdue(c: &case_file::Model, today: NaiveDate) -> bool {
    c.first_meeting_on.is_none() && today > first_meeting_deadline(c.pad_date)
}

pub fn disadvantage_due(received: NaiveDate) -> NaiveDate {
    received + Duration::days(DISADVANTAGE_RESPONSE_DAYS)
}

/// Undecided past the deadline: INPS counts it as confirmed.
pub fn disadvantage_expired(d: &disadvantage_check::Model, today: NaiveDate) -> bool {
    matches!(d.state, DisadvantageState::Ricevuta | DisadvantageState::InVerifica) && today > disadvantage_due(d.received_on)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(pad: NaiveDate, met: Option<NaiveDate>) -> case_file::Model {
        case_file::Model {
            id: uuid::Uuid::nil(),
            household_id: uuid::Uuid::nil(),
            application_id: uuid::Uuid::nil(),
            ambito_id: uuid::Uuid::nil(),
            comune_istat: "108023".into(),
            state: entity::enums::CaseState::Assegnato,
            case_manager_id: None,
            assigned_at: None,
            assigned_by: None,
            pad_date: pad,
            first_meeting_on: met,
            last_meeting_on: met,
            pathway_type: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn first_meeting_deadline_edges() {
        let pad = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
        let c = case(pad, None);
        let day = |n: i64| pad + Duration::days(n);
        assert_eq!(first_meeting_deadline(pad), day(120));
        assert_eq!(days_to_deadline(&c, day(119)), Some(1));
        assert_eq!(days_to_deadline(&c, day(120)), Some(0));
        assert_eq!(days_to_deadline(&c, day(121)), Some(-1));
        assert!(!overdue(&c, day(119)));
        assert!(!overdue(&c, day(120)), "the 120th day is still in time");
        assert!(overdue(&c, day(121)));
        let met = case(pad, Some(day(30)));
        assert_eq!(days_to_deadline(&met, day(200)), None);
        assert!(!overdue(&met, day(200)));
        assert_eq!(next_check_due(&met), Some(day(120)));
        assert_eq!(recommended_convocation(pad), day(60));
    }
}
