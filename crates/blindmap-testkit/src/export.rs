//! The two CSV exports: their headers, their ids, and one row of each written from a company.

use crate::company::{Company, INDUSTRIES};
use crate::countries::COUNTRIES;
use crate::noise::{self, Side};
use crate::places::GEOGRAPHY;
use crate::util::{Rng, Stream, chance, hash, pick, pick_weighted};
use crate::{Gaps, Noise, NoiseCounts, Settings, WorldKind};
use rand::RngExt;

/// Header of the Salesforce Account export of the default world; [`crate::salesforce_header`] gives any
/// settings' header.
pub const SALESFORCE_HEADER: &str = "Account ID,Account Name,Type,Website,Phone,Billing Street,Billing City,\
Billing State/Province,Billing Zip/Postal Code,Billing Country,Industry,Annual Revenue,Employees,Account Owner,\
D-U-N-S Number,Description,Created Date";

/// Header of the HubSpot Companies export of the default world; [`crate::hubspot_header`] gives any settings'
/// header (the harsh world's adds `Postal Code`).
pub const HUBSPOT_HEADER: &str = "Record ID,Company name,Company Domain Name,Website URL,Additional Domains,\
Country/Region,State/Region,City,Industry,Number of Employees,Annual Revenue,Lifecycle Stage,Company owner,\
Phone Number,D-U-N-S Number,Create Date";

/// Every column a Salesforce export can have, in order.
const SALESFORCE_COLUMNS: [&str; 17] = [
    "Account ID",
    "Account Name",
    "Type",
    "Website",
    "Phone",
    "Billing Street",
    "Billing City",
    "Billing State/Province",
    "Billing Zip/Postal Code",
    "Billing Country",
    "Industry",
    "Annual Revenue",
    "Employees",
    "Account Owner",
    "D-U-N-S Number",
    "Description",
    "Created Date",
];
const SALESFORCE_CITY: usize = 6;

/// Every column a HubSpot export can have, in order. `Postal Code` is HubSpot's own label for the property.
const HUBSPOT_COLUMNS: [&str; 17] = [
    "Record ID",
    "Company name",
    "Company Domain Name",
    "Website URL",
    "Additional Domains",
    "Country/Region",
    "State/Region",
    "City",
    "Postal Code",
    "Industry",
    "Number of Employees",
    "Annual Revenue",
    "Lifecycle Stage",
    "Company owner",
    "Phone Number",
    "D-U-N-S Number",
    "Create Date",
];
const HUBSPOT_CITY: usize = 7;
const HUBSPOT_POSTAL: usize = 8;

/// Which of the optional columns the exports have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Columns {
    /// Salesforce `Billing City` and HubSpot `City`.
    pub(crate) city: bool,
    /// HubSpot `Postal Code`, which the default world's export never had.
    pub(crate) hubspot_postal: bool,
}

impl Columns {
    /// The default world's columns, which its published corpora have.
    pub(crate) const DEFAULT: Self = Self { city: true, hubspot_postal: false };

    pub(crate) fn of(settings: &Settings) -> Self {
        Self { city: settings.city_columns, hubspot_postal: settings.world == WorldKind::Harsh }
    }

    fn salesforce(self) -> [bool; 17] {
        let mut keep = [true; 17];
        keep[SALESFORCE_CITY] = self.city;
        keep
    }

    fn hubspot(self) -> [bool; 17] {
        let mut keep = [true; 17];
        keep[HUBSPOT_CITY] = self.city;
        keep[HUBSPOT_POSTAL] = self.hubspot_postal;
        keep
    }
}

fn header(columns: &[&str], keep: &[bool]) -> String {
    columns.iter().zip(keep).filter(|(_, k)| **k).map(|(c, _)| *c).collect::<Vec<_>>().join(",")
}

/// The Salesforce header for `columns`.
pub(crate) fn salesforce_header(columns: Columns) -> String {
    header(&SALESFORCE_COLUMNS, &columns.salesforce())
}

/// The HubSpot header for `columns`.
pub(crate) fn hubspot_header(columns: Columns) -> String {
    header(&HUBSPOT_COLUMNS, &columns.hubspot())
}

/// Excel writes one before the first header when it saves a CSV as UTF-8.
pub(crate) const BOM: char = '\u{feff}';

