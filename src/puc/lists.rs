//! The PUC project list: filters turned into conditions under the field rules.

use entity::{
    enums::{PucField, PucProjectState, Role},
    puc_project,
};
use sea_orm::{ColumnTrait, Condition};

use crate::{
    authz::{keys, RequestAuthz},
    calendar::today,
    codes::PUC_PROJECT_CLOSED,
    error::AppError,
    operators::service::without_owner,
    territory::model::IstatCode,
};

/// Filters of the PUC project list, decoded.
#[derive(Default)]
pub struct PucProjectFilter {
    /// ISTAT code of the Comune owning the project.
    pub comune: Option<String>,
    pub field: Option<PucField>,
    pub states: Option<Vec<PucProjectState>>,
    /// Open projects whose Responsabile PUC holds no PUC-manager profile in
    /// force (true), or the others (false).
    pub to_reassign: Option<bool>,
}

/// The projects matching `f`.
pub fn project_list(authz: &RequestAuthz, f: PucProjectFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(comune) = f.comune {
        authz.require_field(keys::puc_project::COMUNE, "filtering")?;
        let comune = IstatCode::parse_at("filter.comune", &comune)?;
        c = c.add(puc_project::Column::ComuneIstat.eq(comune));
    }
    if let Some(field) = f.field {
        authz.require_field(keys::puc_project::FIELD, "filtering")?;
        c = c.add(puc_project::Column::Field.eq(field));
    }
    if let Some(states) = f.states {
        authz.require_field(keys::puc_project::STATE, "filtering")?;
        c = c.add(puc_project::Column::State.is_in(states));
    }
    if let Some(r) = f.to_reassign {
        authz.require_reassign(keys::puc_project::MANAGER)?;
        let orphan = Condition::all().add(puc_project::Column::State.is_not_in(PUC_PROJECT_CLOSED)).add(without_owner(
            puc_project::Column::ManagerId,
            Role::PucManager,
            today(),
        ));
        c = c.add(if r { orphan } else { orphan.not() });
    }
    Ok(c)
}
