//! A Salesforce org, as far as the connector calls it. References (developer.salesforce.com and
//! help.salesforce.com; the same as `blindmap_crm::salesforce`'s):
//! - `POST /services/oauth2/token`: the JWT bearer grant (`sf.remoteaccess_oauth_jwt_flow.htm`:
//!   RS256 over `header.claims`, `iss` the consumer key, `sub` the username, `aud` the login
//!   URL, `exp` at most three minutes ahead; failures `400 {"error":"invalid_grant",
//!   "error_description":…}`) and the refresh-token grant
//!   (`sf.remoteaccess_oauth_refresh_token_flow.htm`); the answer's `access_token`,
//!   `instance_url`, `id`, `token_type: Bearer`, `issued_at`.
//! - The web-server flow (`sf.remoteaccess_oauth_web_server_flow.htm`, with PKCE as
//!   `sf.remoteaccess_pkce.htm` describes): `GET /services/oauth2/authorize?response_type=code&
//!   client_id&redirect_uri&state&code_challenge&code_challenge_method=S256` — the approval page,
//!   answered here as if the user had approved (`302` to `redirect_uri?code=…&state=…`), or had
//!   denied (`error=access_denied`), an unknown client or a callback other than the app's refused
//!   on the page; then the `authorization_code` grant (`code`, `client_id`, `client_secret`,
//!   `redirect_uri` as given before, `code_verifier` whose SHA-256 is the challenge; a code
//!   answers once), answered with a `refresh_token` too.
//! - `GET /services/data/vXX.X/query?q=` and `/queryAll?q=` (`api-rest/guide/resources-query.html`,
//!   `resources-queryall.html`): `{totalSize, done, nextRecordsUrl?, records}`, each record with
//!   `attributes {type, url}`, pages of at most 2,000, the next one at `nextRecordsUrl`
//!   (`/services/data/vXX.X/query/<locator>-<offset>`); `queryAll` includes deleted records.
//! - Errors (`api-rest/guide/errorcodes.html`): a JSON array of `{message, errorCode}`; `401
//!   INVALID_SESSION_ID` ("Session expired or invalid"), `403 REQUEST_LIMIT_EXCEEDED`
//!   ("TotalRequests Limit exceeded."), `400 MALFORMED_QUERY`.
//! - `Sforce-Limit-Info: api-usage=USED/MAX` on every REST answer
//!   (`api-rest/guide/headers-limitinfo.html`).
//! - `GET /services/data/vXX.X/sobjects/Account/describe` (`resources_sobject_describe.htm`):
//!   `{name, fields: [{name, type, relationshipName, referenceTo}]}`; a query names a lookup's
//!   field `Owner.Name` and gets it nested, `"Owner": {"attributes": {"type": "User"}, "Name": …}`
//!   (`sforce_api_calls_soql_relationships_query_using.htm`).
//! - Bulk API 2.0 query jobs (`api_asynch/query_create_job.htm`, `query_get_one_job.htm`,
//!   `query_get_job_results.htm`, `query_abort_job.htm`): create (`query`/`queryAll`, CSV),
//!   poll (`UploadComplete`, `InProgress`, `JobComplete`, `Aborted`), results by `maxRecords`
//!   and `locator` with `Sforce-Locator` (`null` on the last page) and `Sforce-NumberOfRecords`.
//!
//! - sObject Collections (`resources_composite_sobjects_collections_upsert.htm`, `…_delete.htm`):
//!   upsert by an external id field into a custom object the org has (`NOT_FOUND` otherwise), a
//!   lookup to a missing account refused per record (`INVALID_CROSS_REFERENCE_KEY`); delete by
//!   ids, a missing one refused (`ENTITY_IS_DELETED`); at most 200 records a call
//!   (`EXCEEDED_ID_LIMIT`); one result per record, in order.
//!
//! SOQL is read only as far as the connector writes it: `SELECT a, b FROM Account [WHERE
//! SystemModstamp > 2026-01-01T00:00:00Z]`, and `SELECT COUNT() FROM Account …`, whose answer
//! has the `totalSize` and no records (`sforce_api_calls_soql_select_count.htm`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// The org's state, which a test may change between calls.
#[derive(Default)]
pub struct Org {
    /// Its accounts, each with at least `Id`, `IsDeleted` and `SystemModstamp`.
    pub accounts: Vec<Map<String, Value>>,
    /// Records per page.
    pub page_size: usize,
    /// API requests used, and the daily allowance.
    pub api_used: u64,
    pub api_max: u64,
    /// The connected app: its consumer key and secret, the user it is approved for, and its
    /// certificate's public key (PKCS#1 DER).
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    pub public_key: Vec<u8>,
    /// The refresh token the web-server flow gave, if any.
    pub refresh_token: Option<String>,
    /// Valid access tokens; tokens issued so far.
    pub tokens: HashSet<String>,
    pub issued: u64,
    /// This org's base URL (its login URL and instance).
    pub base: String,
    /// Query results still to be read, by locator.
    pub cursors: BTreeMap<String, Vec<Map<String, Value>>>,
    /// For a test: the next query page names this as its `nextRecordsUrl`.
    pub forged_next: Option<String>,
    /// Requests seen, as `METHOD path`.
    pub requests: Vec<String>,
    /// The org's own Account fields (`Tier__c`), beside the standard ones.
    pub custom_fields: Vec<String>,
    /// For a test: every access token expires when this many REST requests have been seen (a
    /// session timing out mid-sync).
    pub expire_at_request: Option<usize>,
    /// Bulk API 2.0 query jobs, by id.
    pub jobs: BTreeMap<String, Job>,
    /// How many times a new job's state reads `InProgress` before `JobComplete`.
    pub job_polls: u32,
    /// Records handed out (query pages and bulk results), for the benchmark's count.
    pub records_served: u64,
    /// Custom objects deployed in the org (`Blindmap_Overlap__c`), and their records.
    pub objects: BTreeMap<String, Vec<Account>>,
    /// Records made so far (for their ids).
    pub made: u64,
    /// The connected app's callback URL, if it names one (an authorization to another is refused).
    pub callback: Option<String>,
    /// Whether the user denies the approval.
    pub deny: bool,
    /// Codes given and not yet exchanged: the PKCE challenge and the redirect URI of each.
    pub codes: BTreeMap<String, (Option<String>, String)>,
}

