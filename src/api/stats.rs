//! `stats`: tables of counts for dashboards (see `stats`). The measures and
//! dimensions are the vocabulary of `policies/stats.csv`, as GraphQL enums.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use crate::{
    authz::vocab,
    error::{GqlResult, ResultExt},
    graphql::context::{acting, gateway},
    stats::{model as m, service},
};

macro_rules! mirror {
    ($(#[$meta:meta])* $gql:ident = $vocab:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $gql { $($(#[$vm])* $v),+ }
        impl From<$gql> for vocab::$vocab {
            fn from(v: $gql) -> Self { match v { $($gql::$v => vocab::$vocab::$v),+ } }
        }
        impl From<vocab::$vocab> for $gql {
            fn from(v: vocab::$vocab) -> Self { match v { $(vocab::$vocab::$v => $gql::$v),+ } }
        }
    };
}

mirror!(
    /// What a table counts (`policies/stats.csv`).
    StatsMeasure = Measure {
        /// Households (nuclei), by the month of their composition.
        Households,
        /// Cases (prese in carico), by the month of the PAD.
        Cases,
        /// Members of the households (no month).
        Members,
        /// Meetings, by the month they are held in.
        Meetings,
        /// Assignments to PUC places (no month).
        PucAssignments,
        /// Residency checks, by the month they are due.
        ResidencyChecks,
        /// Segnalazioni, by the month they were raised.
        Reports,
        /// Validation requests of the condizione di svantaggio, by the month they arrived.
        DisadvantageChecks,
    }
);

mirror!(
    /// What a table groups and filters by. Territory (Regione, Ambito, Comune) and time (year,
    /// quarter, month of the measure's event) apply to every measure that has them; the others
    /// to one measure each.
    StatsDimension = Dimension {
        /// The Regione of the Ambito.
        Regione,
        /// The Ambito territoriale.
        Ambito,
        /// The Comune (of residence, of the office, of the project, holding the check).
        Comune,
        /// The year of the measure's event.
        Year,
        /// The quarter of the measure's event (`2026-Q1`).
        Quarter,
        /// The month of the measure's event (`2026-03`).
        Month,
        /// The state of a case.
        CaseState,
        /// The ADI pathway of a case (`NESSUNO` before the analysis sets it).
        Pathway,
        /// The household's size band: 1, 2, 3-4, 5+ members.
        SizeBand,
        /// A member's age band today: 0-17, 18-29, 30-49, 50-66, 67+.
        AgeBand,
        /// The kind of a meeting.
        MeetingKind,
        /// The state of a meeting.
        MeetingState,
        /// Which places a PUC assignment uses (Comune, CPI, volunteers).
        PucSource,
        /// The state of a PUC assignment.
        PucState,
        /// What a residency check checks.
        ResidencyKind,
        /// The state of a residency check.
        ResidencyState,
        /// The outcome of a residency check (`NESSUNO` before one).
        ResidencyOutcome,
        /// The kind of fact of a segnalazione.
        ReportKind,
        /// The state of a segnalazione.
        ReportState,
        /// The declared category of disadvantage (special-category data).
        DisadvantageCategory,
        /// The state of a validation request.
        DisadvantageState,
    }
);

mirror!(
    /// How the table was counted: `EXACT` (what the role reads anyway) or `CELL_KEY` (perturbed
    /// by the cell-key method, with primary and secondary suppression).
    StatsMethod = Method {
        /// True counts of the rows the role reads anyway.
        Exact,
        /// Perturbed by the cell-key method, with primary and secondary suppression.
        CellKey,
    }
);

/// What was done to a cell, the way official statistics flag them.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StatsFlag {
    /// A true count.
    Exact,
    /// Shown, perturbed by the cell-key method (by at most `maxNoise` per finest cell).
    Perturbed,
    /// Not shown: fewer than `threshold`.
    SuppressedPrimary,
    /// Not shown: it would let a suppressed cell be recomputed from the totals.
    SuppressedSecondary,
}

