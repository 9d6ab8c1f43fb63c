//! HubSpot's CRM v3 API, as a node reads a portal's companies with it.
//!
//! References (developers.hubspot.com; the emulator in `tests/crm-emulator/src/hubspot.rs` follows
//! the same):
//! - Authentication: a private app's access token, or OAuth 2.0 with a refresh token
//!   (`docs/api/oauth/tokens`: `POST /oauth/v1/token`, `grant_type=refresh_token` with the app's
//!   client id and secret, answered with `access_token`, `refresh_token`, `expires_in`).
//! - Companies: `docs/api/crm/companies` — `GET /crm/v3/objects/companies?limit=…&after=…&
//!   properties=…&archived=…`, at most 100 per page, answered with `results` (`id`,
//!   `properties`, `createdAt`, `updatedAt`, `archived`, and `archivedAt` for an archived one)
//!   and `paging.next.after` while there is more; `archived=true` lists the archived (deleted)
//!   ones.
//! - Search: `docs/api/crm/search` — `POST /crm/v3/objects/companies/search` with
//!   `filterGroups`, `sorts`, `properties`, `limit` (at most 200) and `after`; one query reaches
//!   at most 10,000 results (a page past them is refused with 400), so a larger change set is
//!   read in windows of `hs_lastmodifieddate`.
//! - Properties: `docs/api/crm/properties` — `GET /crm/v3/properties/companies`, answered with
//!   `results`, each property's internal `name` (what `properties=` takes), its `label` (what an
//!   export's header writes) and an enumeration's `options` (`label`, `value`), the portal's own
//!   properties too.
//! - Writing: `docs/api/crm/companies` — `POST /crm/v3/objects/companies/batch/update` with
//!   `{"inputs": [{"id", "properties"}]}` (at most 100), answered `200` with `results`, or `207`
//!   with `errors` naming the ids not updated (`context.ids`); `docs/api/crm/properties` — `POST
//!   /crm/v3/properties/companies` makes a property (`409` if the portal has one of that name).
//! - Owners: `docs/api/crm/owners` — `GET /crm/v3/owners?limit=…&after=…`, answered with
//!   `results` (`id`, `email`, `firstName`, `lastName`, `archived`) and `paging.next.after`; a
//!   company's `hubspot_owner_id` is one of these ids, and an export writes the owner's name.
//!   Needs the scope `crm.objects.owners.read` (`403`, category `MISSING_SCOPES`, without).
//! - Limits and errors: `docs/api/usage-details` and `docs/api/error-handling` — every answer's
//!   `X-HubSpot-RateLimit-Remaining`, `-Max` and `-Interval-Milliseconds`; `429` when a window's
//!   requests are spent (`errorType: RATE_LIMIT`), with `Retry-After` where given; error bodies
//!   `{status: "error", message, correlationId, category}`, `401` with category
//!   `EXPIRED_AUTHENTICATION` or `INVALID_AUTHENTICATION`.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::secret::Secret;

/// The most a search reaches in one query.
pub const SEARCH_WINDOW: usize = 10_000;
/// Companies per list page (the API's largest).
const LIST_LIMIT: usize = 100;
/// Companies per search page (the API's largest).
const SEARCH_LIMIT: usize = 200;
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// How often a call rate-limited is tried again before the sync gives up.
const RATE_LIMIT_RETRIES: u32 = 6;

/// Why a call to HubSpot failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubSpotError {
    /// The token endpoint, or the API, refused the credentials.
    #[error("HubSpot refused the connection's credentials: {0}")]
    Auth(String),
    /// HubSpot refused the call: its status, category and message.
    #[error("HubSpot answered {status} {category}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's `category` (`VALIDATION_ERROR`, `RATE_LIMITS`, …).
        category: String,
        /// Its message.
        message: String,
    },
    /// Still rate limited after waiting as told, several times.
    #[error("HubSpot kept answering 429 (rate limited) after {0} waits; the sync stops here and can resume")]
    RateLimited(u32),
    /// More companies than one search window share one modification time: they cannot be
    /// read past by time.
    #[error(
        "more than {SEARCH_WINDOW} companies were modified in the same millisecond ({0}); read them in a full sync"
    )]
    Window(i64),
    /// An answer that is not what the API documents.
    #[error("HubSpot's answer does not read: {0}")]
    Answer(String),
    /// The connection itself.
    #[error("cannot reach HubSpot: {0}")]
    Transport(String),
}

