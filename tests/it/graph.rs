//! The authorized graph: each role sees exactly its own filtered view, on every
//! path (lists, by id, `node`, nested relations, totals, filters), with
//! redactions reported and never widened by traversal.

use std::collections::BTreeSet;

use entity::{case_file, enums::Role, meeting, profile_comune};
use gepi::ids;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{error_code, seed_today, TestApp};

fn redacted_paths(v: &Value) -> Vec<String> {
    v["extensions"]["redactions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    r["path"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(".")
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn comuni_of(app: &TestApp, profile: uuid::Uuid) -> Vec<String> {
    profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(profile))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.comune_istat)
        .collect()
}

const CASES: &str = "query($first: Int, $after: String) { cases(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id state caseManager { id } comune { istatCode } household { id members { fiscalCode } } } } } }";

#[tokio::test]
async fn a_case_manager_sees_exactly_its_own_cases_with_their_content() {
    let app = TestApp::seeded().await;
    let (token, _, op) = app.login_role(Role::CaseManager, 0).await;
    let expected =
        case_file::Entity::find().filter(case_file::Column::CaseManagerId.eq(op.id)).count(&app.db).await.unwrap();
    assert!(expected > 0);
    let mut seen = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let r = app.gql(Some(&token), CASES, json!({ "first": 7, "after": after })).await;
        assert!(r["errors"].is_null(), "{r}");
        assert_eq!(r["data"]["cases"]["totalCount"], expected);
        for e in r["data"]["cases"]["edges"].as_array().unwrap() {
            assert_eq!(e["node"]["caseManager"]["id"], ids::encode("Operator", op.id));
            assert!(!e["node"]["household"]["members"].as_array().unwrap().is_empty());
            assert!(seen.insert(e["node"]["id"].as_str().unwrap().to_string()), "a case came twice");
        }
        if r["data"]["cases"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = r["data"]["cases"]["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    assert_eq!(seen.len() as u64, expected, "paging visits every own case once");
    assert!(redacted_paths(&app.gql(Some(&token), CASES, json!({})).await).is_empty());
}

#[tokio::test]
async fn the_coordinator_sees_every_case_of_the_ambito_as_a_projection_only() {
    let app = TestApp::seeded().await;
    let (token, profile, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let ambito = profile.ambito_id.unwrap();
    let expected =
        case_file::Entity::find().filter(case_file::Column::AmbitoId.eq(ambito)).count(&app.db).await.unwrap();
    let q = "{ cases(first: 5) { totalCount edges { node { id state firstMeetingDeadline overdue caseManager { id }
              household { id } preliminaryAnalysis { healthNotes } pathwayType } } } }";
    let r = app.gql(Some(&token), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["cases"]["totalCount"], expected);
    for e in r["data"]["cases"]["edges"].as_array().unwrap() {
        assert!(e["node"]["state"].is_string());
        assert!(e["node"]["household"].is_null());
        assert!(e["node"]["preliminaryAnalysis"].is_null());
        assert!(e["node"]["pathwayType"].is_null());
    }
    let paths = redacted_paths(&r);
    assert_eq!(paths.len(), 15, "three redactions per case: {paths:?}");
    assert!(paths.contains(&"cases.edges.0.node.preliminaryAnalysis".to_string()), "{paths:?}");
    // The projection is not a case-detail read: nothing audited.
    assert_eq!(app.count("audit_event WHERE action = 'read'").await, 0);
    // Strict clients get the whole operation refused.
    let r = app.gql_with(&token, &[("x-gepi-strict", "true")], q, json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    assert!(r["data"].is_null());
    // Filtering by a field the role cannot read is refused.
    let r = app
        .gql(
            Some(&token),
            "{ cases(filter: { pathwayType: OBBLIGO_SOCIALE_OPZIONE_LAVORO }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    // Filters on what it reads work, under the same scope.
    let unassigned = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(ambito))
        .filter(case_file::Column::CaseManagerId.is_null())
        .count(&app.db)
        .await
        .unwrap();
    let r = app.gql(Some(&token), "{ cases(filter: { unassigned: true }) { totalCount } }", json!({})).await;
    assert_eq!(r["data"]["cases"]["totalCount"], unassigned, "{r}");
}

