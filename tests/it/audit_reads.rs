//! Issue 11, point 3: every read of case content is in the Ambito's audit trail,
//! whatever the path. For every role and every path the field matrix probes
//! (root lists and nested relations), and for `node(id:)` of each row reached, a
//! row whose sensitive or special fields the response carries (a case: any
//! non-public field) has exactly one `read` event of that request, naming the
//! classes read and the row's Ambito; a row whose content is not returned has
//! none.

use std::collections::{BTreeMap, BTreeSet};

use entity::{audit_event, enums::*};
use gepi::{authz::Class, ids};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The field matrix's paths that reach types whose reads are audited (the others
/// carry no sensitive or special field).
fn probes() -> impl Iterator<Item = &'static (&'static str, &'static [&'static str], &'static str)> {
    const AUDITED: &[&str] = &[
        "Member",
        "Application",
        "Case",
        "PreliminaryAnalysis",
        "AnalysisFramework",
        "Pact",
        "PactObjective",
        "PactExpectedResult",
        "PactCommitment",
        "Support",
        "Report",
        "Meeting",
        "PucAssignment",
        "PucAttendance",
        "DisadvantageCheck",
    ];
    crate::matrix::PROBES.iter().filter(|(_, _, ty)| AUDITED.contains(ty))
}

const ROLES: &[Role] = &[
    Role::PaisCoordinator,
    Role::CaseManager,
    Role::RegistryCheckCoordinator,
    Role::RegistryCheckOfficer,
    Role::PucManager,
    Role::SupportActivationOfficer,
    Role::MeetingRegistrar,
    Role::DisadvantageValidator,
];

fn table(ty: &str) -> String {
    match ty {
        "Case" => "case_file".into(),
        _ => ty.chars().enumerate().fold(String::new(), |mut s, (i, c)| {
            if c.is_uppercase() && i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
            s
        }),
    }
}

/// The fields of `ty` whose reading is audited, and their class.
fn audited(app: &TestApp, ty: &str, fields: &[&str]) -> Vec<(String, Class)> {
    fields
        .iter()
        .filter_map(|f| {
            let class = app.state.policy.class_of(&format!("{ty}.{f}"))?;
            let counts =
                if ty == "Case" { class != Class::Public } else { matches!(class, Class::Sensitive | Class::Special) };
            counts.then(|| (f.to_string(), class))
        })
        .collect()
}

fn selection(path: &[&str], fields: &str) -> String {
    match path.split_first() {
        None => fields.to_string(),
        Some((rel, rest)) => format!("id {rel} {{ {} }}", selection(rest, fields)),
    }
}

fn reached<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| reached(i, path, out)),
        Value::Object(_) => match path.split_first() {
            None => out.push(v),
            Some((rel, rest)) => reached(&v[*rel], rest, out),
        },
        _ => {}
    }
}

/// The `read` events the last request wrote (`n` of them), by (table, row id).
async fn last_reads(app: &TestApp, before: i64) -> BTreeMap<(String, String), Vec<audit_event::Model>> {
    let now = app.count("audit_event WHERE action = 'read'").await;
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Read))
        .order_by_desc(audit_event::Column::OccurredAt)
        .order_by_desc(audit_event::Column::Id)
        .limit((now - before) as u64)
        .all(&app.db)
        .await
        .unwrap();
    let mut out: BTreeMap<(String, String), Vec<audit_event::Model>> = BTreeMap::new();
    for e in rows {
        out.entry((e.entity.clone(), e.entity_id.clone().unwrap_or_default())).or_default().push(e);
    }
    out
}

