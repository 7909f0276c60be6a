//! The partners' change feed: an approved segnalazione reaches INPS through
//! `partnerEvents` (with what INPS knows it by, and nothing of the case), in
//! commit order with a cursor, and INPS acknowledges it; every other reader is
//! refused, and a key limited to an Ambito sees that Ambito's events only.

use entity::{
    audit_event,
    enums::{AuditAction, CaseState, PartnerAudience, PartnerEventKind, PucProjectState, ReportState, Role},
    partner_event, report,
};
use gepi::{auth::api_key, ids};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

const RAISE: &str = "mutation($i: RaiseReportInput!) { raiseReport(input: $i) { id state version } }";
const DECIDE: &str = "mutation($i: DecideReportInput!) { decideReport(input: $i) { id state version } }";
const EVENTS: &str = "query($after: String) { partnerEvents(first: 50, after: $after) { totalCount edges { cursor node { id kind occurredAt applicationProtocol fiscalCode comune { istatCode } report { id kind state factDate description decisionComment sentAt inpsAck version case { id } member { id } } } } pageInfo { endCursor hasNextPage } } }";
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

/// A PUC project of `comune` in `state`, with one CPI place (and the
/// builder's two for the Comune's beneficiaries).
async fn cpi_project(
    app: &TestApp,
    comune: &entity::comune::Model,
    state: PucProjectState,
) -> entity::puc_project::Model {
    use entity::puc_project;
    let p = builders::puc_project(comune).insert(&app.db).await;
    puc_project::Entity::update_many()
        .col_expr(puc_project::Column::State, sea_orm::sea_query::Expr::value(state))
        .col_expr(puc_project::Column::PlacesCpi, sea_orm::sea_query::Expr::value(1))
        .filter(puc_project::Column::Id.eq(p.id))
        .exec(&app.db)
        .await
        .unwrap();
    puc_project::Model { state, places_cpi: 1, ..p }
}

