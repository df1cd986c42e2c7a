//! The HTTP side of webhook steps: an agent that connects only to addresses
//! the [`AddressPolicy`] allows, follows no redirects, uses no proxy, and
//! reads only the start of an answer.
//!
//! The policy is checked in ureq's resolver, on the addresses the connector
//! is then given, not on the URL's host name before the request: a name
//! whose DNS answer changes between a check and the connection (DNS
//! rebinding) cannot slip past, and a redirect cannot bounce the worker to
//! an internal address because no redirect is followed.

use std::io::Read;
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::address_policy::{AddressPolicy, Refused};

/// Characters of a webhook's answer kept in the deployment log, after its
/// status line: enough to see why a receiver refused, too little to turn
/// the log into a way to read internal pages.
pub const KEPT_BODY_CHARS: usize = 500;

/// Resolves as usual, then refuses the request unless every address the
/// name resolved to is allowed (a name that also points inside is refused
/// outright rather than tried address by address).
#[derive(Debug)]
struct PolicyResolver {
    policy: AddressPolicy,
    inner: DefaultResolver,
}

impl Resolver for PolicyResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        for addr in &addrs {
            self.policy
                .check(addr.ip())
                .map_err(|refused| ureq::Error::Other(Box::new(refused)))?;
        }
        Ok(addrs)
    }
}

/// An agent for one webhook step.
pub fn agent(policy: &AddressPolicy, timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // A 3xx is an answer, not an instruction: following it would let an
        // external URL send the worker anywhere.
        .max_redirects(0)
        // A proxy would resolve and connect on our behalf, past the policy;
        // ureq would otherwise pick one up from HTTP_PROXY and friends.
        .proxy(None)
        .build();
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default(),
        PolicyResolver {
            policy: policy.clone(),
            inner: DefaultResolver::default(),
        },
    )
}

/// The policy's refusal, when that is why a request failed.
pub fn refusal(err: &ureq::Error) -> Option<&Refused> {
    match err {
        ureq::Error::Other(inner) => inner.downcast_ref::<Refused>(),
        _ => None,
    }
}

/// The first [`KEPT_BODY_CHARS`] characters of an answer's body, reading no
/// more than they can take (4 bytes a character), so a huge answer costs
/// nothing.
pub fn body_start(body: &mut ureq::Body) -> String {
    let mut bytes = Vec::new();
    let _ = body
        .as_reader()
        .take(KEPT_BODY_CHARS as u64 * 4)
        .read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .chars()
        .take(KEPT_BODY_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_recognised_in_the_error_ureq_returns() {
        let agent = agent(&AddressPolicy::default(), Duration::from_secs(2));
        let err = agent.post("http://127.0.0.1:9/hook").send("").unwrap_err();
        let refused = refusal(&err).expect("refused by the policy");
        assert_eq!(refused.0, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
        let err = agent.post("http://[::1]:9/hook").send("").unwrap_err();
        assert!(refusal(&err).is_some());
    }
}
