//! Compiled reads (`api::compiled`) answer exactly as the executor does: the same
//! data, errors and redactions, and the same audit trail of reads, for every
//! role, over one database. The app under test compiles what it can (on
//! PostgreSQL); its twin over the same database runs everything through the
//! executor. On SQLite nothing is compiled, and the test checks that too.

use axum::Router;
use entity::enums::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{graphql_request, TestApp};

const ROLES: &[Role] = &[
    Role::CaseManager,
    Role::PaisCoordinator,
    Role::AmbitoAdmin,
    Role::MinistryAdmin,
    Role::MeetingRegistrar,
    Role::RegistryCheckCoordinator,
    Role::RegistryCheckOfficer,
    Role::PucManager,
    Role::SupportActivationOfficer,
    Role::DisadvantageValidator,
    Role::Analyst,
];

/// The benchmark's case list (Q1).
const Q1: &str = "query($n: Int) { cases(first: $n) { edges { node { id state household { id members { fiscalCode \
                  firstName lastName } } meetings { id scheduledAt state } } } } }";
/// The benchmark's case detail.
const DETAIL: &str = "query($id: ID!) { case(id: $id) { id state padDate household { members { firstName lastName } } \
                      preliminaryAnalysis { state needsNotes } } }";
/// Every field of a case, every relation one level down, the whole connection.
const WIDE: &str = "query($after: String) { cases(first: 4, after: $after, orderBy: PAD_DATE_DESC) { __typename \
    totalCount pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor } edges { __typename cursor \
    node { __typename id state padDate assignedAt firstMeetingOn lastMeetingOn firstMeetingDeadline \
    recommendedConvocationBy nextCheckDue daysToDeadline overdue pathwayType version ambito { id code name } \
    comune { istatCode name ambito { name } } caseManager { id displayName fiscalCode email } \
    household { id inpsProtocol compositionDate members { id fiscalCode birthDate sex disabled residualBenefitMonths \
    residenceComune { name } } cases { id state } } application { id } \
    meetings { id kind state scheduledAt place attendees justification household { id } } \
    preliminaryAnalysis { id state outcome needsNotes healthNotes completedAt } analysisFramework { id } \
    pacts { id } pact { id } supports { id } reports { id } } } nodes { id padDate } } }";
/// Fragments spread and inline (on the type and on `Node`), fields merged
/// across them, `@include`.
const FRAGMENTS: &str =
    "query($meetings: Boolean!) { cases(first: 3) { ...Page edges { node { id household { ...H } } } } } \
    fragment Page on CaseConnection { pageInfo { hasNextPage } edges { cursor node { ...C } } } \
    fragment C on Case { id state ... on Node { id } ... { padDate } household { id } \
    meetings @include(if: $meetings) { id state } } \
    fragment H on Household { members { id firstName } }";
/// The household list, every relation one level down.
const HOUSEHOLDS: &str = "query($after: String) { households(first: 3, after: $after) { totalCount \
    pageInfo { endCursor hasNextPage } edges { node { id inpsProtocol compositionVersion compositionDate \
    comune { name } ambito { name } members { id fiscalCode disabled household { id } cases { id } } \
    cases { id state } applications { id } } } } }";
/// The meeting list with a filter.
const MEETINGS: &str = "{ meetings(first: 4, filter: { state: [PIANIFICATO, CONVOCATO, SVOLTO] }) { edges { cursor \
    node { id kind state scheduledAt durationMinutes place convocationChannel convocationRef attendees \
    justification recordedAt version comune { name } case { id state } household { id } } } } }";
/// Two lookups by id in one operation.
const BY_IDS: &str = "query($h: ID!, $m: ID!) { household(id: $h) { id members { firstName } } \
    meeting(id: $m) { id state case { id padDate } } }";
/// A root left out by `@skip`.
const SKIPPED: &str = "query($skip: Boolean!) { a: cases(first: 1) { totalCount } b: cases(first: 2) @skip(if: $skip) \
    { edges { node { id } } } }";
