//! Issue 11, point 1, as a property of every mutation: every id an input
//! carries is read under the actor's scope. For every mutation and every id
//! argument, an id of a row the actor may not see (`node(id:)` answers null)
//! gets byte for byte the answer a random id gets, and nothing is written: no
//! row in any table, no version moved, no audit event. A control per argument
//! shows the id is looked up at all: some id the actor sees answers otherwise.
//!
//! Rows out of scope are taken in the actor's own Ambito first (a colleague's
//! case, a member of a household of another Comune), then in another Ambito.

use std::collections::BTreeMap;

use chrono::Duration;
use entity::{enums::Role, *};
use gepi::ids;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{seed_today, TestApp};

/// One id argument of one mutation.
struct Arg {
    role: Role,
    /// The mutation's root field; the operation is `mutation($i: ...) { field(input: $i) { __typename } }`.
    mutation: &'static str,
    input_type: &'static str,
    /// The type of the row the argument names.
    ty: &'static str,
    /// Input path of the argument (`extensions.field` of its errors).
    field: &'static str,
    /// The input: `$ID` / `$V` are the probed id and its version; `$P` / `$PV`
    /// a row of `primary` the actor sees, chosen so that the input reaches
    /// the probed argument.
    input: Value,
    primary: Option<&'static str>,
    /// Whether rows of the actor's own Ambito the actor does not read are out
    /// of scope for this argument (see `proposed_beyond_reads`).
    hidden_in_ambito: bool,
}

fn arg(
    role: Role,
    mutation: &'static str,
    input_type: &'static str,
    ty: &'static str,
    field: &'static str,
    input: Value,
) -> Arg {
    Arg { role, mutation, input_type, ty, field, input, primary: None, hidden_in_ambito: true }
}

/// The Responsabile PUC proposes members it does not read yet: those of the
/// households with a case in the project's Comune (the domain's rule; it reads
/// a member once assigned). For that argument the rule, not the read scope,
/// bounds what is in scope; here only members of other Ambiti are probed, and
/// `puc::proposing_a_member_out_of_scope_answers_as_a_missing_id_and_changes_nothing`
/// probes the members of its own Ambito outside the rule.
fn proposed_beyond_reads(mut a: Arg) -> Arg {
    a.hidden_in_ambito = false;
    a
}

fn secondary(mut a: Arg, primary: &'static str) -> Arg {
    a.primary = Some(primary);
    a
}

