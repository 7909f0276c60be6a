//! The audit trail as a tamper-evident log: every event a leaf of the Merkle
//! tree, signed checkpoints served and written out, and `verify` naming what
//! a database owner changed behind the append-only triggers: an edited, a
//! deleted, a reordered and an inserted event, and a rewrite of the leaves
//! themselves, caught by a checkpoint kept outside the database.

use axum::{body::Body, http::Request};
use entity::enums::{ActorKind, AuditAction};
use gepi::{
    audit::{
        self,
        log::{self, Finding},
        AuditContext, AuditEntry,
    },
    tlog::{note, tree},
};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;

fn key() -> note::Signer {
    note::Signer::generate("gepi.test/audit").unwrap()
}

async fn app_with(signer: &note::Signer, sink: Option<std::path::PathBuf>) -> TestApp {
    let skey = signer.to_skey();
    TestApp::with_config(move |c| {
        c.audit_signing_key = Some(skey);
        c.audit_checkpoint_dir = sink;
    })
    .await
}

/// `n` events of a few kinds, written as the service writes them.
async fn write_events(db: &DatabaseConnection, n: usize) -> Vec<Uuid> {
    let ctx =
        AuditContext { request_id: Some("req-test".into()), ..AuditContext::unattributed(ActorKind::System, None) };
    for i in 0..n {
        let mut e = AuditEntry::new(
            "case_file",
            Uuid::now_v7(),
            if i % 2 == 0 { AuditAction::Read } else { AuditAction::Update },
        );
        e.changes = Some(json!({ "classes": ["personal"], "i": i }));
        audit::record(db, &ctx, vec![e]).await.unwrap();
    }
    ids_in_order(db).await
}

async fn leaf_events(db: &DatabaseConnection) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id FROM audit_leaf ORDER BY seq".to_string(),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get_by_index::<Uuid>(0).unwrap()).collect()
}

async fn ids_in_order(db: &DatabaseConnection) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM audit_event ORDER BY id".to_string(),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get_by_index::<Uuid>(0).unwrap()).collect()
}

/// Runs `sql` as the database owner would to rewrite the trail: with the
/// append-only triggers (and on SQLite the one that queues new events) out
/// of the way.
async fn as_owner(db: &DatabaseConnection, sql: &str) {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared("ALTER TABLE audit_event DISABLE TRIGGER USER").await.unwrap();
        db.execute_unprepared(sql).await.unwrap();
        db.execute_unprepared("ALTER TABLE audit_event ENABLE TRIGGER USER").await.unwrap();
    } else {
        for t in ["audit_event_no_update", "audit_event_no_delete", "audit_event_pending"] {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {t}")).await.unwrap();
        }
        db.execute_unprepared(sql).await.unwrap();
    }
}

pub(crate) fn uuid_literal(db: &DatabaseConnection, id: Uuid) -> String {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        format!("'{id}'::uuid")
    } else {
        format!("X'{}'", id.simple())
    }
}

/// A trail of 40 events with two signed checkpoints (after 25 and 40) and 5
/// more events after the last; verification finds nothing.
async fn trail(signer: &note::Signer) -> (TestApp, Vec<Uuid>, String) {
    let app = app_with(signer, None).await;
    write_events(&app.db, 25).await;
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 25);
    log::checkpoint(&app.db, signer, chrono::Duration::zero(), None).await.unwrap().unwrap();
    write_events(&app.db, 15).await;
    // Checkpoints are at least a second apart in `signed_at`, never two in one second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    log::sequence_all(&app.db).await.unwrap();
    let last = log::checkpoint(&app.db, signer, chrono::Duration::zero(), None).await.unwrap().unwrap();
    assert_eq!(last.size, 40);
    let ids = write_events(&app.db, 5).await;
    log::sequence_all(&app.db).await.unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 7).await.unwrap();
    assert_eq!(v.findings, vec![], "an untouched trail verifies");
    assert_eq!((v.leaves, v.checkpoints, v.queued), (45, 2, 0));
    (app, ids, last.note)
}

