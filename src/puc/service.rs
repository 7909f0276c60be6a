//! Use cases of PUC.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use entity::{case_file, comune, enums::*, member, puc_assignment, puc_attendance, puc_project};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::AuditEntry,
    authz::{Action, Object, Scope},
    calendar::today,
    error::AppError,
    reports::service::{insert_report, ReportDraft},
    territory::model::IstatCode,
    workflow::{bump_version, check_version, compare_and_set, diff, opt_text, text, Acting},
};
use crate::{authz::find_under, unscoped::Unscoped};

/// Places of a project per source, and those taken (proposed or active).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vacancies {
    pub comune: i32,
    pub cpi: i32,
    pub volunteer: i32,
}

impl Vacancies {
    pub fn of(&self, s: PlaceSource) -> i32 {
        match s {
            PlaceSource::Comune => self.comune,
            PlaceSource::Cpi => self.cpi,
            PlaceSource::Volontario => self.volunteer,
        }
    }
    pub fn total(&self) -> i32 {
        self.comune + self.cpi + self.volunteer
    }
}

/// Places taken (proposed or active assignments) per project and source. Counts,
/// not rows: a viewer of the catalogue learns no one's assignment.
pub async fn taken_places<C: ConnectionTrait>(db: &C, projects: &[Uuid]) -> Result<HashMap<Uuid, Vacancies>, AppError> {
    let mut out: HashMap<Uuid, Vacancies> = HashMap::new();
    for chunk in projects.chunks(1000) {
        let taken = Unscoped::Rule
            .find::<puc_assignment::Entity>()
            .filter(puc_assignment::Column::ProjectId.is_in(chunk.iter().copied()))
            .filter(puc_assignment::Column::State.is_in([PucAssignmentState::Proposto, PucAssignmentState::Attivo]))
            .all(db)
            .await?;
        for a in taken {
            let v = out.entry(a.project_id).or_default();
            match a.source {
                PlaceSource::Comune => v.comune += 1,
                PlaceSource::Cpi => v.cpi += 1,
                PlaceSource::Volontario => v.volunteer += 1,
            }
        }
    }
    Ok(out)
}

/// Vacancies of a project given the places taken.
pub fn vacancies_of(p: &puc_project::Model, taken: Vacancies) -> Vacancies {
    Vacancies {
        comune: p.places_comune - taken.comune,
        cpi: p.places_cpi - taken.cpi,
        volunteer: p.places_volunteer - taken.volunteer,
    }
}

/// Vacancies of the given projects.
pub async fn vacancies<C: ConnectionTrait>(
    db: &C,
    projects: &[puc_project::Model],
) -> Result<HashMap<Uuid, Vacancies>, AppError> {
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let taken = taken_places(db, &ids).await?;
    Ok(projects.iter().map(|p| (p.id, vacancies_of(p, taken.get(&p.id).copied().unwrap_or_default()))).collect())
}

/// The editable fields of a project.
#[derive(Default)]
pub struct ProjectFields {
    pub title: Option<String>,
    pub field: Option<PucField>,
    pub description: Option<String>,
    pub host_body: Option<String>,
    pub site: Option<String>,
    pub schedule: Option<String>,
    pub weekly_hours: Option<i32>,
    pub places_comune: Option<i32>,
    pub places_cpi: Option<i32>,
    pub places_volunteer: Option<i32>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub min_duration_months: Option<i32>,
    pub tutor: Option<String>,
}