impl From<reqwest::Error> for HubSpotError {
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e.without_url().to_string())
    }
}

/// How a connection authenticates.
#[derive(Debug)]
pub enum Auth {
    /// A private app's access token (scope `crm.objects.companies.read`).
    PrivateApp {
        /// The token.
        token: Secret,
    },
    /// An OAuth app installed in the portal: its client and the refresh token it was given.
    OAuth {
        /// The app's client id.
        client_id: String,
        /// Its client secret.
        client_secret: Secret,
        /// The refresh token (HubSpot's do not expire until the app is uninstalled).
        refresh_token: Secret,
    },
}

/// One company as the API gives it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// Its record id.
    pub id: String,
    /// The properties asked for (a property without a value is `null` or absent).
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// When it last changed, RFC 3339.
    #[serde(default)]
    pub updated_at: String,
    /// Whether it is archived (deleted).
    #[serde(default)]
    pub archived: bool,
    /// When it was archived, RFC 3339 (archived companies only).
    #[serde(default)]
    pub archived_at: Option<String>,
}

impl Company {
    /// When it was archived, in milliseconds, where the answer says.
    pub fn archived_ms(&self) -> Option<i64> {
        jiff::Timestamp::from_str(self.archived_at.as_deref()?).ok().map(|t| t.as_millisecond())
    }

    /// `hs_lastmodifieddate` in milliseconds, where the properties carry it.
    pub fn modified_ms(&self) -> Option<i64> {
        let value = self.properties.get("hs_lastmodifieddate")?.as_str()?;
        value.parse().ok().or_else(|| jiff::Timestamp::from_str(value).ok().map(|t| t.as_millisecond()))
    }
}

/// A page of companies and where the next one starts.
#[derive(Debug)]
pub struct Page {
    /// Its companies.
    pub companies: Vec<Company>,
    /// The `after` of the next page, if any.
    pub after: Option<String>,
}

#[derive(Deserialize)]
struct PageAnswer {
    results: Vec<Company>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<NextAfter>,
}

#[derive(Deserialize)]
struct NextAfter {
    after: String,
}

/// The most companies one batch call takes.
pub const BATCH_MAX: usize = 100;

/// What a batch update did: the ids updated, those the portal has no company of, and those
/// refused with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Updated.
    pub updated: Vec<String>,
    /// Not updated: no such company (archived, deleted or never there; `OBJECT_NOT_FOUND`).
    pub missing: Vec<String>,
    /// Not updated for another reason, with HubSpot's words and category.
    pub failed: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<BatchResult>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

#[derive(Deserialize)]
struct BatchResult {
    id: String,
}

#[derive(Deserialize)]
struct BatchError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    context: BatchContext,
}

#[derive(Default, Deserialize)]
struct BatchContext {
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct PropertiesAnswer {
    results: Vec<Property>,
}

/// A user who may own records, as the owners API describes them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Its id: what `hubspot_owner_id` holds.
    pub id: String,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
}

impl Owner {
    /// The name an export writes for the owner: first and last name, or the e-mail address.
    pub fn name(&self) -> String {
        let name: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        if name.is_empty() { self.email.clone().unwrap_or_default() } else { name.join(" ") }
    }
}

#[derive(Deserialize)]
struct OwnersAnswer {
    results: Vec<Owner>,
    #[serde(default)]
    paging: Option<Paging>,
}

/// The most owners a portal may list: a bound on what a read holds in memory.
const OWNERS_MAX: usize = 100_000;

/// A company property, as the properties API describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct Property {
    /// Its internal name, which `properties=` takes (`lifecyclestage`).
    pub name: String,
    /// What people see, and an export's header writes (`Lifecycle Stage`).
    #[serde(default)]
    pub label: String,
    /// An enumeration's values with their labels (an export writes the label).
    #[serde(default)]
    pub options: Vec<PropertyOption>,
}

/// One value of an enumeration property.
#[derive(Clone, Debug, Deserialize)]
pub struct PropertyOption {
    /// What people see (`Customer`).
    #[serde(default)]
    pub label: String,
    /// What the API reads and writes (`customer`).
    pub value: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    category: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// The rate limit as the last answer told it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests left in the current window.
    pub remaining: u64,
    /// Requests per window.
    pub max: u64,
    /// The window's length.
    pub interval: Duration,
}