/// A Bulk API 2.0 query job: its results (the header row, then each record's cells) and how many
/// more polls find it in progress.
pub struct Job {
    pub operation: String,
    pub state: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub polls_left: u32,
}

/// Standard Account fields (`sfdoc object_reference/sforce_api_objects_account.htm`) that the
/// describe call lists, each with its relationship's name where it is a lookup.
pub const STANDARD_FIELDS: &[(&str, Option<&str>)] = &[
    ("Id", None),
    ("IsDeleted", None),
    ("Name", None),
    ("Type", None),
    ("ParentId", Some("Parent")),
    ("BillingStreet", None),
    ("BillingCity", None),
    ("BillingState", None),
    ("BillingPostalCode", None),
    ("BillingCountry", None),
    ("ShippingCity", None),
    ("ShippingPostalCode", None),
    ("ShippingCountry", None),
    ("Phone", None),
    ("Website", None),
    ("Industry", None),
    ("NumberOfEmployees", None),
    ("OwnerId", Some("Owner")),
    ("CreatedDate", None),
    ("LastModifiedDate", None),
    ("SystemModstamp", None),
    ("Description", None),
];

pub type Shared = Arc<Mutex<Org>>;

/// An account as the org holds it: its fields by API name (a lookup's as `Owner.Name`).
pub type Account = Map<String, Value>;

impl Org {
    /// Expires every access token (a session timeout, or an admin revoking them).
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }
}

