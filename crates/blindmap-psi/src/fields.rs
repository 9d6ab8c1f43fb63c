//! Sealed fields (spec §10.4): a record's disclosed fields, encrypted under a key derived from
//! the OPRF output of one of its match keys, so that only a holder of an equal key can open them.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA512, Salt};

use crate::oprf::Output;
use crate::record::{FieldName, MAX_FIELD_LEN, Record};
use crate::wire::SessionId;

/// `info` prefix of the sealing key derivation.
const KEY_INFO: &[u8] = b"blindmap/v1/fields";

/// `K = HKDF-Expand(HKDF-Extract(salt = session_id, IKM = output), info, 32)` with
/// `info = "blindmap/v1/fields" || I2OSP(group, 2)` (spec §10.4).
fn sealing_key(session_id: &SessionId, group: u16, output: &Output) -> LessSafeKey {
    let prk = Salt::new(HKDF_SHA512, session_id).extract(output.as_bytes());
    let group = group.to_be_bytes();
    let info = [KEY_INFO, &group[..]];
    #[allow(clippy::expect_used, reason = "HKDF-SHA512 expands up to 255 x 64 bytes; 32 are asked")]
    let okm = prk.expand(&info, &CHACHA20_POLY1305).expect("32-byte output is within HKDF's limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// `I2OSP(segment, 2) || I2OSP(position, 4) || I2OSP(slot, 1) || 0x00 * 5`: unique for every
/// sealed value under one key, even when two records share a key value (spec §10.4).
fn nonce(segment: u16, position: u32, slot: u8) -> Nonce {
    let mut n = [0u8; 12];
    n[..2].copy_from_slice(&segment.to_be_bytes());
    n[2..6].copy_from_slice(&position.to_be_bytes());
    n[6] = slot;
    Nonce::assume_unique_for_key(n)
}

/// The plaintext of spec §10.4: for each listed field, `0x00` if absent, or
/// `0x01 || I2OSP(len, 2) || value`.
pub(crate) fn encode_fields(record: &Record, names: &[FieldName]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in names {
        match record.fields.get(name) {
            Some(value) => {
                out.push(1);
                #[allow(clippy::cast_possible_truncation, reason = "Dataset::new keeps values to MAX_FIELD_LEN (1024)")]
                let len = value.len() as u16;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(value.as_bytes());
            }
            None => out.push(0),
        }
    }
    out
}

fn decode_fields(plain: &[u8], names: &[FieldName]) -> Option<Vec<(FieldName, Option<String>)>> {
    let mut rest = plain;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let (&flag, tail) = rest.split_first()?;
        rest = tail;
        let value = match flag {
            0 => None,
            1 => {
                let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
                if len > MAX_FIELD_LEN {
                    return None;
                }
                let value = std::str::from_utf8(rest.get(2..2 + len)?).ok()?.to_owned();
                rest = &rest[2 + len..];
                Some(value)
            }
            _ => return None,
        };
        out.push((name.clone(), value));
    }
    rest.is_empty().then_some(out)
}

/// Seals `plain` for (segment, position, slot) under the key of `output`.
pub(crate) fn seal(
    session_id: &SessionId,
    group: u16,
    output: &Output,
    (segment, position, slot): (u16, u32, u8),
    plain: &[u8],
) -> Vec<u8> {
    let mut buf = plain.to_vec();
    #[allow(clippy::expect_used, reason = "ChaCha20-Poly1305 seals up to 256 GiB; a record's fields are kilobytes")]
    sealing_key(session_id, group, output)
        .seal_in_place_append_tag(nonce(segment, position, slot), Aad::empty(), &mut buf)
        .expect("plaintext length is bounded far below the AEAD limit");
    buf
}

/// Opens a sealed value; `None` if it does not authenticate or does not parse.
pub(crate) fn open(
    session_id: &SessionId,
    group: u16,
    output: &Output,
    (segment, position, slot): (u16, u32, u8),
    sealed: &[u8],
    names: &[FieldName],
) -> Option<Vec<(FieldName, Option<String>)>> {
    let mut buf = sealed.to_vec();
    let plain = sealing_key(session_id, group, output)
        .open_in_place(nonce(segment, position, slot), Aad::empty(), &mut buf)
        .ok()?;
    decode_fields(plain, names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SegmentLabel;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let names = vec![FieldName::new("owner").unwrap(), FieldName::new("stage").unwrap()];
        let record =
            Record::new("1", SegmentLabel::new("s").unwrap()).with_field(FieldName::new("owner").unwrap(), "Ada");
        let output = Output([5u8; 64]);
        let sid = [1u8; 16];
        let plain = encode_fields(&record, &names);
        let sealed = seal(&sid, 2, &output, (0, 7, 1), &plain);
        let opened = open(&sid, 2, &output, (0, 7, 1), &sealed, &names).unwrap();
        assert_eq!(opened, vec![(names[0].clone(), Some("Ada".into())), (names[1].clone(), None)]);
        // Another key, group, position or session opens nothing.
        assert!(open(&sid, 2, &Output([6u8; 64]), (0, 7, 1), &sealed, &names).is_none());
        assert!(open(&sid, 3, &output, (0, 7, 1), &sealed, &names).is_none());
        assert!(open(&sid, 2, &output, (0, 8, 1), &sealed, &names).is_none());
        assert!(open(&[2u8; 16], 2, &output, (0, 7, 1), &sealed, &names).is_none());
    }
}
