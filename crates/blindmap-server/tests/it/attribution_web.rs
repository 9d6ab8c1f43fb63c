//! Attribution in the browser, over HTTPS without a browser: recording touches (with an amount)
//! and closing an opportunity from the forms, the ledger by name, re-scoring under another model
//! beside the record (changing nothing), the pipeline summary, the model. Refusals: a form
//! without the session's CSRF token, a rep writing, bad input (re-shown with the message and
//! what was typed); another organisation finds none of it.

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_web::stranger;
use crate::common::{self, Node, call};
use crate::web::{Agent, Page};
use blindmap_server::client::Method;

/// An agent signed in to `node` as a new user with `role`, and its CSRF token.
async fn signed_in(node: &Node, name: &str, role: &str) -> (Agent, String) {
    let made = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": role }))).await.unwrap();
    let mut agent = Agent::new(node);
    let page = agent.sign_in(made["token"]["token"].as_str().unwrap()).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let csrf = agent.get("/").await.input("csrf");
    (agent, csrf)
}

fn see_other(page: &Page, to: &str) {
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, to), "{}", page.body);
}

/// The value of the record form's field `name` (after the filters, which have their own).
fn field(page: &Page, name: &str) -> String {
    let form = &page.body[page.body.find("method=\"post\" action=\"/attribution").expect("a form")..];
    let marker = format!("name=\"{name}\" value=\"");
    let start = form.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    form[start..].split('"').next().unwrap().to_owned()
}

