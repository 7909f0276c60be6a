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

/// A household as INPS sends it: its members (the first is the applicant) and
/// its ADI application.
pub struct Household {
    pub household: entity::household::Model,
    pub members: Vec<entity::member::Model>,
    pub application: entity::application::Model,
}

pub struct HouseholdBuilder {
    comune: comune::Model,
    members: usize,
    birth_place: String,
    residual_months: i32,
}

/// A household resident in `c` (and born there), with two members and twelve
/// months of benefit left unless told otherwise.
pub fn household(c: &comune::Model) -> HouseholdBuilder {
    HouseholdBuilder { comune: c.clone(), members: 2, birth_place: c.belfiore_code.clone(), residual_months: 12 }
}

impl HouseholdBuilder {
    /// Every member born in `c`.
    pub fn born_in(mut self, c: &comune::Model) -> Self {
        self.birth_place = c.belfiore_code.clone();
        self
    }
    /// Months of benefit INPS still has to pay each member.
    pub fn residual_months(mut self, n: i32) -> Self {
        self.residual_months = n;
        self
    }
    pub fn members(mut self, n: usize) -> Self {
        assert!(n >= 1, "a household has an applicant");
        self.members = n;
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> Household {
        use entity::{application, household, member};
        let tag = Uuid::new_v4().simple().to_string();
        let h = household::Model {
            id: Uuid::new_v4(),
            inps_protocol: format!("INPS-H-{}", &tag[..12]),
            ambito_id: self.comune.ambito_id,
            comune_istat: self.comune.istat_code.clone(),
            composition_version: 1,
            composition_date: today() - Duration::days(60),
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert household");
        let mut members = Vec::new();
        for i in 0..self.members {
            // A birth day of its own for every member built: distinct codici fiscali.
            static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let birth = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + Duration::days(n * 37 % 18_000);
            let first = ["Marco", "Giulia", "Luca", "Sara", "Paolo", "Anna"][i % 6].to_string();
            let last = "Esposito".to_string();
            let cf = CodiceFiscale::compute(&last, &first, birth, false, &self.birth_place);
            let m = member::Model {
                id: Uuid::new_v4(),
                household_id: h.id,
                fiscal_code: cf.to_string(),
                first_name: first,
                last_name: last,
                birth_date: birth,
                birth_place_code: self.birth_place.clone(),
                sex: Sex::M,
                citizenship: "ITA".into(),
                relation: if i == 0 { FamilyRelation::Richiedente } else { FamilyRelation::Figlio },
                residence_comune_istat: self.comune.istat_code.clone(),
                in_equivalence_scale: true,
                obligated_activation: i == 0,
                disabled: false,
                email: None,
                phone: None,
                permit_type: None,
                permit_expiry: None,
                residual_benefit_months: self.residual_months,
            }
            .into_active_model()
            .insert(db)
            .await
            .expect("insert member");
            members.push(m);
        }
        let application = application::Model {
            id: Uuid::new_v4(),
            household_id: h.id,
            inps_protocol: format!("INPS-A-{}", &tag[..12]),
            measure: Measure::Adi,
            applicant_fiscal_code: members[0].fiscal_code.clone(),
            submitted_on: today() - Duration::days(50),
            channel: "WEB".into(),
            isee_protocol: None,
            pad_signed_on: Some(today() - Duration::days(40)),
            status: ApplicationStatus::Accolta,
            months_paid: 1,
            renewal_of: None,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert application");
        Household { household: h, members, application }
    }
}

pub struct CaseBuilder {
    household: entity::household::Model,
    application: Uuid,
    state: CaseState,
    manager: Option<Uuid>,
    pad_date: NaiveDate,
}

/// The case of household `h`, unassigned, with a PAD signed ten days ago.
pub fn case_of(h: &Household) -> CaseBuilder {
    CaseBuilder {
        household: h.household.clone(),
        application: h.application.id,
        state: CaseState::DaAssegnare,
        manager: None,
        pad_date: today() - Duration::days(10),
    }
}

impl CaseBuilder {
    /// In `state`: from `ASSEGNATO` on it needs a case manager; `AP_IN_CORSO`
    /// opens its Analisi preliminare as a draft, as the first meeting does.
    pub fn state(mut self, s: CaseState) -> Self {
        self.state = s;
        self
    }
    pub fn manager(mut self, op: &operator::Model) -> Self {
        self.manager = Some(op.id);
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> entity::case_file::Model {
        use entity::{case_file, preliminary_analysis};
        assert!(
            self.state == CaseState::DaAssegnare || self.manager.is_some(),
            "a case in {:?} has a case manager",
            self.state
        );
        let met = !matches!(self.state, CaseState::DaAssegnare | CaseState::Assegnato | CaseState::Convocato);
        let c = case_file::Model {
            id: Uuid::new_v4(),
            household_id: self.household.id,
            application_id: self.application,
            ambito_id: self.household.ambito_id,
            comune_istat: self.household.comune_istat.clone(),
            state: self.state,
            case_manager_id: self.manager,
            assigned_at: self.manager.map(|_| Utc::now()),
            assigned_by: None,
            pad_date: self.pad_date,
            first_meeting_on: met.then(|| self.pad_date + Duration::days(5)),
            last_meeting_on: met.then(|| self.pad_date + Duration::days(5)),
            pathway_type: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert case");
        if met {
            preliminary_analysis::Model {
                id: Uuid::new_v4(),
                case_id: c.id,
                meeting_id: None,
                state: if self.state == CaseState::ApInCorso {
                    AnalysisState::Bozza
                } else {
                    AnalysisState::Completata
                },
                outcome: None,
                needs_notes: None,
                resources_notes: None,
                health_notes: None,
                completed_at: None,
                completed_by: None,
                version: 1,
                updated_at: Utc::now(),
            }
            .into_active_model()
            .insert(db)
            .await
            .expect("insert analysis");
        }
        c
    }
}

pub struct MeetingBuilder {
    case: entity::case_file::Model,
    state: MeetingState,
    at: chrono::DateTime<Utc>,
}

/// A convocation meeting of case `c` (with its case manager), planned two days
/// from now at 10:00 UTC.
pub fn meeting_of(c: &entity::case_file::Model) -> MeetingBuilder {
    let day = today() + Duration::days(2);
    MeetingBuilder {
        case: c.clone(),
        state: MeetingState::Pianificato,
        at: day.and_hms_opt(10, 0, 0).unwrap().and_utc(),
    }
}

impl MeetingBuilder {
    pub fn at(mut self, t: chrono::DateTime<Utc>) -> Self {
        self.at = t;
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> entity::meeting::Model {
        entity::meeting::Model {
            id: Uuid::new_v4(),
            ambito_id: self.case.ambito_id,
            comune_istat: self.case.comune_istat.clone(),
            case_id: Some(self.case.id),
            household_id: Some(self.case.household_id),
            operator_id: self.case.case_manager_id,
            kind: MeetingKind::Convocazione,
            state: self.state,
            scheduled_at: self.at,
            duration_minutes: 60,
            place: "Sportello sociale".into(),
            convocation_channel: None,
            convocation_ref: None,
            attendees: None,
            justification: None,
            recorded_by: None,
            recorded_at: None,
            version: 1,
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert meeting")
    }
}

pub struct PucProjectBuilder {
    comune: comune::Model,
}

/// An active PUC project of `c`, two places for the Comune's beneficiaries,
/// running from last month for a year.
pub fn puc_project(c: &comune::Model) -> PucProjectBuilder {
    PucProjectBuilder { comune: c.clone() }
}

impl PucProjectBuilder {
    pub async fn insert(self, db: &DatabaseConnection) -> entity::puc_project::Model {
        entity::puc_project::Model {
            id: Uuid::new_v4(),
            ambito_id: self.comune.ambito_id,
            comune_istat: self.comune.istat_code.clone(),
            manager_id: None,
            title: "Cura del verde pubblico".into(),
            field: PucField::Ambientale,
            description: "Manutenzione dei giardini comunali".into(),
            host_body: "Comune".into(),
            site: "Parco civico".into(),
            schedule: "lun-mer 9-13".into(),
            weekly_hours: 8,
            places_comune: 2,
            places_cpi: 0,
            places_volunteer: 0,
            starts_on: today() - Duration::days(30),
            ends_on: today() + Duration::days(335),
            min_duration_months: 1,
            tutor: None,
            state: PucProjectState::Attivo,
            version: 1,
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert PUC project")
    }
}

pub struct ResidencyCheckBuilder {
    household: Uuid,
    member: Uuid,
    comune: comune::Model,
    officer: Option<Uuid>,
    state: ResidencyCheckState,
    due_on: NaiveDate,
}

/// A residence check of member `m` of household `h`, held by the Comune `c`
/// (where it is owed), unassigned, due in 30 days.
pub fn residency_check(h: &Household, m: usize, c: &comune::Model) -> ResidencyCheckBuilder {
    ResidencyCheckBuilder {
        household: h.household.id,
        member: h.members[m].id,
        comune: c.clone(),
        officer: None,
        state: ResidencyCheckState::DaAssegnare,
        due_on: today() + Duration::days(30),
    }
}

impl ResidencyCheckBuilder {
    /// Assigned to `op` (the state becomes `ASSEGNATO` unless set otherwise).
    pub fn officer(mut self, op: &operator::Model) -> Self {
        self.officer = Some(op.id);
        if self.state == ResidencyCheckState::DaAssegnare {
            self.state = ResidencyCheckState::Assegnato;
        }
        self
    }
    pub fn state(mut self, s: ResidencyCheckState) -> Self {
        self.state = s;
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> entity::residency_check::Model {
        entity::residency_check::Model {
            id: Uuid::new_v4(),
            kind: ResidencyCheckKind::Residenza,
            household_id: self.household,
            member_id: self.member,
            application_id: None,
            owning_comune_istat: self.comune.istat_code.clone(),
            current_comune_istat: self.comune.istat_code.clone(),
            ambito_id: self.comune.ambito_id,
            officer_id: self.officer,
            state: self.state,
            due_on: self.due_on,
            forwarded_at: None,
            outcome: None,
            finalised_at: None,
            override_reason: None,
            override_note: None,
            version: 1,
            created_at: Utc::now(),
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert residency check")
    }
}

pub struct DisadvantageCheckBuilder {
    household: entity::household::Model,
    member: Uuid,
    state: DisadvantageState,
    received_on: NaiveDate,
}

/// A request to validate the disadvantage declared for member `m` of `h`,
/// received today and not yet looked at.
pub fn disadvantage_check(h: &Household, m: usize) -> DisadvantageCheckBuilder {
    DisadvantageCheckBuilder {
        household: h.household.clone(),
        member: h.members[m].id,
        state: DisadvantageState::Ricevuta,
        received_on: today(),
    }
}

impl DisadvantageCheckBuilder {
    pub fn state(mut self, s: DisadvantageState) -> Self {
        self.state = s;
        self
    }
    pub fn received_on(mut self, d: NaiveDate) -> Self {
        self.received_on = d;
        self
    }
    pub async fn insert(self, db: &DatabaseConnection) -> entity::disadvantage_check::Model {
        entity::disadvantage_check::Model {
            id: Uuid::new_v4(),
            inps_request_id: format!("INPS-D-{}", &Uuid::new_v4().simple().to_string()[..12]),
            household_id: self.household.id,
            member_id: self.member,
            ambito_id: self.household.ambito_id,
            certifying_comune_istat: self.household.comune_istat.clone(),
            category: DisadvantageCategory::SenzaDimora,
            certificate_protocol: None,
            certificate_from: None,
            certificate_to: None,
            received_on: self.received_on,
            state: self.state,
            notes: None,
            decided_by: None,
            decided_at: None,
            sent_to_inps_at: None,
            version: 1,
        }
        .into_active_model()
        .insert(db)
        .await
        .expect("insert disadvantage check")
    }
}

/// An active assignment of member `m` of `h` (under its case `c`) to project `p`,
/// on a place for the Comune's beneficiaries.
pub async fn puc_assignment(
    db: &DatabaseConnection,
    p: &entity::puc_project::Model,
    h: &Household,
    m: usize,
    c: &entity::case_file::Model,
) -> entity::puc_assignment::Model {
    entity::puc_assignment::Model {
        id: Uuid::new_v4(),
        project_id: p.id,
        member_id: h.members[m].id,
        case_id: Some(c.id),
        source: PlaceSource::Comune,
        state: PucAssignmentState::Attivo,
        proposed_by: None,
        proposed_at: Some(Utc::now()),
        starts_on: Some(today() - Duration::days(7)),
        planned_end_on: Some(today() + Duration::days(90)),
        weekly_hours: 8,
        interruption_reason: None,
        interrupted_on: None,
        inail_ref: None,
        version: 1,
    }
    .into_active_model()
    .insert(db)
    .await
    .expect("insert PUC assignment")
}
