//! Faults of the database as the service meets them: a statement over its
//! timeout, a pool with no connection to give, the database gone and back
//! (a TCP proxy between the service and PostgreSQL, cut and restored: what a
//! restart or a failover looks like from the service's side), and the
//! server's own start and stop (`serve --no-migrate`, SIGTERM with a request
//! in flight). Each answer is the stable, retryable `UNAVAILABLE` (503 with
//! `Retry-After`), never `INTERNAL` and never a hang, and the service comes
//! back by itself.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use entity::enums::Role;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::helpers::{
    proxy::{through, Proxy},
    seed_today, Resp, TestApp,
};

const CASES: &str = "{ cases(first: 3) { edges { node { id state household { members { firstName } } } } } }";

async fn seeded(f: impl FnOnce(&mut gepi::config::Config)) -> TestApp {
    let app = TestApp::with_config(f).await;
    gepi::seed::run(&app.db, &gepi::seed::SeedOptions::demo(seed_today())).await.expect("seed");
    app
}

fn assert_unavailable(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {}", r.body);
    assert_eq!(r.headers.get("retry-after").map(|v| v.to_str().unwrap()), Some("1"), "{what}");
    let errors = r.body["errors"].as_array().unwrap_or_else(|| panic!("{what}: no errors: {}", r.body));
    assert!(!errors.is_empty());
    for e in errors {
        assert_eq!(e["extensions"]["code"], "UNAVAILABLE", "{what}: {e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("try again") && !m.contains("nothing was done"), "{what}: {m}");
        // The driver's words (and the statement) stay in the log.
        assert!(!m.contains("SELECT") && !m.contains("canceling") && !m.contains("pool"), "{what}: {m}");
    }
}

fn assert_cases(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
    assert!(r.body.get("errors").is_none(), "{what}: {}", r.body);
    assert!(!r.body["data"]["cases"]["edges"].as_array().unwrap().is_empty(), "{what}");
}

/// A statement stuck behind a lock is cancelled at the statement timeout and
/// its request answered `UNAVAILABLE`; once the lock goes, the same request
/// is answered.
#[tokio::test]
async fn a_statement_over_its_timeout_is_unavailable_not_a_hang() {
    let app = seeded(|c| c.db_statement_timeout_ms = 300).await;
    if !app.is_postgres() {
        return; // statement_timeout is PostgreSQL's
    }
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    assert_cases(&app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await, "before");

    let other = gepi::db::connect_url(&app.url, 1).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE case_file IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let started = Instant::now();
    let r = app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await;
    let took = started.elapsed();
    assert_unavailable(&r, "behind the lock");
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("in time"), "{}", r.body);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    lock.rollback().await.unwrap();

    assert_cases(&app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await, "after");
}

