//! The partners' change feed: an approved segnalazione reaches INPS through
//! `partnerEvents` (with what INPS knows it by, and nothing of the case), in
//! commit order with a cursor, and INPS acknowledges it; every other reader is
//! refused, and a key limited to an Ambito sees that Ambito's events only.

use entity::{
    audit_event,
    enums::{AuditAction, CaseState, PartnerAudience, PartnerEventKind, ReportState, Role},
    partner_event, report,
};
use gepi::{auth::api_key, ids};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

const RAISE: &str = "mutation($i: RaiseReportInput!) { raiseReport(input: $i) { id state version } }";
const DECIDE: &str = "mutation($i: DecideReportInput!) { decideReport(input: $i) { id state version } }";
const EVENTS: &str = "query($after: String) { partnerEvents(first: 50, after: $after) { totalCount edges { node { id kind occurredAt applicationProtocol fiscalCode comune { istatCode } report { id kind state factDate description decisionComment sentAt inpsAck version case { id } member { id } } } } pageInfo { endCursor hasNextPage } } }";
const ACK: &str = "mutation($i: AcknowledgeReportInput!) { acknowledgeReport(input: $i) { id state inpsAck version } }";

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

struct Scene {
    app: TestApp,
    coordinator: String,
    cm: String,
    ambito: entity::ambito::Model,
    household: builders::Household,
    case: entity::case_file::Model,
}

