//! Corrections of what matching showed: a user marks a match wrong ("not this match") or one of
//! its organisation's accounts as never to be matched with a partner ("never match"). Made and
//! removed from the API and from the pages, checked here once; the store keeps them and applies
//! them to every list and count of the latest match and of every later one (see
//! `blindmap_store`'s corrections for the rule). Nothing of a correction is sent to the partner.

use blindmap_store::{Correction, CorrectionId, CorrectionKind, NewCorrection, OrgId, PartnershipId, Store};

use blindmap_store::StoreError;

/// The longest note, in characters.
pub(crate) const MAX_NOTE_CHARS: usize = 1000;
/// The longest account id a correction names, in characters.
pub(crate) const MAX_ACCOUNT_CHARS: usize = 1000;
/// The most key types a correction lists.
pub(crate) const MAX_KEY_TYPES: usize = 16;

/// Why a correction cannot be made or removed. `http::error` maps each to its status: what it
/// names not found → 404, the rest → 422.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CorrectionError {
    /// What the correction names is not there: the partnership (or it is another
    /// organisation's), a complete match with it, the account's overlap in that match (with
    /// those key types), or the correction itself.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// `not_this_match` without the key types of the overlap.
    #[error("not_this_match needs key_types: those of the overlap it corrects, as the lists show them")]
    KeyTypesMissing,
    /// `never_match` with key types.
    #[error("never_match takes no key_types: it hides every match of the account")]
    KeyTypesWithNeverMatch,
    /// More key types than any overlap has.
    #[error("key_types lists at most {MAX_KEY_TYPES}")]
    TooManyKeyTypes,
    /// A key type of the wrong shape.
    #[error("{0:?} is not a key type (1 to 64 of a-z, 0-9 and _, starting with a letter)")]
    NotAKeyType(String),
    /// A note over the limit.
    #[error("note is at most {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    /// An empty or over-long account id.
    #[error("account_id is 1 to {MAX_ACCOUNT_CHARS} characters")]
    AccountIdLength,
    /// The account is not in the active dataset.
    #[error(
        "account_id is not an account of your organisation's active dataset: corrections are made on the accounts \
         your matches list"
    )]
    NotAnActiveAccount,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A correction as asked for.
pub(crate) struct Asked<'a> {
    /// The partnership (`pt_…`).
    pub(crate) partnership: &'a str,
    /// This side's account.
    pub(crate) account_id: &'a str,
    /// What it says.
    pub(crate) kind: CorrectionKind,
    /// For `not_this_match`, the key types of the overlap it corrects, as the lists show them.
    pub(crate) key_types: &'a [String],
    /// Why (blank is none).
    pub(crate) note: Option<&'a str>,
}

/// Whether `name` has a key type's shape: 1 to 64 of a-z, 0-9 and `_`, starting with a letter.
pub(crate) fn is_key_type(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// Makes a correction for `user` of `org`, or finds the identical one already active. Refused:
/// an account that is not in the organisation's active dataset (422); a partnership of another
/// organisation, no complete match with it, or no overlap of the account in that match — with
/// those key types, for `not_this_match` (404).
pub(crate) async fn add(
    store: &Store,
    org: &OrgId,
    user: &str,
    asked: Asked<'_>,
) -> Result<Correction, CorrectionError> {
    let id = PartnershipId::parse(asked.partnership).ok_or(CorrectionError::NotFound("partnership"))?;
    store.partnership(org, &id).await?;
    match asked.kind {
        CorrectionKind::NotThisMatch if asked.key_types.is_empty() => return Err(CorrectionError::KeyTypesMissing),
        CorrectionKind::NeverMatch if !asked.key_types.is_empty() => {
            return Err(CorrectionError::KeyTypesWithNeverMatch);
        }
        _ => {}
    }
    if asked.key_types.len() > MAX_KEY_TYPES {
        return Err(CorrectionError::TooManyKeyTypes);
    }
    if let Some(bad) = asked.key_types.iter().find(|k| !is_key_type(k)) {
        return Err(CorrectionError::NotAKeyType(bad.clone()));
    }
    let note = asked.note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(CorrectionError::NoteTooLong);
    }
    let account = asked.account_id;
    if account.is_empty() || account.chars().count() > MAX_ACCOUNT_CHARS {
        return Err(CorrectionError::AccountIdLength);
    }
    let Some(name) = store.active_account(org, account).await? else {
        return Err(CorrectionError::NotAnActiveAccount);
    };
    let run = store
        .latest_complete_run(org, &id)
        .await?
        .ok_or(CorrectionError::NotFound("complete match with this partner"))?;
    let matched = store.account_key_types(org, &run.id, account).await?;
    if matched.is_empty() {
        return Err(CorrectionError::NotFound("overlap of that account in the latest match with this partner"));
    }
    if asked.kind == CorrectionKind::NotThisMatch {
        let wanted = blindmap_store::canonical_key_types(asked.key_types);
        if !matched.iter().any(|m| blindmap_store::canonical_key_types(m) == wanted) {
            return Err(CorrectionError::NotFound(
                "overlap of that account matched on those key types in the latest match with this partner",
            ));
        }
    }
    let new = NewCorrection {
        partnership: &id,
        account_id: account,
        account_name: name.as_deref(),
        kind: asked.kind,
        key_types: asked.key_types,
        note,
        by: user,
    };
    let (correction, created) = store.add_correction(org, &new).await?;
    if created {
        tracing::info!(correction = %correction.id, kind = correction.kind.as_str(), "match corrected");
        crate::service::runs::warm_soon(store, org);
    }
    Ok(correction)
}

/// Removes a correction of `org` for `user`: what it hid shows again at once. A correction
/// removed already is answered as it is.
pub(crate) async fn remove(store: &Store, org: &OrgId, user: &str, id: &str) -> Result<Correction, CorrectionError> {
    let id = CorrectionId::parse(id).ok_or(CorrectionError::NotFound("correction"))?;
    let (correction, removed) = store.remove_correction(org, &id, user).await?;
    if removed {
        tracing::info!(correction = %correction.id, "match correction removed");
        crate::service::runs::warm_soon(store, org);
    }
    Ok(correction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types_have_the_protocols_shape() {
        for ok in ["domain", "duns", "name_country", "name_postal", "a", "a1_"] {
            assert!(is_key_type(ok), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "Domain", "1a", "_a", "name-country", "name country", "é", long.as_str()] {
            assert!(!is_key_type(bad), "{bad}");
        }
    }
}