/// `@include` on a variable with a default.
const DEFAULTED: &str = "query($full: Boolean = true) { cases(first: 3) { edges { node { id \
    household @include(if: $full) { members { id disabled } } } } } }";
/// The other lists the compiler knows, every field but the hand-written ones
/// (one operation each: no role reads them all).
const OTHER_LISTS: [&str; 4] = [
    "{ pucProjects(first: 3) { totalCount edges { node { id title field description hostBody site schedule \
     weeklyHours placesComune placesCpi placesVolunteer startsOn endsOn minDurationMonths tutor state version \
     comune { name } manager { displayName } assignments { id } } } } }",
    "{ residencyChecks(first: 3) { edges { node { id kind state dueOn forwardedAt outcome finalisedAt overdue \
     version owningComune { name } currentComune { name } officer { id } member { fiscalCode } periods { id } } } } }",
    "{ disadvantageChecks(first: 3) { edges { node { id inpsRequestId category certificateProtocol certificateFrom \
     certificateTo receivedOn dueOn expiredBySilence state notes decidedAt version certifyingComune { name } \
     member { id } } } } }",
    "{ reports(first: 3) { edges { node { id kind state factDate ascertainedOn deadline description decidedAt \
     decisionComment sentAt inpsAck createdAt version comune { name } case { id } residencyCheck { id } \
     member { id } } } } }",
];
/// One of them alone, with a filter in a variable.
const PUC_FILTERED: &str =
    "query($f: PucProjectFilter) { pucProjects(first: 5, filter: $f) { edges { node { id state } } } }";
/// A filter in a variable.
const FILTERED: &str = "query($f: CaseFilter) { cases(first: 3, filter: $f) { edges { node { id state } } } }";
/// Aliases, two roots, a filter, a count alone.
const ALIASES: &str = "{ a: cases(first: 2, filter: { state: [ASSEGNATO, CONVOCATO] }) { edges { c: cursor \
    n: node { i: id s: state } } } b: cases(first: 1) { totalCount } }";

async fn send(router: &Router, token: &str, query: &str, vars: &Value) -> Value {
    serde_json::from_str(&send_text(router, token, query, vars).await.0).map(sorted).unwrap()
}

/// The answer as sent (keys in the order of the selection), and the request id
/// the server gave it (the audit trail's `request_id`).
async fn send_text(router: &Router, token: &str, query: &str, vars: &Value) -> (String, String) {
    let req = graphql_request(token, &json!({ "query": query, "variables": vars }));
    let resp = router.clone().oneshot(req).await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.unwrap();
    (String::from_utf8(bytes.to_vec()).unwrap(), id)
}

/// Redactions and errors are listed in the order fields resolve, which the
/// executor does not fix: compared as sets.
fn sorted(mut v: Value) -> Value {
    for p in ["/extensions/redactions", "/errors"] {
        if let Some(list) = v.pointer_mut(p).and_then(Value::as_array_mut) {
            list.sort_by_key(|x| x.to_string());
        }
    }
    v
}

/// The audit entries a request wrote, without their ids and instants.
async fn trail(app: &TestApp, request_id: &str) -> Vec<String> {
    use entity::audit_event;
    audit_event::Entity::find()
        .filter(audit_event::Column::RequestId.eq(request_id))
        .order_by_asc(audit_event::Column::Entity)
        .order_by_asc(audit_event::Column::EntityId)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            format!("{:?} {} {:?} {:?} {:?} {:?}", e.action, e.entity, e.entity_id, e.ambito_id, e.role, e.changes)
        })
        .collect()
}

