//! Secrets at rest. A node must read some secrets back — the secrets it signs webhooks with, the
//! secrets inbound sources sign with — so it cannot keep only a hash of them. They are sealed
//! before they reach the database and opened where they are used, under the node's secrets key:
//! a copy of the database (a backup, a dump, a file read by the wrong user) gives away none.
//!
//! A sealed value is text, `sealed:v1:KEYID:DATA`: `v1` is AES-256-GCM with a random 96-bit
//! nonce, `KEYID` names the key (eight hex digits of a hash of it, so a keyring knows which of
//! its keys opens a value, and a key can be rotated), `DATA` is the nonce, ciphertext and tag in
//! unpadded URL-safe base64. The associated data binds the value to its column and row: a sealed
//! secret copied to another row or column does not open.
//!
//! Which columns hold sealed secrets is listed once, in [`SEALED_COLUMNS`];
//! [`Store::seal_stored_secrets`] brings every one of them under the current key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use sqlx::Row;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Store, StoreError};

/// What every sealed value starts with: the format (`v1`, AES-256-GCM).
const PREFIX: &str = "sealed:v1:";

/// A column that holds sealed secrets: its table, the column naming the row (bound into the
/// associated data) and the column itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedColumn {
    pub(crate) table: &'static str,
    pub(crate) id: &'static str,
    pub(crate) column: &'static str,
    /// `table.column`, for errors and the associated data.
    pub(crate) name: &'static str,
}

/// Webhook endpoints' signing secrets (`whsec_…`).
pub(crate) const WEBHOOK_SECRETS: SealedColumn =
    SealedColumn { table: "webhook_endpoints", id: "id", column: "secret", name: "webhook_endpoints.secret" };
/// Inbound sources' verifying secrets (`whsec_…`).
pub(crate) const INBOUND_SECRETS: SealedColumn =
    SealedColumn { table: "inbound_sources", id: "id", column: "secret", name: "inbound_sources.secret" };

/// Organisations' OpenID client secrets (single sign-on), bound to the organisation.
pub(crate) const SSO_CLIENT_SECRETS: SealedColumn =
    SealedColumn { table: "sso_configs", id: "org_id", column: "client_secret", name: "sso_configs.client_secret" };
/// The PKCE verifiers of sign-ins under way, bound to their state's hash.
pub(crate) const SSO_VERIFIERS: SealedColumn =
    SealedColumn { table: "sso_flows", id: "state_hash", column: "pkce_verifier", name: "sso_flows.pkce_verifier" };

/// The keys a browser partner's sessions are served under (spec §20.5), bound to the partnership.
pub(crate) const BROWSER_KEYS: SealedColumn =
    SealedColumn { table: "browser_keys", id: "partnership_id", column: "keys", name: "browser_keys.keys" };

/// CRM connections' credentials (a private key, refresh token, token or client secret, as JSON
/// the node reads), bound to the connection.
pub(crate) const CRM_CREDENTIALS: SealedColumn =
    SealedColumn { table: "crm_connections", id: "id", column: "credentials", name: "crm_connections.credentials" };

/// CRM authorizations under way: the connection to make, its client secret and PKCE verifier,
/// bound to the state's hash.
pub(crate) const CRM_AUTHORIZATIONS: SealedColumn = SealedColumn {
    table: "crm_authorizations",
    id: "state_hash",
    column: "request",
    name: "crm_authorizations.request",
};

/// Alert channels' secrets: a Slack app's bot token, or a Teams workflow's URL (it carries its
/// signature), bound to the channel.
pub(crate) const ALERT_SECRETS: SealedColumn =
    SealedColumn { table: "alert_channels", id: "id", column: "secret", name: "alert_channels.secret" };

/// Every column that holds sealed secrets.
pub(crate) const SEALED_COLUMNS: &[SealedColumn] = &[
    WEBHOOK_SECRETS,
    INBOUND_SECRETS,
    SSO_CLIENT_SECRETS,
    SSO_VERIFIERS,
    BROWSER_KEYS,
    CRM_CREDENTIALS,
    CRM_AUTHORIZATIONS,
    ALERT_SECRETS,
];

/// A node's secrets key: 32 random bytes, zeroed when dropped, never printed (no `Debug`).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretsKey([u8; 32]);

