//! Aggregates (`stats`): exact counts for the roles that read the rows anyway,
//! perturbed and suppressed ones for the analyst, the same row rules either
//! way, and clear refusals of what a role may not count.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use entity::enums::Role;
use gepi::stats::disclosure::{perturb, KEY_SPACE, MAX_NOISE};
use sea_orm::{ActiveEnum, ConnectionTrait, EntityTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{error_code, TestApp};

/// A finest cell of the cases: Ambito, Comune, month, state, pathway, size band.
type Finest = (String, String, String, String, String, String);

const TABLE: &str = r#"query($m: StatsMeasure!, $by: [StatsDimension!]!, $f: [StatsFilter!], $p: StatsPeriod) {
  stats(measure: $m, by: $by, filter: $f, period: $p) {
    measure dimensions method threshold maxNoise
    cells { coordinates { dimension value label } value flag }
  } }"#;

async fn table(app: &TestApp, token: &str, vars: Value) -> Value {
    app.gql(Some(token), TABLE, vars).await
}

/// `(coordinate values...) -> (value, flag)` of an answered table.
fn cells(r: &Value) -> BTreeMap<Vec<String>, (Option<i64>, String)> {
    r["data"]["stats"]["cells"]
        .as_array()
        .unwrap_or_else(|| panic!("no table: {r}"))
        .iter()
        .map(|c| {
            let key =
                c["coordinates"].as_array().unwrap().iter().map(|x| x["value"].as_str().unwrap().to_string()).collect();
            (key, (c["value"].as_i64(), c["flag"].as_str().unwrap().to_string()))
        })
        .collect()
}

/// The cases as the tests count them: (ambito code, comune, month, state,
/// pathway, size band, record key).
async fn case_rows(app: &TestApp) -> Vec<(String, String, String, String, String, String, i64)> {
    let db = &app.db;
    let codes: HashMap<uuid::Uuid, String> =
        entity::ambito::Entity::find().all(db).await.unwrap().into_iter().map(|a| (a.id, a.code)).collect();
    let mut sizes: HashMap<uuid::Uuid, usize> = HashMap::new();
    for m in entity::member::Entity::find().all(db).await.unwrap() {
        *sizes.entry(m.household_id).or_default() += 1;
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id, record_key FROM case_file".to_string(),
        ))
        .await
        .unwrap();
    let keys: HashMap<uuid::Uuid, i64> = rows
        .into_iter()
        .map(|r| (r.try_get::<uuid::Uuid>("", "id").unwrap(), i64::from(r.try_get::<i32>("", "record_key").unwrap())))
        .collect();
    entity::case_file::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            let size = match sizes.get(&c.household_id).copied().unwrap_or(0) {
                0 | 1 => "1",
                2 => "2",
                3 | 4 => "3-4",
                _ => "5+",
            };
            (
                codes[&c.ambito_id].clone(),
                c.comune_istat.clone(),
                c.pad_date.format("%Y-%m").to_string(),
                c.state.to_value(),
                c.pathway_type.map(|p| p.to_value()).unwrap_or_else(|| "NESSUNO".into()),
                size.to_string(),
                keys[&c.id],
            )
        })
        .collect()
}

#[tokio::test]
async fn the_coordinator_counts_exactly_the_cases_of_its_ambito() {
    let app = TestApp::seeded().await;
    let (token, profile, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let r = table(&app, &token, json!({ "m": "CASES", "by": ["COMUNE", "CASE_STATE"] })).await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["stats"]["method"], "EXACT");
    assert!(r["data"]["stats"]["threshold"].is_null());
    let got = cells(&r);
    let ambito = entity::ambito::Entity::find_by_id(profile.ambito_id.unwrap()).one(&app.db).await.unwrap().unwrap();
    let mut want: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (a, comune, _, state, ..) in case_rows(&app).await {
        if a == ambito.code {
            *want.entry(vec![comune, state]).or_default() += 1;
        }
    }
    assert!(!want.is_empty());
    for (k, (v, flag)) in &got {
        assert_eq!(flag, "EXACT");
        assert_eq!(*v, Some(want.get(k).copied().unwrap_or(0)), "cell {k:?}");
    }
    for k in want.keys() {
        assert!(got.contains_key(k), "the table misses {k:?}");
    }
    // The same total as the list the coordinator reads.
    let total: i64 = got.values().map(|(v, _)| v.unwrap()).sum();
    let list = app.gql(Some(&token), "{ cases { totalCount } }", json!({})).await;
    assert_eq!(list["data"]["cases"]["totalCount"].as_i64(), Some(total), "{list}");
}

