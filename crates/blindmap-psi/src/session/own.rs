//! Our own stream: counted and regular records (spec §9.5), sealed fields (spec §10.4) and Bloom
//! filters (spec §9.7).

use std::sync::Arc;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::exchange::{Exchange, Expected, MAX_CHUNK_ELEMENTS, Stream, chunk_len, counted_chunk_len, prg_label};
use crate::bloom;
use crate::error::{Error, InputError};
use crate::fields;
use crate::group::{self, ElementBytes};
use crate::oprf::{self, HASH_TO_GROUP_DST};
use crate::policy::Visibility;
use crate::record::{MatchKey, Record};
use crate::wire::{BloomChunk, Kind, Message, RecordChunk, SealedChunk, sealed_record_len};

/// Bytes of sealed records per `Sealed` message, at most (a larger record goes alone).
const SEALED_CHUNK_BYTES: usize = 8 << 20;
/// Bytes of a Bloom filter per `Bloom` message.
const BLOOM_PIECE: usize = 4 << 20;
/// Records hashed at a time while building a Bloom filter.
const BLOOM_BATCH: usize = 1 << 16;

/// `HashToGroup` of every input, refusing the identity as RFC 9497 requires.
fn hash_inputs(inputs: &[Vec<u8>]) -> Result<Vec<RistrettoPoint>, Error> {
    let points = group::hash_to_group_all(inputs, HASH_TO_GROUP_DST);
    if points.par_iter().any(|p| *p == RistrettoPoint::identity()) {
        return Err(Error::InvalidInputElement);
    }
    Ok(points)
}

impl Exchange {
    /// The next chunk of our records (spec §9.5): counted streams first, then regular ones.
    /// `None` once all are out.
    pub(super) fn emit_own_chunk(&mut self) -> Result<Option<Vec<Message>>, Error> {
        let Some(&stream) = self.emit_streams.get(self.emit_at) else { return Ok(None) };
        let (s, count, out) = match stream {
            Stream::Counted(s) => self.emit_counted(s)?,
            Stream::Regular(s) => self.emit_regular(s)?,
        };
        let records = self.own[s as usize].records;
        let first = self.emit_pos;
        let last = first + count == records;
        self.expect_returns(stream, first, count, last);
        if last {
            self.emit_at += 1;
            self.emit_pos = 0;
        } else {
            self.emit_pos += count;
        }
        Ok(Some(out))
    }

