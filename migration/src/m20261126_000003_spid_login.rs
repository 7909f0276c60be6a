//! SPID login: the AuthnRequests in flight, and sessions that may wait for the
//! operator to choose a profile.
//!
//! `saml_request` holds each AuthnRequest the service sent, until its Response
//! arrives or it expires: the ACS consumes the row in one statement, so a
//! Response is accepted at most once (replay protection) on any instance.
//!
//! `session` is recreated: `profile_id` becomes nullable (an operator with
//! several profiles logs in first and chooses one after), and the SPID identity
//! of the login (IdP, NameID and its qualifier) is kept for single logout.
//! Sessions are short-lived credentials, not records: operators log in again
//! after this migration.

use crate::table_def::TableDef;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn session(profile_nullable: bool, saml_columns: bool) -> TableDef {
    let mut cols = vec![
        pk_uuid("id"),
        string_len_uniq("token_hash", 64),
        uuid("operator_id"),
        if profile_nullable { uuid_null("profile_id") } else { uuid("profile_id") },
        string_len("auth_method", 40),
        small_integer("auth_level"),
    ];
    if saml_columns {
        cols.extend([string_null("idp_entity_id"), string_len_null("name_id", 256), string_null("name_id_qualifier")]);
    }
    cols.extend([
        timestamp_with_time_zone("created_at"),
        timestamp_with_time_zone("expires_at"),
        timestamp_with_time_zone("last_seen_at"),
        timestamp_with_time_zone_null("revoked_at"),
    ]);
    let t = TableDef::new("session")
        .cols(cols)
        .fk("operator_id", "operator", "id")
        .fk("profile_id", "profile", "id")
        .idx(&["operator_id"])
        .idx(&["profile_id"]);
    if saml_columns {
        t.idx(&["name_id"])
    } else {
        t
    }
}

fn saml_request() -> TableDef {
    TableDef::new("saml_request").cols([
        // The AuthnRequest ID ("_" + UUID), matched by the Response's InResponseTo.
        string_len("id", 64).primary_key().take(),
        // SHA-256 of the one-time RelayState handle.
        string_len_uniq("relay_state_hash", 64),
        string("idp_entity_id"),
        string_len("requested_level", 40),
        timestamp_with_time_zone("issue_instant"),
        string_len("next_path", 512),
        timestamp_with_time_zone("expires_at"),
    ])
}

/// Drops the session table and its indexes (named explicitly: index names are
/// global to the database).
async fn drop_session(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for ix in ["ix_session_operator_id", "ix_session_profile_id", "ix_session_name_id"] {
        manager.get_connection().execute_unprepared(&format!("DROP INDEX IF EXISTS {ix}")).await?;
    }
    manager.drop_table(Table::drop().table("session").to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Atomic even when run on its own through sea-orm-migration (whose default
    /// leaves SQLite without a transaction); `gepi::db::migrate` also wraps the
    /// whole chain in one transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_session(manager).await?;
        session(true, true).create(manager).await?;
        saml_request().idx(&["expires_at"]).create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("saml_request").to_owned()).await?;
        drop_session(manager).await?;
        session(false, false).create(manager).await
    }
}
