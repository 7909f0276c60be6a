//! Issue 11, point 4: a role's schema is the same however it is asked for. The
//! per-role schema is a property of the schema (async-graphql's `visible`), not a
//! rewrite of the response: aliases and fragments change nothing, and types,
//! fields, arguments, input fields and enum values are all covered. Callers
//! without a profile see only what logging in needs. One canonical rendering per
//! role is checked in under `tests/golden/introspection/`; regenerate with
//! `GEPI_UPDATE_GOLDEN=1 cargo test --test it introspection` and review the diff.

use std::collections::BTreeSet;

use entity::enums::Role;
use gepi::auth::api_key;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const FULL: &str = r#"query {
  __schema {
    queryType { name } mutationType { name }
    types {
      kind name
      fields { name args { name type { ...T } } type { ...T } }
      inputFields { name type { ...T } }
      enumValues { name }
      interfaces { name }
      possibleTypes { name }
    }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

/// The same question with every key aliased and the selections behind fragments.
const ALIASED: &str = r#"query {
  s: __schema {
    q: queryType { n: name } m: mutationType { n: name }
    t: types { ...Ty }
  }
}
fragment Ty on __Type {
  k: kind n: name
  f: fields { n: name a: args { n: name t: type { ...T } } t: type { ...T } }
  i: inputFields { n: name t: type { ...T } }
  e: enumValues { n: name }
  x: interfaces { n: name }
  p: possibleTypes { n: name }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;

fn ty(t: &Value, k: [&str; 3]) -> String {
    match t[k[0]].as_str() {
        Some("NON_NULL") => format!("{}!", ty(&t[k[2]], k)),
        Some("LIST") => format!("[{}]", ty(&t[k[2]], k)),
        _ => t[k[1]].as_str().unwrap_or("?").to_string(),
    }
}

/// A canonical text of an introspection answer; `k` names its keys (plain or aliased).
fn render(schema: &Value, k: &Keys) -> String {
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .map(|a| a.iter().map(|x| x[k.name].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        n.sort();
        n
    };
    let tk = ["kind", "name", "ofType"];
    let mut out = format!("query: {}\nmutation: {}\n", schema[k.query][k.name], schema[k.mutation][k.name]);
    let mut types: Vec<&Value> = schema[k.types].as_array().unwrap().iter().collect();
    types.sort_by_key(|t| t[k.name].as_str().unwrap().to_string());
    for t in types {
        let name = t[k.name].as_str().unwrap();
        if name.starts_with("__") {
            continue;
        }
        out += &format!("{} {name}", t[k.kind].as_str().unwrap());
        let ifaces = names(&t[k.interfaces]);
        if !ifaces.is_empty() {
            out += &format!(" implements {}", ifaces.join(" & "));
        }
        let possible = names(&t[k.possible]);
        if !possible.is_empty() {
            out += &format!(" = {}", possible.join(" | "));
        }
        out += "\n";
        let mut fields: Vec<String> = t[k.fields]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        let mut args: Vec<String> = f[k.args]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| format!("{}: {}", x[k.name].as_str().unwrap(), ty(&x[k.ty], tk)))
                            .collect();
                        args.sort();
                        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
                        format!("  {}{args}: {}", f[k.name].as_str().unwrap(), ty(&f[k.ty], tk))
                    })
                    .collect()
            })
            .unwrap_or_default();
        fields.extend(
            t[k.inputs]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|f| format!("  {}: {}", f[k.name].as_str().unwrap(), ty(&f[k.ty], tk)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
        fields.extend(names(&t[k.enums]).into_iter().map(|v| format!("  {v}")));
        fields.sort();
        for f in fields {
            out += &f;
            out += "\n";
        }
    }
    out
}

struct Keys {
    kind: &'static str,
    name: &'static str,
    ty: &'static str,
    query: &'static str,
    mutation: &'static str,
    types: &'static str,
    fields: &'static str,
    args: &'static str,
    inputs: &'static str,
    enums: &'static str,
    interfaces: &'static str,
    possible: &'static str,
}

