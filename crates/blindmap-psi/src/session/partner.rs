//! The partner's stream: its records, which we answer and compare (spec §9.5, §10.1), the returns
//! of ours, its sealed fields (spec §10.4) and its Bloom filters (spec §9.7).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::exchange::{Exchange, MAX_CHUNK_ELEMENTS, OwnSlot, PartnerSlot, ShuffleBuffer, prg_label};
use crate::bloom;
use crate::error::{Error, PeerMisbehaviour};
use crate::fields;
use crate::group::{self, ElementBytes, Tag};
use crate::oprf;
use crate::policy::Visibility;
use crate::wire::{BloomChunk, Kind, Message, RecordChunk, SealedChunk};

fn unexpected(expected: impl Into<String>, got: impl Into<String>) -> Error {
    PeerMisbehaviour::UnexpectedMessage { expected: expected.into(), got: got.into() }.into()
}

/// `(record index in chunk, slot, item index)` for every item of a chunk.
fn slots(widths: &[u8]) -> impl Iterator<Item = (u32, u8, usize)> + '_ {
    widths
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| (0..w).map(move |j| (i as u32, j)))
        .enumerate()
        .map(|(k, (i, j))| (i, j, k))
}

/// The tags of `points` under class key `class`, computed once per chunk.
fn cached_tags(
    cache: &mut Vec<(u16, Vec<Tag>)>,
    keys: &[group::SecretScalar],
    class: u16,
    points: &[RistrettoPoint],
) -> usize {
    match cache.iter().position(|(k, _)| *k == class) {
        Some(i) => i,
        None => {
            cache.push((class, keys[class as usize].raise_tags(points)));
            cache.len() - 1
        }
    }
}

/// The tuples at `positions`, each `width` items long, back to back, each tuple's items in the
/// order given by its `width` entries of `slots`.
fn gather<T: Copy>(items: &[T], positions: &[u32], slots: &[u8], width: usize) -> Vec<T> {
    positions
        .iter()
        .zip(slots.chunks(width))
        .flat_map(|(&p, order)| order.iter().map(move |&j| items[p as usize * width + j as usize]))
        .collect()
}

