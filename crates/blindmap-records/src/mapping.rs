//! Column mappings: which columns of an export hold the id, the keys, the fields and the segment.
//!
//! Built-in presets know the Salesforce Account export and the HubSpot Companies export (report
//! labels and API names alike); a small TOML file or `ROLE=COLUMN` flags map anything else, or
//! change a preset.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use blindmap_psi::FieldName;
use serde::Deserialize;

use crate::error::ErrorKind;
use crate::segment::SegmentRule;

/// A column the mapping reads: the names it may go by (first present wins), and whether the
/// import fails without it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnSpec {
    pub(crate) names: Vec<String>,
    pub(crate) required: bool,
}

impl ColumnSpec {
    fn required(names: &[&str]) -> Self {
        Self { names: names.iter().map(|s| (*s).to_owned()).collect(), required: true }
    }

    fn optional(names: &[&str]) -> Self {
        Self { required: false, ..Self::required(names) }
    }
}

/// How accounts get their segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segmentation {
    /// Named rules, first that holds wins.
    Rules(Vec<SegmentRule>),
    /// The value of a column is the label.
    Column(ColumnSpec),
}

/// Where an account's values come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub(crate) name: String,
    pub(crate) id: ColumnSpec,
    pub(crate) company: Option<ColumnSpec>,
    /// Read in order; the first non-empty value is the country.
    pub(crate) country: Vec<ColumnSpec>,
    /// Read in order; the first non-empty value is the city.
    pub(crate) city: Vec<ColumnSpec>,
    /// Read in order; the first non-empty value is the postal code.
    pub(crate) postal_code: Vec<ColumnSpec>,
    /// Read in order; the first value that is a telephone number is the phone.
    pub(crate) phone: Vec<ColumnSpec>,
    pub(crate) domains: Vec<ColumnSpec>,
    pub(crate) emails: Vec<ColumnSpec>,
    pub(crate) duns: Vec<ColumnSpec>,
    pub(crate) fields: Vec<(FieldName, ColumnSpec)>,
    /// Every column no role claims becomes a field named after its header.
    pub(crate) other_columns_are_fields: bool,
    pub(crate) segments: Segmentation,
    pub(crate) delimiter: Option<u8>,
}

/// The built-in mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A Salesforce Account export (report or Data Loader).
    Salesforce,
    /// A HubSpot Companies export.
    Hubspot,
    /// blindmap's own plain format: `id`, `segment`, `name`, `country`, `domain`, `email`,
    /// `duns`, and any other column as a field.
    Generic,
}

impl Preset {
    /// Every preset, for help text.
    pub const ALL: [Self; 3] = [Self::Salesforce, Self::Hubspot, Self::Generic];

