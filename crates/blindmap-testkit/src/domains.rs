//! Company domains: derived from the brand, unique across the world, and their Punycode form.

use crate::countries::{COUNTRIES, US};
use crate::names::fold_accents;
use crate::util::{Rng, chance, pick};
use rand::RngExt;

/// Words that companies leave out of their domain.
const SKIPPED: &[&str] = &["the", "and", "de", "d", "of", "la", "le"];

/// Registrars allow 63 bytes; companies keep labels short, dropping trailing words rather than cutting one.
const LABEL_MAX: usize = 30;

/// The labels a company would register, in order of preference.
pub(crate) struct Labels {
    /// "norvaleanalytics", "norvale-analytics" or "norvale".
    pub(crate) preferred: String,
    /// Every word run together, the fallback when the preferred one is gone: "norvaleanalytics".
    pub(crate) full: String,
}

/// How a brand becomes the label of its domain. With `unicode`, accented letters stay (an IDN label);
/// otherwise they fold to ASCII, and German umlauts sometimes to their two-letter spelling ("mueller").
pub(crate) fn labels(rng: &mut Rng, brand: &str, unicode: bool) -> Labels {
    let text = if unicode {
        brand.to_lowercase()
    } else if chance(rng, 0.4) {
        fold_accents(&brand.replace('ä', "ae").replace('ö', "oe").replace('ü', "ue")).to_lowercase()
    } else {
        fold_accents(brand).to_lowercase()
    };
    let mut words: Vec<&str> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty() && !SKIPPED.contains(w)).collect();
    if words.is_empty() {
        words.push("company");
    }
    while words.len() > 1 && words.iter().map(|w| w.chars().count() + 1).sum::<usize>() > LABEL_MAX {
        words.pop();
    }
    let full = words.concat();
    let preferred = match rng.random_range(0..10) {
        0..=4 => full.clone(),
        5..=7 => words.join("-"),
        // Only distinctive first words make a domain of their own: "kestrel.com", not "sun.com".
        _ if words.len() > 1 && words[0].chars().count() >= 6 => words[0].to_owned(),
        _ => full.clone(),
    };
    Labels { preferred, full }
}

/// The top-level domain a company of `country` registers: `.com` for the US and ~40% of the others.
pub(crate) fn tld(rng: &mut Rng, country: usize) -> &'static str {
    if country == US || chance(rng, 0.4) { ".com" } else { COUNTRIES[country].tld }
}

/// The first candidate domain that `taken` does not hold: the preferred label under `tld` or the country's,
/// then the full label, then the variants a company registers when its first choices are gone.
pub(crate) fn first_free(
    rng: &mut Rng,
    labels: &Labels,
    tld: &str,
    country: usize,
    taken: &mut dyn FnMut(&str) -> bool,
) -> String {
    let (preferred, full) = (&labels.preferred, &labels.full);
    let code = COUNTRIES[country].code.to_ascii_lowercase();
    let own = COUNTRIES[country].tld;
    let fixed = [
        format!("{preferred}{tld}"),
        format!("{preferred}{own}"),
        format!("{full}{tld}"),
        format!("{full}{own}"),
        format!("{full}group{tld}"),
        format!("{full}-{code}{tld}"),
        format!("{full}hq.com"),
        format!("get{full}.com"),
        format!("{full}global.com"),
    ];
    for candidate in fixed {
        if !taken(&candidate) {
            return candidate;
        }
    }
    loop {
        let candidate = format!("{full}{}{tld}", rng.random_range(2..1000));
        if !taken(&candidate) {
            return candidate;
        }
    }
}

/// One or two more domains for a multi-domain company: the same label under another TLD, or a longer label.
pub(crate) fn extra_candidates(rng: &mut Rng, label: &str, primary: &str, country: usize) -> Vec<String> {
    let country_tld = COUNTRIES[country].tld;
    let other_tld = if primary.ends_with(country_tld) && country != US { ".com" } else { pick(rng, &COUNTRIES).tld };
    let mut out = vec![
        format!("{label}{other_tld}"),
        format!("{label}{}", pick(rng, &["corp.com", "group.com", "inc.com", "online.com", "-global.com"])),
        format!("{label}{}", pick(rng, &[".io", ".net", ".eu", ".co"])),
    ];
    out.retain(|d| d != primary);
    out
}

/// The ASCII form of a domain: each non-ASCII label in Punycode (RFC 3492) behind `xn--`.
pub(crate) fn to_ascii(domain: &str) -> String {
    domain
        .split('.')
        .map(|label| if label.is_ascii() { label.to_owned() } else { format!("xn--{}", punycode(label)) })
        .collect::<Vec<_>>()
        .join(".")
}

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;

/// The bias for the next delta, per RFC 3492 section 6.1.
fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    match d {
        0..=25 => char::from(b'a' + d as u8),
        _ => char::from(b'0' + (d - 26) as u8),
    }
}

/// RFC 3492 encoding of one label. Labels are short, so the integer overflow the RFC guards against cannot
/// arise here (checked arithmetic would only hide a bug behind a panic anyway).
fn punycode(label: &str) -> String {
    let input: Vec<u32> = label.chars().map(u32::from).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (128u32, 0u32, 72u32, basic);
    while (handled as usize) < input.len() {
        let next = input.iter().copied().filter(|&c| c >= n).min().unwrap_or(n);
        delta += (next - n) * (handled + 1);
        n = next;
        for &c in &input {
            if c < n {
                delta += 1;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{Stream, rng_for};

    #[test]
    fn punycode_matches_reference_vectors() {
        // Vectors from Python's punycode codec.
        assert_eq!(punycode("müller-technik"), "mller-technik-wob");
        assert_eq!(punycode("société-générale"), "socit-gnrale-eebbcb");
        assert_eq!(punycode("bücher"), "bcher-kva");
        assert_eq!(punycode("ñandú"), "and-6ma2c");
        assert_eq!(punycode("zürich-ö"), "zrich--1xa6b");
        assert_eq!(to_ascii("müller-technik.de"), "xn--mller-technik-wob.de");
        assert_eq!(to_ascii("acme.com"), "acme.com");
    }

    #[test]
    fn labels_are_ascii_unless_asked() {
        let mut rng = rng_for(4, Stream::World, 0);
        for _ in 0..100 {
            let l = labels(&mut rng, "Société Générale d'Équipement", false);
            assert!(l.preferred.is_ascii() && l.preferred.starts_with("societe"), "{}", l.preferred);
            assert_eq!(l.full, "societegeneraleequipement");
        }
        let l = labels(&mut rng, "Müller Technik", true);
        assert!(l.preferred.starts_with("müller"), "{}", l.preferred);
        let l = labels(&mut rng, "Ashby & Bennett Data International Worldwide", false);
        assert_eq!(l.full, "ashbybennettdata");
    }

    #[test]
    fn first_free_skips_taken_domains() {
        let mut rng = rng_for(4, Stream::World, 0);
        let mut taken = |d: &str| d.starts_with("acme.");
        let labels = Labels { preferred: "acme".into(), full: "acmeanalytics".into() };
        assert_eq!(first_free(&mut rng, &labels, ".com", 2, &mut taken), "acmeanalytics.com");
        let mut taken = |d: &str| d.starts_with("acme");
        assert!(first_free(&mut rng, &labels, ".com", 2, &mut taken).starts_with("getacme"));
    }
}
