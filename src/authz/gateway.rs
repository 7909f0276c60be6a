//! The data gateway: the one way resolvers and loaders read governed rows. It
//! always adds the row condition of (principal, entity, read), replaces columns
//! the role may not read with typed placeholders (so their values never leave the
//! database), paginates with keyset cursors and counts under the same condition.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SimpleExpr},
    ColumnTrait, ColumnType, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, Iterable,
    PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement, Value,
};
use uuid::Uuid;

use super::{page_cap, FieldScope, RequestAuthz, Scoped};
use crate::error::AppError;

/// How a governed entity's columns map to the GraphQL fields that expose them.
pub trait Projected: Scoped {
    /// GraphQL type name (`Case`), the prefix of field keys.
    const TYPE: &'static str;
    /// Columns that only serve the named fields; when the role can read none of
    /// those fields, the column is not selected.
    fn field_columns() -> Vec<(&'static str, Self::Column)>;
    /// A valid placeholder for a non-null enum column (other types have generic ones).
    fn enum_placeholder(_col: Self::Column) -> Option<&'static str> {
        None
    }
}

/// Placeholder of a column whose value must not be selected.
fn placeholder<E: Projected>(col: E::Column) -> Option<SimpleExpr> {
    let def = col.def();
    if def.is_null() {
        return Some(Expr::cust("NULL"));
    }
    if let Some(v) = E::enum_placeholder(col) {
        return Some(Expr::val(v));
    }
    let v: Value = match def.get_column_type() {
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => "".into(),
        ColumnType::SmallInteger => 0i16.into(),
        ColumnType::Integer => 0i32.into(),
        ColumnType::BigInteger => 0i64.into(),
        ColumnType::Boolean => false.into(),
        ColumnType::Date => NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch").into(),
        ColumnType::TimestampWithTimeZone => DateTime::<Utc>::UNIX_EPOCH.into(),
        ColumnType::Uuid => Uuid::nil().into(),
        _ => return None,
    };
    Some(Expr::val(v))
}

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// The sort key of a list: a non-null column, then the id as tie-breaker.
pub struct SortKey<E: EntityTrait> {
    pub column: E::Column,
    pub id: E::Column,
    pub direction: Direction,
    /// The sort value of a row, for the cursor.
    pub value_of: fn(&E::Model) -> (Value, Uuid),
}

/// `first` / `after` of a Relay connection.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
}

/// One page of rows, with what the connection needs.
pub struct Page<M> {
    pub rows: Vec<(String, M)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub count: CountQuery,
}

/// `totalCount`, computed only when asked for, under the same condition.
#[derive(Clone)]
pub struct CountQuery {
    db: DatabaseConnection,
    stmt: SelectStatement,
}

impl CountQuery {
    pub async fn run(&self) -> Result<u64, AppError> {
        let q = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from_subquery(self.stmt.clone(), Alias::new("scoped"))
            .to_owned();
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(backend.build(&q))
            .await?
            .ok_or_else(|| AppError::internal("count returned no row"))?;
        let n: i64 = row.try_get("", "n")?;
        Ok(n as u64)
    }
}

/// The default page size when `first` is omitted.
pub const DEFAULT_PAGE: u64 = 20;

#[derive(Clone)]
pub struct Gateway {
    /// Where reads go: the primary, or for a query the read replica when it
    /// may serve this principal (`db::replica`).
    pub reads: DatabaseConnection,
    /// The primary: every unit of work (`Acting::begin`) and what it reads.
    pub writes: DatabaseConnection,
    pub authz: Arc<RequestAuthz>,
    /// Advanced by the commit of a change to who may act (see `Work::commit`).
    pub principals: crate::principal::PrincipalEpoch,
}

/// The opaque cursor of a row whose sort value is `v`.
pub fn encode_cursor(v: &Value, id: Uuid) -> String {
    let s = match v {
        Value::ChronoDate(Some(d)) => format!("d:{d}"),
        Value::ChronoDateTimeUtc(Some(t)) => format!("t:{}", t.to_rfc3339()),
        Value::String(Some(s)) => format!("s:{s}"),
        Value::BigInt(Some(n)) => format!("i:{n}"),
        other => format!("s:{other:?}"),
    };
    URL_SAFE_NO_PAD.encode(format!("{s}|{id}"))
}

