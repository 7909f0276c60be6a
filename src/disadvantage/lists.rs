//! The list of disadvantage validation requests: filters turned into
//! conditions under the field rules.

use entity::{disadvantage_check, enums::DisadvantageState};
use sea_orm::{ColumnTrait, Condition};

use super::model::DISADVANTAGE_RESPONSE_DAYS;
use crate::{
    authz::{keys, RequestAuthz},
    calendar::{today, DayRange},
    error::AppError,
};

/// Filters of the request list, decoded.
#[derive(Default)]
pub struct DisadvantageCheckFilter {
    pub states: Option<Vec<DisadvantageState>>,
    pub received: Option<DayRange>,
    /// Past the 60-day deadline without a decision (true), or the others (false).
    pub expired_by_silence: Option<bool>,
}

/// The requests matching `f`.
pub fn check_list(authz: &RequestAuthz, f: DisadvantageCheckFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(states) = f.states {
        authz.require_field(keys::disadvantage_check::STATE, "filtering")?;
        c = c.add(disadvantage_check::Column::State.is_in(states));
    }
    if let Some(r) = f.received {
        authz.require_field(keys::disadvantage_check::RECEIVED_ON, "filtering")?;
        crate::workflow::check_range("filter.received", &r)?;
        if let Some(from) = r.from {
            c = c.add(disadvantage_check::Column::ReceivedOn.gte(from));
        }
        if let Some(to) = r.to {
            c = c.add(disadvantage_check::Column::ReceivedOn.lte(to));
        }
    }
    if let Some(e) = f.expired_by_silence {
        authz.require_field(keys::disadvantage_check::EXPIRED_BY_SILENCE, "filtering")?;
        let limit = today() - chrono::Duration::days(DISADVANTAGE_RESPONSE_DAYS);
        let open = [DisadvantageState::Ricevuta, DisadvantageState::InVerifica];
        let expired = Condition::all()
            .add(disadvantage_check::Column::State.is_in(open))
            .add(disadvantage_check::Column::ReceivedOn.lt(limit));
        c = c.add(if e { expired } else { expired.not() });
    }
    Ok(c)
}
