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

/// "Who accessed my data": after every role has read every path of the field
/// matrix (lists, then `node` on the person's rows), the access report of a
/// seeded person lists every read of their member row, their household, its
/// case and the case's content (whatever the table: the read entries name the
/// case they belong to), and no read of another member's row; each line's
/// proof verifies against the signed checkpoint. The Ambito administrator of
/// the person's Ambito gets the same lines of its trail, and asking is itself
/// recorded; an administrator of another Ambito is answered as for an unknown
/// codice fiscale.
#[tokio::test]
async fn the_access_report_lists_every_read_of_a_person_whatever_the_path() {
    use gepi::{audit::access, tlog::tree};
    let app = TestApp::seeded().await;
    let leaves = crate::matrix::leaf_fields();
    for role in ROLES {
        let (token, _, _) = app.login_role(*role, 0).await;
        for (root, path, ty) in probes() {
            let fields: Vec<&str> = leaves[*ty].iter().map(String::as_str).collect();
            let q =
                format!("{{ {root}(first: 20) {{ edges {{ node {{ {} }} }} }} }}", selection(path, &fields.join(" ")));
            app.gql(Some(&token), &q, json!({})).await;
        }
    }
    // The person: a member of the household whose case was read the most.
    let case_reads = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Read))
        .filter(audit_event::Column::Entity.eq("case_file"))
        .all(&app.db)
        .await
        .unwrap();
    let mut by_case: BTreeMap<String, usize> = BTreeMap::new();
    for e in &case_reads {
        *by_case.entry(e.entity_id.clone().unwrap()).or_default() += 1;
    }
    let (case_id, _) = by_case.iter().max_by_key(|(_, n)| **n).unwrap();
    let case = entity::case_file::Entity::find_by_id(case_id.parse::<uuid::Uuid>().unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let members = entity::member::Entity::find()
        .filter(entity::member::Column::HouseholdId.eq(case.household_id))
        .order_by_asc(entity::member::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert!(members.len() >= 2, "a household of several members");
    let person = &members[0];
    // The person's rows by `node` too, as the Ambito's coordinator.
    let (token, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    for (ty, id) in [("Case", case.id), ("Household", case.household_id), ("Member", person.id)] {
        let q = format!("query($id: ID!) {{ node(id: $id) {{ id ... on {ty} {{ {} }} }} }}", leaves[ty].join(" "));
        app.gql(Some(&token), &q, json!({ "id": ids::encode(ty, id) })).await;
    }
    gepi::audit::log::sequence_all(&app.db).await.unwrap();
    let signer = gepi::tlog::note::Signer::generate("gepi.test/audit").unwrap();
    let cp = gepi::audit::log::checkpoint(&app.db, &signer, chrono::Duration::zero(), None).await.unwrap().unwrap();

    // What the report must list, found another way: the reads whose row is the
    // person's, their household or the case, or whose entry names the case.
    let (c, h, m) = (case.id.to_string(), case.household_id.to_string(), person.id.to_string());
    let reads = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Read))
        .all(&app.db)
        .await
        .unwrap();
    let names_case = |e: &audit_event::Model| {
        e.changes
            .as_deref()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
            .is_some_and(|v| v["case_id"].as_str() == Some(c.as_str()))
    };
    let expected: BTreeSet<uuid::Uuid> = reads
        .iter()
        .filter(|e| {
            let id = e.entity_id.as_deref().unwrap_or_default();
            (e.entity == "case_file" && id == c)
                || (e.entity == "household" && id == h)
                || (e.entity == "member" && id == m)
                || names_case(e)
        })
        .map(|e| e.id)
        .collect();
    let tables: BTreeSet<&str> = reads.iter().filter(|e| expected.contains(&e.id)).map(|e| e.entity.as_str()).collect();
    assert!(tables.len() >= 4, "reads of the person in several tables: {tables:?}");
    let others: BTreeSet<String> = members[1..].iter().map(|o| o.id.to_string()).collect();

    let ctx = gepi::audit::AuditContext::unattributed(ActorKind::System, None);
    let report = access::report(&app.db, &ctx, access::Asker::System, &person.fiscal_code).await.unwrap();
    let listed: BTreeSet<uuid::Uuid> = report.lines.iter().map(|l| l.event_id).collect();
    let missing: Vec<_> = expected.difference(&listed).collect();
    assert!(missing.is_empty(), "{} of {} reads missing from the report: {missing:?}", missing.len(), expected.len());
    assert!(
        report.lines.iter().all(|l| !(l.entity == "member" && others.contains(l.entity_id.as_deref().unwrap_or("")))),
        "no read of another member's row"
    );
    assert!(report.lines.iter().all(|l| l.actor_kind != "operator" || l.actor.is_some()), "operators are named");
    // Every line in the checkpoint's tree has a proof that verifies.
    let root: tree::Hash = cp.root.clone().try_into().unwrap();
    let mut proved = 0;
    use base64::Engine;
    let b64 =
        |s: &str| -> tree::Hash { base64::engine::general_purpose::STANDARD.decode(s).unwrap().try_into().unwrap() };
    for l in report.lines.iter().filter(|l| l.leaf.is_some_and(|s| s < cp.size as u64)) {
        let proof: Vec<tree::Hash> = l.proof.iter().map(|p| b64(p)).collect();
        let leaf = b64(l.leaf_hash.as_deref().unwrap());
        assert!(tree::verify_inclusion(l.leaf.unwrap(), cp.size as u64, &leaf, &proof, &root), "line {l:?}");
        proved += 1;
    }
    assert!(proved >= expected.len(), "{proved} proofs for {} reads", expected.len());

    // The Ambito administrator: the same lines of its Ambito's trail, asked
    // through the API; the asking shows in the next report.
    let admin = entity::profile::Entity::find()
        .filter(entity::profile::Column::Role.eq(Role::AmbitoAdmin))
        .all(&app.db)
        .await
        .unwrap();
    let here = admin.iter().find(|p| p.ambito_id == Some(case.ambito_id)).unwrap();
    let elsewhere = admin.iter().find(|p| p.ambito_id != Some(case.ambito_id)).unwrap();
    let login = |p: &entity::profile::Model| {
        let p = p.clone();
        let app = &app;
        async move {
            let op = entity::operator::Entity::find_by_id(p.operator_id).one(&app.db).await.unwrap().unwrap();
            app.login(&op.fiscal_code, &ids::encode("Profile", p.id)).await
        }
    };
    let q =
        "mutation AccessReport($cf: String!) { exportPersonAccessReport(fiscalCode: $cf) { filename lines json csv } }";
    let r = app.gql(Some(&login(here).await), q, json!({ "cf": person.fiscal_code })).await;
    assert!(r.get("errors").is_none(), "{r}");
    let doc: Value = serde_json::from_str(r["data"]["exportPersonAccessReport"]["json"].as_str().unwrap()).unwrap();
    let via_api: BTreeSet<uuid::Uuid> =
        doc["lines"].as_array().unwrap().iter().map(|l| l["eventId"].as_str().unwrap().parse().unwrap()).collect();
    let in_ambito: BTreeSet<uuid::Uuid> = reads
        .iter()
        .filter(|e| expected.contains(&e.id) && e.ambito_id == Some(case.ambito_id))
        .map(|e| e.id)
        .collect();
    assert!(!in_ambito.is_empty() && in_ambito.is_subset(&via_api), "the administrator sees its Ambito's lines");
    let csv = r["data"]["exportPersonAccessReport"]["csv"].as_str().unwrap();
    assert_eq!(csv.lines().count(), via_api.len() + 1, "one CSV line per event, after the header");
    let asked = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(AuditAction::Export))
        .filter(audit_event::Column::EntityId.eq(m.as_str()))
        .all(&app.db)
        .await
        .unwrap();
    assert!(asked.iter().any(|e| e.operation.as_deref() == Some("AccessReport") && e.profile_id == Some(here.id)));
    // Another Ambito's administrator: as for a codice fiscale nobody has.
    let other = login(elsewhere).await;
    let r = app.gql(Some(&other), q, json!({ "cf": person.fiscal_code })).await;
    let unknown = app.gql(Some(&other), q, json!({ "cf": "ZZZZZZ00A00Z000Z" })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
    assert_eq!(r["errors"][0]["message"], unknown["errors"][0]["message"]);
    // A role that does not read the trail is refused, and nothing is recorded.
    let (cm, _, _) = app.login_role(Role::CaseManager, 0).await;
    let exports = app.count("audit_event WHERE action = 'export'").await;
    let r = app.gql(Some(&cm), q, json!({ "cf": person.fiscal_code })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    assert!(r["data"].is_null(), "{r}");
    assert_eq!(app.count("audit_event WHERE action = 'export'").await, exports);
}
