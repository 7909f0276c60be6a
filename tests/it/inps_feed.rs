//! The INPS feed: applied once, bad rows reported and never half-applied, sent
//! again without any change, refused whole when it is not a feed of this version.

use entity::enums::{ApplicationStatus, CaseState, Role};
use gepi::inps::service::{import, Report, Source};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::TestApp;

const EXAMPLE: &str = include_str!("../../feeds/inps/v1/example.jsonl");

/// Bad rows after the example's seven good ones (lines 9 to 14), then a new
/// household and another claiming one of its members (lines 15 and 16).
fn bad_rows() -> Vec<String> {
    let good: Vec<serde_json::Value> = EXAMPLE.lines().skip(1).map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut wrong_check = good[0].clone();
    wrong_check["seq"] = json!(2001);
    wrong_check["protocol"] = json!("INPS-ADI-2026-90000099");
    wrong_check["household"]["members"][1]["fiscalCode"] = json!("BNCLRA87T52D286X");
    let mut unknown_comune = good[3].clone();
    unknown_comune["seq"] = json!(2002);
    unknown_comune["protocol"] = json!("INPS-ADI-2026-90000098");
    unknown_comune["household"]["comuneIstat"] = json!("001272");
    let mut taken = good[3].clone();
    taken["seq"] = json!(2003);
    taken["protocol"] = json!("INPS-ADI-2026-90000097");
    let mut fresh = good[3].clone();
    fresh["seq"] = json!(2006);
    fresh["protocol"] = json!("INPS-ADI-2026-90000095");
    fresh["household"]["members"][0]["fiscalCode"] = json!("GLLMRA75C10L677Z");
    let mut claims = fresh.clone();
    claims["seq"] = json!(2007);
    claims["protocol"] = json!("INPS-ADI-2026-90000094");
    vec![
        wrong_check.to_string(),
        "{\"seq\": 2004, \"kind\": \"application\", this is not JSON".into(),
        unknown_comune.to_string(),
        json!({ "seq": 2005, "kind": "status", "protocol": "INPS-ADI-NOBODY", "status": "SOSPESA", "on": "2026-12-01" })
            .to_string(),
        taken.to_string(),
        json!({ "seq": 1004, "kind": "status", "protocol": "INPS-ADI-2026-90000003", "status": "SOSPESA", "on": "2026-12-01" })
            .to_string(),
        fresh.to_string(),
        claims.to_string(),
    ]
}

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in ["household", "member", "application", "case_file", "audit_event", "inps_feed_record"] {
        out.push(app.count(t).await);
    }
    out
}

async fn run(app: &TestApp, text: &str) -> Report {
    import(&app.db, Source::Cli, 10, text.as_bytes(), |_| {}).await.map_err(|(_, e)| e).expect("the feed is read")
}

