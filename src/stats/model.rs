//! A table asked for, and a table answered.

use chrono::{Datelike, NaiveDate};

pub use super::disclosure::Flag;
use crate::{
    authz::vocab::{Dimension, Measure, Method},
    error::AppError,
};

/// At most this many dimensions in one table.
pub const MAX_DIMENSIONS: usize = 3;
/// At most this many cells in one table (`LIMIT` beyond).
pub const MAX_CELLS: usize = 100_000;
/// At most this many values in a filter.
pub const MAX_FILTER_VALUES: usize = 200;
/// At most this many months in a period.
pub const MAX_MONTHS: usize = 120;

/// A month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(d: NaiveDate) -> Month {
        Month { year: d.year(), month: d.month() }
    }

    /// Parses `YYYY-MM`; `field` names the input on a refusal.
    pub fn parse(field: &str, s: &str) -> Result<Month, AppError> {
        let bad = || AppError::validation(field, format!("`{s}` is not a month (YYYY-MM)"));
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1900..=2999).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    /// The months from `self` to `to`, both included.
    pub fn through(self, to: Month) -> Vec<Month> {
        let mut out = Vec::new();
        let mut m = self;
        while m <= to {
            out.push(m);
            m = m.next();
        }
        out
    }

    pub fn quarter(self) -> String {
        format!("{}-Q{}", self.year, self.month.div_ceil(3))
    }

    pub fn year_code(self) -> String {
        format!("{}", self.year)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A filter: the units whose `dimension` is one of `values`.
#[derive(Debug, Clone)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

/// A table asked for.
#[derive(Debug, Clone)]
pub struct Request {
    pub measure: Measure,
    pub by: Vec<Dimension>,
    pub filters: Vec<Filter>,
    /// The months counted, both included; the last twelve months when the
    /// table is by month, quarter or year and no period is given.
    pub period: Option<(Month, Month)>,
}

/// One coordinate of a cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinate {
    pub dimension: Dimension,
    /// The stored code (a Comune's ISTAT code, an Ambito's code, `2026-03`, a state).
    pub value: String,
    pub label: String,
}

/// One cell of a table.
#[derive(Debug, Clone)]
pub struct Cell {
    pub coordinates: Vec<Coordinate>,
    /// `None` when suppressed.
    pub value: Option<i64>,
    pub flag: Flag,
}

/// A table answered.
#[derive(Debug, Clone)]
pub struct Table {
    pub measure: Measure,
    pub by: Vec<Dimension>,
    pub method: Method,
    /// *k* of a protected table.
    pub threshold: Option<u32>,
    /// The largest noise of a finest cell, in a protected table.
    pub max_noise: Option<u32>,
    /// Each dimension's values (code, label), in order: the cells run over
    /// them in row-major order (the last dimension fastest).
    pub axes: Vec<(Dimension, Vec<(String, String)>)>,
    /// Each cell's count in row-major order, `None` when suppressed.
    pub values: Vec<Option<i64>>,
    /// Each cell's flag in row-major order.
    pub flags: Vec<Flag>,
}

impl Table {
    /// The coordinates of the cell at `index` (row-major, the last dimension fastest).
    pub fn coordinates(&self, index: usize) -> Vec<Coordinate> {
        let mut rest = index;
        let mut out: Vec<Coordinate> = self
            .axes
            .iter()
            .rev()
            .map(|(d, values)| {
                let (value, label) = &values[rest % values.len()];
                rest /= values.len();
                Coordinate { dimension: *d, value: value.clone(), label: label.clone() }
            })
            .collect();
        out.reverse();
        out
    }

    /// Every cell, with its coordinates.
    pub fn cells(&self) -> Vec<Cell> {
        (0..self.values.len())
            .map(|i| Cell { coordinates: self.coordinates(i), value: self.values[i], flag: self.flags[i] })
            .collect()
    }
}

/// What the engine applies to a protected table. Production always applies
/// both ([`Protection::FULL`]); the attacker test also runs without them, to
/// show what they prevent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    pub noise: bool,
    pub suppression: bool,
}

impl Protection {
    pub const FULL: Protection = Protection { noise: true, suppression: true };
}
