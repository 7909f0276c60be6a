//! Retention of personal data and legal holds.
//!
//! The rules are policy data (`policies/retention.csv`): per category, the
//! clock's anchor, a period and an action, overridable per deployment with
//! `GEPI_RETENTION_DAYS`. `gepi retention run [--dry-run]` says what is due
//! and why, then does it in batches, each audited:
//!
//! - `audit_trail` (`DELETE`): events older than the period, already leaves of
//!   the audit tree and covered by a signed checkpoint, are deleted; their
//!   leaves stay, and a content-free tombstone event (action `purge`) names
//!   their leaves, so `gepi audit verify` accepts their absence and still
//!   checks every remaining event and every checkpoint.
//! - `closed_case` (`ANONYMISE`): a household whose cases are all closed, the
//!   last one longer ago than the period, loses its members' identity (names,
//!   codice fiscale replaced by a pseudonym, contacts, birth place, permit; the
//!   birth date kept as its year) and its cases' free texts; states, dates,
//!   Comuni, categories and counts stay, so the tables of counts do not move.
//!
//! A legal hold (a case, a household, or a person by codice fiscale: holder,
//! legal basis, in force until released) blocks both for everything it covers
//! (the rows [`crate::audit::access::Subjects`] finds for it). Placing and
//! releasing a hold are audited.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use entity::{audit_event, audit_leaf, case_file, enums::AuditAction, legal_hold, member};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query, SimpleExpr},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    audit::{self, access::Subjects, AuditContext, AuditEntry},
    codes,
    error::AppError,
    unscoped::Unscoped,
};

/// What the rules are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    AuditTrail,
    ClosedCase,
}

impl Category {
    const ALL: [Category; 2] = [Category::AuditTrail, Category::ClosedCase];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::AuditTrail => "audit_trail",
            Category::ClosedCase => "closed_case",
        }
    }

    /// The clock's anchor, and the actions that make sense.
    fn anchor_and_actions(self) -> (&'static str, &'static [Action]) {
        match self {
            Category::AuditTrail => ("event_time", &[Action::Delete, Action::Keep]),
            Category::ClosedCase => ("case_closed", &[Action::Anonymise, Action::Keep]),
        }
    }

    /// The shortest period a deployment may set.
    fn floor_days(self) -> u32 {
        match self {
            // The Italian floor for access logs (Garante, 27 Nov 2008).
            Category::AuditTrail => 183,
            // A closed case may reopen with a renewal of the benefit.
            Category::ClosedCase => 365,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Delete,
    Anonymise,
    Keep,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub category: Category,
    pub anchor: &'static str,
    pub days: u32,
    pub action: Action,
    pub source: String,
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct Policy {
    pub rules: BTreeMap<Category, Rule>,
}

const POLICY: &str = include_str!("../../policies/retention.csv");

impl Policy {
    /// `policies/retention.csv` with the `overrides` of `GEPI_RETENTION_DAYS`
    /// (`category=days,…`).
    pub fn load(overrides: Option<&str>) -> Result<Self, String> {
        Self::parse(POLICY, overrides)
    }

    pub fn parse(text: &str, overrides: Option<&str>) -> Result<Self, String> {
        let mut rules = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |m: String| format!("policies/retention.csv:{}: {m}", n + 1);
            let mut parts = line.splitn(5, ',').map(str::trim);
            let (Some(cat), Some(anchor), Some(days), Some(action), Some(source)) =
                (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(at("expected: category, anchor, days, action, source".into()));
            };
            let category = Category::ALL
                .into_iter()
                .find(|c| c.as_str() == cat)
                .ok_or_else(|| at(format!("unknown category `{cat}`")))?;
            let (expected_anchor, actions) = category.anchor_and_actions();
            if anchor != expected_anchor {
                return Err(at(format!("the clock of {cat} is anchored on `{expected_anchor}`, not `{anchor}`")));
            }
            let action = match action {
                "DELETE" => Action::Delete,
                "ANONYMISE" => Action::Anonymise,
                "KEEP" => Action::Keep,
                other => return Err(at(format!("unknown action `{other}`"))),
            };
            if !actions.contains(&action) {
                return Err(at(format!("{cat} cannot be {action:?}")));
            }
            let days: u32 = days.parse().map_err(|_| at(format!("`{days}` is not a number of days")))?;
            let rule =
                Rule { category, anchor: expected_anchor, days, action, source: source.trim_matches('"').to_string() };
            if rules.insert(category, rule).is_some() {
                return Err(at(format!("{cat} has two rules")));
            }
        }
        for c in Category::ALL {
            if !rules.contains_key(&c) {
                return Err(format!("policies/retention.csv: no rule for {}", c.as_str()));
            }
        }
        for item in overrides.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (cat, days) =
                item.split_once('=').ok_or_else(|| format!("GEPI_RETENTION_DAYS: `{item}` is not category=days"))?;
            let rule = rules
                .values_mut()
                .find(|r| r.category.as_str() == cat.trim())
                .ok_or_else(|| format!("GEPI_RETENTION_DAYS: unknown category `{cat}`"))?;
            rule.days =
                days.trim().parse().map_err(|_| format!("GEPI_RETENTION_DAYS: `{days}` is not a number of days"))?;
        }
        for r in rules.values() {
            if r.action != Action::Keep && r.days < r.category.floor_days() {
                return Err(format!(
                    "retention of {} is {} days, under its floor of {}",
                    r.category.as_str(),
                    r.days,
                    r.category.floor_days()
                ));
            }
        }
        Ok(Policy { rules })
    }

    fn cutoff(&self, c: Category, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let r = &self.rules[&c];
        (r.action != Action::Keep).then(|| now - Duration::days(r.days as i64))
    }
}