fn decode_cursor(c: &str) -> Result<(Value, Uuid), AppError> {
    let bad = || AppError::validation("after", "not a cursor of this list");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let (v, id) = text.rsplit_once('|').ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    let (kind, raw) = v.split_once(':').ok_or_else(bad)?;
    let value = match kind {
        "d" => Value::from(raw.parse::<NaiveDate>().map_err(|_| bad())?),
        "t" => Value::from(DateTime::parse_from_rfc3339(raw).map_err(|_| bad())?.with_timezone(&Utc)),
        "s" => Value::from(raw.to_string()),
        "i" => Value::from(raw.parse::<i64>().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    Ok((value, id))
}

/// Whether a cursor's value is of the type of the sort column.
fn cursor_fits(ct: &sea_orm::ColumnType, v: &Value) -> bool {
    use sea_orm::ColumnType as T;
    match v {
        Value::ChronoDate(_) => matches!(ct, T::Date),
        Value::ChronoDateTimeUtc(_) => matches!(ct, T::TimestampWithTimeZone | T::DateTime | T::Timestamp),
        Value::BigInt(_) => matches!(ct, T::BigInteger | T::Integer | T::SmallInteger),
        Value::String(_) => matches!(ct, T::String(_) | T::Text | T::Char(_) | T::Enum { .. }),
        _ => false,
    }
}

impl Gateway {
    /// A gateway reading and writing on the primary `db`.
    pub fn new(db: DatabaseConnection, authz: Arc<RequestAuthz>, principals: crate::principal::PrincipalEpoch) -> Self {
        Gateway { reads: db.clone(), writes: db, authz, principals }
    }

    /// The same gateway, reading from `reads` (a query's, on the replica).
    pub fn reading_from(self, reads: DatabaseConnection) -> Self {
        Gateway { reads, ..self }
    }

    /// The row condition of the principal for `E`, or `FORBIDDEN`.
    pub fn condition<E: Scoped>(&self) -> Result<Condition, AppError> {
        let scope = self.authz.read_scope(E::OBJECT)?;
        Ok(E::condition(scope, &self.authz.principal))
    }

    /// The columns of `E` the role may read through none of their fields: the
    /// gateway's `SELECT` replaces them with placeholders.
    pub fn hidden_columns<E: Projected>(&self) -> Vec<E::Column> {
        let mapping = E::field_columns();
        let mut hidden = Vec::new();
        for col in E::Column::iter() {
            let fields: Vec<&str> =
                mapping.iter().filter(|(_, c)| c.as_str() == col.as_str()).map(|(f, _)| *f).collect();
            if fields.is_empty() {
                continue;
            }
            let readable = fields.iter().any(|f| self.authz.field_scope_named(&format!("{}.{f}", E::TYPE)).is_some());
            if !readable {
                hidden.push(col);
            }
        }
        hidden
    }

    /// `SELECT` of `E` under the row condition, with unreadable columns replaced.
    pub fn select<E: Projected>(&self) -> Result<Select<E>, AppError> {
        let cond = self.condition::<E>()?;
        let hidden = self.hidden_columns::<E>();
        let mut select = E::find().filter(cond);
        if !hidden.is_empty() {
            select = select.select_only();
            for col in E::Column::iter() {
                let is_hidden = hidden.iter().any(|h| h.as_str() == col.as_str());
                match (is_hidden, is_hidden.then(|| placeholder::<E>(col)).flatten()) {
                    (true, Some(expr)) => {
                        select = select.column_as(expr, col.as_str());
                    }
                    _ => {
                        select = select.column(col);
                    }
                }
            }
        }
        Ok(select)
    }

    /// Rows of `E` whose `col` is one of `keys`, under the row condition; keys are
    /// sent in chunks (one statement per 1,000 keys).
    pub async fn by_keys<E, K>(
        &self,
        col: E::Column,
        keys: &[K],
        order: Option<E::Column>,
    ) -> Result<Vec<E::Model>, AppError>
    where
        E: Projected,
        K: Into<Value> + Clone,
    {
        let mut out = Vec::new();
        for chunk in keys.chunks(1000) {
            let mut q =
                self.select::<E>()?.filter(col.is_in(chunk.iter().cloned().map(Into::into).collect::<Vec<Value>>()));
            if let Some(o) = order {
                q = q.order_by_asc(o);
                // Ties in the order column fall back on the primary key, as in the
                // compiled reads (`api::compiled`): both paths list the same rows alike.
                for k in E::PrimaryKey::iter() {
                    q = q.order_by_asc(k.into_column());
                }
            }
            out.extend(q.all(&self.reads).await?);
        }
        Ok(out)
    }

    /// One row by primary key, under the row condition: a row out of scope is
    /// indistinguishable from a missing one.
    pub async fn by_id<E>(&self, id_col: E::Column, id: Uuid) -> Result<Option<E::Model>, AppError>
    where
        E: Projected,
    {
        Ok(self.select::<E>()?.filter(id_col.eq(id)).one(&self.reads).await?)
    }

    /// The page size `first` asks for (the default when omitted), or the
    /// refusal: negative is `VALIDATION`, over the role's cap `LIMIT`.
    pub fn page_size(&self, first: Option<i32>) -> Result<u64, AppError> {
        let cap = page_cap(self.authz.role());
        match first {
            None => Ok(std::cmp::min(DEFAULT_PAGE, cap)),
            Some(n) if n < 0 => Err(AppError::validation("first", "must not be negative")),
            Some(n) if n as u64 > cap => Err(AppError::Limit(format!(
                "first: {n} is over the page size limit of {cap} for the role {}",
                self.authz.role().as_str()
            ))),
            Some(n) => Ok(n as u64),
        }
    }

    /// The rows of a keyset page: `select` after the cursor `after`, in the order
    /// of `sort`, one row more than `first` (whether there is a next page).
    pub fn page_select<E: Projected>(
        &self,
        select: Select<E>,
        sort: &SortKey<E>,
        after: Option<&str>,
        first: u64,
    ) -> Result<Select<E>, AppError> {
        let mut q = select;
        if let Some(after) = after {
            let (v, id) = decode_cursor(after)?;
            // A cursor of another list (a date where this one sorts by text...).
            if !cursor_fits(&sort.column.def().get_column_type().clone(), &v) {
                return Err(AppError::validation("after", "not a cursor of this list"));
            }
            let c = Expr::col((E::default(), sort.column));
            let i = Expr::col((E::default(), sort.id));
            let cond = match sort.direction {
                Direction::Asc => Condition::any()
                    .add(ExprTrait::gt(c.clone(), v.clone()))
                    .add(Condition::all().add(ExprTrait::eq(c, v)).add(ExprTrait::gt(i, id))),
                Direction::Desc => Condition::any()
                    .add(ExprTrait::lt(c.clone(), v.clone()))
                    .add(Condition::all().add(ExprTrait::eq(c, v)).add(ExprTrait::lt(i, id))),
            };
            q = q.filter(cond);
        }
        q = match sort.direction {
            Direction::Asc => q.order_by_asc(sort.column).order_by_asc(sort.id),
            Direction::Desc => q.order_by_desc(sort.column).order_by_desc(sort.id),
        };
        Ok(q.limit(first + 1))
    }

    /// A keyset page of `select` (which already carries the row condition and the
    /// filters) in the order of `sort`.
    pub async fn page<E>(
        &self,
        select: Select<E>,
        sort: &SortKey<E>,
        args: &PageArgs,
    ) -> Result<Page<E::Model>, AppError>
    where
        E: Projected,
    {
        let first = self.page_size(args.first)?;
        let count = CountQuery { db: self.reads.clone(), stmt: select.clone().into_query() };
        let mut rows = self.page_select(select, sort, args.after.as_deref(), first)?.all(&self.reads).await?;
        let has_next_page = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let rows = rows
            .into_iter()
            .map(|m| {
                let (v, id) = (sort.value_of)(&m);
                (encode_cursor(&v, id), m)
            })
            .collect();
        Ok(Page { rows, has_next_page, has_previous_page: args.after.is_some(), count })
    }

    /// Whether the role may read `key` on rows it owns or on all rows.
    pub fn field_scope(&self, key: super::FieldKey) -> Option<FieldScope> {
        self.authz.field_scope(key)
    }

    /// The rows of `E` an aggregate counts under `scope` (`stats`): the row rule
    /// of that scope, as a statement to group. The caller takes `scope` from the
    /// role's read grant (exact counts) or from its aggregate grant, narrowed
    /// like every other scope (`RequestAuthz::narrow`); an aggregate selects no
    /// field of a row, only what it groups by.
    pub fn aggregate<E: Scoped>(&self, scope: super::Scope) -> SelectStatement {
        E::find().filter(E::condition(scope, &self.authz.principal)).into_query()
    }

    /// Runs a raw statement (for aggregates built on scoped subqueries).
    pub async fn query_all(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, AppError> {
        Ok(self.reads.query_all_raw(stmt).await?)
    }
}
