//! `blindmap attribution …`: partner touches, closes and the attribution ledger, through the
//! node's API.

use anyhow::bail;
use blindmap_server::api::attribution::{
    AmountsView, AttributionView, DealView, LedgerFilter, ModelChoice, ModelView, MoneyView, NewSource,
    OpportunityClose, PeriodQuery, TouchFilter, TouchInput, TouchView,
};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Connection, client, runtime};
use crate::output::escaped;

const KINDS: [&str; 4] = ["sourced", "influenced", "co_selling", "referral"];
const MODELS: [&str; 7] = ["categorical", "first_touch", "last_touch", "linear", "time_decay", "u_shaped", "w_shaped"];

/// A model, as `--model` and `--half-life-days` give it.
#[derive(Args)]
pub(crate) struct ModelArgs {
    /// categorical (sourced / influenced / unattributed), first_touch, last_touch, linear,
    /// time_decay (with --half-life-days), u_shaped (40/20/40) or w_shaped (30/30/30/10).
    #[arg(long, value_parser = MODELS)]
    model: Option<String>,
    /// Days for a touch's weight to halve, with --model time_decay.
    #[arg(long, value_name = "DAYS", requires = "model")]
    half_life_days: Option<u32>,
}

impl ModelArgs {
    /// The model as the API takes it, if one is given.
    fn choice(&self) -> Option<ModelChoice> {
        let model = self.model.clone()?;
        Some(ModelChoice { model: Some(model), half_life_days: self.half_life_days })
    }
}

