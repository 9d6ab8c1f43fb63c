//! Brand names: how companies are named, how look-alike names differ, and what a name folds to.

use crate::countries::COUNTRIES;
use crate::util::{Rng, chance, pick, pick_weighted};
use rand::RngExt;

const HEADS: &[&str] = &[
    "Nor", "Kes", "Zen", "Vel", "Al", "Cor", "Tri", "Quan", "Lum", "Ast", "Ver", "Mar", "Sol", "Hal", "Tor", "Ev",
    "Om", "Pal", "Ros", "Syn", "Bel", "Car", "Dor", "Fen", "Gal", "Jun", "Lex", "Mer", "Nex", "Or", "Pra", "Rad",
    "Sil", "Tal", "Ul", "Van", "Wyn", "Xan", "Yor", "Zel", "Bren", "Cal", "Dra", "Est", "Flo", "Gren", "Hy", "Kin",
];
const MIDS: &[&str] = &["", "", "", "a", "e", "i", "o", "ar", "en", "il", "or", "u", "am"];
const TAILS: &[&str] = &[
    "vale", "wick", "ton", "ford", "ex", "ia", "on", "ara", "ium", "is", "ly", "tra", "ven", "dale", "mont", "gate",
    "ridge", "port", "line", "ify", "co", "tek", "sys", "um", "eon", "ant", "ix", "os", "ova", "ence",
];
const FIRSTS: &[&str] = &[
    "Bright", "Silver", "Blue", "Red", "Green", "Golden", "North", "South", "East", "West", "Summit", "Pioneer",
    "Eagle", "Falcon", "Cedar", "Oak", "Maple", "Pine", "River", "Lake", "Harbor", "Stone", "Iron", "Copper",
    "Crystal", "Clear", "Deep", "High", "Long", "Red Rock", "Sun", "Star", "Moon", "Wild", "Black", "White",
];
const SECONDS: &[&str] = &[
    "water", "field", "bridge", "gate", "point", "view", "stone", "wood", "brook", "crest", "ridge", "way", "line",
    "path", "ford", "haven", "spring", "peak", "light", "wave", "hill", "forge", "mark", "rock",
];
const SINGLES: &[&str] = &[
    "Delta", "Orion", "Kestrel", "Zenith", "Atlas", "Apex", "Vertex", "Pinnacle", "Horizon", "Meridian", "Beacon",
    "Keystone", "Liberty", "Heritage", "Sequoia", "Cobalt", "Osprey", "Juniper", "Tundra", "Quasar", "Nimbus",
    "Sterling", "Vanguard", "Paragon", "Summit", "Lumen", "Polaris", "Cascade", "Catalyst", "Sentinel",
];
const INDUSTRY_WORDS: &[&str] = &[
    "Analytics",
    "Logistics",
    "Bio",
    "Systems",
    "Solutions",
    "Technologies",
    "Software",
    "Labs",
    "Networks",
    "Consulting",
    "Partners",
    "Capital",
    "Health",
    "Energy",
    "Foods",
    "Freight",
    "Manufacturing",
    "Media",
    "Robotics",
    "Security",
    "Pharma",
    "Materials",
    "Dynamics",
    "Industries",
    "Holdings",
    "Services",
    "Engineering",
    "Design",
    "Data",
    "Cloud",
    "Medical",
    "Retail",
    "Motors",
    "Aerospace",
    "Telecom",
    "Insurance",
    "Financial",
    "Ventures",
    "Studios",
    "Outfitters",
    "Supply",
    "Brewing",
    "Electric",
    "Marine",
    "Therapeutics",
    "Instruments",
    "Apparel",
];
const SURNAMES: &[&str] = &[
    "Barnes", "Noble", "Johnson", "Harper", "Wells", "Fischer", "Porter", "Hale", "Carter", "Brooks", "Reed",
    "Bennett", "Foster", "Hayes", "Marsh", "Lowell", "Pryce", "Whitman", "Sutton", "Mercer", "Ashby", "Keller",
];
const PAIRS: &[&str] = &["Salt", "Pepper", "Sons", "Oak", "Iron", "Stone", "Bolt", "Nut", "Rope", "Anchor"];
const GERMAN_WORDS: &[&str] =
    &["Maschinenbau", "Technik", "Werke", "Antriebstechnik", "Logistik", "Bau", "Systeme", "Energie", "Handel"];
const GERMAN_SURNAMES: &[&str] =
    &["Müller", "Schäfer", "Köhler", "Jäger", "Bäcker", "Krämer", "Schröder", "Böhm", "Günther", "Wölfel", "Lüdke"];
