//! sea-orm entities of GePI: one module per table. Table rows only: no business
//! logic and no GraphQL here (domain types live in the service crate).

pub mod ambito;
pub mod analysis_framework;
pub mod analysis_team_member;
pub mod api_client;
pub mod application;
pub mod audit_event;
pub mod case_file;
pub mod comune;
pub mod convention;
pub mod convention_document;
pub mod disadvantage_check;
pub mod enums;
pub mod household;
pub mod meeting;
pub mod member;
pub mod office_slot;
pub mod operator;
pub mod pact;
pub mod pact_commitment;
pub mod pact_commitment_member;
pub mod pact_expected_result;
pub mod pact_objective;
pub mod preliminary_analysis;
pub mod profile;
pub mod profile_comune;
pub mod puc_assignment;
pub mod puc_attendance;
pub mod puc_project;
pub mod report;
pub mod residency_check;
pub mod residency_period;
pub mod saml_logout_request;
pub mod saml_request;
pub mod session;
pub mod support;
