//! `blindmap accounts …`: your accounts across partners, through the node's API — those several
//! partners have, by priority (`amount × partners`), and for one account which partner to bring
//! into the deal, ranked with the reasons.

use blindmap_server::api::ecosystem::{AccountPartners, EcosystemPage, EcosystemQuery};
use clap::Subcommand;

use super::{Connection, client, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Your accounts that several active partners have in their latest complete match, most
    /// promising first: priority = amount × partners, the amount read from your active dataset's
    /// amount field (by default the first field whose name contains `amount`, `pipeline` or
    /// `opportunity_value`); accounts without an amount come after, by number of partners.
    Ecosystem {
        /// Only accounts at least this many partners have.
        #[arg(long, value_name = "N", default_value_t = 2)]
        min_partners: u32,
        /// Only your accounts in this segment.
        #[arg(long, value_name = "SEGMENT")]
        segment: Option<String>,
        /// The field holding the open-opportunity amount; `""` for none.
        #[arg(long, value_name = "FIELD")]
        amount_field: Option<String>,
        /// At most this many accounts (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: u32,
        /// Accounts to skip.
        #[arg(long, value_name = "N", default_value_t = 0)]
        offset: u32,
        /// Print the page as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Which partner to bring into a deal on one of your accounts: the active partners that have
    /// it, best first, scored by their segment (customer 3, open opportunity 2, prospect 1), plus
    /// 2 per co-sell won with them, minus 1 per co-sell lost, plus 1 per won deal the
    /// attribution ledger credits to them; each with its reasons.
    Partners {
        /// Your account's id (as the lists show it).
        account: String,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// The page as a table: priority, amount, partners, account.
fn print_ecosystem(page: &EcosystemPage) {
    println!("{}.", page.formula);
    match &page.amount_field {
        Some(f) => println!("Amount field: {}", escaped(f)),
        None => println!("No amount field: accounts are ranked by number of partners."),
    }
    if page.items.is_empty() {
        println!("No account of yours is in the latest match of that many partners.");
        return;
    }
    println!("{:>18}  {:>16}  {:<32}  PARTNERS (THEIR SEGMENT)", "PRIORITY", "AMOUNT", "ACCOUNT");
    for item in &page.items {
        let name = match &item.account {
            Some(name) => format!("{} ({})", escaped(name), escaped(&item.account_id)),
            None => escaped(&item.account_id).into_owned(),
        };
        let partners: Vec<String> = item
            .partners
            .iter()
            .map(|p| format!("{} ({})", escaped(&p.partner), escaped(&p.partner_segments.join(", "))))
            .collect();
        let amount = item.amount.clone().unwrap_or_else(|| "-".to_owned());
        let priority =
            if item.amount.is_some() { item.priority.clone() } else { format!("{} partners", item.priority) };
        println!("{priority:>18}  {amount:>16}  {name:<32}  {}", partners.join("; "));
    }
    let last = page.offset + page.items.len() as u64;
    println!("{}–{last} of {} ({} with an amount).", page.offset + 1, page.total, page.with_amount);
}

fn print_partners(found: &AccountPartners) {
    let name = found.account.as_deref().unwrap_or(&found.account_id);
    println!("Which partner to bring into a deal on {} ({}):", escaped(name), escaped(&found.account_id));
    println!("{}.", found.formula);
    for (i, p) in found.items.iter().enumerate() {
        println!(
            "{}. {} ({}), score {}: {}",
            i + 1,
            escaped(&p.partner),
            escaped(&p.partnership),
            p.score,
            p.score_text
        );
        for reason in &p.reasons {
            println!("   - {}", escaped(reason));
        }
        if let Some(c) = &p.cosell {
            println!("   co-sell record {} ({})", escaped(&c.id), escaped(&c.status));
        }
    }
}

pub(crate) fn run(command: &AccountsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            AccountsCommand::Ecosystem {
                min_partners,
                segment,
                amount_field,
                limit,
                offset,
                json: as_json,
                connection,
            } => {
                let api = client(connection)?;
                let query = EcosystemQuery {
                    min_partners: Some(*min_partners),
                    own_segment: segment.clone(),
                    amount_field: amount_field.clone(),
                    limit: Some(*limit),
                    offset: *offset,
                };
                let page = api.ecosystem(&query).await?;
                if *as_json {
                    println!("{}", serde_json::to_string_pretty(&page)?);
                } else {
                    print_ecosystem(&page);
                }
            }
            AccountsCommand::Partners { account, json: as_json, connection } => {
                let api = client(connection)?;
                let found = api.account_partners(account).await?;
                if *as_json {
                    println!("{}", serde_json::to_string_pretty(&found)?);
                } else {
                    print_partners(&found);
                }
            }
        }
        Ok(())
    })
}
