//! The in-memory side of matching: tags of one set, probed with the tags of the other as they
//! stream in (spec §10.1).
//!
//! Entries are appended while one set arrives, sorted once (in parallel) when it is complete, and
//! then probed by whole chunks in parallel with binary search. Peer-chosen tags cannot degrade it:
//! there is no hashing to collide.

use rayon::prelude::*;

use crate::group::Tag;

pub(crate) struct TagIndex<E> {
    entries: Vec<(Tag, E)>,
    sorted: bool,
}

impl<E: Copy + Send + Sync> TagIndex<E> {
    pub(crate) fn new() -> Self {
        Self { entries: Vec::new(), sorted: true }
    }

    pub(crate) fn extend(&mut self, items: impl IntoIterator<Item = (Tag, E)>) {
        self.entries.extend(items);
        self.sorted = false;
    }

    /// Sorts the entries; later inserts unsort them again.
    pub(crate) fn seal(&mut self) {
        if !self.sorted {
            self.entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.sorted = true;
        }
    }

    /// For each probe (in parallel), every entry with its tag: `(probe index, entry)`, in probe
    /// order — or `None`, without building anything, if there are more than `budget` of them
    /// (a peer choosing equal tags cannot make this quadratic).
    pub(crate) fn probe_all(&mut self, probes: &[Tag], budget: usize) -> Option<Vec<(usize, E)>> {
        self.seal();
        let entries = &self.entries;
        let ranges: Vec<(usize, usize)> = probes
            .par_iter()
            .map(|tag| {
                let start = entries.partition_point(|(t, _)| t < tag);
                (start, run_end(entries, start, tag))
            })
            .collect();
        let total: usize = ranges.iter().map(|(start, end)| end - start).sum();
        if total > budget {
            return None;
        }
        Some(
            ranges
                .iter()
                .enumerate()
                .flat_map(|(i, &(start, end))| entries[start..end].iter().map(move |(_, e)| (i, *e)))
                .collect(),
        )
    }
}

/// The end of the run of entries equal to `tag` starting at `start`: usually no entry or one, so
/// look at those first, then gallop, so that a long run of equal tags costs its logarithm.
fn run_end<E>(entries: &[(Tag, E)], start: usize, tag: &Tag) -> usize {
    let equal = |i: usize| entries.get(i).is_some_and(|(t, _)| t == tag);
    if !equal(start) {
        return start;
    }
    let mut step = 1;
    while equal(start + step) {
        step *= 2;
    }
    // The run ends in (start + step / 2, start + step].
    let from = start + step / 2 + 1;
    let to = (start + step).min(entries.len());
    from + entries[from..to].partition_point(|(t, _)| t == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_duplicate() {
        let mut index = TagIndex::new();
        index.extend([([1; 16], 'a'), ([2; 16], 'b'), ([1; 16], 'c')]);
        let mut hits = index.probe_all(&[[3; 16], [1; 16], [2; 16]], 10).unwrap();
        hits.sort();
        assert_eq!(hits, vec![(1, 'a'), (1, 'c'), (2, 'b')]);
        index.extend([([3; 16], 'd')]);
        assert_eq!(index.probe_all(&[[3; 16]], 10), Some(vec![(0, 'd')]));
        // Over budget: nothing is built.
        assert_eq!(index.probe_all(&[[1; 16], [1; 16]], 3), None);
    }

    #[test]
    fn runs_of_every_length_are_found() {
        for n in 0..70usize {
            let mut index = TagIndex::new();
            index.extend((0..n).map(|i| ([5; 16], i)));
            index.extend([([4; 16], 1000), ([6; 16], 1001)]);
            assert_eq!(index.probe_all(&[[5; 16]], usize::MAX).unwrap().len(), n);
        }
    }
}
