//! The connectors against emulators of the vendors' published APIs, on loopback.

mod emulator;
mod hubspot;
mod salesforce;
