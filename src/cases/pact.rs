//! The Quadro di analisi with its équipe, the Patto per l'inclusione sociale
//! (draft, signature, revision as a new version keeping the old one, refusal to
//! sign) and the supports the Referente activates. Same rules as the rest of the
//! case workflow: scoped loads, versions, state machines, audited diffs.

use chrono::{Duration, NaiveDate, Utc};
use entity::{
    analysis_framework, analysis_team_member, case_file, enums::*, member, pact, pact_commitment,
    pact_commitment_member, pact_expected_result, pact_objective, report, support,
};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use super::{
    model::*,
    service::{date_not_future, refuse_case_state},
};
use crate::unscoped::Unscoped;
use crate::workflow::{bump_version, check_version, compare_and_set, diff, opt_text, stale, text, Acting};
use crate::{
    audit::AuditEntry,
    authz::Action,
    error::AppError,
    reports::service::{insert_report, ReportDraft},
};

/// A member of the équipe multidisciplinare.
pub struct TeamMember {
    pub full_name: String,
    pub service: TeamService,
    pub team_role: String,
}

pub struct Framework {
    pub assessment_notes: Option<String>,
    pub priorities: Option<String>,
    pub team: Option<Vec<TeamMember>>,
}

async fn framework_of(txn: &DatabaseTransaction, c: &case_file::Model) -> Result<analysis_framework::Model, AppError> {
    Unscoped::Child
        .find::<analysis_framework::Entity>()
        .filter(analysis_framework::Column::CaseId.eq(c.id))
        .one(txn)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("the case has no Quadro di analisi: complete the analysis with QUADRO_ANALISI".into())
        })
}

