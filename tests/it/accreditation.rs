//! Accreditation (issue 12): a fresh database walked from the command-line
//! bootstrap to a case manager working a case, every step after the first
//! Ministry administrator done through the API by the role the platform names;
//! revocation ends a live session; bad input is refused with its code and field
//! and writes nothing; the database keeps the administrator rules on its own.

use chrono::{Duration, NaiveDate};
use entity::enums::{ApplicationStatus, CaseState, Measure, Role};
use gepi::households::model::CodiceFiscale;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

fn today() -> NaiveDate {
    gepi::calendar::today()
}

fn cf(last: &str, first: &str, year: i32, female: bool) -> String {
    CodiceFiscale::compute(last, first, NaiveDate::from_ymd_opt(year, 3, 14).unwrap(), female, "F704").to_string()
}

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

fn err(r: &Value) -> (String, String) {
    assert!(r["data"].is_null() || r["errors"].is_array(), "{r}");
    let e = &r["errors"][0];
    (
        e["extensions"]["code"].as_str().unwrap_or_default().to_string(),
        e["extensions"]["field"].as_str().unwrap_or_default().to_string(),
    )
}

/// Runs the `gepi` binary against the test database; returns stdout.
fn gepi(app: &TestApp, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
        .args(args)
        .env("GEPI_DATABASE_URL", &app.url)
        .env_remove("GEPI_CONFIG")
        .output()
        .expect("run gepi");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

const TERRITORY: &str = "ambito_code;ambito_name;region;istat_code;belfiore_code;comune_name;province
LOM-MB-DESIO;Ambito di Desio;Lombardia;108023;D286;Desio;MB
LOM-MB-DESIO;Ambito di Desio;Lombardia;108045;L677;Varedo;MB
PUG-BA-BARI;Ambito di Bari;Puglia;072006;A662;Bari;BA
";

const DESIGNATE: &str = "mutation($i: DesignateAmbitoAdminInput!) { designateAmbitoAdmin(input: $i) { id role status version operator { id status version fiscalCode } comuni { istatCode } } }";
const ADD: &str = "mutation($i: AddOperatorInput!) { addOperator(input: $i) { id status version fiscalCode email } }";
const ACCREDIT: &str = "mutation($i: AccreditProfileInput!) { accreditProfile(input: $i) { id role status version fundingSources validFrom validTo comuni { istatCode } operator { id status version } } }";
const CHANGE: &str = "mutation($i: ChangeProfileStatusInput!) { changeProfileStatus(input: $i) { profile { id status version } orphanedWork { cases residencyChecks pucProjects } } }";

/// A fresh installation: territory and the first Ministry administrator from
/// the command line; returns the Ministry's token.
async fn bootstrap(app: &TestApp) -> String {
    let file = std::env::temp_dir().join(format!("gepi-territory-{}.csv", Uuid::new_v4().simple()));
    std::fs::write(&file, TERRITORY).unwrap();
    let out = gepi(app, &["territory", "import", "--file", file.to_str().unwrap()]).expect("territory import");
    std::fs::remove_file(&file).ok();
    assert_eq!(out, "imported 2 Ambiti and 3 Comuni");
    let minister = cf("Verdi", "Paola", 1970, true);
    gepi(
        app,
        &[
            "operators",
            "add",
            "--fiscal-code",
            &minister,
            "--first-name",
            "Paola",
            "--last-name",
            "Verdi",
            "--email",
            "p.verdi@lavoro.gov.it",
        ],
    )
    .expect("operators add");
    // The command line grants only ministry_admin.
    let refused =
        gepi(app, &["operators", "accredit", "--fiscal-code", &minister, "--role", "case_manager"]).unwrap_err();
    assert!(refused.contains("VALIDATION, --role"), "{refused}");
    let profile_id = gepi(app, &["operators", "accredit", "--fiscal-code", &minister, "--role", "ministry_admin"])
        .expect("accredit");
    app.login(&minister, &profile_id).await
}

async fn ambito_id(app: &TestApp, token: &str, code: &str) -> String {
    let r = app.gql(Some(token), "{ ambiti(first: 10) { nodes { id code } } }", json!({})).await;
    ok(&r)["ambiti"]["nodes"].as_array().unwrap().iter().find(|a| a["code"] == code).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn person(cf: &str, first: &str, last: &str) -> Value {
    json!({ "fiscalCode": cf, "firstName": first, "lastName": last, "email": format!("{}@comune.desio.mb.it", first.to_lowercase()), "phone": "+39 0362 3921" })
}

/// A case as the INPS feed brings it (issue 16 builds the feed): a household
/// of Desio with an ADI application and a case to assign.
async fn incoming_case(app: &TestApp, ambito: Uuid) -> entity::case_file::Model {
    let now = chrono::Utc::now();
    let household = entity::household::Model {
        id: Uuid::now_v7(),
        inps_protocol: "INPS-ADI-2026-000001".into(),
        ambito_id: ambito,
        comune_istat: "108023".into(),
        composition_version: 1,
        composition_date: today() - Duration::days(20),
        created_at: now,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    let application = entity::application::Model {
        id: Uuid::now_v7(),
        household_id: household.id,
        inps_protocol: "INPS-ADI-2026-000001".into(),
        measure: Measure::Adi,
        applicant_fiscal_code: cf("Bianchi", "Luca", 1985, false),
        submitted_on: today() - Duration::days(30),
        channel: "INPS".into(),
        isee_protocol: None,
        pad_signed_on: Some(today() - Duration::days(10)),
        status: ApplicationStatus::Accolta,
        months_paid: 1,
        renewal_of: None,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap();
    entity::case_file::Model {
        id: Uuid::now_v7(),
        household_id: household.id,
        application_id: application.id,
        ambito_id: ambito,
        comune_istat: "108023".into(),
        state: CaseState::DaAssegnare,
        case_manager_id: None,
        assigned_at: None,
        assigned_by: None,
        pad_date: today() - Duration::days(10),
        first_meeting_on: None,
        last_meeting_on: None,
        pathway_type: None,
        version: 1,
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(&app.db)
    .await
    .unwrap()
}

/// Where the walk from a fresh installation has got to when the case manager
/// first logs in: the case is assigned to it.
pub(crate) struct Walk {
    pub admin_token: String,
    pub coordinator: String,
    pub cm_cf: String,
    pub cm_profile: Value,
    pub assigned: Value,
    pub desio: Uuid,
}

/// From the command-line bootstrap to a case assigned to a case manager, every
/// step after the first Ministry administrator through the API by its role.
pub(crate) async fn walk_to_an_assigned_case(app: &TestApp) -> Walk {
    let ministry = bootstrap(app).await;
    let desio = ambito_id(app, &ministry, "LOM-MB-DESIO").await;

    // The Ministry designates the administrator the Ambito named.
    let admin_cf = cf("Neri", "Marta", 1975, true);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": desio, "person": person(&admin_cf, "Marta", "Neri"), "validFrom": today() } }),
        )
        .await;
    let admin = ok(&r)["designateAmbitoAdmin"].clone();
    assert_eq!(admin["role"], "AMBITO_ADMIN");
    assert_eq!(admin["operator"]["status"], "ACTIVE");
    assert_eq!(admin["comuni"].as_array().unwrap().len(), 2, "the administrator covers the Ambito");
    // A second one is refused unless it replaces the first.
    let other = cf("Gallo", "Piero", 1968, false);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": desio, "person": person(&other, "Piero", "Gallo"), "validFrom": today() } }),
        )
        .await;
    assert_eq!(err(&r), ("CONFLICT".into(), "input.ambitoId".into()));
    // The Ministry grants nothing else.
    let r = app.gql(Some(&ministry), ADD, json!({ "i": person(&other, "Piero", "Gallo") })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");

    // The administrator records and accredits a case manager and a coordinator.
    let admin_token = app.login(&admin_cf, admin["id"].as_str().unwrap()).await;
    let cm_cf = cf("Russo", "Anna", 1988, true);
    let r = app.gql(Some(&admin_token), ADD, json!({ "i": person(&cm_cf, "Anna", "Russo") })).await;
    let cm_op = ok(&r)["addOperator"].clone();
    assert_eq!(cm_op["status"], "PENDING_ACCREDITATION");
    assert_eq!(cm_op["fiscalCode"], cm_cf);
    let r = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": cm_op["id"], "version": cm_op["version"], "role": "CASE_MANAGER", "comuni": ["108023"],
                           "validFrom": today(), "fundingSources": ["PN_INCLUSIONE", "FONDO_POVERTA"] } }),
        )
        .await;
    let cm_profile = ok(&r)["accreditProfile"].clone();
    assert_eq!(cm_profile["operator"]["status"], "ACTIVE", "accredited: pending → active");
    assert_eq!(cm_profile["fundingSources"], json!(["FONDO_POVERTA", "PN_INCLUSIONE"]));

    let co_cf = cf("Conti", "Sara", 1980, true);
    let r = app.gql(Some(&admin_token), ADD, json!({ "i": person(&co_cf, "Sara", "Conti") })).await;
    let co_op = ok(&r)["addOperator"].clone();
    let r = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": co_op["id"], "version": co_op["version"], "role": "PAIS_COORDINATOR", "comuni": ["108023", "108045"],
                           "validFrom": today(), "fundingSources": ["FONDO_POVERTA"] } }),
        )
        .await;
    let co_profile = ok(&r)["accreditProfile"].clone();

    // People recorded but not accredited are the administrator's business only.
    let pending_cf = cf("Ferri", "Ugo", 1990, false);
    let r = app.gql(Some(&admin_token), ADD, json!({ "i": person(&pending_cf, "Ugo", "Ferri") })).await;
    let pending = ok(&r)["addOperator"]["id"].clone();
    let q = "query($id: ID!) { operator(id: $id) { id } }";
    let r = app.gql(Some(&admin_token), q, json!({ "id": pending })).await;
    assert_eq!(ok(&r)["operator"]["id"], pending);
    let co_token = app.login(&co_cf, co_profile["id"].as_str().unwrap()).await;
    let r = app.gql(Some(&co_token), q, json!({ "id": pending })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");

    // A case arrives; the coordinator assigns it; the case manager works it.
    let desio_uuid = gepi::ids::decode_uuid("id", "Ambito", &async_graphql::ID(desio.clone())).unwrap();
    let case = incoming_case(app, desio_uuid).await;
    let coordinator = app.login(&co_cf, co_profile["id"].as_str().unwrap()).await;
    let r = app
        .gql(
            Some(&coordinator),
            "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state version } }",
            json!({ "i": { "cases": [{ "id": gepi::ids::encode("Case", case.id), "version": case.version }], "caseManagerId": cm_op["id"] } }),
        )
        .await;
    let assigned = ok(&r)["assignCases"][0].clone();
    assert_eq!(assigned["state"], "ASSEGNATO");
    Walk { admin_token, coordinator, cm_cf, cm_profile, assigned, desio: desio_uuid }
}

