//! Compiled reads: a query whose every field the compiler knows is answered from
//! one SQL statement instead of the executor's resolvers and one statement per
//! nesting level.
//!
//! The plan walks the operation beside the role's views: each root the compiler
//! knows (`ROOTS`) builds its rows' `SELECT` through the gateway (the row rule,
//! the hidden columns' placeholders, the list's filter, the keyset page), and each
//! relation selected becomes a correlated subquery under the target's own row
//! rule, aggregated into JSON (`json_agg`), so PostgreSQL returns the whole answer
//! as one JSON value. Rendering then reads every field through the code the
//! generator wrote for it from the same spec as the resolvers
//! (`api/views_compiled.rs`): the same field guard and redactions, the same owner
//! of a row, the same relation guard, the same audit of reads. Nothing about
//! who sees what is decided here.
//!
//! Fields are collected as the executor collects them: fragments (spread or
//! inline) on the type itself or on `Node` inlined, `@skip`/`@include` applied,
//! fields under one response key merged. Anything the compiler does not know —
//! a mutation, a root or field it has no plan for, another directive, a fragment
//! on another type, an argument it cannot read, a refusal the executor words (a
//! page over the cap, a bad cursor, a missing id), a complexity that may be over
//! the limit — is a [`Fallback`]: the request runs through the executor, which
//! stays the authority. The HTTP layer only compiles a document the executor has
//! validated once for the same role and shape of variables (the schema is per
//! role). PostgreSQL only; SQLite runs through the executor.

use std::fmt::Write as _;

use async_graphql::{
    indexmap::IndexMap,
    parser::types::{DocumentOperations, ExecutableDocument, Field as QField, OperationType, Selection, SelectionSet},
    InputType, Name, Positioned, Response, Value, Variables,
};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SubQueryStatement},
    ConnectionTrait, DatabaseBackend, EntityName, EntityTrait, IdenStatic, Iterable, PrimaryKeyToColumn, QueryFilter,
    QueryTrait, Select,
};

use crate::{
    authz::{
        gateway::{encode_cursor, Direction, Gateway, Projected, SortKey},
        FieldKey, FieldScope, Object,
    },
    graphql::{
        limits::{nested_cost, page_cost, MAX_COMPLEXITY},
        out::{Out, ReadCtx, Step},
    },
    principal::Actor,
};

/// The operation runs through the executor (see the module's documentation).
#[derive(Debug)]
pub struct Fallback;

pub type Plan<T> = Result<T, Fallback>;

impl From<crate::error::AppError> for Fallback {
    fn from(_: crate::error::AppError) -> Self {
        Fallback
    }
}

/// How many rows of the target a relation answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// The row whose key column is the parent's key (`one`).
    One,
    /// Every row whose foreign key is the parent's key, in order (`many`).
    Many,
    /// The first of those rows (`first`).
    First,
    /// The last of those rows (`last`).
    Last,
}

/// A relation of a governed type, as the spec declares it.
pub struct RelSpec<V> {
    pub key: FieldKey,
    pub card: Card,
    /// The parent's column holding the key.
    pub parent_column: &'static str,
    /// The target's column matched against it.
    pub target_column: &'static str,
    /// The target's column the rows are ordered by (then by primary key).
    pub order_column: &'static str,
    /// Whether the parent has a key at all (a null key is no relation and no redaction).
    pub has_key: fn(&V) -> bool,
    /// Whether a returned relation records the parent as read.
    pub audit: bool,
    /// Plans the relation's selection on its target type.
    pub plan: RelPlanner<V>,
}

/// Plans a relation's selection on its target type (`plan_rel::<Parent, Target>`).
pub type RelPlanner<V> =
    fn(&RelSpec<V>, &[&SelectionSet], &mut Planner<'_>, &str) -> Plan<Planned<Box<dyn RelNode<V>>>>;

impl<V> Clone for RelSpec<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for RelSpec<V> {}

/// How a field of a governed type is read.
pub enum Field<V> {
    /// A value of the row (through the field guard, audited when it must be),
    /// and the columns it reads (`*`: the whole row).
    Value(fn(&V, &ReadCtx) -> Value, &'static [&'static str]),
    /// A relation to rows of another governed type.
    Rel(RelSpec<V>),
}

/// A governed type's view, as the compiled reads use it (generated).
pub trait CompiledView: Sized + Send + Sync + 'static {
    type Entity: Projected;
    const TYPE: &'static str;
    const OBJECT: Object;
    /// The column naming the row's owner, when rows can be the principal's own.
    const OWN_COLUMN: Option<&'static str>;
    /// The columns the audit of a read of the row reads (its owner).
    const AUDIT_COLUMNS: &'static [&'static str];
    /// The row from its JSON: the columns selected, the others left at their
    /// defaults (no field reads them).
    fn decode(row: serde_json::Value) -> serde_json::Result<Self>;
    fn model(&self) -> &<Self::Entity as EntityTrait>::Model;
    /// Whether the row is the principal's own.
    fn own_in(&self, rc: &ReadCtx) -> bool;
    /// Records the row as read for the field `key` (types whose reads are audited).
    fn audit_in(&self, rc: &ReadCtx, key: FieldKey);
    /// How the field `name` is read; `None` when it cannot be compiled.
    fn field(name: &str) -> Option<Field<Self>>;
}