/// The demo data and, in the Ambito of a coordinator, a Comune with a household
/// whose case is in analysis with a case manager.
async fn scene() -> Scene {
    let app = TestApp::seeded().await;
    let (coordinator, cp, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let ambito = entity::ambito::Entity::find_by_id(cp.ambito_id.unwrap()).one(&app.db).await.unwrap().unwrap();
    let comune = builders::comune(&app.db, &ambito, "108991", "Z991", "Borgo dei Partner").await;
    let household = builders::household(&comune).members(2).insert(&app.db).await;
    let op = builders::operator("Lia", "Conti").insert(&app.db).await;
    let p = builders::profile(&op, Role::CaseManager).ambito(&ambito).comuni(&[&comune]).insert(&app.db).await;
    let case = builders::case_of(&household).state(CaseState::ApInCorso).manager(&op).insert(&app.db).await;
    let cm = app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await;
    Scene { app, coordinator, cm, ambito, household, case }
}

/// A segnalazione raised by the case manager and decided by the coordinator.
async fn sent_report(s: &Scene, approve: bool) -> Value {
    let m = &s.household.members[1];
    let r = s.app.gql(Some(&s.cm), RAISE, json!({ "i": { "caseId": ids::encode("Case", s.case.id), "kind": "MANCATA_PRESENTAZIONE", "factDate": s.case.pad_date, "description": "Assente all'incontro del 3 novembre", "memberId": ids::encode("Member", m.id) } })).await;
    let raised = ok(&r)["raiseReport"].clone();
    assert_eq!(raised["state"], "DA_APPROVARE");
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": raised["id"], "version": raised["version"], "approve": approve, "comment": "Nota interna del coordinatore" } })).await;
    ok(&r)["decideReport"].clone()
}

async fn events(app: &TestApp, key: &str, after: Option<&str>) -> Value {
    let r = app.gql(Some(key), EVENTS, json!({ "after": after })).await;
    ok(&r)["partnerEvents"].clone()
}

#[tokio::test]
async fn inps_collects_an_approved_segnalazione_from_its_feed_and_acknowledges_it() {
    let s = scene().await;
    let inps = api_key::create(&s.app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    assert_eq!(events(&s.app, &inps.key, None).await["totalCount"], 0, "nothing was sent yet");

    // A rejected segnalazione writes no event; an approved one writes one.
    let rejected = sent_report(&s, false).await;
    assert_eq!(rejected["state"], "RIFIUTATA");
    let sent = sent_report(&s, true).await;
    assert_eq!(sent["state"], "INVIATA");
    let page = events(&s.app, &inps.key, None).await;
    assert_eq!(page["totalCount"], 1, "{page}");
    let e = &page["edges"][0]["node"];
    assert_eq!(e["kind"], "SEGNALAZIONE_INVIATA");
    assert_eq!(e["applicationProtocol"], s.household.application.inps_protocol.as_str());
    assert_eq!(e["fiscalCode"], s.household.members[1].fiscal_code.as_str());
    assert_eq!(e["comune"]["istatCode"], "108991");
    let rep = &e["report"];
    assert_eq!(rep["id"], sent["id"]);
    assert_eq!(rep["kind"], "MANCATA_PRESENTAZIONE");
    assert_eq!(rep["description"], "Assente all'incontro del 3 novembre", "INPS reads the facts");
    assert!(rep["sentAt"].is_string());
    // Nothing INPS does not need: the coordinator's comment, the case, the member's record.
    assert!(rep["decisionComment"].is_null(), "{rep}");
    assert!(rep["case"].is_null(), "{rep}");
    assert!(rep["member"].is_null(), "{rep}");
    // Reading the identifiers is on the audit trail, under the key.
    let reads = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Read))
        .filter(audit_event::Column::ApiClientId.eq(inps.id))
        .count(&s.app.db)
        .await
        .unwrap();
    assert!(reads >= 1, "the key's reads are audited");

    // From the cursor, nothing more until something else is sent.
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    assert_eq!(events(&s.app, &inps.key, Some(&cursor)).await["edges"].as_array().unwrap().len(), 0);
    let second = sent_report(&s, true).await;
    let next = events(&s.app, &inps.key, Some(&cursor)).await;
    assert_eq!(next["edges"].as_array().unwrap().len(), 1, "{next}");
    assert_eq!(next["edges"][0]["node"]["report"]["id"], second["id"]);

    // The acknowledgement: bad protocol, then the protocol, then the same again, then another.
    let rid = sent["id"].as_str().unwrap();
    let r = s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rid, "inpsProtocol": "INPS 1" } })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.inpsProtocol");
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rid, "inpsProtocol": "INPS-2026-000123" } })).await;
    let acked = ok(&r)["acknowledgeReport"].clone();
    assert_eq!(acked["state"], "ACQUISITA");
    assert_eq!(acked["inpsAck"], "INPS-2026-000123");
    let transitions = || async {
        audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq(AuditAction::Transition))
            .filter(audit_event::Column::ApiClientId.eq(inps.id))
            .count(&s.app.db)
            .await
            .unwrap()
    };
    assert_eq!(transitions().await, 1, "the acknowledgement is audited under the key");
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rid, "inpsProtocol": "INPS-2026-000123" } })).await;
    assert_eq!(ok(&r)["acknowledgeReport"]["version"], acked["version"], "sent again, nothing changes");
    assert_eq!(transitions().await, 1);
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rid, "inpsProtocol": "INPS-2026-999999" } })).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let row = report::Entity::find_by_id(Uuid::parse_str(&ids::decode("id", rid).unwrap().1).unwrap())
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.state, row.inps_ack.as_deref()), (ReportState::Acquisita, Some("INPS-2026-000123")));
    // A stale version is refused.
    let second_id = second["id"].as_str().unwrap();
    let r = s
        .app
        .gql(Some(&inps.key), ACK, json!({ "i": { "reportId": second_id, "inpsProtocol": "P-2", "version": 999 } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // The coordinator sees the acknowledgement.
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            "query($id: ID!) { node(id: $id) { ... on Report { state inpsAck } } }",
            json!({ "id": rid }),
        )
        .await;
    assert_eq!(ok(&r)["node"]["state"], "ACQUISITA");

    // A segnalazione not sent is not there for INPS, by id or to acknowledge.
    let r =
        s.app.gql(Some(&inps.key), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": rejected["id"] })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rejected["id"], "inpsProtocol": "P-1" } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.reportId");
}

#[tokio::test]
async fn the_feed_is_the_partners_own_and_a_limited_key_sees_its_ambito_only() {
    let s = scene().await;
    let sent = sent_report(&s, true).await;
    let other = entity::ambito::Entity::find()
        .filter(entity::ambito::Column::Id.ne(s.ambito.id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let mine = api_key::create(&s.app.db, "INPS mine", Role::InpsFeed, Some(&s.ambito.code)).await.unwrap();
    let theirs = api_key::create(&s.app.db, "INPS theirs", Role::InpsFeed, Some(&other.code)).await.unwrap();
    let cpi = api_key::create(&s.app.db, "CPI", Role::CpiPartner, None).await.unwrap();
    assert_eq!(events(&s.app, &mine.key, None).await["totalCount"], 1);
    assert_eq!(events(&s.app, &theirs.key, None).await["totalCount"], 0);
    let r = s.app.gql(Some(&theirs.key), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "P-1" } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // The CPI reads its own audience only, and may not acknowledge.
    let r = s.app.gql(Some(&cpi.key), "{ partnerEvents { totalCount } }", json!({})).await;
    assert_eq!(ok(&r)["partnerEvents"]["totalCount"], 0);
    let r = s.app.gql(Some(&cpi.key), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "P-1" } })).await;
    assert!(error_code(&r).is_some(), "{r}");
    // No operator reads the feed, nor acknowledges.
    for token in [&s.coordinator, &s.cm] {
        let r = s.app.gql(Some(token), "{ partnerEvents { totalCount } }", json!({})).await;
        assert!(r["data"].is_null() || r["data"]["partnerEvents"].is_null(), "{r}");
        let r = s.app.gql(Some(token), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "P-1" } })).await;
        assert!(error_code(&r).is_some(), "{r}");
    }
    // By id: the type is refused to an operator, whatever the id (as for every
    // type a role may not read), and the row is missing for the other Ambito's key.
    let event = partner_event::Entity::find().one(&s.app.db).await.unwrap().unwrap();
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": ids::encode("PartnerEvent", event.id) }),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let r = s
        .app
        .gql(
            Some(&theirs.key),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": ids::encode("PartnerEvent", event.id) }),
        )
        .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r = s
        .app
        .gql(
            Some(&mine.key),
            "query($id: ID!) { node(id: $id) { ... on PartnerEvent { kind } } }",
            json!({ "id": ids::encode("PartnerEvent", event.id) }),
        )
        .await;
    assert_eq!(ok(&r)["node"]["kind"], "SEGNALAZIONE_INVIATA");
}

