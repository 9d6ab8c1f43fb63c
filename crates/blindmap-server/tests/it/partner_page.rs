//! The partner page in headless Chromium (spec §20): a vendor makes a link; the partner opens
//! it, imports `samples/partner-hubspot.csv` from the file input, chooses what it shares,
//! matches, sees the overlaps with the vendor's fields and downloads them as CSV; the vendor's
//! node stores the run with the overlaps the partner revealed. Chromium's own network log and the
//! node's log show that nothing of the file — no name, domain or DUNS number — left the browser.
//! The same page saved as one file, whose SHA-256 the node and the README publish, works from
//! `file://` against a node that allows it.
//!
//! The node must be built with the page (`BLINDMAP_PARTNER_PAGE`, which `scripts/test.sh` sets
//! after `scripts/partner-page.sh`); without it the test skips with a note, unless
//! `BLINDMAP_REQUIRE_PARTNER_PAGE` is set (the test script sets it): then it fails.

use std::time::Duration;

use blindmap_server::client::Method;
use serde_json::json;
use sha2::Digest;

use crate::common::browser::{Browser, Sent};
use crate::common::{self, Captured, Node, call, upload_active};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");
const README: &str = include_str!("../../../../README.md");

/// How long an import or a match of the samples may take in a loaded CI machine's browser.
const STEP: Duration = Duration::from_secs(60);

/// The names, domains and DUNS numbers of the partner's file, as written and as the importer
/// makes keys of them (lower case).
fn identifiers() -> Vec<String> {
    let mut reader = csv::Reader::from_reader(PARTNER_CSV.as_bytes());
    let header = reader.headers().unwrap().clone();
    let columns = ["Company name", "Company Domain Name", "Website URL", "Additional Domains", "D-U-N-S Number"];
    let mut values = Vec::new();
    for row in reader.records() {
        let row = row.unwrap();
        for column in columns {
            let i = header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
            for value in row[i].split([';', ',', ' ']).filter(|v| v.len() >= 4) {
                let value = value.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
                values.push(value.to_owned());
                values.push(value.to_lowercase());
            }
            if column == "Company name" && !row[i].is_empty() {
                values.push(row[i].to_owned());
                values.push(row[i].to_lowercase());
            }
        }
    }
    values.sort();
    values.dedup();
    assert!(values.len() > 50, "the sample's identifiers: {values:?}");
    values
}

/// A WebSocket text message with a reveal's elements (spec §20.6) blanked, once each is checked
/// to be 64 lower-case hex digits: a blinded element, which carries nothing of the file — and in
/// which random hex would now and then spell a short identifier of the file ("cafe").
fn without_elements(bytes: &[u8]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return bytes.to_vec() };
    if value["type"] != "reveal" {
        return bytes.to_vec();
    }
    for record in value["records"].as_array_mut().into_iter().flatten() {
        for element in record["elements"].as_array_mut().into_iter().flatten() {
            let text = element.as_str().unwrap_or_default();
            assert!(
                text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "a revealed element is 64 lower-case hex digits, not {element}"
            );
            *element = serde_json::Value::Null;
        }
    }
    value.to_string().into_bytes()
}

/// `bytes` with every run of 16 or more hex digits (ids, hashes, secrets, elements: random) made
/// `#`, so that a short identifier of the file that is itself hex ("cafe") is not found in them
/// by chance; an identifier that leaked stands apart from such runs.
fn blank_hex_runs(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut run = 0;
    for &b in bytes {
        if b.is_ascii_hexdigit() {
            run += 1;
            out.push(b);
            continue;
        }
        if run >= 16 {
            let at = out.len() - run;
            out.truncate(at);
            out.push(b'#');
        }
        run = 0;
        out.push(b);
    }
    if run >= 16 {
        out.truncate(out.len() - run);
        out.push(b'#');
    }
    out
}

/// Whether `bytes` is a reveal's text message.
fn is_reveal(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v["type"] == "reveal")
}

/// Fails if any of the partner's identifiers is in what the browser sent.
fn assert_nothing_of_the_file_in(sent: &[Sent], what: &str) {
    let identifiers = identifiers();
    for item in sent {
        let (label, bytes) = match item {
            Sent::Request { method, url, headers, body } => {
                let mut all = format!("{method} {url} {headers}").into_bytes();
                all.extend_from_slice(body);
                (format!("{method} {url}"), all)
            }
            Sent::WebSocket { bytes, .. } => ("a WebSocket message".to_owned(), without_elements(bytes)),
        };
        let bytes = blank_hex_runs(&bytes);
        for id in &identifiers {
            let found = bytes.windows(id.len()).any(|w| w == id.as_bytes());
            assert!(!found, "{what}: {id:?} left the browser in {label}");
        }
    }
}

