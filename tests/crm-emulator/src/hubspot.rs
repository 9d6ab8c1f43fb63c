//! A HubSpot portal, as far as the connector calls it. References (developers.hubspot.com; the
//! same as `blindmap_crm::hubspot`'s):
//! - `GET /crm/v3/owners` (`docs/api/crm/owners`): `{results: [{id, email, firstName, lastName,
//!   …}], paging}`; `403` with category `MISSING_SCOPES` when the app lacks
//!   `crm.objects.owners.read`.
//! - `GET /oauth/authorize` (`docs/api/oauth-quickstart-guide`; app.hubspot.com's install page,
//!   approved at once: `302` to `redirect_uri?code=…&state=…`) and `POST /oauth/v1/token` with
//!   `grant_type=authorization_code` (`code` once, the same `redirect_uri`; `BAD_AUTH_CODE`
//!   otherwise), answered with a new refresh token.
//! - `POST /oauth/v1/token` with `grant_type=refresh_token` (`docs/api/oauth/tokens`): a new
//!   `access_token`, the same `refresh_token`, `expires_in`; a wrong client or refresh token
//!   `400 {"status":"BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID", "message":…}`.
//! - `GET /crm/v3/objects/companies` (`docs/api/crm/companies`): `limit` at most 100, `after`,
//!   `properties` (comma-separated), `archived`; `{results: [{id, properties, createdAt,
//!   updatedAt, archived}], paging: {next: {after, link}}}`; every company's properties include
//!   `hs_object_id`, `createdate` and `hs_lastmodifieddate`.
//! - `POST /crm/v3/objects/companies/search` (`docs/api/crm/search`): filters on
//!   `hs_lastmodifieddate` (`GTE`, `GT`), sorted by it, `limit` at most 200, `after`; `total`;
//!   a page past 10,000 results is `400 VALIDATION_ERROR`.
//! - `GET /crm/v3/properties/companies` (`docs/api/crm/properties`): `{results: [{name, label,
//!   type, fieldType, groupName}]}`, the default properties and the portal's own.
//! - `POST /crm/v3/objects/companies/batch/update` (`docs/api/crm/companies`): at most 100
//!   inputs; a property the portal lacks refuses the call (`400 VALIDATION_ERROR`); companies it
//!   does not have are named in a `207` answer's `errors` (`OBJECT_NOT_FOUND`, `context.ids`).
//!   `POST /crm/v3/properties/companies` (`docs/api/crm/properties`): `201`, or `409` when a
//!   property of that name exists.
//! - Limits and errors (`docs/api/usage-details`, `docs/api/error-handling`): every answer's
//!   `X-HubSpot-RateLimit-Max`, `-Remaining` and `-Interval-Milliseconds`; past a window's
//!   requests `429 {"status":"error","message":"You have reached your secondly limit.",
//!   "errorType":"RATE_LIMIT","policyName":"SECONDLY"}` with `Retry-After`; an expired token
//!   `401` with category `EXPIRED_AUTHENTICATION`; errors `{status, message, correlationId,
//!   category}`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Map, Value, json};

/// One company: its id, properties, modification time (ms) and whether archived.
#[derive(Clone)]
pub struct Company {
    pub id: String,
    pub properties: Map<String, Value>,
    pub modified: i64,
    pub archived: bool,
}

/// The portal's state, which a test may change between calls.
#[derive(Default)]
pub struct Portal {
    pub companies: Vec<Company>,
    /// Requests per rate-limit window (0: none), and how many of the current one are spent.
    pub window_max: u64,
    pub window_used: u64,
    /// The window's length, in milliseconds (HubSpot's is 10 s; tests shorten it), and when the
    /// current one started.
    pub interval_ms: u64,
    pub window_start: Option<std::time::Instant>,
    /// For a test: answer the next calls with 429, this many times.
    pub throttle: u32,
    /// The private app's token; the OAuth app and the refresh token it gave.
    pub private_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Access tokens from OAuth that are valid; how many were issued.
    pub oauth_tokens: HashSet<String>,
    pub issued: u64,
    /// Requests seen, as `METHOD path`.
    pub requests: Vec<String>,
    /// Calls that came past a spent window.
    pub overrun: u64,
    /// The portal's own company properties, beside HubSpot's default ones.
    pub custom_properties: Vec<String>,
    /// Codes given and not yet exchanged, with the redirect URI of each.
    pub codes: BTreeMap<String, String>,
    /// The portal's owners: id, first name, last name, e-mail.
    pub owners: Vec<(String, String, String, String)>,
    /// Whether the app lacks the scope `crm.objects.owners.read`.
    pub owners_forbidden: bool,
}

