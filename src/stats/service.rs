//! Counting a table: the checks of the request, the one statement that counts
//! it under the row rule, and the grid of cells it answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use entity::{enums as e, *};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement},
    ActiveEnum, DbBackend, Iterable,
};
use uuid::Uuid;

use super::{
    disclosure::{self, Flag},
    model::*,
};
use crate::{
    audit::AuditEntry,
    authz::{
        gateway::Gateway,
        stats::StatsGrant,
        vocab::{Class, Dimension, Measure, Method, Scope},
    },
    error::AppError,
    unscoped::Unscoped,
    workflow::Acting,
};

/// Household size bands, by number of members.
const SIZE_BANDS: &[&str] = &["1", "2", "3-4", "5+"];
/// Age bands of members, in years on the day of the request.
const AGE_BANDS: &[(&str, u32)] = &[("0-17", 18), ("18-29", 30), ("30-49", 50), ("50-66", 67), ("67+", 200)];
/// The code of "no value" (a case without a pathway yet, a check without an outcome).
const NONE: &str = "NESSUNO";

/// Territory of the scope: the Ambiti and Comuni a table may list.
struct Territory {
    /// Ambito id -> (code, name, region).
    ambiti: BTreeMap<Uuid, (String, String, String)>,
    /// ISTAT code -> (name, Ambito id), in code order.
    comuni: BTreeMap<String, (String, Uuid)>,
}

/// How one measure is counted: its table, the expressions of its finest
/// dimensions, and a join when its territory lies on another table.
struct Spec {
    table: &'static str,
    join: Option<(&'static str, &'static str)>,
    ambito: &'static str,
    comune: &'static str,
    /// A date or timestamp column: the month of the measure's event.
    time: Option<&'static str>,
    /// Whether `time` is an instant (its month is the month in Rome) rather than a day.
    instant: bool,
    own: Vec<(Dimension, String)>,
}

fn q(t: &str, c: &str) -> String {
    format!("\"{t}\".\"{c}\"")
}

/// The size band of the household `hh` (a column): its members counted on
/// the index of `member.household_id`, for the rows in scope only (a grouping
/// of every member would cost the whole table to an Ambito's dashboard). The
/// members of a household in scope, counted and never read.
fn band_of_size(hh: &str) -> String {
    format!(
        "(SELECT CASE WHEN COUNT(*) <= 1 THEN '1' WHEN COUNT(*) = 2 THEN '2' WHEN COUNT(*) <= 4 THEN '3-4' \
         ELSE '5+' END FROM \"member\" \"sb\" WHERE \"sb\".\"household_id\" = {hh})"
    )
}

fn band_of_age(birth: &str, today: chrono::NaiveDate) -> String {
    let mut s = String::from("CASE");
    for (band, years) in AGE_BANDS {
        if *years >= 200 {
            continue;
        }
        let cutoff = today.with_year_minus(*years);
        s.push_str(&format!(" WHEN {birth} > '{cutoff}' THEN '{band}'"));
    }
    s.push_str(&format!(" ELSE '{}' END", AGE_BANDS.last().expect("bands").0));
    s
}

trait YearsBack {
    fn with_year_minus(self, years: u32) -> chrono::NaiveDate;
}

impl YearsBack for chrono::NaiveDate {
    fn with_year_minus(self, years: u32) -> chrono::NaiveDate {
        self.checked_sub_months(chrono::Months::new(years * 12)).unwrap_or(chrono::NaiveDate::MIN)
    }
}

fn coalesced(expr: String) -> String {
    format!("COALESCE({expr}, '{NONE}')")
}

