//! The reps' reports in a real browser (headless Chromium): a rep signs in with a token, opens
//! the partner's matrix, follows the cell "your open opportunities × their customers", filters
//! the list by owner, exports it as CSV, and everything shown matches what the store holds and
//! what the partner's policy allows — its hidden segment and unshared fields appear nowhere.
//! Keyboard users reach every control in order, starting with the skip link. A sign-in form
//! posted from another site's page signs nobody in. A rep's "Not this match" takes the pair out
//! of the list, the matrix and the export at once and through a new match, until undone; the
//! list shows confirmed matches by default and possible ones, each saying why, a click away.
//! Skips without
//! Chromium unless `BLINDMAP_REQUIRE_BROWSER` is set (the test command sets it in CI).

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::browser::{Browser, Key};
use blindmap_server::client::Method;

const WAIT: Duration = Duration::from_secs(15);

/// The account ids of the list's rows, in order (each row's account links to `/accounts/ID`).
async fn listed_ids(browser: &Browser) -> Vec<String> {
    let ids = browser
        .execute(
            "return [...document.querySelectorAll('#overlaps tbody tr th a')]
               .map(a => decodeURIComponent(a.getAttribute('href').slice('/accounts/'.length)))",
            vec![],
        )
        .await;
    serde_json::from_value(ids).expect("a list of ids")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_goes_from_sign_in_to_a_csv_of_the_partners_customers_that_are_open_opportunities() {
    let Some(browser) = Browser::start().await else { return };
    // The partner's rep: its HubSpot export has open opportunities; the vendor shares owners.
    let (_vendor, partner, _, pid) = common::matched().await;
    let (_, token) = common::rep(&partner).await;
    let truth = common::all_overlaps(&partner, &format!("/api/v1/overlaps?partnership={pid}")).await;
    let wanted: Vec<&serde_json::Value> = truth
        .iter()
        .filter(|o| o["own_segment"] == "open_opportunities" && o["partner_segment"] == "customers")
        .collect();
    assert!(!wanted.is_empty(), "the samples have open opportunities that are the partner's customers");
    let base = format!("https://127.0.0.1:{}", partner.running.addr.port());

    // Another site's page posting a token (an attacker's own, say) signs the browser in nowhere:
    // this site's SameSite cookies stay home, and the browser says the post is cross-site.
    let attack = format!(
        "<form id='attack' method='post' action='{base}/signin'><input name='token' value='{token}'>\
         <input name='csrf' value='0123456789abcdef0123456789abcdef'></form>"
    );
    let encoded: String = attack
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    browser.goto(&format!("data:text/html,{encoded}")).await;
    browser.submit_and_load("#attack").await;
    browser.wait_for_url(&format!("{base}/signin"), WAIT).await;
    assert!(browser.text_of("[role=alert]").await.contains("another site"), "{}", browser.source().await);
    assert!(browser.cookie("bm_session").await.is_none(), "no session was opened");

    // Signed out, the pages send to sign-in; the form is labelled and keyboard-reachable.
    browser.goto(&format!("{base}/partners")).await;
    browser.wait_for_url("/signin", WAIT).await;
    let order = browser.tab_order(6).await;
    assert_eq!(order.first().map(|f| f.label.as_str()), Some("Skip to content"), "{order:?}");
    assert!(order.iter().any(|f| f.id.as_deref() == Some("token") && f.label.contains("API token")), "{order:?}");
    browser.fill("#token", &token).await;
    browser.submit_and_load("form[action='/signin']").await;
    // Signed in, the rep lands on its home page, whose navigation leads to the partners.
    browser.wait_for("nav a[href='/partners']", WAIT).await;
    assert_eq!(browser.text_of("h1").await, "Home");
    browser.follow("nav a[href='/partners']").await;
    browser.wait_for_url("/partners", WAIT).await;
    let cookie = browser.cookie("bm_session").await.expect("a session cookie");
    assert!(cookie.http_only && cookie.secure, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert!(browser.execute("return document.cookie", vec![]).await.as_str().unwrap().is_empty(), "HttpOnly");

    // Partners → the matrix → the cell.
    assert_eq!(browser.text_of("h1").await, "Partners");
    browser.follow(&format!("a[href='/partners/{pid}']")).await;
    browser.wait_for("table caption", WAIT).await;
    let cell = format!("a[href='/partners/{pid}/overlaps?own=open_opportunities&partner=customers']");
    assert_eq!(browser.text_of(&cell).await, wanted.len().to_string(), "the cell shows its count");
    assert!(!browser.exists("a[href*='partner=partners']").await, "the vendor's hidden segment links nowhere");
    browser.follow(&cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    let count = browser.text_of("#count").await;
    assert!(count.contains(&format!("of {} pair", wanted.len())), "the list's rows are pairs: {count}");
    let listed: BTreeSet<String> = listed_ids(&browser).await.into_iter().collect();
    let expected: BTreeSet<String> = wanted.iter().map(|o| o["account_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, expected);

    // Every control is labelled, every table has a caption and column headers.
    let unlabelled = browser
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, button')]
               .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
               .map(e => e.outerHTML)",
            vec![],
        )
        .await;
    assert_eq!(unlabelled, serde_json::json!([]), "controls without a label");
    assert!(browser.exists("#overlaps caption").await && browser.exists("#overlaps thead th[scope=col]").await);

    // Filter by an owner with the form (no script needed: a plain GET).
    let owner = browser.texts_of("#overlaps tbody tr td:nth-child(3)").await.into_iter().next().unwrap();
    browser.select("#owner", &owner).await;
    browser.submit_and_load("form.filters").await;
    browser.wait_for_url("owner=", WAIT).await;
    let owners: BTreeSet<String> = browser.texts_of("#overlaps tbody tr td:nth-child(3)").await.into_iter().collect();
    assert_eq!(owners, BTreeSet::from([owner.clone()]));
    let kept = browser.execute("return document.querySelector('#own').value", vec![]).await;
    assert_eq!(kept, "open_opportunities", "the other filters are kept");

    // The export: the same columns and rows as shown.
    let shown_rows = listed_ids(&browser).await;
    let csv = browser.fetch_link("#export").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let shown_headers: Vec<String> = browser.texts_of("#overlaps thead th").await;
    assert_eq!(shown_headers.last().map(String::as_str), Some("Act"));
    for shown in &shown_headers[..shown_headers.len() - 1] {
        assert!(headers.contains(shown), "the CSV has the list's column {shown:?}: {headers:?}");
    }
    assert_eq!(headers[..6], ["Account", "Account ID", "Your segment", "Owner", "Their segment", "Their owner"]);
    let theirs: Vec<&String> = headers.iter().filter(|h| h.starts_with("Their ") && *h != "Their segment").collect();
    assert_eq!(theirs, ["Their owner"], "the one field shared has a column of its own, and no other");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| r[1].to_owned()).collect::<Vec<_>>(), shown_rows, "and its rows, in its order");
    for r in &rows {
        assert_eq!((&r[2], &r[3], &r[4]), ("open_opportunities", owner.as_str(), "customers"));
        assert!(!r[5].is_empty(), "the partner's owner, shared: {r:?}");
    }

    // Nothing the partner withheld on any page seen.
    let source = browser.source().await;
    for withheld in ["Industry", "industry", "employees", "Customer - Direct"] {
        assert!(!source.contains(withheld), "{withheld:?} was not shared");
    }
    assert!(rows.iter().all(|r| &r[4] != "partners"), "nor the vendor's hidden segment");

    // Sign out: the session ends.
    browser.follow("header form button").await;
    browser.wait_for_url("/signin", WAIT).await;
    browser.goto(&format!("{base}/partners/{pid}")).await;
    browser.wait_for_url("/signin", WAIT).await;
}

/// Corrections in a real browser: a rep opens the overlap list (confirmed matches by default,
/// possible ones a click away, each saying why), clicks "Not this match" on a row, and the pair
/// is gone at once from the list, the matrix's count and the CSV export; a new match between
/// the same nodes keeps it gone; "Undo" on the corrections page brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rep_marks_a_match_wrong_and_it_stays_gone_until_undone() {
    let Some(browser) = Browser::start().await else { return };
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    // Acme, Globex and Initech match on their domains (confirmed); Smith Consulting on a common
    // name and the country only (possible).
    let header = "id,segment,name,country,domain\n";
    let ours = "v1,customers,Acme,US,acme.com\nv2,customers,Globex,US,globex.com\n\
                v3,customers,Smith Consulting,US,\nv4,prospects,Initech,US,initech.com\n";
    let theirs = "p1,customers,Acme Corp,US,acme.com\np2,customers,Globex,US,globex.com\n\
                  p3,customers,Smith Consulting,US,\np4,customers,Initech,US,initech.com\n";
    common::upload(&vendor, "v.csv", &format!("{header}{ours}")).await;
    common::upload(&partner, "p.csv", &format!("{header}{theirs}")).await;
    let (pid, their_pid) = common::pair(&vendor, &partner, "Partner").await;
    let overlaps = serde_json::json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 });
    let sharing = format!("/api/v1/partnerships/{their_pid}/sharing");
    common::call(&partner, Method::PUT, &sharing, Some(overlaps)).await.unwrap();
    let run_match = || async {
        let body = serde_json::json!({ "partnership": pid });
        let run = common::call(&vendor, Method::POST, "/api/v1/runs", Some(body)).await.unwrap();
        let view = common::finished(&vendor, run["id"].as_str().unwrap()).await;
        assert_eq!(view["state"], "complete", "{view}");
    };
    run_match().await;
    let (_, token) = common::rep(&vendor).await;
    let base = format!("https://127.0.0.1:{}", vendor.running.addr.port());

    browser.goto(&format!("{base}/signin")).await;
    browser.fill("#token", &token).await;
    browser.submit_and_load("form[action='/signin']").await;
    browser.wait_for("nav a[href='/partners']", WAIT).await;

    // The matrix: confirmed matches counted, the possible one beside them.
    let matrix = format!("{base}/partners/{pid}");
    let confirmed_cell = format!("a[href='/partners/{pid}/overlaps?own=customers&partner=customers']");
    let possible_cell = format!("a[href='/partners/{pid}/overlaps?own=customers&partner=customers&tier=possible']");
    browser.goto(&matrix).await;
    assert_eq!(browser.text_of(&confirmed_cell).await, "2", "Acme and Globex");
    assert_eq!(browser.text_of(&possible_cell).await, "+1 possible");

    // The list: confirmed by default; possible one click away, each saying why.
    browser.follow(&confirmed_cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    let ids = || async { listed_ids(&browser).await };
    assert_eq!(ids().await, ["v1", "v2"]);
    let chosen = browser.execute("return document.querySelector('#tier').value", vec![]).await;
    assert_eq!(chosen, "confirmed");
    browser.select("#tier", "possible").await;
    browser.submit("form.filters").await;
    browser.wait_for_url("tier=possible", WAIT).await;
    assert_eq!(ids().await, ["v3"]);
    let tiers = browser.texts_of("#overlaps tbody tr td .tier").await;
    let reasons = browser.texts_of("#overlaps tbody tr td .why").await;
    assert_eq!(tiers, ["possible"]);
    assert!(reasons.iter().all(|r| r.starts_with("possible: the name and country agree")), "{reasons:?}");
    browser.goto(&matrix).await;
    browser.follow(&possible_cell).await;
    browser.wait_for_url("tier=possible", WAIT).await;
    assert_eq!(ids().await, ["v3"], "the matrix links the possible ones too");

    // "Not this match" on Globex's row: gone from the list at once, with a word on where to undo.
    browser.goto(&matrix).await;
    browser.follow(&confirmed_cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    browser.follow("button[aria-label^='Not this match: Globex with Partner']").await;
    browser.wait_for_url("corrected=mc_", WAIT).await;
    assert!(browser.url().await.contains("own=customers&partner=customers"), "back to the same filtered list");
    let notice = browser.text_of("[role=status]").await;
    assert!(notice.contains("Globex is no longer shown as matching Partner"), "{notice}");
    assert_eq!(ids().await, ["v1"]);
    // The export lacks it.
    let csv = browser.fetch_link("#export").await;
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let exported: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert_eq!(exported, ["v1"]);
    // The matrix's count dropped.
    browser.goto(&matrix).await;
    assert_eq!(browser.text_of(&confirmed_cell).await, "1");

    // A new match between the same nodes: still gone.
    run_match().await;
    browser.goto(&matrix).await;
    assert_eq!(browser.text_of(&confirmed_cell).await, "1", "the correction holds in the new match");
    browser.follow(&confirmed_cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    assert_eq!(ids().await, ["v1"]);
    let all = browser.fetch_text(&format!("{base}/partners/{pid}/overlaps.csv?tier=all")).await;
    assert!(!all.contains("\nGlobex,v2,"), "{all}");

    // Undo on the corrections page: back everywhere.
    browser.follow("#corrections").await;
    browser.wait_for("#corrections-list", WAIT).await;
    assert_eq!(browser.texts_of("#corrections-list tbody th").await, ["Globex"]);
    browser.follow("button[aria-label^='Undo the correction of Globex']").await;
    // The same address as before the undo: wait for the new page's empty list, not the old one.
    browser.wait_for("#empty", WAIT).await;
    assert!(browser.source().await.contains("No corrections"), "{}", browser.source().await);
    browser.goto(&matrix).await;
    assert_eq!(browser.text_of(&confirmed_cell).await, "2");
    browser.follow(&confirmed_cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    assert_eq!(ids().await, ["v1", "v2"]);
}

/// The accessibility check can fail: on a clean page it finds nothing serious, and after a
/// broken fragment (an image without a text alternative, a button without a name) is put into
/// the page it names both rules, their elements and the page, and `assert_accessible` panics.
/// axe-core runs although the page's CSP forbids every script: the node's CSP is untouched and
/// still stops a script the page itself would run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accessibility_check_reports_a_broken_page() {
    use futures_util::FutureExt;

    let Some(browser) = Browser::start().await else { return };
    let node = common::node("Vendor", None).await;
    let base = format!("https://127.0.0.1:{}", node.running.addr.port());
    browser.goto(&format!("{base}/signin")).await;
    let csp = browser.fetch("/signin").await.header("content-security-policy").map(str::to_owned);
    assert!(
        csp.as_deref().is_some_and(|c| c.starts_with("default-src 'none';")
            && c.contains("script-src 'self';")
            && !c.contains("unsafe")),
        "{csp:?}"
    );
    let Some(clean) = browser.axe().await else { return };
    assert!(clean.iter().all(|v| !v.is_serious()), "{clean:?}");

    // The page's own scripts stay blocked: a script element added to the page does not run.
    browser
        .execute(
            "const s = document.createElement('script'); s.textContent = 'window.pageScriptRan = true;';
             document.body.appendChild(s);",
            vec![],
        )
        .await;
    assert_eq!(browser.execute("return window.pageScriptRan === true", vec![]).await, false, "the CSP still holds");

    browser
        .execute(
            "document.querySelector('main').insertAdjacentHTML('beforeend',
               '<img id=\"broken-image\" src=\"/assets/none.png\"><button id=\"broken-button\"></button>');",
            vec![],
        )
        .await;
    let serious = browser.serious_violations().await;
    let image = serious.iter().find(|v| v.starts_with("image-alt (critical)")).unwrap_or_else(|| panic!("{serious:?}"));
    assert!(image.contains("#broken-image"), "{image}");
    let button =
        serious.iter().find(|v| v.starts_with("button-name (critical)")).unwrap_or_else(|| panic!("{serious:?}"));
    assert!(button.contains("#broken-button"), "{button}");
    let failed =
        std::panic::AssertUnwindSafe(browser.assert_accessible("the broken sign-in page")).catch_unwind().await;
    let message = failed.expect_err("assert_accessible fails on a broken page");
    let message = message.downcast_ref::<String>().expect("a formatted message");
    for part in ["the broken sign-in page", "/signin", "image-alt", "button-name", "#broken-image", "#broken-button"] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
}

/// Every page a rep and the sign-in flows reach passes axe-core's checks with no serious or
/// critical violation: sign-in with a token and with a link, partners, the matrix, the overlap
/// list (all, filtered, sorted by a shared field, empty, lost accounts), the list across
/// partners, the ecosystem view, an account, the registration form (blank and refused), the corrections page (empty
/// and with a correction) and the error pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_a_rep_reaches_is_accessible() {
    let Some(browser) = Browser::start().await else { return };
    let (vendor, _partner, pid, _) = common::matched().await;
    let (rep_id, token) = common::rep(&vendor).await;
    let base = format!("https://127.0.0.1:{}", vendor.running.addr.port());

    browser.goto(&format!("{base}/signin")).await;
    browser.assert_accessible("the sign-in page").await;
    browser.fill("#token", "not-a-token").await;
    browser.submit("form[action='/signin']").await;
    browser.wait_for("[role=alert]", WAIT).await;
    browser.assert_accessible("a refused sign-in").await;
    let link = common::call(&vendor, Method::POST, &format!("/api/v1/users/{rep_id}/signin-link"), None).await.unwrap();
    let url = link["url"].as_str().unwrap();
    browser.goto(&format!("{base}{}", &url[url.find("/signin/link").unwrap()..])).await;
    browser.assert_accessible("the one-time link page").await;
    browser.goto(&format!("{base}/signin/link")).await;
    browser.assert_accessible("the link page without a link").await;

    browser.goto(&format!("{base}/signin")).await;
    browser.fill("#token", &token).await;
    browser.submit("form[action='/signin']").await;
    browser.wait_for("nav a[href='/partners']", WAIT).await;
    browser.assert_accessible("the home page").await;
    browser.goto(&format!("{base}/partners")).await;
    browser.wait_for_url("/partners", WAIT).await;
    browser.assert_accessible("the partners page").await;
    browser.goto(&format!("{base}/partners/{pid}")).await;
    browser.assert_accessible("the matrix").await;
    let list = format!("{base}/partners/{pid}/overlaps");
    browser.goto(&list).await;
    browser.wait_for("#overlaps tbody tr", WAIT).await;
    browser.assert_accessible("the overlap list").await;
    browser.goto(&format!("{list}?own=open_opportunities&partner=customers&tier=all&sort=owner&desc=1")).await;
    browser.assert_accessible("a filtered, sorted overlap list").await;
    browser.goto(&format!("{list}?q=no-such-company-anywhere")).await;
    browser.assert_accessible("an empty overlap list").await;
    browser.goto(&format!("{list}?page=9999")).await;
    browser.assert_accessible("the list's last page").await;
    browser.goto(&format!("{list}?f_owner=a&sort=field:owner&desc=1")).await;
    browser.assert_accessible("the list filtered and sorted by a field the partner shares").await;
    browser.goto(&format!("{list}?new=lost&tier=all")).await;
    browser.assert_accessible("the lost accounts (none: no earlier match)").await;
    browser.goto(&format!("{base}/overlaps")).await;
    browser.wait_for("#overlaps tbody tr", WAIT).await;
    browser.assert_accessible("the list across partners").await;
    browser.goto(&format!("{base}/overlaps?sort=partner&desc=1&q=no-such-company-anywhere")).await;
    browser.assert_accessible("the list across partners, empty").await;
    browser.goto(&format!("{base}/ecosystem")).await;
    browser.assert_accessible("the ecosystem view, empty (one partner)").await;
    browser.goto(&format!("{base}/ecosystem?min=1&amount=")).await;
    browser.wait_for("#ecosystem tbody tr", WAIT).await;
    browser.assert_accessible("the ecosystem view").await;

    browser.goto(&list).await;
    let account = browser.find("#overlaps tbody tr a[href^='/accounts/']").await.attr("href").await.unwrap().unwrap();
    browser.goto(&format!("{base}{account}")).await;
    browser.assert_accessible("an account").await;
    browser.goto(&format!("{base}/accounts/no-such-account")).await;
    browser.assert_accessible("an account with no matches").await;

    browser.goto(&list).await;
    let register =
        browser.find("#overlaps tbody tr a[href*='/register?account=']").await.attr("href").await.unwrap().unwrap();
    browser.goto(&format!("{base}{register}")).await;
    browser.assert_accessible("the registration form").await;
    // Filled in but for a value that is no amount: refused with a message.
    browser
        .execute(
            "for (const [id, v] of [['products', 'cloud'], ['value', 'lots'], ['currency', 'USD'],
                                    ['expected_close', '2031-01-31']]) document.getElementById(id).value = v;",
            vec![],
        )
        .await;
    browser.submit("form[action$='/register']").await;
    browser.wait_for("[role=alert]", WAIT).await;
    browser.assert_accessible("a refused registration").await;

    browser.goto(&format!("{base}/partners/{pid}/corrections")).await;
    browser.assert_accessible("the corrections page, empty").await;
    browser.goto(&list).await;
    browser.follow("#overlaps tbody tr button.quiet").await;
    browser.wait_for_url("corrected=mc_", WAIT).await;
    browser.assert_accessible("the list after a correction").await;
    browser.goto(&format!("{base}/partners/{pid}/corrections")).await;
    browser.assert_accessible("the corrections page").await;

    browser.goto(&format!("{base}/partners/pt_nosuchpartner")).await;
    browser.assert_accessible("a page that is not there").await;
    browser.goto(&format!("{list}?page=x")).await;
    browser.assert_accessible("a bad page number").await;
}