impl From<m::Flag> for StatsFlag {
    fn from(f: m::Flag) -> Self {
        match f {
            m::Flag::Exact => StatsFlag::Exact,
            m::Flag::Perturbed => StatsFlag::Perturbed,
            m::Flag::SuppressedPrimary => StatsFlag::SuppressedPrimary,
            m::Flag::SuppressedSecondary => StatsFlag::SuppressedSecondary,
        }
    }
}

/// Counts only the units whose `dimension` is one of `values` (the codes of `StatsCoordinate.value`).
#[derive(InputObject)]
pub struct StatsFilter {
    /// The dimension filtered.
    pub dimension: StatsDimension,
    /// The codes kept (at least one).
    pub values: Vec<String>,
}

/// The months counted, both included, as `YYYY-MM`.
#[derive(InputObject)]
pub struct StatsPeriod {
    /// The first month, `YYYY-MM`.
    pub from: String,
    /// The last month, `YYYY-MM`.
    pub to: String,
}

/// One coordinate of a cell: a value of a dimension.
#[derive(SimpleObject)]
pub struct StatsCoordinate {
    /// The dimension.
    pub dimension: StatsDimension,
    /// The code: a Comune's ISTAT code, an Ambito's code, a Regione, `2026-03`, `2026-Q1`, a state.
    pub value: String,
    /// The name people read.
    pub label: String,
}

/// One dimension of a table and its values, in the order the cells run over them.
#[derive(SimpleObject)]
pub struct StatsAxis {
    /// The dimension.
    pub dimension: StatsDimension,
    /// Its values in the table's order (each with the dimension, its code and its label).
    pub values: Vec<StatsCoordinate>,
}

/// One cell: its coordinates, its count (null when suppressed) and what was done to it.
#[derive(SimpleObject)]
pub struct StatsCell {
    /// One value of each dimension of the table, in the table's order.
    pub coordinates: Vec<StatsCoordinate>,
    /// The count; null when suppressed.
    pub value: Option<i32>,
    /// What was done to the cell.
    pub flag: StatsFlag,
}

/// A table of counts: every combination of the dimensions' values in the role's scope, in order.
#[derive(SimpleObject)]
pub struct StatsTable {
    /// What is counted.
    pub measure: StatsMeasure,
    /// What the cells are grouped by, in order.
    pub dimensions: Vec<StatsDimension>,
    /// How the table was counted.
    pub method: StatsMethod,
    /// The threshold *k* of a protected table: cells of fewer units are not shown.
    pub threshold: Option<i32>,
    /// The largest noise added to each finest cell of a protected table.
    pub max_noise: Option<i32>,
    /// The dimensions' values, once each: the cells run over them in row-major order (the last
    /// dimension fastest), so a large table can select `cells { value flag }` alone.
    pub axes: Vec<StatsAxis>,
    /// Every combination of the dimensions' values, empty ones too.
    pub cells: Vec<StatsCell>,
    /// The cells' values in the cells' order (null when suppressed): with `axes`, a large table
    /// without an object per cell.
    pub values: Vec<Option<i32>>,
    /// The cells' flags in the cells' order.
    pub flags: Vec<StatsFlag>,
}

impl From<m::Table> for StatsTable {
    fn from(t: m::Table) -> Self {
        let values = t.cells.iter().map(|c| c.value.map(|v| i32::try_from(v).unwrap_or(i32::MAX))).collect();
        let flags = t.cells.iter().map(|c| c.flag.into()).collect();
        StatsTable {
            values,
            flags,
            measure: t.measure.into(),
            dimensions: t.by.iter().map(|d| (*d).into()).collect(),
            method: t.method.into(),
            threshold: t.threshold.map(|k| k as i32),
            max_noise: t.max_noise.map(|n| n as i32),
            axes: t
                .axes
                .into_iter()
                .map(|(d, values)| StatsAxis {
                    dimension: d.into(),
                    values: values
                        .into_iter()
                        .map(|(value, label)| StatsCoordinate { dimension: d.into(), value, label })
                        .collect(),
                })
                .collect(),
            cells: t
                .cells
                .into_iter()
                .map(|c| StatsCell {
                    coordinates: c
                        .coordinates
                        .into_iter()
                        .map(|x| StatsCoordinate { dimension: x.dimension.into(), value: x.value, label: x.label })
                        .collect(),
                    value: c.value.map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    flag: c.flag.into(),
                })
                .collect(),
        }
    }
}

