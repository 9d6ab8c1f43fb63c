//! The frame decoder of blindmap-psi (spec §8) on arbitrary bytes: it refuses them or returns a
//! frame that encodes to exactly those bytes. One encoding per frame: a strict codec has no
//! slack for a second reading of the same message.
#![no_main]

use blindmap_psi::wire::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let peeked = Frame::peek_len(bytes);
    let Ok(frame) = Frame::decode(bytes) else { return };
    let encoded = frame.encode();
    assert_eq!(encoded, bytes, "decode accepted bytes that are not the encoding of what it read");
    assert_eq!(Frame::decode(&encoded).as_ref(), Ok(&frame), "decode(encode(x)) != x");
    assert_eq!(peeked, Ok(Some(bytes.len())), "peek_len disagrees with the frame decoded");
    assert_eq!(Frame::peek_kind(bytes), Some(frame.message.kind()));
});
