//! Where webhooks may go. An organisation's admin chooses a webhook's URL; without limits that
//! lets them make the node call what only the node can reach — its own loopback services, the
//! cloud's metadata endpoint, the private network — and learn from the delivery log whether
//! anything answered. So deliveries reach public addresses only, over https only, unless the
//! node's operator allows more (`webhook_allow`, `webhook_allow_http` in `node.toml`).
//!
//! The addresses are checked where the connection is made: host names by the resolver the
//! delivery client uses ([`GuardedResolver`]), which drops every address not allowed — so a name
//! that resolved to a public address when the webhook was added and to a private one later
//! (DNS rebinding) still reaches nothing — and literal addresses, which no resolver sees, before
//! each attempt ([`WebhookEgress::check`]). A webhook plainly aimed at a forbidden place is
//! refused when it is added, with the reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ranges no webhook reaches unless the operator allows them, each with what it is: the IANA
/// special-purpose registries' non-global ranges. Cloud metadata services live in some of them
/// (169.254.169.254, fd00:ec2::254, 100.100.100.200, 192.0.0.192). The first match names it.
const FORBIDDEN: &[(&str, &str)] = &[
    ("0.0.0.0/8", "an unspecified (this-network) address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives there)"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "an IPv4-compatible address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo address"),
    ("2001:2::/48", "a benchmarking address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("fc00::/7", "a unique local (private) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
];

static FORBIDDEN_NETS: LazyLock<Vec<(IpNet, &'static str)>> =
    LazyLock::new(|| FORBIDDEN.iter().map(|(net, what)| (net.parse().expect("a CIDR in FORBIDDEN"), *what)).collect());

/// The IPv4 address an IPv6 address carries in its low or high bits by a translation scheme —
/// IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::`) — to
/// be judged as that IPv4 address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, high, low_bits, ..] => {
            Some(Ipv4Addr::new((high >> 8) as u8, high as u8, (low_bits >> 8) as u8, low_bits as u8))
        }
        _ => None,
    }
}

/// A host name the operator allows, whatever it resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This name.
    Exact(String),
    /// Any name under this suffix (`*.corp.example`: `a.corp.example`, not `corp.example`).
    Under(String),
}

/// Why a webhook may not go where it points.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Not an http(s) URL with a host.
    #[error("{0}")]
    NotAUrl(String),
    /// Plain http, which the operator has not allowed.
    #[error(
        "plain http:// is not allowed for webhooks on this node: use https:// (its operator can allow http with \
         webhook_allow_http)"
    )]
    PlainHttp,
    /// A place no webhook reaches unless the operator allows it.
    #[error(
        "{host} is {what}, which webhooks may not reach (its operator can allow it with webhook_allow in node.toml)"
    )]
    Address {
        /// The host as the URL names it (normalised: `http://2130706433` is 127.0.0.1).
        host: String,
        /// What it is.
        what: &'static str,
    },
}

impl Refusal {
    /// What the delivery log says of an attempt refused so: never whether anything answered.
    pub(crate) fn logged(&self) -> &'static str {
        match self {
            Self::NotAUrl(_) => "refused: not a webhook URL",
            Self::PlainHttp => "refused: plain http not allowed",
            Self::Address { .. } => ADDRESS_REFUSED,
        }
    }
}

/// The delivery log's words for an attempt at an address not allowed.
pub(crate) const ADDRESS_REFUSED: &str = "refused: address not allowed";

/// Where the node's webhooks may go: public addresses over https, and what the operator allows
/// besides.
#[derive(Debug, Clone, Default)]
pub(crate) struct WebhookEgress {
    allow_http: bool,
    allow_nets: Vec<IpNet>,
    allow_hosts: Vec<HostPattern>,
}

impl WebhookEgress {
    /// The policy of a node's configuration: `allow_http`, and the allow-list — CIDRs
    /// (`10.20.0.0/16`), addresses (`127.0.0.1`, `::1`) and host names (`crm.internal`,
    /// `*.corp.example`).
    pub(crate) fn new(allow_http: bool, allow: &[String]) -> Result<Self, String> {
        let mut egress = Self { allow_http, ..Self::default() };
        for entry in allow.iter().map(|e| e.trim()) {
            if let Ok(net) = entry.parse::<IpNet>() {
                egress.allow_nets.push(net.trunc());
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                egress.allow_nets.push(IpNet::from(ip));
            } else if let Some(pattern) = host_pattern(entry) {
                egress.allow_hosts.push(pattern);
            } else {
                return Err(format!(
                    "{entry:?} is neither a CIDR (10.0.0.0/8), an address nor a host name (crm.internal, \
                     *.corp.example)"
                ));
            }
        }
        Ok(egress)
    }

