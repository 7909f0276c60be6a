//! The residency check list: filters turned into conditions under the field rules.

use entity::{
    enums::{ResidencyCheckState, Role},
    residency_check,
};
use sea_orm::{ColumnTrait, Condition};

use crate::{
    authz::{keys, RequestAuthz},
    calendar::today,
    codes::RESIDENCY_CHECK_CLOSED,
    error::AppError,
    operators::service::without_owner,
};

/// Filters of the residency check list, decoded.
#[derive(Default)]
pub struct ResidencyCheckFilter {
    pub states: Option<Vec<ResidencyCheckState>>,
    /// Past the deadline without an outcome (true), or the others (false).
    pub overdue: Option<bool>,
    /// Open checks whose officer holds no officer profile in force (true), or
    /// the others (false).
    pub to_reassign: Option<bool>,
}

/// The checks matching `f`.
pub fn check_list(authz: &RequestAuthz, f: ResidencyCheckFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(states) = f.states {
        authz.require_field(keys::residency_check::STATE, "filtering")?;
        c = c.add(residency_check::Column::State.is_in(states));
    }
    if let Some(o) = f.overdue {
        authz.require_field(keys::residency_check::OVERDUE, "filtering")?;
        let today = today();
        c = c.add(if o {
            Condition::all()
                .add(residency_check::Column::Outcome.is_null())
                .add(residency_check::Column::DueOn.lt(today))
        } else {
            Condition::any()
                .add(residency_check::Column::Outcome.is_not_null())
                .add(residency_check::Column::DueOn.gte(today))
        });
    }
    if let Some(r) = f.to_reassign {
        authz.require_reassign(keys::residency_check::OFFICER)?;
        let orphan = Condition::all()
            .add(residency_check::Column::State.is_not_in(RESIDENCY_CHECK_CLOSED))
            .add(without_owner(residency_check::Column::OfficerId, Role::RegistryCheckOfficer, today()));
        c = c.add(if r { orphan } else { orphan.not() });
    }
    Ok(c)
}
