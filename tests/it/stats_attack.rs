//! The attacker of the analysts' tables. On a data set of 10,000 households an
//! analyst asks for every table the vocabulary allows of two measures (cases:
//! k = 3 to 10 by dimension; validation requests of the condizione di
//! svantaggio: special, k = 10) — the grand total, every table by one, two and
//! three dimensions, and the tables by three dimensions filtered on each value
//! of a fourth — and recomputes what it was not shown by solving the
//! linear system of the totals: interval propagation over every relation
//! "a total is the sum of its parts" (the shuttle algorithm of the disclosure
//! control literature), first over the perturbed counts (which add up) and
//! then over the true ones, knowing the method, its largest noise, and even
//! how many non-empty finest cells lie under each cell (more than an analyst
//! is ever told).
//!
//! A cell is recovered when the attacker pins down its true count exactly.
//! Under the protection the service applies, no cell below k is; without the
//! protection, or with suppression alone, the same attacker recovers cells.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use entity::enums::Role;
use gepi::{
    authz::{
        gateway::Gateway,
        vocab::{Dimension, Measure},
        RequestAuthz,
    },
    principal::{Actor, Principal},
    stats::{
        disclosure::{Flag, MAX_NOISE},
        model::{Filter, Month, Protection, Request, Table},
        service,
    },
};
use sea_orm::{ActiveEnum, EntityTrait};
use serde_json::json;

use crate::helpers::TestApp;

/// A cell as a set of constraints, one per hierarchy at its finest level.
type Cell = BTreeMap<Dimension, String>;

const HOUSEHOLDS: usize = 10_000;

/// The hierarchy a dimension belongs to (territory, time, or its own).
fn family(d: Dimension) -> u8 {
    match d {
        Dimension::Regione | Dimension::Ambito | Dimension::Comune => 0,
        Dimension::Year | Dimension::Quarter | Dimension::Month => 1,
        _ => 2 + d as u8,
    }
}

fn level(d: Dimension) -> u8 {
    match d {
        Dimension::Regione | Dimension::Year => 0,
        Dimension::Ambito | Dimension::Quarter => 1,
        _ => 2,
    }
}

/// Public reference data the attacker knows: the parents of each territory and time value.
struct Atlas {
    comune_ambito: HashMap<String, String>,
    ambito_regione: HashMap<String, String>,
}

impl Atlas {
    /// The value of `coarser` implied by `(d, v)`.
    fn up(&self, d: Dimension, v: &str, coarser: Dimension) -> String {
        match (d, coarser) {
            (a, b) if a == b => v.to_string(),
            (Dimension::Comune, _) => self.up(Dimension::Ambito, &self.comune_ambito[v], coarser),
            (Dimension::Ambito, Dimension::Regione) => self.ambito_regione[v].clone(),
            (Dimension::Month, _) => {
                let m = Month::parse("", v).unwrap();
                if coarser == Dimension::Quarter {
                    m.quarter()
                } else {
                    m.year_code()
                }
            }
            (Dimension::Quarter, Dimension::Year) => v[..4].to_string(),
            _ => unreachable!("{d} to {coarser}"),
        }
    }

    /// The cell of a set of coordinates: the finest of each hierarchy, or None
    /// when two of them contradict each other (a structurally empty cell).
    fn canonical(&self, coords: &[(Dimension, String)]) -> Option<Cell> {
        let mut best: BTreeMap<u8, (Dimension, String)> = BTreeMap::new();
        for (d, v) in coords {
            match best.get(&family(*d)) {
                Some((bd, bv)) => {
                    let (fine, fv, coarse, cv) = if level(*d) >= level(*bd) {
                        (*d, v.clone(), *bd, bv.clone())
                    } else {
                        (*bd, bv.clone(), *d, v.clone())
                    };
                    if self.up(fine, &fv, coarse) != cv {
                        return None;
                    }
                    best.insert(family(*d), (fine, fv));
                }
                None => {
                    best.insert(family(*d), (*d, v.clone()));
                }
            }
        }
        Some(best.into_values().collect())
    }

    /// The parent of `(d, v)` along its hierarchy (None: the whole dimension).
    fn parent(&self, d: Dimension, v: &str) -> Option<(Dimension, String)> {
        match d {
            Dimension::Comune => Some((Dimension::Ambito, self.comune_ambito[v].clone())),
            Dimension::Ambito => Some((Dimension::Regione, self.ambito_regione[v].clone())),
            Dimension::Month => Some((Dimension::Quarter, Month::parse("", v).unwrap().quarter())),
            Dimension::Quarter => Some((Dimension::Year, v[..4].to_string())),
            _ => None,
        }
    }
}

