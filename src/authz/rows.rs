//! Row rules: for each governed entity, what each scope means as a SQL condition.
//! This is the one place where "own", "comune", "ambito" and "national" become
//! `WHERE` clauses; every read goes through [`Scoped::condition`] via the gateway.
//!
//! "own" means "assigned to this operator": the cases of a case manager, the
//! checks of an officer, the projects of a Responsabile PUC. Entities reached
//! through an anchor (members, households, a case's documents) inherit the rule
//! of the anchor, so nested traversal can never widen access.
//!
//! "unassigned" means "a case of the principal's Ambito with no case manager
//! yet", and reaches only what hangs off such a case; on any other entity it
//! is no rows (and `policies/` may not use it there, see [`unassigned_applies`]).

use entity::{enums::Role, *};
use sea_orm::{
    sea_query::{Expr, Query, SelectStatement},
    ColumnTrait, Condition, EntityTrait,
};
use uuid::Uuid;

use super::vocab::{Object, Scope};
use crate::principal::{Actor, Principal};

/// An entity whose rows authorization governs.
pub trait Scoped: EntityTrait {
    const OBJECT: Object;
    /// The rows of `scope` for `p`.
    fn condition(scope: Scope, p: &Principal) -> Condition;
}

fn never() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

fn always() -> Condition {
    Condition::all()
}

fn me(p: &Principal) -> Option<Uuid> {
    match p.actor {
        Actor::Operator { operator_id, .. } => Some(operator_id),
        Actor::ApiClient { .. } => None,
    }
}

fn comuni(p: &Principal) -> Vec<String> {
    p.comuni.as_ref().clone()
}

/// `col = principal's Ambito`, or nothing when the principal has none.
fn in_ambito<C: ColumnTrait>(col: C, p: &Principal) -> Condition {
    match p.ambito_id {
        Some(a) => Condition::all().add(col.eq(a)),
        None => never(),
    }
}

/// `comune IN (principal's Comuni)`, with the (implied) Ambito as well: a
/// profile's Comuni lie in its Ambito, and the Ambito predicate lets PostgreSQL
/// walk the `(ambito_id, sort key)` index in order instead of sorting every row
/// of several Comuni.
fn in_comuni<A: ColumnTrait, C: ColumnTrait>(ambito_col: A, comune_col: C, p: &Principal) -> Condition {
    in_ambito(ambito_col, p).add(comune_col.is_in(comuni(p)))
}

/// `col = principal's operator id`, or nothing for API clients.
fn is_me<C: ColumnTrait>(col: C, p: &Principal) -> Condition {
    match me(p) {
        Some(id) => Condition::all().add(col.eq(id)),
        None => never(),
    }
}

/// `SELECT <col> FROM <E> WHERE <cond>`.
fn ids_of<E: EntityTrait, C: ColumnTrait>(col: C, cond: Condition) -> SelectStatement {
    Query::select().column(col).from(E::default()).cond_where(cond).to_owned()
}

/// Ids of the cases the principal may see under `scope`.
fn case_ids(scope: Scope, p: &Principal) -> SelectStatement {
    ids_of::<case_file::Entity, _>(case_file::Column::Id, case_file::Entity::condition(scope, p))
}

macro_rules! via {
    // Rows whose `$fk` points at a row of `$parent` visible under the same scope.
    ($fk:expr, $parent:ty, $pid:expr, $scope:expr, $p:expr) => {
        Condition::all().add($fk.in_subquery(ids_of::<$parent, _>($pid, <$parent>::condition($scope, $p))))
    };
}

/// The objects on which the scope `unassigned` means something: the case and
/// what hangs off it. Policy lines with `unassigned` on anything else fail to load.
pub fn unassigned_applies(o: Object) -> bool {
    use Object::*;
    matches!(
        o,
        Case | Household
            | Member
            | Application
            | PreliminaryAnalysis
            | AnalysisFramework
            | AnalysisTeamMember
            | Pact
            | PactObjective
            | PactExpectedResult
            | PactCommitment
            | Support
            | Report
            | Meeting
    )
}

impl Scoped for ambito::Entity {
    const OBJECT: Object = Object::Ambito;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Unassigned => never(),
            _ => in_ambito(ambito::Column::Id, p),
        }
    }
}

