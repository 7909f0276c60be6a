//! Trusted documents on `/graphql`: a request may name an operation document
//! by its id instead of sending its text (`documentId: "sha256:<hex>"`, the
//! GraphQL over HTTP form, or Apollo's `extensions.persistedQuery.sha256Hash`),
//! and an API key with registered documents (`gepi apikey documents add`) may
//! run only those. Unlike async-graphql's persisted-query extension, which
//! keeps whatever a client sends, nothing is registered through a request.

use axum::{
    extract::FromRequest,
    http::{Method, Request},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use super::BadGraphQLRequest;
use crate::{error::AppError, principal::Authn};

/// A GraphQL request as `/graphql` reads it: async-graphql's request, and the
/// `documentId` it may carry (which async-graphql does not read).
pub struct GraphQLBody {
    pub req: async_graphql::Request,
    pub document_id: Option<serde_json::Value>,
}

/// The one member of a request body async-graphql drops.
#[derive(serde::Deserialize)]
struct DocumentIdMember {
    #[serde(rename = "documentId", default)]
    document_id: Option<serde_json::Value>,
}

impl<S: Send + Sync> FromRequest<S> for GraphQLBody {
    type Rejection = Response;

    async fn from_request(req: Request<axum::body::Body>, _state: &S) -> Result<Self, Response> {
        let bad = |e: ParseError| BadGraphQLRequest::from(e).into_response();
        type ParseError = async_graphql::ParseRequestError;
        if req.method() == Method::GET {
            let query = req.uri().query().unwrap_or_default();
            let params =
                axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(req.uri()).ok();
            let mut parsed = async_graphql::http::parse_query_string(query).map_err(|e| {
                bad(ParseError::Io(std::io::Error::other(format!("the query string is not a GraphQL request: {e}"))))
            })?;
            // GraphQL over HTTP names it `operationName` (async-graphql reads
            // `operation_name` from a query string).
            if let Some(name) = params.as_ref().and_then(|p| p.0.get("operationName")) {
                parsed.operation_name = Some(name.clone());
            }
            let document_id = params.and_then(|p| p.0.get("documentId").cloned()).map(serde_json::Value::String);
            return Ok(GraphQLBody { req: parsed, document_id });
        }
        let content_type =
            req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.map_err(|e| {
            // Over the body limit while reading a body of unannounced length.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return bad(ParseError::PayloadTooLarge);
                }
                source = s.source();
            }
            bad(ParseError::Io(std::io::Error::other("the request body could not be read")))
        })?;
        // Looked for only in a body that names it (a substring search is all
        // that every other request pays).
        let document_id = if bytes.windows(12).any(|w| w == b"\"documentId\"") {
            serde_json::from_slice::<DocumentIdMember>(&bytes).ok().and_then(|m| m.document_id)
        } else {
            None
        };
        let batch = async_graphql::http::receive_batch_body(
            content_type,
            futures::io::Cursor::new(bytes.as_ref()),
            async_graphql::http::MultipartOptions::default(),
        )
        .await
        .map_err(bad)?;
        let req = batch.into_single().map_err(bad)?;
        Ok(GraphQLBody { req, document_id })
    }
}

/// The SHA-256 a request names its document by, if it names one: `documentId`
/// (`sha256:` and 64 hex digits), or `extensions.persistedQuery` (version 1,
/// `sha256Hash`). A malformed id is `VALIDATION` naming it.
pub fn named(
    document_id: Option<serde_json::Value>,
    req: &async_graphql::Request,
) -> Result<Option<[u8; 32]>, AppError> {
    let hash = |field: &str, hex: &str| -> Result<[u8; 32], AppError> {
        let bad = || AppError::validation(field, "a document id is `sha256:` and 64 hexadecimal digits");
        if hex.len() != 64 {
            return Err(bad());
        }
        hex::decode(hex.to_ascii_lowercase()).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)
    };
    let from_id = match document_id {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(id)) => match id.strip_prefix("sha256:") {
            Some(hex) => Some(hash("documentId", hex)?),
            None => {
                return Err(AppError::validation(
                    "documentId",
                    "a document id is `sha256:` and 64 hexadecimal digits (the only hash accepted)",
                ))
            }
        },
        Some(_) => return Err(AppError::validation("documentId", "a document id is a string")),
    };
    let from_extension = match req.extensions.get("persistedQuery") {
        None => None,
        Some(async_graphql::Value::Object(pq)) => {
            let version = pq.get("version");
            if !matches!(version, Some(async_graphql::Value::Number(n)) if n.as_u64() == Some(1)) {
                return Err(AppError::validation(
                    "extensions.persistedQuery.version",
                    "only version 1 of persisted queries is understood",
                ));
            }
            match pq.get("sha256Hash") {
                Some(async_graphql::Value::String(hex)) => Some(hash("extensions.persistedQuery.sha256Hash", hex)?),
                _ => {
                    return Err(AppError::validation(
                        "extensions.persistedQuery.sha256Hash",
                        "a persisted query names its document by `sha256Hash`, 64 hexadecimal digits",
                    ))
                }
            }
        }
        Some(_) => {
            return Err(AppError::validation("extensions.persistedQuery", "an object with `version` and `sha256Hash`"))
        }
    };
    match (from_id, from_extension) {
        (Some(a), Some(b)) if a != b => Err(AppError::validation(
            "documentId",
            "`documentId` and `extensions.persistedQuery` name different documents",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The text of the document `hash` for the caller: the query it sent, when
/// that is the document named, or the one its key registered. A document the
/// key did not register is `NOT_FOUND` (also for sessions, which register none).
pub fn resolve(authn: &Authn, hash: &[u8; 32], query: &mut String) -> Result<(), AppError> {
    if !query.trim().is_empty() {
        let sent: [u8; 32] = Sha256::digest(query.as_bytes()).into();
        if &sent != hash {
            return Err(AppError::validation("documentId", "the query sent is not the document its id names"));
        }
        return Ok(());
    }
    let principal = authn.principal()?;
    match principal.terms.as_ref().and_then(|t| t.documents.get(hash)) {
        Some(text) => {
            *query = text.to_string();
            Ok(())
        }
        None => Err(AppError::NotFound {
            field: Some("documentId".into()),
            message: format!(
                "no document sha256:{} is registered for this key (`gepi apikey documents add`)",
                hex::encode(hash)
            ),
        }),
    }
}

/// Whether the caller may run `query`: a key with registered documents runs
/// only those (`FORBIDDEN` otherwise); anyone else, any document.
pub fn allowed(authn: &Authn, query: &str) -> Result<(), AppError> {
    let Authn::Authenticated(p) = authn else { return Ok(()) };
    match &p.terms {
        Some(t) if t.documents_only => {
            let hash: [u8; 32] = Sha256::digest(query.as_bytes()).into();
            if t.documents.contains_key(&hash) {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    "this API key runs only its registered documents: send `documentId: \"sha256:<hex>\"` naming one (`gepi apikey documents list`)".into(),
                ))
            }
        }
        _ => Ok(()),
    }
}
