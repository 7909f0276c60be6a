//! The audit trail as a tamper-evident log: every event becomes a leaf of an
//! append-only Merkle tree (`tlog::tree`), and the tree heads are signed as
//! checkpoints (`note`) that leave the database (an endpoint, a directory
//! shipped elsewhere), so that whoever owns the database cannot rewrite the
//! trail without the checkpoints held elsewhere showing it.
//!
//! - **Writing an event costs the request no extra round trip**, and the
//!   sequencer ([`sequence`], a background task every second) takes the new
//!   events in batches as leaves. On PostgreSQL each event carries the id of
//!   the transaction that wrote it (`xid`, a column default: one more index
//!   entry per event); the sequencer takes the events after its cursor in
//!   `(xid, id)` order whose transaction is below its snapshot's horizon, so
//!   every transaction it passes has ended and none can commit an event behind
//!   it. On SQLite (one writer at a time) a trigger queues each event's id in
//!   `audit_pending`, and the sequencer takes the queue in id order. Either
//!   way only committed events are taken, so concurrent transactions
//!   committing out of order cannot leave a hole.
//! - **A leaf** is `H(0x00 ‖ canonical event)` ([`EventRow::canonical`]): every
//!   column of the row, length-prefixed, so two different events never share a
//!   serialisation.
//! - **Checkpoints** ([`checkpoint`]) are signed at most every configured
//!   interval (60 s by default) by the key in `GEPI_AUDIT_SIGNING_KEY`; the
//!   service keeps each in `audit_checkpoint` and writes it to
//!   `GEPI_AUDIT_CHECKPOINT_DIR` when set.
//! - **[`verify`]** recomputes every leaf from its event and the tree from the
//!   leaves, checks every stored checkpoint (and any given from outside)
//!   against the recomputed roots, and names what does not match: an edited,
//!   deleted, reordered or inserted event.
//!
//! Retention (`crate::retention`) deletes old events' rows but keeps their
//! leaves, and a tombstone names them: the tree covers hashes, so
//! verification needs an event only while it is kept.

use std::{collections::HashMap, path::Path};

use chrono::{DateTime, SubsecRound, Utc};
use entity::{audit_checkpoint, audit_leaf, audit_node, audit_pending, audit_tree};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::tlog::note::{Checkpoint, Signer, Verifier};
use crate::tlog::tree::{self, Frontier, Hash};
use crate::{error::AppError, unscoped::Unscoped};

/// Events taken by the sequencer per transaction.
pub const BATCH: u64 = 5_000;

/// Subtrees of this height and above are stored (`audit_node`): one row per
/// 128 leaves, and a proof reads at most two runs of 256 leaves besides them.
pub const NODE_HEIGHT: u32 = 8;

/// The columns of an event, in the order of its canonical form.
const EVENT_COLUMNS: &str = "e.id, e.occurred_at, e.request_id, e.operation, e.actor_kind, e.operator_id, \
     e.profile_id, e.api_client_id, e.role, e.ambito_id, e.entity, e.entity_id, e.action, e.changes";

/// An audit event as stored, column by column (codes as their stored text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub operation: Option<String>,
    pub actor_kind: String,
    pub operator_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    pub api_client_id: Option<Uuid>,
    pub role: Option<String>,
    pub ambito_id: Option<Uuid>,
    pub entity: String,
    pub entity_id: Option<String>,
    pub action: String,
    pub changes: Option<String>,
}

/// Version tag of the canonical form: a change of form is a new tag.
const CANONICAL_V1: &[u8] = b"gepi.audit_event.v1";

impl EventRow {
    /// Reads the event whose [`EVENT_COLUMNS`] begin at column `at` of `row`.
    pub fn read(row: &QueryResult, at: usize) -> Result<Self, sea_orm::DbErr> {
        Ok(EventRow {
            id: row.try_get_by_index(at)?,
            occurred_at: row.try_get_by_index(at + 1)?,
            request_id: row.try_get_by_index(at + 2)?,
            operation: row.try_get_by_index(at + 3)?,
            actor_kind: row.try_get_by_index(at + 4)?,
            operator_id: row.try_get_by_index(at + 5)?,
            profile_id: row.try_get_by_index(at + 6)?,
            api_client_id: row.try_get_by_index(at + 7)?,
            role: row.try_get_by_index(at + 8)?,
            ambito_id: row.try_get_by_index(at + 9)?,
            entity: row.try_get_by_index(at + 10)?,
            entity_id: row.try_get_by_index(at + 11)?,
            action: row.try_get_by_index(at + 12)?,
            changes: row.try_get_by_index(at + 13)?,
        })
    }

