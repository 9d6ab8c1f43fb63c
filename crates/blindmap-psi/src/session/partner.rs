//! The partner's stream: its records, which we answer and compare (spec §9.5, §10.1), the returns
//! of ours, its sealed fields (spec §10.4) and its Bloom filters (spec §9.7).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::exchange::{
    Exchange, KeyId, MAX_CHUNK_ELEMENTS, MAX_COUNTED_WIDTH, OwnSlot, PartnerSlot, Stream, counted_chunk_len, prg_label,
};
use crate::bloom;
use crate::error::{BloomDefect, Error, PeerMisbehaviour};
use crate::fields;
use crate::group::{self, ElementBytes, SecretScalar, Tag};
use crate::oprf;
use crate::policy::Visibility;
use crate::wire::{BloomChunk, Kind, Message, RecordChunk, SealedChunk};

fn unexpected(expected: impl Into<String>, got: impl Into<String>) -> Error {
    PeerMisbehaviour::UnexpectedMessage { expected: expected.into(), got: got.into() }.into()
}

/// `(record index in chunk, slot, item index)` for every item of a chunk.
#[allow(
    clippy::cast_possible_truncation,
    reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
)]
fn slots(widths: &[u8]) -> impl Iterator<Item = (u32, u8, usize)> + '_ {
    widths
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| (0..w).map(move |j| (i as u32, j)))
        .enumerate()
        .map(|(k, (i, j))| (i, j, k))
}

fn prefix(element: &ElementBytes) -> [u8; 16] {
    let mut prefix = [0; 16];
    prefix.copy_from_slice(&element[..16]);
    prefix
}

/// The sorted union of two sorted lists, or `None` if any value occurs twice in all.
fn merge_distinct(old: &[[u8; 16]], new: &[[u8; 16]]) -> Option<Vec<[u8; 16]>> {
    let mut merged = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let next = if j == new.len() || (i < old.len() && old[i] < new[j]) {
            i += 1;
            old[i - 1]
        } else {
            j += 1;
            new[j - 1]
        };
        if merged.last() == Some(&next) {
            return None;
        }
        merged.push(next);
    }
    Some(merged)
}

impl Exchange {
    fn key(&self, key: KeyId) -> &SecretScalar {
        match key {
            KeyId::Class(c) => &self.class_keys[c as usize],
            #[allow(clippy::expect_used, reason = "KeyId::Count is named only for counted streams, which have the key")]
            KeyId::Count => self.count_key.as_ref().expect("compared with the count key only when counting"),
        }
    }

    /// Checks that a record chunk of the partner is the next one of `stream` (spec §9.5).
    fn check_next(&self, stream: Stream, kind: &str, segment: u16, first: u32, count: u32) -> Result<(), Error> {
        let due = self.cursor.streams.get(self.cursor.at).copied();
        let ((Some(Stream::Counted(t)), Stream::Counted(_)) | (Some(Stream::Regular(t)), Stream::Regular(_))) =
            (due, stream)
        else {
            return Err(unexpected(self.describe_due(), kind));
        };
        let records = self.partner[t as usize].records;
        if self.cursor.pending_blinded.is_some()
            || segment != t
            || first != self.cursor.next
            || count > records - self.cursor.next
        {
            return Err(unexpected(
                format!(
                    "{} from position {}, at most {} records",
                    self.describe_due(),
                    self.cursor.next,
                    records - self.cursor.next
                ),
                format!("{kind} for segment {segment} from position {first}, {count} records"),
            ));
        }
        Ok(())
    }

    /// The return the partner owes us next, as error messages name it.
    pub(super) fn describe_return(&self) -> String {
        match self.expected.front() {
            Some(e) => {
                let (bound, owed) = (if e.exact { "" } else { "at most " }, e.end - e.next);
                format!(
                    "{} {} for segment {} from position {}, {bound}{owed} records",
                    e.kind.name(),
                    e.reference,
                    e.segment,
                    e.next
                )
            }
            None => "nothing until our next records".into(),
        }
    }

