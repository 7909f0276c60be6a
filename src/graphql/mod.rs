//! The GraphQL kit: connections, enums, the date scalars, limits, `node`/`by_id`, relations and
//! their loaders, visibility, and the generated views of the governed types.
//! The schema is assembled above the domains, in `crate::schema`.

pub mod connection;
pub mod context;
pub mod enums;
pub mod guard;
pub mod inputs;
pub mod limits;
pub mod node;
pub mod out;
pub mod relations;
pub mod scalars;
pub mod shape;
pub mod visibility;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH};

/// Request id of the HTTP request, for the audit trail.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The name of the operation a request runs (when it has one): the audit
/// trail records it as the reason of what the request did.
pub struct OperationName(pub String);
