//! `blindmap changes`: what matches changed, account by account.

use blindmap_server::api::Page;
use blindmap_server::api::changes::{ChangeName, ChangeQuery, ChangeView};
use blindmap_server::rfc3339;
use clap::Args;

use super::{Connection, client, partnership_id, runtime};
use crate::output::escaped;

/// `blindmap changes`' options.
#[derive(Args)]
pub(crate) struct ChangesArgs {
    /// Only this partner's (its name, or the partnership's id `pt_…`).
    #[arg(long)]
    partner: Option<String>,
    /// Only this account's (its id in your dataset).
    #[arg(long)]
    account: Option<String>,
    /// Only accounts that came into a cell.
    #[arg(long, conflicts_with = "lost")]
    new: bool,
    /// Only accounts that went out of a cell.
    #[arg(long)]
    lost: bool,
    /// Only changes at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// At most this many (newest first).
    #[arg(long, default_value_t = 100, value_name = "N")]
    limit: u32,
    /// Print JSON lines (one change each) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) fn run(args: &ChangesArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let api = client(&args.connection)?;
        let since = match &args.since {
            Some(text) => Some(
                text.parse::<jiff::Timestamp>()
                    .map_err(|e| anyhow::anyhow!("--since {text:?} is not an RFC 3339 time: {e}"))?
                    .as_millisecond(),
            ),
            None => None,
        };
        let partnership = match &args.partner {
            Some(p) => Some(partnership_id(&api, p).await?),
            None => None,
        };
        let change = match (args.new, args.lost) {
            (true, _) => Some(ChangeName::New),
            (_, true) => Some(ChangeName::Lost),
            _ => None,
        };
        let query = ChangeQuery { partnership, account: args.account.clone(), change, since, run: None };
        let mut page = Page::first(args.limit.clamp(1, 1000));
        let mut shown = 0u32;
        loop {
            let got = api.changes(&query, &page).await?;
            for c in &got.items {
                if args.json {
                    println!("{}", serde_json::to_string(c)?);
                } else {
                    println!("{}", line(c));
                }
                shown += 1;
            }
            match got.next {
                Some(next) if shown < args.limit => {
                    page = Page { limit: Some((args.limit - shown).min(1000)), cursor: Some(next) }
                }
                _ => break,
            }
        }
        if shown == 0 && !args.json {
            println!("No changes (a partnership's first match is its baseline: changes start with the second).");
        }
        Ok(())
    })
}

/// `2026-12-07T22:00:00Z  new   Northwind Traders (0015…)  owner Ada Byron  customers × customers  with Partner, confirmed; owner=Linus`
fn line(c: &ChangeView) -> String {
    let name = if c.name.is_empty() {
        escaped(&c.account_id).into_owned()
    } else {
        format!("{} ({})", escaped(&c.name), escaped(&c.account_id))
    };
    let mut out = format!(
        "{}  {:<4}  {name}  {}  {} × {}  with {}",
        rfc3339(c.at),
        match c.change {
            ChangeName::New => "new",
            ChangeName::Lost => "lost",
        },
        match (c.owner.is_empty(), c.owner_email.is_empty()) {
            (true, _) => "no owner".to_owned(),
            (false, true) => format!("owner {}", escaped(&c.owner)),
            (false, false) => format!("owner {} <{}>", escaped(&c.owner), escaped(&c.owner_email)),
        },
        escaped(&c.own_segment),
        escaped(&c.partner_segment),
        escaped(&c.partner),
    );
    if let Some(tier) = &c.tier {
        out.push_str(&format!(", {}", escaped(tier)));
    }
    let fields: Vec<String> =
        c.fields.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{}={}", escaped(k), escaped(v)))).collect();
    if !fields.is_empty() {
        out.push_str(&format!("; {}", fields.join(", ")));
    }
    out
}

/// `blindmap retention`'s options.
#[derive(Args)]
pub(crate) struct RetentionArgs {
    /// Keep this many complete runs per partnership, the latest (2 to 1000).
    #[arg(long, value_name = "N")]
    keep_runs: Option<u32>,
    /// Keep this many days of per-account changes (1 to 3650).
    #[arg(long, value_name = "DAYS")]
    change_days: Option<u32>,
    #[command(flatten)]
    connection: Connection,
}

pub(crate) fn retention(args: &RetentionArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let api = client(&args.connection)?;
        let mut kept = api.retention().await?;
        if args.keep_runs.is_some() || args.change_days.is_some() {
            kept.keep_runs = args.keep_runs.unwrap_or(kept.keep_runs);
            kept.change_days = args.change_days.unwrap_or(kept.change_days);
            kept = api.set_retention(&kept).await?;
            println!("Kept from now on (what is no longer kept was deleted):");
        } else {
            println!("Kept:");
        }
        println!("  the latest {} complete runs of each partnership, and the datasets they matched", kept.keep_runs);
        println!("  {} days of per-account changes", kept.change_days);
        Ok(())
    })
}