    /// The bytes the leaf hashes: the version tag, then each column in order,
    /// `0x00` when null, else `0x01`, its length (4 bytes, big-endian) and its
    /// bytes (a UUID's 16 bytes; the time as microseconds since 1970, 8
    /// bytes big-endian, the precision both databases keep; text as UTF-8).
    pub fn canonical(&self) -> Vec<u8> {
        fn put(out: &mut Vec<u8>, v: Option<&[u8]>) {
            match v {
                None => out.push(0),
                Some(b) => {
                    out.push(1);
                    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        let mut out = Vec::with_capacity(256 + self.changes.as_ref().map_or(0, String::len));
        put(&mut out, Some(CANONICAL_V1));
        put(&mut out, Some(self.id.as_bytes()));
        put(&mut out, Some(&self.occurred_at.timestamp_micros().to_be_bytes()));
        put(&mut out, self.request_id.as_deref().map(str::as_bytes));
        put(&mut out, self.operation.as_deref().map(str::as_bytes));
        put(&mut out, Some(self.actor_kind.as_bytes()));
        put(&mut out, self.operator_id.as_ref().map(|u| &u.as_bytes()[..]));
        put(&mut out, self.profile_id.as_ref().map(|u| &u.as_bytes()[..]));
        put(&mut out, self.api_client_id.as_ref().map(|u| &u.as_bytes()[..]));
        put(&mut out, self.role.as_deref().map(str::as_bytes));
        put(&mut out, self.ambito_id.as_ref().map(|u| &u.as_bytes()[..]));
        put(&mut out, Some(self.entity.as_bytes()));
        put(&mut out, self.entity_id.as_deref().map(str::as_bytes));
        put(&mut out, Some(self.action.as_bytes()));
        put(&mut out, self.changes.as_deref().map(str::as_bytes));
        out
    }

    pub fn leaf_hash(&self) -> Hash {
        tree::leaf_hash(&self.canonical())
    }
}

/// The audit tree's state row.
async fn tree_row<C: ConnectionTrait>(db: &C) -> Result<audit_tree::Model, AppError> {
    Unscoped::Audit
        .find_by_id::<audit_tree::Entity>(1)
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("the audit tree's state row is missing"))
}

fn frontier_of(t: &audit_tree::Model) -> Result<Frontier, AppError> {
    Frontier::from_bytes(t.size as u64, &t.frontier)
        .ok_or_else(|| AppError::internal("the audit tree's stored frontier does not match its size"))
}

/// PostgreSQL: where the sequencer stopped, `(xid, event id)`.
fn cursor_of(t: &audit_tree::Model) -> (i64, Uuid) {
    (t.cursor_xid.unwrap_or(0), t.cursor_event.unwrap_or_default())
}

/// The cursor as an SQL row value, to compare `(xid, id)` with.
fn cursor_row((xid, id): (i64, Uuid)) -> String {
    format!("('{xid}'::xid8, '{id}'::uuid)")
}

/// Stores where the sequencer stopped.
async fn store_cursor<C: ConnectionTrait>(txn: &C, (xid, id): (i64, Uuid)) -> Result<(), AppError> {
    txn.execute_unprepared(&format!(
        "UPDATE audit_tree SET cursor_xid = {xid}, cursor_event = '{id}'::uuid WHERE id = 1"
    ))
    .await?;
    Ok(())
}

/// An event id as an SQL literal of `backend`.
fn uuid_literal(backend: sea_orm::DatabaseBackend, id: Uuid) -> String {
    match backend {
        sea_orm::DatabaseBackend::Postgres => format!("'{id}'::uuid"),
        _ => format!("X'{}'", id.simple()),
    }
}

/// The tree as the sequencer left it.
async fn tree_state<C: ConnectionTrait>(db: &C) -> Result<Frontier, AppError> {
    frontier_of(&tree_row(db).await?)
}

/// The tree head now: size and root.
pub async fn head<C: ConnectionTrait>(db: &C) -> Result<(u64, Hash), AppError> {
    let f = tree_state(db).await?;
    Ok((f.size(), f.root()))
}

/// Takes the audit tree's row lock: the sequencer and the checkpointer of
/// every instance take turns on it (on SQLite, the write lock).
async fn lock_tree<C: ConnectionTrait>(db: &C) -> Result<(), AppError> {
    db.execute_unprepared("UPDATE audit_tree SET size = size WHERE id = 1").await?;
    Ok(())
}

/// Appends one batch of new events to the tree; the number appended (0 when
/// there is none).
///
/// The batch is the queue's (`audit_pending`: every event on SQLite; on
/// PostgreSQL, those written before it numbered events by transaction), and
/// to fill it, on PostgreSQL, the events after the cursor in
/// `(xid, id)` order whose transaction is below the horizon of the statement's
/// snapshot: every such transaction has ended, so no event can later commit
/// behind the cursor.
pub async fn sequence(db: &DatabaseConnection) -> Result<u64, AppError> {
    let txn = db.begin().await?;
    lock_tree(&txn).await?;
    let state = tree_row(&txn).await?;
    let mut frontier = frontier_of(&state)?;
    let postgres = txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let mut from = cursor_of(&state);
    if postgres {
        let (xmin, xmax) = snapshot_bounds(&txn).await?;
        if from.0 >= xmax {
            from = rebase(&txn, xmin).await?;
        }
    }
    let mut rows = queued_batch(&txn).await?.unwrap_or_default();
    let mut cursor = None;
    let room = BATCH.saturating_sub(rows.len() as u64);
    if room > 0 && postgres {
        // The row comparison walks the `(xid, id)` index from the cursor.
        let sql = format!(
            "SELECT {EVENT_COLUMNS}, e.xid::text FROM audit_event e \
             WHERE (e.xid, e.id) > {} \
             AND e.xid < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY e.xid, e.id LIMIT {room}",
            cursor_row(from)
        );
        // Along the index of each month, merged: the planner's estimate of the
        // rows after the cursor may make it sort them all instead.
        txn.execute_unprepared("SET LOCAL enable_sort = off").await?;
        let more = txn.query_all_raw(Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql)).await?;
        if let Some(r) = more.last() {
            let xid: String = r.try_get_by_index(14)?;
            let xid = xid.parse::<i64>().map_err(|_| AppError::internal("a transaction id out of range"))?;
            cursor = Some((xid, r.try_get_by_index::<Uuid>(0)?));
        }
        // An event already a leaf (a second row with its id, or a restored
        // database's events, see `rebase`) is passed over, not taken again:
        // one probe of the leaves' index per event, in one statement.
        let ids = more.iter().map(|r| r.try_get_by_index::<Uuid>(0)).collect::<Result<Vec<_>, _>>()?;
        let mut known = std::collections::HashSet::new();
        for chunk in ids.chunks(1000) {
            known.extend(
                Unscoped::Audit
                    .find::<audit_leaf::Entity>()
                    .filter(audit_leaf::Column::EventId.is_in(chunk.iter().copied()))
                    .all(&txn)
                    .await?
                    .into_iter()
                    .map(|l| l.event_id),
            );
        }
        rows.extend(more.into_iter().zip(ids).filter(|(_, id)| !known.contains(id)).map(|(r, _)| r));
    }
    if rows.is_empty() {
        // Only events passed over: the cursor moves past them all the same.
        if let Some(c) = cursor {
            store_cursor(&txn, c).await?;
        }
        txn.commit().await?;
        return Ok(0);
    }
    let mut leaves = Vec::with_capacity(rows.len());
    let mut nodes = Vec::new();
    for r in &rows {
        let e = EventRow::read(r, 0)?;
        let hash = e.leaf_hash();
        leaves.push(audit_leaf::ActiveModel {
            seq: Set(frontier.size() as i64),
            event_id: Set(e.id),
            hash: Set(hash.to_vec()),
        });
        frontier.push_with(hash, |height, idx, root| {
            if height >= NODE_HEIGHT {
                nodes.push(audit_node::ActiveModel {
                    height: Set(height as i16),
                    idx: Set(idx as i64),
                    hash: Set(root.to_vec()),
                });
            }
        });
    }
    if !nodes.is_empty() {
        audit_node::Entity::insert_many(nodes).exec_without_returning(&txn).await?;
    }
    let n = leaves.len() as u64;
    let mut leaves = leaves.into_iter().peekable();
    while leaves.peek().is_some() {
        let chunk: Vec<_> = leaves.by_ref().take(1000).collect();
        audit_leaf::Entity::insert_many(chunk).exec_without_returning(&txn).await?;
    }
    let mut next = audit_tree::ActiveModel {
        id: Set(1),
        size: Set(frontier.size() as i64),
        frontier: Set(frontier.to_bytes()),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some((xid, id)) = cursor {
        next.cursor_xid = Set(Some(xid));
        next.cursor_event = Set(Some(id));
    }
    audit_tree::Entity::update(next).exec(&txn).await?;
    txn.commit().await?;
    Ok(n)
}

/// PostgreSQL: the horizon and the next transaction id of the statement's
/// snapshot (`pg_snapshot_xmin`, `pg_snapshot_xmax`).
async fn snapshot_bounds<C: ConnectionTrait>(db: &C) -> Result<(i64, i64), AppError> {
    let r = db
        .query_one_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, pg_snapshot_xmax(pg_current_snapshot())::text",
        ))
        .await?
        .ok_or_else(|| AppError::internal("no snapshot"))?;
    let n = |i| -> Result<i64, AppError> {
        r.try_get_by_index::<String>(i)?.parse().map_err(|_| AppError::internal("a transaction id out of range"))
    };
    Ok((n(0)?, n(1)?))
}