#[tokio::test]
async fn out_of_scope_ids_answer_like_missing_ones_on_every_path() {
    let app = TestApp::seeded().await;
    let (token, _, op) = app.login_role(Role::CaseManager, 0).await;
    let other = case_file::Entity::find()
        .filter(case_file::Column::CaseManagerId.ne(op.id))
        .filter(case_file::Column::CaseManagerId.is_not_null())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let theirs = ids::encode("Case", other.id);
    let missing = ids::encode("Case", uuid::Uuid::new_v4());
    for id in [&theirs, &missing] {
        let r = app.gql(Some(&token), "query($id: ID!) { case(id: $id) { id state } }", json!({ "id": id })).await;
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
        assert_eq!(r["data"], json!({ "case": null }), "the nullable root alone is null: {r}");
        let r = app.gql(Some(&token), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    }
    // The household of someone else's case, by id and through node.
    let hh = ids::encode("Household", other.household_id);
    let r = app.gql(Some(&token), "query($id: ID!) { household(id: $id) { id } }", json!({ "id": hh })).await;
    assert_eq!(error_code(&r), Some("NOT_FOUND"), "{r}");
    // An id of the wrong type is bad input, not a lookup.
    let r = app.gql(Some(&token), "query($id: ID!) { case(id: $id) { id } }", json!({ "id": hh })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    // No trace of the other case's data anywhere in the answers.
    let txt = r.to_string();
    assert!(!txt.contains(&other.household_id.to_string()));
}

#[tokio::test]
async fn roles_without_rows_are_refused_and_analysts_see_nothing() {
    let app = TestApp::seeded().await;
    let (analyst, _, _) = app.login_role(Role::Analyst, 0).await;
    for q in [
        "{ cases { totalCount } }",
        "{ households { totalCount } }",
        "{ meetings { totalCount } }",
        "{ auditEvents { totalCount } }",
    ] {
        let r = app.gql(Some(&analyst), q, json!({})).await;
        assert_eq!(error_code(&r), Some("FORBIDDEN"), "{q}: {r}");
    }
    let me =
        app.gql(Some(&analyst), "{ me { operator { displayName fiscalCode } profile { role } } }", json!({})).await;
    assert!(me["errors"].is_null(), "{me}");
    assert!(me["data"]["me"]["operator"]["fiscalCode"].is_string(), "own record is readable");
    let (admin, _, _) = app.login_role(Role::AmbitoAdmin, 0).await;
    let r = app.gql(Some(&admin), "{ cases { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
}

#[tokio::test]
async fn nested_traversal_never_widens_access() {
    let app = TestApp::seeded().await;
    let (token, profile, _) = app.login_role(Role::PucManager, 0).await;
    let comuni = comuni_of(&app, profile.id).await;
    let q = "{ pucProjects(first: 100) { edges { node { id comune { istatCode }
                assignments { id member { fiscalCode firstName birthDate disabled household { id } cases { id } } } } } } }";
    let r = app.gql(Some(&token), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let edges = r["data"]["pucProjects"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    let mut members = 0;
    for e in edges {
        assert!(comuni.contains(&e["node"]["comune"]["istatCode"].as_str().unwrap().to_string()));
        for a in e["node"]["assignments"].as_array().unwrap() {
            let m = &a["member"];
            members += 1;
            assert!(m["fiscalCode"].is_string());
            for hidden in ["birthDate", "disabled", "household", "cases"] {
                assert!(m[hidden].is_null(), "{hidden} leaked: {m}");
            }
        }
    }
    assert!(members > 0, "the seed assigns members to PUC");
    let paths = redacted_paths(&r);
    assert!(paths.iter().any(|p| p.ends_with("member.household")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("member.birthDate")), "{paths:?}");

    // The registrar reaches cases through households, never their analyses.
    let (token, _, _) = app.login_role(Role::MeetingRegistrar, 0).await;
    let q = "{ households(first: 20) { edges { node { members { phone disabled cases { id state preliminaryAnalysis { id } } } cases { id preliminaryAnalysis { id } pacts { id } meetings { id } } } } } }";
    let r = app.gql(Some(&token), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    for e in r["data"]["households"]["edges"].as_array().unwrap() {
        for c in e["node"]["cases"].as_array().unwrap() {
            assert!(c["preliminaryAnalysis"].is_null());
            assert!(c["pacts"].is_null());
            assert!(c["meetings"].is_array());
        }
        for m in e["node"]["members"].as_array().unwrap() {
            assert!(m["disabled"].is_null());
            assert!(m["cases"].is_null());
        }
    }
}

#[tokio::test]
async fn unreadable_columns_are_not_selected_from_the_database() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    app.record_statements();
    let r = app.gql(Some(&token), "{ cases(first: 3) { edges { node { id pathwayType } } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let sql = app.recorded_statements().join("\n");
    assert!(sql.contains("case_file"), "{sql}");
    assert!(!sql.contains("\"case_file\".\"pathway_type\""), "pathway_type was selected:\n{sql}");
    // The case manager's own view does select it.
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    app.record_statements();
    app.gql(Some(&token), "{ cases(first: 3) { edges { node { id pathwayType } } } }", json!({})).await;
    assert!(app.recorded_statements().join("\n").contains("\"case_file\".\"pathway_type\""));
}

#[tokio::test]
async fn statements_do_not_grow_with_page_size() {
    let opts = gepi::seed::SeedOptions { ambiti: 1, households: 400, seed: 3, today: seed_today(), progress: false };
    let app = TestApp::seeded_with(opts).await;
    let (token, _, _) = app.login_role(Role::MeetingRegistrar, 0).await;
    let q = "query($n: Int) { cases(first: $n) { totalCount edges { node { id state comune { name } household { id members { fiscalCode firstName lastName } } meetings { id scheduledAt state } } } } }";
    // The principal is read once, then served from memory.
    app.gql(Some(&token), "{ __typename }", json!({})).await;
    // Both ways of answering: the executor (a twin without compiled reads), and
    // the app once it has validated the document (compiled on PostgreSQL).
    let executor = app.twin(|c| c.compiled_reads = false).await;
    app.gql(Some(&token), q, json!({ "n": 1 })).await;
    let mut counts = Vec::new();
    let mut reads = Vec::new();
    for (router, n) in [(&executor, 10), (&executor, 100), (&app.router, 10), (&app.router, 100)] {
        app.record_statements();
        let r = app.gql_on(router, &token, q, json!({ "n": n })).await;
        assert!(r["errors"].is_null(), "{r}");
        assert_eq!(r["data"]["cases"]["edges"].as_array().unwrap().len(), n as usize, "page of {n}");
        let stmts = app.recorded_statements();
        // The audit and the session check aside (the principal is re-read when
        // the cache bound passes on a slow machine), count the reads of the graph.
        let auth = ["FROM \"session\"", "FROM \"operator\"", "FROM \"profile\"", "FROM \"profile_comune\""];
        let selects: Vec<String> = stmts
            .into_iter()
            .filter(|s| s.trim_start().starts_with("SELECT") && !auth.iter().any(|a| s.contains(a)))
            .collect();
        counts.push(selects.len());
        reads.push(selects.iter().map(|s| s.chars().take(90).collect::<String>()).collect::<Vec<_>>().join("\n  "));
    }
    eprintln!("SELECT statements for pages of 10 and 100 cases, executor then app: {counts:?}");
    for (pair, way) in [(0, "the executor"), (2, "the app")] {
        assert_eq!(
            counts[pair],
            counts[pair + 1],
            "{way}: statements for 10 vs 100 cases: {counts:?}\n10:\n  {}\n100:\n  {}",
            reads[pair],
            reads[pair + 1]
        );
    }
    assert!(counts[0] <= 6, "{counts:?}");
    // On PostgreSQL the app compiles the list: one statement, count included.
    let compiled = if app.is_postgres() { 1 } else { counts[0] };
    assert_eq!(counts[2], compiled, "{counts:?}");
}

#[tokio::test]
async fn reading_case_detail_is_audited_once_per_case_per_request() {
    let app = TestApp::seeded().await;
    let (token, profile, op) = app.login_role(Role::CaseManager, 0).await;
    // Select the household twice (aliases) and the analysis: still one event per case.
    let q = "{ cases(first: 3) { edges { node { id a: household { id } b: household { id } preliminaryAnalysis { id } } } } }";
    let r = app.gql(Some(&token), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let n = r["data"]["cases"]["edges"].as_array().unwrap().len() as i64;
    assert_eq!(app.count("audit_event WHERE action = 'read' AND entity = 'case_file'").await, n);
    let rows = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Entity.eq("case_file"))
        .all(&app.db)
        .await
        .unwrap();
    for e in rows {
        assert_eq!(e.operator_id, Some(op.id));
        assert_eq!(e.profile_id, Some(profile.id));
        assert_eq!(e.ambito_id, profile.ambito_id);
        assert!(e.request_id.is_some());
    }
    // The Ambito administrator reads the trail of its Ambito only.
    let (admin, admin_profile, _) = app.login_role(Role::AmbitoAdmin, 0).await;
    let r = app.gql(Some(&admin), "{ auditEvents(first: 100, filter: { action: READ }) { totalCount edges { node { entity entityId role operator { id } } } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let same_ambito = admin_profile.ambito_id == profile.ambito_id;
    assert_eq!(r["data"]["auditEvents"]["totalCount"], if same_ambito { n } else { 0 });
}

#[tokio::test]
async fn limits_are_refused_before_touching_the_database() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    app.record_statements();
    let r = app.gql(Some(&token), "{ cases(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    let stmts = app.recorded_statements();
    assert!(!stmts.iter().any(|s| s.contains("case_file")), "{stmts:?}");
    let deep = "{ cases { edges { node { household { cases { household { cases { household { cases { household { cases { household { id } } } } } } } } } } } } }";
    let r = app.gql(Some(&token), deep, json!({})).await;
    assert_eq!(error_code(&r), Some("LIMIT"), "{r}");
    let r = app.gql(Some(&token), "{ cases(first: -1) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    let r = app.gql(Some(&token), "{ cases(after: \"garbage\") { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    let r = app.gql(Some(&token), "{ cases(filter: { comune: \"12\" }) { totalCount } }", json!({})).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
}

#[tokio::test]
async fn introspection_hides_what_the_role_cannot_read() {
    let app = TestApp::seeded().await;
    let q = "{ __type(name: \"Case\") { name fields { name } } }";
    let names = |r: &Value| -> Vec<String> {
        r["data"]["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (coord, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let r = app.gql(Some(&coord), q, json!({})).await;
    let seen = names(&r);
    assert!(seen.contains(&"state".to_string()));
    assert!(!seen.contains(&"preliminaryAnalysis".to_string()), "{seen:?}");
    let (cm, _, _) = app.login_role(Role::CaseManager, 0).await;
    assert!(names(&app.gql(Some(&cm), q, json!({})).await).contains(&"preliminaryAnalysis".to_string()));
}

#[tokio::test]
async fn each_role_sees_only_its_scope_of_every_list() {
    let app = TestApp::seeded().await;
    // Registry officer: only checks assigned to it.
    let (token, _, op) = app.login_role(Role::RegistryCheckOfficer, 0).await;
    let r = app.gql(Some(&token), "{ residencyChecks(first: 100) { totalCount edges { node { officer { id } member { fiscalCode phone } } } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let expected = entity::residency_check::Entity::find()
        .filter(entity::residency_check::Column::OfficerId.eq(op.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(r["data"]["residencyChecks"]["totalCount"], expected);
    for e in r["data"]["residencyChecks"]["edges"].as_array().unwrap() {
        assert_eq!(e["node"]["officer"]["id"], ids::encode("Operator", op.id));
        assert!(e["node"]["member"]["phone"].is_null());
    }
    // Disadvantage validator: requests certified by its Comuni, with the category.
    let (token, profile, _) = app.login_role(Role::DisadvantageValidator, 0).await;
    let comuni = comuni_of(&app, profile.id).await;
    let expected = entity::disadvantage_check::Entity::find()
        .filter(entity::disadvantage_check::Column::CertifyingComuneIstat.is_in(comuni))
        .count(&app.db)
        .await
        .unwrap();
    let r = app.gql(Some(&token), "{ disadvantageChecks(first: 100) { totalCount edges { node { category dueOn expiredBySilence member { fiscalCode cases { id } } } } } }", json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["disadvantageChecks"]["totalCount"], expected);
    for e in r["data"]["disadvantageChecks"]["edges"].as_array().unwrap() {
        assert!(e["node"]["category"].is_string());
        assert!(e["node"]["member"]["cases"].is_null());
    }
    // Meeting registrar: meetings of its Comuni.
    let (token, profile, _) = app.login_role(Role::MeetingRegistrar, 0).await;
    let comuni = comuni_of(&app, profile.id).await;
    let expected =
        meeting::Entity::find().filter(meeting::Column::ComuneIstat.is_in(comuni)).count(&app.db).await.unwrap();
    let r = app.gql(Some(&token), "{ meetings { totalCount } }", json!({})).await;
    assert_eq!(r["data"]["meetings"]["totalCount"], expected, "{r}");
}
