//! Use cases on the territory.

use entity::{ambito, comune, profile_comune};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use uuid::Uuid;

use crate::error::AppError;

pub async fn ambito<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<ambito::Model>, AppError> {
    Ok(ambito::Entity::find_by_id(id).one(db).await?)
}

/// The Comuni a profile covers, ordered by name.
pub async fn comuni_of_profile<C: ConnectionTrait>(db: &C, profile_id: Uuid) -> Result<Vec<comune::Model>, AppError> {
    let covered = profile_comune::Entity::find()
        .select_only()
        .column(profile_comune::Column::ComuneIstat)
        .filter(profile_comune::Column::ProfileId.eq(profile_id))
        .into_query();
    Ok(comune::Entity::find()
        .filter(comune::Column::IstatCode.in_subquery(covered))
        .order_by_asc(comune::Column::Name)
        .all(db)
        .await?)
}
