//! The RFC 3339 reader of blindmap-cosell on arbitrary text: what it accepts, written back by
//! `format`, reads as the same instant; and whatever `format` writes, it reads.
#![no_main]

use blindmap_cosell::time::{MAX_MS, MIN_MS, format, format_for_people, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Some(ms) = bytes.get(..8) {
        let ms = i64::from_le_bytes(ms.try_into().expect("8 bytes"));
        assert_eq!(parse(&format(ms)), Ok(ms.clamp(MIN_MS, MAX_MS)), "{ms}");
    }
    let Ok(text) = core::str::from_utf8(bytes) else { return };
    let Ok(ms) = parse(text) else { return };
    assert!((MIN_MS..=MAX_MS).contains(&ms), "{text:?} read as {ms}");
    let written = format(ms);
    assert_eq!(parse(&written), Ok(ms), "{text:?} read as {ms}, written as {written:?}");
    assert_eq!(parse(&format_for_people(ms)), Ok(ms), "{text:?}");
});