fn table() -> Vec<Arg> {
    use Role::*;
    let today = seed_today().to_string();
    let tomorrow = format!("{}T10:00:00Z", seed_today() + Duration::days(3));
    let case_v = |extra: Value| {
        let mut v = json!({ "caseId": "$ID", "version": "$V" });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let meeting_v = |extra: Value| {
        let mut v = json!({ "meetingId": "$ID", "version": "$V" });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let report =
        json!({ "caseId": "$ID", "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": today, "description": "fatto" });
    let mut out = vec![
        arg(
            CaseManager,
            "recordFirstMeeting",
            "RecordFirstMeetingInput",
            "Case",
            "input.caseId",
            case_v(json!({ "heldOn": today, "place": "Sede" })),
        ),
        arg(
            CaseManager,
            "saveAnalysis",
            "SaveAnalysisInput",
            "Case",
            "input.caseId",
            case_v(json!({ "needsNotes": "bisogni" })),
        ),
        arg(
            CaseManager,
            "completeAnalysis",
            "CompleteAnalysisInput",
            "Case",
            "input.caseId",
            case_v(json!({ "outcome": "QUADRO_ANALISI" })),
        ),
        arg(CaseManager, "reopenAnalysis", "CaseVersionInput", "Case", "input.caseId", case_v(json!({}))),
        arg(CaseManager, "raiseReport", "RaiseReportInput", "Case", "input.caseId", report.clone()),
        secondary(
            arg(CaseManager, "raiseReport", "RaiseReportInput", "Member", "input.memberId", {
                let mut r = report.clone();
                r["caseId"] = json!("$P");
                r["memberId"] = json!("$ID");
                r
            }),
            "Case",
        ),
        arg(
            CaseManager,
            "submitReport",
            "SubmitReportInput",
            "Report",
            "input.reportId",
            json!({ "reportId": "$ID", "version": "$V" }),
        ),
        arg(
            CaseManager,
            "saveFramework",
            "SaveFrameworkInput",
            "Case",
            "input.caseId",
            case_v(json!({ "priorities": "lavoro" })),
        ),
        arg(CaseManager, "completeFramework", "CaseVersionInput", "Case", "input.caseId", case_v(json!({}))),
        arg(
            CaseManager,
            "savePact",
            "SavePactInput",
            "Case",
            "input.caseId",
            case_v(json!({ "contactModality": "telefono" })),
        ),
        secondary(
            arg(
                CaseManager,
                "savePact",
                "SavePactInput",
                "Member",
                "input.commitments[0].obligatedMemberId",
                json!({
                "caseId": "$P", "version": "$PV", "commitments": [{ "description": "impegno", "obligatedMemberId": "$ID" }] }),
            ),
            "Case",
        ),
        secondary(
            arg(
                CaseManager,
                "savePact",
                "SavePactInput",
                "Member",
                "input.commitments[0].otherMemberIds[0]",
                json!({
                "caseId": "$P", "version": "$PV", "commitments": [{ "description": "impegno", "otherMemberIds": ["$ID"] }] }),
            ),
            "Case",
        ),
        arg(CaseManager, "signPact", "SignPactInput", "Case", "input.caseId", case_v(json!({ "signedOn": today }))),
        arg(CaseManager, "revisePact", "RevisePactInput", "Case", "input.caseId", case_v(json!({}))),
        arg(
            CaseManager,
            "refusePact",
            "RefusePactInput",
            "Case",
            "input.caseId",
            case_v(json!({ "factDate": today, "description": "rifiuto" })),
        ),
        arg(
            CaseManager,
            "activateSupport",
            "ActivateSupportInput",
            "Case",
            "input.caseId",
            json!({ "caseId": "$ID", "support": { "kind": "ALTRO", "provider": "Servizio" } }),
        ),
        arg(
            CaseManager,
            "planMeeting",
            "PlanMeetingInput",
            "Case",
            "input.caseId",
            json!({ "caseId": "$ID", "kind": "VERIFICA_PATTO", "startsAt": tomorrow, "place": "Sede" }),
        ),
        secondary(
            arg(
                CaseManager,
                "planMeeting",
                "PlanMeetingInput",
                "OfficeSlot",
                "input.slotId",
                json!({ "caseId": "$P", "kind": "VERIFICA_PATTO", "slotId": "$ID" }),
            ),
            "Case",
        ),
        arg(
            CaseManager,
            "convokeMeeting",
            "ConvokeMeetingInput",
            "Meeting",
            "input.meetingId",
            meeting_v(json!({ "channel": "SMS", "reference": "rif" })),
        ),
        arg(
            CaseManager,
            "rescheduleMeeting",
            "RescheduleMeetingInput",
            "Meeting",
            "input.meetingId",
            meeting_v(json!({ "startsAt": tomorrow })),
        ),
        arg(CaseManager, "cancelMeeting", "MeetingVersionInput", "Meeting", "input.meetingId", meeting_v(json!({}))),
        arg(
            CaseManager,
            "recordMeetingOutcome",
            "RecordMeetingOutcomeInput",
            "Meeting",
            "input.meetingId",
            meeting_v(json!({ "outcome": "HELD" })),
        ),
        arg(
            CaseManager,
            "proposePucAssignment",
            "ProposePucAssignmentInput",
            "PucProject",
            "input.projectId",
            json!({ "projectId": "$ID", "memberId": "$RANDOM:Member", "source": "COMUNE" }),
        ),
        secondary(
            arg(
                CaseManager,
                "proposePucAssignment",
                "ProposePucAssignmentInput",
                "Member",
                "input.memberId",
                json!({ "projectId": "$P", "memberId": "$ID", "source": "COMUNE" }),
            ),
            "PucProject",
        ),
        arg(
            PaisCoordinator,
            "assignCases",
            "AssignCasesInput",
            "Case",
            "input.cases[0].id",
            json!({ "cases": [{ "id": "$ID", "version": "$V" }], "caseManagerId": "$RANDOM:Operator" }),
        ),
        secondary(
            arg(
                PaisCoordinator,
                "assignCases",
                "AssignCasesInput",
                "Operator",
                "input.caseManagerId",
                json!({ "cases": [{ "id": "$P", "version": "$PV" }], "caseManagerId": "$ID" }),
            ),
            "Case",
        ),
        arg(
            CaseManager,
            "rectifyReport",
            "RectifyReportInput",
            "Report",
            "input.reportId",
            json!({ "reportId": "$ID", "version": "$V", "factDate": today, "description": "Rettifica" }),
        ),
        arg(
            PaisCoordinator,
            "decideReport",
            "DecideReportInput",
            "Report",
            "input.reportId",
            json!({ "reportId": "$ID", "version": "$V", "approve": false, "comment": "no" }),
        ),
        arg(
            MeetingRegistrar,
            "planMeeting",
            "PlanMeetingInput",
            "Case",
            "input.caseId",
            json!({ "caseId": "$ID", "kind": "CONVOCAZIONE", "startsAt": tomorrow, "place": "Sede" }),
        ),
        secondary(
            arg(
                MeetingRegistrar,
                "planMeeting",
                "PlanMeetingInput",
                "OfficeSlot",
                "input.slotId",
                json!({ "caseId": "$P", "kind": "CONVOCAZIONE", "slotId": "$ID" }),
            ),
            "Case",
        ),
        arg(
            MeetingRegistrar,
            "convokeMeeting",
            "ConvokeMeetingInput",
            "Meeting",
            "input.meetingId",
            meeting_v(json!({ "channel": "EMAIL", "reference": "rif" })),
        ),
        arg(
            MeetingRegistrar,
            "recordSpontaneousPresentation",
            "SpontaneousPresentationInput",
            "Case",
            "input.caseId",
            case_v(json!({ "heldOn": today, "place": "Sportello" })),
        ),
        arg(
            SupportActivationOfficer,
            "activateSupport",
            "ActivateSupportInput",
            "Case",
            "input.caseId",
            json!({ "caseId": "$ID", "support": { "kind": "ALTRO", "provider": "Servizio" } }),
        ),
        arg(
            PucManager,
            "updatePucProject",
            "UpdatePucProjectInput",
            "PucProject",
            "input.projectId",
            json!({ "projectId": "$ID", "version": "$V", "project": { "title": "Nuovo titolo" } }),
        ),
        arg(
            PucManager,
            "changePucProjectState",
            "ChangePucProjectStateInput",
            "PucProject",
            "input.projectId",
            json!({ "projectId": "$ID", "version": "$V", "action": "CLOSE" }),
        ),
        arg(
            PucManager,
            "proposePucAssignment",
            "ProposePucAssignmentInput",
            "PucProject",
            "input.projectId",
            json!({ "projectId": "$ID", "memberId": "$RANDOM:Member", "source": "COMUNE" }),
        ),
        proposed_beyond_reads(secondary(
            arg(
                PucManager,
                "proposePucAssignment",
                "ProposePucAssignmentInput",
                "Member",
                "input.memberId",
                json!({ "projectId": "$P", "memberId": "$ID", "source": "COMUNE" }),
            ),
            "PucProject",
        )),
        arg(
            PucManager,
            "stepPucAssignment",
            "PucAssignmentStepInput",
            "PucAssignment",
            "input.assignmentId",
            json!({ "assignmentId": "$ID", "version": "$V", "complete": true }),
        ),
        arg(
            PucManager,
            "recordPucAttendance",
            "RecordPucAttendanceInput",
            "PucAssignment",
            "input.assignmentId",
            json!({ "assignmentId": "$ID", "day": today, "minutes": 120, "status": "PRESENTE" }),
        ),
        arg(
            RegistryCheckCoordinator,
            "assignResidencyCheck",
            "AssignResidencyCheckInput",
            "ResidencyCheck",
            "input.checkId",
            json!({ "checkId": "$ID", "version": "$V", "officerId": "$RANDOM:Operator" }),
        ),
        secondary(
            arg(
                RegistryCheckCoordinator,
                "assignResidencyCheck",
                "AssignResidencyCheckInput",
                "Operator",
                "input.officerId",
                json!({ "checkId": "$P", "version": "$PV", "officerId": "$ID" }),
            ),
            "ResidencyCheck",
        ),
        arg(
            RegistryCheckOfficer,
            "recordResidencyPeriods",
            "RecordResidencyPeriodsInput",
            "ResidencyCheck",
            "input.checkId",
            json!({ "checkId": "$ID", "version": "$V", "periods": [{ "comuneIstat": "072006", "from": "2020-01-01" }] }),
        ),
        arg(
            RegistryCheckOfficer,
            "forwardResidencyCheck",
            "ForwardResidencyCheckInput",
            "ResidencyCheck",
            "input.checkId",
            json!({ "checkId": "$ID", "version": "$V" }),
        ),
        arg(
            RegistryCheckOfficer,
            "finaliseResidencyCheck",
            "FinaliseResidencyCheckInput",
            "ResidencyCheck",
            "input.checkId",
            json!({ "checkId": "$ID", "version": "$V", "outcome": "POSITIVO" }),
        ),
        arg(
            DisadvantageValidator,
            "decideDisadvantageCheck",
            "DecideDisadvantageCheckInput",
            "DisadvantageCheck",
            "input.checkId",
            json!({ "checkId": "$ID", "version": "$V", "confirmed": true }),
        ),
    ];
    // `switchProfile` takes its id as an argument, not an input object.
    out.push(Arg { input_type: "", ..arg(CaseManager, "switchProfile", "", "Profile", "profileId", json!("$ID")) });
    out
}

/// A row: its id, its version (0 for types without one) and its Ambito.
type Row = (Uuid, i32, Option<Uuid>);

async fn rows(app: &TestApp, ty: &str) -> Vec<Row> {
    let db = &app.db;
    match ty {
        "Case" => case_file::Entity::find()
            .order_by_asc(case_file::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        "Member" => {
            let households: BTreeMap<Uuid, Uuid> =
                household::Entity::find().all(db).await.unwrap().into_iter().map(|h| (h.id, h.ambito_id)).collect();
            member::Entity::find()
                .order_by_asc(member::Column::Id)
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id, 0, households.get(&r.household_id).copied()))
                .collect()
        }
        "Operator" => {
            let profiles = profile::Entity::find().all(db).await.unwrap();
            operator::Entity::find()
                .order_by_asc(operator::Column::Id)
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| {
                    let amb = profiles.iter().find(|p| p.operator_id == r.id).and_then(|p| p.ambito_id);
                    (r.id, 0, amb)
                })
                .collect()
        }
        "Profile" => profile::Entity::find()
            .order_by_asc(profile::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, 0, r.ambito_id))
            .collect(),
        "Report" => report::Entity::find()
            .order_by_asc(report::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        "Meeting" => meeting::Entity::find()
            .order_by_asc(meeting::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        "OfficeSlot" => {
            let comuni: BTreeMap<String, Uuid> = comune::Entity::find()
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.istat_code, c.ambito_id))
                .collect();
            office_slot::Entity::find()
                .order_by_asc(office_slot::Column::Id)
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id, 0, comuni.get(&r.comune_istat).copied()))
                .collect()
        }
        "PucProject" => puc_project::Entity::find()
            .order_by_asc(puc_project::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        "PucAssignment" => {
            let projects: BTreeMap<Uuid, Uuid> =
                puc_project::Entity::find().all(db).await.unwrap().into_iter().map(|p| (p.id, p.ambito_id)).collect();
            puc_assignment::Entity::find()
                .order_by_asc(puc_assignment::Column::Id)
                .all(db)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.id, r.version, projects.get(&r.project_id).copied()))
                .collect()
        }
        "ResidencyCheck" => residency_check::Entity::find()
            .order_by_asc(residency_check::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        "DisadvantageCheck" => disadvantage_check::Entity::find()
            .order_by_asc(disadvantage_check::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.version, Some(r.ambito_id)))
            .collect(),
        other => panic!("no rows for {other}"),
    }
}

