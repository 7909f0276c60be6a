//! On PostgreSQL, every role's default list is served by an index that gives both
//! the row condition and the order (an index range scan, no sort). The planner is
//! told to avoid sorts and sequential scans, so the test proves such an index
//! exists whatever the size of the test data.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::TestApp;

#[tokio::test]
async fn default_lists_are_index_range_scans_on_postgres() {
    let app = TestApp::seeded().await;
    if app.db.get_database_backend() != DbBackend::Postgres {
        eprintln!("index plans are checked on PostgreSQL only");
        return;
    }
    let one = |sql: &str| {
        let sql = sql.to_string();
        let db = app.db.clone();
        async move {
            let r = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
            r.try_get_by_index::<String>(0).unwrap()
        }
    };
    let cm = one("SELECT CAST(operator_id AS TEXT) FROM profile WHERE role = 'case_manager' LIMIT 1").await;
    let ambito = one("SELECT CAST(id AS TEXT) FROM ambito LIMIT 1").await;
    let comune = one(&format!("SELECT istat_code FROM comune WHERE ambito_id = '{ambito}' LIMIT 1")).await;
    let lists = [
        ("case manager: own cases", format!("SELECT id FROM case_file WHERE case_manager_id = '{cm}' ORDER BY pad_date, id LIMIT 21")),
        ("coordinator: cases of the Ambito", format!("SELECT id FROM case_file WHERE ambito_id = '{ambito}' ORDER BY pad_date, id LIMIT 21")),
        ("registrar: cases of its Comuni", format!("SELECT id FROM case_file WHERE ambito_id = '{ambito}' AND comune_istat IN ('{comune}') ORDER BY pad_date, id LIMIT 21")),
        ("registrar: meetings of its Comuni", format!("SELECT id FROM meeting WHERE ambito_id = '{ambito}' AND comune_istat IN ('{comune}') ORDER BY scheduled_at, id LIMIT 21")),
        ("case manager: own meetings", format!("SELECT id FROM meeting WHERE operator_id = '{cm}' ORDER BY scheduled_at, id LIMIT 21")),
        ("PUC manager: projects of its Comuni", format!("SELECT id FROM puc_project WHERE ambito_id = '{ambito}' AND comune_istat IN ('{comune}') ORDER BY starts_on, id LIMIT 21")),
        ("registry coordinator: checks of its Comuni", format!("SELECT id FROM residency_check WHERE current_comune_istat = '{comune}' ORDER BY due_on, id LIMIT 21")),
        ("registry officer: own checks", format!("SELECT id FROM residency_check WHERE officer_id = '{cm}' ORDER BY due_on, id LIMIT 21")),
        ("validator: requests of its Comuni", format!("SELECT id FROM disadvantage_check WHERE certifying_comune_istat = '{comune}' ORDER BY received_on, id LIMIT 21")),
        ("administrator: audit trail of the Ambito", format!("SELECT id FROM audit_event WHERE ambito_id = '{ambito}' ORDER BY occurred_at DESC, id DESC LIMIT 21")),
    ];
    let txn = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_sort = off").await.unwrap();
    txn.execute_unprepared("SET LOCAL enable_bitmapscan = off").await.unwrap();
    for (what, sql) in lists {
        let rows =
            txn.query_all_raw(Statement::from_string(DbBackend::Postgres, format!("EXPLAIN {sql}"))).await.unwrap();
        let plan: Vec<String> = rows.into_iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
        let text = plan.join("\n");
        assert!(text.contains("Index Scan") || text.contains("Index Only Scan"), "{what}: no index scan\n{text}");
        // A sort node, not the `Sort Key` of a Merge Append (the audit trail is
        // partitioned by month on PostgreSQL: each month's index scan, merged).
        let sorts = plan.iter().filter_map(|l| l.split_once("  (cost=")).any(|(node, _)| {
            let node = node.trim_start().trim_start_matches("->").trim_start();
            node == "Sort" || node == "Incremental Sort"
        });
        assert!(!sorts, "{what}: the order needs a sort\n{text}");
        assert!(!text.contains("Seq Scan"), "{what}: sequential scan\n{text}");
    }
}
