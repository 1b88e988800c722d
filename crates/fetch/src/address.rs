//! Which addresses pixmill connects to. By default never a link-local one
//! (169.254.0.0/16, fe80::/10, and fd00:ec2::254, where clouds serve
//! instance credentials); with `--deny-private` not loopback, RFC 1918,
//! CGNAT, ULA or unspecified addresses either.
//!
//! The check is made on the address a connection would go to: in the DNS
//! resolver for names (so redirects and a name that changes its answer,
//! DNS rebinding, are covered too) and on the URL itself for literal IPs,
//! which never reach the resolver, at the start and on every redirect hop.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses are refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPolicy {
    /// Link-local addresses are allowed (`--allow-link-local`).
    pub allow_link_local: bool,
    /// Loopback, private, CGNAT, ULA and unspecified addresses are refused
    /// too (`--deny-private`).
    pub deny_private: bool,
}

/// What kind of special address an IP is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// 169.254.0.0/16, fe80::/10, fd00:ec2::254.
    LinkLocal,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedCgnat,
    /// fc00::/7.
    UniqueLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
}

impl AddressKind {
    fn words(self) -> &'static str {
        match self {
            AddressKind::LinkLocal => "a link-local address",
            AddressKind::Loopback => "a loopback address",
            AddressKind::Private => "a private (RFC 1918) address",
            AddressKind::SharedCgnat => "a carrier-grade NAT address",
            AddressKind::UniqueLocal => "a unique local (fc00::/7) address",
            AddressKind::Unspecified => "an unspecified address",
        }
    }
}