    /// Why `ip` may not be reached, or `None` if it may: an address in a range of [`FORBIDDEN`]
    /// (or carrying one by IPv4-mapping, NAT64 or 6to4), unless the allow-list has it.
    pub(crate) fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = ip.to_canonical();
        if self.allow_nets.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = embedded_ipv4(v6)
            && let Some(what) = self.refusal(IpAddr::V4(v4))
        {
            return Some(what);
        }
        FORBIDDEN_NETS.iter().find(|(net, _)| net.contains(&ip)).map(|(_, what)| *what)
    }

    /// Whether the operator allows the host name `host` whatever it resolves to.
    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow_hosts.iter().any(|p| match p {
            HostPattern::Exact(name) => *name == host,
            // `suffix` starts with a dot: whatever ends with it, and is longer, is under it.
            HostPattern::Under(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        })
    }

    /// Whether a webhook may be sent to `url`, as far as the URL alone tells: an http(s) URL
    /// (http only if allowed) whose host is not a forbidden address, nor `localhost`. Host names
    /// are judged by the addresses they resolve to when a delivery connects. The URL as the
    /// `url` crate normalises it (`http://2130706433/` is `http://127.0.0.1/`).
    pub(crate) fn check(&self, url: &str) -> Result<Url, Refusal> {
        let parsed = Url::parse(url).map_err(|e| Refusal::NotAUrl(format!("{url:?} is not a URL: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(Refusal::PlainHttp),
            _ => return Err(Refusal::NotAUrl("webhook URLs are https:// URLs".into())),
        }
        let refused = |host: String, ip: IpAddr| self.refusal(ip).map(|what| Refusal::Address { host, what });
        let refusal = match parsed.host() {
            None => return Err(Refusal::NotAUrl(format!("{url:?} names no host"))),
            Some(url::Host::Ipv4(ip)) => refused(ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => refused(ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if self.allows_host(name) => None,
            // Names that mean this machine (RFC 6761) whatever a resolver says: judged as loopback.
            Some(url::Host::Domain(name)) if is_localhost(name) => refused(name.to_owned(), Ipv4Addr::LOCALHOST.into()),
            Some(url::Host::Domain(_)) => None,
        };
        match refusal {
            Some(refusal) => Err(refusal),
            None => Ok(parsed),
        }
    }

    /// The resolved addresses of `host` a delivery may connect to.
    fn permitted(&self, host: &str, found: impl IntoIterator<Item = IpAddr>) -> Vec<IpAddr> {
        let any = self.allows_host(host);
        found.into_iter().filter(|ip| any || self.refusal(*ip).is_none()).collect()
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// A host name or `*.suffix` of the allow-list, lower-cased.
fn host_pattern(entry: &str) -> Option<HostPattern> {
    let entry = entry.trim_end_matches('.').to_ascii_lowercase();
    let (wildcard, name) = match entry.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, entry.as_str()),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return None;
    }
    Some(if wildcard { HostPattern::Under(format!(".{name}")) } else { HostPattern::Exact(name.to_owned()) })
}

/// The error a delivery's connection fails with when its host resolves to no address it may
/// reach.
#[derive(Debug, thiserror::Error)]
#[error("address not allowed")]
pub(crate) struct AddressRefused;

/// Whether a delivery failed because its host resolved only to addresses it may not reach.
pub(crate) fn is_address_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<AddressRefused>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// How names are looked up: the system's resolver, or a stand-in in tests.
pub(crate) type Lookup = Arc<dyn Fn(String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system's resolver (what reqwest itself would use).
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    })
}

/// The resolver deliveries connect through: it looks a name up and hands the connection only the
/// addresses the policy permits, failing with [`AddressRefused`] when none is left.
pub(crate) struct GuardedResolver {
    pub(crate) egress: Arc<WebhookEgress>,
    pub(crate) lookup: Lookup,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let (egress, found) = (self.egress.clone(), (self.lookup)(host.clone()));
        Box::pin(async move {
            let permitted = egress.permitted(&host, found.await?);
            if permitted.is_empty() {
                return Err(Box::new(AddressRefused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> WebhookEgress {
        WebhookEgress::default()
    }

    #[test]
    fn node_local_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.7",
            "198.18.0.1",
            "192.0.0.192",
            "240.0.0.1",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(strict().refusal(ip.parse().unwrap()).is_some(), "{ip} is allowed");
        }
        for ip in ["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(strict().refusal(ip.parse().unwrap()), None, "{ip}");
        }
        assert_eq!(strict().refusal("169.254.169.254".parse().unwrap()), Some(FORBIDDEN[4].1));
    }

    #[test]
    fn the_allow_list_takes_cidrs_addresses_and_names() {
        let allow =
            |entries: &[&str]| WebhookEgress::new(false, &entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>());
        let egress = allow(&["10.20.0.0/16", "::1", "127.0.0.1/32", "crm.internal", "*.corp.example"]).unwrap();
        assert_eq!(egress.refusal("10.20.3.4".parse().unwrap()), None);
        assert!(egress.refusal("10.21.0.1".parse().unwrap()).is_some());
        assert_eq!(egress.refusal("::1".parse().unwrap()), None);
        assert_eq!(egress.refusal("::ffff:127.0.0.1".parse().unwrap()), None, "the mapped form too");
        assert!(egress.refusal("127.0.0.2".parse().unwrap()).is_some());
        assert!(egress.allows_host("CRM.internal.") && egress.allows_host("a.b.corp.example"));
        assert!(!egress.allows_host("corp.example") && !egress.allows_host("xcorp.example"));
        assert!(!egress.allows_host("crm.internal.evil.example"));
        for bad in ["10.0.0.0/33", "crm internal", "*.", "-x.example", "http://x.example", ""] {
            assert!(allow(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_plainly_aimed_at_forbidden_places_are_refused_when_added() {
        let refused = |url: &str| strict().check(url).unwrap_err();
        for url in [
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://017700000001/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::1]:8080/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://10.0.0.1/",
            "https://localhost/",
            "https://api.localhost./",
        ] {
            assert!(matches!(refused(url), Refusal::Address { .. }), "{url}: {:?}", refused(url));
        }
        assert_eq!(
            refused("https://2130706433:9/hook").to_string(),
            "127.0.0.1 is a loopback address, which webhooks may not reach (its operator can allow it with \
             webhook_allow in node.toml)"
        );
        assert_eq!(refused("http://hooks.example.com/"), Refusal::PlainHttp);
        assert!(matches!(refused("ftp://hooks.example.com/"), Refusal::NotAUrl(_)));
        assert!(matches!(refused("not a url"), Refusal::NotAUrl(_)));
        assert_eq!(strict().check("https://Hooks.Example.com/x").unwrap().as_str(), "https://hooks.example.com/x");

        let operator = WebhookEgress::new(true, &["127.0.0.0/8".to_owned()]).unwrap();
        assert_eq!(operator.check("http://2130706433:9/hook").unwrap().as_str(), "http://127.0.0.1:9/hook");
        assert!(operator.check("http://localhost:9/hook").is_ok());
        assert!(matches!(operator.check("http://[::1]/"), Err(Refusal::Address { .. })), "only what is allowed");
    }

    /// A receiver on loopback that counts the connections it gets, and its port.
    async fn counting_receiver() -> (Arc<std::sync::atomic::AtomicUsize>, u16) {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (hits, port)
    }

    /// A name that resolves to loopback, as a rebinding attacker's name does after the webhook was
    /// added; and to a public address beside it.
    fn rebinding_lookup() -> Lookup {
        Arc::new(|host: String| {
            Box::pin(async move {
                assert_eq!(host, "rebind.example");
                Ok(vec!["127.0.0.1".parse().unwrap()])
            })
        })
    }

    #[tokio::test]
    async fn the_resolver_connects_only_to_permitted_addresses() {
        let (hits, port) = counting_receiver().await;
        let url = format!("http://rebind.example:{port}/hook");
        let strict = Arc::new(WebhookEgress::new(true, &[]).unwrap());
        assert!(strict.check(&url).is_ok(), "a host name passes when added");
        let sent = super::super::client_with(strict, rebinding_lookup()).post(&url).send().await;
        let error = sent.expect_err("the resolved loopback address is not connected to");
        assert!(is_address_refused(&error), "{error:?}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        // The same, where the operator allows loopback: the request arrives (the test can fail).
        let allowed = Arc::new(WebhookEgress::new(true, &["127.0.0.0/8".to_owned()]).unwrap());
        let sent = super::super::client_with(allowed, rebinding_lookup()).post(&url).send().await.unwrap();
        assert_eq!((sent.status().as_u16(), hits.load(std::sync::atomic::Ordering::SeqCst)), (204, 1));
        // A name the operator allows reaches whatever it resolves to.
        let by_name = Arc::new(WebhookEgress::new(true, &["rebind.example".to_owned()]).unwrap());
        let sent = super::super::client_with(by_name, rebinding_lookup()).post(&url).send().await.unwrap();
        assert_eq!((sent.status().as_u16(), hits.load(std::sync::atomic::Ordering::SeqCst)), (204, 2));
    }

    #[test]
    fn mixed_answers_keep_only_the_permitted_addresses() {
        let found: Vec<IpAddr> = ["10.0.0.5", "93.184.215.14", "::1"].iter().map(|a| a.parse().unwrap()).collect();
        assert_eq!(strict().permitted("x.example", found.clone()), ["93.184.215.14".parse::<IpAddr>().unwrap()]);
        let by_name = WebhookEgress::new(false, &["x.example".to_owned()]).unwrap();
        assert_eq!(by_name.permitted("x.example", found.clone()), found);
    }
}
