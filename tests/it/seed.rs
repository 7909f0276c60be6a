//! The synthetic data set: deterministic, valid, and covering every role and state.

use std::collections::{BTreeMap, BTreeSet};

use entity::{case_file, enums::*, member, operator, profile, profile_comune};
use gepi::{households::model::CodiceFiscale, seed::SeedOptions};
use sea_orm::{EntityTrait, QueryOrder};

use crate::helpers::{seed_today, TestApp};

fn opts(seed: u64) -> SeedOptions {
    SeedOptions { ambiti: 2, households: 150, seed, today: seed_today(), progress: false }
}

/// A fingerprint of the whole data set: every row of the main tables, in id order.
async fn dump(app: &TestApp) -> String {
    let db = &app.db;
    let mut out = String::new();
    out += &format!("{:?}", operator::Entity::find().order_by_asc(operator::Column::Id).all(db).await.unwrap());
    out += &format!("{:?}", profile::Entity::find().order_by_asc(profile::Column::Id).all(db).await.unwrap());
    out += &format!("{:?}", member::Entity::find().order_by_asc(member::Column::Id).all(db).await.unwrap());
    out += &format!("{:?}", case_file::Entity::find().order_by_asc(case_file::Column::Id).all(db).await.unwrap());
    out += &format!(
        "{:?}",
        entity::meeting::Entity::find().order_by_asc(entity::meeting::Column::Id).all(db).await.unwrap()
    );
    out += &format!(
        "{:?}",
        entity::pact_commitment::Entity::find()
            .order_by_asc(entity::pact_commitment::Column::Id)
            .all(db)
            .await
            .unwrap()
    );
    out
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data_and_another_seed_does_not() {
    let a = TestApp::new().await;
    let b = TestApp::new().await;
    let c = TestApp::new().await;
    let sa = gepi::seed::run(&a.db, &opts(7)).await.unwrap();
    let sb = gepi::seed::run(&b.db, &opts(7)).await.unwrap();
    gepi::seed::run(&c.db, &opts(8)).await.unwrap();
    assert_eq!(sa, sb, "row counts differ for the same seed");
    let (da, db, dc) = (dump(&a).await, dump(&b).await, dump(&c).await);
    assert!(da == db, "the same seed produced different rows");
    assert!(da != dc, "different seeds produced the same rows");
}

#[tokio::test]
async fn seeded_data_is_valid_and_covers_every_role_and_case_state() {
    let app = TestApp::seeded().await;
    let db = &app.db;
    for m in member::Entity::find().all(db).await.unwrap() {
        CodiceFiscale::parse(&m.fiscal_code).unwrap_or_else(|e| panic!("invalid seeded codice fiscale: {e}"));
    }
    let operators = operator::Entity::find().all(db).await.unwrap();
    for o in &operators {
        CodiceFiscale::parse(&o.fiscal_code).expect("valid operator codice fiscale");
    }
    let profiles = profile::Entity::find().all(db).await.unwrap();
    let links = profile_comune::Entity::find().all(db).await.unwrap();
    // Every person role has at least two operators, with different Ambiti or Comuni.
    type Assignments = BTreeSet<(Option<uuid::Uuid>, Vec<String>)>;
    let mut by_role: BTreeMap<String, Assignments> = BTreeMap::new();
    for p in &profiles {
        let mut comuni: Vec<String> =
            links.iter().filter(|l| l.profile_id == p.id).map(|l| l.comune_istat.clone()).collect();
        comuni.sort();
        by_role.entry(p.role.as_str()).or_default().insert((p.ambito_id, comuni));
    }
    for role in [
        Role::MinistryAdmin,
        Role::AmbitoAdmin,
        Role::PaisCoordinator,
        Role::CaseManager,
        Role::RegistryCheckCoordinator,
        Role::RegistryCheckOfficer,
        Role::PucManager,
        Role::SupportActivationOfficer,
        Role::MeetingRegistrar,
        Role::DisadvantageValidator,
        Role::Analyst,
    ] {
        let scopes = by_role.get(&role.as_str()).map_or(0, |s| s.len());
        let operators =
            profiles.iter().filter(|p| p.role == role).map(|p| p.operator_id).collect::<BTreeSet<_>>().len();
        assert!(operators >= 2, "role {} has {operators} operators", role.as_str());
        // National roles have no territorial scope to differ in.
        if role != Role::MinistryAdmin {
            assert!(scopes >= 2, "role {} has {scopes} distinct scopes", role.as_str());
        }
    }
    // Exactly one administrator per Ambito, holding no other profile in it.
    let admins: Vec<&profile::Model> = profiles.iter().filter(|p| p.role == Role::AmbitoAdmin).collect();
    assert_eq!(admins.len(), 2);
    for a in admins {
        assert_eq!(profiles.iter().filter(|p| p.operator_id == a.operator_id).count(), 1);
    }
    // Every case state appears; cases past the first meeting have an analysis.
    let cases = case_file::Entity::find().all(db).await.unwrap();
    let states: BTreeSet<String> = cases.iter().map(|c| format!("{:?}", c.state)).collect();
    assert_eq!(states.len(), 10, "states present: {states:?}");
    let analyses = entity::preliminary_analysis::Entity::find().all(db).await.unwrap();
    for c in cases.iter().filter(|c| c.first_meeting_on.is_some()) {
        assert!(analyses.iter().any(|a| a.case_id == c.id), "case past first meeting without analysis");
    }
    for c in &cases {
        assert_eq!(c.state == CaseState::DaAssegnare, c.case_manager_id.is_none());
    }
    // Signed pacts have objectives, commitments and supports.
    let pacts = entity::pact::Entity::find().all(db).await.unwrap();
    let objectives = entity::pact_objective::Entity::find().all(db).await.unwrap();
    let commitments = entity::pact_commitment::Entity::find().all(db).await.unwrap();
    let supports = entity::support::Entity::find().all(db).await.unwrap();
    let signed: Vec<_> = pacts.iter().filter(|p| p.state == PactState::Sottoscritto).collect();
    assert!(!signed.is_empty());
    for p in signed {
        assert!(objectives.iter().any(|o| o.pact_id == p.id));
        assert!(commitments.iter().any(|c| c.pact_id == p.id));
        assert!(supports.iter().any(|s| s.pact_id == Some(p.id)));
    }
    for t in ["meeting", "puc_project", "puc_assignment", "residency_check", "disadvantage_check", "convention"] {
        assert!(app.count(t).await > 0, "no rows in {t}");
    }
}

#[tokio::test]
async fn seeding_a_database_with_data_is_refused() {
    let app = TestApp::seeded().await;
    let before = app.count("household").await;
    let err = gepi::seed::run(&app.db, &opts(1)).await.unwrap_err();
    assert_eq!(err.code().as_str(), "CONFLICT");
    assert_eq!(app.count("household").await, before);
}

#[tokio::test]
async fn seed_options_are_validated() {
    let app = TestApp::new().await;
    let mut o = opts(1);
    o.ambiti = 99;
    assert_eq!(gepi::seed::run(&app.db, &o).await.unwrap_err().code().as_str(), "VALIDATION");
    assert_eq!(app.count("ambito").await, 0);
}
