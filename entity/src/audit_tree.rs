//! Table `audit_tree`: one row (`id` 1), the audit tree's size and right edge
//! (the roots of its perfect subtrees, largest first, 32 bytes each), and on
//! PostgreSQL where the sequencer stopped.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Default)]
#[sea_orm(table_name = "audit_tree")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub size: i64,
    pub frontier: Vec<u8>,
    pub updated_at: DateTimeUtc,
    /// PostgreSQL: the transaction id and event id of the last event the
    /// sequencer took by transaction (see `src/audit/log.rs`).
    pub cursor_xid: Option<i64>,
    pub cursor_event: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
