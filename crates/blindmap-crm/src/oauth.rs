//! The OAuth 2.0 authorization-code grant (RFC 6749 §4.1) by which an admin approves the node's
//! access to a CRM once, in a browser, and the node keeps the refresh token it is given:
//!
//! - Salesforce's web-server flow (help.salesforce.com, "OAuth 2.0 Web Server Flow for Web App
//!   Integration", with PKCE as "Proof Key for Code Exchange (PKCE) Extension" describes):
//!   `GET {login}/services/oauth2/authorize?response_type=code&client_id=…&redirect_uri=…&state=…
//!   &scope=api refresh_token&code_challenge=…&code_challenge_method=S256`, then `POST
//!   {login}/services/oauth2/token` with `grant_type=authorization_code`, `code`, `client_id`,
//!   `client_secret`, `redirect_uri` and `code_verifier`, answered with `access_token`,
//!   `refresh_token` (given when the app's scopes include `refresh_token`) and `instance_url`;
//!   a refusal is `{error, error_description}`.
//! - HubSpot's OAuth (developers.hubspot.com, `docs/api/oauth-quickstart-guide` and
//!   `docs/api/oauth/tokens`): `GET https://app.hubspot.com/oauth/authorize?client_id=…&
//!   redirect_uri=…&scope=…&state=…`, then `POST {api}/oauth/v1/token` with
//!   `grant_type=authorization_code`, `client_id`, `client_secret`, `redirect_uri` and `code`,
//!   answered with `refresh_token`, `access_token` and `expires_in`; a refusal is
//!   `{status, message, category}`.
//!
//! The `state` and the PKCE verifier (RFC 7636, `S256`) are the caller's to keep between the two
//! steps; this module makes them, builds the URL the admin's browser goes to, and exchanges the
//! code for the refresh token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom;
use serde::Deserialize;
use url::Url;

use crate::body::{BodyError, read_capped};
use crate::secret::Secret;

/// The most a token answer may be.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why an authorization could not be finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The CRM refused the code (its error and words).
    #[error("the CRM refused the authorization: {error} ({description})")]
    Refused {
        /// OAuth's `error` (`invalid_grant`, …), or HubSpot's category.
        error: String,
        /// What the CRM said.
        description: String,
    },
    /// The answer was not what OAuth promises (no refresh token, say).
    #[error("the CRM's token answer: {0}")]
    Answer(String),
    /// The URL given is not one to build on.
    #[error("{0}")]
    Setup(String),
    /// The CRM could not be reached.
    #[error("the CRM could not be reached: {0}")]
    Http(#[from] reqwest::Error),
}

/// Whose authorization endpoint and token endpoint.
#[derive(Debug, Clone)]
pub enum Provider {
    /// A Salesforce org: its login URL (`https://login.salesforce.com`, `https://test.salesforce.com`
    /// or My Domain), where both endpoints are.
    Salesforce {
        /// The login URL.
        login_url: Url,
    },
    /// HubSpot: where admins approve (`https://app.hubspot.com`) and the API (token endpoint).
    Hubspot {
        /// The approval page's origin.
        app_url: Url,
        /// The API.
        api_url: Url,
    },
}

/// A fresh random secret: 32 bytes, base64url without padding (43 characters), for a `state` or
/// a PKCE verifier.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier's `S256` challenge (RFC 7636 §4.2): base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

