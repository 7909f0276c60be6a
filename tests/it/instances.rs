//! Several instances of the service over one database, each with its own pool
//! and its own memory, as a deployment runs them behind a balancer: a session
//! opened on one is served by the other, and a change to who may act made
//! through one instance or straight in the database (the command line, plain
//! SQL) reaches the other at once on PostgreSQL, though the other caches
//! principals for a minute.

use std::time::{Duration, Instant};

use axum::Router;
use entity::enums::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::{seed_today, TestApp};

const ME: &str = "{ me { profile { role } } }";

/// A second instance: its own pool and its own state over `app`'s database.
async fn second_instance(app: &TestApp) -> (gepi::AppState, Router) {
    let config = app.state.config.as_ref().clone();
    let pool = gepi::db::connect_serving(&config).await.unwrap();
    let state = gepi::AppState::new(config, pool).await.unwrap();
    (state.clone(), gepi::app(state))
}

fn code(r: &serde_json::Value) -> Option<&str> {
    r["errors"][0]["extensions"]["code"].as_str()
}

/// Waits (up to 5 s) until `token` is refused on `router`.
async fn refused_soon(app: &TestApp, router: &Router, token: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = app.gql_on(router, token, ME, json!({})).await;
        if code(&r) == Some("UNAUTHENTICATED") {
            return;
        }
        assert!(r["errors"].is_null(), "{what}: {r}");
        assert!(Instant::now() < deadline, "{what}: still served by the other instance");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_change_to_who_may_act_reaches_every_instance_at_once() {
    let app = TestApp::with_config(|c| c.session_cache_secs = 60).await;
    if !app.is_postgres() {
        return; // one SQLite file has one instance; the bound is tested in auth.rs
    }
    gepi::seed::run(&app.db, &gepi::seed::SeedOptions::demo(seed_today())).await.unwrap();
    let (other_state, other) = second_instance(&app).await;
    app.until_listening(2).await;

    // A session opened on the first is served by the second (and cached there).
    let (token, _, op) = app.login_role(Role::CaseManager, 0).await;
    for _ in 0..2 {
        let r = app.gql_on(&other, &token, ME, json!({})).await;
        assert_eq!(r["data"]["me"]["profile"]["role"], "CASE_MANAGER", "{r}");
    }
    // Logout through the first: the second refuses it at once.
    let r = app.gql(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(r["data"]["logout"], true, "{r}");
    refused_soon(&app, &other, &token, "logout on the first").await;

    // An operator suspended straight in the database (the command line, SQL).
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    assert!(app.gql_on(&other, &token, ME, json!({})).await["errors"].is_null());
    app.db
        .execute_unprepared(&format!("UPDATE operator SET status = 'SUSPENDED' WHERE id = '{}'", op.id))
        .await
        .unwrap();
    refused_soon(&app, &other, &token, "operator suspended in the database").await;

    // What does not change who may act leaves the caches alone: a login
    // elsewhere (a new session, the operator's last login) and a session's
    // touch are not announced.
    app.until_listening(2).await; // each instance on a connection of its own
    let epoch = other_state.principals.epoch().current();
    let (_, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    app.db.execute_unprepared("UPDATE session SET last_seen_at = now()").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(other_state.principals.epoch().current(), epoch, "a login or a touch emptied the cache");
    // A profile changed in the database is.
    app.db.execute_unprepared("UPDATE profile SET valid_to = valid_to WHERE false").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while other_state.principals.epoch().current() == epoch {
        assert!(Instant::now() < deadline, "a change to the profiles was not announced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
