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
        "ambito", "comune", "convention", "operator", "profile", "profile_comune", "session", "api_client",
        "household", "member", "application", "case_file", "preliminary_analysis", "analysis_framework",
        "analysis_team_member", "pact", "pact_objective", "pact_expected_result", "pact_commitment",
        "pact_commitment_member", "support", "report", "meeting", "office_slot", "puc_project",
        "puc_assignment", "puc_attendance", "residency_check", "residency_period", "disadvantage_check",
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
        DbBackend::Postgres => "INSERT INTO comune (istat_code, belfiore_code, name, province, ambito_id, social_services_delegated) \
                                VALUES ('108023', 'D286', 'Desio', 'MB', '00000000-0000-0000-0000-000000000001', false)".to_string(),
        _ => "INSERT INTO comune (istat_code, belfiore_code, name, province, ambito_id, social_services_delegated) \
              VALUES ('108023', 'D286', 'Desio', 'MB', X'00000000000000000000000000000001', 0)".to_string(),
    };
    assert!(app.db.execute_unprepared(&sql).await.is_err(), "a dangling foreign key must be refused");
}
