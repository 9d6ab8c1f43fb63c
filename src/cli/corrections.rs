//! `blindmap corrections …`: mark matches wrong, list and undo those marks, through the node's
//! API. A correction takes effect at once and stays on your node: the partner is not told.

use anyhow::bail;
use blindmap_server::api::corrections::{CorrectionView, NewCorrectionBody};
use blindmap_server::api::reports::ReportQuery;
use blindmap_server::client::ApiClient;
use clap::Subcommand;

use super::{Connection, client, partnership_id, runtime};
use crate::output::escaped;

#[derive(Subcommand)]
pub(crate) enum CorrectionsCommand {
    /// Mark a match wrong. By default "not this match": the account's matches with the partner
    /// on the same evidence (key types) or less are hidden from your lists, counts, exports and
    /// change notices, now and in every later match; a later match on new evidence (a domain,
    /// say) shows again. With --never, all its matches with the partner are hidden. The partner
    /// is not told, and what you share with it does not change.
    Add {
        /// The partner.
        #[arg(long, value_name = "NAME")]
        partner: String,
        /// Your account's id (as the lists show it).
        #[arg(long, value_name = "ID")]
        account: String,
        /// Never match the account with the partner, whatever the evidence.
        #[arg(long, conflicts_with = "key_types")]
        never: bool,
        /// The key types of the match that is wrong, comma-separated (e.g. `name_country`), as
        /// the lists show them; needed only when the account matches the partner in several
        /// ways.
        #[arg(long, value_name = "TYPES", value_delimiter = ',')]
        key_types: Vec<String>,
        /// Why, for whoever reads the corrections later.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Print the correction as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// List your active corrections, newest first.
    List {
        /// Only those of this partner.
        #[arg(long, value_name = "NAME")]
        partner: Option<String>,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Undo a correction: the matches it hid show again at once.
    Remove {
        /// The correction's id (`mc_…`, from `corrections list`).
        id: String,
        /// Print the correction as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// A correction in one line, with names: the account, the partner, what it hides, who and when.
fn summary(c: &CorrectionView) -> String {
    let what = match c.kind.as_str() {
        "never_match" => "never match".to_owned(),
        _ => format!("not this match (hides matches on {} or fewer)", escaped(&c.key_types.join(", "))),
    };
    let account = match &c.account {
        Some(name) => format!("{} ({})", escaped(name), escaped(&c.account_id)),
        None => escaped(&c.account_id).into_owned(),
    };
    let mut line = format!(
        "{}  {account} × {}: {what}; by {} at {}",
        escaped(&c.id),
        escaped(&c.partner),
        escaped(&c.created_by),
        blindmap_server::rfc3339(c.created_at)
    );
    if let Some(note) = &c.note {
        line.push_str(&format!("; note: {}", escaped(note)));
    }
    if let Some(by) = &c.removed_by {
        line.push_str(&format!(
            "; removed by {} at {}",
            escaped(by),
            blindmap_server::rfc3339(c.removed_at.unwrap_or(0))
        ));
    }
    line
}

/// The key types of `account`'s matches with the partnership in the latest complete match (as
/// the report lists them, both tiers), each list once.
async fn matched_on(api: &ApiClient, partnership: &str, account: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let query = ReportQuery {
        partnership: partnership.to_owned(),
        q: Some(account.to_owned()),
        limit: Some(1000),
        ..ReportQuery::default()
    };
    let page = api.report(&query).await?;
    let mut found: Vec<Vec<String>> = Vec::new();
    for item in page.items.into_iter().filter(|i| i.account_id == account) {
        if !found.contains(&item.matched_on) {
            found.push(item.matched_on);
        }
    }
    Ok(found)
}

pub(crate) fn run(command: &CorrectionsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            CorrectionsCommand::Add { partner, account, never, key_types, note, json: as_json, connection } => {
                let api = client(connection)?;
                let pid = partnership_id(&api, partner).await?;
                let mut body = NewCorrectionBody {
                    partnership: pid.clone(),
                    account_id: account.clone(),
                    kind: "never_match".to_owned(),
                    key_types: Vec::new(),
                    note: note.clone(),
                };
                if !*never {
                    let types = if key_types.is_empty() {
                        let found = matched_on(&api, &pid, account).await?;
                        match found.as_slice() {
                            [] => {
                                // Hidden by a correction made already: that one, as the API answers a repeat.
                                let made = api.all_corrections(Some(&pid)).await?;
                                let Some(c) = made.iter().find(|c| c.account_id == *account) else {
                                    bail!(
                                        "{account} is not listed as matching {partner} in your latest match with \
                                         them ({partner} may share counts only)"
                                    );
                                };
                                if *as_json {
                                    println!("{}", serde_json::to_string_pretty(c)?);
                                } else {
                                    println!("{}", summary(c));
                                    println!("Corrected already: nothing of {account}'s matches with {partner} is listed.");
                                }
                                return Ok(());
                            }
                            [one] => one.clone(),
                            several => {
                                let ways: Vec<String> = several.iter().map(|t| t.join(",")).collect();
                                bail!(
                                    "{account} matches {partner} in several ways: say which is wrong with --key-types \
                                     ({}), or use --never",
                                    ways.join(" or ")
                                )
                            }
                        }
                    } else {
                        key_types.iter().map(|t| t.trim().to_owned()).collect()
                    };
                    body.kind = "not_this_match".to_owned();
                    body.key_types = types;
                }
                let c = api.correct(&body).await?;
                if *as_json {
                    println!("{}", serde_json::to_string_pretty(&c)?);
                } else {
                    println!("{}", summary(&c));
                    println!(
                        "Hidden now and in every later match with {} ({} is not told). Undo: blindmap corrections remove {}",
                        escaped(&c.partner),
                        escaped(&c.partner),
                        escaped(&c.id)
                    );
                }
            }
            CorrectionsCommand::List { partner, json: as_json, connection } => {
                let api = client(connection)?;
                let pid = match partner {
                    Some(p) => Some(partnership_id(&api, p).await?),
                    None => None,
                };
                let items = api.all_corrections(pid.as_deref()).await?;
                if *as_json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else if items.is_empty() {
                    println!("No corrections: every match is shown.");
                } else {
                    for c in &items {
                        println!("{}", summary(c));
                    }
                }
            }
            CorrectionsCommand::Remove { id, json: as_json, connection } => {
                let api = client(connection)?;
                let c = api.remove_correction(id).await?;
                if *as_json {
                    println!("{}", serde_json::to_string_pretty(&c)?);
                } else {
                    println!("{}", summary(&c));
                    println!("Its matches with {} show again.", escaped(&c.partner));
                }
            }
        }
        Ok(())
    })
}
