//! Property-based check of the whole read graph against an independent reference
//! model of the policies: principals and queries are generated (roots, aliases,
//! fragments, nesting to depth 3, pagination, filters, by-id and `node` lookups
//! of in- and out-of-scope ids, a mutation on any case), and every answer is compared with the rows the
//! policies allow, computed in plain Rust over the seeded data (not in SQL).
//! Sentinel values seeded into forbidden fields must appear nowhere in the JSON.

use std::collections::{HashMap, HashSet};

use entity::{enums::Role, *};
use gepi::{
    authz::{Action, FieldScope, Object, Policy, Scope},
    ids,
    principal::{Actor, Principal},
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{error_code, TestApp};

/// The seeded data, loaded once.
struct World {
    cases: Vec<case_file::Model>,
    households: Vec<household::Model>,
    members: Vec<member::Model>,
    meetings: Vec<meeting::Model>,
    projects: Vec<puc_project::Model>,
    assignments: Vec<puc_assignment::Model>,
    checks: Vec<residency_check::Model>,
    disadvantage: Vec<disadvantage_check::Model>,
    analyses: Vec<preliminary_analysis::Model>,
    transfers: Vec<case_transfer::Model>,
    referrals: Vec<case_referral::Model>,
}

/// One logged-in principal.
struct Who {
    token: String,
    principal: Principal,
    me: Uuid,
}

/// The types the reference model computes the rows of.
const MODELLED: &[&str] = &[
    "Case",
    "Household",
    "Member",
    "Meeting",
    "PucProject",
    "ResidencyCheck",
    "DisadvantageCheck",
    "CaseTransfer",
    "CaseReferral",
];

/// Governed types the reference model leaves out, each with the reason. A type
/// in neither list fails `every_governed_type_is_modelled`: adding a type means
/// modelling its row rule here (or saying why another test covers it).
const NOT_MODELLED: &[(&str, &str)] = &[
    ("Ambito", "territory, public to the roles that read it; row rules in policies/decisions.csv"),
    ("Comune", "territory, public to the roles that read it; row rules in policies/decisions.csv"),
    ("Convention", "accreditation: the operators workflow tests cover its Ambito rule"),
    ("Operator", "accreditation: the operators workflow tests cover its rules"),
    ("Profile", "accreditation: the operators workflow tests cover its rules"),
    ("Application", "hangs off a household (modelled); reached only through it or its case"),
    ("PreliminaryAnalysis", "hangs off a case (modelled); the health-note sentinels check its field rule"),
    ("AnalysisFramework", "hangs off a case (modelled)"),
    ("AnalysisTeamMember", "hangs off a framework of a case (modelled)"),
    ("Pact", "hangs off a case (modelled)"),
    ("PactObjective", "hangs off a pact of a case (modelled)"),
    ("PactExpectedResult", "hangs off a pact of a case (modelled)"),
    ("PactCommitment", "hangs off a pact of a case (modelled)"),
    ("Support", "hangs off a case (modelled)"),
    ("Report", "segnalazioni: the case workflow tests cover their Ambito rule"),
    ("PartnerEvent", "the partners' change feed: no operator role reads it; tests/it/partners.rs covers its audience and Ambito rules"),
    ("OfficeSlot", "the meeting tests cover its Comune rule"),
    ("PucAssignment", "hangs off a project (modelled) and a case (modelled)"),
    ("PucAttendance", "hangs off an assignment"),
    ("ResidencyPeriod", "hangs off a residency check (modelled)"),
    ("AuditEvent", "the audit tests cover its Ambito rule"),
];

#[test]
fn every_governed_type_is_modelled() {
    for o in gepi::authz::Object::ALL {
        let modelled = MODELLED.contains(&o.as_str());
        let named = NOT_MODELLED.iter().any(|(t, _)| *t == o.as_str());
        assert!(
            modelled != named,
            "{o}: model its row rule in `reference` (or, if another test covers it, say which in NOT_MODELLED)"
        );
    }
}

/// Rows of each type the policies allow `w` to see, computed without SQL.
struct Allowed {
    by_type: HashMap<&'static str, HashSet<Uuid>>,
}

fn scope(policy: &Policy, role: Role, o: Object) -> Option<Scope> {
    policy.grant(role, o, Action::Read)
}

fn reference(world: &World, policy: &Policy, who: &Who) -> Allowed {
    let p = &who.principal;
    let me = who.me;
    let amb = p.ambito_id;
    let comuni: HashSet<&str> = p.comuni.iter().map(|s| s.as_str()).collect();
    let role = p.role;
    let case_in = |c: &case_file::Model, s: Scope| match s {
        Scope::National => true,
        Scope::Ambito => Some(c.ambito_id) == amb,
        Scope::Comune => comuni.contains(c.comune_istat.as_str()),
        Scope::Own => c.case_manager_id == Some(me),
        Scope::Unassigned => Some(c.ambito_id) == amb && c.case_manager_id.is_none(),
    };
    let mut by_type: HashMap<&'static str, HashSet<Uuid>> = HashMap::new();
    let cases: HashSet<Uuid> = match scope(policy, role, Object::Case) {
        Some(s) => world.cases.iter().filter(|c| case_in(c, s)).map(|c| c.id).collect(),
        None => HashSet::new(),
    };
    by_type.insert("Case", cases);
    let households: HashSet<Uuid> = match scope(policy, role, Object::Household) {
        Some(s @ (Scope::Own | Scope::Unassigned)) => {
            world.cases.iter().filter(|c| case_in(c, s)).map(|c| c.household_id).collect()
        }
        Some(s) => world
            .households
            .iter()
            .filter(|h| match s {
                Scope::National => true,
                Scope::Ambito => Some(h.ambito_id) == amb,
                _ => comuni.contains(h.comune_istat.as_str()),
            })
            .map(|h| h.id)
            .collect(),
        None => HashSet::new(),
    };
    let members: HashSet<Uuid> = match scope(policy, role, Object::Member) {
        None => HashSet::new(),
        Some(s) => match role {
            Role::RegistryCheckCoordinator | Role::RegistryCheckOfficer => world
                .checks
                .iter()
                .filter(|c| match s {
                    Scope::Own => c.officer_id == Some(me),
                    Scope::Comune => comuni.contains(c.current_comune_istat.as_str()),
                    Scope::Ambito => Some(c.ambito_id) == amb,
                    Scope::National => true,
                    Scope::Unassigned => false,
                })
                .map(|c| c.member_id)
                .collect(),
            Role::PucManager => {
                let projects: HashSet<Uuid> = world
                    .projects
                    .iter()
                    .filter(|p| match s {
                        Scope::Own => p.manager_id == Some(me),
                        Scope::Comune => comuni.contains(p.comune_istat.as_str()),
                        Scope::Ambito => Some(p.ambito_id) == amb,
                        Scope::National => true,
                        Scope::Unassigned => false,
                    })
                    .map(|p| p.id)
                    .collect();
                world.assignments.iter().filter(|a| projects.contains(&a.project_id)).map(|a| a.member_id).collect()
            }
            Role::DisadvantageValidator => world
                .disadvantage
                .iter()
                .filter(|d| match s {
                    Scope::Comune | Scope::Own => comuni.contains(d.certifying_comune_istat.as_str()),
                    Scope::Ambito => Some(d.ambito_id) == amb,
                    Scope::National => true,
                    Scope::Unassigned => false,
                })
                .map(|d| d.member_id)
                .collect(),
            _ => {
                let hh: HashSet<Uuid> = match s {
                    Scope::Own | Scope::Unassigned => {
                        world.cases.iter().filter(|c| case_in(c, s)).map(|c| c.household_id).collect()
                    }
                    Scope::National => world.households.iter().map(|h| h.id).collect(),
                    Scope::Ambito => {
                        world.households.iter().filter(|h| Some(h.ambito_id) == amb).map(|h| h.id).collect()
                    }
                    Scope::Comune => world
                        .households
                        .iter()
                        .filter(|h| comuni.contains(h.comune_istat.as_str()))
                        .map(|h| h.id)
                        .collect(),
                };
                world.members.iter().filter(|m| hh.contains(&m.household_id)).map(|m| m.id).collect()
            }
        },
    };
    let own_cases: HashSet<Uuid> = world.cases.iter().filter(|c| c.case_manager_id == Some(me)).map(|c| c.id).collect();
    let meetings: HashSet<Uuid> = match scope(policy, role, Object::Meeting) {
        Some(s) => world
            .meetings
            .iter()
            .filter(|m| match s {
                Scope::National => true,
                Scope::Ambito => Some(m.ambito_id) == amb,
                Scope::Comune => comuni.contains(m.comune_istat.as_str()),
                Scope::Own => {
                    (m.case_id.is_none() && m.operator_id == Some(me))
                        || m.case_id.is_some_and(|c| own_cases.contains(&c))
                }
                Scope::Unassigned => {
                    m.case_id.is_some_and(|c| world.cases.iter().any(|x| x.id == c && case_in(x, Scope::Unassigned)))
                }
            })
            .map(|m| m.id)
            .collect(),
        None => HashSet::new(),
    };
    let projects: HashSet<Uuid> = match scope(policy, role, Object::PucProject) {
        Some(s) => world
            .projects
            .iter()
            .filter(|p| match s {
                Scope::National => true,
                Scope::Ambito => Some(p.ambito_id) == amb,
                Scope::Comune => comuni.contains(p.comune_istat.as_str()),
                Scope::Own => p.manager_id == Some(me),
                Scope::Unassigned => false,
            })
            .map(|p| p.id)
            .collect(),
        None => HashSet::new(),
    };
    let checks: HashSet<Uuid> = match scope(policy, role, Object::ResidencyCheck) {
        Some(s) => world
            .checks
            .iter()
            .filter(|c| match s {
                Scope::National => true,
                Scope::Ambito => Some(c.ambito_id) == amb,
                Scope::Comune => comuni.contains(c.current_comune_istat.as_str()),
                Scope::Own => c.officer_id == Some(me),
                Scope::Unassigned => false,
            })
            .map(|c| c.id)
            .collect(),
        None => HashSet::new(),
    };
    let disadvantage: HashSet<Uuid> = match scope(policy, role, Object::DisadvantageCheck) {
        Some(s) => world
            .disadvantage
            .iter()
            .filter(|d| match s {
                Scope::National => true,
                Scope::Ambito => Some(d.ambito_id) == amb,
                Scope::Comune => comuni.contains(d.certifying_comune_istat.as_str()),
                Scope::Own => d.decided_by == Some(me),
                Scope::Unassigned => false,
            })
            .map(|d| d.id)
            .collect(),
        None => HashSet::new(),
    };
    by_type.insert("Household", households);
    by_type.insert("Member", members);
    by_type.insert("Meeting", meetings);
    by_type.insert("PucProject", projects);
    by_type.insert("ResidencyCheck", checks);
    by_type.insert("DisadvantageCheck", disadvantage);
    // A transfer belongs to the Ambito (and Comune) it leaves and the one it goes to.
    let transfers: HashSet<Uuid> = match scope(policy, role, Object::CaseTransfer) {
        Some(s) => world
            .transfers
            .iter()
            .filter(|t| match s {
                Scope::National => true,
                Scope::Ambito => Some(t.from_ambito_id) == amb || Some(t.to_ambito_id) == amb,
                Scope::Comune => {
                    comuni.contains(t.from_comune_istat.as_str()) || comuni.contains(t.to_comune_istat.as_str())
                }
                Scope::Own | Scope::Unassigned => false,
            })
            .map(|t| t.id)
            .collect(),
        None => HashSet::new(),
    };
    by_type.insert("CaseTransfer", transfers);
    // A referral stays with its case: the case's scope (a CPI's key is not among these principals).
    let referrals: HashSet<Uuid> = match scope(policy, role, Object::CaseReferral) {
        Some(s) => world
            .referrals
            .iter()
            .filter(|r| match s {
                Scope::National => true,
                Scope::Ambito => Some(r.ambito_id) == amb,
                Scope::Comune => Some(r.ambito_id) == amb && comuni.contains(r.comune_istat.as_str()),
                Scope::Own | Scope::Unassigned => world.cases.iter().any(|c| c.id == r.case_id && case_in(c, s)),
            })
            .map(|r| r.id)
            .collect(),
        None => HashSet::new(),
    };
    by_type.insert("CaseReferral", referrals);
    let mut keys: Vec<&str> = by_type.keys().copied().collect();
    keys.sort_unstable();
    let mut listed = MODELLED.to_vec();
    listed.sort_unstable();
    assert_eq!(keys, listed, "MODELLED names the types `reference` computes");
    Allowed { by_type }
}

/// Roots, their node type, and nested selections (relations to depth 3).
const ROOTS: &[(&str, &str, &[&str])] = &[
    (
        "cases",
        "Case",
        &[
            "household { __typename id members { __typename id fiscalCode phone } }",
            "meetings { __typename id household { __typename id } }",
            "preliminaryAnalysis { id healthNotes }",
            "pacts { id commitments { id obligatedMember { __typename id fiscalCode } } }",
            "household { __typename id cases { __typename id household { __typename id } } }",
        ],
    ),
    (
        "households",
        "Household",
        &[
            "members { __typename id fiscalCode cases { __typename id } }",
            "cases { __typename id meetings { __typename id } preliminaryAnalysis { healthNotes } }",
        ],
    ),
    (
        "meetings",
        "Meeting",
        &[
            "case { __typename id household { __typename id } }",
            "household { __typename id members { __typename id fiscalCode } }",
        ],
    ),
    (
        "pucProjects",
        "PucProject",
        &["assignments { id member { __typename id fiscalCode household { __typename id } } }"],
    ),
    (
        "residencyChecks",
        "ResidencyCheck",
        &["member { __typename id fiscalCode household { __typename id } }", "periods { id comune { name } }"],
    ),
    ("disadvantageChecks", "DisadvantageCheck", &["member { __typename id fiscalCode cases { __typename id } }"]),
    (
        "caseTransfers",
        "CaseTransfer",
        &[
            "case { __typename id household { __typename id members { __typename id fiscalCode } } }",
            "householdSize caseState toComune { name }",
        ],
    ),
    (
        "caseReferrals",
        "CaseReferral",
        &["case { __typename id household { __typename id } }", "member { __typename id fiscalCode }", "reason state"],
    ),
];

/// Every (type, uuid) of an object with `__typename` and `id` in the JSON.
fn objects(v: &Value, out: &mut Vec<(String, Uuid)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(t)), Some(Value::String(id))) = (m.get("__typename"), m.get("id")) {
                if let Ok((_, key)) = ids::decode("id", id) {
                    if let Ok(u) = Uuid::parse_str(&key) {
                        out.push((t.clone(), u));
                    }
                }
            }
            m.values().for_each(|x| objects(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| objects(x, out)),
        _ => {}
    }
}