/// Serves `org`; sets its base URL.
pub async fn start(org: Org) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(org));
    let app = Router::new()
        .route("/services/oauth2/token", post(token))
        .route("/services/oauth2/authorize", get(authorize))
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/queryAll", get(query_all))
        .route("/services/data/{version}/query/{locator}", get(more))
        .route("/services/data/{version}/sobjects/Account/describe", get(describe))
        .route("/services/data/{version}/jobs/query", post(create_job))
        .route("/services/data/{version}/jobs/query/{job}", get(job_state).patch(abort_job))
        .route("/services/data/{version}/jobs/query/{job}/results", get(job_results))
        .route("/services/data/{version}/composite/sobjects/{object}/{key}", axum::routing::patch(upsert))
        .route("/services/data/{version}/composite/sobjects", axum::routing::delete(delete_records))
        .route("/emulator/change", post(change))
        .route("/emulator/stats", get(stats))
        .route("/emulator/stats/reset", post(reset_stats))
        .with_state(shared.clone());
    let base = super::serve(app).await;
    shared.lock().unwrap().base = base.clone();
    (base, shared)
}

fn oauth_error(description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant", "error_description": description })))
        .into_response()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `GET /services/oauth2/authorize`: the approval page, approved (or denied) at once.
async fn authorize(State(org): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let mut org = org.lock().unwrap();
    org.requests.push("GET /services/oauth2/authorize".into());
    let given = |k: &str| q.get(k).cloned().unwrap_or_default();
    if given("response_type") != "code" || given("client_id") != org.client_id {
        return (StatusCode::BAD_REQUEST, "error=invalid_client_id: client identifier invalid").into_response();
    }
    let redirect = given("redirect_uri");
    if redirect.is_empty() || org.callback.as_ref().is_some_and(|c| *c != redirect) {
        return (StatusCode::BAD_REQUEST, "error=redirect_uri_mismatch: redirect_uri must match configuration")
            .into_response();
    }
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && given("code_challenge_method") != "S256" {
        return (StatusCode::BAD_REQUEST, "error=invalid_request: unsupported code_challenge_method").into_response();
    }
    let mut params = if org.deny {
        vec![("error", "access_denied".to_owned()), ("error_description", "end-user denied authorization".to_owned())]
    } else {
        org.issued += 1;
        let code = format!("aPrxEmulatedCode{}", org.issued);
        org.codes.insert(code.clone(), (challenge, redirect.clone()));
        vec![("code", code)]
    };
    if let Some(state) = q.get("state") {
        params.push(("state", state.clone()));
    }
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    super::redirect_back(&redirect, &params)
}

async fn token(State(org): State<Shared>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let mut org = org.lock().unwrap();
    org.requests.push("POST /services/oauth2/token".into());
    let mut refresh = None;
    let grant = form.get("grant_type").map(String::as_str);
    // The grants of the web-server flow sign the app in with its consumer key and secret.
    let given = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if matches!(grant, Some("authorization_code" | "refresh_token"))
        && (given("client_id") != org.client_id || given("client_secret") != org.client_secret)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_client", "error_description": "invalid client credentials" })),
        )
            .into_response();
    }
    match grant {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = org.codes.remove(given("code")) else {
                return oauth_error("invalid authorization code");
            };
            if redirect != given("redirect_uri") {
                return oauth_error("redirect_uri must match configuration");
            }
            if let Some(challenge) = challenge {
                let digest = ring::digest::digest(&ring::digest::SHA256, given("code_verifier").as_bytes());
                if URL_SAFE_NO_PAD.encode(digest) != challenge {
                    return oauth_error("invalid code verifier");
                }
            }
            let fresh = format!("5Aep861EmulatedRefresh{}", org.issued);
            org.refresh_token = Some(fresh.clone());
            refresh = Some(fresh);
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else { return oauth_error("invalid assertion") };
            let parts: Vec<&str> = assertion.split('.').collect();
            let [header, claims, signature] = parts.as_slice() else { return oauth_error("invalid assertion") };
            let signed = format!("{header}.{claims}");
            let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return oauth_error("invalid assertion") };
            let key =
                ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &org.public_key);
            if key.verify(signed.as_bytes(), &signature).is_err() {
                return oauth_error("invalid assertion");
            }
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap_or_default()).unwrap_or_default();
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap_or_default()).unwrap_or_default();
            if header["alg"] != "RS256" {
                return oauth_error("invalid assertion algorithm");
            }
            if claims["iss"] != org.client_id.as_str() {
                return oauth_error("invalid client credentials");
            }
            if claims["sub"] != org.username.as_str() {
                return oauth_error("user hasn't approved this consumer");
            }
            if claims["aud"] != org.base.as_str() {
                return oauth_error("audience is invalid");
            }
            let exp = claims["exp"].as_u64().unwrap_or(0);
            if exp <= now() || exp > now() + 180 + 5 {
                return oauth_error("expired authorization code");
            }
        }
        Some("refresh_token") => {
            if org.refresh_token.as_deref() != Some(given("refresh_token")) {
                return oauth_error("expired access/refresh token");
            }
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "unsupported_grant_type", "error_description": "grant type not supported" })),
            )
                .into_response();
        }
    }
    org.issued += 1;
    let token = format!("00DEMU0000000001!token{}", org.issued);
    org.tokens.insert(token.clone());
    let mut answer = json!({
        "access_token": token,
        "instance_url": org.base,
        "id": format!("{}/id/00DEMU0000000001/005EMU0000000001", org.base),
        "token_type": "Bearer",
        "issued_at": (now() * 1000).to_string(),
        "scope": "api",
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
        answer["scope"] = json!("api refresh_token");
    }
    Json(answer).into_response()
}

