//! Where a business's HTTP tool or webhook may point. An address inside the
//! engine's own network (loopback, RFC 1918, link-local such as the cloud
//! metadata service at 169.254.169.254, CGNAT, unique-local IPv6) is refused
//! unless the business sets `allow_private`.
//!
//! The check is made on the addresses the connection will actually use: the
//! client resolves names through [`GuardedResolver`], which fails when *any*
//! address of the name is forbidden (a name that answers one public and one
//! private address cannot be used to slip through), and redirects are not
//! followed, so a public endpoint cannot bounce the request inward. IP
//! literals never reach a resolver and are checked by [`check_url`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is inside a network a business's integration may not reach
/// by default.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (also used inside some clouds).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24, IETF protocol assignments.
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // ::ffff:0:0/96 handled by the caller; 64:ff9b::/96 NAT64 can embed
        // any IPv4 address: refused rather than decoded.
        || (ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
}

/// Why a target was refused (no URL in it: URLs may carry tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the target host resolves to a private, loopback or link-local address ({0}); set allow_private to reach it")]
pub struct Refused(pub IpAddr);

/// A URL whose host is an IP literal is checked here (no resolver sees it).
pub fn check_url(url: &reqwest::Url) -> Result<(), Refused> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if is_forbidden(ip) {
        Err(Refused(ip))
    } else {
        Ok(())
    }
}

/// Resolves through the system resolver and fails if any address is forbidden.
#[derive(Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
                return Err(Box::new(Refused(bad.ip())) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for a business's integration: no redirects, and the
/// guard unless `allow_private`.
pub fn client(allow_private: bool, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a bundled rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("Frontdesk/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        b = b.dns_resolver(std::sync::Arc::new(GuardedResolver));
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_urls_are_checked() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(check_url(&u("http://127.0.0.1:9/x")).is_err());
        assert!(check_url(&u("http://[::1]/x")).is_err());
        assert!(check_url(&u("https://8.8.8.8/x")).is_ok());
        assert!(check_url(&u("https://example.com/x")).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_inward_are_refused() {
        let e = GuardedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("private"), "{e}");
    }
}