/// A Responsabile PUC of `comune`, logged in.
async fn puc_manager(s: &Scene, comune: &entity::comune::Model) -> String {
    let op = builders::operator("Piero", "Verdi").insert(&s.app.db).await;
    let p = builders::profile(&op, Role::PucManager).ambito(&s.ambito).comuni(&[comune]).insert(&s.app.db).await;
    s.app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await
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

/// The UUID of the object `v` (its `id`).
fn uuid_of(v: &Value) -> Uuid {
    Uuid::parse_str(&ids::decode("id", v["id"].as_str().unwrap()).unwrap().1).unwrap()
}

/// `node(id:)` with `key`: the answer, whole.
async fn node(app: &TestApp, key: &str, id: Value) -> Value {
    app.gql(Some(key), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await
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
        .filter(audit_event::Column::Entity.eq("partner_event"))
        .filter(audit_event::Column::ApiClientId.eq(inps.id))
        .count(&s.app.db)
        .await
        .unwrap();
    assert_eq!(reads, 1, "the key's read of the event is audited");

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
    let row = report::Entity::find_by_id(uuid_of(&json!({ "id": rid }))).one(&s.app.db).await.unwrap().unwrap();
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
    let r = node(&s.app, &inps.key, json!(rejected["id"])).await;
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
    let r = node(&s.app, &theirs.key, json!(sent["id"])).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "another Ambito's segnalazione: {r}");
    let r = node(&s.app, &mine.key, json!(sent["id"])).await;
    assert_eq!(ok(&r)["node"]["id"], sent["id"]);
    // INPS's list of segnalazioni: the sent ones only (the seed has others, not sent).
    let national = api_key::create(&s.app.db, "INPS all", Role::InpsFeed, None).await.unwrap();
    let r = s
        .app
        .gql(
            Some(&national.key),
            "{ reports(first: 500) { totalCount edges { node { id state sentAt } } } }",
            json!({}),
        )
        .await;
    let listed = ok(&r)["reports"]["edges"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{r}");
    assert_eq!(listed[0]["node"]["id"], sent["id"]);
    assert!(s.app.count("report").await > 1);
    // The CPI reads its own audience only, and may not acknowledge.
    let r = s.app.gql(Some(&cpi.key), "{ partnerEvents { totalCount } }", json!({})).await;
    assert_eq!(ok(&r)["partnerEvents"]["totalCount"], 0);
    let r = s.app.gql(Some(&cpi.key), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "P-1" } })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "the CPI may not acknowledge: {r}");
    // No operator reads the feed, nor acknowledges.
    for token in [&s.coordinator, &s.cm] {
        let r = s.app.gql(Some(token), "{ partnerEvents { totalCount } }", json!({})).await;
        assert!(r["data"].is_null() || r["data"]["partnerEvents"].is_null(), "{r}");
        let r = s.app.gql(Some(token), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "P-1" } })).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "no operator acknowledges: {r}");
    }
    let row = report::Entity::find_by_id(uuid_of(&sent)).one(&s.app.db).await.unwrap().unwrap();
    assert_eq!((row.state, row.inps_ack), (ReportState::Inviata, None), "nothing changed");
    // By id: the type is refused to an operator, whatever the id (as for every
    // type a role may not read), and the row is missing for the other Ambito's key.
    let event = partner_event::Entity::find().one(&s.app.db).await.unwrap().unwrap();
    let r = node(&s.app, &s.coordinator, json!(ids::encode("PartnerEvent", event.id))).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let r = node(&s.app, &theirs.key, json!(ids::encode("PartnerEvent", event.id))).await;
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
    let s = scene().await;
    let inps = api_key::create(&s.app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let event = |report_id| gepi::outbox::Event {
        audience: PartnerAudience::Inps,
        kind: PartnerEventKind::SegnalazioneInviata,
        ambito_id: s.ambito.id,
        comune_istat: "108991".into(),
        subject: gepi::outbox::Subject::Report(report_id),
        application_id: None,
        member_id: None,
    };
    sent_report(&s, true).await;
    let page = events(&s.app, &inps.key, None).await;
    assert_eq!(page["edges"].as_array().unwrap().len(), 1);
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let report_id = partner_event::Entity::find().one(&s.app.db).await.unwrap().unwrap().report_id.unwrap();
    let ids_of = |page: &Value| -> Vec<String> {
        page["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_string()).collect()
    };
    // The first writer holds its turn; the second waits for it.
    let first = s.app.db.begin().await.unwrap();
    let e1 = gepi::outbox::emit(&first, event(report_id)).await.unwrap();
    let db = s.app.db.clone();
    let ev2 = event(report_id);
    let second = tokio::spawn(async move {
        let t = db.begin().await.unwrap();
        let id = gepi::outbox::emit(&t, ev2).await.unwrap();
        (t, id)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second writer waits for the first one's commit");
    first.commit().await.unwrap();
    let (second, e2) = second.await.unwrap();
    // The first is committed, the second not yet: a reader takes the first and
    // moves its cursor past it. (On SQLite the reader's own audit entry would
    // wait for the open writer: there, commit it first.)
    let cursor = if s.app.is_postgres() {
        let page = events(&s.app, &inps.key, Some(&cursor)).await;
        assert_eq!(ids_of(&page), [ids::encode("PartnerEvent", e1)], "{page}");
        page["pageInfo"]["endCursor"].as_str().unwrap().to_string()
    } else {
        second.commit().await.unwrap();
        let page = events(&s.app, &inps.key, Some(&cursor)).await;
        assert_eq!(ids_of(&page)[0], ids::encode("PartnerEvent", e1), "{page}");
        let c = page["edges"][0]["cursor"].as_str().unwrap().to_string();
        let page = events(&s.app, &inps.key, Some(&c)).await;
        assert_eq!(ids_of(&page), [ids::encode("PartnerEvent", e2)], "{page}");
        return;
    };
    second.commit().await.unwrap();
    let page = events(&s.app, &inps.key, Some(&cursor)).await;
    assert_eq!(ids_of(&page), [ids::encode("PartnerEvent", e2)], "the event committed later comes after the cursor");
    // A cursor of another list is refused as such.
    let r = s.app.gql(Some(&inps.key), EVENTS, json!({ "after": gepi::authz::gateway::encode_cursor(&sea_orm::Value::from("x".to_string()), Uuid::nil()) })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
}

/// `gepi partner-events purge` deletes the events past the retention and keeps
/// the others.
#[tokio::test]
async fn events_past_their_retention_are_purged() {
    let s = scene().await;
    sent_report(&s, true).await;
    sent_report(&s, true).await;
    let old =
        partner_event::Entity::find().order_by_asc(partner_event::Column::Seq).one(&s.app.db).await.unwrap().unwrap();
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
    // Every event past the retention goes; numbers go on after a purge.
    partner_event::Entity::update_many()
        .col_expr(partner_event::Column::OccurredAt, sea_orm::sea_query::Expr::value(long_ago))
        .exec(&s.app.db)
        .await
        .unwrap();
    assert_eq!(gepi::outbox::purge_expired(&s.app.db, 30).await.unwrap(), 1);
    assert_eq!(s.app.count("partner_event").await, 0);
    sent_report(&s, true).await;
    let seqs: Vec<i64> = partner_event::Entity::find().all(&s.app.db).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3], "a purge never gives a number again");
}

const PROPOSE_CPI: &str = "mutation($i: ProposeCpiBeneficiaryInput!) { proposeCpiBeneficiary(input: $i) { id source state version member { id } project { id } } }";

/// A Centro per l'impiego proposes its beneficiary, by codice fiscale, for a
/// CPI place, under the rules of every proposal; anyone else's codice fiscale
/// answers as an unknown one; it follows the CPI places only.
#[tokio::test]
async fn a_cpi_key_proposes_its_beneficiary_for_a_cpi_place() {
    use entity::{enums::PlaceSource, puc_assignment};
    let s = scene().await;
    let comune = entity::comune::Entity::find_by_id("108991".to_string()).one(&s.app.db).await.unwrap().unwrap();
    let project = cpi_project(&s.app, &comune, PucProjectState::Attivo).await;
    // Another household holds a Comune place of the same project.
    let other = builders::household(&comune).insert(&s.app.db).await;
    let other_case = builders::case_of(&other).insert(&s.app.db).await;
    let comune_place = builders::puc_assignment(&s.app.db, &project, &other, 0, &other_case).await;
    let cpi = api_key::create(&s.app.db, "CPI Borgo", Role::CpiPartner, None).await.unwrap();
    let pid = ids::encode("PucProject", project.id);
    let propose = |cf: &str| json!({ "i": { "projectId": pid, "fiscalCode": cf } });
    let before = s.app.count("puc_assignment").await;

    let r = s.app.gql(Some(&cpi.key), PROPOSE_CPI, propose("RSSMRA80A01")).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.fiscalCode");
    // Unknown to GePI, and a member not bound to work activation: the same answer.
    let stranger = builders::operator("Ugo", "Estranei").insert(&s.app.db).await;
    let unknown = s.app.gql(Some(&cpi.key), PROPOSE_CPI, propose(&stranger.fiscal_code)).await;
    let not_activable = s.app.gql(Some(&cpi.key), PROPOSE_CPI, propose(&s.household.members[1].fiscal_code)).await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    assert_eq!(unknown["errors"][0]["extensions"]["field"], "input.fiscalCode");
    assert_eq!(unknown["errors"], not_activable["errors"]);
    assert_eq!(s.app.count("puc_assignment").await, before, "nothing written");

    let r = s.app.gql(Some(&cpi.key), PROPOSE_CPI, propose(&s.household.members[0].fiscal_code.to_lowercase())).await;
    let a = ok(&r)["proposeCpiBeneficiary"].clone();
    assert_eq!((a["source"].as_str(), a["state"].as_str()), (Some("CPI"), Some("PROPOSTO")));
    assert_eq!(a["project"]["id"], pid);
    assert!(a["member"].is_null(), "the CPI does not read the member's record: {a}");
    let row = puc_assignment::Entity::find()
        .filter(puc_assignment::Column::Source.eq(PlaceSource::Cpi))
        .filter(puc_assignment::Column::ProjectId.eq(project.id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.member_id, row.case_id, row.proposed_by), (s.household.members[0].id, Some(s.case.id), None));
    let audited = audit_event::Entity::find()
        .filter(audit_event::Column::Entity.eq("puc_assignment"))
        .filter(audit_event::Column::Action.eq(AuditAction::Create))
        .filter(audit_event::Column::ApiClientId.eq(cpi.id))
        .count(&s.app.db)
        .await
        .unwrap();
    assert_eq!(audited, 1, "the audit trail names the key");

    // The only CPI place is taken: the next proposal is a conflict.
    let r = s.app.gql(Some(&cpi.key), PROPOSE_CPI, propose(&other.members[0].fiscal_code)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // The CPI follows the CPI places, not the Comune's.
    let r = s
        .app
        .gql(
            Some(&cpi.key),
            "query($id: ID!) { node(id: $id) { ... on PucProject { assignments { id source } } } }",
            json!({ "id": pid }),
        )
        .await;
    let seen: Vec<&str> =
        ok(&r)["node"]["assignments"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(seen, [a["id"].as_str().unwrap()], "{r}");
    let r = node(&s.app, &cpi.key, json!(ids::encode("PucAssignment", comune_place.id))).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");

    // A key of another Ambito does not find the project.
    let other_ambito = entity::ambito::Entity::find()
        .filter(entity::ambito::Column::Id.ne(s.ambito.id))
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let far = api_key::create(&s.app.db, "CPI lontano", Role::CpiPartner, Some(&other_ambito.code)).await.unwrap();
    let r = s.app.gql(Some(&far.key), PROPOSE_CPI, propose(&other.members[0].fiscal_code)).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.projectId");
    // Operators propose members by id; the partner by codice fiscale only.
    let pm = puc_manager(&s, &comune).await;
    for token in [&s.cm, &pm] {
        let r = s.app.gql(Some(token), PROPOSE_CPI, propose(&other.members[0].fiscal_code)).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    }
    assert_eq!(s.app.count("puc_assignment").await, before + 1);
    // A project that takes no proposal answers so before looking at the person:
    // the same for a beneficiary and for a stranger.
    let ended = cpi_project(&s.app, &comune, PucProjectState::Concluso).await;
    let on =
        |project: Uuid, cf: &str| json!({ "i": { "projectId": ids::encode("PucProject", project), "fiscalCode": cf } });
    let known = s.app.gql(Some(&cpi.key), PROPOSE_CPI, on(ended.id, &other.members[0].fiscal_code)).await;
    let stranger_answer = s.app.gql(Some(&cpi.key), PROPOSE_CPI, on(ended.id, &stranger.fiscal_code)).await;
    assert_eq!(error_code(&known), Some("CONFLICT"), "{known}");
    assert_eq!(known, stranger_answer);
    // A draft project is not in the partners' catalogue at all.
    let draft = cpi_project(&s.app, &comune, PucProjectState::Bozza).await;
    let r = s.app.gql(Some(&cpi.key), PROPOSE_CPI, on(draft.id, &other.members[0].fiscal_code)).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.projectId");
    let r = node(&s.app, &cpi.key, json!(ids::encode("PucProject", draft.id))).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r = s
        .app
        .gql(
            Some(&cpi.key),
            "mutation { proposePucAssignment(input: { projectId: \"x\", memberId: \"y\", source: CPI }) { id } }",
            json!({}),
        )
        .await;
    assert!(error_code(&r).is_some(), "{r}");
}

const RECTIFY: &str = "mutation($i: RectifyReportInput!) { rectifyReport(input: $i) { id state version factDate description rectificationOf { id state } } }";

async fn report_row(app: &TestApp, v: &Value) -> report::Model {
    report::Entity::find_by_id(uuid_of(v)).one(&app.db).await.unwrap().unwrap()
}

/// A segnalazione already sent (and acknowledged) is rectified: the
/// rectification is approved like any segnalazione, replaces the first, and
/// reaches INPS as a `SEGNALAZIONE_RETTIFICATA` event naming both.
#[tokio::test]
async fn a_rectified_segnalazione_reaches_inps_naming_the_one_it_replaces() {
    let s = scene().await;
    let inps = api_key::create(&s.app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let sent = sent_report(&s, true).await;
    let page = events(&s.app, &inps.key, None).await;
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "INPS-77" } })).await;
    ok(&r);
    let v = report_row(&s.app, &sent).await.version;
    let rectify = |version: i32, date: chrono::NaiveDate| json!({ "i": { "reportId": sent["id"], "version": version, "factDate": date, "description": "Assente all'incontro del 4 novembre, non del 3" } });
    // A future date, a stale version: refused, nothing written.
    let before = s.app.count("report").await;
    let r = s.app.gql(Some(&s.cm), RECTIFY, rectify(v, gepi::calendar::today() + chrono::Duration::days(1))).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.factDate");
    let r = s.app.gql(Some(&s.cm), RECTIFY, rectify(v - 1, s.case.pad_date)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert_eq!(s.app.count("report").await, before);

    let r = s.app.gql(Some(&s.cm), RECTIFY, rectify(v, s.case.pad_date)).await;
    let rect = ok(&r)["rectifyReport"].clone();
    assert_eq!(rect["state"], "DA_APPROVARE");
    assert_eq!(rect["rectificationOf"]["id"], sent["id"]);
    assert_eq!(rect["rectificationOf"]["state"], "ACQUISITA", "unchanged until the rectification is approved");
    let v = report_row(&s.app, &sent).await.version;
    let r = s.app.gql(Some(&s.cm), RECTIFY, rectify(v, s.case.pad_date)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "one rectification at a time: {r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("awaiting approval"), "{r}");
    // Nothing for INPS until it is approved.
    assert_eq!(events(&s.app, &inps.key, Some(&cursor)).await["edges"].as_array().unwrap().len(), 0);

    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            DECIDE,
            json!({ "i": { "reportId": rect["id"], "version": rect["version"], "approve": true } }),
        )
        .await;
    assert_eq!(ok(&r)["decideReport"]["state"], "INVIATA");
    assert_eq!(report_row(&s.app, &sent).await.state, ReportState::Rettificata);
    let page = events(&s.app, &inps.key, Some(&cursor)).await;
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{page}");
    let e = &edges[0]["node"];
    assert_eq!(e["kind"], "SEGNALAZIONE_RETTIFICATA");
    assert_eq!(e["fiscalCode"], s.household.members[1].fiscal_code.as_str());
    assert_eq!(e["report"]["id"], rect["id"]);
    let r = s
        .app
        .gql(
            Some(&inps.key),
            "query($id: ID!) { node(id: $id) { ... on Report { description rectificationOf { id state inpsAck } } } }",
            json!({ "id": rect["id"] }),
        )
        .await;
    let n = &ok(&r)["node"];
    assert_eq!(n["rectificationOf"]["id"], sent["id"]);
    assert_eq!(n["rectificationOf"]["state"], "RETTIFICATA");
    assert_eq!(n["rectificationOf"]["inpsAck"], "INPS-77");
    assert_eq!(n["description"], "Assente all'incontro del 4 novembre, non del 3");
    // A segnalazione already rectified is not rectified again.
    let v = report_row(&s.app, &sent).await.version;
    let r = s.app.gql(Some(&s.cm), RECTIFY, rectify(v, s.case.pad_date)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");

    // A rejected rectification leaves the one it would replace as it was.
    let rect2 = {
        let v = report_row(&s.app, &rect).await.version;
        let r = s.app.gql(Some(&s.cm), RECTIFY, json!({ "i": { "reportId": rect["id"], "version": v, "factDate": s.case.pad_date, "description": "Altra rettifica" } })).await;
        ok(&r)["rectifyReport"].clone()
    };
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": rect2["id"], "version": rect2["version"], "approve": false, "comment": "Non necessaria" } })).await;
    assert_eq!(ok(&r)["decideReport"]["state"], "RIFIUTATA");
    assert_eq!(report_row(&s.app, &rect).await.state, ReportState::Inviata);
    assert_eq!(events(&s.app, &inps.key, None).await["totalCount"], 2, "no event for a rejected rectification");
    // Rectified before INPS acknowledged it: INPS still records its protocol.
    let v = report_row(&s.app, &rect).await.version;
    let r = s.app.gql(Some(&s.cm), RECTIFY, json!({ "i": { "reportId": rect["id"], "version": v, "factDate": s.case.pad_date, "description": "Terza versione" } })).await;
    let rect3 = ok(&r)["rectifyReport"].clone();
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            DECIDE,
            json!({ "i": { "reportId": rect3["id"], "version": rect3["version"], "approve": true } }),
        )
        .await;
    ok(&r);
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": rect["id"], "inpsProtocol": "INPS-78" } })).await;
    assert_eq!(
        (ok(&r)["acknowledgeReport"]["state"].as_str(), ok(&r)["acknowledgeReport"]["inpsAck"].as_str()),
        (Some("RETTIFICATA"), Some("INPS-78"))
    );
}

const ANNUL: &str = "mutation($i: AnnulReportInput!) { annulReport(input: $i) { id state version annuls factDate description rectificationOf { id state } } }";

/// A segnalazione already sent is annulled inside GePI with the same
/// maker-checker as the others: the case manager asks, the coordinator
/// approves, INPS collects a `SEGNALAZIONE_ANNULLATA` event; a rejected request
/// leaves it as it was.
#[tokio::test]
async fn an_annulled_segnalazione_is_withdrawn_after_the_coordinators_approval() {
    let s = scene().await;
    let inps = api_key::create(&s.app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let sent = sent_report(&s, true).await;
    let cursor = events(&s.app, &inps.key, None).await["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let annul =
        |version: i32, reason: &str| json!({ "i": { "reportId": sent["id"], "version": version, "reason": reason } });
    let v = report_row(&s.app, &sent).await.version;
    // No reason, a stale version: refused, nothing written.
    let before = s.app.count("report").await;
    let r = s.app.gql(Some(&s.cm), ANNUL, annul(v, " ")).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.reason", "{r}");
    let r = s.app.gql(Some(&s.cm), ANNUL, annul(v - 1, "Inviata per errore")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert_eq!(s.app.count("report").await, before);
    // The coordinator may not ask (it decides); the case manager asks.
    let r = s.app.gql(Some(&s.coordinator), ANNUL, annul(v, "Inviata per errore")).await;
    assert!(matches!(error_code(&r), Some("FORBIDDEN") | Some("VALIDATION") | Some("NOT_FOUND")), "{r}");
    let r = s
        .app
        .gql(Some(&s.cm), ANNUL, annul(v, "Inviata per errore: il nucleo era stato convocato a un indirizzo errato"))
        .await;
    let req = ok(&r)["annulReport"].clone();
    assert_eq!((req["state"].as_str(), req["annuls"].as_bool()), (Some("DA_APPROVARE"), Some(true)));
    assert_eq!(req["rectificationOf"]["id"], sent["id"]);
    assert_eq!(req["rectificationOf"]["state"], "INVIATA", "unchanged until approved");
    assert_eq!(req["factDate"], report_row(&s.app, &sent).await.fact_date.to_string());
    // One request at a time, whether rectification or annulment.
    let v = report_row(&s.app, &sent).await.version;
    let r = s.app.gql(Some(&s.cm), ANNUL, annul(v, "Di nuovo")).await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("an annulment awaiting approval"), "{r}");
    let r = s
        .app
        .gql(
            Some(&s.cm),
            RECTIFY,
            json!({ "i": { "reportId": sent["id"], "version": v, "factDate": s.case.pad_date, "description": "x" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Rejected: nothing changes for INPS.
    let r = s.app.gql(Some(&s.coordinator), DECIDE, json!({ "i": { "reportId": req["id"], "version": req["version"], "approve": false, "comment": "La convocazione era valida" } })).await;
    assert_eq!(ok(&r)["decideReport"]["state"], "RIFIUTATA");
    assert_eq!(report_row(&s.app, &sent).await.state, ReportState::Inviata);
    assert_eq!(events(&s.app, &inps.key, Some(&cursor)).await["edges"].as_array().unwrap().len(), 0);
    // Asked again and approved: withdrawn, and INPS collects it.
    let v = report_row(&s.app, &sent).await.version;
    let r = s.app.gql(Some(&s.cm), ANNUL, annul(v, "Convocazione a indirizzo errato, verificata")).await;
    let req = ok(&r)["annulReport"].clone();
    let r = s
        .app
        .gql(
            Some(&s.coordinator),
            DECIDE,
            json!({ "i": { "reportId": req["id"], "version": req["version"], "approve": true } }),
        )
        .await;
    assert_eq!(ok(&r)["decideReport"]["state"], "INVIATA");
    assert_eq!(report_row(&s.app, &sent).await.state, ReportState::Annullata);
    let page = events(&s.app, &inps.key, Some(&cursor)).await;
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{page}");
    assert_eq!(edges[0]["node"]["kind"], "SEGNALAZIONE_ANNULLATA");
    assert_eq!(edges[0]["node"]["report"]["id"], req["id"]);
    // INPS still records its protocol on the one withdrawn; nothing more can be asked of it.
    let r =
        s.app.gql(Some(&inps.key), ACK, json!({ "i": { "reportId": sent["id"], "inpsProtocol": "INPS-90" } })).await;
    assert_eq!(ok(&r)["acknowledgeReport"]["state"], "ANNULLATA");
    let v = report_row(&s.app, &sent).await.version;
    let r = s.app.gql(Some(&s.cm), ANNUL, annul(v, "Ancora")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Nor is the annulment itself annulled or rectified.
    let v = report_row(&s.app, &req).await.version;
    let r = s
        .app
        .gql(Some(&s.cm), ANNUL, json!({ "i": { "reportId": req["id"], "version": v, "reason": "Ripensamento" } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = s
        .app
        .gql(
            Some(&s.cm),
            RECTIFY,
            json!({ "i": { "reportId": req["id"], "version": v, "factDate": s.case.pad_date, "description": "x" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert_eq!(report_row(&s.app, &req).await.state, ReportState::Inviata);
}

/// The start of a PUC reaches INPS and, for a CPI place, the CPI: each reads
/// the assignment through its event under its own rules (state and dates,
/// never the member's record or the reason of an interruption); what has no
/// event yet (a proposal, a check without outcome, a draft pact) INPS does not read.
#[tokio::test]
async fn puc_starts_reach_inps_and_the_cpi_under_their_own_rules() {
    use entity::{enums::PlaceSource, puc_assignment};
    let s = scene().await;
    let comune = entity::comune::Entity::find_by_id("108991".to_string()).one(&s.app.db).await.unwrap().unwrap();
    let project = cpi_project(&s.app, &comune, PucProjectState::Attivo).await;
    let cpi = api_key::create(&s.app.db, "CPI", Role::CpiPartner, None).await.unwrap();
    let inps = api_key::create(&s.app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let r = s.app.gql(Some(&cpi.key), PROPOSE_CPI, json!({ "i": { "projectId": ids::encode("PucProject", project.id), "fiscalCode": s.household.members[0].fiscal_code } })).await;
    let proposed = ok(&r)["proposeCpiBeneficiary"].clone();
    // Proposed only: no event, and INPS does not read it.
    assert_eq!(events(&s.app, &inps.key, None).await["totalCount"], 0);
    let r = node(&s.app, &inps.key, json!(proposed["id"])).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");

    let pm = puc_manager(&s, &comune).await;
    let r = s.app.gql(Some(&pm), "mutation($i: PucAssignmentStepInput!) { stepPucAssignment(input: $i) { state } }", json!({ "i": { "assignmentId": proposed["id"], "version": proposed["version"], "startOn": gepi::calendar::today(), "inailRef": "INAIL-9" } })).await;
    assert_eq!(ok(&r)["stepPucAssignment"]["state"], "ATTIVO");
    let q = "{ partnerEvents { edges { node { kind fiscalCode applicationProtocol pucAssignment { id state source startsOn plannedEndOn inailRef interruptionReason member { id } project { id } } } } } }";
    for key in [&inps.key, &cpi.key] {
        let r = s.app.gql(Some(key), q, json!({})).await;
        let edges = ok(&r)["partnerEvents"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 1, "{r}");
        let e = &edges[0]["node"];
        assert_eq!(e["kind"], "PUC_AVVIATO");
        assert_eq!(e["fiscalCode"], s.household.members[0].fiscal_code.as_str());
        // INPS's protocol goes to INPS only.
        assert_eq!(e["applicationProtocol"].is_string(), key == &inps.key, "{e}");
        let a = &e["pucAssignment"];
        assert_eq!(
            (a["id"].clone(), a["state"].as_str(), a["source"].as_str()),
            (proposed["id"].clone(), Some("ATTIVO"), Some("CPI"))
        );
        assert!(a["startsOn"].is_string() && a["plannedEndOn"].is_string());
        assert!(a["member"].is_null() && a["inailRef"].is_null() && a["interruptionReason"].is_null(), "{a}");
    }
    let row = puc_assignment::Entity::find_by_id(uuid_of(&proposed)).one(&s.app.db).await.unwrap().unwrap();
    assert_eq!(row.source, PlaceSource::Cpi);

    // A residency check without an outcome is not INPS's to read.
    let check = entity::residency_check::Entity::find()
        .filter(entity::residency_check::Column::FinalisedAt.is_null())
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    let r = node(&s.app, &inps.key, json!(ids::encode("ResidencyCheck", check.id))).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r = s
        .app
        .gql(
            Some(&inps.key),
            "{ residencyChecks(first: 500) { edges { node { id outcome member { id } } } } }",
            json!({}),
        )
        .await;
    for e in ok(&r)["residencyChecks"]["edges"].as_array().unwrap() {
        assert!(e["node"]["outcome"].is_string() && e["node"]["member"].is_null(), "{e}");
    }
    // Nor a draft pact.
    if let Some(draft) =
        entity::pact::Entity::find().filter(entity::pact::Column::SignedOn.is_null()).one(&s.app.db).await.unwrap()
    {
        let r = node(&s.app, &inps.key, json!(ids::encode("Pact", draft.id))).await;
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    }
}

/// The partner roles, as a property over the seeded data: for INPS and a CPI,
/// national and limited to an Ambito, the rows each reads of every type its
/// events name are exactly those its rules say, computed here from the tables.
#[tokio::test]
async fn each_partner_reads_exactly_the_rows_its_rules_give_it() {
    use std::collections::BTreeSet;

    use entity::{enums::PlaceSource, enums::PucAssignmentState, puc_assignment, puc_project, residency_check};
    let app = TestApp::seeded().await;
    let ambito = entity::ambito::Entity::find().one(&app.db).await.unwrap().unwrap();
    let projects = puc_project::Entity::find().all(&app.db).await.unwrap();
    let ambito_of = |project: Uuid| projects.iter().find(|p| p.id == project).unwrap().ambito_id;
    let checks = residency_check::Entity::find().all(&app.db).await.unwrap();
    // One assignment only proposed (the seed's have all started).
    let first = puc_assignment::Entity::find().one(&app.db).await.unwrap().unwrap();
    puc_assignment::Entity::update_many()
        .col_expr(puc_assignment::Column::State, sea_orm::sea_query::Expr::value(PucAssignmentState::Proposto))
        .filter(puc_assignment::Column::Id.eq(first.id))
        .exec(&app.db)
        .await
        .unwrap();
    let assignments = puc_assignment::Entity::find().all(&app.db).await.unwrap();
    assert!(checks.iter().any(|c| c.finalised_at.is_some()) && checks.iter().any(|c| c.finalised_at.is_none()));
    let ids_in = |v: &Value, path: &[&str]| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for e in v["edges"].as_array().unwrap() {
            let mut nodes = vec![e["node"].clone()];
            for step in path {
                nodes = nodes.iter().flat_map(|n| n[*step].as_array().cloned().unwrap_or_default()).collect();
            }
            out.extend(nodes.iter().map(|n| n["id"].as_str().unwrap().to_string()));
        }
        out
    };
    for (role, limited) in
        [(Role::InpsFeed, false), (Role::InpsFeed, true), (Role::CpiPartner, false), (Role::CpiPartner, true)]
    {
        let name = format!("{role:?} {limited}");
        let key = api_key::create(&app.db, &name, role, limited.then_some(ambito.code.as_str())).await.unwrap();
        let in_scope = |a: Uuid| !limited || a == ambito.id;
        let expected: BTreeSet<String> = assignments
            .iter()
            .filter(|a| in_scope(ambito_of(a.project_id)))
            .filter(|a| match role {
                Role::InpsFeed => a.state != PucAssignmentState::Proposto,
                _ => a.source == PlaceSource::Cpi,
            })
            .map(|a| ids::encode("PucAssignment", a.id))
            .collect();
        // By id, every assignment of the seed.
        let mut seen = BTreeSet::new();
        for a in &assignments {
            let id = ids::encode("PucAssignment", a.id);
            let r = node(&app, &key.key, json!(id)).await;
            if r["data"]["node"].is_object() {
                seen.insert(id);
            } else {
                assert_eq!(error_code(&r), Some("NOT_FOUND"), "{name}: {r}");
            }
        }
        assert_eq!(seen, expected, "{name}: PUC assignments by id");
        assert!(
            (limited || !expected.is_empty()) && expected.len() < assignments.len(),
            "{name}: the seed tells the rule apart"
        );
        // The CPI also follows them through the catalogue.
        if role == Role::CpiPartner {
            let q = "{ pucProjects(first: 100) { totalCount edges { node { id assignments { id } } } } }";
            let r = app.gql(Some(&key.key), q, json!({})).await;
            let page = &ok(&r)["pucProjects"];
            assert!(page["totalCount"].as_u64().unwrap() <= 100, "one page holds them all");
            assert_eq!(ids_in(page, &["assignments"]), expected, "{name}: PUC assignments of the catalogue");
        }
        if role == Role::InpsFeed {
            let expected: BTreeSet<String> = checks
                .iter()
                .filter(|c| c.finalised_at.is_some() && in_scope(c.ambito_id))
                .map(|c| ids::encode("ResidencyCheck", c.id))
                .collect();
            let r =
                app.gql(Some(&key.key), "{ residencyChecks(first: 500) { edges { node { id } } } }", json!({})).await;
            assert_eq!(ids_in(&ok(&r)["residencyChecks"], &[]), expected, "{name}: residency checks");
            // Pacts: by id, the signed ones only.
            let mut outcomes = BTreeSet::new();
            for p in entity::pact::Entity::find().all(&app.db).await.unwrap().iter().take(40) {
                let case = entity::case_file::Entity::find_by_id(p.case_id).one(&app.db).await.unwrap().unwrap();
                let r = node(&app, &key.key, json!(ids::encode("Pact", p.id))).await;
                let visible = p.signed_on.is_some() && in_scope(case.ambito_id);
                assert_eq!(r["data"]["node"].is_object(), visible, "{name}: pact {}: {r}", p.id);
                outcomes.insert(visible);
            }
            assert_eq!(outcomes.len(), 2, "{name}: the pacts probed include some INPS reads and some it does not");
        }
    }
}
