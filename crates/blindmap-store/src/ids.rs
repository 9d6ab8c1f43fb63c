//! Identifiers and times.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngExt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) String);

        impl $name {
            /// A new random id.
            pub fn generate() -> Self {
                Self(format!(concat!($prefix, "_{}"), random_hex()))
            }

            /// Wraps an id read from a user or a URL; the store checks it belongs to the caller.
            pub fn parse(text: &str) -> Option<Self> {
                let hex = text.strip_prefix(concat!($prefix, "_"))?;
                (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(text.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An organisation's id, `org_…`.
    OrgId,
    "org"
);
id_type!(
    /// A user's id, `usr_…`.
    UserId,
    "usr"
);
id_type!(
    /// An API token's id (not the token), `tok_…`.
    TokenId,
    "tok"
);
id_type!(
    /// A dataset's id, `ds_…`.
    DatasetId,
    "ds"
);
id_type!(
    /// A partner touch's id, `tc_…`.
    TouchId,
    "tc"
);
id_type!(
    /// An inbound webhook source's id, `src_…`: the last segment of its receiver's URL.
    SourceId,
    "src"
);
id_type!(
    /// A partnership's id on this node, `pt_…`.
    PartnershipId,
    "pt"
);
id_type!(
    /// A match run's id on this node, `run_…`.
    RunId,
    "run"
);
id_type!(
    /// An event's id, `msg_…`: the `webhook-id` its deliveries carry.
    EventId,
    "msg"
);
id_type!(
    /// A webhook endpoint's id, `whe_…`.
    EndpointId,
    "whe"
);
id_type!(
    /// A match correction's id, `mc_…`.
    CorrectionId,
    "mc"
);
id_type!(
    /// A CRM connection's id, `crm_…`.
    ConnectionId,
    "crm"
);
id_type!(
    /// A CRM sync's id, `sync_…`.
    SyncId,
    "sync"
);
id_type!(
    /// A CRM write-back's id, `wb_…`.
    WritebackId,
    "wb"
);
id_type!(
    /// A scheduled run's job, `job_…`.
    JobId,
    "job"
);
id_type!(
    /// A refused run against this side, `rf_…`.
    RefusalId,
    "rf"
);

id_type!(
    /// A chat tool alerts go to, `ach_…`.
    AlertChannelId,
    "ach"
);
id_type!(
    /// An alert rule, `alr_…`.
    AlertRuleId,
    "alr"
);
id_type!(
    /// An alert message, `alm_…`.
    AlertMessageId,
    "alm"
);

/// 128 random bits as hex.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