/// The node's `/join/blindmap-partner.html` and the SHA-256 it publishes beside it.
async fn single_file(node: &Node) -> (Vec<u8>, String) {
    let http = blindmap_server::client::pinned_http(&node.running.fingerprint).unwrap();
    let base = format!("https://127.0.0.1:{}", node.running.addr.port());
    let file = http.get(format!("{base}/join/blindmap-partner.html")).send().await.unwrap();
    assert_eq!(file.status(), 200);
    let disposition = file.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let bytes = file.bytes().await.unwrap().to_vec();
    let published = http.get(format!("{base}/join/assets/blindmap-partner.html.sha256")).send().await.unwrap();
    let published = published.text().await.unwrap().split_whitespace().next().unwrap().to_owned();
    (bytes, published)
}

/// The page's assets go gzipped to a browser that takes gzip (the download's target is 2 MB):
/// every one of them, together, well within it.
async fn assert_compressed(node: &Node) {
    let http = blindmap_server::client::pinned_http(&node.running.fingerprint).unwrap();
    let base = format!("https://127.0.0.1:{}", node.running.addr.port());
    let manifest: serde_json::Value =
        http.get(format!("{base}/join/assets/manifest.json")).send().await.unwrap().json().await.unwrap();
    let mut total = 0;
    for file in manifest["files"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        if name.starts_with("blindmap-partner.html") {
            continue;
        }
        let path = if name == "index.html" { "/join".to_owned() } else { format!("/join/assets/{name}") };
        let answer = http.get(format!("{base}{path}")).header("accept-encoding", "gzip, br").send().await.unwrap();
        assert_eq!(answer.headers()["content-encoding"], "gzip", "{path}");
        let gzipped = answer.bytes().await.unwrap().len();
        assert!((gzipped as u64) < file["bytes"].as_u64().unwrap(), "{path}: {gzipped} bytes gzipped");
        total += gzipped;
    }
    assert!(total < 2 << 20, "the page's download is {total} bytes gzipped");
}

/// The node built with the page, or `None` (with a note) where it was built without.
async fn page_built(node: &Node) -> bool {
    let http = blindmap_server::client::pinned_http(&node.running.fingerprint).unwrap();
    let join = http.get(format!("https://127.0.0.1:{}/join", node.running.addr.port())).send().await.unwrap();
    if join.status() == 200 {
        return true;
    }
    assert!(
        std::env::var_os("BLINDMAP_REQUIRE_PARTNER_PAGE").is_none(),
        "BLINDMAP_REQUIRE_PARTNER_PAGE is set but the node was built without the partner page: run \
         scripts/partner-page.sh and build with BLINDMAP_PARTNER_PAGE=target/partner-page"
    );
    eprintln!("the node was built without the partner page: skipping (scripts/test.sh builds it)");
    false
}

/// Imports the partner's sample in the page, chooses what it shares — its customers' overlaps
/// with their owner, its other segments' overlaps — and matches; the results' summary.
async fn import_and_match(browser: &Browser, sample: &std::path::Path) -> String {
    let input = browser.find("#file").await;
    input.send_keys(&sample.display().to_string()).await.unwrap();
    browser.wait_for("#preview:not([hidden]) #accounts", STEP).await;
    let read = browser.text_of("#import-text").await;
    assert!(read.contains("read as hubspot"), "{read}");
    browser.wait_for("#step-match:not([hidden]) #match:not([disabled])", STEP).await;
    // The sharing step: counts by default, as `blindmap match --remote`.
    let levels = browser.find_all("#sharing-table select").await;
    assert_eq!(levels.len(), 3, "one choice per segment of the file");
    for level in &levels {
        assert_eq!(level.prop("value").await.unwrap().as_deref(), Some("counts"));
    }
    for segment in ["open_opportunities", "prospects"] {
        browser.select(&format!("select[data-segment=\"{segment}\"]"), "overlaps").await;
    }
    browser.select("select[data-segment=\"customers\"]", "fields").await;
    let customers = "#sharing-table tr:has(select[data-segment=\"customers\"])";
    // Fields chosen without a field: the page says so and does not match.
    browser.click("#match").await;
    let problem = browser.text_of("#sharing-error").await;
    assert!(problem.contains("Choose the fields you share of customers"), "{problem}");
    assert!(browser.exists("#step-results[hidden]").await);
    browser.click(&format!("{customers} input[value=\"owner\"]")).await;
    let learns = browser.text_of(&format!("{customers} td:last-child")).await;
    assert!(learns.contains("with your owner of each"), "the preview says what the vendor learns: {learns}");
    let back = browser.text_of("#sharing-back").await;
    assert!(back.contains("its owner, industry"), "what the vendor returns: {back}");
    browser.click("#match").await;
    browser.wait_for("#step-results:not([hidden]) #overlaps", STEP).await;
    browser.text_of("#results-summary").await
}

