//! "Who accessed my data": for a codice fiscale, every event of the audit
//! trail about the person and their household's case — who (operator and
//! role, or the partner's key), when, what (the table, the row, the classes of
//! the fields read), why (the request's operation) — each with the proof that
//! its leaf is in the tree of the latest signed checkpoint.
//!
//! The rows about a person: their member rows, their households and the
//! households' applications, the households' cases and everything that hangs
//! off a case (meetings, analysis, framework, pact and its parts, supports,
//! segnalazioni, PUC assignments and their attendance, transfers, referrals),
//! the person's own residency and disadvantage checks (and periods), and the
//! partners' change-feed events that carry their codice fiscale. An event
//! names its row by table and id (`entity`, `entity_id`), so the report is
//! the events of those rows; the test `audit_reads::the_access_report_lists_every_read_of_a_person_whatever_the_path`
//! checks it against every path of the field matrix that reads them.
//!
//! Asking is itself recorded (action `export` on the person's member rows),
//! and so shows in the next report.

use std::collections::{BTreeMap, BTreeSet};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use chrono::{SecondsFormat, Utc};
use entity::{audit_event, audit_leaf, enums::AuditAction};
use sea_orm::{ActiveEnum, ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use super::{log, AuditContext, AuditEntry};
use crate::{error::AppError, tlog::tree, unscoped::Unscoped};

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub occurred_at: String,
    pub actor_kind: String,
    pub operator_id: Option<Uuid>,
    /// The operator's name, or the partner key's name.
    pub actor: Option<String>,
    pub role: Option<String>,
    pub ambito_id: Option<Uuid>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    /// For a read, the classes of the fields read; for a change, the fields changed.
    pub what: Vec<String>,
    /// The request's GraphQL operation.
    pub operation: Option<String>,
    pub event_id: Uuid,
    /// The event's leaf, when it is in the tree.
    pub leaf: Option<u64>,
    /// `SHA-256(0x00 ‖ canonical event)`, base64.
    pub leaf_hash: Option<String>,
    /// The inclusion proof of the leaf in the tree of the checkpoint, base64;
    /// empty when the checkpoint does not cover it yet.
    pub proof: Vec<String>,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub generated_at: String,
    /// The latest signed checkpoint, as signed: the proofs are against it.
    pub checkpoint: Option<String>,
    pub checkpoint_size: Option<u64>,
    pub lines: Vec<Line>,
}

