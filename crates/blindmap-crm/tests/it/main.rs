//! The connectors against emulators of the vendors' published APIs, on loopback; and, opt-in,
//! against a real org and portal (`live.rs`: skipped unless their credentials are given).

mod hubspot;
mod live;
mod oauth;
mod salesforce;