/// HubSpot's default company properties that a read may ask for, with their labels
/// (`docs/api/crm/properties` lists a portal's; these are the ones every portal has that the
/// presets read, and a few more). The labels are what a companies export writes as its header.
pub const DEFAULT_PROPERTIES: &[(&str, &str)] = &[
    ("name", "Company name"),
    ("domain", "Company Domain Name"),
    ("website", "Website URL"),
    ("hs_additional_domains", "Additional Domains"),
    ("phone", "Phone Number"),
    ("address", "Street Address"),
    ("city", "City"),
    ("state", "State/Region"),
    ("zip", "Postal Code"),
    ("country", "Country/Region"),
    ("industry", "Industry"),
    ("numberofemployees", "Number of Employees"),
    ("annualrevenue", "Annual Revenue"),
    ("lifecyclestage", "Lifecycle Stage"),
    ("hubspot_owner_id", "Company owner"),
    ("description", "Description"),
    ("createdate", "Create Date"),
    ("hs_lastmodifieddate", "Last Modified Date"),
    ("hs_object_id", "Record ID"),
];

/// `lifecyclestage`'s values and labels (`docs/api/crm/properties`, the default stages).
pub const LIFECYCLE_STAGES: &[(&str, &str)] = &[
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
];

pub type Shared = Arc<Mutex<Portal>>;

pub async fn start(portal: Portal) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(portal));
    let app = Router::new()
        .route("/oauth/v1/token", post(token))
        .route("/oauth/authorize", get(authorize))
        .route("/crm/v3/owners", get(owners))
        .route("/crm/v3/objects/companies", get(list))
        .route("/crm/v3/objects/companies/search", post(search))
        .route("/crm/v3/properties/companies", get(properties).post(create_property))
        .route("/crm/v3/objects/companies/batch/update", post(batch_update))
        .with_state(shared.clone());
    (super::serve(app).await, shared)
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({ "status": "error", "message": message, "correlationId": "emulated-0001", "category": category });
    (status, Json(body)).into_response()
}

async fn token(State(portal): State<Shared>, Form(form): Form<BTreeMap<String, String>>) -> Response {
    let mut p = portal.lock().unwrap();
    p.requests.push("POST /oauth/v1/token".into());
    let given = |k: &str| form.get(k).cloned().unwrap_or_default();
    if given("client_id") != p.client_id || given("client_secret") != p.client_secret {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "status": "BAD_CLIENT_ID", "message": "missing or unknown client id" })),
        )
            .into_response();
    }
    if given("grant_type") == "authorization_code" {
        let Some(redirect) = p.codes.remove(&given("code")) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "status": "BAD_AUTH_CODE", "message": "missing or invalid auth code" })),
            )
                .into_response();
        };
        if redirect != given("redirect_uri") {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "status": "BAD_REDIRECT_URI", "message": "redirect_uri does not match" })),
            )
                .into_response();
        }
        p.issued += 1;
        p.refresh_token = format!("emulated-refresh-{}", p.issued);
    } else if given("grant_type") != "refresh_token" || given("refresh_token") != p.refresh_token {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "status": "BAD_REFRESH_TOKEN", "message": "missing or invalid refresh token" })),
        )
            .into_response();
    }
    p.issued += 1;
    let access = format!("emulated-access-{}", p.issued);
    p.oauth_tokens.insert(access.clone());
    Json(
        json!({ "token_type": "bearer", "access_token": access, "refresh_token": p.refresh_token, "expires_in": 1800 }),
    )
    .into_response()
}

/// `GET /crm/v3/owners`: the owners, `limit` (at most 500) a page, `paging.next.after` while there
/// is more; `403 MISSING_SCOPES` without the owners' scope.
async fn owners(
    State(portal): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "GET owners") {
        return *refused;
    }
    if p.owners_forbidden {
        return with_limits(
            &p,
            error(
                StatusCode::FORBIDDEN,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
            ),
        );
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100).clamp(1, 500);
    let start: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = p
        .owners
        .iter()
        .skip(start)
        .take(limit)
        .map(|(id, first, last, email)| {
            json!({ "id": id, "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                "userId": 1, "archived": false, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z" })
        })
        .collect();
    let mut answer = json!({ "results": page });
    if start + limit < p.owners.len() {
        answer["paging"] = json!({ "next": { "after": (start + limit).to_string() } });
    }
    with_limits(&p, Json(answer).into_response())
}