/// The text of the element with `id` (up to its closing tag).
fn by_id<'a>(page: &'a Page, id: &str) -> &'a str {
    let at = page.body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}: {}", page.body));
    let rest = &page.body[at..];
    &rest[..rest.find("</table>").or_else(|| rest.find("</p>")).unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_record_touches_close_read_the_ledger_and_rescore_from_the_pages() {
    let node = common::node("Vendor", None).await;
    let (mut ada, csrf) = signed_in(&node, "ada", "admin").await;

    // Empty lists say so.
    let summary = ada.get("/attribution").await;
    assert_eq!(summary.status, StatusCode::OK);
    assert!(summary.body.contains("No partner touched an opportunity"), "{}", summary.body);
    assert!(summary.body.contains("aria-current=\"page\">Attribution"));
    assert!(ada.get("/attribution/touches").await.body.contains("No touches yet."));
    assert!(ada.get("/attribution/ledger").await.body.contains("no opportunity has closed won"));

    // A touch from the form, with an amount; then one without.
    let touch = |opportunity: &'static str, partner: &'static str, kind: &'static str, at: &'static str| {
        vec![("opportunity", opportunity), ("partner", partner), ("kind", kind), ("at", at)]
    };
    let mut form = touch("OPP-1", "Acme", "sourced", "2027-01-05");
    form.extend([("csrf", csrf.as_str()), ("amount", "48000.00"), ("currency", "eur")]);
    see_other(&ada.post("/attribution/touches", &form).await, "/attribution/touches?opportunity=OPP-1");
    let mut form = touch("OPP-1", "Globex", "influenced", "2027-01-10");
    form.push(("csrf", &csrf));
    see_other(&ada.post("/attribution/touches", &form).await, "/attribution/touches?opportunity=OPP-1");
    let listed = call(&node, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-1", None).await.unwrap();
    assert_eq!(listed["items"][0]["amount"]["amount"], "48000.00");
    assert_eq!(listed["items"][0]["actor"], "ada");
    let page = ada.get("/attribution/touches?partner=Acme").await;
    assert!(by_id(&page, "touches").contains("48000.00 EUR"), "{}", page.body);
    assert!(!by_id(&page, "touches").contains("Globex"), "filtered by partner");

    // Refused, saying why, the input kept; nothing recorded.
    let mut form = touch("OPP-9", "Initech", "referral", "2027-01-05");
    form.extend([("csrf", csrf.as_str()), ("amount", "100.00")]);
    let page = ada.post("/attribution/touches", &form).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("amount and currency go together"), "{}", page.body);
    assert_eq!((field(&page, "opportunity"), field(&page, "amount")), ("OPP-9".to_owned(), "100.00".to_owned()));
    let mut form = touch("OPP-9", "Initech", "referral", "2027-01-05");
    form.extend([("csrf", csrf.as_str()), ("amount", "-5"), ("currency", "EUR")]);
    let page = ada.post("/attribution/touches", &form).await;
    assert!(page.body.contains("cannot be negative"), "{}", page.body);
    let nine = call(&node, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-9", None).await.unwrap();
    assert_eq!(nine["items"], json!([]));

    // Closing from the form shows the opportunity with its credits.
    let close = [
        ("csrf", csrf.as_str()),
        ("opportunity", "OPP-1"),
        ("amount", "100000.00"),
        ("currency", "EUR"),
        ("closed", "2027-01-31"),
    ];
    see_other(&ada.post("/attribution/close", &close).await, "/attribution/opportunities/OPP-1");
    let page = ada.get("/attribution/opportunities/OPP-1").await;
    assert!(by_id(&page, "state").contains("Closed won: <strong>100000.00 EUR</strong>"), "{}", page.body);
    let credits = by_id(&page, "credits");
    assert!(credits.contains("Acme") && credits.contains("sourced") && credits.contains("Globex"), "{credits}");
    // Once: a second close is refused and the input kept.
    let page = ada.post("/attribution/close", &close).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("closed already") && page.input("amount") == "100000.00", "{}", page.body);
    let mut bad = close.to_vec();
    bad[1] = ("opportunity", "OPP-2");
    bad[3] = ("currency", "EURO");
    let page = ada.post("/attribution/close", &bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.input("opportunity"), "OPP-2");

    // The ledger, by name, links to the opportunity.
    let ledger = ada.get("/attribution/ledger").await;
    let rows = by_id(&ledger, "ledger");
    assert!(rows.contains("href=\"/attribution/opportunities/OPP-1\">OPP-1</a>"), "{rows}");
    assert!(rows.contains("Acme") && rows.contains("Globex") && rows.contains("categorical"), "{rows}");

    // Re-scored under linear beside the record: half each; the record does not move.
    let page = ada.get("/attribution/opportunities/OPP-1?model=linear").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let rescored = by_id(&page, "rescored");
    assert_eq!(rescored.matches("50000.00 EUR").count(), 2, "{rescored}");
    assert!(by_id(&page, "credits").contains("100000.00 EUR"), "the record beside it");
    let page = ada.get("/attribution/opportunities/OPP-1?model=time_decay").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("time_decay needs half_life_days"), "{}", page.body);
    let record = call(&node, Method::GET, "/api/v1/attribution/opportunities/OPP-1", None).await.unwrap();
    assert_eq!(record["attribution"]["model"]["model"], "categorical");
    assert_eq!(ada.get("/attribution/opportunities/OPP-404").await.status, StatusCode::NOT_FOUND);

    // The summary: Acme won it (sourced), Globex influenced; the rule is on the page.
    let page = ada.get("/attribution?from=2027-01-01&to=2027-02-01").await;
    let table = by_id(&page, "pipeline");
    let acme = table.split("<tr>").find(|r| r.contains(">Acme</a>")).unwrap_or_else(|| panic!("{table}"));
    assert!(acme.contains("100000.00 EUR"), "{acme}");
    assert!(page.body.contains("not closed won by the period"), "the rule");
    let page = ada.get("/attribution?from=2027-02-01&to=2027-01-01").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(page.input("from"), "2027-02-01", "kept");

    // The model: set by an admin, refused when incomplete.
    let page = ada.post("/attribution/settings", &[("csrf", &csrf), ("model", "linear"), ("half_life_days", "")]).await;
    see_other(&page, "/attribution/settings");
    assert!(by_id(&ada.get("/attribution/settings").await, "state").contains("<strong>linear</strong>"));
    let page = ada.post("/attribution/settings", &[("csrf", &csrf), ("model", "time_decay")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("time_decay needs half_life_days"), "{}", page.body);

    // Without the session's CSRF token, every form is refused and changes nothing.
    for (path, form) in [
        ("/attribution/touches", vec![("opportunity", "OPP-5"), ("partner", "Acme"), ("kind", "sourced")]),
        (
            "/attribution/close",
            vec![("opportunity", "OPP-5"), ("amount", "1"), ("currency", "EUR"), ("closed", "2027-01-01")],
        ),
        ("/attribution/settings", vec![("model", "first_touch")]),
    ] {
        assert_eq!(ada.post(path, &form).await.status, StatusCode::FORBIDDEN, "{path}");
        let mut forged = form.clone();
        forged.push(("csrf", "forged"));
        assert_eq!(ada.post(path, &forged).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let five = call(&node, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-5", None).await.unwrap();
    assert_eq!(five["items"], json!([]));
    let settings = call(&node, Method::GET, "/api/v1/attribution/settings", None).await.unwrap();
    assert_eq!(settings["model"], "linear");
    node.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reps_read_attribution_but_do_not_write_and_other_organisations_find_nothing() {
    let node = common::node("Vendor", None).await;
    let body = json!({ "opportunity": "OPP-1", "partner": "Acme", "kind": "sourced", "at": "2027-01-05",
        "amount": "10.00", "currency": "EUR" });
    call(&node, Method::POST, "/api/v1/attribution/touches", Some(body)).await.unwrap();
    let close = json!({ "amount": "10.00", "currency": "EUR", "closed_at": "2027-01-31" });
    call(&node, Method::POST, "/api/v1/attribution/opportunities/OPP-1/close", Some(close)).await.unwrap();

    let (mut rita, csrf) = signed_in(&node, "rita", "rep").await;
    for path in [
        "/attribution",
        "/attribution/touches",
        "/attribution/ledger",
        "/attribution/opportunities/OPP-1?model=linear",
        "/attribution/settings",
    ] {
        let page = rita.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(!page.body.contains("method=\"post\" action=\"/attribution"), "{path}: no form that writes");
    }
    assert!(rita.get("/attribution/ledger").await.body.contains("Acme"));
    assert_eq!(rita.get("/attribution/close").await.status, StatusCode::FORBIDDEN);
    let touch = [("csrf", csrf.as_str()), ("opportunity", "OPP-2"), ("partner", "Acme"), ("kind", "sourced")];
    assert_eq!(rita.post("/attribution/touches", &touch).await.status, StatusCode::FORBIDDEN);
    let close = [("csrf", csrf.as_str()), ("opportunity", "OPP-2"), ("amount", "1"), ("currency", "EUR")];
    assert_eq!(rita.post("/attribution/close", &close).await.status, StatusCode::FORBIDDEN);
    let model = [("csrf", csrf.as_str()), ("model", "linear")];
    assert_eq!(rita.post("/attribution/settings", &model).await.status, StatusCode::FORBIDDEN);
    let two = call(&node, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-2", None).await.unwrap();
    assert_eq!(two["items"], json!([]));

    // Another organisation's user: its own (empty) attribution, none of this one's.
    let mut eve = stranger(&node, blindmap_store::Role::Rep).await;
    let eve_csrf = eve.get("/").await.input("csrf");
    assert_eq!(eve.get("/attribution/opportunities/OPP-1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.get("/attribution/opportunities/OPP-1?model=linear").await.status, StatusCode::NOT_FOUND);
    let page = eve.get("/attribution?from=2027-01-01&to=2027-02-01").await;
    assert!(page.body.contains("No partner touched"), "{}", page.body);
    assert!(eve.get("/attribution/touches?opportunity=OPP-1").await.body.contains("No touches match"));
    let ledger = eve.get("/attribution/ledger").await;
    assert!(ledger.body.contains("no opportunity has closed won") && !ledger.body.contains("Acme"));
    assert_eq!(eve.get("/attribution/close").await.status, StatusCode::FORBIDDEN);
    let touch = [("csrf", eve_csrf.as_str()), ("opportunity", "OPP-1"), ("partner", "X"), ("kind", "sourced")];
    assert_eq!(eve.post("/attribution/touches", &touch).await.status, StatusCode::FORBIDDEN);
    let close = [("csrf", eve_csrf.as_str()), ("opportunity", "OPP-1"), ("amount", "1"), ("currency", "EUR")];
    assert_eq!(eve.post("/attribution/close", &close).await.status, StatusCode::FORBIDDEN);
    let model = [("csrf", eve_csrf.as_str()), ("model", "linear")];
    assert_eq!(eve.post("/attribution/settings", &model).await.status, StatusCode::FORBIDDEN);
    let one = call(&node, Method::GET, "/api/v1/attribution/touches?opportunity=OPP-1", None).await.unwrap();
    assert_eq!(one["items"].as_array().unwrap().len(), 1, "nothing added");
    node.running.shutdown().await.unwrap();
}
