#!/usr/bin/env python3
"""Renders tools/views.spec into src/api/views.rs and policies/fields.csv.

Each governed GraphQL type wraps its entity row; every field goes through the
field guard (`show`) or a relation helper, so that a field the role cannot read
comes back null with a redaction, and relations load through per-request
DataLoaders under the target's row rule. Run it after editing the spec:

    python3 tools/gen_views.py && cargo run -- schema > schema.graphql

With `--check` it writes nothing and fails when the files on disk differ from
what the spec renders (CI runs it: the generated files never drift).
"""
import re, sys, os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def snake(s):
    return re.sub(r'(?<!^)(?=[A-Z])', '_', s).lower()

def camel_upper(s):
    return ''.join(p.capitalize() for p in s.split('_'))

SCALARS = {
    'str': ('String', 'm.{c}.clone()'),
    'ostr': ('Option<String>', 'm.{c}.clone()'),
    'int': ('i32', 'm.{c}'),
    'bool': ('bool', 'm.{c}'),
    'date': ('NaiveDate', 'm.{c}'),
    'odate': ('Option<NaiveDate>', 'm.{c}'),
    'ts': ('DateTime<Utc>', 'm.{c}'),
    'ots': ('Option<DateTime<Utc>>', 'm.{c}'),
}

# Extra hand-written methods per type (fields the spec language cannot express).
EXTRA = {
    'Profile': '''
    /// Comuni the profile covers, by name.
    #[graphql(visible = "vis::profile_comuni")]
    async fn comuni(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ComuneView>>> {
        let own = self.own(ctx);
        Ok(profile_comuni(ctx, "Profile.comuni", own, self.0.id).await?.map(|v| v.into_iter().map(ComuneView).collect()))
    }
''',
}
EXTRA['Convention'] = '''
    /// Profiles in force that work on the Comune's data under this convention
    /// and outlast it (no later convention for GePI takes over): to renew the
    /// convention or to change them before it expires. Empty for PUC and
    /// open-ended conventions.
    #[graphql(visible = "vis::convention_dependent_profiles")]
    async fn dependent_profiles(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ProfileView>>> {
        let own = self.own(ctx);
        Ok(dependent_profiles(ctx, "Convention.dependentProfiles", own, &self.0).await?.map(|v| v.into_iter().map(ProfileView).collect()))
    }
'''
EXTRA['ResidencyCheck'] = '''
    /// Days of residence covered by the recorded periods (overlaps counted once).
    #[graphql(visible = "vis::residency_check_total_residence_days")]
    async fn total_residence_days(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        Ok(self.residence(ctx, "ResidencyCheck.totalResidenceDays").await?.map(|s| s.total_days))
    }
    /// Days of the latest continuous residence, if it is still open.
    #[graphql(visible = "vis::residency_check_last_continuous_days")]
    async fn last_continuous_days(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        Ok(self.residence(ctx, "ResidencyCheck.lastContinuousDays").await?.map(|s| s.last_continuous_days))
    }
    /// Whether the periods meet the requirement (10 years in all, the last 2 continuous).
    #[graphql(visible = "vis::residency_check_requirement_met")]
    async fn requirement_met(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        Ok(self.residence(ctx, "ResidencyCheck.requirementMet").await?.map(|s| s.requirement_met))
    }
'''
EXTRA['PucProject'] = '''
    /// Vacancies per source: places minus proposed and active assignments.
    #[graphql(visible = "vis::puc_project_vacancies")]
    async fn vacancies(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::api::puc::PucVacancies>> {
        if show(ctx, "PucProject.vacancies", self.own(ctx), || ()).is_none() {
            return Ok(None);
        }
        let taken = crate::api::puc::taken(ctx, self.0.id).await?;
        Ok(Some(crate::puc::service::vacancies_of(&self.0, taken).into()))
    }
'''
EXTRA['PucAssignment'] = '''
    /// Minutes of activity recorded in the register.
    #[graphql(visible = "vis::puc_assignment_total_minutes")]
    async fn total_minutes(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        let own = self.own(ctx);
        let rows = rel_many::<puc_attendance::Entity, _>(ctx, "PucAssignment.totalMinutes", own, puc_attendance::Column::AssignmentId, self.0.id, |r| r.assignment_id, puc_attendance::Column::Day).await?;
        Ok(rows.map(|v| v.iter().map(|a| a.minutes as i64).sum()))
    }
'''
EXTRA_IMPL = {'ResidencyCheck': '''
    /// The requirement computed from the periods the viewer may see.
    async fn residence(&self, ctx: &Context<'_>, key: &str) -> GqlResult<Option<crate::residency::model::ResidenceSummary>> {
        let own = self.own(ctx);
        let rows = rel_many::<residency_period::Entity, _>(ctx, key, own, residency_period::Column::CheckId, self.0.id, |r| r.check_id, residency_period::Column::FromOn).await?;
        Ok(rows.map(|v| {
            let periods: Vec<_> = v.iter().map(|p| (p.from_on, p.to_on)).collect();
            crate::residency::model::summarise(&periods, crate::calendar::today())
        }))
    }
'''}
EXTRA_FIELDS = {
    'Profile': [('comuni', 'public', 'Comuni the profile covers, by name.')],
    'Convention': [('dependentProfiles', 'public', '')],
    'ResidencyCheck': [('totalResidenceDays', 'personal', ''), ('lastContinuousDays', 'personal', ''), ('requirementMet', 'personal', '')],
    'PucProject': [('vacancies', 'public', '')],
    'PucAssignment': [('totalMinutes', 'personal', '')],
}

