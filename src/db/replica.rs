//! Reads from a PostgreSQL streaming replica (`GEPI_DATABASE_REPLICA_URL`),
//! with read-your-writes.
//!
//! PostgreSQL's own replication copies the primary; this module only decides,
//! per query, which of the two answers. A query reads from the replica when
//! all of these hold, and from the primary otherwise:
//! - the replica answers: a poller asks it for its position every
//!   [`POLL`], and a read that could not reach it marks it down until the
//!   next poll that does;
//! - it is at most `GEPI_REPLICA_MAX_LAG_MS` behind: the poller samples the
//!   primary's WAL position too, and the replica's lag is the age of the newest
//!   sample it has replayed;
//! - it has replayed the last write of the principal asking. After a
//!   principal's mutation, its instance reads the primary's WAL position
//!   (which is past the commit) and sends it with `NOTIFY gepi_writes`, before
//!   the mutation's answer leaves, to every instance that listens
//!   (`auth::cache::listen`); until the replica's replay position reaches it,
//!   that principal's queries read from the primary.
//!
//! Mutations (and the reads inside them), authentication, the login surface
//! and the audit trail use the primary always. The replica's pool runs every
//! transaction read-only.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// How often the poller samples both positions.
pub const POLL: Duration = Duration::from_millis(250);
/// How long a position query may take before its server counts as down.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// Past this age the newest sample of the primary says nothing of the lag
/// (the poller could not reach the primary since): reads go to the primary.
const FRESH: Duration = Duration::from_millis(2 * 250 + 1000);
/// The channel on which instances tell each other of a principal's write.
pub const CHANNEL: &str = "gepi_writes";

/// The replica's pool, and what is known of its position.
pub struct Replica {
    /// The pool the queries read from.
    db: DatabaseConnection,
    /// The same pool, not counted as the requests' statements: the positions.
    positions: DatabaseConnection,
    /// A connection to the primary of its own, for the poller.
    primary: DatabaseConnection,
    max_lag: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The replica's replay position when last asked.
    replayed: Option<u64>,
    /// Whether the replica answered the last time it was asked.
    up: bool,
    /// The primary's position as the poller sampled it, oldest first.
    samples: VecDeque<(Instant, u64)>,
    /// Principals' last writes not yet known to be replayed: position, and when.
    writes: HashMap<Uuid, (u64, Instant)>,
    /// The primary, as the poller last found it.
    primary: Option<Server>,
    /// Whether the listener for other instances' writes is not listening now
    /// (not yet, or its connection is lost): every read goes to the primary.
    deaf: bool,
    /// When it listened again: until the replica replays a position the
    /// primary had after that, a write it missed may not be replayed.
    deaf_since: Option<Instant>,
}

/// What the replica looks like now, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    pub up: bool,
    /// How far behind the primary it is, if known within the sampled window.
    pub lag: Option<Duration>,
    /// Whether it serves the reads of a principal that has not written:
    /// up, within the bound, and no write of another instance possibly missed.
    pub serving: bool,
}

impl State {
    /// The replica's lag: the age of the newest sample of the primary's
    /// position it has replayed (zero when it has replayed the newest).
    fn lag(&self, now: Instant) -> Option<Duration> {
        let replayed = self.replayed?;
        let (at, newest) = self.samples.back()?;
        if now.duration_since(*at) > FRESH {
            return None;
        }
        if replayed >= *newest {
            return Some(Duration::ZERO);
        }
        self.samples.iter().rev().find(|(_, lsn)| *lsn <= replayed).map(|(at, _)| now.duration_since(*at))
    }

    /// Whether writes this instance may not have heard of are replayed.
    fn heard_all(&self) -> bool {
        if self.deaf {
            return false;
        }
        let Some(since) = self.deaf_since else { return true };
        let replayed = self.replayed.unwrap_or(0);
        self.samples.iter().find(|(at, _)| *at >= since).is_some_and(|(_, lsn)| replayed >= *lsn)
    }

