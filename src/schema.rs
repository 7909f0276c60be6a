//! Schema assembly: one root per domain merged into `Query` and `Mutation`,
//! with depth and complexity limits. Above every domain: it is the one place
//! that names them all. The SDL printed by `gepi schema` is checked in as
//! `schema.graphql`; a test fails when the two drift apart.

use std::sync::Arc;

use async_graphql::{EmptySubscription, MergedObject, Schema};
use sea_orm::DatabaseConnection;

use crate::{
    api::{
        audit::{AuditMutation, AuditQuery},
        cases::{CaseMutation, CaseQuery},
        disadvantage::{DisadvantageMutation, DisadvantageQuery},
        households::HouseholdQuery,
        meetings::{MeetingMutation, MeetingQuery},
        node::NodeQuery,
        operators::{OperatorMutation, OperatorQuery},
        partners::PartnerQuery,
        puc::{PucMutation, PucQuery},
        reports::{ReportMutation, ReportQuery},
        residency::{ResidencyMutation, ResidencyQuery},
        stats::{StatsMutation, StatsQuery},
        territory::{TerritoryMutation, TerritoryQuery},
        transfers::{TransferMutation, TransferQuery},
    },
    auth::graphql::{AuthMutation, AuthQuery},
    authz::Policy,
    config::Config,
    graphql::limits,
};

/// What an actor may read: each role sees its own part of the graph (fields it
/// may not read answer null and are listed in `extensions.redactions`; rows
/// outside its scope do not exist for it).
#[derive(MergedObject, Default)]
pub struct Query(
    AuthQuery,
    NodeQuery,
    TerritoryQuery,
    OperatorQuery,
    HouseholdQuery,
    MeetingQuery,
    PucQuery,
    ResidencyQuery,
    DisadvantageQuery,
    ReportQuery,
    PartnerQuery,
    StatsQuery,
    AuditQuery,
    CaseQuery,
    TransferQuery,
);

/// The workflows' steps: each checks the actor's permission and the current
/// state, takes the version read (a stale one is `CONFLICT`), and writes its
/// audit entries with the change.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    OperatorMutation,
    TerritoryMutation,
    CaseMutation,
    DisadvantageMutation,
    ResidencyMutation,
    MeetingMutation,
    PucMutation,
    ReportMutation,
    StatsMutation,
    TransferMutation,
    AuditMutation,
);

pub type GepiSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription).extension(limits::Bounds)
}

pub fn build_schema(
    db: DatabaseConnection,
    config: Arc<Config>,
    policy: Arc<Policy>,
    principals: crate::principal::PrincipalEpoch,
) -> GepiSchema {
    // "Did you mean …" would name fields a role is not shown: only the demo has it.
    let b = if config.demo { builder() } else { builder().disable_suggestions() };
    b.data(db).data(config).data(policy).data(principals).finish()
}

/// The SDL of the API, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}
