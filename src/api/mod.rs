//! The GraphQL surface of the domains: the generated views of the governed
//! types, `node`, and one file per domain with its read roots and its
//! mutations (thin: decode, one service or list call, re-read through the same
//! authorization). One module
//! above every domain because the graph's relations run both ways (a household's
//! cases and a case's household, a case's meetings and a meeting's case): the
//! views of all domains are mutually recursive, the domains themselves are not.

pub mod audit;
pub mod cases;
pub mod compiled;
pub mod disadvantage;
pub mod households;
pub mod lists;
pub mod meetings;
pub mod node;
pub mod operators;
pub mod partners;
pub mod puc;
pub mod relations;
pub mod reports;
pub mod residency;
pub mod stats;
pub mod territory;
pub mod transfers;
pub mod views;
mod views_compiled;
mod views_ext;

/// The kit's enums, as the generated views name them (`super::enums`).
pub use crate::graphql::enums;
