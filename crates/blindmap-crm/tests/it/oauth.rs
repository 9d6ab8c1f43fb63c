//! The authorization-code grant against both emulators: the admin's approval brings a code back
//! to the redirect URI with the state, the code (with the PKCE verifier, for Salesforce) becomes
//! a refresh token that the connectors then sign in with; a code answers once, a wrong verifier,
//! secret or redirect URI is refused, a denial comes back as an error.

use blindmap_crm::Secret;
use blindmap_crm::oauth::{OAuthError, Provider, random_secret};
use blindmap_crm::salesforce::{Auth, Salesforce};
use blindmap_crm_emulator::{hubspot, salesforce};
use url::Url;

const CLIENT_ID: &str = "3MVG9emulatedConsumerKey";
const REDIRECT: &str = "https://node.example/connections/authorized";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Follows the authorize URL as the admin's browser would: where the CRM sends it back to.
async fn approve(http: &reqwest::Client, url: &Url) -> Url {
    let answer = http.get(url.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{}", answer.text().await.unwrap());
    Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn salesforce_web_server_flow_with_pkce_gives_a_refresh_token_that_signs_in() {
    let (base, org) = salesforce::start(salesforce::Org {
        client_id: CLIENT_ID.into(),
        client_secret: "emulated-secret".into(),
        callback: Some(REDIRECT.into()),
        api_max: 15_000,
        page_size: 10,
        ..salesforce::Org::default()
    })
    .await;
    let http = http();
    let provider = Provider::Salesforce { login_url: Url::parse(&base).unwrap() };
    let (state, verifier) = (random_secret(), random_secret());
    let url = provider.authorize_url(CLIENT_ID, REDIRECT, &state, &["api", "refresh_token"], Some(&verifier)).unwrap();
    let back = approve(&http, &url).await;
    assert_eq!(back.as_str().split('?').next(), Some(REDIRECT));
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()), "the state comes back as it went");
    let code = param(&back, "code").unwrap();
    let secret = Secret::new("emulated-secret".to_owned());

    // The wrong verifier is refused, and so the code is spent.
    let wrong = provider.exchange_code(&http, CLIENT_ID, &secret, REDIRECT, &code, Some("not-the-verifier")).await;
    assert!(matches!(&wrong, Err(OAuthError::Refused { error, .. }) if error == "invalid_grant"), "{wrong:?}");
    let back = approve(&http, &url).await;
    let code = param(&back, "code").unwrap();
    let refresh = provider.exchange_code(&http, CLIENT_ID, &secret, REDIRECT, &code, Some(&verifier)).await.unwrap();
    let again = provider.exchange_code(&http, CLIENT_ID, &secret, REDIRECT, &code, Some(&verifier)).await;
    assert!(matches!(again, Err(OAuthError::Refused { .. })), "a code answers once");

    // The refresh token signs the connector in.
    let mut sf = Salesforce::new(
        http.clone(),
        Auth::RefreshToken {
            login_url: Url::parse(&base).unwrap(),
            client_id: CLIENT_ID.into(),
            client_secret: secret.clone(),
            refresh_token: refresh,
        },
        0.8,
    );
    sf.authenticate().await.unwrap();

    // A callback other than the app's is refused on the approval page; a denial comes back.
    let elsewhere = provider.authorize_url(CLIENT_ID, "https://evil.example/cb", &state, &["api"], None).unwrap();
    assert_eq!(http.get(elsewhere).send().await.unwrap().status(), 400);
    org.lock().unwrap().deny = true;
    let back = approve(&http, &url).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "code"), None);
}

#[tokio::test]
async fn hubspot_oauth_gives_a_refresh_token_and_refuses_a_spent_code() {
    let (base, portal) = hubspot::start(hubspot::Portal {
        client_id: "hs-client".into(),
        client_secret: "hs-secret".into(),
        window_max: 100,
        interval_ms: 10_000,
        ..hubspot::Portal::default()
    })
    .await;
    let http = http();
    let api = Url::parse(&base).unwrap();
    let provider = Provider::Hubspot { app_url: api.clone(), api_url: api };
    let state = random_secret();
    let url = provider.authorize_url("hs-client", REDIRECT, &state, &["crm.objects.companies.read"], None).unwrap();
    let back = approve(&http, &url).await;
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()));
    let code = param(&back, "code").unwrap();
    let secret = Secret::new("hs-secret".to_owned());
    let elsewhere = provider.exchange_code(&http, "hs-client", &secret, "https://other.example/cb", &code, None).await;
    assert!(
        matches!(&elsewhere, Err(OAuthError::Refused { error, .. }) if error == "BAD_REDIRECT_URI"),
        "{elsewhere:?}"
    );
    let back = approve(&http, &url).await;
    let code = param(&back, "code").unwrap();
    let refresh = provider.exchange_code(&http, "hs-client", &secret, REDIRECT, &code, None).await.unwrap();
    assert_eq!(refresh.expose(), portal.lock().unwrap().refresh_token);
    let spent = provider.exchange_code(&http, "hs-client", &secret, REDIRECT, &code, None).await;
    assert!(matches!(&spent, Err(OAuthError::Refused { error, .. }) if error == "BAD_AUTH_CODE"), "{spent:?}");
}