/// Decodes the arguments of `stats` into a request.
pub fn request(
    measure: StatsMeasure,
    by: Vec<StatsDimension>,
    filter: Option<Vec<StatsFilter>>,
    period: Option<StatsPeriod>,
) -> GqlResult<m::Request> {
    let period = match period {
        Some(p) => Some((m::Month::parse("period.from", &p.from).gql()?, m::Month::parse("period.to", &p.to).gql()?)),
        None => None,
    };
    Ok(m::Request {
        measure: measure.into(),
        by: by.into_iter().map(Into::into).collect(),
        filters: filter
            .unwrap_or_default()
            .into_iter()
            .map(|f| m::Filter { dimension: f.dimension.into(), values: f.values })
            .collect(),
        period,
    })
}

/// A table exported as CSV.
#[derive(SimpleObject)]
pub struct StatsExport {
    /// A name for the file: the measure, its dimensions and the day.
    pub filename: String,
    /// `text/csv; charset=utf-8`.
    pub content_type: String,
    /// One line per cell: each dimension's code and label, the value (empty when suppressed), the flag.
    pub csv: String,
    /// The same table.
    pub table: StatsTable,
}

#[derive(Default)]
pub struct StatsMutation;

#[Object]
impl StatsMutation {
    /// The table `stats` answers, as CSV, for a role that may export the measure. Each export is
    /// recorded in the audit trail (action `export`, with the table's definition) before it is given.
    #[graphql(visible = "crate::graphql::visibility::exports")]
    async fn export_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to count.")] measure: StatsMeasure,
        #[graphql(desc = "Up to three dimensions to group by.")] by: Vec<StatsDimension>,
        #[graphql(desc = "Count only the units with these values.")] filter: Option<Vec<StatsFilter>>,
        #[graphql(desc = "The months counted.")] period: Option<StatsPeriod>,
    ) -> GqlResult<StatsExport> {
        let req = request(measure, by, filter, period)?;
        let a = acting(ctx)?;
        let (t, csv) = service::export(&a, &req).await.gql()?;
        let filename = format!(
            "gepi-{}{}-{}.csv",
            t.measure.as_str(),
            t.by.iter().map(|d| format!("-{d}")).collect::<String>(),
            crate::calendar::today()
        );
        Ok(StatsExport { filename, content_type: "text/csv; charset=utf-8".into(), csv, table: t.into() })
    }
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// A table of counts: `measure` grouped `by` up to three dimensions, over the `filter`s and the
    /// `period` (the last twelve months when grouped or filtered by time and no period is given).
    /// Counted under the row rules of the measure's type: exactly for a role that reads those rows
    /// anyway, perturbed and suppressed (`method: CELL_KEY`) for a role that reads none.
    #[graphql(visible = "crate::graphql::visibility::counts")]
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to count.")] measure: StatsMeasure,
        #[graphql(desc = "Up to three dimensions to group by, in the order of the cells' coordinates.")] by: Vec<
            StatsDimension,
        >,
        #[graphql(desc = "Count only the units with these values (each dimension once).")] filter: Option<
            Vec<StatsFilter>,
        >,
        #[graphql(desc = "The months counted; at most 120.")] period: Option<StatsPeriod>,
    ) -> GqlResult<StatsTable> {
        let req = request(measure, by, filter, period)?;
        let gw = gateway(ctx)?;
        Ok(service::table(gw, &req).await.gql()?.into())
    }
}
