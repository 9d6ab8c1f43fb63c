//! What can go wrong in the page's import and session, in words a partner can act on.

/// An import or a session failed. The page shows the message as it is: an import's names the
/// file, the line and the column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The export cannot be read: the importer's own message, with its line and column.
    #[error(transparent)]
    Import(#[from] blindmap_records::ImportError),
    /// No preset of that name.
    #[error("unknown preset {0:?}; presets: auto, salesforce, hubspot, generic")]
    UnknownPreset(String),
    /// A preset and a mapping file were both given.
    #[error("give a preset or a mapping file, not both (a mapping file can name a preset)")]
    PresetAndMapping,
    /// The header fits no preset, or more than one.
    #[error(
        "{file}: cannot tell which export this is from its header ({header}); choose a preset \
         (Salesforce, HubSpot, generic) or give a mapping file"
    )]
    UnknownExport {
        /// The file's name.
        file: String,
        /// The header's columns, quoted.
        header: String,
    },
    /// The mapping file is wrong.
    #[error("the mapping file: {0}")]
    Mapping(blindmap_records::ErrorKind),
    /// The file is bigger than the page reads.
    #[error("the file is {size} bytes; the page reads exports of up to {limit} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The largest read.
        limit: u64,
    },
    /// The protocol failed: our check of the vendor's frames, or the vendor's abort.
    #[error("the match failed: {0}")]
    Protocol(#[from] blindmap_psi::Error),
    /// The session failed earlier, with this message.
    #[error("the match failed: {0}")]
    Failed(String),
    /// The browser gave no randomness.
    #[error("the browser gave no randomness for the session: {0}")]
    Randomness(getrandom::Error),
    /// A call out of order: matching before the import finished, results before the session did.
    #[error("{0}")]
    State(&'static str),
    /// What the partner chose to share does not read.
    #[error("what you share: {0}")]
    Shares(String),
    /// The vendor's node returned fields that do not fit what was revealed.
    #[error("the vendor's node returned fields this page cannot use: {0}")]
    Returned(String),
    /// The results could not be written as CSV.
    #[error("cannot write the CSV: {0}")]
    Csv(String),
}