const FRENCH_ADJECTIVES: &[&str] = &["Générale", "Nationale", "Européenne", "Alpine", "Méridionale", "Atlantique"];
const FRENCH_NOUNS: &[&str] = &["Équipement", "Études", "Électricité", "Énergie", "Ingénierie", "Télécoms"];
const SPANISH_WORDS: &[&str] = &["Energía", "Logística", "Ingeniería", "Tecnología", "Construcción", "Química"];
const NORDIC_NAMES: &[&str] = &["Söderberg", "Åkerlund", "Bjørnvik", "Strömberg", "Ångström", "Løvås", "Hämäläinen"];
const NORDIC_WORDS: &[&str] = &["Teknik", "Industri", "Konsult", "Maritime", "Gruppen", "Data"];
const NORDIC_ACCENTED: &[&str] = &["Sjöfart", "Mätteknik", "Rådgivning", "Løsninger", "Tjänster", "Fjärrvärme"];
const GERMAN_ACCENTED: &[&str] =
    &["Fördertechnik", "Gerätebau", "Präzisionstechnik", "Lösungen", "Kühlsysteme", "Bürotechnik", "Wärmetechnik"];
const POLISH_ACCENTED: &[&str] = &["Usługi", "Rozwiązania", "Wdrożenia", "Łączność", "Wyposażenie"];
const PORTUGUESE_WORDS: &[&str] = &["Construções", "Soluções", "Comércio", "Importação", "Logística"];
const POLISH_WORDS: &[&str] = &["Łódź", "Gdańsk", "Kraków", "Wrocław", "Poznań"];
const ACCENTED_ANYWHERE: &[&str] = &["Café", "Crème", "Zoë", "Résumé", "Niño", "Über", "Élan", "Señor", "Naïve"];
const SIMILAR_SUFFIXES: &[&str] = &["Group", "Holdings", "International", "Global", "Partners", "Worldwide", "Labs"];

/// Whether a coined word reads like a name: no doubled or tripled vowels, no stutter like "arar".
fn pronounceable(word: &str) -> bool {
    let chars: Vec<char> = word.to_ascii_lowercase().chars().collect();
    let vowel = |c: char| "aeiouy".contains(c);
    let doubled_vowel = chars.windows(2).any(|w| w[0] == w[1] && vowel(w[0]));
    let three_vowels = chars.windows(3).any(|w| w.iter().all(|&c| vowel(c)));
    let tripled = chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    let stutter = chars.windows(4).any(|w| w[0] == w[2] && w[1] == w[3]);
    !(doubled_vowel || three_vowels || tripled || stutter)
}

/// A coined word built from syllables, like "Norvale".
fn coined(rng: &mut Rng) -> String {
    loop {
        let word = format!("{}{}{}", pick(rng, HEADS), pick(rng, MIDS), pick(rng, TAILS));
        if pronounceable(&word) {
            return word;
        }
    }
}

/// A compound like "Brightwater" or a two-word one like "Silver Creek".
fn compound(rng: &mut Rng) -> String {
    let first = pick(rng, FIRSTS);
    let second = pick(rng, SECONDS);
    if chance(rng, 0.7) && !first.contains(' ') {
        format!("{first}{second}")
    } else {
        let mut s = second.chars();
        let upper: String = s.next().map(|c| c.to_ascii_uppercase()).into_iter().chain(s).collect();
        format!("{first} {upper}")
    }
}

/// A name with accents, flavoured by the company's country where that country writes them.
fn accented(rng: &mut Rng, country: usize) -> String {
    match COUNTRIES[country].code {
        "DE" | "AT" | "CH" if chance(rng, 0.5) => format!("{} {}", pick(rng, GERMAN_SURNAMES), pick(rng, GERMAN_WORDS)),
        "DE" | "AT" | "CH" => format!("{} {}", coined(rng), pick(rng, GERMAN_ACCENTED)),
        "FR" | "BE" => match rng.random_range(0..3) {
            0 => format!("Société {} d'{}", pick(rng, FRENCH_ADJECTIVES), pick(rng, FRENCH_NOUNS)),
            1 => format!("{} {}", coined(rng), pick(rng, FRENCH_NOUNS)),
            _ => format!("Compagnie {} de {}", pick(rng, FRENCH_ADJECTIVES), pick(rng, FRENCH_NOUNS)),
        },
        "ES" | "MX" => format!("{} {}", coined(rng), pick(rng, SPANISH_WORDS)),
        "SE" | "NO" | "DK" | "FI" if chance(rng, 0.5) => {
            format!("{} {}", pick(rng, NORDIC_NAMES), pick(rng, NORDIC_WORDS))
        }
        "SE" | "NO" | "DK" | "FI" => format!("{} {}", coined(rng), pick(rng, NORDIC_ACCENTED)),
        "BR" => format!("{} {}", coined(rng), pick(rng, PORTUGUESE_WORDS)),
        "PL" if chance(rng, 0.3) => format!("{} {}", pick(rng, POLISH_WORDS), pick(rng, POLISH_ACCENTED)),
        "PL" => format!("{} {}", coined(rng), pick(rng, POLISH_ACCENTED)),
        _ => match rng.random_range(0..3) {
            0 => format!("{} {}", pick(rng, ACCENTED_ANYWHERE), coined(rng)),
            1 => format!("{} {}", coined(rng), pick(rng, ACCENTED_ANYWHERE)),
            _ => format!("{} {}", pick(rng, GERMAN_SURNAMES), pick(rng, INDUSTRY_WORDS)),
        },
    }
}