/// What the attacker was shown of a cell.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Value(i64),
    Primary,
    Secondary,
}

/// Every table of the attack, for a measure: the grand total and every table
/// by one, two and three dimensions, and each table by three dimensions
/// filtered on each value of a fourth one with at most four values (cells of
/// four constraints, which no table by three dimensions shows). A table by
/// fewer dimensions filtered on another is a slice of a table by one more
/// dimension: the same cells, nothing new to the attacker.
fn requests(m: Measure, period: (Month, Month), domains: &HashMap<Dimension, Vec<String>>) -> Vec<Request> {
    // Every dimension the analyst may use (the domains hold them).
    let dims: Vec<Dimension> = m.dimensions().into_iter().filter(|d| domains.contains_key(d)).collect();
    let mut out = Vec::new();
    let req = |by: Vec<Dimension>, filters: Vec<Filter>| Request { measure: m, by, filters, period: Some(period) };
    let mut subsets: Vec<Vec<Dimension>> = vec![vec![]];
    for i in 0..dims.len() {
        subsets.push(vec![dims[i]]);
        for j in i + 1..dims.len() {
            subsets.push(vec![dims[i], dims[j]]);
            for k in j + 1..dims.len() {
                subsets.push(vec![dims[i], dims[j], dims[k]]);
            }
        }
    }
    for by in subsets {
        if by.len() == 3 {
            for f in dims.iter().filter(|d| !by.contains(d) && domains[d].len() <= 4) {
                for v in &domains[f] {
                    out.push(req(by.clone(), vec![Filter { dimension: *f, values: vec![v.clone()] }]));
                }
            }
        }
        out.push(req(by, vec![]));
    }
    out
}

/// No bound yet.
const INF: i64 = 1 << 40;

/// Cells named by number, and the relations between them.
#[derive(Default)]
struct System {
    ids: HashMap<Cell, usize>,
    cells: Vec<Cell>,
    /// `total = sum(parts)`.
    relations: Vec<(usize, Vec<usize>)>,
}

impl System {
    fn id(&mut self, c: &Cell) -> usize {
        if let Some(i) = self.ids.get(c) {
            return *i;
        }
        self.cells.push(c.clone());
        self.ids.insert(c.clone(), self.cells.len() - 1);
        self.cells.len() - 1
    }
}

