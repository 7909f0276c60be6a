//! Disadvantage validation: the validator of the certifying Comune decides within
//! 60 days; past the deadline the request counts as confirmed and can no longer
//! be decided.

use chrono::Duration;
use entity::{disadvantage_check, enums::*};
use gepi::ids;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::{
    builders::{self, today},
    error_code, TestApp,
};

const DECIDE: &str = "mutation($i: DecideDisadvantageCheckInput!) { decideDisadvantageCheck(input: $i) { id state version decidedAt notes category expiredBySilence dueOn } }";

/// An Ambito with two Comuni, a household of the first, and the validator of
/// the first Comune, logged in.
struct Scene {
    app: TestApp,
    token: String,
    desio: entity::comune::Model,
    varedo: entity::comune::Model,
    household: builders::Household,
}

async fn scene(app: TestApp) -> Scene {
    let a = builders::ambito(&app.db, "LOM-MB-PROVA").await;
    let desio = builders::comune(&app.db, &a, "108991", "Z981", "Desio di Prova").await;
    let varedo = builders::comune(&app.db, &a, "108992", "Z982", "Varedo di Prova").await;
    let op = builders::operator("Lucia", "Riva").insert(&app.db).await;
    let p = builders::profile(&op, Role::DisadvantageValidator).ambito(&a).comuni(&[&desio]).insert(&app.db).await;
    let token = app.login(&op.fiscal_code, &builders::gid("Profile", p.id)).await;
    let household = builders::household(&desio).insert(&app.db).await;
    Scene { app, token, desio, varedo, household }
}

#[tokio::test]
async fn the_validator_decides_within_sixty_days_and_silence_counts_as_consent() {
    let s = scene(TestApp::new().await).await;
    let (app, token) = (&s.app, &s.token);
    // Deadline edges: day 59 and 60 are in time, 61 is expired.
    for (days, expired) in [(59, false), (60, false), (61, true)] {
        let d = builders::disadvantage_check(&s.household, 0)
            .received_on(today() - Duration::days(days))
            .insert(&app.db)
            .await;
        let gid = ids::encode("DisadvantageCheck", d.id);
        let r = app
            .gql(
                Some(token),
                "query($id: ID!) { node(id: $id) { ... on DisadvantageCheck { expiredBySilence } } }",
                json!({ "id": gid }),
            )
            .await;
        assert_eq!(r["data"]["node"]["expiredBySilence"], expired, "day {days}: {r}");
        let r = app.gql(Some(token), DECIDE, json!({ "i": { "checkId": gid, "version": 1, "confirmed": true, "notes": "Presa in carico verificata" } })).await;
        if expired {
            assert_eq!(error_code(&r), Some("CONFLICT"), "day {days}: {r}");
            assert!(r["errors"][0]["message"].as_str().unwrap().contains("silenzio-assenso"));
        } else {
            assert!(r["errors"].is_null(), "day {days}: {r}");
            assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "CONFERMATA");
            // INPS collects the decision.
            use sea_orm::{ColumnTrait, QueryFilter};
            let events = entity::partner_event::Entity::find()
                .filter(entity::partner_event::Column::DisadvantageCheckId.eq(d.id))
                .all(&app.db)
                .await
                .unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, entity::enums::PartnerEventKind::EsitoSvantaggio);
            assert!(events[0].fiscal_code.is_some());
            // Decided: no second decision.
            let r = app
                .gql(
                    Some(token),
                    DECIDE,
                    json!({ "i": { "checkId": gid, "version": 2, "confirmed": false, "notes": "x" } }),
                )
                .await;
            assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
        }
    }
    // The expired filter and the computed field agree.
    let old = builders::disadvantage_check(&s.household, 1)
        .state(DisadvantageState::InVerifica)
        .received_on(today() - Duration::days(90))
        .insert(&app.db)
        .await;
    let recent = builders::disadvantage_check(&s.household, 1).insert(&app.db).await;
    let r = app.gql(Some(token), "{ disadvantageChecks(first: 100, filter: { expiredBySilence: true }) { edges { node { id expiredBySilence } } } }", json!({})).await;
    let ids_of = |r: &serde_json::Value| -> Vec<String> {
        r["data"]["disadvantageChecks"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let expired = ids_of(&r);
    assert!(expired.contains(&ids::encode("DisadvantageCheck", old.id)), "{r}");
    assert!(!expired.contains(&ids::encode("DisadvantageCheck", recent.id)), "{r}");
    assert_eq!(expired.len(), 2, "the request of day 61 and the old one: {r}");
    // Not confirming needs notes; taking into verification moves RICEVUTA on.
    let gid = ids::encode("DisadvantageCheck", recent.id);
    let r = app.gql(Some(token), DECIDE, json!({ "i": { "checkId": gid, "version": 1, "confirmed": false } })).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.notes", "{r}");
    let r = app.gql(Some(token), DECIDE, json!({ "i": { "checkId": gid, "version": 1 } })).await;
    assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "IN_VERIFICA", "{r}");
    let r = app
        .gql(
            Some(token),
            DECIDE,
            json!({ "i": { "checkId": gid, "version": 2, "confirmed": false, "notes": "Nessuna presa in carico" } }),
        )
        .await;
    assert_eq!(r["data"]["decideDisadvantageCheck"]["state"], "NON_CONFERMATA", "{r}");
    assert_eq!(app.count("audit_event WHERE entity = 'disadvantage_check' AND action <> 'read'").await, 4);
}

