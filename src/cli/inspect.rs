//! `blindmap inspect FILE`: what the importer makes of an export — each account's keys and
//! segment, the values it could not use and why, and a summary. Streams: the file is never held
//! in memory, whatever its size.

use std::path::PathBuf;

use blindmap_records::normalise::is_common_name;
use blindmap_records::{Account, DropReason, Side, match_keys};
use clap::Args;
use serde::Serialize;

use crate::input::{self, SourceSpec, SummaryView};
use crate::output::escaped;

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The CSV export to read.
    file: PathBuf,
    /// How to read it: salesforce, hubspot, generic, or auto (chosen by its header; the default).
    #[arg(long, value_name = "PRESET")]
    preset: Option<String>,
    /// A column mapping file (TOML) instead of a preset.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    mapping: Option<PathBuf>,
    /// Map a column: ROLE=COLUMN replaces, ROLE+=COLUMN adds. Roles: id, name, country, city,
    /// domain, email, duns, segment (labels from a column), field:NAME; `delimiter=;` sets the
    /// delimiter. Repeatable.
    #[arg(long, value_name = "ROLE=COLUMN")]
    map: Vec<String>,
    /// A segment rule, `label: rule`, replacing the preset's; repeat in order of precedence.
    #[arg(long, value_name = "RULE")]
    segment: Vec<String>,
    /// How many accounts to show (0: all).
    #[arg(long, default_value_t = 20, value_name = "N")]
    limit: u64,
    /// Also show the protocol keys each account would bring to a session (as its first side).
    #[arg(long)]
    protocol_keys: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct AccountView {
    line: u64,
    id: String,
    segment: Option<String>,
    domains: Vec<String>,
    duns: Vec<String>,
    name_country: Option<String>,
    /// Whether the name is common (keys.md §2.7): a match by it and the country alone is only
    /// possible, never confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    common_name: Option<bool>,
    /// Not a key: a condition on name matches and evidence for them.
    city: Option<String>,
    /// Evidence for a match by a common name.
    postal_code: Option<String>,
    /// Evidence for a match by a common name (E.164).
    phone: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    protocol_keys: Vec<String>,
    fields: Vec<(String, String)>,
    not_keys: Vec<NotKey>,
}

#[derive(Serialize)]
struct NotKey {
    column: String,
    value: String,
    reason: &'static str,
    #[serde(skip)]
    why: DropReason,
}

#[derive(Serialize)]
struct Report {
    file: String,
    read_as: String,
    header: Vec<String>,
    summary: SummaryView,
    accounts: Vec<AccountView>,
}

impl AccountView {
    fn of(a: &Account, protocol_keys: bool) -> Self {
        Self {
            line: a.line,
            id: a.id.clone(),
            segment: a.segment.as_ref().map(ToString::to_string),
            domains: a.keys.domains.clone(),
            duns: a.keys.duns.clone(),
            name_country: a.keys.name_country.as_ref().map(|(n, c)| format!("{n} | {c}")),
            common_name: a.keys.name_country.as_ref().map(|(n, _)| is_common_name(n)),
            city: a.keys.city.clone(),
            postal_code: a.keys.postal_code.clone(),
            phone: a.keys.phone.clone(),
            protocol_keys: if protocol_keys {
                match_keys(&a.keys, Side::First).iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect()
            } else {
                Vec::new()
            },
            fields: a.fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            not_keys: a
                .dropped
                .iter()
                .map(|d| NotKey {
                    column: d.column.clone(),
                    value: d.value.clone(),
                    reason: d.reason.code(),
                    why: d.reason,
                })
                .collect(),
        }
    }

    fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = format!(
            "line {} · {} · {}\n",
            self.line,
            escaped(&self.id),
            escaped(self.segment.as_deref().unwrap_or("(no segment rule placed it)"))
        );
        for d in &self.domains {
            let _ = writeln!(out, "    domain        {}", escaped(d));
        }
        for d in &self.duns {
            let _ = writeln!(out, "    duns          {}", escaped(d));
        }
        if let Some(nc) = &self.name_country {
            let strength = if self.common_name == Some(true) {
                " (a common name: confirmed only with the postal code or phone)"
            } else {
                " (a distinctive name)"
            };
            let _ = writeln!(out, "    name_country  {}{strength}", escaped(nc));
            if let Some(city) = &self.city {
                let _ = writeln!(out, "    city          {} (a condition on name matches, not a key)", escaped(city));
            }
            if let Some(postal) = &self.postal_code {
                let _ = writeln!(out, "    postal code   {} (evidence for a common name)", escaped(postal));
            }
            if let Some(phone) = &self.phone {
                let _ = writeln!(out, "    phone         {} (evidence for a common name)", escaped(phone));
            }
        }
        if self.domains.is_empty() && self.duns.is_empty() && self.name_country.is_none() {
            let _ = writeln!(out, "    (no usable key: left out of matching)");
        }
        for k in &self.protocol_keys {
            let _ = writeln!(out, "    → {}", escaped(k));
        }
        for n in &self.not_keys {
            let (value, column) = (format!("{:?}", n.value), format!("{:?}", n.column));
            let _ = writeln!(out, "    not a key: {} in {}: {}", escaped(&value), escaped(&column), n.why);
        }
        out
    }
}

pub(crate) fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let spec = SourceSpec {
        preset: args.preset.clone(),
        mapping: args.mapping.clone(),
        maps: args.map.clone(),
        segments: args.segment.clone(),
    };
    let mapping = input::mapping_for(&args.file, &spec)?;
    let limit = if args.limit == 0 { u64::MAX } else { args.limit };
    let mut shown = 0u64;
    let mut accounts = Vec::new();
    let mut header = Vec::new();
    if !args.json {
        println!("{} read as {}", escaped(&args.file.display().to_string()), escaped(mapping.name()));
    }
    let summary = input::scan(
        &args.file,
        &mapping,
        |h| header = h.to_vec(),
        |account| {
            if shown < limit {
                shown += 1;
                let view = AccountView::of(account, args.protocol_keys);
                if args.json {
                    accounts.push(view);
                } else {
                    print!("{}", view.render());
                }
            }
        },
    )?;
    if args.json {
        let report = Report {
            file: args.file.display().to_string(),
            read_as: mapping.name().to_owned(),
            header,
            summary: SummaryView::of(&summary),
            accounts,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if summary.rows > shown {
            println!("… {} more rows (--limit 0 shows all)", summary.rows - shown);
        }
        println!("\nSummary:");
        print!("{}", input::render_summary(&summary));
    }
    Ok(())
}