/// Every table's row count and the sum of every `version` column: any insert,
/// delete or versioned update changes it.
async fn fingerprint(app: &TestApp) -> BTreeMap<String, (i64, i64)> {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT table_name AS t, EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = 'public' AND c.table_name = t.table_name AND c.column_name = 'version' AND c.data_type IN ('smallint', 'integer', 'bigint')) AS v FROM information_schema.tables t WHERE table_schema = 'public'",
        _ => "SELECT name AS t, EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'version' AND type LIKE '%INT%') AS v FROM sqlite_master m WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let tables = app.db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
    let mut out = BTreeMap::new();
    for row in tables {
        let t: String = row.try_get("", "t").unwrap();
        let versioned: bool = row.try_get("", "v").unwrap();
        // The sessions of the logged-in actors are touched by every request.
        if t == "session" {
            continue;
        }
        let versions = if versioned { "COALESCE(SUM(version), 0)" } else { "0" };
        let q = format!("SELECT COUNT(*) AS n, CAST({versions} AS BIGINT) AS s FROM \"{t}\"");
        let r = app.db.query_one_raw(Statement::from_string(backend, q)).await.unwrap().unwrap();
        out.insert(t, (r.try_get::<i64>("", "n").unwrap(), r.try_get::<i64>("", "s").unwrap()));
    }
    out
}