#[derive(Clone, Copy)]
enum Shape {
    CoinedIndustry,
    CompoundIndustry,
    SingleIndustry,
    German,
    Accented,
    Ampersand,
    OneWord,
}

/// A brand name for a company of `country`: about 8% carry accents, 5% an ampersand, 10% are one word.
pub(crate) fn brand(rng: &mut Rng, country: usize) -> String {
    let german = matches!(COUNTRIES[country].code, "DE" | "AT" | "CH");
    let shapes = [
        (Shape::CoinedIndustry, 38),
        (Shape::CompoundIndustry, 25),
        (Shape::SingleIndustry, 10),
        (Shape::German, if german { 4 } else { 0 }),
        (Shape::Accented, 8),
        (Shape::Ampersand, 6),
        (Shape::OneWord, 10),
    ];
    match pick_weighted(rng, &shapes) {
        Shape::CoinedIndustry => format!("{} {}", coined(rng), pick(rng, INDUSTRY_WORDS)),
        Shape::CompoundIndustry => format!("{} {}", compound(rng), pick(rng, INDUSTRY_WORDS)),
        Shape::SingleIndustry => format!("{} {}", pick(rng, SINGLES), pick(rng, INDUSTRY_WORDS)),
        Shape::German => format!("{} {}", coined(rng), pick(rng, GERMAN_WORDS)),
        Shape::Accented => accented(rng, country),
        Shape::Ampersand => {
            let (a, b) = if chance(rng, 0.7) {
                (pick(rng, SURNAMES), pick(rng, SURNAMES))
            } else {
                (pick(rng, PAIRS), pick(rng, PAIRS))
            };
            if a == b {
                return format!("{a} {}", pick(rng, INDUSTRY_WORDS));
            }
            // Some register "and" spelled out, so the swap noise runs both ways.
            let joiner = if chance(rng, 0.15) { "and" } else { "&" };
            if chance(rng, 0.6) {
                format!("{a} {joiner} {b} {}", pick(rng, INDUSTRY_WORDS))
            } else {
                format!("{a} {joiner} {b}")
            }
        }
        Shape::OneWord => {
            if chance(rng, 0.5) {
                (*pick(rng, SINGLES)).to_owned()
            } else {
                coined(rng)
            }
        }
    }
}

/// `text` with accents and ligatures replaced by their plain ASCII letters ("Société" becomes "Societe").
pub(crate) fn fold_accents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let plain = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' => "a",
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ą' => "A",
            'ç' | 'ć' => "c",
            'Ç' | 'Ć' => "C",
            'è' | 'é' | 'ê' | 'ë' | 'ę' => "e",
            'È' | 'É' | 'Ê' | 'Ë' | 'Ę' => "E",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'Ì' | 'Í' | 'Î' | 'Ï' => "I",
            'ñ' | 'ń' => "n",
            'Ñ' | 'Ń' => "N",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
            'ý' | 'ÿ' => "y",
            'ś' => "s",
            'Ś' => "S",
            'ź' | 'ż' => "z",
            'Ź' | 'Ż' => "Z",
            'ł' => "l",
            'Ł' => "L",
            'ß' => "ss",
            'æ' => "ae",
            'Æ' => "AE",
            'œ' => "oe",
            'Œ' => "OE",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(plain);
    }
    out
}

