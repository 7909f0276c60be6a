//! The per-address rate limit of the anonymous login endpoints (`/saml/*`,
//! `/auth/dev-login`), applied by the HTTP layer: `governor`'s keyed GCRA
//! limiter, in memory, per instance. The key is the client's address: the
//! peer, or the last entry of a header a trusted proxy sets.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    num::NonZeroU32,
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
