//! Progetti Utili alla Collettività (domain spec §1.14, §1.15, §2.8): projects
//! and their catalogue with vacancies per source, assignments (da assegnare →
//! proposto → attivo → completato / interrotto) guarded by vacancies, one active
//! assignment per member and the member's residual benefit, and the attendance
//! register.

pub mod lists;
pub mod service;