/// What a hold covers.
#[derive(Debug, Clone)]
pub enum HoldScope {
    Case(Uuid),
    Household(Uuid),
    Person(String),
}

/// Places a hold (audited); the target must exist.
pub async fn place_hold(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    scope: HoldScope,
    holder: &str,
    legal_basis: &str,
) -> Result<legal_hold::Model, AppError> {
    let holder = holder.trim();
    let legal_basis = legal_basis.trim();
    if holder.is_empty() || holder.chars().count() > 200 {
        return Err(AppError::validation("holder", "who asks for the hold: 1 to 200 characters"));
    }
    if legal_basis.is_empty() {
        return Err(AppError::validation("legalBasis", "the legal basis of the hold is required"));
    }
    let (kind, case_id, household_id, fiscal_code) = match &scope {
        HoldScope::Case(c) => {
            let case = Unscoped::System.find_by_id::<case_file::Entity>(*c).one(db).await?;
            let case = case.ok_or_else(|| AppError::not_found_at("case", "no such case"))?;
            ("CASE", Some(case.id), Some(case.household_id), None)
        }
        HoldScope::Household(h) => {
            let found = Unscoped::System.find_by_id::<entity::household::Entity>(*h).one(db).await?;
            found.ok_or_else(|| AppError::not_found_at("household", "no such household"))?;
            ("HOUSEHOLD", None, Some(*h), None)
        }
        HoldScope::Person(cf) => {
            let cf = cf.trim().to_ascii_uppercase();
            let any = Unscoped::System
                .find::<member::Entity>()
                .filter(member::Column::FiscalCode.eq(cf.as_str()))
                .one(db)
                .await?;
            any.ok_or_else(|| AppError::not_found_at("fiscalCode", "no person with this codice fiscale"))?;
            ("PERSON", None, None, Some(cf))
        }
    };
    let row = legal_hold::Model {
        id: Uuid::now_v7(),
        scope: kind.to_string(),
        case_id,
        household_id,
        fiscal_code,
        holder: holder.to_string(),
        legal_basis: legal_basis.to_string(),
        placed_at: Utc::now(),
        released_at: None,
        release_reason: None,
    };
    let txn = db.begin().await?;
    legal_hold::Entity::insert(legal_hold::ActiveModel::from(row.clone())).exec_without_returning(&txn).await?;
    let mut e = AuditEntry::new("legal_hold", row.id, AuditAction::Create);
    // The holder and basis are about the proceedings, not the person: kept.
    e.changes = Some(serde_json::json!({ "scope": kind, "holder": row.holder, "legal_basis": row.legal_basis }));
    audit::record(&txn, ctx, vec![e]).await?;
    txn.commit().await?;
    Ok(row)
}