/// Applies and validates `f` over `p`.
fn merge(mut p: puc_project::Model, f: ProjectFields) -> Result<puc_project::Model, AppError> {
    if let Some(v) = f.title {
        p.title = text("input.project.title", &v, 200)?;
    }
    if let Some(v) = f.field {
        p.field = v;
    }
    if let Some(v) = f.description {
        p.description = text("input.project.description", &v, 4000)?;
    }
    if let Some(v) = f.host_body {
        p.host_body = text("input.project.hostBody", &v, 200)?;
    }
    if let Some(v) = f.site {
        p.site = text("input.project.site", &v, 300)?;
    }
    if let Some(v) = f.schedule {
        p.schedule = text("input.project.schedule", &v, 300)?;
    }
    if let Some(v) = f.weekly_hours {
        p.weekly_hours = v;
    }
    if let Some(v) = f.places_comune {
        p.places_comune = v;
    }
    if let Some(v) = f.places_cpi {
        p.places_cpi = v;
    }
    if let Some(v) = f.places_volunteer {
        p.places_volunteer = v;
    }
    if let Some(v) = f.starts_on {
        p.starts_on = v;
    }
    if let Some(v) = f.ends_on {
        p.ends_on = v;
    }
    if let Some(v) = f.min_duration_months {
        p.min_duration_months = v;
    }
    if f.tutor.is_some() {
        p.tutor = opt_text("input.project.tutor", f.tutor.as_deref(), 200)?;
    }
    if !(8..=16).contains(&p.weekly_hours) {
        return Err(AppError::validation("input.project.weeklyHours", "between 8 and 16 hours a week"));
    }
    for (field, n) in [
        ("input.project.placesComune", p.places_comune),
        ("input.project.placesCpi", p.places_cpi),
        ("input.project.placesVolunteer", p.places_volunteer),
    ] {
        if !(0..=500).contains(&n) {
            return Err(AppError::validation(field, "between 0 and 500"));
        }
    }
    if p.places_comune + p.places_cpi + p.places_volunteer == 0 {
        return Err(AppError::validation("input.project.placesComune", "a project offers at least one place"));
    }
    if p.ends_on < p.starts_on {
        return Err(AppError::validation("input.project.endsOn", "ends before it starts"));
    }
    if !(1..=18).contains(&p.min_duration_months) {
        return Err(AppError::validation("input.project.minDurationMonths", "between 1 and 18 months"));
    }
    let months = (p.ends_on - p.starts_on).num_days() / 30;
    if (p.min_duration_months as i64) > months.max(1) {
        return Err(AppError::validation("input.project.minDurationMonths", "longer than the project"));
    }
    Ok(p)
}

/// Responsabile PUC: creates a project (a draft) in one of its Comuni.
pub async fn create_project(a: &Acting<'_>, comune_istat: &str, f: ProjectFields) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let scope = a.gw.authz.scope_for(Object::PucProject, Action::Create)?;
    let code = IstatCode::parse_at("input.comuneIstat", comune_istat)?;
    let txn = a.begin().await?;
    let c = Unscoped::Reference
        .find_by_id::<comune::Entity>(code.as_str().to_string())
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::validation("input.comuneIstat", format!("no Comune with ISTAT code {code}")))?;
    let p = &a.gw.authz.principal;
    let allowed = match scope {
        Scope::National => true,
        Scope::Ambito => Some(c.ambito_id) == p.ambito_id,
        Scope::Comune | Scope::Own => p.comuni.contains(&c.istat_code),
        Scope::Unassigned => false,
    };
    if !allowed {
        return Err(AppError::Forbidden(format!("the Comune {code} is not one of the profile's")));
    }
    let required = |v: Option<String>, field: &str| v.ok_or_else(|| AppError::validation(field, "required"));
    let now = Utc::now();
    let draft = puc_project::Model {
        id: Uuid::now_v7(),
        ambito_id: c.ambito_id,
        comune_istat: c.istat_code.clone(),
        manager_id: Some(me),
        title: required(f.title.clone(), "input.project.title")?,
        field: f.field.ok_or_else(|| AppError::validation("input.project.field", "required"))?,
        description: required(f.description.clone(), "input.project.description")?,
        host_body: required(f.host_body.clone(), "input.project.hostBody")?,
        site: required(f.site.clone(), "input.project.site")?,
        schedule: required(f.schedule.clone(), "input.project.schedule")?,
        weekly_hours: f.weekly_hours.unwrap_or(8),
        places_comune: 0,
        places_cpi: 0,
        places_volunteer: 0,
        starts_on: f.starts_on.ok_or_else(|| AppError::validation("input.project.startsOn", "required"))?,
        ends_on: f.ends_on.ok_or_else(|| AppError::validation("input.project.endsOn", "required"))?,
        min_duration_months: f.min_duration_months.unwrap_or(1),
        tutor: None,
        state: PucProjectState::Bozza,
        version: 1,
        created_at: now,
    };
    let p = merge(draft, f)?;
    let id = p.id;
    puc_project::Entity::insert(sea_orm::IntoActiveModel::into_active_model(p.clone()))
        .exec_without_returning(&txn)
        .await?;
    let mut e = AuditEntry::new("puc_project", id, AuditAction::Create);
    e.ambito_id = Some(c.ambito_id);
    e.changes =
        Some(json!({ "comune_istat": p.comune_istat, "places": [p.places_comune, p.places_cpi, p.places_volunteer] }));
    txn.commit(vec![e]).await?;
    Ok(id)
}

async fn load_project(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    id: Uuid,
    action: Action,
) -> Result<puc_project::Model, AppError> {
    a.load::<puc_project::Entity>(txn, puc_project::Column::Id, id, action, ("input.projectId", "PUC project")).await
}

