//! Alerts to the account owner, end to end on two nodes: a vendor's rules send the overlap changes
//! of a second run to each account's owner — a Slack direct message to an owner found by e-mail,
//! the fallback channel for one who is not (saying for whom) or an account without an owner's
//! address, a Teams card mentioning the owner — and a daily digest to the channel. The receivers
//! are the emulators of Slack's Web API and of a Teams workflow (`tests/crm-emulator`), which
//! check every payload against the documented formats and refuse what the services refuse. A
//! rate limit is retried after its `Retry-After`; a revoked token is a refusal in words. Another
//! organisation's admin and a rep can do nothing with the vendor's alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use blindmap_crm_emulator::{slack::Slack, teams::Teams};
use blindmap_server::client::{ApiClient, ClientError, Method};
use serde_json::{Value, json};

use crate::common::{Node, call, finished, matched, rep, store_of, upload_active};

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");
const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

const ADA: &str = "ada.byron@vendor.example";
const GRACE: &str = "grace@vendor.example";
const BARBARA: &str = "barbara@vendor.example";
const FALLBACK: &str = "C0PARTNERS1";

fn status(result: Result<Value, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Api { status, detail }) => (status.as_u16(), detail),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The vendor's list again, with its owners' e-mail addresses: Ada's written in capitals (an
/// address is matched whatever its case), Grace's (no longer in the Slack workspace), Barbara's;
/// the others' accounts have none.
fn vendor_with_emails() -> String {
    let mut reader = csv::Reader::from_reader(VENDOR_CSV.trim_start_matches('\u{feff}').as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = reader.headers().unwrap().clone();
    let owner = header.iter().position(|h| h == "Account Owner").unwrap();
    header.push_field("Account Owner Email");
    writer.write_record(&header).unwrap();
    for row in reader.records() {
        let mut row = row.unwrap();
        let email = match &row[owner] {
            "Ada Byron" => "Ada.Byron@Vendor.example",
            "Grace Hopper" => GRACE,
            "Barbara Liskov" => BARBARA,
            _ => "",
        };
        row.push_field(email);
        writer.write_record(&row).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

/// The partner's list with five more of the vendor's accounts, and without Tailwind Traders.
fn partner_changed() -> String {
    let mut out: String =
        PARTNER_CSV.lines().filter(|l| !l.contains(",Tailwind Traders,")).map(|l| format!("{l}\n")).collect();
    for row in [
        "Adventure Works Cycles,adventure-works.com,https://adventure-works.com,,United States,Bothell,Retail,500,Customer,Linus Torvalds,",
        "Best For You Organics,bestforyouorganics.com,,,United States,Portland,Food,40,Customer,Ken Thompson,",
        "Nod Publishers,nodpublishers.com,,,United States,Boston,Media,30,Opportunity,Dennis Ritchie,",
        "Bellows College,bellowscollege.edu,,,United States,Boston,Education,900,Customer,Margaret Hamilton,",
        "Fabrikam Residences,fabrikamresidences.com,,,United States,Denver,Real estate,70,Customer,Ken Thompson,",
    ] {
        out.push_str(&format!("{},{row}\n", 9_100_000 + out.len()));
    }
    out
}

/// Slack's escaping of `&`, `<` and `>` in mrkdwn.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Every block's text of a Slack message, joined.
fn slack_words(blocks: &Value) -> String {
    let mut words = String::new();
    for block in blocks.as_array().into_iter().flatten() {
        words.push_str(block["text"]["text"].as_str().unwrap_or_default());
        for element in block["elements"].as_array().into_iter().flatten() {
            words.push_str(element["text"].as_str().unwrap_or_default());
        }
        words.push('\n');
    }
    words
}

/// Polls the vendor's message log until no message is pending (but `pending` of them).
async fn settled(node: &Node, pending: usize) -> Vec<Value> {
    for _ in 0..300 {
        let list = call(node, Method::GET, "/api/v1/alerts/messages", None).await.unwrap();
        let items = list["items"].as_array().unwrap().clone();
        if !items.is_empty() && items.iter().filter(|m| m["state"] == "pending").count() == pending {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the alerts did not settle within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_changes_reach_each_accounts_owner_in_slack_and_teams_and_nobody_else() {
    let (vendor, partner, pid, _) = matched().await;
    let slack = Slack::new("xoxb-1-vendor-app");
    slack.add_user(ADA, "U0ADA0001");
    slack.add_user(BARBARA, "U0BARB001");
    slack.add_deleted_user(GRACE, "U0GRACE01");
    slack.add_channel(FALLBACK, "partner-alerts", true);
    slack.add_channel("C0NOTMEMBR", "elsewhere", false);
    let slack_url = format!("{}/api/", blindmap_crm_emulator::serve(slack.router()).await);
    let teams = Teams::new();
    let teams_base = blindmap_crm_emulator::serve(teams.router()).await;
    let workflow = teams.workflow_url(&teams_base);

    // Channels: refused where a value is wrong, in words.
    let channels = "/api/v1/alerts/channels";
    for (bad, says) in [
        (json!({ "name": "S", "kind": "slack", "token": "abc", "api_url": slack_url }), "bot token"),
        (
            json!({ "name": "S", "kind": "slack", "token": "xoxb-1", "fallback_channel": "#general", "api_url": slack_url }),
            "channel id",
        ),
        (json!({ "name": "S", "kind": "slack", "api_url": slack_url }), "missing field `token`"),
        (json!({ "name": "T", "kind": "teams", "workflow_url": workflow, "token": "xoxb-1" }), "unknown field `token`"),
        (json!({ "name": "T", "kind": "email", "to": "ada@vendor.example" }), "unknown variant `email`"),
        (json!({ "name": "T", "kind": "teams", "workflow_url": "http://10.0.0.1/hook" }), "workflow_url"),
        (json!({ "name": "", "kind": "teams", "workflow_url": workflow }), "name"),
    ] {
        let (code, detail) = status(call(&vendor, Method::POST, channels, Some(bad.clone())).await);
        assert_eq!(code, 422, "{bad}: {detail}");
        assert!(detail.contains(says), "{bad}: {detail}");
    }
    let sales = call(
        &vendor,
        Method::POST,
        channels,
        Some(json!({ "name": "Sales Slack", "kind": "slack",
        "token": "xoxb-1-vendor-app", "fallback_channel": FALLBACK, "api_url": slack_url })),
    )
    .await
    .unwrap();
    assert!(sales.get("token").is_none() && !sales.to_string().contains("xoxb"), "the token is never shown: {sales}");
    let team = call(
        &vendor,
        Method::POST,
        channels,
        Some(json!({ "name": "Sales Teams", "kind": "teams",
        "workflow_url": workflow })),
    )
    .await
    .unwrap();
    assert!(!team.to_string().contains("sig="), "the workflow's URL is never shown: {team}");
    let (code, _) = status(
        call(
            &vendor,
            Method::POST,
            channels,
            Some(json!({ "name": "Sales Teams", "kind": "teams",
        "workflow_url": workflow })),
        )
        .await,
    );
    assert_eq!(code, 409, "a name is unique");

    // A test goes to the fallback channel and to the workflow.
    let sent = call(&vendor, Method::POST, &format!("{channels}/{}/test", sales["id"].as_str().unwrap()), None).await;
    assert_eq!(sent.unwrap()["delivered_to"], format!("slack:{FALLBACK}"));
    let sent = call(&vendor, Method::POST, &format!("{channels}/{}/test", team["id"].as_str().unwrap()), None).await;
    assert_eq!(sent.unwrap()["delivered_to"], "teams:workflow");
    assert_eq!((slack.messages().len(), teams.posts().len()), (1, 1));

    // Rules.
    let rules = "/api/v1/alerts/rules";
    for (bad, code) in [
        (json!({ "name": "x", "channel": "No such channel" }), 404),
        (json!({ "name": "x", "channel": "Sales Slack", "partnership": "pt_00000000000000000000000000000000" }), 404),
        (json!({ "name": "x", "channel": "Sales Slack", "digest": { "at": "8am", "zone": "UTC" } }), 422),
        (json!({ "name": "x", "channel": "Sales Slack", "digest": { "at": "08:00", "zone": "Mars/Olympus" } }), 422),
        (json!({ "name": "x", "channel": "Sales Slack", "changes": "some" }), 422),
    ] {
        let (got, detail) = status(call(&vendor, Method::POST, rules, Some(bad.clone())).await);
        assert_eq!(got, code, "{bad}: {detail}");
    }
    call(
        &vendor,
        Method::POST,
        rules,
        Some(json!({ "name": "Owners in Slack", "channel": "Sales Slack",
        "partnership": pid, "changes": "both" })),
    )
    .await
    .unwrap();
    call(
        &vendor,
        Method::POST,
        rules,
        Some(json!({ "name": "Customers to Teams", "channel": team["id"],
        "own_segment": "customers", "partner_segment": "*" })),
    )
    .await
    .unwrap();
    let digest = call(
        &vendor,
        Method::POST,
        rules,
        Some(json!({ "name": "Morning digest", "channel": "Sales Slack",
        "route": "channel", "digest": { "at": "08:00", "zone": "Europe/Berlin" } })),
    )
    .await
    .unwrap();
    assert_eq!(digest["digest"], json!({ "at": "08:00", "zone": "Europe/Berlin" }));
    let (code, _) =
        status(call(&vendor, Method::DELETE, &format!("{channels}/{}", sales["id"].as_str().unwrap()), None).await);
    assert_eq!(code, 409, "rules send to it");

    // The lists change; the vendor matches again. Slack's first call is rate-limited.
    upload_active(&vendor, "v2.csv", &vendor_with_emails()).await;
    upload_active(&partner, "p2.csv", &partner_changed()).await;
    let sent_before = slack.messages().len();
    slack.rate_limit_next(1);
    let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let run = finished(&vendor, run["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "complete", "{run}");
    let changes =
        call(&vendor, Method::GET, &format!("/api/v1/changes?run={}&limit=500", run["id"].as_str().unwrap()), None)
            .await
            .unwrap();
    let changes = changes["items"].as_array().unwrap().clone();
    assert!(changes.iter().filter(|c| c["change"] == "new").count() >= 4, "{changes:#?}");
    assert!(changes.iter().any(|c| c["change"] == "lost"), "{changes:#?}");
    let messages = settled(&vendor, 1).await;

    // Slack: per owner, the accounts the changes list for them.
    let mut by_owner: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for c in &changes {
        by_owner.entry(c["owner_email"].as_str().unwrap_or_default().to_lowercase()).or_default().push(c);
    }
    let posted = slack.messages()[sent_before..].to_vec();
    assert_eq!(posted.len(), by_owner.len(), "one message per owner: {posted:#?}");
    for (owner, accounts) in &by_owner {
        let to = match owner.as_str() {
            ADA => slack.dm_channel("U0ADA0001").unwrap(),
            BARBARA => slack.dm_channel("U0BARB001").unwrap(),
            _ => FALLBACK.to_owned(),
        };
        // In the fallback channel: Grace's message says it is hers; the one of the accounts
        // without an owner's address names nobody.
        let found: Vec<_> = posted
            .iter()
            .filter(|p| p.channel == to)
            .filter(|p| {
                let words = slack_words(&p.blocks);
                match (to == FALLBACK, owner.is_empty()) {
                    (false, _) => true,
                    (true, true) => !words.contains("@vendor.example"),
                    (true, false) => words.contains(owner.as_str()),
                }
            })
            .collect();
        assert_eq!(found.len(), 1, "{owner}: {posted:#?}");
        let message = found[0];
        assert!(message.has_fallback_text(), "{message:?}");
        let words = slack_words(&message.blocks);
        for account in accounts {
            assert!(words.contains(&escaped(account["name"].as_str().unwrap())), "{owner}: {words}");
            for (field, value) in account["fields"].as_object().into_iter().flatten() {
                assert!(words.contains(&format!("{field}: {}", value.as_str().unwrap_or("—"))), "{words}");
            }
        }
        // The partner disclosed its owners only: nothing else of its records is in a message.
        for hidden in ["adventure-works.com", "Bothell", "Opportunity", "Retail"] {
            assert!(!words.contains(hidden), "{hidden} in {words}");
        }
        if owner == GRACE {
            assert!(words.contains("not found in Slack"), "{words}");
        }
    }
    assert!(slack.lookups().iter().any(|e| e == ADA), "looked up by the address, lowercase: {:?}", slack.lookups());

    // The log: each delivered where it went; Grace's with why it went to the channel; the one
    // the rate limit held up went on its second attempt.
    let owners_log: Vec<&Value> = messages.iter().filter(|m| m["rule_name"] == "Owners in Slack").collect();
    assert_eq!(owners_log.len(), by_owner.len());
    assert!(owners_log.iter().all(|m| m["state"] == "delivered"), "{owners_log:#?}");
    let grace = owners_log.iter().find(|m| m["recipient"] == GRACE).unwrap_or_else(|| panic!("{owners_log:#?}"));
    assert_eq!(grace["delivered_to"], format!("slack:{FALLBACK}"));
    assert!(grace["last_error"].as_str().unwrap().contains("not a member"), "{grace}");
    let held = messages.iter().find(|m| m["attempts"] == 2).expect("the rate-limited message was retried");
    let detail = call(&vendor, Method::GET, &format!("/api/v1/alerts/messages/{}", held["id"].as_str().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(detail["attempts"][0]["status"], 429, "{detail}");
    assert_eq!(detail["message"]["state"], "delivered");
    assert_eq!(detail["accounts"].as_array().unwrap().len() as u64, detail["message"]["accounts"].as_u64().unwrap());

    // Teams: the customers' changes, a card per owner mentioning them by e-mail.
    let cards = teams.posts()[1..].to_vec();
    let customers: BTreeSet<String> = changes
        .iter()
        .filter(|c| c["own_segment"] == "customers" && c["change"] == "new")
        .map(|c| c["owner_email"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert_eq!(cards.len(), customers.len(), "{cards:#?}");
    for owner in customers.iter().filter(|o| !o.is_empty()) {
        let card = cards
            .iter()
            .find(|c| c["msteams"]["entities"][0]["mentioned"]["id"] == owner.as_str())
            .unwrap_or_else(|| panic!("no card mentions {owner}: {cards:#?}"));
        let mention = card["msteams"]["entities"][0]["text"].as_str().unwrap();
        assert!(card["body"].to_string().contains(mention), "{card}");
    }

    // The digest waits for its time, then goes to the channel with every change.
    let pending: Vec<&Value> = messages.iter().filter(|m| m["state"] == "pending").collect();
    assert_eq!(pending[0]["rule_name"], "Morning digest");
    assert!(pending[0]["due_at"].as_i64().unwrap() > blindmap_server_now(), "{:?}", pending[0]);
    let new: Vec<&Value> = changes.iter().filter(|c| c["change"] == "new").collect();
    assert_eq!(pending[0]["accounts"].as_u64().unwrap() as usize, new.len(), "the new ones (the rule's default)");
    let before_digest = slack.messages().len();
    blindmap_store::testing::make_alerts_due(&store_of(&vendor).await).await;
    settled(&vendor, 0).await;
    let sent = &slack.messages()[before_digest..];
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channel, FALLBACK);
    let words = slack_words(&sent[0].blocks);
    for account in &new {
        assert!(words.contains(&escaped(account["name"].as_str().unwrap())), "{words}");
    }

    // A revoked token: the test says so, in words.
    slack.revoke();
    let tried =
        call(&vendor, Method::POST, &format!("{channels}/{}/test", sales["id"].as_str().unwrap()), None).await.unwrap();
    assert_eq!(tried["delivered"], false, "{tried}");
    assert!(tried["error"].as_str().unwrap().contains("token"), "{tried}");

    // Another organisation on the vendor's node, and a rep: nothing of it.
    let data_dir = vendor._dir.path().join("node");
    let other = blindmap_server::node::add_organisation(&data_dir, "Other", "admin").await.unwrap();
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let other = ApiClient::new(&url, &vendor.running.fingerprint, other.expose()).unwrap();
    let (_, rep_token) = rep(&vendor).await;
    let rep = ApiClient::new(&url, &vendor.running.fingerprint, &rep_token).unwrap();
    let message = messages[0]["id"].as_str().unwrap();
    let rule = messages[0]["rule"].as_str().unwrap();
    let sales_id = sales["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/alerts/messages/{message}"), None),
        (Method::DELETE, format!("/api/v1/alerts/rules/{rule}"), None),
        (Method::DELETE, format!("{channels}/{sales_id}"), None),
        (Method::POST, format!("{channels}/{sales_id}/test"), None),
        (Method::POST, rules.to_owned(), Some(json!({ "name": "steal", "channel": sales_id }))),
    ] {
        let body = body.map(|b: Value| (serde_json::to_vec(&b).unwrap(), "application/json"));
        let theirs = other.call::<Value>(method.clone(), &path, body.clone(), &[]).await;
        assert_eq!(status(theirs).0, 404, "another organisation: {method} {path}");
        let reps = rep.call::<Value>(method.clone(), &path, body, &[]).await;
        assert_eq!(status(reps).0, 403, "a rep: {method} {path}");
    }
    for path in [channels, rules, "/api/v1/alerts/messages"] {
        let theirs: Value = other.call(Method::GET, path, None, &[]).await.unwrap();
        assert_eq!(theirs["items"], json!([]), "{path}");
        assert_eq!(status(rep.call::<Value>(Method::GET, path, None, &[]).await).0, 403, "{path}");
    }

    // Deleting a rule takes its messages; then its channel can go.
    for rule in call(&vendor, Method::GET, rules, None).await.unwrap()["items"].as_array().unwrap() {
        vendor.api.call_empty(Method::DELETE, &format!("{rules}/{}", rule["id"].as_str().unwrap())).await.unwrap();
    }
    let left = call(&vendor, Method::GET, "/api/v1/alerts/messages", None).await.unwrap();
    assert_eq!(left["items"], json!([]));
    vendor.api.call_empty(Method::DELETE, &format!("{channels}/{sales_id}")).await.unwrap();
    let audit = call(&vendor, Method::GET, "/api/v1/audit?limit=100", None).await.unwrap().to_string();
    for kind in
        ["alert.channel_added", "alert.rule_added", "alert.tested", "alert.rule_removed", "alert.channel_removed"]
    {
        assert!(audit.contains(kind), "{kind}");
    }
}

fn blindmap_server_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_alerts_from_the_page_and_nobody_else_can() {
    use crate::web::Agent;
    use axum::http::StatusCode;
    let (vendor, _partner, pid, _) = matched().await;
    let slack = Slack::new("xoxb-2-page");
    slack.add_channel(FALLBACK, "partner-alerts", true);
    let slack_url = format!("{}/api/", blindmap_crm_emulator::serve(slack.router()).await);
    let made =
        call(&vendor, Method::POST, "/api/v1/users", Some(json!({ "name": "ada", "role": "admin" }))).await.unwrap();
    let mut ada = Agent::new(&vendor);
    ada.sign_in(made["token"]["token"].as_str().unwrap()).await;
    let page = ada.get("/alerts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No channel yet") && page.body.contains("href=\"/alerts\""), "{}", page.body);
    let csrf = page.input("csrf");

    // A wrong token is refused in words; the form keeps the name, never the token.
    let slack_form = |name: &'static str, token: &'static str| {
        vec![("kind", "slack"), ("name", name), ("token", token), ("fallback", FALLBACK)]
    };
    let mut form = slack_form("Sales <Slack>", "not-a-token");
    form.push(("csrf", &csrf));
    form.push(("api_url", &slack_url));
    let page = ada.post("/alerts/channels", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("bot token") && page.body.contains("Sales &#60;Slack&#62;"), "{}", page.body);
    assert!(!page.body.contains("not-a-token"), "the secret is not written back");
    let mut form = slack_form("Sales <Slack>", "xoxb-2-page");
    form.push(("csrf", &csrf));
    form.push(("api_url", &slack_url));
    assert_eq!(ada.post("/alerts/channels", &form).await.status, StatusCode::SEE_OTHER);
    let channel = call(&vendor, Method::GET, "/api/v1/alerts/channels", None).await.unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A test message; a rule refused, then made; the page says what it does in words.
    let page = ada.post(&format!("/alerts/channels/{channel}/test"), &[("csrf", &csrf)]).await;
    assert!(page.body.contains(&format!("A test message went to slack:{FALLBACK}")), "{}", page.body);
    assert_eq!(slack.messages().len(), 1);
    let rule = |digest: &'static str| {
        vec![
            ("name", "Opps ∩ customers"),
            ("channel", channel.as_str()),
            ("partner", pid.as_str()),
            ("own_segment", "customers"),
            ("partner_segment", ""),
            ("changes", "new"),
            ("tier", "confirmed"),
            ("route", "owner"),
            ("digest_at", digest),
            ("zone", "Europe/Berlin"),
        ]
    };
    let mut form = rule("8 o'clock");
    form.push(("csrf", &csrf));
    let page = ada.post("/alerts/rules", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("HH:MM") && page.body.contains("value=\"Opps ∩ customers\""), "{}", page.body);
    let mut form = rule("08:00");
    form.push(("csrf", &csrf));
    assert_eq!(ada.post("/alerts/rules", &form).await.status, StatusCode::SEE_OTHER);
    let page = ada.get("/alerts").await;
    assert!(
        page.body.contains("New overlaps with Partner, your customers, confirmed only")
            && page.body.contains("Each account&#39;s owner, via Sales &#60;Slack&#62;")
            && page.body.contains("Daily at 08:00 (Europe/Berlin)"),
        "{}",
        page.body
    );
    let rule_id = call(&vendor, Method::GET, "/api/v1/alerts/rules", None).await.unwrap()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = ada.post(&format!("/alerts/channels/{channel}/remove"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "rules send to it: {}", page.body);

    // A rep, a forged form, another organisation: nothing.
    let (_, rep_token) = rep(&vendor).await;
    let mut rita = Agent::new(&vendor);
    rita.sign_in(&rep_token).await;
    let rita_csrf = rita.get("/").await.input("csrf");
    assert!(!rita.get("/").await.body.contains("href=\"/alerts\""), "no Alerts for reps");
    assert_eq!(rita.get("/alerts").await.status, StatusCode::FORBIDDEN);
    let forbidden = rita.post(&format!("/alerts/rules/{rule_id}/remove"), &[("csrf", &rita_csrf)]).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let forged = ada.post(&format!("/alerts/rules/{rule_id}/remove"), &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let store = store_of(&vendor).await;
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", blindmap_store::Role::Admin).await.unwrap();
    let token = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut eve = Agent::new(&vendor);
    eve.sign_in(&token).await;
    let eve_csrf = eve.get("/").await.input("csrf");
    for path in [
        format!("/alerts/channels/{channel}/test"),
        format!("/alerts/channels/{channel}/remove"),
        format!("/alerts/rules/{rule_id}/remove"),
    ] {
        assert_eq!(eve.post(&path, &[("csrf", &eve_csrf)]).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(!eve.get("/alerts").await.body.contains("Sales &#60;Slack&#62;"));
    assert_eq!(slack.messages().len(), 1, "no other test was sent");

    // Deleted from the page, then its channel can go.
    assert_eq!(
        ada.post(&format!("/alerts/rules/{rule_id}/remove"), &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    let page = ada.post(&format!("/alerts/channels/{channel}/remove"), &[("csrf", &csrf)]).await;
    assert!(page.body.contains("Channel removed") && page.body.contains("No channel yet"), "{}", page.body);
}