const TYPES: &[(&str, u32)] = &[
    ("Customer - Direct", 25),
    ("Customer - Channel", 10),
    ("Prospect", 45),
    ("Channel Partner / Reseller", 5),
    ("Technology Partner", 3),
    ("Other", 4),
    ("", 8),
];
const STAGES: &[(&str, u32)] = &[
    ("Subscriber", 5),
    ("Lead", 25),
    ("Marketing Qualified Lead", 12),
    ("Sales Qualified Lead", 10),
    ("Opportunity", 12),
    ("Customer", 20),
    ("Evangelist", 3),
    ("Other", 5),
    ("", 8),
];
const FIRST_NAMES: &[&str] = &["Jane", "Omar", "Priya", "Lukas", "Chloé", "Mateo", "Aiko", "Grace", "Sven", "Ana"];
const LAST_NAMES: &[&str] = &["Smith", "Haddad", "Nair", "Becker", "Martin", "García", "Sato", "O'Neill", "Berg"];
const NOTES: &[&str] = &[
    "Renewal discussed with procurement, pending budget sign-off.",
    "Champion said \"we'll expand to the EMEA team next quarter\", but legal wants a DPA first.",
    "Met at the partner summit; interested in the analytics add-on, SSO, and audit logs.",
    "Previous owner left; account notes migrated from the old CRM (see attachments).",
    "Pricing: list, 12% discount approved by \"Deal Desk\" on the 3-year term.",
    "Do NOT contact the CFO directly, route everything via the IT director.",
    "Integration blocked on their side: firewall, proxy, and VPN policies under review.",
    "Quote \"Q-2291\" superseded; use Q-2304, which includes onboarding, training, and support.",
];

/// The RFC 4180 form of `field`: quoted, with inner quotes doubled, when it holds a comma, quote or line break.
fn push_field(buf: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        buf.push('"');
        for ch in field.chars() {
            if ch == '"' {
                buf.push('"');
            }
            buf.push(ch);
        }
        buf.push('"');
    } else {
        buf.push_str(field);
    }
}

/// One CSV record of the `fields` that `keep` says the export has, ending in `eol`.
fn push_record(buf: &mut String, fields: &[&str], keep: &[bool], eol: &str) {
    let mut first = true;
    for (field, _) in fields.iter().zip(keep).filter(|(_, k)| **k) {
        if !first {
            buf.push(',');
        }
        first = false;
        push_field(buf, field);
    }
    buf.push_str(eol);
}

/// An 18-character Salesforce Account id: prefix `001`, a two-character pod, `number` in base 62, then the
/// three characters Salesforce appends to make the id survive case-insensitive tools.
pub(crate) fn salesforce_id(pod: &str, mut number: u64) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut tail = [b'0'; 10];
    for slot in tail.iter_mut().rev() {
        *slot = BASE62[(number % 62) as usize];
        number /= 62;
    }
    let mut id = format!("001{pod}{}", String::from_utf8_lossy(&tail));
    let suffix: String = id
        .as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk.iter().enumerate().fold(0, |acc, (i, b)| acc | (usize::from(b.is_ascii_uppercase()) << i));
            char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits])
        })
        .collect();
    id.push_str(&suffix);
    id
}

/// The id number of row `index` of an export: increasing down the file with gaps, as ids a CRM handed out over
/// years are, and unique because each row owns its own slot of `stride` numbers.
fn id_number(seed: u64, stream: Stream, index: u64, base: u64, spread: u64, stride: u64) -> u64 {
    base + hash(seed, stream, u64::MAX) % spread + index * stride + hash(seed, stream, index) % stride
}

/// The Salesforce Account id of row `index`.
pub(crate) fn salesforce_row_id(seed: u64, index: u64) -> String {
    const PODS: &[&str] = &["5g", "8d", "Dn", "4x", "3t", "Hq", "6A", "09"];
    let pod = PODS[(hash(seed, Stream::Ids, 0) % PODS.len() as u64) as usize];
    salesforce_id(pod, id_number(seed, Stream::SalesforceRows, index, 62u64.pow(5), 62u64.pow(6), 4))
}

