//! Single sign-on with a real OpenID provider (`common::oidc`: `oidc-provider` from npm on
//! loopback). In headless Chromium: users sign in through the provider's login page and land
//! with the role their groups map to, a second sign-in is the same user; a user with no mapped
//! group, a disabled user and a user of another e-mail domain are refused and not made. Over
//! HTTP: answers with a missing, forged, expired, reused or other browser's state, the
//! provider's `error=access_denied`, a code the provider does not exchange, a provider that
//! cannot be reached, issuers that are refused; the settings through the API (each
//! organisation's own only); token and one-time-link sign-in beside single sign-on; a sign-in
//! begun through one replica answered through another, once (PostgreSQL).
//!
//! Each test skips without the provider (and the browser tests without Chromium) unless
//! `BLINDMAP_REQUIRE_OIDC` (`BLINDMAP_REQUIRE_BROWSER`) is set.

use std::collections::BTreeMap;
use std::time::Duration;

use blindmap_server::client::{ApiClient, ClientError, Method, pinned_http};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, Provider};
use crate::common::{self, Node, call};

fn base(node: &Node) -> String {
    format!("https://127.0.0.1:{}", node.running.addr.port())
}

fn settings(issuer: &str) -> Value {
    json!({
        "issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "role_map": [{ "value": "blindmap-admins", "role": "admin" }, { "value": "blindmap-reps", "role": "rep" }],
    })
}

/// A node of `Vendor` with single sign-on set to a running provider.
async fn configured() -> Option<(Node, Provider)> {
    let node = common::node("Vendor", None).await;
    let provider = Provider::start(&format!("{}/signin/sso/callback", base(&node))).await?;
    let view = call(&node, Method::PUT, "/api/v1/sso", Some(settings(&provider.issuer))).await.unwrap();
    assert_eq!(view["redirect_uri"], format!("{}/signin/sso/callback", base(&node)));
    Some((node, provider))
}

/// The organisation's id (of the token's user).
async fn org_of(node: &Node) -> String {
    call(node, Method::GET, "/api/v1/me", None).await.unwrap()["organisation_id"].as_str().unwrap().to_owned()
}

/// The organisation's users: name → role.
async fn users(node: &Node) -> BTreeMap<String, String> {
    let list = call(node, Method::GET, "/api/v1/users", None).await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().to_owned(), u["role"].as_str().unwrap().to_owned()))
        .collect()
}

async fn audit_kinds(node: &Node) -> Vec<(String, Value)> {
    let trail = call(node, Method::GET, "/api/v1/audit?limit=100", None).await.unwrap();
    trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["detail"].clone()))
        .collect()
}

/// Signs in through the provider in `browser` as `login`: from the node's sign-in page, by its
/// link, to the provider's login form and back.
async fn sign_in_as(browser: &Browser, node: &Node, login: &str) {
    browser.goto(&format!("{}/signin", base(node))).await;
    assert!(browser.text_of("a.sso").await.contains("Vendor"), "the sign-in page offers the organisation's SSO");
    browser.follow("a.sso").await;
    browser.wait_for("input[name=login]", Duration::from_secs(10)).await;
    browser.fill("input[name=login]", login).await;
    browser.fill("input[name=password]", "any password").await;
    browser.submit("form").await;
}

/// Deletes the browser's cookies of 127.0.0.1 — cookies know no ports: the provider's and the
/// node's alike — signing it out of both.
async fn forget_everything(browser: &Browser, provider: &Provider) {
    browser.goto(&format!("{}/.well-known/openid-configuration", provider.issuer)).await;
    browser.delete_cookies().await;
}

