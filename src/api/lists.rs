//! What the read roots of every domain share: the date range input, the sort
//! key of a list, and the page of a list under the row rule.

use async_graphql::{Context, InputObject};
use sea_orm::{Condition, QueryFilter};

use crate::graphql::scalars::Date;
use crate::{
    authz::gateway::{Gateway, PageArgs, Projected, SortKey},
    calendar::DayRange,
    error::{AppError, GqlResult, ResultExt},
    graphql::{connection::Connection, context::gateway},
};

/// Date range on a list.
#[derive(InputObject, Default)]
pub struct DateRange {
    /// From this day (inclusive).
    pub from: Option<Date>,
    /// To this day (inclusive).
    pub to: Option<Date>,
}

impl From<DateRange> for DayRange {
    fn from(r: DateRange) -> DayRange {
        DayRange { from: r.from.map(Into::into), to: r.to.map(Into::into) }
    }
}

/// The sort key of a list: `sort!(entity, Column, direction, |row| value)`,
/// with the row id as tie-breaker (keyset cursors).
macro_rules! sort {
    ($m:ident, $col:ident, $dir:expr, $val:expr) => {
        $crate::authz::gateway::SortKey::<$m::Entity> {
            column: $m::Column::$col,
            id: $m::Column::Id,
            direction: $dir,
            value_of: |r: &$m::Model| (sea_orm::Value::from($val(r)), r.id),
        }
    };
}
pub(crate) use sort;

/// One page of the rows of `E` under the row rule that match the condition
/// `filter` builds (after the row rule: a role that may not read `E` at all is
/// refused before its filters are looked at), in the order of `sort`, as a
/// connection of views.
pub async fn page_of<E: Projected, V>(
    ctx: &Context<'_>,
    filter: impl FnOnce(&Gateway) -> Result<Condition, AppError>,
    sort: &SortKey<E>,
    (first, after): (Option<i32>, Option<String>),
    view: fn(E::Model) -> V,
) -> GqlResult<Connection<V>> {
    let gw = gateway(ctx)?;
    let s = gw.select::<E>().gql()?;
    let s = s.filter(filter(gw).gql()?);
    let page = gw.page(s, sort, &PageArgs { first, after }).await.gql()?;
    Ok(Connection::from_page(page, view))
}

/// No filter.
pub fn all(_: &Gateway) -> Result<Condition, AppError> {
    Ok(Condition::all())
}