fn api_error(status: StatusCode, code: &str, message: &str, usage: Option<(u64, u64)>) -> Response {
    let mut response = (status, Json(json!([{ "message": message, "errorCode": code }]))).into_response();
    if let Some((used, max)) = usage {
        response.headers_mut().insert("sforce-limit-info", limit(used, max));
    }
    response
}

fn limit(used: u64, max: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("api-usage={used}/{max}")).unwrap()
}

/// The bearer check and the quota, as every REST call meets them.
fn admit(org: &mut Org, headers: &HeaderMap, what: String) -> Result<(), Box<Response>> {
    org.requests.push(what);
    if org.expire_at_request == Some(org.requests.iter().filter(|r| !r.starts_with("POST")).count()) {
        org.tokens.clear();
    }
    let token = super::bearer(headers);
    if !org.tokens.contains(token) {
        return Err(Box::new(api_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            None,
        )));
    }
    org.api_used += 1;
    if org.api_used > org.api_max {
        let usage = Some((org.api_used, org.api_max));
        return Err(Box::new(api_error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
            usage,
        )));
    }
    Ok(())
}

/// `SELECT a, b FROM Account [WHERE SystemModstamp > T]`: the fields and the bound.
fn parse_soql(soql: &str) -> Option<(Vec<String>, Option<String>)> {
    let upper = soql.to_ascii_uppercase();
    let select = upper.strip_prefix("SELECT ")?;
    let from = select.find(" FROM ACCOUNT")?;
    let listed = soql[7..7 + from].trim();
    // `COUNT()`: the records' number only (`totalSize`), no records.
    let fields: Vec<String> =
        if listed == "COUNT()" { Vec::new() } else { listed.split(',').map(|f| f.trim().to_owned()).collect() };
    if fields.iter().any(|f| f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
        return None;
    }
    let rest = soql[7 + from + " FROM ACCOUNT".len()..].trim();
    let since = match rest {
        "" => None,
        rest => Some(rest.strip_prefix("WHERE SystemModstamp > ")?.trim().to_owned()),
    };
    Some((fields, since))
}

/// A stored `SystemModstamp` (`2026-11-21T09:30:00.000+0000`, as the API writes it) as an instant.
pub fn stamp(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", text).ok()?.to_timestamp().ok()
}