/// A part of the plan: what renders it, the SQL that fetches it, and its
/// complexity as the executor weighs it.
pub struct Planned<T> {
    pub node: T,
    pub sql: Option<Expr>,
    pub complexity: usize,
}

/// Renders a relation of a parent row from the JSON its subquery returned.
pub trait RelNode<P>: Send + Sync {
    /// `occurrences`: how many times the executor would resolve the relation.
    fn render(&self, parent: &P, json: serde_json::Value, occurrences: usize, rc: &ReadCtx) -> Plan<Value>;
}

/// Renders a root field from the JSON its part of the statement returned.
pub trait RootNode: Send + Sync {
    fn render(&self, json: serde_json::Value, rc: &ReadCtx) -> Plan<Value>;
}

/// The planning of one operation.
pub struct Planner<'a> {
    pub gw: &'a Gateway,
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    defs: &'a [Positioned<async_graphql::parser::types::VariableDefinition>],
    aliases: usize,
}

impl<'a> Planner<'a> {
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The argument `name` of `field`, read as the resolver's parameter would be
    /// (variables and their defaults resolved, then `InputType::parse`).
    pub fn arg<T: InputType>(&self, field: &QField, name: &str) -> Plan<T> {
        let value = match field.get_argument(name) {
            None => None,
            Some(v) => Some(v.node.clone().into_const_with(|var| self.var(&var))?),
        };
        T::parse(value).map_err(|_| Fallback)
    }

    /// That a selection's `@skip`/`@include` keep it (any other directive: the
    /// executor answers). The executor reads their `if` from the variables
    /// sent only (a default does not count), and weighs a skipped selection in
    /// the operation's complexity: a selection they leave out, or a variable not
    /// sent, is the executor's to answer.
    fn directives(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> Plan<()> {
        let mut keep = true;
        for d in directives {
            let d = &d.node;
            let skip = match d.name.node.as_str() {
                "skip" => true,
                "include" => false,
                _ => return Err(Fallback),
            };
            if d.arguments.len() != 1 || d.arguments[0].0.node != "if" {
                return Err(Fallback);
            }
            let value =
                d.arguments[0].1.node.clone().into_const_with(|var| self.vars.get(&var).cloned().ok_or(Fallback))?;
            let async_graphql::Value::Boolean(b) = value else { return Err(Fallback) };
            keep &= b != skip;
        }
        if !keep {
            return Err(Fallback);
        }
        Ok(())
    }

    /// The value of the variable `name`: given, or its default.
    fn var(&self, name: &Name) -> Plan<async_graphql::Value> {
        if let Some(v) = self.vars.get(name) {
            return Ok(v.clone());
        }
        self.defs
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value().cloned())
            .ok_or(Fallback)
    }

