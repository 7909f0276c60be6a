//! API keys of integration partners: created once, used as bearer tokens under
//! the same policies, refused when wrong or revoked.

use entity::enums::Role;
use gepi::auth::api_key;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::{error_code, TestApp};

#[tokio::test]
async fn api_keys_authenticate_partners_under_the_same_policies() {
    let app = TestApp::seeded().await;
    let cpi = api_key::create(&app.db, "CPI Monza", Role::CpiPartner, None).await.unwrap();
    assert!(cpi.key.starts_with("gepi_") && cpi.key.len() > 40);
    // Stored only hashed.
    let stored = entity::api_client::Entity::find_by_id(cpi.id).one(&app.db).await.unwrap().unwrap();
    assert_ne!(stored.key_hash, cpi.key);
    assert!(cpi.key.starts_with(&stored.key_prefix));
    // The catalogue: readable, without tutors; of the assignments, those of CPI
    // places only, without the beneficiary's record.
    let r = app.gql(Some(&cpi.key), "{ pucProjects(first: 100) { totalCount edges { node { title tutor assignments { id source member { id } } vacancies { total } } } } }", json!({})).await;
    assert!(r["data"]["pucProjects"]["totalCount"].as_u64().is_some_and(|n| n > 0), "{r}");
    let (mut cpi_places, all_places) = (0, app.count("puc_assignment").await);
    for e in r["data"]["pucProjects"]["edges"].as_array().unwrap() {
        assert!(e["node"]["tutor"].is_null());
        assert!(e["node"]["vacancies"]["total"].is_number());
        for a in e["node"]["assignments"].as_array().unwrap() {
            assert_eq!(a["source"], "CPI", "{a}");
            assert!(a["member"].is_null(), "{a}");
            cpi_places += 1;
        }
    }
    assert!(cpi_places > 0 && cpi_places < all_places, "the seed has CPI places and others: {cpi_places}/{all_places}");
    // A role without access to cases.
    let r = app.gql(Some(&cpi.key), "{ cases { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let r = app.gql(Some(&cpi.key), "{ me { operator { id } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    // INPS reads outcomes, never the category; strict clients are refused instead.
    let inps = api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap();
    let q = "{ disadvantageChecks(first: 5) { edges { node { inpsRequestId state category } } } }";
    let r = app.gql(Some(&inps.key), q, json!({})).await;
    assert!(
        r["data"]["disadvantageChecks"]["edges"].as_array().unwrap().iter().all(|e| e["node"]["category"].is_null()),
        "{r}"
    );
    let r = app.gql_with(&inps.key, &[("x-gepi-strict", "true")], q, json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    // Wrong and revoked keys.
    let r = app.gql(Some("gepi_not-a-key"), "{ pucProjects { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    // `gepi apikeys revoke` runs in another process: the server, which holds the
    // key's principal in memory, refuses it at most `session_cache_secs` later.
    api_key::revoke(&app.db, "CPI Monza").await.unwrap();
    let config = app.state.config.as_ref().clone();
    let bound = chrono::Utc::now() + chrono::Duration::seconds(config.session_cache_secs as i64);
    let r = app.state.principals.authenticate(&app.db, &config, &cpi.key, bound).await;
    assert!(matches!(r, Err(gepi::error::AppError::Unauthenticated(_))), "{r:?}");
    let r = app.gql(Some(&cpi.key), "{ pucProjects { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("UNAUTHENTICATED"), "{r}");
    assert_eq!(api_key::revoke(&app.db, "CPI Monza").await.unwrap_err().code().as_str(), "CONFLICT");
    // Keys are only for partner roles, and names are unique.
    assert_eq!(api_key::create(&app.db, "x", Role::CaseManager, None).await.unwrap_err().code().as_str(), "VALIDATION");
    assert_eq!(api_key::create(&app.db, "INPS", Role::InpsFeed, None).await.unwrap_err().code().as_str(), "CONFLICT");
    assert_eq!(
        api_key::create(&app.db, "y", Role::InpsFeed, Some("NOPE")).await.unwrap_err().code().as_str(),
        "VALIDATION"
    );
}

#[tokio::test]
async fn a_key_created_for_one_ambito_reads_that_ambito_only_even_with_a_national_grant() {
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = TestApp::seeded().await;
    let ambiti = entity::ambito::Entity::find().all(&app.db).await.unwrap();
    let (mine, other) = (&ambiti[0], &ambiti[1]);
    let cpi = api_key::create(&app.db, "CPI Desio", Role::CpiPartner, Some(&mine.code)).await.unwrap();
    let inps = api_key::create(&app.db, "INPS Desio", Role::InpsFeed, Some(&mine.code)).await.unwrap();
    let national = api_key::create(&app.db, "CPI nazionale", Role::CpiPartner, None).await.unwrap();
    // The published catalogue: partners never see a draft.
    let all_projects = entity::puc_project::Entity::find().all(&app.db).await.unwrap();
    let projects: Vec<_> =
        all_projects.iter().filter(|p| p.state != entity::enums::PucProjectState::Bozza).cloned().collect();
    assert!(projects.len() < all_projects.len(), "the seed has a draft");
    let in_mine = projects.iter().filter(|p| p.ambito_id == mine.id).count();
    assert!(in_mine > 0 && in_mine < projects.len(), "the seed has projects in both Ambiti");
    let q = "{ pucProjects(first: 500) { totalCount edges { node { id } } } }";
    let r = app.gql(Some(&cpi.key), q, json!({})).await;
    assert_eq!(r["data"]["pucProjects"]["totalCount"], in_mine, "{r}");
    assert_eq!(r["data"]["pucProjects"]["edges"].as_array().unwrap().len(), in_mine);
    let r = app.gql(Some(&national.key), q, json!({})).await;
    assert_eq!(r["data"]["pucProjects"]["totalCount"], projects.len(), "{r}");
    // By id, a project of the other Ambito is not there.
    let theirs = projects.iter().find(|p| p.ambito_id == other.id).unwrap();
    let r = app
        .gql(
            Some(&cpi.key),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": gepi::ids::encode("PucProject", theirs.id) }),
        )
        .await;
    assert!(r["data"]["node"].is_null(), "{r}");
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // INPS limited to the Ambito: its disadvantage checks only.
    let checks = entity::disadvantage_check::Entity::find()
        .filter(entity::disadvantage_check::Column::AmbitoId.eq(mine.id))
        .all(&app.db)
        .await
        .unwrap();
    let r = app.gql(Some(&inps.key), "{ disadvantageChecks(first: 500) { totalCount } }", json!({})).await;
    assert_eq!(r["data"]["disadvantageChecks"]["totalCount"], checks.len(), "{r}");
    let all = entity::disadvantage_check::Entity::find().all(&app.db).await.unwrap();
    assert!(checks.len() < all.len());
}

/// The `RateLimit` header of a response: (remaining points, seconds until full).
fn quota_left(r: &crate::helpers::Resp) -> (u64, u64) {
    let v = r.headers.get("ratelimit").unwrap_or_else(|| panic!("no RateLimit header: {}", r.body));
    let v = v.to_str().unwrap();
    let param = |k: &str| -> u64 {
        v.split(';')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {v}"))
    };
    (param("r"), param("t"))
}

#[tokio::test]
async fn an_api_client_spends_its_hourly_quota_is_refused_with_429_and_recovers() {
    use crate::helpers::graphql_request;
    use axum::http::StatusCode;
    let app = TestApp::seeded().await;
    // 100,000 points an hour: about 28 come back each second.
    let k = api_key::create_with_quota(&app.db, "CPI quota", Role::CpiPartner, None, Some(100_000)).await.unwrap();
    let page =
        |n: u32| json!({ "query": format!("{{ pucProjects(first: {n}) {{ edges {{ node {{ id title }} }} }} }}") });
    let r = app.request(graphql_request(&k.key, &page(1))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["data"]["pucProjects"].is_object(), "{}", r.body);
    assert_eq!(r.headers["ratelimit-policy"], "\"hourly\";q=100000;w=3600");
    let (left, full_in) = quota_left(&r);
    let cost = 100_000 - left;
    assert!(cost >= 1 && full_in >= 1, "the first page cost {cost} points, full in {full_in} s");
    // The same operation again (compiled on PostgreSQL) costs as much.
    let r = app.request(graphql_request(&k.key, &page(1))).await;
    let (again, _) = quota_left(&r);
    // (a point may come back between the two)
    assert!((left - again).abs_diff(cost) <= 1, "{left} then {again}, cost {cost}");
    // Large pages, then smaller ones, until even one row is refused.
    let mut refused = None;
    for n in [500, 50, 5, 1] {
        for _ in 0..200 {
            let r = app.request(graphql_request(&k.key, &page(n))).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(r);
                break;
            }
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    }
    let r = refused.expect("the quota runs out");
    assert_eq!(error_code(&r.body), Some("LIMIT"), "{}", r.body);
    assert!(r.body.get("data").is_none(), "nothing ran: {}", r.body);
    let msg = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("quota") && msg.contains("retry in"), "{msg}");
    let (left, _) = quota_left(&r);
    assert!(left < cost, "refused with {left} points left of a {cost}-point operation");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After: {wait}");
    assert!(app.state.metrics.rate_limited.with_label_values(&["graphql_quota"]).get() >= 1);
    // Points come back: after Retry-After, the operation runs.
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let r = app.request(graphql_request(&k.key, &page(1))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["data"]["pucProjects"].is_object(), "{}", r.body);
}

#[tokio::test]
async fn an_operation_costing_more_than_the_whole_quota_is_refused_without_retry() {
    use crate::helpers::graphql_request;
    let app = TestApp::seeded().await;
    let k = api_key::create_with_quota(&app.db, "CPI small", Role::CpiPartner, None, Some(1_000)).await.unwrap();
    let q = json!({ "query": "{ pucProjects(first: 500) { edges { node { id title } } } }" });
    let r = app.request(graphql_request(&k.key, &q)).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);
    assert_eq!(error_code(&r.body), Some("LIMIT"), "{}", r.body);
    assert!(r.body["errors"][0]["message"].as_str().unwrap().contains("whole hourly quota of 1000"), "{}", r.body);
    assert!(r.headers.get("retry-after").is_none());
    // A smaller page runs, and the refusal spent nothing.
    let r = app
        .request(graphql_request(&k.key, &json!({ "query": "{ pucProjects(first: 1) { edges { node { id } } } }" })))
        .await;
    assert!(r.body["data"]["pucProjects"].is_object(), "{}", r.body);
    // The page costs its size (1) times its row (edges, node, id) plus one.
    assert_eq!(quota_left(&r).0, 1_000 - gepi::graphql::limits::page_cost(Some(1), 3) as u64, "{:?}", r.headers);
    // Quotas are checked, and an operator pays none.
    assert_eq!(api_key::set_quota(&app.db, "CPI small", Some(0)).await.unwrap_err().code().as_str(), "VALIDATION");
    assert_eq!(api_key::set_quota(&app.db, "nobody", Some(10)).await.unwrap_err().code().as_str(), "NOT_FOUND");
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let r = app.request(graphql_request(&token, &json!({ "query": "{ me { operator { id } } }" }))).await;
    assert!(r.headers.get("ratelimit").is_none() && r.headers.get("ratelimit-policy").is_none());
}

#[tokio::test]
async fn a_key_with_registered_documents_runs_only_those_named_by_their_id() {
    use crate::helpers::graphql_request;
    use axum::{body::Body, http::StatusCode};
    use sea_orm::{ColumnTrait, QueryFilter};
    // No principal cache: a registration takes effect at the next request.
    let app = TestApp::with_config(|c| c.session_cache_secs = 0).await;
    gepi::seed::run(&app.db, &gepi::seed::SeedOptions::demo(crate::helpers::seed_today())).await.unwrap();
    let k = api_key::create(&app.db, "CPI docs", Role::CpiPartner, None).await.unwrap();
    let free = json!({ "query": "{ pucProjects(first: 1) { totalCount } }" });
    let r = app.request(graphql_request(&k.key, &free)).await;
    assert!(r.body["data"]["pucProjects"]["totalCount"].is_number(), "{}", r.body);

    let catalogue = "query Catalogue($n: Int) { pucProjects(first: $n) { totalCount edges { node { id title } } } }";
    let id = api_key::document_id(catalogue);
    // Unknown while not registered.
    let r = app.request(graphql_request(&k.key, &json!({ "documentId": id, "variables": { "n": 2 } }))).await;
    assert_eq!(error_code(&r.body), Some("NOT_FOUND"), "{}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "documentId", "{}", r.body);
    // Registered once, whatever the number of times it is added; refused when it does not parse.
    let added = api_key::add_documents(&app.db, "CPI docs", &[("catalogue.graphql".into(), catalogue.into())]).await;
    assert_eq!(added.unwrap(), vec![id.clone()]);
    let again = api_key::add_documents(&app.db, "CPI docs", &[("copy.graphql".into(), catalogue.into())]).await;
    assert!(again.unwrap().is_empty());
    let bad = api_key::add_documents(&app.db, "CPI docs", &[("bad.graphql".into(), "query {".into())]).await;
    assert_eq!(bad.unwrap_err().code().as_str(), "VALIDATION");
    let listed = api_key::documents(&app.db, "CPI docs").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id.as_str(), listed[0].operations.as_slice()), (id.as_str(), &["Catalogue".to_string()][..]));
    // The audit trail names the document.
    let client = entity::api_client::Entity::find()
        .filter(entity::api_client::Column::Name.eq("CPI docs"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let trail = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("api_client"))
        .filter(entity::audit_event::Column::EntityId.eq(client.id.to_string()))
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        trail.iter().any(|e| e.changes.as_deref().is_some_and(|c| c.contains(&id) && c.contains("catalogue.graphql"))),
        "{trail:?}"
    );

    // By id: POST with documentId, Apollo's extension, GET.
    let r = app.request(graphql_request(&k.key, &json!({ "documentId": id, "variables": { "n": 2 } }))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"]["pucProjects"]["edges"].as_array().map(Vec::len), Some(2), "{}", r.body);
    let hex = id.strip_prefix("sha256:").unwrap();
    let apollo =
        json!({ "variables": { "n": 1 }, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hex } } });
    let r = app.request(graphql_request(&k.key, &apollo)).await;
    assert_eq!(r.body["data"]["pucProjects"]["edges"].as_array().map(Vec::len), Some(1), "{}", r.body);
    let get =
        axum::http::Request::get(format!("/graphql?documentId={}&variables=%7B%22n%22%3A1%7D", id.replace(':', "%3A")))
            .header("authorization", format!("Bearer {}", k.key))
            .body(Body::empty())
            .unwrap();
    let r = app.request(get).await;
    assert_eq!(r.body["data"]["pucProjects"]["edges"].as_array().map(Vec::len), Some(1), "{}", r.body);
    // The same text sent whole is the same document.
    let r = app.request(graphql_request(&k.key, &json!({ "query": catalogue, "variables": { "n": 1 } }))).await;
    assert!(r.body["data"]["pucProjects"].is_object(), "{}", r.body);

    // Anything else is refused before it runs.
    let r = app.request(graphql_request(&k.key, &free)).await;
    assert_eq!(error_code(&r.body), Some("FORBIDDEN"), "{}", r.body);
    assert!(r.body.get("data").is_none(), "{}", r.body);
    let r = app.request(graphql_request(&k.key, &json!({ "query": free["query"], "documentId": id }))).await;
    assert_eq!((r.status, error_code(&r.body)), (StatusCode::BAD_REQUEST, Some("VALIDATION")), "{}", r.body);
    for (body, field) in [
        (json!({ "documentId": format!("md5:{hex}") }), "documentId"),
        (json!({ "documentId": "sha256:xyz" }), "documentId"),
        (json!({ "documentId": 7 }), "documentId"),
        (
            json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hex } } }),
            "extensions.persistedQuery.version",
        ),
    ] {
        let r = app.request(graphql_request(&k.key, &body)).await;
        assert_eq!(
            (r.status, error_code(&r.body)),
            (StatusCode::BAD_REQUEST, Some("VALIDATION")),
            "{body}: {}",
            r.body
        );
        assert_eq!(r.body["errors"][0]["extensions"]["field"], field, "{}", r.body);
    }
    // Without a key, or with a session (which registers nothing).
    let r = app.post_json("/graphql", None, json!({ "documentId": id })).await;
    assert_eq!(error_code(&r.body), Some("UNAUTHENTICATED"), "{}", r.body);
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let r = app.request(graphql_request(&token, &json!({ "documentId": id }))).await;
    assert_eq!(error_code(&r.body), Some("NOT_FOUND"), "{}", r.body);

    // A document of two operations: GET names the one to run by `operationName`.
    let two = "query Count { pucProjects(first: 1) { totalCount } } query Titles { pucProjects(first: 1) { edges { node { title } } } }";
    let two_id = api_key::document_id(two);
    api_key::add_documents(&app.db, "CPI docs", &[("two.graphql".into(), two.into())]).await.unwrap();
    let get =
        axum::http::Request::get(format!("/graphql?documentId={}&operationName=Titles", two_id.replace(':', "%3A")))
            .header("authorization", format!("Bearer {}", k.key))
            .body(Body::empty())
            .unwrap();
    let r = app.request(get).await;
    assert!(r.body["data"]["pucProjects"]["edges"].is_array(), "{}", r.body);
    assert!(r.body["data"]["pucProjects"].get("totalCount").is_none(), "{}", r.body);
    // Upper-case hex names the same document; two ids that disagree are refused.
    let upper = json!({ "documentId": format!("sha256:{}", hex.to_ascii_uppercase()), "variables": { "n": 1 } });
    assert!(app.request(graphql_request(&k.key, &upper)).await.body["data"]["pucProjects"].is_object());
    let both = json!({ "documentId": id, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": two_id.strip_prefix("sha256:").unwrap() } } });
    let r = app.request(graphql_request(&k.key, &both)).await;
    assert_eq!((r.status, error_code(&r.body)), (StatusCode::BAD_REQUEST, Some("VALIDATION")), "{}", r.body);

    // Removing a document: it is gone, the key stays restricted; the last one stays.
    assert_eq!(
        api_key::remove_document(&app.db, "CPI docs", "sha256:00").await.unwrap_err().code().as_str(),
        "NOT_FOUND"
    );
    api_key::remove_document(&app.db, "CPI docs", &id.to_ascii_uppercase()).await.unwrap();
    let r = app.request(graphql_request(&k.key, &json!({ "documentId": id, "variables": { "n": 1 } }))).await;
    assert_eq!(error_code(&r.body), Some("NOT_FOUND"), "{}", r.body);
    let r = app.request(graphql_request(&k.key, &free)).await;
    assert_eq!(error_code(&r.body), Some("FORBIDDEN"), "{}", r.body);
    let last = api_key::remove_document(&app.db, "CPI docs", &two_id).await;
    assert_eq!(last.unwrap_err().code().as_str(), "CONFLICT");
    let trail = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("api_client"))
        .filter(entity::audit_event::Column::EntityId.eq(client.id.to_string()))
        .all(&app.db)
        .await
        .unwrap();
    assert!(trail.iter().any(|e| e.changes.as_deref().is_some_and(|c| c.contains("removed") && c.contains(&id))));
}
