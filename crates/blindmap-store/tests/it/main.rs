//! The store's integration tests, one binary, each on SQLite and (where configured) PostgreSQL.

mod alerts;
mod attribution;
mod crm;
mod retention;
mod schedules;
mod secrets;
mod store;