    /// The fields of selection sets on the type `on`, collected as the executor
    /// does: fragments (spread or inline) that apply to the type inlined,
    /// `@skip`/`@include` applied, and the fields under one response key merged
    /// (their selections together), in the order they first appear.
    /// `node`: the type is a `Node` (every governed type is).
    fn collect<'s>(&self, sets: &[&'s SelectionSet], on: &str, node: bool) -> Plan<Vec<Collected<'s>>>
    where
        'a: 's,
    {
        let mut out: Vec<Collected<'s>> = Vec::new();
        for set in sets {
            self.collect_into(set, on, node, &mut out, 0)?;
        }
        Ok(out)
    }

    fn collect_into<'s>(
        &self,
        set: &'s SelectionSet,
        on: &str,
        node: bool,
        out: &mut Vec<Collected<'s>>,
        depth: usize,
    ) -> Plan<()>
    where
        'a: 's,
    {
        // Fragment cycles are refused by validation; the bound is a second lock.
        if depth > 32 {
            return Err(Fallback);
        }
        let applies = |cond: &Name| cond.as_str() == on || (node && cond.as_str() == "Node");
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    self.directives(&f.directives)?;
                    let key = &f.response_key().node;
                    match out.iter_mut().find(|c| c.field.response_key().node == *key) {
                        Some(c) => {
                            // Under one key, occurrences in fragments on different
                            // types need not be the same field: the executor resolves
                            // each apart; only identical ones are merged here.
                            if c.field.name.node != f.name.node || c.field.arguments != f.arguments {
                                return Err(Fallback);
                            }
                            c.sets.push(&f.selection_set.node);
                            c.occurrences += 1;
                        }
                        None => out.push(Collected { field: f, sets: vec![&f.selection_set.node], occurrences: 1 }),
                    }
                }
                Selection::InlineFragment(fr) => {
                    let fr = &fr.node;
                    self.directives(&fr.directives)?;
                    match &fr.type_condition {
                        Some(c) if !applies(&c.node.on.node) => return Err(Fallback),
                        _ => self.collect_into(&fr.selection_set.node, on, node, out, depth + 1)?,
                    }
                }
                Selection::FragmentSpread(sp) => {
                    let sp = &sp.node;
                    self.directives(&sp.directives)?;
                    let fr = &self.doc.fragments.get(&sp.fragment_name.node).ok_or(Fallback)?.node;
                    if !fr.directives.is_empty() || !applies(&fr.type_condition.node.on.node) {
                        return Err(Fallback);
                    }
                    self.collect_into(&fr.selection_set.node, on, node, out, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// A selection on the governed type `W`, whose rows the statement names
    /// `alias`; the columns it reads and the subqueries of its relations are
    /// added to the row's `parts`.
    pub fn selection<W: CompiledView>(
        &mut self,
        sets: &[&SelectionSet],
        alias: &str,
        parts: &mut RowParts,
    ) -> Plan<TypeSel<W>> {
        let mut fields = Vec::new();
        let mut complexity = 0usize;
        // What every read of a row may use: its key, its owner, its audit.
        for k in <W::Entity as EntityTrait>::PrimaryKey::iter() {
            parts.column(k.into_column().as_str());
        }
        parts.columns(W::OWN_COLUMN.as_slice());
        parts.columns(W::AUDIT_COLUMNS);
        for c in self.collect(sets, W::TYPE, true)? {
            let f = c.field;
            let key = f.response_key().node.clone();
            let name = f.name.node.as_str();
            if name == "__typename" {
                fields.push((key, Item::Typename));
                complexity += c.occurrences;
                continue;
            }
            if !f.arguments.is_empty() {
                return Err(Fallback);
            }
            match W::field(name).ok_or(Fallback)? {
                Field::Value(read, columns) => {
                    if c.sets.iter().any(|s| !s.items.is_empty()) {
                        return Err(Fallback);
                    }
                    parts.columns(columns);
                    fields.push((key, Item::Value(read, c.occurrences)));
                    complexity += c.occurrences;
                }
                Field::Rel(spec) => {
                    parts.column(spec.parent_column);
                    let p = (spec.plan)(&spec, &c.sets, self, alias)?;
                    let slot = p.sql.map(|sql| parts.relation(sql));
                    fields.push((key, Item::Rel(slot, p.node, c.occurrences)));
                    // Merged selections weigh at most this (the executor weighs each).
                    complexity = complexity.saturating_add(p.complexity.saturating_mul(c.occurrences));
                }
            }
        }
        Ok(TypeSel { fields, complexity })
    }

    /// A Relay connection over the rows of `select` (row rule and filter applied),
    /// in the order of `sort`: `first`/`after` as the gateway's `page` reads them.
    pub fn connection<W: CompiledView>(
        &mut self,
        root: &Collected<'_>,
        select: Select<W::Entity>,
        sort: SortKey<W::Entity>,
        first: Option<i32>,
        after: Option<String>,
    ) -> RootPlan {
        let size = self.gw.page_size(first)?;
        if self.gw.hidden_columns::<W::Entity>().iter().any(|c| c.as_str() == sort.column.as_str()) {
            // The list is ordered by the table's value, the page by the placeholder.
            return Err(Fallback);
        }
        let count_stmt = select.clone().into_query();
        let page = self.gw.page_select(select, &sort, after.as_deref(), size)?.into_query();
        let alias = self.alias();
        let mut parts = RowParts::default();
        parts.column(sort.column.as_str());
        parts.column(sort.id.as_str());
        let mut items = Vec::new();
        let mut children = 0usize;
        let mut count = false;
        let connection_type = format!("{}Connection", W::TYPE);
        let edge_type = format!("{}Edge", W::TYPE);
        for cf in self.collect(&root.sets, &connection_type, false)? {
            let f = cf.field;
            let n = cf.occurrences;
            if !f.arguments.is_empty() {
                return Err(Fallback);
            }
            let key = f.response_key().node.clone();
            let item = match f.name.node.as_str() {
                "__typename" => {
                    children += n;
                    ConnItem::Typename
                }
                "totalCount" => {
                    children += n;
                    count = true;
                    ConnItem::TotalCount
                }
                "nodes" => {
                    let sel = self.selection::<W>(&cf.sets, &alias, &mut parts)?;
                    children = children.saturating_add((1 + sel.complexity).saturating_mul(n));
                    ConnItem::Nodes(sel)
                }
                "edges" => {
                    let mut edge = Vec::new();
                    let mut c = 0usize;
                    for ce in self.collect(&cf.sets, &edge_type, false)? {
                        let e = ce.field;
                        if !e.arguments.is_empty() {
                            return Err(Fallback);
                        }
                        let k = e.response_key().node.clone();
                        match e.name.node.as_str() {
                            "__typename" => {
                                c += ce.occurrences;
                                edge.push((k, EdgeItem::Typename));
                            }
                            "cursor" => {
                                c += ce.occurrences;
                                edge.push((k, EdgeItem::Cursor));
                            }
                            "node" => {
                                let sel = self.selection::<W>(&ce.sets, &alias, &mut parts)?;
                                c = c.saturating_add((1 + sel.complexity).saturating_mul(ce.occurrences));
                                edge.push((k, EdgeItem::Node(sel)));
                            }
                            _ => return Err(Fallback),
                        }
                    }
                    children = children.saturating_add((1 + c).saturating_mul(n));
                    ConnItem::Edges(edge)
                }
                "pageInfo" => {
                    let mut info = Vec::new();
                    let mut c = 0usize;
                    for ce in self.collect(&cf.sets, "PageInfo", false)? {
                        let e = ce.field;
                        if !e.arguments.is_empty() {
                            return Err(Fallback);
                        }
                        c += ce.occurrences;
                        let k = e.response_key().node.clone();
                        info.push((
                            k,
                            match e.name.node.as_str() {
                                "__typename" => PageItem::Typename,
                                "hasNextPage" => PageItem::HasNext,
                                "hasPreviousPage" => PageItem::HasPrevious,
                                "startCursor" => PageItem::Start,
                                "endCursor" => PageItem::End,
                                _ => return Err(Fallback),
                            },
                        ));
                    }
                    children = children.saturating_add((1 + c).saturating_mul(n));
                    ConnItem::PageInfo(info)
                }
                _ => return Err(Fallback),
            };
            items.push((key, item));
        }
        let order = |col: &str| {
            let dir = if sort.direction == Direction::Asc { "ASC" } else { "DESC" };
            format!("\"{alias}\".\"{col}\" {dir}")
        };
        let order_by = format!("{}, {}", order(sort.column.as_str()), order(sort.id.as_str()));
        let rows = aggregate(&alias, page, parts, &order_by);
        let total = if count {
            let mut q = Query::select();
            q.expr(Expr::cust("COUNT(*)")).from_subquery(count_stmt, Alias::new("counted"));
            subquery(q)
        } else {
            Expr::cust("NULL")
        };
        Ok(Planned {
            node: Box::new(Connection::<W> { items, sort, size, has_previous: after.is_some() }),
            sql: Some(Expr::cust_with_exprs("json_build_array($1, $2)", [rows, total])),
            complexity: page_cost(first, children),
        })
    }

    /// One row of `select` (row rule applied), or the executor's answer when there
    /// is none.
    pub fn one_row<W: CompiledView>(&mut self, root: &Collected<'_>, select: Select<W::Entity>) -> RootPlan {
        let alias = self.alias();
        let mut parts = RowParts::default();
        let sel = self.selection::<W>(&root.sets, &alias, &mut parts)?;
        let complexity = 1 + sel.complexity;
        let mut q = Query::select();
        q.expr(row_json(&alias, parts)).from_subquery(select.into_query(), Alias::new(&alias)).limit(1);
        Ok(Planned { node: Box::new(OneRow(sel)), sql: Some(subquery(q)), complexity })
    }
}

/// `(SELECT …)` as an expression.
fn subquery(q: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(q)))
}

