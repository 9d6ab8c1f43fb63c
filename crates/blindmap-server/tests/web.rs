//! The reps' pages over HTTPS, without a browser (the browser tests drive the same pages in
//! Chromium): sign-in with a token and with a one-time link, the session cookie's attributes,
//! the partners page, the matrix, the overlap list with its filters and paging, the CSV export
//! with the list's columns, co-sell from a row, CSRF refusals, sign-out, and that nothing a
//! partner's policy withholds — a hidden segment, an unshared field — appears anywhere.

use blindmap_server::client::{Method, pinned_http};
use reqwest::StatusCode;
use serde_json::Value;

mod common;
use common::{Node, call, matched, rep};

/// A user agent that keeps one cookie, as a browser keeps the session.
struct Agent {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of a hidden input, e.g. the CSRF token.
    fn input(&self, name: &str) -> String {
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
    fn new(node: &Node) -> Self {
        Self {
            http: pinned_http(&node.running.fingerprint).unwrap(),
            base: format!("https://127.0.0.1:{}", node.running.addr.port()),
            cookie: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(c) => request.header("cookie", c.clone()),
            None => request,
        };
        let response = request.send().await.unwrap();
        let headers = response.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        Page { status: response.status(), headers, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs));
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
    let page = agent.post("/signin", &[("token", "bm_wrong")]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("not valid"));

    // Signed in with the token: a Secure, HttpOnly, SameSite=Strict session cookie.
    let page = agent.post("/signin", &[("token", &token)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/partners"));
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

    // The list: every overlap the store has, none from the hidden segment, only the owner field.
    let page = agent.get(&format!("/partners/{pid}/overlaps")).await;
    assert!(page.body.contains(&format!("of {} pairs", truth.len())), "{}", page.body);
    assert!(!page.body.contains("lifecycle_stage"), "only the shared field");
    assert!(!page.body.contains("name=\"partner_segment\" value=\"prospects\""), "their hidden segment never shows");
    assert!(page.body.contains("owner: "), "{}", page.body);
    assert!(page.body.contains("aria-sort=\"ascending\""));
    // Filter by segment and owner, search.
    let customers = truth.iter().filter(|o| o["own_segment"] == "customers").count();
    let page = agent.get(&format!("/partners/{pid}/overlaps?own=customers")).await;
    assert!(page.body.contains(&format!("of {customers} pairs")), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    assert!(page.body.contains("Northwind Traders Inc.") && page.body.contains("of 1 pair "), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?owner=Ada%20Byron")).await;
    assert!(page.body.contains("Ada Byron") && !page.body.contains("Alan Turing</td>"), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?new=1")).await;
    assert!(
        page.body.contains("No accounts match") || page.body.contains("first match"),
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
    assert!(page.body.contains("Deal registered with Partner") && page.body.contains("submitted"), "{}", page.body);
    let page = agent.get(&format!("/partners/{pid}/overlaps?q=northwind")).await;
    assert!(page.body.contains(">submitted</td>"), "the list shows the registration: {}", page.body);

    // Another organisation's pages are not found; signing out ends the session.
    let page = agent.get("/partners/pt_00000000000000000000000000000000").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = agent.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/signin"));
    assert!(agent.cookie.is_none(), "the cookie is cleared");
    let stale = Agent { cookie: Some(format!("bm_session={}", "bms_old")), ..Agent::new(&vendor) };
    let mut stale = stale;
    assert_eq!(stale.get("/partners").await.status, StatusCode::SEE_OTHER);

    // A one-time link an admin issues: a button, then a session; the link works once.
    let link = call(&vendor, Method::POST, &format!("/api/v1/users/{rep_id}/signin-link"), None).await.unwrap();
    let url = link["url"].as_str().unwrap();
    let path = &url[url.find("/signin/link").unwrap()..];
    let mut fresh = Agent::new(&vendor);
    let page = fresh.get(path).await;
    let secret = page.input("secret");
    let page = fresh.post("/signin/link", &[("secret", &secret)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/partners"));
    assert_eq!(fresh.get("/partners").await.status, StatusCode::OK);
    let mut again = Agent::new(&vendor);
    assert_eq!(again.post("/signin/link", &[("secret", &secret)]).await.status, StatusCode::UNAUTHORIZED);

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
    agent.post("/signin", &[("token", &token)]).await;
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