    /// The preset's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Salesforce => "salesforce",
            Self::Hubspot => "hubspot",
            Self::Generic => "generic",
        }
    }

    /// The preset of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The preset whose required columns a header has, if exactly one fits.
    pub fn detect(header: &[String]) -> Option<Self> {
        // A preset fits when every column it requires is there, segment rules' columns included.
        let fits = |p: &Self| {
            let m = p.mapping();
            let has = |name: &str| header.iter().any(|h| h.eq_ignore_ascii_case(name));
            let has_spec = |spec: &ColumnSpec| !spec.required || spec.names.iter().any(|n| has(n));
            let segments = match &m.segments {
                Segmentation::Column(spec) => has_spec(spec),
                Segmentation::Rules(rules) => rules.iter().flat_map(SegmentRule::columns).all(has),
            };
            has_spec(&m.id) && m.company.as_ref().is_none_or(has_spec) && segments
        };
        let mut fitting = Self::ALL.into_iter().filter(fits);
        match (fitting.next(), fitting.next()) {
            (Some(p), None) => Some(p),
            _ => None,
        }
    }

    /// The preset's mapping.
    pub fn mapping(self) -> Mapping {
        let rules = |rules: &[&str]| {
            Segmentation::Rules(
                rules.iter().map(|r| SegmentRule::parse(r).expect("the presets' rules parse")).collect(),
            )
        };
        let field = |name: &str, columns: &[&str]| {
            (FieldName::new(name).expect("the presets' field names are valid"), ColumnSpec::optional(columns))
        };
        match self {
            Self::Salesforce => Mapping {
                name: self.name().into(),
                id: ColumnSpec::required(&["Account ID", "Id"]),
                company: Some(ColumnSpec::required(&["Account Name", "Name"])),
                country: vec![
                    ColumnSpec::optional(&["Billing Country", "BillingCountry"]),
                    ColumnSpec::optional(&["Shipping Country", "ShippingCountry"]),
                ],
                city: vec![
                    ColumnSpec::optional(&["Billing City", "BillingCity"]),
                    ColumnSpec::optional(&["Shipping City", "ShippingCity"]),
                ],
                postal_code: vec![
                    ColumnSpec::optional(&[
                        "Billing Zip/Postal Code",
                        "Billing Postal Code",
                        "Billing Zip",
                        "BillingPostalCode",
                    ]),
                    ColumnSpec::optional(&[
                        "Shipping Zip/Postal Code",
                        "Shipping Postal Code",
                        "Shipping Zip",
                        "ShippingPostalCode",
                    ]),
                ],
                phone: vec![ColumnSpec::optional(&["Phone", "Account Phone"])],
                domains: vec![ColumnSpec::optional(&["Website"])],
                emails: vec![],
                duns: vec![ColumnSpec::optional(&["D-U-N-S Number", "DunsNumber", "DUNS Number"])],
                fields: vec![
                    field("owner", &["Account Owner", "Owner Name", "Owner.Name"]),
                    field("owner_email", &["Account Owner Email", "Owner Email", "Owner.Email"]),
                    field("type", &["Type"]),
                    field("industry", &["Industry"]),
                    field("city", &["Billing City", "BillingCity"]),
                    field("employees", &["Employees", "NumberOfEmployees"]),
                ],
                other_columns_are_fields: false,
                segments: rules(&[
                    "customers: Type starts with Customer",
                    "partners: Type in [Channel Partner / Reseller, Installation Partner, Technology Partner, Partner, Reseller]",
                    "prospects: everything else",
                ]),
                delimiter: None,
            },
            Self::Hubspot => Mapping {
                name: self.name().into(),
                id: ColumnSpec::required(&["Record ID", "Company ID", "hs_object_id"]),
                company: Some(ColumnSpec::required(&["Company name", "Name"])),
                country: vec![ColumnSpec::optional(&["Country/Region", "Country"])],
                city: vec![ColumnSpec::optional(&["City"])],
                postal_code: vec![ColumnSpec::optional(&["Postal Code", "Zip", "zip"])],
                phone: vec![ColumnSpec::optional(&["Phone Number", "phone"])],
                domains: vec![
                    ColumnSpec::optional(&["Company Domain Name", "Domain"]),
                    ColumnSpec::optional(&["Website URL", "Website"]),
                    ColumnSpec::optional(&["Additional Domains", "hs_additional_domains"]),
                ],
                emails: vec![],
                duns: vec![ColumnSpec::optional(&["D-U-N-S Number", "DUNS Number", "DUNS"])],
                fields: vec![
                    field("owner", &["Company owner", "HubSpot Owner"]),
                    field("owner_email", &["Company owner email", "HubSpot Owner Email", "Owner email"]),
                    field("lifecycle_stage", &["Lifecycle Stage", "lifecyclestage"]),
                    field("industry", &["Industry"]),
                    field("city", &["City"]),
                    field("employees", &["Number of Employees", "numberofemployees"]),
                ],
                other_columns_are_fields: false,
                segments: rules(&[
                    "customers: Lifecycle Stage in [Customer, Evangelist]",
                    "open_opportunities: Lifecycle Stage = Opportunity",
                    "prospects: everything else",
                ]),
                delimiter: None,
            },
            Self::Generic => Mapping {
                name: self.name().into(),
                id: ColumnSpec::required(&["id"]),
                company: Some(ColumnSpec::optional(&["name", "company", "company name"])),
                country: vec![ColumnSpec::optional(&["country"])],
                city: vec![ColumnSpec::optional(&["city"])],
                postal_code: vec![ColumnSpec::optional(&["postal_code", "postal code", "zip"])],
                phone: vec![ColumnSpec::optional(&["phone"])],
                domains: vec![ColumnSpec::optional(&["domain", "domains", "website"])],
                emails: vec![ColumnSpec::optional(&["email", "emails", "contact email"])],
                duns: vec![ColumnSpec::optional(&["duns"])],
                fields: vec![],
                other_columns_are_fields: true,
                segments: Segmentation::Column(ColumnSpec::required(&["segment"])),
                delimiter: None,
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mapping file (TOML). Every key is optional; with `preset` the file changes only what it names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    preset: Option<String>,
    delimiter: Option<String>,
    segments: Option<Vec<String>>,
    #[serde(default)]
    columns: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Mapping {
    /// A mapping with nothing but an id column, for building one from flags.
    pub fn empty() -> Self {
        Self {
            name: "custom".into(),
            id: ColumnSpec::required(&["id"]),
            company: None,
            country: vec![],
            city: vec![],
            postal_code: vec![],
            phone: vec![],
            domains: vec![],
            emails: vec![],
            duns: vec![],
            fields: vec![],
            other_columns_are_fields: false,
            segments: Segmentation::Rules(vec![]),
            delimiter: None,
        }
    }

    /// The preset or description this mapping came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The delimiter the mapping fixes, if any (otherwise it is guessed from the header).
    pub fn delimiter(&self) -> Option<u8> {
        self.delimiter
    }

    /// Reads a mapping file's text. Without a `preset` key, it starts from an empty mapping
    /// and must name at least the id column.
    pub fn from_toml(text: &str) -> Result<Self, ErrorKind> {
        let file: MappingFile = toml::from_str(text).map_err(|e| ErrorKind::Mapping(e.to_string()))?;
        let mut mapping = match &file.preset {
            Some(name) => Preset::from_name(name).map(Preset::mapping).ok_or_else(|| unknown_preset(name))?,
            None => Self::empty(),
        };
        if file.preset.is_none() && !file.columns.contains_key("id") {
            return Err(ErrorKind::Mapping(
                "a mapping without a preset must name the id column ([columns] id = …)".into(),
            ));
        }
        if let Some(d) = &file.delimiter {
            mapping.delimiter = Some(parse_delimiter(d)?);
        }
        for (role, columns) in &file.columns {
            let columns = match columns {
                OneOrMany::One(c) => vec![c.clone()],
                OneOrMany::Many(cs) => cs.clone(),
            };
            mapping.set(role, columns, false)?;
        }
        for (name, column) in &file.fields {
            mapping.set(&format!("field:{name}"), vec![column.clone()], false)?;
        }
        if let Some(rules) = &file.segments {
            mapping.segments =
                Segmentation::Rules(rules.iter().map(|r| SegmentRule::parse(r)).collect::<Result<_, _>>()?);
        }
        mapping.name = match file.preset {
            Some(p) => format!("{p} (changed by a mapping file)"),
            None => "mapping file".into(),
        };
        Ok(mapping)
    }

    /// Applies a `ROLE=COLUMN` (replace) or `ROLE+=COLUMN` (add) flag. Roles: `id`, `name`,
    /// `country`, `city`, `postal_code`, `phone`, `domain`, `email`, `duns`, `segment` (labels
    /// from a column), `field:NAME`;
    /// and `delimiter=;` (or `,`, `tab`, `|`).
    pub fn apply_flag(&mut self, flag: &str) -> Result<(), ErrorKind> {
        if let Some(d) = flag.strip_prefix("delimiter=") {
            self.delimiter = Some(parse_delimiter(d)?);
            return Ok(());
        }
        let (role, column, add) = match flag.split_once("+=") {
            Some((role, column)) => (role, column, true),
            None => {
                let (role, column) = flag
                    .split_once('=')
                    .ok_or_else(|| ErrorKind::Mapping(format!("{flag:?}: write ROLE=COLUMN or ROLE+=COLUMN")))?;
                (role, column, false)
            }
        };
        self.set(role.trim(), vec![column.trim().to_owned()], add)?;
        self.name = format!("{} (changed by flags)", self.name.trim_end_matches(" (changed by flags)"));
        Ok(())
    }

    /// Replaces the segment rules.
    pub fn set_segment_rules(&mut self, rules: Vec<SegmentRule>) {
        self.segments = Segmentation::Rules(rules);
    }

    /// The segment rules, if segments come from rules.
    pub fn segment_rules(&self) -> Option<&[SegmentRule]> {
        match &self.segments {
            Segmentation::Rules(rules) => Some(rules),
            Segmentation::Column(_) => None,
        }
    }

    fn set(&mut self, role: &str, columns: Vec<String>, add: bool) -> Result<(), ErrorKind> {
        if columns.is_empty() || columns.iter().any(|c| c.trim().is_empty()) {
            return Err(ErrorKind::Mapping(format!("{role}: a column name is empty")));
        }
        let explicit = |names: Vec<String>| ColumnSpec { names, required: true };
        let single = |columns: Vec<String>| {
            if columns.len() == 1 {
                Ok(explicit(columns))
            } else {
                Err(ErrorKind::Mapping(format!("{role} takes one column")))
            }
        };
        let each = |columns: Vec<String>| columns.into_iter().map(|c| explicit(vec![c])).collect::<Vec<_>>();
        let list = match role {
            "id" => {
                self.id = single(columns)?;
                return Ok(());
            }
            "name" => {
                self.company = Some(single(columns)?);
                return Ok(());
            }
            "segment" => {
                self.segments = Segmentation::Column(single(columns)?);
                return Ok(());
            }
            "country" => &mut self.country,
            "city" => &mut self.city,
            "postal_code" => &mut self.postal_code,
            "phone" => &mut self.phone,
            "domain" => &mut self.domains,
            "email" => &mut self.emails,
            "duns" => &mut self.duns,
            _ => {
                let name = role.strip_prefix("field:").ok_or_else(|| {
                    ErrorKind::Mapping(format!(
                        "unknown role {role:?}: use id, name, country, city, postal_code, phone, domain, email, duns, \
                         segment or field:NAME"
                    ))
                })?;
                let name = FieldName::new(name).map_err(|_| {
                    ErrorKind::Mapping(format!("field name {name:?}: lower-case letters, digits and _ only"))
                })?;
                let spec = single(columns)?;
                self.fields.retain(|(n, _)| *n != name);
                self.fields.push((name, spec));
                return Ok(());
            }
        };
        if !add {
            list.clear();
        }
        list.extend(each(columns));
        Ok(())
    }
}

fn unknown_preset(name: &str) -> ErrorKind {
    let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
    ErrorKind::Mapping(format!("unknown preset {name:?}; presets: {}", names.join(", ")))
}

fn parse_delimiter(d: &str) -> Result<u8, ErrorKind> {
    match d {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "\\t" | "tab" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        _ => Err(ErrorKind::Mapping(format!("delimiter {d:?}: use \",\", \";\", \"tab\" or \"|\""))),
    }
}

/// A mapping's columns found in a header.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) id: usize,
    pub(crate) company: Option<usize>,
    pub(crate) country: Vec<usize>,
    pub(crate) city: Vec<usize>,
    pub(crate) postal_code: Vec<usize>,
    pub(crate) phone: Vec<usize>,
    pub(crate) domains: Vec<usize>,
    pub(crate) emails: Vec<usize>,
    pub(crate) duns: Vec<usize>,
    pub(crate) fields: Vec<(FieldName, usize)>,
    pub(crate) segments: ResolvedSegments,
}

#[derive(Debug)]
pub(crate) enum ResolvedSegments {
    /// Each rule with the header index of each column it reads.
    Rules(Vec<(SegmentRule, HashMap<String, usize>)>),
    Column(usize),
}

impl Mapping {
    /// Which of `header`'s columns an import through this mapping reads, in the header's order:
    /// what to ask a CRM for when the header is every field it has (a connector's sync reads only
    /// these). The errors are those an import of a file with this header would give.
    pub fn columns_read(&self, header: &[String]) -> Result<Vec<String>, ErrorKind> {
        let resolved = self.resolve(header)?;
        let mut read = resolved.claimed();
        read.extend(resolved.fields.iter().map(|(_, i)| *i));
        if let ResolvedSegments::Rules(rules) = &resolved.segments {
            read.extend(rules.iter().flat_map(|(_, columns)| columns.values().copied()));
        }
        read.sort_unstable();
        read.dedup();
        Ok(read.into_iter().map(|i| header[i].clone()).collect())
    }

    /// Finds every column in the header; a missing required one is an error that lists the header
    /// and, where another preset fits, names it.
    pub(crate) fn resolve(&self, header: &[String]) -> Result<Resolved, ErrorKind> {
        let find_name = |name: &str| -> Result<Option<usize>, ErrorKind> {
            let mut hits = header.iter().enumerate().filter(|(_, h)| h.eq_ignore_ascii_case(name.trim()));
            match (hits.next(), hits.next()) {
                (Some((i, _)), None) => Ok(Some(i)),
                (Some(_), Some(_)) => Err(ErrorKind::DuplicateColumn(name.to_owned())),
                (None, _) => Ok(None),
            }
        };
        let find = |role: &str, spec: &ColumnSpec| -> Result<Option<usize>, ErrorKind> {
            for name in &spec.names {
                if let Some(i) = find_name(name)? {
                    return Ok(Some(i));
                }
            }
            if !spec.required {
                return Ok(None);
            }
            let hint = Preset::detect(header)
                .filter(|p| p.name() != self.name)
                .map(|p| format!(" (this looks like a {} export: try the {} preset)", p.display_name(), p.name()));
            Err(ErrorKind::MissingColumn {
                role: role.to_owned(),
                expected: spec.names.clone(),
                found: header.to_vec(),
                hint,
            })
        };
        let all = |role: &str, specs: &[ColumnSpec]| -> Result<Vec<usize>, ErrorKind> {
            let mut out = Vec::new();
            for spec in specs {
                out.extend(find(role, spec)?);
            }
            Ok(out)
        };
        let id = find("account id", &self.id)?.expect("the id column is required");
        let company = match &self.company {
            Some(spec) => find("company name", spec)?,
            None => None,
        };
        let segments = match &self.segments {
            Segmentation::Column(spec) => ResolvedSegments::Column(find("segment", spec)?.expect("required")),
            Segmentation::Rules(rules) => {
                let mut resolved = Vec::with_capacity(rules.len());
                for rule in rules {
                    let mut columns = HashMap::new();
                    for column in rule.columns() {
                        let role = format!("{column:?} (read by segment rule {:?})", rule.text());
                        let i = find(&role, &ColumnSpec::required(&[column]))?.expect("required");
                        columns.insert(column.to_owned(), i);
                    }
                    resolved.push((rule.clone(), columns));
                }
                ResolvedSegments::Rules(resolved)
            }
        };
        let mut fields = Vec::new();
        for (name, spec) in &self.fields {
            if let Some(i) = find(&format!("field {name}"), spec)? {
                fields.push((name.clone(), i));
            }
        }
        let mut resolved = Resolved {
            id,
            company,
            country: all("country", &self.country)?,
            city: all("city", &self.city)?,
            postal_code: all("postal code", &self.postal_code)?,
            phone: all("phone", &self.phone)?,
            domains: all("domain", &self.domains)?,
            emails: all("e-mail", &self.emails)?,
            duns: all("DUNS", &self.duns)?,
            fields,
            segments,
        };
        if self.other_columns_are_fields {
            let claimed = resolved.claimed();
            for (i, h) in header.iter().enumerate() {
                let name = h.trim().to_lowercase().replace([' ', '-', '/'], "_");
                if claimed.contains(&i) || name.is_empty() {
                    continue;
                }
                let name = FieldName::new(&name)
                    .map_err(|_| ErrorKind::Mapping(format!("column {h:?} cannot be a field name: rename it")))?;
                resolved.fields.push((name, i));
            }
        }
        Ok(resolved)
    }
}

impl Preset {
    /// The export it reads, for people: "Salesforce Account", "HubSpot Companies", …
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Salesforce => "Salesforce Account",
            Self::Hubspot => "HubSpot Companies",
            Self::Generic => "plain blindmap",
        }
    }
}

