//! The transfer's states and where an accepted case stands in the new Ambito.

use entity::enums::{CaseState, TransferState};

/// What can be done to a transfer in `state`, for refusals.
pub fn allowed_actions(state: TransferState) -> &'static str {
    match state {
        TransferState::Richiesto => "decideCaseTransfer (receiving Ambito), withdrawCaseTransfer (sending Ambito)",
        TransferState::Accettato | TransferState::Rifiutato | TransferState::Ritirato => "nothing",
    }
}

/// Whether a case in `state` can be transferred (an open case).
pub fn transferable(state: CaseState) -> bool {
    !matches!(state, CaseState::Chiuso | CaseState::Trasferito)
}

/// The state of an accepted case in the new Ambito: one not met yet waits for
/// the new coordinator's assignment; one past its first meeting keeps its stage
/// (its analysis, pact and supports travel with it) and waits for a new case
/// manager.
pub fn state_after_transfer(state: CaseState) -> CaseState {
    match state {
        CaseState::DaAssegnare | CaseState::Assegnato | CaseState::Convocato => CaseState::DaAssegnare,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_not_met_yet_starts_over_and_one_met_keeps_its_stage() {
        assert_eq!(state_after_transfer(CaseState::Convocato), CaseState::DaAssegnare);
        assert_eq!(state_after_transfer(CaseState::InMonitoraggio), CaseState::InMonitoraggio);
        assert!(!transferable(CaseState::Chiuso) && transferable(CaseState::ApInCorso));
    }
}
