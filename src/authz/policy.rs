//! Loading and compiling the policies of `policies/`.
//!
//! The files are parsed here (keeping file and line for `gepi policy explain`),
//! checked against the closed vocabulary and against the schema's own list of
//! fields, evaluated once through casbin for every (role, object, action) so that
//! the model's effect rules decide, and compiled into lookup tables. A request
//! then costs hash lookups, never a casbin scan.

use std::collections::{BTreeMap, HashMap};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use entity::enums::Role;

use super::vocab::*;

/// The policy files, embedded at build time so that the binary carries exactly
/// the policies its tests were run against.
pub const MODEL: &str = include_str!("../../policies/model.conf");
pub const POLICY_FILES: &[(&str, &str)] = &[
    ("territory.csv", include_str!("../../policies/territory.csv")),
    ("operators.csv", include_str!("../../policies/operators.csv")),
    ("households.csv", include_str!("../../policies/households.csv")),
    ("cases.csv", include_str!("../../policies/cases.csv")),
    ("meetings.csv", include_str!("../../policies/meetings.csv")),
    ("puc.csv", include_str!("../../policies/puc.csv")),
    ("residency.csv", include_str!("../../policies/residency.csv")),
    ("disadvantage.csv", include_str!("../../policies/disadvantage.csv")),
    ("audit.csv", include_str!("../../policies/audit.csv")),
    ("partners.csv", include_str!("../../policies/partners.csv")),
    ("transfers.csv", include_str!("../../policies/transfers.csv")),
];
/// The classification of fields: generated for the governed types, written by
/// hand for the output types around them.
pub const FIELDS_FILES: &[(&str, &str)] = &[
    ("fields.csv", include_str!("../../policies/fields.csv")),
    ("fields_static.csv", include_str!("../../policies/fields_static.csv")),
];
pub const DECISIONS_FILE: (&str, &str) = ("decisions.csv", include_str!("../../policies/decisions.csv"));

/// Where a decision comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Line {
        file: String,
        line: usize,
        text: String,
    },
    /// No line: the built-in default, with why.
    Default(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Line { file, line, text } => write!(f, "policies/{file}:{line}: {text}"),
            Source::Default(why) => write!(f, "default: {why}"),
        }
    }
}

/// A type-level decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `None` is a denial.
    pub scope: Option<Scope>,
    pub source: Source,
}

/// A field-level decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDecision {
    /// `None` is a denial.
    pub scope: Option<FieldScope>,
    pub class: Class,
    pub source: Source,
}

#[derive(Debug)]
pub struct Policy {
    grants: HashMap<(Role, Object, Action), Grant>,
    /// Per role, per `Type.field`: looked up on every field of every row, so
    /// by a borrowed key.
    fields: HashMap<Role, HashMap<String, FieldDecision>>,
    classes: BTreeMap<String, Class>,
    /// Every governed field, `Type.field`, from the schema.
    schema_fields: BTreeMap<Object, Vec<String>>,
    /// Aggregates: measures, dimensions, thresholds and grants (`policies/stats.csv`).
    pub stats: super::stats::StatsPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid policies:\n  {}", .0.join("\n  "))]
pub struct PolicyError(pub Vec<String>);

/// One parsed policy line.
#[derive(Debug, Clone)]
struct Line {
    file: String,
    line: usize,
    text: String,
    role: Role,
    target: Target,
    action: Action,
    scope: String,
    effect: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Type(Object),
    Field(Object, String),
    Class(Object, Class),
}

impl Target {
    fn casbin_object(&self) -> String {
        match self {
            Target::Type(o) => o.to_string(),
            Target::Field(o, f) => format!("{o}.{f}"),
            Target::Class(o, c) => format!("{o}#{c}"),
        }
    }
}

/// Types that are plumbing, not data: exempt from classification.
fn is_plumbing(type_name: &str) -> bool {
    matches!(type_name, "Query" | "Mutation" | "PageInfo" | "Me")
        || type_name.ends_with("Connection")
        || type_name.ends_with("Edge")
}

/// Output fields per object type, read from the SDL the code serves.
pub fn schema_object_fields(sdl: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(sdl).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for def in doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            if let TypeKind::Object(obj) = &t.node.kind {
                let fields = obj.fields.iter().map(|f| f.node.name.node.to_string()).collect();
                out.insert(t.node.name.node.to_string(), fields);
            }
        }
    }
    Ok(out)
}

