//! The web app in real browsers (headless Chromium), on two real nodes: a partner manager goes
//! from an empty node to a first match entirely in the browser — upload an export, read the
//! import's preview, upload a corrected one and confirm it, invite — while the partner's admin,
//! in its own browser session on its own node, uploads its export and accepts the code; both set
//! what the other sees in the sharing editor; the vendor starts the match, follows it on its page
//! until it completes, and reads the overlapping accounts by name; the partner registers a deal
//! from its pages and the vendor's admin approves it from its own. Skips without Chromium unless
//! `BLINDMAP_REQUIRE_BROWSER` is set (the test command sets it in CI).

use std::time::Duration;

use blindmap_server::client::Method;
use serde_json::json;

use crate::common::browser::Browser;
use crate::common::{self, Node, call};

const WAIT: Duration = Duration::from_secs(20);
const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

/// The company name of the vendor sample's account `id` (its second column, quoted or not).
fn vendor_name(id: &str) -> String {
    let line = VENDOR_CSV.lines().find(|l| l.starts_with(&format!("{id},"))).unwrap_or_else(|| panic!("{id}"));
    let rest = &line[id.len() + 1..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap().to_owned(),
        None => rest.split(',').next().unwrap().to_owned(),
    }
}

/// A new admin of `node`: its token.
async fn admin_token(node: &Node, name: &str) -> String {
    let made = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": "admin" }))).await.unwrap();
    made["token"]["token"].as_str().unwrap().to_owned()
}

fn base(node: &Node) -> String {
    format!("https://127.0.0.1:{}", node.running.addr.port())
}

/// Signs `browser` in to `node` with `token` through the sign-in form; lands on Home.
async fn sign_in(browser: &Browser, node: &Node, token: &str) {
    browser.goto(&format!("{}/signin", base(node))).await;
    browser.fill("#token", token).await;
    browser.submit_and_load("form[action='/signin']").await;
    browser.wait_for("nav a[href='/data']", WAIT).await;
    assert_eq!(browser.text_of("h1").await, "Home");
}

/// Uploads `csv` (written to a file named `name`) through the Data page's form, with `maps`
/// as its column mapping; waits for the import's preview.
async fn upload(browser: &Browser, node: &Node, dir: &std::path::Path, name: &str, csv: &str, maps: &str) {
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    browser.goto(&format!("{}/data", base(node))).await;
    if !maps.is_empty() {
        browser.click("details summary").await;
        browser.fill("#maps", maps).await;
    }
    let file = browser.find("#file").await;
    file.send_keys(&path.display().to_string()).await.unwrap_or_else(|e| panic!("choose {}: {e}", path.display()));
    // The page's script uploads the file, then opens the preview, a new page at /data/ds_….
    browser.submit_and_load("form[action='/data']").await;
    assert!(browser.url().await.contains("/data/ds_"), "no preview after uploading {name}: {}", browser.url().await);
    browser.wait_for("h2#read", WAIT).await;
}

