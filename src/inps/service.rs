//! Applying the INPS feed: each record in its own transaction, with its audit
//! entries (naming the feed and the record's sequence number) and its line in
//! the ledger (`inps_feed_record`), or rejected with a stable code and the
//! field, and nothing of it applied. A record sent again (the same sequence
//! number and content) changes nothing; a sequence number reused for other
//! content is refused. The command line (`gepi import inps`) and the bulk
//! endpoint (`POST /inps/feed`) both come here.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use entity::{
    application, case_file, comune,
    enums::{ActorKind, ApplicationStatus, AuditAction, CaseState},
    household, inps_feed_job, inps_feed_record, inps_feed_rejection, member,
};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::feed::{self, Body, Header, Record};
use crate::{
    audit::{self, AuditContext, AuditEntry},
    error::AppError,
    households::model::CodiceFiscale,
    unscoped::Unscoped,
    workflow::compare_and_set,
};

/// Who sends a feed.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `gepi import inps` on the command line.
    Cli,
    /// The bulk endpoint, with an `inps_feed` key; `only_ambito`: the Ambito
    /// a key limited to one may send records of (others are rejected as an
    /// unknown Comune or application would be).
    Api { client_id: Uuid, only_ambito: Option<Uuid> },
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Unchanged,
}

/// A row that was not applied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    pub line: i64,
    pub seq: Option<i64>,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

/// The report of an import.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub job_id: Uuid,
    pub feed_id: String,
    pub received: i64,
    pub applied: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub rejections: Vec<Rejection>,
}

/// An import under way: the job, the header, and the Comuni read so far.
pub struct Import {
    db: DatabaseConnection,
    ctx: AuditContext,
    only_ambito: Option<Uuid>,
    header: Header,
    pub report: Report,
    comuni: HashMap<String, Option<(Uuid, String)>>,
    /// Rejections not yet written to the job.
    pending: Vec<inps_feed_rejection::ActiveModel>,
    /// Working days the receiving Ambito has to decide a transfer the feed raises.
    transfer_days: u32,
}

/// Rejections written to the job at once.
const REJECTIONS_PER_WRITE: usize = 200;
/// Rejections a report carries (the job keeps all of them).
pub const REPORTED_REJECTIONS: usize = 1_000;

impl Import {
    /// Reads the header line and opens a job; a file whose header is wrong is
    /// refused whole (`VALIDATION`), and no job is opened.
    pub async fn start(db: &DatabaseConnection, source: Source, header_line: &str) -> Result<Import, AppError> {
        let header = feed::header(header_line)?;
        let job_id = Uuid::now_v7();
        let (source_name, client, ctx) = match source {
            Source::Cli => {
                ("cli", None, AuditContext::unattributed(ActorKind::System, Some(format!("inps-feed:{job_id}"))))
            }
            Source::Api { client_id, .. } => {
                let mut ctx = AuditContext::unattributed(ActorKind::ApiClient, Some(format!("inps-feed:{job_id}")));
                ctx.api_client_id = Some(client_id);
                ctx.role = Some(entity::enums::Role::InpsFeed);
                ("api", Some(client_id), ctx)
            }
        };
        inps_feed_job::ActiveModel {
            id: Set(job_id),
            feed_id: Set(header.feed_id.clone()),
            source: Set(source_name.into()),
            api_client_id: Set(client),
            state: Set("RUNNING".into()),
            received: Set(0),
            applied: Set(0),
            unchanged: Set(0),
            rejected: Set(0),
            error: Set(None),
            started_at: Set(Utc::now()),
            finished_at: Set(None),
        }
        .insert(db)
        .await?;
        let report = Report { job_id, feed_id: header.feed_id.clone(), ..Default::default() };
        let only_ambito = match source {
            Source::Api { only_ambito, .. } => only_ambito,
            Source::Cli => None,
        };
        Ok(Import {
            db: db.clone(),
            ctx,
            only_ambito,
            header,
            report,
            comuni: HashMap::new(),
            pending: Vec::new(),
            transfer_days: 10,
        })
    }

    /// One record, in its own transaction.
    async fn one(&mut self, line: i64, rec: &Record) -> Result<(), AppError> {
        let result = self.apply(rec).await.map_err(|e| (Some(rec.seq), e));
        self.settle(line, result).await
    }

    /// Counts what became of a record, or records its rejection.
    async fn settle(&mut self, line: i64, result: Result<Outcome, (Option<i64>, AppError)>) -> Result<(), AppError> {
        match result {
            Ok(Outcome::Applied) => self.report.applied += 1,
            Ok(Outcome::Unchanged) => self.report.unchanged += 1,
            Err((_, e)) if e.code().as_str() == "INTERNAL" => return Err(e),
            Err((seq, e)) => self.reject(line, seq, e).await?,
        }
        Ok(())
    }

    async fn reject(&mut self, line: i64, seq: Option<i64>, e: AppError) -> Result<(), AppError> {
        self.report.rejected += 1;
        let (field, message) = match &e {
            AppError::Validation { field, message } => (field.clone().filter(|f| !f.is_empty()), message.clone()),
            AppError::NotFound { field, message } => (field.clone(), message.clone()),
            AppError::At { field, inner } => (Some(field.clone()), inner.to_string()),
            // A conflict names its field first (`household.members[0].fiscalCode: …`).
            AppError::Conflict(m) => match m.split_once(": ") {
                Some((f, rest)) if f.starts_with("household.") => (Some(f.to_string()), rest.to_string()),
                _ => (None, m.clone()),
            },
            other => (None, other.to_string()),
        };
        let r = Rejection { line, seq, code: e.code().as_str().to_string(), field, message };
        if self.report.rejections.len() < REPORTED_REJECTIONS {
            self.report.rejections.push(r.clone());
        }
        self.pending.push(inps_feed_rejection::ActiveModel {
            job_id: Set(self.report.job_id),
            line: Set(r.line),
            seq: Set(r.seq),
            code: Set(r.code),
            field: Set(r.field),
            message: Set(r.message),
        });
        if self.pending.len() >= REJECTIONS_PER_WRITE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), AppError> {
        let rows = std::mem::take(&mut self.pending);
        if !rows.is_empty() {
            inps_feed_rejection::Entity::insert_many(rows).exec_without_returning(&self.db).await?;
        }
        Ok(())
    }

