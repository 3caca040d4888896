//! The Halo site URL: what an admin pastes, reduced to the site root that the
//! API (`{site}/api`) and the token endpoint (`{site}/auth/token`) hang off.
//!
//! Admins copy whatever their browser or Halo's API page shows
//! (`https://acme.halopsa.com/api/`, ` ACME.halopsa.com `, the `/auth` URL), so
//! parsing forgives what is unambiguous and reports each change it made, and
//! refuses with a message the admin can act on what cannot be a Halo site.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};
use thiserror::Error;
use url::{Host, Url};

/// Path suffixes admins paste from Halo's API page or the browser that can be
/// dropped without guessing, because Parley adds `/api` and `/auth` itself.
const DROPPABLE_PATHS: [&str; 4] = ["api", "auth", "auth/token", "api/swagger"];

/// Which hosts a site URL may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HostPolicy {
    /// Only public hosts over `https` (the normal case: Halo cloud or an
    /// on-premise Halo published on the internet).
    #[default]
    PublicOnly,
    /// Also loopback and private-network hosts, and plain `http`: for an
    /// on-premise Halo on the LAN or a local simulator. Link-local addresses
    /// stay refused even then.
    AllowPrivate,
}

/// What kind of network an address belongs to, for [`HostPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressKind {
    Public,
    /// Loopback, RFC 1918, IPv6 unique-local or unspecified.
    Private,
    /// 169.254.0.0/16 and fe80::/10: never a Halo site, and the home of cloud
    /// metadata services, so never allowed.
    LinkLocal,
}

impl AddressKind {
    /// Classifies an IP address.
    pub(crate) fn of(ip: IpAddr) -> AddressKind {
        match ip {
            IpAddr::V4(v4) if v4.is_link_local() => AddressKind::LinkLocal,
            IpAddr::V4(v4)
                if v4.is_loopback()
                    || v4.is_private()
                    || v4.is_unspecified()
                    || v4.is_broadcast() =>
            {
                AddressKind::Private
            }
            IpAddr::V4(_) => AddressKind::Public,
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return AddressKind::of(IpAddr::V4(v4));
                }
                let first = v6.segments()[0];
                if first & 0xffc0 == 0xfe80 {
                    AddressKind::LinkLocal
                } else if v6.is_loopback() || v6.is_unspecified() || first & 0xfe00 == 0xfc00 {
                    AddressKind::Private
                } else {
                    AddressKind::Public
                }
            }
        }
    }

    /// Whether `policy` lets a connection go to an address of this kind.
    pub(crate) fn allowed_by(self, policy: HostPolicy) -> bool {
        match self {
            AddressKind::Public => true,
            AddressKind::Private => policy == HostPolicy::AllowPrivate,
            AddressKind::LinkLocal => false,
        }
    }
}

/// Why a pasted URL cannot be a Halo site. The messages speak to the admin who
/// typed it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SiteUrlError {
    #[error(
        "the Halo site URL is empty: enter the address you open Halo at, e.g. https://acme.halopsa.com"
    )]
    Empty,
    #[error(
        "\"{input}\" is not a URL ({reason}): enter the address you open Halo at, e.g. https://acme.halopsa.com"
    )]
    Unparsable { input: String, reason: String },
    #[error(
        "the Halo site URL has no host name: enter the address you open Halo at, e.g. https://acme.halopsa.com"
    )]
    NoHost,
    #[error(
        "the Halo site URL starts with {scheme}://, which cannot reach Halo: it must start with https://"
    )]
    UnsupportedScheme { scheme: String },
    #[error(
        "the Halo site URL uses http://: Halo must be reached over https:// (plain http is only accepted for a private test server, when private hosts are allowed)"
    )]
    InsecureScheme,
    #[error(
        "the Halo site URL contains a user name or password: remove them (the Client ID and Secret are entered separately)"
    )]
    Credentials,
    #[error(
        "the Halo site URL has the path \"{path}\": enter only the site address, e.g. https://acme.halopsa.com (Parley adds /api and /auth itself)"
    )]
    Path { path: String },
    #[error(
        "the Halo site URL has a query (?...) or fragment (#...): enter only the site address, e.g. https://acme.halopsa.com"
    )]
    QueryOrFragment,
    #[error(
        "{host} is a private or local address: it is only accepted when private hosts are allowed (for an on-premise Halo on your network)"
    )]
    PrivateHost { host: String },
    #[error(
        "{host} is a link-local address (169.254.x.x or fe80::): such addresses are never a Halo site and are always refused"
    )]
    LinkLocal { host: String },
}

/// A Halo site root, e.g. `https://acme.halopsa.com`: scheme, host and optional
/// port, without a trailing slash or path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SiteUrl {
    root: String,
    host: String,
    policy: HostPolicy,
}