fn project_entry(p: &puc_project::Model, action: AuditAction, changes: serde_json::Value) -> AuditEntry {
    let mut e = AuditEntry::new("puc_project", p.id, action);
    e.ambito_id = Some(p.ambito_id);
    e.changes = Some(changes);
    e
}

/// Responsabile PUC: edits a draft or active project. Places cannot go below
/// the assignments already proposed or active.
pub async fn update_project(a: &Acting<'_>, id: Uuid, version: i32, f: ProjectFields) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let p = load_project(a, &txn, id, Action::Update).await?;
    check_version("project", p.version, version)?;
    if !matches!(p.state, PucProjectState::Bozza | PucProjectState::Attivo | PucProjectState::Completo) {
        return Err(AppError::Conflict(format!(
            "updatePucProject is not allowed: the project is {}",
            crate::codes::code(p.state)
        )));
    }
    let before = p.clone();
    let new = merge(p, f)?;
    let v = vacancies(&txn, std::slice::from_ref(&new)).await?[&new.id];
    if v.comune < 0 || v.cpi < 0 || v.volunteer < 0 {
        return Err(AppError::validation(
            "input.project.placesComune",
            "fewer places than the assignments proposed or active",
        ));
    }
    let state = match new.state {
        PucProjectState::Attivo | PucProjectState::Completo if v.total() == 0 => PucProjectState::Completo,
        PucProjectState::Completo => PucProjectState::Attivo,
        s => s,
    };
    let mut am: puc_project::ActiveModel = sea_orm::IntoActiveModel::into_active_model(new.clone());
    am.title = Set(new.title.clone());
    am.field = Set(new.field);
    am.description = Set(new.description.clone());
    am.host_body = Set(new.host_body.clone());
    am.site = Set(new.site.clone());
    am.schedule = Set(new.schedule.clone());
    am.weekly_hours = Set(new.weekly_hours);
    am.places_comune = Set(new.places_comune);
    am.places_cpi = Set(new.places_cpi);
    am.places_volunteer = Set(new.places_volunteer);
    am.starts_on = Set(new.starts_on);
    am.ends_on = Set(new.ends_on);
    am.min_duration_months = Set(new.min_duration_months);
    am.tutor = Set(new.tutor.clone());
    am.state = Set(state);
    compare_and_set(&txn, &before, puc_project::Entity::update_many().set(am)).await?;
    let e = project_entry(
        &before,
        AuditAction::Update,
        diff(&[
            ("weekly_hours", json!(before.weekly_hours), json!(new.weekly_hours)),
            ("places_comune", json!(before.places_comune), json!(new.places_comune)),
            ("places_cpi", json!(before.places_cpi), json!(new.places_cpi)),
            ("places_volunteer", json!(before.places_volunteer), json!(new.places_volunteer)),
            ("starts_on", json!(before.starts_on), json!(new.starts_on)),
            ("ends_on", json!(before.ends_on), json!(new.ends_on)),
            ("min_duration_months", json!(before.min_duration_months), json!(new.min_duration_months)),
            ("title", json!(before.title), json!(new.title)),
            ("state", json!(before.state), json!(state)),
        ]),
    );
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// What a project's life allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectStep {
    Publish,
    Close,
    Cancel,
}

/// Responsabile PUC: publishes to the catalogue, closes, or cancels a project.
pub async fn step_project(a: &Acting<'_>, id: Uuid, version: i32, step: ProjectStep) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let p = load_project(a, &txn, id, Action::Update).await?;
    check_version("project", p.version, version)?;
    use PucProjectState::*;
    let (allowed, to, name) = match step {
        ProjectStep::Publish => (p.state == Bozza, Attivo, "publishPucProject"),
        ProjectStep::Close => (matches!(p.state, Attivo | Completo), Concluso, "closePucProject"),
        ProjectStep::Cancel => (matches!(p.state, Bozza | Attivo | Completo), Annullato, "cancelPucProject"),
    };
    if !allowed {
        return Err(AppError::Conflict(format!(
            "{name} is not allowed: the project is {}",
            crate::codes::code(p.state)
        )));
    }
    if step == ProjectStep::Cancel {
        let active = Unscoped::Child
            .find::<puc_assignment::Entity>()
            .filter(puc_assignment::Column::ProjectId.eq(p.id))
            .filter(puc_assignment::Column::State.eq(PucAssignmentState::Attivo))
            .one(&txn)
            .await?;
        if active.is_some() {
            return Err(AppError::Conflict(
                "cancelPucProject is not allowed: beneficiaries are active on it; close it instead".into(),
            ));
        }
    }
    let q = puc_project::Entity::update_many().col_expr(puc_project::Column::State, Expr::value(to));
    compare_and_set(&txn, &p, q).await?;
    let e = project_entry(&p, AuditAction::Transition, diff(&[("state", json!(p.state), json!(to))]));
    txn.commit(vec![e]).await?;
    Ok(id)
}

