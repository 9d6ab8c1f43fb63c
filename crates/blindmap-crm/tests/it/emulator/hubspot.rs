//! A HubSpot portal, as far as the connector calls it. References (developers.hubspot.com; the
//! same as `blindmap_crm::hubspot`'s):
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
pub(crate) struct Company {
    pub(crate) id: String,
    pub(crate) properties: Map<String, Value>,
    pub(crate) modified: i64,
    pub(crate) archived: bool,
}

/// The portal's state, which a test may change between calls.
#[derive(Default)]
pub(crate) struct Portal {
    pub(crate) companies: Vec<Company>,
    /// Requests per rate-limit window (0: none), and how many of the current one are spent.
    pub(crate) window_max: u64,
    pub(crate) window_used: u64,
    /// The window's length, in milliseconds (HubSpot's is 10 s; tests shorten it), and when the
    /// current one started.
    pub(crate) interval_ms: u64,
    pub(crate) window_start: Option<std::time::Instant>,
    /// For a test: answer the next calls with 429, this many times.
    pub(crate) throttle: u32,
    /// The private app's token; the OAuth app and the refresh token it gave.
    pub(crate) private_token: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) refresh_token: String,
    /// Access tokens from OAuth that are valid; how many were issued.
    pub(crate) oauth_tokens: HashSet<String>,
    pub(crate) issued: u64,
    /// Requests seen, as `METHOD path`.
    pub(crate) requests: Vec<String>,
    /// Calls that came past a spent window.
    pub(crate) overrun: u64,
}

pub(crate) type Shared = Arc<Mutex<Portal>>;

pub(crate) async fn start(portal: Portal) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(portal));
    let app = Router::new()
        .route("/oauth/v1/token", post(token))
        .route("/crm/v3/objects/companies", get(list))
        .route("/crm/v3/objects/companies/search", post(search))
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
    if given("grant_type") != "refresh_token" || given("refresh_token") != p.refresh_token {
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
    json!({ "id": c.id, "properties": properties, "createdAt": iso(0), "updatedAt": iso(c.modified), "archived": c.archived })
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