/// The HubSpot Record ID of row `index`: ten digits for any corpus under a hundred million rows.
pub(crate) fn hubspot_row_id(seed: u64, index: u64) -> String {
    id_number(seed, Stream::HubspotRows, index, 2_000_000_000, 3_000_000_000, 7).to_string()
}

/// A date `days` after 2012-01-01 as (year, month, day).
fn civil(days: u32) -> (u16, u8, u8) {
    /// 2012-01-01T00:00:00Z in Unix milliseconds.
    const START_MS: i64 = 1_325_376_000_000;
    blindmap_cosell::time::utc_date(START_MS + i64::from(days) * 86_400_000)
}

fn person(rng: &mut Rng) -> String {
    format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
}

/// Usually nothing; sometimes a note; ~`long` of the time pages of account history (2-20 KB) with commas,
/// quotes and line breaks, which is what breaks naive CSV readers.
fn description(rng: &mut Rng, long: f64, counts: &mut NoiseCounts) -> String {
    if chance(rng, long) {
        counts.long_description += 1;
        let target = rng.random_range(2_000..20_000);
        let eol = if chance(rng, 0.5) { "\n" } else { "\r\n" };
        let mut text = String::with_capacity(target + 200);
        while text.len() < target {
            text.push_str(pick::<&str>(rng, NOTES));
            text.push_str(if chance(rng, 0.3) { eol } else { " " });
        }
        return text;
    }
    if chance(rng, 0.04) { (*pick(rng, NOTES)).to_owned() } else { String::new() }
}

/// Row-level context: the company's id on this side, whether the row is a second record for it, and the
/// export's columns.
pub(crate) struct RowCtx<'a> {
    pub(crate) id: &'a str,
    /// A division or location record of a company already listed.
    pub(crate) division: bool,
    pub(crate) columns: Columns,
}

/// The name of `city` of `c`'s country, in the table of `c`'s world.
fn city_name(c: &Company, city: usize) -> &'static str {
    match c.local {
        None => COUNTRIES[c.country].cities[city].0,
        Some(_) => GEOGRAPHY[c.country].cities[city].name,
    }
}

/// Division records carry the place in the name and often another city of the same country.
fn division(rng: &mut Rng, c: &Company, name: &mut String, is_division: bool) -> usize {
    let (home, cities) = match &c.local {
        None => (c.city, COUNTRIES[c.country].cities.len()),
        Some(local) => (local.city, GEOGRAPHY[c.country].cities.len()),
    };
    if !is_division {
        return home;
    }
    let city = if chance(rng, 0.5) { rng.random_range(0..cities) } else { home };
    if chance(rng, 0.4) {
        let place = city_name(c, city);
        name.push_str(&match rng.random_range(0..3) {
            0 => format!(" - {place}"),
            1 => format!(" ({place})"),
            _ => format!(" - {} Division", pick(rng, &["EMEA", "Americas", "APAC", "Services", "Retail"])),
        });
    }
    city
}

/// Appends one Salesforce Account row for `c`, counting the values it lacks into `gaps`.
pub(crate) fn salesforce_row(
    buf: &mut String,
    rng: &mut Rng,
    c: &Company,
    row: &RowCtx<'_>,
    noise: &Noise,
    counts: &mut NoiseCounts,
    gaps: &mut Gaps,
) {
    let mut name = noise::name(rng, c, noise, counts);
    let city = division(rng, c, &mut name, row.division);
    let contact = noise::contact(rng, c, city, Side::Salesforce, noise, counts);
    let website = noise::salesforce_website(rng, c, noise, counts);
    let country = noise::country(rng, c, noise, counts);
    let duns = noise::duns(rng, c, Side::Salesforce, noise, counts);
    let revenue = if chance(rng, 0.7) { c.revenue.to_string() } else { String::new() };
    let employees = if chance(rng, 0.8) { c.employees.to_string() } else { String::new() };
    let (y, m, d) = civil(rng.random_range(0..5000));
    let fields = [
        row.id,
        &name,
        pick_weighted(rng, TYPES),
        &website,
        &contact.phone,
        &c.street,
        &contact.city,
        &contact.state,
        &contact.postal,
        &country,
        INDUSTRIES[c.industry].0,
        &revenue,
        &employees,
        &person(rng),
        &duns,
        &description(rng, noise.long_description, counts),
        &format!("{m}/{d}/{y}"),
    ];
    push_record(buf, &fields, &row.columns.salesforce(), "\r\n");
    gaps.add(website.is_empty(), &contact, row.columns.city, true);
}

