//! Use cases on the territory.

use entity::{ambito, comune};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::AppError;
use crate::unscoped::Unscoped;

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
        Unscoped::System.find::<ambito::Entity>().all(&txn).await?.into_iter().map(|a| (a.code, a.id)).collect();
    for (i, line) in lines {
        let at = |m: String| AppError::validation(format!("line {}", i + 1), m);
        let cols: Vec<&str> = line.split(';').map(str::trim).collect();
        let [code, name, region, istat, belfiore, comune_name, province] = cols[..] else {
            return Err(at(format!("expected 7 fields separated by `;`, found {}", cols.len())));
        };
        if code.is_empty() || code.len() > 20 || name.is_empty() || region.is_empty() || comune_name.is_empty() {
            return Err(at(
                "the Ambito code (1-20 characters), its name, the region and the Comune's name are required".into(),
            ));
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
        match Unscoped::System.find_by_id::<comune::Entity>(istat.as_str().to_string()).one(&txn).await? {
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
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                        at(format!("the Belfiore code {belfiore} is already recorded"))
                    }
                    _ => e.into(),
                })?;
                out.comuni += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Conventions (domain spec §1.3): the Ambito administrator uploads the signed
// conventions of its Comuni. The document is kept apart from the row
// (`convention_document`) with its SHA-256 and size; its content never reaches
// a log or the audit trail.

use chrono::NaiveDate;
use entity::{
    convention, convention_document,
    enums::{AuditAction, ConventionKind},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, Condition, DatabaseTransaction, TransactionTrait};

use crate::audit::{self, AuditContext, AuditEntry};

/// Largest signed convention GePI keeps, in bytes. Through the API the request
/// body limit (`GEPI_BODY_LIMIT_BYTES`, base64 adds a third) may be the tighter one.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// A convention to record.
#[derive(Debug, Clone)]
pub struct ConventionInput {
    pub comune: String,
    pub kind: ConventionKind,
    pub signed_on: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub document: Vec<u8>,
}

/// Dates GePI accepts on a convention: from the platform's start to the end of the century.
fn plausible(field: &str, d: NaiveDate) -> Result<NaiveDate, AppError> {
    let first = NaiveDate::from_ymd_opt(2019, 1, 1).expect("valid date");
    let last = NaiveDate::from_ymd_opt(2099, 12, 31).expect("valid date");
    if d < first || d > last {
        return Err(AppError::validation(field, format!("{d} is outside {first}..{last}")));
    }
    Ok(d)
}

/// A signed PDF: not empty, within the size limit, starting with the PDF header.
pub fn check_document(field: &str, doc: &[u8]) -> Result<(), AppError> {
    if doc.is_empty() {
        return Err(AppError::validation(field, "the signed document is empty"));
    }
    if doc.len() > MAX_DOCUMENT_BYTES {
        return Err(AppError::validation(
            field,
            format!("the document is {} bytes, the limit is {MAX_DOCUMENT_BYTES}", doc.len()),
        ));
    }
    // A PDF starts with `%PDF-` (ISO 32000 allows it within the first 1024 bytes).
    let head = &doc[..doc.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(AppError::validation(field, "the document is not a PDF (no %PDF- header)"));
    }
    Ok(())
}

