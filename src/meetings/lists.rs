//! The meeting lists: filters turned into conditions under the field rules
//! (no filtering by a field the role cannot read on every row), and the
//! calendar of a Comune or an operator. Rows are read through the gateway,
//! under the role's row rule.

use chrono::NaiveDate;
use entity::{enums::MeetingState, meeting, office_slot};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{
    authz::{gateway::Gateway, keys, Object, RequestAuthz},
    calendar::{midnight, DayRange},
    error::AppError,
    territory::model::IstatCode,
};

/// Filters of the meeting list, decoded.
#[derive(Default)]
pub struct MeetingFilter {
    pub states: Option<Vec<MeetingState>>,
    /// ISTAT code of the Comune of the office.
    pub comune: Option<String>,
    pub scheduled: Option<DayRange>,
}

/// The meetings matching `f`.
pub fn meeting_list(authz: &RequestAuthz, f: MeetingFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(states) = f.states {
        authz.require_field(keys::meeting::STATE, "filtering")?;
        c = c.add(meeting::Column::State.is_in(states));
    }
    if let Some(comune) = f.comune {
        authz.require_field(keys::meeting::COMUNE, "filtering")?;
        let comune = IstatCode::parse_at("filter.comune", &comune)?;
        c = c.add(meeting::Column::ComuneIstat.eq(comune));
    }
    if let Some(r) = f.scheduled {
        authz.require_field(keys::meeting::SCHEDULED_AT, "filtering")?;
        crate::workflow::check_range("filter.scheduled", &r)?;
        if let Some(from) = r.start() {
            c = c.add(meeting::Column::ScheduledAt.gte(from));
        }
        if let Some(end) = r.end() {
            c = c.add(meeting::Column::ScheduledAt.lt(end));
        }
    }
    Ok(c)
}

/// The longest span the calendar covers at once, in days.
pub const CALENDAR_MAX_DAYS: i64 = 92;

/// A calendar: meetings and office slots over a range, in time order, each
/// slot with whether a planned or convened meeting takes it.
pub struct Calendar {
    pub meetings: Vec<meeting::Model>,
    pub slots: Vec<(office_slot::Model, bool)>,
}

/// The calendar over [`from`, `to`], of one Comune (ISTAT code) or one
/// operator when given; slots only for roles that read them.
pub async fn calendar(
    gw: &Gateway,
    (from, to): (NaiveDate, NaiveDate),
    comune: Option<String>,
    operator: Option<Uuid>,
) -> Result<Calendar, AppError> {
    if to < from {
        return Err(AppError::validation("to", "before `from`"));
    }
    if (to - from).num_days() > CALENDAR_MAX_DAYS {
        return Err(AppError::Limit(format!("the calendar covers at most {CALENDAR_MAX_DAYS} days at once")));
    }
    let (start, end) = (midnight(from), midnight(to + chrono::Duration::days(1)));
    let mut mq = gw
        .select::<meeting::Entity>()?
        .filter(meeting::Column::ScheduledAt.gte(start))
        .filter(meeting::Column::ScheduledAt.lt(end));
    let mut sq = if gw.authz.can_read(Object::OfficeSlot) {
        Some(
            gw.select::<office_slot::Entity>()?
                .filter(office_slot::Column::StartsAt.gte(start))
                .filter(office_slot::Column::StartsAt.lt(end)),
        )
    } else {
        None
    };
    if let Some(c) = comune {
        let c = IstatCode::parse_at("comune", &c)?;
        gw.authz.require_field(keys::meeting::COMUNE, "filtering")?;
        mq = mq.filter(meeting::Column::ComuneIstat.eq(c.clone()));
        sq = sq.map(|q| q.filter(office_slot::Column::ComuneIstat.eq(c)));
    }
    if let Some(o) = operator {
        gw.authz.require_field(keys::meeting::OPERATOR, "filtering")?;
        mq = mq.filter(meeting::Column::OperatorId.eq(o));
        sq = sq.map(|q| q.filter(office_slot::Column::OperatorId.eq(o)));
    }
    let meetings =
        mq.order_by_asc(meeting::Column::ScheduledAt).order_by_asc(meeting::Column::Id).all(&gw.reads).await?;
    let slots = match sq {
        Some(q) => q.order_by_asc(office_slot::Column::StartsAt).all(&gw.reads).await?,
        None => Vec::new(),
    };
    let booked = |s: &office_slot::Model| {
        meetings.iter().any(|m| {
            m.scheduled_at == s.starts_at
                && m.place == s.place
                && matches!(m.state, MeetingState::Pianificato | MeetingState::Convocato)
        })
    };
    let slots = slots
        .into_iter()
        .map(|s| {
            let b = booked(&s);
            (s, b)
        })
        .collect();
    Ok(Calendar { meetings, slots })
}