#[tokio::test]
async fn a_partner_matches_in_its_browser_and_nothing_of_its_file_leaves_it() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let vendor = common::node_configured("Vendor Co", None, |c| c.browser_allow_file = true).await;
    if !page_built(&vendor).await {
        return;
    }
    let Some(browser) = Browser::start_recording().await else { return };
    upload_active(&vendor, "vendor-salesforce.csv", VENDOR_CSV).await;
    let made = call(&vendor, Method::POST, "/api/v1/partnerships/browser", Some(json!({ "partner": "Partner Co" })))
        .await
        .unwrap();
    let link = made["link"].as_str().unwrap().to_owned();
    // The vendor shows the partner the overlaps, and its customers' owner and industry for the
    // overlaps the partner reveals (spec §20.7).
    crate::browser_partner::share_customers_fields(&vendor, made["partnership"]["id"].as_str().unwrap()).await;
    let samples = tempfile::tempdir().unwrap();
    let sample = samples.path().join("partner-hubspot.csv");
    std::fs::write(&sample, PARTNER_CSV).unwrap();

    // The served page: the invitation, the import's preview, the match, the results.
    browser.goto(&link).await;
    browser.wait_for("#invitation:not([hidden])", STEP).await;
    assert_eq!(browser.text_of("#vendor-name").await, "Vendor Co");
    assert_eq!(browser.text_of("#partner-name").await, "Partner Co");
    let summary = import_and_match(&browser, &sample).await;
    assert!(summary.contains("overlap"), "{summary}");
    let rows = browser.texts_of("#overlaps tbody tr").await;
    assert!(!rows.is_empty());
    assert!(rows.iter().any(|r| r.to_lowercase().contains("northwind")), "{rows:?}");
    // The vendor's fields came back for the revealed overlaps in its customers.
    let head = browser.texts_of("#overlaps thead th").await;
    assert!(head.iter().any(|h| h == "Vendor Co's fields"), "{head:?}");
    let northwind = rows.iter().find(|r| r.contains("NORTHWIND TRADERS (9001120031)")).expect("Northwind's row");
    assert!(northwind.contains("owner: Ada Byron") && northwind.contains("industry: Retail"), "{northwind}");
    let shared = browser.text_of("#shared-summary").await;
    assert!(shared.contains("it learned which of its accounts overlap"), "{shared}");
    assert!(shared.contains("In return it showed you its fields"), "{shared}");
    assert!(!browser.exists("#fields-error").await, "the node's fields fit what was revealed");
    browser.assert_accessible("the partner page's results").await;

    // The CSV download has every overlap, with the vendor's fields.
    browser.click("#download").await;
    let csv = downloaded(&browser).await;
    let lines = csv.lines().count();
    assert_eq!(lines, rows.len() + 1, "a header and one line per overlap:\n{csv}");
    assert!(csv.to_lowercase().contains("northwind"), "{csv}");
    assert!(csv.lines().next().unwrap().contains("Their industry,Their owner"), "{csv}");
    assert!(csv.contains("Ada Byron"), "{csv}");

    // The vendor's node stored the run, as its responder, with the overlaps the partner
    // revealed: Northwind among them, with the owner the partner chose to show.
    let runs = call(&vendor, Method::GET, "/api/v1/runs", None).await.unwrap();
    let run = runs["items"].as_array().unwrap().iter().find(|r| r["partner"] == "Partner Co").expect("the run");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let run = common::finished(&vendor, &run_id).await;
    assert_eq!((run["state"].as_str(), run["role"].as_str()), (Some("complete"), Some("responder")), "{run}");
    assert!(run["result"]["overlapping_accounts"].as_u64().unwrap() > 0, "the vendor sees the overlaps: {run}");
    let overlaps =
        call(&vendor, Method::GET, &format!("/api/v1/runs/{run_id}/overlaps?limit=1000"), None).await.unwrap();
    let items = overlaps["items"].as_array().unwrap();
    let theirs =
        items.iter().find(|i| i["account_id"] == "0015g00000NWTRdAAF").expect("Northwind, as the vendor knows it");
    assert_eq!(theirs["partner_fields"]["owner"], "Linus Torvalds", "{theirs}");

    // Nothing of the file left the browser: not in a request, not in a WebSocket message.
    let sent = browser.sent().await;
    assert!(sent.iter().any(|s| matches!(s, Sent::Request { url, .. } if url.ends_with("/browser/v1/invitation"))));
    assert_nothing_of_the_file_in(&sent, "the served page's requests");
    // Nor reached the node's log.
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("/browser/v1/session"), "the log records the session's route:\n{log}");
    let log = String::from_utf8(blank_hex_runs(log.as_bytes())).unwrap();
    for id in identifiers() {
        assert!(!log.contains(&id), "{id:?} reached the node's log");
    }

    // The single file: the hash the node publishes, the README's, the page's own; it matches
    // from file:// against this node, which allows it.
    assert_compressed(&vendor).await;
    let (bytes, published) = single_file(&vendor).await;
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    assert_eq!(sha, published, "the node publishes the file's own hash");
    assert!(
        README.contains(&sha),
        "README.md must publish the single-file page's SHA-256 {sha} (\"Partners in the browser\"): update it"
    );
    let footer = browser.text_of("#integrity").await;
    assert!(footer.contains(&sha), "the served page shows the hash: {footer}");
    let saved = samples.path().join("blindmap-partner.html");
    std::fs::write(&saved, &bytes).unwrap();
    browser.goto(&format!("file://{}", saved.display())).await;
    browser.wait_for("#link-form:not([hidden])", STEP).await;
    browser.fill("#link", &link).await;
    browser.submit("#link-form").await;
    browser.wait_for("#invitation:not([hidden])", STEP).await;
    let summary = import_and_match(&browser, &sample).await;
    assert!(summary.contains("overlap"), "{summary}");
    assert_eq!(browser.texts_of("#overlaps tbody tr").await, rows, "the saved page shows what the served one did");
    assert_nothing_of_the_file_in(&browser.sent().await, "the saved page's requests");

    // Everything Chromium wrote to any socket, in the clear, from both pages and their workers:
    // the sessions' WebSocket messages (unmasked) and every other request.
    let written = browser.finish().await;
    let binary = written.messages.iter().filter(|(binary, _)| *binary).count();
    assert!(binary > 6, "both sessions' frames are in the network log ({binary} binary messages)");
    // The log holds what was sent in the clear: the pages' first messages, the links' secret.
    let secret = link.split_once('#').unwrap().1;
    let presented =
        written.messages.iter().filter(|(binary, m)| !binary && m.windows(64).any(|w| w == secret.as_bytes()));
    assert_eq!(presented.count(), 2, "each session presented the link's secret, readable in the log");
    let reveals = written.messages.iter().filter(|(binary, m)| !binary && is_reveal(m)).count();
    assert_eq!(reveals, 2, "each session revealed what the partner chose");
    let identifiers = identifiers();
    let messages: Vec<Vec<u8>> =
        written.messages.iter().map(|(binary, m)| if *binary { m.clone() } else { without_elements(m) }).collect();
    for bytes in written.sockets.iter().chain(messages.iter()) {
        let bytes = blank_hex_runs(bytes);
        for id in &identifiers {
            assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()), "{id:?} left the browser");
        }
    }
}

/// The one file the browser downloaded (waits for it to be complete).
async fn downloaded(browser: &Browser) -> String {
    let dir = browser.downloads();
    let started = std::time::Instant::now();
    loop {
        let files: Vec<_> =
            std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        let done: Vec<_> = files.iter().filter(|p| p.extension().is_some_and(|e| e == "csv")).collect();
        if let [file] = done.as_slice()
            && !files.iter().any(|p| p.extension().is_some_and(|e| e == "crdownload"))
        {
            return std::fs::read_to_string(file).unwrap();
        }
        assert!(started.elapsed() < STEP, "no CSV downloaded into {}: {files:?}", dir.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn hex_runs_are_blanked_and_nothing_else() {
    assert_eq!(blank_hex_runs(b"pt_9eaa77affca2f78950a9ab9fdaca4a66 cafe.fr"), b"pt_# cafe.fr");
    assert_eq!(blank_hex_runs(b"x0123456789abcdef"), b"x#");
    assert_eq!(blank_hex_runs(b"duns 118273645, beef"), b"duns 118273645, beef");
}