/// The accounts `soql` selects (deleted ones too when `all`), and the fields it names; `None`
/// for SOQL this emulator does not read.
fn select<'a>(org: &'a Org, soql: &str, all: bool) -> Option<(Vec<String>, Vec<&'a Account>)> {
    // A dateTime literal is `YYYY-MM-DDThh:mm:ss` with `Z` or `+hh:mm` (`soql_sosl/sforce_api_calls_soql_select_dateformats.htm`).
    let (fields, since) = parse_soql(soql).and_then(|(fields, since)| match since {
        None => Some((fields, None)),
        Some(t) => t.parse::<jiff::Timestamp>().ok().map(|t| (fields, Some(t))),
    })?;
    let records = org
        .accounts
        .iter()
        .filter(|a| all || a["IsDeleted"] != true)
        .filter(|a| since.is_none_or(|t| a["SystemModstamp"].as_str().and_then(stamp).is_some_and(|m| m > t)))
        .collect();
    Some((fields, records))
}

fn run_query(org: &mut Org, soql: &str, all: bool) -> Response {
    let Some((fields, selected)) = select(org, soql, all) else {
        let usage = Some((org.api_used, org.api_max));
        return api_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "unexpected token", usage);
    };
    if fields.is_empty() {
        let mut response = Json(json!({ "totalSize": selected.len(), "done": true, "records": [] })).into_response();
        response.headers_mut().insert("sforce-limit-info", limit(org.api_used, org.api_max));
        return response;
    }
    let records: Vec<Map<String, Value>> = selected
        .into_iter()
        .map(|a| {
            let id = a["Id"].as_str().unwrap_or_default();
            let mut out = Map::new();
            out.insert(
                "attributes".into(),
                json!({ "type": "Account", "url": format!("/services/data/v63.0/sobjects/Account/{id}") }),
            );
            for f in &fields {
                let value = a.get(f).cloned().unwrap_or(Value::Null);
                match f.split_once('.') {
                    // A lookup's field, nested under the relationship (null when the lookup is empty).
                    Some((relationship, field)) => {
                        let slot = out.entry(relationship.to_owned()).or_insert(Value::Null);
                        if !value.is_null() {
                            if slot.is_null() {
                                *slot = json!({ "attributes": { "type": "User" } });
                            }
                            slot[field] = value;
                        }
                    }
                    None => {
                        out.insert(f.clone(), value);
                    }
                }
            }
            out
        })
        .collect();
    let locator = format!("01gEMU{:010}", org.cursors.len());
    page(org, locator, records, 0)
}

fn page(org: &mut Org, locator: String, records: Vec<Map<String, Value>>, offset: usize) -> Response {
    let total = records.len();
    let end = (offset + org.page_size).min(total);
    org.records_served += end.saturating_sub(offset) as u64;
    let done = end >= total;
    let mut body = json!({ "totalSize": total, "done": done, "records": records[offset..end] });
    if !done {
        let next = org.forged_next.take().unwrap_or_else(|| format!("/services/data/v63.0/query/{locator}-{end}"));
        body["nextRecordsUrl"] = json!(next);
        org.cursors.insert(locator, records);
    }
    let mut response = Json(body).into_response();
    response.headers_mut().insert("sforce-limit-info", limit(org.api_used, org.api_max));
    response
}

/// `query` (`all` false) and `queryAll` (true).
fn soql(org: &Shared, headers: &HeaderMap, q: &BTreeMap<String, String>, all: bool) -> Response {
    let mut org = org.lock().unwrap();
    let what = if all { "GET queryAll" } else { "GET query" };
    if let Err(refused) = admit(&mut org, headers, what.into()) {
        return *refused;
    }
    run_query(&mut org, q.get("q").map_or("", String::as_str), all)
}

async fn query(State(org): State<Shared>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Response {
    soql(&org, &headers, &q, false)
}

async fn query_all(
    State(org): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    soql(&org, &headers, &q, true)
}

async fn more(
    State(org): State<Shared>,
    headers: HeaderMap,
    Path((_version, locator)): Path<(String, String)>,
) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, format!("GET query/{locator}")) {
        return *refused;
    }
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return api_error(StatusCode::NOT_FOUND, "INVALID_QUERY_LOCATOR", "invalid query locator", None);
    };
    let (Some(records), Ok(offset)) = (org.cursors.get(id).cloned(), offset.parse::<usize>()) else {
        return api_error(StatusCode::NOT_FOUND, "INVALID_QUERY_LOCATOR", "invalid query locator", None);
    };
    page(&mut org, id.to_owned(), records, offset)
}

