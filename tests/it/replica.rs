//! Queries on a real PostgreSQL streaming replica (`db::replica`), started by
//! `tools/pg-replica start` (`.ci/run` does) and named by
//! `GEPI_TEST_REPLICA_URL`: queries read from it, a principal reads its own
//! writes (from the primary until the replica has replayed them, on this
//! instance and on another), and a replica paused past its bound, or cut
//! off, hands every read to the primary. The standby's replay is paused and
//! resumed to make it lag on demand.
//!
//! Every other PostgreSQL test reads its queries through a read-only pool on
//! its own database (see `TestApp::with_config`), so that a query path that
//! writes fails there.

use std::time::{Duration, Instant};

use entity::enums::Role;
use gepi::{db::replica::Replica, AppState};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{json, Value};

use crate::helpers::{
    proxy::{through, Proxy},
    seed_today, TestApp,
};

/// The tests pause the one standby: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The standby's base URL, when the PostgreSQL tests have one.
fn standby_base() -> Option<String> {
    std::env::var("GEPI_TEST_DATABASE_URL").ok()?;
    std::env::var("GEPI_TEST_REPLICA_URL").ok().filter(|u| !u.is_empty())
}

/// The standby's base URL, held by this test alone; `None` (the test skipped)
/// without one.
async fn the_standby() -> Option<(String, tokio::sync::MutexGuard<'static, ()>)> {
    let Some(base) = standby_base() else {
        eprintln!("skipped: GEPI_TEST_REPLICA_URL names no streaming replica (tools/pg-replica start)");
        return None;
    };
    Some((base, SERIAL.lock().await))
}

/// `url` (a database on the primary) on the standby.
fn on_standby(base: &str, url: &str) -> String {
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    let (_, name) = url.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}")
}

/// The standby, driven from its `postgres` database; its replay resumes when
/// this is dropped, also after a failed assertion.
struct Standby {
    admin: DatabaseConnection,
    base: String,
}

impl Standby {
    async fn connect(base: &str) -> Standby {
        let admin = gepi::db::connect_url(base, 1).await.expect("connect to the standby");
        let standby = Standby { admin, base: base.to_string() };
        assert_eq!(standby.text("SELECT pg_is_in_recovery()::text").await, "true", "{base} is a standby");
        standby
    }

    async fn text(&self, sql: &str) -> String {
        let row = self.admin.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await.unwrap();
        row.unwrap().try_get_by_index::<Option<String>>(0).unwrap().unwrap_or_default()
    }