#[tokio::test]
async fn a_feed_applies_its_good_rows_once_reports_the_bad_ones_and_changes_nothing_when_sent_again() {
    let app = TestApp::seeded().await;
    let feed = format!("{}{}\n", EXAMPLE, bad_rows().join("\n"));
    let before = counts(&app).await;
    let r = run(&app, &feed).await;
    assert_eq!((r.received, r.applied, r.unchanged, r.rejected), (15, 8, 0, 7), "{r:#?}");
    let got: Vec<(i64, Option<i64>, &str, Option<&str>)> =
        r.rejections.iter().map(|x| (x.line, x.seq, x.code.as_str(), x.field.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (9, Some(2001), "VALIDATION", Some("household.members[1].fiscalCode")),
            (10, None, "VALIDATION", None),
            (11, Some(2002), "NOT_FOUND", Some("household.comuneIstat")),
            (12, Some(2005), "NOT_FOUND", Some("protocol")),
            (13, Some(2003), "CONFLICT", Some("household.members[0].fiscalCode")),
            (14, Some(1004), "CONFLICT", None),
            (16, Some(2007), "CONFLICT", Some("household.members[0].fiscalCode")),
        ]
    );
    assert!(r.rejections[0].message.contains("check character"), "{:?}", r.rejections[0]);
    // No personal data in the report: the wrong codice fiscale is not echoed.
    assert!(!serde_json::to_string(&r).unwrap().contains("BNCLRA87T52D286X"));
    let after = counts(&app).await;
    // Four households (3 + 2 + 1 + 1 members), their applications, four cases.
    assert_eq!(after[0] - before[0], 4);
    assert_eq!(after[1] - before[1], 7);
    assert_eq!(after[2] - before[2], 4);
    assert_eq!(after[3] - before[3], 4);
    assert_eq!(after[5] - before[5], 8);

    // The Bianchi case: DA_ASSEGNARE in Desio's Ambito, its deadlines from the PAD.
    let bianchi = case_of(&app, "INPS-ADI-2026-90000001").await;
    assert_eq!(bianchi.state, CaseState::DaAssegnare);
    assert_eq!(bianchi.pad_date.to_string(), "2026-11-02");
    assert_eq!(bianchi.comune_istat, "108023");
    let desio = entity::comune::Entity::find_by_id("108023".to_string()).one(&app.db).await.unwrap().unwrap();
    assert_eq!(bianchi.ambito_id, desio.ambito_id);
    // The coordinator of that Ambito sees it, with its deadline.
    let mut seen = false;
    for nth in 0..4 {
        let (token, profile, _) = app.login_role(Role::PaisCoordinator, nth).await;
        if profile.ambito_id != Some(desio.ambito_id) {
            continue;
        }
        let r = app
            .gql(
                Some(&token),
                "query($id: ID!) { node(id: $id) { ... on Case { state padDate firstMeetingDeadline } } }",
                json!({ "id": gepi::ids::encode("Case", bianchi.id) }),
            )
            .await;
        assert_eq!(
            r["data"]["node"],
            json!({ "state": "DA_ASSEGNARE", "padDate": "2026-11-02", "firstMeetingDeadline": "2027-03-02" }),
            "{r}"
        );
        seen = true;
        break;
    }
    assert!(seen, "a coordinator of Desio's Ambito");
    // Ferri: verified first (no case), accepted by the next record (a case).
    let ferri = case_of(&app, "INPS-ADI-2026-90000002").await;
    assert_eq!((ferri.state, ferri.pad_date.to_string()), (CaseState::DaAssegnare, "2026-11-28".to_string()));
    // Verdi: decaduta, so the case is closed.
    let verdi = case_of(&app, "INPS-ADI-2026-90000003").await;
    assert_eq!(verdi.state, CaseState::Chiuso);
    let verdi_app = application(&app, "INPS-ADI-2026-90000003").await;
    assert_eq!(verdi_app.status, ApplicationStatus::Decaduta);
    // The trail names the feed and the record.
    let trail = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("case_file"))
        .filter(entity::audit_event::Column::EntityId.eq(verdi.id.to_string()))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(trail.len(), 2, "created, then closed: {trail:?}");
    assert!(trail.iter().all(|e| e.changes.as_deref().unwrap().contains("INPS-ADI-2026-12-06-001")));
    assert!(trail.iter().any(|e| e.changes.as_deref().unwrap().contains("\"seq\":1005")));

    // INPS's requests: a residency check at Bianchi's Comune, due 30 days
    // from the request, and a validation request in Desio's Ambito.
    let bianchi_cf = "BNCGNN85M10D286C";
    let m = entity::member::Entity::find()
        .filter(entity::member::Column::FiscalCode.eq(bianchi_cf))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let check = entity::residency_check::Entity::find()
        .filter(entity::residency_check::Column::MemberId.eq(m.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (check.state, check.owning_comune_istat.as_str(), check.due_on.to_string(), check.application_id),
        (
            entity::enums::ResidencyCheckState::DaAssegnare,
            "108023",
            "2027-01-04".to_string(),
            Some(bianchi.application_id)
        )
    );
    let request = entity::disadvantage_check::Entity::find()
        .filter(entity::disadvantage_check::Column::InpsRequestId.eq("INPS-SVA-2026-00000001"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (request.member_id, request.state, request.ambito_id),
        (m.id, entity::enums::DisadvantageState::Ricevuta, desio.ambito_id)
    );
    // The same request id with other content, a member not of the household: refused.
    let header = EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "2026-12-06-002");
    let mut other: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(7).unwrap()).unwrap();
    other["seq"] = json!(3001);
    other["category"] = json!("DIPENDENZE");
    let mut stranger: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(6).unwrap()).unwrap();
    stranger["seq"] = json!(3002);
    stranger["fiscalCode"] = json!("GLLMRA75C10L677Z");
    let mut future: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(7).unwrap()).unwrap();
    future["seq"] = json!(3003);
    future["requestId"] = json!("INPS-SVA-2026-00000002");
    future["receivedOn"] = json!(gepi::calendar::today() + chrono::Duration::days(1));
    let r = run(&app, &format!("{header}\n{other}\n{stranger}\n{future}\n")).await;
    let got: Vec<(&str, Option<&str>)> = r.rejections.iter().map(|x| (x.code.as_str(), x.field.as_deref())).collect();
    assert_eq!(
        got,
        [("CONFLICT", Some("requestId")), ("NOT_FOUND", Some("fiscalCode")), ("VALIDATION", Some("receivedOn"))],
        "{r:#?}"
    );

    // Sent again, whole: nothing changes, and the bad rows are reported again.
    let after = counts(&app).await;
    let r = run(&app, &feed).await;
    assert_eq!((r.received, r.applied, r.unchanged, r.rejected), (15, 0, 8, 7), "{r:#?}");
    assert_eq!(counts(&app).await, after);
    // A part of it, in another transmission, spaced and ordered otherwise: nothing either.
    let mut part = String::from(
        "{\"version\":1,\"feed\":\"gepi.inps\",\"producedAt\":\"2026-12-07T06:00:00Z\",\"feedId\":\"INPS-ADI-2026-12-07-001\"}\n",
    );
    let last: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(5).unwrap()).unwrap();
    part.push_str(&serde_json::to_string_pretty(&last).unwrap().replace('\n', " "));
    part.push('\n');
    let r = run(&app, &part).await;
    assert_eq!((r.applied, r.unchanged, r.rejected), (0, 1, 0), "{r:#?}");
    assert_eq!(counts(&app).await, after);
}

