//! Mutations of accreditation (thin: decode ids, one service call, re-read the
//! result through the same authorization as any read).

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use entity::{operator, profile};

use super::lists::{page_of, sort};
use crate::operators::{
    lists,
    service::{self, OperatorChange, OrphanedWork, PersonInput, ProfileChange, ProfileEdit, ProfileInput},
};
use crate::{
    api::views::{OperatorView, ProfileView},
    authz::gateway::Direction,
    error::{GqlResult, ResultExt},
    graphql::{
        connection::Connection,
        context::{gateway, uuid_arg},
        enums::{FundingSourceView, OperatorStatusView, RoleView},
        node::by_id,
    },
};

use crate::graphql::context::acting;
use crate::graphql::scalars::Date;

/// A person as the administrator records them.
#[derive(InputObject)]
pub struct AddOperatorInput {
    /// Codice fiscale (the identity SPID asserts at login).
    pub fiscal_code: String,
    /// Nome.
    pub first_name: String,
    /// Cognome.
    pub last_name: String,
    /// Institutional e-mail address.
    pub email: String,
    /// Institutional phone.
    pub phone: Option<String>,
}

impl From<&AddOperatorInput> for PersonInput {
    fn from(i: &AddOperatorInput) -> Self {
        PersonInput {
            fiscal_code: i.fiscal_code.clone(),
            first_name: i.first_name.clone(),
            last_name: i.last_name.clone(),
            email: i.email.clone(),
            phone: i.phone.clone(),
        }
    }
}

/// Input of `accreditProfile`.
#[derive(InputObject)]
pub struct AccreditProfileInput {
    /// The operator (of the administrator's Ambito).
    pub operator_id: ID,
    /// The operator's version.
    pub version: i32,
    /// Role of the profile (an operational role; never an administrator).
    pub role: RoleView,
    /// ISTAT codes of the Comuni of competence (of the Ambito; for Comune-level
    /// roles, with a convention for GePI in force).
    pub comuni: Vec<String>,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity; omitted when open-ended.
    pub valid_to: Option<Date>,
    /// Funds paying for the professional's contract.
    pub funding_sources: Vec<FundingSourceView>,
}

/// Input of `designateAmbitoAdmin`.
#[derive(InputObject)]
pub struct DesignateAmbitoAdminInput {
    /// The Ambito.
    pub ambito_id: ID,
    /// The person the Ambito named to the Ministry (recorded if new).
    pub person: AddOperatorInput,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity; omitted when open-ended.
    pub valid_to: Option<Date>,
    /// Revoke the administrator in force (its sessions end) instead of refusing.
    #[graphql(default)]
    pub replace: bool,
}

/// A change of a profile's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ProfileChange")]
pub enum ProfileChangeView {
    /// Active → suspended: its sessions end at once; it can be reinstated.
    Suspend,
    /// Suspended → active.
    Reinstate,
    /// Active or suspended → revoked, final: its sessions end at once.
    Revoke,
}

/// Input of `changeProfileStatus`.
#[derive(InputObject)]
pub struct ChangeProfileStatusInput {
    /// The profile.
    pub profile_id: ID,
    /// Its version.
    pub version: i32,
    /// What to do.
    pub change: ProfileChangeView,
}

/// Open work assigned to the operator that no profile in force covers any more:
/// the coordinators see it with the `toReassign` filters.
#[derive(SimpleObject)]
#[graphql(name = "OrphanedWork")]
pub struct OrphanedWorkView {
    /// Open cases of the operator as case manager.
    pub cases: u64,
    /// Open residency checks of the operator as officer.
    pub residency_checks: u64,
    /// Open PUC projects of the operator as manager.
    pub puc_projects: u64,
}

impl From<OrphanedWork> for OrphanedWorkView {
    fn from(o: OrphanedWork) -> Self {
        OrphanedWorkView { cases: o.cases, residency_checks: o.residency_checks, puc_projects: o.puc_projects }
    }
}

/// Answer of `changeProfileStatus`.
#[derive(SimpleObject)]
pub struct ProfileStatusChange {
    /// The profile after the change.
    pub profile: ProfileView,
    /// What its operator leaves without an owner.
    pub orphaned_work: OrphanedWorkView,
}

/// Input of `changeProfile`: omitted parts stay as they are.
#[derive(InputObject)]
pub struct ChangeProfileInput {
    /// The profile (active or suspended).
    pub profile_id: ID,
    /// Its version.
    pub version: i32,
    /// The Comuni of competence, replacing the current ones.
    pub comuni: Option<Vec<String>>,
    /// New first day of validity.
    pub valid_from: Option<Date>,
    /// New last day of validity; null makes the profile open-ended.
    pub valid_to: MaybeUndefined<Date>,
    /// The funds paying for the professional, replacing the current ones.
    pub funding_sources: Option<Vec<FundingSourceView>>,
}