/// `today` is the first day of the current month: ages (and so the finest
/// cells of members) move once a month, not every day.
fn spec(m: Measure, today: chrono::NaiveDate) -> Spec {
    use Dimension::*;
    match m {
        Measure::Households => Spec {
            table: "household",
            join: None,
            ambito: "household.ambito_id",
            comune: "household.comune_istat",
            time: Some("household.composition_date"),
            instant: false,
            own: vec![(SizeBand, band_of_size(&q("household", "id")))],
        },
        Measure::Cases => Spec {
            table: "case_file",
            join: None,
            ambito: "case_file.ambito_id",
            comune: "case_file.comune_istat",
            time: Some("case_file.pad_date"),
            instant: false,
            own: vec![
                (CaseState, q("case_file", "state")),
                (Pathway, coalesced(q("case_file", "pathway_type"))),
                (SizeBand, band_of_size(&q("case_file", "household_id"))),
            ],
        },
        Measure::Members => Spec {
            table: "member",
            join: Some(("household", "\"household\".\"id\" = \"member\".\"household_id\"")),
            ambito: "household.ambito_id",
            comune: "household.comune_istat",
            time: None,
            instant: false,
            own: vec![(AgeBand, band_of_age(&q("member", "birth_date"), today))],
        },
        Measure::Meetings => Spec {
            table: "meeting",
            join: None,
            ambito: "meeting.ambito_id",
            comune: "meeting.comune_istat",
            time: Some("meeting.scheduled_at"),
            instant: true,
            own: vec![(MeetingKind, q("meeting", "kind")), (MeetingState, q("meeting", "state"))],
        },
        Measure::PucAssignments => Spec {
            table: "puc_assignment",
            join: Some(("puc_project", "\"puc_project\".\"id\" = \"puc_assignment\".\"project_id\"")),
            ambito: "puc_project.ambito_id",
            comune: "puc_project.comune_istat",
            time: None,
            instant: false,
            own: vec![(PucSource, q("puc_assignment", "source")), (PucState, q("puc_assignment", "state"))],
        },
        Measure::ResidencyChecks => Spec {
            table: "residency_check",
            join: None,
            ambito: "residency_check.ambito_id",
            comune: "residency_check.current_comune_istat",
            time: Some("residency_check.due_on"),
            instant: false,
            own: vec![
                (ResidencyKind, q("residency_check", "kind")),
                (ResidencyState, q("residency_check", "state")),
                (ResidencyOutcome, coalesced(q("residency_check", "outcome"))),
            ],
        },
        Measure::Reports => Spec {
            table: "report",
            join: None,
            ambito: "report.ambito_id",
            comune: "report.comune_istat",
            time: Some("report.created_at"),
            instant: true,
            own: vec![(ReportKind, q("report", "kind")), (ReportState, q("report", "state"))],
        },
        Measure::DisadvantageChecks => Spec {
            table: "disadvantage_check",
            join: None,
            ambito: "disadvantage_check.ambito_id",
            comune: "disadvantage_check.certifying_comune_istat",
            time: Some("disadvantage_check.received_on"),
            instant: false,
            own: vec![
                (DisadvantageCategory, q("disadvantage_check", "category")),
                (DisadvantageState, q("disadvantage_check", "state")),
            ],
        },
    }
}

/// `table.column` quoted.
fn col(dotted: &str) -> String {
    let (t, c) = dotted.split_once('.').expect("table.column");
    q(t, c)
}

/// The month (`YYYY-MM`) of a day, or of an instant in Rome. SQLite keeps
/// instants as UTC text and has no time zones: the last hours of a UTC month
/// fall in the next month in Rome when they are an hour (winter: the months
/// ending in November to February) or two (summer: March to September, and
/// October ends after the change back) before midnight, which is what the
/// offset by the UTC month gives; the first hours of a month are the same
/// month in both.
fn month_sql(backend: DbBackend, dotted: &str, instant: bool) -> String {
    let c = col(dotted);
    match (backend, instant) {
        (DbBackend::Postgres, true) => format!("to_char({c} AT TIME ZONE 'Europe/Rome', 'YYYY-MM')"),
        (DbBackend::Postgres, false) => format!("to_char({c}, 'YYYY-MM')"),
        (_, true) => format!(
            "strftime('%Y-%m', {c}, CASE WHEN substr({c}, 6, 2) BETWEEN '03' AND '09' THEN '+2 hours' ELSE '+1 hours' END)"
        ),
        (_, false) => format!("substr({c}, 1, 7)"),
    }
}

fn codes<T: ActiveEnum<Value = String> + Iterable>() -> Vec<String> {
    T::iter().map(|v| v.to_value()).collect()
}

