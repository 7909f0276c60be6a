//! The case list: filters and ordering turned into conditions under the field
//! rules (no filtering or ordering by a field the role cannot read on every row).

use chrono::Duration;
use entity::{
    case_file,
    enums::{CaseState, PathwayType, Role},
};
use sea_orm::{ColumnTrait, Condition};

use super::model::FIRST_MEETING_DAYS;
use crate::{
    authz::{keys, RequestAuthz},
    calendar::{today, DayRange},
    error::AppError,
    operators::service::without_owner,
    territory::model::IstatCode,
    workflow::check_range,
};

/// The states in which a case's deadlines no longer run (`model::ended`).
const ENDED: [CaseState; 2] = [CaseState::Chiuso, CaseState::Trasferito];

/// Filters of the case list, decoded.
#[derive(Default)]
pub struct CaseFilter {
    pub states: Option<Vec<CaseState>>,
    /// ISTAT code of the Comune of the case.
    pub comune: Option<String>,
    pub pad_date: Option<DayRange>,
    /// First-meeting deadline within this many days, no meeting yet.
    pub due_within_days: Option<i32>,
    /// Past the first-meeting deadline without a meeting (true), or the others.
    pub overdue: Option<bool>,
    /// No case manager (true), or assigned (false).
    pub unassigned: Option<bool>,
    /// The global id of one case manager (an `Operator`).
    pub case_manager: Option<String>,
    /// The case manager holds no case-manager profile in force (true), or the others.
    pub to_reassign: Option<bool>,
    pub pathway_type: Option<PathwayType>,
}

/// The cases matching `f`.
pub fn case_list(authz: &RequestAuthz, f: CaseFilter) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let Some(states) = f.states {
        authz.require_field(keys::case::STATE, "filtering")?;
        c = c.add(case_file::Column::State.is_in(states));
    }
    if let Some(comune) = f.comune {
        authz.require_field(keys::case::COMUNE, "filtering")?;
        c = c.add(case_file::Column::ComuneIstat.eq(IstatCode::parse_at("filter.comune", &comune)?));
    }
    if let Some(r) = f.pad_date {
        authz.require_field(keys::case::PAD_DATE, "filtering")?;
        check_range("filter.padDate", &r)?;
        if let Some(from) = r.from {
            c = c.add(case_file::Column::PadDate.gte(from));
        }
        if let Some(to) = r.to {
            c = c.add(case_file::Column::PadDate.lte(to));
        }
    }
    if let Some(n) = f.due_within_days {
        authz.require_field(keys::case::FIRST_MEETING_DEADLINE, "filtering")?;
        authz.require_field(keys::case::FIRST_MEETING_ON, "filtering")?;
        if !(0..=3650).contains(&n) {
            return Err(AppError::validation("filter.dueWithinDays", "must be between 0 and 3650"));
        }
        // deadline = pad + 120 in [today, today + n]  <=>  pad in [today - 120, today + n - 120]
        let lo = today() - Duration::days(FIRST_MEETING_DAYS);
        let hi = today() + Duration::days(n as i64 - FIRST_MEETING_DAYS);
        c = c
            .add(case_file::Column::FirstMeetingOn.is_null())
            .add(case_file::Column::State.is_not_in(ENDED))
            .add(case_file::Column::PadDate.gte(lo))
            .add(case_file::Column::PadDate.lte(hi));
    }
    if let Some(o) = f.overdue {
        authz.require_field(keys::case::OVERDUE, "filtering")?;
        let limit = today() - Duration::days(FIRST_MEETING_DAYS);
        // As `Case.overdue`: an open case past the deadline without a meeting.
        c = c.add(if o {
            Condition::all()
                .add(case_file::Column::FirstMeetingOn.is_null())
                .add(case_file::Column::State.is_not_in(ENDED))
                .add(case_file::Column::PadDate.lt(limit))
        } else {
            Condition::any()
                .add(case_file::Column::FirstMeetingOn.is_not_null())
                .add(case_file::Column::State.is_in(ENDED))
                .add(case_file::Column::PadDate.gte(limit))
        });
    }
    if let Some(u) = f.unassigned {
        authz.require_field(keys::case::CASE_MANAGER, "filtering")?;
        c = c.add(if u {
            case_file::Column::CaseManagerId.is_null()
        } else {
            case_file::Column::CaseManagerId.is_not_null()
        });
    }
    if let Some(id) = f.case_manager {
        authz.require_field(keys::case::CASE_MANAGER, "filtering")?;
        let op = crate::ids::decode_uuid("filter.caseManagerId", "Operator", &id)?;
        c = c.add(case_file::Column::CaseManagerId.eq(op));
    }
    if let Some(r) = f.to_reassign {
        authz.require_reassign(keys::case::CASE_MANAGER)?;
        let orphan = without_owner(case_file::Column::CaseManagerId, Role::CaseManager, today());
        c = c.add(if r { orphan } else { orphan.not() });
    }
    if let Some(p) = f.pathway_type {
        authz.require_field(keys::case::PATHWAY_TYPE, "filtering")?;
        c = c.add(case_file::Column::PathwayType.eq(p));
    }
    Ok(c)
}

/// Ordering the case list by PAD date needs the field on every row.
pub fn may_order_by_pad_date(authz: &RequestAuthz) -> Result<(), AppError> {
    authz.require_field(keys::case::PAD_DATE, "ordering")
}
