//! The Salesforce connector against the emulated org: both OAuth flows and their refusals,
//! query paging to the end, `queryAll`'s deleted records, a token expiring mid-read, the quota
//! pause and the org's own limit, and answers that must not be followed.

use blindmap_crm::Secret;
use blindmap_crm::salesforce::{Auth, Salesforce, SalesforceError, SigningKey};
use serde_json::{Map, Value, json};
use url::Url;

use blindmap_crm_emulator::salesforce::{Org, Shared, start};

const KEY: &[u8] = include_bytes!("../keys/connected-app.pem");
const CLIENT_ID: &str = "3MVG9emulatedConsumerKey";
const USER: &str = "integration@vendor.example";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn account(i: usize, deleted: bool) -> Map<String, Value> {
    let Value::Object(a) = json!({
        "Id": format!("001EMU{i:012}"),
        "Name": format!("Account {i}"),
        "Website": format!("https://account-{i}.example"),
        "BillingCountry": "United States",
        "IsDeleted": deleted,
        "SystemModstamp": format!("2026-11-{:02}T10:00:00.000+0000", 1 + i % 28),
    }) else {
        unreachable!()
    };
    a
}

async fn org(accounts: usize) -> (String, Shared) {
    let key = SigningKey::from_pem(KEY).unwrap();
    start(Org {
        accounts: (0..accounts).map(|i| account(i, i % 10 == 9)).collect(),
        page_size: 2_000,
        api_max: 15_000,
        client_id: CLIENT_ID.into(),
        client_secret: "emulated-secret".into(),
        username: USER.into(),
        public_key: key.public_key_der(),
        refresh_token: Some("5Aep861emulatedRefresh".into()),
        ..Org::default()
    })
    .await
}

fn jwt(base: &str, username: &str) -> Auth {
    Auth::JwtBearer {
        login_url: Url::parse(base).unwrap(),
        client_id: CLIENT_ID.into(),
        username: username.into(),
        key: SigningKey::from_pem(KEY).unwrap(),
    }
}

/// Every record of `soql`, page by page.
async fn read_all(sf: &mut Salesforce, soql: &str, deleted: bool) -> Result<Vec<Map<String, Value>>, SalesforceError> {
    let mut page = sf.query(soql, deleted).await?;
    let mut records = std::mem::take(&mut page.records);
    while let Some(next) = page.next.take() {
        page = sf.next_page(&next).await?;
        records.append(&mut page.records);
    }
    Ok(records)
}

#[tokio::test]
async fn a_jwt_bearer_connection_reads_every_page_and_tracks_the_quota() {
    let (base, org) = org(5_000).await;
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    let live = read_all(&mut sf, "SELECT Id, Name, Website FROM Account", false).await.unwrap();
    assert_eq!(live.len(), 4_500, "deleted accounts are not in query");
    assert!(live.iter().all(|r| !r.contains_key("attributes") && r.len() == 3));
    assert_eq!(live[0]["Name"], "Account 0");
    assert_eq!(sf.usage().map(|u| (u.used, u.max)), Some((3, 15_000)), "three pages, three requests");
    assert_eq!(sf.instance().map(Url::as_str), Some(format!("{base}/").as_str()));

    let all = read_all(&mut sf, "SELECT Id, IsDeleted FROM Account", true).await.unwrap();
    assert_eq!(all.len(), 5_000);
    assert_eq!(all.iter().filter(|r| r["IsDeleted"] == true).count(), 500, "queryAll has the deleted");

    // Incremental: only what changed after a time.
    let since = read_all(&mut sf, "SELECT Id FROM Account WHERE SystemModstamp > 2026-11-27T00:00:00.000+0000", false)
        .await
        .unwrap();
    assert!(!since.is_empty() && since.len() < 500, "{}", since.len());
    assert_eq!(org.lock().unwrap().issued, 1, "one token for all of it");
}

#[tokio::test]
async fn a_token_expiring_mid_read_is_renewed_and_the_read_goes_on() {
    let (base, org) = org(5_000).await;
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    let mut page = sf.query("SELECT Id FROM Account", false).await.unwrap();
    let mut count = page.records.len();
    org.lock().unwrap().expire_tokens();
    while let Some(next) = page.next.take() {
        page = sf.next_page(&next).await.unwrap();
        count += page.records.len();
    }
    assert_eq!(count, 4_500);
    let org = org.lock().unwrap();
    assert_eq!(org.issued, 2, "a second assertion after INVALID_SESSION_ID");
    let calls: Vec<&str> = org.requests.iter().map(String::as_str).collect();
    assert_eq!(
        calls[..4],
        ["POST /services/oauth2/token", "GET query", "GET query/01gEMU0000000000-2000", "POST /services/oauth2/token"]
    );
}

