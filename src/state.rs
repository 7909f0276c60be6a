//! `AppState`: everything a request needs that lives as long as the process.
//! Built once (policies compiled here); per-request data (the principal, the
//! request id, the loaders) travels on the request itself.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{authz::Policy, config::Config, schema::GepiSchema};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// The primary: read-write.
    pub db: DatabaseConnection,
    /// The read replica, when one is configured (`db::replica`): queries'
    /// reads only.
    pub replica: Option<Arc<crate::db::replica::Replica>>,
    pub policy: Arc<Policy>,
    pub schema: GepiSchema,
    /// Field types of the schema, for the strict-mode check before execution.
    pub schema_index: Arc<crate::authz::strict::SchemaIndex>,
    /// Principals of recent tokens (see [`crate::auth::cache`]).
    pub principals: Arc<crate::auth::cache::PrincipalCache>,
    /// Operation documents that passed the bounds (`graphql::limits`).
    pub checked_documents: Arc<crate::graphql::limits::CheckedDocuments>,
    /// Counters served at `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// Per source address limit on the anonymous login endpoints.
    pub login_limiter: Arc<crate::ratelimit::LoginLimiter>,
    /// The hourly quotas of API clients, charged per operation.
    pub quotas: Arc<crate::ratelimit::Quotas>,
    /// The audit trail's Merkle tree: its checkpoints and proofs.
    pub audit_log: Arc<crate::audit::log::Publisher>,
    /// The SPID service provider, when SAML is configured.
    #[cfg(feature = "spid")]
    pub spid: Option<Arc<crate::spid::Sp>>,
}

impl AppState {
    /// Compiles the policies against the schema; invalid policies fail here.
    pub async fn new(config: Config, db: DatabaseConnection) -> Result<Self, crate::authz::policy::PolicyError> {
        Self::with_metrics(config, db, crate::metrics::Metrics::new()).await
    }

    /// The state serving `metrics` (the server counts the statements of its
    /// connection into them: see [`crate::metrics::Metrics::count_statements`]).
    pub async fn with_metrics(
        config: Config,
        db: DatabaseConnection,
        metrics: crate::metrics::Metrics,
    ) -> Result<Self, crate::authz::policy::PolicyError> {
        let config = Arc::new(config);
        let sdl = crate::schema::sdl();
        let policy = Arc::new(Policy::load(&sdl, crate::api::views::OWN_ROW_TYPES).await?);
        let principals = Arc::new(crate::auth::cache::PrincipalCache::new(&config, Default::default()));
        // Other instances' changes to who may act, as they commit.
        if config.is_postgres() && config.session_cache_secs > 0 {
            crate::auth::cache::listen(config.database_url.clone(), Arc::downgrade(&principals));
        }
        let schema =
            crate::schema::build_schema(db.clone(), config.clone(), policy.clone(), principals.epoch().clone());
        let schema_index = Arc::new(crate::authz::strict::SchemaIndex::from_sdl(&sdl));
        let login_limiter = Arc::new(crate::ratelimit::login_limiter(&config));
        // The configuration was validated: its key parses.
        let audit_log = Arc::new(crate::audit::log::Publisher::new(
            config.audit_signer().ok().flatten(),
            config.audit_checkpoint_secs,
            config.audit_checkpoint_dir.clone(),
        ));
        Ok(AppState {
            audit_log,
            checked_documents: Arc::default(),
            principals,
            metrics,
            login_limiter,
            quotas: Arc::default(),
            config,
            db,
            replica: None,
            policy,
            schema,
            schema_index,
            #[cfg(feature = "spid")]
            spid: None,
        })
    }

    /// The same state reading queries from `replica` when it may: starts its
    /// poller and its listener for other instances' writes, which stop when
    /// the last state holding it is dropped.
    pub fn with_replica(mut self, replica: Option<Arc<crate::db::replica::Replica>>) -> Self {
        if let Some(r) = &replica {
            r.watch();
            r.listen(self.config.database_url.clone());
        }
        self.replica = replica;
        self
    }

    /// The same state with SPID login served by `sp`.
    #[cfg(feature = "spid")]
    pub fn with_spid(mut self, sp: Arc<crate::spid::Sp>) -> Self {
        self.spid = Some(sp);
        self
    }
}