/// Interval propagation over `sum(parts) = total` until nothing moves.
fn propagate(bounds: &mut [(i64, i64)], relations: &[(usize, Vec<usize>)]) {
    for _round in 0..100 {
        let mut moved = false;
        for (total, parts) in relations {
            let (tlo, thi) = bounds[*total];
            let lo_sum: i64 = parts.iter().map(|p| bounds[*p].0).fold(0, i64::saturating_add).min(INF);
            let hi_sum: i64 = parts.iter().map(|p| bounds[*p].1).fold(0, i64::saturating_add).min(INF);
            let (nlo, nhi) = (tlo.max(lo_sum), thi.min(hi_sum));
            if (nlo, nhi) != (tlo, thi) {
                bounds[*total] = (nlo, nhi);
                moved = true;
            }
            for p in parts {
                let (plo, phi) = bounds[*p];
                let others_lo = lo_sum - plo;
                let others_hi = if phi >= INF || hi_sum >= INF { INF } else { hi_sum - phi };
                let lo = if others_hi >= INF { plo } else { plo.max(nlo - others_hi) };
                let hi = phi.min(nhi - others_lo);
                if (lo, hi) != (plo, phi) {
                    bounds[*p] = (lo, hi);
                    moved = true;
                }
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the propagation did not settle");
}

/// The attack on the tables answered: returns the cells below k it pins down.
fn attack(
    atlas: &Atlas,
    tables: &[(Request, Table)],
    protection: Protection,
    truth: &HashMap<Cell, (i64, i64)>,
    finest_under: &HashMap<Cell, i64>,
) -> Vec<Cell> {
    let mut sys = System::default();
    let mut shown: HashMap<usize, Seen> = HashMap::new();
    for (req, t) in tables {
        let fixed: Vec<(Dimension, String)> = req.filters.iter().map(|f| (f.dimension, f.values[0].clone())).collect();
        let mut cells_of: Vec<(Vec<(Dimension, String)>, usize)> = Vec::new();
        for c in &t.cells() {
            let mut coords: Vec<(Dimension, String)> =
                c.coordinates.iter().map(|x| (x.dimension, x.value.clone())).collect();
            coords.extend(fixed.clone());
            let Some(cell) = atlas.canonical(&coords) else { continue };
            let seen = match (c.flag, c.value) {
                (Flag::SuppressedPrimary, _) => Seen::Primary,
                (Flag::SuppressedSecondary, _) => Seen::Secondary,
                (_, Some(v)) => Seen::Value(v),
                (f, None) => panic!("{f:?} without a value"),
            };
            let id = sys.id(&cell);
            shown.entry(id).or_insert(seen);
            cells_of.push((coords, id));
        }
        // Each line of the table adds up to its parent's cell.
        for (j, d) in req.by.iter().enumerate() {
            let mut lines: BTreeMap<Cell, Vec<usize>> = BTreeMap::new();
            for (coords, id) in &cells_of {
                let mut parent: Vec<(Dimension, String)> =
                    coords.iter().enumerate().filter(|(i, _)| *i != j).map(|(_, c)| c.clone()).collect();
                if let Some(p) = atlas.parent(*d, &coords[j].1) {
                    parent.push(p);
                }
                if let Some(pc) = atlas.canonical(&parent) {
                    lines.entry(pc).or_default().push(*id);
                }
            }
            for (pc, parts) in lines {
                let total = sys.id(&pc);
                sys.relations.push((total, parts));
            }
        }
    }
    let k_of = |c: &Cell| truth.get(c).map(|(_, k)| *k).unwrap_or(3);
    let d = MAX_NOISE;
    let seen_bounds = |sys: &System, shown: &HashMap<usize, Seen>| -> Vec<(i64, i64)> {
        (0..sys.cells.len())
            .map(|i| match shown.get(&i) {
                Some(Seen::Value(v)) => (*v, *v),
                Some(Seen::Primary) => (0, k_of(&sys.cells[i]) - 1),
                Some(Seen::Secondary) | None => (0, INF),
            })
            .collect()
    };
    let mut bounds = seen_bounds(&sys, &shown);
    if protection.noise {
        // First the perturbed counts, which add up like the true ones; then the
        // true counts: m non-empty finest cells, each within the noise of its
        // perturbed count.
        propagate(&mut bounds, &sys.relations);
        for (i, b) in bounds.iter_mut().enumerate() {
            let m = finest_under.get(&sys.cells[i]).copied().unwrap_or(0);
            *b = if m == 0 { (0, 0) } else { ((b.0 - d * m).max(m), (b.1 + d * m).min(INF)) };
        }
    }
    propagate(&mut bounds, &sys.relations);
    let mut recovered = Vec::new();
    for (i, (lo, hi)) in bounds.iter().enumerate() {
        let c = &sys.cells[i];
        let Some((t, k)) = truth.get(c) else { continue };
        assert!(*lo <= *t && *t <= *hi, "the attacker's bounds are sound: {c:?} {t} not in [{lo}, {hi}]");
        if lo == hi && *t >= 1 && *t < *k {
            recovered.push(c.clone());
        }
    }
    recovered
}

#[tokio::test]
async fn an_analyst_recovers_no_cell_below_k_from_every_table_it_may_ask() {
    let app = TestApp::seeded_with(gepi::seed::SeedOptions {
        ambiti: 4,
        households: HOUSEHOLDS,
        seed: 17,
        today: crate::helpers::seed_today(),
        progress: false,
    })
    .await;
    let db = &app.db;
    let ambiti = entity::ambito::Entity::find().all(db).await.unwrap();
    let comuni = entity::comune::Entity::find().all(db).await.unwrap();
    let code_of: HashMap<uuid::Uuid, String> = ambiti.iter().map(|a| (a.id, a.code.clone())).collect();
    let atlas = Atlas {
        comune_ambito: comuni.iter().map(|c| (c.istat_code.clone(), code_of[&c.ambito_id].clone())).collect(),
        ambito_regione: ambiti.iter().map(|a| (a.code.clone(), a.region.clone())).collect(),
    };

    // The analyst, as the service builds its principal.
    let (token, profile, op) = app.login_role(Role::Analyst, 0).await;
    let principal = Principal {
        actor: Actor::Operator { operator_id: op.id, profile_id: profile.id, session_id: uuid::Uuid::nil() },
        role: Role::Analyst,
        ambito_id: profile.ambito_id,
        comuni: Arc::new(vec![]),
        terms: None,
    };
    let gw =
        Gateway::new(db.clone(), Arc::new(RequestAuthz::new(principal, app.state.policy.clone())), Default::default());
    let stats = &app.state.policy.stats;

    let today = gepi::calendar::today();
    let to = Month::of(today);
    let from = Month { year: to.year - 2, month: to.month };
    let period = (from, to);

    let mut summary = Vec::new();
    let mut supp_total = 0;
    for m in [Measure::Cases, Measure::DisadvantageChecks] {
        // The values the attacker may name (from an unfiltered table by each dimension).
        let mut domains: HashMap<Dimension, Vec<String>> = HashMap::new();
        for d in m.dimensions() {
            if !stats.may_use(Role::Analyst, d) {
                continue;
            }
            let t = service::table(&gw, &Request { measure: m, by: vec![d], filters: vec![], period: Some(period) })
                .await
                .unwrap();
            domains.insert(d, t.cells().iter().map(|c| c.coordinates[0].value.clone()).collect());
        }
        let reqs = requests(m, period, &domains);
        let run = |p: Protection| {
            let reqs = reqs.clone();
            let gw = gw.clone();
            async move {
                let mut out = Vec::new();
                for r in reqs {
                    let t = service::table_with(&gw, &r, p).await.unwrap_or_else(|e| panic!("{r:?}: {e}"));
                    out.push((r, t));
                }
                out
            }
        };
        let off = Protection { noise: false, suppression: false };
        let started = std::time::Instant::now();
        let exact = run(off).await;
        println!("{m}: {} tables in {:?}", reqs.len(), started.elapsed());

        // The truth of every cell, its k, and the number of non-empty finest cells under it.
        let mut truth: HashMap<Cell, (i64, i64)> = HashMap::new();
        for (r, t) in &exact {
            let fixed: Vec<(Dimension, String)> =
                r.filters.iter().map(|f| (f.dimension, f.values[0].clone())).collect();
            let class =
                r.by.iter()
                    .chain(r.filters.iter().map(|f| &f.dimension))
                    .map(|d| stats.dimension_class(*d))
                    .chain([stats.measure_class(m)])
                    .max()
                    .unwrap();
            let k = i64::from(stats.threshold(class));
            for c in &t.cells() {
                let mut coords: Vec<(Dimension, String)> =
                    c.coordinates.iter().map(|x| (x.dimension, x.value.clone())).collect();
                coords.extend(fixed.clone());
                if let Some(cell) = atlas.canonical(&coords) {
                    truth.insert(cell, (c.value.unwrap(), k));
                }
            }
        }
        let finest = finest_cells(&app, m, period).await;
        let mut finest_under: HashMap<Cell, i64> = HashMap::new();
        for f in &finest {
            for cell in supersets(&atlas, f) {
                *finest_under.entry(cell).or_default() += 1;
            }
        }
        let small = truth.iter().filter(|(_, (t, k))| *t >= 1 && t < k).count();
        assert!(small > 100, "{m}: the data set has cells below k to protect ({small})");

        let full = run(Protection::FULL).await;
        let suppressed_only = run(Protection { noise: false, suppression: true }).await;
        let r_off = attack(&atlas, &exact, off, &truth, &finest_under);
        let r_supp =
            attack(&atlas, &suppressed_only, Protection { noise: false, suppression: true }, &truth, &finest_under);
        let r_full = attack(&atlas, &full, Protection::FULL, &truth, &finest_under);
        supp_total += r_supp.len();
        summary.push(format!(
            "{m}: {} tables, {} cells, {small} below k; recovered without protection {}, with suppression only {}, \
             with the cell key and suppression {}",
            reqs.len(),
            truth.len(),
            r_off.len(),
            r_supp.len(),
            r_full.len()
        ));
        assert_eq!(r_off.len(), small, "{m}: unprotected, every small cell is in plain sight");
        assert!(r_full.is_empty(), "{m}: recovered under protection: {:?}", &r_full[..r_full.len().min(5)]);

        // What the attacker was given is what the API answers.
        for r in reqs.iter().step_by(97).take(5) {
            let vars = json!({
                "m": json!(m.as_str().to_uppercase()),
                "by": r.by.iter().map(|d| d.as_str().to_uppercase()).collect::<Vec<_>>(),
                "f": r.filters.iter().map(|f| json!({ "dimension": f.dimension.as_str().to_uppercase(), "values": f.values })).collect::<Vec<_>>(),
                "p": { "from": period.0.to_string(), "to": period.1.to_string() },
            });
            let api = app
                .gql(
                    Some(&token),
                    "query($m: StatsMeasure!, $by: [StatsDimension!]!, $f: [StatsFilter!], $p: StatsPeriod) { stats(measure: $m, by: $by, filter: $f, period: $p) { cells { value flag } } }",
                    vars.clone(),
                )
                .await;
            let lib = full
                .iter()
                .find(|(q, _)| {
                    q.by == r.by
                        && q.filters.len() == r.filters.len()
                        && q.filters
                            .iter()
                            .zip(&r.filters)
                            .all(|(a, b)| a.dimension == b.dimension && a.values == b.values)
                })
                .unwrap();
            let got: Vec<Option<i64>> = api["data"]["stats"]["cells"]
                .as_array()
                .unwrap_or_else(|| panic!("{vars}: {api}"))
                .iter()
                .map(|c| c["value"].as_i64())
                .collect();
            let want: Vec<Option<i64>> = lib.1.cells().iter().map(|c| c.value).collect();
            assert_eq!(got, want, "{vars}");
        }
    }
    println!("{}", summary.join("\n"));
    // Suppression alone does not hold against the linear system of linked tables.
    assert!(supp_total > 0, "{}", summary.join("\n"));
}

/// The non-empty finest cells of a measure in the period, from the rows: the
/// one thing the attacker is given that no analyst is told.
async fn finest_cells(app: &TestApp, m: Measure, period: (Month, Month)) -> BTreeSet<Vec<(Dimension, String)>> {
    let db = &app.db;
    let code_of: HashMap<uuid::Uuid, String> =
        entity::ambito::Entity::find().all(db).await.unwrap().into_iter().map(|a| (a.id, a.code)).collect();
    let in_period = |d: NaiveDate| {
        let mo = Month { year: d.year(), month: d.month() };
        mo >= period.0 && mo <= period.1
    };
    let mut out = BTreeSet::new();
    match m {
        Measure::Cases => {
            let mut sizes: HashMap<uuid::Uuid, usize> = HashMap::new();
            for mm in entity::member::Entity::find().all(db).await.unwrap() {
                *sizes.entry(mm.household_id).or_default() += 1;
            }
            for c in entity::case_file::Entity::find().all(db).await.unwrap() {
                if !in_period(c.pad_date) {
                    continue;
                }
                let size = match sizes.get(&c.household_id).copied().unwrap_or(0) {
                    0 | 1 => "1",
                    2 => "2",
                    3 | 4 => "3-4",
                    _ => "5+",
                };
                out.insert(vec![
                    (Dimension::Ambito, code_of[&c.ambito_id].clone()),
                    (Dimension::Comune, c.comune_istat.clone()),
                    (Dimension::Month, c.pad_date.format("%Y-%m").to_string()),
                    (Dimension::CaseState, c.state.to_value()),
                    (Dimension::Pathway, c.pathway_type.map(|p| p.to_value()).unwrap_or_else(|| "NESSUNO".into())),
                    (Dimension::SizeBand, size.to_string()),
                ]);
            }
        }
        Measure::DisadvantageChecks => {
            for c in entity::disadvantage_check::Entity::find().all(db).await.unwrap() {
                if !in_period(c.received_on) {
                    continue;
                }
                out.insert(vec![
                    (Dimension::Ambito, code_of[&c.ambito_id].clone()),
                    (Dimension::Comune, c.certifying_comune_istat.clone()),
                    (Dimension::Month, c.received_on.format("%Y-%m").to_string()),
                    (Dimension::DisadvantageCategory, c.category.to_value()),
                    (Dimension::DisadvantageState, c.state.to_value()),
                ]);
            }
        }
        _ => unreachable!(),
    }
    out
}

/// Every cell the attack can name that holds the finest cell `f`: each subset
/// of its coordinates, each at any level of its hierarchy.
fn supersets(atlas: &Atlas, f: &[(Dimension, String)]) -> Vec<Cell> {
    // The finest cell's coordinates, without the Ambito its Comune implies.
    let coords: Vec<(Dimension, String)> = f.iter().filter(|(d, _)| *d != Dimension::Ambito).cloned().collect();
    let mut out = vec![Cell::new()];
    for (d, v) in &coords {
        let options: Vec<(Dimension, String)> = match d {
            Dimension::Comune => vec![
                (Dimension::Comune, v.clone()),
                (Dimension::Ambito, atlas.up(*d, v, Dimension::Ambito)),
                (Dimension::Regione, atlas.up(*d, v, Dimension::Regione)),
            ],
            Dimension::Month => vec![
                (Dimension::Month, v.clone()),
                (Dimension::Quarter, atlas.up(*d, v, Dimension::Quarter)),
                (Dimension::Year, atlas.up(*d, v, Dimension::Year)),
            ],
            _ => vec![(*d, v.clone())],
        };
        let mut next = Vec::with_capacity(out.len() * (options.len() + 1));
        for c in &out {
            next.push(c.clone());
            for (od, ov) in &options {
                let mut c2 = c.clone();
                c2.insert(*od, ov.clone());
                next.push(c2);
            }
        }
        out = next;
    }
    out
}
