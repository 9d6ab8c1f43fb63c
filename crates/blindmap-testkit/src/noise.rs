//! How a company's facts get written into one CRM row: every way people and tools garble them.

use crate::company::{self, Company};
use crate::countries::COUNTRIES;
use crate::phones::{self, Form};
use crate::places::GEOGRAPHY;
use crate::postcodes;
use crate::util::{Rng, chance, chance_if_set, pick, pick_weighted};
use crate::{Noise, NoiseCounts, domains, legal, names};
use rand::RngExt;

/// Which export a row is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Salesforce,
    Hubspot,
}

/// The company's name as one row shows it.
pub(crate) fn name(rng: &mut Rng, c: &Company, noise: &Noise, counts: &mut NoiseCounts) -> String {
    let mut brand = c.brand.clone();
    let mut form = c.legal_form.to_owned();
    if chance(rng, noise.trade_name)
        && let Some(trade) = names::trade_name(rng, &c.brand)
    {
        counts.trade_name += 1;
        brand = trade;
        form.clear();
    }
    if !brand.is_ascii() && chance(rng, noise.accents_dropped) {
        counts.accents_dropped += 1;
        brand = names::fold_accents(&brand);
    }
    if chance(rng, noise.ampersand_swapped) {
        if brand.contains(" & ") {
            counts.ampersand_swapped += 1;
            brand = brand.replace(" & ", " and ");
        } else if brand.contains(" and ") {
            counts.ampersand_swapped += 1;
            brand = brand.replace(" and ", " & ");
        }
    }
    if !form.is_empty() {
        if chance(rng, noise.legal_form_dropped) {
            counts.legal_form_dropped += 1;
            form.clear();
        } else if chance(rng, noise.legal_form_variant) {
            counts.legal_form_variant += 1;
            form = pick_weighted(rng, legal::variants(&form)).to_owned();
        }
    }
    if chance(rng, noise.punctuation) {
        if brand.contains(['.', ',']) || form.contains(['.', ',']) {
            counts.punctuation += 1;
            brand.retain(|ch| ch != '.' && ch != ',');
            form.retain(|ch| ch != '.' && ch != ',');
            form = form.trim().to_owned();
        } else if !form.is_empty() {
            counts.punctuation += 1;
            form = if chance(rng, 0.5) { format!(", {form}") } else { format!("{form}.") };
        }
    }
    let mut out = legal::attach(&brand, &form);
    if chance(rng, noise.leading_the) && !out.starts_with("The ") {
        counts.leading_the += 1;
        out.insert_str(0, "The ");
    }
    if chance(rng, noise.extra_spaces) {
        counts.extra_spaces += 1;
        let spaces: Vec<usize> = out.match_indices(' ').map(|(i, _)| i).collect();
        match spaces.is_empty() || chance(rng, 0.3) {
            true if chance(rng, 0.5) => out.push(' '),
            true => out.insert(0, ' '),
            false => out.insert(*pick(rng, &spaces), ' '),
        }
    }
    let roll: f64 = rng.random();
    if roll < noise.upper_case {
        counts.upper_case += 1;
        out = out.to_uppercase();
    } else if roll < noise.upper_case + noise.lower_case {
        counts.lower_case += 1;
        out = out.to_lowercase();
    }
    out
}

/// The domain a row uses: multi-domain companies show any of theirs, each side choosing on its own; an IDN
/// domain shows in Unicode on one side and Punycode on the other.
fn domain(rng: &mut Rng, c: &Company, side: Side, noise: &Noise, counts: &mut NoiseCounts) -> String {
    let at = if c.domains.len() > 1 && chance(rng, noise.secondary_domain) {
        rng.random_range(1..c.domains.len())
    } else {
        0
    };
    if at > 0 {
        counts.secondary_domain += 1;
    }
    let d = &c.domains[at];
    if d.is_ascii() {
        d.clone()
    } else if (side == Side::Salesforce) != c.idn_unicode_on_salesforce && chance(rng, noise.idn_forms_differ) {
        counts.idn_punycode += 1;
        domains::to_ascii(d)
    } else {
        counts.idn_unicode += 1;
        d.clone()
    }
}

