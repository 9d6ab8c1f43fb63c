//! Times as the API writes and reads them: RFC 3339 text to and from Unix milliseconds (UTC).
//!
//! The language read is a strict subset of RFC 3339 §5.6: a `full-date` (`2027-01-15`, read as
//! midnight UTC) or a `date-time` with seconds and an offset (`2027-01-15T09:30:00Z`,
//! `…09:30:00.250+01:00`); `T` and `Z` in either case; one to nine fraction digits, of which
//! those beyond milliseconds are dropped. No leap second (`:60`), no space for `T`, no offset
//! without its colon, nothing before or after. The instant must fall within the years 0000 to
//! 9999 in UTC, where [`format`] can write it back. Calendar rules and arithmetic are jiff's; this
//! module only fixes the shape.

use jiff::SignedDuration;
use jiff::civil::{self, DateTime};

/// Why a text is not a time this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not shaped as `2027-01-15` or `2027-01-15T09:30:00Z` (with optional fraction and offset).
    #[error("not an RFC 3339 date or date-time, e.g. 2027-01-15 or 2027-01-15T09:30:00Z")]
    Shape,
    /// Shaped right but naming no real date, time of day or offset: `2027-02-31`, `24:00:00`,
    /// `+24:00`.
    #[error("no such date, time of day or offset")]
    NoSuch,
    /// A real date and time whose instant lies before 0000-01-01 or after 9999-12-31 in UTC
    /// (`0000-01-01T00:00:00+01:00`), which RFC 3339 cannot write.
    #[error("outside the years 0000 to 9999 in UTC")]
    OutOfRange,
}

/// 1970-01-01T00:00:00, from which Unix time counts.
const EPOCH: DateTime = civil::date(1970, 1, 1).at(0, 0, 0, 0);
/// 0000-01-01T00:00:00.000Z in Unix milliseconds: the first instant RFC 3339 can write.
pub const MIN_MS: i64 = -62_167_219_200_000;
/// 9999-12-31T23:59:59.999Z in Unix milliseconds: the last instant RFC 3339 can write.
pub const MAX_MS: i64 = 253_402_300_799_999;
const DAY_MS: i64 = 86_400_000;

/// Unix milliseconds of an RFC 3339 date (midnight UTC) or date-time, in the language the
/// module documentation gives.
pub fn parse(text: &str) -> Result<i64, ParseError> {
    let b = text.as_bytes();
    let (Some(year), Some(b'-'), Some(month), Some(b'-'), Some(day)) =
        (number(b, 0..4), b.get(4), number(b, 5..7), b.get(7), number(b, 8..10))
    else {
        return Err(ParseError::Shape);
    };
    let date = civil::Date::new(year as i16, month as i8, day as i8).map_err(|_| ParseError::NoSuch)?;
    if b.len() == 10 {
        return in_range(date.to_datetime(civil::Time::midnight()).duration_since(EPOCH).as_secs() * 1000);
    }
    let (Some(b'T' | b't'), Some(hour), Some(b':'), Some(minute), Some(b':'), Some(second)) =
        (b.get(10), number(b, 11..13), b.get(13), number(b, 14..16), b.get(16), number(b, 17..19))
    else {
        return Err(ParseError::Shape);
    };
    let time = civil::Time::new(hour as i8, minute as i8, second as i8, 0).map_err(|_| ParseError::NoSuch)?;
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(ParseError::Shape);
        }
        let kept = n.min(3);
        millis = i64::from(number(fraction, 0..kept).expect("digits")) * 10i64.pow(3 - kept as u32);
        rest = &fraction[n..];
    }
    let offset_seconds = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (Some(h), Some(m)) = (number(rest, 1..3), number(rest, 4..6)) else {
                return Err(ParseError::Shape);
            };
            if h > 23 || m > 59 {
                return Err(ParseError::NoSuch);
            }
            i64::from(h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return Err(ParseError::Shape),
    };
    let local = date.to_datetime(time).duration_since(EPOCH).as_secs();
    in_range((local - offset_seconds) * 1000 + millis)
}