/// A change that writes an event while another one's is not committed waits
/// for it: events are numbered in commit order, and a reader's cursor never
/// passes over an event that commits later.
#[tokio::test]
async fn a_cursor_never_passes_an_event_that_commits_later() {
    use sea_orm::TransactionTrait;
    let app = TestApp::seeded().await;
    let inps = api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let c = entity::comune::Entity::find().one(&app.db).await.unwrap().unwrap();
    let event = move |kind| gepi::outbox::Event {
        audience: PartnerAudience::Inps,
        kind,
        ambito_id: c.ambito_id,
        comune_istat: c.istat_code.clone(),
        report_id: None,
        application_protocol: None,
        fiscal_code: None,
    };
    let slow = app.db.begin().await.unwrap();
    gepi::outbox::emit(&slow, event(PartnerEventKind::SegnalazioneInviata)).await.unwrap();
    let db = app.db.clone();
    let e2 = event(PartnerEventKind::SegnalazioneRettificata);
    let fast = tokio::spawn(async move {
        let t = db.begin().await.unwrap();
        gepi::outbox::emit(&t, e2).await.unwrap();
        t.commit().await.unwrap();
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!fast.is_finished(), "the second writer waits for the first one's commit");
    let page = events(&app, &inps.key, None).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 0, "nothing committed yet: {page}");
    slow.commit().await.unwrap();
    fast.await.unwrap();
    let page = events(&app, &inps.key, None).await;
    let kinds: Vec<&str> =
        page["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["SEGNALAZIONE_INVIATA", "SEGNALAZIONE_RETTIFICATA"], "in commit order");
}

/// `gepi partner-events purge` deletes the events past the retention and keeps
/// the others.
#[tokio::test]
async fn events_past_their_retention_are_purged() {
    let s = scene().await;
    sent_report(&s, true).await;
    sent_report(&s, true).await;
    let old = partner_event::Entity::find().one(&s.app.db).await.unwrap().unwrap();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(31);
    partner_event::Entity::update_many()
        .col_expr(partner_event::Column::OccurredAt, sea_orm::sea_query::Expr::value(long_ago))
        .filter(partner_event::Column::Id.eq(old.id))
        .exec(&s.app.db)
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
        .args(["partner-events", "purge"])
        .env("GEPI_DATABASE_URL", &s.app.url)
        .env("GEPI_PARTNER_EVENT_RETENTION_DAYS", "30")
        .env_remove("GEPI_CONFIG")
        .output()
        .expect("run gepi");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("deleted: 1 "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let left = partner_event::Entity::find().all(&s.app.db).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, old.id);
    // The last event written stays, however old: the next number follows it.
    partner_event::Entity::update_many()
        .col_expr(partner_event::Column::OccurredAt, sea_orm::sea_query::Expr::value(long_ago))
        .exec(&s.app.db)
        .await
        .unwrap();
    assert_eq!(gepi::outbox::purge_expired(&s.app.db, 30).await.unwrap(), 0);
    let last = sent_report(&s, true).await;
    let seqs: Vec<i64> = partner_event::Entity::find().all(&s.app.db).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs.len(), 2, "{last}");
    assert!(seqs.contains(&3), "numbers go on after a purge: {seqs:?}");
}
