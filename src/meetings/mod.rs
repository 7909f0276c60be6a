//! Meetings and the calendar (domain spec §1.11, §2.5): office availability per
//! Comune, planning with a household, convocation, rescheduling, cancellation,
//! outcomes. A meeting held counts as the case's first meeting when it is one;
//! an absence without justified reason raises a segnalazione draft.

pub mod lists;
pub mod service;
