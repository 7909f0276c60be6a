//! The role × type × field matrix: for every role and every field of the
//! governed types, what the policies decide and what a query actually returns on
//! the seeded data (a value, null with a redaction, or no row reached). The
//! matrix is checked in at `tests/golden/field_matrix.tsv`; regenerate it with
//! `GEPI_UPDATE_GOLDEN=1 cargo test --test it matrix` and review the diff.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
use entity::enums::Role;
use gepi::authz::FieldScope;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Where each governed type is reached from: a root list and a path of relations.
pub(crate) const PROBES: &[(&str, &[&str], &str)] = &[
    ("ambiti", &[], "Ambito"),
    ("conventions", &[], "Convention"),
    ("operators", &[], "Operator"),
    ("operators", &["profiles"], "Profile"),
    ("households", &[], "Household"),
    ("households", &["members"], "Member"),
    ("households", &["applications"], "Application"),
    ("cases", &[], "Case"),
    ("cases", &["household", "members"], "Member"),
    ("cases", &["preliminaryAnalysis"], "PreliminaryAnalysis"),
    ("cases", &["analysisFramework"], "AnalysisFramework"),
    ("cases", &["analysisFramework", "team"], "AnalysisTeamMember"),
    ("cases", &["pacts"], "Pact"),
    ("cases", &["pacts", "objectives"], "PactObjective"),
    ("cases", &["pacts", "expectedResults"], "PactExpectedResult"),
    ("cases", &["pacts", "commitments"], "PactCommitment"),
    ("cases", &["supports"], "Support"),
    ("cases", &["application"], "Application"),
    ("reports", &[], "Report"),
    ("meetings", &[], "Meeting"),
    ("pucProjects", &[], "PucProject"),
    ("pucProjects", &["assignments"], "PucAssignment"),
    ("pucProjects", &["assignments", "attendance"], "PucAttendance"),
    ("pucProjects", &["assignments", "member"], "Member"),
    ("residencyChecks", &[], "ResidencyCheck"),
    ("residencyChecks", &["periods"], "ResidencyPeriod"),
    ("residencyChecks", &["member"], "Member"),
    ("disadvantageChecks", &[], "DisadvantageCheck"),
    ("disadvantageChecks", &["member"], "Member"),
    ("auditEvents", &[], "AuditEvent"),
    ("partnerEvents", &[], "PartnerEvent"),
    ("caseTransfers", &[], "CaseTransfer"),
    ("caseReferrals", &[], "CaseReferral"),
];

/// Governed types no probe above reaches, each with the reason. A governed type
/// in neither list fails `every_governed_type_is_probed`: adding a type means
/// adding its probe (or saying here why the matrix cannot reach it).
const NOT_PROBED: &[(&str, &str)] = &[
    ("Comune", "`comuni` is a plain list, not a connection; its fields are all public (see fields.csv)"),
    ("OfficeSlot", "reached only through `calendar`, which takes a date range; its fields are all public"),
];

#[test]
fn every_governed_type_is_probed() {
    for o in gepi::authz::Object::ALL {
        let probed = PROBES.iter().any(|(_, _, t)| *t == o.as_str());
        let named = NOT_PROBED.iter().any(|(t, _)| *t == o.as_str());
        assert!(probed != named, "{o}: add a probe to PROBES (or, if none can reach it, say why in NOT_PROBED)");
    }
}

const ROLES: &[Role] = &[
    Role::MinistryAdmin,
    Role::AmbitoAdmin,
    Role::PaisCoordinator,
    Role::CaseManager,
    Role::RegistryCheckCoordinator,
    Role::RegistryCheckOfficer,
    Role::PucManager,
    Role::SupportActivationOfficer,
    Role::MeetingRegistrar,
    Role::DisadvantageValidator,
    Role::Analyst,
];

/// Leaf (scalar and enum) fields of every object type of the schema.
pub(crate) fn leaf_fields() -> BTreeMap<String, Vec<String>> {
    let doc = async_graphql::parser::parse_schema(gepi::schema::sdl()).unwrap();
    let mut objects = HashSet::new();
    for d in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = d {
            if matches!(t.node.kind, TypeKind::Object(_) | TypeKind::Interface(_)) {
                objects.insert(t.node.name.node.to_string());
            }
        }
    }
    let base = |mut ty: &async_graphql::parser::types::Type| loop {
        match &ty.base {
            BaseType::Named(n) => return n.to_string(),
            BaseType::List(inner) => ty = inner,
        }
    };
    let mut out = BTreeMap::new();
    for d in &doc.definitions {
        if let TypeSystemDefinition::Type(t) = d {
            if let TypeKind::Object(o) = &t.node.kind {
                let leaves = o
                    .fields
                    .iter()
                    .filter(|f| !objects.contains(&base(&f.node.ty.node)))
                    .map(|f| f.node.name.node.to_string())
                    .collect();
                out.insert(t.node.name.node.to_string(), leaves);
            }
        }
    }
    out
}

fn selection(path: &[&str], leaves: &[String]) -> String {
    match path.split_first() {
        None => leaves.join(" "),
        Some((rel, rest)) => format!("id {rel} {{ {} }}", selection(rest, leaves)),
    }
}