/// Proposes a member for a project: a case manager for the members of its own
/// cases, the Responsabile PUC for its Comuni' projects. Refused when the source
/// has no vacancy, when the member already has an active assignment, or when the
/// member's residual benefit is shorter than the project's minimum duration.
pub async fn propose(a: &Acting<'_>, project_id: Uuid, member_id: Uuid, source: PlaceSource) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let scope = a.gw.authz.scope_for(Object::PucAssignment, Action::Create)?;
    let txn = a.begin().await?;
    // The project: in the catalogue the proposer reads.
    let project = a
        .named::<puc_project::Entity>(&txn, (puc_project::Column::Id, project_id), "input.projectId", "PUC project")
        .await?;
    // The member, before any other rule: one the proposer may propose — a
    // member of one of the case manager's own cases; for the Responsabile PUC,
    // of a household with a case in the project's Comune. Any other id answers
    // exactly as an id that does not exist, so that neither the answer nor the
    // rules checked after it (busy, residual benefit) tell anything about a
    // person out of scope.
    let not_found =
        || AppError::not_found_at("input.memberId", "no member with this id that you may propose for this project");
    let m = Unscoped::Rule.find_by_id::<member::Entity>(member_id).one(&txn).await?.ok_or_else(not_found)?;
    let case = match (scope, a.gw.authz.principal.role) {
        (Scope::Own, Role::CaseManager) => find_under::<case_file::Entity>(Scope::Own, &a.gw.authz.principal)
            .filter(case_file::Column::HouseholdId.eq(m.household_id))
            .one(&txn)
            .await?
            .ok_or_else(not_found)?,
        _ => {
            let pc = find_under::<puc_project::Entity>(scope, &a.gw.authz.principal)
                .filter(puc_project::Column::Id.eq(project.id))
                .one(&txn)
                .await?;
            if pc.is_none() {
                return Err(AppError::not_found_at(
                    "input.projectId",
                    "no PUC project with this id among the projects you manage",
                ));
            }
            Unscoped::Rule
                .find::<case_file::Entity>()
                .filter(case_file::Column::HouseholdId.eq(m.household_id))
                .filter(case_file::Column::ComuneIstat.eq(project.comune_istat.clone()))
                .one(&txn)
                .await?
                .ok_or_else(not_found)?
        }
    };
    let v = open_for(&txn, &project, source, "proposePucAssignment").await?;
    let (id, entries) = place(&txn, &project, v, &m, &case, source, Some(me)).await?;
    txn.commit(entries).await?;
    Ok(id)
}

/// A Centro per l'impiego proposes one of its beneficiaries, named by codice
/// fiscale, for a CPI place of a project it may propose for (the catalogue
/// under its scope: a key limited to an Ambito, that Ambito's projects). Its
/// beneficiaries are the members bound to work activation (PAD individuale and
/// PSP at the CPI) of a household with a case in the project's Comune; any
/// other codice fiscale answers exactly as one GePI does not know. Then the
/// same rules as every proposal: an active project, a free CPI place, no other
/// proposed or active assignment, residual benefit ≥ the minimum duration.
/// The assignment has no proposing operator: the audit trail names the key.
pub async fn propose_cpi(a: &Acting<'_>, project_id: Uuid, fiscal_code: &str) -> Result<Uuid, AppError> {
    // Only the CPI's key: an operator proposes members it reads, by id.
    let p = &a.gw.authz.principal;
    if !(matches!(p.actor, crate::principal::Actor::ApiClient { .. }) && p.role == Role::CpiPartner) {
        return Err(AppError::Forbidden(
            "proposeCpiBeneficiary is a Centro per l'impiego's: operators use proposePucAssignment".into(),
        ));
    }
    let cf = crate::households::model::CodiceFiscale::parse(fiscal_code)
        .map_err(|e| AppError::validation("input.fiscalCode", e.to_string()))?;
    let scope = a.gw.authz.scope_for(Object::PucAssignment, Action::Create)?;
    let txn = a.begin().await?;
    let project = a
        .named::<puc_project::Entity>(&txn, (puc_project::Column::Id, project_id), "input.projectId", "PUC project")
        .await?;
    let in_scope = find_under::<puc_project::Entity>(scope, &a.gw.authz.principal)
        .filter(puc_project::Column::Id.eq(project.id))
        .one(&txn)
        .await?;
    if in_scope.is_none() {
        return Err(AppError::not_found_at("input.projectId", "no PUC project with this id"));
    }
    // What depends on the project alone comes first: after the lookup, the
    // answers must not tell one codice fiscale from another.
    let v = open_for(&txn, &project, PlaceSource::Cpi, "proposeCpiBeneficiary").await?;
    let not_found = || {
        AppError::not_found_at(
            "input.fiscalCode",
            "no beneficiary with this codice fiscale that you may propose for this project",
        )
    };
    let members = Unscoped::Rule
        .find::<member::Entity>()
        .filter(member::Column::FiscalCode.eq(cf.as_str()))
        .filter(member::Column::ObligatedActivation.eq(true))
        .all(&txn)
        .await?;
    let mut found = None;
    for m in members {
        let case = Unscoped::Rule
            .find::<case_file::Entity>()
            .filter(case_file::Column::HouseholdId.eq(m.household_id))
            .filter(case_file::Column::ComuneIstat.eq(project.comune_istat.clone()))
            .filter(case_file::Column::State.is_not_in(crate::codes::CASE_CLOSED))
            .one(&txn)
            .await?;
        if let Some(case) = case {
            found = Some((m, case));
            break;
        }
    }
    let (m, case) = found.ok_or_else(not_found)?;
    // The person's other assignments and months of benefit are not the CPI's
    // to read: one refusal for both, without figures.
    let (id, entries) = place(&txn, &project, v, &m, &case, PlaceSource::Cpi, None).await.map_err(|e| match e {
        AppError::Conflict(_) => AppError::Conflict(
            "this beneficiary cannot take a place of this project now (another PUC assignment proposed or \
                 active, or fewer months of benefit left than the project's minimum duration)"
                .into(),
        ),
        other => other,
    })?;
    txn.commit(entries).await?;
    Ok(id)
}

