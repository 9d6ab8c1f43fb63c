//! Synthetic pairs of CRM exports of one world, with ground truth, for blindmap's match-quality benchmark.
//!
//! blindmap matches only on exact normalised keys (domain, DUNS, normalised name with country), so how well it
//! matches depends entirely on how messy real exports are. This crate builds a world of distinct companies,
//! lists some of them in a vendor's Salesforce Account export and some in a partner's HubSpot Companies export,
//! writes each row the way people and tools garble CRM data, and records which row pairs are the same company.
//! Look-alike decoys (namesakes abroad, near-identical names, same name in the same country) sit on the
//! opposite side from the company they imitate, so a matcher that over-normalises pays for it in precision.
//!
//! Output is a pure function of the [`Settings`]: the same settings give byte-identical exports on every platform
//! (for a given version of this crate and of `rand`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod company;
mod corpus;
mod countries;
mod domains;
mod export;
mod large;
mod legal;
mod names;
mod noise;
mod util;
mod world;

pub use export::{HUBSPOT_HEADER, SALESFORCE_HEADER};
pub use large::write_large_salesforce_export_with;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Rows in each export, duplicates included; both exports have exactly this many.
    pub rows_per_side: usize,
    /// Fraction of the Salesforce side's companies that the HubSpot side lists too.
    pub overlap: f64,
    /// Everything is derived from this.
    pub seed: u64,
    /// How messy the rows are.
    pub noise: Noise,
}

impl Default for Settings {
    fn default() -> Self {
        Self { rows_per_side: 20_000, overlap: 0.3, seed: 1, noise: Noise::default() }
    }
}

/// Rates of each kind of noise, each a probability per row (per present value where it says so). Rates outside
/// 0..=1 are clamped. [`Noise::default`] is calibrated on what real CRM exports look like; [`Noise::none`] writes
/// every row clean.
#[derive(Debug, Clone, PartialEq)]
pub struct Noise {
    /// Legal form written another way: `Inc.`, `, Inc.`, `Incorporated`, `Ltd`↔`Limited`, rarely `Gesellschaft
    /// mit beschränkter Haftung` for `GmbH`.
    pub legal_form_variant: f64,
    /// Legal form left out ("Acme" for "Acme Inc").
    pub legal_form_dropped: f64,
    /// Name in ALL CAPS.
    pub upper_case: f64,
    /// Name in lower case.
    pub lower_case: f64,
    /// Accents dropped, per row of a company whose name has them ("Societe Generale").
    pub accents_dropped: f64,
    /// `&` written `and` or the reverse, per row of a name that has either.
    pub ampersand_swapped: f64,
    /// Dots and commas stripped ("Co Ltd") or added ("Acme, Inc", "Acme Inc.").
    pub punctuation: f64,
    /// A doubled, leading or trailing space in the name.
    pub extra_spaces: f64,
    /// "The " put in front of the name.
    pub leading_the: f64,
    /// A trade name (first word or acronym) instead of the registered name: a realistic miss for name matching.
    pub trade_name: f64,
    /// Salesforce Website left empty.
    pub website_missing: f64,
    /// HubSpot Company Domain Name left empty (Website URL then half the time too).
    pub domain_missing: f64,
    /// Website written in another everyday form: `https://www.`, `http://…/`, `www.`, bare.
    pub website_form: f64,
    /// Website written in a form that needs real parsing: a path and query, ALL CAPS, a subdomain like
    /// `shop.`, a `:443` port, a trailing dot.
    pub website_odd: f64,
    /// A multi-domain company's row shows one of its other domains rather than the primary; each side chooses
    /// on its own.
    pub secondary_domain: f64,
    /// An IDN company's domain shown in Punycode on one side (chosen per company) while the other shows Unicode.
    pub idn_forms_differ: f64,
    /// HubSpot Company Domain Name with `www.` in front.
    pub hubspot_www: f64,
    /// A LinkedIn, Facebook or Twitter profile URL instead of the company's site.
    pub social_profile: f64,
    /// HubSpot Additional Domains filled in, per row of a multi-domain company.
    pub additional_domains_listed: f64,
    /// Salesforce D-U-N-S Number empty.
    pub salesforce_duns_missing: f64,
    /// HubSpot D-U-N-S Number (a custom property) empty.
    pub hubspot_duns_missing: f64,
    /// DUNS written `00-123-4567`, `001-234-567` or with spaces around it, per present DUNS.
    pub duns_format: f64,
    /// Leading zeros lost to Excel, per present DUNS (so only DUNS that start with 0 are affected).
    pub duns_zeros_lost: f64,
    /// Country written another way: `USA`, `U.S.`, `Deutschland`, `UK`, `England`, lower or upper case.
    pub country_form: f64,
    /// Country empty.
    pub country_missing: f64,
    /// Share of each export's rows that are a second record of a company already listed (a division or
    /// location, with its own id); truth then holds every cross pair.
    pub duplicate_rows: f64,
    /// Salesforce Description holding 2–20 KB of notes with commas, quotes and line breaks.
    pub long_description: f64,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            legal_form_variant: 0.25,
            legal_form_dropped: 0.12,
            upper_case: 0.05,
            lower_case: 0.02,
            accents_dropped: 0.5,
            ampersand_swapped: 0.3,
            punctuation: 0.08,
            extra_spaces: 0.03,
            leading_the: 0.02,
            trade_name: 0.01,
            website_missing: 0.10,
            domain_missing: 0.06,
            website_form: 0.5,
            website_odd: 0.05,
            secondary_domain: 0.4,
            idn_forms_differ: 1.0,
            hubspot_www: 0.05,
            social_profile: 0.01,
            additional_domains_listed: 0.5,
            salesforce_duns_missing: 0.55,
            hubspot_duns_missing: 0.75,
            duns_format: 0.15,
            duns_zeros_lost: 0.02,
            country_form: 0.3,
            country_missing: 0.04,
            duplicate_rows: 0.02,
            long_description: 0.02,
        }
    }
}

