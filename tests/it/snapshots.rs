//! Whole responses of the main mutations of the case workflow, and of their
//! errors, as snapshots (`insta`): a change to what a client receives — a
//! field, a state, an error code, a message — shows up in review as a diff of
//! `tests/it/snapshots/`. Ids, instants and days relative to today are
//! redacted; everything else is compared as is. The scene is built (no demo
//! data), so the snapshots do not move with the seed.

use chrono::Duration;
use entity::enums::Role;
use serde_json::{json, Map, Value};

use crate::helpers::{
    builders::{self, gid, today},
    TestApp,
};

/// `value` with every id, instant and date replaced by a placeholder, and the
/// request id of the extensions dropped.
fn redacted(value: &Value) -> Value {
    fn walk(key: &str, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if k == "requestId" {
                        continue;
                    }
                    out.insert(k.clone(), walk(k, x));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(key, x)).collect()),
            Value::String(_) if key == "id" || key.ends_with("Id") => json!("[id]"),
            Value::String(_) if key.ends_with("At") => json!("[instant]"),
            Value::String(_) if key.ends_with("On") || key.ends_with("Date") || key == "dueOn" => json!("[day]"),
            Value::Number(_) if key == "daysToDeadline" => json!("[days]"),
            _ => v.clone(),
        }
    }
    walk("", value)
}

struct Scene {
    app: TestApp,
    coordinator: String,
    cm: String,
    cm_id: uuid::Uuid,
    case: entity::case_file::Model,
}

async fn scene() -> Scene {
    let app = TestApp::new().await;
    let a = builders::ambito(&app.db, "LOM-MB-SNAP").await;
    let c = builders::comune(&app.db, &a, "108993", "Z983", "Comune di Prova").await;
    let coord = builders::operator("Elena", "Conti").insert(&app.db).await;
    let cp = builders::profile(&coord, Role::PaisCoordinator).ambito(&a).insert(&app.db).await;
    let cm_op = builders::operator("Marco", "Ferri").insert(&app.db).await;
    let cmp = builders::profile(&cm_op, Role::CaseManager).ambito(&a).comuni(&[&c]).insert(&app.db).await;
    let h = builders::household(&c).members(2).insert(&app.db).await;
    let case = builders::case_of(&h).insert(&app.db).await;
    let coordinator = app.login(&coord.fiscal_code, &gid("Profile", cp.id)).await;
    let cm = app.login(&cm_op.fiscal_code, &gid("Profile", cmp.id)).await;
    Scene { app, coordinator, cm, cm_id: cm_op.id, case }
}

const ASSIGN: &str = "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state version caseManager { id firstName lastName } daysToDeadline } }";
const FIRST: &str = "mutation($i: RecordFirstMeetingInput!) { recordFirstMeeting(input: $i) { id state version firstMeetingOn preliminaryAnalysis { state version } meetings { kind state place } } }";
const SAVE: &str = "mutation($i: SaveAnalysisInput!) { saveAnalysis(input: $i) { id state version preliminaryAnalysis { state version needsNotes healthNotes } } }";
const COMPLETE: &str = "mutation($i: CompleteAnalysisInput!) { completeAnalysis(input: $i) { id state version preliminaryAnalysis { state outcome } } }";
const PLAN: &str = "mutation($i: PlanMeetingInput!) { planMeeting(input: $i) { id kind state version place durationMinutes case { state } } }";

#[tokio::test]
async fn the_case_workflow_answers_as_recorded() {
    let s = scene().await;
    let case = gid("Case", s.case.id);
    let assign = |version: i64| json!({ "i": { "cases": [{ "id": case, "version": version }], "caseManagerId": gid("Operator", s.cm_id) } });

    let r = s.app.gql(Some(&s.coordinator), ASSIGN, assign(1)).await;
    insta::assert_json_snapshot!("assign_cases", redacted(&r));
    // The same assignment from the version read before it: stale.
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, assign(1)).await;
    insta::assert_json_snapshot!("assign_cases_stale", redacted(&r));
    // A case manager that does not exist (or that the coordinator may not see).
    let r = s.app.gql(Some(&s.coordinator), ASSIGN, json!({ "i": { "cases": [{ "id": case, "version": 2 }], "caseManagerId": gid("Operator", uuid::Uuid::new_v4()) } })).await;
    insta::assert_json_snapshot!("assign_cases_unknown_operator", redacted(&r));

    let at = (today() + Duration::days(3)).and_hms_opt(10, 0, 0).unwrap().and_utc();
    let plan = |place: &str| json!({ "i": { "caseId": case, "kind": "CONVOCAZIONE", "startsAt": at, "place": place, "durationMinutes": 45 } });
    let r = s.app.gql(Some(&s.cm), PLAN, plan("Sportello sociale")).await;
    insta::assert_json_snapshot!("plan_meeting", redacted(&r));
    let r = s.app.gql(Some(&s.cm), PLAN, plan("  ")).await;
    insta::assert_json_snapshot!("plan_meeting_no_place", redacted(&r));

    let held = today() - Duration::days(1);
    let r = s.app.gql(Some(&s.cm), FIRST, json!({ "i": { "caseId": case, "version": 2, "heldOn": held, "place": "Servizi sociali", "spontaneous": true } })).await;
    insta::assert_json_snapshot!("record_first_meeting", redacted(&r));
    let version = r["data"]["recordFirstMeeting"]["version"].as_i64().unwrap();
    let pa = r["data"]["recordFirstMeeting"]["preliminaryAnalysis"]["version"].as_i64().unwrap();

    let r = s.app.gql(Some(&s.cm), SAVE, json!({ "i": { "caseId": case, "version": pa, "needsNotes": "Affitto arretrato", "healthNotes": "Nota sanitaria" } })).await;
    insta::assert_json_snapshot!("save_analysis", redacted(&r));
    // The coordinator does not write the analysis.
    let r = s
        .app
        .gql(Some(&s.coordinator), SAVE, json!({ "i": { "caseId": case, "version": pa + 1, "needsNotes": "x" } }))
        .await;
    insta::assert_json_snapshot!("save_analysis_forbidden", redacted(&r));

    let complete = |outcome: &str| json!({ "i": { "caseId": case, "version": version, "outcome": outcome } });
    let r = s.app.gql(Some(&s.cm), COMPLETE, complete("NO_SUCH_OUTCOME")).await;
    insta::assert_json_snapshot!("complete_analysis_bad_outcome", redacted(&r));
    let r = s.app.gql(Some(&s.cm), COMPLETE, complete("PAIS_SEMPLIFICATO")).await;
    insta::assert_json_snapshot!("complete_analysis", redacted(&r));
    // Completing it again: the case is no longer in the analysis.
    let r = s
        .app
        .gql(
            Some(&s.cm),
            COMPLETE,
            json!({ "i": { "caseId": case, "version": version + 1, "outcome": "PAIS_SEMPLIFICATO" } }),
        )
        .await;
    insta::assert_json_snapshot!("complete_analysis_twice", redacted(&r));
}