def parse(path):
    types = []
    cur = None
    for raw in open(path):
        line = raw.rstrip('\n')
        if not line.strip() or line.startswith('#'):
            continue
        if line.startswith('type '):
            head, desc = line[5:].split('|', 1)
            parts = head.split()
            name, module, own = parts[:3]
            audit = None
            for extra in parts[3:]:
                if not extra.startswith('audit='):
                    sys.exit(f'unknown token {extra} on type {name}')
                audit = extra[6:]
            cur = {'name': name, 'module': module, 'own': None if own == '-' else own[4:], 'audit': audit, 'desc': desc.strip(), 'fields': []}
            types.append(cur)
            continue
        spec, cls, desc = [p.strip() for p in line.split('|')]
        parts = spec.split()
        cur['fields'].append({'name': parts[0], 'kind': parts[1], 'args': parts[2:], 'class': cls, 'desc': desc})
    return types

OWNER_KINDS = {
    'household': 'Household({0})', 'case': 'Case({0})', 'pact': 'Pact({0})',
    'assignment': 'Assignment({0})',
    'ambito': 'Ambito {{ ambito: {0}, case: {1} }}', 'project': 'Project {{ project: {0}, case: {1} }}',
}

def owner_expr(t):
    """The `Owner` of a row of `t`, or None when its reads are not audited."""
    a = t['audit']
    if a is None:
        if any(f['class'] in ('sensitive', 'special') for f in t['fields']):
            sys.exit(f'type {t["name"]} has sensitive or special fields: give it audit=<owner> (or audit=-)')
        return None
    if a == '-':
        return None
    kind, *args = a.split(':')
    if kind not in OWNER_KINDS:
        sys.exit(f'unknown owner kind {kind} on type {t["name"]}')
    return 'crate::audit::reads::Owner::' + OWNER_KINDS[kind].format(*args)

def audited(t, f):
    """Whether showing field `f` of `t` records the row as read."""
    if owner_expr(t) is None:
        return False
    if t['name'] == 'Case':
        return f['class'] != 'public'
    return f['class'] in ('sensitive', 'special')

