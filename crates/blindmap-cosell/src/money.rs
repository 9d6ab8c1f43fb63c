//! Amounts of money: integer minor units of an ISO 4217 currency, and exchange rates as exact
//! decimals, so that splitting and converting never loses or invents a cent.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// An ISO 4217 currency code: three ASCII capitals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// A currency from its code, e.g. `EUR`.
    pub fn new(code: &str) -> Result<Self, Error> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(Error::Invalid(format!("{code:?} is not a currency code such as EUR or USD"))),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).expect("ASCII")
    }

    /// Digits after the decimal point (ISO 4217 minor unit): 0 for JPY and its like, 3 for the
    /// dinars, 2 for the rest.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;

    fn try_from(code: String) -> Result<Self, Error> {
        Self::new(&code)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount: minor units (cents) of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units; negative amounts are refunds or credits.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// The largest amount, in minor units, either way (10^15: ten trillion euros and cents).
    /// Within it, splits are exact in `f64` and conversions at any rate a [`Rate`] can state
    /// fit the arithmetic; beyond it amounts are refused, never wrapped or clamped.
    pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

    /// Checks that the amount is within [`Money::MAX_MINOR`].
    pub fn check(&self) -> Result<(), Error> {
        if self.minor.unsigned_abs() > Self::MAX_MINOR.unsigned_abs() {
            let max = Self { minor: Self::MAX_MINOR, currency: self.currency };
            return Err(Error::Invalid(format!("an amount is at most {max} either way")));
        }
        Ok(())
    }

    /// `text` (e.g. `12500.50`) of `currency`, with at most as many decimals as the currency has.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, Error> {
        let invalid = || Error::Invalid(format!("{text:?} is not an amount of {currency} (e.g. 12500.50)"));
        let (negative, digits) = match text.trim().strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.trim()),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let exponent = currency.exponent() as usize;
        if whole.is_empty()
            || fraction.len() > exponent
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (digits.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let padded = format!("{whole}{fraction:0<exponent$}");
        let minor: i64 = padded.parse().map_err(|_| invalid())?;
        let money = Self { minor: if negative { -minor } else { minor }, currency };
        money.check()?;
        Ok(money)
    }

    /// Splits the amount by `weights` (any non-negative numbers, not all zero): each share is
    /// rounded to a minor unit, and the shares add up to the amount exactly (largest remainders).
    pub fn split(&self, weights: &[f64]) -> Vec<Self> {
        let shares = largest_remainder(self.minor, weights);
        shares.into_iter().map(|minor| Self { minor, currency: self.currency }).collect()
    }

    /// The amount in `to` at `rate` (units of `to` per unit of this currency), rounded half away
    /// from zero to a minor unit of `to`; refused when either amount is beyond
    /// [`Money::MAX_MINOR`].
    pub fn convert(&self, rate: &Rate, to: Currency) -> Result<Self, Error> {
        self.check()?;
        let out_of_range =
            || Error::Invalid(format!("{self} at {rate} is beyond the largest amount of {to} (Money::MAX_MINOR)"));
        let shift = i64::from(to.exponent()) - i64::from(self.currency.exponent());
        let mut numerator = i128::from(self.minor).checked_mul(rate.scaled).ok_or_else(out_of_range)?;
        let mut denominator = Rate::SCALE;
        if shift >= 0 {
            numerator = numerator.checked_mul(10i128.pow(shift as u32)).ok_or_else(out_of_range)?;
        } else {
            denominator *= 10i128.pow((-shift) as u32);
        }
        let rounded = numerator
            .unsigned_abs()
            .checked_mul(2)
            .and_then(|n| n.checked_add(denominator.unsigned_abs()))
            .ok_or_else(out_of_range)?
            / (denominator.unsigned_abs() * 2);
        let minor = i64::try_from(rounded).map_err(|_| out_of_range())?;
        let converted = Self { minor: if numerator < 0 { -minor } else { minor }, currency: to };
        converted.check().map_err(|_| out_of_range())?;
        Ok(converted)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let unit = 10u64.pow(exponent);
        write!(f, "{sign}{}.{:0width$} {}", abs / unit, abs % unit, self.currency, width = exponent as usize)
    }
}

/// An exchange rate: an exact decimal with up to nine places, e.g. `1.0842`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rate {
    scaled: i128,
}

impl Rate {
    const PLACES: usize = 9;
    const SCALE: i128 = 1_000_000_000;