#[tokio::test]
async fn the_coordinator_counts_cases_by_deadline_as_the_case_list_filters_them() {
    use entity::{case_file, enums::CaseState};
    use sea_orm::{ActiveModelTrait, ColumnTrait, Iterable, QueryFilter, QueryOrder, Set};
    let app = TestApp::seeded().await;
    let (token, profile, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let today = gepi::calendar::today();
    // Whatever the seed's dates: three open cases 100 days after their PAD
    // without a meeting (within 30 days of the 120-day deadline), two past it.
    let mine = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(profile.ambito_id.unwrap()))
        .order_by_asc(case_file::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert!(mine.len() >= 5);
    for (i, c) in mine.iter().take(5).enumerate() {
        let mut m: case_file::ActiveModel = c.clone().into();
        m.pad_date = Set(today - chrono::Duration::days(if i < 3 { 100 } else { 130 }));
        m.first_meeting_on = Set(None);
        m.last_meeting_on = Set(None);
        m.state = Set(CaseState::Assegnato);
        m.update(&app.db).await.unwrap();
    }
    let r = table(&app, &token, json!({ "m": "CASES", "by": ["DEADLINE"] })).await;
    assert!(r["errors"].is_null(), "{r}");
    let got: BTreeMap<String, i64> = cells(&r)
        .into_iter()
        .map(|(k, (v, flag))| {
            assert_eq!(flag, "EXACT");
            (k[0].clone(), v.unwrap())
        })
        .collect();
    let order: Vec<&str> = r["data"]["stats"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coordinates"][0]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "ENTRO_60_GIORNI",
            "OLTRE_60_GIORNI",
            "IN_SCADENZA",
            "SCADUTO",
            "VERIFICA_IN_TERMINE",
            "VERIFICA_SCADUTA",
            "NESSUNA"
        ]
    );
    assert!(got["IN_SCADENZA"] >= 3 && got["SCADUTO"] >= 2, "{got:?}");
    // The same cases as the list's filters of open cases: overdue, and due within 30 days.
    let open: Vec<String> = CaseState::iter()
        .filter(|s| !matches!(s, CaseState::Chiuso | CaseState::Trasferito))
        .map(|s| s.to_value())
        .collect();
    let count = |filter: Value| {
        let app = &app;
        let token = &token;
        async move {
            let r = app
                .gql(Some(token), "query($f: CaseFilter) { cases(filter: $f) { totalCount } }", json!({ "f": filter }))
                .await;
            r["data"]["cases"]["totalCount"].as_i64().unwrap_or_else(|| panic!("{r}"))
        }
    };
    assert_eq!(got["SCADUTO"], count(json!({ "overdue": true, "state": open })).await);
    assert_eq!(got["IN_SCADENZA"], count(json!({ "dueWithinDays": 30, "state": open })).await);
    let closed = count(json!({ "state": ["CHIUSO", "TRASFERITO"] })).await;
    assert_eq!(got["NESSUNA"], closed);
    assert_eq!(got.values().sum::<i64>(), count(json!({})).await, "every case in one band");
    // Each case in its band, as the case's own fields place it.
    let rows = case_file::Entity::find()
        .filter(case_file::Column::AmbitoId.eq(profile.ambito_id.unwrap()))
        .all(&app.db)
        .await
        .unwrap();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for c in rows {
        let since = (today - c.pad_date).num_days();
        let band = if matches!(c.state, CaseState::Chiuso | CaseState::Trasferito) {
            "NESSUNA"
        } else if c.first_meeting_on.is_none() {
            match since {
                d if d > 120 => "SCADUTO",
                d if d >= 90 => "IN_SCADENZA",
                d if d > 60 => "OLTRE_60_GIORNI",
                _ => "ENTRO_60_GIORNI",
            }
        } else if c.last_meeting_on.is_some_and(|l| (today - l).num_days() > 90) {
            "VERIFICA_SCADUTA"
        } else {
            "VERIFICA_IN_TERMINE"
        };
        *want.entry(band.to_string()).or_default() += 1;
    }
    for (band, n) in &got {
        assert_eq!(*n, want.get(band).copied().unwrap_or(0), "{band}");
    }
    // A perturbed role may not count by it.
    let (analyst, _, _) = app.login_role(Role::Analyst, 0).await;
    let r = table(&app, &analyst, json!({ "m": "CASES", "by": ["DEADLINE"] })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
}

#[tokio::test]
async fn the_analyst_gets_the_sum_of_the_perturbed_finest_cells_with_small_cells_suppressed() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::Analyst, 0).await;
    let vars = json!({ "m": "CASES", "by": ["AMBITO", "CASE_STATE"] });
    let r = table(&app, &token, vars.clone()).await;
    assert!(r["errors"].is_null(), "{r}");
    let t = &r["data"]["stats"];
    assert_eq!(t["method"], "CELL_KEY");
    assert_eq!(t["threshold"], 3, "public measure and dimensions: k = 3");
    assert_eq!(t["maxNoise"].as_i64(), Some(MAX_NOISE));
    let got = cells(&r);

    // Recomputed here from the rows: the finest cells, their keys, their noise.
    let mut finest: BTreeMap<Finest, (i64, i64)> = BTreeMap::new();
    let mut truth: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (a, c, mo, s, p, z, key) in case_rows(&app).await {
        let e = finest.entry((a.clone(), c, mo, s.clone(), p, z)).or_default();
        e.0 += 1;
        e.1 += key;
        *truth.entry(vec![a, s]).or_default() += 1;
    }
    let mut perturbed: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for ((a, _, _, s, _, _), (n, sum)) in &finest {
        *perturbed.entry(vec![a.clone(), s.clone()]).or_default() += perturb(*n, sum % KEY_SPACE);
    }
    let states: Vec<_> = <entity::enums::CaseState as sea_orm::Iterable>::iter().collect();
    let ambiti = entity::ambito::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(got.len(), ambiti.len() * states.len(), "every combination is listed, empty ones too");
    let mut shown = 0;
    let mut moved = 0;
    for (k, (v, flag)) in &got {
        let p = perturbed.get(k).copied().unwrap_or(0);
        match flag.as_str() {
            "PERTURBED" => {
                assert_eq!(*v, Some(p), "cell {k:?}");
                assert!(p >= 3, "a shown cell is at least k");
                shown += 1;
                if truth.get(k).copied().unwrap_or(0) != p {
                    moved += 1;
                }
            }
            "SUPPRESSED_PRIMARY" => {
                assert_eq!(*v, None);
                assert!(p < 3, "cell {k:?} suppressed at {p}");
            }
            "SUPPRESSED_SECONDARY" => assert_eq!(*v, None),
            other => panic!("flag {other}"),
        }
    }
    assert!(shown > 0 && moved > 0, "some cells shown ({shown}), some moved by the noise ({moved})");
    // A line never keeps a single suppressed cell.
    for a in ambiti.iter().map(|a| a.code.clone()) {
        let line: Vec<_> = got.iter().filter(|(k, _)| k[0] == a).collect();
        let n = line.iter().filter(|(_, (v, _))| v.is_none()).count();
        assert!(n != 1, "ambito {a} keeps one suppressed cell");
    }
    // The axes list each dimension's values once; the cells run over them, the last fastest.
    let q = r#"{ stats(measure: CASES, by: [AMBITO, CASE_STATE]) { axes { dimension values { value } } cells { coordinates { value } value flag } values flags } }"#;
    let axes = app.gql(Some(&token), q, json!({})).await;
    let t = &axes["data"]["stats"];
    let a0: Vec<&str> =
        t["axes"][0]["values"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    let a1: Vec<&str> =
        t["axes"][1]["values"].as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(t["axes"][1]["dimension"], "CASE_STATE");
    for (i, c) in t["cells"].as_array().unwrap().iter().enumerate() {
        assert_eq!(c["value"], t["values"][i]);
        assert_eq!(c["flag"], t["flags"][i]);
        assert_eq!(c["coordinates"][0]["value"], a0[i / a1.len()]);
        assert_eq!(c["coordinates"][1]["value"], a1[i % a1.len()]);
    }
    // The same question, the same answer.
    let again = table(&app, &token, vars).await;
    assert_eq!(again, r);
}