    /// Closes the job with its counts: `DONE`, or `FAILED` with `error` (a
    /// server fault stopped it; what was applied stays, and the feed may be
    /// sent again).
    pub async fn finish(mut self, error: Option<&AppError>) -> Result<Report, AppError> {
        self.flush().await?;
        self.report.rejections.sort_by_key(|r| r.line);
        let r = &self.report;
        inps_feed_job::Entity::update_many()
            .col_expr(inps_feed_job::Column::State, Expr::value(if error.is_some() { "FAILED" } else { "DONE" }))
            .col_expr(inps_feed_job::Column::Received, Expr::value(r.received))
            .col_expr(inps_feed_job::Column::Applied, Expr::value(r.applied))
            .col_expr(inps_feed_job::Column::Unchanged, Expr::value(r.unchanged))
            .col_expr(inps_feed_job::Column::Rejected, Expr::value(r.rejected))
            .col_expr(
                inps_feed_job::Column::Error,
                Expr::value(error.map(|e| match e.code().as_str() {
                    "INTERNAL" => "stopped by a server fault".to_string(),
                    _ => e.to_string(),
                })),
            )
            .col_expr(inps_feed_job::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(inps_feed_job::Column::Id.eq(r.job_id))
            .exec(&self.db)
            .await?;
        Ok(self.report)
    }

    /// One record, in its own transaction.
    async fn apply(&mut self, rec: &Record) -> Result<Outcome, AppError> {
        match self.apply_once(rec).await {
            // Another import applied the same number meanwhile (the ledger's
            // key refused ours): the ledger answers, as it would have.
            Err(e) if e.code().as_str() == "INTERNAL" => {
                match Unscoped::Feed.find_by_id::<inps_feed_record::Entity>(rec.seq).one(&self.db).await? {
                    Some(done) if done.sha256 == rec.sha256 => Ok(Outcome::Unchanged),
                    Some(_) => Err(conflict_seq(rec.seq)),
                    // Another import wrote the same request under another
                    // number meanwhile (a unique key refused ours): once more,
                    // the record now meets what it wrote.
                    None => self.apply_once(rec).await,
                }
            }
            other => other,
        }
    }

    async fn apply_once(&mut self, rec: &Record) -> Result<Outcome, AppError> {
        let txn = self.begin().await?;
        if let Some(done) = Unscoped::Feed.find_by_id::<inps_feed_record::Entity>(rec.seq).one(&txn).await? {
            return if done.sha256 == rec.sha256 {
                Ok(Outcome::Unchanged)
            } else {
                Err(AppError::Conflict(format!(
                    "feed sequence number {} was applied already with other content: INPS never reuses a number",
                    rec.seq
                )))
            };
        }
        let entries = match &rec.body {
            Body::Application(a) => self.application(&txn, rec.seq, a).await?,
            Body::Status(s) => self.status(&txn, rec.seq, s).await?,
            Body::ResidencyCheck(r) => self.residency_check(&txn, rec.seq, r).await?,
            Body::Disadvantage(d) => self.disadvantage(&txn, rec.seq, d).await?,
        };
        let changed = !entries.is_empty();
        self.ledger_row(rec, changed).insert(&txn).await?;
        audit::record(&txn, &self.ctx, entries).await?;
        txn.commit().await?;
        Ok(if changed { Outcome::Applied } else { Outcome::Unchanged })
    }

    /// The Comune `istat` and its Ambito, read once per import.
    /// The Comune `istat` and its Ambito, read once per import; None when it
    /// is not in GePI's territory, or not in the Ambito the key is limited to.
    async fn comune<C: ConnectionTrait>(&mut self, db: &C, istat: &str) -> Result<Option<(Uuid, String)>, AppError> {
        let found = self.territory(db, istat).await?;
        Ok(found.filter(|(ambito, _)| self.only_ambito.is_none_or(|only| only == *ambito)))
    }

    /// Whether the Comune `istat` is in GePI's territory (a member's residence
    /// may be in any Ambito).
    async fn in_territory<C: ConnectionTrait>(&mut self, db: &C, istat: &str) -> Result<bool, AppError> {
        Ok(self.territory(db, istat).await?.is_some())
    }

    async fn territory<C: ConnectionTrait>(&mut self, db: &C, istat: &str) -> Result<Option<(Uuid, String)>, AppError> {
        if let Some(c) = self.comuni.get(istat) {
            return Ok(c.clone());
        }
        let found = Unscoped::Reference
            .find_by_id::<comune::Entity>(istat.to_string())
            .one(db)
            .await?
            .map(|c| (c.ambito_id, c.istat_code));
        self.comuni.insert(istat.to_string(), found.clone());
        Ok(found)
    }

    /// An audit entry of this feed's record `seq`.
    fn entry(
        &self,
        entity: &'static str,
        id: Uuid,
        action: AuditAction,
        ambito: Uuid,
        changes: serde_json::Value,
    ) -> AuditEntry {
        let mut e = AuditEntry::new(entity, id, action);
        e.ambito_id = Some(ambito);
        let mut c = serde_json::json!({ "feed": self.header.feed_id, "seq": changes["seq"] });
        if let (Some(c), Some(more)) = (c.as_object_mut(), changes.as_object()) {
            for (k, v) in more {
                c.insert(k.clone(), v.clone());
            }
        }
        e.changes = Some(c);
        e
    }

    async fn application(
        &mut self,
        txn: &DatabaseTransaction,
        seq: i64,
        a: &feed::Application,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let Some((ambito_id, comune_istat)) = self.comune(txn, &a.household.comune_istat).await? else {
            return Err(AppError::not_found_at(
                "household.comuneIstat",
                "no Comune with this ISTAT code in GePI's territory (`gepi territory import`)",
            ));
        };
        for (i, m) in a.household.members.iter().enumerate() {
            if !self.in_territory(txn, &m.residence_comune_istat).await? {
                return Err(AppError::not_found_at(
                    format!("household.members[{i}].residenceComuneIstat"),
                    "no Comune with this ISTAT code in GePI's territory (`gepi territory import`)",
                ));
            }
        }
        let existing = Unscoped::Feed
            .find::<application::Entity>()
            .filter(application::Column::InpsProtocol.eq(a.protocol.clone()))
            .one(txn)
            .await?;
        // A key limited to an Ambito changes that Ambito's households only
        // (checked before anything about the people).
        let existing = match existing {
            None => None,
            Some(app) => {
                let hh = household_of(txn, &app).await?;
                if self.only_ambito.is_some_and(|only| only != hh.ambito_id) {
                    return Err(AppError::not_found_at(
                        "protocol",
                        "no application with this protocol in the Ambito of this key",
                    ));
                }
                Some((app, hh))
            }
        };
        let (members, applicant) = household_members(a);
        // A person is in one household: a codice fiscale of another household is refused.
        let cfs: Vec<String> = members.iter().map(|(cf, _)| cf.as_str().to_string()).collect();
        let elsewhere = Unscoped::Rule
            .find::<member::Entity>()
            .filter(member::Column::FiscalCode.is_in(cfs.clone()))
            .all(txn)
            .await?
            .into_iter()
            .find(|m| existing.as_ref().is_none_or(|(app, _)| app.household_id != m.household_id));
        if let Some(m) = elsewhere {
            let i = cfs.iter().position(|c| *c == m.fiscal_code).unwrap_or(0);
            return Err(AppError::Conflict(format!(
                "household.members[{i}].fiscalCode: this person is a member of another household already"
            )));
        }
        let Some((app, hh)) = existing else {
            return self.new_household(txn, seq, a, &members, ambito_id, comune_istat, applicant).await;
        };
        let mut entries = Vec::new();
        // The application.
        let mut changed = Vec::new();
        let mut upd = application::Entity::update_many().filter(application::Column::Id.eq(app.id));
        macro_rules! diff {
            ($name:literal, $col:ident, $old:expr, $new:expr) => {
                if $old != $new {
                    changed.push($name);
                    upd = upd.col_expr(application::Column::$col, Expr::value($new.clone()));
                }
            };
        }
        diff!("measure", Measure, app.measure, a.measure);
        diff!("submittedOn", SubmittedOn, app.submitted_on, a.submitted_on);
        diff!("channel", Channel, app.channel, a.channel);
        diff!("iseeProtocol", IseeProtocol, app.isee_protocol, a.isee_protocol);
        diff!("padSignedOn", PadSignedOn, app.pad_signed_on, a.pad_signed_on);
        diff!("status", Status, app.status, a.status);
        diff!("monthsPaid", MonthsPaid, app.months_paid, a.months_paid);
        diff!("applicantFiscalCode", ApplicantFiscalCode, app.applicant_fiscal_code, applicant);
        if !changed.is_empty() {
            upd.exec(txn).await?;
            let mut c = serde_json::json!({ "seq": seq, "fields": changed });
            if app.status != a.status {
                c["status"] = serde_json::json!({ "before": app.status, "after": a.status });
            }
            entries.push(self.entry("application", app.id, AuditAction::Update, hh.ambito_id, c));
        }
        // The household and its members.
        let stored =
            Unscoped::Feed.find::<member::Entity>().filter(member::Column::HouseholdId.eq(hh.id)).all(txn).await?;
        if let Some(gone) = stored.iter().position(|m| !cfs.contains(&m.fiscal_code)) {
            let _ = gone;
            return Err(AppError::validation(
                "household.members",
                "a member of the household is missing: version 1 of the feed adds and updates members, it does not remove them",
            ));
        }
        let mut added = 0;
        let mut updated = Vec::new();
        for (i, (cf, m)) in members.iter().enumerate() {
            match stored.iter().find(|s| s.fiscal_code == cf.as_str()) {
                None => {
                    member_row(Uuid::now_v7(), hh.id, cf, m).insert(txn).await?;
                    added += 1;
                }
                Some(s) => {
                    let fields = member_changes(s, m);
                    if !fields.is_empty() {
                        let mut am = member_row(s.id, hh.id, cf, m).reset_all();
                        am.id = sea_orm::ActiveValue::Unchanged(s.id);
                        am.update(txn).await?;
                        updated.push(serde_json::json!({ "member": i, "fields": fields }));
                    }
                }
            }
        }
        let mut hh_fields = Vec::new();
        let mut hh_upd = household::Entity::update_many().filter(household::Column::Id.eq(hh.id));
        let moved_within_ambito = hh.comune_istat != comune_istat && hh.ambito_id == ambito_id;
        if moved_within_ambito {
            hh_fields.push("comuneIstat");
            hh_upd = hh_upd.col_expr(household::Column::ComuneIstat, Expr::value(comune_istat.clone()));
        }
        if hh.composition_date != a.household.composition_date {
            hh_fields.push("compositionDate");
            hh_upd = hh_upd.col_expr(household::Column::CompositionDate, Expr::value(a.household.composition_date));
        }
        if added > 0 || !updated.is_empty() {
            hh_fields.push("compositionVersion");
            hh_upd = hh_upd.col_expr(household::Column::CompositionVersion, Expr::value(hh.composition_version + 1));
        }
        // A move to a Comune of another Ambito waits for the transfer of the
        // case: the household stays where its case is, and the trail says so.
        let transfer = (hh.comune_istat != comune_istat && hh.ambito_id != ambito_id).then_some(ambito_id);
        if !hh_fields.is_empty() || transfer.is_some() {
            if !hh_fields.is_empty() {
                hh_upd.exec(txn).await?;
            }
            let mut c = serde_json::json!({ "seq": seq, "fields": hh_fields, "membersAdded": added, "membersUpdated": updated });
            if let Some(to) = transfer {
                c["transferPending"] = serde_json::json!({ "toComune": comune_istat, "toAmbito": to });
            }
            entries.push(self.entry("household", hh.id, AuditAction::Update, hh.ambito_id, c));
        }
        // The case follows the application.
        let case = Unscoped::Feed
            .find::<case_file::Entity>()
            .filter(case_file::Column::ApplicationId.eq(app.id))
            .one(txn)
            .await?;
        // A case under way moves with its household within the Ambito, and
        // counts its deadlines from the PAD as INPS now dates it.
        let mut touched = false;
        if let Some(c) = case.as_ref().filter(|c| !closed(c.state)) {
            let mut upd =
                case_file::Entity::update_many().col_expr(case_file::Column::UpdatedAt, Expr::value(Utc::now()));
            let mut change = serde_json::json!({ "seq": seq });
            if moved_within_ambito && c.comune_istat != comune_istat {
                upd = upd.col_expr(case_file::Column::ComuneIstat, Expr::value(comune_istat.clone()));
                change["comuneIstat"] = serde_json::json!({ "before": c.comune_istat, "after": comune_istat });
                touched = true;
            }
            if let Some(pad) = a.pad_signed_on.filter(|pad| *pad != c.pad_date) {
                upd = upd.col_expr(case_file::Column::PadDate, Expr::value(pad));
                change["padDate"] = serde_json::json!({ "before": c.pad_date, "after": pad });
                touched = true;
            }
            if touched {
                compare_and_set(txn, c, upd).await?;
                entries.push(self.entry("case_file", c.id, AuditAction::Update, c.ambito_id, change));
            }
        }
        let case = match case {
            Some(c) if touched => Unscoped::Feed.find_by_id::<case_file::Entity>(c.id).one(txn).await?,
            other => other,
        };
        // The household moved to another Ambito: its open case is proposed to
        // the receiving Ambito, once (not again while a request awaits a
        // decision, nor after that Comune rejected it).
        if let (Some(to_ambito), Some(c)) = (transfer, case.as_ref().filter(|c| !closed(c.state))) {
            if !crate::transfers::service::already_proposed(txn, c.id, &comune_istat).await? {
                let asked = crate::transfers::service::Asked {
                    to_ambito,
                    to_comune: comune_istat.clone(),
                    reason: entity::enums::TransferReason::SegnalazioneInps,
                    legal_basis: None,
                    by: None,
                };
                let (_, opened) = crate::transfers::service::open(txn, c, asked, self.transfer_days).await?;
                entries.extend(opened.into_iter().map(|mut e| {
                    let mut ch = e.changes.take().unwrap_or_default();
                    ch["seq"] = serde_json::json!(seq);
                    e.changes = Some(ch);
                    e
                }));
            }
        }
        entries.extend(self.case_follows(txn, seq, &app_after(&app, a), &hh, case).await?);
        Ok(entries)
    }

    #[allow(clippy::too_many_arguments)]
    async fn new_household(
        &mut self,
        txn: &DatabaseTransaction,
        seq: i64,
        a: &feed::Application,
        members: &[(CodiceFiscale, &feed::Member)],
        ambito_id: Uuid,
        comune_istat: String,
        applicant: String,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let mut rows = NewRows::default();
        self.new_household_rows(&mut rows, seq, a, members, ambito_id, comune_istat, applicant);
        rows.write(txn).await
    }

    /// The rows of a new household (with its members, its application and,
    /// once accepted, its case) and their audit entries, added to `rows`.
    #[allow(clippy::too_many_arguments)]
    fn new_household_rows(
        &self,
        rows: &mut NewRows,
        seq: i64,
        a: &feed::Application,
        members: &[(CodiceFiscale, &feed::Member)],
        ambito_id: Uuid,
        comune_istat: String,
        applicant: String,
    ) {
        let now = Utc::now();
        let hh = household::Model {
            id: Uuid::now_v7(),
            inps_protocol: a.protocol.clone(),
            ambito_id,
            comune_istat,
            composition_version: 1,
            composition_date: a.household.composition_date,
            created_at: now,
        };
        rows.members.extend(members.iter().map(|(cf, m)| member_row(Uuid::now_v7(), hh.id, cf, m)));
        let app = application::Model {
            id: Uuid::now_v7(),
            household_id: hh.id,
            inps_protocol: a.protocol.clone(),
            measure: a.measure,
            applicant_fiscal_code: applicant,
            submitted_on: a.submitted_on,
            channel: a.channel.clone(),
            isee_protocol: a.isee_protocol.clone(),
            pad_signed_on: a.pad_signed_on,
            status: a.status,
            months_paid: a.months_paid,
            renewal_of: None,
        };
        rows.audit.push(self.entry(
            "household",
            hh.id,
            AuditAction::Create,
            ambito_id,
            serde_json::json!({ "seq": seq, "members": members.len() }),
        ));
        rows.audit.push(self.entry(
            "application",
            app.id,
            AuditAction::Create,
            ambito_id,
            serde_json::json!({ "seq": seq, "status": app.status }),
        ));
        if let (ApplicationStatus::Accolta, Some(pad)) = (app.status, app.pad_signed_on) {
            let case = new_case(&app, &hh, pad);
            rows.audit.push(self.entry(
                "case_file",
                case.id,
                AuditAction::Create,
                ambito_id,
                serde_json::json!({ "seq": seq, "state": CaseState::DaAssegnare, "padDate": pad }),
            ));
            rows.cases.push(case.into());
        }
        rows.households.push(hh.into());
        rows.applications.push(app.into());
    }

    async fn status(
        &mut self,
        txn: &DatabaseTransaction,
        seq: i64,
        s: &feed::Status,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let app = known_application(txn, &s.protocol).await?;
        if s.status == ApplicationStatus::Accolta && app.pad_signed_on.is_none() {
            return Err(AppError::validation("status", "an application is accepted (ACCOLTA) once the PAD is signed: send its `application` record with `padSignedOn`"));
        }
        let hh = self.household_in_scope(txn, &app).await?;
        let case = Unscoped::Feed
            .find::<case_file::Entity>()
            .filter(case_file::Column::ApplicationId.eq(app.id))
            .one(txn)
            .await?;
        self.state_change(txn, seq, s, &app, &hh, case).await
    }

    /// The household of `app`; for a key limited to another Ambito, the
    /// application is unknown.
    async fn household_in_scope(
        &self,
        txn: &DatabaseTransaction,
        app: &application::Model,
    ) -> Result<household::Model, AppError> {
        let hh = household_of(txn, app).await?;
        if self.only_ambito.is_some_and(|only| only != hh.ambito_id) {
            return Err(unknown_application());
        }
        Ok(hh)
    }

    /// The application `protocol`, its household, and its member `fiscal_code`
    /// (a key limited to an Ambito: of that Ambito's households only).
    async fn member_of(
        &self,
        txn: &DatabaseTransaction,
        protocol: &str,
        fiscal_code: &str,
    ) -> Result<(application::Model, household::Model, member::Model), AppError> {
        let app = known_application(txn, protocol).await?;
        let hh = self.household_in_scope(txn, &app).await?;
        let m = Unscoped::Feed
            .find::<member::Entity>()
            .filter(member::Column::HouseholdId.eq(hh.id))
            .filter(member::Column::FiscalCode.eq(fiscal_code))
            .one(txn)
            .await?
            .ok_or_else(|| {
                AppError::not_found_at(
                    "fiscalCode",
                    "no member of the application's household with this codice fiscale",
                )
            })?;
        Ok((app, hh, m))
    }

    /// INPS asks for a residency check: a new check `DA_ASSEGNARE` at the
    /// member's Comune of residence, due in 30 days from the request; a check
    /// of the same kind still open for the member and application is the same
    /// request (nothing changes).
    async fn residency_check(
        &mut self,
        txn: &DatabaseTransaction,
        seq: i64,
        r: &feed::ResidencyCheckRequest,
    ) -> Result<Vec<AuditEntry>, AppError> {
        use entity::{enums::ResidencyCheckState, residency_check};
        if r.requested_on > crate::calendar::today() {
            return Err(AppError::validation("requestedOn", "must not be in the future"));
        }
        let (app, hh, m) = self.member_of(txn, &r.protocol, &r.fiscal_code).await?;
        // A key limited to an Ambito: a check in that Ambito only.
        let Some((ambito_id, owning)) = self.comune(txn, &m.residence_comune_istat).await? else {
            return Err(AppError::not_found_at(
                "fiscalCode",
                "the member's Comune of residence is not on GePI (or not in the Ambito this key sends for)",
            ));
        };
        let open = Unscoped::Feed
            .find::<residency_check::Entity>()
            .filter(residency_check::Column::MemberId.eq(m.id))
            .filter(residency_check::Column::ApplicationId.eq(app.id))
            .filter(residency_check::Column::Kind.eq(r.check_kind))
            .filter(residency_check::Column::FinalisedAt.is_null())
            .one(txn)
            .await?;
        if open.is_some() {
            return Ok(Vec::new());
        }
        let id = Uuid::now_v7();
        residency_check::ActiveModel {
            id: Set(id),
            kind: Set(r.check_kind),
            household_id: Set(hh.id),
            member_id: Set(m.id),
            application_id: Set(Some(app.id)),
            owning_comune_istat: Set(owning.clone()),
            current_comune_istat: Set(owning),
            ambito_id: Set(ambito_id),
            officer_id: Set(None),
            state: Set(ResidencyCheckState::DaAssegnare),
            due_on: Set(r.requested_on + chrono::Duration::days(crate::residency::model::RESIDENCE_COMUNE_DAYS)),
            forwarded_at: Set(None),
            outcome: Set(None),
            finalised_at: Set(None),
            override_reason: Set(None),
            override_note: Set(None),
            version: Set(1),
            created_at: Set(Utc::now()),
        }
        .insert(txn)
        .await?;
        Ok(vec![self.entry(
            "residency_check",
            id,
            AuditAction::Create,
            ambito_id,
            serde_json::json!({ "seq": seq, "kind": r.check_kind, "requested_on": r.requested_on }),
        )])
    }

    /// INPS asks the certifying Comune to validate a member's condizione di
    /// svantaggio: a request `RICEVUTA` in the certifying Comune's Ambito. The
    /// same request id again is the same request (the same content changes
    /// nothing; other content is a conflict).
    async fn disadvantage(
        &mut self,
        txn: &DatabaseTransaction,
        seq: i64,
        d: &feed::DisadvantageRequest,
    ) -> Result<Vec<AuditEntry>, AppError> {
        use entity::{disadvantage_check, enums::DisadvantageState};
        if d.received_on > crate::calendar::today() {
            return Err(AppError::validation("receivedOn", "must not be in the future"));
        }
        let (_, hh, m) = self.member_of(txn, &d.protocol, &d.fiscal_code).await?;
        // A key limited to an Ambito: a request in that Ambito only.
        let Some((ambito_id, certifying)) = self.comune(txn, &d.certifying_comune_istat).await? else {
            return Err(AppError::not_found_at(
                "certifyingComuneIstat",
                "no Comune with this ISTAT code on GePI (or not in the Ambito this key sends for)",
            ));
        };
        if let Some(known) = Unscoped::Feed
            .find::<disadvantage_check::Entity>()
            .filter(disadvantage_check::Column::InpsRequestId.eq(d.request_id.clone()))
            .one(txn)
            .await?
        {
            let same = known.member_id == m.id
                && known.category == d.category
                && known.certifying_comune_istat == certifying
                && known.received_on == d.received_on
                && known.certificate_protocol == d.certificate_protocol
                && known.certificate_from == d.certificate_from
                && known.certificate_to == d.certificate_to;
            return if same {
                Ok(Vec::new())
            } else {
                Err(AppError::conflict_at("requestId", "a request with this id was received with other content"))
            };
        }
        let id = Uuid::now_v7();
        disadvantage_check::ActiveModel {
            id: Set(id),
            inps_request_id: Set(d.request_id.clone()),
            household_id: Set(hh.id),
            member_id: Set(m.id),
            ambito_id: Set(ambito_id),
            certifying_comune_istat: Set(certifying),
            category: Set(d.category),
            certificate_protocol: Set(d.certificate_protocol.clone()),
            certificate_from: Set(d.certificate_from),
            certificate_to: Set(d.certificate_to),
            received_on: Set(d.received_on),
            state: Set(DisadvantageState::Ricevuta),
            notes: Set(None),
            decided_by: Set(None),
            decided_at: Set(None),
            sent_to_inps_at: Set(None),
            version: Set(1),
        }
        .insert(txn)
        .await?;
        // The audit names the request, never the category (special data).
        Ok(vec![self.entry(
            "disadvantage_check",
            id,
            AuditAction::Create,
            ambito_id,
            serde_json::json!({ "seq": seq, "request_id": d.request_id, "received_on": d.received_on }),
        )])
    }

    /// A change of state of a known application, and what follows for its case.
    async fn state_change(
        &self,
        txn: &DatabaseTransaction,
        seq: i64,
        s: &feed::Status,
        app: &application::Model,
        hh: &household::Model,
        case: Option<case_file::Model>,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let months = s.months_paid.unwrap_or(app.months_paid);
        let mut entries = Vec::new();
        if app.status != s.status || app.months_paid != months {
            application::Entity::update_many()
                .col_expr(application::Column::Status, Expr::value(s.status))
                .col_expr(application::Column::MonthsPaid, Expr::value(months))
                .filter(application::Column::Id.eq(app.id))
                .exec(txn)
                .await?;
            entries.push(self.entry(
                "application",
                app.id,
                AuditAction::Update,
                hh.ambito_id,
                serde_json::json!({ "seq": seq, "status": { "before": app.status, "after": s.status }, "on": s.on }),
            ));
        }
        let after = application::Model { status: s.status, months_paid: months, ..app.clone() };
        entries.extend(self.case_follows(txn, seq, &after, hh, case).await?);
        Ok(entries)
    }

    /// The case as the application's state wants it: an accepted application
    /// (PAD signed) has a case, `DA_ASSEGNARE` in the household's Ambito until
    /// the coordinator assigns it; an application that ended (decaduta,
    /// revocata, annullata, end of the period) closes its case.
    async fn case_follows(
        &self,
        txn: &DatabaseTransaction,
        seq: i64,
        app: &application::Model,
        hh: &household::Model,
        case: Option<case_file::Model>,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let ends = matches!(
            app.status,
            ApplicationStatus::Decaduta
                | ApplicationStatus::Revocata
                | ApplicationStatus::Annullata
                | ApplicationStatus::FinePeriodo
        );
        match (case, app.pad_signed_on) {
            (None, Some(pad)) if app.status == ApplicationStatus::Accolta => {
                let case = new_case(app, hh, pad);
                let id = case.id;
                case_file::ActiveModel::from(case).insert(txn).await?;
                Ok(vec![self.entry(
                    "case_file",
                    id,
                    AuditAction::Create,
                    hh.ambito_id,
                    serde_json::json!({ "seq": seq, "state": CaseState::DaAssegnare, "padDate": pad }),
                )])
            }
            (Some(c), _) if ends && !closed(c.state) => {
                compare_and_set(
                    txn,
                    &c,
                    case_file::Entity::update_many()
                        .col_expr(case_file::Column::State, Expr::value(CaseState::Chiuso))
                        .col_expr(case_file::Column::UpdatedAt, Expr::value(Utc::now())),
                )
                .await?;
                Ok(vec![self.entry(
                    "case_file",
                    c.id,
                    AuditAction::Update,
                    c.ambito_id,
                    serde_json::json!({
                        "seq": seq,
                        "state": { "before": c.state, "after": CaseState::Chiuso },
                        "because": { "applicationStatus": app.status },
                    }),
                )])
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The case of an application just accepted: `DA_ASSEGNARE` in the household's
/// Ambito, its deadlines counted from the PAD.
fn new_case(app: &application::Model, hh: &household::Model, pad: NaiveDate) -> case_file::Model {
    let now = Utc::now();
    case_file::Model {
        id: Uuid::now_v7(),
        household_id: hh.id,
        application_id: app.id,
        ambito_id: hh.ambito_id,
        comune_istat: hh.comune_istat.clone(),
        state: CaseState::DaAssegnare,
        case_manager_id: None,
        assigned_at: None,
        assigned_by: None,
        pad_date: pad,
        first_meeting_on: None,
        last_meeting_on: None,
        pathway_type: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// New households to write, in as few statements as the database takes.
#[derive(Default)]
struct NewRows {
    households: Vec<household::ActiveModel>,
    members: Vec<member::ActiveModel>,
    applications: Vec<application::ActiveModel>,
    cases: Vec<case_file::ActiveModel>,
    ledger: Vec<inps_feed_record::ActiveModel>,
    audit: Vec<AuditEntry>,
}

/// Rows a multi-row `INSERT` carries: under SQLite's 32,766 parameters and
/// PostgreSQL's 65,535 for the widest row (a member: 19 columns).
const ROWS_PER_INSERT: usize = 1_000;

async fn insert_all<A, C>(db: &C, rows: Vec<A>) -> Result<(), AppError>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

impl NewRows {
    /// Writes the rows (parents first); gives back the audit entries, for
    /// the caller to record with the rest of its transaction's.
    async fn write<C: ConnectionTrait>(self, db: &C) -> Result<Vec<AuditEntry>, AppError> {
        insert_all(db, self.households).await?;
        insert_all(db, self.members).await?;
        insert_all(db, self.applications).await?;
        insert_all(db, self.cases).await?;
        insert_all(db, self.ledger).await?;
        Ok(self.audit)
    }
}

/// A record read, or why not, with its number when it has one.
fn parse(text: &str) -> Result<Record, (Option<i64>, AppError)> {
    feed::record(text)
        .map_err(|e| (serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v["seq"].as_i64()), e))
}

/// The household of an application.
/// An application a record names by its protocol: it came in an earlier record.
async fn known_application(txn: &DatabaseTransaction, protocol: &str) -> Result<application::Model, AppError> {
    Unscoped::Feed
        .find::<application::Entity>()
        .filter(application::Column::InpsProtocol.eq(protocol))
        .one(txn)
        .await?
        .ok_or_else(unknown_application)
}

fn unknown_application() -> AppError {
    AppError::not_found_at("protocol", "no application with this protocol: send its `application` record first")
}

async fn household_of(txn: &DatabaseTransaction, app: &application::Model) -> Result<household::Model, AppError> {
    Unscoped::Feed
        .find_by_id::<household::Entity>(app.household_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal(format!("application {} without its household", app.id)))
}

/// A household's members with their codici fiscali, and the applicant's.
fn household_members(a: &feed::Application) -> (Vec<(CodiceFiscale, &feed::Member)>, String) {
    let members: Vec<(CodiceFiscale, &feed::Member)> = a
        .household
        .members
        .iter()
        .map(|m| (CodiceFiscale::parse(&m.fiscal_code).expect("checked when read"), m))
        .collect();
    let applicant = members
        .iter()
        .find(|(_, m)| m.relation == entity::enums::FamilyRelation::Richiedente)
        .map(|(cf, _)| cf.as_str().to_string())
        .expect("checked when read");
    (members, applicant)
}

fn conflict_seq(seq: i64) -> AppError {
    AppError::Conflict(format!(
        "feed sequence number {seq} was applied already with other content: INPS never reuses a number"
    ))
}

/// Lines read and applied together: the new households among them are
/// written in one transaction.
pub const CHUNK: usize = 500;

/// A new household waiting to be written with the others of its chunk.
struct Pending<'r> {
    line: i64,
    rec: &'r Record,
    ambito_id: Uuid,
    comune_istat: String,
}

impl Import {
    /// A transaction of the feed. Its commit does not wait for the disk: a
    /// crash may lose the last records applied (never part of one: a change,
    /// its audit entries and its ledger line commit together), and the feed,
    /// sent again, applies them again. Waiting would bound a feed to the
    /// disk's flushes per second.
    async fn begin(&self) -> Result<DatabaseTransaction, AppError> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            txn.execute_unprepared("SET LOCAL synchronous_commit TO OFF").await?;
        }
        Ok(txn)
    }

    /// The ledger line of a record.
    fn ledger_row(&self, rec: &Record, changed: bool) -> inps_feed_record::ActiveModel {
        inps_feed_record::ActiveModel {
            seq: Set(rec.seq),
            kind: Set(rec.body.kind().into()),
            protocol: Set(rec.body.protocol().into()),
            sha256: Set(rec.sha256.clone()),
            job_id: Set(self.report.job_id),
            changed: Set(changed),
            applied_at: Set(Utc::now()),
        }
    }

    /// A chunk of lines. What the database knows of its records is read in
    /// three statements; the new households whose protocol and members are
    /// unknown (most of a first load) are checked here as the one-record path
    /// checks them and written together in one transaction (each household
    /// whole, with its audit entries and ledger line), and if that
    /// transaction fails, each is applied on its own. Every other record
    /// (a change, a state, a number seen before) is applied on its own, after
    /// the pending households it may depend on.
    pub async fn chunk(&mut self, lines: Vec<(i64, Result<String, AppError>)>) -> Result<(), AppError> {
        use std::collections::HashSet;
        let mut recs = Vec::with_capacity(lines.len());
        for (n, text) in lines {
            let text = match text {
                Ok(t) if t.trim().is_empty() => continue,
                Ok(t) => t,
                Err(e) => {
                    self.report.received += 1;
                    self.settle(n, Err((None, e))).await?;
                    continue;
                }
            };
            self.report.received += 1;
            match parse(&text) {
                Ok(r) => recs.push((n, r)),
                Err(e) => self.settle(n, Err(e)).await?,
            }
        }
        let db = self.db.clone();
        let seqs: Vec<i64> = recs.iter().map(|(_, r)| r.seq).collect();
        let applied: HashMap<i64, String> = Unscoped::Feed
            .find::<inps_feed_record::Entity>()
            .filter(inps_feed_record::Column::Seq.is_in(seqs))
            .all(&db)
            .await?
            .into_iter()
            .map(|r| (r.seq, r.sha256))
            .collect();
        let apps: Vec<&feed::Application> = recs
            .iter()
            .filter_map(|(_, r)| match &r.body {
                Body::Application(a) if !applied.contains_key(&r.seq) => Some(a),
                _ => None,
            })
            .collect();
        let protocols: Vec<String> = recs
            .iter()
            .filter(|(_, r)| !applied.contains_key(&r.seq))
            .map(|(_, r)| r.body.protocol().to_string())
            .collect();
        let mut known_protocols: HashSet<String> = if protocols.is_empty() {
            HashSet::new()
        } else {
            Unscoped::Feed
                .find::<application::Entity>()
                .filter(application::Column::InpsProtocol.is_in(protocols))
                .all(&db)
                .await?
                .into_iter()
                .map(|a| a.inps_protocol)
                .collect()
        };
        let cfs: Vec<String> = apps
            .iter()
            .flat_map(|a| a.household.members.iter().map(|m| m.fiscal_code.trim().to_ascii_uppercase()))
            .collect();
        let mut known_cfs: HashSet<String> = HashSet::new();
        for part in cfs.chunks(ROWS_PER_INSERT) {
            known_cfs.extend(
                Unscoped::Rule
                    .find::<member::Entity>()
                    .filter(member::Column::FiscalCode.is_in(part.to_vec()))
                    .all(&db)
                    .await?
                    .into_iter()
                    .map(|m| m.fiscal_code),
            );
        }
        let mut group: Vec<Pending> = Vec::new();
        // Changes of state of applications known before this chunk's records.
        let mut states: Vec<(i64, &Record)> = Vec::new();
        let mut state_protocols: HashSet<String> = HashSet::new();
        // Every number met in this chunk: one met twice goes the one-record
        // way, after everything before it, which the ledger then answers.
        let mut seen: HashSet<i64> = HashSet::new();
        let (mut pending_protocols, mut pending_cfs, mut pending_seqs) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for (n, rec) in &recs {
            if let Some(sha) = applied.get(&rec.seq) {
                let r = if *sha == rec.sha256 {
                    Ok(Outcome::Unchanged)
                } else {
                    Err((Some(rec.seq), conflict_seq(rec.seq)))
                };
                self.settle(*n, r).await?;
                continue;
            }
            let record_cfs: Vec<String> = match &rec.body {
                Body::Application(a) => {
                    a.household.members.iter().map(|m| m.fiscal_code.trim().to_ascii_uppercase()).collect()
                }
                // The others wait for their application by its protocol.
                Body::Status(_) | Body::ResidencyCheck(_) | Body::Disadvantage(_) => Vec::new(),
            };
            let twice = !seen.insert(rec.seq);
            let depends = twice
                || pending_seqs.contains(&rec.seq)
                || pending_protocols.contains(rec.body.protocol())
                || record_cfs.iter().any(|c| pending_cfs.contains(c));
            let new = match &rec.body {
                Body::Application(a)
                    if !depends
                        && !known_protocols.contains(&a.protocol)
                        && !record_cfs.iter().any(|c| known_cfs.contains(c)) =>
                {
                    let mut resident = true;
                    for m in &a.household.members {
                        resident &= self.in_territory(&db, &m.residence_comune_istat).await?;
                    }
                    if resident {
                        self.comune(&db, &a.household.comune_istat).await?
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match new {
                Some((ambito_id, comune_istat)) => {
                    pending_seqs.insert(rec.seq);
                    pending_protocols.insert(rec.body.protocol().to_string());
                    pending_cfs.extend(record_cfs);
                    group.push(Pending { line: *n, rec, ambito_id, comune_istat });
                }
                None => {
                    if depends {
                        self.write_new(std::mem::take(&mut group)).await?;
                        pending_seqs.clear();
                        known_protocols.extend(pending_protocols.drain());
                        known_cfs.extend(pending_cfs.drain());
                    }
                    let protocol = rec.body.protocol();
                    if twice || state_protocols.contains(protocol) {
                        self.write_states(std::mem::take(&mut states)).await?;
                        state_protocols.clear();
                    }
                    if !twice && matches!(rec.body, Body::Status(_)) && known_protocols.contains(protocol) {
                        state_protocols.insert(protocol.to_string());
                        states.push((*n, rec));
                        continue;
                    }
                    self.one(*n, rec).await?;
                    // What it wrote is known from now on.
                    known_protocols.insert(rec.body.protocol().to_string());
                    known_cfs.extend(record_cfs);
                }
            }
        }
        self.write_new(group).await?;
        self.write_states(states).await
    }

    /// Changes of state of known applications (one each), in one transaction:
    /// the applications, households and cases read in three statements, then
    /// each change as `status` makes it; each on its own if anything fails.
    async fn write_states(&mut self, group: Vec<(i64, &Record)>) -> Result<(), AppError> {
        if group.is_empty() {
            return Ok(());
        }
        let together = async {
            let txn = self.begin().await?;
            let protocols: Vec<String> = group.iter().map(|(_, r)| r.body.protocol().to_string()).collect();
            let apps: HashMap<String, application::Model> = Unscoped::Feed
                .find::<application::Entity>()
                .filter(application::Column::InpsProtocol.is_in(protocols))
                .all(&txn)
                .await?
                .into_iter()
                .map(|a| (a.inps_protocol.clone(), a))
                .collect();
            let households: HashMap<Uuid, household::Model> = Unscoped::Feed
                .find::<household::Entity>()
                .filter(household::Column::Id.is_in(apps.values().map(|a| a.household_id).collect::<Vec<_>>()))
                .all(&txn)
                .await?
                .into_iter()
                .map(|h| (h.id, h))
                .collect();
            let mut cases: HashMap<Uuid, case_file::Model> = Unscoped::Feed
                .find::<case_file::Entity>()
                .filter(case_file::Column::ApplicationId.is_in(apps.values().map(|a| a.id).collect::<Vec<_>>()))
                .all(&txn)
                .await?
                .into_iter()
                .map(|c| (c.application_id, c))
                .collect();
            let mut entries = Vec::new();
            let mut ledger = Vec::new();
            let mut changed = Vec::new();
            for (_, rec) in &group {
                let Body::Status(s) = &rec.body else { unreachable!("only states wait here") };
                // Anything the one-record path would refuse goes there.
                let app = apps.get(&s.protocol).ok_or_else(|| AppError::internal("fall back"))?;
                let hh = households.get(&app.household_id).ok_or_else(|| AppError::internal("fall back"))?;
                if (s.status == ApplicationStatus::Accolta && app.pad_signed_on.is_none())
                    || self.only_ambito.is_some_and(|only| only != hh.ambito_id)
                {
                    return Err(AppError::internal("fall back"));
                }
                let before = entries.len();
                entries.extend(self.state_change(&txn, rec.seq, s, app, hh, cases.remove(&app.id)).await?);
                changed.push(entries.len() > before);
                ledger.push(self.ledger_row(rec, entries.len() > before));
            }
            insert_all(&txn, ledger).await?;
            audit::record(&txn, &self.ctx, entries).await?;
            txn.commit().await?;
            Ok::<Vec<bool>, AppError>(changed)
        }
        .await;
        match together {
            Ok(changed) => {
                for c in changed {
                    if c {
                        self.report.applied += 1;
                    } else {
                        self.report.unchanged += 1;
                    }
                }
                Ok(())
            }
            Err(_) => {
                for (n, rec) in &group {
                    self.one(*n, rec).await?;
                }
                Ok(())
            }
        }
    }

    /// New households, in one transaction; each on its own if that fails.
    async fn write_new(&mut self, group: Vec<Pending<'_>>) -> Result<(), AppError> {
        if group.is_empty() {
            return Ok(());
        }
        let together = async {
            let txn = self.begin().await?;
            let mut rows = NewRows::default();
            for p in &group {
                let Body::Application(a) = &p.rec.body else { unreachable!("only applications wait") };
                let (members, applicant) = household_members(a);
                self.new_household_rows(
                    &mut rows,
                    p.rec.seq,
                    a,
                    &members,
                    p.ambito_id,
                    p.comune_istat.clone(),
                    applicant,
                );
                rows.ledger.push(self.ledger_row(p.rec, true));
            }
            let entries = rows.write(&txn).await?;
            audit::record(&txn, &self.ctx, entries).await?;
            txn.commit().await?;
            Ok::<(), AppError>(())
        }
        .await;
        match together {
            Ok(()) => {
                self.report.applied += group.len() as i64;
                Ok(())
            }
            Err(_) => {
                for p in &group {
                    self.one(p.line, p.rec).await?;
                }
                Ok(())
            }
        }
    }
}

/// Whether a case's work is over (closed, or transferred away).
fn closed(state: CaseState) -> bool {
    matches!(state, CaseState::Chiuso | CaseState::Trasferito)
}

/// The application as the record leaves it.
fn app_after(app: &application::Model, a: &feed::Application) -> application::Model {
    application::Model {
        measure: a.measure,
        submitted_on: a.submitted_on,
        channel: a.channel.clone(),
        isee_protocol: a.isee_protocol.clone(),
        pad_signed_on: a.pad_signed_on,
        status: a.status,
        months_paid: a.months_paid,
        ..app.clone()
    }
}

fn member_row(id: Uuid, household_id: Uuid, cf: &CodiceFiscale, m: &feed::Member) -> member::ActiveModel {
    member::ActiveModel::from(member::Model {
        id,
        household_id,
        fiscal_code: cf.as_str().to_string(),
        first_name: m.first_name.trim().to_string(),
        last_name: m.last_name.trim().to_string(),
        birth_date: m.birth_date,
        birth_place_code: m.birth_place_code.to_ascii_uppercase(),
        sex: m.sex,
        citizenship: m.citizenship.clone(),
        relation: m.relation,
        residence_comune_istat: m.residence_comune_istat.clone(),
        in_equivalence_scale: m.in_equivalence_scale,
        obligated_activation: m.obligated_activation,
        disabled: m.disabled,
        email: m.email.clone(),
        phone: m.phone.clone(),
        permit_type: m.permit_type.clone(),
        permit_expiry: m.permit_expiry,
        residual_benefit_months: m.residual_benefit_months,
    })
}

/// The names of the member's fields the record changes (never their values:
/// the trail holds no personal data).
fn member_changes(s: &member::Model, m: &feed::Member) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            out.push(name)
        }
    };
    check("firstName", s.first_name == m.first_name.trim());
    check("lastName", s.last_name == m.last_name.trim());
    check("birthDate", s.birth_date == m.birth_date);
    check("birthPlaceCode", s.birth_place_code == m.birth_place_code.to_ascii_uppercase());
    check("sex", s.sex == m.sex);
    check("citizenship", s.citizenship == m.citizenship);
    check("relation", s.relation == m.relation);
    check("residenceComuneIstat", s.residence_comune_istat == m.residence_comune_istat);
    check("inEquivalenceScale", s.in_equivalence_scale == m.in_equivalence_scale);
    check("obligatedActivation", s.obligated_activation == m.obligated_activation);
    check("disabled", s.disabled == m.disabled);
    check("email", s.email == m.email);
    check("phone", s.phone == m.phone);
    check("permitType", s.permit_type == m.permit_type);
    check("permitExpiry", s.permit_expiry == m.permit_expiry);
    check("residualBenefitMonths", s.residual_benefit_months == m.residual_benefit_months);
    out
}

/// Reads a whole feed from `reader` (JSON Lines): the header, then every
/// record. `progress` is told the bytes read so far. A file refused whole (its
/// header) opens no job; an error after the job opened (the body cut short or
/// over its limit, a server fault) closes the job `FAILED`, with what was
/// applied so far, and comes with the job's id.
pub async fn import<R: tokio::io::AsyncBufRead + Unpin>(
    db: &DatabaseConnection,
    source: Source,
    transfer_days: u32,
    mut reader: R,
    mut progress: impl FnMut(u64),
) -> Result<Report, (Option<Uuid>, AppError)> {
    let mut buf = Vec::new();
    let mut read = 0u64;
    let mut n = 0i64;
    let header = loop {
        match next_line(&mut reader, &mut buf, &mut read).await.map_err(|e| (None, e))? {
            None => return Err((None, AppError::validation("", "the feed is empty: its first line is the header"))),
            Some(l) => {
                n += 1;
                let l = l.map_err(|e| (None, e))?;
                if !l.trim().is_empty() {
                    break l;
                }
            }
        }
    };
    let mut import = Import::start(db, source, header.trim_start_matches('\u{feff}')).await.map_err(|e| (None, e))?;
    import.transfer_days = transfer_days;
    let job_id = import.report.job_id;
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let l = match next_line(&mut reader, &mut buf, &mut read).await {
            Ok(l) => l,
            Err(e) => {
                let _ = import.finish(Some(&e)).await;
                return Err((Some(job_id), e));
            }
        };
        let end = l.is_none();
        if let Some(l) = l {
            n += 1;
            chunk.push((n, l));
        }
        if chunk.len() == CHUNK || (end && !chunk.is_empty()) {
            if let Err(e) = import.chunk(std::mem::take(&mut chunk)).await {
                let _ = import.finish(Some(&e)).await;
                return Err((Some(job_id), e));
            }
            progress(read);
        }
        if end {
            break;
        }
    }
    import.finish(None).await.map_err(|e| (Some(job_id), e))
}

/// The next line (None at the end), read at most [`feed::MAX_LINE_BYTES`]
/// at a time: a longer line, or one that is not UTF-8, is a bad row (`Err`
/// inside), never held whole in memory.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    read: &mut u64,
) -> Result<Option<Result<String, AppError>>, AppError> {
    use tokio::io::AsyncBufReadExt;
    buf.clear();
    let (mut too_long, mut any) = (false, false);
    loop {
        let chunk = r.fill_buf().await.map_err(read_error)?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > feed::MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        let used = if done { take + 1 } else { take };
        r.consume(used);
        *read += used as u64;
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if too_long {
        return Ok(Some(Err(AppError::validation("", format!("a record is at most {} bytes", feed::MAX_LINE_BYTES)))));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8(std::mem::take(buf)).map_err(|_| AppError::validation("", "the line is not UTF-8 text"))))
}

/// A body that could not be read to its end: over its limit (`LIMIT`), or cut
/// short.
fn read_error(e: std::io::Error) -> AppError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return AppError::Limit("the feed is over the size limit (GEPI_FEED_BODY_LIMIT_BYTES)".into());
        }
        source = s.source();
    }
    AppError::internal(format!("reading the feed: {e}"))
}

/// An import's job as its sender reads it back.
pub async fn job<C: ConnectionTrait>(
    db: &C,
    job_id: Uuid,
    client: Option<Uuid>,
) -> Result<(inps_feed_job::Model, Vec<inps_feed_rejection::Model>), AppError> {
    let missing = || AppError::not_found("no feed job with this id");
    let job = Unscoped::Feed.find_by_id::<inps_feed_job::Entity>(job_id).one(db).await?.ok_or_else(missing)?;
    if client.is_some() && job.api_client_id != client {
        return Err(missing());
    }
    let rejections = Unscoped::Feed
        .find::<inps_feed_rejection::Entity>()
        .filter(inps_feed_rejection::Column::JobId.eq(job_id))
        .order_by_asc(inps_feed_rejection::Column::Line)
        .all(db)
        .await?;
    Ok((job, rejections))
}
