//! What the node does, whoever asks — the API, the pages, a partner's node or a worker: match
//! runs (started, driven over the peer channel, stored whole or not at all), co-sell records kept
//! in step with partners, deal registrations and their checks, attribution, users' corrections,
//! and the webhook worker that delivers the event outbox.

pub(crate) mod attribution;
pub(crate) mod corrections;
pub(crate) mod cosell;
pub(crate) mod hooks;
pub(crate) mod registrations;
pub(crate) mod runs;
