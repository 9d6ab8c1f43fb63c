//! The HubSpot connector against the emulated portal: both ways to authenticate and their
//! refusals, list paging with archived companies, changes read past the search's 10,000-result
//! cap (namesake timestamps at the window's edge included), rate limits waited out, and an
//! expired OAuth token refreshed mid-read.

use std::collections::BTreeSet;
use std::time::Instant;

use blindmap_crm::Secret;
use blindmap_crm::hubspot::{Auth, Company as Read, HubSpot, HubSpotError};
use serde_json::{Map, Value, json};
use url::Url;

use blindmap_crm_emulator::hubspot::{Company, Portal, Shared, start};

const TOKEN: &str = "pat-emulated-private-app";
const BASE_MS: i64 = 1_796_000_000_000;

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn company(i: usize, modified: i64, archived: bool) -> Company {
    let Value::Object(properties) = json!({
        "name": format!("Company {i}"),
        "domain": format!("company-{i}.example"),
        "country": "Germany",
    }) else {
        unreachable!()
    };
    Company { id: format!("{}", 9_000_000 + i), properties, modified, archived }
}

async fn portal(companies: Vec<Company>) -> (String, Shared) {
    start(Portal {
        companies,
        window_max: 100,
        interval_ms: 10_000,
        private_token: TOKEN.into(),
        client_id: "emulated-client".into(),
        client_secret: "emulated-secret".into(),
        refresh_token: "emulated-refresh".into(),
        ..Portal::default()
    })
    .await
}

fn private(base: &str) -> HubSpot {
    HubSpot::new(http(), Url::parse(base).unwrap(), Auth::PrivateApp { token: Secret::new(TOKEN) })
}

async fn list_all(hs: &mut HubSpot, archived: bool) -> Result<Vec<Read>, HubSpotError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = hs.companies(&["name", "domain"], archived, after.as_deref()).await?;
        all.extend(page.companies);
        match page.after {
            Some(next) => after = Some(next),
            None => return Ok(all),
        }
    }
}

#[tokio::test]
async fn a_private_app_lists_every_company_and_the_archived_apart() {
    let companies = (0..250).map(|i| company(i, BASE_MS + i as i64, i % 25 == 0)).collect();
    let (base, _portal) = portal(companies).await;
    let mut hs = private(&base);
    let live = list_all(&mut hs, false).await.unwrap();
    assert_eq!(live.len(), 240);
    assert_eq!(hs.calls(), 3, "pages of 100");
    assert!(live.iter().all(|c| !c.archived && c.properties["domain"].as_str().is_some()));
    let archived = list_all(&mut hs, true).await.unwrap();
    assert_eq!(archived.len(), 10);
    assert!(archived.iter().all(|c| c.archived));
    let limit = hs.rate_limit().unwrap();
    assert_eq!((limit.max, limit.remaining), (100, 96));

    let mut wrong =
        HubSpot::new(http(), Url::parse(&base).unwrap(), Auth::PrivateApp { token: Secret::new("pat-wrong") });
    let refused = wrong.companies(&[], false, None).await.unwrap_err();
    assert!(matches!(&refused, HubSpotError::Auth(m) if m.contains("INVALID_AUTHENTICATION")), "{refused}");
    assert!(!refused.to_string().contains("pat-wrong"));
}

#[tokio::test]
async fn changes_past_the_search_cap_are_read_once_each_in_windows() {
    // 12,500 changes, three to a millisecond: the windows' edges fall inside namesakes.
    let changed = (0..12_500).map(|i| company(i, BASE_MS + (i / 3) as i64, false));
    let older = (12_500..12_600).map(|i| company(i, BASE_MS - 10_000, false));
    let (base, portal) = portal(changed.chain(older).collect()).await;
    portal.lock().unwrap().window_max = 0; // no rate limit here
    let mut hs = private(&base);
    let mut read: Vec<String> = Vec::new();
    let newest = hs
        .each_modified_since(&["name", "domain"], BASE_MS, |page| read.extend(page.into_iter().map(|c| c.id)))
        .await
        .unwrap();
    let distinct: BTreeSet<&String> = read.iter().collect();
    assert_eq!(distinct.len(), 12_500, "every change once");
    assert_eq!(read.len(), 12_500, "none twice");
    assert_eq!(newest, BASE_MS + 12_499 / 3, "the next sync starts at the newest change");
    let searches = portal.lock().unwrap().requests.iter().filter(|r| r.contains("search")).count();
    assert!((63..=66).contains(&searches), "{searches} searches of 200");

    // Nothing changed since: one search, nothing read.
    let mut again = Vec::new();
    let same = hs.each_modified_since(&["name"], newest + 1, |page| again.extend(page)).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(same, newest + 1);
}