/// The project takes a proposal for a place of `source`: it is active and has
/// one free; returns its vacancies.
async fn open_for(
    txn: &DatabaseTransaction,
    project: &puc_project::Model,
    source: PlaceSource,
    what: &str,
) -> Result<Vacancies, AppError> {
    if project.state != PucProjectState::Attivo {
        return Err(AppError::Conflict(format!(
            "{what} is not allowed: the project is {}",
            crate::codes::code(project.state)
        )));
    }
    let v = vacancies(txn, std::slice::from_ref(project)).await?[&project.id];
    if v.of(source) <= 0 {
        return Err(AppError::Conflict(format!(
            "the project has no vacancy for {} beneficiaries",
            crate::codes::code(source)
        )));
    }
    Ok(v)
}

/// The rules every proposal meets once the project (open for `source`, with
/// vacancies `v`: [`open_for`]), the member and the case are known, then the
/// assignment (`PROPOSTO`) and its audit entries (and the project's, when this
/// took its last place).
async fn place(
    txn: &DatabaseTransaction,
    project: &puc_project::Model,
    v: Vacancies,
    m: &member::Model,
    case: &case_file::Model,
    source: PlaceSource,
    proposed_by: Option<Uuid>,
) -> Result<(Uuid, Vec<AuditEntry>), AppError> {
    // A CPI place is for a beneficiary of the Centro per l'impiego: a member
    // bound to work activation (whose starts and ends the CPI then learns).
    if source == PlaceSource::Cpi && !m.obligated_activation {
        return Err(AppError::Conflict(
            "a CPI place is for a member bound to work activation (a beneficiary of the Centro per l'impiego)".into(),
        ));
    }
    let busy = Unscoped::Rule
        .find::<puc_assignment::Entity>()
        .filter(puc_assignment::Column::MemberId.eq(m.id))
        .filter(puc_assignment::Column::State.is_in([PucAssignmentState::Proposto, PucAssignmentState::Attivo]))
        .one(txn)
        .await?;
    if busy.is_some() {
        return Err(AppError::Conflict("the member already has a proposed or active PUC assignment".into()));
    }
    if m.residual_benefit_months < project.min_duration_months {
        return Err(AppError::Conflict(format!(
            "the member's residual benefit ({} months) is shorter than the project's minimum duration ({} months)",
            m.residual_benefit_months, project.min_duration_months
        )));
    }
    let id = Uuid::now_v7();
    puc_assignment::ActiveModel {
        id: Set(id),
        project_id: Set(project.id),
        member_id: Set(m.id),
        case_id: Set(Some(case.id)),
        source: Set(source),
        state: Set(PucAssignmentState::Proposto),
        proposed_by: Set(proposed_by),
        proposed_at: Set(Some(Utc::now())),
        starts_on: Set(None),
        planned_end_on: Set(None),
        weekly_hours: Set(project.weekly_hours),
        interruption_reason: Set(None),
        interrupted_on: Set(None),
        inail_ref: Set(None),
        version: Set(1),
    }
    .insert(txn)
    .await?;
    let mut entries = Vec::new();
    if v.total() == 1 {
        bump_version::<puc_project::Model>(puc_project::Entity::update_many())
            .col_expr(puc_project::Column::State, Expr::value(PucProjectState::Completo))
            .filter(puc_project::Column::Id.eq(project.id))
            .exec(txn)
            .await?;
        entries.push(project_entry(
            project,
            AuditAction::Transition,
            diff(&[("state", json!(project.state), json!(PucProjectState::Completo))]),
        ));
    }
    let mut e = AuditEntry::new("puc_assignment", id, AuditAction::Create);
    e.ambito_id = Some(project.ambito_id);
    e.changes = Some(json!({ "project_id": project.id, "source": source, "state": PucAssignmentState::Proposto }));
    entries.push(e);
    Ok((id, entries))
}

