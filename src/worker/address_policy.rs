//! Which addresses a webhook step may connect to. A webhook URL is typed by
//! a project admin, and the worker usually runs inside the network it
//! deploys to, so without a rule a step could reach the cloud metadata
//! service, the database or an admin port on loopback.
//!
//! The rule: an address matched by a configured range (allowed or refused)
//! follows the narrowest such range, a refused one winning a tie; an
//! address matched by no configured range is refused when it lies in one of
//! the built-in internal ranges and allowed otherwise. So an operator can
//! allow `10.1.2.0/24` for an internal receiver, or refuse everything
//! (`0.0.0.0/0,::/0`) and allow only their receivers.
//!
//! IPv6 forms that carry an IPv4 address (`::ffff:127.0.0.1`, the old
//! `::127.0.0.1`, NAT64 `64:ff9b::7f00:1`) are judged as that IPv4 address,
//! so a range written for IPv4 covers them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::ranges::{BadRange, parse_ranges};

/// Refused unless an operator allows them: loopback, link-local (cloud
/// metadata lives at 169.254.169.254), private, carrier-grade NAT, "this
/// network", multicast, reserved and documentation-free special ranges.
const INTERNAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

/// Allowed and refused address ranges for webhook connections. The default
/// (no ranges configured) refuses the internal ranges and allows the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

/// Why an address may not be connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub IpAddr);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the address {} is refused by the webhook address policy \
             (STAGECOACH_WEBHOOK_ALLOW can allow it)",
            self.0
        )
    }
}

impl std::error::Error for Refused {}

impl AddressPolicy {
    /// Builds a policy from comma-separated ranges (`10.0.0.0/8, ::1`); a
    /// bare address is a range of one.
    pub fn parse(allow: &str, deny: &str) -> Result<Self, BadRange> {
        Ok(Self {
            allow: parse_ranges(allow)?,
            deny: parse_ranges(deny)?,
        })
    }

    /// Whether the worker may connect to `addr`.
    pub fn check(&self, addr: IpAddr) -> Result<(), Refused> {
        let ip = canonical(addr);
        let narrowest = |ranges: &[IpNet]| {
            ranges
                .iter()
                .filter(|net| net.contains(&ip))
                .map(IpNet::prefix_len)
                .max()
        };
        let allowed = match (narrowest(&self.allow), narrowest(&self.deny)) {
            (Some(allow), Some(deny)) => allow > deny,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => !internal().iter().any(|net| net.contains(&ip)),
        };
        if allowed { Ok(()) } else { Err(Refused(addr)) }
    }
}

#[allow(
    clippy::expect_used,
    reason = "constant ranges, each parsed by the unit tests"
)]
fn internal() -> &'static [IpNet] {
    static RANGES: std::sync::OnceLock<Vec<IpNet>> = std::sync::OnceLock::new();
    RANGES.get_or_init(|| {
        INTERNAL
            .iter()
            .map(|r| r.parse().expect("built-in ranges are valid"))
            .collect()
    })
}

/// The IPv4 address an IPv6 address stands for, if it carries one: mapped
/// (`::ffff:a.b.c.d`), the deprecated compatible form (`::a.b.c.d`, but not
/// `::` or `::1`) and the NAT64 well-known prefix (`64:ff9b::/96`).
fn canonical(addr: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = addr else {
        return addr;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = Ipv4Addr::from(v6.to_bits() as u32);
    let compatible = s[..6] == [0; 6] && v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 {
        IpAddr::V4(embedded)
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn refused(policy: &AddressPolicy, s: &str) -> bool {
        policy.check(ip(s)).is_err()
    }

    #[test]
    fn the_default_refuses_internal_v4_ranges_and_allows_public_ones() {
        let p = AddressPolicy::default();
        for addr in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(&p, addr), "{addr}");
        }
        for addr in ["93.184.216.34", "172.32.0.1", "100.128.0.1", "8.8.8.8"] {
            assert!(!refused(&p, addr), "{addr}");
        }
    }

    #[test]
    fn the_default_refuses_internal_v6_ranges_and_allows_public_ones() {
        let p = AddressPolicy::default();
        for addr in ["::1", "::", "fd00::1", "fc12::1", "fe80::1", "ff02::1"] {
            assert!(refused(&p, addr), "{addr}");
        }
        assert!(!refused(&p, "2606:4700::1111"));
    }

    #[test]
    fn ipv6_forms_carrying_an_ipv4_address_are_judged_as_that_address() {
        let p = AddressPolicy::default();
        for addr in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused(&p, addr), "{addr}");
        }
        assert!(!refused(&p, "::ffff:93.184.216.34"));
        // An IPv4 allow range covers the mapped form too.
        let p = AddressPolicy::parse("127.0.0.0/8", "").unwrap();
        assert!(!refused(&p, "::ffff:127.0.0.1"));
    }

    #[test]
    fn configured_ranges_win_over_the_default_and_the_narrowest_wins() {
        let p = AddressPolicy::parse("10.1.0.0/16", "10.1.2.0/24").unwrap();
        assert!(!refused(&p, "10.1.9.9"));
        assert!(refused(&p, "10.1.2.3"));
        assert!(refused(&p, "10.2.0.1"), "still refused by default");
        // Refuse everything, allow one receiver.
        let p = AddressPolicy::parse("203.0.113.7", "0.0.0.0/0, ::/0").unwrap();
        assert!(!refused(&p, "203.0.113.7"));
        assert!(refused(&p, "203.0.113.8"));
        assert!(refused(&p, "2606:4700::1111"));
        // A tie is refused.
        let p = AddressPolicy::parse("192.168.0.0/16", "192.168.0.0/16").unwrap();
        assert!(refused(&p, "192.168.1.1"));
    }

    #[test]
    fn the_refusal_names_the_address_and_the_setting() {
        let err = AddressPolicy::default().check(ip("127.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the address 127.0.0.1 is refused by the webhook address policy \
             (STAGECOACH_WEBHOOK_ALLOW can allow it)"
        );
    }
}