#[tokio::test]
async fn the_refresh_token_flow_connects_and_a_wrong_secret_is_refused() {
    let (base, _org) = org(10).await;
    let refresh = |secret: &str| Auth::RefreshToken {
        login_url: Url::parse(&base).unwrap(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        refresh_token: Secret::new("5Aep861emulatedRefresh"),
    };
    let mut sf = Salesforce::new(http(), refresh("emulated-secret"), 0.8);
    assert_eq!(read_all(&mut sf, "SELECT Id FROM Account", false).await.unwrap().len(), 9);
    let mut wrong = Salesforce::new(http(), refresh("not-it"), 0.8);
    let refused = wrong.authenticate().await.unwrap_err();
    assert!(matches!(&refused, SalesforceError::Auth { error, .. } if error == "invalid_client"), "{refused}");
    assert!(!format!("{refused:?}").contains("not-it"), "the secret is not in the error");
}

#[tokio::test]
async fn assertions_for_another_user_or_signed_by_another_key_are_refused() {
    let (base, _org) = org(10).await;
    let mut stranger = Salesforce::new(http(), jwt(&base, "someone@else.example"), 0.8);
    let refused = stranger.authenticate().await.unwrap_err();
    assert!(refused.to_string().contains("user hasn't approved this consumer"), "{refused}");
    // The audience must be the login URL the org knows.
    let other = base.replace("127.0.0.1", "localhost");
    let mut elsewhere = Salesforce::new(http(), jwt(&other, USER), 0.8);
    assert!(elsewhere.authenticate().await.unwrap_err().to_string().contains("audience"));
    assert!(SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
}

#[tokio::test]
async fn the_connection_pauses_at_its_share_of_the_quota_and_reports_the_orgs_limit() {
    let (base, org) = org(5_000).await;
    {
        let mut org = org.lock().unwrap();
        org.api_used = 7;
        org.api_max = 10;
    }
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    let page = sf.query("SELECT Id FROM Account", false).await.unwrap();
    assert_eq!(sf.usage().map(|u| (u.used, u.max)), Some((8, 10)));
    let paused = sf.next_page(page.next.as_ref().unwrap()).await.unwrap_err();
    assert!(matches!(paused, SalesforceError::Paused { used: 8, max: 10, pause_percent: 80, .. }), "{paused}");
    assert!(paused.to_string().contains("8 of its 10 daily API requests"), "{paused}");
    assert_eq!(org.lock().unwrap().api_used, 8, "no request was made once paused");

    // A connection allowed the whole quota meets the org's own limit.
    let mut greedy = Salesforce::new(http(), jwt(&base, USER), 1.5);
    let mut last = None;
    for _ in 0..5 {
        if let Err(e) = greedy.query("SELECT Id FROM Account", false).await {
            last = Some(e);
            break;
        }
    }
    let refused = last.expect("the org refuses past its allowance");
    assert!(
        matches!(&refused, SalesforceError::Api { status: 403, code, .. } if code == "REQUEST_LIMIT_EXCEEDED"),
        "{refused}"
    );
}

#[tokio::test]
async fn answers_that_point_elsewhere_or_do_not_read_are_refused() {
    let (base, org) = org(5_000).await;
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    org.lock().unwrap().forged_next = Some("https://attacker.example/services/data/v63.0/query/x-1".into());
    let refused = sf.query("SELECT Id FROM Account", false).await.unwrap_err();
    assert!(refused.to_string().contains("nextRecordsUrl"), "{refused}");
    let malformed = sf.query("SELECT Id FROM Account WHERE Name = 'x'", false).await.unwrap_err();
    assert!(
        matches!(&malformed, SalesforceError::Api { status: 400, code, .. } if code == "MALFORMED_QUERY"),
        "{malformed}"
    );
}

#[tokio::test]
async fn describe_lists_the_accounts_fields_and_lookups_are_read_by_name() {
    let (base, org) = org(3).await;
    {
        let mut o = org.lock().unwrap();
        o.custom_fields.push("Tier__c".into());
        o.accounts[0].insert("Owner.Name".into(), json!("Ada Byron"));
    }
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    let fields = sf.account_fields().await.unwrap();
    for expected in ["Id", "Name", "BillingCountry", "OwnerId", "Owner.Name", "Parent.Name", "Tier__c"] {
        assert!(fields.iter().any(|f| f == expected), "{expected} in {fields:?}");
    }
    let read = read_all(&mut sf, "SELECT Id, Owner.Name FROM Account", false).await.unwrap();
    assert_eq!(read[0]["Owner.Name"], "Ada Byron", "the nested record, flattened: {:?}", read[0]);
    assert_eq!(read[1].get("Owner"), Some(&Value::Null), "an empty lookup stays null: {:?}", read[1]);
}

#[tokio::test]
async fn a_bulk_query_job_is_polled_to_completion_and_read_page_by_page() {
    use blindmap_crm::salesforce::BulkState;
    let (base, org) = org(5_000).await;
    org.lock().unwrap().job_polls = 2;
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    assert_eq!(sf.count("SELECT COUNT() FROM Account", false).await.unwrap(), 4_500);
    assert_eq!(sf.count("SELECT COUNT() FROM Account", true).await.unwrap(), 5_000, "queryAll counts the deleted");
    let job = sf.bulk_query("SELECT Id, Name, IsDeleted FROM Account", true).await.unwrap();
    let mut polls = 0;
    loop {
        let status = sf.bulk_status(&job).await.unwrap();
        polls += 1;
        match status.state {
            BulkState::InProgress => continue,
            BulkState::Complete => {
                assert_eq!(status.records_processed, 5_000);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(polls, 3, "in progress twice, then complete");
    let (mut rows, mut pages, mut locator) = (Vec::new(), 0, None);
    loop {
        let page = sf.bulk_results(&job, locator.as_ref(), 2_000).await.unwrap();
        let mut reader = csv::Reader::from_reader(page.csv.as_slice());
        assert_eq!(reader.headers().unwrap(), vec!["Id", "Name", "IsDeleted"], "each page has its header");
        rows.extend(reader.records().map(|r| r.unwrap()));
        pages += 1;
        match page.next {
            Some(next) => locator = Some(next),
            None => break,
        }
    }
    assert_eq!((rows.len(), pages), (5_000, 3));
    assert_eq!(rows.iter().filter(|r| &r[2] == "true").count(), 500, "deleted accounts, by IsDeleted");
    assert_eq!(&rows[1][1], "Account 1");
    sf.bulk_abort(&job).await.unwrap();
    assert_eq!(sf.bulk_status(&job).await.unwrap().state, BulkState::Aborted);
    // Results asked for before the job is complete are refused, as the API says.
    let early = sf.bulk_query("SELECT Id FROM Account", false).await.unwrap();
    let refused = sf.bulk_results(&early, None, 10).await;
    assert!(matches!(&refused, Err(SalesforceError::Api { status: 400, code, .. }) if code == "INVALIDJOBSTATE"));
}

#[tokio::test]
async fn records_are_upserted_by_their_external_id_and_deleted_each_with_its_outcome() {
    use blindmap_crm::salesforce::RecordOutcome;
    let (base, org) = org(3).await;
    let mut sf = Salesforce::new(http(), jwt(&base, USER), 0.8);
    let record = |key: &str, account: &str, tier: &str| -> Map<String, Value> {
        let Value::Object(r) = json!({ "Blindmap_Key__c": key, "Account__c": account, "Tier__c": tier }) else {
            unreachable!()
        };
        r
    };
    // The object is not deployed: the call is refused as the API refuses it.
    let missing =
        sf.upsert("Blindmap_Overlap__c", "Blindmap_Key__c", &[record("k1", "001EMU000000000000", "confirmed")]).await;
    assert!(
        matches!(&missing, Err(SalesforceError::Api { status: 404, code, .. }) if code == "NOT_FOUND"),
        "{missing:?}"
    );
    org.lock().unwrap().objects.insert("Blindmap_Overlap__c".into(), Vec::new());
    let records = [
        record("k1", "001EMU000000000000", "confirmed"),
        record("k2", "001EMU999999999999", "possible"),
        record("k3", "001EMU000000000001", "possible"),
    ];
    let first = sf.upsert("Blindmap_Overlap__c", "Blindmap_Key__c", &records).await.unwrap();
    assert!(matches!(&first[0], RecordOutcome::Done { created: true, .. }), "{first:?}");
    assert!(matches!(&first[1], RecordOutcome::Refused { code, .. } if code == "INVALID_CROSS_REFERENCE_KEY"));
    // Again, changed: updated in place, the same ids, nothing made twice.
    let again = sf
        .upsert("Blindmap_Overlap__c", "Blindmap_Key__c", &[record("k1", "001EMU000000000000", "possible")])
        .await
        .unwrap();
    let (RecordOutcome::Done { id: first_id, .. }, RecordOutcome::Done { id: again_id, created }) =
        (&first[0], &again[0])
    else {
        panic!("{again:?}")
    };
    assert_eq!((first_id, *created), (again_id, false));
    assert_eq!(org.lock().unwrap().objects["Blindmap_Overlap__c"].len(), 2);
    let RecordOutcome::Done { id: third, .. } = &first[2] else { panic!() };
    let deleted = sf.delete(&[first_id.clone(), third.clone()]).await.unwrap();
    assert!(deleted.iter().all(|d| matches!(d, RecordOutcome::Done { .. })), "{deleted:?}");
    let twice = sf.delete(std::slice::from_ref(first_id)).await.unwrap();
    assert!(matches!(&twice[0], RecordOutcome::Refused { code, .. } if code == "ENTITY_IS_DELETED"));
    assert!(sf.delete(&["not an id".to_owned()]).await.is_err(), "ids are checked before they are sent");
    let too_many: Vec<Map<String, Value>> =
        (0..201).map(|i| record(&format!("k{i}"), "001EMU000000000000", "x")).collect();
    assert!(sf.upsert("Blindmap_Overlap__c", "Blindmap_Key__c", &too_many).await.is_err());
}
