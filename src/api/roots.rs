//! Root fields of the read graph, other than cases (see `api::cases`). Each
//! is thin: the request's gateway applies the row rule, filters are checked
//! against the field rules (no filtering or ordering by a field the role cannot
//! read), and rows map to the governed views.

use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{enums, *};
use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, Value};

use super::{
    node::{node, Node},
    views::*,
};
use crate::authz::keys;
pub use crate::graphql::context::{acting, gateway, uuid_arg};
use crate::{
    authz::gateway::{Direction, PageArgs, SortKey},
    error::{AppError, GqlResult, ResultExt},
    graphql::{connection::Connection, enums::*, node::by_id},
    territory::model::IstatCode,
};

pub fn istat_arg(field: &str, s: &str) -> GqlResult<String> {
    IstatCode::parse(s).map(|c| c.as_str().to_string()).map_err(|e| AppError::validation(field, e.to_string())).gql()
}

macro_rules! sort {
    ($m:ident, $col:ident, $dir:expr, $val:expr) => {
        SortKey::<$m::Entity> {
            column: $m::Column::$col,
            id: $m::Column::Id,
            direction: $dir,
            value_of: |r: &$m::Model| (Value::from($val(r)), r.id),
        }
    };
}

/// Date range on a list.
#[derive(InputObject, Default)]
pub struct DateRange {
    /// From this day (inclusive).
    pub from: Option<NaiveDate>,
    /// To this day (inclusive).
    pub to: Option<NaiveDate>,
}

impl DateRange {
    pub fn check(&self, field: &str) -> GqlResult<()> {
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if f > t {
                return Err(AppError::validation(field, "`from` is after `to`")).gql();
            }
        }
        Ok(())
    }
}

/// Filters of `meetings`.
#[derive(InputObject, Default)]
pub struct MeetingFilter {
    /// Only meetings in these states.
    #[graphql(visible = "crate::graphql::visibility::meeting_state")]
    pub state: Option<Vec<MeetingStateView>>,
    /// Only meetings at the office of this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::meeting_comune")]
    pub comune: Option<String>,
    /// Only meetings scheduled in this range.
    #[graphql(visible = "crate::graphql::visibility::meeting_scheduled")]
    pub scheduled: Option<DateRange>,
}

/// Filters of `residencyChecks`.
#[derive(InputObject, Default)]
pub struct ResidencyCheckFilter {
    /// Only checks in these states.
    #[graphql(visible = "crate::graphql::visibility::residency_check_state")]
    pub state: Option<Vec<ResidencyCheckStateView>>,
    /// Only checks past their deadline without an outcome.
    #[graphql(visible = "crate::graphql::visibility::residency_check_overdue")]
    pub overdue: Option<bool>,
    /// Only open checks whose officer no longer holds an officer profile in
    /// force (revoked, suspended, expired): work to reassign (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::residency_check_unassigned")]
    pub to_reassign: Option<bool>,
}

/// Filters of `disadvantageChecks`.
#[derive(InputObject, Default)]
pub struct DisadvantageCheckFilter {
    /// Only requests in these stored states.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_state")]
    pub state: Option<Vec<DisadvantageStateView>>,
    /// Only requests received in this range.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_received")]
    pub received: Option<DateRange>,
    /// Only requests past the 60-day deadline without a decision (counted as
    /// confirmed), or, with false, the others.
    #[graphql(visible = "crate::graphql::visibility::disadvantage_check_expired")]
    pub expired_by_silence: Option<bool>,
}

/// Filters of `pucProjects`.
#[derive(InputObject, Default)]
pub struct PucProjectFilter {
    /// Only projects of this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::puc_project_comune")]
    pub comune: Option<String>,
    /// Only projects in this field of activity.
    #[graphql(visible = "crate::graphql::visibility::puc_project_field")]
    pub field: Option<PucFieldView>,
    /// Only projects in these states.
    #[graphql(visible = "crate::graphql::visibility::puc_project_state")]
    pub state: Option<Vec<PucProjectStateView>>,
    /// Only projects whose Responsabile PUC no longer holds a PUC-manager
    /// profile in force: work to reassign (or, with false, the others).
    #[graphql(visible = "crate::graphql::visibility::puc_project_unassigned")]
    pub to_reassign: Option<bool>,
}