/// The values of a dimension of the measure itself, in order.
fn own_domain(d: Dimension) -> Vec<String> {
    use Dimension::*;
    let with_none = |mut v: Vec<String>| {
        v.push(NONE.to_string());
        v
    };
    match d {
        CaseState => codes::<e::CaseState>(),
        Pathway => with_none(codes::<e::PathwayType>()),
        SizeBand => SIZE_BANDS.iter().map(|s| s.to_string()).collect(),
        AgeBand => AGE_BANDS.iter().map(|(s, _)| s.to_string()).collect(),
        MeetingKind => codes::<e::MeetingKind>(),
        MeetingState => codes::<e::MeetingState>(),
        PucSource => codes::<e::PlaceSource>(),
        PucState => codes::<e::PucAssignmentState>(),
        ResidencyKind => codes::<e::ResidencyCheckKind>(),
        ResidencyState => codes::<e::ResidencyCheckState>(),
        ResidencyOutcome => with_none(codes::<e::ResidencyOutcome>()),
        ReportKind => codes::<e::ReportKind>(),
        ReportState => codes::<e::ReportState>(),
        DisadvantageCategory => codes::<e::DisadvantageCategory>(),
        DisadvantageState => codes::<e::DisadvantageState>(),
        Regione | Ambito | Comune | Year | Quarter | Month => Vec::new(),
    }
}

