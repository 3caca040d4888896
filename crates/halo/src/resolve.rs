//! Name resolution that applies the site's [`HostPolicy`] to the addresses a
//! host name resolves to, not only to addresses typed in the URL.
//!
//! Without it, a public-looking name that resolves to 169.254.169.254 or to a
//! LAN address would let the connection doctor (which a web page will expose)
//! probe places it must not reach.

use std::fmt;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::HostPolicy;
use crate::site::AddressKind;

/// Resolves with the system resolver and drops the addresses the policy
/// refuses; fails when none are left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    policy: HostPolicy,
}

impl GuardedResolver {
    pub(crate) fn new(policy: HostPolicy) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();

        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| AddressKind::of(addr.ip()).allowed_by(policy))
                .collect();

            if allowed.is_empty() && !resolved.is_empty() {
                return Err(Box::new(RefusedAddresses { host }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The host resolved only to addresses the policy refuses.
#[derive(Debug)]
struct RefusedAddresses {
    host: String,
}

impl fmt::Display for RefusedAddresses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves only to private, local or link-local addresses, which are not allowed \
             for this site",
            self.host
        )
    }
}

impl std::error::Error for RefusedAddresses {}

#[cfg(test)]
mod tests {
    use super::*;

    async fn resolve(policy: HostPolicy, host: &str) -> Result<Vec<SocketAddr>, String> {
        let name: Name = host.parse().map_err(|_| "bad name".to_owned())?;
        GuardedResolver::new(policy)
            .resolve(name)
            .await
            .map(Iterator::collect)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn localhost_is_refused_for_public_sites() {
        let error = resolve(HostPolicy::PublicOnly, "localhost")
            .await
            .expect_err("loopback");

        assert!(
            error.contains("localhost resolves only to private"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn localhost_is_allowed_for_private_sites() {
        let addrs = resolve(HostPolicy::AllowPrivate, "localhost")
            .await
            .expect("allowed");

        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(!addrs.is_empty());
    }
}