/// A company's social profile, which people paste where the website belongs.
fn social(rng: &mut Rng, c: &Company) -> (String, &'static str) {
    let slug = names::fold_accents(&c.brand)
        .to_lowercase()
        .split(|ch: char| !ch.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    match rng.random_range(0..3) {
        0 => (format!("https://facebook.com/{}", slug.replace('-', "")), "facebook.com"),
        1 => (format!("https://twitter.com/{}", slug.replace('-', "")), "twitter.com"),
        _ => (format!("https://www.linkedin.com/company/{slug}"), "linkedin.com"),
    }
}

/// `d` written as a URL or host the way people type it: `default` unless noise picks another form.
fn web_form(rng: &mut Rng, d: &str, default: &str, noise: &Noise, counts: &mut NoiseCounts) -> String {
    if chance(rng, noise.website_odd) {
        counts.website_odd += 1;
        return match rng.random_range(0..6) {
            0 => format!("https://{d}/{}", pick(rng, &["about-us?utm_source=x", "en/", "contact", "?ref=crm"])),
            1 => format!("WWW.{}", d.to_uppercase()),
            2 => d.to_uppercase(),
            3 => format!("https://{}.{d}/", pick(rng, &["shop", "en", "info", "us", "careers", "app"])),
            4 => pick(rng, &[format!("{d}:443"), format!("https://{d}:443/")]).clone(),
            _ => format!("https://www.{d}."),
        };
    }
    if chance(rng, noise.website_form) {
        counts.website_form += 1;
        let forms = ["https://www.", "http://", "www.", "", "https://", "http://www."];
        let prefix = pick(rng, &forms);
        let slash = if chance(rng, 0.3) { "/" } else { "" };
        return format!("{prefix}{d}{slash}");
    }
    format!("{default}{d}")
}

/// Salesforce's free-text Website field.
pub(crate) fn salesforce_website(rng: &mut Rng, c: &Company, noise: &Noise, counts: &mut NoiseCounts) -> String {
    if chance(rng, noise.website_missing) {
        counts.website_missing += 1;
        return String::new();
    }
    if chance(rng, noise.social_profile) {
        counts.social_profile += 1;
        return social(rng, c).0;
    }
    let d = domain(rng, c, Side::Salesforce, noise, counts);
    web_form(rng, &d, "www.", noise, counts)
}

/// HubSpot's web columns: Company Domain Name, Website URL and Additional Domains.
pub(crate) struct HubspotWeb {
    pub(crate) domain: String,
    pub(crate) url: String,
    pub(crate) additional: String,
}

/// HubSpot's web columns for one row.
pub(crate) fn hubspot_web(rng: &mut Rng, c: &Company, noise: &Noise, counts: &mut NoiseCounts) -> HubspotWeb {
    if chance_if_set(rng, noise.hubspot_website_missing) {
        counts.hubspot_website_missing += 1;
        return HubspotWeb { domain: String::new(), url: String::new(), additional: String::new() };
    }
    if chance(rng, noise.social_profile) {
        counts.social_profile += 1;
        // HubSpot derives the domain from whatever URL was entered, so a profile URL yields the network's.
        let (url, host) = social(rng, c);
        return HubspotWeb { domain: host.to_owned(), url, additional: String::new() };
    }
    let d = domain(rng, c, Side::Hubspot, noise, counts);
    let url = web_form(rng, &d, "https://www.", noise, counts);
    let mut domain = d.clone();
    if chance(rng, noise.domain_missing) {
        counts.domain_missing += 1;
        domain.clear();
    } else if chance(rng, noise.hubspot_www) {
        counts.hubspot_www += 1;
        domain.insert_str(0, "www.");
    }
    let url = if domain.is_empty() && chance(rng, 0.5) { String::new() } else { url };
    let mut additional = String::new();
    if c.domains.len() > 1 && chance(rng, noise.additional_domains_listed) {
        counts.additional_domains_listed += 1;
        let others: Vec<String> =
            c.domains.iter().filter(|o| **o != d && domains::to_ascii(o) != d).map(|o| domains::to_ascii(o)).collect();
        additional = others.join(";");
    }
    HubspotWeb { domain, url, additional }
}

/// The DUNS number as one row holds it, if it holds one.
pub(crate) fn duns(rng: &mut Rng, c: &Company, side: Side, noise: &Noise, counts: &mut NoiseCounts) -> String {
    let missing = match side {
        Side::Salesforce => noise.salesforce_duns_missing,
        Side::Hubspot => noise.hubspot_duns_missing,
    };
    if chance(rng, missing) {
        counts.duns_missing += 1;
        return String::new();
    }
    let d = &c.duns;
    // Excel reads the column as a number and drops the zeros in front.
    if d.starts_with('0') && chance(rng, noise.duns_zeros_lost) {
        counts.duns_zeros_lost += 1;
        return d.trim_start_matches('0').to_owned();
    }
    if chance(rng, noise.duns_format) {
        counts.duns_format += 1;
        return match rng.random_range(0..3) {
            0 => format!("{}-{}-{}", &d[..2], &d[2..5], &d[5..]),
            1 => format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
            _ => format!(" {d} "),
        };
    }
    d.clone()
}

/// The country as one row writes it.
pub(crate) fn country(rng: &mut Rng, c: &Company, noise: &Noise, counts: &mut NoiseCounts) -> String {
    if chance(rng, noise.country_missing) {
        counts.country_missing += 1;
        return String::new();
    }
    let names = COUNTRIES[c.country].names;
    if chance(rng, noise.country_form) {
        counts.country_form += 1;
        return match rng.random_range(0..names.len() + 1) {
            0 => names[0].to_lowercase(),
            1 => names[0].to_uppercase(),
            i => names[i - 1].to_owned(),
        };
    }
    names[0].to_owned()
}

/// A row's address and phone columns.
pub(crate) struct Contact {
    pub(crate) city: String,
    pub(crate) state: String,
    pub(crate) postal: String,
    pub(crate) phone: String,
}

/// The address and phone columns of a row of `c` placed in `city` (its own, or a division's): the default
/// world's fixed strings, or the harsh world's values written each export's way. Blanks, lost zeros and phone
/// extensions apply in both worlds; spelling variants need the harsh world's structured values.
pub(crate) fn contact(
    rng: &mut Rng,
    c: &Company,
    city: usize,
    side: Side,
    noise: &Noise,
    counts: &mut NoiseCounts,
) -> Contact {
    let mut out = match &c.local {
        None => {
            let (city, state) = COUNTRIES[c.country].cities[city];
            Contact { city: city.to_owned(), state: state.to_owned(), postal: c.postal.clone(), phone: c.phone.clone() }
        }
        Some(local) => {
            let g = &GEOGRAPHY[c.country];
            let place = &g.cities[city];
            let (name, abbreviation) = g.regions[place.region];
            let mut abbreviated = g.abbreviated;
            if !name.is_empty() && !abbreviation.is_empty() && chance(rng, noise.state_form) {
                counts.state_form += 1;
                abbreviated = !abbreviated;
            }
            let state = if abbreviated { abbreviation } else { name };
            // A division elsewhere has its own postal code, and often its own line.
            let elsewhere = city != local.city;
            let postal = if elsewhere { company::postal_in(rng, c.country, city) } else { local.postal.clone() };
            let phone = if elsewhere && chance(rng, 0.5) {
                company::phone_in(rng, c.country, city)
            } else {
                local.phone.clone()
            };
            // Reps type numbers as dialled at home; HubSpot shows them as entered through forms and
            // integrations, mostly international.
            let usual = if side == Side::Salesforce { Form::National } else { Form::International };
            let form = if chance(rng, noise.phone_form) {
                counts.phone_form += 1;
                phones::other_form(rng, c.country, &phone, usual)
            } else {
                usual
            };
            let mut written = postal.code.clone();
            if chance(rng, noise.postal_form)
                && let Some(variant) = postcodes::variant(rng, g.postal, &postal)
            {
                counts.postal_form += 1;
                written = variant;
            }
            Contact {
                city: place.name.to_owned(),
                state: state.to_owned(),
                postal: written,
                phone: phones::write(c.country, &phone, form),
            }
        }
    };
    if let Some(short) = postcodes::zeros_lost(&out.postal)
        && chance_if_set(rng, noise.postal_zeros_lost)
    {
        counts.postal_zeros_lost += 1;
        out.postal = short;
    }
    if chance_if_set(rng, noise.phone_extension) {
        counts.phone_extension += 1;
        out.phone.push_str(&phones::extension(rng));
    }
    if chance_if_set(rng, noise.city_missing) {
        counts.city_missing += 1;
        out.city.clear();
    }
    if chance_if_set(rng, noise.phone_missing) {
        counts.phone_missing += 1;
        out.phone.clear();
    }
    if chance_if_set(rng, noise.postal_missing) {
        counts.postal_missing += 1;
        out.postal.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::company::build;
    use crate::util::{Stream, rng_for};

    fn acme(rng: &mut Rng) -> Company {
        let mut c = build(rng, "Société Barnes & Noble".into(), 0, "001234567".into(), &mut |_| false);
        c.legal_form = "Inc";
        c
    }

    #[test]
    fn zero_noise_writes_the_clean_record() {
        let mut rng = rng_for(1, Stream::World, 0);
        let c = acme(&mut rng);
        let quiet = Noise::none();
        let mut counts = NoiseCounts::default();
        for _ in 0..100 {
            assert_eq!(name(&mut rng, &c, &quiet, &mut counts), "Société Barnes & Noble Inc");
            assert_eq!(duns(&mut rng, &c, Side::Hubspot, &quiet, &mut counts), "001234567");
            assert_eq!(country(&mut rng, &c, &quiet, &mut counts), "United States");
        }
        assert_eq!(counts, NoiseCounts::default());
    }

    #[test]
    fn full_noise_applies_every_name_kind() {
        let mut rng = rng_for(1, Stream::World, 1);
        let c = acme(&mut rng);
        let mut loud = Noise::none();
        loud.accents_dropped = 1.0;
        loud.ampersand_swapped = 1.0;
        loud.legal_form_variant = 1.0;
        loud.leading_the = 1.0;
        let mut counts = NoiseCounts::default();
        let n = name(&mut rng, &c, &loud, &mut counts);
        assert!(n.starts_with("The Societe Barnes and Noble"), "{n}");
        assert_eq!((counts.accents_dropped, counts.ampersand_swapped, counts.legal_form_variant), (1, 1, 1));
    }

    #[test]
    fn duns_forms_keep_the_digits() {
        let mut rng = rng_for(1, Stream::World, 2);
        let c = acme(&mut rng);
        let mut noise = Noise::none();
        noise.duns_format = 1.0;
        let mut counts = NoiseCounts::default();
        for _ in 0..50 {
            let d = duns(&mut rng, &c, Side::Salesforce, &noise, &mut counts);
            assert_eq!(d.chars().filter(char::is_ascii_digit).collect::<String>(), "001234567");
        }
        noise.duns_zeros_lost = 1.0;
        assert_eq!(duns(&mut rng, &c, Side::Salesforce, &noise, &mut counts), "1234567");
    }
}
