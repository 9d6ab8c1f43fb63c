//! The connectors against emulators of the vendors' published APIs, on loopback.

mod hubspot;
mod salesforce;
