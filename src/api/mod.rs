//! The GraphQL surface of the domains: the generated views of the governed
//! types, the read roots, `node`, and one file of resolvers per domain (thin:
//! decode, one service call, re-read through the same authorization). One module
//! above every domain because the graph's relations run both ways (a household's
//! cases and a case's household, a case's meetings and a meeting's case): the
//! views of all domains are mutually recursive, the domains themselves are not.

pub mod cases;
pub mod disadvantage;
pub mod meetings;
pub mod node;
pub mod operators;
pub mod puc;
pub mod relations;
pub mod residency;
pub mod roots;
pub mod territory;
pub mod views;
mod views_ext;

/// The kit's enums, as the generated views name them (`super::enums`).
pub use crate::graphql::enums;
