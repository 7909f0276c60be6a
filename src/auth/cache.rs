//! The principals of recent tokens, kept in memory for a few seconds so that an
//! authenticated request does not read its session, operator, profile and
//! Comuni again (four statements) on every call.
//!
//! When a cached principal stops being served:
//! - at once, on this instance, after any committed change to who may act —
//!   logout, profile switch, single logout, an operator or a profile suspended,
//!   revoked, renewed or given other Comuni, a convention: they advance the
//!   [`PrincipalEpoch`], and an entry read before the last advance is stale;
//! - on PostgreSQL, at once after such a change committed anywhere else (another
//!   instance, the command line, plain SQL): triggers on the tables a principal
//!   is read from notify the channel [`CHANNEL`] at commit, and [`listen`]
//!   advances the epoch of this instance on each notification, and whenever its
//!   connection was lost (a notification may have been missed meanwhile);
//! - at most `session_cache_secs` (`GEPI_SESSION_CACHE_SECS`, 5 by default, 60 at
//!   most) after a change made elsewhere when nothing tells this instance (on
//!   SQLite, or while the listener is reconnecting): the entry is then read
//!   again;
//! - at once when its session expires or goes idle (the instants are cached), and
//!   at midnight in Italy, when what is in force "today" (a profile, a
//!   convention) is read again.
//!
//! Refusals are not cached (an unknown token costs its one statement). The
//! cache holds at most [`CAPACITY`] tokens; beyond, the least used are dropped.

use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;

use super::{api_key, session};
use crate::{
    config::Config,
    error::AppError,
    principal::{Authn, PrincipalEpoch},
};

/// Tokens kept: a few hundred bytes each.
pub const CAPACITY: usize = 20_000;

/// The PostgreSQL channel on which a committed change to who may act is
/// announced (migration `m20261211_000001_principal_changes`).
pub const CHANNEL: &str = "gepi_principals";

/// On PostgreSQL, listens on [`CHANNEL`] over a connection of its own (never
/// one of the serving pool) and makes every principal `cache` holds stale on
/// each notification, and after each reconnection. Ends when `cache` is
/// dropped and the listener next wakes (a notification, a lost connection).
pub fn listen(url: String, cache: std::sync::Weak<PrincipalCache>) -> tokio::task::JoinHandle<()> {
    // A notification, or listening again after a loss (a change may have
    // been missed meanwhile): either way, read again.
    crate::db::listen(url, &[CHANNEL], move |_| match cache.upgrade() {
        Some(c) => {
            c.epoch.advance();
            true
        }
        None => false,
    })
}

#[derive(Clone)]
struct Entry {
    authn: Authn,
    /// The epoch read before the database was: a change committed during the
    /// read makes the entry stale.
    epoch: u64,
    fresh_until: DateTime<Utc>,
    /// Expiry or idle deadline of the session, whichever comes first.
    valid_until: DateTime<Utc>,
}

pub struct PrincipalCache {
    ttl: Duration,
    epoch: PrincipalEpoch,
    entries: quick_cache::sync::Cache<String, Entry>,
}

impl PrincipalCache {
    pub fn new(config: &Config, epoch: PrincipalEpoch) -> Self {
        PrincipalCache {
            ttl: Duration::seconds(config.session_cache_secs as i64),
            epoch,
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    /// The epoch whose advance makes every entry stale.
    pub fn epoch(&self) -> &PrincipalEpoch {
        &self.epoch
    }

    /// The principal of a session token or an API key at `now`: from memory if it
    /// was read less than `session_cache_secs` ago and nothing that could change
    /// it has been committed here since; otherwise from the database.
    pub async fn authenticate<C: ConnectionTrait>(
        &self,
        db: &C,
        config: &Config,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Authn, AppError> {
        let hash = session::hash_token(token);
        let epoch = self.epoch.current();
        if self.ttl > Duration::zero() {
            if let Some(e) = self.entries.get(&hash) {
                if e.epoch == epoch && now < e.fresh_until && now < e.valid_until {
                    return Ok(e.authn);
                }
            }
        }
        let read = if api_key::is_api_key(token) {
            api_key::authenticate(db, token).await.map(|p| (Authn::Authenticated(p), DateTime::<Utc>::MAX_UTC))
        } else {
            session::check(db, config, &hash, now).await.map(|c| (Authn::from(c.state), c.expires_at.min(c.idle_until)))
        };
        let (authn, valid_until) = match read {
            Ok(r) => r,
            Err(e) => {
                // Refused now: whatever this instance held for the token is gone.
                self.entries.remove(&hash);
                return Err(e);
            }
        };
        // What is in force today (profiles, conventions) is read again tomorrow.
        let valid_until = valid_until.min(crate::calendar::next_day_starts(now));
        if self.ttl > Duration::zero() {
            let entry = Entry { authn: authn.clone(), epoch, fresh_until: now + self.ttl, valid_until };
            self.entries.insert(hash, entry);
        }
        Ok(authn)
    }
}