const PLAIN: Keys = Keys {
    kind: "kind",
    name: "name",
    ty: "type",
    query: "queryType",
    mutation: "mutationType",
    types: "types",
    fields: "fields",
    args: "args",
    inputs: "inputFields",
    enums: "enumValues",
    interfaces: "interfaces",
    possible: "possibleTypes",
};
const SHORT: Keys = Keys {
    kind: "k",
    name: "n",
    ty: "t",
    query: "q",
    mutation: "m",
    types: "t",
    fields: "f",
    args: "a",
    inputs: "i",
    enums: "e",
    interfaces: "x",
    possible: "p",
};

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

async fn schema_of(app: &TestApp, token: Option<&str>, who: &str) -> String {
    let r = app.gql(token, FULL, json!({})).await;
    assert!(r["errors"].is_null(), "{who}: {r}");
    let plain = render(&r["data"]["__schema"], &PLAIN);
    let r = app.gql(token, ALIASED, json!({})).await;
    assert!(r["errors"].is_null(), "{who}: {r}");
    let aliased = render(&r["data"]["s"], &SHORT);
    assert_eq!(plain, aliased, "{who}: aliases and fragments change the schema shown");
    plain
}

/// Every type a shown field, argument, interface or member names is shown too.
fn closed(rendered: &str) -> Result<(), String> {
    let defined: BTreeSet<&str> =
        rendered.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split(' ').nth(1)).collect();
    for l in rendered.lines() {
        let refs: Vec<&str> = if let Some(f) = l.strip_prefix("  ") {
            f.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .skip(1)
                .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
                .collect()
        } else {
            l.split(['=', '|', '&'])
                .skip(1)
                .flat_map(|p| p.split_whitespace())
                .chain(l.split(" implements ").nth(1).into_iter().flat_map(|p| p.split(" & ")))
                .collect()
        };
        for r in refs {
            let r = r.trim();
            if !r.is_empty() && !defined.contains(r) && r.chars().any(char::is_lowercase) {
                return Err(format!("`{l}` names {r}, which is not shown"));
            }
        }
    }
    Ok(())
}

fn fields_of(rendered: &str, ty: &str) -> BTreeSet<String> {
    let mut lines =
        rendered.lines().skip_while(|l| *l != format!("OBJECT {ty}") && !l.starts_with(&format!("OBJECT {ty} ")));
    if lines.next().is_none() {
        return BTreeSet::new();
    }
    lines.take_while(|l| l.starts_with("  ")).map(|l| l.trim().split([':', '(']).next().unwrap().to_string()).collect()
}

