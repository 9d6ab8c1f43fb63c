//! What the node does, whoever asks — the API, the pages, a partner's node or a worker: match
//! runs (started, driven over the peer channel, stored whole or not at all), co-sell records kept
//! in step with partners, deal registrations and their checks, attribution, users' corrections,
//! and the webhook worker that delivers the event outbox.

pub(crate) mod alerts;
pub(crate) mod attribution;
pub(crate) mod browser;
pub(crate) mod budgets;
pub(crate) mod corrections;
pub(crate) mod cosell;
pub(crate) mod crm;
pub(crate) mod datasets;
pub(crate) mod ecosystem;
pub(crate) mod hooks;
pub(crate) mod partnerships;
pub(crate) mod registrations;
pub(crate) mod retention;
pub(crate) mod runs;
pub(crate) mod schedules;
pub(crate) mod sso;
pub(crate) mod text;
pub(crate) mod users;
pub(crate) mod writeback;

/// `n` with thousands separators (`1,234,567`), as the pages and the services that word amounts
/// for people write counts and money.
pub(crate) fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A client builder for calls to servers on the public internet (webhook receivers, OpenID
/// providers): Mozilla's roots through ring, no redirects (an answer cannot send the call on to
/// where it may not go), no proxy (the addresses checked are the ones connected to), this
/// `timeout` for a whole call, and blindmap's user agent.
pub(crate) fn outbound(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent(concat!("blindmap/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    /// The layering: services return their own errors and know nothing of HTTP; `http::error`
    /// maps those errors to problem documents, in one place.
    #[test]
    fn services_know_no_http() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service");
        let mut files = vec![dir];
        let mut checked = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Written in two parts so that this file does not hold them itself.
            for needle in [concat!("crate::", "http"), concat!("Api", "Error")] {
                assert!(!text.contains(needle), "{} uses {needle}", path.display());
            }
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} files read");
    }
}