impl Resolved {
    /// Each role with the header name of a column it reads (see `Importer::columns`).
    pub(crate) fn columns(&self, header: &[String]) -> Vec<(String, String)> {
        let name = |i: usize| header.get(i).cloned().unwrap_or_default();
        let mut out = vec![("id".to_owned(), name(self.id))];
        out.extend(self.company.map(|i| ("name".to_owned(), name(i))));
        for (role, columns) in [
            ("country", &self.country),
            ("city", &self.city),
            ("postal_code", &self.postal_code),
            ("phone", &self.phone),
            ("domain", &self.domains),
            ("email", &self.emails),
            ("duns", &self.duns),
        ] {
            out.extend(columns.iter().map(|&i| (role.to_owned(), name(i))));
        }
        out.extend(self.fields.iter().map(|(field, i)| (format!("field:{field}"), name(*i))));
        match &self.segments {
            ResolvedSegments::Column(i) => out.push(("segment".to_owned(), name(*i))),
            ResolvedSegments::Rules(rules) => {
                for (rule, columns) in rules {
                    let mut read: Vec<&str> = columns.values().map(|&i| header[i].as_str()).collect();
                    read.sort_unstable();
                    let reads = if read.is_empty() { "every other row".to_owned() } else { read.join(", ") };
                    out.push((format!("segment rule {}", rule.text()), reads));
                }
            }
        }
        out
    }

