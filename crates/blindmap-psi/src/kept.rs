//! A Bloom sender's keys kept between sessions with one partner, and the work they let it keep
//! (spec §20.5).
//!
//! A party that serves Bloom filters and learns nothing (spec §9.7) uses its seed for two things
//! only: its class keys and its filters' seeds. Keeping the seed between sessions with one
//! partner, for as long as its own list does not change, makes its filters the same in each —
//! so it can keep its evaluated keys and its filters instead of evaluating its whole list for
//! every session, which is the cost that grows with its list. [`KeptKeys`] is that seed;
//! [`BloomCache`] what a process keeps with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::group::ElementBytes;
use crate::seed::SessionSeed;

/// The seed a Bloom sender keeps for its sessions with one partner (spec §20.5): zeroized on
/// drop, never printed. Store it sealed; make a new one when the sender's list changes.
#[derive(Clone)]
pub struct KeptKeys(pub(crate) SessionSeed);

impl core::fmt::Debug for KeptKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeptKeys").finish_non_exhaustive()
    }
}

impl KeptKeys {
    /// New keys.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        Self(SessionSeed::random(rng))
    }

    /// Keys as [`KeptKeys::to_bytes`] gave them, read back from where they were kept.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(SessionSeed::from_array(*bytes))
    }

    /// The keys' bytes, to keep (sealed).
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.0.as_array())
    }

    /// A digest naming these keys without revealing them: what a cache is tied to.
    fn fingerprint(&self) -> [u8; 32] {
        Sha256::new().chain_update(b"blindmap/v1/kept-keys").chain_update(self.0.as_array()).finalize().into()
    }
}

/// What a cache entry is for: own segment, class.
type FilterKey = (u16, u16);

/// A filter and its parameters (bitmap bytes, probes).
type KeptFilter = ((u64, u8), Arc<Vec<u8>>);

/// What a process keeps for one [`KeptKeys`] and one list of its own: per own segment and class,
/// the evaluated keys (32 bytes each) and the last filter built from them. The caller keeps one
/// cache per (keys, list) — a cache holds no record of which list it was made from, so a list
/// that changed needs new keys (which a cache of the old ones refuses) or a new cache.
pub struct BloomCache {
    keys: [u8; 32],
    evaluated: Mutex<HashMap<FilterKey, Arc<Vec<ElementBytes>>>>,
    filters: Mutex<HashMap<FilterKey, KeptFilter>>,
}

impl core::fmt::Debug for BloomCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BloomCache").field("bytes", &self.bytes()).finish_non_exhaustive()
    }
}

impl BloomCache {
    /// An empty cache for sessions under `keys`.
    pub fn new(keys: &KeptKeys) -> Self {
        Self { keys: keys.fingerprint(), evaluated: Mutex::default(), filters: Mutex::default() }
    }

    /// Whether this cache was made for `keys`.
    pub(crate) fn is_for(&self, keys: &KeptKeys) -> bool {
        self.keys == keys.fingerprint()
    }

    /// Bytes held: 32 per evaluated key, and the filters.
    pub fn bytes(&self) -> usize {
        let evaluated: usize =
            self.evaluated.lock().unwrap_or_else(PoisonError::into_inner).values().map(|v| v.len() * 32).sum();
        let filters: usize =
            self.filters.lock().unwrap_or_else(PoisonError::into_inner).values().map(|(_, f)| f.len()).sum();
        evaluated + filters
    }

    /// Own segment `t`'s evaluated keys under class `c`, if kept: `[k_c] H(x)` for every key of
    /// the segment's records, in member order, each record's keys in slot order.
    pub(crate) fn kept(&self, t: u16, c: u16) -> Option<Arc<Vec<ElementBytes>>> {
        self.evaluated.lock().unwrap_or_else(PoisonError::into_inner).get(&(t, c)).cloned()
    }

    /// Own segment `t`'s evaluated keys under class `c`, made by `make` the first time.
    pub(crate) fn evaluated<E>(
        &self,
        t: u16,
        c: u16,
        make: impl FnOnce() -> Result<Vec<ElementBytes>, E>,
    ) -> Result<Arc<Vec<ElementBytes>>, E> {
        if let Some(kept) = self.evaluated.lock().unwrap_or_else(PoisonError::into_inner).get(&(t, c)) {
            return Ok(Arc::clone(kept));
        }
        // Made outside the lock: two sessions starting at once may both make it, once.
        let made = Arc::new(make()?);
        self.evaluated.lock().unwrap_or_else(PoisonError::into_inner).insert((t, c), Arc::clone(&made));
        Ok(made)
    }

    /// Own segment `t`'s filter under class `c` with `params` (bitmap bytes, probes), made by
    /// `make` unless the last one made had the same parameters.
    pub(crate) fn filter<E>(
        &self,
        t: u16,
        c: u16,
        params: (u64, u8),
        make: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<Vec<u8>>, E> {
        if let Some((kept, filter)) = self.filters.lock().unwrap_or_else(PoisonError::into_inner).get(&(t, c))
            && *kept == params
        {
            return Ok(Arc::clone(filter));
        }
        let made = Arc::new(make()?);
        self.filters.lock().unwrap_or_else(PoisonError::into_inner).insert((t, c), (params, Arc::clone(&made)));
        Ok(made)
    }
}
