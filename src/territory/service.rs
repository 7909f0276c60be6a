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

/// Header of the file `gepi territory import` reads: one Comune per line,
/// semicolon-separated (the separator of ISTAT's own lists), UTF-8.
pub const IMPORT_HEADER: &str = "ambito_code;ambito_name;region;istat_code;belfiore_code;comune_name;province";

/// What an import added.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub ambiti: usize,
    pub comuni: usize,
}

/// Loads Ambiti and their Comuni (the reference data a new installation starts
/// from). All or nothing; lines already present are left alone, a Comune
/// already recorded in another Ambito is refused with its line number.
pub async fn import(db: &sea_orm::DatabaseConnection, text: &str) -> Result<Imported, AppError> {
    use entity::enums::ManagementForm;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, TransactionTrait};
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim().trim_start_matches('\u{feff}') == IMPORT_HEADER => {}
        _ => return Err(AppError::validation("file", format!("the first line must be the header `{IMPORT_HEADER}`"))),
    }
    let txn = db.begin().await?;
    let mut out = Imported::default();
    let mut ambiti: std::collections::HashMap<String, Uuid> =
        ambito::Entity::find().all(&txn).await?.into_iter().map(|a| (a.code, a.id)).collect();
    for (i, line) in lines {
        let at = |m: String| AppError::validation(format!("line {}", i + 1), m);
        let cols: Vec<&str> = line.split(';').map(str::trim).collect();
        let [code, name, region, istat, belfiore, comune_name, province] = cols[..] else {
            return Err(at(format!("expected 7 fields separated by `;`, found {}", cols.len())));
        };
        if code.is_empty() || code.len() > 20 || name.is_empty() || region.is_empty() || comune_name.is_empty() {
            return Err(at("the Ambito code (1-20 characters), its name, the region and the Comune's name are required".into()));
        }
        let istat = crate::territory::model::IstatCode::parse(istat).map_err(|e| at(e.to_string()))?;
        if belfiore.len() != 4 || !belfiore.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(at(format!("`{belfiore}` is not a Belfiore (cadastral) code: 4 letters and digits")));
        }
        if province.len() != 2 || !province.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(at(format!("`{province}` is not a province abbreviation (2 capital letters)")));
        }
        let ambito_id = match ambiti.get(code) {
            Some(id) => *id,
            None => {
                let id = Uuid::now_v7();
                ambito::ActiveModel {
                    id: Set(id),
                    code: Set(code.to_string()),
                    name: Set(name.to_string()),
                    region: Set(region.to_string()),
                    management_form: Set(ManagementForm::Altro),
                    created_at: Set(chrono::Utc::now()),
                    closed_at: Set(None),
                }
                .insert(&txn)
                .await?;
                ambiti.insert(code.to_string(), id);
                out.ambiti += 1;
                id
            }
        };
        match comune::Entity::find_by_id(istat.as_str().to_string()).one(&txn).await? {
            Some(c) if c.ambito_id == ambito_id => {}
            Some(_) => return Err(at(format!("the Comune {istat} is already recorded in another Ambito"))),
            None => {
                comune::ActiveModel {
                    istat_code: Set(istat.as_str().to_string()),
                    belfiore_code: Set(belfiore.to_ascii_uppercase()),
                    name: Set(comune_name.to_string()),
                    province: Set(province.to_string()),
                    ambito_id: Set(ambito_id),
                    social_services_delegated: Set(false),
                }
                .insert(&txn)
                .await
                .map_err(|e| match e.sql_err() {
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => at(format!("the Belfiore code {belfiore} is already recorded")),
                    _ => e.into(),
                })?;
                out.comuni += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(out)
}