/// Issue 15's layout (WCAG 1.4.10 Reflow): at 1280×1024 and on a 390×844 phone no rep's page
/// scrolls sideways — wide tables scroll inside their own named, focusable region — and at 1280
/// every action of the overlap list is in view. On the phone the list's region scrolls with the
/// keyboard and the page still passes axe-core's checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reps_pages_fit_a_laptop_and_reflow_on_a_phone() {
    let Some(browser) = Browser::start().await else { return };
    let (vendor, _partner, pid, _) = common::matched().await;
    let (_, token) = common::rep(&vendor).await;
    let base = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    browser.goto(&format!("{base}/signin")).await;
    browser.fill("#token", &token).await;
    browser.submit("form[action='/signin']").await;
    browser.wait_for("nav a[href='/partners']", WAIT).await;
    let list = format!("{base}/partners/{pid}/overlaps");
    browser.goto(&list).await;
    let account = browser.find("#overlaps tbody tr th a").await.attr("href").await.unwrap().unwrap();
    let register = browser.find("#overlaps td.act a[href*='/register']").await.attr("href").await.unwrap().unwrap();
    let pages = [
        ("the sign-in page", format!("{base}/signin")),
        ("the partners page", format!("{base}/partners")),
        ("the matrix", format!("{base}/partners/{pid}")),
        ("the overlap list", list.clone()),
        ("the overlap list, all tiers, by owner", format!("{list}?tier=all&sort=owner&desc=1")),
        ("an empty overlap list", format!("{list}?q=no-such-company-anywhere")),
        ("the lost accounts", format!("{list}?new=lost&tier=all")),
        ("the list across partners", format!("{base}/overlaps")),
        ("the ecosystem view", format!("{base}/ecosystem?min=1")),
        ("an account", format!("{base}{account}")),
        ("the registration form", format!("{base}{register}")),
        ("the corrections page", format!("{base}/partners/{pid}/corrections")),
        ("a page that is not there", format!("{base}/partners/pt_nosuchpartner")),
    ];
    for (width, height) in [(1280, 1024), (390, 844)] {
        browser.set_viewport(width, height).await;
        for (what, url) in &pages {
            browser.goto(url).await;
            browser.assert_no_horizontal_scroll(&format!("{what} at {width} px")).await;
        }
    }

    // At 1280 the list's actions are all in view, its first row's and its last's.
    browser.set_viewport(1280, 1024).await;
    for url in [list.clone(), format!("{base}/overlaps?tier=all")] {
        browser.goto(&url).await;
        let placed = browser
            .execute(
                "const all = [...document.querySelectorAll('#overlaps td.act button, #overlaps td.act a')];
                 return [all.length, all.filter(e => { const r = e.getBoundingClientRect();
                   return r.width === 0 || r.left < 0 || r.right > window.innerWidth; }).map(e => e.outerHTML)];",
                vec![],
            )
            .await;
        let (count, outside): (u64, Vec<String>) = serde_json::from_value(placed).unwrap();
        assert!(count >= 3, "{url}: the list has actions");
        assert!(outside.is_empty(), "{url}: actions out of view at 1280 px: {outside:?}");
    }

    // On the phone the table is wider than its region, which scrolls, not the page; the region
    // is named by the table's caption and takes focus, so arrow keys scroll it.
    browser.set_viewport(390, 844).await;
    browser.goto(&list).await;
    let region = browser
        .execute(
            "const r = document.querySelector('#overlaps').closest('.table-scroll');
             return { wider: r.scrollWidth > r.clientWidth, tabindex: r.getAttribute('tabindex'), role: r.getAttribute('role'),
                      named: document.getElementById(r.getAttribute('aria-labelledby')).tagName };",
            vec![],
        )
        .await;
    assert_eq!(region, serde_json::json!({ "wider": true, "tabindex": "0", "role": "region", "named": "CAPTION" }));
    browser.execute("document.querySelector('.table-scroll').focus()", vec![]).await;
    for _ in 0..5 {
        browser.press(Key::Right).await;
    }
    // Scrolling is smooth where the browser animates it: give it a moment under load.
    let mut scrolled = serde_json::Value::Null;
    for _ in 0..40 {
        scrolled = browser.execute("return document.querySelector('.table-scroll').scrollLeft", vec![]).await;
        if scrolled.as_f64().is_some_and(|x| x > 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(scrolled.as_f64().is_some_and(|x| x > 0.0), "the keyboard scrolls the region: {scrolled}");
    browser.assert_no_horizontal_scroll("the overlap list, scrolled, at 390 px").await;
    browser.assert_accessible("the overlap list at 390 px").await;
    browser.goto(&format!("{base}/overlaps")).await;
    browser.assert_accessible("the list across partners at 390 px").await;
}
