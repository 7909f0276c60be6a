//! `AppError`: the one error type at the edge, with the stable `extensions.code`
//! values clients rely on. Domain errors convert into it; GraphQL resolvers turn it
//! into an `async_graphql::Error` with `.extend()` (a bare `?` would drop the code).

use async_graphql::ErrorExtensions;
use axum::{http::StatusCode, response::IntoResponse, Json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    ProfileRequired,
    NotFound,
    Validation,
    Conflict,
    Limit,
    /// The database cannot serve now (unreachable, restarting, the pool
    /// exhausted, a statement over its timeout): nothing was done that the
    /// client can see half done, and the same request may be sent again.
    Unavailable,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::ProfileRequired => "PROFILE_REQUIRED",
            Code::NotFound => "NOT_FOUND",
            Code::Validation => "VALIDATION",
            Code::Conflict => "CONFLICT",
            Code::Limit => "LIMIT",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }

    pub(crate) fn status(self) -> StatusCode {
        match self {
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Forbidden | Code::ProfileRequired => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Validation => StatusCode::BAD_REQUEST,
            Code::Conflict => StatusCode::CONFLICT,
            Code::Limit => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A session without a profile tried anything but choosing one.
    #[error("{0}")]
    ProfileRequired(String),
    /// Missing, or out of the actor's scope (the two answer alike); `field` is
    /// the input path when the id came in an input.
    #[error("{message}")]
    NotFound { field: Option<String>, message: String },
    /// Bad input: the offending field (input path) and what is wrong with it.
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Limit(String),
    /// The database cannot serve now; the message says which way (it names no
    /// row and quotes no value), the detail goes to the log.
    #[error("{message}")]
    Unavailable { message: &'static str, detail: String },
    /// Details go to the log (without personal data), never to the client.
    #[error("internal error")]
    Internal(String),
    /// Any other error about one input field (a conflict or a refusal caused by
    /// what the client put at `field`): its code, with `extensions.field` set.
    #[error("{inner}")]
    At { field: String, inner: Box<AppError> },
}

impl AppError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation { field: Some(field.into()), message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound { field: None, message: message.into() }
    }

    /// An id given at input path `field` names no row the actor may see.
    pub fn not_found_at(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::NotFound { field: Some(field.into()), message: message.into() }
    }

    /// The same error, about the input at `field`.
    pub fn at(self, field: impl Into<String>) -> Self {
        match self {
            AppError::Validation { message, .. } => AppError::Validation { field: Some(field.into()), message },
            AppError::NotFound { message, .. } => AppError::NotFound { field: Some(field.into()), message },
            AppError::At { inner, .. } => AppError::At { field: field.into(), inner },
            AppError::Internal(_) | AppError::Unavailable { .. } => self,
            other => AppError::At { field: field.into(), inner: Box::new(other) },
        }
    }

    /// A conflict (a state or an invariant refuses the change) caused by the input at `field`.
    pub fn conflict_at(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Conflict(message.into()).at(field)
    }

    /// A refusal caused by the input at `field` (a role the caller may not grant).
    pub fn forbidden_at(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into()).at(field)
    }

    /// The input path the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Validation { field, .. } | AppError::NotFound { field, .. } => field.as_deref(),
            AppError::At { field, .. } => Some(field),
            _ => None,
        }
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        AppError::Internal(context.to_string())
    }

    pub fn code(&self) -> Code {
        match self {
            AppError::Unauthenticated(_) => Code::Unauthenticated,
            AppError::Forbidden(_) => Code::Forbidden,
            AppError::ProfileRequired(_) => Code::ProfileRequired,
            AppError::NotFound { .. } => Code::NotFound,
            AppError::Validation { .. } => Code::Validation,
            AppError::Conflict(_) => Code::Conflict,
            AppError::Limit(_) => Code::Limit,
            AppError::Unavailable { .. } => Code::Unavailable,
            AppError::Internal(_) => Code::Internal,
            AppError::At { inner, .. } => inner.code(),
        }
    }

    fn log_internal(&self) {
        match self {
            AppError::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            AppError::Unavailable { detail, .. } => tracing::warn!(error = %detail, "database unavailable"),
            _ => {}
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        // Database errors can quote values; they are logged, never returned.
        match unavailability(&e) {
            Some(message) => AppError::Unavailable { message, detail: format!("database: {e}") },
            None => AppError::Internal(format!("database: {e}")),
        }
    }
}

