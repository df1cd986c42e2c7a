//! Where a request comes from and which site it was sent to, decided in one
//! place so the CSRF origin check and the audit's client addresses follow
//! the same rule: forwarding headers (`Forwarded`, `X-Forwarded-Host`,
//! `X-Forwarded-For`) are believed only when the TCP peer is a proxy named
//! in `STAGECOACH_TRUSTED_PROXIES`, since anyone else can send them.
//!
//! The site a form must come from is the public URL when one is configured
//! (`STAGECOACH_PUBLIC_URL`: scheme, host and port all compared). Without
//! one it is the host the request was sent to: the `Host` header (which a
//! browser sets itself and a page on another site cannot change), or a
//! trusted proxy's forwarded host. The bind address is not a usable default:
//! behind any name, or bound to 0.0.0.0, no browser's Origin would match it.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use anyhow::Context;
use ipnet::IpNet;

/// Scheme, host and port: what an `Origin` header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Reads `scheme://host[:port]`, ignoring any path. Only http and https;
    /// `null`, user info and anything else are not origins of this site.
    pub fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = default_port(&scheme)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return None;
        }
        let (host, port) = split_authority(authority)?;
        Some(Self {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, host lower-cased.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (format!("[{host}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || (host.contains([':', ' ']) && !host.starts_with('[')) {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// The public URL and the trusted proxies; in the app's data.
#[derive(Debug, Clone, Default)]
pub struct Site {
    public_origin: Option<Origin>,
    trusted_proxies: Vec<IpNet>,
}

impl Site {
    /// `public_url` like `https://deploy.example.com`; `trusted_proxies` a
    /// comma-separated list of addresses or ranges.
    pub fn new(public_url: Option<&str>, trusted_proxies: &str) -> anyhow::Result<Self> {
        let public_origin = match public_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => Some(Origin::parse(url).with_context(|| {
                format!("STAGECOACH_PUBLIC_URL “{url}” is not an http(s)://host[:port] URL")
            })?),
            None => None,
        };
        let trusted_proxies =
            crate::ranges::parse_ranges(trusted_proxies).context("STAGECOACH_TRUSTED_PROXIES")?;
        Ok(Self {
            public_origin,
            trusted_proxies,
        })
    }

    /// The site's rules for `req` (the defaults when none are configured,
    /// as in unit tests).
    pub fn of(req: &HttpRequest) -> Self {
        req.app_data::<web::Data<Site>>()
            .map(|site| site.get_ref().clone())
            .unwrap_or_default()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    fn peer_is_trusted(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|peer| self.trusts(peer.ip()))
    }

    /// True when `origin` (an `Origin` header's value) names this site.
    pub fn is_this_site(&self, req: &HttpRequest, origin: &str) -> bool {
        let Some(origin) = Origin::parse(origin) else {
            return false;
        };
        if let Some(public) = &self.public_origin {
            return origin == *public;
        }
        let authority = if self.peer_is_trusted(req.peer_addr()) {
            // actix reads Forwarded, then X-Forwarded-Host, then Host.
            req.connection_info().host().to_owned()
        } else {
            own_host(req)
        };
        // The scheme the client used is not known here (TLS may end at a
        // proxy), so only host and port are compared; a public URL pins all.
        match split_authority(&authority) {
            Some((host, port)) => {
                host == origin.host
                    && port.or_else(|| default_port(&origin.scheme)) == Some(origin.port)
            }
            None => false,
        }
    }

    /// The client's address for the audit: the TCP peer's, or, when the
    /// peer is a trusted proxy, the rightmost `X-Forwarded-For` hop that is
    /// not itself a trusted proxy (hops to its left were written by the
    /// client and prove nothing).
    pub fn client_addr(&self, req: &HttpRequest) -> Option<String> {
        let peer = req.peer_addr()?.ip().to_canonical();
        if !self.trusts(peer) {
            return Some(peer.to_string());
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        Some(client.to_string())
    }
}

/// The host this request was sent to, from the request itself only.
fn own_host(req: &HttpRequest) -> String {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 50000)
    }

    #[test]
    fn origins_parse_with_default_ports_and_lower_case_hosts() {
        let o = Origin::parse("HTTPS://Deploy.Example.COM").unwrap();
        assert_eq!(o, Origin::parse("https://deploy.example.com:443/").unwrap());
        assert_ne!(o, Origin::parse("http://deploy.example.com").unwrap());
        assert_eq!(
            Origin::parse("http://[::1]:8080").unwrap(),
            Origin {
                scheme: "http".into(),
                host: "[::1]".into(),
                port: 8080
            }
        );
        for bad in [
            "null",
            "ftp://x",
            "http://",
            "http://a:b",
            "http://u@evil",
            "http://a:99999",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn without_a_public_url_the_host_header_is_the_site() {
        let site = Site::default();
        let req = TestRequest::post()
            .insert_header(("host", "ci.example:8080"))
            .peer_addr(peer("127.0.0.1"))
            .to_http_request();
        assert!(site.is_this_site(&req, "http://ci.example:8080"));
        assert!(site.is_this_site(&req, "http://CI.example:8080"));
        assert!(!site.is_this_site(&req, "http://ci.example"));
        assert!(!site.is_this_site(&req, "http://evil.example"));
        let req = TestRequest::post()
            .insert_header(("host", "ci.example"))
            .to_http_request();
        assert!(site.is_this_site(&req, "https://ci.example"));
        assert!(site.is_this_site(&req, "http://ci.example"));
        assert!(!site.is_this_site(&req, "https://ci.example:8443"));
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_proxy() {
        let forwarded = |ip: &str| {
            TestRequest::post()
                .insert_header(("host", "10.0.0.5:8080"))
                .insert_header(("x-forwarded-host", "evil.example"))
                .insert_header(("forwarded", "host=evil.example"))
                .peer_addr(peer(ip))
                .to_http_request()
        };
        let untrusted = Site::default();
        assert!(!untrusted.is_this_site(&forwarded("10.0.0.9"), "http://evil.example"));
        assert!(untrusted.is_this_site(&forwarded("10.0.0.9"), "http://10.0.0.5:8080"));
        let trusting = Site::new(None, "10.0.0.9").unwrap();
        assert!(trusting.is_this_site(&forwarded("10.0.0.9"), "https://evil.example"));
        assert!(!trusting.is_this_site(&forwarded("10.0.0.9"), "http://10.0.0.5:8080"));
        assert!(!trusting.is_this_site(&forwarded("10.0.0.8"), "https://evil.example"));
    }

    #[test]
    fn a_public_url_is_compared_in_scheme_host_and_port() {
        let site = Site::new(Some("https://deploy.example/path"), "10.0.0.9").unwrap();
        let req = TestRequest::post()
            .insert_header(("host", "deploy.example"))
            .insert_header(("x-forwarded-host", "evil.example"))
            .peer_addr(peer("10.0.0.9"))
            .to_http_request();
        assert!(site.is_this_site(&req, "https://deploy.example"));
        assert!(site.is_this_site(&req, "https://deploy.example:443"));
        assert!(!site.is_this_site(&req, "http://deploy.example"));
        assert!(!site.is_this_site(&req, "https://deploy.example:8443"));
        assert!(!site.is_this_site(&req, "https://evil.example"));
        assert!(Site::new(Some("deploy.example"), "").is_err());
        assert!(Site::new(None, "10.0.0.0/99").is_err());
    }

    #[test]
    fn client_addresses_follow_forwarded_for_only_through_trusted_proxies() {
        let req = |ip: &str, xff: &str| {
            TestRequest::get()
                .insert_header(("x-forwarded-for", xff))
                .peer_addr(peer(ip))
                .to_http_request()
        };
        let site = Site::new(None, "10.0.0.0/8").unwrap();
        let addr = |r| site.client_addr(&r).unwrap();
        assert_eq!(addr(req("192.0.2.1", "203.0.113.9")), "192.0.2.1");
        assert_eq!(addr(req("10.0.0.9", "203.0.113.9")), "203.0.113.9");
        assert_eq!(
            addr(req("10.0.0.9", "198.51.100.7, 203.0.113.9, 10.1.1.1")),
            "203.0.113.9"
        );
        assert_eq!(addr(req("10.0.0.9", "garbage, 10.1.1.1")), "10.1.1.1");
        assert_eq!(addr(req("10.0.0.9", "")), "10.0.0.9");
        assert_eq!(addr(req("::ffff:10.0.0.9", "203.0.113.9")), "203.0.113.9");
        assert_eq!(
            Site::default().client_addr(&req("10.0.0.9", "203.0.113.9")),
            Some("10.0.0.9".to_owned())
        );
    }
}