impl Scoped for comune::Entity {
    const OBJECT: Object = Object::Comune;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(comune::Column::AmbitoId, p),
            Scope::Comune | Scope::Own => Condition::all().add(comune::Column::IstatCode.is_in(comuni(p))),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for convention::Entity {
    const OBJECT: Object = Object::Convention;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(convention::Column::AmbitoId, p),
            Scope::Comune | Scope::Own => Condition::all().add(convention::Column::ComuneIstat.is_in(comuni(p))),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for operator::Entity {
    const OBJECT: Object = Object::Operator;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            // Operators holding a profile in the Ambito; the administrator also
            // sees the people recorded there and not accredited yet.
            Scope::Ambito if p.role == entity::enums::Role::AmbitoAdmin => Condition::any()
                .add(in_ambito(operator::Column::AmbitoId, p))
                .add(via!(operator::Column::Id, profile::Entity, profile::Column::OperatorId, Scope::Ambito, p)),
            Scope::Ambito => via!(operator::Column::Id, profile::Entity, profile::Column::OperatorId, Scope::Ambito, p),
            Scope::Comune => via!(operator::Column::Id, profile::Entity, profile::Column::OperatorId, Scope::Comune, p),
            Scope::Own => is_me(operator::Column::Id, p),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for profile::Entity {
    const OBJECT: Object = Object::Profile;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(profile::Column::AmbitoId, p),
            Scope::Comune => {
                Condition::all().add(profile::Column::Id.in_subquery(ids_of::<profile_comune::Entity, _>(
                    profile_comune::Column::ProfileId,
                    Condition::all().add(profile_comune::Column::ComuneIstat.is_in(comuni(p))),
                )))
            }
            Scope::Own => is_me(profile::Column::OperatorId, p),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for case_file::Entity {
    const OBJECT: Object = Object::Case;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(case_file::Column::AmbitoId, p),
            Scope::Comune => in_comuni(case_file::Column::AmbitoId, case_file::Column::ComuneIstat, p),
            Scope::Own => is_me(case_file::Column::CaseManagerId, p),
            Scope::Unassigned => {
                in_ambito(case_file::Column::AmbitoId, p).add(case_file::Column::CaseManagerId.is_null())
            }
        }
    }
}

impl Scoped for case_transfer::Entity {
    const OBJECT: Object = Object::CaseTransfer;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // A transfer belongs to both Ambiti: the one it leaves and the one it goes to.
        match scope {
            Scope::National => always(),
            Scope::Ambito => Condition::any()
                .add(in_ambito(case_transfer::Column::FromAmbitoId, p))
                .add(in_ambito(case_transfer::Column::ToAmbitoId, p)),
            Scope::Comune => Condition::any()
                .add(case_transfer::Column::FromComuneIstat.is_in(comuni(p)))
                .add(case_transfer::Column::ToComuneIstat.is_in(comuni(p))),
            Scope::Own | Scope::Unassigned => never(),
        }
    }
}

impl Scoped for case_referral::Entity {
    const OBJECT: Object = Object::CaseReferral;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // A Centro per l'impiego reads the referrals made to a CPI (in its scope);
        // the case's roles, those of the cases they reach.
        if p.role == Role::CpiPartner {
            let rows = match scope {
                Scope::National => always(),
                Scope::Ambito => in_ambito(case_referral::Column::AmbitoId, p),
                _ => never(),
            };
            return Condition::all().add(case_referral::Column::Target.eq(enums::ReferralTarget::Cpi)).add(rows);
        }
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(case_referral::Column::AmbitoId, p),
            Scope::Comune => in_comuni(case_referral::Column::AmbitoId, case_referral::Column::ComuneIstat, p),
            Scope::Own | Scope::Unassigned => {
                Condition::all().add(case_referral::Column::CaseId.in_subquery(case_ids(scope, p)))
            }
        }
    }
}

impl Scoped for household::Entity {
    const OBJECT: Object = Object::Household;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(household::Column::AmbitoId, p),
            Scope::Comune => in_comuni(household::Column::AmbitoId, household::Column::ComuneIstat, p),
            // The households of the principal's own (or not yet assigned) cases.
            Scope::Own | Scope::Unassigned => {
                via!(household::Column::Id, case_file::Entity, case_file::Column::HouseholdId, scope, p)
            }
        }
    }
}

impl Scoped for member::Entity {
    const OBJECT: Object = Object::Member;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // Members are reached through the object the role works on: the check of
        // a residency officer, the PUC assignment of a Responsabile PUC, the
        // validation request of the disadvantage validator, else the household.
        match p.role {
            Role::RegistryCheckCoordinator | Role::RegistryCheckOfficer => {
                via!(member::Column::Id, residency_check::Entity, residency_check::Column::MemberId, scope, p)
            }
            Role::PucManager => {
                via!(member::Column::Id, puc_assignment::Entity, puc_assignment::Column::MemberId, scope, p)
            }
            Role::DisadvantageValidator => {
                via!(member::Column::Id, disadvantage_check::Entity, disadvantage_check::Column::MemberId, scope, p)
            }
            _ => via!(member::Column::HouseholdId, household::Entity, household::Column::Id, scope, p),
        }
    }
}

impl Scoped for application::Entity {
    const OBJECT: Object = Object::Application;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        via!(application::Column::HouseholdId, household::Entity, household::Column::Id, scope, p)
    }
}

