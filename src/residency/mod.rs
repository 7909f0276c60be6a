//! Residency checks (controlli anagrafici, domain spec §1.12, §2.6): the
//! coordinator of a Comune assigns checks to its officers; officers record
//! residence periods, forward the check to the previous Comune (or the Comune of
//! birth) with its own deadline, and the Comune of residence finalises the
//! outcome. A negative outcome raises a segnalazione that the coordinator
//! approves before it is sent to INPS.

pub mod lists;
pub mod model;
pub mod service;