    /// The partner record chunk due next, as error messages name it.
    pub(super) fn describe_due(&self) -> String {
        match (self.cursor.pending_blinded.is_some(), self.cursor.streams.get(self.cursor.at)) {
            (true, _) => "Blinded".into(),
            (false, Some(Stream::Counted(t))) => format!("Counted for segment {t}"),
            (false, Some(Stream::Regular(t))) => format!("Elements for segment {t}"),
            (false, None) => "no more records".into(),
        }
    }

    /// A chunk of the partner's counted stream (spec §9.5): kept, answered under each of our
    /// classes that serve its segment at the counts level, for shuffling once complete.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
    )]
    pub(super) fn on_counted(
        &mut self,
        chunk: RecordChunk<ElementBytes>,
        points: &[RistrettoPoint],
        out: &mut Vec<Message>,
    ) -> Result<(), Error> {
        let count = chunk.widths.len() as u32;
        self.check_next(Stream::Counted(0), "Counted", chunk.segment, chunk.first, count)?;
        let t = chunk.segment;
        // spec §9.5: one width, at most MAX_COUNTED_WIDTH, for a whole counted stream.
        let width = chunk.widths[0];
        let limit = MAX_COUNTED_WIDTH.min(self.partner[t as usize].max_width);
        let declared = self.partner[t as usize].counted_width.get_or_insert(width);
        if width != *declared || width > limit {
            return Err(PeerMisbehaviour::ShapeMismatch {
                segment: t,
                reason: "a counted stream whose width varies or exceeds min(4, max_width)",
            }
            .into());
        }
        self.pending_prefixes.extend(chunk.items.iter().map(prefix));
        for c in self.partner[t as usize].shuffled_answers.clone() {
            let tags = self.class_keys[c as usize].raise_tags(points);
            match self.shuffle.iter_mut().find(|(k, _)| *k == c) {
                Some((_, buffer)) => buffer.extend(tags),
                None => self.shuffle.push((c, tags)),
            }
        }
        self.cursor.next += count;
        if self.cursor.next == self.partner[t as usize].records {
            self.finish_counted(t, out)?;
        }
        Ok(())
    }

    /// The end of a counted stream: no element may repeat across the partner's counted streams
    /// (spec §9.5); then the shuffled answers go out.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
    )]
    fn finish_counted(&mut self, t: u16, out: &mut Vec<Message>) -> Result<(), Error> {
        let mut fresh = std::mem::take(&mut self.pending_prefixes);
        fresh.par_sort_unstable();
        let merged =
            merge_distinct(&self.counted_prefixes, &fresh).ok_or(PeerMisbehaviour::RepeatedElement { segment: t })?;
        self.counted_prefixes = merged;
        let records = self.partner[t as usize].records as usize;
        let width = self.partner[t as usize].counted_width.unwrap_or(1) as usize;
        for (c, tags) in std::mem::take(&mut self.shuffle) {
            // spec §9.5: the tuple at returned position p is the one received at position π[p],
            // its slot j the answer to received slot σ_p[j]; π, then each σ_p, from one stream.
            let mut prg = self.seed.prg(&prg_label(b"blindmap/v1/shuffle", &[c, t]));
            let mut permutation: Zeroizing<Vec<u32>> = Zeroizing::new((0..records as u32).collect());
            prg.shuffle(&mut permutation);
            let mut slot_orders: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(records * width));
            for _ in 0..records {
                let mut order: Vec<u8> = (0..width as u8).collect();
                prg.shuffle(&mut order);
                slot_orders.extend_from_slice(&order);
            }
            let per_chunk = counted_chunk_len(self.chunk_records, width, MAX_CHUNK_ELEMENTS);
            let tags = &tags;
            for (n, positions) in permutation.chunks(per_chunk).enumerate() {
                let start = n * per_chunk;
                let orders = &slot_orders[start * width..(start + positions.len()) * width];
                out.push(Message::Tags(RecordChunk {
                    reference: c,
                    segment: t,
                    first: start as u32,
                    widths: vec![width as u8; positions.len()],
                    items: positions
                        .iter()
                        .zip(orders.chunks(width))
                        .flat_map(|(&p, order)| order.iter().map(move |&j| tags[p as usize * width + j as usize]))
                        .collect(),
                }));
            }
        }
        self.cursor.at += 1;
        self.cursor.next = 0;
        Ok(())
    }

    /// An `Elements` chunk of the partner (spec §9.5): answer it in order per our plan, and
    /// evaluate it for our own comparisons (spec §10.1).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
    )]
    pub(super) fn on_elements(
        &mut self,
        chunk: RecordChunk<ElementBytes>,
        points: &[RistrettoPoint],
        out: &mut Vec<Message>,
    ) -> Result<(), Error> {
        let count = chunk.widths.len() as u32;
        self.check_next(Stream::Regular(0), "Elements", chunk.segment, chunk.first, count)?;
        let t = chunk.segment;
        let ti = t as usize;
        if chunk.widths.iter().any(|&w| w > self.partner[ti].max_width) {
            return Err(PeerMisbehaviour::ShapeMismatch {
                segment: t,
                reason: "a record wider than the segment's declared max_width",
            }
            .into());
        }
        self.cursor.key_sum += chunk.items.len() as u64;
        // spec §9.5: no element of a counted stream may come back in a regular one, where an
        // ordered answer would identify it.
        if !self.counted_prefixes.is_empty()
            && chunk.items.par_iter().any(|e| self.counted_prefixes.binary_search(&prefix(e)).is_ok())
        {
            return Err(PeerMisbehaviour::RepeatedElement { segment: t }.into());
        }

        let mut tags_by_key: Vec<(KeyId, Vec<Tag>)> = Vec::new();
        let answer = |c: u16| RecordChunk {
            reference: c,
            segment: t,
            first: chunk.first,
            widths: chunk.widths.clone(),
            items: Vec::new(),
        };
        for c in self.partner[ti].ordered_answers.clone() {
            out.push(if self.my_plan.bloom {
                // spec §9.7: a Bloom server returns elements, which the receiver unblinds.
                Message::Points(answer(c).with_items(self.class_keys[c as usize].raise_serialize(points)))
            } else {
                let i = self.cached_tags(&mut tags_by_key, KeyId::Class(c), points);
                Message::Tags(answer(c).with_items(tags_by_key[i].1.clone()))
            });
        }

        let pclass = self.partner[ti].class;
        let places: Vec<(u32, u8, usize)> = slots(&chunk.widths).collect();
        for key in self.partner[ti].compare.clone() {
            let i = self.cached_tags(&mut tags_by_key, key, points);
            let tags = std::mem::take(&mut tags_by_key[i].1);
            if self.first {
                // spec §10.1, F: probe the tags the partner returned for our records.
                let budget = self.budget();
                let Some(hits) = self.own_index.probe_all(&tags, budget) else {
                    self.truncated = true;
                    continue;
                };
                self.take_budget(hits.len());
                for (k_item, e) in hits {
                    if e.partner_class != pclass || e.key != key {
                        continue;
                    }
                    let (i, slot, _) = places[k_item];
                    let vis = self.theirs.class_vis[pclass as usize][e.segment as usize];
                    self.record_match(e.segment, e.position, e.slot, vis, t, Some((chunk.first + i, slot)));
                }
            } else {
                // spec §10.1, L: keep these tags until the partner returns ours.
                self.partner_index.extend(places.iter().map(|&(i, slot, k_item)| {
                    (tags[k_item], PartnerSlot { segment: t, position: chunk.first + i, slot, key })
                }));
            }
        }

        self.cursor.next += count;
        if self.partner[ti].blinded {
            self.cursor.pending_blinded = Some((chunk.first, chunk.widths));
        } else if self.cursor.next == self.partner[ti].records {
            self.finish_regular()?;
        }
        Ok(())
    }

    /// The tags of `points` under `key`, computed once per chunk.
    fn cached_tags(&self, cache: &mut Vec<(KeyId, Vec<Tag>)>, key: KeyId, points: &[RistrettoPoint]) -> usize {
        match cache.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                cache.push((key, self.key(key).raise_tags(points)));
                cache.len() - 1
            }
        }
    }

    /// How many more matches the limit of spec §10.1 allows (none once anything was dropped).
    fn budget(&self) -> usize {
        if self.truncated {
            return 0;
        }
        usize::try_from(self.max_matches.saturating_sub(self.matched)).unwrap_or(usize::MAX)
    }

    /// A `Blinded` chunk of the partner (spec §9.6): `BlindEvaluate` with each fields group key
    /// that serves its segment.
    pub(super) fn on_blinded(
        &mut self,
        chunk: RecordChunk<ElementBytes>,
        points: &[RistrettoPoint],
        out: &mut Vec<Message>,
    ) -> Result<(), Error> {
        let Some((first, widths)) = self.cursor.pending_blinded.take() else {
            return Err(unexpected(self.describe_due(), "Blinded"));
        };
        let Some(&Stream::Regular(t)) = self.cursor.streams.get(self.cursor.at) else {
            return Err(unexpected(self.describe_due(), "Blinded"));
        };
        if chunk.segment != t || chunk.first != first || chunk.widths.len() != widths.len() {
            return Err(unexpected(
                format!("Blinded for segment {t} from position {first}, {} records", widths.len()),
                format!(
                    "Blinded for segment {} from position {}, {} records",
                    chunk.segment,
                    chunk.first,
                    chunk.widths.len()
                ),
            ));
        }
        if chunk.widths != widths {
            return Err(PeerMisbehaviour::ShapeMismatch {
                segment: t,
                reason: "Blinded widths that differ from the Elements chunk's",
            }
            .into());
        }
        self.cursor.blinded_sum += chunk.items.len() as u64;
        let groups: Vec<u16> = self.mine.groups_for_row(t as usize).collect();
        for g in groups {
            out.push(Message::Evaluated(RecordChunk {
                reference: g,
                segment: t,
                first,
                widths: chunk.widths.clone(),
                items: self.group_keys[g as usize].0.raise_serialize(points),
            }));
        }
        if self.cursor.next == self.partner[t as usize].records {
            self.finish_regular()?;
        }
        Ok(())
    }

    /// The end of a regular stream: check its declared shape (spec §9.5).
    fn finish_regular(&mut self) -> Result<(), Error> {
        let Some(&Stream::Regular(t)) = self.cursor.streams.get(self.cursor.at) else {
            unreachable!("called at the end of a regular stream");
        };
        let segment = &self.partner[t as usize];
        if self.cursor.key_sum != segment.keys || (segment.blinded && self.cursor.blinded_sum != segment.keys) {
            return Err(PeerMisbehaviour::ShapeMismatch {
                segment: t,
                reason: "widths that do not add up to the declared keys",
            }
            .into());
        }
        self.cursor.at += 1;
        self.cursor.next = 0;
        self.cursor.key_sum = 0;
        self.cursor.blinded_sum = 0;
        Ok(())
    }

    /// Checks a return against the next one owed (spec §9.5) and consumes it. Returns how our
    /// records were served.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
    )]
    fn take_expected<T>(&mut self, kind: Kind, chunk: &RecordChunk<T>) -> Result<Visibility, Error> {
        let count = chunk.widths.len() as u32;
        let matches = self.expected.front().is_some_and(|e| {
            e.kind == kind
                && e.reference == chunk.reference
                && e.segment == chunk.segment
                && e.next == chunk.first
                && if e.exact { count == e.end - e.next } else { count <= e.end - e.next }
        });
        if !matches {
            return Err(unexpected(
                self.describe_return(),
                format!(
                    "{} {} for segment {} from position {}, {count} records",
                    kind.name(),
                    chunk.reference,
                    chunk.segment,
                    chunk.first
                ),
            ));
        }
        let e = self.expected.front_mut().ok_or(Error::State("no return expected"))?;
        let visibility = if e.exact { Visibility::Ordered } else { Visibility::Shuffled };
        e.next += count;
        if e.next == e.end {
            self.expected.pop_front();
        }
        // Widths must be ours: the counted width, or each record's keys.
        let widths_ok = match visibility {
            Visibility::Shuffled => chunk.widths.iter().all(|&w| w == self.own[chunk.segment as usize].counted_width),
            _ => {
                let (s, first) = (chunk.segment, chunk.first);
                chunk.widths.iter().enumerate().all(|(i, &w)| w == self.width(s, first + i as u32))
            }
        };
        if !widths_ok {
            return Err(PeerMisbehaviour::ShapeMismatch {
                segment: chunk.segment,
                reason: "answers whose widths differ from those of the records sent",
            }
            .into());
        }
        Ok(visibility)
    }

    /// Tags returned for our records (spec §10.1): in order for a regular stream, shuffled for a
    /// counted one.
    pub(super) fn on_tags(&mut self, chunk: RecordChunk<Tag>) -> Result<(), Error> {
        let visibility = self.take_expected(Kind::Tags, &chunk)?;
        let (s, c) = (chunk.segment, chunk.reference);
        let key = match visibility {
            Visibility::Shuffled => KeyId::Count,
            _ => KeyId::Class(self.own[s as usize].class),
        };
        let places: Vec<(u32, u8, usize)> = slots(&chunk.widths).collect();
        if self.first {
            self.own_index.extend(places.iter().map(|&(i, slot, k)| {
                (chunk.items[k], OwnSlot { segment: s, position: chunk.first + i, slot, partner_class: c, key })
            }));
        } else {
            let budget = self.budget();
            let Some(hits) = self.partner_index.probe_all(&chunk.items, budget) else {
                self.truncated = true;
                return Ok(());
            };
            self.take_budget(hits.len());
            for (k, e) in hits {
                if e.key == key && self.theirs.class_of_col[e.segment as usize] == c {
                    let (i, slot, _) = places[k];
                    self.record_match(s, chunk.first + i, slot, visibility, e.segment, Some((e.position, e.slot)));
                }
            }
        }
        Ok(())
    }

    /// Elements returned by a Bloom server (spec §9.7): unblinded with the inverse of our class
    /// key and kept until the filters arrive.
    pub(super) fn on_points(
        &mut self,
        chunk: RecordChunk<ElementBytes>,
        points: &[RistrettoPoint],
    ) -> Result<(), Error> {
        let visibility = self.take_expected(Kind::Points, &chunk)?;
        if visibility != Visibility::Ordered {
            return Err(unexpected("ordered Points", "shuffled Points"));
        }
        let s = chunk.segment;
        let inverse = SecretScalar::new(self.class_keys[self.own[s as usize].class as usize].scalar().invert());
        let unblinded = inverse.raise_serialize(points);
        let key = KeyId::Class(self.own[s as usize].class);
        for (i, slot, k) in slots(&chunk.widths) {
            let entry = OwnSlot { segment: s, position: chunk.first + i, slot, partner_class: chunk.reference, key };
            self.bloom_pending.push((unblinded[k], entry));
        }
        Ok(())
    }

    /// `BlindEvaluate` results for our blinded keys, kept for opening sealed fields (spec §10.4).
    pub(super) fn on_evaluated(&mut self, chunk: RecordChunk<ElementBytes>) -> Result<(), Error> {
        self.take_expected(Kind::Evaluated, &chunk)?;
        self.own[chunk.segment as usize].evaluated.entry(chunk.reference).or_default().extend(chunk.items);
        Ok(())
    }

    /// Sealed fields of the partner (spec §10.4): open those of records we matched.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "decoded chunks hold at most 65535 records (a u16 count), positions are below a segment's records (a u32), counted widths at most MAX_COUNTED_WIDTH (4)"
    )]
    pub(super) fn on_sealed(&mut self, chunk: SealedChunk) -> Result<(), Error> {
        let Some(&(g, t)) = self.sealed_in.get(self.sealed_in_at) else {
            return Err(unexpected("no more sealed fields", "Sealed"));
        };
        let records = self.partner[t as usize].records;
        let count = chunk.records.len() as u32;
        if chunk.group != g || chunk.segment != t || chunk.first != self.sealed_in_next || count > records - chunk.first
        {
            return Err(unexpected(
                format!(
                    "Sealed {g} for segment {t} from position {}, at most {} records",
                    self.sealed_in_next,
                    records - self.sealed_in_next
                ),
                format!(
                    "Sealed {} for segment {} from position {}, {count} records",
                    chunk.group, chunk.segment, chunk.first
                ),
            ));
        }
        let max_width = self.partner[t as usize].max_width;
        let group_rows = &self.theirs.groups[g as usize].rows;

        // Every sealed value we can open: one of our matching key slots in a row of this group.
        let mut work = Vec::new();
        for (i, record) in chunk.records.iter().enumerate() {
            let position = chunk.first + i as u32;
            for (slot, sealed) in record {
                if *slot >= max_width {
                    return Err(PeerMisbehaviour::ShapeMismatch {
                        segment: t,
                        reason: "a sealed slot at or beyond the segment's declared max_width",
                    }
                    .into());
                }
                let mine = self.fields_wanted.get(&(t, position, *slot));
                if let Some(&(s, p, j)) = mine.and_then(|v| v.iter().find(|(s, _, _)| group_rows[*s as usize])) {
                    work.push((s, p, j, position, *slot, sealed));
                }
            }
        }
        // RFC 9497 Finalize, with the blinds inverted in one batch.
        let mut inverses: Zeroizing<Vec<Scalar>> = Zeroizing::new(
            work.iter()
                .map(|&(s, p, j, ..)| {
                    let segment = &self.own[s as usize];
                    segment.blinds[(segment.offsets[p as usize] + u32::from(j)) as usize]
                })
                .collect(),
        );
        Scalar::invert_batch_alloc(&mut inverses);
        let names = &self.theirs.groups[g as usize].fields;
        let opened: Vec<(u32, Option<_>)> = work
            .par_iter()
            .zip(inverses.par_iter())
            .map(|(&(s, p, j, position, slot, sealed), inverse)| {
                let segment = &self.own[s as usize];
                let index = (segment.offsets[p as usize] + u32::from(j)) as usize;
                let fields = segment
                    .evaluated
                    .get(&g)
                    .and_then(|e| e.get(index))
                    .and_then(|evaluated| group::deserialize_element(evaluated, index).ok())
                    .and_then(|point| {
                        let record = &self.data.records()[segment.order[p as usize] as usize];
                        let input = record.keys[j as usize].oprf_input();
                        let output = oprf::finalize_hash(&input, &(point * inverse).compress().to_bytes());
                        fields::open(&self.session_id, g, &output, (t, position, slot), sealed, names)
                    });
                (position, fields)
            })
            .collect();
        // spec §10.4: a value that does not open is noted locally, never signalled to the sender
        // (an abort would tell it which of its records we matched).
        for (position, fields) in opened {
            let Some(fields) = fields else {
                self.unopened.insert((t, position));
                continue;
            };
            let known = self.partner_fields.entry((t, position)).or_default();
            for (name, value) in fields {
                if !known.iter().any(|(n, _)| *n == name) {
                    known.push((name, value));
                }
            }
        }

        self.sealed_in_next += count;
        if self.sealed_in_next == records {
            self.sealed_in_at += 1;
            self.sealed_in_next = 0;
        }
        Ok(())
    }

    /// A piece of a partner's Bloom filter (spec §9.7). Once complete, the filter is checked
    /// and the elements returned for our records are looked up in it.
    pub(super) fn on_bloom(&mut self, chunk: BloomChunk) -> Result<(), Error> {
        let Some(&t) = self.bloom_in.get(self.bloom_in_at) else {
            return Err(unexpected("no more Bloom filters", "Bloom"));
        };
        let (keys, class) = (self.partner[t as usize].keys, self.partner[t as usize].class);
        let params = bloom::Params::new(keys, self.bloom_lookups);
        let bad = |reason| Error::from(PeerMisbehaviour::BadBloomFilter { segment: t, reason });
        if chunk.segment != t || chunk.offset != self.bloom_buffer.len() as u64 {
            return Err(unexpected(
                format!("Bloom for segment {t} from byte {}", self.bloom_buffer.len()),
                format!("Bloom for segment {} from byte {}", chunk.segment, chunk.offset),
            ));
        }
        if chunk.offset == 0 {
            // spec §9.7: the size follows from the declared set; refuse anything else before
            // buffering it.
            if !params.plausible_len(chunk.total_len) {
                return Err(bad(BloomDefect::TotalLength));
            }
            self.bloom_total = chunk.total_len;
        } else if chunk.total_len != self.bloom_total {
            return Err(bad(BloomDefect::TotalChanged));
        }
        self.bloom_buffer.extend_from_slice(&chunk.data);
        if (self.bloom_buffer.len() as u64) < self.bloom_total {
            return Ok(());
        }
        let filter = bloom::Received::parse(std::mem::take(&mut self.bloom_buffer), &params).map_err(bad)?;
        let hits: Vec<(ElementBytes, OwnSlot)> = self
            .bloom_pending
            .par_iter()
            .filter(|(e, slot)| slot.partner_class == class && filter.contains(e))
            .map(|(e, slot)| (*e, *slot))
            .collect();
        if self.take_budget(hits.len()) {
            for (element, e) in hits {
                let vis = self.theirs.class_vis[class as usize][e.segment as usize];
                // spec §20.6: what matched is kept, for the receiver to reveal if it chooses.
                if self.record_match(e.segment, e.position, e.slot, vis, t, None) {
                    self.bloom_matched.push((e.segment, e.position, e.slot, t, element));
                }
            }
        }
        self.bloom_in_at += 1;
        if self.bloom_in_at == self.bloom_in.len() {
            self.bloom_pending = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::merge_distinct;

    #[test]
    fn merging_gives_the_sorted_union_or_none_on_a_repeated_value() {
        let p = |b: u8| [b; 16];
        let merged = |old: &[u8], new: &[u8]| {
            merge_distinct(
                &old.iter().map(|&b| p(b)).collect::<Vec<_>>(),
                &new.iter().map(|&b| p(b)).collect::<Vec<_>>(),
            )
            .map(|m| m.iter().map(|x| x[0]).collect::<Vec<_>>())
        };
        assert_eq!(merged(&[1, 4, 6], &[2, 3, 9]), Some(vec![1, 2, 3, 4, 6, 9]));
        // Either list may run out first, or be empty.
        assert_eq!(merged(&[5, 7], &[1]), Some(vec![1, 5, 7]));
        assert_eq!(merged(&[1], &[5, 7]), Some(vec![1, 5, 7]));
        assert_eq!(merged(&[], &[2]), Some(vec![2]));
        assert_eq!(merged(&[2], &[]), Some(vec![2]));
        // A value in both lists, or twice in one.
        assert_eq!(merged(&[1, 4], &[4, 5]), None);
        assert_eq!(merged(&[1], &[3, 3]), None);
        assert_eq!(merged(&[3, 3], &[1]), None);
    }
}