async fn load_assignment(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    id: Uuid,
) -> Result<(puc_assignment::Model, puc_project::Model), AppError> {
    let asg = a
        .load::<puc_assignment::Entity>(
            txn,
            puc_assignment::Column::Id,
            id,
            Action::Update,
            ("input.assignmentId", "PUC assignment"),
        )
        .await?;
    let p = Unscoped::Child
        .find_by_id::<puc_project::Entity>(asg.project_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("assignment without project"))?;
    Ok((asg, p))
}

/// What happens to an assignment.
pub enum AssignmentStep {
    Start { starts_on: NaiveDate, inail_ref: String },
    Complete,
    Interrupt { reason: InterruptionReason, on: NaiveDate, raise_report: bool },
}

/// Responsabile PUC: starts (INAIL activated), completes or interrupts an
/// assignment. A refusal or abandonment can raise a segnalazione draft.
pub async fn step_assignment(a: &Acting<'_>, id: Uuid, version: i32, step: AssignmentStep) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let txn = a.begin().await?;
    let (asg, project) = load_assignment(a, &txn, id).await?;
    check_version("assignment", asg.version, version)?;
    use PucAssignmentState::*;
    let mut q = puc_assignment::Entity::update_many();
    let to = match &step {
        AssignmentStep::Start { starts_on, inail_ref } => {
            if asg.state != Proposto {
                return Err(AppError::Conflict(format!(
                    "startPucAssignment is not allowed: the assignment is {}",
                    crate::codes::code(asg.state)
                )));
            }
            let inail = text("input.inailRef", inail_ref, 60)?;
            if *starts_on < project.starts_on || *starts_on > project.ends_on {
                return Err(AppError::validation("input.startOn", "outside the project's dates"));
            }
            let end = (*starts_on + chrono::Months::new(project.min_duration_months as u32)).min(project.ends_on);
            q = q
                .col_expr(puc_assignment::Column::StartsOn, Expr::value(*starts_on))
                .col_expr(puc_assignment::Column::PlannedEndOn, Expr::value(end))
                .col_expr(puc_assignment::Column::InailRef, Expr::value(inail));
            Attivo
        }
        AssignmentStep::Complete => {
            if asg.state != Attivo {
                return Err(AppError::Conflict(format!(
                    "completePucAssignment is not allowed: the assignment is {}",
                    crate::codes::code(asg.state)
                )));
            }
            // Ending before the minimum duration (or the project's end, when
            // that comes first) is an interruption, with its reason.
            if let Some(end) = asg.planned_end_on.filter(|end| *end > today()) {
                return Err(AppError::Conflict(format!(
                    "completePucAssignment is not allowed before the planned end ({end}: the project's minimum \
                     duration of {} months, or its end if that comes first): an assignment that ends earlier is \
                     interrupted (interrupt, with its reason)",
                    project.min_duration_months
                )));
            }
            Completato
        }
        AssignmentStep::Interrupt { reason, on, .. } => {
            if !matches!(asg.state, Proposto | Attivo) {
                return Err(AppError::Conflict(format!(
                    "interruptPucAssignment is not allowed: the assignment is {}",
                    crate::codes::code(asg.state)
                )));
            }
            if *on > today() {
                return Err(AppError::validation("input.interruptedOn", "must not be in the future"));
            }
            q = q
                .col_expr(puc_assignment::Column::InterruptionReason, Expr::value(*reason))
                .col_expr(puc_assignment::Column::InterruptedOn, Expr::value(*on));
            Interrotto
        }
    };
    let q = q.col_expr(puc_assignment::Column::State, Expr::value(to));
    compare_and_set(&txn, &asg, q).await?;
    let mut e = AuditEntry::new("puc_assignment", asg.id, AuditAction::Transition);
    e.ambito_id = Some(project.ambito_id);
    e.changes = Some(diff(&[("state", json!(asg.state), json!(to))]));
    let mut entries = vec![e];
    if matches!(to, Completato | Interrotto) {
        entries.extend(reopen_if_full(&txn, &project).await?);
    }
    if let AssignmentStep::Interrupt { reason, on, raise_report: true } = step {
        let kind = if asg.state == Proposto { ReportKind::RifiutoPuc } else { ReportKind::AbbandonoPuc };
        let case = match asg.case_id {
            Some(c) => Unscoped::Child.find_by_id::<case_file::Entity>(c).one(&txn).await?,
            None => None,
        };
        let rid = insert_report(
            &txn,
            ReportDraft {
                // A case's segnalazione belongs to the case's Ambito (its coordinator decides it).
                ambito_id: case.as_ref().map(|c| c.ambito_id).unwrap_or(project.ambito_id),
                comune_istat: case.as_ref().map(|c| c.comune_istat.clone()).unwrap_or(project.comune_istat.clone()),
                case_id: asg.case_id,
                residency_check_id: None,
                puc_assignment_id: Some(asg.id),
                member_id: Some(asg.member_id),
                kind,
                state: ReportState::Bozza,
                fact_date: on,
                description: format!("Interruzione del PUC per {}.", crate::codes::code(reason).to_lowercase()),
                created_by: me,
                rectification_of: None,
                annuls: false,
                override_reason: None,
            },
        )
        .await?;
        let mut e = AuditEntry::new("report", rid, AuditAction::Create);
        e.ambito_id = Some(project.ambito_id);
        e.changes = Some(json!({ "puc_assignment_id": asg.id, "kind": kind, "state": ReportState::Bozza }));
        entries.push(e);
    }
    // INPS collects every start and end; the Centro per l'impiego those of its places.
    let kind = match to {
        Attivo => PartnerEventKind::PucAvviato,
        Completato => PartnerEventKind::PucConcluso,
        _ => PartnerEventKind::PucInterrotto,
    };
    let application_id = match asg.case_id {
        Some(c) => Unscoped::Child.find_by_id::<case_file::Entity>(c).one(&txn).await?.map(|c| c.application_id),
        None => None,
    };
    tell_partners(&txn, &asg, &project, kind, application_id).await?;
    txn.commit(entries).await?;
    Ok(asg.id)
}