async fn describe(State(org): State<Shared>, headers: HeaderMap) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "GET describe".into()) {
        return *refused;
    }
    let standard = STANDARD_FIELDS.iter().map(|(name, relationship)| {
        json!({ "name": name, "type": if relationship.is_some() { "reference" } else { "string" },
            "relationshipName": relationship, "referenceTo": if relationship.is_some() { vec!["User"] } else { vec![] } })
    });
    let custom =
        org.custom_fields.iter().map(|name| json!({ "name": name, "type": "string", "relationshipName": null }));
    let fields: Vec<Value> = standard.chain(custom).collect();
    let mut response = Json(json!({ "name": "Account", "fields": fields })).into_response();
    response.headers_mut().insert("sforce-limit-info", limit(org.api_used, org.api_max));
    response
}

/// `POST /jobs/query` (`api_asynch/query_create_job.htm`): the job, `UploadComplete`.
async fn create_job(State(org): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "POST jobs/query".into()) {
        return *refused;
    }
    let operation = body["operation"].as_str().unwrap_or_default().to_owned();
    let all = match operation.as_str() {
        "query" => false,
        "queryAll" => true,
        _ => return api_error(StatusCode::BAD_REQUEST, "INVALIDJOB", "InvalidJob : Invalid operation", None),
    };
    if body["contentType"].as_str().is_some_and(|c| c != "CSV") {
        return api_error(StatusCode::BAD_REQUEST, "INVALIDJOB", "InvalidJob : only CSV", None);
    }
    let Some((header, selected)) = select(&org, body["query"].as_str().unwrap_or_default(), all) else {
        return api_error(StatusCode::BAD_REQUEST, "INVALIDJOB", "InvalidJob : MALFORMED_QUERY", None);
    };
    // A result cell as the Bulk API writes it: text as it is, numbers and booleans as written,
    // null as empty.
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let rows = selected.iter().map(|a| header.iter().map(|f| cell(a.get(f))).collect()).collect();
    let id = format!("750EMU{:012}", org.jobs.len() + 1);
    let polls_left = org.job_polls;
    org.jobs.insert(
        id.clone(),
        Job { operation: operation.clone(), state: "UploadComplete".into(), header, rows, polls_left },
    );
    Json(json!({ "id": id, "operation": operation, "object": "Account", "state": "UploadComplete",
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 63.0, "lineEnding": "LF",
        "columnDelimiter": "COMMA" }))
    .into_response()
}

/// `GET /jobs/query/{id}` (`query_get_one_job.htm`): in progress for `job_polls` reads, then complete.
async fn job_state(State(org): State<Shared>, headers: HeaderMap, Path((_v, id)): Path<(String, String)>) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "GET jobs/query/{id}".into()) {
        return *refused;
    }
    let Some(job) = org.jobs.get_mut(&id) else {
        return api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None);
    };
    if job.state == "UploadComplete" || job.state == "InProgress" {
        if job.polls_left > 0 {
            job.polls_left -= 1;
            job.state = "InProgress".into();
        } else {
            job.state = "JobComplete".into();
        }
    }
    let done = if job.state == "JobComplete" { job.rows.len() } else { 0 };
    Json(json!({ "id": id, "operation": job.operation, "object": "Account", "state": job.state,
        "numberRecordsProcessed": done, "retries": 0, "totalProcessingTime": 10 }))
    .into_response()
}