#[tokio::test]
async fn every_unit_gets_a_record_key_when_it_is_written() {
    let app = TestApp::seeded().await;
    for t in migration::UNIT_TABLES {
        let n = app.count(&format!("{t} WHERE record_key IS NULL OR record_key < 0 OR record_key >= 1048576")).await;
        assert_eq!(n, 0, "{t}");
        let distinct = app.count(&format!("(SELECT DISTINCT record_key FROM {t}) d")).await;
        let all = app.count(t).await;
        assert!(all == 0 || distinct * 10 > all * 9, "{t}: {distinct} distinct keys over {all} rows");
    }
}

#[tokio::test]
async fn every_household_knows_its_number_of_members_whatever_writes_them() {
    // The size band reads household.member_count and case_file.household_size,
    // which the database keeps.
    let app = TestApp::seeded().await;
    // Households whose count is wrong, or one of whose cases holds another size.
    let wrong = "household h WHERE h.member_count <> (SELECT COUNT(*) FROM member m WHERE m.household_id = h.id) \
                 OR EXISTS (SELECT 1 FROM case_file c WHERE c.household_id = h.id \
                 AND c.household_size <> h.member_count)";
    assert!(app.count("case_file WHERE household_size > 0").await > 0);
    assert!(app.count("member").await > 0);
    assert_eq!(app.count(wrong).await, 0, "after the seed");
    // Members no other row names: removed, and written back as the INPS feed
    // does on a new composition (several households in one statement).
    let free = "member WHERE id NOT IN (SELECT obligated_member_id FROM pact_commitment \
                WHERE obligated_member_id IS NOT NULL) \
                AND id NOT IN (SELECT member_id FROM pact_commitment_member) \
                AND id NOT IN (SELECT member_id FROM puc_assignment) \
                AND id NOT IN (SELECT member_id FROM residency_check) \
                AND id NOT IN (SELECT member_id FROM disadvantage_check) \
                AND id NOT IN (SELECT member_id FROM report WHERE member_id IS NOT NULL)";
    let before = app.count("household WHERE member_count > 0").await;
    app.exec(&format!("CREATE TABLE member_copy AS SELECT * FROM {free}")).await;
    let moved = app.count("member_copy").await;
    assert!(moved > 10, "{moved} members to remove");
    app.exec("DELETE FROM member WHERE id IN (SELECT id FROM member_copy)").await;
    assert_eq!(app.count(wrong).await, 0, "after deleting members");
    assert!(app.count("household WHERE member_count > 0").await < before, "some households were emptied");
    app.exec("INSERT INTO member SELECT * FROM member_copy").await;
    assert_eq!(app.count(wrong).await, 0, "after inserting members");
    assert_eq!(app.count("household WHERE member_count > 0").await, before);
    // A member moved to another household.
    app.exec(
        "UPDATE member SET household_id = (SELECT id FROM household ORDER BY id LIMIT 1) \
         WHERE id = (SELECT id FROM member_copy WHERE household_id <> (SELECT id FROM household ORDER BY id LIMIT 1) \
         ORDER BY id DESC LIMIT 1)",
    )
    .await;
    assert_eq!(app.count(wrong).await, 0);
}

