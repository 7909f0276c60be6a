//! Rate limits, with `governor`'s GCRA limiters, in memory, per instance: the
//! per-address limit of the anonymous login endpoints (`/saml/*`,
//! `/auth/dev-login`), keyed by the client's address (the peer, or the last
//! entry of a header a trusted proxy sets), and the hourly quotas of API
//! clients ([`Quotas`]), charged with the cost of each operation.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    num::NonZeroU32,
    sync::Arc,
    time::Duration,
};

use axum::http::{HeaderMap, HeaderName};

use crate::config::Config;

/// The per-address limiter of the anonymous login endpoints (per instance:
/// each instance counts the requests it receives).
pub struct LoginLimiter {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    /// Checks so far: every [`PURGE_EVERY`] checks, addresses whose budget is
    /// full again are forgotten (the map stays as small as the active set).
    checks: std::sync::atomic::AtomicU64,
    /// `GEPI_CLIENT_IP_HEADER`: where a trusted reverse proxy puts the client.
    client_ip_header: Option<HeaderName>,
}

const PURGE_EVERY: u64 = 4_096;

pub fn login_limiter(config: &Config) -> LoginLimiter {
    let per_minute = NonZeroU32::new(config.login_rate_per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(config.login_rate_burst).unwrap_or(NonZeroU32::MIN);
    LoginLimiter {
        limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute).allow_burst(burst)),
        checks: Default::default(),
        client_ip_header: config.client_ip_header.as_deref().and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
    }
}

impl LoginLimiter {
    /// The client of a request: the last address of the configured header when
    /// a trusted proxy sets it (the proxy appends what it saw, so the last
    /// entry is the one a client cannot forge), else the peer address; then
    /// IPv4-mapped IPv6 as IPv4, and IPv6 by its /64 (one host holds a whole
    /// /64). Requests without either (only in-process calls) share one key.
    fn key(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> IpAddr {
        let from_proxy = self.client_ip_header.as_ref().and_then(|h| {
            let v = headers.get_all(h).iter().next_back()?.to_str().ok()?;
            v.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        });
        match from_proxy.or(peer).map(|ip| ip.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            Some(v4) => v4,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// Ok, or how long the client must wait; `peer`: the connection's address.
    pub fn check(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Result<(), Duration> {
        use governor::clock::Clock;
        if self.checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&self.key(headers, peer))
            .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }
}

/// The hourly quotas of API clients: each client spends points (the cost of
/// its operations) from a budget of its points per hour, which refills evenly
/// over the hour (`governor`'s GCRA, one limiter per client, in memory, per
/// instance: each instance counts what it serves).
#[derive(Default)]
pub struct Quotas {
    clients: std::sync::RwLock<std::collections::HashMap<uuid::Uuid, Arc<ClientQuota>>>,
}

type QuotaLimiter = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
    governor::middleware::StateInformationMiddleware,
>;

/// One client's budget, at the quota it was made with.
struct ClientQuota {
    per_hour: NonZeroU32,
    limiter: QuotaLimiter,
}

/// How a client's budget stands after a charge: what the `RateLimit` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    /// Points per hour.
    pub per_hour: u32,
    /// Points left.
    pub remaining: u32,
    /// Seconds until the budget is full again.
    pub full_in_secs: u64,
}

/// A charge the budget could not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// Not enough points now: they will be there in `retry_after_secs`.
    Spent { state: QuotaState, cost: u32, retry_after_secs: u64 },
    /// The operation costs more than the whole hour's quota.
    OverQuota { per_hour: u32, cost: u32 },
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Quotas {
    /// Spends `cost` points (at least one: every operation counts) of the
    /// client's budget of `per_hour` points. A client whose quota changed
    /// starts a budget at the new quota, full less what the old one had spent.
    pub fn charge(&self, client: uuid::Uuid, per_hour: u32, cost: usize) -> Result<QuotaState, QuotaRefusal> {
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        let cost = u32::try_from(cost).unwrap_or(u32::MAX).max(1);
        let quota = self.client(client, per_hour);
        let n = NonZeroU32::new(cost).expect("at least one");
        let period = Duration::from_secs(3600) / per_hour.get();
        let state = |remaining: u32| QuotaState {
            per_hour: per_hour.get(),
            remaining,
            full_in_secs: ceil_secs(period * (per_hour.get() - remaining.min(per_hour.get()))),
        };
        match quota.limiter.check_n(n) {
            Ok(Ok(snapshot)) => Ok(state(snapshot.remaining_burst_capacity())),
            Ok(Err(not_until)) => {
                use governor::clock::Clock;
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                // The `cost` points are there after `wait`, one coming back
                // each `period`: what is left now is that many fewer.
                let short = wait.as_nanos().div_ceil(period.as_nanos().max(1));
                let remaining = u64::from(cost).saturating_sub(u64::try_from(short).unwrap_or(u64::MAX)) as u32;
                Err(QuotaRefusal::Spent { state: state(remaining), cost, retry_after_secs: ceil_secs(wait).max(1) })
            }
            Err(_) => Err(QuotaRefusal::OverQuota { per_hour: per_hour.get(), cost }),
        }
    }

    fn client(&self, client: uuid::Uuid, per_hour: NonZeroU32) -> Arc<ClientQuota> {
        if let Some(q) = self.clients.read().expect("quotas lock").get(&client) {
            if q.per_hour == per_hour {
                return q.clone();
            }
        }
        let mut clients = self.clients.write().expect("quotas lock");
        let fresh = Arc::new(ClientQuota {
            per_hour,
            limiter: governor::RateLimiter::direct(governor::Quota::per_hour(per_hour))
                .with_middleware::<governor::middleware::StateInformationMiddleware>(),
        });
        match clients.get(&client) {
            Some(q) if q.per_hour == per_hour => q.clone(),
            Some(old) => {
                // Carry over what the old budget had spent, as far as the new one holds.
                let spent = old
                    .limiter
                    .check_n(NonZeroU32::MIN)
                    .ok()
                    .and_then(Result::ok)
                    .map(|s| old.per_hour.get().saturating_sub(s.remaining_burst_capacity() + 1))
                    .unwrap_or(old.per_hour.get());
                if let Some(n) = NonZeroU32::new(spent.min(per_hour.get())) {
                    let _ = fresh.limiter.check_n(n);
                }
                clients.insert(client, fresh.clone());
                fresh
            }
            None => {
                clients.insert(client, fresh.clone());
                fresh
            }
        }
    }
}