#[tokio::test]
async fn compiled_reads_answer_exactly_as_the_executor() {
    let app = TestApp::seeded().await;
    let executor = app.twin(|c| c.compiled_reads = false).await;
    let pg = app.is_postgres();
    let mut compiled_total = 0;
    let mut audited = 0;
    let mut compiled_queries = std::collections::BTreeSet::new();
    let mut meant_to_compile = std::collections::BTreeSet::new();
    for role in ROLES {
        let (token, ..) = app.login_role(*role, 0).await;
        // The first page through the executor: ids and a cursor to ask with.
        let first = send(&executor, &token, WIDE, &json!({})).await;
        let id = first.pointer("/data/cases/edges/0/node/id").cloned();
        let cursor = first.pointer("/data/cases/pageInfo/endCursor").cloned().unwrap_or(Value::Null);
        let missing = gepi::ids::encode("Case", uuid::Uuid::new_v4());
        // Each operation, its variables, and whether the compiled read answers it
        // (when the executor answers it without an error; otherwise the executor does).
        let mut cases: Vec<(&str, Value, bool)> = vec![
            (Q1, json!({ "n": 20 }), true),
            (Q1, json!({ "n": 3 }), true),
            (Q1, json!({}), true),
            (WIDE, json!({}), true),
            (WIDE, json!({ "after": cursor }), true),
            (ALIASES, json!({}), true),
            (FRAGMENTS, json!({ "meetings": true }), true),
            // A selection left out is weighed by the executor: it answers.
            (FRAGMENTS, json!({ "meetings": false }), false),
            (SKIPPED, json!({ "skip": true }), false),
            // A variable not sent is given its default before anything runs
            // (`graphql::inputs::fill_defaults`): both ways read it alike.
            (DEFAULTED, json!({}), true),
            (DEFAULTED, json!({ "full": true }), true),
            (FILTERED, json!({ "f": { "state": ["ASSEGNATO"], "unassigned": false } }), true),
            // Variables the executor refuses or reads its own way: the compiled
            // read must agree with it (refuse the same, or read the same).
            (FILTERED, json!({ "f": { "state": "ASSEGNATO" } }), true),
            (FILTERED, json!({ "f": { "bogus": 1 } }), false),
            (FILTERED, json!({ "f": null }), true),
            (Q1, json!({ "n": "3" }), false),
            (Q1, json!({ "n": 3.5 }), false),
            // No such case: the executor words the NOT_FOUND.
            (DETAIL, json!({ "id": missing }), false),
            // Over the page cap: the executor words the LIMIT.
            (Q1, json!({ "n": 5000 }), false),
        ];
        if let Some(id) = id {
            cases.push((DETAIL, json!({ "id": id }), true));
        }
        let households = send(&executor, &token, HOUSEHOLDS, &json!({})).await;
        let meetings = send(&executor, &token, MEETINGS, &json!({})).await;
        let end = households.pointer("/data/households/pageInfo/endCursor").cloned().unwrap_or(Value::Null);
        for list in OTHER_LISTS {
            cases.push((list, json!({}), true));
        }
        cases.push((PUC_FILTERED, json!({ "f": { "state": ["ATTIVO", "COMPLETO"] } }), true));
        cases.push((HOUSEHOLDS, json!({}), true));
        cases.push((HOUSEHOLDS, json!({ "after": end }), true));
        cases.push((MEETINGS, json!({}), true));
        if let (Some(h), Some(m)) =
            (households.pointer("/data/households/edges/0/node/id"), meetings.pointer("/data/meetings/edges/0/node/id"))
        {
            cases.push((BY_IDS, json!({ "h": h, "m": m }), true));
        }
        for (query, vars, compiles) in &cases {
            // Once through the executor, which validates the document for the role.
            send(&app.router, &token, query, vars).await;
            let before = app.state.metrics.compiled_reads.get();
            let (got_text, got_id) = send_text(&app.router, &token, query, vars).await;
            let got = sorted(serde_json::from_str(&got_text).unwrap());
            let used = app.state.metrics.compiled_reads.get() - before;
            let (want_text, want_id) = send_text(&executor, &token, query, vars).await;
            let want = sorted(serde_json::from_str(&want_text).unwrap());
            assert_eq!(got, want, "{role:?} asked {query} with {vars}");
            if used == 1 {
                // `data` byte for byte: the keys in the order of the selection too
                // (the redactions that follow it are listed in the order fields
                // resolve, which the executor does not fix).
                let (again, _) = send_text(&app.router, &token, query, vars).await;
                let data = |t: &str| t.split(",\"extensions\":").next().unwrap_or_default().to_string();
                assert_eq!(data(&again), data(&want_text), "{role:?} asked {query} with {vars}");
            }
            let written = trail(&app, &got_id).await;
            assert_eq!(written, trail(&app, &want_id).await, "the audit trail of {role:?} asking {query} with {vars}");
            audited += written.len();
            // Refusals are the executor's to word: only answers without errors compile.
            let expected = pg && *compiles && want.get("errors").is_none();
            assert_eq!(used, u64::from(expected), "{role:?}: compiled {used} times {query} with {vars}: {want}");
            compiled_total += used;
            let others = OTHER_LISTS.contains(query) || *query == PUC_FILTERED;
            if pg && *role == Role::CaseManager && *compiles && !others {
                // The case manager reads every type these operations select.
                assert_eq!(used, 1, "the case manager's {query} with {vars} was not compiled: {want}");
            }
            if used == 1 {
                compiled_queries.insert(*query);
            }
            if *compiles {
                meant_to_compile.insert(*query);
            }
        }
    }
    // Reads of case content were recorded, alike on both ways.
    assert!(audited > 100, "only {audited} audit entries compared");
    if pg {
        // Each operation meant to compile did, for some role (none fails validation everywhere).
        let missed: Vec<_> = meant_to_compile.difference(&compiled_queries).collect();
        assert!(missed.is_empty(), "never compiled: {missed:#?}");
        // Most roles read cases: most of the answers above came from one statement.
        assert!(compiled_total >= 20, "only {compiled_total} compiled answers");
    } else {
        assert_eq!(compiled_total, 0, "SQLite runs everything through the executor");
    }
}

