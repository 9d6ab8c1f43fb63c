//! The admins' pages over HTTPS, without a browser: the navigation each role gets, the home page
//! from a fresh node to a first match, uploading an export (multipart, streamed), its preview,
//! confirming which dataset matches use, deleting one, and pairing — invite, accept, end — from
//! the pages. Refusals: reps and forged forms change nothing; another organisation's datasets
//! and partnerships are not found.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, Node, call};
use crate::web::{Agent, Page};
use blindmap_server::client::Method;

const VENDOR_CSV: &str = include_str!("../../../../samples/vendor-salesforce.csv");

/// A user of `node` with `role`, and its token.
async fn user(node: &Node, name: &str, role: &str) -> String {
    let made = call(node, Method::POST, "/api/v1/users", Some(json!({ "name": name, "role": role }))).await.unwrap();
    made["token"]["token"].as_str().unwrap().to_owned()
}

/// An agent signed in to `node` as a new user with `role`.
async fn signed_in(node: &Node, name: &str, role: &str) -> Agent {
    let token = user(node, name, role).await;
    let mut agent = Agent::new(node);
    let page = agent.sign_in(&token).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"), "{}", page.body);
    agent
}

/// An agent signed in as eve, a user with `role` of another organisation on `node`'s own node.
pub(crate) async fn stranger(node: &Node, role: blindmap_store::Role) -> Agent {
    let store = common::store_of(node).await;
    let stranger = store.create_organisation("Stranger").await.unwrap();
    let eve = store.create_user(&stranger.id, "eve", role).await.unwrap();
    let token = store.issue_token(&stranger.id, &eve.id, "t").await.unwrap().1.expose().to_owned();
    let mut agent = Agent::new(node);
    agent.sign_in(&token).await;
    agent
}