#[derive(Debug, Clone)]
struct Case {
    who: usize,
    root: usize,
    nested: Vec<usize>,
    first: Option<i32>,
    paginate: bool,
    alias: bool,
    fragment: bool,
    probe: usize,
}

fn strategy(principals: usize) -> impl Strategy<Value = Case> {
    (
        0..principals,
        0..ROOTS.len(),
        proptest::collection::vec(0usize..8, 0..3),
        proptest::option::of(1i32..40),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..100_000,
    )
        .prop_map(|(who, root, nested, first, paginate, alias, fragment, probe)| Case {
            who,
            root,
            nested,
            first,
            paginate,
            alias,
            fragment,
            probe,
        })
}

async fn check(app: &TestApp, world: &World, who: &Who, allowed: &Allowed, forbidden: &[String], c: &Case) {
    let (root, ty, rels) = ROOTS[c.root];
    let mut sel: Vec<&str> = c.nested.iter().map(|i| rels[i % rels.len()]).collect();
    sel.dedup();
    let body = format!("__typename id {}", sel.join(" "));
    let node = if c.fragment { "...F".to_string() } else { body.clone() };
    let frag = if c.fragment { format!("fragment F on {ty} {{ {body} }}") } else { String::new() };
    let name = if c.alias { "x" } else { root };
    let field = if c.alias { format!("x: {root}") } else { root.to_string() };
    let expected = &allowed.by_type[ty];
    let mut after: Option<String> = None;
    let mut seen: HashSet<Uuid> = HashSet::new();
    // A page before the last holds at least one row: one round per allowed row
    // and one more reach the end at any page size (a fixed number of rounds
    // ended a page size of 1 over 300 cases early).
    let mut ended = false;
    for _round in 0..expected.len() + 2 {
        let q = format!(
            "query($first: Int, $after: String) {{ {field}(first: $first, after: $after) {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {node} }} }} }} }} {frag}"
        );
        let r = app.gql(Some(&who.token), &q, json!({ "first": c.first, "after": after })).await;
        let text = r.to_string();
        for f in forbidden {
            assert!(!text.contains(f.as_str()), "forbidden value {f} in the answer to {q}");
        }
        if !r["errors"].is_null() {
            // Only a role that cannot read the root type is refused, with FORBIDDEN.
            assert!(expected.is_empty(), "{q}: {r}");
            assert_eq!(error_code(&r), Some("FORBIDDEN"), "{q}: {r}");
            return;
        }
        let conn = &r["data"][name];
        assert_eq!(conn["totalCount"].as_u64().unwrap() as usize, expected.len(), "totalCount of {root}");
        let mut objs = Vec::new();
        objects(conn, &mut objs);
        for (t, id) in &objs {
            if let Some(set) = allowed.by_type.get(t.as_str()) {
                assert!(set.contains(id), "{t} {id} is out of scope but was returned for {q}");
            }
        }
        for e in conn["edges"].as_array().unwrap() {
            let (_, key) = ids::decode("id", e["node"]["id"].as_str().unwrap()).unwrap();
            assert!(seen.insert(Uuid::parse_str(&key).unwrap()), "a row came twice");
        }
        if !c.paginate || conn["pageInfo"]["hasNextPage"] != true {
            ended = true;
            break;
        }
        after = conn["pageInfo"]["endCursor"].as_str().map(String::from);
    }
    assert!(ended, "paging through {root} by {:?} never reached a last page", c.first);
    assert!(seen.is_subset(expected));
    if c.paginate {
        assert_eq!(&seen, expected, "paging through {root} returns exactly the allowed rows");
    }
    // A mutation on any case: refused unless the policies allow it on that case,
    // and what it returns goes through the same authorization as reads.
    let target = &world.cases[c.probe % world.cases.len()];
    let m = "mutation($i: RaiseReportInput!) { raiseReport(input: $i) { __typename id state case { __typename id household { __typename id members { __typename id fiscalCode } } } } }";
    let r = app
        .gql(Some(&who.token), m, json!({ "i": { "caseId": ids::encode("Case", target.id), "kind": "ALTRO_FATTO_SANZIONABILE", "factDate": target.pad_date, "description": "p", "draft": true } }))
        .await;
    let text = r.to_string();
    for f in forbidden {
        assert!(!text.contains(f.as_str()), "forbidden value {f} in a mutation's answer");
    }
    let may_raise = who.principal.role == Role::CaseManager && target.case_manager_id == Some(who.me);
    if r["errors"].is_null() {
        assert!(may_raise, "raiseReport accepted for {:?}: {r}", who.principal.role);
        let mut objs = Vec::new();
        objects(&r["data"], &mut objs);
        for (t, id) in &objs {
            if let Some(set) = allowed.by_type.get(t.as_str()) {
                assert!(set.contains(id), "{t} {id} returned by a mutation is out of scope");
            }
        }
    } else {
        let code = error_code(&r);
        if may_raise {
            assert_eq!(code, Some("CONFLICT"), "{r}");
        } else {
            assert!(matches!(code, Some("FORBIDDEN") | Some("NOT_FOUND")), "{r}");
        }
    }

    // Mutations of the other workflows, on any row: allowed exactly where the
    // policies put the row in the principal's scope for the action.
    if !world.disadvantage.is_empty() {
        let d = &world.disadvantage[c.probe % world.disadvantage.len()];
        let r = app
            .gql(Some(&who.token), "mutation($i: DecideDisadvantageCheckInput!) { decideDisadvantageCheck(input: $i) { __typename id member { __typename id fiscalCode } } }",
                json!({ "i": { "checkId": ids::encode("DisadvantageCheck", d.id), "version": 999, "confirmed": true } }))
            .await;
        let may = who.principal.role == Role::DisadvantageValidator
            && who.principal.comuni.contains(&d.certifying_comune_istat);
        let code = error_code(&r);
        if may {
            assert_eq!(code, Some("CONFLICT"), "a stale version on an allowed row: {r}");
        } else {
            assert!(
                matches!(code, Some("FORBIDDEN") | Some("NOT_FOUND")),
                "decideDisadvantageCheck for {:?}: {r}",
                who.principal.role
            );
        }
    }
    let target = &world.cases[(c.probe / 7) % world.cases.len()];
    let when = chrono::Utc::now() + chrono::Duration::days(400);
    let r = app
        .gql(Some(&who.token), "mutation($i: PlanMeetingInput!) { planMeeting(input: $i) { __typename id case { __typename id household { __typename id } } household { __typename id members { __typename id fiscalCode } } } }",
            json!({ "i": { "caseId": ids::encode("Case", target.id), "kind": "CONVOCAZIONE", "startsAt": when, "place": "p" } }))
        .await;
    let may = match who.principal.role {
        Role::CaseManager => target.case_manager_id == Some(who.me),
        Role::MeetingRegistrar => who.principal.comuni.contains(&target.comune_istat),
        _ => false,
    };
    let code = error_code(&r);
    if may {
        // More than a year ahead is refused as bad input, or the case's state refuses it.
        assert!(matches!(code, Some("VALIDATION") | Some("CONFLICT")), "{r}");
    } else {
        assert!(matches!(code, Some("FORBIDDEN") | Some("NOT_FOUND")), "planMeeting for {:?}: {r}", who.principal.role);
    }

    // By id and through node: any id of the data set, in scope or not.
    let all: Vec<Uuid> = match ty {
        "Case" => world.cases.iter().map(|x| x.id).collect(),
        "Household" => world.households.iter().map(|x| x.id).collect(),
        "Meeting" => world.meetings.iter().map(|x| x.id).collect(),
        "PucProject" => world.projects.iter().map(|x| x.id).collect(),
        "ResidencyCheck" => world.checks.iter().map(|x| x.id).collect(),
        "CaseTransfer" => world.transfers.iter().map(|x| x.id).collect(),
        "CaseReferral" => world.referrals.iter().map(|x| x.id).collect(),
        _ => world.disadvantage.iter().map(|x| x.id).collect(),
    };
    if all.is_empty() {
        return;
    }
    let id = all[c.probe % all.len()];
    let gid = ids::encode(ty, id);
    let r =
        app.gql(Some(&who.token), "query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": gid })).await;
    if expected.contains(&id) {
        assert_eq!(r["data"]["node"]["id"], gid, "{r}");
    } else if allowed.by_type[ty].is_empty() && error_code(&r) == Some("FORBIDDEN") {
        // The role may not read the type at all.
    } else {
        assert_eq!(error_code(&r), Some("NOT_FOUND"), "{ty} {id} out of scope: {r}");
        assert_eq!(r["data"], json!({ "node": null }), "{r}");
    }
}

