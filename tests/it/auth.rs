//! Sessions and the dev login: who may log in, what `me` answers, and every way
//! a session stops working.

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use entity::enums::{OperatorStatus, ProfileStatus, Role};
use gepi::config::Config;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::{builders::*, error_code, TestApp};

const ME: &str = "{ me { operator { id fiscalCode displayName } profile { id role ambito { id name } comuni { istatCode name } } profiles { id role } } }";

struct World {
    app: TestApp,
    coordinator_cf: String,
    coordinator_profile: String,
    validator_profile: String,
    cm_cf: String,
    cm_profile: String,
}

/// An Ambito with two Comuni; a coordinator holding two profiles; a case manager.
async fn world() -> World {
    let app = TestApp::new().await;
    let db = &app.db;
    let a = ambito(db, "T-1").await;
    let desio = comune(db, &a, "108023", "D286", "Desio").await;
    let varedo = comune(db, &a, "108045", "L677", "Varedo").await;
    let coord = operator("Teresa", "Gallo").insert(db).await;
    let p1 = profile(&coord, Role::PaisCoordinator).ambito(&a).comuni(&[&desio, &varedo]).insert(db).await;
    let p2 = profile(&coord, Role::DisadvantageValidator).ambito(&a).comuni(&[&desio]).insert(db).await;
    let cm = operator("Luca", "Rossi").insert(db).await;
    let p3 = profile(&cm, Role::CaseManager).ambito(&a).comuni(&[&varedo]).insert(db).await;
    World {
        coordinator_cf: coord.fiscal_code.clone(),
        coordinator_profile: gid("Profile", p1.id),
        validator_profile: gid("Profile", p2.id),
        cm_cf: cm.fiscal_code.clone(),
        cm_profile: gid("Profile", p3.id),
        app,
    }
}

#[tokio::test]
async fn dev_login_issues_a_session_and_me_answers_with_the_active_profile() {
    let w = world().await;
    let r = w.app.post_json("/auth/dev-login", None, json!({ "fiscalCode": w.cm_cf, "profileId": w.cm_profile })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["token"].as_str().unwrap();
    assert!(token.len() >= 43, "token of at least 256 bits");
    assert!(r.body["expiresAt"].is_string());
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    for attr in ["gepi_session=", "HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    // The token is stored only hashed.
    assert_eq!(w.app.count("session").await, 1);
    let stored = entity::session::Entity::find_all_hashes(&w.app.db).await;
    assert!(!stored.contains(&token.to_string()));

    let me = w.app.gql(Some(token), ME, json!({})).await;
    assert!(me["errors"].is_null(), "{me}");
    let me = &me["data"]["me"];
    assert_eq!(me["operator"]["fiscalCode"], w.cm_cf);
    assert_eq!(me["operator"]["displayName"], "Luca Rossi");
    assert_eq!(me["profile"]["id"], w.cm_profile);
    assert_eq!(me["profile"]["role"], "CASE_MANAGER");
    assert_eq!(me["profile"]["ambito"]["name"], "Ambito T-1");
    assert_eq!(me["profile"]["comuni"], json!([{ "istatCode": "108045", "name": "Varedo" }]));
    assert_eq!(me["profiles"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_cookie_authenticates_browsers() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "same-origin")
        .header(header::COOKIE, format!("other=1; gepi_session={token}"))
        .body(Body::from(json!({ "query": "{ me { operator { displayName } } }" }).to_string()))
        .unwrap();
    let r = w.app.request(req).await;
    assert_eq!(r.body["data"]["me"]["operator"]["displayName"], "Luca Rossi", "{}", r.body);
    // Not from another site (CSRF): the cookie is refused there, a bearer token is not.
    for (name, value) in [("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")] {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::HOST, "gepi.example.it")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, format!("gepi_session={token}"))
            .header(name, value)
            .body(Body::from(json!({ "query": "{ me { operator { displayName } } }" }).to_string()))
            .unwrap();
        let r = w.app.request(req).await;
        assert_eq!(error_code(&r.body), Some("UNAUTHENTICATED"), "{name}: {}", r.body);
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::HOST, "gepi.example.it")
        .header(header::ORIGIN, "https://gepi.example.it")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::COOKIE, format!("gepi_session={token}"))
        .body(Body::from(json!({ "query": "{ me { operator { displayName } } }" }).to_string()))
        .unwrap();
    assert_eq!(w.app.request(req).await.body["data"]["me"]["operator"]["displayName"], "Luca Rossi");
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header("sec-fetch-site", "cross-site")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "query": "{ me { operator { displayName } } }" }).to_string()))
        .unwrap();
    assert_eq!(w.app.request(req).await.body["data"]["me"]["operator"]["displayName"], "Luca Rossi");
}