/// `GET /jobs/query/{id}/results` (`query_get_job_results.htm`): `maxRecords` rows from the
/// locator on, as CSV with a header row; `Sforce-Locator` the next page's, `null` on the last.
async fn job_results(
    State(org): State<Shared>,
    headers: HeaderMap,
    Path((_v, id)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "GET jobs/query/{id}/results".into()) {
        return *refused;
    }
    let Some(job) = org.jobs.get(&id) else {
        return api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None);
    };
    if job.state != "JobComplete" {
        return api_error(StatusCode::BAD_REQUEST, "INVALIDJOBSTATE", "InvalidJobState : job is not complete", None);
    }
    let max: usize = q.get("maxRecords").and_then(|m| m.parse().ok()).unwrap_or(usize::MAX);
    let offset: usize = match q.get("locator") {
        None => 0,
        Some(l) => match l.strip_prefix("LOC").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return api_error(StatusCode::BAD_REQUEST, "INVALIDLOCATOR", "invalid locator", None),
        },
    };
    let end = offset.saturating_add(max).min(job.rows.len());
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    out.write_record(&job.header).unwrap();
    for row in &job.rows[offset.min(end)..end] {
        out.write_record(row).unwrap();
    }
    let body = out.into_inner().unwrap();
    let next = if end < job.rows.len() { format!("LOC{end}") } else { "null".to_owned() };
    let served = end.saturating_sub(offset) as u64;
    org.records_served += served;
    let mut response = ([(axum::http::header::CONTENT_TYPE, "text/csv")], body).into_response();
    response.headers_mut().insert("sforce-locator", HeaderValue::from_str(&next).unwrap());
    response.headers_mut().insert("sforce-numberofrecords", HeaderValue::from(served));
    response.headers_mut().insert("sforce-limit-info", limit(org.api_used, org.api_max));
    response
}

/// `PATCH /jobs/query/{id}` with `{"state": "Aborted"}` (`query_abort_job.htm`).
async fn abort_job(
    State(org): State<Shared>,
    headers: HeaderMap,
    Path((_v, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "PATCH jobs/query/{id}".into()) {
        return *refused;
    }
    let Some(job) = org.jobs.get_mut(&id) else {
        return api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None);
    };
    if body["state"] != "Aborted" {
        return api_error(StatusCode::BAD_REQUEST, "INVALIDJOBSTATE", "InvalidJobState", None);
    }
    job.state = "Aborted".into();
    Json(json!({ "id": id, "state": "Aborted" })).into_response()
}

/// A Salesforce Account export's report labels, and the API names the org holds them under (the
/// owner through the `Owner` lookup).
const EXPORT_LABELS: &[(&str, &str)] = &[
    ("Account ID", "Id"),
    ("Account Name", "Name"),
    ("Type", "Type"),
    ("Website", "Website"),
    ("Phone", "Phone"),
    ("Billing Street", "BillingStreet"),
    ("Billing City", "BillingCity"),
    ("Billing State/Province", "BillingState"),
    ("Billing Zip/Postal Code", "BillingPostalCode"),
    ("Billing Country", "BillingCountry"),
    ("Industry", "Industry"),
    ("Employees", "NumberOfEmployees"),
    ("Account Owner", "Owner.Name"),
    ("Account Owner Email", "Owner.Email"),
    ("D-U-N-S Number", "DunsNumber"),
    ("Description", "Description"),
];

/// The accounts of a Salesforce Account export (its report labels as the header), as an org
/// holds them: each column under its API name, not deleted, modified on 1 November 2026.
pub fn accounts_from_export(export: impl std::io::Read) -> Vec<Account> {
    let mut reader = csv::Reader::from_reader(export);
    let header: Vec<Option<&str>> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.trim_start_matches('\u{feff}');
            EXPORT_LABELS.iter().find(|(label, _)| *label == h).map(|(_, api)| *api)
        })
        .collect();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let mut account: Account =
                header.iter().zip(record.iter()).filter_map(|(api, v)| Some(((*api)?.to_owned(), json!(v)))).collect();
            account.insert("IsDeleted".into(), json!(false));
            account.insert("SystemModstamp".into(), json!("2026-11-01T10:00:00.000+0000"));
            account
        })
        .collect()
}

