//! `blindmap cosell …`: co-sell records on overlapping accounts, through the node's API.

use anyhow::{Context, bail};
use blindmap_cosell::cosell::{Edit, Party, Status};
use blindmap_cosell::money::Money;
use blindmap_server::api::Page;
use blindmap_server::api::cosell::{CoSellFilter, CoSellView, NewCoSell};
use clap::Subcommand;

use super::{Connection, client, named, partnership_id, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum CoSellCommand {
    /// List the co-sell records, most recently changed first.
    List {
        /// Only those with this partner.
        #[arg(long, value_name = "NAME")]
        partner: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show one record: its fields with who set them and when, notes, next steps and the log.
    Show {
        /// The record's id (`cs_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Create a record on one of your accounts that overlaps the partner's, and share it with
    /// the partner's node. The overlap is looked up in the partner's latest complete run.
    Create {
        /// The partner.
        #[arg(long, value_name = "NAME")]
        partner: String,
        /// Your account's id.
        #[arg(long, value_name = "ID")]
        account: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Change a record; each option is one edit, applied in the order given here.
    Edit {
        /// The record's id (`cs_…`).
        id: String,
        /// accepted or declined (the invited side), active, won, lost, withdrawn.
        #[arg(long)]
        status: Option<String>,
        /// The deal's stage, free text.
        #[arg(long)]
        stage: Option<String>,
        /// The amount and currency, e.g. "12500.00 EUR".
        #[arg(long)]
        amount: Option<String>,
        /// Target close date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        close_date: Option<String>,
        /// The next steps (the old text stays in the history).
        #[arg(long, value_name = "TEXT")]
        next_steps: Option<String>,
        /// Add a note.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Your owner of the deal.
        #[arg(long)]
        owner: Option<String>,
        /// Your opportunity's reference in your CRM.
        #[arg(long, value_name = "REF")]
        opportunity: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

/// This side's account id on the record.
fn mine(c: &CoSellView) -> Option<&str> {
    let side = if c.party == "A" { &c.record.a } else { &c.record.b };
    side.account.value.as_deref()
}

fn summary(c: &CoSellView) -> String {
    let r = &c.record;
    let stage = Some(r.stage.value.as_str()).filter(|s| !s.is_empty()).unwrap_or("-");
    let account = match (&c.account_name, mine(c)) {
        (Some(name), _) => name.clone(),
        (None, Some(id)) => id.to_owned(),
        (None, None) => "(no account set)".to_owned(),
    };
    format!(
        "{}  {:<10} {} with {}  side {}  stage {:<14} amount {:<16} close {}{}",
        escaped(&c.id),
        escaped(&c.status),
        escaped(&account),
        escaped(&c.partner),
        escaped(&c.party),
        escaped(stage),
        r.amount.value.as_ref().map_or_else(|| "-".to_owned(), Money::to_string),
        escaped(r.close_date.value.as_deref().unwrap_or("-")),
        if c.pending_sync { "  (not yet shared with the partner)" } else { "" }
    )
}

/// `"12500.00 EUR"` as the API's amount (minor units of the currency).
fn amount(text: &str) -> anyhow::Result<Money> {
    let (value, currency) =
        text.trim().rsplit_once(' ').context("an amount is a number and a currency, e.g. \"12500.00 EUR\"")?;
    let currency = blindmap_cosell::money::Currency::new(currency.trim())?;
    Ok(Money::parse(value, currency)?)
}

/// A status as the API names it.
fn status_of(text: &str) -> anyhow::Result<Status> {
    named(text).ok_or_else(|| {
        anyhow::anyhow!("{text:?} is not a status: proposed, accepted, declined, active, won, lost or withdrawn")
    })
}

fn party(p: Party) -> &'static str {
    match p {
        Party::A => "A",
        Party::B => "B",
    }
}

pub(crate) fn run(command: &CoSellCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            CoSellCommand::List { partner, connection } => {
                let api = client(connection)?;
                let partnership = match partner {
                    Some(p) => Some(partnership_id(&api, p).await?),
                    None => None,
                };
                let page = api.cosell_records(&CoSellFilter { partnership }, &Page::default()).await?;
                for c in &page.items {
                    println!("{}", summary(c));
                }
            }
            CoSellCommand::Show { id, connection } => {
                let c = client(connection)?.cosell(id).await?;
                println!("{}", summary(&c));
                let r = &c.record;
                for (f, label) in [(&r.a, "side A"), (&r.b, "side B")] {
                    println!(
                        "  {label}: account {}, opportunity {}, owner {}",
                        escaped(f.account.value.as_deref().unwrap_or("-")),
                        escaped(f.opportunity.value.as_deref().unwrap_or("-")),
                        escaped(f.owner.value.as_deref().unwrap_or("-"))
                    );
                }
                if !r.next_steps.value.is_empty() {
                    println!("  next steps: {}", escaped(&r.next_steps.value));
                }
                for n in &r.notes {
                    println!("  note by {}: {}", escaped(&n.by), escaped(&n.text));
                }
                println!("  log:");
                for e in &r.log {
                    println!(
                        "    {} {} by {}: {}",
                        blindmap_server::rfc3339(e.at.ms),
                        party(e.at.party),
                        escaped(&e.by),
                        escaped(&e.text)
                    );
                }
            }
            CoSellCommand::Create { partner, account, connection } => {
                let api = client(connection)?;
                let pid = partnership_id(&api, partner).await?;
                let (run, overlaps) = api.all_latest_overlaps(&pid).await?;
                let Some(o) = overlaps.iter().find(|o| o.account_id == *account) else {
                    bail!("{account} does not overlap {partner}'s accounts in your latest complete run with them (or they share counts only)");
                };
                let partner_record = o.partner_record.context("the partner served a Bloom filter: its records cannot be named")?;
                let body = NewCoSell {
                    run: run.context("no complete run with this partner")?,
                    account_id: account.clone(),
                    partner_segment: o.partner_segment.clone(),
                    partner_record,
                };
                println!("{}", summary(&api.create_cosell(&body).await?));
            }
            CoSellCommand::Edit { id, status, stage, amount: money, close_date, next_steps, note, owner, opportunity, connection } => {
                let api = client(connection)?;
                let mut edits = Vec::new();
                if let Some(s) = status {
                    edits.push(Edit::Status { status: status_of(s)? });
                }
                if let Some(s) = stage {
                    edits.push(Edit::Stage { stage: s.clone() });
                }
                if let Some(a) = money {
                    edits.push(Edit::Amount { amount: Some(amount(a)?) });
                }
                if let Some(d) = close_date {
                    edits.push(Edit::CloseDate { date: Some(d.clone()) });
                }
                if let Some(t) = next_steps {
                    edits.push(Edit::NextSteps { text: t.clone() });
                }
                if let Some(t) = note {
                    edits.push(Edit::Note { text: t.clone() });
                }
                if let Some(o) = owner {
                    edits.push(Edit::Owner { owner: Some(o.clone()) });
                }
                if let Some(r) = opportunity {
                    edits.push(Edit::Opportunity { reference: Some(r.clone()) });
                }
                if edits.is_empty() {
                    bail!("say what to change: --status, --stage, --amount, --close-date, --next-steps, --note, --owner or --opportunity");
                }
                let mut last = None;
                for e in &edits {
                    last = Some(api.edit_cosell(id, e).await?);
                }
                if let Some(last) = last {
                    println!("{}", summary(&last));
                }
            }
        }
        Ok(())
    })
}