macro_rules! of_case {
    ($entity:ident, $object:ident) => {
        impl Scoped for $entity::Entity {
            const OBJECT: Object = Object::$object;
            fn condition(scope: Scope, p: &Principal) -> Condition {
                Condition::all().add($entity::Column::CaseId.in_subquery(case_ids(scope, p)))
            }
        }
    };
}
of_case!(preliminary_analysis, PreliminaryAnalysis);
of_case!(analysis_framework, AnalysisFramework);

impl Scoped for pact::Entity {
    const OBJECT: Object = Object::Pact;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        let rows = Condition::all().add(pact::Column::CaseId.in_subquery(case_ids(scope, p)));
        // INPS reads the pacts signed (never a draft).
        if p.role == Role::InpsFeed {
            return rows.add(pact::Column::SignedOn.is_not_null());
        }
        rows
    }
}
of_case!(support, Support);

impl Scoped for analysis_team_member::Entity {
    const OBJECT: Object = Object::AnalysisTeamMember;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        via!(
            analysis_team_member::Column::FrameworkId,
            analysis_framework::Entity,
            analysis_framework::Column::Id,
            scope,
            p
        )
    }
}

macro_rules! of_pact {
    ($entity:ident, $object:ident) => {
        impl Scoped for $entity::Entity {
            const OBJECT: Object = Object::$object;
            fn condition(scope: Scope, p: &Principal) -> Condition {
                via!($entity::Column::PactId, pact::Entity, pact::Column::Id, scope, p)
            }
        }
    };
}
of_pact!(pact_objective, PactObjective);
of_pact!(pact_expected_result, PactExpectedResult);
of_pact!(pact_commitment, PactCommitment);

impl Scoped for report::Entity {
    const OBJECT: Object = Object::Report;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // Segnalazioni of residency checks belong to the registry roles, the others
        // to the roles of the Patto: neither sees (or approves) the other's.
        // INPS sees only what was sent to it, of either kind.
        let kind = match p.role {
            Role::RegistryCheckCoordinator | Role::RegistryCheckOfficer => {
                report::Column::ResidencyCheckId.is_not_null()
            }
            Role::InpsFeed => report::Column::SentAt.is_not_null(),
            _ => report::Column::ResidencyCheckId.is_null(),
        };
        Condition::all().add(kind).add(report_rows(scope, p))
    }
}

fn report_rows(scope: Scope, p: &Principal) -> Condition {
    match scope {
        Scope::National => always(),
        Scope::Ambito => in_ambito(report::Column::AmbitoId, p),
        Scope::Comune => Condition::all().add(report::Column::ComuneIstat.is_in(comuni(p))),
        // Raised by the principal in its Ambito (one whose case moved to
        // another Ambito went with it), or about the principal's own cases.
        Scope::Own => Condition::any()
            .add(is_me(report::Column::CreatedBy, p).add(in_ambito(report::Column::AmbitoId, p)))
            .add(report::Column::CaseId.in_subquery(case_ids(Scope::Own, p))),
        Scope::Unassigned => Condition::all().add(report::Column::CaseId.in_subquery(case_ids(Scope::Unassigned, p))),
    }
}

impl Scoped for meeting::Entity {
    const OBJECT: Object = Object::Meeting;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(meeting::Column::AmbitoId, p),
            Scope::Comune => in_comuni(meeting::Column::AmbitoId, meeting::Column::ComuneIstat, p),
            // About the principal's own cases, or held by the principal and about
            // no case: once a case is reassigned, its meetings follow it to the new
            // case manager (the old one no longer sees or moves them).
            Scope::Own => Condition::any()
                .add(Condition::all().add(meeting::Column::CaseId.is_null()).add(is_me(meeting::Column::OperatorId, p)))
                .add(meeting::Column::CaseId.in_subquery(case_ids(Scope::Own, p))),
            Scope::Unassigned => {
                Condition::all().add(meeting::Column::CaseId.in_subquery(case_ids(Scope::Unassigned, p)))
            }
        }
    }
}

impl Scoped for office_slot::Entity {
    const OBJECT: Object = Object::OfficeSlot;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => {
                via!(office_slot::Column::ComuneIstat, comune::Entity, comune::Column::IstatCode, Scope::Ambito, p)
            }
            Scope::Comune => Condition::all().add(office_slot::Column::ComuneIstat.is_in(comuni(p))),
            Scope::Own => is_me(office_slot::Column::OperatorId, p),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for puc_project::Entity {
    const OBJECT: Object = Object::PucProject;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        let rows = match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(puc_project::Column::AmbitoId, p),
            Scope::Comune => in_comuni(puc_project::Column::AmbitoId, puc_project::Column::ComuneIstat, p),
            Scope::Own => is_me(puc_project::Column::ManagerId, p),
            Scope::Unassigned => never(),
        };
        // Partners read the published catalogue: never a draft.
        if p.role.is_api_client_role() {
            return rows.add(puc_project::Column::State.ne(enums::PucProjectState::Bozza));
        }
        rows
    }
}