impl Noise {
    /// No noise at all: every row holds the company's clean facts, every DUNS and website is present, no
    /// duplicates. Matching such a corpus should find every true pair.
    pub fn none() -> Self {
        Self {
            legal_form_variant: 0.0,
            legal_form_dropped: 0.0,
            upper_case: 0.0,
            lower_case: 0.0,
            accents_dropped: 0.0,
            ampersand_swapped: 0.0,
            punctuation: 0.0,
            extra_spaces: 0.0,
            leading_the: 0.0,
            trade_name: 0.0,
            website_missing: 0.0,
            domain_missing: 0.0,
            website_form: 0.0,
            website_odd: 0.0,
            secondary_domain: 0.0,
            idn_forms_differ: 0.0,
            hubspot_www: 0.0,
            social_profile: 0.0,
            additional_domains_listed: 0.0,
            salesforce_duns_missing: 0.0,
            hubspot_duns_missing: 0.0,
            duns_format: 0.0,
            duns_zeros_lost: 0.0,
            country_form: 0.0,
            country_missing: 0.0,
            duplicate_rows: 0.0,
            long_description: 0.0,
        }
    }
}

/// How many times each kind of noise was applied, over both exports: one counter per [`Noise`] rate (see there
/// for what each means), counting rows, plus how IDN domains were shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoiseCounts {
    /// Names with their legal form written another way.
    pub legal_form_variant: usize,
    /// Names without their legal form.
    pub legal_form_dropped: usize,
    /// Names in ALL CAPS.
    pub upper_case: usize,
    /// Names in lower case.
    pub lower_case: usize,
    /// Names with their accents dropped.
    pub accents_dropped: usize,
    /// Names with `&` and `and` swapped.
    pub ampersand_swapped: usize,
    /// Names with dots and commas stripped or added.
    pub punctuation: usize,
    /// Names with a stray space.
    pub extra_spaces: usize,
    /// Names with "The " in front.
    pub leading_the: usize,
    /// Rows naming the company by its trade name.
    pub trade_name: usize,
    /// Salesforce rows without a Website.
    pub website_missing: usize,
    /// HubSpot rows without a Company Domain Name.
    pub domain_missing: usize,
    /// Websites in another everyday form.
    pub website_form: usize,
    /// Websites in a form that needs real parsing.
    pub website_odd: usize,
    /// Rows showing a multi-domain company's non-primary domain.
    pub secondary_domain: usize,
    /// HubSpot domains with `www.` in front.
    pub hubspot_www: usize,
    /// Rows with a social profile URL instead of a website.
    pub social_profile: usize,
    /// HubSpot rows with Additional Domains filled in.
    pub additional_domains_listed: usize,
    /// Rows of both sides with an empty DUNS.
    pub duns_missing: usize,
    /// DUNS with dashes or spaces.
    pub duns_format: usize,
    /// DUNS that lost their leading zeros.
    pub duns_zeros_lost: usize,
    /// Countries written another way.
    pub country_form: usize,
    /// Rows without a country.
    pub country_missing: usize,
    /// Division or location rows of a company listed already.
    pub duplicate_rows: usize,
    /// Salesforce rows with a 2–20 KB Description.
    pub long_description: usize,
    /// Rows showing an IDN domain in Unicode.
    pub idn_unicode: usize,
    /// Rows showing an IDN domain in Punycode.
    pub idn_punycode: usize,
}

