//! What a role's introspection shows: the schema itself is per role (async-graphql's
//! `visible`), so the answer is the same however it is asked for — with or without
//! aliases or fragments — and covers types, fields, arguments, input fields and
//! enum values alike. A field is visible when the role may read it (on some rows);
//! a root list or lookup when the role may read its type; a mutation when the role
//! holds the grant it needs. Callers without a profile (anonymous, a revoked or
//! expired token, a SPID session still choosing its profile) see only what logging
//! in needs: `profileChoices`, `switchProfile` and `logout`.
//!
//! Visibility is about the schema a role is shown, not about access: selecting a
//! hidden field is still answered by the field guard (`null` and a redaction, or
//! `FORBIDDEN` in strict mode), and every resolver still checks its own grant.

use std::{str::FromStr, sync::Arc};

use async_graphql::Context;

use crate::authz::{keys, Action, FieldKey, Object, RequestAuthz};

fn authz<'a>(ctx: &'a Context<'_>) -> Option<&'a Arc<RequestAuthz>> {
    ctx.data_opt::<Arc<RequestAuthz>>()
}

/// Whether `Type.field` is shown to the role: the type is readable and the field
/// is readable on some rows (ungoverned fields of a readable type are).
pub fn field(ctx: &Context<'_>, key: FieldKey) -> bool {
    let Some(a) = authz(ctx) else { return false };
    let ty = key.as_str().split('.').next().unwrap_or(key.as_str());
    Object::from_str(ty).map_or(true, |o| a.can_read(o)) && a.field_scope(key).is_some()
}

/// Whether the role may read rows of `object`.
pub fn reads(ctx: &Context<'_>, object: Object) -> bool {
    authz(ctx).is_some_and(|a| a.can_read(object))
}

/// Whether the role holds a grant to do `action` on `object`.
pub fn may(ctx: &Context<'_>, object: Object, action: Action) -> bool {
    authz(ctx).is_some_and(|a| a.policy.grant(a.role(), object, action).is_some())
}

/// Whether the role may count anything (`stats`, `policies/stats.csv`).
pub fn counts(ctx: &Context<'_>) -> bool {
    authz(ctx).is_some_and(|a| a.policy.stats.any_grant(a.role()))
}

/// Whether the role may export any table of counts as CSV.
pub fn exports(ctx: &Context<'_>) -> bool {
    authz(ctx)
        .is_some_and(|a| crate::authz::vocab::Measure::ALL.iter().any(|m| a.policy.stats.may_export(a.role(), *m)))
}

/// Whether the request has a principal with a profile.
pub fn signed_in(ctx: &Context<'_>) -> bool {
    authz(ctx).is_some()
}

