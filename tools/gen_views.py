#!/usr/bin/env python3
"""Renders tools/views.spec into src/graphql/views.rs and policies/fields.csv.

Each governed GraphQL type wraps its entity row; every field goes through the
field guard (`show`) or a relation helper, so that a field the role cannot read
comes back null with a redaction, and relations load through per-request
DataLoaders under the target's row rule. Run it after editing the spec:

    python3 tools/gen_views.py && cargo run -- schema > schema.graphql
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
    async fn comuni(&self, ctx: &Context<'_>) -> GqlResult<Option<Vec<ComuneView>>> {
        let own = self.own(ctx);
        Ok(profile_comuni(ctx, "Profile.comuni", own, self.0.id).await?.map(|v| v.into_iter().map(ComuneView).collect()))
    }
''',
}
EXTRA['ResidencyCheck'] = '''
    /// Days of residence covered by the recorded periods (overlaps counted once).
    async fn total_residence_days(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        Ok(self.residence(ctx, "ResidencyCheck.totalResidenceDays").await?.map(|s| s.total_days))
    }
    /// Days of the latest continuous residence, if it is still open.
    async fn last_continuous_days(&self, ctx: &Context<'_>) -> GqlResult<Option<i64>> {
        Ok(self.residence(ctx, "ResidencyCheck.lastContinuousDays").await?.map(|s| s.last_continuous_days))
    }
    /// Whether the periods meet the requirement (10 years in all, the last 2 continuous).
    async fn requirement_met(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> {
        Ok(self.residence(ctx, "ResidencyCheck.requirementMet").await?.map(|s| s.requirement_met))
    }
'''
EXTRA['PucProject'] = '''
    /// Vacancies per source: places minus proposed and active assignments.
    async fn vacancies(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::puc::graphql::PucVacancies>> {
        if show(ctx, "PucProject.vacancies", self.own(ctx), || ()).is_none() {
            return Ok(None);
        }
        let taken = crate::puc::graphql::taken(ctx, self.0.id).await?;
        Ok(Some(crate::puc::service::vacancies_of(&self.0, taken).into()))
    }
'''
EXTRA['PucAssignment'] = '''
    /// Minutes of activity recorded in the register.
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
            crate::residency::model::summarise(&periods, crate::cases::model::today())
        }))
    }
'''}
EXTRA_FIELDS = {
    'Profile': [('comuni', 'public', 'Comuni the profile covers, by name.')],
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
            name, module, own = head.split()
            cur = {'name': name, 'module': module, 'own': None if own == '-' else own[4:], 'desc': desc.strip(), 'fields': []}
            types.append(cur)
            continue
        spec, cls, desc = [p.strip() for p in line.split('|')]
        parts = spec.split()
        cur['fields'].append({'name': parts[0], 'kind': parts[1], 'args': parts[2:], 'class': cls, 'desc': desc})
    return types

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
        w(f'#[Object(name = "{name}")]')
        w(f'impl {view} {{')
        if name == 'Comune':
            w('    /// Global id of the Comune.')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("Comune", &self.0.istat_code))')
            w('    }')
        else:
            w(f'    /// Global id.')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("{name}", self.0.id))')
            w('    }')
        for f in t['fields']:
            key = f'{name}.{f["name"]}'
            fn = snake(f['name'])
            if fn in ('case', 'type', 'match', 'ref'):
                fn = f'r#{fn}'
            kind, args = f['kind'], f['args']
            detail = f'        self.detail(ctx, "{key}");' if (name == 'Case' and f['class'] != 'public') else None
            w(f'    /// {f["desc"]}')
            if kind in SCALARS:
                ty, expr = SCALARS[kind]
                expr = expr.format(c=snake(f['name']))
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> Option<{ty}> {{')
                if detail: w(detail)
                w(f'        let m = &self.0;')
                w(f'        show(ctx, "{key}", self.own(ctx), || {expr})')
                w('    }')
            elif kind in ('enum', 'oenum'):
                e = args[0]
                c = snake(f['name'])
                ty = f'{e}View' if kind == 'enum' else f'Option<{e}View>'
                expr = f'm.{c}.into()' if kind == 'enum' else f'm.{c}.map(Into::into)'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> Option<{e}View> {{')
                if detail: w(detail)
                w(f'        let m = &self.0;')
                if kind == 'enum':
                    w(f'        show(ctx, "{key}", self.own(ctx), || {expr})')
                else:
                    w(f'        show(ctx, "{key}", self.own(ctx), || {expr}).flatten()')
                w('    }')
            elif kind == 'calc':
                ty = args[0]
                expr = ' '.join(args[1:])
                opt = ty.startswith('Option<')
                rty = ty if opt else f'Option<{ty}>'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> {rty} {{')
                if detail: w(detail)
                w(f'        let m = &self.0;')
                w(f'        show(ctx, "{key}", self.own(ctx), || {expr}){".flatten()" if opt else ""}')
                w('    }')
            elif kind == 'one':
                target, tmod, keyexpr = args[0], args[1], ' '.join(args[2:])
                pk = 'IstatCode' if target == 'Comune' else 'Id'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> GqlResult<Option<{target}View>> {{')
                if detail: w(detail)
                w(f'        let m = &self.0;')
                w(f'        let own = self.own(ctx);')
                w(f'        Ok(rel_one::<{tmod}::Entity, _>(ctx, "{key}", own, {tmod}::Column::{pk}, {keyexpr}, |r| r.{snake(pk)}.clone()).await?.map({target}View))')
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
                if detail: w(detail)
                w(f'        let m = &self.0;')
                w(f'        let own = self.own(ctx);')
                w(f'        let rows = rel_many::<{tmod}::Entity, _>(ctx, "{key}", own, {tmod}::Column::{fkcol}, {keyexpr}.clone(), {keyof}, {tmod}::Column::{order}).await?;')
                if kind == 'many':
                    w(f'        Ok(rows.map(|v| v.into_iter().map({target}View).collect()))')
                elif kind == 'first':
                    w(f'        Ok(rows.and_then(|v| v.into_iter().next()).map({target}View))')
                else:
                    w(f'        Ok(rows.and_then(|v| v.into_iter().last()).map({target}View))')
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
        if name == 'Case':
            w('    /// Records, for the audit trail, that the case\'s detail field `key` is read')
            w('    /// (only when the role may read it on this row).')
            w('    fn detail(&self, ctx: &Context<\'_>, key: &str) {')
            w('        if let Some(a) = ctx.data_opt::<std::sync::Arc<crate::authz::RequestAuthz>>() {')
            w('            let shown = match a.field_scope(key) {')
            w('                Some(crate::authz::FieldScope::Any) => true,')
            w('                Some(crate::authz::FieldScope::Own) => self.own(ctx),')
            w('                None => false,')
            w('            };')
            w('            if shown {')
            w('                a.record_case_read(self.0.id, self.0.ambito_id);')
            w('            }')
            w('        }')
            w('    }')
        if name in EXTRA_IMPL:
            out.append(EXTRA_IMPL[name].rstrip('\n'))
        w(f'    pub const OBJECT: Obj = Obj::{name};')
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

types = parse(os.path.join(ROOT, 'tools/views.spec'))
open(os.path.join(ROOT, 'src/graphql/views.rs'), 'w').write(render(types))
open(os.path.join(ROOT, 'policies/fields.csv'), 'w').write(fields_csv(types))
print(f'{len(types)} types, {sum(len(t["fields"]) + 1 for t in types)} fields')