/// PostgreSQL: the cursor is past every transaction id of this cluster, so the
/// database was restored from a dump or moved to another cluster (logical
/// replication), whose transaction ids start lower: new events would all fall
/// behind the cursor. Every event not yet a leaf whose transaction has ended
/// is queued (taken from the queue first), and the cursor restarts at the
/// horizon; the new cursor.
async fn rebase<C: ConnectionTrait>(txn: &C, xmin: i64) -> Result<(i64, Uuid), AppError> {
    tracing::warn!(
        horizon = xmin,
        "the audit sequencer's cursor is past this database cluster's transaction ids (a restored or moved \
         database): the events not yet in the tree are queued and the cursor restarts at the horizon"
    );
    txn.execute_unprepared(&format!(
        "INSERT INTO audit_pending (event_id) SELECT e.id FROM audit_event e \
         WHERE (e.xid IS NULL OR e.xid < '{xmin}'::xid8) \
         AND NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.event_id = e.id) ON CONFLICT DO NOTHING"
    ))
    .await?;
    let cursor = (xmin - 1, Uuid::max());
    store_cursor(txn, cursor).await?;
    Ok(cursor)
}

/// The next batch of the queue, its events in id order, and the batch taken
/// off the queue (an id whose event is gone included); `None` when the queue
/// is empty.
async fn queued_batch<C: ConnectionTrait>(txn: &C) -> Result<Option<Vec<QueryResult>>, AppError> {
    // The batch along the queue's key, then its events by id: two index walks
    // (a join ordered by the queue's key may be planned as a sort of both tables).
    let batch: Vec<Uuid> = Unscoped::Audit
        .find::<audit_pending::Entity>()
        .order_by_asc(audit_pending::Column::EventId)
        .limit(BATCH)
        .all(txn)
        .await?
        .into_iter()
        .map(|p| p.event_id)
        .collect();
    if batch.is_empty() {
        return Ok(None);
    }
    let mut select = Query::select();
    for c in EVENT_COLUMNS.split(',').map(|c| c.trim().trim_start_matches("e.")) {
        select.column(Alias::new(c));
    }
    select
        .from(Alias::new("audit_event"))
        .and_where(Expr::col(Alias::new("id")).is_in(batch.iter().copied()))
        .order_by(Alias::new("id"), sea_orm::Order::Asc);
    let rows = txn.query_all(&select).await?;
    for chunk in batch.chunks(1000) {
        audit_pending::Entity::delete_many()
            .filter(audit_pending::Column::EventId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    Ok(Some(rows))
}

/// Appends every event that can be sequenced now; the number appended. On
/// PostgreSQL a transaction still open holds back the events of those that
/// began after it (the server's tick: they are for a later round).
///
/// It stops at the first batch that is not full: under steady load there is
/// always a new event by the time a batch commits, and taking them one
/// transaction at a time as they come would cost the database far more than
/// the events themselves (measured: a third of the PostgreSQL CPU of the
/// case-detail benchmark); the rest is for the next round.
pub async fn sequence_available(db: &DatabaseConnection) -> Result<u64, AppError> {
    let mut total = 0;
    loop {
        let n = sequence(db).await?;
        total += n;
        if n < BATCH {
            return Ok(total);
        }
    }
}

/// How long [`sequence_all`] waits for the transactions open when it began.
pub const SEQUENCE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Appends every event committed before the call; the number appended. On
/// PostgreSQL it first waits (up to [`SEQUENCE_WAIT`]) for every transaction
/// open at the call to end, so that nothing committed before is held back
/// (the command line's checkpoint and report, and the tests).
pub async fn sequence_all(db: &DatabaseConnection) -> Result<u64, AppError> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        let (_, target) = snapshot_bounds(db).await?;
        let until = std::time::Instant::now() + SEQUENCE_WAIT;
        loop {
            let (horizon, _) = snapshot_bounds(db).await?;
            if horizon >= target {
                break;
            }
            if std::time::Instant::now() >= until {
                tracing::warn!(
                    horizon,
                    target,
                    "a transaction open for over {} s holds back the audit events written after it began",
                    SEQUENCE_WAIT.as_secs()
                );
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    sequence_available(db).await
}

/// The latest stored checkpoint.
pub async fn latest_checkpoint<C: ConnectionTrait>(db: &C) -> Result<Option<audit_checkpoint::Model>, AppError> {
    Ok(Unscoped::Audit
        .find::<audit_checkpoint::Entity>()
        .order_by_desc(audit_checkpoint::Column::SignedAt)
        .order_by_desc(audit_checkpoint::Column::Size)
        .one(db)
        .await?)
}

/// Signs the current tree head unless a checkpoint was signed less than
/// `every` ago (by this instance or another); the new checkpoint, if any.
/// It is stored, and written to `sink` (a directory) when given.
pub async fn checkpoint(
    db: &DatabaseConnection,
    signer: &Signer,
    every: chrono::Duration,
    sink: Option<&Path>,
) -> Result<Option<audit_checkpoint::Model>, AppError> {
    checkpoint_at(db, signer, every, sink, Utc::now()).await
}

/// [`checkpoint`] as of `now` (the tests sign checkpoints of the past).
pub async fn checkpoint_at(
    db: &DatabaseConnection,
    signer: &Signer,
    every: chrono::Duration,
    sink: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<Option<audit_checkpoint::Model>, AppError> {
    let now = now.trunc_subsecs(0);
    let txn = db.begin().await?;
    lock_tree(&txn).await?;
    if let Some(last) = latest_checkpoint(&txn).await? {
        if now - last.signed_at < every {
            txn.commit().await?;
            return Ok(None);
        }
    }
    let state = tree_row(&txn).await?;
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Events held back by a transaction open for long (anywhere in the
        // cluster: the horizon is the cluster's) would become leaves after
        // checkpoints signed long after their time, and read as backdated:
        // no checkpoint until they are in.
        let oldest = txn
            .query_one_raw(Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!("SELECT min(occurred_at) FROM audit_event WHERE (xid, id) > {}", cursor_row(cursor_of(&state))),
            ))
            .await?
            .map(|r| r.try_get_by_index::<Option<DateTime<Utc>>>(0))
            .transpose()?
            .flatten();
        if let Some(oldest) = oldest.filter(|t| *t < now - HELD_BACK) {
            tracing::warn!(
                since = %oldest,
                "audit events are held back by a long open transaction (see pg_stat_activity and \
                 pg_prepared_xacts): no checkpoint is signed until they are in the tree"
            );
            txn.commit().await?;
            return Ok(None);
        }
    }
    let frontier = frontier_of(&state)?;
    let c =
        Checkpoint { origin: signer.name().to_string(), size: frontier.size(), root: frontier.root(), time: Some(now) };
    let row = audit_checkpoint::Model {
        id: Uuid::now_v7(),
        size: c.size as i64,
        root: c.root.to_vec(),
        signed_at: now,
        note: signer.sign(&c.body()),
    };
    audit_checkpoint::Entity::insert(audit_checkpoint::ActiveModel::from(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    if let Some(dir) = sink {
        write_to_sink(dir, &row)
            .map_err(|e| AppError::internal(format!("audit checkpoint sink {}: {e}", dir.display())))?;
    }
    Ok(Some(row))
}

/// `<dir>/<day>/<size>-<HHMMSS>.checkpoint` and `<dir>/latest`, each written
/// whole (a temporary file renamed), for a shipper to take elsewhere.
fn write_to_sink(dir: &Path, c: &audit_checkpoint::Model) -> std::io::Result<()> {
    let day = dir.join(c.signed_at.format("%Y-%m-%d").to_string());
    std::fs::create_dir_all(&day)?;
    let write = |path: std::path::PathBuf| -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, c.note.as_bytes())?;
        std::fs::rename(&tmp, &path)
    };
    write(day.join(format!("{}-{}.checkpoint", c.size, c.signed_at.format("%H%M%S"))))?;
    write(dir.join("latest"))
}

/// Roots of ranges of leaves, from the stored subtrees and leaves, read once
/// each (a report's proofs share most of them).
pub struct Subtrees<'a, C> {
    db: &'a C,
    nodes: HashMap<(u32, u64), Hash>,
    blocks: HashMap<u64, Vec<Hash>>,
}

impl<'a, C: ConnectionTrait> Subtrees<'a, C> {
    pub fn new(db: &'a C) -> Self {
        Subtrees { db, nodes: HashMap::new(), blocks: HashMap::new() }
    }

    /// The hashes of the leaves of block `b` (leaves `256·b` to `256·b + 255`,
    /// as many as there are).
    async fn block(&mut self, b: u64) -> Result<&Vec<Hash>, AppError> {
        if !self.blocks.contains_key(&b) {
            let width = 1u64 << NODE_HEIGHT;
            let rows = Unscoped::Audit
                .find::<audit_leaf::Entity>()
                .filter(audit_leaf::Column::Seq.gte((b * width) as i64))
                .filter(audit_leaf::Column::Seq.lt(((b + 1) * width) as i64))
                .order_by_asc(audit_leaf::Column::Seq)
                .all(self.db)
                .await?;
            let mut hashes = Vec::with_capacity(rows.len());
            for (i, l) in rows.into_iter().enumerate() {
                if l.seq as u64 != b * width + i as u64 {
                    return Err(AppError::internal("the audit tree has missing leaves"));
                }
                hashes.push(
                    <Hash>::try_from(l.hash.as_slice())
                        .map_err(|_| AppError::internal("an audit leaf hash is not 32 bytes"))?,
                );
            }
            self.blocks.insert(b, hashes);
        }
        Ok(&self.blocks[&b])
    }

    /// The root of the perfect subtree at `height` and `idx`.
    async fn subtree(&mut self, height: u32, idx: u64) -> Result<Hash, AppError> {
        if height >= NODE_HEIGHT {
            if let Some(h) = self.nodes.get(&(height, idx)) {
                return Ok(*h);
            }
            let n = Unscoped::Audit
                .find_by_id::<audit_node::Entity>((height as i16, idx as i64))
                .one(self.db)
                .await?
                .ok_or_else(|| AppError::internal(format!("the audit subtree {height}/{idx} is not stored")))?;
            let h = <Hash>::try_from(n.hash.as_slice())
                .map_err(|_| AppError::internal("an audit subtree hash is not 32 bytes"))?;
            self.nodes.insert((height, idx), h);
            return Ok(h);
        }
        // Below the stored height: from the leaves of its block.
        let first = idx << height;
        let block = first >> NODE_HEIGHT;
        let offset = (first - (block << NODE_HEIGHT)) as usize;
        let leaves = self.block(block).await?;
        let run = leaves
            .get(offset..offset + (1usize << height))
            .ok_or_else(|| AppError::internal("the audit tree has missing leaves"))?;
        Ok(tree::root(run))
    }

    /// The roots of `ranges`, in order: a proof.
    pub async fn proof(&mut self, ranges: &[tree::Range]) -> Result<Vec<Hash>, AppError> {
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let mut roots = Vec::new();
            for (height, idx) in tree::subtrees(*r) {
                roots.push(self.subtree(height, idx).await?);
            }
            out.push(tree::fold(&roots));
        }
        Ok(out)
    }

    /// The leaf hash of leaf `seq`.
    pub async fn leaf(&mut self, seq: u64) -> Result<Hash, AppError> {
        let block = self.block(seq >> NODE_HEIGHT).await?;
        block.get((seq & ((1 << NODE_HEIGHT) - 1)) as usize).copied().ok_or_else(|| AppError::not_found("no such leaf"))
    }
}

/// The shortest retention of the audit trail (the Italian floor for access
/// logs): no tombstone may name a leaf younger than this.
pub const PURGE_FLOOR_DAYS: i64 = 183;

/// The leaves whose events retention deleted, as valid tombstones name them:
/// inclusive runs, sorted and merged. A tombstone (an event of action
/// `purge`) counts only if it is itself a leaf of the tree (below `head`)
/// that matches its event, every leaf it names comes before it, its cutoff
/// (`before`) is at least [`PURGE_FLOOR_DAYS`] before it was written, and
/// every leaf it names was already in a signed checkpoint (one of `claims`)
/// made no later than that cutoff — so the events it names were in the tree
/// before the cutoff, hence older than it. Whoever forges a tombstone can
/// therefore only hide events as old as a real purge could delete, and the
/// tombstone itself stays in the tree for good.
async fn purged_leaves<C: ConnectionTrait>(db: &C, head: u64, claims: &[Claim]) -> Result<Vec<(u64, u64)>, AppError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT l.seq, l.hash, {EVENT_COLUMNS} FROM audit_event e JOIN audit_leaf l ON l.event_id = e.id \
                 WHERE e.action = 'purge' AND l.seq < {head}"
            ),
        ))
        .await?;
    let mut runs = Vec::new();
    for r in rows {
        let seq = r.try_get_by_index::<i64>(0)? as u64;
        let hash: Vec<u8> = r.try_get_by_index(1)?;
        let e = EventRow::read(&r, 2)?;
        if e.leaf_hash().as_slice() != hash.as_slice() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(e.changes.as_deref().unwrap_or("{}")).unwrap_or_default();
        let Some(before) = v["before"].as_str().and_then(|b| DateTime::parse_from_rfc3339(b).ok()) else { continue };
        let before = before.with_timezone(&Utc);
        if before > e.occurred_at - chrono::Duration::days(PURGE_FLOOR_DAYS) {
            continue;
        }
        // The largest tree signed by the cutoff.
        let signed_by =
            claims.iter().filter(|c| c.signed_at.is_some_and(|t| t <= before)).map(|c| c.size).max().unwrap_or(0);
        for r in v["leaves"].as_array().into_iter().flatten() {
            if let (Some(a), Some(b)) = (r[0].as_u64(), r[1].as_u64()) {
                if a <= b && b < seq && b < signed_by {
                    runs.push((a, b));
                }
            }
        }
    }
    runs.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in runs {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = std::cmp::max(last.1, b),
            _ => merged.push((a, b)),
        }
    }
    Ok(merged)
}