/// Responsabile PUC: records (or corrects) a day of the attendance register.
pub async fn record_attendance(
    a: &Acting<'_>,
    id: Uuid,
    day: NaiveDate,
    minutes: i32,
    status: AttendanceStatus,
    note: Option<String>,
) -> Result<Uuid, AppError> {
    let note = opt_text("input.note", note.as_deref(), 500)?;
    if !(0..=600).contains(&minutes) {
        return Err(AppError::validation("input.minutes", "between 0 and 600 minutes"));
    }
    if status != AttendanceStatus::Presente && minutes != 0 {
        return Err(AppError::validation("input.minutes", "an absence has no minutes"));
    }
    let txn = a.begin().await?;
    let (asg, project) = load_assignment(a, &txn, id).await?;
    if asg.state != PucAssignmentState::Attivo {
        return Err(AppError::Conflict(format!(
            "recordPucAttendance is not allowed: the assignment is {}",
            crate::codes::code(asg.state)
        )));
    }
    if day > today() || asg.starts_on.is_some_and(|s| day < s) {
        return Err(AppError::validation("input.day", "outside the assignment's days so far"));
    }
    let existing = Unscoped::Child
        .find::<puc_attendance::Entity>()
        .filter(puc_attendance::Column::AssignmentId.eq(asg.id))
        .filter(puc_attendance::Column::Day.eq(day))
        .one(&txn)
        .await?;
    let before = existing.as_ref().map(|e| json!({ "minutes": e.minutes, "status": e.status }));
    match existing {
        Some(e) => {
            puc_attendance::Entity::update_many()
                .col_expr(puc_attendance::Column::Minutes, Expr::value(minutes))
                .col_expr(puc_attendance::Column::Status, Expr::value(status))
                .col_expr(puc_attendance::Column::Note, Expr::value(note))
                .filter(puc_attendance::Column::Id.eq(e.id))
                .exec(&txn)
                .await?;
        }
        None => {
            puc_attendance::ActiveModel {
                id: Set(Uuid::now_v7()),
                assignment_id: Set(asg.id),
                day: Set(day),
                minutes: Set(minutes),
                status: Set(status),
                note: Set(note),
            }
            .insert(&txn)
            .await?;
        }
    }
    let mut e = AuditEntry::new("puc_assignment", asg.id, AuditAction::Update);
    e.ambito_id = Some(project.ambito_id);
    e.changes = Some(
        json!({ "attendance": { "day": day, "before": before, "after": { "minutes": minutes, "status": status } } }),
    );
    txn.commit(vec![e]).await?;
    Ok(asg.id)
}

