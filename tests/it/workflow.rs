//! The case workflow: a case walked from unassigned to the pact's definition and
//! through each branch; forbidden transitions refused with CONFLICT; every mutation
//! refused to every other role; stale versions refused; one audit event per change.

use entity::{audit_event, case_file, enums::*, profile, report};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

struct Scene {
    app: TestApp,
    coordinator: String,
    cm: String,
    cm_operator: Uuid,
    ambito: entity::ambito::Model,
    /// A Comune of the coordinator's Ambito, built for the scene.
    comune: entity::comune::Model,
    household: builders::Household,
    case: case_file::Model,
}

/// The demo data (every role logged in by `login_role`), and, built for the
/// scene in the Ambito of its coordinator: a Comune, a household of three, its
/// unassigned case, and a case manager covering the Comune.
async fn scene() -> Scene {
    let app = TestApp::seeded().await;
    let (coordinator, cp, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let ambito = entity::ambito::Entity::find_by_id(cp.ambito_id.unwrap()).one(&app.db).await.unwrap().unwrap();
    let comune = builders::comune(&app.db, &ambito, "108990", "Z990", "Borgo di Prova").await;
    let household = builders::household(&comune).members(3).insert(&app.db).await;
    let case = builders::case_of(&household).insert(&app.db).await;
    let op = builders::operator("Marco", "Ferri").insert(&app.db).await;
    let p = builders::profile(&op, Role::CaseManager).ambito(&ambito).comuni(&[&comune]).insert(&app.db).await;
    let cm = app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await;
    Scene { coordinator, cm, cm_operator: op.id, ambito, comune, household, case, app }
}

async fn case_row(app: &TestApp, id: Uuid) -> case_file::Model {
    case_file::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap()
}

const ASSIGN: &str =
    "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state version caseManager { id } } }";
const FIRST: &str = "mutation($i: RecordFirstMeetingInput!) { recordFirstMeeting(input: $i) { id state version firstMeetingOn daysToDeadline preliminaryAnalysis { id state version } meetings { kind state } } }";
const SAVE: &str = "mutation($i: SaveAnalysisInput!) { saveAnalysis(input: $i) { id version preliminaryAnalysis { state version needsNotes healthNotes } } }";
const COMPLETE: &str = "mutation($i: CompleteAnalysisInput!) { completeAnalysis(input: $i) { id state version preliminaryAnalysis { state outcome } analysisFramework { state } } }";
const REOPEN: &str =
    "mutation($i: CaseVersionInput!) { reopenAnalysis(input: $i) { id state version preliminaryAnalysis { state } } }";
const RAISE: &str = "mutation($i: RaiseReportInput!) { raiseReport(input: $i) { id state version kind } }";
const SUBMIT: &str = "mutation($i: SubmitReportInput!) { submitReport(input: $i) { id state version } }";
const DECIDE: &str = "mutation($i: DecideReportInput!) { decideReport(input: $i) { id state version decidedAt sentAt decisionComment } }";

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

fn gid(kind: &str, id: Uuid) -> String {
    ids::encode(kind, id)
}

async fn assign(s: &Scene) -> i64 {
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, json!({ "i": { "cases": [{ "id": gid("Case", s.case.id), "version": s.case.version }], "caseManagerId": gid("Operator", s.cm_operator) } })).await;
    let d = ok(&r);
    assert_eq!(d["assignCases"][0]["state"], "ASSEGNATO");
    assert_eq!(d["assignCases"][0]["caseManager"]["id"], gid("Operator", s.cm_operator));
    d["assignCases"][0]["version"].as_i64().unwrap()
}

async fn first_meeting(s: &Scene, version: i64) -> Value {
    let held = s.case.pad_date.max(gepi::calendar::today() - chrono::Duration::days(1));
    let r = s.app.gql(Some(&s.cm), FIRST, json!({ "i": { "caseId": gid("Case", s.case.id), "version": version, "heldOn": held, "place": "Servizi sociali", "spontaneous": true } })).await;
    ok(&r)["recordFirstMeeting"].clone()
}

