//! PUC: projects through their states, the catalogue's vacancies, the guards on
//! proposals (vacancy per source, one active assignment, residual benefit ≥
//! minimum duration), assignments to the end, attendance and its totals.

use chrono::Duration;
use entity::{case_file, enums::*, member, profile_comune};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::{builders, error_code, TestApp};

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

const CREATE: &str = "mutation($i: CreatePucProjectInput!) { createPucProject(input: $i) { id state version vacancies { comune cpi volunteer total } } }";
const STATE: &str = "mutation($i: ChangePucProjectStateInput!) { changePucProjectState(input: $i) { id state version vacancies { comune cpi total } } }";
const UPDATE: &str =
    "mutation($i: UpdatePucProjectInput!) { updatePucProject(input: $i) { id state version placesComune } }";
const PROPOSE: &str = "mutation($i: ProposePucAssignmentInput!) { proposePucAssignment(input: $i) { id state version source project { state vacancies { comune cpi total } } } }";
const STEP: &str = "mutation($i: PucAssignmentStepInput!) { stepPucAssignment(input: $i) { id state version startsOn plannedEndOn inailRef } }";
const ATTEND: &str = "mutation($i: RecordPucAttendanceInput!) { recordPucAttendance(input: $i) { id totalMinutes attendance { day minutes status } } }";

async fn set_residual(app: &TestApp, m: uuid::Uuid, months: i32) {
    let sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            format!("UPDATE member SET residual_benefit_months = {months} WHERE id = '{m}'")
        }
        _ => format!("UPDATE member SET residual_benefit_months = {months} WHERE id = X'{}'", m.simple()),
    };
    app.exec(&sql).await;
}