#[derive(Subcommand)]
pub(crate) enum AttributionCommand {
    /// Record a partner's touch on an opportunity.
    Touch {
        /// The opportunity, as your CRM names it.
        #[arg(long)]
        opportunity: String,
        /// The partner (the same text on every touch of the same partner).
        #[arg(long)]
        partner: String,
        /// What the partner did.
        #[arg(long, value_parser = KINDS)]
        kind: String,
        /// When, RFC 3339: 2027-01-15 or 2027-01-15T09:30:00Z (default: now).
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
        /// Who recorded it (default: the token's user).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
        /// The opportunity's amount as of this touch, e.g. 48000.00 (with --currency).
        #[arg(long, requires = "currency")]
        amount: Option<String>,
        /// Its currency, e.g. EUR (with --amount).
        #[arg(long, requires = "amount")]
        currency: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List touches in the order they happened.
    Touches {
        /// Only this opportunity's.
        #[arg(long)]
        opportunity: Option<String>,
        /// Only this partner's.
        #[arg(long)]
        partner: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Close an opportunity won: its touches up to the close are scored and written to the ledger
    /// of record, once (closing it again is refused).
    Close {
        /// The opportunity.
        opportunity: String,
        /// The deal's amount, e.g. 120000 or 120000.50.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Its currency, e.g. EUR.
        #[arg(long)]
        currency: String,
        /// The close date, RFC 3339.
        #[arg(long, value_name = "DATE")]
        closed: String,
        /// When the opportunity was created (default: its first touch).
        #[arg(long, value_name = "DATE")]
        created: Option<String>,
        /// Also report the credits in this currency, e.g. USD (with --rate).
        #[arg(long, value_name = "CURRENCY", requires = "rate")]
        reporting: Option<String>,
        /// Units of the reporting currency per unit of the deal's on the close date, e.g. 1.08.
        #[arg(long, requires = "reporting")]
        rate: Option<String>,
        #[command(flatten)]
        model: ModelArgs,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a closed opportunity's ledger of record: the deal, the credits and the touches.
    Show {
        /// The opportunity.
        opportunity: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Re-score a closed opportunity under another model (nothing is recorded).
    Score {
        /// The opportunity.
        opportunity: String,
        #[command(flatten)]
        model: ModelArgs,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// The ledger: every closed-won deal's credits, latest close first.
    Ledger {
        /// Only this partner's.
        #[arg(long)]
        partner: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Sourced and influenced pipeline and won amounts per partner over a period.
    Pipeline {
        /// The period's start, RFC 3339 (default: 90 days before --to).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Its end, excluded (default: now).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show the model closes are scored under, or set it with --model (admins).
    Settings {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Inbound webhook sources that report touches, signed as Standard Webhooks: add, list.
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
}

#[derive(Subcommand)]
pub(crate) enum SourceCommand {
    /// Add a source; prints where it posts and its signing secret, once.
    Add {
        /// A name for it, e.g. "Acme PRM".
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the sources (never their secrets).
    List {
        #[command(flatten)]
        connection: Connection,
    },
}

fn model_text(model: &str, half_life_days: Option<u32>) -> String {
    match half_life_days {
        Some(days) => format!("{} (half-life {days} days)", escaped(model)),
        None => escaped(model).into_owned(),
    }
}

fn money(m: Option<&MoneyView>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| format!("{} {}", escaped(&m.amount), escaped(&m.currency)))
}

/// Amounts per currency with their count, e.g. `48000.00 EUR + 5000.00 USD (3, 1 unknown)`.
fn amounts(a: &AmountsView) -> String {
    if a.count == 0 {
        return "-".to_owned();
    }
    let mut text = a.amounts.iter().map(|m| money(Some(m))).collect::<Vec<_>>().join(" + ");
    if text.is_empty() {
        text = "amount unknown".to_owned();
    }
    if a.unknown > 0 { format!("{text} ({}, {} unknown)", a.count, a.unknown) } else { format!("{text} ({})", a.count) }
}

fn share(ppm: u32) -> String {
    format!("{}.{:04} %", ppm / 10_000, ppm % 10_000)
}

/// A time the node wrote, as a date alone when it is midnight UTC (a close given as a date).
fn date(rfc3339: &str) -> std::borrow::Cow<'_, str> {
    match blindmap_cosell::time::parse(rfc3339) {
        Ok(ms) => blindmap_cosell::time::format_for_people(ms).into(),
        Err(_) => escaped(rfc3339),
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The deal and its credits, as a table.
fn print_attribution(opportunity: &str, deal: &DealView, attribution: &AttributionView) {
    let reporting = match (&deal.reporting_currency, &deal.rate) {
        (Some(c), Some(r)) => format!(", reported in {} at {}", escaped(c), escaped(r)),
        _ => String::new(),
    };
    let model: &ModelView = &attribution.model;
    println!(
        "{}: {} closed {}{}; model {}",
        escaped(opportunity),
        money(Some(&deal.amount)),
        date(&deal.closed_at),
        reporting,
        model_text(&model.model, model.half_life_days)
    );
    if attribution.unattributed {
        println!("  unattributed: no partner touched it before it closed");
        return;
    }
    println!("  {:<24} {:<11} {:>10}  {:>20}  {:>20}", "partner", "category", "share", "amount", "reported");
    for c in &attribution.credits {
        println!(
            "  {:<24} {:<11} {:>10}  {:>20}  {:>20}",
            escaped(&c.partner),
            escaped(c.category.as_deref().unwrap_or("-")),
            share(c.share_ppm),
            money(Some(&c.amount)),
            money(c.reported.as_ref())
        );
    }
}

fn print_touch(t: &TouchView) {
    println!(
        "{}  {}  {:<24} {:<11} {}  by {} via {}",
        escaped(&t.id),
        escaped(&t.at),
        escaped(&t.partner),
        escaped(&t.kind),
        escaped(&t.opportunity),
        escaped(&t.actor),
        escaped(&t.source)
    );
}

pub(crate) fn run(command: &AttributionCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            AttributionCommand::Touch { opportunity, partner, kind, at, actor, amount, currency, connection } => {
                let body = TouchInput {
                    opportunity: opportunity.clone(),
                    partner: partner.clone(),
                    kind: kind.clone(),
                    at: at.clone(),
                    actor: actor.clone(),
                    amount: amount.clone(),
                    currency: currency.clone(),
                };
                let t = client(connection)?.record_touch(&body).await?;
                print!("Recorded ");
                print_touch(&t);
            }
            AttributionCommand::Touches { opportunity, partner, json, connection } => {
                let filter = TouchFilter { opportunity: opportunity.clone(), partner: partner.clone() };
                let items = client(connection)?.all_touches(&filter).await?;
                if *json {
                    return print_json(&items);
                }
                items.iter().for_each(print_touch);
            }
            AttributionCommand::Close {
                opportunity,
                amount,
                currency,
                closed,
                created,
                reporting,
                rate,
                model,
                json,
                connection,
            } => {
                let choice = model.choice();
                let body = OpportunityClose {
                    won: None,
                    amount: amount.clone(),
                    currency: currency.clone(),
                    closed_at: closed.clone(),
                    created_at: created.clone(),
                    reporting_currency: reporting.clone(),
                    rate: rate.clone(),
                    model: choice.as_ref().and_then(|c| c.model.clone()),
                    half_life_days: choice.and_then(|c| c.half_life_days),
                };
                let c = client(connection)?.close_opportunity(opportunity, &body).await?;
                if *json {
                    return print_json(&c);
                }
                print_attribution(&c.opportunity, &c.deal, &c.attribution);
                println!(
                    "  recorded in the ledger from {} touches; an attribution.recorded event went out",
                    c.touches.len()
                );
            }
            AttributionCommand::Show { opportunity, json, connection } => {
                let c = client(connection)?.opportunity(opportunity).await?;
                if *json {
                    return print_json(&c);
                }
                print_attribution(&c.opportunity, &c.deal, &c.attribution);
                println!(
                    "  closed by {} at {}; scored from these touches:",
                    escaped(&c.closed_by),
                    escaped(&c.recorded_at)
                );
                for t in &c.touches {
                    println!(
                        "    {}  {:<24} {:<11} by {}",
                        escaped(&t.at),
                        escaped(&t.partner),
                        escaped(&t.kind),
                        escaped(&t.actor)
                    );
                }
            }
            AttributionCommand::Score { opportunity, model, json, connection } => {
                let Some(choice) = model.choice() else { bail!("say which model: --model") };
                let s = client(connection)?.score(opportunity, &choice).await?;
                if *json {
                    return print_json(&s);
                }
                print_attribution(&s.opportunity, &s.deal, &s.attribution);
                println!(
                    "  re-scored only: the ledger of record stays under {}",
                    model_text(&s.of_record.model, s.of_record.half_life_days)
                );
            }
            AttributionCommand::Ledger { partner, json, connection } => {
                let items = client(connection)?.all_ledger(&LedgerFilter { partner: partner.clone() }).await?;
                if *json {
                    return print_json(&items);
                }
                for e in &items {
                    println!(
                        "{}  {:<20} {:<24} {:<12} {:<12} {:>10}  {:>20}  {:>20}",
                        date(&e.closed_at),
                        escaped(&e.opportunity),
                        escaped(e.partner.as_deref().unwrap_or("(no partner)")),
                        escaped(&e.model),
                        escaped(e.category.as_deref().unwrap_or("-")),
                        share(e.share_ppm),
                        money(Some(&e.amount)),
                        money(e.reported.as_ref())
                    );
                }
            }
            AttributionCommand::Pipeline { from, to, json, connection } => {
                let p = client(connection)?.pipeline(&PeriodQuery { from: from.clone(), to: to.clone() }).await?;
                if *json {
                    return print_json(&p);
                }
                println!("Partner pipeline from {} to {} (excluded)", date(&p.from), date(&p.to));
                if p.partners.is_empty() {
                    println!("  no partner touched an opportunity or was credited in this period");
                    return Ok(());
                }
                println!(
                    "  {:<24} {:>28}  {:>28}  {:>28}  {:>28}  {:>28}",
                    "partner",
                    "sourced pipeline",
                    "influenced pipeline",
                    "won sourced",
                    "won influenced",
                    "won credited"
                );
                for l in &p.partners {
                    println!(
                        "  {:<24} {:>28}  {:>28}  {:>28}  {:>28}  {:>28}",
                        escaped(&l.partner),
                        amounts(&l.sourced),
                        amounts(&l.influenced),
                        amounts(&l.won_sourced),
                        amounts(&l.won_influenced),
                        amounts(&l.won_credited)
                    );
                }
                println!("{}", escaped(&p.rule));
            }
            AttributionCommand::Settings { model, connection } => {
                let api = client(connection)?;
                let s = match model.choice() {
                    Some(choice) => api.set_attribution_settings(&choice).await?,
                    None => api.attribution_settings().await?,
                };
                let how = if s.configured { "" } else { " (the default)" };
                println!("Closes are scored under {}{how}", model_text(&s.model, s.half_life_days));
            }
            AttributionCommand::Source { command: SourceCommand::Add { name, connection } } => {
                let s = client(connection)?.create_source(&NewSource { name: name.clone() }).await?;
                println!("{}  {}  posts to {}", escaped(&s.id), escaped(name), escaped(&s.path));
                println!("Signing secret (shown once; sign deliveries with it as Standard Webhooks do):");
                println!("  {}", escaped(s.secret.as_deref().unwrap_or("?")));
            }
            AttributionCommand::Source { command: SourceCommand::List { connection } } => {
                for s in &client(connection)?.sources().await?.items {
                    println!("{}  {}  posts to {}", escaped(&s.id), escaped(&s.name), escaped(&s.path));
                }
            }
        }
        Ok(())
    })
}