#[test]
fn the_graph_answers_as_the_reference_model_of_the_policies() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = rt.block_on(TestApp::seeded());
    // Sentinels: every health note becomes a unique marker.
    rt.block_on(async {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
        for a in preliminary_analysis::Entity::find().all(&app.db).await.unwrap() {
            let id = a.id;
            let mut am = a.into_active_model();
            am.health_notes = Set(Some(format!("SENTINEL-HN-{id}")));
            am.update(&app.db).await.unwrap();
        }
    });
    let world = rt.block_on(async {
        World {
            cases: case_file::Entity::find().all(&app.db).await.unwrap(),
            households: household::Entity::find().all(&app.db).await.unwrap(),
            members: member::Entity::find().all(&app.db).await.unwrap(),
            meetings: meeting::Entity::find().all(&app.db).await.unwrap(),
            projects: puc_project::Entity::find().all(&app.db).await.unwrap(),
            assignments: puc_assignment::Entity::find().all(&app.db).await.unwrap(),
            checks: residency_check::Entity::find().all(&app.db).await.unwrap(),
            disadvantage: disadvantage_check::Entity::find().all(&app.db).await.unwrap(),
            analyses: preliminary_analysis::Entity::find().all(&app.db).await.unwrap(),
            transfers: case_transfer::Entity::find().all(&app.db).await.unwrap(),
            referrals: case_referral::Entity::find().all(&app.db).await.unwrap(),
        }
    });
    let profiles = rt.block_on(profile::Entity::find().all(&app.db)).unwrap();
    let policy = app.state.policy.clone();
    let mut whos = Vec::new();
    for p in &profiles {
        let op = rt.block_on(operator::Entity::find_by_id(p.operator_id).one(&app.db)).unwrap().unwrap();
        let token = rt.block_on(app.login(&op.fiscal_code, &ids::encode("Profile", p.id)));
        let comuni = rt.block_on(async {
            use sea_orm::{ColumnTrait, QueryFilter};
            profile_comune::Entity::find()
                .filter(profile_comune::Column::ProfileId.eq(p.id))
                .all(&app.db)
                .await
                .unwrap()
        });
        whos.push(Who {
            token,
            me: op.id,
            principal: Principal {
                actor: Actor::Operator { operator_id: op.id, profile_id: p.id, session_id: Uuid::nil() },
                role: p.role,
                ambito_id: p.ambito_id,
                comuni: std::sync::Arc::new(comuni.into_iter().map(|l| l.comune_istat).collect()),
                terms: None,
            },
        });
    }
    let allowed: Vec<Allowed> = whos.iter().map(|w| reference(&world, &policy, w)).collect();
    // Values each principal must never receive: health notes unless it may read
    // them on that case, codici fiscali of members it may not see.
    let forbidden: Vec<Vec<String>> = whos
        .iter()
        .zip(&allowed)
        .map(|(w, a)| {
            let role = w.principal.role;
            let notes_ok =
                policy.field(role, "PreliminaryAnalysis.healthNotes").is_some_and(|d| d.scope == Some(FieldScope::Any))
                    && policy.field(role, "Case.preliminaryAnalysis").is_some_and(|d| d.scope.is_some());
            let cf_ok = policy.field(role, "Member.fiscalCode").is_some_and(|d| d.scope.is_some());
            let mut v: Vec<String> = world
                .analyses
                .iter()
                .filter(|x| !(notes_ok && a.by_type["Case"].contains(&x.case_id)))
                .filter_map(|x| x.health_notes.clone())
                .filter(|n| n.starts_with("SENTINEL"))
                .collect();
            v.extend(
                world
                    .members
                    .iter()
                    .filter(|m| !(cf_ok && a.by_type["Member"].contains(&m.id)))
                    .map(|m| m.fiscal_code.clone()),
            );
            v
        })
        .collect();
    // Tables of counts: a role counting exactly counts the rows the reference
    // model gives it, no more and no fewer; the analyst is never given an exact count.
    for (w, a) in whos.iter().zip(&allowed) {
        for m in policy.stats.measures(w.principal.role) {
            let ty = m.object().as_str();
            let grant = policy.stats.grant(w.principal.role, m).unwrap();
            let q = format!(
                "{{ stats(measure: {}, by: []) {{ method cells {{ value flag }} }} }}",
                m.as_str().to_uppercase()
            );
            let r = rt.block_on(app.gql(Some(&w.token), &q, json!({})));
            assert!(r["errors"].is_null(), "{q} as {}: {r}", w.principal.role.as_str());
            let cell = &r["data"]["stats"]["cells"][0];
            match grant.method {
                gepi::authz::vocab::Method::Exact => {
                    let Some(rows) = a.by_type.get(ty) else { continue };
                    assert_eq!(cell["flag"], "EXACT");
                    assert_eq!(cell["value"].as_u64(), Some(rows.len() as u64), "{q} as {}", w.principal.role.as_str());
                }
                gepi::authz::vocab::Method::CellKey => assert_ne!(cell["flag"], "EXACT", "{q}"),
            }
        }
    }
    let _ = rt.block_on(app.db.ping());
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    runner
        .run(&strategy(whos.len()), |c| {
            rt.block_on(check(&app, &world, &whos[c.who], &allowed[c.who], &forbidden[c.who], &c));
            Ok(())
        })
        .unwrap();
}
