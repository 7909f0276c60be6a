//! On PostgreSQL, `audit_event` partitioned by month of `occurred_at`, so that
//! retention of the trail drops a month's partition once every event in it is
//! in a signed checkpoint (`src/retention`), instead of deleting row by row.
//!
//! - The table is recreated as `PARTITION BY RANGE (occurred_at)` with the
//!   same columns, defaults and indexes; its primary key becomes
//!   `(id, occurred_at)` (a partitioned table's keys include the partition
//!   key; ids stay unique, they are time-ordered UUIDs made by the service).
//!   The existing events are copied, their transaction ids kept.
//! - `audit_event_pYYYYMM`: one partition per month (UTC), from the oldest
//!   event's month (at most ten years back); `gepi_audit_partitions(n)` creates the current month's and
//!   the next `n` (the server calls it every hour, with 3). `audit_event_default`
//!   takes an event of a month with no partition (a clock far off), so an
//!   event is never refused.
//! - The append-only trigger is a row trigger of the partitioned table (each
//!   partition has it); the `TRUNCATE` trigger is per partition, as
//!   `TRUNCATE` of a partition does not fire its parent's.
//!
//! SQLite is unchanged: there retention deletes rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "id, occurred_at, request_id, actor_kind, operator_id, profile_id, api_client_id, role, \
     ambito_id, entity, entity_id, action, changes, operation, xid";

/// `audit_event` with its columns, then `tail` (its key, and how it is
/// partitioned), its indexes and its append-only triggers.
async fn create_table(db: &SchemaManagerConnection<'_>, tail: &str) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "CREATE TABLE audit_event (
               id uuid NOT NULL,
               occurred_at timestamp with time zone NOT NULL,
               request_id varchar(64),
               actor_kind varchar(40) NOT NULL,
               operator_id uuid,
               profile_id uuid,
               api_client_id uuid,
               role varchar(40),
               ambito_id uuid,
               entity varchar(40) NOT NULL,
               entity_id varchar(64),
               action varchar(40) NOT NULL,
               changes text,
               operation varchar(64),
               xid xid8 DEFAULT pg_current_xact_id(),
               {tail}"
    ))
    .await?;
    for sql in [
        "CREATE INDEX idx_audit_event_xid ON audit_event (xid, id)",
        "CREATE INDEX ix_audit_event_ambito_id_occurred_at_id ON audit_event (ambito_id, occurred_at, id)",
        "CREATE INDEX ix_audit_event_entity_entity_id ON audit_event (entity, entity_id)",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
           FOR EACH ROW EXECUTE FUNCTION gepi_audit_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
           FOR EACH STATEMENT EXECUTE FUNCTION gepi_audit_append_only()",
    ] {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE audit_event RENAME TO audit_event_unpartitioned",
            "ALTER INDEX audit_event_pkey RENAME TO audit_event_unpartitioned_pkey",
            "ALTER INDEX idx_audit_event_xid RENAME TO idx_audit_event_unpartitioned_xid",
            "ALTER INDEX ix_audit_event_ambito_id_occurred_at_id RENAME TO ix_audit_event_unpartitioned_ambito",
            "ALTER INDEX ix_audit_event_entity_entity_id RENAME TO ix_audit_event_unpartitioned_entity",
        ] {
            db.execute_unprepared(sql).await?;
        }
        create_table(db, "PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE (occurred_at)").await?;
        for sql in [
            // One month's partition (UTC), with its own TRUNCATE trigger; nothing if it exists.
            "CREATE FUNCTION gepi_audit_partition(month date) RETURNS void LANGUAGE plpgsql AS $$
             DECLARE
               first date := date_trunc('month', month)::date;
               part text := 'audit_event_p' || to_char(first, 'YYYYMM');
             BEGIN
               IF to_regclass(part) IS NOT NULL THEN RETURN; END IF;
               EXECUTE format('CREATE TABLE %I PARTITION OF audit_event FOR VALUES FROM (%L) TO (%L)', part,
                 first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
               EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON %I
                 FOR EACH STATEMENT EXECUTE FUNCTION gepi_audit_append_only()', part);
             END $$",
            // This month's and the next `ahead` months' partitions. A month
            // whose events already went to the default partition keeps them
            // there (creating its partition would have to move them): warned.
            "CREATE FUNCTION gepi_audit_partitions(ahead int) RETURNS void LANGUAGE plpgsql AS $$
             BEGIN
               FOR i IN 0..ahead LOOP
                 BEGIN
                   PERFORM gepi_audit_partition(((now() AT TIME ZONE 'UTC')::date + make_interval(months => i))::date);
                 EXCEPTION
                   WHEN check_violation THEN
                     RAISE WARNING 'audit_event: the default partition holds events of month +%', i;
                   WHEN duplicate_table THEN
                     NULL; -- another instance made it meanwhile
                 END;
               END LOOP;
             END $$",
            "CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT",
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event_default
               FOR EACH STATEMENT EXECUTE FUNCTION gepi_audit_append_only()",
            // From the oldest event's month, but no more than ten years back
            // (one stray timestamp must not make hundreds of partitions; older
            // events go to the default partition).
            "SELECT gepi_audit_partition(m::date) FROM generate_series(
               date_trunc('month', (SELECT greatest(min(occurred_at), now() - interval '10 years')
                 FROM audit_event_unpartitioned HAVING count(*) > 0) AT TIME ZONE 'UTC'),
               now() AT TIME ZONE 'UTC', interval '1 month') AS m",
            "SELECT gepi_audit_partitions(3)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        db.execute_unprepared(&format!(
            "INSERT INTO audit_event ({COLUMNS}) SELECT {COLUMNS} FROM audit_event_unpartitioned"
        ))
        .await?;
        db.execute_unprepared("DROP TABLE audit_event_unpartitioned").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE audit_event RENAME TO audit_event_partitioned",
            "ALTER INDEX idx_audit_event_xid RENAME TO idx_audit_event_partitioned_xid",
            "ALTER INDEX ix_audit_event_ambito_id_occurred_at_id RENAME TO ix_audit_event_partitioned_ambito",
            "ALTER INDEX ix_audit_event_entity_entity_id RENAME TO ix_audit_event_partitioned_entity",
            "ALTER TABLE audit_event_partitioned RENAME CONSTRAINT audit_event_pkey TO audit_event_partitioned_pkey",
        ] {
            db.execute_unprepared(sql).await?;
        }
        create_table(db, "PRIMARY KEY (id))").await?;
        db.execute_unprepared(&format!(
            "INSERT INTO audit_event ({COLUMNS}) SELECT {COLUMNS} FROM audit_event_partitioned"
        ))
        .await?;
        for sql in [
            "DROP TABLE audit_event_partitioned",
            "DROP FUNCTION gepi_audit_partitions(int)",
            "DROP FUNCTION gepi_audit_partition(date)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
