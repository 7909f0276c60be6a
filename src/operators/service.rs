//! Use cases on operators and profiles.

use chrono::NaiveDate;
use entity::{
    ambito, comune,
    enums::{OperatorStatus, ProfileStatus, Role},
    operator, profile, profile_comune,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::unscoped::Unscoped;
use crate::{error::AppError, households::model::CodiceFiscale};

/// An accredited (active) operator by codice fiscale.
pub async fn active_operator_by_fiscal_code<C: ConnectionTrait>(
    db: &C,
    cf: &CodiceFiscale,
) -> Result<Option<operator::Model>, AppError> {
    Ok(Unscoped::Login
        .find::<operator::Entity>()
        .filter(operator::Column::FiscalCode.eq(cf.as_str()))
        .filter(operator::Column::Status.eq(OperatorStatus::Active))
        .one(db)
        .await?)
}

pub async fn operator_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<operator::Model>, AppError> {
    Ok(Unscoped::Login.find_by_id::<operator::Entity>(id).one(db).await?)
}

/// Whether a profile is in force on `today`.
pub fn profile_in_force(p: &profile::Model, today: NaiveDate) -> bool {
    p.status == ProfileStatus::Active && p.valid_from <= today && p.valid_to.is_none_or(|to| to >= today)
}

/// The profiles of an operator that are in force today, in a stable order.
pub async fn profiles_in_force<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    today: NaiveDate,
) -> Result<Vec<profile::Model>, AppError> {
    let all = Unscoped::Login
        .find::<profile::Entity>()
        .filter(profile::Column::OperatorId.eq(operator_id))
        .order_by_asc(profile::Column::Role)
        .order_by_asc(profile::Column::Id)
        .all(db)
        .await?;
    Ok(all.into_iter().filter(|p| profile_in_force(p, today)).collect())
}

/// The profile `profile_id` of `operator_id`, if it is in force; anything else
/// (unknown, another operator's, revoked, expired) is `FORBIDDEN` with one message,
/// so that the answer does not tell which profiles exist.
pub async fn profile_for_login<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    profile_id: Uuid,
    today: NaiveDate,
) -> Result<profile::Model, AppError> {
    let p = Unscoped::Login.find_by_id::<profile::Entity>(profile_id).one(db).await?;
    match p {
        Some(p) if p.operator_id == operator_id && profile_in_force(&p, today) => Ok(p),
        _ => Err(AppError::Forbidden("this profile is not an active profile of the operator".into())),
    }
}

/// ISTAT codes of the Comuni a profile covers (the principal's own at login,
/// or a profile already loaded under the actor's scope).
pub async fn profile_comuni<C: ConnectionTrait>(db: &C, profile_id: Uuid) -> Result<Vec<String>, AppError> {
    Ok(Unscoped::Child
        .find::<profile_comune::Entity>()
        .filter(profile_comune::Column::ProfileId.eq(profile_id))
        .order_by_asc(profile_comune::Column::ComuneIstat)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.comune_istat)
        .collect())
}

/// The Comuni a profile works on today: those it covers, and for Comune-level
/// roles only those whose convention for GePI is in force — the Comune is the
/// controller of those data on the basis of that convention (domain spec §1.3),
/// so when it lapses without a renewal the profile stops reaching them.
pub async fn profile_comuni_in_force<C: ConnectionTrait>(
    db: &C,
    p: &profile::Model,
    today: NaiveDate,
) -> Result<Vec<String>, AppError> {
    use entity::{convention, enums::ConventionKind};
    use sea_orm::{Condition, QuerySelect, QueryTrait};
    let mut q = Unscoped::Login.find::<profile_comune::Entity>().filter(profile_comune::Column::ProfileId.eq(p.id));
    if super::model::comune_level(p.role) {
        let in_force = Unscoped::Login
            .find::<convention::Entity>()
            .select_only()
            .column(convention::Column::ComuneIstat)
            .filter(convention::Column::Kind.eq(ConventionKind::UsoGepi))
            .filter(convention::Column::ValidFrom.lte(today))
            .filter(
                Condition::any().add(convention::Column::ValidTo.is_null()).add(convention::Column::ValidTo.gte(today)),
            )
            .into_query();
        q = q.filter(profile_comune::Column::ComuneIstat.in_subquery(in_force));
    }
    Ok(q.order_by_asc(profile_comune::Column::ComuneIstat).all(db).await?.into_iter().map(|r| r.comune_istat).collect())
}

/// One line of `gepi operators`: enough to log in as any demo operator.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorListing {
    pub fiscal_code: String,
    pub display_name: String,
    pub profiles: Vec<ProfileListing>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileListing {
    /// Global id, as `POST /auth/dev-login` and `switchProfile` take it.
    pub profile_id: String,
    pub role: Role,
    pub ambito: Option<String>,
    pub comuni: Vec<String>,
}

/// An operator to log in as, with one of its profiles (the demo logins).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleLogin {
    pub role: String,
    pub display_name: String,
    pub fiscal_code: String,
    pub profile_id: String,
}

