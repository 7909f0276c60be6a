//! Migrations run up and down on the backend under test, and the audit trail
//! refuses updates and deletes at the database level.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::TestApp;

async fn user_tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1",
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .filter(|n| n != "seaql_migrations")
        .collect()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let (db, _guard) = TestApp::unmigrated().await;
    Migrator::up(&db, None).await.expect("up");
    let tables = user_tables(&db).await;
    for t in [
        "ambito",
        "comune",
        "convention",
        "operator",
        "profile",
        "profile_comune",
        "session",
        "api_client",
        "api_client_document",
        "inps_feed_job",
        "inps_feed_record",
        "inps_feed_rejection",
        "partner_event",
        "household",
        "member",
        "application",
        "case_file",
        "preliminary_analysis",
        "analysis_framework",
        "analysis_team_member",
        "pact",
        "pact_objective",
        "pact_expected_result",
        "pact_commitment",
        "pact_commitment_member",
        "support",
        "report",
        "meeting",
        "office_slot",
        "puc_project",
        "puc_assignment",
        "puc_attendance",
        "residency_check",
        "residency_period",
        "disadvantage_check",
        "audit_event",
    ] {
        assert!(tables.contains(&t.to_string()), "table {t} missing after up: {tables:?}");
    }
    Migrator::down(&db, None).await.expect("down");
    assert_eq!(user_tables(&db).await, Vec::<String>::new(), "tables left after down");
    Migrator::up(&db, None).await.expect("up again");
    assert_eq!(user_tables(&db).await, tables);
}

#[tokio::test]
async fn audit_trail_is_append_only_in_the_database() {
    let app = TestApp::new().await;
    let id = uuid::Uuid::new_v4();
    let insert = match app.db.get_database_backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, action) \
             VALUES ('{id}', now(), 'system', 'case_file', 'read')"
        ),
        _ => format!(
            "INSERT INTO audit_event (id, occurred_at, actor_kind, entity, action) \
             VALUES (X'{}', '2026-01-01T00:00:00+00:00', 'system', 'case_file', 'read')",
            id.simple()
        ),
    };
    app.exec(&insert).await;
    let upd = app.db.execute_unprepared("UPDATE audit_event SET action = 'update'").await;
    assert!(upd.is_err(), "UPDATE of the audit trail must fail");
    assert!(upd.unwrap_err().to_string().contains("append-only"));
    let del = app.db.execute_unprepared("DELETE FROM audit_event").await;
    assert!(del.is_err(), "DELETE of the audit trail must fail");
    assert_eq!(app.count("audit_event").await, 1);
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let app = TestApp::new().await;
    // A Comune in an Ambito that does not exist.
    let sql = match app.db.get_database_backend() {
        DbBackend::Postgres => {
            "INSERT INTO comune (istat_code, belfiore_code, name, province, ambito_id, social_services_delegated) \
                                VALUES ('108023', 'D286', 'Desio', 'MB', '00000000-0000-0000-0000-000000000001', false)"
                .to_string()
        }
        _ => "INSERT INTO comune (istat_code, belfiore_code, name, province, ambito_id, social_services_delegated) \
              VALUES ('108023', 'D286', 'Desio', 'MB', X'00000000000000000000000000000001', 0)"
            .to_string(),
    };
    assert!(app.db.execute_unprepared(&sql).await.is_err(), "a dangling foreign key must be refused");
}

/// Every object of the schema (tables, indexes, triggers) and every row of the
/// migration table, as one comparable list.
async fn schema_and_history(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT 'table:' || table_name AS o FROM information_schema.tables WHERE table_schema = 'public' \
             UNION ALL SELECT 'index:' || indexname FROM pg_indexes WHERE schemaname = 'public' \
             UNION ALL SELECT DISTINCT 'trigger:' || trigger_name FROM information_schema.triggers WHERE trigger_schema = 'public' \
             ORDER BY 1"
        }
        _ => "SELECT type || ':' || name AS o FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1",
    };
    let mut out: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "o").unwrap())
        .collect();
    if out.iter().any(|o| o == "table:seaql_migrations") {
        let rows = db
            .query_all_raw(Statement::from_string(backend, "SELECT version FROM seaql_migrations ORDER BY version"))
            .await
            .unwrap();
        out.extend(rows.into_iter().map(|r| format!("applied:{}", r.try_get::<String>("", "version").unwrap())));
    }
    out
}

/// The real chain followed by a migration that creates a table and an index,
/// then fails.
struct ChainFailingHalfWay;

struct HalfWay;

impl migration::MigrationName for HalfWay {
    fn name(&self) -> &str {
        "m20991231_000001_half_way"
    }
}