#[tokio::test]
async fn what_a_role_may_not_count_is_refused_with_its_field() {
    let app = TestApp::seeded().await;
    let (coord, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let (analyst, _, _) = app.login_role(Role::Analyst, 0).await;
    let refusals: Vec<(&str, Value, &str, &str)> = vec![
        (&coord, json!({ "m": "RESIDENCY_CHECKS", "by": ["COMUNE"] }), "FORBIDDEN", "measure"),
        (&coord, json!({ "m": "CASES", "by": ["PATHWAY"] }), "FORBIDDEN", "by"),
        (&coord, json!({ "m": "CASES", "by": ["MEETING_KIND"] }), "VALIDATION", "by"),
        (&coord, json!({ "m": "CASES", "by": ["COMUNE", "COMUNE"] }), "VALIDATION", "by"),
        (&analyst, json!({ "m": "CASES", "by": ["COMUNE", "MONTH", "CASE_STATE", "PATHWAY"] }), "VALIDATION", "by"),
        (&analyst, json!({ "m": "MEMBERS", "by": ["MONTH"] }), "VALIDATION", "by"),
        (
            &analyst,
            json!({ "m": "MEMBERS", "by": [], "p": { "from": "2026-01", "to": "2026-03" } }),
            "VALIDATION",
            "period",
        ),
        (
            &analyst,
            json!({ "m": "CASES", "by": ["MONTH"], "p": { "from": "2026-13", "to": "2026-03" } }),
            "VALIDATION",
            "period.from",
        ),
        (
            &analyst,
            json!({ "m": "CASES", "by": ["MONTH"], "p": { "from": "2026-05", "to": "2026-03" } }),
            "VALIDATION",
            "period",
        ),
        (
            &analyst,
            json!({ "m": "CASES", "by": ["MONTH"], "p": { "from": "2000-01", "to": "2026-03" } }),
            "VALIDATION",
            "period",
        ),
        (
            &analyst,
            json!({ "m": "CASES", "by": ["CASE_STATE"], "f": [{ "dimension": "CASE_STATE", "values": ["NOPE"] }] }),
            "VALIDATION",
            "filter",
        ),
        (
            &analyst,
            json!({ "m": "CASES", "by": ["CASE_STATE"], "f": [{ "dimension": "COMUNE", "values": [] }] }),
            "VALIDATION",
            "filter",
        ),
    ];
    for (token, vars, code, field) in refusals {
        let r = table(&app, token, vars.clone()).await;
        assert_eq!(error_code(&r), Some(code), "{vars}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["field"], field, "{vars}: {r}");
        assert!(r["data"].is_null() || r["data"]["stats"].is_null(), "{r}");
    }
    // A Comune of another Ambito is, for the coordinator, a Comune that does not exist.
    let other = entity::comune::Entity::find().all(&app.db).await.unwrap();
    let (_, profile, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let outside = other.iter().find(|c| Some(c.ambito_id) != profile.ambito_id).expect("another Ambito");
    let a = table(
        &app,
        &coord,
        json!({ "m": "CASES", "by": ["CASE_STATE"], "f": [{ "dimension": "COMUNE", "values": [outside.istat_code] }] }),
    )
    .await;
    let b = table(
        &app,
        &coord,
        json!({ "m": "CASES", "by": ["CASE_STATE"], "f": [{ "dimension": "COMUNE", "values": ["999999"] }] }),
    )
    .await;
    assert_eq!(error_code(&a), Some("VALIDATION"));
    assert_eq!(
        a["errors"][0]["message"].as_str().unwrap().replace(&outside.istat_code, "X"),
        b["errors"][0]["message"].as_str().unwrap().replace("999999", "X"),
    );
    // A role without a grant is not shown the root, and is refused it.
    let (registrar, _, _) = app.login_role(Role::MeetingRegistrar, 0).await;
    let r = table(&app, &registrar, json!({ "m": "CASES", "by": ["COMUNE"] })).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    let roots = |t: &str| {
        let t = t.to_string();
        let app = &app;
        async move {
            let r = app.gql(Some(&t), "{ __schema { queryType { fields { name } } } }", json!({})).await;
            r["data"]["__schema"]["queryType"]["fields"].as_array().unwrap().iter().any(|f| f["name"] == "stats")
        }
    };
    assert!(!roots(&registrar).await);
    assert!(roots(&analyst).await && roots(&coord).await);
}

#[tokio::test]
async fn filters_and_time_add_up_in_exact_tables() {
    let app = TestApp::seeded().await;
    let (token, _, _) = app.login_role(Role::PaisCoordinator, 0).await;
    let today = gepi::calendar::today();
    let from = NaiveDate::from_ymd_opt(today.year() - 3, 1, 1).unwrap();
    let p = json!({ "from": from.format("%Y-%m").to_string(), "to": today.format("%Y-%m").to_string() });
    let by_month = table(&app, &token, json!({ "m": "CASES", "by": ["YEAR", "CASE_STATE"], "p": p })).await;
    assert!(by_month["errors"].is_null(), "{by_month}");
    let by_state = table(&app, &token, json!({ "m": "CASES", "by": ["CASE_STATE"], "p": p })).await;
    let sum_years: BTreeMap<String, i64> =
        cells(&by_month).into_iter().fold(BTreeMap::new(), |mut acc, (k, (v, _))| {
            *acc.entry(k[1].clone()).or_default() += v.unwrap();
            acc
        });
    for (k, (v, _)) in cells(&by_state) {
        assert_eq!(sum_years.get(&k[0]).copied().unwrap_or(0), v.unwrap(), "state {k:?}");
    }
    // A filter on a state counts exactly that state's cells.
    let state = "ASSEGNATO";
    let f = table(
        &app,
        &token,
        json!({ "m": "CASES", "by": ["COMUNE"], "f": [{ "dimension": "CASE_STATE", "values": [state] }] }),
    )
    .await;
    let all = table(&app, &token, json!({ "m": "CASES", "by": ["COMUNE", "CASE_STATE"] })).await;
    let want: BTreeMap<String, i64> =
        cells(&all).into_iter().filter(|(k, _)| k[1] == state).map(|(k, (v, _))| (k[0].clone(), v.unwrap())).collect();
    let got: BTreeMap<String, i64> = cells(&f).into_iter().map(|(k, (v, _))| (k[0].clone(), v.unwrap())).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn an_export_is_the_same_table_as_csv_and_is_audited_before_it_is_given() {
    let app = TestApp::seeded().await;
    let (analyst, _, op) = app.login_role(Role::Analyst, 0).await;
    let exports = || async { app.count("audit_event WHERE action = 'export' AND entity = 'StatsTable'").await };
    let before = exports().await;
    let q = r#"mutation($f: [StatsFilter!]) { exportStats(measure: CASES, by: [AMBITO, CASE_STATE], filter: $f) {
        filename contentType csv table { cells { value flag } } } }"#;
    let r = app.gql(Some(&analyst), q, json!({})).await;
    assert!(r["errors"].is_null(), "{r}");
    let e = &r["data"]["exportStats"];
    assert_eq!(e["contentType"], "text/csv; charset=utf-8");
    assert!(e["filename"].as_str().unwrap().starts_with("gepi-cases-ambito-case_state-"));
    let csv = e["csv"].as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ambito,ambito_label,case_state,case_state_label,value,flag");
    let table = table(&app, &analyst, json!({ "m": "CASES", "by": ["AMBITO", "CASE_STATE"] })).await;
    let cells = table["data"]["stats"]["cells"].as_array().unwrap();
    assert_eq!(lines.len(), cells.len() + 1);
    for (line, cell) in lines[1..].iter().zip(cells) {
        let cols: Vec<&str> = line.rsplitn(3, ',').collect();
        assert_eq!(cols[0], cell["flag"].as_str().unwrap());
        assert_eq!(cols[1], cell["value"].as_i64().map(|v| v.to_string()).unwrap_or_default(), "{line}");
    }
    assert_eq!(exports().await, before + 1);
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT operator_id, changes FROM audit_event WHERE action = 'export' ORDER BY occurred_at DESC"
                .to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<uuid::Uuid>("", "operator_id").unwrap(), op.id);
    let changes: Value = serde_json::from_str(&row.try_get::<String>("", "changes").unwrap()).unwrap();
    assert_eq!(changes["measure"], "cases");
    assert_eq!(changes["by"], json!(["ambito", "case_state"]));
    assert_eq!(changes["method"], "cell_key");

    // A role that may count but not export, and bad input, write nothing.
    let (cm, _, _) = app.login_role(Role::CaseManager, 0).await;
    let r = app.gql(Some(&cm), "mutation { exportStats(measure: CASES, by: [CASE_STATE]) { csv } }", json!({})).await;
    assert_eq!(error_code(&r), Some("FORBIDDEN"), "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "measure");
    let r = app.gql(Some(&analyst), q, json!({ "f": [{ "dimension": "CASE_STATE", "values": ["NOPE"] }] })).await;
    assert_eq!(error_code(&r), Some("VALIDATION"), "{r}");
    assert_eq!(exports().await, before + 1, "refusals are not exports");
}

#[tokio::test]
async fn an_instant_counts_in_its_month_in_rome() {
    use chrono::TimeZone;
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = TestApp::seeded().await;
    let (token, _, op) = app.login_role(Role::CaseManager, 0).await;
    let mine = entity::meeting::Entity::find()
        .filter(entity::meeting::Column::OperatorId.eq(op.id))
        .all(&app.db)
        .await
        .unwrap();
    assert!(mine.len() >= 3, "the case manager has meetings");
    // 22:30 UTC on 31 March is 00:30 on 1 April in Rome (summer time); 22:30 UTC
    // on 31 January is 23:30 on 31 January (winter time).
    let moved =
        [(mine[0].id, "2026-03-31 22:30:00"), (mine[1].id, "2026-03-31 21:30:00"), (mine[2].id, "2026-01-31 22:30:00")];
    for (id, at) in moved {
        let v = if app.is_postgres() { format!("'{at}+00'") } else { format!("'{}+00:00'", at.replace(' ', "T")) };
        app.exec(&format!("UPDATE meeting SET scheduled_at = {v} WHERE id = '{id}'")).await;
    }
    let mine = entity::meeting::Entity::find()
        .filter(entity::meeting::Column::OperatorId.eq(op.id))
        .all(&app.db)
        .await
        .unwrap();
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for m in &mine {
        let rome = chrono_tz::Europe::Rome.from_utc_datetime(&m.scheduled_at.naive_utc());
        *want.entry(rome.format("%Y-%m").to_string()).or_default() += 1;
    }
    let r =
        table(&app, &token, json!({ "m": "MEETINGS", "by": ["MONTH"], "p": { "from": "2026-01", "to": "2026-04" } }))
            .await;
    assert!(r["errors"].is_null(), "{r}");
    for (k, (v, _)) in cells(&r) {
        assert_eq!(v, Some(want.get(&k[0]).copied().unwrap_or(0)), "month {}", k[0]);
    }
    assert!(want.get("2026-04").copied().unwrap_or(0) >= 1 && want.get("2026-01").copied().unwrap_or(0) >= 1);
}

/// The role × measure × dimension matrix of the tables of counts: what
/// `policies/stats.csv` decides (method, scope, class, k) and what the API
/// answers a table by that one dimension. Checked in at
/// `tests/golden/stats_matrix.tsv`; regenerate with
/// `GEPI_UPDATE_GOLDEN=1 cargo test --test it stats_matrix` and review the diff.
#[tokio::test]
async fn the_stats_matrix_matches_the_policies_and_the_golden_file() {
    use gepi::authz::vocab::{Dimension, Measure};
    let app = TestApp::seeded().await;
    let stats = &app.state.policy.stats;
    let mut out = String::from("# role\tmeasure\tdimension\tclass\tpolicy\tanswered\n");
    let mut answered = 0;
    for role in <Role as sea_orm::Iterable>::iter() {
        if role.is_api_client_role() {
            assert!(
                stats.measures(role).is_empty(),
                "{}: an API client counts nothing (no row of this matrix)",
                role.as_str()
            );
            continue;
        }
        let (token, _, _) = app.login_role(role, 0).await;
        for m in Measure::ALL {
            let grant = stats.grant(role, *m);
            for d in Dimension::ALL {
                let class = stats.dimension_class(*d).max(stats.measure_class(*m));
                let policy = match grant {
                    None => "deny".to_string(),
                    Some(_) if !m.dimensions().contains(d) => "not a dimension".to_string(),
                    Some(_) if !stats.may_use(role, *d) => "deny dimension".to_string(),
                    Some(g) => format!(
                        "{} {}{}",
                        g.method,
                        g.scope,
                        if g.method == gepi::authz::vocab::Method::CellKey {
                            format!(" k={}", stats.threshold(class))
                        } else {
                            String::new()
                        }
                    ),
                };
                let q = format!(
                    "{{ stats(measure: {}, by: [{}]) {{ method threshold cells {{ flag }} }} }}",
                    m.as_str().to_uppercase(),
                    d.as_str().to_uppercase()
                );
                let r = app.gql(Some(&token), &q, json!({})).await;
                let seen = match error_code(&r) {
                    Some(code) => format!("{code} {}", r["errors"][0]["extensions"]["field"].as_str().unwrap_or("-")),
                    None => {
                        let t = &r["data"]["stats"];
                        format!(
                            "{}{}",
                            t["method"].as_str().unwrap(),
                            t["threshold"].as_i64().map(|k| format!(" k={k}")).unwrap_or_default()
                        )
                    }
                };
                // What the policies say must be what happened.
                match (grant, policy.as_str()) {
                    (None, _) => assert_eq!(seen, "FORBIDDEN measure", "{q} as {}", role.as_str()),
                    (_, "not a dimension") => assert_eq!(seen, "VALIDATION by", "{q}"),
                    (_, "deny dimension") => assert_eq!(seen, "FORBIDDEN by", "{q} as {}", role.as_str()),
                    (Some(g), _) => {
                        answered += 1;
                        assert!(
                            seen.starts_with(&g.method.as_str().to_uppercase()),
                            "{q} as {}: {seen}",
                            role.as_str()
                        );
                        if g.method == gepi::authz::vocab::Method::CellKey {
                            assert!(seen.ends_with(&format!(" k={}", stats.threshold(class))), "{q}: {seen}");
                        }
                    }
                }
                out += &format!("{}\t{m}\t{d}\t{class}\t{policy}\t{seen}\n", role.as_str());
            }
        }
    }
    assert!(answered > 80, "{answered} tables answered");
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/stats_matrix.tsv");
    if std::env::var("GEPI_UPDATE_GOLDEN").is_ok() {
        std::fs::write(golden, &out).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    assert!(
        expected == out,
        "the stats matrix changed; if intended, regenerate with GEPI_UPDATE_GOLDEN=1 cargo test --test it stats_matrix \
         and review the diff"
    );
}