#[tokio::test]
async fn more_changes_in_one_millisecond_than_a_search_reaches_are_refused_with_why() {
    let companies = (0..10_050).map(|i| company(i, BASE_MS, false)).collect();
    let (base, portal) = portal(companies).await;
    portal.lock().unwrap().window_max = 0;
    let mut hs = private(&base);
    let refused = hs.each_modified_since(&["name"], BASE_MS, |_| {}).await.unwrap_err();
    assert!(matches!(refused, HubSpotError::Window(ms) if ms == BASE_MS), "{refused}");
    assert!(refused.to_string().contains("full sync"));
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_the_answers_say() {
    let companies = (0..500).map(|i| company(i, BASE_MS, false)).collect();
    let (base, portal) = portal(companies).await;
    {
        let mut p = portal.lock().unwrap();
        p.window_max = 2;
        p.interval_ms = 300;
        p.throttle = 1;
    }
    let mut hs = private(&base);
    let started = Instant::now();
    let all = list_all(&mut hs, false).await.unwrap();
    assert_eq!(all.len(), 500);
    let p = portal.lock().unwrap();
    // The 429 waited its Retry-After (1 s); a spent window waited its interval, never overrun.
    assert!(started.elapsed().as_millis() >= 1_000 + 2 * 300, "{:?}", started.elapsed());
    assert_eq!(p.overrun, 0, "no call came past a spent window");
    assert_eq!(p.requests.len(), 6, "five pages and the one refused");
}

#[tokio::test]
async fn oauth_refreshes_its_token_when_it_expires_mid_read() {
    let companies = (0..300).map(|i| company(i, BASE_MS, false)).collect();
    let (base, portal) = portal(companies).await;
    let oauth = |secret: &str| Auth::OAuth {
        client_id: "emulated-client".into(),
        client_secret: Secret::new(secret),
        refresh_token: Secret::new("emulated-refresh"),
    };
    let mut hs = HubSpot::new(http(), Url::parse(&base).unwrap(), oauth("emulated-secret"));
    let first = hs.companies(&["name"], false, None).await.unwrap();
    portal.lock().unwrap().oauth_tokens.clear();
    let second = hs.companies(&["name"], false, first.after.as_deref()).await.unwrap();
    assert_eq!(first.companies.len() + second.companies.len(), 200);
    assert_eq!(portal.lock().unwrap().issued, 2, "refreshed once after EXPIRED_AUTHENTICATION");

    let mut wrong = HubSpot::new(http(), Url::parse(&base).unwrap(), oauth("not-the-secret"));
    let refused = wrong.companies(&[], false, None).await.unwrap_err();
    assert!(matches!(&refused, HubSpotError::Auth(m) if m.contains("client id")), "{refused}");
    assert!(!format!("{refused:?}").contains("not-the-secret"));
}

#[test]
fn companies_read_from_the_documented_shape() {
    let read: Read = serde_json::from_value(json!({
        "id": "512", "properties": { "name": "Acme", "hs_lastmodifieddate": "2026-12-01T10:00:00.000Z" },
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-12-01T10:00:00.000Z", "archived": false }))
    .unwrap();
    assert_eq!(read.id, "512");
    let properties: Map<String, Value> = read.properties;
    assert_eq!(properties["name"], "Acme");
    assert!(!read.archived);
}

#[tokio::test]
async fn the_portals_company_properties_are_listed_its_own_too() {
    let (base, portal) = portal(vec![company(1, BASE_MS, false)]).await;
    portal.lock().unwrap().custom_properties.push("partner_tier".into());
    let properties = private(&base).company_properties().await.unwrap();
    for expected in ["name", "domain", "hs_additional_domains", "country", "lifecyclestage", "partner_tier"] {
        assert!(properties.iter().any(|p| p.name == expected), "{expected} in {properties:?}");
    }
    let stage = properties.iter().find(|p| p.name == "lifecyclestage").unwrap();
    assert_eq!(stage.label, "Lifecycle Stage");
    assert!(stage.options.iter().any(|o| o.value == "customer" && o.label == "Customer"), "{stage:?}");
}

#[tokio::test]
async fn companies_are_updated_in_batches_and_the_missing_ones_named() {
    let (base, portal) = portal(vec![company(1, BASE_MS, false), company(2, BASE_MS, true)]).await;
    let mut hs = private(&base);
    assert!(
        hs.ensure_company_property("blindmap_overlaps", "Partner overlaps (blindmap)", "by blindmap").await.unwrap()
    );
    assert!(
        !hs.ensure_company_property("blindmap_overlaps", "Partner overlaps (blindmap)", "by blindmap").await.unwrap(),
        "made once"
    );
    let props = |text: &str| -> Map<String, Value> {
        let Value::Object(m) = json!({ "blindmap_overlaps": text }) else { unreachable!() };
        m
    };
    let inputs = vec![
        ("9000001".to_owned(), props("Vendor Co: customers")),
        ("9000002".to_owned(), props("archived")),
        ("9999999".to_owned(), props("missing")),
    ];
    let outcome = hs.update_companies(&inputs).await.unwrap();
    assert_eq!(outcome.updated, ["9000001"]);
    assert_eq!(outcome.missing, ["9000002", "9999999"], "archived or never there: {outcome:?}");
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(portal.lock().unwrap().companies[0].properties["blindmap_overlaps"], "Vendor Co: customers");
    let unknown = vec![("9000001".to_owned(), {
        let Value::Object(m) = json!({ "no_such": "x" }) else { unreachable!() };
        m
    })];
    assert!(matches!(hs.update_companies(&unknown).await, Err(HubSpotError::Api { status: 400, .. })));
}