fn covered(runs: &[(u64, u64)], seq: u64) -> bool {
    let i = runs.partition_point(|r| r.0 <= seq);
    i > 0 && runs[i - 1].1 >= seq
}

/// The consistency proof between the tree of `from` leaves and that of `to`
/// (both at most the tree's size): a few stored subtrees and at most two
/// runs of 256 leaves.
pub async fn consistency<C: ConnectionTrait>(db: &C, from: u64, to: u64) -> Result<Vec<Hash>, AppError> {
    let (size, _) = head(db).await?;
    if from > to {
        return Err(AppError::validation("from", "`from` must not be larger than `to`"));
    }
    if to > size {
        return Err(AppError::validation("to", format!("the tree has {size} leaves")));
    }
    Subtrees::new(db).proof(&tree::consistency_ranges(from, to).expect("from <= to")).await
}

/// What does not match, in the order verification meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The event's row no longer hashes to its leaf: edited, or swapped with
    /// another leaf's event.
    Edited { seq: u64, event: Uuid },
    /// The leaf's event is gone.
    Deleted { seq: u64, event: Uuid },
    /// A leaf number is missing or its hash is malformed.
    BrokenLeaf { seq: u64 },
    /// An event that is neither a leaf nor waiting for one: written behind
    /// the queueing trigger (SQLite) or with a transaction id the sequencer
    /// has passed or no transaction has had (PostgreSQL).
    NotInTree { event: Uuid },
    /// A checkpoint that does not verify or does not match the recomputed
    /// tree (the leaves between the previous good checkpoint and this one were
    /// rewritten, hashes and all).
    Checkpoint { size: u64, signed_at: Option<DateTime<Utc>>, since_leaf: u64, reason: String },
    /// The stored tree head does not match the leaves.
    TreeHead { size: u64 },
    /// An event that says it happened more than [`BACKDATING_TOLERANCE`]
    /// before a checkpoint that does not contain it was signed: written later
    /// than it claims (the trail's time comes from whoever writes the row).
    Backdated { seq: u64, event: Uuid, occurred_at: DateTime<Utc>, checkpoint: u64, signed_at: DateTime<Utc> },
}