fn split_csv(line: &str) -> Vec<String> {
    line.split(',').map(|s| s.trim().to_string()).collect()
}

impl Policy {
    /// Loads the embedded policies against the schema `sdl`.
    /// The embedded policies, checked against the schema they govern: its SDL
    /// and the types whose rows can be the principal's own (field scope `own`
    /// is defined for those only). The schema comes from the caller, so that
    /// authorization does not depend on the GraphQL layer above it.
    pub async fn load(sdl: &str, own_row_types: &[&str]) -> Result<Policy, PolicyError> {
        let files: Vec<(String, String)> = POLICY_FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        let mut policy = Self::load_from(MODEL, &files, FIELDS_FILES, sdl, own_row_types).await?;
        let (name, text) = super::stats::STATS_FILE;
        policy.stats = super::stats::StatsPolicy::parse(name, text, &policy).map_err(PolicyError)?;
        Ok(policy)
    }

    pub async fn load_from(
        model: &str,
        files: &[(String, String)],
        fields_files: &[(&str, &str)],
        sdl: &str,
        own_row_types: &[&str],
    ) -> Result<Policy, PolicyError> {
        let mut errors = Vec::new();
        let schema = schema_object_fields(sdl).map_err(|e| PolicyError(vec![format!("schema: {e}")]))?;
        let mut schema_fields: BTreeMap<Object, Vec<String>> = BTreeMap::new();
        for o in Object::ALL {
            match schema.get(o.as_str()) {
                Some(f) => {
                    schema_fields.insert(*o, f.clone());
                }
                None => errors.push(format!("object `{o}` has no output type in the schema")),
            }
        }

        // Classification: every field of every data type, nothing else.
        let mut classes = BTreeMap::new();
        for (i, raw, file) in
            fields_files.iter().flat_map(|(name, text)| text.lines().enumerate().map(move |(i, l)| (i, l, *name)))
        {
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let at = format!("policies/{file}:{}", i + 1);
            let cols = split_csv(text);
            if cols.len() != 2 {
                errors.push(format!("{at}: expected `Type.field, class`"));
                continue;
            }
            let Some((ty, field)) = cols[0].split_once('.') else {
                errors.push(format!("{at}: `{}` is not `Type.field`", cols[0]));
                continue;
            };
            match cols[1].parse::<Class>() {
                Ok(c) => {
                    if !schema.get(ty).is_some_and(|fs| fs.iter().any(|f| f == field)) {
                        errors.push(format!("{at}: `{}` is not a field of the schema", cols[0]));
                    } else if classes.insert(cols[0].clone(), c).is_some() {
                        errors.push(format!("{at}: `{}` is classified twice", cols[0]));
                    }
                }
                Err(e) => errors.push(format!("{at}: {e}")),
            }
        }
        for (ty, fields) in &schema {
            if is_plumbing(ty) {
                continue;
            }
            for f in fields {
                let key = format!("{ty}.{f}");
                if !classes.contains_key(&key) {
                    let files: Vec<String> = fields_files.iter().map(|(n, _)| format!("policies/{n}")).collect();
                    errors.push(format!("field `{key}` is not classified in {}", files.join(" or ")));
                }
            }
        }

        // Policy lines.
        let mut lines = Vec::new();
        for (file, text) in files {
            for (i, raw) in text.lines().enumerate() {
                let t = raw.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let at = format!("policies/{file}:{}", i + 1);
                match parse_line(t, &schema) {
                    Ok((role, target, action, scope, effect)) => lines.push(Line {
                        file: file.clone(),
                        line: i + 1,
                        text: t.to_string(),
                        role,
                        target,
                        action,
                        scope,
                        effect,
                    }),
                    Err(e) => errors.push(format!("{at}: {e}")),
                }
            }
        }
        let mut seen: HashMap<(Role, Target, Action, Effect), String> = HashMap::new();
        for l in &lines {
            if let Some(prev) =
                seen.insert((l.role, l.target.clone(), l.action, l.effect), format!("{}:{}", l.file, l.line))
            {
                errors.push(format!(
                    "policies/{}:{}: repeats policies/{prev} (one line per role, object, action and effect)",
                    l.file, l.line
                ));
            }
            if let Target::Field(o, _) | Target::Class(o, _) = &l.target {
                let owned = own_row_types;
                if l.scope == FieldScope::Own.as_str() && !owned.contains(&o.as_str()) {
                    errors.push(format!(
                        "policies/{}:{}: field scope `own` is not defined for {o} (only for {})",
                        l.file,
                        l.line,
                        owned.join(", ")
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(PolicyError(errors));
        }

        // casbin decides allow/deny for every (role, target, action) once.
        let enforcer = build_enforcer(model, &lines).await.map_err(|e| PolicyError(vec![e]))?;
        let mut grants = HashMap::new();
        for role in all_roles() {
            for o in Object::ALL {
                for a in Action::ALL {
                    let target = Target::Type(*o);
                    let allowed = enforce(&enforcer, role, &target, *a).map_err(|e| PolicyError(vec![e]))?;
                    let grant = decide(&lines, role, &target, *a, allowed, "no policy line grants it (default deny)");
                    grants.insert(
                        (role, *o, *a),
                        Grant { scope: grant.0.map(|s| s.parse().expect("validated")), source: grant.1 },
                    );
                }
            }
        }
        let mut fields = HashMap::new();
        for role in all_roles() {
            for (o, names) in &schema_fields {
                let readable = grants[&(role, *o, Action::Read)].scope.is_some();
                for f in names {
                    let key = format!("{o}.{f}");
                    let class = classes[&key];
                    let d = if !readable {
                        FieldDecision { scope: None, class, source: Source::Default("the role cannot read the type") }
                    } else {
                        let field_target = Target::Field(*o, f.clone());
                        let class_target = Target::Class(*o, class);
                        let has = |t: &Target| lines.iter().any(|l| l.role == role && &l.target == t);
                        if has(&field_target) {
                            let allowed = enforce(&enforcer, role, &field_target, Action::Read)
                                .map_err(|e| PolicyError(vec![e]))?;
                            let (s, src) = decide(&lines, role, &field_target, Action::Read, allowed, "");
                            FieldDecision { scope: s.map(|s| s.parse().expect("validated")), class, source: src }
                        } else if has(&class_target) {
                            let allowed = enforce(&enforcer, role, &class_target, Action::Read)
                                .map_err(|e| PolicyError(vec![e]))?;
                            let (s, src) = decide(&lines, role, &class_target, Action::Read, allowed, "");
                            FieldDecision { scope: s.map(|s| s.parse().expect("validated")), class, source: src }
                        } else if class == Class::Public {
                            FieldDecision {
                                scope: Some(FieldScope::Any),
                                class,
                                source: Source::Default("public fields of a readable type are readable"),
                            }
                        } else {
                            FieldDecision {
                                scope: None,
                                class,
                                source: Source::Default("no line grants this field or its class (default deny)"),
                            }
                        }
                    };
                    fields.entry(role).or_insert_with(HashMap::new).insert(key, d);
                }
            }
        }
        Ok(Policy { grants, fields, classes, schema_fields, stats: Default::default() })
    }

    /// The type-level decision; unknown combinations are denials.
    pub fn grant(&self, role: Role, object: Object, action: Action) -> Option<Scope> {
        self.grants.get(&(role, object, action)).and_then(|g| g.scope)
    }

    pub fn grant_explained(&self, role: Role, object: Object, action: Action) -> &Grant {
        &self.grants[&(role, object, action)]
    }

    /// The field-level decision for `Type.field`; fields outside the governed
    /// types (plumbing) are readable.
    pub fn field(&self, role: Role, key: &str) -> Option<&FieldDecision> {
        self.fields.get(&role)?.get(key)
    }

    pub fn class_of(&self, key: &str) -> Option<Class> {
        self.classes.get(key).copied()
    }

    pub fn schema_fields(&self) -> &BTreeMap<Object, Vec<String>> {
        &self.schema_fields
    }

    /// Number of (role, field) decisions compiled.
    pub fn field_decisions(&self) -> usize {
        self.fields.values().map(HashMap::len).sum()
    }

    /// `gepi policy explain`: the decision and the line behind it.
    pub fn explain(&self, role: Role, object: &str, action: Action) -> Result<String, String> {
        if let Some((ty, _)) = object.split_once('.') {
            let o: Object = ty.parse()?;
            let _ = o;
            let d = self.field(role, object).ok_or_else(|| format!("`{object}` is not a governed field"))?;
            let decision = match d.scope {
                Some(s) => format!("allow (rows: {s})"),
                None => "deny".to_string(),
            };
            return Ok(format!("{} {action} {object} [{}]: {decision}\n  by {}", role.as_str(), d.class, d.source));
        }
        let o: Object = object.parse()?;
        let g = self.grant_explained(role, o, action);
        let decision = match g.scope {
            Some(s) => format!("allow (scope: {s})"),
            None => "deny".to_string(),
        };
        Ok(format!("{} {action} {o}: {decision}\n  by {}", role.as_str(), g.source))
    }
}

fn parse_line(
    t: &str,
    schema: &BTreeMap<String, Vec<String>>,
) -> Result<(Role, Target, Action, String, Effect), String> {
    let cols = split_csv(t);
    if cols.len() != 6 || cols[0] != "p" {
        return Err("expected `p, role, object, action, scope, effect`".into());
    }
    let role = parse_role(&cols[1])?;
    let target = if let Some((ty, field)) = cols[2].split_once('.') {
        let o: Object = ty.parse()?;
        if !schema.get(ty).is_some_and(|fs| fs.iter().any(|f| f == field)) {
            return Err(format!("`{}` is not a field of the schema", cols[2]));
        }
        Target::Field(o, field.to_string())
    } else if let Some((ty, class)) = cols[2].split_once('#') {
        Target::Class(ty.parse()?, class.parse()?)
    } else {
        Target::Type(cols[2].parse()?)
    };
    let action: Action = cols[3].parse()?;
    let effect: Effect = cols[5].parse()?;
    match target {
        Target::Type(o) => {
            if cols[4].parse::<Scope>()? == Scope::Unassigned && !super::rows::unassigned_applies(o) {
                return Err(format!("the scope `unassigned` is defined for a case and what hangs off it, not for {o}"));
            }
        }
        _ => {
            cols[4].parse::<FieldScope>()?;
            if action != Action::Read {
                return Err("field and class lines take the action `read`".into());
            }
        }
    }
    Ok((role, target, action, cols[4].clone(), effect))
}

async fn build_enforcer(model: &str, lines: &[Line]) -> Result<Enforcer, String> {
    let m = DefaultModel::from_str(model).await.map_err(|e| format!("model.conf: {e}"))?;
    let mut e = Enforcer::new(m, MemoryAdapter::default()).await.map_err(|e| format!("casbin: {e}"))?;
    let rules: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            vec![l.role.as_str(), l.target.casbin_object(), l.action.to_string(), l.scope.clone(), l.effect.to_string()]
        })
        .collect();
    if !rules.is_empty() {
        e.add_policies(rules).await.map_err(|e| format!("casbin: {e}"))?;
    }
    Ok(e)
}

fn enforce(e: &Enforcer, role: Role, target: &Target, action: Action) -> Result<bool, String> {
    e.enforce((role.as_str(), target.casbin_object(), action.to_string())).map_err(|e| format!("casbin: {e}"))
}

/// Given casbin's verdict, the scope and the line behind it.
fn decide(
    lines: &[Line],
    role: Role,
    target: &Target,
    action: Action,
    allowed: bool,
    default: &'static str,
) -> (Option<String>, Source) {
    let matching: Vec<&Line> =
        lines.iter().filter(|l| l.role == role && &l.target == target && l.action == action).collect();
    let src = |l: &Line| Source::Line { file: l.file.clone(), line: l.line, text: l.text.clone() };
    if allowed {
        let l = matching.iter().find(|l| l.effect == Effect::Allow).expect("casbin allowed without an allow line");
        (Some(l.scope.clone()), src(l))
    } else if let Some(l) = matching.iter().find(|l| l.effect == Effect::Deny) {
        (None, src(l))
    } else {
        (None, Source::Default(if default.is_empty() { "default deny" } else { default }))
    }
}

/// Decision tests as data: `role, object, action, expected` where expected is
/// `deny` or `allow:<scope>`. Returns the failures.
pub fn check_decisions(policy: &Policy, file: (&str, &str)) -> Result<usize, Vec<String>> {
    let mut failures = Vec::new();
    let mut n = 0;
    for (i, raw) in file.1.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        n += 1;
        let at = format!("policies/{}:{}", file.0, i + 1);
        let cols = split_csv(t);
        if cols.len() != 4 {
            failures.push(format!("{at}: expected `role, object, action, expected`"));
            continue;
        }
        let role = match parse_role(&cols[0]) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{at}: {e}"));
                continue;
            }
        };
        let action: Action = match cols[2].parse() {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{at}: {e}"));
                continue;
            }
        };
        let actual = if cols[1].contains('.') {
            match policy.field(role, &cols[1]) {
                Some(d) => d.scope.map_or("deny".to_string(), |s| format!("allow:{s}")),
                None => {
                    failures.push(format!("{at}: `{}` is not a governed field", cols[1]));
                    continue;
                }
            }
        } else {
            match cols[1].parse::<Object>() {
                Ok(o) => policy.grant(role, o, action).map_or("deny".to_string(), |s| format!("allow:{s}")),
                Err(e) => {
                    failures.push(format!("{at}: {e}"));
                    continue;
                }
            }
        };
        if actual != cols[3] {
            failures.push(format!(
                "{at}: {} {} {}: expected {}, policies say {actual}",
                cols[0], cols[2], cols[1], cols[3]
            ));
        }
    }
    if failures.is_empty() {
        Ok(n)
    } else {
        Err(failures)
    }
}