    /// A chunk of segment `s`'s counted stream (spec §9.5): records in input order, each as
    /// `counted_width` elements — `[k_count] H(key)` for its counted keys, then random stand-ins.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "positions are below a segment's records (MAX_RECORDS < 2^31), chunk counts below MAX_CHUNK_RECORDS (65535), key slots below MAX_KEYS_PER_RECORD (64)"
    )]
    fn emit_counted(&mut self, s: u16) -> Result<(u16, u32, Vec<Message>), Error> {
        let first = self.emit_pos as usize;
        let data = &self.data;
        let segment = &self.own[s as usize];
        let members = data.members(s as usize);
        let width = segment.counted_width as usize;
        let end = (first + counted_chunk_len(self.chunk_records, width, MAX_CHUNK_ELEMENTS)).min(members.len());
        let inputs: Vec<Vec<u8>> = (first..end)
            .flat_map(|i| {
                let keys = &data.records()[members[i] as usize].keys;
                let counted =
                    &segment.counted_keys[segment.counted_offsets[i] as usize..segment.counted_offsets[i + 1] as usize];
                counted.iter().map(|&j| keys[j as usize].oprf_input())
            })
            .collect();
        let points = hash_inputs(&inputs)?;
        let key = self.count_key.as_ref().ok_or(Error::State("a counted segment without a count key"))?;
        let mut real = key.raise_serialize(&points).into_iter();
        let offsets = &segment.counted_offsets[first..=end];
        let prg = self.dummy_prg.get_or_insert_with(|| self.seed.prg(b"blindmap/v1/dummy"));
        let mut stand_ins = Vec::new();
        for w in offsets.windows(2) {
            for _ in (w[1] - w[0]) as usize..width {
                let mut uniform = [0u8; 64];
                prg.fill(&mut uniform);
                stand_ins.push(uniform);
            }
        }
        let mut stand_ins = stand_ins
            .par_iter()
            .map(|u| group::element_from_uniform(u).compress().to_bytes())
            .collect::<Vec<_>>()
            .into_iter();
        let mut items: Vec<ElementBytes> = Vec::with_capacity((end - first) * width);
        for w in offsets.windows(2) {
            let n = (w[1] - w[0]) as usize;
            items.extend(real.by_ref().take(n));
            items.extend(stand_ins.by_ref().take(width - n));
        }
        let count = (end - first) as u32;
        let message = Message::Counted(RecordChunk {
            reference: 0,
            segment: s,
            first: first as u32,
            widths: vec![segment.counted_width; end - first],
            items,
        });
        Ok((s, count, vec![message]))
    }

    /// A chunk of segment `s`'s regular stream: `Elements`, then `Blinded` where fields are
    /// disclosed to us (spec §9.5).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "positions are below a segment's records (MAX_RECORDS < 2^31), chunk counts below MAX_CHUNK_RECORDS (65535), key slots below MAX_KEYS_PER_RECORD (64); a segment's keys are at most MAX_SEGMENT_KEYS (2^32 - 1)"
    )]
    fn emit_regular(&mut self, s: u16) -> Result<(u16, u32, Vec<Message>), Error> {
        let si = s as usize;
        let first = self.emit_pos;
        if first == 0 {
            self.blind_prg = Some(self.seed.prg(&prg_label(b"blindmap/v1/blind", &[s])));
        }
        let data = &self.data;
        let segment = &self.own[si];

        let rest = &segment.order[first as usize..segment.records as usize];
        let take = chunk_len(
            rest.iter().map(|&i| data.records()[i as usize].keys.len()),
            self.chunk_records,
            MAX_CHUNK_ELEMENTS,
        );
        let records: Vec<&Record> = rest[..take].iter().map(|&i| &data.records()[i as usize]).collect();
        let count = take as u32;

        // spec §5.2, §9.5: H(key) once per key, for every use below.
        let inputs: Vec<Vec<u8>> =
            records.par_iter().flat_map_iter(|r| r.keys.iter().map(MatchKey::oprf_input)).collect();
        let points = hash_inputs(&inputs)?;
        let widths: Vec<u8> = records.iter().map(|r| r.keys.len() as u8).collect();
        let items = self.class_keys[segment.class as usize].raise_serialize(&points);
        let mut out =
            vec![Message::Elements(RecordChunk { reference: 0, segment: s, first, widths: widths.clone(), items })];

        if segment.blinded {
            // spec §9.6: RFC 9497 Blind with blinds drawn from the seed, key after key.
            let segment = &mut self.own[si];
            if segment.blinds.capacity() == 0 {
                // Reserved once: growing a `Zeroizing<Vec>` would free old blinds uncleared.
                segment.blinds.reserve_exact(usize::try_from(segment.keys).unwrap_or(usize::MAX));
            }
            let prg = self.blind_prg.as_mut().ok_or(Error::State("blinds drawn before their segment started"))?;
            let start = segment.blinds.len();
            for _ in 0..points.len() {
                segment.blinds.push(prg.scalar());
            }
            let blinds = &segment.blinds[start..];
            let blinded: Vec<ElementBytes> =
                points.par_iter().zip(blinds.par_iter()).map(|(p, r)| (p * r).compress().to_bytes()).collect();
            let mut offset = start as u32;
            for &w in &widths {
                segment.offsets.push(offset);
                offset += u32::from(w);
            }
            out.push(Message::Blinded(RecordChunk { reference: 0, segment: s, first, widths, items: blinded }));
        }

        for g in self.own_groups[si].clone() {
            let sealed = self.seal_records(g, s, first, &records, &inputs, &points);
            self.sealed_out.entry((g, s)).or_default().extend(sealed);
        }
        Ok((s, count, out))
    }

    /// spec §10.4: for each record and each of its keys, the record's fields sealed under the
    /// OPRF output of that key with the group's key.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "positions are below a segment's records (MAX_RECORDS < 2^31), chunk counts below MAX_CHUNK_RECORDS (65535), key slots below MAX_KEYS_PER_RECORD (64)"
    )]
    fn seal_records(
        &self,
        g: u16,
        s: u16,
        first: u32,
        records: &[&Record],
        inputs: &[Vec<u8>],
        points: &[RistrettoPoint],
    ) -> Vec<crate::wire::SealedRecord> {
        let names = &self.mine.groups[g as usize].fields;
        // `[k_g]H(x)` with the input gives the sealing key: cleared once used.
        let issued = Zeroizing::new(self.group_keys[g as usize].0.raise_serialize(points));
        let mut starts = Vec::with_capacity(records.len());
        let mut at = 0usize;
        for r in records {
            starts.push(at);
            at += r.keys.len();
        }
        records
            .par_iter()
            .zip(starts.par_iter())
            .enumerate()
            .map(|(i, (record, &start))| {
                let plain = fields::encode_fields(record, names);
                (0..record.keys.len())
                    .map(|j| {
                        let output = oprf::finalize_hash(&inputs[start + j], &issued[start + j]);
                        let place = (s, first + i as u32, j as u8);
                        (j as u8, fields::seal(&self.session_id, g, &output, place, &plain))
                    })
                    .collect()
            })
            .collect()
    }

    /// Queues what the partner owes us for the chunk just sent, in the order it will answer
    /// (spec §9.5): for a regular chunk, ordered answers per class, then `Evaluated` per group;
    /// after a counted stream's last chunk, its shuffled answers per class.
    fn expect_returns(&mut self, stream: Stream, first: u32, count: u32, last: bool) {
        let kind = if self.their_plan.bloom { Kind::Points } else { Kind::Tags };
        match stream {
            Stream::Regular(s) => {
                let si = s as usize;
                let exact = |kind, reference| Expected {
                    kind,
                    reference,
                    segment: s,
                    next: first,
                    end: first + count,
                    exact: true,
                };
                self.expected.extend(self.theirs.classes_for_row(si, Visibility::Ordered).map(|c| exact(kind, c)));
                if self.own[si].blinded {
                    self.expected.extend(self.theirs.groups_for_row(si).map(|g| exact(Kind::Evaluated, g)));
                }
            }
            Stream::Counted(s) if last => {
                let end = self.own[s as usize].records;
                self.expected.extend(self.theirs.classes_for_row(s as usize, Visibility::Shuffled).map(|c| Expected {
                    kind,
                    reference: c,
                    segment: s,
                    next: 0,
                    end,
                    exact: false,
                }));
            }
            Stream::Counted(_) => {}
        }
    }

    /// The next `Sealed` message (spec §8.8): groups, then segments, then positions, ascending.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "positions are below a segment's records (MAX_RECORDS < 2^31), chunk counts below MAX_CHUNK_RECORDS (65535), key slots below MAX_KEYS_PER_RECORD (64)"
    )]
    pub(super) fn emit_sealed_chunk(&mut self) -> Option<Vec<Message>> {
        let ((g, s), from) = match self.sealed_cursor {
            Some(c) => c,
            None => (*self.sealed_out.keys().next()?, 0),
        };
        #[allow(clippy::expect_used, reason = "the cursor names only streams still in sealed_out")]
        let records = self.sealed_out.get_mut(&(g, s)).expect("cursor points at a stream");
        let to =
            from + chunk_len(records[from..].iter().map(sealed_record_len), self.chunk_records, SEALED_CHUNK_BYTES);
        let chunk: Vec<_> = records[from..to].iter_mut().map(std::mem::take).collect();
        self.sealed_cursor = if to == records.len() {
            self.sealed_out.remove(&(g, s));
            self.sealed_out.keys().next().map(|&k| (k, 0))
        } else {
            Some(((g, s), to))
        };
        Some(vec![Message::Sealed(SealedChunk { group: g, segment: s, first: from as u32, records: chunk })])
    }

    /// The next `Bloom` message (spec §9.7): each visible segment's filter, in pieces.
    pub(super) fn emit_bloom_piece(&mut self) -> Result<Option<Vec<Message>>, Error> {
        loop {
            if let Some((t, filter, offset)) = &mut self.bloom_current {
                let end = (*offset + BLOOM_PIECE).min(filter.len());
                let message = Message::Bloom(BloomChunk {
                    segment: *t,
                    total_len: filter.len() as u64,
                    offset: *offset as u64,
                    data: filter[*offset..end].to_vec(),
                });
                *offset = end;
                if end == filter.len() {
                    self.bloom_current = None;
                }
                return Ok(Some(vec![message]));
            }
            let Some(&t) = self.bloom_segments.get(self.bloom_at) else { return Ok(None) };
            self.bloom_at += 1;
            let filter = self.build_filter(t)?;
            self.bloom_current = Some((t, filter, 0));
        }
    }

    /// Our segment `t`'s evaluated keys, as a filter with the parameters of spec §9.7: kept in
    /// the Bloom cache where the session has one (spec §20.5), else made anew.
    fn build_filter(&self, t: u16) -> Result<Arc<Vec<u8>>, Error> {
        let segment = &self.own[t as usize];
        let params = bloom::Params::new(segment.keys, self.bloom_lookups);
        let mut seed = [0u8; 32];
        self.seed.prg(&prg_label(b"blindmap/v1/bloom", &[t])).fill(&mut seed);
        let build = |evaluated: &mut dyn FnMut(&mut bloom::Builder) -> Result<(), Error>| {
            let mut builder = bloom::Builder::new(&params, &seed).ok_or(InputError::BloomTooLarge(params.bytes))?;
            evaluated(&mut builder)?;
            Ok::<_, Error>(builder.finish())
        };
        let Some(cache) = &self.bloom_cache else {
            return Ok(Arc::new(build(&mut |builder| {
                for batch in self.evaluate_batches(t) {
                    builder.insert_all(&batch?);
                }
                Ok(())
            })?));
        };
        let evaluated = cache.evaluated(t, segment.class, || {
            let mut all = Vec::with_capacity(usize::try_from(segment.keys).unwrap_or(0));
            for batch in self.evaluate_batches(t) {
                all.extend(batch?);
            }
            Ok::<_, Error>(all)
        })?;
        cache.filter(t, segment.class, (params.bytes, params.hashes), || {
            build(&mut |builder| {
                for batch in evaluated.chunks(BLOOM_BATCH) {
                    builder.insert_all(batch);
                }
                Ok(())
            })
        })
    }

    /// `[k_c] H(x)` for every key of our segment `t`, `c` its class, in batches.
    fn evaluate_batches(&self, t: u16) -> impl Iterator<Item = Result<Vec<ElementBytes>, Error>> + '_ {
        let key = &self.class_keys[self.own[t as usize].class as usize];
        self.data.members(t as usize).chunks(BLOOM_BATCH).map(move |members| {
            let inputs: Vec<Vec<u8>> = members
                .iter()
                .flat_map(|&r| self.data.records()[r as usize].keys.iter().map(MatchKey::oprf_input))
                .collect();
            Ok(key.raise_serialize(&hash_inputs(&inputs)?))
        })
    }
}