    fn claimed(&self) -> Vec<usize> {
        let mut claimed = vec![self.id];
        claimed.extend(self.company);
        claimed.extend(&self.country);
        claimed.extend(&self.city);
        claimed.extend(&self.postal_code);
        claimed.extend(&self.phone);
        claimed.extend(&self.domains);
        claimed.extend(&self.emails);
        claimed.extend(&self.duns);
        if let ResolvedSegments::Column(i) = self.segments {
            claimed.push(i);
        }
        claimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn presets_find_their_columns_and_detect_each_other() {
        let sf = header(&["Account ID", "Account Name", "Type", "Website", "Billing Country", "D-U-N-S Number"]);
        let hs = header(&["Record ID", "Company name", "Company Domain Name", "Country/Region", "Lifecycle Stage"]);
        assert_eq!(Preset::detect(&sf), Some(Preset::Salesforce));
        assert_eq!(Preset::detect(&hs), Some(Preset::Hubspot));
        assert_eq!(Preset::detect(&header(&["id", "segment", "domain"])), Some(Preset::Generic));
        let r = Preset::Salesforce.mapping().resolve(&sf).unwrap();
        assert_eq!((r.id, r.company, r.domains, r.duns), (0, Some(1), vec![3], vec![5]));
        let e = Preset::Salesforce.mapping().resolve(&hs).unwrap_err().to_string();
        assert!(e.contains("no account id column") && e.contains("try the hubspot preset"), "{e}");
    }

    #[test]
    fn a_crm_is_asked_for_the_columns_an_import_reads_only() {
        // Salesforce's Account fields as its describe call lists them (and the owner's name
        // through the relationship, as SOQL and Bulk API results write it).
        let fields = header(&[
            "Id",
            "IsDeleted",
            "Name",
            "Type",
            "ParentId",
            "BillingCity",
            "BillingCountry",
            "BillingPostalCode",
            "ShippingCountry",
            "Phone",
            "Website",
            "Industry",
            "NumberOfEmployees",
            "OwnerId",
            "Owner.Name",
            "Description",
            "SystemModstamp",
        ]);
        assert_eq!(
            Preset::Salesforce.mapping().columns_read(&fields).unwrap(),
            header(&[
                "Id",
                "Name",
                "Type",
                "BillingCity",
                "BillingCountry",
                "BillingPostalCode",
                "ShippingCountry",
                "Phone",
                "Website",
                "Industry",
                "NumberOfEmployees",
                "Owner.Name",
            ])
        );
        // A mapping's own columns and its rules' columns are read too; a missing required one
        // is the import's error.
        let mut m = Preset::Salesforce.mapping();
        m.apply_flag("field:tier=Tier__c").unwrap();
        m.set_segment_rules(vec![SegmentRule::parse("customers: Status__c = Active").unwrap()]);
        let custom = [fields.clone(), header(&["Tier__c", "Status__c"])].concat();
        let read = m.columns_read(&custom).unwrap();
        let preset = Preset::Salesforce.mapping().columns_read(&custom).unwrap();
        assert_eq!(read, [preset, header(&["Tier__c", "Status__c"])].concat());
        assert!(m.columns_read(&fields).unwrap_err().to_string().contains("Status__c"));
        assert!(Preset::Salesforce.mapping().columns_read(&header(&["Name"])).is_err());
    }

    #[test]
    fn a_mapping_file_changes_a_preset() {
        let m = Mapping::from_toml(
            r#"
            preset = "salesforce"
            delimiter = ";"
            segments = ["customers: Type = Customer", "prospects: everything else"]
            [columns]
            email = ["Primary Contact Email", "Billing Contact Email"]
            [fields]
            region = "Sales Region"
            "#,
        )
        .unwrap();
        assert_eq!(m.delimiter, Some(b';'));
        assert_eq!(m.emails.len(), 2);
        assert_eq!(m.domains.len(), 1, "unchanged");
        assert_eq!(m.segment_rules().unwrap().len(), 2);
        assert!(m.fields.iter().any(|(n, s)| n.as_str() == "region" && s.names == ["Sales Region"]));
    }

    #[test]
    fn mapping_mistakes_are_named() {
        for (text, needle) in [
            ("[columns]\nname = \"Name\"", "must name the id column"),
            ("preset = \"pipedrive\"", "unknown preset"),
            ("[columns]\nid = \"x\"\nwebsite = \"W\"", "unknown role"),
            ("[columns]\nid = [\"a\", \"b\"]", "takes one column"),
            ("colums = 1", "unknown field"),
            ("[columns]\nid = \"x\"\n[fields]\n\"Bad Name\" = \"x\"", "field name"),
        ] {
            let e = Mapping::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let mut m = Preset::Hubspot.mapping();
        m.apply_flag("domain+=Secondary Domain").unwrap();
        assert_eq!(m.domains.len(), 4);
        m.apply_flag("domain=Only This").unwrap();
        assert_eq!(m.domains.len(), 1);
        assert!(m.apply_flag("nonsense").is_err());
    }
}
