//! Residency checks: assignment, periods, forwarding across Comuni of different
//! Ambiti with their deadlines, finalisation by the Comune of residence, and the
//! segnalazione of a negative outcome approved before it is marked sent.

use chrono::Duration;
use entity::{comune, enums::*, profile, profile_comune, residency_check};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{builders, error_code, TestApp};

/// Logs in as the operator holding `role` for Comune `istat`.
async fn login_for(app: &TestApp, role: Role, istat: &str) -> (String, Uuid) {
    let links = profile_comune::Entity::find()
        .filter(profile_comune::Column::ComuneIstat.eq(istat))
        .all(&app.db)
        .await
        .unwrap();
    for l in links {
        let p = profile::Entity::find_by_id(l.profile_id).one(&app.db).await.unwrap().unwrap();
        if p.role == role {
            let op = entity::operator::Entity::find_by_id(p.operator_id).one(&app.db).await.unwrap().unwrap();
            return (app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await, op.id);
        }
    }
    panic!("nobody holds {role:?} for {istat}");
}

fn ok(r: &Value) -> &Value {
    assert!(r["errors"].is_null(), "{r}");
    &r["data"]
}

const ASSIGN: &str = "mutation($i: AssignResidencyCheckInput!) { assignResidencyCheck(input: $i) { id state version officer { id } dueOn } }";
const PERIODS: &str = "mutation($i: RecordResidencyPeriodsInput!) { recordResidencyPeriods(input: $i) { id state version totalResidenceDays lastContinuousDays requirementMet periods { fromOn toOn comune { istatCode } } } }";
const FORWARD: &str = "mutation($i: ForwardResidencyCheckInput!) { forwardResidencyCheck(input: $i) { id state } }";
const FINALISE: &str = "mutation($i: FinaliseResidencyCheckInput!) { finaliseResidencyCheck(input: $i) { id state version outcome dueOn } }";
const RESUME: &str = "mutation($i: ResidencyCheckVersionInput!) { resumeResidencyCheck(input: $i) { id state version requirementMet periods { fromOn } } }";
const CHECK: &str = "query($id: ID!) { residencyCheck(id: $id) { id state version dueOn currentComune { istatCode } owningComune { istatCode } member { fiscalCode phone } } }";