/// The ways a decoy looks like another company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DecoyKind {
    /// Same brand, another country: `norvale.de` beside `norvale.com`.
    NamesakeOtherCountry,
    /// One edit or one word away: "Norvail Analytics" beside "Norvale Analytics".
    SimilarName,
    /// Same brand, same country: Delta the airline beside Delta the faucet maker.
    SameNameSameCountry,
}

/// Look-alike companies, by kind. Each is a distinct company listed opposite the one it imitates, never a match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoyCounts {
    /// Same brand in another country, with its own domain and DUNS.
    pub namesake_other_country: usize,
    /// One edit or one word away from another company's brand.
    pub similar_name: usize,
    /// Same brand in the same country (Delta the airline, Delta the faucets).
    pub same_name_same_country: usize,
}

/// What a corpus contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct companies of the world, decoys included; each is listed on at least one side.
    pub companies: usize,
    /// Companies the Salesforce export lists.
    pub salesforce_companies: usize,
    /// Companies the HubSpot export lists.
    pub hubspot_companies: usize,
    /// Companies both exports list: the matches to find.
    pub shared_companies: usize,
    /// Rows of the Salesforce export, header excluded.
    pub salesforce_rows: usize,
    /// Rows of the HubSpot export, header excluded.
    pub hubspot_rows: usize,
    /// Entries of [`Corpus::truth`]: more than `shared_companies` where duplicates pair up.
    pub true_pairs: usize,
    /// Decoy companies by kind.
    pub decoys: DecoyCounts,
    /// Companies with two or three domains.
    pub multi_domain_companies: usize,
    /// Companies whose name has accents.
    pub accented_name_companies: usize,
    /// Companies whose name has an ampersand.
    pub ampersand_name_companies: usize,
    /// Companies whose brand is one word.
    pub one_word_name_companies: usize,
    /// Companies with a Unicode (IDN) domain.
    pub idn_companies: usize,
    /// Companies whose DUNS starts with a zero.
    pub leading_zero_duns_companies: usize,
    /// Noise applied, over both exports.
    pub noise: NoiseCounts,
}

/// A pair of exports with their ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// The vendor's Salesforce Account export (left side): UTF-8 BOM, CRLF line ends.
    pub salesforce_csv: String,
    /// The partner's HubSpot Companies export (right side): LF line ends.
    pub hubspot_csv: String,
    /// Every (Account ID, Record ID) pair of rows that are the same real company, sorted. Nothing else is a match.
    pub truth: Vec<(String, String)>,
    /// Every (Account ID, Record ID) pair of rows where one is a decoy and the other the company it imitates,
    /// sorted: matching any of them is a false positive, and this says which kind of look-alike caused it.
    pub decoy_pairs: Vec<(String, String, DecoyKind)>,
    /// What the corpus contains.
    pub stats: Stats,
}

/// The corpus `settings` describe.
pub fn generate(settings: &Settings) -> Corpus {
    corpus::generate(settings)
}

/// Streams a Salesforce-shaped export of `rows` rows (header first) with the default noise, in memory bounded
/// independent of `rows`: no world is held, each row is derived from the seed and its index. For import-at-scale
/// tests of 10 million rows. Wrap `out` in a `BufWriter` only if it is slow to write to: rows are already
/// written in 64 KiB batches.
///
/// Unlike [`generate`], there is no second side, no truth and no planned decoys; domains and DUNS are unique
/// only with high probability.
pub fn write_large_salesforce_export(rows: u64, seed: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
    write_large_salesforce_export_with(rows, seed, &Noise::default(), out)
}