/// A change of a whole operator's state.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "OperatorChange")]
pub enum OperatorChangeView {
    /// Active → suspended: no login, its sessions end at once; profiles stay.
    Suspend,
    /// Suspended → active.
    Reinstate,
    /// Final: every profile is revoked and its sessions end at once.
    Revoke,
}

/// Input of `changeOperatorStatus`.
#[derive(InputObject)]
pub struct ChangeOperatorStatusInput {
    /// The operator (of the administrator's Ambito).
    pub operator_id: ID,
    /// Its version.
    pub version: i32,
    /// What to do.
    pub change: OperatorChangeView,
}

/// Answer of `changeOperatorStatus`.
#[derive(SimpleObject)]
pub struct OperatorStatusChange {
    /// The operator after the change.
    pub operator: OperatorView,
    /// What it leaves without an owner.
    pub orphaned_work: OrphanedWorkView,
}

/// Input of `moveDisadvantageValidator`.
#[derive(InputObject)]
pub struct MoveDisadvantageValidatorInput {
    /// The operator who becomes the validator (active, of the Ambito).
    pub operator_id: ID,
    /// Its version.
    pub version: i32,
    /// Comuni to validate for; default: those of the profiles replaced.
    pub comuni: Option<Vec<String>>,
    /// Funds paying for it; default: those of the profiles replaced.
    pub funding_sources: Option<Vec<FundingSourceView>>,
}

#[derive(Default)]
pub struct OperatorMutation;

#[Object]
impl OperatorMutation {
    /// Amministratore dell'Ambito: records a person a Comune indicated, pending
    /// accreditation.
    #[graphql(visible = "crate::graphql::visibility::creates_operator")]
    async fn add_operator(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person to register: fiscal code and name.")] input: AddOperatorInput,
    ) -> GqlResult<OperatorView> {
        let a = acting(ctx)?;
        let id = service::add_operator(&a, &PersonInput::from(&input)).await.gql()?;
        Ok(OperatorView(by_id::<operator::Entity>(a.gw, operator::Column::Id, id, "Operator").await.gql()?))
    }

    /// Amministratore dell'Ambito: accredits a profile (role, Comuni, validity,
    /// funding) of an operator of the Ambito; a pending operator becomes active.
    #[graphql(visible = "crate::graphql::visibility::updates_operator")]
    async fn accredit_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person, the role, its territory and validity, and the funds paying for it.")]
        input: AccreditProfileInput,
    ) -> GqlResult<ProfileView> {
        let a = acting(ctx)?;
        let op = uuid_arg("input.operatorId", "Operator", &input.operator_id)?;
        let p = ProfileInput {
            role: input.role.into(),
            comuni: input.comuni,
            valid_from: input.valid_from.0,
            valid_to: input.valid_to.map(Into::into),
            funding: input.funding_sources.into_iter().map(Into::into).collect(),
        };
        let id = service::accredit_profile(&a, op, input.version, &p).await.gql()?;
        Ok(ProfileView(by_id::<profile::Entity>(a.gw, profile::Column::Id, id, "Profile").await.gql()?))
    }

    /// Ministero: designates and accredits the one administrator of an Ambito
    /// (the person is recorded if new), replacing the one in force if asked.
    #[graphql(visible = "crate::graphql::visibility::creates_profile")]
    async fn designate_ambito_admin(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The Ambito, the person and the validity of the designation.")]
        input: DesignateAmbitoAdminInput,
    ) -> GqlResult<ProfileView> {
        let a = acting(ctx)?;
        let ambito = uuid_arg("input.ambitoId", "Ambito", &input.ambito_id)?;
        let person = PersonInput::from(&input.person);
        let id = service::designate_ambito_admin(
            &a,
            ambito,
            &person,
            input.valid_from.0,
            input.valid_to.map(Into::into),
            input.replace,
        )
        .await
        .map_err(prefix_person)
        .gql()?;
        Ok(ProfileView(by_id::<profile::Entity>(a.gw, profile::Column::Id, id, "Profile").await.gql()?))
    }

    /// Suspends, reinstates or revokes a profile the caller may grant; its
    /// sessions end at once; the answer counts the work left without an owner.
    #[graphql(visible = "crate::graphql::visibility::updates_profile")]
    async fn change_profile_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The profile, the version read and the new status.")] input: ChangeProfileStatusInput,
    ) -> GqlResult<ProfileStatusChange> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.profileId", "Profile", &input.profile_id)?;
        let change = match input.change {
            ProfileChangeView::Suspend => ProfileChange::Suspend,
            ProfileChangeView::Reinstate => ProfileChange::Reinstate,
            ProfileChangeView::Revoke => ProfileChange::Revoke,
        };
        let orphaned = service::change_profile_status(&a, id, input.version, change).await.gql()?;
        let profile = ProfileView(by_id::<profile::Entity>(a.gw, profile::Column::Id, id, "Profile").await.gql()?);
        Ok(ProfileStatusChange { profile, orphaned_work: orphaned.into() })
    }

    /// Changes the Comuni, validity or funding of a profile the caller may grant.
    #[graphql(visible = "crate::graphql::visibility::updates_profile")]
    async fn change_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The profile, the version read and the fields to change.")] input: ChangeProfileInput,
    ) -> GqlResult<ProfileView> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.profileId", "Profile", &input.profile_id)?;
        let edit = ProfileEdit {
            comuni: input.comuni,
            valid_from: input.valid_from.map(Into::into),
            valid_to: match input.valid_to {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(d) => Some(Some(d.0)),
            },
            funding: input.funding_sources.map(|v| v.into_iter().map(Into::into).collect()),
        };
        service::change_profile(&a, id, input.version, &edit).await.gql()?;
        Ok(ProfileView(by_id::<profile::Entity>(a.gw, profile::Column::Id, id, "Profile").await.gql()?))
    }

    /// Amministratore dell'Ambito: suspends, reinstates or revokes a whole
    /// operator of the Ambito; its sessions end at once; the answer counts the
    /// work left without an owner.
    #[graphql(visible = "crate::graphql::visibility::updates_operator")]
    async fn change_operator_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The operator, the version read and the new status.")] input: ChangeOperatorStatusInput,
    ) -> GqlResult<OperatorStatusChange> {
        let a = acting(ctx)?;
        let id = uuid_arg("input.operatorId", "Operator", &input.operator_id)?;
        let change = match input.change {
            OperatorChangeView::Suspend => OperatorChange::Suspend,
            OperatorChangeView::Reinstate => OperatorChange::Reinstate,
            OperatorChangeView::Revoke => OperatorChange::Revoke,
        };
        let orphaned = service::change_operator_status(&a, id, input.version, change).await.gql()?;
        let operator = OperatorView(by_id::<operator::Entity>(a.gw, operator::Column::Id, id, "Operator").await.gql()?);
        Ok(OperatorStatusChange { operator, orphaned_work: orphaned.into() })
    }

    /// Amministratore dell'Ambito: moves the disadvantage validator to another
    /// operator (the validator profiles in force are revoked, one accredited).
    #[graphql(visible = "crate::graphql::visibility::updates_operator")]
    async fn move_disadvantage_validator(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The disadvantage validator's profile and the Ambito it moves to.")]
        input: MoveDisadvantageValidatorInput,
    ) -> GqlResult<ProfileView> {
        let a = acting(ctx)?;
        let op = uuid_arg("input.operatorId", "Operator", &input.operator_id)?;
        let funding = input.funding_sources.map(|v| v.into_iter().map(Into::into).collect());
        let id = service::move_disadvantage_validator(&a, op, input.version, input.comuni, funding).await.gql()?;
        Ok(ProfileView(by_id::<profile::Entity>(a.gw, profile::Column::Id, id, "Profile").await.gql()?))
    }
}

