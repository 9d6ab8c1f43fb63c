//! The browser harness itself, against a real node and a local page: a headless Chromium reads a
//! node over HTTPS (its self-signed certificate accepted), fetches with the page's cookies, reads
//! cookies back, fills and submits forms, and follows keyboard focus. Each test skips without
//! Chromium unless `BLINDMAP_REQUIRE_BROWSER` is set (see `common/browser.rs`).

use crate::common;

use std::ffi::OsString;
use std::time::Duration;

use crate::common::browser::{Browser, Key};
use serde_json::{Value, json};

#[tokio::test]
async fn a_headless_chromium_reads_a_node_over_https() {
    let Some(browser) = Browser::start().await else { return };
    let node = common::node("Vendor", None).await;
    let base = format!("https://127.0.0.1:{}", node.running.addr.port());

    browser.goto(&format!("{base}/api/v1/openapi.json")).await;
    assert_eq!(browser.url().await, format!("{base}/api/v1/openapi.json"));
    let shown = browser.text_of("body").await;
    assert!(shown.contains("\"openapi\""), "the document as the browser shows it: {shown:.300}");
    assert!(browser.source().await.contains("\"openapi\""));

    // fetch() from the page: same origin, so the browser's cookies and certificate exception apply.
    let fetched = browser.fetch("/api/v1/openapi.json").await;
    assert_eq!(fetched.status, 200);
    assert!(fetched.header("Content-Type").is_some_and(|t| t.starts_with("application/json")), "{:?}", fetched.headers);
    let text = browser.fetch_text("/api/v1/openapi.json").await;
    assert_eq!(text, fetched.body);
    let document: Value = serde_json::from_str(&text).unwrap();
    assert!(document["openapi"].is_string());
    assert_eq!(serde_json::from_str::<Value>(&shown).unwrap(), document, "what the page shows is what fetch got");
    assert_eq!(browser.fetch("/api/v1/no-such-thing").await.status, 404);

    // A link's target, fetched as a download would be.
    browser
        .execute(
            "document.body.insertAdjacentHTML('beforeend', '<a id=\"doc\" href=\"/api/v1/openapi.json\">doc</a>')",
            vec![],
        )
        .await;
    assert_eq!(browser.fetch_link("#doc").await.body, text);

    // Cookies read back with their attributes (a page can set neither HttpOnly ones nor read them;
    // the harness reads those too).
    assert!(browser.cookie("probe").await.is_none());
    browser.execute("document.cookie = 'probe=seen; path=/; Secure; SameSite=Strict';", vec![]).await;
    let probe = browser.cookie("probe").await.expect("the cookie the page set");
    assert_eq!(probe.value, "seen");
    assert!(probe.secure && !probe.http_only, "{probe:?}");
    assert_eq!(probe.same_site.as_deref(), Some("Strict"));
    assert_eq!(probe.path.as_deref(), Some("/"));
}

/// A small page of its own, so forms and focus are tested without any page of the node's.
const FORM_PAGE: &str = r#"<!doctype html><title>form</title>
<a id="home" href="about:blank">Home</a>
<form id="f" onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'sent ' + this.elements.who.value + ' ' + this.elements.level.value;">
  <label for="who">Name</label> <input id="who" name="who" required>
  <select id="level" name="level"><option value="counts">Counts</option><option value="overlaps">Overlaps</option></select>
  <button id="go" aria-label="Send it">Send</button>
</form>
<output id="out"></output>
<button id="later" onclick="setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p id=late>late</p>'), 200)">Later</button>"#;

#[tokio::test]
async fn forms_waits_and_keyboard_focus() {
    let Some(browser) = Browser::start().await else { return };
    browser.goto(&format!("data:text/html,{}", FORM_PAGE.replace('#', "%23"))).await;

    // Tab order from the top, as a keyboard user meets the page.
    let order: Vec<String> = browser.tab_order(10).await.iter().map(ToString::to_string).collect();
    assert_eq!(
        order,
        [
            "a#home \"Home\"",
            "input#who \"Name\"",
            "select#level \"Counts\"",
            "button#go \"Send it\"",
            "button#later \"Later\""
        ]
    );
    // tab_order stops once focus has left the page; Shift+Tab comes back to the last element.
    assert_eq!(browser.shift_tab().await.unwrap().id.as_deref(), Some("later"));
    assert_eq!(browser.shift_tab().await.unwrap().id.as_deref(), Some("go"));

    // requestSubmit runs validation: an empty required field stops the submit.
    browser.submit("#f").await;
    assert_eq!(browser.text_of("#out").await, "");
    browser.fill("#who", "Ada").await;
    browser.select("#level", "overlaps").await;
    browser.submit("#f").await;
    assert_eq!(browser.text_of("#out").await, "sent Ada overlaps");
    browser.fill("#who", "Grace").await;
    browser.click("#who").await;
    browser.press(Key::Enter).await;
    assert_eq!(browser.text_of("#out").await, "sent Grace overlaps");

    assert!(!browser.exists("#late").await);
    browser.click("#later").await;
    assert_eq!(browser.wait_for("#late", Duration::from_secs(5)).await.text().await.unwrap(), "late");
    assert_eq!(browser.execute("return 6 * 7;", vec![]).await, json!(42));
}

/// The environment of a machine without chromedriver.
fn without_chromedriver(name: &str) -> Option<OsString> {
    (name == "BLINDMAP_CHROMEDRIVER").then(|| "/nonexistent".into())
}

#[tokio::test]
async fn without_a_browser_the_tests_skip() {
    assert!(Browser::start_with(without_chromedriver).await.is_none());
}

#[tokio::test]
#[should_panic(expected = "BLINDMAP_REQUIRE_BROWSER is set but BLINDMAP_CHROMEDRIVER=/nonexistent is no executable")]
async fn without_a_browser_a_required_test_fails() {
    let required = |name: &str| match name {
        "BLINDMAP_REQUIRE_BROWSER" => Some("1".into()),
        _ => without_chromedriver(name),
    };
    let _ = Browser::start_with(required).await;
}