    async fn pause(&self) {
        self.text("SELECT pg_wal_replay_pause()::text").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.text("SELECT pg_get_wal_replay_pause_state()").await != "paused" {
            assert!(Instant::now() < deadline, "the standby's replay did not pause");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn resume(&self) {
        self.text("SELECT pg_wal_replay_resume()::text").await;
    }

    /// Waits until the standby has replayed everything the primary has now.
    async fn caught_up(&self, primary: &DatabaseConnection) {
        let row = primary
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT pg_current_wal_insert_lsn()::text",
            ))
            .await
            .unwrap()
            .unwrap();
        let lsn: String = row.try_get_by_index(0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.text(&format!("SELECT (pg_last_wal_replay_lsn() >= '{lsn}')::text")).await != "true" {
            assert!(Instant::now() < deadline, "the standby did not replay {lsn} within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([self.base.as_str(), "-Atqc", "SELECT pg_wal_replay_resume()"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Another instance over the app's database, reading from `replica_url`.
async fn instance(app: &TestApp, replica_url: &str, max_lag_ms: u64) -> (AppState, axum::Router) {
    let mut config = (*app.state.config).clone();
    config.database_replica_url = Some(replica_url.to_string());
    config.replica_max_lag_ms = max_lag_ms;
    let replica = Replica::connect(&config, |_| {}).await.expect("the replica's pool");
    let state = AppState::new(config, app.db.clone()).await.expect("policies compile").with_replica(replica);
    (state.clone(), gepi::app(state))
}

/// Waits until `state`'s replica is as `want` says.
async fn until(state: &AppState, what: &str, want: impl Fn(gepi::db::replica::Health) -> bool) {
    let r = state.replica.as_ref().expect("a replica");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !want(r.health()) {
        assert!(Instant::now() < deadline, "the replica is not {what}: {:?}", r.health());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn scrape(router: &axum::Router) -> String {
    use tower::ServiceExt;
    let req = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn reads(state: &AppState, on: &str) -> u64 {
    state.metrics.replica().query_reads.with_label_values(&[on]).get()
}

const NOTES: &str = "query($id: ID!) { case(id: $id) { preliminaryAnalysis { version needsNotes } } }";

/// A case of the case manager `op` with its analysis in draft: its global
/// id, and the analysis's row id.
async fn draft_of(app: &TestApp, op: uuid::Uuid) -> (String, uuid::Uuid) {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!(
                "SELECT c.id, pa.id FROM case_file c JOIN preliminary_analysis pa ON pa.case_id = c.id \
                 WHERE c.case_manager_id = '{op}' AND c.state = 'AP_IN_CORSO' AND pa.state = 'BOZZA' \
                 ORDER BY c.id LIMIT 1"
            ),
        ))
        .await
        .unwrap()
        .expect("the demo data has an analysis in draft for the case manager");
    (gepi::ids::encode("Case", row.try_get_by_index::<uuid::Uuid>(0).unwrap()), row.try_get_by_index(1).unwrap())
}

fn notes(body: &Value) -> String {
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["case"]["preliminaryAnalysis"]["needsNotes"].as_str().unwrap_or_default().to_string()
}

async fn set_notes_in_sql(app: &TestApp, analysis: uuid::Uuid, text: &str) {
    app.db
        .execute_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!("UPDATE preliminary_analysis SET needs_notes = '{text}' WHERE id = '{analysis}'"),
        ))
        .await
        .unwrap();
}

/// Seeded demo data, its app reading from the standby (bound `max_lag_ms`),
/// once the standby has it all.
async fn seeded_on_standby(base: &str, max_lag_ms: u64) -> (TestApp, Standby) {
    let standby = Standby::connect(base).await;
    let app = TestApp::with_config(|c| {
        c.database_replica_url = Some(on_standby(base, &c.database_url));
        c.replica_max_lag_ms = max_lag_ms;
    })
    .await;
    gepi::seed::run(&app.db, &gepi::seed::SeedOptions::demo(seed_today())).await.expect("seed");
    standby.caught_up(&app.db).await;
    (app, standby)
}

#[tokio::test]
async fn queries_read_from_the_replica_and_a_writer_reads_its_own_writes_on_every_instance() {
    let Some((base, _one)) = the_standby().await else { return };
    // A bound the paused standby stays within while the test runs.
    let (app, standby) = seeded_on_standby(&base, 120_000).await;
    let (writer, _, a) = app.login_role(Role::CaseManager, 0).await;
    let (reader, _, b) = app.login_role(Role::CaseManager, 1).await;
    let (case_a, _) = draft_of(&app, a.id).await;
    let (case_b, analysis_b) = draft_of(&app, b.id).await;
    // A second instance, listening for the first one's writes.
    let (other, other_router) = instance(&app, &on_standby(&base, &app.url), 120_000).await;
    standby.caught_up(&app.db).await;
    until(&app.state, "serving", |h| h.serving).await;
    until(&other, "serving", |h| h.serving).await;
    let before = notes(&app.gql(Some(&reader), NOTES, json!({ "id": case_b })).await);

    standby.pause().await;
    // A change the standby has not replayed: a principal that wrote nothing
    // reads the replica's older rows, on both instances.
    set_notes_in_sql(&app, analysis_b, "changed on the primary").await;
    let replica_reads = reads(&app.state, "replica");
    assert_eq!(notes(&app.gql(Some(&reader), NOTES, json!({ "id": case_b })).await), before, "read on the replica");
    assert_eq!(reads(&app.state, "replica"), replica_reads + 1);
    assert_eq!(notes(&app.gql_on(&other_router, &reader, NOTES, json!({ "id": case_b })).await), before);

    // A principal that writes reads its write at once: from the primary, here
    // and on the other instance (told by NOTIFY), while the replica lags.
    let v = app.gql(Some(&writer), NOTES, json!({ "id": case_a })).await["data"]["case"]["preliminaryAnalysis"]
        ["version"]
        .as_i64()
        .unwrap();
    let save = "mutation($i: SaveAnalysisInput!) { saveAnalysis(input: $i) { preliminaryAnalysis { version } } }";
    let saved = app
        .gql(Some(&writer), save, json!({ "i": { "caseId": case_a, "version": v, "needsNotes": "my own words" } }))
        .await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let primary_reads = reads(&app.state, "primary");
    assert_eq!(notes(&app.gql(Some(&writer), NOTES, json!({ "id": case_a })).await), "my own words");
    assert_eq!(reads(&app.state, "primary"), primary_reads + 1, "the writer read from the primary");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // NOTIFY reaches the other instance as the mutation's answer leaves.
        let seen = notes(&app.gql_on(&other_router, &writer, NOTES, json!({ "id": case_a })).await);
        if seen == "my own words" {
            break;
        }
        assert!(Instant::now() < deadline, "the other instance read the writer's old rows: {seen}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The reader, still on the replica, does not see them yet.
    let replica_reads = reads(&app.state, "replica");
    assert_eq!(notes(&app.gql(Some(&reader), NOTES, json!({ "id": case_b })).await), before);
    assert_eq!(reads(&app.state, "replica"), replica_reads + 1);

    // Replayed: everyone reads from the replica again, and sees both changes.
    standby.resume().await;
    standby.caught_up(&app.db).await;
    let replica_reads = reads(&app.state, "replica");
    assert_eq!(notes(&app.gql(Some(&writer), NOTES, json!({ "id": case_a })).await), "my own words");
    assert_eq!(notes(&app.gql(Some(&reader), NOTES, json!({ "id": case_b })).await), "changed on the primary");
    assert_eq!(reads(&app.state, "replica"), replica_reads + 2, "both read from the replica once it replayed");
    drop(other);
}

#[tokio::test]
async fn a_replica_past_its_bound_or_cut_off_hands_every_read_to_the_primary() {
    let Some((base, _one)) = the_standby().await else { return };
    let (app, standby) = seeded_on_standby(&base, 60_000).await;
    let (reader, _, b) = app.login_role(Role::CaseManager, 1).await;
    let (case_b, analysis_b) = draft_of(&app, b.id).await;
    // An instance whose replica is 1 s at most behind, reached through a proxy.
    let (via, upstream) = through(&on_standby(&base, &app.url), "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::to(upstream).await;
    let (state, router) = instance(&app, &through(&via, proxy.addr).0, 1_000).await;
    standby.caught_up(&app.db).await;
    until(&state, "serving", |h| h.serving).await;

    // Behind by more than its bound: the primary answers, with what it has.
    standby.pause().await;
    set_notes_in_sql(&app, analysis_b, "past the bound").await;
    until(&state, "past its bound", |h| h.lag.is_none_or(|l| l > Duration::from_secs(1))).await;
    let primary_reads = reads(&state, "primary");
    assert_eq!(notes(&app.gql_on(&router, &reader, NOTES, json!({ "id": case_b })).await), "past the bound");
    assert_eq!(reads(&state, "primary"), primary_reads + 1);
    let metrics = scrape(&router).await;
    let lag: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gepi_db_replica_lag_seconds "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    assert!(lag == -1.0 || lag > 1.0, "{metrics}");
    assert!(metrics.lines().any(|l| l == "gepi_db_replica_up 1"), "{metrics}");
    standby.resume().await;
    standby.caught_up(&app.db).await;
    until(&state, "serving again", |h| h.serving).await;

    // Cut off: once the poller finds it gone, reads go to the primary and
    // are answered; back, it serves again.
    proxy.cut();
    until(&state, "down", |h| !h.up).await;
    set_notes_in_sql(&app, analysis_b, "while the replica was away").await;
    let primary_reads = reads(&state, "primary");
    let r = app.gql_on(&router, &reader, NOTES, json!({ "id": case_b })).await;
    assert_eq!(notes(&r), "while the replica was away");
    assert_eq!(reads(&state, "primary"), primary_reads + 1);
    assert!(scrape(&router).await.lines().any(|l| l == "gepi_db_replica_up 0"));
    proxy.restore();
    until(&state, "serving after the cut", |h| h.up && h.serving).await;
    standby.caught_up(&app.db).await;
    // (Within 1 s of the primary on two busy cores: the read may take a few tries.)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let replica_reads = reads(&state, "replica");
        let r = app.gql_on(&router, &reader, NOTES, json!({ "id": case_b })).await;
        assert_eq!(notes(&r), "while the replica was away");
        if reads(&state, "replica") == replica_reads + 1 {
            break;
        }
        let health = state.replica.as_ref().unwrap().health();
        assert!(Instant::now() < deadline, "no read reached the replica again: {health:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
