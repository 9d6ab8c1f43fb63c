//! Synthetic pairs of CRM exports of one world, with ground truth, for blindmap's match-quality benchmark.
//!
//! blindmap matches only on exact normalised keys (domain, DUNS, normalised name with country), so how well it
//! matches depends entirely on how messy real exports are. This crate builds a world of distinct companies,
//! lists some of them in a vendor's Salesforce Account export and some in a partner's HubSpot Companies export,
//! writes each row the way people and tools garble CRM data, and records which row pairs are the same company.
//! Look-alike decoys (namesakes abroad, near-identical names, same name in the same country) sit on the
//! opposite side from the company they imitate, so a matcher that over-normalises pays for it in precision.
//!
//! Two worlds are on offer ([`WorldKind`]). The default one is what the published benchmark figures were measured
//! on, and its bytes are pinned by tests. The harsh one ([`Settings::harsh`]) is what outside tests met: many
//! companies named after common surnames, 7–8% of companies sharing their name and country with another one
//! (often in the same region, sometimes the same city), and evidence that is often missing or written
//! differently on each side: phone numbers in per-country formats valid for libphonenumber, postal codes as
//! ZIP or ZIP+4 or with lost leading zeros, regions as names or abbreviations, rows without website, city,
//! phone or postal code.
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
mod phones;
mod places;
mod postcodes;
mod surnames;
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
    /// Which world the companies come from: [`WorldKind::Default`] keeps the published corpora byte for byte.
    pub world: WorldKind,
    /// Whether the exports have city columns (Salesforce `Billing City`, HubSpot `City`). `false` leaves them
    /// out entirely, header included, to measure matching without cities.
    pub city_columns: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rows_per_side: 20_000,
            overlap: 0.3,
            seed: 1,
            noise: Noise::default(),
            world: WorldKind::Default,
            city_columns: true,
        }
    }
}

impl Settings {
    /// The harsh world at the benchmark's size: 20,000 rows per side, seed 1, [`Noise::harsh`].
    pub fn harsh() -> Self {
        Self { world: WorldKind::Harsh, noise: Noise::harsh(), ..Self::default() }
    }
}

/// The world a corpus describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum WorldKind {
    /// Mostly distinctive, coined company names with 0.5% same-name-same-country look-alikes; every row carries
    /// a city, a phone number and a postal code in one fixed form. The published benchmark figures and the
    /// pinned test hashes are of this world: it does not change.
    #[default]
    Default,
    /// What outside tests met: about 35% of base companies named after common surnames in Faker-like shapes
    /// ("Brown", "Moore-Baker", "Martin, Bernard et Dubois", "Rossi & Figli"), 7–8% of companies sharing
    /// name and country with another (half of them in the same region, a fifth in the same city, yet with
    /// their own domain, DUNS, phone and almost always postal code), real per-country geography with
    /// regions and their abbreviations, phone numbers valid for libphonenumber, per-country postal codes, and
    /// a HubSpot `Postal Code` column. Pair it with [`Noise::harsh`] for the missing and reformatted values.
    Harsh,
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
    /// HubSpot row with no web presence at all: Company Domain Name, Website URL and Additional Domains empty.
    pub hubspot_website_missing: f64,
    /// City empty (either export).
    pub city_missing: f64,
    /// Phone empty (either export).
    pub phone_missing: f64,
    /// Postal code empty (either export).
    pub postal_missing: f64,
    /// Phone written in another of its country's everyday forms than the export's usual one (Salesforce:
    /// national, `(415) 555-0134`, `030 1234567`; HubSpot: international, `+49 30 1234567`): dots, dashes,
    /// `(030) 123-4567`, `+49 (0)30…`, `0049…`, `030/…`, `1-415-…`. Harsh world only.
    pub phone_form: f64,
    /// An extension after the phone number: ` x123`, ` ext. 12`.
    pub phone_extension: f64,
    /// Postal code written another everyday way: ZIP+4 (`02139-4307`), without its space or dash (`sw1a1aa`,
    /// `1012AB`, `11120`), in lower case. Harsh world only.
    pub postal_form: f64,
    /// Leading zeros lost to Excel, per postal code written in digits only that starts with 0 (`2139`).
    pub postal_zeros_lost: f64,
    /// Region written in its other form, name for abbreviation or the reverse (`CA`↔`California`,
    /// `Bayern`↔`BY`), where the country has standard abbreviations. Harsh world only.
    pub state_form: f64,
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
            // Kinds added with the harsh world: off, so the default corpora keep their bytes.
            hubspot_website_missing: 0.0,
            city_missing: 0.0,
            phone_missing: 0.0,
            postal_missing: 0.0,
            phone_form: 0.0,
            phone_extension: 0.0,
            postal_form: 0.0,
            postal_zeros_lost: 0.0,
            state_form: 0.0,
        }
    }
}

