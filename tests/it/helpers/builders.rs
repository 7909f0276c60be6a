//! Typed builders for the records most tests need: an Ambito with Comuni, and
//! operators with profiles. Defaults are valid; tests change what they test.

use chrono::{Duration, NaiveDate, Utc};
use entity::{ambito, comune, enums::*, operator, profile, profile_comune};
use gepi::households::model::CodiceFiscale;
use sea_orm::{ActiveModelTrait, DatabaseConnection, IntoActiveModel};
use uuid::Uuid;

pub fn today() -> NaiveDate {
    gepi::calendar::today()
}

pub async fn ambito(db: &DatabaseConnection, code: &str) -> ambito::Model {
    ambito::Model {
        id: Uuid::new_v4(),
        code: code.into(),
        name: format!("Ambito {code}"),
        region: "Lombardia".into(),
        management_form: ManagementForm::Consorzio,
        created_at: Utc::now(),
        closed_at: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert ambito")
}

pub async fn comune(
    db: &DatabaseConnection,
    ambito: &ambito::Model,
    istat: &str,
    belfiore: &str,
    name: &str,
) -> comune::Model {
    comune::Model {
        istat_code: istat.into(),
        belfiore_code: belfiore.into(),
        name: name.into(),
        province: "MB".into(),
        ambito_id: ambito.id,
        social_services_delegated: false,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert comune")
}

pub struct OperatorBuilder {
    first_name: String,
    last_name: String,
    birth: NaiveDate,
    status: OperatorStatus,
}

pub fn operator(first_name: &str, last_name: &str) -> OperatorBuilder {
    OperatorBuilder {
        first_name: first_name.into(),
        last_name: last_name.into(),
        birth: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
        status: OperatorStatus::Active,
    }
}

impl OperatorBuilder {
    pub fn status(mut self, s: OperatorStatus) -> Self {
        self.status = s;
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> operator::Model {
        let cf = CodiceFiscale::compute(&self.last_name, &self.first_name, self.birth, false, "F704");
        operator::Model {
            id: Uuid::new_v4(),
            fiscal_code: cf.to_string(),
            first_name: self.first_name,
            last_name: self.last_name,
            email: None,
            phone: None,
            status: self.status,
            last_login_at: None,
            created_at: Utc::now(),
            ambito_id: None,
            version: 1,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert operator")
    }
}

pub struct ProfileBuilder {
    operator_id: Uuid,
    role: Role,
    ambito_id: Option<Uuid>,
    comuni: Vec<String>,
    status: ProfileStatus,
    valid_to: Option<NaiveDate>,
}

pub fn profile(op: &operator::Model, role: Role) -> ProfileBuilder {
    ProfileBuilder {
        operator_id: op.id,
        role,
        ambito_id: None,
        comuni: vec![],
        status: ProfileStatus::Active,
        valid_to: None,
    }
}

impl ProfileBuilder {
    pub fn ambito(mut self, a: &ambito::Model) -> Self {
        self.ambito_id = Some(a.id);
        self
    }
    pub fn comuni(mut self, c: &[&comune::Model]) -> Self {
        self.comuni = c.iter().map(|c| c.istat_code.clone()).collect();
        self
    }
    pub fn status(mut self, s: ProfileStatus) -> Self {
        self.status = s;
        self
    }
    pub fn expired(mut self) -> Self {
        self.valid_to = Some(today() - Duration::days(1));
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> profile::Model {
        let p = profile::Model {
            id: Uuid::new_v4(),
            operator_id: self.operator_id,
            role: self.role,
            ambito_id: self.ambito_id,
            valid_from: today() - Duration::days(30),
            valid_to: self.valid_to,
            funding_sources: Some("FONDO_POVERTA".into()),
            status: self.status,
            assigned_by: None,
            created_at: Utc::now(),
            version: 1,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert profile");
        let comune_level = gepi::operators::model::comune_level(self.role);
        for c in self.comuni {
            if comune_level {
                convention_in_force(db, &c).await;
            }
            profile_comune::Model { profile_id: p.id, comune_istat: c }
                .into_active_model()
                .insert(db)
                .await
                .expect("link comune");
        }
        p
    }
}

pub fn gid(kind: &str, id: Uuid) -> String {
    gepi::ids::encode(kind, id)
}

/// A convention for GePI in force for the Comune (inserted unless one is): a
/// Comune-level profile reaches a Comune's data only under one.
pub async fn convention_in_force(db: &DatabaseConnection, istat: &str) {
    use entity::{convention, enums::ConventionKind};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let exists = convention::Entity::find()
        .filter(convention::Column::ComuneIstat.eq(istat))
        .filter(convention::Column::Kind.eq(ConventionKind::UsoGepi))
        .one(db)
        .await
        .expect("read conventions");
    if exists.is_some() {
        return;
    }
    let c =
        comune::Entity::find_by_id(istat.to_string()).one(db).await.expect("read comune").expect("the Comune exists");
    convention::Model {
        id: Uuid::new_v4(),
        comune_istat: c.istat_code,
        ambito_id: c.ambito_id,
        kind: ConventionKind::UsoGepi,
        signed_on: today() - Duration::days(365),
        valid_from: today() - Duration::days(365),
        valid_to: None,
        document_sha256: None,
        uploaded_by: None,
        uploaded_at: Utc::now(),
        version: 1,
        document_size: None,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert convention");
}