/// Sets, in the sharing editor for the (only) partner, `cell` to `level` with `fields` ticked,
/// threshold and smallest segment 1, and saves.
async fn share(browser: &Browser, node: &Node, cells: &[(&str, &str)], fields: &[&str]) {
    browser.goto(&format!("{}/partners", base(node))).await;
    browser.follow("a[href$='/sharing']").await;
    browser.wait_for("table.grid", WAIT).await;
    for (cell, level) in cells {
        browser.select(&format!("select[name='cell:{cell}']"), level).await;
    }
    for field in fields {
        browser.click(&format!("input[name='field'][value='{field}']")).await;
    }
    browser.fill("#threshold", "1").await;
    browser.fill("#min", "1").await;
    browser.follow("#save").await;
    browser.wait_for("#notice", WAIT).await;
    assert!(browser.text_of("#notice").await.starts_with("Saved."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_manager_goes_from_an_empty_node_to_a_first_match_in_the_browser() {
    let Some(vendor_browser) = Browser::start().await else { return };
    let Some(partner_browser) = Browser::start().await else { return };
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    let files = tempfile::tempdir().unwrap();
    let (v, p) = (&vendor_browser, &partner_browser);

    // The vendor's admin: a fresh node's home page lists what to do.
    sign_in(v, &vendor, &admin_token(&vendor, "ada").await).await;
    assert_eq!(v.find_all("ol.steps li.todo").await.len(), 4);

    // The export: the preview says where everything went. Then the export again, read with a
    // column mapped by hand, waits to be confirmed as the dataset matches use.
    upload(v, &vendor, files.path(), "vendor.csv", VENDOR_CSV, "").await;
    assert_eq!(v.text_of("#state").await, "Matches use this dataset.", "an organisation's first dataset");
    let segments = v.texts_of("h2#segments + table tbody th").await;
    assert!(segments.contains(&"customers".to_owned()), "{segments:?}");
    upload(v, &vendor, files.path(), "vendor-q3.csv", VENDOR_CSV, "field:owner=Account Owner").await;
    assert!(v.text_of("#state").await.starts_with("Matches do not use this dataset"));
    v.follow("#activate").await;
    v.wait_for_url("/data/ds_", WAIT).await;
    assert_eq!(v.text_of("#state").await, "Matches use this dataset.");
    let datasets = call(&vendor, Method::GET, "/api/v1/datasets", None).await.unwrap();
    let active: Vec<&str> = datasets["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["active"] == true)
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["vendor-q3.csv"]);

    // An invite code, to copy.
    v.follow("nav a[href='/partners']").await;
    v.wait_for("#invite", WAIT).await;
    v.follow("#invite").await;
    v.wait_for("textarea#code", WAIT).await;
    let code = v.find("textarea#code").await.prop("value").await.unwrap().unwrap();
    assert!(!code.is_empty());

    // The partner's admin, in its own browser, on its own node: its export, then the code.
    sign_in(p, &partner, &admin_token(&partner, "pat").await).await;
    upload(p, &partner, files.path(), "partner.csv", PARTNER_CSV, "").await;
    p.follow("nav a[href='/partners']").await;
    p.wait_for("#accept-code", WAIT).await;
    p.fill("#accept-code", &code).await;
    p.follow("#accept").await;
    p.wait_for("h1", WAIT).await;
    assert_eq!(p.text_of("h1").await, "Paired with Vendor");

    // Each says what the other sees: owners of overlapping accounts, everywhere.
    share(p, &partner, &[("*:*", "fields")], &["owner"]).await;
    v.goto(&format!("{}/partners", base(&vendor))).await;
    assert!(v.texts_of("table th[scope=row]").await.contains(&"Partner".to_owned()));
    share(v, &vendor, &[("*:*", "fields")], &["owner"]).await;
    let preview = v.texts_of("#preview ~ .table-scroll td").await;
    assert!(preview.iter().all(|t| t == "which of its records overlap, with your accounts' owner"), "{preview:?}");

    // The match: started, followed on its page until complete (no script: the page refreshes).
    v.goto(&format!("{}/partners", base(&vendor))).await;
    v.follow("a[href$='/runs']").await;
    v.wait_for("#start", WAIT).await;
    v.follow("#start").await;
    v.wait_for_url("/runs/run_", WAIT).await;
    // Read in one script: the page may be reloading itself between two WebDriver calls.
    let state = || async {
        let text =
            v.execute("const s = document.getElementById('state'); return s ? s.textContent : '';", vec![]).await;
        text.as_str().unwrap_or_default().trim().to_owned()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !state().await.starts_with("Complete") {
        assert!(std::time::Instant::now() < deadline, "{}", state().await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(v.text_of("#state").await.contains("of your accounts overlap"));

    // The results by name: the matrix, then every overlapping account with the partner's owner.
    v.follow("#matrix").await;
    v.wait_for("table caption", WAIT).await;
    v.goto(&format!("{}{}", base(&vendor), v.find("a[href$='/overlaps']").await.attr("href").await.unwrap().unwrap()))
        .await;
    v.wait_for("table", WAIT).await;
    let page = v.source().await;
    let truth = call(&vendor, Method::GET, "/api/v1/runs", None).await.unwrap();
    let pid = truth["items"][0]["partnership"].as_str().unwrap();
    let overlaps = common::all_overlaps(&vendor, &format!("/api/v1/overlaps?partnership={pid}")).await;
    assert!(!overlaps.is_empty());
    // The list shows confirmed matches unless asked for possible ones.
    for o in overlaps.iter().filter(|o| o["tier"] == "confirmed") {
        let id = o["account_id"].as_str().unwrap();
        let name = vendor_name(id);
        assert!(page.contains(&name.replace('&', "&amp;")), "{name} ({id}) on the list");
    }
    assert!(page.contains("Linus Torvalds") || page.contains("Margaret Hamilton"), "the partner's owners");

    // The partner registers a deal from its pages; the vendor's admin approves it from its own.
    p.follow("nav a[href='/registrations']").await;
    p.wait_for("a[href$='/register']", WAIT).await;
    p.follow("a[href$='/register']").await;
    p.wait_for("#products", WAIT).await;
    p.fill("#name", "Acme Corporation").await;
    p.fill("#country", "US").await;
    p.fill("#domains", "acme.com").await;
    p.fill("#products", "cloud").await;
    p.fill("#value", "50000").await;
    p.fill("#currency", "EUR").await;
    p.execute("document.getElementById('expected_close').value = '2027-03-31';", vec![]).await;
    p.submit_and_load("form[action$='/register']").await;
    p.wait_for_url("/register", WAIT).await;
    p.wait_for("h1", WAIT).await;
    assert_eq!(p.text_of("h1").await, "Deal registered with Vendor", "{}", p.source().await);

    v.follow("nav a[href='/registrations']").await;
    v.wait_for("h2#received", WAIT).await;
    let customers = v.texts_of("section[aria-labelledby='received'] tbody th a").await;
    assert!(customers.iter().any(|c| c.contains("acme")), "{customers:?}");
    v.follow("section[aria-labelledby='received'] tbody th a").await;
    v.wait_for("#approve", WAIT).await;
    assert!(v.text_of("#state").await.contains("Submitted by Partner"));
    v.fill("#reason", "Partner-sourced, first to register").await;
    v.follow("#approve").await;
    // The decided page replaces this one: wait for it (the form's page has no reason row).
    v.wait_for("table.narrow tr:nth-child(6)", WAIT).await;
    assert!(v.text_of("#state").await.contains("approved, protected until"), "{}", v.text_of("#state").await);
    assert!(v.source().await.contains("Partner-sourced, first to register"), "the reason is kept");

    // The partner's page shows the vendor's answer once its node has heard it.
    p.goto(&format!("{}/registrations", base(&partner))).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let states = p.texts_of("section[aria-labelledby='submitted'] tbody td:nth-child(6)").await;
        if states.iter().any(|s| s == "approved") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        p.goto(&format!("{}/registrations", base(&partner))).await;
    }

    // Every page the admin met: no serious accessibility violation (axe-core), at a laptop's
    // width and a phone's, where no page scrolls sideways (wide tables scroll in their region).
    let run = truth["items"][0]["id"].as_str().unwrap();
    let dataset = datasets["items"][0]["id"].as_str().unwrap();
    let registration = call(&vendor, Method::GET, "/api/v1/registrations", None).await.unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Attribution: touches with and without amounts and a close, so that its pages have rows.
    for (partner, kind, amount) in [("Partner", "sourced", Some("48000.00")), ("Globex", "influenced", None)] {
        let mut body = json!({ "opportunity": "OPP-1", "partner": partner, "kind": kind, "at": "2027-01-05" });
        if let Some(a) = amount {
            body["amount"] = json!(a);
            body["currency"] = json!("EUR");
        }
        call(&vendor, Method::POST, "/api/v1/attribution/touches", Some(body)).await.unwrap();
    }
    let open = json!({ "opportunity": "OPP-2", "partner": "Partner", "kind": "referral",
        "amount": "1250000.00", "currency": "EUR" });
    call(&vendor, Method::POST, "/api/v1/attribution/touches", Some(open)).await.unwrap();
    let close = json!({ "amount": "50000.00", "currency": "EUR", "closed_at": "2027-01-31",
        "reporting_currency": "USD", "rate": "1.08" });
    call(&vendor, Method::POST, "/api/v1/attribution/opportunities/OPP-1/close", Some(close)).await.unwrap();
    // A CRM connection whose CRM does not answer: its page lists a failed sync.
    let crm = json!({ "name": "Vendor HubSpot", "kind": "hubspot", "url": "http://127.0.0.1:9", "token": "pat-x" });
    let crm = call(&vendor, Method::POST, "/api/v1/connections", Some(crm)).await.unwrap();
    let crm = crm["id"].as_str().unwrap().to_owned();
    call(&vendor, Method::POST, &format!("/api/v1/connections/{crm}/syncs"), None).await.unwrap();
    // An alert channel and a rule, so that the alerts page has rows.
    let channel = json!({ "name": "Sales Teams", "kind": "teams", "workflow_url": "http://127.0.0.1:9/workflows/x" });
    call(&vendor, Method::POST, "/api/v1/alerts/channels", Some(channel)).await.unwrap();
    let rule = json!({ "name": "New customers", "channel": "Sales Teams", "own_segment": "customers",
        "digest": { "at": "08:00", "zone": "Europe/Berlin" } });
    call(&vendor, Method::POST, "/api/v1/alerts/rules", Some(rule)).await.unwrap();
    let pages = [
        "/".to_owned(),
        "/data".to_owned(),
        "/connections".to_owned(),
        format!("/connections/{crm}"),
        format!("/data/{dataset}"),
        "/partners".to_owned(),
        format!("/partners/{pid}/sharing"),
        format!("/partners/{pid}/runs"),
        format!("/runs/{run}"),
        "/registrations".to_owned(),
        format!("/registrations/{registration}"),
        "/users".to_owned(),
        "/hooks".to_owned(),
        "/alerts".to_owned(),
        "/cosell".to_owned(),
        "/attribution?from=2027-01-01&to=2027-02-01".to_owned(),
        "/attribution".to_owned(),
        "/attribution/touches".to_owned(),
        "/attribution/close".to_owned(),
        "/attribution/ledger".to_owned(),
        "/attribution/opportunities/OPP-1?model=time_decay&half_life_days=30".to_owned(),
        "/attribution/opportunities/OPP-2".to_owned(),
        "/attribution/settings".to_owned(),
        "/audit".to_owned(),
        "/overlaps".to_owned(),
        "/ecosystem?min=1".to_owned(),
    ];
    for (width, height) in [(1280, 1024), (390, 844)] {
        v.set_viewport(width, height).await;
        for path in &pages {
            v.goto(&format!("{}{path}", base(&vendor))).await;
            v.wait_for("h1", WAIT).await;
            let what = format!("{path} at {width} px");
            v.assert_accessible(&what).await;
            v.assert_no_horizontal_scroll(&what).await;
        }
    }
}

/// With the page's script, an upload goes up with a progress bar and lands on the preview (the
/// walk above); one the node refuses leaves the browser on the Data page with the node's message
/// above the form and everything filled in kept, the chosen file included, so that fixing the
/// mapping and sending it again takes one click. Under the pages' CSP: the script is the node's
/// own file, nothing inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_keeps_the_form_and_says_why() {
    let Some(browser) = Browser::start().await else { return };
    let node = common::node("Vendor", None).await;
    let files = tempfile::tempdir().unwrap();
    sign_in(&browser, &node, &admin_token(&node, "ada").await).await;
    let csp = browser.fetch("/data").await.header("content-security-policy").map(str::to_owned).unwrap();
    assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"), "{csp}");

    let path = files.path().join("odd.csv");
    std::fs::write(&path, "foo,bar\n1,2\n").unwrap();
    browser.goto(&format!("{}/data", base(&node))).await;
    assert!(browser.find_all("#upload-progress[hidden]").await.len() == 1, "no bar before an upload");
    browser.fill("#name", "Odd export").await;
    browser.find("#file").await.send_keys(&path.display().to_string()).await.unwrap();
    browser.submit("form[action='/data']").await;
    browser.wait_for("#upload-problem:not([hidden])", WAIT).await;
    let problem = browser.text_of("#upload-problem").await;
    assert!(problem.contains("cannot tell which export this is"), "{problem}");
    assert!(browser.url().await.ends_with("/data"), "{}", browser.url().await);
    let kept = browser
        .execute(
            "return [document.getElementById('file').files.length, document.getElementById('name').value, \
             document.querySelector('form#upload-form button').disabled];",
            Vec::new(),
        )
        .await;
    assert_eq!(kept, json!([1, "Odd export", false]), "the file and the name are kept, the button works again");
    // Nothing was stored.
    let datasets = call(&node, Method::GET, "/api/v1/datasets", None).await.unwrap();
    assert_eq!(datasets["items"].as_array().map_or(0, Vec::len), 0, "{datasets}");
}
