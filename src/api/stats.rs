//! `stats`: tables of counts for dashboards (see `stats`). The measures and
//! dimensions are the vocabulary of `policies/stats.csv`, as GraphQL enums.

use std::{borrow::Cow, marker::PhantomData};

use async_graphql::{
    parser::types::Field, registry::Registry, resolver_utils::enum_value, Context, ContextSelectionSet, Enum,
    InputObject, Object, OutputType, Positioned, ServerResult, SimpleObject, Value,
};

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
        /// Where a case stands today against its deadlines: without a first meeting, within the
        /// 60 days recommended for convening (`ENTRO_60_GIORNI`), past them (`OLTRE_60_GIORNI`),
        /// within 30 days of the 120-day deadline (`IN_SCADENZA`) or past it (`SCADUTO`); after
        /// one, within or past the 90 days of the periodic check (`VERIFICA_IN_TERMINE`,
        /// `VERIFICA_SCADUTA`); `NESSUNA` for a closed or transferred case. Exact counts only.
        Deadline,
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

fn count(v: Option<i64>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

/// A table of counts: every combination of the dimensions' values in the role's scope, in order.
pub struct StatsTable(m::Table);

impl From<m::Table> for StatsTable {
    fn from(t: m::Table) -> Self {
        StatsTable(t)
    }
}

// The fields read the table as the service counted it; a cell's object is
// built only when `cells` is selected (a national table has 72,000).
/// A table of counts: every combination of the dimensions' values in the role's scope, in order.
#[Object]
impl StatsTable {
    /// What is counted.
    async fn measure(&self) -> StatsMeasure {
        self.0.measure.into()
    }

    /// What the cells are grouped by, in order.
    async fn dimensions(&self) -> Vec<StatsDimension> {
        self.0.by.iter().map(|d| (*d).into()).collect()
    }

    /// How the table was counted.
    async fn method(&self) -> StatsMethod {
        self.0.method.into()
    }

    /// The threshold *k* of a protected table: cells of fewer units are not shown.
    async fn threshold(&self) -> Option<i32> {
        self.0.threshold.map(|k| k as i32)
    }

    /// The largest noise added to each finest cell of a protected table.
    async fn max_noise(&self) -> Option<i32> {
        self.0.max_noise.map(|n| n as i32)
    }

    /// The dimensions' values, once each: the cells run over them in row-major order (the last
    /// dimension fastest), so a large table can select `cells { value flag }` alone.
    async fn axes(&self) -> Vec<StatsAxis> {
        self.0
            .axes
            .iter()
            .map(|(d, values)| StatsAxis {
                dimension: (*d).into(),
                values: values
                    .iter()
                    .map(|(value, label)| StatsCoordinate {
                        dimension: (*d).into(),
                        value: value.clone(),
                        label: label.clone(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Every combination of the dimensions' values, empty ones too.
    async fn cells(&self) -> Vec<StatsCell> {
        (0..self.0.values.len())
            .map(|i| StatsCell {
                coordinates: self
                    .0
                    .coordinates(i)
                    .into_iter()
                    .map(|x| StatsCoordinate { dimension: x.dimension.into(), value: x.value, label: x.label })
                    .collect(),
                value: count(self.0.values[i]),
                flag: self.0.flags[i].into(),
            })
            .collect()
    }

    /// The cells' values in the cells' order (null when suppressed): with `axes`, a large table
    /// without an object per cell.
    async fn values(&self) -> Whole<Option<i32>> {
        Whole::new(self.0.values.iter().map(|v| count(*v).map_or(Value::Null, Value::from)).collect())
    }

    /// The cells' flags in the cells' order.
    async fn flags(&self) -> Whole<StatsFlag> {
        Whole::new(self.0.flags.iter().map(|f| enum_value(StatsFlag::from(*f))).collect())
    }
}

/// A list of plain values answered whole, the same type as `Vec<T>` to the
/// schema: the executor would resolve each item of a `Vec` as a field of its
/// own (a national table has 72,000 values and as many flags).
pub struct Whole<T>(Vec<Value>, PhantomData<T>);

impl<T> Whole<T> {
    fn new(values: Vec<Value>) -> Self {
        Whole(values, PhantomData)
    }
}

impl<T: OutputType> OutputType for Whole<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> ServerResult<Value> {
        Ok(Value::List(self.0.clone()))
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