/// The number written by the ASCII digits at `range` of `b`, if all of them are digits.
fn number(b: &[u8], range: core::ops::Range<usize>) -> Option<u32> {
    let digits = b.get(range)?;
    digits.iter().all(u8::is_ascii_digit).then(|| digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn in_range(ms: i64) -> Result<i64, ParseError> {
    if (MIN_MS..=MAX_MS).contains(&ms) { Ok(ms) } else { Err(ParseError::OutOfRange) }
}

/// The civil date and time in UTC of Unix milliseconds, clamped to what RFC 3339 can write.
fn utc(ms: i64) -> DateTime {
    EPOCH
        .checked_add(SignedDuration::from_millis(ms.clamp(MIN_MS, MAX_MS)))
        .expect("years 0000 to 9999 are within jiff's civil range")
}

/// RFC 3339 UTC time of Unix milliseconds, e.g. `2026-11-21T09:30:00.123Z`: always to the
/// millisecond, always with `Z`. Instants before year 0000 or after 9999, which [`parse`] never
/// gives, are written as the first or last millisecond RFC 3339 can write.
pub fn format(ms: i64) -> String {
    utc(ms).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What a person is shown for a time: the date alone (`2027-01-15`) at midnight UTC, which is
/// how a date given without a time of day reads back, else the whole of [`format`].
pub fn format_for_people(ms: i64) -> String {
    if ms.rem_euclid(DAY_MS) == 0 { utc(ms).date().strftime("%Y-%m-%d").to_string() } else { format(ms) }
}

/// The UTC calendar date of Unix milliseconds as (year, month, day), clamped as [`format`] is.
pub fn utc_date(ms: i64) -> (u16, u8, u8) {
    let date = utc(ms).date();
    (date.year() as u16, date.month() as u8, date.day() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> i64 {
        parse(text).unwrap()
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(format(951_782_400_000), "2000-02-29T00:00:00.000Z", "a leap day");
        assert_eq!(format(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(format(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(format(i64::MIN), format(MIN_MS), "clamped");
        assert_eq!(format(i64::MAX), format(MAX_MS), "clamped");
    }

    #[test]
    fn rfc3339_dates_and_times_parse_to_milliseconds() {
        assert_eq!(time("1970-01-01"), 0);
        assert_eq!(time("2021-02-25T15:02:10.123Z"), 1_614_265_330_123);
        assert_eq!(time("2021-02-25T16:02:10.123+01:00"), 1_614_265_330_123, "an offset");
        assert_eq!(time("2021-02-25T14:32:10.123456789-00:30"), 1_614_265_330_123, "nanoseconds dropped");
        assert_eq!(time("2021-02-25t15:02:10.1z"), 1_614_265_330_100);
        assert_eq!(time("2000-02-29"), 951_782_400_000, "a leap day");
        assert_eq!(time("1969-12-31T23:59:59.999Z"), -1);
        assert_eq!(time("1969-12-31T23:59:59.9999Z"), -1, "digits dropped, not rounded, before 1970 too");
        assert_eq!(time("0000-01-01"), MIN_MS);
        assert_eq!(time("9999-12-31T23:59:59.999Z"), MAX_MS);
        assert_eq!(time("0000-02-29"), MIN_MS + 59 * DAY_MS, "year 0 is a leap year (divisible by 400)");
        for ms in [0, 1_614_265_330_123, 951_782_400_000, -1, 4_102_444_800_000, 1_800_000_000_001, MIN_MS, MAX_MS] {
            assert_eq!(time(&format(ms)), ms, "the inverse of format()");
        }
        for bad in [
            "",
            "2027-1-15",
            "2027-01-15T",
            "2027-01-15 09:30:00Z",
            "2027-01-15T09:30:00",
            "2027-01-15T09:30:00.Z",
            "2027-01-15T09:30:00.1234567890Z",
            "2027-01-15T09:30:00+0100",
            "2027-01-15T09:30:00+01:00 ",
            "2027-01-15T09:30:00+1:000",
            "+2027-01-15",
            "2027-01-15Z",
            "15/01/2027",
            "yesterday",
        ] {
            assert_eq!(parse(bad), Err(ParseError::Shape), "{bad:?}");
        }
        for no_such in [
            "2027-13-01",
            "2027-00-10",
            "2027-01-00",
            "2027-02-29",
            "2100-02-29",
            "1900-02-29",
            "2027-02-31",
            "2027-04-31",
            "2027-01-15T24:00:00Z",
            "2027-01-15T09:60:00Z",
            "2027-01-15T23:59:60Z",
            "2027-01-15T09:30:00+24:00",
            "2027-01-15T09:30:00-01:60",
        ] {
            assert_eq!(parse(no_such), Err(ParseError::NoSuch), "{no_such:?}");
        }
        for outside in ["0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "9999-12-31T23:30:00-23:59"] {
            assert_eq!(parse(outside), Err(ParseError::OutOfRange), "{outside:?}");
        }
    }

    #[test]
    fn the_range_is_what_rfc3339_can_write() {
        let ms = |dt: DateTime| dt.duration_since(EPOCH).as_millis() as i64;
        assert_eq!(MIN_MS, ms(civil::date(0, 1, 1).at(0, 0, 0, 0)));
        assert_eq!(MAX_MS, ms(civil::date(9999, 12, 31).at(23, 59, 59, 999_000_000)));
    }

    #[test]
    fn people_see_a_date_alone_at_midnight() {
        assert_eq!(format_for_people(time("2027-01-15")), "2027-01-15");
        assert_eq!(format_for_people(time("0000-01-01")), "0000-01-01");
        assert_eq!(format_for_people(time("2027-01-15T00:00:00.001Z")), "2027-01-15T00:00:00.001Z");
        assert_eq!(format_for_people(time("2027-01-15T00:00:00+01:00")), "2027-01-14T23:00:00.000Z");
        assert_eq!(utc_date(time("2012-02-29T23:59:59Z")), (2012, 2, 29));
        assert_eq!(utc_date(-1), (1969, 12, 31));
    }
}