/// Roles × governed objects: the size of the decision table (for the closing note).
pub fn roles_and_objects() -> (usize, usize) {
    (all_roles().len(), Object::ALL.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = "type Case { id: ID! state: String notes: String }\n";

    async fn load(lines: &str, fields: &str) -> Result<Policy, PolicyError> {
        // Only `Case` exists in this schema: the other objects are reported missing,
        // so look for the specific message in the errors.
        Policy::load_from(MODEL, &[("t.csv".into(), lines.into())], &[("f.csv", fields)], SDL, &["Case"]).await
    }

    fn has(err: &PolicyError, needle: &str) -> bool {
        err.0.iter().any(|e| e.contains(needle))
    }

    #[tokio::test]
    async fn unknown_tokens_and_unclassified_fields_fail_loading() {
        let fields = "Case.id, public\nCase.state, public\nCase.notes, special\n";
        let e = load("p, case_manager, Case, read, everywhere, allow\n", fields).await.unwrap_err();
        assert!(has(&e, "t.csv:1: unknown scope `everywhere`"), "{e}");
        let e = load("p, janitor, Case, read, own, allow\n", fields).await.unwrap_err();
        assert!(has(&e, "unknown role `janitor`"), "{e}");
        let e = load("p, case_manager, Caso, read, own, allow\n", fields).await.unwrap_err();
        assert!(has(&e, "unknown object `Caso`"), "{e}");
        let e = load("p, case_manager, Case.nope, read, any, allow\n", fields).await.unwrap_err();
        assert!(has(&e, "`Case.nope` is not a field of the schema"), "{e}");
        let e = load("p, case_manager, Case, write, own, allow\n", fields).await.unwrap_err();
        assert!(has(&e, "unknown action `write`"), "{e}");
        let e = load("", "Case.id, public\nCase.state, public\n").await.unwrap_err();
        assert!(has(&e, "field `Case.notes` is not classified"), "{e}");
        let e = load("", "Case.id, public\nCase.state, public\nCase.notes, secret\n").await.unwrap_err();
        assert!(has(&e, "unknown class `secret`"), "{e}");
        let twice = "p, case_manager, Case, read, own, allow\np, case_manager, Case, read, ambito, allow\n";
        assert!(has(&load(twice, fields).await.unwrap_err(), "repeats"));
    }
}
