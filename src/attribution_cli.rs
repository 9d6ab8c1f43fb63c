//! `blindmap attribution …`: partner touches, closes and the attribution ledger, through the
//! node's API.

use anyhow::bail;
use blindmap_server::client::{ApiClient, Method};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::node_cli::{Connection, all_items, client, encode, runtime, with_query};
use crate::term::{escaped, shown};

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
    /// The API's fields for the model, if one is given.
    fn fields(&self) -> Option<Value> {
        let model = self.model.as_ref()?;
        Some(match self.half_life_days {
            Some(days) => json!({ "model": model, "half_life_days": days }),
            None => json!({ "model": model }),
        })
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
        #[command(flatten)]
        connection: Connection,
    },
    /// List touches in the order they happened.
    Touches {
        /// Only this opportunity's.
        #[arg(long)]
        opportunity: Option<String>,
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

async fn send(api: &ApiClient, method: Method, path: &str, body: &Value) -> anyhow::Result<Value> {
    Ok(api.call(method, path, Some((serde_json::to_vec(body)?, "application/json")), &[]).await?)
}

fn model_text(m: &Value) -> String {
    match m["half_life_days"].as_u64() {
        Some(days) => format!("{} (half-life {days} days)", shown(&m["model"], "?")),
        None => shown(&m["model"], "?").into_owned(),
    }
}

fn money(m: &Value) -> String {
    if m.is_null() {
        return "-".to_owned();
    }
    format!("{} {}", shown(&m["amount"], "?"), shown(&m["currency"], "?"))
}

fn share(ppm: &Value) -> String {
    let ppm = ppm.as_u64().unwrap_or(0);
    format!("{}.{:04} %", ppm / 10_000, ppm % 10_000)
}

fn date(rfc3339: &Value) -> std::borrow::Cow<'_, str> {
    escaped(rfc3339.as_str().map_or("?", |t| t.strip_suffix("T00:00:00.000Z").unwrap_or(t)))
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The deal and its credits, as a table.
fn print_attribution(opportunity: &Value, deal: &Value, attribution: &Value) {
    let reporting = match (deal["reporting_currency"].as_str(), deal["rate"].as_str()) {
        (Some(c), Some(r)) => format!(", reported in {} at {}", escaped(c), escaped(r)),
        _ => String::new(),
    };
    println!(
        "{}: {} closed {}{}; model {}",
        shown(opportunity, "?"),
        money(&deal["amount"]),
        date(&deal["closed_at"]),
        reporting,
        model_text(&attribution["model"])
    );
    if attribution["unattributed"] == true {
        println!("  unattributed: no partner touched it before it closed");
        return;
    }
    println!("  {:<24} {:<11} {:>10}  {:>20}  {:>20}", "partner", "category", "share", "amount", "reported");
    for c in attribution["credits"].as_array().into_iter().flatten() {
        println!(
            "  {:<24} {:<11} {:>10}  {:>20}  {:>20}",
            shown(&c["partner"], "?"),
            shown(&c["category"], "-"),
            share(&c["share_ppm"]),
            money(&c["amount"]),
            money(&c["reported"])
        );
    }
}

fn print_touch(t: &Value) {
    println!(
        "{}  {}  {:<24} {:<11} {}  by {} via {}",
        shown(&t["id"], "?"),
        shown(&t["at"], "?"),
        shown(&t["partner"], "?"),
        shown(&t["kind"], "?"),
        shown(&t["opportunity"], "?"),
        shown(&t["actor"], "?"),
        shown(&t["source"], "?")
    );
}

fn opportunity_path(opportunity: &str, rest: &str) -> String {
    format!("/api/v1/attribution/opportunities/{}{rest}", encode(opportunity))
}

pub(crate) fn run(command: &AttributionCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            AttributionCommand::Touch { opportunity, partner, kind, at, actor, connection } => {
                let body =
                    json!({ "opportunity": opportunity, "partner": partner, "kind": kind, "at": at, "actor": actor });
                let t = send(&client(connection)?, Method::POST, "/api/v1/attribution/touches", &body).await?;
                print!("Recorded ");
                print_touch(&t);
            }
            AttributionCommand::Touches { opportunity, json, connection } => {
                let path = with_query("/api/v1/attribution/touches", &[("opportunity", opportunity.as_deref())]);
                let items = all_items(&client(connection)?, &path).await?;
                if *json {
                    return print_json(&Value::Array(items));
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
                let mut body = json!({ "amount": amount, "currency": currency, "closed_at": closed,
                    "created_at": created, "reporting_currency": reporting, "rate": rate });
                if let Some(Value::Object(fields)) = model.fields() {
                    body.as_object_mut().expect("an object").extend(fields);
                }
                let api = client(connection)?;
                let c = send(&api, Method::POST, &opportunity_path(opportunity, "/close"), &body).await?;
                if *json {
                    return print_json(&c);
                }
                print_attribution(&c["opportunity"], &c["deal"], &c["attribution"]);
                println!(
                    "  recorded in the ledger from {} touches; an attribution.recorded event went out",
                    c["touches"].as_array().map_or(0, Vec::len)
                );
            }
            AttributionCommand::Show { opportunity, json, connection } => {
                let c: Value =
                    client(connection)?.call(Method::GET, &opportunity_path(opportunity, ""), None, &[]).await?;
                if *json {
                    return print_json(&c);
                }
                print_attribution(&c["opportunity"], &c["deal"], &c["attribution"]);
                println!(
                    "  closed by {} at {}; scored from these touches:",
                    shown(&c["closed_by"], "?"),
                    shown(&c["recorded_at"], "?")
                );
                for t in c["touches"].as_array().into_iter().flatten() {
                    println!(
                        "    {}  {:<24} {:<11} by {}",
                        shown(&t["at"], "?"),
                        shown(&t["partner"], "?"),
                        shown(&t["kind"], "?"),
                        shown(&t["actor"], "?")
                    );
                }
            }
            AttributionCommand::Score { opportunity, model, json, connection } => {
                let Some(name) = &model.model else { bail!("say which model: --model") };
                let mut query = format!("/score?model={}", encode(name));
                if let Some(days) = model.half_life_days {
                    query.push_str(&format!("&half_life_days={days}"));
                }
                let path = opportunity_path(opportunity, &query);
                let s: Value = client(connection)?.call(Method::GET, &path, None, &[]).await?;
                if *json {
                    return print_json(&s);
                }
                print_attribution(&s["opportunity"], &s["deal"], &s["attribution"]);
                println!("  re-scored only: the ledger of record stays under {}", model_text(&s["of_record"]));
            }
            AttributionCommand::Ledger { partner, json, connection } => {
                let path = with_query("/api/v1/attribution/ledger", &[("partner", partner.as_deref())]);
                let items = all_items(&client(connection)?, &path).await?;
                if *json {
                    return print_json(&Value::Array(items));
                }
                for e in &items {
                    println!(
                        "{}  {:<20} {:<24} {:<12} {:<12} {:>10}  {:>20}  {:>20}",
                        date(&e["closed_at"]),
                        shown(&e["opportunity"], "?"),
                        shown(&e["partner"], "(no partner)"),
                        shown(&e["model"], "?"),
                        shown(&e["category"], "-"),
                        share(&e["share_ppm"]),
                        money(&e["amount"]),
                        money(&e["reported"])
                    );
                }
            }
            AttributionCommand::Settings { model, connection } => {
                let api = client(connection)?;
                let s = match model.fields() {
                    Some(fields) => send(&api, Method::PUT, "/api/v1/attribution/settings", &fields).await?,
                    None => api.call(Method::GET, "/api/v1/attribution/settings", None, &[]).await?,
                };
                let how = if s["configured"] == true { "" } else { " (the default)" };
                println!("Closes are scored under {}{how}", model_text(&s));
            }
            AttributionCommand::Source { command: SourceCommand::Add { name, connection } } => {
                let s =
                    send(&client(connection)?, Method::POST, "/api/v1/attribution/sources", &json!({ "name": name }))
                        .await?;
                println!("{}  {}  posts to {}", shown(&s["id"], "?"), escaped(name), shown(&s["path"], "?"));
                println!("Signing secret (shown once; sign deliveries with it as Standard Webhooks do):");
                println!("  {}", shown(&s["secret"], "?"));
            }
            AttributionCommand::Source { command: SourceCommand::List { connection } } => {
                let list: Value =
                    client(connection)?.call(Method::GET, "/api/v1/attribution/sources", None, &[]).await?;
                for s in list["items"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {}  posts to {}",
                        shown(&s["id"], "?"),
                        shown(&s["name"], "?"),
                        shown(&s["path"], "?")
                    );
                }
            }
        }
        Ok(())
    })
}
