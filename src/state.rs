//! `AppState`: everything a request needs that lives as long as the process.
//! Built once (policies compiled here); per-request data (the principal, the
//! request id, the loaders) travels on the request itself.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{authz::Policy, config::Config, graphql::GepiSchema};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub policy: Arc<Policy>,
    pub schema: GepiSchema,
}

impl AppState {
    /// Compiles the policies against the schema; invalid policies fail here.
    pub async fn new(config: Config, db: DatabaseConnection) -> Result<Self, crate::authz::policy::PolicyError> {
        let config = Arc::new(config);
        let policy = Arc::new(Policy::load(&crate::graphql::sdl()).await?);
        let schema = crate::graphql::build_schema(db.clone(), config.clone(), policy.clone());
        Ok(AppState { config, db, policy, schema })
    }
}
