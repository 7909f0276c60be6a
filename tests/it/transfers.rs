//! Case transfers between the two demo Ambiti: the request, the minimal card the
//! receiving coordinator decides on, the refusals, the acceptance that moves the
//! case and what hangs off it in one transaction, every role of the sending
//! Ambito losing the case at once, both trails, and the escalation on silence.

use entity::{audit_event, case_file, case_transfer, enums::*, household, meeting, profile};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

/// Logs in as the first operator holding `role` in `ambito` (and, for a role
/// of Comuni, covering `comune`).
async fn login_in(app: &TestApp, role: Role, ambito: Uuid, comune: Option<&str>) -> String {
    let profiles = profile::Entity::find()
        .filter(profile::Column::Role.eq(role))
        .filter(profile::Column::AmbitoId.eq(ambito))
        .order_by_asc(profile::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    for p in profiles {
        if let Some(c) = comune {
            let covers = entity::profile_comune::Entity::find()
                .filter(entity::profile_comune::Column::ProfileId.eq(p.id))
                .filter(entity::profile_comune::Column::ComuneIstat.eq(c))
                .one(&app.db)
                .await
                .unwrap()
                .is_some();
            if !covers {
                continue;
            }
        }
        let op = entity::operator::Entity::find_by_id(p.operator_id).one(&app.db).await.unwrap().unwrap();
        return app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await;
    }
    panic!("nobody holds {role:?} in {ambito} {comune:?}");
}

const REQUEST: &str = "mutation($i: RequestCaseTransferInput!) { requestCaseTransfer(input: $i) { id state version dueOn householdSize caseState padDate fromComune { istatCode } toComune { istatCode } case { id } } }";
const DECIDE: &str = "mutation($i: DecideCaseTransferInput!) { decideCaseTransfer(input: $i) { id state version rejectionReason decidedAt case { id state comune { istatCode } caseManager { id } } } }";
const CARDS: &str = "query($f: CaseTransferFilter) { caseTransfers(first: 50, filter: $f) { totalCount edges { node { id state householdSize caseState padDate firstMeetingOn escalatedAt toComune { istatCode } case { id } } } } }";
/// What a role could read of the case, by every way in.
const CONTENT: &str = "query($c: ID!, $h: ID!) { case(id: $c) { id state household { id } } household(id: $h) { id members { fiscalCode } } node(id: $c) { id } }";

async fn reads_nothing_of(app: &TestApp, token: &str, c: &case_file::Model, who: &str) {
    let r = app
        .gql(
            Some(token),
            CONTENT,
            json!({ "c": ids::encode("Case", c.id), "h": ids::encode("Household", c.household_id) }),
        )
        .await;
    let data = &r["data"];
    for path in ["case", "household", "node"] {
        let v = &data[path];
        assert!(v.is_null() || v.get("id").is_none(), "{who} still reads {path}: {r}");
    }
    assert!(!r.to_string().contains(&c.household_id.to_string()), "{who}: {r}");
    let r = app.gql(Some(token), "{ cases(first: 100) { edges { node { id } } } }", json!({})).await;
    assert!(!r.to_string().contains(&ids::encode("Case", c.id)), "{who} lists the case: {r}");
}

#[tokio::test]
async fn a_case_moves_to_another_ambito_and_the_sending_ambito_loses_it() {
    let app = TestApp::seeded().await;
    let ambiti = entity::ambito::Entity::find().order_by_asc(entity::ambito::Column::Id).all(&app.db).await.unwrap();
    assert!(ambiti.len() >= 2, "the demo has two Ambiti");
    let (a, b) = (&ambiti[0], &ambiti[1]);
    // The demo's transfers: none of these cases is the one moved here.
    let seeded: Vec<Uuid> =
        case_transfer::Entity::find().all(&app.db).await.unwrap().iter().map(|t| t.case_id).collect();
    // A case of Ambito A past its first meeting, with its case manager and a meeting planned.
    let c = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(a.id))
        .filter(case_file::Column::State.eq(CaseState::InMonitoraggio))
        .filter(case_file::Column::CaseManagerId.is_not_null())
        .filter(case_file::Column::Id.is_not_in(seeded.clone()))
        .order_by_asc(case_file::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a monitored case in the demo");
    let planned = builders::meeting_of(&c).insert(&app.db).await;
    let to = entity::comune::Entity::find()
        .filter(entity::comune::Column::AmbitoId.eq(b.id))
        .order_by_asc(entity::comune::Column::IstatCode)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let coord_a = login_in(&app, Role::PaisCoordinator, a.id, None).await;
    let coord_b = login_in(&app, Role::PaisCoordinator, b.id, None).await;
    let cm_op = entity::operator::Entity::find_by_id(c.case_manager_id.unwrap()).one(&app.db).await.unwrap().unwrap();
    let cm_profile = profile::Entity::find()
        .filter(profile::Column::OperatorId.eq(cm_op.id))
        .filter(profile::Column::Role.eq(Role::CaseManager))
        .filter(profile::Column::AmbitoId.eq(a.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let cm = app.login(&cm_op.fiscal_code, &ids::encode("Profile", cm_profile.id)).await;
    let registrar_a = login_in(&app, Role::MeetingRegistrar, a.id, Some(&c.comune_istat)).await;
    let admin_a = login_in(&app, Role::AmbitoAdmin, a.id, None).await;
    let admin_b = login_in(&app, Role::AmbitoAdmin, b.id, None).await;
    let case_gid = ids::encode("Case", c.id);
    let request = |version: i32, comune: &str| json!({ "i": { "caseId": case_gid, "version": version, "toComune": comune, "reason": "CAMBIO_RESIDENZA" } });

    // Refusals change nothing.
    for (input, code, field) in [
        (request(c.version, &c.comune_istat), "VALIDATION", Some("input.toComune")),
        (request(c.version, "999999"), "VALIDATION", Some("input.toComune")),
        (request(c.version, "12ab"), "VALIDATION", Some("input.toComune")),
        (request(c.version - 1, &to.istat_code), "CONFLICT", None),
    ] {
        let r = app.gql(Some(&coord_a), REQUEST, input.clone()).await;
        assert_eq!(error_code(&r), Some(code), "{input}: {r}");
        if let Some(f) = field {
            assert_eq!(r["errors"][0]["extensions"]["field"], f, "{r}");
        }
    }
    // The receiving coordinator cannot ask for a case it does not read; the case manager cannot ask at all.
    let r = app.gql(Some(&coord_b), REQUEST, request(c.version, &to.istat_code)).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r = app.gql(Some(&cm), REQUEST, request(c.version, &to.istat_code)).await;
    assert!(matches!(error_code(&r), Some("FORBIDDEN") | Some("VALIDATION")), "{r}");
    assert_eq!(app.count("case_transfer").await, seeded.len() as i64, "nothing written");

    let r = app.gql(Some(&coord_a), REQUEST, request(c.version, &to.istat_code)).await;
    let t = ok(&r)["requestCaseTransfer"].clone();
    assert_eq!(t["state"], "RICHIESTO");
    assert_eq!(t["caseState"], "IN_MONITORAGGIO");
    assert_eq!(t["toComune"]["istatCode"], to.istat_code.as_str());
    assert_eq!(t["case"]["id"], case_gid, "the sender still reads the case");
    let members = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(c.household_id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(t["householdSize"], members.len());
    assert_eq!(
        t["dueOn"],
        json!(gepi::calendar::add_working_days(gepi::calendar::today(), 10)),
        "ten working days by default"
    );
    let c1 = case_file::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(c1.version, c.version + 1, "the case's version moves");
    let r = app.gql(Some(&coord_a), REQUEST, request(c1.version, &to.istat_code)).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "one open request per case: {r}");

    // The receiving coordinator sees the card, not the case.
    let r = app.gql(Some(&coord_b), CARDS, json!({ "f": { "incoming": true } })).await;
    let cards = ok(&r)["caseTransfers"]["edges"].as_array().unwrap().clone();
    let card = &cards.iter().find(|e| e["node"]["id"] == t["id"]).expect("the card of the transfer")["node"];
    assert_eq!(card["toComune"]["istatCode"], to.istat_code.as_str());
    assert_eq!(card["householdSize"], members.len());
    assert_eq!(card["padDate"], json!(c.pad_date));
    assert!(card["case"].is_null(), "no content before acceptance: {r}");
    reads_nothing_of(&app, &coord_b, &c, "the receiving coordinator before acceptance").await;
    // The sending Ambito's administrator sees the transfer, not the card.
    let r = app.gql(Some(&admin_a), CARDS, json!({})).await;
    let admin_view = &ok(&r)["caseTransfers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == t["id"])
        .expect("the transfer")["node"];
    assert_eq!(admin_view["state"], "RICHIESTO");
    assert!(admin_view["householdSize"].is_null(), "{r}");

    // Only the receiving Ambito decides, and a rejection needs its reason.
    let decide = |v: &Value, extra: Value| {
        let mut i = json!({ "transferId": t["id"], "version": v });
        i.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "i": i })
    };
    let r = app.gql(Some(&coord_a), DECIDE, decide(&t["version"], json!({ "accept": true }))).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    for (extra, field) in [
        (json!({ "accept": false }), "input.rejectionReason"),
        (json!({ "accept": true, "rejectionReason": "ALTRO" }), "input.rejectionReason"),
        (json!({ "accept": false, "rejectionReason": "ALTRO" }), "input.note"),
    ] {
        let r = app.gql(Some(&coord_b), DECIDE, decide(&t["version"], extra.clone())).await;
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{extra}: {r}");
    }
    let t_id = Uuid::parse_str(&ids::decode("id", t["id"].as_str().unwrap()).unwrap().1).unwrap();
    assert_eq!(
        case_transfer::Entity::find_by_id(t_id).one(&app.db).await.unwrap().unwrap().state,
        TransferState::Richiesto,
        "nothing changed"
    );

    // Accepted: the case and what hangs off it move at once.
    let r = app.gql(Some(&coord_b), DECIDE, decide(&t["version"], json!({ "accept": true }))).await;
    let d = &ok(&r)["decideCaseTransfer"];
    assert_eq!(d["state"], "ACCETTATO");
    assert_eq!(d["case"]["id"], case_gid, "the receiving coordinator now reads the case");
    assert_eq!(d["case"]["state"], "IN_MONITORAGGIO", "a case past its first meeting keeps its stage");
    assert_eq!(d["case"]["comune"]["istatCode"], to.istat_code.as_str());
    assert!(d["case"]["caseManager"].is_null(), "it waits for a case manager of the new Ambito");
    let moved = case_file::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        (moved.ambito_id, moved.comune_istat.as_str(), moved.case_manager_id),
        (b.id, to.istat_code.as_str(), None)
    );
    let h = household::Entity::find_by_id(c.household_id).one(&app.db).await.unwrap().unwrap();
    assert_eq!((h.ambito_id, h.comune_istat.as_str()), (b.id, to.istat_code.as_str()));
    let m = meeting::Entity::find_by_id(planned.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!((m.state, m.ambito_id), (MeetingState::Annullato, b.id), "open meetings are cancelled");
    let r = app
        .gql(
            Some(&coord_b),
            "query($f: CaseFilter) { cases(first: 100, filter: $f) { edges { node { id } } } }",
            json!({ "f": { "unassigned": true } }),
        )
        .await;
    assert!(r.to_string().contains(&case_gid), "in the new coordinator's list to assign: {r}");

    // Every role of the sending Ambito lost it.
    for (who, token) in [
        ("the previous case manager", &cm),
        ("the sending coordinator", &coord_a),
        ("the registrar of the old Comune", &registrar_a),
        ("the sending administrator", &admin_a),
    ] {
        reads_nothing_of(&app, token, &c, who).await;
    }
    // Both trails record the transfer and the move.
    for ambito in [a.id, b.id] {
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::AmbitoId.eq(ambito))
            .filter(audit_event::Column::Entity.is_in(["case_transfer", "case_file"]))
            .filter(audit_event::Column::Action.is_in([AuditAction::Create, AuditAction::Transition]))
            .filter(
                audit_event::Column::EntityId
                    .is_in([c.id.to_string(), ids::decode("id", t["id"].as_str().unwrap()).unwrap().1]),
            )
            .all(&app.db)
            .await
            .unwrap();
        let got: Vec<(String, AuditAction)> = events.iter().map(|e| (e.entity.clone(), e.action)).collect();
        for want in [
            ("case_transfer".to_string(), AuditAction::Create),
            ("case_transfer".to_string(), AuditAction::Transition),
            ("case_file".to_string(), AuditAction::Transition),
        ] {
            assert!(got.contains(&want), "{ambito}: {want:?} in {got:?}");
        }
    }
    // Decided: nothing more can be done to it.
    let v = case_transfer::Entity::find_by_id(t_id).one(&app.db).await.unwrap().unwrap().version;
    let r = app
        .gql(Some(&coord_b), DECIDE, decide(&json!(v), json!({ "accept": false, "rejectionReason": "GIA_IN_CARICO" })))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");

    // A transfer the receiving Ambito leaves unanswered escalates to both
    // administrators, once, and is never accepted by itself.
    let back = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(a.id))
        .filter(case_file::Column::State.eq(CaseState::DaAssegnare))
        .filter(case_file::Column::Id.is_not_in(seeded.clone()))
        .one(&app.db)
        .await
        .unwrap()
        .expect("an unassigned case in the demo");
    let r = app.gql(Some(&coord_a), REQUEST, json!({ "i": { "caseId": ids::encode("Case", back.id), "version": back.version, "toComune": to.istat_code, "reason": "SEGNALAZIONE_INPS" } })).await;
    let t2 = ok(&r)["requestCaseTransfer"].clone();
    // The demo's own open requests from the last days are not due yet either.
    let due_now = gepi::transfers::service::escalate_overdue(&app.db, gepi::calendar::today()).await.unwrap();
    assert_eq!(due_now as usize, 0, "nothing is past its deadline today but what the demo escalated already");
    let late = gepi::calendar::today() + chrono::Duration::days(30);
    let open_unescalated = case_transfer::Entity::find()
        .filter(case_transfer::Column::State.eq(TransferState::Richiesto))
        .filter(case_transfer::Column::EscalatedAt.is_null())
        .all(&app.db)
        .await
        .unwrap()
        .len() as u64;
    assert_eq!(gepi::transfers::service::escalate_overdue(&app.db, late).await.unwrap(), open_unescalated);
    assert_eq!(gepi::transfers::service::escalate_overdue(&app.db, late).await.unwrap(), 0, "once");
    for admin in [&admin_a, &admin_b] {
        let r = app.gql(Some(admin), CARDS, json!({ "f": { "escalated": true } })).await;
        let edges = ok(&r)["caseTransfers"]["edges"].as_array().unwrap().clone();
        let e = &edges.iter().find(|e| e["node"]["id"] == t2["id"]).expect("escalated to both administrators")["node"];
        assert_eq!(e["state"], "RICHIESTO", "silence never accepts");
        assert!(e["escalatedAt"].is_string());
        assert!(edges.iter().all(|e| e["node"]["escalatedAt"].is_string()), "{r}");
    }
    let t2_id = ids::decode("id", t2["id"].as_str().unwrap()).unwrap().1;
    let escalations = app
        .count(&format!("audit_event WHERE entity = 'case_transfer' AND action = 'update' AND entity_id = '{t2_id}'"))
        .await;
    assert_eq!(escalations, 2, "one entry in each Ambito's trail");
    let row = case_transfer::Entity::find()
        .filter(case_transfer::Column::CaseId.eq(back.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let r = app
        .gql(
            Some(&coord_b),
            "mutation($i: CaseTransferVersionInput!) { withdrawCaseTransfer(input: $i) { state } }",
            json!({ "i": { "transferId": t2["id"], "version": row.version } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "only the sender withdraws: {r}");
    let r = app
        .gql(
            Some(&coord_a),
            "mutation($i: CaseTransferVersionInput!) { withdrawCaseTransfer(input: $i) { state } }",
            json!({ "i": { "transferId": t2["id"], "version": row.version } }),
        )
        .await;
    assert_eq!(ok(&r)["withdrawCaseTransfer"]["state"], "RITIRATO");
}