/// The emulator's own routes, for a benchmark in another process (not Salesforce's):
/// `POST /emulator/change?every=N` renames every Nth account and stamps it a second later than
/// anything before (a change a sync must read), answering how many; `GET /emulator/stats` the
/// records handed out so far and the requests seen; `POST /emulator/stats/reset` zeroes them.
async fn change(State(org): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let mut org = org.lock().unwrap();
    let every: usize = q.get("every").and_then(|n| n.parse().ok()).filter(|n| *n > 0).unwrap_or(100);
    let newest = org.accounts.iter().filter_map(|a| a["SystemModstamp"].as_str().and_then(stamp)).max();
    let at = newest.map_or(jiff::Timestamp::UNIX_EPOCH, |t| t + jiff::SignedDuration::from_secs(1));
    let at = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000").to_string();
    let mut changed = 0;
    for account in org.accounts.iter_mut().step_by(every) {
        let name = account.get("Name").and_then(Value::as_str).unwrap_or_default().to_owned();
        account.insert("Name".into(), json!(format!("{name} (renamed)")));
        account.insert("SystemModstamp".into(), json!(at));
        changed += 1;
    }
    Json(json!({ "changed": changed })).into_response()
}

async fn stats(State(org): State<Shared>) -> Response {
    let org = org.lock().unwrap();
    Json(json!({ "records_served": org.records_served, "requests": org.requests.len() })).into_response()
}

async fn reset_stats(State(org): State<Shared>) -> Response {
    let mut org = org.lock().unwrap();
    org.records_served = 0;
    org.requests.clear();
    Json(json!({})).into_response()
}

/// `PATCH /composite/sobjects/{object}/{key}`: each record upserted by its `key` field.
async fn upsert(
    State(org): State<Shared>,
    headers: HeaderMap,
    Path((_v, object, key)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, format!("PATCH composite/sobjects/{object}")) {
        return *refused;
    }
    if !org.objects.contains_key(&object) {
        return api_error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist", None);
    }
    let records = body["records"].as_array().cloned().unwrap_or_default();
    if records.len() > 200 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
            None,
        );
    }
    let mut results = Vec::new();
    for record in records {
        let Value::Object(mut record) = record else { continue };
        record.remove("attributes");
        let account_ok = record
            .get("Account__c")
            .and_then(Value::as_str)
            .is_none_or(|id| org.accounts.iter().any(|a| a["Id"] == id && a["IsDeleted"] != true));
        if !account_ok {
            results.push(json!({ "success": false, "errors": [{ "statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": ["Account__c"] }] }));
            continue;
        }
        let Some(external) = record.get(&key).cloned().filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) else {
            results.push(json!({ "success": false, "errors": [{ "statusCode": "MISSING_ARGUMENT", "message": format!("{key} not specified"), "fields": [] }] }));
            continue;
        };
        org.made += 1;
        let fresh_id = format!("a0BEMU{:012}", org.made);
        let rows = org.objects.get_mut(&object).unwrap();
        match rows.iter_mut().find(|r| r.get(&key) == Some(&external)) {
            Some(existing) => {
                for (k, v) in record {
                    existing.insert(k, v);
                }
                results.push(json!({ "id": existing["Id"], "success": true, "created": false, "errors": [] }));
            }
            None => {
                record.insert("Id".into(), json!(fresh_id));
                rows.push(record);
                results.push(json!({ "id": fresh_id, "success": true, "created": true, "errors": [] }));
            }
        }
    }
    Json(Value::Array(results)).into_response()
}

/// `DELETE /composite/sobjects?ids=…`: each record deleted from the object that has it.
async fn delete_records(
    State(org): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut org = org.lock().unwrap();
    if let Err(refused) = admit(&mut org, &headers, "DELETE composite/sobjects".into()) {
        return *refused;
    }
    let ids: Vec<String> = q.get("ids").map(|i| i.split(',').map(str::to_owned).collect()).unwrap_or_default();
    if ids.len() > 200 {
        return api_error(StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT", "record limit reached", None);
    }
    let mut results = Vec::new();
    for id in ids {
        let found = org.objects.values_mut().find_map(|rows| {
            let at = rows.iter().position(|r| r["Id"] == id.as_str())?;
            Some(rows.remove(at))
        });
        results.push(match found {
            Some(_) => json!({ "id": id, "success": true, "errors": [] }),
            None => json!({ "id": id, "success": false, "errors": [{ "statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": [] }] }),
        });
    }
    Json(Value::Array(results)).into_response()
}