/// The result of parsing: the site and what was changed to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The site root.
    pub site: SiteUrl,
    /// Human-readable changes made to the input, e.g. "removed the \"/api\" path";
    /// empty when the input was already the site root.
    pub changes: Vec<String>,
}

impl SiteUrl {
    /// Parses what an admin typed into a site root, or says why it cannot be one.
    pub fn parse(input: &str, policy: HostPolicy) -> Result<Normalized, SiteUrlError> {
        let mut changes = Vec::new();

        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(SiteUrlError::Empty);
        }
        if trimmed.len() != input.len() {
            changes.push("removed the spaces around the URL".to_owned());
        }

        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            changes.push("added https:// in front".to_owned());
            format!("https://{trimmed}")
        };
        let raw = RawParts::split(&with_scheme);

        let url = Url::parse(&with_scheme).map_err(|error| match error {
            url::ParseError::EmptyHost => SiteUrlError::NoHost,
            other => SiteUrlError::Unparsable {
                input: trimmed.to_owned(),
                reason: other.to_string(),
            },
        })?;

        let scheme = url.scheme().to_owned();
        if scheme != "https" && scheme != "http" {
            return Err(SiteUrlError::UnsupportedScheme { scheme });
        }
        if raw.scheme != scheme {
            changes.push(format!("lower-cased {scheme}://"));
        }

        if !url.username().is_empty() || url.password().is_some() {
            return Err(SiteUrlError::Credentials);
        }

        // The host is judged before plain http so that a link-local address is
        // refused for what it is, whatever the scheme.
        let host = checked_host(&url, policy)?;
        if scheme == "http" && policy != HostPolicy::AllowPrivate {
            return Err(SiteUrlError::InsecureScheme);
        }
        if raw.host.chars().any(|c| c.is_ascii_uppercase()) {
            changes.push("lower-cased the host".to_owned());
        }
        if host.len() < url.host_str().map_or(0, str::len) {
            changes.push("removed the dot after the host name".to_owned());
        }
        if let (None, Some(port)) = (url.port(), raw.port)
            && !port.is_empty()
        {
            changes.push(format!("removed the default port :{port}"));
        }

        if url.query().is_some() || url.fragment().is_some() {
            return Err(SiteUrlError::QueryOrFragment);
        }

        let path = url.path();
        let meaningful = path.trim_matches('/');
        if meaningful.is_empty() {
            if !raw.rest.is_empty() {
                changes.push("removed the trailing slash".to_owned());
            }
        } else if DROPPABLE_PATHS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(meaningful))
        {
            changes.push(format!("removed the \"{path}\" path"));
        } else {
            return Err(SiteUrlError::Path {
                path: path.to_owned(),
            });
        }

        let root = match url.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Normalized {
            site: SiteUrl { root, host, policy },
            changes,
        })
    }

    /// The site root, e.g. `https://acme.halopsa.com` (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.root
    }

    /// The host (IPv6 addresses in brackets), without the port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host policy this site was accepted under; the client applies the same
    /// policy to the addresses the host name resolves to.
    pub fn policy(&self) -> HostPolicy {
        self.policy
    }

    /// The URL of an API resource: `api_url("Tickets/12")` is
    /// `{site}/api/Tickets/12`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/api/{}", self.root, path.trim_start_matches('/'))
    }

    /// The OAuth2 token endpoint, `{site}/auth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/auth/token", self.root)
    }
}

impl fmt::Display for SiteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

impl Serialize for SiteUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.root)
    }
}

/// The host of a parsed URL, if the policy allows it, without a trailing dot.
fn checked_host(url: &Url, policy: HostPolicy) -> Result<String, SiteUrlError> {
    let kind = match url.host() {
        None => return Err(SiteUrlError::NoHost),
        Some(Host::Ipv4(ip)) => AddressKind::of(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => AddressKind::of(IpAddr::V6(ip)),
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.');
            if domain.is_empty() {
                return Err(SiteUrlError::NoHost);
            }
            if domain == "localhost" || domain.ends_with(".localhost") {
                AddressKind::Private
            } else {
                AddressKind::Public
            }
        }
    };

    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_owned();
    match kind {
        AddressKind::LinkLocal => Err(SiteUrlError::LinkLocal { host }),
        AddressKind::Private if !kind.allowed_by(policy) => Err(SiteUrlError::PrivateHost { host }),
        _ => Ok(host),
    }
}

/// The pieces of the URL as typed, before the `url` crate normalises them, so
/// that the changes it makes silently can be reported.
struct RawParts<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    /// Everything after the authority (path, query, fragment).
    rest: &'a str,
}

impl<'a> RawParts<'a> {
    fn split(input: &'a str) -> Self {
        let (scheme, after_scheme) = input.split_once("://").unwrap_or(("", input));
        let authority_end = after_scheme
            .find(['/', '?', '#', '\\'])
            .unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(authority_end);
        let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);

