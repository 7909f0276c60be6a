//! Sessions: opaque random tokens of 256 bits, stored only as their SHA-256,
//! with an absolute expiry and an idle timeout, bound to one operator and, once
//! chosen, one profile. A SPID login of an operator with several profiles opens a
//! session without a profile: until `switchProfile` binds one, it can only list
//! the profiles, choose, and log out. Sessions live in the database, so any
//! instance can serve any request.

use std::sync::Arc;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use entity::{
    enums::{AuthMethod, OperatorStatus},
    operator, session,
};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::principal::{Actor, PendingSession, Principal};
use crate::unscoped::Unscoped;
use crate::{config::Config, error::AppError, operators::service as operators};

/// How often `last_seen_at` is refreshed: at most once a minute per session, so
/// that reads do not turn into a write each.
const TOUCH_INTERVAL_SECS: i64 = 60;

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A session just issued: the token is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub session_id: Uuid,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The SPID identity a session was opened with, kept for single logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlIdentity {
    pub idp_entity_id: String,
    pub name_id: String,
    pub name_id_qualifier: String,
}

/// What a new session is bound to.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub operator_id: Uuid,
    /// None: the operator chooses a profile after logging in.
    pub profile_id: Option<Uuid>,
    pub method: AuthMethod,
    pub level: i16,
    pub saml: Option<SamlIdentity>,
}

pub async fn issue<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    new: NewSession,
    now: DateTime<Utc>,
) -> Result<IssuedSession, AppError> {
    let NewSession { operator_id, profile_id, method, level, saml } = new;
    let token = new_token();
    let expires_at = now + Duration::seconds(config.session_lifetime_secs);
    let id = Uuid::now_v7();
    session::ActiveModel {
        id: Set(id),
        token_hash: Set(hash_token(&token)),
        operator_id: Set(operator_id),
        profile_id: Set(profile_id),
        auth_method: Set(method),
        auth_level: Set(level),
        idp_entity_id: Set(saml.as_ref().map(|s| s.idp_entity_id.clone())),
        name_id: Set(saml.as_ref().map(|s| s.name_id.clone())),
        name_id_qualifier: Set(saml.as_ref().map(|s| s.name_id_qualifier.clone())),
        created_at: Set(now),
        expires_at: Set(expires_at),
        last_seen_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    operator::Entity::update_many()
        .col_expr(operator::Column::LastLoginAt, sea_orm::sea_query::Expr::value(now))
        .filter(operator::Column::Id.eq(operator_id))
        .exec(db)
        .await?;
    Ok(IssuedSession { session_id: id, token, expires_at })
}

/// A valid session: bound to a profile, or waiting for the operator to choose one.
#[derive(Debug, Clone)]
pub enum SessionState {
    Active(Principal),
    ChooseProfile(PendingSession),
}

impl From<SessionState> for crate::principal::Authn {
    fn from(s: SessionState) -> Self {
        match s {
            SessionState::Active(p) => crate::principal::Authn::Authenticated(p),
            SessionState::ChooseProfile(p) => crate::principal::Authn::ChooseProfile(p),
        }
    }
}

/// Resolves a token into its session, refusing unknown, revoked, expired and
/// idle sessions, and sessions whose operator or profile is no longer in force.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SessionState, AppError> {
    Ok(check(db, config, &hash_token(token), now).await?.state)
}

/// A session as checked at `now`, with the instants after which it is refused
/// whatever the database says (for the principal cache).
#[derive(Debug, Clone)]
pub struct Checked {
    pub state: SessionState,
    pub expires_at: DateTime<Utc>,
    /// The idle deadline as of this check (`last_seen_at`, refreshed at most
    /// once a minute, plus the idle timeout).
    pub idle_until: DateTime<Utc>,
}

/// [`authenticate`] from the token's hash.
pub async fn check<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Checked, AppError> {
    let refused = |why: &str| AppError::Unauthenticated(format!("session refused: {why}; log in again"));
    let s = Unscoped::Login
        .find::<session::Entity>()
        .filter(session::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .ok_or_else(|| refused("unknown token"))?;
    if s.revoked_at.is_some() {
        return Err(refused("it was revoked"));
    }
    if s.expires_at <= now {
        return Err(refused("it expired"));
    }
    let idle = Duration::seconds(config.session_idle_secs);
    if s.last_seen_at + idle <= now {
        return Err(refused("it was idle too long"));
    }
    let op = operators::operator_by_id(db, s.operator_id).await?;
    if op.is_none_or(|o| o.status != OperatorStatus::Active) {
        return Err(refused("the operator is no longer accredited"));
    }
    let profile = match s.profile_id {
        Some(pid) => {
            Some(operators::profile_for_login(db, s.operator_id, pid, crate::calendar::today()).await.map_err(|e| {
                match e {
                    // The database could not answer: the session is not refused.
                    AppError::Unavailable { .. } | AppError::Internal(_) => e,
                    _ => refused("the profile is no longer in force"),
                }
            })?)
        }
        None => None,
    };
    let mut last_seen = s.last_seen_at;
    if (now - s.last_seen_at).num_seconds() >= TOUCH_INTERVAL_SECS {
        let mut am = s.clone().into_active_model();
        am.last_seen_at = Set(now);
        am.update(db).await?;
        last_seen = now;
    }
    let (expires_at, idle_until) = (s.expires_at, last_seen + idle);
    let Some(profile) = profile else {
        let state = SessionState::ChooseProfile(PendingSession { operator_id: s.operator_id, session_id: s.id });
        return Ok(Checked { state, expires_at, idle_until });
    };
    let comuni = operators::profile_comuni_in_force(db, &profile, crate::calendar::today()).await?;
    let state = SessionState::Active(Principal {
        actor: Actor::Operator { operator_id: s.operator_id, profile_id: profile.id, session_id: s.id },
        role: profile.role,
        ambito_id: profile.ambito_id,
        comuni: Arc::new(comuni),
        terms: None,
    });
    Ok(Checked { state, expires_at, idle_until })
}

/// Revokes a session (logout). Revoking twice is harmless.
pub async fn revoke<C: ConnectionTrait>(db: &C, session_id: Uuid, now: DateTime<Utc>) -> Result<(), AppError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every live session opened with this SPID identity (single logout);
/// returns how many were revoked.
pub async fn revoke_saml<C: ConnectionTrait>(
    db: &C,
    idp_entity_id: &str,
    name_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let r = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .filter(session::Column::NameId.eq(name_id))
        .filter(session::Column::IdpEntityId.eq(idp_entity_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Binds a session to a profile of the same operator (the first choice after a
/// login, or a switch).
pub async fn switch_profile<C: ConnectionTrait>(db: &C, session_id: Uuid, profile_id: Uuid) -> Result<(), AppError> {
    session::Entity::update_many()
        .col_expr(session::Column::ProfileId, sea_orm::sea_query::Expr::value(profile_id))
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await?;
    Ok(())
}