/// What the client is told when `e` means the database cannot serve now
/// rather than that the statement is wrong: the pool gave no connection in
/// time, the connection broke or could not be made, the server is shutting
/// down, starting or a standby (SQLSTATE class 08, 57P01–57P03, 53300,
/// 25006), a statement ran past `statement_timeout` (57014), or a standby
/// cancelled a read that conflicted with its replay (40001). None for
/// anything else (a constraint, a bad statement: a fault of ours, `INTERNAL`).
/// The message does not say whether a change was made: a connection lost
/// while a commit was under way leaves that unknown.
pub fn unavailability(e: &sea_orm::DbErr) -> Option<&'static str> {
    use sea_orm::{sqlx::Error as Sqlx, DbErr, RuntimeErr};
    const DOWN: &str = "the database is unavailable: try again shortly";
    const SLOW: &str = "the database did not answer in time: try again shortly";
    const AGAIN: &str = "the database could not complete the statement now: try again shortly";
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) => return Some(DOWN),
        DbErr::Conn(RuntimeErr::SqlxError(x))
        | DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x)) => x,
        DbErr::Conn(_) => return Some(DOWN),
        _ => return None,
    };
    match &**sqlx {
        // Not `Protocol` (the driver also says so of a statement with too many
        // parameters: a fault of ours) nor `WorkerCrashed` (SQLite's thread).
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed => Some(DOWN),
        Sqlx::Database(d) => match d.code().as_deref() {
            Some("57014") => Some(SLOW),
            // 40001: a standby cancelled the read for a conflict with what it
            // replays (or a serialization failure): the same read again passes.
            Some("40001") => Some(AGAIN),
            // 25006: a read-only transaction, that is a standby (a failover under way).
            Some(c) if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300" | "25006") => {
                Some(DOWN)
            }
            _ => None,
        },
        _ => None,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(e: sea_orm::TransactionError<AppError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        self.log_internal();
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| {
            e.set("code", self.code().as_str());
            if let Some(f) = self.field() {
                e.set("field", f);
            }
        })
    }
}

/// Resolver results: `AppError` converted with its code kept.
pub type GqlResult<T> = async_graphql::Result<T>;

pub trait ResultExt<T> {
    /// Converts into a GraphQL result keeping `extensions.code`.
    fn gql(self) -> GqlResult<T>;
}

impl<T> ResultExt<T> for Result<T, AppError> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(|e| e.extend())
    }
}

/// JSON error body of the plain HTTP endpoints (`/auth/*`), same codes as GraphQL.
impl AppError {
    /// The JSON body of an answer outside GraphQL: `{"error": {code, message,
    /// field}}` (a server fault is logged first, and its message is generic).
    pub fn http_body(&self) -> serde_json::Value {
        self.log_internal();
        let mut body = serde_json::json!({ "error": { "code": self.code().as_str(), "message": self.to_string() } });
        if let Some(f) = self.field() {
            body["error"]["field"] = serde_json::Value::String(f.to_string());
        }
        body
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let mut out = (self.code().status(), Json(self.http_body())).into_response();
        if self.code() == Code::Unavailable {
            out.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{sqlx::Error as Sqlx, ConnAcquireErr, DbErr, RuntimeErr};
    use std::sync::Arc;

    use super::*;

    fn sqlx(e: Sqlx) -> DbErr {
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
    }

    #[test]
    fn a_database_that_cannot_serve_is_unavailable_and_a_fault_of_ours_is_not() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for e in [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            sqlx(Sqlx::PoolTimedOut),
            sqlx(Sqlx::PoolClosed),
            sqlx(Sqlx::Io(io())),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(Sqlx::Io(io())))),
        ] {
            assert!(unavailability(&e).is_some(), "{e}");
            assert_eq!(AppError::from(e).code(), Code::Unavailable);
        }
        for e in [
            sqlx(Sqlx::Protocol("too many arguments".into())),
            sqlx(Sqlx::RowNotFound),
            sqlx(Sqlx::ColumnNotFound("x".into())),
            DbErr::RecordNotFound("x".into()),
            DbErr::Custom("x".into()),
        ] {
            assert!(unavailability(&e).is_none(), "{e}");
            assert_eq!(AppError::from(e).code(), Code::Internal);
        }
    }
}