/// Every pooled connection busy: a request waits the acquire timeout, then is
/// answered `UNAVAILABLE` (and its mutation did nothing).
#[tokio::test]
async fn an_exhausted_pool_is_unavailable_within_the_acquire_timeout() {
    let app = seeded(|c| {
        c.db_max_connections = 1;
        c.db_acquire_timeout_ms = 1_000; // also bounds the first connection, on a busy machine
    })
    .await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    assert_cases(&app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await, "before");

    let held = app.db.begin().await.unwrap();
    let started = Instant::now();
    let r = app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await;
    assert_unavailable(&r, "no connection to give");
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    let ready = app.request(axum::http::Request::get("/readyz").body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    held.rollback().await.unwrap();

    // The connection goes back to the pool on a task of the driver's: on a
    // busy machine that may take longer than the second a request waits.
    answered_again(&app, &token, Duration::from_secs(10), "the pool recovering").await;
}

/// Sends the case list until it is answered (within `bound`), each answer
/// meanwhile `UNAVAILABLE`.
async fn answered_again(app: &TestApp, token: &str, bound: Duration, what: &str) {
    let deadline = Instant::now() + bound;
    loop {
        let r = app.post_json("/graphql", Some(token), json!({ "query": CASES })).await;
        if r.status == StatusCode::OK {
            assert_cases(&r, "after");
            return;
        }
        assert_unavailable(&r, what);
        assert!(Instant::now() < deadline, "{what}: not answered within {bound:?}: {}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready(app: &TestApp) -> StatusCode {
    app.request(axum::http::Request::get("/readyz").body(axum::body::Body::empty()).unwrap()).await.status
}

/// The database goes away while the service serves, and comes back: requests
/// meanwhile (a query, a mutation) are answered `UNAVAILABLE`, `/readyz` goes
/// red then green, and the service answers again without being restarted.
#[tokio::test]
async fn the_service_rides_out_the_database_going_away_and_back() {
    let Ok(admin) = std::env::var("GEPI_TEST_DATABASE_URL") else { return };
    if !admin.starts_with("postgres") {
        return;
    }
    let (_, upstream) = through(&admin, "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::to(upstream).await;
    let app = seeded(|c| {
        c.database_url = through(&c.database_url, proxy.addr).0;
        c.db_acquire_timeout_ms = 1_000;
        c.session_cache_secs = 0; // every request reads its session: the outage shows at once
    })
    .await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    assert_cases(&app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await, "before");
    assert_eq!(ready(&app).await, StatusCode::OK);
    let notes_before = count(&app, "SELECT count(*) FROM audit_event").await;

    proxy.cut();
    let started = Instant::now();
    let r = app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await;
    assert_unavailable(&r, "database gone");
    let r = app
        .post_json(
            "/graphql",
            Some(&token),
            json!({ "query": "mutation { switchProfile(profileId: \"x\") { __typename } }" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(ready(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(10), "the outage took {:?} to answer", started.elapsed());

    proxy.restore();
    answered_again(&app, &token, Duration::from_secs(15), "the service coming back").await;
    assert_eq!(ready(&app).await, StatusCode::OK);
    // The read after the outage is in the trail.
    let notes_after = count(&app, "SELECT count(*) FROM audit_event").await;
    assert!(notes_after > notes_before, "the read after the outage is in the trail");
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let conn = gepi::db::connect_url(&direct_url(app), 1).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql.to_string()))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The app's database, reached directly rather than through its proxy.
fn direct_url(app: &TestApp) -> String {
    let admin = std::env::var("GEPI_TEST_DATABASE_URL").unwrap();
    let (_, upstream) = through(&admin, "127.0.0.1:1".parse().unwrap());
    let (_, via) = through(&app.url, "127.0.0.1:1".parse().unwrap());
    app.url.replacen(&via, &upstream, 1)
}

/// `serve --no-migrate` refuses a database behind this build and says what
/// to run.
#[tokio::test]
async fn serve_no_migrate_refuses_a_database_behind_this_build() {
    let path = std::env::temp_dir().join(format!("gepi-no-migrate-{}.db", uuid::Uuid::new_v4().simple()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
        .args(["serve", "--no-migrate", "--bind", "127.0.0.1:1"])
        .env("GEPI_DATABASE_URL", format!("sqlite://{}?mode=rwc", path.display()))
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started: {err}");
    assert!(err.contains("migration(s) behind this build") && err.contains("gepi migrate"), "{err}");
}

/// A request over plain HTTP/1.1 to the server on `port`: its status and the
/// whole answer as text.
async fn http(port: u16, path: &str, token: Option<&str>, body: Option<&str>) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = match body {
        Some(b) => format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        ),
        None => format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"),
    };
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok((text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), text))
}

/// SIGTERM: the server stops taking connections at once, answers the request
/// in flight (here one waiting on a lock), and exits 0.
#[tokio::test]
async fn sigterm_drains_the_request_in_flight_and_exits_zero() {
    let app = seeded(|_| {}).await;
    if !app.is_postgres() {
        return; // the request is held in flight by a PostgreSQL table lock
    }
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let port = free_port();
    let mut server = start_server(&app, port, &[]).await;

    let other = gepi::db::connect_url(&app.url, 1).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE case_file IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let body = json!({ "query": CASES }).to_string();
    let in_flight = tokio::spawn(async move { http(port, "/graphql", Some(&token), Some(&body)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(http(port, "/readyz", None, None).await.is_err(), "a new connection was taken after SIGTERM");
    assert!(!in_flight.is_finished(), "the request in flight ended before its lock went");
    lock.rollback().await.unwrap();

    let (status, text) = in_flight.await.unwrap().expect("the request in flight was answered");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"cases\"") && !text.contains("\"errors\""), "{text}");
    let exit = tokio::time::timeout(Duration::from_secs(15), server.wait()).await.expect("exited").unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// A port no one listens on now (the server is told to take it).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A server of its own on `app`'s database (`serve --no-migrate` on `port`,
/// with `env` added), ready to answer.
async fn start_server(app: &TestApp, port: u16, env: &[(&str, &str)]) -> tokio::process::Child {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
        .args(["serve", "--no-migrate", "--bind", &format!("127.0.0.1:{port}")])
        .env("GEPI_DATABASE_URL", &app.url)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http(port, "/readyz", None, None).await, Ok((200, _))) {
        assert!(Instant::now() < deadline, "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// SIGKILL under write load: clients keep saving drafts of the Analisi
/// preliminare of their cases (each save a new version of the row and one
/// audit event, in one transaction) while the server is killed with SIGKILL at
/// random moments and started again. Afterwards every save a client saw
/// succeed is there, each version of each row has exactly one audit event
/// (none lost with a committed change, none left by one that did not commit),
/// and each row holds the text of its last committed version.
#[tokio::test]
async fn sigkill_under_write_load_leaves_every_change_whole() {
    use std::collections::HashMap;
    let app = seeded(|_| {}).await;
    if !app.is_postgres() {
        return; // the server process runs on the PostgreSQL database
    }
    let (token, _, op) = app.login_role(Role::CaseManager, 0).await;
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT c.id, pa.id, pa.version FROM case_file c JOIN preliminary_analysis pa ON pa.case_id = c.id \
                 WHERE c.case_manager_id = '{}' AND c.state = 'AP_IN_CORSO' AND pa.state = 'BOZZA' ORDER BY c.id LIMIT 3",
                op.id
            ),
        ))
        .await
        .unwrap();
    let cases: Vec<(uuid::Uuid, uuid::Uuid, i32)> = rows
        .iter()
        .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), r.try_get_by_index(2).unwrap()))
        .collect();
    assert!(cases.len() >= 2, "the demo data has analyses in draft: {cases:?}");
    let port = free_port();
    let mut server = start_server(&app, port, &[]).await;

    // Each client owns one case: what it saw succeed, and how it went.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for &(case, _, _) in &cases {
        let (stop, token) = (stop.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let id = gepi::ids::encode("Case", case);
            let (mut acked, mut lost, mut refused) = (None::<i64>, 0, 0);
            while !stop.load(Ordering::SeqCst) {
                let read = json!({ "query": "query($id: ID!) { case(id: $id) { preliminaryAnalysis { version } } }",
                                   "variables": { "id": id } })
                .to_string();
                let Ok((200, text)) = http(port, "/graphql", Some(&token), Some(&read)).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let Some(v) = body_of(&text)["data"]["case"]["preliminaryAnalysis"]["version"].as_i64() else {
                    panic!("cannot read the version: {text}");
                };
                let save = json!({ "query": "mutation($i: SaveAnalysisInput!) { saveAnalysis(input: $i) { preliminaryAnalysis { version } } }",
                                   "variables": { "i": { "caseId": id, "version": v, "needsNotes": format!("draft {}", v + 1) } } })
                .to_string();
                match http(port, "/graphql", Some(&token), Some(&save)).await {
                    Ok((200, text)) => {
                        let body = body_of(&text);
                        match body["data"]["saveAnalysis"]["preliminaryAnalysis"]["version"].as_i64() {
                            Some(after) => {
                                assert_eq!(after, v + 1, "{text}");
                                acked = Some(after);
                            }
                            None => panic!("a save refused without a fault: {text}"),
                        }
                    }
                    Ok((503, _)) => refused += 1,
                    // The server died under it (no answer, or the connection
                    // reset): committed or not, the read that follows tells.
                    Ok((0, _)) | Err(_) => lost += 1,
                    Ok((status, text)) => panic!("a save answered {status}: {text}"),
                }
            }
            (case, acked, lost, refused)
        }));
    }

    // Kill the server at random moments, and start it again.
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill schedule seed {seed}");
    for _ in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 900)).await;
        server.start_kill().unwrap();
        server.wait().await.unwrap();
        server = start_server(&app, port, &[]).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut saves = 0;
    let mut outcomes = HashMap::new();
    for c in clients {
        let (case, acked, lost, refused) = c.await.unwrap();
        println!("case {case}: last acked version {acked:?}, {lost} cut off, {refused} refused");
        outcomes.insert(case, acked);
    }
    server.start_kill().unwrap();

    for (case, analysis, v0) in cases {
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!("SELECT version, needs_notes FROM preliminary_analysis WHERE id = '{analysis}'"),
            ))
            .await
            .unwrap()
            .unwrap();
        let (version, notes): (i32, Option<String>) =
            (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap());
        if let Some(acked) = outcomes[&case] {
            assert!(i64::from(version) >= acked, "case {case}: version {version} lost the acknowledged {acked}");
        }
        saves += version - v0;
        if version > v0 {
            assert_eq!(notes.as_deref(), Some(format!("draft {version}").as_str()), "case {case}: a torn row");
        }
        let events = app
            .db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!(
                    "SELECT (changes::jsonb -> 'version' ->> 'after')::int FROM audit_event \
                     WHERE entity = 'preliminary_analysis' AND entity_id = '{analysis}' AND action = 'update' ORDER BY 1"
                ),
            ))
            .await
            .unwrap();
        let versions: Vec<i32> = events.iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
        assert_eq!(versions, ((v0 + 1)..=version).collect::<Vec<_>>(), "case {case}: one event per committed version");
    }
    assert!(saves >= 10, "the load saved too little to mean anything: {saves}");
}

fn body_of(text: &str) -> serde_json::Value {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// The drain on SIGTERM is bounded: a connection that never ends (an INPS
/// feed whose sender stalls half way; that route has no request timeout)
/// holds the stop for the request timeout plus 5 s, not for ever.
#[tokio::test]
async fn sigterm_stops_within_its_bound_though_a_feed_upload_stalls() {
    use tokio::io::AsyncWriteExt;
    let app = seeded(|_| {}).await;
    let key = gepi::auth::api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap().key;
    let port = free_port();
    let mut server = start_server(&app, port, &[("GEPI_REQUEST_TIMEOUT_SECS", "1")]).await;
    // A feed announced at 10 MB, of which a few bytes are sent.
    let mut upload = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /inps/feed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n\
         Authorization: Bearer {key}\r\nContent-Length: 10000000\r\n\r\n{{\"protocol\""
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.id().unwrap().to_string();
    let stopping = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), server.wait()).await.expect("it stopped").unwrap();
    let took = stopping.elapsed();
    assert!(exit.success(), "{exit:?}");
    // The drain waited for the upload (a stop is not a crash), then gave up:
    // the request timeout (1 s) plus 5 s.
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(15), "stopped after {took:?}");
    drop(upload);
}