/// Releases a hold in force (audited).
pub async fn release_hold(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    id: Uuid,
    reason: &str,
) -> Result<legal_hold::Model, AppError> {
    if reason.trim().is_empty() {
        return Err(AppError::validation("reason", "why the hold is released is required"));
    }
    let txn = db.begin().await?;
    let hold = Unscoped::System
        .find_by_id::<legal_hold::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found_at("id", "no such hold"))?;
    if hold.released_at.is_some() {
        return Err(AppError::conflict_at("id", "the hold was already released"));
    }
    let now = Utc::now();
    legal_hold::Entity::update(legal_hold::ActiveModel {
        id: Set(id),
        released_at: Set(Some(now)),
        release_reason: Set(Some(reason.trim().to_string())),
        ..Default::default()
    })
    .exec(&txn)
    .await?;
    let mut e = AuditEntry::new("legal_hold", id, AuditAction::Update);
    e.changes =
        Some(serde_json::json!({ "released_at": { "before": null, "after": now }, "release_reason": reason.trim() }));
    audit::record(&txn, ctx, vec![e]).await?;
    txn.commit().await?;
    Ok(legal_hold::Model { released_at: Some(now), release_reason: Some(reason.trim().to_string()), ..hold })
}

/// The holds in force.
pub async fn holds_in_force<C: ConnectionTrait>(db: &C) -> Result<Vec<legal_hold::Model>, AppError> {
    Ok(Unscoped::System
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::ReleasedAt.is_null())
        .order_by_asc(legal_hold::Column::PlacedAt)
        .all(db)
        .await?)
}

/// Everything the holds in force cover.
pub struct Held {
    rows: HashSet<(String, String)>,
    households: BTreeSet<Uuid>,
    pub holds: usize,
}

impl Held {
    pub async fn load<C: ConnectionTrait>(db: &C) -> Result<Self, AppError> {
        let holds = holds_in_force(db).await?;
        let mut all = Subjects::default();
        for h in &holds {
            let s = match (h.scope.as_str(), h.household_id, &h.fiscal_code) {
                ("PERSON", _, Some(cf)) => Subjects::of_person(db, cf).await?,
                (_, Some(household), _) => Subjects::of_household(db, household).await?,
                _ => return Err(AppError::internal(format!("legal hold {} names nothing", h.id))),
            };
            all.extend(s);
        }
        let rows =
            all.rows.iter().flat_map(|(t, ids)| ids.iter().map(move |i| (t.to_string(), i.to_string()))).collect();
        Ok(Held { rows, households: all.households, holds: holds.len() })
    }

