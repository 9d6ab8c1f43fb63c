//! `blindmap cosell …`: co-sell records on overlapping accounts, through the node's API.

use anyhow::{Context, bail};
use blindmap_server::client::{ApiClient, Method};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::node_cli::{Connection, all_items, client, encode, partnership_id, post, runtime};
use crate::term::{escaped, shown};

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

fn summary(c: &Value) -> String {
    let r = &c["record"];
    let stage = r["stage"]["value"].as_str().filter(|s| !s.is_empty()).unwrap_or("-");
    format!(
        "{}  {:<10} side {}  stage {:<14} amount {:<16} close {}{}",
        shown(&c["id"], "?"),
        shown(&c["status"], "?"),
        shown(&c["party"], "?"),
        escaped(stage),
        shown_amount(&r["amount"]["value"]),
        shown(&r["close_date"]["value"], "-"),
        if c["pending_sync"] == true { "  (not yet shared with the partner)" } else { "" }
    )
}

/// An amount as the API gives it (minor units of its currency) as a person reads it:
/// `125000.00 EUR`, `980000 JPY`; `-` when there is none.
fn shown_amount(amount: &Value) -> String {
    if amount.is_null() {
        return "-".to_owned();
    }
    match serde_json::from_value::<blindmap_cosell::money::Money>(amount.clone()) {
        Ok(money) => money.to_string(),
        Err(_) => escaped(&format!("{amount} (not an amount)")).into_owned(),
    }
}

/// `"12500.00 EUR"` as the API's amount (minor units of the currency).
fn amount(text: &str) -> anyhow::Result<Value> {
    let (value, currency) =
        text.trim().rsplit_once(' ').context("an amount is a number and a currency, e.g. \"12500.00 EUR\"")?;
    let currency = blindmap_cosell::money::Currency::new(currency.trim())?;
    let money = blindmap_cosell::money::Money::parse(value, currency)?;
    Ok(serde_json::to_value(money)?)
}

pub(crate) fn run(command: &CoSellCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            CoSellCommand::List { partner, connection } => {
                let api = client(connection)?;
                let path = match partner {
                    Some(p) => format!("/api/v1/cosell?partnership={}", encode(&partnership_id(&api, p).await?)),
                    None => "/api/v1/cosell".to_owned(),
                };
                let page: Value = api.call(Method::GET, &path, None, &[]).await?;
                for c in page["items"].as_array().into_iter().flatten() {
                    println!("{}", summary(c));
                }
            }
            CoSellCommand::Show { id, connection } => {
                let c: Value = client(connection)?.call(Method::GET, &format!("/api/v1/cosell/{}", encode(id)), None, &[]).await?;
                println!("{}", summary(&c));
                let r = &c["record"];
                for (side, label) in [("a", "side A"), ("b", "side B")] {
                    let f = &r[side];
                    println!(
                        "  {label}: account {}, opportunity {}, owner {}",
                        shown(&f["account"]["value"], "-"),
                        shown(&f["opportunity"]["value"], "-"),
                        shown(&f["owner"]["value"], "-")
                    );
                }
                if let Some(next) = r["next_steps"]["value"].as_str().filter(|s| !s.is_empty()) {
                    println!("  next steps: {}", escaped(next));
                }
                for n in r["notes"].as_array().into_iter().flatten() {
                    println!("  note by {}: {}", shown(&n["by"], "?"), shown(&n["text"], ""));
                }
                println!("  log:");
                for e in r["log"].as_array().into_iter().flatten() {
                    println!(
                        "    {} {} by {}: {}",
                        blindmap_server::rfc3339(e["at"]["ms"].as_i64().unwrap_or(0)),
                        shown(&e["at"]["party"], "?"),
                        shown(&e["by"], "?"),
                        shown(&e["text"], "")
                    );
                }
            }
            CoSellCommand::Create { partner, account, connection } => {
                let api = client(connection)?;
                let pid = partnership_id(&api, partner).await?;
                let overlaps = all_items(&api, &format!("/api/v1/overlaps?partnership={}", encode(&pid))).await?;
                let Some(o) = overlaps.iter().find(|o| o["account_id"] == account.as_str()) else {
                    bail!("{account} does not overlap {partner}'s accounts in your latest complete run with them (or they share counts only)");
                };
                let run_id = overlaps_run(&api, &pid).await?.context("no complete run with this partner")?;
                let body = json!({ "run": run_id, "account_id": account, "partner_segment": o["partner_segment"],
                    "partner_record": o["partner_record"] });
                let c = post(&api, "/api/v1/cosell", &body).await?;
                println!("{}", summary(&c));
            }
            CoSellCommand::Edit { id, status, stage, amount: money, close_date, next_steps, note, owner, opportunity, connection } => {
                let api = client(connection)?;
                let mut edits = Vec::new();
                if let Some(s) = status {
                    edits.push(json!({ "edit": "status", "status": s }));
                }
                if let Some(s) = stage {
                    edits.push(json!({ "edit": "stage", "stage": s }));
                }
                if let Some(a) = money {
                    edits.push(json!({ "edit": "amount", "amount": amount(a)? }));
                }
                if let Some(d) = close_date {
                    edits.push(json!({ "edit": "close_date", "date": d }));
                }
                if let Some(t) = next_steps {
                    edits.push(json!({ "edit": "next_steps", "text": t }));
                }
                if let Some(t) = note {
                    edits.push(json!({ "edit": "note", "text": t }));
                }
                if let Some(o) = owner {
                    edits.push(json!({ "edit": "owner", "owner": o }));
                }
                if let Some(r) = opportunity {
                    edits.push(json!({ "edit": "opportunity", "reference": r }));
                }
                if edits.is_empty() {
                    bail!("say what to change: --status, --stage, --amount, --close-date, --next-steps, --note, --owner or --opportunity");
                }
                let mut last = Value::Null;
                for e in &edits {
                    last = post(&api, &format!("/api/v1/cosell/{}/edits", encode(id)), e).await?;
                }
                println!("{}", summary(&last));
            }
        }
        Ok(())
    })
}

/// The run the latest overlaps of a partnership come from.
async fn overlaps_run(api: &ApiClient, partnership: &str) -> anyhow::Result<Option<String>> {
    let page: Value = api
        .call(Method::GET, &format!("/api/v1/overlaps?partnership={}&limit=1", encode(partnership)), None, &[])
        .await?;
    Ok(page["run"].as_str().map(str::to_owned))
}