/// How long committed events may wait behind an open transaction before
/// checkpoints stop (well within [`BACKDATING_TOLERANCE`]).
pub const HELD_BACK: chrono::Duration = chrono::Duration::minutes(30);

/// How long an event may take from its time to its leaf: the longest
/// transaction that writes audit events, and the sequencer's lag. An event
/// older than a checkpoint's signing by more than this, yet not in it, is
/// [`Finding::Backdated`].
pub const BACKDATING_TOLERANCE: chrono::Duration = chrono::Duration::hours(1);

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Edited { seq, event } => {
                write!(f, "event {event} (leaf {seq}) does not match its leaf hash: edited or reordered")
            }
            Finding::Deleted { seq, event } => write!(f, "event {event} (leaf {seq}) is missing: deleted"),
            Finding::BrokenLeaf { seq } => write!(f, "leaf {seq} is missing or malformed"),
            Finding::NotInTree { event } => {
                write!(
                    f,
                    "event {event} is in no leaf and not waiting for one: inserted where the sequencer had passed"
                )
            }
            Finding::Checkpoint { size, signed_at, since_leaf, reason } => {
                let at = signed_at.map(|t| format!(" signed {}", t.to_rfc3339())).unwrap_or_default();
                write!(f, "checkpoint of size {size}{at}: {reason} (leaves {since_leaf}..{size} rewritten)")
            }
            Finding::TreeHead { size } => write!(f, "the stored tree head of size {size} does not match the leaves"),
            Finding::Backdated { seq, event, occurred_at, checkpoint, signed_at } => write!(
                f,
                "event {event} (leaf {seq}) says it happened at {}, but the checkpoint of size {checkpoint} \
                 signed at {} does not contain it: backdated",
                occurred_at.to_rfc3339(),
                signed_at.to_rfc3339()
            ),
        }
    }
}