    fn covers_event(&self, e: &audit_event::Model) -> bool {
        e.entity_id.as_ref().is_some_and(|id| self.rows.contains(&(e.entity.clone(), id.clone())))
    }
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Outcome {
    pub audit_events_purged: u64,
    pub audit_events_held: u64,
    /// Events past the period but not yet covered by a signed checkpoint.
    pub audit_events_waiting: u64,
    pub households_anonymised: u64,
    pub households_held: u64,
    /// One line per decision, for the operator of the run.
    pub lines: Vec<String>,
}

/// Applies the rules as of `now` (nothing changes when `dry_run`).
pub async fn run(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    policy: &Policy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Outcome, AppError> {
    let held = Held::load(db).await?;
    let mut out = Outcome::default();
    if !dry_run {
        ensure_partitions(db).await?;
    }
    if let Some(cutoff) = policy.cutoff(Category::ClosedCase, now) {
        anonymise_closed(db, ctx, policy, cutoff, &held, dry_run, &mut out).await?;
    }
    if let Some(cutoff) = policy.cutoff(Category::AuditTrail, now) {
        purge_trail(db, ctx, cutoff, &held, dry_run, &mut out).await?;
    }
    Ok(out)
}

/// The pseudonym of a member's codice fiscale: 16 characters, `ANON` and 12
/// of the hash of the member's id (stable, and names nobody).
fn pseudonym(member: Uuid) -> String {
    let h = Sha256::digest(member.as_bytes());
    format!("ANON{}", hex::encode_upper(&h[..6]))
}

/// Sets `cols` of the rows of `table` whose `key` is among `ids`.
async fn blank<C: ConnectionTrait>(
    db: &C,
    table: &str,
    cols: &[(&str, SimpleExpr)],
    key: &str,
    ids: &[Uuid],
) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut q = Query::update();
    q.table(Alias::new(table));
    for (c, v) in cols {
        q.value(Alias::new(*c), v.clone());
    }
    q.and_where(Expr::col(Alias::new(key)).is_in(ids.iter().copied()));
    db.execute(&q).await?;
    Ok(())
}

fn null() -> SimpleExpr {
    Expr::val(Option::<String>::None)
}

fn empty() -> SimpleExpr {
    Expr::val("")
}

async fn anonymise_closed(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    policy: &Policy,
    cutoff: DateTime<Utc>,
    held: &Held,
    dry_run: bool,
    out: &mut Outcome,
) -> Result<(), AppError> {
    // Households not yet anonymised whose every case is closed, the last before the cutoff.
    let closed: Vec<case_file::Model> = Unscoped::System
        .find::<case_file::Entity>()
        .filter(case_file::Column::State.is_in(codes::CASE_CLOSED))
        .filter(case_file::Column::UpdatedAt.lt(cutoff))
        .all(db)
        .await?;
    let candidates: BTreeSet<Uuid> = closed.iter().map(|c| c.household_id).collect();
    let done: BTreeSet<Uuid> = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM household WHERE anonymised_at IS NOT NULL".to_string(),
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<Uuid>(0).ok())
        .collect();
    let mut due = Vec::new();
    for chunk in candidates.into_iter().filter(|h| !done.contains(h)).collect::<Vec<_>>().chunks(500) {
        let cases = Unscoped::System
            .find::<case_file::Entity>()
            .filter(case_file::Column::HouseholdId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for h in chunk {
            let of: Vec<&case_file::Model> = cases.iter().filter(|c| c.household_id == *h).collect();
            let all_closed = of.iter().all(|c| codes::CASE_CLOSED.contains(&c.state) && c.updated_at < cutoff);
            if all_closed {
                let last = of.iter().map(|c| c.updated_at).max().expect("a candidate has a case");
                due.push((*h, last));
            }
        }
    }
    let days = policy.rules[&Category::ClosedCase].days;
    for (h, last) in due {
        if held.households.contains(&h) {
            out.households_held += 1;
            out.lines.push(format!("closed_case: household {h} held (last case closed {last}): kept"));
            continue;
        }
        out.lines.push(format!(
            "closed_case: household {h}: last case closed {}, over {days} days ago: anonymise",
            last.date_naive()
        ));
        // Decided again in the household's own transaction (see `anonymise_household`).
        if !dry_run && !anonymise_household(db, ctx, h, cutoff).await? {
            out.households_held += 1;
            out.lines.push(format!("closed_case: household {h} held or reopened since the run began: kept"));
            continue;
        }
        out.households_anonymised += 1;
    }
    Ok(())
}

/// The fields retention blanks, per table (what the audit entry names).
const ANONYMISED: &[(&str, &[&str])] = &[
    (
        "member",
        &[
            "first_name",
            "last_name",
            "fiscal_code",
            "birth_date",
            "birth_place_code",
            "email",
            "phone",
            "permit_type",
            "permit_expiry",
        ],
    ),
    ("application", &["applicant_fiscal_code"]),
    ("preliminary_analysis", &["needs_notes", "resources_notes", "health_notes"]),
    ("analysis_framework", &["assessment_notes", "priorities"]),
    ("pact", &["contact_modality", "reference_person"]),
    ("pact_objective", &["description"]),
    ("meeting", &["attendees", "justification"]),
    ("report", &["description", "decision_comment"]),
    ("partner_event", &["fiscal_code"]),
];

/// Anonymises `household` unless, in its own transaction, a hold now covers
/// it or one of its cases is no longer closed before `cutoff` (a hold placed,
/// or a case reopened, since the run began); whether it did.
async fn anonymise_household(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    household: Uuid,
    cutoff: DateTime<Utc>,
) -> Result<bool, AppError> {
    let s = Subjects::of_household(db, household).await?;
    let ids = |t: &str| -> Vec<Uuid> { s.rows.get(t).map(|i| i.iter().copied().collect()).unwrap_or_default() };
    let txn = db.begin().await?;
    let members =
        Unscoped::System.find::<member::Entity>().filter(member::Column::HouseholdId.eq(household)).all(&txn).await?;
    let cases = Unscoped::System
        .find::<case_file::Entity>()
        .filter(case_file::Column::HouseholdId.eq(household))
        .all(&txn)
        .await?;
    if cases.iter().any(|c| !codes::CASE_CLOSED.contains(&c.state) || c.updated_at >= cutoff) {
        return Ok(false);
    }
    let fiscal_codes: Vec<String> = members.iter().map(|m| m.fiscal_code.clone()).collect();
    let holds = Unscoped::System
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::ReleasedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(legal_hold::Column::HouseholdId.eq(household))
                .add(legal_hold::Column::CaseId.is_in(cases.iter().map(|c| c.id)))
                .add(legal_hold::Column::FiscalCode.is_in(fiscal_codes)),
        )
        .one(&txn)
        .await?;
    if holds.is_some() {
        return Ok(false);
    }
    for m in &members {
        let year = NaiveDate::from_ymd_opt(m.birth_date.year(), 1, 1).unwrap_or(m.birth_date);
        member::Entity::update(member::ActiveModel {
            id: Set(m.id),
            first_name: Set(String::new()),
            last_name: Set(String::new()),
            fiscal_code: Set(pseudonym(m.id)),
            birth_date: Set(year),
            birth_place_code: Set(String::new()),
            email: Set(None),
            phone: Set(None),
            permit_type: Set(None),
            permit_expiry: Set(None),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
    }
    blank(
        &txn,
        "application",
        &[("applicant_fiscal_code", Expr::val("ANONIMIZZATO0000"))],
        "household_id",
        &[household],
    )
    .await?;
    let pa = [("needs_notes", null()), ("resources_notes", null()), ("health_notes", null())];
    blank(&txn, "preliminary_analysis", &pa, "id", &ids("preliminary_analysis")).await?;
    blank(
        &txn,
        "analysis_framework",
        &[("assessment_notes", null()), ("priorities", null())],
        "id",
        &ids("analysis_framework"),
    )
    .await?;
    blank(&txn, "pact", &[("contact_modality", null()), ("reference_person", null())], "id", &ids("pact")).await?;
    blank(&txn, "pact_objective", &[("description", empty())], "id", &ids("pact_objective")).await?;
    blank(&txn, "meeting", &[("attendees", null()), ("justification", null())], "id", &ids("meeting")).await?;
    blank(&txn, "report", &[("description", empty()), ("decision_comment", null())], "id", &ids("report")).await?;
    blank(&txn, "partner_event", &[("fiscal_code", null())], "id", &ids("partner_event")).await?;
    let mut q = Query::update();
    q.table(Alias::new("household"))
        .value(Alias::new("anonymised_at"), Expr::val(Utc::now()))
        .and_where(Expr::col(Alias::new("id")).eq(household));
    txn.execute(&q).await?;
    let mut e = AuditEntry::new("household", household, AuditAction::Anonymise);
    e.ambito_id = s.ambiti.iter().next().copied();
    e.changes = Some(serde_json::json!({
        "rule": Category::ClosedCase.as_str(),
        "members": members.len(),
        "fields": ANONYMISED.iter().map(|(t, f)| (t.to_string(), f.to_vec())).collect::<BTreeMap<_, _>>(),
    }));
    audit::record(&txn, ctx, vec![e]).await?;
    txn.commit().await?;
    Ok(true)
}

/// Events per purge transaction (and per tombstone).
const PURGE_BATCH: u64 = 1_000;

async fn purge_trail(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    cutoff: DateTime<Utc>,
    held: &Held,
    dry_run: bool,
    out: &mut Outcome,
) -> Result<(), AppError> {
    // Only leaves already in a checkpoint signed by the cutoff: their events
    // were in the tree before it (what `verify` asks of a tombstone).
    let covered = Unscoped::Audit
        .find::<entity::audit_checkpoint::Entity>()
        .filter(entity::audit_checkpoint::Column::SignedAt.lte(cutoff))
        .order_by_desc(entity::audit_checkpoint::Column::Size)
        .one(db)
        .await?
        .map(|c| c.size as u64)
        .unwrap_or(0);
    // The months dropped whole (or that a dry run would drop): not row by row.
    let dropped = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => drop_partitions(db, ctx, cutoff, covered, held, dry_run, out).await?,
        _ => Vec::new(),
    };
    let mut after: Option<Uuid> = None;
    loop {
        let mut q = Unscoped::Audit
            .find::<audit_event::Entity>()
            .filter(audit_event::Column::OccurredAt.lt(cutoff))
            .filter(audit_event::Column::Action.ne(AuditAction::Purge))
            .order_by_asc(audit_event::Column::Id)
            .limit(PURGE_BATCH);
        for (from, to) in &dropped {
            q = q.filter(
                sea_orm::Condition::any()
                    .add(audit_event::Column::OccurredAt.lt(*from))
                    .add(audit_event::Column::OccurredAt.gte(*to)),
            );
        }
        if let Some(a) = after {
            q = q.filter(audit_event::Column::Id.gt(a));
        }
        let events = q.all(db).await?;
        let Some(last) = events.last() else { break };
        after = Some(last.id);
        let leaves: BTreeMap<Uuid, u64> = Unscoped::Audit
            .find::<audit_leaf::Entity>()
            .filter(audit_leaf::Column::EventId.is_in(events.iter().map(|e| e.id)))
            .all(db)
            .await?
            .into_iter()
            .map(|l| (l.event_id, l.seq as u64))
            .collect();
        let mut purge: Vec<(u64, Uuid)> = Vec::new();
        for e in &events {
            if held.covers_event(e) {
                out.audit_events_held += 1;
                continue;
            }
            match leaves.get(&e.id) {
                Some(seq) if *seq < covered => purge.push((*seq, e.id)),
                _ => out.audit_events_waiting += 1,
            }
        }
        if purge.is_empty() {
            continue;
        }
        purge.sort();
        let ranges = ranges(purge.iter().map(|p| p.0));
        out.audit_events_purged += purge.len() as u64;
        out.lines.push(format!(
            "audit_trail: {} events before {} (leaves {}): delete, tombstone kept",
            purge.len(),
            cutoff.date_naive(),
            ranges
                .iter()
                .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
                .collect::<Vec<_>>()
                .join(",")
        ));
        if dry_run {
            continue;
        }
        let txn = db.begin().await?;
        txn.execute_unprepared("INSERT INTO audit_purge_permit (id) VALUES (1)").await?;
        audit_event::Entity::delete_many()
            .filter(audit_event::Column::Id.is_in(purge.iter().map(|p| p.1)))
            .exec(&txn)
            .await?;
        txn.execute_unprepared("DELETE FROM audit_purge_permit").await?;
        audit::record(&txn, ctx, vec![tombstone(cutoff, &ranges, None)]).await?;
        txn.commit().await?;
    }
    Ok(())
}

/// The content-free event that names the leaves whose events a purge deleted
/// (with the partition dropped, if it was one): what `audit::log::verify`
/// accepts their absence by.
fn tombstone(cutoff: DateTime<Utc>, runs: &[(u64, u64)], partition: Option<&str>) -> AuditEntry {
    let mut changes = serde_json::json!({
        "rule": Category::AuditTrail.as_str(),
        "before": cutoff,
        "leaves": runs,
    });
    if let Some(name) = partition {
        changes["partition"] = name.into();
    }
    AuditEntry {
        entity: "audit_event",
        entity_id: None,
        action: AuditAction::Purge,
        ambito_id: None,
        changes: Some(changes),
    }
}

/// Months of audit partitions kept ready ahead of the current one.
pub const PARTITIONS_AHEAD: u32 = 3;

/// On PostgreSQL, the audit trail's partitions of this month and the next
/// [`PARTITIONS_AHEAD`] (the server's hourly chore; a run of retention too).
pub async fn ensure_partitions<C: ConnectionTrait>(db: &C) -> Result<(), AppError> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("SELECT gepi_audit_partitions({PARTITIONS_AHEAD})")).await?;
    }
    Ok(())
}

