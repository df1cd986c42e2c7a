//! IP ranges as settings give them: comma-separated CIDRs or single
//! addresses (`10.0.0.0/8, ::1`), for the webhook address policy and the
//! trusted proxies.

use std::net::IpAddr;

use ipnet::IpNet;

/// A range that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("“{0}” is not an address or a range like 10.0.0.0/8 or fd00::/8")]
pub struct BadRange(pub String);

/// Comma-separated ranges or single addresses (a range of one); blanks are
/// skipped, host bits are dropped (`10.0.0.1/8` is `10.0.0.0/8`).
pub fn parse_ranges(list: &str) -> Result<Vec<IpNet>, BadRange> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| BadRange(item.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_with_spaces_bare_addresses_and_host_bits() {
        assert_eq!(
            parse_ranges(" 10.0.0.1/8 , ::1,, 192.0.2.1 ").unwrap(),
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap(),
                "192.0.2.1/32".parse().unwrap(),
            ]
        );
        assert_eq!(parse_ranges("").unwrap(), vec![]);
    }

    #[test]
    fn malformed_ranges_are_errors_naming_the_item() {
        for bad in [
            "10.0.0.0/33",
            "localhost",
            "10.0.0/8",
            "fe80::/129",
            "1.2.3.4/",
        ] {
            assert_eq!(
                parse_ranges(&format!("127.0.0.1,{bad}")),
                Err(BadRange(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
