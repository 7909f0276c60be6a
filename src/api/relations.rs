//! Relations of the governed views that follow a domain's rules (a link table,
//! a convention's dependants); the generic loaders are the kit's
//! (`crate::graphql::relations`), re-exported here for the generated views.

use async_graphql::{Context, ErrorExtensions};
use entity::{comune, profile_comune};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

pub use crate::graphql::relations::*;
use crate::unscoped::Unscoped;
use crate::{
    authz::FieldKey,
    error::{AppError, GqlResult},
};

/// The Comuni a profile covers (through the link table), under the Comune rule.
pub async fn profile_comuni(
    ctx: &Context<'_>,
    field: FieldKey,
    own: bool,
    profile_id: Uuid,
) -> GqlResult<Option<Vec<comune::Model>>> {
    if !may_follow::<comune::Entity>(ctx, field, own)? {
        return Ok(None);
    }
    let l = loaders(ctx)?;
    let codes: Vec<String> = Unscoped::Child
        .find::<profile_comune::Entity>()
        .filter(profile_comune::Column::ProfileId.eq(profile_id))
        .order_by_asc(profile_comune::Column::ComuneIstat)
        .all(&l.gateway().reads)
        .await
        .map_err(|e| AppError::from(e).extend())?
        .into_iter()
        .map(|r| r.comune_istat)
        .collect();
    let rel =
        l.rel::<comune::Entity, String>(comune::Column::IstatCode, comune::Column::IstatCode, |c| c.istat_code.clone());
    let found = futures::future::try_join_all(codes.into_iter().map(|c| rel.load(c))).await.map_err(|e| e.extend())?;
    let mut v: Vec<comune::Model> = found.into_iter().flatten().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(v))
}

/// The profiles in force, of Comune-level roles, covering the convention's
/// Comune and outlasting it, when no later convention for GePI of that Comune
/// starts by the day after it ends; under the Profile row rule.
pub async fn dependent_profiles(
    ctx: &Context<'_>,
    field: FieldKey,
    own: bool,
    c: &entity::convention::Model,
) -> GqlResult<Option<Vec<entity::profile::Model>>> {
    use entity::{
        convention,
        enums::{ConventionKind, ProfileStatus},
        profile,
    };
    use sea_orm::{Condition, QuerySelect, QueryTrait};
    if !may_follow::<profile::Entity>(ctx, field, own)? {
        return Ok(None);
    }
    let Some(ends) = c.valid_to.filter(|_| c.kind == ConventionKind::UsoGepi) else { return Ok(Some(Vec::new())) };
    let l = loaders(ctx)?;
    let db_err = |e: sea_orm::DbErr| AppError::from(e).extend();
    let next_day = ends.succ_opt().unwrap_or(ends);
    let successor = Unscoped::Rule
        .find::<convention::Entity>()
        .filter(convention::Column::ComuneIstat.eq(c.comune_istat.clone()))
        .filter(convention::Column::Kind.eq(ConventionKind::UsoGepi))
        .filter(convention::Column::Id.ne(c.id))
        .filter(convention::Column::ValidFrom.lte(next_day))
        .filter(
            Condition::any().add(convention::Column::ValidTo.is_null()).add(convention::Column::ValidTo.gte(next_day)),
        )
        .one(&l.gateway().reads)
        .await
        .map_err(db_err)?;
    if successor.is_some() {
        return Ok(Some(Vec::new()));
    }
    let covering = Unscoped::Child
        .find::<profile_comune::Entity>()
        .select_only()
        .column(profile_comune::Column::ProfileId)
        .filter(profile_comune::Column::ComuneIstat.eq(c.comune_istat.clone()))
        .into_query();
    let rows = l
        .gateway()
        .select::<profile::Entity>()
        .map_err(|e| e.extend())?
        .filter(profile::Column::Id.in_subquery(covering))
        .filter(profile::Column::Role.is_in(crate::operators::model::COMUNE_LEVEL_ROLES))
        .filter(profile::Column::Status.eq(ProfileStatus::Active))
        .filter(Condition::any().add(profile::Column::ValidTo.is_null()).add(profile::Column::ValidTo.gt(ends)))
        .order_by_asc(profile::Column::Role)
        .order_by_asc(profile::Column::Id)
        .limit(1000)
        .all(&l.gateway().reads)
        .await
        .map_err(db_err)?;
    Ok(Some(rows))
}