#[tokio::test]
async fn a_later_record_changes_the_household_with_a_trail_naming_the_feed() {
    let app = TestApp::seeded().await;
    run(&app, EXAMPLE).await;
    let app_row = application(&app, "INPS-ADI-2026-90000001").await;
    let hh = entity::household::Entity::find_by_id(app_row.household_id).one(&app.db).await.unwrap().unwrap();
    // A newborn joins the Bianchi household, which moves to another Comune of the Ambito.
    let mut rec: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(1).unwrap()).unwrap();
    rec["seq"] = json!(3001);
    rec["household"]["comuneIstat"] = json!("108045");
    rec["household"]["members"].as_array_mut().unwrap().push(json!({
        "fiscalCode": "BNCMRC19L03D286N", "firstName": "Marco", "lastName": "Bianchi", "birthDate": "2019-07-03",
        "birthPlaceCode": "D286", "sex": "M", "citizenship": "ITA", "relation": "FIGLIO", "residenceComuneIstat": "108045"
    }));
    for m in rec["household"]["members"].as_array_mut().unwrap() {
        m["residenceComuneIstat"] = json!("108045");
    }
    let header = EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "2026-12-08-001");
    let r = run(&app, &format!("{header}\n{rec}\n")).await;
    assert_eq!((r.applied, r.rejected), (1, 0), "{r:#?}");
    let after = entity::household::Entity::find_by_id(hh.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!((after.composition_version, after.comune_istat.as_str()), (2, "108045"));
    let members = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(hh.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(members.len(), 4);
    assert!(members.iter().all(|m| m.residence_comune_istat == "108045"));
    assert_eq!(case_of(&app, "INPS-ADI-2026-90000001").await.comune_istat, "108045");
    let trail = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("household"))
        .filter(entity::audit_event::Column::EntityId.eq(hh.id.to_string()))
        .all(&app.db)
        .await
        .unwrap();
    let update = trail.iter().find(|e| e.action == entity::enums::AuditAction::Update).expect("an update");
    let changes = update.changes.as_deref().unwrap();
    assert!(changes.contains("INPS-ADI-2026-12-08-001") && changes.contains("\"membersAdded\":1"), "{changes}");
    assert!(!changes.contains("Marco") && !changes.contains("BNCMRC19L03D286N"), "no personal data: {changes}");
    // A member left out is refused, and nothing of the record is applied.
    let mut fewer = rec.clone();
    fewer["seq"] = json!(3002);
    fewer["monthsPaid"] = json!(2);
    fewer["household"]["members"].as_array_mut().unwrap().pop();
    let r = run(&app, &format!("{header}\n{fewer}\n")).await;
    assert_eq!(r.rejections[0].field.as_deref(), Some("household.members"), "{r:#?}");
    assert_eq!(application(&app, "INPS-ADI-2026-90000001").await.months_paid, 1);
}