impl Scoped for puc_assignment::Entity {
    const OBJECT: Object = Object::PucAssignment;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match (scope, p.role) {
            // A case manager's own beneficiaries are those of their own cases.
            (Scope::Own, Role::CaseManager) => {
                Condition::all().add(puc_assignment::Column::CaseId.in_subquery(case_ids(Scope::Own, p)))
            }
            // INPS: the assignments that started, ended or were interrupted.
            (_, Role::InpsFeed) => Condition::all()
                .add(puc_assignment::Column::State.ne(enums::PucAssignmentState::Proposto))
                .add(via!(puc_assignment::Column::ProjectId, puc_project::Entity, puc_project::Column::Id, scope, p)),
            // A Centro per l'impiego: the CPI places of the projects in its scope.
            (_, Role::CpiPartner) => Condition::all()
                .add(puc_assignment::Column::Source.eq(enums::PlaceSource::Cpi))
                .add(via!(puc_assignment::Column::ProjectId, puc_project::Entity, puc_project::Column::Id, scope, p)),
            _ => via!(puc_assignment::Column::ProjectId, puc_project::Entity, puc_project::Column::Id, scope, p),
        }
    }
}

impl Scoped for puc_attendance::Entity {
    const OBJECT: Object = Object::PucAttendance;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        via!(puc_attendance::Column::AssignmentId, puc_assignment::Entity, puc_assignment::Column::Id, scope, p)
    }
}

impl Scoped for residency_check::Entity {
    const OBJECT: Object = Object::ResidencyCheck;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // INPS, which requested them, reads the checks with an outcome.
        if p.role == Role::InpsFeed {
            return Condition::all()
                .add(residency_check::Column::FinalisedAt.is_not_null())
                .add(residency_check_rows(scope, p));
        }
        residency_check_rows(scope, p)
    }
}

fn residency_check_rows(scope: Scope, p: &Principal) -> Condition {
    match scope {
        Scope::National => always(),
        Scope::Ambito => in_ambito(residency_check::Column::AmbitoId, p),
        // The checks a Comune holds now (forwarded ones included).
        Scope::Comune => Condition::all().add(residency_check::Column::CurrentComuneIstat.is_in(comuni(p))),
        Scope::Own => is_me(residency_check::Column::OfficerId, p),
        Scope::Unassigned => never(),
    }
}

impl Scoped for residency_period::Entity {
    const OBJECT: Object = Object::ResidencyPeriod;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        via!(residency_period::Column::CheckId, residency_check::Entity, residency_check::Column::Id, scope, p)
    }
}

impl Scoped for disadvantage_check::Entity {
    const OBJECT: Object = Object::DisadvantageCheck;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(disadvantage_check::Column::AmbitoId, p),
            Scope::Comune => Condition::all().add(disadvantage_check::Column::CertifyingComuneIstat.is_in(comuni(p))),
            Scope::Own => is_me(disadvantage_check::Column::DecidedBy, p),
            Scope::Unassigned => never(),
        }
    }
}

impl Scoped for partner_event::Entity {
    const OBJECT: Object = Object::PartnerEvent;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        // Each partner reads the events meant for it, and no operator any.
        let audience = match p.role {
            Role::InpsFeed => enums::PartnerAudience::Inps,
            Role::CpiPartner => enums::PartnerAudience::Cpi,
            _ => return never(),
        };
        let rows = match scope {
            Scope::National => always(),
            Scope::Ambito => in_ambito(partner_event::Column::AmbitoId, p),
            Scope::Comune => Condition::all().add(partner_event::Column::ComuneIstat.is_in(comuni(p))),
            Scope::Own | Scope::Unassigned => never(),
        };
        Condition::all().add(partner_event::Column::Audience.eq(audience)).add(rows)
    }
}

impl Scoped for audit_event::Entity {
    const OBJECT: Object = Object::AuditEvent;
    fn condition(scope: Scope, p: &Principal) -> Condition {
        match scope {
            Scope::National => always(),
            Scope::Ambito | Scope::Comune => in_ambito(audit_event::Column::AmbitoId, p),
            Scope::Own => is_me(audit_event::Column::OperatorId, p),
            Scope::Unassigned => never(),
        }
    }
}

/// The rows of `E` in `scope` for `p`: for a use case that checks a grant on
/// another object (a meeting planned on a case under the Meeting scope).
pub fn find_under<E: Scoped>(scope: Scope, p: &Principal) -> sea_orm::Select<E> {
    use sea_orm::QueryFilter;
    E::find().filter(E::condition(scope, p))
}
