//! GePI: the platform on which the social services of each Ambito territoriale
//! and each Comune manage the households that receive the Assegno di Inclusione.
//!
//! The crate is organised in layers and by domain (see `ARCHITECTURE.md`): each
//! domain folder has `model` (types and invariants), `service` (use cases over
//! the database) and `lists` (its lists' filters); its resolvers are in
//! `api/<domain>.rs`. `app(state)` builds the HTTP router used by `main` and by
//! the integration tests.

pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod calendar;
pub mod cases;
pub mod codes;
pub mod config;
pub mod db;
pub mod disadvantage;
pub mod error;
pub mod graphql;
pub mod households;
pub mod http;
pub mod ids;
pub mod inps;
pub mod meetings;
pub mod metrics;
pub mod operators;
pub mod outbox;
pub mod principal;
pub mod puc;
pub mod ratelimit;
pub mod reports;
pub mod residency;
pub mod retention;
pub mod schema;
pub mod seed;
#[cfg(feature = "spid")]
pub mod spid;
pub mod state;
pub mod stats;
pub mod territory;
pub mod tlog;
pub mod transfers;
pub mod unscoped;
pub mod workflow;

pub use http::app;
pub use state::AppState;
