//! Counting a table: the checks of the request, the one statement that counts
//! it under the row rule, and the grid of cells it answers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use entity::{enums as e, *};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement},
    ActiveEnum, ColumnTrait, DbBackend, Iterable, QueryFilter,
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
/// Where a case stands against its deadlines (see `StatsDimension::Deadline`).
const DEADLINES: &[&str] = &[
    "ENTRO_60_GIORNI",
    "OLTRE_60_GIORNI",
    "IN_SCADENZA",
    "SCADUTO",
    "VERIFICA_IN_TERMINE",
    "VERIFICA_SCADUTA",
    "NESSUNA",
];
/// Days before the 120-day deadline from which a case is `IN_SCADENZA`.
const DEADLINE_NEAR_DAYS: i64 = 30;

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
    /// The measure's own dimensions and their expressions.
    own: Vec<(Dimension, String)>,
}

fn q(t: &str, c: &str) -> String {
    format!("\"{t}\".\"{c}\"")
}

/// The size band of a household, from its number of members (a column the
/// database keeps, `household.member_count`).
fn band_of_size(count: &str) -> String {
    format!("CASE WHEN {count} <= 1 THEN '1' WHEN {count} = 2 THEN '2' WHEN {count} <= 4 THEN '3-4' ELSE '5+' END")
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

/// Where a case stands today against the deadlines of domain spec §2.3 (the
/// same days as `Case.overdue`, `Case.recommendedConvocationBy` and
/// `Case.nextCheckDue`): without a first meeting, by the days since its PAD;
/// after one, by the 90 days since the last; none once closed or transferred
/// (as `Case.overdue`, which is false then).
fn deadline_of_case(day: chrono::NaiveDate) -> String {
    use crate::cases::model::{FIRST_MEETING_DAYS, PERIODIC_CHECK_DAYS, RECOMMENDED_CONVOCATION_DAYS};
    let ago = |days: i64| day - chrono::Duration::days(days);
    let (state, pad, first, last) = (
        q("case_file", "state"),
        q("case_file", "pad_date"),
        q("case_file", "first_meeting_on"),
        q("case_file", "last_meeting_on"),
    );
    let closed = [e::CaseState::Chiuso, e::CaseState::Trasferito].map(|s| format!("'{}'", s.to_value())).join(", ");
    format!(
        "CASE WHEN {state} IN ({closed}) THEN 'NESSUNA' \
         WHEN {first} IS NULL AND {pad} < '{overdue}' THEN 'SCADUTO' \
         WHEN {first} IS NULL AND {pad} <= '{near}' THEN 'IN_SCADENZA' \
         WHEN {first} IS NULL AND {pad} < '{late}' THEN 'OLTRE_60_GIORNI' \
         WHEN {first} IS NULL THEN 'ENTRO_60_GIORNI' \
         WHEN {last} < '{check}' THEN 'VERIFICA_SCADUTA' \
         ELSE 'VERIFICA_IN_TERMINE' END",
        overdue = ago(FIRST_MEETING_DAYS),
        near = ago(FIRST_MEETING_DAYS - DEADLINE_NEAR_DAYS),
        late = ago(RECOMMENDED_CONVOCATION_DAYS),
        check = ago(PERIODIC_CHECK_DAYS),
    )
}

fn coalesced(expr: String) -> String {
    format!("COALESCE({expr}, '{NONE}')")
}

/// `today` is the first day of the current month: ages (and so the finest
/// cells of members) move once a month, not every day; `day` is today, for
/// the deadlines (exact counts only: they are no part of a protected grain).
fn spec(m: Measure, today: chrono::NaiveDate, day: chrono::NaiveDate) -> Spec {
    use Dimension::*;
    match m {
        Measure::Households => Spec {
            table: "household",
            join: None,
            ambito: "household.ambito_id",
            comune: "household.comune_istat",
            time: Some("household.composition_date"),
            instant: false,
            own: vec![(SizeBand, band_of_size(&q("household", "member_count")))],
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
                (SizeBand, band_of_size(&q("case_file", "household_size"))),
                (Deadline, deadline_of_case(day)),
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

/// The month of a day, or of an instant in Rome, as the grain of a table
/// groups by it: on PostgreSQL the month's first instant (`date_trunc`, which
/// groups faster than text), formatted by [`month_text`] once grouped.
fn month_grain(backend: DbBackend, dotted: &str, instant: bool) -> String {
    let c = col(dotted);
    match (backend, instant) {
        (DbBackend::Postgres, true) => format!("date_trunc('month', {c} AT TIME ZONE 'Europe/Rome')"),
        (DbBackend::Postgres, false) => format!("date_trunc('month', CAST({c} AS timestamp))"),
        _ => month_sql(backend, dotted, instant),
    }
}

/// A month of the grain (`base.d_month`) as `YYYY-MM`.
fn month_text(backend: DbBackend, grain: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char({grain}, 'YYYY-MM')"),
        _ => grain.to_string(),
    }
}

/// The rows whose month (in Rome for an instant) is within `from..=to`: a
/// range on the column itself, which its statistics and indexes know (a
/// condition on the formatted month is a guess to the planner). SQLite keeps
/// instants as text, compared by their month.
fn period_condition(backend: DbBackend, dotted: &str, instant: bool, from: Month, to: Month) -> String {
    let c = col(dotted);
    let first = |m: Month| chrono::NaiveDate::from_ymd_opt(m.year, m.month, 1).expect("a month");
    match (backend, instant) {
        (DbBackend::Postgres, true) => {
            // The month's first instant in Rome: midnight, or the hour the clocks
            // jumped to when they skipped it (1 June 1969, for one).
            let at = |m: Month| {
                let rome = (0..4)
                    .find_map(|h| {
                        first(m)
                            .and_hms_opt(h, 0, 0)
                            .and_then(|t| t.and_local_timezone(chrono_tz::Europe::Rome).earliest())
                    })
                    .expect("a day in Rome begins within its first hours");
                rome.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S+00").to_string()
            };
            format!("{c} >= '{}' AND {c} < '{}'", at(from), at(to.next()))
        }
        (_, false) => format!("{c} >= '{}' AND {c} < '{}'", first(from), first(to.next())),
        (_, true) => {
            let month = month_sql(backend, dotted, true);
            format!("{month} >= '{from}' AND {month} <= '{to}'")
        }
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
        Deadline => DEADLINES.iter().map(|s| s.to_string()).collect(),
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
    // Operational dimensions are no part of a protected grain (the policies
    // grant them to exact roles only; this holds whatever they say).
    if grant.method == Method::CellKey {
        let asked = req.by.iter().map(|d| ("by", *d)).chain(req.filters.iter().map(|f| ("filter", f.dimension)));
        for (field, d) in asked {
            if d.is_operational() {
                return Err(AppError::forbidden_at(field, format!("`{d}` is counted exactly only")));
            }
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
    let backend = gw.reads.get_database_backend();
    let s = spec(m, today.with_day(1).expect("the first of the month"), today);
    let protected = grant.method == Method::CellKey;
    let stmt =
        statement(gw, m, &s, req, scope, &territory, &domains, &months, protected, protected && protection.noise)?;
    let rows = gw.query_all(backend.build(&stmt)).await?;

    // The grid: every combination of the domains' values, in row-major order
    // (the last dimension fastest); each row of the statement adds to its cell.
    let axes: Vec<(Dimension, Vec<(String, String)>)> = req.by.iter().map(|d| (*d, domains[d].clone())).collect();
    let grid = Grid::new(&axes, &territory);
    let mut values = vec![0i64; grid.len];
    'rows: for r in rows {
        let mut at = 0;
        for (i, d) in req.by.iter().enumerate() {
            let index = match d {
                Dimension::Regione | Dimension::Ambito => grid.of_ambito(i, &r.try_get_by_index::<Uuid>(i)?),
                _ => grid.of_code(i, &r.try_get_by_index::<String>(i)?),
            };
            // A value outside the domain (an Ambito out of the scope): no cell.
            let Some(index) = index else { continue 'rows };
            at += index * grid.strides[i];
        }
        values[at] += r.try_get_by_index::<i64>(req.by.len())?;
    }

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
            disclosure::suppress(&values, &grid.lines(&axes, &territory), i64::from(k), true)
        } else {
            vec![if protection.noise { Flag::Perturbed } else { Flag::Exact }; values.len()]
        };
        (flags, Some(k))
    } else {
        (vec![Flag::Exact; values.len()], None)
    };
    let values = values.into_iter().zip(&flags).map(|(v, f)| (!f.suppressed()).then_some(v)).collect();

    Ok(Table {
        measure: m,
        by: req.by.clone(),
        method: grant.method,
        threshold,
        max_noise: (protected && protection.noise).then_some(disclosure::MAX_NOISE as u32),
        axes,
        values,
        flags,
    })
}

/// The Ambiti and Comuni of the scope (reference data, public to every role).
async fn territory(gw: &Gateway, scope: Scope) -> Result<Territory, AppError> {
    let p = &gw.authz.principal;
    // A scope within an Ambito reads that Ambito's rows only.
    let mut ambiti_q = Unscoped::Reference.find::<ambito::Entity>();
    let mut comuni_q = Unscoped::Reference.find::<comune::Entity>();
    if scope != Scope::National {
        let id = p.ambito_id.unwrap_or_else(Uuid::nil);
        ambiti_q = ambiti_q.filter(ambito::Column::Id.eq(id));
        comuni_q = comuni_q.filter(comune::Column::AmbitoId.eq(id));
    }
    let ambiti_all = ambiti_q.all(&gw.reads).await?;
    let comuni_all = comuni_q.all(&gw.reads).await?;
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
/// grouped at the grain of the table (with each cell's count, and for a
/// protected table its cell key), then grouped by the table's dimensions.
///
/// A protected table's grain is the measure's finest (Ambito, Comune, month
/// and every dimension of its own), whatever it is grouped by: a finest cell
/// is then the same units in every table, with the same noise. An exact
/// table's grain is what it is grouped by.
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
    protected: bool,
    noise: bool,
) -> Result<SelectStatement, AppError> {
    use Dimension as D;
    let backend = gw.reads.get_database_backend();
    let mut inner = rule_select(gw, m, scope);
    inner.clear_selects();
    let by = |any: &[Dimension]| protected || req.by.iter().any(|d| any.contains(d));
    let mut grain: Vec<(String, String)> = Vec::new();
    if by(&[D::Regione, D::Ambito]) {
        grain.push(("d_ambito".into(), col(s.ambito)));
    }
    if by(&[D::Comune]) {
        grain.push(("d_comune".into(), col(s.comune)));
    }
    if let Some(time) = s.time {
        if by(&[D::Year, D::Quarter, D::Month]) {
            grain.push(("d_month".into(), month_grain(backend, time, s.instant)));
        }
    }
    for (d, expr) in &s.own {
        let grouped = if d.is_operational() { req.by.contains(d) } else { by(&[*d]) };
        if grouped {
            grain.push((format!("d_{d}"), expr.clone()));
        }
    }
    if let Some((table, on)) = s.join {
        inner.join(JoinType::InnerJoin, Alias::new(table), Expr::cust(on.to_string()));
    }
    for (alias, expr) in &grain {
        inner.expr_as(Expr::cust(expr.clone()), Alias::new(alias.as_str()));
    }
    inner.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
    if noise {
        inner.expr_as(
            Expr::cust(format!("CAST(SUM({}) % {} AS BIGINT)", q(s.table, "record_key"), disclosure::KEY_SPACE)),
            Alias::new("ck"),
        );
    }
    for i in 1..=grain.len() {
        inner.add_group_by([Expr::cust(i.to_string())]);
    }
    // Territory of the scope, and the filters (on whole finest cells).
    let comuni: Vec<String> = t.comuni.keys().cloned().collect();
    if !matches!(scope, Scope::National) {
        inner.and_where(Expr::cust(col(s.comune)).is_in(comuni.clone()));
    }
    if let (Some(time), Some(from), Some(to)) = (s.time, months.first(), months.last()) {
        inner.and_where(Expr::cust(period_condition(backend, time, s.instant, *from, *to)));
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
    let month = month_text(backend, "base.d_month");
    for (i, d) in req.by.iter().enumerate() {
        let expr = match d {
            Dimension::Regione | Dimension::Ambito => "base.d_ambito".to_string(),
            Dimension::Comune => "base.d_comune".to_string(),
            Dimension::Month => month.clone(),
            Dimension::Year => format!("substr({month}, 1, 4)"),
            Dimension::Quarter => format!(
                "substr({month}, 1, 4) || '-Q' || CAST((CAST(substr({month}, 6, 2) AS INTEGER) + 2) / 3 AS TEXT)"
            ),
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

/// The cells of a table by index: each dimension's values by code (and the
/// Ambiti by id), and the stride of each dimension in row-major order.
struct Grid {
    len: usize,
    strides: Vec<usize>,
    codes: Vec<HashMap<String, usize>>,
    ambiti: Vec<HashMap<Uuid, usize>>,
}

impl Grid {
    fn new(axes: &[(Dimension, Vec<(String, String)>)], t: &Territory) -> Grid {
        let mut strides = vec![1; axes.len()];
        for i in (0..axes.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * axes[i + 1].1.len();
        }
        let codes: Vec<HashMap<String, usize>> = axes
            .iter()
            .map(|(_, values)| values.iter().enumerate().map(|(i, (c, _))| (c.clone(), i)).collect())
            .collect();
        let ambiti = axes
            .iter()
            .zip(&codes)
            .map(|((d, _), codes)| match d {
                Dimension::Regione | Dimension::Ambito => t
                    .ambiti
                    .iter()
                    .filter_map(|(id, (code, _, region))| {
                        let key = if *d == Dimension::Regione { region } else { code };
                        codes.get(key).map(|i| (*id, *i))
                    })
                    .collect(),
                _ => HashMap::new(),
            })
            .collect();
        Grid { len: axes.iter().map(|(_, v)| v.len()).product(), strides, codes, ambiti }
    }

    fn of_code(&self, axis: usize, code: &str) -> Option<usize> {
        self.codes[axis].get(code).copied()
    }

    fn of_ambito(&self, axis: usize, id: &Uuid) -> Option<usize> {
        self.ambiti[axis].get(id).copied()
    }

    /// The lines of the table: for each dimension, the cells that share every
    /// other coordinate and the same parent along it (the Ambito of a Comune,
    /// the Regione of an Ambito, the quarter of a month, the year of a quarter;
    /// the whole dimension otherwise): each adds up to a total another table
    /// shows. In a fixed order, so that suppression is the same every time.
    fn lines(&self, axes: &[(Dimension, Vec<(String, String)>)], t: &Territory) -> Vec<Vec<usize>> {
        let region_of_ambito: HashMap<&String, &String> = t.ambiti.values().map(|(c, _, r)| (c, r)).collect();
        let mut out = Vec::new();
        for (j, (d, values)) in axes.iter().enumerate() {
            let parent = |v: &String| -> String {
                match d {
                    Dimension::Comune => t.comuni.get(v).map(|(_, a)| a.to_string()).unwrap_or_default(),
                    Dimension::Ambito => region_of_ambito.get(v).map(|r| r.to_string()).unwrap_or_default(),
                    Dimension::Month => Month::parse("", v).map(|m| m.quarter()).unwrap_or_default(),
                    Dimension::Quarter => v.get(..4).unwrap_or_default().to_string(),
                    _ => String::new(),
                }
            };
            // Each value's parent, numbered in order of first appearance.
            let mut parents: HashMap<String, usize> = HashMap::new();
            let mut parent_names: Vec<String> = Vec::new();
            let parent_of: Vec<usize> = values
                .iter()
                .map(|(v, _)| {
                    let p = parent(v);
                    *parents.entry(p.clone()).or_insert_with(|| {
                        parent_names.push(p);
                        parent_names.len() - 1
                    })
                })
                .collect();
            let stride = self.strides[j];
            let len = values.len();
            // A cell's line: its index with this coordinate taken out, and the parent.
            let mut keyed: Vec<((usize, usize), usize)> = (0..self.len)
                .map(|i| {
                    let x = (i / stride) % len;
                    ((i - x * stride, parent_of[x]), i)
                })
                .collect();
            keyed.sort_unstable();
            // In the order of their codes (the other coordinates', then the
            // parent's), the order tables have always been suppressed in.
            let mut lines: Vec<(Vec<&str>, Vec<usize>)> = keyed
                .chunk_by(|a, b| a.0 == b.0)
                .map(|c| {
                    let first = c[0].1;
                    let mut key: Vec<&str> = (0..axes.len())
                        .filter(|k| *k != j)
                        .map(|k| axes[k].1[(first / self.strides[k]) % axes[k].1.len()].0.as_str())
                        .collect();
                    key.push(parent_names[parent_of[(first / stride) % len]].as_str());
                    (key, c.iter().map(|(_, i)| *i).collect())
                })
                .collect();
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(lines.into_iter().map(|(_, cells)| cells));
        }
        out
    }
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
        "cells": t.values.len(),
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
    for c in t.cells() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_of_instants_begins_at_the_first_instant_of_its_month_in_rome() {
        let m = |year, month| Month { year, month };
        let at = |from, to| period_condition(DbBackend::Postgres, "meeting.scheduled_at", true, from, to);
        // Winter: Rome is an hour ahead of UTC; summer: two.
        assert_eq!(
            at(m(2026, 1), m(2026, 6)),
            "\"meeting\".\"scheduled_at\" >= '2025-12-31 23:00:00+00' AND \"meeting\".\"scheduled_at\" < '2026-06-30 22:00:00+00'"
        );
        // On 1 June 1969 Rome's clocks went from midnight to one: the month
        // begins at the first hour that existed, and nothing panics.
        assert_eq!(
            at(m(1969, 5), m(1969, 6)),
            "\"meeting\".\"scheduled_at\" >= '1969-04-30 23:00:00+00' AND \"meeting\".\"scheduled_at\" < '1969-06-30 22:00:00+00'"
        );
        assert!(at(m(1969, 6), m(1969, 6)).contains(">= '1969-05-31 23:00:00+00'"));
        // Days are compared as days, on both backends.
        assert_eq!(
            period_condition(DbBackend::Sqlite, "case_file.pad_date", false, m(2026, 11), m(2026, 12)),
            "\"case_file\".\"pad_date\" >= '2026-11-01' AND \"case_file\".\"pad_date\" < '2027-01-01'"
        );
    }
}