/// What the JSON of a row carries: the columns its fields read (or all of
/// them), and its relations' subqueries.
#[derive(Default)]
pub struct RowParts {
    columns: std::collections::BTreeSet<&'static str>,
    whole: bool,
    rels: Vec<Expr>,
}

impl RowParts {
    fn column(&mut self, c: &'static str) {
        if c == "*" {
            self.whole = true;
        } else {
            self.columns.insert(c);
        }
    }

    fn columns(&mut self, cs: &[&'static str]) {
        for c in cs {
            self.column(c);
        }
    }

    /// Adds a relation's subquery; its place in the row's JSON.
    fn relation(&mut self, sql: Expr) -> usize {
        self.rels.push(sql);
        self.rels.len()
    }

    /// `json_build_array(<row>, rel1, rel2, …)`, the row an object of its columns
    /// (`row_to_json` when a field reads the whole row).
    fn template(&self, alias: &str) -> String {
        let mut t = String::from("json_build_array(");
        if self.whole || self.columns.len() > 50 {
            let _ = write!(t, "row_to_json(\"{alias}\")");
        } else {
            t.push_str("json_build_object(");
            for (i, c) in self.columns.iter().enumerate() {
                let _ = write!(t, "{}'{c}', \"{alias}\".\"{c}\"", if i == 0 { "" } else { ", " });
            }
            t.push(')');
        }
        for i in 0..self.rels.len() {
            let _ = write!(t, ", ${}", i + 1);
        }
        t.push(')');
        t
    }
}

/// The JSON of a row of `alias`: `[row, rel1, rel2, …]`.
fn row_json(alias: &str, parts: RowParts) -> Expr {
    Expr::cust_with_exprs(parts.template(alias), parts.rels)
}

/// `(SELECT coalesce(json_agg(<row> ORDER BY …), '[]') FROM (<rows>) alias)`.
fn aggregate(alias: &str, rows: SelectStatement, parts: RowParts, order_by: &str) -> Expr {
    let template = format!("coalesce(json_agg({} ORDER BY {order_by}), '[]'::json)", parts.template(alias));
    let mut q = Query::select();
    q.expr(Expr::cust_with_exprs(template, parts.rels)).from_subquery(rows, Alias::new(alias));
    subquery(q)
}

/// The relation `spec` of `P` to rows of `W`, selected by `sets`; the parent's
/// rows are `parent` in the statement.
pub fn plan_rel<P: CompiledView, W: CompiledView>(
    spec: &RelSpec<P>,
    sets: &[&SelectionSet],
    pl: &mut Planner<'_>,
    parent: &str,
) -> Plan<Planned<Box<dyn RelNode<P>>>> {
    let alias = pl.alias();
    let mut parts = RowParts::default();
    let sel = pl.selection::<W>(sets, &alias, &mut parts)?;
    let complexity = if spec.card == Card::Many { nested_cost(sel.complexity) } else { 1 + sel.complexity };
    // Fetched only where the relation guard can let it through: the role reads
    // the field (on its own rows only, when its scope is `own`) and the target.
    let authz = &pl.gw.authz;
    let me = match &authz.principal.actor {
        Actor::Operator { operator_id, .. } => Some(*operator_id),
        _ => None,
    };
    let gate = match authz.field_scope(spec.key) {
        _ if !authz.can_read(W::OBJECT) => None,
        Some(FieldScope::Any) => Some(None),
        Some(FieldScope::Own) => match (P::OWN_COLUMN, me) {
            (Some(col), Some(me)) => Some(Some((col, me))),
            _ => None,
        },
        None => None,
    };
    // A key or order column the role may not read is a placeholder in the rows:
    // the executor's loaders match rows by the placeholder and order them by the
    // table's value; the compiler would match by the table's value and order by
    // the placeholder.
    // (Only where the relation is fetched: one the guard stops reads nothing.)
    if gate.is_some() {
        let hidden = |cols: Vec<&'static str>, names: &[&str]| names.iter().any(|n| cols.contains(n));
        let parent_hidden = pl.gw.hidden_columns::<P::Entity>().iter().map(|c| c.as_str()).collect();
        let target_hidden = pl.gw.hidden_columns::<W::Entity>().iter().map(|c| c.as_str()).collect();
        if hidden(parent_hidden, &[spec.parent_column])
            || hidden(target_hidden, &[spec.target_column, spec.order_column])
        {
            return Err(Fallback);
        }
    }
    let sql = match gate {
        None => None,
        Some(own) => {
            let table = W::Entity::default().table_name();
            let mut q = pl.gw.select::<W::Entity>()?.filter(
                Expr::col((Alias::new(table), Alias::new(spec.target_column)))
                    .eq(Expr::col((Alias::new(parent), Alias::new(spec.parent_column)))),
            );
            if let Some((col, me)) = own {
                q = q.filter(Expr::col((Alias::new(parent), Alias::new(col))).eq(me));
            }
            let rows = q.into_query();
            Some(if spec.card == Card::One {
                let mut one = Query::select();
                one.expr(row_json(&alias, parts)).from_subquery(rows, Alias::new(&alias)).limit(1);
                subquery(one)
            } else {
                let mut order_by = format!("\"{alias}\".\"{}\"", spec.order_column);
                for k in <W::Entity as EntityTrait>::PrimaryKey::iter() {
                    let pk = k.into_column();
                    if pk.as_str() != spec.order_column {
                        let _ = write!(order_by, ", \"{alias}\".\"{}\"", pk.as_str());
                    }
                }
                aggregate(&alias, rows, parts, &order_by)
            })
        }
    };
    let fetched = sql.is_some();
    Ok(Planned { node: Box::new(RelTo::<P, W> { spec: *spec, sel, fetched }), sql, complexity })
}

/// A planned selection on a governed type.
pub struct TypeSel<W> {
    fields: Vec<(Name, Item<W>)>,
    complexity: usize,
}

/// The items of a selection carry how many times the executor would resolve
/// them (once per path of occurrences through fragments and merged fields): it
/// records a redaction each time, and so do the compiled reads.
enum Item<W> {
    Typename,
    Value(fn(&W, &ReadCtx) -> Value, usize),
    /// A relation, and the place of its subquery in the row's JSON (none when
    /// the relation guard stops it for every row).
    Rel(Option<usize>, Box<dyn RelNode<W>>, usize),
}

impl<W: CompiledView> TypeSel<W> {
    /// The fields of `row`; `json` is the row's `[row, rel1, rel2, …]`.
    fn render(&self, row: &W, json: &mut [serde_json::Value], rc: &ReadCtx<'_>) -> Plan<Value> {
        let mut out = IndexMap::with_capacity(self.fields.len());
        for (key, item) in &self.fields {
            rc.push(Step::Key(key.clone()));
            let v = match item {
                Item::Typename => Value::String(W::TYPE.to_string()),
                Item::Value(read, n) => {
                    for _ in 1..*n {
                        read(row, rc);
                    }
                    read(row, rc)
                }
                Item::Rel(slot, node, n) => {
                    let j = match slot {
                        Some(i) => json.get_mut(*i).map(serde_json::Value::take).ok_or(Fallback)?,
                        None => serde_json::Value::Null,
                    };
                    node.render(row, j, *n, rc)?
                }
            };
            rc.pop();
            out.insert(key.clone(), v);
        }
        Ok(Value::Object(out))
    }
}

/// Decodes a row's JSON (`[row, rel1, …]`): the row, and the parts (the row's
/// place taken, the relations' at their slots).
fn decode_row<W: CompiledView>(json: serde_json::Value) -> Plan<(W, Vec<serde_json::Value>)> {
    let serde_json::Value::Array(mut parts) = json else { return Err(Fallback) };
    if parts.is_empty() {
        return Err(Fallback);
    }
    let row = W::decode(parts[0].take()).map_err(|e| {
        tracing::error!(ty = W::TYPE, error = %e, "a compiled read could not decode its row");
        Fallback
    })?;
    Ok((row, parts))
}

struct RelTo<P, W> {
    spec: RelSpec<P>,
    sel: TypeSel<W>,
    fetched: bool,
}

impl<P: CompiledView, W: CompiledView> RelNode<P> for RelTo<P, W> {
    fn render(&self, parent: &P, json: serde_json::Value, occurrences: usize, rc: &ReadCtx) -> Plan<Value> {
        if !(self.spec.has_key)(parent) {
            return Ok(Value::Null);
        }
        if !rc.may_follow(self.spec.key, parent.own_in(rc), W::OBJECT) {
            for _ in 1..occurrences {
                rc.may_follow(self.spec.key, parent.own_in(rc), W::OBJECT);
            }
            return Ok(Value::Null);
        }
        if !self.fetched {
            // The guard let through what the statement did not fetch: the two
            // disagree, and the executor answers.
            tracing::error!(key = %self.spec.key, "a compiled relation the guard follows was not fetched");
            return Err(Fallback);
        }
        let v = match self.spec.card {
            Card::One => {
                if json == serde_json::Value::Null {
                    Value::Null
                } else {
                    let (row, mut parts) = decode_row::<W>(json)?;
                    self.sel.render(&row, &mut parts, rc)?
                }
            }
            Card::Many => {
                let serde_json::Value::Array(rows) = json else { return Err(Fallback) };
                let mut list = Vec::with_capacity(rows.len());
                for (i, r) in rows.into_iter().enumerate() {
                    rc.push(Step::Index(i));
                    let (row, mut parts) = decode_row::<W>(r)?;
                    list.push(self.sel.render(&row, &mut parts, rc)?);
                    rc.pop();
                }
                Value::List(list)
            }
            Card::First | Card::Last => {
                let serde_json::Value::Array(mut rows) = json else { return Err(Fallback) };
                let pick = if self.spec.card == Card::First {
                    if rows.is_empty() {
                        None
                    } else {
                        Some(rows.swap_remove(0))
                    }
                } else {
                    rows.pop()
                };
                match pick {
                    None => Value::Null,
                    Some(r) => {
                        let (row, mut parts) = decode_row::<W>(r)?;
                        self.sel.render(&row, &mut parts, rc)?
                    }
                }
            }
        };
        let present = match &v {
            Value::Null => false,
            Value::List(l) => !l.is_empty(),
            _ => true,
        };
        if self.spec.audit && present {
            parent.audit_in(rc, self.spec.key);
        }
        Ok(v)
    }
}

enum ConnItem<W> {
    Typename,
    TotalCount,
    Nodes(TypeSel<W>),
    Edges(Vec<(Name, EdgeItem<W>)>),
    PageInfo(Vec<(Name, PageItem)>),
}

enum EdgeItem<W> {
    Typename,
    Cursor,
    Node(TypeSel<W>),
}

enum PageItem {
    Typename,
    HasNext,
    HasPrevious,
    Start,
    End,
}

struct Connection<W: CompiledView> {
    items: Vec<(Name, ConnItem<W>)>,
    sort: SortKey<W::Entity>,
    size: u64,
    has_previous: bool,
}

impl<W: CompiledView> RootNode for Connection<W> {
    fn render(&self, json: serde_json::Value, rc: &ReadCtx) -> Plan<Value> {
        let serde_json::Value::Array(mut parts) = json else { return Err(Fallback) };
        if parts.len() != 2 {
            return Err(Fallback);
        }
        let total = parts.pop().unwrap_or_default();
        let serde_json::Value::Array(rows) = parts.pop().unwrap_or_default() else { return Err(Fallback) };
        let has_next = rows.len() as u64 > self.size;
        let mut decoded = Vec::with_capacity(rows.len());
        for r in rows.into_iter().take(self.size as usize) {
            let (row, rels) = decode_row::<W>(r)?;
            let (v, id) = (self.sort.value_of)(row.model());
            decoded.push((encode_cursor(&v, id), row, rels));
        }
        let mut out = IndexMap::with_capacity(self.items.len());
        for (key, item) in &self.items {
            rc.push(Step::Key(key.clone()));
            let v = match item {
                ConnItem::Typename => Value::String(format!("{}Connection", W::TYPE)),
                ConnItem::TotalCount => {
                    let n = total.as_i64().ok_or(Fallback)?;
                    Value::from(n as u64)
                }
                ConnItem::Nodes(sel) => {
                    let mut list = Vec::with_capacity(decoded.len());
                    for (i, (_, row, rels)) in decoded.iter_mut().enumerate() {
                        rc.push(Step::Index(i));
                        list.push(sel.render(row, rels, rc)?);
                        rc.pop();
                    }
                    Value::List(list)
                }
                ConnItem::Edges(edge) => {
                    let mut list = Vec::with_capacity(decoded.len());
                    for (i, (cursor, row, rels)) in decoded.iter_mut().enumerate() {
                        rc.push(Step::Index(i));
                        let mut e = IndexMap::with_capacity(edge.len());
                        for (k, it) in edge {
                            rc.push(Step::Key(k.clone()));
                            let v = match it {
                                EdgeItem::Typename => Value::String(format!("{}Edge", W::TYPE)),
                                EdgeItem::Cursor => Value::String(cursor.clone()),
                                EdgeItem::Node(sel) => sel.render(row, rels, rc)?,
                            };
                            rc.pop();
                            e.insert(k.clone(), v);
                        }
                        rc.pop();
                        list.push(Value::Object(e));
                    }
                    Value::List(list)
                }
                ConnItem::PageInfo(info) => {
                    let mut p = IndexMap::with_capacity(info.len());
                    for (k, it) in info {
                        let v = match it {
                            PageItem::Typename => Value::String("PageInfo".into()),
                            PageItem::HasNext => Value::Boolean(has_next),
                            PageItem::HasPrevious => Value::Boolean(self.has_previous),
                            PageItem::Start => decoded.first().map(|d| d.0.clone()).out(),
                            PageItem::End => decoded.last().map(|d| d.0.clone()).out(),
                        };
                        p.insert(k.clone(), v);
                    }
                    Value::Object(p)
                }
            };
            rc.pop();
            out.insert(key.clone(), v);
        }
        Ok(Value::Object(out))
    }
}

struct OneRow<W>(TypeSel<W>);

impl<W: CompiledView> RootNode for OneRow<W> {
    fn render(&self, json: serde_json::Value, rc: &ReadCtx) -> Plan<Value> {
        // No row: the executor words the NOT_FOUND.
        if json == serde_json::Value::Null {
            return Err(Fallback);
        }
        let (row, mut parts) = decode_row::<W>(json)?;
        self.0.render(&row, &mut parts, rc)
    }
}

/// The plan of a root field.
pub type RootPlan = Plan<Planned<Box<dyn RootNode>>>;

/// A root the compiler knows: plans the root field (its occurrences merged).
pub type RootPlanner = fn(&mut Planner<'_>, &Collected<'_>) -> RootPlan;

/// A field of a selection, its occurrences under one response key merged.
pub struct Collected<'s> {
    /// The first occurrence (the others have the same name and arguments).
    pub field: &'s QField,
    /// The selections of every occurrence.
    pub sets: Vec<&'s SelectionSet>,
    pub occurrences: usize,
}