async fn findings(app: &TestApp, signer: &note::Signer, external: &[String]) -> Vec<Finding> {
    log::verify(&app.db, &signer.verifier(), external, 7).await.unwrap().findings
}

#[tokio::test]
async fn an_edited_event_is_named() {
    let signer = key();
    let (app, ids, _) = trail(&signer).await;
    let victim = ids[10];
    as_owner(
        &app.db,
        &format!("UPDATE audit_event SET action = 'read', changes = NULL WHERE id = {}", uuid_literal(&app.db, victim)),
    )
    .await;
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f.first(), Some(&Finding::Edited { seq: 10, event: victim }), "{f:?}");
    assert_eq!(f.len(), 1, "{f:?}");
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let signer = key();
    let (app, ids, _) = trail(&signer).await;
    let victim = ids[3];
    as_owner(&app.db, &format!("DELETE FROM audit_event WHERE id = {}", uuid_literal(&app.db, victim))).await;
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f, vec![Finding::Deleted { seq: 3, event: victim }]);
}

#[tokio::test]
async fn reordered_events_are_named() {
    let signer = key();
    let (app, _, _) = trail(&signer).await;
    // Leaves 5 and 6 swap their events: the trail now tells them the other way round.
    for sql in [
        "UPDATE audit_leaf SET seq = -1 WHERE seq = 5".to_string(),
        "UPDATE audit_leaf SET seq = 5 WHERE seq = 6".to_string(),
        // Each leaf's hash moves with its event, as a careful owner would move them.
        "UPDATE audit_leaf SET seq = 6 WHERE seq = -1".to_string(),
    ] {
        as_owner(&app.db, &sql).await;
    }
    let f = findings(&app, &signer, &[]).await;
    // The leaves' own hashes now match their events: the checkpoints catch it.
    assert!(
        matches!(f.first(), Some(Finding::Checkpoint { size: 25, since_leaf: 0, .. })),
        "the first checkpoint after the swap fails: {f:?}"
    );
    assert!(f.iter().any(|x| matches!(x, Finding::Checkpoint { size: 40, .. })), "{f:?}");
    assert!(f.iter().any(|x| matches!(x, Finding::TreeHead { .. })), "{f:?}");

    // Swapping the events' rows instead (ids kept in place) breaks both leaves.
    let (app, ids, _) = trail(&signer).await;
    let changes = |id: Uuid| {
        let db = app.db.clone();
        async move {
            let r = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT changes FROM audit_event WHERE id = {}", uuid_literal(&db, id)),
                ))
                .await
                .unwrap()
                .unwrap();
            r.try_get_by_index::<String>(0).unwrap()
        }
    };
    let (ca, cb) = (changes(ids[5]).await, changes(ids[6]).await);
    for (id, c) in [(ids[5], &cb), (ids[6], &ca)] {
        as_owner(&app.db, &format!("UPDATE audit_event SET changes = '{c}' WHERE id = {}", uuid_literal(&app.db, id)))
            .await;
    }
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f[..2], [Finding::Edited { seq: 5, event: ids[5] }, Finding::Edited { seq: 6, event: ids[6] }], "{f:?}");
}

/// An event slipped in where the sequencer has already passed: behind the
/// queueing trigger on SQLite, with an old transaction id on PostgreSQL.
#[tokio::test]
async fn an_event_inserted_behind_the_sequencer_is_named() {
    let signer = key();
    let (app, _, _) = trail(&signer).await;
    let forged = Uuid::now_v7();
    let id = uuid_literal(&app.db, forged);
    let sql = if app.is_postgres() {
        format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action, xid) \
             VALUES ({id}, '2026-01-01T00:00:00Z', 'system', 'case_file', 'x', 'read', '3'::xid8)"
        )
    } else {
        format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
             VALUES ({id}, '2026-01-01 00:00:00+00:00', 'system', 'case_file', 'x', 'read')"
        )
    };
    as_owner(&app.db, &sql).await;
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 0, "the sequencer does not see it");
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f, vec![Finding::NotInTree { event: forged }]);
}