/// Checks the events of one response against the rows it carries.
fn check(
    what: &str,
    ty: &str,
    objects: &[&Value],
    audited: &[(String, Class)],
    events: &BTreeMap<(String, String), Vec<audit_event::Model>>,
    failures: &mut Vec<String>,
) -> usize {
    let mut checked = 0;
    for o in objects {
        let Some(gid) = o["id"].as_str() else { continue };
        let (_, uuid) = ids::decode("id", &async_graphql::ID(gid.to_string())).unwrap();
        let read: BTreeSet<&str> =
            audited.iter().filter(|(f, _)| !o[f.as_str()].is_null()).map(|(_, c)| c.as_str()).collect();
        let key = (table(ty), uuid.to_string());
        let got = events.get(&key).map(Vec::as_slice).unwrap_or_default();
        if read.is_empty() {
            // Nothing of its content was returned (a Case may still be read
            // through a nested relation of the probe: only types without one).
            if !got.is_empty() && ty != "Case" {
                failures.push(format!("{what}: {ty} {uuid} recorded without content read"));
            }
            continue;
        }
        checked += 1;
        match got {
            [e] => {
                let classes: Value = serde_json::from_str(e.changes.as_deref().unwrap_or("{}")).unwrap();
                let recorded: BTreeSet<&str> = classes["classes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
                    .unwrap_or_default();
                if !read.is_subset(&recorded) {
                    failures.push(format!("{what}: {ty} {uuid} read {read:?}, recorded {recorded:?}"));
                }
                if e.ambito_id.is_none() {
                    failures.push(format!("{what}: {ty} {uuid} recorded without its Ambito"));
                }
            }
            [] => failures.push(format!("{what}: {ty} {uuid} read {read:?} and not recorded")),
            many => failures.push(format!("{what}: {ty} {uuid} recorded {} times in one request", many.len())),
        }
    }
    checked
}

#[tokio::test]
async fn every_read_of_case_content_is_recorded_once_per_row_whatever_the_path() {
    let app = TestApp::seeded().await;
    let leaves = crate::matrix::leaf_fields();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut by_node = 0;
    for role in ROLES {
        let (token, _, _) = app.login_role(*role, 0).await;
        for (root, path, ty) in probes() {
            let fields: Vec<&str> = leaves[*ty].iter().map(String::as_str).collect();
            let audited = audited(&app, ty, &fields);
            let what = format!("{} {root}.{}", role.as_str(), path.join("."));
            let before = app.count("audit_event WHERE action = 'read'").await;
            let q =
                format!("{{ {root}(first: 20) {{ edges {{ node {{ {} }} }} }} }}", selection(path, &fields.join(" ")));
            let r = app.gql(Some(&token), &q, json!({})).await;
            let mut objects = Vec::new();
            reached(&r["data"][*root]["edges"], &[&["node"], *path].concat(), &mut objects);
            let events = last_reads(&app, before).await;
            checked += check(&what, ty, &objects, &audited, &events, &mut failures);
            // The same rows by `node(id:)`: recorded just the same.
            for o in objects.iter().take(5) {
                let Some(gid) = o["id"].as_str() else { continue };
                let before = app.count("audit_event WHERE action = 'read'").await;
                let q = format!("query($id: ID!) {{ node(id: $id) {{ ... on {ty} {{ {} }} }} }}", fields.join(" "));
                let r = app.gql(Some(&token), &q, json!({ "id": gid })).await;
                let events = last_reads(&app, before).await;
                let node = &r["data"]["node"];
                by_node += check(&format!("{what} node"), ty, &[node], &audited, &events, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 200 && by_node > 40, "only {checked} rows by list and {by_node} by node checked");
}

/// Requests served at once keep their read entries apart: each request's
/// entries name that request, its profile and exactly the cases it returned.
#[tokio::test]
async fn concurrent_requests_each_have_their_own_read_entries() {
    let app = TestApp::seeded().await;
    let q = "{ cases(first: 5) { edges { node { id state household { id } } } } }";
    let mut callers = Vec::new();
    for nth in 0..2 {
        let (token, profile, _) = app.login_role(Role::CaseManager, nth).await;
        callers.push((token, profile.id));
    }
    let requests = (0..12).map(|i| {
        let (token, profile) = callers[i % callers.len()].clone();
        let req = crate::helpers::graphql_request(&token, &json!({ "query": q }));
        let router = app.router.clone();
        async move {
            let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (id, profile, serde_json::from_slice::<Value>(&body).unwrap())
        }
    });
    let answers = futures::future::join_all(requests).await;
    for (id, profile, body) in answers {
        assert!(body.get("errors").is_none(), "{body}");
        let cases: BTreeSet<String> = body["data"]["cases"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| ids::decode_uuid("id", "Case", e["node"]["id"].as_str().unwrap()).unwrap().to_string())
            .collect();
        assert!(!cases.is_empty());
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::RequestId.eq(id.as_str()))
            .all(&app.db)
            .await
            .unwrap();
        let entities: BTreeSet<String> = events.iter().filter_map(|e| e.entity_id.clone()).collect();
        assert_eq!(entities, cases, "request {id}: the entries name the cases it returned");
        assert!(events.iter().all(|e| e.profile_id == Some(profile) && e.action == AuditAction::Read));
    }
}

/// No trace, no data: when the read entries cannot be written, the answer
/// carries no data (an `INTERNAL` error, the database's message kept out of
/// it), on either way of answering, for requests served at once.
#[tokio::test]
async fn a_read_that_cannot_be_audited_returns_no_data() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::CaseManager, 0).await;
    let q = "{ cases(first: 3) { edges { node { id state household { members { firstName } } } } } }";
    let ok = app.gql(Some(&token), q, json!({})).await;
    assert!(ok["data"]["cases"]["edges"].as_array().is_some_and(|e| !e.is_empty()), "{ok}");
    if app.is_postgres() {
        app.exec(
            "CREATE FUNCTION refuse_reads() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse_reads BEFORE INSERT ON audit_event FOR EACH ROW \
             WHEN (NEW.action = 'read') EXECUTE FUNCTION refuse_reads()",
        )
        .await;
    } else {
        app.exec(
            "CREATE TRIGGER refuse_reads BEFORE INSERT ON audit_event WHEN NEW.action = 'read' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await;
    }
    let executor = app.twin(|c| c.compiled_reads = false).await;
    let answers = futures::future::join_all((0..4).map(|i| {
        let router = if i % 2 == 0 { app.router.clone() } else { executor.clone() };
        let req = crate::helpers::graphql_request(&token, &json!({ "query": q }));
        async move {
            let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            serde_json::from_slice::<Value>(&body).unwrap()
        }
    }))
    .await;
    for r in answers {
        assert!(r["data"].is_null(), "data left without its audit entries: {r}");
        assert_eq!(crate::helpers::error_code(&r), Some("INTERNAL"), "{r}");
        assert!(!r.to_string().contains("refused"), "the database's message stays in the log: {r}");
    }
}