/// Filters of `operators`. The profile filters match a profile the viewer may
/// read, in force today (active and within its validity), all on the same profile.
#[derive(InputObject, Default)]
pub struct OperatorFilter {
    /// Only operators in these accreditation states.
    #[graphql(visible = "crate::graphql::visibility::operator_status")]
    pub status: Option<Vec<OperatorStatusView>>,
    /// Only operators with a profile of this role.
    #[graphql(visible = "crate::graphql::visibility::profile_role")]
    pub role: Option<RoleView>,
    /// Only operators with a profile covering this Comune (ISTAT code).
    #[graphql(visible = "crate::graphql::visibility::profile_comuni")]
    pub comune: Option<String>,
    /// Only operators with a profile paid by this fund.
    #[graphql(visible = "crate::graphql::visibility::profile_funding_sources")]
    pub funding_source: Option<FundingSourceView>,
    /// Only operators with a profile whose validity ends within this many days
    /// from today (0-3650), today included.
    #[graphql(visible = "crate::graphql::visibility::profile_valid_to")]
    pub expiring_within_days: Option<i32>,
}

/// Filters of `auditEvents`.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Only events about this entity (e.g. `case_file`).
    pub entity: Option<String>,
    /// Only events about this entity id.
    pub entity_id: Option<String>,
    /// Only events of this action.
    pub action: Option<AuditActionView>,
    /// Only events from this instant.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ReadQuery;