#[tokio::test]
async fn a_project_fills_up_and_its_assignments_run_to_the_end() {
    let app = TestApp::seeded().await;
    let (pm, p, _) = app.login_role(Role::PucManager, 0).await;
    let comune = profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(p.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .comune_istat;
    let today = gepi::calendar::today();
    let project = |places: i32, min: i32| {
        json!({ "i": { "comuneIstat": comune, "project": {
        "title": "Cura del verde", "field": "AMBIENTALE", "description": "Parchi", "hostBody": "Comune", "site": "Parco",
        "schedule": "lun e gio 9-13", "weeklyHours": 8, "placesComune": places, "placesCpi": 1, "placesVolunteer": 0,
        "startsOn": today - Duration::days(10), "endsOn": today + Duration::days(300), "minDurationMonths": min } } })
    };
    // Bad input: weekly hours out of 8-16, no places.
    let mut bad = project(1, 3);
    bad["i"]["project"]["weeklyHours"] = json!(20);
    let r = app.gql(Some(&pm), CREATE, bad).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.project.weeklyHours", "{r}");
    let mine: Vec<String> = profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(p.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.comune_istat)
        .collect();
    let foreign = entity::comune::Entity::find()
        .filter(entity::comune::Column::IstatCode.is_not_in(mine))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut other = project(1, 3);
    other["i"]["comuneIstat"] = json!(foreign.istat_code);
    let r = app.gql(Some(&pm), CREATE, other).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "not one of its Comuni: {r}");
    let r = app.gql(Some(&pm), CREATE, project(1, 3)).await;
    let pr = ok(&r)["createPucProject"].clone();
    assert_eq!(pr["state"], "BOZZA");
    assert_eq!(pr["vacancies"], json!({ "comune": 1, "cpi": 1, "volunteer": 0, "total": 2 }));
    let pid = pr["id"].clone();
    // A draft takes no proposals.
    let obligated = member::Entity::find()
        .filter(member::Column::ResidenceComuneIstat.eq(comune.clone()))
        .filter(member::Column::ObligatedActivation.eq(true))
        .order_by_asc(member::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let free: Vec<&member::Model> = {
        let busy: Vec<uuid::Uuid> = entity::puc_assignment::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.member_id)
            .collect();
        obligated.iter().filter(|m| !busy.contains(&m.id)).collect()
    };
    assert!(free.len() >= 3, "the seed has obligated members without assignments");
    for m in &free[..3] {
        set_residual(&app, m.id, 12).await;
    }
    let propose = |m: &member::Model, source: &str| json!({ "i": { "projectId": pid, "memberId": ids::encode("Member", m.id), "source": source } });
    let r = app.gql(Some(&pm), PROPOSE, propose(free[0], "COMUNE")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = app
        .gql(Some(&pm), STATE, json!({ "i": { "projectId": pid, "version": pr["version"], "action": "PUBLISH" } }))
        .await;
    assert_eq!(ok(&r)["changePucProjectState"]["state"], "ATTIVO");
    // Residual benefit shorter than the minimum duration.
    set_residual(&app, free[2].id, 2).await;
    let r = app.gql(Some(&pm), PROPOSE, propose(free[2], "COMUNE")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("residual benefit"));
    // A proposal per source until the places run out.
    let r = app.gql(Some(&pm), PROPOSE, propose(free[0], "COMUNE")).await;
    let a0 = ok(&r)["proposePucAssignment"].clone();
    assert_eq!(a0["state"], "PROPOSTO");
    assert_eq!(a0["project"]["vacancies"]["comune"], 0);
    let r = app.gql(Some(&pm), PROPOSE, propose(free[1], "COMUNE")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "no vacancy for COMUNE: {r}");
    // The same member again, on the CPI place: already has an active assignment.
    let r = app.gql(Some(&pm), PROPOSE, propose(free[0], "CPI")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = app.gql(Some(&pm), PROPOSE, propose(free[1], "CPI")).await;
    let a1 = ok(&r)["proposePucAssignment"].clone();
    assert_eq!(a1["project"]["state"], "COMPLETO", "no places left");
    // Places cannot go below the assignments.
    let r = app
        .gql(Some(&pm), UPDATE, json!({ "i": { "projectId": pid, "version": 2, "project": { "placesComune": 0 } } }))
        .await;
    assert!(matches!(error_code(&r), Some("VALIDATION") | Some("CONFLICT")), "{r}");
    // Start, attendance, complete.
    let r = app.gql(Some(&pm), STEP, json!({ "i": { "assignmentId": a0["id"], "version": a0["version"], "startOn": today - Duration::days(7), "inailRef": "INAIL-1" } })).await;
    let s = ok(&r)["stepPucAssignment"].clone();
    assert_eq!(s["state"], "ATTIVO");
    assert!(s["plannedEndOn"].is_string());
    for (d, minutes, status) in [(6, 240, "PRESENTE"), (3, 180, "PRESENTE"), (2, 0, "ASSENTE_GIUSTIFICATO")] {
        let r = app.gql(Some(&pm), ATTEND, json!({ "i": { "assignmentId": a0["id"], "day": today - Duration::days(d), "minutes": minutes, "status": status } })).await;
        assert!(r["errors"].is_null(), "{r}");
    }
    // Correcting a day replaces it.
    let r = app.gql(Some(&pm), ATTEND, json!({ "i": { "assignmentId": a0["id"], "day": today - Duration::days(3), "minutes": 120, "status": "PRESENTE" } })).await;
    assert_eq!(ok(&r)["recordPucAttendance"]["totalMinutes"], 360);
    assert_eq!(ok(&r)["recordPucAttendance"]["attendance"].as_array().unwrap().len(), 3);
    let r = app.gql(Some(&pm), ATTEND, json!({ "i": { "assignmentId": a0["id"], "day": today + Duration::days(1), "minutes": 60, "status": "PRESENTE" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.day", "{r}");
    // A week in, short of the minimum duration: completing it is refused (an
    // assignment that ends early is interrupted, with its reason).
    let r = app
        .gql(Some(&pm), STEP, json!({ "i": { "assignmentId": a0["id"], "version": s["version"], "complete": true } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let msg = r["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("planned end") && msg.contains(s["plannedEndOn"].as_str().unwrap()), "{msg}");
    let (_, key) = ids::decode("id", a0["id"].as_str().unwrap()).unwrap();
    let key = uuid::Uuid::parse_str(&key).unwrap();
    let row = entity::puc_assignment::Entity::find_by_id(key).one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.version as i64),
        (PucAssignmentState::Attivo, s["version"].as_i64().unwrap()),
        "nothing changed"
    );
    // Once the planned end is reached it completes.
    let today_sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            format!("UPDATE puc_assignment SET planned_end_on = '{today}' WHERE id = '{key}'")
        }
        _ => format!("UPDATE puc_assignment SET planned_end_on = '{today}' WHERE id = X'{}'", key.simple()),
    };
    app.exec(&today_sql).await;
    let r = app
        .gql(Some(&pm), STEP, json!({ "i": { "assignmentId": a0["id"], "version": s["version"], "complete": true } }))
        .await;
    assert_eq!(ok(&r)["stepPucAssignment"]["state"], "COMPLETATO");
    // The freed place reopens the project; an interruption raises a segnalazione draft.
    let r = app.gql(Some(&pm), STEP, json!({ "i": { "assignmentId": a1["id"], "version": a1["version"], "interrupt": "RINUNCIA", "raiseReport": true } })).await;
    assert_eq!(ok(&r)["stepPucAssignment"]["state"], "INTERROTTO");
    // INPS collects every start and end; the CPI those of CPI places (a1).
    {
        use entity::{enums::PartnerAudience::*, enums::PartnerEventKind::*, partner_event};
        let id = |v: &Value| uuid::Uuid::parse_str(&ids::decode("id", v["id"].as_str().unwrap()).unwrap().1).unwrap();
        let events = partner_event::Entity::find()
            .filter(partner_event::Column::PucAssignmentId.is_in([id(&a0), id(&a1)]))
            .order_by_asc(partner_event::Column::Seq)
            .all(&app.db)
            .await
            .unwrap();
        let got: Vec<_> = events.iter().map(|e| (e.kind, e.audience, e.puc_assignment_id.unwrap())).collect();
        assert_eq!(
            got,
            [
                (PucAvviato, Inps, id(&a0)),
                (PucConcluso, Inps, id(&a0)),
                (PucInterrotto, Inps, id(&a1)),
                (PucInterrotto, Cpi, id(&a1)),
            ]
        );
        assert!(events.iter().all(|e| e.fiscal_code.is_some()));
        assert!(
            events.iter().all(|e| e.application_protocol.is_some() == (e.audience == Inps)),
            "INPS's protocol to INPS only"
        );
    }
    let reports = entity::report::Entity::find()
        .filter(entity::report::Column::Kind.eq(ReportKind::RifiutoPuc))
        .all(&app.db)
        .await
        .unwrap();
    assert!(reports.iter().any(|r| r.state == ReportState::Bozza && r.member_id == Some(free[1].id)));
    let r = app
        .gql(Some(&pm), "query($id: ID!) { pucProject(id: $id) { state vacancies { total } } }", json!({ "id": pid }))
        .await;
    assert_eq!(ok(&r)["pucProject"]["state"], "ATTIVO");
    assert_eq!(ok(&r)["pucProject"]["vacancies"]["total"], 2);
}

#[tokio::test]
async fn case_managers_propose_only_their_own_members_and_read_the_catalogue() {
    let app = TestApp::seeded().await;
    let (cm, _, op) = app.login_role(Role::CaseManager, 0).await;
    let own = case_file::Entity::find().filter(case_file::Column::CaseManagerId.eq(op.id)).all(&app.db).await.unwrap();
    let others = case_file::Entity::find()
        .filter(case_file::Column::CaseManagerId.ne(op.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    // A project of the Ambito with places.
    let r = app.gql(Some(&cm), "{ pucProjects(first: 100, filter: { state: [ATTIVO] }) { edges { node { id minDurationMonths tutor assignments { id } vacancies { comune total } } } } }", json!({})).await;
    let edges = ok(&r)["pucProjects"]["edges"].as_array().unwrap().clone();
    assert!(!edges.is_empty());
    for e in &edges {
        assert!(e["node"]["assignments"].is_null(), "a case manager does not see other beneficiaries");
        assert!(e["node"]["tutor"].is_null());
    }
    let project = edges
        .iter()
        .find(|e| e["node"]["vacancies"]["comune"].as_i64().unwrap() > 0)
        .expect("a project with a free place")["node"]
        .clone();
    let other_member = member::Entity::find()
        .filter(member::Column::HouseholdId.eq(others.household_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let r = app.gql(Some(&cm), PROPOSE, json!({ "i": { "projectId": project["id"], "memberId": ids::encode("Member", other_member.id), "source": "COMUNE" } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let busy: Vec<uuid::Uuid> =
        entity::puc_assignment::Entity::find().all(&app.db).await.unwrap().into_iter().map(|a| a.member_id).collect();
    let mine = {
        let mut found = None;
        for c in &own {
            if let Some(m) = member::Entity::find()
                .filter(member::Column::HouseholdId.eq(c.household_id))
                .all(&app.db)
                .await
                .unwrap()
                .into_iter()
                .find(|m| !busy.contains(&m.id))
            {
                found = Some(m);
                break;
            }
        }
        found.expect("a member of an own case without assignments")
    };
    set_residual(&app, mine.id, 18).await;
    let r = app.gql(Some(&cm), PROPOSE, json!({ "i": { "projectId": project["id"], "memberId": ids::encode("Member", mine.id), "source": "COMUNE" } })).await;
    assert_eq!(ok(&r)["proposePucAssignment"]["state"], "PROPOSTO");
    // Only the Responsabile PUC runs the assignment.
    let id = ok(&r)["proposePucAssignment"]["id"].clone();
    let r = app.gql(Some(&cm), STEP, json!({ "i": { "assignmentId": id, "version": 1, "complete": true } })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    // Other roles cannot create projects.
    for role in [Role::CaseManager, Role::PaisCoordinator, Role::MeetingRegistrar, Role::Analyst] {
        let (t, _, _) = app.login_role(role, 0).await;
        let r =
            app.gql(Some(&t), CREATE, json!({ "i": { "comuneIstat": "108023", "project": { "title": "x" } } })).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "{}: {r}", role.as_str());
    }
}

/// A proposal names a person: one the proposer may not propose answers exactly
/// as an id that does not exist (same code, same message), before any other
/// rule, and writes nothing. It used to be accepted (and the answer carried
/// the person's data) or refused with their residual benefit or assignments.
#[tokio::test]
async fn proposing_a_member_out_of_scope_answers_as_a_missing_id_and_changes_nothing() {
    let app = TestApp::new().await;
    let a = builders::ambito(&app.db, "LOM-MB-PROVA").await;
    let mine = builders::comune(&app.db, &a, "108995", "Z986", "Progetto di Prova").await;
    let other = builders::comune(&app.db, &a, "108996", "Z987", "Altrove di Prova").await;
    let op = builders::operator("Carlo", "Villa").insert(&app.db).await;
    let p = builders::profile(&op, Role::PucManager).ambito(&a).comuni(&[&mine]).insert(&app.db).await;
    let pm = app.login(&op.fiscal_code, &builders::gid("Profile", p.id)).await;
    let today = gepi::calendar::today();
    let r = app.gql(Some(&pm), CREATE, json!({ "i": { "comuneIstat": mine.istat_code, "project": {
        "title": "Biblioteca", "field": "CULTURALE", "description": "Prestiti", "hostBody": "Comune", "site": "Biblioteca",
        "schedule": "mar e ven 9-13", "weeklyHours": 8, "placesComune": 5, "placesCpi": 5, "placesVolunteer": 0,
        "startsOn": today - Duration::days(10), "endsOn": today + Duration::days(300), "minDurationMonths": 1 } } })).await;
    let pr = ok(&r)["createPucProject"].clone();
    let r = app
        .gql(Some(&pm), STATE, json!({ "i": { "projectId": pr["id"], "version": pr["version"], "action": "PUBLISH" } }))
        .await;
    assert_eq!(ok(&r)["changePucProjectState"]["state"], "ATTIVO");
    // Members of a household whose case is in another Comune: out of scope, with
    // a residual benefit long enough that nothing else would refuse them.
    let cm = builders::operator("Marco", "Ferri").insert(&app.db).await;
    builders::profile(&cm, Role::CaseManager).ambito(&a).comuni(&[&other]).insert(&app.db).await;
    let outsiders = builders::household(&other).residual_months(24).insert(&app.db).await;
    builders::case_of(&outsiders).state(CaseState::Assegnato).manager(&cm).insert(&app.db).await;
    let mut probe: Vec<uuid::Uuid> = outsiders.members.iter().map(|m| m.id).collect();
    // One already busy with an assignment elsewhere: that must not show either.
    let busy = builders::household(&other).residual_months(24).insert(&app.db).await;
    let busy_case = builders::case_of(&busy).state(CaseState::Assegnato).manager(&cm).insert(&app.db).await;
    let elsewhere = builders::puc_project(&other).insert(&app.db).await;
    builders::puc_assignment(&app.db, &elsewhere, &busy, 0, &busy_case).await;
    probe.push(busy.members[0].id);
    let propose =
        |member_id: String| json!({ "i": { "projectId": pr["id"], "memberId": member_id, "source": "COMUNE" } });
    let assignments = app.count("puc_assignment").await;
    let audits = app.count("audit_event").await;
    let missing = app.gql(Some(&pm), PROPOSE, propose(ids::encode("Member", uuid::Uuid::new_v4()))).await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"), "{missing}");
    for id in probe {
        let r = app.gql(Some(&pm), PROPOSE, propose(ids::encode("Member", id))).await;
        assert_eq!(r["errors"], missing["errors"], "out of scope answers exactly as a missing id");
        assert!(r["data"].is_null() || r["data"]["proposePucAssignment"].is_null(), "{r}");
    }
    assert_eq!(app.count("puc_assignment").await, assignments, "nothing written");
    assert_eq!(app.count("audit_event").await, audits, "nothing audited");
}