/// What [`verify`] checked and found.
#[derive(Debug, Default)]
pub struct Verification {
    pub leaves: u64,
    /// Leaves whose events retention deleted (a tombstone names them).
    pub purged: u64,
    pub queued: u64,
    pub checkpoints: u64,
    pub findings: Vec<Finding>,
}

/// An event as read for verification: its leaf hash and time.
struct Hashed {
    id: Uuid,
    hash: Hash,
    occurred_at: DateTime<Utc>,
}

/// A checkpoint to check: its size and root, and how to name it.
struct Claim {
    size: u64,
    root: Hash,
    signed_at: Option<DateTime<Utc>>,
}

/// Where the events stream of [`verify`] has got to, in the order the
/// sequencer took them.
#[derive(Clone, Copy)]
enum EventsFrom {
    /// Events taken from the queue, by id (all of SQLite's; PostgreSQL's
    /// written before it numbered events by transaction, whose `xid` is null).
    Queued(Uuid),
    /// PostgreSQL: events by `(xid, id)`, up to the sequencer's cursor.
    ByXid(i64, Uuid),
    Done,
}

/// Recomputes the tree from the events and checks it against every stored
/// checkpoint (each must verify with `verifier`) and against `external`
/// (signed notes kept outside the database, e.g. the Ministry's copies).
///
/// Two streams are read `page` rows at a time, each along an index and
/// without a join (the trail is partitioned by month on PostgreSQL): the
/// leaves by number, up to the tree head read at the start (leaves the
/// sequencer adds meanwhile are for the next run), and the events in the
/// order the sequencer took them. The next pages are read while the current
/// events are decoded and hashed on a blocking thread. A leaf and its event
/// meet in whichever stream reaches them second, so the events' order only
/// bounds the memory used, never the result.
pub async fn verify<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    verifier: &Verifier,
    external: &[String],
    page: u64,
) -> Result<Verification, AppError> {
    let mut out = Verification::default();
    // The claims: stored checkpoints, then the external ones. Read before the
    // head: every checkpoint stored so far is of a tree no larger than it.
    let mut claims = Vec::new();
    let stored = Unscoped::Audit
        .find::<audit_checkpoint::Entity>()
        .order_by_asc(audit_checkpoint::Column::SignedAt)
        .all(db)
        .await?;
    for c in stored
        .iter()
        .map(|c| (c.note.as_str(), c.size as u64, Some(c.signed_at)))
        .chain(external.iter().map(|n| (n.as_str(), 0, None)))
    {
        let (note, size, signed_at) = c;
        out.checkpoints += 1;
        match Checkpoint::open(note, verifier) {
            Ok(cp) => claims.push(Claim { size: cp.size, root: cp.root, signed_at: cp.time.or(signed_at) }),
            Err(reason) => out.findings.push(Finding::Checkpoint { size, signed_at, since_leaf: 0, reason }),
        }
    }
    claims.sort_by_key(|c| c.size);
    // Findings are put in the order verification meets them along the tree
    // at the end: (leaf, rank), a checkpoint after the leaf that completes it.
    let mut found: Vec<((u64, u8), Finding)> =
        std::mem::take(&mut out.findings).into_iter().map(|f| ((0, 0), f)).collect();
    let state = tree_row(db).await?;
    let stored_head = frontier_of(&state)?;
    let head = stored_head.size();
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let cursor = cursor_of(&state);
    let backend = db.get_database_backend();
    // For the backdating check: the latest signing among the checkpoints of
    // at most each size (a leaf is in none of size ≤ its number).
    let mut signings: Vec<(u64, DateTime<Utc>)> =
        claims.iter().filter_map(|c| c.signed_at.map(|t| (c.size, t))).collect();
    signings.sort();
    let mut latest = Vec::with_capacity(signings.len());
    for (size, at) in signings {
        let at = latest.last().map_or(at, |(_, t): &(u64, DateTime<Utc>)| std::cmp::max(*t, at));
        latest.push((size, at));
    }
    let signed_before = |seq: u64| -> Option<(u64, DateTime<Utc>)> {
        let i = latest.partition_point(|(size, _)| *size <= seq);
        i.checked_sub(1).map(|i| latest[i])
    };

    let mut frontier = Frontier::default();
    let mut claim = claims.iter().peekable();
    let mut good_size = 0u64;
    let mut check_claims = |frontier: &Frontier, found: &mut Vec<((u64, u8), Finding)>, good: &mut u64| {
        // Claims are checked after every leaf, so each is met at its own size.
        while let Some(c) = claim.next_if(|c| c.size <= frontier.size()) {
            if c.root == frontier.root() {
                *good = c.size;
            } else {
                found.push((
                    (c.size.saturating_sub(1), 1),
                    Finding::Checkpoint {
                        size: c.size,
                        signed_at: c.signed_at,
                        since_leaf: *good,
                        reason: "its root is not the root of the recomputed tree".into(),
                    },
                ));
            }
        }
    };
    // Checkpoints of the empty tree.
    check_claims(&frontier, &mut found, &mut good_size);
    // A leaf waiting for its event, an event waiting for its leaf.
    let mut leaves_waiting: HashMap<Uuid, (u64, Hash)> = HashMap::new();
    let mut events_waiting: HashMap<Uuid, (Hash, DateTime<Utc>)> = HashMap::new();
    let compare = |seq: u64, event: Uuid, stored: &Hash, e: (Hash, DateTime<Utc>), found: &mut Vec<_>| {
        let (computed, occurred_at) = e;
        if computed != *stored {
            found.push(((seq, 0), Finding::Edited { seq, event }));
        } else if let Some((checkpoint, signed_at)) = signed_before(seq) {
            if occurred_at + BACKDATING_TOLERANCE < signed_at {
                found.push(((seq, 0), Finding::Backdated { seq, event, occurred_at, checkpoint, signed_at }));
            }
        }
    };

    let fetch_leaves = |from: u64| {
        let to = std::cmp::min(from + page, head);
        db.query_all_raw(Statement::from_string(
            backend,
            format!("SELECT seq, event_id, hash FROM audit_leaf WHERE seq >= {from} AND seq < {to} ORDER BY seq"),
        ))
    };
    let events_sql = |from: EventsFrom| -> Option<String> {
        match from {
            EventsFrom::Queued(after) => Some(format!(
                "SELECT {EVENT_COLUMNS} FROM audit_event e WHERE e.id > {} {} ORDER BY e.id LIMIT {page}",
                uuid_literal(backend, after),
                if postgres { "AND e.xid IS NULL" } else { "" }
            )),
            EventsFrom::ByXid(xid, id) => Some(format!(
                "SELECT {EVENT_COLUMNS}, e.xid::text FROM audit_event e \
                 WHERE (e.xid, e.id) > {} AND (e.xid, e.id) <= {} ORDER BY e.xid, e.id LIMIT {page}",
                cursor_row((xid, id)),
                cursor_row(cursor)
            )),
            EventsFrom::Done => None,
        }
    };
    let fetch_events = |from: EventsFrom| {
        let sql = events_sql(from);
        async move {
            match sql {
                // Along the index of each month, merged (see `sequence`).
                Some(sql) if postgres => {
                    let txn = db.begin().await?;
                    txn.execute_unprepared("SET LOCAL enable_sort = off").await?;
                    let rows = txn.query_all_raw(Statement::from_string(backend, sql)).await?;
                    sea_orm::TransactionSession::commit(txn).await?;
                    Ok(rows)
                }
                Some(sql) => db.query_all_raw(Statement::from_string(backend, sql)).await,
                None => Ok(Vec::new()),
            }
        }
    };
    // Where the events stream goes after a page.
    let next_events = |from: EventsFrom, rows: &[QueryResult]| -> Result<EventsFrom, AppError> {
        let full = rows.len() as u64 == page;
        Ok(match (from, rows.last()) {
            (EventsFrom::Queued(_), Some(r)) if full => EventsFrom::Queued(r.try_get_by_index(0)?),
            (EventsFrom::Queued(_), _) if postgres => EventsFrom::ByXid(0, Uuid::nil()),
            (EventsFrom::ByXid(..), Some(r)) if full => {
                let xid: String = r.try_get_by_index(14)?;
                EventsFrom::ByXid(
                    xid.parse().map_err(|_| AppError::internal("a transaction id out of range"))?,
                    r.try_get_by_index(0)?,
                )
            }
            _ => EventsFrom::Done,
        })
    };

    // The leaves valid tombstones name: a leaf among them whose event is gone
    // is not kept waiting for it (after years of retention, most leaves).
    let purged = purged_leaves(db, head, &claims).await?;
    let mut purged_here = 0u64;

    let mut leaf_from = 0u64;
    let mut leaf_rows = if head > 0 { fetch_leaves(0).await? } else { Vec::new() };
    let mut events_from = EventsFrom::Queued(Uuid::nil());
    if postgres {
        // Events from before transaction ids, if any (found along the xid index).
        let legacy = "SELECT EXISTS (SELECT 1 FROM audit_event WHERE xid IS NULL)";
        let r = db.query_one_raw(Statement::from_string(backend, legacy)).await?;
        if !r.map(|r| r.try_get_by_index::<bool>(0)).transpose()?.unwrap_or(false) {
            events_from = EventsFrom::ByXid(0, Uuid::nil());
        }
    }
    let mut event_rows = fetch_events(events_from).await?;
    // A stream that has run ahead by more than two pages waits for the other.
    let ahead = 2 * page as usize;
    loop {
        let leaves_left = leaf_from < head;
        let events_left = !matches!(events_from, EventsFrom::Done);
        if !leaves_left && !events_left {
            break;
        }
        let take_events = events_left && !(leaves_left && events_waiting.len() > ahead);
        let take_leaves = leaves_left && !(take_events && leaves_waiting.len() > ahead);
        let rows = if take_events { std::mem::take(&mut event_rows) } else { Vec::new() };
        let after = if take_events { next_events(events_from, &rows)? } else { events_from };
        let hashing = tokio::task::spawn_blocking(move || -> Result<Vec<Hashed>, sea_orm::DbErr> {
            rows.iter()
                .map(|r| {
                    let e = EventRow::read(r, 0)?;
                    Ok(Hashed { id: e.id, hash: e.leaf_hash(), occurred_at: e.occurred_at })
                })
                .collect()
        });
        let next_leaf_from = leaf_from + page;
        let (hashed, next_leaves, next_event_rows) = tokio::join!(
            hashing,
            async {
                if take_leaves && next_leaf_from < head {
                    fetch_leaves(next_leaf_from).await
                } else {
                    Ok(Vec::new())
                }
            },
            async {
                if take_events {
                    fetch_events(after).await
                } else {
                    Ok(Vec::new())
                }
            }
        );
        // This page's leaves: the tree, then each meets its event if it came.
        if take_leaves {
            for r in &leaf_rows {
                let seq = r.try_get_by_index::<i64>(0)? as u64;
                let event: Uuid = r.try_get_by_index(1)?;
                let stored: Vec<u8> = r.try_get_by_index(2)?;
                while frontier.size() < seq {
                    // A hole in the numbering: nothing to recompute it from.
                    found.push(((frontier.size(), 0), Finding::BrokenLeaf { seq: frontier.size() }));
                    frontier.push([0; 32]);
                    check_claims(&frontier, &mut found, &mut good_size);
                }
                // The leaves against the checkpoints go on with the stored
                // hash: a checkpoint fails only where the leaves themselves
                // were rewritten (an edited event is named once, by itself).
                let Ok(hash) = <Hash>::try_from(stored.as_slice()) else {
                    found.push(((seq, 0), Finding::BrokenLeaf { seq }));
                    frontier.push([0; 32]);
                    check_claims(&frontier, &mut found, &mut good_size);
                    continue;
                };
                match events_waiting.remove(&event) {
                    Some(e) => compare(seq, event, &hash, e, &mut found),
                    // Purged, unless its event comes later (checked at the end).
                    None if covered(&purged, seq) => purged_here += 1,
                    None => {
                        leaves_waiting.insert(event, (seq, hash));
                    }
                }
                frontier.push(hash);
                check_claims(&frontier, &mut found, &mut good_size);
            }
            leaf_rows = next_leaves?;
            leaf_from = next_leaf_from;
        }
        for e in hashed.map_err(|e| AppError::internal(format!("verification thread: {e}")))?? {
            match leaves_waiting.remove(&e.id) {
                Some((seq, stored)) => compare(seq, e.id, &stored, (e.hash, e.occurred_at), &mut found),
                None => {
                    events_waiting.insert(e.id, (e.hash, e.occurred_at));
                }
            }
        }
        if take_events {
            event_rows = next_event_rows?;
            events_from = after;
        }
    }
    out.leaves = frontier.size();
    if frontier.size() != head || frontier.root() != stored_head.root() {
        found.push(((u64::MAX, 2), Finding::TreeHead { size: head }));
    }
    for c in claim {
        found.push((
            (u64::MAX, 3),
            Finding::Checkpoint {
                size: c.size,
                signed_at: c.signed_at,
                since_leaf: good_size,
                reason: format!("the tree has only {} leaves", frontier.size()),
            },
        ));
    }
    // Leaves whose event is gone and that no valid tombstone names: deleted.
    for (event, (seq, _)) in leaves_waiting {
        found.push(((seq, 0), Finding::Deleted { seq, event }));
    }
    // Events that met no leaf in the streams: one whose leaf was read and
    // taken as purged, or a second row with a leaf's id, is checked against
    // that leaf; one whose leaf was added since the head was read, or (SQLite)
    // queued, waits; any other slipped in where the sequencer had passed.
    if postgres {
        // After the cursor, an event that is already a leaf (a second row with
        // its id) would wait for the sequencer for ever: checked here.
        let twins = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_event e WHERE (e.xid, e.id) > {} \
             AND EXISTS (SELECT 1 FROM audit_leaf l WHERE l.event_id = e.id)",
            cursor_row(cursor)
        );
        for r in db.query_all_raw(Statement::from_string(backend, twins)).await? {
            let e = EventRow::read(&r, 0)?;
            events_waiting.insert(e.id, (e.leaf_hash(), e.occurred_at));
        }
    }
    let mut strays: Vec<(Uuid, (Hash, DateTime<Utc>))> = events_waiting.into_iter().collect();
    strays.sort_by_key(|(id, _)| *id);
    for chunk in strays.chunks(500) {
        let ids = chunk.iter().map(|(id, _)| uuid_literal(backend, *id)).collect::<Vec<_>>().join(", ");
        let leaves: HashMap<Uuid, (u64, Vec<u8>)> = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT event_id, seq, hash FROM audit_leaf WHERE event_id IN ({ids})"),
            ))
            .await?
            .iter()
            .map(|r| Ok((r.try_get_by_index(0)?, (r.try_get_by_index::<i64>(1)? as u64, r.try_get_by_index(2)?))))
            .collect::<Result<_, sea_orm::DbErr>>()?;
        let queued: std::collections::HashSet<Uuid> = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT event_id FROM audit_pending WHERE event_id IN ({ids})"),
            ))
            .await?
            .iter()
            .map(|r| r.try_get_by_index::<Uuid>(0))
            .collect::<Result<_, _>>()?;
        for (id, e) in chunk {
            match leaves.get(id) {
                Some((seq, stored)) if *seq < head => {
                    if covered(&purged, *seq) {
                        purged_here = purged_here.saturating_sub(1);
                    }
                    match <Hash>::try_from(stored.as_slice()) {
                        Ok(h) => compare(*seq, *id, &h, *e, &mut found),
                        Err(_) => found.push(((*seq, 0), Finding::BrokenLeaf { seq: *seq })),
                    }
                }
                Some(_) => {}
                None if queued.contains(id) => {}
                None => found.push(((u64::MAX, 4), Finding::NotInTree { event: *id })),
            }
        }
    }
    out.purged = purged_here;
    if postgres {
        // An event with a transaction id no transaction has had yet: never
        // sequenced, and not waiting for it either.
        let future = format!(
            "SELECT id FROM audit_event WHERE (xid, id) > {} \
             AND xid >= pg_snapshot_xmax(pg_current_snapshot()) ORDER BY id",
            cursor_row(cursor)
        );
        for r in db.query_all_raw(Statement::from_string(backend, future)).await? {
            found.push(((u64::MAX, 4), Finding::NotInTree { event: r.try_get_by_index(0)? }));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    out.findings = found.into_iter().map(|(_, f)| f).collect();
    out.queued = Unscoped::Audit.find::<audit_pending::Entity>().count(db).await?;
    if postgres {
        let ahead = format!(
            "SELECT count(*) FROM audit_event e WHERE (e.xid, e.id) > {} \
             AND NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.event_id = e.id)",
            cursor_row(cursor)
        );
        if let Some(r) = db.query_one_raw(Statement::from_string(backend, ahead)).await? {
            out.queued += r.try_get_by_index::<i64>(0)? as u64;
        }
    }
    Ok(out)
}

/// The log as the server runs it: the sequencer and the checkpointer on a
/// timer, and the proofs it serves (cached: a proof reads the leaves' hashes).
pub struct Publisher {
    signer: Option<Signer>,
    every: chrono::Duration,
    sink: Option<std::path::PathBuf>,
    proofs: quick_cache::sync::Cache<(u64, u64), std::sync::Arc<Vec<Hash>>>,
}

impl Publisher {
    /// Checkpoints signed by `signer` every `every_secs`, also written to `sink`.
    pub fn new(signer: Option<Signer>, every_secs: u64, sink: Option<std::path::PathBuf>) -> Self {
        Publisher {
            signer,
            every: chrono::Duration::seconds(every_secs as i64),
            sink,
            proofs: quick_cache::sync::Cache::new(64),
        }
    }

    /// The key that checks this log's checkpoints.
    pub fn verifier(&self) -> Option<Verifier> {
        self.signer.as_ref().map(Signer::verifier)
    }

    /// One round: every event that can be sequenced into the tree, then a
    /// checkpoint if one is due (and a key is configured). Leaves appended,
    /// and the checkpoint.
    pub async fn tick(&self, db: &DatabaseConnection) -> Result<(u64, Option<audit_checkpoint::Model>), AppError> {
        let n = sequence_available(db).await?;
        let c = match &self.signer {
            Some(s) => checkpoint(db, s, self.every, self.sink.as_deref()).await?,
            None => None,
        };
        Ok((n, c))
    }

    /// The consistency proof between two sizes of the tree (see [`consistency`]).
    pub async fn consistency(
        &self,
        db: &DatabaseConnection,
        from: u64,
        to: u64,
    ) -> Result<std::sync::Arc<Vec<Hash>>, AppError> {
        if let Some(p) = self.proofs.get(&(from, to)) {
            return Ok(p);
        }
        let p = std::sync::Arc::new(consistency(db, from, to).await?);
        self.proofs.insert((from, to), p.clone());
        Ok(p)
    }
}
