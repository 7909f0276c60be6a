//! Root fields of cases: `cases(first, after, filter, orderBy)` and `case(id)`.

use async_graphql::{Context, Enum, InputObject, Object, ID};
use chrono::Duration;
use entity::{case_file, enums};
use sea_orm::{ColumnTrait, Condition, QueryFilter, Value};

use super::model::{today, FIRST_MEETING_DAYS};
use crate::{
    authz::gateway::{Direction, PageArgs, SortKey},
    error::{AppError, GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        enums::{CaseStateView, PathwayTypeView},
        node::by_id,
        roots::{gateway, istat_arg, uuid_arg, DateRange},
        views::CaseView,
    },
};

/// Filters of `cases`.
#[derive(InputObject, Default)]
pub struct CaseFilter {
    /// Only cases in these states.
    pub state: Option<Vec<CaseStateView>>,
    /// Only cases of this Comune (ISTAT code).
    pub comune: Option<String>,
    /// Only cases whose PAD was signed in this range.
    pub pad_date: Option<DateRange>,
    /// Only cases whose first-meeting deadline falls within this many days (no meeting yet).
    pub due_within_days: Option<i32>,
    /// Only cases past the first-meeting deadline without a meeting (or, with false, the others).
    pub overdue: Option<bool>,
    /// Only cases with no case manager (or, with false, assigned ones).
    pub unassigned: Option<bool>,
    /// Only cases on this ADI pathway (sensitive: only roles that read it may filter by it).
    pub pathway_type: Option<PathwayTypeView>,
}

/// Order of `cases`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum CaseOrder {
    /// Oldest PAD first: the most urgent deadlines first (default).
    #[default]
    PadDateAsc,
    /// Newest PAD first.
    PadDateDesc,
}

#[derive(Default)]
pub struct CaseQuery;

#[Object]
impl CaseQuery {
    /// Cases the viewer may see.
    async fn cases(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<CaseFilter>,
        order_by: Option<CaseOrder>,
    ) -> GqlResult<Connection<CaseView>> {
        let gw = gateway(ctx)?;
        let authz = &gw.authz;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<case_file::Entity>().gql()?;
        if let Some(states) = f.state {
            authz.require_field("Case.state", "filtering").gql()?;
            s = s.filter(case_file::Column::State.is_in(states.into_iter().map(enums::CaseState::from)));
        }
        if let Some(c) = f.comune {
            authz.require_field("Case.comune", "filtering").gql()?;
            s = s.filter(case_file::Column::ComuneIstat.eq(istat_arg("filter.comune", &c)?));
        }
        if let Some(r) = f.pad_date {
            authz.require_field("Case.padDate", "filtering").gql()?;
            r.check("filter.padDate")?;
            if let Some(from) = r.from {
                s = s.filter(case_file::Column::PadDate.gte(from));
            }
            if let Some(to) = r.to {
                s = s.filter(case_file::Column::PadDate.lte(to));
            }
        }
        if let Some(n) = f.due_within_days {
            authz.require_field("Case.firstMeetingDeadline", "filtering").gql()?;
            authz.require_field("Case.firstMeetingOn", "filtering").gql()?;
            if !(0..=3650).contains(&n) {
                return Err(AppError::validation("filter.dueWithinDays", "must be between 0 and 3650")).gql();
            }
            // deadline = pad + 120 in [today, today + n]  <=>  pad in [today - 120, today + n - 120]
            let lo = today() - Duration::days(FIRST_MEETING_DAYS);
            let hi = today() + Duration::days(n as i64 - FIRST_MEETING_DAYS);
            s = s
                .filter(case_file::Column::FirstMeetingOn.is_null())
                .filter(case_file::Column::PadDate.gte(lo))
                .filter(case_file::Column::PadDate.lte(hi));
        }
        if let Some(o) = f.overdue {
            authz.require_field("Case.overdue", "filtering").gql()?;
            let limit = today() - Duration::days(FIRST_MEETING_DAYS);
            s = if o {
                s.filter(case_file::Column::FirstMeetingOn.is_null()).filter(case_file::Column::PadDate.lt(limit))
            } else {
                s.filter(Condition::any().add(case_file::Column::FirstMeetingOn.is_not_null()).add(case_file::Column::PadDate.gte(limit)))
            };
        }
        if let Some(u) = f.unassigned {
            authz.require_field("Case.caseManager", "filtering").gql()?;
            s = if u {
                s.filter(case_file::Column::CaseManagerId.is_null())
            } else {
                s.filter(case_file::Column::CaseManagerId.is_not_null())
            };
        }
        if let Some(p) = f.pathway_type {
            authz.require_field("Case.pathwayType", "filtering").gql()?;
            s = s.filter(case_file::Column::PathwayType.eq(enums::PathwayType::from(p)));
        }
        let direction = match order_by.unwrap_or_default() {
            CaseOrder::PadDateAsc => Direction::Asc,
            CaseOrder::PadDateDesc => Direction::Desc,
        };
        authz.require_field("Case.padDate", "ordering").gql()?;
        let sort = SortKey::<case_file::Entity> {
            column: case_file::Column::PadDate,
            id: case_file::Column::Id,
            direction,
            value_of: |r| (Value::from(r.pad_date), r.id),
        };
        let page = gw.page(s, &sort, &PageArgs { first, after }).await.gql()?;
        Ok(Connection::from_page(page, CaseView))
    }

    /// One case by id; an id out of the viewer's scope answers like a missing one.
    async fn case(&self, ctx: &Context<'_>, id: ID) -> GqlResult<CaseView> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "Case", &id)?;
        Ok(CaseView(by_id::<case_file::Entity>(gw, case_file::Column::Id, id, "Case").await.gql()?))
    }
}
