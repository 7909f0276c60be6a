//! Segnalazioni to INPS (domain spec §2.9): every workflow raises them (a case
//! manager, a meeting absence, a refused pact, a PUC interruption, a negative
//! residency check) through [`service::insert_report`]; the case manager submits
//! drafts and the Coordinatore per il Patto approves or rejects them. The
//! workflows call this domain; it calls none of them.

pub mod model;
pub mod service;