#[tokio::test]
async fn users_sign_in_through_the_provider_with_their_mapped_role() {
    let Some(browser) = Browser::start().await else { return };
    let Some((node, provider)) = configured().await else { return };

    // A rep: made on its first sign-in, lands on its home page signed in (the session cookie came
    // through the provider's cross-site redirect).
    sign_in_as(&browser, &node, "rita").await;
    browser.wait_for("nav a[href='/partners']", Duration::from_secs(15)).await;
    assert!(browser.text_of("header").await.contains("Rita Rep"), "{}", browser.text_of("body").await);
    let session = browser.cookie("bm_session").await.expect("signed in");
    assert!(session.http_only && session.secure && session.same_site.as_deref() == Some("Strict"), "{session:?}");
    assert!(browser.cookie("__Host-bm_sso").await.is_none(), "the flow cookie is cleared");
    assert_eq!(users(&node).await.get("Rita Rep").map(String::as_str), Some("rep"));

    // Signed out, and in again (the provider remembers her): the same user, not another.
    browser.submit("form[action='/signout']").await;
    browser.wait_for_url("/signin", Duration::from_secs(10)).await;
    browser.follow("a.sso").await;
    browser.wait_for("nav a[href='/partners']", Duration::from_secs(15)).await;
    let listed = users(&node).await;
    assert_eq!(listed.keys().filter(|n| n.starts_with("Rita")).count(), 1, "{listed:?}");

    // An admin, once the browser has forgotten rita.
    forget_everything(&browser, &provider).await;
    sign_in_as(&browser, &node, "ada").await;
    browser.wait_for("nav a[href='/partners']", Duration::from_secs(15)).await;
    assert!(browser.text_of("header").await.contains("Ada Admin"));
    assert_eq!(users(&node).await.get("Ada Admin").map(String::as_str), Some("admin"));

    // A user none of whose groups maps: refused with a clear page, and not made.
    forget_everything(&browser, &provider).await;
    sign_in_as(&browser, &node, "nemo").await;
    browser.wait_for_url("/signin/sso/callback", Duration::from_secs(15)).await;
    let shown = browser.text_of("main").await;
    assert!(shown.contains("Not signed in") && shown.contains("no group"), "{shown}");
    assert!(browser.cookie("bm_session").await.is_none());
    assert!(!users(&node).await.keys().any(|n| n.starts_with("Nemo")));

    // A disabled user is refused, though the provider signs it in.
    let list = call(&node, Method::GET, "/api/v1/users", None).await.unwrap();
    let rita = list["items"].as_array().unwrap().iter().find(|u| u["name"] == "Rita Rep").unwrap()["id"].clone();
    call(&node, Method::POST, &format!("/api/v1/users/{}/disable", rita.as_str().unwrap()), None).await.unwrap();
    forget_everything(&browser, &provider).await;
    sign_in_as(&browser, &node, "rita").await;
    browser.wait_for_url("/signin/sso/callback", Duration::from_secs(15)).await;
    let shown = browser.text_of("main").await;
    assert!(shown.contains("disabled or removed"), "{shown}");
    assert!(browser.cookie("bm_session").await.is_none());

    // With an e-mail domain set, a user of another domain is refused, whatever its groups.
    let mut narrowed = settings(&provider.issuer);
    narrowed["email_domain"] = json!("vendor.example");
    call(&node, Method::PUT, "/api/v1/sso", Some(narrowed)).await.unwrap();
    forget_everything(&browser, &provider).await;
    sign_in_as(&browser, &node, "olga").await;
    browser.wait_for_url("/signin/sso/callback", Duration::from_secs(15)).await;
    let shown = browser.text_of("main").await;
    assert!(shown.contains("e-mail address at vendor.example"), "{shown}");
    assert!(!users(&node).await.keys().any(|n| n.starts_with("Olga")));

    // Audited: each sign-in, the users made.
    let trail = audit_kinds(&node).await;
    let sso_signins = trail.iter().filter(|(k, d)| k == "web.signed_in" && d["with"] == "sso").count();
    assert_eq!(sso_signins, 3, "{trail:?}");
    let made: Vec<&Value> = trail.iter().filter(|(k, _)| k == "user.created").map(|(_, d)| d).collect();
    assert!(made.iter().any(|d| d["user"] == "Ada Admin" && d["role"] == "admin" && d["by"] == "sso"), "{made:?}");
}