/// A code as people read it: `IN_CARICO` -> `In carico`.
fn label_of_code(code: &str) -> String {
    let lower = code.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// Counts the table `req` for the principal of `gw`, under full protection
/// where its grant asks for it.
pub async fn table(gw: &Gateway, req: &Request) -> Result<Table, AppError> {
    table_with(gw, req, Protection::FULL).await
}

/// [`table`] with the protection given: only the attacker test lowers it, to
/// show what it prevents. No path of the API reaches it.
pub async fn table_with(gw: &Gateway, req: &Request, protection: Protection) -> Result<Table, AppError> {
    let authz = &gw.authz;
    let role = authz.role();
    let stats = &authz.policy.stats;
    let m = req.measure;
    let grant: StatsGrant = stats
        .grant(role, m)
        .ok_or_else(|| AppError::forbidden_at("measure", format!("the role {} may not count {m}", role.as_str())))?;

    // The request: dimensions of the measure, granted, each once.
    if req.by.len() > MAX_DIMENSIONS {
        return Err(AppError::validation("by", format!("at most {MAX_DIMENSIONS} dimensions")));
    }
    let dims = m.dimensions();
    let mut seen = BTreeSet::new();
    for (field, d) in req.by.iter().map(|d| ("by", *d)).chain(req.filters.iter().map(|f| ("filter", f.dimension))) {
        if !dims.contains(&d) {
            return Err(AppError::validation(field, format!("`{d}` is not a dimension of {m}")));
        }
        if !stats.may_use(role, d) {
            return Err(AppError::forbidden_at(field, format!("the role {} may not count by {d}", role.as_str())));
        }
        if field == "by" && !seen.insert(d) {
            return Err(AppError::validation("by", format!("`{d}` is named twice")));
        }
    }
    let mut filtered = BTreeSet::new();
    for f in &req.filters {
        if !filtered.insert(f.dimension) {
            return Err(AppError::validation("filter", format!("`{}` is filtered twice", f.dimension)));
        }
        if f.values.is_empty() {
            return Err(AppError::validation("filter", format!("the filter on `{}` names no value", f.dimension)));
        }
        if f.values.len() > MAX_FILTER_VALUES {
            return Err(AppError::validation("filter", format!("at most {MAX_FILTER_VALUES} values per filter")));
        }
        // A protected table filters on one value per dimension: a union and its
        // complement would subtract one part from the total outside the lines
        // secondary suppression protects.
        if grant.method == Method::CellKey && f.values.len() > 1 {
            return Err(AppError::validation(
                "filter",
                format!("a protected table filters `{}` on one value", f.dimension),
            ));
        }
        let distinct: BTreeSet<&String> = f.values.iter().collect();
        if distinct.len() != f.values.len() {
            return Err(AppError::validation("filter", format!("the filter on `{}` names a value twice", f.dimension)));
        }
    }

    // The scope: exact counts under the role's read rule of the type; protected
    // ones under the grant's scope (narrowed for a key limited to an Ambito).
    let scope = match grant.method {
        Method::Exact => authz.read_scope(m.object())?,
        Method::CellKey => authz.narrow(grant.scope),
    };
    let territory = territory(gw, scope).await?;
    let today = crate::calendar::today();

    // The period.
    let time_asked = req.by.iter().chain(req.filters.iter().map(|f| &f.dimension)).any(|d| d.is_time());
    let period = match req.period {
        Some(_) if !m.has_time() => {
            return Err(AppError::validation("period", format!("{m} have no month to count by")));
        }
        Some((from, to)) => {
            if from > to {
                return Err(AppError::validation("period", "`from` is after `to`"));
            }
            Some((from, to))
        }
        None if time_asked => {
            let to = Month::of(today);
            let mut from = to;
            for _ in 0..11 {
                from = Month::of(
                    chrono::NaiveDate::from_ymd_opt(from.year, from.month, 1)
                        .expect("a month")
                        .pred_opt()
                        .expect("a day"),
                );
            }
            Some((from, to))
        }
        None => None,
    };
    let months: Vec<Month> = period.map(|(f, t)| f.through(t)).unwrap_or_default();
    if months.len() > MAX_MONTHS {
        return Err(AppError::validation("period", format!("at most {MAX_MONTHS} months")));
    }

    // Domains of the dimensions, narrowed by the filters.
    let mut domains: HashMap<Dimension, Vec<(String, String)>> = HashMap::new();
    for d in req.by.iter().chain(req.filters.iter().map(|f| &f.dimension)) {
        domains.insert(*d, domain(*d, &territory, &months));
    }
    for f in &req.filters {
        let dom = domains.get_mut(&f.dimension).expect("domain");
        for v in &f.values {
            if !dom.iter().any(|(c, _)| c == v) {
                return Err(AppError::validation(
                    "filter",
                    format!("`{v}` is not a value of `{}` in the scope and period", f.dimension),
                ));
            }
        }
        dom.retain(|(c, _)| f.values.contains(c));
    }
    let grid: usize = req.by.iter().map(|d| domains[d].len()).product();
    if grid > MAX_CELLS {
        return Err(AppError::Limit(format!("the table would have {grid} cells, over the limit of {MAX_CELLS}")));
    }

    // The one statement.
    let backend = gw.db.get_database_backend();
    let s = spec(m, today.with_day(1).expect("the first of the month"));
    let protected = grant.method == Method::CellKey;
    let stmt = statement(gw, m, &s, req, scope, &territory, &domains, &months, protected && protection.noise)?;
    let rows = gw.query_all(backend.build(&stmt)).await?;

    // Counts by the coordinates the statement grouped by (an Ambito for a Regione).
    let mut counted: HashMap<Vec<String>, i64> = HashMap::new();
    'rows: for r in rows {
        let mut key = Vec::with_capacity(req.by.len());
        for (i, d) in req.by.iter().enumerate() {
            let name = format!("g{i}");
            let v = match d {
                Dimension::Regione | Dimension::Ambito => {
                    let id: Uuid = r.try_get("", &name)?;
                    // Not an Ambito of the scope: the territory filter keeps none.
                    let Some((code, _, region)) = territory.ambiti.get(&id) else { continue 'rows };
                    if *d == Dimension::Regione {
                        region.clone()
                    } else {
                        code.clone()
                    }
                }
                _ => r.try_get::<String>("", &name)?,
            };
            key.push(v);
        }
        let v: i64 = r.try_get("", "v")?;
        *counted.entry(key).or_insert(0) += v;
    }

    // The grid: every combination, in the order of the domains.
    let mut coords: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for d in &req.by {
        let mut next = Vec::with_capacity(coords.len() * domains[d].len());
        for c in &coords {
            for v in &domains[d] {
                let mut c2 = c.clone();
                c2.push(v.clone());
                next.push(c2);
            }
        }
        coords = next;
    }
    let values: Vec<i64> = coords
        .iter()
        .map(|c| counted.get(&c.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>()).copied().unwrap_or(0))
        .collect();

    let (flags, threshold) = if protected {
        let class = req
            .by
            .iter()
            .chain(req.filters.iter().map(|f| &f.dimension))
            .map(|d| stats.dimension_class(*d))
            .chain([stats.measure_class(m)])
            .max()
            .unwrap_or(Class::Public);
        let k = stats.threshold(class);
        let flags = if protection.suppression {
            let lines = lines(&req.by, &coords, &territory);
            disclosure::suppress(&values, &lines, i64::from(k), true)
        } else {
            vec![if protection.noise { Flag::Perturbed } else { Flag::Exact }; values.len()]
        };
        (flags, Some(k))
    } else {
        (vec![Flag::Exact; values.len()], None)
    };

    let axes = req.by.iter().map(|d| (*d, domains[d].clone())).collect();
    let cells = coords
        .into_iter()
        .zip(values)
        .zip(flags)
        .map(|((c, v), flag)| Cell {
            coordinates: req
                .by
                .iter()
                .zip(c)
                .map(|(d, (value, label))| Coordinate { dimension: *d, value, label })
                .collect(),
            value: (!flag.suppressed()).then_some(v),
            flag,
        })
        .collect();
    Ok(Table {
        measure: m,
        by: req.by.clone(),
        method: grant.method,
        threshold,
        max_noise: (protected && protection.noise).then_some(disclosure::MAX_NOISE as u32),
        axes,
        cells,
    })
}

/// The Ambiti and Comuni of the scope (reference data, public to every role).
async fn territory(gw: &Gateway, scope: Scope) -> Result<Territory, AppError> {
    let p = &gw.authz.principal;
    let ambiti_all = Unscoped::Reference.find::<ambito::Entity>().all(&gw.db).await?;
    let comuni_all = Unscoped::Reference.find::<comune::Entity>().all(&gw.db).await?;
    let in_ambito = |a: Uuid| p.ambito_id == Some(a);
    let comuni: BTreeMap<String, (String, Uuid)> = comuni_all
        .into_iter()
        .filter(|c| match scope {
            Scope::National => true,
            Scope::Ambito | Scope::Own => in_ambito(c.ambito_id),
            Scope::Comune => in_ambito(c.ambito_id) && p.comuni.contains(&c.istat_code),
            Scope::Unassigned => false,
        })
        .map(|c| (c.istat_code, (c.name, c.ambito_id)))
        .collect();
    let used: BTreeSet<Uuid> = comuni.values().map(|(_, a)| *a).collect();
    let ambiti = ambiti_all
        .into_iter()
        .filter(|a| used.contains(&a.id) || (scope == Scope::National))
        .map(|a| (a.id, (a.code, a.name, a.region)))
        .collect();
    Ok(Territory { ambiti, comuni })
}

/// The values of a dimension, with their labels, in order.
fn domain(d: Dimension, t: &Territory, months: &[Month]) -> Vec<(String, String)> {
    match d {
        Dimension::Regione => {
            let regions: BTreeSet<&String> = t.ambiti.values().map(|(_, _, r)| r).collect();
            regions.into_iter().map(|r| (r.clone(), r.clone())).collect()
        }
        Dimension::Ambito => {
            let mut v: Vec<(String, String)> = t.ambiti.values().map(|(c, n, _)| (c.clone(), n.clone())).collect();
            v.sort();
            v
        }
        Dimension::Comune => t.comuni.iter().map(|(c, (n, _))| (c.clone(), n.clone())).collect(),
        Dimension::Month => months.iter().map(|m| (m.to_string(), m.to_string())).collect(),
        Dimension::Quarter => {
            let qs: BTreeSet<String> = months.iter().map(|m| m.quarter()).collect();
            qs.into_iter().map(|q| (q.clone(), q)).collect()
        }
        Dimension::Year => {
            let ys: BTreeSet<String> = months.iter().map(|m| m.year_code()).collect();
            ys.into_iter().map(|y| (y.clone(), y)).collect()
        }
        own => own_domain(own).into_iter().map(|c| (c.clone(), label_of_code(&c))).collect(),
    }
}

/// The statement: the measure's rows under the row rule and the filters,
/// grouped at the finest grain (with each finest cell's count and cell key),
/// then grouped by the table's dimensions.
#[allow(clippy::too_many_arguments)]
fn statement(
    gw: &Gateway,
    m: Measure,
    s: &Spec,
    req: &Request,
    scope: Scope,
    t: &Territory,
    domains: &HashMap<Dimension, Vec<(String, String)>>,
    months: &[Month],
    noise: bool,
) -> Result<SelectStatement, AppError> {
    let backend = gw.db.get_database_backend();
    let mut inner = rule_select(gw, m, scope);
    inner.clear_selects();
    if let Some((table, on)) = s.join {
        inner.join(JoinType::InnerJoin, Alias::new(table), Expr::cust(on.to_string()));
    }
    // The finest grain: Ambito, Comune, month, and every dimension of the measure.
    let mut finest: Vec<(String, String)> =
        vec![("d_ambito".into(), col(s.ambito)), ("d_comune".into(), col(s.comune))];
    if let Some(time) = s.time {
        finest.push(("d_month".into(), month_sql(backend, time, s.instant)));
    }
    for (d, expr) in &s.own {
        finest.push((format!("d_{d}"), expr.clone()));
    }
    for (alias, expr) in &finest {
        inner.expr_as(Expr::cust(expr.clone()), Alias::new(alias.as_str()));
    }
    inner.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
    inner.expr_as(
        Expr::cust(format!("CAST(SUM({}) % {} AS BIGINT)", q(s.table, "record_key"), disclosure::KEY_SPACE)),
        Alias::new("ck"),
    );
    for i in 1..=finest.len() {
        inner.add_group_by([Expr::cust(i.to_string())]);
    }
    // Territory of the scope, and the filters (on whole finest cells).
    let comuni: Vec<String> = t.comuni.keys().cloned().collect();
    if !matches!(scope, Scope::National) {
        inner.and_where(Expr::cust(col(s.comune)).is_in(comuni.clone()));
    }
    if s.time.is_some() && !months.is_empty() {
        let (from, to) = (months[0], *months.last().expect("months"));
        let month = s.time.map(|t| month_sql(backend, t, s.instant)).expect("time");
        inner.and_where(Expr::cust(month.clone()).gte(from.to_string()));
        inner.and_where(Expr::cust(month).lte(to.to_string()));
    }
    for f in &req.filters {
        let allowed: Vec<String> = domains[&f.dimension].iter().map(|(c, _)| c.clone()).collect();
        let cond = match f.dimension {
            Dimension::Regione => {
                let ids: Vec<Uuid> =
                    t.ambiti.iter().filter(|(_, (_, _, r))| allowed.contains(r)).map(|(id, _)| *id).collect();
                Expr::cust(col(s.ambito)).is_in(ids)
            }
            Dimension::Ambito => {
                let ids: Vec<Uuid> =
                    t.ambiti.iter().filter(|(_, (c, _, _))| allowed.contains(c)).map(|(id, _)| *id).collect();
                Expr::cust(col(s.ambito)).is_in(ids)
            }
            Dimension::Comune => Expr::cust(col(s.comune)).is_in(allowed),
            Dimension::Month | Dimension::Quarter | Dimension::Year => {
                let ms: Vec<String> = months
                    .iter()
                    .filter(|mo| match f.dimension {
                        Dimension::Month => allowed.contains(&mo.to_string()),
                        Dimension::Quarter => allowed.contains(&mo.quarter()),
                        _ => allowed.contains(&mo.year_code()),
                    })
                    .map(|mo| mo.to_string())
                    .collect();
                Expr::cust(month_sql(backend, s.time.expect("time"), s.instant)).is_in(ms)
            }
            own => {
                let expr = s.own.iter().find(|(d, _)| *d == own).map(|(_, e)| e.clone()).expect("own dimension");
                Expr::cust(expr).is_in(allowed)
            }
        };
        inner.and_where(cond);
    }

    // The table: by the asked dimensions over the finest cells.
    let mut outer = Query::select();
    outer.from_subquery(inner, Alias::new("base"));
    for (i, d) in req.by.iter().enumerate() {
        let expr = match d {
            Dimension::Regione | Dimension::Ambito => "base.d_ambito".to_string(),
            Dimension::Comune => "base.d_comune".to_string(),
            Dimension::Month => "base.d_month".to_string(),
            Dimension::Year => "substr(base.d_month, 1, 4)".to_string(),
            Dimension::Quarter => "substr(base.d_month, 1, 4) || '-Q' || \
                 CAST((CAST(substr(base.d_month, 6, 2) AS INTEGER) + 2) / 3 AS TEXT)"
                .to_string(),
            own => format!("base.d_{own}"),
        };
        outer.expr_as(Expr::cust(expr), Alias::new(format!("g{i}")));
    }
    let value = if noise {
        format!("CAST(COALESCE(SUM({}), 0) AS BIGINT)", disclosure::perturb_sql("base.n", "base.ck"))
    } else {
        "CAST(COALESCE(SUM(base.n), 0) AS BIGINT)".into()
    };
    outer.expr_as(Expr::cust(value), Alias::new("v"));
    for i in 1..=req.by.len() {
        outer.add_group_by([Expr::cust(i.to_string())]);
    }
    Ok(outer.to_owned())
}

/// The measure's rows under the row rule of its type, for `scope`: the same
/// condition every read of those rows goes through, from the gateway.
fn rule_select(gw: &Gateway, m: Measure, scope: Scope) -> SelectStatement {
    match m {
        Measure::Households => gw.aggregate::<household::Entity>(scope),
        Measure::Cases => gw.aggregate::<case_file::Entity>(scope),
        Measure::Members => gw.aggregate::<member::Entity>(scope),
        Measure::Meetings => gw.aggregate::<meeting::Entity>(scope),
        Measure::PucAssignments => gw.aggregate::<puc_assignment::Entity>(scope),
        Measure::ResidencyChecks => gw.aggregate::<residency_check::Entity>(scope),
        Measure::Reports => gw.aggregate::<report::Entity>(scope),
        Measure::DisadvantageChecks => gw.aggregate::<disadvantage_check::Entity>(scope),
    }
}

/// The lines of a table: for each dimension, the cells that share every other
/// coordinate and the same parent along it (the Ambito of a Comune, the Regione
/// of an Ambito, the quarter of a month, the year of a quarter; the whole
/// dimension otherwise): each adds up to a total another table shows.
fn lines(by: &[Dimension], coords: &[Vec<(String, String)>], t: &Territory) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let region_of_ambito: HashMap<&String, &String> = t.ambiti.values().map(|(c, _, r)| (c, r)).collect();
    for (j, d) in by.iter().enumerate() {
        let parent = |v: &String| -> String {
            match d {
                Dimension::Comune => t.comuni.get(v).map(|(_, a)| a.to_string()).unwrap_or_default(),
                Dimension::Ambito => region_of_ambito.get(v).map(|r| r.to_string()).unwrap_or_default(),
                Dimension::Month => Month::parse("", v).map(|m| m.quarter()).unwrap_or_default(),
                Dimension::Quarter => v.get(..4).unwrap_or_default().to_string(),
                _ => String::new(),
            }
        };
        out.extend(disclosure::lines_by(coords.iter().enumerate().map(|(i, c)| {
            let mut key: Vec<String> =
                c.iter().enumerate().filter(|(x, _)| *x != j).map(|(_, (v, _))| v.clone()).collect();
            key.push(parent(&c[j].0));
            (key, i)
        })));
    }
    out
}

