//! The node's integration tests, one binary: each module drives the node (its API, pages, peer
//! channel, workers) as a client would; `common` holds the helpers they share.

mod common;

mod admin_browser;
mod admin_web;
mod alerts;
mod api;
mod attribution;
mod attribution_web;
mod browser;
mod browser_partner;
mod corrections;
mod cosell;
mod crm;
mod ecosystem_web;
mod hooks;
mod limits;
mod matching;
mod node;
mod pairing;
mod partner_page;
mod partners;
mod peer;
mod registrations;
mod replicas;
mod reports_browser;
mod schedules;
mod sso;
mod tiers;
mod web;