/// The roots the compiler knows, by name: the lists (planned in their domain's
/// file, beside their resolver) and the lookups by id.
const ROOTS: &[(&str, RootPlanner)] = &[
    ("cases", super::cases::compiled_cases),
    ("case", by_id::<super::views::CaseView>),
    ("households", super::households::compiled_households),
    ("household", by_id::<super::views::HouseholdView>),
    ("meetings", super::meetings::compiled_meetings),
    ("meeting", by_id::<super::views::MeetingView>),
    ("pucProjects", super::puc::compiled_puc_projects),
    ("residencyChecks", super::residency::compiled_residency_checks),
    ("disadvantageChecks", super::disadvantage::compiled_disadvantage_checks),
    ("reports", super::reports::compiled_reports),
];

/// A lookup by id (`case(id:)`): the row under the row rule, or the executor's
/// answer (`NOT_FOUND`, worded alike for a missing row and one out of scope).
fn by_id<W: CompiledView>(pl: &mut Planner<'_>, root: &Collected<'_>) -> RootPlan {
    let f = root.field;
    if f.arguments.iter().any(|(n, _)| n.node.as_str() != "id") {
        return Err(Fallback);
    }
    let id: async_graphql::ID = pl.arg(f, "id")?;
    let id = crate::ids::decode_uuid("id", W::TYPE, &id)?;
    let table = W::Entity::default().table_name();
    let select = pl.gw.select::<W::Entity>()?.filter(Expr::col((Alias::new(table), Alias::new("id"))).eq(id));
    pl.one_row::<W>(root, select)
}