#[tokio::test]
async fn each_role_sees_one_schema_however_it_asks_and_the_golden_files_hold() {
    let app = TestApp::seeded().await;
    let mut who: Vec<(String, Option<String>)> = vec![("anonymous".into(), None)];
    for role in ROLES {
        let (token, _, _) = app.login_role(*role, 0).await;
        who.push((role.as_str().to_string(), Some(token)));
    }
    for (name, role) in [("inps_feed", Role::InpsFeed), ("cpi_partner", Role::CpiPartner)] {
        who.push((name.to_string(), Some(api_key::create(&app.db, name, role, None).await.unwrap().key)));
    }
    who.push(("revoked_token".into(), Some("not-a-token".into())));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/introspection");
    let mut changed = Vec::new();
    for (name, token) in &who {
        let rendered = schema_of(&app, token.as_deref(), name).await;
        if let Err(e) = closed(&rendered) {
            panic!("{name}: the schema shown is not closed: {e}");
        }
        let path = format!("{dir}/{name}.txt");
        if std::env::var("GEPI_UPDATE_GOLDEN").is_ok() {
            std::fs::write(&path, &rendered).unwrap();
        }
        if std::fs::read_to_string(&path).unwrap_or_default() != rendered {
            changed.push(name.clone());
        }
        // What each kind of caller is shown, spot-checked against the policies.
        match name.as_str() {
            "anonymous" | "revoked_token" => {
                assert_eq!(fields_of(&rendered, "Query"), BTreeSet::from(["profileChoices".to_string()]), "{name}");
                assert_eq!(
                    fields_of(&rendered, "Mutation"),
                    BTreeSet::from(["logout".to_string(), "switchProfile".to_string()]),
                    "{name}"
                );
                assert!(!rendered.contains("OBJECT Case ") && !rendered.contains("OBJECT Member "), "{name}");
            }
            "analyst" => {
                assert!(fields_of(&rendered, "Case").is_empty(), "the analyst reads no case");
                assert!(!fields_of(&rendered, "Query").contains("cases"));
            }
            "pais_coordinator" => {
                let case = fields_of(&rendered, "Case");
                assert!(
                    case.contains("state") && !case.contains("preliminaryAnalysis") && !case.contains("pathwayType"),
                    "{case:?}"
                );
                assert!(fields_of(&rendered, "Mutation").contains("assignCases"));
                assert!(!fields_of(&rendered, "Mutation").contains("savePact"));
                assert!(!rendered.contains("INPUT_OBJECT SavePactInput"), "inputs of hidden mutations are hidden");
                assert!(
                    !rendered.contains("  pathwayType: PathwayType\n"),
                    "the CaseFilter of the coordinator has no pathwayType"
                );
            }
            "case_manager" => {
                assert!(fields_of(&rendered, "Case").contains("preliminaryAnalysis"));
                assert!(fields_of(&rendered, "Mutation").contains("savePact"));
                assert!(!fields_of(&rendered, "Mutation").contains("assignCases"));
            }
            _ => {}
        }
    }
    assert!(changed.is_empty(), "the introspection of {changed:?} changed; if intended, regenerate with GEPI_UPDATE_GOLDEN=1 and review the diff");
    // Without a profile, validation does not describe the hidden schema either:
    // anything beyond the login surface is refused before it.
    for q in [
        "mutation { assignCases }",
        "mutation { assignCases(input: {}) { id } }",
        "{ cases { edges { node { nope } } } }",
    ] {
        let r = app.gql(None, q, json!({})).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{q}: {r}");
        let text = r["errors"].to_string();
        assert!(
            !text.contains("AssignCasesInput") && !text.contains("is required") && !text.contains("Unknown"),
            "{q}: {text}"
        );
    }
    // The review's probe: the analyst asking for Case through aliases.
    let (analyst, _, _) = app.login_role(Role::Analyst, 0).await;
    let r = app.gql(Some(&analyst), r#"{ t: __type(name: "Case") { f: fields { n: name } } }"#, json!({})).await;
    assert!(r["data"]["t"].is_null(), "{r}");
}

#[tokio::test]
async fn unknown_fields_get_no_suggestions_outside_the_demo() {
    let app = TestApp::seeded().await;
    let (coordinator, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    for q in [
        "{ cases { edges { node { preliminaryAnalysi { id } } } } }",
        "{ cases { edges { node { pathwayTyp } } } }",
        "{ case { id } }",
    ] {
        let r = app.gql(Some(&coordinator), q, json!({})).await;
        let text = r["errors"].to_string();
        assert!(!r["errors"].is_null(), "{r}");
        assert!(
            !text.contains("Did you mean") && !text.contains("preliminaryAnalysis") && !text.contains("pathwayType"),
            "{text}"
        );
    }
    let demo = TestApp::with_config(|c| c.demo = true).await;
    gepi::seed::run(&demo.db, &gepi::seed::SeedOptions::demo(crate::helpers::seed_today())).await.unwrap();
    let (cm, _, _) = demo.login_role(Role::CaseManager, 0).await;
    let r = demo.gql(Some(&cm), "{ cases { edges { node { preliminaryAnalysi { id } } } } }", json!({})).await;
    assert!(r["errors"].to_string().contains("Did you mean"), "the demo keeps them: {r}");
}