/// The open assignments (proposed or active) of a case whose household moved
/// to another Ambito end with it: interrupted (`TRASFERIMENTO`, today), the
/// place freed, INPS (and the CPI, for its places) told, as an interruption
/// by the Responsabile PUC would. Returns the trail's entries (the project's
/// Ambito, and `also`, the Ambito the case goes to).
pub async fn interrupt_for_transfer(
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    also: Uuid,
) -> Result<Vec<AuditEntry>, AppError> {
    use PucAssignmentState::*;
    let open = Unscoped::Child
        .find::<puc_assignment::Entity>()
        .filter(puc_assignment::Column::CaseId.eq(c.id))
        .filter(puc_assignment::Column::State.is_in([Proposto, Attivo]))
        .all(txn)
        .await?;
    let mut entries = Vec::new();
    for asg in open {
        let q = puc_assignment::Entity::update_many()
            .col_expr(puc_assignment::Column::State, Expr::value(Interrotto))
            .col_expr(puc_assignment::Column::InterruptionReason, Expr::value(InterruptionReason::Trasferimento))
            .col_expr(puc_assignment::Column::InterruptedOn, Expr::value(today()));
        compare_and_set(txn, &asg, q).await?;
        let project = Unscoped::Child
            .find_by_id::<puc_project::Entity>(asg.project_id)
            .one(txn)
            .await?
            .ok_or_else(|| AppError::internal("assignment without project"))?;
        for ambito in [project.ambito_id, also] {
            if entries.iter().any(|e: &AuditEntry| {
                e.entity == "puc_assignment" && e.ambito_id == Some(ambito) && e.entity_id == Some(asg.id.to_string())
            }) {
                continue;
            }
            let mut e = AuditEntry::new("puc_assignment", asg.id, AuditAction::Transition);
            e.ambito_id = Some(ambito);
            e.changes = Some(json!({
                "state": { "before": asg.state, "after": Interrotto },
                "interruption_reason": InterruptionReason::Trasferimento,
            }));
            entries.push(e);
        }
        entries.extend(reopen_if_full(txn, &project).await?);
        tell_partners(txn, &asg, &project, PartnerEventKind::PucInterrotto, Some(c.application_id)).await?;
    }
    Ok(entries)
}

/// A place freed on a full project reopens it; returns the project's entry.
async fn reopen_if_full(
    txn: &DatabaseTransaction,
    project: &puc_project::Model,
) -> Result<Option<AuditEntry>, AppError> {
    if project.state != PucProjectState::Completo {
        return Ok(None);
    }
    bump_version::<puc_project::Model>(puc_project::Entity::update_many())
        .col_expr(puc_project::Column::State, Expr::value(PucProjectState::Attivo))
        .filter(puc_project::Column::Id.eq(project.id))
        .exec(txn)
        .await?;
    Ok(Some(project_entry(
        project,
        AuditAction::Transition,
        diff(&[("state", json!(PucProjectState::Completo), json!(PucProjectState::Attivo))]),
    )))
}

/// INPS collects every start and end of an assignment; the Centro per
/// l'impiego those of its places.
async fn tell_partners(
    txn: &DatabaseTransaction,
    asg: &puc_assignment::Model,
    project: &puc_project::Model,
    kind: PartnerEventKind,
    application_id: Option<Uuid>,
) -> Result<(), AppError> {
    let audiences: &[PartnerAudience] = if asg.source == PlaceSource::Cpi {
        &[PartnerAudience::Inps, PartnerAudience::Cpi]
    } else {
        &[PartnerAudience::Inps]
    };
    for audience in audiences {
        crate::outbox::emit(
            txn,
            crate::outbox::Event {
                audience: *audience,
                kind,
                ambito_id: project.ambito_id,
                comune_istat: project.comune_istat.clone(),
                subject: crate::outbox::Subject::PucAssignment(asg.id),
                // The CPI knows its beneficiary by codice fiscale; INPS's
                // protocol is not its to read.
                application_id: application_id.filter(|_| *audience == PartnerAudience::Inps),
                member_id: Some(asg.member_id),
            },
        )
        .await?;
    }
    Ok(())
}
