//! API keys for integration partners (INPS feed, Centri per l'impiego): created
//! with `gepi apikey create`, shown once, stored only as SHA-256, sent as
//! `Authorization: Bearer gepi_...`, revocable. A key carries one API-client
//! role and optionally an Ambito, and is authorised by the same policies as
//! everyone else.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use entity::{
    ambito, api_client,
    enums::{ActorKind, AuditAction, Role},
};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::session::hash_token;
use crate::principal::{Actor, ClientTerms, Principal};
use crate::unscoped::Unscoped;
use crate::{
    audit::{self, AuditContext, AuditEntry},
    error::AppError,
};

/// Every API key starts with this, so a bearer token is routed without a lookup.
pub const PREFIX: &str = "gepi_";

pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

fn system_ctx() -> AuditContext {
    AuditContext::unattributed(ActorKind::System, None)
}

/// A key just created: shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub id: Uuid,
    pub key: String,
}

/// Creates a key for an integration partner, with the deployment's default
/// quota.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
    ambito_code: Option<&str>,
) -> Result<CreatedKey, AppError> {
    create_with_quota(db, name, role, ambito_code, None).await
}

/// The largest hourly quota a key may have (what `api_client` stores).
pub const MAX_QUOTA: u32 = i32::MAX as u32;

fn check_quota(quota: Option<u32>) -> Result<Option<i32>, AppError> {
    match quota {
        None => Ok(None),
        Some(q) if (1..=MAX_QUOTA).contains(&q) => Ok(Some(q as i32)),
        Some(_) => Err(AppError::validation("quota", format!("points per hour between 1 and {MAX_QUOTA}"))),
    }
}

