//! Schema migrations of GePI. One change per file, each with `up` and `down`;
//! the same statements run on SQLite (embedded default) and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_domain_schema;
mod m20261126_000002_audit_append_only;
mod m20261126_000003_spid_login;
mod m20261202_000001_saml_logout_replay;
mod m20261202_000002_support_active_once;
mod m20261202_000003_accreditation;
mod m20261206_000001_api_client_quota;
mod m20261206_000002_api_client_document;
mod m20261206_000003_inps_feed;
mod m20261206_000004_partner_event;
mod m20261207_000001_record_key;
mod m20261207_000002_member_count;
mod m20261207_000003_case_household_size;
mod m20261208_000001_workflow_integrity;
mod m20261208_000002_case_transfer;
mod m20261208_000003_case_referral;
mod m20261209_000001_audit_tree;
mod m20261209_000002_retention;
mod m20261210_000001_audit_xid;
mod m20261210_000002_audit_partitions;
mod m20261211_000001_principal_changes;
mod table_def;

/// What the database answers when a change would break the Ambito administrator rules.
pub use m20261202_000003_accreditation::ONE_ADMIN as ONE_AMBITO_ADMIN;
/// The tables whose rows carry a record key for the cell-key method.
pub use m20261207_000001_record_key::UNIT_TABLES;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_domain_schema::Migration),
            Box::new(m20261126_000002_audit_append_only::Migration),
            Box::new(m20261126_000003_spid_login::Migration),
            Box::new(m20261202_000001_saml_logout_replay::Migration),
            Box::new(m20261202_000002_support_active_once::Migration),
            Box::new(m20261202_000003_accreditation::Migration),
            Box::new(m20261206_000001_api_client_quota::Migration),
            Box::new(m20261206_000002_api_client_document::Migration),
            Box::new(m20261206_000003_inps_feed::Migration),
            Box::new(m20261206_000004_partner_event::Migration),
            Box::new(m20261207_000001_record_key::Migration),
            Box::new(m20261207_000002_member_count::Migration),
            Box::new(m20261207_000003_case_household_size::Migration),
            Box::new(m20261208_000001_workflow_integrity::Migration),
            Box::new(m20261208_000002_case_transfer::Migration),
            Box::new(m20261208_000003_case_referral::Migration),
            Box::new(m20261209_000001_audit_tree::Migration),
            Box::new(m20261209_000002_retention::Migration),
            Box::new(m20261210_000001_audit_xid::Migration),
            Box::new(m20261210_000002_audit_partitions::Migration),
            Box::new(m20261211_000001_principal_changes::Migration),
        ]
    }
}
