//! The reps' pages over HTTPS, without a browser (the browser tests drive the same pages in
//! Chromium): sign-in with a token and with a one-time link, the session cookie's attributes,
//! the partners page, the matrix, the overlap list with its filters and paging, the CSV export
//! with the list's columns, co-sell from a row, CSRF refusals, sign-out, and that nothing a
//! partner's policy withholds — a hidden segment, an unshared field — appears anywhere. Also:
//! sign-in forms refuse other sites (login CSRF); sessions end with their token, or with their
//! user (disabled, removed, signed out everywhere); page numbers and return paths are checked;
//! corrections made and undone from the pages, and who may make them.

use std::collections::BTreeMap;

use blindmap_server::client::{ApiClient, ClientError, Method, pinned_http};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common;
use crate::common::{Node, call, matched, rep};

/// A user agent that keeps its cookies, as a browser keeps the session.
pub(crate) struct Agent {
    http: reqwest::Client,
    base: String,
    cookies: BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of a hidden input, e.g. the CSRF token.
    pub(crate) fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no input {name} in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

impl Agent {
    pub(crate) fn new(node: &Node) -> Self {
        Self {
            http: pinned_http(&node.running.fingerprint).unwrap(),
            base: format!("https://127.0.0.1:{}", node.running.addr.port()),
            cookies: BTreeMap::new(),
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn session(&self) -> Option<&String> {
        self.cookies.get("bm_session")
    }

    pub(crate) async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request.header("cookie", jar.join("; "))
        };
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        for set in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page { status: response.status(), headers, body: response.text().await.unwrap() }
    }

    /// Signs in with a token through the form, as a browser on this site does.
    pub(crate) async fn sign_in(&mut self, token: &str) -> Page {
        let csrf = self.get("/signin").await.input("csrf");
        self.post("/signin", &[("csrf", &csrf), ("token", token)]).await
    }

    /// Signs in with a one-time link's path (`/signin/link?secret=…`) through its button.
    pub(crate) async fn sign_in_with_link(&mut self, path: &str) -> Page {
        let page = self.get(path).await;
        let (csrf, secret) = (page.input("csrf"), page.input("secret"));
        self.post("/signin/link", &[("csrf", &csrf), ("secret", &secret)]).await
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        self.post_with(path, pairs, &[]).await
    }

    pub(crate) async fn post_with(&mut self, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reps_sign_in_read_filter_export_and_act() {
    let (vendor, _partner, pid, _) = matched().await;
    let (rep_id, token) = rep(&vendor).await;
    let truth = common::all_overlaps(&vendor, &format!("/api/v1/overlaps?partnership={pid}")).await;
    assert!(!truth.is_empty());

    let mut agent = Agent::new(&vendor);
    // Signed out: every page sends to sign-in.
    let page = agent.get("/partners").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin"));
    let page = agent.get("/signin").await;
    assert!(page.body.contains("<label for=\"token\">"), "{}", page.body);
    assert!(page.body.contains("users token usr_") && page.body.contains("users list"), "{}", page.body);
    assert!(!page.body.contains("users token NAME"), "the command takes a user's id");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let page = agent.sign_in("bm_wrong").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("not valid"));

    // Signed in with the token: a Secure, HttpOnly, SameSite=Strict session cookie.
    let page = agent.sign_in(&token).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"));
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(&token), "the cookie is a session secret, not the token");

    // Partners: the overlap's size and what each side shares.
    let page = agent.get("/partners").await;
    assert_eq!(page.status, StatusCode::OK);
    let accounts = truth.iter().map(|o| o["account_id"].as_str().unwrap()).collect::<std::collections::BTreeSet<_>>();
    assert!(page.body.contains(&format!("<td class=\"num\">{}</td>", accounts.len())), "{}", page.body);
    assert!(page.body.contains("fields in") && page.body.contains("hidden in"), "{}", page.body);

    // The matrix: cells link to their accounts, hidden ones do not.
    let page = agent.get(&format!("/partners/{pid}")).await;
    assert!(page.body.contains("hidden"), "{}", page.body);
    assert!(page.body.contains(&format!("/partners/{pid}/overlaps?own=")), "{}", page.body);
    assert!(!page.body.contains("partner=prospects"), "a hidden column links nowhere");

