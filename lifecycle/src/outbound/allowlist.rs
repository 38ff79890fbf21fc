//! Which profile URLs may be fetched (`UCP_PROFILE_ALLOWLIST`), and which addresses a fetch
//! may connect to.
//!
//! - With no allow-list, any host may serve a profile; with one, only hosts it names. An entry
//!   is a host (`agent.example`, any port), a `host:port`, or a `*.domain` suffix (its
//!   subdomains, not the domain itself).
//! - `https` is required, except for hosts named by an exact entry (host or host:port, not a
//!   `*.` suffix): development hosts such as `127.0.0.1:10999`.
//! - Loopback, private, link-local, CGNAT, metadata, multicast, documentation and other
//!   special-purpose addresses are refused, whatever name leads to them, except for hosts named
//!   by an exact entry. The check runs on every address the resolver returns and on IP
//!   literals, and the connection goes only to the checked addresses (see `resolver`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A host, on any port.
    Host(String),
    /// A host on one port.
    HostPort(String, u16),
    /// Subdomains of a domain (`*.example.com` matches `a.example.com`, not `example.com`).
    Suffix(String),
}

/// How a URL's host stands with the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Named by an exact entry: http and private addresses allowed.
    Exact,
    /// Allowed (no allow-list, or a `*.` entry): https and public addresses only.
    Public,
}

/// The parsed `UCP_PROFILE_ALLOWLIST`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

/// Why a profile URL is refused. Each names the rule, never what a server said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the profile URL is not a valid absolute URL")]
    NotAUrl,
    #[error("the profile URL must not carry credentials")]
    Credentials,
    #[error("the profile URL must use https (http only for hosts named exactly in UCP_PROFILE_ALLOWLIST)")]
    NotHttps,
    #[error("the profile host is not in UCP_PROFILE_ALLOWLIST")]
    NotAllowed,
    #[error("the profile host resolves to a {0} address, which is refused (allow the host exactly in UCP_PROFILE_ALLOWLIST for development)")]
    Address(&'static str),
    #[error("the profile host does not resolve")]
    Unresolved,
}

impl Allowlist {
    /// Parses comma-separated entries; errors name the entry.
    pub fn parse(text: &str) -> Result<Allowlist, String> {
        let mut entries = Vec::new();
        for raw in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || format!("UCP_PROFILE_ALLOWLIST entry {raw:?} is not a host, host:port or *.domain");
            let entry = raw.to_ascii_lowercase();
            let entry = if let Some(domain) = entry.strip_prefix("*.") {
                if !valid_host(domain) {
                    return Err(bad());
                }
                Entry::Suffix(domain.to_owned())
            } else if let Some((host, port)) = split_port(&entry) {
                let port: u16 = port.parse().map_err(|_| bad())?;
                if !valid_host(host) {
                    return Err(bad());
                }
                Entry::HostPort(host.to_owned(), port)
            } else {
                let host = entry.trim_start_matches('[').trim_end_matches(']');
                if !valid_host(host) {
                    return Err(bad());
                }
                Entry::Host(host.to_owned())
            };
            entries.push(entry);
        }
        Ok(Allowlist { entries })
    }

    /// How `host` (lowercase, IPv6 without brackets) on `port` stands, or why it is refused.
    pub fn standing(&self, host: &str, port: u16) -> Result<Standing, Refused> {
        if self.entries.is_empty() {
            return Ok(Standing::Public);
        }
        let mut standing = None;
        for entry in &self.entries {
            match entry {
                Entry::Host(h) if h == host => return Ok(Standing::Exact),
                Entry::HostPort(h, p) if h == host && *p == port => return Ok(Standing::Exact),
                Entry::Suffix(domain)
                    if host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')) =>
                {
                    standing = Some(Standing::Public);
                }
                _ => {}
            }
        }
        standing.ok_or(Refused::NotAllowed)
    }

    /// True if an exact entry (host, or host:port on any port) names `host`.
    pub fn names_exactly(&self, host: &str) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, Entry::Host(h) | Entry::HostPort(h, _) if h == host))
    }

    /// Checks a profile URL before anything is fetched: scheme, credentials, allow-list, and
    /// an IP literal's address. Returns the host's standing.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<Standing, Refused> {
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(Refused::NotAUrl),
        };
        let port = url.port_or_known_default().ok_or(Refused::NotAUrl)?;
        let standing = self.standing(&host, port)?;
        match url.scheme() {
            "https" => {}
            "http" if standing == Standing::Exact => {}
            _ => return Err(Refused::NotHttps),
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            check_address(ip, standing)?;
        }
        Ok(standing)
    }
}

