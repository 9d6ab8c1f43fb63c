//! `blindmap deal …`: deal registrations, through the node's API. A partner registers a deal
//! with a vendor's node (after an optional private pre-check); the vendor's admins decide.

use anyhow::bail;
use blindmap_server::client::{ApiClient, Method};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::node_cli::{Connection, all_items, client, encode, partnership_id, post, runtime, with_query};
use crate::term::{escaped, shown};

/// The end customer, as an import would read it: every value given must make a key.
#[derive(Args)]
pub(crate) struct CustomerArgs {
    /// Company name (needs --country).
    #[arg(long)]
    name: Option<String>,
    /// Country: ISO code or English name.
    #[arg(long)]
    country: Option<String>,
    /// Website, domain or e-mail address (repeat for more).
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// D-U-N-S number (repeat for more).
    #[arg(long = "duns", value_name = "DUNS")]
    duns: Vec<String>,
}

impl CustomerArgs {
    fn to_json(&self) -> anyhow::Result<Value> {
        if self.name.is_none() && self.domains.is_empty() && self.duns.is_empty() {
            bail!("name the customer: --name with --country, --domain or --duns");
        }
        Ok(json!({ "name": self.name, "country": self.country, "domains": self.domains, "duns": self.duns }))
    }
}

#[derive(Subcommand)]
pub(crate) enum DealCommand {
    /// Ask a vendor whether a customer is already claimed by another partner, without telling it
    /// which customer: the customer's keys are blinded before they leave (protocol-spec §17).
    /// The vendor limits how often you may ask.
    Precheck {
        /// The vendor (your partner's name).
        #[arg(long, value_name = "NAME")]
        partner: String,
        #[command(flatten)]
        customer: CustomerArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Register a deal with a vendor. Its node checks it at once: "submitted", or "in review" with
    /// the reason's category (another partner registered the customer first, or the vendor's
    /// direct team has it open) — never who or what.
    Register {
        /// The vendor (your partner's name).
        #[arg(long, value_name = "NAME")]
        partner: String,
        #[command(flatten)]
        customer: CustomerArgs,
        /// A product line (repeat for more).
        #[arg(long = "product", value_name = "LINE", required = true)]
        products: Vec<String>,
        /// Estimated value and currency, e.g. "50000 EUR".
        #[arg(long, value_name = "AMOUNT CUR")]
        value: String,
        /// Expected close, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        close: String,
        /// Notes for the vendor.
        #[arg(long, default_value = "")]
        notes: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List registrations, newest first: those partners sent you and those you sent.
    List {
        /// Only those partners sent you.
        #[arg(long, conflicts_with = "submitted")]
        received: bool,
        /// Only those you sent.
        #[arg(long)]
        submitted: bool,
        /// Only in this state: submitted, in_review, approved, rejected, expired, won, lost.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show one registration (what your checks found, on one you received).
    Show {
        /// Its id (`rg_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Approve a registration you received: protected for your protection days (admins).
    Approve {
        /// Its id (`rg_…`).
        id: String,
        /// Why (kept on your side).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Reject a registration you received (admins).
    Reject {
        /// Its id (`rg_…`).
        id: String,
        /// Why (kept on your side).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Extend an approved registration's protection, once: on one you sent, this asks the vendor.
    Extend {
        /// Its id (`rg_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Close a registration you received as won or lost (admins).
    Close {
        /// Its id (`rg_…`).
        id: String,
        /// The deal was won.
        #[arg(long, conflicts_with = "lost", required_unless_present = "lost")]
        won: bool,
        /// The deal was lost.
        #[arg(long)]
        lost: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show or change your rules for registrations partners send you (changing needs an admin).
    Settings {
        /// Segments of your accounts that are your direct team's open opportunities (repeat;
        /// replaces the list).
        #[arg(long = "direct-segment", value_name = "SEGMENT")]
        direct_segments: Vec<String>,
        /// Days an approved registration is protected.
        #[arg(long, value_name = "DAYS")]
        protection_days: Option<u32>,
        /// Days its one extension adds.
        #[arg(long, value_name = "DAYS")]
        extension_days: Option<u32>,
        /// Pre-checks a partner may ask per minute.
        #[arg(long, value_name = "N")]
        prechecks_per_minute: Option<u32>,
        /// Pre-checks a partner may ask per day.
        #[arg(long, value_name = "N")]
        prechecks_per_day: Option<u32>,
        #[command(flatten)]
        connection: Connection,
    },
}

fn summary(r: &Value) -> String {
    let state = match (r["state"].as_str(), r["conflict"].as_str()) {
        (Some(s), Some(c)) => format!("{s} ({})", c.replace('_', " ")),
        (Some(s), None) => s.to_owned(),
        _ => "?".to_owned(),
    };
    let protected = r["protected_until"]
        .as_str()
        .map(|d| format!("  protected until {}", escaped(d.get(..10).unwrap_or(d))))
        .unwrap_or_default();
    let products = r["products"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    format!(
        "{}  {:<9} {:<10} {:<28} {:<16} {} close {}{}{}",
        shown(&r["id"], "?"),
        shown(&r["direction"], "?"),
        shown(&r["partner"], "?"),
        escaped(&state),
        shown(&r["value"], "?"),
        escaped(&products),
        shown(&r["expected_close"], "?"),
        protected,
        if r["extended"] == true { " (extended)" } else { "" },
    )
}

async fn decide(api: &ApiClient, id: &str, action: &str, body: Value) -> anyhow::Result<()> {
    let r = post(api, &format!("/api/v1/registrations/{}/{action}", encode(id)), &body).await?;
    println!("{}", summary(&r));
    Ok(())
}

pub(crate) fn run(command: &DealCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            DealCommand::Precheck { partner, customer, connection } => {
                let api = client(connection)?;
                let body =
                    json!({ "partnership": partnership_id(&api, partner).await?, "customer": customer.to_json()? });
                let answer = post(&api, "/api/v1/registrations/precheck", &body).await?;
                let claimed = answer["claimed"] == true;
                println!(
                    "{}  ({} pre-checks left today at {})",
                    if claimed {
                        "claimed: another partner holds a registration on this customer"
                    } else {
                        "not claimed"
                    },
                    answer["remaining_today"],
                    escaped(partner)
                );
            }
            DealCommand::Register { partner, customer, products, value, close, notes, connection } => {
                let api = client(connection)?;
                let Some((amount, currency)) = value.trim().rsplit_once(' ') else {
                    bail!("--value is an amount and a currency, e.g. \"50000 EUR\"");
                };
                let body = json!({ "partnership": partnership_id(&api, partner).await?, "customer": customer.to_json()?,
                    "products": products, "value": amount.trim(), "currency": currency.trim(), "expected_close": close,
                    "notes": notes });
                let r = post(&api, "/api/v1/registrations", &body).await?;
                println!("{}", summary(&r));
                if r["conflict"].as_str() == Some("partner_conflict") {
                    println!(
                        "  another partner registered this customer first for a product in common: {} reviews it",
                        escaped(partner)
                    );
                } else if r["conflict"].as_str() == Some("channel_conflict") {
                    println!(
                        "  {}'s direct team works this customer (an opportunity or an account of its own): it reviews it",
                        escaped(partner)
                    );
                }
            }
            DealCommand::List { received, submitted, state, connection } => {
                let api = client(connection)?;
                let direction = if *received {
                    Some("received")
                } else if *submitted {
                    Some("submitted")
                } else {
                    None
                };
                let path =
                    with_query("/api/v1/registrations", &[("direction", direction), ("state", state.as_deref())]);
                let items = all_items(&api, &path).await?;
                if items.is_empty() {
                    println!("no registrations");
                }
                for r in &items {
                    println!("{}", summary(r));
                }
            }
            DealCommand::Show { id, connection } => {
                let r: Value = client(connection)?
                    .call(Method::GET, &format!("/api/v1/registrations/{}", encode(id)), None, &[])
                    .await?;
                println!("{}", summary(&r));
                let keys = r["customer_keys"]
                    .as_array()
                    .map(|k| k.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                println!("  customer: {}", escaped(&keys));
                println!("  submitted {}", shown(&r["submitted_at"], "?"));
                if let Some(notes) = r["notes"].as_str().filter(|n| !n.is_empty()) {
                    println!("  notes: {}", escaped(notes));
                }
                if let Some(review) = r.get("review") {
                    for id in review["conflicting_registrations"].as_array().into_iter().flatten() {
                        println!("  earlier claim: {}", shown(id, "?"));
                    }
                    for a in review["direct_accounts"].as_array().into_iter().flatten() {
                        println!("  your open opportunity: account {}", shown(a, "?"));
                    }
                    if let Some(reason) = review["reason"].as_str() {
                        println!("  reason: {}", escaped(reason));
                    }
                    if r["pending_notification"] == true {
                        println!("  (the partner's node has not heard the latest state yet)");
                    }
                }
            }
            DealCommand::Approve { id, reason, connection } => {
                decide(&client(connection)?, id, "approve", json!({ "reason": reason })).await?;
            }
            DealCommand::Reject { id, reason, connection } => {
                decide(&client(connection)?, id, "reject", json!({ "reason": reason })).await?;
            }
            DealCommand::Extend { id, connection } => decide(&client(connection)?, id, "extend", json!({})).await?,
            DealCommand::Close { id, won, lost: _, connection } => {
                decide(&client(connection)?, id, "close", json!({ "won": won })).await?;
            }
            DealCommand::Settings {
                direct_segments,
                protection_days,
                extension_days,
                prechecks_per_minute,
                prechecks_per_day,
                connection,
            } => {
                let api = client(connection)?;
                let mut settings: Value = api.call(Method::GET, "/api/v1/registrations/settings", None, &[]).await?;
                let mut changed = false;
                if !direct_segments.is_empty() {
                    settings["direct_segments"] = json!(direct_segments);
                    changed = true;
                }
                for (name, value) in [
                    ("protection_days", protection_days),
                    ("extension_days", extension_days),
                    ("prechecks_per_minute", prechecks_per_minute),
                    ("prechecks_per_day", prechecks_per_day),
                ] {
                    if let Some(v) = value {
                        settings[name] = json!(v);
                        changed = true;
                    }
                }
                if changed {
                    let body = Some((serde_json::to_vec(&settings)?, "application/json"));
                    settings = api.call(Method::PUT, "/api/v1/registrations/settings", body, &[]).await?;
                }
                println!("{}", serde_json::to_string_pretty(&settings)?);
            }
        }
        Ok(())
    })
}