macro_rules! reads {
    ($($f:ident => $o:ident),+ $(,)?) => {
        $(#[doc = concat!("Visible when the role may read `", stringify!($o), "`.")]
        pub fn $f(ctx: &Context<'_>) -> bool { reads(ctx, Object::$o) })+
    };
}

macro_rules! may {
    ($($f:ident => $o:ident $a:ident),+ $(,)?) => {
        $(#[doc = concat!("Visible when the role may `", stringify!($a), "` `", stringify!($o), "`.")]
        pub fn $f(ctx: &Context<'_>) -> bool { may(ctx, Object::$o, Action::$a) })+
    };
}

reads! {
    reads_ambito => Ambito, reads_comune => Comune, reads_convention => Convention,
    reads_operator => Operator, reads_household => Household, reads_meeting => Meeting,
    reads_puc_project => PucProject, reads_residency_check => ResidencyCheck,
    reads_disadvantage_check => DisadvantageCheck, reads_report => Report,
    reads_audit_event => AuditEvent, reads_case => Case, reads_office_slot => OfficeSlot,
    reads_partner_event => PartnerEvent, reads_case_transfer => CaseTransfer,
    reads_case_referral => CaseReferral,
}

may! {
    creates_operator => Operator Create,
    updates_operator => Operator Update,
    creates_profile => Profile Create,
    updates_profile => Profile Update,
    creates_convention => Convention Create,
    assigns_case => Case Assign,
    updates_case => Case Update,
    updates_preliminary_analysis => PreliminaryAnalysis Update,
    updates_analysis_framework => AnalysisFramework Update,
    updates_pact => Pact Update,
    creates_support => Support Create,
    updates_support => Support Update,
    creates_report => Report Create,
    approves_report => Report Approve,
    updates_report => Report Update,
    updates_disadvantage_check => DisadvantageCheck Update,
    assigns_residency_check => ResidencyCheck Assign,
    updates_residency_check => ResidencyCheck Update,
    creates_meeting => Meeting Create,
    updates_meeting => Meeting Update,
    creates_office_slot => OfficeSlot Create,
    creates_puc_project => PucProject Create,
    updates_puc_project => PucProject Update,
    updates_puc_assignment => PucAssignment Update,
    creates_case_transfer => CaseTransfer Create,
    approves_case_transfer => CaseTransfer Approve,
    creates_case_referral => CaseReferral Create,
    updates_case_referral => CaseReferral Update,
}

/// `proposePucAssignment`: operators who may propose (they name a member they read by id).
pub fn creates_puc_assignment(ctx: &Context<'_>) -> bool {
    may(ctx, Object::PucAssignment, Action::Create) && !authz(ctx).is_some_and(|a| a.role().is_api_client_role())
}

/// `proposeCpiBeneficiary`: partners who may propose (they name a person by codice fiscale).
pub fn proposes_cpi_beneficiary(ctx: &Context<'_>) -> bool {
    may(ctx, Object::PucAssignment, Action::Create) && authz(ctx).is_some_and(|a| a.role().is_api_client_role())
}

/// Filter fields: shown when the role may filter by the fields they test.
macro_rules! filters {
    ($($f:ident => [$($k:expr),+]),+ $(,)?) => {
        $(#[doc = concat!("Visible when the role reads ", $("`", stringify!($k), "` "),+, "on every row.")]
        pub fn $f(ctx: &Context<'_>) -> bool {
            authz(ctx).is_some_and(|a| [$($k),+].into_iter().all(|k| a.require_field(k, "filtering").is_ok()))
        })+
    };
}

filters! {
    case_state => [keys::case::STATE], case_comune => [keys::case::COMUNE], case_pad_date => [keys::case::PAD_DATE],
    case_due => [keys::case::FIRST_MEETING_DEADLINE, keys::case::FIRST_MEETING_ON], case_overdue => [keys::case::OVERDUE],
    case_unassigned => [keys::case::CASE_MANAGER], case_pathway_type => [keys::case::PATHWAY_TYPE],
    meeting_state => [keys::meeting::STATE], meeting_comune => [keys::meeting::COMUNE], meeting_scheduled => [keys::meeting::SCHEDULED_AT],
    puc_project_comune => [keys::puc_project::COMUNE], puc_project_field => [keys::puc_project::FIELD], puc_project_state => [keys::puc_project::STATE],
    residency_check_state => [keys::residency_check::STATE], residency_check_overdue => [keys::residency_check::OVERDUE],
    disadvantage_check_state => [keys::disadvantage_check::STATE], disadvantage_check_received => [keys::disadvantage_check::RECEIVED_ON],
    disadvantage_check_expired => [keys::disadvantage_check::EXPIRED_BY_SILENCE],
    operator_status => [keys::operator::STATUS], profile_role => [keys::profile::ROLE], profile_comuni => [keys::profile::COMUNI],
    profile_funding_sources => [keys::profile::FUNDING_SOURCES], profile_valid_to => [keys::profile::VALID_TO],
}

/// `toReassign` filters: shown when the role may filter by the owner field and
/// reads the profiles of the Ambito (`RequestAuthz::require_reassign`).
macro_rules! reassign_filters {
    ($($f:ident => $k:expr),+ $(,)?) => {
        $(#[doc = concat!("Visible when the role may filter `", stringify!($k), "` for work to reassign.")]
        pub fn $f(ctx: &Context<'_>) -> bool {
            authz(ctx).is_some_and(|a| a.require_reassign($k).is_ok())
        })+
    };
}

reassign_filters! {
    case_to_reassign => keys::case::CASE_MANAGER,
    residency_check_unassigned => keys::residency_check::OFFICER,
    puc_project_unassigned => keys::puc_project::MANAGER,
}

/// `me`: an operator with a profile (API keys have no operator).
pub fn operator(ctx: &Context<'_>) -> bool {
    authz(ctx).is_some_and(|a| matches!(a.principal.actor, crate::principal::Actor::Operator { .. }))
}

/// `switchProfile`, and the `Operator` and `Profile` types it answers with: the
/// login surface (no profile yet) and operators; not API keys.
pub fn login_surface(ctx: &Context<'_>) -> bool {
    !signed_in(ctx) || operator(ctx)
}

/// The root fields a caller without a profile may ask for: the login surface,
/// `me` (which says why there is no session) and introspection.
const LOGIN_SURFACE: &[&str] = &["profileChoices", "switchProfile", "logout", "me", "__typename", "__schema", "__type"];

/// Whether every root field of every operation of `query` is on the login
/// surface (an unparseable document is the executor's to report).
pub fn login_surface_only(query: &str) -> bool {
    use async_graphql::parser::types::Selection;
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return true };
    let frags = &doc.fragments;
    fn roots_ok(
        set: &async_graphql::parser::types::SelectionSet,
        frags: &std::collections::HashMap<
            async_graphql::Name,
            async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
        >,
        depth: usize,
    ) -> bool {
        depth < 8
            && set.items.iter().all(|i| match &i.node {
                Selection::Field(f) => LOGIN_SURFACE.contains(&f.node.name.node.as_str()),
                Selection::InlineFragment(x) => roots_ok(&x.node.selection_set.node, frags, depth + 1),
                Selection::FragmentSpread(sp) => frags
                    .get(&sp.node.fragment_name.node)
                    .is_some_and(|f| roots_ok(&f.node.selection_set.node, frags, depth + 1)),
            })
    }
    doc.operations.iter().all(|(_, op)| roots_ok(&op.node.selection_set.node, frags, 0))
}

/// `node(id:)`: any principal with a profile.
pub fn node(ctx: &Context<'_>) -> bool {
    signed_in(ctx)
}