        // A colon after the closing bracket of an IPv6 literal (or anywhere in a
        // name) starts the port.
        let port_start = match host_and_port.rfind(']') {
            Some(bracket) => host_and_port[bracket..].find(':').map(|i| bracket + i),
            None => host_and_port.rfind(':'),
        };
        let (host, port) = match port_start {
            Some(i) => (&host_and_port[..i], Some(&host_and_port[i + 1..])),
            None => (host_and_port, None),
        };

        RawParts {
            scheme,
            host,
            port,
            rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(input: &str) -> Result<Normalized, SiteUrlError> {
        SiteUrl::parse(input, HostPolicy::PublicOnly)
    }

    fn private(input: &str) -> Result<Normalized, SiteUrlError> {
        SiteUrl::parse(input, HostPolicy::AllowPrivate)
    }

    #[test]
    fn a_clean_site_root_is_kept_without_changes() {
        let parsed = public("https://acme.halopsa.com").expect("a clean root");

        assert_eq!(parsed.site.as_str(), "https://acme.halopsa.com");
        assert_eq!(parsed.site.host(), "acme.halopsa.com");
        assert!(parsed.changes.is_empty(), "{:?}", parsed.changes);
    }

    #[test]
    fn what_admins_paste_is_reduced_to_the_root_and_each_change_reported() {
        let cases: [(&str, &[&str]); 12] = [
            ("https://acme.halopsa.com/", &["removed the trailing slash"]),
            (
                "https://acme.halopsa.com///",
                &["removed the trailing slash"],
            ),
            (
                "https://acme.halopsa.com/api",
                &["removed the \"/api\" path"],
            ),
            (
                "https://acme.halopsa.com/api/",
                &["removed the \"/api/\" path"],
            ),
            (
                "https://acme.halopsa.com/API",
                &["removed the \"/API\" path"],
            ),
            (
                "https://acme.halopsa.com/auth",
                &["removed the \"/auth\" path"],
            ),
            (
                "https://acme.halopsa.com/auth/token",
                &["removed the \"/auth/token\" path"],
            ),
            (
                "https://acme.halopsa.com/api/swagger",
                &["removed the \"/api/swagger\" path"],
            ),
            (
                "  https://acme.halopsa.com \n",
                &["removed the spaces around the URL"],
            ),
            ("https://ACME.HaloPSA.com", &["lower-cased the host"]),
            ("acme.halopsa.com", &["added https:// in front"]),
            (
                "https://acme.halopsa.com:443",
                &["removed the default port :443"],
            ),
        ];

        for (input, expected) in cases {
            let parsed = public(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(
                parsed.site.as_str(),
                "https://acme.halopsa.com",
                "{input:?}"
            );
            assert_eq!(parsed.changes, expected, "{input:?}");
        }
    }

    #[test]
    fn several_changes_are_all_reported_in_order() {
        let parsed = public(" HTTPS://Acme.HaloPSA.com./api/ ").expect("fixable");

        assert_eq!(parsed.site.as_str(), "https://acme.halopsa.com");
        assert_eq!(
            parsed.changes,
            [
                "removed the spaces around the URL",
                "lower-cased https://",
                "lower-cased the host",
                "removed the dot after the host name",
                "removed the \"/api/\" path",
            ]
        );
    }

    #[test]
    fn a_non_default_port_is_kept() {
        let parsed = public("https://halo.example.com:8443/api").expect("a port is fine");

        assert_eq!(parsed.site.as_str(), "https://halo.example.com:8443");
        assert_eq!(
            parsed.site.api_url("Tickets"),
            "https://halo.example.com:8443/api/Tickets"
        );
    }

    #[test]
    fn api_and_token_urls_hang_off_the_root() {
        let site = public("https://acme.halopsa.com/").expect("valid").site;

        assert_eq!(
            site.api_url("/Tickets/12"),
            "https://acme.halopsa.com/api/Tickets/12"
        );
        assert_eq!(
            site.api_url("authinfo"),
            "https://acme.halopsa.com/api/authinfo"
        );
        assert_eq!(site.token_url(), "https://acme.halopsa.com/auth/token");
        assert_eq!(site.to_string(), "https://acme.halopsa.com");
        assert_eq!(
            serde_json::to_string(&site).expect("a string"),
            "\"https://acme.halopsa.com\""
        );
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(public(""), Err(SiteUrlError::Empty));
        assert_eq!(public("   "), Err(SiteUrlError::Empty));
    }

    #[test]
    fn a_url_without_a_host_is_refused() {
        assert_eq!(public("https://"), Err(SiteUrlError::NoHost));
    }

    #[test]
    fn garbage_is_refused_as_unparsable() {
        let error = public("https://acme halopsa.com").expect_err("a space in the host");

        assert!(
            matches!(error, SiteUrlError::Unparsable { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("is not a URL"), "{error}");
    }

    #[test]
    fn other_schemes_are_refused() {
        assert_eq!(
            public("ftp://acme.halopsa.com"),
            Err(SiteUrlError::UnsupportedScheme {
                scheme: "ftp".into()
            })
        );
    }

    #[test]
    fn plain_http_needs_the_private_policy() {
        assert_eq!(
            public("http://acme.halopsa.com"),
            Err(SiteUrlError::InsecureScheme)
        );

        let parsed = private("http://halo.lan:8080/").expect("allowed for private setups");
        assert_eq!(parsed.site.as_str(), "http://halo.lan:8080");
        assert_eq!(parsed.site.policy(), HostPolicy::AllowPrivate);
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        assert_eq!(
            public("https://admin:pw@acme.halopsa.com"),
            Err(SiteUrlError::Credentials)
        );
        assert_eq!(
            public("https://admin@acme.halopsa.com"),
            Err(SiteUrlError::Credentials)
        );
    }

    #[test]
    fn other_paths_are_refused_naming_the_path() {
        for input in [
            "https://acme.halopsa.com/tickets",
            "https://acme.halopsa.com/api/Tickets",
            "https://acme.halopsa.com/halo/api",
        ] {
            let error = public(input).expect_err(input);
            assert!(
                matches!(error, SiteUrlError::Path { .. }),
                "{input}: {error:?}"
            );
            assert!(error.to_string().contains("Parley adds /api"), "{error}");
        }
    }

    #[test]
    fn queries_and_fragments_are_refused() {
        assert_eq!(
            public("https://acme.halopsa.com/?x=1"),
            Err(SiteUrlError::QueryOrFragment)
        );
        assert_eq!(
            public("https://acme.halopsa.com#top"),
            Err(SiteUrlError::QueryOrFragment)
        );
        assert_eq!(
            public("https://acme.halopsa.com/api?"),
            Err(SiteUrlError::QueryOrFragment)
        );
    }

    #[test]
    fn private_and_loopback_hosts_need_the_private_policy() {
        let hosts = [
            "https://127.0.0.1",
            "https://127.8.9.10",
            "https://10.1.2.3",
            "https://172.16.0.1",
            "https://172.31.255.254",
            "https://192.168.1.10",
            "https://[::1]",
            "https://[fc00::1]",
            "https://[fd12:3456::1]",
            "https://localhost",
            "https://halo.localhost",
            "https://0.0.0.0",
            "https://[::ffff:10.0.0.1]",
        ];

        for input in hosts {
            let error = public(input).expect_err(input);
            assert!(
                matches!(error, SiteUrlError::PrivateHost { .. }),
                "{input}: {error:?}"
            );
            assert!(private(input).is_ok(), "{input} with private hosts allowed");
        }
    }

    #[test]
    fn addresses_next_to_the_private_ranges_are_public() {
        for input in [
            "https://172.15.0.1",
            "https://172.32.0.1",
            "https://11.0.0.1",
        ] {
            assert!(public(input).is_ok(), "{input}");
        }
    }

    #[test]
    fn link_local_addresses_are_always_refused() {
        for input in [
            "https://169.254.169.254",
            "http://169.254.0.1/api",
            "https://[fe80::1]",
            "https://[febf::1]",
            "https://[::ffff:169.254.169.254]",
        ] {
            for policy in [HostPolicy::PublicOnly, HostPolicy::AllowPrivate] {
                let error = SiteUrl::parse(input, policy).expect_err(input);
                assert!(
                    matches!(error, SiteUrlError::LinkLocal { .. }),
                    "{input}: {error:?}"
                );
            }
        }
    }

    #[test]
    fn an_ipv6_site_keeps_its_brackets_and_port() {
        let site = private("http://[::1]:8080/api").expect("allowed").site;

        assert_eq!(site.as_str(), "http://[::1]:8080");
        assert_eq!(site.host(), "[::1]");
    }

    #[test]
    fn a_bare_host_and_port_gets_https() {
        let parsed = private("localhost:8443").expect("allowed");

        assert_eq!(parsed.site.as_str(), "https://localhost:8443");
        assert_eq!(parsed.changes, ["added https:// in front"]);
    }

    #[test]
    fn error_messages_tell_the_admin_what_to_do() {
        assert!(
            SiteUrlError::InsecureScheme
                .to_string()
                .contains("https://")
        );
        assert!(
            SiteUrlError::Credentials
                .to_string()
                .contains("Client ID and Secret")
        );
        assert!(
            SiteUrlError::Empty
                .to_string()
                .contains("e.g. https://acme.halopsa.com")
        );
    }
}