/// Every object reached at the end of `path` from `v`, with its JSON path.
fn reached<'a>(v: &'a Value, prefix: Vec<String>, path: &[&str], out: &mut Vec<(Vec<String>, &'a Value)>) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(i.to_string());
                reached(item, p, path, out);
            }
        }
        Value::Object(_) => match path.split_first() {
            None => out.push((prefix, v)),
            Some((rel, rest)) => {
                let mut p = prefix;
                p.push(rel.to_string());
                reached(&v[*rel], p, rest, out);
            }
        },
        _ => {}
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Absent,
    Null,
    Value,
    Redacted,
}

#[tokio::test]
async fn the_field_matrix_matches_the_policies_and_the_golden_file() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let app = TestApp::seeded_with(gepi::seed::SeedOptions {
        ambiti: 2,
        households: 300,
        seed: 2026,
        today,
        progress: false,
    })
    .await;
    let leaves = leaf_fields();
    let policy = &app.state.policy;
    let mut observed: BTreeMap<(String, String), BTreeSet<Seen>> = BTreeMap::new();
    let mut cells = 0usize;
    for role in ROLES {
        let (token, _, _) = app.login_role(*role, 0).await;
        for (root, path, ty) in PROBES {
            let fields = &leaves[*ty];
            let q = format!("{{ {root}(first: 20) {{ edges {{ node {{ {} }} }} }} }}", selection(path, fields));
            let r = app.gql(Some(&token), &q, json!({})).await;
            let redactions: HashSet<String> = r["extensions"]["redactions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            x["path"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|s| s.as_str().unwrap())
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut objects = Vec::new();
            if r["errors"].is_null() {
                reached(
                    &r["data"][*root]["edges"],
                    vec![root.to_string(), "edges".into()],
                    &[&["node"], *path].concat(),
                    &mut objects,
                );
            }
            for f in fields {
                let key = (role.as_str(), format!("{ty}.{f}"));
                let entry = observed.entry(key.clone()).or_default();
                if objects.is_empty() {
                    entry.insert(Seen::Absent);
                }
                for (p, obj) in &objects {
                    let at = format!("{}.{f}", p.join("."));
                    let seen = if redactions.contains(&at) {
                        assert!(obj[f].is_null(), "redacted but present: {at}");
                        Seen::Redacted
                    } else if obj[f].is_null() {
                        Seen::Null
                    } else {
                        Seen::Value
                    };
                    entry.insert(seen);
                    cells += 1;
                    // What the policies say must be what happened.
                    let decision = policy.field(*role, &key.1).map(|d| d.scope).unwrap_or(Some(FieldScope::Any));
                    match decision {
                        None => assert_eq!(seen, Seen::Redacted, "{} read {} at {at}", key.0, key.1),
                        Some(FieldScope::Any) => {
                            assert_ne!(seen, Seen::Redacted, "{} redacted {} at {at}", key.0, key.1)
                        }
                        Some(FieldScope::Own) => {}
                    }
                }
            }
        }
    }
    // Render: one line per role and field.
    let mut out = String::from("# role\tfield\tclass\tpolicy\tobserved on the seeded data (seed 2026, 2026-06-01)\n");
    for ((role, field), seen) in &observed {
        let r = gepi::authz::vocab::parse_role(role).unwrap();
        let d = policy.field(r, field);
        let class = d.map_or("-".to_string(), |d| d.class.to_string());
        let decision = match d.map(|d| d.scope) {
            Some(Some(s)) => s.to_string(),
            Some(None) => "deny".to_string(),
            None => "any".to_string(),
        };
        let seen: Vec<&str> = seen
            .iter()
            .filter(|s| **s != Seen::Absent || seen.len() == 1)
            .map(|s| match s {
                Seen::Absent => "row absent",
                Seen::Null => "null",
                Seen::Value => "value",
                Seen::Redacted => "null+redacted",
            })
            .collect();
        out += &format!("{role}\t{field}\t{class}\t{decision}\t{}\n", seen.join(", "));
    }
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/field_matrix.tsv");
    if std::env::var("GEPI_UPDATE_GOLDEN").is_ok() {
        std::fs::write(golden, &out).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    // (9,070 since the Referente sees only the cases not yet assigned.)
    assert!(cells > 9_000, "only {cells} cells checked");
    assert!(
        expected == out,
        "the field matrix changed ({} role x field rows, {cells} cells checked); if intended, regenerate with \
         GEPI_UPDATE_GOLDEN=1 cargo test --test it matrix and review the diff",
        observed.len()
    );
}

/// The embedded policies load against the real schema and pass their decision
/// tests; an explicit deny wins over a class grant.
#[tokio::test]
async fn the_real_policies_load_and_pass_their_decision_tests() {
    use gepi::authz::policy::{check_decisions, Policy, Source, DECISIONS_FILE};
    let policy = Policy::load(&gepi::schema::sdl(), gepi::api::views::OWN_ROW_TYPES).await.expect("policies load");
    let n = check_decisions(&policy, DECISIONS_FILE).unwrap_or_else(|f| panic!("{}", f.join("\n")));
    assert!(n >= 50, "{n} decision tests");
    let d = policy.field(Role::PaisCoordinator, "Case.household").unwrap();
    assert_eq!(d.scope, None);
    assert!(matches!(&d.source, Source::Line { file, .. } if file == "cases.csv"));
}