/// Records a convention of a Comune of `ambito_id` with its document, and
/// returns its audit entry for the caller's commit (a convention changes the
/// Comuni a Comune-level profile reaches: the commit of a unit of work that
/// carries the entry ends the cached principals). Field names are those of the
/// API input (`prefix` is `input` there, the option names on the command line
/// map onto them).
pub async fn add_convention(
    txn: &DatabaseTransaction,
    ambito_id: Uuid,
    c: &ConventionInput,
    uploaded_by: Option<Uuid>,
) -> Result<(convention::Model, AuditEntry), AppError> {
    use sha2::{Digest, Sha256};
    let today = crate::calendar::today();
    let code = crate::territory::model::IstatCode::parse_at("input.comune", &c.comune)?;
    // The Comune's row is locked (PostgreSQL; SQLite serialises writers) so
    // that two uploads cannot both pass the overlap check below.
    let found = Unscoped::Reference
        .find_by_id::<comune::Entity>(code.as_str().to_string())
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .one(txn)
        .await?;
    if found.is_none_or(|m| m.ambito_id != ambito_id) {
        return Err(AppError::validation("input.comune", "not a Comune of the Ambito"));
    }
    let signed_on = plausible("input.signedOn", c.signed_on)?;
    if signed_on > today {
        return Err(AppError::validation(
            "input.signedOn",
            format!("{signed_on} is in the future: record a convention once signed"),
        ));
    }
    let from = plausible("input.validFrom", c.valid_from)?;
    if let Some(to) = c.valid_to {
        plausible("input.validTo", to)?;
        if to < from {
            return Err(AppError::validation("input.validTo", format!("ends ({to}) before it starts ({from})")));
        }
    }
    check_document("input.document", &c.document)?;
    let overlapping = Unscoped::Rule
        .find::<convention::Entity>()
        .filter(convention::Column::ComuneIstat.eq(code.as_str()))
        .filter(convention::Column::Kind.eq(c.kind))
        .filter(Condition::any().add(convention::Column::ValidTo.is_null()).add(convention::Column::ValidTo.gte(from)))
        .filter(match c.valid_to {
            Some(to) => Condition::all().add(convention::Column::ValidFrom.lte(to)),
            None => Condition::all(),
        })
        .one(txn)
        .await?;
    if overlapping.is_some() {
        return Err(AppError::conflict_at(
            "input.validFrom",
            "the Comune has a convention of this kind in force in the period: a renewal starts after it ends",
        ));
    }
    let sha = hex::encode(Sha256::digest(&c.document));
    let size = c.document.len() as i64;
    let row = convention::ActiveModel {
        id: Set(Uuid::now_v7()),
        comune_istat: Set(code.as_str().to_string()),
        ambito_id: Set(ambito_id),
        kind: Set(c.kind),
        signed_on: Set(signed_on),
        valid_from: Set(from),
        valid_to: Set(c.valid_to),
        document_sha256: Set(Some(sha.clone())),
        uploaded_by: Set(uploaded_by),
        uploaded_at: Set(chrono::Utc::now()),
        version: Set(1),
        document_size: Set(Some(size)),
    }
    .insert(txn)
    .await?;
    convention_document::ActiveModel { convention_id: Set(row.id), content: Set(c.document.clone()) }
        .insert(txn)
        .await?;
    let mut e = AuditEntry::new("convention", row.id, AuditAction::Create);
    e.ambito_id = Some(ambito_id);
    e.changes = Some(serde_json::json!({
        "comune_istat": { "before": null, "after": row.comune_istat },
        "kind": { "before": null, "after": row.kind },
        "signed_on": { "before": null, "after": row.signed_on },
        "valid_from": { "before": null, "after": row.valid_from },
        "valid_to": { "before": null, "after": row.valid_to },
        "document_sha256": { "before": null, "after": sha },
        "document_size": { "before": null, "after": size },
    }));
    Ok((row, e))
}

/// Who uploads conventions, and for which Ambito: the Ambito administrator,
/// for its own, and nobody else.
pub struct Uploader {
    operator: Uuid,
    ambito: Uuid,
}

/// The uploader the actor is, or `FORBIDDEN`: checked before the input is read.
pub fn uploader(a: &crate::workflow::Acting<'_>) -> Result<Uploader, AppError> {
    use crate::authz::{Action, Object, Scope};
    let operator = a.me()?;
    let ambito = match a.gw.authz.scope_for(Object::Convention, Action::Create)? {
        Scope::Ambito => a.gw.authz.principal.ambito_id,
        _ => None,
    }
    .ok_or_else(|| AppError::Forbidden("conventions are uploaded by the administrator of the Ambito".into()))?;
    Ok(Uploader { operator, ambito })
}

/// `uploadConvention`: the Ambito administrator records a convention of a
/// Comune of its Ambito.
pub async fn upload_convention(
    a: &crate::workflow::Acting<'_>,
    by: Uploader,
    c: &ConventionInput,
) -> Result<Uuid, AppError> {
    let txn = a.begin().await?;
    let (row, entry) = add_convention(&txn, by.ambito, c, Some(by.operator)).await?;
    txn.commit(vec![entry]).await?;
    Ok(row.id)
}

/// `gepi conventions add`: for the bootstrap of an installation, as the system.
pub async fn cli_add_convention(
    db: &sea_orm::DatabaseConnection,
    c: &ConventionInput,
) -> Result<convention::Model, AppError> {
    let txn = db.begin().await?;
    let code = crate::territory::model::IstatCode::parse_at("--comune", &c.comune)?;
    let ambito_id = Unscoped::System
        .find_by_id::<comune::Entity>(code.as_str().to_string())
        .one(&txn)
        .await?
        .ok_or_else(|| {
            AppError::not_found_at("--comune", "no Comune with this ISTAT code (import the territory first)")
        })?
        .ambito_id;
    let ctx = AuditContext::unattributed(entity::enums::ActorKind::System, None);
    let (row, entry) = add_convention(&txn, ambito_id, c, None).await.map_err(|e| match e.field() {
        Some(f) if f.starts_with("input.") => {
            let opt = match f {
                "input.comune" => "--comune".to_string(),
                "input.signedOn" => "--signed-on".into(),
                "input.validFrom" => "--valid-from".into(),
                "input.validTo" => "--valid-to".into(),
                "input.document" => "--file".into(),
                other => other.to_string(),
            };
            e.at(opt)
        }
        _ => e,
    })?;
    audit::record(&txn, &ctx, vec![entry]).await?;
    txn.commit().await?;
    Ok(row)
}