/// The person's fields sit under `input.person` in `designateAmbitoAdmin`.
fn prefix_person(e: crate::error::AppError) -> crate::error::AppError {
    const PERSON: [&str; 5] = ["input.fiscalCode", "input.firstName", "input.lastName", "input.email", "input.phone"];
    match e.field().filter(|f| PERSON.contains(f)).map(|f| f.replacen("input.", "input.person.", 1)) {
        Some(f) => e.at(f),
        None => e,
    }
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

impl From<OperatorFilter> for lists::OperatorFilter {
    fn from(f: OperatorFilter) -> Self {
        lists::OperatorFilter {
            status: f.status.map(|v| v.into_iter().map(Into::into).collect()),
            role: f.role.map(Into::into),
            comune: f.comune,
            funding_source: f.funding_source.map(Into::into),
            expiring_within_days: f.expiring_within_days,
        }
    }
}

#[derive(Default)]
pub struct OperatorQuery;

#[Object]
impl OperatorQuery {
    /// Operators the viewer may see, by surname.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, child_complexity)",
        visible = "crate::graphql::visibility::reads_operator"
    )]
    async fn operators(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Rows per page: 20 when omitted; over the role's page cap the answer is `LIMIT`.")]
        first: Option<i32>,
        #[graphql(desc = "The cursor to continue after: the `pageInfo.endCursor` of the previous page.")] after: Option<
            String,
        >,
        #[graphql(desc = "Only the rows that match every condition given.")] filter: Option<OperatorFilter>,
    ) -> GqlResult<Connection<OperatorView>> {
        let f = filter.unwrap_or_default().into();
        let sort = sort!(operator, LastName, Direction::Asc, |r: &operator::Model| r.last_name.clone());
        page_of(ctx, |gw| lists::operator_list(gw, f), &sort, (first, after), OperatorView).await
    }

    /// One operator by id.
    #[graphql(visible = "crate::graphql::visibility::reads_operator")]
    async fn operator(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist."
        )]
        id: ID,
    ) -> GqlResult<Option<OperatorView>> {
        let gw = gateway(ctx)?;
        let id = uuid_arg("id", "Operator", &id)?;
        Ok(Some(OperatorView(by_id::<operator::Entity>(gw, operator::Column::Id, id, "Operator").await.gql()?)))
    }
}