fn fill(v: &Value, subst: &[(&str, Value)]) -> Value {
    match v {
        Value::String(s) if s.starts_with("$RANDOM:") => json!(ids::encode(&s["$RANDOM:".len()..], Uuid::new_v4())),
        Value::String(s) => subst.iter().find(|(k, _)| k == s).map(|(_, x)| x.clone()).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, subst)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), fill(x, subst))).collect()),
        other => other.clone(),
    }
}

async fn run(app: &TestApp, token: &str, a: &Arg, id: &(Uuid, i32), primary: Option<&(Uuid, i32)>) -> Value {
    let gid = |ty: &str, u: Uuid| json!(ids::encode(ty, u));
    let mut subst = vec![("$ID", gid(a.ty, id.0)), ("$V", json!(id.1))];
    if let (Some(pty), Some(p)) = (a.primary, primary) {
        subst.push(("$P", gid(pty, p.0)));
        subst.push(("$PV", json!(p.1)));
    }
    let input = fill(&a.input, &subst);
    if a.input_type.is_empty() {
        let q = format!("mutation($i: ID!) {{ {}({}: $i) {{ __typename }} }}", a.mutation, a.field);
        return app.gql(Some(token), &q, json!({ "i": input })).await;
    }
    let q = format!("mutation($i: {}!) {{ {}(input: $i) {{ __typename }} }}", a.input_type, a.mutation);
    app.gql(Some(token), &q, json!({ "i": input })).await
}

