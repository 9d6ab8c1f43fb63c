//! Store errors.

use blindmap_records::ImportError;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL: use sqlite:PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl,
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Migrating the schema failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Something named does not exist (for this organisation).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database's writer stayed busy longer than the store waits (SQLite during a long
    /// import): nothing was written; try again shortly.
    #[error("the database is busy with another write; try again shortly")]
    Busy,
    /// A record changed between reading and writing it: read it again and retry.
    #[error("the record changed meanwhile; try again")]
    Changed,
    /// Something in use cannot be deleted (what, and why).
    #[error("cannot delete {0}")]
    InUse(&'static str),
    /// A dataset cannot be deleted now (why).
    #[error("the dataset cannot be deleted: {0}")]
    DatasetInUse(&'static str),
    /// A run of the partnership is running already: one at a time.
    #[error("a match with this partner is running already; wait for it to end")]
    RunInProgress,
    /// A sync of the CRM connection is running already: one at a time.
    #[error("a sync of this connection is running already; wait for it to end")]
    SyncInProgress,
    /// A write-back of the CRM connection is running already: one at a time.
    #[error("a write-back of this connection is running already; wait for it to end")]
    WritebackInProgress,
    /// The partnership has ended: nothing runs in it any more.
    #[error("the partnership has ended")]
    Ended,
    /// The user is disabled or removed: it can neither sign in nor be given tokens or links.
    #[error("the user is {0}")]
    UserInactive(&'static str),
    /// Disabling or removing this admin would leave its organisation without an active admin.
    #[error("the organisation's last active admin cannot be disabled or removed")]
    LastAdmin,
    /// A page of a list asked for by its number lies too deep in a list read in many pieces
    /// (across partners): it is reached from a row, by next and previous pages. The deepest
    /// page by number from either end.
    #[error(
        "that page is too deep to open by its number (at most page {0} from either end): use next and previous pages, or narrow the list"
    )]
    TooDeep(u64),
    /// A name is empty or too long.
    #[error("{0} must be 1 to 200 characters")]
    InvalidName(&'static str),
    /// An import failed; nothing of it was stored.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// Stored data does not make a dataset the protocol accepts.
    #[error("the stored dataset is not valid: {0}")]
    Dataset(#[from] blindmap_psi::InputError),
    /// A stored value does not parse (or a sealed secret does not open).
    #[error("corrupt stored value in {0}")]
    Corrupt(&'static str),
    /// The store was given no secrets key, and was asked to keep or read a secret.
    #[error("no secrets key is configured: secrets cannot be kept or read")]
    NoSecretsKey,
    /// A secret is sealed under a key the store was not given.
    #[error("a secret in {column} is sealed under key {key}, which is not among the configured secrets keys")]
    UnknownSecretsKey {
        /// Where the secret is.
        column: &'static str,
        /// The id of the key that sealed it.
        key: String,
    },
    /// A secrets key's text is not 32 bytes in base64.
    #[error("a secrets key is 32 random bytes in base64 (e.g. `openssl rand -base64 32`)")]
    InvalidSecretsKey,
    /// A file of the store could not be created or made private.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        error: std::io::Error,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLite's one writer was busy for longer than the busy timeout (a long import holds it).
        let busy = matches!(&e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6" | "517")));
        if busy { Self::Busy } else { Self::Database(e) }
    }
}

/// A unique-constraint violation (both backends report it as such).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