/// The case manager records the first meeting of its case.
pub(crate) async fn first_meeting(app: &TestApp, cm: &str, assigned: &Value) {
    let r = app
        .gql(
            Some(cm),
            "mutation($i: RecordFirstMeetingInput!) { recordFirstMeeting(input: $i) { id state } }",
            json!({ "i": { "caseId": assigned["id"], "version": assigned["version"], "heldOn": today(), "place": "Servizi sociali di Desio", "spontaneous": false } }),
        )
        .await;
    assert_eq!(ok(&r)["recordFirstMeeting"]["state"], "AP_IN_CORSO");
}

#[tokio::test]
async fn a_fresh_installation_reaches_a_case_manager_working_a_case() {
    let app = TestApp::new().await;
    let Walk { admin_token, coordinator, cm_cf, cm_profile, assigned, desio: desio_uuid } =
        walk_to_an_assigned_case(&app).await;
    let cm = app.login(&cm_cf, cm_profile["id"].as_str().unwrap()).await;
    first_meeting(&app, &cm, &assigned).await;

    // Revocation ends the live session at once and counts the case left without an owner.
    let r = app
        .gql(
            Some(&admin_token),
            CHANGE,
            json!({ "i": { "profileId": cm_profile["id"], "version": cm_profile["version"], "change": "REVOKE" } }),
        )
        .await;
    let d = ok(&r)["changeProfileStatus"].clone();
    assert_eq!(d["profile"]["status"], "REVOKED");
    assert_eq!(d["orphanedWork"], json!({ "cases": 1, "residencyChecks": 0, "pucProjects": 0 }));
    let r = app.gql(Some(&cm), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "the revoked profile's session is over: {r}");
    // The coordinator sees the case as work to reassign.
    let list = |to_reassign: bool| {
        let q = "query($f: CaseFilter) { cases(first: 10, filter: $f) { totalCount nodes { id } } }";
        app.gql(Some(&coordinator), q, json!({ "f": { "toReassign": to_reassign } }))
    };
    let r = list(true).await;
    assert_eq!(ok(&r)["cases"]["nodes"], json!([{ "id": assigned["id"] }]));
    assert_eq!(ok(&list(false).await)["cases"]["totalCount"], 0);
    // Revoked is final.
    let r = app
        .gql(Some(&admin_token), CHANGE, json!({ "i": { "profileId": cm_profile["id"], "version": d["profile"]["version"], "change": "REINSTATE" } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");

    // Every change is in the audit trail of the Ambito, role changes with before/after.
    let events = entity::audit_event::Entity::find().all(&app.db).await.unwrap();
    let transitions: Vec<_> = events
        .iter()
        .filter(|e| e.entity == "profile" && e.changes.as_deref().is_some_and(|c| c.contains("REVOKED")))
        .collect();
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].ambito_id, Some(desio_uuid));
    let changes: Value = serde_json::from_str(transitions[0].changes.as_deref().unwrap()).unwrap();
    assert_eq!(
        changes["live_sessions"],
        json!({ "before": 1, "after": 0 }),
        "the trail says the live session was ended: {changes}"
    );
    assert!(
        events.iter().all(|e| !e.changes.as_deref().unwrap_or_default().contains(&cm_cf)),
        "no codice fiscale in the audit trail"
    );
}

#[tokio::test]
async fn bad_accreditation_input_is_refused_with_its_field_and_writes_nothing() {
    let app = TestApp::new().await;
    let ministry = bootstrap(&app).await;
    let desio = ambito_id(&app, &ministry, "LOM-MB-DESIO").await;
    let admin_cf = cf("Neri", "Marta", 1975, true);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": desio, "person": person(&admin_cf, "Marta", "Neri"), "validFrom": today() } }),
        )
        .await;
    let admin = ok(&r)["designateAmbitoAdmin"].clone();
    let admin_token = app.login(&admin_cf, admin["id"].as_str().unwrap()).await;
    let cm_cf = cf("Russo", "Anna", 1988, true);
    let r = app.gql(Some(&admin_token), ADD, json!({ "i": person(&cm_cf, "Anna", "Russo") })).await;
    let op = ok(&r)["addOperator"].clone();

    let before = (app.count("operator").await, app.count("profile").await, app.count("audit_event").await);
    let mut bad_cf = cm_cf.clone();
    bad_cf.replace_range(15..16, if cm_cf.ends_with('A') { "B" } else { "A" });
    let cases: Vec<(&str, Value, (&str, &str))> = vec![
        (ADD, json!({ "i": person(&bad_cf, "Luca", "Bianchi") }), ("VALIDATION", "input.fiscalCode")),
        (ADD, json!({ "i": person(&cm_cf, "Anna", "Russo") }), ("CONFLICT", "input.fiscalCode")),
        (
            ADD,
            json!({ "i": { "fiscalCode": cf("Ferri", "Ugo", 1990, false), "firstName": "Ugo", "lastName": "Ferri", "email": "ugo" } }),
            ("VALIDATION", "input.email"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"], "role": "CASE_MANAGER", "comuni": ["072006"], "validFrom": today(), "fundingSources": ["FONDO_POVERTA"] } }),
            ("VALIDATION", "input.comuni[0]"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"], "role": "REGISTRY_CHECK_OFFICER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["FONDO_POVERTA"] } }),
            ("VALIDATION", "input.comuni[0]"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"], "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "validTo": today() - Duration::days(1), "fundingSources": ["FONDO_POVERTA"] } }),
            ("VALIDATION", "input.validTo"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"], "role": "AMBITO_ADMIN", "comuni": ["108023"], "validFrom": today(), "fundingSources": [] } }),
            ("FORBIDDEN", "input.role"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"], "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": [] } }),
            ("VALIDATION", "input.fundingSources"),
        ),
        (
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": op["version"].as_i64().unwrap() + 1, "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["ALTRO"] } }),
            ("CONFLICT", ""),
        ),
        // The administrator holds no other profile in its Ambito.
        (
            ACCREDIT,
            json!({ "i": { "operatorId": admin["operator"]["id"], "version": admin["operator"]["version"], "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["ALTRO"] } }),
            ("CONFLICT", "input.operatorId"),
        ),
    ];
    for (q, vars, (code, field)) in &cases {
        let r = app.gql(Some(&admin_token), q, vars.clone()).await;
        assert_eq!(err(&r), (code.to_string(), field.to_string()), "{vars}: {r}");
    }
    let r = app.gql(Some(&admin_token), ACCREDIT, json!({ "i": { "operatorId": op["id"], "version": 1, "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["NOT_A_FUND"] } })).await;
    assert!(
        r["errors"][0]["message"].as_str().unwrap().contains("NOT_A_FUND"),
        "unknown funding source refused at the edge: {r}"
    );
    assert_eq!(
        (app.count("operator").await, app.count("profile").await, app.count("audit_event").await),
        before,
        "refused input writes nothing"
    );

    // An operator of another Ambito answers like one that does not exist.
    let bari = ambito_id(&app, &ministry, "PUG-BA-BARI").await;
    let bari_cf = cf("Greco", "Rosa", 1972, true);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": bari, "person": person(&bari_cf, "Rosa", "Greco"), "validFrom": today() } }),
        )
        .await;
    let bari_admin = ok(&r)["designateAmbitoAdmin"].clone();
    let r = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": bari_admin["operator"]["id"], "version": 1, "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["ALTRO"] } }),
        )
        .await;
    let missing = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": gepi::ids::encode("Operator", Uuid::now_v7()), "version": 1, "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["ALTRO"] } }),
        )
        .await;
    assert_eq!(err(&r), ("NOT_FOUND".into(), "input.operatorId".into()));
    assert_eq!(r["errors"][0]["message"], missing["errors"][0]["message"]);
    // A suspended profile cannot be reinstated over a newer one of the same role.
    let accredit = |version: i64| {
        app.gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": op["id"], "version": version, "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["ALTRO"] } }),
        )
    };
    let first = ok(&accredit(op["version"].as_i64().unwrap()).await)["accreditProfile"].clone();
    let r = app
        .gql(
            Some(&admin_token),
            CHANGE,
            json!({ "i": { "profileId": first["id"], "version": first["version"], "change": "SUSPEND" } }),
        )
        .await;
    let suspended = ok(&r)["changeProfileStatus"]["profile"].clone();
    assert_eq!(suspended["status"], "SUSPENDED");
    let r = accredit(first["operator"]["version"].as_i64().unwrap()).await;
    assert!(r["errors"].is_null(), "a new profile of the role while the old one is suspended: {r}");
    let r = app
        .gql(
            Some(&admin_token),
            CHANGE,
            json!({ "i": { "profileId": first["id"], "version": suspended["version"], "change": "REINSTATE" } }),
        )
        .await;
    assert_eq!(err(&r), ("CONFLICT".into(), "input.profileId".into()));
    // Nor can it touch the administrator profile of its own Ambito.
    let r = app
        .gql(
            Some(&admin_token),
            CHANGE,
            json!({ "i": { "profileId": admin["id"], "version": admin["version"], "change": "SUSPEND" } }),
        )
        .await;
    assert_eq!(err(&r), ("FORBIDDEN".into(), "input.profileId".into()));

    // A successor designated from a later day: the administrator in force stays
    // until the day before (the Ambito is never without one), its session alive.
    let bari_token = app.login(&bari_cf, bari_admin["id"].as_str().unwrap()).await;
    let next_cf = cf("Lupo", "Enzo", 1979, false);
    let starts = today() + Duration::days(30);
    let r = app
        .gql(Some(&ministry), DESIGNATE, json!({ "i": { "ambitoId": bari, "person": person(&next_cf, "Enzo", "Lupo"), "validFrom": starts, "replace": true } }))
        .await;
    ok(&r);
    let q = "{ me { profile { status validTo } } }";
    let r = app.gql(Some(&bari_token), q, json!({})).await;
    assert_eq!(ok(&r)["me"]["profile"], json!({ "status": "ACTIVE", "validTo": starts - Duration::days(1) }));
}