impl SecretsKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0; 32];
        SystemRandom::new().fill(&mut key).expect("the system's random source");
        Self(key)
    }

    /// A key from its text form: 32 bytes in standard base64 (surrounding blanks ignored, so a
    /// key file may end in a newline).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| StoreError::InvalidSecretsKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| StoreError::InvalidSecretsKey)?;
        Ok(Self(key))
    }

    /// The text form, for a key file or an environment variable.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0))
    }

    /// The key's id, as sealed values name it: eight hex digits of a hash of the key, which tell
    /// nothing of the key itself.
    pub fn id(&self) -> String {
        let digest = Sha256::new().chain_update(b"blindmap secrets key id\0").chain_update(self.0).finalize();
        hex::encode(&digest[..4])
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte AES-256-GCM key"))
    }
}

/// The keys a store seals and opens secrets with: the current key seals, and opens what it
/// sealed; previous keys only open, until [`Store::seal_stored_secrets`] has re-sealed what they
/// sealed under the current key.
pub struct Keyring {
    current: SecretsKey,
    previous: Vec<SecretsKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: they are in every sealed value anyway.
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field("previous", &self.previous.iter().map(SecretsKey::id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The associated data of a sealed value: the format, its column and its row.
fn associated_data(column: &SealedColumn, row: &str) -> Vec<u8> {
    [b"blindmap sealed v1\0".as_slice(), column.name.as_bytes(), b"\0", row.as_bytes()].concat()
}

/// The key id a sealed value names, or `None` for a value that is not sealed (a plaintext
/// secret written before sealing existed).
fn sealed_key_id(text: &str) -> Option<&str> {
    text.strip_prefix(PREFIX)?.split_once(':').map(|(id, _)| id)
}

impl Keyring {
    /// A keyring sealing with `current` and also opening what `previous` keys sealed.
    pub fn new(current: SecretsKey, previous: Vec<SecretsKey>) -> Self {
        Self { current, previous }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> String {
        self.current.id()
    }

    /// `secret` sealed for `row` of `column`, under the current key.
    pub(crate) fn seal(&self, column: &SealedColumn, row: &str, secret: &str) -> String {
        let mut nonce = [0; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system's random source");
        let mut data = Zeroizing::new(secret.as_bytes().to_vec());
        self.current
            .aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(column, row)),
                &mut *data,
            )
            .expect("a secret far below AES-GCM's length limit");
        let sealed = [nonce.as_slice(), data.as_slice()].concat();
        format!("{PREFIX}{}:{}", self.current.id(), URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The key that sealed `text`, if this keyring has it.
    fn key_for(&self, column: &SealedColumn, text: &str) -> Result<&SecretsKey, StoreError> {
        let id = sealed_key_id(text).ok_or(StoreError::Corrupt(column.name))?;
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or_else(|| StoreError::UnknownSecretsKey { column: column.name, key: id.to_owned() })
    }

    /// The secret `text` holds for `row` of `column`. A value that is not sealed, sealed for
    /// another row or column, or altered, does not open.
    pub(crate) fn open(&self, column: &SealedColumn, row: &str, text: &str) -> Result<Zeroizing<String>, StoreError> {
        let key = self.key_for(column, text)?;
        let corrupt = || StoreError::Corrupt(column.name);
        let (_, data) = text.strip_prefix(PREFIX).and_then(|t| t.split_once(':')).ok_or_else(corrupt)?;
        let mut data = Zeroizing::new(URL_SAFE_NO_PAD.decode(data).map_err(|_| corrupt())?);
        if data.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let mut nonce = [0; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let opened = key
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(column, row)),
                &mut data[NONCE_LEN..],
            )
            .map_err(|_| corrupt())?;
        Ok(Zeroizing::new(String::from_utf8(opened.to_vec()).map_err(|_| corrupt())?))
    }
}

/// What [`Store::seal_stored_secrets`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Plaintext secrets sealed.
    pub sealed: u64,
    /// Secrets under a previous key re-sealed under the current one.
    pub rotated: u64,
}

impl Store {
    /// This store, sealing and opening secrets with `keyring`. Without one, anything that keeps
    /// or reads a secret fails with [`StoreError::NoSecretsKey`].
    pub fn with_secrets(mut self, keyring: Keyring) -> Self {
        self.secrets = Some(std::sync::Arc::new(keyring));
        self
    }

    /// The keyring, or why there is none.
    pub(crate) fn keyring(&self) -> Result<&Keyring, StoreError> {
        self.secrets.as_deref().ok_or(StoreError::NoSecretsKey)
    }

    /// Brings every stored secret under the current key: seals those kept in plaintext (written
    /// before sealing existed) and re-seals those a previous key sealed. Run at start-up; doing
    /// it again changes nothing, and replicas may run it at once (a row changed meanwhile is
    /// left to whoever changed it). A secret under a key the keyring lacks fails it before
    /// anything is written: the node must not run without the key to its secrets.
    pub async fn seal_stored_secrets(&self) -> Result<Resealed, StoreError> {
        let keyring = self.keyring()?;
        let current = keyring.current_id();
        let mut changes = Vec::new();
        for column in SEALED_COLUMNS {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {id}, {col} FROM {table} ORDER BY {id}",
                id = column.id,
                col = column.column,
                table = column.table
            )))
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                let (id, text): (String, Zeroizing<String>) = (row.get(0), Zeroizing::new(row.get(1)));
                let (plain, rotated) = match sealed_key_id(&text) {
                    None => (text.clone(), false),
                    Some(key) if key == current => continue,
                    Some(_) => (keyring.open(column, &id, &text)?, true),
                };
                let sealed = keyring.seal(column, &id, &plain);
                changes.push((column, id, text, sealed, rotated));
            }
        }
        let mut done = Resealed::default();
        for (column, id, before, after, rotated) in changes {
            let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET {col} = $1 WHERE {id} = $2 AND {col} = $3",
                table = column.table,
                col = column.column,
                id = column.id
            )))
            .bind(after)
            .bind(&id)
            .bind(before.as_str())
            .execute(&self.pool)
            .await?;
            if updated.rows_affected() == 1 {
                if rotated {
                    done.rotated += 1;
                } else {
                    done.sealed += 1;
                }
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        SecretsKey([byte; 32])
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_and_column() {
        let ring = Keyring::new(key(1), vec![]);
        let sealed = ring.seal(&WEBHOOK_SECRETS, "whe_1", "whsec_abc");
        assert!(sealed.starts_with(&format!("sealed:v1:{}:", key(1).id())), "{sealed}");
        assert!(!sealed.contains("abc"));
        assert_eq!(*ring.open(&WEBHOOK_SECRETS, "whe_1", &sealed).unwrap(), "whsec_abc");
        assert_ne!(sealed, ring.seal(&WEBHOOK_SECRETS, "whe_1", "whsec_abc"), "a fresh nonce each time");
        assert!(matches!(ring.open(&WEBHOOK_SECRETS, "whe_2", &sealed), Err(StoreError::Corrupt(_))), "another row");
        assert!(matches!(ring.open(&INBOUND_SECRETS, "whe_1", &sealed), Err(StoreError::Corrupt(_))), "another column");
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(matches!(ring.open(&WEBHOOK_SECRETS, "whe_1", &altered), Err(StoreError::Corrupt(_))));
        assert!(matches!(ring.open(&WEBHOOK_SECRETS, "whe_1", "whsec_abc"), Err(StoreError::Corrupt(_))), "plaintext");
    }

    #[test]
    fn previous_keys_open_and_unknown_keys_are_named() {
        let old = Keyring::new(key(1), vec![]);
        let sealed = old.seal(&INBOUND_SECRETS, "src_1", "whsec_old");
        let rotated = Keyring::new(key(2), vec![key(1)]);
        assert_eq!(*rotated.open(&INBOUND_SECRETS, "src_1", &sealed).unwrap(), "whsec_old");
        let lost = Keyring::new(key(3), vec![]);
        match lost.open(&INBOUND_SECRETS, "src_1", &sealed) {
            Err(StoreError::UnknownSecretsKey { column, key: id }) => {
                assert_eq!((column, id), ("inbound_sources.secret", key(1).id()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_read_from_base64_and_are_never_shown() {
        let k = SecretsKey::generate();
        let text = k.to_base64();
        let again = SecretsKey::from_base64(&format!("{}\n", *text)).unwrap();
        assert_eq!((again.id(), again.id().len()), (k.id(), 8));
        assert_ne!(SecretsKey::generate().id(), k.id());
        for bad in ["", "c2hvcnQ=", "not base64 at all!", &STANDARD.encode([0u8; 33])] {
            assert!(matches!(SecretsKey::from_base64(bad), Err(StoreError::InvalidSecretsKey)), "{bad:?}");
        }
        let ring = Keyring::new(k, vec![again]);
        let shown = format!("{ring:?}");
        assert!(!shown.contains(text.as_str()) && shown.ends_with(".. }"), "{shown}");
    }

    fn zeroized_on_drop<T: ZeroizeOnDrop>() {}

    #[test]
    fn keys_are_zeroed() {
        zeroized_on_drop::<SecretsKey>();
        let mut k = key(7);
        k.zeroize();
        assert_eq!(*k.to_base64(), STANDARD.encode([0u8; 32]));
    }
}
