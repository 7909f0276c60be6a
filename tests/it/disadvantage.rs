//! Disadvantage validation: the validator of the certifying Comune decides within
//! 60 days; past the deadline the request counts as confirmed and can no longer
//! be decided.

use chrono::Duration;
use entity::{disadvantage_check, enums::*, profile_comune};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{error_code, TestApp};

const DECIDE: &str = "mutation($i: DecideDisadvantageCheckInput!) { decideDisadvantageCheck(input: $i) { id state version decidedAt notes category expiredBySilence dueOn } }";

async fn set_received(app: &TestApp, id: uuid::Uuid, days_ago: i64, state: &str) {
    let d = gepi::calendar::today() - Duration::days(days_ago);
    let sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "UPDATE disadvantage_check SET received_on = '{d}', state = '{state}', version = 1 WHERE id = '{id}'"
        ),
        _ => format!(
            "UPDATE disadvantage_check SET received_on = '{d}', state = '{state}', version = 1 WHERE id = X'{}'",
            id.simple()
        ),
    };
    app.exec(&sql).await;
}

#[tokio::test]
async fn the_validator_decides_within_sixty_days_and_silence_counts_as_consent() {
    let app = TestApp::seeded().await;
    let (token, p, _) = app.login_role(Role::DisadvantageValidator, 0).await;
    let comuni: Vec<String> = profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(p.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.comune_istat)
        .collect();
    let mine = disadvantage_check::Entity::find()
        .filter(disadvantage_check::Column::CertifyingComuneIstat.is_in(comuni.clone()))
        .all(&app.db)
        .await
        .unwrap();
    assert!(!mine.is_empty(), "the seed has requests for the validator's Comuni");
    let d = &mine[0];
    let gid = ids::encode("DisadvantageCheck", d.id);
    // Deadline edges: day 59 and 60 are in time, 61 is expired.
    for (days, expired) in [(59, false), (60, false), (61, true)] {
        set_received(&app, d.id, days, "RICEVUTA").await;
        let r = app
            .gql(
                Some(&token),
                "query($id: ID!) { node(id: $id) { ... on DisadvantageCheck { expiredBySilence } } }",
                json!({ "id": gid }),
            )
            .await;
        assert_eq!(r["data"]["node"]["expiredBySilence"], expired, "day {days}: {r}");
        let r = app.gql(Some(&token), DECIDE, json!({ "i": { "checkId": gid, "version": 1, "confirmed": true, "notes": "Presa in carico verificata" } })).await;
        if expired {
            assert_eq!(error_code(&r), Some("CONFLICT"), "day {days}: {r}");
            assert!(r["errors"][0]["message"].as_str().unwrap().contains("silenzio-assenso"));
        } else {
            assert!(r["errors"].is_null(), "day {days}: {r}");
            assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "CONFERMATA");
            // Decided: no second decision.
            let r = app
                .gql(
                    Some(&token),
                    DECIDE,
                    json!({ "i": { "checkId": gid, "version": 2, "confirmed": false, "notes": "x" } }),
                )
                .await;
            assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
        }
    }
    // The expired filter and the computed field agree.
    set_received(&app, d.id, 90, "IN_VERIFICA").await;
    let r = app.gql(Some(&token), "{ disadvantageChecks(first: 100, filter: { expiredBySilence: true }) { edges { node { id expiredBySilence } } } }", json!({})).await;
    let edges = r["data"]["disadvantageChecks"]["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["node"]["id"] == gid), "{r}");
    assert!(edges.iter().all(|e| e["node"]["expiredBySilence"] == true));
    // Not confirming needs notes; taking into verification moves RICEVUTA on.
    set_received(&app, d.id, 10, "RICEVUTA").await;
    let r = app.gql(Some(&token), DECIDE, json!({ "i": { "checkId": gid, "version": 1, "confirmed": false } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.notes", "{r}");
    let r = app.gql(Some(&token), DECIDE, json!({ "i": { "checkId": gid, "version": 1 } })).await;
    assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "IN_VERIFICA", "{r}");
    let r = app
        .gql(
            Some(&token),
            DECIDE,
            json!({ "i": { "checkId": gid, "version": 2, "confirmed": false, "notes": "Nessuna presa in carico" } }),
        )
        .await;
    assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "NON_CONFERMATA", "{r}");
    assert_eq!(app.count("audit_event WHERE entity = 'disadvantage_check' AND action <> 'read'").await, 4);
}

#[tokio::test]
async fn other_roles_and_other_comuni_cannot_decide() {
    let app = TestApp::seeded().await;
    let (token, p, _) = app.login_role(Role::DisadvantageValidator, 0).await;
    let comuni: Vec<String> = profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(p.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.comune_istat)
        .collect();
    let foreign = disadvantage_check::Entity::find()
        .filter(disadvantage_check::Column::CertifyingComuneIstat.is_not_in(comuni))
        .one(&app.db)
        .await
        .unwrap();
    if let Some(f) = foreign {
        let r = app.gql(Some(&token), DECIDE, json!({ "i": { "checkId": ids::encode("DisadvantageCheck", f.id), "version": f.version, "confirmed": true } })).await;
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    }
    let d = disadvantage_check::Entity::find().one(&app.db).await.unwrap().unwrap();
    for role in [
        Role::CaseManager,
        Role::PaisCoordinator,
        Role::AmbitoAdmin,
        Role::RegistryCheckCoordinator,
        Role::PucManager,
        Role::MeetingRegistrar,
        Role::Analyst,
        Role::MinistryAdmin,
    ] {
        let (t, _, _) = app.login_role(role, 0).await;
        let r = app.gql(Some(&t), DECIDE, json!({ "i": { "checkId": ids::encode("DisadvantageCheck", d.id), "version": d.version, "confirmed": true } })).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "{}: {r}", role.as_str());
    }
    let after = disadvantage_check::Entity::find_by_id(d.id).one(&app.db).await.unwrap().unwrap();
    assert_eq!(after.version, d.version);
    let _ = DisadvantageState::Ricevuta;
}