/// A POST to `uri` with the session cookie, the given headers and body.
fn cookie_post(uri: &str, token: &str, headers: &[(&str, &str)], content_type: &str, body: String) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::HOST, "gepi.example.it")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::COOKIE, format!("gepi_session={token}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_cookie_post_must_come_from_our_own_pages_and_be_graphql_json() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    let me = json!({ "query": "{ me { operator { displayName } } }" }).to_string();
    let logout = json!({ "query": "mutation { logout }" }).to_string();
    // Origin: null, or neither Origin nor Sec-Fetch-Site: refused, nothing runs.
    for headers in [&[("origin", "null")][..], &[][..], &[("sec-fetch-site", "none")][..]] {
        let r = w.app.request(cookie_post("/graphql", &token, headers, "application/json", logout.clone())).await;
        assert_eq!(error_code(&r.body), Some("UNAUTHENTICATED"), "{headers:?}: {}", r.body);
        let r = w.app.request(cookie_post("/auth/logout", &token, headers, "application/json", String::new())).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{headers:?}: {}", r.body);
    }
    // A text/plain (or form) POST is 415 even from our pages: a cross-site form
    // can send those without a preflight.
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let r = w
            .app
            .request(cookie_post("/graphql", &token, &[("sec-fetch-site", "same-origin")], ct, logout.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(error_code(&r.body), Some("VALIDATION"), "{ct}: {}", r.body);
    }
    // The session survived all of it; from our pages (either proof) it works.
    for headers in [&[("sec-fetch-site", "same-origin")][..], &[("origin", "https://gepi.example.it")][..]] {
        let r = w
            .app
            .request(cookie_post("/graphql", &token, headers, "application/json; charset=utf-8", me.clone()))
            .await;
        assert_eq!(r.body["data"]["me"]["operator"]["displayName"], "Luca Rossi", "{headers:?}: {}", r.body);
    }
    // HEAD (and any method but GET and POST) is refused before it runs anything.
    let mut head = cookie_post("/graphql", &token, &[], "application/json", logout.clone());
    *head.method_mut() = Method::HEAD;
    assert_eq!(w.app.request(head).await.status, StatusCode::METHOD_NOT_ALLOWED);
    // A bearer token needs no proof (another site cannot attach it).
    let r = w.app.gql(Some(&token), "{ me { operator { displayName } } }", json!({})).await;
    assert_eq!(r["data"]["me"]["operator"]["displayName"], "Luca Rossi", "{r}");
    let r = w
        .app
        .request(cookie_post(
            "/auth/logout",
            &token,
            &[("sec-fetch-site", "same-origin")],
            "application/json",
            String::new(),
        ))
        .await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.body);
    let r = w.app.gql(Some(&token), "{ me { operator { displayName } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
}

#[tokio::test]
async fn the_request_id_is_the_servers_own_and_a_clients_is_kept_beside_it() {
    let w = world().await;
    let req = |id: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/auth/dev-login")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-request-id", id)
            .body(Body::from(json!({ "fiscalCode": w.cm_cf, "profileId": w.cm_profile }).to_string()))
            .unwrap()
    };
    for client in ["chosen-by-the-client", "a b", "x".repeat(200).as_str()] {
        let r = w.app.request(req(client)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let echoed = r.headers.get("x-request-id").unwrap().to_str().unwrap().to_string();
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "the server's id, not {echoed}");
        let login = entity::audit_event::Entity::find()
            .filter(entity::audit_event::Column::Action.eq(entity::enums::AuditAction::Login))
            .order_by_desc(entity::audit_event::Column::OccurredAt)
            .one(&w.app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(login.request_id.as_deref(), Some(echoed.as_str()), "the audit trail correlates on the server's id");
    }
    let n = w.app.count("audit_event WHERE request_id = 'chosen-by-the-client'").await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn without_a_session_everything_is_unauthenticated() {
    let w = world().await;
    let r = w.app.gql(None, ME, json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    assert!(r["data"].is_null());
    let r = w.app.gql(Some("not-a-token"), ME, json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"));
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("unknown token"));
    let r = w.app.gql(None, "mutation { logout }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn expired_idle_and_revoked_sessions_are_refused() {
    let w = world().await;
    let app = &w.app;
    let expired = app.login(&w.cm_cf, &w.cm_profile).await;
    let idle = app.login(&w.cm_cf, &w.cm_profile).await;
    let revoked = app.login(&w.cm_cf, &w.cm_profile).await;
    let hash = |t: &str| gepi::auth::session::hash_token(t);
    let past = "'2020-01-01T00:00:00+00:00'";
    app.exec(&format!("UPDATE session SET expires_at = {past} WHERE token_hash = '{}'", hash(&expired))).await;
    app.exec(&format!("UPDATE session SET last_seen_at = {past} WHERE token_hash = '{}'", hash(&idle))).await;
    let out = app.gql(Some(&revoked), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");

    for (token, why) in [(&expired, "expired"), (&idle, "idle"), (&revoked, "revoked")] {
        let r = app.gql(Some(token), ME, json!({})).await;
        assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{why}: {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains(why), "{why}: {r}");
    }
    // The HTTP logout of a revoked session is refused too.
    let r = app.post_json("/auth/logout", Some(&revoked), json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn http_logout_revokes_and_clears_the_cookie() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    // Used once, so that its principal is cached.
    let me = w.app.gql(Some(&token), ME, json!({})).await;
    assert!(me["errors"].is_null(), "{me}");
    let r = w.app.post_json("/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    let me = w.app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn a_session_dies_with_its_profile_or_operator() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    w.app.exec("UPDATE profile SET status = 'REVOKED' WHERE role = 'case_manager'").await;
    let r = w.app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let token = w.app.login(&w.coordinator_cf, &w.coordinator_profile).await;
    w.app.exec(&format!("UPDATE operator SET status = 'REVOKED' WHERE fiscal_code = '{}'", w.coordinator_cf)).await;
    let r = w.app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
}

#[tokio::test]
async fn dev_login_rejects_bad_input_and_foreign_or_inactive_profiles() {
    let w = world().await;
    let app = &w.app;
    // Malformed codice fiscale: VALIDATION naming the field.
    let r = app
        .post_json("/auth/dev-login", None, json!({ "fiscalCode": "RSSMRA80A01H501A", "profileId": w.cm_profile }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "VALIDATION");
    assert_eq!(r.body["error"]["field"], "fiscalCode");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("check character"));
    // Malformed profile id.
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": w.cm_cf, "profileId": "nope" })).await;
    assert_eq!(r.body["error"]["field"], "profileId");
    // A valid codice fiscale of nobody accredited.
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": "RSSMRA80A01H501U" })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Another operator's profile.
    let r = app
        .post_json("/auth/dev-login", None, json!({ "fiscalCode": w.cm_cf, "profileId": w.coordinator_profile }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Several profiles and none chosen.
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": w.coordinator_cf })).await;
    assert_eq!(r.body["error"]["field"], "profileId", "{}", r.body);
    // One profile: it may be left out.
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": w.cm_cf })).await;
    assert_eq!(r.status, StatusCode::OK);
    // Unknown fields are refused rather than ignored.
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": w.cm_cf, "role": "ambito_admin" })).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("session").await, 1, "only the successful login made a session");

    // Revoked and expired profiles, and operators not (or no longer) accredited.
    let a = entity::ambito::Entity::find_one(&app.db).await;
    let op = operator("Anna", "Verdi").insert(&app.db).await;
    let revoked = profile(&op, Role::CaseManager).ambito(&a).status(ProfileStatus::Revoked).insert(&app.db).await;
    let expired = profile(&op, Role::MeetingRegistrar).ambito(&a).expired().insert(&app.db).await;
    for p in [revoked, expired] {
        let r = app
            .post_json(
                "/auth/dev-login",
                None,
                json!({ "fiscalCode": op.fiscal_code, "profileId": gid("Profile", p.id) }),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let pending = operator("Marta", "Neri").status(OperatorStatus::PendingAccreditation).insert(&app.db).await;
    profile(&pending, Role::CaseManager).ambito(&a).insert(&app.db).await;
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": pending.fiscal_code })).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dev_login_does_not_exist_unless_enabled() {
    let app = TestApp::with_config(|c| c.dev_login = false).await;
    let r = app.post_json("/auth/dev-login", None, json!({ "fiscalCode": "RSSMRA80A01H501U" })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn the_server_refuses_to_start_with_dev_login_on_a_non_loopback_address() {
    let c = Config { dev_login: true, bind: "0.0.0.0:8080".parse().unwrap(), ..Config::default() };
    let err = c.validate_for_serve().unwrap_err();
    assert!(err.to_string().contains("not loopback"), "{err}");
    let c = Config { dev_login: true, bind: "[::1]:8080".parse().unwrap(), ..Config::default() };
    assert!(c.validate_for_serve().is_ok());
    let c = Config { dev_login: false, bind: "0.0.0.0:8080".parse().unwrap(), ..Config::default() };
    assert!(c.validate_for_serve().is_ok());
}

#[tokio::test]
async fn switch_profile_rebinds_the_session_and_is_audited() {
    let w = world().await;
    let app = &w.app;
    let token = app.login(&w.coordinator_cf, &w.coordinator_profile).await;
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me["data"]["me"]["profile"]["role"], "PAIS_COORDINATOR");
    assert_eq!(me["data"]["me"]["profiles"].as_array().unwrap().len(), 2);

    let q = "mutation($p: ID!) { switchProfile(profileId: $p) { profile { id role comuni { istatCode } } } }";
    let r = app.gql(Some(&token), q, json!({ "p": w.validator_profile })).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["switchProfile"]["profile"]["role"], "DISADVANTAGE_VALIDATOR");
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me["data"]["me"]["profile"]["id"], w.validator_profile);
    assert_eq!(me["data"]["me"]["profile"]["comuni"], json!([{ "istatCode": "108023", "name": "Desio" }]));

    // Another operator's profile: refused, nothing changes.
    let r = app.gql(Some(&token), q, json!({ "p": w.cm_profile })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    // A malformed id: VALIDATION.
    let r = app.gql(Some(&token), q, json!({ "p": "Zm9v" })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me["data"]["me"]["profile"]["id"], w.validator_profile);

    let events = entity::audit_event::Entity::all_actions(&app.db).await;
    assert_eq!(events, vec!["login".to_string(), "switch_profile".to_string()]);
}

#[tokio::test]
async fn get_runs_queries_but_never_mutations() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    let get = |q: &str| {
        let uri = format!("/graphql?query={}", urlencode(q));
        Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let r = w.app.request(get("{ me { operator { displayName } } }")).await;
    assert_eq!(r.body["data"]["me"]["operator"]["displayName"], "Luca Rossi", "{}", r.body);
    let r = w.app.request(get("mutation { logout }")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&r.body), Some("VALIDATION"));
    // The session survived.
    let me = w.app.gql(Some(&token), ME, json!({})).await;
    assert!(me["errors"].is_null());
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    let r = app.request(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.request(Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ready");
    assert!(r.headers.get("x-request-id").is_some(), "every response carries a request id");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Small read helpers on entities, for assertions.
trait TestReads {
    async fn find_all_hashes(db: &sea_orm::DatabaseConnection) -> Vec<String>;
}
impl TestReads for entity::session::Entity {
    async fn find_all_hashes(db: &sea_orm::DatabaseConnection) -> Vec<String> {
        use sea_orm::EntityTrait;
        Self::find().all(db).await.unwrap().into_iter().map(|s| s.token_hash).collect()
    }
}
trait FindOne {
    async fn find_one(db: &sea_orm::DatabaseConnection) -> entity::ambito::Model;
}
impl FindOne for entity::ambito::Entity {
    async fn find_one(db: &sea_orm::DatabaseConnection) -> entity::ambito::Model {
        use sea_orm::EntityTrait;
        Self::find().one(db).await.unwrap().unwrap()
    }
}
trait AuditReads {
    async fn all_actions(db: &sea_orm::DatabaseConnection) -> Vec<String>;
}
impl AuditReads for entity::audit_event::Entity {
    async fn all_actions(db: &sea_orm::DatabaseConnection) -> Vec<String> {
        use sea_orm::{EntityTrait, QueryOrder};
        Self::find()
            .order_by_asc(entity::audit_event::Column::OccurredAt)
            .order_by_asc(entity::audit_event::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| serde_json::to_value(e.action).unwrap().as_str().unwrap().to_string())
            .collect()
    }
}

/// A body over the limit is refused with 413 and the LIMIT code, and counted
/// (nothing else is kept of it).
#[tokio::test]
async fn bodies_over_the_limit_are_counted() {
    let app = TestApp::with_config(|c| c.body_limit_bytes = 1024).await;
    let big = json!({ "query": format!("{{ me {{ operator {{ id }} }} }} #{}", "x".repeat(4096)) }).to_string();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    let (status, headers, body) = app.request_text(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Answered like any GraphQL refusal: JSON with a stable code, the limit named.
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().contains("json"), "{headers:?}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("1024 bytes"), "{body}");
    // The plain endpoints answer in their own shape.
    let big_login = json!({ "fiscalCode": "x".repeat(4096) }).to_string();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/auth/dev-login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big_login.len())
        .body(Body::from(big_login))
        .unwrap();
    let (status, _, body) = app.request_text(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(body["error"]["code"], "LIMIT", "{body}");
    let (_, _, metrics) = app.request_text(Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await;
    assert!(metrics.lines().any(|l| l == "gepi_http_body_too_large_total 2"), "{metrics}");
}

/// The server counts the SQL statements it runs (`gepi_db_statements_total`):
/// statements per request are measured, not guessed (the benchmark reads it).
#[tokio::test]
async fn the_statements_run_on_the_database_are_counted() {
    use sea_orm::{ConnectionTrait, Statement};
    let (mut db, _guard) = TestApp::unmigrated().await;
    let metrics = gepi::metrics::Metrics::new();
    metrics.count_statements(&mut db);
    let shared = db.clone();
    for _ in 0..3 {
        shared.query_one_raw(Statement::from_string(shared.get_database_backend(), "SELECT 1")).await.unwrap();
    }
    assert_eq!(metrics.db_statements.get(), 3);
    assert!(metrics.render().lines().any(|l| l == "gepi_db_statements_total 3"), "{}", metrics.render());
}

/// A case manager of one Comune in an Ambito of its own, logged in: its token.
async fn lone_case_manager(app: &TestApp) -> String {
    let db = &app.db;
    let a = ambito(db, "T-2").await;
    let c = comune(db, &a, "108023", "D286", "Desio").await;
    let op = operator("Luca", "Rossi").insert(db).await;
    let p = profile(&op, Role::CaseManager).ambito(&a).comuni(&[&c]).insert(db).await;
    app.login(&op.fiscal_code, &gid("Profile", p.id)).await
}

/// An authenticated request whose principal was read less than
/// `session_cache_secs` ago runs no statement to authenticate.
#[tokio::test]
async fn a_recent_principal_is_served_from_memory() {
    let w = world().await;
    let token = w.app.login(&w.cm_cf, &w.cm_profile).await;
    let mut counts = Vec::new();
    for _ in 0..3 {
        w.app.record_statements();
        let r = w.app.gql(Some(&token), "{ __typename }", json!({})).await;
        assert!(r["errors"].is_null(), "{r}");
        counts.push(w.app.recorded_statements().len());
    }
    assert!(counts[0] >= 3, "the first request reads the session, operator, profile and Comuni: {counts:?}");
    assert_eq!(&counts[1..], &[0, 0], "then none: {counts:?}");
    // With the cache off, every request reads them.
    let off = TestApp::with_config(|c| c.session_cache_secs = 0).await;
    let token = lone_case_manager(&off).await;
    for _ in 0..2 {
        off.record_statements();
        off.gql(Some(&token), "{ __typename }", json!({})).await;
        assert!(off.recorded_statements().len() >= 3);
    }
}

/// Two instances over one database: a logout on one is refused there at once,
/// and on the other at once on PostgreSQL (told by its listener), at most
/// `session_cache_secs` later on SQLite (the documented bound);
/// a cached session is refused at its expiry whatever the cache holds.
#[tokio::test]
async fn another_instance_sees_a_revocation_within_the_cache_bound() {
    let w = world().await;
    let app = &w.app;
    let config = app.state.config.as_ref().clone();
    let other = gepi::AppState::new(config.clone(), app.db.clone()).await.unwrap();
    if app.is_postgres() {
        app.until_listening(2).await; // the other's first advance must not hide the logout's
    }
    let token = app.login(&w.cm_cf, &w.cm_profile).await;
    let now = chrono::Utc::now();
    let on_other = |at: chrono::DateTime<chrono::Utc>| {
        let (other, db, config, token) = (&other, &app.db, &config, &token);
        async move { other.principals.authenticate(db, config, token, at).await }
    };
    assert!(on_other(now).await.is_ok());
    let out = app.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    // This instance: refused at once.
    let r = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    let bound = chrono::Duration::seconds(config.session_cache_secs as i64);
    assert!(bound > chrono::Duration::zero());
    if app.is_postgres() {
        // The other is told as the logout commits (its listener), long before the bound.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while on_other(now).await.is_ok() {
            assert!(std::time::Instant::now() < deadline, "the other instance was not told");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    } else {
        // The other: still served from its memory within the bound, refused at it.
        assert!(on_other(now + bound - chrono::Duration::milliseconds(1)).await.is_ok(), "served from memory");
    }
    let r = on_other(now + bound).await;
    assert!(matches!(&r, Err(gepi::error::AppError::Unauthenticated(m)) if m.contains("revoked")), "{r:?}");

    // Expiry is kept with the cached principal: a session expiring two seconds
    // from now is refused then, though its entry would be fresh for longer.
    let token = app.login(&w.cm_cf, &w.cm_profile).await;
    let soon = now + chrono::Duration::seconds(2);
    entity::session::Entity::update_many()
        .col_expr(entity::session::Column::ExpiresAt, sea_orm::sea_query::Expr::value(soon))
        .filter(entity::session::Column::TokenHash.eq(gepi::auth::session::hash_token(&token)))
        .exec(&app.db)
        .await
        .unwrap();
    let at = |t| app.state.principals.authenticate(&app.db, &config, &token, t);
    assert!(at(now).await.is_ok());
    assert!(at(soon - chrono::Duration::milliseconds(1)).await.is_ok());
    let r = at(soon).await;
    assert!(matches!(&r, Err(gepi::error::AppError::Unauthenticated(m)) if m.contains("expired")), "{r:?}");
}

/// What is in force "today" is read again when the day turns in Italy: a
/// principal cached a second before midnight is not served after it.
#[tokio::test]
async fn a_cached_principal_is_read_again_when_the_day_turns() {
    let app = TestApp::with_config(|c| {
        c.session_lifetime_secs = 3 * 24 * 3600;
        c.session_idle_secs = 3 * 24 * 3600;
        c.session_cache_secs = 60;
    })
    .await;
    let token = lone_case_manager(&app).await;
    let config = app.state.config.as_ref().clone();
    let midnight = gepi::calendar::next_day_starts(chrono::Utc::now());
    let statements_at = |t: chrono::DateTime<chrono::Utc>| {
        let (app, config, token) = (&app, &config, &token);
        async move {
            app.record_statements();
            let r = app.state.principals.authenticate(&app.db, config, token, t).await;
            assert!(r.is_ok(), "{r:?}");
            app.recorded_statements().len()
        }
    };
    let before = midnight - chrono::Duration::seconds(2);
    assert!(statements_at(before).await > 0, "read");
    assert_eq!(statements_at(before + chrono::Duration::seconds(1)).await, 0, "served from memory");
    assert!(statements_at(midnight).await > 0, "read again at midnight");
}
