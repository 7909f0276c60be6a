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
    Arc, Mutex,
};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use entity::enums::Role;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::helpers::{seed_today, Resp, TestApp};

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
        assert!(m.contains("try again"), "{what}: {m}");
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
        c.db_acquire_timeout_ms = 300;
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
    drop(held);

    assert_cases(&app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await, "after");
}

/// A TCP proxy to PostgreSQL that can be cut (every connection through it
/// reset, new ones refused) and restored.
struct Proxy {
    addr: std::net::SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn to(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (d, l) = (down.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                l.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { addr, down, links }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db?…` with its host and port replaced by `addr`,
/// and the `host:port` it named.
fn through(url: &str, addr: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, tail) = rest.split_once('/').unwrap();
    let (user, hostport) = auth.rsplit_once('@').map(|(u, h)| (format!("{u}@"), h)).unwrap_or((String::new(), auth));
    let upstream = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") };
    (format!("{scheme}://{user}{addr}/{tail}"), upstream)
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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.post_json("/graphql", Some(&token), json!({ "query": CASES })).await;
        if r.status == StatusCode::OK {
            assert_cases(&r, "after");
            break;
        }
        assert_unavailable(&r, "coming back");
        assert!(Instant::now() < deadline, "the service did not come back: {}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
        .args(["serve", "--no-migrate", "--bind", &format!("127.0.0.1:{port}")])
        .env("GEPI_DATABASE_URL", &app.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http(port, "/readyz", None, None).await, Ok((200, _))) {
        assert!(Instant::now() < deadline, "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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
