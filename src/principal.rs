//! Who acts in a request: an operator logged in with one of its profiles, or an
//! integration partner with an API key, and what authentication concluded.
//! Kernel of identity: authentication (`auth`, `spid`) produces these types,
//! authorization, audit and every use case consume them; it imports nothing of
//! the crate above `error`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use entity::enums::Role;
use uuid::Uuid;

use crate::error::AppError;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person, logged in with one of their profiles.
    Operator { operator_id: Uuid, profile_id: Uuid, session_id: Uuid },
    /// An integration partner calling with an API key.
    ApiClient { client_id: Uuid },
}

impl Actor {
    /// The operator or the API client acting (any profile, any session).
    pub fn id(&self) -> Uuid {
        match self {
            Actor::Operator { operator_id, .. } => *operator_id,
            Actor::ApiClient { client_id } => *client_id,
        }
    }
}

/// The authenticated subject of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    /// The profile's Ambito; None for national roles.
    pub ambito_id: Option<Uuid>,
    /// ISTAT codes of the Comuni the profile covers.
    pub comuni: Arc<Vec<String>>,
    /// What an API client's key allows beyond its role (None for operators).
    pub terms: Option<Arc<ClientTerms>>,
}

/// The terms of an API client's key, read with the key: how much it may run,
/// and what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTerms {
    /// Points of operation cost per hour; None: the deployment's default.
    pub quota_points_per_hour: Option<u32>,
    /// Whether the client registered documents: it may then run only those.
    pub documents_only: bool,
    /// The documents the client registered, by the SHA-256 of their text.
    pub documents: std::collections::HashMap<[u8; 32], Arc<str>>,
}

impl Principal {
    /// The active profile (None for API clients).
    pub fn profile_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::Operator { profile_id, .. } => Some(profile_id),
            Actor::ApiClient { .. } => None,
        }
    }
}

/// A session whose operator has not chosen a profile yet: it may list the
/// profiles (`profileChoices`), choose one (`switchProfile`) and log out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingSession {
    pub operator_id: Uuid,
    pub session_id: Uuid,
}

/// What authentication concluded for a request, placed in the GraphQL context.
#[derive(Debug, Clone)]
pub enum Authn {
    /// No credentials were sent.
    Anonymous,
    /// Credentials were sent and refused (expired, revoked, unknown): the reason.
    Rejected(String),
    /// Credentials were sent and could not be checked: the database cannot
    /// serve now (`UNAVAILABLE`: the client keeps its token and tries again).
    Unchecked(AppError),
    /// A valid session that has no profile yet.
    ChooseProfile(PendingSession),
    Authenticated(Principal),
}

impl Authn {
    /// The principal, or `UNAUTHENTICATED` with the reason.
    pub fn principal(&self) -> Result<&Principal, AppError> {
        match self {
            Authn::Authenticated(p) => Ok(p),
            Authn::Anonymous => Err(AppError::Unauthenticated(
                "authentication required: send a session token as `Authorization: Bearer <token>`".into(),
            )),
            Authn::Rejected(reason) => Err(AppError::Unauthenticated(reason.clone())),
            Authn::Unchecked(e) => Err(e.clone()),
            Authn::ChooseProfile(_) => Err(AppError::ProfileRequired(
                "choose a profile first: list them with `profileChoices`, activate one with `switchProfile`".into(),
            )),
        }
    }

    /// The operator's session, with or without a profile (None for API keys and
    /// anonymous requests).
    pub fn operator_session(&self) -> Option<(PendingSession, Option<&Principal>)> {
        match self {
            Authn::ChooseProfile(p) => Some((*p, None)),
            Authn::Authenticated(p) => match p.actor {
                Actor::Operator { operator_id, session_id, .. } => {
                    Some((PendingSession { operator_id, session_id }, Some(p)))
                }
                Actor::ApiClient { .. } => None,
            },
            _ => None,
        }
    }
}

/// Counts the changes, made through this instance, to who may act: sessions
/// revoked or switched, operators, profiles, their Comuni and conventions, API
/// clients. A principal cached before the last change is read again. Advance it
/// only after the change is committed: a principal read from the database in
/// between would otherwise be cached as current.
#[derive(Debug, Clone, Default)]
pub struct PrincipalEpoch(Arc<AtomicU64>);

impl PrincipalEpoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether an audited change of `entity` (the audit trail's entity name) can
    /// change a principal: the commit of such a change advances the epoch.
    pub fn concerns(entity: &str) -> bool {
        matches!(entity, "operator" | "profile" | "session" | "convention" | "api_client")
    }
}