#[migration::async_trait::async_trait]
impl migration::MigrationTrait for HalfWay {
    async fn up(&self, manager: &migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE TABLE half_way_probe (id INTEGER PRIMARY KEY, v INTEGER)").await?;
        db.execute_unprepared("CREATE INDEX ix_half_way_probe_v ON half_way_probe (v)").await?;
        // `operator` exists: this statement fails.
        db.execute_unprepared("CREATE TABLE operator (id INTEGER)").await?;
        Ok(())
    }

    async fn down(&self, _: &migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        Ok(())
    }
}

impl MigratorTrait for ChainFailingHalfWay {
    fn migrations() -> Vec<Box<dyn migration::MigrationTrait>> {
        let mut m = Migrator::migrations();
        m.push(Box::new(HalfWay));
        m
    }
}

#[tokio::test]
async fn every_migration_asks_for_a_transaction_of_its_own() {
    for m in Migrator::migrations() {
        assert_eq!(m.use_transaction(), Some(true), "{} must be atomic on SQLite too", m.name());
    }
}

#[tokio::test]
async fn a_migration_that_fails_half_way_leaves_the_schema_and_the_migration_table_as_they_were() {
    // From an empty database: nothing of the chain stays.
    let (db, _guard) = TestApp::unmigrated().await;
    let empty = schema_and_history(&db).await;
    let err = gepi::db::migrate_with::<ChainFailingHalfWay>(&db).await.expect_err("the last migration fails");
    assert!(err.to_string().contains("operator"), "{err}");
    assert_eq!(schema_and_history(&db).await, empty, "a failed upgrade leaves the database as it was");

    // From the current schema: the failing step leaves no table, index or record.
    gepi::db::migrate(&db).await.expect("up");
    let current = schema_and_history(&db).await;
    assert!(current.iter().any(|o| o.starts_with("applied:m20261126_000003")), "{current:?}");
    gepi::db::migrate_with::<ChainFailingHalfWay>(&db).await.expect_err("the new migration fails");
    assert_eq!(schema_and_history(&db).await, current);
    // A rollback that fails half way leaves it unchanged as well: a table of
    // someone else's refers to an Ambito, so dropping `ambito` (the last step
    // of the first migration's down) fails after every later migration's down
    // has run.
    let (ambito_id, blocker) = match db.get_database_backend() {
        DbBackend::Postgres => {
            ("'00000000-0000-0000-0000-000000000001'", "CREATE TABLE blocker (ambito_id uuid REFERENCES ambito (id))")
        }
        _ => ("X'00000000000000000000000000000001'", "CREATE TABLE blocker (ambito_id BLOB REFERENCES ambito (id))"),
    };
    db.execute_unprepared(&format!(
        "INSERT INTO ambito (id, code, name, region, management_form, created_at) \
         VALUES ({ambito_id}, 'X', 'X', 'X', 'x', '2026-01-01T00:00:00+00:00')"
    ))
    .await
    .unwrap();
    db.execute_unprepared(blocker).await.unwrap();
    db.execute_unprepared(&format!("INSERT INTO blocker VALUES ({ambito_id})")).await.unwrap();
    let before = schema_and_history(&db).await;
    gepi::db::rollback(&db, None).await.expect_err("ambito cannot be dropped");
    assert_eq!(schema_and_history(&db).await, before, "a failed rollback leaves the database as it was");
}

/// Many fresh SQLite databases migrated up, down and up again by the `gepi`
/// binary, several processes at a time: the chain never fails. (Before the
/// migrations ran in one transaction, the same chains failed 12 times in 60:
/// "index ix_session_operator_id already exists".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_chains_on_many_sqlite_databases_at_once_never_fail() {
    if std::env::var("GEPI_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // a SQLite property: PostgreSQL has always wrapped migrations in transactions
    }
    const DATABASES: usize = 200;
    const AT_ONCE: usize = 6;
    let budget = std::time::Duration::from_secs(300);
    let started = std::time::Instant::now();
    let dir = std::env::temp_dir().join(format!("gepi-migrate-stress-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..DATABASES {
        let (sem, path) = (sem.clone(), dir.join(format!("{i}.db")));
        tasks.spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            if started.elapsed() > budget {
                return Ok(false);
            }
            let url = format!("sqlite://{}?mode=rwc", path.display());
            for args in [&["migrate"][..], &["migrate", "--down"], &["migrate"]] {
                let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gepi"))
                    .args(args)
                    .env("GEPI_DATABASE_URL", &url)
                    .env_remove("GEPI_CONFIG")
                    .output()
                    .await
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!(
                        "database {i}, gepi {}: {}",
                        args.join(" "),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
            Ok::<bool, String>(true)
        });
    }
    let (mut ran, mut failures) = (0, Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(true) => ran += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{} of {} chains failed: {failures:?}", failures.len(), ran + failures.len());
    assert!(ran >= 50, "only {ran} chains ran within {budget:?}: too few for the proof");
    eprintln!(
        "{ran} migration chains (up, down, up) by the binary on fresh SQLite databases, {AT_ONCE} at a time: 0 failed"
    );
}