impl Provider {
    /// The URL to send the admin's browser to: the CRM asks them to approve `client_id`'s access
    /// with `scopes`, then sends the browser to `redirect_uri` with a `code` and `state` (or an
    /// `error`). `verifier` adds a PKCE challenge (Salesforce).
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        scopes: &[&str],
        verifier: Option<&str>,
    ) -> Result<Url, OAuthError> {
        let (base, path) = match self {
            Self::Salesforce { login_url } => (login_url, "/services/oauth2/authorize"),
            Self::Hubspot { app_url, .. } => (app_url, "/oauth/authorize"),
        };
        let mut url = base.join(path).map_err(|_| OAuthError::Setup("the CRM's URL is not a base URL".into()))?;
        {
            let mut query = url.query_pairs_mut();
            if matches!(self, Self::Salesforce { .. }) {
                query.append_pair("response_type", "code");
            }
            query
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", state);
            if let Some(verifier) = verifier {
                query
                    .append_pair("code_challenge", &pkce_challenge(verifier))
                    .append_pair("code_challenge_method", "S256");
            }
        }
        Ok(url)
    }

    /// Exchanges the `code` the browser brought back for the refresh token.
    pub async fn exchange_code(
        &self,
        http: &reqwest::Client,
        client_id: &str,
        client_secret: &Secret,
        redirect_uri: &str,
        code: &str,
        verifier: Option<&str>,
    ) -> Result<Secret, OAuthError> {
        let endpoint = match self {
            Self::Salesforce { login_url } => login_url.join("/services/oauth2/token"),
            Self::Hubspot { api_url, .. } => api_url.join("/oauth/v1/token"),
        }
        .map_err(|_| OAuthError::Setup("the CRM's URL is not a base URL".into()))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        let response = http.post(endpoint).form(&form).send().await?;
        let status = response.status();
        let body = read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
            BodyError::TooLarge(max) => OAuthError::Answer(format!("an answer larger than {max} bytes")),
            BodyError::Transport(e) => OAuthError::Http(e),
        })?;
        if !status.is_success() {
            let refused: Refusal = serde_json::from_slice(&body).unwrap_or_default();
            let code = refused.status.as_str().filter(|s| *s != "error").unwrap_or_default().to_owned();
            let error = [refused.error, code, refused.category].into_iter().find(|e| !e.is_empty());
            let description = [refused.error_description, refused.message].into_iter().find(|e| !e.is_empty());
            return Err(OAuthError::Refused {
                error: clean(&error.unwrap_or_else(|| format!("HTTP {}", status.as_u16()))),
                description: clean(&description.unwrap_or_else(|| "no reason given".into())),
            });
        }
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| OAuthError::Answer(format!("not OAuth's: {e}")))?;
        match answer.refresh_token {
            Some(token) if !token.is_empty() => Ok(Secret::new(token)),
            _ => Err(OAuthError::Answer(
                "no refresh token: the app's OAuth scopes must include refresh_token (Salesforce: \"Perform requests at \
                 any time\")"
                    .into(),
            )),
        }
    }
}

/// At most 200 printable characters of what a CRM said.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Default, Deserialize)]
struct Refusal {
    #[serde(default)]
    error: String,
    /// HubSpot's code (`BAD_AUTH_CODE`), or `error`.
    #[serde(default)]
    status: serde_json::Value,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let a = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret());
    }

    #[test]
    fn authorize_urls_carry_what_each_crm_reads() {
        let sf = Provider::Salesforce { login_url: Url::parse("https://login.salesforce.com").unwrap() };
        let url =
            sf.authorize_url("cid", "https://node.example/cb", "st", &["api", "refresh_token"], Some("v")).unwrap();
        let pairs: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/services/oauth2/authorize");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["scope"], "api refresh_token");
        assert_eq!(pairs["code_challenge"], pkce_challenge("v"));
        assert_eq!(pairs["code_challenge_method"], "S256");
        let hs = Provider::Hubspot {
            app_url: Url::parse("https://app.hubspot.com").unwrap(),
            api_url: Url::parse("https://api.hubapi.com").unwrap(),
        };
        let url =
            hs.authorize_url("cid", "https://node.example/cb", "st", &["crm.objects.companies.read"], None).unwrap();
        assert_eq!(url.host_str(), Some("app.hubspot.com"));
        assert!(!url.query().unwrap().contains("response_type") && !url.query().unwrap().contains("code_challenge"));
    }
}
