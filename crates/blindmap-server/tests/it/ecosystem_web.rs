//! The ecosystem view and "which partner to bring", over the API and the pages: a vendor matched
//! with two partners lists the accounts both have by `amount × partners` with the formula shown,
//! accounts without an amount after; an account's page ranks its partners with their reasons
//! (what each disclosed, the attribution ledger's credits) and starts a co-sell record with the
//! one chosen. Refusals: an unknown amount field (422), an unknown account (404), a forged form,
//! and another organisation, which finds nothing of it (404 on every route).

use reqwest::StatusCode;
use serde_json::{Value, json};

use blindmap_server::client::{ClientError, Method};

use crate::common::{self, Node, call};
use crate::web::Agent;

const VENDOR: &str = "id,segment,name,country,domain,open_opportunity_amount\n\
    v1,customers,Northwind Traders,US,northwindtraders.com,\"48,000.00\"\n\
    v2,prospects,Fabrikam Robotics,DE,fabrikam.de,12000\n\
    v3,prospects,Litware,US,litware.io,\n\
    v4,customers,Alpine Ski House,US,alpineskihouse.com,\"1.000.000,00\"\n\
    v5,prospects,Woodgrove Bank,US,woodgrovebank.com,n/a\n";

const ALPHA: &str = "id,segment,name,country,domain\n\
    a1,customers,Northwind,US,northwindtraders.com\n\
    a2,open_opportunities,Fabrikam,DE,fabrikam.de\n\
    a3,prospects,Litware,US,litware.io\n\
    a4,customers,Alpine,US,alpineskihouse.com\n\
    a5,customers,Woodgrove,US,woodgrovebank.com\n";

const BETA: &str = "id,segment,name,country,domain\n\
    b1,prospects,Northwind,US,northwindtraders.com\n\
    b2,customers,Fabrikam,DE,fabrikam.de\n\
    b3,customers,Litware,US,litware.io\n\
    b5,open_opportunities,Woodgrove,US,woodgrovebank.com\n";

/// Every overlap disclosed, both ways.
fn policy() -> Value {
    json!({ "rules": [{ "own_segment": "*", "partner_segment": "*", "level": "overlaps" }],
        "threshold": 1, "min_partner_segment": 1 })
}

