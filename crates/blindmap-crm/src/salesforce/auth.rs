//! Getting an access token: the JWT bearer flow (a connected app's certificate key signs a short
//! assertion) or the web-server flow's refresh token.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use url::Url;

use super::{SalesforceError, read_capped};
use crate::secret::Secret;

/// How long an assertion is valid: Salesforce accepts at most three minutes.
const ASSERTION_SECONDS: u64 = 170;

/// The connected app's certificate key (RSA, PKCS#8 PEM), which signs JWT bearer assertions.
pub struct SigningKey(Box<RsaKeyPair>);

impl SigningKey {
    /// The key from its PKCS#8 PEM text (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, SalesforceError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|_| auth_setup("the key is not a PKCS#8 PEM private key (BEGIN PRIVATE KEY)"))?;
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map(|key| Self(Box::new(key)))
            .map_err(|_| auth_setup("the key is not an RSA key of 2048 bits or more"))
    }

    /// The public key (PKCS#1 `RSAPublicKey` DER), which the connected app's certificate holds.
    pub fn public_key_der(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.0.public_key().as_ref().to_vec()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

fn auth_setup(what: &str) -> SalesforceError {
    SalesforceError::Auth { error: "setup".into(), description: what.into() }
}

/// How a connection gets its access token.
#[derive(Debug)]
pub enum Auth {
    /// The OAuth 2.0 JWT bearer flow: a connected app with a certificate, pre-authorised for
    /// the integration user.
    JwtBearer {
        /// `https://login.salesforce.com`, `https://test.salesforce.com` (sandboxes) or the org's
        /// My Domain URL: where the token is asked for, and the assertion's audience.
        login_url: Url,
        /// The connected app's consumer key.
        client_id: String,
        /// The integration user's username.
        username: String,
        /// The certificate's private key.
        key: SigningKey,
    },
    /// The web-server flow's refresh token, given once an admin approved the connected app.
    RefreshToken {
        /// Where the token is asked for.
        login_url: Url,
        /// The connected app's consumer key.
        client_id: String,
        /// Its consumer secret.
        client_secret: Secret,
        /// The refresh token.
        refresh_token: Secret,
    },
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl Auth {
    /// A new access token and the org's instance URL.
    pub(super) async fn token(&self, http: &reqwest::Client) -> Result<(Secret, Url), SalesforceError> {
        let (login_url, form): (&Url, Vec<(&str, String)>) = match self {
            Self::JwtBearer { login_url, client_id, username, key } => {
                let assertion = assertion(key, client_id, username, login_url)?;
                (
                    login_url,
                    vec![
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()),
                        ("assertion", assertion),
                    ],
                )
            }
            Self::RefreshToken { login_url, client_id, client_secret, refresh_token } => (
                login_url,
                vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                    ("refresh_token", refresh_token.expose().to_owned()),
                ],
            ),
        };
        let endpoint =
            login_url.join("/services/oauth2/token").map_err(|_| auth_setup("the login URL is not a base URL"))?;
        let response = http.post(endpoint).form(&form).send().await?;
        let status = response.status();
        let body = read_capped(response).await?;
        if !status.is_success() {
            let refused: TokenError = serde_json::from_slice(&body).unwrap_or(TokenError {
                error: format!("HTTP {}", status.as_u16()),
                error_description: "the token endpoint's answer is not OAuth's".to_owned(),
            });
            return Err(SalesforceError::Auth { error: refused.error, description: refused.error_description });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| SalesforceError::Answer(format!("the token answer: {e}")))?;
        let instance = Url::parse(&answer.instance_url)
            .ok()
            .filter(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback(u)))
            .ok_or_else(|| SalesforceError::Answer("the instance_url is not an https URL".into()))?;
        Ok((Secret::new(answer.access_token), instance))
    }
}

/// Plain HTTP only to loopback (the emulator in tests); a real org is always https.
fn is_loopback(url: &Url) -> bool {
    matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost")
}

/// The signed assertion: `{"alg":"RS256"}` . `{iss, sub, aud, exp}` . RS256 signature.
fn assertion(key: &SigningKey, client_id: &str, username: &str, login_url: &Url) -> Result<String, SalesforceError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let audience = login_url.as_str().trim_end_matches('/');
    let header = serde_json::json!({ "alg": "RS256" });
    let claims =
        serde_json::json!({ "iss": client_id, "sub": username, "aud": audience, "exp": now + ASSERTION_SECONDS });
    let signed =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0u8; key.0.public().modulus_len()];
    key.0
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signed.as_bytes(), &mut signature)
        .map_err(|_| auth_setup("the key could not sign"))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}
