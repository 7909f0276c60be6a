//! `AppState`: everything a request needs that lives as long as the process.
//! Built once; per-request data (the principal, the request id) travels on the
//! request itself.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{config::Config, graphql::GepiSchema};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub schema: GepiSchema,
}

impl AppState {
    pub fn new(config: Config, db: DatabaseConnection) -> Self {
        let config = Arc::new(config);
        let schema = crate::graphql::build_schema(db.clone(), config.clone());
        AppState { config, db, schema }
    }
}