#[tokio::test]
async fn other_roles_and_other_comuni_cannot_decide() {
    // The demo data gives one operator of every role.
    let s = scene(TestApp::seeded().await).await;
    let app = &s.app;
    // A request of another Comune of the validator's Ambito is not the validator's.
    let other = builders::household(&s.varedo).insert(&app.db).await;
    let foreign = builders::disadvantage_check(&other, 0).insert(&app.db).await;
    let r = app.gql(Some(&s.token), DECIDE, json!({ "i": { "checkId": ids::encode("DisadvantageCheck", foreign.id), "version": 1, "confirmed": true } })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    let d = builders::disadvantage_check(&s.household, 0).insert(&app.db).await;
    assert_eq!(d.certifying_comune_istat, s.desio.istat_code);
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
    for row in [&d, &foreign] {
        let after = disadvantage_check::Entity::find_by_id(row.id).one(&app.db).await.unwrap().unwrap();
        assert_eq!((after.version, after.state), (1, DisadvantageState::Ricevuta));
    }
}

/// A request left undecided past its 60 days goes to INPS's change feed once,
/// as silenzio-assenso; one decided in time, or still in time, does not.
#[tokio::test]
async fn a_request_expired_by_silence_reaches_inps_once() {
    use entity::{enums::PartnerEventKind, partner_event};
    use sea_orm::{ColumnTrait, QueryFilter};
    let s = scene(TestApp::new().await).await;
    let expired =
        builders::disadvantage_check(&s.household, 0).received_on(today() - Duration::days(61)).insert(&s.app.db).await;
    let in_time =
        builders::disadvantage_check(&s.household, 1).received_on(today() - Duration::days(60)).insert(&s.app.db).await;
    let decided = builders::disadvantage_check(&s.household, 1)
        .received_on(today() - Duration::days(90))
        .state(DisadvantageState::Confermata)
        .insert(&s.app.db)
        .await;
    let sweep = gepi::disadvantage::service::expire_by_silence;
    assert_eq!(sweep(&s.app.db, today()).await.unwrap(), 1);
    assert_eq!(sweep(&s.app.db, today()).await.unwrap(), 0, "once");
    let events = partner_event::Entity::find().all(&s.app.db).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].disadvantage_check_id),
        (PartnerEventKind::SilenzioAssenso, Some(expired.id))
    );
    assert_eq!(events[0].fiscal_code.as_deref(), Some(s.household.members[0].fiscal_code.as_str()));
    let trail = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::EntityId.eq(expired.id.to_string()))
        .all(&s.app.db)
        .await
        .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].actor_kind, ActorKind::System);
    // The next day, the one that was still in time goes too; the decided one never.
    assert_eq!(sweep(&s.app.db, today() + Duration::days(1)).await.unwrap(), 1);
    // A decision read before that sweep (still in time by today's date) is
    // stale now: the request cannot be both silent and decided.
    let r = s
        .app
        .gql(Some(&s.token), DECIDE, json!({ "i": { "checkId": ids::encode("DisadvantageCheck", in_time.id), "version": 1, "confirmed": true, "notes": "In tempo" } }))
        .await;
    assert_eq!(error_code(&r), Some("CONFLICT"), "{r}");
    let ids: Vec<_> =
        partner_event::Entity::find().all(&s.app.db).await.unwrap().iter().map(|e| e.disadvantage_check_id).collect();
    assert!(ids.contains(&Some(in_time.id)) && !ids.contains(&Some(decided.id)), "{ids:?}");
    let row = disadvantage_check::Entity::find_by_id(expired.id).one(&s.app.db).await.unwrap().unwrap();
    assert!(row.sent_to_inps_at.is_some(), "marked sent");
}