/// The table `req` as CSV, for a role that may export it: recorded in the
/// audit trail (`export`, with the table's definition, never its cells) before
/// it is given. The same cells as `table`: an export is never a path to rows.
pub async fn export(a: &Acting<'_>, req: &Request) -> Result<(Table, String), AppError> {
    let authz = &a.gw.authz;
    let m = req.measure;
    if !authz.policy.stats.may_export(authz.role(), m) {
        return Err(AppError::forbidden_at(
            "measure",
            format!("the role {} may not export {m}", authz.role().as_str()),
        ));
    }
    let t = table(a.gw, req).await?;
    let csv = to_csv(&t)?;
    let definition = serde_json::json!({
        "measure": m.as_str(),
        "by": req.by.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "filters": req.filters.iter().map(|f| serde_json::json!({ "dimension": f.dimension.as_str(), "values": f.values })).collect::<Vec<_>>(),
        "period": req.period.map(|(f, t)| serde_json::json!({ "from": f.to_string(), "to": t.to_string() })),
        "method": t.method.as_str(),
        "threshold": t.threshold,
        "cells": t.cells.len(),
    });
    let work = a.begin().await?;
    let entry = AuditEntry {
        entity: "StatsTable",
        entity_id: None,
        action: entity::enums::AuditAction::Export,
        ambito_id: None,
        changes: Some(definition),
    };
    work.commit(vec![entry]).await?;
    Ok((t, csv))
}

/// One line per cell: each dimension's code and label, the value (empty when
/// suppressed) and the flag.
fn to_csv(t: &Table) -> Result<String, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = Vec::new();
    for d in &t.by {
        header.push(d.as_str().to_string());
        header.push(format!("{d}_label"));
    }
    header.extend(["value".to_string(), "flag".to_string()]);
    w.write_record(&header).map_err(AppError::internal)?;
    for c in &t.cells {
        let mut rec: Vec<String> = Vec::with_capacity(header.len());
        for x in &c.coordinates {
            rec.push(x.value.clone());
            rec.push(x.label.clone());
        }
        rec.push(c.value.map(|v| v.to_string()).unwrap_or_default());
        rec.push(c.flag.code().to_string());
        w.write_record(&rec).map_err(AppError::internal)?;
    }
    let bytes = w.into_inner().map_err(AppError::internal)?;
    String::from_utf8(bytes).map_err(AppError::internal)
}