impl Exchange {
    /// An `Elements` chunk of the partner (spec §9.5): answer it per our plan, and evaluate it
    /// for our own comparisons (spec §10.1).
    pub(super) fn on_elements(
        &mut self,
        chunk: RecordChunk<ElementBytes>,
        points: &[RistrettoPoint],
        out: &mut Vec<Message>,
    ) -> Result<(), Error> {
        let cursor = &self.cursor;
        let Some(&t) = cursor.segments.get(cursor.at) else {
            return Err(unexpected("no more records", "Elements"));
        };
        if cursor.pending_blinded.is_some() {
            return Err(unexpected("Blinded", "Elements"));
        }
        let ti = t as usize;
        let segment = &self.partner[ti];
        let count = chunk.widths.len() as u32;
        if chunk.segment != t || chunk.first != cursor.next || count > segment.records - cursor.next {
            return Err(unexpected(
                format!("Elements for segment {t} from position {}", cursor.next),
                format!("Elements for segment {} from position {}", chunk.segment, chunk.first),
            ));
        }
        for &w in &chunk.widths {
            if w > segment.max_width {
                return Err(PeerMisbehaviour::ShapeMismatch { segment: t }.into());
            }
            // spec §9.5: a segment we return shuffled must be padded, or the partner could
            // recognise its records by their widths.
            if segment.padded && w != segment.max_width {
                return Err(PeerMisbehaviour::NotPadded { segment: t, width: segment.max_width }.into());
            }
        }
        self.cursor.key_sum += chunk.items.len() as u64;
        // spec §9.5: no element of a padded segment may appear twice in the session. Padded
        // segments come first, so every later element is checked against all of theirs.
        let padded = segment.padded;
        if padded || !self.padded_seen.is_empty() {
            for e in &chunk.items {
                let prefix: [u8; 16] = e[..16].try_into().expect("16 bytes");
                let repeated =
                    if padded { !self.padded_seen.insert(prefix) } else { self.padded_seen.contains(&prefix) };
                if repeated {
                    return Err(PeerMisbehaviour::RepeatedElement { segment: t }.into());
                }
            }
        }

        let mirror = self.partner[ti].mirror.clone();
        let compare = self.partner[ti].compare.clone();
        let mut tags_by_class: Vec<(u16, Vec<Tag>)> = Vec::new();
        let mut answers = Vec::new();
        for &(c, vis) in &mirror {
            if self.my_plan.bloom {
                // spec §9.7: a Bloom server returns elements, which the receiver unblinds.
                let items = self.class_keys[c as usize].raise_serialize(points);
                match vis {
                    Visibility::Ordered => answers.push(Message::Points(RecordChunk {
                        reference: c,
                        segment: t,
                        first: chunk.first,
                        widths: chunk.widths.clone(),
                        items,
                    })),
                    _ => self.buffer_shuffled(c, ShuffleBuffer::Points(items)),
                }
            } else {
                let i = cached_tags(&mut tags_by_class, &self.class_keys, c, points);
                let items = tags_by_class[i].1.clone();
                match vis {
                    Visibility::Ordered => answers.push(Message::Tags(RecordChunk {
                        reference: c,
                        segment: t,
                        first: chunk.first,
                        widths: chunk.widths.clone(),
                        items,
                    })),
                    _ => self.buffer_shuffled(c, ShuffleBuffer::Tags(items)),
                }
            }
        }
        out.extend(answers);

        for &k in &compare {
            let i = cached_tags(&mut tags_by_class, &self.class_keys, k, points);
            let tags = std::mem::take(&mut tags_by_class[i].1);
            let pclass = self.partner[ti].class;
            let places: Vec<(u32, u8, usize)> = slots(&chunk.widths).collect();
            if self.first {
                // spec §10.1, F: probe the tags the partner returned for our records.
                let hits = self.own_index.probe_all(&tags);
                for (k_item, e) in hits {
                    if e.partner_class != pclass || self.own[e.segment as usize].class != k {
                        continue;
                    }
                    let (i, slot, _) = places[k_item];
                    let vis = self.theirs.class_vis[pclass as usize][e.segment as usize];
                    self.record_match(e.segment, e.position, e.slot, vis, t, Some((chunk.first + i, slot)))?;
                }
            } else {
                // spec §10.1, L: keep these tags until the partner returns ours.
                self.partner_index.extend(places.iter().map(|&(i, slot, k_item)| {
                    (tags[k_item], PartnerSlot { segment: t, position: chunk.first + i, slot, my_class: k })
                }));
            }
        }

        self.cursor.next += count;
        if self.partner[ti].blinded {
            self.cursor.pending_blinded = Some((chunk.first, chunk.widths));
        } else if self.cursor.next == self.partner[ti].records {
            self.finish_partner_segment(out)?;
        }
        Ok(())
    }