    /// A positive rate from its decimal text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || Error::Invalid(format!("{text:?} is not an exchange rate such as 1.0842"));
        let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        if whole.is_empty()
            || fraction.len() > Self::PLACES
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || whole.len() > 12
        {
            return Err(invalid());
        }
        let scaled: i128 =
            format!("{whole}{fraction:0<width$}", width = Self::PLACES).parse().map_err(|_| invalid())?;
        if scaled == 0 {
            return Err(invalid());
        }
        Ok(Self { scaled })
    }

    /// Exactly one.
    pub fn one() -> Self {
        Self { scaled: Self::SCALE }
    }
}

impl TryFrom<String> for Rate {
    type Error = Error;

    fn try_from(text: String) -> Result<Self, Error> {
        Self::parse(&text)
    }
}

impl From<Rate> for String {
    fn from(r: Rate) -> Self {
        r.to_string()
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.scaled / Self::SCALE;
        let fraction = format!("{:09}", self.scaled % Self::SCALE);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() { write!(f, "{whole}") } else { write!(f, "{whole}.{fraction}") }
    }
}

/// `total` split in proportion to `weights`, each share an integer, the shares summing to `total`
/// exactly: floors first, then the units left go to the largest remainders (ties to the earlier).
pub(crate) fn largest_remainder(total: i64, weights: &[f64]) -> Vec<i64> {
    let sum: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let magnitude = total.unsigned_abs() as f64;
    let exact: Vec<f64> =
        weights.iter().map(|w| if w.is_finite() && *w > 0.0 { magnitude * w / sum } else { 0.0 }).collect();
    let mut shares: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let assigned: i64 = shares.iter().sum();
    let mut left = total.abs() - assigned;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Remainders equal but for floating-point noise are ties, which go to the earlier share.
    let remainder = |i: usize| ((exact[i] - exact[i].floor()) * 1e9).round() as i64;
    order.sort_by(|&a, &b| remainder(b).cmp(&remainder(a)).then(a.cmp(&b)));
    for &i in order.iter().cycle().take(weights.len() * 2) {
        if left == 0 {
            break;
        }
        if exact[i] > 0.0 {
            shares[i] += left.signum();
            left -= left.signum();
        }
    }
    if total < 0 {
        shares.iter_mut().for_each(|s| *s = -*s);
    }
    shares
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn eur() -> Currency {
        Currency::new("EUR").unwrap()
    }

    #[test]
    fn amounts_parse_to_minor_units_of_their_currency() {
        assert_eq!(Money::parse("12500.5", eur()).unwrap().minor, 1_250_050);
        assert_eq!(Money::parse("-3", eur()).unwrap().minor, -300);
        let yen = Currency::new("JPY").unwrap();
        assert_eq!(Money::parse("1500", yen).unwrap().minor, 1500);
        assert!(Money::parse("1500.5", yen).is_err(), "yen have no cents");
        let dinar = Currency::new("KWD").unwrap();
        assert_eq!(Money::parse("1.234", dinar).unwrap().to_string(), "1.234 KWD");
        for bad in ["", "1.", ".5", "1,5", "1.005", "1e3", "--1", "12 000"] {
            assert!(Money::parse(bad, eur()).is_err(), "{bad:?}");
        }
        assert!(Currency::new("eur").is_err() && Currency::new("EURO").is_err());
    }

    #[test]
    fn shares_ignore_unusable_weights_and_give_units_to_the_largest_remainders() {
        // Negative, NaN and infinite weights take no share and do not count in the sum.
        assert_eq!(largest_remainder(10, &[1.0, -1.0, f64::NAN, f64::INFINITY, 1.0]), [5, 0, 0, 0, 5]);
        // 1 unit over 0.2, 0.4, 0.4: the larger remainder wins, the earlier of a tie.
        assert_eq!(largest_remainder(1, &[1.0, 2.0, 2.0]), [0, 1, 0]);
        assert_eq!(largest_remainder(-1, &[1.0, 2.0, 2.0]), [0, -1, 0]);
    }

    #[test]
    fn a_rate_has_at_most_twelve_whole_digits() {
        assert!(Rate::parse("999999999999").is_ok());
        assert!(Rate::parse("1000000000000").is_err());
    }

    #[test]
    fn conversion_is_exact_and_rounds_half_away_from_zero() {
        let rate = Rate::parse("1.0842").unwrap();
        let usd = Currency::new("USD").unwrap();
        let m = Money::parse("100.00", eur()).unwrap().convert(&rate, usd).unwrap();
        assert_eq!(m.to_string(), "108.42 USD");
        // 0.05 EUR × 1.5 = 0.075 → 0.08; negative likewise.
        let half = Rate::parse("1.5").unwrap();
        assert_eq!(Money { minor: 5, currency: eur() }.convert(&half, usd).unwrap().minor, 8);
        assert_eq!(Money { minor: -5, currency: eur() }.convert(&half, usd).unwrap().minor, -8);
        // Across exponents: 1,000 JPY at 0.0061 EUR = 6.10 EUR.
        let yen = Currency::new("JPY").unwrap();
        assert_eq!(
            Money { minor: 1000, currency: yen }.convert(&Rate::parse("0.0061").unwrap(), eur()).unwrap().minor,
            610
        );
        // And down: 100.00 EUR at 160.5 JPY = 16,050 JPY; 0.01 EUR at 160.5 = 1.605 → 2 JPY.
        assert_eq!(
            Money::parse("100.00", eur()).unwrap().convert(&Rate::parse("160.5").unwrap(), yen).unwrap().minor,
            16_050
        );
        assert_eq!(Money { minor: 1, currency: eur() }.convert(&Rate::parse("160.5").unwrap(), yen).unwrap().minor, 2);
        assert_eq!(Rate::parse("1.084200000").unwrap().to_string(), "1.0842");
        assert!(Rate::parse("0").is_err() && Rate::parse("-1").is_err() && Rate::parse("1.0000000001").is_err());
    }

    #[test]
    fn amounts_and_conversions_out_of_range_are_refused_not_wrapped() {
        let usd = Currency::new("USD").unwrap();
        assert!(Money::parse("10000000000000.00", eur()).is_ok(), "the largest amount");
        assert!(Money::parse("10000000000000.01", eur()).is_err(), "one cent more");
        assert!(Money::parse("-92233720368547758.07", eur()).is_err());
        // What wrote a −92 quadrillion USD credit: the largest i64 of cents at a large rate.
        let huge = Money { minor: i64::MAX, currency: eur() };
        assert!(huge.convert(&Rate::parse("999999999999.999999999").unwrap(), usd).is_err());
        let largest = Money::parse("10000000000000.00", eur()).unwrap();
        assert!(largest.convert(&Rate::parse("999999999999.999999999").unwrap(), usd).is_err(), "beyond the largest");
        assert!(largest.convert(&Rate::parse("1.5").unwrap(), usd).is_err());
        assert_eq!(largest.convert(&Rate::one(), usd).unwrap().minor, Money::MAX_MINOR);
        assert!(Money::parse("-10000000000000.00", eur()).unwrap().convert(&Rate::parse("0.5").unwrap(), usd).is_ok());
    }

    #[test]
    fn splits_add_up_exactly() {
        let m = Money { minor: 100, currency: eur() };
        let thirds: Vec<i64> = m.split(&[1.0, 1.0, 1.0]).iter().map(|s| s.minor).collect();
        assert_eq!(thirds, [34, 33, 33]);
        let u: Vec<i64> = m.split(&[0.4, 0.1, 0.1, 0.4]).iter().map(|s| s.minor).collect();
        assert_eq!(u, [40, 10, 10, 40]);
        assert_eq!(m.split(&[0.0, 0.0]).iter().map(|s| s.minor).collect::<Vec<_>>(), [0, 0]);
    }

    proptest! {
        #[test]
        fn any_split_sums_to_the_total(total in -10_000_000i64..10_000_000, weights in prop::collection::vec(0.0f64..1000.0, 1..12)) {
            let shares = largest_remainder(total, &weights);
            prop_assert_eq!(shares.len(), weights.len());
            if weights.iter().any(|w| *w > 0.0) {
                prop_assert_eq!(shares.iter().sum::<i64>(), total);
            }
            for (s, w) in shares.iter().zip(&weights) {
                if *w == 0.0 { prop_assert_eq!(*s, 0); }
            }
        }
    }

    #[test]
    fn currencies_and_rates_serialize_as_their_text() {
        let money = Money { minor: 1_250, currency: eur() };
        let json = serde_json::to_string(&money).unwrap();
        assert_eq!(json, r#"{"minor":1250,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), money);
        assert!(serde_json::from_str::<Currency>(r#""eur""#).is_err());
        let rate = Rate::parse("1.0842").unwrap();
        assert_eq!(serde_json::to_string(&rate).unwrap(), r#""1.0842""#);
        assert_eq!(serde_json::from_str::<Rate>(r#""1.0842""#).unwrap(), rate);
        assert_eq!(serde_json::to_string(&Rate::one()).unwrap(), r#""1""#);
        assert!(serde_json::from_str::<Rate>(r#""0""#).is_err());
        assert_eq!(String::from(eur()), "EUR");
        assert_eq!(eur().to_string(), "EUR");
    }
}