impl Report {
    /// The lines as CSV (one per event; the proof's hashes joined by `;`).
    pub fn csv(&self) -> String {
        fn cell(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = String::from(
            "occurred_at,actor_kind,operator_id,actor,role,ambito_id,action,entity,entity_id,what,operation,event_id,leaf,leaf_hash,proof\n",
        );
        for l in &self.lines {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let row = [
                l.occurred_at.clone(),
                l.actor_kind.clone(),
                l.operator_id.map(|u| u.to_string()).unwrap_or_default(),
                opt(&l.actor),
                opt(&l.role),
                l.ambito_id.map(|u| u.to_string()).unwrap_or_default(),
                l.action.clone(),
                l.entity.clone(),
                opt(&l.entity_id),
                l.what.join(";"),
                opt(&l.operation),
                l.event_id.to_string(),
                l.leaf.map(|s| s.to_string()).unwrap_or_default(),
                opt(&l.leaf_hash),
                l.proof.join(";"),
            ];
            out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

/// Ids of `$entity` rows whose `$col` is among `$of`.
macro_rules! ids_where {
    ($db:expr, $entity:ident, $col:ident, $of:expr) => {{
        let of: Vec<Uuid> = $of.iter().copied().collect();
        let mut out: Vec<Uuid> = Vec::new();
        for chunk in of.chunks(500) {
            out.extend(
                Unscoped::Audit
                    .find::<entity::$entity::Entity>()
                    .filter(entity::$entity::Column::$col.is_in(chunk.iter().copied()))
                    .all($db)
                    .await?
                    .into_iter()
                    .map(|r| r.id),
            );
        }
        out
    }};
}

/// The rows about some people: by table, with the Ambiti that hold them.
#[derive(Debug, Default)]
pub struct Subjects {
    pub rows: BTreeMap<&'static str, BTreeSet<Uuid>>,
    /// The Ambiti of their households and cases.
    pub ambiti: BTreeSet<Uuid>,
    pub members: Vec<Uuid>,
    pub households: BTreeSet<Uuid>,
}

impl Subjects {
    /// The rows about the person with `fiscal_code` (empty when nobody has it).
    pub async fn of_person<C: ConnectionTrait>(db: &C, fiscal_code: &str) -> Result<Self, AppError> {
        collect(db, locate(db, fiscal_code).await?).await
    }

    /// The rows about every member of `household`, and the household's.
    pub async fn of_household<C: ConnectionTrait>(db: &C, household: Uuid) -> Result<Self, AppError> {
        let members = Unscoped::Audit
            .find::<entity::member::Entity>()
            .filter(entity::member::Column::HouseholdId.eq(household))
            .all(db)
            .await?;
        collect(db, place(db, members, BTreeSet::from([household])).await?).await
    }

    /// Adds `other`'s rows.
    pub fn extend(&mut self, other: Subjects) {
        for (t, ids) in other.rows {
            self.rows.entry(t).or_default().extend(ids);
        }
        self.ambiti.extend(other.ambiti);
        self.members.extend(other.members);
        self.households.extend(other.households);
    }
}

/// Members, their households, the households' cases, and the Ambiti that
/// hold them.
struct Located {
    members: Vec<entity::member::Model>,
    households: BTreeSet<Uuid>,
    cases: Vec<Uuid>,
    ambiti: BTreeSet<Uuid>,
}

/// The members with `fiscal_code` and where they are: the same three
/// statements whether or not anybody has it (so that the answer to an Ambito
/// that holds nothing of the person takes as long as the one to a codice
/// fiscale nobody has).
async fn locate<C: ConnectionTrait>(db: &C, fiscal_code: &str) -> Result<Located, AppError> {
    let members = Unscoped::Audit
        .find::<entity::member::Entity>()
        .filter(entity::member::Column::FiscalCode.eq(fiscal_code))
        .all(db)
        .await?;
    let households = members.iter().map(|m| m.household_id).collect();
    place(db, members, households).await
}

/// The cases of `households` and the Ambiti of both (two statements).
async fn place<C: ConnectionTrait>(
    db: &C,
    members: Vec<entity::member::Model>,
    households: BTreeSet<Uuid>,
) -> Result<Located, AppError> {
    let mut ambiti: BTreeSet<Uuid> = Unscoped::Audit
        .find::<entity::household::Entity>()
        .filter(entity::household::Column::Id.is_in(households.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|h| h.ambito_id)
        .collect();
    let cases = Unscoped::Audit
        .find::<entity::case_file::Entity>()
        .filter(entity::case_file::Column::HouseholdId.is_in(households.iter().copied()))
        .all(db)
        .await?;
    ambiti.extend(cases.iter().map(|c| c.ambito_id));
    Ok(Located { members, households, cases: cases.into_iter().map(|c| c.id).collect(), ambiti })
}

/// The rows about located members and households: the member rows, the
/// households and their applications, the households' cases and what hangs
/// off them, the members' own checks, and the change-feed events carrying
/// the members' codici fiscali.
async fn collect<C: ConnectionTrait>(db: &C, located: Located) -> Result<Subjects, AppError> {
    let Located { members, households, cases, ambiti } = located;
    let mut s = Subjects { ambiti, ..Subjects::default() };
    if households.is_empty() {
        return Ok(s);
    }
    let member_ids: Vec<Uuid> = members.iter().map(|m| m.id).collect();
    let fiscal_codes: BTreeSet<String> = members.iter().map(|m| m.fiscal_code.clone()).collect();
    let rows = &mut s.rows;
    let mut add = |table: &'static str, ids: Vec<Uuid>| rows.entry(table).or_default().extend(ids);
    add("member", member_ids.clone());
    add("household", households.iter().copied().collect());
    add("case_file", cases.clone());
    add("application", ids_where!(db, application, HouseholdId, households));
    add("meeting", ids_where!(db, meeting, CaseId, cases));
    add("preliminary_analysis", ids_where!(db, preliminary_analysis, CaseId, cases));
    add("analysis_framework", ids_where!(db, analysis_framework, CaseId, cases));
    let pacts = ids_where!(db, pact, CaseId, cases);
    add("pact_objective", ids_where!(db, pact_objective, PactId, pacts));
    add("pact_expected_result", ids_where!(db, pact_expected_result, PactId, pacts));
    add("pact_commitment", ids_where!(db, pact_commitment, PactId, pacts));
    add("pact", pacts);
    add("support", ids_where!(db, support, CaseId, cases));
    add("report", ids_where!(db, report, CaseId, cases));
    add("report", ids_where!(db, report, MemberId, member_ids));
    let mut assignments = ids_where!(db, puc_assignment, CaseId, cases);
    assignments.extend(ids_where!(db, puc_assignment, MemberId, member_ids));
    add("puc_attendance", ids_where!(db, puc_attendance, AssignmentId, assignments));
    add("puc_assignment", assignments);
    add("case_transfer", ids_where!(db, case_transfer, CaseId, cases));
    add("case_referral", ids_where!(db, case_referral, CaseId, cases));
    let checks = ids_where!(db, residency_check, MemberId, member_ids);
    add("residency_period", ids_where!(db, residency_period, CheckId, checks));
    add("residency_check", checks);
    add("disadvantage_check", ids_where!(db, disadvantage_check, MemberId, member_ids));
    let events: Vec<Uuid> = Unscoped::Audit
        .find::<entity::partner_event::Entity>()
        .filter(entity::partner_event::Column::FiscalCode.is_in(fiscal_codes))
        .all(db)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    add("partner_event", events);
    s.members = member_ids;
    s.households = households;
    Ok(s)
}

/// Who asks: everything (the command line), or one Ambito's part (its
/// administrator: the person must have data there, and the lines are the
/// events of that Ambito's trail).
#[derive(Debug, Clone, Copy)]
pub enum Asker {
    System,
    Ambito(Uuid),
}

/// The report for `fiscal_code`, recorded under `ctx` before it is given.
/// An unknown codice fiscale, and one with no data in the asker's Ambito,
/// are both `NOT_FOUND` with the same message.
pub async fn report(
    db: &sea_orm::DatabaseConnection,
    ctx: &AuditContext,
    asker: Asker,
    fiscal_code: &str,
) -> Result<Report, AppError> {
    let fiscal_code = fiscal_code.trim().to_ascii_uppercase();
    if fiscal_code.len() != 16 || !fiscal_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AppError::validation("fiscalCode", "a codice fiscale is 16 letters and digits"));
    }
    let within = match asker {
        Asker::System => None,
        Asker::Ambito(a) => Some(a),
    };
    // Whether the asker may know the person at all, before anything else is read.
    let located = locate(db, &fiscal_code).await?;
    if located.members.is_empty() || within.is_some_and(|a| !located.ambiti.contains(&a)) {
        return Err(AppError::not_found_at("fiscalCode", "no person with this codice fiscale has data here"));
    }
    let subjects = collect(db, located).await?;
    // The asking itself, recorded first: no report without its trace.
    let entries = subjects
        .members
        .iter()
        .map(|m| {
            let mut e = AuditEntry::new("member", m, AuditAction::Export);
            e.ambito_id = within;
            e.changes = Some(serde_json::json!({ "report": "person_access" }));
            e
        })
        .collect();
    super::record(db, ctx, entries).await?;

    let mut events: Vec<audit_event::Model> = Vec::new();
    for (table, ids) in &subjects.rows {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        for chunk in ids.chunks(500) {
            let mut cond = Condition::all()
                .add(audit_event::Column::Entity.eq(*table))
                .add(audit_event::Column::EntityId.is_in(chunk.iter().cloned()));
            if let Some(a) = within {
                cond = cond.add(audit_event::Column::AmbitoId.eq(a));
            }
            events.extend(Unscoped::Audit.find::<audit_event::Entity>().filter(cond).all(db).await?);
        }
    }
    events.sort_by_key(|e| (e.occurred_at, e.id));

    // Names of the actors.
    let operators: BTreeSet<Uuid> = events.iter().filter_map(|e| e.operator_id).collect();
    let clients: BTreeSet<Uuid> = events.iter().filter_map(|e| e.api_client_id).collect();
    let mut names: BTreeMap<Uuid, String> = BTreeMap::new();
    for o in Unscoped::Audit
        .find::<entity::operator::Entity>()
        .filter(entity::operator::Column::Id.is_in(operators))
        .all(db)
        .await?
    {
        names.insert(o.id, format!("{} {}", o.first_name, o.last_name));
    }
    for c in Unscoped::Audit
        .find::<entity::api_client::Entity>()
        .filter(entity::api_client::Column::Id.is_in(clients))
        .all(db)
        .await?
    {
        names.insert(c.id, c.name);
    }

    // Leaves and proofs against the latest checkpoint.
    let checkpoint = log::latest_checkpoint(db).await?;
    let size = checkpoint.as_ref().map(|c| c.size as u64);
    let mut leaves: BTreeMap<Uuid, (u64, Vec<u8>)> = BTreeMap::new();
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    for chunk in ids.chunks(500) {
        for l in Unscoped::Audit
            .find::<audit_leaf::Entity>()
            .filter(audit_leaf::Column::EventId.is_in(chunk.iter().copied()))
            .order_by_asc(audit_leaf::Column::Seq)
            .all(db)
            .await?
        {
            leaves.insert(l.event_id, (l.seq as u64, l.hash));
        }
    }
    let mut store = log::Subtrees::new(db);
    let mut lines = Vec::with_capacity(events.len());
    for e in events {
        let leaf = leaves.get(&e.id);
        let proof = match (leaf, size) {
            (Some((seq, _)), Some(n)) if *seq < n => store
                .proof(&tree::inclusion_ranges(*seq, n).expect("seq < n"))
                .await?
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
            _ => Vec::new(),
        };
        let what = what_of(&e);
        lines.push(Line {
            occurred_at: e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            actor_kind: e.actor_kind.to_value(),
            operator_id: e.operator_id,
            actor: e.operator_id.or(e.api_client_id).and_then(|id| names.get(&id).cloned()),
            role: e.role.map(|r| r.to_value()),
            ambito_id: e.ambito_id,
            action: e.action.to_value(),
            entity: e.entity,
            entity_id: e.entity_id,
            what,
            operation: e.operation,
            event_id: e.id,
            leaf: leaf.map(|l| l.0),
            leaf_hash: leaf.map(|l| B64.encode(&l.1)),
            proof,
        });
    }
    Ok(Report {
        generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        checkpoint: checkpoint.as_ref().map(|c| c.note.clone()),
        checkpoint_size: size,
        lines,
    })
}

/// The classes read (a read), or the names of the fields changed (a change):
/// never their values.
fn what_of(e: &audit_event::Model) -> Vec<String> {
    let Some(changes) = e.changes.as_deref().and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok()) else {
        return Vec::new();
    };
    if let Some(classes) = changes.get("classes").and_then(|c| c.as_array()) {
        return classes.iter().filter_map(|c| c.as_str().map(str::to_string)).collect();
    }
    match changes.as_object() {
        Some(fields) => fields.keys().cloned().collect(),
        None => Vec::new(),
    }
}