/// Creates a key for an integration partner (`gepi apikey create`); `quota`:
/// its points per hour (None: the deployment's default).
pub async fn create_with_quota<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
    ambito_code: Option<&str>,
    quota: Option<u32>,
) -> Result<CreatedKey, AppError> {
    let quota = check_quota(quota)?;
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::validation("name", "between 1 and 100 characters"));
    }
    if !role.is_api_client_role() {
        return Err(AppError::validation(
            "role",
            format!("`{}` is not a role of integration partners (inps_feed, cpi_partner)", role.as_str()),
        ));
    }
    let ambito_id = match ambito_code {
        None => None,
        Some(code) => Some(
            Unscoped::System
                .find::<ambito::Entity>()
                .filter(ambito::Column::Code.eq(code))
                .one(db)
                .await?
                .ok_or_else(|| AppError::validation("ambito", format!("no Ambito with code {code}")))?
                .id,
        ),
    };
    if Unscoped::System.find::<api_client::Entity>().filter(api_client::Column::Name.eq(name)).one(db).await?.is_some()
    {
        return Err(AppError::Conflict(format!(
            "an API client named `{name}` exists; revoke it or choose another name"
        )));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let id = Uuid::now_v7();
    api_client::ActiveModel {
        id: Set(id),
        name: Set(name.to_string()),
        role: Set(role),
        ambito_id: Set(ambito_id),
        key_hash: Set(hash_token(&key)),
        key_prefix: Set(key[..12].to_string()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        quota_points_per_hour: Set(quota),
    }
    .insert(db)
    .await?;
    let mut e = AuditEntry::new("api_client", id, AuditAction::Create);
    e.ambito_id = ambito_id;
    e.changes = Some(serde_json::json!({ "name": name, "role": role, "quotaPointsPerHour": quota }));
    audit::record(db, &system_ctx(), vec![e]).await?;
    Ok(CreatedKey { id, key })
}

/// One line of `gepi apikey list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyListing {
    pub name: String,
    pub role: Role,
    pub ambito_id: Option<Uuid>,
    pub key_prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Points per hour; None: the deployment's default.
    pub quota_points_per_hour: Option<u32>,
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<KeyListing>, AppError> {
    Ok(Unscoped::System
        .find::<api_client::Entity>()
        .order_by_asc(api_client::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|c| KeyListing {
            name: c.name,
            role: c.role,
            ambito_id: c.ambito_id,
            key_prefix: c.key_prefix,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
            quota_points_per_hour: c.quota_points_per_hour.map(|q| q as u32),
        })
        .collect())
}

/// The API client named `name` (revoked or not).
async fn by_name<C: ConnectionTrait>(db: &C, name: &str) -> Result<api_client::Model, AppError> {
    Unscoped::System
        .find::<api_client::Entity>()
        .filter(api_client::Column::Name.eq(name.trim()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no API client named `{}`", name.trim())))
}

/// Sets the hourly quota of the client `name` (`gepi apikey quota`); None: the
/// deployment's default. A running server applies it when it next reads the
/// key (at most `GEPI_SESSION_CACHE_SECS` later), with the points already
/// spent this hour still counted.
pub async fn set_quota(db: &sea_orm::DatabaseConnection, name: &str, quota: Option<u32>) -> Result<(), AppError> {
    let quota = check_quota(quota)?;
    let txn = db.begin().await?;
    let db = &txn;
    let c = by_name(db, name).await?;
    if c.quota_points_per_hour == quota {
        return Ok(());
    }
    api_client::Entity::update_many()
        .col_expr(api_client::Column::QuotaPointsPerHour, sea_orm::sea_query::Expr::value(quota))
        .filter(api_client::Column::Id.eq(c.id))
        .exec(db)
        .await?;
    let mut e = AuditEntry::new("api_client", c.id, AuditAction::Update);
    e.ambito_id = c.ambito_id;
    e.changes =
        Some(serde_json::json!({ "quotaPointsPerHour": { "before": c.quota_points_per_hour, "after": quota } }));
    audit::record(db, &system_ctx(), vec![e]).await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes the key of the client `name`.
pub async fn revoke<C: ConnectionTrait>(db: &C, name: &str) -> Result<(), AppError> {
    let c = by_name(db, name).await?;
    if c.revoked_at.is_some() {
        return Err(AppError::Conflict(format!("the key of `{}` is already revoked", c.name)));
    }
    api_client::Entity::update_many()
        .col_expr(api_client::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
        .filter(api_client::Column::Id.eq(c.id))
        .exec(db)
        .await?;
    let mut e = AuditEntry::new("api_client", c.id, AuditAction::Update);
    e.ambito_id = c.ambito_id;
    e.changes = Some(serde_json::json!({ "revoked": { "before": false, "after": true } }));
    audit::record(db, &system_ctx(), vec![e]).await?;
    Ok(())
}

/// The id of a document: `sha256:` and the SHA-256 of its text, lower-case hex
/// (the form GraphQL clients send as `documentId`).
pub fn document_id(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// A registered document, as `gepi apikey documents list` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentListing {
    /// `sha256:<hex>`: what a request names it by.
    pub id: String,
    pub name: String,
    /// The names of its operations (`-` for an anonymous one).
    pub operations: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The names of a document's operations, once it passed the operation bounds.
fn operations_of(name: &str, text: &str) -> Result<Vec<String>, AppError> {
    let checked =
        crate::graphql::limits::check(text).map_err(|e| AppError::validation("document", format!("{name}: {e}")))?;
    if checked.document.is_none() || checked.operations.is_empty() {
        return Err(AppError::validation("document", format!("{name}: not a GraphQL operation document")));
    }
    Ok(checked.operations.iter().map(|o| o.clone().unwrap_or_else(|| "-".into())).collect())
}

/// Registers operation documents for the client `client` (`gepi apikey
/// documents add`): from then on the client may run only its registered
/// documents. Each is `(name, text)`; a document registered already is left as
/// it is. Each must parse and pass the operation bounds. Gives the ids of the
/// documents newly registered; the audit trail names them.
pub async fn add_documents(
    db: &sea_orm::DatabaseConnection,
    client: &str,
    documents: &[(String, String)],
) -> Result<Vec<String>, AppError> {
    use entity::api_client_document as doc;
    let txn = db.begin().await?;
    let db = &txn;
    let c = by_name(db, client).await?;
    let known: std::collections::HashSet<String> = Unscoped::System
        .find::<doc::Entity>()
        .filter(doc::Column::ClientId.eq(c.id))
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.sha256)
        .collect();
    let mut added = Vec::new();
    let mut rows = Vec::new();
    for (name, text) in documents {
        operations_of(name, text)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::validation("name", "a document's name is between 1 and 200 characters"));
        }
        let id = document_id(text);
        let hex = id["sha256:".len()..].to_string();
        if known.contains(&hex) || rows.iter().any(|r: &doc::ActiveModel| r.sha256.as_ref() == &hex) {
            continue;
        }
        added.push(serde_json::json!({ "id": id, "name": name }));
        rows.push(doc::ActiveModel {
            client_id: Set(c.id),
            sha256: Set(hex),
            name: Set(name.to_string()),
            document: Set(text.clone()),
            created_at: Set(Utc::now()),
        });
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    doc::Entity::insert_many(rows).exec(db).await?;
    let mut e = AuditEntry::new("api_client", c.id, AuditAction::Update);
    e.ambito_id = c.ambito_id;
    e.changes = Some(serde_json::json!({ "documents": { "added": added } }));
    audit::record(db, &system_ctx(), vec![e]).await?;
    txn.commit().await?;
    Ok(added.into_iter().filter_map(|a| a["id"].as_str().map(String::from)).collect())
}

/// The documents the client `client` registered.
pub async fn documents<C: ConnectionTrait>(db: &C, client: &str) -> Result<Vec<DocumentListing>, AppError> {
    use entity::api_client_document as doc;
    let c = by_name(db, client).await?;
    Unscoped::System
        .find::<doc::Entity>()
        .filter(doc::Column::ClientId.eq(c.id))
        .order_by_asc(doc::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|d| {
            Ok(DocumentListing {
                id: format!("sha256:{}", d.sha256),
                operations: operations_of(&d.name, &d.document)?,
                name: d.name,
                created_at: d.created_at,
            })
        })
        .collect()
}

/// Removes a registered document of the client `client` (`gepi apikey
/// documents remove`). Not the last one: a key restricted to its documents
/// stays restricted (to lift the restriction, create a new key), so that
/// replacing a document is adding the new one first, then removing the old.
pub async fn remove_document(db: &sea_orm::DatabaseConnection, client: &str, id: &str) -> Result<(), AppError> {
    use entity::api_client_document as doc;
    let txn = db.begin().await?;
    let db = &txn;
    let c = by_name(db, client).await?;
    let id = id.trim();
    let hex = match id.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sha256:") => &id[7..],
        _ => id,
    }
    .to_ascii_lowercase();
    let d = Unscoped::System
        .find::<doc::Entity>()
        .filter(doc::Column::ClientId.eq(c.id))
        .filter(doc::Column::Sha256.eq(hex.clone()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(format!("`{}` has no document {}", c.name, id)))?;
    let left = Unscoped::System.find::<doc::Entity>().filter(doc::Column::ClientId.eq(c.id)).count(db).await?;
    if left <= 1 {
        return Err(AppError::Conflict(format!(
            "{id} is the last document of `{}`: its key runs only registered documents; add the replacement first, or revoke the key",
            c.name
        )));
    }
    doc::Entity::delete_many()
        .filter(doc::Column::ClientId.eq(c.id))
        .filter(doc::Column::Sha256.eq(hex.clone()))
        .exec(db)
        .await?;
    let mut e = AuditEntry::new("api_client", c.id, AuditAction::Update);
    e.ambito_id = c.ambito_id;
    e.changes =
        Some(serde_json::json!({ "documents": { "removed": [{ "id": format!("sha256:{hex}"), "name": d.name }] } }));
    audit::record(db, &system_ctx(), vec![e]).await?;
    txn.commit().await?;
    Ok(())
}

/// What a key allows: its quota (a value that is not a positive number of
/// points is the default) and its documents. A key with any document row is
/// restricted, even to none when a row cannot be read (fails closed).
async fn client_terms<C: ConnectionTrait>(db: &C, c: &api_client::Model) -> Result<ClientTerms, AppError> {
    let rows = Unscoped::Login
        .find::<entity::api_client_document::Entity>()
        .filter(entity::api_client_document::Column::ClientId.eq(c.id))
        .all(db)
        .await?;
    Ok(ClientTerms {
        quota_points_per_hour: c.quota_points_per_hour.and_then(|q| u32::try_from(q).ok()).filter(|q| *q > 0),
        documents_only: !rows.is_empty(),
        documents: rows
            .into_iter()
            .filter_map(|d| {
                let hash: [u8; 32] = hex::decode(d.sha256.to_ascii_lowercase()).ok()?.try_into().ok()?;
                Some((hash, Arc::from(d.document)))
            })
            .collect(),
    })
}

/// The principal of an API key; unknown and revoked keys are refused alike.
pub async fn authenticate<C: ConnectionTrait>(db: &C, key: &str) -> Result<Principal, AppError> {
    let c = Unscoped::Login
        .find::<api_client::Entity>()
        .filter(api_client::Column::KeyHash.eq(hash_token(key)))
        .filter(api_client::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("unknown or revoked API key".into()))?;
    Ok(Principal {
        actor: Actor::ApiClient { client_id: c.id },
        role: c.role,
        ambito_id: c.ambito_id,
        comuni: Arc::new(Vec::new()),
        terms: Some(Arc::new(client_terms(db, &c).await?)),
    })
}
