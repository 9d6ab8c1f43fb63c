//! `blindmap users …` (an organisation's users and tokens, through the node's API) and
//! `blindmap org add` (another organisation on a hosted node, on the node's machine).

use std::path::PathBuf;

use anyhow::Context;
use blindmap_server::api::Page;
use blindmap_server::api::hooks::{HookView, NewHook};
use blindmap_server::api::users::{NewToken, NewUser};
use clap::{Args, Subcommand};

use crate::node_cli::{Connection, client, runtime};
use crate::term::escaped;

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
        match command {
            UsersCommand::List { connection } => {
                for u in &client(connection)?.users().await? {
                    println!("{}  {:<24} {}", escaped(&u.id), escaped(&u.name), escaped(&u.role));
                    if u.state != "active" {
                        println!("    ({})", escaped(&u.state));
                    }
                    for t in &u.tokens {
                        let state = if t.revoked_at.is_none() { "active" } else { "revoked" };
                        println!("    {}  {:<20} {state}", escaped(&t.id), escaped(&t.label));
                    }
                }
            }
            UsersCommand::Add { name, role, label, connection } => {
                let body = NewUser { name: name.clone(), role: role.clone(), token_label: Some(label.clone()) };
                let made = client(connection)?.create_user(&body).await?;
                println!("Added {} ({}) as {}.", escaped(&made.name), escaped(&made.role), escaped(&made.id));
                println!("Token {} (shown once; only its hash is kept):", escaped(&made.token.id));
                println!("  {}", escaped(&made.token.token));
            }
            UsersCommand::Token { user, label, connection } => {
                let t = client(connection)?.issue_token(user, &NewToken { label: label.clone() }).await?;
                println!("Token {} (shown once; only its hash is kept):", escaped(&t.id));
                println!("  {}", escaped(&t.token));
            }
            UsersCommand::Link { user, connection } => {
                let link = client(connection)?.signin_link(user).await?;
                println!(
                    "Sign-in link (works once, until {}; hand it over as you would a token):",
                    escaped(&link.expires_at)
                );
                println!("  {}", escaped(&link.url));
            }
            UsersCommand::Revoke { id, connection } => {
                client(connection)?.revoke_token(id).await?;
                println!("Revoked {}.", escaped(id));
            }
            UsersCommand::Disable { user, connection } | UsersCommand::Enable { user, connection } => {
                let enable = matches!(command, UsersCommand::Enable { .. });
                let u = client(connection)?.set_user_enabled(user, enable).await?;
                println!("{user} is {}.", escaped(&u.state));
            }
            UsersCommand::Remove { user, connection } => {
                client(connection)?.delete_user(user).await?;
                println!("Removed {user}: its tokens are revoked and its sessions ended.");
            }
            UsersCommand::Signout { user, connection } => {
                let ended = client(connection)?.end_sessions(user).await?;
                println!("Signed {user} out everywhere: {} sessions ended.", ended.sessions_ended);
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

fn show_hook(h: &HookView) {
    println!(
        "{}  {:<8} {}  events: {}  failures in a row: {}",
        escaped(&h.id),
        escaped(&h.state),
        escaped(&h.url),
        if h.events.is_empty() { "all".to_owned() } else { escaped(&h.events.join(", ")).into_owned() },
        h.consecutive_failures
    );
}

pub(crate) fn run_hooks(command: &HooksCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            HooksCommand::Add { url, events, connection } => {
                let h = client(connection)?.create_hook(&NewHook { url: url.clone(), events: events.clone() }).await?;
                show_hook(&h);
                println!("Signing secret (shown once; verify deliveries with it):");
                println!("  {}", escaped(h.secret.as_deref().unwrap_or("?")));
            }
            HooksCommand::List { connection } => {
                for h in &client(connection)?.hooks().await?.items {
                    show_hook(h);
                }
            }
            HooksCommand::Enable { id, connection } | HooksCommand::Disable { id, connection } => {
                let enable = matches!(command, HooksCommand::Enable { .. });
                show_hook(&client(connection)?.set_hook_enabled(id, enable).await?);
            }
            HooksCommand::Log { id, connection } => {
                for a in &client(connection)?.deliveries(id, &Page::first(100)).await?.items {
                    let outcome = match (a.status, &a.error) {
                        (s, None) => format!("delivered ({})", s.map_or_else(|| "-".to_owned(), |s| s.to_string())),
                        (_, Some(e)) => format!("failed: {}", escaped(e)),
                    };
                    println!("{}  attempt {}  {}  {} ms", escaped(&a.event), a.attempt, outcome, a.duration_ms);
                }
            }
            HooksCommand::Events { after, connection } => {
                let page = Page { limit: Some(1000), cursor: after.clone() };
                let page = client(connection)?.events(&page).await?;
                for e in &page.items {
                    println!("{}", serde_json::to_string(e)?);
                }
                if let Some(next) = &page.next {
                    eprintln!("continue with --after {}", escaped(next));
                }
            }
        }
        Ok(())
    })
}