/// Refuses a special-purpose address unless the host is named exactly.
pub fn check_address(ip: IpAddr, standing: Standing) -> Result<(), Refused> {
    match (special_purpose(ip), standing) {
        (Some(kind), Standing::Public) => Err(Refused::Address(kind)),
        _ => Ok(()),
    }
}

/// What kind of special-purpose address `ip` is, if it is one (IANA's special-purpose
/// registries): anything a public profile server cannot legitimately be at.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special_v4(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation")
            } else if s[0] == 0x0064 && s[1] == 0xff9b {
                // NAT64 (64:ff9b::/96 and the local-use /48): judge the embedded IPv4 address.
                let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                special_v4(v4).or(if s[1] == 0xff9b && s[2] == 1 { Some("NAT64 local-use") } else { None })
            } else if s[0] == 0x2002 {
                // 6to4: the IPv4 address in bits 16..48.
                let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
                special_v4(v4)
            } else if s[0] == 0x2001 && s[1] < 0x0200 {
                Some("IETF protocol assignment (Teredo, ORCHID, ...)")
            } else if s[0..6] == [0, 0, 0, 0, 0, 0] {
                Some("IPv4-compatible")
            } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
                Some("discard-only")
            } else {
                None
            }
        }
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "this-network",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (100, 64..=127, _) => "CGNAT (shared)",
        (127, _, _) => "loopback",
        (169, 254, _) => "link-local or metadata",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (192, 88, 99) => "6to4 relay",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

/// `host:port` split, for entries that are not bracketless IPv6 addresses.
fn split_port(entry: &str) -> Option<(&str, &str)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|port| (host, port));
    }
    if entry.matches(':').count() == 1 {
        return entry.split_once(':');
    }
    None
}

fn valid_host(host: &str) -> bool {
    if host.parse::<Ipv6Addr>().is_ok() || host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).unwrap()
    }

    #[test]
    fn entries_match_hosts_ports_and_subdomains() {
        let list = Allowlist::parse("agent.example, 127.0.0.1:10999, *.partner.example, [::1]:8080").unwrap();
        assert_eq!(list.standing("agent.example", 443), Ok(Standing::Exact));
        assert_eq!(list.standing("127.0.0.1", 10999), Ok(Standing::Exact));
        assert_eq!(list.standing("127.0.0.1", 10998), Err(Refused::NotAllowed));
        assert_eq!(list.standing("a.partner.example", 443), Ok(Standing::Public));
        assert_eq!(list.standing("partner.example", 443), Err(Refused::NotAllowed));
        assert_eq!(list.standing("evilpartner.example", 443), Err(Refused::NotAllowed));
        assert_eq!(list.standing("::1", 8080), Ok(Standing::Exact));
        assert_eq!(Allowlist::default().standing("anything.example", 443), Ok(Standing::Public));
        for bad in ["*.", "a b", "host:port", "x:99999"] {
            assert!(Allowlist::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_need_https_unless_named_exactly() {
        let list = Allowlist::parse("127.0.0.1:10999,*.partner.example").unwrap();
        assert_eq!(list.check_url(&url("http://127.0.0.1:10999/p.json")), Ok(Standing::Exact));
        assert_eq!(list.check_url(&url("http://a.partner.example/p.json")), Err(Refused::NotHttps));
        assert_eq!(list.check_url(&url("https://a.partner.example/p.json")), Ok(Standing::Public));
        assert_eq!(list.check_url(&url("https://user:pw@a.partner.example/")), Err(Refused::Credentials));
        let open = Allowlist::default();
        assert_eq!(open.check_url(&url("https://agent.example/p.json")), Ok(Standing::Public));
        assert_eq!(open.check_url(&url("http://agent.example/p.json")), Err(Refused::NotHttps));
        assert_eq!(open.check_url(&url("ftp://agent.example/p.json")), Err(Refused::NotHttps));
    }

    #[test]
    fn special_purpose_literals_are_refused() {
        let open = Allowlist::default();
        for literal in [
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://172.20.0.1/",
            "https://192.168.1.1/",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:7f00:1::]/",
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            assert!(matches!(open.check_url(&url(literal)), Err(Refused::Address(_))), "{literal}");
        }
        assert_eq!(open.check_url(&url("https://93.184.216.34/")), Ok(Standing::Public));
        assert_eq!(open.check_url(&url("https://[2606:4700::1111]/")), Ok(Standing::Public));
    }
}
