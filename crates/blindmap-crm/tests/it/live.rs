//! Opt-in: the connectors against a real Salesforce org and a real HubSpot portal — a sandbox
//! org and a test portal, read only. Each test is skipped (and says so) unless its credentials
//! are in the environment:
//!
//! - Salesforce (JWT bearer flow, set up as the README says): `SALESFORCE_LIVE_LOGIN_URL`
//!   (e.g. `https://test.salesforce.com`), `SALESFORCE_LIVE_CLIENT_ID` (the consumer key),
//!   `SALESFORCE_LIVE_USERNAME`, `SALESFORCE_LIVE_KEY_FILE` (the certificate's key, PKCS#8 PEM);
//! - HubSpot: `HUBSPOT_LIVE_TOKEN` (a private app's token with `crm.objects.companies.read` and
//!   `crm.schemas.companies.read`).
//!
//! `cargo test -p blindmap-crm --test it live -- --nocapture` runs them. They read a few
//! records and the field lists, make one small Bulk API query job, and write nothing.

use blindmap_crm::Secret;
use blindmap_crm::hubspot::{Auth as HubSpotAuth, HubSpot};
use blindmap_crm::salesforce::{Auth, BulkState, Salesforce, SigningKey};
use url::Url;

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::test]
async fn a_real_salesforce_org_is_read() {
    let (Some(login), Some(client_id), Some(username), Some(key)) = (
        env("SALESFORCE_LIVE_LOGIN_URL"),
        env("SALESFORCE_LIVE_CLIENT_ID"),
        env("SALESFORCE_LIVE_USERNAME"),
        env("SALESFORCE_LIVE_KEY_FILE"),
    ) else {
        eprintln!("skipped: set SALESFORCE_LIVE_LOGIN_URL, _CLIENT_ID, _USERNAME and _KEY_FILE to run it");
        return;
    };
    let key = SigningKey::from_pem(&std::fs::read(key).expect("the key file")).expect("a PKCS#8 RSA key");
    let auth = Auth::JwtBearer { login_url: Url::parse(&login).unwrap(), client_id, username, key };
    let mut sf = Salesforce::new(http(), auth, 0.8);
    let fields = sf.account_fields().await.expect("the Account describe");
    assert!(fields.iter().any(|f| f == "Name") && fields.iter().any(|f| f == "Owner.Name"), "{fields:?}");
    let total = sf.count("SELECT COUNT() FROM Account", false).await.expect("a count");
    let page = sf.query("SELECT Id, Name, SystemModstamp FROM Account", false).await.expect("a page");
    assert_eq!(page.total_size, total);
    assert!(page.records.len() as u64 <= total.min(2_000));
    let usage = sf.usage().expect("Sforce-Limit-Info on the answers");
    eprintln!("org: {total} accounts; API requests {} of {} used", usage.used, usage.max);
    let job = sf.bulk_query("SELECT Id, Name FROM Account LIMIT 10", false).await.expect("a query job");
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        match sf.bulk_status(&job).await.expect("its state").state {
            BulkState::InProgress => tokio::time::sleep(wait).await,
            BulkState::Complete => break,
            other => panic!("the job ended {other:?}"),
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(10));
    }
    let results = sf.bulk_results(&job, None, 10).await.expect("its results");
    let mut reader = csv::Reader::from_reader(results.csv.as_slice());
    assert_eq!(reader.headers().expect("a header row"), vec!["Id", "Name"]);
    assert!(reader.records().count() <= 10);
    assert!(results.next.is_none(), "ten records are one page");
}

#[tokio::test]
async fn a_real_hubspot_portal_is_read() {
    let Some(token) = env("HUBSPOT_LIVE_TOKEN") else {
        eprintln!("skipped: set HUBSPOT_LIVE_TOKEN to run it");
        return;
    };
    let auth = HubSpotAuth::PrivateApp { token: Secret::new(token) };
    let mut hs = HubSpot::new(http(), Url::parse("https://api.hubapi.com").unwrap(), auth);
    let properties = hs.company_properties().await.expect("the company properties");
    let stage = properties.iter().find(|p| p.name == "lifecyclestage").expect("lifecyclestage");
    assert!(!stage.label.is_empty() && !stage.options.is_empty(), "{stage:?}");
    let page = hs.companies(&["name", "domain"], false, None).await.expect("a page of companies");
    assert!(page.companies.len() <= 100);
    let rate = hs.rate_limit();
    eprintln!("portal: {} companies on the first page; rate limit {rate:?}", page.companies.len());
}