/// One operator per role (the first by the listing's order), with the
/// profile to log in with.
pub async fn one_per_role<C: ConnectionTrait>(db: &C) -> Result<Vec<RoleLogin>, AppError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for o in listing(db).await? {
        for p in &o.profiles {
            if seen.insert(p.role.as_str()) {
                out.push(RoleLogin {
                    role: p.role.as_str(),
                    display_name: o.display_name.clone(),
                    fiscal_code: o.fiscal_code.clone(),
                    profile_id: p.profile_id.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Every operator with its profiles (operator tooling; not exposed over the API).
pub async fn listing<C: ConnectionTrait>(db: &C) -> Result<Vec<OperatorListing>, AppError> {
    let operators = Unscoped::System
        .find::<operator::Entity>()
        .order_by_asc(operator::Column::LastName)
        .order_by_asc(operator::Column::FirstName)
        .order_by_asc(operator::Column::Id)
        .all(db)
        .await?;
    let profiles = Unscoped::System.find::<profile::Entity>().order_by_asc(profile::Column::Role).all(db).await?;
    let ambiti: std::collections::HashMap<Uuid, String> =
        Unscoped::System.find::<ambito::Entity>().all(db).await?.into_iter().map(|a| (a.id, a.name)).collect();
    let comuni: std::collections::HashMap<String, String> =
        Unscoped::System.find::<comune::Entity>().all(db).await?.into_iter().map(|c| (c.istat_code, c.name)).collect();
    let mut links: std::collections::HashMap<Uuid, Vec<String>> = Default::default();
    for l in Unscoped::System.find::<profile_comune::Entity>().all(db).await? {
        let name = comuni.get(&l.comune_istat).cloned().unwrap_or_default();
        links.entry(l.profile_id).or_default().push(format!("{} {}", l.comune_istat, name));
    }
    let mut by_operator: std::collections::HashMap<Uuid, Vec<ProfileListing>> = Default::default();
    for p in profiles {
        let mut comuni = links.remove(&p.id).unwrap_or_default();
        comuni.sort();
        by_operator.entry(p.operator_id).or_default().push(ProfileListing {
            profile_id: crate::ids::encode("Profile", p.id),
            role: p.role,
            ambito: p.ambito_id.and_then(|a| ambiti.get(&a).cloned()),
            comuni,
        });
    }
    Ok(operators
        .into_iter()
        .map(|o| OperatorListing {
            display_name: format!("{} {}", o.first_name, o.last_name),
            profiles: by_operator.remove(&o.id).unwrap_or_default(),
            fiscal_code: o.fiscal_code,
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Accreditation (domain spec §2.1). Every use case runs in one transaction with
// its audit entries; the administrator invariants are checked here with a clear
// error and kept by the database as well (migration `accreditation`).

use chrono::Utc;
use entity::{
    case_file, convention,
    enums::{AuditAction, ConventionKind, FundingSource},
    puc_project, residency_check, session,
};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, Condition, DatabaseTransaction, QuerySelect, QueryTrait,
    TransactionTrait,
};
use serde_json::json;

use super::model::{self, Validity};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    authz::Action,
    workflow::{check_version, compare_and_set, diff, Acting},
};

/// A person as the administrator records them.
#[derive(Debug, Clone)]
pub struct PersonInput {
    pub fiscal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// A role assignment to accredit.
#[derive(Debug, Clone)]
pub struct ProfileInput {
    pub role: Role,
    pub comuni: Vec<String>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub funding: Vec<FundingSource>,
}

/// Work assigned to an operator who holds no profile in force for it any more:
/// it shows up as "to reassign" to the coordinators (`toReassign` filters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OrphanedWork {
    pub cases: u64,
    pub residency_checks: u64,
    pub puc_projects: u64,
}

/// The rows whose owner column names an operator that holds no profile of
/// `role` in force today (revoked, suspended, expired), or is no longer active.
pub fn without_owner<Col: ColumnTrait>(owner: Col, role: Role, today: NaiveDate) -> Condition {
    let active_ops = Unscoped::Rule
        .find::<operator::Entity>()
        .select_only()
        .column(operator::Column::Id)
        .filter(operator::Column::Status.eq(OperatorStatus::Active))
        .into_query();
    let in_force = Unscoped::Rule
        .find::<profile::Entity>()
        .select_only()
        .column(profile::Column::OperatorId)
        .filter(profile::Column::Role.eq(role))
        .filter(profile::Column::Status.eq(ProfileStatus::Active))
        .filter(profile::Column::ValidFrom.lte(today))
        .filter(Condition::any().add(profile::Column::ValidTo.is_null()).add(profile::Column::ValidTo.gte(today)))
        .filter(profile::Column::OperatorId.in_subquery(active_ops))
        .into_query();
    Condition::all().add(owner.is_not_null()).add(owner.not_in_subquery(in_force))
}

/// Open cases, checks and projects of `operator_id` left without an owner.
pub async fn orphaned_work<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    today: NaiveDate,
) -> Result<OrphanedWork, AppError> {
    use sea_orm::PaginatorTrait;
    let cases = Unscoped::Rule
        .find::<case_file::Entity>()
        .filter(case_file::Column::CaseManagerId.eq(operator_id))
        .filter(case_file::Column::State.is_not_in(crate::codes::CASE_CLOSED))
        .filter(without_owner(case_file::Column::CaseManagerId, Role::CaseManager, today))
        .count(db)
        .await?;
    let residency_checks = Unscoped::Rule
        .find::<residency_check::Entity>()
        .filter(residency_check::Column::OfficerId.eq(operator_id))
        .filter(residency_check::Column::State.is_not_in(crate::codes::RESIDENCY_CHECK_CLOSED))
        .filter(without_owner(residency_check::Column::OfficerId, Role::RegistryCheckOfficer, today))
        .count(db)
        .await?;
    let puc_projects = Unscoped::Rule
        .find::<puc_project::Entity>()
        .filter(puc_project::Column::ManagerId.eq(operator_id))
        .filter(puc_project::Column::State.is_not_in(crate::codes::PUC_PROJECT_CLOSED))
        .filter(without_owner(puc_project::Column::ManagerId, Role::PucManager, today))
        .count(db)
        .await?;
    Ok(OrphanedWork { cases, residency_checks, puc_projects })
}

/// Ends at once every live session bound to the profile (or, with `None`, every
/// session of the operator); returns how many.
async fn end_sessions<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    profile_id: Option<Uuid>,
) -> Result<u64, AppError> {
    let mut q = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(session::Column::OperatorId.eq(operator_id))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(p) = profile_id {
        q = q.filter(session::Column::ProfileId.eq(p));
    }
    Ok(q.exec(db).await?.rows_affected)
}

/// The trigger of the administrator rules refused a change (a race lost to a
/// concurrent accreditation, or data written around the service).
fn admin_rule(e: sea_orm::DbErr) -> AppError {
    if e.to_string().contains(migration::ONE_AMBITO_ADMIN) {
        AppError::Conflict(
            "the Ambito has one administrator in force, who holds no other profile in the Ambito: this change would break that".into(),
        )
    } else {
        e.into()
    }
}

/// [`admin_rule`] for an error that came back through [`compare_and_set`].
fn admin_rule_in(e: AppError) -> AppError {
    match e {
        AppError::Internal(m) if m.contains(migration::ONE_AMBITO_ADMIN) => admin_rule(sea_orm::DbErr::Custom(m)),
        other => other,
    }
}

/// Checks a person's details; the codice fiscale comes back normalised.
fn person(p: &PersonInput) -> Result<(CodiceFiscale, String, String, String, Option<String>), AppError> {
    let cf =
        CodiceFiscale::parse(&p.fiscal_code).map_err(|e| AppError::validation("input.fiscalCode", e.to_string()))?;
    let first = model::person_name("input.firstName", &p.first_name)?;
    let last = model::person_name("input.lastName", &p.last_name)?;
    let email = model::email("input.email", &p.email)?;
    let phone = match p.phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(model::phone("input.phone", v)?),
    };
    Ok((cf, first, last, email, phone))
}

/// Records a person as `PENDING_ACCREDITATION` in `ambito_id` (None: the
/// Ministry's own). A codice fiscale already recorded anywhere is a conflict:
/// one person, one SPID identity, one operator.
async fn insert_operator(
    txn: &DatabaseTransaction,
    p: &PersonInput,
    ambito_id: Option<Uuid>,
) -> Result<(operator::Model, AuditEntry), AppError> {
    let (cf, first, last, email, phone) = person(p)?;
    let exists =
        Unscoped::Rule.find::<operator::Entity>().filter(operator::Column::FiscalCode.eq(cf.as_str())).one(txn).await?;
    if exists.is_some() {
        return Err(AppError::conflict_at(
            "input.fiscalCode",
            "an operator with this codice fiscale is already recorded",
        ));
    }
    let row = operator::ActiveModel {
        id: Set(Uuid::now_v7()),
        fiscal_code: Set(cf.as_str().to_string()),
        first_name: Set(first),
        last_name: Set(last),
        email: Set(Some(email)),
        phone: Set(phone),
        status: Set(OperatorStatus::PendingAccreditation),
        last_login_at: Set(None),
        created_at: Set(Utc::now()),
        ambito_id: Set(ambito_id),
        version: Set(1),
    }
    .insert(txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            AppError::conflict_at("input.fiscalCode", "an operator with this codice fiscale is already recorded")
        }
        _ => e.into(),
    })?;
    let mut e = AuditEntry::new("operator", row.id, AuditAction::Create);
    e.ambito_id = ambito_id;
    // Personal details are recorded as present, never copied into the trail.
    e.changes = Some(json!({
        "status": { "before": null, "after": row.status },
        "ambito_id": { "before": null, "after": ambito_id },
        "personal_details": { "before": null, "after": "recorded" },
    }));
    Ok((row, e))
}

/// Checks the Comuni of a profile of `role` in `ambito_id`: in the Ambito, and
/// for Comune-level roles with a convention for GePI in force from the first
/// day the profile matters.
async fn check_comuni(
    txn: &DatabaseTransaction,
    role: Role,
    ambito_id: Uuid,
    comuni: &[String],
    validity: Validity,
    today: NaiveDate,
) -> Result<Vec<String>, AppError> {
    if comuni.is_empty() {
        return Err(AppError::validation("input.comuni", "name at least one Comune of competence"));
    }
    if comuni.len() > 500 {
        return Err(AppError::validation("input.comuni", "at most 500 Comuni"));
    }
    let mut out = Vec::new();
    let on = validity.effective(today);
    for (i, c) in comuni.iter().enumerate() {
        let field = format!("input.comuni[{i}]");
        let code = crate::territory::model::IstatCode::parse_at(&field, c)?;
        if out.contains(&code) {
            return Err(AppError::validation(&field, "named twice"));
        }
        let found = Unscoped::Reference.find_by_id::<comune::Entity>(code.clone()).one(txn).await?;
        if found.is_none_or(|m| m.ambito_id != ambito_id) {
            return Err(AppError::validation(&field, "not a Comune of the Ambito"));
        }
        if model::comune_level(role) {
            let conv = Unscoped::Rule
                .find::<convention::Entity>()
                .filter(convention::Column::ComuneIstat.eq(code.clone()))
                .filter(convention::Column::Kind.eq(ConventionKind::UsoGepi))
                .filter(convention::Column::ValidFrom.lte(on))
                .filter(
                    Condition::any()
                        .add(convention::Column::ValidTo.is_null())
                        .add(convention::Column::ValidTo.gte(on)),
                )
                .one(txn)
                .await?;
            if conv.is_none() {
                return Err(AppError::validation(
                    &field,
                    format!("the Comune has no convention for the use of GePI in force on {on}: a {} works on its data only under one", role.as_str()),
                ));
            }
        }
        out.push(code);
    }
    out.sort();
    Ok(out)
}

/// Inserts a checked profile with its Comuni; returns its audit entry.
#[allow(clippy::too_many_arguments)]
async fn insert_profile(
    txn: &DatabaseTransaction,
    op: &operator::Model,
    role: Role,
    ambito_id: Option<Uuid>,
    comuni: &[String],
    validity: Validity,
    funding: &[FundingSource],
    assigned_by: Option<Uuid>,
) -> Result<(profile::Model, AuditEntry), AppError> {
    let funding_sources = (!funding.is_empty()).then(|| model::funding_codes(funding));
    let row = profile::ActiveModel {
        id: Set(Uuid::now_v7()),
        operator_id: Set(op.id),
        role: Set(role),
        ambito_id: Set(ambito_id),
        valid_from: Set(validity.from),
        valid_to: Set(validity.to),
        funding_sources: Set(funding_sources.clone()),
        status: Set(ProfileStatus::Active),
        assigned_by: Set(assigned_by),
        created_at: Set(Utc::now()),
        version: Set(1),
    }
    .insert(txn)
    .await
    .map_err(admin_rule)?;
    if !comuni.is_empty() {
        profile_comune::Entity::insert_many(
            comuni
                .iter()
                .map(|c| profile_comune::ActiveModel { profile_id: Set(row.id), comune_istat: Set(c.clone()) }),
        )
        .exec(txn)
        .await?;
    }
    let mut e = AuditEntry::new("profile", row.id, AuditAction::Create);
    e.ambito_id = ambito_id;
    e.changes = Some(json!({
        "operator_id": { "before": null, "after": op.id },
        "role": { "before": null, "after": role },
        "comuni": { "before": null, "after": comuni },
        "valid_from": { "before": null, "after": validity.from },
        "valid_to": { "before": null, "after": validity.to },
        "funding_sources": { "before": null, "after": funding_sources },
        "status": { "before": null, "after": ProfileStatus::Active },
    }));
    Ok((row, e))
}

/// Active profiles of the operator overlapping `validity` (for the checks that
/// give a clear error before the database would refuse).
async fn overlapping<C: ConnectionTrait>(
    db: &C,
    filter: Condition,
    validity: Validity,
) -> Result<Vec<profile::Model>, AppError> {
    Ok(Unscoped::Rule
        .find::<profile::Entity>()
        .filter(filter)
        .filter(profile::Column::Status.eq(ProfileStatus::Active))
        .all(db)
        .await?
        .into_iter()
        .filter(|p| validity.overlaps(p.valid_from, p.valid_to))
        .collect())
}

/// After a profile is accredited: the operator's version moves (so two
/// accreditations racing on one operator cannot both pass their checks), and a
/// pending operator becomes `ACTIVE`.
async fn activate<C: ConnectionTrait>(db: &C, op: &operator::Model) -> Result<Option<AuditEntry>, AppError> {
    let pending = op.status == OperatorStatus::PendingAccreditation;
    let status = if pending { OperatorStatus::Active } else { op.status };
    let q = operator::Entity::update_many().col_expr(operator::Column::Status, Expr::value(status));
    compare_and_set(db, op, q).await?;
    if !pending {
        return Ok(None);
    }
    let mut e = AuditEntry::new("operator", op.id, AuditAction::Transition);
    e.ambito_id = op.ambito_id;
    e.changes = Some(diff(&[
        ("status", json!(op.status), json!(OperatorStatus::Active)),
        ("version", json!(op.version), json!(op.version + 1)),
    ]));
    Ok(Some(e))
}

/// Moves the version of the operator holding a profile being changed.
async fn bump_operator(txn: &DatabaseTransaction, operator_id: Uuid) -> Result<(), AppError> {
    let op = Unscoped::Child
        .find_by_id::<operator::Entity>(operator_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::Internal("a profile without its operator".into()))?;
    activate(txn, &op).await?;
    Ok(())
}

/// The Ambito administrator records a person a Comune indicated: the operator
/// is `PENDING_ACCREDITATION` in the administrator's Ambito until a profile is
/// accredited.
pub async fn add_operator(a: &Acting<'_>, p: &PersonInput) -> Result<Uuid, AppError> {
    let scope = a.gw.authz.scope_for(crate::authz::Object::Operator, Action::Create)?;
    let ambito = match scope {
        crate::authz::Scope::Ambito => a.gw.authz.principal.ambito_id,
        _ => None,
    }
    .ok_or_else(|| AppError::Forbidden("operators are recorded by the administrator of their Ambito".into()))?;
    let txn = a.begin().await?;
    let (row, e) = insert_operator(&txn, p, Some(ambito)).await?;
    txn.commit(vec![e]).await?;
    Ok(row.id)
}

/// The Ambito administrator accredits a profile of an operator of its Ambito;
/// a pending operator becomes `ACTIVE`. The first Coordinatore per il Patto of
/// an Ambito without a disadvantage validator in force also receives that role
/// (domain spec §1.4), on its Comuni that have a convention for GePI.
pub async fn accredit_profile(
    a: &Acting<'_>,
    operator_id: Uuid,
    version: i32,
    p: &ProfileInput,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let today = crate::calendar::today();
    if !model::may_grant(a.gw.authz.role(), p.role) {
        return Err(AppError::forbidden_at(
            "input.role",
            format!("the role {} may not accredit a {} profile", a.gw.authz.role().as_str(), p.role.as_str()),
        ));
    }
    let validity = Validity::granted(p.valid_from, p.valid_to, today, "input")?;
    if model::needs_funding(p.role) && p.funding.is_empty() {
        return Err(AppError::validation("input.fundingSources", "name the fund(s) paying for this professional"));
    }
    let txn = a.begin().await?;
    let op = a
        .load::<operator::Entity>(
            &txn,
            operator::Column::Id,
            operator_id,
            Action::Update,
            ("input.operatorId", "operator"),
        )
        .await?;
    check_version("operator", op.version, version)?;
    if !matches!(op.status, OperatorStatus::PendingAccreditation | OperatorStatus::Active) {
        return Err(AppError::conflict_at(
            "input.operatorId",
            format!(
                "the operator is {}: only pending or active operators are accredited",
                crate::codes::code(op.status)
            ),
        ));
    }
    // Profiles are accredited in the operator's own Ambito, by that Ambito's
    // administrator: an operator merely visible from elsewhere is not found.
    let mine = a.gw.authz.principal.ambito_id;
    let ambito_id = op
        .ambito_id
        .filter(|id| Some(*id) == mine)
        .ok_or_else(|| AppError::not_found_at("input.operatorId", "no operator with this id"))?;
    let comuni = check_comuni(&txn, p.role, ambito_id, &p.comuni, validity, today).await?;
    let clash = overlapping(
        &txn,
        Condition::all().add(profile::Column::OperatorId.eq(op.id)).add(profile::Column::AmbitoId.eq(ambito_id)),
        validity,
    )
    .await?;
    if clash.iter().any(|c| c.role == p.role) {
        return Err(AppError::conflict_at(
            "input.role",
            "the operator already holds a profile of this role in the period: change that one",
        ));
    }
    if clash.iter().any(|c| c.role == Role::AmbitoAdmin) {
        return Err(AppError::conflict_at(
            "input.operatorId",
            "the operator is the Ambito administrator, who holds no other profile in the Ambito",
        ));
    }
    let mut entries = Vec::new();
    let (row, e) = insert_profile(&txn, &op, p.role, Some(ambito_id), &comuni, validity, &p.funding, Some(me)).await?;
    entries.push(e);
    if p.role == Role::PaisCoordinator {
        let validators = overlapping(
            &txn,
            Condition::all()
                .add(profile::Column::AmbitoId.eq(ambito_id))
                .add(profile::Column::Role.eq(Role::DisadvantageValidator)),
            validity,
        )
        .await?;
        if validators.is_empty() && !clash.iter().any(|c| c.role == Role::DisadvantageValidator) {
            let mut covered = Vec::new();
            for c in &comuni {
                match check_comuni(
                    &txn,
                    Role::DisadvantageValidator,
                    ambito_id,
                    std::slice::from_ref(c),
                    validity,
                    today,
                )
                .await
                {
                    Ok(_) => covered.push(c.clone()),
                    Err(AppError::Validation { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            if !covered.is_empty() {
                let (_, e) = insert_profile(
                    &txn,
                    &op,
                    Role::DisadvantageValidator,
                    Some(ambito_id),
                    &covered,
                    validity,
                    &p.funding,
                    Some(me),
                )
                .await?;
                entries.push(e);
            }
        }
    }
    entries.extend(activate(&txn, &op).await?);
    txn.commit(entries).await?;
    Ok(row.id)
}

/// The Ministry designates and accredits the administrator of an Ambito: the
/// person is recorded in that Ambito if new; with `replace`, the administrator
/// in force is revoked at once (its sessions end) in the same transaction.
pub async fn designate_ambito_admin(
    a: &Acting<'_>,
    ambito_id: Uuid,
    person_in: &PersonInput,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    replace: bool,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let today = crate::calendar::today();
    if !model::may_grant(a.gw.authz.role(), Role::AmbitoAdmin) {
        return Err(AppError::Forbidden(format!(
            "the role {} may not designate Ambito administrators",
            a.gw.authz.role().as_str()
        )));
    }
    let validity = Validity::granted(valid_from, valid_to, today, "input")?;
    let txn = a.begin().await?;
    let amb = a
        .load::<entity::ambito::Entity>(
            &txn,
            entity::ambito::Column::Id,
            ambito_id,
            Action::Read,
            ("input.ambitoId", "Ambito"),
        )
        .await?;
    if amb.closed_at.is_some() {
        return Err(AppError::conflict_at("input.ambitoId", "the Ambito is closed"));
    }
    let (cf, ..) = person(person_in)?;
    let mut entries = Vec::new();
    let op = match Unscoped::Rule
        .find::<operator::Entity>()
        .filter(operator::Column::FiscalCode.eq(cf.as_str()))
        .one(&txn)
        .await?
    {
        Some(op)
            if op.ambito_id == Some(ambito_id)
                && matches!(op.status, OperatorStatus::Active | OperatorStatus::PendingAccreditation) =>
        {
            op
        }
        Some(_) => {
            return Err(AppError::conflict_at(
                "input.fiscalCode",
                "an operator with this codice fiscale is already recorded, outside this Ambito or no longer active",
            ))
        }
        None => {
            let (op, e) = insert_operator(&txn, person_in, Some(ambito_id)).await?;
            entries.push(e);
            op
        }
    };
    let own = overlapping(
        &txn,
        Condition::all().add(profile::Column::OperatorId.eq(op.id)).add(profile::Column::AmbitoId.eq(ambito_id)),
        validity,
    )
    .await?;
    if !own.is_empty() {
        return Err(AppError::conflict_at(
            "input.fiscalCode",
            "the person holds other profiles in the Ambito: the administrator holds none",
        ));
    }
    let current = overlapping(
        &txn,
        Condition::all().add(profile::Column::AmbitoId.eq(ambito_id)).add(profile::Column::Role.eq(Role::AmbitoAdmin)),
        validity,
    )
    .await?;
    for old in &current {
        if !replace {
            return Err(AppError::conflict_at(
                "input.ambitoId",
                "the Ambito already has an administrator in force in the period: replace it (replace: true) or revoke it first",
            ));
        }
        // A successor starting later: the one in force ends the day before, so
        // the Ambito is never without an administrator; otherwise it is revoked now.
        let day_before = validity.from.pred_opt().filter(|d| *d >= today && *d >= old.valid_from);
        match day_before {
            Some(end) => entries.push(end_profile_on(&txn, old, end).await?),
            None => entries.push(set_profile_status(&txn, old, ProfileStatus::Revoked).await?),
        }
    }
    let all: Vec<String> = Unscoped::Reference
        .find::<comune::Entity>()
        .filter(comune::Column::AmbitoId.eq(ambito_id))
        .order_by_asc(comune::Column::IstatCode)
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| c.istat_code)
        .collect();
    let (row, e) = insert_profile(&txn, &op, Role::AmbitoAdmin, Some(ambito_id), &all, validity, &[], Some(me)).await?;
    entries.push(e);
    entries.extend(activate(&txn, &op).await?);
    txn.commit(entries).await?;
    Ok(row.id)
}

/// The profile `profile_id` the caller may change: in the scope of its update
/// grant (out of scope is not found), of a role it may grant, at `version`.
async fn profile_to_change(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    profile_id: Uuid,
    version: i32,
) -> Result<profile::Model, AppError> {
    let p = a
        .load::<profile::Entity>(txn, profile::Column::Id, profile_id, Action::Update, ("input.profileId", "profile"))
        .await?;
    if !model::may_grant(a.gw.authz.role(), p.role) {
        return Err(AppError::forbidden_at(
            "input.profileId",
            format!("the role {} may not change a {} profile", a.gw.authz.role().as_str(), p.role.as_str()),
        ));
    }
    check_version("profile", p.version, version)?;
    Ok(p)
}

/// What an administrator does to a profile in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileChange {
    /// `ACTIVE → SUSPENDED`: its sessions end; it can be reinstated.
    Suspend,
    /// `SUSPENDED → ACTIVE`.
    Reinstate,
    /// `ACTIVE | SUSPENDED → REVOKED`, final: its sessions end.
    Revoke,
}

async fn set_profile_status(
    txn: &DatabaseTransaction,
    p: &profile::Model,
    to: ProfileStatus,
) -> Result<AuditEntry, AppError> {
    let q = profile::Entity::update_many().col_expr(profile::Column::Status, Expr::value(to));
    compare_and_set(txn, p, q).await.map_err(admin_rule_in)?;
    let mut e = AuditEntry::new("profile", p.id, AuditAction::Transition);
    e.ambito_id = p.ambito_id;
    let mut changes =
        diff(&[("status", json!(p.status), json!(to)), ("version", json!(p.version), json!(p.version + 1))]);
    // Out of force: its live sessions end in the same transaction, and the trail says how many.
    if to != ProfileStatus::Active {
        let ended = end_sessions(txn, p.operator_id, Some(p.id)).await?;
        sessions_ended(&mut changes, ended);
    }
    e.changes = Some(changes);
    Ok(e)
}

/// Ends a profile in force on `end` (its successor starts the day after).
async fn end_profile_on(txn: &DatabaseTransaction, p: &profile::Model, end: NaiveDate) -> Result<AuditEntry, AppError> {
    let q = profile::Entity::update_many().col_expr(profile::Column::ValidTo, Expr::value(Some(end)));
    compare_and_set(txn, p, q).await.map_err(admin_rule_in)?;
    let mut e = AuditEntry::new("profile", p.id, AuditAction::Update);
    e.ambito_id = p.ambito_id;
    e.changes =
        Some(diff(&[("valid_to", json!(p.valid_to), json!(end)), ("version", json!(p.version), json!(p.version + 1))]));
    Ok(e)
}

/// Records in an audit entry's before/after that `n` live sessions were ended.
fn sessions_ended(changes: &mut serde_json::Value, n: u64) {
    if n > 0 {
        changes["live_sessions"] = json!({ "before": n, "after": 0 });
    }
}

/// Suspends, reinstates or revokes a profile the caller may grant. Suspension
/// and revocation end the profile's sessions at once; the answer lists the
/// work its operator leaves without an owner.
pub async fn change_profile_status(
    a: &Acting<'_>,
    profile_id: Uuid,
    version: i32,
    change: ProfileChange,
) -> Result<OrphanedWork, AppError> {
    let txn = a.begin().await?;
    let p = profile_to_change(a, &txn, profile_id, version).await?;
    let to = match (change, p.status) {
        (ProfileChange::Suspend, ProfileStatus::Active) => ProfileStatus::Suspended,
        (ProfileChange::Reinstate, ProfileStatus::Suspended) => ProfileStatus::Active,
        (ProfileChange::Revoke, ProfileStatus::Active | ProfileStatus::Suspended) => ProfileStatus::Revoked,
        (c, s) => {
            return Err(AppError::Conflict(
                format!("{c:?} is not allowed: the profile is {}", crate::codes::code(s)).to_lowercase(),
            ))
        }
    };
    if to == ProfileStatus::Active {
        let validity = Validity { from: p.valid_from, to: p.valid_to };
        let same = Condition::all()
            .add(profile::Column::OperatorId.eq(p.operator_id))
            .add(profile::Column::Role.eq(p.role))
            .add(profile::Column::AmbitoId.eq(p.ambito_id));
        if overlapping(&txn, same, validity).await?.iter().any(|o| o.id != p.id) {
            return Err(AppError::conflict_at(
                "input.profileId",
                "the operator holds another profile of this role in the period: it cannot be reinstated",
            ));
        }
        bump_operator(&txn, p.operator_id).await?;
    }
    let entries = vec![set_profile_status(&txn, &p, to).await?];
    let orphaned = orphaned_work(&txn, p.operator_id, crate::calendar::today()).await?;
    txn.commit(entries).await?;
    Ok(orphaned)
}

// ---------------------------------------------------------------------------
// The command line of the installation: the first Ministry administrator of an
// empty database, and emergency revocation. Audited as the system.

/// `gepi operators add`: records a person (in an Ambito, by its code, or national).
pub async fn cli_add(
    db: &sea_orm::DatabaseConnection,
    p: &PersonInput,
    ambito_code: Option<&str>,
) -> Result<operator::Model, AppError> {
    let txn = db.begin().await?;
    let ambito_id = match ambito_code {
        Some(code) => Some(
            Unscoped::System
                .find::<ambito::Entity>()
                .filter(ambito::Column::Code.eq(code))
                .one(&txn)
                .await?
                .ok_or_else(|| AppError::not_found_at("--ambito", format!("no Ambito with code `{code}`")))?
                .id,
        ),
        None => None,
    };
    let (row, e) = insert_operator(&txn, p, ambito_id).await?;
    audit::record(&txn, &AuditContext::unattributed(entity::enums::ActorKind::System, None), vec![e]).await?;
    txn.commit().await?;
    Ok(row)
}

/// The operator a command names by codice fiscale.
async fn cli_operator(txn: &DatabaseTransaction, fiscal_code: &str) -> Result<operator::Model, AppError> {
    let cf = CodiceFiscale::parse(fiscal_code).map_err(|e| AppError::validation("--fiscal-code", e.to_string()))?;
    Unscoped::System
        .find::<operator::Entity>()
        .filter(operator::Column::FiscalCode.eq(cf.as_str()))
        .one(txn)
        .await?
        .ok_or_else(|| {
            AppError::not_found_at(
                "--fiscal-code",
                "no operator with this codice fiscale (add it with `gepi operators add`)",
            )
        })
}

/// `gepi operators accredit`: the command line grants only `ministry_admin`
/// (nobody can through the API); every other role is accredited through the API
/// by the role that grants it.
pub async fn cli_accredit(
    db: &sea_orm::DatabaseConnection,
    fiscal_code: &str,
    role: Role,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
) -> Result<profile::Model, AppError> {
    if role != Role::MinistryAdmin {
        return Err(AppError::validation(
            "--role",
            "the command line accredits only ministry_admin; the Ministry designates Ambito administrators and they accredit the other roles through the API",
        ));
    }
    let today = crate::calendar::today();
    let validity = Validity::granted(valid_from, valid_to, today, "--valid")?;
    let txn = db.begin().await?;
    let op = cli_operator(&txn, fiscal_code).await?;
    if op.ambito_id.is_some() || !matches!(op.status, OperatorStatus::PendingAccreditation | OperatorStatus::Active) {
        return Err(AppError::conflict_at(
            "--fiscal-code",
            "a Ministry administrator is a national operator (added without --ambito), pending or active",
        ));
    }
    if !overlapping(
        &txn,
        Condition::all().add(profile::Column::OperatorId.eq(op.id)).add(profile::Column::Role.eq(role)),
        validity,
    )
    .await?
    .is_empty()
    {
        return Err(AppError::conflict_at("--role", "the operator already holds this role in the period"));
    }
    let (row, e) = insert_profile(&txn, &op, role, None, &[], validity, &[], None).await?;
    let mut entries = vec![e];
    entries.extend(activate(&txn, &op).await?);
    audit::record(&txn, &AuditContext::unattributed(entity::enums::ActorKind::System, None), entries).await?;
    txn.commit().await?;
    Ok(row)
}

/// `gepi operators revoke`: revokes every profile of the operator and the
/// operator itself, ending its sessions at once.
pub async fn cli_revoke(db: &sea_orm::DatabaseConnection, fiscal_code: &str) -> Result<OrphanedWork, AppError> {
    let txn = db.begin().await?;
    let op = cli_operator(&txn, fiscal_code).await?;
    let mut entries = Vec::new();
    for p in Unscoped::System.find::<profile::Entity>().filter(profile::Column::OperatorId.eq(op.id)).all(&txn).await? {
        if p.status != ProfileStatus::Revoked {
            entries.push(set_profile_status(&txn, &p, ProfileStatus::Revoked).await?);
        }
    }
    if op.status != OperatorStatus::Revoked {
        let q =
            operator::Entity::update_many().col_expr(operator::Column::Status, Expr::value(OperatorStatus::Revoked));
        compare_and_set(&txn, &op, q).await?;
        let mut e = AuditEntry::new("operator", op.id, AuditAction::Transition);
        e.ambito_id = op.ambito_id;
        let mut changes = diff(&[
            ("status", json!(op.status), json!(OperatorStatus::Revoked)),
            ("version", json!(op.version), json!(op.version + 1)),
        ]);
        sessions_ended(&mut changes, end_sessions(&txn, op.id, None).await?);
        e.changes = Some(changes);
        entries.push(e);
    }
    audit::record(&txn, &AuditContext::unattributed(entity::enums::ActorKind::System, None), entries).await?;
    let orphaned = orphaned_work(&txn, op.id, crate::calendar::today()).await?;
    txn.commit().await?;
    Ok(orphaned)
}

// ---------------------------------------------------------------------------
// Changes to a profile in force, to a whole operator, and the move of the
// disadvantage validator.

/// What `change_profile` changes; `None` leaves a part as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileEdit {
    pub comuni: Option<Vec<String>>,
    pub valid_from: Option<NaiveDate>,
    /// `Some(None)`: open-ended from now on.
    pub valid_to: Option<Option<NaiveDate>>,
    pub funding: Option<Vec<FundingSource>>,
}

/// Changes the Comuni, validity or funding of an active or suspended profile
/// the caller may grant, under the same checks as its accreditation. Comuni
/// dropped from a profile take effect at once (sessions stay: the commit ends
/// every cached principal of this instance, and other instances read the
/// profile's Comuni again within `GEPI_SESSION_CACHE_SECS`).
pub async fn change_profile(
    a: &Acting<'_>,
    profile_id: Uuid,
    version: i32,
    edit: &ProfileEdit,
) -> Result<(), AppError> {
    let today = crate::calendar::today();
    let txn = a.begin().await?;
    let p = profile_to_change(a, &txn, profile_id, version).await?;
    if p.status == ProfileStatus::Revoked {
        return Err(AppError::conflict_at("input.profileId", "the profile is revoked: accredit a new one"));
    }
    let from = edit.valid_from.unwrap_or(p.valid_from);
    let to = edit.valid_to.unwrap_or(p.valid_to);
    let validity = match edit.valid_from {
        Some(f) if f != p.valid_from => Validity::granted(from, to, today, "input")?,
        _ => Validity::checked(from, to, today, "input")?,
    };
    let before_comuni = profile_comuni(&txn, p.id).await?;
    let comuni = match (&edit.comuni, p.ambito_id) {
        (Some(_), _) if p.role == Role::AmbitoAdmin => {
            return Err(AppError::validation(
                "input.comuni",
                "the Ambito administrator covers every Comune of the Ambito",
            ))
        }
        (Some(list), Some(ambito)) => check_comuni(&txn, p.role, ambito, list, validity, today).await?,
        (Some(_), None) => return Err(AppError::validation("input.comuni", "a national profile covers no Comuni")),
        (None, Some(ambito)) if edit.valid_from.is_some() || edit.valid_to.is_some() => {
            // A longer validity must still be covered by the conventions.
            check_comuni(&txn, p.role, ambito, &before_comuni, validity, today).await.map_err(|e| match e {
                AppError::Validation { message, .. } => AppError::validation("input.validFrom", message),
                other => other,
            })?
        }
        (None, _) => before_comuni.clone(),
    };
    let funding = edit.funding.clone().unwrap_or_else(|| model::funding_of(p.funding_sources.as_deref()));
    if model::needs_funding(p.role) && funding.is_empty() {
        return Err(AppError::validation("input.fundingSources", "name the fund(s) paying for this professional"));
    }
    let funding_sources = (!funding.is_empty()).then(|| model::funding_codes(&funding));
    let same = Condition::all()
        .add(profile::Column::OperatorId.eq(p.operator_id))
        .add(profile::Column::Role.eq(p.role))
        .add(profile::Column::Id.ne(p.id));
    if !overlapping(&txn, same, validity).await?.is_empty() {
        return Err(AppError::conflict_at(
            "input.validFrom",
            "the operator holds another profile of this role in that period",
        ));
    }
    // The operator's version moves too: a concurrent accreditation or change of
    // the same operator conflicts instead of passing the same overlap check.
    bump_operator(&txn, p.operator_id).await?;
    let q = profile::Entity::update_many()
        .col_expr(profile::Column::ValidFrom, Expr::value(validity.from))
        .col_expr(profile::Column::ValidTo, Expr::value(validity.to))
        .col_expr(profile::Column::FundingSources, Expr::value(funding_sources.clone()));
    compare_and_set(&txn, &p, q).await.map_err(admin_rule_in)?;
    if comuni != before_comuni {
        profile_comune::Entity::delete_many().filter(profile_comune::Column::ProfileId.eq(p.id)).exec(&txn).await?;
        profile_comune::Entity::insert_many(
            comuni.iter().map(|c| profile_comune::ActiveModel { profile_id: Set(p.id), comune_istat: Set(c.clone()) }),
        )
        .exec(&txn)
        .await?;
    }
    let mut e = AuditEntry::new("profile", p.id, AuditAction::Update);
    e.ambito_id = p.ambito_id;
    e.changes = Some(diff(&[
        ("comuni", json!(before_comuni), json!(comuni)),
        ("valid_from", json!(p.valid_from), json!(validity.from)),
        ("valid_to", json!(p.valid_to), json!(validity.to)),
        ("funding_sources", json!(p.funding_sources), json!(funding_sources)),
        ("version", json!(p.version), json!(p.version + 1)),
    ]));
    txn.commit(vec![e]).await?;
    Ok(())
}

/// What an administrator does to a whole operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorChange {
    /// `ACTIVE → SUSPENDED`: no login, its sessions end; its profiles stay.
    Suspend,
    /// `SUSPENDED → ACTIVE`.
    Reinstate,
    /// Final: every profile revoked, its sessions end.
    Revoke,
}

/// Suspends, reinstates or revokes an operator of the administrator's Ambito
/// whose profiles the administrator may all grant (never itself or another
/// administrator). Returns the work left without an owner.
pub async fn change_operator_status(
    a: &Acting<'_>,
    operator_id: Uuid,
    version: i32,
    change: OperatorChange,
) -> Result<OrphanedWork, AppError> {
    let txn = a.begin().await?;
    let op = a
        .load::<operator::Entity>(
            &txn,
            operator::Column::Id,
            operator_id,
            Action::Update,
            ("input.operatorId", "operator"),
        )
        .await?;
    let mine = a.gw.authz.principal.ambito_id;
    if op.ambito_id.is_none() || op.ambito_id != mine {
        return Err(AppError::not_found_at("input.operatorId", "no operator with this id"));
    }
    check_version("operator", op.version, version)?;
    let profiles =
        Unscoped::Child.find::<profile::Entity>().filter(profile::Column::OperatorId.eq(op.id)).all(&txn).await?;
    if let Some(p) =
        profiles.iter().find(|p| p.status != ProfileStatus::Revoked && !model::may_grant(a.gw.authz.role(), p.role))
    {
        return Err(AppError::forbidden_at(
            "input.operatorId",
            format!(
                "the operator holds a {} profile, which the role {} may not change",
                p.role.as_str(),
                a.gw.authz.role().as_str()
            ),
        ));
    }
    let to = match (change, op.status) {
        (OperatorChange::Suspend, OperatorStatus::Active) => OperatorStatus::Suspended,
        (OperatorChange::Reinstate, OperatorStatus::Suspended) => OperatorStatus::Active,
        (
            OperatorChange::Revoke,
            OperatorStatus::Active | OperatorStatus::Suspended | OperatorStatus::PendingAccreditation,
        ) => OperatorStatus::Revoked,
        (c, s) => {
            return Err(AppError::conflict_at(
                "input.change",
                format!("{c:?} is not allowed: the operator is {}", crate::codes::code(s)).to_lowercase(),
            ))
        }
    };
    let mut entries = Vec::new();
    if to == OperatorStatus::Revoked {
        for p in profiles.iter().filter(|p| p.status != ProfileStatus::Revoked) {
            entries.push(set_profile_status(&txn, p, ProfileStatus::Revoked).await?);
        }
    }
    let q = operator::Entity::update_many().col_expr(operator::Column::Status, Expr::value(to));
    compare_and_set(&txn, &op, q).await?;
    let mut e = AuditEntry::new("operator", op.id, AuditAction::Transition);
    e.ambito_id = op.ambito_id;
    let mut changes =
        diff(&[("status", json!(op.status), json!(to)), ("version", json!(op.version), json!(op.version + 1))]);
    if to != OperatorStatus::Active {
        sessions_ended(&mut changes, end_sessions(&txn, op.id, None).await?);
    }
    e.changes = Some(changes);
    entries.push(e);
    let orphaned = orphaned_work(&txn, op.id, crate::calendar::today()).await?;
    txn.commit(entries).await?;
    Ok(orphaned)
}

/// Moves the disadvantage validator of the administrator's Ambito to another
/// operator: the validator profiles in force are revoked (their sessions end)
/// and one is accredited to `operator_id`, on `comuni` (default: those of the
/// profiles it replaces) and `funding` (default: theirs), in one transaction.
pub async fn move_disadvantage_validator(
    a: &Acting<'_>,
    operator_id: Uuid,
    version: i32,
    comuni: Option<Vec<String>>,
    funding: Option<Vec<FundingSource>>,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let today = crate::calendar::today();
    if !model::may_grant(a.gw.authz.role(), Role::DisadvantageValidator) {
        return Err(AppError::Forbidden(format!(
            "the role {} may not assign the disadvantage validator",
            a.gw.authz.role().as_str()
        )));
    }
    let txn = a.begin().await?;
    let op = a
        .load::<operator::Entity>(
            &txn,
            operator::Column::Id,
            operator_id,
            Action::Update,
            ("input.operatorId", "operator"),
        )
        .await?;
    let ambito_id = op
        .ambito_id
        .filter(|id| Some(*id) == a.gw.authz.principal.ambito_id)
        .ok_or_else(|| AppError::not_found_at("input.operatorId", "no operator with this id"))?;
    check_version("operator", op.version, version)?;
    if op.status != OperatorStatus::Active {
        return Err(AppError::conflict_at("input.operatorId", "the disadvantage validator is an active operator"));
    }
    let validity = Validity { from: today, to: None };
    let own = overlapping(
        &txn,
        Condition::all().add(profile::Column::OperatorId.eq(op.id)).add(profile::Column::AmbitoId.eq(ambito_id)),
        validity,
    )
    .await?;
    if own.iter().any(|p| p.role == Role::AmbitoAdmin) {
        return Err(AppError::conflict_at(
            "input.operatorId",
            "the operator is the Ambito administrator, who holds no other profile in the Ambito",
        ));
    }
    // Suspended validators go too: reinstated later they would make two. They
    // are profiles of the administrator's own Ambito (`ambito_id` is its Ambito).
    let current: Vec<profile::Model> = Unscoped::Child
        .find::<profile::Entity>()
        .filter(profile::Column::AmbitoId.eq(ambito_id))
        .filter(profile::Column::Role.eq(Role::DisadvantageValidator))
        .filter(profile::Column::Status.is_in([ProfileStatus::Active, ProfileStatus::Suspended]))
        .all(&txn)
        .await?
        .into_iter()
        .filter(|p| validity.overlaps(p.valid_from, p.valid_to))
        .collect();
    if current.iter().any(|p| p.operator_id == op.id) {
        return Err(AppError::conflict_at(
            "input.operatorId",
            "the operator is a disadvantage validator already: change that profile's Comuni instead",
        ));
    }
    let mut inherited_comuni = Vec::new();
    let mut inherited_funding = Vec::new();
    let mut entries = Vec::new();
    for old in &current {
        inherited_comuni.extend(profile_comuni(&txn, old.id).await?);
        inherited_funding.extend(model::funding_of(old.funding_sources.as_deref()));
        entries.push(set_profile_status(&txn, old, ProfileStatus::Revoked).await?);
    }
    inherited_comuni.sort();
    inherited_comuni.dedup();
    let comuni = match comuni {
        Some(list) => check_comuni(&txn, Role::DisadvantageValidator, ambito_id, &list, validity, today).await?,
        None => check_comuni(&txn, Role::DisadvantageValidator, ambito_id, &inherited_comuni, validity, today)
            .await
            .map_err(|e| match e {
                AppError::Validation { message, .. } => AppError::validation(
                    "input.comuni",
                    format!("of the validator in force ({}): {message}; name the Comuni", inherited_comuni.join(", ")),
                ),
                other => other,
            })?,
    };
    let funding = funding.unwrap_or(inherited_funding);
    if funding.is_empty() {
        return Err(AppError::validation("input.fundingSources", "name the fund(s) paying for this professional"));
    }
    let (row, e) =
        insert_profile(&txn, &op, Role::DisadvantageValidator, Some(ambito_id), &comuni, validity, &funding, Some(me))
            .await?;
    entries.push(e);
    entries.extend(activate(&txn, &op).await?);
    txn.commit(entries).await?;
    Ok(row.id)
}