def render(types):
    out = []
    w = out.append
    w('//! The governed GraphQL types. GENERATED by `tools/gen_views.py` from')
    w('//! `tools/views.spec`: edit the spec, not this file.')
    w('//!')
    w('//! Every field goes through the field guard (`show`) or a relation helper:')
    w('//! a field the role cannot read is null and listed in `extensions.redactions`;')
    w('//! relations load through per-request DataLoaders under the target\'s row rule.')
    w('#![allow(clippy::clone_on_copy, clippy::redundant_closure)]')
    w('')
    w('use async_graphql::{Context, Object, ID};')
    w('use chrono::{DateTime, NaiveDate, Utc};')
    w('use entity::*;')
    w('')
    w('use super::enums::*;')
    w('use super::relations::*;')
    w('use crate::{authz::{gateway::Projected, show, Object as Obj}, error::GqlResult, ids};')
    w('')
    for t in types:
        name, mod = t['name'], t['module']
        view = f'{name}View'
        w(f'/// {t["desc"]}')
        w(f'#[derive(Clone)]')
        w(f'pub struct {view}(pub {mod}::Model);')
        w('')
        # Projection mapping.
        w(f'impl Projected for {mod}::Entity {{')
        w(f'    const TYPE: &\'static str = "{name}";')
        w(f'    fn field_columns() -> Vec<(&\'static str, Self::Column)> {{')
        cols = []
        for f in t['fields']:
            if f['kind'] in SCALARS or f['kind'] in ('enum', 'oenum'):
                col = snake(f['name'])
                cols.append(f'("{f["name"]}", {mod}::Column::{camel_upper(col)})')
        w(f'        vec![{", ".join(cols)}]')
        w('    }')
        enum_ph = [(snake(f['name']), f['args'][0]) for f in t['fields'] if f['kind'] == 'enum']
        if enum_ph:
            w(f'    fn enum_placeholder(col: Self::Column) -> Option<&\'static str> {{')
            w('        use sea_orm::{ActiveEnum, Iterable};')
            w('        match col {')
            for col, e in enum_ph:
                w(f'            {mod}::Column::{camel_upper(col)} => Some(leak(entity::enums::{e}::iter().next().expect("variant").to_value())),')
            w('            _ => None,')
            w('        }')
            w('    }')
        w('}')
        w('')
        w(f'#[Object(name = "{name}", visible = "vis::type_{snake(name)}")]')
        w(f'impl {view} {{')
        if name == 'Comune':
            w('    /// Global id of the Comune.')
            w(f'    #[graphql(visible = "vis::type_{snake(name)}")]')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("Comune", &self.0.istat_code))')
            w('    }')
        else:
            w(f'    /// Global id.')
            w(f'    #[graphql(visible = "vis::type_{snake(name)}")]')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("{name}", self.0.id))')
            w('    }')
        for f in t['fields']:
            key = f'{name}.{f["name"]}'
            fn = snake(f['name'])
            if fn in ('case', 'type', 'match', 'ref'):
                fn = f'r#{fn}'
            kind, args = f['kind'], f['args']
            audit = audited(t, f)
            w(f'    /// {f["desc"]}')
            # A relation to many rows weighs its rows (it has no page size).
            cost = ', complexity = "crate::graphql::limits::nested_cost(child_complexity)"' if kind == 'many' else ''
            w(f'    #[graphql(visible = "vis::{snake(name)}_{snake(f["name"])}"{cost})]')

            def finish(value, present, ok=False):
                # The value, and — for an audited field actually returned (shown and
                # not null, or a non-empty list) — the row recorded as read.
                if audit:
                    w(f'        let v = {value};')
                    w(f'        if {present} {{')
                    w(f'            self.audit(ctx, "{key}");')
                    w('        }')
                    w('        Ok(v)' if ok else '        v')
                else:
                    w(f'        Ok({value})' if ok else f'        {value}')

            if kind in SCALARS:
                ty, expr = SCALARS[kind]
                expr = expr.format(c=snake(f['name']))
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> Option<{ty}> {{')
                w(f'        let m = &self.0;')
                finish(f'show(ctx, "{key}", self.own(ctx), || {expr})', 'matches!(v, Some(Some(_)))' if ty.startswith('Option<') else 'v.is_some()')
                w('    }')
            elif kind in ('enum', 'oenum'):
                e = args[0]
                c = snake(f['name'])
                expr = f'm.{c}.into()' if kind == 'enum' else f'm.{c}.map(Into::into)'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> Option<{e}View> {{')
                w(f'        let m = &self.0;')
                flat = '' if kind == 'enum' else '.flatten()'
                finish(f'show(ctx, "{key}", self.own(ctx), || {expr}){flat}', 'v.is_some()')
                w('    }')
            elif kind == 'calc':
                ty = args[0]
                expr = ' '.join(args[1:])
                opt = ty.startswith('Option<')
                rty = ty if opt else f'Option<{ty}>'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> {rty} {{')
                w(f'        let m = &self.0;')
                finish(f'show(ctx, "{key}", self.own(ctx), || {expr}){".flatten()" if opt else ""}', 'v.is_some()')
                w('    }')
            elif kind == 'one':
                target, tmod, keyexpr = args[0], args[1], ' '.join(args[2:])
                pk = 'IstatCode' if target == 'Comune' else 'Id'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> GqlResult<Option<{target}View>> {{')
                w(f'        let m = &self.0;')
                w(f'        let own = self.own(ctx);')
                finish(f'rel_one::<{tmod}::Entity, _>(ctx, "{key}", own, {tmod}::Column::{pk}, {keyexpr}, |r| r.{snake(pk)}.clone()).await?.map({target}View)', 'v.is_some()', ok=True)
                w('    }')
            elif kind in ('many', 'first', 'last'):
                target, tmod, fkcol, keyexpr = args[0], args[1], args[2], args[3]
                order = args[4] if len(args) > 4 else 'Id'
                fk = snake(fkcol)
                keyof = f'|r| r.{fk}.clone().into_key()'
                if kind == 'many':
                    w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> GqlResult<Option<Vec<{target}View>>> {{')
                else:
                    w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> GqlResult<Option<{target}View>> {{')
                w(f'        let m = &self.0;')
                w(f'        let own = self.own(ctx);')
                w(f'        let rows = rel_many::<{tmod}::Entity, _>(ctx, "{key}", own, {tmod}::Column::{fkcol}, {keyexpr}.clone(), {keyof}, {tmod}::Column::{order}).await?;')
                if kind == 'many':
                    finish(f'rows.map(|v| v.into_iter().map({target}View).collect::<Vec<_>>())', 'v.as_ref().is_some_and(|x| !x.is_empty())', ok=True)
                elif kind == 'first':
                    finish(f'rows.and_then(|v| v.into_iter().next()).map({target}View)', 'v.is_some()', ok=True)
                else:
                    finish(f'rows.and_then(|v| v.into_iter().last()).map({target}View)', 'v.is_some()', ok=True)
                w('    }')
            else:
                sys.exit(f'unknown kind {kind} in {key}')
        out.append(EXTRA.get(name, '').rstrip('\n')) if name in EXTRA else None
        w('}')
        w('')
        w(f'impl {view} {{')
        w('    /// Whether the row is the principal\'s own (for fields shown on own rows only).')
        w('    #[allow(unused_variables)]')
        w('    fn own(&self, ctx: &Context<\'_>) -> bool {')
        if t['own']:
            w(f'        let m = &self.0;')
            w(f'        is_me(ctx, {t["own"]})')
        else:
            w('        false')
        w('    }')
        owner = owner_expr(t)
        if owner:
            w('    /// For the audit trail: the field `key` of the row is in the response.')
            w('    fn audit(&self, ctx: &Context<\'_>, key: &str) {')
            w('        let m = &self.0;')
            w(f'        crate::authz::audit_read(ctx, key, ("{mod}", m.id), || {owner});')
            w('    }')
        if name in EXTRA_IMPL:
            out.append(EXTRA_IMPL[name].rstrip('\n'))
        w(f'    pub const OBJECT: Obj = Obj::{name};')
        w('}')
        w('')
    w('/// What each role\'s introspection shows (see `graphql::visibility`): a type')
    w('/// when the role may read it, a field when it may read the field on some rows.')
    w('mod vis {')
    w('    use async_graphql::Context;')
    w('    use crate::graphql::visibility::{field, reads};')
    w('    use crate::authz::Object;')
    for t in types:
        if t['name'] in ('Operator', 'Profile'):
            # `switchProfile` answers with them: shown (with their ids) on the login surface too.
            w(f'    pub fn type_{snake(t["name"])}(ctx: &Context<\'_>) -> bool {{ reads(ctx, Object::{t["name"]}) || !crate::graphql::visibility::signed_in(ctx) }}')
        else:
            w(f'    pub fn type_{snake(t["name"])}(ctx: &Context<\'_>) -> bool {{ reads(ctx, Object::{t["name"]}) }}')
        for f in t['fields']:
            n = f['name']
            # A relation is shown when its target type is too (the schema shown stays closed).
            target = f' && reads(ctx, Object::{f["args"][0]})' if f['kind'] in ('one', 'many', 'first', 'last') else ''
            w(f'    pub fn {snake(t["name"])}_{snake(n)}(ctx: &Context<\'_>) -> bool {{ field(ctx, "{t["name"]}.{n}"){target} }}')
        for (n, _, _) in EXTRA_FIELDS.get(t['name'], []):
            w(f'    pub fn {snake(t["name"])}_{snake(n)}(ctx: &Context<\'_>) -> bool {{ field(ctx, "{t["name"]}.{n}") }}')
    w('}')
    w('')
    owns = ', '.join('"%s"' % t['name'] for t in types if t['own'])
    w('/// Types whose rows can be the principal\'s own (field scope `own` is defined for them).')
    w(f'pub const OWN_ROW_TYPES: &[&str] = &[{owns}];')
    w('')
    w('/// Enum placeholders are computed once per variant list; the strings live for')
    w('/// the whole process.')
    w('fn leak(s: String) -> &\'static str {')
    w('    use std::{collections::HashMap, sync::{Mutex, OnceLock}};')
    w('    static CACHE: OnceLock<Mutex<HashMap<String, &\'static str>>> = OnceLock::new();')
    w('    let mut m = CACHE.get_or_init(Default::default).lock().expect("placeholder cache");')
    w('    if let Some(v) = m.get(&s) { return v; }')
    w('    let v: &\'static str = Box::leak(s.clone().into_boxed_str());')
    w('    m.insert(s, v);')
    w('    v')
    w('}')
    return '\n'.join(out) + '\n'

# Output types outside the governed views (their rows come from governed ones).
STATIC_FIELDS = [
    ('Calendar.meetings', 'public'), ('Calendar.slots', 'public'),
    ('CalendarSlot.slot', 'public'), ('CalendarSlot.booked', 'public'),
    ('PucVacancies.comune', 'public'), ('PucVacancies.cpi', 'public'),
    ('PucVacancies.volunteer', 'public'), ('PucVacancies.total', 'public'),
    # The operator's own profiles, listed to choose one after login.
    ('ProfileChoice.id', 'public'), ('ProfileChoice.role', 'public'),
    ('ProfileChoice.ambitoName', 'public'), ('ProfileChoice.validFrom', 'public'),
    ('ProfileChoice.validTo', 'public'), ('ProfileChoice.active', 'public'),
    # The answer of changeProfileStatus: the profile (governed) and counts of work.
    ('ProfileStatusChange.profile', 'public'), ('ProfileStatusChange.orphanedWork', 'public'),
    ('OrphanedWork.cases', 'public'), ('OrphanedWork.residencyChecks', 'public'),
    ('OrphanedWork.pucProjects', 'public'),
    ('OperatorStatusChange.operator', 'public'), ('OperatorStatusChange.orphanedWork', 'public'),
]

def fields_csv(types):
    out = ['# Classification of every field of every governed output type:',
           '# public, personal, sensitive or special (health, disability, disadvantage',
           '# category, judicial data, minors). GENERATED by tools/gen_views.py from',
           '# tools/views.spec; start-up fails when a field of the schema is missing here.',
           '']
    for t in types:
        out.append(f'{t["name"]}.id, public')
        for f in t['fields']:
            out.append(f'{t["name"]}.{f["name"]}, {f["class"]}')
        for (n, c, _) in EXTRA_FIELDS.get(t['name'], []):
            out.append(f'{t["name"]}.{n}, {c}')
        out.append('')
    for (k, c) in STATIC_FIELDS:
        out.append(f'{k}, {c}')
    out.append('')
    return '\n'.join(out)

def rustfmt(code):
    """The code as `cargo fmt` leaves it (the workspace's rustfmt.toml)."""
    import subprocess
    r = subprocess.run(['rustfmt', '--edition', '2021', '--emit', 'stdout', '--config-path', os.path.join(ROOT, 'rustfmt.toml')],
                       input=code, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit('rustfmt failed on the generated code:\n' + r.stderr)
    return r.stdout

types = parse(os.path.join(ROOT, 'tools/views.spec'))
outputs = {
    'src/api/views.rs': rustfmt(render(types)),
    'policies/fields.csv': fields_csv(types),
}
if '--check' in sys.argv[1:]:
    stale = [p for p, text in outputs.items() if open(os.path.join(ROOT, p)).read() != text]
    if stale:
        sys.exit('generated files differ from tools/views.spec: ' + ', '.join(stale) + ' (run python3 tools/gen_views.py)')
    print('generated files match tools/views.spec')
else:
    for p, text in outputs.items():
        open(os.path.join(ROOT, p), 'w').write(text)
    print(f'{len(types)} types, {sum(len(t["fields"]) + 1 for t in types)} fields')