/// An event written now that says it happened long ago becomes a leaf like
/// any other, after checkpoints signed since the time it claims: named.
#[tokio::test]
async fn a_backdated_event_is_named() {
    let signer = key();
    let (app, _, _) = trail(&signer).await;
    let forged = Uuid::now_v7();
    let id = uuid_literal(&app.db, forged);
    let ts = if app.is_postgres() { "'2026-01-01T00:00:00Z'" } else { "'2026-01-01 00:00:00+00:00'" };
    // Writing is what the service's own rights allow: no trigger in the way.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
             VALUES ({id}, {ts}, 'system', 'case_file', 'x', 'read')"
        ))
        .await
        .unwrap();
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 1);
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(matches!(f[0], Finding::Backdated { seq: 45, event, checkpoint: 40, .. } if event == forged), "{f:?}");
    // An event a little older than the last checkpoint, within the tolerance
    // (a long transaction), is not.
    let app = app_with(&signer, None).await;
    write_events(&app.db, 3).await;
    log::sequence_all(&app.db).await.unwrap();
    let late = chrono::Utc::now() - log::BACKDATING_TOLERANCE / 2;
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().unwrap();
    let id = Uuid::now_v7();
    let ts = if app.is_postgres() {
        format!("'{}'", late.to_rfc3339())
    } else {
        format!("'{}'", late.format("%Y-%m-%d %H:%M:%S%.6f+00:00"))
    };
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
             VALUES ({}, {ts}, 'system', 'case_file', 'x', 'read')",
            uuid_literal(&app.db, id)
        ))
        .await
        .unwrap();
    audit::record(&app.db, &ctx, vec![AuditEntry::new("case_file", Uuid::now_v7(), AuditAction::Read)]).await.unwrap();
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 2);
    assert_eq!(findings(&app, &signer, &[]).await, vec![]);
}

/// On PostgreSQL the sequencer does not pass a transaction still writing: the
/// events of transactions that began later wait, however early they commit,
/// and each event ends up in one leaf.
#[tokio::test]
async fn the_sequencer_waits_for_a_transaction_still_open() {
    use sea_orm::TransactionTrait;
    let signer = key();
    let app = app_with(&signer, None).await;
    if !app.is_postgres() {
        return; // SQLite has one writer at a time.
    }
    write_events(&app.db, 2).await;
    let open = app.db.begin().await.unwrap();
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    audit::record(&open, &ctx, vec![AuditEntry::new("case_file", Uuid::now_v7(), AuditAction::Read)]).await.unwrap();
    let before = ids_in_order(&app.db).await;
    write_events(&app.db, 3).await;
    // Without waiting (the server's tick): the events of the transactions
    // that began after the open one are not taken (nor, while a transaction
    // of another test is open, maybe the first two).
    let n = log::sequence_available(&app.db).await.unwrap();
    assert!(n <= 2, "{n} events sequenced past an open transaction");
    let leaves = leaf_events(&app.db).await;
    assert!(leaves.iter().all(|e| before.contains(e)), "{leaves:?} not all in {before:?}");
    open.commit().await.unwrap();
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 6 - n);
    // A rolled-back transaction leaves nothing behind.
    let gone = app.db.begin().await.unwrap();
    audit::record(&gone, &ctx, vec![AuditEntry::new("case_file", Uuid::now_v7(), AuditAction::Read)]).await.unwrap();
    gone.rollback().await.unwrap();
    write_events(&app.db, 1).await;
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 1);
    log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 1000).await.unwrap();
    assert_eq!(v.findings, vec![]);
    assert_eq!((v.leaves, v.queued), (7, 0));
}