#[Object]
impl ReadQuery {
    /// Any object by its global id.
    #[graphql(visible = "crate::graphql::visibility::node")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Node> {
        node(ctx, gateway(ctx)?, &id).await
    }

    /// Ambiti territoriali the viewer may see, by name.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_ambito"
    )]
    async fn ambiti(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<AmbitoView>> {
        let gw = gateway(ctx)?;
        let s = gw.select::<ambito::Entity>().gql()?;
        let page = gw
            .page(
                s,
                &sort!(ambito, Name, Direction::Asc, |r: &ambito::Model| r.name.clone()),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, AmbitoView))
    }

    /// Comuni the viewer may see, by name (a small reference table: not paginated).
    #[graphql(visible = "crate::graphql::visibility::reads_comune")]
    async fn comuni(&self, ctx: &Context<'_>, ambito_id: Option<ID>) -> GqlResult<Vec<ComuneView>> {
        let gw = gateway(ctx)?;
        let mut s = gw.select::<comune::Entity>().gql()?;
        if let Some(a) = ambito_id {
            s = s.filter(comune::Column::AmbitoId.eq(uuid_arg("ambitoId", "Ambito", &a)?));
        }
        Ok(s.order_by_asc(comune::Column::Name)
            .all(&gw.db)
            .await
            .map_err(AppError::from)
            .gql()?
            .into_iter()
            .map(ComuneView)
            .collect())
    }

    /// Conventions of the Comuni the viewer may see, newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_convention"
    )]
    async fn conventions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(
            desc = "Only conventions whose validity ends within this many days from today (0-3650), today included; see `dependentProfiles`."
        )]
        expiring_within_days: Option<i32>,
    ) -> GqlResult<Connection<ConventionView>> {
        let gw = gateway(ctx)?;
        let mut s = gw.select::<convention::Entity>().gql()?;
        if let Some(days) = expiring_within_days {
            let (from, to) = crate::operators::model::within_days("expiringWithinDays", days).gql()?;
            s = s.filter(convention::Column::ValidTo.gte(from)).filter(convention::Column::ValidTo.lte(to));
        }
        let page = gw
            .page(
                s,
                &sort!(convention, SignedOn, Direction::Desc, |r: &convention::Model| r.signed_on),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, ConventionView))
    }

    /// Operators the viewer may see, by surname.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_operator"
    )]
    async fn operators(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<OperatorFilter>,
    ) -> GqlResult<Connection<OperatorView>> {
        use sea_orm::{EntityTrait, QuerySelect, QueryTrait};
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<operator::Entity>().gql()?;
        if let Some(states) = f.status {
            gw.authz.require_field(keys::operator::STATUS, "filtering").gql()?;
            s = s.filter(operator::Column::Status.is_in(states.into_iter().map(enums::OperatorStatus::from)));
        }
        if f.role.is_some() || f.comune.is_some() || f.funding_source.is_some() || f.expiring_within_days.is_some() {
            // Profiles under the viewer's own Profile rule: an operator is never
            // found through a profile the viewer could not read.
            let today = crate::calendar::today();
            let mut p = gw
                .select::<profile::Entity>()
                .gql()?
                .filter(profile::Column::Status.eq(enums::ProfileStatus::Active))
                .filter(profile::Column::ValidFrom.lte(today))
                .filter(
                    Condition::any().add(profile::Column::ValidTo.is_null()).add(profile::Column::ValidTo.gte(today)),
                );
            if let Some(r) = f.role {
                gw.authz.require_field(keys::profile::ROLE, "filtering").gql()?;
                p = p.filter(profile::Column::Role.eq(enums::Role::from(r)));
            }
            if let Some(c) = f.comune {
                gw.authz.require_field(keys::profile::COMUNI, "filtering").gql()?;
                let covering = profile_comune::Entity::find()
                    .select_only()
                    .column(profile_comune::Column::ProfileId)
                    .filter(profile_comune::Column::ComuneIstat.eq(istat_arg("filter.comune", &c)?))
                    .into_query();
                p = p.filter(profile::Column::Id.in_subquery(covering));
            }
            if let Some(fund) = f.funding_source {
                gw.authz.require_field(keys::profile::FUNDING_SOURCES, "filtering").gql()?;
                p = p.filter(crate::operators::model::paid_by(enums::FundingSource::from(fund)));
            }
            if let Some(days) = f.expiring_within_days {
                gw.authz.require_field(keys::profile::VALID_TO, "filtering").gql()?;
                let (_, to) = crate::operators::model::within_days("filter.expiringWithinDays", days).gql()?;
                p = p.filter(profile::Column::ValidTo.lte(to));
            }
            s = s.filter(
                operator::Column::Id.in_subquery(p.select_only().column(profile::Column::OperatorId).into_query()),
            );
        }
        let page = gw
            .page(
                s,
                &sort!(operator, LastName, Direction::Asc, |r: &operator::Model| r.last_name.clone()),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, OperatorView))
    }

    /// One operator by id.
    #[graphql(visible = "crate::graphql::visibility::reads_operator")]
    async fn operator(&self, ctx: &Context<'_>, id: ID) -> GqlResult<OperatorView> {
        let gw = gateway(ctx)?;
        Ok(OperatorView(
            by_id::<operator::Entity>(gw, operator::Column::Id, uuid_arg("id", "Operator", &id)?, "Operator")
                .await
                .gql()?,
        ))
    }

    /// Households the viewer may see, oldest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_household"
    )]
    async fn households(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<HouseholdView>> {
        let gw = gateway(ctx)?;
        let s = gw.select::<household::Entity>().gql()?;
        let page = gw
            .page(
                s,
                &sort!(household, CreatedAt, Direction::Asc, |r: &household::Model| r.created_at),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, HouseholdView))
    }

    /// One household by id.
    #[graphql(visible = "crate::graphql::visibility::reads_household")]
    async fn household(&self, ctx: &Context<'_>, id: ID) -> GqlResult<HouseholdView> {
        let gw = gateway(ctx)?;
        Ok(HouseholdView(
            by_id::<household::Entity>(gw, household::Column::Id, uuid_arg("id", "Household", &id)?, "Household")
                .await
                .gql()?,
        ))
    }

    /// Meetings the viewer may see, in calendar order.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_meeting"
    )]
    async fn meetings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<MeetingFilter>,
    ) -> GqlResult<Connection<MeetingView>> {
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<meeting::Entity>().gql()?;
        if let Some(states) = f.state {
            gw.authz.require_field(keys::meeting::STATE, "filtering").gql()?;
            s = s.filter(meeting::Column::State.is_in(states.into_iter().map(enums::MeetingState::from)));
        }
        if let Some(c) = f.comune {
            gw.authz.require_field(keys::meeting::COMUNE, "filtering").gql()?;
            s = s.filter(meeting::Column::ComuneIstat.eq(istat_arg("filter.comune", &c)?));
        }
        if let Some(r) = f.scheduled {
            gw.authz.require_field(keys::meeting::SCHEDULED_AT, "filtering").gql()?;
            r.check("filter.scheduled")?;
            if let Some(from) = r.from {
                s = s.filter(meeting::Column::ScheduledAt.gte(from.and_hms_opt(0, 0, 0).expect("midnight").and_utc()));
            }
            if let Some(to) = r.to {
                s = s.filter(
                    meeting::Column::ScheduledAt
                        .lt((to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc()),
                );
            }
        }
        let page = gw
            .page(
                s,
                &sort!(meeting, ScheduledAt, Direction::Asc, |r: &meeting::Model| r.scheduled_at),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, MeetingView))
    }

    /// One meeting by id.
    #[graphql(visible = "crate::graphql::visibility::reads_meeting")]
    async fn meeting(&self, ctx: &Context<'_>, id: ID) -> GqlResult<MeetingView> {
        let gw = gateway(ctx)?;
        Ok(MeetingView(
            by_id::<meeting::Entity>(gw, meeting::Column::Id, uuid_arg("id", "Meeting", &id)?, "Meeting")
                .await
                .gql()?,
        ))
    }

    /// PUC projects the viewer may see, by start date.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_puc_project"
    )]
    async fn puc_projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PucProjectFilter>,
    ) -> GqlResult<Connection<PucProjectView>> {
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<puc_project::Entity>().gql()?;
        if let Some(c) = f.comune {
            gw.authz.require_field(keys::puc_project::COMUNE, "filtering").gql()?;
            s = s.filter(puc_project::Column::ComuneIstat.eq(istat_arg("filter.comune", &c)?));
        }
        if let Some(field) = f.field {
            gw.authz.require_field(keys::puc_project::FIELD, "filtering").gql()?;
            s = s.filter(puc_project::Column::Field.eq(enums::PucField::from(field)));
        }
        if let Some(states) = f.state {
            gw.authz.require_field(keys::puc_project::STATE, "filtering").gql()?;
            s = s.filter(puc_project::Column::State.is_in(states.into_iter().map(enums::PucProjectState::from)));
        }
        if let Some(r) = f.to_reassign {
            gw.authz.require_reassign(keys::puc_project::MANAGER).gql()?;
            let orphan = Condition::all()
                .add(puc_project::Column::State.is_not_in(crate::codes::PUC_PROJECT_CLOSED))
                .add(crate::operators::service::without_owner(
                    puc_project::Column::ManagerId,
                    enums::Role::PucManager,
                    crate::calendar::today(),
                ));
            s = if r { s.filter(orphan) } else { s.filter(orphan.not()) };
        }
        let page = gw
            .page(
                s,
                &sort!(puc_project, StartsOn, Direction::Asc, |r: &puc_project::Model| r.starts_on),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, PucProjectView))
    }

    /// One PUC project by id.
    #[graphql(visible = "crate::graphql::visibility::reads_puc_project")]
    async fn puc_project(&self, ctx: &Context<'_>, id: ID) -> GqlResult<PucProjectView> {
        let gw = gateway(ctx)?;
        Ok(PucProjectView(
            by_id::<puc_project::Entity>(gw, puc_project::Column::Id, uuid_arg("id", "PucProject", &id)?, "PucProject")
                .await
                .gql()?,
        ))
    }

    /// Residency checks the viewer may see, by deadline.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_residency_check"
    )]
    async fn residency_checks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ResidencyCheckFilter>,
    ) -> GqlResult<Connection<ResidencyCheckView>> {
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<residency_check::Entity>().gql()?;
        if let Some(states) = f.state {
            gw.authz.require_field(keys::residency_check::STATE, "filtering").gql()?;
            s = s
                .filter(residency_check::Column::State.is_in(states.into_iter().map(enums::ResidencyCheckState::from)));
        }
        if let Some(o) = f.overdue {
            gw.authz.require_field(keys::residency_check::OVERDUE, "filtering").gql()?;
            let today = crate::calendar::today();
            s = if o {
                s.filter(residency_check::Column::Outcome.is_null()).filter(residency_check::Column::DueOn.lt(today))
            } else {
                s.filter(
                    sea_orm::Condition::any()
                        .add(residency_check::Column::Outcome.is_not_null())
                        .add(residency_check::Column::DueOn.gte(today)),
                )
            };
        }
        if let Some(r) = f.to_reassign {
            gw.authz.require_reassign(keys::residency_check::OFFICER).gql()?;
            let orphan = Condition::all()
                .add(residency_check::Column::State.is_not_in(crate::codes::RESIDENCY_CHECK_CLOSED))
                .add(crate::operators::service::without_owner(
                    residency_check::Column::OfficerId,
                    enums::Role::RegistryCheckOfficer,
                    crate::calendar::today(),
                ));
            s = if r { s.filter(orphan) } else { s.filter(orphan.not()) };
        }
        let page = gw
            .page(
                s,
                &sort!(residency_check, DueOn, Direction::Asc, |r: &residency_check::Model| r.due_on),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, ResidencyCheckView))
    }

    /// One residency check by id.
    #[graphql(visible = "crate::graphql::visibility::reads_residency_check")]
    async fn residency_check(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ResidencyCheckView> {
        let gw = gateway(ctx)?;
        Ok(ResidencyCheckView(
            by_id::<residency_check::Entity>(
                gw,
                residency_check::Column::Id,
                uuid_arg("id", "ResidencyCheck", &id)?,
                "ResidencyCheck",
            )
            .await
            .gql()?,
        ))
    }

    /// Disadvantage validation requests the viewer may see, oldest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_disadvantage_check"
    )]
    async fn disadvantage_checks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DisadvantageCheckFilter>,
    ) -> GqlResult<Connection<DisadvantageCheckView>> {
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<disadvantage_check::Entity>().gql()?;
        if let Some(states) = f.state {
            gw.authz.require_field(keys::disadvantage_check::STATE, "filtering").gql()?;
            s = s.filter(
                disadvantage_check::Column::State.is_in(states.into_iter().map(enums::DisadvantageState::from)),
            );
        }
        if let Some(r) = f.received {
            gw.authz.require_field(keys::disadvantage_check::RECEIVED_ON, "filtering").gql()?;
            r.check("filter.received")?;
            if let Some(from) = r.from {
                s = s.filter(disadvantage_check::Column::ReceivedOn.gte(from));
            }
            if let Some(to) = r.to {
                s = s.filter(disadvantage_check::Column::ReceivedOn.lte(to));
            }
        }
        if let Some(e) = f.expired_by_silence {
            gw.authz.require_field(keys::disadvantage_check::EXPIRED_BY_SILENCE, "filtering").gql()?;
            let limit = crate::calendar::today()
                - chrono::Duration::days(crate::disadvantage::model::DISADVANTAGE_RESPONSE_DAYS);
            let open = [enums::DisadvantageState::Ricevuta, enums::DisadvantageState::InVerifica];
            let expired = sea_orm::Condition::all()
                .add(disadvantage_check::Column::State.is_in(open))
                .add(disadvantage_check::Column::ReceivedOn.lt(limit));
            s = if e { s.filter(expired) } else { s.filter(expired.not()) };
        }
        let page = gw
            .page(
                s,
                &sort!(disadvantage_check, ReceivedOn, Direction::Asc, |r: &disadvantage_check::Model| r.received_on),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, DisadvantageCheckView))
    }

    /// One disadvantage validation request by id.
    #[graphql(visible = "crate::graphql::visibility::reads_disadvantage_check")]
    async fn disadvantage_check(&self, ctx: &Context<'_>, id: ID) -> GqlResult<DisadvantageCheckView> {
        let gw = gateway(ctx)?;
        Ok(DisadvantageCheckView(
            by_id::<disadvantage_check::Entity>(
                gw,
                disadvantage_check::Column::Id,
                uuid_arg("id", "DisadvantageCheck", &id)?,
                "DisadvantageCheck",
            )
            .await
            .gql()?,
        ))
    }

    /// Segnalazioni the viewer may see, newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_report"
    )]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<ReportView>> {
        let gw = gateway(ctx)?;
        let s = gw.select::<report::Entity>().gql()?;
        let page = gw
            .page(
                s,
                &sort!(report, CreatedAt, Direction::Desc, |r: &report::Model| r.created_at),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, ReportView))
    }

    /// The audit trail the viewer may read (the Ambito administrator: its Ambito), newest first.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_audit_event"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditEventFilter>,
    ) -> GqlResult<Connection<AuditEventView>> {
        let gw = gateway(ctx)?;
        let f = filter.unwrap_or_default();
        let mut s = gw.select::<audit_event::Entity>().gql()?;
        if let Some(e) = f.entity {
            s = s.filter(audit_event::Column::Entity.eq(e));
        }
        if let Some(e) = f.entity_id {
            s = s.filter(audit_event::Column::EntityId.eq(e));
        }
        if let Some(a) = f.action {
            s = s.filter(audit_event::Column::Action.eq(enums::AuditAction::from(a)));
        }
        if let Some(t) = f.since {
            s = s.filter(audit_event::Column::OccurredAt.gte(t));
        }
        let page = gw
            .page(
                s,
                &sort!(audit_event, OccurredAt, Direction::Desc, |r: &audit_event::Model| r.occurred_at),
                &PageArgs { first, after },
            )
            .await
            .gql()?;
        Ok(Connection::from_page(page, AuditEventView))
    }
}