/// The AWS instance metadata service's IPv6 address.
const EC2_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// What kind of special address `ip` is; `None` for an ordinary one. An
/// IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is judged as the
/// IPv4 address it carries.
pub fn classify(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    let [a, b, ..] = ip.octets();
    Some(match (a, b) {
        (169, 254) => AddressKind::LinkLocal,
        (127, _) => AddressKind::Loopback,
        (10, _) | (192, 168) => AddressKind::Private,
        (172, 16..=31) => AddressKind::Private,
        (100, 64..=127) => AddressKind::SharedCgnat,
        (0, _) => AddressKind::Unspecified,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    let first = ip.segments()[0];
    Some(if ip == EC2_METADATA_V6 || first & 0xffc0 == 0xfe80 {
        AddressKind::LinkLocal
    } else if ip.is_loopback() {
        AddressKind::Loopback
    } else if ip.is_unspecified() {
        AddressKind::Unspecified
    } else if first & 0xfe00 == 0xfc00 {
        AddressKind::UniqueLocal
    } else {
        return None;
    })
}

impl AddressPolicy {
    /// Why a connection to `ip` is refused, or `None` when it is allowed.
    pub fn refusal(&self, ip: IpAddr) -> Option<String> {
        let kind = classify(ip)?;
        let refused = match kind {
            AddressKind::LinkLocal => !self.allow_link_local,
            _ => self.deny_private,
        };
        if !refused {
            return None;
        }
        let lift = match kind {
            AddressKind::LinkLocal => "--allow-link-local allows it",
            _ => "refused by --deny-private",
        };
        Some(format!(
            "refused to connect to {ip}: {} ({lift})",
            kind.words()
        ))
    }

    /// The refusal for a URL whose host is a literal IP (which the resolver
    /// never sees); `None` for names and allowed addresses.
    pub fn refusal_for_url(&self, url: &url::Url) -> Option<String> {
        let ip = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return None,
        };
        self.refusal(ip)
    }
}

/// The error the resolver gives when every address of a name is refused;
/// found again in the error chain so the item fails with its message and
/// is not retried.
#[derive(Debug)]
pub(crate) struct AddressRefused(pub String);

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

/// The [`AddressRefused`] somewhere in `e`'s chain of causes.
pub(crate) fn find_refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(refused) = err.downcast_ref::<AddressRefused>() {
            return Some(refused.0.clone());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(refused) = io
                .get_ref()
                .and_then(|i| i.downcast_ref::<AddressRefused>())
            {
                return Some(refused.0.clone());
            }
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<AddressKind> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_range_is_classified() {
        use AddressKind::*;
        let cases = [
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.253.255.255", None),
            ("169.255.0.0", None),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff::1", Some(LinkLocal)),
            ("fec0::1", None),
            ("fd00:ec2::254", Some(LinkLocal)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.254", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("192.168.1.1", Some(Private)),
            ("192.169.0.1", None),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("fc00::1", Some(UniqueLocal)),
            ("fdff::1", Some(UniqueLocal)),
            ("fe00::1", None),
            ("0.0.0.0", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("8.8.8.8", None),
            ("2001:db8::1", None),
            // IPv4-mapped IPv6 is judged as the IPv4 address it carries.
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.1.2.3", Some(Private)),
            ("::ffff:8.8.8.8", None),
        ];
        for (ip, want) in cases {
            assert_eq!(kind(ip), want, "{ip}");
        }
    }

    #[test]
    fn the_default_refuses_link_local_only() {
        let policy = AddressPolicy::default();
        let refusal = policy.refusal("169.254.169.254".parse().unwrap()).unwrap();
        assert_eq!(
            refusal,
            "refused to connect to 169.254.169.254: a link-local address (--allow-link-local allows it)"
        );
        assert!(policy.refusal("fd00:ec2::254".parse().unwrap()).is_some());
        assert!(policy.refusal("127.0.0.1".parse().unwrap()).is_none());
        assert!(policy.refusal("10.0.0.1".parse().unwrap()).is_none());
        let lifted = AddressPolicy {
            allow_link_local: true,
            deny_private: false,
        };
        assert!(lifted.refusal("169.254.169.254".parse().unwrap()).is_none());
    }

    #[test]
    fn deny_private_adds_the_private_ranges() {
        let policy = AddressPolicy {
            allow_link_local: false,
            deny_private: true,
        };
        for ip in ["127.0.0.1", "::1", "10.0.0.1", "172.20.0.1", "192.168.0.1"] {
            assert!(policy.refusal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "100.100.0.1",
            "fd12::1",
            "0.0.0.0",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(policy.refusal(ip.parse().unwrap()).is_some(), "{ip}");
        }
        let msg = policy.refusal("127.0.0.1".parse().unwrap()).unwrap();
        assert!(msg.ends_with("a loopback address (refused by --deny-private)"));
        assert!(policy.refusal("93.184.215.14".parse().unwrap()).is_none());
    }

    #[test]
    fn odd_spellings_are_normalised_by_the_url_parser_then_classified() {
        let policy = AddressPolicy {
            allow_link_local: false,
            deny_private: true,
        };
        let cases = [
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://2852039166/latest", "169.254.169.254"),
            ("http://0xa9fea9fe/", "169.254.169.254"),
            ("http://[::ffff:a9fe:a9fe]/", "[::ffff:a9fe:a9fe]"),
            ("http://[fe80::1]/", "[fe80::1]"),
        ];
        for (spelled, host) in cases {
            let url = url::Url::parse(spelled).unwrap();
            assert_eq!(url.host_str(), Some(host), "{spelled}");
            assert!(policy.refusal_for_url(&url).is_some(), "{spelled}");
        }
        let named = url::Url::parse("http://localhost/").unwrap();
        assert_eq!(
            policy.refusal_for_url(&named),
            None,
            "names go to the resolver"
        );
    }

    /// A measurement, not a check: bench/address_check.sh runs it.
    #[test]
    #[ignore = "a measurement: run by bench/address_check.sh"]
    fn cost_of_the_check_per_connection() {
        use std::hint::black_box;
        use std::time::Instant;
        let policy = AddressPolicy {
            allow_link_local: false,
            deny_private: true,
        };
        // What a resolver answer looks like: an IPv6 and an IPv4 address.
        let answer: Vec<IpAddr> = vec![
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c".parse().unwrap(),
            "93.184.215.14".parse().unwrap(),
        ];
        let rounds = 2_000_000;
        let started = Instant::now();
        for _ in 0..rounds {
            let kept = crate::dns::allowed(black_box(answer.clone()), black_box(&policy));
            black_box(kept.ok());
        }
        let per_answer = started.elapsed().as_nanos() as f64 / rounds as f64;
        let started = Instant::now();
        for ip in answer.iter().cycle().take(rounds) {
            black_box(policy.refusal(black_box(*ip)));
        }
        let per_address = started.elapsed().as_nanos() as f64 / rounds as f64;
        println!("address check: {per_address:.1} ns per address, {per_answer:.1} ns per two-address answer (including the copy of the list)");
    }
}
