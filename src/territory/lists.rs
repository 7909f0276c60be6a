//! The territory lists: filters turned into conditions.

use entity::{comune, convention};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use crate::{error::AppError, workflow::within_days};

/// The Comuni of one Ambito, when given.
pub fn comune_list(ambito: Option<Uuid>) -> Condition {
    let c = Condition::all();
    match ambito {
        Some(a) => c.add(comune::Column::AmbitoId.eq(a)),
        None => c,
    }
}

/// The conventions whose validity ends within `expiring_within_days` from
/// today, when given.
pub fn convention_list(expiring_within_days: Option<i32>) -> Result<Condition, AppError> {
    let c = Condition::all();
    let Some(days) = expiring_within_days else { return Ok(c) };
    let (from, to) = within_days("expiringWithinDays", days)?;
    Ok(c.add(convention::Column::ValidTo.gte(from)).add(convention::Column::ValidTo.lte(to)))
}