/// The owner rewrites an event, recomputes its leaf's hash and the tree head,
/// and deletes every stored checkpoint: only a checkpoint kept elsewhere shows
/// it, and it does.
#[tokio::test]
async fn a_rewrite_of_the_leaves_is_caught_by_a_checkpoint_kept_elsewhere() {
    let signer = key();
    let (app, ids, kept) = trail(&signer).await;
    let victim = ids[0];
    as_owner(&app.db, &format!("UPDATE audit_event SET changes = '{{}}' WHERE id = {}", uuid_literal(&app.db, victim)))
        .await;
    // Recompute every leaf hash and the frontier, as the owner can.
    let hashes = leaf_hashes_recomputed(&app.db).await;
    let mut f = tree::Frontier::default();
    for (seq, h) in hashes.iter().enumerate() {
        let hex = hex::encode(h);
        let lit = if app.is_postgres() { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
        as_owner(&app.db, &format!("UPDATE audit_leaf SET hash = {lit} WHERE seq = {seq}")).await;
        f.push(*h);
    }
    let frontier = hex::encode(f.to_bytes());
    let lit = if app.is_postgres() { format!("'\\x{frontier}'::bytea") } else { format!("X'{frontier}'") };
    as_owner(&app.db, &format!("UPDATE audit_tree SET frontier = {lit} WHERE id = 1")).await;
    as_owner(&app.db, "DELETE FROM audit_checkpoint").await;
    assert_eq!(findings(&app, &signer, &[]).await, vec![], "without a checkpoint from outside, nothing shows");
    let f = findings(&app, &signer, std::slice::from_ref(&kept)).await;
    assert!(
        matches!(f.as_slice(), [Finding::Checkpoint { size: 40, since_leaf: 0, .. }]),
        "the checkpoint kept elsewhere fails: {f:?}"
    );
    // A checkpoint forged without the key is refused too.
    let forged = kept.replace("\n40\n", "\n45\n");
    let f = findings(&app, &signer, &[forged]).await;
    assert!(matches!(&f[..], [Finding::Checkpoint { reason, .. }] if reason.contains("does not verify")), "{f:?}");
}

/// The leaf hashes the events hash to now (what an owner would store).
async fn leaf_hashes_recomputed(db: &DatabaseConnection) -> Vec<tree::Hash> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT e.id, e.occurred_at, e.request_id, e.operation, e.actor_kind, e.operator_id, e.profile_id, \
             e.api_client_id, e.role, e.ambito_id, e.entity, e.entity_id, e.action, e.changes \
             FROM audit_leaf l JOIN audit_event e ON e.id = l.event_id ORDER BY l.seq"
                .to_string(),
        ))
        .await
        .unwrap();
    rows.iter().map(|r| log::EventRow::read(r, 0).unwrap().leaf_hash()).collect()
}