async fn visible(app: &TestApp, token: &str, ty: &str, id: Uuid) -> bool {
    let r =
        app.gql(Some(token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": ids::encode(ty, id) })).await;
    !r["data"]["node"].is_null()
}

/// Up to one invisible row of the actor's Ambito and one of another Ambito, and
/// every visible row (in order, own Ambito first).
async fn split(
    app: &TestApp,
    token: &str,
    ty: &str,
    ambito: Option<Uuid>,
    hidden_in_ambito: bool,
) -> (Vec<(Uuid, i32)>, Vec<(Uuid, i32)>) {
    let all = rows(app, ty).await;
    let (mine, others): (Vec<Row>, Vec<Row>) = all.into_iter().partition(|r| r.2.is_some() && r.2 == ambito);
    let mut hidden = Vec::new();
    let mut shown = Vec::new();
    for (in_ambito, group) in [(true, mine), (false, others)] {
        let mut found_hidden = in_ambito && !hidden_in_ambito;
        for (id, v, _) in group {
            if visible(app, token, ty, id).await {
                if shown.len() < 40 {
                    shown.push((id, v));
                }
            } else if !found_hidden {
                hidden.push((id, v));
                found_hidden = true;
            }
            if found_hidden && shown.len() >= 40 {
                break;
            }
        }
    }
    (hidden, shown)
}

#[tokio::test]
async fn an_id_out_of_scope_in_any_mutation_answers_as_a_random_id_and_writes_nothing() {
    let app = TestApp::seeded().await;
    let mut sessions: BTreeMap<String, (String, Option<Uuid>)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut probed = 0;
    for a in table() {
        let key = format!("{:?}", a.role);
        if !sessions.contains_key(&key) {
            let (t, p, _) = app.login_role(a.role, 0).await;
            sessions.insert(key.clone(), (t, p.ambito_id));
        }
        let (token, ambito) = sessions[&key].clone();
        let what = format!("{} {} ({})", key, a.mutation, a.field);
        let (hidden, shown) = split(&app, &token, a.ty, ambito, a.hidden_in_ambito).await;
        assert!(!hidden.is_empty(), "{what}: the seed has no {} out of scope", a.ty);
        // A row of the primary type that makes the input reach the argument:
        // with a random id there, the error is about this argument.
        let primary = match a.primary {
            None => None,
            Some(pty) => {
                let (_, candidates) = split(&app, &token, pty, ambito, true).await;
                let mut chosen = None;
                for c in &candidates {
                    let r = run(&app, &token, &a, &(Uuid::new_v4(), 1), Some(c)).await;
                    if r["errors"][0]["extensions"]["field"] == a.field {
                        chosen = Some(*c);
                        break;
                    }
                }
                match chosen {
                    Some(c) => Some(c),
                    None => {
                        failures.push(format!("{what}: no visible {pty} makes the input reach the argument"));
                        continue;
                    }
                }
            }
        };
        let before = fingerprint(&app).await;
        let random = run(&app, &token, &a, &(Uuid::new_v4(), 1), primary.as_ref()).await;
        // (`switchProfile` refuses any profile but one's own with one FORBIDDEN.)
        let on_argument = if a.input_type.is_empty() {
            random["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        } else {
            random["errors"][0]["extensions"]["field"] == a.field
        };
        if !on_argument {
            failures.push(format!("{what}: a random id is not refused on the argument: {random}"));
        }
        for h in &hidden {
            let r = run(&app, &token, &a, h, primary.as_ref()).await;
            probed += 1;
            if r != random {
                failures.push(format!("{what}: out of scope {h:?} answers {r}, a random id {random}"));
            }
        }
        let after = fingerprint(&app).await;
        if before != after {
            let changed: Vec<_> =
                before.iter().filter(|(t, v)| after.get(*t) != Some(v)).map(|(t, _)| t.clone()).collect();
            failures.push(format!("{what}: refused calls changed {changed:?}"));
        }
        // The control: some row the actor sees is looked up (answers otherwise).
        let mut reached = false;
        for s in shown.iter().take(10) {
            if run(&app, &token, &a, s, primary.as_ref()).await != random {
                reached = true;
                break;
            }
        }
        if !reached {
            failures.push(format!("{what}: no visible {} answers differently from a random id", a.ty));
        }
    }
    assert!(failures.is_empty(), "{} of the table's arguments failed:\n{}", failures.len(), failures.join("\n"));
    assert!(probed >= 50, "only {probed} out-of-scope ids probed");
}
