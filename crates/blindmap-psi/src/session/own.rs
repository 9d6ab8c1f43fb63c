//! Our own stream: records (spec §9.5), sealed fields (spec §10.4) and Bloom filters (spec §9.7).

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::exchange::{Exchange, Expected, MAX_CHUNK_ELEMENTS, prg_label};
use crate::bloom;
use crate::error::Error;
use crate::fields;
use crate::group::{self, ElementBytes};
use crate::oprf::{self, HASH_TO_GROUP_DST};
use crate::policy::Visibility;
use crate::record::{MatchKey, Record};
use crate::wire::{BloomChunk, Kind, Message, RecordChunk, SealedChunk};

/// Bytes of sealed fields per `Sealed` message, at most (plus one record).
const SEALED_CHUNK_BYTES: usize = 8 << 20;
/// Bytes of a Bloom filter per `Bloom` message.
const BLOOM_PIECE: usize = 4 << 20;
/// Records hashed at a time while building a Bloom filter.
const BLOOM_BATCH: usize = 1 << 16;

impl Exchange {
    /// The next chunk of our records: `Elements`, then `Blinded` for segments that receive
    /// fields (spec §9.5). `None` once all are out.
    pub(super) fn emit_own_chunk(&mut self) -> Result<Option<Vec<Message>>, Error> {
        let Some(&s) = self.emit_segments.get(self.emit_at) else { return Ok(None) };
        let si = s as usize;
        let first = self.emit_pos;
        if first == 0 {
            self.pad_prg = Some(self.seed.prg(&prg_label(b"blindmap/v1/pad", &[s])));
            self.blind_prg = Some(self.seed.prg(&prg_label(b"blindmap/v1/blind", &[s])));
        }
        let data = std::sync::Arc::clone(&self.data);
        let segment = &self.own[si];

        // spec §8.6: at most `chunk_records` records and MAX_CHUNK_ELEMENTS elements. Each record
        // sends its keys, or in a padded segment the keys it is first to hold (spec §9.5).
        let mut records: Vec<SentRecord<'_>> = Vec::new();
        let mut elements = 0usize;
        while first + (records.len() as u32) < segment.records && records.len() < self.chunk_records {
            let position = first as usize + records.len();
            let record = &data.records()[segment.order[position] as usize];
            let keys: Vec<&MatchKey> = if segment.padded {
                segment.kept[position].iter().map(|&j| &record.keys[j as usize]).collect()
            } else {
                record.keys.iter().collect()
            };
            let width = if segment.padded { segment.max_width as usize } else { keys.len() };
            if !records.is_empty() && elements + width > MAX_CHUNK_ELEMENTS {
                break;
            }
            elements += width;
            records.push(SentRecord { record, keys });
        }
        let count = records.len() as u32;
        let last = first + count == segment.records;

        // spec §5.2, §9.5: H(key) once per key, for every use below.
        let inputs: Vec<Vec<u8>> =
            records.par_iter().flat_map_iter(|r| r.keys.iter().map(|k| k.oprf_input())).collect();
        let points = group::hash_to_group_all(&inputs, HASH_TO_GROUP_DST);
        if points.par_iter().any(|p| *p == RistrettoPoint::identity()) {
            return Err(Error::InvalidInputElement);
        }
        let real_widths: Vec<u8> = records.iter().map(|r| r.keys.len() as u8).collect();
        let evaluated = self.class_keys[segment.class as usize].raise_serialize(&points);

        let (widths, items) =
            if segment.padded { self.pad(si, &real_widths, evaluated) } else { (real_widths.clone(), evaluated) };
        let mut out = vec![Message::Elements(RecordChunk { reference: 0, segment: s, first, widths, items })];

        if self.own[si].blinded {
            // spec §9.6: RFC 9497 Blind with blinds drawn from the seed, key after key.
            let segment = &mut self.own[si];
            if segment.blinds.capacity() == 0 {
                // Reserved once: growing a `Zeroizing<Vec>` would free old blinds uncleared.
                segment.blinds.reserve_exact(usize::try_from(segment.keys).unwrap_or(usize::MAX));
            }
            let prg = self.blind_prg.as_mut().expect("set at segment start");
            let start = segment.blinds.len();
            for _ in 0..points.len() {
                segment.blinds.push(prg.scalar());
            }
            let blinds = &segment.blinds[start..];
            let blinded: Vec<ElementBytes> =
                points.par_iter().zip(blinds.par_iter()).map(|(p, r)| (p * r).compress().to_bytes()).collect();
            let mut offset = start as u32;
            for &w in &real_widths {
                segment.offsets.push(offset);
                offset += u32::from(w);
            }
            out.push(Message::Blinded(RecordChunk {
                reference: 0,
                segment: s,
                first,
                widths: real_widths.clone(),
                items: blinded,
            }));
        }

        for g in self.own_groups[si].clone() {
            let sealed = self.seal_records(g, s, first, &records, &inputs, &points);
            self.sealed_out.entry((g, s)).or_default().extend(sealed);
        }

        self.expect_returns(s, first, count, last);
        if last {
            self.emit_at += 1;
            self.emit_pos = 0;
        } else {
            self.emit_pos += count;
        }
        Ok(Some(out))
    }

