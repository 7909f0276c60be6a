//! Retention and legal holds: households whose cases closed long ago are
//! anonymised and old audit events deleted (their leaves and a tombstone kept,
//! so the trail still verifies), except what a hold covers — every purge
//! attempt under a hold is refused, whatever the hold's scope.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, Utc};
use entity::{audit_event, case_file, enums::*, member};
use gepi::{
    audit::{self, AuditContext, AuditEntry},
    retention::{self, HoldScope, Policy},
};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::helpers::TestApp;

async fn members_of(app: &TestApp, household: Uuid) -> Vec<member::Model> {
    member::Entity::find()
        .filter(member::Column::HouseholdId.eq(household))
        .order_by_asc(member::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
}

fn anonymised(m: &member::Model) -> bool {
    m.first_name.is_empty() && m.last_name.is_empty() && m.fiscal_code.starts_with("ANON")
}

#[tokio::test]
async fn holds_block_every_purge_and_anonymisation_they_cover() {
    let app = TestApp::seeded().await;
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    let now = Utc::now();
    // Twelve households whose every case closed eleven years ago.
    let cases = case_file::Entity::find().order_by_asc(case_file::Column::Id).all(&app.db).await.unwrap();
    let households: Vec<Uuid> =
        cases.iter().map(|c| c.household_id).collect::<BTreeSet<_>>().into_iter().take(12).collect();
    for c in cases.iter().filter(|c| households.contains(&c.household_id)) {
        case_file::Entity::update(case_file::ActiveModel {
            id: Set(c.id),
            state: Set(CaseState::Chiuso),
            updated_at: Set(now - Duration::days(11 * 365)),
            ..Default::default()
        })
        .exec(&app.db)
        .await
        .unwrap();
    }
    // Old audit events about each household's first member, and about the case.
    let old = now - Duration::days(6 * 365);
    for h in &households {
        let m = &members_of(&app, *h).await[0];
        let case = cases.iter().find(|c| c.household_id == *h).unwrap();
        for (entity, id) in [("member", m.id), ("case_file", case.id)] {
            let id_lit = crate::audit_log::uuid_literal(&app.db, Uuid::now_v7());
            let at = if app.is_postgres() {
                format!("'{}'", old.to_rfc3339())
            } else {
                format!("'{}'", old.format("%Y-%m-%d %H:%M:%S%.6f+00:00"))
            };
            app.db
                .execute_unprepared(&format!(
                    "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
                     VALUES ({id_lit}, {at}, 'operator', '{entity}', '{id}', 'read')"
                ))
                .await
                .unwrap();
        }
    }
    let signer = gepi::tlog::note::Signer::generate("gepi.test/audit").unwrap();
    gepi::audit::log::sequence_all(&app.db).await.unwrap();
    // The events were in a checkpoint signed back then (the tree's test clock):
    // only leaves signed by the cutoff may be purged.
    let signed_then = old + Duration::days(1);
    gepi::audit::log::checkpoint_at(&app.db, &signer, Duration::zero(), None, signed_then).await.unwrap().unwrap();

    // Holds of each scope: a case, a household, a person.
    let case_held = cases.iter().find(|c| c.household_id == households[0]).unwrap().id;
    let person = members_of(&app, households[2]).await[0].clone();
    let holds = [
        retention::place_hold(&app.db, &ctx, HoldScope::Case(case_held), "Tribunale di Roma", "RG 123/2026")
            .await
            .unwrap(),
        retention::place_hold(&app.db, &ctx, HoldScope::Household(households[1]), "Garante", "art. 58 GDPR")
            .await
            .unwrap(),
        retention::place_hold(
            &app.db,
            &ctx,
            HoldScope::Person(person.fiscal_code.clone()),
            "Procura",
            "art. 253 c.p.p.",
        )
        .await
        .unwrap(),
    ];
    let held: BTreeSet<Uuid> = households[..3].iter().copied().collect();
    // Bad holds change nothing.
    let e = retention::place_hold(&app.db, &ctx, HoldScope::Case(Uuid::now_v7()), "x", "y").await.unwrap_err();
    assert_eq!(e.code().as_str(), "NOT_FOUND");
    let e = retention::place_hold(&app.db, &ctx, HoldScope::Household(households[3]), " ", "y").await.unwrap_err();
    assert_eq!((e.code().as_str(), e.field()), ("VALIDATION", Some("holder")));
    assert_eq!(retention::holds_in_force(&app.db).await.unwrap().len(), 3);

    let policy = Policy::load(None).unwrap();
    let events_before = audit_event::Entity::find().all(&app.db).await.unwrap().len();
    let dry = retention::run(&app.db, &ctx, &policy, now, true).await.unwrap();
    assert_eq!((dry.households_anonymised, dry.households_held), (9, 3), "{:?}", dry.lines);
    assert_eq!(
        audit_event::Entity::find().all(&app.db).await.unwrap().len(),
        events_before,
        "a dry run changes nothing"
    );
    assert!(members_of(&app, households[5]).await.iter().all(|m| !anonymised(m)));

    let done = retention::run(&app.db, &ctx, &policy, now, false).await.unwrap();
    assert_eq!((done.households_anonymised, done.households_held), (9, 3));
    assert_eq!(done.audit_events_held, 6, "the old events of the held households stay");
    assert_eq!(done.audit_events_purged, 18);
    for h in &households {
        let ms = members_of(&app, *h).await;
        if held.contains(h) {
            assert!(ms.iter().all(|m| !anonymised(m)), "household {h} is held");
        } else {
            assert!(ms.iter().all(anonymised), "household {h} is anonymised");
        }
    }
    // Every old event about a held household is still there; every other is gone.
    let remaining = audit_event::Entity::find()
        .filter(audit_event::Column::OccurredAt.lt(now - Duration::days(5 * 365)))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(remaining.len(), 6);
    let held_ids: BTreeSet<String> = {
        let mut s = BTreeSet::new();
        for h in &households[..3] {
            s.insert(members_of(&app, *h).await[0].id.to_string());
            s.insert(cases.iter().find(|c| c.household_id == *h).unwrap().id.to_string());
        }
        s
    };
    assert!(remaining.iter().all(|e| held_ids.contains(e.entity_id.as_deref().unwrap())));
    // The tree still verifies: the deleted events' leaves are named by a tombstone.
    gepi::audit::log::sequence_all(&app.db).await.unwrap();
    let v = gepi::audit::log::verify(&app.db, &signer.verifier(), &[], 1000).await.unwrap();
    assert_eq!(v.findings, vec![]);
    assert_eq!(v.purged, 18);
    // A second run finds nothing new to do.
    let again = retention::run(&app.db, &ctx, &policy, now, false).await.unwrap();
    assert_eq!((again.households_anonymised, again.audit_events_purged), (0, 0));
    // Released, the holds no longer protect.
    for h in &holds {
        retention::release_hold(&app.db, &ctx, h.id, "proceedings closed").await.unwrap();
    }
    let e = retention::release_hold(&app.db, &ctx, holds[0].id, "twice").await.unwrap_err();
    assert_eq!(e.code().as_str(), "CONFLICT");
    let after = retention::run(&app.db, &ctx, &policy, now, false).await.unwrap();
    assert_eq!((after.households_anonymised, after.audit_events_purged), (3, 6));
    // Holds, anonymisations and purges are in the trail, without values.
    let trail = audit_event::Entity::find().all(&app.db).await.unwrap();
    let count = |a: AuditAction, entity: &str| trail.iter().filter(|e| e.action == a && e.entity == entity).count();
    assert_eq!(count(AuditAction::Create, "legal_hold"), 3);
    assert_eq!(count(AuditAction::Update, "legal_hold"), 3);
    assert_eq!(count(AuditAction::Anonymise, "household"), 12);
    assert!(count(AuditAction::Purge, "audit_event") >= 2);
    assert!(trail.iter().filter(|e| e.action == AuditAction::Anonymise).all(|e| {
        !e.changes.as_deref().unwrap().contains(&person.last_name)
            && !e.changes.as_deref().unwrap().contains(&person.fiscal_code)
    }));
}

#[tokio::test]
async fn the_audit_trail_refuses_deletes_without_the_purge_permit() {
    let app = TestApp::new().await;
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    audit::record(&app.db, &ctx, vec![AuditEntry::new("member", Uuid::now_v7(), AuditAction::Read)]).await.unwrap();
    assert!(app.db.execute_unprepared("DELETE FROM audit_event").await.is_err());
    assert_eq!(audit_event::Entity::find().all(&app.db).await.unwrap().len(), 1);
}

/// On PostgreSQL a month of the trail past its period goes whole: its
/// partition is dropped, and one tombstone names its leaves and those named by
/// the tombstones it held (an earlier purge's), so the trail still verifies.
/// A month with an event not yet in a checkpoint signed by the cutoff stays.
#[tokio::test]
async fn a_month_of_the_trail_goes_as_a_partition_on_postgresql() {
    use gepi::audit::log;
    let app = TestApp::new().await;
    if !app.is_postgres() {
        return; // SQLite deletes rows (the test above).
    }
    let signer = gepi::tlog::note::Signer::generate("gepi.test/audit").unwrap();
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    let now = Utc::now();
    let (a0, a) = (now - Duration::days(7 * 365), now - Duration::days(6 * 365));
    let b = a + Duration::days(40);
    let part = |t: chrono::DateTime<Utc>| format!("audit_event_p{}", t.format("%Y%m"));
    let exists = |name: String| {
        let db = app.db.clone();
        async move {
            let r = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT to_regclass('{name}') IS NOT NULL"),
                ))
                .await
                .unwrap()
                .unwrap();
            r.try_get_by_index::<bool>(0).unwrap()
        }
    };
    let insert = |at: chrono::DateTime<Utc>, action: &str, changes: Option<String>| {
        let db = app.db.clone();
        let action = action.to_string();
        async move {
            let changes = changes.map(|c| format!("'{c}'")).unwrap_or("NULL".into());
            db.execute_unprepared(&format!(
                "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action, changes) \
                 VALUES ('{}', '{}', 'operator', 'member', '{}', '{action}', {changes})",
                Uuid::now_v7(),
                at.to_rfc3339(),
                Uuid::now_v7()
            ))
            .await
            .unwrap();
        }
    };
    for t in [a0, a, b] {
        app.db.execute_unprepared(&format!("SELECT gepi_audit_partition('{}')", t.date_naive())).await.unwrap();
    }
    // Month A0: three events, signed then; an earlier purge dropped them, its
    // tombstone in month A.
    for _ in 0..3 {
        insert(a0, "read", None).await;
    }
    log::sequence_all(&app.db).await.unwrap();
    log::checkpoint_at(&app.db, &signer, Duration::zero(), None, a0 + Duration::days(1)).await.unwrap().unwrap();
    let before = (a0 + Duration::days(2)).to_rfc3339();
    insert(a, "purge", Some(format!(r#"{{"rule":"audit_trail","before":"{before}","leaves":[[0,2]]}}"#))).await;
    for _ in 0..4 {
        insert(a, "read", None).await;
    }
    log::sequence_all(&app.db).await.unwrap();
    app.db.execute_unprepared(&format!("DROP TABLE {}", part(a0))).await.unwrap();
    log::checkpoint_at(&app.db, &signer, Duration::zero(), None, a + Duration::days(1)).await.unwrap().unwrap();
    // Month B: two events in no checkpoint signed by the cutoff.
    for _ in 0..2 {
        insert(b, "read", None).await;
    }
    log::sequence_all(&app.db).await.unwrap();
    log::checkpoint(&app.db, &signer, Duration::zero(), None).await.unwrap().unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 1000).await.unwrap();
    assert_eq!((v.findings, v.purged, v.leaves), (vec![], 3, 10));

    let policy = Policy::load(None).unwrap();
    let dry = retention::run(&app.db, &ctx, &policy, now, true).await.unwrap();
    assert_eq!(dry.audit_events_purged, 4, "{:?}", dry.lines);
    assert!(exists(part(a)).await, "a dry run drops nothing");
    let done = retention::run(&app.db, &ctx, &policy, now, false).await.unwrap();
    assert_eq!((done.audit_events_purged, done.audit_events_waiting), (4, 2), "{:?}", done.lines);
    assert!(!exists(part(a)).await, "month A is gone whole");
    assert!(exists(part(b)).await, "month B waits for a checkpoint signed by the cutoff");
    log::sequence_all(&app.db).await.unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 1000).await.unwrap();
    assert_eq!(v.findings, vec![]);
    assert_eq!(v.purged, 8, "month A0's three through the new tombstone, and month A's five");
    // The partitions of the coming months are there.
    let next =
        (now.date_naive().with_day(1).unwrap() + chrono::Months::new(retention::PARTITIONS_AHEAD)).and_hms_opt(0, 0, 0);
    assert!(exists(part(next.unwrap().and_utc())).await);
}
