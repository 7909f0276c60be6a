//! The operator list: filters turned into conditions under the field rules.
//! The profile filters match a profile the viewer may read (under its own
//! Profile rule), in force today, all on the same profile: an operator is
//! never found through a profile the viewer could not read.

use entity::{
    enums::{FundingSource, OperatorStatus, ProfileStatus, Role},
    operator, profile, profile_comune,
};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QuerySelect, QueryTrait};

use super::model::paid_by;
use crate::unscoped::Unscoped;
use crate::{
    authz::{gateway::Gateway, keys},
    calendar::today,
    error::AppError,
    territory::model::IstatCode,
    workflow::within_days,
};

/// Filters of the operator list, decoded.
#[derive(Default)]
pub struct OperatorFilter {
    pub status: Option<Vec<OperatorStatus>>,
    pub role: Option<Role>,
    /// ISTAT code of a Comune a profile covers.
    pub comune: Option<String>,
    pub funding_source: Option<FundingSource>,
    /// A profile whose validity ends within this many days from today.
    pub expiring_within_days: Option<i32>,
}

/// The operators matching `f`.
pub fn operator_list(gw: &Gateway, f: OperatorFilter) -> Result<Condition, AppError> {
    let authz = &gw.authz;
    let mut c = Condition::all();
    if let Some(states) = f.status {
        authz.require_field(keys::operator::STATUS, "filtering")?;
        c = c.add(operator::Column::Status.is_in(states));
    }
    if f.role.is_none() && f.comune.is_none() && f.funding_source.is_none() && f.expiring_within_days.is_none() {
        return Ok(c);
    }
    let today = today();
    let mut p = gw
        .select::<profile::Entity>()?
        .filter(profile::Column::Status.eq(ProfileStatus::Active))
        .filter(profile::Column::ValidFrom.lte(today))
        .filter(Condition::any().add(profile::Column::ValidTo.is_null()).add(profile::Column::ValidTo.gte(today)));
    if let Some(r) = f.role {
        authz.require_field(keys::profile::ROLE, "filtering")?;
        p = p.filter(profile::Column::Role.eq(r));
    }
    if let Some(comune) = f.comune {
        authz.require_field(keys::profile::COMUNI, "filtering")?;
        // The link rows of the profiles above: the subquery is limited by them.
        let covering = Unscoped::Child
            .find::<profile_comune::Entity>()
            .select_only()
            .column(profile_comune::Column::ProfileId)
            .filter(profile_comune::Column::ComuneIstat.eq(IstatCode::parse_at("filter.comune", &comune)?))
            .into_query();
        p = p.filter(profile::Column::Id.in_subquery(covering));
    }
    if let Some(fund) = f.funding_source {
        authz.require_field(keys::profile::FUNDING_SOURCES, "filtering")?;
        p = p.filter(paid_by(fund));
    }
    if let Some(days) = f.expiring_within_days {
        authz.require_field(keys::profile::VALID_TO, "filtering")?;
        let (_, to) = within_days("filter.expiringWithinDays", days)?;
        p = p.filter(profile::Column::ValidTo.lte(to));
    }
    Ok(c.add(operator::Column::Id.in_subquery(p.select_only().column(profile::Column::OperatorId).into_query())))
}