    /// spec §9.5: pads every record of a counts-level segment to the segment's largest width with
    /// elements drawn from the seed, indistinguishable from real ones.
    fn pad(&mut self, s: usize, real_widths: &[u8], evaluated: Vec<ElementBytes>) -> (Vec<u8>, Vec<ElementBytes>) {
        let width = self.own[s].max_width;
        let prg = self.pad_prg.as_mut().expect("set at segment start");
        let pads: Vec<[u8; 64]> = real_widths
            .iter()
            .flat_map(|&w| 0..(width - w))
            .map(|_| {
                let mut bytes = [0u8; 64];
                prg.fill(&mut bytes);
                bytes
            })
            .collect();
        let pads: Vec<ElementBytes> =
            pads.par_iter().map(|b| group::element_from_uniform(b).compress().to_bytes()).collect();
        let mut items = Vec::with_capacity(real_widths.len() * width as usize);
        let (mut real, mut pad) = (evaluated.into_iter(), pads.into_iter());
        for &w in real_widths {
            items.extend(real.by_ref().take(w as usize));
            items.extend(pad.by_ref().take((width - w) as usize));
        }
        (vec![width; real_widths.len()], items)
    }

    /// spec §10.4: for each record and each of its keys, the record's fields sealed under the
    /// OPRF output of that key with the group's key.
    fn seal_records(
        &self,
        g: u16,
        s: u16,
        first: u32,
        records: &[SentRecord<'_>],
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
            .map(|(i, (sent, &start))| {
                let (record, keys) = (sent.record, &sent.keys);
                let plain = fields::encode_fields(record, names);
                (0..keys.len())
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
    /// (spec §9.5): ordered returns per class, `Evaluated` per group, and at the end of the
    /// segment the shuffled returns per class.
    fn expect_returns(&mut self, s: u16, first: u32, count: u32, last: bool) {
        let si = s as usize;
        let kind = if self.their_plan.bloom { Kind::Points } else { Kind::Tags };
        let classes: Vec<(u16, Visibility)> = self.theirs.classes_for_row(si).collect();
        let exact =
            |kind, reference| Expected { kind, reference, segment: s, next: first, end: first + count, exact: true };
        for &(c, vis) in &classes {
            if vis == Visibility::Ordered {
                self.expected.push_back(exact(kind, c));
            }
        }
        if self.own[si].blinded {
            let groups: Vec<u16> = self.theirs.groups_for_row(si).collect();
            for g in groups {
                self.expected.push_back(exact(Kind::Evaluated, g));
            }
        }
        if last {
            let records = self.own[si].records;
            for &(c, vis) in &classes {
                if vis == Visibility::Shuffled {
                    self.expected.push_back(Expected {
                        kind,
                        reference: c,
                        segment: s,
                        next: 0,
                        end: records,
                        exact: false,
                    });
                }
            }
        }
    }

    /// The next `Sealed` message (spec §8.8): groups, then segments, then positions, ascending.
    pub(super) fn emit_sealed_chunk(&mut self) -> Option<Vec<Message>> {
        let ((g, s), from) = match self.sealed_cursor {
            Some(c) => c,
            None => (*self.sealed_out.keys().next()?, 0),
        };
        let records = self.sealed_out.get_mut(&(g, s)).expect("cursor points at a stream");
        let mut bytes = 0usize;
        let mut to = from;
        while to < records.len() && to - from < self.chunk_records && (to == from || bytes < SEALED_CHUNK_BYTES) {
            bytes += records[to].iter().map(|(_, ct)| ct.len() + 3).sum::<usize>() + 1;
            to += 1;
        }
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

    /// Our segment `t`'s evaluated keys, as a filter with the parameters of spec §9.7.
    fn build_filter(&self, t: u16) -> Result<Vec<u8>, Error> {
        let ti = t as usize;
        let segment = &self.own[ti];
        let params = bloom::Params::new(segment.keys, self.bloom_lookups);
        let mut seed = [0u8; 32];
        self.seed.prg(&prg_label(b"blindmap/v1/bloom", &[t])).fill(&mut seed);
        let mut builder = bloom::Builder::new(&params, &seed);
        let key = &self.class_keys[segment.class as usize];
        for members in self.data.members(ti).chunks(BLOOM_BATCH) {
            let inputs: Vec<Vec<u8>> = members
                .iter()
                .flat_map(|&r| self.data.records()[r as usize].keys.iter().map(|k| k.oprf_input()))
                .collect();
            let points = group::hash_to_group_all(&inputs, HASH_TO_GROUP_DST);
            if points.par_iter().any(|p| *p == RistrettoPoint::identity()) {
                return Err(Error::InvalidInputElement);
            }
            builder.insert_all(&key.raise_serialize(&points));
        }
        Ok(builder.finish())
    }
}

/// A record as it goes out: the keys it sends, in slot order.
struct SentRecord<'a> {
    record: &'a Record,
    keys: Vec<&'a MatchKey>,
}
