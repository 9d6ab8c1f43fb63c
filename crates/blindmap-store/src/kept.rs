//! Values kept in memory by what they were made from: a few counts or lists that take seconds
//! to compute at millions of overlaps and do not change while their key holds (the key names
//! what they were made from: runs, corrections, filters). Per process.

use std::sync::{Mutex, PoisonError};

/// Values kept by key, at most `most`, the least recently used going first.
#[derive(Debug)]
pub struct Kept<K, V> {
    entries: Mutex<Vec<(K, V)>>,
    most: usize,
}

impl<K: PartialEq, V: Clone> Kept<K, V> {
    /// Keeps at most `most` values.
    pub const fn new(most: usize) -> Self {
        Self { entries: Mutex::new(Vec::new()), most }
    }

    /// The value kept for `key`, if any (now the most recently used).
    pub fn get(&self, key: &K) -> Option<V> {
        let mut kept = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let i = kept.iter().position(|(k, _)| k == key)?;
        let entry = kept.remove(i);
        let value = entry.1.clone();
        kept.push(entry);
        Some(value)
    }

    /// Keeps `value` for `key`, in place of any value it had; the least recently used goes
    /// when `most` are kept.
    pub fn put(&self, key: K, value: V) {
        let mut kept = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(k, _)| k != &key);
        if kept.len() >= self.most {
            kept.remove(0);
        }
        kept.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;

    #[test]
    fn the_least_recently_used_goes_first() {
        let kept = Kept::new(2);
        kept.put("a", 1);
        kept.put("b", 2);
        assert_eq!(kept.get(&"a"), Some(1));
        kept.put("c", 3);
        assert_eq!(kept.get(&"b"), None, "b was used least recently");
        assert_eq!((kept.get(&"a"), kept.get(&"c")), (Some(1), Some(3)));
        kept.put("a", 4);
        assert_eq!(kept.get(&"a"), Some(4), "a key's value replaced");
    }
}