    /// Whether the replica serves reads (of a principal with no write pending).
    fn serving(&mut self, now: Instant, max_lag: Duration) -> bool {
        if !self.up || self.lag(now).is_none_or(|lag| lag > max_lag) || !self.heard_all() {
            return false;
        }
        self.deaf_since = None;
        true
    }
}

impl Replica {
    /// The replica of `config`, if one is configured; `count` is given its
    /// reads' pool (to count their statements as the requests' own).
    pub async fn connect(
        config: &crate::config::Config,
        count: impl FnOnce(&mut DatabaseConnection),
    ) -> Result<Option<Arc<Replica>>, DbErr> {
        let Some(url) = &config.database_replica_url else { return Ok(None) };
        let mut db = super::connect_replica(config, url).await?;
        let positions = db.clone();
        count(&mut db);
        let primary = super::connect_url(&config.database_url, 1).await?;
        Ok(Some(Arc::new(Replica {
            db,
            positions,
            primary,
            max_lag: Duration::from_millis(config.replica_max_lag_ms),
            state: Mutex::new(State { deaf: true, ..Default::default() }),
        })))
    }

    /// Starts the poller; it stops when the replica is dropped.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Replica> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(r) = weak.upgrade() else { return };
                r.poll().await;
            }
        })
    }

    /// Samples the primary's position, then asks the replica for its own.
    pub async fn poll(&self) {
        // The instant before asking: the position read covers every commit
        // before it.
        let at = Instant::now();
        let primary = ask(&self.primary, IDENTIFIED_POSITION).await;
        {
            let now = Instant::now();
            let mut s = self.state.lock().expect("replica state");
            if let Ok(p) = primary {
                s.samples.push_back((at, p.lsn));
                s.primary = Some(p.server);
            }
            // The window the lag is measured in: a little over the bound.
            let keep = self.max_lag + 4 * POLL;
            while s.samples.len() > 1 && s.samples.front().is_some_and(|(at, _)| now.duration_since(*at) > keep) {
                s.samples.pop_front();
            }
            let max_lag = self.max_lag;
            s.writes.retain(|_, (_, at)| now.duration_since(*at) <= max_lag + POLL);
        }
        self.refresh().await;
    }

    /// Asks the replica how far it has replayed; false if it did not answer,
    /// or is not a copy of the primary.
    async fn refresh(&self) -> bool {
        let replica = ask(&self.positions, IDENTIFIED_POSITION).await;
        let mut s = self.state.lock().expect("replica state");
        let refusal = match (&replica, &s.primary) {
            (Err(e), _) => Some(format!("the read replica does not answer ({e}): reads go to the primary")),
            (Ok(_), None) => Some("the primary's identity is not known yet: reads go to the primary".to_string()),
            (Ok(r), Some(p)) if r.server.system != p.system => Some(
                "the read replica is not a copy of the primary (another system identifier): reads go to the primary"
                    .into(),
            ),
            // Not in recovery: only the primary itself may answer so (a
            // promoted standby has gone its own way).
            (Ok(r), Some(p)) if !r.server.standby && r.server.started != p.started => Some(
                "the read replica is not a standby (promoted?) nor the primary itself: reads go to the primary".into(),
            ),
            _ => None,
        };
        match (replica, refusal) {
            (Ok(r), None) => {
                // Concurrent askers: the position only moves forward.
                s.replayed = Some(s.replayed.unwrap_or(0).max(r.lsn));
                s.up = true;
                true
            }
            (_, why) => {
                let why = why.unwrap_or_default();
                if s.up {
                    tracing::warn!("{why}");
                }
                s.up = false;
                false
            }
        }
    }

    /// The pool the queries of principal `who` read from: the replica's, or
    /// `None` for the primary's.
    pub async fn reads_for(&self, who: Uuid) -> Option<DatabaseConnection> {
        let pending = {
            let now = Instant::now();
            let mut s = self.state.lock().expect("replica state");
            if !s.serving(now, self.max_lag) {
                return None;
            }
            match s.writes.get(&who).copied() {
                None => return Some(self.db.clone()),
                // Older than the bound: a replica within the bound has it.
                Some((_, at)) if now.duration_since(at) > self.max_lag => {
                    s.writes.remove(&who);
                    return Some(self.db.clone());
                }
                Some((lsn, _)) if s.replayed.is_some_and(|r| r >= lsn) => {
                    s.writes.remove(&who);
                    return Some(self.db.clone());
                }
                Some((lsn, _)) => lsn,
            }
        };
        // Its write may have been replayed since the last poll: ask.
        if !self.refresh().await {
            return None;
        }
        let mut s = self.state.lock().expect("replica state");
        if s.replayed.is_some_and(|r| r >= pending) {
            if s.writes.get(&who).is_some_and(|(lsn, _)| *lsn <= pending) {
                s.writes.remove(&who);
            }
            Some(self.db.clone())
        } else {
            None
        }
    }

    /// Principal `who` has written (a mutation ran): until the replica replays
    /// the primary's position now, its reads go to the primary, on this
    /// instance and, through `NOTIFY`, on the others. `primary` is the
    /// requests' pool (this is one more statement of the request).
    pub async fn wrote(&self, primary: &DatabaseConnection, who: Uuid) {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT lsn, (SELECT pg_notify($1, $2 || ':' || lsn)) IS NULL AS sent \
             FROM (SELECT pg_current_wal_insert_lsn()::text AS lsn) p",
            [CHANNEL.into(), who.to_string().into()],
        );
        let lsn = match tokio::time::timeout(ASK_TIMEOUT, primary.query_one_raw(stmt)).await {
            Ok(Ok(Some(row))) => row.try_get::<String>("", "lsn").ok().and_then(|t| parse_lsn(&t)),
            _ => None,
        };
        if lsn.is_none() {
            tracing::warn!(
                "the position of a write could not be read: its principal reads from the primary for the bound"
            );
        }
        // Without the position, the principal reads from the primary for as
        // long as the bound (then a replica within the bound has the write).
        self.heard_write(who, lsn.unwrap_or(u64::MAX));
    }

    /// A write of `who` up to position `lsn`, told by this instance or another.
    fn heard_write(&self, who: Uuid, lsn: u64) {
        let mut s = self.state.lock().expect("replica state");
        let now = Instant::now();
        let e = s.writes.entry(who).or_insert((lsn, now));
        e.0 = e.0.max(lsn);
        e.1 = now;
    }

    /// Listens on [`CHANNEL`] for other instances' writes (on a connection of
    /// its own to `primary_url`); stops when the replica is dropped.
    pub fn listen(self: &Arc<Self>, primary_url: String) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        super::listen(primary_url, &[CHANNEL], move |h| {
            let Some(r) = weak.upgrade() else { return false };
            match h {
                super::Heard::Notified { payload, .. } => r.heard(payload),
                super::Heard::Listening => {
                    let mut s = r.state.lock().expect("replica state");
                    s.deaf = false;
                    s.deaf_since = Some(Instant::now());
                }
                super::Heard::Lost => r.state.lock().expect("replica state").deaf = true,
            }
            true
        })
    }

    /// A notification on [`CHANNEL`]: `<principal>:<position>`.
    pub fn heard(&self, payload: &str) {
        let Some((who, lsn)) = payload.split_once(':') else { return };
        if let (Ok(who), Some(lsn)) = (Uuid::parse_str(who), parse_lsn(lsn)) {
            self.heard_write(who, lsn);
        }
    }

    /// Marks the replica down after a read that could not reach it: reads go
    /// to the primary until a poll reaches it again.
    pub fn failed(&self) {
        let mut s = self.state.lock().expect("replica state");
        if s.up {
            tracing::warn!("a read on the replica could not be served: reads go to the primary");
        }
        s.up = false;
    }

    pub fn health(&self) -> Health {
        let mut s = self.state.lock().expect("replica state");
        let now = Instant::now();
        Health { up: s.up, lag: s.lag(now), serving: s.serving(now, self.max_lag) }
    }
}

