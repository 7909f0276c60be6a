//! Use cases on operators and profiles.

use chrono::NaiveDate;
use entity::{
    ambito, comune, operator, profile, profile_comune,
    enums::{OperatorStatus, ProfileStatus, Role},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use uuid::Uuid;

use crate::{error::AppError, households::model::CodiceFiscale};

/// An accredited (active) operator by codice fiscale.
pub async fn active_operator_by_fiscal_code<C: ConnectionTrait>(
    db: &C,
    cf: &CodiceFiscale,
) -> Result<Option<operator::Model>, AppError> {
    Ok(operator::Entity::find()
        .filter(operator::Column::FiscalCode.eq(cf.as_str()))
        .filter(operator::Column::Status.eq(OperatorStatus::Active))
        .one(db)
        .await?)
}

pub async fn operator_by_id<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<operator::Model>, AppError> {
    Ok(operator::Entity::find_by_id(id).one(db).await?)
}

/// Whether a profile is in force on `today`.
pub fn profile_in_force(p: &profile::Model, today: NaiveDate) -> bool {
    p.status == ProfileStatus::Active && p.valid_from <= today && p.valid_to.is_none_or(|to| to >= today)
}

/// The profiles of an operator that are in force today, in a stable order.
pub async fn profiles_in_force<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    today: NaiveDate,
) -> Result<Vec<profile::Model>, AppError> {
    let all = profile::Entity::find()
        .filter(profile::Column::OperatorId.eq(operator_id))
        .order_by_asc(profile::Column::Role)
        .order_by_asc(profile::Column::Id)
        .all(db)
        .await?;
    Ok(all.into_iter().filter(|p| profile_in_force(p, today)).collect())
}

/// The profile `profile_id` of `operator_id`, if it is in force; anything else
/// (unknown, another operator's, revoked, expired) is `FORBIDDEN` with one message,
/// so that the answer does not tell which profiles exist.
pub async fn profile_for_login<C: ConnectionTrait>(
    db: &C,
    operator_id: Uuid,
    profile_id: Uuid,
    today: NaiveDate,
) -> Result<profile::Model, AppError> {
    let p = profile::Entity::find_by_id(profile_id).one(db).await?;
    match p {
        Some(p) if p.operator_id == operator_id && profile_in_force(&p, today) => Ok(p),
        _ => Err(AppError::Forbidden("this profile is not an active profile of the operator".into())),
    }
}

/// ISTAT codes of the Comuni a profile covers.
pub async fn profile_comuni<C: ConnectionTrait>(db: &C, profile_id: Uuid) -> Result<Vec<String>, AppError> {
    Ok(profile_comune::Entity::find()
        .filter(profile_comune::Column::ProfileId.eq(profile_id))
        .order_by_asc(profile_comune::Column::ComuneIstat)
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.comune_istat)
        .collect())
}

/// One line of `gepi operators`: enough to log in as any demo operator.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorListing {
    pub fiscal_code: String,
    pub display_name: String,
    pub profiles: Vec<ProfileListing>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileListing {
    /// Global id, as `POST /auth/dev-login` and `switchProfile` take it.
    pub profile_id: String,
    pub role: Role,
    pub ambito: Option<String>,
    pub comuni: Vec<String>,
}

/// Every operator with its profiles (operator tooling; not exposed over the API).
pub async fn listing<C: ConnectionTrait>(db: &C) -> Result<Vec<OperatorListing>, AppError> {
    let operators = operator::Entity::find()
        .order_by_asc(operator::Column::LastName)
        .order_by_asc(operator::Column::FirstName)
        .order_by_asc(operator::Column::Id)
        .all(db)
        .await?;
    let profiles = profile::Entity::find().order_by_asc(profile::Column::Role).all(db).await?;
    let ambiti: std::collections::HashMap<Uuid, String> =
        ambito::Entity::find().all(db).await?.into_iter().map(|a| (a.id, a.name)).collect();
    let comuni: std::collections::HashMap<String, String> =
        comune::Entity::find().all(db).await?.into_iter().map(|c| (c.istat_code, c.name)).collect();
    let mut links: std::collections::HashMap<Uuid, Vec<String>> = Default::default();
    for l in profile_comune::Entity::find().all(db).await? {
        let name = comuni.get(&l.comune_istat).cloned().unwrap_or_default();
        links.entry(l.profile_id).or_default().push(format!("{} {}", l.comune_istat, name));
    }
    let mut by_operator: std::collections::HashMap<Uuid, Vec<ProfileListing>> = Default::default();
    for p in profiles {
        let mut comuni = links.remove(&p.id).unwrap_or_default();
        comuni.sort();
        by_operator.entry(p.operator_id).or_default().push(ProfileListing {
            profile_id: crate::ids::encode("Profile", p.id),
            role: p.role,
            ambito: p.ambito_id.and_then(|a| ambiti.get(&a).cloned()),
            comuni,
        });
    }
    Ok(operators
        .into_iter()
        .map(|o| OperatorListing {
            display_name: format!("{} {}", o.first_name, o.last_name),
            profiles: by_operator.remove(&o.id).unwrap_or_default(),
            fiscal_code: o.fiscal_code,
        })
        .collect())
}
