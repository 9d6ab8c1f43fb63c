//! blindmap's CRM connectors (issue 17): reading accounts straight from a CRM's published API,
//! on the node that holds the CRM's credentials, so that keys are made locally from fresh data.
//!
//! - [`salesforce`]: the OAuth 2.0 JWT bearer flow (a connected app with a certificate) and the
//!   refresh-token grant of the web-server flow; SOQL queries through the REST API with
//!   `nextRecordsUrl` paging (`query`, and `queryAll` for deleted records) and through Bulk API
//!   2.0 query jobs (CSV result pages by locator) for large reads; the org's API quota
//!   read from every response's `Sforce-Limit-Info`, with calls paused at a configurable share.
//! - [`hubspot`]: a private app's token or OAuth with a refresh token; the CRM v3 companies
//!   list (`after` paging, archived companies) and search by `hs_lastmodifieddate` in windows
//!   under the search's 10,000-result cap; rate limits from the answers' headers, `429` waited
//!   out as `Retry-After` says.
//! - [`oauth`]: the authorization-code grant (Salesforce's web-server flow with PKCE, HubSpot's
//!   OAuth) by which an admin approves the node once and the node keeps the refresh token.
//!
//! This crate is HTTP clients only: it stores nothing and knows no dataset. The caller hands it
//! a `reqwest::Client` (the node's outbound client: Mozilla's roots through ring, no redirects),
//! its secrets, and what to read; it hands back records as the CRM wrote them. Every answer is
//! untrusted: sizes, URLs and shapes are checked before use, and an error names what was wrong
//! without echoing a secret.
//!
//! The tests run against an emulator of each vendor's published contract on loopback
//! (`tests/crm-emulator/`, a crate of the workspace that the node's tests and benchmarks use too), each behaviour citing the reference page it follows.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
pub mod hubspot;
pub mod oauth;
pub mod salesforce;
mod secret;

pub use secret::Secret;