/// The month (UTC; start, and end exclusive) of partition `name`
/// (`audit_event_pYYYYMM`).
fn partition_month(name: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let ym = name.strip_prefix("audit_event_p")?;
    if ym.len() != 6 || !ym.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m): (i32, u32) = (ym[..4].parse().ok()?, ym[4..].parse().ok()?);
    let start = NaiveDate::from_ymd_opt(y, m, 1)?;
    let end = start.checked_add_months(chrono::Months::new(1))?;
    Some((start.and_hms_opt(0, 0, 0)?.and_utc(), end.and_hms_opt(0, 0, 0)?.and_utc()))
}

/// PostgreSQL: drops every month's partition of the trail that ended by the
/// cutoff, when every event in it is a leaf of a checkpoint signed by the
/// cutoff (below `covered`) and no hold covers any of them. One tombstone per
/// partition names its leaves and the leaves named by the tombstones it held
/// (so those stay accounted for). A partition that cannot go whole is left to
/// the row-by-row purge, which keeps what is held or not yet checkpointed.
/// The months dropped (or, dry, that would be).
async fn drop_partitions(
    db: &DatabaseConnection,
    ctx: &AuditContext,
    cutoff: DateTime<Utc>,
    covered: u64,
    held: &Held,
    dry_run: bool,
    out: &mut Outcome,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, AppError> {
    let backend = db.get_database_backend();
    let mut dropped = Vec::new();
    let q = |sql: String| sea_orm::Statement::from_string(backend, sql);
    let parts = db
        .query_all_raw(q("SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                WHERE i.inhparent = 'audit_event'::regclass ORDER BY 1"
            .into()))
        .await?;
    for r in parts {
        let name: String = r.try_get_by_index(0)?;
        let Some((start, end)) = partition_month(&name) else { continue };
        if end > cutoff {
            continue;
        }
        let txn = db.begin().await?;
        // No event may arrive in it meanwhile (readers go on); a dry run takes no lock.
        if !dry_run {
            txn.execute_unprepared(&format!("LOCK TABLE {name} IN SHARE MODE")).await?;
        }
        let count = |sql: String| {
            let txn = &txn;
            async move {
                let r = txn.query_one_raw(q(sql)).await?.ok_or_else(|| AppError::internal("no count"))?;
                Ok::<u64, AppError>(r.try_get_by_index::<i64>(0)? as u64)
            }
        };
        // Its events, but for tombstones (accounted for by the runs they name).
        let events = count(format!("SELECT count(*) FROM {name} WHERE action <> 'purge'")).await?;
        let waiting = count(format!(
            "SELECT count(*) FROM {name} e LEFT JOIN audit_leaf l ON l.event_id = e.id \
             WHERE l.seq IS NULL OR l.seq >= {covered}"
        ))
        .await?;
        let mut held_here = 0;
        let pairs: Vec<&(String, String)> = held.rows.iter().collect();
        for chunk in pairs.chunks(500) {
            let list = chunk
                .iter()
                .map(|(t, id)| format!("('{}', '{}')", t.replace('\'', "''"), id.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ");
            held_here += count(format!("SELECT count(*) FROM {name} WHERE (entity, entity_id) IN ({list})")).await?;
        }
        if waiting > 0 || held_here > 0 {
            out.lines.push(format!(
                "audit_trail: partition {name} ({events} events): {waiting} not yet in a checkpoint signed by {}, \
                 {held_here} held: purged row by row",
                cutoff.date_naive()
            ));
            txn.rollback().await?;
            continue;
        }
        // Its leaves as runs (gaps and islands), and the runs its tombstones name.
        let mut runs: Vec<(u64, u64)> = txn
            .query_all_raw(q(format!(
                "SELECT min(seq), max(seq) FROM (SELECT l.seq, l.seq - row_number() OVER (ORDER BY l.seq) AS g \
                 FROM {name} e JOIN audit_leaf l ON l.event_id = e.id) r GROUP BY g ORDER BY 1"
            )))
            .await?
            .iter()
            .map(|r| Ok((r.try_get_by_index::<i64>(0)? as u64, r.try_get_by_index::<i64>(1)? as u64)))
            .collect::<Result<_, sea_orm::DbErr>>()?;
        for r in txn.query_all_raw(q(format!("SELECT changes FROM {name} WHERE action = 'purge'"))).await? {
            let changes: Option<String> = r.try_get_by_index(0)?;
            let v: serde_json::Value = serde_json::from_str(changes.as_deref().unwrap_or("{}")).unwrap_or_default();
            runs.extend(
                v["leaves"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| Some((p.get(0)?.as_u64()?, p.get(1)?.as_u64()?))),
            );
        }
        let runs = merge(runs);
        dropped.push((start, end));
        out.audit_events_purged += events;
        out.lines.push(format!(
            "audit_trail: partition {name} ({events} events, the month before {}): drop, tombstone kept",
            end.date_naive()
        ));
        if dry_run {
            txn.rollback().await?;
            continue;
        }
        if !runs.is_empty() {
            audit::record(&txn, ctx, vec![tombstone(cutoff, &runs, Some(&name))]).await?;
        }
        // Dropping a partition locks the whole trail for a moment: rather than
        // make every request's audit write queue behind it for long, give up
        // after a while and leave the month to the next run.
        txn.execute_unprepared("SET LOCAL lock_timeout = '2s'").await?;
        if let Err(e) = txn.execute_unprepared(&format!("DROP TABLE {name}")).await {
            txn.rollback().await?;
            dropped.pop();
            out.audit_events_purged -= events;
            out.lines.push(format!("audit_trail: partition {name} busy ({e}): left to the next run"));
            continue;
        }
        txn.commit().await?;
    }
    Ok(dropped)
}

/// Inclusive runs, sorted and merged where they touch or overlap.
fn merge(mut runs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    runs.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in runs {
        match out.last_mut() {
            Some((_, end)) if a <= *end + 1 => *end = std::cmp::max(*end, b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Sorted numbers as inclusive runs.
fn ranges(sorted: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for n in sorted {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == n => *b = n,
            _ => out.push((n, n)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_file_loads_and_bad_rules_are_refused() {
        let p = Policy::load(None).unwrap();
        assert_eq!(p.rules[&Category::AuditTrail].days, 1825);
        assert_eq!(p.rules[&Category::ClosedCase].action, Action::Anonymise);
        let p = Policy::load(Some("audit_trail=400, closed_case=4000")).unwrap();
        assert_eq!((p.rules[&Category::AuditTrail].days, p.rules[&Category::ClosedCase].days), (400, 4000));
        for (text, over, why) in [
            (POLICY, Some("audit_trail=30"), "under its floor"),
            (POLICY, Some("nothing=30"), "unknown category"),
            (POLICY, Some("audit_trail"), "not category=days"),
            (
                "audit_trail, case_closed, 1825, DELETE, x\nclosed_case, case_closed, 3650, ANONYMISE, y",
                None,
                "anchored on",
            ),
            (
                "audit_trail, event_time, 1825, ANONYMISE, x\nclosed_case, case_closed, 3650, ANONYMISE, y",
                None,
                "cannot be",
            ),
            ("audit_trail, event_time, 1825, DELETE, x", None, "no rule for closed_case"),
        ] {
            let e = Policy::parse(text, over).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(ranges([1, 2, 3, 7, 9, 10].into_iter()), vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(pseudonym(Uuid::nil()).len(), 16);
    }
}