/// A list root whose arguments are `first`, `after` and, when `condition` reads
/// one, `filter` (of the input type `F`): the rows of `W` under the row rule and
/// the condition the domain builds from the filter, in the order of `sort`.
pub fn list<W: CompiledView, F: InputType>(
    pl: &mut Planner<'_>,
    root: &Collected<'_>,
    condition: impl FnOnce(Option<F>, &Gateway) -> Result<sea_orm::Condition, crate::error::AppError>,
    sort: SortKey<W::Entity>,
) -> RootPlan {
    only_arguments(root, &["first", "after", "filter"])?;
    let first: Option<i32> = pl.arg(root.field, "first")?;
    let after: Option<String> = pl.arg(root.field, "after")?;
    let filter: Option<F> = pl.arg(root.field, "filter")?;
    let select = pl.gw.select::<W::Entity>()?;
    let select = select.filter(condition(filter, pl.gw)?);
    pl.connection::<W>(root, select, sort, first, after)
}

/// The arguments of a list root are among `names`.
pub fn only_arguments(root: &Collected<'_>, names: &[&str]) -> Plan<()> {
    match root.field.arguments.iter().all(|(n, _)| names.contains(&n.node.as_str())) {
        true => Ok(()),
        false => Err(Fallback),
    }
}

/// The operation `operation_name` of `doc`, answered from one statement, or
/// `None` when it runs through the executor (see the module's documentation).
/// Redactions and reads land in the request's authorization state as the
/// resolvers would leave them; on `None` it is left as it was.
pub async fn read(
    gw: &Gateway,
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    vars: &Variables,
) -> Option<Response> {
    if gw.reads.get_database_backend() != DatabaseBackend::Postgres {
        return None;
    }
    // One operation per document: the executor validates (and weighs) every
    // operation of a document, the compiler only the one it runs.
    let op = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), None) => op,
        (DocumentOperations::Multiple(ops), name) if ops.len() == 1 => {
            let (n, op) = ops.iter().next()?;
            if name.is_some_and(|name| name != n.as_str()) {
                return None;
            }
            op
        }
        _ => return None,
    };
    let op = &op.node;
    if op.ty != OperationType::Query || !op.directives.is_empty() {
        return None;
    }
    let mut pl = Planner { gw, doc, vars, defs: &op.variable_definitions, aliases: 0 };
    let mut roots: Vec<(Name, Box<dyn RootNode>)> = Vec::new();
    let mut sql = Vec::new();
    let mut complexity = 0usize;
    for c in pl.collect(&[&op.selection_set.node], "Query", false).ok()? {
        let plan = ROOTS.iter().find(|(n, _)| *n == c.field.name.node.as_str())?.1;
        let p = plan(&mut pl, &c).ok()?;
        complexity = complexity.saturating_add(p.complexity.saturating_mul(c.occurrences));
        sql.push(p.sql?);
        roots.push((c.field.response_key().node.clone(), p.node));
    }
    if roots.is_empty() || complexity > MAX_COMPLEXITY {
        return None;
    }
    let mut template = String::from("json_build_array(");
    for i in 0..sql.len() {
        let _ = write!(template, "{}${}", if i == 0 { "" } else { ", " }, i + 1);
    }
    template.push(')');
    let mut q = Query::select();
    q.expr_as(Expr::cust_with_exprs(template, sql), Alias::new("j"));
    let stmt = gw.reads.get_database_backend().build(&q);
    let row = match gw.reads.query_one_raw(stmt).await {
        Ok(Some(row)) => row,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "a compiled read failed; the executor answers");
            return None;
        }
    };
    let serde_json::Value::Array(parts) = row.try_get::<serde_json::Value>("", "j").ok()? else { return None };
    let rc = ReadCtx::new(&gw.authz);
    let mut data = IndexMap::with_capacity(roots.len());
    let mut failed = parts.len() != roots.len();
    for ((key, node), json) in roots.iter().zip(parts) {
        rc.push(Step::Key(key.clone()));
        match node.render(json, &rc) {
            Ok(v) => {
                data.insert(key.clone(), v);
            }
            Err(Fallback) => {
                failed = true;
                break;
            }
        }
        rc.pop();
    }
    drop(rc);
    if failed {
        // What the partial read recorded is not the executor's to inherit.
        gw.authz.take_redactions();
        gw.authz.take_reads();
        return None;
    }
    Some(Response::new(Value::Object(data)))
}
