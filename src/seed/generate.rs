//! The generator behind `gepi seed`. One `ChaCha8` stream drives every choice, so
//! the output depends only on the options.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use entity::{enums::*, *};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable};
use uuid::Uuid;

use super::{data, SeedOptions, SeedSummary};
use crate::households::model::CodiceFiscale;

/// Households generated between two flushes to the database.
const BATCH_HOUSEHOLDS: usize = 2_000;
/// Bind parameters per statement, under SQLite's and PostgreSQL's limits.
const MAX_BINDS: usize = 30_000;

/// Rows waiting to be written, in foreign-key order.
#[derive(Default)]
struct Rows {
    ambiti: Vec<ambito::Model>,
    comuni: Vec<comune::Model>,
    operators: Vec<operator::Model>,
    conventions: Vec<convention::Model>,
    profiles: Vec<profile::Model>,
    profile_comuni: Vec<profile_comune::Model>,
    households: Vec<household::Model>,
    members: Vec<member::Model>,
    applications: Vec<application::Model>,
    cases: Vec<case_file::Model>,
    meetings: Vec<meeting::Model>,
    slots: Vec<office_slot::Model>,
    analyses: Vec<preliminary_analysis::Model>,
    frameworks: Vec<analysis_framework::Model>,
    team: Vec<analysis_team_member::Model>,
    pacts: Vec<pact::Model>,
    objectives: Vec<pact_objective::Model>,
    results: Vec<pact_expected_result::Model>,
    commitments: Vec<pact_commitment::Model>,
    commitment_members: Vec<pact_commitment_member::Model>,
    supports: Vec<support::Model>,
    projects: Vec<puc_project::Model>,
    assignments: Vec<puc_assignment::Model>,
    attendance: Vec<puc_attendance::Model>,
    checks: Vec<residency_check::Model>,
    periods: Vec<residency_period::Model>,
    disadvantage: Vec<disadvantage_check::Model>,
    reports: Vec<report::Model>,
}

async fn insert_all<E, C>(
    db: &C,
    rows: &mut Vec<E::Model>,
    counts: &mut BTreeMap<&'static str, u64>,
) -> Result<(), DbErr>
where
    E: EntityTrait + Default,
    E::Model: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    if rows.is_empty() {
        return Ok(());
    }
    let per = (MAX_BINDS / E::Column::iter().count()).max(1);
    let all = std::mem::take(rows);
    let n = all.len() as u64;
    let mut it = all.into_iter();
    loop {
        let chunk: Vec<E::ActiveModel> = it.by_ref().take(per).map(|m| m.into_active_model()).collect();
        if chunk.is_empty() {
            break;
        }
        E::insert_many(chunk).exec_without_returning(db).await?;
    }
    *counts.entry(E::default().table_name()).or_default() += n;
    Ok(())
}

impl Rows {
    async fn flush<C: ConnectionTrait>(
        &mut self,
        db: &C,
        counts: &mut BTreeMap<&'static str, u64>,
    ) -> Result<(), DbErr> {
        insert_all::<ambito::Entity, _>(db, &mut self.ambiti, counts).await?;
        insert_all::<comune::Entity, _>(db, &mut self.comuni, counts).await?;
        insert_all::<operator::Entity, _>(db, &mut self.operators, counts).await?;
        insert_all::<convention::Entity, _>(db, &mut self.conventions, counts).await?;
        insert_all::<profile::Entity, _>(db, &mut self.profiles, counts).await?;
        insert_all::<profile_comune::Entity, _>(db, &mut self.profile_comuni, counts).await?;
        insert_all::<puc_project::Entity, _>(db, &mut self.projects, counts).await?;
        insert_all::<office_slot::Entity, _>(db, &mut self.slots, counts).await?;
        insert_all::<household::Entity, _>(db, &mut self.households, counts).await?;
        insert_all::<member::Entity, _>(db, &mut self.members, counts).await?;
        insert_all::<application::Entity, _>(db, &mut self.applications, counts).await?;
        insert_all::<case_file::Entity, _>(db, &mut self.cases, counts).await?;
        insert_all::<meeting::Entity, _>(db, &mut self.meetings, counts).await?;
        insert_all::<preliminary_analysis::Entity, _>(db, &mut self.analyses, counts).await?;
        insert_all::<analysis_framework::Entity, _>(db, &mut self.frameworks, counts).await?;
        insert_all::<analysis_team_member::Entity, _>(db, &mut self.team, counts).await?;
        insert_all::<pact::Entity, _>(db, &mut self.pacts, counts).await?;
        insert_all::<pact_objective::Entity, _>(db, &mut self.objectives, counts).await?;
        insert_all::<pact_expected_result::Entity, _>(db, &mut self.results, counts).await?;
        insert_all::<pact_commitment::Entity, _>(db, &mut self.commitments, counts).await?;
        insert_all::<pact_commitment_member::Entity, _>(db, &mut self.commitment_members, counts).await?;
        insert_all::<support::Entity, _>(db, &mut self.supports, counts).await?;
        insert_all::<puc_assignment::Entity, _>(db, &mut self.assignments, counts).await?;
        insert_all::<puc_attendance::Entity, _>(db, &mut self.attendance, counts).await?;
        insert_all::<residency_check::Entity, _>(db, &mut self.checks, counts).await?;
        insert_all::<residency_period::Entity, _>(db, &mut self.periods, counts).await?;
        insert_all::<disadvantage_check::Entity, _>(db, &mut self.disadvantage, counts).await?;
        insert_all::<report::Entity, _>(db, &mut self.reports, counts).await?;
        Ok(())
    }
}

/// Operators of one Ambito, by what they cover.
struct Staff {
    coordinator: Uuid,
    support_officers: Vec<Uuid>,
    /// Per Comune ISTAT code.
    case_managers: HashMap<&'static str, Vec<Uuid>>,
    check_officers: HashMap<&'static str, Vec<Uuid>>,
    registrars: HashMap<&'static str, Vec<Uuid>>,
    validators: Vec<Uuid>,
}

struct AmbitoSeed {
    id: Uuid,
    reference: &'static data::AmbitoRef,
    staff: Staff,
    /// PUC projects per Comune: (id, places per source, min duration).
    projects: HashMap<&'static str, Vec<ProjectSeed>>,
}

struct ProjectSeed {
    id: Uuid,
    free: [i32; 3],
    min_months: i32,
    starts_on: NaiveDate,
}

/// A generated member, as the later records of the household need it.
struct MemberSeed {
    id: Uuid,
    age: i32,
    obligated: bool,
    residual_months: i32,
}

pub struct Generator {
    rng: ChaCha8Rng,
    opts: SeedOptions,
    rows: Rows,
    counts: BTreeMap<&'static str, u64>,
    serial: u64,
    used_fiscal_codes: std::collections::HashSet<String>,
}

