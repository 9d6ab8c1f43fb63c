//! Single sign-on with an organisation's OpenID provider: OpenID Connect's authorization code
//! flow with PKCE (`openidconnect` does the protocol: discovery, the authorization URL, the code
//! exchange, the ID token's signature by the provider's JWKS, issuer, audience, expiry and
//! nonce), users made on their first sign-in and given the role their claims map to on each.
//!
//! The provider's discovery document and keys are fetched when the configuration is set (to
//! refuse a wrong issuer at once) and again for each sign-in's two steps: nothing is cached, so
//! a provider's rotated keys are seen at once and every replica answers alike.
//!
//! Its HTTP goes through the node's `reqwest` (rustls with ring, Mozilla's roots, no redirects,
//! no proxy, a time limit), given to `openidconnect` as its async HTTP client: the crate brings
//! no HTTP client or TLS stack of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use blindmap_store::{OrgId, Role, SsoConfig, SsoSettings, SsoSignIn, Store, StoreError, sso_hash};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IdTokenFields, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a provider's answer may hold.
const MAX_ANSWER: usize = 1 << 20;

/// Why single sign-on could not be configured or did not sign a user in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SsoError {
    /// A configuration field out of bounds.
    #[error("{0}")]
    Invalid(String),
    /// The issuer is not `https://` (or plain `http://` on loopback).
    #[error("the issuer must be an https:// URL (http:// only on 127.0.0.1, [::1] or localhost)")]
    IssuerNotAllowed,
    /// The provider's discovery document could not be read or does not fit the issuer.
    #[error("the OpenID provider's discovery document: {0}")]
    Discovery(String),
    /// The organisation has no single sign-on.
    #[error("this organisation does not offer single sign-on")]
    NotConfigured,
    /// The provider answered with an error (`error=access_denied`…).
    #[error("the OpenID provider refused the sign-in ({0})")]
    ProviderRefused(String),
    /// The answer's state is missing, unknown, used already, expired or from another browser.
    #[error(
        "this sign-in answer is not one this browser is waiting for (it was used already, has expired or \
         comes from another browser): sign in again"
    )]
    BadState,
    /// The provider did not exchange the code.
    #[error("the OpenID provider did not complete the sign-in: {0}")]
    Exchange(String),
    /// The ID token did not validate.
    #[error("the OpenID provider's ID token is not valid: {0}")]
    InvalidToken(String),
    /// The user's claims map to no role, or its e-mail is not at the allowed domain.
    #[error("{0}")]
    NotAllowed(String),
    /// The store failed (a disabled user's `UserInactive` among others).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every claim of the ID token besides the standard ones: the role claim is named by the
/// configuration.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct OtherClaims(BTreeMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type TokenFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type SsoClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<TokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The issuer as a URL the node may call: `https://`, or `http://` on loopback (tests, local
/// development).
pub(crate) fn issuer_url(issuer: &str) -> Result<IssuerUrl, SsoError> {
    let url = url::Url::parse(issuer).map_err(|_| SsoError::IssuerNotAllowed)?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    let allowed = match url.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    };
    if !allowed || url.username() != "" || url.password().is_some() || url.query().is_some() || url.fragment().is_some()
    {
        return Err(SsoError::IssuerNotAllowed);
    }
    IssuerUrl::new(issuer.to_owned()).map_err(|_| SsoError::IssuerNotAllowed)
}

/// The client the node calls providers with.
fn http_client() -> reqwest::Client {
    super::outbound(PROVIDER_TIMEOUT).build().expect("an HTTP client for OpenID providers")
}

/// One call to the provider, for `openidconnect`: its request sent with `client`, the answer read
/// up to [`MAX_ANSWER`] bytes.
async fn send(client: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, ProviderCallError> {
    let (parts, body) = request.into_parts();
    let mut answer =
        client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut response = HttpResponse::new(Vec::new());
    *response.status_mut() = answer.status();
    *response.headers_mut() = std::mem::take(answer.headers_mut());
    while let Some(chunk) = answer.chunk().await? {
        if response.body().len() + chunk.len() > MAX_ANSWER {
            return Err(ProviderCallError::TooLarge);
        }
        response.body_mut().extend_from_slice(&chunk);
    }
    Ok(response)
}

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
enum ProviderCallError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("the answer is larger than 1 MiB")]
    TooLarge,
}

/// The provider's discovery document, checked against the issuer (the crate refuses one whose
/// `issuer` differs), with its keys.
async fn discover(issuer: &str) -> Result<CoreProviderMetadata, SsoError> {
    let issuer = issuer_url(issuer)?;
    let client = http_client();
    let http = move |request| send(client.clone(), request);
    CoreProviderMetadata::discover_async(issuer, &http).await.map_err(|e| SsoError::Discovery(chain(&e)))
}

