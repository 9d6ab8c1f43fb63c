//! A node's TLS identity: a self-signed certificate that partners and the node's own clients pin
//! by its SHA-256 fingerprint, and its private key, readable by the node's owner only.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The certificate file in a node's identity folder.
pub const CERT_FILE: &str = "node.crt";
/// The private-key file in a node's identity folder (mode 0600).
pub const KEY_FILE: &str = "node.key";

/// A node's certificate and key.
pub struct Identity {
    cert: CertificateDer<'static>,
    cert_pem: String,
    key_pem: SecretString,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

/// Why an identity could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Generating the key or certificate failed.
    #[error("cannot generate the node's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{0}: not a PEM certificate or private key")]
    Pem(String),
    /// The key file can be read by others than its owner.
    #[error("{0}: the private key must be readable by its owner only (chmod 600)")]
    KeyPermissions(String),
}

impl Identity {
    /// A new key pair (ECDSA P-256) and a certificate for `hosts` (DNS names or IP addresses).
    pub fn generate(hosts: &[String]) -> Result<Self, IdentityError> {
        let certified = rcgen::generate_simple_self_signed(hosts.to_vec())?;
        Ok(Self {
            cert: certified.cert.der().clone(),
            cert_pem: certified.cert.pem(),
            key_pem: SecretString::from(certified.signing_key.serialize_pem()),
        })
    }

    /// Writes `node.crt` and `node.key` (created with mode 0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        let file_error = |path: &Path| {
            let path = path.display().to_string();
            move |error| IdentityError::File { path, error }
        };
        fs::create_dir_all(dir).map_err(file_error(dir))?;
        let cert_path = dir.join(CERT_FILE);
        fs::write(&cert_path, &self.cert_pem).map_err(file_error(&cert_path))?;
        let key_path = dir.join(KEY_FILE);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&key_path).map_err(file_error(&key_path))?;
        file.write_all(self.key_pem.expose_secret().as_bytes()).map_err(file_error(&key_path))?;
        Ok(())
    }

    /// Reads `node.crt` and `node.key` from `dir`, refusing a key others can read.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path)
                .map_err(|error| IdentityError::File { path: path.display().to_string(), error })
                .map(|text| (path, text))
        };
        let (cert_path, cert_pem) = read(CERT_FILE)?;
        let (key_path, key_pem) = read(KEY_FILE)?;
        let key_pem = SecretString::from(key_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key_path)
                .map_err(|error| IdentityError::File { path: key_path.display().to_string(), error })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(IdentityError::KeyPermissions(key_path.display().to_string()));
            }
        }
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|_| IdentityError::Pem(cert_path.display().to_string()))?;
        PrivateKeyDer::from_pem_slice(key_pem.expose_secret().as_bytes())
            .map_err(|_| IdentityError::Pem(key_path.display().to_string()))?;
        Ok(Self { cert, cert_pem, key_pem })
    }

    /// The certificate, DER.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key, DER (for TLS configurations).
    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.expose_secret().as_bytes()).expect("checked when made or loaded")
    }

    /// The SHA-256 of the certificate, as partners and clients pin it: `sha256:` and hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }
}

/// The pinned form of a certificate: `sha256:` and the hex SHA-256 of its DER.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_round_trips_and_its_key_stays_private() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        id.save(dir.path()).unwrap();
        let loaded = Identity::load(dir.path()).unwrap();
        assert_eq!(loaded.fingerprint(), id.fingerprint());
        assert!(id.fingerprint().starts_with("sha256:") && id.fingerprint().len() == 7 + 64);
        assert!(!format!("{id:?}").contains("PRIVATE"), "Debug shows no key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join(KEY_FILE);
            assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
            fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(Identity::load(dir.path()), Err(IdentityError::KeyPermissions(_))));
        }
        assert!(id.save(dir.path()).is_err(), "an existing key is never overwritten");
    }
}
