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
/// Asks `q` and checks the answer names none of `ids`: either the root is not
/// in the role's schema (a validation error, nothing run) or the row is not
/// found; never a value.
async fn never_answers(app: &TestApp, token: &str, q: &str, vars: Value, ids: &[String], who: &str) -> Value {
    let r = app.gql(Some(token), q, vars).await;
    let text = r.to_string();
    for id in ids {
        assert!(!text.contains(id.as_str()), "{who} reads {id} through {q}: {r}");
    }
    if !r["errors"].is_null() {
        let code = error_code(&r).unwrap_or("none");
        let unknown = r["errors"][0]["message"].as_str().unwrap_or("").contains("Unknown field");
        assert!(code == "NOT_FOUND" || code == "FORBIDDEN" || unknown, "{who}: {q}: {r}");
    }
    r
}

/// Every way a role could reach the case or what hangs off it: by id, `node`,
/// the lists paged to the end.
async fn reads_nothing_of(app: &TestApp, token: &str, c: &case_file::Model, rows: &[String], who: &str) {
    let case = ids::encode("Case", c.id);
    let hh = ids::encode("Household", c.household_id);
    let mut all = vec![case.clone(), hh.clone()];
    all.extend(rows.iter().cloned());
    for (q, vars) in [
        ("query($c: ID!) { case(id: $c) { id } }", json!({ "c": case })),
        ("query($c: ID!) { node(id: $c) { id } }", json!({ "c": case })),
        ("query($h: ID!) { household(id: $h) { id members { id } } }", json!({ "h": hh })),
        ("query($h: ID!) { node(id: $h) { id } }", json!({ "h": hh })),
    ] {
        never_answers(app, token, q, vars, &all, who).await;
    }
    for row in rows {
        never_answers(app, token, "query($i: ID!) { node(id: $i) { id } }", json!({ "i": row }), &all, who).await;
    }
    for root in ["cases", "households", "meetings", "reports"] {
        let q = format!(
            "query($a: String) {{ {root}(first: 100, after: $a) {{ pageInfo {{ hasNextPage endCursor }} edges {{ node {{ id }} }} }} }}"
        );
        let mut after = Value::Null;
        for _ in 0..200 {
            let r = never_answers(app, token, &q, json!({ "a": after }), &all, who).await;
            if r["data"][root]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = r["data"][root]["pageInfo"]["endCursor"].clone();
        }
    }
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
    // Health notes in its analysis (special: they travel only with a legal basis).
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
        let pa = entity::preliminary_analysis::Entity::find()
            .filter(entity::preliminary_analysis::Column::CaseId.eq(c.id))
            .one(&app.db)
            .await
            .unwrap()
            .expect("the analysis of a monitored case");
        let mut am = pa.into_active_model();
        am.health_notes = Set(Some("NOTA-SANITARIA-RISERVATA".into()));
        am.needs_notes = Set(Some("Bisogni abitativi".into()));
        am.update(&app.db).await.unwrap();
    }
    // An active PUC assignment in the old Comune.
    let old_comune = entity::comune::Entity::find_by_id(c.comune_istat.clone()).one(&app.db).await.unwrap().unwrap();
    let project = builders::puc_project(&old_comune).insert(&app.db).await;
    let member0 = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(c.household_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let puc = {
        use sea_orm::{ActiveModelTrait, IntoActiveModel};
        entity::puc_assignment::Model {
            id: Uuid::new_v4(),
            project_id: project.id,
            member_id: member0.id,
            case_id: Some(c.id),
            source: PlaceSource::Comune,
            state: PucAssignmentState::Attivo,
            proposed_by: None,
            proposed_at: None,
            starts_on: Some(gepi::calendar::today() - chrono::Duration::days(5)),
            planned_end_on: Some(gepi::calendar::today() + chrono::Duration::days(60)),
            weekly_hours: 8,
            interruption_reason: None,
            interrupted_on: None,
            inail_ref: Some("INAIL-T".into()),
            version: 1,
        }
        .into_active_model()
        .insert(&app.db)
        .await
        .unwrap()
    };
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
    // A draft segnalazione the case manager raised on the case.
    let r = app.gql(Some(&cm), "mutation($i: RaiseReportInput!) { raiseReport(input: $i) { id version } }", json!({ "i": { "caseId": ids::encode("Case", c.id), "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": c.pad_date, "description": "Fatto da verificare", "draft": true } })).await;
    let draft = ok(&r)["raiseReport"].clone();
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
    let rows = vec![
        draft["id"].as_str().unwrap().to_string(),
        ids::encode("Meeting", planned.id),
        ids::encode("PucAssignment", puc.id),
    ];
    reads_nothing_of(&app, &coord_b, &c, &rows, "the receiving coordinator before acceptance").await;
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

    // Every case role of the sending Ambito lost it, with its meetings and segnalazioni.
    let rows = vec![draft["id"].as_str().unwrap().to_string(), ids::encode("Meeting", planned.id)];
    for (who, token) in [
        ("the previous case manager", &cm),
        ("the sending coordinator", &coord_a),
        ("the registrar of the old Comune", &registrar_a),
        ("the sending administrator", &admin_a),
    ] {
        reads_nothing_of(&app, token, &c, &rows, who).await;
    }
    // The previous case manager can no longer submit the draft it raised.
    let r = app
        .gql(
            Some(&cm),
            "mutation($i: SubmitReportInput!) { submitReport(input: $i) { id } }",
            json!({ "i": { "reportId": draft["id"], "version": draft["version"] } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // The PUC ended with the move; its project's Comune keeps the record.
    let p = entity::puc_assignment::Entity::find_by_id(puc.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        (p.state, p.interruption_reason),
        (PucAssignmentState::Interrotto, Some(InterruptionReason::Trasferimento))
    );
    assert!(app.count("partner_event WHERE kind = 'PUC_INTERROTTO'").await >= 1);
    // No legal basis was recorded: the health notes were sealed, the needs travelled.
    let pa = entity::preliminary_analysis::Entity::find()
        .filter(entity::preliminary_analysis::Column::CaseId.eq(c.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((pa.health_notes.as_deref(), pa.needs_notes.as_deref()), (None, None), "both special, both sealed");
    let mut sealed: Vec<(String, String)> = entity::sealed_field::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.field, s.value))
        .collect();
    sealed.sort();
    assert_eq!(
        sealed,
        vec![
            ("PreliminaryAnalysis.healthNotes".to_string(), "NOTA-SANITARIA-RISERVATA".to_string()),
            ("PreliminaryAnalysis.needsNotes".to_string(), "Bisogni abitativi".to_string()),
        ]
    );
    let trail: Vec<String> =
        audit_event::Entity::find().all(&app.db).await.unwrap().into_iter().filter_map(|e| e.changes).collect();
    assert!(trail.iter().any(|c| c.contains("PreliminaryAnalysis.healthNotes")), "the sealing is in the trail");
    assert!(!trail.iter().any(|c| c.contains("NOTA-SANITARIA-RISERVATA")), "never its value");
    // A case manager of the new Ambito, once assigned, reads what travelled.
    let new_cm = profile::Entity::find()
        .filter(profile::Column::Role.eq(Role::CaseManager))
        .filter(profile::Column::AmbitoId.eq(b.id))
        .order_by_asc(profile::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let moved = case_file::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    let r = app.gql(Some(&coord_b), "mutation($i: AssignCasesInput!) { assignCases(input: $i) { id state } }", json!({ "i": { "cases": [{ "id": case_gid, "version": moved.version }], "caseManagerId": ids::encode("Operator", new_cm.operator_id) } })).await;
    assert_eq!(ok(&r)["assignCases"][0]["state"], "IN_MONITORAGGIO", "{r}");
    let op = entity::operator::Entity::find_by_id(new_cm.operator_id).one(&app.db).await.unwrap().unwrap();
    let new_cm_token = app.login(&op.fiscal_code, &ids::encode("Profile", new_cm.id)).await;
    let r = app.gql(Some(&new_cm_token), "query($c: ID!) { case(id: $c) { id preliminaryAnalysis { needsNotes healthNotes } meetings { id state } } }", json!({ "c": case_gid })).await;
    let d = &ok(&r)["case"];
    assert!(d["preliminaryAnalysis"]["needsNotes"].is_null(), "sealed: {r}");
    assert!(d["preliminaryAnalysis"]["healthNotes"].is_null(), "sealed: {r}");
    assert!(
        d["meetings"].as_array().unwrap().iter().any(|m| m["id"] == ids::encode("Meeting", planned.id)),
        "its meetings came along"
    );
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
    // A transfer that does not exist answers NOT_FOUND on its field.
    let r = app
        .gql(
            Some(&coord_b),
            DECIDE,
            json!({ "i": { "transferId": ids::encode("CaseTransfer", Uuid::new_v4()), "version": 1, "accept": true } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.transferId");
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

#[tokio::test]
async fn a_rejected_transfer_leaves_the_case_where_it_was_and_a_legal_basis_lets_the_notes_travel() {
    let app = TestApp::seeded().await;
    let ambiti = entity::ambito::Entity::find().order_by_asc(entity::ambito::Column::Id).all(&app.db).await.unwrap();
    let (a, b) = (&ambiti[0], &ambiti[1]);
    let seeded: Vec<Uuid> =
        case_transfer::Entity::find().all(&app.db).await.unwrap().iter().map(|t| t.case_id).collect();
    let cases = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(a.id))
        .filter(case_file::Column::State.eq(CaseState::InMonitoraggio))
        .filter(case_file::Column::Id.is_not_in(seeded))
        .order_by_asc(case_file::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let (c1, c2) = (&cases[0], &cases[1]);
    let to = entity::comune::Entity::find()
        .filter(entity::comune::Column::AmbitoId.eq(b.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let same = entity::comune::Entity::find()
        .filter(entity::comune::Column::AmbitoId.eq(a.id))
        .filter(entity::comune::Column::IstatCode.ne(c1.comune_istat.clone()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let coord_a = login_in(&app, Role::PaisCoordinator, a.id, None).await;
    let coord_b = login_in(&app, Role::PaisCoordinator, b.id, None).await;
    // A Comune of the same Ambito: no transfer (the feed moves the household).
    let r = app.gql(Some(&coord_a), REQUEST, json!({ "i": { "caseId": ids::encode("Case", c1.id), "version": c1.version, "toComune": same.istat_code, "reason": "CAMBIO_RESIDENZA" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.toComune", "{r}");
    // Rejected with its reason and note: the case stays where it was.
    let r = app.gql(Some(&coord_a), REQUEST, json!({ "i": { "caseId": ids::encode("Case", c1.id), "version": c1.version, "toComune": to.istat_code, "reason": "CAMBIO_RESIDENZA" } })).await;
    let t = ok(&r)["requestCaseTransfer"].clone();
    let r = app.gql(Some(&coord_b), DECIDE, json!({ "i": { "transferId": t["id"], "version": t["version"], "accept": false, "rejectionReason": "RESIDENZA_NON_CONFERMATA", "note": "Non risulta iscritto in anagrafe" } })).await;
    let d = &ok(&r)["decideCaseTransfer"];
    assert_eq!(
        (d["state"].as_str(), d["rejectionReason"].as_str()),
        (Some("RIFIUTATO"), Some("RESIDENZA_NON_CONFERMATA"))
    );
    assert!(d["case"].is_null(), "the receiving coordinator still does not read it");
    let after = case_file::Entity::find_by_id(c1.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        (after.ambito_id, after.comune_istat.as_str(), after.case_manager_id, after.state),
        (a.id, c1.comune_istat.as_str(), c1.case_manager_id, c1.state)
    );
    let trail: Vec<String> =
        audit_event::Entity::find().all(&app.db).await.unwrap().into_iter().filter_map(|e| e.changes).collect();
    assert!(!trail.iter().any(|c| c.contains("Non risulta iscritto")), "the note is never copied into the trail");
    // With a legal basis, the health notes travel.
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
        let pa = entity::preliminary_analysis::Entity::find()
            .filter(entity::preliminary_analysis::Column::CaseId.eq(c2.id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let mut am = pa.into_active_model();
        am.health_notes = Set(Some("NOTA-CON-BASE-GIURIDICA".into()));
        am.update(&app.db).await.unwrap();
    }
    let r = app.gql(Some(&coord_a), REQUEST, json!({ "i": { "caseId": ids::encode("Case", c2.id), "version": c2.version, "toComune": to.istat_code, "reason": "CAMBIO_RESIDENZA", "legalBasis": "Consenso dell'interessato, art. 9 c. 2 lett. a GDPR" } })).await;
    let t = ok(&r)["requestCaseTransfer"].clone();
    let r = app
        .gql(Some(&coord_b), DECIDE, json!({ "i": { "transferId": t["id"], "version": t["version"], "accept": true } }))
        .await;
    assert_eq!(ok(&r)["decideCaseTransfer"]["state"], "ACCETTATO");
    let pa = entity::preliminary_analysis::Entity::find()
        .filter(entity::preliminary_analysis::Column::CaseId.eq(c2.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pa.health_notes.as_deref(), Some("NOTA-CON-BASE-GIURIDICA"));
    assert_eq!(app.count("sealed_field").await, 0);
    let trail: Vec<String> =
        audit_event::Entity::find().all(&app.db).await.unwrap().into_iter().filter_map(|e| e.changes).collect();
    assert!(!trail.iter().any(|c| c.contains("art. 9")), "the legal basis's text is never copied into the trail");
}

/// `policies/travel.csv` names only known types and fields, and decides every
/// special-category field of a type that travels.
#[test]
fn every_special_field_of_what_travels_is_decided() {
    use gepi::transfers::model::{travel_rules, Travel};
    let rules = travel_rules().unwrap();
    let fields = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/fields.csv")).unwrap();
    let classes: Vec<(String, String)> = fields
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(',').map(|(f, c)| (f.trim().to_string(), c.trim().to_string())))
        .collect();
    for (what, _) in &rules {
        let known = if what.contains('.') {
            classes.iter().any(|(f, _)| f == what)
        } else {
            gepi::authz::Object::ALL.iter().any(|o| o.as_str() == what)
        };
        assert!(known, "policies/travel.csv names {what}, which the schema does not have");
    }
    let relations = ["Case.preliminaryAnalysis", "Case.analysisFramework"];
    for (ty, how) in &rules {
        if ty.contains('.') || *how != Travel::Travels {
            continue;
        }
        for (f, class) in &classes {
            if f.split('.').next() == Some(ty.as_str()) && class == "special" && !relations.contains(&f.as_str()) {
                assert!(
                    rules.iter().any(|(w, _)| w == f),
                    "{f} is special and travels with {ty}: decide it in policies/travel.csv"
                );
            }
        }
    }
}

const REFER: &str = "mutation($i: ReferCaseInput!) { referCase(input: $i) { id state version target service pathwayType reason member { id } case { id } } }";
const STEP_REFERRAL: &str =
    "mutation($i: StepCaseReferralInput!) { stepCaseReferral(input: $i) { id state version takenAt closedAt } }";

/// A referral keeps the case where it is and shares a declared projection: the
/// CPI collects it from its feed (with the member's codice fiscale), reads the
/// service, state, dates and pathway, never the reason, the member's record or
/// the case, and records its steps; a specialist referral never reaches it.
#[tokio::test]
async fn a_referral_to_a_cpi_shares_its_projection_and_keeps_the_case() {
    let app = TestApp::seeded().await;
    // A monitored case whose household has a member bound to work activation.
    let bound: Vec<Uuid> = entity::member::Entity::find()
        .filter(entity::member::Column::ObligatedActivation.eq(true))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.household_id)
        .collect();
    let c = case_file::Entity::find()
        .filter(case_file::Column::State.eq(CaseState::InMonitoraggio))
        .filter(case_file::Column::CaseManagerId.is_not_null())
        .filter(case_file::Column::HouseholdId.is_in(bound))
        .order_by_asc(case_file::Column::Id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("a monitored case with a member bound to work activation");
    let cm_op = entity::operator::Entity::find_by_id(c.case_manager_id.unwrap()).one(&app.db).await.unwrap().unwrap();
    let cm_profile = profile::Entity::find()
        .filter(profile::Column::OperatorId.eq(cm_op.id))
        .filter(profile::Column::Role.eq(Role::CaseManager))
        .filter(profile::Column::AmbitoId.eq(c.ambito_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let cm = app.login(&cm_op.fiscal_code, &ids::encode("Profile", cm_profile.id)).await;
    let coord = login_in(&app, Role::PaisCoordinator, c.ambito_id, None).await;
    let members = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(c.household_id))
        .all(&app.db)
        .await
        .unwrap();
    let m = members.iter().find(|m| m.obligated_activation).expect("a member bound to work activation").clone();
    let stranger = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.ne(c.household_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let case_gid = ids::encode("Case", c.id);
    let refer = |member: &Uuid, target: &str, service: &str| json!({ "i": { "caseId": case_gid, "memberId": ids::encode("Member", *member), "target": target, "service": service, "reason": "RISERVATO: attivabile al lavoro" } });
    // Bad input, a member of another household (answered as a missing one): nothing written.
    let r = app.gql(Some(&cm), REFER, refer(&m.id, "CPI", "  ")).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.service", "{r}");
    for other in [stranger.id, Uuid::new_v4()] {
        let r = app.gql(Some(&cm), REFER, refer(&other, "CPI", "CPI di Monza")).await;
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], "input.memberId");
        assert_eq!(r["errors"][0]["message"], "no member with this id");
    }
    // A CPI works with a member bound to work activation: never the household as a whole, nor another member.
    let r = app
        .gql(
            Some(&cm),
            REFER,
            json!({ "i": { "caseId": case_gid, "target": "CPI", "service": "CPI di Monza", "reason": "x" } }),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.memberId", "{r}");
    if let Some(free) = members.iter().find(|m| !m.obligated_activation) {
        let r = app.gql(Some(&cm), REFER, refer(&free.id, "CPI", "CPI di Monza")).await;
        assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    }
    let seeded = app.count("case_referral").await;
    assert!(seeded > 0, "the demo has referrals");
    let r = app.gql(Some(&cm), REFER, refer(&m.id, "CPI", "CPI di Monza")).await;
    let cpi_ref = ok(&r)["referCase"].clone();
    assert_eq!((cpi_ref["state"].as_str(), cpi_ref["target"].as_str()), (Some("IN_ATTESA"), Some("CPI")));
    assert_eq!(cpi_ref["case"]["id"], case_gid);
    let r = app.gql(Some(&cm), REFER, refer(&m.id, "CPI", "CPI di Monza")).await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "one open referral per service and member: {r}");
    let r = app.gql(Some(&cm), REFER, refer(&m.id, "SERVIZI_SPECIALISTICI", "CSM di Monza")).await;
    let spec = ok(&r)["referCase"].clone();
    let after = case_file::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(
        (after.ambito_id, after.case_manager_id, after.state),
        (c.ambito_id, c.case_manager_id, c.state),
        "the case stays"
    );

    // The CPI: its feed names the referral, with the codice fiscale; the projection only.
    let cpi = gepi::auth::api_key::create(&app.db, "CPI", Role::CpiPartner, None).await.unwrap();
    let r = app.gql(Some(&cpi.key), "{ partnerEvents(first: 50) { edges { node { kind fiscalCode applicationProtocol referral { id state service pathwayType reason member { id } case { id } } } } } }", json!({})).await;
    let edges = r["data"]["partnerEvents"]["edges"].as_array().unwrap().clone();
    let e = &edges.iter().find(|e| e["node"]["kind"] == "INVIO_CPI").expect("the referral's event")["node"];
    assert_eq!(e["fiscalCode"], m.fiscal_code.as_str());
    assert!(e["applicationProtocol"].is_null(), "INPS's protocol is not the CPI's");
    assert_eq!(e["referral"]["id"], cpi_ref["id"]);
    assert_eq!(e["referral"]["service"], "CPI di Monza");
    for hidden in ["reason", "member", "case"] {
        assert!(e["referral"][hidden].is_null(), "{hidden} is not the CPI's: {r}");
    }
    assert!(!r.to_string().contains("RISERVATO"), "{r}");
    let r = app.gql(Some(&cpi.key), "{ caseReferrals(first: 50) { edges { node { id target } } } }", json!({})).await;
    let seen = ok(&r)["caseReferrals"]["edges"].as_array().unwrap().clone();
    let cpi_rows = entity::case_referral::Entity::find()
        .filter(entity::case_referral::Column::Target.eq(ReferralTarget::Cpi))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(seen.len(), cpi_rows.len(), "every referral to a CPI: {r}");
    assert!(seen.iter().all(|e| e["node"]["target"] == "CPI"), "a specialist referral never reaches a CPI: {r}");
    assert!(seen.iter().any(|e| e["node"]["id"] == cpi_ref["id"]));
    let r = app
        .gql(
            Some(&cpi.key),
            STEP_REFERRAL,
            json!({ "i": { "referralId": spec["id"], "version": 1, "step": "TAKE_IN_CHARGE" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // The CPI records its steps; the case manager sees them.
    let r = app.gql(Some(&cpi.key), STEP_REFERRAL, json!({ "i": { "referralId": cpi_ref["id"], "version": cpi_ref["version"], "step": "TAKE_IN_CHARGE", "note": "Patto di servizio firmato" } })).await;
    let s = ok(&r)["stepCaseReferral"].clone();
    assert_eq!(s["state"], "PRESO_IN_CARICO");
    let r = app
        .gql(
            Some(&cpi.key),
            STEP_REFERRAL,
            json!({ "i": { "referralId": cpi_ref["id"], "version": s["version"], "step": "TAKE_IN_CHARGE" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let r = app
        .gql(
            Some(&cm),
            STEP_REFERRAL,
            json!({ "i": { "referralId": cpi_ref["id"], "version": s["version"], "step": "CLOSE" } }),
        )
        .await;
    assert_eq!(ok(&r)["stepCaseReferral"]["state"], "CHIUSO");
    let r = app.gql(Some(&cm), "query($c: ID!) { case(id: $c) { id } caseReferrals(first: 10) { edges { node { id state outcomeNote reason } } } }", json!({ "c": case_gid })).await;
    let mine = ok(&r)["caseReferrals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == cpi_ref["id"])
        .expect("the referral")["node"]
        .clone();
    assert_eq!(
        (mine["state"].as_str(), mine["outcomeNote"].as_str()),
        (Some("CHIUSO"), Some("Patto di servizio firmato"))
    );
    // The coordinator sees the workload, not the reason.
    let r = app
        .gql(Some(&coord), "{ caseReferrals(first: 50) { edges { node { id state reason service } } } }", json!({}))
        .await;
    let edges = ok(&r)["caseReferrals"]["edges"].as_array().unwrap().clone();
    for mine in [&cpi_ref, &spec] {
        assert!(edges.iter().any(|e| e["node"]["id"] == mine["id"]), "{r}");
    }
    assert!(edges.iter().all(|e| e["node"]["reason"].is_null() && e["node"]["service"].is_null()), "{r}");
    assert!(!r.to_string().contains("CSM"), "a specialist service's name is health information: {r}");
    // Each step is in the Ambito's trail.
    assert_eq!(app.count("audit_event WHERE entity = 'case_referral' AND action <> 'read'").await, 4);
    assert!(
        app.count("audit_event WHERE entity = 'case_referral' AND action = 'read'").await >= 1,
        "reading the reason is audited"
    );
}