/// A server's WAL position (replayed on a standby, written on a primary) and
/// who it is.
const IDENTIFIED_POSITION: &str = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
     ELSE pg_current_wal_insert_lsn() END)::text AS lsn, pg_is_in_recovery() AS standby, \
     system_identifier::text AS system, pg_postmaster_start_time()::text AS started FROM pg_control_system()";

/// Which server answered: its cluster (a standby has its primary's system
/// identifier), whether it is in recovery, and when it started.
#[derive(Debug, Clone, PartialEq)]
struct Server {
    system: String,
    standby: bool,
    started: String,
}

struct Position {
    lsn: u64,
    server: Server,
}

async fn ask(db: &DatabaseConnection, sql: &str) -> Result<Position, String> {
    let stmt = Statement::from_string(DbBackend::Postgres, sql.to_string());
    let row = tokio::time::timeout(ASK_TIMEOUT, db.query_one_raw(stmt))
        .await
        .map_err(|_| "no answer within 1 s".to_string())?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no row".to_string())?;
    let text: Option<String> = row.try_get("", "lsn").map_err(|e| e.to_string())?;
    let server = Server {
        system: row.try_get("", "system").map_err(|e| e.to_string())?,
        standby: row.try_get("", "standby").map_err(|e| e.to_string())?,
        started: row.try_get("", "started").map_err(|e| e.to_string())?,
    };
    // A standby that has replayed nothing yet has no position.
    Ok(Position { lsn: text.as_deref().and_then(parse_lsn).unwrap_or(0), server })
}

