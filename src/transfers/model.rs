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

/// What happens to a type or field of a case when its transfer is accepted
/// (`policies/travel.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Travel {
    Travels,
    LegalBasis,
    Stays,
}

/// `policies/travel.csv`, embedded: the binary carries the rule its tests ran against.
pub const TRAVEL_FILE: &str = include_str!("../../policies/travel.csv");

/// The lines of `policies/travel.csv`: (type or `Type.field`, what happens).
pub fn travel_rules() -> Result<Vec<(String, Travel)>, String> {
    let mut out = Vec::new();
    for (i, raw) in TRAVEL_FILE.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (what, how) = line
            .split_once(',')
            .ok_or_else(|| format!("policies/travel.csv:{}: expected `<Type or Type.field>, <rule>`", i + 1))?;
        let how = match how.trim() {
            "travels" => Travel::Travels,
            "legal_basis" => Travel::LegalBasis,
            "stays" => Travel::Stays,
            other => {
                return Err(format!(
                    "policies/travel.csv:{}: unknown rule `{other}` (travels, legal_basis, stays)",
                    i + 1
                ))
            }
        };
        out.push((what.trim().to_string(), how));
    }
    Ok(out)
}

/// The fields that travel only with a legal basis, as `Type.field`.
pub fn needs_legal_basis() -> Vec<String> {
    travel_rules()
        .expect("policies/travel.csv is checked by the tests")
        .into_iter()
        .filter(|(what, how)| *how == Travel::LegalBasis && what.contains('.'))
        .map(|(what, _)| what)
        .collect()
}

#[cfg(test)]
mod travel_tests {
    use super::*;

    #[test]
    fn the_travel_rules_parse_and_every_field_needing_a_legal_basis_can_be_sealed() {
        let rules = travel_rules().unwrap();
        assert!(rules.iter().any(|(w, h)| w == "PreliminaryAnalysis.healthNotes" && *h == Travel::LegalBasis));
        for f in needs_legal_basis() {
            assert!(crate::transfers::service::sealable(&f).is_some(), "{f}: no way to seal it at acceptance");
        }
    }
}
