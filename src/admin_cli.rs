//! `blindmap users …` (an organisation's users and tokens, through the node's API) and
//! `blindmap org add` (another organisation on a hosted node, on the node's machine).

use std::path::PathBuf;

use anyhow::Context;
use blindmap_server::client::Method;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::node_cli::{Connection, all_items, client, encode, runtime};
use crate::term::{escaped, shown};

#[derive(Subcommand)]
pub(crate) enum UsersCommand {
    /// List the organisation's users and their tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Add a user and print their first token (shown once).
    Add {
        /// The user's name.
        name: String,
        /// admin (everything), rep (reads runs, overlaps and reports) or integration (uploads
        /// datasets and starts runs, for scripts).
        #[arg(long, default_value = "rep")]
        role: String,
        /// A label for the token.
        #[arg(long, default_value = "first token")]
        label: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Issue another token to a user (shown once).
    Token {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        /// What it is for.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Issue a one-time sign-in link to the reports pages for a user (valid 15 minutes, once).
    Link {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Revoke a token: it authenticates no more, and the browser sessions signed in with it end.
    Revoke {
        /// The token's id (`tok_…`, from `users list`).
        #[arg(value_name = "TOKEN_ID")]
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Disable a user: its tokens stop working at once and its browser sessions end, until it is
    /// enabled again. The organisation's last active admin cannot be disabled.
    Disable {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Enable a disabled user again: its tokens that were not revoked work again.
    Enable {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove a user for good: its tokens are revoked and its browser sessions end. It stays
    /// listed as removed, and its name stays taken (the audit trail names it).
    Remove {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Sign a user out of the pages everywhere: every browser session it has ends (its tokens
    /// keep working).
    Signout {
        /// The user's id (`usr_…`, from `users list`).
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub(crate) fn run_users(command: &UsersCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let body = |v: Value| Some((serde_json::to_vec(&v).expect("JSON"), "application/json"));
        match command {
            UsersCommand::List { connection } => {
                for u in &all_items(&client(connection)?, "/api/v1/users").await? {
                    println!("{}  {:<24} {}", shown(&u["id"], "?"), shown(&u["name"], "?"), shown(&u["role"], "?"));
                    if u["state"].as_str().is_some_and(|s| s != "active") {
                        println!("    ({})", shown(&u["state"], "?"));
                    }
                    for t in u["tokens"].as_array().into_iter().flatten() {
                        let state = if t["revoked_at"].is_null() { "active" } else { "revoked" };
                        println!("    {}  {:<20} {state}", shown(&t["id"], "?"), shown(&t["label"], "?"));
                    }
                }
            }
            UsersCommand::Add { name, role, label, connection } => {
                let made: Value = client(connection)?
                    .call(
                        Method::POST,
                        "/api/v1/users",
                        body(json!({ "name": name, "role": role, "token_label": label })),
                        &[],
                    )
                    .await?;
                println!(
                    "Added {} ({}) as {}.",
                    shown(&made["name"], "?"),
                    shown(&made["role"], "?"),
                    shown(&made["id"], "?")
                );
                println!("Token {} (shown once; only its hash is kept):", shown(&made["token"]["id"], "?"));
                println!("  {}", shown(&made["token"]["token"], "?"));
            }
            UsersCommand::Token { user, label, connection } => {
                let path = format!("/api/v1/users/{}/tokens", encode(user));
                let t: Value =
                    client(connection)?.call(Method::POST, &path, body(json!({ "label": label })), &[]).await?;
                println!("Token {} (shown once; only its hash is kept):", shown(&t["id"], "?"));
                println!("  {}", shown(&t["token"], "?"));
            }
            UsersCommand::Link { user, connection } => {
                let path = format!("/api/v1/users/{}/signin-link", encode(user));
                let link: Value = client(connection)?.call(Method::POST, &path, None, &[]).await?;
                println!(
                    "Sign-in link (works once, until {}; hand it over as you would a token):",
                    shown(&link["expires_at"], "?")
                );
                println!("  {}", shown(&link["url"], "?"));
            }
            UsersCommand::Revoke { id, connection } => {
                let path = format!("/api/v1/tokens/{}", encode(id));
                client(connection)?.call_empty(Method::DELETE, &path).await?;
                println!("Revoked {}.", escaped(id));
            }
            UsersCommand::Disable { user, connection } | UsersCommand::Enable { user, connection } => {
                let action = if matches!(command, UsersCommand::Disable { .. }) { "disable" } else { "enable" };
                let path = format!("/api/v1/users/{}/{action}", encode(user));
                let u: Value = client(connection)?.call(Method::POST, &path, None, &[]).await?;
                println!("{user} is {}.", u["state"].as_str().unwrap_or("?"));
            }
            UsersCommand::Remove { user, connection } => {
                let path = format!("/api/v1/users/{}", encode(user));
                client(connection)?.call_empty(Method::DELETE, &path).await?;
                println!("Removed {user}: its tokens are revoked and its sessions ended.");
            }
            UsersCommand::Signout { user, connection } => {
                let path = format!("/api/v1/users/{}/sessions", encode(user));
                let ended: Value = client(connection)?.call(Method::DELETE, &path, None, &[]).await?;
                println!(
                    "Signed {user} out everywhere: {} sessions ended.",
                    ended["sessions_ended"].as_u64().unwrap_or(0)
                );
            }
        }
        Ok(())
    })
}

#[derive(Args)]
pub(crate) struct OrgAddArgs {
    /// The new organisation's name.
    name: String,
    /// Its first admin user.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    admin: String,
    /// The node's data folder (this runs on the node's machine).
    #[arg(long, env = "BLINDMAP_DATA_DIR", default_value = "blindmap-data", value_name = "DIR")]
    data_dir: PathBuf,
}

pub(crate) fn run_org_add(args: &OrgAddArgs) -> anyhow::Result<()> {
    let token = runtime()?
        .block_on(blindmap_server::node::add_organisation(&args.data_dir, &args.name, &args.admin))
        .with_context(|| format!("cannot add {:?}", args.name))?;
    println!(
        "Added the organisation {} to the node in {}.",
        escaped(&args.name),
        escaped(&args.data_dir.display().to_string())
    );
    println!("Admin token for {} (shown once; only its hash is kept):", escaped(&args.admin));
    println!("  {}", token.expose());
    Ok(())
}

#[derive(Subcommand)]
pub(crate) enum HooksCommand {
    /// Add a webhook endpoint and print its signing secret (shown once). Receivers verify
    /// deliveries with any Standard Webhooks library and that secret.
    Add {
        /// Where to post: https:// to a public address. Plain http://, and loopback, private or
        /// link-local addresses, only where the node's operator allows them (webhook_allow_http,
        /// webhook_allow in node.toml).
        url: String,
        /// An event kind to send (repeatable; default: all).
        #[arg(long = "event", value_name = "KIND",
            value_parser = clap::builder::PossibleValuesParser::new(blindmap_cosell::webhook::EVENT_KINDS.iter().copied()))]
        events: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the endpoints.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Enable an endpoint (its pending deliveries resume).
    Enable {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Disable an endpoint.
    Disable {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show an endpoint's delivery log, newest first.
    Log {
        /// The endpoint's id (`whe_…`).
        id: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Print the events after a cursor (all from the start without one) as JSON lines, and the
    /// cursor to continue from: what a receiver missed. Every event is there as soon as it is
    /// recorded, and continuing from the last cursor never skips one.
    Events {
        /// The cursor printed last time.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

fn show_hook(h: &Value) {
    let events: Vec<&str> = h["events"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!(
        "{}  {:<8} {}  events: {}  failures in a row: {}",
        shown(&h["id"], "?"),
        shown(&h["state"], "?"),
        shown(&h["url"], "?"),
        if events.is_empty() { "all".to_owned() } else { escaped(&events.join(", ")).into_owned() },
        h["consecutive_failures"]
    );
}

pub(crate) fn run_hooks(command: &HooksCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            HooksCommand::Add { url, events, connection } => {
                let body = serde_json::to_vec(&json!({ "url": url, "events": events }))?;
                let h: Value = client(connection)?
                    .call(Method::POST, "/api/v1/hooks", Some((body, "application/json")), &[])
                    .await?;
                show_hook(&h);
                println!("Signing secret (shown once; verify deliveries with it):");
                println!("  {}", shown(&h["secret"], "?"));
            }
            HooksCommand::List { connection } => {
                let list: Value = client(connection)?.call(Method::GET, "/api/v1/hooks", None, &[]).await?;
                for h in list["items"].as_array().into_iter().flatten() {
                    show_hook(h);
                }
            }
            HooksCommand::Enable { id, connection } | HooksCommand::Disable { id, connection } => {
                let verb = if matches!(command, HooksCommand::Enable { .. }) { "enable" } else { "disable" };
                let path = format!("/api/v1/hooks/{}/{verb}", encode(id));
                let h: Value = client(connection)?.call(Method::POST, &path, None, &[]).await?;
                show_hook(&h);
            }
            HooksCommand::Log { id, connection } => {
                let path = format!("/api/v1/hooks/{}/deliveries?limit=100", encode(id));
                let log: Value = client(connection)?.call(Method::GET, &path, None, &[]).await?;
                for a in log["items"].as_array().into_iter().flatten() {
                    let outcome = match (&a["status"], a["error"].as_str()) {
                        (s, None) => format!("delivered ({s})"),
                        (_, Some(e)) => format!("failed: {}", escaped(e)),
                    };
                    println!(
                        "{}  attempt {}  {}  {} ms",
                        shown(&a["event"], "?"),
                        a["attempt"],
                        outcome,
                        a["duration_ms"]
                    );
                }
            }
            HooksCommand::Events { after, connection } => {
                let path = match after {
                    Some(c) => format!("/api/v1/events?limit=1000&cursor={}", encode(c)),
                    None => "/api/v1/events?limit=1000".to_owned(),
                };
                let page: Value = client(connection)?.call(Method::GET, &path, None, &[]).await?;
                for e in page["items"].as_array().into_iter().flatten() {
                    println!("{e}");
                }
                if let Some(next) = page["next"].as_str() {
                    eprintln!("continue with --after {}", escaped(next));
                }
            }
        }
        Ok(())
    })
}
