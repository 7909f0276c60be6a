//! Deterministic synthetic data: real Comuni grouped into real Ambiti, Italian
//! names, valid codici fiscali, households of realistic size, cases in every state
//! with the records each state implies, meetings, PUC projects with assignments and
//! attendance, residency checks, disadvantage checks, and operators with profiles
//! for every role (at least two per role across Ambiti/Comuni, one administrator
//! per Ambito). The same `seed` and `today` give the same database, row for row.
//!
//! Everything is generated in memory in batches and written with multi-row
//! inserts inside one transaction: a failure leaves the database as it was.

pub mod data;
mod generate;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::ambito;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, TransactionTrait};

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// How many Ambiti (taken in order from the embedded table).
    pub ambiti: usize,
    /// How many households in all, spread over the Ambiti by population.
    pub households: usize,
    pub seed: u64,
    /// The date the data set is built around (deadlines, ages).
    pub today: NaiveDate,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl SeedOptions {
    /// The demo data set `serve --demo` loads.
    pub fn demo(today: NaiveDate) -> Self {
        SeedOptions { ambiti: 2, households: 300, seed: 2026, today, progress: false }
    }
}

/// Rows written per table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedSummary(pub BTreeMap<&'static str, u64>);

impl std::fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, n) in &self.0 {
            writeln!(f, "  {table:<24} {n:>9}")?;
        }
        Ok(())
    }
}

/// Whether the database holds no domain data yet.
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, AppError> {
    Ok(ambito::Entity::find().count(db).await? == 0)
}

/// Generates and writes the data set. Refuses a database that already has data.
pub async fn run(db: &DatabaseConnection, opts: &SeedOptions) -> Result<SeedSummary, AppError> {
    if opts.ambiti == 0 || opts.ambiti > data::AMBITI.len() {
        return Err(AppError::validation(
            "ambiti",
            format!(
                "choose between 1 and {} Ambiti (the embedded table has {})",
                data::AMBITI.len(),
                data::AMBITI.len()
            ),
        ));
    }
    if opts.households == 0 {
        return Err(AppError::validation("households", "choose at least one household"));
    }
    if !is_empty(db).await? {
        return Err(AppError::Conflict(
            "the database already holds data; seed an empty database (or migrate a new one)".into(),
        ));
    }
    let txn = db.begin().await?;
    let summary = generate::Generator::new(opts).run(&txn).await?;
    txn.commit().await?;
    Ok(summary)
}
