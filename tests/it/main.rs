//! The integration test binary: every test runs against a fresh database —
//! a SQLite file by default, or a new PostgreSQL database when
//! `GEPI_TEST_DATABASE_URL=postgres://...` is set.

mod helpers;

mod accreditation;
mod apikeys;
mod audit_log;
mod audit_reads;
mod auth;
mod compiled;
mod disadvantage;
mod ecosystem;
mod faults;
mod graph;
mod indexes;
mod inps_feed;
mod instances;
mod introspection;
mod layering;
mod limits;
mod matrix;
mod meetings;
mod migrations;
mod partners;
mod property;
mod puc;
mod references;
mod replica;
mod residency;
mod retention;
mod schema;
mod seed;
mod snapshots;
#[cfg(feature = "spid")]
mod spid;
mod stats;
mod transfers;
// The attacker of the analysts' tables takes minutes: once, in the plain run on SQLite (the
// statements on PostgreSQL are checked by `stats`).
#[cfg(not(feature = "spid"))]
mod stats_attack;
mod workflow;