/// PostgreSQL's `pg_lsn` text form, `XXXXXXXX/YYYYYYYY` (hexadecimal).
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    let hi = u32::from_str_radix(hi, 16).ok()?;
    let lo = u32::from_str_radix(lo, 16).ok()?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_as_postgresql_writes_them() {
        assert_eq!(parse_lsn("0/16B3748"), Some(0x16B_3748));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("FFFFFFFF/FFFFFFFF"), Some(u64::MAX));
        for bad in ["", "16B3748", "0/", "/1", "0/xyz", "1/2/3", "100000000/0"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_lag_is_the_age_of_the_newest_sample_replayed() {
        let t0 = Instant::now();
        let mut s = State { replayed: Some(150), up: true, ..Default::default() };
        assert_eq!(s.lag(t0), None, "nothing sampled yet");
        for (i, lsn) in [100, 200, 300].into_iter().enumerate() {
            s.samples.push_back((t0 + Duration::from_secs(i as u64), lsn));
        }
        let now = t0 + Duration::from_secs(3);
        assert_eq!(s.lag(now), Some(Duration::from_secs(3)), "only the sample at 100 is replayed");
        s.replayed = Some(200);
        assert_eq!(s.lag(now), Some(Duration::from_secs(2)));
        s.replayed = Some(300);
        assert_eq!(s.lag(now), Some(Duration::ZERO), "caught up with the newest sample");
        s.replayed = Some(50);
        assert_eq!(s.lag(now), None, "behind the whole window");
        s.replayed = Some(300);
        assert_eq!(s.lag(t0 + Duration::from_secs(10)), None, "no recent sample of the primary: the lag is unknown");
    }

    #[test]
    fn a_listener_that_may_have_missed_writes_serves_nothing_until_the_replica_passes_its_return() {
        let t0 = Instant::now();
        let max = Duration::from_secs(5);
        let mut s = State { replayed: Some(100), up: true, deaf: true, ..Default::default() };
        s.samples.push_back((t0, 100));
        assert!(!s.serving(t0, max), "not listening yet");
        // Listening again at t1: a sample taken after it must be replayed.
        let t1 = t0 + Duration::from_millis(10);
        s.deaf = false;
        s.deaf_since = Some(t1);
        assert!(!s.serving(t1, max), "no sample after it yet");
        s.samples.push_back((t1 + Duration::from_millis(250), 180));
        assert!(!s.serving(t1 + Duration::from_millis(300), max), "the replica is before that sample");
        s.replayed = Some(180);
        assert!(s.serving(t1 + Duration::from_millis(300), max));
        assert_eq!(s.deaf_since, None);
        s.up = false;
        assert!(!s.serving(t1 + Duration::from_millis(300), max), "down");
    }
}
