//! Issue 11, point 5: bounded operations. Tokens, aliases and directives are
//! checked before anything runs, the complexity of a list follows its page
//! size, and the answer has a size cap; every refusal is `LIMIT`, naming the
//! limit and the value, and runs nothing.

use entity::enums::Role;
use gepi::graphql::limits::{MAX_ALIASES, MAX_TOKENS};
use serde_json::json;

use crate::helpers::{error_code, TestApp};

fn message(r: &serde_json::Value) -> String {
    r["errors"][0]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn operations_over_the_token_alias_and_directive_limits_are_refused_before_running() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    // Aliases: at the limit it runs, one more is refused.
    let aliased = |n: usize| {
        format!("{{ {} }}", (0..n).map(|i| format!("a{i}: me {{ operator {{ id }} }}")).collect::<Vec<_>>().join(" "))
    };
    let r = app.gql(Some(&token), &aliased(MAX_ALIASES), json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let r = app.gql(Some(&token), &aliased(MAX_ALIASES + 1), json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    assert!(
        message(&r).contains(&(MAX_ALIASES + 1).to_string()) && message(&r).contains(&MAX_ALIASES.to_string()),
        "{r}"
    );
    assert!(r["data"].is_null());
    // 12,000 repeated fields: over the token limit.
    let repeated = format!("{{ me {{ operator {{ {} }} }} }}", "id ".repeat(12_000));
    let r = app.gql(Some(&token), &repeated, json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    assert!(message(&r).contains(&MAX_TOKENS.to_string()), "{r}");
    // A mutation over the limit does not run.
    let audits = app.count("audit_event").await;
    let logouts =
        format!("mutation {{ {} }}", (0..=MAX_ALIASES).map(|i| format!("l{i}: logout")).collect::<Vec<_>>().join(" "));
    let r = app.gql(Some(&token), &logouts, json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    assert_eq!(app.count("audit_event").await, audits);
    let r = app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "the session is still open: {r}");
    // Unknown directives are a validation error; too many directives a limit.
    let r = app.gql(Some(&token), "{ me @nonexistent { operator { id } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert!(message(&r).contains("@nonexistent"), "{r}");
    let r = app
        .gql(
            Some(&token),
            "{ me @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) { operator { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    let r = app
        .gql(Some(&token), "query($x: Boolean!) { me @include(if: $x) { operator { id } } }", json!({ "x": true }))
        .await;
    assert!(r["errors"].is_null(), "{r}");
}

#[tokio::test]
async fn the_complexity_of_a_list_follows_its_page_size() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let fields = "id state padDate pathwayType household { id members { id fiscalCode firstName lastName birthDate disabled phone email } }";
    // Six pages of cases: the cost is the rows they may read, not the text.
    let q = |first: usize| {
        (0..6)
            .map(|i| format!("p{i}: cases(first: {first}) {{ edges {{ node {{ {fields} }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let r = app.gql(Some(&token), &format!("{{ {} }}", q(20)), json!({})).await;
    assert!(r["errors"].is_null(), "{}", &r.to_string()[..300.min(r.to_string().len())]);
    // The same selection over pages of 100: five times the cost, over the limit.
    let r = app.gql(Some(&token), &format!("{{ {} }}", q(100)), json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{}", &r.to_string()[..300.min(r.to_string().len())]);
    assert!(message(&r).contains("complexity is") && message(&r).contains("10000"), "{r}");
    assert!(r["data"].is_null());
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused_and_its_reads_not_recorded() {
    let app = TestApp::with_config(|c| c.response_limit_bytes = 2_000).await;
    gepi::seed::run(&app.db, &gepi::seed::SeedOptions::demo(crate::helpers::seed_today())).await.unwrap();
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let r = app.gql(Some(&token), "{ me { operator { id } } }", json!({})).await;
    assert!(r["errors"].is_null(), "small answers pass: {r}");
    let reads = app.count("audit_event WHERE action = 'read'").await;
    let r = app.gql(Some(&token), "{ cases(first: 50) { edges { node { id pathwayType household { members { fiscalCode firstName lastName } } } } } }", json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    assert!(message(&r).contains("2000"), "{r}");
    assert!(r["data"].is_null(), "{r}");
    assert_eq!(app.count("audit_event WHERE action = 'read'").await, reads, "nothing left, nothing recorded");
}

/// Issue 15, point 1: the introspection query GraphQL tools send (graphql-js's
/// `getIntrospectionQuery` in graphql-js 16: 15 levels, a field's argument's
/// type nine `ofType` deep) is answered for every role, while data keeps its depth limit. The
/// query itself, in its variants, is run against the demo server by
/// `tools/ecosystem/check.sh`; this is its shape.
#[tokio::test]
async fn the_standard_introspection_depth_is_answered_for_every_role_and_data_keeps_its_limit() {
    use gepi::graphql::limits::{MAX_DEPTH, MAX_INTROSPECTION_DEPTH};
    let app = TestApp::seeded().await;
    let type_ref =
        |n: usize| (0..n).fold("{ kind name }".to_string(), |inner, _| format!("{{ kind name ofType {inner} }}"));
    let standard = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} types {{ ...FullType }} }} }}
         fragment FullType on __Type {{ kind name fields(includeDeprecated: true) {{ name args {{ name type {t} }} type {t} }}
           inputFields {{ name type {t} }} }}",
        t = type_ref(9)
    );
    let over = format!("{{ __type(name: \"Case\") {{ fields {{ type {} }} }} }}", type_ref(MAX_INTROSPECTION_DEPTH));
    let deep_data = (0..MAX_DEPTH).fold("id".to_string(), |inner, _| format!("household {{ cases {{ {inner} }} }}"));
    let deep_data = format!("{{ cases {{ edges {{ node {{ {deep_data} }} }} }} }}");
    use sea_orm::Iterable;
    for role in Role::iter().filter(|r| !r.is_api_client_role()) {
        let (token, _, _) = app.login_role(role, 0).await;
        let r = app.gql(Some(&token), &standard, json!({})).await;
        assert!(r["errors"].is_null(), "{role:?}: {r}");
        assert!(r["data"]["__schema"]["types"].as_array().is_some_and(|t| t.len() > 20), "{role:?}: {r}");
        let r = app.gql(Some(&token), &over, json!({})).await;
        assert_eq!(error_code(&r), Some("LIMIT"), "{role:?}: {r}");
        assert!(message(&r).contains(&MAX_INTROSPECTION_DEPTH.to_string()), "{r}");
        let r = app.gql(Some(&token), &deep_data, json!({})).await;
        assert_eq!(error_code(&r), Some("LIMIT"), "{role:?}: {r}");
        assert!(message(&r).contains(&format!("depth limit of {MAX_DEPTH}")), "{r}");
    }
}