/// `GET /oauth/authorize` (on app.hubspot.com): the install page, approved at once — `302` to
/// `redirect_uri?code=…&state=…`; an unknown client refused on the page.
async fn authorize(State(portal): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let mut p = portal.lock().unwrap();
    p.requests.push("GET oauth/authorize".into());
    let given = |k: &str| q.get(k).cloned().unwrap_or_default();
    let redirect = given("redirect_uri");
    if given("client_id") != p.client_id || redirect.is_empty() {
        return (StatusCode::BAD_REQUEST, "Authorization failed: unknown client or no redirect_uri").into_response();
    }
    p.issued += 1;
    let code = format!("emulated-code-{}", p.issued);
    p.codes.insert(code.clone(), redirect.clone());
    super::redirect_back(&redirect, &[("code", &code), ("state", &given("state"))])
}

/// The bearer check and the rate window, as every CRM call meets them; the limit headers.
fn admit(p: &mut Portal, headers: &HeaderMap, what: &str) -> Result<(), Box<Response>> {
    p.requests.push(what.to_owned());
    let token = super::bearer(headers);
    if token != p.private_token && !p.oauth_tokens.contains(token) {
        let expired = token.starts_with("emulated-access-");
        let (category, message) = match expired {
            true => ("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."),
            false => ("INVALID_AUTHENTICATION", "Authentication credentials not found."),
        };
        return Err(Box::new(error(StatusCode::UNAUTHORIZED, category, message)));
    }
    if p.throttle > 0 {
        p.throttle -= 1;
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "status": "error", "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT", "correlationId": "emulated-0002", "policyName": "SECONDLY" })),
        )
            .into_response();
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return Err(Box::new(response));
    }
    // The window: `interval_ms` long, `window_max` requests; a call past them is refused with
    // 429 and how long until the window frees up.
    let now = std::time::Instant::now();
    let interval = std::time::Duration::from_millis(p.interval_ms);
    if p.window_start.is_none_or(|start| now.duration_since(start) >= interval) {
        p.window_start = Some(now);
        p.window_used = 0;
    }
    if p.window_max > 0 && p.window_used >= p.window_max {
        p.overrun += 1;
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": "emulated-0003", "policyName": "TEN_SECONDLY_ROLLING" })),
        )
            .into_response();
        response.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
        return Err(Box::new(response));
    }
    p.window_used += 1;
    Ok(())
}

fn with_limits(p: &Portal, mut response: Response) -> Response {
    if p.window_max == 0 {
        // No rate limit in this test: no headers about one.
        return response;
    }
    let h = response.headers_mut();
    h.insert("x-hubspot-ratelimit-max", HeaderValue::from(p.window_max));
    h.insert("x-hubspot-ratelimit-remaining", HeaderValue::from(p.window_max.saturating_sub(p.window_used)));
    h.insert("x-hubspot-ratelimit-interval-milliseconds", HeaderValue::from(p.interval_ms));
    response
}

fn view(c: &Company, wanted: &[String]) -> Value {
    let mut properties = Map::new();
    for name in wanted {
        properties.insert(name.clone(), c.properties.get(name).cloned().unwrap_or(Value::Null));
    }
    properties.insert("hs_object_id".into(), json!(c.id));
    properties.insert("hs_lastmodifieddate".into(), json!(iso(c.modified)));
    let mut view = json!({ "id": c.id, "properties": properties, "createdAt": iso(0), "updatedAt": iso(c.modified), "archived": c.archived });
    if c.archived {
        view["archivedAt"] = json!(iso(c.modified));
    }
    view
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

async fn list(State(portal): State<Shared>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "GET companies") {
        return *refused;
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    if limit > 100 {
        return with_limits(&p, error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "limit may not exceed 100"));
    }
    let archived = q.get("archived").is_some_and(|a| a == "true");
    let wanted: Vec<String> =
        q.get("properties").map(|p| p.split(',').map(str::to_owned).collect()).unwrap_or_default();
    let after: usize = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let matching: Vec<&Company> = p.companies.iter().filter(|c| c.archived == archived).collect();
    let end = (after + limit).min(matching.len());
    let results: Vec<Value> = matching[after.min(end)..end].iter().map(|c| view(c, &wanted)).collect();
    let mut body = json!({ "results": results });
    if end < matching.len() {
        body["paging"] = json!({ "next": { "after": end.to_string(), "link": format!("?after={end}") } });
    }
    with_limits(&p, Json(body).into_response())
}

