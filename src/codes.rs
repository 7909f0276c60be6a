//! The vocabulary shared by the domains: the stored code of a value
//! (`DA_ASSEGNARE`, `SOTTOSCRITTO`...), as error messages name states and kinds,
//! and the states in which a piece of work is over (what "open work" means when
//! accreditation counts what a revoked operator leaves without an owner).

pub fn code<T: sea_orm::ActiveEnum<Value = String>>(v: T) -> String {
    v.to_value()
}

use entity::enums::{CaseState, PucProjectState, ResidencyCheckState};

/// States in which a case is over for its case manager.
pub const CASE_CLOSED: [CaseState; 2] = [CaseState::Chiuso, CaseState::Trasferito];
/// States in which a residency check is over: its officer's work is done.
pub const RESIDENCY_CHECK_CLOSED: [ResidencyCheckState; 3] =
    [ResidencyCheckState::EsitoPositivo, ResidencyCheckState::EsitoNegativo, ResidencyCheckState::InviatoInps];
/// States in which a PUC project is over for its manager.
pub const PUC_PROJECT_CLOSED: [PucProjectState; 2] = [PucProjectState::Concluso, PucProjectState::Annullato];
