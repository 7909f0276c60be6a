//! Aggregates: tables of counts for dashboards, never rows.
//!
//! A table names a measure (what is counted), up to three dimensions (what it
//! is grouped by), filters over the same dimensions and a period of months.
//! Measures and dimensions are the closed vocabulary of `policies/stats.csv`
//! (`authz::stats`). A table is counted through the gateway's row rule of the
//! measure's type, in one statement pushed down to the database (`service`):
//! exactly, for a role counting what it reads anyway; under disclosure control
//! (`disclosure`) for a role that reads no row of it (the analyst).
//!
//! Invariants:
//! - no path to a count skips the row rule of the measure's type;
//! - a protected table is computed from the perturbed finest cells only: its
//!   true counts never leave the database;
//! - a table lists every combination of its dimensions' values in the scope,
//!   so that an absent cell never tells a zero apart.

pub mod disclosure;
pub mod model;
pub mod service;