/// Case manager: saves the Quadro di analisi; defining the team starts it.
pub async fn save_framework(a: &Acting<'_>, case_id: Uuid, version: i32, f: Framework) -> Result<Uuid, AppError> {
    let notes = opt_text("input.assessmentNotes", f.assessment_notes.as_deref(), 20_000)?;
    let priorities = opt_text("input.priorities", f.priorities.as_deref(), 5_000)?;
    let team = match f.team {
        None => None,
        Some(t) => {
            if t.len() > 30 {
                return Err(AppError::validation("input.team", "at most 30 members"));
            }
            let mut out = Vec::new();
            for (i, m) in t.into_iter().enumerate() {
                out.push((
                    text(&format!("input.team[{i}].fullName"), &m.full_name, 200)?,
                    m.service,
                    text(&format!("input.team[{i}].teamRole"), &m.team_role, 200)?,
                ));
            }
            Some(out)
        }
    };
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<analysis_framework::Entity>(Action::Update)?;
    if !case_allows_framework(c.state) {
        return Err(refuse_case_state(&c, "saveFramework"));
    }
    let fw = framework_of(&txn, &c).await?;
    check_version("Quadro di analisi", fw.version, version)?;
    if fw.state == FrameworkState::Completato {
        return Err(AppError::Conflict("the Quadro di analisi is COMPLETATO".into()));
    }
    let new_state = if team.as_ref().is_some_and(|t| !t.is_empty()) || fw.state == FrameworkState::InCorso {
        FrameworkState::InCorso
    } else {
        FrameworkState::DaAvviare
    };
    let q = analysis_framework::Entity::update_many()
        .col_expr(analysis_framework::Column::AssessmentNotes, Expr::value(notes.clone()))
        .col_expr(analysis_framework::Column::Priorities, Expr::value(priorities.clone()))
        .col_expr(analysis_framework::Column::State, Expr::value(new_state))
        .col_expr(analysis_framework::Column::UpdatedAt, Expr::value(Utc::now()));
    compare_and_set(&txn, &fw, q).await?;
    let mut team_size = None;
    if let Some(team) = team {
        analysis_team_member::Entity::delete_many()
            .filter(analysis_team_member::Column::FrameworkId.eq(fw.id))
            .exec(&txn)
            .await?;
        team_size = Some(team.len());
        for (full_name, service, team_role) in team {
            analysis_team_member::ActiveModel {
                id: Set(Uuid::now_v7()),
                framework_id: Set(fw.id),
                full_name: Set(full_name),
                service: Set(service),
                team_role: Set(team_role),
            }
            .insert(&txn)
            .await?;
        }
    }
    let mut e = AuditEntry::new("analysis_framework", fw.id, AuditAction::Update);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(json!({
        "state": { "before": fw.state, "after": new_state },
        "assessment_notes": if fw.assessment_notes != notes { "changed" } else { "unchanged" },
        "priorities": if fw.priorities != priorities { "changed" } else { "unchanged" },
        "team_size": team_size,
        "version": { "before": fw.version, "after": fw.version + 1 },
    }));
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// Case manager: closes the Quadro di analisi; the case moves to the pact.
pub async fn complete_framework(a: &Acting<'_>, case_id: Uuid, version: i32) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<analysis_framework::Entity>(Action::Update)?;
    check_version("case", c.version, version)?;
    if !case_allows_framework(c.state) {
        return Err(refuse_case_state(&c, "completeFramework"));
    }
    let fw = framework_of(&txn, &c).await?;
    if fw.state != FrameworkState::InCorso {
        return Err(AppError::Conflict(format!(
            "completeFramework is not allowed: the Quadro di analisi is {}; define the équipe first (saveFramework)",
            crate::codes::code(fw.state)
        )));
    }
    let q = analysis_framework::Entity::update_many()
        .col_expr(analysis_framework::Column::State, Expr::value(FrameworkState::Completato))
        .col_expr(analysis_framework::Column::CompletedAt, Expr::value(Utc::now()));
    compare_and_set(&txn, &fw, q).await?;
    super::service::update_case(&txn, &c, |q| {
        q.col_expr(case_file::Column::State, Expr::value(CaseState::PattoInDefinizione))
    })
    .await?;
    let mut e1 = AuditEntry::new("analysis_framework", fw.id, AuditAction::Transition);
    e1.ambito_id = Some(c.ambito_id);
    e1.changes = Some(diff(&[("state", json!(fw.state), json!(FrameworkState::Completato))]));
    let mut e2 = AuditEntry::new("case_file", c.id, AuditAction::Transition);
    e2.ambito_id = Some(c.ambito_id);
    e2.changes = Some(diff(&[
        ("state", json!(c.state), json!(CaseState::PattoInDefinizione)),
        ("version", json!(c.version), json!(c.version + 1)),
    ]));
    txn.commit(vec![e1, e2]).await?;
    Ok(c.id)
}

pub struct Objective {
    pub area: NeedArea,
    pub description: String,
    pub expected_results: Vec<(String, NaiveDate)>,
}

pub struct Commitment {
    pub description: String,
    pub obligated_member_id: Option<Uuid>,
    pub other_member_ids: Vec<Uuid>,
    pub due_on: Option<NaiveDate>,
    pub is_conditionality: bool,
}

pub struct SupportInput {
    pub kind: SupportKind,
    pub provider: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

pub struct PactContent {
    pub objectives: Vec<Objective>,
    pub commitments: Vec<Commitment>,
    pub supports: Vec<SupportInput>,
    pub contact_modality: Option<String>,
    pub reference_person: Option<String>,
    pub next_review_on: Option<NaiveDate>,
}

fn check_support(field: &str, s: &SupportInput) -> Result<String, AppError> {
    let provider = text(&format!("{field}.provider"), &s.provider, 200)?;
    if let (Some(a), Some(b)) = (s.starts_on, s.ends_on) {
        if b < a {
            return Err(AppError::validation(format!("{field}.endsOn"), "ends before it starts"));
        }
    }
    Ok(provider)
}

/// The rows of a child table of the pact `pact_id` (objectives, expected
/// results, commitments), which the use case loaded under its scope.
async fn of_pact<E: EntityTrait>(
    txn: &DatabaseTransaction,
    pact_col: E::Column,
    pact_id: Uuid,
) -> Result<Vec<E::Model>, AppError> {
    Ok(Unscoped::Child.find::<E>().filter(pact_col.eq(pact_id)).all(txn).await?)
}

/// The draft version of the pact (the latest revision), if any.
async fn current_pact(txn: &DatabaseTransaction, case_id: Uuid) -> Result<Option<pact::Model>, AppError> {
    Ok(Unscoped::Child
        .find::<pact::Entity>()
        .filter(pact::Column::CaseId.eq(case_id))
        .order_by_desc(pact::Column::Revision)
        .one(txn)
        .await?)
}

async fn write_content(
    a: &Acting<'_>,
    txn: &DatabaseTransaction,
    c: &case_file::Model,
    pact_id: Uuid,
    content: &PactContent,
) -> Result<serde_json::Value, AppError> {
    let household: Vec<Uuid> = Unscoped::Child
        .find::<member::Entity>()
        .filter(member::Column::HouseholdId.eq(c.household_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    // Validate everything before the first write.
    let mut objectives = Vec::new();
    for (i, o) in content.objectives.iter().enumerate() {
        let d = text(&format!("input.objectives[{i}].description"), &o.description, 2000)?;
        let mut results = Vec::new();
        for (j, (indicator, due)) in o.expected_results.iter().enumerate() {
            results
                .push((text(&format!("input.objectives[{i}].expectedResults[{j}].indicator"), indicator, 1000)?, *due));
            if *due < c.pad_date {
                return Err(AppError::validation(
                    format!("input.objectives[{i}].expectedResults[{j}].dueOn"),
                    "before the PAD",
                ));
            }
        }
        objectives.push((o.area, d, results));
    }
    let mut commitments = Vec::new();
    for (i, m) in content.commitments.iter().enumerate() {
        let d = text(&format!("input.commitments[{i}].description"), &m.description, 2000)?;
        for (field, id) in
            m.obligated_member_id.iter().map(|id| (format!("input.commitments[{i}].obligatedMemberId"), id)).chain(
                m.other_member_ids
                    .iter()
                    .enumerate()
                    .map(|(j, id)| (format!("input.commitments[{i}].otherMemberIds[{j}]"), id)),
            )
        {
            if !household.contains(id) {
                // Read under the actor's scope first: a member out of scope answers
                // as a missing id, one in scope as a member of another household.
                a.named::<member::Entity>(txn, (member::Column::Id, *id), &field, "member").await?;
                return Err(AppError::validation(field, "not a member of the household of the case"));
            }
        }
        if m.is_conditionality && m.obligated_member_id.is_none() {
            return Err(AppError::validation(
                format!("input.commitments[{i}].obligatedMemberId"),
                "a conditionality binds a member",
            ));
        }
        commitments.push(d);
    }
    let mut providers = Vec::new();
    for (i, s) in content.supports.iter().enumerate() {
        providers.push(check_support(&format!("input.supports[{i}]"), s)?);
    }
    // Replace the draft's content.
    pact_objective::Entity::delete_many().filter(pact_objective::Column::PactId.eq(pact_id)).exec(txn).await?;
    pact_commitment::Entity::delete_many().filter(pact_commitment::Column::PactId.eq(pact_id)).exec(txn).await?;
    // Supports already started (active, concluded, cancelled) are facts of
    // their own lifecycle: only the planned ones are replaced, and a planned one
    // that is already running is not planned twice.
    support::Entity::delete_many()
        .filter(support::Column::PactId.eq(pact_id))
        .filter(support::Column::Status.eq(SupportStatus::DaAttivare))
        .exec(txn)
        .await?;
    let running = Unscoped::Child
        .find::<support::Entity>()
        .filter(support::Column::CaseId.eq(c.id))
        .filter(support::Column::Status.eq(SupportStatus::Attivo))
        .all(txn)
        .await?;
    for (area, description, results) in objectives {
        let oid = Uuid::now_v7();
        pact_objective::ActiveModel {
            id: Set(oid),
            pact_id: Set(pact_id),
            area: Set(area),
            description: Set(description),
        }
        .insert(txn)
        .await?;
        for (indicator, due_on) in results {
            pact_expected_result::ActiveModel {
                id: Set(Uuid::now_v7()),
                pact_id: Set(pact_id),
                objective_id: Set(oid),
                indicator: Set(indicator),
                due_on: Set(due_on),
            }
            .insert(txn)
            .await?;
        }
    }
    for (m, description) in content.commitments.iter().zip(commitments) {
        let cid = Uuid::now_v7();
        pact_commitment::ActiveModel {
            id: Set(cid),
            pact_id: Set(pact_id),
            description: Set(description),
            obligated_member_id: Set(m.obligated_member_id),
            due_on: Set(m.due_on),
            status: Set(CommitmentStatus::DaAvviare),
            is_conditionality: Set(m.is_conditionality),
        }
        .insert(txn)
        .await?;
        for other in &m.other_member_ids {
            pact_commitment_member::ActiveModel { commitment_id: Set(cid), member_id: Set(*other) }.insert(txn).await?;
        }
    }
    let mut planned = 0;
    for (s, provider) in content.supports.iter().zip(providers) {
        if running.iter().any(|r| r.kind == s.kind && r.provider == provider) {
            continue;
        }
        planned += 1;
        support::ActiveModel {
            id: Set(Uuid::now_v7()),
            case_id: Set(c.id),
            pact_id: Set(Some(pact_id)),
            kind: Set(s.kind),
            provider: Set(provider),
            starts_on: Set(s.starts_on),
            ends_on: Set(s.ends_on),
            status: Set(SupportStatus::DaAttivare),
            activated_by: Set(None),
            created_at: Set(Utc::now()),
        }
        .insert(txn)
        .await?;
    }
    Ok(json!({
        "objectives": content.objectives.len(),
        "commitments": content.commitments.len(),
        "supports_planned": planned,
    }))
}

fn pact_conflict(p: &pact::Model, action: PactAction) -> AppError {
    AppError::Conflict(format!(
        "{} is not allowed: the pact (revision {}) is {}; allowed now: {}",
        action.as_str(),
        p.revision,
        crate::codes::code(p.state),
        pact_allowed_actions(p.state).join(", ")
    ))
}

/// Case manager: writes the draft pact (creating revision 1 when there is none).
/// `version` is the draft's version, or 0 to create it.
pub async fn save_pact(a: &Acting<'_>, case_id: Uuid, version: i32, content: PactContent) -> Result<Uuid, AppError> {
    a.me()?;
    let contact = opt_text("input.contactModality", content.contact_modality.as_deref(), 1000)?;
    let reference = opt_text("input.referencePerson", content.reference_person.as_deref(), 200)?;
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<pact::Entity>(Action::Update)?;
    if !case_allows_pact(c.state) {
        return Err(refuse_case_state(&c, "savePact"));
    }
    let now = Utc::now();
    let (p, created) = match current_pact(&txn, c.id).await? {
        Some(p) => {
            check_version("pact", p.version, version)?;
            if !pact_allows(p.state, PactAction::Save) {
                return Err(pact_conflict(&p, PactAction::Save));
            }
            (p, false)
        }
        None => {
            if version != 0 {
                return Err(stale("pact", 0, version));
            }
            let p = pact::ActiveModel {
                id: Set(Uuid::now_v7()),
                case_id: Set(c.id),
                revision: Set(1),
                state: Set(PactState::Bozza),
                revision_of: Set(None),
                signed_on: Set(None),
                next_review_on: Set(None),
                contact_modality: Set(None),
                reference_person: Set(None),
                version: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            (p, true)
        }
    };
    let counts = write_content(a, &txn, &c, p.id, &content).await?;
    let q = pact::Entity::update_many()
        .col_expr(pact::Column::ContactModality, Expr::value(contact))
        .col_expr(pact::Column::ReferencePerson, Expr::value(reference))
        .col_expr(pact::Column::NextReviewOn, Expr::value(content.next_review_on))
        .col_expr(pact::Column::UpdatedAt, Expr::value(now));
    compare_and_set(&txn, &p, q).await?;
    let mut e = AuditEntry::new("pact", p.id, if created { AuditAction::Create } else { AuditAction::Update });
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(
        json!({ "revision": p.revision, "content": counts, "version": { "before": p.version, "after": p.version + 1 } }),
    );
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// Case manager: records the household's signature of the draft. The case goes
/// to monitoring; a previous signed version is closed.
pub async fn sign_pact(a: &Acting<'_>, case_id: Uuid, version: i32, signed_on: NaiveDate) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<pact::Entity>(Action::Update)?;
    if !case_allows_pact(c.state) {
        return Err(refuse_case_state(&c, "signPact"));
    }
    let p = current_pact(&txn, c.id)
        .await?
        .ok_or_else(|| AppError::Conflict("there is no pact to sign: savePact first".into()))?;
    check_version("pact", p.version, version)?;
    if !pact_allows(p.state, PactAction::Sign) {
        return Err(pact_conflict(&p, PactAction::Sign));
    }
    date_not_future("input.signedOn", signed_on)?;
    if signed_on < c.pad_date {
        return Err(AppError::validation("input.signedOn", "before the PAD"));
    }
    let objectives = of_pact::<pact_objective::Entity>(&txn, pact_objective::Column::PactId, p.id).await?;
    let commitments = of_pact::<pact_commitment::Entity>(&txn, pact_commitment::Column::PactId, p.id).await?;
    if objectives.is_empty() || commitments.is_empty() {
        return Err(AppError::Conflict("a pact is signed with at least one objective and one commitment".into()));
    }
    let review = p.next_review_on.unwrap_or(signed_on + Duration::days(PERIODIC_CHECK_DAYS));
    let q = pact::Entity::update_many()
        .col_expr(pact::Column::State, Expr::value(PactState::Sottoscritto))
        .col_expr(pact::Column::SignedOn, Expr::value(signed_on))
        .col_expr(pact::Column::NextReviewOn, Expr::value(review))
        .col_expr(pact::Column::UpdatedAt, Expr::value(Utc::now()));
    compare_and_set(&txn, &p, q).await?;
    let mut entries = Vec::new();
    if let Some(prev) = p.revision_of {
        bump_version::<pact::Model>(pact::Entity::update_many())
            .col_expr(pact::Column::State, Expr::value(PactState::Chiuso))
            .filter(pact::Column::Id.eq(prev))
            .filter(pact::Column::State.eq(PactState::Sottoscritto))
            .exec(&txn)
            .await?;
        let mut e = AuditEntry::new("pact", prev, AuditAction::Transition);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(diff(&[("state", json!(PactState::Sottoscritto), json!(PactState::Chiuso))]));
        entries.push(e);
    }
    // The supports of the pact stay as they are: each is activated by
    // `activateSupport` (the Referente before distribution, then the case
    // manager), an audited step of its own.
    if c.state != CaseState::InMonitoraggio {
        super::service::update_case(&txn, &c, |q| {
            q.col_expr(case_file::Column::State, Expr::value(CaseState::InMonitoraggio))
        })
        .await?;
        let mut e = AuditEntry::new("case_file", c.id, AuditAction::Transition);
        e.ambito_id = Some(c.ambito_id);
        e.changes = Some(diff(&[
            ("state", json!(c.state), json!(CaseState::InMonitoraggio)),
            ("version", json!(c.version), json!(c.version + 1)),
        ]));
        entries.push(e);
    }
    let mut e = AuditEntry::new("pact", p.id, AuditAction::Transition);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(diff(&[
        ("state", json!(p.state), json!(PactState::Sottoscritto)),
        ("signed_on", json!(p.signed_on), json!(signed_on)),
        ("next_review_on", json!(p.next_review_on), json!(review)),
    ]));
    entries.push(e);
    // INPS collects the signature of the pact.
    crate::outbox::emit(
        &txn,
        crate::outbox::Event {
            audience: PartnerAudience::Inps,
            kind: PartnerEventKind::PattoSottoscritto,
            ambito_id: c.ambito_id,
            comune_istat: c.comune_istat.clone(),
            subject: crate::outbox::Subject::Pact(p.id),
            application_id: Some(c.application_id),
            member_id: None,
        },
    )
    .await?;
    txn.commit(entries).await?;
    Ok(c.id)
}

/// Case manager: opens a revision of the signed pact as a new draft version
/// with the same content; the signed version stays in force until the new one
/// is signed.
pub async fn revise_pact(a: &Acting<'_>, case_id: Uuid, version: i32) -> Result<Uuid, AppError> {
    a.me()?;
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<pact::Entity>(Action::Update)?;
    if c.state != CaseState::InMonitoraggio {
        return Err(refuse_case_state(&c, "revisePact"));
    }
    let p = current_pact(&txn, c.id).await?.ok_or_else(|| AppError::Conflict("there is no pact to revise".into()))?;
    check_version("pact", p.version, version)?;
    if !pact_allows(p.state, PactAction::Revise) {
        return Err(pact_conflict(&p, PactAction::Revise));
    }
    let now = Utc::now();
    let new = pact::ActiveModel {
        id: Set(Uuid::now_v7()),
        case_id: Set(c.id),
        revision: Set(p.revision + 1),
        state: Set(PactState::Bozza),
        revision_of: Set(Some(p.id)),
        signed_on: Set(None),
        next_review_on: Set(None),
        contact_modality: Set(p.contact_modality.clone()),
        reference_person: Set(p.reference_person.clone()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    // Copy the content of the signed version into the draft.
    let objectives = of_pact::<pact_objective::Entity>(&txn, pact_objective::Column::PactId, p.id).await?;
    let results = of_pact::<pact_expected_result::Entity>(&txn, pact_expected_result::Column::PactId, p.id).await?;
    let commitments = of_pact::<pact_commitment::Entity>(&txn, pact_commitment::Column::PactId, p.id).await?;
    let links = Unscoped::Child
        .find::<pact_commitment_member::Entity>()
        .filter(pact_commitment_member::Column::CommitmentId.is_in(commitments.iter().map(|x| x.id)))
        .all(&txn)
        .await?;
    let content = PactContent {
        objectives: objectives
            .iter()
            .map(|o| Objective {
                area: o.area,
                description: o.description.clone(),
                expected_results: results
                    .iter()
                    .filter(|r| r.objective_id == o.id)
                    .map(|r| (r.indicator.clone(), r.due_on))
                    .collect(),
            })
            .collect(),
        commitments: commitments
            .iter()
            .map(|m| Commitment {
                description: m.description.clone(),
                obligated_member_id: m.obligated_member_id,
                other_member_ids: links.iter().filter(|l| l.commitment_id == m.id).map(|l| l.member_id).collect(),
                due_on: m.due_on,
                is_conditionality: m.is_conditionality,
            })
            .collect(),
        supports: Vec::new(),
        contact_modality: None,
        reference_person: None,
        next_review_on: None,
    };
    write_content(a, &txn, &c, new.id, &content).await?;
    // The supports still planned move to the draft (the same supports, not
    // copies); the started ones stay with the version they started under.
    let carried = support::Entity::update_many()
        .col_expr(support::Column::PactId, Expr::value(new.id))
        .filter(support::Column::PactId.eq(p.id))
        .filter(support::Column::Status.eq(SupportStatus::DaAttivare))
        .exec(&txn)
        .await?
        .rows_affected;
    let mut e = AuditEntry::new("pact", new.id, AuditAction::Create);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(json!({ "revision": new.revision, "revision_of": p.id, "planned_supports_carried": carried }));
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// Case manager: the household refuses to sign. The draft is closed as
/// NON_SOTTOSCRITTO and a segnalazione goes to the coordinator for approval.
pub async fn refuse_pact(
    a: &Acting<'_>,
    case_id: Uuid,
    version: i32,
    fact_date: NaiveDate,
    description: String,
) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let description = text("input.description", &description, 4000)?;
    let txn = a.begin().await?;
    let c = a.case(&txn, case_id, Action::Update).await?;
    a.scope::<pact::Entity>(Action::Update)?;
    a.scope::<report::Entity>(Action::Create)?;
    if !case_allows_pact(c.state) {
        return Err(refuse_case_state(&c, "refusePact"));
    }
    let p = current_pact(&txn, c.id).await?.ok_or_else(|| AppError::Conflict("there is no pact to refuse".into()))?;
    check_version("pact", p.version, version)?;
    if !pact_allows(p.state, PactAction::Refuse) {
        return Err(pact_conflict(&p, PactAction::Refuse));
    }
    date_not_future("input.factDate", fact_date)?;
    let q = pact::Entity::update_many().col_expr(pact::Column::State, Expr::value(PactState::NonSottoscritto));
    compare_and_set(&txn, &p, q).await?;
    let rid = insert_report(
        &txn,
        ReportDraft {
            ambito_id: c.ambito_id,
            comune_istat: c.comune_istat.clone(),
            case_id: Some(c.id),
            residency_check_id: None,
            puc_assignment_id: None,
            member_id: None,
            kind: ReportKind::MancataSottoscrizione,
            state: ReportState::DaApprovare,
            fact_date,
            description,
            created_by: me,
            rectification_of: None,
            annuls: false,
            override_reason: None,
        },
    )
    .await?;
    let mut e1 = AuditEntry::new("pact", p.id, AuditAction::Transition);
    e1.ambito_id = Some(c.ambito_id);
    e1.changes = Some(diff(&[("state", json!(p.state), json!(PactState::NonSottoscritto))]));
    let mut e2 = AuditEntry::new("report", rid, AuditAction::Create);
    e2.ambito_id = Some(c.ambito_id);
    e2.changes =
        Some(json!({ "case_id": c.id, "kind": ReportKind::MancataSottoscrizione, "state": ReportState::DaApprovare }));
    txn.commit(vec![e1, e2]).await?;
    Ok(c.id)
}

/// Activates a support on a case: the Referente per l'attivazione dei sostegni
/// on the cases not yet distributed, the case manager on its own. A support of
/// that kind planned in the case's pact (`DA_ATTIVARE`) is the one activated
/// (the one with the same provider, else the only one of the kind, which then
/// takes the provider that actually delivers it — recorded in the trail),
/// never a second row; only when none is planned is a new support recorded,
/// active, attached to the draft pact if there is one. A support of the same
/// kind and provider already active is a conflict (also when two activations
/// race: the database holds one active row per case, kind and provider).
pub async fn activate_support(a: &Acting<'_>, case_id: Uuid, s: SupportInput) -> Result<Uuid, AppError> {
    let me = a.me()?;
    let provider = check_support("input.support", &s)?;
    let txn = a.begin().await?;
    let c = super::service::case_under(a, &txn, case_id, support_scope(a, Action::Create)?).await?;
    if matches!(c.state, CaseState::Chiuso | CaseState::Trasferito | CaseState::InviatoAltroServizio) {
        return Err(refuse_case_state(&c, "activateSupport"));
    }
    let of_kind: Vec<support::Model> = Unscoped::Child
        .find::<support::Entity>()
        .filter(support::Column::CaseId.eq(c.id))
        .filter(support::Column::Kind.eq(s.kind))
        .filter(support::Column::Status.is_in([SupportStatus::DaAttivare, SupportStatus::Attivo]))
        .all(&txn)
        .await?;
    if of_kind.iter().any(|x| x.status == SupportStatus::Attivo && x.provider == provider) {
        return Err(AppError::Conflict(format!(
            "activateSupport is not allowed: a support {} by this provider is already active on the case",
            crate::codes::code(s.kind)
        )));
    }
    let planned: Vec<&support::Model> = of_kind.iter().filter(|x| x.status == SupportStatus::DaAttivare).collect();
    let chosen =
        planned.iter().find(|x| x.provider == provider).or(if planned.len() == 1 { planned.first() } else { None });
    let entry = match chosen {
        Some(x) => {
            let starts_on = s.starts_on.or(x.starts_on);
            let ends_on = s.ends_on.or(x.ends_on);
            if let (Some(f), Some(t)) = (starts_on, ends_on) {
                if t < f {
                    return Err(AppError::validation("input.support.endsOn", "before the start"));
                }
            }
            let res = support::Entity::update_many()
                .col_expr(support::Column::Status, Expr::value(SupportStatus::Attivo))
                .col_expr(support::Column::Provider, Expr::value(provider.clone()))
                .col_expr(support::Column::ActivatedBy, Expr::value(me))
                .col_expr(support::Column::StartsOn, Expr::value(starts_on))
                .col_expr(support::Column::EndsOn, Expr::value(ends_on))
                .filter(support::Column::Id.eq(x.id))
                .filter(support::Column::Status.eq(SupportStatus::DaAttivare))
                .exec(&txn)
                .await
                .map_err(already_active)?;
            if res.rows_affected != 1 {
                return Err(AppError::Conflict(
                    "the support was changed by someone else; reload the case and retry".into(),
                ));
            }
            let mut e = AuditEntry::new("support", x.id, AuditAction::Transition);
            e.changes = Some(diff(&[
                ("status", json!(x.status), json!(SupportStatus::Attivo)),
                ("provider", json!(x.provider), json!(provider)),
                ("activated_by", json!(x.activated_by), json!(me)),
                ("starts_on", json!(x.starts_on), json!(starts_on)),
                ("ends_on", json!(x.ends_on), json!(ends_on)),
            ]));
            e
        }
        None => {
            let draft = current_pact(&txn, c.id).await?.filter(|p| p.state == PactState::Bozza).map(|p| p.id);
            let id = Uuid::now_v7();
            support::ActiveModel {
                id: Set(id),
                case_id: Set(c.id),
                pact_id: Set(draft),
                kind: Set(s.kind),
                provider: Set(provider),
                starts_on: Set(s.starts_on),
                ends_on: Set(s.ends_on),
                status: Set(SupportStatus::Attivo),
                activated_by: Set(Some(me)),
                created_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await
            .map_err(already_active)?;
            let mut e = AuditEntry::new("support", id, AuditAction::Create);
            e.changes = Some(json!({ "case_id": c.id, "kind": s.kind, "status": SupportStatus::Attivo }));
            e
        }
    };
    let mut e = entry;
    e.ambito_id = Some(c.ambito_id);
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// The one-active-row index refused a second active support (a race lost).
fn already_active(e: sea_orm::DbErr) -> AppError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(
            "activateSupport is not allowed: a support of this kind by this provider is already active on the case"
                .into(),
        ),
        _ => e.into(),
    }
}

/// A step of a support after activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportStep {
    /// `ATTIVO → CONCLUSO`, on the given day (the support's end).
    Conclude,
    /// `DA_ATTIVARE | ATTIVO → ANNULLATO`.
    Cancel,
}

impl SupportStep {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportStep::Conclude => "concludeSupport",
            SupportStep::Cancel => "cancelSupport",
        }
    }
}

/// The states a support may take `step` from.
pub fn support_allows(from: SupportStatus, step: SupportStep) -> bool {
    use SupportStatus::*;
    match step {
        SupportStep::Conclude => from == Attivo,
        SupportStep::Cancel => matches!(from, DaAttivare | Attivo),
    }
}

/// Concludes or cancels a support: the case manager on its own cases, the
/// Referente on the cases not yet distributed. Audited with before/after.
/// Returns the case.
pub async fn step_support(
    a: &Acting<'_>,
    support_id: Uuid,
    step: SupportStep,
    on: Option<NaiveDate>,
) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let x = a
        .load::<support::Entity>(&txn, support::Column::Id, support_id, Action::Update, ("input.supportId", "support"))
        .await?;
    let c = super::service::case_under(a, &txn, x.case_id, support_scope(a, Action::Update)?).await?;
    if !support_allows(x.status, step) {
        let allowed: Vec<&str> = [SupportStep::Conclude, SupportStep::Cancel]
            .into_iter()
            .filter(|s| support_allows(x.status, *s))
            .map(SupportStep::as_str)
            .collect();
        return Err(AppError::Conflict(format!(
            "{} is not allowed: the support is {}; allowed now: {}",
            step.as_str(),
            crate::codes::code(x.status),
            if allowed.is_empty() { "nothing (final state)".to_string() } else { allowed.join(", ") }
        )));
    }
    let (to, ends_on) = match step {
        SupportStep::Conclude => {
            let on = on.unwrap_or_else(crate::calendar::today);
            date_not_future("input.on", on)?;
            if x.starts_on.is_some_and(|f| on < f) {
                return Err(AppError::validation("input.on", "before the start of the support"));
            }
            (SupportStatus::Concluso, Some(on))
        }
        SupportStep::Cancel => (SupportStatus::Annullato, x.ends_on),
    };
    let res = support::Entity::update_many()
        .col_expr(support::Column::Status, Expr::value(to))
        .col_expr(support::Column::EndsOn, Expr::value(ends_on))
        .filter(support::Column::Id.eq(x.id))
        .filter(support::Column::Status.eq(x.status))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(AppError::Conflict("the support was changed by someone else; reload the case and retry".into()));
    }
    let mut e = AuditEntry::new("support", x.id, AuditAction::Transition);
    e.ambito_id = Some(c.ambito_id);
    e.changes = Some(diff(&[("status", json!(x.status), json!(to)), ("ends_on", json!(x.ends_on), json!(ends_on))]));
    txn.commit(vec![e]).await?;
    Ok(c.id)
}

/// The cases on which the principal may `action` supports: the scope of its
/// grant on Support, applied to cases.
fn support_scope(a: &Acting<'_>, action: Action) -> Result<crate::authz::Scope, AppError> {
    a.gw.authz.scope_for(crate::authz::Object::Support, action)
}