/// A connection to one portal.
pub struct HubSpot {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    access: Option<Secret>,
    rate: Option<RateLimit>,
    /// The longest single wait a `Retry-After` may ask for.
    max_wait: Duration,
    /// Calls made, for the caller's accounting.
    calls: u64,
}

impl HubSpot {
    /// A connection to the API at `base` (`https://api.hubapi.com`).
    pub fn new(http: reqwest::Client, base: Url, auth: Auth) -> Self {
        Self { http, base, auth, access: None, rate: None, max_wait: Duration::from_secs(60), calls: 0 }
    }

    /// The rate limit as last reported.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate
    }

    /// Calls made so far (retries included).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The company properties the portal has (its own included): the columns a read of
    /// companies may ask for, with the labels an export writes for them and their values.
    pub async fn company_properties(&mut self) -> Result<Vec<Property>, HubSpotError> {
        let url = self.url("/crm/v3/properties/companies")?;
        let answer: PropertiesAnswer = self.call(&Method::Get(url)).await?;
        if let Some(bad) =
            answer.results.iter().find(|p| p.name.is_empty() || !p.name.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(HubSpotError::Answer(format!("a property named {:?}", bad.name)));
        }
        Ok(answer.results)
    }

    /// Every owner of the portal (active ones; page by page).
    pub async fn owners(&mut self) -> Result<Vec<Owner>, HubSpotError> {
        let mut owners = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = self.url("/crm/v3/owners")?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", &LIST_LIMIT.to_string());
                if let Some(after) = &after {
                    q.append_pair("after", after);
                }
            }
            let answer: OwnersAnswer = self.call(&Method::Get(url)).await?;
            owners.extend(answer.results);
            if owners.len() > OWNERS_MAX {
                return Err(HubSpotError::Answer(format!("more than {OWNERS_MAX} owners")));
            }
            match answer.paging.and_then(|p| p.next).map(|n| n.after) {
                Some(next) if Some(&next) != after.as_ref() => after = Some(next),
                Some(_) => return Err(HubSpotError::Answer("the owners' paging does not move on".into())),
                None => return Ok(owners),
            }
        }
    }

    /// A page of companies with `properties`, the archived ones when `archived`, from `after`.
    pub async fn companies(
        &mut self,
        properties: &[&str],
        archived: bool,
        after: Option<&str>,
    ) -> Result<Page, HubSpotError> {
        let mut url = self.url("/crm/v3/objects/companies")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &LIST_LIMIT.to_string());
            q.append_pair("archived", if archived { "true" } else { "false" });
            if !properties.is_empty() {
                q.append_pair("properties", &properties.join(","));
            }
            if let Some(after) = after {
                q.append_pair("after", after);
            }
        }
        self.page(Method::Get(url)).await
    }

    /// One page of the companies modified at or after `since_ms`, oldest first, from `after`.
    pub async fn modified_since(
        &mut self,
        properties: &[&str],
        since_ms: i64,
        after: Option<&str>,
    ) -> Result<Page, HubSpotError> {
        let mut wanted: Vec<&str> = properties.to_vec();
        if !wanted.contains(&"hs_lastmodifieddate") {
            wanted.push("hs_lastmodifieddate");
        }
        let mut body = json!({
            "filterGroups": [{ "filters": [
                { "propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since_ms.to_string() }] }],
            "sorts": [{ "propertyName": "hs_lastmodifieddate", "direction": "ASCENDING" }],
            "properties": wanted,
            "limit": SEARCH_LIMIT,
        });
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        let url = self.url("/crm/v3/objects/companies/search")?;
        self.page(Method::Post(url, body)).await
    }

    /// Every company modified at or after `since_ms`, however many, handed to `each` a page at a
    /// time (see [`Changes`]). Returns the latest modification time read (the next sync's
    /// start), or `since_ms`.
    pub async fn each_modified_since<F>(
        &mut self,
        properties: &[&str],
        since_ms: i64,
        mut each: F,
    ) -> Result<i64, HubSpotError>
    where
        F: FnMut(Vec<Company>),
    {
        let mut changes = Changes::since(since_ms);
        while let Some(page) = changes.next_page(self, properties).await? {
            each(page);
        }
        Ok(changes.newest())
    }

    /// Sets properties of up to [`BATCH_MAX`] companies (`batch/update`): the ids the portal
    /// updated, and those it did not (with why) — a partial answer (`207`) names them.
    pub async fn update_companies(
        &mut self,
        inputs: &[(String, Map<String, Value>)],
    ) -> Result<BatchOutcome, HubSpotError> {
        if inputs.len() > BATCH_MAX {
            return Err(HubSpotError::Answer(format!("at most {BATCH_MAX} companies a call")));
        }
        let body = json!({
            "inputs": inputs.iter().map(|(id, properties)| json!({ "id": id, "properties": properties })).collect::<Vec<_>>(),
        });
        let url = self.url("/crm/v3/objects/companies/batch/update")?;
        let answer: BatchAnswer = self.call(&Method::Post(url, body)).await?;
        let mut outcome =
            BatchOutcome { updated: answer.results.into_iter().map(|r| r.id).collect(), ..BatchOutcome::default() };
        for error in answer.errors {
            for id in error.context.ids {
                if error.category == "OBJECT_NOT_FOUND" {
                    outcome.missing.push(id);
                } else {
                    outcome.failed.push((id, format!("{} ({})", error.message, error.category)));
                }
            }
        }
        Ok(outcome)
    }

    /// Makes a company property (text shown on the record) unless the portal has it: `true` if
    /// this call made it.
    pub async fn ensure_company_property(
        &mut self,
        name: &str,
        label: &str,
        description: &str,
    ) -> Result<bool, HubSpotError> {
        let url = self.url("/crm/v3/properties/companies")?;
        let body = json!({ "name": name, "label": label, "description": description, "type": "string",
            "fieldType": "textarea", "groupName": "companyinformation" });
        match self.call::<Value>(&Method::Post(url, body)).await {
            Ok(_) => Ok(true),
            Err(HubSpotError::Api { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn url(&self, path: &str) -> Result<Url, HubSpotError> {
        self.base.join(path).map_err(|e| HubSpotError::Answer(format!("the base URL: {e}")))
    }

    async fn page(&mut self, method: Method) -> Result<Page, HubSpotError> {
        let answer: PageAnswer = self.call(&method).await?;
        Ok(Page { companies: answer.results, after: answer.paging.and_then(|p| p.next).map(|n| n.after) })
    }

    /// The access token to send: the private app's, or one from the refresh token.
    async fn access(&mut self) -> Result<Secret, HubSpotError> {
        if let Some(token) = &self.access {
            return Ok(token.clone());
        }
        let token = match &self.auth {
            Auth::PrivateApp { token } => token.clone(),
            Auth::OAuth { client_id, client_secret, refresh_token } => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                    ("refresh_token", refresh_token.expose()),
                ];
                let response = self.http.post(self.url("/oauth/v1/token")?).form(&form).send().await?;
                self.calls += 1;
                let status = response.status();
                let body = read_capped(response).await?;
                if !status.is_success() {
                    let refused: ErrorBody = serde_json::from_slice(&body)
                        .unwrap_or(ErrorBody { message: format!("HTTP {}", status.as_u16()), category: String::new() });
                    return Err(HubSpotError::Auth(refused.message));
                }
                let answer: TokenAnswer = serde_json::from_slice(&body)
                    .map_err(|e| HubSpotError::Answer(format!("the token answer: {e}")))?;
                Secret::new(answer.access_token)
            }
        };
        self.access = Some(token.clone());
        Ok(token)
    }

    /// One call, waiting out rate limits as told and refreshing an expired OAuth token once.
    async fn call<T: serde::de::DeserializeOwned>(&mut self, method: &Method) -> Result<T, HubSpotError> {
        let mut waits = 0;
        let mut refreshed = false;
        loop {
            if let Some(RateLimit { remaining: 0, interval, .. }) = self.rate {
                tokio::time::sleep(interval.min(self.max_wait)).await;
                self.rate = None;
            }
            let token = self.access().await?;
            let request = match method {
                Method::Get(url) => self.http.get(url.clone()),
                Method::Post(url, body) => self.http.post(url.clone()).json(body),
            };
            let response = request.bearer_auth(token.expose()).timeout(Duration::from_secs(120)).send().await?;
            self.calls += 1;
            self.rate = rate_limit(response.headers());
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|h| h.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = read_capped(response).await?;
            if (200..300).contains(&status) {
                return serde_json::from_slice(&body).map_err(|e| HubSpotError::Answer(e.to_string()));
            }
            let error: ErrorBody = serde_json::from_slice(&body).unwrap_or(ErrorBody {
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                category: String::new(),
            });
            match status {
                429 if waits < RATE_LIMIT_RETRIES => {
                    waits += 1;
                    let wait = retry_after
                        .or(self.rate.map(|r| r.interval))
                        .unwrap_or(Duration::from_secs(1))
                        .min(self.max_wait);
                    tokio::time::sleep(wait).await;
                    self.rate = None;
                }
                429 => return Err(HubSpotError::RateLimited(waits)),
                401 if !refreshed && matches!(self.auth, Auth::OAuth { .. }) => {
                    refreshed = true;
                    self.access = None;
                }
                401 => return Err(HubSpotError::Auth(format!("{} ({})", error.message, error.category))),
                _ => return Err(HubSpotError::Api { status, category: error.category, message: error.message }),
            }
        }
    }
}

enum Method {
    Get(Url),
    Post(Url, Value),
}

/// The companies modified at or after a time, however many, read a page at a time: searches of
/// at most 10,000 results ([`SEARCH_WINDOW`]), each next one starting at the last modification
/// time read, the companies of that millisecond already read skipped. More changes in one
/// millisecond than a search reaches are refused ([`HubSpotError::Window`]).
#[derive(Debug)]
pub struct Changes {
    /// Where the current search starts.
    since: i64,
    /// The latest modification read, and the ids read at it.
    newest: i64,
    at_newest: HashSet<String>,
    /// The current search's next page, and how many results it has given.
    after: Option<String>,
    in_window: usize,
    done: bool,
}

impl Changes {
    /// The changes at or after `since_ms`.
    pub fn since(since_ms: i64) -> Self {
        Self { since: since_ms, newest: since_ms, at_newest: HashSet::new(), after: None, in_window: 0, done: false }
    }

    /// The latest modification time read so far (where the next sync starts), or the start.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// The next page of companies not read yet (possibly empty), or `None` at the end.
    pub async fn next_page(
        &mut self,
        hs: &mut HubSpot,
        properties: &[&str],
    ) -> Result<Option<Vec<Company>>, HubSpotError> {
        if self.done {
            return Ok(None);
        }
        let page = hs.modified_since(properties, self.since, self.after.as_deref()).await?;
        self.in_window += page.companies.len();
        let mut fresh = Vec::with_capacity(page.companies.len());
        for company in page.companies {
            let modified = company
                .modified_ms()
                .ok_or_else(|| HubSpotError::Answer("a company without hs_lastmodifieddate".into()))?;
            if modified < self.newest || (modified == self.newest && self.at_newest.contains(&company.id)) {
                continue;
            }
            if modified > self.newest {
                self.newest = modified;
                self.at_newest.clear();
            }
            self.at_newest.insert(company.id.clone());
            fresh.push(company);
        }
        match page.after {
            None => self.done = true,
            Some(next) if self.in_window + SEARCH_LIMIT <= SEARCH_WINDOW => self.after = Some(next),
            // The window is full: the next search starts at the newest time read.
            Some(_) => {
                if self.newest == self.since {
                    return Err(HubSpotError::Window(self.newest));
                }
                self.since = self.newest;
                self.after = None;
                self.in_window = 0;
            }
        }
        Ok(Some(fresh))
    }
}

/// `X-HubSpot-RateLimit-Remaining`, `-Max` and `-Interval-Milliseconds`, where all are given.
fn rate_limit(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    Some(RateLimit {
        remaining: number("x-hubspot-ratelimit-remaining")?,
        max: number("x-hubspot-ratelimit-max")?,
        interval: Duration::from_millis(number("x-hubspot-ratelimit-interval-milliseconds")?),
    })
}

async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, HubSpotError> {
    crate::body::read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
        crate::body::BodyError::TooLarge(max) => HubSpotError::Answer(format!("an answer larger than {max} bytes")),
        crate::body::BodyError::Transport(e) => e.into(),
    })
}
