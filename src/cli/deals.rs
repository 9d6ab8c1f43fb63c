//! `blindmap deal …`: deal registrations, through the node's API. A partner registers a deal
//! with a vendor's node (after an optional private pre-check); the vendor's admins decide.

use anyhow::bail;
use blindmap_server::api::registrations::{
    Customer, DecisionBody, NewRegistration, PrecheckBody, RegistrationClose, RegistrationFilter, RegistrationView,
};
use blindmap_server::client::ApiClient;
use clap::{Args, Subcommand};

use super::{Connection, client, partnership_id, runtime};
use crate::output::escaped;

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
    fn customer(&self) -> anyhow::Result<Customer> {
        if self.name.is_none() && self.domains.is_empty() && self.duns.is_empty() {
            bail!("name the customer: --name with --country, --domain or --duns");
        }
        Ok(Customer {
            name: self.name.clone(),
            country: self.country.clone(),
            domains: self.domains.clone(),
            duns: self.duns.clone(),
        })
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

fn summary(r: &RegistrationView) -> String {
    let state = match &r.conflict {
        Some(c) => format!("{} ({})", r.state, c.replace('_', " ")),
        None => r.state.clone(),
    };
    let protected = r
        .protected_until
        .as_deref()
        .map(|d| format!("  protected until {}", escaped(d.get(..10).unwrap_or(d))))
        .unwrap_or_default();
    format!(
        "{}  {:<9} {:<10} {:<28} {:<16} {} close {}{}{}",
        escaped(&r.id),
        escaped(&r.direction),
        escaped(&r.partner),
        escaped(&state),
        escaped(&r.value),
        escaped(&r.products.join(",")),
        escaped(&r.expected_close),
        protected,
        if r.extended { " (extended)" } else { "" },
    )
}

async fn decide(api: &ApiClient, id: &str, action: &str, reason: &Option<String>) -> anyhow::Result<()> {
    let r = api.decide_registration(id, action, &DecisionBody { reason: reason.clone() }).await?;
    println!("{}", summary(&r));
    Ok(())
}

pub(crate) fn run(command: &DealCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            DealCommand::Precheck { partner, customer, connection } => {
                let api = client(connection)?;
                let body =
                    PrecheckBody { partnership: partnership_id(&api, partner).await?, customer: customer.customer()? };
                let answer = api.precheck(&body).await?;
                let claimed = answer.claimed;
                println!(
                    "{}  ({} pre-checks left today at {})",
                    if claimed {
                        "claimed: another partner holds a registration on this customer"
                    } else {
                        "not claimed"
                    },
                    answer.remaining_today,
                    escaped(partner)
                );
            }
            DealCommand::Register { partner, customer, products, value, close, notes, connection } => {
                let api = client(connection)?;
                let Some((amount, currency)) = value.trim().rsplit_once(' ') else {
                    bail!("--value is an amount and a currency, e.g. \"50000 EUR\"");
                };
                let body = NewRegistration {
                    partnership: partnership_id(&api, partner).await?,
                    customer: customer.customer()?,
                    products: products.clone(),
                    value: amount.trim().to_owned(),
                    currency: currency.trim().to_owned(),
                    expected_close: close.clone(),
                    notes: notes.clone(),
                };
                let r = api.register(&body, None).await?;
                println!("{}", summary(&r));
                if r.conflict.as_deref() == Some("partner_conflict") {
                    println!(
                        "  another partner registered this customer first for a product in common: {} reviews it",
                        escaped(partner)
                    );
                } else if r.conflict.as_deref() == Some("channel_conflict") {
                    println!(
                        "  {}'s direct team works this customer (an opportunity or an account of its own): it reviews it",
                        escaped(partner)
                    );
                }
            }
            DealCommand::List { received, submitted, state, connection } => {
                let api = client(connection)?;
                let direction = if *received {
                    Some("received".to_owned())
                } else if *submitted {
                    Some("submitted".to_owned())
                } else {
                    None
                };
                let filter = RegistrationFilter { direction, state: state.clone() };
                let items = api.all_registrations(&filter).await?;
                if items.is_empty() {
                    println!("no registrations");
                }
                for r in &items {
                    println!("{}", summary(r));
                }
            }
            DealCommand::Show { id, connection } => {
                let r = client(connection)?.registration(id).await?;
                println!("{}", summary(&r));
                println!("  customer: {}", escaped(&r.customer_keys.join(", ")));
                println!("  submitted {}", escaped(&r.submitted_at));
                if !r.notes.is_empty() {
                    println!("  notes: {}", escaped(&r.notes));
                }
                if let Some(review) = &r.review {
                    for id in &review.conflicting_registrations {
                        println!("  earlier claim: {}", escaped(id));
                    }
                    for a in &review.direct_accounts {
                        match r.direct_account_names.get(a) {
                            Some(name) => println!("  your open opportunity: {} ({})", escaped(name), escaped(a)),
                            None => println!("  your open opportunity: account {}", escaped(a)),
                        }
                    }
                    if let Some(reason) = &review.reason {
                        println!("  reason: {}", escaped(reason));
                    }
                    if r.pending_notification == Some(true) {
                        println!("  (the partner's node has not heard the latest state yet)");
                    }
                }
            }
            DealCommand::Approve { id, reason, connection } => {
                decide(&client(connection)?, id, "approve", reason).await?;
            }
            DealCommand::Reject { id, reason, connection } => {
                decide(&client(connection)?, id, "reject", reason).await?;
            }
            DealCommand::Extend { id, connection } => {
                println!("{}", summary(&client(connection)?.extend_registration(id).await?));
            }
            DealCommand::Close { id, won, lost: _, connection } => {
                let r = client(connection)?.close_registration(id, &RegistrationClose { won: *won }).await?;
                println!("{}", summary(&r));
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
                let mut settings = api.registration_settings().await?;
                let mut changed = false;
                if !direct_segments.is_empty() {
                    settings.direct_segments = direct_segments.clone();
                    changed = true;
                }
                for (field, value) in [
                    (&mut settings.protection_days, protection_days),
                    (&mut settings.extension_days, extension_days),
                    (&mut settings.prechecks_per_minute, prechecks_per_minute),
                    (&mut settings.prechecks_per_day, prechecks_per_day),
                ] {
                    if let Some(v) = value {
                        *field = *v;
                        changed = true;
                    }
                }
                if changed {
                    settings = api.set_registration_settings(&settings).await?;
                }
                println!("{}", serde_json::to_string_pretty(&settings)?);
            }
        }
        Ok(())
    })
}