#[tokio::test]
async fn a_check_travels_across_comuni_and_ambiti_and_a_negative_outcome_is_approved() {
    let app = TestApp::seeded().await;
    // A check of the first Ambito, reset to its start.
    let c =
        residency_check::Entity::find().order_by_asc(residency_check::Column::Id).one(&app.db).await.unwrap().unwrap();
    let owning = c.owning_comune_istat.clone();
    let reset = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => vec![
            format!("DELETE FROM report WHERE residency_check_id = '{}'", c.id),
            format!("DELETE FROM residency_period WHERE check_id = '{}'", c.id),
            format!("UPDATE residency_check SET state = 'DA_ASSEGNARE', officer_id = NULL, outcome = NULL, current_comune_istat = owning_comune_istat, version = 1 WHERE id = '{}'", c.id),
        ],
        _ => vec![
            format!("DELETE FROM report WHERE residency_check_id = X'{}'", c.id.simple()),
            format!("DELETE FROM residency_period WHERE check_id = X'{}'", c.id.simple()),
            format!("UPDATE residency_check SET state = 'DA_ASSEGNARE', officer_id = NULL, outcome = NULL, current_comune_istat = owning_comune_istat, version = 1 WHERE id = X'{}'", c.id.simple()),
        ],
    };
    for s in reset {
        app.exec(&s).await;
    }
    let owning_comune = comune::Entity::find_by_id(owning.clone()).one(&app.db).await.unwrap().unwrap();
    let elsewhere = comune::Entity::find()
        .filter(comune::Column::AmbitoId.ne(owning_comune.ambito_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let gid = ids::encode("ResidencyCheck", c.id);
    let (coord, _) = login_for(&app, Role::RegistryCheckCoordinator, &owning).await;
    let (officer, officer_id) = login_for(&app, Role::RegistryCheckOfficer, &owning).await;

    // The officer cannot work on it before it is assigned to them.
    let r = app.gql(Some(&officer), PERIODS, json!({ "i": { "checkId": gid, "version": 1, "periods": [{ "comuneIstat": owning, "from": "2022-01-01" }] } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r = app
        .gql(
            Some(&coord),
            ASSIGN,
            json!({ "i": { "checkId": gid, "version": 1, "officerId": ids::encode("Operator", officer_id) } }),
        )
        .await;
    let v = ok(&r)["assignResidencyCheck"]["version"].clone();
    assert_eq!(ok(&r)["assignResidencyCheck"]["state"], "ASSEGNATO");
    // Bad periods change nothing.
    for (bad, field) in [
        (json!([{ "comuneIstat": "999999", "from": "2022-01-01" }]), "input.periods[0].comuneIstat"),
        (json!([{ "comuneIstat": owning, "from": "2022-01-01", "to": "2021-01-01" }]), "input.periods[0].to"),
        (
            json!([{ "comuneIstat": owning, "from": "2022-01-01" }, { "comuneIstat": owning, "from": "2023-01-01" }]),
            "input.periods[1].from",
        ),
    ] {
        let r =
            app.gql(Some(&officer), PERIODS, json!({ "i": { "checkId": gid, "version": v, "periods": bad } })).await;
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{r}");
    }
    let r = app.gql(Some(&officer), PERIODS, json!({ "i": { "checkId": gid, "version": v, "periods": [{ "comuneIstat": owning, "from": "2023-03-01" }] } })).await;
    let d = &ok(&r)["recordResidencyPeriods"];
    assert_eq!(d["state"], "IN_LAVORAZIONE");
    assert_eq!(d["requirementMet"], false);
    assert!(d["lastContinuousDays"].as_i64().unwrap() > 365);
    // Finalising needs the whole history: forward to the previous Comune, in another Ambito.
    let r = app
        .gql(
            Some(&officer),
            FORWARD,
            json!({ "i": { "checkId": gid, "version": d["version"], "toComune": elsewhere.istat_code } }),
        )
        .await;
    assert!(ok(&r)["forwardResidencyCheck"].is_null(), "the sender no longer sees the check");
    let r = app.gql(Some(&officer), CHECK, json!({ "id": gid })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"));
    // The receiving Comune takes it over, with 20 days.
    let (coord2, _) = login_for(&app, Role::RegistryCheckCoordinator, &elsewhere.istat_code).await;
    let (officer2, officer2_id) = login_for(&app, Role::RegistryCheckOfficer, &elsewhere.istat_code).await;
    let r = app.gql(Some(&coord2), CHECK, json!({ "id": gid })).await;
    let got = &ok(&r)["residencyCheck"];
    assert_eq!(got["state"], "INOLTRATO");
    assert_eq!(got["dueOn"], json!(gepi::calendar::today() + Duration::days(20)));
    assert!(got["member"]["fiscalCode"].is_string());
    assert!(got["member"]["phone"].is_null(), "only the data the check needs");
    let r = app.gql(Some(&coord2), ASSIGN, json!({ "i": { "checkId": gid, "version": got["version"], "officerId": ids::encode("Operator", officer2_id) } })).await;
    let v = ok(&r)["assignResidencyCheck"]["version"].clone();
    let r = app.gql(Some(&officer2), PERIODS, json!({ "i": { "checkId": gid, "version": v, "periods": [{ "comuneIstat": elsewhere.istat_code, "from": "2019-01-01", "to": "2023-02-28" }] } })).await;
    let d = &ok(&r)["recordResidencyPeriods"];
    // The previous Comune cannot finalise.
    let r = app
        .gql(
            Some(&officer2),
            FINALISE,
            json!({ "i": { "checkId": gid, "version": d["version"], "outcome": "NEGATIVO" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    // Back to the Comune of residence (30 days), which finalises negatively.
    let r = app
        .gql(Some(&officer2), FORWARD, json!({ "i": { "checkId": gid, "version": d["version"], "toComune": owning } }))
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let r = app.gql(Some(&coord), CHECK, json!({ "id": gid })).await;
    let got = ok(&r)["residencyCheck"].clone();
    assert_eq!(got["dueOn"], json!(gepi::calendar::today() + Duration::days(30)));
    let r = app.gql(Some(&coord), ASSIGN, json!({ "i": { "checkId": gid, "version": got["version"], "officerId": ids::encode("Operator", officer_id) } })).await;
    let v = ok(&r)["assignResidencyCheck"]["version"].clone();
    // From ASSEGNATO the check must be worked before it is finalised.
    let r = app
        .gql(Some(&officer), FINALISE, json!({ "i": { "checkId": gid, "version": v, "outcome": "NEGATIVO" } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("ASSEGNATO"));
    // Back home, the officer takes it into work on the periods both Comuni
    // recorded, without inventing one.
    let r = app.gql(Some(&officer), RESUME, json!({ "i": { "checkId": gid, "version": v } })).await;
    let d = ok(&r)["resumeResidencyCheck"].clone();
    assert_eq!(d["state"], "IN_LAVORAZIONE");
    assert_eq!(d["periods"].as_array().unwrap().len(), 2, "the periods of both Comuni count");
    assert_eq!(d["requirementMet"], false, "less than ten years");
    // A positive outcome contradicting them needs its reason.
    let r = app
        .gql(
            Some(&officer),
            FINALISE,
            json!({ "i": { "checkId": gid, "version": d["version"], "outcome": "POSITIVO" } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.overrideReason");
    // A negative one agrees: a reason is refused.
    let r = app.gql(Some(&officer), FINALISE, json!({ "i": { "checkId": gid, "version": d["version"], "outcome": "NEGATIVO", "overrideReason": "ALTRO", "overrideNote": "x" } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.overrideReason", "{r}");
    let r = app
        .gql(
            Some(&officer),
            FINALISE,
            json!({ "i": { "checkId": gid, "version": d["version"], "outcome": "NEGATIVO" } }),
        )
        .await;
    assert_eq!(ok(&r)["finaliseResidencyCheck"]["state"], "ESITO_NEGATIVO");
    // The segnalazione waits for the coordinator of the Comune; the PaIS coordinator never sees it.
    let q = "{ reports(first: 100) { edges { node { id state version kind residencyCheck { id } } } } }";
    let r = app.gql(Some(&coord), q, json!({})).await;
    let rep = ok(&r)["reports"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["residencyCheck"]["id"] == gid)
        .expect("the segnalazione")
        .clone();
    assert_eq!(rep["node"]["kind"], "REQUISITO_RESIDENZA");
    assert_eq!(rep["node"]["state"], "DA_APPROVARE");
    let (pais, _) = login_for(&app, Role::PaisCoordinator, &owning).await;
    let r = app.gql(Some(&pais), q, json!({})).await;
    assert!(!ok(&r)["reports"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["id"] == rep["node"]["id"]));
    let decide = json!({ "i": { "reportId": rep["node"]["id"], "version": rep["node"]["version"], "approve": true } });
    let r = app
        .gql(Some(&pais), "mutation($i: DecideReportInput!) { decideReport(input: $i) { state } }", decide.clone())
        .await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let r =
        app.gql(Some(&coord), "mutation($i: DecideReportInput!) { decideReport(input: $i) { state } }", decide).await;
    assert_eq!(ok(&r)["decideReport"]["state"], "INVIATA");
    let r = app.gql(Some(&coord), CHECK, json!({ "id": gid })).await;
    assert_eq!(ok(&r)["residencyCheck"]["state"], "INVIATO_INPS");
    // INPS collects it, knowing it by the check's member and application.
    // First the outcome, then the segnalazione.
    use entity::enums::PartnerEventKind::*;
    let events = entity::partner_event::Entity::find()
        .order_by_asc(entity::partner_event::Column::Seq)
        .all(&app.db)
        .await
        .unwrap();
    let kinds: Vec<_> =
        events.iter().map(|e| (e.kind, e.residency_check_id.is_some(), e.report_id.is_some())).collect();
    assert_eq!(kinds, [(EsitoControlloAnagrafico, true, false), (SegnalazioneInviata, false, true)]);
    assert_eq!(events[0].residency_check_id, Some(c.id));
    let member = entity::member::Entity::find_by_id(c.member_id).one(&app.db).await.unwrap().unwrap();
    let application =
        entity::application::Entity::find_by_id(c.application_id.expect("the check names its application"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
    for e in &events {
        assert_eq!(e.fiscal_code.as_deref(), Some(member.fiscal_code.as_str()));
        assert_eq!(e.application_protocol.as_deref(), Some(application.inps_protocol.as_str()));
    }
    // Both Ambiti's trails saw the check cross.
    assert!(app.count("audit_event WHERE entity = 'residency_check' AND action = 'transition'").await >= 5);
}

#[tokio::test]
async fn forwarding_falls_back_to_the_comune_of_birth_and_other_roles_are_refused() {
    // The demo data gives an operator of every other role.
    let app = TestApp::seeded().await;
    // A member resident in one Ambito, born in a Comune of another on GePI, with
    // no other residence recorded: the check goes to the Comune of birth.
    let here = builders::ambito(&app.db, "LOM-MB-PROVA").await;
    let owning = builders::comune(&app.db, &here, "108994", "Z984", "Residenza di Prova").await;
    let there = builders::ambito(&app.db, "LOM-CO-PROVA").await;
    let birth = builders::comune(&app.db, &there, "013994", "Z985", "Nascita di Prova").await;
    let h = builders::household(&owning).born_in(&birth).insert(&app.db).await;
    let op = builders::operator("Sara", "Villa").insert(&app.db).await;
    let p = builders::profile(&op, Role::RegistryCheckOfficer).ambito(&here).comuni(&[&owning]).insert(&app.db).await;
    let officer = app.login(&op.fiscal_code, &builders::gid("Profile", p.id)).await;
    let c = builders::residency_check(&h, 0, &owning)
        .officer(&op)
        .state(ResidencyCheckState::InLavorazione)
        .insert(&app.db)
        .await;
    let gid = ids::encode("ResidencyCheck", c.id);
    // Other roles may not forward it.
    for role in [
        Role::CaseManager,
        Role::PaisCoordinator,
        Role::RegistryCheckCoordinator,
        Role::MeetingRegistrar,
        Role::DisadvantageValidator,
    ] {
        let (t, _, _) = app.login_role(role, 0).await;
        let r = app.gql(Some(&t), FORWARD, json!({ "i": { "checkId": gid, "version": 1 } })).await;
        assert!(matches!(error_code(&r), Some("FORBIDDEN") | Some("NOT_FOUND")), "{}: {r}", role.as_str());
    }
    let r = app.gql(Some(&officer), FORWARD, json!({ "i": { "checkId": gid, "version": 1 } })).await;
    assert!(r["errors"].is_null(), "{r}");
    let after = residency_check::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(after.current_comune_istat, birth.istat_code);
    assert_eq!(after.state, ResidencyCheckState::Inoltrato);
    assert_eq!(after.officer_id, None);
    assert_eq!(after.ambito_id, there.id);
}

#[tokio::test]
async fn an_outcome_against_the_computed_requirement_needs_a_coded_reason_and_is_flagged() {
    let app = TestApp::seeded().await;
    let here = builders::ambito(&app.db, "LOM-MB-ESITI").await;
    let comune = builders::comune(&app.db, &here, "108993", "Z983", "Esiti di Prova").await;
    let h = builders::household(&comune).members(2).insert(&app.db).await;
    let op = builders::operator("Luca", "Brambilla").insert(&app.db).await;
    let p = builders::profile(&op, Role::RegistryCheckOfficer).ambito(&here).comuni(&[&comune]).insert(&app.db).await;
    let officer = app.login(&op.fiscal_code, &builders::gid("Profile", p.id)).await;
    let cop = builders::operator("Giulia", "Sala").insert(&app.db).await;
    let cp =
        builders::profile(&cop, Role::RegistryCheckCoordinator).ambito(&here).comuni(&[&comune]).insert(&app.db).await;
    let coord = app.login(&cop.fiscal_code, &builders::gid("Profile", cp.id)).await;
    // Assigned and never worked: nothing to take back into work.
    let fresh = builders::residency_check(&h, 1, &comune).officer(&op).insert(&app.db).await;
    let r = app
        .gql(
            Some(&officer),
            RESUME,
            json!({ "i": { "checkId": ids::encode("ResidencyCheck", fresh.id), "version": 1 } }),
        )
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("recordResidencyPeriods"), "{r}");
    // Sixteen years in the Comune: the requirement is met.
    let c = builders::residency_check(&h, 0, &comune).officer(&op).insert(&app.db).await;
    let gid = ids::encode("ResidencyCheck", c.id);
    let r = app.gql(Some(&officer), PERIODS, json!({ "i": { "checkId": gid, "version": 1, "periods": [{ "comuneIstat": comune.istat_code, "from": "2010-01-01" }] } })).await;
    let d = ok(&r)["recordResidencyPeriods"].clone();
    assert_eq!(d["requirementMet"], true);
    let v = d["version"].clone();
    let finalise = |extra: Value| {
        let mut i = json!({ "checkId": gid, "version": v, "outcome": "NEGATIVO" });
        i.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "i": i })
    };
    for (extra, field) in [
        (json!({}), "input.overrideReason"),
        (json!({ "overrideReason": "IRREPERIBILITA_ACCERTATA" }), "input.overrideNote"),
        (json!({ "overrideNote": "Non vive all'indirizzo" }), "input.overrideReason"),
        (json!({ "overrideReason": "IRREPERIBILITA_ACCERTATA", "overrideNote": "  " }), "input.overrideNote"),
    ] {
        let r = app.gql(Some(&officer), FINALISE, finalise(extra.clone())).await;
        assert_eq!(error_code(&r), Some("VALIDATION"), "{extra}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{extra}: {r}");
    }
    let unchanged = residency_check::Entity::find_by_id(c.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!((unchanged.state, unchanged.outcome), (ResidencyCheckState::InLavorazione, None), "nothing changed");
    assert_eq!(
        app.count(&format!("report WHERE kind = 'REQUISITO_RESIDENZA' AND comune_istat = '{}'", comune.istat_code))
            .await,
        0
    );
    let r = app.gql(Some(&officer), FINALISE, finalise(json!({ "overrideReason": "IRREPERIBILITA_ACCERTATA", "overrideNote": "Accertata l'irreperibilità all'indirizzo di residenza" }))).await;
    assert_eq!(ok(&r)["finaliseResidencyCheck"]["state"], "ESITO_NEGATIVO");
    // The coordinator deciding the segnalazione sees the flag on it and on the check.
    let q = "{ reports(first: 50) { edges { node { id kind state overrideReason residencyCheck { id overrideReason overrideNote requirementMet } } } } }";
    let r = app.gql(Some(&coord), q, json!({})).await;
    let rep = ok(&r)["reports"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .find(|n| n["residencyCheck"]["id"] == gid)
        .expect("the segnalazione");
    assert_eq!(rep["state"], "DA_APPROVARE");
    assert_eq!(rep["overrideReason"], "IRREPERIBILITA_ACCERTATA");
    assert_eq!(rep["residencyCheck"]["overrideReason"], "IRREPERIBILITA_ACCERTATA");
    assert_eq!(rep["residencyCheck"]["overrideNote"], "Accertata l'irreperibilità all'indirizzo di residenza");
    assert_eq!(rep["residencyCheck"]["requirementMet"], true);
    // The trail records the reason's code, never the note.
    let e = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("residency_check"))
        .filter(entity::audit_event::Column::EntityId.eq(c.id.to_string()))
        .filter(entity::audit_event::Column::Action.eq(AuditAction::Transition))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the finalisation's entry");
    let changes = e.changes.unwrap();
    assert!(changes.contains("IRREPERIBILITA_ACCERTATA") && !changes.contains("indirizzo"), "{changes}");
}