/// Appends one HubSpot Companies row for `c`, counting the values it lacks into `gaps`.
pub(crate) fn hubspot_row(
    buf: &mut String,
    rng: &mut Rng,
    c: &Company,
    row: &RowCtx<'_>,
    noise: &Noise,
    counts: &mut NoiseCounts,
    gaps: &mut Gaps,
) {
    let mut name = noise::name(rng, c, noise, counts);
    let city = division(rng, c, &mut name, row.division);
    let contact = noise::contact(rng, c, city, Side::Hubspot, noise, counts);
    let web = noise::hubspot_web(rng, c, noise, counts);
    let country = noise::country(rng, c, noise, counts);
    let duns = noise::duns(rng, c, Side::Hubspot, noise, counts);
    let revenue = if chance(rng, 0.6) { c.revenue.to_string() } else { String::new() };
    let employees = if chance(rng, 0.75) { c.employees.to_string() } else { String::new() };
    let (y, m, d) = civil(rng.random_range(1500..5000));
    let created = format!("{y}-{m:02}-{d:02} {:02}:{:02}", rng.random_range(0..24), rng.random_range(0..60));
    let fields = [
        row.id,
        &name,
        &web.domain,
        &web.url,
        &web.additional,
        &country,
        &contact.state,
        &contact.city,
        &contact.postal,
        INDUSTRIES[c.industry].1,
        &employees,
        &revenue,
        pick_weighted(rng, STAGES),
        &person(rng),
        &contact.phone,
        &duns,
        &created,
    ];
    push_record(buf, &fields, &row.columns.hubspot(), "\n");
    gaps.add(web.domain.is_empty() && web.url.is_empty(), &contact, row.columns.city, row.columns.hubspot_postal);
}

impl Gaps {
    /// Counts what one row lacks, a column the export does not have included.
    fn add(&mut self, no_website: bool, contact: &noise::Contact, city_column: bool, postal_column: bool) {
        self.website += usize::from(no_website);
        self.city += usize::from(!city_column || contact.city.is_empty());
        self.state += usize::from(contact.state.is_empty());
        self.phone += usize::from(contact.phone.is_empty());
        self.postal_code += usize::from(!postal_column || contact.postal.is_empty());
    }
}

/// Starts the Salesforce file: the BOM and the header.
pub(crate) fn salesforce_start(buf: &mut String, columns: Columns) {
    buf.push(BOM);
    buf.push_str(&salesforce_header(columns));
    buf.push_str("\r\n");
}

/// Starts the HubSpot file: the header.
pub(crate) fn hubspot_start(buf: &mut String, columns: Columns) {
    buf.push_str(&hubspot_header(columns));
    buf.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_rfc_4180() {
        let mut buf = String::new();
        push_record(&mut buf, &["a", "b,c", "say \"hi\"", "two\nlines", ""], &[true; 5], "\r\n");
        assert_eq!(buf, "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
    }

    #[test]
    fn default_columns_give_the_published_headers() {
        assert_eq!(salesforce_header(Columns::DEFAULT), SALESFORCE_HEADER);
        assert_eq!(hubspot_header(Columns::DEFAULT), HUBSPOT_HEADER);
        let harsh = Columns { city: true, hubspot_postal: true };
        assert!(hubspot_header(harsh).contains(",City,Postal Code,Industry,"));
        let cityless = Columns { city: false, hubspot_postal: true };
        assert!(!salesforce_header(cityless).contains("City"));
        assert!(!hubspot_header(cityless).contains("City"));
    }

    #[test]
    fn salesforce_ids_carry_the_case_checksum() {
        // Only the "D" is upper case: bit 3 of the first chunk, so "I", then "A" for the all-digit chunks.
        assert_eq!(salesforce_id("Dn", 0), "001Dn0000000000IAA");
        let id = salesforce_id("5g", 62u64.pow(5) + 35);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("0015g"));
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (2012, 1, 1));
        assert_eq!(civil(59), (2012, 2, 29));
        assert_eq!(civil(366), (2013, 1, 1));
    }
}