#[tokio::test]
async fn a_file_that_is_not_a_feed_of_this_version_is_refused_whole() {
    let app = TestApp::seeded().await;
    let jobs = app.count("inps_feed_job").await;
    for text in [
        "",
        "not json\n",
        &EXAMPLE.replacen("\"version\":1", "\"version\":2", 1),
        &EXAMPLE.replacen("gepi.inps", "gepi.other", 1),
        &EXAMPLE.lines().skip(1).collect::<Vec<_>>().join("\n"),
    ] {
        let r = import(&app.db, Source::Cli, 10, text.as_bytes(), |_| {}).await;
        assert!(matches!(r, Err((None, gepi::error::AppError::Validation { .. }))), "{text:.40}: {r:?}");
    }
    assert_eq!(app.count("inps_feed_job").await, jobs, "no job opened");
    assert_eq!(app.count("inps_feed_record").await, 0);
}

async fn application(app: &TestApp, protocol: &str) -> entity::application::Model {
    entity::application::Entity::find()
        .filter(entity::application::Column::InpsProtocol.eq(protocol))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn case_of(app: &TestApp, protocol: &str) -> entity::case_file::Model {
    let a = application(app, protocol).await;
    entity::case_file::Entity::find()
        .filter(entity::case_file::Column::ApplicationId.eq(a.id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("a case")
}

fn feed_request(token: Option<&str>, content_type: &str, body: &str) -> axum::http::Request<axum::body::Body> {
    let mut b = axum::http::Request::post("/inps/feed").header("content-type", content_type);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(axum::body::Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn the_inps_key_sends_the_feed_to_the_bulk_endpoint_and_reads_its_job_back() {
    use axum::http::StatusCode;
    use gepi::auth::api_key;
    let app = TestApp::seeded().await;
    let inps = api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let feed = format!("{}{}\n", EXAMPLE, bad_rows()[0]);
    let r = app.request(feed_request(Some(&inps.key), "application/x-ndjson", &feed)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["applied"].as_i64(), r.body["rejected"].as_i64()), (Some(7), Some(1)), "{}", r.body);
    let job = r.body["jobId"].as_str().unwrap().to_string();
    let get = |token: String, id: String| {
        axum::http::Request::get(format!("/inps/feed/jobs/{id}"))
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let r = app.request(get(inps.key.clone(), job.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"], "DONE");
    assert_eq!(r.body["rejections"][0]["field"], "household.members[1].fiscalCode", "{}", r.body);
    assert_eq!(r.body["rejections"][0]["line"], 9);
    // The trail says which key sent it.
    let client = entity::api_client::Entity::find_by_id(inps.id).one(&app.db).await.unwrap().unwrap();
    let by_key = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::ApiClientId.eq(client.id))
        .filter(entity::audit_event::Column::Entity.eq("case_file"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(by_key.len(), 4, "three cases opened, one closed");
    // Sent again: nothing changes.
    let r = app.request(feed_request(Some(&inps.key), "application/x-ndjson", &feed)).await;
    assert_eq!((r.body["applied"].as_i64(), r.body["unchanged"].as_i64()), (Some(0), Some(7)), "{}", r.body);

    // Who may not: another key's job, a CPI key, an operator, nobody; the wrong media type; not a feed.
    let other = api_key::create(&app.db, "INPS bis", Role::InpsFeed, None).await.unwrap();
    let r = app.request(get(other.key.clone(), job.clone())).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")), "{}", r.body);
    let cpi = api_key::create(&app.db, "CPI", Role::CpiPartner, None).await.unwrap();
    let r = app.request(feed_request(Some(&cpi.key), "application/x-ndjson", &feed)).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("FORBIDDEN")), "{}", r.body);
    let (token, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let r = app.request(feed_request(Some(&token), "application/x-ndjson", &feed)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app.request(feed_request(None, "application/x-ndjson", &feed)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app.request(feed_request(Some(&inps.key), "application/json", &feed)).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    let jobs = app.count("inps_feed_job").await;
    let r = app.request(feed_request(Some(&inps.key), "application/x-ndjson", "id;name\n")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("VALIDATION")),
        "{}",
        r.body
    );
    assert_eq!(app.count("inps_feed_job").await, jobs);
}

#[tokio::test]
async fn a_key_limited_to_an_ambito_sends_records_of_its_comuni_only() {
    use gepi::auth::api_key;
    let app = TestApp::seeded().await;
    let desio = entity::comune::Entity::find_by_id("108023".to_string()).one(&app.db).await.unwrap().unwrap();
    let ambito = entity::ambito::Entity::find_by_id(desio.ambito_id).one(&app.db).await.unwrap().unwrap();
    let key = api_key::create(&app.db, "INPS Desio", Role::InpsFeed, Some(&ambito.code)).await.unwrap();
    let r = app.request(feed_request(Some(&key.key), "application/x-ndjson", EXAMPLE)).await;
    // Bianchi (Desio, with a residency check and a validation request) and
    // Verdi (Varedo, the same Ambito) apply; Ferri (Triggiano) does not.
    assert_eq!((r.body["applied"].as_i64(), r.body["rejected"].as_i64()), (Some(5), Some(2)), "{}", r.body);
    let fields: Vec<&str> =
        r.body["rejections"].as_array().unwrap().iter().map(|x| x["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["household.comuneIstat", "household.comuneIstat"], "{}", r.body);
    assert!(application_opt(&app, "INPS-ADI-2026-90000002").await.is_none());
    // Ferri comes through the national feed; the Desio key can change nothing of it.
    let national = api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let r = app.request(feed_request(Some(&national.key), "application/x-ndjson", EXAMPLE)).await;
    assert_eq!(r.body["applied"].as_i64(), Some(2), "{}", r.body);
    let header = EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "2026-12-09-001");
    let status = json!({ "seq": 4001, "kind": "status", "protocol": "INPS-ADI-2026-90000002", "status": "DECADUTA", "on": "2026-12-09" });
    let mut update: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(3).unwrap()).unwrap();
    update["seq"] = json!(4002);
    update["monthsPaid"] = json!(3);
    // A validation request of a Desio household, certified in another Ambito: not this key's.
    let mut elsewhere: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(7).unwrap()).unwrap();
    elsewhere["seq"] = json!(4003);
    elsewhere["requestId"] = json!("INPS-SVA-2026-00000003");
    elsewhere["certifyingComuneIstat"] = json!("072046");
    let body = format!("{header}\n{status}\n{update}\n{elsewhere}\n");
    let r = app.request(feed_request(Some(&key.key), "application/x-ndjson", &body)).await;
    assert_eq!((r.body["applied"].as_i64(), r.body["rejected"].as_i64()), (Some(0), Some(3)), "{}", r.body);
    assert_eq!(r.body["rejections"][2]["field"], "certifyingComuneIstat", "{}", r.body);
    let ferri = application_opt(&app, "INPS-ADI-2026-90000002").await.unwrap();
    assert_eq!((ferri.status, ferri.months_paid), (ApplicationStatus::Accolta, 0));
}

#[tokio::test]
async fn a_member_living_outside_the_territory_is_a_rejected_row_not_a_stopped_feed() {
    let app = territory_only().await;
    let mut rec: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(1).unwrap()).unwrap();
    rec["household"]["members"][2]["residenceComuneIstat"] = json!("001272");
    let header = EXAMPLE.lines().next().unwrap();
    let rest: Vec<&str> = EXAMPLE.lines().skip(2).collect();
    let r = run(&app, &format!("{header}\n{rec}\n{}\n", rest.join("\n"))).await;
    // Bianchi's household is refused, and with it its check and its request.
    assert_eq!((r.applied, r.rejected), (4, 3), "{r:#?}");
    assert_eq!(r.rejections[0].field.as_deref(), Some("household.members[2].residenceComuneIstat"));
    assert_eq!(r.rejections[0].code, "NOT_FOUND");
}

async fn application_opt(app: &TestApp, protocol: &str) -> Option<entity::application::Model> {
    entity::application::Entity::find()
        .filter(entity::application::Column::InpsProtocol.eq(protocol))
        .one(&app.db)
        .await
        .unwrap()
}

/// A feed of `n` records mixing new households, changes of state, new members,
/// records sent twice and people claimed by a second household.
fn synthetic_feed(n: usize) -> String {
    use gepi::households::model::CodiceFiscale;
    let comuni = ["108023", "108045", "072046"];
    let mut person = 0i64;
    let mut next_cf = |female: bool| {
        person += 1;
        let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Duration::days(person * 7);
        let cf = CodiceFiscale::compute("Bianchi", if female { "Anna" } else { "Marco" }, birth, female, "D286");
        format!("{}|{birth}", cf.as_str())
    };
    let mut lines = vec![EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "SYNTH")];
    let mut apps: Vec<serde_json::Value> = Vec::new();
    for i in 0..n {
        let seq = 10_000 + i as i64;
        let member = |cf_birth: String, relation: &str, comune: &str| {
            let (cf, birth) = cf_birth.split_once('|').unwrap();
            json!({ "fiscalCode": cf, "firstName": "Anna", "lastName": "Bianchi", "birthDate": birth,
                "birthPlaceCode": "D286", "sex": if cf.as_bytes()[9] >= b'4' { "F" } else { "M" }, "citizenship": "ITA",
                "relation": relation, "residenceComuneIstat": comune, "residualBenefitMonths": 12 })
        };
        let line = match (i % 20, apps.len()) {
            (3 | 11, k) if k > 0 => {
                let target = &apps[(i * 7) % k];
                json!({ "seq": seq, "kind": "status", "protocol": target["protocol"],
                    "status": if i % 40 == 3 { "DECADUTA" } else { "SOSPESA" }, "on": "2026-12-01" })
            }
            (7, k) if k > 0 => {
                let mut rec = apps[(i * 3) % k].clone();
                rec["seq"] = json!(seq);
                let comune = rec["household"]["comuneIstat"].as_str().unwrap().to_string();
                let m = member(next_cf(i % 2 == 0), "FIGLIO", &comune);
                rec["household"]["members"].as_array_mut().unwrap().push(m);
                apps[(i * 3) % k] = rec.clone();
                rec
            }
            (13, _) if lines.len() > 2 => serde_json::from_str(&lines[lines.len() / 2]).unwrap(),
            (17, k) if k > 0 => {
                let mut rec = apps[k - 1].clone();
                rec["seq"] = json!(seq);
                rec["protocol"] = json!(format!("INPS-SYNTH-{seq}"));
                rec
            }
            _ => {
                let comune = comuni[i % 3];
                let mut members = vec![member(next_cf(i % 2 == 1), "RICHIEDENTE", comune)];
                for _ in 0..(i % 3) {
                    members.push(member(next_cf(i % 2 == 0), "FIGLIO", comune));
                }
                let rec = json!({ "seq": seq, "kind": "application", "protocol": format!("INPS-SYNTH-{seq}"),
                    "measure": "ADI", "submittedOn": "2026-09-01", "channel": "ONLINE", "padSignedOn": "2026-09-20",
                    "status": "ACCOLTA", "household": { "comuneIstat": comune, "compositionDate": "2026-08-20", "members": members } });
                apps.push(rec.clone());
                rec
            }
        };
        lines.push(line.to_string());
    }
    lines.join("\n") + "\n"
}

/// What the feed left in the database, by INPS's identifiers.
async fn state_of(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    let hh: std::collections::HashMap<uuid::Uuid, String> = entity::household::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.id, h.inps_protocol))
        .collect();
    for h in entity::household::Entity::find().all(&app.db).await.unwrap() {
        out.push(format!(
            "household {} {} {} v{}",
            h.inps_protocol, h.comune_istat, h.composition_date, h.composition_version
        ));
    }
    for m in entity::member::Entity::find().all(&app.db).await.unwrap() {
        out.push(format!(
            "member {} of {} {:?} {}",
            m.fiscal_code, hh[&m.household_id], m.relation, m.residence_comune_istat
        ));
    }
    for a in entity::application::Entity::find().all(&app.db).await.unwrap() {
        out.push(format!("application {} {:?} {}", a.inps_protocol, a.status, a.months_paid));
    }
    for c in entity::case_file::Entity::find().all(&app.db).await.unwrap() {
        out.push(format!("case of {} {:?} {} {}", hh[&c.household_id], c.state, c.pad_date, c.comune_istat));
    }
    for r in entity::inps_feed_record::Entity::find().all(&app.db).await.unwrap() {
        out.push(format!("ledger {} {} {}", r.seq, r.protocol, r.changed));
    }
    let audit = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.is_in(["household", "application", "case_file"]))
        .all(&app.db)
        .await
        .unwrap();
    out.push(format!("audit entries {}", audit.len()));
    out.sort();
    out
}

async fn territory_only() -> TestApp {
    let app = TestApp::new().await;
    let text = format!(
        "{}\nLOM-MB-DESIO;Ambito di Desio;Lombardia;108023;D286;Desio;MB\nLOM-MB-DESIO;Ambito di Desio;Lombardia;108045;L677;Varedo;MB\nPUG-BA-TRIGGIANO;Ambito di Triggiano;Puglia;072046;L425;Triggiano;BA\n",
        gepi::territory::service::IMPORT_HEADER
    );
    gepi::territory::service::import(&app.db, &text).await.unwrap();
    app
}

#[tokio::test]
async fn a_feed_read_in_chunks_leaves_what_its_records_applied_one_at_a_time_leave() {
    let feed = synthetic_feed(1_100);
    let whole = territory_only().await;
    let r = run(&whole, &feed).await;
    assert!(r.applied > 900 && r.unchanged > 20 && r.rejected > 20, "{:?}", (r.applied, r.unchanged, r.rejected));
    let mut lines = feed.lines();
    let header = lines.next().unwrap();
    let single = territory_only().await;
    let (mut applied, mut unchanged, mut rejected) = (0, 0, 0);
    for l in lines {
        let r = run(&single, &format!("{header}\n{l}\n")).await;
        applied += r.applied;
        unchanged += r.unchanged;
        rejected += r.rejected;
    }
    assert_eq!((r.applied, r.unchanged, r.rejected), (applied, unchanged, rejected));
    assert_eq!(state_of(&whole).await, state_of(&single).await);
}

#[tokio::test]
async fn a_household_moving_to_another_ambito_raises_a_transfer_of_its_case_once() {
    let app = TestApp::seeded().await;
    run(&app, EXAMPLE).await;
    let app_row = application(&app, "INPS-ADI-2026-90000001").await;
    let hh = entity::household::Entity::find_by_id(app_row.household_id).one(&app.db).await.unwrap().unwrap();
    let case = case_of(&app, "INPS-ADI-2026-90000001").await;
    let elsewhere = entity::comune::Entity::find()
        .filter(entity::comune::Column::AmbitoId.ne(hh.ambito_id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("a Comune of the other demo Ambito");
    let mut rec: serde_json::Value = serde_json::from_str(EXAMPLE.lines().nth(1).unwrap()).unwrap();
    rec["seq"] = json!(3101);
    rec["household"]["comuneIstat"] = json!(elsewhere.istat_code);
    for m in rec["household"]["members"].as_array_mut().unwrap() {
        m["residenceComuneIstat"] = json!(elsewhere.istat_code);
    }
    let header = EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "2026-12-09-001");
    let r = run(&app, &format!("{header}\n{rec}\n")).await;
    assert_eq!((r.applied, r.rejected), (1, 0), "{r:#?}");
    // The household stays with its case until the receiving Ambito accepts it.
    let after = entity::household::Entity::find_by_id(hh.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!((after.ambito_id, after.comune_istat.as_str()), (hh.ambito_id, hh.comune_istat.as_str()));
    let transfers = entity::case_transfer::Entity::find()
        .filter(entity::case_transfer::Column::CaseId.eq(case.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let t = &transfers[0];
    assert_eq!(
        (t.state, t.reason, t.to_ambito_id, t.to_comune_istat.as_str(), t.requested_by),
        (
            entity::enums::TransferState::Richiesto,
            entity::enums::TransferReason::SegnalazioneInps,
            elsewhere.ambito_id,
            elsewhere.istat_code.as_str(),
            None
        )
    );
    assert_eq!(t.due_on, gepi::calendar::add_working_days(gepi::calendar::today(), 10));
    for ambito in [hh.ambito_id, elsewhere.ambito_id] {
        let n = app
            .count(&format!(
                "audit_event WHERE entity = 'case_transfer' AND action = 'create' AND entity_id = '{}' AND ambito_id {}",
                t.id,
                match app.db.get_database_backend() {
                    sea_orm::DbBackend::Postgres => format!("= '{ambito}'"),
                    _ => format!("= X'{}'", ambito.simple()),
                }
            ))
            .await;
        assert_eq!(n, 1, "the request in the trail of {ambito}");
    }
    // The same residence reported again: no second request.
    rec["seq"] = json!(3102);
    rec["monthsPaid"] = json!(3);
    let header = EXAMPLE.lines().next().unwrap().replace("2026-12-06-001", "2026-12-10-001");
    let r = run(&app, &format!("{header}\n{rec}\n")).await;
    assert_eq!(r.rejected, 0, "{r:#?}");
    assert_eq!(app.count("case_transfer").await as usize, transfers.len() + seeded_transfers(&app, case.id).await);
}

/// The demo's own transfers (of other cases).
async fn seeded_transfers(app: &TestApp, except: uuid::Uuid) -> usize {
    entity::case_transfer::Entity::find()
        .filter(entity::case_transfer::Column::CaseId.ne(except))
        .all(&app.db)
        .await
        .unwrap()
        .len()
}