    // The list: every confirmed overlap the store has (the default filter), none from the hidden
    // segment, only the owner field.
    let confirmed: Vec<&Value> = truth.iter().filter(|o| o["tier"] == "confirmed").collect();
    let page = agent.get(&format!("/partners/{pid}/overlaps")).await;
    assert!(page.body.contains(&format!("of {} pairs", confirmed.len())), "{}", page.body);
    assert!(!page.body.contains("lifecycle_stage"), "only the shared field");
    assert!(!page.body.contains("name=\"partner_segment\" value=\"prospects\""), "their hidden segment never shows");
    assert!(page.body.contains("Their owner</a></th>"), "the shared field is a column: {}", page.body);
    assert!(page.body.contains("aria-sort=\"ascending\""));
    // Filter by segment and owner, search.
    let customers = confirmed.iter().filter(|o| o["own_segment"] == "customers").count();
    let page = agent.get(&format!("/partners/{pid}/overlaps?own=customers")).await;
    assert!(page.body.contains(&format!("of {customers} pairs")), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    assert!(page.body.contains("Northwind Traders Inc.") && page.body.contains("of 1 pair "), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?owner=Ada%20Byron")).await;
    assert!(page.body.contains("Ada Byron") && !page.body.contains("Alan Turing</td>"), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?new=1")).await;
    assert!(
        page.body.contains("No overlapping accounts match") || page.body.contains("first match"),
        "one run: nothing to compare"
    );

    // The export: the list's columns, its filters, one row per listed overlap.
    let csv = agent.get(&format!("/partners/{pid}/overlaps.csv?own=customers")).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers[..3], ["Account", "Account ID", "Your segment"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), customers);
    assert!(rows.iter().all(|r| &r[2] == "customers"));
    assert!(rows.iter().all(|r| &r[4] != "prospects" && !r[5].contains("lifecycle")), "nothing withheld");

    // The same report as JSON from the API.
    let json = call(
        &vendor,
        Method::GET,
        &format!("/api/v1/reports/overlaps?partnership={pid}&own_segment=customers&limit=1000"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(json["total"].as_u64(), Some(customers as u64));
    let ids: Vec<&str> = json["items"].as_array().unwrap().iter().map(|i| i["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, rows.iter().map(|r| &r[1]).collect::<Vec<_>>(), "the page's rows, in its order");
    assert!(
        json["items"].as_array().unwrap().iter().all(|i| i["partner_fields"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k == "owner"))
    );
    // Any offset the contract allows is a page: past the end, an empty one (by segment, read
    // a cell at a time, as in every order).
    for sort in ["segment", "partner_segment", "account"] {
        let past = call(
            &vendor,
            Method::GET,
            &format!("/api/v1/reports/overlaps?partnership={pid}&offset=20060&sort={sort}&limit=39&tier=confirmed"),
            None,
        )
        .await
        .unwrap();
        assert_eq!((past["offset"].as_u64(), past["items"].as_array().map(Vec::len)), (Some(20060), Some(0)));
    }

    // Co-sell from a row: refused without the form's token, done with it.
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    let csrf = page.input("csrf");
    let (account, segment, record) =
        (page.input("account"), page.input("partner_segment"), page.input("partner_record"));
    let fields = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("account", account.clone()),
            ("partner_segment", segment.clone()),
            ("partner_record", record.clone()),
            ("back", format!("/partners/{pid}/overlaps?q=northwind")),
        ]
    };
    let forged = fields("0000");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(agent.post(&format!("/partners/{pid}/cosell"), &forged).await.status, StatusCode::FORBIDDEN);
    let real = fields(&csrf);
    let real: Vec<(&str, &str)> = real.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = agent.post(&format!("/partners/{pid}/cosell"), &real).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, format!("/partners/{pid}/overlaps?q=northwind").as_str())
    );
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    assert!(page.body.contains(">proposed</td>"), "{}", page.body);
    let cosells = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(cosells["items"][0]["record"]["a"]["account"]["value"], account.as_str());

    // The account view and the registration form, prefilled from the account.
    let page = agent.get(&format!("/accounts/{account}")).await;
    assert!(page.body.contains("Northwind Traders Inc.") && page.body.contains("<th scope=\"row\">Partner</th>"));
    let page = agent.get(&format!("/partners/{pid}/register?account={account}")).await;
    assert!(
        page.body.contains("value=\"northwindtraders.com\"") && page.body.contains("value=\"US\""),
        "{}",
        page.body
    );
    // Registering from the form: a missing product is refused with the form kept; then done.
    let register = format!("/partners/{pid}/register");
    let base = [
        ("csrf", csrf.as_str()),
        ("name", "Northwind Traders Inc."),
        ("country", "US"),
        ("domains", "northwindtraders.com"),
        ("duns", ""),
        ("value", "25000"),
        ("currency", "USD"),
        ("expected_close", "2027-06-30"),
        ("notes", ""),
    ];
    let page = agent.post(&register, &[&base[..], &[("products", "")]].concat()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("product") && page.body.contains("value=\"Northwind Traders Inc.\""), "{}", page.body);
    let page = agent.post(&register, &[&base[..], &[("products", "cloud, security")]].concat()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Northwind is one of the vendor's customers: a channel conflict, in review.
    assert!(page.body.contains("Deal registered with Partner") && page.body.contains("In review"), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    assert!(page.body.contains(">in review</td>"), "the list shows the registration: {}", page.body);
    let page = agent.get("/overlaps?q=northwind").await;
    assert!(page.body.contains(">in review</td>"), "so does the list across partners: {}", page.body);

    // Another organisation's pages are not found; signing out ends the session.
    let page = agent.get("/partners/pt_00000000000000000000000000000000").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = agent.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin"));
    assert!(agent.session().is_none(), "the cookie is cleared");
    let mut stale = Agent::new(&vendor);
    stale.cookies.insert("bm_session".into(), "bms_old".into());
    assert_eq!(stale.get("/partners").await.status, StatusCode::SEE_OTHER);

    // A one-time link an admin issues: a button, then a session; the link works once.
    let link = call(&vendor, Method::POST, &format!("/api/v1/users/{rep_id}/signin-link"), None).await.unwrap();
    let url = link["url"].as_str().unwrap();
    let path = &url[url.find("/signin/link").unwrap()..];
    let mut fresh = Agent::new(&vendor);
    let page = fresh.sign_in_with_link(path).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(fresh.get("/partners").await.status, StatusCode::OK);
    let mut again = Agent::new(&vendor);
    assert_eq!(again.sign_in_with_link(path).await.status, StatusCode::UNAUTHORIZED);

    // The pages leaked nothing the partner withheld: no hidden partner segment's accounts, no
    // field but the owner (checked on every page above), and the audit trail has the export.
    let audit: Value = call(&vendor, Method::GET, "/api/v1/audit?limit=100", None).await.unwrap();
    assert!(audit.to_string().contains("report.exported"));
}

/// An account of yours that matches two of the partner's records (a duplicate in its CRM) is one
/// overlapping account in two pairs: the partners page shows both numbers under their names,
/// and the list counts its rows as pairs and the accounts behind them, filtered or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_pairs_are_counted_as_what_they_are() {
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    let header = "id,segment,name,country,domain\n";
    let ours =
        "v1,customers,Acme,US,acme.com\nv2,customers,Globex,US,globex.com\nv3,prospects,Initech,US,initech.com\n";
    let theirs = "p1,customers,Acme Corp,US,acme.com\np2,prospects,Acme Holdings,DE,acme.com\np3,customers,Globex,US,globex.com\n";
    common::upload(&vendor, "v.csv", &format!("{header}{ours}")).await;
    common::upload(&partner, "p.csv", &format!("{header}{theirs}")).await;
    let (pid, their_pid) = common::pair(&vendor, &partner, "Partner").await;
    let overlaps = serde_json::json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{their_pid}/sharing"), Some(overlaps)).await.unwrap();
    let run =
        call(&vendor, Method::POST, "/api/v1/runs", Some(serde_json::json!({ "partnership": pid }))).await.unwrap();
    let view = common::finished(&vendor, run["id"].as_str().unwrap()).await;
    assert_eq!((view["result"]["overlapping_accounts"].as_u64(), view["result"]["pairs"].as_u64()), (Some(2), Some(3)));

    let (_, token) = rep(&vendor).await;
    let mut agent = Agent::new(&vendor);
    agent.sign_in(&token).await;
    let page = agent.get("/partners").await;
    let header_cells: Vec<&str> =
        page.body.split("<th scope=\"col\"").skip(1).map(|h| h.split("</th>").next().unwrap()).collect();
    let column = |label: &str| {
        header_cells
            .iter()
            .position(|h| h.ends_with(label))
            .unwrap_or_else(|| panic!("no {label} column: {}", page.body))
    };
    let row: Vec<&str> = page
        .body
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("<td")
        .skip(1)
        .map(|c| c.split('>').nth(1).unwrap().split('<').next().unwrap())
        .collect();
    // The row's first cell is its header (the partner's name), so the data cells start at column 1.
    assert_eq!(row[column("Your overlapping accounts") - 1], "2", "{}", page.body);
    assert_eq!(row[column("Pairs") - 1], "3", "{}", page.body);

    let page = agent.get(&format!("/partners/{pid}/overlaps")).await;
    assert!(page.body.contains("of 3 pairs") && page.body.contains("2 of your accounts"), "{}", page.body);
    assert!(!page.body.contains("3 accounts"), "pairs are not accounts: {}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=acme")).await;
    assert!(page.body.contains("of 2 pairs") && page.body.contains("1 of your accounts"), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?partner=prospects")).await;
    assert!(page.body.contains("of 1 pair ") && page.body.contains("1 of your accounts"), "{}", page.body);
}

/// The admin's and a user's own API clients of `node`.
fn client_of(node: &Node, token: &str) -> ApiClient {
    ApiClient::new(&format!("https://127.0.0.1:{}", node.running.addr.port()), &node.running.fingerprint, token)
        .unwrap()
}

fn refused_with(result: Result<Value, ClientError>) -> StatusCode {
    match result {
        Err(ClientError::Api { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A sign-in link's path for `user`, issued by the admin.
async fn link_path(node: &Node, user: &str) -> String {
    let link = call(node, Method::POST, &format!("/api/v1/users/{user}/signin-link"), None).await.unwrap();
    let url = link["url"].as_str().unwrap();
    url[url.find("/signin/link").unwrap()..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_forms_refuse_other_sites() {
    let node = common::node("Vendor", None).await;
    let (rep_id, token) = rep(&node).await;
    let origin = format!("https://127.0.0.1:{}", node.running.addr.port());

    // The form sets a pre-session cookie no other site or subdomain can plant, and carries its value.
    let mut agent = Agent::new(&node);
    let page = agent.get("/signin").await;
    let set = page.headers["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("__Host-bm_signin="), "{set}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain"), "{set}");
    let csrf = page.input("csrf");
    assert_eq!(
        Some(&csrf),
        agent.cookies.get("__Host-bm_signin"),
        "double submit: the form carries the cookie's value"
    );

    // Another site's page posting the attacker's token: no cookie of this site comes with it.
    let mut victim = Agent::new(&node);
    let cross_site = [("sec-fetch-site", "cross-site"), ("origin", "https://attacker.example")];
    let page = victim.post_with("/signin", &[("token", &token), ("csrf", &csrf)], &cross_site).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("another site"), "{}", page.body);
    assert!(victim.session().is_none(), "no session was opened");
    // Nor with the cookie, when the browser says the post came from elsewhere.
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "https://attacker.example")],
        &[("origin", "null"), ("sec-fetch-site", "cross-site")],
    ] {
        let page = agent.post_with("/signin", &[("token", &token), ("csrf", &csrf)], headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(agent.session().is_none(), "{headers:?}");
    }
    // A wrong or missing form value, with the cookie.
    for value in ["", "00000000000000000000000000000000"] {
        let page = agent.post("/signin", &[("token", &token), ("csrf", value)]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{value:?}");
    }
    assert_eq!(victim.get("/partners").await.location(), "/signin");

    // The same site's form, as a browser sends it: signed in, the pre-session cookie cleared.
    // (`Origin: null` is what Chromium sends from the pages, whose referrer policy is no-referrer.)
    for origin in [origin.as_str(), "null"] {
        let mut agent = Agent::new(&node);
        let csrf = agent.get("/signin").await.input("csrf");
        let same_origin = [("sec-fetch-site", "same-origin"), ("origin", origin)];
        let page = agent.post_with("/signin", &[("token", &token), ("csrf", &csrf)], &same_origin).await;
        assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"), "{}", page.body);
        assert!(agent.session().is_some() && !agent.cookies.contains_key("__Host-bm_signin"), "{:?}", agent.cookies);
    }

    // A sign-in link posted from another site is refused before it is used: it works afterwards.
    let path = link_path(&node, &rep_id).await;
    let secret = path.split("secret=").nth(1).unwrap().to_owned();
    let mut victim = Agent::new(&node);
    let page = victim.post_with("/signin/link", &[("secret", &secret)], &cross_site).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.body.contains(&secret), "the refused link is not offered to click");
    let mut own = Agent::new(&node);
    let page = own.get(&path).await;
    let link_csrf = page.input("csrf");
    let headers = [("origin", "https://attacker.example")];
    let page = own.post_with("/signin/link", &[("secret", &secret), ("csrf", &link_csrf)], &headers).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "another origin");
    let page = own.sign_in_with_link(&path).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_with_their_token_or_their_user() {
    let node = common::node("Vendor", None).await;
    let (rep_id, token) = rep(&node).await;
    let token_id = |users: &Value, label: &str| -> String {
        let rita = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "rita").unwrap();
        let t = rita["tokens"].as_array().unwrap().iter().find(|t| t["label"] == label).unwrap();
        t["id"].as_str().unwrap().to_owned()
    };
    let users = call(&node, Method::GET, "/api/v1/users", None).await.unwrap();
    let first_token = token_id(&users, "first token");

    // One session opened with the token, one with a sign-in link.
    let mut with_token = Agent::new(&node);
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    let mut with_link = Agent::new(&node);
    assert_eq!(with_link.sign_in_with_link(&link_path(&node, &rep_id).await).await.status, StatusCode::SEE_OTHER);

    // Revoking the token ends its session; the link's session belongs to the user and stays.
    node.api.call_empty(Method::DELETE, &format!("/api/v1/tokens/{first_token}")).await.unwrap();
    assert_eq!(with_token.get("/partners").await.location(), "/signin");
    assert_eq!(with_link.get("/partners").await.status, StatusCode::OK);

    // The user signs out everywhere from the page: every session ends. A forged form ends none.
    let issued = call(
        &node,
        Method::POST,
        &format!("/api/v1/users/{rep_id}/tokens"),
        Some(serde_json::json!({ "label": "laptop" })),
    )
    .await
    .unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();
    let rita = client_of(&node, &token);
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    let page = with_link.post("/signout/everywhere", &[("csrf", "0000")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(with_token.get("/partners").await.status, StatusCode::OK);
    let page = with_link.get("/partners").await;
    assert!(page.body.contains("action=\"/signout/everywhere\""), "{}", page.body);
    let page = with_link.post("/signout/everywhere", &[("csrf", &page.input("csrf"))]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("2 sessions ended"), "{}", page.body);
    assert!(with_link.session().is_none());
    assert_eq!(with_token.get("/partners").await.location(), "/signin");
    assert_eq!(with_link.get("/partners").await.location(), "/signin");
    let me: Value = rita.call(Method::GET, "/api/v1/me", None, &[]).await.unwrap();
    assert_eq!(me["user"], "rita", "API tokens still work");

    // Through the API: the user for itself, an admin for another user.
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    let ended: Value = rita.call(Method::DELETE, "/api/v1/me/sessions", None, &[]).await.unwrap();
    assert_eq!(ended["sessions_ended"], 1);
    assert_eq!(with_token.get("/partners").await.location(), "/signin");
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    let ended = call(&node, Method::DELETE, &format!("/api/v1/users/{rep_id}/sessions"), None).await.unwrap();
    assert_eq!(ended["sessions_ended"], 1);
    assert_eq!(with_token.get("/partners").await.location(), "/signin");

    // Disabled: every session ends, tokens stop at once, no sign-in; enabled: tokens work again.
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    assert_eq!(with_link.sign_in_with_link(&link_path(&node, &rep_id).await).await.status, StatusCode::SEE_OTHER);
    let unused = link_path(&node, &rep_id).await;
    let disabled = call(&node, Method::POST, &format!("/api/v1/users/{rep_id}/disable"), None).await.unwrap();
    assert_eq!(disabled["state"], "disabled");
    assert_eq!(with_token.get("/partners").await.location(), "/signin");
    assert_eq!(with_link.get("/partners").await.location(), "/signin");
    assert_eq!(refused_with(rita.call(Method::GET, "/api/v1/me", None, &[]).await), StatusCode::UNAUTHORIZED);
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_link.sign_in_with_link(&unused).await.status, StatusCode::UNAUTHORIZED, "links are void");
    let link = call(&node, Method::POST, &format!("/api/v1/users/{rep_id}/signin-link"), None).await;
    assert_eq!(refused_with(link), StatusCode::CONFLICT);
    let enabled = call(&node, Method::POST, &format!("/api/v1/users/{rep_id}/enable"), None).await.unwrap();
    assert_eq!(enabled["state"], "active");
    let me: Value = rita.call(Method::GET, "/api/v1/me", None, &[]).await.unwrap();
    assert_eq!(me["user"], "rita");
    assert_eq!(with_token.get("/partners").await.location(), "/signin", "sessions stay ended");

    // Removed: its tokens revoked, its sessions ended, its name kept and taken.
    assert_eq!(with_token.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    node.api.call_empty(Method::DELETE, &format!("/api/v1/users/{rep_id}")).await.unwrap();
    assert_eq!(with_token.get("/partners").await.location(), "/signin");
    assert_eq!(refused_with(rita.call(Method::GET, "/api/v1/me", None, &[]).await), StatusCode::UNAUTHORIZED);
    let users = call(&node, Method::GET, "/api/v1/users", None).await.unwrap();
    let listed = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "rita").unwrap();
    assert_eq!(listed["state"], "removed");
    assert!(listed["tokens"].as_array().unwrap().iter().all(|t| t["revoked_at"].is_i64()), "{listed}");
    let again = call(&node, Method::POST, "/api/v1/users", Some(serde_json::json!({ "name": "rita", "role": "rep" })));
    assert_eq!(refused_with(again.await), StatusCode::CONFLICT, "the name stays taken");
    let enable = call(&node, Method::POST, &format!("/api/v1/users/{rep_id}/enable"), None).await;
    assert_eq!(refused_with(enable), StatusCode::CONFLICT, "removal is final");

    // Every step is in the audit trail, with who did it.
    let audit = call(&node, Method::GET, "/api/v1/audit?limit=100", None).await.unwrap();
    let kinds: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .filter(|(k, _)| k.starts_with("user.") || k.starts_with("token."))
        .collect();
    assert_eq!(
        kinds,
        [
            ("user.removed", "admin"),
            ("user.enabled", "admin"),
            ("user.disabled", "admin"),
            ("user.signed_out_everywhere", "admin"),
            ("user.signed_out_everywhere", "rita"),
            ("user.signed_out_everywhere", "rita"),
            ("token.issued", "admin"),
            ("token.revoked", "admin"),
            ("user.created", "admin"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_bound_page_numbers_and_forms_check_where_they_return_before_acting() {
    let (vendor, _partner, pid, _) = matched().await;
    let (_, token) = rep(&vendor).await;
    let mut agent = Agent::new(&vendor);
    assert_eq!(agent.sign_in(&token).await.status, StatusCode::SEE_OTHER);
    let list = format!("/partners/{pid}/overlaps");
    let first = agent.get(&list).await;
    let total = first.body.split(" of ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    assert!(total.parse::<u64>().unwrap() <= 50, "the samples fit one page: {total}");

    // Past the end (as far as u64 goes, and beyond): the last page, not a wrapped offset.
    for page in ["2", "18446744073709551517", "18446744073709551615", "99999999999999999999999"] {
        let shown = agent.get(&format!("{list}?page={page}")).await;
        assert_eq!(shown.status, StatusCode::OK, "page {page}: {}", shown.body);
        assert!(shown.body.contains(&format!("Showing 1–{total} of {total} pair")), "page {page}: {}", shown.body);
        assert!(!shown.body.contains("rel=\"next\""), "page {page}");
    }
    // Not a page number: a clear page saying so.
    for page in ["0", "-1", "abc", "1.5", "%20"] {
        let shown = agent.get(&format!("{list}?page={page}")).await;
        assert_eq!(shown.status, StatusCode::BAD_REQUEST, "page {page}");
        assert!(shown.headers["content-type"].to_str().unwrap().starts_with("text/html"), "page {page}");
        assert!(shown.body.contains("page must be a whole number from 1"), "page {page}: {}", shown.body);
    }

    // A co-sell form whose return path could split the redirect or leave the site: refused (400)
    // before anything is created.
    let page = agent.get(&format!("{list}?q=northwind")).await;
    let (csrf, account, segment, record) =
        (page.input("csrf"), page.input("account"), page.input("partner_segment"), page.input("partner_record"));
    let cosell = |back: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("account", account.clone()),
            ("partner_segment", segment.clone()),
            ("partner_record", record.clone()),
            ("back", back.to_owned()),
        ]
    };
    for back in [
        format!("{list}?q=x\r\nSet-Cookie: bm_session=planted"),
        format!("{list}\n"),
        "//attacker.example/partners".to_owned(),
        "/\\attacker.example".to_owned(),
        "https://attacker.example/".to_owned(),
        "javascript:alert(1)".to_owned(),
        format!("{list}?q=ü"),
        format!("{list}?q=a b"),
    ] {
        let fields = cosell(&back);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = agent.post(&format!("/partners/{pid}/cosell"), &fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{back:?}: {}", page.body);
        assert!(page.body.contains("back must be a path on this site"), "{}", page.body);
        assert!(page.headers.get("location").is_none());
    }
    let cosells = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(cosells["items"].as_array().unwrap().len(), 0, "nothing was created: {cosells}");
    let fields = cosell(&format!("{list}?q=northwind"));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = agent.post(&format!("/partners/{pid}/cosell"), &fields).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, format!("{list}?q=northwind").as_str()));
    let cosells = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(cosells["items"].as_array().unwrap().len(), 1);
}

/// Corrections from the pages: "Not this match" on a row hides the pair at once and says where
/// to undo it; the partners page counts without it; the corrections page lists it and undoes it;
/// "Never match" on the account view hides all the account's matches with the partner. Forms
/// without the session's token, from integration users, or returning off the site are refused
/// before anything is made, and another organisation on the node reaches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_from_the_pages_take_effect_and_are_undone() {
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    let header = "id,segment,name,country,domain\n";
    let ours =
        "v1,customers,Acme,US,acme.com\nv2,customers,Globex,US,globex.com\nv3,prospects,Initech,US,initech.com\n";
    let theirs = "p1,customers,Acme Corp,US,acme.com\np2,prospects,Acme Holdings,DE,acme.com\np3,customers,Globex,US,globex.com\n";
    common::upload(&vendor, "v.csv", &format!("{header}{ours}")).await;
    common::upload(&partner, "p.csv", &format!("{header}{theirs}")).await;
    let (pid, their_pid) = common::pair(&vendor, &partner, "Partner").await;
    let overlaps = serde_json::json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    call(&partner, Method::PUT, &format!("/api/v1/partnerships/{their_pid}/sharing"), Some(overlaps)).await.unwrap();
    let run =
        call(&vendor, Method::POST, "/api/v1/runs", Some(serde_json::json!({ "partnership": pid }))).await.unwrap();
    assert_eq!(common::finished(&vendor, run["id"].as_str().unwrap()).await["state"], "complete");
    let corrections = || async {
        let list = call(&vendor, Method::GET, "/api/v1/corrections", None).await.unwrap();
        list["items"].as_array().unwrap().clone()
    };

    let (_, token) = rep(&vendor).await;
    let mut agent = Agent::new(&vendor);
    agent.sign_in(&token).await;
    let list = format!("/partners/{pid}/overlaps?tier=all");
    let page = agent.get(&list).await;
    assert!(page.body.contains("of 3 pairs"), "{}", page.body);
    assert!(page.body.contains(&format!("href=\"/partners/{pid}/corrections\"")), "the list links its corrections");

    // "Not this match" on Globex's row.
    let page = agent.get(&format!("{list}&q=globex")).await;
    let (csrf, key_types) = (page.input("csrf"), page.input("key_types"));
    assert!(page.body.contains("aria-label=\"Not this match: Globex with Partner's customers record"), "{}", page.body);
    let back = format!("/partners/{pid}/overlaps?q=globex&tier=all");
    let fields = |csrf: &str, back: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("account", "v2".to_owned()),
            ("kind", "not_this_match".to_owned()),
            ("key_types", key_types.clone()),
            ("back", back.to_owned()),
        ]
    };
    for (csrf, back, refused) in [
        ("0000", back.as_str(), StatusCode::FORBIDDEN),
        (csrf.as_str(), "//attacker.example/", StatusCode::BAD_REQUEST),
    ] {
        let form = fields(csrf, back);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = agent.post(&format!("/partners/{pid}/corrections"), &form).await;
        assert_eq!(page.status, refused, "{}", page.body);
    }
    assert!(corrections().await.is_empty(), "nothing was made");
    let form = fields(&csrf, &back);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = agent.post(&format!("/partners/{pid}/corrections"), &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(page.location().starts_with(&format!("{back}&corrected=mc_")), "{}", page.location());
    let location = page.location().to_owned();
    let page = agent.get(&location).await;
    assert!(page.body.contains("Globex is no longer shown as matching Partner"), "{}", page.body);
    assert!(page.body.contains("No overlapping accounts match these filters."), "{}", page.body);
    let page = agent.get("/partners").await;
    assert!(
        page.body.contains("<td class=\"num\">1</td>\n    <td class=\"num\">2</td>"),
        "counted as listed: {}",
        page.body
    );

    // The corrections page: listed, undone (with the form's token only).
    let page = agent.get(&format!("/partners/{pid}/corrections")).await;
    assert!(page.body.contains(">Globex</a>") && page.body.contains("Not this match"), "{}", page.body);
    let made = corrections().await;
    let undo = format!("/partners/{pid}/corrections/{}/undo", made[0]["id"].as_str().unwrap());
    assert!(page.body.contains(&format!("action=\"{undo}\"")), "{}", page.body);
    assert_eq!(agent.post(&undo, &[("csrf", "0000")]).await.status, StatusCode::FORBIDDEN);
    let page = agent.post(&undo, &[("csrf", &csrf)]).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, format!("/partners/{pid}/corrections").as_str())
    );
    assert!(agent.get(&format!("/partners/{pid}/corrections")).await.body.contains("No corrections"));
    assert!(agent.get(&list).await.body.contains("of 3 pairs"), "back at once");

    // "Never match" on the account view: both of Acme's matches go.
    let page = agent.get("/accounts/v1").await;
    assert!(page.body.contains("aria-label=\"Never match with Partner: Acme\""), "{}", page.body);
    let page = agent
        .post(
            &format!("/partners/{pid}/corrections"),
            &[
                ("csrf", &csrf),
                ("account", "v1"),
                ("kind", "never_match"),
                ("note", "a reseller"),
                ("back", "/accounts/v1"),
            ],
        )
        .await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/accounts/v1"));
    assert!(agent.get("/accounts/v1").await.body.contains("No partner's latest match has this account"));
    assert!(agent.get(&list).await.body.contains("of 1 pair "), "only Globex's is left");
    let made = corrections().await;
    assert_eq!(
        (made.len(), &made[0]["note"], &made[0]["created_by"]),
        (1, &serde_json::json!("a reseller"), &serde_json::json!("rita"))
    );

    // Integration users read the pages but do not correct.
    let bot =
        call(&vendor, Method::POST, "/api/v1/users", Some(serde_json::json!({ "name": "bot", "role": "integration" })))
            .await
            .unwrap();
    let mut integration = Agent::new(&vendor);
    integration.sign_in(bot["token"]["token"].as_str().unwrap()).await;
    let their_csrf = integration.get("/partners").await.input("csrf");
    let page = integration
        .post(
            &format!("/partners/{pid}/corrections"),
            &[("csrf", &their_csrf), ("account", "v2"), ("kind", "never_match")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // Another organisation on the node: no page, no form, no undo of the vendor's.
    let store = common::store_of(&vendor).await;
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", blindmap_store::Role::Rep).await.unwrap();
    let eve_token = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut eve = Agent::new(&vendor);
    eve.sign_in(&eve_token).await;
    let eve_csrf = eve.get("/partners").await.input("csrf");
    assert_eq!(eve.get(&format!("/partners/{pid}/corrections")).await.status, StatusCode::NOT_FOUND);
    let page = eve
        .post(
            &format!("/partners/{pid}/corrections"),
            &[("csrf", &eve_csrf), ("account", "v2"), ("kind", "never_match")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let undo = format!("/partners/{pid}/corrections/{}/undo", made[0]["id"].as_str().unwrap());
    assert_eq!(eve.post(&undo, &[("csrf", &eve_csrf)]).await.status, StatusCode::NOT_FOUND);
    let after = corrections().await;
    assert_eq!((after.len(), after[0].get("removed_at")), (1, None), "nothing changed");
}

/// The list a rep works from (issue 15): each field the partner shares is a column of its own —
/// sorted and filtered in the database, and a column of the CSV; the accounts that overlapped
/// in the previous match and no longer do are counted and listed by name; one list spans every
/// partner's latest match, with a partner column and filter; empty lists say so; and another
/// organisation on the node reaches none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reps_list_shared_fields_lost_accounts_and_every_partner_at_once() {
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    let second = common::node("Second", None).await;
    let header = "id,segment,name,country,domain,owner\n";
    common::upload(
        &vendor,
        "v.csv",
        &format!(
            "{header}v1,customers,Acme,US,acme.com,Ada\nv2,customers,Globex,US,globex.com,Bo\n\
             v3,prospects,Initech,US,initech.com,Ada\nv4,prospects,Umbrella,US,umbrella.com,Cy\n"
        ),
    )
    .await;
    let theirs = "id,segment,name,country,domain,owner,stage\n\
                  p1,customers,Acme Corp,US,acme.com,Zed,won\np2,customers,Globex,US,globex.com,amy,open\n";
    common::upload(&partner, "p.csv", &format!("{theirs}p3,customers,Initech,US,initech.com,Kai,lost\n")).await;
    common::upload(
        &second,
        "s.csv",
        &format!("{header}s1,partners,Acme,US,acme.com,Yu\ns4,partners,Umbrella,US,umbrella.com,Yu\n"),
    )
    .await;
    let fields = |names: &[&str]| {
        serde_json::json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "fields", "fields": names }],
            "threshold": 1, "min_partner_segment": 1 })
    };
    let (pid, their_pid) = common::pair(&vendor, &partner, "Partner").await;
    let (sid, second_pid) = common::pair(&vendor, &second, "Second").await;
    let sharing = |id: &str| format!("/api/v1/partnerships/{id}/sharing");
    call(&partner, Method::PUT, &sharing(&their_pid), Some(fields(&["owner", "stage"]))).await.unwrap();
    call(&second, Method::PUT, &sharing(&second_pid), Some(fields(&["owner"]))).await.unwrap();
    let run_with = |id: String| {
        let vendor = &vendor;
        async move {
            let run = call(vendor, Method::POST, "/api/v1/runs", Some(serde_json::json!({ "partnership": id })))
                .await
                .unwrap();
            let view = common::finished(vendor, run["id"].as_str().unwrap()).await;
            assert_eq!(view["state"], "complete", "{view}");
        }
    };
    run_with(pid.clone()).await;
    // The partner's next export no longer has Initech: lost since the previous match.
    common::upload_active(&partner, "p2.csv", theirs).await;
    run_with(pid.clone()).await;
    run_with(sid.clone()).await;
    let (_, token) = rep(&vendor).await;
    let mut agent = Agent::new(&vendor);
    agent.sign_in(&token).await;
    let list = format!("/partners/{pid}/overlaps");
    let rows = |page: &Page| -> Vec<String> {
        page.body
            .split("<th scope=\"row\"><a href=\"/accounts/")
            .skip(1)
            .map(|r| r.split('"').next().unwrap().to_owned())
            .collect()
    };

    // The shared fields: columns of their own, sortable and filterable.
    let page = agent.get(&list).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for column in ["Their owner", "Their stage"] {
        assert!(page.body.contains(&format!("\">{column}</a></th>")), "{column} sorts: {}", page.body);
        assert!(page.body.contains(&format!("{column} contains")), "{column} filters: {}", page.body);
    }
    assert!(page.body.contains("<td>Zed</td>") && page.body.contains("<td>won</td>"), "{}", page.body);
    assert!(page.body.contains("of 2 pairs (2 of your accounts"), "{}", page.body);
    assert_eq!(rows(&page), ["v1", "v2"]);
    assert_eq!(rows(&agent.get(&format!("{list}?sort=field:owner")).await), ["v2", "v1"], "amy before Zed");
    assert_eq!(rows(&agent.get(&format!("{list}?sort=field%3Aowner&desc=1")).await), ["v1", "v2"]);
    assert_eq!(rows(&agent.get(&format!("{list}?sort=field:stage")).await), ["v2", "v1"], "open before won");
    assert_eq!(rows(&agent.get(&format!("{list}?f_owner=ZE")).await), ["v1"], "any case, part of the value");
    assert_eq!(rows(&agent.get(&format!("{list}?f_stage=open&f_owner=am")).await), ["v2"]);
    let page = agent.get(&format!("{list}?f_stage=nothing-like-it")).await;
    assert!(rows(&page).is_empty() && !page.body.contains("<table"), "{}", page.body);
    assert!(page.body.contains("No overlapping accounts match these filters."), "{}", page.body);
    let csv = agent.get(&format!("{list}.csv?sort=field:owner")).await;
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}: {headers:?}"));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let (owner, stage) = (column("Their owner"), column("Their stage"));
    let cells: Vec<(&str, &str, &str)> = records.iter().map(|r| (&r[1], &r[owner], &r[stage])).collect();
    assert_eq!(cells, [("v2", "amy", "open"), ("v1", "Zed", "won")], "the CSV's own columns, in the list's order");

    // Lost accounts: counted on the list, listed by name, exported.
    let page = agent.get(&list).await;
    assert!(
        page.body.contains("1 of your accounts overlapped with Partner in the previous match and no longer do"),
        "{}",
        page.body
    );
    let lost = format!("{list}?new=lost&tier=all");
    assert!(page.body.contains(&format!("href=\"{}\"", lost.replace('&', "&#38;"))), "{}", page.body);
    let page = agent.get(&lost).await;
    assert_eq!(rows(&page), ["v3"]);
    assert!(page.body.contains(">Initech</a>") && page.body.contains("no longer overlaps"), "{}", page.body);
    assert!(page.body.contains("<td>Kai</td>"), "what the partner shared then: {}", page.body);
    assert!(!page.body.contains("Not this match"), "nothing to act on: {}", page.body);
    let csv = agent.get(&format!("{list}.csv?new=lost&tier=all")).await.body;
    assert!(
        csv.lines().nth(1).is_some_and(|l| l.starts_with("Initech,v3,") && l.ends_with("no longer overlaps")),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let page = agent.get(&format!("/partners/{sid}/overlaps?new=lost")).await;
    assert!(page.body.contains("No earlier match with Second to compare with"), "{}", page.body);
    assert!(!page.body.contains("id=\"lost\""), "nothing lost with Second: {}", page.body);

    // One list across partners: each partner's latest match, a partner column and filter.
    let page = agent.get("/overlaps").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(rows(&page), ["v1", "v1", "v2", "v4"], "Acme with both partners, by name");
    assert!(page.body.contains("of 4 pairs (3 of your accounts"), "{}", page.body);
    assert!(page.body.contains(&format!("<td><a href=\"/partners/{sid}\">Second</a></td>")), "{}", page.body);
    assert!(page.body.contains(&format!("<option value=\"{sid}\">Second</option>")), "a partner filter: {}", page.body);
    assert!(!page.body.contains("v3"), "the latest match only");
    let page = agent.get(&format!("/overlaps?partnership={sid}")).await;
    assert_eq!(rows(&page), ["v1", "v4"]);
    let page = agent.get("/overlaps?sort=partner&desc=1").await;
    // Descending is the order reversed: the partners, and the names within each.
    assert_eq!(rows(&page), ["v4", "v1", "v2", "v1"], "Second's first, descending");
    assert_eq!(rows(&agent.get("/overlaps?f_owner=yu").await), ["v1", "v4"], "Second shares owners too");
    let csv = agent.get("/overlaps.csv?sort=partner").await;
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(headers[..3], ["Account", "Account ID", "Partner"]);
    let partners: Vec<String> = reader.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert_eq!(partners, ["Partner", "Partner", "Second", "Second"]);
    let page = agent.get("/overlaps?q=no-such-company").await;
    assert!(page.body.contains("No overlapping accounts match these filters.") && !page.body.contains("<table"));

    // Another organisation on the node: its own, empty, list; none of the vendor's routes.
    let store = common::store_of(&vendor).await;
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", blindmap_store::Role::Rep).await.unwrap();
    let eve_token = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut eve = Agent::new(&vendor);
    eve.sign_in(&eve_token).await;
    let page = eve.get("/overlaps").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No complete match with any partner yet"), "{}", page.body);
    for leak in ["Acme", "Globex", "Umbrella", "Partner</option>", "Second"] {
        assert!(!page.body.contains(leak), "{leak} in {}", page.body);
    }
    let page = eve.get(&format!("/overlaps?partnership={pid}")).await;
    assert!(rows(&page).is_empty() && !page.body.contains("Acme"), "{}", page.body);
    assert_eq!(eve.get(&format!("/overlaps.csv?partnership={pid}")).await.body.lines().count(), 1, "a header only");
    for path in [
        lost.clone(),
        format!("{list}.csv?new=lost"),
        format!("{list}?f_owner=zed"),
        format!("{list}.csv?sort=field:owner"),
    ] {
        assert_eq!(eve.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Signed out: to sign-in.
    let mut nobody = Agent::new(&vendor);
    for path in ["/overlaps", "/overlaps.csv"] {
        let page = nobody.get(path).await;
        assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin"), "{path}");
    }
}