impl Generator {
    pub fn new(opts: &SeedOptions) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            opts: opts.clone(),
            rows: Rows::default(),
            counts: BTreeMap::new(),
            serial: 0,
            used_fiscal_codes: Default::default(),
        }
    }

    fn uuid(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.gen()).into_uuid()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.gen_range(lo..=hi)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("non-empty")
    }

    fn today(&self) -> NaiveDate {
        self.opts.today
    }

    fn days_ago(&mut self, lo: i64, hi: i64) -> NaiveDate {
        let d = self.range(lo, hi);
        self.today() - Duration::days(d)
    }

    fn at(&mut self, day: NaiveDate) -> DateTime<Utc> {
        let minutes = self.range(8 * 60, 17 * 60) as u32 / 15 * 15;
        let t = NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).expect("valid time");
        Utc.from_utc_datetime(&day.and_time(t))
    }

    fn noon(day: NaiveDate) -> DateTime<Utc> {
        Utc.from_utc_datetime(&day.and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon")))
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A person: names, sex, birth date, place of birth, and a unique codice fiscale.
    fn person(
        &mut self,
        female: bool,
        last_name: Option<&'static str>,
        age: i32,
    ) -> (String, String, NaiveDate, String, String, String) {
        loop {
            let first = if female { self.pick(data::FEMALE_NAMES) } else { self.pick(data::MALE_NAMES) };
            let last = last_name.unwrap_or_else(|| self.pick(data::LAST_NAMES));
            let birth = self.today() - Duration::days(age as i64 * 365 + self.range(0, 364));
            let (place, citizenship) = if self.chance(0.8) {
                (self.pick(data::BIRTH_COMUNI).to_string(), "ITA".to_string())
            } else {
                let (z, iso, _) = self.pick(data::FOREIGN_STATES);
                (z.to_string(), iso.to_string())
            };
            let cf = CodiceFiscale::compute(&fold(last), first, birth, female, &place).to_string();
            if self.used_fiscal_codes.insert(cf.clone()) {
                return (first.to_string(), last.to_string(), birth, place, citizenship, cf);
            }
        }
    }

    pub async fn run<C: ConnectionTrait>(mut self, db: &C) -> Result<SeedSummary, crate::error::AppError> {
        let today = self.today();
        let chosen = &data::AMBITI[..self.opts.ambiti];
        let population: u64 = chosen.iter().flat_map(|a| a.comuni).map(|c| c.population as u64).sum();
        // Households per Ambito, proportional to population; remainder to the first.
        let mut per_ambito: Vec<usize> = chosen
            .iter()
            .map(|a| {
                let p: u64 = a.comuni.iter().map(|c| c.population as u64).sum();
                ((self.opts.households as u64 * p) / population) as usize
            })
            .collect();
        let assigned: usize = per_ambito.iter().sum();
        per_ambito[0] += self.opts.households - assigned;

        // National operators.
        for _ in 0..2 {
            let op = self.operator(None);
            self.profile(op, Role::MinistryAdmin, None, &[]);
        }
        let op = self.operator(None);
        self.profile(op, Role::Analyst, None, &[]);

        let mut seeds = Vec::new();
        for (a, n) in chosen.iter().zip(&per_ambito) {
            seeds.push(self.ambito(a, *n));
        }
        self.rows.flush(db, &mut self.counts).await?;

        let bar = if self.opts.progress {
            let b = indicatif::ProgressBar::new(self.opts.households as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} households  {elapsed_precise} eta {eta}")
                    .expect("valid template"),
            );
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut pending = 0;
        for (i, n) in per_ambito.iter().enumerate() {
            for _ in 0..*n {
                let s = &mut seeds[i];
                self.household(s);
                pending += 1;
                if pending == BATCH_HOUSEHOLDS {
                    self.rows.flush(db, &mut self.counts).await?;
                    bar.inc(pending as u64);
                    pending = 0;
                }
            }
        }
        self.rows.flush(db, &mut self.counts).await?;
        bar.inc(pending as u64);
        bar.finish_and_clear();
        self.transfers(db, &seeds).await?;
        let _ = today;
        Ok(SeedSummary(self.counts))
    }

    /// A few case transfers from each Ambito to the next one's first Comune (one
    /// awaiting a decision, one rejected, one escalated after its deadline), so
    /// that both coordinators and administrators have some to read. Cases stay
    /// where they are: none is accepted.
    async fn transfers<C: ConnectionTrait>(&mut self, db: &C, seeds: &[AmbitoSeed]) -> Result<(), DbErr> {
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
        if seeds.len() < 2 {
            return Ok(());
        }
        let today = self.today();
        let mut rows = Vec::new();
        for (i, s) in seeds.iter().enumerate() {
            let next = &seeds[(i + 1) % seeds.len()];
            let to = next.reference.comuni[0].istat;
            let cases = case_file::Entity::find()
                .filter(case_file::Column::AmbitoId.eq(s.id))
                .filter(case_file::Column::State.is_not_in([CaseState::Chiuso, CaseState::Trasferito]))
                .order_by_asc(case_file::Column::Id)
                .limit(3)
                .all(db)
                .await?;
            for (k, c) in cases.into_iter().enumerate() {
                let size =
                    member::Entity::find().filter(member::Column::HouseholdId.eq(c.household_id)).count(db).await?;
                let asked = today - Duration::days([2, 20, 30][k]);
                let due = crate::calendar::add_working_days(asked, 10);
                let (state, rejection, decided) = match k {
                    1 => (TransferState::Rifiutato, Some(TransferRejectionReason::ComuneNonCompetente), true),
                    _ => (TransferState::Richiesto, None, false),
                };
                rows.push(case_transfer::Model {
                    id: self.uuid(),
                    case_id: c.id,
                    state,
                    reason: if k == 0 { TransferReason::CambioResidenza } else { TransferReason::SegnalazioneInps },
                    from_ambito_id: s.id,
                    from_comune_istat: c.comune_istat.clone(),
                    to_ambito_id: next.id,
                    to_comune_istat: to.into(),
                    household_size: size as i32,
                    case_state: c.state,
                    pad_date: c.pad_date,
                    first_meeting_on: c.first_meeting_on,
                    legal_basis: None,
                    requested_by: Some(s.staff.coordinator),
                    requested_at: Self::noon(asked),
                    due_on: due,
                    escalated_at: (k == 2 && due < today).then(|| Self::noon(due + Duration::days(1))),
                    decided_by: decided.then_some(next.staff.coordinator),
                    decided_at: decided.then(|| Self::noon(asked + Duration::days(3))),
                    rejection_reason: rejection,
                    decision_note: None,
                    version: 1,
                });
            }
        }
        insert_all::<case_transfer::Entity, _>(db, &mut rows, &mut self.counts).await?;
        // And a few referrals: to the CPI (taken in charge) and to a specialist service.
        let mut referrals = Vec::new();
        for s in seeds {
            let cases = case_file::Entity::find()
                .filter(case_file::Column::AmbitoId.eq(s.id))
                .filter(case_file::Column::State.eq(CaseState::InMonitoraggio))
                .order_by_desc(case_file::Column::Id)
                .limit(2)
                .all(db)
                .await?;
            for (k, c) in cases.into_iter().enumerate() {
                let asked = today - Duration::days(15 + k as i64);
                // To the CPI: a member bound to work activation, when the household has one.
                let bound = member::Entity::find()
                    .filter(member::Column::HouseholdId.eq(c.household_id))
                    .filter(member::Column::ObligatedActivation.eq(true))
                    .order_by_asc(member::Column::Id)
                    .one(db)
                    .await?;
                let cpi = k == 0 && bound.is_some();
                referrals.push(case_referral::Model {
                    id: self.uuid(),
                    case_id: c.id,
                    ambito_id: c.ambito_id,
                    comune_istat: c.comune_istat.clone(),
                    member_id: if cpi { bound.map(|m| m.id) } else { None },
                    target: if cpi { ReferralTarget::Cpi } else { ReferralTarget::ServiziSpecialistici },
                    service: Some(if cpi { "Centro per l'impiego".into() } else { "Centro di salute mentale".into() }),
                    reason: Some("Invio a seguito dell'analisi preliminare.".into()),
                    pathway_type: c.pathway_type,
                    state: if cpi { ReferralState::PresoInCarico } else { ReferralState::InAttesa },
                    requested_by: c.case_manager_id,
                    requested_at: Self::noon(asked),
                    taken_at: cpi.then(|| Self::noon(asked + Duration::days(5))),
                    closed_at: None,
                    outcome_note: None,
                    version: 1,
                });
            }
        }
        insert_all::<case_referral::Entity, _>(db, &mut referrals, &mut self.counts).await
    }

    fn operator(&mut self, ambito_id: Option<Uuid>) -> Uuid {
        let female = self.chance(0.6);
        let age = self.range(28, 62) as i32;
        let (first, last, _, _, _, cf) = self.person(female, None, age);
        let id = self.uuid();
        let created = Self::noon(self.today() - Duration::days(800));
        let row = operator::Model {
            id,
            email: Some(format!("{}.{}@comune.example.it", fold(&first).to_lowercase(), fold(&last).to_lowercase())),
            phone: None,
            fiscal_code: cf,
            first_name: first,
            last_name: last,
            status: OperatorStatus::Active,
            last_login_at: None,
            created_at: created,
            ambito_id,
            version: 1,
        };
        self.rows.operators.push(row);
        id
    }

    fn profile(&mut self, operator_id: Uuid, role: Role, ambito_id: Option<Uuid>, comuni: &[&'static str]) -> Uuid {
        let id = self.uuid();
        let funding = [FundingSource::FondoPoverta, FundingSource::PnInclusione, FundingSource::BilancioComunale];
        let funding_sources = (ambito_id.is_some() && role != Role::AmbitoAdmin)
            .then(|| crate::operators::model::funding_codes(&[self.pick(&funding)]));
        let row = profile::Model {
            id,
            operator_id,
            role,
            ambito_id,
            valid_from: self.today() - Duration::days(730),
            valid_to: None,
            funding_sources,
            status: ProfileStatus::Active,
            assigned_by: None,
            created_at: Self::noon(self.today() - Duration::days(730)),
            version: 1,
        };
        self.rows.profiles.push(row);
        for c in comuni {
            self.rows.profile_comuni.push(profile_comune::Model { profile_id: id, comune_istat: c.to_string() });
        }
        id
    }

    /// The Ambito, its Comuni, conventions, operators and PUC projects.
    fn ambito(&mut self, a: &'static data::AmbitoRef, households: usize) -> AmbitoSeed {
        let id = self.uuid();
        let today = self.today();
        let row = ambito::Model {
            id,
            code: a.code.into(),
            name: a.name.into(),
            region: a.region.into(),
            management_form: if a.comuni.len() > 1 {
                ManagementForm::Consorzio
            } else {
                ManagementForm::CapofilaComune
            },
            created_at: Self::noon(today - Duration::days(2000)),
            closed_at: None,
        };
        self.rows.ambiti.push(row);
        let all: Vec<&'static str> = a.comuni.iter().map(|c| c.istat).collect();
        for c in a.comuni {
            let row = comune::Model {
                istat_code: c.istat.into(),
                belfiore_code: c.belfiore.into(),
                name: c.name.into(),
                province: c.province.into(),
                ambito_id: id,
                social_services_delegated: a.comuni.len() > 1 && c.population < 10_000,
            };
            self.rows.comuni.push(row);
        }
        let admin = self.operator(Some(id));
        self.profile(admin, Role::AmbitoAdmin, Some(id), &all);
        for c in a.comuni {
            for kind in [ConventionKind::UsoGepi, ConventionKind::Puc] {
                let signed = today - Duration::days(self.range(200, 900));
                let cid = self.uuid();
                let row = convention::Model {
                    id: cid,
                    comune_istat: c.istat.into(),
                    ambito_id: id,
                    kind,
                    signed_on: signed,
                    valid_from: signed,
                    valid_to: Some(signed + Duration::days(3 * 365)),
                    document_sha256: Some(hex::encode(self.rng.gen::<[u8; 32]>())),
                    uploaded_by: Some(admin),
                    uploaded_at: Self::noon(signed + Duration::days(3)),
                    version: 1,
                    document_size: None,
                };
                self.rows.conventions.push(row);
            }
        }
        // The Coordinatore PaIS also holds the disadvantage validator role by default.
        let coordinator = self.operator(Some(id));
        self.profile(coordinator, Role::PaisCoordinator, Some(id), &all);
        self.profile(coordinator, Role::DisadvantageValidator, Some(id), &all);
        let validator = self.operator(Some(id));
        self.profile(validator, Role::DisadvantageValidator, Some(id), &all);
        let analyst = self.operator(Some(id));
        self.profile(analyst, Role::Analyst, Some(id), &all);
        let mut support_officers = Vec::new();
        for _ in 0..2 {
            let op = self.operator(Some(id));
            self.profile(op, Role::SupportActivationOfficer, Some(id), &all);
            support_officers.push(op);
        }
        // Split roles: two operators, one for the even and one for the odd Comuni.
        let halves: [Vec<&'static str>; 2] = if all.len() == 1 {
            [all.clone(), all.clone()]
        } else {
            [all.iter().step_by(2).copied().collect(), all.iter().skip(1).step_by(2).copied().collect()]
        };
        let split = |g: &mut Self, role: Role| -> HashMap<&'static str, Vec<Uuid>> {
            let mut by: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
            for half in &halves {
                let op = g.operator(Some(id));
                g.profile(op, role, Some(id), half);
                for c in half {
                    by.entry(*c).or_default().push(op);
                }
            }
            by
        };
        let _check_coordinators = split(self, Role::RegistryCheckCoordinator);
        let check_officers = split(self, Role::RegistryCheckOfficer);
        let puc_managers = split(self, Role::PucManager);
        let registrars = split(self, Role::MeetingRegistrar);
        // One case manager per ~60 households, at least two, each covering Comuni.
        let n_cm = households.div_ceil(60).max(2);
        let mut case_managers: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
        for i in 0..n_cm {
            let covered: Vec<&'static str> = if n_cm <= all.len() {
                all.iter().enumerate().filter(|(j, _)| j % n_cm == i).map(|(_, c)| *c).collect()
            } else {
                vec![all[i % all.len()]]
            };
            let op = self.operator(Some(id));
            self.profile(op, Role::CaseManager, Some(id), &covered);
            for c in covered {
                case_managers.entry(c).or_default().push(op);
            }
        }
        // PUC projects: about one per 150 households of the Comune, at least one.
        let pop: u64 = a.comuni.iter().map(|c| c.population as u64).sum();
        let mut projects: HashMap<&'static str, Vec<ProjectSeed>> = HashMap::new();
        for c in a.comuni {
            let hh = (households as u64 * c.population as u64 / pop.max(1)) as usize;
            for _ in 0..hh.div_ceil(150).max(1) {
                let p = self.project(id, c, puc_managers[c.istat][0]);
                projects.entry(c.istat).or_default().push(p);
            }
            // Office availability for the next two weeks.
            for d in 1..=14 {
                let day = today + Duration::days(d);
                if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                    continue;
                }
                for hour in [9, 11, 15] {
                    let starts =
                        Utc.from_utc_datetime(&day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).expect("hour")));
                    let sid = self.uuid();
                    let street = self.pick(data::STREETS);
                    let row = office_slot::Model {
                        id: sid,
                        comune_istat: c.istat.into(),
                        starts_at: starts,
                        ends_at: starts + Duration::minutes(60),
                        place: format!("Servizi sociali, {street} 1, {}", c.name),
                        operator_id: None,
                    };
                    self.rows.slots.push(row);
                }
            }
        }
        AmbitoSeed {
            id,
            reference: a,
            staff: Staff {
                coordinator,
                support_officers,
                case_managers,
                check_officers,
                registrars,
                validators: vec![coordinator, validator],
            },
            projects,
        }
    }

    fn project(&mut self, ambito_id: Uuid, c: &'static data::ComuneRef, manager: Uuid) -> ProjectSeed {
        let id = self.uuid();
        let (title, field) = self.pick(data::PUC_TITLES);
        let host = self.pick(data::HOST_BODIES);
        let street = self.pick(data::STREETS);
        let starts_on = self.days_ago(30, 240);
        let ends_on = starts_on + Duration::days(self.range(180, 540));
        let places = [self.range(2, 8) as i32, self.range(1, 4) as i32, self.range(0, 2) as i32];
        let min_months = self.range(2, 6) as i32;
        let weekly_hours = self.pick(&[8, 10, 12, 16]);
        let state = if ends_on < self.today() {
            PucProjectState::Concluso
        } else if self.chance(0.1) {
            PucProjectState::Bozza
        } else {
            PucProjectState::Attivo
        };
        let row = puc_project::Model {
            id,
            ambito_id,
            comune_istat: c.istat.into(),
            manager_id: Some(manager),
            title: format!("{title} - {}", c.name),
            field,
            description: format!(
                "{title}: attività di utilità collettiva a {}, complementare ai servizi ordinari.",
                c.name
            ),
            host_body: if host == "Comune" { format!("Comune di {}", c.name) } else { host.into() },
            site: format!("{street} {}, {}", self.range(1, 120), c.name),
            schedule: "lunedì e giovedì 9-13".into(),
            weekly_hours,
            places_comune: places[0],
            places_cpi: places[1],
            places_volunteer: places[2],
            starts_on,
            ends_on,
            min_duration_months: min_months,
            tutor: Some(format!("{} {}", self.pick(data::FEMALE_NAMES), self.pick(data::LAST_NAMES))),
            state,
            version: 1,
            created_at: Self::noon(starts_on - Duration::days(20)),
        };
        self.rows.projects.push(row);
        ProjectSeed {
            id,
            free: if state == PucProjectState::Attivo { places } else { [0, 0, 0] },
            min_months,
            starts_on,
        }
    }

    fn household(&mut self, s: &mut AmbitoSeed) {
        let today = self.today();
        // Comune weighted by population.
        let total: u64 = s.reference.comuni.iter().map(|c| c.population as u64).sum();
        let mut pick = self.rng.gen_range(0..total);
        let mut comune = &s.reference.comuni[0];
        for c in s.reference.comuni {
            if pick < c.population as u64 {
                comune = c;
                break;
            }
            pick -= c.population as u64;
        }
        let hh_id = self.uuid();
        let serial = self.next_serial();
        let protocol = format!("INPS-ADI-{}-{:08}", today.year(), serial);
        let size = {
            let r = self.range(1, 100);
            match r {
                1..=30 => 1,
                31..=55 => 2,
                56..=75 => 3,
                76..=90 => 4,
                91..=97 => 5,
                _ => 6,
            }
        };
        let pad = self.days_ago(5, 420);
        let row = household::Model {
            id: hh_id,
            inps_protocol: protocol.clone(),
            ambito_id: s.id,
            comune_istat: comune.istat.into(),
            composition_version: 1,
            composition_date: pad - Duration::days(20),
            created_at: Self::noon(pad),
        };
        self.rows.households.push(row);
        // Members: the applicant, perhaps a partner, then children (or an elderly parent).
        let mut members: Vec<MemberSeed> = Vec::new();
        let applicant_female = self.chance(0.55);
        let applicant_age = self.range(22, 66) as i32;
        let family_name = self.pick(data::LAST_NAMES);
        let mut applicant_cf = String::new();
        let has_partner = size >= 2 && self.chance(0.6);
        for k in 0..size {
            let (female, age, last, relation) = match k {
                0 => (applicant_female, applicant_age, Some(family_name), FamilyRelation::Richiedente),
                1 if has_partner => (
                    !applicant_female,
                    (applicant_age + self.range(-5, 5) as i32).max(19),
                    None,
                    FamilyRelation::Coniuge,
                ),
                1 if applicant_age > 45 && self.chance(0.3) => {
                    (self.chance(0.6), applicant_age + 25, Some(family_name), FamilyRelation::Genitore)
                }
                _ => (
                    self.chance(0.5),
                    self.range(0, (applicant_age - 18).clamp(0, 25) as i64) as i32,
                    Some(family_name),
                    FamilyRelation::Figlio,
                ),
            };
            let (first, last_name, birth, place, citizenship, cf) = self.person(female, last, age);
            let adult = age >= 18;
            let disabled = self.chance(0.07);
            let obligated = adult && age < 60 && !disabled && self.chance(0.55);
            let id = self.uuid();
            let residual = self.range(1, 18) as i32;
            if k == 0 {
                applicant_cf = cf.clone();
            }
            let non_eu =
                !citizenship.eq("ITA") && !data::FOREIGN_STATES.iter().any(|(_, iso, eu)| *iso == citizenship && *eu);
            let row = member::Model {
                id,
                household_id: hh_id,
                fiscal_code: cf,
                first_name: first.clone(),
                last_name: last_name.clone(),
                birth_date: birth,
                birth_place_code: place,
                sex: if female { Sex::F } else { Sex::M },
                citizenship: citizenship.clone(),
                relation,
                residence_comune_istat: comune.istat.into(),
                in_equivalence_scale: true,
                obligated_activation: obligated,
                disabled,
                email: (k == 0).then(|| {
                    format!(
                        "{}.{}{}@mail.example.it",
                        fold(&first).to_lowercase(),
                        fold(&last_name).to_lowercase(),
                        serial
                    )
                }),
                phone: (k == 0).then(|| format!("+39 3{:02} {:07}", self.range(20, 99), self.range(0, 9_999_999))),
                permit_type: (k == 0 && non_eu).then(|| "PERMESSO_LUNGO_PERIODO".to_string()),
                permit_expiry: (k == 0 && non_eu).then(|| today + Duration::days(self.range(60, 1500))),
                residual_benefit_months: residual,
            };
            self.rows.members.push(row);
            members.push(MemberSeed { id, age, obligated, residual_months: residual });
        }
        let app_id = self.uuid();
        let row = application::Model {
            id: app_id,
            household_id: hh_id,
            inps_protocol: protocol,
            measure: Measure::Adi,
            applicant_fiscal_code: applicant_cf,
            submitted_on: pad - Duration::days(self.range(5, 40)),
            channel: self.pick(&["ONLINE", "PATRONATO", "CAF"]).into(),
            isee_protocol: Some(format!("INPS-ISEE-{}-{:08}", today.year(), serial)),
            pad_signed_on: Some(pad),
            status: ApplicationStatus::Accolta,
            months_paid: (((today - pad).num_days() / 30) as i32).min(18),
            renewal_of: None,
        };
        self.rows.applications.push(row);
        self.case(s, comune, hh_id, app_id, pad, &members);
        // Residency checks on about one household in twenty.
        if self.chance(0.05) {
            self.residency_check(s, comune, hh_id, app_id, members[0].id, pad);
        }
        // Disadvantage validation requests on about one household in thirty.
        if self.chance(0.035) {
            let adult: Vec<&MemberSeed> = members.iter().filter(|m| m.age >= 18).collect();
            let m = adult[self.rng.gen_range(0..adult.len())].id;
            self.disadvantage(s, comune, hh_id, m);
        }
    }

    fn case(
        &mut self,
        s: &mut AmbitoSeed,
        comune: &'static data::ComuneRef,
        hh: Uuid,
        app: Uuid,
        pad: NaiveDate,
        members: &[MemberSeed],
    ) {
        let today = self.today();
        let states = [
            (CaseState::DaAssegnare, 12),
            (CaseState::Assegnato, 12),
            (CaseState::Convocato, 10),
            (CaseState::ApInCorso, 12),
            (CaseState::QdaInCorso, 8),
            (CaseState::PattoInDefinizione, 12),
            (CaseState::InviatoAltroServizio, 7),
            (CaseState::InMonitoraggio, 21),
            (CaseState::Chiuso, 4),
            (CaseState::Trasferito, 2),
        ];
        let mut r = self.range(1, 100);
        let mut state = CaseState::DaAssegnare;
        for (st, w) in states {
            if r <= w {
                state = st;
                break;
            }
            r -= w;
        }
        let case_id = self.uuid();
        let assigned = state != CaseState::DaAssegnare;
        let cms = s.staff.case_managers[comune.istat].clone();
        let cm = assigned.then(|| cms[self.rng.gen_range(0..cms.len())]);
        let assign_delay = self.range(1, 10);
        let assigned_at = if assigned { Some(self.at(pad + Duration::days(assign_delay))) } else { None };
        let past_first_meeting = !matches!(state, CaseState::DaAssegnare | CaseState::Assegnato | CaseState::Convocato);
        let first_meeting = past_first_meeting.then(|| {
            let d = pad + Duration::days(self.range(10, 110));
            d.min(today)
        });
        let mut last_meeting = first_meeting;
        let mut ap_meeting = None;
        let registrar = s.staff.registrars[comune.istat][0];
        let place = format!("Servizi sociali di {}", comune.name);
        // Meetings.
        if state == CaseState::Convocato {
            let when = today + Duration::days(self.range(1, 30));
            let at = self.at(when);
            self.meeting(
                s.id,
                comune,
                case_id,
                hh,
                cm,
                MeetingKind::Convocazione,
                MeetingState::Convocato,
                at,
                &place,
                Some(registrar),
            );
        }
        if let Some(first) = first_meeting {
            let spontaneous = self.chance(0.15);
            let kind = if spontaneous { MeetingKind::PresentazioneSpontanea } else { MeetingKind::Convocazione };
            let at = self.at(first);
            let recorder = if spontaneous { registrar } else { cm.expect("assigned") };
            ap_meeting = Some(self.meeting(
                s.id,
                comune,
                case_id,
                hh,
                cm,
                kind,
                MeetingState::Svolto,
                at,
                &place,
                Some(recorder),
            ));
        }
        if state == CaseState::InMonitoraggio {
            let first = first_meeting.expect("met");
            let d = (first + Duration::days(self.range(60, 90))).min(today);
            let at = self.at(d);
            let st = if self.chance(0.1) { MeetingState::AssenteIngiustificato } else { MeetingState::Svolto };
            let mid = self.meeting(s.id, comune, case_id, hh, cm, MeetingKind::Monitoraggio90gg, st, at, &place, cm);
            if st == MeetingState::AssenteIngiustificato {
                self.report(
                    s,
                    comune,
                    Some(case_id),
                    None,
                    members[0].id,
                    ReportKind::MancataPresentazione,
                    d,
                    cm,
                    ReportState::DaApprovare,
                );
            } else {
                last_meeting = Some(d);
            }
            let _ = mid;
            let next = today + Duration::days(self.range(1, 45));
            let at = self.at(next);
            self.meeting(
                s.id,
                comune,
                case_id,
                hh,
                cm,
                MeetingKind::Monitoraggio90gg,
                MeetingState::Pianificato,
                at,
                &place,
                None,
            );
        }
        // Analisi preliminare.
        let outcome = match state {
            CaseState::QdaInCorso => Some(AnalysisOutcome::QuadroAnalisi),
            CaseState::InviatoAltroServizio => {
                Some(if self.chance(0.6) { AnalysisOutcome::Cpi } else { AnalysisOutcome::ServiziSpecialistici })
            }
            CaseState::PattoInDefinizione | CaseState::InMonitoraggio | CaseState::Chiuso | CaseState::Trasferito => {
                Some(if self.chance(0.3) { AnalysisOutcome::QuadroAnalisi } else { AnalysisOutcome::PaisSemplificato })
            }
            _ => None,
        };
        if past_first_meeting {
            let completed = outcome.is_some();
            let first = first_meeting.expect("met");
            let completed_on = (first + Duration::days(self.range(5, 30))).min(today);
            let aid = self.uuid();
            let need = self.pick(&[
                "Difficoltà nella gestione del bilancio familiare",
                "Condizione abitativa precaria, affitto arretrato",
                "Disoccupazione di lunga durata del richiedente",
                "Carico di cura per figli minori senza rete di supporto",
                "Isolamento sociale e scarse reti familiari",
            ]);
            let row = preliminary_analysis::Model {
                id: aid,
                case_id,
                meeting_id: ap_meeting,
                state: if completed { AnalysisState::Completata } else { AnalysisState::Bozza },
                outcome,
                needs_notes: Some(need.into()),
                resources_notes: Some("Disponibilità a percorsi di formazione; rete amicale presente.".into()),
                health_notes: self
                    .chance(0.3)
                    .then(|| "Patologia cronica di un componente in carico ai servizi sanitari.".into()),
                completed_at: completed.then(|| Self::noon(completed_on)),
                completed_by: if completed { cm } else { None },
                version: 1,
                updated_at: Self::noon(if completed { completed_on } else { first }),
            };
            self.rows.analyses.push(row);
        }
        // Quadro di analisi.
        if outcome == Some(AnalysisOutcome::QuadroAnalisi) {
            let fid = self.uuid();
            let done = state != CaseState::QdaInCorso;
            let row = analysis_framework::Model {
                id: fid,
                case_id,
                state: if done { FrameworkState::Completato } else { FrameworkState::InCorso },
                assessment_notes: Some("Approfondimento multidimensionale con l'équipe sulle sei aree.".into()),
                priorities: Some("Abitazione; inserimento lavorativo; sostegno alla genitorialità.".into()),
                completed_at: done.then(|| Self::noon(today - Duration::days(self.range(1, 60)))),
                version: 1,
                updated_at: Self::noon(today - Duration::days(self.range(1, 60))),
            };
            self.rows.frameworks.push(row);
            for _ in 0..self.range(2, 4) {
                let tid = self.uuid();
                let service = self.pick(&[
                    TeamService::ServiziSociali,
                    TeamService::Asl,
                    TeamService::Cpi,
                    TeamService::Scuola,
                    TeamService::Csm,
                    TeamService::TerzoSettore,
                ]);
                let full_name = format!("{} {}", self.pick(data::FEMALE_NAMES), self.pick(data::LAST_NAMES));
                let row = analysis_team_member::Model {
                    id: tid,
                    framework_id: fid,
                    full_name,
                    service,
                    team_role: self
                        .pick(&[
                            "Assistente sociale",
                            "Educatore",
                            "Psicologo",
                            "Operatore CPI",
                            "Referente scolastico",
                        ])
                        .into(),
                };
                self.rows.team.push(row);
            }
        }
        // Patto and supports.
        let pact_state = match state {
            CaseState::PattoInDefinizione => Some(PactState::Bozza),
            CaseState::InMonitoraggio | CaseState::Trasferito => Some(PactState::Sottoscritto),
            CaseState::Chiuso => Some(PactState::Chiuso),
            _ => None,
        };
        if let Some(ps) = pact_state {
            let revised = ps == PactState::Sottoscritto && self.chance(0.1);
            let first = first_meeting.expect("met");
            let signed_on = (first + Duration::days(self.range(20, 60))).min(today);
            let mut previous = None;
            let revisions = if revised { 2 } else { 1 };
            for rev in 1..=revisions {
                let this_state = if rev < revisions { PactState::Chiuso } else { ps };
                let pid = self.uuid();
                let signed = this_state != PactState::Bozza;
                let row = pact::Model {
                    id: pid,
                    case_id,
                    revision: rev,
                    state: this_state,
                    revision_of: previous,
                    signed_on: signed.then_some(signed_on),
                    next_review_on: signed.then(|| signed_on + Duration::days(90)),
                    contact_modality: Some("Convocazione via SMS e notifica SIISL".into()),
                    reference_person: cm.map(|_| "Case manager del nucleo".into()),
                    version: 1,
                    created_at: Self::noon(first),
                    updated_at: Self::noon(signed_on),
                };
                self.rows.pacts.push(row);
                previous = Some(pid);
                self.pact_content(pid, case_id, members, signed_on, cm);
            }
        } else if matches!(state, CaseState::QdaInCorso) && self.chance(0.3) {
            // A support activated by the Referente before the pact exists.
            let sid = self.uuid();
            let by = s.staff.support_officers[self.rng.gen_range(0..s.staff.support_officers.len())];
            let row = support::Model {
                id: sid,
                case_id,
                pact_id: None,
                kind: SupportKind::ServizioSocialeProfessionale,
                provider: format!("Servizi sociali di {}", comune.name),
                starts_on: Some(today - Duration::days(self.range(1, 30))),
                ends_on: None,
                status: SupportStatus::Attivo,
                activated_by: Some(by),
                created_at: Self::noon(today - Duration::days(30)),
            };
            self.rows.supports.push(row);
        }
        // PUC: obligated members of households with a pact, when a place is free.
        if matches!(state, CaseState::PattoInDefinizione | CaseState::InMonitoraggio) {
            for m in members.iter().filter(|m| m.obligated) {
                if self.chance(0.3) {
                    self.puc_assignment(s, comune, case_id, m, cm);
                }
            }
        }
        // A refusal to sign or another sanctionable fact, now and then.
        if state == CaseState::PattoInDefinizione && self.chance(0.05) {
            self.report(
                s,
                comune,
                Some(case_id),
                None,
                members[0].id,
                ReportKind::MancataSottoscrizione,
                today - Duration::days(3),
                cm,
                ReportState::Bozza,
            );
        }
        let row = case_file::Model {
            id: case_id,
            household_id: hh,
            application_id: app,
            ambito_id: s.id,
            comune_istat: comune.istat.into(),
            state,
            case_manager_id: cm,
            assigned_at,
            assigned_by: assigned.then_some(s.staff.coordinator),
            pad_date: pad,
            first_meeting_on: first_meeting,
            last_meeting_on: last_meeting,
            pathway_type: pact_state.map(|_| PathwayType::ObbligoSocialeOpzioneLavoro),
            version: 1,
            created_at: Self::noon(pad),
            updated_at: Self::noon(last_meeting.unwrap_or(pad)),
        };
        self.rows.cases.push(row);
    }

    fn pact_content(
        &mut self,
        pact_id: Uuid,
        case_id: Uuid,
        members: &[MemberSeed],
        signed_on: NaiveDate,
        cm: Option<Uuid>,
    ) {
        let areas = [
            NeedArea::SituazioneLavorativa,
            NeedArea::CondizioneAbitativa,
            NeedArea::RetiFamiliariSociali,
            NeedArea::SituazioneEconomica,
            NeedArea::EducazioneFormazione,
        ];
        for k in 0..self.range(1, 3) as usize {
            let oid = self.uuid();
            let area = areas[k % areas.len()];
            let row = pact_objective::Model {
                id: oid,
                pact_id,
                area,
                description: match area {
                    NeedArea::SituazioneLavorativa => "Avvicinamento al lavoro del richiedente".into(),
                    NeedArea::CondizioneAbitativa => "Stabilizzare la condizione abitativa".into(),
                    NeedArea::RetiFamiliariSociali => "Rafforzare le reti di supporto del nucleo".into(),
                    NeedArea::SituazioneEconomica => "Gestione sostenibile del bilancio familiare".into(),
                    _ => "Completamento del percorso scolastico dei figli".into(),
                },
            };
            self.rows.objectives.push(row);
            let rid = self.uuid();
            let row = pact_expected_result::Model {
                id: rid,
                pact_id,
                objective_id: oid,
                indicator: "Risultato verificato all'incontro di monitoraggio".into(),
                due_on: signed_on + Duration::days(self.range(60, 240)),
            };
            self.rows.results.push(row);
        }
        let adults: Vec<&MemberSeed> = members.iter().filter(|m| m.age >= 18).collect();
        for m in &adults {
            let cid = self.uuid();
            let row = pact_commitment::Model {
                id: cid,
                pact_id,
                description: if m.obligated {
                    "Partecipare alle attività concordate e agli incontri di verifica".into()
                } else {
                    "Partecipazione volontaria alle attività del patto".into()
                },
                obligated_member_id: Some(m.id),
                due_on: Some(signed_on + Duration::days(self.range(30, 180))),
                status: self.pick(&[
                    CommitmentStatus::DaAvviare,
                    CommitmentStatus::InCorso,
                    CommitmentStatus::Rispettato,
                ]),
                is_conditionality: m.obligated,
            };
            self.rows.commitments.push(row);
            for other in members.iter().filter(|o| o.id != m.id).take(1) {
                self.rows
                    .commitment_members
                    .push(pact_commitment_member::Model { commitment_id: cid, member_id: other.id });
            }
        }
        let sid = self.uuid();
        let kind = self.pick(&[
            SupportKind::SostegnoSocioEducativo,
            SupportKind::TirocinioInclusione,
            SupportKind::SostegnoGenitorialita,
            SupportKind::AssistenzaDomiciliare,
        ]);
        let row = support::Model {
            id: sid,
            case_id,
            pact_id: Some(pact_id),
            kind,
            provider: self
                .pick(&["Servizi sociali comunali", "Cooperativa sociale Il Ponte", "Consultorio familiare ASL"])
                .into(),
            starts_on: Some(signed_on),
            ends_on: Some(signed_on + Duration::days(self.range(90, 365))),
            status: SupportStatus::Attivo,
            activated_by: cm,
            created_at: Self::noon(signed_on),
        };
        // One active support per case, kind and provider (a database invariant):
        // the one of an earlier version of the pact ended when this one started.
        // A case's supports are pushed together, so the scan stops at the case.
        for earlier in self.rows.supports.iter_mut().rev().take_while(|x| x.case_id == case_id) {
            if earlier.status == SupportStatus::Attivo && earlier.kind == row.kind && earlier.provider == row.provider {
                earlier.status = SupportStatus::Concluso;
                earlier.ends_on = Some(signed_on);
            }
        }
        self.rows.supports.push(row);
    }

    #[allow(clippy::too_many_arguments)]
    fn meeting(
        &mut self,
        ambito_id: Uuid,
        comune: &data::ComuneRef,
        case_id: Uuid,
        household_id: Uuid,
        operator_id: Option<Uuid>,
        kind: MeetingKind,
        state: MeetingState,
        at: DateTime<Utc>,
        place: &str,
        recorded_by: Option<Uuid>,
    ) -> Uuid {
        let id = self.uuid();
        let held = matches!(
            state,
            MeetingState::Svolto | MeetingState::AssenteIngiustificato | MeetingState::AssenteGiustificato
        );
        let convened = kind != MeetingKind::PresentazioneSpontanea && state != MeetingState::Pianificato;
        let row = meeting::Model {
            id,
            ambito_id,
            comune_istat: comune.istat.into(),
            case_id: Some(case_id),
            household_id: Some(household_id),
            operator_id,
            kind,
            state,
            scheduled_at: at,
            duration_minutes: 60,
            place: place.into(),
            convocation_channel: convened.then_some(ConvocationChannel::Sms),
            convocation_ref: convened.then(|| format!("SMS-{}", self.range(100_000, 999_999))),
            attendees: (state == MeetingState::Svolto).then(|| "Richiedente".into()),
            justification: None,
            recorded_by: if held { recorded_by } else { None },
            recorded_at: held.then_some(at + Duration::minutes(60)),
            version: 1,
            created_at: at - Duration::days(7),
        };
        self.rows.meetings.push(row);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        s: &AmbitoSeed,
        comune: &data::ComuneRef,
        case_id: Option<Uuid>,
        check_id: Option<Uuid>,
        member_id: Uuid,
        kind: ReportKind,
        fact: NaiveDate,
        by: Option<Uuid>,
        state: ReportState,
    ) {
        let id = self.uuid();
        let row = report::Model {
            id,
            ambito_id: s.id,
            comune_istat: comune.istat.into(),
            case_id,
            residency_check_id: check_id,
            puc_assignment_id: None,
            member_id: Some(member_id),
            kind,
            state,
            fact_date: fact,
            ascertained_on: fact,
            description: match kind {
                ReportKind::MancataPresentazione => {
                    "Assenza all'incontro di monitoraggio senza giustificato motivo.".into()
                }
                ReportKind::MancataSottoscrizione => "Il nucleo non ha sottoscritto il patto.".into(),
                ReportKind::RequisitoResidenza => "Requisito di residenza non soddisfatto.".into(),
                _ => "Fatto rilevante ai fini sanzionatori.".into(),
            },
            created_by: by,
            decided_by: None,
            decided_at: None,
            decision_comment: None,
            sent_at: None,
            inps_ack: None,
            rectification_of: None,
            annuls: false,
            override_reason: None,
            version: 1,
            created_at: Self::noon(fact),
        };
        self.rows.reports.push(row);
    }

    fn puc_assignment(
        &mut self,
        s: &mut AmbitoSeed,
        comune: &data::ComuneRef,
        case_id: Uuid,
        m: &MemberSeed,
        cm: Option<Uuid>,
    ) {
        let today = self.today();
        let Some(projects) = s.projects.get_mut(comune.istat) else { return };
        // Guards: a free place for the source, residual benefit ≥ minimum duration.
        let source_idx = if self.rng.gen_bool(0.7) { 0 } else { 1 };
        let Some(p) = projects.iter_mut().find(|p| p.free[source_idx] > 0 && m.residual_months >= p.min_months) else {
            return;
        };
        p.free[source_idx] -= 1;
        let (pid, min_months, p_start) = (p.id, p.min_months, p.starts_on);
        let id = self.uuid();
        let state = self.pick(&[
            PucAssignmentState::Proposto,
            PucAssignmentState::Attivo,
            PucAssignmentState::Attivo,
            PucAssignmentState::Completato,
            PucAssignmentState::Interrotto,
        ]);
        let starts_on = (p_start + Duration::days(self.range(0, 30))).min(today);
        let interrupted = state == PucAssignmentState::Interrotto;
        let row = puc_assignment::Model {
            id,
            project_id: pid,
            member_id: m.id,
            case_id: Some(case_id),
            source: if source_idx == 0 { PlaceSource::Comune } else { PlaceSource::Cpi },
            state,
            proposed_by: cm,
            proposed_at: Some(Self::noon(starts_on - Duration::days(10))),
            starts_on: (state != PucAssignmentState::Proposto).then_some(starts_on),
            planned_end_on: Some(starts_on + Duration::days(30 * min_months as i64)),
            weekly_hours: 8,
            interruption_reason: interrupted.then_some(InterruptionReason::Rinuncia),
            interrupted_on: interrupted.then(|| (starts_on + Duration::days(20)).min(today)),
            inail_ref: (state != PucAssignmentState::Proposto)
                .then(|| format!("INAIL-{}", self.range(1_000_000, 9_999_999))),
            version: 1,
        };
        self.rows.assignments.push(row);
        if state == PucAssignmentState::Attivo {
            let mut day = today - Duration::days(14);
            while day < today {
                if matches!(day.weekday(), Weekday::Mon | Weekday::Thu) && day >= starts_on {
                    let aid = self.uuid();
                    let r = self.range(1, 10);
                    let status = match r {
                        1 => AttendanceStatus::AssenteGiustificato,
                        2 => AttendanceStatus::AssenteIngiustificato,
                        _ => AttendanceStatus::Presente,
                    };
                    let row = puc_attendance::Model {
                        id: aid,
                        assignment_id: id,
                        day,
                        minutes: if status == AttendanceStatus::Presente { 240 } else { 0 },
                        status,
                        note: None,
                    };
                    self.rows.attendance.push(row);
                }
                day += Duration::days(1);
            }
        }
    }

    fn residency_check(
        &mut self,
        s: &mut AmbitoSeed,
        comune: &data::ComuneRef,
        hh: Uuid,
        app: Uuid,
        member: Uuid,
        pad: NaiveDate,
    ) {
        let today = self.today();
        let id = self.uuid();
        let state = self.pick(&[
            ResidencyCheckState::DaAssegnare,
            ResidencyCheckState::Assegnato,
            ResidencyCheckState::InLavorazione,
            ResidencyCheckState::InLavorazione,
            ResidencyCheckState::Inoltrato,
            ResidencyCheckState::EsitoPositivo,
            ResidencyCheckState::EsitoNegativo,
        ]);
        let officers = &s.staff.check_officers[comune.istat];
        let officer = (state != ResidencyCheckState::DaAssegnare).then(|| officers[0]);
        // A forwarded check sits with the previous Comune of residence; in the
        // synthetic data that is another Comune of the same Ambito, when there is one.
        let others: Vec<&'static data::ComuneRef> =
            s.reference.comuni.iter().filter(|c| c.istat != comune.istat).collect();
        let state = if state == ResidencyCheckState::Inoltrato && others.is_empty() {
            ResidencyCheckState::InLavorazione
        } else {
            state
        };
        let current =
            if state == ResidencyCheckState::Inoltrato { others[self.rng.gen_range(0..others.len())] } else { comune };
        let started = pad + Duration::days(self.range(1, 20));
        let outcome = match state {
            ResidencyCheckState::EsitoPositivo => Some(ResidencyOutcome::Positivo),
            ResidencyCheckState::EsitoNegativo => Some(ResidencyOutcome::Negativo),
            _ => None,
        };
        let row = residency_check::Model {
            id,
            kind: ResidencyCheckKind::Residenza,
            household_id: hh,
            member_id: member,
            application_id: Some(app),
            owning_comune_istat: comune.istat.into(),
            current_comune_istat: current.istat.into(),
            ambito_id: s.id,
            officer_id: if current.istat == comune.istat { officer } else { None },
            state,
            due_on: if state == ResidencyCheckState::Inoltrato {
                today + Duration::days(self.range(-5, 20))
            } else {
                started + Duration::days(30)
            },
            forwarded_at: (state == ResidencyCheckState::Inoltrato)
                .then(|| Self::noon(today - Duration::days(self.range(1, 20)))),
            outcome,
            finalised_at: outcome.map(|_| Self::noon((started + Duration::days(self.range(5, 25))).min(today))),
            override_reason: None,
            override_note: None,
            version: 1,
            created_at: Self::noon(started),
        };
        self.rows.checks.push(row);
        if !matches!(state, ResidencyCheckState::DaAssegnare | ResidencyCheckState::Assegnato) {
            let from = today - Duration::days(365 * self.range(1, 12));
            let pid = self.uuid();
            let row = residency_period::Model {
                id: pid,
                check_id: id,
                comune_istat: comune.istat.into(),
                from_on: from,
                to_on: None,
                entered_by: officer,
                entered_in_comune: comune.istat.into(),
            };
            self.rows.periods.push(row);
        }
        if state == ResidencyCheckState::EsitoNegativo {
            self.report(
                s,
                comune,
                None,
                Some(id),
                member,
                ReportKind::RequisitoResidenza,
                today - Duration::days(2),
                officer,
                ReportState::DaApprovare,
            );
        }
    }

    fn disadvantage(&mut self, s: &mut AmbitoSeed, comune: &data::ComuneRef, hh: Uuid, member: Uuid) {
        let today = self.today();
        let id = self.uuid();
        let received = self.days_ago(0, 90);
        let category = self.pick(&[
            DisadvantageCategory::DisturbiMentali,
            DisadvantageCategory::Disabilita,
            DisadvantageCategory::Dipendenze,
            DisadvantageCategory::VittimeTratta,
            DisadvantageCategory::VittimeViolenzaGenere,
            DisadvantageCategory::ExDetenuti,
            DisadvantageCategory::FragilitaAccoglienza,
            DisadvantageCategory::SenzaDimora,
            DisadvantageCategory::NeomaggiorenniFuoriFamiglia,
        ]);
        let state = self.pick(&[
            DisadvantageState::Ricevuta,
            DisadvantageState::InVerifica,
            DisadvantageState::Confermata,
            DisadvantageState::NonConfermata,
        ]);
        let decided = matches!(state, DisadvantageState::Confermata | DisadvantageState::NonConfermata);
        let validator = s.staff.validators[self.rng.gen_range(0..s.staff.validators.len())];
        let serial = self.next_serial();
        let cert_from = received - Duration::days(self.range(100, 700));
        let row = disadvantage_check::Model {
            id,
            inps_request_id: format!("INPS-SVA-{}-{:08}", today.year(), serial),
            household_id: hh,
            member_id: member,
            ambito_id: s.id,
            certifying_comune_istat: comune.istat.into(),
            category,
            certificate_protocol: Some(format!("PROT-{}/{}", self.range(1000, 99999), cert_from.year())),
            certificate_from: Some(cert_from),
            certificate_to: Some(cert_from + Duration::days(730)),
            received_on: received,
            state,
            notes: decided.then(|| "Verificata la presa in carico presso i servizi.".into()),
            decided_by: decided.then_some(validator),
            decided_at: decided.then(|| Self::noon((received + Duration::days(self.range(1, 50))).min(today))),
            sent_to_inps_at: None,
            version: 1,
        };
        self.rows.disadvantage.push(row);
    }
}

/// Letters only, accents removed, for codici fiscali and e-mail addresses.
fn fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'à' | 'á' => Some('a'),
            'è' | 'é' => Some('e'),
            'ì' => Some('i'),
            'ò' => Some('o'),
            'ù' => Some('u'),
            c if c.is_ascii_alphabetic() => Some(c),
            _ => None,
        })
        .collect()
}