#[tokio::test]
async fn the_database_keeps_one_administrator_per_ambito_holding_no_other_profile() {
    let app = TestApp::new().await;
    let a = builders::ambito(&app.db, "LOM-MB-DESIO").await;
    let first = builders::operator("Marta", "Neri").insert(&app.db).await;
    let second = builders::operator("Piero", "Gallo").insert(&app.db).await;
    builders::profile(&first, Role::AmbitoAdmin).ambito(&a).insert(&app.db).await;
    // Written around the service, a second administrator or a second profile of
    // the administrator is refused by the database itself.
    let attempt = |op: entity::operator::Model, role: Role| {
        let db = app.db.clone();
        let ambito = a.id;
        async move {
            entity::profile::Model {
                id: Uuid::now_v7(),
                operator_id: op.id,
                role,
                ambito_id: Some(ambito),
                valid_from: today(),
                valid_to: None,
                funding_sources: None,
                status: entity::enums::ProfileStatus::Active,
                assigned_by: None,
                created_at: chrono::Utc::now(),
                version: 1,
            }
            .into_active_model()
            .insert(&db)
            .await
        }
    };
    let e = attempt(second.clone(), Role::AmbitoAdmin).await.unwrap_err();
    assert!(e.to_string().contains(migration::ONE_AMBITO_ADMIN), "{e}");
    let e = attempt(first.clone(), Role::CaseManager).await.unwrap_err();
    assert!(e.to_string().contains(migration::ONE_AMBITO_ADMIN), "{e}");
    // Other roles coexist freely.
    attempt(second.clone(), Role::CaseManager).await.expect("a case manager");
    attempt(second, Role::PaisCoordinator).await.expect("and a coordinator");
}

