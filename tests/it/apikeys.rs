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
    // The catalogue: readable, without tutors or beneficiaries.
    let r = app.gql(Some(&cpi.key), "{ pucProjects(first: 5) { totalCount edges { node { title tutor assignments { id } vacancies { total } } } } }", json!({})).await;
    assert!(r["data"]["pucProjects"]["totalCount"].as_u64().unwrap() > 0, "{r}");
    for e in r["data"]["pucProjects"]["edges"].as_array().unwrap() {
        assert!(e["node"]["tutor"].is_null() && e["node"]["assignments"].is_null());
        assert!(e["node"]["vacancies"]["total"].is_number());
    }
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
    let projects = entity::puc_project::Entity::find().all(&app.db).await.unwrap();
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
