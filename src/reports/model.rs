//! The segnalazione's state machine (domain spec §2.9) and its deadline to INPS.

use chrono::{Duration, NaiveDate};
use entity::enums::{ReportKind, ReportState};

/// What can be done to a segnalazione (domain spec §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportAction {
    Submit,
    Decide,
    /// INPS records its protocol on a segnalazione it received.
    Acknowledge,
    /// A segnalazione already sent is rectified or annulled (since December 2020).
    Rectify,
}

pub fn report_allows(state: ReportState, action: ReportAction) -> bool {
    match action {
        ReportAction::Submit => state == ReportState::Bozza,
        ReportAction::Decide => state == ReportState::DaApprovare,
        ReportAction::Acknowledge => state == ReportState::Inviata,
        ReportAction::Rectify => matches!(state, ReportState::Inviata | ReportState::Acquisita),
    }
}

pub fn report_allowed_actions(state: ReportState) -> Vec<&'static str> {
    let mut v = Vec::new();
    if report_allows(state, ReportAction::Submit) {
        v.push("submitReport");
    }
    if report_allows(state, ReportAction::Decide) {
        v.push("decideReport");
    }
    if report_allows(state, ReportAction::Acknowledge) {
        v.push("acknowledgeReport");
    }
    if report_allows(state, ReportAction::Rectify) {
        v.push("rectifyReport");
        v.push("annulReport");
    }
    v
}

/// Deadline to send a segnalazione to INPS: 5 days for a refusal to sign the pact,
/// 10 working days from ascertainment for other sanctionable facts.
pub fn report_deadline(kind: ReportKind, ascertained_on: NaiveDate) -> NaiveDate {
    match kind {
        ReportKind::MancataSottoscrizione => ascertained_on + Duration::days(5),
        _ => crate::calendar::add_working_days(ascertained_on, 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_deadlines() {
        // Friday 2 October 2026: ten working days later is Friday 16 October.
        let fri = NaiveDate::from_ymd_opt(2026, 10, 2).unwrap();
        assert_eq!(
            report_deadline(ReportKind::MancataPresentazione, fri),
            NaiveDate::from_ymd_opt(2026, 10, 16).unwrap()
        );
        assert_eq!(
            report_deadline(ReportKind::MancataSottoscrizione, fri),
            NaiveDate::from_ymd_opt(2026, 10, 7).unwrap()
        );
    }
}