/// A `multipart/form-data` body of text fields and then one file, as a browser sends the upload
/// form (fields in the form's order).
fn multipart(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----blindmapTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Agent {
    /// Posts the upload form with `fields` (the CSRF token first, as the form has it) and a file.
    async fn upload(&mut self, fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> Page {
        let (content_type, body) = multipart(fields, file);
        let request = self.http().post(format!("{}/data", self.base())).header("content-type", content_type).body(body);
        self.send(request).await
    }

    async fn csrf(&mut self) -> String {
        self.get("/").await.input("csrf")
    }
}

fn nav(page: &Page) -> Vec<String> {
    let nav = page.body.split("<nav aria-label=\"Main\">").nth(1).unwrap().split("</nav>").next().unwrap();
    nav.split("href=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
}

async fn datasets(node: &Node) -> Vec<Value> {
    call(node, Method::GET, "/api/v1/datasets", None).await.unwrap()["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_its_own_navigation_and_a_home_page() {
    let node = common::node("Vendor", None).await;
    let mut admin = signed_in(&node, "ada", "admin").await;
    let mut rep = signed_in(&node, "rita", "rep").await;

    let home = admin.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(
        nav(&home),
        [
            "/",
            "/partners",
            "/overlaps",
            "/ecosystem",
            "/registrations",
            "/cosell",
            "/attribution",
            "/data",
            "/users",
            "/connections",
            "/alerts",
            "/hooks",
            "/audit"
        ]
    );
    assert!(home.body.contains("aria-current=\"page\">Home"), "{}", home.body);
    // A fresh node: the four steps, none done, each with where to do it.
    for step in ["Import your accounts", "Pair with a partner", "Choose what each partner sees", "Run a first match"] {
        assert!(home.body.contains(step), "{step}: {}", home.body);
    }
    assert_eq!(home.body.matches("To do").count(), 4, "{}", home.body);
    assert!(home.body.contains("No partners yet."));
    assert!(home.body.contains("No webhook endpoint is failing."));

    let home = rep.get("/").await;
    assert_eq!(
        nav(&home),
        ["/", "/partners", "/overlaps", "/ecosystem", "/registrations", "/cosell", "/attribution"],
        "reps do not manage data"
    );
    assert!(home.body.contains("An admin of your organisation does these steps."));
    assert!(!home.body.contains("Webhooks"), "webhooks are the admins'");
    assert_eq!(rep.get("/data").await.status, StatusCode::OK, "reps may look");
    assert!(!rep.get("/data").await.body.contains("enctype=\"multipart/form-data\""), "but have no upload form");

    // Signed out, home sends to sign-in.
    let mut nobody = Agent::new(&node);
    assert_eq!(nobody.get("/").await.location(), "/signin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_previews_confirms_and_deletes_datasets() {
    let node = common::node("Vendor", None).await;
    let mut admin = signed_in(&node, "ada", "admin").await;
    let csrf = admin.csrf().await;

    // The first upload: read by its header, previewed, and — the only dataset — used.
    let page =
        admin.upload(&[("csrf", &csrf), ("name", ""), ("preset", "")], Some(("v.csv", VENDOR_CSV.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let first = page.location().to_owned();
    assert!(first.starts_with("/data/ds_"), "{first}");
    let preview = admin.get(&first).await;
    assert_eq!(preview.status, StatusCode::OK);
    let stored = datasets(&node).await;
    assert_eq!(stored.len(), 1);
    let d = &stored[0];
    assert_eq!((d["name"].as_str(), d["active"].as_bool()), (Some("v.csv"), Some(true)), "named after the file");
    assert!(preview.body.contains("Matches use this dataset."), "{}", preview.body);
    // What the import made of it, as the API reports it: the columns each role read, segments.
    let columns = d["summary"]["columns"].as_array().unwrap();
    assert!(!columns.is_empty() && !d["summary"]["header"].as_array().unwrap().is_empty(), "{d}");
    for c in columns {
        assert!(preview.body.contains(&html_text(c["column"].as_str().unwrap())), "{c}: {}", preview.body);
    }
    for (segment, n) in d["summary"]["segments"].as_object().unwrap() {
        assert!(
            preview.body.contains(&format!("<th scope=\"row\">{segment}</th><td class=\"num\">{n}</td>")),
            "{segment}"
        );
    }
    assert!(preview.body.contains("Rows left out, and why"));

    // A second upload does not become what matches use until confirmed.
    let page = admin
        .upload(
            &[("csrf", &csrf), ("name", "Q3 export"), ("preset", "salesforce")],
            Some(("x.csv", VENDOR_CSV.as_bytes())),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let second = page.location().to_owned();
    let preview = admin.get(&second).await;
    assert!(preview.body.contains("Matches do not use this dataset"), "{}", preview.body);
    assert!(preview.body.contains("Use this dataset for matching"));
    let id = second.trim_start_matches("/data/").to_owned();
    let active = |all: &[Value]| all.iter().find(|d| d["active"] == true).unwrap()["name"].as_str().unwrap().to_owned();
    assert_eq!(active(&datasets(&node).await), "v.csv");

    // Confirmed: now it is; the first can be deleted, the active one cannot.
    let page = admin.post(&format!("{second}/activate"), &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, second.as_str()));
    assert_eq!(active(&datasets(&node).await), "Q3 export");
    let page = admin.post(&format!("{second}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "the active dataset stays: {}", page.body);
    let page = admin.post(&format!("{first}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/data"), "{}", page.body);
    let left = datasets(&node).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], id);
    let list = admin.get("/data").await;
    assert!(list.body.contains("Matches use <a href=\"/data/"), "{}", list.body);
    assert!(list.body.contains("Q3 export") && !list.body.contains(">v.csv<"), "{}", list.body);

    // A file far larger than a form (forms are capped at 16 KiB; uploads at max_body_mib).
    let mut big = String::from("id,segment,name,country,domain\n");
    for i in 0..30_000 {
        big.push_str(&format!("a{i},customers,Company number {i},DE,company-{i}.example.com\n"));
    }
    assert!(big.len() > 1 << 20);
    let page = admin.upload(&[("csrf", &csrf), ("preset", "generic")], Some(("big.csv", big.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let big = datasets(&node).await.into_iter().find(|d| d["name"] == "big.csv").unwrap();
    assert_eq!((big["rows"].as_u64(), big["accounts"].as_u64()), (Some(30_000), Some(30_000)), "{big}");
}

/// `text` as the pages escape it.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_change_nothing_and_say_why() {
    let node = common::node("Vendor", None).await;
    let mut admin = signed_in(&node, "ada", "admin").await;
    let csrf = admin.csrf().await;
    let upload = |name: &'static str, csv: &'static [u8]| (name, csv);

    // Malformed: the line and what is wrong; the form keeps what was given.
    let broken = b"Account ID,Account Name,Website\n1,\"Acme,acme.com\n";
    let page = admin
        .upload(&[("csrf", &csrf), ("name", "broken"), ("preset", "salesforce")], Some(upload("b.csv", broken)))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("role=\"alert\" id=\"problem\""), "{}", page.body);
    assert!(page.body.contains("value=\"broken\""), "the name is kept: {}", page.body);

    // A header no preset fits: named, with what to do.
    let page = admin.upload(&[("csrf", &csrf), ("name", "odd")], Some(upload("o.csv", b"foo,bar\n1,2\n"))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("cannot tell which export this is"), "{}", page.body);
    // … which a mapping fixes.
    let page = admin
        .upload(
            &[
                ("csrf", &csrf),
                ("name", "mapped"),
                ("maps", "id=foo\r\ndomain=bar"),
                ("segments", "all: everything else"),
            ],
            Some(upload("o.csv", b"foo,bar\n1,acme.com\n")),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let mapped = admin.get(page.location()).await;
    assert!(mapped.body.contains("<td>domain</td><td>bar</td>"), "{}", mapped.body);

    // A NUL byte, no file, a bad mapping.
    let page = admin.upload(&[("csrf", &csrf)], Some(upload("n.csv", b"Account ID\n1\0\n"))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("NUL"), "{}", page.body);
    let page = admin.upload(&[("csrf", &csrf)], None).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Choose a file"), "{}", page.body);
    let page =
        admin.upload(&[("csrf", &csrf), ("maps", "nonsense")], Some(upload("v.csv", VENDOR_CSV.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("mapping &#34;nonsense&#34;"), "{}", page.body);

    // Without the form's token, or with another's, or from a rep: refused before the file.
    let page = admin.upload(&[("name", "x")], Some(upload("v.csv", VENDOR_CSV.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = admin.upload(&[("csrf", "forged")], Some(upload("v.csv", VENDOR_CSV.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut rep = signed_in(&node, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    let page = rep.upload(&[("csrf", &rep_csrf)], Some(upload("v.csv", VENDOR_CSV.as_bytes()))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let names: Vec<String> = datasets(&node).await.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["mapped"], "only the good upload is stored");
}

/// The state of `node`'s (only) partnership.
async fn state(node: &Node) -> String {
    let list = call(node, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    list["items"][0]["state"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_pair_and_end_partnerships_from_the_pages() {
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    let mut v = signed_in(&vendor, "ada", "admin").await;
    let mut p = signed_in(&partner, "pat", "admin").await;
    let (v_csrf, p_csrf) = (v.csrf().await, p.csrf().await);

    let partners = v.get("/partners").await;
    assert!(partners.body.contains("Create an invite code") && partners.body.contains("Accept a partner"));
    let invite = v.post("/partners/invite", &[("csrf", &v_csrf)]).await;
    assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
    let code = invite.body.split("class=\"code\">").nth(1).unwrap().split("</textarea>").next().unwrap().to_owned();
    assert!(invite.body.contains("works once, until"), "{}", invite.body);

    // A code with a typo, then the code.
    let page = p.post("/partners/accept", &[("csrf", &p_csrf), ("code", "bmi_not-a-code")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let page = p.post("/partners/accept", &[("csrf", &p_csrf), ("code", &format!("  {code}\n"))]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert!(page.body.contains("Paired with Vendor"), "{}", page.body);
    let list = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let pid = list["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list["items"][0]["partner"], "Partner");
    assert!(v.get("/partners").await.body.contains(">Partner<"));
    // Used once.
    let again = p.post("/partners/accept", &[("csrf", &p_csrf), ("code", &code)]).await;
    assert_ne!(again.status, StatusCode::CREATED);

    // Ending needs the box ticked, an admin and the form's token; then both sides have ended it.
    let mut rep = signed_in(&vendor, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    let end = format!("/partners/{pid}/end");
    assert_eq!(rep.post(&end, &[("csrf", &rep_csrf), ("confirm", "1")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(v.post(&end, &[("csrf", "forged"), ("confirm", "1")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(v.post(&end, &[("csrf", &v_csrf)]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(state(&vendor).await, "active");
    let page = v.post(&end, &[("csrf", &v_csrf), ("confirm", "1")]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/partners"), "{}", page.body);
    assert_eq!(state(&vendor).await, "ended");
    assert_eq!(state(&partner).await, "ended", "the partner was told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisations_datasets_and_partnerships_are_not_found() {
    let vendor = common::node("Vendor", None).await;
    let partner = common::node("Partner", None).await;
    common::upload(&vendor, "v.csv", VENDOR_CSV).await;
    let (pid, _) = common::pair(&vendor, &partner, "Partner").await;
    let theirs = datasets(&vendor).await[0]["id"].as_str().unwrap().to_owned();

    // An admin of another organisation on the same node.
    let mut eve = stranger(&vendor, blindmap_store::Role::Admin).await;
    let csrf = eve.csrf().await;
    assert_eq!(eve.get(&format!("/data/{theirs}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.post(&format!("/data/{theirs}/activate"), &[("csrf", &csrf)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(eve.post(&format!("/data/{theirs}/delete"), &[("csrf", &csrf)]).await.status, StatusCode::NOT_FOUND);
    let end = eve.post(&format!("/partners/{pid}/end"), &[("csrf", &csrf), ("confirm", "1")]).await;
    assert_eq!(end.status, StatusCode::NOT_FOUND, "{}", end.body);
    assert_eq!(eve.get("/data/ds_nonsense").await.status, StatusCode::NOT_FOUND);
    let data = eve.get("/data").await;
    assert!(data.body.contains("No dataset yet") && !data.body.contains("v.csv"), "{}", data.body);
    let home = eve.get("/").await;
    assert!(home.body.contains("No partners yet.") && !home.body.contains(">Partner<"), "{}", home.body);
    assert_eq!(datasets(&vendor).await.len(), 1);
    let list = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    assert_eq!(list["items"][0]["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_counts_what_came_and_went_since_the_match_before() {
    let (vendor, _partner, pid, _) = common::matched().await;
    let mut admin = signed_in(&vendor, "ada", "admin").await;
    let row = |page: &Page| -> String {
        let at = page.body.find(&format!("href=\"/partners/{pid}\">Partner</a>")).expect("the partner's row");
        page.body[at..].split("</tr>").next().unwrap().to_owned()
    };
    // Everything done: no steps; the first match has nothing to compare with.
    let home = admin.get("/").await;
    assert!(!home.body.contains("Getting to a first match"), "{}", home.body);
    let first = row(&home);
    assert_eq!(first.matches("<td class=\"num muted\">–</td>").count(), 2, "{first}");

    // A later export without a third of the accounts, matched again.
    let fewer: String =
        VENDOR_CSV.lines().enumerate().filter(|(i, _)| i % 3 != 1).map(|(_, l)| format!("{l}\n")).collect();
    common::upload_active(&vendor, "fewer.csv", &fewer).await;
    let run = call(&vendor, Method::POST, "/api/v1/runs", Some(json!({ "partnership": pid }))).await.unwrap();
    let run = common::finished(&vendor, run["id"].as_str().unwrap()).await;
    assert_eq!(run["state"], "complete", "{run}");
    let changes = call(&vendor, Method::GET, &format!("/api/v1/runs/{}/changes", run["id"].as_str().unwrap()), None)
        .await
        .unwrap();
    let all = |what: &str| -> std::collections::BTreeSet<String> {
        changes["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c[what].as_array())
            .flatten()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let (came, went) = (all("new"), all("lost"));
    let (new, lost) = (came.difference(&went).count(), went.difference(&came).count());
    assert!(lost > 0, "a third of the accounts went: {changes}");
    assert_eq!(run["result"]["changes"]["new_accounts"], new, "{run}");
    assert_eq!(run["result"]["changes"]["lost_accounts"], lost, "{run}");
    let second = row(&admin.get("/").await);
    assert!(second.contains(&format!("<td class=\"num\">{new}</td><td class=\"num\">{lost}</td>")), "{second}");
}

/// The value of the `<select name="…">`'s selected option on a page.
fn selected(page: &Page, name: &str) -> String {
    let at = page.body.find(&format!("<select name=\"{name}\"")).unwrap_or_else(|| panic!("no select {name}"));
    let select = page.body[at..].split("</select>").next().unwrap();
    select
        .split("<option value=\"")
        .skip(1)
        .find(|o| o.split('>').next().unwrap().contains(" selected"))
        .map(|o| o.split('"').next().unwrap().to_owned())
        .unwrap_or_default()
}

/// Posts owned form pairs.
async fn post_form(agent: &mut Agent, path: &str, form: Vec<(&'static str, String)>) -> Page {
    let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    agent.post(path, &borrowed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_what_a_partner_sees_with_a_preview_first() {
    let (vendor, _partner, pid, _) = common::matched().await;
    let mut admin = signed_in(&vendor, "ada", "admin").await;
    let csrf = admin.csrf().await;
    let path = format!("/partners/{pid}/sharing");
    let stored =
        || async { call(&vendor, Method::GET, &format!("/api/v1/partnerships/{pid}/sharing"), None).await.unwrap() };
    let before = stored().await;

    // The grid shows the stored rules: `matched` shares owner everywhere and hides partners.
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(selected(&page, "cell:*:*"), "fields");
    assert_eq!(selected(&page, "cell:partners:*"), "hidden");
    assert_eq!(selected(&page, "cell:customers:*"), "", "not set");
    assert!(page.body.contains("name=\"field\" value=\"owner\" checked"), "{}", page.body);
    // The partner's segments are columns (known from the match); fields come from the data.
    assert!(page.body.contains("name=\"cell:customers:customers\""), "{}", page.body);
    assert!(page.body.contains("name=\"field\" value=\"industry\""), "the dataset's other fields: {}", page.body);

    let form = |action: &'static str, threshold: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("cell:*:*", "counts".to_owned()),
            ("cell:customers:customers", "fields".to_owned()),
            ("cell:partners:*", "hidden".to_owned()),
            ("field", "owner".to_owned()),
            ("field", "industry".to_owned()),
            ("threshold", threshold.to_owned()),
            ("min_partner_segment", "3".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let pairs = |f: &[(&'static str, String)]| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();

    // A preview: what the partner would learn, nothing saved.
    let preview = post_form(&mut admin, &path, pairs(&form("preview", "4"))).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("not saved yet"));
    assert!(preview.body.contains("with your accounts&#39; owner, industry"), "{}", preview.body);
    assert!(preview.body.contains("how many of its records overlap (&#34;&#60; 4&#34; below 4)"), "{}", preview.body);
    assert_eq!(stored().await, before, "a preview saves nothing");

    // Refused: a threshold of 0, fields without a field; nothing saved, the page says why.
    let page = post_form(&mut admin, &path, pairs(&form("save", "0"))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("threshold must be a whole number from 1"), "{}", page.body);
    let mut no_fields = pairs(&form("save", "4"));
    no_fields.retain(|(k, _)| *k != "field");
    let page = post_form(&mut admin, &path, no_fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("tick at least one field"), "{}", page.body);
    let mut bad_label = pairs(&form("save", "4"));
    bad_label.push(("cell:Not A Label:*", "hidden".to_owned()));
    assert_eq!(post_form(&mut admin, &path, bad_label).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored().await, before);

    // Saved: as the API reads it.
    let page = post_form(&mut admin, &path, pairs(&form("save", "4"))).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, format!("{path}?saved=1").as_str()));
    let after = stored().await;
    assert_eq!(after["threshold"], 4);
    assert_eq!(after["min_partner_segment"], 3);
    let rules = after["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 3, "{after}");
    assert!(
        rules.contains(&json!({ "own_segment": "customers", "partner_segment": "customers", "level": "fields",
        "fields": ["owner", "industry"] })),
        "{after}"
    );
    assert!(rules.contains(&json!({ "own_segment": "*", "partner_segment": "*", "level": "counts" })), "{after}");
    let page = admin.get(&format!("{path}?saved=1")).await;
    assert!(page.body.contains("Saved."));
    assert_eq!(selected(&page, "cell:customers:customers"), "fields");

    // Reps neither see nor save it; another organisation finds nothing.
    let mut rep = signed_in(&vendor, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    assert_eq!(rep.get(&path).await.status, StatusCode::FORBIDDEN);
    let mut rep_form = pairs(&form("save", "9"));
    rep_form[0].1 = rep_csrf;
    assert_eq!(post_form(&mut rep, &path, rep_form).await.status, StatusCode::FORBIDDEN);
    assert_eq!(stored().await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_starts_a_match_follows_it_and_reads_what_changed_by_name() {
    let (vendor, _partner, pid, _) = common::matched().await;
    let mut admin = signed_in(&vendor, "ada", "admin").await;
    let csrf = admin.csrf().await;

    // A later export without some accounts, then a match with a transcript, from the pages.
    let fewer: String =
        VENDOR_CSV.lines().enumerate().filter(|(i, _)| i % 3 != 1).map(|(_, l)| format!("{l}\n")).collect();
    common::upload_active(&vendor, "fewer.csv", &fewer).await;
    let history = admin.get(&format!("/partners/{pid}/runs")).await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.body.matches("<a href=\"/runs/run_").count(), 1, "the first match: {}", history.body);
    let page = admin.post(&format!("/partners/{pid}/runs"), &[("csrf", &csrf), ("transcript", "1")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let run_path = page.location().to_owned();
    assert!(run_path.starts_with("/runs/run_"), "{run_path}");

    // Followed: the page refreshes itself while it runs, and stops once it is complete.
    let mut page = admin.get(&run_path).await;
    for _ in 0..300 {
        if !page.body.contains("Running:") {
            break;
        }
        assert_eq!(page.headers["refresh"], "2");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = admin.get(&run_path).await;
    }
    assert!(page.body.contains("Complete:"), "{}", page.body);
    assert!(page.headers.get("refresh").is_none());
    // What went, by name: the names of the accounts left out of the later export.
    let run_id = run_path.trim_start_matches("/runs/");
    let changes = call(&vendor, Method::GET, &format!("/api/v1/runs/{run_id}/changes"), None).await.unwrap();
    let lost: Vec<String> = changes["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["lost"].as_array())
        .flatten()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert!(!lost.is_empty(), "{changes}");
    for id in &lost {
        let line = VENDOR_CSV.lines().find(|l| l.starts_with(id.as_str())).unwrap();
        let name = line.split(',').nth(1).unwrap().trim_matches('"');
        assert!(page.body.contains(&format!("{} ({id})", html_text(name))), "{name} ({id}): {}", page.body);
    }
    // Its transcript, as a download.
    let transcript = admin.get(&format!("{run_path}/transcript")).await;
    assert_eq!(transcript.status, StatusCode::OK);
    assert!(transcript.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(!transcript.body.is_empty());
    assert_eq!(admin.get(&format!("/partners/{pid}/runs")).await.body.matches("<a href=\"/runs/run_").count(), 2);

    // A rep reads matches but does not start them; another organisation finds none of it.
    let mut rep = signed_in(&vendor, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    assert_eq!(rep.get(&run_path).await.status, StatusCode::OK);
    assert_eq!(rep.post(&format!("/partners/{pid}/runs"), &[("csrf", &rep_csrf)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.post(&format!("/partners/{pid}/runs"), &[("csrf", "forged")]).await.status, StatusCode::FORBIDDEN);
    let mut eve = stranger(&vendor, blindmap_store::Role::Admin).await;
    let eve_csrf = eve.csrf().await;
    for path in [
        run_path.clone(),
        format!("{run_path}/transcript"),
        format!("/partners/{pid}/runs"),
        format!("/partners/{pid}/sharing"),
    ] {
        assert_eq!(eve.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(eve.post(&format!("/partners/{pid}/runs"), &[("csrf", &eve_csrf)]).await.status, StatusCode::NOT_FOUND);
    let runs = call(&vendor, Method::GET, "/api/v1/runs", None).await.unwrap();
    assert_eq!(runs["items"].as_array().unwrap().len(), 2, "no run started by the refused forms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_reviewed_and_decided_from_the_pages() {
    let vendor = common::node("Vendor", None).await;
    let globex = common::node("Globex", None).await;
    let initech = common::node("Initech", None).await;
    common::upload(&vendor, "v.csv", VENDOR_CSV).await;
    let (_, g_v) = common::pair(&vendor, &globex, "Globex").await;
    let (_, i_v) = common::pair(&vendor, &initech, "Initech").await;
    let mut g = signed_in(&globex, "gia", "admin").await;
    let mut i = signed_in(&initech, "ivo", "rep").await;
    let mut v = signed_in(&vendor, "ada", "admin").await;
    let (g_csrf, i_csrf, v_csrf) = (g.csrf().await, i.csrf().await, v.csrf().await);

    // Globex pre-checks Acme privately (not claimed), then registers it from the blank form.
    let acme = [("name", "Acme Corporation"), ("country", "US"), ("domains", "https://www.acme.com")];
    let mut form = vec![("csrf", g_csrf.as_str()), ("partnership", g_v.as_str())];
    form.extend(acme);
    let page = g.post("/registrations/precheck", &form).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Not claimed at Vendor"), "{}", page.body);
    let blank = g.get(&format!("/partners/{g_v}/register")).await;
    assert_eq!(blank.status, StatusCode::OK, "a blank form needs no match: {}", blank.body);
    let deal = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("products", "cloud"),
            ("value", "50000"),
            ("currency", "EUR"),
            ("expected_close", "2027-03-31"),
        ]
    };
    let mut form = deal("");
    form[0].1 = &g_csrf;
    form.extend(acme);
    let page = g.post(&format!("/partners/{g_v}/register"), &form).await;
    assert!(page.body.contains("Deal registered with Vendor"), "{}", page.body);

    // Initech names the same customer its own way: in review, told the category only.
    let mut form = deal("");
    form[0].1 = &i_csrf;
    form.extend([("name", "ACME Corp."), ("country", "United States")]);
    let page = i.post(&format!("/partners/{i_v}/register"), &form).await;
    assert!(page.body.contains("In review: another partner registered this customer first"), "{}", page.body);
    let mut form = vec![("csrf", i_csrf.as_str()), ("partnership", i_v.as_str())];
    form.extend([("domains", "acme.com")]);
    assert!(i.post("/registrations/precheck", &form).await.body.contains("Claimed: another partner"));
    let mine = i.get("/registrations").await;
    assert!(mine.body.contains("in review") && !mine.body.contains("Globex"), "{}", mine.body);

    // The vendor's queue: both wait; Initech's names the earlier claim and who holds it.
    let queue = v.get("/registrations").await;
    assert_eq!(queue.body.matches("<a href=\"/registrations/rg_").count(), 2, "{}", queue.body);
    let list = call(&vendor, Method::GET, "/api/v1/registrations?direction=received", None).await.unwrap();
    let id_of = |partner: &str| -> String {
        list["items"].as_array().unwrap().iter().find(|r| r["partner"] == partner).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (id_of("Globex"), id_of("Initech"));
    let page = v.get(&format!("/registrations/{second}")).await;
    assert!(page.body.contains("Partner conflict: another partner registered this customer first"), "{}", page.body);
    assert!(
        page.body.contains(&format!("<a href=\"/registrations/{first}\">{first}</a></td><td>Globex</td>")),
        "{}",
        page.body
    );

    // Decisions: a bad one and an overlong reason change nothing; then reject and approve.
    let decide = |id: &str| format!("/registrations/{id}/decide");
    assert_eq!(
        v.post(&decide(&second), &[("csrf", &v_csrf), ("decision", "maybe")]).await.status,
        StatusCode::BAD_REQUEST
    );
    let long = "x".repeat(1001);
    let page = v.post(&decide(&second), &[("csrf", &v_csrf), ("decision", "reject"), ("reason", &long)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let page =
        v.post(&decide(&second), &[("csrf", &v_csrf), ("decision", "reject"), ("reason", "Globex was first")]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, format!("/registrations/{second}").as_str()));
    let page = v.post(&decide(&first), &[("csrf", &v_csrf), ("decision", "approve")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let approved = v.get(&format!("/registrations/{first}")).await;
    assert!(approved.body.contains("<strong>approved</strong>, protected until"), "{}", approved.body);
    let rejected = call(&vendor, Method::GET, &format!("/api/v1/registrations/{second}"), None).await.unwrap();
    assert_eq!(
        (rejected["state"].as_str(), rejected["review"]["reason"].as_str()),
        (Some("rejected"), Some("Globex was first"))
    );
    // Deciding again on a rejected one: the state's conflict, said.
    let page = v.post(&decide(&second), &[("csrf", &v_csrf), ("decision", "approve")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);

    // Globex, approved, asks for the one extension from its page.
    let mut heard = g.get(&format!("/registrations/{first}")).await;
    for _ in 0..100 {
        if heard.body.contains("ask-extension") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        heard = g.get(&format!("/registrations/{first}")).await;
    }
    assert!(heard.body.contains("ask-extension"), "{}", heard.body);
    let page = g.post(&format!("/registrations/{first}/extension"), &[("csrf", &g_csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(g.get(&format!("/registrations/{first}")).await.body.contains("(extended)"));

    // A vendor rep reads but does not decide; a submitter cannot decide its own; another
    // organisation finds nothing.
    let mut rep = signed_in(&vendor, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    let page = rep.get(&format!("/registrations/{second}")).await;
    assert!(page.status == StatusCode::OK && !page.body.contains("id=\"approve\""));
    assert_eq!(
        rep.post(&decide(&second), &[("csrf", &rep_csrf), ("decision", "approve")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        g.post(&decide(&first), &[("csrf", &g_csrf), ("decision", "approve")]).await.status,
        StatusCode::CONFLICT
    );
    let mut eve = stranger(&vendor, blindmap_store::Role::Admin).await;
    let eve_csrf = eve.csrf().await;
    assert_eq!(eve.get(&format!("/registrations/{second}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        eve.post(&decide(&first), &[("csrf", &eve_csrf), ("decision", "reject")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(eve.get("/registrations").await.body.contains("None: no partner registration waits"));
    let again = call(&vendor, Method::GET, &format!("/api/v1/registrations/{first}"), None).await.unwrap();
    assert_eq!(again["state"], "approved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_users_and_tokens_and_revoking_ends_sessions() {
    let node = common::node("Vendor", None).await;
    let mut admin = signed_in(&node, "ada", "admin").await;
    let csrf = admin.csrf().await;
    assert!(nav(&admin.get("/").await).contains(&"/users".to_owned()));

    // A new rep: its token shown once, and it signs in with it.
    let page = admin.post("/users", &[("csrf", &csrf), ("name", "kim"), ("role", "rep"), ("label", "laptop")]).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let token = page.body.split("class=\"code\">").nth(1).unwrap().split("</textarea>").next().unwrap().to_owned();
    assert!(token.starts_with("bm_"), "{token}");
    let mut kim = Agent::new(&node);
    assert_eq!(kim.sign_in(&token).await.location(), "/");
    assert_eq!(kim.get("/").await.status, StatusCode::OK);
    // The name is taken now; a bad role is refused; both say so on the page.
    let page = admin.post("/users", &[("csrf", &csrf), ("name", "kim"), ("role", "rep")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    let page = admin.post("/users", &[("csrf", &csrf), ("name", "lee"), ("role", "boss")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("role is admin, rep or integration"), "{}", page.body);

    // The list shows kim's token; revoking it ends the session kim opened with it.
    let users = call(&node, Method::GET, "/api/v1/users", None).await.unwrap();
    let kim_user = users["items"].as_array().unwrap().iter().find(|u| u["name"] == "kim").unwrap().clone();
    let token_id = kim_user["tokens"][0]["id"].as_str().unwrap().to_owned();
    let list = admin.get("/users").await;
    assert!(list.body.contains("laptop") && list.body.contains(&token_id), "{}", list.body);
    let page = admin.post(&format!("/tokens/{token_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/users"));
    assert_eq!(kim.get("/").await.location(), "/signin", "the session went with its token");

    // A new token, a sign-in link, a role, disable and remove: each through the page.
    let kim_id = kim_user["id"].as_str().unwrap();
    let role_of =
        |all: &Value| all["items"].as_array().unwrap().iter().find(|u| u["name"] == "kim").unwrap()["role"].clone();
    let page = admin.post(&format!("/users/{kim_id}/role"), &[("csrf", &csrf), ("role", "admin")]).await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/users"), "{}", page.body);
    assert_eq!(role_of(&call(&node, Method::GET, "/api/v1/users", None).await.unwrap()), "admin");
    let page = admin.post(&format!("/users/{kim_id}/role"), &[("csrf", &csrf), ("role", "owner")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("role is admin, rep or integration"), "{}", page.body);
    admin.post(&format!("/users/{kim_id}/role"), &[("csrf", &csrf), ("role", "rep")]).await;
    assert_eq!(role_of(&call(&node, Method::GET, "/api/v1/users", None).await.unwrap()), "rep");
    let page = admin.post(&format!("/users/{kim_id}/tokens"), &[("csrf", &csrf), ("label", "phone")]).await;
    assert_eq!(page.status, StatusCode::CREATED);
    let page = admin.post(&format!("/users/{kim_id}/link"), &[("csrf", &csrf)]).await;
    assert!(page.body.contains("/signin/link?secret="), "{}", page.body);
    assert_eq!(admin.post(&format!("/users/{kim_id}/disable"), &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    let state =
        |all: &Value| all["items"].as_array().unwrap().iter().find(|u| u["name"] == "kim").unwrap()["state"].clone();
    assert_eq!(state(&call(&node, Method::GET, "/api/v1/users", None).await.unwrap()), "disabled");
    assert_eq!(
        admin.post(&format!("/users/{kim_id}/remove"), &[("csrf", &csrf)]).await.status,
        StatusCode::BAD_REQUEST
    );
    let page = admin.post(&format!("/users/{kim_id}/remove"), &[("csrf", &csrf), ("confirm", "1")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(state(&call(&node, Method::GET, "/api/v1/users", None).await.unwrap()), "removed");
    assert_eq!(admin.post(&format!("/users/{kim_id}/explode"), &[("csrf", &csrf)]).await.status, StatusCode::NOT_FOUND);

    // Reps have no users page; another organisation's users are not found.
    let mut rep = signed_in(&node, "rita", "rep").await;
    let rep_csrf = rep.csrf().await;
    assert_eq!(rep.get("/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        rep.post("/users", &[("csrf", &rep_csrf), ("name", "x"), ("role", "admin")]).await.status,
        StatusCode::FORBIDDEN
    );
    let mut eve = stranger(&node, blindmap_store::Role::Admin).await;
    let eve_csrf = eve.csrf().await;
    let rita_id = call(&node, Method::GET, "/api/v1/users", None).await.unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "rita")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        eve.post(&format!("/users/{rita_id}/disable"), &[("csrf", &eve_csrf)]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        eve.post(&format!("/users/{rita_id}/tokens"), &[("csrf", &eve_csrf), ("label", "x")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!eve.get("/users").await.body.contains("rita"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_filters_by_partner_action_and_time_and_exports_csv() {
    let (vendor, _partner, pid, _) = common::matched().await;
    let mut admin = signed_in(&vendor, "ada", "admin").await;
    let all = admin.get("/audit").await;
    assert_eq!(all.status, StatusCode::OK);
    for kind in ["dataset.imported", "partnership.invited", "sharing.changed", "match.revealed", "web.signed_in"] {
        assert!(all.body.contains(&format!("<td>{kind}</td>")), "{kind}: {}", all.body);
    }
    // By action and partner: only the partner's matches.
    let page = admin.get(&format!("/audit?action=match&partner={pid}")).await;
    assert!(page.body.contains("<td>match.revealed</td>") && page.body.contains("<td>Partner</td>"), "{}", page.body);
    assert!(!page.body.contains("<td>dataset.imported</td>") && !page.body.contains("<td>web.signed_in</td>"));
    // By time: nothing before 2000; today's events up to today.
    let today = blindmap_cosell::time::format(blindmap_server_now())[..10].to_owned();
    assert!(admin.get("/audit?until=1999-12-31").await.body.contains("No event matches these filters."));
    assert!(admin.get(&format!("/audit?since={today}&until={today}")).await.body.contains("<td>match.revealed</td>"));
    // Bad filters are refused, not guessed.
    assert_eq!(admin.get("/audit?since=yesterday").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(admin.get("/audit?action=nonsense").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(admin.get("/audit?partner=pt_00000000000000000000000000000000").await.status, StatusCode::NOT_FOUND);

    // The CSV has the filtered events, as the page shows them.
    let csv = admin.get(&format!("/audit.csv?action=match&partner={pid}")).await;
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let mut lines = csv.body.lines();
    assert_eq!(lines.next(), Some("at,actor,action,partner,detail"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.contains(",match.") && r.contains(",Partner,")), "{rows:?}");

    // Admins only; another organisation sees none of it.
    let mut rep = signed_in(&vendor, "rita", "rep").await;
    assert_eq!(rep.get("/audit").await.status, StatusCode::FORBIDDEN);
    assert_eq!(rep.get("/audit.csv").await.status, StatusCode::FORBIDDEN);
    let mut eve = stranger(&vendor, blindmap_store::Role::Admin).await;
    let theirs = eve.get("/audit.csv").await;
    assert!(!theirs.body.contains("match.") && !theirs.body.contains("dataset."), "{}", theirs.body);
    assert_eq!(eve.get(&format!("/audit?partner={pid}")).await.status, StatusCode::NOT_FOUND);
}

fn blindmap_server_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn co_sell_records_are_listed_by_status_and_edited_from_the_pages() {
    let (vendor, partner, pid, _) = common::matched().await;
    let runs = call(&vendor, Method::GET, "/api/v1/runs", None).await.unwrap();
    let run = runs["items"][0]["id"].as_str().unwrap().to_owned();
    let overlaps = call(&vendor, Method::GET, &format!("/api/v1/runs/{run}/overlaps?limit=1"), None).await.unwrap();
    let o = overlaps["items"][0].clone();
    let body = json!({ "run": run, "account_id": o["account_id"], "partner_segment": o["partner_segment"],
        "partner_record": o["partner_record"] });
    let created = call(&vendor, Method::POST, "/api/v1/cosell", Some(body)).await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let account = o["account_id"].as_str().unwrap();
    let mut v = signed_in(&vendor, "ada", "rep").await;
    let mut p = signed_in(&partner, "pat", "rep").await;
    let (v_csrf, p_csrf) = (v.csrf().await, p.csrf().await);
    assert!(nav(&v.get("/").await).contains(&"/cosell".to_owned()));

    // Listed under its status, by the account's name.
    let list = v.get("/cosell").await;
    assert!(list.body.contains("id=\"status-proposed\">proposed (1)"), "{}", list.body);
    assert!(list.body.contains(&format!("({account})</a>")), "named: {}", list.body);

    // The partner accepts from its page; the vendor sets the deal and adds a note.
    let page = p.post(&format!("/cosell/{id}"), &[("csrf", &p_csrf), ("form", "status"), ("status", "accepted")]).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, format!("/cosell/{id}").as_str()),
        "{}",
        page.body
    );
    let deal = [
        ("csrf", v_csrf.as_str()),
        ("form", "deal"),
        ("stage", "qualified"),
        ("amount", "12500.50"),
        ("currency", "EUR"),
        ("close", "2027-03-31"),
        ("next_steps", "Joint call on Tuesday"),
    ];
    let page = v.post(&format!("/cosell/{id}"), &deal).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "note"), ("note", "Met their AE")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let record = call(&vendor, Method::GET, &format!("/api/v1/cosell/{id}"), None).await.unwrap();
    assert_eq!(record["record"]["stage"]["value"], "qualified", "{record}");
    assert_eq!(record["record"]["close_date"]["value"], "2027-03-31");
    let shown = v.get(&format!("/cosell/{id}")).await;
    assert!(shown.body.contains("12500.50 EUR") && shown.body.contains("Met their AE"), "{}", shown.body);
    assert!(shown.body.contains("Joint call on Tuesday"));
    // The partner's copy has the vendor's changes once merged.
    let mut theirs = p.get(&format!("/cosell/{id}")).await;
    for _ in 0..100 {
        if theirs.body.contains("Met their AE") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        theirs = p.get(&format!("/cosell/{id}")).await;
    }
    assert!(theirs.body.contains("Met their AE") && theirs.body.contains("qualified"), "{}", theirs.body);

    // Refused, saying why, changing nothing: an amount without a currency, a move the lifecycle
    // does not allow, a form of no kind.
    let page = v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "deal"), ("amount", "10")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("an amount needs its currency"), "{}", page.body);
    let page = v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "status"), ("status", "proposed")]).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    let page = v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "explode")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let again = call(&vendor, Method::GET, &format!("/api/v1/cosell/{id}"), None).await.unwrap();
    assert_eq!(again["record"]["amount"], record["record"]["amount"]);
    assert_eq!(again["status"], "accepted");

    // Won: listed under won, closed to edits.
    let page = v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "status"), ("status", "active")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    v.post(&format!("/cosell/{id}"), &[("csrf", &v_csrf), ("form", "status"), ("status", "won")]).await;
    assert!(v.get("/cosell").await.body.contains("id=\"status-won\">won (1)"));
    assert!(v.get(&format!("/cosell/{id}")).await.body.contains("Closed: the record takes no more edits."));

    // Another organisation finds none of it; a forged form changes nothing.
    assert_eq!(
        v.post(&format!("/cosell/{id}"), &[("csrf", "forged"), ("form", "note"), ("note", "x")]).await.status,
        StatusCode::FORBIDDEN
    );
    let mut eve = stranger(&vendor, blindmap_store::Role::Rep).await;
    let eve_csrf = eve.csrf().await;
    assert_eq!(eve.get(&format!("/cosell/{id}")).await.status, StatusCode::NOT_FOUND);
    let page = eve.post(&format!("/cosell/{id}"), &[("csrf", &eve_csrf), ("form", "note"), ("note", "x")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(eve.get("/cosell").await.body.contains("No co-sell record yet."));
    assert!(!pid.is_empty());
}

/// The users page lists 500 users and says so when the organisation has more, pointing to the
/// API and the command line, which page through all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_page_says_when_it_lists_only_some() {
    let node = common::node("Vendor", None).await;
    let mut admin = signed_in(&node, "ada", "admin").await;
    let page = admin.get("/users").await;
    assert!(!page.body.contains("id=\"more\""), "{}", page.body);
    let store = common::store_of(&node).await;
    let org = store.organisations().await.unwrap().into_iter().next().unwrap().id;
    for i in 0..500 {
        store.create_user(&org, &format!("user{i:03}"), blindmap_store::Role::Rep).await.unwrap();
    }
    let page = admin.get("/users").await;
    assert!(page.body.contains("id=\"more\"") && page.body.contains("The first 500 users"), "{}", page.body);
    assert_eq!(page.body.matches("<article class=\"user\"").count(), 500);
}

/// spec §20: an admin invites a partner without a node from the Partners page, gets its link
/// once, renews it (the old one stops), and the sharing page says what a partner in the browser
/// sees; a rep cannot, nor another organisation's admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_invite_a_partner_to_match_in_its_browser_from_the_pages() {
    let vendor = common::node("Vendor", None).await;
    let mut admin = signed_in(&vendor, "ada", "admin").await;
    let csrf = admin.csrf().await;
    let partners = admin.get("/partners").await;
    assert!(partners.body.contains("action=\"/partners/browser\""), "the form is on the Partners page");

    // Bad input changes nothing and says why.
    let page = admin.post("/partners/browser", &[("csrf", &csrf), ("partner", "Reseller Co"), ("days", "400")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("1 to 365 days"), "{}", page.body);
    let page = admin.post("/partners/browser", &[("csrf", "wrong"), ("partner", "Reseller Co")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap()["items"].as_array().unwrap().is_empty()
    );

    let page = admin.post("/partners/browser", &[("csrf", &csrf), ("partner", "Reseller Co"), ("days", "10")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let link_of = |body: &str| {
        let at = body.find("/join#").expect("the link is shown");
        body[at + 6..at + 70].to_owned()
    };
    let first = link_of(&page.body);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    let listed = call(&vendor, Method::GET, "/api/v1/partnerships", None).await.unwrap();
    let pid = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["items"][0]["partner"], "Reseller Co", "{listed}");
    let partners = admin.get("/partners").await;
    assert!(partners.body.contains("in the browser, link until"), "{}", partners.body);

    // A new link replaces the old one.
    let page = admin.post(&format!("/partners/{pid}/link"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let second = link_of(&page.body);
    assert_ne!(first, second);
    assert!(crate::browser_partner::invitation(&vendor, &first).await.is_err(), "the old link stopped");
    assert!(crate::browser_partner::invitation(&vendor, &second).await.is_ok());

    // The sharing page says what a partner in the browser sees of counts and fields.
    let sharing = admin.get(&format!("/partners/{pid}/sharing")).await;
    assert!(sharing.body.contains("id=\"in-browser\""), "{}", sharing.body);
    assert!(sharing.body.contains("matches in its browser"), "{}", sharing.body);

    // A rep cannot make or renew links; another organisation's admin finds no such partner.
    let mut member = signed_in(&vendor, "bob", "rep").await;
    let member_csrf = member.csrf().await;
    let page = member.post("/partners/browser", &[("csrf", &member_csrf), ("partner", "Other Co")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let page = member.post(&format!("/partners/{pid}/link"), &[("csrf", &member_csrf)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let mut eve = stranger(&vendor, blindmap_store::Role::Admin).await;
    let eve_csrf = eve.csrf().await;
    let page = eve.post(&format!("/partners/{pid}/link"), &[("csrf", &eve_csrf)]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    let page = eve.get(&format!("/partners/{pid}/sharing")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
}
