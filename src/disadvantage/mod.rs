//! Validation of the condizione di svantaggio (domain spec §1.13, §2.7): INPS asks
//! the certifying Comune to confirm the declared category; the validator answers
//! within 60 days, and silence counts as confirmation (computed from the dates,
//! see `model::disadvantage_expired`).

pub mod lists;
pub mod model;
pub mod service;