    fn buffer_shuffled(&mut self, class: u16, items: ShuffleBuffer) {
        match (self.shuffle.iter_mut().find(|(c, _)| *c == class), items) {
            (Some((_, ShuffleBuffer::Tags(buf))), ShuffleBuffer::Tags(items)) => buf.extend(items),
            (Some((_, ShuffleBuffer::Points(buf))), ShuffleBuffer::Points(items)) => buf.extend(items),
            (None, items) => self.shuffle.push((class, items)),
            _ => unreachable!("a class returns either tags or points for a whole session"),
        }
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
            return Err(unexpected("Elements", "Blinded"));
        };
        let t = self.cursor.segments[self.cursor.at];
        let ti = t as usize;
        if chunk.segment != t || chunk.first != first || chunk.widths.len() != widths.len() {
            return Err(unexpected(
                format!("Blinded for segment {t} from position {first}"),
                format!("Blinded for segment {} from position {}", chunk.segment, chunk.first),
            ));
        }
        let segment = &self.partner[ti];
        if (!segment.padded && chunk.widths != widths) || chunk.widths.iter().any(|&w| w > segment.max_width) {
            return Err(PeerMisbehaviour::ShapeMismatch { segment: t }.into());
        }
        self.cursor.blinded_sum += chunk.items.len() as u64;
        let groups: Vec<u16> = self.mine.groups_for_row(ti).collect();
        for g in groups {
            out.push(Message::Evaluated(RecordChunk {
                reference: g,
                segment: t,
                first,
                widths: chunk.widths.clone(),
                items: self.group_keys[g as usize].0.raise_serialize(points),
            }));
        }
        if self.cursor.next == self.partner[ti].records {
            self.finish_partner_segment(out)?;
        }
        Ok(())
    }

    /// The end of a partner segment: check its declared shape and send the shuffled answers
    /// (spec §9.5).
    fn finish_partner_segment(&mut self, out: &mut Vec<Message>) -> Result<(), Error> {
        let t = self.cursor.segments[self.cursor.at];
        let segment = &self.partner[t as usize];
        // Padded segments send each key once (spec §9.5), so their blinded keys may be fewer.
        let blinded_ok = if segment.padded {
            self.cursor.blinded_sum <= segment.keys
        } else {
            self.cursor.blinded_sum == segment.keys
        };
        let shape_ok = (segment.padded || self.cursor.key_sum == segment.keys) && (!segment.blinded || blinded_ok);
        if !shape_ok {
            return Err(PeerMisbehaviour::ShapeMismatch { segment: t }.into());
        }
        let width = segment.max_width as usize;
        let records = segment.records as usize;
        for (c, buffer) in std::mem::take(&mut self.shuffle) {
            // spec §9.5: returned tuple p is received tuple π[p], its slots permuted too, all
            // drawn from PRG(seed, label).
            let mut prg = self.seed.prg(&prg_label(b"blindmap/v1/shuffle", &[c, t]));
            let mut permutation: Zeroizing<Vec<u32>> = Zeroizing::new((0..records as u32).collect());
            prg.shuffle(&mut permutation);
            let mut slot_orders: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(records * width));
            for _ in 0..records {
                let mut slots: Vec<u8> = (0..width as u8).collect();
                prg.shuffle(&mut slots);
                slot_orders.extend_from_slice(&slots);
            }
            let per_chunk = self.chunk_records.min(MAX_CHUNK_ELEMENTS / width).max(1);
            for (n, positions) in permutation.chunks(per_chunk).enumerate() {
                let start = n * per_chunk;
                let slots = &slot_orders[start * width..(start + positions.len()) * width];
                let first = start as u32;
                let widths = vec![segment.max_width; positions.len()];
                out.push(match &buffer {
                    ShuffleBuffer::Tags(items) => Message::Tags(RecordChunk {
                        reference: c,
                        segment: t,
                        first,
                        widths,
                        items: gather(items, positions, slots, width),
                    }),
                    ShuffleBuffer::Points(items) => Message::Points(RecordChunk {
                        reference: c,
                        segment: t,
                        first,
                        widths,
                        items: gather(items, positions, slots, width),
                    }),
                });
            }
        }
        self.cursor.at += 1;
        self.cursor.next = 0;
        self.cursor.key_sum = 0;
        self.cursor.blinded_sum = 0;
        Ok(())
    }

    /// Checks a return against the next one owed (spec §9.5) and consumes it. Returns how our
    /// records were served.
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
            let expected = match self.expected.front() {
                Some(e) => {
                    format!("{} {} for segment {} from position {}", e.kind.name(), e.reference, e.segment, e.next)
                }
                None => "nothing until our next records".into(),
            };
            return Err(unexpected(
                expected,
                format!(
                    "{} {} for segment {} from position {}",
                    kind.name(),
                    chunk.reference,
                    chunk.segment,
                    chunk.first
                ),
            ));
        }
        let e = self.expected.front_mut().expect("checked above");
        let visibility = if e.exact { Visibility::Ordered } else { Visibility::Shuffled };
        e.next += count;
        if e.next == e.end {
            self.expected.pop_front();
        }
        // Widths must be ours: padded where we padded, real otherwise (Evaluated is never padded).
        let segment = &self.own[chunk.segment as usize];
        let widths_ok = if kind != Kind::Evaluated && (segment.padded || visibility == Visibility::Shuffled) {
            chunk.widths.iter().all(|&w| w == segment.max_width)
        } else {
            let (s, first) = (chunk.segment, chunk.first);
            chunk.widths.iter().enumerate().all(|(i, &w)| w == self.real_width(s, first + i as u32))
        };
        if !widths_ok {
            return Err(PeerMisbehaviour::ShapeMismatch { segment: chunk.segment }.into());
        }
        Ok(visibility)
    }

    /// Tags returned for our records (spec §10.1).
    pub(super) fn on_tags(&mut self, chunk: RecordChunk<Tag>) -> Result<(), Error> {
        let visibility = self.take_expected(Kind::Tags, &chunk)?;
        let (s, c) = (chunk.segment, chunk.reference);
        let my_class = self.own[s as usize].class;
        // Ordered returns skip our padding; shuffled ones cannot tell it apart.
        let places: Vec<(u32, u8, usize)> = slots(&chunk.widths)
            .filter(|&(i, slot, _)| visibility != Visibility::Ordered || slot < self.real_width(s, chunk.first + i))
            .collect();
        if self.first {
            self.own_index.extend(places.iter().map(|&(i, slot, k)| {
                (chunk.items[k], OwnSlot { segment: s, position: chunk.first + i, slot, partner_class: c })
            }));
        } else {
            let probes: Vec<Tag> = places.iter().map(|&(_, _, k)| chunk.items[k]).collect();
            for (p, e) in self.partner_index.probe_all(&probes) {
                if e.my_class == my_class && self.theirs.class_of_col[e.segment as usize] == c {
                    let (i, slot, _) = places[p];
                    self.record_match(s, chunk.first + i, slot, visibility, e.segment, Some((e.position, e.slot)))?;
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
        let s = chunk.segment;
        let inverse = group::SecretScalar::new(self.class_keys[self.own[s as usize].class as usize].scalar().invert());
        let unblinded = inverse.raise_serialize(points);
        for (i, slot, k) in slots(&chunk.widths) {
            let position = chunk.first + i;
            if visibility == Visibility::Ordered && slot >= self.real_width(s, position) {
                continue;
            }
            self.bloom_pending
                .push((unblinded[k], OwnSlot { segment: s, position, slot, partner_class: chunk.reference }));
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
    pub(super) fn on_sealed(&mut self, chunk: SealedChunk) -> Result<(), Error> {
        let Some(&(g, t)) = self.sealed_in.get(self.sealed_in_at) else {
            return Err(unexpected("no more sealed fields", "Sealed"));
        };
        let records = self.partner[t as usize].records;
        let count = chunk.records.len() as u32;
        if chunk.group != g || chunk.segment != t || chunk.first != self.sealed_in_next || count > records - chunk.first
        {
            return Err(unexpected(
                format!("Sealed {g} for segment {t} from position {}", self.sealed_in_next),
                format!("Sealed {} for segment {} from position {}", chunk.group, chunk.segment, chunk.first),
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
                    return Err(PeerMisbehaviour::ShapeMismatch { segment: t }.into());
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
                        let input = record.keys[self.key_index(s, p, j) as usize].oprf_input();
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
            let expected = params.serialized_len();
            if chunk.total_len.abs_diff(expected) > expected / 100 + 8 {
                return Err(bad("size does not match the declared set"));
            }
            self.bloom_total = chunk.total_len;
        } else if chunk.total_len != self.bloom_total {
            return Err(bad("total length changed between pieces"));
        }
        self.bloom_buffer.extend_from_slice(&chunk.data);
        if (self.bloom_buffer.len() as u64) < self.bloom_total {
            return Ok(());
        }
        let filter = bloom::Received::parse(std::mem::take(&mut self.bloom_buffer), &params).map_err(bad)?;
        let hits: Vec<OwnSlot> = self
            .bloom_pending
            .par_iter()
            .filter(|(e, slot)| slot.partner_class == class && filter.contains(e))
            .map(|(_, slot)| *slot)
            .collect();
        for e in hits {
            let vis = self.theirs.class_vis[class as usize][e.segment as usize];
            self.record_match(e.segment, e.position, e.slot, vis, t, None)?;
        }
        self.bloom_in_at += 1;
        if self.bloom_in_at == self.bloom_in.len() {
            self.bloom_pending = Vec::new();
        }
        Ok(())
    }
}