impl Noise {
    /// The default noise plus the gaps and spellings outside tests met: 10% of rows without a website on each
    /// side (HubSpot's domain column blank exactly on those rows), 20% without a city, 25% without a phone,
    /// 15% without a postal code, and phone numbers, postal codes and regions written differently on the
    /// two sides.
    pub fn harsh() -> Self {
        Self {
            website_missing: 0.10,
            hubspot_website_missing: 0.10,
            // Replaced by the whole-row blank above, so that a tenth of HubSpot rows, not more, lack a domain.
            domain_missing: 0.0,
            city_missing: 0.20,
            phone_missing: 0.25,
            postal_missing: 0.15,
            phone_form: 0.5,
            phone_extension: 0.05,
            postal_form: 0.3,
            postal_zeros_lost: 0.3,
            state_form: 0.35,
            ..Self::default()
        }
    }

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
            hubspot_website_missing: 0.0,
            city_missing: 0.0,
            phone_missing: 0.0,
            postal_missing: 0.0,
            phone_form: 0.0,
            phone_extension: 0.0,
            postal_form: 0.0,
            postal_zeros_lost: 0.0,
            state_form: 0.0,
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
    /// HubSpot rows with every web column empty.
    pub hubspot_website_missing: usize,
    /// Rows whose city was left empty.
    pub city_missing: usize,
    /// Rows whose phone was left empty.
    pub phone_missing: usize,
    /// Rows whose postal code was left empty.
    pub postal_missing: usize,
    /// Phones written in a form other than the export's usual one.
    pub phone_form: usize,
    /// Phones with an extension.
    pub phone_extension: usize,
    /// Postal codes written another everyday way.
    pub postal_form: usize,
    /// Postal codes that lost their leading zeros.
    pub postal_zeros_lost: usize,
    /// Regions written in their other form.
    pub state_form: usize,
}

/// Rows of one export that give no value in a column, whatever the cause: noise blanked it, or the export has
/// no such column (the default HubSpot export has no postal code; `city_columns: false` drops the cities).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gaps {
    /// Rows without a website: Salesforce `Website` empty; HubSpot `Company Domain Name` and `Website URL` both
    /// empty.
    pub website: usize,
    /// Rows without a city.
    pub city: usize,
    /// Rows without a state or region (some countries' records never have one).
    pub state: usize,
    /// Rows without a phone number.
    pub phone: usize,
    /// Rows without a postal code.
    pub postal_code: usize,
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
    /// Companies that share their name (compared as letters and digits, accents folded) and their country with
    /// at least one other company: the same-name-same-country decoys and the companies they imitate.
    pub namesake_companies: usize,
    /// Same-name-same-country decoys in the same region as the company they share a name with (same city
    /// included). Harsh world only: the default world's companies have no region of their own.
    pub namesakes_same_region: usize,
    /// Same-name-same-country decoys in the same city as the company they share a name with. Harsh world only.
    pub namesakes_same_city: usize,
    /// Companies named after surnames ("Brown", "Müller & Söhne"). Harsh world only.
    pub surname_name_companies: usize,
    /// What the Salesforce export's rows lack.
    pub salesforce_gaps: Gaps,
    /// What the HubSpot export's rows lack.
    pub hubspot_gaps: Gaps,
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

/// The header line of the Salesforce export `settings` describe (without BOM and line end):
/// [`SALESFORCE_HEADER`], less `Billing City` without city columns.
pub fn salesforce_header(settings: &Settings) -> String {
    export::salesforce_header(export::Columns::of(settings))
}

/// The header line of the HubSpot export `settings` describe (without line end): [`HUBSPOT_HEADER`], with
/// `Postal Code` after `City` in the harsh world, less `City` without city columns.
pub fn hubspot_header(settings: &Settings) -> String {
    export::hubspot_header(export::Columns::of(settings))
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
