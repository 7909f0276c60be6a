//! The deadline of a disadvantage validation request: the certifying Comune has
//! 60 days from receipt; past them, silence counts as confirmation.

use chrono::{Duration, NaiveDate};
use entity::{disadvantage_check, enums::DisadvantageState};

/// Days the certifying Comune has to answer a disadvantage validation request.
pub const DISADVANTAGE_RESPONSE_DAYS: i64 = 60;

pub fn disadvantage_due(received: NaiveDate) -> NaiveDate {
    received + Duration::days(DISADVANTAGE_RESPONSE_DAYS)
}

/// Undecided past the deadline: INPS counts it as confirmed.
pub fn disadvantage_expired(d: &disadvantage_check::Model, today: NaiveDate) -> bool {
    matches!(d.state, DisadvantageState::Ricevuta | DisadvantageState::InVerifica)
        && today > disadvantage_due(d.received_on)
}