/// A user agent that keeps the node's cookies and follows no redirect.
struct Agent {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

impl Agent {
    fn new(node: &Node) -> Self {
        Self { http: pinned_http(&node.running.fingerprint).unwrap(), base: base(node), cookies: BTreeMap::new() }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = request.header("cookie", jar.join("; ")).send().await.unwrap();
        for set in response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        Answer { status, location, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_urlencoded::to_string(form).unwrap();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Begins a sign-in with `org`'s provider: the `state` the node sent the browser off with.
    async fn begin(&mut self, org: &str) -> String {
        let left = self.get(&format!("/signin/sso/{org}")).await;
        assert_eq!(left.status, StatusCode::SEE_OTHER, "{}", left.body);
        let url = url::Url::parse(&left.location).unwrap();
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["code_challenge_method"], "S256", "PKCE");
        assert!(query["scope"].split(' ').any(|s| s == "openid"));
        assert!(query.contains_key("nonce"));
        assert!(self.cookies.contains_key("__Host-bm_sso"));
        query["state"].clone()
    }
}

fn callback(state: &str, rest: &str) -> String {
    format!("/signin/sso/callback?state={state}&{rest}")
}

#[tokio::test]
async fn answers_the_browser_is_not_waiting_for_are_refused() {
    let Some((node, provider)) = configured().await else { return };
    let org = org_of(&node).await;
    let mut agent = Agent::new(&node);
    let before = users(&node).await;

    // The flow cookie: Lax (it must come back on the provider's cross-site redirect), host-only.
    let left = agent.http.get(format!("{}/signin/sso/{org}", agent.base)).send().await.unwrap();
    let set = left.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    for part in ["__Host-bm_sso=", "HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(set.contains(part), "{set}");
    }

    // No state, a forged one.
    let state = agent.begin(&org).await;
    for path in ["/signin/sso/callback?code=abc".to_owned(), callback("forged", "code=abc")] {
        let answer = agent.get(&path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}: {}", answer.body);
        assert!(answer.body.contains("sign in again"), "{}", answer.body);
    }

    // The provider's refusal: a clear page, and the state is spent.
    let refused = agent.get(&callback(&state, "error=access_denied&error_description=no")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.body.contains("access_denied"), "{}", refused.body);
    let again = agent.get(&callback(&state, "code=abc")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a state answers once: {}", again.body);

    // Another browser's state: refused, and spent for its own browser too.
    let state = agent.begin(&org).await;
    let mut other = Agent::new(&node);
    other.begin(&org).await;
    assert_eq!(other.get(&callback(&state, "code=abc")).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(agent.get(&callback(&state, "error=access_denied")).await.status, StatusCode::BAD_REQUEST);

    // An expired one.
    let state = agent.begin(&org).await;
    blindmap_store::testing::expire_sso_flows(&common::store_of(&node).await).await;
    assert_eq!(agent.get(&callback(&state, "code=abc")).await.status, StatusCode::BAD_REQUEST);

    // A code the provider does not exchange: 502, nothing made.
    let state = agent.begin(&org).await;
    let failed = agent.get(&callback(&state, "code=not-a-code-it-issued")).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
    assert!(failed.body.contains("did not complete the sign-in"), "{}", failed.body);

    assert!(!agent.cookies.contains_key("bm_session"));
    assert_eq!(users(&node).await, before, "no user made");
    assert!(!audit_kinds(&node).await.iter().any(|(k, _)| k == "web.signed_in"));

    // A provider that cannot be reached: 502, and the browser stays here.
    drop(provider);
    let unreachable = agent.get(&format!("/signin/sso/{org}")).await;
    assert_eq!(unreachable.status, StatusCode::BAD_GATEWAY, "{}", unreachable.body);
    assert!(unreachable.body.contains("discovery document"), "{}", unreachable.body);

    // An organisation without single sign-on, a malformed id.
    node.api.remove_sso().await.unwrap();
    assert_eq!(agent.get(&format!("/signin/sso/{org}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(agent.get("/signin/sso/nonsense").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn issuers_are_checked_before_anything_is_kept() {
    let Some((node, provider)) = configured().await else { return };
    let kept = call(&node, Method::GET, "/api/v1/sso", None).await.unwrap();
    assert_eq!(kept["issuer"], provider.issuer.as_str());
    assert_eq!(kept["role_claim"], "groups");
    assert!(!kept.to_string().contains(CLIENT_SECRET), "the secret is never shown");

    let port = provider.issuer.rsplit(':').next().unwrap().to_owned();
    let refusals = [
        // Plain http off loopback.
        ("http://id.example".to_owned(), "https://"),
        // Nothing listens there.
        ("http://127.0.0.1:9".to_owned(), "discovery document"),
        // The provider's document names another issuer.
        (format!("http://localhost:{port}"), "discovery document"),
    ];
    for (issuer, says) in refusals {
        match call(&node, Method::PUT, "/api/v1/sso", Some(settings(&issuer))).await {
            Err(ClientError::Api { status, detail }) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{issuer}: {detail}");
                assert!(detail.contains(says), "{issuer}: {detail}");
            }
            other => panic!("{issuer}: {other:?}"),
        }
    }
    let mut integration = settings(&provider.issuer);
    integration["role_map"] = json!([{ "value": "bots", "role": "integration" }]);
    assert!(call(&node, Method::PUT, "/api/v1/sso", Some(integration)).await.is_err());
    assert_eq!(call(&node, Method::GET, "/api/v1/sso", None).await.unwrap(), kept, "nothing changed");
    let trail = audit_kinds(&node).await;
    assert_eq!(trail.iter().filter(|(k, _)| k == "sso.configured").count(), 1);
    assert!(!format!("{trail:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn each_organisation_sees_and_changes_its_own_settings_only() {
    let Some((node, provider)) = configured().await else { return };
    let vendor = org_of(&node).await;
    // A second organisation on the same node, with an admin and a rep.
    let store = common::store_of(&node).await;
    let other = store.create_organisation("Other").await.unwrap().id;
    let admin = store.create_user(&other, "olaf", blindmap_store::Role::Admin).await.unwrap();
    let (_, token) = store.issue_token(&other, &admin.id, "t").await.unwrap();
    let rep = store.create_user(&other, "rex", blindmap_store::Role::Rep).await.unwrap();
    let (_, rep_token) = store.issue_token(&other, &rep.id, "t").await.unwrap();
    let url = base(&node);
    let theirs = ApiClient::new(&url, &node.running.fingerprint, token.expose()).unwrap();
    let their_rep = ApiClient::new(&url, &node.running.fingerprint, rep_token.expose()).unwrap();
    let status = |r: Result<(), ClientError>| match r {
        Err(ClientError::Api { status, .. }) => status,
        other => panic!("{other:?}"),
    };
    let input = |v: Value| serde_json::from_value::<blindmap_server::api::sso::SsoConfigInput>(v).unwrap();

    // Another organisation's admin: none of its own, and no way to the vendor's.
    assert_eq!(status(theirs.sso().await.map(drop)), StatusCode::NOT_FOUND);
    assert_eq!(status(theirs.remove_sso().await), StatusCode::NOT_FOUND);
    let mut own = settings(&provider.issuer);
    own["role_map"] = json!([{ "value": "other-admins", "role": "admin" }]);
    let set = theirs.set_sso(&input(own)).await.unwrap();
    assert_eq!(set.role_map[0].value, "other-admins");
    let vendors = call(&node, Method::GET, "/api/v1/sso", None).await.unwrap();
    assert_eq!(vendors["role_map"].as_array().unwrap().len(), 2, "the vendor's is untouched: {vendors}");
    theirs.remove_sso().await.unwrap();
    assert!(call(&node, Method::GET, "/api/v1/sso", None).await.is_ok(), "the vendor's stays");
    assert_eq!(status(theirs.sso().await.map(drop)), StatusCode::NOT_FOUND);

    // Reps read and change nothing.
    assert_eq!(status(their_rep.sso().await.map(drop)), StatusCode::FORBIDDEN);
    assert_eq!(status(their_rep.remove_sso().await), StatusCode::FORBIDDEN);
    assert_eq!(status(their_rep.set_sso(&input(settings(&provider.issuer))).await.map(drop)), StatusCode::FORBIDDEN);
    theirs.set_sso(&input(settings(&provider.issuer))).await.unwrap();

    // The sign-in page offers each organisation that has single sign-on.
    let mut agent = Agent::new(&node);
    let page = agent.get("/signin").await;
    assert!(page.body.contains(&format!("/signin/sso/{vendor}")), "{}", page.body);
    assert!(page.body.contains(&format!("/signin/sso/{}", other.as_str())), "both offer it now");
}

#[tokio::test]
async fn tokens_and_links_still_sign_in_beside_single_sign_on() {
    let Some((node, _provider)) = configured().await else { return };
    let (rep_id, token) = common::rep(&node).await;
    let mut agent = Agent::new(&node);
    let page = agent.get("/signin").await;
    assert!(page.body.contains("/signin/sso/"), "{}", page.body);
    let csrf = agent.cookies["__Host-bm_signin"].clone();
    let signed = agent.post("/signin", &[("token", &token), ("csrf", &csrf)]).await;
    assert_eq!((signed.status, signed.location.as_str()), (StatusCode::SEE_OTHER, "/"), "{}", signed.body);
    assert!(agent.cookies.contains_key("bm_session"));

    let link = call(&node, Method::POST, &format!("/api/v1/users/{rep_id}/signin-link"), None).await.unwrap();
    let secret = link["url"].as_str().unwrap().split("secret=").nth(1).unwrap().to_owned();
    let mut other = Agent::new(&node);
    other.get(&format!("/signin/link?secret={secret}")).await;
    let csrf = other.cookies["__Host-bm_signin"].clone();
    let signed = other.post("/signin/link", &[("secret", &secret), ("csrf", &csrf)]).await;
    assert_eq!((signed.status, signed.location.as_str()), (StatusCode::SEE_OTHER, "/"), "{}", signed.body);
    let with: Vec<Value> = audit_kinds(&node)
        .await
        .into_iter()
        .filter(|(k, _)| k == "web.signed_in")
        .map(|(_, d)| d["with"].clone())
        .collect();
    assert_eq!(with, [json!("link"), json!("token")]);
}

#[tokio::test]
async fn the_settings_routes_are_in_the_openapi_document() {
    let node = common::node("Vendor", None).await;
    let doc = call(&node, Method::GET, "/api/v1/openapi.json", None).await.unwrap();
    let route = &doc["paths"]["/api/v1/sso"];
    for (method, statuses) in
        [("get", ["200", "403", "404"]), ("put", ["200", "403", "422"]), ("delete", ["204", "403", "404"])]
    {
        for status in statuses {
            assert!(route[method]["responses"][status].is_object(), "{method} {status}: {route}");
        }
    }
    let schemas = &doc["components"]["schemas"];
    let input = &schemas["SsoConfigInput"];
    let required: Vec<&str> = input["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(required, ["issuer", "client_id", "client_secret", "role_map"]);
    assert_eq!(schemas["SsoRoleName"]["enum"], json!(["admin", "rep"]));
    assert!(schemas["SsoConfigView"]["properties"]["client_secret"].is_null(), "the secret is never shown");
    assert_eq!(schemas["SsoConfigView"]["properties"]["redirect_uri"]["type"], "string");
}

/// Two replicas of one node on one PostgreSQL database: a sign-in begun through one is answered
/// through the other, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_finishes_a_sign_in_once() {
    use blindmap_server::node::{InitOptions, NodeConfig, init, start};
    let Some(database) = blindmap_store::testing::postgres_url().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        data_dir: dir.path().join("vendor"),
        organisation: "Vendor".into(),
        admin: "admin".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: None,
        database_url: Some(database),
    };
    let made = init(&options).await.unwrap();
    let config = NodeConfig::load(&options.data_dir).unwrap();
    let (a, b) = (start(&options.data_dir, &config).await.unwrap(), start(&options.data_dir, &config).await.unwrap());
    let url = |node: &blindmap_server::node::RunningNode| format!("https://127.0.0.1:{}", node.addr.port());
    let Some(provider) = Provider::start(&format!("{}/signin/sso/callback", url(&a))).await else { return };
    let api = ApiClient::new(&url(&a), &a.fingerprint, made.admin_token.expose()).unwrap();
    let input = serde_json::from_value(settings(&provider.issuer)).unwrap();
    api.set_sso(&input).await.unwrap();
    let org = api.me().await.unwrap().organisation_id;

    let mut via_a = Agent { http: pinned_http(&a.fingerprint).unwrap(), base: url(&a), cookies: BTreeMap::new() };
    let state = via_a.begin(&org).await;
    // The same browser (cookies know no ports), its answer reaching the other replica.
    let mut via_b = Agent { http: pinned_http(&b.fingerprint).unwrap(), base: url(&b), cookies: via_a.cookies.clone() };
    let answered = via_b.get(&callback(&state, "error=access_denied")).await;
    assert_eq!(answered.status, StatusCode::UNAUTHORIZED, "the flow was found: {}", answered.body);
    let again = via_a.get(&callback(&state, "error=access_denied")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "and taken: {}", again.body);
}