/// The case list with households, members and meetings is one statement (and
/// the audit insert), whatever the page size.
#[tokio::test]
async fn a_compiled_case_list_is_one_statement() {
    let app = TestApp::seeded().await;
    if !app.is_postgres() {
        return;
    }
    let (token, ..) = app.login_role(Role::CaseManager, 0).await;
    for n in [3, 20] {
        let vars = json!({ "n": n });
        send(&app.router, &token, Q1, &vars).await;
        app.record_statements();
        let got = send(&app.router, &token, Q1, &vars).await;
        let statements = app.recorded_statements();
        assert!(got["errors"].is_null(), "{got}");
        let rows = got["data"]["cases"]["edges"].as_array().unwrap();
        assert!(rows.len() > 1 && rows.iter().any(|r| !r["node"]["meetings"].as_array().unwrap().is_empty()));
        let reads: Vec<&String> = statements
            .iter()
            .filter(|s| {
                s.starts_with("INSERT INTO \"audit_event\"")
                    || ["case_file", "household", "member", "meeting"].iter().any(|t| s.contains(&format!("\"{t}\"")))
            })
            .collect();
        assert_eq!(reads.len(), 2, "page of {n}: {reads:#?}");
        assert!(reads[0].starts_with("SELECT json_build_array"), "{}", reads[0]);
        assert!(reads[1].starts_with("INSERT INTO \"audit_event\""), "{}", reads[1]);
    }
}