/// What the server publishes: the latest checkpoint, the key that opens it,
/// consistency proofs between two checkpoints (checked with the RFC's
/// algorithm), and a copy of each checkpoint in the sink directory.
#[tokio::test]
async fn checkpoints_and_proofs_are_served() {
    let signer = key();
    let sink = std::env::temp_dir().join(format!("gepi-audit-sink-{}", Uuid::new_v4()));
    let app = app_with(&signer, Some(sink.clone())).await;
    let get = |uri: String| Request::builder().uri(uri).body(Body::empty()).unwrap();
    let (status, _, body) = app.request_text(get("/audit/checkpoint".into())).await;
    assert_eq!(status, 404, "no checkpoint yet: {body}");

    // The tick sequences what it can without waiting (on PostgreSQL another
    // test's open transaction may hold events back): wait for them first.
    write_events(&app.db, 11).await;
    let n = log::sequence_all(&app.db).await.unwrap();
    let (_, first) = app.state.audit_log.tick(&app.db).await.unwrap();
    assert_eq!(n, 11);
    let first = first.expect("the first checkpoint is due at once");
    // Within the interval, no new checkpoint.
    write_events(&app.db, 6).await;
    let n = log::sequence_all(&app.db).await.unwrap();
    let (_, none) = app.state.audit_log.tick(&app.db).await.unwrap();
    assert_eq!((n, none), (6, None));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = log::checkpoint(&app.db, &signer, chrono::Duration::zero(), Some(&sink)).await.unwrap().unwrap();

    let (status, headers, vkey) = app.request_text(get("/audit/key".into())).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    let verifier = note::Verifier::parse(&vkey).unwrap();
    let (status, _, latest) = app.request_text(get("/audit/checkpoint".into())).await;
    assert_eq!(status, 200);
    let c2 = note::Checkpoint::open(&latest, &verifier).unwrap();
    let c1 = note::Checkpoint::open(&first.note, &verifier).unwrap();
    assert_eq!((c1.size, c2.size), (11, 17));
    assert_eq!(latest, second.note);
    assert_eq!(std::fs::read_to_string(sink.join("latest")).unwrap(), second.note);
    let day = sink.join(second.signed_at.format("%Y-%m-%d").to_string());
    let copies = std::fs::read_dir(&day).unwrap().count();
    assert_eq!(copies, 2, "one file per checkpoint in {}", day.display());

    let r = app.request(get("/audit/consistency?from=11&to=17".into())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    use base64::Engine;
    let proof: Vec<tree::Hash> = r.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| base64::engine::general_purpose::STANDARD.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    assert!(tree::verify_consistency(11, 17, &c1.root, &c2.root, &proof));
    assert!(!tree::verify_consistency(11, 17, &c2.root, &c2.root, &proof));

    for (uri, field) in [
        ("/audit/consistency?from=12&to=11", "from"),
        ("/audit/consistency?from=1&to=18", "to"),
        ("/audit/consistency?from=x&to=3", "from"),
        ("/audit/consistency?from=1", "to"),
    ] {
        let r = app.request(get(uri.into())).await;
        assert_eq!(r.status, 400, "{uri}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "VALIDATION", "{uri}: {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{uri}: {}", r.body);
    }
    let _ = std::fs::remove_dir_all(&sink);
}

/// Events written by concurrent requests while the sequencer runs each end
/// up in exactly one leaf, and the tree verifies.
#[tokio::test]
async fn concurrent_writers_and_the_sequencer_leave_one_leaf_per_event() {
    let signer = key();
    let app = app_with(&signer, None).await;
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let db = app.db.clone();
            tokio::spawn(async move { write_events(&db, 30).await })
        })
        .collect();
    let db = app.db.clone();
    let sequencer = tokio::spawn(async move {
        for _ in 0..40 {
            log::sequence_all(&db).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    for w in writers {
        w.await.unwrap();
    }
    sequencer.await.unwrap();
    log::sequence_all(&app.db).await.unwrap();
    log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 1000).await.unwrap();
    assert_eq!(v.findings, vec![]);
    assert_eq!((v.leaves, v.queued), (120, 0));
}

/// The command line: a key from `gepi audit keygen`, a checkpoint from
/// `gepi audit checkpoint`, and `gepi audit verify` that passes, then fails
/// naming the event an owner deleted.
#[tokio::test]
async fn the_command_line_verifies_and_names_the_first_mismatch() {
    let gepi = |args: &[&str], key: &str, url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
            .args(args)
            .env("GEPI_DATABASE_URL", url)
            .env("GEPI_AUDIT_SIGNING_KEY", key)
            .env_remove("GEPI_CONFIG")
            .output()
            .expect("run gepi")
    };
    let out = gepi(&["audit", "keygen", "--origin", "gepi.cli/audit"], "", "sqlite::memory:");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let skey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let vkey = String::from_utf8_lossy(&out.stderr).lines().last().unwrap().trim().to_string();
    let signer = note::Signer::parse(&skey).unwrap();
    assert_eq!(signer.verifier().to_vkey(), vkey);

    let app = app_with(&signer, None).await;
    let ids = write_events(&app.db, 9).await;
    let out = gepi(&["audit", "checkpoint"], &skey, &app.url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = String::from_utf8(out.stdout).unwrap();
    assert_eq!(note::Checkpoint::open(&kept, &signer.verifier()).unwrap().size, 9);
    let file = std::env::temp_dir().join(format!("gepi-checkpoint-{}", Uuid::new_v4()));
    std::fs::write(&file, &kept).unwrap();

    let out = gepi(&["audit", "verify", "--key", &vkey, "--from-checkpoint", file.to_str().unwrap()], "", &app.url);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("9 leaves and 2 checkpoints"));

    as_owner(&app.db, &format!("DELETE FROM audit_event WHERE id = {}", uuid_literal(&app.db, ids[4]))).await;
    let out = gepi(&["audit", "verify", "--from-checkpoint", file.to_str().unwrap()], &skey, &app.url);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with(&format!("TAMPERED: event {} (leaf 4) is missing: deleted", ids[4])), "{stdout}");
    let _ = std::fs::remove_file(file);
}

/// Proofs read from the stored subtrees (height ≥ 8) and runs of leaves are
/// the proofs computed from every leaf, for trees built over several batches
/// of the sequencer; and they verify against the tree heads.
#[tokio::test]
async fn proofs_from_the_stored_subtrees_are_the_proofs_over_all_leaves() {
    let signer = key();
    let app = app_with(&signer, None).await;
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    for round in 0..7 {
        let entries = (0..(97 + round * 31))
            .map(|i| {
                let mut e = AuditEntry::new("household", Uuid::now_v7(), AuditAction::Read);
                e.changes = Some(json!({ "round": round, "i": i }));
                e
            })
            .collect();
        audit::record(&app.db, &ctx, entries).await.unwrap();
        log::sequence_all(&app.db).await.unwrap();
    }
    let leaves = leaf_hashes_recomputed(&app.db).await;
    let n = leaves.len() as u64;
    assert_eq!(n, 1330);
    let (size, root) = log::head(&app.db).await.unwrap();
    assert_eq!((size, root), (n, tree::root(&leaves)));
    let mut store = log::Subtrees::new(&app.db);
    for (m, to) in
        [(0, n), (1, n), (255, 256), (256, 512), (300, 1024), (513, 1330), (1024, 1329), (1330, 1330), (7, 1100)]
    {
        let expected = tree::consistency_proof(m as usize, &leaves[..to as usize]).unwrap();
        assert_eq!(log::consistency(&app.db, m, to).await.unwrap(), expected, "consistency {m} → {to}");
        let root_m = tree::root(&leaves[..m as usize]);
        let root_to = tree::root(&leaves[..to as usize]);
        assert!(tree::verify_consistency(m, to, &root_m, &root_to, &expected));
    }
    for (i, size) in [(0, n), (255, n), (256, n), (1329, n), (700, 1000), (999, 1000), (3, 4)] {
        let ranges = tree::inclusion_ranges(i, size).unwrap();
        let proof = store.proof(&ranges).await.unwrap();
        assert_eq!(
            proof,
            tree::inclusion_proof(i as usize, &leaves[..size as usize]).unwrap(),
            "inclusion {i} in {size}"
        );
        let leaf = store.leaf(i).await.unwrap();
        assert!(tree::verify_inclusion(i, size, &leaf, &proof, &tree::root(&leaves[..size as usize])));
    }
}

/// A tombstone forged to hide a deletion is refused: the triggers let the
/// service's own role delete no recent event, and a tombstone written by an
/// owner who deleted one behind the triggers does not cover it (its leaf was
/// in no checkpoint signed by the cutoff the tombstone claims).
#[tokio::test]
async fn a_forged_tombstone_hides_no_deletion() {
    let signer = key();
    let (app, ids, _) = trail(&signer).await;
    let victim = ids[2];
    // With the service's rights: the purge permit does not open the door to a recent event.
    app.db.execute_unprepared("INSERT INTO audit_purge_permit (id) VALUES (1)").await.unwrap();
    let refused = app
        .db
        .execute_unprepared(&format!("DELETE FROM audit_event WHERE id = {}", uuid_literal(&app.db, victim)))
        .await;
    assert!(refused.is_err(), "a recent event is never deleted");
    app.db.execute_unprepared("DELETE FROM audit_purge_permit").await.unwrap();
    // As the owner: deleted behind the triggers, with a tombstone naming its leaf.
    let leaf: i64 = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT seq FROM audit_leaf WHERE event_id = {}", uuid_literal(&app.db, victim)),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    as_owner(&app.db, &format!("DELETE FROM audit_event WHERE id = {}", uuid_literal(&app.db, victim))).await;
    let ctx = AuditContext::unattributed(ActorKind::System, None);
    let mut tomb = AuditEntry {
        entity: "audit_event",
        entity_id: None,
        action: AuditAction::Purge,
        ambito_id: None,
        changes: None,
    };
    tomb.changes = Some(json!({ "rule": "audit_trail", "before": "2020-01-01T00:00:00Z", "leaves": [[leaf, leaf]] }));
    if app.is_postgres() {
        app.db.execute_unprepared("ALTER TABLE audit_event ENABLE TRIGGER USER").await.unwrap();
    } else {
        app.db
            .execute_unprepared(
                "CREATE TRIGGER IF NOT EXISTS audit_event_pending AFTER INSERT ON audit_event FOR EACH ROW BEGIN \
                 INSERT INTO audit_pending (event_id) VALUES (NEW.id); END",
            )
            .await
            .unwrap();
    }
    audit::record(&app.db, &ctx, vec![tomb]).await.unwrap();
    log::sequence_all(&app.db).await.unwrap();
    let v = log::verify(&app.db, &signer.verifier(), &[], 7).await.unwrap();
    assert_eq!(v.purged, 0);
    assert_eq!(v.findings, vec![Finding::Deleted { seq: leaf as u64, event: victim }]);
}

/// PostgreSQL: what the sequencer does when the database is not as it left
/// it: a cursor past the cluster's transaction ids (a restored dump) is
/// rebased and the new events still become leaves; a second row with the id
/// of an event in the tree neither stops the sequencer nor hides (its content
/// differs: named as edited); an event with a transaction id no transaction
/// has had is named; and no checkpoint is signed while events wait behind a
/// transaction for long.
#[tokio::test]
async fn the_sequencer_survives_a_database_not_as_it_left_it() {
    let signer = key();
    let (app, ids, _) = trail(&signer).await;
    if !app.is_postgres() {
        return; // SQLite queues by trigger: none of these can happen there.
    }
    // A restored dump: the cursor is far ahead of the cluster's ids.
    app.db.execute_unprepared("UPDATE audit_tree SET cursor_xid = 4000000000000 WHERE id = 1").await.unwrap();
    write_events(&app.db, 3).await;
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 3);
    write_events(&app.db, 2).await;
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 2, "and after the rebase, by transaction again");
    assert_eq!(findings(&app, &signer, &[]).await, vec![]);

    // A second row with the id of leaf 7's event, another time and content.
    let twin = ids_in_order(&app.db).await[7];
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
             VALUES ('{twin}', now() - interval '1 day', 'system', 'case_file', 'x', 'read')"
        ))
        .await
        .unwrap();
    assert_eq!(log::sequence_all(&app.db).await.unwrap(), 0, "not a new leaf, and no failure");
    let f = findings(&app, &signer, &[]).await;
    assert_eq!(f, vec![Finding::Edited { seq: 7, event: twin }]);

    // An event with a transaction id from the future.
    let (app, _, _) = trail(&signer).await;
    let forged = Uuid::now_v7();
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action, xid) \
             VALUES ('{forged}', now(), 'system', 'case_file', 'x', 'read', '3000000000000'::xid8)"
        ))
        .await
        .unwrap();
    assert_eq!(findings(&app, &signer, &[]).await, vec![Finding::NotInTree { event: forged }]);

    // Events older than half an hour not yet in the tree: no checkpoint.
    let (app, _, _) = trail(&signer).await;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, entity_id, action) \
             VALUES ('{}', now() - interval '2 hours', 'system', 'case_file', 'x', 'read')",
            Uuid::now_v7()
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().is_none());
    log::sequence_all(&app.db).await.unwrap();
    assert!(log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().is_some());
    let _ = ids;
}
