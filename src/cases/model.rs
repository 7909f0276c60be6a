//! Deadlines of a case, computed from the stored dates (never by a background
//! job that might not run): first meeting within 120 days of the PAD (convening
//! recommended within 60), a 90-day update after each meeting. Days are those of
//! the Italian calendar (`crate::calendar`).

#[cfg(test)]
use chrono::Utc;
use chrono::{Duration, NaiveDate};
use entity::{
    case_file,
    enums::{AnalysisOutcome, CaseState, PactState},
};

/// Days from the PAD within which the first meeting must happen (DM 154/2023 art. 9).
pub const FIRST_MEETING_DAYS: i64 = 120;
/// Days from the PAD within which convening is recommended (linee guida).
pub const RECOMMENDED_CONVOCATION_DAYS: i64 = 60;
/// Cadence of the periodic update after a meeting.
pub const PERIODIC_CHECK_DAYS: i64 = 90;

pub fn first_meeting_deadline(pad: NaiveDate) -> NaiveDate {
    pad + Duration::days(FIRST_MEETING_DAYS)
}

pub fn recommended_convocation(pad: NaiveDate) -> NaiveDate {
    pad + Duration::days(RECOMMENDED_CONVOCATION_DAYS)
}

pub fn next_check_due(c: &case_file::Model) -> Option<NaiveDate> {
    c.last_meeting_on.map(|d| d + Duration::days(PERIODIC_CHECK_DAYS))
}

/// Whether the case is over here (closed, or transferred): its deadlines no longer run.
pub fn ended(state: CaseState) -> bool {
    matches!(state, CaseState::Chiuso | CaseState::Trasferito)
}

/// Days left to the first-meeting deadline (negative past it); None once met,
/// or once the case ended.
pub fn days_to_deadline(c: &case_file::Model, today: NaiveDate) -> Option<i64> {
    (c.first_meeting_on.is_none() && !ended(c.state)).then(|| (first_meeting_deadline(c.pad_date) - today).num_days())
}

/// The first-meeting deadline passed and no meeting was recorded, on a case
/// still open (a case closed without a meeting is not late any more).
pub fn overdue(c: &case_file::Model, today: NaiveDate) -> bool {
    c.first_meeting_on.is_none() && !ended(c.state) && today > first_meeting_deadline(c.pad_date)
}

/// What can be done to a case; the state machine of domain spec §2.3 says from
/// which states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    Assign,
    RecordFirstMeeting,
    SaveAnalysis,
    CompleteAnalysis,
    ReopenAnalysis,
    RaiseReport,
}

impl CaseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseAction::Assign => "assignCases",
            CaseAction::RecordFirstMeeting => "recordFirstMeeting",
            CaseAction::SaveAnalysis => "saveAnalysis",
            CaseAction::CompleteAnalysis => "completeAnalysis",
            CaseAction::ReopenAnalysis => "reopenAnalysis",
            CaseAction::RaiseReport => "raiseReport",
        }
    }

    const ALL: [CaseAction; 6] = [
        CaseAction::Assign,
        CaseAction::RecordFirstMeeting,
        CaseAction::SaveAnalysis,
        CaseAction::CompleteAnalysis,
        CaseAction::ReopenAnalysis,
        CaseAction::RaiseReport,
    ];
}

/// Whether `action` is allowed on a case in `state`.
pub fn case_allows(state: CaseState, action: CaseAction) -> bool {
    use CaseAction::*;
    use CaseState::*;
    match action {
        // Assignment and reassignment, while the case is open.
        Assign => !matches!(state, Chiuso | Trasferito),
        RecordFirstMeeting => matches!(state, Assegnato | Convocato),
        SaveAnalysis | CompleteAnalysis => state == ApInCorso,
        // Reopening goes back to the analysis from where it routed the case.
        ReopenAnalysis => matches!(state, QdaInCorso | PattoInDefinizione | InviatoAltroServizio),
        RaiseReport => !matches!(state, DaAssegnare | Chiuso | Trasferito),
    }
}

/// The actions allowed from `state`, for error messages and clients.
pub fn case_allowed_actions(state: CaseState) -> Vec<&'static str> {
    CaseAction::ALL.iter().filter(|a| case_allows(state, **a)).map(|a| a.as_str()).collect()
}

/// The case state an analysis outcome routes to.
pub fn state_after_analysis(outcome: AnalysisOutcome) -> CaseState {
    match outcome {
        AnalysisOutcome::PaisSemplificato => CaseState::PattoInDefinizione,
        AnalysisOutcome::QuadroAnalisi => CaseState::QdaInCorso,
        AnalysisOutcome::Cpi | AnalysisOutcome::ServiziSpecialistici | AnalysisOutcome::NessunPercorso => {
            CaseState::InviatoAltroServizio
        }
    }
}

/// What can be done to the Quadro di analisi and the Patto, by case state.
pub fn case_allows_framework(state: CaseState) -> bool {
    state == CaseState::QdaInCorso
}

/// The pact can be drafted while it is being defined, and revised in monitoring.
pub fn case_allows_pact(state: CaseState) -> bool {
    matches!(state, CaseState::PattoInDefinizione | CaseState::InMonitoraggio)
}

/// What can be done to a version of the pact (domain spec §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PactAction {
    Save,
    Sign,
    Refuse,
    Revise,
}

impl PactAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PactAction::Save => "savePact",
            PactAction::Sign => "signPact",
            PactAction::Refuse => "refusePact",
            PactAction::Revise => "revisePact",
        }
    }
}

pub fn pact_allows(state: PactState, action: PactAction) -> bool {
    match action {
        PactAction::Save | PactAction::Sign | PactAction::Refuse => state == PactState::Bozza,
        PactAction::Revise => state == PactState::Sottoscritto,
    }
}

pub fn pact_allowed_actions(state: PactState) -> Vec<&'static str> {
    [PactAction::Save, PactAction::Sign, PactAction::Refuse, PactAction::Revise]
        .into_iter()
        .filter(|a| pact_allows(state, *a))
        .map(|a| a.as_str())
        .collect()
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

    #[test]
    fn the_case_state_machine() {
        use CaseAction::*;
        assert!(case_allows(CaseState::DaAssegnare, Assign));
        assert!(!case_allows(CaseState::Chiuso, Assign));
        assert!(!case_allows(CaseState::DaAssegnare, RecordFirstMeeting));
        assert!(case_allows(CaseState::Convocato, RecordFirstMeeting));
        assert!(!case_allows(CaseState::ApInCorso, RecordFirstMeeting));
        assert_eq!(
            case_allowed_actions(CaseState::ApInCorso),
            vec!["assignCases", "saveAnalysis", "completeAnalysis", "raiseReport"]
        );
        assert_eq!(state_after_analysis(AnalysisOutcome::QuadroAnalisi), CaseState::QdaInCorso);
        assert_eq!(state_after_analysis(AnalysisOutcome::Cpi), CaseState::InviatoAltroServizio);
    }
}