const UPLOAD: &str = "mutation($i: UploadConventionInput!) { uploadConvention(input: $i) { id kind signedOn validFrom validTo documentSha256 documentSize version comune { istatCode } } }";
const EDIT: &str = "mutation($i: ChangeProfileInput!) { changeProfile(input: $i) { id version validTo fundingSources comuni { istatCode } } }";
const OPERATOR_STATUS: &str = "mutation($i: ChangeOperatorStatusInput!) { changeOperatorStatus(input: $i) { operator { id status version } orphanedWork { cases } } }";
const MOVE_VALIDATOR: &str = "mutation($i: MoveDisadvantageValidatorInput!) { moveDisadvantageValidator(input: $i) { id role status comuni { istatCode } operator { id } } }";

/// A small but well-formed PDF.
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% convenzione {text}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn conventions_gate_comune_level_profiles_and_the_administrator_changes_profiles_and_operators() {
    use sha2::Digest;
    let app = TestApp::new().await;
    let ministry = bootstrap(&app).await;
    let desio = ambito_id(&app, &ministry, "LOM-MB-DESIO").await;
    let admin_cf = cf("Neri", "Marta", 1975, true);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": desio, "person": person(&admin_cf, "Marta", "Neri"), "validFrom": today() } }),
        )
        .await;
    let admin = ok(&r)["designateAmbitoAdmin"].clone();
    let admin_token = app.login(&admin_cf, admin["id"].as_str().unwrap()).await;

    // Bad uploads: each refused with its field, nothing written.
    let doc = pdf("Desio USO_GEPI");
    let upload = |vars: Value| app.gql(Some(&admin_token), UPLOAD, json!({ "i": vars }));
    let base = json!({ "comune": "108023", "kind": "USO_GEPI", "signedOn": today() - Duration::days(5), "validFrom": today() - Duration::days(5),
                       "validTo": today() + Duration::days(20), "document": b64(&doc) });
    let with = |k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x
    };
    let before =
        (app.count("convention").await, app.count("convention_document").await, app.count("audit_event").await);
    let bad = vec![
        (with("document", json!("%%% not base64")), ("VALIDATION", "input.document")),
        (with("document", json!(b64(b"PK\x03\x04 a zip, not a PDF"))), ("VALIDATION", "input.document")),
        (with("document", json!("")), ("VALIDATION", "input.document")),
        (with("comune", json!("072006")), ("VALIDATION", "input.comune")),
        (with("comune", json!("12345")), ("VALIDATION", "input.comune")),
        (with("validTo", json!(today() - Duration::days(6))), ("VALIDATION", "input.validTo")),
        (with("signedOn", json!(today() + Duration::days(1))), ("VALIDATION", "input.signedOn")),
        (with("validFrom", json!("1990-01-01")), ("VALIDATION", "input.validFrom")),
    ];
    for (vars, (code, field)) in &bad {
        let r = upload(vars.clone()).await;
        assert_eq!(err(&r), (code.to_string(), field.to_string()), "{vars}: {r}");
    }
    assert_eq!(
        (app.count("convention").await, app.count("convention_document").await, app.count("audit_event").await),
        before
    );

    // Before the convention, no Comune-level profile on the Comune.
    let add = |cf: String, first: &'static str, last: &'static str| {
        let token = admin_token.clone();
        let app = &app;
        async move { ok(&app.gql(Some(&token), ADD, json!({ "i": person(&cf, first, last) })).await)["addOperator"].clone() }
    };
    let officer_cf = cf("Villa", "Carlo", 1983, false);
    let officer = add(officer_cf.clone(), "Carlo", "Villa").await;
    let accredit_officer = |version: &Value| {
        app.gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": officer["id"], "version": version, "role": "REGISTRY_CHECK_OFFICER", "comuni": ["108023"],
                           "validFrom": today(), "fundingSources": ["BILANCIO_COMUNALE"] } }),
        )
    };
    assert_eq!(err(&accredit_officer(&officer["version"]).await), ("VALIDATION".into(), "input.comuni[0]".into()));

    // The upload: SHA-256 and size kept, the content apart, never in the audit trail.
    let r = upload(base.clone()).await;
    let conv = ok(&r)["uploadConvention"].clone();
    assert_eq!(conv["documentSha256"], hex::encode(sha2::Sha256::digest(&doc)));
    assert_eq!(conv["documentSize"], doc.len());
    assert_eq!(conv["comune"]["istatCode"], "108023");
    let conv_id =
        gepi::ids::decode_uuid("id", "Convention", &async_graphql::ID(conv["id"].as_str().unwrap().into())).unwrap();
    let stored =
        entity::convention_document::Entity::find_by_id(conv_id).one(&app.db).await.unwrap().expect("document stored");
    assert_eq!(stored.content, doc);
    let events = entity::audit_event::Entity::find().all(&app.db).await.unwrap();
    let created: Vec<_> = events.iter().filter(|e| e.entity == "convention").collect();
    assert_eq!(created.len(), 1);
    let changes: Value = serde_json::from_str(created[0].changes.as_deref().unwrap()).unwrap();
    let mut keys: Vec<&str> = changes.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["comune_istat", "document_sha256", "document_size", "kind", "signed_on", "valid_from", "valid_to"]
    );
    assert_eq!(changes["document_sha256"]["after"], conv["documentSha256"]);
    for e in &events {
        let c = e.changes.as_deref().unwrap_or_default();
        assert!(
            !c.contains("convenzione Desio") && !c.contains(&b64(&doc)) && !c.contains(&hex::encode(&doc)),
            "no document content in the trail: {c}"
        );
    }
    // A second convention of the kind overlapping the first is a conflict.
    let r = upload(with("validFrom", json!(today()))).await;
    assert_eq!(err(&r), ("CONFLICT".into(), "input.validFrom".into()));

    // Now the officer is accredited; the convention lists it as depending on it.
    let officer_profile = ok(&accredit_officer(&officer["version"]).await)["accreditProfile"].clone();
    let q = "query($d: Int) { conventions(first: 10, expiringWithinDays: $d) { totalCount nodes { id dependentProfiles { id role } } } }";
    let r = app.gql(Some(&admin_token), q, json!({ "d": 30 })).await;
    assert_eq!(
        ok(&r)["conventions"]["nodes"],
        json!([{ "id": conv["id"], "dependentProfiles": [{ "id": officer_profile["id"], "role": "REGISTRY_CHECK_OFFICER" }] }])
    );
    assert_eq!(ok(&app.gql(Some(&admin_token), q, json!({ "d": 10 })).await)["conventions"]["totalCount"], 0);
    assert_eq!(
        err(&app.gql(Some(&admin_token), q, json!({ "d": -1 })).await),
        ("VALIDATION".into(), "expiringWithinDays".into())
    );
    // A renewal from the command line takes over: nothing depends on the expiry any more.
    let file = std::env::temp_dir().join(format!("gepi-convention-{}.pdf", Uuid::new_v4().simple()));
    std::fs::write(&file, b"not a pdf").unwrap();
    let renew = |from: NaiveDate| {
        vec![
            "conventions".to_string(),
            "add".into(),
            "--comune".into(),
            "108023".into(),
            "--kind".into(),
            "USO_GEPI".into(),
            "--signed-on".into(),
            today().to_string(),
            "--valid-from".into(),
            from.to_string(),
            "--file".into(),
            file.to_str().unwrap().to_string(),
        ]
    };
    let args = renew(today() + Duration::days(21));
    let refused = gepi(&app, &args.iter().map(String::as_str).collect::<Vec<_>>()).unwrap_err();
    assert!(refused.contains("VALIDATION, --file"), "{refused}");
    std::fs::write(&file, pdf("rinnovo")).unwrap();
    gepi(&app, &args.iter().map(String::as_str).collect::<Vec<_>>()).expect("renewal recorded");
    std::fs::remove_file(&file).ok();
    let r = app.gql(Some(&admin_token), q, json!({ "d": 30 })).await;
    assert_eq!(ok(&r)["conventions"]["nodes"][0]["dependentProfiles"], json!([]));

    // The operators list filters, under the administrator's rules.
    let ops = |f: Value| {
        let q = "query($f: OperatorFilter) { operators(first: 20, filter: $f) { totalCount nodes { id } } }";
        app.gql(Some(&admin_token), q, json!({ "f": f }))
    };
    assert_eq!(
        ok(&ops(json!({ "role": "REGISTRY_CHECK_OFFICER" })).await)["operators"]["nodes"],
        json!([{ "id": officer["id"] }])
    );
    assert_eq!(
        ok(&ops(json!({ "comune": "108023", "fundingSource": "BILANCIO_COMUNALE" })).await)["operators"]["nodes"],
        json!([{ "id": officer["id"] }])
    );
    assert_eq!(ok(&ops(json!({ "fundingSource": "FONDO_POVERTA" })).await)["operators"]["totalCount"], 0);
    assert_eq!(
        ok(&ops(json!({ "comune": "108045", "role": "REGISTRY_CHECK_OFFICER" })).await)["operators"]["totalCount"],
        0
    );
    assert_eq!(
        ok(&ops(json!({ "expiringWithinDays": 365 })).await)["operators"]["totalCount"],
        0,
        "open-ended profiles do not expire"
    );
    assert_eq!(ok(&ops(json!({ "status": ["PENDING_ACCREDITATION"] })).await)["operators"]["totalCount"], 0);

    // changeProfile: funding and an end date; a Comune without convention refused; stale versions conflict.
    let edit = |vars: Value| app.gql(Some(&admin_token), EDIT, json!({ "i": vars }));
    let r = edit(
        json!({ "profileId": officer_profile["id"], "version": officer_profile["version"], "comuni": ["108045"] }),
    )
    .await;
    assert_eq!(err(&r), ("VALIDATION".into(), "input.comuni[0]".into()));
    let r = edit(json!({ "profileId": officer_profile["id"], "version": officer_profile["version"], "fundingSources": ["PN_INCLUSIONE"], "validTo": today() + Duration::days(90) })).await;
    let edited = ok(&r)["changeProfile"].clone();
    assert_eq!(edited["fundingSources"], json!(["PN_INCLUSIONE"]));
    assert_eq!(edited["validTo"], json!(today() + Duration::days(90)));
    assert_eq!(edited["version"], officer_profile["version"].as_i64().unwrap() + 1);
    assert_eq!(
        ok(&ops(json!({ "expiringWithinDays": 90 })).await)["operators"]["nodes"],
        json!([{ "id": officer["id"] }])
    );
    let r = edit(json!({ "profileId": officer_profile["id"], "version": officer_profile["version"], "validTo": null }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "stale version: {r}");
    let r = edit(json!({ "profileId": officer_profile["id"], "version": edited["version"], "validTo": null })).await;
    assert_eq!(ok(&r)["changeProfile"]["validTo"], Value::Null, "null makes it open-ended");
    let audit_update = entity::audit_event::Entity::find().all(&app.db).await.unwrap();
    assert!(
        audit_update.iter().any(|e| e.entity == "profile"
            && e.changes.as_deref().is_some_and(|c| c.contains("PN_INCLUSIONE") && c.contains("BILANCIO_COMUNALE"))),
        "before/after of the change"
    );

    // The whole operator: suspension ends the live session; reinstatement lets it back in.
    let officer_token = app.login(&officer_cf, officer_profile["id"].as_str().unwrap()).await;
    // Used once, so that this instance holds its principal in memory.
    let r = app.gql(Some(&officer_token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let op_now = |id: &Value| {
        let q = "query($id: ID!) { operator(id: $id) { version } }";
        let id = id.clone();
        let token = admin_token.clone();
        let app = &app;
        async move { ok(&app.gql(Some(&token), q, json!({ "id": id })).await)["operator"]["version"].clone() }
    };
    let v = op_now(&officer["id"]).await;
    let r = app
        .gql(
            Some(&admin_token),
            OPERATOR_STATUS,
            json!({ "i": { "operatorId": officer["id"], "version": v, "change": "SUSPEND" } }),
        )
        .await;
    let suspended = ok(&r)["changeOperatorStatus"]["operator"].clone();
    assert_eq!(suspended["status"], "SUSPENDED");
    let r = app.gql(Some(&officer_token), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let r = app
        .post_json("/auth/dev-login", None, json!({ "fiscalCode": officer_cf, "profileId": officer_profile["id"] }))
        .await;
    assert!(matches!(r.status.as_u16(), 401 | 403), "a suspended operator cannot log in: {} {}", r.status, r.body);
    let sessions_live = |op: Uuid| {
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        let db = app.db.clone();
        async move {
            entity::session::Entity::find()
                .filter(entity::session::Column::OperatorId.eq(op))
                .filter(entity::session::Column::RevokedAt.is_null())
                .count(&db)
                .await
                .unwrap()
        }
    };
    let officer_uuid =
        gepi::ids::decode_uuid("id", "Operator", &async_graphql::ID(officer["id"].as_str().unwrap().into())).unwrap();
    assert_eq!(sessions_live(officer_uuid).await, 0, "suspension ended the session itself, not only its use");
    let r = app
        .gql(
            Some(&admin_token),
            OPERATOR_STATUS,
            json!({ "i": { "operatorId": officer["id"], "version": suspended["version"], "change": "SUSPEND" } }),
        )
        .await;
    assert_eq!(err(&r), ("CONFLICT".into(), "input.change".into()));
    let r = app
        .gql(
            Some(&admin_token),
            OPERATOR_STATUS,
            json!({ "i": { "operatorId": officer["id"], "version": suspended["version"], "change": "REINSTATE" } }),
        )
        .await;
    assert_eq!(ok(&r)["changeOperatorStatus"]["operator"]["status"], "ACTIVE");
    let r = app.gql(Some(&officer_token), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "the session ended by the suspension stays ended: {r}");
    app.login(&officer_cf, officer_profile["id"].as_str().unwrap()).await;
    // The administrator cannot suspend itself.
    let r = app.gql(Some(&admin_token), OPERATOR_STATUS, json!({ "i": { "operatorId": admin["operator"]["id"], "version": op_now(&admin["operator"]["id"]).await, "change": "SUSPEND" } })).await;
    assert_eq!(err(&r), ("FORBIDDEN".into(), "input.operatorId".into()));

    // The disadvantage validator: by default the first coordinator; the administrator moves it.
    let co_cf = cf("Conti", "Sara", 1980, true);
    let co = add(co_cf.clone(), "Sara", "Conti").await;
    let r = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": co["id"], "version": co["version"], "role": "PAIS_COORDINATOR", "comuni": ["108023", "108045"], "validFrom": today(), "fundingSources": ["FONDO_POVERTA"] } }),
        )
        .await;
    ok(&r);
    let validators = || {
        let q = "query { operators(first: 20, filter: { role: DISADVANTAGE_VALIDATOR }) { nodes { id } } }";
        let token = admin_token.clone();
        let app = &app;
        async move { ok(&app.gql(Some(&token), q, json!({})).await)["operators"]["nodes"].clone() }
    };
    assert_eq!(
        validators().await,
        json!([{ "id": co["id"] }]),
        "the coordinator validates by default (on the Comune with a convention)"
    );
    // The profile filters match one profile: the coordinator covers Varedo (as
    // coordinator) and validates on Desio, not on Varedo.
    assert_eq!(
        ok(&ops(json!({ "comune": "108045", "role": "DISADVANTAGE_VALIDATOR" })).await)["operators"]["totalCount"],
        0
    );
    assert_eq!(
        ok(&ops(json!({ "comune": "108023", "role": "DISADVANTAGE_VALIDATOR" })).await)["operators"]["nodes"],
        json!([{ "id": co["id"] }])
    );
    // A case manager sees the operators of its Ambito but only its own
    // profiles: it finds nobody through someone else's profile.
    let cm_cf = cf("Russo", "Anna", 1988, true);
    let cm = add(cm_cf.clone(), "Anna", "Russo").await;
    let r = app
        .gql(
            Some(&admin_token),
            ACCREDIT,
            json!({ "i": { "operatorId": cm["id"], "version": cm["version"], "role": "CASE_MANAGER", "comuni": ["108023"], "validFrom": today(), "fundingSources": ["FONDO_POVERTA"] } }),
        )
        .await;
    let cm_token = app.login(&cm_cf, ok(&r)["accreditProfile"]["id"].as_str().unwrap()).await;
    let as_cm = |f: Value| {
        let q = "query($f: OperatorFilter) { operators(first: 20, filter: $f) { totalCount nodes { id } } }";
        app.gql(Some(&cm_token), q, json!({ "f": f }))
    };
    assert!(
        ok(&as_cm(json!({})).await)["operators"]["totalCount"].as_i64().unwrap() >= 3,
        "it sees the operators of the Ambito"
    );
    assert_eq!(ok(&as_cm(json!({ "role": "PAIS_COORDINATOR" })).await)["operators"]["totalCount"], 0);
    assert_eq!(ok(&as_cm(json!({ "role": "CASE_MANAGER" })).await)["operators"]["nodes"], json!([{ "id": cm["id"] }]));
    // Nor may it ask whose work is left without an owner: that tells whose profiles are in force.
    for q in [
        "{ cases(first: 1, filter: { toReassign: true }) { totalCount } }",
        "{ pucProjects(first: 1, filter: { toReassign: true }) { totalCount } }",
    ] {
        let r = app.gql(Some(&cm_token), q, json!({})).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "{q}: {r}");
    }
    let v = op_now(&officer["id"]).await;
    let r = app
        .gql(Some(&admin_token), MOVE_VALIDATOR, json!({ "i": { "operatorId": officer["id"], "version": v } }))
        .await;
    let moved = ok(&r)["moveDisadvantageValidator"].clone();
    assert_eq!(moved["role"], "DISADVANTAGE_VALIDATOR");
    assert_eq!(moved["comuni"], json!([{ "istatCode": "108023" }]), "the Comuni of the profile it replaces");
    assert_eq!(validators().await, json!([{ "id": officer["id"] }]));
    let r = app
        .gql(
            Some(&admin_token),
            MOVE_VALIDATOR,
            json!({ "i": { "operatorId": officer["id"], "version": op_now(&officer["id"]).await } }),
        )
        .await;
    assert_eq!(err(&r), ("CONFLICT".into(), "input.operatorId".into()));

    // Revoking the whole operator revokes every profile.
    let v = op_now(&officer["id"]).await;
    let r = app
        .gql(
            Some(&admin_token),
            OPERATOR_STATUS,
            json!({ "i": { "operatorId": officer["id"], "version": v, "change": "REVOKE" } }),
        )
        .await;
    assert_eq!(ok(&r)["changeOperatorStatus"]["operator"]["status"], "REVOKED");
    use sea_orm::{ColumnTrait, QueryFilter};
    let left = entity::profile::Entity::find()
        .filter(entity::profile::Column::OperatorId.eq(officer_uuid))
        .filter(entity::profile::Column::Status.ne(entity::enums::ProfileStatus::Revoked))
        .all(&app.db)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");

    // Another Ambito's administrator: every id of Desio answers like one that does not exist.
    let bari = ambito_id(&app, &ministry, "PUG-BA-BARI").await;
    let bari_cf = cf("Greco", "Rosa", 1972, true);
    let r = app
        .gql(
            Some(&ministry),
            DESIGNATE,
            json!({ "i": { "ambitoId": bari, "person": person(&bari_cf, "Rosa", "Greco"), "validFrom": today() } }),
        )
        .await;
    let bari_token = app.login(&bari_cf, ok(&r)["designateAmbitoAdmin"]["id"].as_str().unwrap()).await;
    let random_profile = gepi::ids::encode("Profile", Uuid::now_v7());
    let random_operator = gepi::ids::encode("Operator", Uuid::now_v7());
    let co_version = op_now(&co["id"]).await;
    let probes: Vec<(&str, Value, Value, &str)> = vec![
        (
            EDIT,
            json!({ "profileId": edited["id"], "version": 1, "fundingSources": ["ALTRO"] }),
            json!({ "profileId": random_profile, "version": 1, "fundingSources": ["ALTRO"] }),
            "input.profileId",
        ),
        (
            OPERATOR_STATUS,
            json!({ "operatorId": co["id"], "version": co_version, "change": "SUSPEND" }),
            json!({ "operatorId": random_operator, "version": 1, "change": "SUSPEND" }),
            "input.operatorId",
        ),
        (
            MOVE_VALIDATOR,
            json!({ "operatorId": co["id"], "version": co_version }),
            json!({ "operatorId": random_operator, "version": 1 }),
            "input.operatorId",
        ),
    ];
    for (q, theirs, missing, field) in probes {
        let a = app.gql(Some(&bari_token), q, json!({ "i": theirs })).await;
        let b = app.gql(Some(&bari_token), q, json!({ "i": missing })).await;
        assert_eq!(err(&a), ("NOT_FOUND".to_string(), field.to_string()), "{a}");
        assert_eq!(a["errors"][0]["message"], b["errors"][0]["message"]);
    }
    let r = app
        .gql(Some(&bari_token), UPLOAD, json!({ "i": with("validFrom", json!(today() + Duration::days(400))) }))
        .await;
    assert_eq!(err(&r), ("VALIDATION".into(), "input.comune".into()), "Desio is not a Comune of Bari: {r}");

    // Others may not upload conventions.
    let co_profile = entity::profile::Entity::find()
        .filter(entity::profile::Column::Role.eq(Role::PaisCoordinator))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let co_token = app.login(&co_cf, &gepi::ids::encode("Profile", co_profile.id)).await;
    let r = app.gql(Some(&co_token), UPLOAD, json!({ "i": with("comune", json!("108045")) })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
}

#[tokio::test]
async fn a_comune_level_role_stops_reaching_a_comune_whose_convention_lapsed() {
    use sea_orm::{sea_query::Expr, ColumnTrait, QueryFilter};
    // The lapse is simulated by moving the convention's end into the past behind
    // the server's back, where in life the day turns (which ends every cached
    // principal at midnight): the principal cache is off, so that the next
    // request reads it again.
    let app = TestApp::with_config(|c| c.session_cache_secs = 0).await;
    let a = builders::ambito(&app.db, "LOM-MB-DESIO").await;
    let desio = builders::comune(&app.db, &a, "108023", "D286", "Desio").await;
    let varedo = builders::comune(&app.db, &a, "108045", "L677", "Varedo").await;
    let op = builders::operator("Carlo", "Villa").insert(&app.db).await;
    let p = builders::profile(&op, Role::PucManager).ambito(&a).comuni(&[&desio, &varedo]).insert(&app.db).await;
    let token = app.login(&op.fiscal_code, &builders::gid("Profile", p.id)).await;
    let q = "{ conventions(first: 10) { nodes { comune { istatCode } } } me { profile { comuni { istatCode } } } }";
    let both = json!([{ "istatCode": "108023" }, { "istatCode": "108045" }]);
    let r = app.gql(Some(&token), q, json!({})).await;
    let mut seen: Vec<Value> =
        ok(&r)["conventions"]["nodes"].as_array().unwrap().iter().map(|n| n["comune"].clone()).collect();
    seen.sort_by_key(|c| c["istatCode"].as_str().unwrap().to_string());
    assert_eq!(Value::Array(seen), both);
    // Desio's convention lapsed yesterday and nobody renewed it.
    entity::convention::Entity::update_many()
        .col_expr(entity::convention::Column::ValidTo, Expr::value(Some(today() - Duration::days(1))))
        .filter(entity::convention::Column::ComuneIstat.eq("108023"))
        .exec(&app.db)
        .await
        .unwrap();
    let r = app.gql(Some(&token), q, json!({})).await;
    assert_eq!(
        ok(&r)["conventions"]["nodes"],
        json!([{ "comune": { "istatCode": "108045" } }]),
        "the live session no longer reaches Desio"
    );
    // The assignment is unchanged (the administrator sees what to renew); only its reach is.
    let mut assigned = ok(&r)["me"]["profile"]["comuni"].as_array().unwrap().clone();
    assigned.sort_by_key(|c| c["istatCode"].as_str().unwrap().to_string());
    assert_eq!(Value::Array(assigned), both);
}