async fn search(State(portal): State<Shared>, headers: HeaderMap, Json(request): Json<Value>) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "POST companies/search") {
        return *refused;
    }
    let limit = request["limit"].as_u64().unwrap_or(10) as usize;
    let after: usize = request["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
    if limit > 200 {
        return with_limits(&p, error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "limit may not exceed 200"));
    }
    if after + limit > 10_000 {
        return with_limits(
            &p,
            error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "There was a problem with the request: after + limit may not exceed 10000",
            ),
        );
    }
    let filter = &request["filterGroups"][0]["filters"][0];
    if filter["propertyName"] != "hs_lastmodifieddate" {
        return with_limits(&p, error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "unsupported filter"));
    }
    let bound: i64 = filter["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
    let strict = filter["operator"] == "GT";
    let wanted: Vec<String> =
        request["properties"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    let mut matching: Vec<&Company> = p
        .companies
        .iter()
        .filter(|c| !c.archived && if strict { c.modified > bound } else { c.modified >= bound })
        .collect();
    matching.sort_by_key(|c| (c.modified, c.id.clone()));
    let end = (after + limit).min(matching.len());
    let results: Vec<Value> = matching[after.min(end)..end].iter().map(|c| view(c, &wanted)).collect();
    let mut body = json!({ "total": matching.len(), "results": results });
    if end < matching.len() {
        body["paging"] = json!({ "next": { "after": end.to_string() } });
    }
    with_limits(&p, Json(body).into_response())
}

async fn properties(State(portal): State<Shared>, headers: HeaderMap) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "GET properties/companies") {
        return *refused;
    }
    let own = p.custom_properties.iter().map(|n| (n.as_str(), n.as_str()));
    let results: Vec<Value> = DEFAULT_PROPERTIES
        .iter()
        .copied()
        .chain(own)
        .map(|(name, label)| {
            let options: Vec<Value> = match name {
                "lifecyclestage" => LIFECYCLE_STAGES
                    .iter()
                    .enumerate()
                    .map(|(i, (value, label))| json!({ "label": label, "value": value, "displayOrder": i, "hidden": false }))
                    .collect(),
                _ => Vec::new(),
            };
            let kind = if options.is_empty() { ("string", "text") } else { ("enumeration", "select") };
            json!({ "name": name, "label": label, "type": kind.0, "fieldType": kind.1,
                "groupName": "companyinformation", "options": options })
        })
        .collect();
    with_limits(&p, Json(json!({ "results": results })).into_response())
}

async fn create_property(State(portal): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "POST properties/companies") {
        return *refused;
    }
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    if name.is_empty() || body["type"].as_str().is_none() || body["groupName"].as_str().is_none() {
        return with_limits(
            &p,
            error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Property is missing required fields"),
        );
    }
    if DEFAULT_PROPERTIES.iter().any(|(n, _)| *n == name) || p.custom_properties.contains(&name) {
        return with_limits(
            &p,
            error(StatusCode::CONFLICT, "OBJECT_ALREADY_EXISTS", "A property with that name already exists"),
        );
    }
    p.custom_properties.push(name.clone());
    with_limits(
        &p,
        (StatusCode::CREATED, Json(json!({ "name": name, "label": body["label"], "type": body["type"] })))
            .into_response(),
    )
}

async fn batch_update(State(portal): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut p = portal.lock().unwrap();
    if let Err(refused) = admit(&mut p, &headers, "POST companies/batch/update") {
        return *refused;
    }
    let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
    if inputs.len() > 100 {
        return with_limits(
            &p,
            error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Batch input size exceeds the limit of 100"),
        );
    }
    let known = |name: &str, p: &Portal| {
        DEFAULT_PROPERTIES.iter().any(|(n, _)| *n == name) || p.custom_properties.iter().any(|c| c == name)
    };
    for input in &inputs {
        for name in input["properties"].as_object().into_iter().flatten().map(|(k, _)| k) {
            if !known(name, &p) {
                return with_limits(
                    &p,
                    error(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        &format!("Property values were not valid: {name} does not exist"),
                    ),
                );
            }
        }
    }
    let (mut results, mut missing) = (Vec::new(), Vec::new());
    for input in inputs {
        let id = input["id"].as_str().unwrap_or_default().to_owned();
        match p.companies.iter_mut().find(|c| c.id == id && !c.archived) {
            Some(company) => {
                for (k, v) in input["properties"].as_object().cloned().unwrap_or_default() {
                    company.properties.insert(k, v);
                }
                results.push(json!({ "id": id, "properties": input["properties"], "archived": false }));
            }
            None => missing.push(id),
        }
    }
    let mut answer = json!({ "status": "COMPLETE", "results": results });
    let status = if missing.is_empty() {
        StatusCode::OK
    } else {
        answer["errors"] = json!([{ "status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some COMPANY objects, they may be deleted or not exist.", "context": { "ids": missing } }]);
        StatusCode::MULTI_STATUS
    };
    with_limits(&p, (status, Json(answer)).into_response())
}
