//! Operators (people identified by the codice fiscale SPID asserts) and their
//! profiles: one role assignment each — role, Ambito, the Comuni it covers,
//! validity dates and funding source. A login is bound to one profile at a time.

pub mod lists;
pub mod model;
pub mod service;