/// Pairs the vendor with a new partner node of `name` holding `csv` and matches them: the
/// partner's node and the vendor's partnership id.
async fn partner(vendor: &Node, name: &str, csv: &str) -> (Node, String) {
    let node = common::node(name, None).await;
    common::upload_active(&node, "p.csv", csv).await;
    let (pid, theirs) = common::pair(vendor, &node, name).await;
    call(&node, Method::PUT, &format!("/api/v1/partnerships/{theirs}/sharing"), Some(policy())).await.unwrap();
    call(vendor, Method::PUT, &format!("/api/v1/partnerships/{pid}/sharing"), Some(policy())).await.unwrap();
    let run = call(vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let view = common::finished(vendor, run["id"].as_str().unwrap()).await;
    assert_eq!(view["state"], "complete", "{view}");
    (node, pid)
}

/// A vendor matched with Alpha and Beta: the nodes and the vendor's partnership ids.
async fn ecosystem() -> (Node, [(Node, String); 2]) {
    let vendor = common::node("Vendor", None).await;
    common::upload_active(&vendor, "v.csv", VENDOR).await;
    let alpha = partner(&vendor, "Alpha", ALPHA).await;
    let beta = partner(&vendor, "Beta", BETA).await;
    (vendor, [alpha, beta])
}

async fn signed_in(node: &Node, role: &str) -> Agent {
    let made = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": format!("rita-{role}"), "role": role })))
        .await
        .unwrap();
    let mut agent = Agent::new(node);
    let page = agent.sign_in(made["token"]["token"].as_str().unwrap()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    agent
}

/// An agent signed in as a rep of another organisation on `node`.
async fn stranger(node: &Node) -> Agent {
    let store = common::store_of(node).await;
    let org = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&org.id, "eve", blindmap_store::Role::Rep).await.unwrap();
    let token = store.issue_token(&org.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut agent = Agent::new(node);
    agent.sign_in(&token).await;
    agent
}

fn refused(result: Result<Value, ClientError>) -> (StatusCode, String) {
    match result {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(ClientError::Api { status, detail }) => (status, detail),
        Err(e) => panic!("{e}"),
    }
}

/// Closes an opportunity won that `partner` sourced: one credited deal in the ledger.
async fn won_deal(node: &Node, opportunity: &str, partner: &str) {
    let touch = json!({ "opportunity": opportunity, "partner": partner, "kind": "sourced", "at": "2026-11-02" });
    call(node, Method::POST, "/api/v1/attribution/touches", Some(touch)).await.unwrap();
    let close =
        json!({ "amount": "60000.00", "currency": "EUR", "closed_at": "2026-12-01", "created_at": "2026-10-01" });
    call(node, Method::POST, &format!("/api/v1/attribution/opportunities/{opportunity}/close"), Some(close))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ecosystem_ranks_accounts_several_partners_have_and_says_how() {
    let (vendor, [(_alpha, _), (_beta, beta_pid)]) = ecosystem().await;

    // The API: amount × partners, the accounts without an amount after, by name.
    let page = call(&vendor, Method::GET, "/api/v1/ecosystem", None).await.unwrap();
    assert_eq!(page["amount_field"], "open_opportunity_amount", "the default rule: {page}");
    assert!(page["formula"].as_str().unwrap().contains("amount × partners"));
    let ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["v1", "v2", "v3", "v5"], "{page}");
    assert_eq!((page["total"].as_u64(), page["with_amount"].as_u64()), (Some(4), Some(2)));
    let first = &page["items"][0];
    assert_eq!((first["amount"].as_str(), first["priority"].as_str()), (Some("48000.00"), Some("96000.00")));
    assert_eq!(first["partner_count"], 2);
    let partners: Vec<(&str, &str)> = first["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["partner"].as_str().unwrap(), p["partner_segments"][0].as_str().unwrap()))
        .collect();
    assert_eq!(partners, [("Alpha", "customers"), ("Beta", "prospects")]);
    let woodgrove = &page["items"][3];
    assert_eq!((woodgrove["amount"].clone(), woodgrove["amount_text"].as_str()), (Value::Null, Some("n/a")));
    assert_eq!(woodgrove["priority"], "2");

    // Filters: one partner is enough; a segment; no amount field; paging.
    let one = call(&vendor, Method::GET, "/api/v1/ecosystem?min_partners=1", None).await.unwrap();
    assert_eq!(one["items"][0]["account_id"], "v4", "1,000,000.00 × 1 first: {one}");
    let prospects = call(&vendor, Method::GET, "/api/v1/ecosystem?own_segment=prospects", None).await.unwrap();
    assert_eq!(prospects["total"], 3);
    let none = call(&vendor, Method::GET, "/api/v1/ecosystem?amount_field=", None).await.unwrap();
    assert_eq!(none["amount_field"], Value::Null);
    let by_name: Vec<&str> = none["items"].as_array().unwrap().iter().map(|i| i["account"].as_str().unwrap()).collect();
    assert_eq!(by_name, ["Fabrikam Robotics", "Litware", "Northwind Traders", "Woodgrove Bank"]);
    let second = call(&vendor, Method::GET, "/api/v1/ecosystem?limit=1&offset=1", None).await.unwrap();
    assert_eq!((second["items"][0]["account_id"].as_str(), second["offset"].as_u64()), (Some("v2"), Some(1)));

    // Refused with a reason.
    let (status, detail) = refused(call(&vendor, Method::GET, "/api/v1/ecosystem?amount_field=revenue", None).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail.contains("\"revenue\" is not a field") && detail.contains("open_opportunity_amount"), "{detail}");
    let (status, _) = refused(call(&vendor, Method::GET, "/api/v1/ecosystem?min_partners=0", None).await);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The page: by name, with the formula and the partners' segments; linked from the list.
    let mut rep = signed_in(&vendor, "rep").await;
    assert!(rep.get("/overlaps").await.body.contains("href=\"/ecosystem\""));
    let shown = rep.get("/ecosystem").await;
    assert_eq!(shown.status, StatusCode::OK);
    let body = &shown.body;
    assert!(body.contains("priority = amount × partners"), "{body}");
    assert!(body.contains("<code>open_opportunity_amount</code>"));
    let at = |text: &str| body.find(text).unwrap_or_else(|| panic!("{text}: {body}"));
    assert!(at("Northwind Traders") < at("Fabrikam Robotics") && at("Fabrikam Robotics") < at("Litware"));
    assert!(body.contains("Alpha (customers); Beta (prospects)"), "{body}");
    assert!(body.contains("96,000.00") && body.contains("unreadable: n/a") && body.contains("2 (no amount)"));
    assert!(!body.contains("Alpine Ski House"), "one partner only");
    assert!(rep.get("/ecosystem?min=1").await.body.contains("Alpine Ski House"));
    let without = rep.get("/ecosystem?amount=").await;
    assert!(without.body.contains("No amount field is used"), "{}", without.body);
    assert_eq!(rep.get("/ecosystem?amount=revenue").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(rep.get("/ecosystem?min=x").await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A correction counts at once: Northwind never matches Beta, so one partner has it.
    let never = json!({ "partnership": beta_pid, "account_id": "v1", "kind": "never_match" });
    call(&vendor, Method::POST, "/api/v1/corrections", Some(never)).await.unwrap();
    let page = call(&vendor, Method::GET, "/api/v1/ecosystem", None).await.unwrap();
    let ids: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["account_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["v2", "v3", "v5"], "{page}");

    // Another organisation sees none of it.
    let mut eve = stranger(&vendor).await;
    let theirs = eve.get("/ecosystem").await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.body.contains("Northwind") && theirs.body.contains("id=\"empty\""), "{}", theirs.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_ranks_the_partners_to_bring_and_starts_a_co_sell_with_one() {
    let (vendor, [(_alpha, alpha_pid), (_beta, beta_pid)]) = ecosystem().await;

    // Fabrikam: Beta's customer (3) before Alpha's open opportunity (2).
    let found = call(&vendor, Method::GET, "/api/v1/accounts/v2/partners", None).await.unwrap();
    let ranked: Vec<(&str, i64)> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["partner"].as_str().unwrap(), p["score"].as_i64().unwrap()))
        .collect();
    assert_eq!(ranked, [("Beta", 3), ("Alpha", 2)], "{found}");
    assert_eq!(found["items"][0]["reasons"][0], "is Beta's customer (their segment customers)");
    assert_eq!(found["items"][0]["segment_kind"], "customer");

    // Two won deals credited to Alpha (once by its name in another case, once by the
    // partnership's id) put it first.
    won_deal(&vendor, "OPP-1", "ALPHA").await;
    won_deal(&vendor, "OPP-2", &alpha_pid).await;
    let found = call(&vendor, Method::GET, "/api/v1/accounts/v2/partners", None).await.unwrap();
    let alpha = &found["items"][0];
    assert_eq!((alpha["partner"].as_str(), alpha["score"].as_i64()), (Some("Alpha"), Some(4)), "{found}");
    assert_eq!(alpha["credited_deals"], 2);
    let reasons: Vec<&str> = alpha["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.contains(&"credited on 2 won deals (EUR 120,000.00)"), "{reasons:?}");
    assert!(reasons.contains(&"no co-sell closed with you yet"), "{reasons:?}");
    assert!(found["formula"].as_str().unwrap().contains("2 × co-sells won"));

    // Unknown: 404.
    let (status, _) = refused(call(&vendor, Method::GET, "/api/v1/accounts/nobody/partners", None).await);
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The page ranks them with their reasons; Start co-sell makes the record and goes to it.
    let mut rep = signed_in(&vendor, "rep").await;
    let page = rep.get("/accounts/v2").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("Which partner to bring into this deal"), "{body}");
    let at = |text: &str| body.find(text).unwrap_or_else(|| panic!("{text}: {body}"));
    assert!(at("Start co-sell with Alpha") < at("Start co-sell with Beta"));
    assert!(body.contains("credited on 2 won deals (EUR 120,000.00)"), "{body}");
    assert!(body.contains("is Beta&#39;s customer (their segment customers)"), "{body}");
    assert!(body.contains("2 (open opportunity) + 2 × 0 won − 0 lost + 2 credited = 4"), "{body}");
    let csrf = page.input("csrf");

    // CSRF required; an integration may look but not act; nothing was made.
    let forged = rep.post("/accounts/v2/cosell", &[("csrf", "forged"), ("partnership", &beta_pid)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut bot = signed_in(&vendor, "integration").await;
    let bot_csrf = bot.get("/").await.input("csrf");
    let page = bot.post("/accounts/v2/cosell", &[("csrf", &bot_csrf), ("partnership", &beta_pid)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let none = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let page = rep.post("/accounts/v2/cosell", &[("csrf", &csrf), ("partnership", &beta_pid)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let id = page.location().strip_prefix("/cosell/").expect("to the record").to_owned();
    let record = call(&vendor, Method::GET, &format!("/api/v1/cosell/{id}"), None).await.unwrap();
    assert_eq!(
        (record["partnership"].as_str(), record["status"].as_str()),
        (Some(beta_pid.as_str()), Some("proposed"))
    );
    assert_eq!(record["record"]["a"]["account"]["value"], "v2", "{record}");
    let again = rep.get("/accounts/v2").await;
    assert!(again.body.contains(&format!("href=\"/cosell/{id}\"")), "the record is linked: {}", again.body);
    // A partner that does not have the account: not found.
    let page = rep.post("/accounts/v4/cosell", &[("csrf", &csrf), ("partnership", &beta_pid)]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);

    // Another organisation: 404 on every route, nothing created.
    let mut eve = stranger(&vendor).await;
    let eve_csrf = eve.get("/").await.input("csrf");
    let theirs = eve.get("/accounts/v2").await;
    assert!(!theirs.body.contains("Alpha") && !theirs.body.contains("Fabrikam"), "{}", theirs.body);
    let page = eve.post("/accounts/v2/cosell", &[("csrf", &eve_csrf), ("partnership", &beta_pid)]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    let store = common::store_of(&vendor).await;
    let org = store.create_organisation("Stranger API").await.unwrap();
    let user = store.create_user(&org.id, "eve", blindmap_store::Role::Admin).await.unwrap();
    let token = store.issue_token(&org.id, &user.id, "t").await.unwrap().1.expose().to_owned();
    let url = format!("https://127.0.0.1:{}", vendor.running.addr.port());
    let api = blindmap_server::client::ApiClient::new(&url, &vendor.running.fingerprint, &token).unwrap();
    let (status, _) = refused(api.call::<Value>(Method::GET, "/api/v1/accounts/v2/partners", None, &[]).await);
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page: Value = api.call(Method::GET, "/api/v1/ecosystem?min_partners=1", None, &[]).await.unwrap();
    assert_eq!(page["total"], 0, "{page}");
    let cosells = call(&vendor, Method::GET, "/api/v1/cosell", None).await.unwrap();
    assert_eq!(cosells["items"].as_array().unwrap().len(), 1);
}

/// The rows of a list page in order: (account id, partner name; empty on one partner's list).
fn page_rows(body: &str) -> Vec<(String, String)> {
    let Some(table) = body.split("<tbody>").nth(1) else { return Vec::new() };
    let table = table.split("</tbody>").next().unwrap();
    table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let account = row.split("href=\"/accounts/").nth(1).unwrap().split('"').next().unwrap().to_owned();
            let partner = row
                .split("<td><a href=\"/partners/")
                .nth(1)
                .map(|rest| rest.split('>').nth(1).unwrap().split('<').next().unwrap().to_owned())
                .unwrap_or_default();
            (account, partner)
        })
        .collect()
}

/// The address a page links to with `rel`, if it does.
fn link(body: &str, rel: &str) -> Option<String> {
    let before = body.split(&format!("\" rel=\"{rel}\">")).next().filter(|b| b.len() < body.len())?;
    Some(before.rsplit("<a href=\"").next().unwrap().replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_pages_follow_one_another_row_to_row_both_ways() {
    // 130 accounts with namesakes in any case, accents and no name at all (listed by id); two
    // partners that have most of them.
    // The vendor's accounts in two segments, most with one of three owners.
    let header = "id,segment,name,country,domain\n";
    let mut vendor_csv = "id,segment,name,country,domain,owner\n".to_owned();
    let (mut alpha_csv, mut beta_csv) = (header.to_owned(), header.to_owned());
    for i in 0..130 {
        let name = match i % 10 {
            0 => "Acme".to_owned(),
            1 => "acme".to_owned(),
            2 => String::new(),
            3 => format!("Émile {i}"),
            _ => format!("Company {i:03}"),
        };
        let (segment, owner) = (["customers", "prospects"][i % 3 / 2], ["", "Ada", "Bo", "Cy"][i % 4]);
        vendor_csv.push_str(&format!("v{i},{segment},{name},US,company{i}-corp.com,{owner}\n"));
        if i % 13 != 0 {
            let segment = if i % 5 == 0 { "partners" } else { "customers" };
            alpha_csv.push_str(&format!("a{i},{segment},A{i},US,company{i}-corp.com\n"));
        }
        if i % 2 == 0 {
            beta_csv.push_str(&format!("b{i},customers,B{i},US,company{i}-corp.com\n"));
        }
    }
    let vendor = common::node("Vendor", None).await;
    common::upload_active(&vendor, "v.csv", &vendor_csv).await;
    let (_alpha, pid) = partner(&vendor, "Alpha", &alpha_csv).await;
    let _beta = partner(&vendor, "Beta", &beta_csv).await;
    let mut agent = signed_in(&vendor, "rep").await;
    // Every order, both ways, across partners and of one partner; and a filter by an owner,
    // whose totals are kept (below).
    for list in [
        "/overlaps?tier=all".to_owned(),
        "/overlaps?tier=all&desc=1".to_owned(),
        format!("/partners/{pid}/overlaps?tier=all"),
        format!("/partners/{pid}/overlaps?tier=all&desc=1"),
        "/overlaps?tier=all&sort=segment".to_owned(),
        "/overlaps?tier=all&sort=partner_segment&desc=1".to_owned(),
        "/overlaps?tier=all&sort=owner&desc=1".to_owned(),
        "/overlaps?tier=all&sort=partner".to_owned(),
        "/overlaps?tier=all&sort=partner&desc=1".to_owned(),
        format!("/partners/{pid}/overlaps?tier=all&sort=segment&desc=1"),
        format!("/partners/{pid}/overlaps?tier=all&sort=owner"),
        "/overlaps?tier=all&owner=Bo&sort=segment".to_owned(),
    ] {
        // The whole list in its order, as the export has it.
        let csv = agent.get(&list.replacen('?', ".csv?", 1)).await;
        let mut export = csv::Reader::from_reader(csv.body.as_bytes());
        let across = export.headers().unwrap().iter().any(|h| h == "Partner");
        let whole: Vec<(String, String)> = export
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[1].to_owned(), if across { r[2].to_owned() } else { String::new() })
            })
            .collect();
        assert!(whole.len() > if list.contains("owner=") { 20 } else { 100 }, "{list}: {} {}", whole.len(), csv.body);
        if list.contains("owner=") {
            // Across partners under a filter: the rows at once, the totals once counted (in the
            // background; the page says so meanwhile).
            let first = agent.get(&list).await;
            let counted = format!("of {} pair", whole.len());
            if !first.body.contains(&counted) {
                assert!(first.body.contains("when you reload the page"), "{}", first.body);
            }
            let mut tries = 0;
            while !agent.get(&list).await.body.contains(&counted) {
                tries += 1;
                assert!(tries < 100, "{list}: never counted");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }

        // Forwards by "Next page": every row once, in the export's order; each next page
        // starts after the last row shown.
        let (mut seen, mut at, mut pages) = (Vec::new(), list.clone(), 0);
        let last = loop {
            let page = agent.get(&at).await;
            assert_eq!(page.status, StatusCode::OK, "{at}: {}", page.body);
            seen.extend(page_rows(&page.body));
            pages += 1;
            match link(&page.body, "next") {
                Some(next) => {
                    assert!(next.contains("after="), "{next}");
                    at = next;
                }
                None => break page,
            }
        };
        assert_eq!(seen, whole, "{list}: forwards");
        assert!(last.body.contains(&format!("of {} pair", whole.len())), "{}", last.body);
        // Backwards by "Previous page" from the last: the same pages.
        let mut back = page_rows(&last.body);
        let mut page = last;
        for _ in 1..pages {
            let prev = link(&page.body, "prev").expect("a previous page");
            page = agent.get(&prev).await;
            back.splice(0..0, page_rows(&page.body));
        }
        assert!(link(&page.body, "prev").is_none(), "the first page has none");
        assert_eq!(back, whole, "{list}: backwards");
    }
    // Across partners, a page by number deeper than the merged rows a page may read past: why
    // not, and what to do instead.
    let deep = agent.get("/overlaps?tier=all&sort=segment&page=999").await;
    assert_eq!(deep.status, StatusCode::OK, "the last page, the totals being kept: {}", deep.body);
    let deep = agent.get("/overlaps?tier=all&own=prospects&page=999").await;
    assert_eq!(deep.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", deep.body);
    assert!(deep.body.contains("too deep to open by its number"), "{}", deep.body);
    // A cursor that does not read as one is left aside: the page its number says.
    let garbled = agent.get(&format!("/partners/{pid}/overlaps?tier=all&page=2&after=%21%21not-a-cursor")).await;
    assert_eq!(garbled.status, StatusCode::OK);
    assert!(garbled.body.contains("Showing 51–"), "{}", garbled.body);
}
