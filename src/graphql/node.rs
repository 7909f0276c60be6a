//! Rows by id under the gateway: an id out of the viewer's scope answers
//! exactly like an id that does not exist.

use uuid::Uuid;

use crate::{
    authz::gateway::{Gateway, Projected},
    error::AppError,
};

pub fn not_found(what: &str) -> AppError {
    AppError::not_found(format!("no {what} with this id"))
}

/// One row by uuid under the gateway; NOT_FOUND when missing or out of scope,
/// FORBIDDEN only when the role may not read the type at all.
pub async fn by_id<E: Projected>(gw: &Gateway, id_col: E::Column, id: Uuid, what: &str) -> Result<E::Model, AppError> {
    gw.by_id::<E>(id_col, id).await?.ok_or_else(|| not_found(what))
}
