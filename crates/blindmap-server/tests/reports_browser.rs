//! The reps' reports in a real browser (headless Chromium): a rep signs in with a token, opens
//! the partner's matrix, follows the cell "your open opportunities × their customers", filters
//! the list by owner, exports it as CSV, and everything shown matches what the store holds and
//! what the partner's policy allows — its hidden segment and unshared fields appear nowhere.
//! Keyboard users reach every control in order, starting with the skip link. Skips without
//! Chromium unless `BLINDMAP_REQUIRE_BROWSER` is set (the test command sets it in CI).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::browser::Browser;

const WAIT: Duration = Duration::from_secs(15);

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

    // Signed out, the pages send to sign-in; the form is labelled and keyboard-reachable.
    browser.goto(&format!("{base}/partners")).await;
    browser.wait_for_url("/signin", WAIT).await;
    let order = browser.tab_order(6).await;
    assert_eq!(order.first().map(|f| f.label.as_str()), Some("Skip to content"), "{order:?}");
    assert!(order.iter().any(|f| f.id.as_deref() == Some("token") && f.label.contains("API token")), "{order:?}");
    browser.fill("#token", &token).await;
    browser.submit("form[action='/signin']").await;
    browser.wait_for_url("/partners", WAIT).await;
    let cookie = browser.cookie("bm_session").await.expect("a session cookie");
    assert!(cookie.http_only && cookie.secure, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"));
    assert!(browser.execute("return document.cookie", vec![]).await.as_str().unwrap().is_empty(), "HttpOnly");

    // Partners → the matrix → the cell.
    assert_eq!(browser.text_of("h1").await, "Partners");
    browser.click(&format!("a[href='/partners/{pid}']")).await;
    browser.wait_for("table caption", WAIT).await;
    let cell = format!("a[href='/partners/{pid}/overlaps?own=open_opportunities&partner=customers']");
    assert_eq!(browser.text_of(&cell).await, wanted.len().to_string(), "the cell shows its count");
    assert!(!browser.exists("a[href*='partner=partners']").await, "the vendor's hidden segment links nowhere");
    browser.click(&cell).await;
    browser.wait_for("#overlaps", WAIT).await;
    let count = browser.text_of("#count").await;
    assert!(count.contains(&format!("of {} pair", wanted.len())), "the list's rows are pairs: {count}");
    let listed: BTreeSet<String> = browser.texts_of("#overlaps tbody tr td:nth-child(2)").await.into_iter().collect();
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
    let owner = browser.texts_of("#overlaps tbody tr td:nth-child(4)").await.into_iter().next().unwrap();
    browser.select("#owner", &owner).await;
    browser.submit("form.filters").await;
    browser.wait_for_url("owner=", WAIT).await;
    let owners: BTreeSet<String> = browser.texts_of("#overlaps tbody tr td:nth-child(4)").await.into_iter().collect();
    assert_eq!(owners, BTreeSet::from([owner.clone()]));
    let kept = browser.execute("return document.querySelector('#own').value", vec![]).await;
    assert_eq!(kept, "open_opportunities", "the other filters are kept");

    // The export: the same columns and rows as shown.
    let shown_rows = browser.texts_of("#overlaps tbody tr td:nth-child(2)").await;
    let csv = browser.fetch_link("#export").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let shown_headers: Vec<String> = browser.texts_of("#overlaps thead th").await;
    assert_eq!(headers[..], shown_headers[..headers.len()], "the CSV has the list's columns");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| r[1].to_owned()).collect::<Vec<_>>(), shown_rows, "and its rows, in its order");
    for r in &rows {
        assert_eq!((&r[2], &r[3], &r[4]), ("open_opportunities", owner.as_str(), "customers"));
        assert!(r[5].starts_with("owner: ") && !r[5].contains(';'), "only the shared field: {:?}", &r[5]);
    }

    // Nothing the partner withheld on any page seen.
    let source = browser.source().await;
    for withheld in ["Industry", "industry", "employees", "Customer - Direct"] {
        assert!(!source.contains(withheld), "{withheld:?} was not shared");
    }
    assert!(rows.iter().all(|r| &r[4] != "partners"), "nor the vendor's hidden segment");

    // Sign out: the session ends.
    browser.click("header form button").await;
    browser.wait_for_url("/signin", WAIT).await;
    browser.goto(&format!("{base}/partners/{pid}")).await;
    browser.wait_for_url("/signin", WAIT).await;
}
