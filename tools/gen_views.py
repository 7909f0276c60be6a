#!/usr/bin/env python3
"""Renders tools/views.spec into src/api/views.rs (the governed types),
src/api/node.rs (`node(id:)` over all of them), src/api/views_compiled.rs (the
compiled reads of the same fields), src/authz/keys.rs (the field
keys, with those of policies/fields_static.csv) and policies/fields.csv.

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
    'date': ('Date', 'Date(m.{c})'),
    'odate': ('Option<Date>', 'm.{c}.map(Date)'),
    'ts': ('Timestamp', 'Timestamp(m.{c})'),
    'ots': ('Option<Timestamp>', 'm.{c}.map(Timestamp)'),
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
            cur = {'name': name, 'module': module, 'own': None if own == '-' else own[4:], 'audit': None,
                   'audit_nonpublic': False, 'login': False, 'id': None, 'desc': desc.strip(), 'fields': []}
            for flag in parts[3:]:
                if flag.startswith('audit='):
                    cur['audit'] = flag[6:]
                elif flag == 'audit-nonpublic':
                    cur['audit_nonpublic'] = True
                elif flag == 'login':
                    cur['login'] = True
                elif flag.startswith('id='):
                    cur['id'] = flag[3:]
                else:
                    sys.exit(f'unknown token {flag} on type {name}')
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
    if t['audit_nonpublic']:
        return f['class'] != 'public'
    return f['class'] in ('sensitive', 'special')

def key_const(ty, field):
    """The generated constant naming the field key `ty.field` (see `authz::keys`)."""
    return f'keys::{snake(ty)}::{snake(field).upper()}'

def value_field(f):
    """How a value field (scalar, enum, calc) reads its row, for the resolver and
    the compiled read alike: its type, the expression the field guard shows (over
    `m`), the suffix that flattens an optional value, the test that the value is
    present (over `{v}`: what the audit of reads counts as read) and the columns
    the expression reads. None for a relation or an `ext` field."""
    kind, args = f['kind'], f['args']
    if kind in SCALARS:
        ty, expr = SCALARS[kind]
        expr = expr.format(c=snake(f['name']))
        present = 'matches!({v}, Some(Some(_)))' if ty.startswith('Option<') else '{v}.is_some()'
        return f'Option<{ty}>', expr, '', present, columns_of(expr)
    if kind in ('enum', 'oenum'):
        c = snake(f['name'])
        if kind == 'enum':
            return f'Option<{args[0]}View>', f'm.{c}.into()', '', '{v}.is_some()', [c]
        return f'Option<{args[0]}View>', f'm.{c}.map(Into::into)', '.flatten()', '{v}.is_some()', [c]
    if kind == 'calc':
        ty, expr = args[0], ' '.join(args[1:])
        opt = ty.startswith('Option<')
        return (ty if opt else f'Option<{ty}>'), expr, '.flatten()' if opt else '', '{v}.is_some()', columns_of(expr)
    return None

def render(types):
    by_name = {t['name']: t for t in types}
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
    w('use crate::graphql::scalars::{Date, Timestamp};')
    w('use entity::*;')
    w('')
    w('use super::enums::*;')
    w('use super::relations::*;')
    w('use crate::{authz::{gateway::Projected, keys, Object as Obj}, error::GqlResult, graphql::guard::show, ids};')
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
        w(f'/// {t["desc"]}')
        w(f'#[Object(name = "{name}", visible = "vis::type_{snake(name)}")]')
        w(f'impl {view} {{')
        if t['id']:
            # A type identified by a natural key (`id=<column>`), not a UUID.
            w(f'    /// Global id of the {name}.')
            w(f'    #[graphql(visible = "vis::type_{snake(name)}")]')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("{name}", &self.0.{t["id"]}))')
            w('    }')
        else:
            w(f'    /// Global id.')
            w(f'    #[graphql(visible = "vis::type_{snake(name)}")]')
            w('    pub async fn id(&self) -> ID {')
            w(f'        ID(ids::encode("{name}", self.0.id))')
            w('    }')
        for f in t['fields']:
            key = key_const(name, f['name'])
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
                    w(f'            self.audit(ctx, {key});')
                    w('        }')
                    w('        Ok(v)' if ok else '        v')
                else:
                    w(f'        Ok({value})' if ok else f'        {value}')

            vf = value_field(f)
            if vf:
                ty, expr, flat, present, _ = vf
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> {ty} {{')
                w(f'        let m = &self.0;')
                finish(f'show(ctx, {key}, self.own(ctx), || {expr}){flat}', present.format(v='v'))
                w('    }')
            elif kind == 'one':
                target, tmod, keyexpr = args[0], args[1], ' '.join(args[2:])
                tid = by_name[target]['id'] if target in by_name else None
                pk = camel_upper(tid) if tid else 'Id'
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> GqlResult<Option<{target}View>> {{')
                w(f'        let m = &self.0;')
                w(f'        let own = self.own(ctx);')
                finish(f'rel_one::<{tmod}::Entity, _>(ctx, {key}, own, {tmod}::Column::{pk}, {keyexpr}, |r| r.{snake(pk)}.clone()).await?.map({target}View)', 'v.is_some()', ok=True)
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
                w(f'        let rows = rel_many::<{tmod}::Entity, _>(ctx, {key}, own, {tmod}::Column::{fkcol}, {keyexpr}.clone(), {keyof}, {tmod}::Column::{order}).await?;')
                if kind == 'many':
                    finish(f'rows.map(|v| v.into_iter().map({target}View).collect::<Vec<_>>())', 'v.as_ref().is_some_and(|x| !x.is_empty())', ok=True)
                elif kind == 'first':
                    finish(f'rows.and_then(|v| v.into_iter().next()).map({target}View)', 'v.is_some()', ok=True)
                else:
                    finish(f'rows.and_then(|v| v.into_iter().last()).map({target}View)', 'v.is_some()', ok=True)
                w('    }')
            elif kind == 'ext':
                if audit:
                    sys.exit(f'{name}.{f["name"]}: an ext field cannot be audited by the generator')
                # A field the spec language cannot express: hand-written in
                # `api/views_ext.rs`, which applies the field guard itself.
                w(f'    async fn {fn}(&self, ctx: &Context<\'_>) -> {args[0]} {{')
                w(f'        super::views_ext::{snake(name)}_{snake(f["name"])}(self, ctx).await')
                w('    }')
            else:
                sys.exit(f'unknown kind {kind} in {key}')
        w('}')
        w('')
        w(f'impl {view} {{')
        w('    /// Whether the row is the principal\'s own (for fields shown on own rows only).')
        w('    #[allow(unused_variables)]')
        w('    pub(super) fn own(&self, ctx: &Context<\'_>) -> bool {')
        if t['own']:
            w(f'        let m = &self.0;')
            w(f'        is_me(ctx, {t["own"]})')
        else:
            w('        false')
        w('    }')
        owner = owner_expr(t)
        if owner:
            w('    /// For the audit trail: the field `key` of the row is in the response.')
            w('    pub(super) fn audit(&self, ctx: &Context<\'_>, key: crate::authz::FieldKey) {')
            w('        let m = &self.0;')
            w(f'        crate::graphql::guard::audit_read(ctx, key, ("{mod}", m.id), || {owner});')
            w('    }')
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
        if t['login']:
            # `switchProfile` answers with them: shown (with their ids) on the login surface too.
            w(f'    pub fn type_{snake(t["name"])}(ctx: &Context<\'_>) -> bool {{ reads(ctx, Object::{t["name"]}) || !crate::graphql::visibility::signed_in(ctx) }}')
        else:
            w(f'    pub fn type_{snake(t["name"])}(ctx: &Context<\'_>) -> bool {{ reads(ctx, Object::{t["name"]}) }}')
        for f in t['fields']:
            n = f['name']
            # A relation is shown when its target type is too (the schema shown stays closed).
            target = f' && reads(ctx, Object::{f["args"][0]})' if f['kind'] in ('one', 'many', 'first', 'last') else ''
            w(f'    pub fn {snake(t["name"])}_{snake(n)}(ctx: &Context<\'_>) -> bool {{ field(ctx, crate::authz::{key_const(t["name"], n)}){target} }}')
    w('}')
    w('')
    w('/// Types whose rows can be the principal\'s own (field scope `own` is defined for them).')
    w('pub use crate::authz::keys::OWN_ROW_TYPES;')
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

def col_of(expr, what):
    """The one column of the row an expression of the spec reads (`Some(m.household_id)`)."""
    cols = re.findall(r'\bm\.(\w+)', expr)
    if len(set(cols)) != 1:
        sys.exit(f'{what}: the expression {expr} must read exactly one column of the row')
    return cols[0]

def columns_of(expr):
    """The columns of the row an expression reads, or ['*'] when it takes the whole
    row (`next_check_due(m)`)."""
    if re.search(r'\bm\b(?!\.)', expr):
        return ['*']
    return sorted(set(re.findall(r'\bm\.(\w+)', expr)))

def rust_strs(cols):
    return '&[' + ', '.join('"%s"' % c for c in cols) + ']'

def compiled_rs(types):
    """The compiled reads of the governed types (`api::compiled`): the same field
    guard, relations and audit of reads as the resolvers of views.rs, over rows
    that one statement fetched."""
    by_name = {t['name']: t for t in types}
    out = []
    w = out.append
    w('//! The compiled reads of the governed types (see `api::compiled`). GENERATED by')
    w('//! `tools/gen_views.py` from `tools/views.spec`: edit the spec, not this file.')
    w('//!')
    w('//! Each field reads as its resolver in `views.rs` does: the same field guard, the')
    w('//! same owner of the row, the same relation guard and the same audit of reads;')
    w('//! only where the rows come from differs (one statement for the whole operation).')
    w('//! A field the generator cannot compile (`ext`) is `None`: the operation runs')
    w('//! through the executor.')
    w('#![allow(clippy::clone_on_copy, clippy::redundant_closure)]')
    w('')
    w('use async_graphql::ID;')
    w('use crate::graphql::scalars::{Date, Timestamp};')
    w('use entity::*;')
    w('')
    w('use super::compiled::{plan_rel, Card, CompiledView, Field, RelSpec};')
    w('use super::enums::*;')
    w('use super::views::*;')
    w('use crate::{authz::{keys, FieldKey, Object as Obj}, graphql::out::{Out, ReadCtx}, ids};')
    w('')
    for t in types:
        name, mod = t['name'], t['module']
        view = f'{name}View'
        w(f'impl CompiledView for {view} {{')
        w(f'    type Entity = {mod}::Entity;')
        w(f'    const TYPE: &\'static str = "{name}";')
        w(f'    const OBJECT: Obj = Obj::{name};')
        own_col = col_of(t['own'], f'{name} own') if t['own'] else None
        own_const = f'Some("{own_col}")' if own_col else 'None'
        w(f'    const OWN_COLUMN: Option<&\'static str> = {own_const};')
        w(f'    fn decode(row: serde_json::Value) -> serde_json::Result<Self> {{')
        w(f'        serde_json::from_value(row).map({view})')
        w('    }')
        w(f'    fn model(&self) -> &{mod}::Model {{')
        w('        &self.0')
        w('    }')
        w('    #[allow(unused_variables)]')
        w('    fn own_in(&self, rc: &ReadCtx) -> bool {')
        if t['own']:
            w('        let m = &self.0;')
            w(f'        rc.is_me({t["own"]})')
        else:
            w('        false')
        w('    }')
        owner = owner_expr(t)
        audit_cols = sorted(set(['id'] + columns_of(owner))) if owner else []
        w(f'    const AUDIT_COLUMNS: &\'static [&\'static str] = {rust_strs(audit_cols)};')
        w('    #[allow(unused_variables)]')
        w('    fn audit_in(&self, rc: &ReadCtx, key: FieldKey) {')
        if owner:
            w('        let m = &self.0;')
            w(f'        rc.authz.record_read(key, ("{mod}", m.id), || {owner});')
        w('    }')
        w('    fn field(name: &str) -> Option<Field<Self>> {')
        w('        Some(match name {')
        if t['id']:
            w(f'            "id" => Field::Value(|v, _| ID(ids::encode("{name}", &v.0.{t["id"]})).out(), &["{t["id"]}"]),')
        else:
            w(f'            "id" => Field::Value(|v, _| ID(ids::encode("{name}", v.0.id)).out(), &["id"]),')
        for f in t['fields']:
            key = key_const(name, f['name'])
            kind, args = f['kind'], f['args']
            audit = audited(t, f)
            def value(ty, expr, present, cols):
                body = f'let m = &v.0; let x: {ty} = {expr};'
                if audit:
                    body += f' if {present} {{ v.audit_in(rc, {key}); }}'
                w(f'            "{f["name"]}" => Field::Value(|v, rc| {{ {body} x.out() }}, {rust_strs(cols)}),')
            vf = value_field(f)
            if vf:
                ty, expr, flat, present, cols = vf
                value(ty, f'rc.show({key}, v.own_in(rc), || {expr}){flat}', present.format(v='x'), cols)
            elif kind in ('one', 'many', 'first', 'last'):
                target = args[0]
                tmod = args[1]
                if kind == 'one':
                    keyexpr = ' '.join(args[2:])
                    tid = by_name[target]['id'] if target in by_name else None
                    tcol = tid or 'id'
                    order = tcol
                    has_key = f'|v| {{ let m = &v.0; ({keyexpr}).is_some() }}'
                    card = 'One'
                else:
                    keyexpr = args[3]
                    tcol = snake(args[2])
                    order = snake(args[4]) if len(args) > 4 else 'id'
                    has_key = '|_| true'
                    card = {'many': 'Many', 'first': 'First', 'last': 'Last'}[kind]
                pcol = col_of(keyexpr, f'{name}.{f["name"]}')
                w(f'            "{f["name"]}" => Field::Rel(RelSpec {{ key: {key}, card: Card::{card}, parent_column: "{pcol}", '
                  f'target_column: "{tcol}", order_column: "{order}", has_key: {has_key}, audit: {"true" if audit else "false"}, '
                  f'plan: plan_rel::<{view}, {target}View> }}),')
            elif kind == 'ext':
                w(f'            "{f["name"]}" => return None,')
            else:
                sys.exit(f'unknown kind {kind} in {key}')
        w('            _ => return None,')
        w('        })')
        w('    }')
        w('}')
        w('')
    return '\n'.join(out) + '\n'

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
        out.append('')
    return '\n'.join(out)

def node_rs(types):
    """`node(id:)` over every governed type: nothing to forget when a type is added."""
    out = ['//! `node(id:)`: any object by global id, under the same authorization as every',
           '//! other path. An id out of the viewer\'s scope answers exactly like an id that',
           '//! does not exist. GENERATED by `tools/gen_views.py` from `tools/views.spec`:',
           '//! every governed type is a `Node`.',
           '',
           'use async_graphql::{Context, Interface, Object, ID};',
           'use entity::*;',
           'use uuid::Uuid;',
           '',
           'use super::views::*;',
           'use crate::{',
           '    authz::gateway::Gateway,',
           '    error::{AppError, GqlResult, ResultExt},',
           '    graphql::node::{by_id, not_found},',
           '    ids,',
           '};',
           '',
           '/// An object with a global id.',
           '#[derive(Interface)]',
           '#[graphql(field(name = "id", ty = "ID", desc = "Global id."))]',
           'pub enum Node {']
    for t in types:
        out.append(f'    {t["name"]}({t["name"]}View),')
    out += ['}',
            '',
            'pub async fn node(gw: &Gateway, id: &ID) -> GqlResult<Node> {',
            '    let (kind, key) = ids::decode("id", id).gql()?;',
            '    let uuid = || Uuid::parse_str(&key).map_err(|_| AppError::validation("id", "not a valid id")).gql();',
            '    Ok(match kind.as_str() {']
    for t in types:
        n, m = t['name'], t['module']
        if t['id']:
            col = camel_upper(t['id'])
            out += [f'        "{n}" => {{',
                    f'            let rows = gw.by_keys::<{m}::Entity, String>({m}::Column::{col}, std::slice::from_ref(&key), None).await.gql()?;',
                    f'            Node::{n}({n}View(rows.into_iter().next().ok_or_else(|| not_found("{n}")).gql()?))',
                    '        }']
        else:
            out.append(f'        "{n}" => Node::{n}({n}View(by_id::<{m}::Entity>(gw, {m}::Column::Id, uuid()?, "{n}").await.gql()?)),')
    out += ['        _ => return Err(not_found("object")).gql(),',
            '    })',
            '}',
            '',
            '#[derive(Default)]',
            'pub struct NodeQuery;',
            '',
            '/// Ids one `nodes` may ask for.',
            'pub const MAX_NODES: usize = 100;',
            '',
            '#[Object]',
            'impl NodeQuery {',
            '    /// Any object by its global id: null, with a `NOT_FOUND` error, when there is none',
            '    /// the viewer may see (a missing id and one out of scope answer alike).',
            '    #[graphql(visible = "crate::graphql::visibility::node")]',
            '    async fn node(',
            '        &self,',
            '        ctx: &Context<\'_>,',
            '        #[graphql(desc = "Global id, as the `id` field gives it. An id the role may not see answers as one that does not exist.")]',
            '        id: ID,',
            '    ) -> GqlResult<Option<Node>> {',
            '        node(crate::graphql::context::gateway(ctx)?, &id).await.map(Some)',
            '    }',
            '    /// Objects by their global ids (at most 100), in the order asked: null for an id',
            '    /// with none the viewer may see (a missing id and one out of scope answer alike).',
            '    #[graphql(',
            '        visible = "crate::graphql::visibility::node",',
            '        complexity = "crate::graphql::limits::page_cost(Some(ids.len().min(MAX_NODES) as i32), child_complexity)"',
            '    )]',
            '    async fn nodes(',
            '        &self,',
            '        ctx: &Context<\'_>,',
            '        #[graphql(desc = "Global ids (at most 100), each answered as `node(id:)` would.")]',
            '        ids: Vec<ID>,',
            '    ) -> GqlResult<Vec<Option<Node>>> {',
            '        if ids.len() > MAX_NODES {',
            '            return Err(AppError::Limit(format!("nodes: {} ids, over the limit of {MAX_NODES}", ids.len()))).gql();',
            '        }',
            '        let gw = crate::graphql::context::gateway(ctx)?;',
            '        let mut out = Vec::with_capacity(ids.len());',
            '        for (i, id) in ids.iter().enumerate() {',
            '            let field = format!("ids[{i}]");',
            '            ids::decode(&field, id).gql()?;',
            '            out.push(match node(gw, id).await {',
            '                Ok(n) => Some(n),',
            '                Err(e) => match e.extensions.as_ref().and_then(|x| x.get("code")) {',
            '                    Some(async_graphql::Value::String(c)) if c == "NOT_FOUND" => None,',
            '                    Some(async_graphql::Value::String(c)) if c == "VALIDATION" => {',
            '                        return Err(AppError::validation(field, "not a valid id")).gql()',
            '                    }',
            '                    _ => return Err(e),',
            '                },',
            '            });',
            '        }',
            '        Ok(out)',
            '    }',
            '}',
            '']
    return '\n'.join(out)

def static_fields():
    """`Type.field` of the hand-written output types, from their hand-written
    classification (policies/fields_static.csv)."""
    keys = []
    for raw in open(os.path.join(ROOT, 'policies/fields_static.csv')):
        line = raw.strip()
        if line and not line.startswith('#'):
            keys.append(line.split(',')[0].strip())
    return keys

def keys_rs(types):
    """One constant per field key: the only way to name a field to the field rules."""
    groups = {}
    for t in types:
        groups.setdefault(t['name'], ['id'] + [f['name'] for f in t['fields']])
    for k in static_fields():
        ty, f = k.split('.', 1)
        groups.setdefault(ty, []).append(f)
    out = ['//! The key of every field the field rules know, `Type.field`. GENERATED by',
           '//! `tools/gen_views.py` from `tools/views.spec` (governed types) and',
           '//! `policies/fields_static.csv` (hand-written output types): a key is named',
           '//! through these constants only, so a misspelt key does not compile.',
           '']
    owns = ', '.join('"%s"' % t['name'] for t in types if t['own'])
    out.append('/// Types whose rows can be the principal\'s own (field scope `own` is defined for them).')
    out.append(f'pub const OWN_ROW_TYPES: &[&str] = &[{owns}];')
    out.append('')
    for ty, fields in groups.items():
        out.append(f'/// Fields of `{ty}`.')
        out.append(f'pub mod {snake(ty)} {{')
        out.append('    use crate::authz::FieldKey;')
        for f in fields:
            out.append(f'    pub const {snake(f).upper()}: FieldKey = FieldKey("{ty}.{f}");')
        out.append('}')
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
    'src/authz/keys.rs': rustfmt(keys_rs(types)),
    'src/api/node.rs': rustfmt(node_rs(types)),
    'src/api/views_compiled.rs': rustfmt(compiled_rs(types)),
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