async fn to_analysis(s: &Scene) -> (i64, i64) {
    let v = assign(s).await;
    let c = first_meeting(s, v).await;
    assert_eq!(c["state"], "AP_IN_CORSO");
    assert_eq!(c["preliminaryAnalysis"]["state"], "BOZZA");
    assert_eq!(c["meetings"][0]["kind"], "PRESENTAZIONE_SPONTANEA");
    assert!(c["daysToDeadline"].is_null(), "met: no deadline left");
    let r = s.app.gql(Some(&s.cm), SAVE, json!({ "i": { "caseId": gid("Case", s.case.id), "version": c["preliminaryAnalysis"]["version"], "needsNotes": "Affitto arretrato", "healthNotes": "Nota sanitaria" } })).await;
    let d = ok(&r);
    assert_eq!(d["saveAnalysis"]["preliminaryAnalysis"]["needsNotes"], "Affitto arretrato");
    (
        d["saveAnalysis"]["version"].as_i64().unwrap(),
        d["saveAnalysis"]["preliminaryAnalysis"]["version"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_case_walks_from_unassigned_to_the_pact_and_back() {
    let s = scene().await;
    let (case_version, _) = to_analysis(&s).await;
    let r = s.app.gql(Some(&s.cm), COMPLETE, json!({ "i": { "caseId": gid("Case", s.case.id), "version": case_version, "outcome": "PAIS_SEMPLIFICATO" } })).await;
    let d = ok(&r);
    assert_eq!(d["completeAnalysis"]["state"], "PATTO_IN_DEFINIZIONE");
    assert_eq!(d["completeAnalysis"]["preliminaryAnalysis"]["state"], "COMPLETATA");
    assert!(d["completeAnalysis"]["analysisFramework"].is_null());
    let v = d["completeAnalysis"]["version"].clone();
    // Reopen: back to the analysis.
    let r = s.app.gql(Some(&s.cm), REOPEN, json!({ "i": { "caseId": gid("Case", s.case.id), "version": v } })).await;
    assert_eq!(ok(&r)["reopenAnalysis"]["state"], "AP_IN_CORSO");
    assert_eq!(ok(&r)["reopenAnalysis"]["preliminaryAnalysis"]["state"], "BOZZA");

    // The audit trail holds one event per change, with the diff.
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.ne(AuditAction::Login))
        .filter(audit_event::Column::Action.ne(AuditAction::Read))
        .order_by_asc(audit_event::Column::Id)
        .all(&s.app.db)
        .await
        .unwrap();
    let summary: Vec<String> = events
        .iter()
        .map(|e| format!("{} {}", e.entity, serde_json::to_value(e.action).unwrap().as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        vec![
            "case_file assign",
            "meeting create",
            "case_file transition",
            "preliminary_analysis create",
            "preliminary_analysis update",
            "preliminary_analysis transition",
            "case_file transition",
            "preliminary_analysis transition",
            "case_file transition",
        ]
    );
    let assign: Value = serde_json::from_str(events[0].changes.as_deref().unwrap()).unwrap();
    assert_eq!(assign["state"], json!({ "before": "DA_ASSEGNARE", "after": "ASSEGNATO" }));
    assert_eq!(assign["case_manager_id"]["after"], json!(s.cm_operator));
    // Texts are never copied into the trail.
    let save = events[4].changes.as_deref().unwrap();
    assert!(!save.contains("Nota sanitaria") && save.contains("changed"), "{save}");
}

#[tokio::test]
async fn the_analysis_routes_complex_needs_and_referrals() {
    for (outcome, state) in [
        ("QUADRO_ANALISI", "QDA_IN_CORSO"),
        ("CPI", "INVIATO_ALTRO_SERVIZIO"),
        ("SERVIZI_SPECIALISTICI", "INVIATO_ALTRO_SERVIZIO"),
    ] {
        let s = scene().await;
        let (v, _) = to_analysis(&s).await;
        let r = s
            .app
            .gql(
                Some(&s.cm),
                COMPLETE,
                json!({ "i": { "caseId": gid("Case", s.case.id), "version": v, "outcome": outcome } }),
            )
            .await;
        let d = &ok(&r)["completeAnalysis"];
        assert_eq!(d["state"], state);
        assert_eq!(d["preliminaryAnalysis"]["outcome"], outcome);
        if outcome == "QUADRO_ANALISI" {
            assert_eq!(d["analysisFramework"]["state"], "DA_AVVIARE");
        }
    }
}

#[tokio::test]
async fn forbidden_transitions_are_conflicts_that_change_nothing() {
    let s = scene().await;
    let id = gid("Case", s.case.id);
    // The case is not assigned yet: no first meeting.
    let before = case_row(&s.app, s.case.id).await;
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            FIRST,
            json!({ "i": { "caseId": id, "version": 1, "heldOn": "2026-01-01", "place": "x" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "the coordinator does not record meetings: {r}");
    let v = assign(&s).await;
    // Completing an analysis that does not exist yet.
    let r = s.app.gql(Some(&s.cm), COMPLETE, json!({ "i": { "caseId": id, "version": v, "outcome": "CPI" } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let msg = r["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("ASSEGNATO") && msg.contains("recordFirstMeeting"),
        "names the state and the allowed actions: {msg}"
    );
    let c = first_meeting(&s, v).await;
    // A second first meeting.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            FIRST,
            json!({ "i": { "caseId": id, "version": c["version"], "heldOn": s.case.pad_date, "place": "x" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Reopening an analysis that is not complete.
    let r = s.app.gql(Some(&s.cm), REOPEN, json!({ "i": { "caseId": id, "version": c["version"] } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Completing without describing the needs is bad input.
    let r = s
        .app
        .gql(Some(&s.cm), COMPLETE, json!({ "i": { "caseId": id, "version": c["version"], "outcome": "CPI" } }))
        .await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    let after = case_row(&s.app, s.case.id).await;
    assert_eq!(after.state, CaseState::ApInCorso);
    assert_eq!(after.version, before.version + 2, "only the assignment and the first meeting changed it");
}

#[tokio::test]
async fn stale_versions_are_refused() {
    let s = scene().await;
    let id = gid("Case", s.case.id);
    let v = assign(&s).await;
    // Someone still holding version 1 reassigns: refused.
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            ASSIGN,
            json!({ "i": { "cases": [{ "id": id, "version": 1 }], "caseManagerId": gid("Operator", s.cm_operator) } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("version"));
    let c = first_meeting(&s, v).await;
    let pa_version = c["preliminaryAnalysis"]["version"].clone();
    let save = |text: &str| json!({ "i": { "caseId": id, "version": pa_version, "needsNotes": text } });
    assert!(s.app.gql(Some(&s.cm), SAVE, save("first")).await["errors"].is_null());
    // The same version again: someone else's edit would be lost.
    let r = s.app.gql(Some(&s.cm), SAVE, save("second")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let pa = entity::preliminary_analysis::Entity::find()
        .filter(entity::preliminary_analysis::Column::CaseId.eq(s.case.id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pa.needs_notes.as_deref(), Some("first"));
}

#[tokio::test]
async fn segnalazioni_are_approved_or_rejected_by_the_coordinator() {
    let s = scene().await;
    let (v, _) = to_analysis(&s).await;
    let _ = v;
    let member = s.household.members[0].clone();
    let raise = |draft: bool| json!({ "i": { "caseId": gid("Case", s.case.id), "kind": "MANCATA_PRESENTAZIONE", "factDate": s.case.pad_date, "description": "Assente senza giustificato motivo", "memberId": gid("Member", member.id), "draft": draft } });
    let r = s.app.gql(Some(&s.cm), RAISE, raise(true)).await;
    let draft = ok(&r)["raiseReport"].clone();
    assert_eq!(draft["state"], "BOZZA");
    // A draft cannot be decided.
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            DECIDE,
            json!({ "i": { "reportId": draft["id"], "version": draft["version"], "approve": true } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r =
        s.app.gql(Some(&s.cm), SUBMIT, json!({ "i": { "reportId": draft["id"], "version": draft["version"] } })).await;
    let submitted = ok(&r)["submitReport"].clone();
    assert_eq!(submitted["state"], "DA_APPROVARE");
    // The case manager cannot approve its own segnalazione.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            DECIDE,
            json!({ "i": { "reportId": submitted["id"], "version": submitted["version"], "approve": true } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": submitted["id"], "version": submitted["version"], "approve": true, "comment": "Confermato" } })).await;
    let approved = &ok(&r)["decideReport"];
    assert_eq!(approved["state"], "INVIATA");
    assert!(approved["sentAt"].is_string());
    // Deciding twice.
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": submitted["id"], "version": approved["version"], "approve": false, "comment": "no" } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");

    // Rejection needs a comment.
    let r = s.app.gql(Some(&s.cm), RAISE, raise(false)).await;
    let second = ok(&r)["raiseReport"].clone();
    assert_eq!(second["state"], "DA_APPROVARE");
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            DECIDE,
            json!({ "i": { "reportId": second["id"], "version": second["version"], "approve": false } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.comment");
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": second["id"], "version": second["version"], "approve": false, "comment": "Assenza giustificata dal certificato" } })).await;
    assert_eq!(ok(&r)["decideReport"]["state"], "RIFIUTATA");

    // A member of another household (of the same Comune) is bad input.
    let other = builders::household(&s.comune).insert(&s.app.db).await.members[0].clone();
    let mut bad = raise(false);
    bad["i"]["memberId"] = json!(gid("Member", other.id));
    let r = s.app.gql(Some(&s.cm), RAISE, bad).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.memberId", "{r}");
    let mut future = raise(false);
    future["i"]["factDate"] = json!(gepi::calendar::today() + chrono::Duration::days(3));
    let r = s.app.gql(Some(&s.cm), RAISE, future).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.factDate", "{r}");
    let n = report::Entity::find().filter(report::Column::CaseId.eq(s.case.id)).all(&s.app.db).await.unwrap().len();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn invalid_assignment_targets_change_nothing() {
    let s = scene().await;
    let id = gid("Case", s.case.id);
    // A case manager of another Ambito, an operator of this one without a
    // case-manager profile.
    let elsewhere = builders::ambito(&s.app.db, "LOM-CO-PROVA").await;
    let far = builders::comune(&s.app.db, &elsewhere, "013991", "Z991", "Lontano").await;
    let other_cm_op = builders::operator("Piero", "Gallo").insert(&s.app.db).await;
    let other_cm =
        builders::profile(&other_cm_op, Role::CaseManager).ambito(&elsewhere).comuni(&[&far]).insert(&s.app.db).await;
    let registrar_op = builders::operator("Rita", "Sala").insert(&s.app.db).await;
    let registrar = builders::profile(&registrar_op, Role::MeetingRegistrar)
        .ambito(&s.ambito)
        .comuni(&[&s.comune])
        .insert(&s.app.db)
        .await;
    let assign = |target: Uuid| json!({ "i": { "cases": [{ "id": id, "version": 1 }], "caseManagerId": gid("Operator", target) } });
    // An operator the coordinator does not see (another Ambito's) answers as a
    // random id; one it sees but who is no case manager of the Ambito, as invalid.
    let random = s.app.gql(Some(&s.coordinator), ASSIGN, assign(Uuid::new_v4())).await;
    assert_eq!(error_code(&random), Some("NOT_FOUND"), "{random}");
    assert_eq!(random["errors"][0]["extensions"]["field"], "input.caseManagerId");
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, assign(other_cm.operator_id)).await;
    assert_eq!(r, random, "out of scope answers as a random id");
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, assign(registrar.operator_id)).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.caseManagerId");
    // One case of another Ambito in the batch: nothing is assigned.
    let foreign = builders::case_of(&builders::household(&far).insert(&s.app.db).await).insert(&s.app.db).await;
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, json!({ "i": { "cases": [{ "id": id, "version": 1 }, { "id": gid("Case", foreign.id), "version": foreign.version }], "caseManagerId": gid("Operator", s.cm_operator) } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    assert_eq!(case_row(&s.app, s.case.id).await.state, CaseState::DaAssegnare);
    assert_eq!(s.app.count("audit_event WHERE action = 'assign'").await, 0);
}

#[tokio::test]
async fn every_mutation_is_refused_to_every_other_role() {
    let s = scene().await;
    let (v, pav) = to_analysis(&s).await;
    let id = gid("Case", s.case.id);
    let r = s.app.gql(Some(&s.cm), RAISE, json!({ "i": { "caseId": id, "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": s.case.pad_date, "description": "x" } })).await;
    let rep = ok(&r)["raiseReport"].clone();
    let cases = json!([{ "id": id, "version": v }]);
    let calls = [
        (
            "assignCases",
            ASSIGN,
            json!({ "i": { "cases": cases, "caseManagerId": gid("Operator", s.cm_operator) } }),
            Role::PaisCoordinator,
        ),
        (
            "recordFirstMeeting",
            FIRST,
            json!({ "i": { "caseId": id, "version": v, "heldOn": s.case.pad_date, "place": "x" } }),
            Role::CaseManager,
        ),
        ("saveAnalysis", SAVE, json!({ "i": { "caseId": id, "version": pav, "needsNotes": "x" } }), Role::CaseManager),
        (
            "completeAnalysis",
            COMPLETE,
            json!({ "i": { "caseId": id, "version": v, "outcome": "CPI" } }),
            Role::CaseManager,
        ),
        ("reopenAnalysis", REOPEN, json!({ "i": { "caseId": id, "version": v } }), Role::CaseManager),
        (
            "raiseReport",
            RAISE,
            json!({ "i": { "caseId": id, "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": s.case.pad_date, "description": "x" } }),
            Role::CaseManager,
        ),
        (
            "submitReport",
            SUBMIT,
            json!({ "i": { "reportId": rep["id"], "version": rep["version"] } }),
            Role::CaseManager,
        ),
        (
            "decideReport",
            DECIDE,
            json!({ "i": { "reportId": rep["id"], "version": rep["version"], "approve": true } }),
            Role::PaisCoordinator,
        ),
        (
            "saveFramework",
            SAVE_FW,
            json!({ "i": { "caseId": id, "version": 1, "priorities": "x" } }),
            Role::CaseManager,
        ),
        ("completeFramework", COMPLETE_FW, json!({ "i": { "caseId": id, "version": v } }), Role::CaseManager),
        ("savePact", SAVE_PACT, json!({ "i": { "caseId": id, "version": 0 } }), Role::CaseManager),
        (
            "signPact",
            SIGN_PACT,
            json!({ "i": { "caseId": id, "version": 1, "signedOn": s.case.pad_date } }),
            Role::CaseManager,
        ),
        ("revisePact", REVISE_PACT, json!({ "i": { "caseId": id, "version": 1 } }), Role::CaseManager),
        (
            "refusePact",
            REFUSE_PACT,
            json!({ "i": { "caseId": id, "version": 1, "factDate": s.case.pad_date, "description": "x" } }),
            Role::CaseManager,
        ),
        (
            "activateSupport",
            ACTIVATE,
            json!({ "i": { "caseId": id, "support": { "kind": "ALTRO", "provider": "x" } } }),
            Role::SupportActivationOfficer,
        ),
    ];
    let roles = [
        Role::MinistryAdmin,
        Role::AmbitoAdmin,
        Role::PaisCoordinator,
        Role::CaseManager,
        Role::RegistryCheckCoordinator,
        Role::RegistryCheckOfficer,
        Role::PucManager,
        Role::SupportActivationOfficer,
        Role::MeetingRegistrar,
        Role::DisadvantageValidator,
        Role::Analyst,
    ];
    let before_case = case_row(&s.app, s.case.id).await;
    let before_events = s.app.count("audit_event WHERE action <> 'login' AND action <> 'read'").await;
    let mut refused = 0;
    for role in roles {
        // Every operator of the role; for the roles that may act, only those who
        // do not own this case (other case managers, coordinators of other Ambiti).
        let n = profile::Entity::find().filter(profile::Column::Role.eq(role)).all(&s.app.db).await.unwrap().len();
        for nth in 0..n {
            let (token, p, op) = s.app.login_role(role, nth).await;
            for (name, q, vars, owner_role) in &calls {
                let same_ambito = p.ambito_id == Some(s.case.ambito_id);
                let owner = (role == Role::CaseManager
                    && op.id == s.cm_operator
                    && (*owner_role == Role::CaseManager || *name == "activateSupport"))
                    || (role == *owner_role
                        && matches!(role, Role::PaisCoordinator | Role::SupportActivationOfficer)
                        && same_ambito);
                if owner {
                    continue;
                }
                let r = s.app.gql(Some(&token), q, vars.clone()).await;
                let code = error_code(&r);
                assert!(
                    matches!(code, Some("FORBIDDEN") | Some("NOT_FOUND")),
                    "{} as {} ({nth}): {r}",
                    name,
                    role.as_str()
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 100, "{refused}");
    let after_case = case_row(&s.app, s.case.id).await;
    assert_eq!(after_case.version, before_case.version);
    assert_eq!(s.app.count("audit_event WHERE action <> 'login' AND action <> 'read'").await, before_events);
}

const SAVE_PACT: &str = "mutation($i: SavePactInput!) { savePact(input: $i) { id state version pact { id revision state version objectives { area description expectedResults { indicator dueOn } } commitments { description isConditionality obligatedMember { id } } supports { kind status } } } }";
const SIGN_PACT: &str = "mutation($i: SignPactInput!) { signPact(input: $i) { id state version pact { id revision state version signedOn nextReviewOn supports { status } } pacts { revision state } } }";
const REVISE_PACT: &str = "mutation($i: RevisePactInput!) { revisePact(input: $i) { id state pact { id revision state version objectives { description } commitments { description } } pacts { revision state } } }";
const REFUSE_PACT: &str =
    "mutation($i: RefusePactInput!) { refusePact(input: $i) { id state pact { state } reports { kind state } } }";
const SAVE_FW: &str = "mutation($i: SaveFrameworkInput!) { saveFramework(input: $i) { id state analysisFramework { state version team { fullName service } } } }";
const COMPLETE_FW: &str =
    "mutation($i: CaseVersionInput!) { completeFramework(input: $i) { id state version analysisFramework { state } } }";
const ACTIVATE: &str =
    "mutation($i: ActivateSupportInput!) { activateSupport(input: $i) { id supports { kind status } } }";

/// Walks the scene's case to PATTO_IN_DEFINIZIONE; returns the case version.
async fn to_pact(s: &Scene) -> i64 {
    let (v, _) = to_analysis(s).await;
    let r = s
        .app
        .gql(
            Some(&s.cm),
            COMPLETE,
            json!({ "i": { "caseId": gid("Case", s.case.id), "version": v, "outcome": "PAIS_SEMPLIFICATO" } }),
        )
        .await;
    ok(&r)["completeAnalysis"]["version"].as_i64().unwrap()
}

async fn applicant(s: &Scene) -> entity::member::Model {
    let m = s.household.members[0].clone();
    assert_eq!(m.relation, FamilyRelation::Richiedente);
    m
}

fn pact_content(s: &Scene, member: Uuid, version: i64) -> Value {
    json!({ "i": {
        "caseId": gid("Case", s.case.id), "version": version,
        "objectives": [{ "area": "SITUAZIONE_LAVORATIVA", "description": "Avvicinamento al lavoro",
                         "expectedResults": [{ "indicator": "Iscrizione a un corso", "dueOn": "2027-03-01" }] }],
        "commitments": [{ "description": "Frequentare il corso", "obligatedMemberId": gid("Member", member), "isConditionality": true }],
        "supports": [{ "kind": "TIROCINIO_INCLUSIONE", "provider": "Cooperativa Il Ponte" }],
        "referencePerson": "Case manager"
    } })
}

#[tokio::test]
async fn the_pact_is_drafted_signed_and_revised_as_a_new_version() {
    let s = scene().await;
    to_pact(&s).await;
    let m = applicant(&s).await;
    // Signing with no draft, and creating a draft with a stale version, are refused.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            SIGN_PACT,
            json!({ "i": { "caseId": gid("Case", s.case.id), "version": 0, "signedOn": s.case.pad_date } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = s.app.gql(Some(&s.cm), SAVE_PACT, pact_content(&s, m.id, 3)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = s.app.gql(Some(&s.cm), SAVE_PACT, pact_content(&s, m.id, 0)).await;
    let p = ok(&r)["savePact"]["pact"].clone();
    assert_eq!(p["revision"], 1);
    assert_eq!(p["state"], "BOZZA");
    assert_eq!(p["objectives"][0]["expectedResults"][0]["indicator"], "Iscrizione a un corso");
    assert_eq!(p["commitments"][0]["obligatedMember"]["id"], gid("Member", m.id));
    assert_eq!(p["supports"][0]["status"], "DA_ATTIVARE");
    // A member of another household is bad input, and changes nothing.
    let other = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.ne(s.case.household_id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let r = s.app.gql(Some(&s.cm), SAVE_PACT, pact_content(&s, other.id, p["version"].as_i64().unwrap())).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.commitments[0].obligatedMemberId", "{r}");
    // Sign.
    let signed_on = gepi::calendar::today();
    let r = s
        .app
        .gql(
            Some(&s.cm),
            SIGN_PACT,
            json!({ "i": { "caseId": gid("Case", s.case.id), "version": p["version"], "signedOn": signed_on } }),
        )
        .await;
    let c = &ok(&r)["signPact"];
    assert_eq!(c["state"], "IN_MONITORAGGIO");
    assert_eq!(c["pact"]["state"], "SOTTOSCRITTO");
    assert_eq!(c["pact"]["nextReviewOn"], json!(signed_on + chrono::Duration::days(90)));
    // Signing activates nothing by itself: each support is activated on its own.
    assert_eq!(c["pact"]["supports"][0]["status"], "DA_ATTIVARE");
    // Signing again is a conflict.
    let r = s.app.gql(Some(&s.cm), SIGN_PACT, json!({ "i": { "caseId": gid("Case", s.case.id), "version": c["pact"]["version"], "signedOn": signed_on } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Revise: a new draft with the same content; the signed one stays in force.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            REVISE_PACT,
            json!({ "i": { "caseId": gid("Case", s.case.id), "version": c["pact"]["version"] } }),
        )
        .await;
    let c = &ok(&r)["revisePact"];
    assert_eq!(c["pact"]["revision"], 2);
    assert_eq!(c["pact"]["state"], "BOZZA");
    assert_eq!(c["pact"]["objectives"][0]["description"], "Avvicinamento al lavoro");
    assert_eq!(c["pacts"], json!([{ "revision": 1, "state": "SOTTOSCRITTO" }, { "revision": 2, "state": "BOZZA" }]));
    let r = s.app.gql(Some(&s.cm), SIGN_PACT, json!({ "i": { "caseId": gid("Case", s.case.id), "version": c["pact"]["version"], "signedOn": signed_on } })).await;
    let c = &ok(&r)["signPact"];
    assert_eq!(c["pacts"], json!([{ "revision": 1, "state": "CHIUSO" }, { "revision": 2, "state": "SOTTOSCRITTO" }]));
    assert_eq!(c["state"], "IN_MONITORAGGIO");
    // Each signature reaches INPS, naming the pact and the household's application.
    let events = entity::partner_event::Entity::find()
        .filter(entity::partner_event::Column::Kind.eq(PartnerEventKind::PattoSottoscritto))
        .order_by_asc(entity::partner_event::Column::Seq)
        .all(&s.app.db)
        .await
        .unwrap();
    let pacts = entity::pact::Entity::find()
        .filter(entity::pact::Column::CaseId.eq(s.case.id))
        .order_by_asc(entity::pact::Column::Revision)
        .all(&s.app.db)
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.pact_id).collect::<Vec<_>>(),
        pacts.iter().map(|p| Some(p.id)).collect::<Vec<_>>()
    );
    assert!(events
        .iter()
        .all(|e| e.application_protocol.as_deref() == Some(s.household.application.inps_protocol.as_str())));
}

#[tokio::test]
async fn a_refusal_to_sign_closes_the_draft_and_raises_a_segnalazione() {
    let s = scene().await;
    to_pact(&s).await;
    let m = applicant(&s).await;
    let r = s.app.gql(Some(&s.cm), SAVE_PACT, pact_content(&s, m.id, 0)).await;
    let p = ok(&r)["savePact"]["pact"].clone();
    let r = s.app.gql(Some(&s.cm), REFUSE_PACT, json!({ "i": { "caseId": gid("Case", s.case.id), "version": p["version"], "factDate": gepi::calendar::today(), "description": "Il nucleo rifiuta di firmare" } })).await;
    let c = &ok(&r)["refusePact"];
    assert_eq!(c["pact"]["state"], "NON_SOTTOSCRITTO");
    assert_eq!(c["reports"], json!([{ "kind": "MANCATA_SOTTOSCRIZIONE", "state": "DA_APPROVARE" }]));
    // The coordinator sees it to approve.
    let r = s
        .app
        .gql(Some(&s.coordinator), "{ reports(first: 100) { edges { node { kind state case { id } } } } }", json!({}))
        .await;
    let mine: Vec<&Value> = ok(&r)["reports"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["case"]["id"] == gid("Case", s.case.id))
        .collect();
    assert_eq!(mine.len(), 1);
}

#[tokio::test]
async fn complex_needs_go_through_the_quadro_di_analisi_with_its_team() {
    let s = scene().await;
    let (v, _) = to_analysis(&s).await;
    let r = s
        .app
        .gql(
            Some(&s.cm),
            COMPLETE,
            json!({ "i": { "caseId": gid("Case", s.case.id), "version": v, "outcome": "QUADRO_ANALISI" } }),
        )
        .await;
    let v = ok(&r)["completeAnalysis"]["version"].clone();
    // Completing before the team exists is a conflict.
    let r =
        s.app.gql(Some(&s.cm), COMPLETE_FW, json!({ "i": { "caseId": gid("Case", s.case.id), "version": v } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = s.app.gql(Some(&s.cm), SAVE_FW, json!({ "i": { "caseId": gid("Case", s.case.id), "version": 1, "priorities": "Casa e lavoro",
        "team": [{ "fullName": "Anna Verdi", "service": "ASL", "teamRole": "Psicologa" }, { "fullName": "Marco Neri", "service": "CPI", "teamRole": "Operatore" }] } })).await;
    let fw = &ok(&r)["saveFramework"]["analysisFramework"];
    assert_eq!(fw["state"], "IN_CORSO");
    assert_eq!(fw["team"].as_array().unwrap().len(), 2);
    let r =
        s.app.gql(Some(&s.cm), COMPLETE_FW, json!({ "i": { "caseId": gid("Case", s.case.id), "version": v } })).await;
    assert_eq!(ok(&r)["completeFramework"]["state"], "PATTO_IN_DEFINIZIONE");
    assert_eq!(ok(&r)["completeFramework"]["analysisFramework"]["state"], "COMPLETATO");
}

#[tokio::test]
async fn the_referente_works_on_the_cases_not_yet_assigned_only() {
    let s = scene().await;
    let (token, p, _) = s.app.login_role(Role::SupportActivationOfficer, 0).await;
    let ambito = p.ambito_id.unwrap();
    let of_ambito =
        case_file::Entity::find().filter(case_file::Column::AmbitoId.eq(ambito)).all(&s.app.db).await.unwrap();
    let unassigned: Vec<&case_file::Model> = of_ambito.iter().filter(|c| c.case_manager_id.is_none()).collect();
    let assigned: Vec<&case_file::Model> = of_ambito.iter().filter(|c| c.case_manager_id.is_some()).collect();
    assert!(!unassigned.is_empty() && !assigned.is_empty(), "the seed has both");
    // Lists and totals: the cases with no case manager, nothing else.
    let r = s.app.gql(Some(&token), "{ cases(first: 100) { totalCount } }", json!({})).await;
    assert_eq!(ok(&r)["cases"]["totalCount"], unassigned.len(), "{r}");
    // By id: an assigned case, its household and its members are not there.
    let taken = assigned[0];
    let member = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(taken.household_id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let others_of_household =
        of_ambito.iter().filter(|c| c.household_id == taken.household_id && c.case_manager_id.is_none()).count();
    for (ty, id) in [("Case", taken.id), ("Household", taken.household_id), ("Member", member.id)] {
        if ty != "Case" && others_of_household > 0 {
            continue;
        }
        let r = s.app.gql(Some(&token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": gid(ty, id) })).await;
        assert!(r["data"]["node"].is_null(), "{ty} of an assigned case: {r}");
    }
    // Activation: on an unassigned case it works; on an assigned case of the
    // same Ambito, and on another Ambito's, it answers as a missing case.
    let input = |c: Uuid| json!({ "i": { "caseId": gid("Case", c), "support": { "kind": "SERVIZIO_SOCIALE_PROFESSIONALE", "provider": "Servizi sociali", "startsOn": "2026-11-01", "endsOn": "2027-11-01" } } });
    let mine = unassigned[0];
    let r = s.app.gql(Some(&token), ACTIVATE, input(mine.id)).await;
    let sup = ok(&r)["activateSupport"]["supports"].as_array().unwrap().clone();
    assert!(sup.iter().any(|x| x["kind"] == "SERVIZIO_SOCIALE_PROFESSIONALE" && x["status"] == "ATTIVO"), "{sup:?}");
    let supports = s.app.count("support").await;
    let random = s.app.gql(Some(&token), ACTIVATE, input(Uuid::new_v4())).await;
    assert_eq!(error_code(&random), Some("NOT_FOUND"), "{random}");
    let theirs =
        case_file::Entity::find().filter(case_file::Column::AmbitoId.ne(ambito)).one(&s.app.db).await.unwrap().unwrap();
    for c in [taken.id, theirs.id] {
        let r = s.app.gql(Some(&token), ACTIVATE, input(c)).await;
        assert_eq!(r["errors"], random["errors"], "{r}");
    }
    assert_eq!(s.app.count("support").await, supports, "nothing written");
    // Once the coordinator assigns the case, the Referente no longer sees it.
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, json!({ "i": { "cases": [{ "id": gid("Case", mine.id), "version": mine.version }], "caseManagerId": gid("Operator", s.cm_operator) } })).await;
    if mine.ambito_id == s.case.ambito_id {
        ok(&r);
        let r = s
            .app
            .gql(Some(&token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": gid("Case", mine.id) }))
            .await;
        assert!(r["data"]["node"].is_null(), "{r}");
    }
    let mut bad = input(unassigned[1].id);
    bad["i"]["support"]["endsOn"] = json!("2026-01-01");
    let r = s.app.gql(Some(&token), ACTIVATE, bad).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.support.endsOn", "{r}");
}

const SUPPORT_STATE: &str = "mutation($i: ChangeSupportStateInput!) { changeSupportState(input: $i) { id supports { id kind provider status endsOn } } }";

async fn support_events(app: &TestApp) -> Vec<Value> {
    let rows = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("support"))
        .filter(entity::audit_event::Column::Action.ne(AuditAction::Read))
        .order_by_asc(entity::audit_event::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    rows.into_iter()
        .map(
            |e| json!({ "action": e.action, "changes": e.changes.map(|c| serde_json::from_str::<Value>(&c).unwrap()) }),
        )
        .collect()
}

#[tokio::test]
async fn a_support_is_one_state_machine_activated_concluded_or_cancelled_and_audited() {
    let s = scene().await;
    let v = to_pact(&s).await;
    let m = applicant(&s).await;
    let r = s.app.gql(Some(&s.cm), SAVE_PACT, pact_content(&s, m.id, 0)).await;
    let p = ok(&r)["savePact"]["pact"].clone();
    let _ = v;
    assert_eq!(p["supports"], json!([{ "kind": "TIROCINIO_INCLUSIONE", "status": "DA_ATTIVARE" }]));
    assert!(support_events(&s.app).await.is_empty(), "planning is the pact's event");
    // Signing does not activate it.
    let r = s.app.gql(Some(&s.cm), SIGN_PACT, json!({ "i": { "caseId": gid("Case", s.case.id), "version": p["version"], "signedOn": gepi::calendar::today() } })).await;
    assert_eq!(ok(&r)["signPact"]["pact"]["supports"], json!([{ "status": "DA_ATTIVARE" }]));
    // Activating the planned kind activates that support: no second row.
    let act = json!({ "i": { "caseId": gid("Case", s.case.id), "support": { "kind": "TIROCINIO_INCLUSIONE", "provider": "Cooperativa Il Ponte", "startsOn": "2026-11-20" } } });
    let r = s.app.gql(Some(&s.cm), ACTIVATE, act.clone()).await;
    assert_eq!(ok(&r)["activateSupport"]["supports"], json!([{ "kind": "TIROCINIO_INCLUSIONE", "status": "ATTIVO" }]));
    let of_case = entity::support::Entity::find()
        .filter(entity::support::Column::CaseId.eq(s.case.id))
        .all(&s.app.db)
        .await
        .unwrap();
    assert_eq!(of_case.len(), 1, "{of_case:?}");
    assert_eq!(of_case[0].activated_by, Some(s.cm_operator));
    let events = support_events(&s.app).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "transition");
    assert_eq!(events[0]["changes"]["status"], json!({ "before": "DA_ATTIVARE", "after": "ATTIVO" }), "{events:?}");
    // The database holds one active row per case, kind and provider, whatever races.
    let mut dup = of_case[0].clone();
    dup.id = Uuid::new_v4();
    let dup: entity::support::ActiveModel = dup.into();
    let err =
        entity::support::Entity::insert(sea_orm::ActiveModelTrait::reset_all(dup)).exec(&s.app.db).await.unwrap_err();
    assert!(matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))), "{err}");
    // The same kind and provider again is a conflict, and writes nothing.
    let before = s.app.count("support").await;
    let r = s.app.gql(Some(&s.cm), ACTIVATE, act).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert_eq!(s.app.count("support").await, before);
    // Conclude it; concluding again (or cancelling a concluded one) is a conflict.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            "query($id: ID!) { node(id: $id) { ... on Case { supports { id } } } }",
            json!({ "id": gid("Case", s.case.id) }),
        )
        .await;
    let sid = ok(&r)["node"]["supports"][0]["id"].clone();
    let today = gepi::calendar::today();
    let r = s
        .app
        .gql(Some(&s.cm), SUPPORT_STATE, json!({ "i": { "supportId": sid, "action": "CONCLUDE", "on": today } }))
        .await;
    let sup = &ok(&r)["changeSupportState"]["supports"][0];
    assert_eq!(sup["status"], "CONCLUSO");
    assert_eq!(sup["endsOn"], json!(today));
    for action in ["CONCLUDE", "CANCEL"] {
        let r = s.app.gql(Some(&s.cm), SUPPORT_STATE, json!({ "i": { "supportId": sid, "action": action } })).await;
        assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains("CONCLUSO"), "{r}");
    }
    let events = support_events(&s.app).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["changes"]["status"], json!({ "before": "ATTIVO", "after": "CONCLUSO" }));
    // A new one, not planned, is recorded active; then cancelled.
    let r = s.app.gql(Some(&s.cm), ACTIVATE, json!({ "i": { "caseId": gid("Case", s.case.id), "support": { "kind": "MEDIAZIONE_FAMILIARE", "provider": "Consultorio" } } })).await;
    let sups = ok(&r)["activateSupport"]["supports"].as_array().unwrap().clone();
    assert_eq!(sups.len(), 2);
    let r = s
        .app
        .gql(
            Some(&s.cm),
            "query($id: ID!) { node(id: $id) { ... on Case { supports { id kind } } } }",
            json!({ "id": gid("Case", s.case.id) }),
        )
        .await;
    let new_id =
        ok(&r)["node"]["supports"].as_array().unwrap().iter().find(|x| x["kind"] == "MEDIAZIONE_FAMILIARE").unwrap()
            ["id"]
            .clone();
    let r = s.app.gql(Some(&s.cm), SUPPORT_STATE, json!({ "i": { "supportId": new_id, "action": "CANCEL" } })).await;
    let statuses: Vec<Value> =
        ok(&r)["changeSupportState"]["supports"].as_array().unwrap().iter().map(|x| x["status"].clone()).collect();
    assert!(statuses.contains(&json!("ANNULLATO")), "{statuses:?}");
    let events = support_events(&s.app).await;
    assert_eq!(events.len(), 4, "create, then cancel: {events:?}");
    assert_eq!(events[2]["action"], "create");
    assert_eq!(events[3]["changes"]["status"], json!({ "before": "ATTIVO", "after": "ANNULLATO" }));
    // Another case manager's support answers as a missing id.
    let other_profile = profile::Entity::find()
        .filter(profile::Column::Role.eq(Role::CaseManager))
        .filter(profile::Column::OperatorId.ne(s.cm_operator))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let other_op =
        entity::operator::Entity::find_by_id(other_profile.operator_id).one(&s.app.db).await.unwrap().unwrap();
    let other = s.app.login(&other_op.fiscal_code, &ids::encode("Profile", other_profile.id)).await;
    let r = s.app.gql(Some(&other), SUPPORT_STATE, json!({ "i": { "supportId": new_id, "action": "CANCEL" } })).await;
    let random = s
        .app
        .gql(
            Some(&other),
            SUPPORT_STATE,
            json!({ "i": { "supportId": gid("Support", Uuid::new_v4()), "action": "CANCEL" } }),
        )
        .await;
    assert_eq!(error_code(&random), Some("NOT_FOUND"), "{random}");
    assert_eq!(r["errors"], random["errors"]);
}

#[tokio::test]
async fn every_transition_the_state_machine_forbids_is_a_conflict_naming_the_state() {
    let s = scene().await;
    let v = assign(&s).await;
    let _ = v;
    let id = gid("Case", s.case.id);
    let states = [
        "DA_ASSEGNARE",
        "ASSEGNATO",
        "CONVOCATO",
        "AP_IN_CORSO",
        "QDA_IN_CORSO",
        "PATTO_IN_DEFINIZIONE",
        "INVIATO_ALTRO_SERVIZIO",
        "IN_MONITORAGGIO",
        "CHIUSO",
        "TRASFERITO",
    ];
    // (mutation, query, states from which the state machine allows it)
    let table: &[(&str, &str, &[&str])] = &[
        ("recordFirstMeeting", FIRST, &["ASSEGNATO", "CONVOCATO"]),
        ("completeAnalysis", COMPLETE, &["AP_IN_CORSO"]),
        ("reopenAnalysis", REOPEN, &["QDA_IN_CORSO", "PATTO_IN_DEFINIZIONE", "INVIATO_ALTRO_SERVIZIO"]),
        ("saveFramework", SAVE_FW, &["QDA_IN_CORSO"]),
        ("completeFramework", COMPLETE_FW, &["QDA_IN_CORSO"]),
        ("savePact", SAVE_PACT, &["PATTO_IN_DEFINIZIONE", "IN_MONITORAGGIO"]),
        ("revisePact", REVISE_PACT, &["IN_MONITORAGGIO"]),
        (
            "raiseReport",
            RAISE,
            &[
                "ASSEGNATO",
                "CONVOCATO",
                "AP_IN_CORSO",
                "QDA_IN_CORSO",
                "PATTO_IN_DEFINIZIONE",
                "INVIATO_ALTRO_SERVIZIO",
                "IN_MONITORAGGIO",
            ],
        ),
    ];
    let mut checked = 0;
    for state in states {
        // Set the state through SQL, keeping the version the client knows.
        let row = case_row(&s.app, s.case.id).await;
        let upd = match s.app.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                format!("UPDATE case_file SET state = '{state}' WHERE id = '{}'", s.case.id)
            }
            _ => format!("UPDATE case_file SET state = '{state}' WHERE id = X'{}'", s.case.id.simple()),
        };
        s.app.exec(&upd).await;
        for (name, q, allowed) in table {
            if allowed.contains(&state) {
                continue;
            }
            let input = match *name {
                "recordFirstMeeting" => {
                    json!({ "caseId": id, "version": row.version, "heldOn": s.case.pad_date, "place": "x" })
                }
                "completeAnalysis" => json!({ "caseId": id, "version": row.version, "outcome": "CPI" }),
                "saveFramework" => json!({ "caseId": id, "version": 1, "priorities": "x" }),
                "savePact" => json!({ "caseId": id, "version": 0 }),
                "raiseReport" => {
                    json!({ "caseId": id, "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": s.case.pad_date, "description": "x" })
                }
                _ => json!({ "caseId": id, "version": row.version }),
            };
            let r = s.app.gql(Some(&s.cm), q, json!({ "i": input })).await;
            assert_eq!(error_code(&r), Some("CONFLICT"), "{name} from {state}: {r}");
            let msg = r["errors"][0]["message"].as_str().unwrap();
            assert!(msg.contains(state), "{name} from {state}: the message names the state: {msg}");
            assert_eq!(case_row(&s.app, s.case.id).await.version, row.version, "{name} from {state} changed the case");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[tokio::test]
async fn a_strict_mutation_selecting_a_forbidden_field_does_not_run() {
    let s = scene().await;
    let q = "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state household { id } } }";
    let vars = json!({ "i": { "cases": [{ "id": gid("Case", s.case.id), "version": s.case.version }], "caseManagerId": gid("Operator", s.cm_operator) } });
    let r = s.app.gql_with(&s.coordinator, &[("x-gepi-strict", "true")], q, vars.clone()).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("Case.household"));
    assert_eq!(case_row(&s.app, s.case.id).await.state, CaseState::DaAssegnare, "the mutation did not run");
    // Through a fragment too; and without the forbidden field it runs.
    let q2 = "mutation($i: AssignCasesInput!) { assignCases(input: $i) { ...F } } fragment F on Case { id household { id } }";
    let r = s.app.gql_with(&s.coordinator, &[("x-gepi-strict", "true")], q2, vars.clone()).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let r = s
        .app
        .gql_with(
            &s.coordinator,
            &[("x-gepi-strict", "true")],
            "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state } }",
            vars,
        )
        .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(case_row(&s.app, s.case.id).await.state, CaseState::Assegnato);
}

#[tokio::test]
async fn a_reassigned_case_takes_its_meetings_with_it() {
    let s = scene().await;
    let v = assign(&s).await;
    let _ = v;
    let plan = "mutation($i: PlanMeetingInput!) { planMeeting(input: $i) { id version } }";
    let when = format!("{}T10:00:00Z", gepi::calendar::today() + chrono::Duration::days(5));
    let r = s.app.gql(Some(&s.cm), plan, json!({ "i": { "caseId": gid("Case", s.case.id), "kind": "CONVOCAZIONE", "startsAt": when, "place": "Sede" } })).await;
    let m = ok(&r)["planMeeting"].clone();
    // The coordinator gives the case to another case manager of the Ambito.
    let other = profile::Entity::find()
        .filter(profile::Column::Role.eq(Role::CaseManager))
        .filter(profile::Column::AmbitoId.eq(s.case.ambito_id))
        .filter(profile::Column::OperatorId.ne(s.cm_operator))
        .one(&s.app.db)
        .await
        .unwrap()
        .expect("a second case manager in the Ambito");
    let c = case_row(&s.app, s.case.id).await;
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, json!({ "i": { "cases": [{ "id": gid("Case", c.id), "version": c.version }], "caseManagerId": gid("Operator", other.operator_id) } })).await;
    ok(&r);
    // The old case manager no longer sees the meeting, nor moves it.
    let r = s.app.gql(Some(&s.cm), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": m["id"] })).await;
    assert!(r["data"]["node"].is_null(), "{r}");
    let convoke = "mutation($i: ConvokeMeetingInput!) { convokeMeeting(input: $i) { id } }";
    let input =
        |id: &Value| json!({ "i": { "meetingId": id, "version": m["version"], "channel": "SMS", "reference": "x" } });
    let r = s.app.gql(Some(&s.cm), convoke, input(&m["id"])).await;
    let random = s.app.gql(Some(&s.cm), convoke, input(&json!(gid("Meeting", Uuid::new_v4())))).await;
    assert_eq!(error_code(&random), Some("NOT_FOUND"), "{random}");
    assert_eq!(r["errors"], random["errors"], "{r}");
    // The new one has it.
    let op = entity::operator::Entity::find_by_id(other.operator_id).one(&s.app.db).await.unwrap().unwrap();
    let token = s.app.login(&op.fiscal_code, &ids::encode("Profile", other.id)).await;
    let r = s.app.gql(Some(&token), convoke, input(&m["id"])).await;
    assert_eq!(ok(&r)["convokeMeeting"]["id"], m["id"]);
}

#[tokio::test]
async fn the_analysis_sets_the_adi_pathway() {
    let s = scene().await;
    let (v, _) = to_analysis(&s).await;
    const Q: &str =
        "mutation($i: CompleteAnalysisInput!) { completeAnalysis(input: $i) { state version pathwayType } }";
    let complete = |v: i64, outcome: &str, pathway: Option<&str>| json!({ "i": { "caseId": gid("Case", s.case.id), "version": v, "outcome": outcome, "pathwayType": pathway } });
    let reopen = |v: Value| json!({ "i": { "caseId": gid("Case", s.case.id), "version": v } });
    // The applicant is bound to work activation: no option lifts the obligation.
    for p in ["OPZIONE_SFL", "OPZIONE_ATTIVAZIONE", "OBBLIGO_SOCIALE_OPZIONE_LAVORO"] {
        let r = s.app.gql(Some(&s.cm), Q, complete(v, "PAIS_SEMPLIFICATO", Some(p))).await;
        assert_eq!(error_code(&r), Some("VALIDATION"), "{p}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "input.pathwayType");
    }
    let c = case_row(&s.app, s.case.id).await;
    assert_eq!((c.state, c.version as i64, c.pathway_type), (CaseState::ApInCorso, v, None), "nothing changed");
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "PAIS_SEMPLIFICATO", None)).await;
    let d = &ok(&r)["completeAnalysis"];
    assert_eq!(d["pathwayType"], "OBBLIGO_ATTIVAZIONE");
    assert_eq!(case_row(&s.app, s.case.id).await.pathway_type, Some(PathwayType::ObbligoAttivazione));
    let r = s.app.gql(Some(&s.cm), REOPEN, reopen(d["version"].clone())).await;
    let v = ok(&r)["reopenAnalysis"]["version"].as_i64().unwrap();
    // Nobody bound to work: the social obligation by default, or the option named.
    let bound = s.household.members[0].id;
    let sql = match s.app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!("UPDATE member SET obligated_activation = false WHERE id = '{bound}'"),
        _ => format!("UPDATE member SET obligated_activation = 0 WHERE id = X'{}'", bound.simple()),
    };
    s.app.exec(&sql).await;
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "CPI", Some("OBBLIGO_ATTIVAZIONE"))).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.pathwayType", "{r}");
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "CPI", Some("OPZIONE_SFL"))).await;
    let d = &ok(&r)["completeAnalysis"];
    assert_eq!((d["state"].as_str(), d["pathwayType"].as_str()), (Some("INVIATO_ALTRO_SERVIZIO"), Some("OPZIONE_SFL")));
    let r = s.app.gql(Some(&s.cm), REOPEN, reopen(d["version"].clone())).await;
    let v = ok(&r)["reopenAnalysis"]["version"].as_i64().unwrap();
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "QUADRO_ANALISI", None)).await;
    assert_eq!(ok(&r)["completeAnalysis"]["pathwayType"], "OBBLIGO_SOCIALE_OPZIONE_LAVORO");
    // No pathway: none is set, and none may be named.
    let v = ok(&r)["completeAnalysis"]["version"].clone();
    let r = s.app.gql(Some(&s.cm), REOPEN, reopen(v)).await;
    let v = ok(&r)["reopenAnalysis"]["version"].as_i64().unwrap();
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "NESSUN_PERCORSO", Some("OPZIONE_SFL"))).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.pathwayType", "{r}");
    let r = s.app.gql(Some(&s.cm), Q, complete(v, "NESSUN_PERCORSO", None)).await;
    assert!(ok(&r)["completeAnalysis"]["pathwayType"].is_null());
    assert_eq!(case_row(&s.app, s.case.id).await.pathway_type, None);
}

#[tokio::test]
async fn the_coordinator_lists_one_case_managers_workload() {
    let app = TestApp::seeded().await;
    let (coordinator, cp, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let ambito = cp.ambito_id.unwrap();
    // The case manager with the most cases in the Ambito.
    let cases = case_file::Entity::find().filter(case_file::Column::AmbitoId.eq(ambito)).all(&app.db).await.unwrap();
    let mut load: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
    for c in &cases {
        if let Some(m) = c.case_manager_id {
            load.entry(m).or_default().push(c.id);
        }
    }
    let (cm, mut expected) = load.into_iter().max_by_key(|(_, v)| v.len()).expect("assigned cases in the demo");
    assert!(expected.len() > 1);
    const Q: &str = "query($f: CaseFilter, $after: String) { cases(first: 100, filter: $f, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id caseManager { id } } } } }";
    let mut got = Vec::new();
    let mut after = Value::Null;
    loop {
        let r = app
            .gql(Some(&coordinator), Q, json!({ "f": { "caseManagerId": gid("Operator", cm) }, "after": after }))
            .await;
        let d = &ok(&r)["cases"];
        assert_eq!(d["totalCount"].as_u64().unwrap() as usize, expected.len());
        for e in d["edges"].as_array().unwrap() {
            assert_eq!(e["node"]["caseManager"]["id"], gid("Operator", cm));
            got.push(Uuid::parse_str(&ids::decode("id", e["node"]["id"].as_str().unwrap()).unwrap().1).unwrap());
        }
        if d["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = d["pageInfo"]["endCursor"].clone();
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    // With the unassigned filter: the cases without an owner, none of them.
    let r = app
        .gql(Some(&coordinator), Q, json!({ "f": { "caseManagerId": gid("Operator", cm), "unassigned": true } }))
        .await;
    assert_eq!(ok(&r)["cases"]["totalCount"], 0);
    let r = app.gql(Some(&coordinator), Q, json!({ "f": { "unassigned": true } })).await;
    let unassigned = cases.iter().filter(|c| c.case_manager_id.is_none()).count();
    assert_eq!(ok(&r)["cases"]["totalCount"].as_u64().unwrap() as usize, unassigned);
    // Not an operator's id: bad input.
    let r = app.gql(Some(&coordinator), Q, json!({ "f": { "caseManagerId": gid("Case", cm) } })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "filter.caseManagerId");
}

#[tokio::test]
async fn a_case_closed_without_a_meeting_is_not_overdue() {
    let s = scene().await;
    let op = builders::operator("Paolo", "Conti").insert(&s.app.db).await;
    let closed = builders::case_of(&builders::household(&s.comune).insert(&s.app.db).await)
        .state(CaseState::Chiuso)
        .manager(&op)
        .insert(&s.app.db)
        .await;
    let open = builders::case_of(&builders::household(&s.comune).insert(&s.app.db).await).insert(&s.app.db).await;
    // Both signed their PAD 200 days ago, neither was met.
    let old = gepi::calendar::today() - chrono::Duration::days(200);
    for id in [closed.id, open.id] {
        let sql = match s.app.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                format!("UPDATE case_file SET pad_date = '{old}', first_meeting_on = NULL, last_meeting_on = NULL WHERE id = '{id}'")
            }
            _ => format!(
                "UPDATE case_file SET pad_date = '{old}', first_meeting_on = NULL, last_meeting_on = NULL WHERE id = X'{}'",
                id.simple()
            ),
        };
        s.app.exec(&sql).await;
    }
    let q = "query($f: CaseFilter) { cases(first: 100, filter: $f) { edges { node { id state overdue daysToDeadline } } } }";
    let r = s.app.gql(Some(&s.coordinator), q, json!({ "f": { "comune": s.comune.istat_code } })).await;
    let nodes: Vec<Value> = ok(&r)["cases"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
    let node = |id: Uuid| nodes.iter().find(|n| n["id"] == gid("Case", id)).unwrap().clone();
    assert_eq!((node(open.id)["overdue"].as_bool(), node(open.id)["daysToDeadline"].as_i64()), (Some(true), Some(-80)));
    assert_eq!(node(closed.id)["overdue"], false, "closed: its deadline no longer runs");
    assert!(node(closed.id)["daysToDeadline"].is_null());
    for (overdue, has_open, has_closed) in [(true, true, false), (false, false, true)] {
        let r = s
            .app
            .gql(Some(&s.coordinator), q, json!({ "f": { "comune": s.comune.istat_code, "overdue": overdue } }))
            .await;
        let text = ok(&r).to_string();
        assert_eq!(text.contains(&gid("Case", open.id)), has_open, "overdue: {overdue}: {text}");
        assert_eq!(text.contains(&gid("Case", closed.id)), has_closed, "overdue: {overdue}: {text}");
    }
}
