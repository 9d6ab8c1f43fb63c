//! `domain` keys: a company's registrable domain, from a website, a bare host or an e-mail address.

use super::DropReason;
use super::lists::{free_mail, placeholders, platforms};

/// The registrable domain (eTLD+1, ASCII) of a website URL, host name or e-mail address.
///
/// Scheme, user, port, path, query, fragment and case go; international names become
/// Punycode (IDNA/UTS 46); the host is cut to the domain a registrant holds under the Public
/// Suffix List compiled into the binary (`www.shop.acme.co.uk` → `acme.co.uk`; `www.` goes with any
/// other subdomain, and stays only where it is the registrable label, as in `www.gov.uk`). Free-mail and ISP
/// domains, shared platforms, IP addresses and unknown suffixes are refused.
pub fn domain(raw: &str) -> Result<String, DropReason> {
    let mut host = raw.trim();
    if let Some(rest) = host.strip_prefix("mailto:").or_else(|| host.strip_prefix("MAILTO:")) {
        host = rest;
    }
    // A scheme only counts before any path: `acme.com/?next=https://other.com` is acme.com's.
    if let Some((scheme, after)) = host.split_once("://")
        && scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        host = after;
    }
    host = host.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    if let Some((_, after)) = host.rsplit_once('@') {
        host = after;
    }
    if host.starts_with('[') {
        return Err(DropReason::NotAPublicHost);
    }
    if let Some((before, port)) = host.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        host = before;
    }
    let host = host.trim_end_matches('.');
    // Whitespace anywhere is refused by IDNA below (URL forbidden code points).
    if host.is_empty() {
        return Err(DropReason::NotADomain);
    }
    let ascii =
        idna::domain_to_ascii_cow(host.as_bytes(), idna::AsciiDenyList::URL).map_err(|_| DropReason::NotADomain)?;
    // RFC 1035 limits: 253 bytes in all, 63 per label.
    if ascii.len() > 253
        || ascii.split('.').any(|label| label.len() > 63)
        || !ascii.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        || ascii.split('.').any(|label| label.is_empty() || label.starts_with('-') || label.ends_with('-'))
    {
        return Err(DropReason::NotADomain);
    }
    if ascii == "localhost" || ascii.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DropReason::NotAPublicHost);
    }
    if !ascii.contains('.') {
        return Err(DropReason::NotADomain);
    }
    let registrable = psl::domain(ascii.as_bytes())
        .filter(|d| d.suffix().is_known())
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok())
        .ok_or(DropReason::UnknownSuffix)?;
    if placeholders().contains(registrable) {
        return Err(DropReason::Placeholder);
    }
    if free_mail().contains(registrable) {
        return Err(DropReason::FreeMail);
    }
    if platforms().contains(registrable) {
        return Err(DropReason::SharedPlatform);
    }
    Ok(registrable.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_hosts_and_emails_reduce_to_the_registrable_domain() {
        for (raw, want) in [
            ("https://www.acme.com/about", "acme.com"),
            ("acme.com", "acme.com"),
            ("ACME.COM", "acme.com"),
            ("http://acme.com:8080/x?y=z#top", "acme.com"),
            ("www.acme.com.", "acme.com"),
            ("https://shop.eu.acme.co.uk/", "acme.co.uk"),
            ("jane.doe@sales.acme.de", "acme.de"),
            ("mailto:jane@acme.fr", "acme.fr"),
            ("https://user:pw@acme.io/", "acme.io"),
            ("müller-technik.de", "xn--mller-technik-wob.de"),
            ("https://www.MÜLLER-technik.de/impressum", "xn--mller-technik-wob.de"),
            ("xn--mller-technik-wob.de", "xn--mller-technik-wob.de"),
            ("acme.github.io", "acme.github.io"),
            ("www.com", "www.com"),
            ("acme.com/?next=https://other.com", "acme.com"),
        ] {
            assert_eq!(domain(raw), Ok(want.to_owned()), "{raw}");
        }
    }

    #[test]
    fn shared_and_invalid_hosts_are_refused() {
        for (raw, why) in [
            ("jane@gmail.com", DropReason::FreeMail),
            ("someone@hotmail.co.uk", DropReason::FreeMail),
            ("https://www.linkedin.com/company/acme", DropReason::SharedPlatform),
            ("facebook.com/acme", DropReason::SharedPlatform),
            ("co.uk", DropReason::UnknownSuffix),
            ("acme.notatld", DropReason::UnknownSuffix),
            ("localhost", DropReason::NotAPublicHost),
            ("10.0.0.1", DropReason::NotAPublicHost),
            ("http://[::1]/", DropReason::NotAPublicHost),
            ("n/a", DropReason::NotADomain),
            ("", DropReason::NotADomain),
            ("acme .com", DropReason::NotADomain),
            ("acme_corp.com", DropReason::NotADomain),
            (&format!("{}.com", "a".repeat(64)), DropReason::NotADomain),
            (&format!("{}com", "abcdefghi.".repeat(26)), DropReason::NotADomain),
            ("https://www.example.com", DropReason::Placeholder),
            ("noemail@noemail.com", DropReason::Placeholder),
            ("-acme.com", DropReason::NotADomain),
        ] {
            assert_eq!(domain(raw), Err(why), "{raw}");
        }
    }

    #[test]
    fn whitespace_inside_a_host_is_refused_whatever_the_space() {
        for space in (0..=0x10ffff).filter_map(char::from_u32).filter(|c| c.is_whitespace()) {
            let raw = format!("acme{space}tools.com");
            assert_eq!(domain(&raw), Err(DropReason::NotADomain), "U+{:04X}", u32::from(space));
        }
    }

    #[test]
    fn the_length_limits_are_exact() {
        let label = |c: &str, n: usize| c.repeat(n);
        // 63 bytes per label, 253 in all (RFC 1035).
        let longest_label = format!("{}.com", label("a", 63));
        assert_eq!(domain(&longest_label), Ok(longest_label.clone()));
        assert_eq!(domain(&format!("{}.com", label("a", 64))), Err(DropReason::NotADomain));
        let host =
            |last: usize| format!("{}.{}.{}.{}.com", label("x", 63), label("y", 63), label("z", 63), label("w", last));
        assert_eq!(host(57).len(), 253);
        assert_eq!(domain(&host(57)), Ok(format!("{}.com", label("w", 57))));
        assert_eq!(domain(&host(58)), Err(DropReason::NotADomain));
    }
}