/// A case's detail is one statement and the audit insert: the Ambito of the
/// analysis read is the case's, which the case's own read carries (no lookup).
#[tokio::test]
async fn a_compiled_case_detail_is_one_statement_and_its_audit() {
    use entity::audit_event;
    let app = TestApp::seeded().await;
    let (token, ..) = app.login_role(Role::CaseManager, 0).await;
    let cases = send(&app.router, &token, Q1, &json!({ "n": 20 })).await;
    let ids: Vec<&str> =
        cases["data"]["cases"]["edges"].as_array().unwrap().iter().filter_map(|e| e["node"]["id"].as_str()).collect();
    // A case with an analysis (its notes are special: the read is audited).
    let mut found = false;
    for id in ids {
        let vars = json!({ "id": id });
        send(&app.router, &token, DETAIL, &vars).await;
        app.record_statements();
        let (got, request) = send_text(&app.router, &token, DETAIL, &vars).await;
        let got: Value = serde_json::from_str(&got).unwrap();
        let statements = app.recorded_statements();
        assert!(got["errors"].is_null(), "{got}");
        if got["data"]["case"]["preliminaryAnalysis"].is_null() {
            continue;
        }
        found = true;
        let trail = audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(request.as_str()))
            .all(&app.db)
            .await
            .unwrap();
        let case = trail.iter().find(|e| e.entity == "case_file").unwrap_or_else(|| panic!("the case read: {trail:?}"));
        let analysis = trail.iter().find(|e| e.entity == "preliminary_analysis").expect("the analysis's read");
        assert!(case.ambito_id.is_some());
        assert_eq!(analysis.ambito_id, case.ambito_id, "the analysis's read names the case's Ambito");
        let data: Vec<&String> = statements
            .iter()
            .filter(|s| {
                !["\"session\"", "\"operator\"", "\"profile\"", "\"profile_comune\""].iter().any(|t| s.contains(t))
            })
            .collect();
        let expected = if app.is_postgres() { 2 } else { data.len() };
        assert_eq!(data.len(), expected, "{data:#?}");
        assert!(
            !data
                .iter()
                .any(|s| s.starts_with("SELECT") && s.contains("FROM \"case_file\" WHERE \"case_file\".\"id\" IN")),
            "{data:#?}"
        );
        break;
    }
    assert!(found, "no case of the case manager has an analysis");
}

/// What the executor refuses or reads its own way, the compiled reads leave to
/// it: an operation picked by name among several (the executor validates the
/// variables of the one it runs), a name given to an anonymous operation, and
/// fields under one key that are not the same field (in fragments on different
/// types, the executor resolves each).
#[tokio::test]
async fn the_executor_answers_what_it_reads_its_own_way() {
    let app = TestApp::seeded().await;
    let executor = app.twin(|c| c.compiled_reads = false).await;
    let (token, ..) = app.login_role(Role::CaseManager, 0).await;
    let ids = send(&executor, &token, Q1, &json!({ "n": 2 })).await;
    let (x, y) = (
        ids["data"]["cases"]["edges"][0]["node"]["id"].clone(),
        ids["data"]["cases"]["edges"][1]["node"]["id"].clone(),
    );
    let two =
        "query A { __typename } query B($f: CaseFilter) { cases(first: 3, filter: $f) { edges { node { id } } } }";
    let merged = "query($x: ID!, $y: ID!) { a: case(id: $x) { state } ...Q } \
                  fragment Q on Query { a: case(id: $y) { household { id } } }";
    let bogus = json!({ "f": { "state": ["ASSEGNATO"], "bogus": 1 } });
    let requests = [
        (two, Some("A"), bogus.clone()),
        (two, Some("B"), bogus.clone()),
        (two, Some("B"), json!({ "f": { "state": ["ASSEGNATO"] } })),
        (Q1, Some("Named"), json!({ "n": 2 })),
        (merged, None, json!({ "x": x, "y": y })),
    ];
    for (query, name, vars) in requests {
        let body = json!({ "query": query, "operationName": name, "variables": vars });
        let post = |router: Router| {
            let req = graphql_request(&token, &body);
            async move {
                let resp = router.oneshot(req).await.unwrap();
                let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.unwrap();
                sorted(serde_json::from_slice(&bytes).unwrap())
            }
        };
        // Twice, so that a first validation could have let the second through.
        post(app.router.clone()).await;
        let before = app.state.metrics.compiled_reads.get();
        let got = post(app.router.clone()).await;
        assert_eq!(app.state.metrics.compiled_reads.get(), before, "compiled: {query} as {name:?} with {vars}");
        assert_eq!(got, post(executor.clone()).await, "{query} as {name:?} with {vars}");
    }
}
