//! A Salesforce org, as far as the connector calls it. References (developer.salesforce.com and
//! help.salesforce.com; the same as `blindmap_crm::salesforce`'s):
//! - `POST /services/oauth2/token`: the JWT bearer grant (`sf.remoteaccess_oauth_jwt_flow.htm`:
//!   RS256 over `header.claims`, `iss` the consumer key, `sub` the username, `aud` the login
//!   URL, `exp` at most three minutes ahead; failures `400 {"error":"invalid_grant",
//!   "error_description":…}`) and the refresh-token grant
//!   (`sf.remoteaccess_oauth_refresh_token_flow.htm`); the answer's `access_token`,
//!   `instance_url`, `id`, `token_type: Bearer`, `issued_at`.
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
//!
//! SOQL is read only as far as the connector writes it: `SELECT a, b FROM Account [WHERE
//! SystemModstamp > 2026-01-01T00:00:00Z]`.

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
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/queryAll", get(query_all))
        .route("/services/data/{version}/query/{locator}", get(more))
        .route("/services/data/{version}/sobjects/Account/describe", get(describe))
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

async fn token(State(org): State<Shared>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let mut org = org.lock().unwrap();
    org.requests.push("POST /services/oauth2/token".into());
    match form.get("grant_type").map(String::as_str) {
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
            let given = |k: &str| form.get(k).cloned().unwrap_or_default();
            if given("client_id") != org.client_id || given("client_secret") != org.client_secret {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "invalid_client", "error_description": "invalid client credentials" })),
                )
                    .into_response();
            }
            if org.refresh_token.as_deref() != Some(given("refresh_token").as_str()) {
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
    Json(json!({
        "access_token": token,
        "instance_url": org.base,
        "id": format!("{}/id/00DEMU0000000001/005EMU0000000001", org.base),
        "token_type": "Bearer",
        "issued_at": (now() * 1000).to_string(),
        "scope": "api",
    }))
    .into_response()
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
    let fields: Vec<String> = soql[7..7 + from].split(',').map(|f| f.trim().to_owned()).collect();
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

fn run_query(org: &mut Org, soql: &str, all: bool) -> Response {
    // A dateTime literal is `YYYY-MM-DDThh:mm:ss` with `Z` or `+hh:mm` (`soql_sosl/sforce_api_calls_soql_select_dateformats.htm`).
    let parsed = parse_soql(soql).and_then(|(fields, since)| match since {
        None => Some((fields, None)),
        Some(t) => t.parse::<jiff::Timestamp>().ok().map(|t| (fields, Some(t))),
    });
    let Some((fields, since)) = parsed else {
        let usage = Some((org.api_used, org.api_max));
        return api_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", "unexpected token", usage);
    };
    let records: Vec<Map<String, Value>> = org
        .accounts
        .iter()
        .filter(|a| all || a["IsDeleted"] != true)
        .filter(|a| since.is_none_or(|t| a["SystemModstamp"].as_str().and_then(stamp).is_some_and(|m| m > t)))
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