/// An error and its causes, on one line (none of them carries a secret: the client secret is
/// sent in a header the errors do not show).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn client(metadata: CoreProviderMetadata, config: &SsoConfig, redirect: &str) -> Result<SsoClient, SsoError> {
    let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|e| SsoError::Invalid(e.to_string()))?;
    Ok(Client::from_provider_metadata(
        metadata,
        ClientId::new(config.settings.client_id.clone()),
        Some(ClientSecret::new(config.client_secret.expose_secret().to_owned())),
    )
    .set_redirect_uri(redirect))
}

/// Checks settings as an admin gave them, then reads the provider's discovery document: an
/// issuer that is unreachable or whose document is wrong is refused before anything is stored.
pub(crate) async fn configure(
    store: &Store,
    org: &OrgId,
    settings: &SsoSettings,
    client_secret: &SecretString,
    actor: &str,
) -> Result<(), SsoError> {
    let name = |what: &'static str, value: &str| {
        crate::service::text::check_name(what, value).map_err(|e| SsoError::Invalid(e.to_string()))
    };
    name("issuer", &settings.issuer)?;
    issuer_url(&settings.issuer)?;
    name("client_id", &settings.client_id)?;
    name("client_secret", client_secret.expose_secret())?;
    name("role_claim", &settings.role_claim)?;
    if settings.scopes.len() > 20 {
        return Err(SsoError::Invalid("at most 20 scopes".into()));
    }
    for scope in &settings.scopes {
        let token = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        if scope.is_empty() || scope.len() > 100 || !scope.bytes().all(token) {
            return Err(SsoError::Invalid("a scope is 1 to 100 visible ASCII characters but \" and \\".into()));
        }
    }
    if settings.role_map.len() > 100 {
        return Err(SsoError::Invalid("at most 100 role mappings".into()));
    }
    for (value, role) in &settings.role_map {
        name("a role_map value", value)?;
        if *role == Role::Integration {
            return Err(SsoError::Invalid(
                "role_map maps to admin or rep (integration users sign in with tokens)".into(),
            ));
        }
    }
    if settings.default_role == Some(Role::Integration) {
        return Err(SsoError::Invalid("default_role is admin or rep".into()));
    }
    if let Some(domain) = &settings.email_domain {
        name("email_domain", domain)?;
        if domain.contains('@') || domain.contains(char::is_whitespace) {
            return Err(SsoError::Invalid("email_domain is a domain, e.g. vendor.example".into()));
        }
    }
    let mut settings = settings.clone();
    settings.scopes.retain(|s| s != "openid");
    settings.scopes.dedup();
    // Here the issuer is the admin's to fix: 422, where a sign-in says 502.
    discover(&settings.issuer).await.map_err(|e| match e {
        SsoError::Discovery(detail) => {
            SsoError::Invalid(format!("the issuer's discovery document cannot be read: {detail}"))
        }
        other => other,
    })?;
    store.set_sso_config(org, &settings, client_secret, actor).await?;
    Ok(())
}
/// Where a sign-in leaves for, and the secret that binds it to its browser (for the browser's
/// pre-session cookie).
pub(crate) struct Begun {
    /// The provider's authorization URL.
    pub(crate) url: String,
    /// The cookie's value; the store keeps only its hash.
    pub(crate) browser: SecretString,
}

fn random_token() -> String {
    use rand::RngExt;
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// Begins a sign-in to `org`: a fresh state, nonce and PKCE verifier, kept in the store (any
/// replica can finish it), and the provider's authorization URL to send the browser to.
/// `redirect` is this node's callback, `https://<node>/signin/sso/callback`.
pub(crate) async fn begin(store: &Store, org: &OrgId, redirect: &str) -> Result<Begun, SsoError> {
    let config = store.sso_config(org).await?.ok_or(SsoError::NotConfigured)?;
    let metadata = discover(&config.settings.issuer).await?;
    let client = client(metadata, &config, redirect)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (state, nonce, browser) = (random_token(), random_token(), random_token());
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            {
                let state = state.clone();
                move || CsrfToken::new(state)
            },
            {
                let nonce = nonce.clone();
                move || Nonce::new(nonce)
            },
        )
        .set_pkce_challenge(challenge);
    for scope in &config.settings.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, _, _) = request.url();
    let verifier = SecretString::from(verifier.secret().as_str());
    store.begin_sso_flow(org, &sso_hash(&state), &sso_hash(&browser), &nonce, &verifier).await?;
    Ok(Begun { url: url.to_string(), browser: SecretString::from(browser) })
}

/// A provider's answer at the callback.
pub(crate) struct Answer<'a> {
    pub(crate) state: Option<&'a str>,
    pub(crate) code: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    /// The value of the browser's pre-session cookie, if it sent one.
    pub(crate) browser: Option<&'a str>,
}

