//! Cases (prese in carico): assignment, the Analisi preliminare, the Quadro di
//! analisi, the Patto and its supports, segnalazioni, and the deadlines that
//! govern them (domain spec §1.7–§1.11, §2.3).

pub mod lists;
pub mod model;
pub mod pact;
pub mod service;
