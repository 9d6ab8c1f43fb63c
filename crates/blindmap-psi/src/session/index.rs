//! The in-memory side of matching: tags of one set, probed with the tags of the other as they
//! stream in (spec §10.1).

use std::collections::HashMap;

use crate::group::Tag;

/// A multimap from tag to entries, with one allocation for all entries: equal tags (duplicate
/// keys) chain through `next`.
pub(crate) struct TagIndex<E> {
    heads: HashMap<Tag, u32>,
    entries: Vec<(E, u32)>,
}

const NONE: u32 = u32::MAX;

impl<E> TagIndex<E> {
    pub(crate) fn new() -> Self {
        Self { heads: HashMap::new(), entries: Vec::new() }
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        self.heads.reserve(additional);
        self.entries.reserve(additional);
    }

    pub(crate) fn insert(&mut self, tag: Tag, entry: E) {
        let index = self.entries.len() as u32;
        let next = self.heads.insert(tag, index).unwrap_or(NONE);
        self.entries.push((entry, next));
    }

    /// Every entry stored under `tag`, most recent first.
    pub(crate) fn get(&self, tag: &Tag) -> impl Iterator<Item = &E> + '_ {
        let mut at = self.heads.get(tag).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let (entry, next) = &self.entries[at as usize];
            at = *next;
            Some(entry)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_duplicates() {
        let mut index = TagIndex::new();
        index.insert([1; 16], 'a');
        index.insert([2; 16], 'b');
        index.insert([1; 16], 'c');
        assert_eq!(index.get(&[1; 16]).copied().collect::<Vec<_>>(), vec!['c', 'a']);
        assert_eq!(index.get(&[2; 16]).copied().collect::<Vec<_>>(), vec!['b']);
        assert_eq!(index.get(&[3; 16]).count(), 0);
    }
}