/// Finishes a sign-in: the state is taken (once), checked against this browser and its expiry;
/// a provider's error ends it; the code is exchanged with the PKCE verifier and the ID token
/// validated; the claims say the user's name and role. The user is found by (organisation,
/// issuer, subject), or made; its role is set from the claims on every sign-in.
pub(crate) async fn finish(store: &Store, answer: &Answer<'_>, redirect: &str) -> Result<SsoSignIn, SsoError> {
    let state = answer.state.filter(|s| !s.is_empty()).ok_or(SsoError::BadState)?;
    let flow = store.take_sso_flow(&sso_hash(state)).await?.ok_or(SsoError::BadState)?;
    let browser = answer.browser.map(sso_hash).unwrap_or_default();
    let same_browser: bool = subtle::ConstantTimeEq::ct_eq(browser.as_bytes(), flow.browser_hash.as_bytes()).into();
    if flow.expired || !same_browser {
        return Err(SsoError::BadState);
    }
    if let Some(error) = answer.error {
        let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(100).collect();
        return Err(SsoError::ProviderRefused(error));
    }
    let code =
        answer.code.filter(|c| !c.is_empty()).ok_or_else(|| SsoError::Exchange("no code in the answer".into()))?;
    let config = store.sso_config(&flow.org).await?.ok_or(SsoError::NotConfigured)?;
    let metadata = discover(&config.settings.issuer).await?;
    let client = client(metadata, &config, redirect)?;
    let http_client = http_client();
    let http = move |request| send(http_client.clone(), request);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| SsoError::Exchange(chain(&e)))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.expose_secret().to_owned()))
        .request_async(&http)
        .await
        .map_err(|e| SsoError::Exchange(chain(&e)))?;
    let id_token = tokens.id_token().ok_or_else(|| SsoError::InvalidToken("the answer has no ID token".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(flow.nonce.clone()))
        .map_err(|e| SsoError::InvalidToken(chain(&e)))?;
    let email = claims.email().map(|e| e.as_str().to_owned());
    if let Some(domain) = &config.settings.email_domain {
        let verified = claims.email_verified() != Some(false);
        let at_domain =
            email.as_deref().and_then(|e| e.rsplit_once('@')).is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain));
        if !(verified && at_domain) {
            return Err(SsoError::NotAllowed(format!(
                "Only users with a verified e-mail address at {domain} may sign in to this organisation."
            )));
        }
    }
    let values = claim_values(claims.additional_claims().0.get(&config.settings.role_claim));
    let role = mapped_role(&config.settings, &values).ok_or_else(|| {
        SsoError::NotAllowed(format!(
            "Your account at the OpenID provider has no group (claim {:?}) that gives a role here: ask your admin.",
            config.settings.role_claim
        ))
    })?;
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_owned())
        .or(email)
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| claims.subject().as_str().to_owned());
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(150).collect();
    let name = if name.is_empty() { claims.subject().as_str().chars().take(150).collect() } else { name };
    Ok(store.sso_user(&flow.org, claims.issuer().as_str(), claims.subject().as_str(), &name, role).await?)
}

/// The values of the role claim: a string, or the strings of a list.
fn claim_values(claim: Option<&serde_json::Value>) -> Vec<&str> {
    match claim {
        Some(serde_json::Value::String(s)) => vec![s.as_str()],
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(serde_json::Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The role `values` give: the highest any of them maps to, else the default (`None`: refused).
fn mapped_role(settings: &SsoSettings, values: &[&str]) -> Option<Role> {
    let mapped: Vec<Role> = values.iter().filter_map(|v| settings.role_map.get(*v).copied()).collect();
    if mapped.contains(&Role::Admin) {
        Some(Role::Admin)
    } else if mapped.contains(&Role::Rep) {
        Some(Role::Rep)
    } else {
        settings.default_role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback() {
        for ok in ["https://id.example", "https://id.example/realms/x", "http://127.0.0.1:8080", "http://localhost:9/x"]
        {
            assert!(issuer_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://id.example", "ftp://id.example", "https://u:p@id.example", "https://id.example/?a=1", "x"] {
            assert!(matches!(issuer_url(bad), Err(SsoError::IssuerNotAllowed)), "{bad}");
        }
    }

    #[test]
    fn the_highest_mapped_role_wins_else_the_default() {
        let mut settings = SsoSettings {
            issuer: "https://id.example".into(),
            client_id: "c".into(),
            scopes: vec![],
            role_claim: "groups".into(),
            role_map: [("a".to_owned(), Role::Admin), ("r".to_owned(), Role::Rep)].into(),
            default_role: None,
            email_domain: None,
        };
        assert_eq!(mapped_role(&settings, &["r", "a"]), Some(Role::Admin));
        assert_eq!(mapped_role(&settings, &["x", "r"]), Some(Role::Rep));
        assert_eq!(mapped_role(&settings, &["x"]), None);
        settings.default_role = Some(Role::Rep);
        assert_eq!(mapped_role(&settings, &[]), Some(Role::Rep));
        let list = serde_json::json!(["a", 1, "b"]);
        assert_eq!(claim_values(Some(&list)), ["a", "b"]);
        assert_eq!(claim_values(Some(&serde_json::json!("a"))), ["a"]);
        assert!(claim_values(None).is_empty());
    }
}