/// The key two brands collide on: folded, lower-case, letters and digits only, "&" read as "and".
pub(crate) fn brand_key(brand: &str) -> String {
    fold_accents(&brand.replace('&', " and "))
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A name one edit or one word away from `brand` ("Norvale Analytics" to "Norvail Analytics", "Norvale
/// Analytica" or "Norvale Analytics Group"); `None` when the edit happened to change nothing.
pub(crate) fn similar(rng: &mut Rng, brand: &str) -> Option<String> {
    let mut words: Vec<String> = brand.split(' ').map(str::to_owned).collect();
    match rng.random_range(0..4) {
        0 => {
            let suffix = pick(rng, SIMILAR_SUFFIXES);
            words.push((*suffix).to_owned());
        }
        1 if words.len() > 1 && INDUSTRY_WORDS.contains(&words[words.len() - 1].as_str()) => {
            let last = words.len() - 1;
            words[last] = (*pick(rng, INDUSTRY_WORDS)).to_owned();
        }
        _ => {
            let i = rng.random_range(0..words.len());
            words[i] = edit_word(rng, &words[i])?;
        }
    }
    let out = words.join(" ");
    (brand_key(&out) != brand_key(brand)).then_some(out)
}

/// One sound-alike edit inside `word`: a vowel swapped, a letter doubled or dropped, a last letter changed.
fn edit_word(rng: &mut Rng, word: &str) -> Option<String> {
    let mut chars: Vec<char> = word.chars().collect();
    // The first letter stays: look-alike names that differ up front do not look alike.
    let positions: Vec<usize> = (1..chars.len()).filter(|&i| chars[i].is_ascii_lowercase()).collect();
    if positions.is_empty() {
        return None;
    }
    let at = *pick(rng, &positions);
    let vowels = ['a', 'e', 'i', 'o', 'u', 'y'];
    match rng.random_range(0..3) {
        0 if vowels.contains(&chars[at]) => {
            let now = chars[at];
            chars[at] = *pick(rng, &vowels.iter().copied().filter(|&v| v != now).collect::<Vec<_>>());
        }
        1 if chars.len() > 4 => {
            chars.remove(at);
        }
        // Doubling a consonant reads as a typo-level variant ("Norrvale"); a doubled vowel would not.
        2 if !vowels.contains(&chars[at]) => chars.insert(at, chars[at]),
        _ => {
            let last = chars.len() - 1;
            chars[last] = if chars[last] == 'a' { 'o' } else { 'a' };
        }
    }
    let edited: String = chars.into_iter().collect();
    // "Triiline" from "Trioline" reads as a typo of nothing; keep edits as plausible as the name they alter.
    (pronounceable(&edited) || !pronounceable(word)).then_some(edited)
}

/// What the company calls itself day to day: the first word of a multi-word brand, or its acronym. `None` for
/// one-word brands, whose trade name is the brand.
pub(crate) fn trade_name(rng: &mut Rng, brand: &str) -> Option<String> {
    let words: Vec<&str> = brand.split(' ').filter(|w| w.chars().any(char::is_alphabetic)).collect();
    if words.len() < 2 {
        return None;
    }
    if chance(rng, 0.5) && words[0].chars().count() >= 4 {
        Some(words[0].to_owned())
    } else {
        Some(words.iter().filter_map(|w| w.chars().next()).flat_map(char::to_uppercase).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{Stream, rng_for};

    #[test]
    fn folding_and_keys() {
        assert_eq!(fold_accents("Société Générale d'Équipement"), "Societe Generale d'Equipement");
        assert_eq!(fold_accents("Müller Straße"), "Muller Strasse");
        assert_eq!(brand_key("Barnes & Noble"), brand_key("barnes and noble"));
        assert_eq!(brand_key("Société Générale"), "societegenerale");
    }

    #[test]
    fn similar_names_differ_but_stay_close() {
        let mut rng = rng_for(9, Stream::World, 0);
        for i in 0..2000 {
            let b = brand(&mut rng, i % COUNTRIES.len());
            if let Some(s) = similar(&mut rng, &b) {
                assert_ne!(brand_key(&s), brand_key(&b));
                assert!(s.len().abs_diff(b.len()) <= 16, "{b} -> {s}");
            }
        }
    }

    #[test]
    fn brand_mix_has_accents_ampersands_and_single_words() {
        let mut rng = rng_for(5, Stream::World, 0);
        let brands: Vec<String> = (0..10_000)
            .map(|_| {
                let country = crate::countries::draw(&mut rng);
                brand(&mut rng, country)
            })
            .collect();
        let share = |f: &dyn Fn(&String) -> bool| brands.iter().filter(|b| f(b)).count() as f64 / 10_000.0;
        assert!((0.06..0.11).contains(&share(&|b| !b.is_ascii())));
        assert!((0.03..0.07).contains(&share(&|b| b.contains('&'))));
        assert!((0.07..0.14).contains(&share(&|b| !b.contains(' '))));
    }

    #[test]
    fn trade_names() {
        let mut rng = rng_for(2, Stream::World, 0);
        assert_eq!(trade_name(&mut rng, "Delta"), None);
        let t = trade_name(&mut rng, "Brightwater Logistics International").unwrap();
        assert!(t == "Brightwater" || t == "BLI", "{t}");
    }
}
